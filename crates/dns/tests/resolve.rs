//! Containers find each other by name, over the wire, in a sandbox: two
//! containers on customNetwork, one on another network, one on two.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use brnet_dns::{Config, Entry, Network, Resolver, Table};
use brnet_testkit::topo::{attach, container, network};
use common::{Client, answers, rcode};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn addr(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

/// customNetwork (br0, dual stack) with web and db; otherNet (br1) with
/// c3; both (on br0 and br1) asks from either side.
fn topology() -> Table {
    network("br0", &["10.89.0.1/24", "fd00:89::1/64"]);
    network("br1", &["10.89.1.1/24"]);
    let mut table = Table::new();
    table
        .insert(
            Network::new("customNetwork")
                .entry(Entry::new("web", [addr("10.89.0.2"), addr("fd00:89::2")]).alias("www"))
                .entry(Entry::new("db", [addr("10.89.0.3"), addr("fd00:89::3")]).alias("database"))
                .entry(Entry::new("both", [addr("10.89.0.9")]).container("ns-both")),
        )
        .unwrap();
    table
        .insert(
            Network::new("otherNet")
                .domain("other.brnet")
                .entry(Entry::new("c3", [addr("10.89.1.2")]))
                .entry(Entry::new("both", [addr("10.89.1.9")]).container("ns-both")),
        )
        .unwrap();
    table
}

const GW0: &str = "10.89.0.1:53";
const GW0_V6: &str = "[fd00:89::1]:53";
const GW1: &str = "10.89.1.1:53";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn containers_resolve_each_other_and_isolation_holds() {
    brnet_testkit::sandboxed(|| {
        let table = topology();
        let web = container("web", "br0", &["10.89.0.2/24", "fd00:89::2/64"]);
        let db = container("db", "br0", &["10.89.0.3/24", "fd00:89::3/64"]);
        let c3 = container("c3", "br1", &["10.89.1.2/24"]);
        let both = container("both", "br0", &["10.89.0.9/24"]);
        attach("both", "br1", "eth1", &["10.89.1.9/24"]);

        let resolver = Resolver::start(Config::default()).unwrap();
        resolver
            .set_listeners(&[sa(GW0), sa(GW0_V6), sa(GW1)])
            .unwrap();
        resolver.set_records(table);
        let mut bound = resolver.listeners();
        bound.sort();
        assert_eq!(bound, vec![sa(GW0), sa(GW1), sa(GW0_V6)]);

        // each resolves the other's name and alias, bare and qualified,
        // any case
        let from_web = Client::new(&web, sa(GW0));
        for name in [
            "db.",
            "DB.",
            "database.",
            "Db.Dns.Brnet.",
            "DATABASE.dns.brnet.",
        ] {
            let m = from_web.ask(name, RecordType::A);
            assert_eq!(rcode(&m), ResponseCode::NoError, "{name}");
            assert_eq!(answers(&m), ["10.89.0.3"], "{name}");
            assert!(m.metadata.authoritative);
        }
        let from_db = Client::new(&db, sa(GW0));
        for name in ["web.", "www.", "WWW.dns.brnet."] {
            assert_eq!(
                answers(&from_db.ask(name, RecordType::A)),
                ["10.89.0.2"],
                "{name}"
            );
        }
        // AAAA on the dual-stack network, also asked over IPv6
        assert_eq!(
            answers(&from_db.ask("web.", RecordType::AAAA)),
            ["fd00:89::2"]
        );
        let from_db6 = Client::new(&db, sa(GW0_V6));
        assert_eq!(
            answers(&from_db6.ask("www.", RecordType::AAAA)),
            ["fd00:89::2"]
        );
        assert_eq!(answers(&from_db6.ask("www.", RecordType::A)), ["10.89.0.2"]);
        // reverse
        let m = from_web.ask("3.0.89.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(answers(&m), ["db.dns.brnet."]);
        let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.8.0.0.0.0.d.f.ip6.arpa.";
        assert_eq!(
            answers(&from_db6.ask(v6, RecordType::PTR)),
            ["web.dns.brnet."]
        );
        // over TCP too
        assert_eq!(
            answers(&from_web.ask_tcp("db.", RecordType::A)),
            ["10.89.0.3"]
        );

        // another network: NXDOMAIN for all of it, its own names work
        let from_c3 = Client::new(&c3, sa(GW1));
        for name in ["db.", "web.dns.brnet.", "www.", "3.0.89.10.in-addr.arpa."] {
            let m = from_c3.ask(name, RecordType::A);
            assert_eq!(rcode(&m), ResponseCode::NXDomain, "{name}");
            assert!(m.answers.is_empty(), "{name}");
        }
        // even when it asks customNetwork's gateway (it routes there via
        // the host): the asker, not the listener, decides
        ip_route_add("c3", "10.89.0.0/24", "10.89.1.1");
        let c3_to_gw0 = Client::new(&c3, sa(GW0));
        assert_eq!(
            rcode(&c3_to_gw0.ask("db.", RecordType::A)),
            ResponseCode::NXDomain
        );
        assert_eq!(
            answers(&from_c3.ask("both.other.brnet.", RecordType::A)),
            ["10.89.1.9"]
        );

        // a container on both networks sees both, its asking side first
        let both_1 = Client::new(&both, sa(GW1));
        assert_eq!(answers(&both_1.ask("c3.", RecordType::A)), ["10.89.1.2"]);
        assert_eq!(answers(&both_1.ask("db.", RecordType::A)), ["10.89.0.3"]);
        assert_eq!(
            answers(&both_1.ask("both.", RecordType::A)),
            ["10.89.1.9", "10.89.0.9"]
        );
        // web shares only customNetwork with it
        assert_eq!(
            answers(&from_web.ask("both.", RecordType::A)),
            ["10.89.0.9"]
        );

        resolver.stop().unwrap();
    });
}

fn ip_route_add(ns: &str, dst: &str, via: &str) {
    brnet_testkit::cmd::ip(&["-n", ns, "route", "add", dst, "via", via]);
}

/// A real client: `dig` (Debian's bind9-dnsutils) inside the container.
#[test]
fn dig_resolves_names_and_reverse() {
    if !brnet_testkit::privileged_test() {
        return;
    }
    assert!(
        Command::new("dig").arg("-v").output().is_ok(),
        "this test runs dig: install bind9-dnsutils"
    );
    brnet_testkit::isolated(|| {
        let table = topology();
        let _web = container("web", "br0", &["10.89.0.2/24", "fd00:89::2/64"]);
        let resolver = Resolver::start(Config::default()).unwrap();
        resolver.set_listeners(&[sa(GW0)]).unwrap();
        resolver.set_records(table);
        let dig = |args: &[&str]| -> String {
            let out = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    "web",
                    "dig",
                    "@10.89.0.1",
                    "+tries=1",
                    "+time=3",
                ])
                .args(args)
                .output()
                .expect("run dig");
            assert!(out.status.success(), "dig {args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(dig(&["+short", "db"]).trim(), "10.89.0.3");
        assert_eq!(
            dig(&["+short", "DATABASE.dns.brnet", "A"]).trim(),
            "10.89.0.3"
        );
        assert_eq!(dig(&["+short", "db", "AAAA"]).trim(), "fd00:89::3");
        assert_eq!(dig(&["+short", "-x", "10.89.0.3"]).trim(), "db.dns.brnet.");
        assert_eq!(dig(&["+short", "+tcp", "www"]).trim(), "10.89.0.2");
        let full = dig(&["c3.other.brnet"]);
        assert!(full.contains("status: NXDOMAIN"), "{full}");
        assert!(full.contains("flags: qr aa rd ra"), "{full}");
        resolver.stop().unwrap();
    })
    .unwrap();
}
