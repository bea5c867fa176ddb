//! Topologies built with iproute2 inside a sandbox: bridges with gateway
//! addresses, containers (named namespaces on a veth into a bridge) and an
//! "outside" namespace standing for the world beyond the host.

use brnet_netns::{Netns, NetnsDir};

use crate::cmd::{ip, sh};

/// `ip [-n NS] addr add CIDR dev DEV`, with `nodad` for IPv6 (so the
/// address is usable at once).
fn add_addr(ns: Option<&str>, cidr: &str, dev: &str) {
    let mut args = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["addr", "add", cidr, "dev", dev]);
    if cidr.contains(':') {
        args.push("nodad");
    }
    ip(&args);
}

/// The sandbox as a router: IPv4 and IPv6 forwarding on.
pub fn router() {
    sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
    sh("echo 1 > /proc/sys/net/ipv6/conf/all/forwarding");
}

/// A bridge `name` with gateway addresses `gateways` (CIDR), up.
pub fn network(name: &str, gateways: &[&str]) {
    ip(&["link", "add", name, "type", "bridge"]);
    for gw in gateways {
        add_addr(None, gw, name);
    }
    ip(&["link", "set", name, "up"]);
}

/// `route_localnet` on `dev`: 127.0.0.0/8 may be routed out of it (for
/// ports published on loopback).
pub fn route_localnet(dev: &str) {
    sh(&format!(
        "echo 1 > /proc/sys/net/ipv4/conf/{dev}/route_localnet"
    ));
}

/// A container `name` (a named namespace, `lo` up) with `eth0` on `bridge`
/// carrying `addrs` (CIDR); the host end is `v<name><last 3 of bridge>`.
pub fn container(name: &str, bridge: &str, addrs: &[&str]) -> Netns {
    let ns = NetnsDir::default().create(name).expect("create namespace");
    attach(name, bridge, "eth0", addrs);
    ip(&["-n", name, "link", "set", "lo", "up"]);
    ns
}

/// One more interface `ifname` for an existing container, on `bridge`.
pub fn attach(name: &str, bridge: &str, ifname: &str, addrs: &[&str]) {
    let host_end = format!("v{name}{}", &bridge[bridge.len().saturating_sub(3)..]);
    ip(&[
        "link", "add", &host_end, "type", "veth", "peer", "name", ifname, "netns", name,
    ]);
    ip(&["link", "set", &host_end, "master", bridge, "up"]);
    for a in addrs {
        add_addr(Some(name), a, ifname);
    }
    ip(&["-n", name, "link", "set", ifname, "up"]);
}

/// A default route in the named namespace `ns` via `gateway` (an address).
pub fn default_route(ns: &str, gateway: &str) {
    ip(&["-n", ns, "route", "add", "default", "via", gateway]);
}

/// An "outside" namespace `name` reached from the sandbox over a veth
/// (`o-<name>` on the sandbox's side with `host_cidr`, `eth0` inside with
/// `inside_cidr`). It has no route beyond that link: replies to container
/// subnets need masquerade.
pub fn outside(name: &str, host_cidr: &str, inside_cidr: &str) -> Netns {
    let ns = NetnsDir::default().create(name).expect("create namespace");
    let host_end = format!("o-{name}");
    ip(&[
        "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", name,
    ]);
    add_addr(None, host_cidr, &host_end);
    ip(&["link", "set", &host_end, "up"]);
    add_addr(Some(name), inside_cidr, "eth0");
    ip(&["-n", name, "link", "set", "eth0", "up"]);
    ip(&["-n", name, "link", "set", "lo", "up"]);
    ns
}

/// [`outside`] with a default route back through the sandbox's end.
pub fn outside_routed(name: &str, host_cidr: &str, inside_cidr: &str) -> Netns {
    let ns = outside(name, host_cidr, inside_cidr);
    let gw = host_cidr.split('/').next().unwrap_or(host_cidr);
    default_route(name, gw);
    ns
}

/// The underlay of multi-host tests: a bridge `ul` with 10.99.0.254/24 in
/// the sandbox's own namespace, the "switch" every host is plugged into.
pub fn underlay() {
    network("ul", &["10.99.0.254/24"]);
}

/// A "host" on the [`underlay`]: the named namespace `h<n>` with `lo` up
/// and `eth0` 10.99.0.`n`/24 (its other end `uh<n>` on `ul`), up; no route
/// beyond the underlay (see [`default_route`]).
pub fn host(n: u8) -> Netns {
    let name = format!("h{n}");
    let ns = NetnsDir::default().create(&name).expect("create namespace");
    let host_end = format!("uh{n}");
    ip(&[
        "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &name,
    ]);
    ip(&["link", "set", &host_end, "master", "ul", "up"]);
    add_addr(Some(&name), &format!("10.99.0.{n}/24"), "eth0");
    ip(&["-n", &name, "link", "set", "eth0", "up"]);
    ip(&["-n", &name, "link", "set", "lo", "up"]);
    ns
}

/// A fresh named namespace `name` (nothing in it but `lo`, down); its
/// path, as a runtime passes it to a front end.
pub fn named_netns(name: &str) -> String {
    let dir = NetnsDir::default();
    dir.create(name).expect("create namespace");
    let path = dir.path_of(name).expect("namespace path");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// The shell commands of [`lan`], for a host that runs them itself (a
/// Podman sandbox): namespace `lan`, `eth0` in it with 192.168.50.1/24 and
/// fd50::1/64, its peer `parent` here, up, without an address.
pub fn lan_script(parent: &str) -> String {
    format!(
        "ip netns add lan
         ip link add {parent} type veth peer name eth0 netns lan
         ip link set {parent} up
         ip -n lan addr add 192.168.50.1/24 dev eth0
         ip -n lan addr add fd50::1/64 dev eth0 nodad
         ip -n lan link set eth0 up
         ip -n lan link set lo up"
    )
}

/// "The LAN" of macvlan tests: a namespace `lan` whose `eth0`
/// (192.168.50.1/24, fd50::1/64: the LAN's router) is the peer of `parent`
/// here, which is up without an address, as a host's NIC under macvlans
/// is.
pub fn lan(parent: &str) -> Netns {
    sh(&format!("set -e\n{}", lan_script(parent)));
    NetnsDir::default().open("lan").expect("open namespace lan")
}
