//! Addresses: add, delete, list (IPv4 and IPv6).

use std::fmt;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use neli::FromBytesWithInput;
use neli::consts::rtnl::{Ifa, RtAddrFamily};
use neli::rtnl::Ifaddrmsg;

use crate::error::{Error, Result};
use crate::link::{c_string, u32_of};
use crate::msg;
use crate::route::Family;
use crate::socket::Socket;

/// An address on a link, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The link's index.
    pub index: u32,
    /// Address and prefix length.
    pub net: IpNet,
    /// `IFA_F_*` flags.
    pub flags: u32,
    /// Scope (`RT_SCOPE_*`).
    pub scope: u8,
    /// The IPv4 label (usually the link's name).
    pub label: Option<String>,
}

impl Address {
    /// Parse an `RTM_NEWADDR` payload.
    pub fn parse(payload: &[u8]) -> Result<Address> {
        let bad = |d: String| Error::Decode {
            op: "parse address",
            object: String::new(),
            detail: d,
        };
        let msg = Ifaddrmsg::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
            .map_err(|e| bad(e.to_string()))?;
        let family = *msg.ifa_family();
        let mut local = None;
        let mut address = None;
        let mut flags = u32::from(u8::from(*msg.ifa_flags()));
        let mut label = None;
        for a in msg.rtattrs().iter() {
            let p = a.rta_payload().as_ref();
            match *a.rta_type() {
                Ifa::Local => local = ip_of(family, p),
                Ifa::Address => address = ip_of(family, p),
                Ifa::Flags => flags = u32_of(p).unwrap_or(flags),
                Ifa::Label => label = Some(c_string(p)),
                _ => {}
            }
        }
        let ip = local
            .or(address)
            .ok_or_else(|| bad("address message without an address".into()))?;
        let net = IpNet::new(ip, *msg.ifa_prefixlen()).map_err(|e| bad(e.to_string()))?;
        Ok(Address {
            index: *msg.ifa_index(),
            net,
            flags,
            scope: u8::from(*msg.ifa_scope()),
            label,
        })
    }
}

pub(crate) fn ip_of(family: RtAddrFamily, p: &[u8]) -> Option<IpAddr> {
    match family {
        RtAddrFamily::Inet => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(p).ok()?))),
        RtAddrFamily::Inet6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(p).ok()?))),
        _ => None,
    }
}

struct On<'a>(&'a IpNet, u32);

impl fmt::Display for On<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on ifindex {}", self.0, self.1)
    }
}

impl Socket {
    /// `ip addr add NET dev INDEX` (IPv4 gets its broadcast address).
    pub fn add_address(&mut self, index: u32, net: &IpNet) -> Result<()> {
        self.request(
            msg::new_address(index, net, false)?,
            "add address",
            &On(net, index),
        )
    }

    /// Add an IPv6 address without duplicate address detection
    /// (`nodad`), as container runtimes do for addresses they own.
    pub fn add_address_nodad(&mut self, index: u32, net: &IpNet) -> Result<()> {
        self.request(
            msg::new_address(index, net, true)?,
            "add address",
            &On(net, index),
        )
    }

    /// `ip addr del NET dev INDEX`.
    pub fn delete_address(&mut self, index: u32, net: &IpNet) -> Result<()> {
        self.request(
            msg::delete_address(index, net)?,
            "delete address",
            &On(net, index),
        )
    }

    /// Every address in the socket's namespace (`family` `None`: both).
    pub fn addresses(&mut self, family: Option<Family>) -> Result<Vec<Address>> {
        self.dump(msg::dump_addresses(family)?, "list addresses", &"", |p| {
            Address::parse(p).map(Some)
        })
    }

    /// The addresses of one link.
    pub fn addresses_of(&mut self, index: u32) -> Result<Vec<Address>> {
        let mut all = self.addresses(None)?;
        all.retain(|a| a.index == index);
        Ok(all)
    }
}
