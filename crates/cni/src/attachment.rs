//! The plugin's own records, one small JSON file per attachment (container
//! id and interface, on one network), beside bridge-net's state:
//! `<state>/cni/<network>/<container id>.<ifname>`, and
//! `<state>/cni/<network>/detached/<container id>.<ifname>` once detached.
//!
//! A record says where the attachment's namespace is (DEL may come with no
//! CNI_NETNS, or after the namespace is gone) and which addresses it had.
//! DEL keeps the record, marked detached and moved under `detached/`: the
//! same container coming back (Podman's stop/start, a new namespace each
//! time) asks for its old addresses first. Detached records have a
//! directory of their own so that capping them never reads the attached
//! ones (a DEL costs the same at 1000 containers as at 1). GC removes the
//! records the runtime no longer lists.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// The namespace's path.
    pub netns: PathBuf,
    /// Whether it is attached now (false after DEL: kept for the address).
    pub attached: bool,
    /// Its IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// Its IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
}

/// The records of one network.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |source| Error::State {
        op,
        path,
        cause: source,
    }
}

impl Records {
    /// The records of `network` under `state`.
    pub fn of(state: &Path, network: &str) -> Records {
        Records {
            dir: state.join("cni").join(network),
        }
    }

    fn detached_dir(&self) -> PathBuf {
        self.dir.join(DETACHED)
    }

    /// Where the record is: among the attached ones, or the detached.
    fn path_in(dir: &Path, container_id: &str, ifname: &str) -> PathBuf {
        dir.join(format!("{container_id}.{ifname}"))
    }

    /// Both places a record of the attachment may be, where it is first
    /// looked for first (records written before detached ones had their
    /// directory are in the first too, attached or not).
    fn paths(&self, container_id: &str, ifname: &str) -> [PathBuf; 2] {
        [
            Records::path_in(&self.dir, container_id, ifname),
            Records::path_in(&self.detached_dir(), container_id, ifname),
        ]
    }

    /// The record of an attachment, if any (an unreadable one counts as
    /// none: it only ever holds hints).
    pub fn get(&self, container_id: &str, ifname: &str) -> Option<Record> {
        self.paths(container_id, ifname).iter().find_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            serde_json::from_str(&text).ok()
        })
    }

    /// Write a record (whole, then renamed into place: among the attached
    /// or the detached ones, as it says), and remove its copy from the
    /// other place.
    pub fn put(&self, rec: &Record) -> Result<()> {
        let [attached, detached] = self.paths(&rec.container_id, &rec.ifname);
        let (path, other) = if rec.attached {
            (attached, detached)
        } else {
            (detached, attached)
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        }
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec(rec).map_err(|e| io("encode", &path)(e.into()))?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.write_all(&text).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        remove_file(&other)
    }

    /// Remove a record (gone already is fine).
    pub fn remove(&self, container_id: &str, ifname: &str) -> Result<()> {
        self.paths(container_id, ifname)
            .iter()
            .try_for_each(|p| remove_file(p))
    }

    /// Every record of the network, attached and detached.
    pub fn all(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for dir in [self.dir.clone(), self.detached_dir()] {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("read directory", &dir)(e)),
            };
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|e| e == "tmp") {
                    continue;
                }
                // The `detached` directory itself reads as no record.
                if let Some(rec) = std::fs::read_to_string(entry.path())
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                {
                    out.push(rec);
                }
            }
        }
        Ok(out)
    }
}

/// The directory of detached records, inside a network's.
const DETACHED: &str = "detached";

/// Remove `path`; gone already is fine.
fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        _ => Ok(()),
    }
}

impl Records {
    /// Keep at most `keep` detached records (they only remember addresses
    /// for containers that may come back): the oldest go, down to `keep`
    /// less an eighth, so that the pass that reads their times comes once
    /// every `keep / 8` DELs rather than at each. A runtime that never
    /// calls GC (Podman 4.3) still leaves a bounded directory. Only the
    /// detached directory is listed: the attached records are never read.
    pub fn prune_detached(&self, keep: usize) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(self.detached_dir()) else {
            return Ok(());
        };
        let paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        if paths.len() <= keep {
            return Ok(());
        }
        let mut detached: Vec<(std::time::SystemTime, PathBuf)> = paths
            .into_iter()
            .filter(|p| p.extension().is_none_or(|e| e != "tmp"))
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
        if detached.len() <= keep {
            return Ok(());
        }
        detached.sort();
        let excess = detached.len() - (keep - keep / 8);
        for (_, p) in detached.into_iter().take(excess) {
            remove_file(&p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Container c1's attached eth0 with one IPv4 address.
    fn record() -> Record {
        Record {
            container_id: "c1".into(),
            ifname: "eth0".into(),
            netns: "/run/netns/x".into(),
            attached: true,
            ipv4: Some("10.0.0.2".parse().unwrap()),
            ipv6: None,
        }
    }

    #[test]
    fn put_get_all_remove() {
        let dir = std::env::temp_dir().join(format!("brnet-cni-rec-{}", std::process::id()));
        let r = Records::of(&dir, "net");
        assert!(r.get("c1", "eth0").is_none());
        let rec = record();
        r.put(&rec).unwrap();
        assert_eq!(r.get("c1", "eth0").unwrap(), rec);
        assert_eq!(r.all().unwrap(), std::slice::from_ref(&rec));
        r.remove("c1", "eth0").unwrap();
        r.remove("c1", "eth0").unwrap();
        assert!(r.all().unwrap().is_empty());
        // Detached records beyond the cap go, attached ones never.
        for i in 0..5 {
            r.put(&Record {
                container_id: format!("d{i}"),
                attached: i == 0,
                ..rec.clone()
            })
            .unwrap();
        }
        r.prune_detached(2).unwrap();
        let left = r.all().unwrap();
        assert_eq!(left.iter().filter(|r| !r.attached).count(), 2);
        assert!(left.iter().any(|r| r.attached));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn detached_records_live_apart_and_are_capped_in_steps() {
        let dir = std::env::temp_dir().join(format!("brnet-cni-det-{}", std::process::id()));
        let r = Records::of(&dir, "net");
        let net = dir.join("cni").join("net");
        let rec = record();
        r.put(&rec).unwrap();
        assert!(net.join("c1.eth0").is_file());
        // DEL: the record moves among the detached ones, and back on ADD.
        let detached = Record {
            attached: false,
            ..rec.clone()
        };
        r.put(&detached).unwrap();
        assert!(!net.join("c1.eth0").exists());
        assert!(net.join("detached").join("c1.eth0").is_file());
        assert_eq!(r.get("c1", "eth0").unwrap(), detached);
        assert_eq!(r.all().unwrap(), std::slice::from_ref(&detached));
        r.put(&rec).unwrap();
        assert!(!net.join("detached").join("c1.eth0").exists());
        assert_eq!(r.get("c1", "eth0").unwrap(), rec);
        // A detached record of before (beside the attached ones) is found.
        std::fs::write(
            net.join("old.eth0"),
            serde_json::to_vec(&Record {
                container_id: "old".into(),
                ..detached.clone()
            })
            .unwrap(),
        )
        .unwrap();
        assert!(!r.get("old", "eth0").unwrap().attached);
        r.remove("old", "eth0").unwrap();
        // Past the cap, down to the cap less an eighth, the oldest first;
        // the attached record is never touched.
        for i in 0..17 {
            r.put(&Record {
                container_id: format!("d{i:02}"),
                ..detached.clone()
            })
            .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        r.prune_detached(16).unwrap();
        let left = r.all().unwrap();
        assert_eq!(left.iter().filter(|r| !r.attached).count(), 14);
        assert!(r.get("d00", "eth0").is_none() && r.get("d02", "eth0").is_none());
        assert!(r.get("d03", "eth0").is_some());
        assert_eq!(r.get("c1", "eth0").unwrap(), rec);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
