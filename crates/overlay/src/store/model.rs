//! The store's model and trait: what both implementations share, below
//! them (no circle of imports between the store and its implementations).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// A store-wide revision: every change makes it grow.
pub type Revision = i64;

/// A lease's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub i64);

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// One key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    /// The key (the store's prefix included).
    pub key: String,
    /// The value.
    pub value: String,
    /// The revision of its last change.
    pub mod_revision: Revision,
    /// The lease it is bound to.
    pub lease: Option<LeaseId>,
}

/// What [`Store::swap`] writes: `value` at `key`, bound to `lease`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put<'a> {
    /// The key (the store's prefix included).
    pub key: &'a str,
    /// The value.
    pub value: &'a str,
    /// The lease it is bound to.
    pub lease: Option<LeaseId>,
}

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store did not answer (connection refused, timed out, no
    /// leader): nothing was changed by this call.
    #[error("cluster store {store} unreachable: {op}: {detail}")]
    Unreachable {
        /// The store's address.
        store: String,
        /// The operation.
        op: &'static str,
        /// What happened.
        detail: String,
    },
    /// The store answered with an error.
    #[error("cluster store {store}: {op}: {detail}")]
    Refused {
        /// The store's address.
        store: String,
        /// The operation.
        op: &'static str,
        /// What it said.
        detail: String,
    },
    /// What the store holds (or answered) is not what we wrote.
    #[error("cluster store {store}: garbage at {key}: {detail}")]
    Garbage {
        /// The store's address.
        store: String,
        /// The key (or the file, or the reply).
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A local file operation failed (the directory store).
    #[error("cluster store {path}: {op}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// The operation.
        op: &'static str,
        /// The error.
        cause: std::io::Error,
    },
}

impl StoreError {
    /// Whether the store could not be reached.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StoreError::Unreachable { .. })
    }
}

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The cluster store. Every call has a deadline: none blocks for longer
/// than the store's timeout (or, for [`Store::wait`], the one given).
pub trait Store: Send + Sync {
    /// Where the store is (for errors and inspect): `etcd://ADDR`,
    /// `dir:///PATH`.
    fn address(&self) -> String;

    /// Every key under `prefix`, sorted, and the store's revision at the
    /// time of the read.
    fn list(&self, prefix: &str) -> Result<(Vec<Kv>, Revision)>;

    /// One key.
    fn get(&self, key: &str) -> Result<Option<Kv>> {
        Ok(self.list(key)?.0.into_iter().find(|kv| kv.key == key))
    }

    /// Write `key` unconditionally.
    fn put(&self, key: &str, value: &str, lease: Option<LeaseId>) -> Result<()>;

    /// Compare-and-swap: write `put` if its key does not exist
    /// (`expected = None`) or if the key's modification revision is
    /// `expected`. Returns whether it was written.
    fn swap(&self, expected: Option<Revision>, put: Put<'_>) -> Result<bool>;

    /// Delete `key`; returns whether it was there.
    fn delete(&self, key: &str) -> Result<bool>;

    /// Grant a lease of `ttl` (etcd raises TTLs below its minimum).
    fn grant(&self, ttl: Duration) -> Result<LeaseId>;

    /// Renew a lease; `None` when it has expired or was revoked (its keys
    /// are gone).
    fn keep_alive(&self, lease: LeaseId) -> Result<Option<Duration>>;

    /// Revoke a lease: its keys go at once.
    fn revoke(&self, lease: LeaseId) -> Result<()>;

    /// Wait until something under `prefix` changes after revision `after`
    /// (a put, a delete, a lease expiring), or `timeout` passes. Returns
    /// whether something changed. A level-triggered reader lists again
    /// either way.
    fn wait(&self, prefix: &str, after: Revision, timeout: Duration) -> Result<bool>;

    /// A watch of `prefix` that stays open across calls, from revision
    /// `after + 1` (etcd: one streamed response, reopened from the last
    /// revision it saw when the member goes away); `None` when the store
    /// has none (then [`Store::wait`] each time).
    fn stream(&self, prefix: &str, after: Revision) -> Option<Box<dyn Watch>> {
        let _ = (prefix, after);
        None
    }
}

/// A long-lived watch (see [`Store::stream`]).
pub trait Watch: Send {
    /// Wait until something under the watch's prefix changed after
    /// revision `after` (a change seen earlier counts), or `timeout`
    /// passes; whether something did. An error when the store could not
    /// be reached meanwhile (the watch keeps trying to reopen).
    fn wait(&mut self, after: Revision, timeout: Duration) -> Result<bool>;
}

/// The end of a prefix range: the prefix with its last byte + 1.
pub(crate) fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// An int64 field: a JSON string, or a number; 0 when absent.
pub(crate) fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}
