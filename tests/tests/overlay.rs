//! Overlay networks through bridge-net, across "hosts": network
//! namespaces on an underlay bridge inside the throwaway sandbox, each
//! with its own state directory and agent; a real etcd (Debian's
//! etcd-server 3.4) started by the test on an underlay address and killed
//! through its own `Child`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bridge_net::{BridgeNet, ConnectOptions, Error, NetnsRef, NetworkOptions};
use brnet_netlink::{BridgeSpec, IfName, RouteSpec, Socket, VethSpec, VxlanInfo, VxlanSpec};
use brnet_netns::{Netns, NetnsDir, isolated, privileged_test};
use brnet_overlay::agent::Agent;
use brnet_overlay::cluster::{Cluster, ClusterError};
use brnet_overlay::store::{EtcdStore, Store};
use brnet_testkit::etcd::Etcd;
use brnet_tests::*;

const ETCD: &str = "10.99.0.10";

fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

/// The underlay: bridge `ul` with 10.99.0.254 (the hosts' default
/// gateway, standing for the world beyond them) and etcd's 10.99.0.10.
fn underlay() {
    let mut nl = Socket::new().unwrap();
    nl.create_bridge(&BridgeSpec::new(&name("ul"))).unwrap();
    let ul = nl.link_by_name("ul").unwrap().index;
    nl.add_address(ul, &"10.99.0.254/24".parse().unwrap())
        .unwrap();
    nl.add_address(ul, &format!("{ETCD}/24").parse().unwrap())
        .unwrap();
}

struct Host {
    ns: Netns,
    vtep: IpAddr,
    state: tempfile::TempDir,
}

impl Host {
    fn new(n: u8) -> Host {
        let ns = NetnsDir::default().create(&format!("h{n}")).unwrap();
        let mut nl = Socket::new().unwrap();
        let ul = nl.link_by_name("ul").unwrap().index;
        nl.create_veth(&VethSpec {
            name: &name(&format!("uh{n}")),
            peer_name: &name("eth0"),
            peer_netns: Some(ns.fd()),
            master: Some(ul),
            mtu: None,
            mac: None,
            peer_mac: None,
            up: true,
            peer_up: false,
        })
        .unwrap();
        let vtep: IpAddr = format!("10.99.0.{n}").parse().unwrap();
        let mut h = Socket::open_in(&ns).unwrap();
        let eth0 = h.link_by_name("eth0").unwrap().index;
        h.add_address(eth0, &format!("{vtep}/24").parse().unwrap())
            .unwrap();
        h.set_up(eth0).unwrap();
        h.add_route(&RouteSpec::default_via("10.99.0.254".parse().unwrap()))
            .unwrap();
        Host {
            ns,
            vtep,
            state: state_dir(),
        }
    }

    /// Run `f` on a fresh handle opened inside the host (its netns: the
    /// handle's netlink, firewall and sysctls are the host's).
    fn brnet<T: Send>(&self, f: impl FnOnce(&mut BridgeNet) -> T + Send) -> T {
        let dir: PathBuf = self.state.path().to_owned();
        self.ns
            .run(move || {
                let mut b = BridgeNet::open(&dir).unwrap();
                f(&mut b)
            })
            .unwrap()
    }

    fn links(&self) -> Vec<String> {
        self.ns.run(link_names).unwrap()
    }
}

fn cluster() -> Cluster {
    let store: Arc<dyn Store> = Arc::new(EtcdStore::new(vec![format!("{ETCD}:2379")]).unwrap());
    Cluster::new(store)
}

fn overlay(subnet: &str, extra: &[(&str, &str)]) -> NetworkOptions {
    let mut o = NetworkOptions {
        driver: bridge_net::Driver::from_name("overlay").unwrap(),
        ..NetworkOptions::default()
    };
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    o.set_option("cluster", &format!("etcd://{ETCD}:2379"))
        .unwrap();
    for (k, v) in extra {
        o.set_option(k, v).unwrap();
    }
    o
}

/// The per-host agent, on a thread inside the host.
struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(h: &Host) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let nl = Socket::open_in(&h.ns).unwrap();
        let mut agent = Agent::new(cluster(), nl, h.vtep, bridge_net::HOST_TTL);
        let s = stop.clone();
        // Inside its host, as `brnet overlay agent` runs.
        let ns = h.ns.try_clone().unwrap();
        let thread = Some(std::thread::spawn(move || {
            let _inside = ns.enter().unwrap();
            agent.run(&s)
        }));
        Running { stop, thread }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn r(n: &str) -> NetnsRef {
    n.parse().unwrap()
}

#[test]
fn overlay_networks_span_hosts_with_egress_ports_isolation_and_clean_failures() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        underlay();
        let dir = tempfile::tempdir().unwrap();
        let mut etcd = Etcd::start(ETCD, dir.path());
        let (h1, h2) = (Host::new(1), Host::new(2));
        let nsdir = NetnsDir::default();

        // A VXLAN device left on h1 by an interrupted create (on no
        // bridge): the create makes it again.
        h1.ns
            .run(|| {
                let mut nl = Socket::new().unwrap();
                let tunnel = VxlanInfo {
                    learning: true,
                    proxy: false,
                    ..VxlanInfo::overlay(4096, None, None)
                };
                let vx = name("vx-4096");
                nl.create_vxlan(&VxlanSpec {
                    up: false,
                    ..VxlanSpec::new(&vx, tunnel)
                })
                .unwrap()
            })
            .unwrap();
        // The same network made on both hosts: one VNI, chosen once; the
        // VTEP found from the default route; MTU = 1500 - 50.
        let i1 = h1.brnet(|b| b.create_network("ovnet", &overlay("10.0.9.0/24", &[])).unwrap());
        let i2 = h2.brnet(|b| b.create_network("ovnet", &overlay("10.0.9.0/24", &[])).unwrap());
        assert_eq!(i1.driver, "overlay");
        let doc = serde_json::to_value(h1.brnet(|b| b.inspect("ovnet").unwrap())).unwrap();
        assert_eq!(doc["Options"]["vni"], "4096", "{doc}");
        assert_eq!(doc["Options"]["vtep"], "10.99.0.1", "{doc}");
        assert_eq!(doc["Options"]["com.docker.network.driver.mtu"], "1450");
        let _ = i2;
        // Asked again without the VNI and VTEP it found: the same network.
        let again = h1.brnet(|b| {
            b.ensure_network("ovnet", &overlay("10.0.9.0/24", &[]))
                .unwrap()
        });
        assert!(!again.created && again.replaced.is_none());
        let vx = h1
            .ns
            .run(|| Socket::new().unwrap().link_by_name("vx-4096").unwrap())
            .unwrap();
        assert_eq!(vx.mtu, 1450);
        assert!(vx.master.is_some(), "the VXLAN device is a port of the bridge");

        let _agents = [Running::start(&h1), Running::start(&h2)];
        let c1 = nsdir.create("c1").unwrap();
        nsdir.create("c2").unwrap();
        let e1 = h1.brnet(|b| {
            b.connect(
                "ovnet",
                &r("c1"),
                &ConnectOptions {
                    ports: vec!["8080:80".parse().unwrap()],
                    ..ConnectOptions::default()
                },
            )
            .unwrap()
        });
        let e2 = h2.brnet(|b| b.connect("ovnet", &r("c2"), &ConnectOptions::default()).unwrap());
        assert_eq!(e1.ipv4.map(|a| a.addr().to_string()).as_deref(), Some("10.0.9.2"));
        assert_eq!(
            e2.ipv4.map(|a| a.addr().to_string()).as_deref(),
            Some("10.0.9.3"),
            "unique across hosts: sequential from .2 through the store"
        );

        // Ping and TCP across hosts.
        assert!(eventually(LONG, || ping("c2", "10.0.9.2")), "c2 -> c1");
        assert!(ping("c1", "10.0.9.3"), "c1 -> c2");
        serve(listen_in(&c1, "10.0.9.2:80".parse().unwrap()), "c1");
        let c2 = nsdir.open("c2").unwrap();
        let got = fetch(Some(&c2), "10.0.9.2:80".parse().unwrap(), LONG).unwrap();
        assert_eq!(got, "c1 10.0.9.3\n", "TCP across hosts, not translated");

        // Egress: masqueraded on the container's own host (10.99.0.254
        // has no route to 10.0.9.0/24: only a translated ping returns).
        assert!(ping("c1", "10.99.0.254"), "egress from c1 via h1");
        assert!(ping("c2", "10.99.0.254"), "egress from c2 via h2");
        // A published port, on the container's own host.
        let got = fetch(None, "10.99.0.1:8080".parse().unwrap(), LONG).unwrap();
        assert!(got.starts_with("c1 "), "{got}");
        assert!(!can_connect(None, "10.99.0.2:8080".parse().unwrap(), SHORT));

        // inspect: peers and remote endpoints.
        let doc = serde_json::to_value(h1.brnet(|b| b.inspect("ovnet").unwrap())).unwrap();
        assert_eq!(doc["Scope"], "global");
        let peers: Vec<&str> = doc["Peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["IP"].as_str().unwrap())
            .collect();
        assert_eq!(peers, ["10.99.0.1", "10.99.0.2"], "{doc}");
        assert_eq!(doc["RemoteEndpoints"][0]["IPv4Address"], "10.0.9.3");
        assert_eq!(doc["RemoteEndpoints"][0]["Host"], "10.99.0.2");

        // Isolation: another overlay (on both hosts) and a bridge network.
        h1.brnet(|b| b.create_network("ov2", &overlay("10.0.10.0/24", &[])).unwrap());
        h2.brnet(|b| b.create_network("ov2", &overlay("10.0.10.0/24", &[])).unwrap());
        nsdir.create("d1").unwrap();
        nsdir.create("d2").unwrap();
        nsdir.create("f1").unwrap();
        h1.brnet(|b| b.connect("ov2", &r("d1"), &ConnectOptions::default()).unwrap());
        h2.brnet(|b| b.connect("ov2", &r("d2"), &ConnectOptions::default()).unwrap());
        let mut plain = NetworkOptions::default();
        plain.ipv4.subnet = Some("10.0.20.0/24".parse().unwrap());
        h1.brnet(|b| {
            b.create_network("plain", &plain).unwrap();
            b.connect("plain", &r("f1"), &ConnectOptions::default())
                .unwrap()
        });
        assert!(eventually(LONG, || ping("d1", "10.0.10.3")), "ov2 works");
        assert!(!ping("c1", "10.0.10.2"), "ovnet -> ov2 on the same host");
        assert!(!ping("c1", "10.0.10.3"), "ovnet -> ov2 on another host");
        assert!(!ping("c1", "10.0.20.2"), "ovnet -> a bridge network");
        assert!(!ping("f1", "10.0.9.2"), "a bridge network -> ovnet");
        assert!(!ping("d2", "10.0.9.2"), "ov2 -> ovnet");

        // Bad input: typed errors, nothing left behind (no link, no
        // record, here or in the store).
        let before = h1.links();
        let e = h1.brnet(|b| {
            b.create_network("ov3", &overlay("10.0.30.0/24", &[("vni", "4096")]))
                .unwrap_err()
        });
        assert!(
            matches!(&e, Error::Cluster { cause: ClusterError::VniInUse { vni: 4096, .. }, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("VNI 4096 is in use by network ovnet"), "{e}");
        let e = h1.brnet(|b| {
            b.create_network("ov4", &overlay("10.0.9.128/25", &[]))
                .unwrap_err()
        });
        assert!(
            matches!(&e, Error::Cluster { cause: ClusterError::Overlap { .. }, .. }),
            "{e}"
        );
        let e = overlay("10.0.40.0/24", &[])
            .set_option("vni", "16777216")
            .unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        let e = NetworkOptions::default()
            .set_option("vni", "5000")
            .unwrap_err();
        assert!(e.to_string().contains("-d overlay"), "{e}");
        let mut o = overlay("10.0.40.0/24", &[]);
        o.ipv6 = Some(bridge_net::IpamConfig {
            subnet: Some("fd00:40::/64".parse().unwrap()),
            ..bridge_net::IpamConfig::default()
        });
        let e = o.validate().unwrap_err();
        assert!(e.to_string().contains("IPv6 on overlay networks"), "{e}");
        assert!(
            matches!(&e, Error::InvalidOption { option, value, .. }
                if option == "--subnet" && value == "fd00:40::/64"),
            "typed, naming the subnet: {e:?}"
        );
        let e = h1.brnet(|b| b.create_network("ov6", &o).unwrap_err());
        assert!(matches!(e, Error::InvalidOption { .. }), "{e:?}");
        o.ipv6 = None;
        o.ipv4.subnet = None;
        assert!(o.validate().is_err(), "an overlay without a subnet");
        assert_eq!(h1.links(), before);
        assert!(cluster().network("ov3").unwrap().is_none());
        assert!(cluster().network("ov4").unwrap().is_none());
        // A store holding garbage: connect refuses, names the key, makes
        // nothing.
        let raw = EtcdStore::new(vec![format!("{ETCD}:2379")]).unwrap();
        raw.put("/brnet/overlay/endpoints/ovnet/10.0.9.99", "{garbage", None)
            .unwrap();
        nsdir.create("c3").unwrap();
        let e = h1.brnet(|b| {
            b.connect("ovnet", &r("c3"), &ConnectOptions::default())
                .unwrap_err()
        });
        assert!(
            matches!(&e, Error::Cluster { cause: ClusterError::Garbage { .. }, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("10.0.9.99"), "{e}");
        assert_eq!(h1.links(), before);
        raw.delete("/brnet/overlay/endpoints/ovnet/10.0.9.99").unwrap();

        // Disconnect: the address goes back to the store; c1's host drops
        // c2's entries (the agent).
        h2.brnet(|b| assert!(b.disconnect("ovnet", &r("c2")).unwrap()));
        let snap = cluster().snapshot().unwrap();
        assert_eq!(snap.live_endpoints("ovnet", None).len(), 1);
        assert!(eventually(LONG, || !ping("c1", "10.0.9.3")));
        let e2 = h2.brnet(|b| b.connect("ovnet", &r("c2"), &ConnectOptions::default()).unwrap());
        assert_eq!(e2.ipv4.map(|a| a.addr().to_string()).as_deref(), Some("10.0.9.3"));
        assert!(eventually(LONG, || ping("c1", "10.0.9.3")));

        // The store forgets the network (another host removed it while
        // no endpoint was live): the next connect here registers it again.
        h1.brnet(|b| assert!(b.disconnect("ovnet", &r("c1")).unwrap()));
        h2.brnet(|b| assert!(b.disconnect("ovnet", &r("c2")).unwrap()));
        h2.brnet(|b| assert!(b.remove_network("ovnet").unwrap()));
        assert!(cluster().network("ovnet").unwrap().is_none());
        h1.brnet(|b| b.connect("ovnet", &r("c1"), &ConnectOptions::default()).unwrap());
        assert_eq!(cluster().network("ovnet").unwrap().map(|n| n.vni), Some(4096));
        h2.brnet(|b| {
            b.create_network("ovnet", &overlay("10.0.9.0/24", &[])).unwrap();
            b.connect("ovnet", &r("c2"), &ConnectOptions::default()).unwrap()
        });
        assert!(eventually(LONG, || ping("c1", "10.0.9.3")));
        let before = h1.links();

        // etcd down: existing traffic flows; a new connect fails at once
        // with a clear error and leaves nothing.
        etcd.kill();
        assert!(ping("c1", "10.0.9.3") && ping("c2", "10.0.9.2"));
        let t = Instant::now();
        let e = h1.brnet(|b| {
            let n = b.endpoints(Some("ovnet")).unwrap().len();
            let e = b
                .connect("ovnet", &r("c3"), &ConnectOptions::default())
                .unwrap_err();
            assert_eq!(b.endpoints(Some("ovnet")).unwrap().len(), n);
            e
        });
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(
            matches!(&e, Error::Cluster { cause: ClusterError::Store(s), .. } if s.is_unreachable()),
            "{e}"
        );
        assert!(e.to_string().contains("unreachable"), "{e}");
        assert_eq!(h1.links(), before);
        assert!(ping("c1", "10.0.9.3"), "still flowing");
    })
    .unwrap();
}

/// Disconnect while the store is down (as Docker's overlay and flannel
/// do): the local side goes at once; the address goes back to the store
/// when it is there again, at the next connect on that host or at the
/// agent's next round (`BridgeNet::release_pending`).
#[test]
fn disconnect_while_the_store_is_down_tears_down_here_and_releases_when_it_is_back() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        underlay();
        let dir = tempfile::tempdir().unwrap();
        let mut etcd = Etcd::start(ETCD, dir.path());
        let h1 = Host::new(1);
        let nsdir = NetnsDir::default();
        h1.brnet(|b| {
            b.create_network("ovnet", &overlay("10.0.9.0/24", &[]))
                .unwrap()
        });
        let stored = || -> Vec<String> {
            cluster()
                .snapshot()
                .unwrap()
                .live_endpoints("ovnet", None)
                .iter()
                .map(|e| e.ip.to_string())
                .collect()
        };
        let pending = bridge_net::PENDING_RELEASES;
        let c1 = nsdir.create("c1").unwrap();
        let before = h1.links();
        let e = h1.brnet(|b| {
            b.connect("ovnet", &r("c1"), &ConnectOptions::default())
                .unwrap()
        });
        assert_eq!(e.ipv4.unwrap().addr().to_string(), "10.0.9.2");

        // Down: the disconnect succeeds at once and undoes everything
        // here; the address is kept to release.
        etcd.kill();
        let t = Instant::now();
        h1.brnet(|b| assert!(b.disconnect("ovnet", &r("c1")).unwrap()));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert_eq!(h1.links(), before, "the host's veth end is gone");
        assert_eq!(c1.run(link_names).unwrap(), ["lo"], "the container's too");
        assert!(h1.brnet(|b| b.endpoints(Some("ovnet")).unwrap().is_empty()));
        let kept = std::fs::read_to_string(h1.state.path().join(pending)).unwrap();
        assert!(kept.contains("10.0.9.2"), "{kept}");
        // Still down: nothing released, still kept.
        assert_eq!(h1.brnet(|b| b.release_pending().unwrap()), 0);
        assert!(h1.state.path().join(pending).exists());

        // Back (same data, within the host's lease): the record is still
        // there; the next connect here gives it back first and so gets
        // the same address.
        let mut etcd = Etcd::start(ETCD, dir.path());
        assert_eq!(stored(), ["10.0.9.2"], "the store kept it while down");
        nsdir.create("c2").unwrap();
        let e = h1.brnet(|b| {
            b.connect("ovnet", &r("c2"), &ConnectOptions::default())
                .unwrap()
        });
        assert_eq!(
            e.ipv4.unwrap().addr().to_string(),
            "10.0.9.2",
            "released, then reused"
        );
        assert_eq!(stored(), ["10.0.9.2"]);
        assert!(!h1.state.path().join(pending).exists());

        // The agent's way: down again, disconnect, back, one round.
        etcd.kill();
        h1.brnet(|b| assert!(b.disconnect("ovnet", &r("c2")).unwrap()));
        let _etcd = Etcd::start(ETCD, dir.path());
        assert_eq!(stored(), ["10.0.9.2"]);
        assert_eq!(h1.brnet(|b| b.release_pending().unwrap()), 1);
        assert!(stored().is_empty(), "released");
        assert!(!h1.state.path().join(pending).exists());
        assert_eq!(h1.brnet(|b| b.release_pending().unwrap()), 0);
    })
    .unwrap();
}

/// The crash test's child: this test binary again, running only this
/// test, which does `BRNET_WORKER`'s job and dies where `BRNET_FAULT`
/// says (bridge-net's fault injection).
#[test]
fn overlay_worker() {
    let Ok(job) = std::env::var("BRNET_WORKER") else {
        return;
    };
    let state = PathBuf::from(std::env::var("BRNET_WORKER_STATE").unwrap());
    let store = std::env::var("BRNET_WORKER_STORE").unwrap();
    match job.as_str() {
        "create-overlay" => {
            let mut b = BridgeNet::open(&state).unwrap();
            let _ = b.create_network("ovc", &crash_overlay(&store));
        }
        other => panic!("no such job {other}"),
    }
}

/// An overlay network on the directory store `store`, VTEP the
/// underlay bridge's own address.
fn crash_overlay(store: &str) -> NetworkOptions {
    let mut o = overlay("10.0.50.0/24", &[("vtep", "10.99.0.254"), ("vni", "4200")]);
    o.set_option("cluster", &format!("dir://{store}")).unwrap();
    o
}

/// A crash at every step of creating an overlay network: the next open
/// (reconcile) leaves no bridge, no VXLAN device and no rule (the device
/// is in the create's intent: deleting the bridge does not delete its
/// ports).
#[test]
fn a_crash_at_every_create_step_leaves_no_vxlan_device() {
    brnet_testkit::sandboxed(|| {
        underlay();
        let state = state_dir();
        let store = tempfile::tempdir().unwrap();
        let store_path = store.path().display().to_string();
        let dir_cluster = Cluster::new(Arc::from(
            brnet_overlay::store::open(&format!("dir://{store_path}")).unwrap(),
        ));
        drop(BridgeNet::open(state.path()).unwrap());
        let links = link_names();
        let rules = nft_ruleset();
        for step in [
            "create.begin",
            "create.bridge",
            "create.firewall",
            "create.record",
        ] {
            let (fault, at) = brnet_testkit::fault::crash_at(step);
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "overlay_worker", "--test-threads=1"])
                .env("BRNET_WORKER", "create-overlay")
                .env("BRNET_WORKER_STATE", state.path())
                .env("BRNET_WORKER_STORE", &store_path)
                .env(fault, at)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(!status.success(), "the worker was killed at {step}");
            let mut b = BridgeNet::open(state.path()).unwrap();
            assert_eq!(
                link_names(),
                links,
                "no bridge nor VXLAN device left ({step})"
            );
            assert_eq!(nft_ruleset(), rules, "no rule left behind ({step})");
            assert!(b.network("ovc").is_err());
            assert!(
                dir_cluster.network("ovc").unwrap().is_none(),
                "the store record this create made is taken back ({step})"
            );
            let st = bridge_net::state::State::parse(
                &std::fs::read(state.path().join("state.json")).unwrap(),
            )
            .unwrap();
            assert!(st.intents.is_empty(), "{step}: {:?}", st.intents);
        }
        // And made all right when nothing crashes.
        let mut b = BridgeNet::open(state.path()).unwrap();
        b.create_network("ovc", &crash_overlay(&store_path))
            .unwrap();
        let vx = Socket::new().unwrap().link_by_name("vx-4200").unwrap();
        assert!(vx.master.is_some(), "on its bridge");
        assert_eq!(
            dir_cluster.network("ovc").unwrap().map(|n| n.vni),
            Some(4200)
        );
    });
}
