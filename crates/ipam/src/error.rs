//! The crate's error type.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The fixed role of an address that can be neither requested nor released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The first address of the subnet (IPv4 network address, IPv6
    /// subnet-router anycast address).
    Network,
    /// The last address of an IPv4 subnet.
    Broadcast,
    /// The pool's gateway.
    Gateway,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Network => "network address",
            Role::Broadcast => "broadcast address",
            Role::Gateway => "gateway",
        })
    }
}

/// Why a gateway given to [`PoolBuilder::gateway`](crate::PoolBuilder::gateway)
/// was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayProblem {
    /// The address is not inside the subnet (or is of the other family).
    OutsideSubnet,
    /// The address is the subnet's network address.
    NetworkAddress,
    /// The address is the subnet's IPv4 broadcast address.
    BroadcastAddress,
}

impl fmt::Display for GatewayProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GatewayProblem::OutsideSubnet => "not inside the subnet",
            GatewayProblem::NetworkAddress => "it is the network address",
            GatewayProblem::BroadcastAddress => "it is the broadcast address",
        })
    }
}

/// What is wrong with saved state that was refused by
/// [`Pool::from_state`](crate::Pool::from_state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateProblem {
    /// The address is not inside the subnet (or is of the other family).
    OutsideSubnet,
    /// A range ends before it starts.
    ReversedRange,
    /// Ranges or reserved addresses are not in ascending order, or overlap.
    Unordered,
    /// The network, broadcast or gateway address is listed as allocated or
    /// reserved.
    FixedAddress,
    /// The address is listed both as allocated and as reserved.
    Duplicate,
    /// The serial cursor is outside the pool's dynamic range.
    CursorOutsideRange,
    /// More addresses outside the dynamic window than a pool keeps
    /// (see [`MAX_OUTSIDE_WINDOW`](crate::MAX_OUTSIDE_WINDOW)).
    TooManyOutsideWindow,
}

impl fmt::Display for StateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateProblem::OutsideSubnet => "address outside the subnet",
            StateProblem::ReversedRange => "range ends before it starts",
            StateProblem::Unordered => "entries overlap or are out of order",
            StateProblem::FixedAddress => {
                "network, broadcast or gateway address listed as allocated"
            }
            StateProblem::Duplicate => "address listed as both allocated and reserved",
            StateProblem::CursorOutsideRange => "cursor outside the dynamic range",
            StateProblem::TooManyOutsideWindow => "too many addresses outside the dynamic window",
        })
    }
}

/// Everything that can go wrong in address management.
///
/// Every variant carries the subnet and, where there is one, the address it
/// is about; none is a bare string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A prefix was given with host bits set (`172.20.0.1/16`); nothing is
    /// normalised silently.
    #[error("invalid prefix {given}: host bits are set, it should be {expected}")]
    HostBitsSet {
        /// The prefix as given.
        given: IpNet,
        /// The same prefix with the host bits cleared.
        expected: IpNet,
    },
    /// The `--ip-range` sub-range is not inside the subnet.
    #[error("ip range {range} is not inside {subnet}")]
    RangeOutsideSubnet {
        /// The pool's subnet.
        subnet: IpNet,
        /// The rejected range.
        range: IpNet,
    },
    /// The gateway given for a pool is unusable.
    #[error("invalid gateway {gateway} for {subnet}: {problem}")]
    InvalidGateway {
        /// The pool's subnet.
        subnet: IpNet,
        /// The rejected gateway.
        gateway: IpAddr,
        /// Why it was rejected.
        problem: GatewayProblem,
    },
    /// No free address is left in the pool's dynamic range.
    #[error("no available addresses in {subnet}")]
    Exhausted {
        /// The pool's subnet.
        subnet: IpNet,
    },
    /// The address is not inside the pool's subnet.
    #[error("address {addr} is outside {subnet}")]
    OutOfRange {
        /// The pool's subnet.
        subnet: IpNet,
        /// The address asked for.
        addr: IpAddr,
    },
    /// The address is already allocated or reserved.
    #[error("address {addr} is already allocated in {subnet}")]
    AlreadyAllocated {
        /// The pool's subnet.
        subnet: IpNet,
        /// The address asked for.
        addr: IpAddr,
    },
    /// Release of an address that is neither allocated nor reserved.
    #[error("address {addr} is not allocated in {subnet}")]
    NotAllocated {
        /// The pool's subnet.
        subnet: IpNet,
        /// The address asked for.
        addr: IpAddr,
    },
    /// The address is the network, broadcast or gateway address: it can be
    /// neither requested, reserved nor released.
    #[error("address {addr} is the {role} of {subnet}")]
    FixedAddress {
        /// The pool's subnet.
        subnet: IpNet,
        /// The address asked for.
        addr: IpAddr,
        /// What the address is.
        role: Role,
    },
    /// An explicit request or reservation outside the pool's dynamic window
    /// would exceed the bound on such addresses.
    #[error(
        "cannot record {addr} in {subnet}: {limit} addresses outside the dynamic window are already recorded"
    )]
    TooManyOutsideWindow {
        /// The pool's subnet.
        subnet: IpNet,
        /// The address asked for.
        addr: IpAddr,
        /// The bound ([`MAX_OUTSIDE_WINDOW`](crate::MAX_OUTSIDE_WINDOW)).
        limit: usize,
    },
    /// Saved state carries a version this build does not read.
    #[error("unsupported saved state version {found} (this build reads version {expected})")]
    UnsupportedVersion {
        /// The version found in the state.
        found: u32,
        /// The version this build writes and reads.
        expected: u32,
    },
    /// Saved pool state is inconsistent; nothing was loaded.
    #[error("invalid saved state of {subnet} at {addr}: {problem}")]
    InvalidState {
        /// The saved pool's subnet.
        subnet: IpNet,
        /// The first offending address.
        addr: IpAddr,
        /// What is wrong.
        problem: StateProblem,
    },
    /// A default address pool whose size is not between the base's prefix
    /// length and the family's maximum.
    #[error(
        "invalid default address pool {base} with size {size}: the size must be between {} and {}",
        base.prefix_len(),
        base.max_prefix_len()
    )]
    InvalidDefaultPool {
        /// The pool's base prefix.
        base: IpNet,
        /// The requested prefix length of each network.
        size: u8,
    },
    /// Every slot of every default address pool overlaps an allocated
    /// subnet or a reserved prefix.
    #[error("all default address pools are in use")]
    PoolsExhausted,
    /// A subnet overlaps one that is already allocated.
    #[error("subnet {subnet} overlaps allocated subnet {existing}")]
    SubnetOverlap {
        /// The subnet asked for.
        subnet: IpNet,
        /// The allocated subnet it overlaps.
        existing: IpNet,
    },
    /// Release of a subnet that is not allocated.
    #[error("subnet {subnet} is not allocated")]
    SubnetNotAllocated {
        /// The subnet asked for.
        subnet: IpNet,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Rejects a prefix with host bits set.
pub(crate) fn check_no_host_bits(net: IpNet) -> Result<()> {
    let expected = net.trunc();
    if expected == net {
        Ok(())
    } else {
        Err(Error::HostBitsSet {
            given: net,
            expected,
        })
    }
}
