//! Overlay networks (issue 15): convergence until a reply, the VXLAN data
//! plane beside the underlay, connect cost beside a bridge network; see
//! [`brnet_benches::overlay`]. Not criterion: medians, printed as one
//! Markdown section and written to `target/brnet-bench/overlay.md`. Needs
//! root. `BRNET_BENCH_OVERLAY_QUICK=1`: 3 hosts, 10 endpoints, shorter
//! transfers.

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs us too.
    if std::env::args().any(|a| a == "--list") || !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("overlay bench: needs root (namespaces, links, a sandboxed etcd)");
        return;
    }
    let quick = std::env::var("BRNET_BENCH_OVERLAY_QUICK").is_ok_and(|v| v == "1");
    println!("{}", brnet_benches::overlay::section(quick));
}
