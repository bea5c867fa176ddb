//! The on-disk format: what the state file's bytes mean.
//!
//! Version 1 (the only one so far) is JSON lines. The first line is the
//! snapshot ([`Snapshot`]): `{"brnet_state":1, "networks":[...],
//! "endpoints":[...], "sandboxes":[...], "intents":[...]}`, each network
//! with its address pools' saved form. Every further line is one change,
//! an [`Op`] (`{"op":"connect","endpoint":{...}}`), applied in order. A
//! file whose version is newer than [`STATE_VERSION`] is refused as such
//! (never as "malformed"), before anything else in it is read.

use brnet_ipam::{Pool, PoolState};
use serde::{Deserialize, Serialize};

use super::query::{Net, State};
use super::records::{EndpointRecord, Intent, NetworkRecord, Op, SandboxRecord};
use crate::error::StateProblem;

/// The state format this build writes (and the newest it reads).
pub const STATE_VERSION: u32 = 1;

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

/// The snapshot: the file's first line.
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

/// The snapshot line (with its newline) of `state`.
pub(super) fn encode_snapshot(state: &State) -> Result<Vec<u8>, String> {
    let snap = Snapshot {
        brnet_state: STATE_VERSION,
        networks: state
            .networks
            .iter()
            .map(|n| NetworkSnapshot {
                network: n.rec.clone(),
                pool4: n.pool4.as_ref().map(Pool::to_state),
                pool6: n.pool6.as_ref().map(Pool::to_state),
            })
            .collect(),
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

/// The change on one journal line (without its newline).
pub(super) fn decode_op(line: &[u8]) -> Result<Op, String> {
    from_json(line).map_err(|e| e.to_string())
}

/// Where the first newline of `bytes` is (a word at a time: the snapshot
/// line is most of the file).
pub(super) fn newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

/// Parse JSON text: as `&str` when it is valid UTF-8 (checked once for the
/// whole record, instead of string by string: an eighth of the loading of
/// 1000 endpoints), else as bytes, with the errors that reading gives.
fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
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

/// Parse the snapshot record (the file's first line, without its newline).
pub(super) fn decode_snapshot(header: &[u8]) -> Result<State, StateProblem> {
    // The version first, so a newer file says so rather than "malformed".
    let version = header_version(header);
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
    let snap: Snapshot = from_json(header).map_err(|e| StateProblem::Malformed {
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
    /// Parse a whole state file, as [`Store`](super::Store) reads it: the
    /// snapshot record, then every complete journal record (a torn last
    /// record is ignored). For tools, tests and fuzzing; never panics on
    /// any input.
    pub fn parse(bytes: &[u8]) -> Result<State, StateProblem> {
        let end = newline(bytes).ok_or(StateProblem::Truncated)?;
        let mut state = decode_snapshot(&bytes[..end])?;
        let mut rest = &bytes[end + 1..];
        let mut line = 2;
        while let Some(nl) = newline(rest) {
            let op = decode_op(&rest[..nl])
                .map_err(|detail| StateProblem::Malformed { line, detail })?;
            state
                .apply(op)
                .map_err(|detail| StateProblem::Inconsistent { line, detail })?;
            rest = &rest[nl + 1..];
            line += 1;
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 file as the first release wrote it: a network with one
    /// endpoint in the snapshot, then a connect, a network mode and an
    /// operation under way in the journal.
    const V1: &str = concat!(
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
        // One line, the version first.
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(bytes.starts_with(br#"{"brnet_state":1,"#));
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
