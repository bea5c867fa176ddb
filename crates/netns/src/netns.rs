//! An open network namespace, entering it, and running code inside it.

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, setns};
use nix::sys::stat::{Mode, fstat};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use crate::error::{Error, Result};
use crate::sys;

/// The current thread's network namespace. Namespaces belong to threads, so
/// this is never `/proc/self/...`.
pub const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// An open network namespace: a file descriptor that keeps it alive, and the
/// name or path it was opened by, if any.
///
/// Dropping a `Netns` closes the descriptor; a named namespace lives on in
/// its bind mount until it is deleted.
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
    path: Option<PathBuf>,
    name: Option<String>,
}

/// Identity of a namespace: the device and inode of its nsfs file. Two
/// handles refer to the same namespace exactly when their ids are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetnsId {
    /// `st_dev` of the nsfs file.
    pub dev: u64,
    /// `st_ino` of the nsfs file (what `ip netns identify` compares).
    pub ino: u64,
}

impl Netns {
    pub(crate) fn from_parts(fd: OwnedFd, path: Option<PathBuf>, name: Option<String>) -> Self {
        Netns { fd, path, name }
    }

    /// The network namespace of the calling thread.
    pub fn current() -> Result<Netns> {
        let fd = open(
            THREAD_NETNS,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("open", THREAD_NETNS, e))?;
        Ok(Netns::from_parts(fd, None, None))
    }

    /// Open a namespace by path: a bind mount such as `/run/netns/c1`, or
    /// `/proc/PID/ns/net`. Anything that is not a network namespace (a
    /// regular file, a directory, a FIFO, a device, a mount namespace) is
    /// rejected with [`Error::NotANetworkNamespace`]: the path is opened
    /// without blocking (a FIFO would wait for a writer) and checked to be
    /// on nsfs before the namespace's type is asked (an ioctl on a device
    /// could mean something to its driver).
    pub fn open_path(path: impl AsRef<Path>) -> Result<Netns> {
        let path = path.as_ref();
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd = open(path, flags, Mode::empty()).map_err(|e| {
            if e == Errno::ENOENT {
                Error::NotFound {
                    name: path.display().to_string(),
                    path: path.to_owned(),
                }
            } else {
                Error::sys("open", path.display(), e)
            }
        })?;
        let nsfs = fstatfs(&fd)
            .map_err(|e| Error::sys("statfs", path.display(), e))?
            .filesystem_type()
            == NSFS_MAGIC;
        if !nsfs {
            return Err(Error::NotANetworkNamespace {
                path: path.to_owned(),
            });
        }
        match sys::ns_type(fd.as_fd()) {
            Ok(t) if t == libc::CLONE_NEWNET => {}
            Ok(_) | Err(Errno::ENOTTY) | Err(Errno::EINVAL) => {
                return Err(Error::NotANetworkNamespace {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(Error::sys("identify namespace", path.display(), e)),
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        Ok(Netns::from_parts(fd, Some(path.to_owned()), name))
    }

    /// The descriptor, for `setns` or `IFLA_NET_NS_FD`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The path this namespace was opened by, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The name of a named namespace (the file name of its bind mount).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// A second handle on the same namespace.
    pub fn try_clone(&self) -> Result<Netns> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::sys("dup", self.describe(), io_errno(&e)))?;
        Ok(Netns::from_parts(fd, self.path.clone(), self.name.clone()))
    }

    /// The namespace's identity (device and inode of its nsfs file).
    pub fn id(&self) -> Result<NetnsId> {
        let st = fstat(&self.fd).map_err(|e| Error::sys("stat", self.describe(), e))?;
        Ok(NetnsId {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    /// The namespace's cookie (`SO_NETNS_COOKIE`, Linux 5.14+): unique
    /// until reboot and never reused, where the nsfs inode of [`id`] is
    /// handed to a new namespace once the old one is gone (`ip netns del
    /// c1; ip netns add c1` may give the same inode). `Ok(None)` on older
    /// kernels. Costs a visit: the calling thread enters the namespace for
    /// one socket and is back before this returns.
    ///
    /// [`id`]: Netns::id
    pub fn cookie(&self) -> Result<Option<u64>> {
        let guard = self.enter()?;
        let cookie = sys::current_netns_cookie();
        guard.exit();
        cookie.map_err(|e| Error::sys("read SO_NETNS_COOKIE of", self.describe(), e))
    }

    /// Enter this namespace on the calling thread. The returned guard
    /// switches the thread back to its previous namespace when dropped (or
    /// when [`EnterGuard::exit`] is called, which reports errors).
    ///
    /// The guard is not `Send`: the namespace belongs to this thread. Prefer
    /// [`Netns::run`] in code that may run on a shared thread pool.
    ///
    /// # References
    /// setns(2)
    pub fn enter(&self) -> Result<EnterGuard> {
        let prev = Netns::current()?;
        setns(&self.fd, CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys("setns", self.describe(), e))?;
        Ok(EnterGuard::returning_to(prev))
    }

    /// Run `f` on a fresh thread inside this namespace and return its value.
    /// The calling thread never changes namespace, so this is safe to call
    /// from async code. A panic in `f` is propagated to the caller.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let fd = self.fd.as_fd();
        let what = self.describe();
        std::thread::scope(|s| {
            let handle = std::thread::Builder::new()
                .name("brnet-netns-run".into())
                .spawn_scoped(s, move || {
                    setns(fd, CloneFlags::CLONE_NEWNET)
                        .map_err(|e| Error::sys("setns", what, e))?;
                    Ok(f())
                })
                .map_err(|e| Error::sys("spawn thread", self.describe(), io_errno(&e)))?;
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    pub(crate) fn describe(&self) -> String {
        match (&self.path, &self.name) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(n)) => n.clone(),
            (None, None) => format!("netns fd {}", std::os::fd::AsRawFd::as_raw_fd(&self.fd)),
        }
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Restores the thread's previous network namespace when dropped.
///
/// Not `Send`: it must be dropped on the thread that entered.
#[derive(Debug)]
#[must_use = "dropping the guard immediately switches back to the previous namespace"]
pub struct EnterGuard {
    prev: Option<Netns>,
    _not_send: PhantomData<*const ()>,
}

impl EnterGuard {
    /// A guard that returns the thread to `prev` (used after `unshare`).
    pub(crate) fn returning_to(prev: Netns) -> EnterGuard {
        EnterGuard {
            prev: Some(prev),
            _not_send: PhantomData,
        }
    }

    /// Switch back now (what dropping the guard does). A thread is never
    /// left in the namespace it entered: if switching back fails (the
    /// thread lost CAP_SYS_ADMIN meanwhile, say), the process aborts, since
    /// the thread would configure the wrong network from then on.
    pub fn exit(self) {
        drop(self);
    }

    fn restore(&mut self) {
        if let Some(prev) = self.prev.take()
            && let Err(e) = setns(&prev.fd, CloneFlags::CLONE_NEWNET)
        {
            // A thread left in the wrong namespace would configure the wrong
            // network from here on: stopping is the only safe answer.
            eprintln!(
                "brnet-netns: cannot restore the thread's network namespace ({}): {}; aborting",
                prev.describe(),
                crate::error::ShowErrno(e)
            );
            std::process::abort();
        }
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        self.restore();
    }
}

/// The cookie of the network namespace a socket lives in (see
/// [`Netns::cookie`]); `Ok(None)` before Linux 5.14.
pub fn socket_netns_cookie(socket: impl AsFd) -> Result<Option<u64>> {
    sys::netns_cookie(socket.as_fd()).map_err(|e| Error::sys("read SO_NETNS_COOKIE", "socket", e))
}

pub(crate) fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}
