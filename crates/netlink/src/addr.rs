//! Addresses: add, delete, list (IPv4 and IPv6).

use std::io::Cursor;

use ipnet::IpNet;
use neli::FromBytesWithInput;
use neli::consts::rtnl::Ifa;
use neli::rtnl::Ifaddrmsg;

use crate::attr::{c_string, u32_of};
use crate::error::{Error, Result};
use crate::family::ip_of;

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
