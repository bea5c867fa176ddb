//! Podman's definitions, translated once into bridge-net's types: a
//! network into [`NetworkOptions`], a container's request into
//! [`ConnectOptions`], its port mappings into [`PortSpec`]s. Everything we
//! cannot honour is refused here, naming the field, before anything is
//! touched.

use std::net::IpAddr;

use bridge_net::brnet_nat::{PortRange, Protocol};
use bridge_net::brnet_netlink::{IfName, MacAddr};
use bridge_net::{
    ConnectOptions, Driver, MacPolicy, MacvlanMode, MacvlanOptions, NetworkOptions, PortSpec,
};
use ipnet::IpNet;

use crate::contract::{self, Network, PerNetworkOptions, PortMapping};
use crate::error::{Error, Result};

/// The search domain of Podman's DNS-enabled networks: the resolver
/// answers `NAME.dns.podman` (as aardvark-dns does) and bare names.
pub const SEARCH_DOMAIN: &str = "dns.podman";

/// The label that keeps Podman's network id on our network: a Podman
/// network removed and created again under the same name is a new network.
pub const PODMAN_ID_LABEL: &str = "io.podman.network.id";

/// The default routes' metric when a network sets none: netavark's.
pub const DEFAULT_METRIC: u32 = 100;

/// A Podman network, as bridge-net will make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    /// The network's name (Podman's).
    pub name: String,
    /// Podman's id.
    pub podman_id: String,
    /// The bridge, or a macvlan network's parent (Podman's
    /// `network_interface`; empty: the link of the host's default route).
    pub bridge: String,
    /// Everything else.
    pub options: NetworkOptions,
}

impl NetworkPlan {
    /// A macvlan network (no bridge, no firewall, no published ports).
    pub fn is_macvlan(&self) -> bool {
        !self.options.driver.is_bridge()
    }
}

/// Translate the definition of the Podman network `name`.
pub fn network(name: &str, n: &Network) -> Result<NetworkPlan> {
    let at = |field: &str| format!("network_info.{name}.{field}");
    let macvlan = match n.driver.as_str() {
        "bridge" => false,
        "macvlan" => true,
        _ => {
            return Err(Error::Unsupported {
                field: at("driver"),
                value: n.driver.clone(),
                reason: "bridge-net implements the bridge and macvlan drivers",
            });
        }
    };
    // IPAM `none`: no address at all, whatever the subnets say (as
    // netavark).
    let ipam_none = match n
        .ipam_options
        .as_ref()
        .and_then(|o| o.get("driver"))
        .map(String::as_str)
    {
        None | Some("host-local") => false,
        Some("none") => true,
        Some("dhcp") => {
            return Err(Error::Unsupported {
                field: at("ipam_options.driver"),
                value: "dhcp".into(),
                reason: "the dhcp IPAM driver needs netavark's dhcp-proxy, which bridge-net does not implement",
            });
        }
        Some(driver) => {
            return Err(Error::Unsupported {
                field: at("ipam_options.driver"),
                value: driver.to_owned(),
                reason: "unsupported ipam driver (known: host-local, where Podman allocates the addresses)",
            });
        }
    };
    if let Some(routes) = n.routes.as_ref().filter(|r| !r.is_empty()) {
        return Err(Error::Unsupported {
            field: at("routes"),
            value: serde_json::to_string(routes).unwrap_or_default(),
            reason: "static routes of a network are not implemented",
        });
    }
    let bridge = match n.network_interface.clone() {
        Some(b) if !b.is_empty() => {
            IfName::new(&b).map_err(|e| Error::field(at("network_interface"), &b, e))?;
            b
        }
        // A macvlan network without a parent: the host's default route's.
        _ if macvlan => String::new(),
        _ => {
            return Err(Error::field(
                at("network_interface"),
                "",
                "missing: the bridge's name",
            ));
        }
    };

    let mut options = NetworkOptions::default();
    let subnets = if ipam_none {
        &[][..]
    } else {
        n.subnets.as_deref().unwrap_or_default()
    };
    for (i, s) in subnets.iter().enumerate() {
        let field = at(&format!("subnets[{i}].subnet"));
        let net = bridge_net::parse_cidr(&field, &s.subnet)
            .map_err(|e| Error::field(&field, &s.subnet, e))?;
        let cfg = match net {
            IpNet::V4(_) if options.ipv4.subnet.is_none() => &mut options.ipv4,
            IpNet::V6(_) if options.ipv6.is_none() => options.ipv6.insert(Default::default()),
            _ => {
                return Err(Error::Unsupported {
                    field,
                    value: s.subnet.clone(),
                    reason: "bridge-net has one subnet per address family",
                });
            }
        };
        cfg.subnet = Some(net);
        if let Some(gw) = s.gateway {
            if !net.contains(&gw) {
                return Err(Error::field(
                    at(&format!("subnets[{i}].gateway")),
                    gw,
                    format!("not inside {net}"),
                ));
            }
            cfg.gateway = Some(gw);
        }
    }
    // IPv6-only, or no address at all with IPAM `none`.
    options.enable_ipv4 = options.ipv4.subnet.is_some();
    if subnets.is_empty() && !ipam_none {
        return Err(Error::field(
            at("subnets"),
            "[]",
            "the host-local IPAM driver needs a subnet (or ipam_options.driver none)",
        ));
    }
    // `ipv6_enabled` is not read: netavark goes by the subnets too (Podman
    // sends `true` beside IPv4-only subnets, and `false` beside IPv6 ones).
    if macvlan {
        options.driver = Driver::Macvlan(MacvlanOptions {
            parent: (!bridge.is_empty()).then(|| bridge.clone()),
            mode: MacvlanMode::Bridge,
        });
    }
    options.metric = Some(DEFAULT_METRIC);
    for (key, value) in n.options.iter().flatten() {
        let field = at(&format!("options.{key}"));
        match key.as_str() {
            "mtu" => options
                .set_option(bridge_net::OPT_MTU, value)
                .map_err(|e| Error::field(&field, value, e))?,
            "metric" => options
                .set_option(bridge_net::OPT_METRIC, value)
                .map_err(|e| Error::field(&field, value, e))?,
            "mode" if macvlan => options
                .set_option(bridge_net::OPT_MACVLAN_MODE, value)
                .map_err(|e| Error::field(&field, value, e))?,
            // bridge-net isolates every network from every other: what
            // `isolate` asks for, and more.
            "isolate" if !macvlan => match value.as_str() {
                "true" | "strict" | "false" => {}
                _ => {
                    return Err(Error::field(
                        &field,
                        value,
                        "expected true, false or strict",
                    ));
                }
            },
            k if k.starts_with("com.docker.network.") => options
                .set_option(k, value)
                .map_err(|e| Error::field(&field, value, e))?,
            _ => {
                return Err(Error::Unsupported {
                    field,
                    value: value.clone(),
                    reason: "known options: mtu, metric, isolate (bridge), mode (macvlan), com.docker.network.*",
                });
            }
        }
    }
    if !macvlan {
        options.bridge_name = Some(bridge.clone());
    }
    options.internal = n.internal;
    // netavark serves no names on a macvlan network (the host cannot reach
    // its containers), nor on one without addresses.
    options.dns = Some(n.dns_enabled && !macvlan && !ipam_none);
    // aardvark-dns answers under dns.podman: Podman's users expect it.
    options.dns_domain = Some(SEARCH_DOMAIN.to_owned());
    // The network's own name servers: its resolver forwards there.
    options.dns_servers = n.network_dns_servers.clone().unwrap_or_default();
    options
        .labels
        .insert(PODMAN_ID_LABEL.to_owned(), n.id.clone());
    options
        .validate()
        .map_err(|e| Error::field(at("subnets"), &n.name, e))?;
    Ok(NetworkPlan {
        name: name.to_owned(),
        podman_id: n.id.clone(),
        bridge,
        options,
    })
}

/// Translate what the container asks of network `name` (`ports`: the
/// published ports, for the network that carries them).
pub fn endpoint(
    o: &contract::NetworkOptions,
    name: &str,
    per: &PerNetworkOptions,
    ports: Vec<PortSpec>,
) -> Result<ConnectOptions> {
    let at = |field: &str| format!("networks.{name}.{field}");
    let ifname = IfName::new(&per.interface_name)
        .map_err(|e| Error::field(at("interface_name"), &per.interface_name, e))?;
    let mut opts = ConnectOptions {
        name: Some(if o.container_name.is_empty() {
            o.container_id.clone()
        } else {
            o.container_name.clone()
        }),
        ifname: Some(ifname),
        ports,
        aliases: per.aliases.clone().unwrap_or_default(),
        ..ConnectOptions::default()
    };
    for (i, ip) in per.static_ips.iter().flatten().enumerate() {
        let taken = match ip {
            IpAddr::V4(a) => opts.ipv4.replace(*a).is_some(),
            IpAddr::V6(a) => opts.ipv6.replace(*a).is_some(),
        };
        if taken {
            return Err(Error::Unsupported {
                field: at(&format!("static_ips[{i}]")),
                value: ip.to_string(),
                reason: "bridge-net gives one address per family on a network",
            });
        }
    }
    if let Some(mac) = &per.static_mac {
        let m: MacAddr = mac
            .parse()
            .map_err(|e| Error::field(at("static_mac"), mac, e))?;
        opts.mac = MacPolicy::Fixed(m);
    }
    Ok(opts)
}

/// Translate Podman's port mappings (`range` consecutive ports; protocols
/// comma-separated).
pub fn ports(maps: &[PortMapping]) -> Result<Vec<PortSpec>> {
    let mut specs = Vec::with_capacity(maps.len());
    for (i, m) in maps.iter().enumerate() {
        let at = |field: &str| format!("port_mappings[{i}].{field}");
        let host_ip = match m.host_ip.as_str() {
            "" => None,
            s => Some(
                s.parse::<IpAddr>()
                    .map_err(|_| Error::field(at("host_ip"), s, "not an IP address"))?,
            ),
        };
        let range = |first: u16, field: &str| -> Result<PortRange> {
            let last = u32::from(first) + u32::from(m.range.max(1)) - 1;
            let last = u16::try_from(last).map_err(|_| {
                Error::field(
                    at("range"),
                    m.range,
                    format!("{field} {first} + range passes 65535"),
                )
            })?;
            PortRange::new(first, last).map_err(|e| Error::field(at(field), first, e))
        };
        let host = range(m.host_port, "host_port")?;
        let container = range(m.container_port, "container_port")?;
        for proto in m.protocol.split(',') {
            let protocol: Protocol = proto
                .trim()
                .parse()
                .map_err(|e| Error::field(at("protocol"), &m.protocol, e))?;
            specs.push(
                PortSpec::new(protocol, host_ip, Some(host), container)
                    .map_err(|e| Error::field(at("range"), m.range, e))?,
            );
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured() -> contract::NetworkOptions {
        serde_json::from_str(crate::contract::tests::CAPTURED).unwrap()
    }

    #[test]
    fn captured_network() {
        let o = captured();
        let p = network("testnet", &o.network_info["testnet"]).unwrap();
        assert_eq!(p.bridge, "podman1");
        assert_eq!(p.options.ipv4.subnet.unwrap().to_string(), "10.89.0.0/24");
        assert_eq!(p.options.ipv4.gateway.unwrap().to_string(), "10.89.0.1");
        assert_eq!(p.options.dns, Some(true));
        assert!(!p.options.internal && p.options.ipv6.is_none());
        assert_eq!(p.options.labels[PODMAN_ID_LABEL], p.podman_id);
    }

    #[test]
    fn captured_endpoint_and_ports() {
        let o = captured();
        let ports = ports(o.port_mappings.as_deref().unwrap()).unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].to_string(), "8080:80/tcp");
        let c = endpoint(&o, "testnet", &o.networks["testnet"], ports).unwrap();
        assert_eq!(c.ipv4.unwrap().to_string(), "10.89.0.2");
        assert_eq!(c.ifname.unwrap().to_string(), "eth0");
        assert_eq!(c.name.as_deref(), Some("web"));
        assert_eq!(c.aliases, ["a41daa482737"]);
    }

    #[test]
    fn ranges_protocols_and_host_ips() {
        let m: Vec<PortMapping> = serde_json::from_str(
            r#"[{"host_ip":"127.0.0.1","container_port":5000,"host_port":6000,"range":3,"protocol":"tcp,udp"}]"#,
        )
        .unwrap();
        let s = ports(&m).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].host_ports().unwrap().end(), 6002);
        assert_eq!(s[0].container_ports().end(), 5002);
        assert_eq!(s[1].protocol(), Protocol::Udp);
        assert_eq!(s[0].host_ip().unwrap().to_string(), "127.0.0.1");
        for (bad, field) in [
            (
                r#"{"host_ip":"nope","container_port":1,"host_port":1,"range":1,"protocol":"tcp"}"#,
                "host_ip",
            ),
            (
                r#"{"host_ip":"","container_port":1,"host_port":65535,"range":2,"protocol":"tcp"}"#,
                "range",
            ),
            (
                r#"{"host_ip":"","container_port":1,"host_port":1,"range":1,"protocol":"icmp"}"#,
                "protocol",
            ),
            (
                r#"{"host_ip":"","container_port":0,"host_port":1,"range":1,"protocol":"tcp"}"#,
                "container_port",
            ),
        ] {
            let m: PortMapping = serde_json::from_str(bad).unwrap();
            let e = ports(&[m]).unwrap_err().to_string();
            assert!(e.contains(&format!("port_mappings[0].{field}")), "{e}");
        }
    }

    #[test]
    fn macvlan_ipam_none_ipv6_only_and_metrics() {
        let base = captured().network_info["testnet"].clone();
        // Metric: netavark's 100 unless set.
        let p = network("testnet", &base).unwrap();
        assert_eq!(p.options.metric, Some(DEFAULT_METRIC));
        let mut n = base.clone();
        n.options = Some([("metric".to_owned(), "200".to_owned())].into());
        assert_eq!(network("testnet", &n).unwrap().options.metric, Some(200));
        // IPv6-only (ipv6_enabled is not read).
        let mut n = base.clone();
        n.subnets = Some(vec![contract::Subnet {
            subnet: "fd10:88:a::/64".into(),
            gateway: Some("fd10:88:a::1".parse().unwrap()),
        }]);
        let p = network("testnet", &n).unwrap();
        assert!(!p.options.enable_ipv4 && p.options.ipv6.is_some());
        // IPAM none: no address, no name server, whatever the subnets.
        let mut n = base.clone();
        n.ipam_options = Some([("driver".to_owned(), "none".to_owned())].into());
        let p = network("testnet", &n).unwrap();
        assert!(!p.options.enable_ipv4 && p.options.ipv6.is_none());
        assert_eq!(p.options.dns, Some(false));
        // macvlan: the parent, the mode, no bridge, no name server.
        let mut n = base.clone();
        n.driver = "macvlan".into();
        n.network_interface = Some("eth0".into());
        n.options = Some([("mode".to_owned(), "passthru".to_owned())].into());
        let p = network("testnet", &n).unwrap();
        assert!(p.is_macvlan());
        assert_eq!(
            p.options.driver,
            Driver::Macvlan(MacvlanOptions {
                parent: Some("eth0".into()),
                mode: MacvlanMode::Passthru
            })
        );
        assert_eq!(
            (p.options.bridge_name.as_deref(), p.options.dns),
            (None, Some(false))
        );
        n.network_interface = None;
        let p = network("testnet", &n).unwrap();
        assert_eq!(
            p.options.driver,
            Driver::Macvlan(MacvlanOptions {
                parent: None,
                mode: MacvlanMode::Passthru
            })
        );
        n.options = Some([("mode".to_owned(), "l3".to_owned())].into());
        assert!(
            network("testnet", &n)
                .unwrap_err()
                .to_string()
                .contains("options.mode")
        );
        // host-local without a subnet: refused.
        let mut n = base.clone();
        n.subnets = Some(vec![]);
        assert!(
            network("testnet", &n)
                .unwrap_err()
                .to_string()
                .contains("subnets")
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let base = captured().network_info["testnet"].clone();
        type Change = Box<dyn Fn(&mut Network)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|n| n.driver = "ipvlan".into()),
                "driver=\"ipvlan\"",
            ),
            (
                Box::new(|n| {
                    n.options = Some([("vlan".to_owned(), "5".to_owned())].into());
                }),
                "options.vlan=\"5\"",
            ),
            (
                Box::new(|n| {
                    n.options = Some([("mtu".to_owned(), "abc".to_owned())].into());
                }),
                "options.mtu=\"abc\"",
            ),
            (
                Box::new(|n| {
                    n.ipam_options = Some([("driver".to_owned(), "dhcp".to_owned())].into());
                }),
                "ipam_options.driver=\"dhcp\"",
            ),
            (
                Box::new(|n| n.subnets.as_mut().unwrap()[0].subnet = "10.89.0.1/24".into()),
                "subnets[0].subnet=\"10.89.0.1/24\"",
            ),
            (
                Box::new(|n| {
                    n.subnets.as_mut().unwrap()[0].gateway = Some("10.1.1.1".parse().unwrap())
                }),
                "subnets[0].gateway=\"10.1.1.1\"",
            ),
            (
                Box::new(|n| n.network_interface = Some("a-very-long-bridge-name".into())),
                "network_interface",
            ),
        ];
        for (change, want) in cases {
            let mut n = base.clone();
            change(&mut n);
            let e = network("testnet", &n).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let mut n = base.clone();
        n.options = Some(
            [
                ("mtu".to_owned(), "1400".to_owned()),
                ("isolate".to_owned(), "true".to_owned()),
            ]
            .into(),
        );
        assert_eq!(network("testnet", &n).unwrap().options.mtu, Some(1400));
    }
}
