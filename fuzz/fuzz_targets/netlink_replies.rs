//! Kernel replies from arbitrary bytes.
//!
//! - `brnet_netlink::{Link, Address, Route}::parse` on the whole input (the
//!   payload after the `nlmsghdr`: `ifinfomsg`/`ifaddrmsg`/`rtmsg` and
//!   their attributes).
//! - The input as one received datagram, split into messages by
//!   `brnet_netlink::wire::parse` (what the one netlink transport does for
//!   rtnetlink and nf_tables alike: acks, errors with their extended-ack
//!   text, data, dump ends with their error), each data payload handed to
//!   the three parsers again.
//!
//! brnet-nat's decoders of nf_tables dump replies (tables, chains, rule
//! comments, set elements) are crate-private and cannot be reached from
//! here: see README.md.
#![no_main]

use brnet_netlink::wire::{self, Reply};
use brnet_netlink::{Address, Link, Route};
use libfuzzer_sys::fuzz_target;

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
    // The one parser every netlink socket of ours uses (rtnetlink and
    // nf_tables alike): malformed input is an error, never a panic.
    let Ok(replies) = wire::parse(buf) else {
        return;
    };
    // Each message consumes bytes: the receive loops terminate.
    assert!(replies.len() <= buf.len() / wire::HEADER_LEN);
    for r in &replies {
        let _ = (r.seq(), r.interrupted(), r.is_last(), format!("{r:?}"));
        match r {
            Reply::Data { payload: p, .. } => payload(p),
            Reply::Err { message, .. } | Reply::Done { message, .. } => {
                let _ = message.as_deref().map(str::len);
            }
            Reply::Ack { .. } => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    payload(data);
    datagram(data);
});
