//! A throwaway Podman: real containers in a sandbox of their own, never
//! touching the machine.
//!
//! Each [`Sandbox`] is one `unshare --net --mount --pid --fork --mount-proc
//! --propagation private --kill-child` with a tmpfs `/run` (Podman's
//! runroot, `/run/netns`, every backend's state) and `/dev/shm`, an overlay
//! with a tmpfs upper layer on `/var/lib`, and `/sys/fs/cgroup/unified`
//! unmounted in its own mount namespace (crun refuses hybrid cgroups).
//! Podman is configured through `CONTAINERS_CONF` only (its cleanup process
//! runs with a scrubbed environment). Commands enter it with `nsenter`.
//! Dropping the sandbox kills its pid namespace: conmon, the containers
//! and any process a backend started go with it.
//!
//! Shared by the tests of brnet-netavark and brnet-cni (`#[path]`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

/// Which network backend Podman uses.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The netavark contract: this binary as `netavark` (None: Debian's).
    Netavark(Option<PathBuf>),
    /// CNI: this binary as `bridge` before the reference plugins (None:
    /// the reference plugins only).
    Cni(Option<PathBuf>),
    /// No network at all (`--network none` is passed by the caller).
    None,
}

/// The image every test runs: busybox-static with its applets.
pub const IMAGE: &str = "localhost/bb";

const SETUP: &str = r#"
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mkdir -p /run/pm/upper /run/pm/work /run/pm/bin /run/pm/cni-bin /run/pm/net
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=/run/pm/upper,workdir=/run/pm/work /var/lib
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
ip link set lo up
echo ready
exec cat >/dev/null
"#;

const STORAGE_CONF: &str = r#"[storage]
driver = "overlay"
runroot = "/run/pm/runroot"
graphroot = "/run/pm/root"
"#;

/// One throwaway Podman host.
pub struct Sandbox {
    unshare: Child,
    stdin: Option<ChildStdin>,
    /// The sandbox's init, as the machine sees it.
    pub pid: u32,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // EOF ends the sandbox's init; --kill-child ends it when unshare
        // goes. Either takes the whole pid namespace along.
        drop(self.stdin.take());
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// Each command and how long it took, on stderr (shown for a failing
/// test; never asserted).
fn log(what: &str, since: std::time::Instant) {
    let line = what.lines().map(str::trim).collect::<Vec<_>>().join("; ");
    let short: String = line.chars().take(100).collect();
    eprintln!("[{:>6} ms] {short}", since.elapsed().as_millis());
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Sandbox {
    /// A sandbox with Podman configured for `backend` and the image built.
    pub fn new(backend: Backend) -> Sandbox {
        for tool in ["podman", "crun", "conmon", "nsenter", "unshare"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .is_ok_and(|o| o.status.success()),
                "{tool} is missing: apt-get install podman crun busybox-static containernetworking-plugins netavark"
            );
        }
        let mut unshare = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "--kill-child",
                "sh",
                "-c",
                SETUP,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run unshare");
        let stdin = unshare.stdin.take();
        let mut line = String::new();
        let stdout = unshare.stdout.take().expect("unshare's stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the sandbox's ready line");
        assert_eq!(line.trim(), "ready", "the sandbox did not come up");
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                .expect("read unshare's children");
        let pid = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the sandbox's init");
        let sb = Sandbox {
            unshare,
            stdin,
            pid,
        };
        sb.configure(&backend);
        sb.build_image();
        sb
    }

    fn configure(&self, backend: &Backend) {
        let (network, install) = match backend {
            Backend::Netavark(ours) => (
                r#"network_backend = "netavark"
network_config_dir = "/run/pm/net""#
                    .to_owned(),
                ours.as_ref()
                    .map(|p| format!("ln -s {} /run/pm/bin/netavark", p.display()))
                    .unwrap_or_default(),
            ),
            Backend::Cni(ours) => (
                format!(
                    r#"network_backend = "cni"
network_config_dir = "/run/pm/net"
cni_plugin_dirs = [{}"/usr/lib/cni"]"#,
                    if ours.is_some() {
                        r#""/run/pm/cni-bin", "#
                    } else {
                        ""
                    }
                ),
                ours.as_ref()
                    .map(|p| format!("ln -s {} /run/pm/cni-bin/bridge", p.display()))
                    .unwrap_or_default(),
            ),
            Backend::None => (
                r#"network_backend = "netavark"
network_config_dir = "/run/pm/net""#
                    .to_owned(),
                String::new(),
            ),
        };
        let conf = format!(
            r#"[containers]
cgroups = "disabled"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
helper_binaries_dir = ["/run/pm/bin", "/usr/lib/podman"]
[network]
{network}
"#
        );
        self.write("/run/pm/containers.conf", &conf);
        self.write("/run/pm/storage.conf", STORAGE_CONF);
        if !install.is_empty() {
            self.ok(&install);
        }
    }

    /// Write `contents` to `path` inside the sandbox.
    pub fn write(&self, path: &str, contents: &str) {
        let mut child = self
            .command("sh", &["-c", &format!("cat > {path}")])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nsenter");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(contents.as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success(), "write {path}");
    }

    /// The busybox-static image, with no registry.
    fn build_image(&self) {
        let bb = Path::new("/bin/busybox");
        let file = std::fs::read(bb).expect("/bin/busybox (apt-get install busybox-static)");
        assert!(
            !has_interpreter(&file),
            "/bin/busybox is not static: apt-get install busybox-static"
        );
        self.ok(&format!(
            "set -e; r=/run/pm/rootfs; mkdir -p $r/bin $r/www $r/etc
             cp /bin/busybox $r/bin/busybox
             for a in sh httpd wget ping nslookup timeout cat sleep echo ip true hostname; do ln -s busybox $r/bin/$a; done
             echo hello > $r/www/index.html
             tar -C $r -c . | podman import -q - {IMAGE} >/dev/null"
        ));
    }

    /// A command that runs inside the sandbox (its net, mount and pid
    /// namespaces), with Podman's configuration.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("--target")
            .arg(self.pid.to_string())
            .args(["--net", "--mount", "--pid", "--"])
            .arg(program)
            .args(args)
            .env("CONTAINERS_CONF", "/run/pm/containers.conf")
            .env("CONTAINERS_STORAGE_CONF", "/run/pm/storage.conf")
            .stdin(Stdio::null());
        c
    }

    /// Run a shell script inside.
    pub fn sh(&self, script: &str) -> Output {
        let t = std::time::Instant::now();
        let out = self
            .command("sh", &["-c", script])
            .output()
            .expect("run nsenter");
        log(script, t);
        out
    }

    /// Run a shell script that must succeed; its stdout.
    #[track_caller]
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "{script:?} failed ({}): {}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `podman ARGS`.
    pub fn podman(&self, args: &[&str]) -> Output {
        let t = std::time::Instant::now();
        let out = self.command("podman", args).output().expect("run podman");
        log(&format!("podman {}", args.join(" ")), t);
        out
    }

    /// `podman ARGS`, which must succeed; its stdout, trimmed.
    #[track_caller]
    pub fn podman_ok(&self, args: &[&str]) -> String {
        let out = self.podman(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed ({}): {}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_owned()
    }

    /// An HTTP GET from the sandbox's own namespace (busybox wget, bounded
    /// by `timeout`: Debian's `wget -T` crashes); the body, if any.
    pub fn get(&self, url: &str) -> Option<String> {
        let out = self.sh(&format!("timeout 3 busybox wget -q -O - {url}"));
        out.status.success().then(|| text(&out.stdout))
    }

    /// The same GET, retried while the server comes up (a bounded number
    /// of tries; never a timed assertion).
    pub fn get_when_up(&self, url: &str) -> Option<String> {
        for _ in 0..50 {
            if let Some(body) = self.get(url) {
                return Some(body);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// `podman run --rm --network NET IMAGE sh -c SCRIPT`: whether it
    /// succeeded, and its output.
    pub fn in_container(&self, network: &str, script: &str) -> (bool, String) {
        // `; exit $?` keeps sh as the container's PID 1: a command that
        // became PID 1 would ignore the signal of `timeout`.
        let script = format!("{script}; exit $?");
        let out = self.podman(&[
            "run",
            "--rm",
            "--network",
            network,
            IMAGE,
            "sh",
            "-c",
            &script,
        ]);
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }

    /// A container's address on `network`.
    pub fn address(&self, container: &str, network: &str) -> String {
        self.podman_ok(&[
            "inspect",
            container,
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        ])
    }

    /// `ip -o link` inside.
    pub fn links(&self) -> String {
        self.ok("ip -o link show")
    }

    /// `nft list ruleset` inside.
    pub fn ruleset(&self) -> String {
        self.ok("nft list ruleset")
    }

    /// A file inside the sandbox's mount namespace, read from outside.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(format!("/proc/{}/root{path}", self.pid)).ok()
    }
}

/// Whether an ELF64 file asks for a program interpreter (`PT_INTERP`):
/// a dynamic executable, useless in an image without a libc.
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let phoff = usize::try_from(u64_at(0x20)).unwrap_or(usize::MAX);
    let (size, count) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    (0..count).any(|i| {
        let at = phoff.saturating_add(i * size);
        elf.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
    })
}

/// The parts of a `podman run -d ... httpd` a test checks.
pub struct Web {
    /// The container's name.
    pub name: String,
    /// Its address.
    pub ip: String,
}

/// `podman run -d --name NAME --network NET -p HOST:80 IMAGE httpd`, up.
pub fn run_web(sb: &Sandbox, name: &str, network: &str, host_port: u16) -> Web {
    sb.podman_ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "-p",
        &format!("{host_port}:80"),
        IMAGE,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let ip = sb.address(name, network);
    assert!(!ip.is_empty(), "{name} has no address on {network}");
    assert_eq!(
        sb.get_when_up(&format!("http://127.0.0.1:{host_port}/"))
            .as_deref(),
        Some("hello\n"),
        "127.0.0.1:{host_port} -> {name}"
    );
    Web {
        name: name.to_owned(),
        ip,
    }
}
