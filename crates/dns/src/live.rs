//! What the resolver process serves, kept as the spec plus the journal's
//! changes, and its compiled [`Records`] changed with each journal line
//! rather than compiled whole again: a `sync` after one connect costs one
//! entry's names and addresses, with 10 endpoints as with 1000.
//!
//! It serves exactly what [`Spec::table`] of the same spec (the journal's
//! changes applied with [`Spec::apply`]) compiles to, order included: in
//! a network, an entry replaces an earlier one of the same name (ASCII
//! case ignored) and goes after the others (the table's order); removing
//! the later one brings the earlier back, in its own place; an entry with
//! a name that is not a DNS name is not served. Lists of entries (of a
//! name, of an address) are in (network, place in the spec) order. When
//! the set of networks with entries changes (a network's first entry or
//! its last: network indices and search domains change), everything is
//! compiled again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::records::{EntryIdx, NetIdx, Records};
use crate::spec::{Change, Spec, SpecEntry, entry_of, network_of};
use crate::table::{Entry, Network};

/// The spec's networks, by name (the table's order).
#[derive(Debug, Default)]
pub(crate) struct Live {
    nets: BTreeMap<String, LiveNet>,
    /// The records must be compiled whole ([`Live::build`]).
    stale: bool,
}

#[derive(Debug)]
struct LiveNet {
    /// The network as served (checked; no entries).
    network: Network,
    /// Its index in the records (`None`: not there, no entry).
    idx: Option<NetIdx>,
    /// The place of the next entry added.
    next: u64,
    /// The spec's entries, by place.
    slots: HashMap<u64, Slot>,
    /// (name, container) → places of the entries with them, ascending.
    exact: HashMap<(String, String), Vec<u64>>,
    /// Lowercase name → places of the valid entries of that name; the
    /// last is served.
    by_name: HashMap<String, BTreeSet<u64>>,
}

#[derive(Debug)]
struct Slot {
    entry: Entry,
    /// Its names are DNS names (else it is not served).
    valid: bool,
    /// Its index in the records, when served.
    served: Option<EntryIdx>,
}

impl Live {
    /// The spec, to serve. `None` when two of its networks have the same
    /// name (then only [`Spec::table`] says what is served).
    pub(crate) fn load(spec: &Spec) -> Option<Live> {
        let mut live = Live {
            nets: BTreeMap::new(),
            stale: true,
        };
        for n in &spec.networks {
            if live.nets.contains_key(&n.name) {
                return None;
            }
            let Some(network) = network_of(n) else {
                continue;
            };
            let mut net = LiveNet {
                network,
                idx: None,
                next: 0,
                slots: HashMap::new(),
                exact: HashMap::new(),
                by_name: HashMap::new(),
            };
            for e in &n.entries {
                net.add(e, None);
            }
            live.nets.insert(n.name.clone(), net);
        }
        Some(live)
    }

    /// Whether there is a name to serve.
    pub(crate) fn wanted(&self) -> bool {
        self.nets.values().any(|n| !n.slots.is_empty())
    }

    /// Apply a change, to `records` too (when given and not
    /// [`Live::stale`]). `false` (and nothing changed) when its network
    /// is not there, or the entry to remove is not.
    pub(crate) fn apply(&mut self, change: &Change, records: Option<&mut Records>) -> bool {
        let (Change::Add { network, .. } | Change::Remove { network, .. }) = change;
        let Some(net) = self.nets.get_mut(network) else {
            return false;
        };
        // A network appearing or going: everything again.
        let records = match (self.stale, net.idx) {
            (false, Some(_)) => records,
            _ => None,
        };
        match change {
            Change::Add { entry, .. } => {
                self.stale |= net.slots.is_empty();
                net.add(entry, records);
                true
            }
            Change::Remove { entry, .. } => {
                let applied = net.remove(entry, records);
                self.stale |= net.slots.is_empty();
                applied
            }
        }
    }

    /// Whether the records must be compiled whole ([`Live::build`]).
    pub(crate) fn stale(&self) -> bool {
        self.stale
    }

    /// Compile the records whole.
    pub(crate) fn build(&mut self, policy: crate::Policy) -> Records {
        let with_entries: Vec<&Network> = self
            .nets
            .values()
            .filter(|n| !n.slots.is_empty())
            .map(|n| &n.network)
            .collect();
        let mut records = Records::with_networks(with_entries, policy);
        let mut idx = 0;
        for net in self.nets.values_mut() {
            for slot in net.slots.values_mut() {
                slot.served = None;
            }
            if net.slots.is_empty() {
                net.idx = None;
                continue;
            }
            net.idx = Some(idx);
            let mut served: Vec<u64> = net
                .by_name
                .values()
                .filter_map(|s| s.last().copied())
                .collect();
            served.sort_unstable();
            for seq in served {
                net.serve(seq, &mut records);
            }
            idx += 1;
        }
        self.stale = false;
        records
    }
}

impl LiveNet {
    fn add(&mut self, e: &SpecEntry, records: Option<&mut Records>) {
        let seq = self.next;
        self.next += 1;
        let entry = entry_of(e);
        let valid = entry.check(&self.network.id, &self.network.domain).is_ok();
        self.exact
            .entry((e.name.clone(), e.container.clone()))
            .or_default()
            .push(seq);
        self.slots.insert(
            seq,
            Slot {
                entry,
                valid,
                served: None,
            },
        );
        if !valid {
            return;
        }
        let places = self.by_name.entry(e.name.to_ascii_lowercase()).or_default();
        let shadowed = places.last().copied();
        places.insert(seq);
        if let Some(records) = records {
            if let Some(old) = shadowed {
                self.unserve(old, records);
            }
            self.serve(seq, records);
        }
    }

    fn remove(&mut self, e: &SpecEntry, records: Option<&mut Records>) -> bool {
        let key = (e.name.clone(), e.container.clone());
        let Some(places) = self.exact.get_mut(&key) else {
            return false;
        };
        // The latest first: a name added again replaces the older.
        let Some(seq) = places.pop() else {
            return false;
        };
        if places.is_empty() {
            self.exact.remove(&key);
        }
        let Some(slot) = self.slots.remove(&seq) else {
            return true;
        };
        if !slot.valid {
            return true;
        }
        let lower = e.name.to_ascii_lowercase();
        let Some(places) = self.by_name.get_mut(&lower) else {
            return true;
        };
        let was_served = places.last() == Some(&seq);
        places.remove(&seq);
        let next = places.last().copied();
        if places.is_empty() {
            self.by_name.remove(&lower);
        }
        if let (true, Some(records)) = (was_served, records) {
            if let Some(idx) = slot.served {
                records.remove(idx);
            }
            if let Some(next) = next {
                self.serve(next, records);
            }
        }
        true
    }

    fn serve(&mut self, seq: u64, records: &mut Records) {
        let Some(idx) = self.idx else { return };
        if let Some(slot) = self.slots.get_mut(&seq) {
            slot.served = Some(records.insert(idx, seq, &slot.entry));
        }
    }

    fn unserve(&mut self, seq: u64, records: &mut Records) {
        if let Some(idx) = self.slots.get_mut(&seq).and_then(|s| s.served.take()) {
            records.remove(idx);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::spec::SpecNetwork;

    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    use proptest::prelude::*;

    use super::*;
    use crate::error::Proto;
    use crate::records::Policy;

    const NETS: [&str; 3] = ["n0", "n1", "n2"];
    const NAMES: [&str; 6] = ["a", "A", "b", "web", "bad name", "c"];
    const CONTAINERS: [&str; 3] = ["k1", "k2", "k3"];
    const ADDRS: [&str; 6] = [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "fd00::1",
        "::ffff:10.0.0.1",
        "10.0.1.9",
    ];
    const ALIASES: [&str; 3] = ["www", "a", "x"];

    fn entry() -> impl Strategy<Value = SpecEntry> {
        (
            0..NAMES.len(),
            0..CONTAINERS.len(),
            proptest::collection::vec(0..ADDRS.len(), 0..3),
            proptest::collection::vec(0..ALIASES.len(), 0..2),
        )
            .prop_map(|(n, c, addrs, aliases)| SpecEntry {
                name: NAMES[n].into(),
                container: CONTAINERS[c].into(),
                addrs: addrs.iter().map(|a| ADDRS[*a].parse().unwrap()).collect(),
                aliases: aliases.iter().map(|a| ALIASES[*a].into()).collect(),
            })
    }

    fn spec(entries: Vec<Vec<SpecEntry>>) -> Spec {
        let domains = [None, Some("Other.Test."), Some("bad..domain")];
        Spec {
            listen: vec![],
            networks: entries
                .into_iter()
                .enumerate()
                .map(|(i, entries)| SpecNetwork {
                    name: NETS[i].into(),
                    domain: domains[i].map(Into::into),
                    forward: i != 1,
                    entries,
                    upstreams: match i {
                        2 => vec!["192.0.2.53".parse().unwrap()],
                        _ => vec![],
                    },
                })
                .collect(),
        }
    }

    /// (add, network, entry, which of the network's entries to remove)
    type Op = (bool, usize, SpecEntry, Option<usize>);

    fn op() -> impl Strategy<Value = Op> {
        (
            any::<bool>(),
            0..NETS.len(),
            entry(),
            proptest::option::of(0..8usize),
        )
    }

    /// Every answer that could differ: each name (bare and qualified) and
    /// each address's reverse name, asked A and PTR from each address.
    fn answers(r: &Records) -> Vec<crate::Answer> {
        let mut out = Vec::new();
        let mut qnames: Vec<String> = NAMES
            .iter()
            .chain(&ALIASES)
            .flat_map(|n| {
                [
                    format!("{n}."),
                    format!("{n}.dns.brnet."),
                    format!("{n}.other.test."),
                    "nope.other.test.".into(),
                    "example.com.".into(),
                ]
            })
            .filter(|n| !n.contains(' '))
            .collect();
        for a in ADDRS {
            let ip: IpAddr = a.parse().unwrap();
            qnames.push(match ip.to_canonical() {
                IpAddr::V4(v4) => {
                    let o = v4.octets();
                    format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
                }
                IpAddr::V6(v6) => Name::from(v6).to_string(),
            });
        }
        for from in ADDRS.iter().chain(&["10.9.9.9"]) {
            let from: IpAddr = from.parse().unwrap();
            for q in &qnames {
                for t in [RecordType::A, RecordType::AAAA, RecordType::PTR] {
                    let mut m = Message::query();
                    m.metadata.id = 7;
                    m.add_query(Query::query(Name::from_ascii(q).unwrap(), t));
                    out.push(r.answer(from, &m.to_vec().unwrap(), Proto::Udp));
                }
            }
        }
        out
    }

    fn check(live: &mut Live, records: &mut Records, spec: &Spec) -> Result<(), TestCaseError> {
        if live.stale() {
            *records = live.build(Policy::default());
        }
        let whole = Records::new(&spec.table(), Policy::default());
        prop_assert_eq!(records.view(), whole.view());
        prop_assert_eq!(live.wanted(), spec.wanted());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Changes applied one by one serve what the spec with the same
        /// changes, compiled whole, serves: the same lookups in the same
        /// order, and the same answers to every question.
        #[test]
        fn changes_in_place_serve_what_a_whole_rebuild_serves(
            start in proptest::collection::vec(proptest::collection::vec(entry(), 0..4), 3),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let mut spec = spec(start);
            let mut live = Live::load(&spec).unwrap();
            let mut records = live.build(Policy::default());
            check(&mut live, &mut records, &spec)?;
            for (add, net, entry, pick) in ops {
                let network = NETS[net].to_owned();
                let change = match (add, pick) {
                    (true, _) => Change::Add { network, entry },
                    (false, Some(i)) if !spec.networks[net].entries.is_empty() => {
                        let entries = &spec.networks[net].entries;
                        Change::Remove { network, entry: entries[i % entries.len()].clone() }
                    }
                    (false, _) => Change::Remove { network, entry },
                };
                let in_spec = spec.apply(change.clone());
                prop_assert_eq!(live.apply(&change, Some(&mut records)), in_spec);
                check(&mut live, &mut records, &spec)?;
            }
            let whole = Records::new(&spec.table(), Policy::default());
            prop_assert!(answers(&records) == answers(&whole), "answers differ");
        }
    }

    /// A name added again on the same network replaces the older entry
    /// (ASCII case ignored); removing it brings the older one back, in
    /// its place; the entries' order is the table's.
    #[test]
    fn a_shadowed_entry_comes_back_in_its_place() {
        let e = |name: &str, c: &str, ip: &str| SpecEntry {
            name: name.into(),
            container: c.into(),
            addrs: vec![ip.parse().unwrap()],
            aliases: vec!["svc".into()],
        };
        let mut spec = spec(vec![
            vec![e("a", "k1", "10.0.0.1"), e("b", "k2", "10.0.0.2")],
            vec![],
            vec![],
        ]);
        let mut live = Live::load(&spec).unwrap();
        let mut records = live.build(Policy::default());
        let svc = |r: &Records| -> Vec<String> {
            r.names["svc"]
                .iter()
                .map(|i| r.entry(*i).unwrap().v4[0].to_string())
                .collect()
        };
        assert_eq!(svc(&records), ["10.0.0.1", "10.0.0.2"]);
        for change in [
            Change::Add {
                network: "n0".into(),
                entry: e("A", "k3", "10.0.0.3"),
            },
            Change::Remove {
                network: "n0".into(),
                entry: e("A", "k3", "10.0.0.3"),
            },
        ] {
            spec.apply(change.clone());
            assert!(live.apply(&change, Some(&mut records)));
            assert!(!live.stale());
            assert_eq!(
                records.view(),
                Records::new(&spec.table(), Policy::default()).view()
            );
            if matches!(change, Change::Add { .. }) {
                assert_eq!(svc(&records), ["10.0.0.2", "10.0.0.3"]);
            }
        }
        assert_eq!(svc(&records), ["10.0.0.1", "10.0.0.2"], "a back first");
    }
}
