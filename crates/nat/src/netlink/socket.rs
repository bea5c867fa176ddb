//! nf_tables over the one netlink transport ([`brnet_netlink::Transport`]):
//! a batch is one transaction, a dump returns each reply's payload after
//! `nfgenmsg`, and `GETGEN` tells the ruleset's generation. Framing,
//! sequence numbers, acks, dropped replies, interrupted dumps and buffer
//! sizes are the transport's.

use brnet_netlink::transport::{DumpPart, Failure, Protocol, Transport};
use brnet_netns::Errno;
use neli::consts::nl::NlmF;

use super::Attr;
use super::consts::{NFPROTO_INET, NFPROTO_UNSPEC, NFT_MSG_GETGEN, NFT_MSG_NEWGEN, NFTA_GEN_ID};
use super::msg::{Batch, message, msg_type};
use crate::error::Error;

/// How often a `GETGEN` whose answer was dropped is asked again.
const ATTEMPTS: usize = 8;

/// Why a batch did not commit, or may not have.
#[derive(Debug)]
pub(crate) enum BatchError {
    /// The kernel refused the batch and rolled all of it back. `change` is
    /// the index (in push order) of the first change it refused; `None`
    /// when it refused the batch as a whole (`ERESTART`: the ruleset
    /// changed since the generation the batch was planned against; or the
    /// commit).
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

/// An nf_tables operation's transport failure as this crate's error.
fn error(op: &str, object: impl FnOnce() -> String, f: Failure) -> Error {
    match f {
        Failure::Refused { errno, message, .. } => Error::Kernel {
            op: op.to_owned(),
            object: object(),
            errno,
            message,
        },
        Failure::TooLarge { len, max } => Error::BatchTooLarge {
            op: op.to_owned(),
            len,
            max,
        },
        Failure::Socket { op, errno } => Error::Socket {
            op,
            object: "NETLINK_NETFILTER socket".into(),
            errno,
        },
        Failure::Lost => Error::Socket {
            op: "receive from",
            object: "NETLINK_NETFILTER socket".into(),
            errno: Errno::ENOBUFS,
        },
        other => Error::Protocol {
            op: op.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// A NETLINK_NETFILTER transport bound in the network namespace of the
/// thread that opened it (sockets keep their namespace for life).
#[derive(Debug)]
pub(crate) struct NftSocket {
    t: Transport,
    /// Tests: the type of every message of every batch sent.
    #[cfg(test)]
    pub(crate) sent: Vec<u16>,
    /// Tests: requests to send, and leave unanswered, right before a batch.
    #[cfg(test)]
    pub(crate) junk_before_batch: u32,
    /// Tests: play a kernel before 6.3 on a newer one: every
    /// `NFT_MSG_DESTROY*` goes out as a message type the kernel does not
    /// know, which it refuses with `EINVAL` as 6.1 refuses DESTROY.
    #[cfg(test)]
    pub(crate) before_6_3: bool,
}

impl NftSocket {
    /// Open the socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<NftSocket, Error> {
        let mut t = Transport::open(Protocol::Netfilter)
            .map_err(|f| error("open", || "NETLINK_NETFILTER socket".into(), f))?;
        // Room for many answers at once: only a margin, the default works.
        let _ = t.set_receive_buffer(4 * 1024 * 1024);
        Ok(NftSocket {
            t,
            #[cfg(test)]
            sent: Vec::new(),
            #[cfg(test)]
            junk_before_batch: 0,
            #[cfg(test)]
            before_6_3: false,
        })
    }

    /// A second descriptor of the socket.
    pub(crate) fn dup(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        self.t.try_clone_fd()
    }

    /// The transport (tests: its statistics and hooks).
    #[cfg(test)]
    pub(crate) fn transport(&mut self) -> &mut Transport {
        &mut self.t
    }

    /// A fresh batch, planned against ruleset generation `genid` (`None`:
    /// whatever the ruleset is).
    pub(crate) fn batch(&mut self, genid: Option<u32>) -> Result<Batch, Error> {
        Batch::new(genid)
    }

    /// Send `batch` as one transaction: it went through when the last
    /// change is acked and nothing refused. When the kernel refuses, it has
    /// rolled the whole batch back; the first change it refused is reported.
    pub(crate) fn transact(&mut self, op: &str, batch: Batch) -> Result<(), BatchError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut done = batch.finish()?;
        #[cfg(test)]
        self.before_batch(&mut done.bytes);
        match self.t.batch(&mut done.bytes) {
            Ok(()) => Ok(()),
            // BATCH_BEGIN is message 0, the changes 1..=n, BATCH_END n + 1.
            Err(Failure::Refused {
                index,
                errno,
                message,
            }) => {
                let change = index.checked_sub(1).filter(|c| *c < done.changes.len());
                let what = match change {
                    Some(c) => done.changes[c].clone(),
                    None => "commit of the batch".to_owned(),
                };
                Err(BatchError::Refused {
                    change,
                    what,
                    errno,
                    message,
                })
            }
            Err(Failure::Lost) => Err(BatchError::Unknown),
            Err(f) => Err(BatchError::Failed(error(op, || "batch".into(), f))),
        }
    }

    /// Run a dump (`NFT_MSG_GET*` with `NLM_F_DUMP`) and return each reply's
    /// payload after `nfgenmsg`. A missing table or set is `Ok(None)`.
    pub(crate) fn dump(
        &mut self,
        op: &str,
        msg: u8,
        attrs: &[Attr],
    ) -> Result<Option<Vec<Vec<u8>>>, Error> {
        let mut bytes = Vec::with_capacity(128);
        message(
            msg_type(msg),
            NlmF::REQUEST | NlmF::DUMP,
            0,
            NFPROTO_INET,
            0,
            attrs,
            &mut bytes,
        )?;
        let mut out = Vec::new();
        let r = self.t.dump(&mut bytes, &mut |part| match part {
            DumpPart::Restart => out.clear(),
            DumpPart::Data { payload, .. } => {
                out.push(payload.get(4..).unwrap_or_default().to_vec());
            }
        });
        match r {
            Ok(()) => Ok(Some(out)),
            Err(Failure::Refused {
                errno: Errno::ENOENT,
                ..
            }) => Ok(None),
            Err(f) => Err(error(op, || format!("dump (message type {msg})"), f)),
        }
    }

    /// The ruleset's generation id (`NFT_MSG_GETGEN`): every commit
    /// changes it; a batch planned against it is refused if it changed.
    pub(crate) fn genid(&mut self, op: &str) -> Result<u32, Error> {
        let mut last = Failure::Lost;
        for _ in 0..ATTEMPTS {
            let mut bytes = getgen()?;
            let mut genid = None;
            let r = self.t.request(&mut bytes, &mut |ty, payload| {
                if ty == msg_type(NFT_MSG_NEWGEN) {
                    genid =
                        super::dump::attr_u32(payload.get(4..).unwrap_or_default(), NFTA_GEN_ID);
                }
            });
            match r {
                Ok(()) => {
                    return genid.ok_or_else(|| Error::Protocol {
                        op: op.to_owned(),
                        detail: "no generation id in the reply to GETGEN".into(),
                    });
                }
                // The answer was dropped: a get can be asked again.
                Err(Failure::Lost) => last = Failure::Lost,
                Err(f) => return Err(error(op, || "get ruleset generation".into(), f)),
            }
        }
        Err(error(op, || "get ruleset generation".into(), last))
    }

    /// Tests: note what is sent, and leave unanswered requests right before
    /// the batch when asked to.
    #[cfg(test)]
    fn before_batch(&mut self, bytes: &mut [u8]) {
        if let Ok(replies) = brnet_netlink::wire::parse(bytes) {
            self.sent.extend(replies.iter().filter_map(|r| match r {
                brnet_netlink::wire::Reply::Data { ty, .. } => Some(*ty),
                _ => None,
            }));
        }
        if self.before_6_3 {
            use super::consts::{
                NFT_MSG_DESTROYCHAIN, NFT_MSG_DESTROYSETELEM, NFT_MSG_DESTROYTABLE,
            };
            // Each message: nlmsg_len (u32) then nlmsg_type (u16, the
            // subsystem's message in its low byte), 4-byte aligned.
            let mut at = 0;
            while at + 16 <= bytes.len() {
                let len =
                    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
                let ty = &mut bytes[at + 4];
                if [
                    NFT_MSG_DESTROYTABLE,
                    NFT_MSG_DESTROYCHAIN,
                    NFT_MSG_DESTROYSETELEM,
                ]
                .contains(ty)
                {
                    *ty = 0xff;
                }
                at += (len as usize).div_ceil(4) * 4;
                if len == 0 {
                    break;
                }
            }
        }
        for _ in 0..self.junk_before_batch {
            self.t.send_unanswered(&mut getgen().unwrap()).unwrap();
        }
    }
}

/// `NFT_MSG_GETGEN`: the ruleset's generation id.
fn getgen() -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::with_capacity(32);
    message(
        msg_type(NFT_MSG_GETGEN),
        NlmF::REQUEST | NlmF::ACK,
        0,
        NFPROTO_UNSPEC,
        0,
        &[],
        &mut bytes,
    )?;
    Ok(bytes)
}
