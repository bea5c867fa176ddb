//! Endpoints: connect a namespace to a network, disconnect it; the network
//! modes without an endpoint (host, none, container).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use brnet_nat::PortMapping;
use brnet_netlink::{MacAddr, Socket};
use brnet_netns::Netns;
use brnet_veth::Container;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

use crate::apply::{self, VethGone};
use crate::error::{Error, Result};
use crate::options::{ConnectOptions, NetnsRef, NetworkMode};
use crate::plan::{self, NsIdentity, Target};
use crate::state::{EndpointRecord, Intent, Net, NetnsKeys, Op, SandboxRecord, same_netns};
use crate::{
    BridgeNet, DEFAULT_DNS_DOMAIN, DEFAULT_NETWORK, ResolverCommand, VethDelete, fw, host,
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
    /// Host end of the veth, on the bridge (empty for a macvlan, which
    /// has nothing on the host).
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
        let gateway4 = match net.gateway4() {
            Some(IpAddr::V4(a)) if !internal => Some(a),
            _ => None,
        };
        let gateway6 = match net.gateway6() {
            Some(IpAddr::V6(a)) if !internal => Some(a),
            _ => None,
        };
        let ports = fw::endpoint(ep)
            .map(|e| e.ports().to_vec())
            .unwrap_or_default();
        let dns = net.rec.options.dns == Some(true);
        // The resolver answers on the gateway: IPv4's, else IPv6's.
        let dns_servers = if dns {
            net.gateway4().or(net.gateway6()).into_iter().collect()
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

/// Nanoseconds since the epoch.
fn nanos(secs: i64, nsec: i64) -> u64 {
    u64::try_from(secs)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(nsec).unwrap_or(0))
}

/// The identity of an open namespace (see [`NsIdentity`]), its cookie
/// included.
pub(crate) fn identity(ns: &Netns) -> Result<NsIdentity> {
    let id = ns.id()?;
    // The change time is only a shortcut: unknown (0) if fstat fails.
    let ctime_ns =
        nix::sys::stat::fstat(ns.fd()).map_or(0, |st| nanos(st.st_ctime, st.st_ctime_nsec));
    Ok(NsIdentity {
        dev: id.dev,
        ino: id.ino,
        ctime_ns,
        cookie: ns.cookie()?,
    })
}

/// The namespace at a path as it is now: stat(2)ed at once, its cookie
/// read only when a record needs it (see [`NsIdentity`]).
pub(crate) struct Seen<'a> {
    path: &'a Path,
    id: Option<NsIdentity>,
    cookie: std::cell::OnceCell<Option<u64>>,
}

impl<'a> Seen<'a> {
    /// Look at `path` (one stat(2), following the bind mount or /proc's
    /// link to the nsfs inode).
    pub(crate) fn at(path: &'a Path) -> Seen<'a> {
        // stat(2) itself (no statx of every field and no conversion, as
        // `std::fs::metadata` does).
        Seen::of(path, nix::sys::stat::stat(path).ok())
    }

    fn of(path: &'a Path, st: Option<nix::sys::stat::FileStat>) -> Seen<'a> {
        let id = st.map(|m| NsIdentity {
            dev: m.st_dev,
            ino: m.st_ino,
            ctime_ns: nanos(m.st_ctime, m.st_ctime_nsec),
            cookie: None,
        });
        Seen {
            path,
            id,
            cookie: std::cell::OnceCell::new(),
        }
    }

    /// Whether the namespace there is the one `ep` was made in.
    pub(crate) fn is_of<'k>(&self, ep: impl Into<NetnsKeys<'k>>) -> bool {
        let ep = ep.into();
        let Some(mut id) = self.id else {
            return false;
        };
        if !id.is_of(ep) {
            return false;
        }
        if ep.netns_cookie.is_none() || (id.ctime_ns != 0 && id.ctime_ns == ep.netns_ctime) {
            return true;
        }
        id.cookie = *self.cookie.get_or_init(|| {
            Netns::open_path(self.path)
                .ok()
                .and_then(|n| n.cookie().ok().flatten())
        });
        id.cookie.is_some() && id.is_of(ep)
    }
}

/// Looks at many namespace paths, one after the other (reconcile: every
/// endpoint's): a path in the same directory as the one before is
/// stat(2)ed relative to that directory, opened once (`fstatat`), so the
/// kernel walks its last component only, not the whole path again (about
/// 30% less kernel time per path: `benches/netns-liveness.sh`). A path in
/// another directory than the one before is stat(2)ed as [`Seen::at`]
/// does, so paths that share no directory (`/proc/PID/ns/net`) cost no
/// more than they did.
#[derive(Default)]
pub(crate) struct Looker {
    /// The directory of the path looked at last.
    parent: Vec<u8>,
    /// It, opened (`O_PATH`), once a second path in it came.
    dir: Option<std::os::fd::OwnedFd>,
    /// It could not be opened: paths in it are stat(2)ed whole.
    unopened: bool,
}

impl Looker {
    /// Look at `path`, as [`Seen::at`] does.
    pub(crate) fn look<'a>(&mut self, path: &'a Path) -> Seen<'a> {
        Seen::of(path, self.stat(path))
    }

    fn stat(&mut self, path: &Path) -> Option<nix::sys::stat::FileStat> {
        use nix::fcntl::OFlag;
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        // `DIR/NAME`, both non-empty (not `/NAME`, nor a trailing `/`). A
        // plain loop over a short path: memchr would probe the CPU's
        // features first (CPUIDs, see `state::scan`).
        if let Some(i) = bytes
            .iter()
            .rposition(|&b| b == b'/')
            .filter(|&i| i > 0 && i + 1 < bytes.len())
        {
            let (parent, name) = (&bytes[..i], &bytes[i + 1..]);
            if parent == self.parent.as_slice() {
                if self.dir.is_none() && !self.unopened {
                    self.dir = nix::fcntl::open(
                        parent,
                        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::empty(),
                    )
                    .ok();
                    self.unopened = self.dir.is_none();
                }
                if let Some(dir) = &self.dir {
                    return nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::empty()).ok();
                }
            } else {
                self.parent.clear();
                self.parent.extend_from_slice(parent);
                self.dir = None;
                self.unopened = false;
            }
        }
        nix::sys::stat::stat(path).ok()
    }
}

impl BridgeNet {
    /// Connect the namespace `netns` to `network` (the default network
    /// `bridge` is created on first use).
    ///
    /// Observe, plan, apply, commit ([`plan::connect`],
    /// `apply.rs`): the namespace is opened first (its identity
    /// read); the plan decides the addresses (next in sequence, or the
    /// ones asked for), the interface (`eth0`, or the lowest free `ethN`),
    /// the MAC, the routes (a default route via the gateway for the
    /// namespace's first network, never on an internal one) and the host
    /// ports; then a veth pair with its peer created inside the namespace
    /// (MAC, addresses, `lo` and the interface up, routes), the published
    /// ports and address protection in the firewall (one transaction), and
    /// the record. Each step is undone if a later one fails. IPv6 is off
    /// on the links of an IPv4-only network.
    pub fn connect(
        &mut self,
        network: &str,
        netns: &NetnsRef,
        opts: &ConnectOptions,
    ) -> Result<EndpointInfo> {
        let _span = tracing::info_span!("connect", network, netns = %netns).entered();
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
        // Observe: everything the plan needs from the namespace, before
        // the intent (a namespace that cannot be opened leaves nothing).
        // By name, so a missing one is reported as the user named it:
        // network namespace "c9" not found (no /run/netns/c9).
        let path = netns.path()?;
        let ns = match netns {
            NetnsRef::Name(n) => brnet_netns::NetnsDir::default().open(n)?,
            NetnsRef::Path(p) => Netns::open_path(p)?,
        };
        let inside = Container::open(&ns)?;
        let target = Target::Netns {
            path,
            id: identity(&ns)?,
            short_name: netns.short_name(),
        };
        self.connect_target(network, &target, Some(inside), opts, host::seeds())
    }

    /// Plan, apply and commit one endpoint.
    pub(crate) fn connect_target(
        &mut self,
        network: &str,
        target: &Target,
        inside: Option<Container>,
        opts: &ConnectOptions,
        seeds: plan::Seeds,
    ) -> Result<EndpointInfo> {
        // An overlay network's address comes from its cluster store, unique
        // across hosts (a store that cannot be reached fails here, with
        // nothing made); the plan takes it as asked. First, addresses
        // kept while the store was unreachable go back to it.
        self.release_pending_locked();
        let allocated = match self.store.state.network(network) {
            Some(net) => {
                let short = match target {
                    Target::Netns { short_name, .. } => Some(short_name.as_str()),
                    Target::Detached { .. } => None,
                };
                crate::overlay::allocate(net, opts, short)?
            }
            None => None,
        };
        let asked = allocated.as_ref().map(|a| a.options(opts));
        let r = plan::connect(
            &self.store.state,
            network,
            target,
            asked.as_ref().unwrap_or(opts),
            &seeds,
            &host::Ports,
        )
        .and_then(|plan| self.connect_planned(plan, inside));
        if let Some(a) = allocated {
            match &r {
                Ok(_) => a.sync(&mut self.nl),
                Err(_) => a.release(),
            }
        }
        r
    }

    /// Apply and commit a connect's plan.
    fn connect_planned(
        &mut self,
        mut plan: plan::EndpointPlan,
        inside: Option<Container>,
    ) -> Result<EndpointInfo> {
        plan.route_localnet = plan.record.ipv4.is_some()
            && !plan.record.ports.is_empty()
            && matches!(plan.link, plan::EndpointLink::Veth { .. })
            && self.loopback_guarded();
        self.step("connect.allocate")?;
        let intent = Intent {
            id: plan.record.id.clone(),
            kind: "connect".into(),
            host_veth: Some(plan.record.host_veth.clone()),
            network: Some(plan.record.network.clone()),
            ..Intent::default()
        };
        let mut record = plan.record.clone();
        self.transact(intent, false, |k, _, undo| {
            let mac = apply::connect(k, &plan, inside, undo)?;
            // The kernel's word on the MAC (a passthru macvlan's is its
            // parent's).
            record.mac = mac.to_string();
            Ok((
                Op::Connect {
                    endpoint: record.clone(),
                },
                (),
            ))
        })?;
        if let Some(d) = &plan.demote {
            // The endpoint that held the default route holds it no more.
            tracing::info!(
                from = %d.record.ifname,
                to = %record.ifname,
                "the default route moves (gateway priority {})",
                record.gw_priority
            );
            self.record_vouched(
                Op::Update {
                    endpoint: d.record.clone(),
                },
                false,
            )?;
        }
        let net = self
            .store
            .state
            .network_by_id(&plan.record.network)
            .ok_or_else(|| Error::NetworkNotFound {
                name: plan.network.clone(),
            })?;
        let mut info = EndpointInfo::of(net, &record);
        // Names on DNS-enabled networks: the resolver knows this endpoint
        // before connect returns (or there is none).
        if plan.dns.is_some() {
            let warning = match self.sync_resolver_endpoint(&record, true) {
                Ok(true) => None,
                // Turned off by the caller: no names, no warning.
                Ok(false) if matches!(self.config.resolver, ResolverCommand::Off) => None,
                Ok(false) => Some(
                    "no resolver: the `brnet-dns` binary is not next to this program nor \
                     on PATH"
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

    /// Disconnect `netns` from `network`: its published ports and
    /// protection leave the firewall, its veth is deleted (the peer goes
    /// with it), its addresses go back to the pool. `Ok(false)` when it was
    /// not connected (or the network does not exist): disconnect is
    /// idempotent.
    ///
    /// An endpoint recorded at that path for a namespace that is gone (a
    /// namespace deleted and made again under the same name is another
    /// one: see [`NsIdentity`]) is dropped, its veth left to the kernel.
    ///
    /// Deleting a veth costs the kernel tens of milliseconds (it waits for
    /// an RCU grace period); when a container is going away, delete its
    /// namespace first: its veth dies with it, and disconnect then only
    /// updates the firewall and the state; or disconnect many at once
    /// ([`disconnect_many`]): one wait for all of them.
    ///
    /// [`disconnect_many`]: BridgeNet::disconnect_many
    pub fn disconnect(&mut self, network: &str, netns: &NetnsRef) -> Result<bool> {
        let _span = tracing::info_span!("disconnect", network, netns = %netns).entered();
        let _lock = self.store.lock()?;
        let Some(net) = self.store.state.network(network) else {
            return Ok(false);
        };
        let path = netns.path()?;
        let now = Seen::at(&path);
        // The live one first, if there are two (one of a namespace that
        // was replaced).
        let Some((id, alive)) = self
            .store
            .state
            .endpoints
            .all_netns()
            .filter(|k| k.network == net.rec.id && same_netns(k.netns, &path))
            .map(|k| (k.id.to_owned(), now.is_of(k)))
            .max_by_key(|(_, alive)| *alive)
        else {
            return Ok(false);
        };
        self.disconnect_locked(&id, alive)?;
        Ok(true)
    }

    /// Disconnect the endpoint `id` (as [`disconnect`], by id: for a
    /// runtime that keeps endpoint ids, such as Docker's). `Ok(false)` when
    /// there is no such endpoint.
    ///
    /// [`disconnect`]: BridgeNet::disconnect
    pub fn disconnect_endpoint(&mut self, id: &str) -> Result<bool> {
        let _span = tracing::info_span!("disconnect_endpoint", endpoint = id).entered();
        let _lock = self.store.lock()?;
        let Some(ep) = self.store.state.endpoints.get(id) else {
            return Ok(false);
        };
        let alive = plan::is_detached(ep) || Seen::at(&ep.netns).is_of(ep);
        self.disconnect_locked(id, alive)?;
        Ok(true)
    }

    /// Disconnect every endpoint of `netns`, from every network (and forget
    /// its network mode). Goes on after a failure and reports them all.
    /// Returns how many endpoints there were. Its veths go in one kernel
    /// request (see [`disconnect_namespaces`], the same for many
    /// namespaces).
    ///
    /// [`disconnect_namespaces`]: BridgeNet::disconnect_namespaces
    pub fn disconnect_all(&mut self, netns: &NetnsRef) -> Result<usize> {
        self.disconnect_namespaces([netns])
    }

    /// Plan, apply and commit a disconnect (the caller holds the lock).
    /// `netns_alive`: the namespace still exists. When it is gone, the
    /// kernel is already removing the veth with it (a namespace takes its
    /// devices along, and a veth pair dies with either end): deleting it
    /// here again would only wait for the kernel's RCU grace period.
    pub(crate) fn disconnect_locked(&mut self, id: &str, netns_alive: bool) -> Result<()> {
        let veth = match self.config.veth_delete {
            VethDelete::Wait => VethGone::Wait,
            VethDelete::Background => VethGone::Background,
        };
        self.disconnect_with(id, netns_alive, veth)
    }

    /// [`disconnect_locked`](BridgeNet::disconnect_locked), with the veth
    /// gone as `veth` says.
    pub(crate) fn disconnect_with(
        &mut self,
        id: &str,
        netns_alive: bool,
        veth: VethGone,
    ) -> Result<()> {
        let plan = plan::disconnect(&self.store.state, id, netns_alive)?;
        let intent = Intent {
            id: plan.record.id.clone(),
            kind: "disconnect".into(),
            host_veth: Some(plan.record.host_veth.clone()),
            network: Some(plan.record.network.clone()),
            ..Intent::default()
        };
        // A veth left in the group for a detached child to delete (the
        // child's release, kept by the handle until it drops).
        let detach = matches!(veth, VethGone::Background)
            && plan.netns_alive
            && matches!(plan.link, plan::EndpointLink::Veth { .. });
        let mut release = None;
        let promoted = self.transact(intent, false, |k, _, undo| {
            let promoted = apply::disconnect(k, &plan, veth, undo)?;
            if detach {
                release = apply::delete_doomed_detached(k.fw);
                if release.is_none() {
                    // Not left to anyone: done here, waiting.
                    k.nl.delete_link_if_exists(&brnet_netlink::IfName::new(
                        &plan.record.host_veth,
                    )?)?;
                }
            }
            Ok((plan.commit(), promoted))
        })?;
        if release.is_some() {
            self.detached = release;
        }
        if let Some(net) = self.store.state.network_by_id(&plan.record.network) {
            let ip = plan.record.ipv4.map(|a| std::net::IpAddr::V4(a.addr()));
            crate::overlay::release(self.store.dir(), net, ip);
        }
        if let Some(p) = plan.promote.as_ref().filter(|_| promoted) {
            self.record_vouched(
                Op::Update {
                    endpoint: p.record.clone(),
                },
                false,
            )?;
        }
        if plan.dns {
            // The name is gone before disconnect returns.
            let _ = self.sync_resolver_endpoint(&plan.record, false);
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

    /// The endpoints of the namespace at `netns` (its path as connected,
    /// byte for byte), on every network: what
    /// [`endpoints`](BridgeNet::endpoints) would list for it, without
    /// describing every other endpoint.
    pub fn endpoints_at(&mut self, netns: &Path) -> Result<Vec<EndpointInfo>> {
        self.store.refresh_unlocked()?;
        let st = &self.store.state;
        // By keys (nothing else decoded), and bytes rather than `Path`'s
        // component by component walk: this looks at every endpoint.
        let netns = netns.as_os_str();
        Ok(st
            .endpoints
            .matching_netns(|k| k.netns.as_os_str() == netns)
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
        let _span = tracing::info_span!("attach", container = name, ?mode).entered();
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
        self.record_vouched(Op::Sandbox { sandbox }, false)?;
        Ok(attachment)
    }

    /// Forget the network mode of container `name` (host, none, container);
    /// `Ok(false)` when it had none.
    pub fn detach(&mut self, name: &str) -> Result<bool> {
        let _span = tracing::info_span!("detach", container = name).entered();
        let _lock = self.store.lock()?;
        Ok(self.forget_sandboxes(|s| s.container == name)? > 0)
    }

    /// Forget the network modes that `which` selects; how many there were.
    fn forget_sandboxes(&mut self, which: impl Fn(&SandboxRecord) -> bool) -> Result<usize> {
        let ids: Vec<String> = (self.store.state.sandboxes.values())
            .filter(|s| which(s))
            .map(|s| s.id.clone())
            .collect();
        for id in &ids {
            self.record_vouched(Op::RemoveSandbox { id: id.clone() }, false)?;
        }
        Ok(ids.len())
    }
}
