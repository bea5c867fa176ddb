//! The network sysctls of the calling thread's namespace (`/proc/sys/net`
//! shows the namespace of the thread that opens it): read, write only
//! when the value differs (a read-only `/proc` is fine when nothing has to
//! change), read back; and the one place that turns IPv6 off on a link.

use std::path::{Path, PathBuf};

use nix::errno::Errno;

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
    if read(path)? == value {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|e| io("write", path, &e))?;
    let got = read(path)?;
    if got != value {
        return Err(Error::DidNotTake {
            path: path.to_owned(),
            wanted: value.to_owned(),
            got,
        });
    }
    Ok(())
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
