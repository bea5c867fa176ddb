//! Address families, and addresses as rtnetlink carries them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use neli::consts::rtnl::RtAddrFamily;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    pub(crate) fn rt(self) -> RtAddrFamily {
        match self {
            Family::V4 => RtAddrFamily::Inet,
            Family::V6 => RtAddrFamily::Inet6,
        }
    }

    /// The family of `addr`.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

pub(crate) fn ip_of(family: RtAddrFamily, p: &[u8]) -> Option<IpAddr> {
    match family {
        RtAddrFamily::Inet => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(p).ok()?))),
        RtAddrFamily::Inet6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(p).ok()?))),
        _ => None,
    }
}
