//! Docker 20.10 and docker-compose 1.29 running real containers on
//! bridge-net through this crate's plugin, each test on its own throwaway
//! Docker host (see `docker/mod.rs`). Every scenario is checked with
//! traffic and by reading the kernel back. The tests run one at a time:
//! each starts a dockerd.

#[path = "docker/mod.rs"]
mod docker;

use std::sync::Mutex;

use docker::{IMAGE, Sandbox};

const PLUGIN: &str = env!("CARGO_BIN_EXE_brnet-docker");

/// One Docker host at a time (two cores).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn sandbox() -> (std::sync::MutexGuard<'static, ()>, Sandbox) {
    let guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    (guard, Sandbox::new(PLUGIN))
}

/// [`sandbox`] with the `outside` namespace, and the picture before any
/// network (what the test compares with at its end).
fn sandbox_with_outside() -> (std::sync::MutexGuard<'static, ()>, Sandbox, String) {
    let (one, sb) = sandbox();
    sb.outside();
    let before = sb.picture();
    (one, sb, before)
}

/// Whether `from` reaches `to`'s port 80 within a few seconds.
fn reaches(sb: &Sandbox, from: &str, to: &str) -> bool {
    sb.exec(from, &format!("timeout 3 wget -q -O - http://{to}/"))
        .1
        .contains("hello")
}

#[test]
fn custom_network_addresses_names_ports_egress_isolation_and_nothing_left() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let (_one, sb, before) = sandbox_with_outside();

    // The seed's network and two containers: .2 and .3, the gateway their
    // only default route, the MAC 02:42 + the address.
    sb.docker_ok(
        "network create -d brnet --subnet 172.20.0.0/16 --gateway 172.20.0.1 \
         customNetwork",
    );
    let c1 = sb.run_web("c1", "customNetwork", &["-p", "8081:80"]);
    let c2 = sb.run_web("c2", "customNetwork", &[]);
    assert_eq!((c1.as_str(), c2.as_str()), ("172.20.0.2", "172.20.0.3"));
    let (_, addr) = sb.exec("c1", "ip -o addr show eth0; ip link show eth0; ip route");
    assert!(addr.contains("inet 172.20.0.2/16"), "{addr}");
    assert!(addr.contains("link/ether 02:42:ac:14:00:02"), "{addr}");
    let (_, routes) = sb.exec("c2", "ip route | grep default");
    assert_eq!(routes.trim(), "default via 172.20.0.1 dev eth0", "{routes}");
    let mac = sb.docker_ok(&[
        "inspect",
        "c1",
        "--format",
        "{{(index .NetworkSettings.Networks \"customNetwork\").MacAddress}}",
    ]);
    assert_eq!(mac, "02:42:ac:14:00:02");
    // The host side: the bridge with the gateway, both veths on it.
    let id = sb.docker_ok(&["network", "inspect", "customNetwork", "--format", "{{.Id}}"]);
    let bridge = format!("br-{}", &id[..12]);
    let br = sb.ok(&format!(
        "ip -o addr show dev {bridge}; ip -o link show master {bridge}"
    ));
    assert!(br.contains("inet 172.20.0.1/16"), "{br}");
    assert_eq!(br.matches("master").count(), 2, "{br}");
    let st = sb.state();
    assert_eq!(st.endpoints.len(), 2);
    assert_eq!(st.networks[0].rec.name, id);

    // Ping and TCP between them; names through dockerd's 127.0.0.11.
    let (ok, out) = sb.exec("c2", "ping -c1 -W2 172.20.0.2");
    assert!(ok, "{out}");
    assert!(reaches(&sb, "c2", "172.20.0.2"));
    let (_, resolv) = sb.exec("c2", "cat /etc/resolv.conf");
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert!(reaches(&sb, "c2", "c1"), "c2 -> c1 by name");
    assert!(reaches(&sb, "c1", "c2"), "c1 -> c2 by name");

    // -p 8081:80: from an outside namespace, the host's address, and
    // 127.0.0.1 — with no docker-proxy.
    assert_eq!(
        sb.get_when_up("http://127.0.0.1:8081/").as_deref(),
        Some("hello\n")
    );
    assert_eq!(
        sb.get("http://198.51.100.1:8081/").as_deref(),
        Some("hello\n")
    );
    assert_eq!(
        sb.get_outside("http://198.51.100.1:8081/").as_deref(),
        Some("hello\n")
    );
    let procs = sb.ok("ps -o comm | grep -c docker-proxy || true");
    assert_eq!(procs.trim(), "0");
    let rules = sb.ok("nft list ruleset");
    assert!(rules.contains("tcp . 8081 : 172.20.0.2 . 80"), "{rules}");
    // dockerd's FORWARD policy is DROP; our bridge's accepts are in
    // BRNET-FORWARD.
    let ipt = sb.ok("iptables -S");
    assert!(ipt.contains("-P FORWARD DROP"), "{ipt}");
    assert!(ipt.contains("-A FORWARD -j BRNET-FORWARD"), "{ipt}");
    assert!(
        ipt.contains(&format!("-A BRNET-FORWARD -i {bridge} -j ACCEPT")),
        "{ipt}"
    );

    // Egress, masqueraded to the host's address.
    // Up to 5 tries: under load busybox nc can see the server's close
    // before it has printed the reply.
    let (ok, out) = sb.exec(
        "c2",
        "for i in 1 2 3 4 5; do out=$(echo | timeout 5 nc 198.51.100.2 9000); \
         case $out in *peer*) echo \"$out\"; exit 0;; esac; sleep 1; done; \
         echo \"$out\"; exit 1",
    );
    assert!(ok && out.contains("peer 198.51.100.1"), "egress: {out}");

    // A second network: isolated both ways; published ports stay
    // reachable on the host's address.
    sb.network_create("brnet", "172.21.0.0/16", "other");
    let c3 = sb.run_web("c3", "other", &[]);
    assert_eq!(c3, "172.21.0.2");
    assert!(!reaches(&sb, "c3", &c1), "other -> customNetwork");
    assert!(!reaches(&sb, "c1", &c3), "customNetwork -> other");
    assert!(reaches(&sb, "c3", "198.51.100.1:8081"));

    // `network connect` on a running container: eth1, the default route
    // stays; then it reaches c3, and `disconnect` takes it away.
    sb.docker_ok(&["network", "connect", "other", "c2"]);
    let (_, a) = sb.exec("c2", "ip -o addr show eth1; ip route | grep default");
    assert!(a.contains("inet 172.21.0.3/16"), "{a}");
    assert!(a.contains("default via 172.20.0.1 dev eth0"), "{a}");
    assert!(reaches(&sb, "c2", "c3"));
    sb.docker_ok(&["network", "disconnect", "other", "c2"]);
    let (_, a) = sb.exec("c2", "ip -o addr");
    assert!(!a.contains("172.21."), "{a}");
    assert!(!reaches(&sb, "c2", &c3));
    assert_eq!(sb.state().endpoints.len(), 3);

    // The published port follows the gateway endpoint: connect c1 to a
    // network that sorts first ("aaa" < "customNetwork"); Docker moves
    // its default route there and the port with it.
    sb.network_create("brnet", "172.22.0.0/16", "aaa");
    sb.docker_ok(&["network", "connect", "aaa", "c1"]);
    let (_, r) = sb.exec("c1", "ip route | grep default");
    assert!(r.contains("via 172.22.0.1"), "{r}");
    let rules = sb.ok("nft list ruleset");
    assert!(rules.contains("tcp . 8081 : 172.22.0.2 . 80"), "{rules}");
    assert!(!rules.contains("172.20.0.2 . 80"), "{rules}");
    assert_eq!(
        sb.get_outside("http://198.51.100.1:8081/").as_deref(),
        Some("hello\n")
    );
    sb.docker_ok(&["network", "disconnect", "aaa", "c1"]);
    let rules = sb.ok("nft list ruleset");
    assert!(rules.contains("tcp . 8081 : 172.20.0.2 . 80"), "{rules}");
    assert_eq!(sb.get("http://127.0.0.1:8081/").as_deref(), Some("hello\n"));

    // rm -f, network rm: the picture of before.
    sb.docker_ok(&["rm", "-f", "c1", "c2", "c3"]);
    sb.docker_ok(&["network", "rm", "customNetwork", "other", "aaa"]);
    assert_eq!(sb.get("http://127.0.0.1:8081/"), None);
    let st = sb.state();
    assert!(st.endpoints.is_empty() && st.networks.is_empty());
    assert_eq!(sb.picture(), before);
}

#[test]
fn internal_options_ipv6_and_the_ipam_driver() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let (_one, sb, before) = sandbox_with_outside();

    // --internal: no default route, no egress, names still resolve; no
    // published port (dockerd sends none).
    sb.docker_ok(
        "network create -d brnet --internal --subnet 172.30.0.0/24 --aux-address \
         a1=172.30.0.2 int",
    );
    let i1 = sb.run_web("i1", "int", &[]);
    let i2 = sb.run_web("i2", "int", &[]);
    // The aux address is skipped by dockerd's IPAM; ours holds it too.
    assert_eq!((i1.as_str(), i2.as_str()), ("172.30.0.3", "172.30.0.4"));
    let (_, r) = sb.exec("i1", "ip route");
    assert!(!r.contains("default"), "{r}");
    assert!(reaches(&sb, "i2", "i1"));
    let (ok, out) = sb.exec("i1", "echo | timeout 3 nc 198.51.100.2 9000");
    assert!(!ok || !out.contains("peer"), "internal egress: {out}");

    // -o options reach the kernel: bridge name, MTU.
    sb.docker_ok(
        "network create -d brnet --subnet 172.31.0.0/24 -o \
         com.docker.network.bridge.name=brtest -o com.docker.network.driver.mtu=1400 opts",
    );
    // --ip as given. (--mac-address cannot be tested here: the machine's
    // docker client, 28.x, refuses to send it to a 20.10 daemon.)
    let ip = sb.run_web("o1", "opts", &["--ip", "172.31.0.42"]);
    assert_eq!(ip, "172.31.0.42");
    let br = sb.ok("ip -o link show brtest");
    assert!(br.contains("mtu 1400"), "{br}");
    let (_, l) = sb.exec("o1", "ip -o link show eth0");
    assert!(
        l.contains("mtu 1400") && l.contains("link/ether 02:42:ac:1f:00:2a"),
        "{l}"
    );
    // A bad option: the error names it, nothing is left.
    let picture = sb.picture();
    let e = sb.docker_err("network create -d brnet --subnet 172.29.0.0/24 -o foo=bar bad");
    assert!(e.contains("foo") && e.contains("unknown option"), "{e}");
    assert_eq!(sb.picture(), picture);

    // --ipv6: both families on the container.
    sb.docker_ok(
        "network create -d brnet --ipv6 --subnet 172.28.0.0/24 --subnet fd00:28::/64 \
         v6net",
    );
    sb.run_web("v1", "v6net", &[]);
    sb.run_web("v2", "v6net", &[]);
    let (_, a) = sb.exec("v1", "ip -o addr show eth0");
    assert!(a.contains("inet6 fd00:28::2/64"), "{a}");
    let (ok, out) = sb.exec("v2", "ping -c1 -W2 fd00:28::2");
    assert!(ok, "{out}");

    // --ipam-driver brnet: bridge-net's serial IPAM (a released address is
    // not handed out again at once).
    sb.docker_ok("network create -d brnet --ipam-driver brnet --subnet 172.27.0.0/24 ours");
    let gw = sb.docker_ok(&[
        "network",
        "inspect",
        "ours",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    ]);
    assert!(gw.is_empty() || gw == "172.27.0.1", "{gw}");
    assert_eq!(sb.run_web("p1", "ours", &[]), "172.27.0.2");
    sb.docker_ok(&["rm", "-f", "p1"]);
    assert_eq!(sb.run_web("p2", "ours", &[]), "172.27.0.3");
    // ... and with no --subnet, a default pool.
    sb.docker_ok("network create -d brnet --ipam-driver brnet ours2");
    let sub = sb.docker_ok(&[
        "network",
        "inspect",
        "ours2",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
    ]);
    assert!(sub.starts_with("172."), "{sub}");
    let ipam = String::from_utf8(sb.read("/var/lib/brnet/docker/ipam.json").unwrap()).unwrap();
    assert!(ipam.contains("172.27.0.0/24"), "{ipam}");

    for c in ["i1", "i2", "o1", "v1", "v2", "p2"] {
        sb.docker_ok(&["rm", "-f", c]);
    }
    for n in ["int", "opts", "v6net", "ours", "ours2"] {
        sb.docker_ok(&["network", "rm", n]);
    }
    let ipam = String::from_utf8(sb.read("/var/lib/brnet/docker/ipam.json").unwrap()).unwrap();
    assert!(!ipam.contains("172.27."), "{ipam}");
    assert_eq!(sb.picture(), before);
}

#[test]
fn compose_project_and_concurrent_runs_on_the_driver() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let (_one, sb) = sandbox();
    let before = sb.picture();
    sb.ok("mkdir -p /run/dk/proj");
    sb.write(
        "/run/dk/proj/docker-compose.yml",
        &format!(
            r#"version: "3.8"
services:
  web:
    image: {IMAGE}
    command: httpd -f -p 80 -h /www
    ports:
      - "8081:80"
  client:
    image: {IMAGE}
    command: sleep 1000
networks:
  default:
    driver: brnet
"#
        ),
    );
    sb.ok("cd /run/dk/proj && docker-compose -p proj up -d 2>&1");
    let nets = sb.docker_ok(&[
        "network",
        "ls",
        "--filter",
        "driver=brnet",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(nets, "proj_default");
    let out = sb.docker_ok(&[
        "exec",
        "proj_client_1",
        "sh",
        "-c",
        "timeout 5 wget -q -O - http://web/",
    ]);
    assert_eq!(out, "hello");
    assert_eq!(
        sb.get_when_up("http://127.0.0.1:8081/").as_deref(),
        Some("hello\n")
    );
    assert_eq!(sb.state().endpoints.len(), 2);
    // Eight more containers started and removed all at once: the driver's
    // calls interleave.
    sb.ok(
        "for i in 1 2 3 4 5 6 7 8; do docker run -d --name p$i --network proj_default bb sleep 1000 >/dev/null & done; wait",
    );
    let addrs = sb.ok(
        "for i in 1 2 3 4 5 6 7 8; do docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' p$i; done | sort -u",
    );
    assert_eq!(addrs.lines().count(), 8, "{addrs}");
    assert_eq!(sb.state().endpoints.len(), 10);
    let (ok, out) = sb.exec("p8", "ping -c1 -W2 p1 && ping -c1 -W2 web");
    assert!(ok, "{out}");
    sb.ok("for i in 1 2 3 4 5 6 7 8; do docker rm -f p$i >/dev/null & done; wait");
    assert_eq!(sb.state().endpoints.len(), 2);
    sb.ok("cd /run/dk/proj && docker-compose -p proj down 2>&1");
    assert!(sb.state().networks.is_empty());
    assert_eq!(sb.picture(), before);
}

#[test]
fn plugin_and_dockerd_restarts_and_a_dockerd_crash() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let sb = Sandbox::with(PLUGIN, true);
    let before = sb.picture();
    sb.network_create("brnet", "172.20.0.0/16", "customNetwork");
    sb.run_web("c1", "customNetwork", &["-p", "8081:80"]);
    sb.run_web("c2", "customNetwork", &[]);

    // Plugin restart: containers keep working, a new one connects.
    sb.stop_plugin();
    assert!(reaches(&sb, "c2", "c1"));
    // Without our accepts in iptables' FORWARD, dockerd's DROP policy
    // (with bridge-nf-call on) stops even traffic within one bridge; the
    // plugin's start puts them back.
    assert_eq!(
        sb.ok("cat /proc/sys/net/bridge/bridge-nf-call-iptables")
            .trim(),
        "1"
    );
    sb.ok("iptables -F BRNET-FORWARD");
    assert!(!reaches(&sb, "c2", "c1"));
    sb.start_plugin();
    assert!(reaches(&sb, "c2", "c1"));
    assert_eq!(sb.get("http://127.0.0.1:8081/").as_deref(), Some("hello\n"));
    assert_eq!(sb.run_web("c3", "customNetwork", &[]), "172.20.0.4");
    assert!(reaches(&sb, "c3", "c1"));

    // dockerd restart (live-restore): the same.
    sb.stop_dockerd("TERM");
    sb.start_dockerd();
    assert!(reaches(&sb, "c2", "c1"));
    assert_eq!(sb.get("http://127.0.0.1:8081/").as_deref(), Some("hello\n"));
    assert_eq!(sb.run_web("c4", "customNetwork", &[]), "172.20.0.5");
    assert!(reaches(&sb, "c4", "c1"));
    assert_eq!(sb.state().endpoints.len(), 4);
    sb.docker_ok(&["rm", "-f", "c3", "c4"]);

    // dockerd SIGKILL, and its containers die while it is down: its
    // restart drops their stale sandboxes without telling the plugin; the
    // endpoints are collected.
    let pids = sb.docker_ok(&["inspect", "--format", "{{.State.Pid}}", "c1", "c2"]);
    sb.stop_dockerd("KILL");
    sb.ok(&format!(
        "kill -KILL {}",
        pids.split_whitespace().collect::<Vec<_>>().join(" ")
    ));
    sb.start_dockerd();
    sb.docker_ok(&["rm", "-f", "c1", "c2"]);
    sb.docker_ok(&["network", "rm", "customNetwork"]);
    let log = sb
        .read("/run/dk/plugin.log")
        .map(|b| docker::text(&b))
        .unwrap_or_default();
    assert!(log.contains("collected: its container vanished"), "{log}");
    let st = sb.state();
    assert!(st.endpoints.is_empty() && st.networks.is_empty(), "{st:?}");
    assert_eq!(sb.picture(), before);
    drop(sb);
    drop(guard);
}

#[test]
fn bad_requests_get_protocol_errors_and_leave_nothing() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let (_one, sb) = sandbox();
    let before = sb.picture();
    let out = sb.call("Plugin.Activate", "");
    assert!(
        out.contains("200 OK") && out.contains(r#"["NetworkDriver","IpamDriver"]"#),
        "{out}"
    );
    let out = sb.call("NetworkDriver.CreateNetwork", "{not json");
    assert!(
        out.contains("500")
            && out.contains(r#""Err":"NetworkDriver.CreateNetwork: malformed request"#),
        "{out}"
    );
    let out = sb.call(
        "NetworkDriver.Join",
        &format!(
            r#"{{"NetworkID":"{0}","EndpointID":"{0}"}}"#,
            "ab".repeat(32)
        ),
    );
    assert!(
        out.contains("500") && out.contains("endpoint abababababab"),
        "{out}"
    );
    let out = sb.call(
        "IpamDriver.RequestAddress",
        r#"{"PoolID":"brnet/x","Address":""}"#,
    );
    assert!(
        out.contains("500") && out.contains(r#""Error":"pool \"brnet/x\" not found"#),
        "{out}"
    );
    let out = sb.call("NetworkDriver.Nope", "{}");
    assert!(out.contains("404"), "{out}");
    // A port already taken: the container does not start, nothing is left
    // of it.
    sb.network_create("brnet", "172.20.0.0/16", "n");
    sb.run_web("c1", "n", &["-p", "8081:80"]);
    let e = sb.docker_err(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "n",
        "-p",
        "8081:80",
        IMAGE,
        "httpd",
        "-f",
    ]);
    assert!(e.contains("8081") && e.contains("in use"), "{e}");
    assert_eq!(sb.state().endpoints.len(), 1);
    // A host range takes its first free port; `-p 80` one of the
    // ephemeral range.
    let c3 = sb.run_web("c3", "n", &["-p", "8081-8085:80"]);
    let rules = sb.ok("nft list ruleset");
    assert!(
        rules.contains(&format!("tcp . 8082 : {c3} . 80")),
        "{rules}"
    );
    assert_eq!(
        sb.get_when_up("http://127.0.0.1:8082/").as_deref(),
        Some("hello\n")
    );
    let c4 = sb.run_web("c4", "n", &["-p", "80"]);
    let rules = sb.ok("nft list ruleset");
    let port = rules
        .lines()
        .find(|l| l.contains(&format!(": {c4} . 80")))
        .and_then(|l| l.split(" . ").nth(1))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port for {c4}: {rules}"));
    assert!(port >= 1024, "{port}");
    assert_eq!(
        sb.get_when_up(&format!("http://127.0.0.1:{port}/"))
            .as_deref(),
        Some("hello\n")
    );
    // dockerd's IPAM is the authority on addresses: one it hands out
    // again goes to the new endpoint, and the endpoint still holding it
    // (a container lost in a dockerd crash) is removed, veth and all.
    let net = sb.docker_ok(&["network", "inspect", "n", "--format", "{{.Id}}"]);
    let create = |id: &str| {
        sb.call(
            "NetworkDriver.CreateEndpoint",
            &format!(
                r#"{{"NetworkID":"{net}","EndpointID":"{id}","Interface":{{"Address":"172.20.0.50/16","AddressIPv6":"","MacAddress":""}},"Options":{{}}}}"#
            ),
        )
    };
    let (old, new) = ("a1".repeat(32), "b2".repeat(32));
    let out = create(&old);
    assert!(
        out.contains("200 OK") && out.contains("02:42:ac:14:00:32"),
        "{out}"
    );
    let old_veth = sb.state().endpoints[&old].host_veth.clone();
    let out = create(&new);
    assert!(out.contains("200 OK"), "{out}");
    let st = sb.state();
    assert!(!st.endpoints.contains_key(&old) && st.endpoints.contains_key(&new));
    assert!(!sb.ok("ip -o link").contains(&old_veth));
    let out = sb.call(
        "NetworkDriver.DeleteEndpoint",
        &format!(r#"{{"NetworkID":"{net}","EndpointID":"{new}"}}"#),
    );
    assert!(out.contains("200 OK"), "{out}");
    sb.docker_ok(&["rm", "-f", "c1", "c2", "c3", "c4"]);
    sb.docker_ok(&["network", "rm", "n"]);
    assert_eq!(sb.picture(), before);
}
