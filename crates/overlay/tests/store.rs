//! The store contract, run against both implementations: the directory
//! store, and a real etcd 3.4 started inside the sandbox.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use brnet_netns::{isolated, privileged_test};
use brnet_overlay::cluster::{Cluster, ClusterError, NetworkRecord};
use brnet_overlay::store::{self, DirStore, EtcdStore, Put, Store, StoreError, Watch};
use common::{Etcd, ip};

fn put<'a>(key: &'a str, value: &'a str) -> Put<'a> {
    Put {
        key,
        value,
        lease: None,
    }
}

fn contract(s: &dyn Store) {
    let p = "/t/";
    // put, get, list (sorted, prefix only), revisions grow.
    s.put("/t/b", "2", None).unwrap();
    s.put("/t/a", "1", None).unwrap();
    s.put("/u/x", "x", None).unwrap();
    let (kvs, rev) = s.list(p).unwrap();
    assert_eq!(
        kvs.iter()
            .map(|k| (k.key.as_str(), k.value.as_str()))
            .collect::<Vec<_>>(),
        [("/t/a", "1"), ("/t/b", "2")]
    );
    assert!(rev >= kvs[0].mod_revision && kvs[0].mod_revision > 0);
    assert_eq!(s.get("/t/a").unwrap().unwrap().value, "1");
    assert!(s.get("/t/zz").unwrap().is_none());

    // Compare-and-swap: create-if-absent wins once; by revision.
    assert!(s.swap(None, put("/t/c", "first")).unwrap());
    assert!(!s.swap(None, put("/t/c", "second")).unwrap());
    let c = s.get("/t/c").unwrap().unwrap();
    assert_eq!(c.value, "first");
    assert!(
        !s.swap(Some(c.mod_revision + 100), put("/t/c", "x"))
            .unwrap()
    );
    assert!(s.swap(Some(c.mod_revision), put("/t/c", "third")).unwrap());
    assert_eq!(s.get("/t/c").unwrap().unwrap().value, "third");

    // delete.
    assert!(s.delete("/t/c").unwrap());
    assert!(!s.delete("/t/c").unwrap());

    // wait: nothing → false at the timeout; a change → true.
    let (_, rev) = s.list(p).unwrap();
    let t = Instant::now();
    assert!(!s.wait(p, rev, Duration::from_millis(300)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(250));
    s.put("/t/d", "4", None).unwrap();
    assert!(s.wait(p, rev, Duration::from_secs(2)).unwrap());

    // Leases: renewed keys stay; an unrenewed lease takes its keys.
    let lease = s.grant(Duration::from_secs(2)).unwrap();
    s.put("/t/leased", "l", Some(lease)).unwrap();
    assert_eq!(s.get("/t/leased").unwrap().unwrap().lease, Some(lease));
    assert!(s.keep_alive(lease).unwrap().is_some());
    let (_, rev) = s.list(p).unwrap();
    let t = Instant::now();
    // The expiry wakes a waiter.
    let mut woke = false;
    while t.elapsed() < Duration::from_secs(6) {
        if s.wait(p, rev, Duration::from_millis(500)).unwrap() {
            woke = true;
            break;
        }
    }
    assert!(woke, "the expiry was seen by wait");
    assert!(s.get("/t/leased").unwrap().is_none());
    assert!(s.keep_alive(lease).unwrap().is_none(), "an expired lease");
    let gone = t.elapsed();
    assert!(gone < Duration::from_secs(6), "{gone:?}");

    // Revoke takes keys at once.
    let lease = s.grant(Duration::from_secs(30)).unwrap();
    s.put("/t/r", "r", Some(lease)).unwrap();
    s.revoke(lease).unwrap();
    assert!(s.get("/t/r").unwrap().is_none());
}

#[test]
fn directory_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let s = DirStore::open(dir.path()).unwrap();
    contract(&s);
    // Garbage in the file: a typed error naming it.
    std::fs::write(dir.path().join("store.json"), "{not json").unwrap();
    let e = s.list("/").unwrap_err();
    assert!(matches!(e, StoreError::Garbage { .. }), "{e}");
    assert!(e.to_string().contains("store.json"), "{e}");
}

/// In a fresh sandbox: a one-member etcd on 127.0.0.1 (data in `dir`),
/// and a client of it.
fn with_etcd(body: impl FnOnce(&std::path::Path, Etcd, EtcdStore) + Send) {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let dir = tempfile::tempdir().unwrap();
        let etcd = Etcd::start("127.0.0.1", dir.path());
        let s = EtcdStore::new(vec![etcd.client.clone()]).unwrap();
        body(dir.path(), etcd, s);
    })
    .unwrap();
}

#[test]
fn etcd_store_keeps_the_contract_and_fails_fast_when_down() {
    with_etcd(|_, mut etcd, s| {
        assert!(s.version().unwrap().starts_with("3."));
        contract(&s);

        // Garbage under the cluster's prefix: typed, naming the key.
        let cluster = Cluster::new(Arc::new(EtcdStore::new(vec![etcd.client.clone()]).unwrap()));
        s.put("/brnet/overlay/networks/bad", "{\"name\":", None)
            .unwrap();
        let e = cluster.snapshot().unwrap_err();
        assert!(matches!(e, ClusterError::Garbage { .. }), "{e}");
        assert!(e.to_string().contains("/brnet/overlay/networks/bad"), "{e}");
        s.delete("/brnet/overlay/networks/bad").unwrap();

        // Down: every call fails at once with a clear error.
        etcd.kill();
        let t = Instant::now();
        let e = s.put("/t/x", "x", None).unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        assert!(e.to_string().contains("unreachable"), "{e}");
        let e = s.keep_alive(store::LeaseId(1)).unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        let e = s.wait("/t/", 1, Duration::from_secs(5)).unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        let e = cluster
            .create_network(&NetworkRecord {
                name: "ov".into(),
                id: "0".repeat(64),
                subnet: "10.0.9.0/24".parse().unwrap(),
                gateway: ip("10.0.9.1"),
                vni: 0,
            })
            .unwrap_err();
        assert!(
            matches!(e, ClusterError::Store(ref s) if s.is_unreachable()),
            "{e}"
        );
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    });
}

#[test]
fn store_addresses_open_the_right_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = store::open(&format!("dir://{}", dir.path().display())).unwrap();
    assert!(s.address().starts_with("dir://"));
    let s = store::open("etcd://10.99.0.10:2379").unwrap();
    assert_eq!(s.address(), "etcd://10.99.0.10:2379");
    assert!(store::open("etcd://").is_err());
}

/// The agent's watch on etcd is one stream for every round; when the
/// member goes away it says so, and once it is back the watch resumes
/// from the revision it had seen (a change made meanwhile is not lost).
#[test]
fn etcd_watch_is_one_stream_and_resumes_after_a_restart() {
    with_etcd(|dir, mut etcd, s| {
        let (_, mut after) = s.list("/w/").unwrap();
        let mut w = s.watch("/w/", after);
        assert!(
            !w.wait(after, Duration::from_millis(300)).unwrap(),
            "no change yet"
        );
        for i in 0..5 {
            s.put(&format!("/w/{i}"), "x", None).unwrap();
            assert!(w.wait(after, Duration::from_secs(5)).unwrap(), "change {i}");
            after = s.list("/w/").unwrap().1;
            assert!(
                !w.wait(after, Duration::from_millis(100)).unwrap(),
                "nothing after {i}"
            );
        }
        // Another prefix is not watched.
        s.put("/other", "x", None).unwrap();
        assert!(!w.wait(after, Duration::from_millis(300)).unwrap());
        assert_eq!(w.streams_opened(), 1, "one stream for every round");

        // Gone: the watch says so at once.
        etcd.kill();
        let gone = common::eventually(Duration::from_secs(5), || {
            w.wait(after, Duration::from_millis(100))
                .is_err_and(|e| e.is_unreachable())
        });
        assert!(gone.is_some(), "the watch reports the member gone");
        // Back, and a change made before the watch could reopen: seen.
        let _etcd = Etcd::start("127.0.0.1", dir);
        s.put("/w/meanwhile", "x", None).unwrap();
        let seen = common::eventually(Duration::from_secs(10), || {
            w.wait(after, Duration::from_millis(100)).unwrap_or(false)
        });
        assert!(seen.is_some(), "resumed, the change seen");
        assert!(w.streams_opened() >= 2, "reopened: {}", w.streams_opened());
    });
}
