//! The per-call path (issue 16): a process that opens the state trusts
//! the firewall rules the state directory vouches for at the ruleset's
//! current generation (`firewall.verified`) instead of reading them back,
//! and reads them back — and restores them — whenever anyone changed the
//! ruleset or the state since.

use std::path::Path;

use bridge_net::{BridgeNet, Config, ConnectOptions, NetworkOptions, Report, VERIFIED_FILE};
use brnet_netns::NetnsDir;
use brnet_tests::*;

/// A handle that does not reconcile on open, and what its reconcile did.
fn reconciled(dir: &Path) -> (BridgeNet, Report) {
    let mut b = BridgeNet::open_with(Config {
        reconcile: false,
        ..Config::new(dir)
    })
    .unwrap();
    let report = b.reconcile().unwrap();
    (b, report)
}

/// Append to the state file by hand, as another program would, a record
/// with no firewall change: a network mode (host) whose id is `c` 64 times.
fn append_by_hand(dir: &Path, c: char) {
    use std::io::Write;
    let id: String = std::iter::repeat_n(c, 64).collect();
    let line = format!(
        r#"{{"op":"sandbox","sandbox":{{"id":"{id}","container":"h","mode":"host","netns":"/proc/thread-self/ns/net","netns_ino":1,"created":"2026-11-22T19:47:03Z"}}}}"#
    ) + "\n";
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("state.json"))
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
}

/// One network `n` with two containers, one with a published port.
fn two_containers(dir: &Path) -> BridgeNet {
    let mut b = BridgeNet::open(dir).unwrap();
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some("10.61.0.0/16".parse().unwrap());
    b.create_network("n", &o).unwrap();
    for (name, ports) in [("c1", vec!["8080:80".parse().unwrap()]), ("c2", vec![])] {
        NetnsDir::default().create(name).unwrap();
        b.connect(
            "n",
            &name.parse().unwrap(),
            &ConnectOptions {
                ports,
                ..Default::default()
            },
        )
        .unwrap();
    }
    b
}

/// `set NAME` or `map NAME`: the first of our table that has elements.
fn a_set_with_elements() -> String {
    let ruleset = nft_ruleset();
    let mut set = None;
    for line in ruleset.lines().map(str::trim) {
        for kind in ["set", "map"] {
            if let Some(name) = line.strip_prefix(kind).and_then(|l| l.strip_prefix(' ')) {
                set = name
                    .split_whitespace()
                    .next()
                    .map(|n| format!("{kind} inet brnet {n}"));
            }
        }
        if line.starts_with("elements = ")
            && let Some(set) = set
        {
            return set;
        }
    }
    panic!("no set with elements in\n{ruleset}");
}

#[test]
fn a_verified_firewall_is_trusted_only_while_nothing_changed() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = two_containers(dir.path());
        let rules = nft_ruleset();
        // Vouched for at the generation the last connect left.
        let generation = b.firewall().generation().unwrap().unwrap();
        let mark = std::fs::read_to_string(dir.path().join(VERIFIED_FILE)).unwrap();
        assert!(
            mark.contains(&format!(" {generation} ")),
            "{mark} at {generation}"
        );
        drop(b);

        // Nothing changed: not read back.
        let (_, report) = reconciled(dir.path());
        assert!(report.is_clean(), "{report:?}");
        assert!(!report.firewall_read_back);
        assert_eq!(nft_ruleset(), rules);

        // `nft flush ruleset` by hand: read back and restored.
        sh("nft flush ruleset");
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back);
        assert_eq!(report.firewall_restored, vec!["n".to_string()]);
        assert_eq!(nft_ruleset(), rules);
        // ... and vouched for again.
        let (_, report) = reconciled(dir.path());
        assert!(!report.firewall_read_back && report.is_clean());

        // One set emptied by hand, and one rule less: restored.
        sh(&format!("nft flush {}", a_set_with_elements()));
        let (_, report) = reconciled(dir.path());
        assert_eq!(report.firewall_restored, vec!["n".to_string()]);
        assert_eq!(nft_ruleset(), rules);
        sh("nft flush table inet brnet");
        let (_, report) = reconciled(dir.path());
        assert_eq!(report.firewall_restored, vec!["n".to_string()]);
        assert_eq!(nft_ruleset(), rules);

        // A commit elsewhere in the ruleset (another program's table)
        // moves the generation too: read back, nothing to restore.
        sh("nft add table inet someone_else");
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back && report.is_clean(), "{report:?}");
        sh("nft delete table inet someone_else");
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back && report.is_clean(), "{report:?}");

        // A deleted bridge is noticed without the shortcut's help (one
        // request per network, every call).
        let (_, report) = reconciled(dir.path());
        assert!(!report.firewall_read_back);
        let bridge = BridgeNet::open(dir.path())
            .unwrap()
            .network("n")
            .unwrap()
            .bridge;
        ip(&["link", "del", &bridge]);
        let (_, report) = reconciled(dir.path());
        assert_eq!(report.bridges_recreated, vec![bridge.clone()]);
        assert_eq!(report.ports_reattached.len(), 2);
        assert_eq!(nft_ruleset(), rules);
    });
}

#[test]
fn a_change_to_the_state_by_another_handle_is_read_back() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let b = two_containers(dir.path());
        drop(b);
        // Another handle records a container (the state file moves) ...
        let mut other = BridgeNet::open(dir.path()).unwrap();
        NetnsDir::default().create("c3").unwrap();
        other
            .connect("n", &"c3".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        let rules = nft_ruleset();
        // ... its mark moves with it: a third one trusts it.
        let (_, report) = reconciled(dir.path());
        assert!(!report.firewall_read_back, "{report:?}");
        // A state file appended to by hand (a record with no firewall
        // change: a network mode) is read back against.
        append_by_hand(dir.path(), 'f');
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back, "{report:?}");
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(nft_ruleset(), rules);
        // A mark from elsewhere (another boot, another namespace, garbage)
        // is no mark.
        for text in ["garbage\n", "brnet-firewall-verified 1 x 1 1 1 1 1\n", ""] {
            std::fs::write(dir.path().join(VERIFIED_FILE), text).unwrap();
            let (_, report) = reconciled(dir.path());
            assert!(report.firewall_read_back, "{text:?}");
        }
        // A state directory from before the mark existed opens as ever.
        std::fs::remove_file(dir.path().join(VERIFIED_FILE)).unwrap();
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back && report.is_clean());
        assert!(dir.path().join(VERIFIED_FILE).exists());
    });
}

#[test]
fn a_disconnect_leaves_the_sockets_wait_to_a_child_and_the_rules_gone() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let b = two_containers(dir.path());
        drop(b);
        let before = nft_ruleset();
        assert!(before.contains("10.61.0.2"));
        // The namespace goes first, then the disconnect (the handle is
        // dropped at the end of the call, as a process's would be).
        NetnsDir::default().delete("c1").unwrap();
        {
            let mut b = BridgeNet::open(dir.path()).unwrap();
            b.disconnect("n", &"c1".parse().unwrap()).unwrap();
        }
        // The removal took effect before the handle went.
        let after = nft_ruleset();
        assert!(!after.contains("10.61.0.2"), "{after}");
        assert!(after.contains("10.61.0.3"), "{after}");
        let (_, report) = reconciled(dir.path());
        assert!(
            report.is_clean() && !report.firewall_read_back,
            "{report:?}"
        );
    });
}

/// The nf_tables sockets of disconnects (each left to a detached child, so
/// that no caller waits for the kernel's deferred freeing of what it
/// removed) end up with one closer per namespace, `@brnet-nft-closer`,
/// which closes them all once the ruleset has been quiet for two RCU grace
/// periods: a close then waits for nothing, and holds the nf_tables commit
/// mutex for no time, where a child that closed its copy at once held it
/// for a grace period and the next call's commit waited (issue 16). After
/// back to back disconnects (handles dropped as a process's are at exit),
/// the removals took effect at once, and in the end no socket of ours is
/// left open in the namespace and the closer is gone.
#[test]
fn back_to_back_disconnects_leave_their_sockets_to_one_closer_that_ends() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        drop(two_containers(dir.path()));
        for name in ["c1", "c2"] {
            NetnsDir::default().delete(name).unwrap();
            let mut b = BridgeNet::open_with(Config {
                free_on_drop: false,
                ..Config::new(dir.path())
            })
            .unwrap();
            // (Its open's reconcile may have dropped it already.)
            b.disconnect("n", &name.parse().unwrap()).unwrap();
        }
        let rules = nft_ruleset();
        assert!(!rules.contains("10.61.0.2"), "{rules}");
        assert!(!rules.contains("10.61.0.3"), "{rules}");
        // User-space nf_tables sockets (protocol 12, a port id other than
        // the kernel's 0) in this namespace, and the closer's address.
        let ours = || {
            let netlink = std::fs::read_to_string("/proc/thread-self/net/netlink").unwrap();
            let sockets = netlink
                .lines()
                .skip(1)
                .filter(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.get(1) == Some(&"12") && f.get(2) != Some(&"0")
                })
                .count();
            let unix = std::fs::read_to_string("/proc/thread-self/net/unix").unwrap();
            (sockets, unix.contains("@brnet-nft-closer"))
        };
        // The closer's limit is 10 s; a quiet ruleset lets it go sooner.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while ours() != (0, false) {
            assert!(
                std::time::Instant::now() < deadline,
                "still open after 60 s (sockets, closer): {:?}",
                ours()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
}

/// A disconnect whose namespace's file is gone asks the host veth's state
/// without the RTNL lock (the kernel's cleanup of the namespace holds it
/// while it takes the veth down and deletes it) and sends nothing when the
/// veth is down or gone already; a namespace that outlives its file (a
/// process still holds it) keeps its veth up, and the disconnect takes
/// that down, so that the address it frees is answered by nobody; the
/// kernel deletes the veth once the namespace goes.
#[test]
fn a_gone_namespace_held_by_someone_still_has_its_veth_taken_down() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = two_containers(dir.path());
        let eps = b.endpoints(None).unwrap();
        let veth = |c: &str| {
            eps.iter()
                .find(|e| e.netns.ends_with(c))
                .unwrap()
                .host_veth
                .clone()
        };
        let (v1, v2) = (veth("c1"), veth("c2"));
        drop(b);
        // c1 is held (an open descriptor keeps a namespace alive), c2 not.
        let held = std::fs::File::open("/run/netns/c1").unwrap();
        for name in ["c1", "c2"] {
            NetnsDir::default().delete(name).unwrap();
            let mut b = BridgeNet::open_with(Config {
                free_on_drop: false,
                ..Config::new(dir.path())
            })
            .unwrap();
            b.disconnect("n", &name.parse().unwrap()).unwrap();
        }
        let mut b = BridgeNet::open(dir.path()).unwrap();
        assert!(b.endpoints(None).unwrap().is_empty());
        let link = b.netlink().link(brnet_netlink::IfName::new(&v1).unwrap());
        assert!(!link.unwrap().is_up(), "{v1} is still up");
        // c2's veth went with its namespace (or is on its way, down).
        match b.netlink().link(brnet_netlink::IfName::new(&v2).unwrap()) {
            Ok(l) => assert!(!l.is_up(), "{v2} is still up"),
            Err(e) => assert!(e.is_not_found(), "{e}"),
        }
        drop(held);
    });
}

/// A handle of a program that exits after its one command (`free_on_drop:
/// false`: `brnet`, the netavark and CNI binaries) leaves only memory to
/// the exit: its drop lets go of the lock and the sockets as any handle's
/// does, and what it did is there for the next handle. `endpoints_at`
/// finds one namespace's endpoints (what netavark's setup asks) and no
/// other.
#[test]
fn a_handle_that_leaves_its_memory_to_the_exit_still_lets_go() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        drop(two_containers(dir.path()));
        let config = Config {
            free_on_drop: false,
            ..Config::new(dir.path())
        };
        let mut b = BridgeNet::open_with(config.clone()).unwrap();
        let c1: bridge_net::NetnsRef = "c1".parse().unwrap();
        let path = c1.path().unwrap();
        let at = b.endpoints_at(&path).unwrap();
        assert_eq!(at.len(), 1, "{at:?}");
        assert_eq!(at[0].netns, path);
        assert!(
            b.endpoints_at(Path::new("/run/netns/none-such"))
                .unwrap()
                .is_empty()
        );
        assert!(b.disconnect("n", &"c2".parse().unwrap()).unwrap());
        drop(b);
        // The lock is free and the disconnect recorded: the next handle
        // (another process, as far as the lock goes) sees one endpoint.
        let mut next = BridgeNet::open_with(config).unwrap();
        let left = next.endpoints(None).unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].netns, path);
    });
}

/// Finding the endpoints whose namespace died is the one per-endpoint cost
/// of a per-call open (a stat of each namespace's path): with the firewall
/// vouched for, an open still finds a namespace that was deleted, and one
/// deleted and made again under the same name (another namespace at the
/// same path), drops both (addresses, rules), and leaves the living alone.
#[test]
fn a_per_call_open_reclaims_dead_namespaces_and_leaves_the_living() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = two_containers(dir.path());
        NetnsDir::default().create("c3").unwrap();
        let c3 = b
            .connect("n", &"c3".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        drop(b);
        let rules = nft_ruleset();
        for ip in ["10.61.0.2", "10.61.0.3", "10.61.0.4"] {
            assert!(rules.contains(ip), "{ip} in {rules}");
        }
        NetnsDir::default().delete("c1").unwrap();
        NetnsDir::default().delete("c2").unwrap();
        NetnsDir::default().create("c2").unwrap();
        let (mut b, report) = reconciled(dir.path());
        assert!(!report.firewall_read_back, "{report:?}");
        let mut dropped = report.endpoints_dropped.clone();
        dropped.sort();
        assert_eq!(dropped.len(), 2, "{report:?}");
        assert!(dropped[0].contains("/c1"), "{report:?}");
        assert!(dropped[1].contains("/c2"), "{report:?}");
        let left = b.endpoints(Some("n")).unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].id, c3.id);
        let rules = nft_ruleset();
        assert!(
            !rules.contains("10.61.0.2") && !rules.contains("10.61.0.3"),
            "{rules}"
        );
        assert!(rules.contains("10.61.0.4"), "{rules}");
        // The addresses are free again: the new c2 can have c1's.
        let again = b
            .connect(
                "n",
                &"c2".parse().unwrap(),
                &ConnectOptions {
                    ipv4: Some("10.61.0.2".parse().unwrap()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(again.ipv4.unwrap().addr().to_string(), "10.61.0.2");
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(
            report.is_clean() && !report.firewall_read_back,
            "{report:?}"
        );
    });
}

/// A handle that does not reconcile on open (`brnet-netavark teardown`,
/// CNI `DEL`).
fn unreconciled(dir: &Path) -> BridgeNet {
    BridgeNet::open_with(Config {
        reconcile: false,
        ..Config::new(dir)
    })
    .unwrap()
}

/// What a reconcile finds with the mark gone: the rules as they are, read
/// back in full, must need nothing.
fn read_back_is_clean(dir: &Path) {
    std::fs::remove_file(dir.join(VERIFIED_FILE)).unwrap();
    let (_, report) = reconciled(dir);
    assert!(report.firewall_read_back && report.is_clean(), "{report:?}");
}

/// A handle opened without reconcile that finds the mark holding moves it
/// on with its own changes, as a reconciling one does: the next
/// reconciling open (Podman's next `setup`) trusts the rules.
#[test]
fn a_handle_without_reconcile_keeps_a_holding_mark_moving() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        drop(two_containers(dir.path()));
        let mut b = unreconciled(dir.path());
        assert!(b.disconnect("n", &"c2".parse().unwrap()).unwrap());
        NetnsDir::default().create("c3").unwrap();
        b.connect("n", &"c3".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        drop(b);
        let rules = nft_ruleset();
        let (_, report) = reconciled(dir.path());
        assert!(
            !report.firewall_read_back && report.is_clean(),
            "{report:?}"
        );
        assert_eq!(nft_ruleset(), rules);
        // What the mark vouched for is what is there.
        read_back_is_clean(dir.path());
        assert_eq!(nft_ruleset(), rules);
    });
}

/// A handle opened without reconcile vouches for nothing it did not find
/// vouched for: a mark that no longer held when it opened (the ruleset
/// changed by hand, the state changed by hand) stays unvouched after its
/// own changes, and the next reconcile reads the rules back and repairs
/// them.
#[test]
fn a_handle_without_reconcile_leaves_a_stale_mark_stale() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        drop(two_containers(dir.path()));
        let rules = nft_ruleset();
        // The ruleset changed: our table flushed by hand.
        sh("nft flush table inet brnet");
        let mut b = unreconciled(dir.path());
        assert!(b.disconnect("n", &"c2".parse().unwrap()).unwrap());
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back, "{report:?}");
        assert_eq!(report.firewall_restored, vec!["n".to_string()]);
        assert_ne!(nft_ruleset(), rules);
        assert!(nft_ruleset().contains("10.61.0.2"));
        // The state changed: a record appended by hand (no firewall
        // change) after the mark was written.
        append_by_hand(dir.path(), 'e');
        let mut b = unreconciled(dir.path());
        NetnsDir::default().create("c3").unwrap();
        b.connect("n", &"c3".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back, "{report:?}");
        assert!(report.is_clean(), "{report:?}");
    });
}

/// A handle opened without reconcile whose mark held on open, but which
/// is not the only one to change things before its own change — a commit
/// to the ruleset by someone else, a record by another handle — does not
/// move the mark on: the next reconcile reads the rules back.
#[test]
fn a_handle_without_reconcile_vouches_for_nobody_else() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        drop(two_containers(dir.path()));
        // A foreign nft commit between the open and the disconnect.
        let mut b = unreconciled(dir.path());
        sh("nft add table inet someone_else");
        assert!(b.disconnect("n", &"c2".parse().unwrap()).unwrap());
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back && report.is_clean(), "{report:?}");
        // ... or a repair it hides: the rules flushed by hand after the
        // open are restored by the next reconcile.
        let rules = nft_ruleset();
        let mut b = unreconciled(dir.path());
        sh(&format!("nft flush {}", a_set_with_elements()));
        NetnsDir::default().create("c3").unwrap();
        b.connect("n", &"c3".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        assert!(b.disconnect("n", &"c3".parse().unwrap()).unwrap());
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back, "{report:?}");
        assert_eq!(report.firewall_restored, vec!["n".to_string()]);
        assert_eq!(nft_ruleset(), rules);
        // Another handle records (and commits) between the open and the
        // disconnect.
        let mut b = unreconciled(dir.path());
        let mut other = BridgeNet::open(dir.path()).unwrap();
        NetnsDir::default().create("c4").unwrap();
        other
            .connect("n", &"c4".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        drop(other);
        assert!(b.disconnect("n", &"c1".parse().unwrap()).unwrap());
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back && report.is_clean(), "{report:?}");
        read_back_is_clean(dir.path());
    });
}

/// A change recorded outside a transaction moves a holding mark on as a
/// transaction does, whether the handle reconciled on open or found the
/// mark holding: the next reconcile has nothing to read back, and what the
/// mark vouched for is what is there. `change` makes the change on a
/// handle opened on two containers plus `c3` (all alive).
fn keeps_a_holding_mark_moving(reconcile: bool, change: impl FnOnce(&mut BridgeNet) + Send) {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = two_containers(dir.path());
        NetnsDir::default().create("c3").unwrap();
        b.connect("n", &"c3".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        drop(b);
        let mut b = if reconcile {
            reconciled(dir.path()).0
        } else {
            unreconciled(dir.path())
        };
        change(&mut b);
        drop(b);
        let rules = nft_ruleset();
        let (_, report) = reconciled(dir.path());
        assert!(
            !report.firewall_read_back && report.is_clean(),
            "{report:?}"
        );
        assert_eq!(nft_ruleset(), rules);
        read_back_is_clean(dir.path());
        assert_eq!(nft_ruleset(), rules);
    });
}

fn netns(name: &str) -> bridge_net::NetnsRef {
    name.parse().unwrap()
}

/// A batch of disconnects of live namespaces: its own intent, written
/// first and closed last, around the endpoints' transactions.
#[test]
fn a_batch_disconnect_keeps_a_holding_mark_moving() {
    keeps_a_holding_mark_moving(false, |b| {
        assert_eq!(b.disconnect_many([("n", netns("c3"))]).unwrap(), 1);
    });
}

/// Every endpoint of a namespace (netavark's `teardown`), and its network
/// modes forgotten.
#[test]
fn a_namespace_disconnect_keeps_a_holding_mark_moving() {
    keeps_a_holding_mark_moving(false, |b| {
        b.attach("c2", &bridge_net::NetworkMode::None, Some(&netns("c2")))
            .unwrap();
        assert_eq!(b.disconnect_namespaces([netns("c2")]).unwrap(), 1);
    });
}

/// A network's name servers (netavark's `update`): a new snapshot.
#[test]
fn new_name_servers_keep_a_holding_mark_moving() {
    keeps_a_holding_mark_moving(true, |b| {
        let servers = ["192.0.2.53".parse().unwrap()];
        assert!(b.set_dns_servers("n", &servers).unwrap());
    });
}

/// The same changes after someone else's, since the handle last vouched —
/// a commit to the ruleset, a rule set emptied by hand, a record appended
/// by hand — do not move the mark on: the next reconcile reads the rules
/// back (and restores what was lost).
#[test]
fn changes_recorded_outside_a_transaction_vouch_for_nobody_else() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = two_containers(dir.path());
        for name in ["c3", "c4"] {
            NetnsDir::default().create(name).unwrap();
            b.connect("n", &name.parse().unwrap(), &ConnectOptions::default())
                .unwrap();
        }
        drop(b);
        // A foreign nft commit between the open and the batch.
        let mut b = unreconciled(dir.path());
        sh("nft add table inet someone_else");
        assert_eq!(b.disconnect_many([("n", netns("c4"))]).unwrap(), 1);
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back && report.is_clean(), "{report:?}");
        // A set emptied by hand after the open: restored.
        let mut b = unreconciled(dir.path());
        sh(&format!("nft flush {}", a_set_with_elements()));
        assert_eq!(b.disconnect_namespaces([netns("c3")]).unwrap(), 1);
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back, "{report:?}");
        assert_eq!(report.firewall_restored, vec!["n".to_string()]);
        assert!(!nft_ruleset().contains("10.61.0.4"));
        // A record appended by hand after the open, then the name servers.
        let (mut b, report) = reconciled(dir.path());
        assert!(!report.firewall_read_back, "{report:?}");
        append_by_hand(dir.path(), 'd');
        let servers = ["192.0.2.53".parse().unwrap()];
        assert!(b.set_dns_servers("n", &servers).unwrap());
        drop(b);
        let (_, report) = reconciled(dir.path());
        assert!(report.firewall_read_back && report.is_clean(), "{report:?}");
        read_back_is_clean(dir.path());
    });
}
