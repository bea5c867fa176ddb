//! What a plan takes from outside, so that planning stays a function: the
//! random and time-dependent seeds, and the host's word on its ports.
//! Below both `plan`, which takes them, and `host`, which
//! draws and answers them.

use std::net::IpAddr;

use brnet_nat::Protocol;
use brnet_netlink::{IfName, MacAddr};

/// The random and time-dependent inputs of a plan, drawn once before
/// planning (by `host::seeds`) so that the plan itself stays a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds {
    /// The new object's id: 64 hex digits.
    pub id: String,
    /// The host end's name: `veth` + 7 hex digits.
    pub host_veth: IfName,
    /// A locally administered unicast MAC, for `MacPolicy::Random` and
    /// endpoints without IPv4.
    pub mac: MacAddr,
    /// Now, RFC 3339.
    pub now: String,
    /// Where the search for a free host port starts in the ephemeral range
    /// (any number: it is taken modulo the range's size).
    pub port_start: u16,
}

/// What the host says about its ports: whether one can be bound, and the
/// ephemeral range host ports are chosen from. `host::Ports` asks the
/// kernel (a bind per port); tests answer from a set.
pub trait HostPorts {
    /// The ephemeral range (`net.ipv4.ip_local_port_range`).
    fn range(&self) -> (u16, u16);
    /// Whether `port` can be bound on `host_ip` (every address: `None`).
    fn free(&self, protocol: Protocol, host_ip: Option<IpAddr>, port: u16) -> bool;
}
