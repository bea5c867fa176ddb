//! Kernel replies from arbitrary bytes.
//!
//! - `brnet_netlink::{Link, Address, Route}::parse` on the whole input (the
//!   payload after the `nlmsghdr`: `ifinfomsg`/`ifaddrmsg`/`rtmsg` and
//!   their attributes).
//! - The input as one received datagram, split into messages the way both
//!   sockets do (`brnet_netlink::Socket` and brnet-nat's nf_tables socket:
//!   `Nlmsghdr::<u16, Buffer>::from_bytes` in a loop, the error's extended
//!   ack read for its message), each data payload handed to the three
//!   parsers again.
//!
//! brnet-nat's decoders of nf_tables dump replies (tables, chains, rule
//! comments, set elements) are crate-private and cannot be reached from
//! here: see README.md.
#![no_main]

use std::io::Cursor;

use brnet_netlink::{Address, Link, Route};
use libfuzzer_sys::fuzz_target;
use neli::FromBytes;
use neli::consts::nl::{Nlmsg, NlmsgerrAttr};
use neli::nl::{NlPayload, Nlmsghdr};
use neli::types::Buffer;

fn payload(p: &[u8]) {
    if let Ok(l) = Link::parse(p) {
        assert!(!l.name.is_empty());
        let _ = (l.is_up(), l.state(), l.is_lower_up());
    }
    if let Ok(a) = Address::parse(p) {
        let _ = a.net.to_string();
    }
    if let Ok(r) = Route::parse(p) {
        let _ = r.is_default();
    }
    // Errors render without panicking.
    for e in [
        Link::parse(p).err(),
        Address::parse(p).err(),
        Route::parse(p).err(),
    ]
    .into_iter()
    .flatten()
    {
        let _ = e.to_string();
    }
}

/// The checks the receive loops need before handing a message to neli
/// 0.7.5, which subtracts lengths unchecked (see README.md): the
/// message's `nl_len` covers its header and stays inside the datagram, and
/// an error message holds its error code and the echoed request header,
/// whose `nl_len` also covers a header and stays inside the message; a
/// multipart `NLMSG_DONE` that is not the datagram's last message holds
/// its error code.
/// Without these this target stops at once on those known panics.
fn header_fits(rest: &[u8]) -> bool {
    let u32_at = |i: usize| {
        rest.get(i..i + 4)
            .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
    };
    let Some(len) = u32_at(0).map(|l| l as usize) else {
        return false;
    };
    if len < 16 || len > rest.len() {
        return false;
    }
    let ty = u16::from_ne_bytes([rest[4], rest[5]]);
    if ty == u16::from(Nlmsg::Error) {
        if len < 16 + 4 + 16 {
            return false;
        }
        let code = u32_at(16).unwrap();
        let inner = u32_at(20).unwrap() as usize;
        if code != 0 && (inner < 16 || 4 + inner.next_multiple_of(4) > len - 16) {
            return false;
        }
    }
    let flags = u16::from_ne_bytes([rest[6], rest[7]]);
    if ty == u16::from(Nlmsg::Done) && flags & 2 != 0 && len < rest.len() && len < 20 {
        return false;
    }
    true
}

fn datagram(buf: &[u8]) {
    let n = buf.len();
    let mut cur = Cursor::new(buf);
    let mut messages = 0;
    while (cur.position() as usize) < n {
        let before = cur.position();
        // The check the receive loops need before neli (see README.md:
        // neli panics on `nl_len < 16`); without it this target stops at
        // once on that known bug.
        if !header_fits(&buf[before as usize..]) {
            return;
        }
        let Ok(msg) = Nlmsghdr::<u16, Buffer>::from_bytes(&mut cur) else {
            return;
        };
        // Each message consumes bytes: the receive loops terminate.
        assert!(cur.position() > before, "a message of no bytes at {before}");
        messages += 1;
        assert!(messages <= n / 16 + 1);
        let ty = *msg.nl_type();
        match msg.nl_payload() {
            NlPayload::Ack(_) => {}
            NlPayload::Err(e) => {
                // The sockets negate the error with `-`, which overflows on
                // i32::MIN (README.md, "Findings"); the fix negates with
                // wrapping (or checked) arithmetic.
                let _ = nix::errno::Errno::from_raw(e.error().wrapping_neg());
                let _ = *e.nlmsg().nl_seq();
                // As brnet-nat's socket reads the kernel's message ...
                let _ = e
                    .ext_ack()
                    .iter()
                    .find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg)
                    .map(|a| {
                        String::from_utf8_lossy(a.nla_payload().as_ref())
                            .trim_end_matches('\0')
                            .to_owned()
                    });
                // ... and brnet-netlink's.
                let _ = e.ext_ack().iter().find_map(|a| {
                    (u16::from(*a.nla_type().nla_type()) == 1).then(|| {
                        String::from_utf8_lossy(a.nla_payload().as_ref())
                            .trim_end_matches('\0')
                            .to_owned()
                    })
                });
            }
            NlPayload::Payload(p) if ty != u16::from(Nlmsg::Done) => payload(p.as_ref()),
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    payload(data);
    datagram(data);
});
