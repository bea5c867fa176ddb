//! Forwarding to a stub upstream in an "outside" namespace: answers relayed,
//! truncated answers asked again over TCP, SERVFAIL when nobody answers.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brnet_dns::{Config, Entry, LogSink, Network, Resolver, Table};
use brnet_testkit::topo::container;
use common::{Client, GW, Stub, Upstream, answers, rcode, sa};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const UPSTREAM: &str = "198.51.100.2:53";

fn table() -> Table {
    let mut t = Table::new();
    t.insert(common::custom_network()).unwrap();
    t.insert(
        Network::new("internal")
            .forward(false)
            .entry(Entry::new("secret", ["10.89.0.50".parse().unwrap()])),
    )
    .unwrap();
    t
}

/// The log lines, kept for the test to read.
fn capture() -> (LogSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let keep = lines.clone();
    (
        LogSink::new(move |l| {
            eprintln!("{l}");
            keep.lock().unwrap().push(l.to_owned());
        }),
        lines,
    )
}

#[test]
fn answers_come_from_upstream_with_tcp_fallback() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let out = common::out();
        let _upstream = Upstream::start(&out, sa(UPSTREAM), Stub::Answer);
        let resolver = Resolver::start(Config {
            upstreams: vec![sa(UPSTREAM)],
            ..Config::default()
        })
        .unwrap();
        resolver.set_listeners(&[sa(GW)]).unwrap();
        resolver.set_records(table());
        let c = Client::new(&web, sa(GW));

        let m = c.ask("example.test.", RecordType::A);
        assert_eq!(rcode(&m), ResponseCode::NoError);
        assert_eq!(answers(&m), ["192.0.2.7"]);
        assert!(!m.metadata.authoritative, "relayed, not ours");
        assert_eq!(m.queries[0].name().to_string(), "example.test.");
        // upstream's NXDOMAIN is relayed as is
        assert_eq!(
            rcode(&c.ask("nothing.test.", RecordType::A)),
            ResponseCode::NXDomain
        );
        // truncated over UDP upstream: asked again over TCP, the client
        // gets the full answer over UDP
        let m = c.ask("big.test.", RecordType::A);
        assert!(!m.metadata.truncation);
        assert_eq!(answers(&m), ["192.0.2.8"]);
        // a TCP client's forwarded query
        assert_eq!(
            answers(&c.ask_tcp("example.test.", RecordType::A)),
            ["192.0.2.7"]
        );
        assert_eq!(
            answers(&c.ask_tcp("big.test.", RecordType::A)),
            ["192.0.2.8"]
        );
        // local names never go upstream
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);

        let s = resolver.stats();
        assert_eq!(s.forwarded, 5, "{s:?}");
        assert_eq!(s.upstream_answers, 5, "{s:?}");
        assert_eq!(s.tcp_fallbacks, 2, "{s:?}");
        assert_eq!(s.servfail, 0, "{s:?}");
        resolver.stop().unwrap();
    });
}

#[test]
fn servfail_and_one_log_line_when_upstream_is_down() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let _out = common::out();
        // nothing listens upstream
        let (log, lines) = capture();
        let resolver = Resolver::start(Config {
            upstreams: vec![sa(UPSTREAM)],
            forward_timeout: Duration::from_millis(500),
            log,
            ..Config::default()
        })
        .unwrap();
        resolver.set_listeners(&[sa(GW)]).unwrap();
        resolver.set_records(table());
        let c = Client::new(&web, sa(GW));
        // the client waits longer than the resolver's timeout
        c.wait(Duration::from_secs(3));
        let m = c.ask("example.test.", RecordType::A);
        assert_eq!(rcode(&m), ResponseCode::ServFail);
        assert_eq!(m.queries[0].name().to_string(), "example.test.");
        let lines = lines.lock().unwrap().clone();
        assert_eq!(
            lines,
            vec![
                "brnet-dns: SERVFAIL for example.test. A from 10.89.0.2: no upstream answered \
                 within 500ms (asked 198.51.100.2:53)"
                    .to_string()
            ]
        );
        // over TCP too
        let m = c.ask_tcp("example.test.", RecordType::A);
        assert_eq!(rcode(&m), ResponseCode::ServFail);
        // local names are still answered
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
        resolver.stop().unwrap();
    });
}

#[test]
fn next_upstream_when_the_first_fails() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let out = common::out();
        brnet_testkit::cmd::ip(&["-n", "out", "addr", "add", "198.51.100.3/24", "dev", "eth0"]);
        brnet_testkit::cmd::ip(&["-n", "out", "addr", "add", "198.51.100.4/24", "dev", "eth0"]);
        let _failing = Upstream::start(&out, sa("198.51.100.3:53"), Stub::ServFail);
        let _good = Upstream::start(&out, sa(UPSTREAM), Stub::Answer);
        c_asks_through(
            &web,
            // dead (nothing listens), then SERVFAIL, then the good one
            vec![sa("198.51.100.4:53"), sa("198.51.100.3:53"), sa(UPSTREAM)],
        );
    });
}

fn c_asks_through(web: &brnet_netns::Netns, upstreams: Vec<SocketAddr>) {
    let resolver = Resolver::start(Config {
        upstreams,
        forward_timeout: Duration::from_millis(1500),
        ..Config::default()
    })
    .unwrap();
    resolver.set_listeners(&[sa(GW)]).unwrap();
    resolver.set_records(table());
    let c = Client::new(web, sa(GW));
    let m = c.ask("example.test.", RecordType::A);
    assert_eq!(answers(&m), ["192.0.2.7"]);
    resolver.stop().unwrap();
}

#[test]
fn internal_networks_and_no_upstream() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let secret = container("secret", "br0", &["10.89.0.50/24"]);
        let (log, lines) = capture();
        let resolver = Resolver::start(Config {
            log,
            ..Config::default()
        })
        .unwrap();
        resolver.set_listeners(&[sa(GW)]).unwrap();
        resolver.set_records(table());
        // an internal network's container: REFUSED, nothing leaves
        let c = Client::new(&secret, sa(GW));
        assert_eq!(
            rcode(&c.ask("example.test.", RecordType::A)),
            ResponseCode::Refused
        );
        assert!(lines.lock().unwrap().is_empty());
        // no upstream configured: SERVFAIL, said once
        let c = Client::new(&web, sa(GW));
        assert_eq!(
            rcode(&c.ask("example.test.", RecordType::A)),
            ResponseCode::ServFail
        );
        assert_eq!(
            *lines.lock().unwrap(),
            vec![
                "brnet-dns: SERVFAIL for example.test. A from 10.89.0.2: no upstream nameserver \
                 is configured"
                    .to_string()
            ]
        );
        resolver.stop().unwrap();
    });
}

/// A flood of forwards to a dead upstream: never more than the limit in
/// flight, the excess answered SERVFAIL at once, local names unaffected.
#[test]
fn forwards_in_flight_are_bounded() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let _out = common::out();
        let resolver = Resolver::start(Config {
            upstreams: vec![sa(UPSTREAM)],
            forward_timeout: Duration::from_secs(2),
            max_forwards: 16,
            log: LogSink::new(|_| {}),
            ..Config::default()
        })
        .unwrap();
        resolver.set_listeners(&[sa(GW)]).unwrap();
        resolver.set_records(table());
        let c = Client::new(&web, sa(GW));
        for i in 0..1000 {
            c.send_raw(
                &common::query(&format!("n{i}.example.test."), RecordType::A)
                    .to_vec()
                    .unwrap(),
            );
        }
        // local names are answered meanwhile
        let local = c.to(sa(GW));
        assert_eq!(
            answers(&local.ask_retrying("db.", RecordType::A, 10)),
            ["10.89.0.3"]
        );
        let s = resolver.stats();
        assert!(s.peak_in_flight <= 16, "{s:?}");
        assert!(s.forwarded <= 1000, "{s:?}");
        resolver.stop().unwrap();
    });
}

/// A network with name servers of its own (netavark's
/// `network_dns_servers`): its containers' other names go there, and the
/// other networks' still go to the resolver's upstreams.
#[test]
fn a_network_forwards_to_its_own_name_servers() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let own = container("own", "br0", &["10.89.0.9/24"]);
        let out = common::out();
        brnet_testkit::cmd::ip(&["-n", "out", "addr", "add", "198.51.100.3/24", "dev", "eth0"]);
        // The resolver's upstream fails every query; the network's own
        // answers.
        let _default = Upstream::start(&out, sa("198.51.100.3:53"), Stub::ServFail);
        let _own = Upstream::start(&out, sa(UPSTREAM), Stub::Answer);
        let resolver = Resolver::start(Config {
            upstreams: vec![sa("198.51.100.3:53")],
            forward_timeout: Duration::from_millis(1500),
            ..Config::default()
        })
        .unwrap();
        resolver.set_listeners(&[sa(GW)]).unwrap();
        let mut t = table();
        t.insert(
            Network::new("withServers")
                .upstreams([sa(UPSTREAM)])
                .entry(Entry::new("own", ["10.89.0.9".parse().unwrap()])),
        )
        .unwrap();
        resolver.set_records(t);
        let m = Client::new(&own, sa(GW)).ask("example.test.", RecordType::A);
        assert_eq!(answers(&m), ["192.0.2.7"]);
        let m = Client::new(&web, sa(GW)).ask("example.test.", RecordType::A);
        assert_eq!(rcode(&m), ResponseCode::ServFail);
        // Its local names are still answered locally.
        let m = Client::new(&own, sa(GW)).ask("own.", RecordType::A);
        assert_eq!(answers(&m), ["10.89.0.9"]);
        resolver.stop().unwrap();
    });
}
