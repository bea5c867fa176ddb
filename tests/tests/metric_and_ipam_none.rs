//! Default-route metrics (netavark's `options.metric`) and networks
//! without addresses (IPAM driver `none`), end to end.

use std::net::SocketAddr;

use bridge_net::{BridgeNet, ConnectOptions, IpamConfig, NetnsRef, NetworkOptions};
use brnet_netns::{Netns, NetnsDir};
use brnet_tests::*;

fn ns(name: &str) -> (Netns, NetnsRef) {
    let n = NetnsDir::default().create(name).unwrap();
    (n, name.parse().unwrap())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn dual(v4: &str, v6: &str, metric: Option<u32>) -> NetworkOptions {
    let mut o = NetworkOptions {
        metric,
        ..NetworkOptions::default()
    };
    o.ipv4.subnet = Some(v4.parse().unwrap());
    o.ipv6 = Some(IpamConfig {
        subnet: Some(v6.parse().unwrap()),
        ..IpamConfig::default()
    });
    o
}

/// `(gateway, metric)` of the default routes of `ns`, for `-4` or `-6`.
fn defaults(ns: &str, family: &str) -> Vec<(String, u64)> {
    ip_json(&["-n", ns, family, "route", "show", "default"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["gateway"].as_str().unwrap_or_default().to_owned(),
                r["metric"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_networks_metric_orders_the_default_routes_of_a_namespace() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("a", &dual("10.89.1.0/24", "fd89:1::/64", Some(200)))
            .unwrap();
        b.create_network("b", &dual("10.89.2.0/24", "fd89:2::/64", Some(100)))
            .unwrap();
        b.create_network("c", &dual("10.89.3.0/24", "fd89:3::/64", Some(100)))
            .unwrap();
        let (_c1, r1) = ns("c1");
        let ea = b.connect("a", &r1, &ConnectOptions::default()).unwrap();
        assert_eq!(defaults("c1", "-4"), [("10.89.1.1".to_owned(), 200)]);
        assert_eq!(defaults("c1", "-6"), [("fd89:1::1".to_owned(), 200)]);
        // A second network with a lower metric: its route goes first.
        let eb = b.connect("b", &r1, &ConnectOptions::default()).unwrap();
        assert!(ea.default_route && eb.default_route);
        assert_eq!(
            defaults("c1", "-4"),
            [("10.89.2.1".to_owned(), 100), ("10.89.1.1".to_owned(), 200)]
        );
        assert_eq!(
            defaults("c1", "-6"),
            [("fd89:2::1".to_owned(), 100), ("fd89:1::1".to_owned(), 200)]
        );
        // The same metric as a route there already: the first one keeps it.
        let ec = b.connect("c", &r1, &ConnectOptions::default()).unwrap();
        assert!(!ec.default_route);
        assert_eq!(defaults("c1", "-4").len(), 2);
        // Traffic leaves by the lowest metric: through b's gateway.
        let out = ip(&["-n", "c1", "-j", "route", "get", "192.0.2.9"]);
        assert!(out.contains("10.89.2.1"), "{out}");
        // Disconnecting takes the network's routes with it.
        assert!(b.disconnect("b", &r1).unwrap());
        assert_eq!(defaults("c1", "-4"), [("10.89.1.1".to_owned(), 200)]);
    });
}

#[test]
fn without_a_metric_the_first_network_holds_the_default_route() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("a", &dual("10.89.1.0/24", "fd89:1::/64", None))
            .unwrap();
        b.create_network("b", &dual("10.89.2.0/24", "fd89:2::/64", None))
            .unwrap();
        let (_c1, r1) = ns("c1");
        b.connect("a", &r1, &ConnectOptions::default()).unwrap();
        let eb = b.connect("b", &r1, &ConnectOptions::default()).unwrap();
        assert!(!eb.default_route);
        // The kernel's own metrics: 0 for IPv4, 1024 for IPv6.
        assert_eq!(defaults("c1", "-4"), [("10.89.1.1".to_owned(), 0)]);
        assert_eq!(defaults("c1", "-6"), [("fd89:1::1".to_owned(), 1024)]);
    });
}

#[test]
fn a_bridge_network_without_addresses_gives_links_and_nothing_else() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let o = NetworkOptions {
            enable_ipv4: false,
            bridge_name: Some("nobr0".into()),
            ..NetworkOptions::default()
        };
        let net = b.create_network("none", &o).unwrap();
        assert_eq!((net.subnet, net.subnet6), (None, None));
        let br = ip_json(&["addr", "show", "dev", "nobr0"]);
        assert!(
            br[0]["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["family"] != "inet"),
            "{br}"
        );
        let (c1, r1) = ns("c1");
        let (c2, r2) = ns("c2");
        let e1 = b.connect("none", &r1, &ConnectOptions::default()).unwrap();
        b.connect("none", &r2, &ConnectOptions::default()).unwrap();
        assert_eq!((e1.ipv4, e1.ipv6, e1.default_route), (None, None, false));
        let l = ip_json(&["-n", "c1", "link", "show", "eth0"]);
        assert_eq!(l[0]["address"], e1.mac.to_string());
        assert!(l[0]["flags"].as_array().unwrap().contains(&"UP".into()));
        assert!(
            ip_json(&["-n", "c1", "route", "show"])
                .as_array()
                .unwrap()
                .is_empty()
        );
        // Addresses the containers give themselves work over the bridge.
        ip(&["-n", "c1", "addr", "add", "192.168.5.1/24", "dev", "eth0"]);
        ip(&["-n", "c2", "addr", "add", "192.168.5.2/24", "dev", "eth0"]);
        serve(listen_in(&c2, addr("192.168.5.2:80")), "c2");
        assert_eq!(
            fetch(Some(&c1), addr("192.168.5.2:80"), LONG).unwrap(),
            "c2 192.168.5.1\n"
        );
        // Ports have no address to go to; a DNS network no gateway to answer on.
        let (_c3, r3) = ns("c3");
        let err = b
            .connect(
                "none",
                &r3,
                &ConnectOptions {
                    ports: vec!["8080:80".parse().unwrap()],
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("without addresses publishes no ports"),
            "{err}"
        );
        let err = b
            .create_network(
                "nodns",
                &NetworkOptions {
                    enable_ipv4: false,
                    dns: Some(true),
                    ..NetworkOptions::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("dns") || err.contains("DNS"), "{err}");
        // All gone with it.
        for r in [&r1, &r2] {
            assert!(b.disconnect("none", r).unwrap());
        }
        assert!(b.remove_network("none").unwrap());
        assert!(!link_names().contains(&"nobr0".to_owned()));
    });
}
