//! Records and listeners change at run time, while queries keep coming.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use brnet_dns::{Config, Entry, Error, Network, Proto, Resolver, Table};
use brnet_testkit::topo::{container, network};
use common::{Client, GW, answers, rcode, sa};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn addr(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn base() -> Table {
    let mut t = Table::new();
    t.insert(common::custom_network()).unwrap();
    t
}

#[test]
fn remove_and_add_endpoint_seen_by_the_next_query() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let resolver = Resolver::start(Config::default()).unwrap();
        resolver.set_listeners(&[sa(GW)]).unwrap();
        resolver.set_records(base());
        let c = Client::new(&web, sa(GW));
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);

        assert!(resolver.remove_entry("customNetwork", "DB"));
        assert_eq!(rcode(&c.ask("db.", RecordType::A)), ResponseCode::NXDomain);
        assert!(!resolver.remove_entry("customNetwork", "db"));

        resolver
            .add_entry(
                "customNetwork",
                Entry::new("db", [addr("10.89.0.4")]).alias("pg"),
            )
            .unwrap();
        assert_eq!(answers(&c.ask("pg.", RecordType::A)), ["10.89.0.4"]);
        assert_eq!(
            answers(&c.ask("db.dns.brnet.", RecordType::A)),
            ["10.89.0.4"]
        );

        // a failed edit changes nothing
        let err = resolver
            .add_entry("customNetwork", Entry::new("bad name", [addr("10.89.0.5")]))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{err}");
        let err = resolver
            .add_entry("nope", Entry::new("x", [addr("10.89.0.5")]))
            .unwrap_err();
        assert_eq!(err.to_string(), "no network \"nope\" in the table");
        assert_eq!(answers(&c.ask("pg.", RecordType::A)), ["10.89.0.4"]);

        // the asker itself disconnected: it sees nothing any more
        resolver.remove_entry("customNetwork", "web");
        assert_eq!(rcode(&c.ask("pg.", RecordType::A)), ResponseCode::NXDomain);

        // a whole new table
        resolver.set_records(base());
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
        assert_eq!(rcode(&c.ask("pg.", RecordType::A)), ResponseCode::NXDomain);
        assert_eq!(resolver.records(), base());
        resolver.stop().unwrap();
    });
}

/// 50 endpoints connect and disconnect while a client asks in a loop:
/// every query is answered, db always resolves, and each change is seen
/// by the query after it.
#[test]
fn keeps_answering_through_50_concurrent_changes() {
    brnet_testkit::sandboxed(|| {
        network("br0", &["10.89.0.1/16"]);
        let web = container("web", "br0", &["10.89.0.2/16"]);
        let resolver = Arc::new(Resolver::start(Config::default()).unwrap());
        resolver.set_listeners(&[sa(GW)]).unwrap();
        resolver.set_records(base());

        let done = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(AtomicU64::new(0));
        let looper = {
            let c = Client::new(&web, sa(GW));
            let (done, asked) = (done.clone(), asked.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    // every query gets an answer (ask panics on a timeout)
                    assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
                    let m = c.ask("x7.", RecordType::A);
                    assert!(
                        matches!(rcode(&m), ResponseCode::NoError | ResponseCode::NXDomain),
                        "{m:?}"
                    );
                    asked.fetch_add(2, Ordering::SeqCst);
                }
            })
        };

        // 50 changes from 5 threads at once, each checked by a query
        let changers: Vec<_> = (0..5)
            .map(|t| {
                let resolver = resolver.clone();
                let c = Client::new(&web, sa(GW));
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let name = format!("x{t}{i}");
                        let ip = addr(&format!("10.89.{}.{}", 10 + t, 10 + i));
                        if i % 2 == 0 {
                            resolver
                                .add_entry("customNetwork", Entry::new(&name, [ip]))
                                .unwrap();
                            let m = c.ask(&format!("{name}."), RecordType::A);
                            assert_eq!(answers(&m), [ip.to_string()], "{name} added");
                        } else {
                            let prev = format!("x{t}{}", i - 1);
                            assert!(resolver.remove_entry("customNetwork", &prev));
                            let m = c.ask(&format!("{prev}."), RecordType::A);
                            assert_eq!(rcode(&m), ResponseCode::NXDomain, "{prev} removed");
                        }
                    }
                })
            })
            .collect();
        for c in changers {
            c.join().expect("changer");
        }
        done.store(true, Ordering::SeqCst);
        looper.join().expect("query loop");
        assert!(asked.load(Ordering::SeqCst) > 0);
        let stats = resolver.stats();
        assert!(stats.record_updates >= 51, "{stats:?}");
        assert_eq!(resolver.records(), base());
        Arc::into_inner(resolver).unwrap().stop().unwrap();
    });
}

/// A forwarded query in flight survives a record swap.
#[test]
fn forwards_in_flight_survive_record_changes() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let out = common::out();
        let upstream = common::Upstream::start(&out, sa("198.51.100.2:53"), common::Stub::Answer);
        let resolver = Resolver::start(Config {
            upstreams: vec![upstream.addr],
            ..Config::default()
        })
        .unwrap();
        resolver.set_listeners(&[sa(GW)]).unwrap();
        resolver.set_records(base());
        let c = Client::new(&web, sa(GW));
        // slow.test takes the stub 300 ms: swap records meanwhile
        let asking = std::thread::spawn(move || c.ask("slow.test.", RecordType::A));
        std::thread::sleep(std::time::Duration::from_millis(100));
        for _ in 0..10 {
            resolver.set_records(base());
        }
        let m = asking.join().unwrap();
        assert_eq!(answers(&m), ["192.0.2.9"]);
        resolver.stop().unwrap();
    });
}

#[test]
fn listeners_come_and_go() {
    brnet_testkit::sandboxed(|| {
        network("br0", &["10.89.0.1/24"]);
        network("br1", &["10.89.1.1/24"]);
        let web = container("web", "br0", &["10.89.0.2/24"]);
        let c3 = container("c3", "br1", &["10.89.1.2/24"]);
        let mut table = base();
        table
            .insert(Network::new("n1").entry(Entry::new("c3", [addr("10.89.1.2")])))
            .unwrap();
        let resolver = Resolver::start(Config::default()).unwrap();
        resolver.set_records(table);
        resolver.set_listeners(&[sa(GW)]).unwrap();
        let from_web = Client::new(&web, sa(GW));
        let from_c3 = Client::new(&c3, sa("10.89.1.1:53"));
        assert_eq!(answers(&from_web.ask("db.", RecordType::A)), ["10.89.0.3"]);

        // a second network's gateway joins; the first keeps serving
        resolver
            .set_listeners(&[sa(GW), sa("10.89.1.1:53")])
            .unwrap();
        assert_eq!(answers(&from_c3.ask("c3.", RecordType::A)), ["10.89.1.2"]);
        assert_eq!(answers(&from_web.ask("web.", RecordType::A)), ["10.89.0.2"]);

        // the first goes: nothing listens there (ICMP port unreachable)
        resolver.set_listeners(&[sa("10.89.1.1:53")]).unwrap();
        from_web.wait(std::time::Duration::from_millis(500));
        assert!(
            from_web
                .exchange(&common::query("db.", RecordType::A))
                .is_err()
        );
        // and comes back at once: the old sockets are closed
        assert_eq!(resolver.add_listener(sa(GW)).unwrap(), sa(GW));
        from_web.wait(common::WAIT);
        assert_eq!(answers(&from_web.ask("db.", RecordType::A)), ["10.89.0.3"]);
        assert!(resolver.remove_listener(sa(GW)).unwrap());
        assert!(!resolver.remove_listener(sa(GW)).unwrap());
        assert_eq!(resolver.listeners(), vec![sa("10.89.1.1:53")]);

        // a high port, and port 0 (UDP and TCP get the same one)
        resolver.add_listener(sa("10.89.0.1:5353")).unwrap();
        let c = from_web.to(sa("10.89.0.1:5353"));
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
        let any = resolver.add_listener(sa("10.89.0.1:0")).unwrap();
        assert_ne!(any.port(), 0);
        let c = from_web.to(any);
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
        assert_eq!(answers(&c.ask_tcp("db.", RecordType::A)), ["10.89.0.3"]);
        resolver.stop().unwrap();
    });
}

#[test]
fn bind_errors_name_the_address_and_the_rest_still_serve() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let squatter = std::net::UdpSocket::bind(GW).unwrap();
        let resolver = Resolver::start(Config::default()).unwrap();
        resolver.set_records(base());
        let err = resolver
            .set_listeners(&[sa(GW), sa("10.99.0.1:53"), sa("10.89.0.1:5300")])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 errors: bind udp 10.89.0.1:53: address already in use (EADDRINUSE); \
             bind udp 10.99.0.1:53: cannot assign requested address (EADDRNOTAVAIL)"
        );
        assert!(matches!(
            err.all()[0],
            Error::Bind { proto: Proto::Udp, addr, .. } if *addr == sa(GW)
        ));
        assert_eq!(resolver.listeners(), vec![sa("10.89.0.1:5300")]);
        let c = Client::new(&web, sa("10.89.0.1:5300"));
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
        // the squatter leaves: the next set_listeners binds it (a child
        // process another test forks at that instant may hold a copy of
        // the squatter's descriptor until it execs: try again briefly)
        drop(squatter);
        let mut bound = resolver.set_listeners(&[sa(GW), sa("10.89.0.1:5300")]);
        for _ in 0..100 {
            if bound.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            bound = resolver.set_listeners(&[sa(GW), sa("10.89.0.1:5300")]);
        }
        bound.unwrap();
        assert_eq!(resolver.listeners().len(), 2);
        resolver.stop().unwrap();
    });
}
