//! The crate's only `unsafe` code: a request left to a forked child, so
//! that the kernel's wait for it falls on the child and not on the caller.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};

/// Keep `fd` off the standard descriptors (0, 1, 2), which the child
/// reuses for its own.
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Errno> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let raw = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else
    // owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

/// Send the rtnetlink request `msg` from a detached child process and
/// return at once: the child (a grandchild, reparented to init, in a
/// session of its own) waits for the kernel's answer, then exits, holding
/// `hold` until then. Nothing is executed: the child runs only
/// async-signal-safe system calls on memory prepared before the fork.
///
/// The request goes to the calling thread's network namespace (the
/// socket is made here, before the fork). Its outcome is not reported.
pub(crate) fn request_detached(msg: &[u8], hold: Option<OwnedFd>) -> Result<(), Errno> {
    let nl = above_stdio(socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?)?;
    let hold = hold.map(above_stdio).transpose()?;
    let nl_fd = nl.as_raw_fd();
    let hold_fd = hold.as_ref().map_or(-1, AsRawFd::as_raw_fd);
    let mut reply = [0u8; 1024];
    // SAFETY: between fork and _exit the children call only
    // async-signal-safe functions (fork, setsid, dup2, close, syscall,
    // send, recv, _exit) on descriptors and buffers that exist before the
    // fork; they never return into Rust code, allocate or unwind.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above.
        unsafe {
            if libc::fork() != 0 {
                // The first child goes at once (its parent reaps it); the
                // grandchild is nobody's to wait for.
                libc::_exit(0);
            }
            libc::setsid();
            // The socket on 0, the held descriptor on 1, nothing else: the
            // caller's pipes (Podman reads our stdout until it closes) and
            // locks are not kept open by the child.
            libc::dup2(nl_fd, 0);
            if hold_fd >= 0 {
                libc::dup2(hold_fd, 1);
            } else {
                libc::close(1);
            }
            libc::syscall(libc::SYS_close_range, 2u32, u32::MAX, 0u32);
            if libc::send(0, msg.as_ptr().cast(), msg.len(), 0) >= 0 {
                libc::recv(0, reply.as_mut_ptr().cast(), reply.len(), 0);
            }
            libc::_exit(0);
        }
    }
    if pid < 0 {
        return Err(Errno::last());
    }
    drop(nl);
    drop(hold);
    loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Err(Errno::EINTR) => continue,
            _ => return Ok(()),
        }
    }
}

/// Close `fd` in a detached child process instead of here: the child (a
/// grandchild, reparented to init, in a session of its own, holding
/// nothing else) keeps its copy until the returned descriptor (a pipe's
/// write end) is closed, then exits, and its close, the last, pays
/// whatever the kernel makes that wait for. For the nf_tables socket
/// after a removal: an RCU grace period
/// ([`brnet_nat::Firewall::released`]). The caller closes its own copies
/// of `fd` first, then the returned descriptor: the child's must be the
/// last copy to go, or the caller's close waits after all.
pub(crate) fn close_detached(fd: OwnedFd) -> Result<OwnedFd, Errno> {
    let fd = above_stdio(fd)?;
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let rd = above_stdio(rd)?;
    let (raw, raw_rd) = (fd.as_raw_fd(), rd.as_raw_fd());
    let mut byte = [0u8; 1];
    // SAFETY: between fork and _exit the children call only
    // async-signal-safe functions (fork, setsid, dup2, syscall, read,
    // _exit) on descriptors and a buffer that exist before the fork; they
    // never return into Rust code, allocate or unwind.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above.
        unsafe {
            if libc::fork() != 0 {
                libc::_exit(0);
            }
            libc::setsid();
            // The descriptor on 0, the pipe on 1, nothing else: the
            // caller's pipes and locks are not kept open by the child.
            libc::dup2(raw, 0);
            libc::dup2(raw_rd, 1);
            libc::syscall(libc::SYS_close_range, 2u32, u32::MAX, 0u32);
            // Until the caller closes the write end (or exits).
            while libc::read(1, byte.as_mut_ptr().cast(), 1) < 0
                && *libc::__errno_location() == libc::EINTR
            {}
            libc::_exit(0);
        }
    }
    if pid < 0 {
        return Err(Errno::last());
    }
    drop(fd);
    drop(rd);
    loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Err(Errno::EINTR) => continue,
            _ => return Ok(wr),
        }
    }
}
