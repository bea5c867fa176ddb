//! Overlay networks (issue 15), each part in its own throwaway sandbox,
//! "hosts" being namespaces on an underlay bridge (the test kit's
//! [`brnet_testkit::topo::underlay`] and [`brnet_testkit::topo::host`])
//! and the store a real etcd started there (the test kit's
//! [`Etcd`], killed through its own `Child`):
//!
//! - **convergence**: from `BridgeNet::connect` of a new container on
//!   host A until a container on host B gets a TCP answer from it (SYN →
//!   SYN-ACK across the tunnel: B's agent has the FDB and neighbour
//!   entries, A's side is programmed), at 3 and 8 hosts, on a network
//!   already holding 10 or 500 endpoints (one probe container per host
//!   through bridge-net, the rest allocated in the store only, spread
//!   over the hosts; every agent programs them all);
//! - **data plane**: TCP throughput (iperf3, one stream) and ping RTT
//!   container → container across hosts over VXLAN, beside the same pair
//!   of hosts over the plain underlay (the kernel floor), in one run;
//! - **connect cost**: `BridgeNet::connect` + `disconnect` on an overlay
//!   network (etcd, and the embedded directory store) beside a bridge
//!   network, same handle.
//!
//! Each figure is a median over its runs. [`section`] runs them all and
//! returns a Markdown section; `cargo xtask bench` prints it, and so does
//! `cargo bench -p brnet-benches --bench overlay`. Needs root, `etcd`
//! (Debian's etcd-server) and `iperf3`.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bridge_net::brnet_overlay::agent::Agent;
use bridge_net::brnet_overlay::cluster::Cluster;
use bridge_net::brnet_overlay::dataplane::{self, PeerSet, RemoteEndpoint, VtepSpec};
use bridge_net::brnet_overlay::store::{EtcdStore, Store};
use bridge_net::{BridgeNet, ConnectOptions, NetnsRef, NetworkOptions};
use brnet_netlink::{BridgeSpec, IfName, MacAddr, Socket, VethSpec};
use brnet_netns::{Netns, NetnsDir, isolated};
use brnet_testkit::etcd::Etcd;
use brnet_testkit::topo;

/// etcd's address: the underlay bridge's own (the sandbox's namespace).
const ETCD: &str = "10.99.0.254";
const VNI: u32 = 4096;
/// Connects measured per convergence figure.
const SAMPLES: usize = 10;
/// The port the new containers listen on.
const PORT: u16 = 7;

fn name(s: &str) -> IfName {
    IfName::new(s).expect("interface name")
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> Option<T> {
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v.get(v.len() / 2).copied()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn cluster() -> Cluster {
    let s: Arc<dyn Store> =
        Arc::new(EtcdStore::new(vec![format!("{ETCD}:2379")]).expect("etcd address"));
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

fn overlay_options(subnet: &str, cluster: &str, vtep: &str, vni: u32) -> NetworkOptions {
    let mut o = NetworkOptions {
        driver: bridge_net::Driver::from_name("overlay").expect("the overlay driver"),
        ..NetworkOptions::default()
    };
    o.ipv4.subnet = Some(subnet.parse().expect("subnet"));
    for (k, v) in [
        ("cluster", cluster),
        ("vtep", vtep),
        ("vni", &vni.to_string()),
    ] {
        o.set_option(k, v).expect("overlay option");
    }
    o
}

/// A host on the underlay with its own bridge-net state directory.
struct Host {
    ns: Netns,
    vtep: IpAddr,
    state: tempfile::TempDir,
}

impl Host {
    fn new(n: u8) -> Host {
        Host {
            ns: topo::host(n),
            vtep: format!("10.99.0.{n}").parse().expect("address"),
            state: tempfile::tempdir().expect("state directory"),
        }
    }

    /// Run `f` on a handle opened inside the host.
    fn brnet<T: Send>(&self, f: impl FnOnce(&mut BridgeNet) -> T + Send) -> T {
        let dir: PathBuf = self.state.path().to_owned();
        self.ns
            .run(move || f(&mut BridgeNet::open(&dir).expect("open state")))
            .expect("enter the host")
    }

    fn connect(&self, container: &str) -> (IpAddr, Instant, Duration) {
        let r: NetnsRef = container.parse().expect("namespace name");
        self.brnet(|b| {
            let t = Instant::now();
            let e = b
                .connect("ov", &r, &ConnectOptions::default())
                .expect("connect");
            let ip = IpAddr::V4(e.ipv4.expect("an IPv4 address").addr());
            (ip, t, t.elapsed())
        })
    }
}

/// The per-host agents, on threads inside their hosts; stopped on drop.
struct Agents {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Agents {
    fn start(hosts: &[Host]) -> Agents {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = hosts
            .iter()
            .map(|h| {
                let nl = Socket::open_in(&h.ns).expect("netlink in the host");
                let mut agent = Agent::new(cluster(), nl, h.vtep, bridge_net::HOST_TTL);
                let (s, ns) = (stop.clone(), h.ns.try_clone().expect("namespace"));
                std::thread::spawn(move || {
                    let _inside = ns.enter().expect("enter the host");
                    agent.run(&s)
                })
            })
            .collect();
        Agents { stop, threads }
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One convergence figure's samples.
#[derive(Debug, Default)]
struct Convergence {
    /// `connect` on A until a TCP answer reached B's container.
    reply: Vec<Duration>,
    /// `connect` itself.
    connect: Vec<Duration>,
}

/// Wait until every host's VXLAN device has `want` remote endpoints
/// (all but its own).
fn settle(hosts: &[Host], want: impl Fn(usize) -> usize) {
    let start = Instant::now();
    for (i, h) in hosts.iter().enumerate() {
        let mut nl = Socket::open_in(&h.ns).expect("netlink");
        let vx = nl.link(dataplane::vtep_name(VNI)).expect("vxlan").index;
        while dataplane::installed(&mut nl, vx)
            .expect("read back")
            .endpoints
            .len()
            < want(i)
        {
            assert!(start.elapsed() < Duration::from_secs(120), "settled");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// See the module's documentation: `hosts` hosts, `endpoints` on the
/// network before the [`SAMPLES`] measured connects.
fn convergence(hosts: u8, endpoints: usize) -> Convergence {
    isolated(move || {
        topo::underlay();
        let dir = tempfile::tempdir().expect("tempdir");
        let _etcd = Etcd::start(ETCD, dir.path());
        let hs: Vec<Host> = (1..=hosts).map(Host::new).collect();
        let cl = format!("etcd://{ETCD}:2379");
        for h in &hs {
            let o = overlay_options("10.0.0.0/16", &cl, &h.vtep.to_string(), VNI);
            h.brnet(|b| b.create_network("ov", &o).expect("create the network"));
        }
        let _agents = Agents::start(&hs);
        // One probe container per host, through bridge-net.
        let nsdir = NetnsDir::default();
        let mut probes = Vec::new();
        for (i, h) in hs.iter().enumerate() {
            let p = format!("p{i}");
            probes.push(nsdir.create(&p).expect("probe namespace"));
            h.connect(&p);
        }
        // The rest in the store only, spread over the hosts.
        let c = cluster();
        let net = c.network("ov").expect("store").expect("the network");
        let n = hs.len();
        let extra = endpoints.saturating_sub(n);
        for k in 0..extra {
            c.allocate(&net, hs[k % n].vtep, None, None, mac_of)
                .expect("allocate");
        }
        let total = n + extra;
        settle(&hs, |i| {
            total - 1 - (extra / n + usize::from(i < extra % n))
        });
        let mut out = Convergence::default();
        let mut keep = Vec::new();
        for k in 0..SAMPLES {
            let (a, b) = (k % n, (k + 1) % n);
            let cname = format!("n{k}");
            let cns = nsdir.create(&cname).expect("container namespace");
            // Listening before its network exists: the kernel answers
            // the SYN as soon as a packet gets there.
            keep.push(
                cns.run(|| TcpListener::bind(("0.0.0.0", PORT)))
                    .expect("enter")
                    .expect("listen"),
            );
            let (ip, start, took) = hs[a].connect(&cname);
            let to = SocketAddr::new(ip, PORT);
            let reached = probes[b]
                .run(move || {
                    loop {
                        if TcpStream::connect_timeout(&to, Duration::from_millis(20)).is_ok() {
                            return Instant::now();
                        }
                        assert!(start.elapsed() < Duration::from_secs(30), "{to} reached");
                    }
                })
                .expect("enter the probe");
            out.reply.push(reached - start);
            out.connect.push(took);
        }
        out
    })
    .expect("sandbox")
}

/// A data-plane host: its bridge `br-4096` (gateway 10.0.0.1) with the
/// VXLAN device on it; the device's index.
fn network(ns: &Netns, vtep: IpAddr) -> u32 {
    let mut nl = Socket::open_in(ns).expect("netlink");
    let br = name("br-4096");
    nl.create_bridge(&BridgeSpec::new(&br)).expect("bridge");
    let bri = nl.link(&br).expect("bridge").index;
    nl.add_address(bri, &"10.0.0.1/16".parse().expect("address"))
        .expect("gateway");
    let (underlay, _) = dataplane::underlay_of(&mut nl, vtep).expect("underlay");
    dataplane::create_vtep(
        &mut nl,
        &VtepSpec {
            vni: VNI,
            local: vtep,
            underlay,
            bridge: Some(bri),
            mtu: None,
        },
    )
    .expect("vxlan")
}

/// Container `cname` on host `host`'s bridge: eth0 `addr`, MTU 1450.
fn container(host: &Netns, cname: &str, addr: &str, mac: MacAddr) {
    let ns = NetnsDir::default().create(cname).expect("namespace");
    let mut nl = Socket::open_in(host).expect("netlink");
    let bri = nl.link_by_name("br-4096").expect("bridge").index;
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
    .expect("veth");
    let mut c = Socket::open_in(&ns).expect("netlink");
    for l in ["eth0", "lo"] {
        let i = c.link_by_name(l).expect("link").index;
        c.set_up(i).expect("up");
    }
    let eth0 = c.link_by_name("eth0").expect("eth0").index;
    c.add_address(eth0, &addr.parse().expect("address"))
        .expect("address");
}

/// Average RTT of 200 pings 5 ms apart from namespace `from` to `to`.
fn ping_avg(from: &str, to: &str) -> Option<f64> {
    let out = Command::new("ip")
        .args(["netns", "exec", from, "ping", "-q", "-n", "-c", "200"])
        .args(["-i", "0.005", to])
        .output()
        .ok()?;
    // rtt min/avg/max/mdev = 0.004/0.006/0.020/0.002 ms
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains("min/avg/max"))?
        .split('=')
        .nth(1)?
        .trim()
        .split('/')
        .nth(1)?
        .parse()
        .ok()
}

/// An `iperf3 -s` in a named namespace; killed on drop.
struct Iperf(Child);

impl Iperf {
    fn serve(ns: &str, bind: &str) -> Iperf {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "iperf3", "-s", "-B", bind])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iperf3 (apt-get install iperf3)");
        brnet_testkit::traffic::wait_listening(ns, "tcp", 5201);
        Iperf(child)
    }
}

impl Drop for Iperf {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One iperf3 TCP stream of `secs` seconds from namespace `from` to `to`:
/// the receiver's Gbit/s.
fn iperf(from: &str, to: &str, secs: u32) -> Option<f64> {
    let out = Command::new("ip")
        .args(["netns", "exec", from, "iperf3", "-J", "-c", to, "-t"])
        .arg(secs.to_string())
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(v["end"]["sum_received"]["bits_per_second"].as_f64()? / 1e9)
}

/// Medians of the data-plane figures.
#[derive(Debug, Clone, Copy)]
struct DataPlane {
    over_gbps: Option<f64>,
    under_gbps: Option<f64>,
    over_rtt: Option<f64>,
    under_rtt: Option<f64>,
}

fn data_plane(secs: u32, runs: usize) -> DataPlane {
    isolated(move || {
        topo::underlay();
        let (h1, h2) = (topo::host(1), topo::host(2));
        let (v1, v2): (IpAddr, IpAddr) = (
            "10.99.0.1".parse().expect("ip"),
            "10.99.0.2".parse().expect("ip"),
        );
        let vx1 = network(&h1, v1);
        let vx2 = network(&h2, v2);
        let (a, b): (IpAddr, IpAddr) = (
            "10.0.0.2".parse().expect("ip"),
            "10.0.0.3".parse().expect("ip"),
        );
        container(&h1, "c1", "10.0.0.2/16", mac_of(a));
        container(&h2, "c2", "10.0.0.3/16", mac_of(b));
        let peer = |ip, vtep| PeerSet {
            peers: [vtep].into(),
            endpoints: vec![RemoteEndpoint {
                ip,
                mac: mac_of(ip),
                vtep,
            }],
        };
        for (ns, vx, ip, vtep) in [(&h1, vx1, b, v2), (&h2, vx2, a, v1)] {
            let mut nl = Socket::open_in(ns).expect("netlink");
            dataplane::reconcile(&mut nl, vx, &peer(ip, vtep)).expect("entries");
        }
        let _servers = [
            Iperf::serve("c2", "10.0.0.3"),
            Iperf::serve("h2", "10.99.0.2"),
        ];
        let mut over = Vec::new();
        let mut under = Vec::new();
        for _ in 0..runs {
            // Alternate, so that warm-up and noise fall on both.
            under.extend(iperf("h1", "10.99.0.2", secs));
            over.extend(iperf("c1", "10.0.0.3", secs));
        }
        DataPlane {
            over_gbps: median(over),
            under_gbps: median(under),
            over_rtt: ping_avg("c1", "10.0.0.3"),
            under_rtt: ping_avg("h1", "10.99.0.2"),
        }
    })
    .expect("sandbox")
}

/// Median connect and disconnect on a bridge network, an overlay network
/// on etcd and one on the embedded store, `n` containers each.
fn connect_cost(n: usize) -> Vec<(&'static str, Duration, Duration)> {
    isolated(move || {
        topo::underlay();
        let dir = tempfile::tempdir().expect("tempdir");
        let _etcd = Etcd::start(ETCD, dir.path());
        let state = tempfile::tempdir().expect("tempdir");
        let store = tempfile::tempdir().expect("tempdir");
        let mut b = BridgeNet::open(state.path()).expect("open");
        let mut plain = NetworkOptions::default();
        plain.ipv4.subnet = Some("10.1.0.0/16".parse().expect("subnet"));
        b.create_network("plain", &plain).expect("bridge network");
        let etcd = format!("etcd://{ETCD}:2379");
        let local = format!("dir://{}", store.path().display());
        b.create_network(
            "ov-etcd",
            &overlay_options("10.2.0.0/16", &etcd, ETCD, 4096),
        )
        .expect("overlay on etcd");
        b.create_network(
            "ov-dir",
            &overlay_options("10.3.0.0/16", &local, ETCD, 4097),
        )
        .expect("overlay on a directory");
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
                nsdir.create(&c).expect("namespace");
                let r: NetnsRef = c.parse().expect("name");
                let t = Instant::now();
                b.connect(net, &r, &ConnectOptions::default())
                    .expect("connect");
                conn.push(t.elapsed());
                let t = Instant::now();
                b.disconnect(net, &r).expect("disconnect");
                disc.push(t.elapsed());
                nsdir.delete(&c).expect("delete namespace");
            }
            out.push((
                label,
                median(conn).unwrap_or_default(),
                median(disc).unwrap_or_default(),
            ));
        }
        out
    })
    .expect("sandbox")
}

fn missing(tool: &str) -> bool {
    !Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every overlay figure as a Markdown section (also written to
/// `target/brnet-bench/overlay.md`); `quick`: 3 hosts and 10 endpoints
/// only, shorter transfers. Each row is also printed to stderr as it is
/// measured.
pub fn section(quick: bool) -> String {
    let head = "\n### Overlay networks (VXLAN + etcd)\n\n";
    if let Some(t) = ["etcd", "iperf3"].into_iter().find(|t| missing(t)) {
        return format!(
            "{head}`{t}` not installed (`apt-get install etcd-server iperf3`): not measured.\n"
        );
    }
    eprintln!("==> bench: overlay networks (convergence, data plane, connect cost)");
    let mut md = String::from(head);
    let mut row = |line: String| {
        eprintln!("{line}");
        md.push_str(&line);
        md.push('\n');
    };
    row("| measure | figure |\n|---|---|".into());
    let sizes: &[(u8, usize)] = if quick {
        &[(3, 10)]
    } else {
        &[(3, 10), (3, 500), (8, 10), (8, 500)]
    };
    for &(h, e) in sizes {
        let c = convergence(h, e);
        let max = c.reply.iter().max().copied().unwrap_or_default();
        row(format!(
            "| convergence, {h} hosts, {e} endpoints: `connect` on A → TCP answer from it in a container on B, {SAMPLES} connects | median {}, max {} (the `connect` itself: median {}) |",
            ms(median(c.reply).unwrap_or_default()),
            ms(max),
            ms(median(c.connect).unwrap_or_default()),
        ));
    }
    let (secs, runs) = if quick { (2, 1) } else { (5, 3) };
    let d = data_plane(secs, runs);
    let f = |v: Option<f64>, p: usize| v.map_or("failed".into(), |v| format!("{v:.p$}"));
    let ratio = match (d.over_gbps, d.under_gbps) {
        (Some(o), Some(u)) => format!(" ({:+.0} %)", (o / u - 1.0) * 100.0),
        _ => String::new(),
    };
    row(format!(
        "| TCP, iperf3 one stream, {secs} s × {runs}, median: VXLAN c1→c2 / underlay h1→h2 | {} / {} Gbit/s{ratio} |",
        f(d.over_gbps, 1),
        f(d.under_gbps, 1),
    ));
    row(format!(
        "| ping RTT avg, 200 pings 5 ms apart: VXLAN c1→c2 / underlay h1→h2 | {} / {} ms |",
        f(d.over_rtt, 3),
        f(d.under_rtt, 3),
    ));
    let n = if quick { 10 } else { 50 };
    for (label, c, d) in connect_cost(n) {
        row(format!(
            "| connect / disconnect, {label}, median of {n} | {} / {} |",
            ms(c),
            ms(d)
        ));
    }
    md.push_str(&format!(
        "\nHosts are namespaces on an underlay bridge, one agent thread each; etcd 3.4 on the underlay. \
         Beyond one probe container per host, the endpoints are allocated in the store only (every agent \
         programs them). Reproduce alone: `sudo -E cargo bench -p brnet-benches --bench overlay`{}.\n",
        if quick {
            " with `BRNET_BENCH_OVERLAY_QUICK=1`"
        } else {
            ""
        }
    ));
    let _ = std::fs::write(crate::out_dir().join("overlay.md"), &md);
    md
}
