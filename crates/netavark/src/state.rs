//! Where bridge-net keeps this front end's state, and the lock that makes
//! one `setup` or `teardown` a single step for every other one.
//!
//! The state directory is `<--config DIR>/brnet` when Podman passes
//! `--config` (it always does: `/run/containers/networks` for rootful
//! Podman, a tmpfs that goes with the reboot that takes the bridges and
//! namespaces too). Without `--config`, `$BRNET_STATE_DIR`, else
//! [`DEFAULT_STATE_DIR`]. `--config` wins over the environment on purpose:
//! Podman runs teardown from a cleanup process with a scrubbed
//! environment, and setup and teardown must find the same state.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// The state directory without `--config` and `$BRNET_STATE_DIR`.
pub const DEFAULT_STATE_DIR: &str = "/run/brnet/netavark";

/// The environment variable read when `--config` is not given.
pub const STATE_DIR_ENV: &str = "BRNET_STATE_DIR";

/// The lock file, beside bridge-net's own files.
const LOCK_FILE: &str = "netavark.lock";

/// The state directory for `--config DIR` (if given).
pub fn state_dir(config: Option<&Path>) -> PathBuf {
    match config {
        Some(dir) => dir.join("brnet"),
        None => std::env::var_os(STATE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
    }
}

/// Held for a whole setup or teardown: ensuring a network, connecting,
/// and removing an empty network are one step for the others.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
}

impl Lock {
    /// Take the lock of `dir` (created when missing), waiting for others.
    pub fn take(dir: &Path) -> Result<Lock> {
        std::fs::create_dir_all(dir).map_err(|source| Error::State {
            op: "create directory",
            path: dir.to_owned(),
            cause: source,
        })?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| Error::State {
                op: "open",
                path: path.clone(),
                cause: source,
            })?;
        let flock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| Error::State {
                op: "lock",
                path,
                cause: std::io::Error::from(errno),
            })?;
        Ok(Lock { _flock: flock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_wins() {
        assert_eq!(
            state_dir(Some(Path::new("/run/containers/networks"))),
            PathBuf::from("/run/containers/networks/brnet")
        );
    }
}
