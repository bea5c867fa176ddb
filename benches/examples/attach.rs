//! Attach N endpoints once, for profiling: `attach N [v6off]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let v6off = args.next().is_some_and(|a| a == "v6off");
    let took = brnet_netns::isolated(|| {
        let br = brnet_benches::prepare_sandbox(false);
        brnet_benches::run_brnet(br, n, v6off)
    })
    .expect("sandbox");
    println!(
        "{n} endpoints: {:.3} ms each",
        took.as_secs_f64() * 1e3 / n as f64
    );
}
