//! Test helpers: topologies built with `ip` inside a `brnet_netns::isolated`
//! sandbox, listeners and clients with socat, and `nft -j` read-backs (the
//! generic ones are the test kit's, `brnet_testkit`), and nat's own models.
#![allow(dead_code)]

use brnet_nat::{Endpoint, Network, PortMapping, PortSpec};

/// A bridge with its gateway address (`172.17.0.1/16`), up, with
/// `route_localnet` on.
pub fn bridge(name: &str, gw: &str) {
    brnet_testkit::topo::network(name, &[gw]);
    brnet_testkit::topo::route_localnet(name);
}

/// A container namespace `ns` on `bridge`: `eth0` inside with `addr`
/// (`172.17.0.2/16`), default route via `gw` (none when `gw` is empty).
pub fn container(ns: &str, bridge: &str, addr: &str, gw: &str) {
    brnet_testkit::topo::container(ns, bridge, &[addr]);
    if !gw.is_empty() {
        brnet_testkit::topo::default_route(ns, gw);
    }
}

/// An "outside" namespace `ns` reached over a veth (`o-<ns>`): the sandbox
/// side gets `host` (`198.51.100.1/24`), the outside side `addr`. Outside
/// has no route to container subnets.
pub fn outside(ns: &str, host: &str, addr: &str) {
    brnet_testkit::topo::outside(ns, host, addr);
}

pub fn mapping(spec: &str, container: &str) -> PortMapping {
    spec.parse::<PortSpec>()
        .unwrap()
        .to_mapping(container.parse().unwrap())
        .unwrap()
}

pub fn endpoint(addr: &str, ports: &[&str]) -> Endpoint {
    let mut ep = Endpoint::new(&[addr.parse().unwrap()]).unwrap();
    for p in ports {
        ep = ep.publish(mapping(p, addr)).unwrap();
    }
    ep
}

pub fn net(bridge: &str, subnet: &str) -> Network {
    Network::builder(bridge)
        .ipv4(subnet.parse().unwrap())
        .build()
        .unwrap()
}

/// The scenario of the snapshot test (see src/scenario.rs): four networks
/// that use every chain, set and rule shape.
pub fn scenario() -> Vec<(Network, Vec<Endpoint>)> {
    use brnet_nat::GatewayMode;
    let docker0 = Network::builder("docker0")
        .ipv4("172.17.0.0/16".parse().unwrap())
        .ipv6("fd00:17::/64".parse().unwrap())
        .build()
        .unwrap();
    let mut c1 =
        Endpoint::new(&["172.17.0.2".parse().unwrap(), "fd00:17::2".parse().unwrap()]).unwrap();
    for (spec, addr) in [
        ("8080:80", "172.17.0.2"),
        ("5353:53/udp", "172.17.0.2"),
        ("9000:9000/sctp", "172.17.0.2"),
        ("127.0.0.1:8081:80", "172.17.0.2"),
        ("8000-8002:90-92", "172.17.0.2"),
        ("8080:80", "fd00:17::2"),
        ("[::1]:8082:80", "fd00:17::2"),
    ] {
        c1 = c1.publish(mapping(spec, addr)).unwrap();
    }
    let int = Network::builder("br-int")
        .ipv4("10.10.0.0/24".parse().unwrap())
        .internal(true)
        .icc(false)
        .build()
        .unwrap();
    let routed = Network::builder("br-routed")
        .ipv4("192.0.2.0/24".parse().unwrap())
        .gateway_mode(GatewayMode::Routed)
        .build()
        .unwrap();
    let snat = Network::builder("br-snat")
        .ipv4("10.20.0.0/20".parse().unwrap())
        .snat4("203.0.113.1".parse().unwrap())
        .build()
        .unwrap();
    vec![
        (docker0, vec![c1]),
        (int, vec![endpoint("10.10.0.2", &[])]),
        (routed, vec![endpoint("192.0.2.2", &["8080:80"])]),
        (snat, vec![]),
    ]
}
