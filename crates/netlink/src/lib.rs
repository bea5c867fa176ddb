#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! The one netlink transport, and rtnetlink on it: links, addresses and
//! routes, with typed kernel errors.
//!
//! - [`transport`]: one socket type for every netlink protocol
//!   ([`Transport`]: requests, gets, dumps that honour `NLM_F_DUMP_INTR`
//!   and errors in `NLMSG_DONE`, batches, dropped replies, buffer sizes),
//!   and [`wire`], the pure parser of what the kernel answers. rtnetlink
//!   ([`Socket`]) and brnet-nat's nf_tables both go through it; new
//!   messages (neighbours, FDB entries) do too, through
//!   [`Socket::request`] and [`Socket::dump`].
//! - [`Socket`]: opened in the calling thread's namespace ([`Socket::new`])
//!   or inside another one ([`Socket::open_in`]); it stays bound to that
//!   namespace, so a container is configured without entering it.
//! - Links ([`Socket::link`], [`Socket::links`], [`Socket::change_link`],
//!   [`Socket::create_veth`], [`Socket::create_bridge`], ...), addresses
//!   ([`Socket::add_address`], ...) and routes ([`Socket::add_default_route`],
//!   ...), neighbours and FDB entries ([`neigh`]: [`Socket::add_fdb`],
//!   [`Socket::add_neighbour`], ...), vxlan devices ([`vxlan`]).
//! - [`msg`]: the pure functions that build every message (attributes with
//!   [neli]), tested byte by byte without root.
//! - Errors name the operation and the object:
//!   `create link veth1a2b3c4: file exists (EEXIST)`. Interface names are
//!   checked ([`IfName`]) before anything is sent.

#[cfg(not(target_os = "linux"))]
compile_error!("brnet-netlink supports Linux only: it speaks Linux rtnetlink");

pub mod consts;
mod error;
mod ifname;
mod mac;
pub mod msg;
mod socket;
mod sys;
pub mod transport;
pub mod wire;

mod addr;
mod attr;
mod family;
mod link;
pub mod macvlan;
pub mod neigh;
mod route;
pub mod vxlan;

pub use addr::Address;
pub use error::{Error, IfNameProblem, Result};
pub use family::Family;
pub use ifname::{IfName, MAX_IFNAME_LEN};
pub use ipnet;
pub use link::{
    BridgeInfo, BridgePortFlags, BridgePortInfo, BridgeSpec, Link, LinkChange, LinkRef, Master,
    VethSpec,
};
pub use mac::MacAddr;
pub use macvlan::MacvlanSpec;
pub use neigh::{NeighFamily, NeighMode, Neighbour};
pub use route::{Route, RouteSpec};
pub use socket::Socket;
pub use transport::{Failure, Protocol, Transport};
pub use vxlan::{VxlanInfo, VxlanSpec};
