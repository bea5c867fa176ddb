//! A front end's lock for a whole command (a CNI `ADD`, a netavark
//! `setup`): ensuring a network, connecting and removing an empty network
//! are one step for every other command. A file of the state directory,
//! locked with `flock` and held until dropped. The CNI plugin and the
//! netavark binary both take it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The lock, held until dropped.
#[derive(Debug)]
pub struct CommandLock {
    _flock: Flock<File>,
}

/// Why the lock could not be taken: what was being done to which path.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {cause}", path.display())]
pub struct LockError {
    /// `create directory`, `open` or `lock`.
    pub op: &'static str,
    /// The directory or the lock file.
    pub path: PathBuf,
    /// The cause.
    pub cause: std::io::Error,
}

impl CommandLock {
    /// Take the lock file `name` of `dir` (both created when missing),
    /// waiting for the command that holds it.
    pub fn take(dir: &Path, name: &str) -> Result<CommandLock, LockError> {
        let fail = |op, path: &Path| {
            let path = path.to_owned();
            move |cause| LockError { op, path, cause }
        };
        std::fs::create_dir_all(dir).map_err(fail("create directory", dir))?;
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(fail("open", &path))?;
        let flock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| fail("lock", &path)(errno.into()))?;
        Ok(CommandLock { _flock: flock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("state");
        let held = CommandLock::take(&sub, "x.lock").unwrap();
        let f = File::open(sub.join("x.lock")).unwrap();
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err());
        drop(held);
        let f = File::open(sub.join("x.lock")).unwrap();
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok());
        // A file where the directory should be.
        let e = CommandLock::take(&sub.join("x.lock"), "y.lock").unwrap_err();
        assert_eq!(e.op, "create directory");
        assert!(e.to_string().contains("x.lock"), "{e}");
    }
}
