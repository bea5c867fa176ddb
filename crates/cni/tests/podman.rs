//! Podman 4.3 with its CNI backend running real containers on bridge-net:
//! this crate's binary installed as `bridge` in the `cni_plugin_dirs`
//! directory Podman lists first, the reference `portmap`, `firewall` and
//! `tuning` after it, in the 0.4.0 conflists Podman writes. Each test
//! builds its own throwaway Podman host (the harness is brnet-netavark's).

#[path = "../../netavark/tests/podman/mod.rs"]
mod podman;

use podman::{Backend, IMAGE, Sandbox, run_web};

const OURS: &str = env!("CARGO_BIN_EXE_brnet-cni");

fn sandbox() -> Sandbox {
    Sandbox::new(Backend::Cni(Some(OURS.into())))
}

/// How many endpoints bridge-net's state holds, read from outside.
fn endpoints(sb: &Sandbox) -> usize {
    let bytes = sb
        .read("/run/brnet/cni/state.json")
        .expect("the plugin's state in its default directory");
    bridge_net::state::State::parse(&bytes)
        .expect("a readable state")
        .endpoints
        .len()
}

#[test]
fn published_port_isolation_restart_and_nothing_left() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let sb = sandbox();
    sb.podman_ok(&["network", "create", "--subnet", "10.89.0.0/24", "testnet"]);
    let conflist = sb.ok("cat /run/pm/net/testnet.conflist");
    assert!(
        conflist.contains("\"cniVersion\": \"0.4.0\"") && conflist.contains("portmap"),
        "{conflist}"
    );
    let web = run_web(&sb, "web", "testnet", 8080);
    assert!(web.ip.starts_with("10.89.0."), "{}", web.ip);

    // From the sandbox: the port (published by the reference portmap in
    // the chain) on loopback and on the gateway, and the address itself.
    assert_eq!(sb.get("http://10.89.0.1:8080/").as_deref(), Some("hello\n"));
    assert_eq!(
        sb.get(&format!("http://{}:80/", web.ip)).as_deref(),
        Some("hello\n")
    );
    let (ok, out) = sb.in_container(
        "testnet",
        &format!("timeout 5 wget -q -O - http://{}/", web.ip),
    );
    assert!(ok && out.contains("hello"), "by address: {out}");

    // Another Podman network is isolated from this one (the reference
    // bridge plugin does not isolate: this is bridge-net's doing).
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

    // Stop and start: a new namespace, the same address.
    sb.podman_ok(&["stop", "-t", "0", "web"]);
    assert_eq!(endpoints(&sb), 0);
    sb.podman_ok(&["start", "web"]);
    assert_eq!(
        sb.address("web", "testnet"),
        web.ip,
        "the address changed across stop/start"
    );
    assert_eq!(
        sb.get_when_up("http://127.0.0.1:8080/").as_deref(),
        Some("hello\n")
    );
    assert_eq!(endpoints(&sb), 1);

    // rm -f -t 0: no veth, no rule, no allocation.
    sb.podman_ok(&["rm", "-f", "-t", "0", "web"]);
    let links = sb.links();
    assert!(!links.contains("veth"), "{links}");
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
    let brnet = std::path::Path::new(OURS).with_file_name("brnet");
    assert!(
        brnet.is_file(),
        "{} is missing: cargo build -p brnet-cli (the resolver)",
        brnet.display()
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
    sb.podman_ok(&["run", "--rm", IMAGE, "true"]);
    sb.podman_ok(&["rm", "-f", "-t", "0", "web"]);
    assert!(!sb.links().contains("veth"), "{}", sb.links());
    assert_eq!(endpoints(&sb), 0);
}
