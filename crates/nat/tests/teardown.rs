//! Removal on the kernels our users run, and whatever is left of our
//! table: the pre-6.3 path (read back, then delete exactly what is there)
//! leaves what `NFT_MSG_DESTROY*` leaves; teardown after `nft flush
//! ruleset` succeeds and creates nothing; handles that share the table,
//! creating and removing networks at once, never remove each other's;
//! an unprivileged (rootless) handle sends big transactions.

mod common;

use std::sync::{Arc, Barrier};

use brnet_nat::{Backend, Drift, Firewall, GatewayMode, Network};
use brnet_netns::{isolated, privileged_test};
use brnet_testkit::cmd::*;
use common::*;

fn firewall(backend: Backend, legacy: bool) -> Firewall {
    let mut fw = Firewall::new(backend).unwrap();
    if legacy {
        fw.use_legacy_removal();
    }
    fw
}

/// The same operations through both removal paths leave the same ruleset
/// after every step, as read back from the kernel.
#[test]
fn legacy_removal_leaves_what_destroy_leaves() {
    if !privileged_test() {
        return;
    }
    let steps = |legacy: bool| {
        isolated(move || {
            let nets = scenario();
            let (docker0, eps) = &nets[0];
            let mut fw = firewall(Backend::Native, legacy);
            let mut seen = Vec::new();
            let mut step = |fw: &mut Firewall, what: &str| {
                seen.push((what.to_owned(), ruleset_json(), fw.uses_destroy()));
            };
            for (n, e) in &nets {
                fw.install_network(n, e).unwrap();
            }
            step(&mut fw, "install");
            fw.add_ports(docker0, &[mapping("7000:70", "172.17.0.2")])
                .unwrap();
            fw.remove_ports(docker0, &[mapping("7000:70", "172.17.0.2")])
                .unwrap();
            step(&mut fw, "remove ports");
            // Twice: the second finds nothing to remove.
            fw.remove_endpoint(docker0, &eps[0]).unwrap();
            fw.remove_endpoint(docker0, &eps[0]).unwrap();
            step(&mut fw, "remove endpoint");
            // A network replaced by one with fewer chains: its unwanted
            // chains and dispatch entries go.
            let (routed, routed_eps) = &nets[2];
            let nat = Network::builder(routed.bridge().as_str())
                .ipv4(routed.ipv4().unwrap())
                .gateway_mode(GatewayMode::Nat)
                .internal(true)
                .build()
                .unwrap();
            fw.install_network(&nat, &[]).unwrap();
            step(&mut fw, "replace routed by internal");
            fw.install_network(routed, routed_eps).unwrap();
            step(&mut fw, "replace back");
            fw.remove_network(docker0).unwrap();
            step(&mut fw, "remove docker0");
            for (n, _) in &nets {
                fw.remove_network(n).unwrap();
            }
            step(&mut fw, "remove all");
            assert_eq!(sh("nft list tables"), "");
            seen
        })
        .unwrap()
    };
    let destroy = steps(false);
    let legacy = steps(true);
    // Before 6.3 (Debian 12's 6.1: `cargo xtask kernels`) the default
    // path finds DESTROY refused and falls back to the legacy one.
    let has_destroy = kernel_at_least(6, 3);
    for ((what, d, d_mode), (_, l, l_mode)) in destroy.iter().zip(&legacy) {
        assert_eq!(l, d, "after {what}: the legacy path differs");
        assert_eq!(*l_mode, Some(false), "after {what}");
        assert_ne!(*d_mode, Some(!has_destroy), "after {what}");
    }
    assert_eq!(destroy.last().unwrap().2, Some(has_destroy));
}

/// Whether the running kernel is MAJOR.MINOR or later.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (major, minor)
}

/// `nft flush ruleset` (a stock nftables.conf does it on restart) takes
/// our table: every removal still succeeds and puts nothing back, on both
/// removal paths and both nftables backends. So does a removal of
/// elements someone deleted behind our back.
#[test]
fn teardown_after_a_flush_succeeds_and_creates_nothing() {
    if !privileged_test() {
        return;
    }
    for backend in [Backend::Native, Backend::NftCommand] {
        for legacy in [false, true] {
            isolated(move || {
                let nets = scenario();
                let (docker0, eps) = &nets[0];
                let mut fw = firewall(backend, legacy);
                for (n, e) in &nets {
                    fw.install_network(n, e).unwrap();
                }
                // Gone behind our back: one of the endpoint's ports.
                sh("nft delete element inet brnet ports4 '{ tcp . 8080 }'");
                fw.remove_endpoint(docker0, &eps[0]).unwrap();
                assert!(fw.dump().unwrap().ports().is_empty());
                sh("nft flush ruleset");
                let label = format!("{backend:?}, legacy {legacy}");
                fw.remove_ports(docker0, &[mapping("7000:70", "172.17.0.2")])
                    .unwrap_or_else(|e| panic!("{label}: remove ports: {e}"));
                fw.remove_endpoint(docker0, &eps[0])
                    .unwrap_or_else(|e| panic!("{label}: remove endpoint: {e}"));
                for (n, _) in &nets {
                    fw.remove_network(n)
                        .unwrap_or_else(|e| panic!("{label}: remove network: {e}"));
                }
                assert_eq!(sh("nft list ruleset"), "", "{label}");
                // And the next install works as on a fresh host.
                fw.install_network(docker0, eps).unwrap();
                assert_eq!(fw.check(docker0, eps).unwrap(), vec![]);
            })
            .unwrap();
        }
    }
}

/// Two handles (two front ends, each with its own state) share the
/// table; each creates a network, checks it, and removes it, at the same
/// time, many times. "Last network: the table goes" must never take the
/// other's network with it.
#[test]
fn handles_sharing_the_table_never_remove_each_others_network() {
    if !privileged_test() {
        return;
    }
    for legacy in [false, true] {
        isolated(move || {
            const CYCLES: usize = 150;
            let start = Arc::new(Barrier::new(2));
            let worker = |bridge: &'static str, subnet: &'static str, port: &'static str| {
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    let mut fw = firewall(Backend::Native, legacy);
                    let n = net(bridge, subnet);
                    let addr = subnet.replace(".0/24", ".2");
                    let eps = [endpoint(&addr, &[port])];
                    start.wait();
                    let mut broken = Vec::new();
                    for i in 0..CYCLES {
                        fw.install_network(&n, &eps).unwrap();
                        let drift = fw.check(&n, &eps).unwrap();
                        if !drift.is_empty() {
                            broken.push((i, drift));
                        }
                        fw.remove_network(&n).unwrap();
                    }
                    broken
                })
            };
            let a = worker("br-a", "10.1.0.0/24", "8080:80");
            let b = worker("br-b", "10.2.0.0/24", "8081:80");
            let (a, b): (Vec<(usize, Vec<Drift>)>, _) = (a.join().unwrap(), b.join().unwrap());
            assert!(
                a.is_empty() && b.is_empty(),
                "legacy {legacy}: a network was broken by the other handle: {} times for br-a, {} for br-b; first: {:?}",
                a.len(),
                b.len(),
                a.first().or(b.first())
            );
            assert_eq!(sh("nft list tables"), "");
        })
        .unwrap();
    }
}

/// Set in the child process the rootless test re-runs itself as.
const ROOTLESS_CHILD: &str = "BRNET_NAT_TEST_ROOTLESS_CHILD";
/// `net.core.wmem_max`, read by the parent: on older kernels (Debian 12's
/// 6.1; not 6.18) a network namespace other than the initial one has no
/// `net.core.wmem_max` file, though the (global) limit applies there.
const WMEM_MAX: &str = "BRNET_NAT_TEST_WMEM_MAX";

/// Unprivileged (a user namespace, as rootless Podman runs), raising the
/// send buffer with `SO_SNDBUFFORCE` is refused (`EPERM`): `SO_SNDBUF`
/// serves instead, and a transaction bigger than the default buffer (10,000
/// ports) still goes through as one. One bigger than `net.core.wmem_max`
/// allows is refused with a typed error before anything is sent.
#[test]
fn rootless_big_transactions_go_through() {
    if std::env::var_os(ROOTLESS_CHILD).is_some() {
        // The child: root of a fresh user namespace, in a fresh network
        // namespace it owns.
        let mut fw = Firewall::new(Backend::Native).unwrap();
        let n = net("br-big", "10.9.0.0/16");
        fw.install_network(&n, &[]).unwrap();
        let ports: Vec<_> = (10_000..20_000)
            .map(|p| mapping(&format!("{p}:80"), "10.9.0.2"))
            .collect();
        fw.add_ports(&n, &ports).unwrap();
        assert_eq!(fw.dump().unwrap().ports().len(), 10_000);
        fw.remove_ports(&n, &ports).unwrap();
        assert_eq!(fw.dump().unwrap().ports().len(), 0);
        // More than net.core.wmem_max lets the buffer grow to: refused
        // before anything is sent, with a typed error; nothing changed.
        let wmem_max: usize = std::env::var(WMEM_MAX).unwrap().parse().unwrap();
        let elements = 2 * wmem_max / 40 * 13 / 10;
        let c: std::net::IpAddr = "10.9.0.2".parse().unwrap();
        let range = brnet_nat::PortRange::new(1, 60_000).unwrap();
        let huge: Vec<_> = (0..elements.div_ceil(60_000))
            .map(|h| {
                let host = std::net::Ipv4Addr::from(0xc633_6400 + h as u32);
                brnet_nat::PortMapping::new(
                    brnet_nat::Protocol::Tcp,
                    Some(host.into()),
                    range,
                    c,
                    range,
                )
                .unwrap()
            })
            .collect();
        let e = fw.add_ports(&n, &huge).unwrap_err();
        assert!(matches!(e, brnet_nat::Error::BatchTooLarge { .. }), "{e}");
        assert!(e.to_string().contains("wmem_max"), "{e}");
        assert_eq!(fw.dump().unwrap().ports().len(), 0);
        fw.remove_network(&n).unwrap();
        return;
    }
    if !privileged_test() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "--"])
        .arg(exe)
        .args([
            "--exact",
            "rootless_big_transactions_go_through",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROOTLESS_CHILD, "1")
        .env(
            WMEM_MAX,
            std::fs::read_to_string("/proc/sys/net/core/wmem_max")
                .unwrap()
                .trim(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the rootless child failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}
