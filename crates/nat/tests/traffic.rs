//! Real traffic through the installed firewall, in a sandbox: a "host"
//! (the sandbox namespace) routing between bridges with containers and an
//! "outside" namespace reached over a veth. Every backend that writes rules
//! gets the same checks.

mod common;

use brnet_nat::{Backend, Firewall, GatewayMode, Network};
use brnet_netns::{isolated, privileged_test};
use brnet_testkit::cmd::*;
use brnet_testkit::topo::router;
use brnet_testkit::traffic::*;
use common::*;

const HOST: &str = "198.51.100.1";
const OUT: &str = "198.51.100.2";

/// The sandbox as a host: forwarding on, an outside namespace `out` with a
/// listener on 9000 that answers with the address it sees.
fn host(procs: &mut Procs) {
    router();
    outside("out", &format!("{HOST}/24"), &format!("{OUT}/24"));
    listen_tcp(procs, "out", 9000, "$SOCAT_PEERADDR");
}

fn masquerade_dnat_and_loopback(backend: Backend) {
    isolated(|| {
        let mut procs = Procs::default();
        host(&mut procs);
        bridge("br0", "172.18.0.1/24");
        container("c1", "br0", "172.18.0.2/24", "172.18.0.1");
        listen_tcp(&mut procs, "c1", 80, "c1-80");
        listen_tcp(&mut procs, "c1", 81, "c1-81");
        listen_tcp(&mut procs, "c1", 91, "c1-91");
        listen_udp(&mut procs, "c1", 53, "c1-udp");
        // Without masquerade the outside sees the container's own address.
        assert_eq!(tcp("c1", OUT, 9000), None, "outside has no route back");

        let br0 = net("br0", "172.18.0.0/24");
        let c1 = endpoint(
            "172.18.0.2",
            &[
                "8080:80",
                "5353:53/udp",
                "8000-8002:90-92",
                "127.0.0.1:8081:81",
            ],
        );
        let mut fw = Firewall::new(backend).unwrap();
        fw.install_network(&br0, std::slice::from_ref(&c1)).unwrap();

        // Masquerade: the outside sees the host's address.
        assert_eq!(tcp("c1", OUT, 9000).as_deref(), Some(HOST));
        // DNAT from outside: tcp, udp, a range.
        assert_eq!(tcp("out", HOST, 8080).as_deref(), Some("c1-80"));
        assert_eq!(udp("out", HOST, 5353).as_deref(), Some("c1-udp"));
        assert_eq!(tcp("out", HOST, 8001).as_deref(), Some("c1-91"));
        // Published on 127.0.0.1: not from outside, yes from the host.
        assert_eq!(tcp("out", HOST, 8081), None);
        assert_eq!(tcp("", "127.0.0.1", 8081).as_deref(), Some("c1-81"));
        // The host reaches published ports on its own addresses and on
        // 127.0.0.1 (output-hook DNAT, route_localnet + masquerade).
        assert_eq!(tcp("", HOST, 8080).as_deref(), Some("c1-80"));
        assert_eq!(tcp("", "127.0.0.1", 8080).as_deref(), Some("c1-80"));
        assert_eq!(tcp("", "172.18.0.1", 8080).as_deref(), Some("c1-80"));
        // Withdrawing a port closes it; the others stay.
        fw.remove_ports(&br0, &[mapping("8080:80", "172.18.0.2")])
            .unwrap();
        assert_eq!(tcp("out", HOST, 8080), None);
        assert_eq!(tcp("out", HOST, 8001).as_deref(), Some("c1-91"));
        fw.add_ports(&br0, &[mapping("8080:80", "172.18.0.2")])
            .unwrap();
        assert_eq!(tcp("out", HOST, 8080).as_deref(), Some("c1-80"));
        fw.remove_network(&br0).unwrap();
        assert_eq!(tcp("out", HOST, 8080), None);
        drop(procs);
    })
    .unwrap();
}

fn isolation_between_networks(backend: Backend) {
    isolated(|| {
        let mut procs = Procs::default();
        host(&mut procs);
        bridge("br0", "172.18.0.1/24");
        bridge("br1", "172.19.0.1/24");
        container("c1", "br0", "172.18.0.2/24", "172.18.0.1");
        container("c2", "br1", "172.19.0.2/24", "172.19.0.1");
        listen_tcp(&mut procs, "c1", 80, "c1");
        listen_tcp(&mut procs, "c2", 80, "c2");
        sh(&format!("ip -n out route add 172.18.0.0/16 via {HOST}"));
        // The topology routes: without a firewall everything connects.
        assert_eq!(tcp("c1", "172.19.0.2", 80).as_deref(), Some("c2"));
        assert_eq!(tcp("out", "172.18.0.2", 80).as_deref(), Some("c1"));

        let br0 = net("br0", "172.18.0.0/24");
        let br1 = net("br1", "172.19.0.0/24");
        let mut fw = Firewall::new(backend).unwrap();
        fw.install_network(&br0, &[endpoint("172.18.0.2", &[])])
            .unwrap();
        fw.install_network(&br1, &[endpoint("172.19.0.2", &["8080:80"])])
            .unwrap();
        // Both ways between the bridges: dropped.
        assert_eq!(tcp("c1", "172.19.0.2", 80), None);
        assert_eq!(tcp("c2", "172.18.0.2", 80), None);
        // Direct access from outside: dropped.
        assert_eq!(tcp("out", "172.18.0.2", 80), None);
        // Outbound still works, and replies come back.
        assert_eq!(tcp("c1", OUT, 9000).as_deref(), Some(HOST));
        assert_eq!(tcp("c2", OUT, 9000).as_deref(), Some(HOST));
        // A published port of another network, through host addresses.
        assert_eq!(tcp("c1", HOST, 8080).as_deref(), Some("c2"));
        assert_eq!(tcp("c1", "172.18.0.1", 8080).as_deref(), Some("c2"));
        assert_eq!(tcp("out", HOST, 8080).as_deref(), Some("c2"));
        drop(procs);
    })
    .unwrap();
}

fn internal_network(backend: Backend) {
    isolated(|| {
        let mut procs = Procs::default();
        host(&mut procs);
        bridge("br0", "172.18.0.1/24");
        bridge("brint", "10.30.0.1/24");
        container("c1", "br0", "172.18.0.2/24", "172.18.0.1");
        // A default route, so that only the firewall stands in the way.
        container("c3", "brint", "10.30.0.2/24", "10.30.0.1");
        container("c4", "brint", "10.30.0.3/24", "10.30.0.1");
        listen_tcp(&mut procs, "c1", 80, "c1");
        listen_tcp(&mut procs, "c4", 80, "c4");
        listen_tcp(&mut procs, "c3", 80, "c3");
        assert_eq!(tcp("c3", "172.18.0.2", 80).as_deref(), Some("c1"));

        let br0 = net("br0", "172.18.0.0/24");
        let int = Network::builder("brint")
            .ipv4("10.30.0.0/24".parse().unwrap())
            .internal(true)
            .build()
            .unwrap();
        let mut fw = Firewall::new(backend).unwrap();
        fw.install_network(&br0, &[endpoint("172.18.0.2", &["8080:80"])])
            .unwrap();
        fw.install_network(
            &int,
            &[endpoint("10.30.0.2", &[]), endpoint("10.30.0.3", &[])],
        )
        .unwrap();
        // Inside the bridge: fine.
        assert_eq!(tcp("c3", "10.30.0.3", 80).as_deref(), Some("c4"));
        // Nothing out: not the outside, not another network, not even a
        // published port through the host's address.
        assert_eq!(tcp("c3", OUT, 9000), None);
        assert_eq!(tcp("c3", "172.18.0.2", 80), None);
        assert_eq!(tcp("c3", HOST, 8080), None);
        // Nothing in.
        assert_eq!(tcp("c1", "10.30.0.2", 80), None);
        drop(procs);
    })
    .unwrap();
}

#[test]
fn native_masquerade_dnat_and_loopback() {
    if privileged_test() {
        masquerade_dnat_and_loopback(Backend::Native);
    }
}

#[test]
fn iptables_masquerade_dnat_and_loopback() {
    if privileged_test() {
        masquerade_dnat_and_loopback(Backend::IptablesRestore);
    }
}

#[test]
fn nft_command_masquerade_dnat_and_loopback() {
    if privileged_test() {
        masquerade_dnat_and_loopback(Backend::NftCommand);
    }
}

#[test]
fn native_isolation_between_networks() {
    if privileged_test() {
        isolation_between_networks(Backend::Native);
    }
}

#[test]
fn iptables_isolation_between_networks() {
    if privileged_test() {
        isolation_between_networks(Backend::IptablesRestore);
    }
}

#[test]
fn native_internal_network() {
    if privileged_test() {
        internal_network(Backend::Native);
    }
}

#[test]
fn iptables_internal_network() {
    if privileged_test() {
        internal_network(Backend::IptablesRestore);
    }
}

/// A container reaching its own published port through the host's
/// address (hairpin mode on its bridge port), and a neighbour doing the
/// same; with bridged traffic through the IP hooks (br_netfilter) and without.
#[test]
fn native_hairpin() {
    if !privileged_test() {
        return;
    }
    for br_nf in [0, 1] {
        hairpin(br_nf);
    }
}

fn hairpin(br_nf: u8) {
    isolated(|| {
        let mut procs = Procs::default();
        host(&mut procs);
        sh(&format!(
            "echo {br_nf} > /proc/sys/net/bridge/bridge-nf-call-iptables"
        ));
        bridge("br0", "172.18.0.1/24");
        container("c1", "br0", "172.18.0.2/24", "172.18.0.1");
        container("c5", "br0", "172.18.0.5/24", "172.18.0.1");
        sh("ip link set vc1br0 type bridge_slave hairpin on");
        listen_tcp(&mut procs, "c1", 80, "c1");
        let br0 = net("br0", "172.18.0.0/24");
        let mut fw = Firewall::new(Backend::Native).unwrap();
        fw.install_network(
            &br0,
            &[
                endpoint("172.18.0.2", &["8080:80"]),
                endpoint("172.18.0.5", &[]),
            ],
        )
        .unwrap();
        assert_eq!(tcp("c1", HOST, 8080).as_deref(), Some("c1"));
        assert_eq!(tcp("c1", "172.18.0.1", 8080).as_deref(), Some("c1"));
        assert_eq!(tcp("c5", HOST, 8080).as_deref(), Some("c1"));
        drop(procs);
    })
    .unwrap();
}

/// ICC off drops same-bridge traffic when bridged IPv4 goes through the
/// IP hooks (br_netfilter's `bridge-nf-call-iptables=1`).
#[test]
fn native_icc_off_with_br_netfilter() {
    brnet_testkit::sandboxed(|| {
        let mut procs = Procs::default();
        host(&mut procs);
        sh("echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables");
        bridge("br0", "172.18.0.1/24");
        container("c1", "br0", "172.18.0.2/24", "172.18.0.1");
        container("c5", "br0", "172.18.0.5/24", "172.18.0.1");
        listen_tcp(&mut procs, "c1", 80, "c1");
        let eps = [
            endpoint("172.18.0.2", &["8080:80"]),
            endpoint("172.18.0.5", &[]),
        ];
        let icc_off = Network::builder("br0")
            .ipv4("172.18.0.0/24".parse().unwrap())
            .icc(false)
            .build()
            .unwrap();
        let mut fw = Firewall::new(Backend::Native).unwrap();
        fw.install_network(&icc_off, &eps).unwrap();
        assert_eq!(tcp("c5", "172.18.0.2", 80), None);
        // Outbound and published ports are not ICC.
        assert_eq!(tcp("c5", OUT, 9000).as_deref(), Some(HOST));
        assert_eq!(tcp("out", HOST, 8080).as_deref(), Some("c1"));
        // Replace with ICC on: same-bridge traffic flows again.
        fw.install_network(&net("br0", "172.18.0.0/24"), &eps)
            .unwrap();
        assert_eq!(tcp("c5", "172.18.0.2", 80).as_deref(), Some("c1"));
        drop(procs);
    });
}

/// Routed networks: containers reached at their own addresses, only on
/// published container ports.
#[test]
fn native_routed_network() {
    brnet_testkit::sandboxed(|| {
        let mut procs = Procs::default();
        host(&mut procs);
        bridge("brr", "192.0.2.1/24");
        container("c6", "brr", "192.0.2.2/24", "192.0.2.1");
        listen_tcp(&mut procs, "c6", 80, "c6-80");
        listen_tcp(&mut procs, "c6", 81, "c6-81");
        sh(&format!("ip -n out route add 192.0.2.0/24 via {HOST}"));
        let routed = Network::builder("brr")
            .ipv4("192.0.2.0/24".parse().unwrap())
            .gateway_mode(GatewayMode::Routed)
            .build()
            .unwrap();
        let mut fw = Firewall::new(Backend::Native).unwrap();
        fw.install_network(&routed, &[endpoint("192.0.2.2", &["8080:80"])])
            .unwrap();
        assert_eq!(tcp("out", "192.0.2.2", 80).as_deref(), Some("c6-80"));
        assert_eq!(tcp("out", "192.0.2.2", 81), None);
        // No NAT: the outside sees the container's own address.
        assert_eq!(tcp("c6", OUT, 9000).as_deref(), Some("192.0.2.2"));
        drop(procs);
    });
}

/// IPv6: masquerade (NAT66, Docker's default for IPv6 networks), DNAT of a
/// port published on every address, and direct access dropped.
#[test]
fn native_ipv6() {
    brnet_testkit::sandboxed(|| {
        let mut procs = Procs::default();
        router();
        outside("out", "fd00:100::1/64", "fd00:100::2/64");
        sh("ip link add br0 type bridge && ip link set br0 up");
        sh("ip addr add fd00:18::1/64 dev br0 nodad");
        container("c1", "br0", "fd00:18::2/64", "");
        sh("ip -n c1 addr flush dev eth0 && ip -n c1 addr add fd00:18::2/64 dev eth0 nodad");
        sh("ip -n c1 route add default via fd00:18::1");
        sh(
            "ip addr change fd00:100::1/64 dev o-out nodad; ip -n out addr change fd00:100::2/64 dev eth0 nodad",
        );
        sh("ip -n out route add fd00:18::/64 via fd00:100::1");
        for (ns, port, reply) in [("out", 9000, "$SOCAT_PEERADDR"), ("c1", 80, "c1-v6")] {
            let cmd = in_ns(
                ns,
                &format!("socat TCP6-LISTEN:{port},reuseaddr,fork SYSTEM:'echo {reply}'"),
            );
            procs.add(
                std::process::Command::new("sh")
                    .arg("-c")
                    .arg(format!("exec {cmd}"))
                    .spawn()
                    .unwrap(),
            );
        }
        // Wait for both listeners, and for the addresses to be usable.
        for _ in 0..500 {
            if tcp("c1", "fd00:100::2", 9000).is_some() && tcp("out", "fd00:18::2", 80).is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Without a firewall: routed, no NAT.
        let peer = |s: Option<String>| -> Option<std::net::Ipv6Addr> {
            s?.trim_matches(|c| c == '[' || c == ']').parse().ok()
        };
        assert_eq!(
            peer(tcp("c1", "fd00:100::2", 9000)),
            "fd00:18::2".parse().ok()
        );
        let br0 = Network::builder("br0")
            .ipv6("fd00:18::/64".parse().unwrap())
            .build()
            .unwrap();
        let mut fw = Firewall::new(Backend::Native).unwrap();
        fw.install_network(&br0, &[endpoint("fd00:18::2", &["8080:80"])])
            .unwrap();
        assert_eq!(
            peer(tcp("c1", "fd00:100::2", 9000)),
            "fd00:100::1".parse().ok()
        );
        assert_eq!(tcp("out", "fd00:100::1", 8080).as_deref(), Some("c1-v6"));
        assert_eq!(tcp("out", "fd00:18::2", 80), None);
        drop(procs);
    });
}
