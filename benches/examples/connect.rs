//! Connect N containers once through bridge-net, for profiling:
//! `connect N [port]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let with_port = args.next().is_some_and(|a| a == "port");
    let (up, down) = brnet_netns::isolated(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut b = brnet_benches::bench_network(dir.path());
        let ports: &[&str] = if with_port { &["{k}:80"] } else { &[] };
        let up = brnet_benches::run_connect(&mut b, "bench", n, ports);
        let down = brnet_benches::run_disconnect(&mut b, "bench", n, true);
        (up, down)
    })
    .expect("sandbox");
    println!(
        "{n} containers{}: connect {:.3} ms each, disconnect {:.3} ms each",
        if with_port { " with one port" } else { "" },
        up.as_secs_f64() * 1e3 / n as f64,
        down.as_secs_f64() * 1e3 / n as f64
    );
}
