//! A [`Table`] compiled into lookup maps: names to entries, addresses to
//! entries (for PTR), and askers' addresses to the networks their
//! containers are on. Immutable: the resolver swaps a whole new `Records`
//! in when the table changes.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_proto::rr::Name;

use crate::table::Table;

/// Index of a network in [`Records`].
pub(crate) type NetIdx = u32;
/// Index of an entry in [`Records`].
pub(crate) type EntryIdx = u32;

/// How [`Records`] answer: the TTL of local records and what to do with
/// askers the table does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// TTL of the A, AAAA and PTR records we answer, in seconds.
    pub ttl: u32,
    /// Whether queries for names that are not ours, from addresses that
    /// are no endpoint in the table (the host itself, a container on a
    /// network without DNS), are forwarded. When `false` they are answered
    /// REFUSED.
    pub forward_unknown_askers: bool,
}

impl Default for Policy {
    /// TTL 60 s, unknown askers forwarded.
    fn default() -> Self {
        Self {
            ttl: 60,
            forward_unknown_askers: true,
        }
    }
}

#[derive(Debug)]
pub(crate) struct NetInfo {
    pub(crate) forward: bool,
    /// The network's own upstreams (`None`: the resolver's).
    pub(crate) upstreams: Option<Arc<[SocketAddr]>>,
}

#[derive(Debug)]
pub(crate) struct EntryInfo {
    pub(crate) net: NetIdx,
    /// `name.domain.` as given (the PTR target).
    pub(crate) fqdn: Name,
    pub(crate) v4: Vec<Ipv4Addr>,
    pub(crate) v6: Vec<Ipv6Addr>,
}

/// The networks an asker's container is on, and the network of the
/// address it asked from (listed first in answers).
#[derive(Debug, Default)]
pub(crate) struct Asker {
    pub(crate) nets: Vec<NetIdx>,
    pub(crate) home: Vec<NetIdx>,
}

impl Asker {
    pub(crate) fn shares(&self, net: NetIdx) -> bool {
        self.nets.contains(&net)
    }
}

/// A [`Table`] compiled for answering: built once per change, shared by
/// every listener thread, never modified.
///
/// [`Records::answer`] is the whole query path without I/O: bytes in,
/// what to do out.
#[derive(Debug)]
pub struct Records {
    pub(crate) policy: Policy,
    pub(crate) networks: Vec<NetInfo>,
    pub(crate) entries: Vec<EntryInfo>,
    /// Lowercase name, bare and under its network's domain, without the
    /// trailing dot → entries.
    pub(crate) names: HashMap<Box<str>, Vec<EntryIdx>>,
    /// Address → entries that have it.
    pub(crate) reverse: HashMap<IpAddr, Vec<EntryIdx>>,
    /// Endpoint address → the networks of its container.
    pub(crate) askers: HashMap<IpAddr, Asker>,
    /// The distinct search domains (names under them are ours).
    pub(crate) domains: Vec<Name>,
}

impl Records {
    /// Compile a table.
    pub fn new(table: &Table, policy: Policy) -> Self {
        let mut records = Records {
            policy,
            networks: Vec::new(),
            entries: Vec::new(),
            names: HashMap::new(),
            reverse: HashMap::new(),
            askers: HashMap::new(),
            domains: Vec::new(),
        };
        // container key → networks it is on
        let mut containers: HashMap<&str, Vec<NetIdx>> = HashMap::new();
        let mut domains = HashSet::new();
        for (net_idx, net) in table.networks().enumerate() {
            let net_idx = to_idx(net_idx);
            records.networks.push(NetInfo {
                forward: net.forward,
                upstreams: (!net.upstreams.is_empty()).then(|| Arc::from(net.upstreams.as_slice())),
            });
            let domain = net.domain.to_ascii_lowercase();
            if domains.insert(domain.clone())
                && let Ok(name) = Name::from_ascii(format!("{domain}."))
            {
                records.domains.push(name);
            }
            for entry in &net.entries {
                let idx = to_idx(records.entries.len());
                let fqdn = Name::from_ascii(format!("{}.{}.", entry.name, net.domain))
                    .unwrap_or_else(|_| Name::root());
                let mut info = EntryInfo {
                    net: net_idx,
                    fqdn,
                    v4: Vec::new(),
                    v6: Vec::new(),
                };
                for addr in &entry.addrs {
                    match addr.to_canonical() {
                        IpAddr::V4(a) if !info.v4.contains(&a) => info.v4.push(a),
                        IpAddr::V6(a) if !info.v6.contains(&a) => info.v6.push(a),
                        _ => {}
                    }
                }
                records.entries.push(info);
                for name in std::iter::once(&entry.name).chain(&entry.aliases) {
                    let bare = name.to_ascii_lowercase();
                    let qualified = format!("{bare}.{domain}");
                    for key in [bare, qualified] {
                        let hits = records.names.entry(key.into_boxed_str()).or_default();
                        if !hits.contains(&idx) {
                            hits.push(idx);
                        }
                    }
                }
                for addr in &entry.addrs {
                    let hits = records.reverse.entry(addr.to_canonical()).or_default();
                    if !hits.contains(&idx) {
                        hits.push(idx);
                    }
                }
                let nets = containers.entry(entry.container_key()).or_default();
                if !nets.contains(&net_idx) {
                    nets.push(net_idx);
                }
            }
        }
        for (net_idx, net) in table.networks().enumerate() {
            let net_idx = to_idx(net_idx);
            for entry in &net.entries {
                let nets = containers
                    .get(entry.container_key())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for addr in &entry.addrs {
                    let asker = records.askers.entry(addr.to_canonical()).or_default();
                    for n in nets {
                        if !asker.nets.contains(n) {
                            asker.nets.push(*n);
                        }
                    }
                    if !asker.home.contains(&net_idx) {
                        asker.home.push(net_idx);
                    }
                }
            }
        }
        records
    }

    /// An empty set of records: every name is forwarded (or refused).
    pub fn empty(policy: Policy) -> Self {
        Self::new(&Table::new(), policy)
    }

    /// The policy these records answer with.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// How many entries (endpoints) there are, over all networks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn asker(&self, addr: IpAddr) -> Option<&Asker> {
        self.askers.get(&addr.to_canonical())
    }

    /// The entries of `key` (lowercase, no trailing dot) on networks the
    /// asker shares, those on the asker's own network first.
    pub(crate) fn lookup(&self, key: &str, asker: &Asker) -> Vec<&EntryInfo> {
        let Some(hits) = self.names.get(key) else {
            return Vec::new();
        };
        let mut found: Vec<&EntryInfo> = hits
            .iter()
            .filter_map(|i| self.entries.get(*i as usize))
            .filter(|e| asker.shares(e.net))
            .collect();
        found.sort_by_key(|e| !asker.home.contains(&e.net));
        found
    }

    /// The entries that have `addr`, and whether any does (shared or not).
    pub(crate) fn reverse(&self, addr: IpAddr, asker: Option<&Asker>) -> Option<Vec<&EntryInfo>> {
        let hits = self.reverse.get(&addr.to_canonical())?;
        Some(
            hits.iter()
                .filter_map(|i| self.entries.get(*i as usize))
                .filter(|e| asker.is_some_and(|a| a.shares(e.net)))
                .collect(),
        )
    }

    /// Whether a name that is not found is still ours to answer (NXDOMAIN)
    /// rather than to forward: single-label names, and names at or under
    /// a network's domain.
    pub(crate) fn is_ours(&self, name: &Name) -> bool {
        name.num_labels() == 1 || self.domains.iter().any(|d| d.zone_of(name))
    }

    /// Whether `name` is exactly one of our domains (it exists, with no
    /// record of its own: NODATA rather than NXDOMAIN).
    pub(crate) fn is_domain(&self, name: &Name) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_root(name))
    }

    /// Where an asker's other queries go: the upstreams of the first of its
    /// networks that has its own (the network it asked from first), else
    /// `None`, the resolver's.
    pub(crate) fn upstreams(&self, asker: Option<&Asker>) -> Option<Arc<[SocketAddr]>> {
        let a = asker?;
        a.home
            .iter()
            .chain(&a.nets)
            .filter_map(|n| self.networks.get(*n as usize))
            .filter(|n| n.forward)
            .find_map(|n| n.upstreams.clone())
    }

    /// Whether an asker's other queries may go upstream.
    pub(crate) fn may_forward(&self, asker: Option<&Asker>) -> bool {
        match asker {
            None => self.policy.forward_unknown_askers,
            Some(a) => a
                .nets
                .iter()
                .any(|n| self.networks.get(*n as usize).is_some_and(|n| n.forward)),
        }
    }
}

fn to_idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Entry, Network};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table() -> Table {
        let mut t = Table::new();
        t.insert(
            Network::new("n1")
                .entry(Entry::new("Web", [ip("10.89.0.2"), ip("fd00::2")]).alias("www"))
                .entry(Entry::new("db", [ip("10.89.0.3")]).container("ns-db")),
        )
        .unwrap();
        t.insert(
            Network::new("n2")
                .domain("other.test")
                .forward(false)
                .entry(Entry::new("db", [ip("10.89.1.3")]).container("ns-db"))
                .entry(Entry::new("lonely", [ip("10.89.1.4")])),
        )
        .unwrap();
        t
    }

    #[test]
    fn names_bare_and_qualified_lowercase() {
        let r = Records::new(&table(), Policy::default());
        let mut keys: Vec<&str> = r.names.keys().map(|k| &**k).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "db",
                "db.dns.brnet",
                "db.other.test",
                "lonely",
                "lonely.other.test",
                "web",
                "web.dns.brnet",
                "www",
                "www.dns.brnet"
            ]
        );
        assert_eq!(r.entries[0].fqdn.to_string(), "Web.dns.brnet.");
    }

    #[test]
    fn asker_sees_every_network_of_its_container() {
        let r = Records::new(&table(), Policy::default());
        let db1 = r.asker(ip("10.89.0.3")).unwrap();
        assert_eq!(db1.nets, vec![0, 1]);
        assert_eq!(db1.home, vec![0]);
        let web = r.asker(ip("10.89.0.2")).unwrap();
        assert_eq!(web.nets, vec![0]);
        assert!(r.lookup("lonely", web).is_empty());
        assert_eq!(r.lookup("lonely", db1).len(), 1);
        // db from db's n2 address: its n2 entry first
        let db2 = r.asker(ip("10.89.1.3")).unwrap();
        let found = r.lookup("db", db2);
        assert_eq!(found[0].v4, vec!["10.89.1.3".parse::<Ipv4Addr>().unwrap()]);
        assert_eq!(found.len(), 2);
        assert!(r.asker(ip("10.89.0.99")).is_none());
    }

    #[test]
    fn ours_and_forwarding() {
        let r = Records::new(&table(), Policy::default());
        let name = |s: &str| Name::from_ascii(s).unwrap();
        assert!(r.is_ours(&name("anything.")));
        assert!(r.is_ours(&name("x.DNS.brnet.")));
        assert!(r.is_ours(&name("dns.brnet.")));
        assert!(r.is_domain(&name("DNS.brnet.")));
        assert!(!r.is_ours(&name("example.test.")));
        assert!(!r.is_ours(&name("brnet.")) || name("brnet.").num_labels() == 1);
        let lonely = r.asker(ip("10.89.1.4"));
        assert!(!r.may_forward(lonely));
        assert!(r.may_forward(r.asker(ip("10.89.1.3"))));
        assert!(r.may_forward(None));
    }
}
