//! `cargo xtask test`: the README's test command. Finds which of the
//! Debian packages the tests use are missing, installs them (`apt-get
//! update` + `apt-get install`, as root, saying what it installs), then
//! runs `cargo test --workspace`. Without root or apt-get it says in one
//! line what to install, and stops (unless `BRNET_SKIP_PRIVILEGED=1`: the
//! tests that need them are skipped then).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `cargo xtask test`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Say what is missing and what would run; install and run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not install anything: run the tests with what is there.
    #[arg(long, conflicts_with = "dry_run")]
    no_install: bool,
    /// Arguments for `cargo test` instead of `--workspace` (e.g. `-p
    /// brnet-cli -- --test-threads 1`).
    #[arg(last = true, value_name = "CARGO-TEST-ARGS")]
    cargo_args: Vec<String>,
}

/// How a package is found present.
#[derive(Debug, Clone, Copy)]
enum Probe {
    /// A program on the search path.
    Program(&'static str),
    /// An executable file at this path.
    File(&'static str),
    /// A statically linked busybox at /bin/busybox (podman's tests copy
    /// it into images).
    StaticBusybox,
}

/// A Debian package the tests, the demo or CI use, and what shows it is
/// installed. The same list `.ci/run` installed before it called us.
const PACKAGES: &[(&str, Probe, &str)] = &[
    ("iproute2", Probe::Program("ip"), "links and namespaces"),
    ("nftables", Probe::Program("nft"), "the nft-cmd backend"),
    (
        "iptables",
        Probe::Program("iptables-restore"),
        "the iptables backend",
    ),
    ("socat", Probe::Program("socat"), "traffic checks"),
    ("iputils-ping", Probe::Program("ping"), "traffic checks"),
    ("gcc", Probe::Program("cc"), "the kernel-floor baseline"),
    ("bind9-dnsutils", Probe::Program("dig"), "DNS tests"),
    ("bats", Probe::Program("bats"), "netavark's bats suite"),
    ("jq", Probe::Program("jq"), "netavark's bats suite"),
    ("ncat", Probe::Program("ncat"), "netavark's bats suite"),
    ("podman", Probe::Program("podman"), "Podman tests"),
    ("crun", Probe::Program("crun"), "Podman tests"),
    (
        "containernetworking-plugins",
        Probe::File("/usr/lib/cni/portmap"),
        "CNI tests and benches",
    ),
    (
        "netavark",
        Probe::File("/usr/lib/podman/netavark"),
        "netavark tests and benches",
    ),
    ("busybox-static", Probe::StaticBusybox, "container images"),
    (
        "qemu-system-x86",
        Probe::Program("qemu-system-x86_64"),
        "cargo xtask kernels",
    ),
    (
        "docker.io",
        Probe::Program("dockerd"),
        "Docker driver tests",
    ),
    (
        "docker-compose",
        Probe::Program("docker-compose"),
        "Docker driver tests",
    ),
    (
        "etcd-server",
        Probe::Program("etcd"),
        "overlay multi-host tests",
    ),
];

/// Where programs are looked for: `$BRNET_XTASK_SEARCH_PATH` when set (the
/// tests use it to pretend a fresh machine), else `$PATH` and the sbin
/// directories a non-root `$PATH` often lacks.
fn search_dirs() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("BRNET_XTASK_SEARCH_PATH") {
        return std::env::split_paths(&p).collect();
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_program(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

/// Whether an ELF file asks for a program interpreter (is dynamically
/// linked): a PT_INTERP entry in its program headers.
fn has_interpreter(p: &Path) -> bool {
    let Ok(b) = std::fs::read(p) else {
        return false;
    };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])) as usize)
            .unwrap_or(0)
    };
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        b.get(o..o + 4).is_some_and(|t| t == 3u32.to_le_bytes())
    })
}

fn present(probe: Probe, dirs: &[PathBuf]) -> bool {
    match probe {
        Probe::Program(name) => find_program(name, dirs).is_some(),
        Probe::File(path) => is_executable(Path::new(path)),
        Probe::StaticBusybox => {
            let p = Path::new("/bin/busybox");
            is_executable(p) && !has_interpreter(p)
        }
    }
}

/// The packages missing on this machine, in the list's order.
fn missing() -> Vec<&'static str> {
    let dirs = search_dirs();
    PACKAGES
        .iter()
        .filter(|(_, probe, _)| !present(*probe, &dirs))
        .map(|(name, _, _)| *name)
        .collect()
}

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

/// Install `packages` with apt-get, no service starting meanwhile
/// (installing docker.io must not start the machine's own dockerd, which
/// would rewrite the machine's firewall).
fn install(packages: &[&str], apt: &Path) -> Result<(), String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let status = Command::new(apt)
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
    eprintln!("==> apt-get update");
    run(&["update", "-qq"])?;
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(policy, "#!/bin/sh\nexit 101\n")
            .and_then(|()| std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755)))
            .map_err(|e| format!("write {}: {e}", policy.display()))?;
    }
    eprintln!("==> apt-get install {}", packages.join(" "));
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(packages);
    let result = run(&args);
    if ours {
        let _ = std::fs::remove_file(policy);
    }
    result
}

/// Run the task.
pub fn run(a: &TestArgs) -> Result<(), String> {
    let need = missing();
    let cargo_args: Vec<OsString> = if a.cargo_args.is_empty() {
        vec!["--workspace".into()]
    } else {
        a.cargo_args.iter().map(OsString::from).collect()
    };
    let shown = cargo_args
        .iter()
        .map(|s| s.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let apt = find_program("apt-get", &search_dirs())
        .or_else(|| Some(PathBuf::from("/usr/bin/apt-get")).filter(|p| is_executable(p)));
    if need.is_empty() {
        eprintln!("==> test: every package the tests use is installed");
    } else if a.dry_run {
        eprintln!("==> test: would apt-get install {}", need.join(" "));
    } else if a.no_install {
        eprintln!(
            "==> test: not installing {} (--no-install): the tests that use them fail",
            need.join(" ")
        );
    } else {
        match (&apt, is_root()) {
            (Some(apt), true) => install(&need, apt)?,
            (apt, _) => {
                let list = need.join(" ");
                let line = if apt.is_some() {
                    format!(
                        "the tests need {list}, not installed: run `sudo -E cargo xtask test` \
                         to install them, or `sudo apt-get install {list}`"
                    )
                } else {
                    format!(
                        "the tests need {list} (Debian package names), not installed and no \
                         apt-get here: install them or your system's equivalents"
                    )
                };
                if std::env::var_os("BRNET_SKIP_PRIVILEGED").is_some_and(|v| v == "1") {
                    eprintln!("==> test: {line}; BRNET_SKIP_PRIVILEGED=1: going on");
                } else {
                    return Err(line);
                }
            }
        }
    }
    eprintln!("==> cargo test {shown}");
    if a.dry_run {
        return Ok(());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("test")
        .args(&cargo_args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo test: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo test {shown} failed ({status})"))
    }
}
