//! Podman 4.3 with its CNI backend running real containers on bridge-net:
//! this crate's binary installed as `bridge` in the `cni_plugin_dirs`
//! directory Podman lists first, the reference `portmap`, `firewall` and
//! `tuning` after it, in the 0.4.0 conflists Podman writes. Each test
//! builds its own throwaway Podman host (`brnet_testkit::podman`, shared with brnet-netavark).

use brnet_testkit::podman::{
    Backend, Sandbox, published_port_and_isolation, removed_leaves_no_veth_nor_rule,
};

const OURS: &str = env!("CARGO_BIN_EXE_brnet-cni");

fn sandbox() -> Sandbox {
    Sandbox::new(Backend::Cni(Some(OURS.into())))
}

#[test]
fn published_port_isolation_restart_and_nothing_left() {
    if !brnet_testkit::privileged_test() {
        return;
    }
    let sb = sandbox();
    // The port (published by the reference portmap in the chain), the
    // address, and isolation from another Podman network (the reference
    // bridge plugin does not isolate: this is bridge-net's doing).
    let web = published_port_and_isolation(&sb);
    let conflist = sb.ok("cat /run/pm/net/testnet.conflist");
    assert!(
        conflist.contains("\"cniVersion\": \"0.4.0\"") && conflist.contains("portmap"),
        "{conflist}"
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
    removed_leaves_no_veth_nor_rule(&sb, &web, 8080);
    assert_eq!(endpoints(&sb), 0);
}

// By name, and the default network (nothing of Podman's to add while
// `web` runs).
brnet_testkit::podman_tests!(
    backend: Backend::Cni(Some(OURS.into())),
    while_running: |_| {},
    bridge_goes: false,
);
