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
/// before. The child goes too when the caller's process exits. `None`: no
/// child; the descriptor went to the namespace's closer at once.
#[derive(Debug)]
pub(crate) struct Release(#[allow(dead_code)] Option<OwnedFd>);

/// Leave `job` to a detached child process and return at once: the child
/// (a grandchild, reparented to init, in a session of its own) has `sock`
/// on its descriptor 0 and `hold` on 1, nothing else of the caller's (not
/// its pipes, which Podman reads until they close, nor its locks), does
/// `job`, then waits until the returned [`Release`] is dropped (or the
/// caller exits), and then leaves its copy of `hold` to the namespace's
/// closer ([`closer`]), which closes it once the kernel has nothing left
/// to free: neither the caller nor the next call waits for that close.
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
    let rendezvous = closer::Closer::new();
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
            if hold_fd >= 0 {
                closer::close_late(&rendezvous, &mut reply);
            }
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
            _ => return Ok(Release(Some(wr))),
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

/// Close `fd` elsewhere than here: handed at once to the namespace's
/// closer ([`closer`]) when there is one (no process made: back to back
/// calls find the previous call's closer), else to a detached child
/// ([`detach`]), which gives it to the closer or becomes it. Either way its
/// close, the last, pays whatever the kernel makes that wait for, once
/// there is nothing left to wait for. For the nf_tables socket after a
/// removal: an RCU grace period ([`brnet_nat::Firewall::released`]).
pub(crate) fn close_detached(fd: OwnedFd) -> Result<Release, Errno> {
    let rendezvous = closer::Closer::new();
    // SAFETY: hand_over makes system calls on its own socket and on `fd`,
    // which is open (owned here) for the whole call.
    if unsafe { closer::hand_over(&rendezvous, fd.as_raw_fd()) } {
        return Ok(Release(None));
    }
    detach(None, Some(fd), Job::Hold)
}

/// Whether the link `name` of the calling thread's namespace is up:
/// `Some(false)` when it is down or gone, `None` when that could not be
/// told. Asked with `SIOCGIFFLAGS`, which the kernel answers under RCU,
/// without the RTNL lock: a netlink request (`RTM_GETLINK` before Linux
/// 6.x, `RTM_NEWLINK` always) waits for that lock while the kernel's
/// cleanup of a removed namespace holds it to delete the namespace's
/// devices, a veth's other end included (3 ms and more per call, issue 16).
pub(crate) fn link_up(name: &str) -> Option<bool> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return None;
    }
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ok()?;
    // SAFETY: ifreq is plain old data; all zeroes is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name (IFNAMSIZ bytes at
    // most, checked above) and writes the flags into the ifreq we own.
    let r = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS as libc::Ioctl,
            &mut req,
        )
    };
    if r < 0 {
        return match Errno::last() {
            Errno::ENODEV => Some(false),
            _ => None,
        };
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Some(flags & libc::IFF_UP as libc::c_short != 0)
}

/// Where the descriptors that detached children hold end up: one closer
/// per network namespace closes them all, once the kernel has nothing left
/// to free.
///
/// Why: closing an nf_tables socket (its last descriptor) takes the
/// namespace's nf_tables commit mutex and, under it, waits for the
/// kernel's deferred freeing of what recent transactions removed (the
/// `NETLINK_URELEASE` notifier flushes the destroy work, which waits for
/// an RCU grace period: 5 to 25 ms here; Linux 6.5 and the stable kernels
/// it was backported to, 5.15 and 6.1 included; unconditionally since
/// 6.10). A child that closed its copy as soon as its caller exited held
/// that mutex for a grace period, and the next call's firewall commit, a
/// few milliseconds later, waited for it: disconnects back to back cost a
/// grace period each however fast they were (issue 16: 12.5 ms at 100
/// endpoints where the call itself took 2 ms).
///
/// So a child does not close its copy itself: it hands it over (an
/// `SCM_RIGHTS` message on the abstract unix socket [`ADDRESS`], whose
/// listener must be of the same user) to the closer, and becomes the
/// closer when there is none. The closer collects descriptors until the
/// ruleset's generation has not moved for two grace periods (no
/// transaction left anything to free; waited with
/// `membarrier(MEMBARRIER_CMD_GLOBAL)`, a `synchronize_rcu()`), or
/// [`LIMIT`] passed, and then closes them all: each close then finds
/// nothing to wait for, and holds the mutex for microseconds.
///
/// Everything here runs in a forked child: only system calls, on memory
/// prepared before the fork; nothing allocates, panics or unwinds.
mod closer {
    use std::mem::{size_of, zeroed};

    /// The closer's address, abstract (so one per network namespace, and
    /// no file to clean up).
    pub(super) const ADDRESS: &[u8] = b"\0brnet-nft-closer";
    /// The longest a closer waits for a quiet ruleset before it closes
    /// what it holds anyway.
    pub(super) const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
    /// The most descriptors one closer holds (it raises its own limit of
    /// open files to fit); past it, it closes them all and goes.
    const MAX_FDS: usize = 4000;
    /// The sequence number of the closer's generation requests.
    const SEQ: u32 = 0x6272_6e63;
    /// `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN` and `NFT_MSG_NEWGEN`.
    const GETGEN: u16 = (10 << 8) | 16;
    const NEWGEN: u16 = (10 << 8) | 15;
    /// `NFTA_GEN_ID`.
    const GEN_ID: u16 = 1;

    /// What a detached child needs to reach the closer or be one, made
    /// before the fork.
    pub(super) struct Closer {
        addr: libc::sockaddr_un,
        len: libc::socklen_t,
        getgen: [u8; 20],
    }

    impl Closer {
        pub(super) fn new() -> Closer {
            // SAFETY: sockaddr_un is plain old data; all zeroes is valid.
            let mut addr: libc::sockaddr_un = unsafe { zeroed() };
            addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (d, s) in addr.sun_path.iter_mut().zip(ADDRESS) {
                *d = *s as libc::c_char;
            }
            let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + ADDRESS.len();
            let mut getgen = [0u8; 20];
            getgen[0..4].copy_from_slice(&20u32.to_ne_bytes());
            getgen[4..6].copy_from_slice(&GETGEN.to_ne_bytes());
            getgen[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
            getgen[8..12].copy_from_slice(&SEQ.to_ne_bytes());
            // nfgenmsg: AF_UNSPEC, NFNETLINK_V0, res_id 0.
            Closer {
                addr,
                len: len as libc::socklen_t,
                getgen,
            }
        }
    }

    /// The generation in a `NFT_MSG_NEWGEN` answer to our request, if
    /// `buf` holds one (other messages, queued earlier on the socket, are
    /// skipped).
    pub(super) fn generation(buf: &[u8]) -> Option<u32> {
        let u16_at = |b: &[u8], at: usize| {
            b.get(at..at + 2)
                .and_then(|s| s.try_into().ok())
                .map(u16::from_ne_bytes)
        };
        let u32_at = |b: &[u8], at: usize| {
            b.get(at..at + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_ne_bytes)
        };
        let mut at = 0;
        while let Some(len) = u32_at(buf, at).map(|l| l as usize) {
            let msg = buf.get(at..at.checked_add(len)?)?;
            if len < 16 {
                return None;
            }
            if u16_at(msg, 4) == Some(NEWGEN) && u32_at(msg, 8) == Some(SEQ) {
                // Attributes after the header (16) and nfgenmsg (4).
                let mut a = 20;
                while let (Some(alen), Some(atype)) = (u16_at(msg, a), u16_at(msg, a + 2)) {
                    let alen = alen as usize;
                    if alen < 4 {
                        return None;
                    }
                    if atype & 0x3fff == GEN_ID && alen >= 8 {
                        return msg
                            .get(a + 4..a + 8)
                            .and_then(|s| s.try_into().ok())
                            .map(u32::from_be_bytes);
                    }
                    a += (alen + 3) & !3;
                }
                return None;
            }
            at += (len + 3) & !3;
        }
        None
    }

    /// The ruleset's generation, asked on descriptor 1 (the held
    /// nf_tables socket); `None` if it is not one or does not answer.
    unsafe fn ask_generation(c: &Closer, buf: &mut [u8]) -> Option<u32> {
        // SAFETY (the whole function): system calls on our descriptor 1
        // and buffers that are ours.
        unsafe {
            if libc::send(1, c.getgen.as_ptr().cast(), c.getgen.len(), 0) < 0 {
                return None;
            }
            for _ in 0..8 {
                let n = libc::recv(1, buf.as_mut_ptr().cast(), buf.len(), 0);
                if n <= 0 {
                    return None;
                }
                if let Some(g) = buf.get(..n as usize).and_then(generation) {
                    return Some(g);
                }
            }
            None
        }
    }

    /// Wait for an RCU grace period: `membarrier(MEMBARRIER_CMD_GLOBAL)`
    /// is a `synchronize_rcu()`; where it is refused, 20 ms.
    unsafe fn grace_period() {
        // SAFETY: system calls with no memory of ours but the timespec.
        unsafe {
            if libc::syscall(libc::SYS_membarrier, 1 as libc::c_int, 0 as libc::c_int, 0) < 0 {
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 20_000_000,
                };
                libc::nanosleep(&ts, std::ptr::null_mut());
            }
        }
    }

    unsafe fn now() -> libc::timespec {
        // SAFETY: clock_gettime writes the timespec given.
        unsafe {
            let mut ts: libc::timespec = zeroed();
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
            ts
        }
    }

    /// A control buffer for one descriptor, aligned for `cmsghdr`.
    #[repr(C, align(8))]
    struct Control([u8; 32]);

    /// Hand our descriptor `fd` to the closer: `true` once it is on its
    /// way (the message holds it from then on). Never blocks.
    pub(super) unsafe fn hand_over(c: &Closer, fd: libc::c_int) -> bool {
        // SAFETY (the whole function): system calls on a socket made here,
        // with structures and buffers on this stack.
        unsafe {
            let s = libc::socket(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            );
            if s < 0 {
                return false;
            }
            let sent = (|| {
                if libc::connect(s, (&raw const c.addr).cast(), c.len) != 0 {
                    return false;
                }
                // The descriptor goes to a closer of our own user only.
                let mut cred: libc::ucred = zeroed();
                let mut len = size_of::<libc::ucred>() as libc::socklen_t;
                if libc::getsockopt(
                    s,
                    libc::SOL_SOCKET,
                    libc::SO_PEERCRED,
                    (&raw mut cred).cast(),
                    &mut len,
                ) != 0
                    || cred.uid != libc::geteuid()
                {
                    return false;
                }
                let mut byte = 0u8;
                let mut iov = libc::iovec {
                    iov_base: (&raw mut byte).cast(),
                    iov_len: 1,
                };
                let mut control = Control([0; 32]);
                let mut msg: libc::msghdr = zeroed();
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control.0.as_mut_ptr().cast();
                msg.msg_controllen = libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) as _;
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                if cmsg.is_null() {
                    return false;
                }
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as _;
                libc::CMSG_DATA(cmsg)
                    .cast::<libc::c_int>()
                    .write_unaligned(fd);
                libc::sendmsg(s, &msg, libc::MSG_NOSIGNAL) == 1
            })();
            libc::close(s);
            sent
        }
    }

    /// Take the descriptors waiting on the listener `l` into `fds` (past
    /// `MAX_FDS`, closed at once).
    unsafe fn collect(l: libc::c_int, fds: &mut [libc::c_int; MAX_FDS], n: &mut usize) {
        // SAFETY (the whole function): system calls on sockets of ours,
        // with structures and buffers on this stack.
        unsafe {
            loop {
                let conn = libc::accept4(
                    l,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                );
                if conn < 0 {
                    return;
                }
                // The sender sends right after it connects.
                let mut pfd = libc::pollfd {
                    fd: conn,
                    events: libc::POLLIN,
                    revents: 0,
                };
                libc::poll(&mut pfd, 1, 100);
                let mut byte = 0u8;
                let mut iov = libc::iovec {
                    iov_base: (&raw mut byte).cast(),
                    iov_len: 1,
                };
                let mut control = Control([0; 32]);
                let mut msg: libc::msghdr = zeroed();
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control.0.as_mut_ptr().cast();
                msg.msg_controllen = control.0.len() as _;
                if libc::recvmsg(conn, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) > 0 {
                    let cmsg = libc::CMSG_FIRSTHDR(&msg);
                    if !cmsg.is_null()
                        && (*cmsg).cmsg_level == libc::SOL_SOCKET
                        && (*cmsg).cmsg_type == libc::SCM_RIGHTS
                    {
                        let fd = libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned();
                        match fds.get_mut(*n) {
                            Some(slot) => {
                                *slot = fd;
                                *n += 1;
                            }
                            None => {
                                libc::close(fd);
                            }
                        }
                    }
                }
                libc::close(conn);
            }
        }
    }

    /// Be the closer: `false` if another one is (its address is taken).
    unsafe fn serve(c: &Closer, buf: &mut [u8]) -> bool {
        // SAFETY (the whole function): system calls on sockets of ours,
        // with structures and buffers on this stack.
        unsafe {
            let l = libc::socket(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            );
            if l < 0 {
                return false;
            }
            if libc::bind(l, (&raw const c.addr).cast(), c.len) != 0 || libc::listen(l, 512) != 0 {
                libc::close(l);
                return false;
            }
            // Room for MAX_FDS more descriptors, if the limit allows.
            let mut lim: libc::rlimit = zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                let want = (MAX_FDS as libc::rlim_t + 64).min(lim.rlim_max);
                if lim.rlim_cur < want {
                    lim.rlim_cur = want;
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                }
            }
            let mut fds = [-1 as libc::c_int; MAX_FDS];
            let mut n = 0;
            let start = now();
            loop {
                let before = ask_generation(c, buf);
                grace_period();
                collect(l, &mut fds, &mut n);
                grace_period();
                collect(l, &mut fds, &mut n);
                let after = ask_generation(c, buf);
                let t = now();
                let elapsed = (t.tv_sec - start.tv_sec) as u64;
                if before.is_none() || before == after || elapsed >= LIMIT.as_secs() || n == MAX_FDS
                {
                    break;
                }
            }
            // New senders find no closer from here on (and become one);
            // connections not taken yet go with the listener, their
            // descriptors closed by the kernel.
            libc::close(l);
            for fd in fds.iter().take(n) {
                libc::close(*fd);
            }
            true
        }
    }

    /// What a detached child does with its descriptor 1 when let go: hand
    /// it to the closer, or be the closer. Failing both, it is closed at
    /// exit, as before.
    pub(super) unsafe fn close_late(c: &Closer, buf: &mut [u8]) {
        // SAFETY: see hand_over and serve.
        unsafe {
            for _ in 0..3 {
                if hand_over(c, 1) || serve(c, buf) {
                    return;
                }
            }
        }
    }
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

    /// A `NFT_MSG_NEWGEN` message answering the closer's request (`seq`),
    /// generation `id`, as the kernel sends it: header, nfgenmsg, then
    /// `NFTA_GEN_ID` (big endian) and `NFTA_GEN_PROC_PID`.
    fn newgen(seq: u32, id: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&((10u16 << 8) | 15).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&1u16.to_ne_bytes());
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&1234u32.to_be_bytes());
        m
    }

    /// The closer reads the generation out of the answer to its own
    /// request only: messages queued before it (another sequence number)
    /// are skipped, and a cut or malformed message is no answer.
    #[test]
    fn the_closer_reads_the_generation_of_its_own_answer_only() {
        let ours = newgen(0x6272_6e63, 0x0102_0304);
        assert_eq!(closer::generation(&ours), Some(0x0102_0304));
        let mut both = newgen(5, 99);
        both.extend_from_slice(&ours);
        assert_eq!(closer::generation(&both), Some(0x0102_0304));
        assert_eq!(closer::generation(&newgen(5, 99)), None);
        assert_eq!(closer::generation(&ours[..30]), None);
        assert_eq!(closer::generation(&[]), None);
        let mut zero = ours.clone();
        zero[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(closer::generation(&zero), None);
        let mut bad_attr = ours;
        bad_attr[20..22].copy_from_slice(&2u16.to_ne_bytes());
        assert_eq!(closer::generation(&bad_attr), None);
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
                // (close_detached would hand it straight to a closer, if
                // one were running in this namespace.)
                detach(None, Some(wr), Job::Hold).unwrap()
            };
            // The caller's copy is gone (moved in); the child's is not,
            // even after its request was answered.
            assert!(
                !closed_within(&rd, Duration::from_millis(200)),
                "request {request}: the child let go before its release"
            );
            drop(release);
            // Then the closer's: at once here (a pipe has no ruleset to
            // wait for), unless another closer runs in this namespace,
            // which lets go within its limit.
            assert!(
                closed_within(&rd, closer::LIMIT + Duration::from_secs(20)),
                "request {request}: the child kept its copy after its release"
            );
        }
    }
}
