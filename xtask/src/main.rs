//! Project tasks, run with `cargo xtask <task>`:
//!
//! - `ci [--skip-tests]`: the quality gate (fmt, clippy, docs, tests, bench
//!   build, cargo-deny when installed).
//! - `demo`: the README's main job, in a throwaway sandbox.

mod ci;
mod demo;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match task {
        "ci" => ci::run(rest),
        "demo" => demo::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n  ci [--skip-tests]   fmt, clippy, docs, tests, bench build, cargo-deny\n  demo                the bridge-net picture in a throwaway sandbox, with checks"
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
