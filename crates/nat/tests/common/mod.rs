//! Test helpers: topologies built with `ip` inside a `brnet_netns::isolated`
//! sandbox, listeners and clients with socat, and `nft -j` read-backs.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

use brnet_nat::{Endpoint, Network, PortMapping, PortSpec};

/// Run a shell command in the calling thread's namespaces; panic with its
/// output if it fails. Returns stdout.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a shell command; its stdout if it succeeds.
pub fn try_sh(cmd: &str) -> Option<String> {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// In `ns` (a named namespace, or "" for the sandbox itself).
pub fn in_ns(ns: &str, cmd: &str) -> String {
    if ns.is_empty() {
        cmd.to_owned()
    } else {
        format!("ip netns exec {ns} {cmd}")
    }
}

/// Processes we started (listeners); killed by handle when dropped.
#[derive(Default)]
pub struct Procs(Vec<Child>);

impl Procs {
    pub fn add(&mut self, c: Child) {
        self.0.push(c);
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The sandbox as a router: forwarding on.
pub fn router() {
    sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
    sh("echo 1 > /proc/sys/net/ipv6/conf/all/forwarding");
}

/// A bridge with its gateway address (`172.17.0.1/16`), up.
pub fn bridge(name: &str, gw: &str) {
    sh(&format!(
        "ip link add {name} type bridge && ip addr add {gw} dev {name} && ip link set {name} up"
    ));
    sh(&format!(
        "echo 1 > /proc/sys/net/ipv4/conf/{name}/route_localnet"
    ));
}

/// A container namespace `ns` on `bridge`: veth `v-<ns>` on the bridge,
/// `eth0` inside with `addr` (`172.17.0.2/16`), default route via `gw`
/// (none when `gw` is empty).
pub fn container(ns: &str, bridge: &str, addr: &str, gw: &str) {
    sh(&format!("ip netns add {ns}"));
    sh(&format!(
        "ip link add v-{ns} type veth peer name eth0 netns {ns} && \
         ip link set v-{ns} master {bridge} up && \
         ip -n {ns} addr add {addr} dev eth0 && ip -n {ns} link set eth0 up && \
         ip -n {ns} link set lo up"
    ));
    if !gw.is_empty() {
        sh(&format!("ip -n {ns} route add default via {gw}"));
    }
}

/// An "outside" namespace `ns` reached over a veth: the sandbox side gets
/// `host` (`198.51.100.1/24`), the outside side `addr`. Outside has no
/// route to container subnets.
pub fn outside(ns: &str, host: &str, addr: &str) {
    sh(&format!("ip netns add {ns}"));
    sh(&format!(
        "ip link add x-{ns} type veth peer name eth0 netns {ns} && \
         ip addr add {host} dev x-{ns} && ip link set x-{ns} up && \
         ip -n {ns} addr add {addr} dev eth0 && ip -n {ns} link set eth0 up && \
         ip -n {ns} link set lo up"
    ));
}

fn wait_listening(ns: &str, proto: &str, port: u16) {
    let flag = if proto == "udp" { "-lun" } else { "-ltn" };
    for _ in 0..500 {
        let out = sh(&in_ns(ns, &format!("ss -H {flag} sport = :{port}")));
        if !out.trim().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("nothing listens on {proto} port {port} in {ns:?}");
}

/// A TCP listener in `ns` on `port` answering `reply` (with `$SOCAT_PEERADDR`
/// expanded by the shell: use it to see who connected).
pub fn listen_tcp(procs: &mut Procs, ns: &str, port: u16, reply: &str) {
    let cmd = in_ns(
        ns,
        &format!("socat TCP-LISTEN:{port},reuseaddr,fork SYSTEM:'echo {reply}'"),
    );
    procs.add(
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec {cmd}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(ns, "tcp", port);
}

/// A UDP listener in `ns` on `port` answering `reply`.
pub fn listen_udp(procs: &mut Procs, ns: &str, port: u16, reply: &str) {
    let cmd = in_ns(
        ns,
        &format!("socat UDP-LISTEN:{port},reuseaddr,fork SYSTEM:'echo {reply}'"),
    );
    procs.add(
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec {cmd}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(ns, "udp", port);
}

/// Connect over TCP from `ns` to `addr:port`; the reply, or `None` when the
/// connection fails (1 s connect timeout).
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

/// Send a UDP datagram from `ns` and return the reply. Datagrams may be
/// lost (a busy machine, a listener still forking): up to three tries, each
/// waiting up to 3 s for the reply.
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

/// `nft -j list ruleset`, normalised: handles dropped, set elements sorted,
/// the metainfo dropped, entries sorted.
pub fn ruleset_json() -> serde_json::Value {
    normalise(&sh("nft -j list ruleset"))
}

/// `nft -j list table inet NAME`, normalised.
pub fn table_json(family: &str, name: &str) -> serde_json::Value {
    normalise(&sh(&format!("nft -j list table {family} {name}")))
}

fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("handle");
            for (k, x) in m.iter_mut() {
                strip(x);
                if let (true, serde_json::Value::Array(a)) = (k == "elem", x) {
                    a.sort_by_key(|e| e.to_string());
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

pub fn normalise(text: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    strip(&mut v);
    if let Some(a) = v.get_mut("nftables").and_then(|a| a.as_array_mut()) {
        a.retain(|e| e.get("metainfo").is_none());
    }
    v
}

pub fn mapping(spec: &str, container: &str) -> PortMapping {
    spec.parse::<PortSpec>()
        .unwrap()
        .to_mapping(container.parse().unwrap())
        .unwrap()
}

pub fn endpoint(addr: &str, ports: &[&str]) -> Endpoint {
    let mut ep = Endpoint::new(&[addr.parse().unwrap()]).unwrap();
    for p in ports {
        ep = ep.publish(mapping(p, addr)).unwrap();
    }
    ep
}

pub fn net(bridge: &str, subnet: &str) -> Network {
    Network::builder(bridge)
        .ipv4(subnet.parse().unwrap())
        .build()
        .unwrap()
}

/// The scenario of the snapshot test (see src/scenario.rs): four networks
/// that use every chain, set and rule shape.
pub fn scenario() -> Vec<(Network, Vec<Endpoint>)> {
    use brnet_nat::GatewayMode;
    let docker0 = Network::builder("docker0")
        .ipv4("172.17.0.0/16".parse().unwrap())
        .ipv6("fd00:17::/64".parse().unwrap())
        .build()
        .unwrap();
    let mut c1 =
        Endpoint::new(&["172.17.0.2".parse().unwrap(), "fd00:17::2".parse().unwrap()]).unwrap();
    for (spec, addr) in [
        ("8080:80", "172.17.0.2"),
        ("5353:53/udp", "172.17.0.2"),
        ("9000:9000/sctp", "172.17.0.2"),
        ("127.0.0.1:8081:80", "172.17.0.2"),
        ("8000-8002:90-92", "172.17.0.2"),
        ("8080:80", "fd00:17::2"),
        ("[::1]:8082:80", "fd00:17::2"),
    ] {
        c1 = c1.publish(mapping(spec, addr)).unwrap();
    }
    let int = Network::builder("br-int")
        .ipv4("10.10.0.0/24".parse().unwrap())
        .internal(true)
        .icc(false)
        .build()
        .unwrap();
    let routed = Network::builder("br-routed")
        .ipv4("192.0.2.0/24".parse().unwrap())
        .gateway_mode(GatewayMode::Routed)
        .build()
        .unwrap();
    let snat = Network::builder("br-snat")
        .ipv4("10.20.0.0/20".parse().unwrap())
        .snat4("203.0.113.1".parse().unwrap())
        .build()
        .unwrap();
    vec![
        (docker0, vec![c1]),
        (int, vec![endpoint("10.10.0.2", &[])]),
        (routed, vec![endpoint("192.0.2.2", &["8080:80"])]),
        (snat, vec![]),
    ]
}
