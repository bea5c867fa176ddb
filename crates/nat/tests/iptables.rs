//! The iptables form: Docker's reference scenario renders Docker's rules
//! (golden), rendered lines are what `iptables-save` prints back, and the
//! iptables backend's operations are idempotent and leave foreign rules.

mod common;

use brnet_nat::{Backend, Endpoint, Firewall, IptablesOptions, Model, Network};
use brnet_netns::{isolated, privileged_test};
use brnet_testkit::cmd::*;
use common::*;

/// reference/docker-bridge.md §5: default bridge + user network `bridge1`
/// (192.0.2.0/24) + `docker run --network bridge1 -p 8080:80`, Docker 29
/// with its default userland proxy.
fn reference_model() -> Model {
    let docker0 = net("docker0", "172.17.0.0/16");
    let bridge1 = net("bridge1", "192.0.2.0/24");
    let mut m = Model::new();
    m.set_network(docker0, vec![]).unwrap();
    m.set_network(bridge1, vec![endpoint("192.0.2.2", &["8080:80"])])
        .unwrap();
    m
}

const REFERENCE: &str = "\
*raw
-A PREROUTING -d 192.0.2.2/32 ! -i bridge1 -j DROP
COMMIT
*filter
:DOCKER - [0:0]
:DOCKER-BRIDGE - [0:0]
:DOCKER-CT - [0:0]
:DOCKER-FORWARD - [0:0]
:DOCKER-INTERNAL - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
-A DOCKER -d 192.0.2.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER ! -i docker0 -o docker0 -j DROP
-A DOCKER ! -i bridge1 -o bridge1 -j DROP
-A DOCKER-BRIDGE -o docker0 -j DOCKER
-A DOCKER-BRIDGE -o bridge1 -j DOCKER
-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-CT -o bridge1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -j DOCKER-CT
-A DOCKER-FORWARD -j DOCKER-INTERNAL
-A DOCKER-FORWARD -j DOCKER-BRIDGE
-A DOCKER-FORWARD -i docker0 -j ACCEPT
-A DOCKER-FORWARD -i bridge1 -j ACCEPT
COMMIT
*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80
COMMIT
";

#[test]
fn golden_reference_scenario_with_userland_proxy() {
    let text = reference_model().iptables(&IptablesOptions {
        userland_proxy: true,
    });
    assert_eq!(text, REFERENCE);
}

#[test]
fn golden_reference_scenario_without_proxy() {
    // What bridge-net installs (no proxy): Docker's --userland-proxy=false
    // rules (hairpin=true goldens in moby's iptabler testdata).
    let text = reference_model().iptables(&IptablesOptions::default());
    // route_localnet is on without a proxy: the bridges' way to the host's
    // 127.0.0.0/8 is closed in raw (CVE-2020-8558).
    let raw: Vec<&str> = text
        .split("*filter\n")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("-A"))
        .collect();
    assert_eq!(
        raw,
        vec![
            "-A PREROUTING -d 127.0.0.0/8 -i docker0 -j DROP",
            "-A PREROUTING -d 127.0.0.0/8 -i bridge1 -j DROP",
            "-A PREROUTING -d 192.0.2.2/32 ! -i bridge1 -j DROP",
        ]
    );
    let nat: Vec<&str> = text
        .split("*nat\n")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("-A"))
        .collect();
    assert_eq!(
        nat,
        vec![
            "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER",
            "-A POSTROUTING -o bridge1 -m addrtype --src-type LOCAL -j MASQUERADE",
            "-A POSTROUTING -s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE",
            "-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE",
            "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
            "-A POSTROUTING -s 192.0.2.2/32 -d 192.0.2.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
            "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80",
        ]
    );
}

#[test]
fn options_render_docker_variants() {
    let internal = Network::builder("brint")
        .ipv4("198.51.100.0/24".parse().unwrap())
        .internal(true)
        .icc(false)
        .build()
        .unwrap();
    let noicc = Network::builder("brx")
        .ipv4("10.5.0.0/24".parse().unwrap())
        .icc(false)
        .snat4("203.0.113.9".parse().unwrap())
        .build()
        .unwrap();
    let mut m = Model::new();
    m.set_network(internal, vec![]).unwrap();
    m.set_network(
        noicc,
        vec![endpoint("10.5.0.2", &["127.0.0.1:8000-8001:80-81/udp"])],
    )
    .unwrap();
    let text = m.iptables(&IptablesOptions::default());
    for line in [
        "-A DOCKER-FORWARD -i brint -o brint -j DROP",
        "-A DOCKER-INTERNAL ! -s 198.51.100.0/24 -o brint -j DROP",
        "-A DOCKER-INTERNAL ! -d 198.51.100.0/24 -i brint -j DROP",
        "-A DOCKER-FORWARD -i brx -o brx -j DROP",
        "-A DOCKER-FORWARD -i brx ! -o brx -j ACCEPT",
        "-A POSTROUTING -s 10.5.0.0/24 ! -o brx -j SNAT --to-source 203.0.113.9",
        "-A PREROUTING -d 127.0.0.1/32 ! -i lo -p udp -m udp --dport 8001 -j DROP",
        "-A DOCKER -d 127.0.0.1/32 -p udp -m udp --dport 8000 -j DNAT --to-destination 10.5.0.2:80",
        "-A DOCKER -d 127.0.0.1/32 -p udp -m udp --dport 8001 -j DNAT --to-destination 10.5.0.2:81",
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line}\n{text}"
        );
    }
    assert!(
        !text.contains("-o brint -j DOCKER"),
        "internal networks have no DOCKER rules"
    );
}

/// What we render is byte for byte what `iptables-save` prints back, for
/// both families and both proxy modes (so read-back comparisons work).
#[test]
fn rendered_lines_are_what_iptables_save_prints() {
    if !privileged_test() {
        return;
    }
    let docker0 = Network::builder("docker0")
        .ipv4("172.17.0.0/16".parse().unwrap())
        .ipv6("fd00:17::/64".parse().unwrap())
        .build()
        .unwrap();
    let c1 = Endpoint::new(&["172.17.0.2".parse().unwrap(), "fd00:17::2".parse().unwrap()])
        .unwrap()
        .publish(mapping("8080:80", "172.17.0.2"))
        .unwrap()
        .publish(mapping("127.0.0.1:8081:81/udp", "172.17.0.2"))
        .unwrap()
        .publish(mapping("9000:9000/sctp", "172.17.0.2"))
        .unwrap()
        .publish(mapping("[::1]:8080:80", "fd00:17::2"))
        .unwrap();
    let int = Network::builder("brint")
        .ipv4("10.30.0.0/24".parse().unwrap())
        .internal(true)
        .build()
        .unwrap();
    let mut m = Model::new();
    m.set_network(docker0, vec![c1]).unwrap();
    m.set_network(int, vec![endpoint("10.30.0.2", &[])])
        .unwrap();
    for proxy in [false, true] {
        let opts = IptablesOptions {
            userland_proxy: proxy,
        };
        for (text, restore, save) in [
            (m.iptables(&opts), "iptables-restore", "iptables-save"),
            (m.ip6tables(&opts), "ip6tables-restore", "ip6tables-save"),
        ] {
            isolated(|| {
                std::fs::write("/run/rules", &text).unwrap();
                sh(&format!("{restore} --noflush < /run/rules"));
                let saved = sh(save);
                for line in text.lines().filter(|l| l.starts_with("-A")) {
                    assert!(
                        saved.lines().any(|s| s == line),
                        "{save} does not print {line:?}:\n{saved}"
                    );
                }
            })
            .unwrap();
        }
    }
}

fn save_all() -> String {
    sh("iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'")
}

#[test]
fn iptables_backend_is_idempotent_exact_and_leaves_foreign_rules() {
    brnet_testkit::sandboxed(|| {
        sh(
            "iptables -N MINE && iptables -A FORWARD -j MINE && iptables -A MINE -s 10.9.9.9 -j DROP",
        );
        sh("iptables -t nat -A POSTROUTING -o eth9 -j MASQUERADE");
        let foreign = save_all();
        let a = net("br-a", "10.1.0.0/24");
        let b = net("br-b", "10.2.0.0/24");
        let ea = [endpoint("10.1.0.2", &["8080:80"])];
        let eb = [endpoint("10.2.0.2", &["8081:80"])];
        let mut fw = Firewall::new(Backend::IptablesRestore).unwrap();
        fw.install_network(&b, &eb).unwrap();
        let b_only = save_all();
        fw.install_network(&a, &ea).unwrap();
        let both = save_all();
        fw.install_network(&a, &ea).unwrap();
        fw.install_network(&b, &eb).unwrap();
        assert_eq!(save_all(), both, "installing again changes nothing");
        assert_eq!(fw.check(&a, &ea).unwrap(), vec![]);
        // Ports come and go as rules.
        fw.add_ports(&a, &[mapping("7000:70", "10.1.0.2")]).unwrap();
        assert!(save_all().contains("--dport 7000 -j DNAT --to-destination 10.1.0.2:70"));
        fw.remove_ports(&a, &[mapping("7000:70", "10.1.0.2")])
            .unwrap();
        assert_eq!(save_all(), both);
        fw.remove_network(&a).unwrap();
        assert_eq!(save_all(), b_only);
        fw.remove_network(&b).unwrap();
        let after = save_all();
        // Our chains and jumps are gone, DOCKER-USER (the user's) stays.
        assert!(!after.contains(":DOCKER "), "{after}");
        assert!(!after.contains("-j DOCKER-FORWARD"), "{after}");
        assert!(after.contains(":DOCKER-USER"), "{after}");
        // iptables has no way to remove the (now empty) raw table we made.
        let after = after.replace("*raw\n:PREROUTING ACCEPT \n:OUTPUT ACCEPT \nCOMMIT\n", "");
        let without_user_chain: String = after
            .lines()
            .filter(|l| !l.starts_with(":DOCKER-USER"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(without_user_chain, foreign);
        // A check of a removed network says what is missing.
        assert!(!fw.check(&a, &ea).unwrap().is_empty());
    });
}
