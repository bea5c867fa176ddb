//! Project tasks, run with `cargo xtask <task>`:
//!
//! - `ci [--skip-tests]`: the quality gate (fmt, clippy, docs, tests, bench
//!   build, cargo-deny when installed, import circles).
//! - `cycles`: no circle of imports among the files of a crate.
//! - `demo`: the README's main job, in a throwaway sandbox.
//! - `soak [--cycles N] [--processes P]`: connect/disconnect cycles (P
//!   processes sharing one state directory), checking for leaks.

mod bench;
mod ci;
mod cycles;
mod demo;
mod soak;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match task {
        "bench" => bench::run(rest),
        "ci" => ci::run(rest),
        "cycles" => cycles::run(rest),
        "demo" => demo::run(rest),
        "soak" => soak::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n  ci [--skip-tests]   fmt, clippy, docs, tests, bench build, cargo-deny, cycles\n  cycles              no circle of imports among the files of a crate\n  demo                the bridge-net picture in a throwaway sandbox, with checks\n  soak [--cycles N] [--processes P]\n                      N connect/disconnect cycles (default 10000; P processes on one state), checking for leaks\n  bench [--quick] [--install-peers] [--skip-criterion] [--skip-podman] [--skip-docker]\n                      bridge-net beside nlbench, ip -batch, netavark, CNI (and Podman, Docker): one table"
            );
            return if task == "help" || task == "--help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}
