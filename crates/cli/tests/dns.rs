//! Name resolution end to end: bridge-net starts `brnet dns serve` (this
//! package's binary; the same server as `brnet-dns`) for DNS-enabled
//! networks, and containers query it over the wire on their gateway's port
//! 53.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use bridge_net::{BridgeNet, Config, ConnectOptions, NetworkOptions, ResolverCommand};
use brnet_netns::{Netns, NetnsDir, isolated, privileged_test};
use brnet_testkit::cmd::ip;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

fn open(dir: &std::path::Path) -> BridgeNet {
    BridgeNet::open_with(Config {
        resolver: ResolverCommand::Path(env!("CARGO_BIN_EXE_brnet").into()),
        ..Config::new(dir)
    })
    .unwrap()
}

/// Ask `server` for `name` from inside `ns`; the reply.
fn ask(ns: &Netns, server: IpAddr, name: &str, qtype: RecordType) -> Message {
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let bytes = q.to_vec().unwrap();
    let what = format!("{name} {qtype} from {:?} to {server}:53", ns.name());
    ns.run(move || {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(&bytes, SocketAddr::new(server, 53)).unwrap();
        let mut buf = [0u8; 4096];
        let n = s
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no answer to {what}: {e}"));
        Message::from_vec(&buf[..n]).unwrap()
    })
    .unwrap()
}

fn addrs(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0.to_string(),
            RData::PTR(p) => p.0.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn custom(subnet: &str) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    o
}

#[test]
fn containers_find_each_other_by_name_and_only_on_their_network() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(dir.path());
        b.create_network("customNetwork", &custom("172.20.0.0/16"))
            .unwrap();
        b.create_network("other", &custom("172.21.0.0/16")).unwrap();
        let nsd = NetnsDir::default();
        let (web, db, stranger, _old) = (
            nsd.create("web").unwrap(),
            nsd.create("db").unwrap(),
            nsd.create("stranger").unwrap(),
            nsd.create("old").unwrap(),
        );
        let w = b
            .connect(
                "customNetwork",
                &"web".parse().unwrap(),
                &ConnectOptions {
                    aliases: vec!["www".into()],
                    ..Default::default()
                },
            )
            .unwrap();
        let d = b
            .connect(
                "customNetwork",
                &"db".parse().unwrap(),
                &ConnectOptions::default(),
            )
            .unwrap();
        let s = b
            .connect(
                "other",
                &"stranger".parse().unwrap(),
                &ConnectOptions::default(),
            )
            .unwrap();
        let o = b
            .connect(
                "bridge",
                &"old".parse().unwrap(),
                &ConnectOptions::default(),
            )
            .unwrap();
        let gw: IpAddr = "172.20.0.1".parse().unwrap();
        assert_eq!(w.dns_servers, vec![gw]);
        assert_eq!(s.dns_servers, vec!["172.21.0.1".parse::<IpAddr>().unwrap()]);
        assert!(
            o.dns_servers.is_empty(),
            "no resolver on the default bridge"
        );
        let web_ip = w.ipv4.unwrap().addr().to_string();
        let db_ip = d.ipv4.unwrap().addr().to_string();

        // Each resolves the other, bare and under the domain, any case; the alias too.
        assert_eq!(
            addrs(&ask(&web, gw, "db.", RecordType::A)),
            [db_ip.as_str()]
        );
        assert_eq!(
            addrs(&ask(&db, gw, "WEB.dns.brnet.", RecordType::A)),
            [web_ip.as_str()]
        );
        assert_eq!(
            addrs(&ask(&db, gw, "www.", RecordType::A)),
            [web_ip.as_str()]
        );
        // Reverse.
        let rev = format!("{}.in-addr.arpa.", {
            let mut o: Vec<&str> = db_ip.split('.').collect();
            o.reverse();
            o.join(".")
        });
        assert_eq!(
            addrs(&ask(&web, gw, &rev, RecordType::PTR)),
            ["db.dns.brnet."]
        );
        // Another network's container does not see them.
        let other_gw: IpAddr = "172.21.0.1".parse().unwrap();
        let r = ask(&stranger, other_gw, "web.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);

        // Disconnect removes the name by the next query; connect adds it.
        assert!(
            b.disconnect("customNetwork", &"db".parse().unwrap())
                .unwrap()
        );
        let r = ask(&web, gw, "db.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        b.connect(
            "customNetwork",
            &"db".parse().unwrap(),
            &ConnectOptions::default(),
        )
        .unwrap();
        assert_eq!(addrs(&ask(&web, gw, "db.", RecordType::A)).len(), 1);

        // It keeps serving while 50 containers come and go.
        for k in 0..50 {
            let name = format!("t{k}");
            nsd.create(&name).unwrap();
            b.connect(
                "customNetwork",
                &name.parse().unwrap(),
                &ConnectOptions::default(),
            )
            .unwrap();
            assert_eq!(
                addrs(&ask(&web, gw, &format!("{name}."), RecordType::A)).len(),
                1
            );
            if k % 2 == 0 {
                b.disconnect("customNetwork", &name.parse().unwrap())
                    .unwrap();
                let r = ask(&web, gw, &format!("{name}."), RecordType::A);
                assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
            }
        }
        assert!(b.resolver_running());
        // Everything off DNS networks: the resolver goes away by itself.
        let names: Vec<String> = b
            .endpoints(None)
            .unwrap()
            .into_iter()
            .filter(|e| e.network != "bridge")
            .map(|e| format!("{} {}", e.network, e.netns.display()))
            .collect();
        for n in names {
            let (net, path) = n.split_once(' ').unwrap();
            b.disconnect(net, &bridge_net::NetnsRef::Path(path.into()))
                .unwrap();
        }
        let mut gone = false;
        for _ in 0..100 {
            if !b.resolver_running() {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            gone,
            "the resolver exits when no DNS-enabled network has endpoints"
        );
    })
    .unwrap();
}

#[test]
fn reconcile_restarts_a_resolver_that_died() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(dir.path());
        b.create_network("n", &custom("172.22.0.0/16")).unwrap();
        let nsd = NetnsDir::default();
        let a = nsd.create("a").unwrap();
        nsd.create("z").unwrap();
        b.connect("n", &"a".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        b.connect("n", &"z".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        assert!(b.stop_resolver().unwrap());
        for _ in 0..100 {
            if !b.resolver_running() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!b.resolver_running());
        let report = b.reconcile().unwrap();
        assert!(report.resolver_started);
        let gw: IpAddr = "172.22.0.1".parse().unwrap();
        assert_eq!(addrs(&ask(&a, gw, "z.", RecordType::A)), ["172.22.0.3"]);
        b.stop_resolver().unwrap();
    })
    .unwrap();
}

/// Connect and disconnect append a line to the resolver's journal (the
/// spec is written whole only for a network's first endpoint): each name
/// still resolves as soon as connect returns and is gone as soon as
/// disconnect returns, at many endpoints; a resolver killed and started
/// again (by the next connect, from the spec and the journal on disk; by
/// reconcile) serves every name.
#[test]
fn names_come_and_go_through_the_journal_and_survive_a_killed_resolver() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(dir.path());
        b.create_network("n", &custom("172.23.0.0/16")).unwrap();
        let gw: IpAddr = "172.23.0.1".parse().unwrap();
        let nsd = NetnsDir::default();
        let asker = nsd.create("asker").unwrap();
        b.connect("n", &"asker".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        let spec = dir.path().join(bridge_net::RESOLVER_SPEC);
        let journal = dir.path().join(bridge_net::RESOLVER_JOURNAL);
        let spec_written = std::fs::metadata(&spec).unwrap().modified().unwrap();
        let lines = || {
            std::fs::read_to_string(&journal)
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.is_empty())
                .count()
        };
        let resolves = |name: &str| -> Vec<String> {
            let r = ask(&asker, gw, &format!("{name}."), RecordType::A);
            match r.metadata.response_code {
                ResponseCode::NXDomain => Vec::new(),
                ResponseCode::NoError => addrs(&r),
                other => panic!("{name}: {other:?}"),
            }
        };
        let mut ips = std::collections::BTreeMap::new();
        for k in 0..60 {
            let name = format!("j{k}");
            nsd.create(&name).unwrap();
            let ep = b
                .connect(
                    "n",
                    &name.parse().unwrap(),
                    &ConnectOptions {
                        aliases: vec![format!("alias{k}")],
                        ..Default::default()
                    },
                )
                .unwrap();
            assert!(ep.dns_warning.is_none(), "{:?}", ep.dns_warning);
            let ip = ep.ipv4.unwrap().addr().to_string();
            assert_eq!(resolves(&name), [ip.as_str()], "{name} right after connect");
            assert_eq!(resolves(&format!("alias{k}")), [ip.as_str()]);
            ips.insert(name, ip);
        }
        assert_eq!(lines(), 60, "one journal line per connect");
        for k in (0..60).step_by(3) {
            let name = format!("j{k}");
            assert!(b.disconnect("n", &name.parse().unwrap()).unwrap());
            assert!(resolves(&name).is_empty(), "{name} right after disconnect");
            assert!(resolves(&format!("alias{k}")).is_empty());
            ips.remove(&name);
        }
        assert_eq!(lines(), 80, "one journal line per disconnect");
        assert_eq!(
            std::fs::metadata(&spec).unwrap().modified().unwrap(),
            spec_written,
            "the spec was written once, for the network's first endpoint"
        );
        let check_all = |ips: &std::collections::BTreeMap<String, String>, what: &str| {
            for (name, ip) in ips {
                assert_eq!(resolves(name), [ip.as_str()], "{name} {what}");
            }
            for k in (0..60).step_by(3) {
                assert!(resolves(&format!("j{k}")).is_empty(), "j{k} {what}");
            }
        };

        // Killed: the next connect starts one, which reads the spec and
        // the journal.
        let kill = || {
            let pid: i32 = std::fs::read_to_string(dir.path().join(bridge_net::RESOLVER_PID))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            // The resolver this test started, by its pid.
            let st = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
            assert!(st.success());
            for _ in 0..200 {
                if !b_running(dir.path()) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("the resolver {pid} does not die");
        };
        kill();
        nsd.create("late").unwrap();
        let ep = b
            .connect("n", &"late".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        assert!(ep.dns_warning.is_none(), "{:?}", ep.dns_warning);
        ips.insert("late".into(), ep.ipv4.unwrap().addr().to_string());
        assert_eq!(lines(), 81, "started from the journal, not a new spec");
        check_all(&ips, "after a restart from the journal");

        // Killed again: reconcile starts it (and writes the spec whole).
        kill();
        assert!(b.reconcile().unwrap().resolver_started);
        check_all(&ips, "after reconcile restarted it");
        b.stop_resolver().unwrap();
    })
    .unwrap();
}

fn b_running(dir: &std::path::Path) -> bool {
    bridge_net::tell_resolver(dir, "ping", Duration::from_secs(1)).unwrap_or(false)
}

#[test]
fn background_veth_delete_returns_first_and_the_veth_goes_soon() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut b = BridgeNet::open_with(Config {
            resolver: ResolverCommand::Path(env!("CARGO_BIN_EXE_brnet").into()),
            veth_delete: bridge_net::VethDelete::Background,
            ..Config::new(dir.path())
        })
        .unwrap();
        let mut o = custom("172.23.0.0/16");
        o.dns = Some(false);
        b.create_network("n", &o).unwrap();
        NetnsDir::default().create("c").unwrap();
        let e = b
            .connect("n", &"c".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        assert!(b.disconnect("n", &"c".parse().unwrap()).unwrap());
        let mut nl = bridge_net::brnet_netlink::Socket::new().unwrap();
        // Right after disconnect: gone already, or down.
        if let Ok(l) = nl.link_by_name(&e.host_veth) {
            assert!(!l.is_up(), "the veth is down before disconnect returns");
        }
        let mut gone = false;
        for _ in 0..200 {
            if nl.link_by_name(&e.host_veth).is_err() {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(gone, "the helper deleted {}", e.host_veth);
        // The namespace lives on, without its eth0.
        let inside =
            bridge_net::brnet_netlink::Socket::open_in(&Netns::open_path("/run/netns/c").unwrap())
                .unwrap()
                .links()
                .unwrap();
        assert_eq!(inside.len(), 1, "only lo: {inside:?}");
    })
    .unwrap();
}

/// A stub name server on UDP `addr` inside the namespace `ns`, answering
/// every query with one A record, `answer`, for 10 s.
fn stub_upstream(ns: &Netns, addr: SocketAddr, answer: std::net::Ipv4Addr) {
    use hickory_proto::rr::Record;
    let s = ns
        .run(move || UdpSocket::bind(addr))
        .unwrap()
        .unwrap_or_else(|e| panic!("bind stub {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, peer)) = s.recv_from(&mut buf) {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            r.metadata.recursion_desired = q.metadata.recursion_desired;
            r.metadata.recursion_available = true;
            for query in &q.queries {
                r.add_query(query.clone());
                r.add_answer(Record::from_rdata(
                    query.name().clone(),
                    60,
                    RData::A(answer.into()),
                ));
            }
            let _ = s.send_to(&r.to_vec().unwrap(), peer);
        }
    });
}

/// A network's own name servers (netavark's `network_dns_servers`): its
/// containers' other names are forwarded there, changed in place while
/// they run (`set_dns_servers`, and `ensure_network` with other servers),
/// and the change survives reopening the state.
#[test]
fn a_network_forwards_to_its_own_name_servers_changed_in_place() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        // Two stub name servers "outside", reached from the host's side.
        let nsd = NetnsDir::default();
        let up = nsd.create("up").unwrap();
        ip(&[
            "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", "up",
        ]);
        ip(&["addr", "add", "198.51.100.1/24", "dev", "up0"]);
        ip(&["link", "set", "up0", "up"]);
        for a in ["198.51.100.2/24", "198.51.100.3/24"] {
            ip(&["-n", "up", "addr", "add", a, "dev", "eth0", "nodad"]);
        }
        ip(&["-n", "up", "link", "set", "eth0", "up"]);
        stub_upstream(
            &up,
            "198.51.100.2:53".parse().unwrap(),
            [192, 0, 2, 7].into(),
        );
        stub_upstream(
            &up,
            "198.51.100.3:53".parse().unwrap(),
            [192, 0, 2, 8].into(),
        );

        let dir = tempfile::tempdir().unwrap();
        let mut b = open(dir.path());
        let mut o = custom("172.20.0.0/16");
        o.set_option(bridge_net::OPT_DNS_SERVERS, "198.51.100.2")
            .unwrap();
        b.create_network("customNetwork", &o).unwrap();
        let web = nsd.create("web").unwrap();
        b.connect(
            "customNetwork",
            &"web".parse().unwrap(),
            &ConnectOptions::default(),
        )
        .unwrap();
        let gw: IpAddr = "172.20.0.1".parse().unwrap();
        assert_eq!(
            addrs(&ask(&web, gw, "example.test.", RecordType::A)),
            ["192.0.2.7"]
        );
        // Changed while the container runs.
        let second: IpAddr = "198.51.100.3".parse().unwrap();
        assert!(b.set_dns_servers("customNetwork", &[second]).unwrap());
        assert!(!b.set_dns_servers("customNetwork", &[second]).unwrap());
        assert_eq!(
            addrs(&ask(&web, gw, "example.test.", RecordType::A)),
            ["192.0.2.8"]
        );
        // The journal has it.
        drop(b);
        let mut b = open(dir.path());
        assert_eq!(
            b.network("customNetwork").unwrap().options.dns_servers,
            [second]
        );
        // A front end's definition with other servers: changed in place,
        // not refused for the container on it.
        let e = b.ensure_network("customNetwork", &o).unwrap();
        assert!(!e.created && e.replaced.is_none());
        assert_eq!(
            addrs(&ask(&web, gw, "example.test.", RecordType::A)),
            ["192.0.2.7"]
        );
        assert!(
            b.set_dns_servers("nope", &[]).is_err(),
            "an unknown network"
        );
    })
    .unwrap();
}
