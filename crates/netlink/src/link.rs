//! Links: lookup, list, change, create (veth, bridge), delete.

use std::fmt;
use std::io::Cursor;
use std::os::fd::BorrowedFd;

use neli::FromBytesWithInput;
use neli::consts::rtnl::{Ifla, IflaInfo};
use neli::err::DeError;
use neli::rtnl::{Ifinfomsg, Rtattr};
use neli::types::Buffer;

use crate::attr::{attr_type, c_string, u32_of};
use crate::consts::*;
use crate::error::{Error, Result};
use crate::ifname::IfName;
use crate::mac::MacAddr;

/// A link named by index or by name. Naming a link by name saves a lookup:
/// the kernel resolves `IFLA_IFNAME` itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkRef {
    /// By interface index.
    Index(u32),
    /// By name.
    Name(IfName),
}

impl From<u32> for LinkRef {
    fn from(i: u32) -> Self {
        LinkRef::Index(i)
    }
}

impl From<IfName> for LinkRef {
    fn from(n: IfName) -> Self {
        LinkRef::Name(n)
    }
}

impl From<&IfName> for LinkRef {
    fn from(n: &IfName) -> Self {
        LinkRef::Name(n.clone())
    }
}

impl From<&Link> for LinkRef {
    fn from(l: &Link) -> Self {
        LinkRef::Index(l.index)
    }
}

impl fmt::Display for LinkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkRef::Index(i) => write!(f, "ifindex {i}"),
            LinkRef::Name(n) => f.write_str(n.as_str()),
        }
    }
}

/// Set or clear a link's master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Master {
    /// Enslave to the link with this index (a bridge).
    Set(u32),
    /// Release from its master.
    Clear,
}

/// Changes to an existing link, applied in one `RTM_NEWLINK`.
#[derive(Debug, Clone, Default)]
pub struct LinkChange<'a> {
    /// Bring up (`Some(true)`) or down (`Some(false)`).
    pub up: Option<bool>,
    /// New MTU.
    pub mtu: Option<u32>,
    /// New MAC address.
    pub mac: Option<MacAddr>,
    /// New name (the link must be named by index).
    pub name: Option<IfName>,
    /// New master, or none.
    pub master: Option<Master>,
    /// Move into the network namespace behind this descriptor.
    pub netns_fd: Option<BorrowedFd<'a>>,
    /// Stop IPv6 from making a link-local address on this link
    /// (`addrgenmode none`): no DAD and no MLD reports for it.
    pub addr_gen_mode_none: bool,
    /// Put the link in this netdev group (`ip link set dev LINK group N`).
    pub group: Option<u32>,
}

/// A veth pair to create in one request.
#[derive(Debug, Clone)]
pub struct VethSpec<'a> {
    /// Name of the end that stays in the socket's namespace.
    pub name: &'a IfName,
    /// Name of the peer.
    pub peer_name: &'a IfName,
    /// Create the peer directly inside this namespace.
    pub peer_netns: Option<BorrowedFd<'a>>,
    /// Master (bridge) index for the local end.
    pub master: Option<u32>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// MAC of the local end.
    pub mac: Option<MacAddr>,
    /// MAC of the peer.
    pub peer_mac: Option<MacAddr>,
    /// Bring the local end up.
    pub up: bool,
    /// Bring the peer up. The kernel refuses this (`ENOTCONN`) in the
    /// creating request: a veth cannot open before its peer is linked.
    pub peer_up: bool,
}

/// A bridge to create.
#[derive(Debug, Clone)]
pub struct BridgeSpec<'a> {
    /// Its name.
    pub name: &'a IfName,
    /// MTU.
    pub mtu: Option<u32>,
    /// MAC (the kernel picks one when `None`).
    pub mac: Option<MacAddr>,
    /// Spanning tree (Docker leaves it off).
    pub stp: bool,
    /// Multicast snooping (kernel default when `None`).
    pub mcast_snooping: Option<bool>,
    /// Bring it up.
    pub up: bool,
}

impl<'a> BridgeSpec<'a> {
    /// Bridge `name`, up, STP off (as Docker's), the kernel's MTU, MAC
    /// and multicast snooping.
    pub fn new(name: &'a IfName) -> BridgeSpec<'a> {
        BridgeSpec {
            name,
            mtu: None,
            mac: None,
            stp: false,
            mcast_snooping: None,
            up: true,
        }
    }
}

/// Flags of a bridge port; `None` leaves a flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgePortFlags {
    /// Hairpin mode: frames may go back out of the port they came in on.
    pub hairpin: Option<bool>,
    /// Port isolation: isolated ports cannot talk to each other.
    pub isolated: Option<bool>,
}

/// What a bridge port reports about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgePortInfo {
    /// Hairpin mode.
    pub hairpin: bool,
    /// Port isolation.
    pub isolated: bool,
}

/// What a bridge reports about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeInfo {
    /// Whether spanning tree is on.
    pub stp: bool,
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
    /// MTU.
    pub mtu: u32,
    /// MAC address (none for some link kinds).
    pub mac: Option<MacAddr>,
    /// Index of the master (bridge) it is enslaved to.
    pub master: Option<u32>,
    /// Kind (`veth`, `bridge`, ...); `None` for `lo` and physical devices.
    pub kind: Option<String>,
    /// `IFLA_LINK`: for a veth, the peer's index (in the peer's namespace).
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID`: the peer's namespace id, when it is elsewhere.
    pub link_netnsid: Option<i32>,
    /// Bridge settings, when this link is a bridge.
    pub bridge: Option<BridgeInfo>,
    /// Port settings, when this link is a bridge port.
    pub port: Option<BridgePortInfo>,
    /// `IFLA_OPERSTATE` (RFC 2863: 0 unknown, 2 down, 6 up, ...).
    pub operstate: u8,
}

impl Link {
    /// Whether the link is administratively up.
    pub fn is_up(&self) -> bool {
        self.flags & libc::IFF_UP as u32 != 0
    }

    /// The operational state as `ip -br` prints it.
    pub fn state(&self) -> &'static str {
        match self.operstate {
            1 => "NOTPRESENT",
            2 => "DOWN",
            3 => "LOWERLAYERDOWN",
            4 => "TESTING",
            5 => "DORMANT",
            6 => "UP",
            _ => "UNKNOWN",
        }
    }

    /// Whether the carrier is up (`IFF_LOWER_UP`).
    pub fn is_lower_up(&self) -> bool {
        self.flags & libc::IFF_LOWER_UP as u32 != 0
    }

    /// Parse an `RTM_NEWLINK` payload (an `ifinfomsg` and its attributes).
    pub fn parse(payload: &[u8]) -> Result<Link> {
        let bad = |d: String| Error::Decode {
            op: "parse link",
            object: String::new(),
            detail: d,
        };
        let msg = Ifinfomsg::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
            .map_err(|e| bad(e.to_string()))?;
        let mut link = Link {
            index: u32::try_from(*msg.ifi_index()).map_err(|_| bad("negative ifindex".into()))?,
            name: String::new(),
            flags: u32::from(*msg.ifi_flags()),
            mtu: 0,
            mac: None,
            master: None,
            kind: None,
            link: None,
            link_netnsid: None,
            bridge: None,
            port: None,
            operstate: 0,
        };
        for a in msg.rtattrs().iter() {
            let p = a.rta_payload().as_ref();
            match *a.rta_type() {
                Ifla::Ifname => link.name = c_string(p),
                Ifla::Mtu => link.mtu = u32_of(p).unwrap_or(0),
                Ifla::Address => {
                    if let Ok(b) = <[u8; 6]>::try_from(p) {
                        link.mac = Some(MacAddr(b));
                    }
                }
                Ifla::Master => link.master = u32_of(p).filter(|m| *m != 0),
                Ifla::Link => link.link = u32_of(p).filter(|m| *m != 0),
                Ifla::LinkNetnsid => link.link_netnsid = u32_of(p).map(|v| v as i32),
                Ifla::Operstate => link.operstate = p.first().copied().unwrap_or(0),
                Ifla::Linkinfo => parse_linkinfo(a, &mut link).map_err(|e| bad(e.to_string()))?,
                _ => {}
            }
        }
        if link.name.is_empty() {
            return Err(bad(format!("link {} has no name", link.index)));
        }
        Ok(link)
    }
}

fn parse_linkinfo(a: &Rtattr<Ifla, Buffer>, link: &mut Link) -> std::result::Result<(), DeError> {
    let info = a.get_attr_handle::<u16>()?;
    let mut slave_kind = None;
    for i in info.iter() {
        let p = i.rta_payload().as_ref();
        match IflaInfo::from(attr_type(*i.rta_type())) {
            IflaInfo::Kind => link.kind = Some(c_string(p)),
            IflaInfo::SlaveKind => slave_kind = Some(c_string(p)),
            _ => {}
        }
    }
    for i in info.iter() {
        let data = || i.get_attr_handle::<u16>();
        match IflaInfo::from(attr_type(*i.rta_type())) {
            IflaInfo::Data if link.kind.as_deref() == Some("bridge") => {
                let mut br = BridgeInfo::default();
                for d in data()?.iter() {
                    if attr_type(*d.rta_type()) == IFLA_BR_STP_STATE {
                        br.stp = u32_of(d.rta_payload().as_ref()).is_some_and(|v| v != 0);
                    }
                }
                link.bridge = Some(br);
            }
            IflaInfo::SlaveData if slave_kind.as_deref() == Some("bridge") => {
                let mut port = BridgePortInfo::default();
                for d in data()?.iter() {
                    let on = d.rta_payload().as_ref().first().is_some_and(|v| *v != 0);
                    match attr_type(*d.rta_type()) {
                        IFLA_BRPORT_MODE => port.hairpin = on,
                        IFLA_BRPORT_ISOLATED => port.isolated = on,
                        _ => {}
                    }
                }
                link.port = Some(port);
            }
            _ => {}
        }
    }
    Ok(())
}
