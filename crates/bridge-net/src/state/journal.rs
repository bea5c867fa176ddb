//! The state file as a journal: which file a handle reads, how far it has
//! read, appending a change, replacing the whole file with a snapshot.
//!
//! A handle holds the file it last loaded or wrote open, and reads and
//! appends only through that descriptor: while it is held its inode cannot
//! be reused, so a file at the state path with another `(device, inode)`
//! is another file (a snapshot written by another process, or an edit by
//! hand), and is loaded whole. A file that only grew is read from where
//! this handle stopped. A record without its newline at the end is either
//! being written (seen without the lock) or torn by a crash: it is left
//! alone, and cut off by the next writer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::format;
use super::query::State;
use crate::error::{Error, Result, StateProblem};

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "state.json";

#[derive(Debug)]
struct Held {
    file: File,
    writable: bool,
}

/// One handle's view of the state file.
#[derive(Debug)]
pub(super) struct Journal {
    dir: PathBuf,
    path: PathBuf,
    /// The file this handle reads and appends to.
    held: Option<Held>,
    /// `(device, inode)` of `held`.
    id: (u64, u64),
    /// Bytes of `held` applied (always at a line's end).
    len: u64,
    /// The file's line number of the journal's first line.
    first_journal_line: usize,
    /// Journal lines applied (after the snapshot line).
    lines: usize,
    /// The file goes on past `len` with an incomplete record.
    torn: bool,
    /// The version the held file was written in.
    version: u32,
    /// Test hook: the next write fails.
    #[cfg(test)]
    pub(super) fail_next_write: bool,
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl Journal {
    pub(super) fn new(dir: &Path) -> Journal {
        Journal {
            dir: dir.to_owned(),
            path: dir.join(STATE_FILE),
            held: None,
            id: (0, 0),
            len: 0,
            first_journal_line: 2,
            lines: 0,
            torn: false,
            version: 0,
            #[cfg(test)]
            fail_next_write: false,
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Journal lines since the snapshot.
    pub(super) fn lines(&self) -> usize {
        self.lines
    }

    /// Whether the held file is in this build's format (an older one is
    /// rewritten by the first writer).
    pub(super) fn is_current(&self) -> bool {
        self.version == format::STATE_VERSION
    }

    /// The held file's `(device, inode)` and the bytes applied, when it is
    /// loaded and has no incomplete record after them.
    pub(super) fn position(&self) -> Option<(u64, u64, u64)> {
        (self.held.is_some() && !self.torn).then_some((self.id.0, self.id.1, self.len))
    }

    /// Whether a file is loaded (none after a failed load: nothing may be
    /// written on what memory holds then).
    pub(super) fn is_loaded(&self) -> bool {
        self.held.is_some()
    }

    #[cfg(test)]
    pub(super) fn id(&self) -> (u64, u64) {
        self.id
    }

    #[cfg(test)]
    pub(super) fn is_torn(&self) -> bool {
        self.torn
    }

    /// Forget the file: the next refresh loads the state file afresh.
    pub(super) fn forget(&mut self) {
        self.held = None;
        self.id = (0, 0);
        self.len = 0;
        self.lines = 0;
        self.torn = false;
        self.version = 0;
    }

    fn bad(&self, problem: StateProblem) -> Error {
        Error::State {
            path: self.path.clone(),
            problem,
        }
    }

    /// Bring `state` up to date with the file (`writable`: the lock is
    /// held; the file is opened for writing too). `Ok(false)` when there is
    /// no state file.
    pub(super) fn refresh(&mut self, state: &mut State, writable: bool) -> Result<bool> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.forget();
                return Ok(false);
            }
            Err(e) => return Err(Error::state_io("stat", &self.path, &e)),
        };
        if self.held.is_none() || file_id(&meta) != self.id || meta.len() < self.len {
            self.reload(state, writable)?;
        } else if meta.len() > self.len {
            let bytes = self.read_range(self.len, meta.len())?;
            let first_line = self.first_journal_line + self.lines;
            if let Err(e) = self.apply_tail(state, bytes, first_line) {
                // Part of the tail may be applied: load afresh next time.
                self.forget();
                return Err(e);
            }
        }
        Ok(true)
    }

    fn read_range(&self, from: u64, to: u64) -> Result<Vec<u8>> {
        let Some(held) = &self.held else {
            return Ok(Vec::new());
        };
        let mut buf = vec![0u8; usize::try_from(to.saturating_sub(from)).unwrap_or(0)];
        let mut done = 0;
        while done < buf.len() {
            let n = held
                .file
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

    /// Open the state file (for writing too, when `writable`) and load it
    /// whole into `state`. On failure nothing is held.
    pub(super) fn reload(&mut self, state: &mut State, writable: bool) -> Result<()> {
        self.forget();
        // Open first, then stat what was opened: the file we read is the
        // file we hold.
        let rw = if writable {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .ok()
        } else {
            None
        };
        let held = match rw {
            Some(file) => Held {
                file,
                writable: true,
            },
            None => Held {
                file: File::open(&self.path)
                    .map_err(|e| Error::state_io("open", &self.path, &e))?,
                writable: false,
            },
        };
        let meta = held
            .file
            .metadata()
            .map_err(|e| Error::state_io("stat", &self.path, &e))?;
        self.held = Some(held);
        let loaded = (|| {
            let bytes = self.read_range(0, meta.len())?;
            let Some(end) = format::newline(&bytes) else {
                return Err(self.bad(StateProblem::Truncated));
            };
            let version = format::version(&bytes[..end]).map_err(|p| self.bad(p))?;
            let total = bytes.len();
            let chunk = format::complete_lines(bytes, 1).map_err(|p| self.bad(p))?;
            let snap = format::decode_snapshot(&chunk, version).map_err(|p| self.bad(p))?;
            *state = snap.state;
            self.id = file_id(&meta);
            self.version = snap.version;
            self.len = snap.len as u64;
            self.first_journal_line = snap.lines + 1;
            self.apply_lines(state, &chunk, snap.len, total, snap.lines + 1)
        })();
        if loaded.is_err() {
            self.forget();
        }
        loaded
    }

    /// Apply the complete lines of `bytes` (read from `self.len`; the
    /// first is the file's line `first_line`).
    fn apply_tail(&mut self, state: &mut State, bytes: Vec<u8>, first_line: usize) -> Result<()> {
        let total = bytes.len();
        let chunk = format::complete_lines(bytes, first_line).map_err(|p| self.bad(p))?;
        self.apply_lines(state, &chunk, 0, total, first_line)
    }

    /// Apply the lines of `chunk` from `at` (which is `self.len` in the
    /// file); `total`: the bytes read, the incomplete record after the
    /// chunk's last line included.
    fn apply_lines(
        &mut self,
        state: &mut State,
        chunk: &format::Chunk,
        mut at: usize,
        total: usize,
        first_line: usize,
    ) -> Result<()> {
        let mut line = first_line;
        let bytes = chunk.as_bytes();
        while let Some(nl) = format::newline(&bytes[at..]) {
            let change = format::decode_change(chunk, at..at + nl, line)
                .map_err(|detail| self.bad(StateProblem::Malformed { line, detail }))?;
            state
                .apply_change(change)
                .map_err(|detail| self.bad(StateProblem::Inconsistent { line, detail }))?;
            at += nl + 1;
            self.len += nl as u64 + 1;
            self.lines += 1;
            line += 1;
        }
        // A record without its newline after the last line: being
        // written, or torn by a crash. Left for later; a writer cuts it
        // off.
        self.torn = total > bytes.len();
        Ok(())
    }

    #[cfg(test)]
    fn injected_failure(&mut self, what: &'static str) -> Result<()> {
        if std::mem::take(&mut self.fail_next_write) {
            return Err(Error::StateIo {
                op: what,
                path: self.path.clone(),
                errno: nix::errno::Errno::ENOSPC,
            });
        }
        Ok(())
    }

    #[cfg(not(test))]
    fn injected_failure(&mut self, _what: &'static str) -> Result<()> {
        Ok(())
    }

    /// Append one record line (`line` without its newline). The caller
    /// holds the lock.
    pub(super) fn append(&mut self, line: &[u8]) -> Result<()> {
        if !self.held.as_ref().is_some_and(|h| h.writable) {
            // Loaded without the lock (read-only): open the same file for
            // writing. The lock is held, so it cannot have been replaced
            // since the refresh that took it; check anyway.
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(|e| Error::state_io("open", &self.path, &e))?;
            let meta = file
                .metadata()
                .map_err(|e| Error::state_io("stat", &self.path, &e))?;
            if file_id(&meta) != self.id {
                return Err(Error::StateIo {
                    op: "append to (replaced without the lock)",
                    path: self.path.clone(),
                    errno: nix::errno::Errno::ESTALE,
                });
            }
            self.held = Some(Held {
                file,
                writable: true,
            });
        }
        self.injected_failure("write")?;
        let Some(held) = &self.held else {
            return Err(self.bad(StateProblem::Truncated));
        };
        if self.torn {
            held.file
                .set_len(self.len)
                .map_err(|e| Error::state_io("truncate torn record of", &self.path, &e))?;
            self.torn = false;
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        held.file
            .write_all_at(&buf, self.len)
            .map_err(|e| Error::state_io("write", &self.path, &e))?;
        self.len += buf.len() as u64;
        self.lines += 1;
        Ok(())
    }

    /// Replace the state file with `bytes` (a snapshot line): temp file,
    /// fsync, rename, fsync of the directory; then read and append to that
    /// file from now on. The caller holds the lock. On failure the current
    /// file is left as it was.
    pub(super) fn replace(&mut self, bytes: &[u8], lines: usize) -> Result<()> {
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let written = (|| -> Result<File> {
            self.injected_failure("create")?;
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| Error::state_io("create", &tmp, &e))?;
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::state_io("write", &tmp, &e))?;
            std::fs::rename(&tmp, &self.path).map_err(|e| Error::state_io("rename", &tmp, &e))?;
            Ok(f)
        })();
        let f = match written {
            Ok(f) => f,
            Err(e) => {
                if !tmp.is_dir() {
                    let _ = std::fs::remove_file(&tmp);
                }
                return Err(e);
            }
        };
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        // The file renamed into place is the one written: hold it.
        let meta = f
            .metadata()
            .map_err(|e| Error::state_io("stat", &self.path, &e))?;
        self.held = Some(Held {
            file: f,
            writable: true,
        });
        self.id = file_id(&meta);
        self.len = bytes.len() as u64;
        self.first_journal_line = lines + 1;
        self.lines = 0;
        self.torn = false;
        self.version = format::STATE_VERSION;
        Ok(())
    }
}
