//! The embedded store: one directory shared by every "host" of one
//! machine. The whole store is one JSON file (`store.json`), read and
//! rewritten (to a temporary file, then renamed) under an exclusive lock
//! on `lock`; leases expire by the wall clock, checked on every call.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::model::{Kv, LeaseId, Put, Result, Revision, Store, StoreError};

/// How often [`Store::wait`] looks again.
const POLL: Duration = Duration::from_millis(50);

/// See the module's documentation.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    revision: Revision,
    next_lease: i64,
    /// lease id → expiry (ms since the epoch) and TTL (ms).
    leases: BTreeMap<i64, (u64, u64)>,
    kvs: BTreeMap<String, Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    value: String,
    mod_revision: Revision,
    lease: Option<i64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl State {
    /// Drop expired leases and their keys; whether anything went.
    fn sweep(&mut self) -> bool {
        let now = now_ms();
        let dead: Vec<i64> = self
            .leases
            .iter()
            .filter(|(_, (exp, _))| *exp <= now)
            .map(|(id, _)| *id)
            .collect();
        if dead.is_empty() {
            return false;
        }
        for id in &dead {
            self.leases.remove(id);
        }
        self.revision += 1;
        self.kvs
            .retain(|_, e| e.lease.is_none_or(|l| !dead.contains(&l)));
        true
    }

    fn kv(&self, key: &str, e: &Entry) -> Kv {
        Kv {
            key: key.to_string(),
            value: e.value.clone(),
            mod_revision: e.mod_revision,
            lease: e.lease.map(LeaseId),
        }
    }

    fn write(&mut self, key: &str, value: &str, lease: Option<LeaseId>) {
        self.revision += 1;
        self.kvs.insert(
            key.to_string(),
            Entry {
                value: value.to_string(),
                mod_revision: self.revision,
                lease: lease.map(|l| l.0),
            },
        );
    }
}

impl DirStore {
    /// Open (creating) the store in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<DirStore> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            op: "create directory",
            cause: e,
        })?;
        Ok(DirStore { dir })
    }

    fn io(&self, op: &'static str, file: &str) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = self.dir.join(file).display().to_string();
        move |source| StoreError::Io {
            path,
            op,
            cause: source,
        }
    }

    /// A write on `lease` is refused when the lease is not there (as
    /// etcd does).
    fn lease_known(&self, s: &State, op: &'static str, lease: Option<LeaseId>) -> Result<()> {
        match lease {
            Some(l) if !s.leases.contains_key(&l.0) => Err(StoreError::Refused {
                store: self.address(),
                op,
                detail: format!("lease {l} not found"),
            }),
            _ => Ok(()),
        }
    }

    /// Run `f` on the state under the lock; write it back when `f` (or
    /// the lease sweep) changed it.
    fn with<T>(&self, f: impl FnOnce(&mut State) -> Result<(T, bool)>) -> Result<T> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))
            .map_err(self.io("open", "lock"))?;
        lock.lock().map_err(self.io("lock", "lock"))?;
        let path = self.dir.join("store.json");
        let mut state = match fs::read(&path) {
            Ok(b) => serde_json::from_slice::<State>(&b).map_err(|e| StoreError::Garbage {
                store: self.address(),
                key: path.display().to_string(),
                detail: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(self.io("read", "store.json")(e)),
        };
        let swept = state.sweep();
        let (out, changed) = f(&mut state)?;
        if swept || changed {
            let tmp = self.dir.join("store.json.tmp");
            let mut file = File::create(&tmp).map_err(self.io("create", "store.json.tmp"))?;
            let bytes = serde_json::to_vec(&state).expect("the state serialises");
            file.write_all(&bytes)
                .and_then(|()| file.sync_data())
                .map_err(self.io("write", "store.json.tmp"))?;
            fs::rename(&tmp, &path).map_err(self.io("rename", "store.json"))?;
        }
        drop(lock);
        Ok(out)
    }
}

impl Store for DirStore {
    fn address(&self) -> String {
        format!("dir://{}", self.dir.display())
    }

    fn list(&self, prefix: &str) -> Result<(Vec<Kv>, Revision)> {
        self.with(|s| {
            let kvs = s
                .kvs
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, e)| s.kv(k, e))
                .collect();
            Ok(((kvs, s.revision), false))
        })
    }

    fn put(&self, key: &str, value: &str, lease: Option<LeaseId>) -> Result<()> {
        self.with(|s| {
            self.lease_known(s, "put", lease)?;
            s.write(key, value, lease);
            Ok(((), true))
        })
    }

    fn swap(&self, expected: Option<Revision>, put: Put<'_>) -> Result<bool> {
        self.with(|s| {
            self.lease_known(s, "swap", put.lease)?;
            let current = s.kvs.get(put.key).map(|e| e.mod_revision);
            if current != expected {
                return Ok((false, false));
            }
            s.write(put.key, put.value, put.lease);
            Ok((true, true))
        })
    }

    fn delete(&self, key: &str) -> Result<bool> {
        self.with(|s| {
            let gone = s.kvs.remove(key).is_some();
            if gone {
                s.revision += 1;
            }
            Ok((gone, gone))
        })
    }

    fn grant(&self, ttl: Duration) -> Result<LeaseId> {
        self.with(|s| {
            s.next_lease += 1;
            let id = s.next_lease;
            let ttl = ttl.as_millis() as u64;
            s.leases.insert(id, (now_ms() + ttl, ttl));
            Ok((LeaseId(id), true))
        })
    }

    fn keep_alive(&self, lease: LeaseId) -> Result<Option<Duration>> {
        self.with(|s| match s.leases.get_mut(&lease.0) {
            Some((exp, ttl)) => {
                *exp = now_ms() + *ttl;
                Ok((Some(Duration::from_millis(*ttl)), true))
            }
            None => Ok((None, false)),
        })
    }

    fn revoke(&self, lease: LeaseId) -> Result<()> {
        self.with(|s| {
            if s.leases.remove(&lease.0).is_none() {
                return Ok(((), false));
            }
            s.revision += 1;
            s.kvs.retain(|_, e| e.lease != Some(lease.0));
            Ok(((), true))
        })
    }

    fn wait(&self, prefix: &str, after: Revision, timeout: Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            // Any change counts (a delete leaves no trace under its
            // prefix): a level-triggered reader lists again anyway.
            let _ = prefix;
            let changed = self.with(|s| Ok((s.revision > after, false)))?;
            if changed {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(POLL);
        }
    }
}
