//! Transactions as lists of operations on our table, computed from the
//! model (and, where needed, from what a dump found), then encoded either
//! as one netlink batch or as one `nft -f` script. Both encoders are pure.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use neli::consts::nl::NlmF;

use crate::error::Error;
use crate::netlink::consts::*;
use crate::netlink::msg::{self, Batch};
use crate::network::{Endpoint, Network};
use crate::readback::Installed;
use crate::ruleset::{self, ALL_NET_CHAINS, ALL_SETS, Chain, Element, Hook, NetChain, Rule, Set};
use crate::script;

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Create the table if missing.
    AddTable,
    /// Create a set if missing.
    AddSet(Set),
    /// Create a chain if missing (a base chain with its hook).
    AddChain(String, Option<Hook>),
    /// Remove every rule of a chain.
    FlushChain(String),
    /// Append a rule.
    AddRule(String, Rule),
    /// Add elements (no error if already there with the same value).
    AddElements(Set, Vec<Element>),
    /// Delete elements a dump just found.
    DelElements(Set, Vec<Element>),
    /// Delete elements that may or may not be there.
    DestroyElements(Set, Vec<Element>),
    /// Delete a chain (and its rules) if it exists.
    DestroyChain(String),
    /// Delete the table and everything in it, if it exists.
    DestroyTable,
    /// Delete a chain a dump just found.
    DelChain(String),
    /// Delete the table, which a dump just found.
    DelTable,
}

impl Op {
    /// A "delete if present" (`NFT_MSG_DESTROY*`, Linux 6.3+).
    pub(crate) fn is_destroy(&self) -> bool {
        matches!(
            self,
            Op::DestroyElements(..) | Op::DestroyChain(_) | Op::DestroyTable
        )
    }

    /// A removal of any kind.
    pub(crate) fn is_removal(&self) -> bool {
        self.is_destroy() || matches!(self, Op::DelElements(..) | Op::DelChain(_) | Op::DelTable)
    }
}

/// What a read-back found of our table: enough to turn every "delete if
/// present" of a plan into a delete of exactly what is there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Present {
    /// Whether the table exists.
    pub table: bool,
    /// Its chains.
    pub chains: BTreeSet<String>,
    /// The keys of the elements of each set that was read.
    pub keys: BTreeMap<Set, HashSet<Vec<u8>>>,
}

/// What [`Plan::resolve`] needs read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// The chains of the table.
    pub chains: bool,
    /// The elements of these sets.
    pub sets: BTreeSet<Set>,
}

/// A transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub ops: Vec<Op>,
}

/// Group elements by set, in set order.
pub(crate) fn by_set(elements: impl IntoIterator<Item = Element>) -> BTreeMap<Set, Vec<Element>> {
    let mut m: BTreeMap<Set, Vec<Element>> = BTreeMap::new();
    for e in elements {
        m.entry(e.set()).or_default().push(e);
    }
    m
}

impl Plan {
    fn elements(&mut self, kind: fn(Set, Vec<Element>) -> Op, elements: Vec<Element>) {
        for (set, elems) in by_set(elements) {
            self.ops.push(kind(set, elems));
        }
    }

    /// The table, its sets and its base chains, created if missing; the base
    /// chains' rules rewritten (they never hold anything per network).
    fn skeleton(&mut self) -> Vec<Chain> {
        self.ops.push(Op::AddTable);
        for s in ALL_SETS {
            self.ops.push(Op::AddSet(s));
        }
        let base = ruleset::base_chains();
        for c in &base {
            self.ops.push(Op::AddChain(c.name.clone(), c.hook));
        }
        base
    }

    fn rewrite(&mut self, chains: &[Chain]) {
        for c in chains {
            self.ops.push(Op::FlushChain(c.name.clone()));
            for r in &c.rules {
                self.ops.push(Op::AddRule(c.name.clone(), r.clone()));
            }
        }
    }

    /// Install or replace `net`: its chains rewritten, its dispatch entries,
    /// endpoints and ports made exactly the model's. `found` are the
    /// elements of this network a dump found (to delete the stale ones).
    pub(crate) fn install(net: &Network, endpoints: &[Endpoint], found: &[Element]) -> Plan {
        let mut plan = Plan::default();
        let base = plan.skeleton();
        let chains = ruleset::network_chains(net);
        for (_, c) in &chains {
            plan.ops.push(Op::AddChain(c.name.clone(), None));
        }
        let wanted_kinds: Vec<NetChain> = chains.iter().map(|(k, _)| *k).collect();
        let mut wanted = ruleset::dispatch_elements(net, &chains);
        for ep in endpoints {
            ruleset::endpoint_elements(net, ep, &mut wanted);
        }
        // Dispatch entries of chains the network no longer needs, then
        // stale elements, then those chains.
        let unwanted: Vec<NetChain> = ALL_NET_CHAINS
            .iter()
            .copied()
            .filter(|k| !wanted_kinds.contains(k))
            .collect();
        plan.elements(
            Op::DestroyElements,
            unwanted
                .iter()
                .filter(|k| k.dispatch().is_some())
                .map(|k| Element::Dispatch(*k, net.bridge().clone()))
                .collect(),
        );
        let wanted_set: std::collections::HashSet<&Element> = wanted.iter().collect();
        plan.elements(
            Op::DelElements,
            found
                .iter()
                .filter(|e| e.belongs_to(net) && !wanted_set.contains(e))
                .filter(|e| !matches!(e, Element::Dispatch(..) | Element::Bridge(_)))
                .cloned()
                .collect(),
        );
        for k in unwanted {
            plan.ops.push(Op::DestroyChain(k.name(net.bridge())));
        }
        plan.rewrite(&base);
        let net_chains: Vec<Chain> = chains.into_iter().map(|(_, c)| c).collect();
        plan.rewrite(&net_chains);
        plan.elements(Op::AddElements, wanted);
        plan
    }

    /// Remove `net`: its elements (dispatch entries by key, the rest from
    /// `found`), then its chains. When `last`, the whole table goes.
    pub(crate) fn remove(net: &Network, found: &[Element], last: bool) -> Plan {
        let mut plan = Plan::default();
        if last {
            plan.ops.push(Op::DestroyTable);
            return plan;
        }
        let br = net.bridge();
        let mut gone = vec![Element::Bridge(br.clone())];
        gone.extend(
            ALL_NET_CHAINS
                .iter()
                .filter(|k| k.dispatch().is_some())
                .map(|k| Element::Dispatch(*k, br.clone())),
        );
        plan.elements(Op::DestroyElements, gone);
        plan.elements(
            Op::DelElements,
            found
                .iter()
                .filter(|e| e.belongs_to(net))
                .filter(|e| !matches!(e, Element::Dispatch(..) | Element::Bridge(_)))
                .cloned()
                .collect(),
        );
        for k in ALL_NET_CHAINS {
            plan.ops.push(Op::DestroyChain(k.name(br)));
        }
        plan
    }

    /// Add elements (one per port, endpoint address…).
    pub(crate) fn add(elements: Vec<Element>) -> Plan {
        let mut plan = Plan::default();
        plan.elements(Op::AddElements, elements);
        plan
    }

    /// Remove elements, whether or not they are there.
    pub(crate) fn destroy(elements: Vec<Element>) -> Plan {
        let mut plan = Plan::default();
        plan.elements(Op::DestroyElements, elements);
        plan
    }

    /// Whether the plan removes anything (whose freeing the kernel defers
    /// past an RCU grace period).
    pub(crate) fn releases(&self) -> bool {
        self.ops
            .iter()
            .any(|o| o.is_removal() || matches!(o, Op::FlushChain(_)))
    }

    /// Whether the plan has a `NFT_MSG_DESTROY*`.
    pub(crate) fn destroys(&self) -> bool {
        self.ops.iter().any(Op::is_destroy)
    }

    /// What must be read to [`resolve`](Plan::resolve) this plan (besides
    /// whether the table exists).
    pub(crate) fn needs(&self) -> Needs {
        let mut needs = Needs::default();
        for op in &self.ops {
            match op {
                Op::DestroyChain(_) => needs.chains = true,
                Op::DestroyElements(set, _) | Op::DelElements(set, _) => {
                    needs.sets.insert(*set);
                }
                _ => {}
            }
        }
        needs
    }

    /// This plan for a kernel without `NFT_MSG_DESTROY*` (before Linux
    /// 6.3), or for a table that may be gone: each "delete if present" and
    /// each delete becomes a delete of what `present` shows is there, and
    /// is dropped where nothing is. The rest is kept as it is.
    pub(crate) fn resolve(&self, present: &Present) -> Plan {
        let mut plan = Plan::default();
        for op in &self.ops {
            match op {
                Op::DestroyTable | Op::DelTable => {
                    if present.table {
                        plan.ops.push(Op::DelTable);
                    }
                }
                Op::DestroyChain(name) | Op::DelChain(name) => {
                    if present.chains.contains(name) {
                        plan.ops.push(Op::DelChain(name.clone()));
                    }
                }
                Op::DestroyElements(set, elems) | Op::DelElements(set, elems) => {
                    let Some(keys) = present.keys.get(set) else {
                        continue;
                    };
                    let mut seen = HashSet::new();
                    let there: Vec<Element> = elems
                        .iter()
                        .filter(|e| {
                            let k = msg::element_key(e);
                            keys.contains(&k) && seen.insert(k)
                        })
                        .cloned()
                        .collect();
                    if !there.is_empty() {
                        plan.ops.push(Op::DelElements(*set, there));
                    }
                }
                other => plan.ops.push(other.clone()),
            }
        }
        plan
    }

    /// Whether what the plan does holds in `installed`: the table, chains
    /// and rules it writes are there, what it adds is there with the same
    /// value, what it removes is not. How a transaction whose acks the
    /// kernel dropped is told to have gone through.
    pub(crate) fn holds(&self, installed: &Installed) -> bool {
        let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
        let key_there = |e: &Element| {
            let k = msg::element_key(e);
            installed
                .elements
                .iter()
                .any(|i| i.set() == e.set() && msg::element_key(i) == k)
        };
        for op in &self.ops {
            let ok = match op {
                Op::AddTable | Op::AddSet(_) => installed.exists,
                Op::AddChain(name, _) => installed.chains.contains_key(name),
                Op::FlushChain(name) => {
                    rules.entry(name).or_default();
                    true
                }
                Op::AddRule(chain, _) => {
                    *rules.entry(chain).or_default() += 1;
                    true
                }
                Op::AddElements(_, elems) => elems.iter().all(|e| installed.elements.contains(e)),
                Op::DelElements(_, elems) | Op::DestroyElements(_, elems) => {
                    !installed.exists || !elems.iter().any(key_there)
                }
                Op::DestroyChain(name) | Op::DelChain(name) => !installed.chains.contains_key(name),
                Op::DestroyTable | Op::DelTable => !installed.exists,
            };
            if !ok {
                return false;
            }
        }
        rules
            .iter()
            .all(|(chain, n)| installed.chains.get(*chain).map(Vec::len) == Some(*n))
    }

    /// Encode as one netlink batch; the index in `ops` of each change pushed.
    pub(crate) fn to_batch(&self, table: &str, batch: &mut Batch) -> Result<Vec<usize>, Error> {
        let create = NlmF::CREATE;
        let mut owners = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter().enumerate() {
            match op {
                Op::AddTable => batch.push(
                    NFT_MSG_NEWTABLE,
                    create,
                    &msg::table(table, true)?,
                    format!("add table inet {table}"),
                )?,
                Op::AddSet(s) => batch.push(
                    NFT_MSG_NEWSET,
                    create,
                    &msg::set(table, *s)?,
                    format!("add set inet {table} {}", s.name()),
                )?,
                Op::AddChain(name, hook) => batch.push(
                    NFT_MSG_NEWCHAIN,
                    create,
                    &msg::chain(
                        table,
                        &Chain {
                            name: name.clone(),
                            hook: *hook,
                            rules: Vec::new(),
                        },
                    )?,
                    format!("add chain inet {table} {name}"),
                )?,
                Op::FlushChain(name) => batch.push(
                    NFT_MSG_DELRULE,
                    NlmF::empty(),
                    &msg::rules_of(table, name)?,
                    format!("flush chain inet {table} {name}"),
                )?,
                Op::AddRule(chain, rule) => {
                    let mut text = String::new();
                    script::write_rule(&mut text, &rule.matches, &rule.stmt, rule.comment);
                    batch.push(
                        NFT_MSG_NEWRULE,
                        create | NlmF::APPEND,
                        &msg::rule(table, chain, rule)?,
                        format!("add rule inet {table} {chain} {text}"),
                    )?
                }
                Op::AddElements(set, elems)
                | Op::DelElements(set, elems)
                | Op::DestroyElements(set, elems) => {
                    let (m, flags, verb) = match op {
                        Op::AddElements(..) => (NFT_MSG_NEWSETELEM, create, "add"),
                        Op::DelElements(..) => (NFT_MSG_DELSETELEM, NlmF::empty(), "delete"),
                        _ => (NFT_MSG_DESTROYSETELEM, NlmF::empty(), "destroy"),
                    };
                    let with_data = matches!(op, Op::AddElements(..));
                    let mut start = 0;
                    for (attrs, n) in msg::elements(table, *set, elems, with_data)? {
                        let what = describe_elements(verb, table, *set, &elems[start..start + n]);
                        start += n;
                        batch.push(m, flags, &attrs, what)?;
                    }
                }
                Op::DestroyChain(name) => batch.push(
                    NFT_MSG_DESTROYCHAIN,
                    NlmF::empty(),
                    &msg::chain_ref(table, name)?,
                    format!("destroy chain inet {table} {name}"),
                )?,
                Op::DestroyTable => batch.push(
                    NFT_MSG_DESTROYTABLE,
                    NlmF::empty(),
                    &msg::table(table, false)?,
                    format!("destroy table inet {table}"),
                )?,
                Op::DelChain(name) => batch.push(
                    NFT_MSG_DELCHAIN,
                    NlmF::empty(),
                    &msg::chain_ref(table, name)?,
                    format!("delete chain inet {table} {name}"),
                )?,
                Op::DelTable => batch.push(
                    NFT_MSG_DELTABLE,
                    NlmF::empty(),
                    &msg::table(table, false)?,
                    format!("delete table inet {table}"),
                )?,
            }
            owners.resize(batch.len(), i);
        }
        Ok(owners)
    }

    /// Encode as one `nft -f` script (nft applies a script as one
    /// transaction). nft 1.0.6 has no `destroy`: "delete if present" is
    /// written as the add-then-delete idiom.
    pub(crate) fn to_script(&self, table: &str) -> String {
        let mut out = String::new();
        for op in &self.ops {
            match op {
                Op::AddTable => {
                    let _ = writeln!(out, "add table inet {table}");
                }
                Op::AddSet(s) => {
                    let _ = writeln!(
                        out,
                        "add {} inet {table} {} {{ {}; }}",
                        script::set_keyword(*s),
                        s.name(),
                        script::set_type(*s)
                    );
                }
                Op::AddChain(name, hook) => {
                    let spec = script::chain_spec(&Chain {
                        name: name.clone(),
                        hook: *hook,
                        rules: Vec::new(),
                    });
                    match spec {
                        Some(spec) => {
                            let _ = writeln!(out, "add chain inet {table} {name} {{ {spec} }}");
                        }
                        None => {
                            let _ = writeln!(out, "add chain inet {table} {name}");
                        }
                    }
                }
                Op::FlushChain(name) => {
                    let _ = writeln!(out, "flush chain inet {table} {name}");
                }
                Op::AddRule(chain, r) => {
                    let _ = write!(out, "add rule inet {table} {chain} ");
                    script::write_rule(&mut out, &r.matches, &r.stmt, r.comment);
                    out.push('\n');
                }
                Op::AddElements(set, elems) => {
                    element_cmd(&mut out, "add", table, *set, elems, true);
                }
                Op::DelElements(set, elems) => {
                    element_cmd(&mut out, "delete", table, *set, elems, false);
                }
                Op::DestroyElements(set, elems) => {
                    let mut chains: Vec<String> = elems.iter().filter_map(Element::jump).collect();
                    chains.sort();
                    chains.dedup();
                    for c in chains {
                        let _ = writeln!(out, "add chain inet {table} {c}");
                    }
                    element_cmd(&mut out, "add", table, *set, elems, true);
                    element_cmd(&mut out, "delete", table, *set, elems, false);
                }
                Op::DestroyChain(name) => {
                    let _ = writeln!(out, "add chain inet {table} {name}");
                    let _ = writeln!(out, "delete chain inet {table} {name}");
                }
                Op::DestroyTable => {
                    let _ = writeln!(out, "add table inet {table}");
                    let _ = writeln!(out, "delete table inet {table}");
                }
                Op::DelChain(name) => {
                    let _ = writeln!(out, "delete chain inet {table} {name}");
                }
                Op::DelTable => {
                    let _ = writeln!(out, "delete table inet {table}");
                }
            }
        }
        out
    }
}

fn element_cmd(out: &mut String, verb: &str, table: &str, set: Set, elems: &[Element], data: bool) {
    if elems.is_empty() {
        return;
    }
    let _ = write!(out, "{verb} element inet {table} {} {{ ", set.name());
    for (i, e) in elems.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if data {
            script::write_element(out, e);
        } else {
            script::write_key(out, e);
        }
    }
    out.push_str(" }\n");
}

fn describe_elements(verb: &str, table: &str, set: Set, elems: &[Element]) -> String {
    let mut s = format!("{verb} element inet {table} {} {{ ", set.name());
    for (i, e) in elems.iter().take(3).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        script::write_element(&mut s, e);
    }
    if elems.len() > 3 {
        let _ = write!(s, ", … ({} elements)", elems.len());
    }
    s.push_str(" }");
    s
}
