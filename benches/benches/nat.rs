//! brnet-nat: publishing ports.
//!
//! Each backend runs in its own throwaway sandbox (`brnet_netns::isolated`)
//! on a worker thread that owns the firewall; the bench thread sends it
//! jobs and gets back the time the kernel work took (`iter_custom`).
//!
//! - `nat-native/publish/N`: N ports (one element each) in one transaction.
//! - `nat-native/one-more-port/K`: one more port when K are published:
//!   the cost per added port must not grow with K.
//! - `nat-iptables/...`: the same through the iptables backend
//!   (`iptables-restore --noflush`, Docker's one-rule-per-port layout).

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brnet_nat::{Backend, Firewall, Network, PortMapping, Protocol};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SIZES: [u16; 4] = [1, 100, 1_000, 10_000];

struct Job {
    /// Ports already published (host ports from 20001).
    existing: u16,
    /// Ports to publish in one transaction (host ports from 1), timed, then
    /// withdrawn (not timed).
    add: u16,
    iters: u64,
}

fn container() -> IpAddr {
    "172.17.0.2".parse().unwrap()
}

fn ports(first: u16, n: u16) -> Vec<PortMapping> {
    (first..first + n)
        .map(|p| PortMapping::port(Protocol::Tcp, p, container(), p).unwrap())
        .collect()
}

/// A worker thread in a fresh sandbox with a firewall of `backend`.
fn worker(backend: Backend) -> (mpsc::Sender<Job>, mpsc::Receiver<Duration>) {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (res_tx, res_rx) = mpsc::channel::<Duration>();
    std::thread::spawn(move || {
        brnet_netns::isolated(move || {
            let net = Network::builder("docker0")
                .ipv4("172.17.0.0/16".parse().unwrap())
                .build()
                .unwrap();
            let mut fw = Firewall::new(backend).unwrap();
            fw.install_network(&net, &[]).unwrap();
            let mut existing = 0u16;
            for job in job_rx {
                if job.existing != existing {
                    fw.install_network(&net, &[]).unwrap();
                    if job.existing > 0 {
                        fw.add_ports(&net, &ports(20_001, job.existing)).unwrap();
                    }
                    existing = job.existing;
                }
                let new = ports(1, job.add);
                let mut total = Duration::ZERO;
                for _ in 0..job.iters {
                    let t = Instant::now();
                    fw.add_ports(&net, &new).unwrap();
                    total += t.elapsed();
                    fw.remove_ports(&net, &new).unwrap();
                }
                if res_tx.send(total).is_err() {
                    break;
                }
            }
            fw.remove_network(&net).unwrap();
        })
        .unwrap();
    });
    (job_tx, res_rx)
}

fn bench_backend(c: &mut Criterion, name: &str, backend: Backend, samples: usize) {
    let (tx, rx) = worker(backend);
    let run = |existing: u16, add: u16, iters: u64| {
        tx.send(Job {
            existing,
            add,
            iters,
        })
        .unwrap();
        rx.recv().unwrap()
    };
    let mut g = c.benchmark_group(format!("nat-{name}/publish"));
    g.sample_size(samples);
    for n in SIZES {
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| run(0, n, iters))
        });
    }
    g.finish();
    let mut g = c.benchmark_group(format!("nat-{name}/one-more-port"));
    g.sample_size(samples);
    for k in [0, 100, 1_000, 10_000] {
        g.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, &k| {
            b.iter_custom(|iters| run(k, 1, iters))
        });
    }
    g.finish();
}

fn nat(c: &mut Criterion) {
    bench_backend(c, "native", Backend::Native, 30);
    bench_backend(c, "iptables", Backend::IptablesRestore, 10);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = nat
}
criterion_main!(benches);
