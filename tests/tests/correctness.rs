//! Issue 13, the connect path: each test here failed on main before its
//! fix (e773a47/3970b16).
//!
//! - 13.2: a crash at every step of creating a network on an adopted
//!   bridge never deletes the bridge
//!   (`a_crash_at_every_create_step_gives_an_adopted_bridge_back`);
//! - 13.3: `route_localnet` only where the loopback drop is, and put back
//!   on an adopted bridge at removal and rollback
//!   (`an_adopted_bridge_is_given_back_as_found`); no host loopback from a
//!   container under any firewall backend
//!   (`host_loopback_is_unreachable_from_a_container_under_every_backend`);
//! - 13.7: a crash mid-disconnect is finished by reconcile
//!   (`a_crash_in_the_middle_of_disconnect_is_finished_on_reopen`);
//!   `0.0.0.0:P` conflicts with `127.0.0.1:P`
//!   (`every_address_conflicts_with_loopback_on_the_same_port`); a
//!   namespace made again with the old inode is another namespace
//!   (`a_namespace_made_again_with_the_same_inode_is_another_one`);
//!   no open intent when the namespace cannot be opened
//!   (`a_namespace_that_cannot_be_entered_leaves_no_intent`).

use std::net::SocketAddr;
use std::process::Command;

use bridge_net::state::State;
use bridge_net::{
    BridgeNet, Config, ConnectOptions, FirewallBackend, NetworkOptions, OPT_BRIDGE_NAME,
};
use brnet_netns::{Netns, NetnsDir, isolated, privileged_test};
use brnet_tests::*;

fn route_localnet(link: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{link}/route_localnet"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The IPv4 addresses of `link`, sorted.
fn addrs_of(link: &str) -> Vec<String> {
    let mut v: Vec<String> = ip_json(&["-4", "addr", "show", "dev", link])
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    v.sort();
    v
}

/// A host's own bridge, made before bridge-net sees it.
fn host_bridge(name: &str, addr: &str) {
    brnet_testkit::topo::network(name, &[addr]);
}

fn on_bridge(bridge: &str, subnet: &str) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    o.set_option(OPT_BRIDGE_NAME, bridge).unwrap();
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    o
}

fn state_of(dir: &std::path::Path) -> State {
    State::parse(&std::fs::read(dir.join("state.json")).unwrap()).unwrap()
}

/// Worker for the crash tests: runs only when started by them.
#[test]
fn correctness_worker() {
    let Ok(job) = std::env::var("BRNET_WORKER") else {
        return;
    };
    let state = std::env::var("BRNET_WORKER_STATE").unwrap();
    match job.as_str() {
        "create-adopt" => {
            let mut b = BridgeNet::open(&state).unwrap();
            let _ = b.create_network("adopt", &on_bridge("br0", "172.30.0.0/16"));
        }
        "disconnect-one" => {
            let mut b = BridgeNet::open(&state).unwrap();
            let _ = b.disconnect("n", &"victim".parse().unwrap());
        }
        "connect-unprivileged" => {
            // In a user namespace of its own: the container's namespace
            // (the sandbox's user namespace's) cannot be entered.
            let mut b = BridgeNet::open_with(Config {
                reconcile: false,
                firewall: FirewallBackend::None,
                ..Config::new(&state)
            })
            .unwrap();
            let e = b
                .connect("n", &"victim".parse().unwrap(), &ConnectOptions::default())
                .unwrap_err();
            println!("connect failed as expected: {e}");
        }
        other => panic!("unknown job {other}"),
    }
}

fn worker(job: &str, state: &std::path::Path, env: &[(&str, String)]) -> std::process::Child {
    worker_via(&[], job, state, env)
}

/// The worker, started through `wrap` (e.g. `unshare --user`).
fn worker_via(
    wrap: &[&str],
    job: &str,
    state: &std::path::Path,
    env: &[(&str, String)],
) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut c = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    c.args([
        "--exact",
        "correctness_worker",
        "--test-threads=1",
        "--nocapture",
    ])
    .env("BRNET_WORKER", job)
    .env("BRNET_WORKER_STATE", state);
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// 13.2: docker0, a host's br0 (`-o com.docker.network.bridge.name`),
/// another plugin's cni0 are someone's: a crash at any step of creating a
/// network on one leaves it as it was found.
#[test]
fn a_crash_at_every_create_step_gives_an_adopted_bridge_back() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        drop(BridgeNet::open(dir.path()).unwrap());
        host_bridge("br0", "192.0.2.1/24");
        let links = link_names();
        let rules = nft_ruleset();
        for step in [
            "create.begin",
            "create.bridge",
            "create.firewall",
            "create.record",
        ] {
            let status = worker(
                "create-adopt",
                dir.path(),
                &[brnet_testkit::fault::crash_at(step)],
            )
            .wait()
            .unwrap();
            assert!(!status.success(), "the worker was killed at {step}");
            let mut b = BridgeNet::open(dir.path()).unwrap();
            assert_eq!(link_names(), links, "br0 is still there ({step})");
            assert_eq!(
                addrs_of("br0"),
                ["192.0.2.1/24"],
                "our address went ({step})"
            );
            assert_eq!(
                route_localnet("br0"),
                "0",
                "route_localnet as found ({step})"
            );
            assert_eq!(nft_ruleset(), rules, "no rule left behind ({step})");
            assert!(b.network("adopt").is_err());
            assert!(state_of(dir.path()).intents.is_empty());
        }
        // And it is adopted all right when nothing crashes.
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let n = b
            .create_network("adopt", &on_bridge("br0", "172.30.0.0/16"))
            .unwrap();
        assert_eq!(n.bridge, "br0");
        assert_eq!(addrs_of("br0"), ["172.30.0.1/16", "192.0.2.1/24"]);
    });
}

/// 13.3: on an adopted bridge, `route_localnet` and our gateway address
/// are put back at removal and at rollback; a bridge we made keeps
/// nothing of ours either way (it goes).
#[test]
fn an_adopted_bridge_is_given_back_as_found() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        host_bridge("br0", "192.0.2.1/24");
        let o = on_bridge("br0", "172.30.0.0/16");
        for step in ["create.bridge", "create.firewall", "create.record"] {
            b.inject(Some(bridge_net::Fault::Fail(step.into())));
            assert!(b.create_network("adopt", &o).is_err(), "{step}");
            b.inject(None);
            assert_eq!(route_localnet("br0"), "0", "rolled back at {step}");
            assert_eq!(addrs_of("br0"), ["192.0.2.1/24"], "rolled back at {step}");
        }
        b.create_network("adopt", &o).unwrap();
        assert_eq!(route_localnet("br0"), "1", "ports on 127.0.0.1 need it");
        b.remove_network("adopt").unwrap();
        assert!(link_names().contains(&"br0".to_owned()), "adopted: kept");
        assert_eq!(route_localnet("br0"), "0", "put back at removal");
        assert_eq!(addrs_of("br0"), ["192.0.2.1/24"], "our address went");
        // A removal cut short by a crash is finished by the next open, and
        // gives the bridge back all the same.
        b.create_network("adopt", &o).unwrap();
        drop(b);
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.inject(Some(bridge_net::Fault::Fail("remove.bridge".into())));
        assert!(b.remove_network("adopt").is_err());
        drop(b);
        let mut b = BridgeNet::open(dir.path()).unwrap();
        assert!(b.network("adopt").is_err(), "reconcile finished it");
        assert_eq!(route_localnet("br0"), "0");
        assert_eq!(addrs_of("br0"), ["192.0.2.1/24"]);
    });
}

/// 13.3: a container sends to 127.0.0.1 through its gateway (the attack of
/// CVE-2020-8558): a host service bound to 127.0.0.1 must not answer,
/// whatever the firewall backend. Without a loopback drop (no firewall)
/// the bridge gets no `route_localnet`, and the kernel drops the packets
/// as martians.
#[test]
fn host_loopback_is_unreachable_from_a_container_under_every_backend() {
    if !privileged_test() {
        return;
    }
    for backend in [
        FirewallBackend::Native,
        FirewallBackend::NftCommand,
        FirewallBackend::IptablesRestore,
        FirewallBackend::None,
    ] {
        isolated(move || {
            let dir = state_dir();
            let mut b = BridgeNet::open_with(Config {
                firewall: backend,
                ..Config::new(dir.path())
            })
            .unwrap();
            let mut o = NetworkOptions::default();
            o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
            let n = b.create_network("n", &o).unwrap();
            NetnsDir::default().create("c").unwrap();
            let c = Netns::open_path("/run/netns/c").unwrap();
            let e = b
                .connect(
                    "n",
                    &"c".parse().unwrap(),
                    &ConnectOptions {
                        ports: vec!["127.0.0.1:8080:80".parse().unwrap()],
                        ..Default::default()
                    },
                )
                .unwrap();
            // What route_localnet is for: a port published on 127.0.0.1
            // answers on the host (where a firewall publishes at all).
            let web = SocketAddr::new(e.ipv4.unwrap().addr().into(), 80);
            serve(listen_in(&c, web), "web");
            if backend != FirewallBackend::None {
                assert_eq!(route_localnet(&n.bridge), "1", "{backend:?}");
                assert!(
                    fetch(None, "127.0.0.1:8080".parse().unwrap(), LONG).is_ok(),
                    "{backend:?}: 127.0.0.1:8080 published"
                );
            }
            // The host's service, on loopback only.
            let here = Netns::current().unwrap();
            let secret: SocketAddr = "127.0.0.1:8125".parse().unwrap();
            serve(listen_in(&here, secret), "secret");
            // The container routes 127.0.0.1 out of eth0 to the gateway
            // (its own loopback gone).
            sh("ip -n c addr flush dev lo && ip -n c link set lo down \
                && ip netns exec c sysctl -qw net.ipv4.conf.all.route_localnet=1 \
                && ip netns exec c sysctl -qw net.ipv4.conf.eth0.route_localnet=1 \
                && ip -n c route add 127.0.0.1/32 via 172.20.0.1 dev eth0");
            assert!(
                !can_connect(Some(&c), secret, SHORT),
                "{backend:?}: the host's 127.0.0.1 answered a container"
            );
            if backend == FirewallBackend::None {
                assert_eq!(route_localnet(&n.bridge), "0", "no drop, no route_localnet");
                // The way in is real: with route_localnet and no drop, the
                // host answers (what the drop and the sysctl prevent).
                sh(&format!(
                    "sysctl -qw net.ipv4.conf.{}.route_localnet=1",
                    n.bridge
                ));
                assert!(
                    can_connect(Some(&c), secret, LONG),
                    "the probe reaches 127.0.0.1 when nothing stops it"
                );
            }
        })
        .unwrap();
    }
}

/// 13.7: a disconnect cut short by a crash is finished by the next open:
/// the endpoint, its veth and its rules are gone, its address free.
#[test]
fn a_crash_in_the_middle_of_disconnect_is_finished_on_reopen() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        b.create_network("n", &o).unwrap();
        let links = link_names();
        let rules = nft_ruleset();
        NetnsDir::default().create("victim").unwrap();
        let opts = ConnectOptions {
            ports: vec!["8080:80".parse().unwrap()],
            ..Default::default()
        };
        drop(b);
        for step in [
            "disconnect.firewall",
            "disconnect.veth",
            "disconnect.record",
        ] {
            let mut b = BridgeNet::open(dir.path()).unwrap();
            b.connect("n", &"victim".parse().unwrap(), &opts).unwrap();
            drop(b);
            let status = worker(
                "disconnect-one",
                dir.path(),
                &[brnet_testkit::fault::crash_at(step)],
            )
            .wait()
            .unwrap();
            assert!(!status.success(), "the worker was killed at {step}");
            let mut b = BridgeNet::open(dir.path()).unwrap();
            assert_eq!(b.network("n").unwrap().endpoints, 0, "finished ({step})");
            assert_eq!(link_names(), links, "no veth ({step})");
            assert_eq!(nft_ruleset(), rules, "no rule ({step})");
            assert!(state_of(dir.path()).intents.is_empty(), "{step}");
            assert_eq!(
                ip(&["-n", "victim", "-o", "link", "show"]).lines().count(),
                1,
                "only lo left in the namespace ({step})"
            );
        }
    });
}

/// 13.7: `-p 0.0.0.0:8080:80` beside an existing `127.0.0.1:8080` is a
/// conflict, as in Docker.
#[test]
fn every_address_conflicts_with_loopback_on_the_same_port() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        b.create_network("n", &o).unwrap();
        let links = link_names();
        for n in ["a", "b"] {
            NetnsDir::default().create(n).unwrap();
        }
        let with = |spec: &str| ConnectOptions {
            ports: vec![spec.parse().unwrap()],
            ..Default::default()
        };
        b.connect("n", &"a".parse().unwrap(), &with("127.0.0.1:8080:80"))
            .unwrap();
        let e = b
            .connect("n", &"b".parse().unwrap(), &with("0.0.0.0:8080:80"))
            .unwrap_err();
        assert!(
            matches!(e, bridge_net::Error::PortInUse { port: 8080, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("container \"a\""), "{e}");
        assert_eq!(b.network("n").unwrap().endpoints, 1);
        assert_eq!(link_names().len(), links.len() + 1, "nothing left of b");
    });
}

/// 13.7: nsfs inodes are reused: `ip netns del c1; ip netns add c1` may
/// give the new namespace the old one's inode. It is another namespace:
/// it connects (eth0, not "already connected"), and the old endpoint is
/// dropped by the next open.
#[test]
fn a_namespace_made_again_with_the_same_inode_is_another_one() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        b.create_network("n", &o).unwrap();
        let nsdir = NetnsDir::default();
        // Connect c1, delete it and make namespaces until the kernel hands
        // its inode out again (the lowest free one goes first, so it comes
        // once the old namespace is cleaned up, unless another test's
        // namespace takes it: then again with a fresh c1), and put that one
        // at c1's path, as `ip netns add c1` would have.
        let mut found = None;
        for attempt in 0..5 {
            let name = format!("c1-{attempt}");
            let old = nsdir.create(&name).unwrap().id().unwrap();
            b.connect("n", &name.parse().unwrap(), &ConnectOptions::default())
                .unwrap();
            nsdir.delete(&name).unwrap();
            let started = std::time::Instant::now();
            for i in 0.. {
                let hold = format!("h{attempt}-{i}");
                if nsdir.create(&hold).unwrap().id().unwrap() == old {
                    found = Some((name.clone(), hold, old));
                    break;
                }
                if started.elapsed() > std::time::Duration::from_secs(3) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            if found.is_some() {
                break;
            }
        }
        let (c1, reborn, old) = found.expect("the kernel reuses nsfs inodes");
        sh(&format!(
            "touch /run/netns/{c1} && mount --bind /run/netns/{reborn} /run/netns/{c1}"
        ));
        let path = format!("/run/netns/{c1}");
        assert_eq!(Netns::open_path(&path).unwrap().id().unwrap(), old);
        let c1: bridge_net::NetnsRef = c1.parse().unwrap();
        let e = b.connect("n", &c1, &ConnectOptions::default()).unwrap();
        assert_eq!(e.ifname, "eth0");
        let addr = e.ipv4.unwrap().addr();
        let live = Netns::open_path(&path).unwrap();
        serve(listen_in(&live, SocketAddr::new(addr.into(), 80)), "new");
        assert!(fetch(None, SocketAddr::new(addr.into(), 80), LONG).is_ok());
        // The old ones' endpoints go at the next open; the new one stays.
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let eps = b.endpoints(Some("n")).unwrap();
        assert_eq!(eps.len(), 1, "{eps:?}");
        assert_eq!(eps[0].ipv4.unwrap().addr(), addr);
        // And disconnect takes the live one.
        assert!(b.disconnect("n", &c1).unwrap());
        assert_eq!(
            ip(&["-n", &reborn, "-o", "link", "show"]).lines().count(),
            1
        );
    });
}

/// 13.7: connect leaves no open intent when the namespace cannot be
/// entered (here: from a user namespace without rights over it).
#[test]
fn a_namespace_that_cannot_be_entered_leaves_no_intent() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        b.create_network("n", &o).unwrap();
        NetnsDir::default().create("victim").unwrap();
        drop(b);
        let out = worker_via(
            &["unshare", "--user", "--map-root-user"],
            "connect-unprivileged",
            dir.path(),
            &[],
        )
        .wait_with_output()
        .unwrap();
        assert!(out.status.success());
        let st = state_of(dir.path());
        assert!(st.intents.is_empty(), "open intents: {:?}", st.intents);
        assert!(st.endpoints.is_empty());
    });
}
