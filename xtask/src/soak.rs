//! `cargo xtask soak [--cycles N]`: connect/disconnect cycles through one
//! bridge-net handle in a throwaway sandbox, checking that nothing
//! accumulates: links, addresses, nft elements, the process's open file
//! descriptors and its resident memory at the end equal those after the
//! first 100 cycles (memory within a small margin).
//!
//! Every cycle makes a namespace, connects it with one published port and
//! disconnects it. Nine cycles in ten drop the namespace first (the cheap
//! path a runtime tearing a container down takes); every tenth disconnects
//! a live namespace (its veth deleted explicitly).

use std::time::Instant;

use bridge_net::{BridgeNet, ConnectOptions, NetworkOptions};
use brnet_netlink::Socket;
use brnet_netns::{NetnsDir, isolated};

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
pub fn run(args: &[String]) -> Res<()> {
    let mut cycles = 10_000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cycles" => {
                cycles = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--cycles needs a number")?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if cycles < 100 {
        return Err("--cycles must be at least 100".into());
    }
    isolated(move || soak(cycles)).map_err(err)?
}
