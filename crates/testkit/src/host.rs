//! A throwaway host for a real client (Podman, dockerd): its own pid, net
//! and mount namespaces, never touching the machine.
//!
//! [`Host::start`] runs `unshare --net --mount --pid --fork --mount-proc
//! --propagation private --kill-child sh -c SETUP`: the setup script mounts
//! what the client needs (a tmpfs `/run`, overlays with a tmpfs upper
//! layer), brings `lo` up, prints `ready` and waits on its stdin. Commands
//! enter the host with `nsenter`. Dropping (or [`Host::stop`]) closes that
//! stdin and kills `unshare`: the pid namespace, with every daemon, shim,
//! container and plugin in it, goes with it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::text;

/// One throwaway host.
#[derive(Debug)]
pub struct Host {
    unshare: Child,
    stdin: Option<ChildStdin>,
    /// The host's init, as the machine sees it.
    pub pid: u32,
    env: Vec<(String, String)>,
    logs: Vec<String>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Each command and how long it took, on stderr (shown for a failing
/// test; never asserted).
fn log(what: &str, since: Instant) {
    let line = what.lines().map(str::trim).collect::<Vec<_>>().join("; ");
    let short: String = line.chars().take(110).collect();
    eprintln!("[{:>6} ms] {short}", since.elapsed().as_millis());
}

/// Panic with `hint` (what to install) unless every one of `tools` is on
/// PATH.
#[track_caller]
pub fn require_tools(tools: &[&str], hint: &str) {
    for tool in tools {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: {hint}"
        );
    }
}

impl Host {
    /// Start a host whose init runs `setup` (see the module's docs; it
    /// must print `ready` and then read its stdin until EOF).
    pub fn start(setup: &str) -> Host {
        require_tools(&["nsenter", "unshare"], "apt-get install util-linux");
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
                setup,
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
        Host {
            unshare,
            stdin,
            pid,
            env: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Set `key=value` for every command run inside.
    pub fn with_env(mut self, key: &str, value: &str) -> Host {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Files inside whose last lines a failure shows.
    pub fn with_logs(mut self, paths: &[&str]) -> Host {
        self.logs.extend(paths.iter().map(|p| (*p).to_owned()));
        self
    }

    /// End the host and everything in its pid namespace (idempotent).
    pub fn stop(&mut self) {
        // EOF ends the sandbox's init; --kill-child ends it when unshare
        // goes. Either takes the whole pid namespace along.
        drop(self.stdin.take());
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }

    /// A command that runs inside (the host's net, mount and pid
    /// namespaces), with the host's environment.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("--target")
            .arg(self.pid.to_string())
            .args(["--net", "--mount", "--pid", "--"])
            .arg(program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    /// Run `program ARGS` inside; its output (logged with its duration).
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        let t = Instant::now();
        let out = self
            .command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        log(&format!("{program} {}", args.join(" ")), t);
        out
    }

    /// `program ARGS`, which must succeed; its stdout, trimmed.
    #[track_caller]
    pub fn run_ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}): {}{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr),
            self.diagnostics()
        );
        text(&out.stdout).trim().to_owned()
    }

    /// `program ARGS`, which must fail; its stderr.
    #[track_caller]
    pub fn run_err(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            !out.status.success(),
            "{program} {args:?} succeeded: {}",
            text(&out.stdout)
        );
        text(&out.stderr)
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

    /// Run a shell script that must succeed; its stdout.
    #[track_caller]
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "{script:?} failed ({}): {}{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr),
            self.diagnostics()
        );
        text(&out.stdout)
    }

    /// The last lines of the host's log files (see [`Host::with_logs`]).
    pub fn diagnostics(&self) -> String {
        self.logs
            .iter()
            .map(|p| {
                let name = p.rsplit('/').next().unwrap_or(p);
                format!("\n--- {name} ---\n{}", self.tail(p))
            })
            .collect()
    }

    /// The last 40 lines of a file inside.
    pub fn tail(&self, path: &str) -> String {
        let all = self
            .read(path)
            .map(|b| text(&b))
            .unwrap_or_else(|| format!("({path} unreadable)"));
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Poll `check` (a shell condition) until it holds: a bounded number
    /// of tries (30 s in all), never a timed assertion.
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
        panic!("waited in vain for {what}{}", self.diagnostics());
    }

    /// Write `contents` to `path` inside.
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

    /// A file inside the host's mount namespace, read from outside.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(format!("/proc/{}/root{path}", self.pid)).ok()
    }

    /// An HTTP GET from the host's own namespace (busybox wget, bounded by
    /// `timeout`: Debian's `wget -T` crashes); the body, if any.
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

    /// Build the busybox-static image (no registry): a root file system in
    /// `root` (inside) with busybox and its applets, `/www/index.html`
    /// saying `hello`, piped as a tarball into `import` (e.g. `podman
    /// import -q - localhost/bb`).
    pub fn busybox_image(&self, root: &str, import: &str) {
        let file =
            std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
        assert!(
            !has_interpreter(&file),
            "/bin/busybox is not static: apt-get install busybox-static"
        );
        self.ok(&format!(
            "set -e; r={root}; mkdir -p $r/bin $r/www $r/etc
             cp /bin/busybox $r/bin/busybox
             for a in sh httpd wget ping nslookup timeout cat sleep echo ip true hostname nc; do ln -s busybox $r/bin/$a; done
             echo hello > $r/www/index.html
             tar -C $r -c . | {import} >/dev/null"
        ));
    }
}

/// Whether an ELF64 file asks for a program interpreter (`PT_INTERP`):
/// a dynamic executable, useless in an image without a libc.
pub fn has_interpreter(elf: &[u8]) -> bool {
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
