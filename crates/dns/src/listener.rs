//! One listen address: a UDP socket with its thread, and a TCP listener
//! with its accept thread and a thread per client connection. Removing a
//! listener wakes its threads (shutdown on the sockets), joins them and
//! closes the sockets, so the address can be bound again at once.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::ResponseCode;

use crate::answer::{Answer, Forward};
use crate::context::Context;
use crate::error::{Error, Proto, Result};
use crate::forward::ReplyTo;
use crate::report::Kind;
use crate::stats::Counters;

/// How long a TCP client gets to take an answer.
const TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Open client connections of one listener, to close them on removal.
#[derive(Default)]
struct Conns {
    next: AtomicU64,
    open: Mutex<HashMap<u64, TcpStream>>,
}

pub(crate) struct Listener {
    bound: SocketAddr,
    stop: Arc<AtomicBool>,
    udp: Arc<UdpSocket>,
    tcp: Arc<TcpListener>,
    conns: Arc<Conns>,
    threads: Vec<(String, JoinHandle<()>)>,
}

impl Listener {
    /// Bind UDP and TCP on `addr` (port 0: the port UDP gets, for both) and
    /// start serving.
    pub(crate) fn start(addr: SocketAddr, ctx: &Arc<Context>) -> Result<Self> {
        let udp = UdpSocket::bind(addr).map_err(|source| Error::Bind {
            proto: Proto::Udp,
            addr,
            cause: source,
        })?;
        let bound = udp.local_addr().map_err(|source| Error::Socket {
            op: "read address of",
            what: format!("udp {addr}"),
            cause: source,
        })?;
        let tcp = TcpListener::bind(bound).map_err(|source| Error::Bind {
            proto: Proto::Tcp,
            addr: bound,
            cause: source,
        })?;
        let mut listener = Listener {
            bound,
            stop: Arc::new(AtomicBool::new(false)),
            udp: Arc::new(udp),
            tcp: Arc::new(tcp),
            conns: Arc::new(Conns::default()),
            threads: Vec::new(),
        };
        let spawned = listener.spawn(format!("brnet-dns-udp {bound}"), {
            let (ctx, udp, stop) = (ctx.clone(), listener.udp.clone(), listener.stop.clone());
            move || serve_udp(&ctx, &udp, &stop)
        });
        let spawned = spawned.and_then(|()| {
            listener.spawn(format!("brnet-dns-tcp {bound}"), {
                let (ctx, tcp, stop, conns) = (
                    ctx.clone(),
                    listener.tcp.clone(),
                    listener.stop.clone(),
                    listener.conns.clone(),
                );
                move || serve_tcp(&ctx, &tcp, &stop, &conns)
            })
        });
        if let Err(e) = spawned {
            let _ = listener.stop();
            return Err(e);
        }
        Ok(listener)
    }

    fn spawn(&mut self, name: String, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let h = std::thread::Builder::new()
            .name(name.clone())
            .spawn(f)
            .map_err(|source| Error::Spawn {
                name: name.clone(),
                cause: source,
            })?;
        self.threads.push((name, h));
        Ok(())
    }

    /// The address bound (the port filled in when 0 was asked for).
    pub(crate) fn bound(&self) -> SocketAddr {
        self.bound
    }

    /// Stop serving: wake and join the threads, close the client
    /// connections. The sockets close when the last reference goes (the
    /// forwarder holds UDP ones weakly only).
    pub(crate) fn stop(mut self) -> Vec<Error> {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes a blocked recv_from (it returns 0) and accept (EINVAL).
        // Linux answers ENOTCONN for the unconnected UDP socket, after
        // waking it.
        let _ = nix::sys::socket::shutdown(self.udp.as_raw_fd(), nix::sys::socket::Shutdown::Read);
        let _ = nix::sys::socket::shutdown(self.tcp.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let mut errors = Vec::new();
        for (name, h) in self.threads.drain(..) {
            if h.join().is_err() {
                errors.push(Error::Panicked { name });
            }
        }
        for (_, conn) in self
            .conns
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
        {
            let _ = conn.shutdown(Shutdown::Both);
        }
        errors
    }
}

/// A peer's address, when it is an IP one.
fn socket_addr(a: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

fn serve_udp(ctx: &Arc<Context>, udp: &Arc<UdpSocket>, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536];
    loop {
        // nix's recvfrom, not std's: woken by stop()'s shutdown, it
        // returns 0 bytes and no address, which std's asserts against (a
        // panic of this thread, and a failed stop).
        let got = nix::sys::socket::recvfrom::<nix::sys::socket::SockaddrStorage>(
            udp.as_raw_fd(),
            &mut buf,
        )
        .map_err(io::Error::from);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (n, peer) = match got {
            Ok((n, Some(peer))) => match socket_addr(&peer) {
                Some(peer) => (n, peer),
                None => continue,
            },
            Ok((_, None)) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                ctx.log.line(Kind::Socket, || {
                    format!("receive on udp {}: {e}", local(udp))
                });
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        Counters::bump(&ctx.stats.udp_queries);
        let packet = &buf[..n];
        let asker = peer.ip().to_canonical();
        // The records let go before anything else happens.
        let answer = ctx.records().answer(asker, packet, Proto::Udp);
        match answer {
            Answer::Reply(bytes) => {
                Counters::bump(&ctx.stats.local_replies);
                let _ = udp.send_to(&bytes, peer);
            }
            Answer::Forward(fwd) => {
                let reply = ReplyTo::Udp {
                    socket: Arc::downgrade(udp),
                    peer,
                };
                ctx.forwarder.submit(packet, fwd, asker, reply);
            }
            Answer::Drop => Counters::bump(&ctx.stats.dropped),
        }
    }
}

fn local(udp: &UdpSocket) -> String {
    udp.local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string())
}

fn serve_tcp(ctx: &Arc<Context>, tcp: &TcpListener, stop: &AtomicBool, conns: &Arc<Conns>) {
    loop {
        let got = tcp.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (stream, peer) = match got {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and the like: back off instead of spinning
                ctx.log.line(Kind::Socket, || {
                    let at = tcp
                        .local_addr()
                        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
                    format!("accept on tcp {at}: {e}")
                });
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let Some(slot) = ctx.tcp_slot() else {
            Counters::bump(&ctx.stats.tcp_rejected);
            drop(stream);
            continue;
        };
        let id = conns.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            conns
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, clone);
        }
        let (ctx2, conns2) = (ctx.clone(), conns.clone());
        let spawned = std::thread::Builder::new()
            .name("brnet-dns-tcp-conn".into())
            .spawn(move || {
                serve_conn(&ctx2, stream, peer);
                // free the slot before the last descriptor closes, so a
                // client that sees the close may connect again at once
                drop(slot);
                conns2
                    .open
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            });
        if spawned.is_err() {
            conns
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            Counters::bump(&ctx.stats.tcp_rejected);
        }
    }
}

/// Serve one TCP client: length-prefixed messages, one after the other,
/// until it closes, goes idle, or sends something unreadable.
fn serve_conn(ctx: &Arc<Context>, mut stream: TcpStream, peer: SocketAddr) {
    if stream.set_read_timeout(Some(ctx.tcp_idle_timeout)).is_err()
        || stream.set_write_timeout(Some(TCP_WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    let asker = peer.ip().to_canonical();
    let mut msg = Vec::new();
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let len = usize::from(u16::from_be_bytes(len));
        if len == 0 {
            return;
        }
        msg.resize(len, 0);
        if stream.read_exact(&mut msg).is_err() {
            return;
        }
        Counters::bump(&ctx.stats.tcp_queries);
        // The records let go before a forward is waited for.
        let answer = ctx.records().answer(asker, &msg, Proto::Tcp);
        let reply = match answer {
            Answer::Reply(bytes) => {
                Counters::bump(&ctx.stats.local_replies);
                bytes
            }
            Answer::Forward(fwd) => forward_and_wait(ctx, &msg, fwd, asker),
            Answer::Drop => {
                Counters::bump(&ctx.stats.dropped);
                continue;
            }
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&reply);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// Forward for a TCP client and wait for the answer (the forwarder
/// answers SERVFAIL itself at its timeout; the wait is a bit longer).
fn forward_and_wait(
    ctx: &Arc<Context>,
    msg: &[u8],
    fwd: Forward,
    asker: std::net::IpAddr,
) -> Vec<u8> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let fallback = fwd.reply_code(ResponseCode::ServFail, false);
    ctx.forwarder.submit(msg, fwd, asker, ReplyTo::Tcp(tx));
    rx.recv_timeout(ctx.forward_timeout + Duration::from_secs(1))
        .unwrap_or(fallback)
}
