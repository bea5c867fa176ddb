//! Project tasks, run with `cargo xtask <task>` (`cargo xtask --help`,
//! `cargo xtask <task> --help`):
//!
//! - `test [-- CARGO-TEST-ARGS]`: the README's test command: installs the
//!   Debian packages the tests use when missing, then `cargo test
//!   --workspace`.
//! - `ci [--skip-tests]`: the quality gate (fmt, clippy, docs, tests, bench
//!   build, cargo-deny when installed, import circles, the README's crate graph).
//! - `cycles`: no circle of imports among the files of a crate.
//! - `demo`: the README's main job, in a throwaway sandbox.
//! - `soak [--cycles N] [--processes P]`: connect/disconnect cycles (P
//!   processes sharing one state directory), checking for leaks.
//! - `bench [...]`: bridge-net beside its peers, one table.
//! - `man [--out DIR]`: brnet's man pages and shell completions.
//! - `graph [--all] [--write | --check]`: the crate graph (mermaid) from
//!   `cargo metadata`, as the README carries it.
//! - `kernels [--quick] [--kernel K] [-- FILTER]`: the nat and bridge-net
//!   kernel tests inside a VM booting a distribution's kernel (Debian 12's
//!   6.1; Ubuntu 22.04's 5.15 with `--ubuntu-mirror`), and a connect under
//!   `ipv6.disable=1`.

mod bench;
mod ci;
mod cycles;
mod demo;
mod graph;
mod kernels;
mod man;
mod soak;
mod test;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// bridge-net's project tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Xtask {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// The README's test command: installs the Debian packages the tests
    /// use when they are missing (apt-get, as root), then runs `cargo test
    /// --workspace`.
    Test(test::TestArgs),
    /// The quality gate: fmt, clippy, docs, tests, bench build,
    /// cargo-deny, import circles, the README's crate graph.
    Ci(CiArgs),
    /// No circle of imports among the files of a crate.
    Cycles,
    /// The bridge-net picture in a throwaway sandbox, checked with real
    /// traffic (as root).
    Demo,
    /// Connect/disconnect cycles in a throwaway sandbox, checking links,
    /// rules, fds and memory for leaks (as root).
    Soak(SoakArgs),
    /// bridge-net beside nlbench, ip -batch, netavark, CNI (and Podman,
    /// Docker): one table (as root).
    Bench(bench::BenchArgs),
    /// brnet's man pages and bash/zsh/fish completions, generated from its
    /// command line (the README's install section installs them).
    Man(man::ManArgs),
    /// The crate graph from `cargo metadata`, as mermaid (the README's
    /// architecture section carries it).
    Graph(graph::GraphArgs),
    /// The nat and bridge-net kernel tests on the kernels our users run:
    /// Debian 12's 6.1 (or Ubuntu 22.04's 5.15) booted under QEMU (KVM or
    /// software emulation), and a boot with `ipv6.disable=1`.
    Kernels(kernels::KernelsArgs),
}

/// `cargo xtask ci`.
#[derive(Debug, Args)]
struct CiArgs {
    /// Leave out the test run (for `.ci/run`, which runs `cargo xtask test`
    /// itself).
    #[arg(long)]
    skip_tests: bool,
}

/// `cargo xtask soak`.
#[derive(Debug, Args)]
struct SoakArgs {
    /// Connect/disconnect cycles in all (at least 100).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..))]
    cycles: u64,
    /// Processes sharing one state directory.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    processes: u64,
}

fn main() -> ExitCode {
    let cli = Xtask::parse();
    let (name, result) = match &cli.task {
        Task::Test(a) => ("test", test::run(a)),
        Task::Ci(a) => ("ci", ci::run(a.skip_tests)),
        Task::Cycles => ("cycles", cycles::run()),
        Task::Demo => ("demo", demo::run()),
        Task::Soak(a) => ("soak", soak::run(a.cycles as usize, a.processes as usize)),
        Task::Bench(a) => ("bench", bench::run(a)),
        Task::Man(a) => ("man", man::run(a)),
        Task::Graph(a) => ("graph", graph::run(a)),
        Task::Kernels(a) => ("kernels", kernels::run(a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {name}: {e}");
            ExitCode::FAILURE
        }
    }
}
