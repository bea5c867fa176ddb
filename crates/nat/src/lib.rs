#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! The firewall of a Docker-style bridge network: outbound masquerade,
//! published ports, isolation between networks, internal networks and ICC,
//! as a pure model rendered three ways and applied by one of four backends.
//!
//! - The model: [`Network`] (bridge, subnets, Docker's per-network
//!   options), [`Endpoint`] (a container's addresses and its
//!   [`PortMapping`]s), parsed from Docker's `-p` syntax by [`PortSpec`].
//!   [`Model`] holds all networks and renders them, purely, as an nft
//!   script ([`Model::nft_script`]) or as `iptables-restore` text in Docker
//!   29's layout ([`Model::iptables`]).
//! - The [`Firewall`]: a handle for the network namespace it was created
//!   in, applying each operation as one transaction through the chosen
//!   [`Backend`]: native nf_tables over netlink (default, no binary), `nft
//!   -f -`, `iptables-restore --noflush`, or none. [`Firewall::dump`] and
//!   [`Firewall::check`] read the kernel back.
//!
//! # The nftables ruleset
//!
//! One table, `inet brnet`. Base chains (raw prerouting, nat prerouting,
//! output and postrouting, filter forward) hold only dispatch rules:
//! verdict maps keyed by bridge name (and, in raw, by container address)
//! jump to the network's own chains, so a packet for one network never
//! walks another network's rules. Published ports are elements of four
//! DNAT maps keyed by (host address,) protocol and port, looked up by one
//! rule each: publishing a port adds one element and no rule. See the
//! crate README for the whole table.
//!
//! # Example
//!
//! Rendering is pure; this runs anywhere:
//!
//! ```
//! use brnet_nat::{Endpoint, Model, Network, PortSpec};
//!
//! let net = Network::builder("docker0").ipv4("172.17.0.0/16".parse()?).build()?;
//! let c1 = "172.17.0.2".parse()?;
//! let web = "8080:80".parse::<PortSpec>()?.to_mapping(c1)?;
//! let ep = Endpoint::new(&[c1])?.publish(web)?;
//!
//! let mut model = Model::new();
//! model.set_network(net, vec![ep])?;
//! let script = model.nft_script("brnet");
//! assert!(script.contains("map ports4 {"));
//! assert!(script.contains("elements = { tcp . 8080 : 172.17.0.2 . 80 }"));
//! assert!(script.contains("oifname != \"docker0\" ip saddr 172.17.0.0/16 masquerade"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Applying needs CAP_NET_ADMIN in the target namespace; see [`Firewall`].
//!
//! # Host settings this crate does not make
//!
//! - `net.ipv4.ip_forward=1` (and IPv6 forwarding) for anything to be routed.
//! - `net.ipv4.conf.<bridge>.route_localnet=1` for ports published on
//!   127.0.0.1 to reach containers; we masquerade that traffic as it enters
//!   the bridge, and drop packets to 127.0.0.0/8 arriving on our bridges.
//! - `net.bridge.bridge-nf-call-iptables=1` (br_netfilter) for ICC off to
//!   apply to bridged traffic, and hairpin mode on the bridge port for a
//!   container to reach its own published port.

#[cfg(not(target_os = "linux"))]
compile_error!("brnet-nat supports Linux only: it programs Linux nf_tables and iptables");

mod error;
mod firewall;
mod iptables;
mod lock;
mod model;
mod netlink;
mod network;
mod plan;
mod port;
mod readback;
mod ruleset;
// The crate's own tests name it as its users do (the scenario is shared
// with the integration tests).
#[cfg(test)]
extern crate self as brnet_nat;
#[cfg(test)]
mod scenario;
#[cfg(test)]
mod scenario_tests;
mod script;

pub use brnet_netlink::{IfName, IfNameProblem, MAX_IFNAME_LEN};
pub use brnet_netns::Errno;
pub use error::{Error, ModelError, Result, ShowErrno};
pub use firewall::{Backend, Firewall};
pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};
pub use iptables::IptablesOptions;
pub use model::Model;
pub use network::{Endpoint, GatewayMode, Network, NetworkBuilder};
pub use port::{
    PortError, PortMapping, PortRange, PortSpec, PortSpecError, Protocol, PublishedPort,
};
pub use readback::{Drift, Installed};
pub use ruleset::DEFAULT_TABLE;

/// The decoders of nf_tables dump replies, for the fuzz targets in `fuzz/`
/// only: not part of the API.
#[doc(hidden)]
pub mod fuzz {
    use crate::netlink::dump;
    use crate::ruleset::ALL_SETS;

    /// Decode `payload` (a dump reply's payload after its `nfgenmsg`) as a
    /// table, a chain, a rule and the elements of every set, as the
    /// readback does; how many elements decoded.
    pub fn decode_dump(payload: &[u8]) -> usize {
        let _ = dump::table_name(payload);
        let _ = dump::chain_table_name(payload);
        let _ = dump::rule_chain_comment(payload);
        let mut n = 0;
        for raw in dump::raw_elements(payload) {
            for set in ALL_SETS {
                n += usize::from(dump::decode(set, &raw).is_some());
            }
        }
        n
    }
}
