//! One lock per table, host-wide, for the operations that read the
//! ruleset before they change it (install and remove a network, removals
//! resolved against a read).
//!
//! Such an operation's batch carries the ruleset generation it read, and
//! the kernel refuses it if anyone committed since: that alone is correct,
//! but two front ends that keep creating and removing networks would keep
//! refusing each other. Under this lock they take turns instead. The lock
//! is a file (`/run/brnet-nft-<table>.lock`, or under `$XDG_RUNTIME_DIR`
//! when `/run` is not writable) locked with `flock`: the kernel releases
//! it when its holder dies. Without a writable place for the file the
//! generation check still keeps every operation correct.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

/// The lock of one table; the file is opened at the first [`TableLock::hold`].
#[derive(Debug)]
pub(crate) struct TableLock {
    table: String,
    file: Option<Arc<File>>,
    /// Opening failed: no place for the file; don't try again.
    unavailable: bool,
}

/// The lock, held until dropped.
#[derive(Debug)]
pub(crate) struct Held(Option<Arc<File>>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = f.unlock();
        }
    }
}

impl TableLock {
    pub(crate) fn new(table: &str) -> TableLock {
        TableLock {
            table: table.to_owned(),
            file: None,
            unavailable: false,
        }
    }

    fn candidates(&self) -> Vec<PathBuf> {
        let name = format!("brnet-nft-{}.lock", self.table);
        let mut out = vec![PathBuf::from("/run").join(&name)];
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
            out.push(PathBuf::from(dir).join(&name));
        }
        out
    }

    /// Wait for the lock and hold it.
    pub(crate) fn hold(&mut self) -> Held {
        if self.file.is_none() && !self.unavailable {
            self.file = self.candidates().into_iter().find_map(|p| {
                File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(p)
                    .ok()
                    .map(Arc::new)
            });
            self.unavailable = self.file.is_none();
            if self.unavailable {
                tracing::debug!(
                    "nf_tables: no writable place for the table lock; relying on the ruleset generation alone"
                );
            }
        }
        match &self.file {
            Some(f) if f.lock().is_ok() => Held(Some(Arc::clone(f))),
            _ => Held(None),
        }
    }
}
