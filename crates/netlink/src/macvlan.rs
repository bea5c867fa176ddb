//! macvlan links: one `RTM_NEWLINK` makes a macvlan of a parent link,
//! created directly inside another namespace (`IFLA_NET_NS_FD`: the name
//! is taken there, never in the parent's namespace), with its mode, MAC
//! and MTU.

use std::os::fd::{AsRawFd, BorrowedFd};

use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Ifla, IflaInfo, Rtm};

use crate::error::Result;
use crate::msg::{attr, encode, ifinfo, nest};
use crate::{IfName, MacAddr, Socket};

/// `IFLA_MACVLAN_MODE`, `linux/if_link.h`: u32, one of the modes below.
pub const IFLA_MACVLAN_MODE: u16 = 1;
/// `MACVLAN_MODE_PRIVATE`: no traffic between macvlans of the parent.
pub const MACVLAN_MODE_PRIVATE: u32 = 1;
/// `MACVLAN_MODE_VEPA`: traffic between them goes out to the switch.
pub const MACVLAN_MODE_VEPA: u32 = 2;
/// `MACVLAN_MODE_BRIDGE`: traffic between them is switched here.
pub const MACVLAN_MODE_BRIDGE: u32 = 4;
/// `MACVLAN_MODE_PASSTHRU`: one macvlan takes the parent over (its MAC).
pub const MACVLAN_MODE_PASSTHRU: u32 = 8;
/// `MACVLAN_MODE_SOURCE`: frames chosen by source MAC.
pub const MACVLAN_MODE_SOURCE: u32 = 16;

/// A macvlan to create.
#[derive(Debug, Clone)]
pub struct MacvlanSpec<'a> {
    /// Its name (in `netns`, when given).
    pub name: &'a IfName,
    /// The parent link's index, in the socket's namespace.
    pub parent: u32,
    /// `MACVLAN_MODE_*`.
    pub mode: u32,
    /// Create it directly inside this namespace.
    pub netns: Option<BorrowedFd<'a>>,
    /// MTU (the parent's when `None`).
    pub mtu: Option<u32>,
    /// MAC (random when `None`; a passthru macvlan takes the parent's).
    pub mac: Option<MacAddr>,
    /// Bring it up.
    pub up: bool,
}

/// `RTM_NEWLINK` creating a macvlan.
pub fn new_macvlan(spec: &MacvlanSpec<'_>) -> Result<Vec<u8>> {
    let mut attrs = vec![
        attr(Ifla::Ifname, spec.name.as_str())?,
        attr(Ifla::Link, spec.parent)?,
    ];
    if let Some(fd) = spec.netns {
        attrs.push(attr(Ifla::NetNsFd, fd.as_raw_fd())?);
    }
    if let Some(mtu) = spec.mtu {
        attrs.push(attr(Ifla::Mtu, mtu)?);
    }
    if let Some(mac) = spec.mac {
        attrs.push(attr(Ifla::Address, mac.octets())?);
    }
    attrs.push(nest(
        Ifla::Linkinfo,
        &[
            attr(IflaInfo::Kind, "macvlan")?,
            nest(IflaInfo::Data, &[attr(IFLA_MACVLAN_MODE, spec.mode)?])?,
        ],
    )?);
    let (flags, mask) = if spec.up {
        (neli::consts::rtnl::Iff::UP, neli::consts::rtnl::Iff::UP)
    } else {
        (
            neli::consts::rtnl::Iff::empty(),
            neli::consts::rtnl::Iff::empty(),
        )
    };
    encode(
        Rtm::Newlink,
        NlmF::ACK | NlmF::CREATE | NlmF::EXCL,
        ifinfo(0, flags, mask, attrs)?,
    )
}

impl Socket {
    /// Create a macvlan (see [`MacvlanSpec`]).
    pub fn create_macvlan(&mut self, spec: &MacvlanSpec<'_>) -> Result<()> {
        self.request(new_macvlan(spec)?, "create macvlan", spec.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_kind_parent_and_mode() {
        let name = IfName::new("eth0").unwrap();
        let m = new_macvlan(&MacvlanSpec {
            name: &name,
            parent: 7,
            mode: MACVLAN_MODE_BRIDGE,
            netns: None,
            mtu: Some(1400),
            mac: Some("aa:bb:cc:dd:ee:ff".parse().unwrap()),
            up: false,
        })
        .unwrap();
        // RTM_NEWLINK (16), flags REQUEST|ACK|EXCL|CREATE.
        assert_eq!(&m[4..8], &[16, 0, 5, 6]);
        let find = |needle: &[u8]| m.windows(needle.len()).any(|w| w == needle);
        // IFLA_IFNAME "eth0", IFLA_LINK 7, IFLA_MTU 1400, IFLA_ADDRESS.
        assert!(find(&[9, 0, 3, 0, b'e', b't', b'h', b'0', 0]));
        assert!(find(&[8, 0, 5, 0, 7, 0, 0, 0]));
        assert!(find(&[8, 0, 4, 0, 0x78, 5, 0, 0]));
        assert!(find(&[10, 0, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
        // IFLA_INFO_KIND "macvlan", IFLA_MACVLAN_MODE 4 inside IFLA_INFO_DATA.
        assert!(find(b"macvlan\0"));
        assert!(find(&[8, 0, 1, 0, 4, 0, 0, 0]));
    }
}
