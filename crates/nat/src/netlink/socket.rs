//! The NETLINK_NETFILTER socket: send a batch and read its acks, or run a
//! dump. One socket per firewall handle, reused for every operation.

use std::io::Cursor;

use neli::FromBytes;
use neli::consts::nl::NlmsgerrAttr;
use neli::consts::nl::{NlmF, Nlmsg};
use neli::consts::socket::{Msg, NlFamily};
use neli::nl::{NlPayload, Nlmsghdr};
use neli::socket::NlSocket;
use neli::types::Buffer;
use neli::utils::Groups;
use nix::errno::Errno;

use super::Attr;
use super::consts::NFPROTO_INET;
use super::msg::{Batch, message, msg_type};
use crate::error::Error;
use crate::sys;

const RECV_BUF: usize = 256 * 1024;
/// How long a dump waits for the kernel's next part before giving up.
const DUMP_TIMEOUT_SECS: i64 = 30;

fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO)
}

/// A NETLINK_NETFILTER socket bound in the network namespace of the thread
/// that opened it (sockets keep their namespace for life).
pub(crate) struct NftSocket {
    sock: NlSocket,
    seq: u32,
    sndbuf: usize,
    buf: Vec<u8>,
}

impl NftSocket {
    /// A second descriptor of the socket.
    pub(crate) fn dup(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        crate::sys::dup(&self.sock)
    }
}

impl std::fmt::Debug for NftSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NftSocket").field("seq", &self.seq).finish()
    }
}

/// What one reply message was.
enum Reply {
    Ack(u32),
    Err {
        seq: u32,
        errno: Errno,
        message: Option<String>,
    },
    Data(u32, Buffer),
    Done(u32),
}

impl NftSocket {
    /// Open and bind the socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<NftSocket, Error> {
        let object = "NETLINK_NETFILTER socket".to_string();
        let sock = NlSocket::connect(NlFamily::Netfilter, None, Groups::empty()).map_err(|e| {
            Error::Socket {
                op: "open",
                object: object.clone(),
                errno: io_errno(&e),
            }
        })?;
        sock.enable_ext_ack(true).map_err(|e| Error::Socket {
            op: "enable extended acks on",
            object: object.clone(),
            errno: io_errno(&e),
        })?;
        // A bigger receive buffer is only a margin; the default works too.
        let _ = sys::set_rcvbuf(&sock, 4 * 1024 * 1024);
        sys::set_rcv_timeout(&sock, DUMP_TIMEOUT_SECS).map_err(|errno| Error::Socket {
            op: "set receive timeout on",
            object,
            errno,
        })?;
        // Start sequence numbers somewhere per socket, as nft does (time).
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(NftSocket {
            sock,
            seq,
            sndbuf: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// A fresh batch starting at our next sequence number.
    pub(crate) fn batch(&self) -> Result<Batch, Error> {
        Batch::new(self.seq)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let object = || "NETLINK_NETFILTER socket".to_string();
        let need = bytes.len() + 4096;
        if need > self.sndbuf && bytes.len() > 64 * 1024 {
            sys::set_sndbuf(&self.sock, need).map_err(|errno| Error::Socket {
                op: "set send buffer of",
                object: object(),
                errno,
            })?;
            self.sndbuf = need;
        }
        let n = self
            .sock
            .send(bytes, Msg::empty())
            .map_err(|e| Error::Socket {
                op: "send to",
                object: object(),
                errno: io_errno(&e),
            })?;
        if n != bytes.len() {
            return Err(Error::Socket {
                op: "send (short write) to",
                object: object(),
                errno: Errno::EMSGSIZE,
            });
        }
        Ok(())
    }

    /// Receive one datagram and split it into replies. `Ok(None)` when
    /// nothing is queued (`wait == false`).
    fn recv(&mut self, op: &str, wait: bool) -> Result<Option<Vec<Reply>>, Error> {
        let flags = if wait { Msg::empty() } else { Msg::DONTWAIT };
        let n = match self.sock.recv(&mut self.buf[..], flags) {
            Ok((n, _)) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && !wait => return Ok(None),
            Err(e) => {
                return Err(Error::Socket {
                    op: "receive from",
                    object: "NETLINK_NETFILTER socket".into(),
                    errno: io_errno(&e),
                });
            }
        };
        let mut cur = Cursor::new(&self.buf[..n]);
        let mut out = Vec::new();
        while (cur.position() as usize) < n {
            brnet_netlink::check_frame(&self.buf[cur.position() as usize..n]).map_err(
                |detail| Error::Protocol {
                    op: op.to_owned(),
                    detail: format!("cannot parse a netlink message: {detail}"),
                },
            )?;
            let msg =
                Nlmsghdr::<u16, Buffer>::from_bytes(&mut cur).map_err(|e| Error::Protocol {
                    op: op.to_owned(),
                    detail: format!("cannot parse a netlink message: {e}"),
                })?;
            let seq = *msg.nl_seq();
            let ty = *msg.nl_type();
            out.push(match msg.nl_payload() {
                NlPayload::Ack(_) => Reply::Ack(seq),
                NlPayload::Err(e) => {
                    let message = e
                        .ext_ack()
                        .iter()
                        .find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg)
                        .map(|a| {
                            String::from_utf8_lossy(a.nla_payload().as_ref())
                                .trim_end_matches('\0')
                                .to_owned()
                        });
                    Reply::Err {
                        seq: *e.nlmsg().nl_seq(),
                        errno: Errno::from_raw(e.error().wrapping_neg()),
                        message,
                    }
                }
                NlPayload::DumpExtAck(_) | NlPayload::Empty if ty == u16::from(Nlmsg::Done) => {
                    Reply::Done(seq)
                }
                NlPayload::Payload(_) if ty == u16::from(Nlmsg::Done) => Reply::Done(seq),
                NlPayload::Payload(p) => Reply::Data(seq, p.clone()),
                NlPayload::DumpExtAck(_) | NlPayload::Empty => Reply::Ack(seq),
            });
        }
        Ok(Some(out))
    }

    /// Send `batch` as one transaction and check every change's ack. On
    /// error the kernel has rolled the whole batch back; the first failing
    /// change is reported.
    pub(crate) fn transact(&mut self, op: &str, batch: Batch) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        self.seq = batch.end_seq();
        let (bytes, begin_seq, changes) = batch.finish()?;
        self.send(&bytes)?;
        // nfnetlink handles the batch inside send(): every reply is queued by now.
        let mut acked = std::collections::HashSet::with_capacity(changes.len());
        let mut first_err: Option<(u32, Errno, Option<String>)> = None;
        while let Some(replies) = self.recv(op, false)? {
            for r in replies {
                match r {
                    Reply::Ack(seq) => {
                        acked.insert(seq);
                    }
                    Reply::Err {
                        seq,
                        errno,
                        message,
                    } => {
                        acked.insert(seq);
                        if first_err.as_ref().is_none_or(|(s, ..)| seq < *s) {
                            first_err = Some((seq, errno, message));
                        }
                    }
                    Reply::Data(..) | Reply::Done(_) => {}
                }
            }
        }
        if let Some((seq, errno, message)) = first_err {
            let object = if seq == begin_seq {
                "commit of the batch".to_owned()
            } else {
                changes
                    .iter()
                    .find(|(s, _)| *s == seq)
                    .map(|(_, w)| w.clone())
                    .unwrap_or_else(|| format!("message {seq}"))
            };
            return Err(Error::Kernel {
                op: op.to_owned(),
                object,
                errno,
                message,
            });
        }
        if let Some((seq, what)) = changes.iter().find(|(s, _)| !acked.contains(s)) {
            return Err(Error::Protocol {
                op: op.to_owned(),
                detail: format!("no ack for message {seq} ({what})"),
            });
        }
        Ok(())
    }

    /// Run a dump (`NFT_MSG_GET*` with `NLM_F_DUMP`) and return each reply's
    /// payload after `nfgenmsg`. A missing table or set is `Ok(None)`.
    pub(crate) fn dump(
        &mut self,
        op: &str,
        msg: u8,
        attrs: &[Attr],
    ) -> Result<Option<Vec<Vec<u8>>>, Error> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mut bytes = Vec::with_capacity(128);
        message(
            msg_type(msg),
            NlmF::REQUEST | NlmF::DUMP,
            seq,
            NFPROTO_INET,
            0,
            attrs,
            &mut bytes,
        )?;
        self.send(&bytes)?;
        let mut out = Vec::new();
        loop {
            let Some(replies) = self.recv(op, true)? else {
                continue;
            };
            for r in replies {
                match r {
                    Reply::Data(s, p) if s == seq => {
                        let b: &[u8] = p.as_ref();
                        out.push(b.get(4..).unwrap_or_default().to_vec());
                    }
                    Reply::Done(s) if s == seq => return Ok(Some(out)),
                    Reply::Err { seq: s, errno, .. } if s == seq && errno == Errno::ENOENT => {
                        return Ok(None);
                    }
                    Reply::Err {
                        seq: s,
                        errno,
                        message,
                    } if s == seq => {
                        return Err(Error::Kernel {
                            op: op.to_owned(),
                            object: format!("dump (message type {msg})"),
                            errno,
                            message,
                        });
                    }
                    // Left over from an earlier request: not ours.
                    _ => {}
                }
            }
        }
    }
}
