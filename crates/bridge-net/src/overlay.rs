//! Overlay networks (`-d overlay`): a bridge network on every host (the
//! same gateway, its own NAT, published ports and isolation, as for a
//! bridge) whose bridge has one more port, the network's VXLAN device,
//! and whose addresses and VNI come from the cluster store
//! ([`brnet_overlay`]), unique across hosts.
//!
//! What is added to the bridge driver's plan → apply → commit:
//!
//! - **create**: before the plan, the network is registered in the store
//!   (VNI chosen or checked, subnet checked against the other overlays);
//!   apply adds the VXLAN device on the bridge (its undo on the one
//!   stack); if apply fails, a registration this call made is taken back.
//! - **connect**: before the plan, the address is allocated in the store
//!   (compare-and-swap, sequential from .2) and handed to the plan as
//!   asked; if the plan or apply fails, it is released. After, this
//!   host's VXLAN entries are brought to the store's truth once (the
//!   agent keeps them there).
//! - **disconnect / remove**: the local part as for a bridge, then the
//!   store's records; an address the store could not take back (it was
//!   unreachable) is kept in the state directory and given back when it
//!   is there again.
//!
//! The store unreachable (or holding garbage) fails create and connect at
//! once, before anything local is made.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use brnet_netlink::{Family, MacAddr, Socket};
use brnet_overlay::cluster::{Cluster, ClusterError, NetworkRecord as ClusterNetwork};
use brnet_overlay::dataplane::{self, VXLAN_OVERHEAD, VtepSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::options::{ConnectOptions, MacPolicy, NetworkOptions};
use crate::overlay_options::{HOST_TTL, OPT_VNI, OPT_VTEP, OverlayOptions};
use crate::state::Net;

fn cluster_err(network: &str) -> impl Fn(ClusterError) -> Error + '_ {
    move |source| Error::Cluster {
        network: network.to_owned(),
        cause: source,
    }
}

/// This host's VTEP: the first IPv4 address of the default route's link,
/// else the only global IPv4 address of an up link that is not ours.
fn detect_vtep(nl: &mut Socket) -> Result<IpAddr> {
    let routes = nl.routes(Family::V4)?;
    let oif = routes
        .iter()
        .find(|r| r.is_default() && r.table == brnet_netlink::consts::RT_TABLE_MAIN)
        .and_then(|r| r.oif);
    let addrs = nl.addresses(Some(Family::V4))?;
    if let Some(a) = oif.and_then(|oif| addrs.iter().find(|a| a.index == oif)) {
        return Ok(a.net.addr());
    }
    let links = nl.links()?;
    let candidates: Vec<IpAddr> = addrs
        .iter()
        .filter(|a| a.scope == 0 && !a.net.addr().is_loopback())
        .filter(|a| {
            links.iter().any(|l| {
                l.index == a.index
                    && l.is_up()
                    && !matches!(l.kind.as_deref(), Some("bridge" | "vxlan"))
            })
        })
        .map(|a| a.net.addr())
        .collect();
    match candidates.as_slice() {
        [one] => Ok(*one),
        _ => Err(Error::option(
            OPT_VTEP,
            "",
            "no default route and not exactly one IPv4 address to use as this host's VTEP: \
             give -o vtep=ADDR",
        )),
    }
}

/// What create learned before the plan: whether this call registered the
/// network in the store (and must take it back if apply fails).
pub(crate) struct Registered {
    cluster: Cluster,
    name: String,
    created: bool,
}

impl Registered {
    /// Apply failed: take back what this call registered.
    pub(crate) fn undo(&self) {
        if self.created
            && let Err(e) = self.cluster.remove_network(&self.name)
        {
            tracing::warn!(network = %self.name, error = %e, "take back the store record");
        }
    }
}

/// Before the plan of a new overlay network: check the options, find the
/// VTEP and the underlay's MTU (the network's is 50 less unless given),
/// register the network in the store (the VNI into `opts`).
pub(crate) fn prepare_create(
    nl: &mut Socket,
    name: &str,
    id: &str,
    opts: &mut NetworkOptions,
) -> Result<Option<Registered>> {
    let crate::Driver::Overlay(o) = &mut opts.driver else {
        return Ok(None);
    };
    let Some(ipnet::IpNet::V4(subnet)) = opts.ipv4.subnet else {
        return Err(Error::option(
            "--subnet",
            "",
            "an overlay network needs its IPv4 subnet (the same on every host)",
        ));
    };
    let vtep = match o.vtep {
        Some(v) => v,
        None => detect_vtep(nl)?,
    };
    let (_, underlay_mtu) = dataplane::underlay_of(nl, vtep).map_err(|_| {
        Error::option(
            OPT_VTEP,
            vtep,
            "not an address of this host (the VTEP must be on the underlay link)",
        )
    })?;
    o.vtep = Some(vtep);
    if opts.mtu.is_none() {
        opts.mtu = Some(underlay_mtu - VXLAN_OVERHEAD);
    }
    let gateway = match opts.ipv4.gateway {
        Some(g) => g,
        None => subnet
            .hosts()
            .next()
            .map(IpAddr::V4)
            .ok_or_else(|| Error::option("--subnet", subnet, "no host address"))?,
    };
    let cluster = o.cluster(name)?;
    let rec = cluster
        .create_network(&ClusterNetwork {
            name: name.to_owned(),
            id: id.to_owned(),
            subnet: ipnet::IpNet::V4(subnet),
            gateway,
            vni: o.vni.unwrap_or(0),
        })
        .map_err(cluster_err(name))?;
    o.vni = Some(rec.vni);
    Ok(Some(Registered {
        cluster,
        name: name.to_owned(),
        created: rec.id == id,
    }))
}

/// The VXLAN device of an overlay network, on its bridge `bridge`;
/// returns its name (for the undo).
pub(crate) fn create_vtep(
    nl: &mut Socket,
    o: &OverlayOptions,
    bridge: u32,
    mtu: Option<u32>,
) -> Result<brnet_netlink::IfName> {
    let (Some(vni), Some(vtep)) = (o.vni, o.vtep) else {
        return Err(Error::option(OPT_VNI, "", "no VNI or VTEP recorded"));
    };
    let (underlay, _) = dataplane::underlay_of(nl, vtep)?;
    // A device of this VNI on no bridge (or on ours) is left by a create
    // that was interrupted (a crash undone by the journal deletes the
    // bridge, not its ports): made again. On another bridge it is another
    // network's, and the kernel's EEXIST says so.
    match nl.link(dataplane::vtep_name(vni)) {
        Ok(l) if l.kind.as_deref() == Some("vxlan") && l.master.is_none_or(|m| m == bridge) => {
            nl.delete_link_if_exists(l.index)?;
        }
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    dataplane::create_vtep(
        nl,
        &VtepSpec {
            vni,
            local: vtep,
            underlay,
            bridge: Some(bridge),
            mtu,
        },
    )?;
    Ok(dataplane::vtep_name(vni))
}

/// The name of an overlay network's VXLAN device (`None` for other
/// drivers), for the create's intent.
pub(crate) fn vtep_of(opts: &NetworkOptions) -> Option<String> {
    match &opts.driver {
        crate::Driver::Overlay(o) => o.vni.map(|v| dataplane::vtep_name(v).to_string()),
        _ => None,
    }
}

/// The cluster store of an overlay network (`None` for other drivers),
/// for the create's intent.
pub(crate) fn cluster_of(opts: &NetworkOptions) -> Option<String> {
    match &opts.driver {
        crate::Driver::Overlay(o) => Some(o.cluster_address().to_owned()),
        _ => None,
    }
}

/// After a create that did not finish (reconcile): the network record it
/// registered in the store at `cluster` (the one with its id `id`; one
/// another host registered first is left), unless endpoints are on it.
pub(crate) fn unregister_unfinished(cluster: &str, id: &str) {
    let removed = brnet_overlay::store::open(cluster)
        .map_err(ClusterError::from)
        .map(|s| Cluster::new(Arc::from(s)))
        .and_then(|c| {
            let snap = c.snapshot()?;
            match snap.networks.values().find(|n| n.id == id) {
                Some(n) => c.remove_network(&n.name).map(|_| Some(n.name.clone())),
                None => Ok(None),
            }
        });
    match removed {
        Ok(Some(name)) => {
            tracing::info!(network = %name, "took back the store record of an unfinished create")
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(%cluster, error = %e, "take back the store record of an unfinished create")
        }
    }
}

/// After a create that did not finish (reconcile): its VXLAN device
/// `name`, if it is a VXLAN device on no bridge (its bridge deleted) or
/// still on the create's `bridge` (an adopted one, given back).
pub(crate) fn remove_leftover_vtep(nl: &mut Socket, name: &str, bridge: &str) {
    let Ok(l) = nl.link_by_name(name) else {
        return;
    };
    if l.kind.as_deref() != Some("vxlan") {
        return;
    }
    let ours = l
        .master
        .is_none_or(|m| nl.link_by_name(bridge).is_ok_and(|br| br.index == m));
    if ours {
        tracing::info!(
            link = name,
            "delete the VXLAN device of an unfinished create"
        );
        if let Err(e) = nl.delete_link_if_exists(l.index) {
            tracing::warn!(link = name, error = %e, "delete the VXLAN device");
        }
    }
}

/// An address allocated in the store for a connect.
pub(crate) struct Allocated {
    cluster: Cluster,
    network: String,
    ip: IpAddr,
    mac: MacAddr,
    vtep: IpAddr,
    vni: u32,
}

impl Allocated {
    /// The connect's options with the address (and MAC) decided.
    pub(crate) fn options(&self, opts: &ConnectOptions) -> ConnectOptions {
        let mut o = opts.clone();
        if let IpAddr::V4(a) = self.ip {
            o.ipv4 = Some(a);
        }
        o.mac = MacPolicy::Fixed(self.mac);
        o
    }

    /// The connect failed: give the address back.
    pub(crate) fn release(&self) {
        if let Err(e) = self.cluster.release(&self.network, self.ip, self.vtep) {
            tracing::warn!(network = %self.network, ip = %self.ip, error = %e, "release");
        }
    }

    /// The connect went through: this host's entries to the store's
    /// truth, once (the agent keeps them there).
    pub(crate) fn sync(&self, nl: &mut Socket) {
        if let Err(e) = sync_network(nl, &self.cluster, &self.network, self.vni, self.vtep) {
            tracing::warn!(network = %self.network, error = %e, "sync the VXLAN entries");
        }
    }
}

/// Bring network `network`'s VXLAN entries on this host to the store's
/// truth.
pub fn sync_network(
    nl: &mut Socket,
    cluster: &Cluster,
    network: &str,
    vni: u32,
    vtep: IpAddr,
) -> Result<()> {
    let snap = cluster.snapshot().map_err(cluster_err(network))?;
    let index = nl.link(dataplane::vtep_name(vni))?.index;
    dataplane::reconcile(nl, index, &snap.peer_set(network, vtep))?;
    Ok(())
}

/// Before the plan of a connect to an overlay network: make this host
/// alive in the store and allocate the address there (the one asked for,
/// or the lowest free from .2).
pub(crate) fn allocate(
    net: &Net,
    opts: &ConnectOptions,
    container: Option<&str>,
) -> Result<Option<Allocated>> {
    let crate::Driver::Overlay(o) = &net.rec.options.driver else {
        return Ok(None);
    };
    let name = &net.rec.name;
    let (Some(vni), Some(vtep)) = (o.vni, o.vtep) else {
        return Err(Error::option(OPT_VNI, "", "no VNI or VTEP recorded"));
    };
    let cluster = o.cluster(name)?;
    // Gone from the store (the last other host with endpoints on it
    // removed it): registered again, with its VNI and subnet.
    let rec = match cluster.network(name).map_err(cluster_err(name))? {
        Some(rec) => rec,
        None => {
            let (Some(subnet), Some(gateway)) = (net.rec.options.ipv4.subnet, net.gateway4())
            else {
                return Err(Error::Cluster {
                    network: name.clone(),
                    cause: ClusterError::NotFound(name.clone()),
                });
            };
            cluster
                .create_network(&ClusterNetwork {
                    name: name.clone(),
                    id: net.rec.id.clone(),
                    subnet,
                    gateway,
                    vni,
                })
                .map_err(cluster_err(name))?
        }
    };
    if rec.vni != vni {
        return Err(Error::Cluster {
            network: name.clone(),
            cause: ClusterError::Mismatch {
                network: name.clone(),
                detail: format!("VNI {} in the store, {vni} here", rec.vni),
            },
        });
    }
    cluster.join(vtep, HOST_TTL).map_err(cluster_err(name))?;
    let fixed = match opts.mac {
        MacPolicy::Fixed(m) => Some(m),
        _ => None,
    };
    let e = cluster
        .allocate(
            &rec,
            vtep,
            opts.ipv4.map(IpAddr::V4),
            opts.name.as_deref().or(container),
            |ip| match (fixed, ip) {
                (Some(m), _) => m,
                (None, IpAddr::V4(a)) => crate::host::derived_mac(a),
                (None, IpAddr::V6(_)) => brnet_netlink::MacAddr::random_local(),
            },
        )
        .map_err(cluster_err(name))?;
    Ok(Some(Allocated {
        cluster,
        network: name.clone(),
        ip: e.ip,
        mac: e.mac,
        vtep,
        vni,
    }))
}

/// After a disconnect from an overlay network: its address back to the
/// store. A store that cannot be reached does not fail the disconnect (the
/// local side is gone already, as with Docker's and flannel's): the
/// address is written to [`PENDING_RELEASES`] in the state directory `dir`
/// and given back when the store is there again (the next connect on this
/// host, or [`BridgeNet::release_pending`](crate::BridgeNet::release_pending),
/// which the agent calls every round).
pub(crate) fn release(dir: &Path, net: &Net, ip: Option<IpAddr>) {
    let crate::Driver::Overlay(o) = &net.rec.options.driver else {
        return;
    };
    let (Some(ip), Some(vtep)) = (ip, o.vtep) else {
        return;
    };
    let name = &net.rec.name;
    let Err(e) = o
        .cluster(name)
        .and_then(|c| c.release(name, ip, vtep).map_err(cluster_err(name)))
    else {
        return;
    };
    tracing::warn!(network = %name, %ip, error = %e, "release the address: kept to release when the store is back");
    let mut pending = read_pending(dir);
    let p = Pending {
        cluster: o.cluster_address().to_owned(),
        network: name.clone(),
        ip,
        vtep,
    };
    if !pending.contains(&p) {
        pending.push(p);
    }
    if let Err(e) = write_pending(dir, &pending) {
        tracing::warn!(network = %name, %ip, error = %e, "record the address to release");
    }
}

/// The file (in the state directory) with the overlay addresses that a
/// disconnect could not give back to an unreachable store, until they
/// are.
pub const PENDING_RELEASES: &str = "overlay-releases.json";

/// An address to give back to its store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    cluster: String,
    network: String,
    ip: IpAddr,
    vtep: IpAddr,
}

fn read_pending(dir: &Path) -> Vec<Pending> {
    std::fs::read(dir.join(PENDING_RELEASES))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_pending(dir: &Path, pending: &[Pending]) -> Result<()> {
    let path = dir.join(PENDING_RELEASES);
    if pending.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::state_io("remove", &path, &e))
            }
            _ => Ok(()),
        };
    }
    write_atomic(
        &path,
        &serde_json::to_vec(pending).expect("records serialise"),
    )
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::state_io("write", path, &e))
}

impl crate::BridgeNet {
    /// Give back to their stores the overlay addresses that disconnects
    /// made while the store was unreachable (see [`PENDING_RELEASES`]);
    /// how many were given back (or were gone already). Those whose
    /// store is still unreachable stay for the next call.
    pub fn release_pending(&mut self) -> Result<usize> {
        let _lock = self.store.lock()?;
        Ok(self.release_pending_locked())
    }

    /// [`release_pending`](Self::release_pending) under the state lock
    /// (taken by the caller).
    pub(crate) fn release_pending_locked(&mut self) -> usize {
        let dir = self.store.dir().to_owned();
        let pending = read_pending(&dir);
        if pending.is_empty() {
            return 0;
        }
        let state = &self.store.state;
        let mut left = Vec::new();
        let mut done = 0;
        for p in pending {
            // Taken again here since (its record was gone: the host's
            // lease had run out): the record is that endpoint's now.
            let in_use = state.network(&p.network).is_some_and(|net| {
                state.endpoints.values().any(|e| {
                    e.network == net.rec.id && e.ipv4.map(|a| IpAddr::V4(a.addr())) == Some(p.ip)
                })
            });
            if in_use {
                continue;
            }
            let released = brnet_overlay::store::open(&p.cluster)
                .map_err(ClusterError::from)
                .and_then(|s| Cluster::new(Arc::from(s)).release(&p.network, p.ip, p.vtep));
            match released {
                Ok(_) => {
                    tracing::info!(network = %p.network, ip = %p.ip, "released an address kept while the store was unreachable");
                    done += 1;
                }
                Err(e) => {
                    tracing::debug!(network = %p.network, ip = %p.ip, error = %e, "release the address");
                    left.push(p);
                }
            }
        }
        if let Err(e) = write_pending(&dir, &left) {
            tracing::warn!(error = %e, "record the addresses to release");
        }
        done
    }
}

/// After a network is removed here: its record out of the store, unless
/// another host still has endpoints on it.
pub(crate) fn unregister(net: &Net) {
    let crate::Driver::Overlay(o) = &net.rec.options.driver else {
        return;
    };
    let name = &net.rec.name;
    match o
        .cluster(name)
        .and_then(|c| c.remove_network(name).map_err(cluster_err(name)))
    {
        Ok(_) => {}
        Err(Error::Cluster {
            cause: ClusterError::InUse { .. },
            ..
        }) => {}
        Err(e) => tracing::warn!(network = %name, error = %e, "remove the store record"),
    }
}

/// Peers and remote endpoints of an overlay network, as the store has
/// them (for inspect and dot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OverlayView {
    /// The VNI.
    pub vni: u32,
    /// This host's VTEP.
    pub vtep: Option<IpAddr>,
    /// The store.
    pub cluster: String,
    /// Live hosts with endpoints on the network (this one included).
    pub peers: Vec<IpAddr>,
    /// Endpoints on other hosts: (address, MAC, host).
    pub remote_endpoints: Vec<(IpAddr, String, IpAddr)>,
}

/// An overlay network's view of the cluster (`None` for other drivers);
/// a store that cannot be read gives its error.
pub fn view(net: &Net) -> Option<Result<OverlayView>> {
    let crate::Driver::Overlay(o) = &net.rec.options.driver else {
        return None;
    };
    let name = &net.rec.name;
    let read = || -> Result<OverlayView> {
        let snap = o.cluster(name)?.snapshot().map_err(cluster_err(name))?;
        let mut peers: Vec<IpAddr> = snap
            .live_endpoints(name, o.vtep)
            .iter()
            .map(|e| e.host)
            .collect();
        peers.sort();
        peers.dedup();
        let remote_endpoints = snap
            .live_endpoints(name, None)
            .into_iter()
            .filter(|e| Some(e.host) != o.vtep)
            .map(|e| (e.ip, e.mac.to_string(), e.host))
            .collect();
        Ok(OverlayView {
            vni: o.vni.unwrap_or(0),
            vtep: o.vtep,
            cluster: o.cluster_address().to_owned(),
            peers,
            remote_endpoints,
        })
    };
    Some(read())
}

/// The file (in the state directory) with the names of other hosts'
/// endpoints on this host's overlay networks, for the resolver.
pub const REMOTE_NAMES: &str = "overlay-names.json";

/// Names of endpoints on other hosts, by network: (name, address).
pub type RemoteNames = std::collections::BTreeMap<String, Vec<(String, IpAddr)>>;

fn read_names(dir: &std::path::Path) -> RemoteNames {
    std::fs::read(dir.join(REMOTE_NAMES))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Add other hosts' endpoints to what the resolver serves, on the
/// networks it serves here.
pub(crate) fn add_remote_names(spec: &mut brnet_dns::serve::Spec, dir: &std::path::Path) {
    let names = read_names(dir);
    for net in &mut spec.networks {
        for (name, ip) in names.get(&net.name).into_iter().flatten() {
            net.entries.push(brnet_dns::serve::SpecEntry {
                name: name.clone(),
                container: format!("remote:{ip}"),
                addrs: vec![*ip],
                aliases: Vec::new(),
            });
        }
    }
}

impl crate::BridgeNet {
    /// Set the names of the endpoints other hosts have on overlay network
    /// `network` (the agent's, from the cluster store), so that they
    /// resolve here too. `Ok(false)` when they were already these.
    pub fn set_overlay_names(&mut self, network: &str, names: &[(String, IpAddr)]) -> Result<bool> {
        let _lock = self.store.lock()?;
        let dir = self.store.dir().to_owned();
        let mut all = read_names(&dir);
        let mut sorted = names.to_vec();
        sorted.sort();
        if all.get(network).map_or(sorted.is_empty(), |v| *v == sorted) {
            return Ok(false);
        }
        if sorted.is_empty() {
            all.remove(network);
        } else {
            all.insert(network.to_owned(), sorted);
        }
        write_atomic(
            &dir.join(REMOTE_NAMES),
            &serde_json::to_vec(&all).expect("names serialise"),
        )?;
        if self.dns_wanted() {
            let _ = self.sync_resolver();
        }
        Ok(true)
    }
}
