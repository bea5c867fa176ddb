//! `cargo xtask bench [--quick] [--install-peers] [--skip-criterion]
//! [--skip-podman] [--skip-docker] [--skip-overlay]`: our
//! figures beside the kernel floor and the peers, measured in one run on
//! this machine, each repetition in a throwaway sandbox.
//!
//! Systems (columns): bridge-net in-process; the `brnet` binary, one
//! process per call; `ip -batch`; nlbench (`../shared/baseline/nlbench.c`,
//! the kernel floor); netavark; the CNI plugins bridge + host-local (+
//! portmap). Workloads (rows): connect and disconnect of N containers with
//! and without one published port, one container publishing 10,000 ports
//! and the next one's single port beside them, and filling a /16 with
//! addresses. The workloads themselves are [`brnet_benches::compare`].
//! Then, when Podman is installed, what the network costs a real container
//! (`podman run -d` + `podman rm -f -t 0`, against `--network none`) with
//! each backend: brnet-netavark's timing test, run on release builds.
//!
//! Output: one Markdown table on stdout, and under `target/brnet-bench/`:
//! `comparison.md`, `comparison.csv`, `scaling.svg` and `README-table.md`
//! (table, date, machine, load, versions, how to reproduce). Without
//! `--quick` the criterion benches run afterwards (`cargo bench -p
//! brnet-benches`). Needs root.

mod machine;
mod plot;
mod table;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use brnet_benches::compare::{self, System, Teardown};
use brnet_benches::{cni, netavark, process};

use table::{Absent, Cell, Col, Row, Stats, Unit, thousands};

type Res<T> = Result<T, String>;

/// Sizes, repetitions and limits of one run.
#[derive(Debug, Clone)]
struct Plan {
    quick: bool,
    /// N for connect/disconnect (the plot gets them all).
    sizes: Vec<usize>,
    /// The N shown in the table.
    table_sizes: Vec<usize>,
    /// The largest N run through netavark and CNI.
    peer_cap: usize,
    /// Repetitions (three times as many for N ≤ 10 in a full run, where
    /// one repetition is one or ten calls).
    reps: usize,
    /// Ports of the many-ports rows.
    port_counts: Vec<u16>,
    /// Limit of one peer call publishing them.
    peer_limit: Duration,
    /// Addresses host-local hands out per repetition.
    host_local_count: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                sizes: vec![1, 10, 100],
                table_sizes: vec![1, 10, 100],
                peer_cap: 10,
                reps: 3,
                port_counts: vec![100, 10_000],
                peer_limit: Duration::from_secs(10),
                host_local_count: 100,
            }
        } else {
            Plan {
                quick,
                sizes: vec![1, 10, 100, 1000],
                table_sizes: vec![1, 100, 1000],
                peer_cap: 100,
                reps: 5,
                port_counts: vec![100, 10_000],
                peer_limit: Duration::from_secs(60),
                host_local_count: 1000,
            }
        }
    }

    fn reps_for(&self, n: usize) -> usize {
        if n <= 10 && !self.quick {
            self.reps * 3
        } else {
            self.reps
        }
    }
}

/// Where a long run is: each repetition done, the time so far and an
/// estimate of what is left, on stderr. Work is weighed in container
/// operations (a repetition of N containers on k systems weighs N·k), and
/// the time left is the time so far per unit of weight times the weight
/// left: rough, as phases differ, but it settles as the run goes.
struct Progress {
    started: Instant,
    total: f64,
    done: f64,
}

impl Progress {
    fn new(plan: &Plan, systems: &Systems) -> Progress {
        let runnable = |n: usize, with_port: bool| {
            Col::ALL
                .iter()
                .filter(|c| systems.get(**c).is_ok())
                .filter(|c| !(with_port && matches!(c, Col::IpBatch | Col::Nlbench)))
                .filter(|c| !(capped(**c) && n > plan.peer_cap))
                .count() as f64
        };
        let mut total = 0.0;
        for with_port in [false, true] {
            for &n in &plan.sizes {
                // Two passes per system, a third (batch) for bridge-net and brnet.
                let systems = runnable(n, with_port) + 1.0;
                total += plan.reps_for(n) as f64 * Self::connect_weight(n, systems);
            }
        }
        for &p in &plan.port_counts {
            total += plan.reps as f64 * Self::ports_weight(p, runnable(0, true));
        }
        total += Self::IPAM_WEIGHT;
        Progress {
            started: Instant::now(),
            total,
            done: 0.0,
        }
    }

    /// Both teardown orders: two passes of n containers per system.
    fn connect_weight(n: usize, systems: f64) -> f64 {
        2.0 * n as f64 * systems
    }

    fn ports_weight(ports: u16, systems: f64) -> f64 {
        f64::from(ports) / 20.0 * systems
    }

    const IPAM_WEIGHT: f64 = 500.0;

    /// `weight` more is done: print where the run is.
    fn step(&mut self, weight: f64, what: &str) {
        eprintln!("{}", self.advance(weight, what, self.started.elapsed()));
    }

    /// The line for `weight` more done after `elapsed`.
    fn advance(&mut self, weight: f64, what: &str, elapsed: Duration) -> String {
        self.done = (self.done + weight).min(self.total);
        let left = if self.done > 0.0 {
            elapsed.as_secs_f64() * (self.total - self.done) / self.done
        } else {
            0.0
        };
        format!(
            "    {what}: {:.0}% done, elapsed {}, about {} left",
            100.0 * self.done / self.total.max(1.0),
            clock(elapsed.as_secs()),
            clock(left.round() as u64),
        )
    }
}

/// `1h02m03s`, `2m03s`, `3s`.
fn clock(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Each column's system, or why it has none.
struct Systems {
    cols: Vec<(Col, Result<System, Absent>)>,
    /// Versions and build notes, for the footnotes.
    notes: Vec<String>,
}

impl Systems {
    fn get(&self, col: Col) -> Result<&System, &Absent> {
        self.cols
            .iter()
            .find(|(c, _)| *c == col)
            .map(|(_, s)| s.as_ref())
            .unwrap_or(Err(&Absent::NotApplicable))
    }
}

/// `cargo xtask bench`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Fewer sizes and repetitions (a few minutes instead of about an
    /// hour).
    #[arg(long)]
    pub quick: bool,
    /// `apt-get install` netavark, the CNI plugins and iperf3 when missing.
    #[arg(long)]
    pub install_peers: bool,
    /// Leave out the criterion benches at the end.
    #[arg(long)]
    pub skip_criterion: bool,
    /// Leave out the Podman section.
    #[arg(long)]
    pub skip_podman: bool,
    /// Leave out the Docker section.
    #[arg(long)]
    pub skip_docker: bool,
    /// Leave out the overlay section (convergence, VXLAN data plane,
    /// connect cost).
    #[arg(long)]
    pub skip_overlay: bool,
    /// Repetitions of the table's workloads (default 5, `--quick` 3; three
    /// times as many for N ≤ 10 in a full run): fewer for a shorter run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub reps: Option<u16>,
    /// Seconds a peer call publishing many ports may run before it is
    /// killed (default 60, `--quick` 10).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u16).range(1..))]
    pub peer_limit: Option<u16>,
    /// The largest N of the connect/disconnect rows (default 1000,
    /// `--quick` 100): 100 leaves out the N=1000 rows.
    #[arg(long, value_name = "N")]
    pub max_n: Option<usize>,
    /// The target triple the per-call binaries (`brnet`, `brnet-netavark`,
    /// `brnet-cni`) are built for. Default: `x86_64-unknown-linux-musl`
    /// (static, no dynamic loader, none of glibc's start-up CPUID probes)
    /// when its standard library is installed (`rustup target add
    /// x86_64-unknown-linux-musl`), else the host's; `host` for the
    /// host's.
    #[arg(long, value_name = "TRIPLE")]
    pub cli_target: Option<String>,
}

impl BenchArgs {
    /// The flags as given, for the release child.
    fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            (self.quick, "--quick"),
            (self.install_peers, "--install-peers"),
            (self.skip_criterion, "--skip-criterion"),
            (self.skip_podman, "--skip-podman"),
            (self.skip_docker, "--skip-docker"),
            (self.skip_overlay, "--skip-overlay"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, flag)| flag.to_owned())
        .collect();
        if let Some(r) = self.reps {
            args.extend(["--reps".to_owned(), r.to_string()]);
        }
        if let Some(l) = self.peer_limit {
            args.extend(["--peer-limit".to_owned(), l.to_string()]);
        }
        if let Some(n) = self.max_n {
            args.extend(["--max-n".to_owned(), n.to_string()]);
        }
        if let Some(t) = &self.cli_target {
            args.extend(["--cli-target".to_owned(), t.clone()]);
        }
        args
    }
}

/// Run the task.
pub fn run(a: &BenchArgs) -> Res<()> {
    let (quick, install) = (a.quick, a.install_peers);
    let (criterion, podman, docker) = (!a.skip_criterion, !a.skip_podman, !a.skip_docker);
    // The in-process column must be optimised code: run ourselves again
    // from a release build when `cargo xtask` built a debug one.
    if cfg!(debug_assertions) && std::env::var_os(RELEASE_ENV).is_none() {
        eprintln!("==> bench: building xtask --release (the in-process column is measured in it)");
        let status = cargo()
            .args(["run", "--release", "--quiet", "-p", "xtask", "--", "bench"])
            .args(a.to_args())
            .env(RELEASE_ENV, "1")
            .status()
            .map_err(|e| format!("cargo run --release: {e}"))?;
        return if status.success() {
            Ok(())
        } else {
            Err(format!("release run failed ({status})"))
        };
    }
    if !is_root() {
        return Err("needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) for its sandboxes".into());
    }
    if install {
        install_peers()?;
    }
    let mut plan = Plan::new(quick);
    if let Some(r) = a.reps {
        plan.reps = r.into();
    }
    if let Some(l) = a.peer_limit {
        plan.peer_limit = Duration::from_secs(l.into());
    }
    if let Some(max) = a.max_n {
        plan.sizes.retain(|n| *n <= max);
        plan.table_sizes.retain(|n| *n <= max);
    }
    let systems = find_systems(a.cli_target.as_deref());
    let mut load = machine::Load::default();
    load.sample();
    let started = Instant::now();
    let date = machine::now();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut progress = Progress::new(&plan, &systems);
    let mut run = Run {
        plan: &plan,
        systems: &systems,
        rows: &mut rows,
        load: &mut load,
        failures: &mut failures,
        progress: &mut progress,
    };
    process_start_row(&mut run);
    connect_rows(&mut run);
    many_ports_rows(&mut run);
    ipam_row(&mut run);
    progress.step(0.0, "done");
    load.sample();
    let took = started.elapsed();

    let out = brnet_benches::out_dir();
    let out = out.canonicalize().unwrap_or(out);
    let md = table::markdown(&rows);
    let notes = footnotes(&plan, &systems, &failures);
    std::fs::write(out.join("comparison.md"), format!("{md}\n{notes}"))
        .map_err(|e| format!("write comparison.md: {e}"))?;
    std::fs::write(out.join("comparison.csv"), table::csv(&rows))
        .map_err(|e| format!("write comparison.csv: {e}"))?;
    let svg = out.join("scaling.svg");
    let plotted = plot::draw(&svg, &panels(&plan, &rows));
    if let Err(e) = &plotted {
        eprintln!("==> bench: {e}");
    }
    let mut readme = readme_table(&plan, &date, &load, took, &md, &notes);
    if podman {
        readme.push_str(&podman_section());
    }
    if docker {
        let rounds = if plan.quick {
            brnet_benches::docker::QUICK_ROUNDS
        } else {
            brnet_benches::docker::ROUNDS
        };
        readme.push_str(&brnet_benches::docker::section(rounds));
    }
    if !a.skip_overlay {
        readme.push_str(&brnet_benches::overlay::section(plan.quick));
    }
    std::fs::write(out.join("README-table.md"), &readme)
        .map_err(|e| format!("write README-table.md: {e}"))?;

    let criterion_result = if plan.quick || !criterion {
        Ok(())
    } else {
        run_criterion()
    };

    println!("{readme}");
    eprintln!(
        "==> bench: written {}/{{comparison.md,comparison.csv,scaling.svg,README-table.md}}",
        out.display()
    );
    plotted?;
    criterion_result
}

/// Set in the release child, so it does not start another one.
const RELEASE_ENV: &str = "BRNET_XTASK_BENCH_RELEASE";

/// Whether the effective uid is 0 (from /proc: xtask has no libc binding).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// `apt-get install` netavark, the CNI plugins and iperf3 when missing.
fn install_peers() -> Res<()> {
    let mut missing = Vec::new();
    if netavark::find().is_none() {
        missing.push("netavark");
    }
    if cni::find().is_none() {
        missing.push("containernetworking-plugins");
    }
    // The overlay section's throughput figure.
    if !std::path::Path::new("/usr/bin/iperf3").is_file() {
        missing.push("iperf3");
    }
    if missing.is_empty() {
        eprintln!("==> bench: peers installed already");
        return Ok(());
    }
    eprintln!("==> bench: apt-get install {}", missing.join(" "));
    let apt = |args: &[&str]| -> Res<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("apt-get: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("apt-get {} failed ({status})", args.join(" ")))
        }
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install)
}

/// The static target the per-call binaries are built for by default.
const STATIC_CLI_TARGET: &str = "x86_64-unknown-linux-musl";

/// Whether rustc has the standard library of `triple` (`rustup target
/// add`).
fn target_installed(triple: &str) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .current_dir(root())
        .args(["--print", "target-libdir", "--target", triple])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| std::fs::read_dir(String::from_utf8_lossy(&o.stdout).trim()).ok())
        .is_some_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        })
}

/// Build our per-call binaries (`brnet`, `brnet-netavark`, `brnet-cni`)
/// with cargo, for `triple` (see [`BenchArgs::cli_target`]); the directory
/// they are in and the target they were built for.
///
/// Why static musl by default: every glibc process starts by probing the
/// CPU's caches with about 90 CPUID instructions (`init_cpu_features`,
/// `handle_intel`), and CPUID traps to the hypervisor in a virtual
/// machine (7.5 µs each on the machine of the README's table: 0.7 ms
/// before `main`, more than the rest of an empty call); then the dynamic
/// loader maps, relocates and binds libc and libgcc_s (whose constructor
/// probes the CPU again). A static musl binary does neither.
fn build_cli(triple: Option<&str>) -> Res<(PathBuf, String)> {
    let triple = match triple {
        Some("host") => None,
        Some(t) => Some(t.to_owned()),
        None => target_installed(STATIC_CLI_TARGET).then(|| STATIC_CLI_TARGET.to_owned()),
    };
    let meta = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let meta: serde_json::Value =
        serde_json::from_slice(&meta.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let has_cli = meta["packages"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p["name"] == "brnet-cli"));
    if !has_cli {
        return Err("no package brnet-cli in the workspace".into());
    }
    let target = meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or("cargo metadata: no target_directory")?;
    let mut args = vec!["build", "--release", "--quiet"];
    if let Some(t) = &triple {
        args.extend(["--target", t]);
    }
    args.extend(["-p", "brnet-cli", "-p", "brnet-netavark", "-p", "brnet-cni"]);
    let shown = format!("cargo {}", args.join(" ").replace(" --quiet", ""));
    eprintln!("==> bench: {shown}");
    let status = cargo()
        .args(&args)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("{shown} failed ({status})"));
    }
    let dir = match &triple {
        Some(t) => target.join(t).join("release"),
        None => target.join("release"),
    };
    match ["brnet", "brnet-netavark", "brnet-cni"]
        .iter()
        .map(|b| dir.join(b))
        .find(|b| !process::is_executable(b))
    {
        Some(missing) => Err(format!("{} missing after the build", missing.display())),
        None => Ok((dir, triple.unwrap_or_else(|| "the host".into()))),
    }
}

fn find_systems(cli_target: Option<&str>) -> Systems {
    let mut notes = Vec::new();
    let mut cols = vec![(Col::BridgeNet, Ok(System::BridgeNet))];
    match build_cli(cli_target) {
        Ok((dir, triple)) => {
            let why = if triple.contains("musl") {
                ": static, no dynamic loader, none of glibc's start-up CPUID probes"
            } else {
                ""
            };
            notes.push(format!(
                "brnet, brnet-netavark, brnet-cni built --release for {triple} (`--cli-target`{why})."
            ));
            cols.push((Col::Brnet, Ok(System::Brnet(dir.join("brnet")))));
            cols.push((
                Col::BrnetNetavark,
                Ok(System::BrnetNetavark(dir.join("brnet-netavark"))),
            ));
            cols.push((Col::BrnetCni, Ok(System::BrnetCni(dir))));
        }
        Err(e) => {
            notes.push(format!("brnet, brnet-netavark, brnet-cni not built: {e}."));
            for c in [Col::Brnet, Col::BrnetNetavark, Col::BrnetCni] {
                cols.push((c, Err(Absent::NotBuilt)));
            }
        }
    }
    cols.push((
        Col::IpBatch,
        match process::find_program(&[], "ip") {
            Some(_) => {
                if let Some(v) = machine::first_line("ip", &["-V"]) {
                    notes.push(format!("ip: {v}."));
                }
                Ok(System::IpBatch)
            }
            None => Err(Absent::NotInstalled),
        },
    ));
    cols.push((
        Col::Nlbench,
        match brnet_benches::nlbench() {
            Some(_) => {
                if let Some(v) = machine::first_line("cc", &["--version"]) {
                    notes.push(format!("nlbench built with `cc -O2` ({v})."));
                }
                Ok(System::Nlbench)
            }
            None => {
                notes.push("nlbench not built: no `cc` or no ../shared/baseline/nlbench.c.".into());
                Err(Absent::NotBuilt)
            }
        },
    ));
    cols.push((
        Col::Netavark,
        match netavark::find() {
            Some(bin) => {
                if let Some(v) = netavark::version(&bin) {
                    notes.push(format!("{v} ({}).", bin.display()));
                }
                Ok(System::Netavark(bin))
            }
            None => Err(Absent::NotInstalled),
        },
    ));
    cols.push((
        Col::Cni,
        match cni::find() {
            Some(dir) => {
                // Debian's build says "version unknown": ask dpkg then.
                let about = cni::version(&dir).filter(|v| !v.contains("unknown"));
                let v = about.or_else(|| {
                    machine::first_line(
                        "dpkg-query",
                        &[
                            "-W",
                            "-f",
                            "containernetworking-plugins ${Version}\\n",
                            "containernetworking-plugins",
                        ],
                    )
                });
                notes.push(format!(
                    "CNI plugins: {} ({}).",
                    v.unwrap_or_else(|| "version unknown".into()),
                    dir.display()
                ));
                Ok(System::Cni(dir))
            }
            None => Err(Absent::NotInstalled),
        },
    ));
    Systems { cols, notes }
}

/// Run `f` in a fresh sandbox; a panic or sandbox failure becomes an error.
fn sandboxed<T: Send>(
    f: impl FnOnce() -> Result<T, process::Error> + Send,
) -> Result<T, process::Error> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| brnet_netns::isolated(f))) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(process::Error::local("sandbox", e)),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".into());
            Err(process::Error::local(
                "in the sandbox",
                std::io::Error::other(msg),
            ))
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A failure, kept for the footnotes.
struct Failure {
    col: Col,
    row: String,
    message: String,
}

fn fail(failures: &mut Vec<Failure>, col: Col, row: &str, e: &process::Error) -> Cell {
    eprintln!("    {} failed: {e}", col.name());
    failures.push(Failure {
        col,
        row: row.to_owned(),
        message: e.to_string(),
    });
    Cell::Absent(Absent::Failed(e.to_string()))
}

fn port_label(with_port: bool) -> &'static str {
    if with_port { "one-port" } else { "no-port" }
}

/// Repetitions' figures by row and column.
#[derive(Default)]
struct Samples(BTreeMap<(String, Col), Vec<f64>>);

impl Samples {
    fn push(&mut self, row: &str, col: Col, v: f64) {
        self.0.entry((row.to_owned(), col)).or_default().push(v);
    }

    fn forget(&mut self, col: Col) {
        self.0.retain(|(_, c), _| *c != col);
    }

    /// Put the figures into their rows.
    fn fill(self, rows: &mut [Row]) {
        for ((id, col), v) in self.0 {
            if let (Some(row), Some(st)) = (rows.iter_mut().find(|r| r.id == id), Stats::new(v)) {
                row.set(col, Cell::Measured(st));
            }
        }
    }
}

/// The kinds of connect/disconnect row, in table order.
const KINDS: [&str; 7] = [
    "connect",
    "disconnect",
    "disconnect-gone",
    "disconnect-cpu",
    "disconnect-batch",
    "disconnect-nsfirst",
    "disconnect-nsfirst-gone",
];

fn teardown_kind(t: Teardown) -> &'static str {
    match t {
        Teardown::NamespaceAlive => "disconnect",
        Teardown::NamespaceFirst => "disconnect-nsfirst",
        Teardown::Batch => "disconnect-batch",
    }
}

/// The row of the time until the links are gone, for a teardown that
/// has one (a batch deletes them before it returns).
fn gone_kind(t: Teardown) -> Option<&'static str> {
    match t {
        Teardown::NamespaceAlive => Some("disconnect-gone"),
        Teardown::NamespaceFirst => Some("disconnect-nsfirst-gone"),
        Teardown::Batch => None,
    }
}

/// The columns with one process or more per container, which stop at
/// the plan's `peer_cap`.
fn capped(col: Col) -> bool {
    matches!(
        col,
        Col::Netavark | Col::Cni | Col::BrnetNetavark | Col::BrnetCni
    )
}

/// The N at which the rows added for issue 16 are shown (the CSV has
/// every N).
const DETAIL_N: usize = 100;

/// What the row builders share.
struct Run<'a> {
    plan: &'a Plan,
    systems: &'a Systems,
    rows: &'a mut Vec<Row>,
    load: &'a mut machine::Load,
    failures: &'a mut Vec<Failure>,
    progress: &'a mut Progress,
}

fn connect_rows(r: &mut Run<'_>) {
    let (plan, systems) = (r.plan, r.systems);
    let (load, failures) = (&mut *r.load, &mut *r.failures);
    let mut all = Vec::new();
    for with_port in [false, true] {
        for &n in &plan.sizes {
            let label = port_label(with_port);
            let what = if with_port { " with one port" } else { "" };
            let id = |kind: &str| format!("{kind}/{label}/{n}");
            let works = [
                format!("connect{what}, N={n}"),
                format!("disconnect{what}, N={n}"),
                format!("disconnect{what}, until the links are gone⁵, N={n}"),
                format!("disconnect{what}, CPU time, background included⁷, N={n}"),
                format!("disconnect{what}, all N in one call⁶, N={n}"),
                format!("disconnect{what}, namespace removed first, N={n}"),
                format!(
                    "disconnect{what}, namespace removed first, until the links are gone⁵, N={n}"
                ),
            ];
            let mut group: Vec<Row> = KINDS
                .iter()
                .zip(works)
                .map(|(kind, work)| {
                    let mut row = Row::new(id(kind), work, Unit::MsPerContainer);
                    row.shown = plan.table_sizes.contains(&n);
                    if matches!(
                        *kind,
                        "disconnect-gone"
                            | "disconnect-cpu"
                            | "disconnect-batch"
                            | "disconnect-nsfirst-gone"
                    ) {
                        row.shown &= n == DETAIL_N;
                    }
                    if *kind != "disconnect-batch" {
                        row.floor_row = Some(format!("{kind}/no-port/{n}"));
                    }
                    row
                })
                .collect();
            let row_of = |kind: &str| KINDS.iter().position(|k| *k == kind).unwrap_or(0);
            let mut runnable = Vec::new();
            for col in Col::ALL {
                let absent = match systems.get(col) {
                    _ if with_port && matches!(col, Col::IpBatch | Col::Nlbench) => {
                        Some(Absent::NotApplicable)
                    }
                    Err(a) => Some(a.clone()),
                    Ok(_) if capped(col) && n > plan.peer_cap => Some(Absent::Capped),
                    Ok(s) => {
                        if !s.supports(Teardown::NamespaceFirst) {
                            for kind in ["disconnect-nsfirst", "disconnect-nsfirst-gone"] {
                                group[row_of(kind)].set(col, Cell::Absent(Absent::Cannot));
                            }
                        }
                        if !s.supports(Teardown::Batch) {
                            group[row_of("disconnect-batch")]
                                .set(col, Cell::Absent(Absent::NotApplicable));
                        }
                        runnable.push((col, s.clone()));
                        None
                    }
                };
                if let Some(a) = absent {
                    for row in group.iter_mut() {
                        row.set(col, Cell::Absent(a.clone()));
                    }
                }
            }
            let reps = plan.reps_for(n);
            eprintln!("==> bench: connect/disconnect {label}, N={n}, {reps} repetitions");
            let mut samples = Samples::default();
            for rep in 0..reps {
                // Interleaved: every system once per repetition, so a
                // change in the machine's load touches them all alike.
                let mut i = 0;
                'systems: while i < runnable.len() {
                    let (col, sys) = &runnable[i];
                    let mut seen = Vec::new();
                    for teardown in [
                        Teardown::NamespaceAlive,
                        Teardown::NamespaceFirst,
                        Teardown::Batch,
                    ] {
                        if !sys.supports(teardown) {
                            continue;
                        }
                        load.sample();
                        let pass =
                            sandboxed(|| compare::connect_disconnect(sys, n, with_port, teardown));
                        match pass {
                            Ok(p) => {
                                let c = ms(p.connect) / n as f64;
                                let d = ms(p.disconnect) / n as f64;
                                samples.push(&id("connect"), *col, c);
                                samples.push(&id(teardown_kind(teardown)), *col, d);
                                if let Some(kind) = gone_kind(teardown) {
                                    samples.push(&id(kind), *col, ms(p.until_gone) / n as f64);
                                }
                                if teardown == Teardown::NamespaceAlive {
                                    let cpu = ms(p.disconnect_cpu) / n as f64;
                                    samples.push(&id("disconnect-cpu"), *col, cpu);
                                }
                                seen.push(format!(
                                    "connect {} {} {}",
                                    table::num(c),
                                    teardown_kind(teardown),
                                    table::num(d)
                                ));
                            }
                            Err(e) => {
                                let cell = fail(failures, *col, &id("connect"), &e);
                                for row in group.iter_mut() {
                                    row.set(*col, cell.clone());
                                }
                                samples.forget(*col);
                                runnable.remove(i);
                                continue 'systems;
                            }
                        }
                    }
                    if rep == 0 {
                        eprintln!("    {:<10} {} ms/container", col.name(), seen.join(", "));
                    }
                    i += 1;
                }
                r.progress.step(
                    Progress::connect_weight(n, runnable.len() as f64 + 1.0),
                    &format!("N={n} {label}, repetition {}/{reps}", rep + 1),
                );
            }
            samples.fill(&mut group);
            all.extend(group);
        }
    }
    // Table order: by kind, then port, then N.
    all.sort_by_key(|r| {
        KINDS
            .iter()
            .position(|k| r.id.split('/').next() == Some(*k))
    });
    r.rows.extend(all);
}

fn many_ports_rows(r: &mut Run<'_>) {
    let (plan, systems) = (r.plan, r.systems);
    let (load, failures) = (&mut *r.load, &mut *r.failures);
    for &p in &plan.port_counts {
        let mut group = [
            Row::new(
                format!("ports/{p}"),
                format!("publish {} ports (one container)", thousands(p.into())),
                Unit::Ms,
            ),
            Row::new(
                format!("ports/{p}/one-more"),
                format!(
                    "connect with one port beside {} published",
                    thousands(p.into())
                ),
                Unit::Ms,
            ),
        ];
        let mut runnable = Vec::new();
        for col in Col::ALL {
            match systems.get(col) {
                _ if matches!(col, Col::IpBatch | Col::Nlbench) => {}
                Err(a) => group
                    .iter_mut()
                    .for_each(|r| r.set(col, Cell::Absent(a.clone()))),
                Ok(s) => runnable.push((col, s.clone())),
            }
        }
        eprintln!("==> bench: publish {p} ports, {} repetitions", plan.reps);
        let mut samples = Samples::default();
        for rep in 0..plan.reps {
            let mut i = 0;
            while i < runnable.len() {
                let (col, sys) = &runnable[i];
                load.sample();
                match sandboxed(|| compare::many_ports_pass(sys, p, plan.peer_limit)) {
                    Ok(m) => {
                        if rep == 0 {
                            eprintln!(
                                "    {:<10} {p} ports {} ms, one more {} ms",
                                col.name(),
                                table::num(ms(m.all)),
                                table::num(ms(m.one_more))
                            );
                        }
                        samples.push(&group[0].id, *col, ms(m.all));
                        samples.push(&group[1].id, *col, ms(m.one_more));
                        i += 1;
                    }
                    Err(e) => {
                        let cell = match &e {
                            process::Error::TimedOut { after, .. } => {
                                eprintln!("    {:<10} killed after {after:?}", col.name());
                                Cell::Absent(Absent::TimedOut(after.as_secs()))
                            }
                            _ => fail(failures, *col, &group[0].id, &e),
                        };
                        group.iter_mut().for_each(|r| r.set(*col, cell.clone()));
                        samples.forget(*col);
                        runnable.remove(i);
                    }
                }
            }
            r.progress.step(
                Progress::ports_weight(p, runnable.len() as f64),
                &format!("{p} ports, repetition {}/{}", rep + 1, plan.reps),
            );
        }
        samples.fill(&mut group);
        r.rows.extend(group);
    }
}

/// Calls per repetition of the process-start row.
const START_CALLS: usize = 100;

/// Process start: an empty call (`--version`, a CNI plugin's `VERSION`)
/// of each per-call binary, [`START_CALLS`] one after the other, per
/// repetition: what every call of that binary pays before any work.
fn process_start_row(r: &mut Run<'_>) {
    let (plan, systems) = (r.plan, r.systems);
    let (load, failures) = (&mut *r.load, &mut *r.failures);
    let mut row = Row::new(
        "process-start",
        "process start (an empty `--version`; CNI: `VERSION`)",
        Unit::MsPerCall,
    );
    eprintln!(
        "==> bench: process start, {START_CALLS} empty calls per binary, {} repetitions",
        plan.reps
    );
    let cols = [
        Col::Brnet,
        Col::BrnetNetavark,
        Col::BrnetCni,
        Col::Netavark,
        Col::Cni,
        // The floor: `/bin/true`, called the same way.
        Col::Nlbench,
    ];
    let mut samples = Samples::default();
    for col in Col::ALL {
        if let (Err(a), true) = (systems.get(col), cols.contains(&col)) {
            row.set(col, Cell::Absent(a.clone()));
        }
    }
    for rep in 0..plan.reps {
        for col in cols {
            let Ok(sys) = systems.get(col) else {
                continue;
            };
            load.sample();
            match compare::process_start(sys, START_CALLS) {
                Ok(t) => {
                    let per = ms(t) / START_CALLS as f64;
                    if rep == 0 {
                        eprintln!("    {:<14} {} ms/call", col.name(), table::num(per));
                    }
                    samples.push(&row.id, col, per);
                }
                Err(e) => {
                    let cell = fail(failures, col, &row.id, &e);
                    row.set(col, cell);
                }
            }
        }
    }
    let mut rows = vec![row];
    samples.fill(&mut rows);
    r.rows.extend(rows);
}

fn ipam_row(r: &mut Run<'_>) {
    let (plan, systems) = (r.plan, r.systems);
    let failures = &mut *r.failures;
    let load = &mut *r.load;
    let mut row = Row::new("ipam/fill-16", "IPAM: fill a /16", Unit::UsPerAddress);
    eprintln!("==> bench: IPAM, fill a /16");
    let mut ours = Vec::new();
    let mut count = 0;
    for _ in 0..plan.reps * 3 {
        load.sample();
        match compare::ipam_fill_bridge_net() {
            Ok((t, c)) => {
                count = c;
                ours.push(t.as_secs_f64() * 1e6 / c as f64);
            }
            Err(e) => {
                row.set(Col::BridgeNet, fail(failures, Col::BridgeNet, &row.id, &e));
                break;
            }
        }
    }
    if let Some(s) = Stats::new(ours) {
        eprintln!(
            "    bridge-net {count} addresses, {} µs each",
            table::num(s.median())
        );
        row.set(Col::BridgeNet, Cell::Measured(s));
    }
    match systems.get(Col::Cni) {
        Ok(System::Cni(dir)) => {
            let k = plan.host_local_count;
            let mut theirs = Vec::new();
            for _ in 0..plan.reps {
                load.sample();
                match sandboxed(|| compare::ipam_fill_host_local(dir, k)) {
                    Ok(t) => theirs.push(t.as_secs_f64() * 1e6 / k as f64),
                    Err(e) => {
                        row.set(Col::Cni, fail(failures, Col::Cni, &row.id, &e));
                        theirs.clear();
                        break;
                    }
                }
            }
            if let Some(s) = Stats::new(theirs) {
                eprintln!(
                    "    host-local {k} addresses, {} µs each",
                    table::num(s.median())
                );
                row.set(Col::Cni, Cell::Measured(s));
            }
        }
        Ok(_) => {}
        Err(a) => row.set(Col::Cni, Cell::Absent(a.clone())),
    }
    r.rows.push(row);
    r.progress.step(Progress::IPAM_WEIGHT, "IPAM");
}

fn panels(plan: &Plan, rows: &[Row]) -> Vec<plot::Panel> {
    [false, true]
        .into_iter()
        .map(|with_port| {
            let label = port_label(with_port);
            let series = Col::ALL
                .into_iter()
                .map(|col| {
                    let cells: Vec<(usize, &Cell)> = plan
                        .sizes
                        .iter()
                        .filter_map(|n| {
                            rows.iter()
                                .find(|r| r.id == format!("connect/{label}/{n}"))
                                .map(|r| (*n, r.cell(col)))
                        })
                        .collect();
                    plot::series(col, &cells)
                })
                .collect();
            plot::Panel {
                title: if with_port {
                    "connect with one published port".into()
                } else {
                    "connect, no port".into()
                },
                series,
            }
        })
        .collect()
}

fn footnotes(plan: &Plan, systems: &Systems, failures: &[Failure]) -> String {
    let reps_small = plan.reps_for(1);
    let mut s = String::new();
    let mut line = |t: &str| {
        s.push_str(t);
        s.push('\n');
    };
    let reps = if reps_small == plan.reps {
        format!("{} repetitions", plan.reps)
    } else {
        format!("{} repetitions ({reps_small} for N ≤ 10)", plan.reps)
    };
    line(&format!(
        "Median of {reps}, min–max in brackets; every repetition in a fresh sandbox (new \
         network and mount namespace, private /run), the systems interleaved within each \
         repetition. Connect and disconnect are per container: the time for N containers one \
         after the other, divided by N."
    ));
    line("");
    line(
        "What each column does, per container. Every column creates the container's named namespace `/run/netns/cK` inside the timed part of connect and removes it inside the timed part of disconnect. Disconnect rows: the container leaves while its namespace is alive (its veth is deleted explicitly; the kernel's wait for that dominates every column), then the namespace is removed, as Podman does; \"namespace removed first\" rows: the namespace goes first (the kernel takes the veth with it), then the disconnect call. Every repetition runs both orders, so the connect rows pool two passes per repetition (netavark: one).",
    );
    line(
        "- **bridge-net**: the library in-process, one handle (`BridgeNet::connect` / `disconnect`; network created untimed, name resolution off as on the peers' networks here; state committed to its journal on the local disk (endpoint records appended, not fsynced: they describe kernel objects a machine crash destroys anyway)): veth with its peer made inside the namespace, on the network's bridge, address, MAC, default route, lo up, IPv6 off on both ends, nftables masquerade/isolation (and the port's DNAT) over netlink, state committed.",
    );
    line(
        "- **brnet**: the same through the `brnet` binary, one process per call (network made untimed by `brnet network create --subnet 10.88.0.0/16 -o brnet.dns=false bench`; `brnet --state-dir DIR network connect [-p 10000+K:80] bench cK`, `... network disconnect bench cK`): what a runtime that shells out sees.",
    );
    line(
        "- **ip -batch**: the link-level work only (no IPAM, no firewall, no state): one `ip -batch` for all namespaces and veths, then one `ip -n cK -batch` per namespace (lo up, eth0 up, address, default route); disconnect is one `ip -batch` of `link del bvK` + `netns del bK` (or `netns del` only). Host side IPv6 off, the container side keeps it (ip cannot switch it off before eth0 arrives).",
    );
    line(
        "- **nlbench**: the kernel floor (`../shared/baseline/nlbench.c`, `cc -O2`): the same link-level work as raw rtnetlink from one C process, every request acked, IPv6 off on both ends (`NLNOV6=1`); its own timer (no process start). Disconnect: its `teardown` (RTM_DELLINK, then the namespace) or `nsdel`.",
    );
    line(
        "- **brnet-netavark**: bridge-net's binary for the netavark contract, called exactly as netavark below (same argv, same JSON on stdin, state under `--config DIR`); what Podman runs with bridge-net. Its teardown takes the veth down and leaves the delete to a forked child: the call returns before the link is gone (see the rows \"until the links are gone\").",
    );
    line(
        "- **brnet-cni**: bridge-net's CNI plugin, one process per ADD and per DEL, the `bridge` configuration above with `type: brnet`, its state directory, `\"resolver\": false` (no name resolver, as the reference plugins; on by default), and the port in `runtimeConfig.portMappings` (the plugin publishes it itself: no `portmap` process, unlike the CNI column). DEL leaves the veth delete to a forked child, as brnet-netavark.",
    );
    line(
        "- **netavark**: `netavark --config DIR --rootless=false setup|teardown /run/netns/cK`, the container's JSON on stdin as Podman 4.3 sends it (static IP chosen by the caller, as Podman's own IPAM does; DNS off; no firewalld, so its iptables driver). One untimed container first: netavark makes the bridge and the network's chains on first use.",
    );
    line(
        "- **CNI**: the reference plugins as Podman's CNI backend calls them: `bridge` (which runs `host-local`; leases on the local disk) and, with a port, `portmap` chained with `prevResult`; DEL in reverse. Podman also runs `firewall` and `tuning` after them: not here. One untimed container first, as for netavark.",
    );
    line("");
    line(&format!(
        "Ports: one container publishing {} separate TCP ports (host 20000+i to container port 80: separate mappings, so none can be folded into a range rule), then the next container's single port (30000:80) beside them; namespace creation included. A peer call running past {} s is killed. IPAM: bridge-net's pool handing out all 65,533 addresses of a fresh /16, in-process; CNI: `host-local` alone, one process per address, the first {} addresses of a /16 (the whole /16 would take minutes per repetition); netavark has no IPAM of its own (Podman allocates).",
        plan.port_counts
            .iter()
            .map(|p| thousands((*p).into()))
            .collect::<Vec<_>>()
            .join(" or "),
        plan.peer_limit.as_secs(),
        plan.host_local_count
    ));
    line("");
    line(&format!(
        "¹ Not run: netavark, CNI, brnet-netavark and brnet-cni stop at N={} (one process or more per container; N=1000 would take minutes per repetition).",
        plan.peer_cap
    ));
    if !failures.is_empty() {
        line("² Failed:");
        for f in failures {
            line(&format!("  - {} ({}): {}", f.col.name(), f.row, f.message));
        }
    }
    line("³ nlbench publishes no port: the ratio is to its figure without a port at the same N.");
    line(
        "⁴ netavark cannot: `teardown` opens the namespace and fails when it is gone (`open container netns: ... No such file or directory`).",
    );
    line(
        "⁵ No work is hidden: from the first disconnect call until the last of the N host veths is really gone (polled with a link dump every millisecond after the last call returned). A call that leaves the delete to a background process (brnet-netavark, brnet-cni) returns before that; so does the kernel's cleanup of a removed namespace (\"namespace removed first\"), which deletes the veth asynchronously.",
    );
    line(
        "⁶ bridge-net's `disconnect_many` and `brnet network disconnect bench c0 … cN-1`: every container in one call, the veths of their live namespaces taken down into one link group and deleted in one kernel request (one RCU grace period for all, not one each), then the namespaces removed. The others have no such call (—).",
    );
    line(
        "⁷ CPU time (user + system) of the disconnects, per container: the in-process column's own thread, and every process the calls started, the ones they left running in the background included (the bench is their subreaper and reaps them once the links are gone). Not the kernel's own threads (namespace cleanup, RCU callbacks), which no column's figure includes.",
    );
    line(&format!(
        "Process start: {START_CALLS} empty calls one after the other per repetition (`brnet --version`, `brnet-netavark --version`, `netavark --version`; `brnet-cni` and the reference `bridge` with `CNI_COMMAND=VERSION`), per call: what each call of that binary pays before it does any work. In the nlbench column, the floor: `/bin/true` called the same way (exec, exit, the pipes)."
    ));
    line("");
    line(&format!("Versions: {}", systems.notes.join(" ")));
    s
}

fn readme_table(
    plan: &Plan,
    date: &str,
    load: &machine::Load,
    took: Duration,
    md: &str,
    notes: &str,
) -> String {
    let mut cmd = String::from("sudo -E cargo xtask bench --install-peers");
    let defaults = Plan::new(plan.quick);
    if plan.quick {
        cmd.push_str(" --quick");
    }
    if plan.reps != defaults.reps {
        cmd.push_str(&format!(" --reps {}", plan.reps));
    }
    if plan.peer_limit != defaults.peer_limit {
        cmd.push_str(&format!(" --peer-limit {}", plan.peer_limit.as_secs()));
    }
    if plan.sizes != defaults.sizes
        && let Some(max) = plan.sizes.last()
    {
        cmd.push_str(&format!(" --max-n {max}"));
    }
    format!(
        "Measured {date} on {}; {} ({} min of measuring).\n\n{md}\n{notes}\n\
         Scaling plot: `target/brnet-bench/scaling.svg`; every figure in \
         `target/brnet-bench/comparison.csv`. Reproduce (as root; it builds nlbench with `cc` and installs \
         the peers with apt when missing):\n\n```sh\n{cmd}\n```\n",
        machine::describe(),
        load.describe(),
        took.as_secs() / 60,
    )
}

/// Containers per backend in the Podman section (medians with the 10th–90th
/// percentiles need a few dozen).
const PODMAN_ROUNDS: usize = 40;

/// The Podman rows: `cargo test --release -p brnet-netavark --test timing`
/// on release builds of our front ends, its table as a Markdown section.
fn podman_section() -> String {
    let head = "\n### What the network costs a Podman container\n\n";
    let which = |p: &str| std::path::Path::new(p).is_file();
    if !(["/usr/bin/podman", "/usr/bin/crun", "/bin/busybox"]
        .iter()
        .all(|p| which(p)))
    {
        return format!(
            "{head}Podman not installed (`apt-get install podman crun busybox-static`): not measured.\n"
        );
    }
    eprintln!(
        "==> bench: Podman, {PODMAN_ROUNDS} containers per backend (brnet-netavark's timing test, release)"
    );
    let built = cargo()
        .args(["build", "--release", "--quiet"])
        .args(["-p", "brnet-cli", "-p", "brnet-netavark", "-p", "brnet-cni"])
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        return format!("{head}Not measured: the release build of the front ends failed.\n");
    }
    let bin = root().join("target/release");
    let out = cargo()
        .args([
            "test",
            "--release",
            "--quiet",
            "-p",
            "brnet-netavark",
            "--test",
            "timing",
        ])
        .args(["--", "--nocapture", "--test-threads=1"])
        .env("BRNET_NETAVARK_BIN", bin.join("brnet-netavark"))
        .env("BRNET_CNI_BIN", bin.join("brnet-cni"))
        .env("BRNET_PODMAN_ROUNDS", PODMAN_ROUNDS.to_string())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stderr).into_owned(),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = err.lines().rev().take(5).collect();
            eprintln!("{err}");
            return format!(
                "{head}Not measured: the timing test failed ({}): {}\n",
                o.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            );
        }
        Err(e) => return format!("{head}Not measured: cargo test: {e}\n"),
    };
    let lines: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("per container, median"))
        .filter(|l| {
            // The harness's own trace (`[  173 ms] set -e; ...`) and libtest's lines.
            !l.trim().is_empty()
                && !l.trim_start().starts_with('[')
                && !l.starts_with("test ")
                && !l.starts_with("running")
        })
        .take_while(|l| !l.starts_with("test result"))
        .collect();
    eprintln!("{}", lines.join("\n"));
    format!(
        "{head}`podman run -d -p PORT:80` then `podman rm -f -t 0` of {PODMAN_ROUNDS} busybox httpd containers per backend, \
         one at a time, the backends taking turns (Podman 4.3, crun, each backend in its own pid+net+mount sandbox), \
         against `--network none`; after each `rm`, the wait until the container's veth is gone from the host \
         (counted in the totals); then each backend binary alone, one process per call as Podman runs it. \
         Reproduce alone: `BRNET_PODMAN_ROUNDS={PODMAN_ROUNDS} cargo test --release -p brnet-netavark --test timing \
         -- --nocapture`.\n\n```text\n{}\n```\n",
        lines.join("\n")
    )
}

fn run_criterion() -> Res<()> {
    eprintln!("==> bench: cargo bench -p brnet-benches (criterion)");
    let status = cargo()
        .args(["bench", "-p", "brnet-benches"])
        .status()
        .map_err(|e| format!("cargo bench: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo bench -p brnet-benches failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_says_repetition_elapsed_and_what_is_left() {
        assert_eq!(clock(3), "3s");
        assert_eq!(clock(123), "2m03s");
        assert_eq!(clock(3723), "1h02m03s");
        let mut p = Progress {
            started: Instant::now(),
            total: 100.0,
            done: 0.0,
        };
        assert_eq!(
            p.advance(
                25.0,
                "N=10 no-port, repetition 1/15",
                Duration::from_secs(60)
            ),
            "    N=10 no-port, repetition 1/15: 25% done, elapsed 1m00s, about 3m00s left"
        );
        assert_eq!(
            p.advance(75.0, "IPAM", Duration::from_secs(200)),
            "    IPAM: 100% done, elapsed 3m20s, about 0s left"
        );
    }
}
