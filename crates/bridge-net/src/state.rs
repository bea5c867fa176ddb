//! The state directory: one file, `state.json`, holding a snapshot record
//! followed by a journal of changes, one JSON record per line, under an
//! exclusive lock (`lock`, `flock(2)`) shared by every process using the
//! directory.
//!
//! Why a journal: a connect appends one small record instead of rewriting
//! every endpoint, so its cost does not grow with the number of endpoints.
//! When the journal grows past twice the number of live objects (and at
//! least [`COMPACT_MIN`] records), the next process to take the lock
//! writes the whole state, as the file says it, as a new snapshot: temp
//! file, `fsync`, `rename`, `fsync` of the directory.
//!
//! Durability: a change to a network (which outlives a reboot) is written
//! as a whole new snapshot (temp file, `fsync`, `rename`), so networks only
//! ever live in the snapshot record. Endpoints and network modes go to the
//! journal without `fsync`: they describe kernel objects that a crash of
//! the machine destroys anyway, and a killed process loses nothing (the
//! page cache keeps its writes). A torn last record (a crash mid-write) is
//! ignored and cut off by the next writer; a malformed record anywhere else
//! is an error, never silently skipped.
//!
//! Every process keeps the state in memory and, under the lock, reads only
//! the records appended since it last looked (or everything again when
//! another process compacted the file).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use brnet_ipam::{Pool, PoolState};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, StateProblem};
use crate::options::NetworkOptions;

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "state.json";
/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = "lock";
/// The state format this build writes (and the newest it reads).
pub const STATE_VERSION: u32 = 1;
/// Compact no earlier than this many journal records.
pub const COMPACT_MIN: usize = 512;

/// A network as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The bridge's name.
    pub bridge: String,
    /// The default network (`bridge`, on `docker0`).
    #[serde(default)]
    pub default: bool,
    /// The bridge existed before the network: it is left in place on
    /// removal.
    #[serde(default)]
    pub adopted: bool,
    /// The options, with the chosen subnets and gateways filled in.
    pub options: NetworkOptions,
}

/// A published port as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortRecord {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Host address; `None`: every address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    /// First host port.
    pub host_port: u16,
    /// Last host port (same as the first for one port).
    pub host_port_end: u16,
    /// First container port.
    pub container_port: u16,
    /// Last container port.
    pub container_port_end: u16,
}

/// An endpoint (a veth on a bridge network) as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointRecord {
    /// 64 hex digits.
    pub id: String,
    /// The network's id.
    pub network: String,
    /// The container's id (shared by the endpoints of one namespace).
    pub container_id: String,
    /// The container's name.
    pub container: String,
    /// The namespace's path.
    pub netns: PathBuf,
    /// The namespace's inode (its identity while it lives).
    pub netns_ino: u64,
    /// Interface name inside the namespace.
    pub ifname: String,
    /// Host end of the veth.
    pub host_veth: String,
    /// MAC of the interface.
    pub mac: String,
    /// IPv4 address with the network's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Net>,
    /// IPv6 address with the network's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Net>,
    /// The IPv4 address came from the pool's sequence (not `--ip`).
    #[serde(default)]
    pub dynamic4: bool,
    /// The IPv6 address came from the pool's sequence (not `--ip6`).
    #[serde(default)]
    pub dynamic6: bool,
    /// This endpoint holds the namespace's default route.
    #[serde(default)]
    pub default_route: bool,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortRecord>,
    /// Extra names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// RFC 3339 creation time.
    pub created: String,
}

/// A container in a mode without an endpoint (host, none, container:X).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxRecord {
    /// 64 hex digits.
    pub id: String,
    /// The container's name.
    pub container: String,
    /// `host`, `none` or `container:NAME`.
    pub mode: String,
    /// The namespace's path.
    pub netns: PathBuf,
    /// The namespace's inode.
    pub netns_ino: u64,
    /// RFC 3339 creation time.
    pub created: String,
}

/// An operation in progress: written before the first kernel change, closed
/// by its result. One still open when a writer takes the lock was cut short
/// by a crash, and tells reconcile what to clean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// 64 hex digits (the endpoint's or network's id to be).
    pub id: String,
    /// `connect` or `create_network`.
    pub kind: String,
    /// The veth that may exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_veth: Option<String>,
    /// The bridge that may exist (made by this operation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// The network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The subnets of the network being created, so that reconcile can
    /// remove the firewall rules it may have installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<IpNet>,
}

/// One journal record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// A network was created.
    Network {
        /// It.
        network: NetworkRecord,
    },
    /// A network was removed.
    RemoveNetwork {
        /// Its id.
        id: String,
    },
    /// An endpoint was connected.
    Connect {
        /// It.
        endpoint: EndpointRecord,
    },
    /// An endpoint's record changed, its network and addresses the same
    /// (the published ports of a detached endpoint).
    Update {
        /// It, as it is now.
        endpoint: EndpointRecord,
    },
    /// An endpoint was disconnected.
    Disconnect {
        /// Its id.
        id: String,
    },
    /// A container joined a mode without an endpoint.
    Sandbox {
        /// It.
        sandbox: SandboxRecord,
    },
    /// That container left.
    RemoveSandbox {
        /// Its id.
        id: String,
    },
    /// An operation began.
    Begin {
        /// What it may leave behind.
        intent: Intent,
    },
    /// An operation ended (committed or rolled back).
    End {
        /// The intent's id.
        id: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSnapshot {
    network: NetworkRecord,
    pool4: PoolState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool6: Option<PoolState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    brnet_state: u32,
    #[serde(default)]
    networks: Vec<NetworkSnapshot>,
    #[serde(default)]
    endpoints: Vec<EndpointRecord>,
    #[serde(default)]
    sandboxes: Vec<SandboxRecord>,
    #[serde(default)]
    intents: Vec<Intent>,
}

/// A network in memory: its record and its address pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    /// The record.
    pub rec: NetworkRecord,
    /// IPv4 pool.
    pub pool4: Pool,
    /// IPv6 pool, on dual-stack networks.
    pub pool6: Option<Pool>,
}

impl Net {
    /// Build the pools a record describes (subnets filled in).
    pub fn new(rec: NetworkRecord) -> std::result::Result<Net, String> {
        let pool = |cfg: &crate::options::IpamConfig| -> std::result::Result<Pool, String> {
            let subnet = cfg
                .subnet
                .ok_or_else(|| format!("network {:?} has no subnet", rec.name))?;
            let mut b = Pool::builder(subnet).order(rec.options.order);
            if let Some(gw) = cfg.gateway {
                b = b.gateway(gw);
            }
            if let Some(r) = cfg.ip_range {
                b = b.range(r);
            }
            let mut p = b.build().map_err(|e| e.to_string())?;
            for a in cfg.aux_addresses.values() {
                if p.contains(*a) {
                    p.reserve(*a).map_err(|e| e.to_string())?;
                }
            }
            Ok(p)
        };
        let pool4 = pool(&rec.options.ipv4)?;
        let pool6 = rec.options.ipv6.as_ref().map(pool).transpose()?;
        Ok(Net { rec, pool4, pool6 })
    }

    /// The IPv4 subnet.
    pub fn subnet4(&self) -> Ipv4Net {
        match self.pool4.subnet() {
            IpNet::V4(n) => n,
            IpNet::V6(_) => Ipv4Net::default(),
        }
    }

    /// The IPv6 subnet.
    pub fn subnet6(&self) -> Option<Ipv6Net> {
        self.pool6.as_ref().and_then(|p| match p.subnet() {
            IpNet::V6(n) => Some(n),
            IpNet::V4(_) => None,
        })
    }
}

/// The whole state in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Networks, in creation order.
    pub networks: Vec<Net>,
    /// Endpoints by id.
    pub endpoints: BTreeMap<String, EndpointRecord>,
    /// Containers in host/none/container modes, by id.
    pub sandboxes: BTreeMap<String, SandboxRecord>,
    /// Operations begun and not ended.
    pub intents: BTreeMap<String, Intent>,
}

impl State {
    /// The network called `name` (or with that id, or id prefix of 12+).
    pub fn network(&self, name: &str) -> Option<&Net> {
        self.networks
            .iter()
            .find(|n| n.rec.name == name)
            .or_else(|| {
                (name.len() >= 12)
                    .then(|| self.networks.iter().find(|n| n.rec.id.starts_with(name)))
                    .flatten()
            })
    }

    /// The network with id `id`, mutably.
    pub fn network_by_id_mut(&mut self, id: &str) -> Option<&mut Net> {
        self.networks.iter_mut().find(|n| n.rec.id == id)
    }

    /// The network with id `id`.
    pub fn network_by_id(&self, id: &str) -> Option<&Net> {
        self.networks.iter().find(|n| n.rec.id == id)
    }

    /// Endpoints of network `id`.
    pub fn endpoints_of<'a>(
        &'a self,
        id: &'a str,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints.values().filter(move |e| e.network == id)
    }

    /// Apply one replayed record. The live code makes the same changes
    /// itself, so replay reproduces its state exactly (dynamic addresses
    /// are allocated again and come out the same).
    fn apply(&mut self, op: Op) -> std::result::Result<(), String> {
        self.apply_op(op, true)
    }

    /// Apply `op`; `replay`: the addresses of a `Connect` are taken from
    /// the pools here (when false, the live code has taken them already).
    fn apply_op(&mut self, op: Op, replay: bool) -> std::result::Result<(), String> {
        match op {
            Op::Network { network } => {
                if self.networks.iter().any(|n| n.rec.name == network.name) {
                    return Err(format!("network {:?} recorded twice", network.name));
                }
                self.intents.remove(&network.id);
                self.networks.push(Net::new(network)?);
            }
            Op::RemoveNetwork { id } => {
                let before = self.networks.len();
                self.networks.retain(|n| n.rec.id != id);
                if self.networks.len() == before {
                    return Err(format!("removal of unknown network {id}"));
                }
            }
            Op::Connect { endpoint } if !replay => {
                self.intents.remove(&endpoint.id);
                self.endpoints.insert(endpoint.id.clone(), endpoint);
            }
            Op::Connect { endpoint } => {
                let net = self
                    .network_by_id_mut(&endpoint.network)
                    .ok_or_else(|| format!("endpoint on unknown network {}", endpoint.network))?;
                if let Some(a) = endpoint.ipv4 {
                    take(&mut net.pool4, IpAddr::V4(a.addr()), endpoint.dynamic4)?;
                }
                if let Some(a) = endpoint.ipv6 {
                    let pool = net
                        .pool6
                        .as_mut()
                        .ok_or_else(|| "IPv6 endpoint on an IPv4-only network".to_owned())?;
                    take(pool, IpAddr::V6(a.addr()), endpoint.dynamic6)?;
                }
                self.intents.remove(&endpoint.id);
                self.endpoints.insert(endpoint.id.clone(), endpoint);
            }
            Op::Update { endpoint } => {
                let old = self
                    .endpoints
                    .get(&endpoint.id)
                    .ok_or_else(|| format!("update of unknown endpoint {}", endpoint.id))?;
                if (&old.network, old.ipv4, old.ipv6)
                    != (&endpoint.network, endpoint.ipv4, endpoint.ipv6)
                {
                    return Err(format!(
                        "update of endpoint {} changes its network or addresses",
                        endpoint.id
                    ));
                }
                self.endpoints.insert(endpoint.id.clone(), endpoint);
            }
            Op::Disconnect { id } => {
                let ep = self
                    .endpoints
                    .remove(&id)
                    .ok_or_else(|| format!("disconnect of unknown endpoint {id}"))?;
                release(self, &ep).map_err(|e| e.to_string())?;
            }
            Op::Sandbox { sandbox } => {
                self.sandboxes.insert(sandbox.id.clone(), sandbox);
            }
            Op::RemoveSandbox { id } => {
                self.sandboxes.remove(&id);
            }
            Op::Begin { intent } => {
                self.intents.insert(intent.id.clone(), intent);
            }
            Op::End { id } => {
                self.intents.remove(&id);
            }
        }
        Ok(())
    }
}

/// Parse the snapshot record (the file's first line).
fn parse_header(header: &[u8]) -> std::result::Result<State, StateProblem> {
    // The version first, so a newer file says so rather than "malformed".
    let version = serde_json::from_slice::<serde_json::Value>(header)
        .ok()
        .and_then(|v| v.get("brnet_state").and_then(|v| v.as_u64()));
    match version {
        Some(v) if v > u64::from(STATE_VERSION) => {
            return Err(StateProblem::FutureVersion {
                found: u32::try_from(v).unwrap_or(u32::MAX),
                supported: STATE_VERSION,
            });
        }
        Some(_) => {}
        None => {
            return Err(StateProblem::Malformed {
                line: 1,
                detail: "not a bridge-net state header".into(),
            });
        }
    }
    let snap: Snapshot = serde_json::from_slice(header).map_err(|e| StateProblem::Malformed {
        line: 1,
        detail: e.to_string(),
    })?;
    let mut state = State::default();
    let inconsistent = |detail: String| StateProblem::Inconsistent { line: 1, detail };
    for n in snap.networks {
        if state
            .networks
            .iter()
            .any(|m| m.rec.name == n.network.name || m.rec.id == n.network.id)
        {
            return Err(inconsistent(format!(
                "network {:?} recorded twice",
                n.network.name
            )));
        }
        let pool4 = Pool::from_state(n.pool4)
            .map_err(|e| inconsistent(format!("network {:?}: {e}", n.network.name)))?;
        let pool6 = n
            .pool6
            .map(Pool::from_state)
            .transpose()
            .map_err(|e| inconsistent(format!("network {:?}: {e}", n.network.name)))?;
        state.networks.push(Net {
            rec: n.network,
            pool4,
            pool6,
        });
    }
    for e in snap.endpoints {
        if state.network_by_id(&e.network).is_none() {
            return Err(inconsistent(format!(
                "endpoint {} on unknown network {}",
                e.id, e.network
            )));
        }
        state.endpoints.insert(e.id.clone(), e);
    }
    for s in snap.sandboxes {
        state.sandboxes.insert(s.id.clone(), s);
    }
    for i in snap.intents {
        state.intents.insert(i.id.clone(), i);
    }
    Ok(state)
}

impl State {
    /// Parse a whole state file, as [`Store`] reads it: the snapshot record,
    /// then every complete journal record (a torn last record is ignored).
    /// For tools, tests and fuzzing; never panics on any input.
    pub fn parse(bytes: &[u8]) -> std::result::Result<State, StateProblem> {
        let end = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(StateProblem::Truncated)?;
        let mut state = parse_header(&bytes[..end])?;
        let mut rest = &bytes[end + 1..];
        let mut line = 2;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let op: Op =
                serde_json::from_slice(&rest[..nl]).map_err(|e| StateProblem::Malformed {
                    line,
                    detail: e.to_string(),
                })?;
            state
                .apply(op)
                .map_err(|detail| StateProblem::Inconsistent { line, detail })?;
            rest = &rest[nl + 1..];
            line += 1;
        }
        Ok(state)
    }
}

fn take(pool: &mut Pool, addr: IpAddr, dynamic: bool) -> std::result::Result<(), String> {
    if dynamic {
        let got = pool.allocate().map_err(|e| e.to_string())?;
        if got == addr {
            return Ok(());
        }
        pool.release(got).map_err(|e| e.to_string())?;
    }
    pool.request(addr).map_err(|e| e.to_string())
}

/// Give an endpoint's addresses back to its network's pools.
pub fn release(
    state: &mut State,
    ep: &EndpointRecord,
) -> std::result::Result<(), brnet_ipam::Error> {
    if let Some(net) = state.network_by_id_mut(&ep.network) {
        if let Some(a) = ep.ipv4 {
            net.pool4.release(IpAddr::V4(a.addr()))?;
        }
        if let (Some(a), Some(p)) = (ep.ipv6, net.pool6.as_mut()) {
            p.release(IpAddr::V6(a.addr()))?;
        }
    }
    Ok(())
}

/// The state directory, its lock and the state in memory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    path: PathBuf,
    lock_file: File,
    /// How many [`Locked`] guards of this store are alive: a nested
    /// [`lock`](Store::lock) neither waits for itself nor lets go of the
    /// lock when its guard drops.
    depth: Arc<AtomicUsize>,
    /// The state as of the last refresh, plus this process's changes.
    pub state: State,
    /// The state file this store reads and appends to, held open. Always
    /// the file it last loaded or wrote itself (a snapshot), never one
    /// replaced since: while it is held, its inode cannot be reused by a
    /// later snapshot, so "same inode" reliably means "same file".
    held: Option<Held>,
    /// `(device, inode)` of `held`.
    id: (u64, u64),
    /// Bytes of `held` applied (always at a line's end).
    len: u64,
    /// Journal lines applied (after the snapshot line).
    lines: usize,
    /// The file goes on past `len` with an incomplete record: one being
    /// written (seen without the lock), or torn by a crash (cut off by the
    /// next writer).
    torn: bool,
    /// Test hook: the next write fails.
    #[cfg(test)]
    fail_next_write: bool,
}

#[derive(Debug)]
struct Held {
    file: File,
    writable: bool,
}

/// Holds the directory's exclusive lock.
#[derive(Debug)]
pub struct Locked {
    depth: Arc<AtomicUsize>,
    _lock: Option<Flock<File>>,
}

impl Drop for Locked {
    fn drop(&mut self) {
        // The flock itself (outermost guard only) is released right after.
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl Store {
    /// Open (creating when missing) the state directory and load it.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| Error::state_io("create directory", dir, &e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::state_io("open", &lock_path, &e))?;
        let mut store = Store::empty(dir, lock_file);
        let _lock = store.lock()?;
        Ok(store)
    }

    /// A store of `dir` that has read nothing yet.
    fn empty(dir: &Path, lock_file: File) -> Store {
        Store {
            dir: dir.to_owned(),
            path: dir.join(STATE_FILE),
            lock_file,
            depth: Arc::new(AtomicUsize::new(0)),
            state: State::default(),
            held: None,
            id: (0, 0),
            len: 0,
            lines: 0,
            torn: false,
            #[cfg(test)]
            fail_next_write: false,
        }
    }

    /// Open the state directory for reading only, without ever taking its
    /// lock (the name resolver does this: it must never wait for a writer
    /// that waits for it). [`refresh_unlocked`](Store::refresh_unlocked)
    /// brings it up to date with complete records.
    pub fn open_unlocked(dir: &Path) -> Result<Store> {
        let lock_path = dir.join(LOCK_FILE);
        let lock_file =
            File::open(&lock_path).map_err(|e| Error::state_io("open", &lock_path, &e))?;
        let mut store = Store::empty(dir, lock_file);
        store.refresh(false)?;
        Ok(store)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Take the directory's exclusive lock (waiting for other processes)
    /// and bring the state up to date with what they wrote. Taking it again
    /// while a guard of this store is alive does not wait, and the lock is
    /// held until the outermost guard drops.
    pub fn lock(&mut self) -> Result<Locked> {
        let lock = if self.depth.load(Ordering::Relaxed) == 0 {
            let f = self
                .lock_file
                .try_clone()
                .map_err(|e| Error::state_io("dup", self.dir.join(LOCK_FILE), &e))?;
            Some(
                Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, errno)| Error::StateIo {
                    op: "lock",
                    path: self.dir.join(LOCK_FILE),
                    errno,
                })?,
            )
        } else {
            None
        };
        let outermost = lock.is_some();
        self.depth.fetch_add(1, Ordering::Relaxed);
        let guard = Locked {
            depth: self.depth.clone(),
            _lock: lock,
        };
        self.refresh(true)?;
        if outermost && self.lines >= self.compact_at() {
            self.compact()?;
        }
        Ok(guard)
    }

    /// The journal is compacted once it has this many lines: at least
    /// [`COMPACT_MIN`], and twice the live objects (so that compaction
    /// costs O(1) per record).
    fn compact_at(&self) -> usize {
        let live =
            self.state.networks.len() + self.state.endpoints.len() + self.state.sandboxes.len();
        COMPACT_MIN.max(2 * live)
    }

    /// Rewrite the file as one snapshot. Done when the lock is taken, before
    /// the caller changes anything, and from the file itself (loaded
    /// again): the snapshot is exactly what the journal says, never a
    /// change in memory not yet recorded (an address taken for a connect
    /// under way). A snapshot that cannot be written is no failure: the
    /// journal stays, the next lock tries again.
    fn compact(&mut self) -> Result<()> {
        self.reload(true)?;
        if let Err(e) = self.write_snapshot() {
            tracing::warn!(
                path = %self.path.display(),
                error = %e,
                "could not compact the state journal; will try again"
            );
        }
        Ok(())
    }

    /// Bring the state up to date without taking the lock (for reading):
    /// only complete records are applied.
    pub fn refresh_unlocked(&mut self) -> Result<()> {
        self.refresh(false)
    }

    fn refresh(&mut self, locked: bool) -> Result<()> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.state = State::default();
                if locked {
                    self.write_snapshot()?;
                } else {
                    self.forget();
                }
                return Ok(());
            }
            Err(e) => return Err(Error::state_io("stat", &self.path, &e)),
        };
        if self.held.is_none() || file_id(&meta) != self.id || meta.len() < self.len {
            self.reload(locked)?;
        } else if meta.len() > self.len {
            self.read_tail(meta.len())?;
        }
        Ok(())
    }

    /// Forget the file: the next refresh loads the state file afresh.
    fn forget(&mut self) {
        self.held = None;
        self.id = (0, 0);
        self.len = 0;
        self.lines = 0;
        self.torn = false;
    }

    fn read_range(&self, from: u64, to: u64) -> Result<Vec<u8>> {
        let Some(held) = &self.held else {
            return Ok(Vec::new());
        };
        let mut buf = vec![0u8; usize::try_from(to.saturating_sub(from)).unwrap_or(0)];
        let mut done = 0;
        while done < buf.len() {
            let n = held
                .file
                .read_at(&mut buf[done..], from + done as u64)
                .map_err(|e| Error::state_io("read", &self.path, &e))?;
            if n == 0 {
                break;
            }
            done += n;
        }
        buf.truncate(done);
        Ok(buf)
    }

    fn bad(&self, problem: StateProblem) -> Error {
        Error::State {
            path: self.path.clone(),
            problem,
        }
    }

    /// Open the state file (for writing too, when `locked`) and load it
    /// whole.
    fn reload(&mut self, locked: bool) -> Result<()> {
        self.forget();
        // Open first, then stat what was opened: the file we read is the
        // file we hold.
        let writable = if locked {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .ok()
        } else {
            None
        };
        let held = match writable {
            Some(file) => Held {
                file,
                writable: true,
            },
            None => Held {
                file: File::open(&self.path)
                    .map_err(|e| Error::state_io("open", &self.path, &e))?,
                writable: false,
            },
        };
        let meta = held
            .file
            .metadata()
            .map_err(|e| Error::state_io("stat", &self.path, &e))?;
        self.held = Some(held);
        let bytes = self.read_range(0, meta.len())?;
        let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
            self.forget();
            return Err(self.bad(StateProblem::Truncated));
        };
        let state = match parse_header(&bytes[..end]) {
            Ok(s) => s,
            Err(p) => {
                self.forget();
                return Err(self.bad(p));
            }
        };
        self.state = state;
        self.id = file_id(&meta);
        self.len = end as u64 + 1;
        let applied = self.apply_lines(&bytes[end + 1..], 2);
        if applied.is_err() {
            self.forget();
        }
        applied
    }

    fn read_tail(&mut self, len: u64) -> Result<()> {
        let bytes = self.read_range(self.len, len)?;
        let first_line = self.lines + 2;
        let applied = self.apply_lines(&bytes, first_line);
        if applied.is_err() {
            // Part of the tail may be applied: load afresh next time.
            self.forget();
        }
        applied
    }

    /// Apply the complete lines of `bytes` (which start at `self.len`).
    fn apply_lines(&mut self, bytes: &[u8], first_line: usize) -> Result<()> {
        let mut at = 0;
        let mut line_no = first_line;
        while at < bytes.len() {
            let Some(nl) = bytes[at..].iter().position(|b| *b == b'\n') else {
                // A record without its newline: being written, or torn by a
                // crash. Left for later; a writer cuts it off.
                self.torn = true;
                return Ok(());
            };
            let line = &bytes[at..at + nl];
            let op: Op = serde_json::from_slice(line).map_err(|e| {
                self.bad(StateProblem::Malformed {
                    line: line_no,
                    detail: e.to_string(),
                })
            })?;
            self.state.apply(op).map_err(|detail| {
                self.bad(StateProblem::Inconsistent {
                    line: line_no,
                    detail,
                })
            })?;
            at += nl + 1;
            self.len += nl as u64 + 1;
            self.lines += 1;
            line_no += 1;
        }
        self.torn = false;
        Ok(())
    }

    /// Make a change: apply `op` to the state in memory (as replay would,
    /// except that a `Connect`'s addresses were already taken from the
    /// pools by the caller), then write it down. The caller holds the
    /// lock. `durable` (network changes): the whole state is written as a
    /// new snapshot, fsynced; otherwise one journal record is appended.
    ///
    /// When the change cannot be written, the state is loaded again from
    /// the file before the error is returned: memory never runs ahead of
    /// the disk (the caller's own changes to [`state`](Store::state) since
    /// the lock was taken are gone too).
    pub fn record(&mut self, op: Op, durable: bool) -> Result<()> {
        if self.held.is_none() {
            // A load failed since the lock was taken: what is in memory
            // may be anything.
            return Err(Error::StateIo {
                op: "write to (not loaded)",
                path: self.path.clone(),
                errno: nix::errno::Errno::ESTALE,
            });
        }
        let line = serde_json::to_vec(&op).map_err(|e| {
            self.bad(StateProblem::Malformed {
                line: 0,
                detail: e.to_string(),
            })
        })?;
        if let Err(detail) = self.state.apply_op(op, false) {
            self.resync();
            return Err(self.bad(StateProblem::Inconsistent { line: 0, detail }));
        }
        let written = if durable {
            self.write_snapshot()
        } else {
            self.append_line(line)
        };
        if written.is_err() {
            self.resync();
        }
        written
    }

    /// After a failed change: load the file again (the lock is held), so
    /// that memory is what the disk says. If even that fails, the next
    /// refresh loads it.
    fn resync(&mut self) {
        if self.reload(true).is_err() {
            self.forget();
        }
    }

    #[cfg(test)]
    fn injected_failure(&mut self, what: &'static str) -> Result<()> {
        if std::mem::take(&mut self.fail_next_write) {
            return Err(Error::StateIo {
                op: what,
                path: self.path.clone(),
                errno: nix::errno::Errno::ENOSPC,
            });
        }
        Ok(())
    }

    #[cfg(not(test))]
    fn injected_failure(&mut self, _what: &'static str) -> Result<()> {
        Ok(())
    }

    /// Append one record line.
    fn append_line(&mut self, mut line: Vec<u8>) -> Result<()> {
        line.push(b'\n');
        if !self.held.as_ref().is_some_and(|h| h.writable) {
            // Loaded without the lock (read-only): open the same file for
            // writing. The lock is held, so it cannot have been replaced
            // since the refresh that `lock` did; check anyway.
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(|e| Error::state_io("open", &self.path, &e))?;
            let meta = file
                .metadata()
                .map_err(|e| Error::state_io("stat", &self.path, &e))?;
            if file_id(&meta) != self.id {
                return Err(Error::StateIo {
                    op: "append to (replaced without the lock)",
                    path: self.path.clone(),
                    errno: nix::errno::Errno::ESTALE,
                });
            }
            self.held = Some(Held {
                file,
                writable: true,
            });
        }
        self.injected_failure("write")?;
        let Some(held) = &self.held else {
            return Err(self.bad(StateProblem::Truncated));
        };
        if self.torn {
            held.file
                .set_len(self.len)
                .map_err(|e| Error::state_io("truncate torn record of", &self.path, &e))?;
            self.torn = false;
        }
        held.file
            .write_all_at(&line, self.len)
            .map_err(|e| Error::state_io("write", &self.path, &e))?;
        self.len += line.len() as u64;
        self.lines += 1;
        Ok(())
    }

    /// Write the whole state as a new file (temp file, fsync, rename, fsync
    /// of the directory), and read and append to that file from now on.
    /// The caller holds the lock. On failure the current file is left as
    /// it was.
    pub fn write_snapshot(&mut self) -> Result<()> {
        let snap = Snapshot {
            brnet_state: STATE_VERSION,
            networks: self
                .state
                .networks
                .iter()
                .map(|n| NetworkSnapshot {
                    network: n.rec.clone(),
                    pool4: n.pool4.to_state(),
                    pool6: n.pool6.as_ref().map(Pool::to_state),
                })
                .collect(),
            endpoints: self.state.endpoints.values().cloned().collect(),
            sandboxes: self.state.sandboxes.values().cloned().collect(),
            intents: self.state.intents.values().cloned().collect(),
        };
        let mut bytes = serde_json::to_vec(&snap).map_err(|e| {
            self.bad(StateProblem::Malformed {
                line: 1,
                detail: e.to_string(),
            })
        })?;
        bytes.push(b'\n');
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let written = (|| -> Result<File> {
            self.injected_failure("create")?;
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| Error::state_io("create", &tmp, &e))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::state_io("write", &tmp, &e))?;
            std::fs::rename(&tmp, &self.path).map_err(|e| Error::state_io("rename", &tmp, &e))?;
            Ok(f)
        })();
        let f = match written {
            Ok(f) => f,
            Err(e) => {
                if !tmp.is_dir() {
                    let _ = std::fs::remove_file(&tmp);
                }
                return Err(e);
            }
        };
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        // The file renamed into place is the one written: hold it (it can
        // no longer be stat'ed by name as anything else, since the lock is
        // held).
        let meta = f
            .metadata()
            .map_err(|e| Error::state_io("stat", &self.path, &e))?;
        self.held = Some(Held {
            file: f,
            writable: true,
        });
        self.id = file_id(&meta);
        self.len = bytes.len() as u64;
        self.lines = 0;
        self.torn = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(name: &str, subnet: &str) -> NetworkRecord {
        let mut options = NetworkOptions::default();
        options.ipv4.subnet = Some(subnet.parse().unwrap());
        NetworkRecord {
            id: format!("{name:0>64}"),
            name: name.into(),
            created: "2026-01-01T00:00:00Z".into(),
            bridge: format!("br-{name}"),
            default: false,
            adopted: false,
            options,
        }
    }

    fn sandbox(id: &str) -> Op {
        Op::Sandbox {
            sandbox: SandboxRecord {
                id: id.into(),
                container: id.into(),
                mode: "none".into(),
                netns: "/run/netns/x".into(),
                netns_ino: 1,
                created: "2026-01-01T00:00:00Z".into(),
            },
        }
    }

    fn endpoint(id: &str, net: &NetworkRecord, addr: &str) -> EndpointRecord {
        EndpointRecord {
            id: id.into(),
            network: net.id.clone(),
            container_id: id.into(),
            container: id.into(),
            netns: format!("/run/netns/{id}").into(),
            netns_ino: 7,
            ifname: "eth0".into(),
            host_veth: format!("veth{id}"),
            mac: "02:42:00:00:00:01".into(),
            ipv4: Some(addr.parse().unwrap()),
            ipv6: None,
            dynamic4: true,
            dynamic6: false,
            default_route: true,
            ports: Vec::new(),
            aliases: Vec::new(),
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// A connect as the live code does it: the address taken from the pool
    /// first, then recorded.
    fn connect(s: &mut Store, id: &str, net: &NetworkRecord) -> IpAddr {
        let _l = s.lock().unwrap();
        let addr = s
            .state
            .network_by_id_mut(&net.id)
            .unwrap()
            .pool4
            .allocate()
            .unwrap();
        let ep = endpoint(id, net, &format!("{addr}/16"));
        s.record(Op::Connect { endpoint: ep }, false).unwrap();
        addr
    }

    fn reopened(dir: &Path) -> State {
        let bytes = std::fs::read(dir.join(STATE_FILE)).unwrap();
        let parsed = State::parse(&bytes).unwrap();
        assert_eq!(Store::open(dir).unwrap().state, parsed);
        parsed
    }

    #[test]
    fn a_store_that_wrote_a_snapshot_reads_and_appends_to_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let n = network("n", "10.1.0.0/16");
        {
            let mut s = Store::open(dir.path()).unwrap();
            let _l = s.lock().unwrap();
            s.record(Op::Network { network: n.clone() }, true).unwrap();
        }
        // Two handles (two open file descriptions: as two processes).
        let mut a = Store::open(dir.path()).unwrap();
        let mut b = Store::open(dir.path()).unwrap();
        for round in 0..3 {
            {
                let _l = a.lock().unwrap();
                let m = network(&format!("m{round}"), &format!("10.{}.0.0/16", 10 + round));
                a.record(Op::Network { network: m }, true).unwrap();
            }
            let theirs = connect(&mut b, &format!("b{round}"), &n);
            let ours = connect(&mut a, &format!("a{round}"), &n);
            assert_ne!(theirs, ours, "round {round}");
        }
        let st = reopened(dir.path());
        assert_eq!(st.endpoints.len(), 6);
        assert_eq!(st, a.state);
        let _l = b.lock().unwrap();
        assert_eq!(st, b.state);
    }

    #[test]
    fn a_store_that_compacted_reads_and_appends_to_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let n = network("n", "10.1.0.0/16");
        let mut a = Store::open(dir.path()).unwrap();
        {
            let _l = a.lock().unwrap();
            a.record(Op::Network { network: n.clone() }, true).unwrap();
        }
        let mut b = Store::open(dir.path()).unwrap();
        let first = a.id;
        let mut k = 0;
        while a.id == first {
            let _l = a.lock().unwrap();
            a.record(sandbox("s"), false).unwrap();
            a.record(Op::RemoveSandbox { id: "s".into() }, false)
                .unwrap();
            k += 1;
            assert!(k <= COMPACT_MIN, "compacted by now");
        }
        let theirs = connect(&mut b, "b", &n);
        let ours = connect(&mut a, "a", &n);
        assert_ne!(theirs, ours);
        let st = reopened(dir.path());
        assert_eq!(st.endpoints.len(), 2);
        assert_eq!(st, a.state);
    }

    #[test]
    fn a_failed_compaction_is_not_a_failed_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        // The temp file cannot be created (a directory is in its way:
        // this works as root too).
        std::fs::create_dir(dir.path().join(format!("{STATE_FILE}.tmp"))).unwrap();
        {
            let _l = s.lock().unwrap();
            s.record(sandbox("kept"), false).unwrap();
        }
        for i in 0..COMPACT_MIN + 10 {
            let op = if i % 2 == 0 {
                sandbox("s")
            } else {
                Op::RemoveSandbox { id: "s".into() }
            };
            // Past the threshold, every lock tries to compact and fails.
            let _l = s.lock().unwrap_or_else(|e| panic!("lock {i}: {e}"));
            s.record(op, false)
                .unwrap_or_else(|e| panic!("record {i}: {e}"));
        }
        assert!(s.lines > COMPACT_MIN, "not compacted");
        let st = reopened(dir.path());
        assert_eq!(st, s.state);
        assert_eq!(st.sandboxes.len(), 1);
        // Once it can, the next lock compacts.
        std::fs::remove_dir(dir.path().join(format!("{STATE_FILE}.tmp"))).unwrap();
        let _l = s.lock().unwrap();
        assert_eq!(s.lines, 0);
        assert_eq!(s.state, st);
    }

    #[test]
    fn a_compaction_writes_what_the_file_says_not_what_memory_holds() {
        let dir = tempfile::tempdir().unwrap();
        let n = network("n", "10.1.0.0/16");
        let mut s = Store::open(dir.path()).unwrap();
        {
            let _l = s.lock().unwrap();
            s.record(Op::Network { network: n.clone() }, true).unwrap();
            for i in 0..COMPACT_MIN {
                s.record(
                    if i % 2 == 0 {
                        sandbox("s")
                    } else {
                        Op::RemoveSandbox { id: "s".into() }
                    },
                    false,
                )
                .unwrap();
            }
            // An address taken in memory and never recorded (a caller
            // that failed and did not give it back).
            s.state
                .network_by_id_mut(&n.id)
                .unwrap()
                .pool4
                .allocate()
                .unwrap();
        }
        let first = s.id;
        let addr = connect(&mut s, "a", &n);
        assert_ne!(s.id, first, "compacted when the lock was taken");
        assert_eq!(
            addr.to_string(),
            "10.1.0.2",
            "the stray address is not kept"
        );
        reopened(dir.path());
    }

    #[test]
    fn a_failed_write_leaves_memory_as_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let n = network("n", "10.1.0.0/16");
        let mut s = Store::open(dir.path()).unwrap();
        let _l = s.lock().unwrap();
        s.record(Op::Network { network: n.clone() }, true).unwrap();
        s.record(sandbox("kept"), false).unwrap();
        let before = s.state.clone();
        // An append that fails.
        s.fail_next_write = true;
        assert!(s.record(sandbox("lost"), false).is_err());
        assert_eq!(s.state, before);
        // A snapshot that fails.
        s.fail_next_write = true;
        let m = network("m", "10.2.0.0/16");
        assert!(s.record(Op::Network { network: m }, true).is_err());
        assert_eq!(s.state, before);
        assert!(!dir.path().join(format!("{STATE_FILE}.tmp")).exists());
        // A change that does not apply.
        assert!(
            s.record(Op::RemoveNetwork { id: "nope".into() }, true)
                .is_err()
        );
        assert_eq!(s.state, before);
        // Writing goes on where it should.
        s.record(sandbox("next"), false).unwrap();
        drop(_l);
        let st = reopened(dir.path());
        assert!(st.sandboxes.contains_key("kept") && st.sandboxes.contains_key("next"));
        assert!(!st.sandboxes.contains_key("lost"));
    }

    #[test]
    fn a_torn_last_record_is_cut_off_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        {
            let _l = s.lock().unwrap();
            s.record(sandbox("a"), false).unwrap();
        }
        let path = dir.path().join(STATE_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"op\":\"sandbox\",\"sand").unwrap();
        // A reader without the lock leaves it alone; a writer cuts it.
        let mut r = Store::open_unlocked(dir.path()).unwrap();
        assert!(r.torn);
        let mut w = Store::open(dir.path()).unwrap();
        {
            let _l = w.lock().unwrap();
            w.record(sandbox("b"), false).unwrap();
        }
        r.refresh_unlocked().unwrap();
        let st = reopened(dir.path());
        assert_eq!(st.sandboxes.len(), 2);
        assert_eq!(r.state, st);
        let _l = s.lock().unwrap();
        assert_eq!(s.state, st);
    }

    #[test]
    fn a_nested_lock_holds_until_the_outer_guard_drops() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let other = || {
            let f = File::open(dir.path().join(LOCK_FILE)).unwrap();
            Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok()
        };
        let outer = s.lock().unwrap();
        let inner = s.lock().unwrap();
        drop(inner);
        assert!(!other(), "still held after the inner guard");
        drop(outer);
        assert!(other(), "released with the outer guard");
    }

    #[test]
    fn a_file_replaced_by_hand_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        {
            let _l = s.lock().unwrap();
            s.record(sandbox("a"), false).unwrap();
        }
        // Someone edits it with a tool that writes a new file (same
        // length).
        let path = dir.path().join(STATE_FILE);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"a\"", "\"b\"");
        let tmp = dir.path().join("edit");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        s.refresh_unlocked().unwrap();
        assert!(s.state.sandboxes.contains_key("b"));
    }
}
