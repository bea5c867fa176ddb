//! The nftables backends against the kernel: what native apply installs is
//! what `nft -f` of the rendered script installs; operations are exact,
//! idempotent and atomic; foreign tables are never touched.

mod common;

use brnet_nat::{Backend, Drift, Errno, Error, Firewall, Model};
use brnet_netns::{isolated, privileged_test};
use brnet_testkit::cmd::*;
use common::*;

fn install_all(fw: &mut Firewall, nets: &[(brnet_nat::Network, Vec<brnet_nat::Endpoint>)]) {
    for (n, eps) in nets {
        fw.install_network(n, eps).unwrap();
    }
}

#[test]
fn native_apply_matches_nft_f_of_the_rendered_script() {
    if !privileged_test() {
        return;
    }
    let nets = scenario();
    let mut model = Model::new();
    for (n, eps) in &nets {
        model.set_network(n.clone(), eps.clone()).unwrap();
    }
    let script = model.nft_script("brnet");
    let by_nft = isolated(|| {
        let path = "/run/scenario.nft";
        std::fs::write(path, &script).unwrap();
        sh(&format!("nft -f {path}"));
        ruleset_json()
    })
    .unwrap();
    let native = isolated(|| {
        let mut fw = Firewall::new(Backend::Native).unwrap();
        install_all(&mut fw, &nets);
        ruleset_json()
    })
    .unwrap();
    assert_eq!(native, by_nft);
    let via_nft_command = isolated(|| {
        let mut fw = Firewall::new(Backend::NftCommand).unwrap();
        install_all(&mut fw, &nets);
        ruleset_json()
    })
    .unwrap();
    assert_eq!(via_nft_command, by_nft);
}

#[test]
fn installing_twice_leaves_the_same_ruleset_and_replace_drops_stale() {
    brnet_testkit::sandboxed(|| {
        let nets = scenario();
        let mut fw = Firewall::new(Backend::Native).unwrap();
        install_all(&mut fw, &nets);
        let once = ruleset_json();
        install_all(&mut fw, &nets);
        assert_eq!(ruleset_json(), once);
        for (n, eps) in &nets {
            assert_eq!(fw.check(n, eps).unwrap(), vec![]);
        }
        // Replace docker0 with a model without its endpoint: its elements go.
        let (docker0, _) = &nets[0];
        fw.install_network(docker0, &[]).unwrap();
        let dump = fw.dump().unwrap();
        assert!(dump.ports().iter().all(|p| !docker0.contains(p.container)));
        assert!(dump.endpoints().iter().all(|(_, b)| b != docker0.bridge()));
        assert_eq!(fw.check(docker0, &[]).unwrap(), vec![]);
        // The other networks are untouched.
        for (n, eps) in &nets[1..] {
            assert_eq!(fw.check(n, eps).unwrap(), vec![]);
        }
    });
}

#[test]
fn remove_network_removes_exactly_its_chains_and_elements() {
    if !privileged_test() {
        return;
    }
    let nets = scenario();
    let others_only = isolated(|| {
        let mut fw = Firewall::new(Backend::Native).unwrap();
        install_all(&mut fw, &nets[1..]);
        ruleset_json()
    })
    .unwrap();
    isolated(|| {
        let mut fw = Firewall::new(Backend::Native).unwrap();
        install_all(&mut fw, &nets);
        fw.remove_network(&nets[0].0).unwrap();
        assert_eq!(ruleset_json(), others_only);
        // Idempotent.
        fw.remove_network(&nets[0].0).unwrap();
        assert_eq!(ruleset_json(), others_only);
        // The last network takes the table with it.
        for (n, _) in &nets[1..] {
            fw.remove_network(n).unwrap();
        }
        assert_eq!(sh("nft list tables").trim(), "");
        assert!(!fw.dump().unwrap().exists());
        fw.remove_network(&nets[0].0).unwrap();
    })
    .unwrap();
}

#[test]
fn a_foreign_table_survives_every_operation() {
    if !privileged_test() {
        return;
    }
    for backend in [Backend::Native, Backend::NftCommand] {
        isolated(|| {
            sh("nft -f - <<'EOF'
table inet foreign {
	set s {
		type ipv4_addr
		elements = { 10.9.9.9 }
	}
	chain forward {
		type filter hook forward priority -5; policy accept;
		ip saddr @s counter drop
	}
	chain published {
		accept
	}
}
table ip nat {
	chain POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
		oifname \"eth9\" masquerade
	}
}
EOF");
            let foreign = (table_json("inet", "foreign"), table_json("ip", "nat"));
            let nets = scenario();
            let mut fw = Firewall::new(backend).unwrap();
            install_all(&mut fw, &nets);
            let (n, eps) = &nets[0];
            fw.add_ports(n, &[mapping("7000:70", "172.17.0.2")])
                .unwrap();
            fw.remove_ports(n, &[mapping("7000:70", "172.17.0.2")])
                .unwrap();
            fw.remove_endpoint(n, &eps[0]).unwrap();
            fw.add_endpoint(n, &eps[0]).unwrap();
            fw.dump().unwrap();
            for (n, _) in &nets {
                fw.remove_network(n).unwrap();
            }
            assert_eq!(
                (table_json("inet", "foreign"), table_json("ip", "nat")),
                foreign
            );
            assert_eq!(sh("nft list tables"), "table inet foreign\ntable ip nat\n");
        })
        .unwrap();
    }
}

#[test]
fn a_failing_transaction_changes_nothing() {
    brnet_testkit::sandboxed(|| {
        let a = net("br-a", "10.1.0.0/24");
        let b = net("br-b", "10.2.0.0/24");
        let mut fw = Firewall::new(Backend::Native).unwrap();
        fw.install_network(&a, &[endpoint("10.1.0.2", &["8080:80"])])
            .unwrap();
        let before = ruleset_json();
        // 8081 is new, 8080 is taken by another container: all or nothing.
        let err = fw
            .add_ports(
                &a,
                &[
                    mapping("8081:80", "10.1.0.2"),
                    mapping("8080:80", "10.1.0.3"),
                ],
            )
            .unwrap_err();
        assert!(matches!(err, Error::Kernel { .. }), "{err}");
        assert_eq!(err.errno(), Some(Errno::EEXIST), "{err}");
        assert!(err.to_string().contains("ports4"), "{err}");
        assert_eq!(ruleset_json(), before);
        // A whole network whose endpoint clashes is not half-installed.
        let err = fw
            .install_network(&b, &[endpoint("10.2.0.2", &["8080:80"])])
            .unwrap_err();
        assert!(matches!(err, Error::Kernel { .. }), "{err}");
        assert_eq!(ruleset_json(), before);
        // Bad input is refused before anything is sent.
        let err = fw
            .add_ports(&a, &[mapping("8082:80", "10.2.0.2")])
            .unwrap_err();
        assert!(matches!(err, Error::Model(_)), "{err}");
        assert_eq!(ruleset_json(), before);
    });
}

#[test]
fn dump_and_check_find_what_was_flushed() {
    brnet_testkit::sandboxed(|| {
        let nets = scenario();
        let (n, eps) = &nets[0];
        let mut fw = Firewall::new(Backend::Native).unwrap();
        install_all(&mut fw, &nets);
        let dump = fw.dump().unwrap();
        assert!(dump.exists());
        assert_eq!(dump.rule_count("fwd_in_docker0"), Some(4));
        assert_eq!(dump.rule_count("published"), Some(4));
        assert_eq!(dump.bridges().len(), 4);
        // 8080, 5353, 9000 (sctp), 8000-8002, plus host-address and v6 ones.
        assert_eq!(dump.ports().len(), 9);
        assert!(
            dump.ports()
                .iter()
                .any(|p| p.protocol == brnet_nat::Protocol::Sctp)
        );
        assert_eq!(dump.open_ports().len(), 1);
        // An element deleted behind our back.
        sh("nft delete element inet brnet ports4 '{ tcp . 8080 }'");
        let drift = fw.check(n, eps).unwrap();
        assert_eq!(
            drift,
            vec![Drift::MissingElement {
                set: "ports4".into(),
                element: "tcp . 8080 : 172.17.0.2 . 80".into()
            }]
        );
        // A flushed chain.
        sh("nft flush chain inet brnet fwd_in_docker0");
        assert!(fw.check(n, eps).unwrap().iter().any(|d| matches!(
            d,
            Drift::RulesDiffer { chain, expected: 4, found: 0 } if chain == "fwd_in_docker0"
        )));
        // A flushed ruleset.
        sh("nft flush ruleset");
        assert_eq!(
            fw.check(n, eps).unwrap(),
            vec![Drift::MissingTable {
                table: "brnet".into()
            }]
        );
        // Reconcile: install again.
        install_all(&mut fw, &nets);
        for (n, eps) in &nets {
            assert_eq!(fw.check(n, eps).unwrap(), vec![]);
        }
    });
}
