//! The plugin's own records, one small JSON file per attachment (container
//! id and interface, on one network), beside bridge-net's state:
//! `<state>/cni/<network>/<container id>.<ifname>`.
//!
//! A record says where the attachment's namespace is (DEL may come with no
//! CNI_NETNS, or after the namespace is gone) and which addresses it had.
//! DEL keeps the record, marked detached: the same container coming back
//! (Podman's stop/start, a new namespace each time) asks for its old
//! addresses first. GC removes the records the runtime no longer lists.

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

    fn path(&self, container_id: &str, ifname: &str) -> PathBuf {
        self.dir.join(format!("{container_id}.{ifname}"))
    }

    /// The record of an attachment, if any (an unreadable one counts as
    /// none: it only ever holds hints).
    pub fn get(&self, container_id: &str, ifname: &str) -> Option<Record> {
        let text = std::fs::read_to_string(self.path(container_id, ifname)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write a record (whole, then renamed into place).
    pub fn put(&self, rec: &Record) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(io("create directory", &self.dir))?;
        let path = self.path(&rec.container_id, &rec.ifname);
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec(rec).map_err(|e| io("encode", &path)(e.into()))?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.write_all(&text).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))
    }

    /// Remove a record (gone already is fine).
    pub fn remove(&self, container_id: &str, ifname: &str) -> Result<()> {
        let path = self.path(container_id, ifname);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// Every record of the network.
    pub fn all(&self) -> Result<Vec<Record>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read directory", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "tmp") {
                continue;
            }
            if let Some(rec) = std::fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
            {
                out.push(rec);
            }
        }
        Ok(out)
    }
}

impl Records {
    /// Keep at most `keep` detached records (they only remember addresses
    /// for containers that may come back): the oldest go. A runtime that
    /// never calls GC (Podman 4.3) still leaves a bounded directory.
    pub fn prune_detached(&self, keep: usize) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        let paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        if paths.len() <= keep {
            return Ok(());
        }
        let mut detached: Vec<(std::time::SystemTime, PathBuf)> = paths
            .into_iter()
            .filter_map(|p| {
                let rec: Record = serde_json::from_str(&std::fs::read_to_string(&p).ok()?).ok()?;
                let when = std::fs::metadata(&p).ok()?.modified().ok()?;
                (!rec.attached).then_some((when, p))
            })
            .collect();
        if detached.len() <= keep {
            return Ok(());
        }
        detached.sort();
        let excess = detached.len() - keep;
        for (_, p) in detached.into_iter().take(excess) {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io("remove", &p)(e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_all_remove() {
        let dir = std::env::temp_dir().join(format!("brnet-cni-rec-{}", std::process::id()));
        let r = Records::of(&dir, "net");
        assert!(r.get("c1", "eth0").is_none());
        let rec = Record {
            container_id: "c1".into(),
            ifname: "eth0".into(),
            netns: "/run/netns/x".into(),
            attached: true,
            ipv4: Some("10.0.0.2".parse().unwrap()),
            ipv6: None,
        };
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
}
