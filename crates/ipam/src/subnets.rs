//! Choosing the subnet of a new network: Docker's default address pools.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, check_no_host_bits};
use crate::pool::{addr_bits, low_mask};
use crate::state::{AllocatorState, PoolSpec, STATE_VERSION};

/// Docker's local default pools (`ipamutils/utils.go`), in order.
const DOCKER_DEFAULTS: [(Ipv4Net, u8); 7] = [
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 17, 0, 0), 16), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 18, 0, 0), 16), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 19, 0, 0), 16), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 20, 0, 0), 14), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 24, 0, 0), 14), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(172, 28, 0, 0), 14), 16),
    (Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16), 20),
];

/// Whether two prefixes share at least one address. Prefixes of different
/// families never overlap; host bits are ignored.
///
/// ```
/// use brnet_ipam::{IpNet, overlaps};
///
/// let a: IpNet = "172.19.0.0/16".parse()?;
/// assert!(overlaps(&a, &"172.19.5.0/24".parse()?));
/// assert!(!overlaps(&a, &"172.20.0.0/16".parse()?));
/// # Ok::<(), ipnet::AddrParseError>(())
/// ```
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// One entry of the default address pools, like daemon.json's
/// `"default-address-pools": [{"base": "10.10.0.0/16", "size": 24}]`:
/// networks of prefix length `size` carved out of `base`.
///
/// Deserialises from `{"base": ..., "size": ...}` with the checks of
/// [`DefaultPool::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "PoolSpec", into = "PoolSpec")]
pub struct DefaultPool {
    base: IpNet,
    size: u8,
}

impl DefaultPool {
    /// Networks of prefix length `size` out of `base`.
    ///
    /// # Errors
    /// [`Error::HostBitsSet`] if `base` has host bits set,
    /// [`Error::InvalidDefaultPool`] if `size` is shorter than `base`'s
    /// prefix or longer than the family allows.
    pub fn new(base: impl Into<IpNet>, size: u8) -> Result<DefaultPool> {
        let base = base.into();
        check_no_host_bits(base)?;
        if size < base.prefix_len() || size > base.max_prefix_len() {
            return Err(Error::InvalidDefaultPool { base, size });
        }
        Ok(DefaultPool { base, size })
    }

    /// Docker's local defaults: 172.17.0.0/16 … 172.31.0.0/16 (15
    /// networks), then 192.168.0.0/16 split into /20s (16 networks).
    pub fn docker_defaults() -> Vec<DefaultPool> {
        DOCKER_DEFAULTS
            .iter()
            .map(|&(base, size)| DefaultPool {
                base: IpNet::V4(base),
                size,
            })
            .collect()
    }

    /// The prefix networks are carved from.
    pub fn base(&self) -> IpNet {
        self.base
    }

    /// The prefix length of each network.
    pub fn size(&self) -> u8 {
        self.size
    }

    /// The first slot of this pool that overlaps none of `taken`.
    fn first_free<'a>(&self, taken: impl Iterator<Item = &'a IpNet>) -> Option<IpNet> {
        let base = self.base;
        let mut obstacles: Vec<(u128, u128)> = taken
            .filter(|net| overlaps(net, &base))
            .map(|net| (addr_bits(net.network()), addr_bits(net.broadcast())))
            .collect();
        obstacles.sort_unstable();
        let mask = low_mask(u32::from(base.max_prefix_len() - self.size));
        let base_last = addr_bits(base.broadcast());
        let mut candidate = addr_bits(base.network());
        // Obstacles by start: skip those behind the candidate, stop at the
        // first one past its end, jump past every one that overlaps it.
        for (start, end) in obstacles {
            if end < candidate {
                continue;
            }
            if start > candidate | mask {
                break;
            }
            let next = (end | mask).checked_add(1)?;
            if next > base_last {
                return None;
            }
            candidate = next;
        }
        let addr = match base {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(candidate as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(candidate)),
        };
        IpNet::new(addr, self.size).ok()
    }
}

impl TryFrom<PoolSpec> for DefaultPool {
    type Error = Error;

    fn try_from(spec: PoolSpec) -> Result<DefaultPool> {
        DefaultPool::new(spec.base, spec.size)
    }
}

impl From<DefaultPool> for PoolSpec {
    fn from(pool: DefaultPool) -> PoolSpec {
        PoolSpec {
            base: pool.base,
            size: pool.size,
        }
    }
}

/// Chooses subnets for new networks from a list of [`DefaultPool`]s and
/// keeps track of every subnet in use, chosen or explicit.
///
/// [`next`](SubnetAllocator::next) returns the first slot, pool by pool,
/// that overlaps no allocated subnet and none of the prefixes the caller
/// reserves (the host's on-link routes and nameservers: reading them is the
/// caller's business, this crate stays pure). Holes left by
/// [`release`](SubnetAllocator::release) are filled first, as Docker's
/// linear allocator does since v27.
///
/// Keep one allocator per address family, as Docker keeps one pool list per
/// family; the defaults are IPv4.
///
/// ```
/// use brnet_ipam::{IpNet, SubnetAllocator};
///
/// let mut subnets = SubnetAllocator::new();
/// assert_eq!(subnets.next(&[])?.to_string(), "172.17.0.0/16"); // docker0
/// assert_eq!(subnets.next(&[])?.to_string(), "172.18.0.0/16");
/// // 172.19.5.0/24 is an on-link route of the host.
/// let routes: [IpNet; 1] = ["172.19.5.0/24".parse().unwrap()];
/// assert_eq!(subnets.next(&routes)?.to_string(), "172.20.0.0/16");
/// # Ok::<(), brnet_ipam::Error>(())
/// ```
///
/// Serialises (serde) as its [`AllocatorState`]; deserialising checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AllocatorState", into = "AllocatorState")]
pub struct SubnetAllocator {
    pools: Vec<DefaultPool>,
    allocated: BTreeSet<IpNet>,
}

impl Default for SubnetAllocator {
    fn default() -> SubnetAllocator {
        SubnetAllocator::new()
    }
}

impl SubnetAllocator {
    /// An allocator over Docker's local defaults
    /// ([`DefaultPool::docker_defaults`]), nothing allocated.
    pub fn new() -> SubnetAllocator {
        SubnetAllocator::with_pools(DefaultPool::docker_defaults())
    }

    /// An allocator over `pools`, tried in order, nothing allocated. Like
    /// `default-address-pools`, the list replaces the defaults.
    pub fn with_pools(pools: Vec<DefaultPool>) -> SubnetAllocator {
        SubnetAllocator {
            pools,
            allocated: BTreeSet::new(),
        }
    }

    /// The default pools, in the order they are tried.
    pub fn pools(&self) -> &[DefaultPool] {
        &self.pools
    }

    /// The allocated subnets, ascending.
    pub fn allocated(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.allocated.iter().copied()
    }

    /// Whether exactly `subnet` is allocated.
    pub fn is_allocated(&self, subnet: IpNet) -> bool {
        self.allocated.contains(&subnet)
    }

    /// Allocates and returns the first slot of the default pools that
    /// overlaps no allocated subnet and no prefix of `reserved`.
    ///
    /// # Errors
    /// [`Error::PoolsExhausted`] (`all default address pools are in use`).
    pub fn next(&mut self, reserved: &[IpNet]) -> Result<IpNet> {
        let found = self
            .pools
            .iter()
            .find_map(|pool| pool.first_free(self.allocated.iter().chain(reserved)));
        let subnet = found.ok_or(Error::PoolsExhausted)?;
        self.allocated.insert(subnet);
        Ok(subnet)
    }

    /// Allocates an explicit subnet (`--subnet`), inside the default pools
    /// or not.
    ///
    /// # Errors
    /// [`Error::HostBitsSet`], or [`Error::SubnetOverlap`] naming both
    /// subnets if it overlaps an allocated one.
    pub fn request(&mut self, subnet: IpNet) -> Result<()> {
        check_no_host_bits(subnet)?;
        if let Some(existing) = self.allocated.iter().find(|a| overlaps(a, &subnet)) {
            return Err(Error::SubnetOverlap {
                subnet,
                existing: *existing,
            });
        }
        self.allocated.insert(subnet);
        Ok(())
    }

    /// Gives a subnet back; [`next`](SubnetAllocator::next) may return it
    /// again.
    ///
    /// # Errors
    /// [`Error::SubnetNotAllocated`] if it is not allocated (exactly).
    pub fn release(&mut self, subnet: IpNet) -> Result<()> {
        if self.allocated.remove(&subnet) {
            Ok(())
        } else {
            Err(Error::SubnetNotAllocated { subnet })
        }
    }

    /// The allocator's state in its versioned form.
    pub fn to_state(&self) -> AllocatorState {
        AllocatorState {
            version: STATE_VERSION,
            pools: self.pools.iter().map(|&p| p.into()).collect(),
            allocated: self.allocated().collect(),
        }
    }

    /// Rebuilds an allocator from saved state: the version, every pool as
    /// [`DefaultPool::new`] checks it, every subnet as
    /// [`request`](SubnetAllocator::request) checks it (no host bits, no two
    /// overlapping).
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`], [`Error::HostBitsSet`],
    /// [`Error::InvalidDefaultPool`], [`Error::SubnetOverlap`].
    pub fn from_state(state: AllocatorState) -> Result<SubnetAllocator> {
        if state.version != STATE_VERSION {
            return Err(Error::UnsupportedVersion {
                found: state.version,
                expected: STATE_VERSION,
            });
        }
        let pools = state
            .pools
            .into_iter()
            .map(DefaultPool::try_from)
            .collect::<Result<Vec<_>>>()?;
        let mut allocator = SubnetAllocator::with_pools(pools);
        for subnet in state.allocated {
            allocator.request(subnet)?;
        }
        Ok(allocator)
    }
}

impl TryFrom<AllocatorState> for SubnetAllocator {
    type Error = Error;

    fn try_from(state: AllocatorState) -> Result<SubnetAllocator> {
        SubnetAllocator::from_state(state)
    }
}

impl From<SubnetAllocator> for AllocatorState {
    fn from(allocator: SubnetAllocator) -> AllocatorState {
        allocator.to_state()
    }
}
