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

use std::path::{Path, PathBuf};

use bridge_net::CommandLock;

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

/// Take the lock of `dir` (created when missing), waiting for others:
/// held for a whole setup or teardown, so that ensuring a network,
/// connecting, and removing an empty network are one step for the others.
pub fn lock(dir: &Path) -> Result<CommandLock> {
    CommandLock::take(dir, LOCK_FILE).map_err(|e| Error::State {
        op: e.op,
        path: e.path,
        cause: e.cause,
    })
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
