//! The name resolver: one process for every DNS-enabled network of a state
//! directory (`brnet --state-dir DIR dns serve`), answering on port 53 of
//! each network's gateway address.
//!
//! bridge-net starts it when a DNS-enabled network gets its first
//! endpoint, and after every change to such a network tells it to re-read
//! the state over a control socket in the state directory (`resolver.sock`)
//! and waits for its answer: when `connect` returns, the new name resolves;
//! when `disconnect` returns, it no longer does. The resolver exits by
//! itself when no DNS-enabled network has an endpoint left, or when its
//! state directory goes away; a lock (`resolver.lock`) ensures there is
//! never two, and reconcile starts it again if it died.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::BridgeNet;
use crate::error::{Error, Result};

/// The control socket, in the state directory.
pub const RESOLVER_SOCKET: &str = "resolver.sock";
/// The resolver's lock, in the state directory.
pub const RESOLVER_LOCK: &str = "resolver.lock";
/// The resolver's pid, in the state directory.
pub const RESOLVER_PID: &str = "resolver.pid";
/// The resolver's log, in the state directory.
pub const RESOLVER_LOG: &str = "resolver.log";

/// Which program serves names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ResolverCommand {
    /// `brnet` next to the running program (or one directory up, for
    /// tests under `target/*/deps`), else on `PATH`; no resolver when none
    /// is found.
    #[default]
    Auto,
    /// This `brnet` binary.
    Path(PathBuf),
    /// No resolver: DNS-enabled networks get no name service.
    Off,
}

impl ResolverCommand {
    /// The binary to run, if any.
    pub fn binary(&self) -> Option<PathBuf> {
        match self {
            ResolverCommand::Off => None,
            ResolverCommand::Path(p) => Some(p.clone()),
            ResolverCommand::Auto => {
                let exe = std::env::current_exe().ok()?;
                let here = exe.parent()?;
                let mut dirs: Vec<PathBuf> = [Some(here), here.parent()]
                    .into_iter()
                    .flatten()
                    .map(Path::to_path_buf)
                    .collect();
                if let Some(path) = std::env::var_os("PATH") {
                    dirs.extend(std::env::split_paths(&path));
                }
                dirs.into_iter()
                    .map(|d| d.join("brnet"))
                    .find(|p| p.is_file())
            }
        }
    }
}

/// Ask the resolver of `state_dir` to re-read the state (or to stop).
/// `Ok(false)` when no resolver listens there.
pub fn tell(state_dir: &Path, what: &str, timeout: Duration) -> Result<bool> {
    let path = state_dir.join(RESOLVER_SOCKET);
    let mut s = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(_) => return Ok(false),
    };
    let io = |e: std::io::Error| Error::state_io("talk to the resolver at", &path, &e);
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    s.write_all(format!("{what}\n").as_bytes()).map_err(io)?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).map_err(io)?;
    Ok(line.trim() == "ok")
}

impl BridgeNet {
    /// Whether some DNS-enabled network has an endpoint.
    pub(crate) fn dns_wanted(&self) -> bool {
        let st = &self.store.state;
        st.networks
            .iter()
            .any(|n| n.rec.options.dns == Some(true) && st.endpoints_of(&n.rec.id).next().is_some())
    }

    /// Bring the resolver in step with the state (the caller holds the
    /// lock and has just changed a DNS-enabled network): tell a running
    /// one to re-read it, or start one when it is wanted. `Ok(false)` when
    /// names cannot be served (no resolver binary, or it did not start).
    pub(crate) fn sync_resolver(&mut self) -> Result<bool> {
        let dir = self.store.dir().to_owned();
        let ask = || tell(&dir, "sync", Duration::from_secs(3)).unwrap_or(false);
        for _attempt in 0..3 {
            if ask() {
                return Ok(true);
            }
            if !self.dns_wanted() {
                return Ok(true);
            }
            let Some(bin) = self.config.resolver.binary() else {
                return Ok(false);
            };
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(RESOLVER_LOG))
                .map_err(|e| Error::state_io("open", dir.join(RESOLVER_LOG), &e))?;
            let mut child = Command::new(&bin)
                .arg("--state-dir")
                .arg(&dir)
                .args(["dns", "serve"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                // Its own process group: a terminal's ^C for the caller
                // does not stop the resolver of every container.
                .process_group(0)
                .spawn()
                .map_err(|e| Error::state_io("start the resolver", &bin, &e))?;
            // It answers on the control socket once it has read the state
            // and listens on every gateway.
            let started = Instant::now();
            let mut answered = false;
            while started.elapsed() < Duration::from_secs(5) {
                if ask() {
                    answered = true;
                    break;
                }
                // Gone already: another one held the lock (and is on its
                // way out), or it could not start. Try again.
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // Reap it whenever it exits (it outlives short-lived callers,
            // who leave that to init).
            let _ = std::thread::Builder::new()
                .name("brnet-resolver-reaper".into())
                .spawn(move || {
                    let _ = child.wait();
                });
            if answered {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Stop the resolver of this state directory (it also stops by itself
    /// when no DNS-enabled network has endpoints). `Ok(false)` when none
    /// was running.
    pub fn stop_resolver(&mut self) -> Result<bool> {
        tell(self.store.dir(), "stop", Duration::from_secs(3))
    }

    /// Whether a resolver answers for this state directory.
    pub fn resolver_running(&self) -> bool {
        tell(self.store.dir(), "ping", Duration::from_secs(1)).unwrap_or(false)
    }
}
