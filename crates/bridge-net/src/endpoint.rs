//! Endpoints: connect a namespace to a network, disconnect it; the network
//! modes without an endpoint (host, none, container).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use brnet_nat::{PortMapping, PortRange, PortSpec, Protocol};
use brnet_netlink::{IfName, MacAddr, Socket};
use brnet_netns::{Errno, Netns};
use brnet_veth::{Container, VethConfig};
use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::options::{ConnectOptions, MacPolicy, NetnsRef, NetworkMode};
use crate::state::{EndpointRecord, Intent, Net, Op, SandboxRecord, State};
use crate::{
    BRIDGE_PORT_LIMIT, BridgeNet, DEFAULT_DNS_DOMAIN, DEFAULT_NETWORK, ResolverCommand, VethDelete,
    fw, host,
};

/// An endpoint: what a runtime needs to know about the interface it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointInfo {
    /// 64 hex digits.
    pub id: String,
    /// The network's name.
    pub network: String,
    /// The container's id (shared by the endpoints of one namespace).
    pub container_id: String,
    /// The container's name.
    pub container: String,
    /// The namespace's path.
    pub netns: PathBuf,
    /// Interface name inside the namespace.
    pub ifname: String,
    /// Host end of the veth, on the bridge.
    pub host_veth: String,
    /// The interface's MAC.
    #[serde(serialize_with = "as_string")]
    pub mac: MacAddr,
    /// IPv4 address with the network's prefix.
    pub ipv4: Option<Ipv4Net>,
    /// The IPv4 gateway (none on internal networks).
    pub gateway4: Option<Ipv4Addr>,
    /// IPv6 address with the network's prefix.
    pub ipv6: Option<Ipv6Net>,
    /// The IPv6 gateway.
    pub gateway6: Option<Ipv6Addr>,
    /// Whether this interface holds the namespace's default route.
    pub default_route: bool,
    /// Published ports.
    #[serde(serialize_with = "as_strings")]
    pub ports: Vec<PortMapping>,
    /// Extra names.
    pub aliases: Vec<String>,
    /// Name servers for the container's resolv.conf (the network's
    /// resolver, on DNS-enabled networks).
    pub dns_servers: Vec<IpAddr>,
    /// Search domains for the container's resolv.conf (the network's
    /// domain, on DNS-enabled networks).
    pub dns_search_domains: Vec<String>,
    /// Why this endpoint has no name server although its network serves
    /// names (the resolver binary was not found, or did not start): the
    /// endpoint works, its name does not resolve. `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_warning: Option<String>,
}

fn as_string<S: serde::Serializer, T: std::fmt::Display>(
    v: &T,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn as_strings<S: serde::Serializer, T: std::fmt::Display>(
    v: &[T],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| x.to_string()))
}

impl EndpointInfo {
    pub(crate) fn of(net: &Net, ep: &EndpointRecord) -> EndpointInfo {
        let internal = net.rec.options.internal;
        let gateway4 = match net.pool4.gateway() {
            IpAddr::V4(a) if !internal => Some(a),
            _ => None,
        };
        let gateway6 = match net.pool6.as_ref().map(|p| p.gateway()) {
            Some(IpAddr::V6(a)) if !internal => Some(a),
            _ => None,
        };
        let ports = fw::endpoint(ep)
            .map(|e| e.ports().to_vec())
            .unwrap_or_default();
        let dns = net.rec.options.dns == Some(true);
        let dns_servers = if dns {
            vec![net.pool4.gateway()]
        } else {
            Vec::new()
        };
        let dns_search_domains = if dns {
            vec![
                net.rec
                    .options
                    .dns_domain
                    .clone()
                    .unwrap_or_else(|| DEFAULT_DNS_DOMAIN.to_owned()),
            ]
        } else {
            Vec::new()
        };
        EndpointInfo {
            id: ep.id.clone(),
            network: net.rec.name.clone(),
            container_id: ep.container_id.clone(),
            container: ep.container.clone(),
            netns: ep.netns.clone(),
            ifname: ep.ifname.clone(),
            host_veth: ep.host_veth.clone(),
            mac: ep.mac.parse().unwrap_or(MacAddr([0; 6])),
            ipv4: ep.ipv4,
            gateway4,
            ipv6: ep.ipv6,
            gateway6,
            default_route: ep.default_route,
            ports,
            aliases: ep.aliases.clone(),
            dns_servers,
            dns_search_domains,
            dns_warning: None,
        }
    }
}

/// What a container got in a mode without an endpoint of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// It uses the host's namespace: nothing was created.
    Host,
    /// Its namespace has only `lo`, up.
    None,
    /// It shares another container's namespace: these are its interfaces.
    Container(Vec<EndpointInfo>),
    /// It got an endpoint on a bridge network.
    Bridge(Box<EndpointInfo>),
}

/// Every port (pair) of a mapping's host side, for conflict checks.
fn host_ports(p: &crate::state::PortRecord) -> std::ops::RangeInclusive<u16> {
    p.host_port..=p.host_port_end
}

fn same_host_ip(a: Option<IpAddr>, b: Option<IpAddr>, v6a: bool, v6b: bool) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        // "every address" of a family collides with any address of it.
        (None, Some(y)) => y.is_ipv6() == v6a,
        (Some(x), None) => x.is_ipv6() == v6b,
        (None, None) => v6a == v6b,
    }
}

/// Who publishes `port`/`protocol` on `host_ip` already, among the
/// recorded endpoints.
fn holder(state: &State, protocol: Protocol, host_ip: Option<IpAddr>, port: u16) -> Option<String> {
    let v6 = host_ip.is_some_and(|h| h.is_ipv6());
    state.endpoints.values().find_map(|e| {
        e.ports
            .iter()
            .any(|p| {
                p.protocol == protocol.as_str()
                    && host_ports(p).contains(&port)
                    && same_host_ip(
                        host_ip,
                        p.host_ip,
                        v6,
                        p.host_ip.is_some_and(|h| h.is_ipv6()),
                    )
            })
            .then(|| {
                let net = state
                    .network_by_id(&e.network)
                    .map(|n| n.rec.name.as_str())
                    .unwrap_or("?");
                format!("container {:?} on network {net:?}", e.container)
            })
    })
}

impl BridgeNet {
    /// Connect the namespace `netns` to `network` (the default network
    /// `bridge` is created on first use).
    ///
    /// In order, each undone if a later one fails: the addresses (next in
    /// sequence, or the ones asked for), the host ports, a veth pair with
    /// its peer created inside the namespace (named `eth0`, or the lowest
    /// free `ethN`), its MAC, addresses, `lo` and the interface up, the
    /// default route via the gateway (only for the namespace's first
    /// network, and never on an internal one), the published ports and
    /// address protection in the firewall (one transaction), then the
    /// record. IPv6 is off on the links of an IPv4-only network.
    pub fn connect(
        &mut self,
        network: &str,
        netns: &NetnsRef,
        opts: &ConnectOptions,
    ) -> Result<EndpointInfo> {
        let _lock = self.store.lock()?;
        self.connect_locked(network, netns, opts)
    }

    fn connect_locked(
        &mut self,
        network: &str,
        netns: &NetnsRef,
        opts: &ConnectOptions,
    ) -> Result<EndpointInfo> {
        if network == DEFAULT_NETWORK {
            self.ensure_default()?;
        }
        let net =
            self.store
                .state
                .network(network)
                .cloned()
                .ok_or_else(|| Error::NetworkNotFound {
                    name: network.to_owned(),
                })?;
        if net.rec.options.internal && !opts.ports.is_empty() {
            return Err(Error::PortsNotAllowed {
                network: net.rec.name.clone(),
                reason: "an internal network cannot publish ports",
            });
        }
        if opts.ipv6.is_some() && net.pool6.is_none() {
            return Err(Error::option(
                "--ip6",
                opts.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                format!("network {:?} has no IPv6 subnet", net.rec.name),
            ));
        }
        let path = netns.path()?;
        // By name, so a missing one is reported as the user named it:
        // network namespace "c9" not found (no /run/netns/c9).
        let ns = match netns {
            NetnsRef::Name(n) => brnet_netns::NetnsDir::default().open(n)?,
            NetnsRef::Path(p) => Netns::open_path(p)?,
        };
        let ino = ns.id()?.ino;
        let siblings: Vec<EndpointRecord> = self
            .store
            .state
            .endpoints
            .values()
            .filter(|e| e.netns_ino == ino && e.netns == path)
            .cloned()
            .collect();
        if let Some(e) = siblings.iter().find(|e| e.network == net.rec.id) {
            return Err(Error::AlreadyConnected {
                network: net.rec.name.clone(),
                netns: netns.to_string(),
                ifname: e.ifname.clone(),
            });
        }
        let ifname = match &opts.ifname {
            Some(n) => n.clone(),
            None => {
                let n = (0..)
                    .find(|i| !siblings.iter().any(|s| s.ifname == format!("eth{i}")))
                    .unwrap_or(0);
                IfName::new(&format!("eth{n}"))?
            }
        };
        let container_id = opts
            .container_id
            .clone()
            .or_else(|| siblings.first().map(|s| s.container_id.clone()))
            .unwrap_or_else(host::random_id);
        let container = opts
            .name
            .clone()
            .or_else(|| siblings.first().map(|s| s.container.clone()))
            .unwrap_or_else(|| netns.short_name());
        let default_route = !net.rec.options.internal && !siblings.iter().any(|s| s.default_route);

        // Addresses: in the state's own pools, restored on failure.
        let backup = net.clone();
        let net_id = net.rec.id.clone();
        let result = self.connect_steps(
            &net_id,
            &ns,
            &path,
            ino,
            &ifname,
            &container_id,
            &container,
            default_route,
            opts,
        );
        if result.is_err()
            && let Some(n) = self.store.state.network_by_id_mut(&net_id)
        {
            *n = backup;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn connect_steps(
        &mut self,
        net_id: &str,
        ns: &Netns,
        path: &std::path::Path,
        ino: u64,
        ifname: &IfName,
        container_id: &str,
        container: &str,
        default_route: bool,
        opts: &ConnectOptions,
    ) -> Result<EndpointInfo> {
        let (name, ipv4, ipv6, dynamic4, dynamic6) = {
            let net = self.store.state.network_by_id_mut(net_id).ok_or_else(|| {
                Error::NetworkNotFound {
                    name: net_id.to_owned(),
                }
            })?;
            let name = net.rec.name.clone();
            let ipam = |source| Error::Ipam {
                network: name.clone(),
                source,
            };
            let (a4, d4) = match opts.ipv4 {
                Some(a) => {
                    net.pool4.request(IpAddr::V4(a)).map_err(ipam)?;
                    (IpAddr::V4(a), false)
                }
                None => (net.pool4.allocate().map_err(ipam)?, true),
            };
            let prefix4 = net.subnet4().prefix_len();
            let ipv4 = match a4 {
                IpAddr::V4(a) => Ipv4Net::new(a, prefix4).ok(),
                IpAddr::V6(_) => None,
            };
            let subnet6 = net.subnet6();
            let (ipv6, d6) = match (net.pool6.as_mut(), subnet6) {
                (Some(pool), Some(s6)) => {
                    let (a, d) = match opts.ipv6 {
                        Some(a) => {
                            pool.request(IpAddr::V6(a)).map_err(ipam)?;
                            (IpAddr::V6(a), false)
                        }
                        None => (pool.allocate().map_err(ipam)?, true),
                    };
                    match a {
                        IpAddr::V6(a) => (Ipv6Net::new(a, s6.prefix_len()).ok(), d),
                        IpAddr::V4(_) => (None, d),
                    }
                }
                _ => (None, false),
            };
            (name, ipv4, ipv6, d4, d6)
        };
        self.step("connect.allocate")?;
        let net = self
            .store
            .state
            .network_by_id(net_id)
            .cloned()
            .ok_or_else(|| Error::NetworkNotFound {
                name: net_id.to_owned(),
            })?;

        let mac = match opts.mac {
            MacPolicy::Fixed(m) => m.unicast()?,
            MacPolicy::Random => host::random_mac(),
            MacPolicy::Derived => match ipv4 {
                Some(a) => host::derived_mac(a.addr()),
                None => host::random_mac(),
            },
        };

        // Published ports, with their host ports chosen and checked.
        let mut mappings = Vec::with_capacity(opts.ports.len());
        for spec in &opts.ports {
            mappings.push(self.resolve_port(&net, spec, ipv4, ipv6, &mappings)?);
        }

        let id = host::random_id();
        let host_veth = brnet_veth::random_host_name();
        self.store.record(
            Op::Begin {
                intent: Intent {
                    id: id.clone(),
                    kind: "connect".into(),
                    host_veth: Some(host_veth.to_string()),
                    bridge: None,
                    network: Some(net.rec.id.clone()),
                    subnets: Vec::new(),
                },
            },
            false,
        )?;
        let rec = EndpointRecord {
            id: id.clone(),
            network: net.rec.id.clone(),
            container_id: container_id.to_owned(),
            container: container.to_owned(),
            netns: path.to_owned(),
            netns_ino: ino,
            ifname: ifname.to_string(),
            host_veth: host_veth.to_string(),
            mac: mac.to_string(),
            ipv4,
            ipv6,
            dynamic4,
            dynamic6,
            default_route,
            ports: mappings.iter().map(fw::port_record).collect(),
            aliases: opts.aliases.clone(),
            created: host::now(),
        };
        let mut veth_made = false;
        let mut fw_made = false;
        let mut lo_raised = false;
        let mut inside = Container::open(ns)?;
        let result = (|| -> Result<()> {
            self.step("connect.begin")?;
            let bridge = self.nl.link_by_name(&net.rec.bridge)?;
            let mut addresses = Vec::with_capacity(2);
            let mut gateways = Vec::new();
            if let Some(a) = ipv4 {
                addresses.push(a.into());
            }
            if let Some(a) = ipv6 {
                addresses.push(a.into());
            }
            if default_route {
                gateways.push(net.pool4.gateway());
                if let Some(p) = &net.pool6 {
                    gateways.push(p.gateway());
                }
            }
            let made = brnet_veth::create(
                &mut self.nl,
                &mut inside,
                &VethConfig {
                    host_name: Some(host_veth.clone()),
                    peer_name: ifname.clone(),
                    bridge: Some(bridge.index),
                    mtu: net.rec.options.mtu,
                    peer_mac: Some(mac),
                    addresses,
                    gateways,
                    disable_ipv6: ipv6.is_none(),
                    host_up: true,
                },
            );
            if let Err(brnet_veth::Error::Netlink(e)) = &made
                && e.errno() == Some(Errno::EXFULL)
            {
                return Err(Error::BridgeFull {
                    bridge: net.rec.bridge.clone(),
                    network: net.rec.name.clone(),
                    limit: BRIDGE_PORT_LIMIT,
                });
            }
            lo_raised = made?.lo_raised;
            veth_made = true;
            self.step("connect.veth")?;
            self.fw
                .add_endpoint(&fw::network(&net)?, &fw::endpoint(&rec)?)?;
            fw_made = true;
            self.step("connect.firewall")?;
            self.step("connect.record")?;
            self.store.record(
                Op::Connect {
                    endpoint: rec.clone(),
                },
                false,
            )?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                let _ = name;
                let mut info = EndpointInfo::of(&net, &rec);
                // Names on DNS-enabled networks: the resolver knows this
                // endpoint before connect returns (or there is none).
                if net.rec.options.dns == Some(true) {
                    let warning = match self.sync_resolver() {
                        Ok(true) => None,
                        // Turned off by the caller: no names, no warning.
                        Ok(false) if matches!(self.config.resolver, ResolverCommand::Off) => None,
                        Ok(false) => Some(
                            "no resolver: the `brnet` binary (`brnet dns serve`) is not next to \
                             this program nor on PATH"
                                .to_owned(),
                        ),
                        Err(e) => Some(format!("the resolver did not start: {e}")),
                    };
                    if warning.is_some() || matches!(self.config.resolver, ResolverCommand::Off) {
                        info.dns_servers.clear();
                        info.dns_search_domains.clear();
                        info.dns_warning = warning;
                    }
                }
                Ok(info)
            }
            Err(e) => {
                if fw_made && let (Ok(n), Ok(ep)) = (fw::network(&net), fw::endpoint(&rec)) {
                    let _ = self.fw.remove_endpoint(&n, &ep);
                }
                if veth_made {
                    let _ = self.nl.delete_link_if_exists(&host_veth);
                }
                if lo_raised {
                    let _ = brnet_veth::lower_lo(&mut inside);
                }
                let _ = self.store.record(Op::End { id }, false);
                Err(e)
            }
        }
    }

    /// Turn a `-p` spec into a mapping: the container address of the host
    /// address's family, host ports as asked (checked free) or chosen from
    /// the kernel's ephemeral range.
    pub(crate) fn resolve_port(
        &mut self,
        net: &Net,
        spec: &PortSpec,
        ipv4: Option<Ipv4Net>,
        ipv6: Option<Ipv6Net>,
        earlier: &[PortMapping],
    ) -> Result<PortMapping> {
        let host_ip = spec.host_ip().or(net.rec.options.host_binding);
        let container = match host_ip {
            Some(IpAddr::V6(_)) => ipv6.map(|a| IpAddr::V6(a.addr())),
            _ => ipv4.map(|a| IpAddr::V4(a.addr())),
        }
        .ok_or_else(|| Error::PortsNotAllowed {
            network: net.rec.name.clone(),
            reason: "no container address of the host address's family",
        })?;
        let protocol = spec.protocol();
        let len = spec.container_ports().len();
        let taken_here = |port: u16| {
            earlier.iter().any(|m| {
                m.protocol() == protocol
                    && m.host_ports().contains(port)
                    && (m.host_ip() == host_ip || m.host_ip().is_none() || host_ip.is_none())
            })
        };
        let with_spec_ip = |s: PortSpec| -> Result<PortSpec> {
            match (s.host_ip(), host_ip) {
                (None, Some(ip)) => {
                    Ok(
                        PortSpec::new(s.protocol(), Some(ip), s.host_ports(), s.container_ports())
                            .map_err(|problem| brnet_nat::PortSpecError {
                                spec: s.to_string(),
                                problem,
                            })?,
                    )
                }
                _ => Ok(s),
            }
        };
        let spec = with_spec_ip(*spec)?;
        let chosen = match spec.host_ports() {
            Some(range) => {
                for port in range.iter() {
                    if let Some(by) = holder(&self.store.state, protocol, host_ip, port) {
                        return Err(Error::PortInUse {
                            port,
                            protocol: protocol.as_str(),
                            host_ip: host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                            by: Some(by),
                        });
                    }
                    if taken_here(port) || !host::port_free(protocol, host_ip, port) {
                        return Err(Error::PortInUse {
                            port,
                            protocol: protocol.as_str(),
                            host_ip: host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                            by: taken_here(port).then(|| "another port of this request".to_owned()),
                        });
                    }
                }
                spec
            }
            None => {
                let (lo, hi) = host::local_port_range();
                let span = u32::from(hi - lo) + 1;
                let start = u32::from(u16::from_ne_bytes(host::random_bytes::<2>())) % span;
                let fits = |first: u16| -> bool {
                    (0..len).all(|k| {
                        let p = u32::from(first) + k;
                        p <= u32::from(hi)
                            && u16::try_from(p).is_ok_and(|p| {
                                holder(&self.store.state, protocol, host_ip, p).is_none()
                                    && !taken_here(p)
                                    && host::port_free(protocol, host_ip, p)
                            })
                    })
                };
                let first = (0..span)
                    .map(|i| lo + u16::try_from((start + i) % span).unwrap_or(0))
                    .find(|p| fits(*p))
                    .ok_or(Error::NoFreePort {
                        protocol: protocol.as_str(),
                        first: lo,
                        last: hi,
                    })?;
                let last = u16::try_from(u32::from(first) + len - 1).unwrap_or(first);
                let range =
                    PortRange::new(first, last).map_err(|problem| brnet_nat::PortSpecError {
                        spec: spec.to_string(),
                        problem,
                    })?;
                spec.with_host_ports(range)
                    .map_err(|problem| brnet_nat::PortSpecError {
                        spec: spec.to_string(),
                        problem,
                    })?
            }
        };
        Ok(chosen
            .to_mapping(container)
            .map_err(|problem| brnet_nat::PortSpecError {
                spec: chosen.to_string(),
                problem,
            })?)
    }

    /// Disconnect `netns` from `network`: its published ports and
    /// protection leave the firewall, its veth is deleted (the peer goes
    /// with it), its addresses go back to the pool. `Ok(false)` when it was
    /// not connected (or the network does not exist): disconnect is
    /// idempotent.
    ///
    /// Deleting a veth costs the kernel tens of milliseconds (it waits for
    /// an RCU grace period); when a container is going away, delete its
    /// namespace first: its veth dies with it, and disconnect then only
    /// updates the firewall and the state.
    pub fn disconnect(&mut self, network: &str, netns: &NetnsRef) -> Result<bool> {
        let _lock = self.store.lock()?;
        let Some(net) = self.store.state.network(network).cloned() else {
            return Ok(false);
        };
        let path = netns.path()?;
        let ino = Netns::open_path(&path)
            .ok()
            .and_then(|n| n.id().ok())
            .map(|i| i.ino);
        let Some(ep) = self
            .store
            .state
            .endpoints_of(&net.rec.id)
            .find(|e| e.netns == path && ino.is_none_or(|i| i == e.netns_ino))
            .cloned()
        else {
            return Ok(false);
        };
        self.disconnect_locked(&net, &ep, ino.is_some())?;
        Ok(true)
    }

    /// Disconnect every endpoint of `netns`, from every network (and forget
    /// its network mode). Returns how many endpoints there were.
    pub fn disconnect_all(&mut self, netns: &NetnsRef) -> Result<usize> {
        let _lock = self.store.lock()?;
        let path = netns.path()?;
        let eps: Vec<EndpointRecord> = self
            .store
            .state
            .endpoints
            .values()
            .filter(|e| e.netns == path)
            .cloned()
            .collect();
        let mut errors = Vec::new();
        for ep in &eps {
            let alive = Netns::open_path(&ep.netns)
                .and_then(|n| n.id())
                .is_ok_and(|id| id.ino == ep.netns_ino);
            if let Some(net) = self.store.state.network_by_id(&ep.network).cloned()
                && let Err(e) = self.disconnect_locked(&net, ep, alive)
            {
                errors.push(e);
            }
        }
        let sandboxes: Vec<String> = self
            .store
            .state
            .sandboxes
            .values()
            .filter(|s| s.netns == path)
            .map(|s| s.id.clone())
            .collect();
        for id in sandboxes {
            self.store.record(Op::RemoveSandbox { id }, false)?;
        }
        if errors.is_empty() {
            Ok(eps.len())
        } else {
            Err(Error::Teardown {
                op: "disconnect",
                object: netns.to_string(),
                errors,
            })
        }
    }

    /// `netns_alive`: the namespace still exists. When it is gone, the
    /// kernel is already removing the veth with it (a namespace takes its
    /// devices along, and a veth pair dies with either end): deleting it
    /// here again would only wait for the kernel's RCU grace period.
    pub(crate) fn disconnect_locked(
        &mut self,
        net: &Net,
        ep: &EndpointRecord,
        netns_alive: bool,
    ) -> Result<()> {
        let fw_net = fw::network(net)?;
        let fw_ep = fw::endpoint(ep)?;
        self.fw.remove_endpoint(&fw_net, &fw_ep)?;
        let rest = (|| -> Result<()> {
            self.step("disconnect.firewall")?;
            let veth = IfName::new(&ep.host_veth)?;
            let helper = match self.config.veth_delete {
                VethDelete::Background => self.config.resolver.binary(),
                VethDelete::Wait => None,
            };
            // Down at once in every case but a plain wait: from here on the
            // veth forwards nothing and answers for nothing, so its address
            // can be handed out again. (Down costs microseconds; a delete
            // waits for an RCU grace period.) A namespace whose file is
            // gone takes its veth along, asynchronously — but it may
            // outlive its file (a process still in it), hence the down.
            let mut to_delete = Vec::new();
            if netns_alive && helper.is_none() {
                self.nl.delete_link_if_exists(&veth)?;
            } else {
                match self.nl.set_down(&veth) {
                    Err(e) if !e.is_not_found() => return Err(e.into()),
                    Err(_) => {}
                    Ok(()) if netns_alive => to_delete.push(veth.clone()),
                    Ok(()) => {}
                }
            }
            if let Some(bin) = helper {
                // The helper deletes the veth, and holds a second
                // descriptor of our nf_tables socket: the kernel's wait for
                // the rule cleanup this disconnect left pending then falls
                // on it when it exits, not on us when we do.
                let hold = self.fw.dup_socket().and_then(|r| r.ok());
                crate::resolver::delete_in_background(&bin, &to_delete, hold)?;
            }
            self.step("disconnect.veth")?;
            Ok(())
        })();
        if let Err(e) = rest {
            // The veth may still be there: so are its rules again.
            if self.nl.link_by_name(&ep.host_veth).is_ok() {
                let _ = self.fw.add_endpoint(&fw_net, &fw_ep);
            }
            return Err(e);
        }
        self.step("disconnect.record")?;
        // The addresses go back to the pool as the record is applied.
        self.store
            .record(Op::Disconnect { id: ep.id.clone() }, false)?;
        if net.rec.options.dns == Some(true) {
            // The name is gone before disconnect returns.
            let _ = self.sync_resolver();
        }
        Ok(())
    }

    /// The endpoints of a network (all networks when `None`).
    pub fn endpoints(&mut self, network: Option<&str>) -> Result<Vec<EndpointInfo>> {
        self.store.refresh_unlocked()?;
        let st = &self.store.state;
        let filter_id = match network {
            Some(n) => Some(
                st.network(n)
                    .map(|n| n.rec.id.clone())
                    .ok_or_else(|| Error::NetworkNotFound { name: n.to_owned() })?,
            ),
            None => None,
        };
        Ok(st
            .endpoints
            .values()
            .filter(|e| filter_id.as_ref().is_none_or(|id| &e.network == id))
            .filter_map(|e| st.network_by_id(&e.network).map(|n| EndpointInfo::of(n, e)))
            .collect())
    }

    /// Give the container `name` a network mode. `Bridge(network)`
    /// connects `netns` like [`connect`](BridgeNet::connect); `None` brings
    /// `lo` up in `netns` and nothing else; `Host` checks that `netns` (if
    /// given) is the handle's own namespace and creates nothing;
    /// `Container(other)` joins the namespace of the container `other` (no
    /// new link) and returns its interfaces. Every mode is recorded.
    pub fn attach(
        &mut self,
        name: &str,
        mode: &NetworkMode,
        netns: Option<&NetnsRef>,
    ) -> Result<Attachment> {
        let _lock = self.store.lock()?;
        let record = |mode: &str, path: PathBuf, ino: u64| SandboxRecord {
            id: host::random_id(),
            container: name.to_owned(),
            mode: mode.to_owned(),
            netns: path,
            netns_ino: ino,
            created: host::now(),
        };
        let need_ns = |what: &str| -> Result<&NetnsRef> {
            netns.ok_or_else(|| Error::InvalidMode {
                mode: what.to_owned(),
                reason: "needs the container's network namespace".into(),
            })
        };
        let (sandbox, attachment) = match mode {
            NetworkMode::Bridge(network) => {
                let ns = need_ns(network)?;
                let info = self.connect_locked(
                    network,
                    ns,
                    &ConnectOptions {
                        name: Some(name.to_owned()),
                        ..ConnectOptions::default()
                    },
                )?;
                return Ok(Attachment::Bridge(Box::new(info)));
            }
            NetworkMode::Host => {
                let here = Netns::current()?;
                let (path, ino) = match netns {
                    Some(r) => {
                        let p = r.path()?;
                        let ns = Netns::open_path(&p)?;
                        if ns.id()? != here.id()? {
                            return Err(Error::InvalidMode {
                                mode: "host".into(),
                                reason: format!("{r} is not the host's network namespace"),
                            });
                        }
                        (p, ns.id()?.ino)
                    }
                    None => (PathBuf::from(brnet_netns::THREAD_NETNS), here.id()?.ino),
                };
                (record("host", path, ino), Attachment::Host)
            }
            NetworkMode::None => {
                let r = need_ns("none")?;
                let path = r.path()?;
                let ns = Netns::open_path(&path)?;
                let mut nl = Socket::open_in(&ns)?;
                nl.set_up(brnet_netlink::LinkRef::Index(1))?;
                (record("none", path, ns.id()?.ino), Attachment::None)
            }
            NetworkMode::Container(other) => {
                let st = &self.store.state;
                let theirs: Vec<EndpointInfo> = st
                    .endpoints
                    .values()
                    .filter(|e| &e.container == other || e.container_id == *other)
                    .filter_map(|e| st.network_by_id(&e.network).map(|n| EndpointInfo::of(n, e)))
                    .collect();
                let Some(first) = theirs.first() else {
                    return Err(Error::InvalidMode {
                        mode: format!("container:{other}"),
                        reason: format!("no container {other:?} with a network namespace is known"),
                    });
                };
                let ino = st
                    .endpoints
                    .get(&first.id)
                    .map(|e| e.netns_ino)
                    .unwrap_or_default();
                (
                    record(&format!("container:{other}"), first.netns.clone(), ino),
                    Attachment::Container(theirs),
                )
            }
        };
        self.store.record(Op::Sandbox { sandbox }, false)?;
        Ok(attachment)
    }

    /// Forget the network mode of container `name` (host, none, container);
    /// `Ok(false)` when it had none.
    pub fn detach(&mut self, name: &str) -> Result<bool> {
        let _lock = self.store.lock()?;
        let ids: Vec<String> = self
            .store
            .state
            .sandboxes
            .values()
            .filter(|s| s.container == name)
            .map(|s| s.id.clone())
            .collect();
        for id in &ids {
            self.store
                .record(Op::RemoveSandbox { id: id.clone() }, false)?;
        }
        Ok(!ids.is_empty())
    }
}
