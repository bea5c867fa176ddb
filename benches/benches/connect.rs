//! bridge-net's connect and disconnect per container, for N = 1, 100 and
//! 1000 containers on one network, without and with one published port,
//! beside the link-level attach loop (`brnet-veth` directly) and `ip
//! -batch`, measured in the same run, each in a throwaway sandbox.
//!
//! `BRNET_BENCH_NS=1,100` limits the sizes (default 1,100,1000).

use std::time::Duration;

use brnet_benches::*;
use brnet_netns::isolated;
use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};

fn sizes() -> Vec<usize> {
    std::env::var("BRNET_BENCH_NS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 100, 1000])
}

fn per_container(iters: u64, n: usize, work: impl Fn() -> Option<Duration> + Sync) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let took = isolated(&work).expect("sandbox").expect("work ran");
        total += took / n as u32;
    }
    total
}

fn connect(c: &mut Criterion) {
    let mut g = c.benchmark_group("connect");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(2));
    for n in sizes() {
        for (label, ports) in [("no-port", &[][..]), ("one-port", &["{k}:80"][..])] {
            g.bench_with_input(
                BenchmarkId::new(format!("bridge-net/{label}"), n),
                &n,
                |b, &n| {
                    b.iter_custom(|iters| {
                        per_container(iters, n, || {
                            let dir = tempfile::tempdir().ok()?;
                            let mut net = bench_network(dir.path());
                            Some(run_connect(&mut net, "bench", n, ports))
                        })
                    })
                },
            );
        }
        g.bench_with_input(BenchmarkId::new("link-level/v6off", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                per_container(iters, n, || {
                    let br = prepare_sandbox(false);
                    Some(run_brnet(br, n, true))
                })
            })
        });
        if n <= 100 {
            g.bench_with_input(BenchmarkId::new("ip-batch", n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    per_container(iters, n, || {
                        prepare_sandbox(false);
                        run_ip_batch(n)
                    })
                })
            });
        }
    }
    g.finish();
}

fn disconnect(c: &mut Criterion) {
    let mut g = c.benchmark_group("disconnect");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(2));
    for n in sizes().into_iter().filter(|n| *n <= 100) {
        for (label, first) in [("netns-dropped-first", true), ("veth-deleted", false)] {
            g.bench_with_input(
                BenchmarkId::new(format!("bridge-net/{label}"), n),
                &n,
                |b, &n| {
                    b.iter_custom(|iters| {
                        per_container(iters, n, || {
                            let dir = tempfile::tempdir().ok()?;
                            let mut net = bench_network(dir.path());
                            run_connect(&mut net, "bench", n, &["{k}:80"]);
                            Some(run_disconnect(&mut net, "bench", n, first))
                        })
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, connect, disconnect);
criterion_main!(benches);
