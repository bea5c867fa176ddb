//! Netlink framing, for every protocol: the 16-byte `nlmsghdr`, and the
//! replies of a received datagram (acks, errors with the kernel's text,
//! data, the end of a dump with its error). Pure: no I/O, no `unsafe`;
//! every length is checked before it is used, so a malformed datagram is
//! an error saying what is wrong, never a panic (`fuzz/`, target
//! `netlink_replies`).

use brnet_netns::Errno;

/// The length of `nlmsghdr`.
pub const HEADER_LEN: usize = 16;

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error, or an ack (error 0).
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 4;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x01;
/// `NLM_F_MULTI`: part of a multipart answer.
pub const NLM_F_MULTI: u16 = 0x02;
/// `NLM_F_ACK`: answer with an ack.
pub const NLM_F_ACK: u16 = 0x04;
/// `NLM_F_DUMP_INTR`: the data changed while the dump was made.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// `NLM_F_DUMP`: `NLM_F_ROOT | NLM_F_MATCH`.
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_CAPPED` (on an error): only the request's header is echoed.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` (on an error or a done): extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: the kernel's text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// One message of a received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    /// An ack: `NLMSG_ERROR` with code 0.
    Ack {
        /// The acked request's sequence number.
        seq: u32,
    },
    /// An error, with the kernel's extended-ack text if it gave one.
    Err {
        /// The refused request's sequence number.
        seq: u32,
        /// The errno.
        errno: Errno,
        /// The kernel's text.
        message: Option<String>,
    },
    /// A message of a dump, or the answer to a get.
    Data {
        /// The request's sequence number.
        seq: u32,
        /// The message type.
        ty: u16,
        /// Its flags (`NLM_F_MULTI`, `NLM_F_DUMP_INTR`, ...).
        flags: u16,
        /// What follows the header.
        payload: &'a [u8],
    },
    /// The end of a dump, with the error the kernel ended it with, if any.
    Done {
        /// The dump's sequence number.
        seq: u32,
        /// Its flags.
        flags: u16,
        /// The error, `None` for a complete dump.
        errno: Option<Errno>,
        /// The kernel's text.
        message: Option<String>,
    },
}

impl Reply<'_> {
    /// The sequence number of the request this answers.
    pub fn seq(&self) -> u32 {
        match self {
            Reply::Ack { seq }
            | Reply::Err { seq, .. }
            | Reply::Data { seq, .. }
            | Reply::Done { seq, .. } => *seq,
        }
    }

    /// Whether this part of a dump says the data changed under the dump.
    pub fn interrupted(&self) -> bool {
        match self {
            Reply::Data { flags, .. } | Reply::Done { flags, .. } => flags & NLM_F_DUMP_INTR != 0,
            Reply::Ack { .. } | Reply::Err { .. } => false,
        }
    }

    /// Whether this ends the answer to its request (everything but data).
    pub fn is_last(&self) -> bool {
        !matches!(self, Reply::Data { .. })
    }
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    b.get(i..i.checked_add(2)?)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    b.get(i..i.checked_add(4)?)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The kernel's text among extended-ack attributes.
fn ack_message(tlvs: &[u8]) -> Option<String> {
    let mut i = 0;
    while let (Some(len), Some(ty)) = (u16_at(tlvs, i), u16_at(tlvs, i + 2)) {
        let len = usize::from(len);
        if len < 4 {
            return None;
        }
        let value = tlvs.get(i + 4..i + len)?;
        if ty & 0x3fff == NLMSGERR_ATTR_MSG {
            let end = value.iter().position(|c| *c == 0).unwrap_or(value.len());
            return Some(String::from_utf8_lossy(&value[..end]).into_owned());
        }
        i += len.next_multiple_of(4);
    }
    None
}

/// Split a received datagram into its messages.
pub fn parse(datagram: &[u8]) -> Result<Vec<Reply<'_>>, &'static str> {
    let mut out = Vec::new();
    let mut i = 0;
    while datagram.len() - i >= HEADER_LEN {
        let len = u32_at(datagram, i).unwrap_or(0) as usize;
        if len < HEADER_LEN {
            return Err("a message length shorter than the netlink header");
        }
        if len > datagram.len() - i {
            return Err("a message length past the end of the datagram");
        }
        let ty = u16_at(datagram, i + 4).unwrap_or(0);
        let flags = u16_at(datagram, i + 6).unwrap_or(0);
        let seq = u32_at(datagram, i + 8).unwrap_or(0);
        let body = &datagram[i + HEADER_LEN..i + len];
        match ty {
            NLMSG_NOOP | NLMSG_OVERRUN => {}
            NLMSG_ERROR => {
                let code = u32_at(body, 0).ok_or("an error message without its code")? as i32;
                if code == 0 {
                    out.push(Reply::Ack { seq });
                } else {
                    // The echoed request: its header only when capped, else
                    // the whole request; then the attributes.
                    let message = if flags & NLM_F_ACK_TLVS != 0 {
                        let echoed = u32_at(body, 4).unwrap_or(0) as usize;
                        let skip = if flags & NLM_F_CAPPED != 0 {
                            HEADER_LEN
                        } else {
                            echoed.next_multiple_of(4)
                        };
                        4usize
                            .checked_add(skip)
                            .and_then(|s| body.get(s..))
                            .and_then(ack_message)
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

/// Append one message: header (`ty`, `flags`, sequence number 0: the
/// transport numbers messages when it sends them) and `payload`, padded
/// to 4 bytes.
pub fn push_message(out: &mut Vec<u8>, ty: u16, flags: u16, payload: &[u8]) {
    let len = HEADER_LEN + payload.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// The messages of a buffer we built: (offset, length) of each; `None` if
/// a length is wrong.
pub(crate) fn offsets(msgs: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < msgs.len() {
        let len = u32_at(msgs, i)? as usize;
        if len < HEADER_LEN || len > msgs.len() - i {
            return None;
        }
        out.push((i, len));
        i += len.next_multiple_of(4).min(msgs.len() - i);
    }
    Some(out)
}

/// Set the flags of the message at `at` (header start) to `flags`.
pub(crate) fn set_flags(msgs: &mut [u8], at: usize, flags: u16) {
    msgs[at + 6..at + 8].copy_from_slice(&flags.to_ne_bytes());
}

/// The flags of the message at `at`.
pub(crate) fn flags(msgs: &[u8], at: usize) -> u16 {
    u16_at(msgs, at + 6).unwrap_or(0)
}

/// Set the sequence number of the message at `at`.
pub(crate) fn set_seq(msgs: &mut [u8], at: usize, seq: u32) {
    msgs[at + 8..at + 12].copy_from_slice(&seq.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        push_message(&mut m, ty, flags, body);
        set_seq(&mut m, 0, seq);
        m
    }

    fn tlv(ty: u16, value: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        t.extend_from_slice(&ty.to_ne_bytes());
        t.extend_from_slice(value);
        t.resize(t.len().next_multiple_of(4), 0);
        t
    }

    #[test]
    fn acks_errors_data_and_done_with_its_error() {
        let mut d = Vec::new();
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(&msg(0x0a0c, 5, 5, &[])[..16]);
        d.extend(msg(NLMSG_ERROR, NLM_F_CAPPED, 5, &ack));
        // capped, with the kernel's text
        let mut err = (-22i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&msg(0x0a0c, 5, 6, &[1, 2, 3, 4])[..16]);
        err.extend(tlv(NLMSGERR_ATTR_MSG, b"bad thing\0"));
        d.extend(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 6, &err));
        // not capped: the whole request echoed
        let mut err = (-2i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&msg(0x0a0c, 5, 7, &[9; 8]));
        err.extend(tlv(NLMSGERR_ATTR_MSG, b"gone\0"));
        d.extend(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, 7, &err));
        d.extend(msg(0x0a0d, NLM_F_MULTI | NLM_F_DUMP_INTR, 8, &[1, 0, 0, 0]));
        d.extend(msg(NLMSG_DONE, NLM_F_MULTI, 8, &(-2i32).to_ne_bytes()));
        d.extend(msg(NLMSG_DONE, NLM_F_MULTI, 9, &[]));
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
        assert!(r[3].interrupted() && !r[3].is_last());
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
        assert_eq!(offsets(&d).unwrap().len(), 6);
    }

    /// The shapes `fuzz/` found that made neli panic are errors; odd
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
        assert!(matches!(
            parse(&d).unwrap()[0],
            Reply::Err { message: None, .. }
        ));
        // A zero-length attribute does not loop.
        let mut err = (-1i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&msg(1, 0, 1, &[])[..16]);
        err.extend_from_slice(&[0, 0, 0, 0]);
        let d = msg(NLMSG_ERROR, NLM_F_ACK_TLVS | NLM_F_CAPPED, 1, &err);
        assert!(matches!(
            parse(&d).unwrap()[0],
            Reply::Err { message: None, .. }
        ));
        // Trailing bytes shorter than a header end the datagram.
        let mut d = msg(NLMSG_DONE, 2, 3, &0i32.to_ne_bytes());
        d.extend_from_slice(&[0; 7]);
        assert_eq!(parse(&d).unwrap().len(), 1);
        // A multipart done without its code is a complete dump.
        assert!(matches!(
            parse(&msg(NLMSG_DONE, NLM_F_MULTI, 3, &[])).unwrap()[0],
            Reply::Done { errno: None, .. }
        ));
    }
}
