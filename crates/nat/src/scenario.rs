//! The scenario the snapshot and byte-level tests use: four networks that
//! between them use every chain, set and rule shape of the nft form. One
//! home for the crate's unit tests (`mod scenario`) and its integration
//! tests (`tests/common`, by `#[path]`): hence `brnet_nat::` paths, which
//! the crate names itself by in its own tests.

use brnet_nat::{Endpoint, GatewayMode, Model, Network, PortMapping, PortSpec};

/// Port `spec` (`8080:80/udp`) published to `container`.
pub fn mapping(spec: &str, container: &str) -> PortMapping {
    spec.parse::<PortSpec>()
        .unwrap()
        .to_mapping(container.parse().unwrap())
        .unwrap()
}

/// An endpoint at `addr` publishing `ports` (specs) to it.
pub fn endpoint(addr: &str, ports: &[&str]) -> Endpoint {
    let mut ep = Endpoint::new(&[addr.parse().unwrap()]).unwrap();
    for p in ports {
        ep = ep.publish(mapping(p, addr)).unwrap();
    }
    ep
}

/// docker0 (nat, IPv4 + IPv6, ports on every address and on loopback, a
/// range, udp and sctp), br-int (internal, ICC off), br-routed (routed,
/// one open port), br-snat (fixed SNAT source, no endpoint).
pub fn networks() -> Vec<(Network, Vec<Endpoint>)> {
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

/// The scenario as one model.
pub fn model() -> Model {
    let mut m = Model::new();
    for (net, eps) in networks() {
        m.set_network(net, eps).unwrap();
    }
    m
}
