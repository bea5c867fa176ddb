//! Writes the seed inputs of every target into `corpus/<target>/`
//! (`seed-*` files). Run from `fuzz/`:
//!
//! ```sh
//! cargo run --example make_seeds              # text, state and pool seeds
//! ip netns exec NS cargo run --example make_seeds -- --netlink
//! ```
//!
//! `--netlink` also dumps the links, addresses and routes of the current
//! namespace (root needed) as payload seeds and as whole-datagram seeds
//! for `netlink_replies`; `seeds.sh` runs it in a scratch namespace with a
//! bridge, a veth on it and IPv4/IPv6 addresses and routes.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bridge_net::brnet_ipam::{Order, Pool};
use bridge_net::state::{
    EndpointRecord, Intent, Net, NetworkRecord, Op, PortRecord, SandboxRecord, Store,
};
use bridge_net::{IpamConfig, NetworkOptions, parse_cidr};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn texts() {
    let ports = [
        "80",
        "8080:80",
        "8080:80/udp",
        "8080:80/sctp",
        "127.0.0.1:8080:80",
        "127.0.0.1::80",
        "0.0.0.0:8000-8010:80-90/tcp",
        "[::1]:8080:80",
        "[fd00::1]::53/udp",
        "8000-8010:8000-8010",
        "0:80",
        "8080:0",
        "70000:80",
        "80-90:80",
        "8080:80/icmp",
        ":::",
        "::1:8080:80",
        "[::1]8080:80",
        "1.2.3.4:80",
        "80-",
        "-80",
        "90-80:90-80",
        "80/TCP",
        "127.0.0.1:8080:80\0",
        "8080:80\0fd00::2",
        "8080:80\0\x7f\0\0\x01",
    ];
    for (i, p) in ports.iter().enumerate() {
        write("port_spec", &format!("{i:02}"), p.as_bytes());
    }
    let values = [
        "172.20.0.0/16",
        "172.20.0.0/33",
        "300.1.1.1/16",
        "172.20.0.1/16",
        "::/0",
        "fd00::/64",
        "10.0.0.0/8",
        "host1=172.20.0.5",
        "gw=fd00::1",
        "=1.2.3.4",
        "my-net",
        "my net",
        ".hidden",
        "-x",
        "com.docker.network.bridge.name=br-test",
        "com.docker.network.bridge.enable_icc=false",
        "com.docker.network.bridge.enable_ip_masquerade=0",
        "com.docker.network.driver.mtu=1400",
        "com.docker.network.driver.mtu=67",
        "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
        "com.docker.network.host_ipv4=192.0.2.1",
        "brnet.dns=true",
        "unknown.key=1",
        "c1",
        "/run/netns/c1",
        "/proc/1/ns/net",
        "..",
        "host",
        "none",
        "container:c1",
        "container:",
        "eth0",
        "0123456789abcdef",
        "a/b",
        "a:b",
        ".",
        "",
        "a b",
        "02:42:ac:11:00:02",
        "02-42-ac-11-00-02",
        "ff:ff:ff:ff:ff:ff",
        "00:00:00:00:00:00",
        "2:42:ac:11:0:2",
        "--subnet=172.20.0.0/16\n--gateway=172.20.0.1\n--ip-range=172.20.1.0/24\n--aux-address=a=172.20.0.9",
        "--subnet=172.20.0.0/16\n--subnet6=fd00::/64\n--gateway6=fd00::1\n--aux-address6=h=fd00::9",
        "--subnet=172.20.0.0/16\n--gateway=172.21.0.1",
        "--subnet=172.20.0.0/30\n--gateway=172.20.0.3",
        "--subnet=172.20.0.0/16\n--gateway=fd00::1",
        "--subnet=172.20.0.0/31\n",
        "--subnet=172.20.0.0/16\n--internal=true\ncom.docker.network.host_ipv4=192.0.2.1",
        "--subnet=10.0.0.0/8\ncom.docker.network.bridge.name=br0\ncom.docker.network.driver.mtu=9000\n",
        "--subnet6=fd00::/8\n--subnet=10.0.0.0/8\n--ip-range6=fd00::/100\n",
    ];
    for (i, v) in values.iter().enumerate() {
        write("cidr_options", &format!("{i:02}"), v.as_bytes());
    }
}

fn options(v4: &str, v6: Option<&str>) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some(parse_cidr("--subnet", v4).unwrap());
    o.ipv4
        .aux_addresses
        .insert("printer".into(), "172.20.0.200".parse().unwrap());
    if let Some(s) = v6 {
        o.ipv6 = Some(IpamConfig {
            subnet: Some(parse_cidr("--subnet", s).unwrap()),
            ..IpamConfig::default()
        });
    }
    o.set_option("com.docker.network.driver.mtu", "1400")
        .unwrap();
    o.labels.insert("team".into(), "net".into());
    o
}

fn network(id: char, name: &str, o: NetworkOptions) -> NetworkRecord {
    let mut o = o;
    // The state holds the chosen gateway, as the live code fills it in.
    let net = Net::new(NetworkRecord {
        id: String::new(),
        name: String::new(),
        created: String::new(),
        bridge: String::new(),
        default: false,
        adopted: false,
        restore: Default::default(),
        options: o.clone(),
    })
    .unwrap();
    o.ipv4.gateway = net.gateway4();
    if let (Some(v6), Some(p)) = (o.ipv6.as_mut(), net.pool6.as_ref()) {
        v6.gateway = Some(p.gateway());
    }
    NetworkRecord {
        id: id.to_string().repeat(64),
        name: name.into(),
        created: "2026-05-20T10:00:00Z".into(),
        bridge: format!("br-{}", id.to_string().repeat(12)),
        default: false,
        adopted: false,
        restore: Default::default(),
        options: o,
    }
}

fn endpoint(store: &mut Store, id: char, net: &str, v6: bool, ports: bool) -> EndpointRecord {
    // Planned as the live code plans it: the pools' next; the record
    // takes them.
    let n = store.state.network_by_id(net).unwrap();
    let a4 = n.pool4.as_ref().unwrap().next().unwrap();
    let a6 = if v6 {
        Some(n.pool6.as_ref().unwrap().next().unwrap())
    } else {
        None
    };
    let (IpAddr::V4(a4), p4) = (a4, n.subnet4().unwrap().prefix_len()) else {
        unreachable!()
    };
    let ipv6 = a6.map(|a| match a {
        IpAddr::V6(a) => brnet_netlink::ipnet::Ipv6Net::new(a, 64).unwrap(),
        IpAddr::V4(_) => unreachable!(),
    });
    EndpointRecord {
        id: id.to_string().repeat(64),
        network: net.into(),
        container_id: "c".repeat(64),
        container: format!("c-{id}"),
        netns: format!("/run/netns/c-{id}").into(),
        netns_ino: 4026532000,
        netns_dev: 0,
        netns_cookie: None,
        netns_ctime: 0,
        ifname: "eth0".into(),
        host_veth: format!("veth{}", id.to_string().repeat(7)),
        mac: "02:42:ac:14:00:02".into(),
        ipv4: Some(brnet_netlink::ipnet::Ipv4Net::new(a4, p4).unwrap()),
        ipv6,
        dynamic4: true,
        dynamic6: v6,
        default_route: true,
        gw_priority: 0,
        ports: if ports {
            vec![PortRecord {
                protocol: "tcp".into(),
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 8080,
                host_port_end: 8081,
                container_port: 80,
                container_port_end: 81,
            }]
        } else {
            Vec::new()
        },
        aliases: if ports {
            vec!["web".into()]
        } else {
            Vec::new()
        },
        created: "2026-05-20T10:00:01Z".into(),
    }
}

fn states() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(bridge_net::state::STATE_FILE);
    let snap = |name: &str| write("state_file", name, &std::fs::read(&file).unwrap());
    let mut store = Store::open(dir.path()).unwrap();
    let _l = store.lock().unwrap();
    snap("empty");
    let a = network('a', "front", options("172.20.0.0/16", None));
    store
        .record(
            Op::Begin {
                intent: Intent {
                    id: a.id.clone(),
                    kind: "create_network".into(),
                    host_veth: None,
                    bridge: Some(a.bridge.clone()),
                    network: None,
                    ..Intent::default()
                },
            },
            false,
        )
        .unwrap();
    snap("begin");
    store
        .record(Op::Network { network: a.clone() }, true)
        .unwrap();
    snap("one-network");
    let b = network('b', "dual", options("172.21.0.0/24", Some("fd00:1::/64")));
    store
        .record(Op::Network { network: b.clone() }, true)
        .unwrap();
    let e1 = endpoint(&mut store, '1', &a.id, false, true);
    store
        .record(
            Op::Begin {
                intent: Intent {
                    id: e1.id.clone(),
                    kind: "connect".into(),
                    host_veth: Some(e1.host_veth.clone()),
                    bridge: None,
                    network: Some(a.id.clone()),
                    ..Intent::default()
                },
            },
            false,
        )
        .unwrap();
    store
        .record(
            Op::Connect {
                endpoint: e1.clone(),
            },
            false,
        )
        .unwrap();
    let e2 = endpoint(&mut store, '2', &b.id, true, false);
    store
        .record(
            Op::Connect {
                endpoint: e2.clone(),
            },
            false,
        )
        .unwrap();
    store
        .record(
            Op::Sandbox {
                sandbox: SandboxRecord {
                    id: "d".repeat(64),
                    container: "hosty".into(),
                    mode: "host".into(),
                    netns: "/proc/1/ns/net".into(),
                    netns_ino: 4026531840,
                    created: "2026-05-20T10:00:02Z".into(),
                },
            },
            false,
        )
        .unwrap();
    snap("journal");
    // Disconnect gives the addresses back itself (as replay does).
    store
        .record(Op::Disconnect { id: e1.id.clone() }, false)
        .unwrap();
    store
        .record(Op::RemoveSandbox { id: "d".repeat(64) }, false)
        .unwrap();
    store.record(Op::End { id: "0".repeat(64) }, false).unwrap();
    snap("journal-disconnect");
    store.write_snapshot().unwrap();
    snap("compacted");
    store
        .record(Op::Disconnect { id: e2.id.clone() }, false)
        .unwrap();
    store
        .record(Op::RemoveNetwork { id: b.id.clone() }, true)
        .unwrap();
    snap("removed");
    // A torn last record, a future version, garbage.
    let mut torn = std::fs::read(&file).unwrap();
    torn.extend_from_slice(br#"{"op":"end","id":"#);
    write("state_file", "torn", &torn);
    write("state_file", "future", b"{\"brnet_state\":99}\n");
    write("state_file", "garbage", b"\x00\xffnot json\n");
    // Every state seed must load (the torn one too).
    for f in std::fs::read_dir("corpus/state_file").unwrap() {
        let p = f.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let ok = bridge_net::state::State::parse(&bytes).is_ok();
        assert_eq!(
            ok,
            !name.ends_with("future") && !name.ends_with("garbage"),
            "{name}"
        );
    }
}

fn pools() {
    let mut n = 0;
    let mut save = |p: &Pool| {
        write(
            "ipam_state",
            &format!("{n:02}"),
            &serde_json::to_vec(&p.to_state()).unwrap(),
        );
        n += 1;
    };
    let net = |s: &str| parse_cidr("--subnet", s).unwrap();
    let mut p = Pool::new(net("172.20.0.0/16")).unwrap();
    save(&p);
    for _ in 0..10 {
        p.allocate().unwrap();
    }
    p.release("172.20.0.5".parse().unwrap()).unwrap();
    p.reserve("172.20.0.200".parse().unwrap()).unwrap();
    save(&p);
    let mut p = Pool::builder(net("10.0.0.0/8"))
        .gateway("10.0.0.254".parse::<IpAddr>().unwrap())
        .range(net("10.1.0.0/16"))
        .order(Order::Lowest)
        .build()
        .unwrap();
    p.allocate().unwrap();
    p.request("10.200.0.1".parse().unwrap()).unwrap();
    save(&p);
    let mut p = Pool::new(net("fd00::/64")).unwrap();
    p.allocate().unwrap();
    p.request("fd00::ffff:1".parse().unwrap()).unwrap();
    save(&p);
    let mut p = Pool::new(net("192.168.1.0/30")).unwrap();
    p.allocate().unwrap();
    save(&p);
    save(&Pool::new(net("192.168.1.0/31")).unwrap());
    save(&Pool::new(net("2001:db8::/127")).unwrap());
}

#[cfg(target_os = "linux")]
fn netlink() {
    use brnet_netlink::{Family, Socket, msg};
    let mut s = Socket::new().unwrap();
    let mut n = 0;
    let mut dump = |s: &mut Socket, m: Vec<u8>, what: &'static str| {
        s.query(m, "dump", &what, &mut |ty, p| {
            write("netlink_replies", &format!("{what}-{n:02}"), p);
            // The same payload as a datagram: nlmsghdr + payload, and a
            // second message (NLMSG_DONE) after it.
            let len = 16 + p.len();
            let mut d = Vec::new();
            d.extend_from_slice(&(len as u32).to_ne_bytes());
            d.extend_from_slice(&ty.to_ne_bytes());
            d.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
            d.extend_from_slice(&7u32.to_ne_bytes());
            d.extend_from_slice(&0u32.to_ne_bytes());
            d.extend_from_slice(p);
            d.resize(d.len().next_multiple_of(4), 0);
            d.extend_from_slice(&20u32.to_ne_bytes());
            d.extend_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
            d.extend_from_slice(&2u16.to_ne_bytes());
            d.extend_from_slice(&7u32.to_ne_bytes());
            d.extend_from_slice(&0u32.to_ne_bytes());
            d.extend_from_slice(&0i32.to_ne_bytes());
            write("netlink_replies", &format!("dgram-{what}-{n:02}"), &d);
            n += 1;
            Ok(())
        })
        .unwrap();
    };
    dump(&mut s, msg::dump_links().unwrap(), "link");
    dump(&mut s, msg::dump_addresses(None).unwrap(), "addr");
    dump(&mut s, msg::dump_routes(Family::V4).unwrap(), "route4");
    dump(&mut s, msg::dump_routes(Family::V6).unwrap(), "route6");
    // An error reply with an extended ack message (NLMSG_ERROR, -EEXIST,
    // the request's header, NLMSGERR_ATTR_MSG "File exists").
    let mut e = Vec::new();
    let text = b"File exists\0";
    let attr_len = 4 + text.len();
    let len = 16 + 4 + 16 + attr_len.next_multiple_of(4);
    e.extend_from_slice(&(len as u32).to_ne_bytes());
    e.extend_from_slice(&2u16.to_ne_bytes());
    e.extend_from_slice(&0x200u16.to_ne_bytes()); // NLM_F_ACK_TLVS
    e.extend_from_slice(&9u32.to_ne_bytes());
    e.extend_from_slice(&0u32.to_ne_bytes());
    e.extend_from_slice(&(-17i32).to_ne_bytes());
    e.extend_from_slice(&16u32.to_ne_bytes());
    e.extend_from_slice(&16u16.to_ne_bytes());
    e.extend_from_slice(&0x605u16.to_ne_bytes());
    e.extend_from_slice(&9u32.to_ne_bytes());
    e.extend_from_slice(&0u32.to_ne_bytes());
    e.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    e.extend_from_slice(&1u16.to_ne_bytes());
    e.extend_from_slice(text);
    e.resize(len, 0);
    write("netlink_replies", "dgram-error-extack", &e);
    // An ack (error 0).
    let mut a = e[..36].to_vec();
    a[0..4].copy_from_slice(&36u32.to_ne_bytes());
    a[6..8].copy_from_slice(&0x100u16.to_ne_bytes()); // NLM_F_CAPPED
    a[16..20].copy_from_slice(&0i32.to_ne_bytes());
    write("netlink_replies", "dgram-ack", &a);
}

fn main() {
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    if std::env::args().any(|a| a == "--netlink") {
        netlink();
        return;
    }
    texts();
    states();
    pools();
}
