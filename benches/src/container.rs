//! The containers of the comparison: the same names, addresses and
//! published ports for every system measured.

use std::net::Ipv4Addr;

/// The network every system builds: 10.88.0.0/16, gateway 10.88.0.1 (as
/// nlbench's `br0`).
pub const SUBNET: &str = "10.88.0.0/16";
/// Its gateway.
pub const GATEWAY: &str = "10.88.0.1";
/// The container port every published port leads to.
pub const CONTAINER_PORT: u16 = 80;
/// The first host port of the "one published port" rows: container `k`
/// publishes `10000 + k` (as `run_connect`'s `{k}:80`).
pub const FIRST_HOST_PORT: u16 = 10_000;
/// The first host port of the many-ports rows.
pub const MANY_FIRST_HOST_PORT: u16 = 20_000;

/// One published port, TCP on every host address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    /// On the host.
    pub host: u16,
    /// In the container.
    pub container: u16,
}

impl Publish {
    /// Docker's `-p` form, `HOST:CONTAINER`.
    pub fn spec(&self) -> String {
        format!("{}:{}", self.host, self.container)
    }
}

/// A container: its namespace `/run/netns/{name}`, a 64-hex id (as
/// Podman's), the address a runtime that does its own IPAM would give it
/// (nlbench's numbering) and its published ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Namespace name, `c{k}`.
    pub name: String,
    /// Container id.
    pub id: String,
    /// Its IPv4 address in [`SUBNET`].
    pub ip: Ipv4Addr,
    /// Published ports.
    pub ports: Vec<Publish>,
}

impl Container {
    /// Container `k` of a run, with one published port `10000 + k` when
    /// `with_port`.
    pub fn numbered(k: usize, with_port: bool) -> Container {
        let ports = if with_port {
            vec![Publish {
                host: FIRST_HOST_PORT + k as u16,
                container: CONTAINER_PORT,
            }]
        } else {
            Vec::new()
        };
        Container::named(&format!("c{k}"), k, ports)
    }

    /// A container with a given name, address number `k` and ports.
    pub fn named(name: &str, k: usize, ports: Vec<Publish>) -> Container {
        let host = k as u32 + 2;
        Container {
            name: name.to_owned(),
            id: format!("{:064x}", 0xb0_0000_0000u64 + k as u64),
            ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 88, 0, 0)) + host),
            ports,
        }
    }

    /// `/run/netns/{name}`.
    pub fn netns_path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

/// `n` separate published ports (host `20000 + i` to container port 80):
/// not one range, so no system can fold them into one rule.
pub fn many_ports(n: u16) -> Vec<Publish> {
    (0..n)
        .map(|i| Publish {
            host: MANY_FIRST_HOST_PORT + i,
            container: CONTAINER_PORT,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_matches_nlbench() {
        let c = Container::numbered(254, true);
        assert_eq!(c.ip.to_string(), "10.88.1.0");
        assert_eq!(
            format!("{}/16", c.ip),
            crate::endpoint_addr(254),
            "same address as nlbench's endpoint {}",
            254
        );
        assert_eq!(c.ports[0].spec(), "10254:80");
        assert_eq!(c.id.len(), 64);
        assert_eq!(c.netns_path(), "/run/netns/c254");
    }
}
