//! Traffic between sandboxed namespaces: listen, connect, UDP echo, ping
//! and DF ping, an HTTP-ish request and response, and socat listeners for
//! tests that need a process rather than a thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use brnet_netns::{Netns, NetnsDir};

use crate::cmd::{Procs, in_ns, sh, try_sh};

/// Short timeout for connections that must fail (isolation checks).
pub const SHORT: Duration = Duration::from_millis(400);
/// Timeout for connections that must succeed.
pub const LONG: Duration = Duration::from_secs(5);

/// Run `f` in `ns`, or in the calling thread's namespace when `None`.
fn within<T: Send>(ns: Option<&Netns>, f: impl FnOnce() -> T + Send) -> T {
    match ns {
        Some(ns) => ns.run(f).expect("enter namespace"),
        None => f(),
    }
}

/// [`within`] for I/O: failing to enter `ns` is an error too.
fn within_io<T: Send>(
    ns: Option<&Netns>,
    f: impl FnOnce() -> std::io::Result<T> + Send,
) -> std::io::Result<T> {
    match ns {
        Some(ns) => ns.run(f).map_err(std::io::Error::other)?,
        None => f(),
    }
}

/// Bind a TCP listener at `addr` inside `ns` (the socket stays there).
#[track_caller]
pub fn listen_in(ns: &Netns, addr: SocketAddr) -> TcpListener {
    ns.run(|| TcpListener::bind(addr))
        .expect("enter namespace")
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"))
}

/// Bind a TCP listener at `addr` (text) inside the named namespace `name`.
#[track_caller]
pub fn listen_in_named(name: &str, addr: &str) -> TcpListener {
    let ns = NetnsDir::default().open(name).expect("open namespace");
    listen_in(&ns, addr.parse().expect("socket address"))
}

/// Serve every connection on `listener` by writing `reply`, a space and
/// the peer's address as the listener sees it, on a background thread.
pub fn serve(listener: TcpListener, reply: &'static str) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let peer = conn
                .peer_addr()
                .map(|p| p.ip().to_string())
                .unwrap_or_default();
            let _ = conn.write_all(format!("{reply} {peer}\n").as_bytes());
        }
    })
}

/// Connect to `addr` from inside `ns` (or from the calling thread's
/// namespace when `ns` is `None`) and read what the server says.
pub fn fetch(ns: Option<&Netns>, addr: SocketAddr, timeout: Duration) -> std::io::Result<String> {
    within_io(ns, move || {
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
}

/// Whether a TCP connection from `ns` to `addr` succeeds within `timeout`.
pub fn can_connect(ns: Option<&Netns>, addr: SocketAddr, timeout: Duration) -> bool {
    within(ns, move || {
        TcpStream::connect_timeout(&addr, timeout).is_ok()
    })
}

/// Send one UDP datagram (`ping`) from `ns` to `addr` and wait for the
/// answer.
pub fn udp_echo(
    ns: Option<&Netns>,
    addr: SocketAddr,
    timeout: Duration,
) -> std::io::Result<String> {
    within_io(ns, move || {
        let s = UdpSocket::bind(if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })?;
        s.set_read_timeout(Some(timeout))?;
        s.send_to(b"ping", addr)?;
        let mut buf = [0u8; 512];
        let (n, _) = s.recv_from(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
}

/// Serve every connection on `listener` as an HTTP/1.0 server whose body
/// is `body(peer)`, on a background thread. The request head is read in
/// full first (closing with unread bytes would make the kernel answer
/// with a reset).
pub fn serve_http<F>(listener: TcpListener, body: F) -> std::thread::JoinHandle<()>
where
    F: Fn(&str) -> String + Send + 'static,
{
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let peer = c
                .peer_addr()
                .map(|p| p.ip().to_string())
                .unwrap_or_default();
            let body = body(&peer);
            let _ = write!(
                c,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
                body.len()
            );
            let _ = c.shutdown(std::net::Shutdown::Write);
        }
    })
}

/// `GET /` (HTTP/1.0) from inside `ns` (or the calling thread's namespace);
/// the body, trimmed.
pub fn http_get(
    ns: Option<&Netns>,
    addr: SocketAddr,
    timeout: Duration,
) -> std::io::Result<String> {
    within_io(ns, move || {
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        write!(s, "GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_owned())
    })
}

/// Whether `ping -c1` from the named namespace `ns_name` to `addr`
/// succeeds (false when ping is missing).
pub fn ping(ns_name: &str, addr: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns_name, "ping", "-c1", "-W1", addr])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether one ping of `size` payload bytes with Don't Fragment set
/// (`ping -M do -s SIZE`) from `ns_name` to `addr` gets through: a path
/// MTU check (false when ping is missing).
pub fn ping_df(ns_name: &str, addr: &str, size: u16) -> bool {
    let size = size.to_string();
    Command::new("ip")
        .args([
            "netns", "exec", ns_name, "ping", "-c1", "-W1", "-M", "do", "-s", &size, addr,
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Wait until something listens on `proto` (`tcp` or `udp`) `port` in the
/// named namespace `ns` ("" for the sandbox itself): a bounded number of
/// tries, never a timed assertion.
#[track_caller]
pub fn wait_listening(ns: &str, proto: &str, port: u16) {
    let flag = if proto == "udp" { "-lun" } else { "-ltn" };
    for _ in 0..500 {
        let out = sh(&in_ns(ns, &format!("ss -H {flag} sport = :{port}")));
        if !out.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nothing listens on {proto} port {port} in {ns:?}");
}

/// A socat listener (`TCP` or `UDP`) in `ns` on `port` answering `reply`
/// (with `$SOCAT_PEERADDR` expanded by the shell: use it to see who
/// connected), kept in `procs`; returns once it listens.
fn socat_listen(procs: &mut Procs, ns: &str, proto: &str, port: u16, reply: &str) {
    let cmd = in_ns(
        ns,
        &format!(
            "socat {}-LISTEN:{port},reuseaddr,fork SYSTEM:'echo {reply}'",
            proto.to_uppercase()
        ),
    );
    procs.add(
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec {cmd}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run socat"),
    );
    wait_listening(ns, proto, port);
}

/// A TCP listener (socat) in `ns` on `port` answering `reply`.
pub fn listen_tcp(procs: &mut Procs, ns: &str, port: u16, reply: &str) {
    socat_listen(procs, ns, "tcp", port, reply);
}

/// A UDP listener (socat) in `ns` on `port` answering `reply`.
pub fn listen_udp(procs: &mut Procs, ns: &str, port: u16, reply: &str) {
    socat_listen(procs, ns, "udp", port, reply);
}

/// Connect over TCP (socat) from `ns` to `addr:port`; the reply, or
/// `None` when the connection fails (1 s connect timeout).
pub fn tcp(ns: &str, addr: &str, port: u16) -> Option<String> {
    let target = if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_owned()
    };
    try_sh(&in_ns(
        ns,
        &format!("socat -T3 -t3 - TCP:{target}:{port},connect-timeout=1 </dev/null"),
    ))
    .map(|s| s.trim().to_owned())
    .filter(|s| !s.is_empty())
}

/// Send a UDP datagram (socat) from `ns` and return the reply. Datagrams
/// may be lost (a busy machine, a listener still forking): up to three
/// tries, each waiting up to 3 s for the reply.
pub fn udp(ns: &str, addr: &str, port: u16) -> Option<String> {
    (0..3).find_map(|_| {
        try_sh(&in_ns(
            ns,
            &format!("sh -c 'echo ping | socat -T3 -t3 - UDP:{addr}:{port}'"),
        ))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
    })
}
