//! Helpers for the sandbox tests: DNS clients whose sockets live in a
//! container, and a stub upstream server. Networks, containers and the
//! outside namespace come from the test kit (`brnet_testkit::topo`).

#![allow(dead_code)]

mod message;
pub use message::{answers, query, rcode};

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use brnet_dns::{Entry, Network};
use brnet_netns::Netns;
use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

/// How long a client waits for an answer that must come.
pub const WAIT: Duration = Duration::from_secs(5);

/// The gateway's DNS address on `br0`.
pub const GW: &str = "10.89.0.1:53";

/// A socket address from text.
pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The records most tests serve: network `customNetwork` with `web`
/// (10.89.0.2) and `db` (10.89.0.3).
pub fn custom_network() -> Network {
    Network::new("customNetwork")
        .entry(Entry::new("web", ["10.89.0.2".parse().unwrap()]))
        .entry(Entry::new("db", ["10.89.0.3".parse().unwrap()]))
}

/// The usual sandbox: bridge `br0` (gateway 10.89.0.1/24) and the
/// container `web` on it at 10.89.0.2/24; `web`'s namespace.
pub fn web_on_br0() -> Netns {
    brnet_testkit::topo::network("br0", &["10.89.0.1/24"]);
    brnet_testkit::topo::container("web", "br0", &["10.89.0.2/24"])
}

/// The usual upstream host: namespace `out` at 198.51.100.2/24 behind the
/// sandbox's 198.51.100.1/24.
pub fn out() -> Netns {
    brnet_testkit::topo::outside("out", "198.51.100.1/24", "198.51.100.2/24")
}

/// A DNS client whose sockets live in a container's namespace.
pub struct Client {
    ns: Netns,
    udp: UdpSocket,
    server: SocketAddr,
}

impl Client {
    /// A client in `ns` asking `server`.
    pub fn new(ns: &Netns, server: SocketAddr) -> Self {
        let any = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let udp = ns
            .run(move || UdpSocket::bind(any))
            .expect("enter namespace")
            .expect("bind client socket");
        udp.set_read_timeout(Some(WAIT)).unwrap();
        Self {
            ns: ns.try_clone().expect("clone namespace"),
            udp,
            server,
        }
    }

    /// The same client asking another server.
    pub fn to(&self, server: SocketAddr) -> Self {
        Self::new(&self.ns, server)
    }

    /// Send raw bytes over UDP (no answer awaited).
    pub fn send_raw(&self, bytes: &[u8]) {
        let _ = self.udp.send_to(bytes, self.server);
    }

    /// Wait for one datagram from the server.
    pub fn recv_raw(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        let (n, _) = self.udp.recv_from(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Set how long `ask` waits.
    pub fn wait(&self, d: Duration) {
        self.udp.set_read_timeout(Some(d)).unwrap();
    }

    /// Send a message over UDP and wait for the reply with its id
    /// (skipping stale ones).
    pub fn exchange(&self, msg: &Message) -> std::io::Result<Message> {
        self.udp.send_to(&msg.to_vec().unwrap(), self.server)?;
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = self.udp.recv_from(&mut buf)?;
            assert_eq!(from, self.server, "reply from the server asked");
            let Ok(reply) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if reply.metadata.id == msg.metadata.id {
                return Ok(reply);
            }
        }
    }

    /// Ask `name` `qtype` over UDP; panics when no answer comes.
    pub fn ask(&self, name: &str, qtype: RecordType) -> Message {
        self.exchange(&query(name, qtype))
            .unwrap_or_else(|e| panic!("ask {name} {qtype} of {}: {e}", self.server))
    }

    /// Ask as a stub resolver does after a loss: up to `tries` times, 1 s
    /// each (a flood may have filled the server's socket buffer, which
    /// drops what comes next until it has caught up).
    pub fn ask_retrying(&self, name: &str, qtype: RecordType, tries: u32) -> Message {
        self.wait(Duration::from_secs(1));
        let mut last = None;
        for _ in 0..tries {
            match self.exchange(&query(name, qtype)) {
                Ok(m) => {
                    self.wait(WAIT);
                    return m;
                }
                Err(e) => last = Some(e),
            }
        }
        panic!("ask {name} {qtype} of {}: {last:?}", self.server)
    }

    /// Ask over TCP.
    pub fn ask_tcp(&self, name: &str, qtype: RecordType) -> Message {
        let server = self.server;
        let mut conn = self
            .ns
            .run(move || TcpStream::connect_timeout(&server, WAIT))
            .expect("enter namespace")
            .unwrap_or_else(|e| panic!("connect tcp {server}: {e}"));
        conn.set_read_timeout(Some(WAIT)).unwrap();
        tcp_exchange(&mut conn, &query(name, qtype)).expect("tcp exchange")
    }

    /// Open a TCP connection to the server from the container.
    pub fn connect_tcp(&self) -> TcpStream {
        let server = self.server;
        let conn = self
            .ns
            .run(move || TcpStream::connect_timeout(&server, WAIT))
            .expect("enter namespace")
            .unwrap_or_else(|e| panic!("connect tcp {server}: {e}"));
        conn.set_read_timeout(Some(WAIT)).unwrap();
        conn
    }
}

/// One length-prefixed exchange on a TCP connection.
pub fn tcp_exchange(conn: &mut TcpStream, msg: &Message) -> std::io::Result<Message> {
    let bytes = msg.to_vec().unwrap();
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&bytes);
    conn.write_all(&out)?;
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut buf)?;
    Message::from_vec(&buf).map_err(|e| std::io::Error::other(e.to_string()))
}

/// What the stub upstream does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stub {
    /// `example.test` A 192.0.2.7; `big.test`: truncated over UDP, A
    /// 192.0.2.8 over TCP; `slow.test`: A 192.0.2.9 after 300 ms; anything
    /// else NXDOMAIN.
    Answer,
    /// SERVFAIL to everything.
    ServFail,
}

/// A stub upstream nameserver on UDP and TCP `addr` inside `ns`, until
/// the returned guard is dropped.
pub struct Upstream {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Upstream {
    pub fn start(ns: &Netns, addr: SocketAddr, mode: Stub) -> Self {
        let (udp, tcp) = ns
            .run(move || (UdpSocket::bind(addr), TcpListener::bind(addr)))
            .expect("enter namespace");
        let udp = udp.unwrap_or_else(|e| panic!("bind stub udp {addr}: {e}"));
        let tcp = tcp.unwrap_or_else(|e| panic!("bind stub tcp {addr}: {e}"));
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let udp = udp.try_clone().unwrap();
                std::thread::spawn(move || {
                    if let Some(reply) = stub_answer(&q, mode, false) {
                        let _ = udp.send_to(&reply.to_vec().unwrap(), peer);
                    }
                });
            }
        }));
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((mut conn, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(WAIT)).unwrap();
                let mut len = [0u8; 2];
                if conn.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if conn.read_exact(&mut buf).is_err() {
                    continue;
                }
                let Ok(q) = Message::from_vec(&buf) else {
                    continue;
                };
                if let Some(reply) = stub_answer(&q, mode, true) {
                    let bytes = reply.to_vec().unwrap();
                    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&bytes);
                    let _ = conn.write_all(&out);
                }
            }
        }));
        Self {
            stop,
            threads,
            addr,
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn stub_answer(q: &Message, mode: Stub, tcp: bool) -> Option<Message> {
    let question = q.queries.first()?.clone();
    let mut r = Message::response(q.metadata.id, q.metadata.op_code);
    r.metadata.message_type = MessageType::Response;
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.add_query(question.clone());
    if q.edns.is_some() {
        r.set_edns(Edns::new());
    }
    if mode == Stub::ServFail {
        r.metadata.response_code = ResponseCode::ServFail;
        return Some(r);
    }
    let name = question.name().to_ascii().to_ascii_lowercase();
    let a = |ip: &str| {
        Record::from_rdata(
            question.name().clone(),
            30,
            RData::A(A(ip.parse().unwrap())),
        )
    };
    match name.as_str() {
        "example.test." => {
            r.add_answer(a("192.0.2.7"));
        }
        "big.test." if !tcp => r.metadata.truncation = true,
        "big.test." => {
            r.add_answer(a("192.0.2.8"));
        }
        "slow.test." => {
            std::thread::sleep(Duration::from_millis(300));
            r.add_answer(a("192.0.2.9"));
        }
        _ => r.metadata.response_code = ResponseCode::NXDomain,
    }
    Some(r)
}

/// The address of a CIDR.
pub fn addr_of(cidr: &str) -> IpAddr {
    cidr.split('/').next().unwrap().parse().unwrap()
}
