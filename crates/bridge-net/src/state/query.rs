//! The state in memory and the questions asked of it: networks by name or
//! id, endpoints of a network, and how each recorded change ([`Op`])
//! transforms it (replay and live changes alike).

use std::collections::BTreeMap;
use std::net::IpAddr;

use brnet_ipam::Pool;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::lazy::{Endpoints, Entry};
use super::records::{EndpointRecord, Intent, NetworkRecord, Op, SandboxRecord};

/// A network in memory: its record and its address pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    /// The record.
    pub rec: NetworkRecord,
    /// IPv4 pool (none on an IPv6-only network, or one without addresses).
    pub pool4: Option<Pool>,
    /// IPv6 pool, on networks with IPv6.
    pub pool6: Option<Pool>,
}

impl Net {
    /// Build the pools a record describes (subnets filled in).
    pub fn new(rec: NetworkRecord) -> std::result::Result<Net, String> {
        let pool = |cfg: &crate::options::IpamConfig| -> std::result::Result<Pool, String> {
            let subnet = cfg
                .subnet
                .ok_or_else(|| format!("network {:?} has no subnet", rec.name))?;
            let mut b = Pool::builder(subnet).order(rec.options.order);
            if let Some(gw) = cfg.gateway {
                b = b.gateway(gw);
            }
            if let Some(r) = cfg.ip_range {
                b = b.range(r);
            }
            let mut p = b.build().map_err(|e| e.to_string())?;
            for a in cfg.aux_addresses.values() {
                if p.contains(*a) {
                    p.reserve(*a).map_err(|e| e.to_string())?;
                }
            }
            Ok(p)
        };
        let pool4 = if rec.options.enable_ipv4 {
            Some(pool(&rec.options.ipv4)?)
        } else {
            None
        };
        let pool6 = rec.options.ipv6.as_ref().map(pool).transpose()?;
        Ok(Net { rec, pool4, pool6 })
    }

    /// The IPv4 subnet.
    pub fn subnet4(&self) -> Option<Ipv4Net> {
        self.pool4.as_ref().and_then(|p| match p.subnet() {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        })
    }

    /// The IPv4 gateway.
    pub fn gateway4(&self) -> Option<std::net::IpAddr> {
        self.pool4.as_ref().map(Pool::gateway)
    }

    /// The IPv6 gateway.
    pub fn gateway6(&self) -> Option<std::net::IpAddr> {
        self.pool6.as_ref().map(Pool::gateway)
    }

    /// The subnets, IPv4 first.
    pub fn subnets(&self) -> Vec<IpNet> {
        self.subnet4()
            .map(IpNet::V4)
            .into_iter()
            .chain(self.subnet6().map(IpNet::V6))
            .collect()
    }

    /// The gateway addresses with their subnets' prefixes (the bridge's
    /// addresses), IPv4 first.
    pub fn gateway_cidrs(&self) -> Vec<IpNet> {
        [&self.pool4, &self.pool6]
            .into_iter()
            .flatten()
            .filter_map(|p| IpNet::new(p.gateway(), p.subnet().prefix_len()).ok())
            .collect()
    }

    /// The IPv6 subnet.
    pub fn subnet6(&self) -> Option<Ipv6Net> {
        self.pool6.as_ref().and_then(|p| match p.subnet() {
            IpNet::V6(n) => Some(n),
            IpNet::V4(_) => None,
        })
    }
}

/// The whole state in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Networks, in creation order.
    pub networks: Vec<Net>,
    /// Endpoints by id (decoded when first asked for: ask by keys where
    /// you can, see [`Endpoints::matching`]).
    pub endpoints: Endpoints,
    /// Containers in host/none/container modes, by id.
    pub sandboxes: BTreeMap<String, SandboxRecord>,
    /// Operations begun and not ended.
    pub intents: BTreeMap<String, Intent>,
}

impl State {
    /// The network called `name` (or with that id, or id prefix of 12+).
    pub fn network(&self, name: &str) -> Option<&Net> {
        self.networks
            .iter()
            .find(|n| n.rec.name == name)
            .or_else(|| {
                (name.len() >= 12)
                    .then(|| self.networks.iter().find(|n| n.rec.id.starts_with(name)))
                    .flatten()
            })
    }

    /// The network with id `id`, mutably.
    pub fn network_by_id_mut(&mut self, id: &str) -> Option<&mut Net> {
        self.networks.iter_mut().find(|n| n.rec.id == id)
    }

    /// The network with id `id`.
    pub fn network_by_id(&self, id: &str) -> Option<&Net> {
        self.networks.iter().find(|n| n.rec.id == id)
    }

    /// Endpoints of network `id`.
    pub fn endpoints_of<'a>(
        &'a self,
        id: &'a str,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints.matching(move |k| k.network == id)
    }

    /// How many endpoints network `id` has (none decoded, no keys read:
    /// each endpoint's network is known from its load).
    pub fn endpoint_count(&self, id: &str) -> usize {
        self.endpoints.networks().filter(|n| *n == id).count()
    }

    /// The endpoints recorded in the namespace at `path` (detached ones
    /// never: their path is empty), whichever namespace is there now.
    pub fn endpoints_at<'a>(
        &'a self,
        path: &'a std::path::Path,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints
            .matching_netns(move |k| !k.is_detached() && super::lazy::same_netns(k.netns, path))
    }

    /// Apply one record, live or replayed: the journal is the only writer
    /// of the state, so replay reproduces the live state exactly (a dynamic
    /// address is allocated again, and comes out the same: the plan took
    /// the pool's next).
    pub(crate) fn apply(&mut self, op: Op) -> std::result::Result<(), String> {
        match op {
            Op::Network { network } => {
                if self.networks.iter().any(|n| n.rec.name == network.name) {
                    return Err(format!("network {:?} recorded twice", network.name));
                }
                self.intents.remove(&network.id);
                self.networks.push(Net::new(network)?);
            }
            Op::UpdateNetwork { network } => {
                let net = self
                    .network_by_id_mut(&network.id)
                    .ok_or_else(|| format!("update of unknown network {}", network.id))?;
                let (old, new) = (&net.rec, &network);
                if (&old.name, &old.bridge, &old.options.ipv4, &old.options.ipv6)
                    != (&new.name, &new.bridge, &new.options.ipv4, &new.options.ipv6)
                {
                    return Err(format!(
                        "update of network {:?} changes its name, bridge or addresses",
                        old.name
                    ));
                }
                net.rec = network;
            }
            Op::RemoveNetwork { id } => {
                let before = self.networks.len();
                self.networks.retain(|n| n.rec.id != id);
                if self.networks.len() == before {
                    return Err(format!("removal of unknown network {id}"));
                }
                self.intents.remove(&id);
            }
            Op::Connect { endpoint } => self.connect(Entry::Owned(Box::new(endpoint)))?,
            Op::Update { endpoint } => self.update(Entry::Owned(Box::new(endpoint)))?,
            Op::Disconnect { id } => {
                let keys = self
                    .endpoints
                    .keys_of(&id)
                    .ok_or_else(|| format!("disconnect of unknown endpoint {id}"))?;
                let (network, v4, v6) = (keys.network.to_owned(), keys.ipv4, keys.ipv6);
                self.endpoints.remove(&id);
                self.intents.remove(&id);
                release_addrs(self, &network, v4, v6).map_err(|e| e.to_string())?;
            }
            Op::Sandbox { sandbox } => {
                self.sandboxes.insert(sandbox.id.clone(), sandbox);
            }
            Op::RemoveSandbox { id } => {
                self.sandboxes.remove(&id);
            }
            Op::Begin { intent } => {
                self.intents.insert(intent.id.clone(), intent);
            }
            Op::End { id } => {
                self.intents.remove(&id);
            }
        }
        Ok(())
    }
}

impl State {
    /// An endpoint connected (live, or replayed: its record may not be
    /// decoded).
    pub(super) fn connect(&mut self, entry: Entry) -> std::result::Result<(), String> {
        let k = entry.own_keys();
        let net = self
            .networks
            .iter_mut()
            .find(|n| n.rec.id == k.network)
            .ok_or_else(|| format!("endpoint on unknown network {}", k.network))?;
        if let Some(a) = k.ipv4 {
            let pool = net
                .pool4
                .as_mut()
                .ok_or_else(|| "IPv4 endpoint on a network without IPv4".to_owned())?;
            take(pool, IpAddr::V4(a.addr()), k.dynamic4)?;
        }
        if let Some(a) = k.ipv6 {
            let pool = net
                .pool6
                .as_mut()
                .ok_or_else(|| "IPv6 endpoint on an IPv4-only network".to_owned())?;
            take(pool, IpAddr::V6(a.addr()), k.dynamic6)?;
        }
        let id = k.id.to_owned();
        self.intents.remove(&id);
        self.endpoints.insert(entry);
        Ok(())
    }

    /// An endpoint's record changed, its network and addresses the same.
    pub(super) fn update(&mut self, entry: Entry) -> std::result::Result<(), String> {
        let k = entry.own_keys();
        let old = self
            .endpoints
            .keys_of(k.id)
            .ok_or_else(|| format!("update of unknown endpoint {}", k.id))?;
        if (old.network, old.ipv4, old.ipv6) != (k.network, k.ipv4, k.ipv6) {
            return Err(format!(
                "update of endpoint {} changes its network or addresses",
                k.id
            ));
        }
        self.endpoints.insert(entry);
        Ok(())
    }
}

/// Take `addr` from `pool` as replay does: a dynamic address by
/// allocating (so that the pool's cursor moves as it did live), a fixed one
/// by request.
fn take(pool: &mut Pool, addr: IpAddr, dynamic: bool) -> std::result::Result<(), String> {
    if dynamic {
        let got = pool.allocate().map_err(|e| e.to_string())?;
        if got == addr {
            return Ok(());
        }
        pool.release(got).map_err(|e| e.to_string())?;
    }
    pool.request(addr).map_err(|e| e.to_string())
}

/// Give an endpoint's addresses back to its network's pools.
pub fn release(
    state: &mut State,
    ep: &EndpointRecord,
) -> std::result::Result<(), brnet_ipam::Error> {
    release_addrs(state, &ep.network, ep.ipv4, ep.ipv6)
}

fn release_addrs(
    state: &mut State,
    network: &str,
    ipv4: Option<Ipv4Net>,
    ipv6: Option<Ipv6Net>,
) -> std::result::Result<(), brnet_ipam::Error> {
    if let Some(net) = state.network_by_id_mut(network) {
        if let (Some(a), Some(p)) = (ipv4, net.pool4.as_mut()) {
            p.release(IpAddr::V4(a.addr()))?;
        }
        if let (Some(a), Some(p)) = (ipv6, net.pool6.as_mut()) {
            p.release(IpAddr::V6(a.addr()))?;
        }
    }
    Ok(())
}
