//! The scenario the snapshot and byte-level tests use: four networks that
//! between them use every chain, set and rule shape of the nft form.

use crate::{Endpoint, GatewayMode, Model, Network, PortMapping, PortSpec};

fn mapping(spec: &str, container: &str) -> PortMapping {
    spec.parse::<PortSpec>()
        .unwrap()
        .to_mapping(container.parse().unwrap())
        .unwrap()
}

/// docker0 (nat, IPv4 + IPv6, ports on every address and on loopback, a
/// range, udp and sctp), br-int (internal, ICC off), br-routed (routed,
/// one open port), br-snat (fixed SNAT source, no endpoint).
pub(crate) fn model() -> Model {
    let docker0 = Network::builder("docker0")
        .ipv4("172.17.0.0/16".parse().unwrap())
        .ipv6("fd00:17::/64".parse().unwrap())
        .build()
        .unwrap();
    let c1 = Endpoint::new(&["172.17.0.2".parse().unwrap(), "fd00:17::2".parse().unwrap()])
        .unwrap()
        .publish(mapping("8080:80", "172.17.0.2"))
        .unwrap()
        .publish(mapping("5353:53/udp", "172.17.0.2"))
        .unwrap()
        .publish(mapping("9000:9000/sctp", "172.17.0.2"))
        .unwrap()
        .publish(mapping("127.0.0.1:8081:80", "172.17.0.2"))
        .unwrap()
        .publish(mapping("8000-8002:90-92", "172.17.0.2"))
        .unwrap()
        .publish(mapping("8080:80", "fd00:17::2"))
        .unwrap()
        .publish(mapping("[::1]:8082:80", "fd00:17::2"))
        .unwrap();
    let int = Network::builder("br-int")
        .ipv4("10.10.0.0/24".parse().unwrap())
        .internal(true)
        .icc(false)
        .build()
        .unwrap();
    let int_ep = Endpoint::new(&["10.10.0.2".parse().unwrap()]).unwrap();
    let routed = Network::builder("br-routed")
        .ipv4("192.0.2.0/24".parse().unwrap())
        .gateway_mode(GatewayMode::Routed)
        .build()
        .unwrap();
    let routed_ep = Endpoint::new(&["192.0.2.2".parse().unwrap()])
        .unwrap()
        .publish(mapping("8080:80", "192.0.2.2"))
        .unwrap();
    let snat = Network::builder("br-snat")
        .ipv4("10.20.0.0/20".parse().unwrap())
        .snat4("203.0.113.1".parse().unwrap())
        .build()
        .unwrap();
    let mut m = Model::new();
    m.set_network(docker0, vec![c1]).unwrap();
    m.set_network(int, vec![int_ep]).unwrap();
    m.set_network(routed, vec![routed_ep]).unwrap();
    m.set_network(snat, vec![]).unwrap();
    m
}

#[test]
fn print_scenario() {
    if let Ok(path) = std::env::var("BRNET_NAT_WRITE_SCENARIO") {
        std::fs::write(path, model().nft_script("brnet")).unwrap();
    }
}

/// Snapshot: the scenario's nft script. The same file is what `nft -f`
/// turned into the messages of `scenario.mnl.hex` (see regen.sh), which
/// the byte-level tests compare ours with.
#[test]
fn nft_script_snapshot() {
    assert_eq!(
        model().nft_script("brnet"),
        include_str!("../tests/fixtures/scenario.nft")
    );
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(model().nft_script("brnet"), model().nft_script("brnet"));
    let o = crate::IptablesOptions::default();
    assert_eq!(model().iptables(&o), model().iptables(&o));
}
