//! The foundation's link-level picture, proven by real traffic: a bridge,
//! veth pairs into named namespaces, addresses and default routes.

use std::net::SocketAddr;

use brnet_bridge::{BridgeConfig, ensure};
use brnet_netlink::{Error as NlError, IfName, Socket};
use brnet_netns::{Netns, NetnsDir};
use brnet_tests::*;
use brnet_veth::{Container, VethConfig, create};

fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

/// br0 172.30.0.1/24 with c1 (.2) and c2 (.3).
fn two_containers(disable_ipv6: bool) -> (Socket, u32, Netns, Netns) {
    let mut nl = Socket::new().unwrap();
    let br = ensure(
        &mut nl,
        &BridgeConfig {
            addresses: vec!["172.30.0.1/24".parse().unwrap()],
            ..BridgeConfig::new(name("br0"))
        },
    )
    .unwrap();
    let dir = NetnsDir::default();
    let mut spaces = Vec::new();
    for (i, ns_name) in ["c1", "c2"].iter().enumerate() {
        let (ns, inside) = dir.create_with(ns_name, Container::here).unwrap();
        let veth = create(
            &mut nl,
            &mut inside.unwrap(),
            &VethConfig {
                bridge: Some(br.index),
                addresses: vec![format!("172.30.0.{}/24", i + 2).parse().unwrap()],
                gateways: vec!["172.30.0.1".parse().unwrap()],
                disable_ipv6,
                ..VethConfig::default()
            },
        )
        .unwrap();
        assert_eq!(veth.peer.as_str(), "eth0");
        spaces.push(ns);
    }
    let c2 = spaces.pop().unwrap();
    let c1 = spaces.pop().unwrap();
    (nl, br.index, c1, c2)
}

#[test]
fn containers_on_a_bridge_talk_over_tcp_and_ping() {
    brnet_testkit::sandboxed(|| {
        let (_nl, _br, c1, c2) = two_containers(false);
        let c2_addr: SocketAddr = "172.30.0.3:8080".parse().unwrap();
        serve(listen_in(&c2, c2_addr), "hello from c2");
        // c1 -> c2 by address.
        let got = fetch(Some(&c1), c2_addr, LONG).unwrap();
        assert_eq!(got, "hello from c2 172.30.0.2\n");
        // The sandbox's own side (the bridge's address) reaches both.
        let got = fetch(None, c2_addr, LONG).unwrap();
        assert_eq!(got, "hello from c2 172.30.0.1\n");
        let c1_addr: SocketAddr = "172.30.0.2:8080".parse().unwrap();
        serve(listen_in(&c1, c1_addr), "hello from c1");
        assert_eq!(
            fetch(None, c1_addr, LONG).unwrap(),
            "hello from c1 172.30.0.1\n"
        );
        // ping, when iputils is there.
        if std::path::Path::new("/usr/bin/ping").exists()
            || std::path::Path::new("/bin/ping").exists()
        {
            assert!(ping("c1", "172.30.0.3"));
            assert!(ping("c1", "172.30.0.1"));
        }
    });
}

#[test]
fn ipv4_only_endpoints_have_no_ipv6_and_still_talk() {
    brnet_testkit::sandboxed(|| {
        let (_nl, _br, c1, c2) = two_containers(true);
        let c2_addr: SocketAddr = "172.30.0.3:80".parse().unwrap();
        serve(listen_in(&c2, c2_addr), "v4 only");
        assert_eq!(
            fetch(Some(&c1), c2_addr, LONG).unwrap(),
            "v4 only 172.30.0.2\n"
        );
        // No IPv6 on either end, and the namespace default was restored.
        let inside = ip(&["-n", "c1", "-6", "addr", "show", "dev", "eth0"]);
        assert!(inside.trim().is_empty(), "{inside}");
        let v6 = c1
            .run(|| std::fs::read_to_string("/proc/sys/net/ipv6/conf/eth0/disable_ipv6"))
            .unwrap()
            .unwrap();
        assert_eq!(v6.trim(), "1");
        let dflt = c1
            .run(|| std::fs::read_to_string("/proc/sys/net/ipv6/conf/default/disable_ipv6"))
            .unwrap()
            .unwrap();
        assert_eq!(dflt.trim(), "0");
        for port in ip_json(&["link", "show", "master", "br0"])
            .as_array()
            .unwrap()
        {
            let n = port["ifname"].as_str().unwrap();
            let v = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{n}/disable_ipv6"))
                .unwrap();
            assert_eq!(v.trim(), "1", "{n}");
        }
    });
}

#[test]
fn iproute2_sees_ours_and_we_see_theirs() {
    brnet_testkit::sandboxed(|| {
        let (mut nl, br, _c1, _c2) = two_containers(false);
        // Ours in `ip -j`: the bridge with its address, two ports on it.
        let addrs = ip_json(&["addr", "show", "dev", "br0"]);
        let info = &addrs[0]["addr_info"];
        assert!(
            info.as_array()
                .unwrap()
                .iter()
                .any(|a| a["local"] == "172.30.0.1" && a["prefixlen"] == 24),
            "{addrs}"
        );
        let ports = ip_json(&["link", "show", "master", "br0"]);
        assert_eq!(ports.as_array().unwrap().len(), 2, "{ports}");
        for p in ports.as_array().unwrap() {
            assert!(p["ifname"].as_str().unwrap().starts_with("veth"));
            assert_eq!(p["master"], "br0");
        }
        let eth0 = ip_json(&["-n", "c1", "addr", "show", "dev", "eth0"]);
        assert!(
            eth0[0]["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["local"] == "172.30.0.2")
        );
        let routes = ip_json(&["-n", "c1", "route", "show", "default"]);
        assert_eq!(routes[0]["gateway"], "172.30.0.1", "{routes}");

        // Theirs through our socket: a veth and an address made by ip(8).
        ip(&["link", "add", "ipa", "type", "veth", "peer", "name", "ipb"]);
        ip(&["link", "set", "ipa", "master", "br0", "up"]);
        ip(&["addr", "add", "10.9.9.9/32", "dev", "ipb"]);
        let ipa = nl.link_by_name("ipa").unwrap();
        assert_eq!(ipa.kind.as_deref(), Some("veth"));
        assert_eq!(ipa.master, Some(br));
        assert!(ipa.is_up());
        let ipb = nl.link_by_name("ipb").unwrap();
        let addrs = nl.addresses_of(ipb.index).unwrap();
        assert!(
            addrs.iter().any(|a| a.net.to_string() == "10.9.9.9/32"),
            "{addrs:?}"
        );
        let bridge = nl.link(br).unwrap();
        assert_eq!(bridge.bridge.map(|b| b.stp), Some(false));
        // The bridge keeps its own MAC whatever ports join (a bridge
        // without one takes its lowest port's, and the gateway's ARP
        // entries in every container go stale).
        let mac = bridge.mac.unwrap();
        ip(&[
            "link",
            "add",
            "low",
            "address",
            "02:00:00:00:00:01",
            "type",
            "veth",
            "peer",
            "name",
            "lowp",
        ]);
        ip(&["link", "set", "low", "master", "br0", "up"]);
        assert_eq!(nl.link(br).unwrap().mac.unwrap(), mac);
    });
}

#[test]
fn bad_input_is_a_typed_error_and_leaves_the_sandbox_unchanged() {
    brnet_testkit::sandboxed(|| {
        let (mut nl, br, _c1, _c2) = two_containers(false);
        let before = link_names();

        // A 16-byte interface name never reaches the kernel.
        match IfName::new("0123456789abcdef") {
            Err(NlError::InvalidIfName { name, .. }) => assert_eq!(name, "0123456789abcdef"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            nl.link_by_name("0123456789abcdef"),
            Err(NlError::InvalidIfName { .. })
        ));

        // A duplicate bridge: creating it again by hand is EEXIST, named.
        let e = nl
            .create_bridge(&brnet_netlink::BridgeSpec {
                name: &name("br0"),
                mtu: None,
                mac: None,
                stp: false,
                mcast_snooping: None,
                up: false,
            })
            .unwrap_err();
        assert!(e.is_exists());
        assert_eq!(e.to_string(), "create link br0: file exists (EEXIST)");
        // ensure() adopts it instead; a non-bridge of that name is refused.
        assert!(
            !ensure(&mut nl, &BridgeConfig::new(name("br0")))
                .unwrap()
                .created
        );
        let port = ip_json(&["link", "show", "master", "br0"])[0]["ifname"]
            .as_str()
            .unwrap()
            .to_owned();
        match ensure(&mut nl, &BridgeConfig::new(name(&port))) {
            Err(brnet_bridge::Error::NotABridge { name: n, kind }) => {
                assert_eq!((n.as_str(), kind.as_str()), (port.as_str(), "veth"))
            }
            other => panic!("{other:?}"),
        }

        // Attaching a port to something that is not a bridge: typed,
        // naming the would-be master and what it is.
        match brnet_bridge::attach(&mut nl, name(&port), 1) {
            Err(brnet_bridge::Error::NotABridge { name: n, kind }) => {
                assert_eq!(n, "lo");
                assert_eq!(kind, "a device");
            }
            other => panic!("{other:?}"),
        }

        // Moving a link into a namespace that was deleted: the namespace's
        // file is gone, so opening it is NotFound, naming it, and the link
        // stays where it was.
        let dir = NetnsDir::default();
        dir.create("gone").unwrap();
        dir.delete("gone").unwrap();
        match dir.open("gone") {
            Err(brnet_netns::Error::NotFound { name, .. }) => assert_eq!(name, "gone"),
            other => panic!("{other:?}"),
        }
        let moved = dir.open("gone").map_err(|e| e.to_string()).and_then(|ns| {
            nl.move_to_netns(name(&port), &ns)
                .map_err(|e| e.to_string())
        });
        assert!(
            moved.as_ref().is_err_and(|e| e.contains("gone")),
            "{moved:?}"
        );
        assert!(link_names().contains(&port), "the link did not move");
        // A namespace name with '/'.
        match dir.create("a/b") {
            Err(brnet_netns::Error::InvalidName { name, .. }) => assert_eq!(name, "a/b"),
            other => panic!("{other:?}"),
        }

        // A veth whose host name is taken: EEXIST, nothing left behind.
        let (c3, inside) = dir.create_with("c3", Container::here).unwrap();
        let e = create(
            &mut nl,
            &mut inside.unwrap(),
            &VethConfig {
                host_name: Some(name(&port)),
                bridge: Some(br),
                ..VethConfig::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("file exists (EEXIST)"), "{e}");
        // A gateway with no address of its family: the pair is rolled back.
        let mut inside = Container::open(&c3).unwrap();
        let e = create(
            &mut nl,
            &mut inside,
            &VethConfig {
                bridge: Some(br),
                addresses: vec!["172.30.0.9/24".parse().unwrap()],
                gateways: vec!["fd00::1".parse().unwrap()],
                ..VethConfig::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, brnet_veth::Error::GatewayFamily { .. }), "{e}");
        assert_eq!(
            inside.socket().links().unwrap().len(),
            1,
            "only lo left in c3"
        );
        // A good pair into c3 works after the failures, and deletes once.
        let v = create(
            &mut nl,
            &mut inside,
            &VethConfig {
                bridge: Some(br),
                ..VethConfig::default()
            },
        )
        .unwrap();
        assert_eq!(
            v.peer_index,
            inside.socket().link_by_name("eth0").unwrap().index
        );
        assert!(brnet_veth::delete(&mut nl, &v.host).unwrap());
        assert!(!brnet_veth::delete(&mut nl, &v.host).unwrap());

        assert_eq!(link_names(), before);
    });
}

#[test]
fn deleting_a_namespace_removes_its_veth_from_the_bridge() {
    brnet_testkit::sandboxed(|| {
        let (mut nl, br, c1, c2) = two_containers(false);
        assert_eq!(brnet_bridge::ports(&mut nl, br).unwrap().len(), 2);
        drop(c1);
        NetnsDir::default().delete("c1").unwrap();
        // The kernel tears the namespace down asynchronously.
        let mut ports = 2;
        for _ in 0..200 {
            ports = brnet_bridge::ports(&mut nl, br).unwrap().len();
            if ports == 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(ports, 1);
        drop(c2);
    });
}
