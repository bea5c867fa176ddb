//! IPv6-only networks (no IPv4 at all), end to end with real traffic: the
//! bridge holds the IPv6 gateway only, containers get an IPv6 address and
//! default route, neighbour discovery works between them, published ports
//! answer, egress is masqueraded (as netavark does) and networks stay
//! isolated. Also: dual-stack ports without a host address publish on
//! IPv6 too.

use std::net::SocketAddr;

use bridge_net::{BridgeNet, ConnectOptions, IpamConfig, NetnsRef, NetworkOptions};
use brnet_netlink::{IfName, Socket};
use brnet_netns::{Netns, NetnsDir};
use brnet_tests::*;

fn ns(name: &str) -> (Netns, NetnsRef) {
    let n = NetnsDir::default().create(name).unwrap();
    (n, name.parse().unwrap())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// An IPv6-only network's options: `subnet`, no IPv4.
pub fn v6_only(subnet: &str) -> NetworkOptions {
    NetworkOptions {
        enable_ipv4: false,
        ipv6: Some(IpamConfig {
            subnet: Some(subnet.parse().unwrap()),
            ..IpamConfig::default()
        }),
        ..NetworkOptions::default()
    }
}

/// An "outside" namespace over a veth from the sandbox's side, IPv6 only:
/// `host` (e.g. `2001:db8::1/64`) on our end, `inside` there, its default
/// route back through us. Addresses skip DAD (usable at once).
fn outside6(name: &str, host: &str, inside: &str) -> Netns {
    let (ns, c) = NetnsDir::default()
        .create_with(name, brnet_veth::Container::here)
        .unwrap();
    let mut c = c.unwrap();
    let mut nl = Socket::new().unwrap();
    let end = IfName::new(&format!("o-{name}")).unwrap();
    let gw: ipnet::IpNet = host.parse().unwrap();
    brnet_veth::create(
        &mut nl,
        &mut c,
        &brnet_veth::VethConfig {
            host_name: Some(end.clone()),
            addresses: vec![inside.parse().unwrap()],
            gateways: vec![gw.addr()],
            ..brnet_veth::VethConfig::default()
        },
    )
    .unwrap();
    let link = nl.link(&end).unwrap();
    nl.add_address_nodad(link.index, &gw).unwrap();
    ns
}

#[test]
fn an_ipv6_only_network_addresses_routes_ndp_ports_masquerade_and_isolation() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = v6_only("fd00:1::/64");
        o.bridge_name = Some("v6br".into());
        let net = b.create_network("v6", &o).unwrap();
        assert_eq!(net.subnet, None);
        assert_eq!(net.gateway, None);
        assert_eq!(net.subnet6.unwrap().to_string(), "fd00:1::/64");
        assert_eq!(net.gateway6.unwrap().to_string(), "fd00:1::1");
        // The bridge holds the IPv6 gateway and no IPv4 address.
        let br = ip_json(&["addr", "show", "dev", "v6br"]);
        let addrs: Vec<(String, String)> = br[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["family"].as_str().unwrap().to_owned(),
                    a["local"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            addrs.contains(&("inet6".into(), "fd00:1::1".into())),
            "{addrs:?}"
        );
        assert!(!addrs.iter().any(|(f, _)| f == "inet"), "{addrs:?}");

        let (c1, r1) = ns("c1");
        let (c2, r2) = ns("c2");
        let e1 = b.connect("v6", &r1, &ConnectOptions::default()).unwrap();
        let e2 = b.connect("v6", &r2, &ConnectOptions::default()).unwrap();
        assert_eq!(e1.ipv4, None);
        assert_eq!(e1.ipv6.unwrap().to_string(), "fd00:1::2/64");
        assert_eq!(e2.ipv6.unwrap().to_string(), "fd00:1::3/64");
        assert_eq!(e1.gateway6.unwrap().to_string(), "fd00:1::1");
        assert_eq!(e1.gateway4, None);
        assert!(e1.default_route);
        // No IPv4 to derive it from: a random, locally administered unicast MAC.
        assert_eq!(e1.mac.0[0] & 0b11, 0b10, "{}", e1.mac);
        let route = ip_json(&["-n", "c1", "-6", "route", "show", "default"]);
        assert_eq!(route[0]["gateway"], "fd00:1::1");
        let v4 = ip_json(&["-n", "c1", "-4", "addr", "show", "dev", "eth0"]);
        assert!(
            v4.as_array()
                .unwrap()
                .iter()
                .all(|l| l["addr_info"].as_array().is_none_or(|a| a.is_empty())),
            "{v4}"
        );

        // Neighbour discovery between containers, and to the gateway.
        serve(listen_in(&c2, addr("[fd00:1::3]:80")), "c2");
        assert_eq!(
            fetch(Some(&c1), addr("[fd00:1::3]:80"), LONG).unwrap(),
            "c2 fd00:1::2\n"
        );
        serve(
            listen_in(&Netns::current().unwrap(), addr("[fd00:1::1]:7000")),
            "gateway",
        );
        assert_eq!(
            fetch(Some(&c2), addr("[fd00:1::1]:7000"), LONG).unwrap(),
            "gateway fd00:1::3\n"
        );

        // A published port, from the host (the gateway's address) and from
        // outside; egress masqueraded behind the host's address.
        let out = outside6("out", "2001:db8::1/64", "2001:db8::2/64");
        let (web, rweb) = ns("web");
        let w = b
            .connect(
                "v6",
                &rweb,
                &ConnectOptions {
                    ports: vec!["8080:80".parse().unwrap()],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(w.ports.len(), 1, "{:?}", w.ports);
        assert!(w.ports[0].container().is_ipv6());
        serve(listen_in(&web, addr("[::]:80")), "web");
        assert_eq!(
            fetch(None, addr("[fd00:1::1]:8080"), LONG).unwrap(),
            "web fd00:1::1\n"
        );
        assert_eq!(
            fetch(Some(&out), addr("[2001:db8::1]:8080"), LONG).unwrap(),
            "web 2001:db8::2\n"
        );
        serve(listen_in(&out, addr("[2001:db8::2]:9000")), "outside");
        assert_eq!(
            fetch(Some(&c1), addr("[2001:db8::2]:9000"), LONG).unwrap(),
            "outside 2001:db8::1\n"
        );

        // Isolation from another IPv6-only network, both ways.
        b.create_network("v6b", &v6_only("fd00:2::/64")).unwrap();
        let (c3, r3) = ns("c3");
        let e3 = b.connect("v6b", &r3, &ConnectOptions::default()).unwrap();
        assert_eq!(e3.ipv6.unwrap().to_string(), "fd00:2::2/64");
        serve(listen_in(&c3, addr("[fd00:2::2]:80")), "c3");
        assert!(!can_connect(Some(&c1), addr("[fd00:2::2]:80"), SHORT));
        assert!(!can_connect(Some(&c3), addr("[fd00:1::3]:80"), SHORT));
        assert!(can_connect(None, addr("[fd00:2::2]:80"), LONG));

        // An IPv4 address cannot be asked of it.
        let (_c4, r4) = ns("c4");
        let err = b
            .connect(
                "v6",
                &r4,
                &ConnectOptions {
                    ipv4: Some("10.0.0.5".parse().unwrap()),
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("10.0.0.5") && err.contains("no IPv4"), "{err}");

        // Everything goes, the bridge too.
        for r in [&r1, &r2, &rweb] {
            assert!(b.disconnect("v6", r).unwrap());
        }
        assert!(b.remove_network("v6").unwrap());
        assert!(!link_names().contains(&"v6br".to_owned()));
        // Reopening (replaying the journal) keeps the IPv6-only network.
        drop(b);
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let n = b.network("v6b").unwrap();
        assert_eq!((n.subnet, n.endpoints), (None, 1));
        // Its bridge deleted behind our back: reconcile makes it again,
        // with the IPv6 gateway, and puts the container's veth back on it.
        ip(&["link", "del", &n.bridge]);
        let report = b.reconcile().unwrap();
        assert_eq!(report.bridges_recreated, std::slice::from_ref(&n.bridge));
        assert_eq!(report.ports_reattached.len(), 1, "{report:?}");
        assert!(can_connect(None, addr("[fd00:2::2]:80"), LONG));
    });
}

#[test]
fn an_ipv6_only_network_refuses_ipv4_settings_and_needs_its_subnet() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = v6_only("fd00:1::/64");
        o.ipv4.subnet = Some("10.1.0.0/16".parse().unwrap());
        let err = b.create_network("v6", &o).unwrap_err().to_string();
        assert!(err.contains("10.1.0.0/16") && err.contains("IPv4"), "{err}");
        let mut o = v6_only("fd00:1::/64");
        o.ipv6 = Some(IpamConfig::default());
        let err = b.create_network("v6", &o).unwrap_err().to_string();
        assert!(err.contains("IPv6"), "{err}");
        assert!(b.networks().unwrap().is_empty());
    });
}

/// A dual-stack network's port published without a host address answers
/// on the host's IPv6 addresses too, not on IPv4 alone.
#[test]
fn dual_stack_ports_without_a_host_address_publish_on_ipv6_too() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        o.ipv6 = Some(IpamConfig {
            subnet: Some("fd00:20::/64".parse().unwrap()),
            ..IpamConfig::default()
        });
        b.create_network("dual", &o).unwrap();
        let out = outside6("out", "2001:db8::1/64", "2001:db8::2/64");
        let (web, rweb) = ns("web");
        let e = b
            .connect(
                "dual",
                &rweb,
                &ConnectOptions {
                    ports: vec!["8080:80".parse().unwrap(), "9090:90/udp".parse().unwrap()],
                    ..Default::default()
                },
            )
            .unwrap();
        // Each port on both families.
        let families: Vec<(u16, bool)> = e
            .ports
            .iter()
            .map(|p| (p.host_ports().start(), p.container().is_ipv6()))
            .collect();
        for want in [(8080, false), (8080, true), (9090, false), (9090, true)] {
            assert!(families.contains(&want), "{want:?} in {families:?}");
        }
        serve(listen_in(&web, addr("[::]:80")), "web");
        // IPv4 as before, IPv6 on the gateway and from outside.
        assert_eq!(
            fetch(None, addr("172.20.0.1:8080"), LONG).unwrap(),
            "web ::ffff:172.20.0.1\n"
        );
        assert_eq!(
            fetch(None, addr("[fd00:20::1]:8080"), LONG).unwrap(),
            "web fd00:20::1\n"
        );
        assert_eq!(
            fetch(Some(&out), addr("[2001:db8::1]:8080"), LONG).unwrap(),
            "web 2001:db8::2\n"
        );
        let _udp = udp_echo_server(&web, addr("[::]:90"));
        assert_eq!(
            udp_echo(Some(&out), addr("[2001:db8::1]:9090"), LONG).unwrap(),
            "ping"
        );
        // The same host port on IPv6 alone is taken now.
        let (_c2, r2) = ns("c2");
        let err = b
            .connect(
                "dual",
                &r2,
                &ConnectOptions {
                    ports: vec!["[::]:8080:80".parse().unwrap()],
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("8080"), "{err}");
        // Disconnect takes both families' rules.
        assert!(b.disconnect("dual", &rweb).unwrap());
        assert!(!can_connect(Some(&out), addr("[2001:db8::1]:8080"), SHORT));
    });
}

/// An echo server for UDP at `addr` inside `ns`, on a background thread.
fn udp_echo_server(ns: &Netns, addr: SocketAddr) -> std::thread::JoinHandle<()> {
    let s = ns
        .run(move || std::net::UdpSocket::bind(addr))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], peer);
        }
    })
}
