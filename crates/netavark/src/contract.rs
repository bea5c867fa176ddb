//! netavark's JSON contract, as Podman 4.3 speaks it: the network options
//! on stdin of `setup` and `teardown`, and the status blocks `setup` prints.
//!
//! Field names and shapes are netavark's (`src/network/types.rs`);
//! captures of what Podman really sends are in the project's shared
//! reference (`podman/netavark-contract/`). Unknown fields are accepted
//! (newer Podmans add some): a field we know but cannot honour is refused
//! later, by name, in [`crate::translate`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// What Podman sends on stdin: one container, its networks. Also sent and
/// not needed here: `dns_servers` (the container's `--dns`, which Podman
/// writes into resolv.conf itself) and each subnet's `lease_range` (Podman
/// allocates the addresses).
#[derive(Debug, Clone, Deserialize)]
pub struct NetworkOptions {
    /// The container's id (64 hex digits).
    pub container_id: String,
    /// The container's name.
    pub container_name: String,
    /// Published ports (`-p`), for every network of the container.
    #[serde(default)]
    pub port_mappings: Option<Vec<PortMapping>>,
    /// Per network: what this container asks of it.
    pub networks: BTreeMap<String, PerNetworkOptions>,
    /// Per network: the network's definition, as `podman network inspect`
    /// shows it.
    pub network_info: BTreeMap<String, Network>,
}

/// What a container asks of one network.
#[derive(Debug, Clone, Deserialize)]
pub struct PerNetworkOptions {
    /// Extra names (`--network-alias`; Podman adds the short id).
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// The addresses Podman allocated (or `--ip` asked for).
    #[serde(default)]
    pub static_ips: Option<Vec<IpAddr>>,
    /// `--mac-address`.
    #[serde(default)]
    pub static_mac: Option<String>,
    /// The interface inside the container (`eth0`, `eth1`, ...).
    pub interface_name: String,
}

/// A Podman network's definition. Its `ipv6_enabled` is not read, as
/// netavark does not read it either: the subnets say (Podman may send
/// `true` beside IPv4 subnets only, and `false` beside IPv6 ones).
#[derive(Debug, Clone, Deserialize)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// Its id (64 hex digits).
    pub id: String,
    /// `bridge`, `macvlan`, `ipvlan`.
    pub driver: String,
    /// The bridge (`podman0`, `podman1`, ...).
    #[serde(default)]
    pub network_interface: Option<String>,
    /// Its subnets, with gateways.
    #[serde(default)]
    pub subnets: Option<Vec<Subnet>>,
    /// Static routes of the network (Podman 4.7+).
    #[serde(default)]
    pub routes: Option<Vec<serde_json::Value>>,
    /// Name servers of the network (Podman 4.6+).
    #[serde(default)]
    pub network_dns_servers: Option<Vec<IpAddr>>,
    /// No outbound traffic.
    #[serde(default)]
    pub internal: bool,
    /// Name resolution between its containers.
    #[serde(default)]
    pub dns_enabled: bool,
    /// Driver options (`-o KEY=VALUE`).
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    /// IPAM options: `driver` is `host-local` (Podman allocates), `dhcp` or
    /// `none`.
    #[serde(default)]
    pub ipam_options: Option<BTreeMap<String, String>>,
}

/// One subnet of a network.
#[derive(Debug, Clone, Deserialize)]
pub struct Subnet {
    /// The subnet, as a string (parsed in [`crate::translate`], so a bad
    /// one is reported by name).
    pub subnet: String,
    /// Its gateway.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
}

/// One published port (range), as Podman sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct PortMapping {
    /// The host address; empty: every address.
    #[serde(default)]
    pub host_ip: String,
    /// The first container port.
    pub container_port: u16,
    /// The first host port.
    pub host_port: u16,
    /// How many consecutive ports (at least 1).
    #[serde(default = "one")]
    pub range: u16,
    /// `tcp`, `udp`, `sctp`, or a comma-separated list of them.
    pub protocol: String,
}

fn one() -> u16 {
    1
}

/// What `setup` prints for one network.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusBlock {
    /// Search domains for resolv.conf.
    pub dns_search_domains: Vec<String>,
    /// Name servers for resolv.conf (the network's resolver).
    pub dns_server_ips: Vec<IpAddr>,
    /// The container's interfaces on this network.
    pub interfaces: BTreeMap<String, NetInterface>,
}

/// One interface of a container.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NetInterface {
    /// Its MAC (`46:02:74:11:13:cc`).
    pub mac_address: String,
    /// Its addresses.
    pub subnets: Vec<NetAddress>,
}

/// One address of an interface.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NetAddress {
    /// The gateway (none on internal networks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// The address with the subnet's prefix (`10.89.0.2/24`).
    pub ipnet: IpNet,
}

/// What `version` prints (netavark's keys, and ours).
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    /// The netavark release whose contract we speak.
    pub version: &'static str,
    /// The git commit built (empty outside a git checkout, as netavark's).
    pub commit: &'static str,
    /// When, RFC 3339.
    pub build_time: &'static str,
    /// The target triple.
    pub target: &'static str,
    /// What this is: `brnet-netavark VERSION (bridge-net)`.
    pub implementation: &'static str,
}

/// What a failure prints.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReply {
    /// One line.
    pub error: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Podman 4.3's stdin of `netavark setup`, as captured.
    pub(crate) const CAPTURED: &str = include_str!("../tests/fixtures/setup-stdin.json");

    #[test]
    fn captured_input_decodes() {
        let o: NetworkOptions = serde_json::from_str(CAPTURED).unwrap();
        assert_eq!(o.container_name, "web");
        let p = &o.port_mappings.as_ref().unwrap()[0];
        assert_eq!((p.host_port, p.container_port, p.range), (8080, 80, 1));
        let n = &o.networks["testnet"];
        assert_eq!(n.static_ips.as_ref().unwrap()[0].to_string(), "10.89.0.2");
        let i = &o.network_info["testnet"];
        assert_eq!(i.network_interface.as_deref(), Some("podman1"));
        assert!(i.dns_enabled && !i.internal);
    }

    #[test]
    fn status_block_shape() {
        let mut interfaces = BTreeMap::new();
        interfaces.insert(
            "eth0".to_owned(),
            NetInterface {
                mac_address: "46:02:74:11:13:cc".into(),
                subnets: vec![NetAddress {
                    gateway: Some("10.89.0.1".parse().unwrap()),
                    ipnet: "10.89.0.2/24".parse().unwrap(),
                }],
            },
        );
        let b = StatusBlock {
            dns_search_domains: vec!["dns.podman".into()],
            dns_server_ips: vec!["10.89.0.1".parse().unwrap()],
            interfaces,
        };
        // The captured stdout of netavark (`setup-stdout.json`), compacted.
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"dns_search_domains":["dns.podman"],"dns_server_ips":["10.89.0.1"],"interfaces":{"eth0":{"mac_address":"46:02:74:11:13:cc","subnets":[{"gateway":"10.89.0.1","ipnet":"10.89.0.2/24"}]}}}"#
        );
    }
}
