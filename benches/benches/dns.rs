//! brnet-dns: queries for local names, from one client in a container
//! namespace, in a throwaway sandbox — beside aardvark-dns (Debian's
//! `/usr/lib/podman/aardvark-dns`) in the same run when it is installed.
//!
//! First a table (printed): for each server, a closed loop (one query in
//! flight: queries per second and p50 / p99 latency over 20,000 queries)
//! and a window of 32 queries in flight (queries per second over 2 s).
//! Then criterion:
//!
//! - `dns/answer`: the query path alone ([`brnet_dns::Records::answer`],
//!   no I/O), 250 names.
//! - `dns/udp-roundtrip/{brnet-dns,aardvark-dns}`: one query and its answer
//!   over UDP through the bridge.
//!
//! The network: a bridge `br0` with 10.89.0.1/16, 250 containers in the
//! records (`c0` … `c249`), the client `c0` at 10.89.0.2 asking for them in
//! turn. brnet-dns serves 10.89.0.1:53, aardvark-dns 10.89.0.1:5533.
//! Needs root (prints why and stops otherwise).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brnet_dns::{Config, Entry, LogSink, Network, Policy, Proto, Records, Resolver, Table};
use criterion::Criterion;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

const AARDVARK: &str = "/usr/lib/podman/aardvark-dns";
const NAMES: usize = 250;
const BRNET: &str = "10.89.0.1:53";
const AARDVARK_AT: &str = "10.89.0.1:5533";

fn container_ip(i: usize) -> IpAddr {
    format!("10.89.{}.{}", (i + 2) / 250, (i + 2) % 250)
        .parse()
        .expect("address")
}

fn table() -> Table {
    let mut net = Network::new("bench");
    for i in 0..NAMES {
        net = net.entry(Entry::new(format!("c{i}"), [container_ip(i)]));
    }
    let mut t = Table::new();
    t.insert(net).expect("table");
    t
}

/// The queries, pre-encoded, ids 0..NAMES.
fn queries() -> Vec<Vec<u8>> {
    (0..NAMES)
        .map(|i| {
            let mut m = Message::query();
            m.metadata.id = i as u16;
            m.metadata.recursion_desired = true;
            m.add_query(Query::query(
                Name::from_ascii(format!("c{i}.")).expect("name"),
                RecordType::A,
            ));
            m.to_vec().expect("encode")
        })
        .collect()
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

/// br0 and the client namespace c0 (10.89.0.2); returns the client's
/// namespace.
fn topology() -> brnet_netns::Netns {
    ip(&["link", "add", "br0", "type", "bridge"]);
    ip(&["addr", "add", "10.89.0.1/16", "dev", "br0"]);
    ip(&["link", "set", "br0", "up"]);
    let ns = brnet_netns::NetnsDir::default()
        .create("c0")
        .expect("namespace");
    ip(&[
        "link", "add", "vc0", "type", "veth", "peer", "name", "eth0", "netns", "c0",
    ]);
    ip(&["link", "set", "vc0", "master", "br0", "up"]);
    ip(&["-n", "c0", "addr", "add", "10.89.0.2/16", "dev", "eth0"]);
    ip(&["-n", "c0", "link", "set", "eth0", "up"]);
    ip(&["-n", "c0", "link", "set", "lo", "up"]);
    ns
}

/// aardvark-dns on AARDVARK_AT with the same records, in the background
/// (it forks); returns its pid, or why not.
fn start_aardvark(dir: &Path) -> Result<i32, String> {
    if !Path::new(AARDVARK).exists() {
        return Err("not installed".into());
    }
    let mut conf = String::from("10.89.0.1\n");
    for i in 0..NAMES {
        conf.push_str(&format!("{:064x} {}  c{i}\n", i + 1, container_ip(i)));
    }
    std::fs::write(dir.join("bench"), conf).map_err(|e| e.to_string())?;
    let out = Command::new(AARDVARK)
        .arg("--config")
        .arg(dir)
        .args(["-p", "5533", "run"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("failed to start: {out:?}"));
    }
    let pid = std::fs::read_to_string(dir.join("aardvark.pid")).map_err(|e| e.to_string())?;
    pid.trim().parse().map_err(|e| format!("pid file: {e}"))
}

/// A client socket in `ns`.
fn client(ns: &brnet_netns::Netns, server: SocketAddr) -> UdpSocket {
    let s = ns
        .run(|| UdpSocket::bind("0.0.0.0:0"))
        .expect("namespace")
        .expect("bind");
    s.connect(server).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    s
}

/// One query, waiting for its answer (by id); false on a timeout.
fn roundtrip(s: &UdpSocket, q: &[u8], buf: &mut [u8]) -> bool {
    if s.send(q).is_err() {
        return false;
    }
    loop {
        match s.recv(buf) {
            Ok(n) if n >= 2 && buf[..2] == q[..2] => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

struct Figures {
    closed_qps: f64,
    p50: Duration,
    p99: Duration,
    lost: usize,
    window_qps: f64,
}

fn measure(s: &UdpSocket, qs: &[Vec<u8>]) -> Figures {
    let mut buf = vec![0u8; 4096];
    for q in qs.iter().cycle().take(2000) {
        roundtrip(s, q, &mut buf);
    }
    // closed loop
    let n = 20_000;
    let mut lat = Vec::with_capacity(n);
    let mut lost = 0;
    let start = Instant::now();
    for q in qs.iter().cycle().take(n) {
        let t = Instant::now();
        if roundtrip(s, q, &mut buf) {
            lat.push(t.elapsed());
        } else {
            lost += 1;
        }
    }
    let total = start.elapsed();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    // window of 32
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let window = 32;
    let mut next = qs.iter().cycle();
    for _ in 0..window {
        let _ = s.send(next.next().expect("cycle"));
    }
    let mut got = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        match s.recv(&mut buf) {
            Ok(_) => {
                got += 1;
                let _ = s.send(next.next().expect("cycle"));
            }
            // a loss: put one more in flight
            Err(_) => {
                let _ = s.send(next.next().expect("cycle"));
            }
        }
    }
    let window_qps = got as f64 / start.elapsed().as_secs_f64();
    // drain
    while s.recv(&mut buf).is_ok() {}
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    Figures {
        closed_qps: (n - lost) as f64 / total.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        lost,
        window_qps,
    }
}

fn print_row(name: &str, f: &Figures) {
    println!(
        "{name:<14} {:>12.0} {:>10.1?} {:>10.1?} {:>6} {:>14.0}",
        f.closed_qps, f.p50, f.p99, f.lost, f.window_qps
    );
}

fn bench_answer(c: &mut Criterion) {
    let records = Records::new(&table(), Policy::default());
    let qs = queries();
    let asker: IpAddr = "10.89.0.2".parse().expect("ip");
    let mut i = 0;
    c.bench_function("dns/answer", |b| {
        b.iter(|| {
            i = (i + 1) % qs.len();
            records.answer(asker, &qs[i], Proto::Udp)
        })
    });
}

fn bench_roundtrip(c: &mut Criterion, name: &str, s: &UdpSocket, qs: &[Vec<u8>]) {
    let mut buf = vec![0u8; 4096];
    let mut i = 0;
    c.bench_function(&format!("dns/udp-roundtrip/{name}"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                i = (i + 1) % qs.len();
                roundtrip(s, &qs[i], &mut buf);
            }
            start.elapsed()
        })
    });
}

/// The sockets the bench thread asks through (they live in the
/// sandbox's client namespace).
struct Clients {
    ours: UdpSocket,
    theirs: Result<UdpSocket, String>,
}

/// The sandbox, on a thread of its own (criterion is not `Send`): sets up
/// the network and both servers, hands the client sockets over, and tears
/// down when told.
fn sandbox(ready: mpsc::Sender<Clients>, done: mpsc::Receiver<()>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let ran = brnet_netns::isolated(move || {
            let ns = topology();
            let resolver = Resolver::start(Config {
                log: LogSink::new(|_| {}),
                ..Config::default()
            })
            .expect("start brnet-dns");
            resolver
                .set_listeners(&[BRNET.parse().expect("addr")])
                .expect("listen");
            resolver.set_records(table());
            let dir = tempfile::tempdir().expect("temp dir");
            let aardvark = start_aardvark(dir.path());
            let clients = Clients {
                ours: client(&ns, BRNET.parse().expect("addr")),
                theirs: aardvark
                    .as_ref()
                    .map(|_| client(&ns, AARDVARK_AT.parse().expect("addr")))
                    .map_err(Clone::clone),
            };
            if ready.send(clients).is_ok() {
                let _ = done.recv();
            }
            if let Ok(pid) = aardvark {
                // the daemon we started, by its pid
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
            resolver.stop().expect("stop");
        });
        if let Err(e) = ran {
            eprintln!("dns bench: the sandbox needs root: {e}");
        }
    })
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_answer(&mut c);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let worker = sandbox(ready_tx, done_rx);
    if let Ok(clients) = ready_rx.recv() {
        let qs = queries();
        println!(
            "\n{:<14} {:>12} {:>10} {:>10} {:>6} {:>14}",
            "server", "qps (1 in fl)", "p50", "p99", "lost", "qps (32 in fl)"
        );
        print_row("brnet-dns", &measure(&clients.ours, &qs));
        match &clients.theirs {
            Ok(s) => print_row("aardvark-dns", &measure(s, &qs)),
            Err(why) => println!("{:<14} {why}", "aardvark-dns"),
        }
        println!();
        bench_roundtrip(&mut c, "brnet-dns", &clients.ours, &qs);
        if let Ok(s) = &clients.theirs {
            bench_roundtrip(&mut c, "aardvark-dns", s, &qs);
        }
        let _ = done_tx.send(());
    }
    let _ = worker.join();
    c.final_summary();
}
