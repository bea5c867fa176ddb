//! What a dump found, and how it differs from the model.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use crate::network::{Endpoint, Network};
use crate::port::{PortMapping, Protocol, PublishedPort};
use crate::ruleset::{self, ALL_NET_CHAINS, Element};
use crate::script;
use brnet_netlink::IfName;

/// What is installed, as read back from the kernel.
///
/// For the nftables backends: our table's chains (with the comment of
/// each rule, which names what the rule is for) and the decoded elements
/// of its sets and maps. For the iptables backend: Docker's chains
/// (`filter/DOCKER`, `nat/DOCKER`, …) with their rules as `iptables-save`
/// prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    pub(crate) exists: bool,
    pub(crate) chains: BTreeMap<String, Vec<Option<String>>>,
    pub(crate) elements: BTreeSet<Element>,
    pub(crate) unknown_elements: usize,
    /// iptables backend only: every rule line, per `table/chain`.
    pub(crate) lines: BTreeSet<String>,
}

impl Installed {
    /// Whether our table (or Docker's chains, for iptables) exists at all.
    /// `false` after `nft flush ruleset`: re-install every network.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// Every chain and its number of rules.
    pub fn chains(&self) -> impl Iterator<Item = (&str, usize)> {
        self.chains.iter().map(|(k, v)| (k.as_str(), v.len()))
    }

    /// The number of rules in `chain`, if it exists.
    pub fn rule_count(&self, chain: &str) -> Option<usize> {
        self.chains.get(chain).map(Vec::len)
    }

    /// The comments of `chain`'s rules, in order (`None` for a rule without).
    pub fn rule_comments(&self, chain: &str) -> Option<&[Option<String>]> {
        self.chains.get(chain).map(Vec::as_slice)
    }

    /// The bridges of the installed networks.
    pub fn bridges(&self) -> Vec<IfName> {
        self.elements
            .iter()
            .filter_map(|e| match e {
                Element::Bridge(b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    }

    /// The published ports (nat networks), one per port.
    pub fn ports(&self) -> Vec<PublishedPort> {
        self.elements
            .iter()
            .filter_map(|e| match e {
                Element::Port(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    /// Container ports open in routed networks: (address, protocol, port).
    pub fn open_ports(&self) -> Vec<(IpAddr, Protocol, u16)> {
        self.elements
            .iter()
            .filter_map(|e| match e {
                Element::Open { addr, proto, port } => Some((*addr, *proto, *port)),
                _ => None,
            })
            .collect()
    }

    /// Container addresses protected from direct access, and their bridge.
    pub fn endpoints(&self) -> Vec<(IpAddr, IfName)> {
        self.elements
            .iter()
            .filter_map(|e| match e {
                Element::Endpoint(a, b) => Some((*a, b.clone())),
                _ => None,
            })
            .collect()
    }

    /// Number of elements in all our sets and maps.
    pub fn element_count(&self) -> usize {
        self.elements.len() + self.unknown_elements
    }

    /// How the installed state differs from `net` with `endpoints` and
    /// `ports` (nftables backends). Empty when everything is in place:
    /// every chain with the rules it should have (checked by count and
    /// comment), every dispatch entry, endpoint and port, and nothing
    /// extra of this network's.
    pub fn drift(
        &self,
        table: &str,
        net: &Network,
        endpoints: &[Endpoint],
        ports: &[PortMapping],
    ) -> Vec<Drift> {
        if !self.exists {
            return vec![Drift::MissingTable {
                table: table.to_owned(),
            }];
        }
        let mut out = Vec::new();
        let chains = ruleset::network_chains(net);
        let mut expected: Vec<ruleset::Chain> = ruleset::base_chains();
        expected.extend(chains.iter().map(|(_, c)| c.clone()));
        for c in &expected {
            match self.chains.get(&c.name) {
                None => out.push(Drift::MissingChain {
                    chain: c.name.clone(),
                }),
                Some(found) => {
                    let want: Vec<Option<String>> = c
                        .rules
                        .iter()
                        .map(|r| r.comment.map(str::to_owned))
                        .collect();
                    if *found != want {
                        out.push(Drift::RulesDiffer {
                            chain: c.name.clone(),
                            expected: want.len(),
                            found: found.len(),
                        });
                    }
                }
            }
        }
        for k in ALL_NET_CHAINS {
            if !chains.iter().any(|(kind, _)| *kind == k) {
                let name: String = k.name(net.bridge());
                if self.chains.contains_key(&name) {
                    out.push(Drift::UnexpectedChain { chain: name });
                }
            }
        }
        let mut want = ruleset::dispatch_elements(net, &chains);
        for ep in endpoints {
            ruleset::endpoint_elements(net, ep, &mut want);
        }
        ruleset::port_elements(net, ports, &mut want);
        let want: BTreeSet<Element> = want.into_iter().collect();
        for e in &want {
            if !self.elements.contains(e) {
                out.push(Drift::MissingElement {
                    set: e.set().name().to_owned(),
                    element: element_text(e),
                });
            }
        }
        for e in self.elements.iter().filter(|e| e.belongs_to(net)) {
            if !want.contains(e) {
                out.push(Drift::UnexpectedElement {
                    set: e.set().name().to_owned(),
                    element: element_text(e),
                });
            }
        }
        out
    }
}

fn element_text(e: &Element) -> String {
    let mut s = String::new();
    script::write_element(&mut s, e);
    s
}

/// One way the installed firewall differs from the model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drift {
    /// Our table is gone (e.g. `nft flush ruleset`).
    MissingTable {
        /// The table's name.
        table: String,
    },
    /// A chain the model needs is missing.
    MissingChain {
        /// The chain.
        chain: String,
    },
    /// A chain's rules are not the model's (count or comments differ).
    RulesDiffer {
        /// The chain.
        chain: String,
        /// Rules the model has.
        expected: usize,
        /// Rules found.
        found: usize,
    },
    /// A chain of this network the model does not need.
    UnexpectedChain {
        /// The chain.
        chain: String,
    },
    /// An element the model needs is missing.
    MissingElement {
        /// The set or map.
        set: String,
        /// The element, in nft syntax.
        element: String,
    },
    /// An element of this network the model does not have.
    UnexpectedElement {
        /// The set or map.
        set: String,
        /// The element, in nft syntax.
        element: String,
    },
    /// iptables backend: a rule the model needs is missing.
    MissingRule {
        /// `raw`, `filter` or `nat`.
        table: String,
        /// The rule as `iptables-save` prints it.
        rule: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::MissingTable { table } => write!(f, "table inet {table} is missing"),
            Drift::MissingChain { chain } => write!(f, "chain {chain} is missing"),
            Drift::RulesDiffer {
                chain,
                expected,
                found,
            } => write!(
                f,
                "chain {chain} has {found} rules, not the {expected} of the model"
            ),
            Drift::UnexpectedChain { chain } => write!(f, "chain {chain} should not exist"),
            Drift::MissingElement { set, element } => {
                write!(f, "{set} lacks {{ {element} }}")
            }
            Drift::UnexpectedElement { set, element } => {
                write!(f, "{set} has {{ {element} }}, which the model does not")
            }
            Drift::MissingRule { table, rule } => write!(f, "{table}: missing {rule}"),
        }
    }
}
