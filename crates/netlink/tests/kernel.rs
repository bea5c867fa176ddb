//! Every operation against the real kernel, in a throwaway sandbox, read
//! back both through our own dump and through iproute2.

use brnet_testkit::cmd::ip;

use brnet_netlink::{
    BridgePortFlags, BridgeSpec, Family, IfName, MacAddr, RouteSpec, Socket, VethSpec,
};
use brnet_netns::NetnsDir;

fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

fn veth(nl: &mut Socket, a: &str, b: &str) {
    nl.create_veth(&VethSpec {
        name: &name(a),
        peer_name: &name(b),
        peer_netns: None,
        master: None,
        mtu: None,
        mac: None,
        peer_mac: None,
        up: false,
        peer_up: false,
    })
    .unwrap();
}

#[test]
fn links_change_and_read_back() {
    brnet_testkit::sandboxed(|| {
        let mut nl = Socket::new().unwrap();
        veth(&mut nl, "va", "vb");
        let va = nl.link_by_name("va").unwrap();
        let vb = nl.link_by_name("vb").unwrap();
        assert_eq!(va.kind.as_deref(), Some("veth"));
        assert_eq!(va.link, Some(vb.index), "a veth's IFLA_LINK is its peer");
        assert!(!va.is_up());

        nl.set_mtu(va.index, 1400).unwrap();
        let mac: MacAddr = "02:42:ac:11:00:09".parse().unwrap();
        nl.set_mac(va.index, mac).unwrap();
        nl.set_up(va.index).unwrap();
        let got = nl.link(va.index).unwrap();
        assert_eq!((got.mtu, got.mac, got.is_up()), (1400, Some(mac), true));
        assert!(ip(&["link", "show", "va"]).contains("mtu 1400"));

        // Rename needs the link down.
        nl.set_down(va.index).unwrap();
        nl.rename(va.index, &name("renamed")).unwrap();
        assert_eq!(nl.link(va.index).unwrap().name, "renamed");
        assert!(nl.link_by_name("va").unwrap_err().is_not_found());

        // Master set and cleared, port flags.
        nl.create_bridge(&BridgeSpec::new(&name("br0"))).unwrap();
        let br = nl.link_by_name("br0").unwrap();
        nl.set_master(va.index, br.index).unwrap();
        nl.set_bridge_port(
            va.index,
            &BridgePortFlags {
                hairpin: Some(true),
                isolated: Some(true),
            },
        )
        .unwrap();
        let port = nl.link(va.index).unwrap();
        assert_eq!(port.master, Some(br.index));
        let info = port.port.unwrap();
        assert!(info.hairpin && info.isolated, "{info:?}");
        let detail = ip(&["-d", "link", "show", "renamed"]);
        assert!(
            detail.contains("hairpin on") && detail.contains("isolated on"),
            "{detail}"
        );
        nl.clear_master(va.index).unwrap();
        assert_eq!(nl.link(va.index).unwrap().master, None);
        nl.set_bridge_stp(br.index, true).unwrap();
        assert_eq!(nl.link(br.index).unwrap().bridge.map(|b| b.stp), Some(true));

        // Move to a namespace by fd; it is gone here and there now.
        let ns = NetnsDir::default().create("far").unwrap();
        nl.move_to_netns(vb.index, &ns).unwrap();
        assert!(nl.link_by_name("vb").unwrap_err().is_not_found());
        let mut far = Socket::open_in(&ns).unwrap();
        assert!(far.link_by_name("vb").is_ok());
        assert!(ip(&["-n", "far", "link", "show", "vb"]).contains("vb"));

        // Delete (the peer goes with it), idempotently.
        nl.delete_link(va.index).unwrap();
        assert!(!nl.delete_link_if_exists(va.index).unwrap());
        assert!(far.link_by_name("vb").unwrap_err().is_not_found());
        assert_eq!(
            nl.links()
                .unwrap()
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>(),
            ["lo", "br0"]
        );
    });
}

#[test]
fn addresses_and_routes() {
    brnet_testkit::sandboxed(|| {
        let mut nl = Socket::new().unwrap();
        veth(&mut nl, "a0", "a1");
        let a0 = nl.link_by_name("a0").unwrap().index;
        nl.set_up(a0).unwrap();
        let a1 = nl.link_by_name("a1").unwrap().index;
        nl.set_up(a1).unwrap();
        let v4 = "10.7.0.2/24".parse().unwrap();
        let v6 = "fd07::2/64".parse().unwrap();
        nl.add_address(a0, &v4).unwrap();
        nl.add_address_nodad(a0, &v6).unwrap();
        let addrs = nl.addresses_of(a0).unwrap();
        assert!(addrs.iter().any(|a| a.net == v4));
        let six = addrs.iter().find(|a| a.net == v6).unwrap();
        assert_ne!(six.flags & 0x02, 0, "nodad is recorded");
        let shown = ip(&["addr", "show", "dev", "a0"]);
        assert!(shown.contains("10.7.0.2/24 brd 10.7.0.255"), "{shown}");
        let ours = shown.lines().find(|l| l.contains("fd07::2/64")).unwrap();
        assert!(!ours.contains("tentative"), "{shown}");
        // The same address twice: EEXIST, named.
        let e = nl.add_address(a0, &v4).unwrap_err();
        assert!(e.is_exists());
        assert!(
            e.to_string()
                .starts_with("add address 10.7.0.2/24 on ifindex"),
            "{e}"
        );

        nl.add_default_route("10.7.0.1".parse().unwrap()).unwrap();
        nl.add_route(&RouteSpec {
            dst: Some("10.9.0.0/16".parse().unwrap()),
            gateway: None,
            oif: Some(a0),
            metric: None,
        })
        .unwrap();
        let routes = nl.routes(Family::V4).unwrap();
        let default = routes.iter().find(|r| r.is_default()).unwrap();
        assert_eq!(default.gateway, Some("10.7.0.1".parse().unwrap()));
        assert!(
            routes
                .iter()
                .any(|r| r.dst == Some("10.9.0.0/16".parse().unwrap()) && r.oif == Some(a0))
        );
        assert!(ip(&["route"]).contains("default via 10.7.0.1 dev a0"));
        nl.delete_default_route("10.7.0.1".parse().unwrap())
            .unwrap();
        assert!(
            !nl.routes(Family::V4)
                .unwrap()
                .iter()
                .any(|r| r.is_default())
        );
        let e = nl
            .delete_default_route("10.7.0.1".parse().unwrap())
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");

        nl.delete_address(a0, &v4).unwrap();
        assert!(!nl.addresses_of(a0).unwrap().iter().any(|a| a.net == v4));
        assert!(nl.delete_address(a0, &v4).unwrap_err().is_not_found());
    });
}

#[test]
fn kernel_errors_are_typed_and_named() {
    brnet_testkit::sandboxed(|| {
        let mut nl = Socket::new().unwrap();
        let e = nl.link_by_name("nope0").unwrap_err();
        assert_eq!(e.to_string(), "link nope0 not found");
        let e = nl.set_up(name("nope0")).unwrap_err();
        assert!(e.is_not_found());
        assert!(
            e.to_string()
                .starts_with("set up nope0: no such device (ENODEV)"),
            "{e}"
        );
        // A port on something that is not a bridge: the kernel's own words.
        veth(&mut nl, "p0", "p1");
        let lo = nl.link_by_name("lo").unwrap().index;
        let e = nl.set_master(name("p0"), lo).unwrap_err();
        assert!(e.to_string().starts_with("set master p0: "), "{e}");
    });
}

/// The addresses of one link, asked of the kernel for that link alone
/// (strict checking for that request only): another link's are not among
/// them, a link that does not exist has none, and the socket's other dumps
/// are as before.
#[test]
fn addresses_of_one_link_among_others() {
    brnet_testkit::sandboxed(|| {
        let mut nl = Socket::new().unwrap();
        veth(&mut nl, "a0", "a1");
        let a0 = nl.link_by_name("a0").unwrap().index;
        let a1 = nl.link_by_name("a1").unwrap().index;
        let (v0, v1) = (
            "10.8.0.2/24".parse().unwrap(),
            "10.8.1.2/24".parse().unwrap(),
        );
        nl.add_address(a0, &v0).unwrap();
        nl.add_address(a1, &v1).unwrap();
        let of0 = nl.addresses_of(a0).unwrap();
        assert!(of0.iter().all(|a| a.index == a0), "{of0:?}");
        assert!(of0.iter().any(|a| a.net == v0));
        assert!(nl.addresses_of(a1).unwrap().iter().any(|a| a.net == v1));
        assert!(nl.addresses_of(999_999).unwrap().is_empty());
        let all = nl.addresses(None).unwrap();
        assert!(all.iter().any(|a| a.net == v0) && all.iter().any(|a| a.net == v1));
        assert!(all.iter().any(|a| a.index == 1), "lo's too: {all:?}");
        assert_eq!(nl.links().unwrap().len(), 3);
    });
}
