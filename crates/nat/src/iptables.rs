//! The iptables form: `iptables-restore` text in Docker 29's chain layout
//! (reference/docker-bridge.md §5), written exactly as `iptables-save`
//! prints it so that what we render is what a read-back shows.
//!
//! Docker's layout puts one rule per port and per network in shared chains
//! that every packet walks; it is here for hosts that run iptables and for
//! people who read rules in that dialect. The nftables form is the fast one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::network::{GatewayMode, NetState};
use crate::port::PortMapping;
use crate::ruleset::Family;

/// How to render the iptables form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IptablesOptions {
    /// Render Docker's rules for a host that runs `docker-proxy` (its
    /// default, `--userland-proxy=true`): loopback and hairpin traffic is
    /// left to the proxy. bridge-net has no proxy, so the default (`false`)
    /// renders Docker's no-proxy rules: DNAT from every interface, nat
    /// OUTPUT for 127.0.0.0/8 too, masquerade of locally sourced traffic
    /// into the bridge and of hairpin traffic.
    pub userland_proxy: bool,
}

/// The user chains we own, per table, as Docker names them.
pub(crate) const FILTER_CHAINS: [&str; 6] = [
    "DOCKER",
    "DOCKER-BRIDGE",
    "DOCKER-CT",
    "DOCKER-FORWARD",
    "DOCKER-INTERNAL",
    "DOCKER-USER",
];
pub(crate) const NAT_CHAINS: [&str; 1] = ["DOCKER"];

/// The chain users put their own rules in; created, never flushed.
pub(crate) const USER_CHAIN: &str = "DOCKER-USER";

/// One table's rules, by chain, each rule a full `-A CHAIN ...` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    pub name: &'static str,
    pub user_chains: Vec<&'static str>,
    pub rules: BTreeMap<String, Vec<String>>,
}

impl Table {
    fn new(name: &'static str, user_chains: &[&'static str]) -> Table {
        Table {
            name,
            user_chains: user_chains.to_vec(),
            rules: BTreeMap::new(),
        }
    }

    fn add(&mut self, chain: &str, rule: String) {
        let line = format!("-A {chain} {rule}");
        self.rules.entry(chain.to_owned()).or_default().push(line);
    }

    /// Built-in chains of this table, in `iptables-save` order.
    pub(crate) fn builtins(&self) -> &'static [&'static str] {
        match self.name {
            "raw" => &["PREROUTING", "OUTPUT"],
            "filter" => &["INPUT", "FORWARD", "OUTPUT"],
            _ => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        }
    }

    /// Rule lines in `iptables-save` order: built-in chains, then user
    /// chains alphabetically.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &String> {
        let builtins = self.builtins();
        let mut user: Vec<&&'static str> = self.user_chains.iter().collect();
        user.sort();
        builtins
            .iter()
            .chain(user)
            .filter_map(|c| self.rules.get(*c))
            .flatten()
    }

    /// Whether `chain` is one of the table's built-in chains.
    pub(crate) fn is_builtin(&self, chain: &str) -> bool {
        self.builtins().contains(&chain)
    }
}

/// The rendered tables of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub tables: Vec<Table>,
}

impl Rendered {
    /// The restore text for a host without any of our chains.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            let _ = writeln!(out, "*{}", t.name);
            let mut chains = t.user_chains.clone();
            chains.sort();
            for c in chains {
                let _ = writeln!(out, ":{c} - [0:0]");
            }
            for l in t.lines() {
                out.push_str(l);
                out.push('\n');
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

fn host(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
    }
}

fn proto_match(m: &PortMapping, port: u16) -> String {
    let p = m.protocol().as_str();
    format!("-p {p} -m {p} --dport {port}")
}

fn to_destination(m: &PortMapping, port: u16) -> String {
    match m.container() {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Render the networks of `family` (networks without a subnet of that
/// family are left out).
pub(crate) fn render(nets: &[NetState], family: Family, opts: &IptablesOptions) -> Rendered {
    let mut raw = Table::new("raw", &[]);
    let mut filter = Table::new("filter", &FILTER_CHAINS);
    let mut nat = Table::new("nat", &NAT_CHAINS);
    let proxy = opts.userland_proxy;
    let nets: Vec<&NetState> = nets
        .iter()
        .filter(|s| match family {
            Family::V4 => s.net.ipv4().is_some(),
            Family::V6 => s.net.ipv6().is_some(),
        })
        .collect();
    let in_family = |a: IpAddr| Family::of(a) == family;
    let subnet = |s: &NetState| match family {
        Family::V4 => s.net.ipv4().map(|n| n.to_string()).unwrap_or_default(),
        Family::V6 => s.net.ipv6().map(|n| n.to_string()).unwrap_or_default(),
    };

    // raw: drop direct access to containers of nat networks, and traffic
    // to loopback-published ports from anywhere but lo.
    if !proxy && family == Family::V4 {
        // Without a proxy, ports published on 127.0.0.1 need
        // route_localnet on the bridge, which would let a container reach
        // the host's 127.0.0.0/8 services through its gateway: drop that
        // (CVE-2020-8558, as Kubernetes does; the nftables ruleset has the
        // same drop).
        for s in &nets {
            raw.add(
                "PREROUTING",
                format!("-d 127.0.0.0/8 -i {} -j DROP", s.net.bridge()),
            );
        }
    }
    for s in &nets {
        if s.net.protects_direct_access() {
            for ep in &s.endpoints {
                for a in ep.addrs().iter().filter(|a| in_family(**a)) {
                    raw.add(
                        "PREROUTING",
                        format!("-d {} ! -i {} -j DROP", host(*a), s.net.bridge()),
                    );
                }
            }
        }
    }
    for s in &nets {
        if !s.net.dnats() {
            continue;
        }
        for m in s.all_ports().filter(|m| in_family(m.container())) {
            if let Some(h) = m.host_ip().filter(|h| h.is_loopback() && h.is_ipv4()) {
                for port in m.host_ports().iter() {
                    raw.add(
                        "PREROUTING",
                        format!("-d {} ! -i lo {} -j DROP", host(h), proto_match(m, port)),
                    );
                }
            }
        }
    }

    // filter
    filter.add("FORWARD", "-j DOCKER-USER".into());
    filter.add("FORWARD", "-j DOCKER-FORWARD".into());
    // Per-port ACCEPTs are inserted at the top of DOCKER: newest first.
    let mut accepts = Vec::new();
    for s in &nets {
        if s.net.internal() {
            continue;
        }
        let br = s.net.bridge();
        for m in s.all_ports().filter(|m| in_family(m.container())) {
            for port in m.container_ports().iter() {
                accepts.push(format!(
                    "-d {} ! -i {br} -o {br} {} -j ACCEPT",
                    host(m.container()),
                    proto_match(m, port)
                ));
            }
        }
    }
    for a in accepts.into_iter().rev() {
        filter.add("DOCKER", a);
    }
    for s in &nets {
        let br = s.net.bridge();
        if s.net.internal() {
            continue;
        }
        if s.net.gateway_mode() == GatewayMode::Routed {
            let icmp = match family {
                Family::V4 => "icmp",
                Family::V6 => "ipv6-icmp",
            };
            filter.add("DOCKER", format!("-o {br} -p {icmp} -j ACCEPT"));
        }
        filter.add("DOCKER", format!("! -i {br} -o {br} -j DROP"));
        filter.add("DOCKER-BRIDGE", format!("-o {br} -j DOCKER"));
        filter.add(
            "DOCKER-CT",
            format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        );
    }
    filter.add("DOCKER-FORWARD", "-j DOCKER-CT".into());
    filter.add("DOCKER-FORWARD", "-j DOCKER-INTERNAL".into());
    filter.add("DOCKER-FORWARD", "-j DOCKER-BRIDGE".into());
    for s in &nets {
        let br = s.net.bridge();
        match (s.net.internal(), s.net.icc()) {
            (false, true) => filter.add("DOCKER-FORWARD", format!("-i {br} -j ACCEPT")),
            (false, false) => {
                filter.add("DOCKER-FORWARD", format!("-i {br} -o {br} -j DROP"));
                filter.add("DOCKER-FORWARD", format!("-i {br} ! -o {br} -j ACCEPT"));
            }
            (true, true) => filter.add("DOCKER-FORWARD", format!("-i {br} -o {br} -j ACCEPT")),
            (true, false) => filter.add("DOCKER-FORWARD", format!("-i {br} -o {br} -j DROP")),
        }
        if s.net.internal() {
            let sub = subnet(s);
            filter.add("DOCKER-INTERNAL", format!("! -s {sub} -o {br} -j DROP"));
            filter.add("DOCKER-INTERNAL", format!("! -d {sub} -i {br} -j DROP"));
        }
    }

    // nat
    nat.add(
        "PREROUTING",
        "-m addrtype --dst-type LOCAL -j DOCKER".into(),
    );
    let loopback = match family {
        Family::V4 => "127.0.0.0/8",
        Family::V6 => "::1/128",
    };
    if proxy {
        nat.add(
            "OUTPUT",
            format!("! -d {loopback} -m addrtype --dst-type LOCAL -j DOCKER"),
        );
    } else {
        nat.add("OUTPUT", "-m addrtype --dst-type LOCAL -j DOCKER".into());
    }
    // MASQUERADE rules are inserted: the newest network first.
    for s in nets.iter().rev() {
        let br = s.net.bridge();
        if !proxy && s.net.dnats() {
            nat.add(
                "POSTROUTING",
                format!("-o {br} -m addrtype --src-type LOCAL -j MASQUERADE"),
            );
        }
        if s.net.nats_outbound() {
            let snat = match family {
                Family::V4 => s.net.snat4().map(IpAddr::V4),
                Family::V6 => s.net.snat6().map(IpAddr::V6),
            };
            let target = match snat {
                Some(src) => format!("SNAT --to-source {src}"),
                None => "MASQUERADE".into(),
            };
            nat.add(
                "POSTROUTING",
                format!("-s {} ! -o {br} -j {target}", subnet(s)),
            );
        }
    }
    for s in &nets {
        if !s.net.dnats() {
            continue;
        }
        let br = s.net.bridge();
        // Ranges are published port by port, as Docker does.
        for m in s.all_ports().filter(|m| in_family(m.container())) {
            for (hport, cport) in m.pairs() {
                if !proxy {
                    nat.add(
                        "POSTROUTING",
                        format!(
                            "-s {c} -d {c} {} -j MASQUERADE",
                            proto_match(m, cport),
                            c = host(m.container())
                        ),
                    );
                }
                let mut rule = String::new();
                if family == Family::V6 {
                    rule.push_str("! -s fe80::/10 ");
                }
                if let Some(h) = m.host_ip() {
                    let _ = write!(rule, "-d {} ", host(h));
                }
                if proxy {
                    let _ = write!(rule, "! -i {br} ");
                }
                let _ = write!(
                    rule,
                    "{} -j DNAT --to-destination {}",
                    proto_match(m, hport),
                    to_destination(m, cport)
                );
                nat.add("DOCKER", rule);
            }
        }
    }
    Rendered {
        tables: vec![raw, filter, nat],
    }
}
