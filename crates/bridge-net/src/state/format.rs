//! The on-disk format: what the state file's bytes mean.
//!
//! JSON lines. The first line holds `"brnet_state": VERSION`, read before
//! anything else: a file whose version is newer than [`STATE_VERSION`] is
//! refused as such (never as "malformed").
//!
//! **Version 2** (written): the first line is the snapshot's head
//! (`{"brnet_state":2, "networks":[...], "sandboxes":[...],
//! "intents":[...], "endpoint_lines":N}`, each network with its address
//! pools' saved form, the snapshot's endpoints' addresses in them), then
//! the snapshot's `N` endpoint records, one per line, in id order, then the
//! journal. Loading reads a network's pools from the head and, of each
//! endpoint line, only its keys (see [`lazy`](super::lazy)): the record
//! is decoded when asked for. A snapshot is written whole (temp file and
//! rename): one that ends before its `N` lines is truncated.
//!
//! **Version 1** (read; the first process to take the lock rewrites it as
//! version 2): the first line is the whole snapshot, `{"brnet_state":1,
//! "networks":[...], "endpoints":[...], "sandboxes":[...],
//! "intents":[...]}`, then the journal.
//!
//! The journal is the same in both: every further line is one change, an
//! [`Op`] (`{"op":"connect","endpoint":{...}}`), applied in order. A
//! connect's or update's endpoint is kept as text, as the snapshot's are.

use std::ops::Range;

use brnet_ipam::{Pool, PoolState};
use serde::{Deserialize, Serialize};

pub(super) use super::lazy::Chunk;
use super::lazy::{Endpoints, Entry};
use super::query::{Net, State};
use super::records::{EndpointRecord, Intent, NetworkRecord, Op, SandboxRecord};
use crate::error::StateProblem;

/// The state format this build writes (and the newest it reads).
pub const STATE_VERSION: u32 = 2;

/// A network in the snapshot: its record and its pools' saved forms.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSnapshot {
    network: NetworkRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool4: Option<PoolState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool6: Option<PoolState>,
}

/// Version 1's snapshot: the file's first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotV1 {
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

/// Version 2's snapshot head: the file's first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    brnet_state: u32,
    #[serde(default)]
    networks: Vec<NetworkSnapshot>,
    #[serde(default)]
    sandboxes: Vec<SandboxRecord>,
    #[serde(default)]
    intents: Vec<Intent>,
    /// Endpoint records on the lines after this one.
    #[serde(default)]
    endpoint_lines: usize,
}

fn network_snapshots(state: &State) -> Vec<NetworkSnapshot> {
    state
        .networks
        .iter()
        .map(|n| NetworkSnapshot {
            network: n.rec.clone(),
            pool4: n.pool4.as_ref().map(Pool::to_state),
            pool6: n.pool6.as_ref().map(Pool::to_state),
        })
        .collect()
}

/// The snapshot of `state` (version 2): its head line, then a line per
/// endpoint, each as it was read when it was read from a file.
pub(super) fn encode_snapshot(state: &State) -> Result<Vec<u8>, String> {
    let head = Head {
        brnet_state: STATE_VERSION,
        networks: network_snapshots(state),
        sandboxes: state.sandboxes.values().cloned().collect(),
        intents: state.intents.values().cloned().collect(),
        endpoint_lines: state.endpoints.len(),
    };
    let mut bytes = Vec::with_capacity(1024 + 512 * state.endpoints.len());
    serde_json::to_writer(&mut bytes, &head).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    for e in state.endpoints.entries() {
        e.write_json(&mut bytes)?;
        bytes.push(b'\n');
    }
    Ok(bytes)
}

/// Version 1's snapshot line of `state` (for tests of reading old files).
#[cfg(test)]
pub(super) fn encode_snapshot_v1(state: &State) -> Result<Vec<u8>, String> {
    let snap = SnapshotV1 {
        brnet_state: 1,
        networks: network_snapshots(state),
        endpoints: state.endpoints.values().cloned().collect(),
        sandboxes: state.sandboxes.values().cloned().collect(),
        intents: state.intents.values().cloned().collect(),
    };
    let mut bytes = serde_json::to_vec(&snap).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The journal line of `op` (without its newline).
pub(super) fn encode_op(op: &Op) -> Result<Vec<u8>, String> {
    serde_json::to_vec(op).map_err(|e| e.to_string())
}

/// One journal record, as replay applies it (one at a time: its size does
/// not matter).
#[allow(clippy::large_enum_variant)]
pub(super) enum Change {
    /// Any change, decoded.
    Op(Op),
    /// An endpoint connected, kept as text.
    Connect(Entry),
    /// An endpoint's record changed, kept as text.
    Update(Entry),
}

impl State {
    /// Apply one journal record.
    pub(super) fn apply_change(&mut self, change: Change) -> Result<(), String> {
        match change {
            Change::Op(op) => self.apply(op),
            Change::Connect(e) => self.connect(e),
            Change::Update(e) => self.update(e),
        }
    }
}

/// The change on the journal line at `line` of `chunk` (without its
/// newline; `lineno`: its number in the file).
pub(super) fn decode_change(
    chunk: &Chunk,
    line: Range<usize>,
    lineno: usize,
) -> Result<Change, String> {
    let text = chunk.get(line.clone()).unwrap_or_default();
    for (prefix, connect) in [
        (r#"{"op":"connect","endpoint":"#, true),
        (r#"{"op":"update","endpoint":"#, false),
    ] {
        if text.starts_with(prefix) && text.ends_with('}') {
            let json = line.start + prefix.len()..line.end - 1;
            if let Ok(e) = Entry::read(chunk, json, lineno) {
                return Ok(if connect {
                    Change::Connect(e)
                } else {
                    Change::Update(e)
                });
            }
        }
    }
    // The records every connect and disconnect writes, read without
    // serde's buffering of internally tagged enums.
    if let Some(inner) = text
        .strip_prefix(r#"{"op":"begin","intent":"#)
        .and_then(|t| t.strip_suffix('}'))
        && let Ok(intent) = serde_json::from_str::<Intent>(inner)
    {
        return Ok(Change::Op(Op::Begin { intent }));
    }
    for (prefix, op) in [
        (
            r#"{"op":"end","id":""#,
            (|id| Op::End { id }) as fn(String) -> Op,
        ),
        (r#"{"op":"disconnect","id":""#, |id| Op::Disconnect { id }),
    ] {
        if let Some(id) = text
            .strip_prefix(prefix)
            .and_then(|t| t.strip_suffix(r#""}"#))
            .filter(|id| !id.contains(['"', '\\']))
        {
            return Ok(Change::Op(op(id.to_owned())));
        }
    }
    serde_json::from_str(text)
        .map(Change::Op)
        .map_err(|e| e.to_string())
}

/// Where the first newline of `bytes` is (a word at a time).
pub(super) fn newline(bytes: &[u8]) -> Option<usize> {
    super::scan::find(b'\n', bytes)
}

/// The `brnet_state` version a snapshot record declares, without building
/// the record: read straight from the prefix this build writes
/// (`{"brnet_state":N,`), else by a pass that skips every other field.
/// Building a `serde_json::Value` of the whole record just to read this
/// number was half the instructions of a `brnet` call at 1000 endpoints.
fn header_version(header: &[u8]) -> Option<u64> {
    if let Some(rest) = header.strip_prefix(br#"{"brnet_state":"#) {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if (1..=9).contains(&digits) && matches!(rest.get(digits), Some(b',' | b'}')) {
            return std::str::from_utf8(&rest[..digits]).ok()?.parse().ok();
        }
    }
    #[derive(Deserialize)]
    struct Probe {
        brnet_state: Option<u64>,
    }
    serde_json::from_slice::<Probe>(header).ok()?.brnet_state
}

/// The version of the file whose first line (without its newline) is
/// `header`: refused when newer than this build's, or not a state header.
pub(super) fn version(header: &[u8]) -> Result<u32, StateProblem> {
    match header_version(header) {
        Some(v) if v > u64::from(STATE_VERSION) => Err(StateProblem::FutureVersion {
            found: u32::try_from(v).unwrap_or(u32::MAX),
            supported: STATE_VERSION,
        }),
        Some(v) => Ok(u32::try_from(v).unwrap_or(0)),
        None => Err(StateProblem::Malformed {
            line: 1,
            detail: "not a bridge-net state header".into(),
        }),
    }
}

/// A state file's snapshot, read.
pub(super) struct Snapshot {
    pub state: State,
    /// The version the file was written in.
    pub version: u32,
    /// Bytes of the chunk the snapshot takes (its lines with their
    /// newlines).
    pub len: usize,
    /// Lines it takes.
    pub lines: usize,
}

fn networks(snaps: Vec<NetworkSnapshot>) -> Result<Vec<Net>, StateProblem> {
    let inconsistent = |detail: String| StateProblem::Inconsistent { line: 1, detail };
    let mut nets: Vec<Net> = Vec::with_capacity(snaps.len());
    for n in snaps {
        if nets
            .iter()
            .any(|m| m.rec.name == n.network.name || m.rec.id == n.network.id)
        {
            return Err(inconsistent(format!(
                "network {:?} recorded twice",
                n.network.name
            )));
        }
        let pool4 = n
            .pool4
            .map(Pool::from_state)
            .transpose()
            .map_err(|e| inconsistent(format!("network {:?}: {e}", n.network.name)))?;
        let pool6 = n
            .pool6
            .map(Pool::from_state)
            .transpose()
            .map_err(|e| inconsistent(format!("network {:?}: {e}", n.network.name)))?;
        nets.push(Net {
            rec: n.network,
            pool4,
            pool6,
        });
    }
    Ok(nets)
}

/// Read the snapshot at the start of `chunk` (complete lines; its version
/// checked by [`version`] already).
pub(super) fn decode_snapshot(chunk: &Chunk, version: u32) -> Result<Snapshot, StateProblem> {
    let end = newline(chunk.as_bytes()).ok_or(StateProblem::Truncated)?;
    let header = &chunk[..end];
    let malformed = |line: usize| move |detail: String| StateProblem::Malformed { line, detail };
    let mut state = State::default();
    if version < 2 {
        let snap: SnapshotV1 =
            serde_json::from_str(header).map_err(|e| malformed(1)(e.to_string()))?;
        state.networks = networks(snap.networks)?;
        for e in &snap.endpoints {
            if state.network_by_id(&e.network).is_none() {
                return Err(StateProblem::Inconsistent {
                    line: 1,
                    detail: format!("endpoint {} on unknown network {}", e.id, e.network),
                });
            }
        }
        state.endpoints = Endpoints::from_base(
            snap.endpoints
                .into_iter()
                .map(|e| Entry::Owned(Box::new(e)))
                .collect(),
        )
        .map_err(|detail| StateProblem::Inconsistent { line: 1, detail })?;
        state.sandboxes = snap
            .sandboxes
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        state.intents = snap
            .intents
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
        return Ok(Snapshot {
            state,
            version,
            len: end + 1,
            lines: 1,
        });
    }
    let head: Head = serde_json::from_str(header).map_err(|e| malformed(1)(e.to_string()))?;
    state.networks = networks(head.networks)?;
    let mut base = Vec::with_capacity(head.endpoint_lines);
    let mut at = end + 1;
    for i in 0..head.endpoint_lines {
        let lineno = i + 2;
        let nl = newline(&chunk.as_bytes()[at..]).ok_or(StateProblem::Truncated)?;
        let entry = Entry::read_lazily(chunk, at..at + nl, lineno).map_err(malformed(lineno))?;
        let network = entry.network();
        if state.network_by_id(network).is_none() {
            return Err(StateProblem::Inconsistent {
                line: lineno,
                detail: format!("endpoint {} on unknown network {network}", entry.id()),
            });
        }
        base.push(entry);
        at += nl + 1;
    }
    state.endpoints = Endpoints::from_base(base)
        .map_err(|detail| StateProblem::Inconsistent { line: 1, detail })?;
    state.sandboxes = head
        .sandboxes
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    state.intents = head
        .intents
        .into_iter()
        .map(|i| (i.id.clone(), i))
        .collect();
    Ok(Snapshot {
        state,
        version,
        len: at,
        lines: 1 + head.endpoint_lines,
    })
}

/// The complete lines of `bytes` as text: up to the last newline (what
/// follows it is a record being written, or torn), checked to be UTF-8.
/// `first_line`: the number of `bytes`' first line in the file.
pub(super) fn complete_lines(mut bytes: Vec<u8>, first_line: usize) -> Result<Chunk, StateProblem> {
    let end = super::scan::rfind(b'\n', &bytes).map_or(0, |i| i + 1);
    bytes.truncate(end);
    match String::from_utf8(bytes) {
        Ok(text) => Ok(std::sync::Arc::new(text)),
        Err(e) => {
            let upto = e.utf8_error().valid_up_to();
            let line = first_line + e.as_bytes()[..upto].iter().filter(|b| **b == b'\n').count();
            Err(StateProblem::Malformed {
                line,
                detail: "not UTF-8 text".into(),
            })
        }
    }
}

impl State {
    /// Parse a whole state file, as [`Store`](super::Store) reads it: the
    /// snapshot, then every complete journal record (a torn last record is
    /// ignored), every record decoded. For tools, tests and fuzzing; never
    /// panics on any input.
    pub fn parse(bytes: &[u8]) -> Result<State, StateProblem> {
        let end = newline(bytes).ok_or(StateProblem::Truncated)?;
        let version = version(&bytes[..end])?;
        let chunk = complete_lines(bytes.to_vec(), 1)?;
        let snap = decode_snapshot(&chunk, version)?;
        let mut state = snap.state;
        let mut at = snap.len;
        let mut line = snap.lines + 1;
        while let Some(nl) = newline(&chunk.as_bytes()[at..]) {
            let change = decode_change(&chunk, at..at + nl, line)
                .map_err(|detail| StateProblem::Malformed { line, detail })?;
            state
                .apply_change(change)
                .map_err(|detail| StateProblem::Inconsistent { line, detail })?;
            at += nl + 1;
            line += 1;
        }
        state.endpoints.decode_all()?;
        Ok(state)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::state::query::release;
    use std::net::IpAddr;

    /// A version 1 file as the first release wrote it: a network with one
    /// endpoint in the snapshot, then a connect, a network mode and an
    /// operation under way in the journal.
    pub(crate) const V1: &str = concat!(
        r#"{"brnet_state":1,"networks":[{"network":{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","name":"n","created":"2026-11-22T19:47:00Z","bridge":"br-aaaaaaaaaaaa","options":{"ipv4":{"subnet":"10.88.0.0/16","gateway":"10.88.0.1"},"icc":true,"masquerade":true,"order":"serial","dns":false}},"pool4":{"version":1,"subnet":"10.88.0.0/16","gateway":"10.88.0.1","order":"serial","cursor":"10.88.0.2","allocated":["10.88.0.2"]}}],"endpoints":[{"id":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","network":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","container_id":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","container":"c1","netns":"/run/netns/c1","netns_ino":4026532001,"ifname":"eth0","host_veth":"veth1a2b3c4d","mac":"02:42:0a:58:00:02","ipv4":"10.88.0.2/16","dynamic4":true,"default_route":true,"created":"2026-11-22T19:47:01Z"}]}"#,
        "\n",
        r#"{"op":"connect","endpoint":{"id":"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","network":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","container_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","container":"c2","netns":"/run/netns/c2","netns_ino":4026532002,"ifname":"eth0","host_veth":"veth5e6f7a8b","mac":"02:42:0a:58:00:03","ipv4":"10.88.0.3/16","dynamic4":true,"default_route":true,"ports":[{"protocol":"tcp","host_port":8080,"host_port_end":8080,"container_port":80,"container_port_end":80}],"created":"2026-11-22T19:47:02Z"}}"#,
        "\n",
        r#"{"op":"sandbox","sandbox":{"id":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff","container":"h","mode":"host","netns":"/proc/thread-self/ns/net","netns_ino":4026531840,"created":"2026-11-22T19:47:03Z"}}"#,
        "\n",
        r#"{"op":"begin","intent":{"id":"1111111111111111111111111111111111111111111111111111111111111111","kind":"connect","host_veth":"veth00000000","network":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}"#,
        "\n",
    );

    #[test]
    fn version_1_files_are_read() {
        let st = State::parse(V1.as_bytes()).unwrap();
        assert_eq!(st.networks.len(), 1);
        let net = &st.networks[0];
        assert_eq!(net.rec.name, "n");
        assert_eq!(st.endpoints.len(), 2);
        let c2 = st.endpoints.values().find(|e| e.container == "c2").unwrap();
        assert_eq!(c2.ipv4.unwrap().to_string(), "10.88.0.3/16");
        assert_eq!(c2.ports[0].host_port, 8080);
        assert!(
            net.pool4
                .as_ref()
                .unwrap()
                .is_allocated("10.88.0.3".parse().unwrap())
        );
        assert_eq!(st.sandboxes.len(), 1);
        assert_eq!(st.intents.len(), 1);
        // The next address in sequence comes after both.
        let mut pool = net.pool4.clone().unwrap();
        assert_eq!(pool.allocate().unwrap().to_string(), "10.88.0.4");
    }

    #[test]
    fn a_snapshot_reads_back_as_the_state_it_was_written_from() {
        let st = State::parse(V1.as_bytes()).unwrap();
        let bytes = encode_snapshot(&st).unwrap();
        assert_eq!(State::parse(&bytes).unwrap(), st);
        // The head, then a line per endpoint; the version first.
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 3);
        assert!(bytes.starts_with(br#"{"brnet_state":2,"#));
        // Read again, its records are copied as they were read.
        let again = State::parse(&bytes).unwrap();
        assert_eq!(encode_snapshot(&again).unwrap(), bytes);
        // Version 1, written again, reads back the same too.
        let v1 = encode_snapshot_v1(&st).unwrap();
        assert_eq!(State::parse(&v1).unwrap(), st);
    }

    /// A version 2 file: its snapshot, then a journal.
    fn v2() -> Vec<u8> {
        let st = State::parse(V1.as_bytes()).unwrap();
        let mut bytes = encode_snapshot(&st).unwrap();
        let journal = V1.split_once('\n').unwrap().1;
        // The same journal as V1's, less its connect (already in).
        for line in journal.lines().skip(1) {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        bytes
    }

    #[test]
    fn a_version_2_snapshot_that_ends_early_is_truncated() {
        let bytes = encode_snapshot(&State::parse(V1.as_bytes()).unwrap()).unwrap();
        let head = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
        let second = head + bytes[head..].iter().position(|b| *b == b'\n').unwrap() + 1;
        for cut in [head, head + 10, second, second + 5] {
            assert_eq!(
                State::parse(&bytes[..cut]),
                Err(StateProblem::Truncated),
                "{cut}"
            );
        }
        assert!(State::parse(&v2()).is_ok());
    }

    #[test]
    fn a_bad_endpoint_line_is_an_error_with_its_line() {
        let text = String::from_utf8(v2()).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        // Keys plain, the rest not a record: found by a whole parse.
        let broken = lines[2].replacen(r#""mac":"#, r#""warp":1,"mac":"#, 1);
        lines[2] = &broken;
        let bad = lines.join("\n") + "\n";
        assert!(matches!(
            State::parse(bad.as_bytes()),
            Err(StateProblem::Malformed { line: 3, .. })
        ));
        // An endpoint on no network.
        let other = text.lines().nth(1).unwrap().replace("aaaaaaaa", "99999999");
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = &other;
        let bad = lines.join("\n") + "\n";
        assert!(matches!(
            State::parse(bad.as_bytes()),
            Err(StateProblem::Inconsistent { line: 2, .. })
        ));
    }

    #[test]
    fn a_connect_in_the_journal_is_read_by_its_keys_and_decoded_when_asked_for() {
        let st = State::parse(V1.as_bytes()).unwrap();
        // The connects as journal lines (their addresses are in the saved
        // pools already: start from pools without them).
        let mut fresh = st.clone();
        for e in st.endpoints.values() {
            release(&mut fresh, e).unwrap();
        }
        fresh.endpoints = Endpoints::default();
        let mut bytes = encode_snapshot(&fresh).unwrap();
        for e in st.endpoints.values() {
            bytes.extend(
                encode_op(&Op::Connect {
                    endpoint: e.clone(),
                })
                .unwrap(),
            );
            bytes.push(b'\n');
        }
        let chunk = complete_lines(bytes.clone(), 1).unwrap();
        let line = newline(chunk.as_bytes()).unwrap() + 1;
        let end = line + newline(&chunk.as_bytes()[line..]).unwrap();
        assert!(matches!(
            decode_change(&chunk, line..end, 2).unwrap(),
            Change::Connect(_)
        ));
        let back = State::parse(&bytes).unwrap();
        assert_eq!(back.endpoints, st.endpoints);
        let pool = back.networks[0].pool4.as_ref().unwrap();
        for e in st.endpoints.values() {
            assert!(pool.is_allocated(IpAddr::V4(e.ipv4.unwrap().addr())));
        }
    }

    #[test]
    fn the_version_is_read_from_the_prefix_or_anywhere_in_the_record() {
        assert_eq!(
            header_version(br#"{"brnet_state":1,"networks":[]}"#),
            Some(1)
        );
        assert_eq!(header_version(br#"{"brnet_state":12}"#), Some(12));
        assert_eq!(
            header_version(br#"{"networks":[],"brnet_state":3}"#),
            Some(3)
        );
        assert_eq!(
            header_version(br#"{"brnet_state": 4 ,"networks":[]}"#),
            Some(4)
        );
        assert_eq!(header_version(br#"{"brnet_state":"1"}"#), None);
        assert_eq!(header_version(br#"{"networks":[]}"#), None);
        assert_eq!(header_version(b"garbage"), None);
        assert_eq!(header_version(b""), None);
    }

    #[test]
    fn a_newer_version_is_refused_as_such() {
        let newer = V1.replacen(r#""brnet_state":1"#, r#""brnet_state":7"#, 1);
        assert_eq!(
            State::parse(newer.as_bytes()),
            Err(StateProblem::FutureVersion {
                found: 7,
                supported: STATE_VERSION
            })
        );
    }
}
