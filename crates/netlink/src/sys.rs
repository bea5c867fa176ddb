//! The one place this crate needs `unsafe`: the netlink socket options
//! (`SOL_NETLINK`) that nix does not wrap.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

use brnet_netns::Errno;

/// Set an `int` option at level `SOL_NETLINK` (`NETLINK_EXT_ACK`,
/// `NETLINK_CAP_ACK`, ...).
pub(crate) fn set_netlink_option(
    fd: BorrowedFd<'_>,
    option: libc::c_int,
    on: bool,
) -> Result<(), Errno> {
    let value: libc::c_int = on.into();
    // SAFETY: `value` is a valid c_int that outlives the call and its size
    // is passed; the kernel only reads it. `fd` is an open descriptor for
    // the lifetime of the borrow.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_NETLINK,
            option,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Errno::result(r).map(drop)
}
