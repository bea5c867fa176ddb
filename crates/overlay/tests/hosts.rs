//! Several "hosts" (namespaces on an underlay bridge, in the test's
//! throwaway sandbox), real traffic between containers on different
//! hosts, a real etcd started by the test, the per-host agents.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brnet_netlink::MacAddr;
use brnet_netns::{isolated, privileged_test};
use brnet_overlay::agent::Agent;
use brnet_overlay::cluster::{Cluster, ClusterError, EndpointRecord, NetworkRecord};
use brnet_overlay::dataplane::{self, PeerSet, RemoteEndpoint};
use brnet_overlay::store::{EtcdStore, Store};
use common::{Etcd, Host, eventually, ip, ping};

fn mac_of(ip: IpAddr) -> MacAddr {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            MacAddr([0x02, 0x42, o[0], o[1], o[2], o[3]])
        }
        IpAddr::V6(_) => unreachable!(),
    }
}

#[test]
fn static_entries_carry_traffic_between_hosts_and_keep_overlays_apart() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        common::underlay();
        let (h1, h2) = (Host::new(1), Host::new(2));
        let vx1 = h1.network(4096, "10.0.9.1/24");
        let vx2 = h2.network(4096, "10.0.9.1/24");
        assert_eq!(h1.nl().link(vx1).unwrap().mtu, 1450, "underlay 1500 - 50");
        let (a, b) = (ip("10.0.9.2"), ip("10.0.9.3"));
        h1.container("c1", 4096, "10.0.9.2/24", mac_of(a), "10.0.9.1");
        h2.container("c2", 4096, "10.0.9.3/24", mac_of(b), "10.0.9.1");
        // A second overlay on the same hosts.
        h1.network(4097, "10.0.10.1/24");
        h2.network(4097, "10.0.10.1/24");
        let d = ip("10.0.10.3");
        h2.container("d2", 4097, "10.0.10.3/24", mac_of(d), "10.0.10.1");

        assert!(!ping("c1", "10.0.9.3", 1), "no entries, no path");
        let to_h2 = PeerSet {
            peers: [h2.vtep].into(),
            endpoints: vec![RemoteEndpoint {
                ip: b,
                mac: mac_of(b),
                vtep: h2.vtep,
            }],
        };
        let to_h1 = PeerSet {
            peers: [h1.vtep].into(),
            endpoints: vec![RemoteEndpoint {
                ip: a,
                mac: mac_of(a),
                vtep: h1.vtep,
            }],
        };
        let c = dataplane::reconcile(&mut h1.nl(), vx1, &to_h2).unwrap();
        assert_eq!((c.added, c.removed), (3, 0), "flood, fdb, neighbour");
        dataplane::reconcile(&mut h2.nl(), vx2, &to_h1).unwrap();
        // Idempotent.
        let c = dataplane::reconcile(&mut h1.nl(), vx1, &to_h2).unwrap();
        assert_eq!((c.added, c.removed), (0, 0));
        assert_eq!(dataplane::installed(&mut h1.nl(), vx1).unwrap(), to_h2);

        assert!(ping("c1", "10.0.9.3", 3), "c1 -> c2 across the tunnel");
        // 1450-byte packets pass, unfragmented.
        assert!(
            std::process::Command::new("ip")
                .args(["netns", "exec", "c1", "ping", "-c1", "-W1", "-M", "do"])
                .args(["-s", "1422", "10.0.9.3"])
                .status()
                .unwrap()
                .success()
        );
        // Another overlay's container is not reachable (no route between
        // them on the host, and a different VNI on the wire).
        assert!(!ping("c1", "10.0.10.3", 1));

        // A peer moved to another VTEP: the MAC is replaced, not appended.
        let mut moved = to_h2.clone();
        moved.peers = [ip("10.99.0.3")].into();
        moved.endpoints[0].vtep = ip("10.99.0.3");
        let c = dataplane::reconcile(&mut h1.nl(), vx1, &moved).unwrap();
        assert_eq!((c.added, c.removed), (2, 1), "{c:?}");
        assert_eq!(dataplane::installed(&mut h1.nl(), vx1).unwrap(), moved);
        assert!(!ping("c1", "10.0.9.3", 1));

        // Nothing wanted: everything goes.
        dataplane::reconcile(&mut h1.nl(), vx1, &PeerSet::default()).unwrap();
        assert_eq!(
            dataplane::installed(&mut h1.nl(), vx1).unwrap(),
            PeerSet::default()
        );
        assert!(dataplane::delete_vtep(&mut h1.nl(), 4096).unwrap());
        assert!(!dataplane::delete_vtep(&mut h1.nl(), 4096).unwrap());
    })
    .unwrap();
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(cluster: Cluster, h: &Host, ttl: Duration) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let mut agent = Agent::new(cluster, h.nl(), h.vtep, ttl);
        let s = stop.clone();
        // The agent runs inside its host, as `brnet overlay agent` does:
        // its connections to the store go over the host's underlay.
        let ns = h.ns.try_clone().unwrap();
        let thread = std::thread::spawn(move || {
            let _inside = ns.enter().unwrap();
            agent.run(&s)
        });
        Running {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

fn cluster(etcd: &Etcd) -> Cluster {
    let store: Arc<dyn Store> = Arc::new(EtcdStore::new(vec![etcd.client.clone()]).unwrap());
    Cluster::new(store)
}

/// Network `ovnet` (10.0.9.0/24, VNI chosen by the store) with record id
/// `id` repeated.
fn ovnet(id: &str) -> NetworkRecord {
    NetworkRecord {
        name: "ovnet".into(),
        id: id.repeat(64),
        subnet: "10.0.9.0/24".parse().unwrap(),
        gateway: ip("10.0.9.1"),
        vni: 0,
    }
}

/// `net` on every host with its agent (lease `ttl`), then one container
/// per host (`c1`, `c2`, ...), each joining and taking its address from
/// the store: the agents and the endpoints.
fn agents_and_containers(
    hosts: &[Host],
    net: &NetworkRecord,
    ttl: Duration,
    cluster: impl Fn() -> Cluster,
) -> (Vec<Running>, Vec<EndpointRecord>) {
    let agents = hosts
        .iter()
        .map(|h| {
            h.network(net.vni, "10.0.9.1/24");
            Running::start(cluster(), h, ttl)
        })
        .collect();
    let mut eps = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let c = cluster();
        c.join(h.vtep, ttl).unwrap();
        let name = format!("c{}", i + 1);
        let e = c.allocate(net, h.vtep, None, Some(&name), mac_of).unwrap();
        h.container(&name, net.vni, &format!("{}/24", e.ip), e.mac, "10.0.9.1");
        eps.push(e);
    }
    (agents, eps)
}

#[test]
fn agents_converge_through_etcd_drop_a_dead_host_and_survive_etcd_down() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        common::underlay();
        let mut nl = brnet_netlink::Socket::new().unwrap();
        let ul = nl.link_by_name("ul").unwrap().index;
        nl.add_address(ul, &"10.99.0.10/24".parse().unwrap())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut etcd = Etcd::start("10.99.0.10", dir.path());
        let hosts = [Host::new(1), Host::new(2), Host::new(3)];
        let want = ovnet("a");
        // Every host creates (joins) the network: one VNI, chosen once.
        let recs: Vec<NetworkRecord> = hosts
            .iter()
            .map(|_| cluster(&etcd).create_network(&want).unwrap())
            .collect();
        assert!(recs.iter().all(|r| *r == recs[0]));
        let net = recs[0].clone();
        assert_eq!(net.vni, 4096);

        let ttl = Duration::from_secs(2);
        // Connect one container per host: the address from the store.
        let (mut agents, eps) = agents_and_containers(&hosts, &net, ttl, || cluster(&etcd));
        let ips: Vec<String> = eps.iter().map(|e| e.ip.to_string()).collect();
        assert_eq!(
            ips,
            ["10.0.9.2", "10.0.9.3", "10.0.9.4"],
            "sequential from .2"
        );
        let took = eventually(Duration::from_secs(10), || ping("c1", &ips[2], 1))
            .expect("c1 reaches c3 on another host");
        eprintln!("convergence, 3 hosts: c1 -> c3 {took:?} after c3's connect");
        assert!(ping("c2", &ips[0], 2) && ping("c3", &ips[1], 2));

        // TCP across hosts: a listener in c2, a client in c1.
        let c2 = brnet_netns::NetnsDir::default().open("c2").unwrap();
        let c1 = brnet_netns::NetnsDir::default().open("c1").unwrap();
        let listener = c2
            .run(|| TcpListener::bind("10.0.9.3:8080").unwrap())
            .unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0; 1 << 20];
            s.read_exact(&mut buf).unwrap();
            s.write_all(b"ok").unwrap();
        });
        let mut client = c1
            .run(|| TcpStream::connect("10.0.9.3:8080").unwrap())
            .unwrap();
        client.write_all(&vec![7; 1 << 20]).unwrap();
        let mut ok = [0; 2];
        client.read_exact(&mut ok).unwrap();
        assert_eq!(&ok, b"ok");
        server.join().unwrap();

        // Concurrent connects on every host: no address twice.
        let threads: Vec<_> = hosts
            .iter()
            .map(|h| {
                let c = cluster(&etcd);
                let (net, me) = (net.clone(), h.vtep);
                std::thread::spawn(move || {
                    (0..8)
                        .map(|_| c.allocate(&net, me, None, None, mac_of).unwrap().ip)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = BTreeSet::new();
        for t in threads {
            for ip in t.join().unwrap() {
                assert!(all.insert(ip), "{ip} allocated twice");
            }
        }
        assert_eq!(all.len(), 24);
        for ip in &all {
            let owner = hosts
                .iter()
                .find(|h| cluster(&etcd).release(&net.name, *ip, h.vtep).unwrap())
                .is_some();
            assert!(owner, "{ip} released by its host");
        }

        // h3 dies: its agent stops, its lease runs out; h1 drops its
        // entries within TTL + one watch round.
        agents[2].stop();
        let h1_vx = hosts[0]
            .nl()
            .link(dataplane::vtep_name(net.vni))
            .unwrap()
            .index;
        let peers = |h: &Host| dataplane::installed(&mut h.nl(), h1_vx).unwrap();
        assert!(peers(&hosts[0]).peers.contains(&hosts[2].vtep));
        let t = Instant::now();
        let gone = eventually(Duration::from_secs(15), || {
            !peers(&hosts[0]).peers.contains(&hosts[2].vtep)
        })
        .expect("h3's entries removed on h1");
        eprintln!("dead host removed after {:?} (TTL {ttl:?})", t.elapsed());
        assert!(
            gone >= Duration::from_millis(500),
            "not before the lease ran out"
        );
        let left = peers(&hosts[0]);
        assert_eq!(left.peers, [hosts[1].vtep].into());
        assert_eq!(left.endpoints.len(), 1);
        assert!(!ping("c1", &ips[2], 1));
        // Its address is free again, but never-used ones go first (h3
        // may only be cut off, and come back).
        let e = cluster(&etcd)
            .allocate(&net, hosts[0].vtep, None, None, mac_of)
            .unwrap();
        assert_ne!(e.ip.to_string(), ips[2]);
        cluster(&etcd)
            .release(&net.name, e.ip, hosts[0].vtep)
            .unwrap();
        let e = cluster(&etcd)
            .allocate(&net, hosts[0].vtep, Some(ip(&ips[2])), None, mac_of)
            .unwrap();
        assert_eq!(e.ip.to_string(), ips[2], "taken over when asked for");
        cluster(&etcd)
            .release(&net.name, e.ip, hosts[0].vtep)
            .unwrap();

        // etcd down: existing traffic flows; a connect fails at once.
        // First, h2 knows h1 (it may have re-joined after a lease race).
        let h2_vx = hosts[1]
            .nl()
            .link(dataplane::vtep_name(net.vni))
            .unwrap()
            .index;
        let h2_peers = |h: &Host| dataplane::installed(&mut h.nl(), h2_vx).unwrap();
        assert!(
            eventually(Duration::from_secs(5), || h2_peers(&hosts[1])
                .peers
                .contains(&hosts[0].vtep))
            .is_some()
        );
        etcd.kill();
        assert!(ping("c1", &ips[1], 3), "traffic without the store");
        let t = Instant::now();
        let err = cluster(&etcd)
            .allocate(&net, hosts[0].vtep, None, None, mac_of)
            .unwrap_err();
        assert!(
            matches!(err, ClusterError::Store(ref s) if s.is_unreachable()),
            "{err}"
        );
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        std::thread::sleep(ttl * 2);
        assert!(ping("c1", &ips[1], 2), "the agents removed nothing");
        assert_eq!(peers(&hosts[0]).peers, [hosts[1].vtep].into());
        for a in &mut agents {
            a.stop();
        }
    })
    .unwrap();
}

#[test]
fn three_member_etcd_a_host_cut_off_and_healed_and_a_member_killed() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        common::underlay();
        let hosts = [Host::new(1), Host::new(2), Host::new(3)];
        let dir = tempfile::tempdir().unwrap();
        let mut members: Vec<Etcd> = (1..=3).map(|n| Etcd::member(n, dir.path())).collect();
        let endpoints: Vec<String> = members.iter().map(|m| m.client.clone()).collect();
        let cluster = || {
            let store: Arc<dyn Store> = Arc::new(EtcdStore::new(endpoints.clone()).unwrap());
            Cluster::new(store)
        };
        let up = eventually(Duration::from_secs(20), || {
            cluster().store().put("/health", "1", None).is_ok()
        });
        assert!(
            up.is_some(),
            "3 members up: {}",
            std::fs::read_to_string(dir.path().join("etcd1.log")).unwrap_or_default()
        );
        eprintln!("3-member etcd healthy after {up:?}");
        let net = cluster().create_network(&ovnet("b")).unwrap();
        let ttl = Duration::from_secs(2);
        let (_agents, eps) = agents_and_containers(&hosts, &net, ttl, cluster);
        let c3 = eps[2].ip.to_string();
        assert!(eventually(Duration::from_secs(10), || ping("c1", &c3, 1)).is_some());

        // h3 cut off from the underlay (and so from the store) for longer
        // than its TTL: the others drop it; nothing takes c3's address.
        let mut nl = brnet_netlink::Socket::new().unwrap();
        let uh3 = nl.link_by_name("uh3").unwrap().index;
        nl.set_down(uh3).unwrap();
        let vx1 = hosts[0]
            .nl()
            .link(dataplane::vtep_name(net.vni))
            .unwrap()
            .index;
        let h1_peers = || dataplane::installed(&mut hosts[0].nl(), vx1).unwrap().peers;
        let gone = eventually(Duration::from_secs(15), || {
            !h1_peers().contains(&hosts[2].vtep)
        });
        assert!(
            gone.is_some(),
            "h3 dropped on h1: store hosts {:?}, h1 peers {:?}",
            cluster()
                .snapshot()
                .map(|s| s.hosts.keys().copied().collect::<Vec<_>>()),
            h1_peers()
        );
        let e = cluster()
            .allocate(&net, hosts[0].vtep, None, None, mac_of)
            .unwrap();
        assert_ne!(
            e.ip, eps[2].ip,
            "a cut-off host's address is not handed out first"
        );
        cluster().release(&net.name, e.ip, hosts[0].vtep).unwrap();

        // Healed: h3 joins again (a new lease), everyone converges to the
        // store's truth: c3 reachable, its address still h3's.
        nl.set_up(uh3).unwrap();
        let t = Instant::now();
        let back = eventually(Duration::from_secs(20), || ping("c1", &c3, 1));
        assert!(back.is_some(), "c1 reaches c3 after the heal");
        eprintln!("healed host converged after {:?}", t.elapsed());
        let snap = cluster().snapshot().unwrap();
        let owners: Vec<_> = snap
            .live_endpoints("ovnet", None)
            .iter()
            .map(|e| (e.ip, e.host))
            .collect();
        assert_eq!(owners.len(), 3, "{owners:?}");
        assert!(owners.contains(&(eps[2].ip, hosts[2].vtep)));
        assert_eq!(
            h1_peers(),
            [hosts[1].vtep, hosts[2].vtep].into(),
            "no stale entry"
        );

        // One member killed (the first endpoint every client tries): the
        // store still answers (2 of 3), connects still work.
        members[0].kill();
        // (While the others elect a leader, if it was the leader, calls
        // fail at their deadline: tried again.)
        let mut got = None;
        let ok = eventually(Duration::from_secs(15), || {
            got = cluster()
                .allocate(&net, hosts[1].vtep, None, None, mac_of)
                .ok();
            got.is_some()
        });
        eprintln!("allocate with member 1 down: {ok:?}");
        let e = got.expect("allocate with 2 of 3 members");
        // Every agent's watch stream was on member 1 (the first
        // endpoint): each moves to another member from the revision it
        // had seen, and brings the new endpoint in.
        let has = |h: &Host, ip: IpAddr| {
            let mut nl = h.nl();
            let vx = nl.link(dataplane::vtep_name(net.vni)).unwrap().index;
            let have = dataplane::installed(&mut nl, vx).unwrap();
            have.endpoints.iter().any(|r| r.ip == ip)
        };
        let moved = eventually(Duration::from_secs(10), || {
            has(&hosts[0], e.ip) && has(&hosts[2], e.ip)
        });
        eprintln!("converged with member 1 down after {moved:?}");
        assert!(moved.is_some(), "converged with member 1 down");
        cluster().release(&net.name, e.ip, hosts[1].vtep).unwrap();
        assert!(ping("c2", &c3, 2) && ping("c1", &eps[1].ip.to_string(), 2));
        std::thread::sleep(ttl * 2);
        assert_eq!(
            h1_peers(),
            [hosts[1].vtep, hosts[2].vtep].into(),
            "leases kept alive"
        );

        // Healed: member 1 back with its data; a change still converges
        // on every other host.
        members[0] = Etcd::member(1, dir.path());
        let one = EtcdStore::new(vec![members[0].client.clone()]).unwrap();
        let back = eventually(Duration::from_secs(20), || {
            one.put("/health", "2", None).is_ok()
        });
        assert!(back.is_some(), "member 1 back: {}", members[0].log_text());
        let mut got = None;
        eventually(Duration::from_secs(15), || {
            got = cluster()
                .allocate(&net, hosts[0].vtep, None, None, mac_of)
                .ok();
            got.is_some()
        });
        let e = got.expect("allocate with 3 of 3 members");
        let healed = eventually(Duration::from_secs(10), || {
            has(&hosts[1], e.ip) && has(&hosts[2], e.ip)
        });
        assert!(healed.is_some(), "converged after the heal");
    })
    .unwrap();
}
