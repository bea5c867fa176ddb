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

fn datagram(buf: &[u8]) {
    let n = buf.len();
    let mut cur = Cursor::new(buf);
    let mut messages = 0;
    while (cur.position() as usize) < n {
        let before = cur.position();
        // The check both receive loops make before neli (see README.md:
        // neli panics on malformed lengths): the real one, so that the
        // target fuzzes it too.
        if brnet_netlink::check_frame(&buf[before as usize..]).is_err() {
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
