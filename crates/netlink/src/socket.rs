//! The rtnetlink socket: send a request, wait for its ack, or read a dump.

use std::fmt::Display;
use std::io::Cursor;

use brnet_netns::{Errno, Netns};
use neli::FromBytes;
use neli::consts::nl::Nlmsg;
use neli::consts::socket::{Msg, NlFamily};
use neli::nl::{NlPayload, Nlmsghdr};
use neli::socket::NlSocket;
use neli::types::Buffer;
use neli::utils::Groups;

use crate::error::{Error, Result};

/// Size of the receive buffer: a dump datagram from the kernel never exceeds
/// this (the kernel sizes dump skbs at most to 32 KiB).
const RECV_BUF: usize = 64 * 1024;

/// One rtnetlink socket, bound to the network namespace it was opened in.
///
/// A socket stays in the namespace it was created in for its whole life, so
/// a socket opened in a container's namespace configures that container
/// from any thread, without entering it. Requests are synchronous: each one
/// waits for the kernel's ack, like `ip(8)`.
pub struct Socket {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("fd", &std::os::fd::AsRawFd::as_raw_fd(&self.sock))
            .field("seq", &self.seq)
            .finish()
    }
}

impl Socket {
    /// Open a socket in the calling thread's network namespace.
    pub fn new() -> Result<Socket> {
        let sock = NlSocket::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| socket_error("socket", &e))?;
        // Extended acks: the kernel's own words on what it refused. Best
        // effort; old kernels simply don't send them.
        let _ = sock.enable_ext_ack(true);
        Ok(Socket {
            sock,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Open a socket inside `ns`. The socket is created on a short-lived
    /// helper thread that enters the namespace, so the calling thread never
    /// changes namespace; the socket stays bound to `ns` afterwards.
    pub fn open_in(ns: &Netns) -> Result<Socket> {
        ns.run(Socket::new)?
    }

    /// Send one request built by [`crate::msg`] and wait for its ack.
    /// `op` and `object` name it in the error if the kernel refuses.
    pub fn request(&mut self, msg: Vec<u8>, op: &'static str, object: &dyn Display) -> Result<()> {
        self.transact(msg, op, object, &mut |_, _| Ok(()))
    }

    /// Send one request and hand the payload of each of the kernel's
    /// replies to `each(message_type, payload)`: a `GET` (sent with
    /// `NLM_F_ACK`) is answered by one message and an ack, a dump by many
    /// messages and `NLMSG_DONE`.
    pub fn query(
        &mut self,
        msg: Vec<u8>,
        op: &'static str,
        object: &dyn Display,
        each: &mut dyn FnMut(u16, &[u8]) -> Result<()>,
    ) -> Result<()> {
        self.transact(msg, op, object, each)
    }

    fn transact(
        &mut self,
        mut msg: Vec<u8>,
        op: &'static str,
        object: &dyn Display,
        each: &mut dyn FnMut(u16, &[u8]) -> Result<()>,
    ) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        if msg.len() < 16 {
            return Err(Error::encode("netlink message", "shorter than its header"));
        }
        msg[8..12].copy_from_slice(&seq.to_ne_bytes());
        loop {
            match self.sock.send(&msg, Msg::empty()) {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(socket_error("send", &e)),
            }
        }
        let decode = |detail: String| Error::Decode {
            op,
            object: object.to_string(),
            detail,
        };
        loop {
            let n = loop {
                match self.sock.recv(&mut self.buf[..], Msg::empty()) {
                    Ok((n, _)) => break n,
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                    Err(e) => return Err(socket_error("recv", &e)),
                }
            };
            let mut cursor = Cursor::new(&self.buf[..n]);
            while (cursor.position() as usize) < n {
                check_frame(&self.buf[cursor.position() as usize..n])
                    .map_err(|detail| decode(detail.to_owned()))?;
                let reply = Nlmsghdr::<u16, Buffer>::from_bytes(&mut cursor)
                    .map_err(|e| decode(e.to_string()))?;
                if *reply.nl_seq() != seq {
                    // A reply to an earlier request that was abandoned.
                    continue;
                }
                match reply.nl_payload() {
                    NlPayload::Ack(_) => return Ok(()),
                    NlPayload::Err(err) => {
                        let message = err.ext_ack().iter().find_map(|a| {
                            (u16::from(*a.nla_type().nla_type()) == 1).then(|| {
                                String::from_utf8_lossy(a.nla_payload().as_ref())
                                    .trim_end_matches('\0')
                                    .to_owned()
                            })
                        });
                        return Err(Error::Kernel {
                            op,
                            object: object.to_string(),
                            errno: Errno::from_raw(err.error().wrapping_neg()),
                            message,
                        });
                    }
                    NlPayload::DumpExtAck(_) | NlPayload::Empty
                        if *reply.nl_type() == u16::from(Nlmsg::Done) =>
                    {
                        return Ok(());
                    }
                    NlPayload::Payload(p) => each(*reply.nl_type(), p.as_ref())?,
                    NlPayload::DumpExtAck(_) | NlPayload::Empty => {}
                }
            }
        }
    }
}

/// Check one netlink message at the start of `rest` (a received datagram
/// from this message on) before neli decodes it: neli 0.7.5 subtracts
/// lengths unchecked, so a malformed length (from a broken or hostile
/// peer; the kernel never sends one) would panic in a debug build and abort
/// a release build (found by `fuzz/`, target `netlink_replies`). Every
/// receive loop over neli (ours, brnet-nat's nf_tables socket) calls this
/// first; `Err` says what is wrong with the message.
pub fn check_frame(rest: &[u8]) -> Result<(), &'static str> {
    const HDR: usize = 16;
    let u32_at = |i: usize| {
        rest.get(i..i + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let len = u32_at(0).ok_or("a message shorter than its length field")?;
    if len < HDR {
        return Err("a message length shorter than the netlink header");
    }
    if len > rest.len() {
        return Err("a message length past the end of the datagram");
    }
    let ty = u16::from_ne_bytes([rest[4], rest[5]]);
    let flags = u16::from_ne_bytes([rest[6], rest[7]]);
    if ty == libc::NLMSG_ERROR as u16 {
        if len < HDR + 4 + HDR {
            return Err("an error message too short for its code and echoed header");
        }
        let code = u32_at(HDR).ok_or("an error message without its code")?;
        let echoed = u32_at(HDR + 4).ok_or("an error message without its echoed header")?;
        if code != 0 && (echoed < HDR || 4 + echoed.next_multiple_of(4) > len - HDR) {
            return Err("an error message whose echoed request does not fit");
        }
    }
    if ty == libc::NLMSG_DONE as u16
        && flags & libc::NLM_F_MULTI as u16 != 0
        && len < rest.len()
        && len < HDR + 4
    {
        return Err("a multipart done message without its code");
    }
    Ok(())
}

fn socket_error(op: &'static str, e: &std::io::Error) -> Error {
    Error::Socket {
        op,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

#[cfg(test)]
mod tests {
    use super::check_frame;

    fn header(len: u32, ty: u16, flags: u16) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&len.to_ne_bytes());
        h.extend_from_slice(&ty.to_ne_bytes());
        h.extend_from_slice(&flags.to_ne_bytes());
        h.extend_from_slice(&[0; 8]);
        h
    }

    /// The shapes `fuzz/` found that make neli panic are refused first.
    #[test]
    fn malformed_frames_are_refused_before_neli() {
        assert!(
            check_frame(&header(2, 16, 0)).is_err(),
            "nl_len below the header"
        );
        assert!(
            check_frame(&header(64, 16, 0)).is_err(),
            "nl_len past the datagram"
        );
        let mut err = header(36, 2, 0);
        err.extend_from_slice(&(-22i32).to_ne_bytes());
        err.extend_from_slice(&header(2, 16, 5));
        assert!(
            check_frame(&err).is_err(),
            "echoed header below its own size"
        );
        let mut done = header(16, 3, 2);
        done.extend_from_slice(&header(16, 3, 2));
        assert!(
            check_frame(&done).is_err(),
            "multipart done without its code"
        );
        // Well-formed: an ack, a payload, a last done.
        let mut ack = header(36, 2, 0);
        ack.extend_from_slice(&0i32.to_ne_bytes());
        ack.extend_from_slice(&header(16, 16, 5));
        assert!(check_frame(&ack).is_ok());
        assert!(check_frame(&header(16, 3, 2)).is_ok());
        // The error code i32::MIN negates without overflow.
        assert_eq!(i32::MIN.wrapping_neg(), i32::MIN);
    }
}
