//! Our nftables table as data: its sets and maps, its chains and rules, and
//! the elements that networks, endpoints and published ports add. Built
//! from the model by pure functions; rendered as text by `script` and as
//! netlink messages by `netlink`, so both forms say the same thing.
//!
//! The shape (one `inet` table):
//!
//! - base chains hold only dispatch rules, never a per-network or per-port
//!   rule: `raw_prerouting` (container address → `direct_<br>`),
//!   `nat_prerouting`/`nat_output` (`fib daddr type local` → `published`),
//!   `nat_postrouting` (iifname → `post_in_<br>`, oifname → `post_out_<br>`),
//!   `filter_forward` (iifname → `fwd_out_<br>`, oifname → `fwd_in_<br>`);
//! - `published` has four rules, one DNAT-by-map lookup per family and
//!   host-address kind: a published port is one map element;
//! - each network has up to five chains of its own, reached only through
//!   verdict maps keyed by its bridge name or its containers' addresses, so
//!   traffic for one network never walks another network's rules.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::network::{Endpoint, GatewayMode, Network};
use crate::port::{PortMapping, Protocol, PublishedPort};
use brnet_netlink::IfName;

/// The default name of our table (`table inet brnet`).
pub const DEFAULT_TABLE: &str = "brnet";

/// An address family inside the `inet` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    pub(crate) fn of(addr: IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// `NFPROTO_IPV4` / `NFPROTO_IPV6`.
    pub(crate) fn nfproto(self) -> u8 {
        match self {
            Family::V4 => 2,
            Family::V6 => 10,
        }
    }

    /// `ip` / `ip6`: the payload protocol keyword.
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    /// `ipv4` / `ipv6`: the `meta nfproto` value.
    pub(crate) fn nfproto_name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

/// A data type of a set key or map value, as nft names and numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dt {
    InetProto,
    InetService,
    Ipv4,
    Ipv6,
    Ifname,
}

impl Dt {
    /// nft's datatype number (`enum datatypes` in nftables' datatype.h);
    /// the kernel stores it opaquely and `nft list` reads it back.
    pub(crate) fn nft_type(self) -> u32 {
        match self {
            Dt::Ipv4 => 7,
            Dt::Ipv6 => 8,
            Dt::InetProto => 12,
            Dt::InetService => 13,
            Dt::Ifname => 41,
        }
    }

    /// Bytes in a register (each concatenation component is padded to 4).
    pub(crate) fn reg_len(self) -> u32 {
        match self {
            Dt::InetProto | Dt::InetService | Dt::Ipv4 => 4,
            Dt::Ipv6 | Dt::Ifname => 16,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Dt::InetProto => "inet_proto",
            Dt::InetService => "inet_service",
            Dt::Ipv4 => "ipv4_addr",
            Dt::Ipv6 => "ipv6_addr",
            Dt::Ifname => "ifname",
        }
    }
}

/// What a set maps its keys to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetData {
    /// A plain set.
    None,
    /// A map to values of these types.
    Values(&'static [Dt]),
    /// A verdict map.
    Verdict,
}

/// The sets and maps of our table. Their order is their `NFTA_SET_ID` in a
/// batch (1-based) and the order they are declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Set {
    /// `proto . port → addr . port`: IPv4 ports published on every address.
    Ports4,
    /// `host addr . proto . port → addr . port`: IPv4 ports on one address.
    Ports4Host,
    Ports6,
    Ports6Host,
    /// `addr . proto . port`: container ports open in routed networks.
    Open4,
    Open6,
    /// container address → `jump direct_<br>` (raw: drop direct access).
    Ep4,
    Ep6,
    /// Our bridges.
    Bridges,
    /// oifname → `jump fwd_in_<br>`.
    FwdIn,
    /// iifname → `jump fwd_out_<br>`.
    FwdOut,
    /// iifname → `jump post_in_<br>`.
    PostIn,
    /// oifname → `jump post_out_<br>`.
    PostOut,
}

pub(crate) const ALL_SETS: [Set; 13] = [
    Set::Ports4,
    Set::Ports4Host,
    Set::Ports6,
    Set::Ports6Host,
    Set::Open4,
    Set::Open6,
    Set::Ep4,
    Set::Ep6,
    Set::Bridges,
    Set::FwdIn,
    Set::FwdOut,
    Set::PostIn,
    Set::PostOut,
];

impl Set {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Set::Ports4 => "ports4",
            Set::Ports4Host => "ports4_host",
            Set::Ports6 => "ports6",
            Set::Ports6Host => "ports6_host",
            Set::Open4 => "open4",
            Set::Open6 => "open6",
            Set::Ep4 => "ep4",
            Set::Ep6 => "ep6",
            Set::Bridges => "bridges",
            Set::FwdIn => "fwd_in",
            Set::FwdOut => "fwd_out",
            Set::PostIn => "post_in",
            Set::PostOut => "post_out",
        }
    }

    #[cfg(test)]
    pub(crate) fn from_name(name: &str) -> Option<Set> {
        ALL_SETS.iter().copied().find(|s| s.name() == name)
    }

    /// `NFTA_SET_ID`: the set's 1-based place in [`ALL_SETS`].
    pub(crate) fn id(self) -> u32 {
        self as u32 + 1
    }

    pub(crate) fn key(self) -> &'static [Dt] {
        use Dt::*;
        match self {
            Set::Ports4 | Set::Ports6 => &[InetProto, InetService],
            Set::Ports4Host | Set::Open4 => &[Ipv4, InetProto, InetService],
            Set::Ports6Host | Set::Open6 => &[Ipv6, InetProto, InetService],
            Set::Ep4 => &[Ipv4],
            Set::Ep6 => &[Ipv6],
            Set::Bridges | Set::FwdIn | Set::FwdOut | Set::PostIn | Set::PostOut => &[Ifname],
        }
    }

    pub(crate) fn data(self) -> SetData {
        use Dt::*;
        match self {
            Set::Ports4 | Set::Ports4Host => SetData::Values(&[Ipv4, InetService]),
            Set::Ports6 | Set::Ports6Host => SetData::Values(&[Ipv6, InetService]),
            Set::Open4 | Set::Open6 | Set::Bridges => SetData::None,
            Set::Ep4 | Set::Ep6 | Set::FwdIn | Set::FwdOut | Set::PostIn | Set::PostOut => {
                SetData::Verdict
            }
        }
    }

    /// The DNAT map for a port published from `host` to a container of `family`.
    pub(crate) fn ports(family: Family, host: bool) -> Set {
        match (family, host) {
            (Family::V4, false) => Set::Ports4,
            (Family::V4, true) => Set::Ports4Host,
            (Family::V6, false) => Set::Ports6,
            (Family::V6, true) => Set::Ports6Host,
        }
    }
}

/// A netfilter hook a base chain is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hook {
    /// `filter` or `nat`.
    pub kind: &'static str,
    /// `NF_INET_*` hook number.
    pub hooknum: u32,
    /// Hook name in nft syntax.
    pub hook: &'static str,
    pub priority: i32,
    /// Priority as written in the script (`dstnat`, `-100`).
    pub priority_text: &'static str,
}

/// A chain: its name, its hook if it is a base chain, its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    pub name: String,
    pub hook: Option<Hook>,
    pub rules: Vec<Rule>,
}

/// `==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
}

/// One match of a rule; matches are ANDed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match {
    /// `iifname [!=] "br"`.
    Iif(CmpOp, IfName),
    /// `oifname [!=] "br"`.
    Oif(CmpOp, IfName),
    /// `iifname @set`.
    IifIn(Set),
    /// `ip[6] saddr PREFIX`.
    Saddr(IpNet),
    /// `ip[6] daddr PREFIX`.
    Daddr(IpNet),
    /// `ct state established,related`.
    CtEstablished,
    /// `ct status dnat`.
    CtDnat,
    /// `fib daddr type local`.
    FibDaddrLocal,
    /// `fib saddr type local`.
    FibSaddrLocal,
    /// `meta l4proto N` (1 = icmp, 58 = ipv6-icmp).
    L4proto(u8),
    /// `meta nfproto ipv4|ipv6`.
    Nfproto(Family),
    /// `ip[6] daddr . meta l4proto . th dport @open4|@open6`.
    Open(Family),
}

/// Where a verdict map takes its key from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VmapKey {
    Iif,
    Oif,
    Daddr(Family),
}

/// What a rule does when its matches hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stmt {
    Accept,
    Drop,
    Jump(String),
    /// `<key> vmap @set`.
    Vmap(VmapKey, Set),
    Masquerade,
    Snat(IpAddr),
    /// `dnat ip[6] to [ip[6] daddr .] meta l4proto . th dport map @set`.
    Dnat {
        family: Family,
        host: bool,
    },
}

/// A rule: matches, one statement, an optional comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub matches: Vec<Match>,
    pub stmt: Stmt,
    pub comment: Option<&'static str>,
}

fn rule(matches: Vec<Match>, stmt: Stmt, comment: Option<&'static str>) -> Rule {
    Rule {
        matches,
        stmt,
        comment,
    }
}

/// The chain `published` jumps to for DNAT.
pub(crate) const PUBLISHED: &str = "published";

const RAW_PREROUTING: Hook = Hook {
    kind: "filter",
    hooknum: 0,
    hook: "prerouting",
    priority: -300,
    priority_text: "raw",
};
const NAT_PREROUTING: Hook = Hook {
    kind: "nat",
    hooknum: 0,
    hook: "prerouting",
    priority: -100,
    priority_text: "dstnat",
};
const NAT_OUTPUT: Hook = Hook {
    kind: "nat",
    hooknum: 3,
    hook: "output",
    priority: -100,
    // nft only knows `dstnat` at prerouting.
    priority_text: "-100",
};
const NAT_POSTROUTING: Hook = Hook {
    kind: "nat",
    hooknum: 4,
    hook: "postrouting",
    priority: 100,
    priority_text: "srcnat",
};
const FILTER_FORWARD: Hook = Hook {
    kind: "filter",
    hooknum: 2,
    hook: "forward",
    priority: 0,
    priority_text: "filter",
};

/// The chains every installation has, with their (fixed) rules.
pub(crate) fn base_chains() -> Vec<Chain> {
    let loopback: IpNet = IpNet::V4(ipnet::Ipv4Net::new_assert([127, 0, 0, 0].into(), 8));
    vec![
        Chain {
            name: "raw_prerouting".into(),
            hook: Some(RAW_PREROUTING),
            rules: vec![
                rule(
                    vec![],
                    Stmt::Vmap(VmapKey::Daddr(Family::V4), Set::Ep4),
                    None,
                ),
                rule(
                    vec![],
                    Stmt::Vmap(VmapKey::Daddr(Family::V6), Set::Ep6),
                    None,
                ),
                rule(
                    vec![Match::IifIn(Set::Bridges), Match::Daddr(loopback)],
                    Stmt::Drop,
                    Some("LOOPBACK FROM BRIDGE"),
                ),
            ],
        },
        Chain {
            name: "nat_prerouting".into(),
            hook: Some(NAT_PREROUTING),
            rules: vec![rule(
                vec![Match::FibDaddrLocal],
                Stmt::Jump(PUBLISHED.into()),
                None,
            )],
        },
        Chain {
            name: "nat_output".into(),
            hook: Some(NAT_OUTPUT),
            rules: vec![rule(
                vec![Match::FibDaddrLocal],
                Stmt::Jump(PUBLISHED.into()),
                None,
            )],
        },
        Chain {
            name: "nat_postrouting".into(),
            hook: Some(NAT_POSTROUTING),
            rules: vec![
                rule(vec![], Stmt::Vmap(VmapKey::Iif, Set::PostIn), None),
                rule(vec![], Stmt::Vmap(VmapKey::Oif, Set::PostOut), None),
            ],
        },
        Chain {
            name: "filter_forward".into(),
            hook: Some(FILTER_FORWARD),
            rules: vec![
                rule(vec![], Stmt::Vmap(VmapKey::Iif, Set::FwdOut), None),
                rule(vec![], Stmt::Vmap(VmapKey::Oif, Set::FwdIn), None),
            ],
        },
        Chain {
            name: PUBLISHED.into(),
            hook: None,
            rules: vec![
                rule(
                    vec![],
                    Stmt::Dnat {
                        family: Family::V4,
                        host: true,
                    },
                    None,
                ),
                rule(
                    vec![Match::Nfproto(Family::V4)],
                    Stmt::Dnat {
                        family: Family::V4,
                        host: false,
                    },
                    None,
                ),
                rule(
                    vec![],
                    Stmt::Dnat {
                        family: Family::V6,
                        host: true,
                    },
                    None,
                ),
                rule(
                    vec![Match::Nfproto(Family::V6)],
                    Stmt::Dnat {
                        family: Family::V6,
                        host: false,
                    },
                    None,
                ),
            ],
        },
    ]
}

/// The kinds of chain a network can have, in the order they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum NetChain {
    /// Raw: drop traffic to our containers that did not come from our bridge.
    Direct,
    /// Forward: traffic into the bridge.
    FwdIn,
    /// Forward: traffic out of an internal bridge.
    FwdOut,
    /// Postrouting: traffic from the bridge leaving it (masquerade).
    PostIn,
    /// Postrouting: traffic into the bridge (local source, hairpin).
    PostOut,
}

pub(crate) const ALL_NET_CHAINS: [NetChain; 5] = [
    NetChain::Direct,
    NetChain::FwdIn,
    NetChain::FwdOut,
    NetChain::PostIn,
    NetChain::PostOut,
];

impl NetChain {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            NetChain::Direct => "direct_",
            NetChain::FwdIn => "fwd_in_",
            NetChain::FwdOut => "fwd_out_",
            NetChain::PostIn => "post_in_",
            NetChain::PostOut => "post_out_",
        }
    }

    /// The chain's name for `bridge`.
    pub(crate) fn name(self, bridge: &IfName) -> String {
        let mut s = String::with_capacity(9 + bridge.as_str().len());
        s.push_str(self.prefix());
        s.push_str(bridge.as_str());
        s
    }

    /// The ifname-keyed verdict map that leads to it (`Direct` is reached
    /// through container addresses instead).
    pub(crate) fn dispatch(self) -> Option<Set> {
        match self {
            NetChain::Direct => None,
            NetChain::FwdIn => Some(Set::FwdIn),
            NetChain::FwdOut => Some(Set::FwdOut),
            NetChain::PostIn => Some(Set::PostIn),
            NetChain::PostOut => Some(Set::PostOut),
        }
    }

    /// Which network a chain name belongs to, and which kind it is.
    pub(crate) fn parse(name: &str) -> Option<(NetChain, &str)> {
        ALL_NET_CHAINS
            .iter()
            .find_map(|k| name.strip_prefix(k.prefix()).map(|b| (*k, b)))
    }
}

/// The rules of one of a network's chains; empty when the network does not
/// need that chain.
pub(crate) fn net_chain_rules(net: &Network, kind: NetChain) -> Vec<Rule> {
    let br = net.bridge();
    let mut rules = Vec::new();
    match kind {
        NetChain::Direct => {
            if net.protects_direct_access() {
                rules.push(rule(
                    vec![Match::Iif(CmpOp::Ne, br.clone())],
                    Stmt::Drop,
                    Some("DIRECT ACCESS"),
                ));
            }
        }
        NetChain::FwdIn => {
            let icc = if net.icc() { Stmt::Accept } else { Stmt::Drop };
            if net.internal() {
                rules.push(rule(
                    vec![Match::Iif(CmpOp::Eq, br.clone())],
                    icc,
                    Some("ICC"),
                ));
                rules.push(rule(vec![], Stmt::Drop, Some("INTERNAL INGRESS")));
                return rules;
            }
            rules.push(rule(vec![Match::CtEstablished], Stmt::Accept, None));
            rules.push(rule(
                vec![Match::Iif(CmpOp::Eq, br.clone())],
                icc,
                Some("ICC"),
            ));
            match net.gateway_mode() {
                GatewayMode::Nat => {
                    rules.push(rule(vec![Match::CtDnat], Stmt::Accept, Some("PUBLISHED")));
                }
                GatewayMode::Routed => {
                    if net.ipv4().is_some() {
                        rules.push(rule(
                            vec![Match::Open(Family::V4)],
                            Stmt::Accept,
                            Some("OPEN"),
                        ));
                    }
                    if net.ipv6().is_some() {
                        rules.push(rule(
                            vec![Match::Open(Family::V6)],
                            Stmt::Accept,
                            Some("OPEN"),
                        ));
                    }
                    if net.ipv4().is_some() {
                        rules.push(rule(vec![Match::L4proto(1)], Stmt::Accept, Some("ICMP")));
                    }
                    if net.ipv6().is_some() {
                        rules.push(rule(vec![Match::L4proto(58)], Stmt::Accept, Some("ICMP")));
                    }
                }
            }
            rules.push(rule(vec![], Stmt::Drop, Some("UNPUBLISHED")));
        }
        NetChain::FwdOut => {
            if net.internal() {
                rules.push(rule(
                    vec![Match::Oif(CmpOp::Ne, br.clone())],
                    Stmt::Drop,
                    Some("INTERNAL EGRESS"),
                ));
            }
        }
        NetChain::PostIn => {
            if net.nats_outbound() {
                let subnets = [
                    net.ipv4()
                        .map(|n| (IpNet::V4(n), net.snat4().map(IpAddr::V4))),
                    net.ipv6()
                        .map(|n| (IpNet::V6(n), net.snat6().map(IpAddr::V6))),
                ];
                for (subnet, snat) in subnets.into_iter().flatten() {
                    let (stmt, comment) = match snat {
                        Some(src) => (Stmt::Snat(src), "SNAT"),
                        None => (Stmt::Masquerade, "MASQUERADE"),
                    };
                    rules.push(rule(
                        vec![Match::Oif(CmpOp::Ne, br.clone()), Match::Saddr(subnet)],
                        stmt,
                        Some(comment),
                    ));
                }
            }
        }
        NetChain::PostOut => {
            if net.dnats() {
                rules.push(rule(
                    vec![Match::FibSaddrLocal],
                    Stmt::Masquerade,
                    Some("LOCAL SOURCE"),
                ));
                // DNAT'd back into the bridge it came from (a container
                // reaching a published port of its own network through a
                // host address). Matched by source subnet, not iifname:
                // with br_netfilter such a packet is bridged, and bridged
                // packets have no input device in postrouting.
                let subnets = [net.ipv4().map(IpNet::V4), net.ipv6().map(IpNet::V6)];
                for subnet in subnets.into_iter().flatten() {
                    rules.push(rule(
                        vec![Match::Saddr(subnet), Match::CtDnat],
                        Stmt::Masquerade,
                        Some("HAIRPIN"),
                    ));
                }
            }
        }
    }
    rules
}

/// The chains a network needs (non-empty ones only), in [`ALL_NET_CHAINS`] order.
pub(crate) fn network_chains(net: &Network) -> Vec<(NetChain, Chain)> {
    ALL_NET_CHAINS
        .iter()
        .filter_map(|kind| {
            let rules = net_chain_rules(net, *kind);
            (!rules.is_empty()).then(|| {
                (
                    *kind,
                    Chain {
                        name: kind.name(net.bridge()),
                        hook: None,
                        rules,
                    },
                )
            })
        })
        .collect()
}

/// An element of one of our sets or maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Element {
    /// A bridge in `bridges`.
    Bridge(IfName),
    /// `"br" : jump <kind>_br` in the kind's dispatch map.
    Dispatch(NetChain, IfName),
    /// `addr : jump direct_br` in `ep4`/`ep6`.
    Endpoint(IpAddr, IfName),
    /// One published port: `[host .] proto . port : addr . port`.
    Port(PublishedPort),
    /// One open container port of a routed network: `addr . proto . port`.
    Open {
        addr: IpAddr,
        proto: Protocol,
        port: u16,
    },
}

impl Element {
    /// The set the element belongs to.
    pub(crate) fn set(&self) -> Set {
        match self {
            Element::Bridge(_) => Set::Bridges,
            Element::Dispatch(kind, _) => kind.dispatch().unwrap_or(Set::FwdIn),
            Element::Endpoint(addr, _) => match Family::of(*addr) {
                Family::V4 => Set::Ep4,
                Family::V6 => Set::Ep6,
            },
            Element::Port(p) => Set::ports(Family::of(p.container), p.host_ip.is_some()),
            Element::Open { addr, .. } => match Family::of(*addr) {
                Family::V4 => Set::Open4,
                Family::V6 => Set::Open6,
            },
        }
    }

    /// The chain a verdict element jumps to.
    pub(crate) fn jump(&self) -> Option<String> {
        match self {
            Element::Dispatch(kind, br) => Some(kind.name(br)),
            Element::Endpoint(_, br) => Some(NetChain::Direct.name(br)),
            _ => None,
        }
    }

    /// Whether the element belongs to `net` (by bridge, or by address inside
    /// its subnets).
    pub(crate) fn belongs_to(&self, net: &Network) -> bool {
        match self {
            Element::Bridge(br) | Element::Dispatch(_, br) | Element::Endpoint(_, br) => {
                br == net.bridge()
            }
            Element::Port(p) => net.contains(p.container),
            Element::Open { addr, .. } => net.contains(*addr),
        }
    }
}

/// The `bridges` entry and the dispatch-map entries of a network.
pub(crate) fn dispatch_elements(net: &Network, chains: &[(NetChain, Chain)]) -> Vec<Element> {
    let mut out = vec![Element::Bridge(net.bridge().clone())];
    for (kind, _) in chains {
        if kind.dispatch().is_some() {
            out.push(Element::Dispatch(*kind, net.bridge().clone()));
        }
    }
    out
}

/// The elements published ports add: one per port (ranges are expanded),
/// in the DNAT maps for nat networks, in the open sets for routed ones.
pub(crate) fn port_elements(net: &Network, ports: &[PortMapping], out: &mut Vec<Element>) {
    if net.internal() {
        return;
    }
    for m in ports {
        match net.gateway_mode() {
            GatewayMode::Nat => out.extend(m.pairs().map(|(h, c)| {
                Element::Port(PublishedPort {
                    protocol: m.protocol(),
                    host_ip: m.host_ip(),
                    host_port: h,
                    container: m.container(),
                    container_port: c,
                })
            })),
            GatewayMode::Routed => out.extend(m.container_ports().iter().map(|c| Element::Open {
                addr: m.container(),
                proto: m.protocol(),
                port: c,
            })),
        }
    }
}

/// The elements an endpoint adds: its addresses (raw direct-access
/// protection, nat networks only) and its published ports.
pub(crate) fn endpoint_elements(net: &Network, ep: &Endpoint, out: &mut Vec<Element>) {
    if net.protects_direct_access() {
        out.extend(
            ep.addrs()
                .iter()
                .map(|a| Element::Endpoint(*a, net.bridge().clone())),
        );
    }
    port_elements(net, ep.ports(), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_ids_follow_declaration_order() {
        for (i, s) in ALL_SETS.iter().enumerate() {
            assert_eq!(s.id() as usize, i + 1);
            assert_eq!(Set::from_name(s.name()), Some(*s));
        }
    }

    #[test]
    fn chain_names_parse_back() {
        let br = IfName::new("br-fwd_in_x").unwrap();
        for k in ALL_NET_CHAINS {
            let name = k.name(&br);
            assert_eq!(NetChain::parse(&name), Some((k, "br-fwd_in_x")));
        }
        assert_eq!(NetChain::parse("published"), None);
    }

    #[test]
    fn routed_networks_open_container_ports() {
        let net = Network::builder("br0")
            .ipv4("192.0.2.0/24".parse().unwrap())
            .gateway_mode(GatewayMode::Routed)
            .build()
            .unwrap();
        let m = PortMapping::port(Protocol::Tcp, 8080, "192.0.2.2".parse().unwrap(), 80).unwrap();
        let mut out = Vec::new();
        port_elements(&net, &[m], &mut out);
        assert_eq!(
            out,
            vec![Element::Open {
                addr: "192.0.2.2".parse().unwrap(),
                proto: Protocol::Tcp,
                port: 80
            }]
        );
        let kinds: Vec<_> = network_chains(&net).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, vec![NetChain::FwdIn]);
    }
}
