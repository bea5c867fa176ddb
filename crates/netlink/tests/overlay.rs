//! vxlan devices, FDB entries and neighbour entries against the real
//! kernel, in a throwaway sandbox, read back through our own dumps and
//! through iproute2 (`ip -d link`, `bridge fdb`, `ip neigh`).

use std::net::IpAddr;

use brnet_netlink::neigh::{NTF_SELF, NUD_PERMANENT};
use brnet_netlink::{
    IfName, MacAddr, NeighMode, Neighbour, Socket, VethSpec, VxlanInfo, VxlanSpec,
};
use brnet_netns::{isolated, privileged_test};
use brnet_testkit::cmd::run;

fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An underlay link (one end of a veth pair, up, 10.99.0.1/24).
fn underlay(nl: &mut Socket, mtu: u32) -> u32 {
    nl.create_veth(&VethSpec {
        name: &name("u0"),
        peer_name: &name("u1"),
        peer_netns: None,
        master: None,
        mtu: Some(mtu),
        mac: None,
        peer_mac: None,
        up: true,
        peer_up: false,
    })
    .unwrap();
    let u0 = nl.link_by_name("u0").unwrap().index;
    nl.add_address(u0, &"10.99.0.1/24".parse().unwrap())
        .unwrap();
    u0
}

fn spec<'a>(n: &'a IfName, vni: u32, link: Option<u32>) -> VxlanSpec<'a> {
    VxlanSpec::new(n, VxlanInfo::overlay(vni, Some(ip("10.99.0.1")), link))
}

/// In a fresh sandbox: the underlay (MTU 1500) and `vx-A` (VNI 4096) on
/// it; `body` gets the socket and the vxlan device's index.
fn with_vxlan(body: impl FnOnce(&mut Socket, u32) + Send) {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let mut nl = Socket::new().unwrap();
        let u0 = underlay(&mut nl, 1500);
        let vx = name("vx-A");
        nl.create_vxlan(&spec(&vx, 4096, Some(u0))).unwrap();
        let vxi = nl.link(&vx).unwrap().index;
        body(&mut nl, vxi);
    })
    .unwrap();
}

/// The FDB entries of `vxi` with one of `macs`, as (MAC, destination).
fn fdb_of(nl: &mut Socket, vxi: u32, macs: &[MacAddr]) -> Vec<Neighbour> {
    nl.fdb_entries(vxi)
        .unwrap()
        .into_iter()
        .filter(|n| n.mac.is_some_and(|m| macs.contains(&m)))
        .collect()
}

#[test]
fn vxlan_is_created_as_asked_and_read_back() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        let mut nl = Socket::new().unwrap();
        let u0 = underlay(&mut nl, 9000);
        let vx = name("vx-A");
        nl.create_vxlan(&spec(&vx, 4096, Some(u0))).unwrap();
        let link = nl.link(&vx).unwrap();
        assert_eq!(link.kind.as_deref(), Some("vxlan"));
        assert_eq!(link.mtu, 8950, "lower MTU - 50");
        let v = nl.vxlan(&vx).unwrap();
        assert_eq!(
            (v.vni, v.local, v.link, v.port, v.learning, v.proxy),
            (4096, Some(ip("10.99.0.1")), Some(u0), 4789, false, true)
        );
        let shown = run("ip", &["-d", "link", "show", "vx-A"]);
        for want in [
            "vxlan id 4096",
            "local 10.99.0.1",
            "dev u0",
            "dstport 4789",
            "nolearning",
            "proxy",
        ] {
            assert!(shown.contains(want), "{want} not in {shown}");
        }
        // The same VNI and port again: the kernel's EEXIST, named.
        let vx_b = name("vx-B");
        let e = nl.create_vxlan(&spec(&vx_b, 4096, Some(u0))).unwrap_err();
        assert!(e.is_exists(), "{e}");
        assert!(e.to_string().contains("create vxlan vx-B"), "{e}");
        // Not a vxlan: NotFound.
        assert!(nl.vxlan(u0).unwrap_err().is_not_found());
        // Standalone (no dev): MTU 1500 unless told.
        let vx_d = name("vx-D");
        let mut free = spec(&vx_d, 4098, None);
        free.mtu = Some(1450);
        nl.create_vxlan(&free).unwrap();
        assert_eq!(nl.link_by_name("vx-D").unwrap().mtu, 1450);
    })
    .unwrap();
}

#[test]
fn fdb_flood_list_unicast_entries_and_deletes() {
    with_vxlan(|nl, vxi| {
        let zero = MacAddr([0; 6]);
        let (h2, h3) = (ip("10.99.0.2"), ip("10.99.0.3"));

        // Flood list: one entry per peer, append is idempotent.
        nl.add_fdb(vxi, zero, Some(h2), NeighMode::Append).unwrap();
        nl.add_fdb(vxi, zero, Some(h3), NeighMode::Append).unwrap();
        nl.add_fdb(vxi, zero, Some(h3), NeighMode::Append).unwrap();
        let flood = fdb_of(nl, vxi, &[zero]);
        assert_eq!(flood.len(), 2, "{flood:?}");
        assert!(
            flood
                .iter()
                .all(|n| n.is_permanent() && n.flags & NTF_SELF != 0)
        );

        // A unicast MAC: add, add again is EEXIST, replace moves it.
        let mac: MacAddr = "02:42:0a:00:09:02".parse().unwrap();
        nl.add_fdb(vxi, mac, Some(h2), NeighMode::Add).unwrap();
        assert!(
            nl.add_fdb(vxi, mac, Some(h3), NeighMode::Add)
                .unwrap_err()
                .is_exists()
        );
        nl.add_fdb(vxi, mac, Some(h3), NeighMode::Replace).unwrap();
        let ours = fdb_of(nl, vxi, &[mac]);
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].dst, Some(h3));
        let shown = run("bridge", &["fdb", "show", "dev", "vx-A"]);
        assert!(
            shown.contains("02:42:0a:00:09:02 dst 10.99.0.3 self permanent"),
            "{shown}"
        );
        assert!(
            shown.contains("00:00:00:00:00:00 dst 10.99.0.2 self permanent"),
            "{shown}"
        );

        // One peer off the flood list; the unicast entry by its own dst.
        nl.delete_fdb(vxi, zero, Some(h2)).unwrap();
        nl.delete_fdb(vxi, mac, Some(h3)).unwrap();
        assert!(!nl.delete_fdb_if_exists(vxi, mac, None).unwrap());
        let left: Vec<_> = fdb_of(nl, vxi, &[zero, mac])
            .into_iter()
            .map(|n| (n.mac, n.dst))
            .collect();
        assert_eq!(left, [(Some(zero), Some(h3))]);
    });
}

#[test]
fn permanent_neighbours_add_replace_delete() {
    with_vxlan(|nl, vxi| {
        let (a, b): (MacAddr, MacAddr) = (
            "02:42:0a:00:09:03".parse().unwrap(),
            "02:42:0a:00:09:04".parse().unwrap(),
        );
        let c = ip("10.0.9.3");
        nl.add_neighbour(vxi, c, a, NeighMode::Add).unwrap();
        let e = nl.add_neighbour(vxi, c, b, NeighMode::Add).unwrap_err();
        assert!(e.is_exists() && e.to_string().contains("10.0.9.3"), "{e}");
        nl.add_neighbour(vxi, c, b, NeighMode::Replace).unwrap();
        // Only ours: the kernel adds NOARP entries of its own (IPv6
        // multicast, once the device sends an MLD report).
        let ours = |nl: &mut Socket| -> Vec<_> {
            nl.neighbours(vxi)
                .unwrap()
                .into_iter()
                .filter(|n| n.is_permanent())
                .collect()
        };
        let n = ours(nl);
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!((n[0].dst, n[0].mac), (Some(c), Some(b)));
        assert_ne!(n[0].state & NUD_PERMANENT, 0);
        let shown = run("ip", &["neigh", "show", "dev", "vx-A"]);
        assert!(
            shown.contains("10.0.9.3 lladdr 02:42:0a:00:09:04 PERMANENT"),
            "{shown}"
        );
        nl.delete_neighbour(vxi, c).unwrap();
        assert!(nl.delete_neighbour(vxi, c).unwrap_err().is_not_found());
        assert!(!nl.delete_neighbour_if_exists(vxi, c).unwrap());
        assert!(ours(nl).is_empty());
    });
}
