//! The socket and the firewall against the kernel, from inside the crate:
//! stale replies, dropped acks, dumps interrupted by a commit or ended by
//! an error, batches planned against an old generation, and the messages
//! the pre-6.3 removal path sends.

use brnet_testkit::cmd::sh;
use brnet_testkit::{isolated, privileged_test};
use neli::consts::nl::NlmF;

use super::*;
use crate::netlink::consts::{NFT_MSG_DESTROYTABLE, NFT_MSG_GETGEN, NFT_MSG_NEWTABLE};
use crate::netlink::msg::{message, msg_type};
use crate::netlink::socket::BatchError;
use crate::scenario;

fn socket(fw: &mut Firewall) -> &mut NftSocket {
    match &mut fw.inner {
        Inner::Native(s) | Inner::Nft(s) => s,
        _ => unreachable!(),
    }
}

fn add_table(sock: &mut NftSocket, name: &str, genid: Option<u32>) -> Result<(), BatchError> {
    let mut batch = sock.batch(genid).unwrap();
    batch
        .push(
            NFT_MSG_NEWTABLE,
            NlmF::CREATE,
            &msg::table(name, true).unwrap(),
            format!("add table {name}"),
        )
        .unwrap();
    sock.transact("test", batch)
}

/// A request whose reply nobody read: `count` GETGENs, answered by a
/// message and an ack each, left in the receive queue.
fn abandon(sock: &mut NftSocket, count: u32) {
    for i in 0..count {
        let mut bytes = Vec::new();
        message(
            msg_type(NFT_MSG_GETGEN),
            NlmF::REQUEST | NlmF::ACK,
            7 + i,
            0,
            0,
            &[],
            &mut bytes,
        )
        .unwrap();
        sock.transport().send_unanswered(&mut bytes).unwrap();
    }
}

/// An error left over from an abandoned request (sequence number outside
/// the batch's) is not the batch's error.
#[test]
fn replies_outside_the_batch_are_not_its_own() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let mut fw = Firewall::new(Backend::Native).unwrap();
        let sock = socket(&mut fw);
        // A get of a table that is not there: ENOENT, never read.
        let mut bytes = Vec::new();
        message(
            msg_type(crate::netlink::consts::NFT_MSG_GETTABLE),
            NlmF::REQUEST | NlmF::ACK,
            3,
            1,
            0,
            &msg::table("nope", false).unwrap(),
            &mut bytes,
        )
        .unwrap();
        sock.transport().send_unanswered(&mut bytes).unwrap();
        abandon(sock, 2);
        add_table(sock, "t1", None).unwrap();
        assert_eq!(sh("nft list tables"), "table inet t1\n");
        assert!(
            sock.transport().stats().stale >= 5,
            "{:?}",
            sock.transport().stats()
        );
    })
    .unwrap();
}

/// When the kernel drops replies for want of room (`ENOBUFS`), whether
/// the batch went through is unknown: the firewall reads back and
/// answers from what it finds, instead of failing an operation that took.
#[test]
fn dropped_acks_are_read_back() {
    dropped_acks(false);
}

/// The same on a kernel before 6.3, where the lost answer may be the
/// refusal of `NFT_MSG_DESTROY*`: the next try deletes what a read-back
/// finds (before the fix, every try sent DESTROY again and the install
/// failed with ENOBUFS, as on Debian 12's 6.1 in `cargo xtask kernels`).
#[test]
fn dropped_acks_are_read_back_before_6_3() {
    dropped_acks(true);
}

fn dropped_acks(before_6_3: bool) {
    if !privileged_test() {
        return;
    }
    isolated(move || {
        let m = scenario::model();
        let mut fw = Firewall::new(Backend::Native).unwrap();
        socket(&mut fw).before_6_3 = before_6_3;
        socket(&mut fw).transport().set_receive_buffer(0).unwrap();
        // Replies nobody reads fill the (smallest) queue right before each
        // batch: the batch's own answer has no room.
        socket(&mut fw).junk_before_batch = 64;
        for net in m.networks() {
            fw.install_network(net, m.endpoints(net.bridge())).unwrap();
        }
        assert!(
            socket(&mut fw).transport().stats().dropped > 0,
            "no reply was dropped"
        );
        for net in m.networks() {
            assert_eq!(fw.check(net, m.endpoints(net.bridge())).unwrap(), vec![]);
        }
        // A transaction the kernel refuses, its error dropped every time:
        // the read back shows it did not take; tried again, and in the end
        // reported as what it is, a lost answer, with nothing changed.
        let docker0 = m.networks().next().unwrap().clone();
        let ep = &m.endpoints(docker0.bridge())[0];
        let clash = crate::PortMapping::port(
            crate::Protocol::Tcp,
            8080,
            "172.17.0.3".parse().unwrap(),
            80,
        )
        .unwrap();
        let dropped = socket(&mut fw).transport().stats().dropped;
        let err = fw.add_ports(&docker0, &[clash]).unwrap_err();
        assert!(socket(&mut fw).transport().stats().dropped > dropped);
        socket(&mut fw).junk_before_batch = 0;
        assert_eq!(err.errno(), Some(Errno::ENOBUFS), "{err}");
        // With room, the kernel's own answer.
        let err = fw.add_ports(&docker0, &[clash]).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::EEXIST), "{err}");
        assert_eq!(
            fw.check(&docker0, std::slice::from_ref(ep)).unwrap(),
            vec![]
        );
    })
    .unwrap();
}

/// A commit between two parts of a dump marks the rest of it
/// interrupted (`NLM_F_DUMP_INTR`): the dump runs again and returns a
/// consistent picture. A set removed mid-dump ends it with an error in
/// `NLMSG_DONE`: never taken for a complete dump.
#[test]
fn interrupted_dumps_run_again_and_done_errors_count() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let net = Network::builder("br0")
            .ipv4("10.0.0.0/16".parse().unwrap())
            .build()
            .unwrap();
        let mut fw = Firewall::new(Backend::Native).unwrap();
        fw.install_network(&net, &[]).unwrap();
        let c = "10.0.0.2".parse().unwrap();
        let ports: Vec<_> = (1000..11000)
            .map(|p| crate::PortMapping::port(crate::Protocol::Tcp, p, c, 80).unwrap())
            .collect();
        fw.add_ports(&net, &ports).unwrap();
        let table = fw.table.clone();
        let ports4 = msg::set_ref(&table, "ports4").unwrap();
        let count = |sock: &mut NftSocket| {
            sock.dump("dump", crate::netlink::consts::NFT_MSG_GETSETELEM, &ports4)
                .unwrap()
                .map(|parts| {
                    parts
                        .iter()
                        .map(|p| dump::raw_elements(p).len())
                        .sum::<usize>()
                })
        };
        // A chain of 3000 rules: the rule dump comes in several parts. A
        // commit after the first (one more rule) marks the later ones
        // interrupted; the dump runs again and sees 3001.
        let filler: String = (0..3000)
            .map(|i| format!("add rule inet brnet filler meta mark {i} counter\n"))
            .collect();
        std::fs::write(
            "/run/filler.nft",
            format!("add chain inet brnet filler\n{filler}"),
        )
        .unwrap();
        sh("nft -f /run/filler.nft");
        let rules = msg::rules_table(&table).unwrap();
        let sock = socket(&mut fw);
        let mut calls = 0;
        sock.transport()
            .set_between_dump_parts(Some(Box::new(move || {
                calls += 1;
                if calls == 1 {
                    sh("nft add rule inet brnet filler counter");
                }
            })));
        let got = sock
            .dump("dump", crate::netlink::consts::NFT_MSG_GETRULE, &rules)
            .unwrap()
            .unwrap();
        let filler_rules = got
            .iter()
            .filter(|r| dump::rule_chain_comment(r).is_some_and(|(c, _)| c == "filler"))
            .count();
        assert_eq!(filler_rules, 3001, "the dump is of one generation");
        assert!(
            sock.transport().stats().interrupted > 0,
            "no dump part said interrupted"
        );
        assert_eq!(count(sock), Some(10_000));
        // The table removed after the first part of a dump: the kernel
        // ends it with ENOENT in NLMSG_DONE; run again, the set is not
        // there.
        sock.transport().set_between_dump_parts(Some(Box::new(|| {
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", "brnet"])
                .status();
        })));
        assert_eq!(count(sock), None);
        assert!(
            sock.transport().stats().dump_errors > 0,
            "no dump ended with an error"
        );
        sock.transport().set_between_dump_parts(None);
    })
    .unwrap();
}

/// A batch planned against a generation the ruleset has left is refused
/// as a whole (`ERESTART`), and changes nothing.
#[test]
fn a_batch_of_an_old_generation_is_refused() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let mut fw = Firewall::new(Backend::Native).unwrap();
        let sock = socket(&mut fw);
        let genid = sock.genid("test").unwrap();
        add_table(sock, "t1", Some(genid)).unwrap();
        match add_table(sock, "t2", Some(genid)) {
            Err(BatchError::Refused {
                change: None,
                errno: Errno::ERESTART,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(sh("nft list tables"), "table inet t1\n");
        let now = sock.genid("test").unwrap();
        assert_ne!(now, genid);
        add_table(sock, "t2", Some(now)).unwrap();
    })
    .unwrap();
}

/// The pre-6.3 path sends no `NFT_MSG_DESTROY*` at all (a 6.1 kernel
/// refuses every one with EINVAL), and the default path does.
#[test]
fn legacy_removal_sends_no_destroy() {
    if !privileged_test() {
        return;
    }
    for legacy in [false, true] {
        isolated(move || {
            let m = scenario::model();
            let mut fw = Firewall::new(Backend::Native).unwrap();
            if legacy {
                fw.use_legacy_removal();
            }
            for net in m.networks() {
                fw.install_network(net, m.endpoints(net.bridge())).unwrap();
            }
            for net in m.networks() {
                for ep in m.endpoints(net.bridge()) {
                    fw.remove_endpoint(net, ep).unwrap();
                }
                fw.install_network(net, &[]).unwrap();
                fw.remove_network(net).unwrap();
            }
            assert_eq!(sh("nft list tables"), "");
            let destroys = socket(&mut fw)
                .sent
                .iter()
                .filter(|t| **t >= msg_type(NFT_MSG_DESTROYTABLE))
                .count();
            assert_eq!(destroys == 0, legacy, "{destroys} destroy messages sent");
        })
        .unwrap();
    }
}
