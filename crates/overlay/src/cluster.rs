//! The cluster's records in the store, and the operations on them that
//! must be atomic across hosts.
//!
//! Keys, under a prefix (default [`DEFAULT_PREFIX`]):
//!
//! | key | value | lease |
//! |---|---|---|
//! | `networks/<name>` | [`NetworkRecord`] | none |
//! | `vnis/<vni>` | the network's name | none |
//! | `hosts/<vtep>` | [`HostRecord`] | the host's |
//! | `endpoints/<network>/<ip>` | [`EndpointRecord`] | none |
//!
//! **Addresses** are allocated sequentially from .2, as on a bridge
//! network (the address a user sees does not depend on which host the
//! container landed on, and a /24 is not cut into per-host blocks that
//! run out on a busy host while others sit idle). One key per address
//! makes allocation a compare-and-swap: "create `endpoints/N/10.0.9.2`
//! if absent" either wins or loses to another host, never both.
//!
//! **Liveness**: a host is alive while its `hosts/<vtep>` key, bound to
//! its lease, exists. Endpoint keys are not bound to the lease (a host
//! whose agent is not running yet must still be able to connect), but an
//! endpoint of a dead host counts for nothing: no other host programs it,
//! and its address is free again (taken over by compare-and-swap on its
//! revision) only once the lease has expired, and then last: addresses
//! never used come first, so a host cut off from the store that comes back
//! finds its endpoints' addresses still its own unless the subnet ran
//! full meanwhile.
//!
//! Everything read from the store is checked: a record that does not
//! parse is [`ClusterError::Garbage`] naming the key.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use brnet_netlink::MacAddr;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::dataplane::{PeerSet, RemoteEndpoint};
use crate::store::{Kv, LeaseId, Put, Revision, Store, StoreError, Watch};

/// Where the records live in the store, unless told otherwise.
pub const DEFAULT_PREFIX: &str = "/brnet/overlay/";
/// The first VNI chosen when none is given (Docker starts at 4096 too).
pub const FIRST_VNI: u32 = 4096;
/// The largest VNI.
pub const MAX_VNI: u32 = (1 << 24) - 1;
/// How often a compare-and-swap lost to another host is tried again.
const CAS_ATTEMPTS: usize = 64;

/// An overlay network, cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// Its name.
    pub name: String,
    /// Its id (64 hex digits, as bridge-net's).
    pub id: String,
    /// The subnet.
    pub subnet: IpNet,
    /// The gateway (the same on every host's bridge).
    pub gateway: IpAddr,
    /// The VNI.
    pub vni: u32,
}

/// A host: its VTEP and its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The VTEP (underlay) address; also the host's identity (hosts may
    /// share a hostname and a machine id).
    pub vtep: IpAddr,
    /// Its lease.
    pub lease: i64,
}

/// An endpoint: an address on a network, on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// Its address.
    pub ip: IpAddr,
    /// Its MAC.
    #[serde(with = "mac_text")]
    pub mac: MacAddr,
    /// Its host's VTEP.
    pub host: IpAddr,
    /// The container's name (for names across hosts), if any.
    #[serde(default)]
    pub name: Option<String>,
}

/// What a cluster operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The store failed or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A VNI past 24 bits (or 0).
    #[error("overlay network {network}: VNI {vni} is out of range (1..={MAX_VNI})")]
    VniOutOfRange {
        /// The network.
        network: String,
        /// The VNI asked for.
        vni: u32,
    },
    /// The VNI belongs to another network.
    #[error("overlay network {network}: VNI {vni} is in use by network {owner}")]
    VniInUse {
        /// The network.
        network: String,
        /// The VNI.
        vni: u32,
        /// The network that has it.
        owner: String,
    },
    /// The subnet overlaps another overlay network's.
    #[error("overlay network {network}: subnet {subnet} overlaps {other} of network {owner}")]
    Overlap {
        /// The network.
        network: String,
        /// Its subnet.
        subnet: IpNet,
        /// The other subnet.
        other: IpNet,
        /// The other network.
        owner: String,
    },
    /// A network of that name exists with other settings.
    #[error("overlay network {network} exists in the cluster store with other settings: {detail}")]
    Mismatch {
        /// The network.
        network: String,
        /// What differs.
        detail: String,
    },
    /// No such network in the store.
    #[error("overlay network {0} not found in the cluster store")]
    NotFound(String),
    /// Every address of the subnet is taken.
    #[error("overlay network {network}: no free address in {subnet}")]
    Exhausted {
        /// The network.
        network: String,
        /// Its subnet.
        subnet: IpNet,
    },
    /// The address asked for is taken (or not in the subnet).
    #[error("overlay network {network}: address {ip} is {why}")]
    AddressUnavailable {
        /// The network.
        network: String,
        /// The address.
        ip: IpAddr,
        /// Why.
        why: &'static str,
    },
    /// A record that does not parse.
    #[error("cluster store {store}: garbage at {key}: {detail}")]
    Garbage {
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The network still has live endpoints.
    #[error("overlay network {network} has {count} live endpoint(s)")]
    InUse {
        /// The network.
        network: String,
        /// How many.
        count: usize,
    },
}

/// Result of a cluster operation.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// The cluster's records in one store.
#[derive(Clone)]
pub struct Cluster {
    store: Arc<dyn Store>,
    prefix: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster({}{})", self.store.address(), self.prefix)
    }
}

/// Everything the store holds about the cluster, read at one revision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The store's revision.
    pub revision: Revision,
    /// Networks by name.
    pub networks: BTreeMap<String, NetworkRecord>,
    /// Live hosts by VTEP.
    pub hosts: BTreeMap<IpAddr, HostRecord>,
    /// Endpoints by network, live or not.
    pub endpoints: BTreeMap<String, Vec<EndpointRecord>>,
}

impl Snapshot {
    /// The live endpoints of `network` (their host is alive, or is
    /// `me`).
    pub fn live_endpoints(&self, network: &str, me: Option<IpAddr>) -> Vec<&EndpointRecord> {
        self.endpoints
            .get(network)
            .map(|eps| {
                eps.iter()
                    .filter(|e| Some(e.host) == me || self.hosts.contains_key(&e.host))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What host `me`'s device for `network` must know: every other live
    /// host with an endpoint on it, and those endpoints.
    pub fn peer_set(&self, network: &str, me: IpAddr) -> PeerSet {
        let mut set = PeerSet::default();
        for e in self.live_endpoints(network, None) {
            if e.host == me {
                continue;
            }
            set.peers.insert(e.host);
            set.endpoints.push(RemoteEndpoint {
                ip: e.ip,
                mac: e.mac,
                vtep: e.host,
            });
        }
        set
    }
}

impl Cluster {
    /// The records under [`DEFAULT_PREFIX`] in `store`.
    pub fn new(store: Arc<dyn Store>) -> Cluster {
        Cluster::with_prefix(store, DEFAULT_PREFIX)
    }

    /// The records under `prefix` (ending in `/`).
    pub fn with_prefix(store: Arc<dyn Store>, prefix: &str) -> Cluster {
        let mut prefix = prefix.to_string();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Cluster { store, prefix }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The prefix every key is under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, kv: &Kv) -> Result<T> {
        serde_json::from_str(&kv.value).map_err(|e| ClusterError::Garbage {
            store: self.store.address(),
            key: kv.key.clone(),
            detail: e.to_string(),
        })
    }

    /// Read everything at one revision. Garbage anywhere is an error
    /// naming the key.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let (kvs, revision) = self.store.list(&self.prefix)?;
        let mut s = Snapshot {
            revision,
            ..Snapshot::default()
        };
        for kv in &kvs {
            let rest = &kv.key[self.prefix.len()..];
            let mut parts = rest.splitn(3, '/');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("networks"), Some(name), None) => {
                    let n: NetworkRecord = self.parse(kv)?;
                    s.networks.insert(name.to_string(), n);
                }
                (Some("hosts"), Some(_), None) => {
                    let h: HostRecord = self.parse(kv)?;
                    s.hosts.insert(h.vtep, h);
                }
                (Some("endpoints"), Some(net), Some(_)) => {
                    let e: EndpointRecord = self.parse(kv)?;
                    s.endpoints.entry(net.to_string()).or_default().push(e);
                }
                (Some("vnis"), Some(vni), None) => {
                    if vni.parse::<u32>().is_err() {
                        return Err(ClusterError::Garbage {
                            store: self.store.address(),
                            key: kv.key.clone(),
                            detail: "not a VNI".into(),
                        });
                    }
                }
                _ => {
                    return Err(ClusterError::Garbage {
                        store: self.store.address(),
                        key: kv.key.clone(),
                        detail: "not a key bridge-net writes".into(),
                    });
                }
            }
        }
        Ok(s)
    }

    /// A long-lived watch of the cluster's records from revision `after
    /// + 1`, when the store has one (etcd); see [`Store::stream`].
    pub fn stream(&self, after: Revision) -> Option<Box<dyn Watch>> {
        self.store.stream(&self.prefix, after)
    }

    /// Wait for a change after `after` (or `timeout`).
    pub fn wait(&self, after: Revision, timeout: Duration) -> Result<bool> {
        Ok(self.store.wait(&self.prefix, after, timeout)?)
    }

    /// A network's record.
    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>> {
        match self.store.get(&self.key(&format!("networks/{name}")))? {
            Some(kv) => self.parse(&kv).map(Some),
            None => Ok(None),
        }
    }

    /// Create network `want` in the store (its VNI, when 0, chosen: the
    /// lowest free from [`FIRST_VNI`]). A network of the same name with the
    /// same subnet (and VNI, when one is asked) is joined, not an error:
    /// every host creates the network it connects to.
    pub fn create_network(&self, want: &NetworkRecord) -> Result<NetworkRecord> {
        let name = &want.name;
        if want.vni > MAX_VNI {
            return Err(ClusterError::VniOutOfRange {
                network: name.clone(),
                vni: want.vni,
            });
        }
        for _ in 0..CAS_ATTEMPTS {
            let snap = self.snapshot()?;
            if let Some(have) = snap.networks.get(name) {
                if have.subnet != want.subnet || (want.vni != 0 && have.vni != want.vni) {
                    return Err(ClusterError::Mismatch {
                        network: name.clone(),
                        detail: format!(
                            "it has subnet {} and VNI {}, asked {} and {}",
                            have.subnet,
                            have.vni,
                            want.subnet,
                            if want.vni == 0 {
                                "any".to_string()
                            } else {
                                want.vni.to_string()
                            }
                        ),
                    });
                }
                return Ok(have.clone());
            }
            for (owner, n) in &snap.networks {
                if n.subnet.contains(&want.subnet.network())
                    || want.subnet.contains(&n.subnet.network())
                {
                    return Err(ClusterError::Overlap {
                        network: name.clone(),
                        subnet: want.subnet,
                        other: n.subnet,
                        owner: owner.clone(),
                    });
                }
            }
            let used: BTreeMap<u32, &str> = snap
                .networks
                .values()
                .map(|n| (n.vni, n.name.as_str()))
                .collect();
            let vni = if want.vni != 0 {
                if let Some(owner) = used.get(&want.vni) {
                    return Err(ClusterError::VniInUse {
                        network: name.clone(),
                        vni: want.vni,
                        owner: owner.to_string(),
                    });
                }
                want.vni
            } else {
                (FIRST_VNI..=MAX_VNI)
                    .find(|v| !used.contains_key(v))
                    .expect("fewer networks than VNIs")
            };
            let vni_key = self.key(&format!("vnis/{vni}"));
            if !self.store.swap(
                None,
                Put {
                    key: &vni_key,
                    value: name,
                    lease: None,
                },
            )? {
                // A VNI taken meanwhile (or a stale reservation).
                if want.vni != 0 {
                    let owner = self
                        .store
                        .get(&vni_key)?
                        .map_or_else(String::new, |kv| kv.value);
                    if owner != *name {
                        return Err(ClusterError::VniInUse {
                            network: name.clone(),
                            vni,
                            owner,
                        });
                    }
                } else {
                    continue;
                }
            }
            let rec = NetworkRecord {
                vni,
                ..want.clone()
            };
            let key = self.key(&format!("networks/{name}"));
            if self.swap_record(&key, None, &rec, None)? {
                return Ok(rec);
            }
            // Another host created it meanwhile: give our VNI back, look again.
            let _ = self.store.delete(&vni_key);
        }
        Err(StoreError::Refused {
            store: self.store.address(),
            op: "create network",
            detail: format!("lost {CAS_ATTEMPTS} races in a row"),
        }
        .into())
    }

    /// Remove a network from the store (refused while a live endpoint is
    /// on it; dead hosts' endpoints go with it). Whether it was there.
    pub fn remove_network(&self, name: &str) -> Result<bool> {
        let snap = self.snapshot()?;
        let Some(n) = snap.networks.get(name) else {
            return Ok(false);
        };
        let live = snap.live_endpoints(name, None).len();
        if live > 0 {
            return Err(ClusterError::InUse {
                network: name.to_string(),
                count: live,
            });
        }
        for e in snap.endpoints.get(name).into_iter().flatten() {
            self.store
                .delete(&self.key(&format!("endpoints/{name}/{}", e.ip)))?;
        }
        self.store.delete(&self.key(&format!("networks/{name}")))?;
        self.store.delete(&self.key(&format!("vnis/{}", n.vni)))?;
        Ok(true)
    }

    /// Make host `vtep` alive: its key bound to a lease of `ttl` (the one
    /// it has, renewed, when it is still alive). Returns the lease.
    pub fn join(&self, vtep: IpAddr, ttl: Duration) -> Result<LeaseId> {
        let key = self.key(&format!("hosts/{vtep}"));
        for _ in 0..CAS_ATTEMPTS {
            let have = self.store.get(&key)?;
            if let Some(kv) = &have {
                let h: HostRecord = self.parse(kv)?;
                if self.store.keep_alive(LeaseId(h.lease))?.is_some() {
                    return Ok(LeaseId(h.lease));
                }
            }
            // Create (or take over a dead record) by compare-and-swap: two
            // joins of one host never leave the key on a lease nobody renews.
            let lease = self.store.grant(ttl)?;
            let rec = HostRecord {
                vtep,
                lease: lease.0,
            };
            if self.swap_record(&key, have.map(|kv| kv.mod_revision), &rec, Some(lease))? {
                return Ok(lease);
            }
            let _ = self.store.revoke(lease);
        }
        Err(StoreError::Refused {
            store: self.store.address(),
            op: "join",
            detail: format!("lost {CAS_ATTEMPTS} races in a row"),
        }
        .into())
    }

    /// Renew host `vtep`'s lease; `false` when it had expired (the host
    /// must [`Cluster::join`] again).
    pub fn keep_alive(&self, lease: LeaseId) -> Result<bool> {
        Ok(self.store.keep_alive(lease)?.is_some())
    }

    /// Leave: the host's key goes at once (its endpoints are dead to
    /// every other host).
    pub fn leave(&self, lease: LeaseId) -> Result<()> {
        Ok(self.store.revoke(lease)?)
    }

    /// Allocate an address on `network` for an endpoint on host `me`
    /// with MAC `mac(ip)`: `want` if given, else the lowest free from the
    /// subnet's second host address (.2). Atomic across hosts.
    pub fn allocate(
        &self,
        network: &NetworkRecord,
        me: IpAddr,
        want: Option<IpAddr>,
        name: Option<&str>,
        mac: impl Fn(IpAddr) -> MacAddr,
    ) -> Result<EndpointRecord> {
        let net = &network.name;
        if let Some(ip) = want
            && (!network.subnet.contains(&ip)
                || ip == network.gateway
                || ip == network.subnet.network()
                || ip == network.subnet.broadcast())
        {
            return Err(ClusterError::AddressUnavailable {
                network: net.clone(),
                ip,
                why: "not a host address of the subnet",
            });
        }
        for _ in 0..CAS_ATTEMPTS {
            let snap = self.snapshot()?;
            if !snap.networks.contains_key(net) {
                return Err(ClusterError::NotFound(net.clone()));
            }
            let taken: BTreeSet<IpAddr> = snap
                .live_endpoints(net, Some(me))
                .into_iter()
                .map(|e| e.ip)
                .collect();
            let stale: BTreeMap<IpAddr, ()> = snap
                .endpoints
                .get(net)
                .into_iter()
                .flatten()
                .filter(|e| !taken.contains(&e.ip))
                .map(|e| (e.ip, ()))
                .collect();
            let ip = match want {
                Some(ip) if taken.contains(&ip) => {
                    return Err(ClusterError::AddressUnavailable {
                        network: net.clone(),
                        ip,
                        why: "in use",
                    });
                }
                Some(ip) => ip,
                // Never-used addresses first: a dead host's are taken over
                // only when nothing else is left (a host cut off from the
                // store may still be using them, and comes back).
                None => match network
                    .subnet
                    .hosts()
                    .filter(|ip| *ip != network.gateway && !taken.contains(ip))
                    .min_by_key(|ip| stale.contains_key(ip))
                {
                    Some(ip) => ip,
                    None => {
                        return Err(ClusterError::Exhausted {
                            network: net.clone(),
                            subnet: network.subnet,
                        });
                    }
                },
            };
            let key = self.key(&format!("endpoints/{net}/{ip}"));
            let expected = if stale.contains_key(&ip) {
                self.store.get(&key)?.map(|kv| kv.mod_revision)
            } else {
                None
            };
            let rec = EndpointRecord {
                ip,
                mac: mac(ip),
                host: me,
                name: name.map(str::to_string),
            };
            if self.swap_record(&key, expected, &rec, None)? {
                return Ok(rec);
            }
        }
        Err(StoreError::Refused {
            store: self.store.address(),
            op: "allocate address",
            detail: format!("lost {CAS_ATTEMPTS} races in a row"),
        }
        .into())
    }

    /// Compare-and-swap record `rec` (as JSON) at `key`, on `lease`.
    fn swap_record(
        &self,
        key: &str,
        expected: Option<Revision>,
        rec: &impl Serialize,
        lease: Option<LeaseId>,
    ) -> Result<bool> {
        let value = serde_json::to_string(rec).expect("records serialise");
        let put = Put {
            key,
            value: &value,
            lease,
        };
        Ok(self.store.swap(expected, put)?)
    }

    /// Release `ip` on `network` if host `me` holds it; whether it did.
    pub fn release(&self, network: &str, ip: IpAddr, me: IpAddr) -> Result<bool> {
        let key = self.key(&format!("endpoints/{network}/{ip}"));
        match self.store.get(&key)? {
            Some(kv) => {
                let e: EndpointRecord = self.parse(&kv)?;
                if e.host != me {
                    return Ok(false);
                }
                Ok(self.store.delete(&key)?)
            }
            None => Ok(false),
        }
    }
}

/// A MAC as its text, `02:42:0a:00:09:02`.
mod mac_text {
    use brnet_netlink::MacAddr;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(m: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(m)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}
