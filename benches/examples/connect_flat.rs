//! Is the in-process connect flat? Connect N containers through
//! bridge-net, and run nlbench (the kernel floor, IPv6 off as `cargo
//! xtask bench` runs it) for the same N, each in a fresh sandbox, the
//! sizes and systems taking turns: `connect_flat [REPS] [N...]` (default
//! 3 repetitions of N = 100 and 1000). Prints per run the ms per
//! container (and, for ours, the process's system CPU ms per container),
//! then the medians and the ratio of each N to the first. After each
//! sandbox, a pause (1 s + 3 ms per container) lets the kernel finish
//! tearing it down before the next run starts.
use std::time::Duration;

fn sys_cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let t = u.system_time();
    Duration::from_micros(t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64)
}

/// Let the kernel finish tearing down a sandbox of `n` containers (it
/// holds the RTNL lock meanwhile, which the next run would wait for).
fn settle(n: usize) {
    std::thread::sleep(Duration::from_millis(1000 + 3 * n as u64));
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let mut sizes: Vec<usize> = args.filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![100, 1000];
    }
    let ms = |d: Duration, n: usize| d.as_secs_f64() * 1e3 / n as f64;
    let mut ours = vec![Vec::new(); sizes.len()];
    let mut ours_sys = vec![Vec::new(); sizes.len()];
    let mut floor = vec![Vec::new(); sizes.len()];
    for rep in 0..reps {
        for (i, &n) in sizes.iter().enumerate() {
            let s0 = sys_cpu();
            let took = brnet_netns::isolated(|| {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut b = brnet_benches::bench_network(dir.path());
                brnet_benches::run_connect(&mut b, "bench", n, &[])
            })
            .expect("sandbox");
            let sys = sys_cpu() - s0;
            settle(n);
            let nl = brnet_netns::isolated(|| {
                brnet_benches::prepare_sandbox(true);
                brnet_benches::run_nlbench("setup", n, true)
            })
            .expect("sandbox")
            .expect("nlbench");
            settle(n);
            println!(
                "rep {rep} N={n:5}: bridge-net {:.3} ms (sys {:.3})  nlbench {:.3} ms",
                ms(took, n),
                ms(sys, n),
                ms(nl, n)
            );
            ours[i].push(ms(took, n));
            ours_sys[i].push(ms(sys, n));
            floor[i].push(ms(nl, n));
        }
    }
    let base = (
        median(&mut ours[0].clone()),
        median(&mut ours_sys[0].clone()),
        median(&mut floor[0].clone()),
    );
    for (i, &n) in sizes.iter().enumerate() {
        let (o, s, f) = (
            median(&mut ours[i]),
            median(&mut ours_sys[i]),
            median(&mut floor[i]),
        );
        println!(
            "median N={n:5}: bridge-net {o:.3} ms ({:.2}x N={}), sys {s:.3} ms ({:.2}x); nlbench {f:.3} ms ({:.2}x); ours/nlbench {:.2}",
            o / base.0,
            sizes[0],
            s / base.1,
            f / base.2,
            o / f
        );
    }
}
