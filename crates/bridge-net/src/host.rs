//! What bridge-net reads from, or asks of, the host side: randomness and
//! time for ids, the prefixes a new network must avoid, free host ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::SystemTime;

use brnet_nat::Protocol;
use brnet_netlink::{Family, MacAddr, Socket};
use ipnet::IpNet;

use crate::error::Result;
use crate::inputs::{HostPorts, Seeds};

pub use brnet_netns::random_bytes;

/// 64 random hex digits: a network, endpoint or container id.
pub fn random_id() -> String {
    random_bytes::<32>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `02:42` + the four bytes of `addr`: 172.17.0.3 → `02:42:ac:11:00:03`.
pub fn derived_mac(addr: Ipv4Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x02, 0x42, o[0], o[1], o[2], o[3]])
}

/// Now, as RFC 3339 (UTC, nanoseconds), as Docker prints `Created`.
pub fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// The prefixes a new default-pool network must not overlap: the host's
/// IPv4 on-link routes (except those of `ours`, our own bridges' subnets)
/// and the nameservers of `/etc/resolv.conf`, as Docker's
/// `InferReservedNetworks` does.
pub fn reserved_prefixes(nl: &mut Socket, ours: &[IpNet]) -> Result<Vec<IpNet>> {
    let mut out = Vec::new();
    for r in nl.routes(Family::V4)? {
        // RT_SCOPE_LINK = 253: on-link.
        if r.scope != 253 {
            continue;
        }
        if let Some(dst) = r.dst
            && !ours.contains(&dst.trunc())
        {
            out.push(dst.trunc());
        }
    }
    out.extend(nameservers().into_iter().map(IpNet::from));
    Ok(out)
}

/// The nameservers of `/etc/resolv.conf` (none when it is missing).
pub fn nameservers() -> Vec<IpAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| parse_nameservers(&text))
        .unwrap_or_default()
}

/// The `nameserver` lines of a resolv.conf.
pub fn parse_nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.split('%').next())
                .and_then(|a| a.parse().ok())
        })
        .collect()
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`),
/// Docker's fallback 49153–65535 when unreadable.
pub fn local_port_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut w = s.split_whitespace().map(|p| p.parse::<u16>());
            match (w.next(), w.next()) {
                (Some(Ok(a)), Some(Ok(b))) if a <= b => Some((a, b)),
                _ => None,
            }
        })
        .unwrap_or((49153, 65535))
}

/// The random and time-dependent inputs of a plan, drawn now.
pub fn seeds() -> Seeds {
    Seeds {
        id: random_id(),
        host_veth: brnet_veth::random_host_name(),
        mac: MacAddr::random_local(),
        now: now(),
        port_start: u16::from_ne_bytes(random_bytes::<2>()),
    }
}

/// The host's ports as the kernel sees them: [`port_free`] and
/// [`local_port_range`], in the calling thread's namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ports;

impl HostPorts for Ports {
    fn range(&self) -> (u16, u16) {
        local_port_range()
    }

    fn free(&self, protocol: Protocol, host_ip: Option<IpAddr>, port: u16) -> bool {
        port_free(protocol, host_ip, port)
    }
}

/// Whether `port` can be bound on `host_ip` (every address when `None`)
/// in the calling thread's namespace. SCTP cannot be checked this way
/// (and this kernel has no SCTP): it is reported free.
pub fn port_free(protocol: Protocol, host_ip: Option<IpAddr>, port: u16) -> bool {
    let ip = host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let addr = SocketAddr::new(ip, port);
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr).is_ok(),
        Protocol::Udp => UdpSocket::bind(addr).is_ok(),
        Protocol::Sctp => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            derived_mac("172.17.0.3".parse().unwrap()).to_string(),
            "02:42:ac:11:00:03"
        );
        let m = MacAddr::random_local();
        assert!(m.is_local() && !m.is_multicast());
        assert_ne!(MacAddr::random_local(), MacAddr::random_local());
    }

    #[test]
    fn ids_and_time() {
        let id = random_id();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(now().ends_with('Z'));
    }

    #[test]
    fn resolv_conf() {
        let text =
            "# comment\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nsearch x\nnameserver bogus\n";
        assert_eq!(
            parse_nameservers(text),
            vec![
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }
}
