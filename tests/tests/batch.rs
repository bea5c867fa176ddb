//! Issue 16: many disconnects in one call (`disconnect_many`,
//! `disconnect_namespaces`), the veths of live namespaces deleted in one
//! kernel request (one RCU grace period for all of them).
//!
//! - 100 containers leave in one call: every link gone, every rule gone,
//!   the state clean, the addresses back in the pool
//!   (`a_hundred_containers_leave_in_one_call`);
//! - namespaces leave every network, gone or alive, with the ones not
//!   connected skipped (`disconnect_namespaces_takes_each_off_every_network`);
//! - a failure in the middle of a batch: the endpoints before it are gone
//!   (links included), the ones it hit are whole and still pass traffic,
//!   and a retry finishes (`a_failure_in_the_middle_of_a_batch_leaves_a_consistent_state`);
//! - past an endpoint's point of no return, reconcile finishes it
//!   (`a_failure_past_the_point_of_no_return_is_finished_on_reopen`);
//! - a crash after the endpoints left but before the group delete leaves
//!   their veths down in the group, and the next open deletes them
//!   (`a_crash_before_the_group_delete_is_finished_on_reopen`);
//! - a bad namespace reference changes nothing
//!   (`a_bad_reference_in_a_batch_changes_nothing`).

use std::process::Command;

use bridge_net::state::State;
use bridge_net::{BridgeNet, ConnectOptions, DOOMED_GROUP, Error, Fault, NetnsRef, NetworkOptions};
use brnet_netns::NetnsDir;
use brnet_tests::*;

fn custom(subnet: &str) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    o
}

fn state_of(dir: &std::path::Path) -> State {
    State::parse(&std::fs::read(dir.join("state.json")).unwrap()).unwrap()
}

/// `n` named namespaces `c0..`, each connected to `network` with port
/// 10000+k published; their host veths.
fn containers(b: &mut BridgeNet, network: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|k| {
            let name = format!("c{k}");
            NetnsDir::default().create(&name).unwrap();
            let opts = ConnectOptions {
                ports: vec![format!("{}:80", 10000 + k).parse().unwrap()],
                ..ConnectOptions::default()
            };
            b.connect(network, &name.parse().unwrap(), &opts)
                .unwrap()
                .host_veth
        })
        .collect()
}

fn refs(range: std::ops::Range<usize>) -> Vec<NetnsRef> {
    range.map(|k| format!("c{k}").parse().unwrap()).collect()
}

/// The links of a namespace, by name.
fn links_in(ns: &str) -> Vec<String> {
    ip(&["-n", ns, "-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
        .collect()
}

/// The links in bridge-net's group of links to delete.
fn doomed() -> Vec<String> {
    ip_json(&["link", "show", "group", &DOOMED_GROUP.to_string()])
        .as_array()
        .into_iter()
        .flatten()
        // `ip -j` shows the links outside the group as `{}`.
        .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_hundred_containers_leave_in_one_call() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("n", &custom("172.20.0.0/16")).unwrap();
        let (links, rules) = (link_names(), nft_ruleset());
        let veths = containers(&mut b, "n", 100);
        assert_eq!(link_names().len(), links.len() + 100);

        let pairs: Vec<(&str, NetnsRef)> = refs(0..100).into_iter().map(|r| ("n", r)).collect();
        assert_eq!(
            b.disconnect_many(pairs.iter().map(|(n, r)| (*n, r)))
                .unwrap(),
            100
        );

        assert_eq!(link_names(), links, "every veth is gone: {veths:?}");
        assert!(doomed().is_empty());
        assert_eq!(nft_ruleset(), rules, "every rule is gone");
        for k in 0..100 {
            assert_eq!(links_in(&format!("c{k}")), ["lo"], "only lo in c{k}");
        }
        let st = state_of(dir.path());
        assert!(st.endpoints.is_empty() && st.intents.is_empty());
        assert_eq!(b.network("n").unwrap().endpoints, 0);
        // Idempotent, and the addresses are back in the pool.
        assert_eq!(
            b.disconnect_many(pairs.iter().map(|(n, r)| (*n, r)))
                .unwrap(),
            0
        );
        // (serial order: the next dynamic one is .102; .2 is free again)
        let fixed = ConnectOptions {
            ipv4: Some("172.20.0.2".parse().unwrap()),
            ..ConnectOptions::default()
        };
        let again = b.connect("n", &"c0".parse().unwrap(), &fixed).unwrap();
        assert_eq!(again.ipv4.unwrap().to_string(), "172.20.0.2/16");
        assert!(
            BridgeNet::open(dir.path())
                .unwrap()
                .reconcile()
                .unwrap()
                .is_clean()
        );
    });
}

#[test]
fn disconnect_namespaces_takes_each_off_every_network() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("a", &custom("172.20.0.0/16")).unwrap();
        b.create_network("z", &custom("172.21.0.0/16")).unwrap();
        let (links, rules) = (link_names(), nft_ruleset());
        containers(&mut b, "a", 4);
        for k in [1, 2] {
            b.connect(
                "z",
                &format!("c{k}").parse().unwrap(),
                &ConnectOptions::default(),
            )
            .unwrap();
        }
        // c2's namespace goes first (its veths go with it); c3 stays.
        NetnsDir::default().delete("c2").unwrap();
        let gone: Vec<NetnsRef> = ["c0", "c1", "c2", "nobody"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(b.disconnect_namespaces(&gone).unwrap(), 5);
        let left: Vec<String> = b
            .endpoints(None)
            .unwrap()
            .into_iter()
            .map(|e| e.container)
            .collect();
        assert_eq!(left, ["c3"]);
        assert_eq!(links_in("c0"), ["lo"]);
        assert_eq!(links_in("c1"), ["lo"]);
        assert_eq!(b.disconnect_namespaces(&gone).unwrap(), 0, "idempotent");
        assert_eq!(b.disconnect_all(&"c3".parse().unwrap()).unwrap(), 1);
        // c2's veths may take the kernel a moment (its namespace's cleanup).
        let deadline = std::time::Instant::now() + LONG;
        while link_names() != links && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(link_names(), links);
        assert_eq!(nft_ruleset(), rules);
        assert!(state_of(dir.path()).intents.is_empty());
    });
}

#[test]
fn a_failure_in_the_middle_of_a_batch_leaves_a_consistent_state() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("n", &custom("172.20.0.0/16")).unwrap();
        let (links, rules) = (link_names(), nft_ruleset());
        let veths = containers(&mut b, "n", 6);
        let eps = b.endpoints(Some("n")).unwrap();
        let ips: Vec<String> = (0..6)
            .map(|k| {
                let e = eps.iter().find(|e| e.container == format!("c{k}")).unwrap();
                e.ipv4.unwrap().addr().to_string()
            })
            .collect();
        let stay: Vec<String> = (3..6)
            .map(|k| {
                ip(&["-n", &format!("c{k}"), "addr"]) + &ip(&["-n", &format!("c{k}"), "route"])
            })
            .collect();

        // The firewall step fails from the 4th endpoint on: before each
        // one's point of no return, so each of them is rolled back.
        b.inject(Some(Fault::Fail("disconnect.firewall#4".into())));
        let all = refs(0..6);
        let err = b.disconnect_many(all.iter().map(|r| ("n", r))).unwrap_err();
        b.inject(None);
        let Error::Teardown { errors, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(errors.len(), 3, "{err}");

        let now = link_names();
        for (k, v) in veths.iter().enumerate() {
            assert_eq!(now.contains(v), k >= 3, "{v} of c{k}");
        }
        assert!(doomed().is_empty());
        let rules_now = nft_ruleset();
        for (k, a) in ips.iter().enumerate() {
            assert_eq!(
                rules_now.contains(a.as_str()),
                k >= 3,
                "{a} of c{k} in the ruleset"
            );
        }
        for k in 3..6 {
            let c = format!("c{k}");
            assert_eq!(
                ip(&["-n", &c, "addr"]) + &ip(&["-n", &c, "route"]),
                stay[k - 3],
                "{c} as it was"
            );
        }
        assert!(ping("c3", &ips[4]), "c3 still reaches c4");
        let st = state_of(dir.path());
        assert_eq!(st.endpoints.len(), 3);
        assert!(st.intents.is_empty(), "{:?}", st.intents);

        // The next attempt finishes.
        assert_eq!(b.disconnect_many(all.iter().map(|r| ("n", r))).unwrap(), 3);
        assert_eq!(link_names(), links);
        assert_eq!(nft_ruleset(), rules);
    });
}

#[test]
fn a_failure_past_the_point_of_no_return_is_finished_on_reopen() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("n", &custom("172.20.0.0/16")).unwrap();
        let (links, rules) = (link_names(), nft_ruleset());
        containers(&mut b, "n", 4);
        // From the 2nd endpoint on, each fails after its veth went into
        // the group (past its point of no return).
        b.inject(Some(Fault::Fail("disconnect.veth#2".into())));
        let all = refs(0..4);
        let err = b.disconnect_many(all.iter().map(|r| ("n", r))).unwrap_err();
        b.inject(None);
        let Error::Teardown { errors, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(errors.len(), 3, "{err}");
        // Every veth that went into the group is gone, the 2nd's too.
        assert!(doomed().is_empty());
        let st = state_of(dir.path());
        assert_eq!(
            st.intents.len(),
            3,
            "the endpoints it hit are left to finish"
        );
        assert_eq!(st.endpoints.len(), 3);
        // The next open finishes them.
        let mut again = BridgeNet::open(dir.path()).unwrap();
        let st = state_of(dir.path());
        assert!(st.intents.is_empty() && st.endpoints.is_empty());
        assert_eq!(
            again.disconnect_many(all.iter().map(|r| ("n", r))).unwrap(),
            0
        );
        assert_eq!(link_names(), links);
        assert_eq!(nft_ruleset(), rules);
    });
}

/// Worker for the crash test: runs only when started by it.
#[test]
fn batch_worker() {
    let Ok(state) = std::env::var("BRNET_BATCH_WORKER_STATE") else {
        return;
    };
    let mut b = BridgeNet::open(&state).unwrap();
    let all = refs(0..5);
    let _ = b.disconnect_many(all.iter().map(|r| ("n", r)));
}

#[test]
fn a_crash_before_the_group_delete_is_finished_on_reopen() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("n", &custom("172.20.0.0/16")).unwrap();
        let (links, rules) = (link_names(), nft_ruleset());
        let veths = containers(&mut b, "n", 5);
        drop(b);
        let (k, v) = brnet_testkit::fault::crash_at("disconnect_many.delete");
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "batch_worker", "--test-threads=1", "--nocapture"])
            .env("BRNET_BATCH_WORKER_STATE", dir.path())
            .env(k, v)
            .status()
            .unwrap();
        assert!(!status.success(), "the worker was killed");
        // Every endpoint left; their veths wait, down, in the group.
        let mut waiting = doomed();
        waiting.sort();
        let mut expected = veths.clone();
        expected.sort();
        assert_eq!(waiting, expected);
        for l in ip_json(&["link", "show", "group", &DOOMED_GROUP.to_string()])
            .as_array()
            .unwrap()
        {
            assert!(!l["flags"].to_string().contains("\"UP\""), "{l}");
        }
        let st = state_of(dir.path());
        assert!(st.endpoints.is_empty());
        assert_eq!(
            st.intents
                .values()
                .map(|i| i.kind.as_str())
                .collect::<Vec<_>>(),
            ["delete_links"]
        );
        // The next open deletes them.
        let mut b = BridgeNet::open(dir.path()).unwrap();
        assert_eq!(link_names(), links);
        assert_eq!(nft_ruleset(), rules);
        assert!(state_of(dir.path()).intents.is_empty());
        assert!(b.reconcile().unwrap().is_clean());
    });
}

#[test]
fn a_bad_reference_in_a_batch_changes_nothing() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("n", &custom("172.20.0.0/16")).unwrap();
        containers(&mut b, "n", 2);
        let before = brnet_testkit::fault::kernel_snapshot(&["c0", "c1"]);
        let bad = NetnsRef::Name("../c1".into());
        let good: NetnsRef = "c0".parse().unwrap();
        assert!(b.disconnect_many([("n", &good), ("n", &bad)]).is_err());
        assert!(b.disconnect_namespaces([&good, &bad]).is_err());
        assert_eq!(brnet_testkit::fault::kernel_snapshot(&["c0", "c1"]), before);
        assert_eq!(b.network("n").unwrap().endpoints, 2);
    });
}
