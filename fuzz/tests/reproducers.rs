//! Inputs the fuzz targets found, as plain tests (`cargo test` in `fuzz/`;
//! they hold with and without `--release`). See README.md, "Findings".
//!
//! Since the one netlink transport (`brnet_netlink::transport`), no
//! datagram of ours goes through neli's framing: `brnet_netlink::wire::parse`
//! splits them, and `ours_*` below check it on each input. The neli tests
//! stay, as the record of why.
//!
//! neli 0.7.5 decodes a netlink message with unchecked length
//! subtractions. With overflow checks on (debug builds, the workspace's
//! tests) they panic; without them (release builds) the length wraps,
//! `Buffer`'s bounds check (`position + input > len`) wraps too, and
//! `vec![0u8; huge]` panics with "capacity overflow" (cases 1 and 2; case 3
//! is a decode error in release). Both our sockets' receive loops
//! (`brnet_netlink::Socket::transact`, brnet-nat's `NftSocket::recv`) hand
//! each received datagram to `Nlmsghdr::<u16, Buffer>::from_bytes`
//! unchecked. The kernel does not send such messages, so these need a
//! broken or hostile peer; still, each should be a decode error. Each test
//! below asserts that neli still panics: when one fails, neli fixed it, and
//! the matching check in `fuzz_targets/netlink_replies.rs`
//! (`header_fits`) can go.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use neli::FromBytes;
use neli::nl::Nlmsghdr;
use neli::types::Buffer;

fn header(len: u32, ty: u16, flags: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&len.to_ne_bytes());
    h.extend_from_slice(&ty.to_ne_bytes());
    h.extend_from_slice(&flags.to_ne_bytes());
    h.extend_from_slice(&1u32.to_ne_bytes()); // seq
    h.extend_from_slice(&0u32.to_ne_bytes()); // pid
    h
}

/// Splits `datagram` as the receive loops do; `Err` if neli panicked.
fn split(datagram: &[u8]) -> Result<usize, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut cur = Cursor::new(datagram);
        let mut n = 0;
        while (cur.position() as usize) < datagram.len() {
            if Nlmsghdr::<u16, Buffer>::from_bytes(&mut cur).is_err() {
                break;
            }
            n += 1;
        }
        n
    }))
    .map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    })
}

/// 1. `nl_len` shorter than the header itself: neli-0.7.5/src/nl.rs:145
///    (`nl_len as usize - Self::header_size()`).
#[test]
fn nl_len_below_header() {
    let d = header(2, 16, 0); // RTM_NEWLINK claiming 2 bytes
    let r = split(&d);
    assert!(r.as_ref().is_err_and(|m| m.contains("overflow")), "{r:?}");
}

/// 2. An `NLMSG_ERROR` whose echoed request header claims `nl_len < 16`:
///    neli-0.7.5/src/err.rs:86 (`NlmsghdrErr` payload size).
#[test]
fn error_echo_below_header() {
    let mut d = header(36, 2, 0);
    d.extend_from_slice(&(-17i32).to_ne_bytes()); // -EEXIST
    d.extend_from_slice(&header(0, 16, 5)); // echoed request, nl_len 0
    let r = split(&d);
    assert!(r.as_ref().is_err_and(|m| m.contains("overflow")), "{r:?}");
}

/// 3. A multipart `NLMSG_DONE` of 16 bytes (no error code) followed by
///    more bytes in the datagram: neli-0.7.5/src/nl.rs:75 reads it as
///    `Nlmsgerr<()>` with input 0, and err.rs:167 subtracts 4 from it.
#[test]
fn done_multi_without_code() {
    let mut d = header(16, 3, 2); // NLMSG_DONE, NLM_F_MULTI, no payload
    d.extend_from_slice(&header(16, 3, 2));
    let r = split(&d);
    if cfg!(debug_assertions) {
        assert!(r.as_ref().is_err_and(|m| m.contains("overflow")), "{r:?}");
    } else {
        assert_eq!(r, Ok(0));
    }
}

/// The same messages, well formed, split fine (the checks above reject
/// only malformed lengths).
#[test]
fn well_formed_replies_split() {
    let mut d = header(20, 3, 2);
    d.extend_from_slice(&0i32.to_ne_bytes());
    assert_eq!(split(&d), Ok(1));
    let mut e = header(36, 2, 0x100); // NLM_F_CAPPED
    e.extend_from_slice(&(-17i32).to_ne_bytes());
    e.extend_from_slice(&header(16, 16, 5));
    assert_eq!(split(&e), Ok(1));
}

/// 4. An `NLMSG_ERROR` whose error code is `i32::MIN` (found by
///    `netlink_replies`): neli decodes it, and both sockets then compute
///    `Errno::from_raw(-*err.error())` (crates/netlink/src/socket.rs:138,
///    crates/nat/src/netlink/socket.rs:166), which overflows: a panic with
///    overflow checks on. Those loops are private, so this shows the
///    decoded value; the fix is `err.error().wrapping_neg()` (or
///    `checked_neg`, mapping `None` to a decode error).
#[test]
fn error_code_i32_min() {
    let mut d = header(36, 2, 0);
    d.extend_from_slice(&i32::MIN.to_ne_bytes());
    d.extend_from_slice(&header(16, 16, 5)); // the echoed request header
    let mut cur = Cursor::new(&d[..]);
    let msg = Nlmsghdr::<u16, Buffer>::from_bytes(&mut cur).expect("neli decodes it");
    let neli::nl::NlPayload::Err(e) = msg.nl_payload() else {
        panic!("not an error: {msg:?}");
    };
    assert_eq!(*e.error(), i32::MIN);
    assert_eq!(e.error().checked_neg(), None, "-error overflows");
}

/// Our parser on the same inputs: errors (1, 2: the echoed header is not
/// trusted, the text is just absent), a complete dump (3), the errno
/// negated without overflow (4); never a panic.
#[test]
fn ours_on_every_finding() {
    use brnet_netlink::wire::{Reply, parse};
    assert!(parse(&header(2, 16, 0)).is_err(), "1");
    let mut d = header(36, 2, 0x200);
    d.extend_from_slice(&(-17i32).to_ne_bytes());
    d.extend_from_slice(&header(0, 16, 5));
    assert!(
        matches!(parse(&d).unwrap()[..], [Reply::Err { message: None, .. }]),
        "2"
    );
    let mut d = header(16, 3, 2);
    d.extend_from_slice(&header(16, 3, 2));
    assert!(
        matches!(
            parse(&d).unwrap()[..],
            [Reply::Done { errno: None, .. }, Reply::Done { errno: None, .. }]
        ),
        "3"
    );
    let mut d = header(36, 2, 0);
    d.extend_from_slice(&i32::MIN.to_ne_bytes());
    d.extend_from_slice(&header(16, 16, 5));
    assert!(matches!(parse(&d).unwrap()[..], [Reply::Err { .. }]), "4");
}
