//! vxlan links: one `RTM_NEWLINK` with `IFLA_INFO_KIND "vxlan"` and the
//! `IFLA_VXLAN_*` attributes iproute2 sends for
//! `ip link add NAME type vxlan id VNI local ADDR dev LOWER dstport 4789
//! nolearning proxy` (reference/overlay-vxlan.md §1), and the settings
//! read back.
//!
//! `IFLA_VXLAN_PORT` is the one attribute in network byte order.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use neli::FromBytesWithInput;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Iff, Ifla, IflaInfo, Rtm};
use neli::rtnl::Ifinfomsg;
use neli::types::Buffer;

use crate::attr::{attr_type, c_string, u32_of};
use crate::error::{Error, Result};
use crate::link::LinkRef;
use crate::msg::{attr, encode, ifinfo, nest};
use crate::{IfName, MacAddr, Socket};

/// `IFLA_VXLAN_ID`, `linux/if_link.h`: u32, the VNI.
pub const IFLA_VXLAN_ID: u16 = 1;
/// `IFLA_VXLAN_LINK`: u32, the lower (underlay) device's index.
pub const IFLA_VXLAN_LINK: u16 = 3;
/// `IFLA_VXLAN_LOCAL`: 4 bytes, the local VTEP address.
pub const IFLA_VXLAN_LOCAL: u16 = 4;
/// `IFLA_VXLAN_LEARNING`: u8.
pub const IFLA_VXLAN_LEARNING: u16 = 7;
/// `IFLA_VXLAN_PROXY`: u8, answer ARP from the neighbour table.
pub const IFLA_VXLAN_PROXY: u16 = 11;
/// `IFLA_VXLAN_PORT`: u16, **network byte order**.
pub const IFLA_VXLAN_PORT: u16 = 15;
/// `IFLA_VXLAN_LOCAL6`: 16 bytes.
pub const IFLA_VXLAN_LOCAL6: u16 = 17;
/// The IANA VXLAN port.
pub const VXLAN_PORT: u16 = 4789;
/// The largest VNI (24 bits).
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// A vxlan device to create.
#[derive(Debug, Clone)]
pub struct VxlanSpec<'a> {
    /// Its name.
    pub name: &'a IfName,
    /// The tunnel: VNI, local VTEP, underlay device, port, learning,
    /// proxy ARP.
    pub tunnel: VxlanInfo,
    /// MTU (the kernel's default when `None`).
    pub mtu: Option<u32>,
    /// MAC (random when `None`).
    pub mac: Option<MacAddr>,
    /// Enslave to this bridge.
    pub master: Option<u32>,
    /// Bring it up.
    pub up: bool,
}

impl<'a> VxlanSpec<'a> {
    /// Device `name` with `tunnel`: up, on no bridge, the kernel's MTU
    /// and a random MAC.
    pub fn new(name: &'a IfName, tunnel: VxlanInfo) -> VxlanSpec<'a> {
        VxlanSpec {
            name,
            tunnel,
            mtu: None,
            mac: None,
            master: None,
            up: true,
        }
    }
}

/// A vxlan device's tunnel settings: what a [`VxlanSpec`] asks for and
/// what the kernel reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanInfo {
    /// The VNI, 0..=2^24-1.
    pub vni: u32,
    /// The local VTEP address (source of the outer packets).
    pub local: Option<IpAddr>,
    /// The underlay device's index; with it the kernel sets the MTU to
    /// the lower device's minus 50.
    pub link: Option<u32>,
    /// The UDP destination port ([`VXLAN_PORT`]), host order.
    pub port: u16,
    /// MAC learning (off for a store-programmed FDB).
    pub learning: bool,
    /// Answer ARP from the neighbour table (proxy ARP).
    pub proxy: bool,
}

impl VxlanInfo {
    /// An overlay's tunnel (reference/overlay-vxlan.md §1): VNI `vni` on
    /// [`VXLAN_PORT`], learning off, proxy ARP on, local address and
    /// underlay device `local` and `link`.
    pub fn overlay(vni: u32, local: Option<IpAddr>, link: Option<u32>) -> VxlanInfo {
        VxlanInfo {
            vni,
            local,
            link,
            port: VXLAN_PORT,
            learning: false,
            proxy: true,
        }
    }
}

/// `RTM_NEWLINK` creating a vxlan device.
pub fn new_vxlan(spec: &VxlanSpec<'_>) -> Result<Vec<u8>> {
    let t = &spec.tunnel;
    if t.vni > MAX_VNI {
        return Err(Error::encode(
            "vxlan id",
            format!("{} is out of range (0..={MAX_VNI})", t.vni),
        ));
    }
    let mut data = Vec::new();
    if let Some(link) = t.link {
        data.push(attr(IFLA_VXLAN_LINK, link)?);
    }
    data.push(attr(IFLA_VXLAN_PROXY, u8::from(t.proxy))?);
    data.push(attr(IFLA_VXLAN_ID, t.vni)?);
    match t.local {
        Some(IpAddr::V4(a)) => data.push(attr(IFLA_VXLAN_LOCAL, Buffer::from(&a.octets()[..]))?),
        Some(IpAddr::V6(a)) => data.push(attr(IFLA_VXLAN_LOCAL6, Buffer::from(&a.octets()[..]))?),
        None => {}
    }
    data.push(attr(IFLA_VXLAN_LEARNING, u8::from(t.learning))?);
    data.push(attr(
        IFLA_VXLAN_PORT,
        Buffer::from(&t.port.to_be_bytes()[..]),
    )?);
    let mut attrs = vec![attr(Ifla::Ifname, spec.name.as_str())?];
    if let Some(mtu) = spec.mtu {
        attrs.push(attr(Ifla::Mtu, mtu)?);
    }
    if let Some(mac) = spec.mac {
        attrs.push(attr(Ifla::Address, mac.octets())?);
    }
    if let Some(master) = spec.master {
        attrs.push(attr(Ifla::Master, master)?);
    }
    attrs.push(nest(
        Ifla::Linkinfo,
        &[attr(IflaInfo::Kind, "vxlan")?, nest(IflaInfo::Data, &data)?],
    )?);
    let (flags, mask) = if spec.up {
        (Iff::UP, Iff::UP)
    } else {
        (Iff::empty(), Iff::empty())
    };
    encode(
        Rtm::Newlink,
        NlmF::ACK | NlmF::CREATE | NlmF::EXCL,
        ifinfo(0, flags, mask, attrs)?,
    )
}

/// The vxlan settings in an `RTM_NEWLINK` payload; `None` if the link is
/// not a vxlan.
pub fn parse_vxlan(payload: &[u8]) -> Result<Option<VxlanInfo>> {
    let bad = |d: String| Error::Decode {
        op: "parse vxlan",
        object: String::new(),
        detail: d,
    };
    let msg = Ifinfomsg::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
        .map_err(|e| bad(e.to_string()))?;
    for a in msg.rtattrs().iter() {
        if *a.rta_type() != Ifla::Linkinfo {
            continue;
        }
        let info = a.get_attr_handle::<u16>().map_err(|e| bad(e.to_string()))?;
        let is_vxlan = info.iter().any(|i| {
            IflaInfo::from(attr_type(*i.rta_type())) == IflaInfo::Kind
                && c_string(i.rta_payload().as_ref()) == "vxlan"
        });
        if !is_vxlan {
            return Ok(None);
        }
        let mut v = VxlanInfo {
            port: 0,
            proxy: false,
            ..VxlanInfo::overlay(0, None, None)
        };
        for i in info.iter() {
            if IflaInfo::from(attr_type(*i.rta_type())) != IflaInfo::Data {
                continue;
            }
            for d in i
                .get_attr_handle::<u16>()
                .map_err(|e| bad(e.to_string()))?
                .iter()
            {
                let p = d.rta_payload().as_ref();
                let on = p.first().is_some_and(|b| *b != 0);
                match attr_type(*d.rta_type()) {
                    IFLA_VXLAN_ID => v.vni = u32_of(p).unwrap_or(0),
                    IFLA_VXLAN_LINK => v.link = u32_of(p).filter(|l| *l != 0),
                    IFLA_VXLAN_LOCAL => {
                        v.local = <[u8; 4]>::try_from(p)
                            .ok()
                            .map(|b| IpAddr::V4(Ipv4Addr::from(b)))
                    }
                    IFLA_VXLAN_LOCAL6 => {
                        v.local = <[u8; 16]>::try_from(p)
                            .ok()
                            .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
                    }
                    IFLA_VXLAN_LEARNING => v.learning = on,
                    IFLA_VXLAN_PROXY => v.proxy = on,
                    IFLA_VXLAN_PORT => {
                        v.port = p.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
                    }
                    _ => {}
                }
            }
        }
        return Ok(Some(v));
    }
    Ok(None)
}

impl Socket {
    /// Create a vxlan device (see [`VxlanSpec`]).
    pub fn create_vxlan(&mut self, spec: &VxlanSpec<'_>) -> Result<()> {
        self.request(new_vxlan(spec)?, "create vxlan", spec.name)
    }

    /// A vxlan device's settings; [`Error::NotFound`] if the link is
    /// missing or not a vxlan.
    pub fn vxlan(&mut self, link: impl Into<LinkRef>) -> Result<VxlanInfo> {
        let link = link.into();
        let mut found = None;
        let r = self.get(crate::msg::get_link(&link)?, "get vxlan", &link, &mut |p| {
            found = parse_vxlan(p)?;
            Ok(())
        });
        let missing = || Error::NotFound {
            what: "vxlan",
            object: link.to_string(),
        };
        match r {
            Err(e) if e.is_not_found() => Err(missing()),
            Err(e) => Err(e),
            Ok(()) => found.ok_or_else(missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attributes iproute2 sends (reference §1), in its order.
    #[test]
    fn the_message_carries_what_iproute2_sends() {
        let name = IfName::new("vx-A").unwrap();
        let tunnel = VxlanInfo::overlay(4096, Some("10.99.0.1".parse().unwrap()), Some(2));
        let m = new_vxlan(&VxlanSpec {
            up: false,
            ..VxlanSpec::new(&name, tunnel.clone())
        })
        .unwrap();
        // RTM_NEWLINK (16), REQUEST|ACK|EXCL|CREATE.
        assert_eq!(&m[4..8], &[16, 0, 5, 6]);
        let find = |needle: &[u8]| {
            m.windows(needle.len())
                .position(|w| w == needle)
                .unwrap_or_else(|| panic!("{needle:?} not in {m:?}"))
        };
        find(b"vxlan\0");
        let link = find(&[8, 0, 3, 0, 2, 0, 0, 0]);
        let proxy = find(&[5, 0, 11, 0, 1, 0, 0, 0]);
        let id = find(&[8, 0, 1, 0, 0, 0x10, 0, 0]);
        let local = find(&[8, 0, 4, 0, 10, 99, 0, 1]);
        let learning = find(&[5, 0, 7, 0, 0, 0, 0, 0]);
        // The port in network order: 12 b5.
        let port = find(&[6, 0, 15, 0, 0x12, 0xb5, 0, 0]);
        assert!(link < proxy && proxy < id && id < local && local < learning && learning < port);
        // The round trip through the parser.
        let v = parse_vxlan(&m[16..]).unwrap().unwrap();
        assert_eq!(v, tunnel);
        assert_eq!((v.port, v.learning, v.proxy), (4789, false, true));
    }

    #[test]
    fn a_vni_past_24_bits_is_refused_before_sending() {
        let name = IfName::new("vx").unwrap();
        let e = new_vxlan(&VxlanSpec::new(
            &name,
            VxlanInfo::overlay(1 << 24, None, None),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("16777216 is out of range"), "{e}");
    }
}
