//! The `brnet-dns` binary and its protocol, as bridge-net drives it: a
//! spec file written whole, `sync` on the control socket, names served on
//! each listed address, exit when nothing is left to serve.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brnet_dns::serve::{Change, Journal, SPEC_FILE, Spec, SpecEntry, SpecNetwork, tell};
use common::{Client, answers, rcode};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn spec(entries: &[(&str, &str)]) -> Spec {
    Spec {
        listen: vec!["10.89.0.1".parse().unwrap()],
        networks: vec![SpecNetwork {
            name: "customNetwork".into(),
            domain: None,
            forward: false,
            entries: entries
                .iter()
                .map(|(name, a)| SpecEntry {
                    name: (*name).into(),
                    container: (*name).into(),
                    addrs: vec![a.parse().unwrap()],
                    aliases: Vec::new(),
                })
                .collect(),
            upstreams: Vec::new(),
        }],
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(5), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sync(dir: &Path) -> bool {
    tell(dir, "sync", Duration::from_secs(3)).unwrap()
}

#[test]
fn the_binary_serves_what_the_spec_says_and_goes_when_nothing_is_left() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let dir = tempfile::tempdir().unwrap();
        spec(&[("web", "10.89.0.2"), ("db", "10.89.0.3")])
            .write(&dir.path().join(SPEC_FILE))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_brnet-dns"))
            .arg("--state-dir")
            .arg(dir.path())
            .args(["dns", "serve", "--upstream", "192.0.2.1"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("the resolver answers on its socket", || {
            tell(dir.path(), "ping", Duration::from_secs(1)).unwrap()
        });
        let server: SocketAddr = "10.89.0.1:53".parse().unwrap();
        let c = Client::new(&web, server);
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);

        // A change: written whole, then `sync`; seen by the next query.
        spec(&[("web", "10.89.0.2"), ("cache", "10.89.0.4")])
            .write(&dir.path().join(SPEC_FILE))
            .unwrap();
        assert!(sync(dir.path()));
        assert_eq!(rcode(&c.ask("db.", RecordType::A)), ResponseCode::NXDomain);
        assert_eq!(answers(&c.ask("cache.", RecordType::A)), ["10.89.0.4"]);

        // A second resolver for the same directory is not needed: it goes.
        let second = Command::new(env!("CARGO_BIN_EXE_brnet-dns"))
            .arg("--state-dir")
            .arg(dir.path())
            .args(["dns", "serve"])
            .status()
            .unwrap();
        assert!(second.success());
        assert_eq!(answers(&c.ask("web.", RecordType::A)), ["10.89.0.2"]);

        // Nothing left to serve: it exits, and takes its socket along.
        spec(&[]).write(&dir.path().join(SPEC_FILE)).unwrap();
        assert!(sync(dir.path()));
        assert!(child.wait().unwrap().success());
        assert!(!dir.path().join(brnet_dns::serve::SOCKET).exists());
        assert!(!sync(dir.path()), "nobody listens any more");
    });
}

fn endpoint(name: &str, container: &str, addr: &str, aliases: &[&str]) -> SpecEntry {
    SpecEntry {
        name: name.into(),
        container: container.into(),
        addrs: vec![addr.parse().unwrap()],
        aliases: aliases.iter().map(|a| (*a).into()).collect(),
    }
}

/// The journal's lines, read change by change on `sync` (the records
/// changed in place, not compiled whole), are served as the spec with the
/// same changes would be: a name added again replaces the older entry,
/// removing it brings the older back, an alias shared by two entries
/// answers both in the spec's order; a spec written whole (the journal
/// replaced) is read whole again.
#[test]
fn journal_lines_are_served_as_the_spec_with_them_would_be() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut s = spec(&[("web", "10.89.0.2")]);
        s.networks[0].entries[0].aliases = vec!["svc".into()];
        s.write(&d.join(SPEC_FILE)).unwrap();
        Journal::reset(d).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_brnet-dns"))
            .arg("--state-dir")
            .arg(d)
            .args(["dns", "serve", "--upstream", "192.0.2.1"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("the resolver answers on its socket", || {
            tell(d, "ping", Duration::from_secs(1)).unwrap()
        });
        let c = Client::new(&web, "10.89.0.1:53".parse().unwrap());
        let net = || "customNetwork".to_string();
        let add = |e: SpecEntry| {
            Journal::append(
                d,
                &Change::Add {
                    network: net(),
                    entry: e,
                },
            )
            .unwrap();
        };
        let remove = |e: SpecEntry| {
            Journal::append(
                d,
                &Change::Remove {
                    network: net(),
                    entry: e,
                },
            )
            .unwrap();
        };

        add(endpoint("db", "k-db", "10.89.0.3", &["svc"]));
        assert!(sync(d));
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
        assert_eq!(
            answers(&c.ask("svc.dns.brnet.", RecordType::A)),
            ["10.89.0.2", "10.89.0.3"],
            "in the spec's order"
        );
        // The same name again (another case, another container): it
        // replaces db, and goes after web.
        add(endpoint("DB", "k-db2", "10.89.0.4", &["svc"]));
        assert!(sync(d));
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.4"]);
        assert_eq!(
            answers(&c.ask("svc.", RecordType::A)),
            ["10.89.0.2", "10.89.0.4"]
        );
        assert_eq!(
            answers(&c.ask("3.0.89.10.in-addr.arpa.", RecordType::PTR)),
            Vec::<String>::new(),
            "the replaced entry's address is no name's"
        );
        // It goes: the older db comes back.
        remove(endpoint("DB", "k-db2", "10.89.0.4", &["svc"]));
        add(endpoint("cache", "k-cache", "10.89.0.5", &[]));
        assert!(sync(d));
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
        assert_eq!(
            answers(&c.ask("svc.", RecordType::A)),
            ["10.89.0.2", "10.89.0.3"]
        );
        assert_eq!(answers(&c.ask("cache.", RecordType::A)), ["10.89.0.5"]);
        assert_eq!(
            answers(&c.ask("3.0.89.10.in-addr.arpa.", RecordType::PTR)),
            ["db.dns.brnet."]
        );
        remove(endpoint("db", "k-db", "10.89.0.3", &["svc"]));
        assert!(sync(d));
        assert_eq!(rcode(&c.ask("db.", RecordType::A)), ResponseCode::NXDomain);
        assert_eq!(answers(&c.ask("svc.", RecordType::A)), ["10.89.0.2"]);

        // A spec written whole, the journal replaced: read whole again.
        spec(&[("web", "10.89.0.2"), ("queue", "10.89.0.6")])
            .write(&d.join(SPEC_FILE))
            .unwrap();
        Journal::reset(d).unwrap();
        assert!(sync(d));
        assert_eq!(
            rcode(&c.ask("cache.", RecordType::A)),
            ResponseCode::NXDomain
        );
        assert_eq!(rcode(&c.ask("svc.", RecordType::A)), ResponseCode::NXDomain);
        assert_eq!(answers(&c.ask("queue.", RecordType::A)), ["10.89.0.6"]);

        // Its last names leave through the journal: it exits.
        remove(endpoint("queue", "queue", "10.89.0.6", &[]));
        remove(endpoint("web", "web", "10.89.0.2", &[]));
        assert!(sync(d));
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn a_bad_command_line_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_brnet-dns"))
        .args(["dns", "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state-dir"));
}
