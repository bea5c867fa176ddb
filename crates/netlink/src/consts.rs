//! Constants neli does not define, each with the uapi header it comes from.

/// `VETH_INFO_PEER`, `linux/veth.h`: the peer's `ifinfomsg` + attributes,
/// inside `IFLA_INFO_DATA` of a veth.
pub const VETH_INFO_PEER: u16 = 1;

/// `IFLA_BR_STP_STATE`, `linux/if_link.h` (bridge section): u32, 0 = off.
pub const IFLA_BR_STP_STATE: u16 = 5;

/// `IFLA_BR_MCAST_SNOOPING`, `linux/if_link.h`: u8.
pub const IFLA_BR_MCAST_SNOOPING: u16 = 23;

/// `IFLA_BRPORT_MODE`, `linux/if_link.h`: u8, 1 = hairpin.
pub const IFLA_BRPORT_MODE: u16 = 4;

/// `IFLA_BRPORT_ISOLATED`, `linux/if_link.h`: u8, 1 = isolated port.
pub const IFLA_BRPORT_ISOLATED: u16 = 33;

/// `IFLA_INET6_ADDR_GEN_MODE`, `linux/if_link.h`: u8.
pub const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;

/// `IN6_ADDR_GEN_MODE_NONE`, `linux/if_link.h`: no link-local address.
pub const IN6_ADDR_GEN_MODE_NONE: u8 = 1;

/// `IFA_F_NODAD`, `linux/if_addr.h`: skip duplicate address detection.
pub const IFA_F_NODAD: u32 = 0x02;

/// `NLA_F_NESTED`, `linux/netlink.h`.
pub const NLA_F_NESTED: u16 = 1 << 15;

/// `RT_TABLE_MAIN`, `linux/rtnetlink.h`.
pub const RT_TABLE_MAIN: u32 = 254;
