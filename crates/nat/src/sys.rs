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
/// batch must go in one `send` to be one transaction). Needs CAP_NET_ADMIN,
/// which changing nftables needs anyway.
pub(crate) fn set_sndbuf(sock: &NlSocket, bytes: usize) -> Result<(), Errno> {
    setsockopt(&borrow(sock), sockopt::SndBufForce, &bytes)
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

/// A second descriptor of the socket (close-on-exec), owned by the caller.
pub(crate) fn dup(sock: &NlSocket) -> std::io::Result<OwnedFd> {
    borrow(sock).try_clone_to_owned()
}
