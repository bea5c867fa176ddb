//! Loading the state directory with N endpoints recorded (issue 16): what
//! every `brnet`, `brnet-netavark` and `brnet-cni` process pays before it
//! does anything. No kernel: the records are written through the store
//! alone, in a temporary directory.
//!
//! - `state/open/snapshot/N`: `Store::open` (lock and load) of N
//!   endpoints, all in the snapshot.
//! - `state/open-unlocked/journal/N`: loading N endpoints all in the
//!   journal after the snapshot (without the lock, which would compact it):
//!   what a journal record costs a load beside a snapshot record.
//! - `state/open+touch-one/snapshot/N`: the same, then one endpoint asked
//!   for by id (what a disconnect decodes).
//! - `state/parse-all/snapshot/N`: `State::parse`, which decodes every
//!   record (what loading cost before records were decoded lazily).
//!
//! Target: loading 1000 endpoints within a small multiple of loading 100.

use std::hint::black_box;
use std::path::Path;

use bridge_net::NetworkOptions;
use bridge_net::state::{EndpointRecord, NetworkRecord, Op, Restore, STATE_FILE, State, Store};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn network() -> NetworkRecord {
    let mut options = NetworkOptions::default();
    options.ipv4.subnet = Some("10.80.0.0/16".parse().expect("subnet"));
    options.ipv4.gateway = Some("10.80.0.1".parse().expect("gateway"));
    NetworkRecord {
        id: "a".repeat(64),
        name: "bench".into(),
        created: "2026-12-05T20:00:00.000000000Z".into(),
        bridge: "br-aaaaaaaaaaaa".into(),
        default: false,
        adopted: false,
        restore: Restore::default(),
        options,
    }
}

fn endpoint(i: usize, net: &NetworkRecord) -> EndpointRecord {
    let id = format!("{:064x}", 0x5eed_0000_u64 + i as u64 * 7919);
    EndpointRecord {
        id: id.clone(),
        network: net.id.clone(),
        container_id: id,
        container: format!("c{i}"),
        netns: format!("/run/netns/c{i}").into(),
        netns_ino: 4_026_532_000 + i as u64,
        netns_dev: 4,
        netns_cookie: Some(600_000 + i as u64),
        netns_ctime: 1_796_502_684_496_424_549,
        ifname: "eth0".into(),
        host_veth: format!("veth{i:07x}"),
        mac: "02:42:0a:50:00:02".into(),
        ipv4: Some(
            format!("10.80.{}.{}/16", (i + 2) / 256, (i + 2) % 256)
                .parse()
                .expect("address"),
        ),
        ipv6: None,
        dynamic4: true,
        dynamic6: false,
        default_route: true,
        gw_priority: 0,
        ports: Vec::new(),
        aliases: Vec::new(),
        created: "2026-12-05T20:00:01.000000000Z".into(),
    }
}

/// A state directory with `n` endpoints, all in the snapshot
/// (`compacted`) or all in the journal.
fn state_dir(n: usize, compacted: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = Store::open(dir.path()).expect("open");
    let _l = s.lock().expect("lock");
    let net = network();
    s.record(
        Op::Network {
            network: net.clone(),
        },
        true,
    )
    .expect("network");
    for i in 0..n {
        s.record(
            Op::Connect {
                endpoint: endpoint(i, &net),
            },
            false,
        )
        .expect("connect");
    }
    if compacted {
        s.write_snapshot().expect("snapshot");
    }
    drop(_l);
    dir
}

fn open(dir: &Path) -> Store {
    Store::open(dir).expect("open")
}

fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("state");
    for n in [100, 1000] {
        for (layout, compacted) in [("snapshot", true), ("journal", false)] {
            let dir = state_dir(n, compacted);
            if compacted {
                g.bench_with_input(BenchmarkId::new(format!("open/{layout}"), n), &n, |b, _| {
                    b.iter(|| black_box(open(dir.path())));
                });
            } else {
                // Without the lock: taking it would compact the journal
                // (once, and every later load would read a snapshot).
                g.bench_with_input(
                    BenchmarkId::new(format!("open-unlocked/{layout}"), n),
                    &n,
                    |b, _| {
                        b.iter(|| black_box(Store::open_unlocked(dir.path()).expect("open")));
                    },
                );
            }
            if compacted {
                let one = endpoint(n / 2, &network()).id;
                g.bench_with_input(
                    BenchmarkId::new(format!("open+touch-one/{layout}"), n),
                    &n,
                    |b, _| {
                        b.iter(|| {
                            let s = open(dir.path());
                            black_box(s.state.endpoints.get(&one).map(|e| e.ipv4));
                        });
                    },
                );
                let bytes = std::fs::read(dir.path().join(STATE_FILE)).expect("read");
                g.bench_with_input(
                    BenchmarkId::new(format!("parse-all/{layout}"), n),
                    &n,
                    |b, _| {
                        b.iter(|| black_box(State::parse(&bytes).expect("parse")));
                    },
                );
            }
        }
    }
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
