//! The state directory: one file, `state.json`, holding a snapshot
//! followed by a journal of changes, under an exclusive lock (`lock`,
//! `flock(2)`) shared by every process using the directory.
//!
//! By concern:
//! - `records`: what is recorded (networks, endpoints,
//!   network modes, operations under way) and the changes ([`Op`]).
//! - `format`: what the file's bytes mean, versioned ([`STATE_VERSION`]).
//! - `lazy`: endpoint records kept as the text they were read as, with
//!   the keys every-endpoint questions need, decoded when asked for
//!   ([`Endpoints`], [`EndpointKeys`]).
//! - `lock`: the directory's lock ([`Locked`]).
//! - `journal`: which file a handle reads and how far, appending a
//!   change, replacing the file with a snapshot.
//! - `query`: the state in memory ([`State`], [`Net`]) and how each
//!   change transforms it.
//!
//! [`Store`] ties them together: a handle on the directory with the state
//! in memory, brought up to date whenever the lock is taken.
//!
//! Why a journal: a connect appends one small record instead of rewriting
//! every endpoint, so its cost does not grow with the number of endpoints.
//! Why lazy records: a process that makes one call touches one endpoint,
//! so loading reads the networks (their pools saved with them) and, of
//! each snapshot endpoint line, only its id and network; the scans a call makes over every
//! endpoint (dead namespaces, a namespace's other endpoints, who publishes
//! a port) ask the keys ([`Endpoints::matching`]) and decode only what they
//! select. A file of an older version is read as it is and rewritten in
//! this build's format by the first process that takes the lock.
//!
//! When the journal grows past an eighth of the number of live objects
//! (and at least [`COMPACT_MIN`] records), the next process to take the
//! lock writes the whole state, as the file says it, as a new snapshot:
//! temp file, `fsync`, `rename`, `fsync` of the directory. A compaction that
//! cannot be written is logged (`tracing`) and tried again later: it never
//! fails the change that happened to take the lock.
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
//! Sharing: every process keeps the state in memory and, under the lock,
//! reads only the records appended since it last looked, from the very file
//! it last read or wrote (held open), or everything again when the file at
//! the state path is another one (compacted by another process, or
//! replaced by hand). A change that cannot be written leaves memory as the
//! file says: the file is loaded again before the error is returned.

mod format;
mod journal;
mod lazy;
mod lock;
mod query;
mod records;
mod scan;

use std::path::{Path, PathBuf};

pub use format::STATE_VERSION;
pub use journal::STATE_FILE;
pub(crate) use lazy::same_netns;
pub use lazy::{EndpointKeys, Endpoints, NetnsKeys};
pub use lock::{LOCK_FILE, Locked};
pub use query::{Net, State, release};
pub use records::{EndpointRecord, Intent, NetworkRecord, Op, PortRecord, Restore, SandboxRecord};

use crate::error::{Error, Result, StateProblem};
use journal::Journal;
use lock::DirLock;

/// Compact no earlier than this many journal records.
pub const COMPACT_MIN: usize = 128;

/// The state directory, its lock and the state in memory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    lock: DirLock,
    /// The state as of the last refresh, plus this process's changes.
    pub state: State,
    journal: Journal,
}

impl Store {
    /// Open (creating when missing) the state directory and load it.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| Error::state_io("create directory", dir, &e))?;
        let mut store = Store::empty(dir, DirLock::open(dir, true)?);
        let _lock = store.lock()?;
        Ok(store)
    }

    /// A store of `dir` that has read nothing yet.
    fn empty(dir: &Path, lock: DirLock) -> Store {
        Store {
            dir: dir.to_owned(),
            lock,
            state: State::default(),
            journal: Journal::new(dir),
        }
    }

    /// Open the state directory for reading only, without ever taking its
    /// lock (the name resolver does this: it must never wait for a writer
    /// that waits for it). [`refresh_unlocked`](Store::refresh_unlocked)
    /// brings it up to date with complete records.
    pub fn open_unlocked(dir: &Path) -> Result<Store> {
        let mut store = Store::empty(dir, DirLock::open(dir, false)?);
        store.refresh(false)?;
        Ok(store)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        self.journal.path()
    }

    /// Which state file this handle holds and how far it has read it,
    /// `(device, inode, length)`: the file only ever grows by records
    /// appended, and is replaced (another inode) when rewritten, so an
    /// unchanged position means an unchanged state. `None` when nothing is
    /// loaded or the file ends in an incomplete record.
    pub fn position(&self) -> Option<(u64, u64, u64)> {
        self.journal.position()
    }

    /// Journal records after the snapshot, as of the last refresh (the
    /// journal is compacted when this reaches an eighth of the live objects
    /// and [`COMPACT_MIN`]).
    pub fn journal_records(&self) -> usize {
        self.journal.lines()
    }

    /// Take the directory's exclusive lock (waiting for other processes)
    /// and bring the state up to date with what they wrote (compacting the
    /// journal first when it is long, or rewriting a file of an older
    /// format in this build's). Taking it again while a guard of this
    /// store is alive does not wait, and the lock is held until the
    /// outermost guard drops.
    pub fn lock(&mut self) -> Result<Locked> {
        let guard = self.lock.lock()?;
        self.refresh(true)?;
        if guard.is_outermost()
            && (self.journal.lines() >= self.compact_at() || !self.journal.is_current())
        {
            self.compact()?;
        }
        Ok(guard)
    }

    /// Bring the state up to date without taking the lock (for reading):
    /// only complete records are applied.
    pub fn refresh_unlocked(&mut self) -> Result<()> {
        self.refresh(false)
    }

    fn refresh(&mut self, locked: bool) -> Result<()> {
        if !self.journal.refresh(&mut self.state, locked)? {
            self.state = State::default();
            if locked {
                self.write_snapshot()?;
            }
        }
        Ok(())
    }

    /// The journal is compacted once it has this many lines: at least
    /// [`COMPACT_MIN`], and an eighth of the live objects. Compaction costs
    /// O(live) (loading the file, most of it records read by their id
    /// alone, and copying their text), so O(1) per record; a journal
    /// record costs every later load a few times what a snapshot record
    /// does (its keys are read at once, its change applied), so a short
    /// journal keeps loads cheap: at 1000 endpoints, 128 records at most.
    fn compact_at(&self) -> usize {
        let live =
            self.state.networks.len() + self.state.endpoints.len() + self.state.sandboxes.len();
        COMPACT_MIN.max(live / 8)
    }

    /// Rewrite the file as one snapshot. Done when the lock is taken, before
    /// the caller changes anything, and from the file itself (loaded
    /// again): the snapshot is exactly what the journal says, never a
    /// change in memory not yet recorded (an address taken for a connect
    /// under way). A snapshot that cannot be written is no failure: the
    /// journal stays, the next lock tries again.
    fn compact(&mut self) -> Result<()> {
        self.journal.reload(&mut self.state, true)?;
        if let Err(e) = self.write_snapshot() {
            tracing::warn!(
                path = %self.path().display(),
                error = %e,
                "could not compact the state journal; will try again"
            );
        }
        Ok(())
    }

    fn bad(&self, problem: StateProblem) -> Error {
        Error::State {
            path: self.path().to_owned(),
            problem,
        }
    }

    /// Make a change: apply `op` to the state in memory exactly as replay
    /// does (the journal is the only writer of the state), then write it
    /// down. The caller holds the lock. `durable` (network changes): the whole state is written as a
    /// new snapshot, fsynced; otherwise one journal record is appended.
    ///
    /// When the change cannot be written, the state is loaded again from
    /// the file before the error is returned: memory never runs ahead of
    /// the disk (the caller's own changes to [`state`](Store::state) since
    /// the lock was taken are gone too).
    pub fn record(&mut self, op: Op, durable: bool) -> Result<()> {
        if !self.journal.is_loaded() {
            // A load failed since the lock was taken: what is in memory
            // may be anything.
            return Err(Error::StateIo {
                op: "write to (not loaded)",
                path: self.path().to_owned(),
                errno: nix::errno::Errno::ESTALE,
            });
        }
        if let Some(p) = self.state.endpoints.problem() {
            // A record did not decode: what was decided on this state may
            // have missed it.
            return Err(self.bad(p.clone()));
        }
        let line = format::encode_op(&op)
            .map_err(|detail| self.bad(StateProblem::Malformed { line: 0, detail }))?;
        if let Err(detail) = self.state.apply(op) {
            self.resync();
            return Err(self.bad(StateProblem::Inconsistent { line: 0, detail }));
        }
        // A file of an older format (its rewrite failed when the lock was
        // taken) is never appended to: the change goes into a snapshot.
        let written = if durable || !self.journal.is_current() {
            self.write_snapshot()
        } else {
            self.journal.append(&line)
        };
        if written.is_err() {
            self.resync();
        }
        written
    }

    /// After a failed change: load the file again (the lock is held), so
    /// that memory is what the disk says. If even that fails, nothing more
    /// is written until a refresh loads it.
    fn resync(&mut self) {
        if self.journal.reload(&mut self.state, true).is_err() {
            self.journal.forget();
        }
    }

    /// Write the whole state as a new file (temp file, fsync, rename, fsync
    /// of the directory), and read and append to that file from now on.
    /// The caller holds the lock. On failure the current file is left as
    /// it was.
    pub fn write_snapshot(&mut self) -> Result<()> {
        let bytes = format::encode_snapshot(&self.state)
            .map_err(|detail| self.bad(StateProblem::Malformed { line: 1, detail }))?;
        self.journal.replace(&bytes, 1 + self.state.endpoints.len())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::net::IpAddr;
    use std::path::Path;

    use super::*;
    use crate::options::NetworkOptions;

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
            restore: Restore::default(),
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
            netns_dev: 0,
            netns_cookie: None,
            netns_ctime: 0,
            ifname: "eth0".into(),
            host_veth: format!("veth{id}"),
            mac: "02:42:00:00:00:01".into(),
            ipv4: Some(addr.parse().unwrap()),
            ipv6: None,
            dynamic4: true,
            dynamic6: false,
            default_route: true,
            gw_priority: 0,
            ports: Vec::new(),
            aliases: Vec::new(),
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// A connect as the live code does it: the address planned (the pool's
    /// next), then recorded (the record takes it).
    fn connect(s: &mut Store, id: &str, net: &NetworkRecord) -> IpAddr {
        let _l = s.lock().unwrap();
        let addr = s
            .state
            .network_by_id(&net.id)
            .unwrap()
            .pool4
            .as_ref()
            .unwrap()
            .next()
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
        let first = a.journal.id();
        let mut k = 0;
        while a.journal.id() == first {
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
        assert!(s.journal.lines() > COMPACT_MIN, "not compacted");
        let st = reopened(dir.path());
        assert_eq!(st, s.state);
        assert_eq!(st.sandboxes.len(), 1);
        // Once it can, the next lock compacts.
        std::fs::remove_dir(dir.path().join(format!("{STATE_FILE}.tmp"))).unwrap();
        let _l = s.lock().unwrap();
        assert_eq!(s.journal.lines(), 0);
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
                .as_mut()
                .unwrap()
                .allocate()
                .unwrap();
        }
        let first = s.journal.id();
        let addr = connect(&mut s, "a", &n);
        assert_ne!(s.journal.id(), first, "compacted when the lock was taken");
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
        s.journal.fail_next_write = true;
        assert!(s.record(sandbox("lost"), false).is_err());
        assert_eq!(s.state, before);
        // A snapshot that fails.
        s.journal.fail_next_write = true;
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
        assert!(r.journal.is_torn());
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

    #[test]
    fn a_version_1_file_is_read_and_rewritten_by_the_first_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        std::fs::write(dir.path().join(LOCK_FILE), b"").unwrap();
        std::fs::write(&path, format::tests::V1).unwrap();
        let expect = State::parse(format::tests::V1.as_bytes()).unwrap();
        // A reader without the lock reads it as it is.
        let mut r = Store::open_unlocked(dir.path()).unwrap();
        assert_eq!(r.state, expect);
        assert!(
            std::fs::read(&path)
                .unwrap()
                .starts_with(br#"{"brnet_state":1,"#)
        );
        // The first writer rewrites it in this build's format, the same
        // state in it.
        let mut w = Store::open(dir.path()).unwrap();
        assert!(
            std::fs::read(&path)
                .unwrap()
                .starts_with(br#"{"brnet_state":2,"#)
        );
        assert_eq!(w.state, expect);
        assert_eq!(w.journal_records(), 0);
        {
            let _l = w.lock().unwrap();
            w.record(sandbox("new"), false).unwrap();
        }
        r.refresh_unlocked().unwrap();
        assert_eq!(r.state, w.state);
        assert_eq!(reopened(dir.path()), w.state);
    }

    #[test]
    fn a_call_that_touches_one_endpoint_decodes_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let n = network("n", "10.1.0.0/16");
        {
            let mut s = Store::open(dir.path()).unwrap();
            {
                let _l = s.lock().unwrap();
                s.record(Op::Network { network: n.clone() }, true).unwrap();
            }
            for i in 0..50 {
                connect(&mut s, &format!("e{i:02}"), &n);
            }
            let _l = s.lock().unwrap();
            s.write_snapshot().unwrap();
            drop(_l);
            for i in 50..60 {
                connect(&mut s, &format!("e{i:02}"), &n);
            }
        }
        let mut s = Store::open(dir.path()).unwrap();
        let decoded = |s: &Store| {
            s.state
                .endpoints
                .entries()
                .filter(|e| match e {
                    lazy::Entry::Raw(r) => r.is_decoded(),
                    lazy::Entry::Owned(_) => true,
                })
                .count()
        };
        assert_eq!(s.state.endpoints.len(), 60);
        assert_eq!(decoded(&s), 0, "nothing decoded to load");
        // The next address follows all of them, from the keys alone.
        let addr = connect(&mut s, "new", &n);
        assert_eq!(addr.to_string(), "10.1.0.62");
        assert_eq!(decoded(&s), 1, "only the new one (built in memory)");
        // Keys questions decode nothing; the record asked for, itself.
        assert_eq!(s.state.endpoint_count(&n.id), 61);
        assert_eq!(s.state.endpoints_at(Path::new("/run/netns/e07")).count(), 1);
        assert_eq!(decoded(&s), 2);
        {
            let _l = s.lock().unwrap();
            s.record(Op::Disconnect { id: "e55".into() }, false)
                .unwrap();
        }
        assert_eq!(decoded(&s), 2, "a disconnect by keys");
        assert_eq!(reopened(dir.path()), s.state);
    }
}
