//! The multi-host harness: inside the test's throwaway sandbox, an
//! underlay bridge `ul` (10.99.0.254/24), "hosts" (network namespaces
//! `hN` with `eth0` 10.99.0.N/24 on it), containers (namespaces with an
//! `eth0` on a host's bridge), and a real etcd started by the test on an
//! underlay address, killed through its own `Child` (the test kit's
//! [`Etcd`]).

#![allow(dead_code)]

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brnet_netlink::{BridgeSpec, IfName, MacAddr, RouteSpec, Socket, VethSpec};
use brnet_netns::{Netns, NetnsDir};
use brnet_overlay::dataplane::{self, VtepSpec};

pub fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The underlay bridge `ul` (10.99.0.254/24) in the sandbox's own
/// namespace (the test kit's).
pub fn underlay() {
    brnet_testkit::topo::underlay();
}

/// A host: namespace `hN`, `eth0` 10.99.0.N/24 on the underlay.
pub struct Host {
    pub n: u8,
    pub ns: Netns,
    pub vtep: IpAddr,
}

impl Host {
    pub fn new(n: u8) -> Host {
        // `hN` with `lo` and `eth0` up (the test kit's).
        let ns = brnet_testkit::topo::host(n);
        let vtep = ip(&format!("10.99.0.{n}"));
        Host { n, ns, vtep }
    }

    pub fn nl(&self) -> Socket {
        Socket::open_in(&self.ns).unwrap()
    }

    /// The network's bridge `br-<vni>` with the gateway, and its VTEP on
    /// it. Returns the vxlan device's index.
    pub fn network(&self, vni: u32, gateway: &str) -> u32 {
        let mut nl = self.nl();
        let br = name(&format!("br-{vni}"));
        nl.create_bridge(&BridgeSpec::new(&br)).unwrap();
        let bri = nl.link(&br).unwrap().index;
        nl.add_address(bri, &gateway.parse().unwrap()).unwrap();
        let (underlay, _) = dataplane::underlay_of(&mut nl, self.vtep).unwrap();
        dataplane::create_vtep(
            &mut nl,
            &VtepSpec {
                vni,
                local: self.vtep,
                underlay,
                bridge: Some(bri),
                mtu: None,
            },
        )
        .unwrap()
    }

    /// A container `cname` on network `vni`'s bridge: eth0 `addr`, MAC
    /// `mac`, MTU 1450, default route via `gw`.
    pub fn container(&self, cname: &str, vni: u32, addr: &str, mac: MacAddr, gw: &str) -> Netns {
        let ns = NetnsDir::default().create(cname).unwrap();
        let mut nl = self.nl();
        let bri = nl.link_by_name(&format!("br-{vni}")).unwrap().index;
        nl.create_veth(&VethSpec {
            name: &name(&format!("v{cname}")),
            peer_name: &name("eth0"),
            peer_netns: Some(ns.fd()),
            master: Some(bri),
            mtu: Some(1450),
            mac: None,
            peer_mac: Some(mac),
            up: true,
            peer_up: false,
        })
        .unwrap();
        let mut c = Socket::open_in(&ns).unwrap();
        let eth0 = c.link_by_name("eth0").unwrap().index;
        c.add_address(eth0, &addr.parse().unwrap()).unwrap();
        c.set_up(eth0).unwrap();
        c.add_route(&RouteSpec::default_via(ip(gw))).unwrap();
        ns
    }
}

/// `ping -c N` from namespace `from` (by name); whether every reply came.
pub fn ping(from: &str, to: &str, count: u32) -> bool {
    Command::new("ip")
        .args(["netns", "exec", from, "ping", "-q", "-n", "-c"])
        .arg(count.to_string())
        .args(["-i", "0.05", "-W", "1", to])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Poll `f` every 50 ms until it holds or `limit` passes; how long it
/// took.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A real etcd member (the test kit's), killed on drop.
pub use brnet_testkit::etcd::Etcd;
