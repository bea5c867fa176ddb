//! Test helpers: topologies built with `ip` inside a `brnet_netns::isolated`
//! sandbox, listeners and clients with socat, and `nft -j` read-backs (the
//! generic ones are the test kit's, `brnet_testkit`), and nat's own models.
#![allow(dead_code)]

use brnet_nat::Network;

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

pub fn net(bridge: &str, subnet: &str) -> Network {
    Network::builder(bridge)
        .ipv4(subnet.parse().unwrap())
        .build()
        .unwrap()
}

/// The scenario of the snapshot test: four networks that use every
/// chain, set and rule shape (`networks`), and its helpers.
#[path = "../../src/scenario.rs"]
mod scenario_src;
#[allow(unused_imports)] // not every test binary takes the scenario
pub use scenario_src::{endpoint, mapping, networks as scenario};
