//! Podman 4.3 running real containers on bridge-net through the netavark
//! contract: this crate's binary installed as `netavark` in the
//! `helper_binaries_dir` Podman lists first. Each test builds its own
//! throwaway Podman host (`brnet_testkit::podman`).

use brnet_testkit::podman::{
    Backend, IMAGE, Sandbox, published_port_and_isolation, removed_leaves_no_veth_nor_rule,
    run_httpd,
};

const OURS: &str = env!("CARGO_BIN_EXE_brnet-netavark");

fn sandbox() -> Sandbox {
    Sandbox::new(Backend::Netavark(Some(OURS.into())))
}

#[test]
fn published_port_address_isolation_and_nothing_left() {
    if !brnet_testkit::privileged_test() {
        return;
    }
    let sb = sandbox();
    let web = published_port_and_isolation(&sb);

    // The scenario's links, rules and records while it runs.
    assert!(sb.links().contains("podman1"), "{}", sb.links());
    assert!(sb.ruleset().contains(&web.ip), "{}", sb.ruleset());
    assert_eq!(endpoints(&sb), 1);

    // `rm -f -t 0` (httpd as PID 1 ignores SIGTERM): no veth, no rule,
    // no allocation left; the network went with its last container.
    let links = removed_leaves_no_veth_nor_rule(&sb, &web, 8080);
    assert!(!links.contains("podman1"), "{links}");
    assert_eq!(endpoints(&sb), 0);
}

// By name, and the default network: `podman network connect` and
// `disconnect` while `web` runs (eth1 comes and goes, the published port
// stays).
brnet_testkit::podman_tests!(
    backend: Backend::Netavark(Some(OURS.into())),
    while_running: |sb| {
        sb.podman_ok(&["network", "create", "--subnet", "10.91.0.0/24", "extra"]);
        sb.podman_ok(&["network", "connect", "extra", "web"]);
        let addrs = sb.podman_ok(&["exec", "web", "ip", "-4", "addr"]);
        assert!(addrs.contains("inet 10.91.0."), "{addrs}");
        sb.podman_ok(&["network", "disconnect", "extra", "web"]);
        let addrs = sb.podman_ok(&["exec", "web", "ip", "-4", "addr"]);
        assert!(!addrs.contains("inet 10.91.0."), "{addrs}");
        assert_eq!(sb.get("http://127.0.0.1:8081/").as_deref(), Some("hello\n"));
    },
    bridge_goes: true,
);

/// An IPv6-only Podman network (`--subnet fd89::/64`: Podman 4.3 adds an
/// IPv4 subnet to `--ipv6`, not to an IPv6 subnet alone):
/// the container's IPv6 address answers from the host, from a second
/// container by address and by name (the resolver answers on the IPv6
/// gateway), and its published port on the gateway's address.
#[test]
fn ipv6_only_network() {
    if !brnet_testkit::privileged_test() {
        return;
    }
    let sb = sandbox();
    sb.podman_ok(&["network", "create", "--subnet", "fd89::/64", "v6net"]);
    let subnets = sb.podman_ok(&["network", "inspect", "v6net", "--format", "{{.Subnets}}"]);
    assert!(!subnets.contains('.'), "no IPv4 subnet: {subnets}");
    sb.podman_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "v6net",
        "-p",
        "8080:80",
        IMAGE,
        "httpd",
        "-f",
        "-p",
        "[::]:80",
        "-h",
        "/www",
    ]);
    let ip = sb.podman_ok(&[
        "inspect",
        "web",
        "--format",
        "{{(index .NetworkSettings.Networks \"v6net\").GlobalIPv6Address}}",
    ]);
    assert!(ip.starts_with("fd89::"), "{ip}");
    let v4 = sb.podman_ok(&["exec", "web", "ip", "-4", "addr", "show", "eth0"]);
    assert!(!v4.contains("inet "), "{v4}");
    let route = sb.podman_ok(&["exec", "web", "ip", "-6", "route", "show", "default"]);
    assert!(route.contains("via fd89::1"), "{route}");
    // From the host: the container, and the port published on the gateway.
    assert_eq!(
        sb.get_when_up(&format!("http://[{ip}]:80/")).as_deref(),
        Some("hello\n")
    );
    assert_eq!(sb.get("http://[fd89::1]:8080/").as_deref(), Some("hello\n"));
    // From a second container: by address and by name.
    let (ok, out) = sb.in_container(
        "v6net",
        &format!("timeout 5 wget -q -O - http://[{ip}]/ && cat /etc/resolv.conf && timeout 5 wget -q -O - http://web/"),
    );
    assert!(ok && out.matches("hello").count() == 2, "{out}");
    assert!(out.contains("nameserver fd89::1"), "{out}");
    sb.podman_ok(&["rm", "-f", "-t", "0", "web"]);
    assert!(!sb.links().contains("podman1"), "{}", sb.links());
    assert_eq!(endpoints(&sb), 0);
}

/// A macvlan Podman network (`-d macvlan -o parent=lan0`), its parent a
/// veth to a "LAN" namespace inside the sandbox: the container answers
/// the LAN at its own address, reaches the LAN's router, and a second
/// container reaches it; nothing is left on the host, and the parent
/// stays.
#[test]
fn macvlan_network() {
    if !brnet_testkit::privileged_test() {
        return;
    }
    let sb = sandbox();
    sb.ok(&format!(
        "set -e
         {}
         mkdir -p /run/lanwww && echo lan > /run/lanwww/index.html
         ip netns exec lan busybox httpd -p 80 -h /run/lanwww",
        brnet_testkit::topo::lan_script("lan0")
    ));
    sb.podman_ok(
        "network create -d macvlan -o parent=lan0 --subnet 192.168.50.0/24 --gateway \
         192.168.50.1 mvnet",
    );
    let before = sb.links();
    let ip = run_httpd(&sb, "web", "mvnet", &[]);
    assert!(ip.starts_with("192.168.50."), "{ip}");
    // The kernel's view, by the sandbox's iproute2 (busybox's has no -d).
    let pid = sb.podman_ok(&["inspect", "web", "--format", "{{.State.Pid}}"]);
    let link = sb.ok(&format!("nsenter -t {pid} -n ip -d link show eth0"));
    assert!(link.contains("macvlan mode bridge"), "{link}");
    assert_eq!(sb.links(), before, "nothing of it on the host");
    // The LAN reaches it at its own address; it reaches the LAN's router.
    let mut got = None;
    for _ in 0..50 {
        let out = sb.sh(&format!(
            "ip netns exec lan timeout 3 busybox wget -q -O - http://{ip}/"
        ));
        if out.status.success() {
            got = Some(String::from_utf8_lossy(&out.stdout).into_owned());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got.as_deref(), Some("hello\n"));
    let out = sb.podman_ok("exec web timeout 5 wget -q -O - http://192.168.50.1/");
    assert_eq!(out, "lan");
    let route = sb.podman_ok(&["exec", "web", "ip", "route", "show", "default"]);
    assert!(route.contains("via 192.168.50.1"), "{route}");
    // A second container on it reaches the first.
    let (ok, out) = sb.in_container("mvnet", &format!("timeout 5 wget -q -O - http://{ip}/"));
    assert!(ok && out.contains("hello"), "{out}");
    sb.podman_ok(&["rm", "-f", "-t", "0", "web"]);
    assert_eq!(endpoints(&sb), 0);
    assert!(sb.links().contains("lan0"), "the parent stays");
}
