//! The seeds' scenarios, end to end through bridge-net, with real traffic.
//! Each test runs in its own throwaway sandbox.

use std::net::SocketAddr;
use std::process::Command;

use bridge_net::{BridgeNet, ConnectOptions, NetnsRef, NetworkMode, NetworkOptions};
use brnet_netlink::Socket;
use brnet_netns::{Netns, NetnsDir};
use brnet_tests::*;

fn ns(name: &str) -> (Netns, NetnsRef) {
    let n = NetnsDir::default().create(name).unwrap();
    (n, name.parse().unwrap())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn custom(subnet: &str, gateway: &str) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    o.ipv4.gateway = Some(gateway.parse().unwrap());
    o
}

#[test]
fn s1_docker0_sequential_addresses_derived_macs_and_routes() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let (c1, r1) = ns("c1");
        let (c2, r2) = ns("c2");
        let e1 = b
            .connect("bridge", &r1, &ConnectOptions::default())
            .unwrap();
        let e2 = b
            .connect("bridge", &r2, &ConnectOptions::default())
            .unwrap();
        assert_eq!(e1.ipv4.unwrap().to_string(), "172.17.0.2/16");
        assert_eq!(e2.ipv4.unwrap().to_string(), "172.17.0.3/16");
        assert_eq!(e1.mac.to_string(), "02:42:ac:11:00:02");
        assert_eq!(e2.mac.to_string(), "02:42:ac:11:00:03");
        assert_eq!(e1.ifname, "eth0");
        assert_eq!(e1.gateway4.unwrap().to_string(), "172.17.0.1");
        // The kernel agrees.
        let link = ip_json(&["-n", "c1", "link", "show", "eth0"]);
        assert_eq!(link[0]["address"], "02:42:ac:11:00:02");
        let route = ip_json(&["-n", "c2", "route", "show", "default"]);
        assert_eq!(route[0]["gateway"], "172.17.0.1");
        assert_eq!(route[0]["dev"], "eth0");
        let br = ip_json(&["addr", "show", "dev", "docker0"]);
        assert!(
            br[0]["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["local"] == "172.17.0.1")
        );
        // They reach each other by address, and the gateway.
        serve(listen_in(&c2, addr("172.17.0.3:80")), "c2");
        assert_eq!(
            fetch(Some(&c1), addr("172.17.0.3:80"), LONG).unwrap(),
            "c2 172.17.0.2\n"
        );
        let gw = listen_in(&Netns::current().unwrap(), addr("172.17.0.1:7000"));
        serve(gw, "gateway");
        assert_eq!(
            fetch(Some(&c2), addr("172.17.0.1:7000"), LONG).unwrap(),
            "gateway 172.17.0.3\n"
        );
        assert!(ping("c1", "172.17.0.3"));
        assert!(ping("c2", "172.17.0.1"));
    });
}

#[test]
fn s2_custom_network_and_a_second_interface() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("customNetwork", &custom("172.20.0.0/16", "172.20.0.1"))
            .unwrap();
        let (web, rweb) = ns("web");
        let (c1, r1) = ns("c1");
        let e = b
            .connect("customNetwork", &rweb, &ConnectOptions::default())
            .unwrap();
        assert_eq!(e.ipv4.unwrap().to_string(), "172.20.0.2/16");
        let on_bridge = b
            .connect("bridge", &r1, &ConnectOptions::default())
            .unwrap();
        assert_eq!(on_bridge.ifname, "eth0");
        let second = b
            .connect("customNetwork", &r1, &ConnectOptions::default())
            .unwrap();
        assert_eq!(second.ifname, "eth1");
        assert_eq!(second.ipv4.unwrap().to_string(), "172.20.0.3/16");
        assert!(!second.default_route);
        // The default route stays with the first network.
        let route = ip_json(&["-n", "c1", "route", "show", "default"]);
        assert_eq!(route.as_array().unwrap().len(), 1);
        assert_eq!(route[0]["gateway"], "172.17.0.1");
        // c1 reaches a customNetwork member through eth1.
        serve(listen_in(&web, addr("172.20.0.2:80")), "web");
        assert_eq!(
            fetch(Some(&c1), addr("172.20.0.2:80"), LONG).unwrap(),
            "web 172.20.0.3\n"
        );
        // Connecting again is a typed error naming the interface.
        let err = b
            .connect("customNetwork", &r1, &ConnectOptions::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("already connected") && err.to_string().contains("eth1"),
            "{err}"
        );
    });
}

#[test]
fn s3_default_pool_network_is_isolated_from_docker0_both_ways() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let (c1, r1) = ns("c1");
        b.connect("bridge", &r1, &ConnectOptions::default())
            .unwrap();
        let app = b
            .create_network("app_default", &NetworkOptions::default())
            .unwrap();
        assert_eq!(app.subnet.unwrap().to_string(), "172.18.0.0/16");
        let (a1, ra1) = ns("a1");
        let e = b
            .connect("app_default", &ra1, &ConnectOptions::default())
            .unwrap();
        assert_eq!(e.ipv4.unwrap().to_string(), "172.18.0.2/16");
        serve(listen_in(&a1, addr("172.18.0.2:80")), "a1");
        serve(listen_in(&c1, addr("172.17.0.2:80")), "c1");
        assert!(!can_connect(Some(&c1), addr("172.18.0.2:80"), SHORT));
        assert!(!can_connect(Some(&a1), addr("172.17.0.2:80"), SHORT));
        // Each still reaches its own gateway side and the host.
        assert!(can_connect(None, addr("172.18.0.2:80"), LONG));
        assert!(can_connect(None, addr("172.17.0.2:80"), LONG));
    });
}

#[test]
fn s4_published_port_from_outside_and_masquerade() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let outside = make_outside("outside", "198.51.100.1/24", "198.51.100.2/24");
        let (web, rweb) = ns("web");
        let e = b
            .connect(
                "bridge",
                &rweb,
                &ConnectOptions {
                    ports: vec!["8081:80".parse().unwrap()],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(e.ports.len(), 1);
        serve(listen_in(&web, addr("172.17.0.2:80")), "web");
        let got = fetch(Some(&outside), addr("198.51.100.1:8081"), LONG).unwrap();
        assert_eq!(got, "web 198.51.100.2\n");
        // Outbound from the container is masqueraded behind the host address.
        serve(listen_in(&outside, addr("198.51.100.2:9000")), "outside");
        let got = fetch(Some(&web), addr("198.51.100.2:9000"), LONG).unwrap();
        assert_eq!(got, "outside 198.51.100.1\n");
        // The same port again is taken.
        let (_c2, r2) = ns("c2");
        let err = b
            .connect(
                "bridge",
                &r2,
                &ConnectOptions {
                    ports: vec!["8081:80".parse().unwrap()],
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("8081/tcp") && err.to_string().contains("in use"),
            "{err}"
        );
    });
}

#[test]
fn s5_none_and_container_modes() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let (_n, rn) = ns("lonely");
        let got = b.attach("lonely", &NetworkMode::None, Some(&rn)).unwrap();
        assert_eq!(got, bridge_net::Attachment::None);
        let links = ip_json(&["-n", "lonely", "link", "show"]);
        assert_eq!(links.as_array().unwrap().len(), 1);
        assert_eq!(links[0]["ifname"], "lo");
        assert!(
            links[0]["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "UP")
        );

        let (_w, rw) = ns("web");
        let e = b
            .connect(
                "bridge",
                &rw,
                &ConnectOptions {
                    name: Some("web".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        match b
            .attach("sidecar", &"container:web".parse().unwrap(), None)
            .unwrap()
        {
            bridge_net::Attachment::Container(eps) => {
                assert_eq!(eps.len(), 1);
                assert_eq!(eps[0].ifname, "eth0");
                assert_eq!(eps[0].ipv4, e.ipv4);
                // The sidecar's namespace is web's: it sees web's eth0.
                let inside = Socket::open_in(&Netns::open_path(&eps[0].netns).unwrap())
                    .unwrap()
                    .link_by_name("eth0")
                    .unwrap();
                assert_eq!(inside.mac.unwrap().to_string(), e.mac.to_string());
            }
            other => panic!("{other:?}"),
        }
        assert!(
            b.attach("x", &"container:nobody".parse().unwrap(), None)
                .is_err()
        );
        assert_eq!(
            b.attach("h", &NetworkMode::Host, None).unwrap(),
            bridge_net::Attachment::Host
        );
        assert!(b.attach("h2", &NetworkMode::Host, Some(&rn)).is_err());
        assert!(b.detach("sidecar").unwrap());
        assert!(!b.detach("sidecar").unwrap());
    });
}

#[test]
fn s6_restart_keeps_addresses_and_cleanup_leaves_nothing() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let links_before = link_names();
        let rules_before = nft_ruleset();
        {
            let mut b = BridgeNet::open(dir.path()).unwrap();
            b.create_network("customNetwork", &custom("172.20.0.0/16", "172.20.0.1"))
                .unwrap();
            for n in ["c1", "c2"] {
                let (_ns, r) = ns(n);
                b.connect("customNetwork", &r, &ConnectOptions::default())
                    .unwrap();
            }
        }
        // A new handle (as a new process would) sees the same state.
        let mut b = BridgeNet::open(dir.path()).unwrap();
        assert_eq!(b.network("customNetwork").unwrap().endpoints, 2);
        let (_c3, r3) = ns("c3");
        let e3 = b
            .connect("customNetwork", &r3, &ConnectOptions::default())
            .unwrap();
        assert_eq!(e3.ipv4.unwrap().to_string(), "172.20.0.4/16");
        // Serial order: a released address is not handed out at once.
        assert!(
            b.disconnect("customNetwork", &"c2".parse().unwrap())
                .unwrap()
        );
        assert!(
            !b.disconnect("customNetwork", &"c2".parse().unwrap())
                .unwrap()
        );
        let (_c4, r4) = ns("c4");
        let e4 = b
            .connect("customNetwork", &r4, &ConnectOptions::default())
            .unwrap();
        assert_eq!(e4.ipv4.unwrap().to_string(), "172.20.0.5/16");
        drop(b);
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let err = b.remove_network("customNetwork").unwrap_err().to_string();
        assert!(
            err.contains("active endpoints") && err.contains("c1 (eth0)"),
            "{err}"
        );
        for n in ["c1", "c3", "c4"] {
            assert!(b.disconnect("customNetwork", &n.parse().unwrap()).unwrap());
            NetnsDir::default().delete(n).unwrap();
        }
        NetnsDir::default().delete("c2").unwrap();
        assert!(b.remove_network("customNetwork").unwrap());
        assert!(!b.remove_network("customNetwork").unwrap());
        assert_eq!(link_names(), links_before);
        assert_eq!(nft_ruleset(), rules_before);
        assert!(NetnsDir::default().list().unwrap().is_empty());
    });
}

/// The nft ruleset of the sandbox, as text.
/// Worker for `s7`: runs only when started by it, in its sandbox.
#[test]
fn s7_worker() {
    let (Ok(state), Ok(first), Ok(count)) = (
        std::env::var("BRNET_S7_STATE"),
        std::env::var("BRNET_S7_FIRST"),
        std::env::var("BRNET_S7_COUNT"),
    ) else {
        return;
    };
    let first: usize = first.parse().unwrap();
    let count: usize = count.parse().unwrap();
    let mut b = BridgeNet::open(&state).unwrap();
    for k in first..first + count {
        let name = format!("p{k}");
        NetnsDir::default().create(&name).unwrap();
        b.connect("shared", &name.parse().unwrap(), &ConnectOptions::default())
            .unwrap();
    }
}

#[test]
fn s7_two_processes_share_a_state_dir() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("shared", &custom("10.77.0.0/16", "10.77.0.1"))
            .unwrap();
        let me = std::env::current_exe().unwrap();
        let children: Vec<_> = [0, 50]
            .iter()
            .map(|first| {
                Command::new(&me)
                    .args(["--exact", "s7_worker", "--nocapture", "--test-threads=1"])
                    .env("BRNET_S7_STATE", dir.path())
                    .env("BRNET_S7_FIRST", first.to_string())
                    .env("BRNET_S7_COUNT", "50")
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let eps = b.endpoints(Some("shared")).unwrap();
        assert_eq!(eps.len(), 100);
        let mut addrs: Vec<_> = eps.iter().map(|e| e.ipv4.unwrap().addr()).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 100, "distinct addresses");
        // Every endpoint works: each answers from its own namespace.
        for e in &eps {
            let ns = Netns::open_path(&e.netns).unwrap();
            let a = SocketAddr::new(e.ipv4.unwrap().addr().into(), 80);
            let l = listen_in(&ns, a);
            assert!(can_connect(None, a, LONG), "{a}");
            drop(l);
        }
    });
}

#[test]
fn s8_the_bridge_port_limit_is_a_typed_error() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("big", &custom("10.99.0.0/16", "10.99.0.1"))
            .unwrap();
        for k in 0..1023 {
            let name = format!("n{k}");
            NetnsDir::default().create(&name).unwrap();
            b.connect("big", &name.parse().unwrap(), &ConnectOptions::default())
                .unwrap();
        }
        let links_before = link_names();
        NetnsDir::default().create("last").unwrap();
        let err = b
            .connect("big", &"last".parse().unwrap(), &ConnectOptions::default())
            .unwrap_err();
        assert!(
            matches!(err, bridge_net::Error::BridgeFull { limit: 1023, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("1023"), "{err}");
        assert_eq!(link_names(), links_before);
        assert_eq!(b.network("big").unwrap().endpoints, 1023);
        // The address was not kept: the next one after a disconnect works.
        b.disconnect("big", &"n0".parse().unwrap()).unwrap();
        let e = b
            .connect("big", &"last".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        assert_eq!(e.ipv4.unwrap().to_string(), "10.99.4.1/16");
    });
}

#[test]
fn iptables_backend_across_handles() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let cfg = || bridge_net::Config {
            firewall: bridge_net::FirewallBackend::IptablesRestore,
            ..bridge_net::Config::new(dir.path())
        };
        let outside = make_outside("outside", "198.51.100.1/24", "198.51.100.2/24");
        // Each step through a fresh handle, as separate processes would.
        BridgeNet::open_with(cfg())
            .unwrap()
            .create_network("web", &custom("172.20.0.0/16", "172.20.0.1"))
            .unwrap();
        let (web, rweb) = ns("w1");
        BridgeNet::open_with(cfg())
            .unwrap()
            .connect(
                "web",
                &rweb,
                &ConnectOptions {
                    ports: vec!["8080:80".parse().unwrap()],
                    ..Default::default()
                },
            )
            .unwrap();
        serve(listen_in(&web, addr("172.20.0.2:80")), "w1");
        assert_eq!(
            fetch(Some(&outside), addr("198.51.100.1:8080"), LONG).unwrap(),
            "w1 198.51.100.2\n"
        );
        let saved = Command::new("iptables-save").output().unwrap();
        assert!(String::from_utf8_lossy(&saved.stdout).contains("DOCKER"));
        let mut b = BridgeNet::open_with(cfg()).unwrap();
        assert!(b.disconnect("web", &rweb).unwrap());
        assert!(b.remove_network("web").unwrap());
        let saved =
            String::from_utf8_lossy(&Command::new("iptables-save").output().unwrap().stdout)
                .into_owned();
        assert!(!saved.contains("br-"), "{saved}");
    });
}

/// The host settings and host facts the model reads: `ip_forward` is turned
/// on by the first network; default pools skip subnets the host already
/// routes on-link; an endpoint whose namespace is gone is dropped by
/// reconcile and its address goes back to the pool.
#[test]
fn host_settings_on_link_routes_and_dead_namespaces() {
    brnet_testkit::sandboxed(|| {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
        // On-link routes over all of 172.17.0.0/16 and part of
        // 172.18.0.0/16 (a veth pair: this kernel has no dummy links).
        for args in [
            &["link", "add", "h0", "type", "veth", "peer", "name", "h1"][..],
            &["addr", "add", "172.17.9.1/16", "dev", "h0"],
            &["addr", "add", "172.18.5.1/24", "dev", "h0"],
            &["link", "set", "h0", "up"],
            &["link", "set", "h1", "up"],
        ] {
            ip(args);
        }
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let (_c1, r1) = ns("c1");
        let e = b
            .connect("bridge", &r1, &ConnectOptions::default())
            .unwrap();
        assert_eq!(
            e.ipv4.unwrap().to_string(),
            "172.19.0.2/16",
            "docker0 takes the first default pool the host does not route"
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "1",
            "the first network turned forwarding on"
        );
        let n = b
            .create_network("compose_default", &NetworkOptions::default())
            .unwrap();
        assert_eq!(n.subnet.unwrap().to_string(), "172.20.0.0/16");

        // c2's namespace goes away behind our back: reconcile drops its
        // endpoint and its address can be asked for again.
        let (c2, r2) = ns("c2");
        let e2 = b
            .connect("compose_default", &r2, &ConnectOptions::default())
            .unwrap();
        let old = e2.ipv4.unwrap().addr();
        drop(c2);
        NetnsDir::default().delete("c2").unwrap();
        let report = b.reconcile().unwrap();
        assert_eq!(report.endpoints_dropped.len(), 1, "{report:?}");
        assert!(report.endpoints_dropped[0].contains("c2"), "{report:?}");
        assert_eq!(b.network("compose_default").unwrap().endpoints, 0);
        let (_c3, r3) = ns("c3");
        let again = b
            .connect(
                "compose_default",
                &r3,
                &ConnectOptions {
                    ipv4: Some(old),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(again.ipv4.unwrap().addr(), old);
    });
}

/// A DNS-enabled network whose resolver cannot start: the endpoint works
/// and says why it has no name server, instead of silently having none.
#[test]
fn a_resolver_that_cannot_start_is_a_warning_on_the_endpoint() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open_with(bridge_net::Config {
            resolver: bridge_net::ResolverCommand::Path("/nonexistent/brnet".into()),
            ..bridge_net::Config::new(dir.path())
        })
        .unwrap();
        b.create_network("web", &custom("172.20.0.0/16", "172.20.0.1"))
            .unwrap();
        let (_c1, r1) = ns("c1");
        let e = b.connect("web", &r1, &ConnectOptions::default()).unwrap();
        assert!(e.dns_servers.is_empty());
        let w = e.dns_warning.expect("a warning");
        assert!(
            w.contains("resolver did not start") && w.contains("/nonexistent/brnet"),
            "{w}"
        );
        assert_eq!(e.ipv4.unwrap().to_string(), "172.20.0.2/16");
    });
}

/// The networks in a new one's way (same bridge, overlapping subnet) go
/// when they have no endpoints, and stay when they have some.
#[test]
fn idle_networks_in_the_way_are_removed_busy_ones_kept() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("old", &custom("172.20.0.0/16", "172.20.0.1"))
            .unwrap();
        let busy = b
            .create_network("busy", &custom("172.21.0.0/16", "172.21.0.1"))
            .unwrap();
        let same_bridge = b
            .create_network("same-bridge", &custom("172.22.0.0/16", "172.22.0.1"))
            .unwrap();
        b.create_network("apart", &custom("172.23.0.0/16", "172.23.0.1"))
            .unwrap();
        let (_c, r) = ns("c");
        b.connect("busy", &r, &ConnectOptions::default()).unwrap();

        let mut new = custom("172.20.5.0/24", "172.20.5.1");
        new.ipv4.subnet = Some("172.20.0.0/15".parse().unwrap());
        let removed = b
            .remove_idle_networks_in_the_way(&same_bridge.bridge, &new)
            .unwrap();
        assert_eq!(removed, ["old", "same-bridge"]);
        let left: Vec<String> = b.networks().unwrap().into_iter().map(|n| n.name).collect();
        assert!(left.contains(&"busy".to_owned()), "{left:?}");
        assert!(left.contains(&"apart".to_owned()), "{left:?}");
        assert!(!link_names().contains(&same_bridge.bridge));
        assert!(link_names().contains(&busy.bridge));
    });
}

/// Disconnect without waiting for the kernel: the veths go down into
/// bridge-net's group at once, and a child forked without exec (no
/// `brnet` binary anywhere: the resolver is off) deletes the group, in one
/// request, shortly after. The namespaces live on, with only `lo`.
#[test]
fn background_disconnect_deletes_the_veths_without_a_binary() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open_with(bridge_net::Config {
            veth_delete: bridge_net::VethDelete::Background,
            resolver: bridge_net::ResolverCommand::Off,
            ..bridge_net::Config::new(dir.path())
        })
        .unwrap();
        b.create_network("n", &custom("172.20.0.0/16", "172.20.0.1"))
            .unwrap();
        let before = link_names();
        let mut veths = Vec::new();
        for k in 0..3 {
            let (_, r) = ns(&format!("c{k}"));
            veths.push(
                b.connect("n", &r, &ConnectOptions::default())
                    .unwrap()
                    .host_veth,
            );
        }
        for k in 0..3 {
            assert!(
                b.disconnect("n", &format!("c{k}").parse().unwrap())
                    .unwrap()
            );
        }
        // Gone within a few grace periods (or still there, down, in the
        // group: never up).
        let deadline = std::time::Instant::now() + LONG;
        while link_names() != before && std::time::Instant::now() < deadline {
            for l in ip_json(&[
                "link",
                "show",
                "group",
                &bridge_net::DOOMED_GROUP.to_string(),
            ])
            .as_array()
            .unwrap()
            {
                assert!(!l["flags"].to_string().contains("\"UP\""), "{l}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(link_names(), before, "{veths:?} deleted");
        for k in 0..3 {
            assert_eq!(
                ip(&["-n", &format!("c{k}"), "-o", "link", "show"])
                    .lines()
                    .count(),
                1,
                "only lo in c{k}"
            );
        }
        assert_eq!(b.network("n").unwrap().endpoints, 0);
    });
}

/// The front ends' one way to keep a network as they define it
/// (`ensure_network`): made when missing, left alone when it matches,
/// made again when it differs and is idle (with what differed), refused
/// while it differs and has endpoints; idle networks in its way go.
#[test]
fn ensure_network_makes_the_network_match_the_request() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("stale", &custom("172.20.0.0/16", "172.20.0.1"))
            .unwrap();
        let mut asked = custom("172.20.0.0/16", "172.20.0.1");
        asked.bridge_name = Some("podman9".into());
        asked
            .labels
            .insert("io.podman.network.id".into(), "a".repeat(64));

        let e = b.ensure_network("n", &asked).unwrap();
        assert!(e.created && e.replaced.is_none());
        assert_eq!(e.removed, ["stale"], "an idle overlapping network went");
        assert_eq!(e.network.bridge, "podman9");
        let again = b.ensure_network("n", &asked).unwrap();
        assert!(!again.created, "as asked: left alone");
        assert_eq!(again.network.id, e.network.id);

        // Podman made it again with another id while nothing used it.
        asked
            .labels
            .insert("io.podman.network.id".into(), "b".repeat(64));
        let r = b.ensure_network("n", &asked).unwrap();
        assert!(r.created);
        let d = r.replaced.unwrap();
        assert_eq!(d.field, "label");
        assert!(d.theirs.ends_with(&"b".repeat(64)), "{d:?}");

        // A difference while a container uses it is an error naming it.
        let (_c, ns) = ns("c");
        b.connect("n", &ns, &ConnectOptions::default()).unwrap();
        asked.mtu = Some(1400);
        let err = b.ensure_network("n", &asked).unwrap_err();
        assert!(
            matches!(
                &err,
                bridge_net::Error::NetworkChanged {
                    field: "mtu",
                    endpoints: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "network \"n\" exists with mtu none (asked: 1400) and has 1 endpoint(s)"
        );
        assert_eq!(b.network("n").unwrap().endpoints, 1, "untouched");
    });
}

/// `disconnect_all`: a namespace leaves every network at once (and its
/// network mode is forgotten); its veths go, the other namespaces stay.
#[test]
fn disconnect_all_takes_a_namespace_off_every_network() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("a", &custom("172.20.0.0/16", "172.20.0.1"))
            .unwrap();
        b.create_network("b", &custom("172.21.0.0/16", "172.21.0.1"))
            .unwrap();
        let (_c, c) = ns("c");
        let (_d, d) = ns("d");
        for net in ["a", "b"] {
            b.connect(net, &c, &ConnectOptions::default()).unwrap();
        }
        b.connect("a", &d, &ConnectOptions::default()).unwrap();
        b.attach("c-none", &NetworkMode::None, Some(&c)).unwrap();
        assert_eq!(b.disconnect_all(&c).unwrap(), 2);
        assert_eq!(ip(&["-n", "c", "-o", "link", "show"]).lines().count(), 1);
        let left = b.endpoints(None).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].container, "d");
        let st =
            bridge_net::state::State::parse(&std::fs::read(dir.path().join("state.json")).unwrap())
                .unwrap();
        assert!(st.sandboxes.is_empty(), "its mode is forgotten");
        assert_eq!(b.disconnect_all(&c).unwrap(), 0, "idempotent");
        // A namespace that is gone: its endpoints are dropped all the same.
        NetnsDir::default().delete("d").unwrap();
        assert_eq!(b.disconnect_all(&d).unwrap(), 1);
        assert!(b.endpoints(None).unwrap().is_empty());
    });
}
