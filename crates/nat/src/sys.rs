//! The one place this crate needs `unsafe`: lending neli's socket file
//! descriptor to nix for the socket options neli does not set.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use neli::socket::NlSocket;
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

fn borrow(sock: &NlSocket) -> BorrowedFd<'_> {
    // SAFETY: `NlSocket` owns its descriptor and closes it only on drop;
    // the borrow cannot outlive `sock`, so the descriptor stays open for
    // the whole lifetime of the returned `BorrowedFd`.
    unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) }
}

/// `SO_SNDBUFFORCE`: a send buffer large enough for one whole batch (a
/// batch must go in one `send` to be one transaction). Needs CAP_NET_ADMIN
/// in the initial user namespace: `EPERM` when rootless.
pub(crate) fn set_sndbuf_force(sock: &NlSocket, bytes: usize) -> Result<(), Errno> {
    setsockopt(&borrow(sock), sockopt::SndBufForce, &bytes)
}

/// `SO_SNDBUF`, capped by `net.core.wmem_max`.
pub(crate) fn set_sndbuf(sock: &NlSocket, bytes: usize) -> Result<(), Errno> {
    setsockopt(&borrow(sock), sockopt::SndBuf, &bytes)
}

/// The send buffer as the kernel has it (twice what was asked for).
pub(crate) fn sndbuf(sock: &NlSocket) -> Result<usize, Errno> {
    nix::sys::socket::getsockopt(&borrow(sock), sockopt::SndBuf)
}

/// `SO_RCVBUFFORCE`, falling back to `SO_RCVBUF` (capped by `rmem_max`).
pub(crate) fn set_rcvbuf(sock: &NlSocket, bytes: usize) -> Result<(), Errno> {
    setsockopt(&borrow(sock), sockopt::RcvBufForce, &bytes)
        .or_else(|_| setsockopt(&borrow(sock), sockopt::RcvBuf, &bytes))
}

/// `SO_RCVTIMEO`: how long a dump may wait for the kernel's next part.
pub(crate) fn set_rcv_timeout(sock: &NlSocket, secs: i64) -> Result<(), Errno> {
    setsockopt(
        &borrow(sock),
        sockopt::ReceiveTimeout,
        &TimeVal::new(secs, 0),
    )
}

/// `NETLINK_CAP_ACK`: an error echoes only the refused message's header,
/// not the whole message (a 32 KiB element list would otherwise come back
/// whole, and fill the receive queue).
pub(crate) fn set_cap_ack(sock: &NlSocket) -> Result<(), Errno> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a valid c_int that outlives the call, and its size is
    // passed; the kernel only reads it. The descriptor is open (see `borrow`).
    let r = unsafe {
        libc::setsockopt(
            borrow(sock).as_raw_fd(),
            libc::SOL_NETLINK,
            libc::NETLINK_CAP_ACK,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Errno::result(r).map(drop)
}

/// A second descriptor of the socket (close-on-exec), owned by the caller.
pub(crate) fn dup(sock: &NlSocket) -> std::io::Result<OwnedFd> {
    borrow(sock).try_clone_to_owned()
}
