//! One subnet's address pool: gateway, dynamic allocation, explicit
//! requests, auxiliary reservations and release.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bitmap::{Bitmap, MAX_BITS};
use crate::error::{Error, GatewayProblem, Result, Role, StateProblem, check_no_host_bits};
use crate::order::Order;
use crate::state::{PoolState, Run, STATE_VERSION};

/// The most addresses dynamic allocation ([`Pool::allocate`]) draws from:
/// 2^24 = 16,777,216, the first ones of the dynamic range (the subnet, or
/// the ip-range when one is set).
///
/// Every IPv4 subnet up to a /8 and every IPv6 subnet up to a /104 fits
/// whole; for larger ones (an IPv6 /64) allocation stops after the first
/// 2^24 addresses of the range. The bitmap behind the window is made of
/// 8 KiB chunks of 65,536 addresses, allocated on first use and freed when
/// empty, so a /64 with 100,000 containers holds two chunks (16 KiB) plus
/// an 8 KiB chunk directory (about 24 KiB in all), and no pool's bitmap
/// ever exceeds 2 MiB.
pub const DYNAMIC_WINDOW: u32 = MAX_BITS;

/// The most addresses outside the dynamic window (explicit requests and
/// reservations far into a huge subnet) a pool records: 65,536. They live in
/// a sorted set, so this bounds its memory.
pub const MAX_OUTSIDE_WINDOW: usize = 1 << 16;

/// Options for a [`Pool`]: gateway, ip-range and order. Made by
/// [`Pool::builder`].
///
/// ```
/// use brnet_ipam::{Order, Pool};
///
/// let pool = Pool::builder("10.1.0.0/16".parse::<brnet_ipam::IpNet>()?)
///     .gateway("10.1.0.254".parse::<std::net::IpAddr>()?)
///     .range("10.1.8.0/24".parse::<brnet_ipam::IpNet>()?)
///     .order(Order::Lowest)
///     .build()?;
/// assert_eq!(pool.gateway().to_string(), "10.1.0.254");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct PoolBuilder {
    subnet: IpNet,
    gateway: Option<IpAddr>,
    range: Option<IpNet>,
    order: Order,
}

impl PoolBuilder {
    /// The gateway address, instead of the first host address. It must be
    /// inside the subnet and be neither its network nor its broadcast
    /// address.
    pub fn gateway(mut self, gateway: impl Into<IpAddr>) -> PoolBuilder {
        self.gateway = Some(gateway.into());
        self
    }

    /// The sub-range dynamic addresses come from (`--ip-range`). It must be
    /// inside the subnet, without host bits set. Explicit requests may still
    /// name any address of the subnet.
    pub fn range(mut self, range: impl Into<IpNet>) -> PoolBuilder {
        self.range = Some(range.into());
        self
    }

    /// The allocation order ([`Order::Serial`] unless set).
    pub fn order(mut self, order: Order) -> PoolBuilder {
        self.order = order;
        self
    }

    /// Checks the options and makes the pool, with only the gateway taken.
    ///
    /// # Errors
    /// [`Error::HostBitsSet`] for a subnet or range like `172.20.0.1/16`,
    /// [`Error::RangeOutsideSubnet`], [`Error::InvalidGateway`].
    pub fn build(self) -> Result<Pool> {
        let subnet = self.subnet;
        check_no_host_bits(subnet)?;
        let host_bits = u32::from(subnet.max_prefix_len() - subnet.prefix_len());
        let v6 = matches!(subnet, IpNet::V6(_));
        // A /31 or /32 (IPv6: /127, /128) has no network or broadcast
        // address to set aside (RFC 3021, RFC 6164).
        let point_to_point = host_bits <= 1;
        let network_fixed = !point_to_point;
        let broadcast_fixed = !point_to_point && !v6;
        let net = addr_bits(subnet.network());
        let last = low_mask(host_bits);
        let offset = |addr: IpAddr| offset_in(subnet, net, last, addr);

        let gateway = match self.gateway {
            None => u128::from(network_fixed),
            Some(addr) => {
                let invalid = |problem| Error::InvalidGateway {
                    subnet,
                    gateway: addr,
                    problem,
                };
                let off = offset(addr).ok_or(invalid(GatewayProblem::OutsideSubnet))?;
                if network_fixed && off == 0 {
                    return Err(invalid(GatewayProblem::NetworkAddress));
                }
                if broadcast_fixed && off == last {
                    return Err(invalid(GatewayProblem::BroadcastAddress));
                }
                off
            }
        };

        let (range_lo, range_hi) = match self.range {
            None => (0, last),
            Some(range) => {
                check_no_host_bits(range)?;
                match (offset(range.network()), offset(range.broadcast())) {
                    (Some(lo), Some(hi)) if subnet.contains(&range) => (lo, hi),
                    _ => return Err(Error::RangeOutsideSubnet { subnet, range }),
                }
            }
        };

        // The window the bitmap covers: the whole subnet when it fits,
        // otherwise the first DYNAMIC_WINDOW addresses of the range.
        let window = u128::from(DYNAMIC_WINDOW);
        let (win_base, win_len, dyn_lo, dyn_hi) = if last < window {
            let len = last as u32 + 1;
            (0, len, range_lo as u32, range_hi as u32 + 1)
        } else {
            let len = (range_hi - range_lo).min(window - 1) as u32 + 1;
            (range_lo, len, 0, len)
        };

        let mut pool = Pool {
            subnet,
            range: self.range,
            order: self.order,
            net,
            last,
            network_fixed,
            broadcast_fixed,
            gateway,
            win_base,
            win_addr: net + win_base,
            bits: Bitmap::new(win_len),
            dyn_lo,
            dyn_hi,
            cursor: dyn_lo,
            hint: dyn_lo,
            outside: BTreeSet::new(),
            aux: BTreeSet::new(),
            allocated: 0,
        };
        // Fixed addresses inside the window are set in the bitmap so the
        // scan skips them; outside it they are only ever compared.
        let fixed = [
            network_fixed.then_some(0),
            broadcast_fixed.then_some(last),
            Some(gateway),
        ];
        for off in fixed.into_iter().flatten() {
            if let Some(w) = pool.window_pos(off) {
                pool.bits.set(w);
            }
        }
        Ok(pool)
    }
}

/// The addresses of one subnet, IPv4 or IPv6.
///
/// - Set aside: the network address (IPv6: the subnet-router anycast
///   address) and the IPv4 broadcast address, except in a /31 or /32
///   (IPv6 /127, /128), whose every address is usable.
/// - The gateway is the first host address (`x.x.0.1`, `::1`) unless
///   [`PoolBuilder::gateway`] says otherwise; it is always taken and cannot
///   be released.
/// - [`allocate`](Pool::allocate) hands out the next free address of the
///   dynamic range (the ip-range, else the subnet, capped at
///   [`DYNAMIC_WINDOW`] addresses) in [`Order::Serial`] or
///   [`Order::Lowest`] order: `.2`, `.3`, … after a `.1` gateway.
/// - [`request`](Pool::request) takes a given address anywhere in the
///   subnet (`--ip`), [`reserve`](Pool::reserve) sets one aside
///   (`--aux-address`), [`release`](Pool::release) gives either back.
/// - [`capacity`](Pool::capacity), [`used`](Pool::used) and
///   [`free`](Pool::free) are O(1).
///
/// Serialises (serde) as its compact [`PoolState`]; deserialising checks it.
///
/// Host bits: `Pool::new("172.20.0.1/16")` is refused with
/// [`Error::HostBitsSet`] naming `172.20.0.0/16`, as Docker refuses it; a
/// gateway is given with [`PoolBuilder::gateway`], not through the prefix.
#[derive(Clone)]
pub struct Pool {
    subnet: IpNet,
    range: Option<IpNet>,
    order: Order,
    /// The network address as an integer.
    net: u128,
    /// The highest offset in the subnet (size - 1).
    last: u128,
    /// Offset 0 is set aside.
    network_fixed: bool,
    /// Offset `last` is set aside.
    broadcast_fixed: bool,
    /// The gateway's offset.
    gateway: u128,
    /// The subnet offset of the bitmap's bit 0.
    win_base: u128,
    /// The address of the bitmap's bit 0, as an integer.
    win_addr: u128,
    /// Taken addresses inside the window, fixed ones included.
    bits: Bitmap,
    /// The dynamic range, in bitmap positions: `dyn_lo..dyn_hi`.
    dyn_lo: u32,
    dyn_hi: u32,
    /// Serial order: where the next search starts, in `dyn_lo..dyn_hi`.
    cursor: u32,
    /// Lowest order: every position in `dyn_lo..hint` is taken.
    hint: u32,
    /// Allocated or reserved offsets outside the window (never fixed ones).
    outside: BTreeSet<u128>,
    /// Offsets of auxiliary reservations.
    aux: BTreeSet<u128>,
    /// Allocated addresses (neither the gateway nor reservations).
    allocated: u64,
}

impl Pool {
    /// A pool for `subnet` with the default options: gateway at the first
    /// host address, no ip-range, [`Order::Serial`].
    ///
    /// # Errors
    /// [`Error::HostBitsSet`] if `subnet` has host bits set.
    pub fn new(subnet: impl Into<IpNet>) -> Result<Pool> {
        Pool::builder(subnet).build()
    }

    /// Options for a pool on `subnet`; finish with [`PoolBuilder::build`].
    pub fn builder(subnet: impl Into<IpNet>) -> PoolBuilder {
        PoolBuilder {
            subnet: subnet.into(),
            gateway: None,
            range: None,
            order: Order::default(),
        }
    }

    /// The subnet.
    pub fn subnet(&self) -> IpNet {
        self.subnet
    }

    /// The gateway address.
    pub fn gateway(&self) -> IpAddr {
        self.addr_at(self.gateway)
    }

    /// The ip-range, if one was set.
    pub fn range(&self) -> Option<IpNet> {
        self.range
    }

    /// The allocation order.
    pub fn order(&self) -> Order {
        self.order
    }

    /// The first and last address of the dynamic range that
    /// [`allocate`](Pool::allocate) draws from (set-aside addresses inside
    /// it are skipped).
    pub fn dynamic_range(&self) -> (IpAddr, IpAddr) {
        let lo = self.win_base + u128::from(self.dyn_lo);
        let hi = self.win_base + u128::from(self.dyn_hi - 1);
        (self.addr_at(lo), self.addr_at(hi))
    }

    /// Whether `addr` is inside the subnet.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.offset(addr).is_some()
    }

    /// Whether `addr` is taken: the gateway, an allocated address or a
    /// reservation. False for free addresses, the network and broadcast
    /// addresses, and addresses outside the subnet.
    pub fn is_allocated(&self, addr: IpAddr) -> bool {
        match self.offset(addr) {
            Some(off) if off == self.gateway => true,
            Some(off) if self.role(off).is_some() => false,
            Some(off) => self.is_taken(off),
            None => false,
        }
    }

    /// Whether `addr` is an auxiliary reservation ([`reserve`](Pool::reserve)).
    pub fn is_reserved(&self, addr: IpAddr) -> bool {
        self.offset(addr).is_some_and(|off| self.aux.contains(&off))
    }

    /// Usable addresses of the subnet: all of them but the network and
    /// broadcast addresses. Includes the gateway.
    pub fn capacity(&self) -> u128 {
        self.last - u128::from(self.network_fixed) - u128::from(self.broadcast_fixed) + 1
    }

    /// Taken addresses: the gateway, reservations and allocated addresses.
    pub fn used(&self) -> u128 {
        1 + self.aux.len() as u128 + u128::from(self.allocated)
    }

    /// `capacity() - used()`: addresses of the subnet still free, inside the
    /// dynamic range or not.
    pub fn free(&self) -> u128 {
        self.capacity() - self.used()
    }

    /// Hands out the next free address of the dynamic range, in the pool's
    /// [`Order`].
    ///
    /// # Errors
    /// [`Error::Exhausted`] (`no available addresses in 172.20.0.0/16`) when
    /// the dynamic range has no free address left.
    #[inline(always)]
    pub fn allocate(&mut self) -> Result<IpAddr> {
        let from = match self.order {
            Order::Serial => self.cursor,
            Order::Lowest => self.hint,
        };
        // Nearly always the word under the cursor has a free bit; the rest
        // of the search is out of line.
        let w = match self.bits.take_in_word(from, self.dyn_hi) {
            Some(w) => w,
            None => self.take_slow()?,
        };
        self.allocated += 1;
        let next = w + 1;
        match self.order {
            Order::Serial => {
                self.cursor = if next >= self.dyn_hi {
                    self.dyn_lo
                } else {
                    next
                }
            }
            Order::Lowest => self.hint = next,
        }
        Ok(self.window_addr(w))
    }

    /// The address [`allocate`](Pool::allocate) would hand out next,
    /// without taking it: a plan made from a shared pool (bridge-net plans
    /// a connect from the state, and the journal record that commits it
    /// takes the address).
    ///
    /// # Errors
    /// [`Error::Exhausted`], as `allocate`.
    pub fn next(&self) -> Result<IpAddr> {
        let found = match self.order {
            Order::Serial => self
                .bits
                .first_zero(self.cursor, self.dyn_hi)
                .or_else(|| self.bits.first_zero(self.dyn_lo, self.cursor)),
            Order::Lowest => self.bits.first_zero(self.hint, self.dyn_hi),
        };
        found.map(|w| self.window_addr(w)).ok_or(Error::Exhausted {
            subnet: self.subnet,
        })
    }

    /// The search of [`allocate`](Pool::allocate) past the cursor's word:
    /// to the end of the range, then (serial order) from its start.
    #[cold]
    #[inline(never)]
    fn take_slow(&mut self) -> Result<u32> {
        let found = match self.order {
            Order::Serial => match self.bits.take_first_zero(self.cursor, self.dyn_hi) {
                None => self.bits.take_first_zero(self.dyn_lo, self.cursor),
                found => found,
            },
            Order::Lowest => self.bits.take_first_zero(self.hint, self.dyn_hi),
        };
        found.ok_or(Error::Exhausted {
            subnet: self.subnet,
        })
    }

    /// Takes `addr` (`--ip`): any free address of the subnet, inside the
    /// dynamic range or not. Does not move the serial cursor.
    ///
    /// # Errors
    /// [`Error::OutOfRange`], [`Error::FixedAddress`] (network, broadcast,
    /// gateway), [`Error::AlreadyAllocated`], [`Error::TooManyOutsideWindow`].
    pub fn request(&mut self, addr: IpAddr) -> Result<()> {
        self.take(addr, false)
    }

    /// Sets `addr` aside (`--aux-address`): it counts as used and is never
    /// handed out, until [`release`](Pool::release)d.
    ///
    /// # Errors
    /// As [`request`](Pool::request).
    pub fn reserve(&mut self, addr: IpAddr) -> Result<()> {
        self.take(addr, true)
    }

    /// Gives back an allocated or reserved address.
    ///
    /// # Errors
    /// [`Error::OutOfRange`], [`Error::FixedAddress`] for the gateway (or the
    /// network or broadcast address), [`Error::NotAllocated`] for a free
    /// address: a double release is never silent.
    pub fn release(&mut self, addr: IpAddr) -> Result<()> {
        let off = self.checked_offset(addr)?;
        let window_pos = self.window_pos(off);
        let was_taken = match window_pos {
            Some(w) => self.bits.clear(w),
            None => self.outside.remove(&off),
        };
        if !was_taken {
            return Err(Error::NotAllocated {
                subnet: self.subnet,
                addr,
            });
        }
        if !self.aux.remove(&off) {
            self.allocated -= 1;
        }
        if let Some(w) = window_pos
            && w >= self.dyn_lo
            && w < self.hint
        {
            self.hint = w;
        }
        Ok(())
    }

    /// Allocated addresses (dynamic and requested; neither the gateway nor
    /// reservations), ascending.
    pub fn allocated(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.allocated_offsets().map(|off| self.addr_at(off))
    }

    /// Reserved (auxiliary) addresses, ascending.
    pub fn reserved(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.aux.iter().map(|&off| self.addr_at(off))
    }

    /// The pool's state in its compact, versioned form: allocated ranges,
    /// reservations and the serial cursor.
    pub fn to_state(&self) -> PoolState {
        let mut allocated = Vec::new();
        let mut run: Option<(u128, u128)> = None;
        for off in self.allocated_offsets() {
            match run {
                Some((start, end)) if end.checked_add(1) == Some(off) => run = Some((start, off)),
                _ => {
                    if let Some((start, end)) = run {
                        allocated.push(self.run(start, end));
                    }
                    run = Some((off, off));
                }
            }
        }
        if let Some((start, end)) = run {
            allocated.push(self.run(start, end));
        }
        PoolState {
            version: STATE_VERSION,
            subnet: self.subnet,
            gateway: self.gateway(),
            range: self.range,
            order: self.order,
            cursor: self.addr_at(self.win_base + u128::from(self.cursor)),
            allocated,
            reserved: self.reserved().collect(),
        }
    }

    /// Rebuilds a pool from saved state, checking everything: the version,
    /// the subnet, gateway and range (as [`PoolBuilder::build`] does), every
    /// address inside the subnet, ranges ascending and disjoint, no fixed
    /// address listed, no address both allocated and reserved, the cursor
    /// inside the dynamic range.
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`], [`Error::InvalidState`], or any error
    /// of [`PoolBuilder::build`]; nothing is loaded partially.
    pub fn from_state(state: PoolState) -> Result<Pool> {
        if state.version != STATE_VERSION {
            return Err(Error::UnsupportedVersion {
                found: state.version,
                expected: STATE_VERSION,
            });
        }
        let mut builder = Pool::builder(state.subnet)
            .gateway(state.gateway)
            .order(state.order);
        if let Some(range) = state.range {
            builder = builder.range(range);
        }
        let mut pool = builder.build()?;
        let subnet = pool.subnet;
        let bad = |addr: IpAddr, problem| Error::InvalidState {
            subnet,
            addr,
            problem,
        };

        let cursor = pool
            .offset(state.cursor)
            .ok_or(bad(state.cursor, StateProblem::OutsideSubnet))?;
        match pool.window_pos(cursor) {
            Some(w) if w >= pool.dyn_lo && w < pool.dyn_hi => pool.cursor = w,
            _ => return Err(bad(state.cursor, StateProblem::CursorOutsideRange)),
        }

        let mut prev: Option<u128> = None;
        for run in &state.allocated {
            let start = pool
                .offset(run.start)
                .ok_or(bad(run.start, StateProblem::OutsideSubnet))?;
            let end = pool
                .offset(run.end)
                .ok_or(bad(run.end, StateProblem::OutsideSubnet))?;
            if end < start {
                return Err(bad(run.start, StateProblem::ReversedRange));
            }
            if prev.is_some_and(|p| start <= p) {
                return Err(bad(run.start, StateProblem::Unordered));
            }
            prev = Some(end);
            if let Some(fixed) = pool.fixed_in(start, end) {
                return Err(bad(pool.addr_at(fixed), StateProblem::FixedAddress));
            }
            pool.load_run(start, end)
                .map_err(|(off, problem)| bad(pool.addr_at(off), problem))?;
        }

        let mut prev: Option<u128> = None;
        for &addr in &state.reserved {
            let off = pool
                .offset(addr)
                .ok_or(bad(addr, StateProblem::OutsideSubnet))?;
            if prev.is_some_and(|p| off <= p) {
                return Err(bad(addr, StateProblem::Unordered));
            }
            prev = Some(off);
            if pool.role(off).is_some() {
                return Err(bad(addr, StateProblem::FixedAddress));
            }
            if pool.is_taken(off) {
                return Err(bad(addr, StateProblem::Duplicate));
            }
            pool.take(addr, true).map_err(|e| match e {
                Error::TooManyOutsideWindow { .. } => bad(addr, StateProblem::TooManyOutsideWindow),
                other => other,
            })?;
        }
        Ok(pool)
    }

    // ---- internals -------------------------------------------------------

    /// The offset of `addr` from the network address, if inside the subnet.
    fn offset(&self, addr: IpAddr) -> Option<u128> {
        offset_in(self.subnet, self.net, self.last, addr)
    }

    /// The address at `off` (which is at most `last`).
    #[inline]
    fn addr_at(&self, off: u128) -> IpAddr {
        let v = self.net.wrapping_add(off);
        match self.subnet {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
        }
    }

    fn run(&self, start: u128, end: u128) -> Run {
        Run {
            start: self.addr_at(start),
            end: self.addr_at(end),
        }
    }

    /// The address at bitmap position `w`.
    #[inline(always)]
    fn window_addr(&self, w: u32) -> IpAddr {
        match self.subnet {
            // An IPv4 window's addresses fit in 32 bits.
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from((self.win_addr as u32).wrapping_add(w))),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(self.win_addr.wrapping_add(u128::from(w)))),
        }
    }

    /// The bitmap position of `off`, if inside the window.
    fn window_pos(&self, off: u128) -> Option<u32> {
        let w = off.checked_sub(self.win_base)?;
        (w < u128::from(self.bits.len())).then_some(w as u32)
    }

    /// The last offset of the window.
    fn win_last(&self) -> u128 {
        self.win_base + u128::from(self.bits.len() - 1)
    }

    /// The fixed role of `off`, if any.
    fn role(&self, off: u128) -> Option<Role> {
        if off == self.gateway {
            Some(Role::Gateway)
        } else if self.network_fixed && off == 0 {
            Some(Role::Network)
        } else if self.broadcast_fixed && off == self.last {
            Some(Role::Broadcast)
        } else {
            None
        }
    }

    /// A fixed offset inside `start..=end`, if any.
    fn fixed_in(&self, start: u128, end: u128) -> Option<u128> {
        [
            self.network_fixed.then_some(0),
            Some(self.gateway),
            self.broadcast_fixed.then_some(self.last),
        ]
        .into_iter()
        .flatten()
        .find(|off| (start..=end).contains(off))
    }

    /// The offset of `addr`, refused if outside the subnet or fixed.
    fn checked_offset(&self, addr: IpAddr) -> Result<u128> {
        let subnet = self.subnet;
        let off = self
            .offset(addr)
            .ok_or(Error::OutOfRange { subnet, addr })?;
        match self.role(off) {
            Some(role) => Err(Error::FixedAddress { subnet, addr, role }),
            None => Ok(off),
        }
    }

    /// Whether a non-fixed offset is allocated or reserved.
    fn is_taken(&self, off: u128) -> bool {
        match self.window_pos(off) {
            Some(w) => self.bits.get(w),
            None => self.outside.contains(&off),
        }
    }

    /// Takes `addr` as an allocation or a reservation.
    fn take(&mut self, addr: IpAddr, aux: bool) -> Result<()> {
        let subnet = self.subnet;
        let off = self.checked_offset(addr)?;
        match self.window_pos(off) {
            Some(w) => {
                if !self.bits.set(w) {
                    return Err(Error::AlreadyAllocated { subnet, addr });
                }
            }
            None => {
                if self.outside.contains(&off) {
                    return Err(Error::AlreadyAllocated { subnet, addr });
                }
                if self.outside.len() >= MAX_OUTSIDE_WINDOW {
                    return Err(Error::TooManyOutsideWindow {
                        subnet,
                        addr,
                        limit: MAX_OUTSIDE_WINDOW,
                    });
                }
                self.outside.insert(off);
            }
        }
        if aux {
            self.aux.insert(off);
        } else {
            self.allocated += 1;
        }
        Ok(())
    }

    /// Marks `start..=end` allocated while loading: no fixed address inside,
    /// nothing in it taken yet (runs are checked ascending and disjoint).
    fn load_run(&mut self, start: u128, end: u128) -> Result<(), (u128, StateProblem)> {
        let win_last = self.win_last();
        // The part inside the window, one bitmap range.
        let lo = start.max(self.win_base);
        let hi = end.min(win_last);
        if lo <= hi {
            let from = (lo - self.win_base) as u32;
            let to = (hi - self.win_base) as u32 + 1;
            self.bits
                .set_range(from, to)
                .map_err(|w| (self.win_base + u128::from(w), StateProblem::Unordered))?;
        }
        // The parts below and above it, one address at a time, bounded.
        let below = (start < self.win_base).then(|| (start, end.min(self.win_base - 1)));
        let above = (end > win_last).then(|| (start.max(win_last + 1), end));
        let outside_count: u128 = [below, above]
            .into_iter()
            .flatten()
            .map(|(s, e)| e - s + 1)
            .sum();
        if self.outside.len() as u128 + outside_count > MAX_OUTSIDE_WINDOW as u128 {
            let first = below.or(above).map_or(start, |(s, _)| s);
            return Err((first, StateProblem::TooManyOutsideWindow));
        }
        for (s, e) in [below, above].into_iter().flatten() {
            self.outside.extend(s..=e);
        }
        // At most DYNAMIC_WINDOW + MAX_OUTSIDE_WINDOW addresses in all.
        self.allocated += (end - start + 1) as u64;
        Ok(())
    }

    /// Every taken offset but the gateway's and the reservations', ascending.
    fn allocated_offsets(&self) -> impl Iterator<Item = u128> + '_ {
        let base = self.win_base;
        self.outside
            .range(..base)
            .copied()
            .chain(self.bits.iter_ones().map(move |w| base + u128::from(w)))
            .chain(self.outside.range(base..).copied())
            .filter(|off| self.role(*off).is_none() && !self.aux.contains(off))
    }
}

impl PartialEq for Pool {
    /// Same subnet, options, serial cursor and taken addresses. (The Lowest
    /// order's search hint is not state and is not compared.)
    fn eq(&self, other: &Pool) -> bool {
        self.subnet == other.subnet
            && self.range == other.range
            && self.order == other.order
            && self.gateway == other.gateway
            && self.cursor == other.cursor
            && self.allocated == other.allocated
            && self.aux == other.aux
            && self.outside == other.outside
            && self.bits == other.bits
    }
}

impl Eq for Pool {}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("subnet", &self.subnet)
            .field("gateway", &self.gateway())
            .field("range", &self.range)
            .field("order", &self.order)
            .field(
                "cursor",
                &self.addr_at(self.win_base + u128::from(self.cursor)),
            )
            .field("used", &self.used())
            .field("free", &self.free())
            .finish_non_exhaustive()
    }
}

impl Serialize for Pool {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_state().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Pool {
    /// Reads a [`PoolState`] and checks it with [`Pool::from_state`]; a
    /// check that fails becomes the format's error, with the [`Error`]'s
    /// message. Deserialise a [`PoolState`] and call [`Pool::from_state`] to
    /// get the typed [`Error`] instead.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pool, D::Error> {
        let state = PoolState::deserialize(deserializer)?;
        Pool::from_state(state).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<PoolState> for Pool {
    type Error = Error;

    fn try_from(state: PoolState) -> Result<Pool> {
        Pool::from_state(state)
    }
}

impl From<&Pool> for PoolState {
    fn from(pool: &Pool) -> PoolState {
        pool.to_state()
    }
}

/// An address as an integer (IPv4 in the low 32 bits).
pub(crate) fn addr_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The lowest `bits` bits set.
pub(crate) fn low_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The offset of `addr` in `subnet` (network `net`, highest offset `last`).
fn offset_in(subnet: IpNet, net: u128, last: u128, addr: IpAddr) -> Option<u128> {
    let same_family = matches!(
        (subnet, addr),
        (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_))
    );
    let off = addr_bits(addr).wrapping_sub(net);
    (same_family && off <= last).then_some(off)
}
