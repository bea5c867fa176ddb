//! The sysctls of the bridge model, under `/proc/sys` in the calling
//! thread's network namespace. Every write is read back.

use std::path::{Path, PathBuf};

use brnet_netlink::IfName;
use brnet_netns::{Errno, ShowErrno};

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

/// Write a sysctl file and read it back. Writing the value it already has
/// is skipped.
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

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// `net.ipv4.ip_forward`.
pub const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Whether `net.ipv4.ip_forward` is on.
pub fn ip_forward() -> Result<bool, Error> {
    Ok(read(IP_FORWARD)? == "1")
}

/// Set `net.ipv4.ip_forward`.
pub fn set_ip_forward(on: bool) -> Result<(), Error> {
    write(IP_FORWARD, flag(on))
}

/// `net.ipv6.conf.all.forwarding`.
pub fn set_ipv6_forwarding(on: bool) -> Result<(), Error> {
    write("/proc/sys/net/ipv6/conf/all/forwarding", flag(on))
}

/// `net.ipv4.conf.<link>.route_localnet`: let 127.0.0.0/8 be routed to
/// `link` (published ports answering on 127.0.0.1).
pub fn set_route_localnet(link: &IfName, on: bool) -> Result<(), Error> {
    write(
        format!("/proc/sys/net/ipv4/conf/{link}/route_localnet"),
        flag(on),
    )
}

/// `net.ipv6.conf.<link>.accept_ra` (Docker sets 0 on its bridges).
pub fn set_accept_ra(link: &IfName, value: u8) -> Result<(), Error> {
    write(
        format!("/proc/sys/net/ipv6/conf/{link}/accept_ra"),
        &value.to_string(),
    )
}

/// `net.ipv6.conf.<link>.disable_ipv6`.
pub fn set_disable_ipv6(link: &IfName, disabled: bool) -> Result<(), Error> {
    write(
        format!("/proc/sys/net/ipv6/conf/{link}/disable_ipv6"),
        flag(disabled),
    )
}

/// Whether IPv6 is disabled on `link`.
pub fn disable_ipv6(link: &IfName) -> Result<bool, Error> {
    Ok(read(format!("/proc/sys/net/ipv6/conf/{link}/disable_ipv6"))? == "1")
}
