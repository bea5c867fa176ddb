//! The nft script form of the ruleset (`nft -f`): pure text rendering.

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::port::PublishedPort;
use crate::ruleset::{ALL_SETS, Chain, CmpOp, Element, Family, Match, Set, SetData, Stmt, VmapKey};

/// `ip saddr`-style prefix as nft prints it (no `/32`, `/128`).
fn prefix(out: &mut String, net: &IpNet) {
    if net.prefix_len() == net.max_prefix_len() {
        let _ = write!(out, "{}", net.addr());
    } else {
        let _ = write!(out, "{net}");
    }
}

fn family_of(net: &IpNet) -> Family {
    match net {
        IpNet::V4(_) => Family::V4,
        IpNet::V6(_) => Family::V6,
    }
}

fn cmp(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "",
        CmpOp::Ne => "!= ",
    }
}

fn l4proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "ipv6-icmp".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

/// Append one rule (without table or chain) to `out`.
pub(crate) fn write_rule(out: &mut String, matches: &[Match], stmt: &Stmt, comment: Option<&str>) {
    for m in matches {
        match m {
            Match::Iif(op, br) => {
                let _ = write!(out, "iifname {}\"{br}\" ", cmp(*op));
            }
            Match::Oif(op, br) => {
                let _ = write!(out, "oifname {}\"{br}\" ", cmp(*op));
            }
            Match::IifIn(set) => {
                let _ = write!(out, "iifname @{} ", set.name());
            }
            Match::Saddr(net) | Match::Daddr(net) => {
                let dir = if matches!(m, Match::Saddr(_)) {
                    "saddr"
                } else {
                    "daddr"
                };
                let _ = write!(out, "{} {dir} ", family_of(net).keyword());
                prefix(out, net);
                out.push(' ');
            }
            Match::CtEstablished => out.push_str("ct state established,related "),
            Match::CtDnat => out.push_str("ct status dnat "),
            Match::FibDaddrLocal => out.push_str("fib daddr type local "),
            Match::FibSaddrLocal => out.push_str("fib saddr type local "),
            Match::L4proto(p) => {
                let _ = write!(out, "meta l4proto {} ", l4proto_name(*p));
            }
            Match::Nfproto(f) => {
                let _ = write!(out, "meta nfproto {} ", f.nfproto_name());
            }
            Match::Open(f) => {
                let set = match f {
                    Family::V4 => Set::Open4,
                    Family::V6 => Set::Open6,
                };
                let _ = write!(
                    out,
                    "{} daddr . meta l4proto . th dport @{} ",
                    f.keyword(),
                    set.name()
                );
            }
        }
    }
    match stmt {
        Stmt::Accept => out.push_str("accept"),
        Stmt::Drop => out.push_str("drop"),
        Stmt::Jump(c) => {
            let _ = write!(out, "jump {c}");
        }
        Stmt::Vmap(key, set) => {
            let key = match key {
                VmapKey::Iif => "iifname",
                VmapKey::Oif => "oifname",
                VmapKey::Daddr(Family::V4) => "ip daddr",
                VmapKey::Daddr(Family::V6) => "ip6 daddr",
            };
            let _ = write!(out, "{key} vmap @{}", set.name());
        }
        Stmt::Masquerade => out.push_str("masquerade"),
        Stmt::Snat(src) => {
            let _ = write!(out, "snat {} to {src}", Family::of(*src).keyword());
        }
        Stmt::Dnat { family, host } => {
            let kw = family.keyword();
            let set = Set::ports(*family, *host);
            if *host {
                let _ = write!(
                    out,
                    "dnat {kw} to {kw} daddr . meta l4proto . th dport map @{}",
                    set.name()
                );
            } else {
                let _ = write!(
                    out,
                    "dnat {kw} to meta l4proto . th dport map @{}",
                    set.name()
                );
            }
        }
    }
    if let Some(c) = comment {
        let _ = write!(out, " comment \"{c}\"");
    }
}

/// Append one element (`tcp . 8080 : 172.17.0.2 . 80`) to `out`.
pub(crate) fn write_element(out: &mut String, e: &Element) {
    match e {
        Element::Bridge(br) => {
            let _ = write!(out, "\"{br}\"");
        }
        Element::Dispatch(kind, br) => {
            let _ = write!(out, "\"{br}\" : jump {}{br}", kind.prefix());
        }
        Element::Endpoint(addr, br) => {
            let _ = write!(out, "{addr} : jump direct_{br}");
        }
        Element::Port(p) => {
            write_port_key(out, p);
            let _ = write!(out, " : {} . {}", p.container, p.container_port);
        }
        Element::Open { addr, proto, port } => {
            let _ = write!(out, "{addr} . {proto} . {port}");
        }
    }
}

/// Append an element's key only (`tcp . 8080`), as deletes name it.
pub(crate) fn write_key(out: &mut String, e: &Element) {
    match e {
        Element::Bridge(br) | Element::Dispatch(_, br) => {
            let _ = write!(out, "\"{br}\"");
        }
        Element::Endpoint(addr, _) => {
            let _ = write!(out, "{addr}");
        }
        Element::Port(p) => write_port_key(out, p),
        Element::Open { addr, proto, port } => {
            let _ = write!(out, "{addr} . {proto} . {port}");
        }
    }
}

/// A published port's key: `[host .] proto . port`.
fn write_port_key(out: &mut String, p: &PublishedPort) {
    if let Some(h) = p.host_ip {
        let _ = write!(out, "{h} . ");
    }
    let _ = write!(out, "{} . {}", p.protocol, p.host_port);
}

/// `type a . b : c . d` for a set.
pub(crate) fn set_type(set: Set) -> String {
    let join =
        |dts: &[crate::ruleset::Dt]| dts.iter().map(|d| d.name()).collect::<Vec<_>>().join(" . ");
    match set.data() {
        SetData::None => format!("type {}", join(set.key())),
        SetData::Values(v) => format!("type {} : {}", join(set.key()), join(v)),
        SetData::Verdict => format!("type {} : verdict", join(set.key())),
    }
}

pub(crate) fn set_keyword(set: Set) -> &'static str {
    match set.data() {
        SetData::None => "set",
        _ => "map",
    }
}

/// `type filter hook prerouting priority raw; policy accept;`
pub(crate) fn chain_spec(chain: &Chain) -> Option<String> {
    chain.hook.map(|h| {
        format!(
            "type {} hook {} priority {}; policy accept;",
            h.kind, h.hook, h.priority_text
        )
    })
}

/// The whole table, declared in one block, as `nft list` would print it:
/// sets (with their elements), then chains (with their rules).
pub(crate) fn render_table(table: &str, chains: &[Chain], elements: &[Element]) -> String {
    let mut out = String::with_capacity(4096 + elements.len() * 48);
    let _ = writeln!(out, "table inet {table} {{");
    let mut first = true;
    for set in ALL_SETS {
        if !first {
            out.push('\n');
        }
        first = false;
        let _ = writeln!(out, "\t{} {} {{", set_keyword(set), set.name());
        let _ = writeln!(out, "\t\t{}", set_type(set));
        let mut elems = elements.iter().filter(|e| e.set() == set).peekable();
        if elems.peek().is_some() {
            out.push_str("\t\telements = { ");
            let mut first_elem = true;
            for e in elems {
                if !first_elem {
                    out.push_str(",\n\t\t\t     ");
                }
                first_elem = false;
                write_element(&mut out, e);
            }
            out.push_str(" }\n");
        }
        out.push_str("\t}\n");
    }
    for chain in chains {
        let _ = writeln!(out, "\n\tchain {} {{", chain.name);
        if let Some(spec) = chain_spec(chain) {
            let _ = writeln!(out, "\t\t{spec}");
        }
        for r in &chain.rules {
            out.push_str("\t\t");
            write_rule(&mut out, &r.matches, &r.stmt, r.comment);
            out.push('\n');
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
    out
}
