//! The one netlink transport, for every netlink protocol this project
//! speaks (rtnetlink for links, addresses, routes, neighbours and FDB
//! entries; nf_tables for the firewall), as netlink-sys serves
//! netlink-packet-route and netlink-packet-netfilter in rust-netlink.
//!
//! A [`Transport`] owns one socket, bound in the network namespace of the
//! thread that opened it, for life. It knows framing, not families: the
//! protocols' layers build messages (header, family header, attributes)
//! and hand them over; the transport numbers them, sends them, and reads
//! their answers. What it guarantees:
//!
//! - **Requests** ([`Transport::request`]): one message, answered by an ack
//!   or an error (and, for a get, the data before it).
//! - **Dumps** ([`Transport::dump`]): every part, to the end; a dump the
//!   kernel marks `NLM_F_DUMP_INTR` (the data changed under it) is run
//!   again, the consumer told to start over; an error the kernel puts in
//!   the dump's `NLMSG_DONE` is an error, never a complete dump.
//! - **Batches** ([`Transport::batch`]): several messages in one `send`
//!   (an nf_tables transaction), answered per message: the first one the
//!   kernel refused is reported by its position.
//! - **Replies** are taken only when they carry the request's sequence
//!   numbers; anything else is left over from an abandoned request and
//!   skipped. A request starts with an empty receive queue.
//! - **Dropped replies** (`ENOBUFS`: the receive queue was full): a batch
//!   or a request whose answer may be lost is [`Failure::Lost`], of
//!   unknown outcome (read back to tell), never a plain failure; a dump is
//!   run again.
//! - **Buffers**: a message must go in one `send`; the send buffer is
//!   raised to fit it (`SO_SNDBUFFORCE`, else `SO_SNDBUF` up to
//!   `net.core.wmem_max` when unprivileged), and a message that still does
//!   not fit is refused before anything is sent ([`Failure::TooLarge`]).
//!   Errors echo only the refused message's header (`NETLINK_CAP_ACK`), and
//!   carry the kernel's text (`NETLINK_EXT_ACK`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use brnet_netns::{Errno, ShowErrno};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, getsockopt, recv,
    send, setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

use crate::sys;
use crate::wire::{self, NLM_F_ACK, NLM_F_DUMP, Reply};

/// How long a request waits for the kernel's next message before giving up.
const TIMEOUT_SECS: i64 = 30;
/// How often a dump the data keeps changing under is run again.
const DUMP_ATTEMPTS: usize = 32;
/// What `netlink_sendmsg` keeps of the send buffer: a message longer than
/// `SO_SNDBUF - 32` is refused with `EMSGSIZE`.
const SNDBUF_OVERHEAD: usize = 32;

/// A netlink protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// `NETLINK_ROUTE`: links, addresses, routes, neighbours, FDB entries.
    Route,
    /// `NETLINK_NETFILTER`: nf_tables.
    Netfilter,
}

impl Protocol {
    fn sock_protocol(self) -> SockProtocol {
        match self {
            Protocol::Route => SockProtocol::NetlinkRoute,
            Protocol::Netfilter => SockProtocol::NetlinkNetFilter,
        }
    }

    /// A receive buffer that holds the largest datagram the kernel sends
    /// this protocol's sockets (dump parts are at most 32 KiB).
    fn recv_buf(self) -> usize {
        match self {
            Protocol::Route => 64 * 1024,
            Protocol::Netfilter => 256 * 1024,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Protocol::Route => "NETLINK_ROUTE",
            Protocol::Netfilter => "NETLINK_NETFILTER",
        }
    }
}

/// A message's type by its kernel name (`RTM_NEWLINK`, `NFT_MSG_NEWSETELEM`),
/// for the debug log; its number when it has no name here.
fn type_name(protocol: Protocol, ty: u16) -> std::borrow::Cow<'static, str> {
    const RT: [&str; 15] = [
        "RTM_NEWLINK",
        "RTM_DELLINK",
        "RTM_GETLINK",
        "RTM_SETLINK",
        "RTM_NEWADDR",
        "RTM_DELADDR",
        "RTM_GETADDR",
        "",
        "RTM_NEWROUTE",
        "RTM_DELROUTE",
        "RTM_GETROUTE",
        "",
        "RTM_NEWNEIGH",
        "RTM_DELNEIGH",
        "RTM_GETNEIGH",
    ];
    const NFT: [&str; 17] = [
        "NEWTABLE",
        "GETTABLE",
        "DELTABLE",
        "NEWCHAIN",
        "GETCHAIN",
        "DELCHAIN",
        "NEWRULE",
        "GETRULE",
        "DELRULE",
        "NEWSET",
        "GETSET",
        "DELSET",
        "NEWSETELEM",
        "GETSETELEM",
        "DELSETELEM",
        "NEWGEN",
        "GETGEN",
    ];
    let name = match protocol {
        Protocol::Route => ty
            .checked_sub(16)
            .and_then(|i| RT.get(usize::from(i)))
            .filter(|n| !n.is_empty())
            .map(|n| std::borrow::Cow::Borrowed(*n)),
        Protocol::Netfilter => match ty {
            0x10 => Some("NFNL_MSG_BATCH_BEGIN".into()),
            0x11 => Some("NFNL_MSG_BATCH_END".into()),
            _ if ty >> 8 == 10 => NFT
                .get(usize::from(ty & 0xff))
                .map(|n| format!("NFT_MSG_{n}").into()),
            _ => None,
        },
    };
    name.unwrap_or_else(|| format!("type {ty}").into())
}

/// The types of the messages in `msgs`, for the debug log; a run of one
/// type as `NAME ×N`.
fn type_names(protocol: Protocol, msgs: &[u8]) -> String {
    let mut runs: Vec<(u16, usize)> = Vec::new();
    for (at, _) in wire::offsets(msgs).unwrap_or_default() {
        let Some(b) = msgs.get(at + 4..at + 6) else {
            continue;
        };
        let ty = u16::from_ne_bytes([b[0], b[1]]);
        match runs.last_mut() {
            Some((t, n)) if *t == ty => *n += 1,
            _ => runs.push((ty, 1)),
        }
    }
    let shown: Vec<String> = runs
        .into_iter()
        .map(|(ty, n)| match n {
            1 => type_name(protocol, ty).into_owned(),
            n => format!("{} ×{n}", type_name(protocol, ty)),
        })
        .collect();
    shown.join(" ")
}

/// Why a request did not go through, before a protocol's layer names the
/// operation and the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The kernel refused message `index` of the request (0 for a request
    /// of one message, a dump, or the first message of a batch); for a
    /// batch, the kernel rolled all of it back.
    #[error("{}{}", ShowErrno(*errno), message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Refused {
        /// Which message.
        index: usize,
        /// The kernel's errno.
        errno: Errno,
        /// The kernel's extended-ack text.
        message: Option<String>,
    },
    /// The kernel dropped replies for want of room in the receive queue
    /// (`ENOBUFS`): whether the request took is unknown; read back.
    #[error("the kernel dropped replies (ENOBUFS): whether the request took is unknown")]
    Lost,
    /// A socket call failed.
    #[error("{op}: {}", ShowErrno(*errno))]
    Socket {
        /// `open`, `send`, `receive`, ...
        op: &'static str,
        /// The errno.
        errno: Errno,
    },
    /// A reply that is not netlink as the kernel writes it.
    #[error("malformed reply: {0}")]
    Malformed(&'static str),
    /// A message that asked for an ack got no answer at all.
    #[error("no answer to message {index}")]
    Unanswered {
        /// Which message.
        index: usize,
    },
    /// The data kept changing under the dump.
    #[error("the data changed under {attempts} dumps in a row")]
    Unstable {
        /// How many times the dump ran.
        attempts: usize,
    },
    /// A message bigger than the socket can send at once (unprivileged,
    /// `net.core.wmem_max` caps the send buffer). Nothing was sent.
    #[error(
        "{len} bytes, more than the {max} bytes the socket can send at once (raise net.core.wmem_max, or run with CAP_NET_ADMIN in the initial user namespace)"
    )]
    TooLarge {
        /// The message's size.
        len: usize,
        /// The most the socket takes.
        max: usize,
    },
}

impl Failure {
    /// The errno behind the failure, when there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Failure::Refused { errno, .. } | Failure::Socket { errno, .. } => Some(*errno),
            Failure::Lost => Some(Errno::ENOBUFS),
            Failure::TooLarge { .. } => Some(Errno::EMSGSIZE),
            _ => None,
        }
    }
}

/// One part of a dump, as handed to the consumer.
#[derive(Debug)]
pub enum DumpPart<'a> {
    /// The dump starts over (the data changed under it, or parts were
    /// dropped): forget what came so far.
    Restart,
    /// One message: its type and its payload (after the header).
    Data {
        /// The message type.
        ty: u16,
        /// The payload.
        payload: &'a [u8],
    },
}

/// What a transport has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Times the kernel dropped replies (`ENOBUFS`).
    pub dropped: u64,
    /// Dumps run again because the data changed under them.
    pub interrupted: u64,
    /// Dumps the kernel ended with an error in `NLMSG_DONE`.
    pub dump_errors: u64,
    /// Replies skipped as left over from abandoned requests.
    pub stale: u64,
}

/// A netlink socket of one protocol; see the module's documentation.
pub struct Transport {
    fd: OwnedFd,
    protocol: Protocol,
    seq: u32,
    buf: Vec<u8>,
    /// Whether replies may be queued that no request will read: set when a
    /// request starts, cleared once it has read all of its own.
    dirty: bool,
    /// The send buffer as the kernel has it; 0 before it is first needed.
    sndbuf: usize,
    stats: Stats,
    between_parts: Option<Box<dyn FnMut() + Send>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("protocol", &self.protocol)
            .field("fd", &std::os::fd::AsRawFd::as_raw_fd(&self.fd))
            .field("seq", &self.seq)
            .field("stats", &self.stats)
            .finish()
    }
}

impl AsFd for Transport {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn socket_failure(op: &'static str) -> impl Fn(Errno) -> Failure {
    move |errno| Failure::Socket { op, errno }
}

impl Transport {
    /// Open a socket of `protocol` in the calling thread's network
    /// namespace.
    pub fn open(protocol: Protocol) -> Result<Transport, Failure> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            protocol.sock_protocol(),
        )
        .map_err(socket_failure("open"))?;
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &NetlinkAddr::new(0, 0),
        )
        .map_err(socket_failure("bind"))?;
        // Best effort, both: old kernels answer without them.
        let _ = sys::set_netlink_option(fd.as_fd(), libc::NETLINK_EXT_ACK, true);
        let _ = sys::set_netlink_option(fd.as_fd(), libc::NETLINK_CAP_ACK, true);
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(TIMEOUT_SECS, 0))
            .map_err(socket_failure("set receive timeout"))?;
        Ok(Transport {
            fd,
            protocol,
            seq: 0,
            buf: vec![0; protocol.recv_buf()],
            dirty: false,
            sndbuf: 0,
            stats: Stats::default(),
            between_parts: None,
        })
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// What the transport has seen so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Raise the receive buffer (`SO_RCVBUFFORCE`, else `SO_RCVBUF` up to
    /// `net.core.rmem_max`): room for many answers at once.
    pub fn set_receive_buffer(&mut self, bytes: usize) -> Result<(), Failure> {
        setsockopt(&self.fd, sockopt::RcvBufForce, &bytes)
            .or_else(|_| setsockopt(&self.fd, sockopt::RcvBuf, &bytes))
            .map_err(socket_failure("set receive buffer"))
    }

    /// Turn the kernel's strict checking of dump requests on or off
    /// (`NETLINK_GET_STRICT_CHK`, Linux 4.20+): with it, a dump honours the
    /// filters in its request's header (an address dump of one link walks
    /// that link alone instead of every link in the namespace).
    pub fn set_strict_checking(&mut self, on: bool) -> Result<(), Failure> {
        sys::set_netlink_option(self.fd.as_fd(), libc::NETLINK_GET_STRICT_CHK, on)
            .map_err(socket_failure("set strict checking"))
    }

    /// A second descriptor of the socket (close-on-exec).
    pub fn try_clone_fd(&self) -> std::io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Read and drop what is queued, if a request may have left replies:
    /// a request starts with an empty queue, so its replies have room, and
    /// an abandoned dump is read to its end (one dump at a time).
    fn drain(&mut self) {
        if !std::mem::replace(&mut self.dirty, true) {
            return;
        }
        loop {
            match self.recv(false) {
                Ok(Some(_)) => self.stats.stale += 1,
                Err(Errno::ENOBUFS) => self.stats.dropped += 1,
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Make the send buffer big enough for one `len`-byte send.
    fn fit(&mut self, len: usize) -> Result<(), Failure> {
        if len + SNDBUF_OVERHEAD <= self.sndbuf {
            return Ok(());
        }
        if self.sndbuf == 0 {
            self.sndbuf = getsockopt(&self.fd, sockopt::SndBuf)
                .map_err(socket_failure("read send buffer"))?;
            if len + SNDBUF_OVERHEAD <= self.sndbuf {
                return Ok(());
            }
        }
        let want = len + SNDBUF_OVERHEAD + 4096;
        // SO_SNDBUFFORCE needs CAP_NET_ADMIN in the initial user namespace;
        // without it (rootless), SO_SNDBUF up to net.core.wmem_max.
        if setsockopt(&self.fd, sockopt::SndBufForce, &want).is_err() {
            let _ = setsockopt(&self.fd, sockopt::SndBuf, &want);
        }
        self.sndbuf =
            getsockopt(&self.fd, sockopt::SndBuf).map_err(socket_failure("read send buffer"))?;
        if len + SNDBUF_OVERHEAD > self.sndbuf {
            return Err(Failure::TooLarge {
                len,
                max: self.sndbuf.saturating_sub(SNDBUF_OVERHEAD),
            });
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.fit(bytes.len())?;
        let n = loop {
            match send(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                bytes,
                MsgFlags::empty(),
            ) {
                Ok(n) => break n,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Failure::Socket {
                        op: "send",
                        errno: e,
                    });
                }
            }
        };
        if n != bytes.len() {
            return Err(Failure::Socket {
                op: "send (short write)",
                errno: Errno::EMSGSIZE,
            });
        }
        Ok(())
    }

    /// Receive one datagram into the buffer: its length; `Ok(None)` when
    /// nothing is queued (`wait == false`).
    fn recv(&mut self, wait: bool) -> Result<Option<usize>, Errno> {
        let flags = if wait {
            MsgFlags::MSG_TRUNC
        } else {
            MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT
        };
        loop {
            return match recv(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mut self.buf,
                flags,
            ) {
                // A datagram larger than the buffer: its tail is lost.
                Ok(n) if n > self.buf.len() => Err(Errno::EMSGSIZE),
                Ok(n) => Ok(Some(n)),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) if !wait => Ok(None),
                Err(e) => Err(e),
            };
        }
    }

    /// Receive one datagram (waiting) and split it.
    fn recv_replies(&mut self) -> Result<usize, Failure> {
        match self.recv(true) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Ok(0),
            Err(Errno::ENOBUFS) => {
                self.stats.dropped += 1;
                Err(Failure::Lost)
            }
            Err(Errno::EMSGSIZE) => Err(Failure::Malformed(
                "a datagram larger than the receive buffer",
            )),
            Err(errno) => Err(Failure::Socket {
                op: "receive",
                errno,
            }),
        }
    }

    /// Send one request (`msg`: one message; its sequence number is set
    /// here, and `NLM_F_ACK`) and read its answer: each data message (the
    /// answer to a get) goes to `each(type, payload)`; then the ack, or the
    /// error ([`Failure::Refused`], index 0).
    pub fn request(
        &mut self,
        msg: &mut [u8],
        each: &mut dyn FnMut(u16, &[u8]),
    ) -> Result<(), Failure> {
        if wire::offsets(msg).is_none_or(|o| o.len() != 1) {
            return Err(Failure::Malformed("a request must be one message"));
        }
        let seq = self.next_seq();
        wire::set_seq(msg, 0, seq);
        wire::set_flags(msg, 0, wire::flags(msg, 0) | NLM_F_ACK);
        tracing::debug!(
            protocol = self.protocol.name(),
            seq,
            bytes = msg.len(),
            "netlink request {}",
            type_names(self.protocol, msg)
        );
        self.drain();
        self.send(msg)?;
        loop {
            let n = self.recv_replies()?;
            let replies = wire::parse(&self.buf[..n]).map_err(Failure::Malformed)?;
            for r in replies {
                if r.seq() != seq {
                    self.stats.stale += 1;
                    continue;
                }
                if r.is_last() {
                    self.dirty = false;
                }
                match r {
                    Reply::Data { ty, payload, .. } => each(ty, payload),
                    Reply::Ack { .. } | Reply::Done { errno: None, .. } => return Ok(()),
                    Reply::Err { errno, message, .. }
                    | Reply::Done {
                        errno: Some(errno),
                        message,
                        ..
                    } => {
                        return Err(Failure::Refused {
                            index: 0,
                            errno,
                            message,
                        });
                    }
                }
            }
        }
    }

    /// Run a dump (`msg`: one message; its sequence number and
    /// `NLM_F_DUMP` are set here): each part goes to `each`, to the end. A
    /// dump the data changed under, or whose parts were dropped, runs
    /// again, `each` told to start over ([`DumpPart::Restart`]). The kernel
    /// refusing the dump, or ending it with an error, is
    /// [`Failure::Refused`] (`ENOENT`: what was asked for is not there).
    pub fn dump(
        &mut self,
        msg: &mut [u8],
        each: &mut dyn FnMut(DumpPart<'_>),
    ) -> Result<(), Failure> {
        if wire::offsets(msg).is_none_or(|o| o.len() != 1) {
            return Err(Failure::Malformed("a dump request must be one message"));
        }
        wire::set_flags(msg, 0, wire::flags(msg, 0) | NLM_F_DUMP);
        for attempt in 0..DUMP_ATTEMPTS {
            if attempt > 0 {
                each(DumpPart::Restart);
            }
            let seq = self.next_seq();
            wire::set_seq(msg, 0, seq);
            tracing::debug!(
                protocol = self.protocol.name(),
                seq,
                attempt,
                "netlink dump {}",
                type_names(self.protocol, msg)
            );
            self.drain();
            self.send(msg)?;
            match self.read_dump(seq, each)? {
                Some(Ok(())) => return Ok(()),
                Some(Err(f)) => return Err(f),
                None => self.stats.interrupted += 1,
            }
        }
        Err(Failure::Unstable {
            attempts: DUMP_ATTEMPTS,
        })
    }

    /// `None`: run the dump again.
    fn read_dump(
        &mut self,
        seq: u32,
        each: &mut dyn FnMut(DumpPart<'_>),
    ) -> Result<Option<Result<(), Failure>>, Failure> {
        let mut interrupted = false;
        let mut parts = 0;
        loop {
            parts += 1;
            if parts == 2
                && let Some(f) = self.between_parts.as_mut()
            {
                f();
            }
            let n = match self.recv_replies() {
                Ok(n) => n,
                // Maybe ours were dropped: the queue is drained before the
                // dump runs again.
                Err(Failure::Lost) => return Ok(None),
                Err(f) => return Err(f),
            };
            let replies = wire::parse(&self.buf[..n]).map_err(Failure::Malformed)?;
            for r in replies {
                if r.seq() != seq {
                    self.stats.stale += 1;
                    continue;
                }
                interrupted |= r.interrupted();
                if !r.is_last() {
                    if let Reply::Data { ty, payload, .. } = r {
                        each(DumpPart::Data { ty, payload });
                    }
                    continue;
                }
                self.dirty = false;
                if let Reply::Done { errno: Some(_), .. } = r {
                    self.stats.dump_errors += 1;
                }
                if interrupted {
                    return Ok(None);
                }
                return Ok(Some(match r {
                    Reply::Err { errno, message, .. }
                    | Reply::Done {
                        errno: Some(errno),
                        message,
                        ..
                    } => Err(Failure::Refused {
                        index: 0,
                        errno,
                        message,
                    }),
                    _ => Ok(()),
                }));
            }
        }
    }

    /// Send `msgs` (messages back to back, as built by a protocol's layer,
    /// with the flags they need) in one `send`, numbered consecutively
    /// here, and read the answers. `Ok` when every message that asked for
    /// an ack (`NLM_F_ACK`) got it and none was refused; the first refused
    /// message by its position; [`Failure::Lost`] when answers were dropped
    /// and none said the batch was refused.
    ///
    /// The kernel handles a netlink request inside `send`, so every answer
    /// is queued when it returns: they are read without waiting.
    pub fn batch(&mut self, msgs: &mut [u8]) -> Result<(), Failure> {
        let offsets =
            wire::offsets(msgs).ok_or(Failure::Malformed("a batch with a wrong length"))?;
        if offsets.is_empty() {
            return Ok(());
        }
        let first = self.seq.wrapping_add(1);
        let mut want_ack = Vec::with_capacity(offsets.len());
        for (i, (at, _)) in offsets.iter().enumerate() {
            wire::set_seq(msgs, *at, first.wrapping_add(i as u32));
            want_ack.push(wire::flags(msgs, *at) & NLM_F_ACK != 0);
        }
        self.seq = first.wrapping_add(offsets.len() as u32 - 1);
        tracing::debug!(
            protocol = self.protocol.name(),
            seq = first,
            messages = offsets.len(),
            bytes = msgs.len(),
            "netlink batch {}",
            type_names(self.protocol, msgs)
        );
        self.drain();
        self.send(msgs)?;
        let mut refused: Option<(usize, Errno, Option<String>)> = None;
        let mut lost = false;
        loop {
            let n = match self.recv(false) {
                Ok(Some(n)) => n,
                Ok(None) => {
                    self.dirty = false;
                    break;
                }
                Err(Errno::ENOBUFS) => {
                    self.stats.dropped += 1;
                    lost = true;
                    continue;
                }
                Err(Errno::EMSGSIZE) => {
                    return Err(Failure::Malformed(
                        "a datagram larger than the receive buffer",
                    ));
                }
                Err(errno) => {
                    return Err(Failure::Socket {
                        op: "receive",
                        errno,
                    });
                }
            };
            let replies = wire::parse(&self.buf[..n]).map_err(Failure::Malformed)?;
            for r in replies {
                let index = r.seq().wrapping_sub(first) as usize;
                if index >= offsets.len() {
                    self.stats.stale += 1;
                    continue;
                }
                match r {
                    Reply::Ack { .. } => want_ack[index] = false,
                    Reply::Err { errno, message, .. }
                        if refused.as_ref().is_none_or(|(i, ..)| index < *i) =>
                    {
                        refused = Some((index, errno, message));
                    }
                    _ => {}
                }
            }
        }
        // Any error means the kernel refused the batch.
        if let Some((index, errno, message)) = refused {
            return Err(Failure::Refused {
                index,
                errno,
                message,
            });
        }
        if lost {
            return Err(Failure::Lost);
        }
        if let Some(index) = want_ack.iter().position(|w| *w) {
            return Err(Failure::Unanswered { index });
        }
        Ok(())
    }

    /// Tests: send a request and leave its answer queued, unread, as an
    /// abandoned request would (the next request skips it by its sequence
    /// number). Not for other use.
    #[doc(hidden)]
    pub fn send_unanswered(&mut self, msg: &mut [u8]) -> Result<(), Failure> {
        let seq = self.next_seq();
        wire::set_seq(msg, 0, seq);
        self.send(msg)
    }

    /// Tests: run `f` between the first and the second part of every dump
    /// (to change the data under it). Not for other use.
    #[doc(hidden)]
    pub fn set_between_dump_parts(&mut self, f: Option<Box<dyn FnMut() + Send>>) {
        self.between_parts = f;
    }

    /// The protocol's name, for messages.
    pub fn describe(&self) -> &'static str {
        self.protocol.name()
    }
}
