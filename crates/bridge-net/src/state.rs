//! The state directory: one file, `state.json`, holding a snapshot record
//! followed by a journal of changes, one JSON record per line, under an
//! exclusive lock (`lock`, `flock(2)`) shared by every process using the
//! directory.
//!
//! Why a journal: a connect appends one small record instead of rewriting
//! every endpoint, so its cost does not grow with the number of endpoints.
//! When the journal grows past the number of live objects (and at least
//! [`COMPACT_MIN`] records), the whole state is written as a new snapshot:
//! temp file, `fsync`, `rename`, `fsync` of the directory.
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
    /// The state as of the last refresh, plus this process's changes.
    pub state: State,
    /// The state file as of the last load, held open: while it is, its
    /// inode number cannot be reused by a later snapshot, so "same inode"
    /// reliably means "same file".
    held: Option<File>,
    ino: u64,
    len: u64,
    lines: usize,
    torn: bool,
}

/// Holds the directory's exclusive lock.
#[derive(Debug)]
pub struct Locked {
    _lock: Flock<File>,
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
            state: State::default(),
            held: None,
            ino: 0,
            len: 0,
            lines: 0,
            torn: false,
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
    /// and bring the state up to date with what they wrote.
    pub fn lock(&mut self) -> Result<Locked> {
        let f = self
            .lock_file
            .try_clone()
            .map_err(|e| Error::state_io("dup", self.dir.join(LOCK_FILE), &e))?;
        let lock =
            Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, errno)| Error::StateIo {
                op: "lock",
                path: self.dir.join(LOCK_FILE),
                errno,
            })?;
        self.refresh(true)?;
        Ok(Locked { _lock: lock })
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
                if locked {
                    self.state = State::default();
                    self.write_snapshot()?;
                } else {
                    self.state = State::default();
                    self.held = None;
                    self.ino = 0;
                    self.len = 0;
                }
                return Ok(());
            }
            Err(e) => return Err(Error::state_io("stat", &self.path, &e)),
        };
        if meta.ino() != self.ino || meta.len() < self.len {
            self.reload(meta.ino(), meta.len())?;
        } else if meta.len() > self.len {
            self.read_tail(meta.len())?;
        }
        Ok(())
    }

    fn read_range(&self, from: u64, to: u64) -> Result<Vec<u8>> {
        let opened;
        let file = match &self.held {
            Some(f) => f,
            None => {
                opened =
                    File::open(&self.path).map_err(|e| Error::state_io("open", &self.path, &e))?;
                &opened
            }
        };
        let mut buf = vec![0u8; usize::try_from(to - from).unwrap_or(0)];
        let mut done = 0;
        while done < buf.len() {
            let n = file
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

    fn reload(&mut self, _ino: u64, _len: u64) -> Result<()> {
        // Open first, then stat what was opened: the file we read is the
        // file we hold.
        let held = File::open(&self.path).map_err(|e| Error::state_io("open", &self.path, &e))?;
        let meta = held
            .metadata()
            .map_err(|e| Error::state_io("stat", &self.path, &e))?;
        let (ino, len) = (meta.ino(), meta.len());
        self.held = Some(held);
        let bytes = self.read_range(0, len)?;
        let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
            return Err(self.bad(StateProblem::Truncated));
        };
        let state = parse_header(&bytes[..end]).map_err(|p| self.bad(p))?;
        self.state = state;
        self.ino = ino;
        self.len = end as u64 + 1;
        self.lines = 0;
        self.torn = false;
        let tail = bytes[end + 1..].to_vec();
        self.apply_lines(&tail, 2)
    }

    fn read_tail(&mut self, len: u64) -> Result<()> {
        let bytes = self.read_range(self.len, len)?;
        let first_line = self.lines + 2;
        self.apply_lines(&bytes, first_line)
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
    /// If writing fails, the next [`lock`](Store::lock) reloads the state
    /// from the file, so memory never runs ahead of the disk.
    pub fn record(&mut self, op: Op, durable: bool) -> Result<()> {
        let line = serde_json::to_vec(&op).map_err(|e| {
            self.bad(StateProblem::Malformed {
                line: 0,
                detail: e.to_string(),
            })
        })?;
        self.state.apply_op(op, false).map_err(|detail| {
            self.ino = 0;
            self.bad(StateProblem::Inconsistent { line: 0, detail })
        })?;
        let written = if durable {
            self.write_snapshot()
        } else {
            self.append_line(line)
        };
        if written.is_err() {
            self.ino = 0;
        }
        written
    }

    /// Append one record line (compacting when the journal is long).
    fn append_line(&mut self, mut line: Vec<u8>) -> Result<()> {
        line.push(b'\n');
        let file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| Error::state_io("open", &self.path, &e))?;
        if self.torn {
            file.set_len(self.len)
                .map_err(|e| Error::state_io("truncate torn record of", &self.path, &e))?;
            self.torn = false;
        }
        file.write_all_at(&line, self.len)
            .map_err(|e| Error::state_io("write", &self.path, &e))?;
        self.len += line.len() as u64;
        self.lines += 1;
        let live =
            self.state.networks.len() + self.state.endpoints.len() + self.state.sandboxes.len();
        if self.lines >= COMPACT_MIN.max(2 * live) {
            self.write_snapshot()?;
        }
        Ok(())
    }

    /// Write the whole state as a new file: temp file, fsync, rename, fsync
    /// of the directory.
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
        let mut f = OpenOptions::new()
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
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        let meta =
            std::fs::metadata(&self.path).map_err(|e| Error::state_io("stat", &self.path, &e))?;
        self.ino = meta.ino();
        self.len = bytes.len() as u64;
        self.lines = 0;
        self.torn = false;
        Ok(())
    }
}
