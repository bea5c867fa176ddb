//! Docker 28's gateway priority (`ConnectOptions::gw_priority`, `brnet
//! network connect --gw-priority`): the namespace's network with the
//! highest priority gives its default route; a failed connect leaves the
//! old one in place.

use bridge_net::{BridgeNet, ConnectOptions, Fault, NetworkOptions};
use brnet_netns::NetnsDir;
use brnet_tests::*;

fn net(b: &mut BridgeNet, name: &str, subnet: &str) {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    b.create_network(name, &o).unwrap();
}

/// The gateways of `ns`'s IPv4 default routes, from the kernel.
fn default_gateways(ns: &str) -> Vec<String> {
    ip_json(&["-n", ns, "-4", "route", "show", "default"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["gateway"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `(network, default_route)` of `ns`'s endpoints, as recorded.
fn holders(b: &mut BridgeNet) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = b
        .endpoints(None)
        .unwrap()
        .into_iter()
        .map(|e| (e.network, e.default_route))
        .collect();
    v.sort();
    v
}

#[test]
fn the_highest_gateway_priority_gives_the_default_route() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        net(&mut b, "a", "172.27.0.0/16");
        net(&mut b, "b", "172.26.0.0/16");
        net(&mut b, "c", "172.25.0.0/16");
        NetnsDir::default().create("c1").unwrap();
        let c1 = "c1".parse().unwrap();
        b.connect("a", &c1, &ConnectOptions::default()).unwrap();
        assert_eq!(default_gateways("c1"), ["172.27.0.1"]);

        let high = ConnectOptions {
            gw_priority: Some(10),
            ..ConnectOptions::default()
        };
        // A failure at any step leaves a's default route, in the kernel
        // and in the record.
        for step in ["connect.veth", "connect.firewall", "connect.record"] {
            b.inject(Some(Fault::Fail(step.into())));
            assert!(b.connect("b", &c1, &high).is_err(), "{step}");
            b.inject(None);
            assert_eq!(default_gateways("c1"), ["172.27.0.1"], "after {step}");
            assert_eq!(holders(&mut b), [("a".to_owned(), true)], "after {step}");
        }

        let ep = b.connect("b", &c1, &high).unwrap();
        assert!(ep.default_route);
        assert_eq!(default_gateways("c1"), ["172.26.0.1"]);
        assert_eq!(
            holders(&mut b),
            [("a".to_owned(), false), ("b".to_owned(), true)]
        );

        // A lower priority than the holder's: no default route.
        let low = ConnectOptions {
            gw_priority: Some(5),
            ..ConnectOptions::default()
        };
        let ep = b.connect("c", &c1, &low).unwrap();
        assert!(!ep.default_route);
        assert_eq!(default_gateways("c1"), ["172.26.0.1"]);

        // A handle opened afresh reads the same from the state.
        let mut again = BridgeNet::open(dir.path()).unwrap();
        assert_eq!(
            holders(&mut again),
            [
                ("a".to_owned(), false),
                ("b".to_owned(), true),
                ("c".to_owned(), false)
            ]
        );
        // The holder leaves: the highest priority left takes the route
        // (c's 5 over a's 0), then the last one.
        assert!(b.disconnect("b", &c1).unwrap());
        assert_eq!(default_gateways("c1"), ["172.25.0.1"]);
        assert_eq!(
            holders(&mut b),
            [("a".to_owned(), false), ("c".to_owned(), true)]
        );
        assert!(b.disconnect("c", &c1).unwrap());
        assert_eq!(default_gateways("c1"), ["172.27.0.1"]);
        assert_eq!(holders(&mut b), [("a".to_owned(), true)]);
        assert!(b.disconnect("a", &c1).unwrap());
        assert_eq!(default_gateways("c1"), Vec::<String>::new());
        assert_eq!(holders(&mut b), []);
    });
}

#[test]
fn without_priorities_the_first_networks_route_is_not_handed_on() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        net(&mut b, "a", "172.27.0.0/16");
        net(&mut b, "b", "172.26.0.0/16");
        NetnsDir::default().create("c1").unwrap();
        let c1 = "c1".parse().unwrap();
        b.connect("a", &c1, &ConnectOptions::default()).unwrap();
        b.connect("b", &c1, &ConnectOptions::default()).unwrap();
        assert_eq!(default_gateways("c1"), ["172.27.0.1"]);
        assert!(b.disconnect("a", &c1).unwrap());
        // As before gateway priorities: no re-election.
        assert_eq!(default_gateways("c1"), Vec::<String>::new());
        assert_eq!(holders(&mut b), [("b".to_owned(), false)]);
    });
}
