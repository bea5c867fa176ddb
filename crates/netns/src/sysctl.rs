//! The network sysctls of the calling thread's namespace (`/proc/sys/net`
//! shows the namespace of the thread that opens it): read, write only
//! when the value differs (a read-only `/proc` is fine when nothing has to
//! change), read back; and the one place that turns IPv6 off on a link.
//!
//! [`NetDir`] is a namespace's `/proc/sys/net` opened once, for callers
//! that write sysctls of many links: see there why a path from `/proc/sys`
//! gets dearer with every namespace on the machine.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::Mode;

use crate::error::ShowErrno;

/// A sysctl that could not be read or written, or did not take.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing failed.
    #[error("{op} {}: {}", path.display(), ShowErrno(*errno))]
    Io {
        /// `read` or `write`.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The errno.
        errno: Errno,
    },
    /// The value read back differs from the one written.
    #[error("{} is {got:?} after writing {wanted:?}", path.display())]
    DidNotTake {
        /// The file.
        path: PathBuf,
        /// What was written.
        wanted: String,
        /// What was read back.
        got: String,
    },
}

impl Error {
    /// Whether the write failed because `/proc/sys` is mounted read-only
    /// (as in many containers) or not writable to us.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Error::Io {
                op: "write",
                errno: Errno::EROFS | Errno::EACCES | Errno::EPERM,
                ..
            }
        )
    }

    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            Error::Io { path, .. } | Error::DidNotTake { path, .. } => path,
        }
    }
}

fn io(op: &'static str, path: &Path, e: &std::io::Error) -> Error {
    Error::Io {
        op,
        path: path.to_owned(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    }
}

fn errno(op: &'static str, path: &Path, errno: Errno) -> Error {
    Error::Io {
        op,
        path: path.to_owned(),
        errno,
    }
}

/// Read a sysctl file, trimmed.
pub fn read(path: impl AsRef<Path>) -> Result<String, Error> {
    let path = path.as_ref();
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| io("read", path, &e))
}

/// Write a sysctl file, only if it does not hold `value` already, and
/// read it back.
pub fn write(path: impl AsRef<Path>, value: &str) -> Result<(), Error> {
    let path = path.as_ref();
    update(|flags| open(path, flags, Mode::empty()), path, value)
}

/// The whole of a sysctl file from its start, trimmed.
fn read_file(file: &File, path: &Path) -> Result<String, Error> {
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    loop {
        let n = file
            .read_at(&mut chunk, buf.len() as u64)
            .map_err(|e| io("read", path, &e))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    Ok(text.trim().to_owned())
}

/// [`write`] through one descriptor that `open` gives (read, write if it
/// differs, read back, all at offset 0: a sysctl write elsewhere is
/// ignored under the default `kernel.sysctl_writes_strict`). Opened
/// read-write first; where that is refused (`/proc` read-only, or not
/// ours to write) read-only, so that a value already there is fine, and
/// one that is not gets the refusal as a `write` error, as a separate
/// open for writing would.
fn update(
    open: impl Fn(OFlag) -> nix::Result<OwnedFd>,
    path: &Path,
    value: &str,
) -> Result<(), Error> {
    let (file, refused) = match open(OFlag::O_RDWR | OFlag::O_CLOEXEC) {
        Ok(fd) => (File::from(fd), None),
        Err(e @ (Errno::EROFS | Errno::EACCES | Errno::EPERM)) => {
            let fd =
                open(OFlag::O_RDONLY | OFlag::O_CLOEXEC).map_err(|e| errno("read", path, e))?;
            (File::from(fd), Some(e))
        }
        Err(e) => return Err(errno("read", path, e)),
    };
    if read_file(&file, path)? == value {
        return Ok(());
    }
    if let Some(e) = refused {
        return Err(errno("write", path, e));
    }
    file.write_all_at(value.as_bytes(), 0)
        .map_err(|e| io("write", path, &e))?;
    let got = read_file(&file, path)?;
    if got != value {
        return Err(Error::DidNotTake {
            path: path.to_owned(),
            wanted: value.to_owned(),
            got,
        });
    }
    Ok(())
}

/// Where the network sysctls live.
pub const NET: &str = "/proc/sys/net";

/// How many namespaces' sysctls are looked up through one private procfs
/// instance before it is replaced (see [`open_net_file`]).
const PRIVATE_USES: u32 = 64;

/// The private procfs instance of [`open_net_file`]: its mount descriptor,
/// whether it is read-only, how many lookups went through it.
struct Private {
    mnt: OwnedFd,
    read_only: bool,
    uses: u32,
}

static PRIVATE: std::sync::Mutex<Option<Private>> = std::sync::Mutex::new(None);
/// Set once making an instance failed (no privilege, a seccomp filter, an
/// old kernel): not tried again by this process.
static NO_PRIVATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `/proc/sys/net` is the plain `/proc`'s (no other file system
/// mounted on it or on `/proc/sys`), and if so whether it is read-only:
/// what a private instance must match to show what `/proc` shows.
/// `None`: it is not plain, or cannot be looked at.
fn plain_proc_sys() -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let proc = std::fs::metadata("/proc").ok()?;
    let net = std::fs::metadata(NET).ok()?;
    if proc.dev() != net.dev() {
        return None;
    }
    let fs = nix::sys::statvfs::statvfs(NET).ok()?;
    Some(fs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Open the sysctl file `rel` (below `/proc/sys/net`) of the calling
/// thread's namespace, for reading, or reading and writing with `write`,
/// where the kernel's lookup does not grow with the namespaces on the
/// machine.
///
/// A path through `/proc/sys/net/ipv6` (or `ipv4`, `core`...) walks a hash
/// chain with one entry per namespace that ever had such a sysctl looked up
/// (see [`NetDir`]); in a namespace that never had, the walk finds nothing
/// and is made three times over, before the entry is added. This looks the
/// file up through a procfs instance of the process's own, mounted
/// nowhere, whose chain holds only the namespaces looked up through it,
/// and which is replaced after 64 of them: the lookup costs the same with
/// a thousand containers on the machine as with one.
///
/// The instance shows what `/proc` does: read-only where `/proc/sys/net`
/// is, and not used where another file system is mounted on `/proc/sys`
/// or `/proc/sys/net` (a kernel without IPv6 shown by hiding a directory)
/// or where it cannot be made (no `CAP_SYS_ADMIN`, a seccomp filter, a
/// kernel before 5.2): the path is opened then, as it always was.
pub fn open_net_file(rel: &str, write: bool) -> Result<File, Error> {
    let flags = if write {
        OFlag::O_RDWR
    } else {
        OFlag::O_RDONLY
    };
    open_net(rel, flags).map(File::from)
}

/// [`open_net_file`] with `flags`.
fn open_net(rel: &str, flags: OFlag) -> Result<OwnedFd, Error> {
    let path = NetDir::path(rel);
    let via_private = || -> Option<nix::Result<OwnedFd>> {
        if NO_PRIVATE.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let read_only = plain_proc_sys()?;
        let mut private = PRIVATE.lock().unwrap_or_else(|p| p.into_inner());
        if private
            .as_ref()
            .is_some_and(|p| p.read_only != read_only || p.uses >= PRIVATE_USES)
        {
            *private = None;
        }
        if private.is_none() {
            match crate::sys::private_proc(read_only) {
                Ok(mnt) => {
                    *private = Some(Private {
                        mnt,
                        read_only,
                        uses: 0,
                    })
                }
                Err(e) => {
                    tracing::debug!("no private procfs instance ({e}): sysctls by their path");
                    NO_PRIVATE.store(true, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
            }
        }
        let p = private.as_mut()?;
        p.uses += 1;
        Some(openat(
            p.mnt.as_fd(),
            Path::new("sys/net").join(rel).as_path(),
            flags | OFlag::O_CLOEXEC,
            Mode::empty(),
        ))
    };
    let fd = match via_private() {
        Some(fd) => fd,
        None => open(&path, flags | OFlag::O_CLOEXEC, Mode::empty()),
    };
    let op = if flags.intersects(OFlag::O_WRONLY | OFlag::O_RDWR) {
        "write"
    } else {
        "read"
    };
    fd.map_err(|e| errno(op, &path, e))
}

/// A namespace's `/proc/sys/net` and `/proc/sys/net/ipv6/conf`, opened
/// once (`O_PATH` descriptors), and sysctls opened below them: for a
/// caller that writes the sysctls of many links, such as IPv6 off on each
/// new veth.
///
/// Why: the kernel keeps one `/proc/sys/net/ipv6` directory entry (and
/// `ipv4`, `core`...) for every network namespace in which anything below
/// it was looked up, all with the same parent and name, hence in one hash
/// chain; a path walk through it compares the name against each of them,
/// taking a global lock for each comparison. With a thousand containers
/// on the machine (ours or anyone's), a path from `/proc/sys` costs a walk
/// past a thousand entries (milliseconds on a busy machine); a path below
/// an open `NetDir`'s `ipv6/conf` costs what it does on an empty machine.
///
/// Everything below it is the namespace's that was the calling thread's
/// when [`NetDir::open`] ran, seen through the `/proc` mounted then,
/// whichever namespace the thread is in later.
#[derive(Debug)]
pub struct NetDir {
    net: OwnedFd,
    /// `ipv6/conf`; `None` without IPv6 (or where it could not be opened:
    /// its sysctls are then opened by their path below `net`).
    ipv6_conf: Option<OwnedFd>,
}

const DIR: OFlag = OFlag::O_PATH
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_CLOEXEC);

impl NetDir {
    /// Open `/proc/sys/net` of the calling thread's namespace (one walk
    /// from `/proc/sys`, and one to its `ipv6/conf`).
    pub fn open() -> Result<NetDir, Error> {
        // "" is `/proc/sys/net` itself; through a private instance where
        // there is one (see [`open_net_file`]), so that its `ipv6/conf`
        // below costs no walk past every namespace's `ipv6`.
        let net = open_net("", DIR)?;
        let ipv6_conf = openat(net.as_fd(), "ipv6/conf", DIR, Mode::empty()).ok();
        Ok(NetDir { net, ipv6_conf })
    }

    /// The full path of `rel` (for messages).
    fn path(rel: &str) -> PathBuf {
        Path::new(NET).join(rel)
    }

    /// Read the sysctl file `rel` (below `/proc/sys/net`), trimmed.
    pub fn read(&self, rel: &str) -> Result<String, Error> {
        let path = NetDir::path(rel);
        let fd = openat(
            self.net.as_fd(),
            rel,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| errno("read", &path, e))?;
        read_file(&File::from(fd), &path)
    }

    /// Write the sysctl file `rel` (below `/proc/sys/net`) as [`write()`]
    /// does: only if it does not hold `value` already, and read back.
    pub fn write(&self, rel: &str, value: &str) -> Result<(), Error> {
        update(
            |flags| openat(self.net.as_fd(), rel, flags, Mode::empty()),
            &NetDir::path(rel),
            value,
        )
    }

    /// Whether the namespace has IPv6 at all.
    pub fn ipv6_present(&self) -> bool {
        self.ipv6_conf.is_some()
            || nix::sys::stat::fstatat(self.net.as_fd(), "ipv6", nix::fcntl::AtFlags::empty())
                .is_ok()
    }

    /// [`ipv6_off`], below this directory: the same outcome, the same
    /// errors.
    pub fn ipv6_off(&self, link: &str) -> Result<Ipv6Off, Error> {
        let written = match &self.ipv6_conf {
            Some(conf) => {
                let rel = format!("{link}/disable_ipv6");
                update(
                    |flags| openat(conf.as_fd(), rel.as_str(), flags, Mode::empty()),
                    &disable_ipv6_path(link),
                    "1",
                )
            }
            None => self.write(&format!("ipv6/conf/{link}/disable_ipv6"), "1"),
        };
        match written {
            Ok(()) => Ok(Ipv6Off::Off),
            Err(e) if !self.ipv6_present() => {
                tracing::trace!("{e}: no IPv6 in this kernel");
                Ok(Ipv6Off::NoIpv6)
            }
            Err(e) if e.is_read_only() => {
                tracing::warn!("{e}: IPv6 stays on for {link}");
                Ok(Ipv6Off::LeftOn)
            }
            Err(e) => Err(e),
        }
    }
}

/// Where the IPv6 sysctls live; absent when the kernel runs without IPv6
/// (booted with `ipv6.disable=1`, or built without it).
pub const IPV6: &str = "/proc/sys/net/ipv6";

/// Whether the kernel has IPv6 at all (in the calling thread's namespace).
pub fn ipv6_present() -> bool {
    Path::new(IPV6).exists()
}

/// `net.ipv6.conf.<link>.disable_ipv6`.
pub fn disable_ipv6_path(link: &str) -> PathBuf {
    PathBuf::from(format!("{IPV6}/conf/{link}/disable_ipv6"))
}

/// How [`ipv6_off`] left the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Off {
    /// `disable_ipv6` is 1 (it was already, or was written).
    Off,
    /// The kernel has no IPv6 (`ipv6.disable=1`): nothing to turn off.
    NoIpv6,
    /// `/proc/sys` is read-only (or not ours to write): the link keeps
    /// IPv6, which costs it a link-local address and nothing else.
    LeftOn,
}

/// Turn IPv6 off on `link` (`disable_ipv6=1`), the one place that does:
/// written only if it differs; a kernel without IPv6 has it off already;
/// a read-only `/proc/sys` leaves it on, with a log line, since IPv6 off
/// is only a saving. Any other failure is an error.
pub fn ipv6_off(link: &str) -> Result<Ipv6Off, Error> {
    if !ipv6_present() {
        return Ok(Ipv6Off::NoIpv6);
    }
    match write(disable_ipv6_path(link), "1") {
        Ok(()) => Ok(Ipv6Off::Off),
        Err(e) if e.is_read_only() => {
            tracing::warn!("{e}: IPv6 stays on for {link}");
            Ok(Ipv6Off::LeftOn)
        }
        Err(e) => Err(e),
    }
}

/// Whether IPv6 is off on `link` (also when the kernel has none).
pub fn ipv6_is_off(link: &str) -> Result<bool, Error> {
    if !ipv6_present() {
        return Ok(true);
    }
    Ok(read(disable_ipv6_path(link))? == "1")
}
