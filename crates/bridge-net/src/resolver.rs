//! The name resolver: one process for every DNS-enabled network of a state
//! directory — `brnet-dns`, the binary of the brnet-dns crate (as
//! aardvark-dns is netavark's) — answering on port 53 of each network's
//! gateway address. The library needs no binary of a crate above it: the
//! resolver is the DNS side's, and the embedder may name it
//! ([`ResolverCommand::Path`]) or turn it off.
//!
//! bridge-net starts it when a DNS-enabled network gets its first
//! endpoint, and after every change to such a network writes what to serve
//! and tells it to read it again over a control socket (`resolver.sock`),
//! waiting for its answer: when `connect` returns, the new name resolves;
//! when `disconnect` returns, it no longer does. What to serve is on disk,
//! where a resolver (re)started later reads it: the spec
//! ([`brnet_dns::serve::Spec`], `resolver.json` in the state directory),
//! written whole when a network's names change as a whole (its first
//! endpoint, its last, its settings, other hosts' names), and the journal
//! (`resolver.journal`), one line appended per endpoint connected or
//! disconnected in between, so that a connect or disconnect costs the
//! same with 1000 endpoints as with one. When the journal outgrows the
//! spec, the next change writes the spec whole instead (amortised: a
//! constant per call). With no resolver to tell (none running, and no
//! binary to start), the journal is still kept: one started later serves
//! every name. The resolver exits by
//! itself when no DNS-enabled network has an endpoint left, or when its
//! state directory goes away; a lock (`resolver.lock`) ensures there is
//! never two, and reconcile starts it again if it died. The protocol is
//! [`brnet_dns::serve`]'s.

use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brnet_dns::serve::{Change, Journal, Spec, SpecEntry, SpecNetwork};

use crate::BridgeNet;
use crate::error::{Error, Result};
use crate::state::{EndpointRecord, State};

/// The journal is folded into a new spec once it is this many bytes
/// longer than the spec (a spec line is ~100 bytes per endpoint, a journal
/// line ~150): the whole rewrite, O(endpoints), comes at most once per
/// O(endpoints) changes.
const JOURNAL_SLACK: u64 = 64 * 1024;

pub use brnet_dns::serve::{
    JOURNAL_FILE as RESOLVER_JOURNAL, LOCK as RESOLVER_LOCK, LOG as RESOLVER_LOG,
    PID as RESOLVER_PID, SOCKET as RESOLVER_SOCKET, SPEC_FILE as RESOLVER_SPEC,
};

/// The resolver binaries looked for, in order: the DNS side's own, then
/// the `brnet` CLI (whose `dns serve` is the same server).
const RESOLVER_NAMES: [&str; 2] = ["brnet-dns", "brnet"];

/// Which program serves names. It is run as `PROGRAM --state-dir DIR dns
/// serve` (the command line of `brnet-dns` and of `brnet dns serve`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ResolverCommand {
    /// `brnet-dns` (else `brnet`) next to the running program (or one
    /// directory up, for tests under `target/*/deps`), else on `PATH`; no
    /// resolver when none is found.
    #[default]
    Auto,
    /// This program.
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
                RESOLVER_NAMES
                    .iter()
                    .find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
            }
        }
    }
}

/// Ask the resolver of `state_dir` to read its spec again (`sync`), or to
/// stop (`stop`). `Ok(false)` when no resolver listens there.
pub fn tell(state_dir: &Path, what: &str, timeout: Duration) -> Result<bool> {
    brnet_dns::serve::tell(state_dir, what, timeout).map_err(|e| {
        Error::state_io(
            "talk to the resolver at",
            state_dir.join(RESOLVER_SOCKET),
            &e,
        )
    })
}

/// What the resolver serves: the DNS-enabled networks' endpoints (a
/// network without endpoints has nothing to serve, and no listener).
pub fn spec(state: &State) -> Spec {
    let mut spec = Spec::default();
    for net in state
        .networks
        .iter()
        .filter(|n| n.rec.options.dns == Some(true))
    {
        // From the records' keys: only an endpoint with aliases is
        // decoded.
        let entries: Vec<SpecEntry> = state
            .endpoints
            .all_keys()
            .filter(|k| k.network == net.rec.id)
            .map(|k| SpecEntry {
                name: k.container.to_owned(),
                container: k.container_id.to_owned(),
                addrs: k
                    .ipv4
                    .map(|a| IpAddr::V4(a.addr()))
                    .into_iter()
                    .chain(k.ipv6.map(|a| IpAddr::V6(a.addr())))
                    .collect(),
                aliases: match k.aliased {
                    true => state
                        .endpoints
                        .get(k.id)
                        .map(|e| e.aliases.clone())
                        .unwrap_or_default(),
                    false => Vec::new(),
                },
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        spec.listen.extend(net.gateway4());
        spec.listen.extend(net.gateway6());
        spec.networks.push(SpecNetwork {
            name: net.rec.name.clone(),
            domain: net.rec.options.dns_domain.clone(),
            forward: !net.rec.options.internal,
            entries,
            upstreams: net.rec.options.dns_servers.clone(),
        });
    }
    spec
}

/// What the resolver serves for one endpoint (as [`spec`] has it).
fn entry(ep: &EndpointRecord) -> SpecEntry {
    SpecEntry {
        name: ep.container.clone(),
        container: ep.container_id.clone(),
        addrs: ep
            .ipv4
            .map(|a| IpAddr::V4(a.addr()))
            .into_iter()
            .chain(ep.ipv6.map(|a| IpAddr::V6(a.addr())))
            .collect(),
        aliases: ep.aliases.clone(),
    }
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
        if matches!(self.config.resolver, ResolverCommand::Off) {
            return Ok(false);
        }
        self.write_spec()?;
        self.wake_resolver()
    }

    /// [`Self::sync_resolver`] after endpoint `ep` was connected (`added`)
    /// or disconnected, the state already saying so: one line appended to
    /// the journal, unless the endpoint is its network's first or last
    /// (the network appears in or leaves the spec: its listeners) or the
    /// journal has outgrown the spec; then the spec is written whole.
    pub(crate) fn sync_resolver_endpoint(
        &mut self,
        ep: &EndpointRecord,
        added: bool,
    ) -> Result<bool> {
        if matches!(self.config.resolver, ResolverCommand::Off) {
            return Ok(false);
        }
        let dir = self.store.dir();
        // Others on the network besides it (connect: it is in the state).
        let others = self
            .store
            .state
            .endpoints
            .all_keys()
            .filter(|k| k.network == ep.network && k.id != ep.id)
            .nth(0)
            .is_some();
        let spec_len = std::fs::metadata(dir.join(RESOLVER_SPEC)).map(|m| m.len());
        let appended = match (others, spec_len) {
            (true, Ok(spec_len)) => {
                let change = match added {
                    true => Change::Add {
                        network: self.network_name(&ep.network),
                        entry: entry(ep),
                    },
                    false => Change::Remove {
                        network: self.network_name(&ep.network),
                        entry: entry(ep),
                    },
                };
                let file = dir.join(RESOLVER_JOURNAL);
                let len = Journal::append(dir, &change)
                    .map_err(|e| Error::state_io("append to", &file, &e))?;
                len <= spec_len + JOURNAL_SLACK
            }
            _ => false,
        };
        if !appended {
            self.write_spec()?;
        }
        self.wake_resolver()
    }

    fn network_name(&self, id: &str) -> String {
        self.store
            .state
            .network_by_id(id)
            .map(|n| n.rec.name.clone())
            .unwrap_or_default()
    }

    /// Write the spec whole, from the state, and empty the journal.
    fn write_spec(&mut self) -> Result<()> {
        let dir = self.store.dir();
        let file = dir.join(RESOLVER_SPEC);
        let mut spec = spec(&self.store.state);
        // Overlay networks: the names of other hosts' endpoints too.
        crate::overlay::add_remote_names(&mut spec, dir);
        spec.write(&file)
            .map_err(|e| Error::state_io("write", &file, &e))?;
        Journal::reset(dir).map_err(|e| Error::state_io("empty", dir.join(RESOLVER_JOURNAL), &e))
    }

    /// Tell the resolver to read what is new, or start one when it is
    /// wanted (it reads everything on disk).
    fn wake_resolver(&mut self) -> Result<bool> {
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
                // Its log: timestamped lines, capped (brnet-dns's
                // logfile); stderr (a panic) to the same file.
                .env(brnet_dns::logfile::LOG_FILE_ENV, dir.join(RESOLVER_LOG))
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
        let _span = tracing::info_span!("stop_resolver").entered();
        tell(self.store.dir(), "stop", Duration::from_secs(3))
    }

    /// Whether a resolver answers for this state directory.
    pub fn resolver_running(&self) -> bool {
        tell(self.store.dir(), "ping", Duration::from_secs(1)).unwrap_or(false)
    }

    /// Whether a resolver listens for this state directory: a connect to
    /// its control socket, without waiting for an answer (reconcile's
    /// check on every call; a dead resolver, even killed, leaves no
    /// listener).
    pub(crate) fn resolver_listening(&self) -> bool {
        brnet_dns::serve::listening(self.store.dir())
    }
}
