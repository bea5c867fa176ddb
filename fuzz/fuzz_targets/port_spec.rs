//! `-p` port specs: `PortSpec::from_str` on arbitrary UTF-8; a spec that
//! parses prints as a spec that parses back to the same value; and
//! `PortSpec::to_mapping` with an arbitrary container address.
//!
//! Input: the spec text, optionally followed by a NUL and the container
//! address (4 or 16 raw bytes, or text such as `fd00::2`). Without an
//! address part, a fixed IPv4 and a fixed IPv6 address are both tried.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use brnet_nat::{PortRange, PortSpec, Protocol};
use libfuzzer_sys::fuzz_target;

fn address(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
        _ => std::str::from_utf8(b).ok()?.parse().ok(),
    }
}

fuzz_target!(|data: &[u8]| {
    let (text, addr) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], address(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(s) = std::str::from_utf8(text) else {
        return;
    };

    // The pieces parse on their own too (they are public).
    let _ = s.parse::<PortRange>().map(|r| {
        assert_eq!(r.to_string().parse::<PortRange>(), Ok(r));
        assert!(r.len() >= 1 && r.contains(r.start()) && r.contains(r.end()));
    });
    let _ = s.parse::<Protocol>().map(|p| {
        assert_eq!(p.as_str().parse::<Protocol>(), Ok(p));
        assert_eq!(Protocol::from_number(p.number()), Some(p));
    });

    let spec = match s.parse::<PortSpec>() {
        Ok(spec) => spec,
        Err(e) => {
            // The message names the spec and never panics.
            let _ = e.to_string();
            return;
        }
    };
    let printed = spec.to_string();
    let again = printed
        .parse::<PortSpec>()
        .unwrap_or_else(|e| panic!("{s:?} parsed, but its display {printed:?} did not: {e}"));
    assert_eq!(again, spec, "{s:?} -> {printed:?} changed the spec");
    assert_eq!(again.to_string(), printed);

    let fixed = [
        IpAddr::V4(Ipv4Addr::new(172, 17, 0, 2)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
    ];
    for container in addr.into_iter().chain(fixed) {
        match spec.to_mapping(container) {
            Ok(m) => {
                let _ = m.to_string();
                assert_eq!(m.container(), container);
                assert_eq!(m.protocol(), spec.protocol());
                assert_eq!(m.host_ports().len(), m.container_ports().len());
                // pairs() walks both ranges in step: check its ends only.
                let mut pairs = m.pairs();
                assert_eq!(
                    pairs.next(),
                    Some((m.host_ports().start(), m.container_ports().start()))
                );
                assert_eq!(
                    m.pairs().last(),
                    Some((m.host_ports().end(), m.container_ports().end()))
                );
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        // With host ports chosen by the caller (`-p 80`).
        if spec.host_ports().is_none() {
            if let Ok(s2) = spec.with_host_ports(spec.container_ports()) {
                let _ = s2.to_mapping(container).map(|m| m.to_string());
            }
        }
    }
});
