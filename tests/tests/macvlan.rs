//! macvlan networks, end to end with real traffic: containers get a
//! macvlan of a parent link (here a veth whose peer is "the LAN", a
//! namespace with the LAN's router), in each mode; MTU, a static MAC,
//! internal networks, no addresses (IPAM none), the same interface name
//! on the host and in the container, and nothing left behind.

use std::net::SocketAddr;

use bridge_net::{
    BridgeNet, ConnectOptions, Driver, IpamConfig, MacPolicy, MacvlanMode, MacvlanOptions,
    NetnsRef, NetworkOptions,
};
use brnet_netns::{Netns, NetnsDir};
use brnet_testkit::topo::lan;
use brnet_tests::*;

fn ns(name: &str) -> (Netns, NetnsRef) {
    let n = NetnsDir::default().create(name).unwrap();
    (n, name.parse().unwrap())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn macvlan(parent: &str, mode: MacvlanMode, subnet: Option<&str>) -> NetworkOptions {
    let mut o = NetworkOptions {
        driver: Driver::Macvlan(MacvlanOptions {
            parent: Some(parent.to_owned()),
            mode,
        }),
        ..NetworkOptions::default()
    };
    match subnet {
        Some(s) => {
            o.ipv4.subnet = Some(s.parse().unwrap());
        }
        None => o.enable_ipv4 = false,
    }
    o
}

/// The container's `eth0` as `ip -d -j link` shows it.
fn eth0(ns: &str) -> serde_json::Value {
    ip_json(&["-n", ns, "-d", "link", "show", "eth0"])[0].clone()
}

#[test]
fn a_macvlan_network_in_bridge_mode_reaches_the_lan_and_its_containers() {
    brnet_testkit::sandboxed(|| {
        let lan = lan("lan0");
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = macvlan("lan0", MacvlanMode::Bridge, Some("192.168.50.0/24"));
        o.ipv4.gateway = Some("192.168.50.1".parse().unwrap());
        o.ipv6 = Some(IpamConfig {
            subnet: Some("fd50::/64".parse().unwrap()),
            gateway: Some("fd50::1".parse().unwrap()),
            ..IpamConfig::default()
        });
        let net = b.create_network("mv", &o).unwrap();
        assert_eq!(net.bridge, "lan0", "the parent");
        let links_before = link_names();
        let (c1, r1) = ns("c1");
        let (c2, r2) = ns("c2");
        let e1 = b.connect("mv", &r1, &ConnectOptions::default()).unwrap();
        let e2 = b.connect("mv", &r2, &ConnectOptions::default()).unwrap();
        assert_eq!(e1.ipv4.unwrap().to_string(), "192.168.50.2/24");
        assert_eq!(e2.ipv4.unwrap().to_string(), "192.168.50.3/24");
        assert_eq!(e1.ipv6.unwrap().to_string(), "fd50::2/64");
        assert_eq!(e1.gateway4.unwrap().to_string(), "192.168.50.1");
        assert!(
            e1.dns_servers.is_empty(),
            "no resolver on a macvlan network"
        );
        // Nothing new on the host: the link is in the container.
        assert_eq!(link_names(), links_before);
        let l = eth0("c1");
        assert_eq!(l["linkinfo"]["info_kind"], "macvlan");
        assert_eq!(l["linkinfo"]["info_data"]["mode"], "bridge");
        assert_eq!(l["address"], e1.mac.to_string());
        assert!(l["flags"].as_array().unwrap().contains(&"UP".into()));
        let route = ip_json(&["-n", "c1", "route", "show", "default"]);
        assert_eq!(route[0]["gateway"], "192.168.50.1");
        let route6 = ip_json(&["-n", "c1", "-6", "route", "show", "default"]);
        assert_eq!(route6[0]["gateway"], "fd50::1");
        // No address of its own from router advertisements.
        let autoconf = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                "c1",
                "cat",
                "/proc/sys/net/ipv6/conf/eth0/autoconf",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&autoconf.stdout).trim(), "0");

        // The LAN's router, both families; the containers, each other.
        assert!(ping("c1", "192.168.50.1"));
        serve(listen_in(&lan, addr("[::]:80")), "lan");
        assert_eq!(
            fetch(Some(&c1), addr("192.168.50.1:80"), LONG).unwrap(),
            "lan ::ffff:192.168.50.2\n"
        );
        assert_eq!(
            fetch(Some(&c2), addr("[fd50::1]:80"), LONG).unwrap(),
            "lan fd50::3\n"
        );
        serve(listen_in(&c2, addr("192.168.50.3:80")), "c2");
        assert_eq!(
            fetch(Some(&c1), addr("192.168.50.3:80"), LONG).unwrap(),
            "c2 192.168.50.2\n"
        );
        assert_eq!(
            fetch(Some(&lan), addr("192.168.50.3:80"), LONG).unwrap(),
            "c2 192.168.50.1\n"
        );

        // Ports are not published on a macvlan network: its containers are
        // on the LAN at their own addresses.
        let (_c3, r3) = ns("c3");
        let err = b
            .connect(
                "mv",
                &r3,
                &ConnectOptions {
                    ports: vec!["8080:80".parse().unwrap()],
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("macvlan"), "{err}");

        // Reconcile (every open) leaves the parent and the macvlans alone.
        drop(b);
        let mut b = BridgeNet::open(dir.path()).unwrap();
        assert!(b.reconcile().unwrap().is_clean());
        assert_eq!(link_names(), links_before);
        assert_eq!(b.network("mv").unwrap().endpoints, 2);
        assert!(ping("c1", "192.168.50.3"));
        // Gone with disconnect; the parent stays with the network's removal.
        assert!(b.disconnect("mv", &r1).unwrap());
        assert!(
            ip_json(&["-n", "c1", "link", "show"])
                .as_array()
                .unwrap()
                .len()
                == 1,
            "only lo left in c1"
        );
        assert!(b.disconnect("mv", &r2).unwrap());
        assert!(b.remove_network("mv").unwrap());
        assert!(link_names().contains(&"lan0".to_owned()));
        assert!(ping("lan", "192.168.50.1"));
    });
}

#[test]
fn macvlan_modes_mtu_static_mac_and_internal() {
    brnet_testkit::sandboxed(|| {
        let _lan = lan("lan0");
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        for (mode, name) in [
            (MacvlanMode::Bridge, "bridge"),
            (MacvlanMode::Private, "private"),
            (MacvlanMode::Vepa, "vepa"),
            (MacvlanMode::Passthru, "passthru"),
            (MacvlanMode::Source, "source"),
        ] {
            let mut o = macvlan("lan0", mode, Some("192.168.50.0/24"));
            o.mtu = Some(1400);
            b.create_network("mv", &o).unwrap();
            let (_c, r) = ns("c");
            let fixed = ConnectOptions {
                mac: MacPolicy::Fixed("aa:bb:cc:dd:ee:ff".parse().unwrap()),
                ..Default::default()
            };
            // passthru gives the container the parent's own MAC: no other.
            let e = if mode == MacvlanMode::Passthru {
                let err = b.connect("mv", &r, &fixed).unwrap_err().to_string();
                assert!(err.contains("passthru"), "{err}");
                let e = b.connect("mv", &r, &ConnectOptions::default()).unwrap();
                let parent = &ip_json(&["link", "show", "lan0"])[0]["address"];
                assert_eq!(parent.as_str().unwrap(), e.mac.to_string());
                e
            } else {
                let e = b.connect("mv", &r, &fixed).unwrap();
                assert_eq!(e.mac.to_string(), "aa:bb:cc:dd:ee:ff");
                e
            };
            let l = eth0("c");
            assert_eq!(l["linkinfo"]["info_data"]["mode"], name);
            assert_eq!(l["mtu"], 1400, "{name}");
            assert_eq!(l["address"], e.mac.to_string(), "{name}");
            assert!(b.disconnect("mv", &r).unwrap());
            assert!(b.remove_network("mv").unwrap());
            NetnsDir::default().delete("c").unwrap();
        }

        // private: the LAN, not each other.
        b.create_network(
            "priv",
            &macvlan("lan0", MacvlanMode::Private, Some("192.168.50.0/24")),
        )
        .unwrap();
        let (_p1, rp1) = ns("p1");
        let (p2, rp2) = ns("p2");
        b.connect("priv", &rp1, &ConnectOptions::default()).unwrap();
        b.connect("priv", &rp2, &ConnectOptions::default()).unwrap();
        serve(listen_in(&p2, addr("192.168.50.3:80")), "p2");
        assert!(ping("p1", "192.168.50.1"));
        assert!(!ping("p1", "192.168.50.3"));

        // internal: no default route.
        let mut o = macvlan("lan0", MacvlanMode::Bridge, Some("192.168.60.0/24"));
        o.internal = true;
        b.create_network("int", &o).unwrap();
        let (_i, ri) = ns("i");
        let e = b.connect("int", &ri, &ConnectOptions::default()).unwrap();
        assert!(!e.default_route && e.gateway4.is_none());
        assert!(
            ip_json(&["-n", "i", "route", "show", "default"])
                .as_array()
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn macvlan_without_addresses_and_interface_names() {
    brnet_testkit::sandboxed(|| {
        let _lan = lan("lan0");
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        // IPAM none: a link and no address, no route.
        b.create_network("none", &macvlan("lan0", MacvlanMode::Bridge, None))
            .unwrap();
        let (_n, rn) = ns("n");
        let e = b.connect("none", &rn, &ConnectOptions::default()).unwrap();
        assert_eq!((e.ipv4, e.ipv6, e.default_route), (None, None, false));
        let l = ip_json(&["-n", "n", "addr", "show", "dev", "eth0"]);
        assert!(
            l[0]["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["family"] != "inet"),
            "{l}"
        );
        assert!(
            ip_json(&["-n", "n", "route", "show"])
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert!(b.disconnect("none", &rn).unwrap());
        assert!(b.remove_network("none").unwrap());

        // The host has an eth0 too: the container's is made all the same.
        ip(&[
            "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
        ]);
        b.create_network(
            "mv",
            &macvlan("lan0", MacvlanMode::Bridge, Some("192.168.50.0/24")),
        )
        .unwrap();
        let (_c, rc) = ns("c");
        b.connect("mv", &rc, &ConnectOptions::default()).unwrap();
        assert_eq!(eth0("c")["linkinfo"]["info_kind"], "macvlan");
        assert_eq!(eth0_kind_here(), "veth", "the host's eth0 is untouched");

        // The container has an eth0 already: an error naming it, and
        // nothing left behind, here or there.
        let (_d, rd) = ns("d");
        ip(&[
            "-n", "d", "link", "add", "eth0", "type", "veth", "peer", "name", "x0",
        ]);
        let before = link_names();
        let err = b
            .connect("mv", &rd, &ConnectOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("eth0"), "{err}");
        assert_eq!(link_names(), before);
        let inside = ip_json(&["-n", "d", "link", "show"]);
        assert_eq!(
            inside.as_array().unwrap().len(),
            3,
            "lo, eth0, x0: {inside}"
        );
        // A parent that is not there: an error naming it.
        let err = b
            .create_network(
                "gone",
                &macvlan("nolink0", MacvlanMode::Bridge, Some("192.168.70.0/24")),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("nolink0"), "{err}");
        // Another network on the same parent (another subnet of the LAN),
        // as netavark allows.
        b.create_network(
            "again",
            &macvlan("lan0", MacvlanMode::Bridge, Some("192.168.80.0/24")),
        )
        .unwrap();
        let (_e, re) = ns("e");
        let e = b.connect("again", &re, &ConnectOptions::default()).unwrap();
        assert_eq!(e.ipv4.unwrap().to_string(), "192.168.80.2/24");
    });
}

fn eth0_kind_here() -> String {
    ip_json(&["-d", "link", "show", "eth0"])[0]["linkinfo"]["info_kind"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
