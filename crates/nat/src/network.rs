//! The firewall model of one bridge network and its endpoints (pure types).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::error::ModelError;
use crate::port::PortMapping;
use brnet_netlink::IfName;

/// How a network reaches the world (Docker's `gateway_mode_ipv4/_ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GatewayMode {
    /// Outbound traffic is masqueraded; published ports are DNAT'd from the
    /// host's addresses; direct access to container addresses from outside
    /// the bridge is dropped (Docker's default).
    #[default]
    Nat,
    /// No NAT: containers are reached at their own addresses, and only
    /// published container ports (and ICMP) are let in from outside; the
    /// host side of a port mapping is not used.
    Routed,
}

impl fmt::Display for GatewayMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GatewayMode::Nat => "nat",
            GatewayMode::Routed => "routed",
        })
    }
}

/// One bridge network's firewall settings: its bridge, its subnets and
/// Docker's per-network options. Built with [`Network::builder`]; once built
/// it is valid (a valid bridge name, at least one subnet, an SNAT source
/// only for a family the network has).
///
/// ```
/// use brnet_nat::Network;
/// let net = Network::builder("docker0").ipv4("172.17.0.0/16".parse()?).build()?;
/// assert!(net.masquerade() && net.icc() && !net.internal());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Network {
    bridge: IfName,
    s: Settings,
}

/// What a network is besides its bridge: what the builder gathers and the
/// network keeps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Settings {
    ipv4: Option<Ipv4Net>,
    ipv6: Option<Ipv6Net>,
    masquerade: bool,
    icc: bool,
    internal: bool,
    gateway_mode: GatewayMode,
    snat4: Option<Ipv4Addr>,
    snat6: Option<Ipv6Addr>,
}

/// Builder for [`Network`]; see [`Network::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct NetworkBuilder {
    bridge: String,
    s: Settings,
}

impl Network {
    /// Start a network on bridge `bridge`, with Docker's defaults:
    /// masquerade on, inter-container communication on, not internal,
    /// gateway mode `nat`.
    pub fn builder(bridge: &str) -> NetworkBuilder {
        NetworkBuilder {
            bridge: bridge.to_owned(),
            s: Settings {
                ipv4: None,
                ipv6: None,
                masquerade: true,
                icc: true,
                internal: false,
                gateway_mode: GatewayMode::Nat,
                snat4: None,
                snat6: None,
            },
        }
    }

    /// The bridge.
    pub fn bridge(&self) -> &IfName {
        &self.bridge
    }

    /// The IPv4 subnet (network address, host bits cleared).
    pub fn ipv4(&self) -> Option<Ipv4Net> {
        self.s.ipv4
    }

    /// The IPv6 subnet (network address, host bits cleared).
    pub fn ipv6(&self) -> Option<Ipv6Net> {
        self.s.ipv6
    }

    /// Whether outbound traffic is masqueraded (or SNAT'd to the fixed source).
    pub fn masquerade(&self) -> bool {
        self.s.masquerade
    }

    /// Whether containers on this bridge may talk to each other.
    pub fn icc(&self) -> bool {
        self.s.icc
    }

    /// Whether the network is internal: no outbound, no published ports.
    pub fn internal(&self) -> bool {
        self.s.internal
    }

    /// The gateway mode.
    pub fn gateway_mode(&self) -> GatewayMode {
        self.s.gateway_mode
    }

    /// The fixed IPv4 SNAT source, if any (Docker's `host_ipv4`).
    pub fn snat4(&self) -> Option<Ipv4Addr> {
        self.s.snat4
    }

    /// The fixed IPv6 SNAT source, if any (Docker's `host_ipv6`).
    pub fn snat6(&self) -> Option<Ipv6Addr> {
        self.s.snat6
    }

    /// Whether `addr` is inside one of the network's subnets.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.s.ipv4.is_some_and(|n| n.contains(&a)),
            IpAddr::V6(a) => self.s.ipv6.is_some_and(|n| n.contains(&a)),
        }
    }

    /// Whether outbound traffic is NATed (nat mode, masquerade on, not internal).
    pub(crate) fn nats_outbound(&self) -> bool {
        self.s.masquerade && !self.s.internal && self.s.gateway_mode == GatewayMode::Nat
    }

    /// Whether published ports are DNAT'd (nat mode, not internal).
    pub(crate) fn dnats(&self) -> bool {
        !self.s.internal && self.s.gateway_mode == GatewayMode::Nat
    }

    /// Whether direct access to container addresses from other interfaces is
    /// dropped in raw prerouting (Docker skips it for internal and routed
    /// networks).
    pub(crate) fn protects_direct_access(&self) -> bool {
        self.dnats()
    }

    /// Check that `endpoint` belongs here: its addresses in our subnets, no
    /// ports on an internal network, no clashing host ports.
    pub fn check_endpoint(&self, endpoint: &Endpoint) -> Result<(), ModelError> {
        for addr in endpoint.addrs() {
            if !self.contains(*addr) {
                return Err(ModelError::AddressNotInNetwork {
                    addr: *addr,
                    bridge: self.bridge.clone(),
                });
            }
        }
        self.check_ports(endpoint.ports())
    }

    /// Check that `ports` can be published on this network: not internal,
    /// container addresses in our subnets, no host port given twice with
    /// different targets.
    pub fn check_ports(&self, ports: &[PortMapping]) -> Result<(), ModelError> {
        if let (true, Some(m)) = (self.s.internal, ports.first()) {
            return Err(ModelError::PortsOnInternalNetwork {
                bridge: self.bridge.clone(),
                mapping: *m,
            });
        }
        for m in ports {
            if !self.contains(m.container()) {
                return Err(ModelError::AddressNotInNetwork {
                    addr: m.container(),
                    bridge: self.bridge.clone(),
                });
            }
        }
        check_duplicates(ports, self.s.gateway_mode)
    }
}

/// Two mappings that claim the same (protocol, host address, host port) for
/// different targets cannot both be installed: say which.
fn check_duplicates(ports: &[PortMapping], mode: GatewayMode) -> Result<(), ModelError> {
    if ports.len() < 2 {
        return Ok(());
    }
    // (protocol, host address, host port, IPv4?) -> (target, its port, index)
    type Claim = (u8, Option<IpAddr>, u16, bool);
    let mut seen: BTreeMap<Claim, (IpAddr, u16, usize)> = BTreeMap::new();
    for (i, m) in ports.iter().enumerate() {
        for (h, c) in m.pairs() {
            let key = match mode {
                GatewayMode::Nat => (
                    m.protocol().number(),
                    m.host_ip(),
                    h,
                    m.container().is_ipv4(),
                ),
                // Routed: the container side is the key.
                GatewayMode::Routed => (m.protocol().number(), Some(m.container()), c, true),
            };
            if let Some((addr, port, j)) = seen.insert(key, (m.container(), c, i))
                && (addr, port) != (m.container(), c)
            {
                return Err(ModelError::DuplicateHostPort {
                    first: ports[j],
                    second: *m,
                });
            }
        }
    }
    Ok(())
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "network on {}", self.bridge)
    }
}

impl NetworkBuilder {
    /// The IPv4 subnet. Host bits are cleared (`172.17.0.1/16` is `172.17.0.0/16`).
    pub fn ipv4(mut self, subnet: Ipv4Net) -> Self {
        self.s.ipv4 = Some(subnet.trunc());
        self
    }

    /// The IPv6 subnet. Host bits are cleared.
    pub fn ipv6(mut self, subnet: Ipv6Net) -> Self {
        self.s.ipv6 = Some(subnet.trunc());
        self
    }

    /// Masquerade outbound traffic (default on; Docker's `enable_ip_masquerade`).
    pub fn masquerade(mut self, on: bool) -> Self {
        self.s.masquerade = on;
        self
    }

    /// Let containers on this bridge talk to each other (default on;
    /// Docker's `enable_icc`). Turning it off only takes effect for bridged
    /// traffic when `net.bridge.bridge-nf-call-iptables=1` (br_netfilter).
    pub fn icc(mut self, on: bool) -> Self {
        self.s.icc = on;
        self
    }

    /// Internal network: nothing in or out beyond the bridge (default off).
    pub fn internal(mut self, on: bool) -> Self {
        self.s.internal = on;
        self
    }

    /// Gateway mode (default `nat`).
    pub fn gateway_mode(mut self, mode: GatewayMode) -> Self {
        self.s.gateway_mode = mode;
        self
    }

    /// SNAT outbound IPv4 traffic to this fixed source instead of masquerading.
    pub fn snat4(mut self, source: Ipv4Addr) -> Self {
        self.s.snat4 = Some(source);
        self
    }

    /// SNAT outbound IPv6 traffic to this fixed source instead of masquerading.
    pub fn snat6(mut self, source: Ipv6Addr) -> Self {
        self.s.snat6 = Some(source);
        self
    }

    /// Validate and build.
    pub fn build(self) -> Result<Network, ModelError> {
        let bridge = bridge_name(&self.bridge)?;
        if self.s.ipv4.is_none() && self.s.ipv6.is_none() {
            return Err(ModelError::NoSubnet { bridge });
        }
        for subnet in [
            self.s.ipv4.map(ipnet::IpNet::V4),
            self.s.ipv6.map(ipnet::IpNet::V6),
        ]
        .into_iter()
        .flatten()
        {
            if subnet.prefix_len() == 0 {
                return Err(ModelError::SubnetTooBroad { bridge, subnet });
            }
        }
        if let (Some(src), None) = (self.s.snat4, self.s.ipv4) {
            return Err(ModelError::SnatWithoutSubnet {
                bridge,
                addr: src.into(),
            });
        }
        if let (Some(src), None) = (self.s.snat6, self.s.ipv6) {
            return Err(ModelError::SnatWithoutSubnet {
                bridge,
                addr: src.into(),
            });
        }
        Ok(Network { bridge, s: self.s })
    }
}

/// A container's presence on a network, as the firewall sees it: its
/// addresses (at most one per family) and the ports it publishes.
///
/// ```
/// use brnet_nat::{Endpoint, PortSpec};
/// let c1 = "172.17.0.2".parse()?;
/// let ep = Endpoint::new(&[c1])?.publish("8080:80".parse::<PortSpec>()?.to_mapping(c1)?)?;
/// assert_eq!(ep.ports().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    addrs: Vec<IpAddr>,
    ports: Vec<PortMapping>,
}

impl Endpoint {
    /// An endpoint with these addresses: one or two, at most one per family.
    pub fn new(addrs: &[IpAddr]) -> Result<Endpoint, ModelError> {
        let v4 = addrs.iter().filter(|a| a.is_ipv4()).count();
        let v6 = addrs.len() - v4;
        if addrs.is_empty() || v4 > 1 || v6 > 1 {
            return Err(ModelError::EndpointAddresses {
                addrs: addrs.to_vec(),
            });
        }
        Ok(Endpoint {
            addrs: addrs.to_vec(),
            ports: Vec::new(),
        })
    }

    /// Add a published port; its container address must be one of ours.
    pub fn publish(mut self, mapping: PortMapping) -> Result<Endpoint, ModelError> {
        if !self.addrs.contains(&mapping.container()) {
            return Err(ModelError::PortNotForEndpoint {
                mapping,
                addrs: self.addrs.clone(),
            });
        }
        self.ports.push(mapping);
        Ok(self)
    }

    /// The addresses.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The published ports.
    pub fn ports(&self) -> &[PortMapping] {
        &self.ports
    }
}

/// A bridge name as the model takes it: a valid interface name, and plain
/// (only ASCII letters, digits, `_`, `-` and `.`), since it is written into
/// rules, chain names and scripts.
pub(crate) fn bridge_name(name: &str) -> Result<IfName, ModelError> {
    IfName::checked(name)
        .and_then(|n| n.check_plain().map(|()| n))
        .map_err(|problem| ModelError::InvalidBridgeName {
            name: name.to_owned(),
            problem,
        })
}

/// One network in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetState {
    pub net: Network,
    pub endpoints: Vec<Endpoint>,
    /// Ports added with [`crate::Model::add_ports`], outside any endpoint.
    pub ports: Vec<PortMapping>,
}

impl NetState {
    /// Every published mapping of the network, endpoints' first.
    pub(crate) fn all_ports(&self) -> impl Iterator<Item = &PortMapping> {
        self.endpoints
            .iter()
            .flat_map(|e| e.ports().iter())
            .chain(self.ports.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_names_are_interface_names_and_plain() {
        for n in ["docker0", "br-0123456789ab", "bridge1", "a.b_c-d"] {
            assert_eq!(bridge_name(n).unwrap().as_str(), n);
        }
        let e = bridge_name("brü").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid bridge name \"brü\": has 'ü': only ASCII letters, digits, '_', '-' and '.' are allowed here"
        );
        for bad in ["", "..", "0123456789abcdef", "br/0", "br 0", "br@0"] {
            assert!(
                matches!(bridge_name(bad), Err(ModelError::InvalidBridgeName { .. })),
                "{bad:?}"
            );
        }
        assert!(bridge_name("0123456789abcde").is_ok());
    }
    use crate::port::Protocol;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn builder_defaults_and_checks() {
        let n = Network::builder("br0")
            .ipv4("10.1.2.3/24".parse().unwrap())
            .build()
            .unwrap();
        assert_eq!(n.ipv4().unwrap().to_string(), "10.1.2.0/24");
        assert_eq!(n.gateway_mode(), GatewayMode::Nat);
        assert!(matches!(
            Network::builder("br0").build(),
            Err(ModelError::NoSubnet { .. })
        ));
        assert!(matches!(
            Network::builder("br 0")
                .ipv4("10.0.0.0/8".parse().unwrap())
                .build(),
            Err(ModelError::InvalidBridgeName { .. })
        ));
        let e = Network::builder("br0")
            .ipv4("10.0.0.0/8".parse().unwrap())
            .snat6("fd00::1".parse().unwrap())
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "network on br0: SNAT source fd00::1 given, but the network has no subnet of that family"
        );
    }

    #[test]
    fn endpoint_and_ports_are_checked_against_the_network() {
        let n = Network::builder("br0")
            .ipv4("10.1.0.0/24".parse().unwrap())
            .build()
            .unwrap();
        let ep = Endpoint::new(&[ip("10.1.0.2")]).unwrap();
        n.check_endpoint(&ep).unwrap();
        let outside = Endpoint::new(&[ip("10.2.0.2")]).unwrap();
        assert_eq!(
            n.check_endpoint(&outside).unwrap_err().to_string(),
            "address 10.2.0.2 is not in a subnet of the network on br0"
        );
        assert!(Endpoint::new(&[]).is_err());
        assert!(Endpoint::new(&[ip("10.1.0.2"), ip("10.1.0.3")]).is_err());
        let m = PortMapping::port(Protocol::Tcp, 8080, ip("10.1.0.3"), 80).unwrap();
        assert!(matches!(
            ep.clone().publish(m),
            Err(ModelError::PortNotForEndpoint { .. })
        ));
        let a = PortMapping::port(Protocol::Tcp, 8080, ip("10.1.0.2"), 80).unwrap();
        let b = PortMapping::port(Protocol::Tcp, 8080, ip("10.1.0.5"), 80).unwrap();
        let c = PortMapping::port(Protocol::Udp, 8080, ip("10.1.0.5"), 80).unwrap();
        assert!(matches!(
            n.check_ports(&[a, b]),
            Err(ModelError::DuplicateHostPort { .. })
        ));
        n.check_ports(&[a, c, a]).unwrap();
        let internal = Network::builder("br1")
            .ipv4("10.1.0.0/24".parse().unwrap())
            .internal(true)
            .build()
            .unwrap();
        assert!(matches!(
            internal.check_ports(&[a]),
            Err(ModelError::PortsOnInternalNetwork { .. })
        ));
    }
}
