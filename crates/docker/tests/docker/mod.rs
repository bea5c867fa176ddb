//! A throwaway Docker host: dockerd 20.10 and containerd with real
//! containers, in a sandbox of their own, never touching the machine's
//! network, Docker or iptables.
//!
//! Each [`Sandbox`] is one `unshare --net --mount --pid --fork
//! --mount-proc --propagation private --kill-child` with a tmpfs `/run`
//! (the plugin socket `/run/docker/plugins/brnet.sock`, dockerd's and
//! containerd's state and exec roots, `/run/netns`), and overlays with a
//! tmpfs upper layer on `/var/lib` (bridge-net's state) and `/etc`
//! (dockerd writes there). dockerd runs with `--iptables` (its default),
//! so it sets the FORWARD policy to DROP and turns bridge-nf-call on —
//! inside the sandbox's network namespace only. Containers' cgroups go
//! under `brnet-test-<pid>` (removed on drop). Commands enter the sandbox
//! with `nsenter`. Dropping it kills its pid namespace: dockerd,
//! containerd, the shims, the containers and the plugin go with it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The image every test runs: busybox-static with its applets.
pub const IMAGE: &str = "bb";

const SETUP: &str = r#"
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dk/upper /run/dk/work /run/dk/eupper /run/dk/ework /run/docker/plugins /run/netns
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=/run/dk/upper,workdir=/run/dk/work /var/lib
mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/dk/eupper,workdir=/run/dk/ework /etc
ip link set lo up
echo ready
exec cat >/dev/null
"#;

/// One throwaway Docker host.
pub struct Sandbox {
    unshare: Child,
    stdin: Option<ChildStdin>,
    /// The sandbox's init, as the machine sees it.
    pub pid: u32,
    cgroup: String,
    plugin: String,
    live_restore: bool,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        // The containers' cgroups, now empty (their processes died with
        // the pid namespace), deepest first.
        for _ in 0..50 {
            if remove_cgroups(&self.cgroup) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A shell condition: the process in `pidfile` has exited (the sandbox's
/// init does not reap, so a zombie counts as gone).
fn gone(pidfile: &str) -> String {
    format!("p=$(cat {pidfile}); ! kill -0 $p 2>/dev/null || grep -q '^State:.*Z' /proc/$p/status")
}

/// Remove every `/sys/fs/cgroup/*/NAME` tree; whether all are gone.
fn remove_cgroups(name: &str) -> bool {
    fn rm(dir: &Path) -> bool {
        let mut ok = true;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    ok &= rm(&e.path());
                }
            }
        }
        ok && (std::fs::remove_dir(dir).is_ok() || !dir.exists())
    }
    let mut all = true;
    if let Ok(ctrls) = std::fs::read_dir("/sys/fs/cgroup") {
        for c in ctrls.flatten() {
            let d = c.path().join(name);
            if d.exists() {
                all &= rm(&d);
            }
        }
    }
    all
}

fn log(what: &str, since: Instant) {
    let line = what.lines().map(str::trim).collect::<Vec<_>>().join("; ");
    let short: String = line.chars().take(110).collect();
    eprintln!("[{:>6} ms] {short}", since.elapsed().as_millis());
}

/// Bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Sandbox {
    /// A sandbox running `plugin` (this crate's binary), containerd and
    /// dockerd, with the busybox image imported.
    pub fn new(plugin: &str) -> Sandbox {
        Sandbox::with(plugin, false)
    }

    /// The same, dockerd with `--live-restore` (containers outlive it).
    pub fn with(plugin: &str, live_restore: bool) -> Sandbox {
        for tool in [
            "dockerd",
            "containerd",
            "docker",
            "docker-compose",
            "nsenter",
            "unshare",
            "iptables",
            "socat",
        ] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .is_ok_and(|o| o.status.success()),
                "{tool} is missing: apt-get install docker.io docker-compose iptables socat busybox-static"
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
        let pid: u32 = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the sandbox's init");
        let sb = Sandbox {
            unshare,
            stdin,
            pid,
            cgroup: format!("brnet-test-{pid}"),
            plugin: plugin.to_owned(),
            live_restore,
        };
        sb.start_plugin();
        sb.ok(
            "containerd --root /run/dk/ctd --state /run/dk/ctd-state --address /run/dk/containerd.sock \
             >/run/dk/containerd.log 2>&1 &",
        );
        sb.start_dockerd();
        sb.build_image();
        sb
    }

    /// Start the plugin (logging every call to /run/dk/plugin.log).
    pub fn start_plugin(&self) {
        self.ok(&format!(
            "{} --debug >>/run/dk/plugin.log 2>&1 & echo $! >/run/dk/plugin.pid",
            self.plugin
        ));
        self.wait_for(
            "the plugin's socket",
            "test -S /run/docker/plugins/brnet.sock",
        );
    }

    /// Stop the plugin with SIGTERM and wait until it is gone.
    pub fn stop_plugin(&self) {
        self.ok("kill $(cat /run/dk/plugin.pid)");
        self.wait_for("the plugin to exit", &gone("/run/dk/plugin.pid"));
    }

    /// Start dockerd and wait until it answers.
    pub fn start_dockerd(&self) {
        let live = if self.live_restore {
            " --live-restore"
        } else {
            ""
        };
        self.ok(&format!(
            "dockerd --containerd /run/dk/containerd.sock --data-root /run/dk/data \
             --exec-root /run/dk/exec -H unix:///run/dk/docker.sock --pidfile /run/dk/docker.pid \
             --iptables=true --cgroup-parent {}{live} >>/run/dk/dockerd.log 2>&1 &",
            self.cgroup
        ));
        self.wait_for("dockerd", "docker version >/dev/null 2>&1");
    }

    /// Stop dockerd with `signal` (TERM: a clean stop; KILL: a crash) and
    /// wait until it is gone.
    pub fn stop_dockerd(&self, signal: &str) {
        self.ok(&format!("kill -{signal} $(cat /run/dk/docker.pid)"));
        self.wait_for("dockerd to exit", &gone("/run/dk/docker.pid"));
        self.ok("rm -f /run/dk/docker.pid /run/dk/docker.sock");
    }

    /// Poll `check` (a shell condition) until it holds: a bounded number
    /// of tries, never a timed assertion.
    #[track_caller]
    pub fn wait_for(&self, what: &str, check: &str) {
        for _ in 0..300 {
            if self
                .command("sh", &["-c", check])
                .status()
                .is_ok_and(|s| s.success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "waited in vain for {what}\n--- dockerd.log ---\n{}\n--- plugin.log ---\n{}",
            self.tail("/run/dk/dockerd.log"),
            self.tail("/run/dk/plugin.log")
        );
    }

    /// The last lines of a file inside.
    pub fn tail(&self, path: &str) -> String {
        let all = self
            .read(path)
            .map(|b| text(&b))
            .unwrap_or_else(|| format!("({path} unreadable)"));
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The busybox-static image, with no registry.
    fn build_image(&self) {
        let bb =
            std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
        assert!(
            !has_interpreter(&bb),
            "/bin/busybox is not static: apt-get install busybox-static"
        );
        self.ok(&format!(
            "set -e; r=/run/dk/rootfs; mkdir -p $r/bin $r/www $r/etc
             cp /bin/busybox $r/bin/busybox
             for a in sh httpd wget ping nslookup timeout cat sleep echo ip true hostname nc; do ln -s busybox $r/bin/$a; done
             echo hello > $r/www/index.html
             tar -C $r -c . | docker import - {IMAGE} >/dev/null"
        ));
    }

    /// A command inside the sandbox (net, mount and pid namespaces), with
    /// `DOCKER_HOST` set.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("--target")
            .arg(self.pid.to_string())
            .args(["--net", "--mount", "--pid", "--"])
            .arg(program)
            .args(args)
            .env("DOCKER_HOST", "unix:///run/dk/docker.sock")
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .stdin(Stdio::null());
        c
    }

    /// Run a shell script inside.
    pub fn sh(&self, script: &str) -> Output {
        let t = Instant::now();
        let out = self
            .command("sh", &["-c", script])
            .output()
            .expect("run nsenter");
        log(script, t);
        out
    }

    /// A shell script that must succeed; its stdout.
    #[track_caller]
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "{script:?} failed ({}): {}{}\n--- plugin.log ---\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr),
            self.tail("/run/dk/plugin.log")
        );
        text(&out.stdout)
    }

    /// `docker ARGS`.
    pub fn docker(&self, args: &[&str]) -> Output {
        let t = Instant::now();
        let out = self.command("docker", args).output().expect("run docker");
        log(&format!("docker {}", args.join(" ")), t);
        out
    }

    /// `docker ARGS`, which must succeed; its stdout, trimmed.
    #[track_caller]
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}): {}{}\n--- plugin.log ---\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr),
            self.tail("/run/dk/plugin.log")
        );
        text(&out.stdout).trim().to_owned()
    }

    /// `docker ARGS`, which must fail; its stderr.
    #[track_caller]
    pub fn docker_err(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            !out.status.success(),
            "docker {args:?} succeeded: {}",
            text(&out.stdout)
        );
        text(&out.stderr)
    }

    /// `docker exec NAME sh -c SCRIPT`: whether it succeeded, and its
    /// output.
    pub fn exec(&self, name: &str, script: &str) -> (bool, String) {
        let out = self.docker(&["exec", name, "sh", "-c", script]);
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }

    /// `docker run -d --name NAME --network NET [ARGS] IMAGE httpd`: a web
    /// server answering `hello`.
    #[track_caller]
    pub fn run_web(&self, name: &str, network: &str, extra: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--name", name, "--network", network];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"]);
        self.docker_ok(&args);
        self.address(name, network)
    }

    /// A container's address on `network`.
    pub fn address(&self, container: &str, network: &str) -> String {
        self.docker_ok(&[
            "inspect",
            container,
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        ])
    }

    /// An HTTP GET from the sandbox's own namespace (busybox wget bounded
    /// by `timeout`); the body, if any.
    pub fn get(&self, url: &str) -> Option<String> {
        let out = self.sh(&format!("timeout 3 busybox wget -q -O - {url}"));
        out.status.success().then(|| text(&out.stdout))
    }

    /// The same GET from the namespace `outside` (see [`outside`]).
    pub fn get_outside(&self, url: &str) -> Option<String> {
        let out = self.sh(&format!(
            "ip netns exec outside timeout 3 busybox wget -q -O - {url}"
        ));
        out.status.success().then(|| text(&out.stdout))
    }

    /// The same GET, retried while the server comes up (bounded).
    pub fn get_when_up(&self, url: &str) -> Option<String> {
        for _ in 0..50 {
            if let Some(body) = self.get(url) {
                return Some(body);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// A namespace `outside` beyond the host: 198.51.100.2/24 behind the
    /// sandbox's 198.51.100.1 (veth `o-out`), with a TCP server on 9000
    /// that answers with the address it sees the client at.
    pub fn outside(&self) {
        self.ok(
            "set -e; ip netns add outside
             ip link add o-out type veth peer name eth0 netns outside
             sysctl -qw net.ipv6.conf.o-out.disable_ipv6=1
             ip addr add 198.51.100.1/24 dev o-out; ip link set o-out up
             ip -n outside addr add 198.51.100.2/24 dev eth0
             ip -n outside link set eth0 up; ip -n outside link set lo up
             ip -n outside route add default via 198.51.100.1
             ip netns exec outside socat TCP-LISTEN:9000,fork,reuseaddr SYSTEM:'echo peer $SOCAT_PEERADDR' >/dev/null 2>&1 &",
        );
        self.wait_for(
            "the outside server",
            "ip netns exec outside sh -c 'ss -ltn | grep -q :9000'",
        );
    }

    /// What a test compares before the first network and after the last:
    /// link names, addresses, routes, the nftables ruleset (counters
    /// dropped) and the iptables rules.
    pub fn picture(&self) -> String {
        let links = self.ok("ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort");
        // IPv6 link-local addresses and their routes are left out: the
        // kernel adds them on its own, a moment after a link comes up.
        let addrs =
            self.ok("ip -o addr show | awk '{print $2, $3, $4}' | grep -v ' fe80::' | sort");
        let routes = self.ok("ip route show table all | grep -v 'fe80::' | sort");
        let nft = self.ok(
            "nft list ruleset | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' | sort",
        );
        let ipt = self.ok("iptables -S; iptables -t nat -S");
        format!(
            "--- links\n{links}--- addresses\n{addrs}--- routes\n{routes}--- nft\n{nft}--- iptables\n{ipt}"
        )
    }

    /// The endpoints and networks in bridge-net's state.
    pub fn state(&self) -> bridge_net::state::State {
        let bytes = self
            .read("/var/lib/brnet/docker/state.json")
            .unwrap_or_default();
        if bytes.is_empty() {
            return bridge_net::state::State::default();
        }
        bridge_net::state::State::parse(&bytes).expect("a readable state")
    }

    /// A file inside the sandbox's mount namespace, read from outside.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(format!("/proc/{}/root{path}", self.pid)).ok()
    }

    /// Write a file inside.
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

    /// One raw call to the plugin: `POST /METHOD` with `body`; the status
    /// line and the body of the answer.
    pub fn call(&self, method: &str, body: &str) -> String {
        self.ok(&format!(
            "printf 'POST /{method} HTTP/1.1\\r\\nHost: plugin\\r\\nContent-Length: {}\\r\\nConnection: close\\r\\n\\r\\n%s' '{}' \
             | socat -t 5 - UNIX-CONNECT:/run/docker/plugins/brnet.sock",
            body.len(),
            body.replace('\'', "'\\''")
        ))
    }
}

/// Whether an ELF64 file asks for a program interpreter (`PT_INTERP`).
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
