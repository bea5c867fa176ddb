//! The directory of named namespaces (`/run/netns`), as iproute2 keeps it.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::unistd::unlink;

use crate::error::{Error, Result};
use crate::name::NsName;
use crate::netns::{EnterGuard, Netns, THREAD_NETNS, io_errno};

/// Where iproute2 keeps named network namespaces.
pub const DEFAULT_NETNS_DIR: &str = "/run/netns";

/// A directory of named network namespaces, each an empty file with the
/// namespace bind-mounted on it, exactly as `ip netns add` makes them: `ip
/// netns list` and `ip netns exec` see ours, and we see theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsDir {
    dir: PathBuf,
}

impl Default for NetnsDir {
    fn default() -> Self {
        NetnsDir::new(DEFAULT_NETNS_DIR)
    }
}

impl NetnsDir {
    /// A namespace directory at `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        NetnsDir { dir: dir.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where the namespace `name` lives (validated, not checked to exist).
    pub fn path_of(&self, name: &str) -> Result<PathBuf> {
        let name = NsName::new(name)?;
        Ok(self.dir.join(name.as_str()))
    }

    /// Create the named namespace `name`.
    ///
    /// The new namespace is made on the calling thread (one `unshare` and one
    /// `setns` back, as `ip netns add` does in its own process), bind-mounted
    /// from `/proc/thread-self/ns/net`, and the thread is back in its own
    /// namespace before this returns.
    pub fn create(&self, name: &str) -> Result<Netns> {
        Ok(self.create_with(name, || ())?.0)
    }

    /// Create the named namespace `name` and run `f` inside it, on the
    /// calling thread, before switching back: the cheapest way to open a
    /// socket in a new namespace or write its sysctls. If `f` panics, the
    /// thread's namespace is restored and the new namespace removed.
    pub fn create_with<T>(&self, name: &str, f: impl FnOnce() -> T) -> Result<(Netns, T)> {
        let _span = tracing::debug_span!("netns_create", netns = name).entered();
        let name = NsName::new(name)?;
        self.prepare()?;
        let path = self.dir.join(name.as_str());
        match open(
            &path,
            OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => drop(fd),
            Err(Errno::EEXIST) => {
                return Err(Error::AlreadyExists {
                    name: name.to_string(),
                    path,
                });
            }
            Err(e) => return Err(Error::sys("create", path.display(), e)),
        }
        let mut undo = Undo {
            path: &path,
            mounted: false,
        };
        let back = EnterGuard::returning_to(Netns::current()?);
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::sys("unshare netns", &name, e))?;
        mount(
            Some(THREAD_NETNS),
            &path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| Error::sys("bind-mount", path.display(), e))?;
        undo.mounted = true;
        let fd = open(
            THREAD_NETNS,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("open", THREAD_NETNS, e))?;
        let value = f();
        back.exit();
        std::mem::forget(undo);
        let ns = Netns::from_parts(fd, Some(path), Some(name.to_string()));
        Ok((ns, value))
    }

    /// Open the named namespace `name`.
    pub fn open(&self, name: &str) -> Result<Netns> {
        let path = self.path_of(name)?;
        Netns::open_path(&path).map_err(|e| match e {
            Error::NotFound { path, .. } => Error::NotFound {
                name: name.to_owned(),
                path,
            },
            other => other,
        })
    }

    /// Whether a namespace file called `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.path_of(name)?.exists())
    }

    /// The names in the directory, sorted. A missing directory is empty.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::sys("list", self.dir.display(), io_errno(&e))),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::sys("list", self.dir.display(), io_errno(&e)))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Delete the named namespace: detach its bind mount and remove the file.
    /// The namespace itself dies when the last process, thread or descriptor
    /// holding it lets go. A missing namespace is [`Error::NotFound`].
    pub fn delete(&self, name: &str) -> Result<()> {
        let _span = tracing::debug_span!("netns_delete", netns = name).entered();
        if self.delete_if_exists(name)? {
            Ok(())
        } else {
            Err(Error::NotFound {
                name: name.to_owned(),
                path: self.dir.join(name),
            })
        }
    }

    /// Idempotent delete: `Ok(false)` when there was nothing to delete.
    pub fn delete_if_exists(&self, name: &str) -> Result<bool> {
        let path = self.path_of(name)?;
        match umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL) => {}
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(Error::sys("unmount", path.display(), e)),
        }
        match unlink(&path) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(Error::sys("remove", path.display(), e)),
        }
    }

    /// Make the directory exist and be a shared mount point, the way `ip
    /// netns add` does, so namespaces mounted here propagate to mount
    /// namespaces created later.
    fn prepare(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::sys("create directory", self.dir.display(), io_errno(&e)))?;
        let shared = || {
            mount(
                None::<&str>,
                &self.dir,
                None::<&str>,
                MsFlags::MS_SHARED | MsFlags::MS_REC,
                None::<&str>,
            )
        };
        match shared() {
            Ok(()) => Ok(()),
            Err(Errno::EINVAL) => {
                // Not a mount point yet: bind it onto itself, then share it.
                mount(
                    Some(&self.dir),
                    &self.dir,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| Error::sys("bind-mount", self.dir.display(), e))?;
                shared().map_err(|e| Error::sys("make shared", self.dir.display(), e))
            }
            Err(e) => Err(Error::sys("make shared", self.dir.display(), e)),
        }
    }
}

/// Removes a half-made namespace file (and its mount) unless forgotten.
struct Undo<'a> {
    path: &'a Path,
    mounted: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if self.mounted {
            let _ = umount2(self.path, MntFlags::MNT_DETACH);
        }
        let _ = unlink(self.path);
    }
}
