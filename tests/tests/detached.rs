//! bridge-net's detached endpoints (the library side of brnet-docker):
//! the peer waits in the host's namespace, a runtime moves it (done here
//! with `ip`, as dockerd does with netlink), ports are published after
//! the fact, and removal or the namespace's death leaves nothing. Each
//! test runs in its own throwaway sandbox.

use std::net::SocketAddr;

use bridge_net::{BridgeNet, DetachedOptions, MacPolicy, NetworkOptions, PortSpec};
use brnet_netns::{Netns, NetnsDir};
use brnet_tests::*;

fn custom(subnet: &str, gateway: &str) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    o.ipv4.gateway = Some(gateway.parse().unwrap());
    o.dns = Some(false);
    o
}

/// What dockerd does with Join's answer: move the peer, rename it, address
/// it, bring it up, route through the gateway.
fn adopt(peer: &str, ns: &str, addr: &str, gateway: Option<&str>) -> Netns {
    let netns = NetnsDir::default().create(ns).unwrap();
    ip(&["link", "set", peer, "netns", ns]);
    ip(&["-n", ns, "link", "set", peer, "name", "eth0"]);
    ip(&["-n", ns, "addr", "add", addr, "dev", "eth0"]);
    ip(&["-n", ns, "link", "set", "eth0", "up"]);
    ip(&["-n", ns, "link", "set", "lo", "up"]);
    if let Some(gw) = gateway {
        ip(&["-n", ns, "route", "add", "default", "via", gw]);
    }
    netns
}

fn id(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

#[test]
fn detached_endpoint_moved_by_the_runtime_then_published_and_removed() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let before = link_names();
        let net = b
            .create_network("n1", &custom("172.20.0.0/16", "172.20.0.1"))
            .unwrap();
        let e1 = b
            .create_detached(
                "n1",
                &DetachedOptions {
                    id: Some(id(1)),
                    ipv4: Some("172.20.0.2".parse().unwrap()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(e1.id, id(1));
        assert_eq!(e1.ipv4.unwrap().to_string(), "172.20.0.2/16");
        assert_eq!(e1.mac.to_string(), "02:42:ac:14:00:02");
        assert_eq!(e1.gateway4.unwrap().to_string(), "172.20.0.1");
        // The peer waits here, down, with its MAC; the host end is on the
        // bridge and up.
        let peer = ip_json(&["link", "show", &e1.ifname]);
        assert_eq!(peer[0]["address"], "02:42:ac:14:00:02");
        assert!(
            !peer[0]["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "UP")
        );
        let host = ip_json(&["link", "show", &e1.host_veth]);
        assert_eq!(host[0]["master"], net.bridge.as_str());
        // An IPv4-only network: the host end never starts IPv6
        // (brnet_bridge::sysctl::set_disable_ipv6).
        assert_eq!(
            std::fs::read_to_string(format!(
                "/proc/sys/net/ipv6/conf/{}/disable_ipv6",
                e1.host_veth
            ))
            .unwrap()
            .trim(),
            "1"
        );
        // A second endpoint, its address from the pool.
        let e2 = b
            .create_detached(
                "n1",
                &DetachedOptions {
                    mac: MacPolicy::Fixed("02:00:00:00:00:42".parse().unwrap()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(e2.ipv4.unwrap().to_string(), "172.20.0.3/16");
        assert_eq!(e2.mac.to_string(), "02:00:00:00:00:42");
        // The same id twice, an address taken: refused, nothing made.
        let links = link_names();
        let e = b
            .create_detached(
                "n1",
                &DetachedOptions {
                    id: Some(id(1)),
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains(&id(1)) && e.contains("exists"), "{e}");
        let e = b
            .create_detached(
                "n1",
                &DetachedOptions {
                    ipv4: Some("172.20.0.3".parse().unwrap()),
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("172.20.0.3"), "{e}");
        assert_eq!(link_names(), links);

        // The runtime takes them; traffic flows.
        let c1 = adopt(&e1.ifname, "c1", "172.20.0.2/16", Some("172.20.0.1"));
        let _c2 = adopt(&e2.ifname, "c2", "172.20.0.3/16", Some("172.20.0.1"));
        assert!(ping("c2", "172.20.0.2"));
        serve(listen_in(&c1, "172.20.0.2:80".parse().unwrap()), "c1");

        // Ports after the fact: the host's own address and 127.0.0.1.
        let p: PortSpec = "8081:80".parse().unwrap();
        let e1 = b.publish(&id(1), &[p]).unwrap();
        assert_eq!(e1.ports.len(), 1);
        let at: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        assert_eq!(fetch(None, at, LONG).unwrap(), "c1 172.20.0.1\n");
        // The port moves: another endpoint cannot take it while held,
        // can once withdrawn.
        let e = b.publish(&e2.id, &[p]).unwrap_err().to_string();
        assert!(e.contains("8081"), "{e}");
        b.publish(&id(1), &[]).unwrap();
        assert!(!can_connect(None, at, SHORT));
        b.publish(&e2.id, &[p]).unwrap();
        b.publish(&e2.id, &[]).unwrap();
        // The state survives a reopen (the ports too).
        b.publish(&id(1), &[p]).unwrap();
        drop(b);
        let mut b = BridgeNet::open(dir.path()).unwrap();
        assert_eq!(b.endpoint(&id(1)).unwrap().unwrap().ports.len(), 1);
        assert_eq!(fetch(None, at, LONG).unwrap(), "c1 172.20.0.1\n");

        // The runtime gives e1 back (Leave) and it is removed.
        ip(&["-n", "c1", "link", "set", "eth0", "down"]);
        ip(&["-n", "c1", "link", "set", "eth0", "name", &e1.ifname]);
        ip(&["-n", "c1", "link", "set", &e1.ifname, "netns", "1"]);
        assert!(b.remove_detached(&id(1)).unwrap());
        assert!(!b.remove_detached(&id(1)).unwrap());
        assert!(!link_names().contains(&e1.host_veth));
        assert!(!link_names().contains(&e1.ifname));
        assert!(!can_connect(None, at, SHORT));

        // e2's container dies without a word: its endpoint is collected
        // (by reconcile on open, too) and its address can be had again.
        NetnsDir::default().delete("c2").unwrap();
        drop(_c2);
        let mut gone = Vec::new();
        for _ in 0..50 {
            gone = b.collect_detached().unwrap();
            if !gone.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(gone, vec![e2.id.clone()]);
        let again = b
            .create_detached(
                "n1",
                &DetachedOptions {
                    ipv4: Some("172.20.0.3".parse().unwrap()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(b.remove_detached(&again.id).unwrap());
        assert!(b.remove_network("n1").unwrap());
        assert_eq!(link_names(), before);
        let rules = std::process::Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .unwrap();
        let rules = String::from_utf8_lossy(&rules.stdout);
        assert!(!rules.contains("172.20."), "{rules}");
    });
}

#[test]
fn internal_network_gives_no_gateway_and_refuses_ports() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = custom("172.30.0.0/24", "172.30.0.1");
        o.internal = true;
        b.create_network("int", &o).unwrap();
        let e = b
            .create_detached("int", &DetachedOptions::default())
            .unwrap();
        assert_eq!(e.gateway4, None);
        let err = b
            .publish(&e.id, &["8082:80".parse().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("internal"), "{err}");
        let err = b.publish(&"ab".repeat(32), &[]).unwrap_err().to_string();
        assert!(err.contains(&"ab".repeat(32)), "{err}");
        let err = b
            .create_detached("nope", &DetachedOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
        assert!(b.remove_detached(&e.id).unwrap());
        assert!(b.remove_network("int").unwrap());
    });
}
