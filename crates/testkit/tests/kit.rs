//! The kit's own helpers against the kernel, in throwaway sandboxes:
//! topologies, traffic (TCP, UDP, HTTP-ish, ping, DF ping), read-backs.

use std::net::{SocketAddr, UdpSocket};

use brnet_testkit::cmd::{ip, ip_json, link_names, nft_ruleset, normalise, sh};
use brnet_testkit::fault::{crash_at, fail_at, kernel_snapshot};
use brnet_testkit::topo::{container, default_route, named_netns, network, outside, router};
use brnet_testkit::traffic::{
    LONG, SHORT, can_connect, fetch, http_get, listen_in, ping, ping_df, serve, serve_http,
    udp_echo,
};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_bridge_two_containers_and_traffic_between_them() {
    brnet_testkit::sandboxed(|| {
        network("br0", &["10.70.0.1/24", "fd70::1/64"]);
        let c1 = container("c1", "br0", &["10.70.0.2/24", "fd70::2/64"]);
        let c2 = container("c2", "br0", &["10.70.0.3/24"]);
        assert!(link_names().contains(&"br0".to_owned()));
        let addrs = ip_json(&["-n", "c1", "addr", "show", "eth0"]);
        assert!(addrs.to_string().contains("10.70.0.2"), "{addrs}");

        // TCP: the server sees the client's address.
        serve(listen_in(&c1, sa("10.70.0.2:80")), "c1");
        assert_eq!(
            fetch(Some(&c2), sa("10.70.0.2:80"), LONG).unwrap(),
            "c1 10.70.0.3\n"
        );
        assert!(can_connect(Some(&c2), sa("10.70.0.2:80"), LONG));
        assert!(!can_connect(Some(&c2), sa("10.70.0.2:81"), SHORT));
        // Over IPv6 from the sandbox's own side.
        serve(listen_in(&c1, sa("[fd70::2]:80")), "v6");
        assert_eq!(
            fetch(None, sa("[fd70::2]:80"), LONG).unwrap(),
            "v6 fd70::1\n"
        );

        // HTTP-ish.
        serve_http(listen_in(&c1, sa("10.70.0.2:8080")), |peer| {
            format!("hello {peer}")
        });
        assert_eq!(
            http_get(Some(&c2), sa("10.70.0.2:8080"), LONG).unwrap(),
            "hello 10.70.0.3"
        );

        // UDP echo.
        let udp = c1.run(|| UdpSocket::bind("10.70.0.2:53")).unwrap().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                let _ = udp.send_to(&buf[..n], peer);
            }
        });
        assert_eq!(
            udp_echo(Some(&c2), sa("10.70.0.2:53"), LONG).unwrap(),
            "ping"
        );

        // Ping, and DF ping at the path MTU (1500: 1472 bytes of payload
        // fit, 1473 do not).
        assert!(ping("c2", "10.70.0.2"));
        assert!(ping_df("c2", "10.70.0.2", 1472));
        ip(&["-n", "c1", "link", "set", "eth0", "mtu", "1400"]);
        assert!(!ping_df("c2", "10.70.0.2", 1472), "DF past the peer's MTU");
        assert!(!ping("c2", "10.70.0.99"));
    });
}

#[test]
fn outside_is_reached_only_through_a_route_and_masquerade() {
    brnet_testkit::sandboxed(|| {
        router();
        network("br0", &["10.71.0.1/24"]);
        container("c1", "br0", &["10.71.0.2/24"]);
        default_route("c1", "10.71.0.1");
        let out = outside("out", "198.51.100.1/24", "198.51.100.2/24");
        serve(listen_in(&out, sa("198.51.100.2:80")), "out");
        // The sandbox reaches it directly; the container's replies have
        // no way back (outside has no route to 10.71.0.0/24).
        assert_eq!(
            fetch(None, sa("198.51.100.2:80"), LONG).unwrap(),
            "out 198.51.100.1\n"
        );
        let c1 = brnet_testkit::NetnsDir::default().open("c1").unwrap();
        assert!(!can_connect(Some(&c1), sa("198.51.100.2:80"), SHORT));
        sh(
            "nft add table ip t; nft add chain ip t post '{ type nat hook postrouting priority 100; }'; \
            nft add rule ip t post oifname o-out masquerade",
        );
        assert_eq!(
            fetch(Some(&c1), sa("198.51.100.2:80"), LONG).unwrap(),
            "out 198.51.100.1\n",
            "masqueraded to the sandbox's address"
        );
        assert!(nft_ruleset().contains("masquerade"));
    });
}

#[test]
fn a_kernel_snapshot_sees_a_change_and_its_undo() {
    brnet_testkit::sandboxed(|| {
        let path = named_netns("c1");
        assert_eq!(path, "/run/netns/c1");
        let before = kernel_snapshot(&["c1"]);
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        assert_ne!(kernel_snapshot(&["c1"]), before);
        ip(&["link", "del", "v0"]);
        assert_eq!(kernel_snapshot(&["c1"]), before);
    });
}

#[test]
fn fault_environment_and_nft_normalisation() {
    assert_eq!(
        crash_at("connect.veth"),
        ("BRNET_FAULT", "crash:connect.veth".into())
    );
    assert_eq!(
        fail_at("remove.bridge"),
        ("BRNET_FAULT", "fail:remove.bridge".into())
    );
    let v = normalise(
        r#"{"nftables":[{"metainfo":{"version":"1"}},{"set":{"name":"s","handle":4,"elem":["b","a"]}}]}"#,
    );
    assert_eq!(
        v,
        serde_json::json!({"nftables":[{"set":{"name":"s","elem":["a","b"]}}]})
    );
}

#[test]
fn a_dynamic_executable_asks_for_an_interpreter_busybox_static_does_not() {
    let sh = std::fs::read("/bin/sh").unwrap();
    let sh = if sh.starts_with(b"\x7fELF") {
        sh
    } else {
        std::fs::read("/usr/bin/env").unwrap()
    };
    assert!(brnet_testkit::host::has_interpreter(&sh));
    let bb = std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    assert!(!brnet_testkit::host::has_interpreter(&bb));
}
