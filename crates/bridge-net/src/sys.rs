//! The crate's only `unsafe` code: work left to a detached child process,
//! so that the kernel's waits fall on the child and not on the caller.
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

/// What a detached child does before it waits to be let go.
enum Job<'a> {
    /// Send this rtnetlink request on its descriptor 0 (a socket) and
    /// wait for the answer.
    Request(&'a [u8]),
    /// Nothing: it is there to hold its descriptor.
    Hold,
}

/// The pipe's write end that keeps a detached child (see [`detach`])
/// waiting: dropping it lets the child go, and the child's copy of the
/// descriptor it holds is then closed, after every copy the caller closed
/// before. The child goes too when the caller's process exits.
#[derive(Debug)]
pub(crate) struct Release(#[allow(dead_code)] OwnedFd);

/// Leave `job` to a detached child process and return at once: the child
/// (a grandchild, reparented to init, in a session of its own) has `sock`
/// on its descriptor 0 and `hold` on 1, nothing else of the caller's (not
/// its pipes, which Podman reads until they close, nor its locks), does
/// `job`, then waits until the returned [`Release`] is dropped (or the
/// caller exits) before it exits.
///
/// That wait is what makes the child's copy of `hold` the last one to be
/// closed, whatever the order of events: a child that exited as soon as
/// its job was done (the kernel answers a request in microseconds) would
/// leave the caller's own close last, and the caller would pay the
/// kernel's wait after all (strace showed it: commit 1ff41bd). The caller
/// closes its copies of `hold`, then drops the release.
///
/// Nothing is executed: between fork and `_exit` the children run only
/// async-signal-safe system calls on memory prepared before the fork.
fn detach(sock: Option<OwnedFd>, hold: Option<OwnedFd>, job: Job<'_>) -> Result<Release, Errno> {
    let sock = sock.map(above_stdio).transpose()?;
    let hold = hold.map(above_stdio).transpose()?;
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let rd = above_stdio(rd)?;
    let sock_fd = sock.as_ref().map_or(-1, AsRawFd::as_raw_fd);
    let hold_fd = hold.as_ref().map_or(-1, AsRawFd::as_raw_fd);
    let rd_fd = rd.as_raw_fd();
    let mut reply = [0u8; 1024];
    // SAFETY: between fork and _exit the children call only
    // async-signal-safe functions (fork, setsid, dup2, close, syscall,
    // send, recv, read, _exit) on descriptors and buffers that exist before
    // the fork; they never return into Rust code, allocate or unwind.
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
            // Each on its place, nothing else. dup2 onto itself is a
            // no-op, and no source is below 3 (above_stdio): no dup2
            // overwrites a source still to be moved.
            for (from, to) in [(sock_fd, 0), (hold_fd, 1), (rd_fd, 2)] {
                if from >= 0 {
                    libc::dup2(from, to);
                } else {
                    libc::close(to);
                }
            }
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            if let Job::Request(msg) = job
                && libc::send(0, msg.as_ptr().cast(), msg.len(), 0) >= 0
            {
                libc::recv(0, reply.as_mut_ptr().cast(), reply.len(), 0);
            }
            // Until the caller drops the release (or exits): end of file.
            while libc::read(2, reply.as_mut_ptr().cast(), 1) < 0
                && *libc::__errno_location() == libc::EINTR
            {}
            libc::_exit(0);
        }
    }
    if pid < 0 {
        return Err(Errno::last());
    }
    drop((sock, hold, rd));
    loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Err(Errno::EINTR) => continue,
            _ => return Ok(Release(wr)),
        }
    }
}

/// Send the rtnetlink request `msg` from a detached child ([`detach`]),
/// which holds `hold` until the returned release is dropped. The request
/// goes to the calling thread's network namespace (the socket is made
/// here, before the fork). Its outcome is not reported.
pub(crate) fn request_detached(msg: &[u8], hold: Option<OwnedFd>) -> Result<Release, Errno> {
    let nl = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    detach(Some(nl), hold, Job::Request(msg))
}

/// Close `fd` in a detached child ([`detach`]) instead of here: its copy
/// goes when the returned release is dropped, and its close, the last,
/// pays whatever the kernel makes that wait for. For the nf_tables socket
/// after a removal: an RCU grace period
/// ([`brnet_nat::Firewall::released`]).
pub(crate) fn close_detached(fd: OwnedFd) -> Result<Release, Errno> {
    detach(None, Some(fd), Job::Hold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Whether the read end `rd` sees end of file within `wait`: every
    /// write end closed.
    fn closed_within(rd: &OwnedFd, wait: Duration) -> bool {
        use nix::fcntl::OFlag;
        fcntl(rd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        let deadline = Instant::now() + wait;
        let mut b = [0u8; 1];
        loop {
            match nix::unistd::read(rd, &mut b) {
                Ok(0) => return true,
                Err(Errno::EAGAIN | Errno::EINTR) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => return false,
            }
        }
    }

    /// The child of either job keeps its copy of the held descriptor until
    /// the release is dropped, however soon its job is done: the caller's
    /// close is never the last. Seen through a pipe: its read end reports
    /// end of file only when the child's copy of the write end is gone.
    #[test]
    fn the_child_holds_its_copy_until_released_for_both_jobs() {
        for request in [false, true] {
            let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
            let release = if request {
                // A request the kernel answers at once: RTM_GETLINK of
                // link 1 (`lo`), in the caller's namespace.
                let mut msg = [0u8; 32];
                msg[0] = 32; // nlmsg_len
                msg[4] = libc::RTM_GETLINK as u8; // nlmsg_type
                msg[6] = libc::NLM_F_REQUEST as u8; // nlmsg_flags
                msg[20] = 1; // ifi_index
                request_detached(&msg, Some(wr)).unwrap()
            } else {
                close_detached(wr).unwrap()
            };
            // The caller's copy is gone (moved in); the child's is not,
            // even after its request was answered.
            assert!(
                !closed_within(&rd, Duration::from_millis(200)),
                "request {request}: the child let go before its release"
            );
            drop(release);
            assert!(
                closed_within(&rd, Duration::from_secs(10)),
                "request {request}: the child kept its copy after its release"
            );
        }
    }
}
