//! Command-line values parsed into the library's types, once, before
//! anything is opened: a bad value is a [`Failure`] naming the option and
//! the value, and the state and the kernel are never touched.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bridge_net::brnet_netlink::{self, IfName, MacAddr};
use bridge_net::{
    ConnectOptions, Driver, IpamConfig, MacPolicy, NetnsRef, NetworkOptions, PortSpec, parse_aux,
    parse_cidr, validate_network_name,
};

use crate::args::{ConnectArgs, CreateArgs};
use crate::failure::{BadInput, Failure};

/// An address family, to pair `--gateway`, `--ip-range` and
/// `--aux-address` with the `--subnet` of their own family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(a: &IpAddr) -> Family {
        if a.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// The address plan of `family`, which must have its subnet already.
fn plan_of<'a>(
    opts: &'a mut NetworkOptions,
    family: Family,
    option: &'static str,
    value: &str,
) -> Result<&'a mut IpamConfig, BadInput> {
    let plan = match family {
        Family::V4 => Some(&mut opts.ipv4),
        Family::V6 => opts.ipv6.as_mut(),
    };
    match plan {
        Some(p) if p.subnet.is_some() => Ok(p),
        _ => Err(BadInput::new(
            option,
            value,
            format!("no {} --subnet to pair it with", family.name()),
        )),
    }
}

/// `network create`'s flags as [`NetworkOptions`], checked as far as can
/// be without the kernel ([`NetworkOptions::validate`]).
pub fn network_options(a: &CreateArgs) -> Result<NetworkOptions, Failure> {
    let driver = Driver::from_name(&a.driver)?;
    validate_network_name(&a.name)?;
    let mut opts = NetworkOptions {
        driver,
        ..NetworkOptions::default()
    };
    for s in &a.subnet {
        let net = parse_cidr("--subnet", s)?;
        let plan = match Family::of(&net.addr()) {
            Family::V4 => &mut opts.ipv4,
            Family::V6 => opts.ipv6.get_or_insert_with(IpamConfig::default),
        };
        if let Some(first) = plan.subnet {
            return Err(BadInput::new(
                "--subnet",
                s,
                format!(
                    "one {} subnet per network ({first} given already)",
                    Family::of(&net.addr()).name()
                ),
            )
            .into());
        }
        plan.subnet = Some(net);
    }
    if a.ipv6 && opts.ipv6.is_none() {
        return Err(BadInput::new("--ipv6", "", "needs an IPv6 --subnet").into());
    }
    // IPv4 unless told otherwise, or given IPv6 subnets and no IPv4 one.
    opts.enable_ipv4 = a
        .ipv4
        .unwrap_or(opts.ipv4.subnet.is_some() || opts.ipv6.is_none());
    if !opts.enable_ipv4 && opts.ipv4.subnet.is_some() {
        return Err(BadInput::new(
            "--ipv4",
            "false",
            "an IPv4 --subnet is given: drop it, or --ipv4=false",
        )
        .into());
    }
    for g in &a.gateway {
        let ip: IpAddr = g
            .parse()
            .map_err(|_| BadInput::new("--gateway", g, "not an IP address"))?;
        let plan = plan_of(&mut opts, Family::of(&ip), "--gateway", g)?;
        if let Some(first) = plan.gateway {
            return Err(BadInput::new(
                "--gateway",
                g,
                format!("one gateway per subnet ({first} given already)"),
            )
            .into());
        }
        plan.gateway = Some(ip);
    }
    for r in &a.ip_range {
        let range = parse_cidr("--ip-range", r)?;
        let plan = plan_of(&mut opts, Family::of(&range.addr()), "--ip-range", r)?;
        if let Some(first) = plan.ip_range {
            return Err(BadInput::new(
                "--ip-range",
                r,
                format!("one range per subnet ({first} given already)"),
            )
            .into());
        }
        plan.ip_range = Some(range);
    }
    for x in &a.aux_address {
        let (name, ip) = parse_aux(x)?;
        let plan = plan_of(&mut opts, Family::of(&ip), "--aux-address", x)?;
        if plan.aux_addresses.insert(name.clone(), ip).is_some() {
            return Err(BadInput::new("--aux-address", x, format!("{name} given twice")).into());
        }
    }
    opts.internal = a.internal;
    for o in &a.opt {
        let (key, value) = o
            .split_once('=')
            .ok_or_else(|| BadInput::new("-o", o, "expected KEY=VALUE"))?;
        opts.set_option(key, value)?;
    }
    if let Some(c) = &a.cluster {
        opts.set_option(bridge_net::OPT_CLUSTER, c)?;
    }
    for l in &a.label {
        let (key, value) = l.split_once('=').unwrap_or((l, ""));
        if key.is_empty() {
            return Err(BadInput::new("--label", l, "expected KEY=VALUE").into());
        }
        opts.labels.insert(key.to_owned(), value.to_owned());
    }
    opts.validate()?;
    Ok(opts)
}

fn mac_problem(e: brnet_netlink::Error) -> String {
    match e {
        brnet_netlink::Error::InvalidMac { problem, .. } => problem.to_owned(),
        other => other.to_string(),
    }
}

/// `network connect`'s flags as [`ConnectOptions`].
pub fn connect_options(a: &ConnectArgs) -> Result<ConnectOptions, Failure> {
    let mut opts = ConnectOptions {
        name: a.name.clone(),
        aliases: a.alias.clone(),
        gw_priority: a.gw_priority,
        ..ConnectOptions::default()
    };
    if let Some(ip) = &a.ip {
        let v4: Ipv4Addr = ip
            .parse()
            .map_err(|_| BadInput::new("--ip", ip, "not an IPv4 address"))?;
        opts.ipv4 = Some(v4);
    }
    if let Some(ip) = &a.ip6 {
        let v6: Ipv6Addr = ip
            .parse()
            .map_err(|_| BadInput::new("--ip6", ip, "not an IPv6 address"))?;
        opts.ipv6 = Some(v6);
    }
    if let Some(m) = &a.mac {
        let mac = m
            .parse::<MacAddr>()
            .and_then(MacAddr::unicast)
            .map_err(|e| BadInput::new("--mac", m, mac_problem(e)))?;
        opts.mac = MacPolicy::Fixed(mac);
    }
    if let Some(n) = &a.ifname {
        opts.ifname = Some(IfName::new(n).map_err(|e| BadInput::new("--ifname", n, e))?);
    }
    for alias in &a.alias {
        if alias.is_empty() || alias.chars().any(char::is_whitespace) {
            return Err(BadInput::new("--alias", alias, "expected a name without spaces").into());
        }
    }
    for p in &a.publish {
        let spec: PortSpec = p.parse().map_err(bridge_net::Error::from)?;
        opts.ports.push(spec);
    }
    if let Some(id) = &a.container_id {
        if id.is_empty()
            || id.len() > 255
            || id.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(BadInput::new(
                "--container-id",
                id,
                "expected 1 to 255 characters without spaces",
            )
            .into());
        }
        opts.container_id = Some(id.clone());
    }
    Ok(opts)
}

/// A NETNS argument: a name under /run/netns, or a path.
pub fn netns(s: &str) -> Result<NetnsRef, Failure> {
    Ok(s.parse::<NetnsRef>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command, NetworkCommand};
    use crate::failure::Exit;
    use clap::Parser;

    fn create(args: &[&str]) -> Result<NetworkOptions, Failure> {
        let mut all = vec!["brnet", "network", "create"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Network(NetworkCommand::Create(c)) => network_options(&c),
            _ => unreachable!(),
        }
    }

    fn connect(args: &[&str]) -> Result<ConnectOptions, Failure> {
        let mut all = vec!["brnet", "network", "connect"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["net", "ns"]);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Network(NetworkCommand::Connect(c)) => connect_options(&c),
            _ => unreachable!(),
        }
    }

    fn err(r: Result<impl std::fmt::Debug, Failure>) -> (Exit, String) {
        let e = r.unwrap_err();
        (e.exit(), e.to_string())
    }

    #[test]
    fn subnets_pair_by_family() {
        let o = create(&[
            "--subnet",
            "172.20.0.0/16",
            "--gateway",
            "172.20.0.254",
            "--ip-range",
            "172.20.5.0/24",
            "--subnet",
            "fd00:1::/64",
            "--gateway",
            "fd00:1::1",
            "--aux-address",
            "a=172.20.0.9",
            "--aux-address",
            "b=fd00:1::9",
            "n",
        ])
        .unwrap();
        assert_eq!(o.ipv4.subnet.unwrap().to_string(), "172.20.0.0/16");
        assert_eq!(o.ipv4.gateway.unwrap().to_string(), "172.20.0.254");
        assert_eq!(o.ipv4.ip_range.unwrap().to_string(), "172.20.5.0/24");
        assert_eq!(o.ipv4.aux_addresses["a"].to_string(), "172.20.0.9");
        let v6 = o.ipv6.unwrap();
        assert_eq!(v6.subnet.unwrap().to_string(), "fd00:1::/64");
        assert_eq!(v6.gateway.unwrap().to_string(), "fd00:1::1");
        assert_eq!(v6.aux_addresses["b"].to_string(), "fd00:1::9");
    }

    #[test]
    fn options_and_labels() {
        let o = create(&[
            "-o",
            "com.docker.network.bridge.name=br0",
            "-o",
            "com.docker.network.bridge.enable_icc=false",
            "--label",
            "team=net",
            "--label",
            "bare",
            "--internal",
            "n",
        ])
        .unwrap();
        assert_eq!(o.bridge_name.as_deref(), Some("br0"));
        assert!(!o.icc && o.internal);
        assert_eq!(o.labels["team"], "net");
        assert_eq!(o.labels["bare"], "");
    }

    #[test]
    fn ipv6_only_macvlan_and_no_addresses() {
        let o = create(&["--ipv6", "--subnet", "fd00::/64", "n"]).unwrap();
        assert!(!o.enable_ipv4 && o.ipv6.is_some());
        let o = create(&["--subnet", "fd00::/64", "n"]).unwrap();
        assert!(!o.enable_ipv4, "an IPv6 subnet alone: IPv6-only");
        let o = create(&["--ipv4", "--subnet", "fd00::/64", "n"]).unwrap();
        assert!(o.enable_ipv4, "--ipv4: dual-stack, IPv4 from the pools");
        let o = create(&["--ipv4=false", "n"]).unwrap();
        assert!(!o.enable_ipv4 && o.ipv6.is_none());
        let o = create(&[
            "-d",
            "macvlan",
            "-o",
            "parent=eth0",
            "-o",
            "macvlan_mode=private",
            "--subnet",
            "192.168.1.0/24",
            "n",
        ])
        .unwrap();
        assert_eq!(
            o.driver,
            Driver::Macvlan(bridge_net::MacvlanOptions {
                parent: Some("eth0".into()),
                mode: bridge_net::MacvlanMode::Private,
            })
        );
    }

    #[test]
    fn bad_create_input() {
        for (args, needle) in [
            (&["--subnet", "172.20.0.0/33", "n"][..], "172.20.0.0/33"),
            (&["--subnet", "300.1.1.1/16", "n"], "300.1.1.1/16"),
            (&["--subnet", "172.20.0.1/16", "n"], "host bits"),
            (
                &["--subnet", "10.1.0.0/16", "--subnet", "10.2.0.0/16", "n"],
                "one IPv4 subnet",
            ),
            (&["--gateway", "10.0.0.1", "n"], "no IPv4 --subnet"),
            (
                &["--subnet", "10.1.0.0/16", "--gateway", "fd00::1", "n"],
                "no IPv6 --subnet",
            ),
            (
                &["--subnet", "10.1.0.0/16", "--gateway", "10.2.0.1", "n"],
                "not inside subnet",
            ),
            (
                &["--ipv6", "n"],
                "invalid option --ipv6: needs an IPv6 --subnet",
            ),
            (&["-o", "com.example.nope=1", "n"], "unknown option"),
            (&["-o", "novalue", "n"], "KEY=VALUE"),
            (&["--aux-address", "x", "n"], "NAME=IP"),
            (
                &["-d", "macvlan", "n"],
                "macvlan network needs its LAN's IPv4 subnet",
            ),
            (&["-d", "ipvlan", "n"], "unknown driver"),
            (&["-o", "parent=eth0", "n"], "an option of macvlan networks"),
            (
                &["--ipv4=false", "--subnet", "10.1.0.0/16", "n"],
                "--ipv4=false",
            ),
            (&["bad name"], "invalid network name"),
        ] {
            let (code, msg) = err(create(args));
            assert_eq!(code, Exit::Usage, "{args:?}: {msg}");
            assert!(msg.contains(needle), "{args:?}: {msg}");
            assert!(!msg.contains('\n'));
        }
    }

    #[test]
    fn connect_input() {
        let o = connect(&[
            "--ip",
            "172.20.0.9",
            "--mac",
            "02:42:ac:14:00:09",
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1::53/udp",
            "--alias",
            "www",
        ])
        .unwrap();
        assert_eq!(o.ipv4, Some("172.20.0.9".parse().unwrap()));
        assert!(matches!(o.mac, MacPolicy::Fixed(m) if m.to_string() == "02:42:ac:14:00:09"));
        assert_eq!(o.ports.len(), 2);
        assert_eq!(o.aliases, ["www"]);
        for (args, needle) in [
            (&["--ip", "fd00::1"][..], "--ip="),
            (&["--ip6", "10.0.0.1"], "--ip6="),
            (&["--mac", "zz:42:ac:14:00:09"], "--mac="),
            (&["--mac", "01:00:5e:00:00:01"], "multicast"),
            (&["--mac", "00:00:00:00:00:00"], "all-zero"),
            (&["-p", "99999:80"], "99999:80"),
            (&["-p", "abc"], "\"abc\""),
            (&["--ifname", "a-very-long-interface-name"], "--ifname="),
        ] {
            let (code, msg) = err(connect(args));
            assert_eq!(code, Exit::Usage, "{args:?}: {msg}");
            assert!(msg.contains(needle), "{args:?}: {msg}");
        }
    }

    #[test]
    fn netns_refs() {
        assert_eq!(netns("c1").unwrap(), NetnsRef::Name("c1".into()));
        assert_eq!(
            netns("/proc/1/ns/net").unwrap(),
            NetnsRef::Path("/proc/1/ns/net".into())
        );
        assert_eq!(err(netns("")).0, Exit::Usage);
    }
}
