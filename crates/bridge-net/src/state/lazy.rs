//! Endpoint records decoded when first asked for.
//!
//! Loading a state file does not build its endpoint records: each one is
//! kept as the JSON text it was read as (a slice of the file, shared), with
//! the few fields the questions of one call are answered from, its
//! [`EndpointKeys`]: id, network, namespace (path and identity), addresses,
//! whether it publishes ports. These are found by a scan that skips every
//! other value (no allocation; a record it cannot read plainly, such as one
//! with an escaped string among its keys, is decoded whole instead). Replay
//! needs only the keys (addresses back to their pools, a disconnect's
//! endpoint found by id), and so do the scans a call makes over every
//! endpoint (dead namespaces, the other endpoints of a namespace): a call
//! that touches one endpoint decodes one record, whatever their number.
//!
//! The keys are read in two parts, each once and kept: the namespace keys
//! ([`NetnsKeys`]: the container and the namespace's path and identity,
//! what every call asks of every endpoint, [`Endpoints::all_netns`]),
//! read by position from after the network up to the interface; the rest
//! (addresses, ports, aliases) read on from there when first asked for.
//! A call that asks only which namespaces are gone, or which endpoints
//! are in one namespace, reads a third of each record and never again.
//!
//! [`Endpoints`] is a map by id with the parts of `BTreeMap`'s interface
//! the crate uses (iteration in id order). Its records are a sorted base
//! (the snapshot's, in the order the file has them: no per-record
//! allocation to load) and the changes since (the journal's and this
//! process's, by id). A record that does not decode when it is finally
//! asked for (a file edited by hand) is left out of what the map returns,
//! logged, and kept as the map's [`problem`](Endpoints::problem): the
//! [`Store`](super::Store) writes nothing more on such a state.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;
use std::iter::Peekable;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use ipnet::{Ipv4Net, Ipv6Net};

use super::records::EndpointRecord;
use crate::error::StateProblem;

/// A piece of the state file read into memory (complete lines, UTF-8),
/// shared by the records read from it.
pub(super) type Chunk = Arc<String>;

/// What the questions asked of every endpoint need, without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointKeys<'a> {
    /// The endpoint's id.
    pub id: &'a str,
    /// The network's id.
    pub network: &'a str,
    /// The container's id.
    pub container_id: &'a str,
    /// The container's name.
    pub container: &'a str,
    /// The namespace's path (empty: a detached endpoint).
    pub netns: &'a Path,
    /// See [`EndpointRecord::netns_ino`].
    pub netns_ino: u64,
    /// See [`EndpointRecord::netns_dev`].
    pub netns_dev: u64,
    /// See [`EndpointRecord::netns_cookie`].
    pub netns_cookie: Option<u64>,
    /// See [`EndpointRecord::netns_ctime`].
    pub netns_ctime: u64,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Net>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Net>,
    /// The IPv4 address came from the pool's sequence.
    pub dynamic4: bool,
    /// The IPv6 address came from the pool's sequence.
    pub dynamic6: bool,
    /// It publishes ports.
    pub publishes: bool,
    /// It has extra names ([`EndpointRecord::aliases`]).
    pub aliased: bool,
}

impl EndpointKeys<'_> {
    /// A detached endpoint (no namespace: see
    /// [`plan::is_detached`](crate::plan::is_detached)).
    pub fn is_detached(&self) -> bool {
        self.netns.as_os_str().is_empty()
    }
}

impl<'a> From<&'a EndpointRecord> for EndpointKeys<'a> {
    fn from(e: &'a EndpointRecord) -> Self {
        EndpointKeys {
            id: &e.id,
            network: &e.network,
            container_id: &e.container_id,
            container: &e.container,
            netns: &e.netns,
            netns_ino: e.netns_ino,
            netns_dev: e.netns_dev,
            netns_cookie: e.netns_cookie,
            netns_ctime: e.netns_ctime,
            ipv4: e.ipv4,
            ipv6: e.ipv6,
            dynamic4: e.dynamic4,
            dynamic6: e.dynamic6,
            publishes: !e.ports.is_empty(),
            aliased: !e.aliases.is_empty(),
        }
    }
}

impl<'a> From<&&'a EndpointRecord> for EndpointKeys<'a> {
    fn from(e: &&'a EndpointRecord) -> Self {
        EndpointKeys::from(*e)
    }
}

impl<'a> From<&EndpointKeys<'a>> for EndpointKeys<'a> {
    fn from(k: &EndpointKeys<'a>) -> Self {
        *k
    }
}

/// The part of an endpoint's keys that says which namespace it is in: what
/// a call asks of every endpoint (is its namespace still there? is it in
/// this one?). Read, by position, from the start of the record alone, and
/// kept: the rest of the keys ([`EndpointKeys`]) are read on from where
/// this stopped, when first asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetnsKeys<'a> {
    /// The endpoint's id.
    pub id: &'a str,
    /// The network's id.
    pub network: &'a str,
    /// The container's id.
    pub container_id: &'a str,
    /// The container's name.
    pub container: &'a str,
    /// The namespace's path (empty: a detached endpoint).
    pub netns: &'a Path,
    /// See [`EndpointRecord::netns_ino`].
    pub netns_ino: u64,
    /// See [`EndpointRecord::netns_dev`].
    pub netns_dev: u64,
    /// See [`EndpointRecord::netns_cookie`].
    pub netns_cookie: Option<u64>,
    /// See [`EndpointRecord::netns_ctime`].
    pub netns_ctime: u64,
}

impl NetnsKeys<'_> {
    /// A detached endpoint (no namespace: see
    /// [`plan::is_detached`](crate::plan::is_detached)).
    pub fn is_detached(&self) -> bool {
        self.netns.as_os_str().is_empty()
    }
}

impl<'a> From<EndpointKeys<'a>> for NetnsKeys<'a> {
    fn from(k: EndpointKeys<'a>) -> Self {
        NetnsKeys {
            id: k.id,
            network: k.network,
            container_id: k.container_id,
            container: k.container,
            netns: k.netns,
            netns_ino: k.netns_ino,
            netns_dev: k.netns_dev,
            netns_cookie: k.netns_cookie,
            netns_ctime: k.netns_ctime,
        }
    }
}

impl<'a> From<&EndpointKeys<'a>> for NetnsKeys<'a> {
    fn from(k: &EndpointKeys<'a>) -> Self {
        NetnsKeys::from(*k)
    }
}

impl<'a> From<&NetnsKeys<'a>> for NetnsKeys<'a> {
    fn from(k: &NetnsKeys<'a>) -> Self {
        *k
    }
}

impl<'a> From<&'a EndpointRecord> for NetnsKeys<'a> {
    fn from(e: &'a EndpointRecord) -> Self {
        NetnsKeys::from(EndpointKeys::from(e))
    }
}

impl<'a> From<&&'a EndpointRecord> for NetnsKeys<'a> {
    fn from(e: &&'a EndpointRecord) -> Self {
        NetnsKeys::from(*e)
    }
}

/// The namespace keys of a record kept as text: its strings as ranges of
/// the chunk.
#[derive(Debug, Clone)]
struct RawNs {
    container_id: Range<usize>,
    container: Range<usize>,
    netns: Range<usize>,
    netns_ino: u64,
    netns_dev: u64,
    netns_cookie: Option<u64>,
    netns_ctime: u64,
    /// Where a reading by position stopped (the rest of the keys are
    /// read on from here); `None`: read otherwise.
    end: Option<usize>,
}

/// The rest of a record's keys.
#[derive(Debug, Clone)]
struct RawTail {
    ipv4: Option<Ipv4Net>,
    ipv6: Option<Ipv6Net>,
    dynamic4: bool,
    dynamic6: bool,
    publishes: bool,
    aliased: bool,
}

/// All the keys of a record kept as text.
#[derive(Debug, Clone)]
struct RawKeys {
    id: Range<usize>,
    network: Range<usize>,
    ns: RawNs,
    tail: RawTail,
}

/// A record kept as the text it was read as.
#[derive(Clone)]
pub(super) struct RawEntry {
    chunk: Chunk,
    /// The record's JSON within the chunk.
    json: Range<usize>,
    /// The file's line it is on, for errors.
    line: usize,
    /// Its id and network (within the chunk): read when it is loaded.
    id: Range<usize>,
    network: Range<usize>,
    /// Its namespace keys, read when first asked for (`None` inside: not
    /// readable plainly; they come from the decoded record).
    ns: OnceLock<Option<RawNs>>,
    /// The rest of its keys, read when first asked for (`None` inside:
    /// not readable plainly; they come from the decoded record).
    tail: OnceLock<Option<RawTail>>,
    /// Decoded when first asked for (`None` inside: it did not decode).
    record: OnceLock<Option<Box<EndpointRecord>>>,
}

/// One endpoint: as read from the file, or built in memory.
// The raw variant is the one loaded by the thousand, in one vector: boxing
// it would cost an allocation per record on every load.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(super) enum Entry {
    /// Read from the file, decoded when asked for.
    Raw(RawEntry),
    /// Built in memory (a live change, or a record read whole).
    Owned(Box<EndpointRecord>),
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Raw(r) => write!(f, "Raw(line {}, {} bytes)", r.line, r.json.len()),
            Entry::Owned(e) => e.fmt(f),
        }
    }
}

impl RawEntry {
    /// Whether it was decoded.
    #[cfg(test)]
    pub(super) fn is_decoded(&self) -> bool {
        self.record.get().is_some()
    }

    /// Its text at `range`.
    fn text(&self, range: &Range<usize>) -> &str {
        self.chunk.get(range.clone()).unwrap_or_default()
    }

    /// Its namespace keys as read (once): by position, after the id and
    /// network found at load; else by the general scan, which reads the
    /// rest of the keys too (kept). `None`: not readable plainly.
    fn raw_ns(&self) -> Option<&RawNs> {
        self.ns
            .get_or_init(|| {
                serde_ns(&self.chunk, self.json.clone(), self.network.end).or_else(|| {
                    let k = raw_keys(&self.chunk, self.json.clone())?;
                    let _ = self.tail.set(Some(k.tail));
                    Some(k.ns)
                })
            })
            .as_ref()
    }

    /// The rest of its keys as read (once): by position from where the
    /// namespace keys stopped; else by the general scan.
    fn raw_tail(&self) -> Option<&RawTail> {
        self.tail
            .get_or_init(|| {
                let end = self.raw_ns()?.end;
                end.and_then(|at| serde_tail(&self.chunk, self.json.clone(), at))
                    .or_else(|| raw_keys(&self.chunk, self.json.clone()).map(|k| k.tail))
            })
            .as_ref()
    }

    /// The namespace keys, `ns` read from this entry.
    fn netns_keys_of<'a>(&'a self, ns: &RawNs) -> NetnsKeys<'a> {
        NetnsKeys {
            id: self.text(&self.id),
            network: self.text(&self.network),
            container_id: self.text(&ns.container_id),
            container: self.text(&ns.container),
            netns: Path::new(self.text(&ns.netns)),
            netns_ino: ns.netns_ino,
            netns_dev: ns.netns_dev,
            netns_cookie: ns.netns_cookie,
            netns_ctime: ns.netns_ctime,
        }
    }
}

impl Entry {
    /// The record at `json` of `chunk` (on the file's line `line`): its
    /// keys read, the rest left as text; decoded whole when the keys cannot
    /// be read plainly. `Err`: it does not decode.
    pub(super) fn read(chunk: &Chunk, json: Range<usize>, line: usize) -> Result<Entry, String> {
        match raw_keys(chunk, json.clone()) {
            Some(keys) => Ok(Entry::Raw(RawEntry {
                chunk: chunk.clone(),
                json,
                line,
                id: keys.id,
                network: keys.network,
                ns: OnceLock::from(Some(keys.ns)),
                tail: OnceLock::from(Some(keys.tail)),
                record: OnceLock::new(),
            })),
            None => serde_json::from_str::<EndpointRecord>(&chunk[json])
                .map(|e| Entry::Owned(Box::new(e)))
                .map_err(|e| e.to_string()),
        }
    }

    /// As [`read`](Entry::read), but only its id and network are read
    /// now (when they are written as serde writes them, first), the rest
    /// of its keys when first asked for: how a snapshot's records load.
    pub(super) fn read_lazily(
        chunk: &Chunk,
        json: Range<usize>,
        line: usize,
    ) -> Result<Entry, String> {
        let Some((id, network)) = serde_id_network(chunk, json.clone()) else {
            return Entry::read(chunk, json, line);
        };
        Ok(Entry::Raw(RawEntry {
            chunk: chunk.clone(),
            json,
            line,
            id,
            network,
            ns: OnceLock::new(),
            tail: OnceLock::new(),
            record: OnceLock::new(),
        }))
    }

    /// The network's id.
    pub(super) fn network(&self) -> &str {
        match self {
            Entry::Owned(e) => &e.network,
            Entry::Raw(r) => r.chunk.get(r.network.clone()).unwrap_or_default(),
        }
    }

    /// Its keys, for an entry just read with [`read`](Entry::read) or built
    /// in memory (their keys are known).
    pub(super) fn own_keys(&self) -> EndpointKeys<'_> {
        self.keys(&OnceLock::new())
    }

    /// Its namespace keys (read, by position, when first asked for; from
    /// the decoded record when they cannot be read plainly; only the id
    /// and network when it does not decode either, said in `problem`).
    fn netns_keys<'a>(&'a self, problem: &OnceLock<StateProblem>) -> NetnsKeys<'a> {
        let r = match self {
            Entry::Owned(e) => return NetnsKeys::from(&**e),
            Entry::Raw(r) => r,
        };
        match r.raw_ns() {
            Some(ns) => r.netns_keys_of(ns),
            None => self.decoded_keys(problem).into(),
        }
    }

    /// Its keys (read when first asked for, the namespace keys first;
    /// from the decoded record when they cannot be read plainly; only the
    /// id and network when it does not decode either, said in `problem`).
    fn keys<'a>(&'a self, problem: &OnceLock<StateProblem>) -> EndpointKeys<'a> {
        let r = match self {
            Entry::Owned(e) => return EndpointKeys::from(&**e),
            Entry::Raw(r) => r,
        };
        let (Some(ns), Some(t)) = (r.raw_ns(), r.raw_tail()) else {
            return self.decoded_keys(problem);
        };
        let k = r.netns_keys_of(ns);
        EndpointKeys {
            id: k.id,
            network: k.network,
            container_id: k.container_id,
            container: k.container,
            netns: k.netns,
            netns_ino: k.netns_ino,
            netns_dev: k.netns_dev,
            netns_cookie: k.netns_cookie,
            netns_ctime: k.netns_ctime,
            ipv4: t.ipv4,
            ipv6: t.ipv6,
            dynamic4: t.dynamic4,
            dynamic6: t.dynamic6,
            publishes: t.publishes,
            aliased: t.aliased,
        }
    }

    /// The keys of a raw entry that cannot be read plainly: from the
    /// decoded record, or only its id and network.
    fn decoded_keys<'a>(&'a self, problem: &OnceLock<StateProblem>) -> EndpointKeys<'a> {
        if let Some(e) = self.record(problem) {
            return EndpointKeys::from(e);
        }
        EndpointKeys {
            id: self.id(),
            network: self.network(),
            container_id: "",
            container: "",
            netns: Path::new(""),
            netns_ino: 0,
            netns_dev: 0,
            netns_cookie: None,
            netns_ctime: 0,
            ipv4: None,
            ipv6: None,
            dynamic4: false,
            dynamic6: false,
            publishes: false,
            aliased: false,
        }
    }

    pub(super) fn id(&self) -> &str {
        match self {
            Entry::Owned(e) => &e.id,
            Entry::Raw(r) => r.chunk.get(r.id.clone()).unwrap_or_default(),
        }
    }

    /// The record, decoded (once); `None` when it does not decode (said
    /// in `problem`).
    fn record<'a>(&'a self, problem: &OnceLock<StateProblem>) -> Option<&'a EndpointRecord> {
        match self {
            Entry::Owned(e) => Some(e),
            Entry::Raw(r) => r
                .record
                .get_or_init(|| match serde_json::from_str(&r.chunk[r.json.clone()]) {
                    Ok(e) => Some(Box::new(e)),
                    Err(e) => {
                        tracing::error!(line = r.line, error = %e, "a state record does not decode");
                        let _ = problem.set(StateProblem::Malformed {
                            line: r.line,
                            detail: e.to_string(),
                        });
                        None
                    }
                })
                .as_deref(),
        }
    }

    /// The record's JSON as a snapshot writes it: as read, or encoded.
    pub(super) fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Entry::Raw(r) => {
                out.extend_from_slice(r.chunk[r.json.clone()].as_bytes());
                Ok(())
            }
            Entry::Owned(e) => serde_json::to_writer(out, e).map_err(|e| e.to_string()),
        }
    }
}

/// Endpoints by id, decoded when first asked for: each kept as the text it
/// was read as, with its [`EndpointKeys`] read plainly (by position, as
/// serde writes them) when first asked for. The snapshot's records are a
/// sorted vector (no allocation per record to load), the changes since a
/// map by id; iteration merges them in id order.
#[derive(Clone, Default)]
pub struct Endpoints {
    /// Sorted by id, unique: the snapshot's.
    base: Vec<Entry>,
    /// By id, since the snapshot: added or replaced (`Some`), removed
    /// (`None`, only for ids of `base`).
    changed: BTreeMap<String, Option<Entry>>,
    len: usize,
    problem: OnceLock<StateProblem>,
}

impl Endpoints {
    /// A map of the snapshot's records (`base`, in any order). `Err`: an
    /// id recorded twice.
    pub(super) fn from_base(mut base: Vec<Entry>) -> Result<Endpoints, String> {
        if !base.windows(2).all(|w| w[0].id() < w[1].id()) {
            base.sort_by(|a, b| a.id().cmp(b.id()));
            if let Some(w) = base.windows(2).find(|w| w[0].id() == w[1].id()) {
                return Err(format!("endpoint {} recorded twice", w[0].id()));
            }
        }
        Ok(Endpoints {
            len: base.len(),
            base,
            changed: BTreeMap::new(),
            problem: OnceLock::new(),
        })
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        match self.changed.get(id) {
            Some(e) => e.as_ref(),
            None => self
                .base
                .binary_search_by(|e| e.id().cmp(id))
                .ok()
                .map(|i| &self.base[i]),
        }
    }

    fn in_base(&self, id: &str) -> bool {
        self.base.binary_search_by(|e| e.id().cmp(id)).is_ok()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether there is one with this id.
    pub fn contains_key(&self, id: &str) -> bool {
        self.entry(id).is_some()
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Option<&EndpointRecord> {
        self.entry(id)?.record(&self.problem)
    }

    /// The keys of the record with this id (nothing decoded).
    pub fn keys_of(&self, id: &str) -> Option<EndpointKeys<'_>> {
        self.entry(id).map(|e| e.keys(&self.problem))
    }

    /// Add or replace.
    pub(super) fn insert(&mut self, entry: Entry) {
        match self.changed.entry(entry.id().to_owned()) {
            btree_map::Entry::Occupied(mut o) => {
                if o.insert(Some(entry)).is_none() {
                    self.len += 1;
                }
            }
            btree_map::Entry::Vacant(v) => {
                let id = v.key().as_str();
                if self.base.binary_search_by(|e| e.id().cmp(id)).is_err() {
                    self.len += 1;
                }
                v.insert(Some(entry));
            }
        }
    }

    /// Take the one with this id out; `false` when there is none.
    pub(super) fn remove(&mut self, id: &str) -> bool {
        if !self.contains_key(id) {
            return false;
        }
        if self.in_base(id) {
            self.changed.insert(id.to_owned(), None);
        } else {
            self.changed.remove(id);
        }
        self.len -= 1;
        true
    }

    /// Every entry, in id order.
    pub(super) fn entries(&self) -> Entries<'_> {
        Entries {
            base: self.base.iter().peekable(),
            changed: self.changed.iter().peekable(),
        }
    }

    /// The keys of every endpoint, in id order (nothing decoded).
    pub fn all_keys(&self) -> impl Iterator<Item = EndpointKeys<'_>> + '_ {
        self.entries().map(|e| e.keys(&self.problem))
    }

    /// The records whose keys pass `f`, decoded, in id order: only those
    /// are decoded.
    pub fn matching<'a>(
        &'a self,
        mut f: impl FnMut(&EndpointKeys<'_>) -> bool + 'a,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.entries()
            .filter(move |e| f(&e.keys(&self.problem)))
            .filter_map(|e| e.record(&self.problem))
    }

    /// The network of every endpoint, in id order (nothing read: known
    /// since the record was loaded).
    pub fn networks(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries().map(Entry::network)
    }

    /// The namespace keys of every endpoint, in id order (nothing
    /// decoded, and of each record only what comes before its interface
    /// read: see [`NetnsKeys`]).
    pub fn all_netns(&self) -> impl Iterator<Item = NetnsKeys<'_>> + '_ {
        self.entries().map(|e| e.netns_keys(&self.problem))
    }

    /// The records whose namespace keys pass `f`, decoded, in id order:
    /// only those are decoded (see [`matching`](Endpoints::matching)).
    pub fn matching_netns<'a>(
        &'a self,
        mut f: impl FnMut(&NetnsKeys<'_>) -> bool + 'a,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.entries()
            .filter(move |e| f(&e.netns_keys(&self.problem)))
            .filter_map(|e| e.record(&self.problem))
    }

    /// Every record, decoded, in id order.
    pub fn values(&self) -> impl Iterator<Item = &EndpointRecord> + '_ {
        self.entries().filter_map(|e| e.record(&self.problem))
    }

    /// Every id and record, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &EndpointRecord)> + '_ {
        self.values().map(|e| (e.id.as_str(), e))
    }

    /// Every id, in order (nothing decoded).
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries().map(Entry::id)
    }

    /// Why a record did not decode, if one did not.
    pub fn problem(&self) -> Option<&StateProblem> {
        self.problem.get()
    }

    /// Decode every record: the first that does not decode, if any.
    pub fn decode_all(&self) -> Result<(), StateProblem> {
        self.entries().for_each(|e| {
            e.record(&self.problem);
        });
        match self.problem.get() {
            Some(p) => Err(p.clone()),
            None => Ok(()),
        }
    }
}

/// The entries of an [`Endpoints`], in id order: its base and its changes
/// merged.
pub(super) struct Entries<'a> {
    base: Peekable<std::slice::Iter<'a, Entry>>,
    changed: Peekable<btree_map::Iter<'a, String, Option<Entry>>>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        loop {
            let order = match (self.base.peek(), self.changed.peek()) {
                (None, None) => return None,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(b), Some((id, _))) => b.id().cmp(id.as_str()),
            };
            match order {
                std::cmp::Ordering::Less => return self.base.next(),
                std::cmp::Ordering::Equal => {
                    self.base.next();
                }
                std::cmp::Ordering::Greater => {}
            }
            if let Some((_, Some(e))) = self.changed.next() {
                return Some(e);
            }
        }
    }
}

impl std::ops::Index<&str> for Endpoints {
    type Output = EndpointRecord;
    fn index(&self, id: &str) -> &EndpointRecord {
        self.get(id).expect("no endpoint with this id")
    }
}

impl std::ops::Index<&String> for Endpoints {
    type Output = EndpointRecord;
    fn index(&self, id: &String) -> &EndpointRecord {
        &self[id.as_str()]
    }
}

impl PartialEq for Endpoints {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Endpoints {}

impl fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<EndpointRecord> for Endpoints {
    fn from_iter<I: IntoIterator<Item = EndpointRecord>>(iter: I) -> Self {
        let mut m = Endpoints::default();
        for e in iter {
            m.insert(Entry::Owned(Box::new(e)));
        }
        m
    }
}

/// A scan of JSON text that finds an object's members and skips their
/// values, building nothing.
struct Scan<'a> {
    b: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        let hit = self.b.get(self.at) == Some(&c);
        if hit {
            self.at += 1;
        }
        hit
    }

    /// A string: the range of what is between its quotes, and whether it
    /// has escapes.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        self.ws();
        if self.b.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            let j = i + super::scan::find2(b'"', b'\\', self.b.get(i..)?)?;
            if self.b[j] == b'\\' {
                escaped = true;
                i = j + 2;
                continue;
            }
            self.at = j + 1;
            return Some((start..j, escaped));
        }
    }

    /// Skip one value: its range.
    fn value(&mut self) -> Option<Range<usize>> {
        self.ws();
        let start = self.at;
        match *self.b.get(self.at)? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.b.get(self.at)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                while let Some(c) = self.b.get(self.at) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.at += 1;
                }
                if self.at == start {
                    return None;
                }
            }
        }
        Some(start..self.at)
    }

    /// The members of the object here, each given to `f` as its key and
    /// its value's range; then nothing but white space may follow.
    fn object(&mut self, mut f: impl FnMut(&[u8], Range<usize>) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if !self.eat(b'}') {
            loop {
                let (key, escaped) = self.string()?;
                if escaped || !self.eat(b':') {
                    return None;
                }
                let value = self.value()?;
                f(&self.b[key], value)?;
                if self.eat(b',') {
                    continue;
                }
                if !self.eat(b'}') {
                    return None;
                }
                break;
            }
        }
        self.ws();
        (self.at == self.b.len()).then_some(())
    }
}

/// The keys of the endpoint record at `json` of `text`, read plainly:
/// `None` when they cannot be (a key string with escapes, a value of an
/// unexpected form, a key missing), and the record must be decoded whole.
fn raw_keys(text: &str, json: Range<usize>) -> Option<RawKeys> {
    if let Some(k) = serde_keys(text, json.clone()) {
        return Some(k);
    }
    let b = text.as_bytes().get(json.clone())?;
    let base = json.start;
    let at = |r: Range<usize>| r.start + base..r.end + base;
    let plain = |v: &Range<usize>| -> Option<Range<usize>> {
        let s = b.get(v.clone())?;
        if s.len() < 2
            || s[0] != b'"'
            || s[s.len() - 1] != b'"'
            || s[1..s.len() - 1].contains(&b'\\')
        {
            return None;
        }
        Some(v.start + 1..v.end - 1)
    };
    let number = |v: &Range<usize>| -> Option<u64> {
        let s = b.get(v.clone())?;
        if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let boolean = |v: &Range<usize>| -> Option<bool> {
        match b.get(v.clone())? {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    };
    let (mut id, mut network, mut netns, mut ino) = (None, None, None, None);
    let (mut container_id, mut container) = (None, None);
    let mut k = RawKeys {
        id: 0..0,
        network: 0..0,
        ns: RawNs {
            container_id: 0..0,
            container: 0..0,
            netns: 0..0,
            netns_ino: 0,
            netns_dev: 0,
            netns_cookie: None,
            netns_ctime: 0,
            end: None,
        },
        tail: RawTail {
            ipv4: None,
            ipv6: None,
            dynamic4: false,
            dynamic6: false,
            publishes: false,
            aliased: false,
        },
    };
    Scan { b, at: 0 }.object(|key, v| {
        match key {
            b"id" => id = Some(plain(&v)?),
            b"network" => network = Some(plain(&v)?),
            b"container_id" => container_id = Some(plain(&v)?),
            b"container" => container = Some(plain(&v)?),
            b"netns" => netns = Some(plain(&v)?),
            b"netns_ino" => ino = Some(number(&v)?),
            b"netns_dev" => k.ns.netns_dev = number(&v)?,
            b"netns_cookie" => {
                k.ns.netns_cookie = match b.get(v.clone())? {
                    b"null" => None,
                    _ => Some(number(&v)?),
                }
            }
            b"netns_ctime" => k.ns.netns_ctime = number(&v)?,
            b"ipv4" => {
                k.tail.ipv4 = match b.get(v.clone())? {
                    b"null" => None,
                    _ => Some(text.get(at(plain(&v)?))?.parse().ok()?),
                }
            }
            b"ipv6" => {
                k.tail.ipv6 = match b.get(v.clone())? {
                    b"null" => None,
                    _ => Some(text.get(at(plain(&v)?))?.parse().ok()?),
                }
            }
            b"dynamic4" => k.tail.dynamic4 = boolean(&v)?,
            b"dynamic6" => k.tail.dynamic6 = boolean(&v)?,
            b"ports" | b"aliases" => {
                let s = b.get(v)?;
                let some = s
                    .iter()
                    .any(|c| !matches!(c, b'[' | b']' | b' ' | b'\n' | b'\t' | b'\r'));
                if s.first() != Some(&b'[') {
                    return None;
                }
                if key == b"ports" {
                    k.tail.publishes = some;
                } else {
                    k.tail.aliased = some;
                }
            }
            _ => {}
        }
        Some(())
    })?;
    k.id = at(id?);
    k.network = at(network?);
    k.ns.container_id = at(container_id?);
    k.ns.container = at(container?);
    k.ns.netns = at(netns?);
    k.ns.netns_ino = ino?;
    Some(k)
}

/// The id and network of a record as serde writes it (first, without
/// escapes).
fn serde_id_network(text: &str, json: Range<usize>) -> Option<(Range<usize>, Range<usize>)> {
    let b = text.as_bytes().get(..json.end)?;
    let mut at = json.start;
    let mut field = |lit: &[u8]| -> Option<Range<usize>> {
        if !b.get(at..)?.starts_with(lit) {
            return None;
        }
        let start = at + lit.len();
        let q = start + super::scan::find2(b'"', b'\\', b.get(start..)?)?;
        if b[q] != b'"' {
            return None;
        }
        at = q + 1;
        Some(start..q)
    };
    let id = field(br#"{"id":""#)?;
    let network = field(br#","network":""#)?;
    Some((id, network))
}

/// `a.b.c.d/p` as serde writes an [`Ipv4Net`] (decimal, no leading
/// zeros), read without a general parser; `None` for anything else (the
/// general scan then parses it).
fn ipv4_net(s: &str) -> Option<Ipv4Net> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    let mut n: u32 = 0;
    let mut digits = 0;
    let mut prefix = None;
    for &c in s.as_bytes() {
        match c {
            b'0'..=b'9' if digits < 3 => {
                if digits == 1 && n == 0 {
                    return None;
                }
                n = n * 10 + u32::from(c - b'0');
                digits += 1;
            }
            b'.' if i < 3 && digits > 0 => {
                octets[i] = u8::try_from(n).ok()?;
                (i, n, digits) = (i + 1, 0, 0);
            }
            b'/' if i == 3 && digits > 0 && prefix.is_none() => {
                octets[3] = u8::try_from(n).ok()?;
                prefix = Some(());
                (n, digits) = (0, 0);
            }
            _ => return None,
        }
    }
    prefix?;
    if digits == 0 {
        return None;
    }
    Ipv4Net::new(octets.into(), u8::try_from(n).ok()?).ok()
}

/// The decimal digits `s` starts with: their value and how many there
/// are; `None` when there is none or the value does not fit in a `u64`.
/// Up to 19 digits always fit: summed without checks.
fn digits(s: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    let mut n = 0;
    // Eight at a time while there are (twice at most: the rest of 19
    // one by one).
    while n < 16 {
        match s.get(n..).and_then(eight_digits) {
            Some(e) => {
                v = v * 100_000_000 + e;
                n += 8;
            }
            None => break,
        }
    }
    while n < 19 && n < s.len() {
        let d = s[n].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + u64::from(d);
        n += 1;
    }
    if n == 19 && s.get(19).is_some_and(u8::is_ascii_digit) {
        for &c in s[19..].iter().take_while(|c| c.is_ascii_digit()) {
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            n += 1;
        }
    }
    (n > 0).then_some((v, n))
}

/// A reading, by position, of a record as serde writes it (no white
/// space, the members in [`EndpointRecord`]'s order, empty and default
/// ones left out): each step `None` (or `false`) where the text is not
/// what serde would have written there.
struct Reader<'a> {
    b: &'a [u8],
    end: usize,
    at: usize,
}

impl Reader<'_> {
    /// The literal `lit` next.
    fn lit(&mut self, lit: &[u8]) -> bool {
        let hit = self
            .b
            .get(self.at..self.end)
            .is_some_and(|s| s.starts_with(lit));
        if hit {
            self.at += lit.len();
        }
        hit
    }

    /// The literal `lit` next, or `None`.
    fn expect(&mut self, lit: &[u8]) -> Option<()> {
        self.lit(lit).then_some(())
    }

    /// A string's contents up to its closing quote (no escapes). Short
    /// strings (names, paths, addresses) are looked through a word at a
    /// time ([`quote_or_escape`]), which costs less than setting up a
    /// vector search; ids by `scan::find2`.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        let s = self.b.get(start..self.end)?;
        let q = quote_or_escape(s)?;
        if s[q] != b'"' {
            return None;
        }
        self.at = start + q + 1;
        Some(start..start + q)
    }

    /// A string known to be long (an id): by a vector search at once.
    fn long_string(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        let q = start + super::scan::find2(b'"', b'\\', self.b.get(start..self.end)?)?;
        if self.b[q] != b'"' {
            return None;
        }
        self.at = q + 1;
        Some(start..q)
    }

    fn number(&mut self) -> Option<u64> {
        let (v, len) = digits(self.b.get(self.at..self.end)?)?;
        self.at += len;
        Some(v)
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.lit(b"true") {
            Some(true)
        } else if self.lit(b"false") {
            Some(false)
        } else {
            None
        }
    }
}

/// Where the first `"` or `\\` of `s` is, looked for eight bytes at a time
/// (a word's bytes equal to either found with the borrow trick: the lowest
/// flagged byte is always a true one).
fn quote_or_escape(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut i = 0;
    while let Some(word) = s.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w);
        let hit =
            zero_byte(x ^ (ONES * u64::from(b'"'))) | zero_byte(x ^ (ONES * u64::from(b'\\')));
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| i + p)
}

/// The eight ASCII digits `s` starts with, as a number, read as one word;
/// `None` when it is shorter or one of them is not a digit.
fn eight_digits(s: &[u8]) -> Option<u64> {
    const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let mut w = [0u8; 8];
    w.copy_from_slice(s.get(..8)?);
    let x = u64::from_le_bytes(w);
    // Each byte 0x30..=0x39: its high nibble is 3, and still 3 with 6
    // added (a byte that carries is not one: its own nibble says so).
    if (x & NIBBLES) | ((x.wrapping_add(0x0606_0606_0606_0606) & NIBBLES) >> 4)
        != 0x3333_3333_3333_3333
    {
        return None;
    }
    // The first digit is the lowest byte: pairs, then fours, then eight.
    let mut v = x & 0x0F0F_0F0F_0F0F_0F0F;
    v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    v = v.wrapping_mul(10_000).wrapping_add(v >> 32);
    Some(v & 0xFFFF_FFFF)
}

/// The keys of a record as serde writes it (see [`Reader`]), read by
/// position; `None` for anything else (the general scan then reads it).
fn serde_keys(text: &str, json: Range<usize>) -> Option<RawKeys> {
    let mut r = Reader {
        b: text.as_bytes(),
        end: json.end,
        at: json.start,
    };
    r.expect(br#"{"id":""#)?;
    let id = r.long_string()?;
    r.expect(br#","network":""#)?;
    let network = r.long_string()?;
    let ns = serde_ns(text, json.clone(), r.at - 1)?;
    let tail = serde_tail(text, json, ns.end?)?;
    Some(RawKeys {
        id,
        network,
        ns,
        tail,
    })
}

/// The namespace keys of a record as serde writes it, read by position
/// from `network_end` (the closing quote of its network's id, found at
/// load) up to its interface; `None` for anything else.
fn serde_ns(text: &str, json: Range<usize>, network_end: usize) -> Option<RawNs> {
    let mut r = Reader {
        b: text.as_bytes(),
        end: json.end,
        at: network_end + 1,
    };
    if r.at <= json.start || r.b.get(network_end) != Some(&b'"') {
        return None;
    }
    r.expect(br#","container_id":""#)?;
    let container_id = r.long_string()?;
    r.expect(br#","container":""#)?;
    let container = r.string()?;
    r.expect(br#","netns":""#)?;
    let netns = r.string()?;
    r.expect(br#","netns_ino":"#)?;
    let netns_ino = r.number()?;
    let netns_dev = if r.lit(br#","netns_dev":"#) {
        r.number()?
    } else {
        0
    };
    let netns_cookie = if r.lit(br#","netns_cookie":"#) {
        Some(r.number()?)
    } else {
        None
    };
    let netns_ctime = if r.lit(br#","netns_ctime":"#) {
        r.number()?
    } else {
        0
    };
    Some(RawNs {
        container_id,
        container,
        netns,
        netns_ino,
        netns_dev,
        netns_cookie,
        netns_ctime,
        end: Some(r.at),
    })
}

/// The rest of the keys of a record as serde writes it, read by position
/// from `at` (where [`serde_ns`] stopped); `None` for anything else.
fn serde_tail(text: &str, json: Range<usize>, at: usize) -> Option<RawTail> {
    let mut r = Reader {
        b: text.as_bytes(),
        end: json.end,
        at,
    };
    for field in [&br#","ifname":""#[..], br#","host_veth":""#, br#","mac":""#] {
        r.expect(field)?;
        r.string()?;
    }
    let ipv4 = if r.lit(br#","ipv4":""#) {
        Some(ipv4_net(text.get(r.string()?)?)?)
    } else {
        None
    };
    let ipv6 = if r.lit(br#","ipv6":""#) {
        Some(text.get(r.string()?)?.parse().ok()?)
    } else {
        None
    };
    r.expect(br#","dynamic4":"#)?;
    let dynamic4 = r.boolean()?;
    r.expect(br#","dynamic6":"#)?;
    let dynamic6 = r.boolean()?;
    r.expect(br#","default_route":"#)?;
    r.boolean()?;
    if r.lit(br#","gw_priority":"#) {
        r.lit(b"-");
        r.number()?;
    }
    // What follows (gw_priority, ports, aliases, created) holds no key
    // but whether there are ports and aliases: found by their member names,
    // which appear nowhere else (`"` inside a string value is escaped).
    let rest = r.b.get(r.at..r.end)?;
    let publishes = rest.starts_with(br#","ports":["#);
    let aliased = if publishes {
        super::scan::contains(rest, br#","aliases":["#)
    } else {
        rest.starts_with(br#","aliases":["#)
    };
    if !rest.ends_with(b"\"}") {
        return None;
    }
    Some(RawTail {
        ipv4,
        ipv6,
        dynamic4,
        dynamic6,
        publishes,
        aliased,
    })
}

/// Whether the namespace path `recorded` (an endpoint's) is `asked`: their
/// bytes, or else (another spelling of the same path) their components,
/// compared only when their last components match. `Path`'s own `==`
/// walks both component by component: about 700 instructions, per
/// endpoint, for a question asked of every endpoint.
pub(crate) fn same_netns(recorded: &Path, asked: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (r, a) = (
        recorded.as_os_str().as_bytes(),
        asked.as_os_str().as_bytes(),
    );
    if r == a {
        return true;
    }
    // A path whose last byte is neither `/` nor `.` ends in a plain
    // component ending with that byte: two such last bytes that differ are
    // two last components that differ. Nothing to parse.
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b != b'/' && b != b'.');
    if plain(r.last()) && plain(a.last()) && r.last() != a.last() {
        return false;
    }
    recorded.file_name() == asked.file_name() && recorded == asked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, netns: &str) -> EndpointRecord {
        EndpointRecord {
            id: id.into(),
            network: "n".repeat(64),
            container_id: id.into(),
            container: format!("c-{id}"),
            netns: netns.into(),
            netns_ino: 4026532001,
            netns_dev: 4,
            netns_cookie: Some(77),
            netns_ctime: 1_700_000_000_000_000_123,
            ifname: "eth0".into(),
            host_veth: format!("veth{id}"),
            mac: "02:42:0a:58:00:02".into(),
            ipv4: Some("10.88.0.2/16".parse().unwrap()),
            ipv6: Some("fd00::2/64".parse().unwrap()),
            dynamic4: true,
            dynamic6: false,
            default_route: true,
            gw_priority: 3,
            ports: Vec::new(),
            aliases: vec!["a".into()],
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn chunk_of(recs: &[&EndpointRecord]) -> (Chunk, Vec<Range<usize>>) {
        let mut text = String::new();
        let mut ranges = Vec::new();
        for r in recs {
            let start = text.len();
            text.push_str(&serde_json::to_string(r).unwrap());
            ranges.push(start..text.len());
            text.push('\n');
        }
        (Arc::new(text), ranges)
    }

    #[test]
    fn keys_read_plainly_are_the_records_keys() {
        let mut with_ports = record("b", "/run/netns/x");
        with_ports.ports.push(super::super::records::PortRecord {
            protocol: "tcp".into(),
            host_ip: None,
            host_port: 8080,
            host_port_end: 8080,
            container_port: 80,
            container_port_end: 80,
        });
        with_ports.netns_cookie = None;
        with_ports.aliases.clear();
        let mut detached = record("c", "");
        detached.ipv6 = None;
        detached.netns_dev = 0;
        let recs = [record("a", "/run/netns/a"), with_ports, detached];
        let (chunk, ranges) = chunk_of(&recs.iter().collect::<Vec<_>>());
        for (r, range) in recs.iter().zip(ranges) {
            assert!(
                serde_keys(&chunk, range.clone()).is_some(),
                "read by position: {}",
                &chunk[range.clone()]
            );
            let lazily = Entry::read_lazily(&chunk, range.clone(), 2).unwrap();
            assert!(
                matches!(&lazily, Entry::Raw(r) if r.ns.get().is_none() && r.tail.get().is_none())
            );
            // The namespace keys alone first: the rest is not read.
            let problem = OnceLock::new();
            assert_eq!(lazily.netns_keys(&problem), NetnsKeys::from(r));
            assert!(
                matches!(&lazily, Entry::Raw(r) if r.ns.get().is_some() && r.tail.get().is_none())
            );
            // The rest, read on from there.
            assert_eq!(lazily.own_keys(), EndpointKeys::from(r), "read lazily");
            assert_eq!(lazily.netns_keys(&problem), NetnsKeys::from(r));
            assert!(problem.get().is_none());
            let e = Entry::read(&chunk, range, 2).unwrap();
            assert!(matches!(e, Entry::Raw(_)), "read plainly");
            assert_eq!(e.own_keys(), EndpointKeys::from(r));
            let problem = OnceLock::new();
            assert_eq!(e.record(&problem), Some(r));
        }
    }

    #[test]
    fn a_record_with_escapes_or_white_space_is_read_all_the_same() {
        let r = record("a", "/run/netns/with \"quote\"");
        let (chunk, ranges) = chunk_of(&[&r]);
        let e = Entry::read(&chunk, ranges[0].clone(), 2).unwrap();
        assert!(matches!(e, Entry::Owned(_)), "decoded whole");
        assert_eq!(e.own_keys(), EndpointKeys::from(&r));
        // Read lazily (its id and network are plain), its namespace keys
        // come from the decoded record.
        let lazily = Entry::read_lazily(&chunk, ranges[0].clone(), 2).unwrap();
        let problem = OnceLock::new();
        assert_eq!(lazily.netns_keys(&problem), NetnsKeys::from(&r));
        assert_eq!(lazily.keys(&problem), EndpointKeys::from(&r));
        assert!(problem.get().is_none());
        // Spaces and another order of members: still plain.
        let text = format!(
            " {{ \"netns_ino\" : 4026532001 , \"network\":\"{}\", \"id\":\"a\",\"container_id\":\"a\",\"container\":\"c\",\"netns\":\"/x\",\"ifname\":\"eth0\",\"host_veth\":\"v\",\"mac\":\"02:42:0a:58:00:02\",\"ports\":[ ],\"created\":\"t\" }} ",
            "n".repeat(64)
        );
        let len = text.len();
        let e = Entry::read(&Arc::new(text), 0..len, 2).unwrap();
        assert!(matches!(e, Entry::Raw(_)));
        assert_eq!(e.own_keys().netns, Path::new("/x"));
        assert!(!e.own_keys().publishes);
        assert!(e.record(&OnceLock::new()).is_some());
    }

    #[test]
    fn a_record_that_does_not_decode_is_an_error_or_left_out_and_said() {
        for bad in [
            "{\"id\":",
            "{\"id\":\"a\"}",
            "not json",
            "{\"id\":\"a\",\"netns_ino\":-1}",
        ] {
            let len = bad.len();
            assert!(
                Entry::read(&Arc::new(bad.to_owned()), 0..len, 3).is_err(),
                "{bad}"
            );
        }
        // Keys plain, the rest not a record: found when asked for.
        let text = "{\"id\":\"a\",\"network\":\"n\",\"container_id\":\"a\",\"container\":\"c\",\"netns\":\"/x\",\"netns_ino\":1,\"warp\":[1,{\"x\":\"]\"}]}".to_owned();
        let len = text.len();
        let e = Entry::read(&Arc::new(text), 0..len, 5).unwrap();
        let m = Endpoints::from_base(vec![e]).unwrap();
        assert_eq!(m.len(), 1);
        assert!(m.keys_of("a").is_some());
        assert!(m.problem().is_none());
        assert_eq!(m.values().count(), 0);
        assert!(matches!(
            m.problem(),
            Some(StateProblem::Malformed { line: 5, .. })
        ));
        assert!(m.decode_all().is_err());
    }

    #[test]
    fn digits_read_by_hand_are_what_the_parser_reads() {
        for (s, want) in [
            ("0", Some((0, 1))),
            ("7,", Some((7, 1))),
            (
                "1700000000000000123}",
                Some((1_700_000_000_000_000_123, 19)),
            ),
            ("9999999999999999999", Some((9_999_999_999_999_999_999, 19))),
            ("18446744073709551615,", Some((u64::MAX, 20))),
            ("18446744073709551616", None),
            ("000000000000000000000042", Some((42, 24))),
            ("12345678", Some((12_345_678, 8))),
            ("98765432,", Some((98_765_432, 8))),
            ("123456789}", Some((123_456_789, 9))),
            ("4026532001", Some((4_026_532_001, 10))),
            ("1234567812345678", Some((1_234_567_812_345_678, 16))),
            ("12345678123456789", Some((12_345_678_123_456_789, 17))),
            ("1234567:", Some((1_234_567, 7))),
            ("1234567/", Some((1_234_567, 7))),
            ("12345678\u{fa}", Some((12_345_678, 8))),
            ("0000000099999999", Some((99_999_999, 16))),
            ("", None),
            (",1", None),
            ("-1", None),
        ] {
            assert_eq!(digits(s.as_bytes()), want, "{s}");
            assert_eq!(
                digits(s.as_bytes()).map(|(v, _)| v),
                s.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse::<u64>().ok()),
                "{s}"
            );
        }
    }

    #[test]
    fn a_quote_or_escape_is_found_where_a_byte_search_finds_it() {
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), b"\"".to_vec(), b"\\".to_vec()];
        // Every length around a word, the quote or escape at every place,
        // among bytes that set off the borrow trick (0x00, 0x21, 0x23,
        // 0x5b, 0x5d, 0xa2, 0xdc, 0xff) and plain ones.
        for len in 0..20 {
            for at in 0..=len {
                for hit in [b'"', b'\\'] {
                    for fill in [b'a', 0x00, 0x21, 0x23, 0x5b, 0x5d, 0xa2, 0xdc, 0xff] {
                        let mut s = vec![fill; len];
                        if at < len {
                            s[at] = hit;
                        }
                        if at + 2 < len {
                            s[at + 2] = if hit == b'"' { b'\\' } else { b'"' };
                        }
                        cases.push(s);
                    }
                }
            }
        }
        for s in cases {
            assert_eq!(
                quote_or_escape(&s),
                s.iter().position(|&c| c == b'"' || c == b'\\'),
                "{s:?}"
            );
        }
    }

    #[test]
    fn eight_digits_read_as_a_word_are_what_the_parser_reads() {
        for at in 0..8 {
            for byte in 0..=255u8 {
                let mut s = *b"40265320";
                s[at] = byte;
                let want = std::str::from_utf8(&s)
                    .ok()
                    .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|t| t.parse::<u64>().ok());
                assert_eq!(eight_digits(&s), want, "{s:?}");
            }
        }
        assert_eq!(eight_digits(b"99999999"), Some(99_999_999));
        assert_eq!(eight_digits(b"00000000"), Some(0));
        assert_eq!(eight_digits(b"1234567"), None);
    }

    #[test]
    fn addresses_read_by_hand_are_what_the_parser_reads() {
        for ok in [
            "10.88.0.2/16",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "172.17.0.10/24",
        ] {
            assert_eq!(ipv4_net(ok), ok.parse().ok(), "{ok}");
        }
        for bad in [
            "",
            "10.88.0.2",
            "10.88.0/16",
            "10.88.0.2/",
            "10.88.0.256/16",
            "10.88.0.2/33",
            "010.88.0.2/16",
            "10.88.0.2/16/1",
            "1.2.3.4.5/8",
            "a.b.c.d/8",
            "1..2.3/8",
            "1.2.3.4/08",
        ] {
            assert_eq!(ipv4_net(bad), None, "{bad}");
        }
    }

    #[test]
    fn base_and_changes_merge_in_id_order() {
        let recs: Vec<EndpointRecord> = ["d", "b", "f", "a"]
            .iter()
            .map(|id| record(id, "/x"))
            .collect();
        let (chunk, ranges) = chunk_of(&recs.iter().collect::<Vec<_>>());
        let base = ranges
            .into_iter()
            .map(|r| Entry::read(&chunk, r, 2).unwrap())
            .collect();
        let mut m = Endpoints::from_base(base).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b", "d", "f"]);
        m.insert(Entry::Owned(Box::new(record("c", "/y"))));
        assert!(m.remove("d"));
        assert!(!m.remove("d"));
        m.insert(Entry::Owned(Box::new(record("b", "/z"))));
        m.insert(Entry::Owned(Box::new(record("g", "/y"))));
        assert!(m.remove("g"));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b", "c", "f"]);
        assert_eq!(m.len(), 4);
        assert_eq!(m.get("b").unwrap().netns, Path::new("/z"));
        assert!(m.get("d").is_none() && !m.contains_key("g"));
        let at_y: Vec<&str> = m
            .matching(|k| k.netns == Path::new("/y"))
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(at_y, ["c"]);
        let same: Endpoints = m.values().cloned().collect();
        assert_eq!(same, m);
        assert!(
            Endpoints::from_base(vec![
                Entry::Owned(Box::new(record("a", "/x"))),
                Entry::Owned(Box::new(record("a", "/y"))),
            ])
            .is_err()
        );
    }

    /// `same_netns` answers as `Path`'s `==` does, spelling and all.
    #[test]
    fn same_netns_is_paths_equality() {
        let cases = [
            ("/run/netns/c1", "/run/netns/c1"),
            ("/run/netns/c1", "/run/netns/c2"),
            ("/run/netns//c1", "/run/netns/c1"),
            ("/run/netns/./c1", "/run/netns/c1"),
            ("/run/netns/c1/", "/run/netns/c1"),
            ("/run/netns/c1", "/var/run/netns/c1"),
            ("/proc/1/ns/net", "/proc/12/ns/net"),
            ("/", "/"),
            ("/run/..", "/run/.."),
            ("/run/..", "/var/.."),
            ("", "/run/netns/c1"),
            ("/run/netns/c1/.", "/run/netns/c1"),
            ("/run/netns/c1/..", "/run/netns"),
            ("/run/netns/c11", "/run/netns/c21"),
            ("/run/netns/c1//", "/run/netns/c1"),
            ("run/netns/c1", "/run/netns/c1"),
            ("./c1", "c1"),
        ];
        for (a, b) in cases {
            let (a, b) = (Path::new(a), Path::new(b));
            assert_eq!(same_netns(a, b), a == b, "{a:?} {b:?}");
            assert_eq!(same_netns(b, a), a == b, "{b:?} {a:?}");
        }
    }
}
