//! `cargo xtask kernels`: the kernel tests on the kernels our users run,
//! not only on this machine's.
//!
//! Fetches a distribution's kernel package with the machine's own package
//! client (`apt-get download`: Debian 12's `linux-image-6.1.0-N-amd64-unsigned`
//! from the machine's apt sources; with `--kernel ubuntu-22.04
//! --ubuntu-mirror URL`, Ubuntu 22.04's `linux-image-unsigned-5.15.0-N-generic`
//! and its module packages through a private apt state), unpacks it
//! (`dpkg-deb -x`) into `target/kernels/NAME/`, builds a small
//! initramfs (busybox-static, the virtio and 9p modules, an init script)
//! and boots the kernel under `qemu-system-x86_64` (KVM when it boots,
//! else software emulation). The VM sees this machine's root file system
//! read-only over 9p (the test binaries, their libraries and the programs
//! they run: `ip`, `nft`, `iptables`, `socat`, `ping`...), the unpacked
//! kernel's modules as `/lib/modules/VERSION` (loaded on demand through
//! busybox's modprobe) and a RAM `/tmp`, `/run` and `/var`. Inside, as
//! root, it runs the test binaries of brnet-nat, bridge-net and brnet-tests
//! (`cargo test --no-run`), each as `cargo test` would (from its package's
//! directory), and prints markers that this task reads from the serial
//! console. A second boot with `ipv6.disable=1` runs IPv4 connect tests.
//!
//! The VM has no network device: its tests make their own namespaces, as on
//! the host, and nothing they do reaches this machine's network.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `cargo xtask kernels`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct KernelsArgs {
    /// The kernels to boot.
    #[arg(long = "kernel", value_enum, default_values_t = [Kernel::Debian12])]
    kernels: Vec<Kernel>,
    /// The short subset (CI's): brnet-nat's kernel tests and a few
    /// bridge-net connects, and the `ipv6.disable=1` boot.
    #[arg(long)]
    quick: bool,
    /// How QEMU runs the guest: `auto` tries KVM and falls back to
    /// software emulation when the guest does not come up under it.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    accel: Accel,
    /// Minutes one boot may take before it is killed and counted failed.
    #[arg(long, default_value_t = 60)]
    timeout_minutes: u64,
    /// An Ubuntu archive mirror (URL) carrying jammy, for `--kernel
    /// ubuntu-22.04`.
    #[arg(long, env = "BRNET_UBUNTU_MIRROR", value_name = "URL")]
    ubuntu_mirror: Option<String>,
    /// Only the tests whose names contain one of these (passed to every
    /// test binary, as `cargo test -- FILTER`); the `ipv6.disable=1` boot
    /// is left out then.
    #[arg(last = true, value_name = "FILTER")]
    filters: Vec<String>,
}

/// A kernel our users run, as its distribution ships it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kernel {
    /// Debian 12 (bookworm): Linux 6.1, the newest
    /// `linux-image-6.1.0-N-amd64-unsigned` the machine's apt sources offer.
    #[value(name = "debian-12")]
    Debian12,
    /// Ubuntu 22.04 (jammy): Linux 5.15, the newest
    /// `linux-image-unsigned-5.15.0-N-generic` with its `linux-modules` and
    /// `linux-modules-extra`, from the archive mirror `--ubuntu-mirror`
    /// names (a private apt state: the machine's own sources are left
    /// alone).
    #[value(name = "ubuntu-22.04")]
    Ubuntu2204,
}

impl Kernel {
    fn name(self) -> &'static str {
        match self {
            Kernel::Debian12 => "debian-12",
            Kernel::Ubuntu2204 => "ubuntu-22.04",
        }
    }
}

/// QEMU's accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// KVM when /dev/kvm is there and the guest comes up under it within
    /// 30 s, else TCG.
    Auto,
    /// KVM only.
    Kvm,
    /// Software emulation only.
    Tcg,
}

/// The marker the VM's lines of interest start with.
const MARK: &str = "@@brnet-kernels";
/// How long a KVM guest may take to print its first marker before `auto`
/// gives KVM up (a nested KVM here hangs after the kernel's decompression).
const KVM_PROBE: Duration = Duration::from_secs(30);

/// The tests left out, with why: `--skip` for every binary (a substring
/// of test names, as libtest matches `--skip`). None: every test of the
/// three packages runs (etcd, `ip`, `nft`, `iptables`... come from this
/// machine's root; no test of these packages needs Podman or dockerd).
const LEFT_OUT: &[(&str, &str)] = &[];

/// The boot modules: enough to mount the host's root over virtio 9p.
/// Everything else loads on demand from the unpacked tree.
const BOOT_MODULES: &[&str] = &["virtio_pci", "9pnet_virtio", "9p"];

/// Loaded before the tests, as on the machines the tests are developed
/// and run on (where they are built in): nothing asks for br_netfilter by
/// name, and the tests of bridged traffic through the IP hooks
/// (brnet-nat's `native_hairpin`, `native_icc_off_with_br_netfilter`) set
/// its `/proc/sys/net/bridge/bridge-nf-call-iptables`.
const PRELOAD: &[&str] = &["br_netfilter"];

/// The packages whose test binaries run inside: the firewall's kernel
/// tests (brnet-nat) and bridge-net's (its own and the end-to-end
/// scenarios in brnet-tests).
const PACKAGES: &[&str] = &["brnet-nat", "bridge-net", "brnet-tests"];

/// `--quick`: (package, test binary, filters). brnet-nat's kernel tests
/// and its teardown tests (the removals that need the DELETE* fallback
/// before 6.3); bridge-net connects with traffic (docker0, a published
/// port from outside, masquerade) and a restart and cleanup.
const QUICK: &[(&str, &str, &[&str])] = &[
    ("brnet-nat", "brnet_nat", &["kernel_tests"]),
    (
        "brnet-nat",
        "teardown",
        &["legacy_removal", "after_a_flush"],
    ),
    ("brnet-tests", "scenarios", &["s1_", "s4_", "s6_"]),
];

/// The `ipv6.disable=1` boot: (package, test binary, filters), IPv4
/// connects that exchange traffic, and their removal.
const NO_IPV6: &[(&str, &str, &[&str])] = &[("brnet-tests", "scenarios", &["s1_", "s4_", "s6_"])];

/// A test binary `cargo test --no-run` built.
#[derive(Debug, Clone)]
struct TestBin {
    package: String,
    /// The target's name (`brnet_nat` for a library's unit tests).
    target: String,
    /// The package's directory, where `cargo test` runs it.
    dir: PathBuf,
    exe: PathBuf,
}

impl TestBin {
    fn label(&self) -> String {
        format!("{} {}", self.package, self.target)
    }
}

/// One run of one test binary inside a VM.
#[derive(Debug, Clone, Default)]
struct BinResult {
    label: String,
    exit: Option<i32>,
    passed: u64,
    failed: u64,
    filtered: u64,
    failures: Vec<String>,
    secs: u64,
}

/// One boot: what ran and how it ended.
#[derive(Debug, Default)]
struct BootResult {
    label: String,
    kernel: String,
    accel: &'static str,
    bins: Vec<BinResult>,
    /// The VM printed its last marker (every binary ran).
    completed: bool,
    /// What went wrong outside the tests (no boot, a timeout, a failed mount).
    problem: Option<String>,
    secs: f64,
}

impl BootResult {
    fn ok(&self) -> bool {
        self.completed
            && self.problem.is_none()
            && !self.bins.is_empty()
            && self.bins.iter().all(|b| b.exit == Some(0) && b.failed == 0)
    }
}

/// A kernel unpacked on the disk.
#[derive(Debug)]
struct Unpacked {
    /// `target/kernels/NAME`: the package files, the initramfs, the logs.
    dir: PathBuf,
    /// Where `lib/modules/VERSION` is, under `dir`.
    root: PathBuf,
    version: String,
    vmlinuz: PathBuf,
    package: String,
}

/// Run the task.
pub fn run(a: &KernelsArgs) -> Result<(), String> {
    let started = Instant::now();
    let qemu = which("qemu-system-x86_64").ok_or(
        "qemu-system-x86_64 not found: apt-get install qemu-system-x86 (`cargo xtask test` installs it)",
    )?;
    let busybox = PathBuf::from("/bin/busybox");
    if !busybox.is_file() {
        return Err("/bin/busybox not found: apt-get install busybox-static".into());
    }
    let meta = cargo_metadata()?;
    let target_dir = PathBuf::from(
        meta["target_directory"]
            .as_str()
            .ok_or("cargo metadata: no target_directory")?,
    );
    let workspace = PathBuf::from(
        meta["workspace_root"]
            .as_str()
            .ok_or("cargo metadata: no workspace_root")?,
    );
    let bins = build_tests()?;
    let mut accel = a.accel;
    let mut results = Vec::new();
    for &k in &a.kernels {
        let kernel = fetch(k, &target_dir.join("kernels"), a.ubuntu_mirror.as_deref())?;
        let initrd = initramfs(&kernel, &busybox, &[&workspace, &target_dir])?;
        let mut boots: Vec<(String, &str, String)> = Vec::new();
        let (main_plan, v6_plan) = if a.filters.is_empty() && !a.quick {
            (everything(&bins), Some(selected(&bins, NO_IPV6)?))
        } else if a.filters.is_empty() {
            (selected(&bins, QUICK)?, Some(selected(&bins, NO_IPV6)?))
        } else {
            (filtered(&bins, &a.filters), None)
        };
        boots.push((k.name().to_owned(), "", main_plan));
        if let Some(p) = v6_plan {
            boots.push((format!("{} ipv6.disable=1", k.name()), "ipv6.disable=1", p));
        }
        for (i, (label, extra, plan)) in boots.into_iter().enumerate() {
            let plan_path = kernel.dir.join(format!("plan-{i}.sh"));
            write(&plan_path, &plan)?;
            let log = kernel.dir.join(format!("console-{i}.log"));
            let timeout = Duration::from_secs(a.timeout_minutes * 60);
            let r = boot(
                &qemu, &kernel, &initrd, &plan_path, extra, &label, &mut accel, timeout, &log,
            )?;
            eprintln!("==> kernels: console of {label}: {}", log.display());
            results.push(r);
        }
    }
    let table = summary(&results, started.elapsed());
    eprint!("{table}");
    write(&target_dir.join("kernels").join("summary.txt"), &table)?;
    if results.iter().all(BootResult::ok) {
        Ok(())
    } else {
        Err("a boot failed or a test failed inside it (summary above)".into())
    }
}

/// The summary: one line per test binary per boot, then totals.
fn summary(results: &[BootResult], took: Duration) -> String {
    let mut s = String::from("\n==> kernels: summary\n");
    let (mut passed, mut failed) = (0, 0);
    for r in results {
        let _ = writeln!(
            s,
            "{} (Linux {}, {}): {} in {:.0} s",
            r.label,
            r.kernel,
            r.accel,
            if r.ok() { "PASS" } else { "FAIL" },
            r.secs
        );
        if let Some(p) = &r.problem {
            let _ = writeln!(s, "  problem: {p}");
        }
        for b in &r.bins {
            passed += b.passed;
            failed += b.failed;
            let status = match b.exit {
                Some(0) if b.failed == 0 => "ok",
                None => "did not finish",
                _ => "FAILED",
            };
            let _ = writeln!(
                s,
                "  {:<36} {:>4} passed {:>3} failed {:>4} filtered out  {:>4} s  {status}",
                b.label, b.passed, b.failed, b.filtered, b.secs
            );
            for f in &b.failures {
                let _ = writeln!(s, "      FAILED {f}");
            }
        }
    }
    if !LEFT_OUT.is_empty() {
        let _ = writeln!(s, "  left out everywhere (--skip):");
        for (name, why) in LEFT_OUT {
            let _ = writeln!(s, "      {name}: {why}");
        }
    }
    let _ = writeln!(
        s,
        "kernels: {} passed, {} failed ({} boots, {:.0} s in all)",
        passed,
        failed,
        results.len(),
        took.as_secs_f64()
    );
    s
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn cargo_metadata() -> Result<serde_json::Value, String> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))
}

/// `cargo test --no-run` for [`PACKAGES`]: every test binary, with the
/// directory `cargo test` runs it from.
fn build_tests() -> Result<Vec<TestBin>, String> {
    eprintln!(
        "==> kernels: cargo test --no-run -p {}",
        PACKAGES.join(" -p ")
    );
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    for p in PACKAGES {
        cmd.args(["-p", p]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed ({})", out.status));
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" || !v["profile"]["test"].as_bool().unwrap_or(false) {
            continue;
        }
        let (Some(exe), Some(manifest), Some(target)) = (
            v["executable"].as_str(),
            v["manifest_path"].as_str(),
            v["target"]["name"].as_str(),
        ) else {
            continue;
        };
        let dir = Path::new(manifest)
            .parent()
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        let package = package_name(&v, &dir);
        bins.push(TestBin {
            package,
            target: target.to_owned(),
            dir,
            exe: exe.into(),
        });
    }
    bins.sort_by(|a, b| (&a.package, &a.target).cmp(&(&b.package, &b.target)));
    if bins.is_empty() {
        return Err("cargo test --no-run built no test binary".into());
    }
    Ok(bins)
}

/// The package of a compiler-artifact message: its `package_id` names it
/// (`path+file:///...#name@version`, or `...#version` when the name is
/// the directory's).
fn package_name(v: &serde_json::Value, dir: &Path) -> String {
    let id = v["package_id"].as_str().unwrap_or_default();
    let frag = id.rsplit('#').next().unwrap_or_default();
    match frag.split_once('@') {
        Some((name, _)) => name.to_owned(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Single-quoted for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The plan's head: the environment, and the function that runs one
/// binary between two markers.
fn plan_head() -> String {
    format!(
        r#"#!/bin/bash
# Written by `cargo xtask kernels`; run by the VM's init as root.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 RUST_BACKTRACE=0
echo "{MARK} plan $(uname -r) $(nproc) cpus, IPv6 $([ -d /proc/sys/net/ipv6 ] && echo on || echo off), $(cat /proc/cmdline)"
run() {{
  label=$1 dir=$2
  shift 2
  echo "{MARK} start $label"
  start=$(date +%s)
  (cd "$dir" && timeout -k 10 1800 "$@" 2>&1)
  rc=$?
  echo "{MARK} end $label rc=$rc secs=$(( $(date +%s) - start ))"
}}
"#
    )
}

fn plan_line(b: &TestBin, filters: &[&str]) -> String {
    let mut args = vec![quote(&b.exe.to_string_lossy())];
    args.extend(filters.iter().map(|f| quote(f)));
    args.push("-q".into());
    for (skip, _) in LEFT_OUT {
        args.push("--skip".into());
        args.push(quote(skip));
    }
    format!(
        "run {} {} {}\n",
        quote(&b.label()),
        quote(&b.dir.to_string_lossy()),
        args.join(" ")
    )
}

fn plan_tail() -> String {
    format!("echo \"{MARK} done\"\n")
}

/// Every binary, every test.
fn everything(bins: &[TestBin]) -> String {
    let mut s = plan_head();
    for b in bins {
        s += &plan_line(b, &[]);
    }
    s + &plan_tail()
}

/// Every binary, the tests whose names contain one of `filters`.
fn filtered(bins: &[TestBin], filters: &[String]) -> String {
    let f: Vec<&str> = filters.iter().map(String::as_str).collect();
    let mut s = plan_head();
    for b in bins {
        s += &plan_line(b, &f);
    }
    s + &plan_tail()
}

/// The binaries and filters a list names.
fn selected(bins: &[TestBin], which: &[(&str, &str, &[&str])]) -> Result<String, String> {
    let mut s = plan_head();
    for (package, target, filters) in which {
        let b = bins
            .iter()
            .find(|b| b.package == *package && b.target == *target)
            .ok_or_else(|| format!("no test binary {target} in {package}"))?;
        s += &plan_line(b, filters);
    }
    Ok(s + &plan_tail())
}

/// Fetch and unpack the kernel into `cache/NAME` (once: a later run reuses
/// it).
fn fetch(k: Kernel, cache: &Path, ubuntu_mirror: Option<&str>) -> Result<Unpacked, String> {
    let dir = cache.join(k.name());
    let root = dir.join("root");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    if let Some(u) = unpacked(&dir, &root)? {
        return Ok(u);
    }
    let (apt, packages) = match k {
        Kernel::Debian12 => (Vec::new(), vec![newest_debian_61()?]),
        Kernel::Ubuntu2204 => {
            let mirror = ubuntu_mirror.ok_or(
                "the Ubuntu kernel needs --ubuntu-mirror URL (or BRNET_UBUNTU_MIRROR): an Ubuntu archive mirror carrying jammy",
            )?;
            let apt = private_apt(&dir.join("apt"), mirror)?;
            let abi = newest_ubuntu_515(&apt)?;
            let packages = [
                "linux-image-unsigned",
                "linux-modules",
                "linux-modules-extra",
            ]
            .iter()
            .map(|p| format!("{p}-5.15.0-{abi}-generic"))
            .collect();
            (apt, packages)
        }
    };
    eprintln!("==> kernels: apt-get download {}", packages.join(" "));
    let status = Command::new("apt-get")
        .args(&apt)
        .args(["download", "-q"])
        .args(&packages)
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("apt-get download: {e}"))?;
    if !status.success() {
        return Err(format!(
            "apt-get download {} failed ({status})",
            packages.join(" ")
        ));
    }
    let _ = std::fs::remove_dir_all(&root);
    for package in &packages {
        let deb = std::fs::read_dir(&dir)
            .map_err(|e| format!("read {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
            })
            .ok_or_else(|| format!("apt-get download left no {package}_*.deb"))?;
        eprintln!("==> kernels: dpkg-deb -x {}", deb.display());
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .status()
            .map_err(|e| format!("dpkg-deb: {e}"))?;
        if !status.success() {
            return Err(format!("dpkg-deb -x {} failed ({status})", deb.display()));
        }
        let _ = std::fs::remove_file(&deb);
    }
    write(&dir.join("package"), &packages[0])?;
    let u = unpacked(&dir, &root)?.ok_or("the package holds no boot/vmlinuz-*")?;
    depmod(&u)?;
    Ok(u)
}

/// apt-get options for a private apt state under `dir` whose sources are
/// Ubuntu 22.04's (jammy, jammy-updates, jammy-security; main) at
/// `mirror`, after an `apt-get update` of them. Their signatures are not
/// checked: Debian carries no Ubuntu archive key. The kernel only ever runs
/// inside the VM, which has no network device.
fn private_apt(dir: &Path, mirror: &str) -> Result<Vec<String>, String> {
    mkdir(&dir.join("lists/partial"))?;
    mkdir(&dir.join("cache/archives/partial"))?;
    let mirror = mirror.trim_end_matches('/');
    let sources: String = ["jammy", "jammy-updates", "jammy-security"]
        .iter()
        .map(|suite| format!("deb [trusted=yes arch=amd64] {mirror} {suite} main\n"))
        .collect();
    write(&dir.join("sources.list"), &sources)?;
    write(&dir.join("status"), "")?;
    let d = dir.display();
    let opts: Vec<String> = [
        format!("Dir::Etc::SourceList={d}/sources.list"),
        "Dir::Etc::SourceParts=/dev/null".to_owned(),
        format!("Dir::State::Lists={d}/lists"),
        format!("Dir::Cache={d}/cache"),
        format!("Dir::State::Status={d}/status"),
        "APT::Architectures=amd64".to_owned(),
    ]
    .into_iter()
    .flat_map(|o| ["-o".to_owned(), o])
    .collect();
    eprintln!("==> kernels: apt-get update (Ubuntu 22.04's sources, private apt state in {d})");
    let status = Command::new("apt-get")
        .args(&opts)
        .args(["update", "-qq"])
        .status()
        .map_err(|e| format!("apt-get update: {e}"))?;
    if !status.success() {
        return Err(format!(
            "apt-get update of Ubuntu 22.04's sources failed ({status})"
        ));
    }
    Ok(opts)
}

/// The newest ABI number N of `linux-image-unsigned-5.15.0-N-generic`.
fn newest_ubuntu_515(apt: &[String]) -> Result<u32, String> {
    let out = Command::new("apt-cache")
        .args(apt)
        .args([
            "search",
            "--names-only",
            r"^linux-image-unsigned-5\.15\.0-[0-9]+-generic$",
        ])
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .next()?
                .strip_prefix("linux-image-unsigned-5.15.0-")?
                .strip_suffix("-generic")?
                .parse::<u32>()
                .ok()
        })
        .max()
        .ok_or_else(|| "the mirror offers no linux-image-unsigned-5.15.0-*-generic".into())
}

/// The unpacked kernel under `root`, when there is one with its module
/// index.
fn unpacked(dir: &Path, root: &Path) -> Result<Option<Unpacked>, String> {
    let Ok(entries) = std::fs::read_dir(root.join("boot")) else {
        return Ok(None);
    };
    let Some(vmlinuz) = entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
    }) else {
        return Ok(None);
    };
    let version = vmlinuz
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches("vmlinuz-")
                .to_owned()
        })
        .unwrap_or_default();
    let package = std::fs::read_to_string(dir.join("package")).unwrap_or_default();
    let u = Unpacked {
        dir: dir.to_owned(),
        root: root.to_owned(),
        version,
        vmlinuz,
        package: package.trim().to_owned(),
    };
    if !u.modules().join("modules.dep").is_file() {
        depmod(&u)?;
    }
    Ok(Some(u))
}

impl Unpacked {
    fn modules(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }
}

/// The module index (`modules.dep`, `modules.alias`) the package leaves
/// to its postinst: busybox's depmod.
fn depmod(u: &Unpacked) -> Result<(), String> {
    let status = Command::new("/bin/busybox")
        .args(["depmod", "-b"])
        .arg(&u.root)
        .arg(&u.version)
        .status()
        .map_err(|e| format!("busybox depmod: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("busybox depmod {} failed ({status})", u.version))
    }
}

/// The newest `linux-image-6.1.0-N-amd64-unsigned` apt knows (after one
/// `apt-get update` when it knows none).
fn newest_debian_61() -> Result<String, String> {
    let search = || -> Result<Option<String>, String> {
        let out = Command::new("apt-cache")
            .args([
                "search",
                "--names-only",
                r"^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$",
            ])
            .output()
            .map_err(|e| format!("apt-cache: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(|n| {
                let abi = n
                    .strip_prefix("linux-image-6.1.0-")?
                    .strip_suffix("-amd64-unsigned")?
                    .parse::<u32>()
                    .ok()?;
                Some((abi, n.to_owned()))
            })
            .max()
            .map(|(_, n)| n))
    };
    if let Some(p) = search()? {
        return Ok(p);
    }
    eprintln!("==> kernels: apt-get update");
    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    search()?.ok_or_else(|| {
        "apt knows no linux-image-6.1.0-*-amd64-unsigned: this machine's apt sources need Debian 12 (bookworm) main".into()
    })
}

/// The initramfs: busybox, the boot modules and their dependencies (from
/// `modules.dep`), the module index, and the init script. Written with
/// busybox's cpio (newc).
fn initramfs(k: &Unpacked, busybox: &Path, binds: &[&Path]) -> Result<PathBuf, String> {
    let stage = k.dir.join("initramfs");
    let _ = std::fs::remove_dir_all(&stage);
    let mods = k.modules();
    let dep = std::fs::read_to_string(mods.join("modules.dep"))
        .map_err(|e| format!("read modules.dep: {e}"))?;
    let builtin = std::fs::read_to_string(mods.join("modules.builtin")).unwrap_or_default();
    let mut files = BTreeSet::new();
    for m in BOOT_MODULES {
        if builtin
            .lines()
            .any(|l| Path::new(l).file_stem().is_some_and(|s| *s == **m))
        {
            continue;
        }
        let line = dep
            .lines()
            .find(|l| {
                l.split(':')
                    .next()
                    .is_some_and(|p| Path::new(p).file_stem().is_some_and(|s| *s == **m))
            })
            .ok_or_else(|| format!("module {m} not in {}'s modules.dep", k.version))?;
        for f in line.split([':', ' ']).filter(|f| !f.is_empty()) {
            files.insert(f.to_owned());
        }
    }
    let inside = stage.join("lib/modules").join(&k.version);
    for d in ["kbin", "dev", "proc", "sys", "host", "tmp", "run", "var"] {
        mkdir(&stage.join(d))?;
    }
    for f in &files {
        let to = inside.join(f);
        mkdir(to.parent().unwrap_or(&inside))?;
        std::fs::copy(mods.join(f), &to).map_err(|e| format!("copy module {f}: {e}"))?;
    }
    for f in [
        "modules.dep",
        "modules.alias",
        "modules.symbols",
        "modules.builtin",
    ] {
        if mods.join(f).is_file() {
            std::fs::copy(mods.join(f), inside.join(f)).map_err(|e| format!("copy {f}: {e}"))?;
        }
    }
    std::fs::copy(busybox, stage.join("kbin/busybox")).map_err(|e| format!("copy busybox: {e}"))?;
    let init = stage.join("init");
    write(&init, &init_script(k, binds))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod init: {e}"))?;
    }
    // The file list, parents first, for cpio.
    let mut list = String::new();
    walk(&stage, Path::new("."), &mut list)?;
    let out = k.dir.join("initramfs.cpio");
    let file = std::fs::File::create(&out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let mut child = Command::new(busybox)
        .args(["cpio", "-o", "-H", "newc"])
        .current_dir(&stage)
        .stdin(Stdio::piped())
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("busybox cpio: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("busybox cpio: no stdin")?
        .write_all(list.as_bytes())
        .map_err(|e| format!("busybox cpio: {e}"))?;
    let status = child.wait().map_err(|e| format!("busybox cpio: {e}"))?;
    if !status.success() {
        return Err(format!("busybox cpio failed ({status})"));
    }
    Ok(out)
}

fn mkdir(p: &Path) -> Result<(), String> {
    std::fs::create_dir_all(p).map_err(|e| format!("create {}: {e}", p.display()))
}

fn walk(base: &Path, rel: &Path, list: &mut String) -> Result<(), String> {
    let _ = writeln!(list, "{}", rel.display());
    let full = base.join(rel);
    if full.is_dir() && !full.is_symlink() {
        let mut entries: Vec<_> = std::fs::read_dir(&full)
            .map_err(|e| format!("read {}: {e}", full.display()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for e in entries {
            walk(base, &rel.join(e), list)?;
        }
    }
    Ok(())
}

/// The VM's init (busybox sh): the host's root read-only over 9p, its
/// directories bound at their own places (`/tmp`, `/run`, `/var` in RAM),
/// the unpacked modules at `/lib/modules/VERSION`, then the plan named on
/// the kernel's command line (`brnet.plan=PATH`), then power off.
fn init_script(k: &Unpacked, binds: &[&Path]) -> String {
    let mods = k.modules();
    let mut extra = String::new();
    for b in binds {
        let b = quote(&b.to_string_lossy());
        let _ = writeln!(
            extra,
            "[ -d /host{b2} ] && {{ [ -e {b}/. ] && [ \"$(stat -c %i {b}/.)\" = \"$(stat -c %i /host{b2}/.)\" ] || {{ mkdir -p {b} && mount -o bind /host{b2} {b}; }}; }}",
            b2 = b,
        );
    }
    format!(
        r#"#!/kbin/busybox sh
# Written by `cargo xtask kernels`.
export PATH=/kbin
/kbin/busybox --install -s /kbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
echo "{MARK} booted $(uname -r)"
fail() {{ echo "{MARK} problem $*"; poweroff -f; sleep 10; }}
builtin() {{ grep -q "/$1.ko" /lib/modules/$(uname -r)/modules.builtin 2>/dev/null; }}
for m in {boot}; do builtin $m || modprobe $m || fail "modprobe $m"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host || fail "mount the host's root over 9p"
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t tmpfs var /var
mkdir -p /run/lock /var/tmp /var/lib /var/log /var/cache /var/spool
ln -s /run /var/run
ln -s /run/lock /var/lock
for d in /host/*; do
  n=${{d##*/}}
  case $n in dev|proc|sys|run|tmp|var|lib|host|kbin|init|lost+found) continue;; esac
  if [ -L "$d" ]; then ln -s "$(readlink "$d")" /$n
  elif [ -d "$d" ]; then mkdir -p /$n && mount -o bind "$d" /$n
  fi
done
for e in /host/lib/*; do
  n=${{e##*/}}
  [ "$n" = modules ] || ln -s "/host/lib/$n" /lib/$n
done
mount -o bind /host{mods} /lib/modules/{version} || fail "bind the kernel's modules"
{extra}echo /kbin/modprobe > /proc/sys/kernel/modprobe
for m in {preload}; do builtin $m || modprobe $m || fail "modprobe $m"; done
hostname brnet-kernels
ip link set lo up
plan=$(sed -n 's/.*brnet\.plan=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -f "/host$plan" ] || fail "no plan at $plan"
/usr/bin/bash "$plan"
poweroff -f
sleep 10
"#,
        boot = BOOT_MODULES.join(" "),
        preload = PRELOAD.join(" "),
        mods = quote(&mods.to_string_lossy()),
        version = k.version,
    )
}

/// Boot `k` with `plan`, reading the console until the VM powers off.
#[allow(clippy::too_many_arguments)]
fn boot(
    qemu: &Path,
    k: &Unpacked,
    initrd: &Path,
    plan: &Path,
    extra: &str,
    label: &str,
    accel: &mut Accel,
    timeout: Duration,
    log: &Path,
) -> Result<BootResult, String> {
    loop {
        let use_kvm = match *accel {
            Accel::Kvm => true,
            Accel::Tcg => false,
            Accel::Auto => Path::new("/dev/kvm").exists(),
        };
        eprintln!(
            "==> kernels: booting {label}: {} ({}) under {}",
            k.version,
            k.package,
            if use_kvm {
                "KVM"
            } else {
                "TCG (software emulation)"
            }
        );
        let started = Instant::now();
        let mut child = spawn_qemu(qemu, k, initrd, plan, extra, use_kvm)?;
        let mut r = BootResult {
            label: label.to_owned(),
            kernel: k.version.clone(),
            accel: if use_kvm { "KVM" } else { "TCG" },
            ..BootResult::default()
        };
        let probe = (use_kvm && *accel == Accel::Auto).then_some(KVM_PROBE);
        let outcome = watch(&mut child, &mut r, probe, timeout, log);
        r.secs = started.elapsed().as_secs_f64();
        match outcome {
            Watch::NoKvmBoot => {
                eprintln!(
                    "==> kernels: no sign of the guest under KVM after {} s: software emulation from now on",
                    KVM_PROBE.as_secs()
                );
                *accel = Accel::Tcg;
                continue;
            }
            Watch::Exited => {
                if use_kvm && *accel == Accel::Auto {
                    *accel = Accel::Kvm;
                }
            }
            Watch::TimedOut => {
                r.problem = Some(format!("killed after {} min", timeout.as_secs() / 60));
            }
        }
        if !r.completed && r.problem.is_none() {
            r.problem = Some("the VM stopped before the plan's end (see its console)".into());
        }
        return Ok(r);
    }
}

fn spawn_qemu(
    qemu: &Path,
    k: &Unpacked,
    initrd: &Path,
    plan: &Path,
    extra: &str,
    kvm: bool,
) -> Result<Child, String> {
    let mut cmd = Command::new(qemu);
    if kvm {
        cmd.args(["-enable-kvm", "-cpu", "host"]);
    } else {
        cmd.args(["-accel", "tcg"]);
    }
    let cmdline = format!(
        "console=ttyS0 panic=-1 loglevel=3 brnet.plan={} {extra}",
        plan.display()
    );
    cmd.args([
        "-m",
        "2G",
        "-smp",
        "2",
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
    ])
    .arg("-kernel")
    .arg(&k.vmlinuz)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", &cmdline])
    .args([
        "-virtfs",
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd.spawn().map_err(|e| format!("{}: {e}", qemu.display()))
}

enum Watch {
    Exited,
    TimedOut,
    NoKvmBoot,
}

/// Read the console (stdout and stderr) line by line into `r` and the log
/// until QEMU exits, `timeout` passes, or (`probe`) the guest shows no
/// sign of life in time.
fn watch(
    child: &mut Child,
    r: &mut BootResult,
    probe: Option<Duration>,
    timeout: Duration,
    log: &Path,
) -> Watch {
    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || forward(out, &tx)));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || forward(err, &tx)));
    }
    drop(tx);
    let mut logf = std::fs::File::create(log).ok();
    let started = Instant::now();
    let mut alive = false;
    let mut current: Option<BinResult> = None;
    let outcome = loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                if let Some(f) = logf.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                eprintln!("  vm| {line}");
                if line.contains(MARK) {
                    alive = true;
                }
                parse_line(&line, r, &mut current);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break Watch::Exited,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if probe.is_some_and(|p| !alive && started.elapsed() > p) {
            let _ = child.kill();
            break Watch::NoKvmBoot;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            break Watch::TimedOut;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    for t in readers {
        let _ = t.join();
    }
    if let Some(b) = current.take() {
        r.bins.push(b);
    }
    outcome
}

fn forward(from: impl std::io::Read, tx: &mpsc::Sender<String>) {
    let mut rd = BufReader::new(from);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match rd.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = clean(&buf);
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

/// A console line without its carriage return and terminal escapes.
fn clean(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI: ESC [ params final; other escapes: ESC + one char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            // Carriage returns, the console's shift-in/out and the rest.
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// One console line: a marker, or a test harness line inside a binary's
/// run.
fn parse_line(line: &str, r: &mut BootResult, current: &mut Option<BinResult>) {
    if let Some(at) = line.find(MARK) {
        let rest = line[at + MARK.len()..].trim();
        if let Some(label) = rest.strip_prefix("start ") {
            if let Some(b) = current.take() {
                r.bins.push(b);
            }
            *current = Some(BinResult {
                label: label.to_owned(),
                ..BinResult::default()
            });
        } else if let Some(end) = rest.strip_prefix("end ") {
            let mut b = current.take().unwrap_or_default();
            for word in end.split_whitespace() {
                if let Some(v) = word.strip_prefix("rc=") {
                    b.exit = v.parse().ok();
                } else if let Some(v) = word.strip_prefix("secs=") {
                    b.secs = v.parse().unwrap_or_default();
                }
            }
            r.bins.push(b);
        } else if rest == "done" {
            r.completed = true;
        } else if let Some(p) = rest.strip_prefix("problem ") {
            r.problem = Some(p.to_owned());
        }
        return;
    }
    let Some(b) = current.as_mut() else {
        return;
    };
    if let Some(name) = line.strip_suffix(" --- FAILED") {
        b.failures.push(name.trim().to_owned());
    } else if let Some(res) = line.trim().strip_prefix("test result: ") {
        // "ok. 3 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out;
        // finished in 0.01s". The harness's own summary is its last line:
        // a test that runs its own binary again (in a child process) has
        // its child's summary printed before it.
        (b.passed, b.failed, b.filtered) = (0, 0, 0);
        for part in res.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let n = |i: usize| {
                words
                    .get(i)
                    .and_then(|w| w.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            match words.as_slice() {
                [.., _, "passed"] => b.passed += n(words.len() - 2),
                [_, "failed"] => b.failed += n(0),
                [_, "filtered", "out"] => b.filtered += n(0),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_are_read_into_results() {
        let mut r = BootResult::default();
        let mut cur = None;
        for l in [
            "\x1b[2J@@brnet-kernels booted 6.1.0-57-amd64",
            "@@brnet-kernels start brnet-nat brnet_nat",
            "firewall::kernel_tests::dropped_acks_are_read_back --- FAILED\x0f\r",
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 7 filtered out; finished in 0.13s",
            "test result: FAILED. 28 passed; 1 failed; 0 ignored; 0 measured; 2 filtered out; finished in 27.11s",
            "@@brnet-kernels end brnet-nat brnet_nat rc=101 secs=30",
            "@@brnet-kernels start brnet-tests scenarios",
            "test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.0s",
            "@@brnet-kernels end brnet-tests scenarios rc=0 secs=2",
            "@@brnet-kernels done",
        ] {
            parse_line(&clean(l.as_bytes()), &mut r, &mut cur);
        }
        assert!(r.completed);
        assert_eq!(r.bins.len(), 2);
        let nat = &r.bins[0];
        assert_eq!(
            (nat.passed, nat.failed, nat.filtered, nat.exit, nat.secs),
            (28, 1, 2, Some(101), 30)
        );
        assert_eq!(
            nat.failures,
            ["firewall::kernel_tests::dropped_acks_are_read_back"]
        );
        assert_eq!((r.bins[1].passed, r.bins[1].exit), (7, Some(0)));
        assert!(!r.ok(), "a failed test fails the boot");
        r.bins.remove(0);
        assert!(r.ok());
        r.problem = Some("x".into());
        assert!(!r.ok());
    }

    #[test]
    fn a_boot_that_ran_nothing_or_stopped_early_is_not_ok() {
        let mut r = BootResult {
            completed: true,
            ..BootResult::default()
        };
        assert!(!r.ok(), "no binary ran");
        let mut cur = None;
        parse_line("@@brnet-kernels start a b", &mut r, &mut cur);
        parse_line("test result: ok. 1 passed; 0 failed;", &mut r, &mut cur);
        // No end marker: the binary was cut short.
        if let Some(b) = cur.take() {
            r.bins.push(b);
        }
        assert!(!r.ok());
    }

    #[test]
    fn package_names_come_from_the_package_id() {
        let v = serde_json::json!({"package_id": "path+file:///w/crates/nat#brnet-nat@0.1.0"});
        assert_eq!(package_name(&v, Path::new("/w/crates/nat")), "brnet-nat");
        let v = serde_json::json!({"package_id": "path+file:///w/xtask#0.0.0"});
        assert_eq!(package_name(&v, Path::new("/w/xtask")), "xtask");
    }
}
