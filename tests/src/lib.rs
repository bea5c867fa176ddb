//! Helpers for the end-to-end tests in `tests/tests/`: traffic between
//! namespaces, and reading the kernel back through iproute2.

/// The README's Rust examples, compiled as doc tests.
#[doc = include_str!("../../README.md")]
pub mod readme {}

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use brnet_netns::Netns;

/// Short timeout for connections that must fail (isolation checks).
pub const SHORT: Duration = Duration::from_millis(400);
/// Timeout for connections that must succeed.
pub const LONG: Duration = Duration::from_secs(5);

/// Bind a TCP listener at `addr` inside `ns` (the socket stays there).
pub fn listen_in(ns: &Netns, addr: SocketAddr) -> TcpListener {
    ns.run(|| TcpListener::bind(addr))
        .expect("enter namespace")
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"))
}

/// Serve every connection on `listener` by writing `reply` and the peer's
/// address as seen by the listener, on a background thread.
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
    let go = move || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    match ns {
        Some(ns) => ns.run(go).expect("enter namespace"),
        None => go(),
    }
}

/// Whether a TCP connection from `ns` to `addr` succeeds within `timeout`.
pub fn can_connect(ns: Option<&Netns>, addr: SocketAddr, timeout: Duration) -> bool {
    let go = move || TcpStream::connect_timeout(&addr, timeout).is_ok();
    match ns {
        Some(ns) => ns.run(go).expect("enter namespace"),
        None => go(),
    }
}

/// Send one UDP datagram from `ns` to `addr` and wait for an echo.
pub fn udp_echo(
    ns: Option<&Netns>,
    addr: SocketAddr,
    timeout: Duration,
) -> std::io::Result<String> {
    let go = move || -> std::io::Result<String> {
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
    };
    match ns {
        Some(ns) => ns.run(go).expect("enter namespace"),
        None => go(),
    }
}

/// Run `ip ARGS` (in the calling thread's namespaces) and return stdout;
/// panics with stderr on failure.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (install iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -j ARGS` parsed.
pub fn ip_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    serde_json::from_str(&ip(&all)).expect("ip -j prints JSON")
}

/// Whether `ping -c1` from `ns` to `addr` succeeds (false when ping is
/// missing).
pub fn ping(ns_name: &str, addr: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns_name, "ping", "-c1", "-W1", addr])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The link names of the calling thread's namespace, sorted.
pub fn link_names() -> Vec<String> {
    let mut names: Vec<String> = ip_json(&["link", "show"])
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// An "outside" namespace reached over a second veth from the sandbox's
/// own side: `outside_host` (e.g. `198.51.100.1/24`) on the sandbox's end,
/// `outside_addr` inside, with a default route back. It stands for the
/// world beyond the host in masquerade and published-port checks.
pub fn make_outside(name: &str, outside_host: &str, outside_addr: &str) -> Netns {
    use brnet_netlink::{IfName, Socket};
    let (ns, inside) = brnet_netns::NetnsDir::default()
        .create_with(name, brnet_veth::Container::here)
        .expect("create outside namespace");
    let mut inside = inside.expect("open outside namespace");
    let mut host = Socket::new().expect("netlink");
    let host_end = IfName::new(&format!("o-{name}")).expect("name");
    let gw: ipnet::IpNet = outside_host.parse().expect("cidr");
    brnet_veth::create(
        &mut host,
        &mut inside,
        &brnet_veth::VethConfig {
            host_name: Some(host_end.clone()),
            addresses: vec![outside_addr.parse().expect("cidr")],
            gateways: vec![gw.addr()],
            ..brnet_veth::VethConfig::default()
        },
    )
    .expect("outside veth");
    let link = host.link(&host_end).expect("outside link");
    host.add_address(link.index, &gw).expect("outside address");
    ns
}

/// A fresh state directory (removed when dropped).
pub fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
