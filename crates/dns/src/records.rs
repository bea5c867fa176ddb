//! A [`Table`] compiled into lookup maps: names to entries, addresses to
//! entries (for PTR), and askers' addresses to the networks their
//! containers are on. The resolver swaps a whole new `Records` in when
//! the table changes; its process (`dns serve`) changes them entry by
//! entry as its journal says (crate::live), in place when no query holds
//! them.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_proto::rr::Name;

use crate::table::{Entry, Network, Table};

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

#[derive(Debug, Clone)]
pub(crate) struct NetInfo {
    pub(crate) forward: bool,
    /// The network's own upstreams (`None`: the resolver's).
    pub(crate) upstreams: Option<Arc<[SocketAddr]>>,
    /// Its search domain, as checked (case kept: the PTR targets').
    pub(crate) domain: String,
}

#[derive(Debug, Clone)]
pub(crate) struct EntryInfo {
    pub(crate) net: NetIdx,
    /// `name.domain.` as given (the PTR target).
    pub(crate) fqdn: Name,
    pub(crate) v4: Vec<Ipv4Addr>,
    pub(crate) v6: Vec<Ipv6Addr>,
    /// Its place among its network's entries: lists of entries (a name's,
    /// an address's) are in (network, place) order, the table's.
    pub(crate) seq: u64,
    /// Its keys in [`Records::names`], distinct.
    keys: Vec<Box<str>>,
    /// Its addresses, canonical, distinct (its keys in
    /// [`Records::reverse`] and [`Records::askers`]).
    addrs: Vec<IpAddr>,
    /// Its container key.
    container: Box<str>,
}

impl EntryInfo {
    fn order(&self) -> (NetIdx, u64) {
        (self.net, self.seq)
    }
}

/// The networks an asker's container is on, and the network of the
/// address it asked from (listed first in answers).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Asker {
    pub(crate) nets: Vec<NetIdx>,
    pub(crate) home: Vec<NetIdx>,
}

impl Asker {
    pub(crate) fn shares(&self, net: NetIdx) -> bool {
        self.nets.contains(&net)
    }
}

/// A [`Table`] compiled for answering, shared by every listener thread.
/// A change to one entry (`Records::insert`, `Records::remove`)
/// touches only the lookups of that entry (and of its container's other
/// entries when the set of networks of its container changes): the
/// resolver process applies its journal to it line by line instead of
/// compiling every entry again.
///
/// [`Records::answer`] is the whole query path without I/O: bytes in,
/// what to do out.
#[derive(Debug, Clone)]
pub struct Records {
    pub(crate) policy: Policy,
    pub(crate) networks: Vec<NetInfo>,
    /// By [`EntryIdx`]; `None`: a free slot (in `free`).
    pub(crate) entries: Vec<Option<EntryInfo>>,
    free: Vec<EntryIdx>,
    live: usize,
    /// Lowercase name, bare and under its network's domain, without the
    /// trailing dot → entries, in (network, place) order.
    pub(crate) names: HashMap<Box<str>, Vec<EntryIdx>>,
    /// Address → entries that have it, in (network, place) order.
    pub(crate) reverse: HashMap<IpAddr, Vec<EntryIdx>>,
    /// Endpoint address → the networks of its container.
    pub(crate) askers: HashMap<IpAddr, Asker>,
    /// The distinct search domains (names under them are ours).
    pub(crate) domains: Vec<Name>,
    /// Container key → its entries.
    containers: HashMap<Box<str>, Container>,
}

/// A container's entries, and how many of them are on each network.
#[derive(Debug, Clone, Default)]
struct Container {
    entries: HashSet<EntryIdx>,
    nets: std::collections::BTreeMap<NetIdx, u32>,
}

impl Records {
    /// Compile a table.
    pub fn new(table: &Table, policy: Policy) -> Self {
        let mut records = Records::with_networks(table.networks(), policy);
        for (net_idx, net) in table.networks().enumerate() {
            for (place, entry) in net.entries.iter().enumerate() {
                records.insert(to_idx(net_idx), place as u64, entry);
            }
        }
        records
    }

    /// Records of these networks (indices in this order), no entry yet.
    /// Their entries are not read.
    pub(crate) fn with_networks<'a>(
        networks: impl IntoIterator<Item = &'a Network>,
        policy: Policy,
    ) -> Self {
        let mut records = Records {
            policy,
            networks: Vec::new(),
            entries: Vec::new(),
            free: Vec::new(),
            live: 0,
            names: HashMap::new(),
            reverse: HashMap::new(),
            askers: HashMap::new(),
            domains: Vec::new(),
            containers: HashMap::new(),
        };
        let mut domains = HashSet::new();
        for net in networks {
            records.networks.push(NetInfo {
                forward: net.forward,
                upstreams: (!net.upstreams.is_empty()).then(|| Arc::from(net.upstreams.as_slice())),
                domain: net.domain.clone(),
            });
            let domain = net.domain.to_ascii_lowercase();
            if domains.insert(domain.clone())
                && let Ok(name) = Name::from_ascii(format!("{domain}."))
            {
                records.domains.push(name);
            }
        }
        records
    }

    /// Add an entry (checked already) to network `net`, at place `seq`
    /// among its entries (lists of entries follow that order: an entry
    /// added at the end of the table gets a larger one than every other
    /// entry of its network). Returns its index, for [`Records::remove`].
    /// Costs the entry's names and addresses, not the number of entries.
    pub(crate) fn insert(&mut self, net: NetIdx, seq: u64, entry: &Entry) -> EntryIdx {
        let (domain, qualified_under) = match self.networks.get(net as usize) {
            Some(n) => (n.domain.as_str(), n.domain.to_ascii_lowercase()),
            None => ("", String::new()),
        };
        let fqdn = Name::from_ascii(format!("{}.{}.", entry.name, domain))
            .unwrap_or_else(|_| Name::root());
        let mut info = EntryInfo {
            net,
            fqdn,
            v4: Vec::new(),
            v6: Vec::new(),
            seq,
            keys: Vec::new(),
            addrs: Vec::new(),
            container: entry.container_key().into(),
        };
        for addr in &entry.addrs {
            let addr = addr.to_canonical();
            match addr {
                IpAddr::V4(a) if !info.v4.contains(&a) => info.v4.push(a),
                IpAddr::V6(a) if !info.v6.contains(&a) => info.v6.push(a),
                _ => {}
            }
            if !info.addrs.contains(&addr) {
                info.addrs.push(addr);
            }
        }
        for name in std::iter::once(&entry.name).chain(&entry.aliases) {
            let bare = name.to_ascii_lowercase();
            let qualified = format!("{bare}.{qualified_under}");
            for key in [bare, qualified] {
                if !info.keys.iter().any(|k| **k == *key) {
                    info.keys.push(key.into_boxed_str());
                }
            }
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(None);
                to_idx(self.entries.len() - 1)
            }
        };
        let order = info.order();
        for key in &info.keys {
            let hits = self.names.entry(key.clone()).or_default();
            place(&self.entries, hits, idx, order);
        }
        for addr in &info.addrs {
            let hits = self.reverse.entry(*addr).or_default();
            place(&self.entries, hits, idx, order);
        }
        let container = info.container.clone();
        let mut affected = info.addrs.clone();
        self.entries[idx as usize] = Some(info);
        self.live += 1;
        let c = self.containers.entry(container.clone()).or_default();
        c.entries.insert(idx);
        let count = c.nets.entry(net).or_default();
        *count += 1;
        // A network new to the container: every address of it asks
        // from one more network.
        if *count == 1 {
            affected.extend(self.addrs_of(&container));
        }
        for addr in affected {
            self.refresh_asker(addr);
        }
        idx
    }

    /// Remove the entry [`Records::insert`] returned `idx` for. Costs
    /// its names and addresses, not the number of entries.
    pub(crate) fn remove(&mut self, idx: EntryIdx) {
        let Some(info) = self.entries.get_mut(idx as usize).and_then(Option::take) else {
            return;
        };
        self.free.push(idx);
        self.live -= 1;
        for key in &info.keys {
            if let Some(hits) = self.names.get_mut(key) {
                hits.retain(|h| *h != idx);
                if hits.is_empty() {
                    self.names.remove(key);
                }
            }
        }
        for addr in &info.addrs {
            if let Some(hits) = self.reverse.get_mut(addr) {
                hits.retain(|h| *h != idx);
                if hits.is_empty() {
                    self.reverse.remove(addr);
                }
            }
        }
        let mut affected = info.addrs;
        let mut net_gone = false;
        if let Some(c) = self.containers.get_mut(&info.container) {
            c.entries.remove(&idx);
            if let Some(count) = c.nets.get_mut(&info.net) {
                *count -= 1;
                if *count == 0 {
                    c.nets.remove(&info.net);
                    net_gone = true;
                }
            }
            if c.entries.is_empty() {
                self.containers.remove(&info.container);
            }
        }
        if net_gone {
            affected.extend(self.addrs_of(&info.container));
        }
        for addr in affected {
            self.refresh_asker(addr);
        }
    }

    /// The networks a container's entries are on, ascending.
    fn nets_of(&self, container: &str) -> impl Iterator<Item = NetIdx> + '_ {
        self.containers
            .get(container)
            .into_iter()
            .flat_map(|c| c.nets.keys().copied())
    }

    /// The addresses of a container's entries.
    fn addrs_of(&self, container: &str) -> Vec<IpAddr> {
        self.containers
            .get(container)
            .into_iter()
            .flat_map(|c| &c.entries)
            .filter_map(|i| self.entry(*i))
            .flat_map(|e| e.addrs.iter().copied())
            .collect()
    }

    /// Compute the asker of `addr` again from the entries that have it,
    /// in their order: its networks are those of their containers (each
    /// container's ascending), its home those of the entries.
    fn refresh_asker(&mut self, addr: IpAddr) {
        let Some(hits) = self.reverse.get(&addr) else {
            self.askers.remove(&addr);
            return;
        };
        let mut asker = Asker::default();
        for e in hits.iter().filter_map(|i| self.entry(*i)) {
            for n in self.nets_of(&e.container) {
                if !asker.nets.contains(&n) {
                    asker.nets.push(n);
                }
            }
            if !asker.home.contains(&e.net) {
                asker.home.push(e.net);
            }
        }
        self.askers.insert(addr, asker);
    }

    pub(crate) fn entry(&self, idx: EntryIdx) -> Option<&EntryInfo> {
        self.entries.get(idx as usize).and_then(Option::as_ref)
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
        self.live
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.live == 0
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
            .filter_map(|i| self.entry(*i))
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
                .filter_map(|i| self.entry(*i))
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

/// Put `idx` (at `order`) in its place in `hits`, sorted by order.
fn place(
    entries: &[Option<EntryInfo>],
    hits: &mut Vec<EntryIdx>,
    idx: EntryIdx,
    order: (NetIdx, u64),
) {
    let at = hits.partition_point(|h| {
        entries
            .get(*h as usize)
            .and_then(Option::as_ref)
            .is_some_and(|e| e.order() < order)
    });
    if hits.get(at) != Some(&idx) {
        hits.insert(at, idx);
    }
}

fn to_idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

#[cfg(test)]
impl Records {
    /// What answers are made of, without entry indices (which differ
    /// between records built whole and changed in place): each name's
    /// and address's entries in order, each asker's networks.
    pub(crate) fn view(&self) -> String {
        use std::collections::BTreeMap;
        use std::fmt::Write;
        let show = |hits: &[EntryIdx]| -> Vec<String> {
            hits.iter()
                .map(|i| match self.entry(*i) {
                    Some(e) => format!("{}:{}:{:?}:{:?}", e.net, e.fqdn, e.v4, e.v6),
                    None => format!("dangling {i}"),
                })
                .collect()
        };
        let mut out = String::new();
        let names: BTreeMap<_, _> = self.names.iter().map(|(k, v)| (k, show(v))).collect();
        let reverse: BTreeMap<_, _> = self.reverse.iter().map(|(k, v)| (k, show(v))).collect();
        let askers: BTreeMap<_, _> = self.askers.iter().collect();
        let mut domains: Vec<String> = self.domains.iter().map(ToString::to_string).collect();
        domains.sort();
        let nets: Vec<_> = self
            .networks
            .iter()
            .map(|n| {
                (
                    n.forward,
                    n.upstreams.clone(),
                    n.domain.to_ascii_lowercase(),
                )
            })
            .collect();
        let _ = write!(
            out,
            "len {}\nnets {nets:?}\ndomains {domains:?}\nnames {names:#?}\nreverse {reverse:#?}\naskers {askers:?}",
            self.len()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            r.entries[0].as_ref().unwrap().fqdn.to_string(),
            "Web.dns.brnet."
        );
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
