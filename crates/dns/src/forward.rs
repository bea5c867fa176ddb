//! Forwarding to upstream nameservers: over UDP from one socket per
//! address family, with a fresh random id per query; a truncated answer is
//! asked again over TCP; upstreams are tried in order, each for an equal
//! share of the timeout; SERVFAIL and one log line when none answers.
//!
//! Pending queries live in one map keyed by our id. A receiver thread per
//! socket reads answers and, every [`SWEEP`], moves timed-out queries to
//! the next upstream or fails them. At most `max` queries are pending.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Header, MessageType, Query, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use nix::sys::socket::{MsgFlags, SockaddrStorage, sendto};

use crate::answer::Forward;
use crate::error::{Error, Result};
use crate::report::{Kind, Log};
use crate::stats::Counters;

/// How often pending queries are checked for time-outs.
const SWEEP: Duration = Duration::from_millis(20);
/// The most truncated answers retried over TCP at once; past it the
/// truncated answer goes to the client, which retries over TCP itself.
const MAX_TCP_FALLBACKS: usize = 64;

/// Where an answer goes back to.
pub(crate) enum ReplyTo {
    /// A UDP client, through the listener socket it asked on (weak: a
    /// removed listener's socket closes, and its pending answers are lost).
    Udp {
        socket: Weak<UdpSocket>,
        peer: SocketAddr,
    },
    /// A TCP client's connection thread, waiting.
    Tcp(SyncSender<Vec<u8>>),
}

impl ReplyTo {
    fn send(&self, bytes: Vec<u8>) {
        match self {
            Self::Udp { socket, peer } => {
                if let Some(socket) = socket.upgrade() {
                    let _ = socket.send_to(&bytes, peer);
                }
            }
            Self::Tcp(tx) => {
                let _ = tx.try_send(bytes);
            }
        }
    }
}

struct Pending {
    fwd: Forward,
    reply: ReplyTo,
    asker: IpAddr,
    /// The client's packet with our id.
    packet: Vec<u8>,
    /// The name servers this query goes to, in order.
    upstreams: Arc<[SocketAddr]>,
    /// Index of the upstream asked last.
    asked: usize,
    attempt_deadline: Instant,
    deadline: Instant,
    /// Handed to a TCP fallback thread: the sweeper leaves it alone.
    tcp: bool,
}

/// The forwarder's state, shared by listener threads (which submit) and
/// its own threads (which receive and sweep).
pub(crate) struct Shared {
    /// Itself, for the TCP fallback threads.
    me: Weak<Shared>,
    /// The resolver's upstreams (a query may bring its network's own).
    upstreams: Arc<[SocketAddr]>,
    timeout: Duration,
    max: usize,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    pending: Mutex<HashMap<u16, Pending>>,
    next_sweep: Mutex<Instant>,
    tcp_fallbacks: AtomicUsize,
    stop: AtomicBool,
    stats: Arc<Counters>,
    log: Arc<Log>,
}

/// The forwarder and its receiver threads.
pub(crate) struct Forwarder {
    pub(crate) shared: Arc<Shared>,
    threads: Vec<(String, JoinHandle<()>)>,
}

enum Action {
    Send(SocketAddr, Vec<u8>),
    Deliver(Pending, Vec<u8>, ResponseCode),
    Fail(Pending, String),
    Tcp(u16, SocketAddr, Vec<u8>, Instant),
}

impl Forwarder {
    /// Open a UDP socket for each address family and start a receiver
    /// thread on each (a family the kernel lacks is left out, unless the
    /// resolver's upstreams use it: then it is an error).
    pub(crate) fn start(
        upstreams: Vec<SocketAddr>,
        timeout: Duration,
        max: usize,
        stats: Arc<Counters>,
        log: Arc<Log>,
    ) -> Result<Self> {
        let open = |family: &str, local: SocketAddr| -> Result<UdpSocket> {
            let s = UdpSocket::bind(local).map_err(|source| Error::Socket {
                op: "bind",
                what: format!("upstream socket ({family})"),
                cause: source,
            })?;
            s.set_read_timeout(Some(SWEEP))
                .map_err(|source| Error::Socket {
                    op: "set read timeout",
                    what: format!("upstream socket ({family})"),
                    cause: source,
                })?;
            Ok(s)
        };
        // Both families: a network's own upstreams may use either.
        let v4 = match open("IPv4", (Ipv4Addr::UNSPECIFIED, 0).into()) {
            Ok(s) => Some(s),
            Err(e) if upstreams.iter().any(SocketAddr::is_ipv4) => return Err(e),
            Err(_) => None,
        };
        let v6 = match open("IPv6", (Ipv6Addr::UNSPECIFIED, 0).into()) {
            Ok(s) => Some(s),
            Err(e) if upstreams.iter().any(SocketAddr::is_ipv6) => return Err(e),
            Err(_) => None,
        };
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            upstreams: upstreams.into(),
            timeout: timeout.max(SWEEP),
            max: max.max(1),
            v4,
            v6,
            pending: Mutex::new(HashMap::new()),
            next_sweep: Mutex::new(Instant::now()),
            tcp_fallbacks: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            stats,
            log,
        });
        let mut fwd = Forwarder {
            shared,
            threads: Vec::new(),
        };
        for (family, present) in [
            ("v4", fwd.shared.v4.is_some()),
            ("v6", fwd.shared.v6.is_some()),
        ] {
            if !present {
                continue;
            }
            let name = format!("brnet-dns-upstream-{family}");
            let shared = fwd.shared.clone();
            let is_v4 = family == "v4";
            let spawned = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || shared.receive(is_v4));
            match spawned {
                Ok(h) => fwd.threads.push((name, h)),
                Err(source) => {
                    let _ = fwd.stop();
                    return Err(Error::Spawn {
                        name,
                        cause: source,
                    });
                }
            }
        }
        Ok(fwd)
    }

    /// Stop the receiver threads; pending queries are dropped.
    pub(crate) fn stop(&mut self) -> Vec<Error> {
        self.shared.stop.store(true, Ordering::SeqCst);
        let mut errors = Vec::new();
        for (name, h) in self.threads.drain(..) {
            if h.join().is_err() {
                errors.push(Error::Panicked { name });
            }
        }
        self.shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        errors
    }
}

impl Shared {
    /// Forward `packet` (from `asker`) upstream; the answer, or SERVFAIL,
    /// goes to `reply`.
    pub(crate) fn submit(&self, packet: &[u8], fwd: Forward, asker: IpAddr, reply: ReplyTo) {
        let upstreams = fwd
            .upstreams
            .clone()
            .unwrap_or_else(|| self.upstreams.clone());
        if upstreams.is_empty() || self.stop.load(Ordering::Relaxed) {
            let why = if upstreams.is_empty() {
                "no upstream nameserver is configured"
            } else {
                "the resolver is stopping"
            };
            self.fail_now(fwd, reply, asker, Kind::NoUpstream, why.to_owned());
            return;
        }
        if packet.len() < 12 {
            return;
        }
        let now = Instant::now();
        let first = upstreams[0];
        let share = self.share(&upstreams);
        let mut bytes = packet.to_vec();
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.len() >= self.max {
                drop(pending);
                Counters::bump(&self.stats.overflow);
                let why = format!("{} forwarded queries already in flight", self.max);
                self.fail_now(fwd, reply, asker, Kind::Overflow, why);
                return;
            }
            let mut id: u16 = rand::random();
            while pending.contains_key(&id) {
                id = rand::random();
            }
            bytes[..2].copy_from_slice(&id.to_be_bytes());
            pending.insert(
                id,
                Pending {
                    fwd,
                    reply,
                    asker,
                    packet: bytes.clone(),
                    upstreams,
                    asked: 0,
                    attempt_deadline: now + share,
                    deadline: now + self.timeout,
                    tcp: false,
                },
            );
            let in_flight = pending.len() as u64;
            self.stats
                .peak_in_flight
                .fetch_max(in_flight, Ordering::Relaxed);
        }
        Counters::bump(&self.stats.forwarded);
        self.send(first, &bytes);
    }

    /// Each of `upstreams`' share of the timeout.
    fn share(&self, upstreams: &[SocketAddr]) -> Duration {
        let n = u32::try_from(upstreams.len()).unwrap_or(u32::MAX).max(1);
        (self.timeout / n).max(SWEEP)
    }

    fn fail_now(&self, fwd: Forward, reply: ReplyTo, asker: IpAddr, kind: Kind, why: String) {
        Counters::bump(&self.stats.servfail);
        self.log.line(kind, || {
            format!(
                "SERVFAIL for {} {} from {asker}: {why}",
                fwd.query.name(),
                fwd.query.query_type()
            )
        });
        reply.send(fwd.reply_code(ResponseCode::ServFail, false));
    }

    /// Send without blocking (a full socket buffer is a lost datagram, and
    /// the timeout moves on to the next upstream).
    fn send(&self, to: SocketAddr, bytes: &[u8]) {
        let socket = if to.is_ipv4() { &self.v4 } else { &self.v6 };
        let Some(socket) = socket else { return };
        let addr = SockaddrStorage::from(to);
        if let Err(e) = sendto(socket.as_raw_fd(), bytes, &addr, MsgFlags::MSG_DONTWAIT) {
            self.log.line(Kind::Socket, || {
                format!("send to upstream {to}: {}", brnet_netns::ShowErrno(e))
            });
        }
    }

    /// The receiver thread's loop.
    fn receive(&self, v4: bool) {
        let socket = if v4 { &self.v4 } else { &self.v6 };
        let Some(socket) = socket else { return };
        let mut buf = vec![0u8; 65536];
        while !self.stop.load(Ordering::Relaxed) {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => self.on_answer(&buf[..n], from),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    // e.g. ECONNREFUSED queued by ICMP: nothing to do but
                    // not spin
                    self.log
                        .line(Kind::Socket, || format!("receive from upstreams: {e}"));
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            self.sweep();
        }
    }

    /// An upstream's UDP answer.
    fn on_answer(&self, bytes: &[u8], from: SocketAddr) {
        let Some((header, query)) = head(bytes) else {
            return;
        };
        if header.metadata.message_type != MessageType::Response {
            return;
        }
        let id = header.metadata.id;
        let code = header.metadata.response_code;
        let now = Instant::now();
        let action = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(p) = pending.get_mut(&id) else {
                return;
            };
            if p.tcp
                || !p.upstreams[..=p.asked.min(p.upstreams.len() - 1)].contains(&from)
                || !query
                    .as_ref()
                    .is_some_and(|q| same_question(q, &p.fwd.query))
            {
                return;
            }
            if header.metadata.truncation {
                if self.tcp_fallbacks.fetch_add(1, Ordering::SeqCst) < MAX_TCP_FALLBACKS {
                    p.tcp = true;
                    Action::Tcp(id, from, p.packet.clone(), p.deadline)
                } else {
                    self.tcp_fallbacks.fetch_sub(1, Ordering::SeqCst);
                    let Some(p) = pending.remove(&id) else { return };
                    Action::Deliver(p, bytes.to_vec(), code)
                }
            } else if matches!(code, ResponseCode::ServFail | ResponseCode::Refused)
                && p.asked + 1 < p.upstreams.len()
                && now < p.deadline
            {
                p.asked += 1;
                p.attempt_deadline = (now + self.share(&p.upstreams)).min(p.deadline);
                Action::Send(p.upstreams[p.asked], p.packet.clone())
            } else {
                let Some(p) = pending.remove(&id) else { return };
                Action::Deliver(p, bytes.to_vec(), code)
            }
        };
        self.run(action);
    }

    /// Move timed-out queries to the next upstream; fail those out of time.
    fn sweep(&self) {
        let now = Instant::now();
        {
            let mut next = self
                .next_sweep
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if now < *next {
                return;
            }
            *next = now + SWEEP;
        }
        let mut actions = Vec::new();
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let mut expired = Vec::new();
            for (id, p) in pending.iter_mut() {
                if p.tcp {
                    continue;
                }
                if now >= p.deadline {
                    expired.push(*id);
                } else if now >= p.attempt_deadline && p.asked + 1 < p.upstreams.len() {
                    p.asked += 1;
                    p.attempt_deadline = (now + self.share(&p.upstreams)).min(p.deadline);
                    actions.push(Action::Send(p.upstreams[p.asked], p.packet.clone()));
                }
            }
            for id in expired {
                if let Some(p) = pending.remove(&id) {
                    let asked = p.upstreams[..=p.asked.min(p.upstreams.len() - 1)]
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ");
                    let why = format!(
                        "no upstream answered within {:?} (asked {asked})",
                        self.timeout
                    );
                    actions.push(Action::Fail(p, why));
                }
            }
        }
        for a in actions {
            self.run(a);
        }
    }

    fn run(&self, action: Action) {
        match action {
            Action::Send(to, bytes) => self.send(to, &bytes),
            Action::Deliver(p, bytes, code) => self.deliver(p, bytes, code),
            Action::Fail(p, why) => self.fail_now(p.fwd, p.reply, p.asker, Kind::NoUpstream, why),
            Action::Tcp(id, upstream, packet, deadline) => {
                self.start_tcp(id, upstream, packet, deadline)
            }
        }
    }

    /// Relay an upstream answer with the client's id, truncated when too
    /// big for the client.
    fn deliver(&self, p: Pending, mut bytes: Vec<u8>, code: ResponseCode) {
        Counters::bump(&self.stats.upstream_answers);
        if bytes.len() > p.fwd.limit {
            p.reply.send(p.fwd.reply_code(code, true));
            return;
        }
        bytes[..2].copy_from_slice(&p.fwd.id.to_be_bytes());
        p.reply.send(bytes);
    }

    /// Ask again over TCP on a thread of its own (the pending entry stays,
    /// marked, until it ends).
    fn start_tcp(&self, id: u16, upstream: SocketAddr, packet: Vec<u8>, deadline: Instant) {
        Counters::bump(&self.stats.tcp_fallbacks);
        let Some(me) = self.me.upgrade() else { return };
        let spawned = std::thread::Builder::new()
            .name("brnet-dns-tcp-upstream".into())
            .spawn(move || {
                let result = tcp_query(upstream, &packet, deadline);
                me.tcp_done(id, upstream, result);
            });
        if let Err(e) = spawned {
            self.tcp_done(id, upstream, Err(e));
        }
    }

    fn tcp_done(&self, id: u16, upstream: SocketAddr, result: io::Result<Vec<u8>>) {
        self.tcp_fallbacks.fetch_sub(1, Ordering::SeqCst);
        let Some(p) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
        else {
            return;
        };
        let checked = result.and_then(|bytes| match head(&bytes) {
            Some((h, Some(q)))
                if h.metadata.id == id
                    && h.metadata.message_type == MessageType::Response
                    && same_question(&q, &p.fwd.query) =>
            {
                Ok((bytes, h.metadata.response_code))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "answer does not match the query",
            )),
        });
        match checked {
            Ok((bytes, code)) => self.deliver(p, bytes, code),
            Err(e) => {
                let why = format!("TCP retry of a truncated answer from {upstream} failed: {e}");
                self.fail_now(p.fwd, p.reply, p.asker, Kind::TcpFallback, why);
            }
        }
    }
}

/// One query over TCP, every step bounded by `deadline`.
fn tcp_query(upstream: SocketAddr, packet: &[u8], deadline: Instant) -> io::Result<Vec<u8>> {
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    };
    let mut stream = TcpStream::connect_timeout(&upstream, left()?)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(left()?))?;
    let len = u16::try_from(packet.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
    let mut out = Vec::with_capacity(packet.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    stream.write_all(&out)?;
    let mut read_exact = |buf: &mut [u8]| -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            stream.set_read_timeout(Some(left()?))?;
            match stream.read(&mut buf[done..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    };
    let mut len = [0u8; 2];
    read_exact(&mut len)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    read_exact(&mut answer)?;
    Ok(answer)
}

/// The header and the first question of a message, if they parse.
fn head(bytes: &[u8]) -> Option<(Header, Option<Query>)> {
    let mut decoder = BinDecoder::new(bytes);
    let header = Header::read(&mut decoder).ok()?;
    let query = if header.counts.queries == 1 {
        Query::read(&mut decoder).ok()
    } else {
        None
    };
    Some((header, query))
}

fn same_question(a: &Query, b: &Query) -> bool {
    a.query_type() == b.query_type()
        && a.query_class() == b.query_class()
        && a.name().eq_ignore_root(b.name())
}
