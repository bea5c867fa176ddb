//! Connect N containers through bridge-net in one sandbox and print the
//! time of each block of containers (default 100), to see whether the
//! thousandth connect costs what the hundredth does: `connect_blocks N
//! [BLOCK]`. Per block: wall ms per connect, and the process's user and
//! system CPU ms per connect (getrusage), which are steadier than wall
//! time on a shared machine.
//!
//! To profile the last block alone: `mkfifo ctl; perf record -g -D -1
//! --control fifo:ctl -- connect_blocks 1000` with `BRNET_PERF_CTL=ctl`
//! (this program writes `enable` before the last block, `disable` after).
use std::time::{Duration, Instant};

use brnet_netns::NetnsDir;

fn cpu() -> (Duration, Duration) {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let d = |t: nix::sys::time::TimeVal| {
        Duration::from_micros(t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64)
    };
    (d(u.user_time()), d(u.system_time()))
}

/// Tell `perf record --control fifo:PATH` to start or stop sampling.
fn perf_ctl(cmd: &str) {
    if let Some(path) = std::env::var_os("BRNET_PERF_CTL") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("perf control fifo");
        writeln!(f, "{cmd}").expect("perf control");
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let block: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    brnet_netns::isolated(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut b = brnet_benches::bench_network(dir.path());
        let ns = NetnsDir::default();
        let opts = bridge_net::ConnectOptions::default();
        let mut k = 0;
        while k < n {
            let last = k + block >= n;
            if last {
                perf_ctl("enable");
            }
            let (u0, s0) = cpu();
            let t0 = Instant::now();
            let m = block.min(n - k);
            for j in k..k + m {
                let name = format!("c{j}");
                ns.create(&name).expect("create namespace");
                b.connect("bench", &name.parse().expect("name"), &opts)
                    .expect("connect");
            }
            let wall = t0.elapsed();
            if last {
                perf_ctl("disable");
            }
            let (u1, s1) = cpu();
            let per = |d: Duration| d.as_secs_f64() * 1e3 / m as f64;
            println!(
                "{:5}-{:5}: wall {:.3} ms  user {:.3}  sys {:.3} per connect",
                k,
                k + m - 1,
                per(wall),
                per(u1 - u0),
                per(s1 - s0)
            );
            k += m;
        }
    })
    .expect("sandbox");
}
