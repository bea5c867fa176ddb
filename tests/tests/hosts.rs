//! Hosts unlike the one the tests run on, and hosts shared with others:
//! a kernel without IPv6 (booted with `ipv6.disable=1`: no
//! `/proc/sys/net/ipv6`), a read-only `/proc` (as in a container), a
//! ruleset flushed under us (`nft flush ruleset` on an nftables restart),
//! and two front ends with their own state sharing our table.

use std::net::SocketAddr;

use bridge_net::{BridgeNet, ConnectOptions, NetnsRef, NetworkOptions};
use brnet_netns::NetnsDir;
use brnet_tests::*;

fn custom(subnet: &str) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    o
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn with_port(spec: &str) -> ConnectOptions {
    ConnectOptions {
        ports: vec![spec.parse().unwrap()],
        ..ConnectOptions::default()
    }
}

/// Two containers on one network talk, and (`publish`) a published port
/// answers; then both leave and the network goes, leaving no link behind.
fn round_trip(b: &mut BridgeNet, subnet_prefix: &str, publish: bool) {
    b.create_network("n1", &custom(&format!("{subnet_prefix}.0/24")))
        .unwrap();
    let dir = NetnsDir::default();
    let c1 = dir.create("c1").unwrap();
    let c2 = dir.create("c2").unwrap();
    let (r1, r2): (NetnsRef, NetnsRef) = ("c1".parse().unwrap(), "c2".parse().unwrap());
    b.connect("n1", &r1, &ConnectOptions::default()).unwrap();
    let opts = if publish {
        with_port("8085:80")
    } else {
        ConnectOptions::default()
    };
    b.connect("n1", &r2, &opts).unwrap();
    serve(listen_in(&c2, addr(&format!("{subnet_prefix}.3:80"))), "c2");
    assert_eq!(
        fetch(Some(&c1), addr(&format!("{subnet_prefix}.3:80")), LONG).unwrap(),
        format!("c2 {subnet_prefix}.2\n")
    );
    if publish {
        assert!(
            fetch(None, addr(&format!("{subnet_prefix}.1:8085")), LONG).is_ok(),
            "the published port answers"
        );
    }
    b.disconnect("n1", &r1).unwrap();
    b.disconnect("n1", &r2).unwrap();
    b.remove_network("n1").unwrap();
    assert_eq!(link_names(), ["lo"]);
}

/// A kernel booted with `ipv6.disable=1` has no `/proc/sys/net/ipv6`:
/// an IPv4 network works there, IPv6 counting as off already on every
/// link. (Here the tree is hidden under a tmpfs in the sandbox's own
/// mount namespace, which is what such a kernel shows.)
#[test]
fn ipv4_networks_work_on_a_kernel_without_ipv6() {
    brnet_testkit::sandboxed(|| {
        sh(
            "mkdir /run/sysnet && mount --bind /proc/sys/net /run/sysnet && \
            mount -t tmpfs none /proc/sys/net && \
            for d in $(ls /run/sysnet); do [ $d = ipv6 ] && continue; \
              mkdir /proc/sys/net/$d && mount --bind /run/sysnet/$d /proc/sys/net/$d; done",
        );
        assert!(!std::path::Path::new("/proc/sys/net/ipv6").exists());
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        round_trip(&mut b, "10.70.0", true);
    });
}

/// A read-only `/proc` (a container's): sysctls already as the model
/// needs them are not written, so setup and teardown work when
/// `ip_forward` is on already (netavark's "read only /proc" test; a
/// published port would need `route_localnet`); when it is off, creating
/// a network fails with an error naming the file, and leaves nothing
/// behind.
#[test]
fn a_read_only_proc_is_fine_when_nothing_has_to_change() {
    brnet_testkit::sandboxed(|| {
        sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
        sh("mount -t proc -o ro,nosuid,nodev,noexec proc /proc");
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        round_trip(&mut b, "10.71.0", false);

        sh(
            "mount -t proc -o remount,rw /proc && echo 0 > /proc/sys/net/ipv4/ip_forward && \
            mount -t proc -o remount,ro /proc",
        );
        let e = b.create_network("n2", &custom("10.72.0.0/24")).unwrap_err();
        assert!(
            e.to_string().contains("/proc/sys/net/ipv4/ip_forward"),
            "{e}"
        );
        assert!(e.to_string().contains("EROFS"), "{e}");
        assert_eq!(link_names(), ["lo"]);
        assert_eq!(sh("nft list ruleset"), "");
    });
}

/// `nft flush ruleset` under a connected container: disconnect and
/// network removal still succeed, put no rule back, and leave nothing.
#[test]
fn teardown_after_a_flushed_ruleset() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("n1", &custom("10.73.0.0/24")).unwrap();
        NetnsDir::default().create("c1").unwrap();
        let r1: NetnsRef = "c1".parse().unwrap();
        b.connect("n1", &r1, &with_port("8085:80")).unwrap();
        sh("nft flush ruleset");
        assert!(b.disconnect("n1", &r1).unwrap());
        assert!(b.remove_network("n1").unwrap());
        assert_eq!(sh("nft list ruleset"), "");
        assert_eq!(link_names(), ["lo"]);
    });
}

/// Two front ends, each with its own state directory, share our table:
/// each keeps creating a network, connecting a container with a published
/// port, fetching from it through the port, and taking it all down again.
/// Neither ever removes the other's rules ("last network: the table
/// goes" is decided on the ruleset as it is when the removal commits).
#[test]
fn two_state_dirs_sharing_the_table_never_break_each_others_traffic() {
    brnet_testkit::sandboxed(|| {
        const CYCLES: usize = 25;
        let worker = |who: &'static str, prefix: &'static str, port: u16| {
            std::thread::spawn(move || {
                let dir = state_dir();
                let mut b = BridgeNet::open(dir.path()).unwrap();
                let ns = NetnsDir::default().create(who).unwrap();
                let r: NetnsRef = who.parse().unwrap();
                serve(listen_in(&ns, addr("0.0.0.0:80")), who);
                let mut broken = Vec::new();
                for i in 0..CYCLES {
                    let net = format!("{who}-net");
                    b.create_network(&net, &custom(&format!("{prefix}.0/24")))
                        .unwrap();
                    b.connect(&net, &r, &with_port(&format!("{port}:80")))
                        .unwrap();
                    let got = fetch(None, addr(&format!("{prefix}.1:{port}")), LONG);
                    if !got.as_ref().is_ok_and(|g| g.starts_with(who)) {
                        broken.push((i, format!("{got:?}")));
                    }
                    b.disconnect(&net, &r).unwrap();
                    b.remove_network(&net).unwrap();
                }
                broken
            })
        };
        let a = worker("a", "10.74.0", 8086);
        let b = worker("b", "10.75.0", 8087);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(
            a.is_empty() && b.is_empty(),
            "a published port stopped answering: a {a:?}, b {b:?}"
        );
        assert_eq!(sh("nft list ruleset"), "");
    });
}
