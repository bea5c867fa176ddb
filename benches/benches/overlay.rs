//! Overlay networks (issue 15), each part in its own throwaway sandbox,
//! "hosts" being namespaces on an underlay bridge and the store a real
//! etcd started here (killed through its own `Child`):
//!
//! - **convergence**: from an endpoint's allocation in the store on one
//!   host until every other host's VXLAN device has its FDB and neighbour
//!   entries (what a container there needs to reach it), through the
//!   agents' watches; at 3 and 8 hosts, with 10 and 500 endpoints;
//! - **data plane**: TCP throughput (one stream, in-process sender and
//!   receiver) and ping RTT container → container across hosts over
//!   VXLAN, beside the same pair of hosts over the plain underlay (the
//!   kernel floor), in one run;
//! - **connect cost**: `BridgeNet::connect` + `disconnect` on an overlay
//!   network (etcd, and the embedded directory store) beside a bridge
//!   network, same handle.
//!
//! Not criterion: each figure is a median over its runs, printed as one
//! Markdown table and written to `target/brnet-bench/overlay.md`. Needs
//! root. `BRNET_BENCH_OVERLAY_QUICK=1`: 3 hosts, 10 endpoints, smaller
//! transfers.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bridge_net::brnet_overlay::agent::Agent;
use bridge_net::brnet_overlay::cluster::{Cluster, NetworkRecord};
use bridge_net::brnet_overlay::dataplane::{self, PeerSet, RemoteEndpoint, VtepSpec};
use bridge_net::brnet_overlay::store::{EtcdStore, Store};
use bridge_net::{BridgeNet, ConnectOptions, NetnsRef, NetworkOptions};
use brnet_netlink::{BridgeSpec, IfName, MacAddr, RouteSpec, Socket, VethSpec};
use brnet_netns::{Netns, NetnsDir, isolated};

const ETCD: &str = "10.99.0.254";

fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn underlay() {
    let mut nl = Socket::new().unwrap();
    nl.create_bridge(&BridgeSpec {
        name: &name("ul"),
        mtu: None,
        mac: None,
        stp: false,
        mcast_snooping: None,
        up: true,
    })
    .unwrap();
    let ul = nl.link_by_name("ul").unwrap().index;
    nl.add_address(ul, &format!("{ETCD}/24").parse().unwrap())
        .unwrap();
}

struct Host {
    ns: Netns,
    vtep: IpAddr,
}

fn host(n: u8) -> Host {
    let ns = NetnsDir::default().create(&format!("h{n}")).unwrap();
    let mut nl = Socket::new().unwrap();
    let ul = nl.link_by_name("ul").unwrap().index;
    nl.create_veth(&VethSpec {
        name: &name(&format!("uh{n}")),
        peer_name: &name("eth0"),
        peer_netns: Some(ns.fd()),
        master: Some(ul),
        mtu: None,
        mac: None,
        peer_mac: None,
        up: true,
        peer_up: false,
    })
    .unwrap();
    let vtep: IpAddr = format!("10.99.0.{n}").parse().unwrap();
    let mut h = Socket::open_in(&ns).unwrap();
    for l in ["eth0", "lo"] {
        let i = h.link_by_name(l).unwrap().index;
        h.set_up(i).unwrap();
    }
    let eth0 = h.link_by_name("eth0").unwrap().index;
    h.add_address(eth0, &format!("{vtep}/24").parse().unwrap())
        .unwrap();
    h.add_route(&RouteSpec::default_via(ETCD.parse().unwrap()))
        .unwrap();
    Host { ns, vtep }
}

/// The network's bridge with the gateway and its VXLAN device; the
/// device's index.
fn network(h: &Host, vni: u32) -> u32 {
    let mut nl = Socket::open_in(&h.ns).unwrap();
    let br = name(&format!("br-{vni}"));
    nl.create_bridge(&BridgeSpec {
        name: &br,
        mtu: None,
        mac: None,
        stp: false,
        mcast_snooping: None,
        up: true,
    })
    .unwrap();
    let bri = nl.link(&br).unwrap().index;
    nl.add_address(bri, &"10.0.0.1/16".parse().unwrap())
        .unwrap();
    let (underlay, _) = dataplane::underlay_of(&mut nl, h.vtep).unwrap();
    dataplane::create_vtep(
        &mut nl,
        &VtepSpec {
            vni,
            local: h.vtep,
            underlay,
            bridge: Some(bri),
            mtu: None,
        },
    )
    .unwrap()
}

fn container(h: &Host, cname: &str, addr: &str, mac: MacAddr) -> Netns {
    let ns = NetnsDir::default().create(cname).unwrap();
    let mut nl = Socket::open_in(&h.ns).unwrap();
    let bri = nl.link_by_name("br-4096").unwrap().index;
    nl.create_veth(&VethSpec {
        name: &name(&format!("v{cname}")),
        peer_name: &name("eth0"),
        peer_netns: Some(ns.fd()),
        master: Some(bri),
        mtu: Some(1450),
        mac: None,
        peer_mac: Some(mac),
        up: true,
        peer_up: false,
    })
    .unwrap();
    let mut c = Socket::open_in(&ns).unwrap();
    for l in ["eth0", "lo"] {
        let i = c.link_by_name(l).unwrap().index;
        c.set_up(i).unwrap();
    }
    let eth0 = c.link_by_name("eth0").unwrap().index;
    c.add_address(eth0, &addr.parse().unwrap()).unwrap();
    ns
}

struct Etcd(Child);

impl Etcd {
    fn start(dir: &Path) -> Etcd {
        let client = format!("http://{ETCD}:2379");
        let peer = format!("http://{ETCD}:2380");
        let child = Command::new("etcd")
            .args(["--name", "m1", "--data-dir"])
            .arg(dir.join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("m1={peer}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd (Debian's etcd-server)");
        let store = EtcdStore::new(vec![format!("{ETCD}:2379")]).unwrap();
        let t = Instant::now();
        while store.version().is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "etcd up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Etcd(child)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cluster() -> Cluster {
    let s: Arc<dyn Store> = Arc::new(EtcdStore::new(vec![format!("{ETCD}:2379")]).unwrap());
    Cluster::new(s)
}

fn mac_of(ip: IpAddr) -> MacAddr {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            MacAddr([2, 0x42, o[0], o[1], o[2], o[3]])
        }
        IpAddr::V6(_) => MacAddr([2, 0, 0, 0, 0, 1]),
    }
}

/// Convergence at `hosts` hosts, `endpoints` endpoints added one by one
/// round-robin: (median, max) from allocation to every other host having
/// the entries.
fn convergence(hosts: u8, endpoints: usize) -> (Duration, Duration) {
    isolated(move || {
        underlay();
        let dir = tempfile::tempdir().unwrap();
        let _etcd = Etcd::start(dir.path());
        let hs: Vec<Host> = (1..=hosts).map(host).collect();
        let net = cluster()
            .create_network(&NetworkRecord {
                name: "ov".into(),
                id: "c".repeat(64),
                subnet: "10.0.0.0/16".parse().unwrap(),
                gateway: "10.0.0.1".parse().unwrap(),
                vni: 4096,
            })
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut vx = Vec::new();
        for h in &hs {
            vx.push(network(h, 4096));
            let mut agent = Agent::new(
                cluster(),
                Socket::open_in(&h.ns).unwrap(),
                h.vtep,
                Duration::from_secs(10),
            );
            let (s, ns) = (stop.clone(), h.ns.try_clone().unwrap());
            threads.push(std::thread::spawn(move || {
                let _inside = ns.enter().unwrap();
                agent.run(&s)
            }));
            cluster().join(h.vtep, Duration::from_secs(10)).unwrap();
        }
        let mut socks: Vec<Socket> = hs.iter().map(|h| Socket::open_in(&h.ns).unwrap()).collect();
        let c = cluster();
        let mut took = Vec::new();
        for k in 0..endpoints {
            let at = k % hs.len();
            let t = Instant::now();
            let e = c.allocate(&net, hs[at].vtep, None, None, mac_of).unwrap();
            loop {
                let done = (0..hs.len()).filter(|i| *i != at).all(|i| {
                    let have = dataplane::installed(&mut socks[i], vx[i]).unwrap();
                    have.endpoints.iter().any(|r| r.ip == e.ip)
                });
                if done {
                    break;
                }
                assert!(t.elapsed() < Duration::from_secs(30), "converged");
                std::thread::sleep(Duration::from_micros(500));
            }
            took.push(t.elapsed());
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        let max = took.iter().max().copied().unwrap_or_default();
        (median(took), max)
    })
    .unwrap()
}

fn ping_avg(from: &str, to: &str) -> f64 {
    let out = Command::new("ip")
        .args([
            "netns", "exec", from, "ping", "-q", "-c", "200", "-i", "0.005", to,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // rtt min/avg/max/mdev = 0.004/0.006/0.020/0.002 ms
    text.lines()
        .find(|l| l.contains("min/avg/max"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// One TCP stream of `bytes` from `from` to `addr` (listener in `to`):
/// Gbit/s.
fn tcp_gbps(from: &Netns, to: &Netns, addr: &str, bytes: usize) -> f64 {
    let listener = to.run(|| TcpListener::bind(addr).unwrap()).unwrap();
    let rx = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0;
        while n < bytes {
            match s.read(&mut buf).unwrap() {
                0 => break,
                k => n += k,
            }
        }
        s.write_all(b"k").unwrap();
    });
    let addr = addr.to_owned();
    let mut s = from.run(move || TcpStream::connect(addr).unwrap()).unwrap();
    let chunk = vec![7u8; 1 << 20];
    let t = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        s.write_all(&chunk).unwrap();
        sent += chunk.len();
    }
    let mut k = [0u8; 1];
    s.read_exact(&mut k).unwrap();
    let secs = t.elapsed().as_secs_f64();
    rx.join().unwrap();
    bytes as f64 * 8.0 / secs / 1e9
}

/// (overlay Gbit/s, underlay Gbit/s, overlay RTT ms, underlay RTT ms),
/// medians of `runs`.
fn data_plane(bytes: usize, runs: usize) -> (f64, f64, f64, f64) {
    isolated(move || {
        underlay();
        let (h1, h2) = (host(1), host(2));
        let vx1 = network(&h1, 4096);
        let vx2 = network(&h2, 4096);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let c1 = container(&h1, "c1", "10.0.0.2/16", mac_of(a));
        let c2 = container(&h2, "c2", "10.0.0.3/16", mac_of(b));
        let peer = |ip, vtep| PeerSet {
            peers: [vtep].into(),
            endpoints: vec![RemoteEndpoint {
                ip,
                mac: mac_of(ip),
                vtep,
            }],
        };
        dataplane::reconcile(
            &mut Socket::open_in(&h1.ns).unwrap(),
            vx1,
            &peer(b, h2.vtep),
        )
        .unwrap();
        dataplane::reconcile(
            &mut Socket::open_in(&h2.ns).unwrap(),
            vx2,
            &peer(a, h1.vtep),
        )
        .unwrap();
        let med = |mut v: Vec<f64>| {
            v.sort_by(|x, y| x.total_cmp(y));
            v[v.len() / 2]
        };
        let mut over = Vec::new();
        let mut under = Vec::new();
        for i in 0..runs {
            // Alternate, so that warm-up and noise fall on both.
            under.push(tcp_gbps(
                &h1.ns,
                &h2.ns,
                &format!("10.99.0.2:{}", 5000 + i),
                bytes,
            ));
            over.push(tcp_gbps(&c1, &c2, &format!("10.0.0.3:{}", 5000 + i), bytes));
        }
        let rtt_over = ping_avg("c1", "10.0.0.3");
        let rtt_under = ping_avg("h1", "10.99.0.2");
        (med(over), med(under), rtt_over, rtt_under)
    })
    .unwrap()
}

/// Median connect and disconnect on a bridge network, an overlay network
/// on etcd and one on the embedded store, `n` containers each.
fn connect_cost(n: usize) -> Vec<(&'static str, Duration, Duration)> {
    isolated(move || {
        underlay();
        let dir = tempfile::tempdir().unwrap();
        let _etcd = Etcd::start(dir.path());
        let state = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let mut b = BridgeNet::open(state.path()).unwrap();
        let mut plain = NetworkOptions::default();
        plain.ipv4.subnet = Some("10.1.0.0/16".parse().unwrap());
        b.create_network("plain", &plain).unwrap();
        let overlay = |subnet: &str, cluster: &str, vni: &str| {
            let mut o = NetworkOptions {
                driver: bridge_net::Driver::from_name("overlay").unwrap(),
                ..NetworkOptions::default()
            };
            o.ipv4.subnet = Some(subnet.parse().unwrap());
            o.set_option("cluster", cluster).unwrap();
            o.set_option("vtep", ETCD).unwrap();
            o.set_option("vni", vni).unwrap();
            o
        };
        b.create_network(
            "ov-etcd",
            &overlay("10.2.0.0/16", &format!("etcd://{ETCD}:2379"), "4096"),
        )
        .unwrap();
        b.create_network(
            "ov-dir",
            &overlay(
                "10.3.0.0/16",
                &format!("dir://{}", store.path().display()),
                "4097",
            ),
        )
        .unwrap();
        let nsdir = NetnsDir::default();
        let mut out = Vec::new();
        for (label, net) in [
            ("bridge", "plain"),
            ("overlay, etcd", "ov-etcd"),
            ("overlay, embedded dir", "ov-dir"),
        ] {
            let mut conn = Vec::new();
            let mut disc = Vec::new();
            for i in 0..n {
                let c = format!("k{i}");
                nsdir.create(&c).unwrap();
                let r: NetnsRef = c.parse().unwrap();
                let t = Instant::now();
                b.connect(net, &r, &ConnectOptions::default()).unwrap();
                conn.push(t.elapsed());
                let t = Instant::now();
                b.disconnect(net, &r).unwrap();
                disc.push(t.elapsed());
                nsdir.delete(&c).unwrap();
            }
            out.push((label, median(conn), median(disc)));
        }
        out
    })
    .unwrap()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs us too.
    if std::env::args().any(|a| a == "--list") || !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("overlay bench: needs root (namespaces, links, a sandboxed etcd)");
        return;
    }
    let quick = std::env::var("BRNET_BENCH_OVERLAY_QUICK").is_ok_and(|v| v == "1");
    let mut md = String::from("## Overlay networks (VXLAN + etcd)\n\n");
    md.push_str("| measure | figure |\n|---|---|\n");
    let sizes: &[(u8, usize)] = if quick {
        &[(3, 10)]
    } else {
        &[(3, 10), (3, 500), (8, 10), (8, 500)]
    };
    for &(h, e) in sizes {
        let (med, max) = convergence(h, e);
        let line = format!(
            "| convergence, {h} hosts, {e} endpoints: allocation → entries on every other host | median {}, max {} |\n",
            ms(med),
            ms(max)
        );
        eprint!("{line}");
        md.push_str(&line);
    }
    let (bytes, runs) = if quick { (256 << 20, 3) } else { (1 << 30, 5) };
    let (over, under, rtt_o, rtt_u) = data_plane(bytes, runs);
    let line = format!(
        "| TCP, one stream, {} MiB × {runs}, median: VXLAN c1→c2 / underlay h1→h2 | {over:.1} / {under:.1} Gbit/s ({:+.0} %) |\n\
         | ping RTT avg, 200 pings 5 ms apart: VXLAN / underlay | {rtt_o:.3} / {rtt_u:.3} ms |\n",
        bytes >> 20,
        (over / under - 1.0) * 100.0
    );
    eprint!("{line}");
    md.push_str(&line);
    let n = if quick { 10 } else { 50 };
    for (label, c, d) in connect_cost(n) {
        let line = format!(
            "| connect / disconnect, {label}, median of {n} | {} / {} |\n",
            ms(c),
            ms(d)
        );
        eprint!("{line}");
        md.push_str(&line);
    }
    let path = brnet_benches::out_dir().join("overlay.md");
    let _ = std::fs::write(&path, &md);
    println!("{md}");
    eprintln!("written {}", path.display());
}
