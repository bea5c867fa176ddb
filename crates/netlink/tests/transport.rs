//! The one netlink transport against the kernel, through rtnetlink (the
//! nf_tables side is tested in brnet-nat: batches refused as a whole,
//! errors in `NLMSG_DONE`): replies left over from abandoned requests are
//! skipped, a dump the data changes under runs again, dropped answers
//! make a batch's outcome unknown rather than failed.

use brnet_testkit::cmd::sh;

use brnet_netlink::msg;
use brnet_netlink::transport::{Failure, Protocol, Transport};
use brnet_netlink::{LinkChange, LinkRef, Socket};

#[test]
fn replies_left_over_from_abandoned_requests_are_skipped() {
    brnet_testkit::sandboxed(|| {
        let mut nl = Socket::new().unwrap();
        // An error (no link 9999) and an answer, never read.
        let mut missing = msg::get_link(&LinkRef::Index(9999)).unwrap();
        nl.transport().send_unanswered(&mut missing).unwrap();
        let mut lo = msg::get_link(&LinkRef::Index(1)).unwrap();
        nl.transport().send_unanswered(&mut lo).unwrap();
        // The next request takes only its own.
        assert_eq!(nl.link(LinkRef::Index(1)).unwrap().name, "lo");
        assert!(
            nl.transport().stats().stale >= 3,
            "{:?}",
            nl.transport().stats()
        );
        let err = nl.link(LinkRef::Index(9999)).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    });
}

#[test]
fn a_dump_the_data_changes_under_runs_again() {
    brnet_testkit::sandboxed(|| {
        // Enough links for the dump to come in several parts.
        let batch: String = (0..150)
            .map(|i| format!("link add a{i} type veth peer name b{i}\n"))
            .collect();
        std::fs::write("/run/links.batch", batch).unwrap();
        sh("ip -batch /run/links.batch");
        let mut nl = Socket::new().unwrap();
        let mut once = true;
        nl.transport()
            .set_between_dump_parts(Some(Box::new(move || {
                if std::mem::take(&mut once) {
                    sh("ip link add late0 type veth peer name late1");
                }
            })));
        let links = nl.links().unwrap();
        assert_eq!(links.len(), 1 + 300 + 2, "one consistent picture");
        assert!(links.iter().any(|l| l.name == "late1"));
        assert_eq!(nl.transport().stats().interrupted, 1);
        let mut names: Vec<_> = links.iter().map(|l| l.name.clone()).collect();
        names.dedup();
        assert_eq!(names.len(), links.len(), "no link twice");
    });
}

#[test]
fn dropped_answers_make_a_batch_of_unknown_outcome() {
    brnet_testkit::sandboxed(|| {
        sh("ip link add a0 type veth peer name b0");
        let mut t = Transport::open(Protocol::Route).unwrap();
        t.set_receive_buffer(0).unwrap();
        // Answers nobody reads fill the (smallest) receive queue...
        for _ in 0..64 {
            let mut m = msg::get_link(&LinkRef::Index(1)).unwrap();
            t.send_unanswered(&mut m).unwrap();
        }
        // ... so the batch's own has no room.
        let mut m = msg::set_link(
            &LinkRef::Name(brnet_netlink::IfName::new("a0").unwrap()),
            &LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        )
        .unwrap();
        assert_eq!(t.batch(&mut m), Err(Failure::Lost));
        assert!(t.stats().dropped > 0);
        // It did take; reading back tells.
        let mut nl = Socket::new().unwrap();
        let a0 = nl.link_by_name("a0").unwrap();
        assert!(a0.is_up());
        // With room again, the next request works: what was dropped is
        // not taken for its answer.
        t.set_receive_buffer(256 * 1024).unwrap();
        let mut m = msg::get_link(&LinkRef::Index(1)).unwrap();
        let mut got = 0;
        t.request(&mut m, &mut |_, _| got += 1).unwrap();
        assert_eq!(got, 1);
    });
}
