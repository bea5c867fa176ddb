//! Rollback: a failure injected at every step of connect, create-network,
//! disconnect and remove-network leaves the kernel and the state as they
//! were (links, addresses, routes, the nft ruleset, the state's networks,
//! endpoints and pools), and the next operation works.

use bridge_net::{BridgeNet, ConnectOptions, Fault, NetworkOptions};
use brnet_netns::NetnsDir;
use brnet_testkit::fault::kernel_snapshot;
use brnet_tests::*;

/// Everything observable: host links and addresses, the container's links
/// and routes, the ruleset (the test kit's kernel snapshot), and the state
/// as inspect shows it.
fn snapshot(b: &mut BridgeNet, ns: &[&str]) -> String {
    let mut s = kernel_snapshot(ns);
    for n in b.networks().unwrap() {
        s.push_str(&serde_json::to_string(&b.inspect(&n.name).unwrap()).unwrap());
    }
    s
}

const CONNECT_STEPS: [&str; 5] = [
    "connect.allocate",
    "connect.begin",
    "connect.veth",
    "connect.firewall",
    "connect.record",
];

#[test]
fn a_failure_at_every_connect_step_rolls_back() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        b.create_network("n", &o).unwrap();
        NetnsDir::default().create("first").unwrap();
        b.connect("n", &"first".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        NetnsDir::default().create("c").unwrap();
        let opts = ConnectOptions {
            ports: vec!["8080:80".parse().unwrap()],
            ..Default::default()
        };
        for step in CONNECT_STEPS {
            let before = snapshot(&mut b, &["c"]);
            b.inject(Some(Fault::Fail(step.into())));
            let err = b.connect("n", &"c".parse().unwrap(), &opts).unwrap_err();
            assert!(
                matches!(err, bridge_net::Error::Injected { .. }),
                "{step}: {err}"
            );
            b.inject(None);
            assert_eq!(
                snapshot(&mut b, &["c"]),
                before,
                "after a failure at {step}"
            );
            // A fresh handle (another process) agrees.
            let mut again = BridgeNet::open(dir.path()).unwrap();
            assert_eq!(
                snapshot(&mut again, &["c"]),
                before,
                "reloaded after {step}"
            );
        }
        // Serial order is unaffected by the failures: the next address.
        let e = b.connect("n", &"c".parse().unwrap(), &opts).unwrap();
        assert_eq!(e.ipv4.unwrap().to_string(), "172.20.0.3/16");
    });
}

#[test]
fn a_failure_at_every_create_step_rolls_back() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.21.0.0/16".parse().unwrap());
        o.icc = false;
        for step in [
            "create.begin",
            "create.bridge",
            "create.firewall",
            "create.record",
        ] {
            let before = snapshot(&mut b, &[]);
            b.inject(Some(Fault::Fail(step.into())));
            let err = b.create_network("n", &o).unwrap_err();
            assert!(
                matches!(err, bridge_net::Error::Injected { .. }),
                "{step}: {err}"
            );
            b.inject(None);
            assert_eq!(snapshot(&mut b, &[]), before, "after a failure at {step}");
        }
        let n = b.create_network("n", &o).unwrap();
        assert_eq!(n.subnet.unwrap().to_string(), "172.21.0.0/16");
    });
}

#[test]
fn a_failed_disconnect_or_remove_leaves_things_whole_and_a_retry_finishes() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let links_before = link_names();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.22.0.0/16".parse().unwrap());
        b.create_network("n", &o).unwrap();
        NetnsDir::default().create("c").unwrap();
        let opts = ConnectOptions {
            ports: vec!["8080:80".parse().unwrap()],
            ..Default::default()
        };
        b.connect("n", &"c".parse().unwrap(), &opts).unwrap();
        for step in ["disconnect.firewall", "disconnect.veth"] {
            let before = snapshot(&mut b, &["c"]);
            b.inject(Some(Fault::Fail(step.into())));
            assert!(b.disconnect("n", &"c".parse().unwrap()).is_err(), "{step}");
            b.inject(None);
            if step == "disconnect.firewall" {
                assert_eq!(
                    snapshot(&mut b, &["c"]),
                    before,
                    "after a failure at {step}"
                );
            }
        }
        // After the veth is gone the record is the last step: a retry ends it.
        b.inject(Some(Fault::Fail("disconnect.record".into())));
        assert!(b.disconnect("n", &"c".parse().unwrap()).is_err());
        b.inject(None);
        assert!(b.disconnect("n", &"c".parse().unwrap()).unwrap());
        assert_eq!(b.network("n").unwrap().endpoints, 0);

        for step in ["remove.firewall", "remove.bridge"] {
            let before = snapshot(&mut b, &[]);
            b.inject(Some(Fault::Fail(step.into())));
            assert!(b.remove_network("n").is_err(), "{step}");
            b.inject(None);
            if step == "remove.firewall" {
                assert_eq!(snapshot(&mut b, &[]), before, "after a failure at {step}");
            }
        }
        b.inject(Some(Fault::Fail("remove.record".into())));
        assert!(b.remove_network("n").is_err());
        b.inject(None);
        assert!(b.remove_network("n").unwrap());
        NetnsDir::default().delete("c").unwrap();
        assert_eq!(link_names(), links_before);
    });
}
