//! The plans, without root: a state built from commits alone, requests,
//! and a host that answers from a set.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::state::State;

/// A host whose ports are free unless listed.
struct FakeHost {
    busy: BTreeSet<u16>,
}

impl HostPorts for FakeHost {
    fn range(&self) -> (u16, u16) {
        (49153, 49163)
    }
    fn free(&self, _: Protocol, _: Option<IpAddr>, port: u16) -> bool {
        !self.busy.contains(&port)
    }
}

const FREE: FakeHost = FakeHost {
    busy: BTreeSet::new(),
};

fn seeds(n: u8) -> Seeds {
    Seeds {
        id: format!("{n:02x}").repeat(32),
        host_veth: IfName::new(&format!("veth00000{n:02x}")).unwrap(),
        mac: MacAddr([0x02, 0, 0, 0, 0, n]),
        now: "2026-12-05T00:00:00Z".into(),
        port_start: 0,
    }
}

fn view() -> HostView {
    HostView {
        reserved: vec!["172.17.0.0/16".parse().unwrap()],
        bridge_v4: None,
        default_pools: brnet_ipam::DefaultPool::docker_defaults(),
        loopback_guarded: true,
        default_route_link: None,
    }
}

/// Add network `name` on `subnet` (`None`: from the pools) to `state`.
fn with_network(state: &mut State, name: &str, subnet: Option<&str>, n: u8) -> NetworkPlan {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = subnet.map(|s| s.parse().unwrap());
    let plan = create_network(state, name, o, false, &seeds(n), &view()).unwrap();
    state
        .apply(Op::Network {
            network: plan.record.clone(),
        })
        .unwrap();
    plan
}

fn ns(path: &str, ino: u64, cookie: Option<u64>) -> Target {
    Target::Netns {
        path: PathBuf::from(path),
        id: NsIdentity {
            dev: 4,
            ino,
            ctime_ns: 0,
            cookie,
        },
        short_name: path.rsplit('/').next().unwrap().to_owned(),
    }
}

fn publishing(spec: &str) -> ConnectOptions {
    ConnectOptions {
        ports: vec![spec.parse().unwrap()],
        ..ConnectOptions::default()
    }
}

fn plain() -> ConnectOptions {
    ConnectOptions::default()
}

fn commit(state: &mut State, plan: &EndpointPlan) {
    state.apply(plan.commit()).unwrap();
}

#[test]
fn a_network_from_the_pools_skips_the_hosts_routes_and_ours() {
    let mut st = State::default();
    let a = with_network(&mut st, "a", None, 1);
    assert_eq!(a.subnets, vec!["172.18.0.0/16".parse::<IpNet>().unwrap()]);
    assert_eq!(
        a.link,
        NetworkLink::Bridge {
            name: IfName::new(&format!("br-{}", "01".repeat(6))).unwrap(),
            addresses: vec!["172.18.0.1/16".parse().unwrap()],
        }
    );
    assert!(a.route_localnet && !a.ipv6_forwarding && !a.br_netfilter);
    let b = with_network(&mut st, "b", None, 2);
    assert_eq!(b.subnets, vec!["172.19.0.0/16".parse::<IpNet>().unwrap()]);
    let e = create_network(
        &st,
        "a",
        NetworkOptions::default(),
        false,
        &seeds(3),
        &view(),
    );
    assert!(matches!(e, Err(Error::NetworkExists { .. })));
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some("172.19.5.0/24".parse().unwrap());
    let e = create_network(&st, "c", o, false, &seeds(3), &view()).unwrap_err();
    assert!(
        e.to_string()
            .contains("overlaps 172.19.0.0/16 of network \"b\""),
        "{e}"
    );
    // The default network keeps docker0's address.
    let mut v = view();
    v.bridge_v4 = Some("10.9.0.1/24".parse().unwrap());
    let d = create_network(
        &st,
        "bridge",
        NetworkOptions::default(),
        true,
        &seeds(4),
        &v,
    )
    .unwrap();
    assert_eq!(d.record.bridge, "docker0");
    assert_eq!(d.subnets, vec!["10.9.0.0/24".parse::<IpNet>().unwrap()]);
    assert_eq!(d.record.options.dns, Some(false));
    // No loopback guard in the firewall: no route_localnet.
    let mut v = view();
    v.loopback_guarded = false;
    let e = create_network(&st, "e", NetworkOptions::default(), false, &seeds(5), &v).unwrap();
    assert!(!e.route_localnet);
}

#[test]
fn connect_plans_addresses_names_mac_routes_ports_and_names() {
    let mut st = State::default();
    with_network(&mut st, "n", Some("172.20.0.0/16"), 1);
    let opts = ConnectOptions {
        ports: vec!["8080:80".parse().unwrap()],
        aliases: vec!["www".into()],
        ..ConnectOptions::default()
    };
    let web = ns("/run/netns/web", 7, Some(70));
    let p = connect(&st, "n", &web, &opts, &seeds(10), &FREE).unwrap();
    assert_eq!(p.record.ipv4.unwrap().to_string(), "172.20.0.2/16");
    assert_eq!(p.mac.to_string(), "02:42:ac:14:00:02");
    assert_eq!(
        p.link,
        EndpointLink::Veth {
            host: seeds(10).host_veth,
            peer: IfName::new("eth0").unwrap()
        }
    );
    assert_eq!(
        p.routes,
        vec![Route {
            dst: "0.0.0.0/0".parse().unwrap(),
            via: "172.20.0.1".parse().unwrap(),
            metric: None
        }]
    );
    assert!(p.record.default_route && p.disable_ipv6);
    assert_eq!(p.record.container, "web");
    assert_eq!(p.record.netns_cookie, Some(70));
    assert_eq!(p.firewall.as_ref().unwrap().1.ports().len(), 1);
    let dns = p.dns.clone().unwrap();
    assert_eq!(dns.names, vec!["web".to_owned(), "www".into()]);
    assert_eq!(dns.domain, "dns.brnet");
    commit(&mut st, &p);

    // Again: already connected. A second network: eth1, no default route.
    let again = connect(&st, "n", &web, &opts, &seeds(11), &FREE);
    assert!(matches!(again, Err(Error::AlreadyConnected { .. })));
    with_network(&mut st, "m", Some("172.21.0.0/16"), 2);
    let q = connect(&st, "m", &web, &plain(), &seeds(12), &FREE).unwrap();
    assert_eq!(q.record.ifname, "eth1");
    assert!(!q.record.default_route && q.routes.is_empty());
    assert_eq!(
        q.record.container_id, p.record.container_id,
        "one container"
    );

    // A namespace made again at the same path with the old inode is
    // another one: its cookie says so.
    let reborn = ns("/run/netns/web", 7, Some(71));
    let r = connect(&st, "n", &reborn, &plain(), &seeds(13), &FREE).unwrap();
    assert_eq!(r.record.ifname, "eth0");
    assert_eq!(r.record.ipv4.unwrap().to_string(), "172.20.0.3/16");
    // Without cookies (a kernel before 5.14), the inode decides.
    let old_kernel = ns("/run/netns/web", 7, None);
    let s = connect(&st, "n", &old_kernel, &plain(), &seeds(14), &FREE);
    assert!(matches!(s, Err(Error::AlreadyConnected { .. })));
    // Unknown network, ports on an internal one.
    assert!(matches!(
        connect(&st, "x", &web, &plain(), &seeds(15), &FREE),
        Err(Error::NetworkNotFound { .. })
    ));
}

#[test]
fn every_address_of_a_family_conflicts_with_one_of_its_addresses() {
    let mut st = State::default();
    with_network(&mut st, "n", Some("172.20.0.0/16"), 1);
    let (a, b) = (
        ns("/run/netns/a", 1, Some(1)),
        ns("/run/netns/b", 2, Some(2)),
    );
    let p = connect(
        &st,
        "n",
        &a,
        &publishing("127.0.0.1:8080:80"),
        &seeds(10),
        &FREE,
    )
    .unwrap();
    commit(&mut st, &p);
    for spec in ["0.0.0.0:8080:80", "8080:80", "127.0.0.1:8080:81"] {
        let e = connect(&st, "n", &b, &publishing(spec), &seeds(11), &FREE)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("port 8080/tcp") && e.contains("container \"a\""),
            "{spec}: {e}"
        );
    }
    // Other addresses and protocols: no conflict.
    for spec in ["127.0.0.2:8080:80", "8080:80/udp"] {
        connect(&st, "n", &b, &publishing(spec), &seeds(11), &FREE).unwrap();
    }
    // The other way round.
    let mut st = State::default();
    with_network(&mut st, "n", Some("172.20.0.0/16"), 1);
    let p = connect(
        &st,
        "n",
        &a,
        &publishing("0.0.0.0:9090:80"),
        &seeds(10),
        &FREE,
    )
    .unwrap();
    commit(&mut st, &p);
    assert!(
        connect(
            &st,
            "n",
            &b,
            &publishing("127.0.0.1:9090:80"),
            &seeds(11),
            &FREE
        )
        .is_err()
    );
    // A host port the host holds.
    let busy = FakeHost {
        busy: [7070].into(),
    };
    let e = connect(&st, "n", &b, &publishing("7070:80"), &seeds(11), &busy).unwrap_err();
    assert!(
        matches!(
            e,
            Error::PortInUse {
                port: 7070,
                by: None,
                ..
            }
        ),
        "{e}"
    );
    // Ephemeral ports come from the range, skipping what is taken.
    let busy = FakeHost {
        busy: [49153, 49154].into(),
    };
    let p = connect(&st, "n", &b, &publishing("80"), &seeds(11), &busy).unwrap();
    assert_eq!(p.record.ports[0].host_port, 49155);
}

#[test]
fn a_detached_endpoint_opens_nothing_and_routes_nothing() {
    let mut st = State::default();
    with_network(&mut st, "n", Some("172.20.0.0/16"), 1);
    let peer = IfName::new("vethpeer001").unwrap();
    let p = connect(
        &st,
        "n",
        &Target::Detached { peer },
        &plain(),
        &seeds(10),
        &FREE,
    )
    .unwrap();
    assert!(is_detached(&p.record));
    assert_eq!(p.record.ifname, "vethpeer001");
    assert_eq!(p.record.container, "0a0a0a0a0a0a");
    assert!(p.routes.is_empty() && !p.record.default_route);
    assert_eq!(p.record.netns_ino, 0);
    commit(&mut st, &p);
    let d = disconnect(&st, &p.record.id, true).unwrap();
    assert_eq!(d.record, p.record);
    st.apply(d.commit()).unwrap();
    assert!(st.endpoints.is_empty() && st.intents.is_empty());
}

#[test]
fn publish_replaces_the_ports_and_its_own_do_not_conflict() {
    let mut st = State::default();
    with_network(&mut st, "n", Some("172.20.0.0/16"), 1);
    let a = ns("/run/netns/a", 1, Some(1));
    let p = connect(&st, "n", &a, &plain(), &seeds(10), &FREE).unwrap();
    commit(&mut st, &p);
    let spec: PortSpec = "8080:80".parse().unwrap();
    let first = publish(&st, &p.record.id, &[spec], &seeds(11), &FREE).unwrap();
    assert!(first.remove.is_empty() && first.add.len() == 1);
    st.apply(first.commit()).unwrap();
    let again = publish(&st, &p.record.id, &[spec], &seeds(12), &FREE).unwrap();
    assert!(again.is_noop());
    let none = publish(&st, &p.record.id, &[], &seeds(12), &FREE).unwrap();
    assert_eq!((none.remove.len(), none.add.len()), (1, 0));
}

#[test]
fn removal_is_refused_while_endpoints_remain() {
    let mut st = State::default();
    with_network(&mut st, "n", Some("172.20.0.0/16"), 1);
    assert!(remove_network(&st, "nope").unwrap().is_none());
    let a = ns("/run/netns/a", 1, None);
    let p = connect(&st, "n", &a, &plain(), &seeds(10), &FREE).unwrap();
    commit(&mut st, &p);
    let e = remove_network(&st, "n").unwrap_err().to_string();
    assert!(e.contains("a (eth0)"), "{e}");
    st.apply(disconnect(&st, &p.record.id, false).unwrap().commit())
        .unwrap();
    let r = remove_network(&st, "n").unwrap().unwrap();
    st.apply(r.commit()).unwrap();
    assert!(st.networks.is_empty());
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Step {
    /// Connect namespace `k`: the next address, or offset `ip` asked for.
    Connect { k: u8, ip: Option<u8> },
    /// Disconnect namespace `k`.
    Disconnect { k: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..40, proptest::option::weighted(0.2, 0u8..=80))
            .prop_map(|(k, ip)| Step::Connect { k, ip }),
        1 => (0u8..40).prop_map(|k| Step::Disconnect { k }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The plan's addresses are the IPAM's: for every connect, the address
    /// planned is what a pool driven directly hands out (or the
    /// allocator's own error), the commit takes exactly it, replaying the
    /// journal gives the same state, and no address is planned twice.
    #[test]
    fn plans_follow_the_ipam(
        lowest in any::<bool>(),
        steps in proptest::collection::vec(step(), 1..120),
    ) {
        let mut st = State::default();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("10.1.0.0/26".parse().unwrap());
        if lowest {
            o.order = brnet_ipam::Order::Lowest;
        }
        let net = create_network(&st, "n", o, false, &seeds(1), &view()).unwrap();
        let mut journal = vec![Op::Network { network: net.record.clone() }];
        st.apply(journal[0].clone()).unwrap();
        let mut model = st.networks[0].pool4.clone().unwrap();
        let mut ids: BTreeMap<u8, String> = BTreeMap::new();
        let base = u32::from(Ipv4Addr::new(10, 1, 0, 0));
        for (i, s) in steps.iter().enumerate() {
            match *s {
                Step::Connect { k, ip } => {
                    let asked = ip.map(|o| Ipv4Addr::from(base + u32::from(o)));
                    let opts = ConnectOptions { ipv4: asked, ..ConnectOptions::default() };
                    let mut sd = seeds(2);
                    sd.id = format!("{i:064x}");
                    let target = ns(&format!("/run/netns/c{k}"), u64::from(k) + 1, Some(u64::from(k)));
                    let got = connect(&st, "n", &target, &opts, &sd, &FREE);
                    if ids.contains_key(&k) {
                        prop_assert!(matches!(got, Err(Error::AlreadyConnected { .. })), "{:?}", got.map(|p| p.record));
                        continue;
                    }
                    let want = match asked {
                        Some(a) => model.request(IpAddr::V4(a)).map(|()| IpAddr::V4(a)),
                        None => model.allocate(),
                    };
                    match (got, want) {
                        (Ok(p), Ok(a)) => {
                            prop_assert_eq!(IpAddr::V4(p.record.ipv4.unwrap().addr()), a);
                            prop_assert!(!st.networks[0].pool4.as_ref().unwrap().is_allocated(a), "planned a taken address");
                            journal.push(p.commit());
                            st.apply(p.commit()).unwrap();
                            prop_assert!(st.networks[0].pool4.as_ref().unwrap().is_allocated(a));
                            ids.insert(k, p.record.id.clone());
                        }
                        (Err(Error::Ipam { cause, .. }), Err(e)) => prop_assert_eq!(cause, e),
                        (got, want) => prop_assert!(false, "plan {:?}, ipam {:?}", got.map(|p| p.record.ipv4), want),
                    }
                }
                Step::Disconnect { k } => {
                    let Some(id) = ids.remove(&k) else { continue };
                    let d = disconnect(&st, &id, true).unwrap();
                    model.release(IpAddr::V4(d.record.ipv4.unwrap().addr())).unwrap();
                    journal.push(d.commit());
                    st.apply(d.commit()).unwrap();
                }
            }
            prop_assert_eq!(st.networks[0].pool4.as_ref(), Some(&model));
        }
        // Replay: the journal alone gives the same state.
        let mut again = State::default();
        for op in journal {
            again.apply(op).unwrap();
        }
        prop_assert_eq!(again, st);
    }
}

#[test]
fn a_namespace_is_known_by_inode_change_time_and_cookie() {
    let mut st = State::default();
    with_network(&mut st, "n", Some("172.20.0.0/16"), 1);
    let mut t = ns("/run/netns/a", 5, Some(50));
    if let Target::Netns { id, .. } = &mut t {
        id.ctime_ns = 1000;
    }
    let p = connect(&st, "n", &t, &plain(), &seeds(10), &FREE).unwrap();
    let rec = &p.record;
    assert_eq!(
        (rec.netns_ino, rec.netns_ctime, rec.netns_cookie),
        (5, 1000, Some(50))
    );
    let id = |ino, ctime_ns, cookie| NsIdentity {
        dev: 4,
        ino,
        ctime_ns,
        cookie,
    };
    assert!(
        id(5, 1000, None).is_of(rec),
        "same inode since: same namespace"
    );
    assert!(
        id(5, 2000, Some(50)).is_of(rec),
        "inode made anew: the cookie says"
    );
    assert!(
        !id(5, 2000, Some(51)).is_of(rec),
        "inode reused: another one"
    );
    assert!(!id(6, 1000, Some(50)).is_of(rec), "another inode");
    let mut other_dev = id(5, 1000, Some(50));
    other_dev.dev = 9;
    assert!(!other_dev.is_of(rec));
}
