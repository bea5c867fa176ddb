//! `cargo xtask soak [--cycles N] [--processes P]`: connect/disconnect
//! cycles in a throwaway sandbox, checking that nothing accumulates.
//!
//! One process (the default): cycles through one bridge-net handle; links,
//! addresses, nft elements, the process's open file descriptors and its
//! resident memory at the end equal those after the first 100 cycles
//! (memory within a small margin). Every cycle makes a namespace, connects
//! it with one published port and disconnects it. Nine cycles in ten drop
//! the namespace first (the cheap path a runtime tearing a container down
//! takes); every tenth disconnects a live namespace (its veth deleted
//! explicitly).
//!
//! `--processes P` (P ≥ 2): P processes share one state directory, each
//! with its own long-lived handle, N cycles in all. Besides the cycles
//! above, each process creates a network of its own every 25 cycles,
//! connects and disconnects a namespace on it and removes it (snapshots
//! written while others connect), and the journal is compacted several
//! times over. Checked: after every connect, a reader without the lock
//! finds the endpoint recorded with its address and no other endpoint with
//! that address; every 50 cycles a process takes the lock and compares the
//! whole state with the kernel (no address twice, every live endpoint's
//! address on its interface); each process's open file descriptors at the
//! end equal those after a fifth of its cycles; at the end the links,
//! addresses and nft elements are those before the run, and the state file
//! reopens with the shared network alone and no endpoint.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bridge_net::state::{STATE_FILE, State, Store};
use bridge_net::{BridgeNet, ConnectOptions, EndpointInfo, NetnsRef, NetworkOptions};
use brnet_netlink::Socket;
use brnet_netns::{Netns, NetnsDir, isolated};

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    links: usize,
    addresses: usize,
    elements: usize,
    fds: usize,
    rss_kib: u64,
    state_bytes: u64,
}

fn sample(b: &mut BridgeNet, nl: &mut Socket) -> Res<Sample> {
    let links = nl.links().map_err(err)?.len();
    let addresses = nl.addresses(None).map_err(err)?.len();
    let elements = b.firewall().dump().map_err(err)?.element_count();
    let fds = std::fs::read_dir("/proc/self/fd").map_err(err)?.count();
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(err)?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let state_bytes = std::fs::metadata(b.state_path())
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(Sample {
        links,
        addresses,
        elements,
        fds,
        rss_kib: pages * 4,
        state_bytes,
    })
}

fn soak(cycles: usize) -> Res<()> {
    let state = std::env::temp_dir().join(format!("brnet-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut b = BridgeNet::open(&state).map_err(err)?;
    let mut nl = Socket::new().map_err(err)?;
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some("10.66.0.0/16".parse().map_err(err)?);
    b.create_network("soak", &o).map_err(err)?;
    let dir = NetnsDir::default();
    let started = Instant::now();
    let mut after_100 = None;
    for k in 0..cycles {
        let name = format!("s{}", k % 4);
        dir.create(&name).map_err(err)?;
        let r = name.parse().map_err(err)?;
        b.connect(
            "soak",
            &r,
            &ConnectOptions {
                ports: vec![format!("{}:80", 20000 + k % 1000).parse().map_err(err)?],
                ..ConnectOptions::default()
            },
        )
        .map_err(|e| format!("cycle {k}: connect: {e}"))?;
        let live = k % 10 == 9;
        if !live {
            dir.delete(&name).map_err(err)?;
        }
        b.disconnect("soak", &r)
            .map_err(|e| format!("cycle {k}: disconnect: {e}"))?;
        if live {
            dir.delete(&name).map_err(err)?;
        }
        if k + 1 == 100.min(cycles) {
            // Let the kernel finish tearing the dropped namespaces down.
            std::thread::sleep(std::time::Duration::from_millis(500));
            after_100 = Some(sample(&mut b, &mut nl)?);
        }
        if (k + 1) % 1000 == 0 {
            eprintln!(
                "  {} cycles, {:.1} s",
                k + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let end = sample(&mut b, &mut nl)?;
    let first = after_100.ok_or("no cycles")?;
    let per_cycle = started.elapsed().as_secs_f64() * 1e3 / cycles as f64;
    println!("soak: {cycles} connect/disconnect cycles, {per_cycle:.2} ms per cycle");
    println!("  after 100:  {first:?}");
    println!("  at the end: {end:?}");
    let _ = std::fs::remove_dir_all(&state);
    let mut leaks = Vec::new();
    if end.links != first.links {
        leaks.push(format!("links {} -> {}", first.links, end.links));
    }
    if end.addresses != first.addresses {
        leaks.push(format!(
            "addresses {} -> {}",
            first.addresses, end.addresses
        ));
    }
    if end.elements != first.elements {
        leaks.push(format!(
            "nft elements {} -> {}",
            first.elements, end.elements
        ));
    }
    if end.fds != first.fds {
        leaks.push(format!("open fds {} -> {}", first.fds, end.fds));
    }
    // Allocator noise: allow 4 MiB or 25 %, whichever is larger.
    let margin = (first.rss_kib / 4).max(4096);
    if end.rss_kib > first.rss_kib + margin {
        leaks.push(format!("RSS {} KiB -> {} KiB", first.rss_kib, end.rss_kib));
    }
    if end.state_bytes > first.state_bytes.max(64 * 1024) * 4 {
        leaks.push(format!(
            "state file {} -> {} bytes",
            first.state_bytes, end.state_bytes
        ));
    }
    if leaks.is_empty() {
        println!("  no leaks");
        Ok(())
    } else {
        Err(format!("leaks: {}", leaks.join("; ")))
    }
}

/// Run the soak.
pub fn run(cycles: usize, processes: usize) -> Res<()> {
    if let Ok(id) = std::env::var(WORKER_ENV) {
        return worker_main(&id);
    }
    if cycles < 100 {
        return Err("--cycles must be at least 100".into());
    }
    if processes == 1 {
        isolated(move || soak(cycles)).map_err(err)?
    } else {
        isolated(move || shared(processes, cycles)).map_err(err)?
    }
}

/// A worker process of the shared soak: its number, in this variable;
/// the state directory, its cycles and how many workers there are in the
/// three below.
const WORKER_ENV: &str = "BRNET_SOAK_WORKER";
const WORKER_STATE_ENV: &str = "BRNET_SOAK_STATE";
const WORKER_CYCLES_ENV: &str = "BRNET_SOAK_CYCLES";
const WORKERS_ENV: &str = "BRNET_SOAK_WORKERS";
/// The network every worker connects to.
const SHARED: &str = "soak";

/// Links, addresses (IPv6 link-local ones aside: the kernel adds one to a
/// bridge when its first port comes up) and nft elements of the sandbox.
fn kernel_sample(b: &mut BridgeNet, nl: &mut Socket) -> Res<(usize, usize, usize)> {
    let link_local =
        |a: &IpAddr| matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    Ok((
        nl.links().map_err(err)?.len(),
        nl.addresses(None)
            .map_err(err)?
            .iter()
            .filter(|a| !link_local(&a.net.addr()))
            .count(),
        b.firewall().dump().map_err(err)?.element_count(),
    ))
}

fn shared(processes: usize, cycles: usize) -> Res<()> {
    let state = std::env::temp_dir().join(format!("brnet-soak-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut b = BridgeNet::open(&state).map_err(err)?;
    let mut nl = Socket::new().map_err(err)?;
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some("10.67.0.0/16".parse().map_err(err)?);
    b.create_network(SHARED, &o).map_err(err)?;
    let before = kernel_sample(&mut b, &mut nl)?;
    let exe = std::env::current_exe().map_err(err)?;
    // Count how often the state file is replaced (network snapshots and
    // compactions) while the workers run.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (done, path) = (done.clone(), state.join(STATE_FILE));
        std::thread::spawn(move || {
            let (mut last, mut replaced) = (0, 0usize);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(m) = std::fs::metadata(&path) {
                    if last != 0 && m.ino() != last {
                        replaced += 1;
                    }
                    last = m.ino();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            replaced
        })
    };
    let started = Instant::now();
    let per = cycles.div_ceil(processes);
    let kids = (0..processes)
        .map(|k| {
            Command::new(&exe)
                .arg("soak")
                .env(WORKER_ENV, k.to_string())
                .env(WORKER_STATE_ENV, &state)
                .env(WORKER_CYCLES_ENV, per.to_string())
                .env(WORKERS_ENV, processes.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("start worker {k}: {e}"))
        })
        .collect::<Res<Vec<_>>>()?;
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for (k, kid) in kids.into_iter().enumerate() {
        let out = kid.wait_with_output().map_err(err)?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() {
            reports.push(text);
        } else {
            failures.push(format!("worker {k} ({}): {text}", out.status));
        }
    }
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let replaced = watcher.join().map_err(|_| "the watcher panicked")?;
    // The kernel tears dropped namespaces (and their veths) down in the
    // background: give it a moment to finish.
    let mut end = kernel_sample(&mut b, &mut nl)?;
    let settle = Instant::now();
    while end != before && settle.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        end = kernel_sample(&mut b, &mut nl)?;
    }
    drop(b);
    println!(
        "soak: {processes} processes, {} connect/disconnect cycles in all, {:.2} ms per cycle ({:.1} s)",
        per * processes,
        elapsed.as_secs_f64() * 1e3 / (per * processes) as f64,
        elapsed.as_secs_f64()
    );
    for r in &reports {
        println!("  {r}");
    }
    println!("  the state file was replaced at least {replaced} times (snapshots, compactions)");
    let mut problems = failures;
    let names = ["links", "addresses", "nft elements"];
    for (i, (a, z)) in [(before.0, end.0), (before.1, end.1), (before.2, end.2)]
        .into_iter()
        .enumerate()
    {
        if a != z {
            problems.push(format!("{} {a} before, {z} after", names[i]));
        }
    }
    // The state reopens, as a whole file and through a new handle.
    let bytes = std::fs::read(state.join(STATE_FILE)).map_err(err)?;
    match State::parse(&bytes) {
        Err(e) => problems.push(format!("the state file does not parse: {e}")),
        Ok(st) => {
            let nets: Vec<_> = st.networks.iter().map(|n| n.rec.name.clone()).collect();
            if nets != [SHARED] || !st.endpoints.is_empty() || !st.intents.is_empty() {
                problems.push(format!(
                    "left in the state: networks {nets:?}, {} endpoints, {} open operations",
                    st.endpoints.len(),
                    st.intents.len()
                ));
            }
        }
    }
    if let Err(e) = BridgeNet::open(&state) {
        problems.push(format!("the state does not reopen: {e}"));
    }
    let _ = std::fs::remove_dir_all(&state);
    if problems.is_empty() {
        println!("  no duplicate address, no lost record, no leak; the state reopens");
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// One worker of the shared soak (started by [`shared`], in its sandbox).
fn worker_main(id: &str) -> Res<()> {
    let id: usize = id.parse().map_err(err)?;
    let state = PathBuf::from(std::env::var(WORKER_STATE_ENV).map_err(err)?);
    let cycles: usize = std::env::var(WORKER_CYCLES_ENV)
        .map_err(err)?
        .parse()
        .map_err(err)?;
    let r = worker(id, &state, cycles);
    if let Err(e) = &r {
        // The parent reports stdout.
        println!("{e}");
    }
    r
}

/// Every open of the state reconciles, and drops the endpoints whose
/// namespace is gone: a worker that deleted a namespace and has not yet
/// disconnected it would lose it to another worker's open. So every worker
/// opens first, then all start.
fn start_together(state: &Path, id: usize) -> Res<()> {
    std::fs::write(state.join(format!("soak-ready-{id}")), b"").map_err(err)?;
    let expected: usize = std::env::var(WORKERS_ENV)
        .map_err(err)?
        .parse()
        .map_err(err)?;
    let started = Instant::now();
    loop {
        let ready = std::fs::read_dir(state)
            .map_err(err)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("soak-ready-"))
            .count();
        if ready >= expected {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the other workers did not start".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What a fresh reader without the lock finds about `ep`: recorded, with
/// its address, and no other endpoint with that address.
fn check_recorded(reader: &mut Store, ep: &EndpointInfo) -> Res<()> {
    reader
        .refresh_unlocked()
        .map_err(|e| format!("unlocked read: {e}"))?;
    let st = &reader.state;
    let rec = st.endpoints.get(&ep.id).ok_or_else(|| {
        format!(
            "lost record: endpoint {} ({}) not in the state",
            ep.id, ep.container
        )
    })?;
    if rec.ipv4 != ep.ipv4 {
        return Err(format!(
            "endpoint {} recorded with {:?}, connected with {:?}",
            ep.container, rec.ipv4, ep.ipv4
        ));
    }
    if let Some(other) = st
        .endpoints
        .values()
        .find(|e| e.id != ep.id && e.ipv4.is_some() && e.ipv4 == ep.ipv4)
    {
        return Err(format!(
            "duplicate address {:?}: {} and {}",
            ep.ipv4, ep.container, other.container
        ));
    }
    Ok(())
}

/// Take the lock (every other process waits) and compare the whole state
/// with the kernel.
fn audit(state: &Path) -> Res<()> {
    let mut s = Store::open(state).map_err(err)?;
    let _lock = s.lock().map_err(err)?;
    let mut seen: HashMap<IpAddr, String> = HashMap::new();
    for e in s.state.endpoints.values() {
        let addrs = e
            .ipv4
            .map(|a| IpAddr::V4(a.addr()))
            .into_iter()
            .chain(e.ipv6.map(|a| IpAddr::V6(a.addr())));
        for a in addrs {
            if let Some(other) = seen.insert(a, e.container.clone()) {
                return Err(format!(
                    "audit: {a} recorded for {other} and {}",
                    e.container
                ));
            }
        }
        // A live namespace has the recorded address on its interface.
        let alive = std::fs::metadata(&e.netns).is_ok_and(|m| m.ino() == e.netns_ino);
        if !alive {
            continue;
        }
        // Its owner deletes a namespace without the lock: gone between the
        // check and the open (unmounted, or unlinked) is gone.
        let ns = match Netns::open_path(&e.netns) {
            Ok(ns) => ns,
            Err(
                brnet_netns::Error::NotANetworkNamespace { .. }
                | brnet_netns::Error::NotFound { .. },
            ) => continue,
            Err(other) => return Err(err(other)),
        };
        if !std::fs::metadata(&e.netns).is_ok_and(|m| m.ino() == e.netns_ino) {
            continue;
        }
        let mut inside = Socket::open_in(&ns).map_err(err)?;
        let link = inside
            .links()
            .map_err(err)?
            .into_iter()
            .find(|l| l.name == e.ifname)
            .ok_or_else(|| format!("audit: no {} in {}", e.ifname, e.netns.display()))?;
        let have: BTreeSet<IpAddr> = inside
            .addresses_of(link.index)
            .map_err(err)?
            .into_iter()
            .map(|a| a.net.addr())
            .collect();
        if let Some(a) = e.ipv4
            && !have.contains(&IpAddr::V4(a.addr()))
        {
            return Err(format!(
                "audit: {} recorded with {a}, has {have:?}",
                e.container
            ));
        }
    }
    Ok(())
}

fn fd_count() -> Res<usize> {
    Ok(std::fs::read_dir("/proc/self/fd").map_err(err)?.count())
}

fn worker(id: usize, state: &Path, cycles: usize) -> Res<()> {
    let mut b = BridgeNet::open(state).map_err(err)?;
    let mut reader = Store::open_unlocked(state).map_err(err)?;
    start_together(state, id)?;
    let dir = NetnsDir::default();
    let started = Instant::now();
    let (mut audits, mut own_networks, mut dropped) = (0, 0, 0);
    let mut fds_first = None;
    let connect = |b: &mut BridgeNet, network: &str, name: &str, port: Option<u16>| {
        dir.create(name).map_err(err)?;
        let r: NetnsRef = name.parse().map_err(err)?;
        let ports = match port {
            Some(p) => vec![format!("{p}:80").parse().map_err(err)?],
            None => Vec::new(),
        };
        b.connect(
            network,
            &r,
            &ConnectOptions {
                ports,
                ..ConnectOptions::default()
            },
        )
        .map(|e| (r, e))
        .map_err(|e| format!("connect {name} to {network}: {e}"))
    };
    for k in 0..cycles {
        let name = format!("w{id}-{}", k % 4);
        let port = 30000 + u16::try_from(id * 500 + k % 500).map_err(err)?;
        let (r, ep) = connect(&mut b, SHARED, &name, Some(port))?;
        check_recorded(&mut reader, &ep).map_err(|e| format!("cycle {k}: {e}"))?;
        let live = k % 10 == 9;
        if !live {
            dir.delete(&name).map_err(err)?;
        }
        if !b
            .disconnect(SHARED, &r)
            .map_err(|e| format!("cycle {k}: disconnect {name}: {e}"))?
        {
            dropped += 1;
        }
        if live {
            dir.delete(&name).map_err(err)?;
        }
        if k % 25 == 12 {
            // A network of its own: snapshots written while others connect.
            let own = format!("w{id}n{k}");
            b.create_network(&own, &NetworkOptions::default())
                .map_err(|e| format!("cycle {k}: create {own}: {e}"))?;
            let x = format!("w{id}-x");
            let (r, ep) = connect(&mut b, &own, &x, None)?;
            check_recorded(&mut reader, &ep).map_err(|e| format!("cycle {k}: {e}"))?;
            dir.delete(&x).map_err(err)?;
            b.disconnect(&own, &r)
                .map_err(|e| format!("cycle {k}: disconnect {x}: {e}"))?;
            b.remove_network(&own)
                .map_err(|e| format!("cycle {k}: remove {own}: {e}"))?;
            own_networks += 1;
        }
        if k % 50 == 49 {
            audit(state).map_err(|e| format!("cycle {k}: {e}"))?;
            audits += 1;
        }
        if k + 1 == (cycles / 5).max(1) {
            fds_first = Some(fd_count()?);
        }
    }
    let fds_end = fd_count()?;
    let fds_first = fds_first.unwrap_or(fds_end);
    if fds_end != fds_first {
        return Err(format!("open fds {fds_first} -> {fds_end}"));
    }
    println!(
        "worker {id}: {cycles} cycles ({:.2} ms each), {own_networks} networks of its own, {audits} audits, {dropped} endpoints dropped by another's reconcile, fds {fds_first} -> {fds_end}",
        started.elapsed().as_secs_f64() * 1e3 / cycles as f64,
    );
    Ok(())
}
