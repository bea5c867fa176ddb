//! Plan: what an operation will do, decided from the state and the request
//! alone.
//!
//! Every change (connect, disconnect, create and remove a network) has the
//! same three parts:
//!
//! 1. **plan** (this module): a pure function of the [`State`], the request
//!    and the few facts the host was asked beforehand ([`Seeds`] for ids,
//!    names, MACs and time; [`HostPorts`] for host ports; [`HostView`] for
//!    the routes a new subnet must avoid). No kernel, no I/O: tested without
//!    root, and property-tested against the IPAM;
//! 2. **apply** (`apply.rs`): the kernel steps in order, each pushing
//!    its undo onto one stack that any failure unwinds;
//! 3. **commit**: the journal record ([`Op`]), the only writer of the state.
//!
//! # The shapes to come
//!
//! The plan types are made to take what is coming without another rewrite:
//!
//! - **Docker's remote driver**, whose Join must not open the container's
//!   namespace: a [`Target::Detached`] endpoint creates its veth with both
//!   ends in the handle's namespace (the peer under the name dockerd will
//!   move), configures nothing inside, and lives as long as its host end
//!   (it is recorded without a namespace path).
//! - **IPv6-only networks, and networks without addresses** (netavark's
//!   IPAM `none`): [`Net`]'s pools are both optional; an endpoint's
//!   addresses, routes and firewall model are per family
//!   ([`EndpointPlan::addresses`], [`Route`]); a network without a subnet
//!   has no firewall model at all.
//! - **macvlan networks** (no bridge, no veth): [`EndpointLink::Macvlan`]
//!   and [`NetworkLink::Parent`] (nothing to create), and apply matches on
//!   them; no firewall model either.
//! - **A default-route metric** (netavark's `options.metric`):
//!   [`Route::metric`] carries the network's; which endpoint of a
//!   namespace gets a default route is decided here, in one place
//!   ([`connect`]).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use brnet_ipam::{DefaultPool, SubnetAllocator, overlaps};
use brnet_nat::{PortMapping, PortRange, PortSpec, Protocol};
use brnet_netlink::{IfName, MacAddr};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{Error, Result};
use crate::macvlan::{Driver, MacvlanMode};
use crate::options::{ConnectOptions, MacPolicy, NetworkOptions};
use crate::state::{
    EndpointRecord, Net, NetnsKeys, NetworkRecord, Op, PortRecord, Restore, State, same_netns,
};

/// Whether a record is a detached endpoint's (no namespace path: see
/// [`Target::Detached`]).
pub fn is_detached(ep: &EndpointRecord) -> bool {
    ep.netns.as_os_str().is_empty()
}
pub use crate::inputs::{HostPorts, Seeds};
use crate::{DEFAULT_BRIDGE, DEFAULT_DNS_DOMAIN, fw, host};

/// The identity of a network namespace: the device and inode of its nsfs
/// file, and its cookie. Inodes are reused once a namespace is gone (`ip
/// netns del c1; ip netns add c1` may give the new one the old inode); the
/// cookie never is, so two identities with cookies are the same namespace
/// exactly when the cookies are equal. Without a cookie on either side (a
/// kernel before 5.14, a record written before cookies), device and inode
/// decide.
///
/// The nsfs inode's change time is a shortcut: the inode of a namespace
/// that is bind-mounted (`/run/netns/NAME`) lives as long as the mount, so
/// the same inode number with the same change time is the same inode, and
/// the same namespace (an inode number is handed out again only after the
/// old namespace is cleaned up, an RCU grace period and more after it was
/// made). A path whose inode is made anew on each look (`/proc/PID/ns/net`)
/// just falls back to the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsIdentity {
    /// `st_dev` of the nsfs file.
    pub dev: u64,
    /// `st_ino` of the nsfs file.
    pub ino: u64,
    /// Its change time, in nanoseconds since the epoch (0: unknown).
    pub ctime_ns: u64,
    /// `SO_NETNS_COOKIE` (`None`: not read, or a kernel before 5.14).
    pub cookie: Option<u64>,
}

impl NsIdentity {
    /// Whether the namespace this identity was read from is the one `ep`
    /// recorded.
    pub fn is_of<'a>(&self, ep: impl Into<NetnsKeys<'a>>) -> bool {
        let ep = ep.into();
        if self.ino != ep.netns_ino || (ep.netns_dev != 0 && self.dev != ep.netns_dev) {
            return false;
        }
        if self.ctime_ns != 0 && self.ctime_ns == ep.netns_ctime {
            return true;
        }
        match (self.cookie, ep.netns_cookie) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

/// Where an endpoint's peer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Inside this namespace, opened by the caller: the peer is created
    /// there and configured (MAC, addresses, `lo`, routes).
    Netns {
        /// The path it was opened by.
        path: PathBuf,
        /// Its identity, read when it was opened.
        id: NsIdentity,
        /// A name for the container when none is given.
        short_name: String,
    },
    /// In the handle's own namespace, down, named `peer`, with its MAC
    /// and MTU and nothing else: the peer of Docker's remote driver, which
    /// dockerd moves into the container, renames and addresses itself. No
    /// container namespace is opened; the endpoint holds no default route
    /// (dockerd routes), and lives as long as its host end.
    Detached {
        /// The peer's (temporary) name.
        peer: IfName,
    },
}

/// The link an endpoint gets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointLink {
    /// A veth pair: `host` on the bridge, `peer` where the [`Target`] says.
    Veth {
        /// The host end.
        host: IfName,
        /// The peer.
        peer: IfName,
    },
    /// A macvlan of `parent`, made inside the [`Target`]'s namespace as
    /// `name` (a macvlan network's endpoints; the record's `host_veth` is
    /// empty: nothing of it is on the host).
    Macvlan {
        /// The parent link (on the host).
        parent: IfName,
        /// The interface in the container.
        name: IfName,
        /// The mode.
        mode: MacvlanMode,
    },
}

/// A route inside the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination (`0.0.0.0/0`, `::/0` for a default route).
    pub dst: IpNet,
    /// Next hop.
    pub via: IpAddr,
    /// Priority: the network's [`NetworkOptions::metric`] (`None`: the
    /// kernel's default, 0 for IPv4 and 1024 for IPv6).
    pub metric: Option<u32>,
}

/// The names a DNS-enabled network answers for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsNames {
    /// The network's search domain.
    pub domain: String,
    /// The container's name, then its aliases.
    pub names: Vec<String>,
    /// The addresses they resolve to.
    pub addrs: Vec<IpAddr>,
}

/// A connect, decided.
#[derive(Debug, Clone)]
pub struct EndpointPlan {
    /// What the journal will say (the commit): id, addresses, MAC, ports...
    pub record: EndpointRecord,
    /// The network's name.
    pub network: String,
    /// Its bridge (a macvlan network's: its parent).
    pub bridge: IfName,
    /// Where the peer goes.
    pub target: Target,
    /// The link.
    pub link: EndpointLink,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// The peer's MAC.
    pub mac: MacAddr,
    /// The peer's addresses, with the network's prefix (configured only
    /// inside a [`Target::Netns`]).
    pub addresses: Vec<IpNet>,
    /// The peer's routes (none on internal networks, and none but for the
    /// namespace's first network).
    pub routes: Vec<Route>,
    /// Keep IPv6 off on both ends (an endpoint without an IPv6 address).
    pub disable_ipv6: bool,
    /// The firewall's view of the network and of the endpoint (its
    /// published ports and address protection); none on a macvlan network
    /// or one without addresses.
    pub firewall: Option<(brnet_nat::Network, brnet_nat::Endpoint)>,
    /// Its names, on a DNS-enabled network.
    pub dns: Option<DnsNames>,
    /// Turn `route_localnet` on on the bridge (when it is not on already):
    /// the endpoint publishes ports, the network has IPv4, and the
    /// firewall drops 127.0.0.0/8 arriving from bridges. Set by the caller,
    /// who knows the firewall (false from [`connect`]).
    pub route_localnet: bool,
    /// The namespace's endpoint whose default route this one takes over
    /// (a higher gateway priority), if any.
    pub demote: Option<Demote>,
}

/// An endpoint that loses the namespace's default route to a new one.
#[derive(Debug, Clone)]
pub struct Demote {
    /// Its record, as it will be (without the default route).
    pub record: EndpointRecord,
    /// Its default routes, removed from the namespace.
    pub routes: Vec<Route>,
}

impl EndpointPlan {
    /// The commit.
    pub fn commit(&self) -> Op {
        Op::Connect {
            endpoint: self.record.clone(),
        }
    }
}

/// The namespace's endpoints, as recorded: those at `path` whose namespace
/// is the one with identity `id`.
fn siblings<'a>(
    state: &'a State,
    path: &'a std::path::Path,
    id: &'a NsIdentity,
) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
    state
        .endpoints
        .matching_netns(move |k| !k.is_detached() && same_netns(k.netns, path) && id.is_of(k))
}

/// Plan connecting `target` to the network `network` with `opts`.
///
/// Decides, in order: the network (it must exist: the default one is made
/// by the caller first), the interface name (`eth0`, or the lowest free
/// `ethN` of the namespace), the container's id and name, the addresses
/// (the pool's next, or the ones asked for), whether this endpoint holds
/// the default route (the namespace's first non-internal network), the MAC,
/// the published ports (host ports checked against every recorded endpoint
/// and `host`, or chosen from its ephemeral range), the firewall model and
/// the DNS names.
pub fn connect(
    state: &State,
    network: &str,
    target: &Target,
    opts: &ConnectOptions,
    seeds: &Seeds,
    host: &dyn HostPorts,
) -> Result<EndpointPlan> {
    let net = state
        .network(network)
        .ok_or_else(|| Error::NetworkNotFound {
            name: network.to_owned(),
        })?;
    let o = &net.rec.options;
    if o.internal && !opts.ports.is_empty() {
        return Err(Error::PortsNotAllowed {
            network: net.rec.name.clone(),
            reason: "an internal network cannot publish ports",
        });
    }
    let macvlan = match &o.driver {
        Driver::Macvlan(m) => Some(m.mode),
        Driver::Bridge | Driver::Overlay(_) => None,
    };
    if net.pool4.is_none() && net.pool6.is_none() && !opts.ports.is_empty() {
        return Err(Error::PortsNotAllowed {
            network: net.rec.name.clone(),
            reason: "a network without addresses publishes no ports: there is no container address to send them to",
        });
    }
    if macvlan.is_some() && !opts.ports.is_empty() {
        return Err(Error::PortsNotAllowed {
            network: net.rec.name.clone(),
            reason: "a macvlan network publishes no ports: its containers are on the parent's LAN at their own addresses",
        });
    }
    if macvlan == Some(MacvlanMode::Passthru) && matches!(opts.mac, MacPolicy::Fixed(_)) {
        return Err(Error::option(
            "--mac-address",
            match opts.mac {
                MacPolicy::Fixed(m) => m.to_string(),
                _ => String::new(),
            },
            "a passthru macvlan has its parent's MAC: no other can be given",
        ));
    }
    if opts.ipv4.is_some() && net.pool4.is_none() {
        return Err(Error::option(
            "--ip",
            opts.ipv4.map(|a| a.to_string()).unwrap_or_default(),
            format!("network {:?} has no IPv4 subnet", net.rec.name),
        ));
    }
    if opts.ipv6.is_some() && net.pool6.is_none() {
        return Err(Error::option(
            "--ip6",
            opts.ipv6.map(|a| a.to_string()).unwrap_or_default(),
            format!("network {:?} has no IPv6 subnet", net.rec.name),
        ));
    }

    // Names and the namespace's other endpoints.
    let (ifname, sibs, netns, identity, default_name) = match target {
        Target::Netns {
            path,
            id,
            short_name,
        } => {
            let sibs: Vec<&EndpointRecord> = siblings(state, path, id).collect();
            if let Some(e) = sibs.iter().find(|e| e.network == net.rec.id) {
                return Err(Error::AlreadyConnected {
                    network: net.rec.name.clone(),
                    netns: path.display().to_string(),
                    ifname: e.ifname.clone(),
                });
            }
            let ifname = match &opts.ifname {
                Some(n) => n.clone(),
                None => {
                    let n = (0..)
                        .find(|i| !sibs.iter().any(|s| s.ifname == format!("eth{i}")))
                        .unwrap_or(0);
                    IfName::new(&format!("eth{n}"))?
                }
            };
            (ifname, sibs, path.clone(), Some(*id), short_name.clone())
        }
        Target::Detached { peer } => (
            peer.clone(),
            Vec::new(),
            PathBuf::new(),
            None,
            seeds.id[..12.min(seeds.id.len())].to_owned(),
        ),
    };
    let container_id = opts
        .container_id
        .clone()
        .or_else(|| sibs.first().map(|s| s.container_id.clone()))
        .unwrap_or_else(|| seeds.id.clone());
    let container = opts
        .name
        .clone()
        .or_else(|| sibs.first().map(|s| s.container.clone()))
        .unwrap_or(default_name);
    let detached = matches!(target, Target::Detached { .. });
    // A default route unless the namespace holds one already: any one for
    // a network without a metric (Docker's model: the first network's),
    // one of the same metric for a network with one (netavark's: every
    // network's, in the order of their metrics).
    let metric_of = |e: &EndpointRecord| {
        state
            .network_by_id(&e.network)
            .and_then(|n| n.rec.options.metric)
    };
    let holder = sibs
        .iter()
        .find(|s| s.default_route && (o.metric.is_none() || metric_of(s) == o.metric));
    let has_gateway = net.pool4.is_some() || net.pool6.is_some();
    let eligible = !o.internal && !detached && has_gateway && !opts.keep_default_route;
    // Docker 28's gateway priority: a higher one takes the route over.
    let gw_priority = opts.gw_priority.unwrap_or(0);
    let demote = match holder {
        Some(h) if eligible && gw_priority > h.gw_priority => {
            let routes = state
                .network_by_id(&h.network)
                .map(|n| default_routes(n, metric_of(h)))
                .unwrap_or_default();
            Some(Demote {
                record: EndpointRecord {
                    default_route: false,
                    ..(*h).clone()
                },
                routes,
            })
        }
        _ => None,
    };
    let default_route = eligible && (holder.is_none() || demote.is_some());

    // Addresses: the pool's next (the commit takes it), or the one asked
    // for (checked on a copy of the pool, for the allocator's own errors).
    let ipam = |source| Error::Ipam {
        network: net.rec.name.clone(),
        cause: source,
    };
    let pick = |pool: &brnet_ipam::Pool, asked: Option<IpAddr>| -> Result<(IpAddr, bool)> {
        match asked {
            Some(a) => {
                pool.clone().request(a).map_err(ipam)?;
                Ok((a, false))
            }
            None => Ok((pool.next().map_err(ipam)?, true)),
        }
    };
    let (ipv4, dynamic4) = match (&net.pool4, net.subnet4()) {
        (Some(pool), Some(s4)) => match pick(pool, opts.ipv4.map(IpAddr::V4))? {
            (IpAddr::V4(a), d) => (Ipv4Net::new(a, s4.prefix_len()).ok(), d),
            (IpAddr::V6(_), d) => (None, d),
        },
        _ => (None, false),
    };
    let (ipv6, dynamic6) = match (&net.pool6, net.subnet6()) {
        (Some(pool), Some(s6)) => match pick(pool, opts.ipv6.map(IpAddr::V6))? {
            (IpAddr::V6(a), d) => (Ipv6Net::new(a, s6.prefix_len()).ok(), d),
            (IpAddr::V4(_), d) => (None, d),
        },
        _ => (None, false),
    };

    let mac = match opts.mac {
        MacPolicy::Fixed(m) => m.unicast()?,
        MacPolicy::Random => seeds.mac,
        MacPolicy::Derived => match ipv4 {
            Some(a) => host::derived_mac(a.addr()),
            None => seeds.mac,
        },
    };

    let mappings = Ports {
        state,
        net,
        ipv4,
        ipv6,
        skip: None,
        seeds,
        host,
    }
    .resolve_all(&opts.ports)?;

    let record = EndpointRecord {
        id: seeds.id.clone(),
        network: net.rec.id.clone(),
        container_id,
        container,
        netns,
        netns_ino: identity.map_or(0, |i| i.ino),
        netns_dev: identity.map_or(0, |i| i.dev),
        netns_cookie: identity.and_then(|i| i.cookie),
        netns_ctime: identity.map_or(0, |i| i.ctime_ns),
        ifname: ifname.to_string(),
        host_veth: if macvlan.is_some() {
            String::new()
        } else {
            seeds.host_veth.to_string()
        },
        mac: mac.to_string(),
        ipv4,
        ipv6,
        dynamic4,
        dynamic6,
        default_route,
        gw_priority,
        ports: mappings.iter().map(fw::port_record).collect(),
        aliases: opts.aliases.clone(),
        created: seeds.now.clone(),
    };

    let mut addresses = Vec::with_capacity(2);
    addresses.extend(ipv4.map(IpNet::V4));
    addresses.extend(ipv6.map(IpNet::V6));
    let mut routes = Vec::new();
    if default_route {
        if let Some(gw) = net.gateway4() {
            routes.push(Route {
                dst: IpNet::V4(Ipv4Net::default()),
                via: gw,
                metric: o.metric,
            });
        }
        if let Some(gw) = net.gateway6() {
            routes.push(Route {
                dst: IpNet::V6(Ipv6Net::default()),
                via: gw,
                metric: o.metric,
            });
        }
    }
    let dns = (o.dns == Some(true)).then(|| DnsNames {
        domain: o
            .dns_domain
            .clone()
            .unwrap_or_else(|| DEFAULT_DNS_DOMAIN.to_owned()),
        names: std::iter::once(record.container.clone())
            .chain(record.aliases.iter().cloned())
            .collect(),
        addrs: fw::addrs(&record),
    });
    let firewall = match fw::network(net)? {
        Some(n) => Some((n, fw::endpoint(&record)?)),
        None => None,
    };
    let bridge = IfName::new(&net.rec.bridge)?;
    Ok(EndpointPlan {
        network: net.rec.name.clone(),
        link: match macvlan {
            Some(mode) => EndpointLink::Macvlan {
                parent: bridge.clone(),
                name: ifname,
                mode,
            },
            None => EndpointLink::Veth {
                host: seeds.host_veth.clone(),
                peer: ifname,
            },
        },
        bridge,
        target: target.clone(),
        mtu: o.mtu,
        mac,
        addresses,
        routes,
        disable_ipv6: ipv6.is_none(),
        firewall,
        dns,
        record,
        route_localnet: false,
        demote,
    })
}

/// Every port of a recorded mapping's host side.
fn host_ports(p: &PortRecord) -> std::ops::RangeInclusive<u16> {
    p.host_port..=p.host_port_end
}

/// A host address as a conflict check sees it: `None` for every address
/// of a family (`0.0.0.0` and `::` are "every address", as when no address
/// is given), with the family it belongs to.
fn normal(ip: Option<IpAddr>) -> (Option<IpAddr>, bool) {
    match ip {
        Some(a) if a.is_unspecified() => (None, a.is_ipv6()),
        Some(a) => (Some(a), a.is_ipv6()),
        None => (None, false),
    }
}

/// Whether two host addresses of published ports collide: equal, or one of
/// them is every address of the other's family (Docker refuses
/// `0.0.0.0:8080` beside `127.0.0.1:8080`, and the other way round).
fn same_host_ip(a: (Option<IpAddr>, bool), b: (Option<IpAddr>, bool)) -> bool {
    let ((a, v6a), (b, v6b)) = (a, b);
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        (None, Some(y)) => y.is_ipv6() == v6a,
        (Some(x), None) => x.is_ipv6() == v6b,
        (None, None) => v6a == v6b,
    }
}

/// The host addresses a port published on `host_ip` holds, for an
/// endpoint with IPv4 (`v4`) and IPv6 (`v6`) addresses: the address given
/// (every address of a family for `0.0.0.0` and `::`), or without one,
/// every address of each family the endpoint has (IPv4 when it has none).
fn claims(host_ip: Option<IpAddr>, v4: bool, v6: bool) -> Vec<(Option<IpAddr>, bool)> {
    match host_ip {
        Some(_) => vec![normal(host_ip)],
        None => {
            let mut c = Vec::with_capacity(2);
            if v4 || !v6 {
                c.push((None, false));
            }
            if v6 {
                c.push((None, true));
            }
            c
        }
    }
}

/// Whether two sets of [`claims`] collide.
fn collide(a: &[(Option<IpAddr>, bool)], b: &[(Option<IpAddr>, bool)]) -> bool {
    a.iter().any(|x| b.iter().any(|y| same_host_ip(*x, *y)))
}

/// Who publishes `port`/`protocol` on the host addresses `wanted` (see
/// [`claims`]) already, among the recorded endpoints.
fn holder(
    state: &State,
    skip: Option<&str>,
    protocol: Protocol,
    wanted: &[(Option<IpAddr>, bool)],
    port: u16,
) -> Option<String> {
    state
        .endpoints
        .matching(|k| k.publishes && Some(k.id) != skip)
        .find_map(|e| {
            e.ports
                .iter()
                .any(|p| {
                    p.protocol == protocol.as_str()
                        && host_ports(p).contains(&port)
                        && collide(
                            wanted,
                            &claims(p.host_ip, e.ipv4.is_some(), e.ipv6.is_some()),
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

/// What published ports are resolved against: the recorded endpoints
/// (but `skip`, whose ports are being replaced), the network, the
/// endpoint's addresses and the host.
struct Ports<'a> {
    state: &'a State,
    net: &'a Net,
    ipv4: Option<Ipv4Net>,
    ipv6: Option<Ipv6Net>,
    skip: Option<&'a str>,
    seeds: &'a Seeds,
    host: &'a dyn HostPorts,
}

impl Ports<'_> {
    /// Every spec, in order (each also checked against the earlier ones).
    fn resolve_all(&self, specs: &[PortSpec]) -> Result<Vec<PortMapping>> {
        let mut out: Vec<PortMapping> = Vec::with_capacity(specs.len());
        for spec in specs {
            let m = self.resolve(spec, &out)?;
            out.push(m);
        }
        Ok(out)
    }

    /// Turn a `-p` spec into a mapping: the container address of the host
    /// address's family (without a host address: IPv4's, else IPv6's; the
    /// firewall publishes it on every family the endpoint has, see
    /// [`fw::endpoint`]), host ports as asked (checked free on each of
    /// those families) or chosen from the ephemeral range.
    fn resolve(&self, spec: &PortSpec, earlier: &[PortMapping]) -> Result<PortMapping> {
        let net = self.net;
        let host_ip = spec.host_ip().or(net.rec.options.host_binding);
        let v4 = self.ipv4.map(|a| IpAddr::V4(a.addr()));
        let v6 = self.ipv6.map(|a| IpAddr::V6(a.addr()));
        let container = match host_ip {
            Some(IpAddr::V6(_)) => v6,
            Some(IpAddr::V4(_)) => v4,
            None => v4.or(v6),
        }
        .ok_or_else(|| Error::PortsNotAllowed {
            network: net.rec.name.clone(),
            reason: "no container address of the host address's family",
        })?;
        let protocol = spec.protocol();
        let len = spec.container_ports().len();
        let (has4, has6) = (v4.is_some(), v6.is_some());
        let wanted = claims(host_ip, has4, has6);
        let taken_here = |port: u16| {
            earlier.iter().any(|m| {
                m.protocol() == protocol
                    && m.host_ports().contains(port)
                    && collide(&claims(m.host_ip(), has4, has6), &wanted)
            })
        };
        let held = |port: u16| holder(self.state, self.skip, protocol, &wanted, port);
        // Free on the host, on every address it is to be published on.
        let host_free = |port: u16| {
            wanted.iter().all(|(ip, v6)| {
                let ip = match (ip, v6) {
                    (Some(a), _) => Some(*a),
                    (None, true) => Some(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
                    (None, false) => None,
                };
                self.host.free(protocol, ip, port)
            })
        };
        let bad = |s: &PortSpec| {
            let spec = s.to_string();
            move |problem| brnet_nat::PortSpecError { spec, problem }
        };
        let spec = match (spec.host_ip(), host_ip) {
            (None, Some(ip)) => PortSpec::new(
                spec.protocol(),
                Some(ip),
                spec.host_ports(),
                spec.container_ports(),
            )
            .map_err(bad(spec))?,
            _ => *spec,
        };
        let in_use = |port: u16, by: Option<String>| Error::PortInUse {
            port,
            protocol: protocol.as_str(),
            host_ip: host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            by,
        };
        let chosen = match spec.host_ports() {
            Some(range) => {
                for port in range.iter() {
                    if let Some(by) = held(port) {
                        return Err(in_use(port, Some(by)));
                    }
                    if taken_here(port) {
                        return Err(in_use(port, Some("another port of this request".into())));
                    }
                    if !host_free(port) {
                        return Err(in_use(port, None));
                    }
                }
                spec
            }
            None => {
                let (lo, hi) = self.host.range();
                let span = u32::from(hi - lo) + 1;
                let start = u32::from(self.seeds.port_start) % span;
                let fits = |first: u16| -> bool {
                    (0..len).all(|k| {
                        let p = u32::from(first) + k;
                        p <= u32::from(hi)
                            && u16::try_from(p)
                                .is_ok_and(|p| held(p).is_none() && !taken_here(p) && host_free(p))
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
                let range = PortRange::new(first, last).map_err(bad(&spec))?;
                spec.with_host_ports(range).map_err(bad(&spec))?
            }
        };
        Ok(chosen.to_mapping(container).map_err(bad(&chosen))?)
    }
}

/// New published ports for an endpoint, decided.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    /// The endpoint as recorded now.
    pub old: EndpointRecord,
    /// As it will be (the commit).
    pub new: EndpointRecord,
    /// The firewall's view of its network.
    pub network: brnet_nat::Network,
    /// The ports that go.
    pub remove: Vec<PortMapping>,
    /// The ports that come.
    pub add: Vec<PortMapping>,
    /// Turn `route_localnet` on on the bridge (see
    /// [`EndpointPlan::route_localnet`]; false from [`publish`]).
    pub route_localnet: bool,
}

impl PublishPlan {
    /// Nothing changes.
    pub fn is_noop(&self) -> bool {
        self.old == self.new
    }

    /// The commit.
    pub fn commit(&self) -> Op {
        Op::Update {
            endpoint: self.new.clone(),
        }
    }
}

/// Plan replacing the published ports of endpoint `id` with `specs` (its
/// own old ports do not stand in the way of the new ones).
pub fn publish(
    state: &State,
    id: &str,
    specs: &[PortSpec],
    seeds: &Seeds,
    host: &dyn HostPorts,
) -> Result<PublishPlan> {
    let old = state
        .endpoints
        .get(id)
        .ok_or_else(|| Error::EndpointNotFound { id: id.to_owned() })?;
    let net = state
        .network_by_id(&old.network)
        .ok_or_else(|| Error::NetworkNotFound {
            name: old.network.clone(),
        })?;
    if net.rec.options.internal && !specs.is_empty() {
        return Err(Error::PortsNotAllowed {
            network: net.rec.name.clone(),
            reason: "an internal network cannot publish ports",
        });
    }
    let add = Ports {
        state,
        net,
        ipv4: old.ipv4,
        ipv6: old.ipv6,
        skip: Some(id),
        seeds,
        host,
    }
    .resolve_all(specs)?;
    let mut new = old.clone();
    new.ports = add.iter().map(fw::port_record).collect();
    let network = fw::network(net)?.ok_or_else(|| Error::PortsNotAllowed {
        network: net.rec.name.clone(),
        reason: "a network without a firewall (macvlan, or no addresses) publishes no ports",
    })?;
    Ok(PublishPlan {
        remove: fw::endpoint(old)?.ports().to_vec(),
        add: fw::endpoint(&new)?.ports().to_vec(),
        network,
        route_localnet: false,
        old: old.clone(),
        new,
    })
}

/// A disconnect, decided.
#[derive(Debug, Clone)]
pub struct DisconnectPlan {
    /// The endpoint as recorded.
    pub record: EndpointRecord,
    /// The network's name.
    pub network: String,
    /// The link that goes: the veth (its host end), or the macvlan inside
    /// the namespace.
    pub link: EndpointLink,
    /// The firewall's view of the network and the endpoint (none without
    /// a firewall model).
    pub firewall: Option<(brnet_nat::Network, brnet_nat::Endpoint)>,
    /// The namespace still exists (`false`: its veth is going with it, and
    /// deleting it here would only wait for the kernel).
    pub netns_alive: bool,
    /// The network serves names (the resolver is told).
    pub dns: bool,
    /// The endpoint of the namespace that gets its default route when
    /// this one, which holds it, leaves (gateway priorities in use).
    pub promote: Option<Promote>,
}

/// An endpoint that gets the namespace's default route from one leaving.
#[derive(Debug, Clone)]
pub struct Promote {
    /// Its record, as it will be (with the default route).
    pub record: EndpointRecord,
    /// Its default routes, added in the namespace.
    pub routes: Vec<Route>,
    /// The leaving endpoint's default routes, removed first.
    pub old: Vec<Route>,
}

/// The default routes through `net`'s gateways, with `metric` (`None`:
/// the kernel's).
fn default_routes(net: &Net, metric: Option<u32>) -> Vec<Route> {
    [net.gateway4(), net.gateway6()]
        .into_iter()
        .flatten()
        .map(|via| Route {
            dst: match via {
                IpAddr::V4(_) => IpNet::V4(Ipv4Net::default()),
                IpAddr::V6(_) => IpNet::V6(Ipv6Net::default()),
            },
            via,
            metric,
        })
        .collect()
}

/// Who gets the default route when `ep` leaves a live namespace, in
/// Docker 28's way: the sibling with the highest gateway priority (the
/// earliest connected of equals) whose network can give one. Only where
/// priorities are in use (some endpoint of the namespace has one) and
/// without metrics; elsewhere a namespace keeps the first network's route
/// only, as before.
fn successor(state: &State, ep: &EndpointRecord, net: &Net, netns_alive: bool) -> Option<Promote> {
    if !ep.default_route || !netns_alive || is_detached(ep) || net.rec.options.metric.is_some() {
        return None;
    }
    let sibs: Vec<&EndpointRecord> = state
        .endpoints
        // The inode first: a number, where `Path`'s `==` walks components.
        .matching_netns(|k| {
            k.netns_ino == ep.netns_ino
                && k.id != ep.id
                && !k.is_detached()
                && same_netns(k.netns, &ep.netns)
        })
        .collect();
    if ep.gw_priority == 0 && sibs.iter().all(|e| e.gw_priority == 0) {
        return None;
    }
    let (next, next_net) = sibs
        .into_iter()
        .filter_map(|e| Some((e, state.network_by_id(&e.network)?)))
        .filter(|(_, n)| {
            let o = &n.rec.options;
            !o.internal && o.metric.is_none() && (n.gateway4().is_some() || n.gateway6().is_some())
        })
        .max_by(|(a, _), (b, _)| {
            a.gw_priority
                .cmp(&b.gw_priority)
                .then_with(|| b.created.cmp(&a.created))
        })?;
    Some(Promote {
        record: EndpointRecord {
            default_route: true,
            ..next.clone()
        },
        routes: default_routes(next_net, None),
        old: default_routes(net, None),
    })
}

impl DisconnectPlan {
    /// The commit.
    pub fn commit(&self) -> Op {
        Op::Disconnect {
            id: self.record.id.clone(),
        }
    }
}

/// Plan disconnecting the endpoint `id`; `netns_alive`: whether its
/// namespace is still there (observed by the caller).
pub fn disconnect(state: &State, id: &str, netns_alive: bool) -> Result<DisconnectPlan> {
    let ep = state
        .endpoints
        .get(id)
        .ok_or_else(|| Error::EndpointNotFound { id: id.to_owned() })?;
    let net = state
        .network_by_id(&ep.network)
        .ok_or_else(|| Error::NetworkNotFound {
            name: ep.network.clone(),
        })?;
    let firewall = match fw::network(net)? {
        Some(n) => Some((n, fw::endpoint(ep)?)),
        None => None,
    };
    let link = match &net.rec.options.driver {
        Driver::Macvlan(m) => EndpointLink::Macvlan {
            parent: IfName::new(&net.rec.bridge)?,
            name: IfName::new(&ep.ifname)?,
            mode: m.mode,
        },
        Driver::Bridge | Driver::Overlay(_) => EndpointLink::Veth {
            host: IfName::new(&ep.host_veth)?,
            peer: IfName::new(&ep.ifname)?,
        },
    };
    Ok(DisconnectPlan {
        record: ep.clone(),
        network: net.rec.name.clone(),
        link,
        firewall,
        netns_alive,
        dns: net.rec.options.dns == Some(true),
        promote: successor(state, ep, net, netns_alive),
    })
}

/// What the host was asked before a network is planned.
#[derive(Debug, Clone, Default)]
pub struct HostView {
    /// Prefixes a subnet from the default pools must not overlap: the
    /// host's on-link routes and its nameservers (our own bridges' routes
    /// among them are ignored).
    pub reserved: Vec<IpNet>,
    /// The IPv4 address the bridge already has, if it exists (the default
    /// network keeps docker0's, as Docker does).
    pub bridge_v4: Option<Ipv4Net>,
    /// The pools subnets are carved from.
    pub default_pools: Vec<DefaultPool>,
    /// The link of the host's default route: a macvlan network's parent
    /// when none is given.
    pub default_route_link: Option<String>,
    /// The firewall drops packets for 127.0.0.0/8 arriving on our bridges,
    /// so `route_localnet` may be turned on for ports published on
    /// 127.0.0.1 ([`crate::FirewallBackend`]).
    pub loopback_guarded: bool,
}

/// The link a network has.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkLink {
    /// A bridge, made unless it exists (then adopted), with the gateway
    /// addresses.
    Bridge {
        /// Its name.
        name: IfName,
        /// The gateway addresses, with the subnets' prefixes.
        addresses: Vec<IpNet>,
    },
    /// A macvlan network's parent: it must exist; nothing is made or
    /// changed on it.
    Parent {
        /// Its name.
        name: IfName,
    },
}

impl NetworkLink {
    /// The link's name.
    pub fn name(&self) -> &IfName {
        match self {
            NetworkLink::Bridge { name, .. } | NetworkLink::Parent { name } => name,
        }
    }
}

/// A network, decided.
#[derive(Debug, Clone)]
pub struct NetworkPlan {
    /// What the journal will say (`adopted` and `restore` are filled in by
    /// apply, which finds out whether the bridge was there).
    pub record: NetworkRecord,
    /// The link.
    pub link: NetworkLink,
    /// MTU.
    pub mtu: Option<u32>,
    /// The subnets (for the intent: reconcile removes their rules).
    pub subnets: Vec<IpNet>,
    /// The firewall's view of the network (none for a macvlan network, or
    /// one without addresses).
    pub firewall: Option<brnet_nat::Network>,
    /// Turn IPv6 forwarding on (a dual-stack network).
    pub ipv6_forwarding: bool,
    /// ICC off needs `bridge-nf-call-iptables` (br_netfilter).
    pub br_netfilter: bool,
    /// `route_localnet` may be on on the bridge (only where the firewall
    /// drops 127.0.0.0/8 from it): set at once on an adopted bridge (and
    /// put back at removal), on a bridge we make with its first published
    /// port.
    pub route_localnet: bool,
}

/// Plan creating the network `name` (the default network when `default`),
/// from `opts` (validated by the caller).
pub fn create_network(
    state: &State,
    name: &str,
    mut opts: NetworkOptions,
    default: bool,
    seeds: &Seeds,
    view: &HostView,
) -> Result<NetworkPlan> {
    if state.network(name).is_some() {
        return Err(Error::NetworkExists {
            name: name.to_owned(),
        });
    }
    let is_bridge = opts.driver.is_bridge();
    let bridge = match &opts.driver {
        Driver::Bridge | Driver::Overlay(_) => bridge_name(&opts, default, &seeds.id),
        Driver::Macvlan(m) => match m.parent.clone().or(view.default_route_link.clone()) {
            Some(p) => p,
            None => {
                return Err(Error::option(
                    crate::OPT_PARENT,
                    "",
                    "no parent given and the host has no default route to take one from",
                ));
            }
        },
    };
    let bridge_name = IfName::new(&bridge)?;
    // A bridge is one network's; a parent may have several macvlan
    // networks (other subnets of its LAN), as netavark allows.
    if is_bridge && let Some(other) = state.networks.iter().find(|n| n.rec.bridge == bridge) {
        return Err(Error::option(
            crate::OPT_BRIDGE_NAME,
            &bridge,
            format!("bridge already used by network {:?}", other.rec.name),
        ));
    }
    if opts.dns.is_none() {
        // A resolver answers on a bridge's gateway address: a user-defined
        // bridge network with an address has one.
        let addressed = opts.enable_ipv4 || opts.ipv6.is_some();
        opts.dns = Some(!default && is_bridge && addressed);
    }
    choose_subnets(state, name, &mut opts, default, view)?;
    let rec = NetworkRecord {
        id: seeds.id.clone(),
        name: name.to_owned(),
        created: seeds.now.clone(),
        bridge,
        default,
        // A parent is the host's: never made, never deleted.
        adopted: !is_bridge,
        restore: Restore::default(),
        options: opts,
    };
    let mut net = Net::new(rec).map_err(|detail| Error::InvalidOption {
        option: "--subnet".into(),
        value: name.to_owned(),
        reason: detail,
    })?;
    // Fill in the gateways the pools chose, for inspect and reload.
    if let Some(gw) = net.gateway4() {
        net.rec.options.ipv4.gateway = Some(gw);
    }
    let gw6 = net.gateway6();
    if let (Some(v6), Some(gw)) = (net.rec.options.ipv6.as_mut(), gw6) {
        v6.gateway = Some(gw);
    }
    let link = if is_bridge {
        NetworkLink::Bridge {
            name: bridge_name,
            addresses: net.gateway_cidrs(),
        }
    } else {
        NetworkLink::Parent { name: bridge_name }
    };
    Ok(NetworkPlan {
        link,
        mtu: net.rec.options.mtu,
        subnets: net.subnets(),
        firewall: fw::network(&net)?,
        ipv6_forwarding: is_bridge && net.subnet6().is_some(),
        br_netfilter: is_bridge && !net.rec.options.icc,
        route_localnet: is_bridge && net.subnet4().is_some() && view.loopback_guarded,
        record: net.rec,
    })
}

/// The bridge of a network about to be made: as given, `docker0` for the
/// default network, else `br-` + 12 hex digits of the id.
pub fn bridge_name(opts: &NetworkOptions, default: bool, id: &str) -> String {
    match (&opts.bridge_name, default) {
        (Some(b), _) => b.clone(),
        (None, true) => DEFAULT_BRIDGE.to_owned(),
        (None, false) => format!("br-{}", &id[..12.min(id.len())]),
    }
}

/// Check the given subnets against the networks' and, for a network
/// without one, pick its IPv4 subnet: docker0's existing address for the
/// default network, else the next free default pool that overlaps neither
/// our networks nor the host's routes.
fn choose_subnets(
    state: &State,
    name: &str,
    opts: &mut NetworkOptions,
    default: bool,
    view: &HostView,
) -> Result<()> {
    let ours: Vec<IpNet> = state.networks.iter().flat_map(Net::subnets).collect();
    let owner = |subnet: &IpNet| -> Option<(IpNet, String)> {
        state.networks.iter().find_map(|n| {
            n.subnets()
                .into_iter()
                .find(|s| overlaps(s, subnet))
                .map(|s| (s, format!("network {:?}", n.rec.name)))
        })
    };
    for given in [opts.ipv4.subnet, opts.ipv6.as_ref().and_then(|c| c.subnet)]
        .into_iter()
        .flatten()
    {
        if let Some((other, who)) = owner(&given) {
            return Err(Error::SubnetOverlap {
                subnet: given,
                other,
                owner: who,
            });
        }
    }
    // Only a bridge network with IPv4 and no subnet gets a default pool (a
    // macvlan network's subnet is its LAN's: validate asks for it).
    if opts.ipv4.subnet.is_some() || !opts.enable_ipv4 || !opts.driver.is_bridge() {
        return Ok(());
    }
    if default && let Some(existing) = view.bridge_v4 {
        opts.ipv4.subnet = Some(IpNet::from(existing.trunc()));
        opts.ipv4.gateway = Some(IpAddr::V4(existing.addr()));
        return Ok(());
    }
    let mut alloc = SubnetAllocator::with_pools(view.default_pools.clone());
    for s in &ours {
        let _ = alloc.request(*s);
    }
    let reserved: Vec<IpNet> = view
        .reserved
        .iter()
        .filter(|r| !ours.contains(&r.trunc()))
        .copied()
        .collect();
    let subnet = alloc.next(&reserved).map_err(|source| Error::Ipam {
        network: name.to_owned(),
        cause: source,
    })?;
    opts.ipv4.subnet = Some(subnet);
    Ok(())
}

/// A network's removal, decided.
#[derive(Debug, Clone)]
pub struct RemovePlan {
    /// The network as recorded.
    pub record: NetworkRecord,
    /// The firewall's view of it (none without a firewall model).
    pub firewall: Option<brnet_nat::Network>,
}

impl RemovePlan {
    /// The commit.
    pub fn commit(&self) -> Op {
        Op::RemoveNetwork {
            id: self.record.id.clone(),
        }
    }
}

/// Plan removing the network `name`: `Ok(None)` when there is none, an
/// error listing its endpoints while it has some.
pub fn remove_network(state: &State, name: &str) -> Result<Option<RemovePlan>> {
    let Some(net) = state.network(name) else {
        return Ok(None);
    };
    let eps: Vec<String> = state
        .endpoints_of(&net.rec.id)
        .map(|e| format!("{} ({})", e.container, e.ifname))
        .collect();
    if !eps.is_empty() {
        return Err(Error::NetworkInUse {
            name: net.rec.name.clone(),
            endpoints: eps,
        });
    }
    Ok(Some(RemovePlan {
        record: net.rec.clone(),
        firewall: fw::network(net)?,
    }))
}

#[cfg(test)]
mod tests;
