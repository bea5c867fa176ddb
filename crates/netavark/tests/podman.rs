//! Podman 4.3 running real containers on bridge-net through the netavark
//! contract: this crate's binary installed as `netavark` in the
//! `helper_binaries_dir` Podman lists first. Each test builds its own
//! throwaway Podman host (see `podman/mod.rs`).

#[path = "podman/mod.rs"]
mod podman;

use podman::{Backend, IMAGE, Sandbox, run_web};

const OURS: &str = env!("CARGO_BIN_EXE_brnet-netavark");

fn sandbox() -> Sandbox {
    Sandbox::new(Backend::Netavark(Some(OURS.into())))
}

/// What bridge-net's state holds, read from outside the sandbox.
fn endpoints(sb: &Sandbox) -> usize {
    let bytes = sb
        .read("/run/containers/networks/brnet/state.json")
        .expect("bridge-net's state under Podman's --config directory");
    bridge_net::state::State::parse(&bytes)
        .expect("a readable state")
        .endpoints
        .len()
}

#[test]
fn published_port_address_isolation_and_nothing_left() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let sb = sandbox();
    sb.podman_ok(&["network", "create", "--subnet", "10.89.0.0/24", "testnet"]);
    let web = run_web(&sb, "web", "testnet", 8080);
    assert!(web.ip.starts_with("10.89.0."), "{}", web.ip);

    // From the sandbox: the host port on loopback and on the gateway, and
    // the container's own address.
    assert_eq!(sb.get("http://10.89.0.1:8080/").as_deref(), Some("hello\n"));
    assert_eq!(
        sb.get(&format!("http://{}:80/", web.ip)).as_deref(),
        Some("hello\n")
    );

    // A second container on the same network reaches it by address.
    let (ok, out) = sb.in_container(
        "testnet",
        &format!("timeout 5 wget -q -O - http://{}/", web.ip),
    );
    assert!(ok && out.contains("hello"), "by address: {out}");

    // A container on another Podman network cannot reach it directly, but
    // does reach the port published on its own gateway.
    sb.podman_ok(&["network", "create", "--subnet", "10.90.0.0/24", "othernet"]);
    let (ok, out) = sb.in_container(
        "othernet",
        &format!("timeout 3 wget -q -O - http://{}/", web.ip),
    );
    assert!(!ok, "othernet reached {} directly: {out}", web.ip);
    let (ok, out) = sb.in_container("othernet", "timeout 5 wget -q -O - http://10.90.0.1:8080/");
    assert!(
        ok && out.contains("hello"),
        "published port from othernet: {out}"
    );

    // The scenario's links, rules and records while it runs.
    assert!(sb.links().contains("podman1"), "{}", sb.links());
    assert!(sb.ruleset().contains(&web.ip), "{}", sb.ruleset());
    assert_eq!(endpoints(&sb), 1);

    // `rm -f -t 0` (httpd as PID 1 ignores SIGTERM): no veth, no rule,
    // no allocation left; the network went with its last container.
    sb.podman_ok(&["rm", "-f", "-t", "0", "web"]);
    let links = sb.links();
    assert!(
        !links.contains("veth") && !links.contains("podman1"),
        "{links}"
    );
    let rules = sb.ruleset();
    assert!(
        !rules.contains(&web.ip) && !rules.contains("8080"),
        "{rules}"
    );
    assert_eq!(endpoints(&sb), 0);
    assert_eq!(sb.get("http://127.0.0.1:8080/"), None);
}

#[test]
fn second_container_reaches_the_first_by_name() {
    if !brnet_netns::privileged_test() {
        return;
    }
    // bridge-net's resolver is `brnet-dns`, found beside the binary that
    // connects (cargo builds it there for `cargo test --workspace`).
    let resolver = std::path::Path::new(OURS).with_file_name("brnet-dns");
    assert!(
        resolver.is_file(),
        "{} is missing: cargo build -p brnet-dns (the resolver)",
        resolver.display()
    );
    let sb = sandbox();
    sb.podman_ok(&["network", "create", "--subnet", "10.89.0.0/24", "testnet"]);
    let _web = run_web(&sb, "web", "testnet", 8080);
    let (ok, out) = sb.in_container(
        "testnet",
        "cat /etc/resolv.conf; timeout 5 wget -q -O - http://web/",
    );
    assert!(ok && out.contains("hello"), "by name: {out}");
    // `--ip`: the address asked for.
    let out = sb.podman_ok(&[
        "run",
        "--rm",
        "--network",
        "testnet",
        "--ip",
        "10.89.0.50",
        IMAGE,
        "ip",
        "-4",
        "addr",
    ]);
    assert!(out.contains("inet 10.89.0.50/24"), "--ip: {out}");
    sb.podman_ok(&["rm", "-f", "-t", "0", "web"]);
}

#[test]
fn default_podman_network() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let sb = sandbox();
    let web = run_web(&sb, "web", "podman", 8081);
    assert!(web.ip.starts_with("10.88."), "{}", web.ip);
    assert_eq!(
        sb.get(&format!("http://{}:80/", web.ip)).as_deref(),
        Some("hello\n")
    );
    let (ok, out) = sb.in_container(
        "podman",
        &format!("timeout 5 wget -q -O - http://{}/", web.ip),
    );
    assert!(ok && out.contains("hello"), "{out}");
    // `podman network connect` and `disconnect` while it runs: eth1 comes
    // and goes, the published port stays.
    sb.podman_ok(&["network", "create", "--subnet", "10.91.0.0/24", "extra"]);
    sb.podman_ok(&["network", "connect", "extra", "web"]);
    let addrs = sb.podman_ok(&["exec", "web", "ip", "-4", "addr"]);
    assert!(addrs.contains("inet 10.91.0."), "{addrs}");
    sb.podman_ok(&["network", "disconnect", "extra", "web"]);
    let addrs = sb.podman_ok(&["exec", "web", "ip", "-4", "addr"]);
    assert!(!addrs.contains("inet 10.91.0."), "{addrs}");
    assert_eq!(sb.get("http://127.0.0.1:8081/").as_deref(), Some("hello\n"));
    // A container with the default network and no -p, started and removed
    // while the first runs.
    sb.podman_ok(&["run", "--rm", IMAGE, "true"]);
    sb.podman_ok(&["rm", "-f", "-t", "0", "web"]);
    let links = sb.links();
    assert!(
        !links.contains("veth") && !links.contains("podman0"),
        "{links}"
    );
    assert_eq!(endpoints(&sb), 0);
}
