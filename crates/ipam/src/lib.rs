#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! Docker's bridge-network address management, as a pure library: no
//! syscalls, no netlink, usable alone by any container runtime.
//!
//! - [`SubnetAllocator`] chooses the subnet of a new network from the
//!   default address pools ([`DefaultPool`]: Docker's 172.17–172.31 /16s,
//!   then 192.168.0.0/16 in /20s, or your own list), skipping subnets in use
//!   and the prefixes the caller reserves.
//! - [`Pool`] hands out the addresses of one subnet: the gateway is the first
//!   host address (`x.x.0.1`, IPv6 `::1`), containers get `.2`, `.3`, … in
//!   [`Order::Serial`] (default) or [`Order::Lowest`] order; ip-range,
//!   explicit requests, auxiliary reservations, release, O(1) counts.
//! - [`overlaps`] tells whether two prefixes share an address.
//!
//!
//! # Decisions
//!
//! - **Host bits.** A subnet or ip-range with host bits set
//!   (`172.20.0.1/16`) is refused with [`Error::HostBitsSet`] naming the
//!   prefix it should be (`172.20.0.0/16`), as Docker refuses it; nothing is
//!   normalised silently. Give a gateway with [`PoolBuilder::gateway`].
//! - **Set-aside addresses.** The network address (IPv6: the subnet-router
//!   anycast address) and the IPv4 broadcast address, except in point-to-point
//!   subnets: an IPv4 /31 (IPv6 /127) has two usable addresses, a /32 (/128)
//!   one, and the gateway takes the first.
//! - **Gateway with an ip-range.** The gateway is the subnet's first host
//!   address even when an ip-range is set (Docker takes the range's first
//!   free address); pass [`PoolBuilder::gateway`] for anything else.
//! - **Huge subnets (IPv6 /64 and larger).** The bitmap covers at most
//!   [`DYNAMIC_WINDOW`] = 2^24 addresses: the whole subnet up to an IPv4 /8
//!   or IPv6 /104, else the first 2^24 addresses of the dynamic range (Docker
//!   likewise allocates only from the first 2^63 addresses of a /64). It is
//!   made of 8 KiB chunks of 65,536 addresses (`BitVec<u64, Lsb0>`),
//!   allocated on first use and freed when empty: a /16 costs 8 KiB, a /64
//!   with 100,000 addresses allocated about 24 KiB, and no bitmap exceeds
//!   2 MiB. It is searched a word at a time: the word under the cursor,
//!   then `first_zero` on the slice from there; full chunks are skipped on
//!   their count. Explicit requests
//!   and reservations beyond the window are kept in a sorted set of at most
//!   [`MAX_OUTSIDE_WINDOW`] addresses ([`Error::TooManyOutsideWindow`]).
//!   [`Pool::free`] counts the whole subnet, so it can be non-zero while
//!   [`Pool::allocate`] reports the dynamic range exhausted.
//! - **Saved state** ([`PoolState`], [`AllocatorState`]): version
//!   [`STATE_VERSION`], allocated addresses as ascending `"a-b"` ranges, the
//!   serial cursor included, so a round trip is exact. Loading refuses a
//!   wrong version, an address outside the subnet, overlapping or unordered
//!   ranges, a fixed address listed as allocated, and an unknown field, with
//!   a typed [`Error`] from [`Pool::from_state`] (through serde, the same
//!   error as the format's error message).

mod bitmap;
mod error;
mod order;
mod pool;
mod state;
mod subnets;

pub use error::{Error, GatewayProblem, Result, Role, StateProblem};
pub use ipnet::{self, IpNet, Ipv4Net, Ipv6Net};
pub use order::Order;
pub use pool::{DYNAMIC_WINDOW, MAX_OUTSIDE_WINDOW, Pool, PoolBuilder};
pub use state::{AllocatorState, PoolState, STATE_VERSION};
pub use subnets::{DefaultPool, SubnetAllocator, overlaps};
