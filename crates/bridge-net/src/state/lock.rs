//! The directory's lock: `flock(2)` on the file `lock`, exclusive, shared
//! by every process (and every handle) using the state directory.
//!
//! Each handle opens the lock file itself, so two handles in one process
//! exclude each other as two processes do. Within one handle the lock is
//! re-entrant: taking it again while a guard is alive neither waits for
//! itself nor lets go when the inner guard drops.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = "lock";

/// One handle's lock file.
#[derive(Debug)]
pub(super) struct DirLock {
    path: PathBuf,
    file: File,
    /// How many guards of this handle are alive.
    depth: Arc<AtomicUsize>,
}

/// Holds the directory's exclusive lock (see [`Store::lock`](super::Store::lock)).
#[derive(Debug)]
pub struct Locked {
    depth: Arc<AtomicUsize>,
    /// Only the outermost guard holds the flock.
    _flock: Option<Flock<File>>,
}

impl Drop for Locked {
    fn drop(&mut self) {
        // The flock itself (outermost guard only) is released right after.
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Locked {
    /// Whether this guard took the lock (rather than nesting in one).
    pub(super) fn is_outermost(&self) -> bool {
        self._flock.is_some()
    }
}

impl DirLock {
    /// Open (or, with `create`, create) the lock file of `dir`.
    pub(super) fn open(dir: &Path, create: bool) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = if create {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
        } else {
            File::open(&path)
        }
        .map_err(|e| Error::state_io("open", &path, &e))?;
        Ok(DirLock {
            path,
            file,
            depth: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Take the lock, waiting for other handles (or nest in this handle's).
    pub(super) fn lock(&self) -> Result<Locked> {
        let flock = if self.depth.load(Ordering::Relaxed) == 0 {
            let f = self
                .file
                .try_clone()
                .map_err(|e| Error::state_io("dup", &self.path, &e))?;
            Some(
                Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, errno)| Error::StateIo {
                    op: "lock",
                    path: self.path.clone(),
                    errno,
                })?,
            )
        } else {
            None
        };
        self.depth.fetch_add(1, Ordering::Relaxed);
        Ok(Locked {
            depth: self.depth.clone(),
            _flock: flock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nested_lock_holds_until_the_outer_guard_drops() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::open(dir.path(), true).unwrap();
        let other = || {
            let f = File::open(dir.path().join(LOCK_FILE)).unwrap();
            Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok()
        };
        let outer = lock.lock().unwrap();
        let inner = lock.lock().unwrap();
        assert!(outer.is_outermost() && !inner.is_outermost());
        drop(inner);
        assert!(!other(), "still held after the inner guard");
        drop(outer);
        assert!(other(), "released with the outer guard");
    }

    #[test]
    fn two_handles_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirLock::open(dir.path(), true).unwrap();
        let b = DirLock::open(dir.path(), false).unwrap();
        let held = a.lock().unwrap();
        let f = b.file.try_clone().unwrap();
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err());
        drop(held);
        let _b = b.lock().unwrap();
    }
}
