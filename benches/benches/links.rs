//! Attach N = 1, 100, 1000 namespaces to one bridge: bridge-net beside the
//! kernel floor (`nlbench.c`, a minimal C netlink program) and `ip -batch`,
//! measured in the same run, each in its own throwaway sandbox. Times are
//! per endpoint.
//!
//! Variants: IPv6 left on (`v6on`), and IPv6 off on both veth ends
//! (`v6off`: ours with `disable_ipv6`, nlbench with `NLNOV6` and the
//! sandbox's own default off). Teardown: explicit veth delete against
//! dropping the namespace and letting the kernel clean up.
//!
//! `BRNET_BENCH_NS=1,100` limits the sizes (the default is 1,100,1000).

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

/// Run `work` `iters` times, each in a fresh sandbox, and return the summed
/// per-endpoint time.
fn per_endpoint(iters: u64, n: usize, work: impl Fn() -> Option<Duration> + Sync) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let took = isolated(&work)
            .expect("sandbox")
            .expect("baseline available");
        total += took / n as u32;
    }
    total
}

fn attach(c: &mut Criterion) {
    let mut g = c.benchmark_group("attach");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(2));
    let have_nlbench = nlbench().is_some();
    if !have_nlbench {
        eprintln!("nlbench: not available (needs cc and ../shared/baseline/nlbench.c)");
    }
    for n in sizes() {
        for (variant, v6off) in [("v6on", false), ("v6off", true)] {
            g.bench_with_input(
                BenchmarkId::new(format!("brnet/{variant}"), n),
                &n,
                |b, &n| {
                    b.iter_custom(|iters| {
                        per_endpoint(iters, n, || {
                            let br = prepare_sandbox(false);
                            Some(run_brnet(br, n, v6off))
                        })
                    })
                },
            );
            if have_nlbench {
                g.bench_with_input(
                    BenchmarkId::new(format!("nlbench/{variant}"), n),
                    &n,
                    |b, &n| {
                        b.iter_custom(|iters| {
                            per_endpoint(iters, n, || {
                                prepare_sandbox(v6off);
                                run_nlbench("setup", n, v6off)
                            })
                        })
                    },
                );
            }
        }
        if n <= 100 {
            g.bench_with_input(BenchmarkId::new("ip-batch/v6on", n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    per_endpoint(iters, n, || {
                        prepare_sandbox(false);
                        run_ip_batch(n)
                    })
                })
            });
        }
    }
    g.finish();
}

fn teardown(c: &mut Criterion) {
    let mut g = c.benchmark_group("teardown");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(2));
    for n in sizes().into_iter().filter(|n| *n <= 100) {
        for (path, delete_veths) in [("veth-delete", true), ("netns-drop", false)] {
            g.bench_with_input(BenchmarkId::new(format!("brnet/{path}"), n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    per_endpoint(iters, n, || {
                        let br = prepare_sandbox(false);
                        run_brnet(br, n, true);
                        Some(teardown_brnet(n, delete_veths))
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, attach, teardown);
criterion_main!(benches);
