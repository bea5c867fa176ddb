//! The NETLINK_NETFILTER socket: send a batch and read its acks, run a
//! dump, or ask one question. One socket per firewall handle, reused for
//! every operation.
//!
//! What it guarantees, whatever else is queued on the socket:
//! - a reply is taken for a request only when its sequence number is the
//!   request's (a batch: any of its messages'); anything else is left over
//!   from an abandoned request and skipped;
//! - a dump the ruleset changed under (`NLM_F_DUMP_INTR`) is run again; an
//!   error the kernel put in the dump's `NLMSG_DONE` is an error;
//! - a batch whose replies were dropped (`ENOBUFS`) is reported as of
//!   unknown outcome, never as a failure: the caller reads back;
//! - a batch is one `send`: the send buffer is raised to fit it
//!   (`SO_SNDBUFFORCE`, else `SO_SNDBUF` when unprivileged), and a batch
//!   that still does not fit is refused before anything is sent.

use neli::consts::nl::NlmF;
use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;
use nix::errno::Errno;

use super::Attr;
use super::consts::{NFPROTO_INET, NFPROTO_UNSPEC, NFT_MSG_GETGEN, NFT_MSG_NEWGEN, NFTA_GEN_ID};
use super::msg::{Batch, message, msg_type};
use crate::error::Error;
use crate::sys;

const RECV_BUF: usize = 256 * 1024;
/// How long a dump waits for the kernel's next part before giving up.
const DUMP_TIMEOUT_SECS: i64 = 30;
/// How often a dump the ruleset keeps changing under is started again.
const DUMP_ATTEMPTS: usize = 32;
/// What `netlink_sendmsg` keeps of the send buffer for itself: a message
/// longer than `SO_SNDBUF - 32` is refused with `EMSGSIZE`.
const SNDBUF_OVERHEAD: usize = 32;

const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
/// `NLM_F_DUMP_INTR`: the dump was inconsistent (the data changed under it).
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_CAPPED`: an error message echoes only the request's header.
const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS`: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: the kernel's text.
const NLMSGERR_ATTR_MSG: u16 = 1;

fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO)
}

/// One message of a received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    /// An ack: `NLMSG_ERROR` with code 0.
    Ack { seq: u32 },
    /// An error, with the kernel's extended-ack text if it gave one.
    Err {
        seq: u32,
        errno: Errno,
        message: Option<String>,
    },
    /// A message of a dump or the answer to a get: its type, flags and
    /// payload (after the netlink header).
    Data {
        seq: u32,
        ty: u16,
        flags: u16,
        payload: &'a [u8],
    },
    /// The end of a dump, with the error the kernel put in it, if any.
    Done {
        seq: u32,
        flags: u16,
        errno: Option<Errno>,
        message: Option<String>,
    },
}

impl Reply<'_> {
    pub(crate) fn seq(&self) -> u32 {
        match self {
            Reply::Ack { seq }
            | Reply::Err { seq, .. }
            | Reply::Data { seq, .. }
            | Reply::Done { seq, .. } => *seq,
        }
    }

    /// Whether this part of a dump says the dump was interrupted.
    pub(crate) fn interrupted(&self) -> bool {
        match self {
            Reply::Data { flags, .. } | Reply::Done { flags, .. } => flags & NLM_F_DUMP_INTR != 0,
            Reply::Ack { .. } | Reply::Err { .. } => false,
        }
    }
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    b.get(i..i + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    b.get(i..i + 4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The kernel's text among extended-ack attributes.
fn ack_message(tlvs: &[u8]) -> Option<String> {
    let mut i = 0;
    while let (Some(len), Some(ty)) = (u16_at(tlvs, i), u16_at(tlvs, i + 2)) {
        let len = usize::from(len);
        let value = tlvs.get(i + 4..i + len)?;
        if ty & 0x3fff == NLMSGERR_ATTR_MSG {
            let end = value.iter().position(|c| *c == 0).unwrap_or(value.len());
            return Some(String::from_utf8_lossy(&value[..end]).into_owned());
        }
        if len < 4 {
            return None;
        }
        i += len.next_multiple_of(4);
    }
    None
}

/// Split a received datagram into its messages. Every length is checked
/// before it is used: a malformed datagram (the kernel never sends one) is
/// an `Err` saying what is wrong, never a panic.
pub(crate) fn parse(datagram: &[u8]) -> Result<Vec<Reply<'_>>, &'static str> {
    const HDR: usize = 16;
    let mut out = Vec::new();
    let mut i = 0;
    while datagram.len() - i >= HDR {
        let len = u32_at(datagram, i).unwrap_or(0) as usize;
        if len < HDR {
            return Err("a message length shorter than the netlink header");
        }
        if len > datagram.len() - i {
            return Err("a message length past the end of the datagram");
        }
        let ty = u16_at(datagram, i + 4).unwrap_or(0);
        let flags = u16_at(datagram, i + 6).unwrap_or(0);
        let seq = u32_at(datagram, i + 8).unwrap_or(0);
        let body = &datagram[i + HDR..i + len];
        match ty {
            NLMSG_NOOP | NLMSG_OVERRUN => {}
            NLMSG_ERROR => {
                let code = u32_at(body, 0).ok_or("an error message without its code")? as i32;
                if code == 0 {
                    out.push(Reply::Ack { seq });
                } else {
                    // The echoed request: its header only when capped,
                    // else the whole request; then the attributes.
                    let message = if flags & NLM_F_ACK_TLVS != 0 {
                        let echoed = u32_at(body, 4).unwrap_or(0) as usize;
                        let skip = if flags & NLM_F_CAPPED != 0 {
                            HDR
                        } else {
                            echoed.next_multiple_of(4)
                        };
                        body.get(4 + skip..).and_then(ack_message)
                    } else {
                        None
                    };
                    out.push(Reply::Err {
                        seq,
                        errno: Errno::from_raw(code.wrapping_neg()),
                        message,
                    });
                }
            }
            NLMSG_DONE => {
                let code = u32_at(body, 0).unwrap_or(0) as i32;
                let message = if flags & NLM_F_ACK_TLVS != 0 {
                    body.get(4..).and_then(ack_message)
                } else {
                    None
                };
                out.push(Reply::Done {
                    seq,
                    flags,
                    errno: (code != 0).then(|| Errno::from_raw(code.wrapping_neg())),
                    message,
                });
            }
            _ => out.push(Reply::Data {
                seq,
                ty,
                flags,
                payload: body,
            }),
        }
        i += len.next_multiple_of(4).min(datagram.len() - i);
    }
    Ok(out)
}

/// Why a batch did not commit, or may not have.
#[derive(Debug)]
pub(crate) enum BatchError {
    /// The kernel refused the batch and rolled all of it back. `change` is
    /// the index (in push order) of the first change it refused; `None`
    /// when it refused the batch as a whole (`ERESTART`: the ruleset
    /// changed since the generation the batch was planned against).
    Refused {
        change: Option<usize>,
        what: String,
        errno: Errno,
        message: Option<String>,
    },
    /// Replies were dropped (`ENOBUFS`): whether the batch committed is
    /// unknown; read back to tell.
    Unknown,
    /// The batch could not be sent, or a reply made no sense.
    Failed(Error),
}

impl From<Error> for BatchError {
    fn from(e: Error) -> Self {
        BatchError::Failed(e)
    }
}

/// A NETLINK_NETFILTER socket bound in the network namespace of the thread
/// that opened it (sockets keep their namespace for life).
pub(crate) struct NftSocket {
    sock: NlSocket,
    seq: u32,
    /// The send buffer as the kernel has it (`SO_SNDBUF`).
    sndbuf: usize,
    buf: Vec<u8>,
    /// Whether replies may be queued that no request will read: a request
    /// sets it, and clears it once it has read all of its own.
    dirty: bool,
    /// Tests: the type of every message of every batch sent.
    #[cfg(test)]
    pub(crate) sent: Vec<u16>,
    /// Tests: how often the kernel dropped replies.
    #[cfg(test)]
    pub(crate) dropped: usize,
    /// Tests: dump parts marked interrupted, and dumps ended by an error.
    #[cfg(test)]
    pub(crate) interrupted: usize,
    #[cfg(test)]
    pub(crate) done_errors: usize,
    /// Tests: run between the first and second part of a dump.
    #[cfg(test)]
    pub(crate) between_parts: Option<Box<dyn FnMut() + Send>>,
    /// Tests: leave stale replies queued before a batch.
    #[cfg(test)]
    pub(crate) no_drain: bool,
    /// Tests: requests to send, and leave unanswered, right before a batch.
    #[cfg(test)]
    pub(crate) junk_before_batch: u32,
}

impl std::fmt::Debug for NftSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NftSocket").field("seq", &self.seq).finish()
    }
}

fn socket_error(op: &'static str, errno: Errno) -> Error {
    Error::Socket {
        op,
        object: "NETLINK_NETFILTER socket".into(),
        errno,
    }
}

impl NftSocket {
    /// Open and bind the socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<NftSocket, Error> {
        let sock = NlSocket::connect(NlFamily::Netfilter, None, Groups::empty())
            .map_err(|e| socket_error("open", io_errno(&e)))?;
        sock.enable_ext_ack(true)
            .map_err(|e| socket_error("enable extended acks on", io_errno(&e)))?;
        // Small errors; best effort (Linux 4.3+).
        let _ = sys::set_cap_ack(&sock);
        // A bigger receive buffer is only a margin; the default works too.
        let _ = sys::set_rcvbuf(&sock, 4 * 1024 * 1024);
        sys::set_rcv_timeout(&sock, DUMP_TIMEOUT_SECS)
            .map_err(|errno| socket_error("set receive timeout on", errno))?;
        let sndbuf =
            sys::sndbuf(&sock).map_err(|errno| socket_error("read send buffer of", errno))?;
        // Start sequence numbers somewhere per socket, as nft does (time).
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(NftSocket {
            sock,
            seq,
            sndbuf,
            buf: vec![0; RECV_BUF],
            dirty: false,
            #[cfg(test)]
            sent: Vec::new(),
            #[cfg(test)]
            dropped: 0,
            #[cfg(test)]
            interrupted: 0,
            #[cfg(test)]
            done_errors: 0,
            #[cfg(test)]
            between_parts: None,
            #[cfg(test)]
            no_drain: false,
            #[cfg(test)]
            junk_before_batch: 0,
        })
    }

    /// A second descriptor of the socket.
    pub(crate) fn dup(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        sys::dup(&self.sock)
    }

    /// Set the receive buffer (tests: a small one makes the kernel drop
    /// replies, as a busy host may).
    #[cfg(test)]
    pub(crate) fn set_rcvbuf(&self, bytes: usize) {
        sys::set_rcvbuf(&self.sock, bytes).unwrap();
    }

    /// Send a raw message without reading its reply (tests: a reply left
    /// over from an abandoned request).
    #[cfg(test)]
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.send("test", bytes)
    }

    /// Tests: what happens before a batch is sent, with the test hooks.
    #[cfg(test)]
    fn before_batch(&mut self) {
        if !self.no_drain {
            self.drain();
        }
        for i in 0..self.junk_before_batch {
            let mut bytes = Vec::new();
            message(
                msg_type(NFT_MSG_GETGEN),
                NlmF::REQUEST | NlmF::ACK,
                self.seq.wrapping_add(1_000_000 + i),
                NFPROTO_UNSPEC,
                0,
                &[],
                &mut bytes,
            )
            .unwrap();
            self.send_raw(&bytes).unwrap();
        }
    }

    /// A fresh batch starting at our next sequence number, planned against
    /// ruleset generation `genid` (`None`: whatever the ruleset is).
    pub(crate) fn batch(&mut self, genid: Option<u32>) -> Result<Batch, Error> {
        Batch::new(self.next_seq(), genid)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Make the send buffer big enough for one `len`-byte message.
    fn fit(&mut self, op: &str, len: usize) -> Result<(), Error> {
        if len + SNDBUF_OVERHEAD <= self.sndbuf {
            return Ok(());
        }
        let want = len + SNDBUF_OVERHEAD + 4096;
        // SO_SNDBUFFORCE needs CAP_NET_ADMIN in the initial user namespace;
        // without it (rootless), SO_SNDBUF up to net.core.wmem_max.
        if sys::set_sndbuf_force(&self.sock, want).is_err() {
            let _ = sys::set_sndbuf(&self.sock, want);
        }
        self.sndbuf =
            sys::sndbuf(&self.sock).map_err(|e| socket_error("read send buffer of", e))?;
        if len + SNDBUF_OVERHEAD > self.sndbuf {
            return Err(Error::BatchTooLarge {
                op: op.to_owned(),
                len,
                max: self.sndbuf.saturating_sub(SNDBUF_OVERHEAD),
            });
        }
        Ok(())
    }

    fn send(&mut self, op: &str, bytes: &[u8]) -> Result<(), Error> {
        self.fit(op, bytes.len())?;
        let n = loop {
            match self.sock.send(bytes, Msg::empty()) {
                Ok(n) => break n,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(socket_error("send to", io_errno(&e))),
            }
        };
        if n != bytes.len() {
            return Err(socket_error("send (short write) to", Errno::EMSGSIZE));
        }
        Ok(())
    }

    /// Read and drop whatever is queued (replies to requests abandoned
    /// half-way, after an error): a request starts with an empty queue, so
    /// its replies have room, and an abandoned dump is read to its end (a
    /// socket runs one dump at a time).
    fn drain(&mut self) {
        if !std::mem::replace(&mut self.dirty, true) {
            // The last request read all its replies: nothing is queued.
            return;
        }
        loop {
            match self.recv(false) {
                Ok(Some(_)) | Err(Errno::ENOBUFS) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Receive one datagram into the buffer: its length, `Ok(None)` when
    /// nothing is queued (`wait == false`).
    fn recv(&mut self, wait: bool) -> Result<Option<usize>, Errno> {
        let flags = if wait { Msg::empty() } else { Msg::DONTWAIT };
        loop {
            return match self.sock.recv(&mut self.buf[..], flags) {
                Ok((n, _)) => Ok(Some(n)),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && !wait => Ok(None),
                Err(e) => Err(io_errno(&e)),
            };
        }
    }

    fn protocol(op: &str, detail: &str) -> Error {
        Error::Protocol {
            op: op.to_owned(),
            detail: format!("cannot parse a netlink message: {detail}"),
        }
    }

    /// Send `batch` as one transaction: it went through when the last
    /// change is acked and nothing refused. When the kernel refuses, it has
    /// rolled the whole batch back; the first change it refused is reported.
    pub(crate) fn transact(&mut self, op: &str, batch: Batch) -> Result<(), BatchError> {
        if batch.is_empty() {
            return Ok(());
        }
        let done = batch.finish()?;
        // Sequence numbers up to END's are this batch's; keep ours past them.
        self.seq = done.end_seq;
        #[cfg(not(test))]
        self.drain();
        #[cfg(test)]
        self.before_batch();
        self.send(op, &done.bytes)?;
        let ours = |seq: u32| {
            seq.wrapping_sub(done.begin_seq) <= done.end_seq.wrapping_sub(done.begin_seq)
        };
        #[cfg(test)]
        self.sent.extend(
            parse(&done.bytes)
                .unwrap_or_default()
                .iter()
                .filter_map(|r| match r {
                    Reply::Data { ty, .. } => Some(*ty),
                    _ => None,
                }),
        );
        // nfnetlink handles the batch inside send(): every reply is queued by now.
        let last = done.end_seq.wrapping_sub(1);
        let mut acked = false;
        let mut first_err: Option<(u32, Errno, Option<String>)> = None;
        let mut lost = false;
        loop {
            let n = match self.recv(false) {
                Ok(Some(n)) => n,
                Ok(None) => {
                    self.dirty = false;
                    break;
                }
                // The kernel dropped replies for want of room: read on,
                // but whether the batch went through is unknown now.
                Err(Errno::ENOBUFS) => {
                    lost = true;
                    #[cfg(test)]
                    {
                        self.dropped += 1;
                    }
                    continue;
                }
                Err(e) => return Err(socket_error("receive from", e).into()),
            };
            for r in parse(&self.buf[..n]).map_err(|d| Self::protocol(op, d))? {
                if !ours(r.seq()) {
                    continue;
                }
                match r {
                    Reply::Ack { seq } => acked |= seq == last,
                    Reply::Err {
                        seq,
                        errno,
                        message,
                    } => {
                        if first_err.as_ref().is_none_or(|(s, ..)| {
                            seq.wrapping_sub(done.begin_seq) < s.wrapping_sub(done.begin_seq)
                        }) {
                            first_err = Some((seq, errno, message));
                        }
                    }
                    Reply::Data { .. } | Reply::Done { .. } => {}
                }
            }
        }
        // Any error means the kernel aborted the batch.
        if let Some((seq, errno, message)) = first_err {
            let i = seq.wrapping_sub(done.begin_seq).wrapping_sub(1) as usize;
            let (change, what) = match done.changes.get(i) {
                Some(what) if seq != done.begin_seq && seq != done.end_seq => {
                    (Some(i), what.clone())
                }
                _ => (None, "commit of the batch".to_owned()),
            };
            return Err(BatchError::Refused {
                change,
                what,
                errno,
                message,
            });
        }
        if lost {
            return Err(BatchError::Unknown);
        }
        if !acked {
            return Err(Error::Protocol {
                op: op.to_owned(),
                detail: format!("no ack for the batch's last message {last}"),
            }
            .into());
        }
        Ok(())
    }

    /// Run a dump (`NFT_MSG_GET*` with `NLM_F_DUMP`) and return each reply's
    /// payload after `nfgenmsg`. A missing table or set is `Ok(None)`. A
    /// dump the ruleset changed under is run again.
    pub(crate) fn dump(
        &mut self,
        op: &str,
        msg: u8,
        attrs: &[Attr],
    ) -> Result<Option<Vec<Vec<u8>>>, Error> {
        let mut bytes = Vec::with_capacity(128);
        for _ in 0..DUMP_ATTEMPTS {
            let seq = self.next_seq();
            bytes.clear();
            message(
                msg_type(msg),
                NlmF::REQUEST | NlmF::DUMP,
                seq,
                NFPROTO_INET,
                0,
                attrs,
                &mut bytes,
            )?;
            self.drain();
            self.send(op, &bytes)?;
            match self.read_dump(op, msg, seq)? {
                DumpEnd::Complete(out) => return Ok(Some(out)),
                DumpEnd::Missing => return Ok(None),
                DumpEnd::Interrupted => continue,
            }
        }
        Err(Error::Kernel {
            op: op.to_owned(),
            object: format!("dump (message type {msg})"),
            errno: Errno::EINTR,
            message: Some(format!(
                "the ruleset changed under {DUMP_ATTEMPTS} dumps in a row"
            )),
        })
    }

    fn read_dump(&mut self, op: &str, msg: u8, seq: u32) -> Result<DumpEnd, Error> {
        let mut out = Vec::new();
        let mut interrupted = false;
        #[cfg(test)]
        let mut parts = 0;
        loop {
            #[cfg(test)]
            {
                parts += 1;
                if parts == 2
                    && let Some(f) = self.between_parts.as_mut()
                {
                    f();
                }
            }
            let n = match self.recv(true) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                // Replies were dropped, maybe ours: start again.
                Err(Errno::ENOBUFS) => return Ok(DumpEnd::Interrupted),
                Err(e) => return Err(socket_error("receive from", e)),
            };
            for r in parse(&self.buf[..n]).map_err(|d| Self::protocol(op, d))? {
                if r.seq() != seq {
                    // Left over from an earlier request: not ours.
                    continue;
                }
                interrupted |= r.interrupted();
                // Whatever ends the dump is the last of its replies.
                self.dirty &= matches!(r, Reply::Data { .. });
                #[cfg(test)]
                {
                    self.interrupted += usize::from(r.interrupted());
                    self.done_errors +=
                        usize::from(matches!(r, Reply::Done { errno: Some(_), .. }));
                }
                match r {
                    Reply::Data { payload, .. } => {
                        out.push(payload.get(4..).unwrap_or_default().to_vec());
                    }
                    Reply::Done { .. } | Reply::Err { .. } if interrupted => {
                        return Ok(DumpEnd::Interrupted);
                    }
                    Reply::Done { errno: None, .. } | Reply::Ack { .. } => {
                        return Ok(DumpEnd::Complete(out));
                    }
                    Reply::Err {
                        errno: Errno::ENOENT,
                        ..
                    }
                    | Reply::Done {
                        errno: Some(Errno::ENOENT),
                        ..
                    } => return Ok(DumpEnd::Missing),
                    Reply::Err { errno, message, .. }
                    | Reply::Done {
                        errno: Some(errno),
                        message,
                        ..
                    } => {
                        return Err(Error::Kernel {
                            op: op.to_owned(),
                            object: format!("dump (message type {msg})"),
                            errno,
                            message,
                        });
                    }
                }
            }
        }
    }

    /// The ruleset's generation id (`NFT_MSG_GETGEN`): every commit
    /// changes it; a batch planned against it is refused if it changed.
    pub(crate) fn genid(&mut self, op: &str) -> Result<u32, Error> {
        for _ in 0..DUMP_ATTEMPTS {
            if let Some(g) = self.try_genid(op)? {
                return Ok(g);
            }
        }
        Err(socket_error("receive from", Errno::ENOBUFS))
    }

    /// `None`: replies were dropped, ask again.
    fn try_genid(&mut self, op: &str) -> Result<Option<u32>, Error> {
        let seq = self.next_seq();
        let mut bytes = Vec::with_capacity(32);
        message(
            msg_type(NFT_MSG_GETGEN),
            NlmF::REQUEST | NlmF::ACK,
            seq,
            NFPROTO_UNSPEC,
            0,
            &[],
            &mut bytes,
        )?;
        self.drain();
        self.send(op, &bytes)?;
        let mut genid = None;
        loop {
            let n = match self.recv(true) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(Errno::ENOBUFS) => return Ok(None),
                Err(e) => return Err(socket_error("receive from", e)),
            };
            for r in parse(&self.buf[..n]).map_err(|d| Self::protocol(op, d))? {
                if r.seq() != seq {
                    continue;
                }
                self.dirty &= matches!(r, Reply::Data { .. });
                match r {
                    Reply::Data { ty, payload, .. } if ty == msg_type(NFT_MSG_NEWGEN) => {
                        genid = super::dump::attr_u32(
                            payload.get(4..).unwrap_or_default(),
                            NFTA_GEN_ID,
                        );
                    }
                    Reply::Data { .. } => {}
                    Reply::Ack { .. } | Reply::Done { errno: None, .. } => {
                        return genid.map(Some).ok_or_else(|| Error::Protocol {
                            op: op.to_owned(),
                            detail: "no generation id in the reply to GETGEN".into(),
                        });
                    }
                    Reply::Err { errno, message, .. }
                    | Reply::Done {
                        errno: Some(errno),
                        message,
                        ..
                    } => {
                        return Err(Error::Kernel {
                            op: op.to_owned(),
                            object: "get ruleset generation".into(),
                            errno,
                            message,
                        });
                    }
                }
            }
        }
    }
}

enum DumpEnd {
    Complete(Vec<Vec<u8>>),
    Missing,
    Interrupted,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn tlv(ty: u16, value: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        t.extend_from_slice(&ty.to_ne_bytes());
        t.extend_from_slice(value);
        while t.len() % 4 != 0 {
            t.push(0);
        }
        t
    }

    #[test]
    fn acks_errors_data_and_done_with_its_error() {
        let mut d = Vec::new();
        // ack of seq 5
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(&msg(0x0a0c, 5, 5, &[])[..16]);
        d.extend(msg(NLMSG_ERROR, 0x100, 5, &ack));
        // error of seq 6, capped, with the kernel's text
        let mut err = (-22i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&msg(0x0a0c, 5, 6, &[1, 2, 3, 4])[..16]);
        err.extend(tlv(NLMSGERR_ATTR_MSG, b"bad thing\0"));
        d.extend(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 6, &err));
        // error of seq 7, not capped: the whole request echoed
        let req = msg(0x0a0c, 5, 7, &[9; 8]);
        let mut err = (-2i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&req);
        err.extend(tlv(NLMSGERR_ATTR_MSG, b"gone\0"));
        d.extend(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, 7, &err));
        // data, interrupted
        d.extend(msg(0x0a0d, 2 | NLM_F_DUMP_INTR, 8, &[1, 0, 0, 0]));
        // done with -ENOENT
        d.extend(msg(NLMSG_DONE, 2, 8, &(-2i32).to_ne_bytes()));
        // done without a code
        d.extend(msg(NLMSG_DONE, 2, 9, &[]));
        let r = parse(&d).unwrap();
        assert_eq!(r[0], Reply::Ack { seq: 5 });
        assert_eq!(
            r[1],
            Reply::Err {
                seq: 6,
                errno: Errno::EINVAL,
                message: Some("bad thing".into())
            }
        );
        assert_eq!(
            r[2],
            Reply::Err {
                seq: 7,
                errno: Errno::ENOENT,
                message: Some("gone".into())
            }
        );
        assert!(r[3].interrupted());
        assert!(matches!(
            r[3],
            Reply::Data {
                seq: 8,
                ty: 0x0a0d,
                ..
            }
        ));
        assert!(matches!(
            r[4],
            Reply::Done {
                seq: 8,
                errno: Some(Errno::ENOENT),
                ..
            }
        ));
        assert!(matches!(
            r[5],
            Reply::Done {
                seq: 9,
                errno: None,
                ..
            }
        ));
        assert_eq!(r.len(), 6);
    }

    /// The shapes `fuzz/` found that made neli panic are refused; odd
    /// lengths inside an error message are skipped, not trusted.
    #[test]
    fn malformed_datagrams_are_errors_not_panics() {
        let mut short = msg(0x0a0d, 0, 1, &[]);
        short[0] = 2;
        assert!(parse(&short).is_err());
        let mut long = msg(0x0a0d, 0, 1, &[]);
        long[0] = 64;
        assert!(parse(&long).is_err());
        assert!(parse(&msg(NLMSG_ERROR, 0, 1, &[1, 2])).is_err());
        // An echoed length past the end: no text, but the error stands.
        let mut err = i32::MIN.to_ne_bytes().to_vec();
        err.extend_from_slice(&u32::MAX.to_ne_bytes());
        let d = msg(NLMSG_ERROR, NLM_F_ACK_TLVS, 1, &err);
        let r = parse(&d).unwrap();
        assert!(matches!(r[0], Reply::Err { message: None, .. }));
        // A zero-length attribute does not loop.
        let mut err = (-1i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&msg(1, 0, 1, &[])[..16]);
        err.extend_from_slice(&[0, 0, 0, 0]);
        let d = msg(NLMSG_ERROR, NLM_F_ACK_TLVS | NLM_F_CAPPED, 1, &err);
        let r = parse(&d).unwrap();
        assert!(matches!(r[0], Reply::Err { message: None, .. }));
        // Trailing bytes shorter than a header end the datagram.
        let mut d = msg(NLMSG_DONE, 2, 3, &0i32.to_ne_bytes());
        d.extend_from_slice(&[0; 7]);
        assert_eq!(parse(&d).unwrap().len(), 1);
    }
}
