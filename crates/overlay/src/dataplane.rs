//! The data plane of an overlay network on one host: its VXLAN device
//! (VNI, UDP 4789, the local VTEP address, the underlay device, learning
//! off, proxy ARP on, MTU = underlay − 50, a port of the network's
//! bridge), and the entries that make remote endpoints reachable:
//!
//! - the all-zero MAC → every peer VTEP (the flood list: broadcast,
//!   multicast and unknown unicast), one appended entry per peer;
//! - each remote endpoint's MAC → its host's VTEP (replaced, never
//!   appended: an append of a MAC that exists changes nothing);
//! - each remote endpoint's IP → its MAC, permanent, on the vxlan device
//!   (with proxy ARP, ARP never crosses the tunnel: without this entry
//!   the remote endpoint is unreachable, reference §3).
//!
//! [`reconcile`] makes the kernel match a [`PeerSet`] (adds what is
//! missing, replaces what moved, deletes what is no longer there, with
//! the destination actually installed) and is idempotent. Nothing here
//! knows where the peer set comes from.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use brnet_netlink::neigh::NTF_SELF;
use brnet_netlink::vxlan::MAX_VNI;
use brnet_netlink::{Error, IfName, MacAddr, NeighMode, Result, Socket, VxlanInfo, VxlanSpec};

/// The VXLAN encapsulation overhead over IPv4: outer IP (20) + UDP (8) +
/// VXLAN (8) + inner Ethernet (14).
pub const VXLAN_OVERHEAD: u32 = 50;

/// The vxlan device of network VNI `vni` on a host: `vx-<vni>` (the
/// kernel allows one device per VNI and port in a namespace).
pub fn vtep_name(vni: u32) -> IfName {
    IfName::new(&format!("vx-{vni}")).expect("vx- and at most 8 digits fit")
}

/// A VXLAN device to create.
#[derive(Debug, Clone)]
pub struct VtepSpec {
    /// The VNI.
    pub vni: u32,
    /// The local VTEP address (on the underlay device).
    pub local: IpAddr,
    /// The underlay device's index.
    pub underlay: u32,
    /// The bridge to enslave it to.
    pub bridge: Option<u32>,
    /// MTU; `None`: the underlay's − [`VXLAN_OVERHEAD`] (the kernel's
    /// default with an underlay device).
    pub mtu: Option<u32>,
}

/// The underlay device holding `local`: its index and MTU.
pub fn underlay_of(nl: &mut Socket, local: IpAddr) -> Result<(u32, u32)> {
    let index = nl
        .addresses(None)?
        .into_iter()
        .find(|a| a.net.addr() == local)
        .map(|a| a.index)
        .ok_or_else(|| Error::NotFound {
            what: "underlay address",
            object: local.to_string(),
        })?;
    Ok((index, nl.link(index)?.mtu))
}

/// Create the VXLAN device (up, on its bridge when given); returns its
/// index. A VNI past 24 bits is refused before anything is sent.
pub fn create_vtep(nl: &mut Socket, spec: &VtepSpec) -> Result<u32> {
    if spec.vni > MAX_VNI {
        return Err(Error::Encode {
            what: "vxlan id",
            detail: format!("{} is out of range (0..={MAX_VNI})", spec.vni),
        });
    }
    let name = vtep_name(spec.vni);
    let tunnel = VxlanInfo::overlay(spec.vni, Some(spec.local), Some(spec.underlay));
    nl.create_vxlan(&VxlanSpec {
        mtu: spec.mtu,
        master: spec.bridge,
        ..VxlanSpec::new(&name, tunnel)
    })?;
    Ok(nl.link(&name)?.index)
}

/// Delete network `vni`'s device (its entries go with it); whether it
/// was there.
pub fn delete_vtep(nl: &mut Socket, vni: u32) -> Result<bool> {
    nl.delete_link_if_exists(vtep_name(vni))
}

/// An endpoint on another host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteEndpoint {
    /// Its address on the overlay.
    pub ip: IpAddr,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its host's VTEP address.
    pub vtep: IpAddr,
}

/// What one host's VXLAN device must know: the other hosts' VTEPs (the
/// flood list) and the endpoints on them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSet {
    /// Remote VTEP addresses.
    pub peers: BTreeSet<IpAddr>,
    /// Remote endpoints.
    pub endpoints: Vec<RemoteEndpoint>,
}

/// What [`reconcile`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Entries added or replaced.
    pub added: usize,
    /// Entries deleted.
    pub removed: usize,
}

/// The device's current peers and endpoints, as the kernel has them.
pub fn installed(nl: &mut Socket, vxlan: u32) -> Result<PeerSet> {
    let (flood, macs, neigh) = read(nl, vxlan)?;
    let endpoints = neigh
        .iter()
        .filter_map(|(ip, mac)| {
            Some(RemoteEndpoint {
                ip: *ip,
                mac: *mac,
                vtep: *macs.get(mac)?,
            })
        })
        .collect();
    Ok(PeerSet {
        peers: flood,
        endpoints,
    })
}

type Tables = (
    BTreeSet<IpAddr>,
    BTreeMap<MacAddr, IpAddr>,
    BTreeMap<IpAddr, MacAddr>,
);

fn read(nl: &mut Socket, vxlan: u32) -> Result<Tables> {
    let zero = MacAddr([0; 6]);
    let mut flood = BTreeSet::new();
    let mut macs = BTreeMap::new();
    for e in nl.fdb_entries(vxlan)? {
        if e.flags & NTF_SELF == 0 {
            continue;
        }
        match (e.mac, e.dst) {
            (Some(m), Some(d)) if m == zero => {
                flood.insert(d);
            }
            (Some(m), Some(d)) => {
                macs.insert(m, d);
            }
            _ => {}
        }
    }
    let neigh = nl
        .neighbours(vxlan)?
        .into_iter()
        .filter(|n| n.is_permanent())
        .filter_map(|n| Some((n.dst?, n.mac?)))
        .collect();
    Ok((flood, macs, neigh))
}

/// Make device `vxlan`'s entries match `want`. Idempotent; stops at the
/// first kernel error (the next call carries on from what is there).
pub fn reconcile(nl: &mut Socket, vxlan: u32, want: &PeerSet) -> Result<Changes> {
    let zero = MacAddr([0; 6]);
    let (flood, macs, neigh) = read(nl, vxlan)?;
    let mut c = Changes::default();
    let want_macs: BTreeMap<MacAddr, IpAddr> =
        want.endpoints.iter().map(|e| (e.mac, e.vtep)).collect();
    let want_neigh: BTreeMap<IpAddr, MacAddr> =
        want.endpoints.iter().map(|e| (e.ip, e.mac)).collect();

    // Remove first: an address or MAC that moved is replaced below.
    for (ip, mac) in &neigh {
        if want_neigh.get(ip) != Some(mac) && !want_neigh.contains_key(ip) {
            nl.delete_neighbour_if_exists(vxlan, *ip)?;
            c.removed += 1;
        }
    }
    for (mac, dst) in &macs {
        if !want_macs.contains_key(mac) {
            nl.delete_fdb_if_exists(vxlan, *mac, Some(*dst))?;
            c.removed += 1;
        }
    }
    for dst in flood.difference(&want.peers) {
        nl.delete_fdb_if_exists(vxlan, zero, Some(*dst))?;
        c.removed += 1;
    }

    for dst in want.peers.difference(&flood) {
        nl.add_fdb(vxlan, zero, Some(*dst), NeighMode::Append)?;
        c.added += 1;
    }
    for (mac, dst) in &want_macs {
        if macs.get(mac) != Some(dst) {
            nl.add_fdb(vxlan, *mac, Some(*dst), NeighMode::Replace)?;
            c.added += 1;
        }
    }
    for (ip, mac) in &want_neigh {
        if neigh.get(ip) != Some(mac) {
            nl.add_neighbour(vxlan, *ip, *mac, NeighMode::Replace)?;
            c.added += 1;
        }
    }
    Ok(c)
}
