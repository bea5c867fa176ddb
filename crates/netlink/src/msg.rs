//! Pure builders for every rtnetlink message this crate sends.
//!
//! Each function returns the complete message (header included, sequence
//! number 0: [`crate::Socket`] stamps its own) without any I/O, so the bytes
//! are tested without root. neli does the encoding.

use std::fmt::Debug;
use std::io::Cursor;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use ipnet::IpNet;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{
    Arphrd, Ifa, IfaF, Iff, Ifla, IflaInfo, RtAddrFamily, RtScope, RtTable, Rta, Rtm, Rtn, Rtprot,
};
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::rtnl::{
    Ifaddrmsg, IfaddrmsgBuilder, Ifinfomsg, IfinfomsgBuilder, Rtattr, RtattrBuilder, Rtmsg,
    RtmsgBuilder,
};
use neli::types::{Buffer, RtBuffer};
use neli::{Size, ToBytes};

use crate::consts::*;
use crate::error::{Error, Result};
use crate::family::Family;
use crate::link::{BridgePortFlags, BridgeSpec, LinkChange, LinkRef, Master, VethSpec};
use crate::mac::MacAddr;
use crate::route::RouteSpec;

/// `RTEXT_FILTER_SKIP_STATS`, `linux/rtnetlink.h`: leave statistics out of
/// link dumps (they are most of each message's size).
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

pub(crate) fn attr<T, P>(ty: T, payload: P) -> Result<Rtattr<T, Buffer>>
where
    T: neli::consts::rtnl::RtaType,
    P: Size + ToBytes,
{
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(payload)
        .build()
        .map_err(|e| Error::encode("attribute", e))
}

pub(crate) fn nest<T, TT>(ty: T, children: &[Rtattr<TT, Buffer>]) -> Result<Rtattr<T, Buffer>>
where
    T: neli::consts::rtnl::RtaType,
    TT: neli::consts::rtnl::RtaType,
{
    let mut a = attr(ty, Buffer::new())?;
    for c in children {
        a = a
            .nest(c)
            .map_err(|e| Error::encode("nested attribute", e))?;
    }
    Ok(a)
}

pub(crate) fn encode<P: Size + ToBytes + Debug>(
    ty: Rtm,
    flags: NlmF,
    payload: P,
) -> Result<Vec<u8>> {
    let msg = NlmsghdrBuilder::default()
        .nl_type(ty)
        .nl_flags(NlmF::REQUEST | flags)
        .nl_payload(NlPayload::Payload(payload))
        .build()
        .map_err(|e| Error::encode("netlink header", e))?;
    let mut c = Cursor::new(Vec::with_capacity(msg.padded_size()));
    msg.to_bytes(&mut c)
        .map_err(|e| Error::encode("netlink message", e))?;
    Ok(c.into_inner())
}

pub(crate) fn ifinfo(
    index: i32,
    flags: Iff,
    change: Iff,
    attrs: Vec<Rtattr<Ifla, Buffer>>,
) -> Result<Ifinfomsg> {
    IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_type(Arphrd::from(0))
        .ifi_index(index)
        .ifi_flags(flags)
        .ifi_change(change)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<_, _>>())
        .build()
        .map_err(|e| Error::encode("ifinfomsg", e))
}

/// The index for the header and the attributes that name a link.
fn link_ref(link: &LinkRef) -> Result<(i32, Vec<Rtattr<Ifla, Buffer>>)> {
    match link {
        LinkRef::Index(i) => Ok((index_i32(*i)?, Vec::new())),
        LinkRef::Name(n) => Ok((0, vec![attr(Ifla::Ifname, n.as_str())?])),
    }
}

fn index_i32(i: u32) -> Result<i32> {
    i32::try_from(i).map_err(|_| Error::encode("ifindex", format!("{i} is out of range")))
}

fn up_flags(up: Option<bool>) -> (Iff, Iff) {
    match up {
        Some(true) => (Iff::UP, Iff::UP),
        Some(false) => (Iff::empty(), Iff::UP),
        None => (Iff::empty(), Iff::empty()),
    }
}

/// `RTM_GETLINK` for one link, by index or name.
pub fn get_link(link: &LinkRef) -> Result<Vec<u8>> {
    let (index, mut attrs) = link_ref(link)?;
    attrs.push(attr(Ifla::ExtMask, RTEXT_FILTER_SKIP_STATS)?);
    encode(
        Rtm::Getlink,
        NlmF::ACK,
        ifinfo(index, Iff::empty(), Iff::empty(), attrs)?,
    )
}

/// `RTM_GETLINK` dump of every link.
pub fn dump_links() -> Result<Vec<u8>> {
    let attrs = vec![attr(Ifla::ExtMask, RTEXT_FILTER_SKIP_STATS)?];
    encode(
        Rtm::Getlink,
        NlmF::DUMP,
        ifinfo(0, Iff::empty(), Iff::empty(), attrs)?,
    )
}

/// `RTM_NEWLINK` changing an existing link: up/down, MTU, MAC, name,
/// master, namespace. Renaming needs the link by index.
pub fn set_link(link: &LinkRef, change: &LinkChange) -> Result<Vec<u8>> {
    let (index, mut attrs) = link_ref(link)?;
    if let Some(name) = &change.name {
        if index == 0 {
            return Err(Error::encode(
                "rename",
                "a link is renamed by index, not by name",
            ));
        }
        attrs.push(attr(Ifla::Ifname, name.as_str())?);
    }
    if let Some(mtu) = change.mtu {
        attrs.push(attr(Ifla::Mtu, mtu)?);
    }
    if let Some(mac) = change.mac {
        attrs.push(attr(Ifla::Address, mac.octets())?);
    }
    match change.master {
        Some(Master::Set(m)) => attrs.push(attr(Ifla::Master, m)?),
        Some(Master::Clear) => attrs.push(attr(Ifla::Master, 0u32)?),
        None => {}
    }
    if let Some(fd) = change.netns_fd {
        attrs.push(attr(Ifla::NetNsFd, fd.as_raw_fd())?);
    }
    if let Some(group) = change.group {
        attrs.push(attr(Ifla::Group, group)?);
    }
    if change.addr_gen_mode_none {
        let inet6 = nest(
            libc::AF_INET6 as u16,
            &[attr(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE)?],
        )?;
        attrs.push(nest(Ifla::AfSpec, &[inet6])?);
    }
    let (flags, mask) = up_flags(change.up);
    encode(Rtm::Newlink, NlmF::ACK, ifinfo(index, flags, mask, attrs)?)
}

/// `RTM_DELLINK`, by index or name.
pub fn delete_link(link: &LinkRef) -> Result<Vec<u8>> {
    let (index, attrs) = link_ref(link)?;
    encode(
        Rtm::Dellink,
        NlmF::ACK,
        ifinfo(index, Iff::empty(), Iff::empty(), attrs)?,
    )
}

/// `RTM_DELLINK` of every link in netdev group `group` (no index, no
/// name: `IFLA_GROUP` alone).
pub fn delete_group(group: u32) -> Result<Vec<u8>> {
    encode(
        Rtm::Dellink,
        NlmF::ACK,
        ifinfo(
            0,
            Iff::empty(),
            Iff::empty(),
            vec![attr(Ifla::Group, group)?],
        )?,
    )
}

/// `RTM_NEWLINK` creating a veth pair in one message: the host end (name,
/// master, MTU, MAC, up) and its peer (name, namespace, MTU, MAC, up),
/// the peer created directly inside its namespace.
pub fn new_veth(spec: &VethSpec<'_>) -> Result<Vec<u8>> {
    let mut peer_attrs = vec![attr(Ifla::Ifname, spec.peer_name.as_str())?];
    if let Some(fd) = spec.peer_netns {
        peer_attrs.push(attr(Ifla::NetNsFd, fd.as_raw_fd())?);
    }
    if let Some(mtu) = spec.mtu {
        peer_attrs.push(attr(Ifla::Mtu, mtu)?);
    }
    if let Some(mac) = spec.peer_mac {
        peer_attrs.push(attr(Ifla::Address, mac.octets())?);
    }
    let (pflags, pmask) = up_flags(spec.peer_up.then_some(true));
    let peer = ifinfo(0, pflags, pmask, peer_attrs)?;
    let mut peer_bytes = Cursor::new(Vec::with_capacity(peer.padded_size()));
    peer.to_bytes(&mut peer_bytes)
        .map_err(|e| Error::encode("veth peer", e))?;
    let info = nest(
        Ifla::Linkinfo,
        &[
            attr(IflaInfo::Kind, "veth")?,
            nest(
                IflaInfo::Data,
                &[attr(VETH_INFO_PEER, Buffer::from(peer_bytes.into_inner()))?],
            )?,
        ],
    )?;
    let mut attrs = vec![attr(Ifla::Ifname, spec.name.as_str())?];
    if let Some(master) = spec.master {
        attrs.push(attr(Ifla::Master, master)?);
    }
    create_link(attrs, spec.mtu, spec.mac, info, spec.up)
}

/// `RTM_NEWLINK` creating a bridge (STP off unless asked).
pub fn new_bridge(spec: &BridgeSpec<'_>) -> Result<Vec<u8>> {
    let mut data = vec![attr(IFLA_BR_STP_STATE, u32::from(spec.stp))?];
    if let Some(snooping) = spec.mcast_snooping {
        data.push(attr(IFLA_BR_MCAST_SNOOPING, u8::from(snooping))?);
    }
    let info = nest(
        Ifla::Linkinfo,
        &[
            attr(IflaInfo::Kind, "bridge")?,
            nest(IflaInfo::Data, &data)?,
        ],
    )?;
    let attrs = vec![attr(Ifla::Ifname, spec.name.as_str())?];
    create_link(attrs, spec.mtu, spec.mac, info, spec.up)
}

/// `RTM_NEWLINK` creating a link of its own (fails if the name is taken):
/// `attrs` (its name, ...), then its MTU, MAC and link info, up or not.
fn create_link(
    mut attrs: Vec<Rtattr<Ifla, Buffer>>,
    mtu: Option<u32>,
    mac: Option<MacAddr>,
    info: Rtattr<Ifla, Buffer>,
    up: bool,
) -> Result<Vec<u8>> {
    if let Some(mtu) = mtu {
        attrs.push(attr(Ifla::Mtu, mtu)?);
    }
    if let Some(mac) = mac {
        attrs.push(attr(Ifla::Address, mac.octets())?);
    }
    attrs.push(info);
    let (flags, mask) = up_flags(up.then_some(true));
    encode(
        Rtm::Newlink,
        NlmF::ACK | NlmF::CREATE | NlmF::EXCL,
        ifinfo(0, flags, mask, attrs)?,
    )
}

/// `RTM_NEWLINK` setting bridge options on an existing bridge (STP).
pub fn set_bridge(link: &LinkRef, stp: bool) -> Result<Vec<u8>> {
    let data = [attr(IFLA_BR_STP_STATE, u32::from(stp))?];
    change_link_info(link, IflaInfo::Kind, IflaInfo::Data, &data)
}

/// `RTM_NEWLINK` setting a bridge port's flags (hairpin, isolated), as
/// `ip link set dev X type bridge_slave hairpin on isolated on` does.
pub fn set_bridge_port(link: &LinkRef, flags: &BridgePortFlags) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    if let Some(h) = flags.hairpin {
        data.push(attr(IFLA_BRPORT_MODE, u8::from(h))?);
    }
    if let Some(i) = flags.isolated {
        data.push(attr(IFLA_BRPORT_ISOLATED, u8::from(i))?);
    }
    change_link_info(link, IflaInfo::SlaveKind, IflaInfo::SlaveData, &data)
}

/// `RTM_NEWLINK` changing an existing bridge's options or a bridge port's
/// (`kind`/`data`: `IFLA_INFO_KIND`/`DATA`, or the `SLAVE_` pair).
fn change_link_info<T: neli::consts::rtnl::RtaType>(
    link: &LinkRef,
    kind: IflaInfo,
    data_type: IflaInfo,
    data: &[Rtattr<T, Buffer>],
) -> Result<Vec<u8>> {
    let (index, mut attrs) = link_ref(link)?;
    attrs.push(nest(
        Ifla::Linkinfo,
        &[attr(kind, "bridge")?, nest(data_type, data)?],
    )?);
    encode(
        Rtm::Newlink,
        NlmF::ACK,
        ifinfo(index, Iff::empty(), Iff::empty(), attrs)?,
    )
}

fn family(addr: &IpAddr) -> RtAddrFamily {
    match addr {
        IpAddr::V4(_) => RtAddrFamily::Inet,
        IpAddr::V6(_) => RtAddrFamily::Inet6,
    }
}

fn addr_bytes(addr: &IpAddr) -> Buffer {
    match addr {
        IpAddr::V4(a) => Buffer::from(&a.octets()[..]),
        IpAddr::V6(a) => Buffer::from(&a.octets()[..]),
    }
}

fn ifaddr(index: u32, net: &IpNet, nodad: bool) -> Result<Ifaddrmsg> {
    let ip = net.addr();
    let mut attrs = Vec::new();
    let mut flags = IfaF::empty();
    match net {
        IpNet::V4(n) => {
            attrs.push(attr(Ifa::Local, addr_bytes(&ip))?);
            attrs.push(attr(Ifa::Address, addr_bytes(&ip))?);
            if n.prefix_len() < 31 {
                attrs.push(attr(Ifa::Broadcast, &n.broadcast().octets()[..])?);
            }
        }
        IpNet::V6(_) => {
            attrs.push(attr(Ifa::Address, addr_bytes(&ip))?);
            if nodad {
                flags = IfaF::NODAD;
                attrs.push(attr(Ifa::Flags, IFA_F_NODAD)?);
            }
        }
    }
    IfaddrmsgBuilder::default()
        .ifa_family(family(&ip))
        .ifa_prefixlen(net.prefix_len())
        .ifa_flags(flags)
        .ifa_scope(RtScope::Universe)
        .ifa_index(index)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<_, _>>())
        .build()
        .map_err(|e| Error::encode("ifaddrmsg", e))
}

/// `RTM_NEWADDR`: `addr/prefix` on the link `index` (IPv4 with its
/// broadcast; IPv6 optionally without duplicate address detection).
pub fn new_address(index: u32, net: &IpNet, nodad: bool) -> Result<Vec<u8>> {
    encode(
        Rtm::Newaddr,
        NlmF::ACK | NlmF::CREATE | NlmF::EXCL,
        ifaddr(index, net, nodad)?,
    )
}

/// `RTM_DELADDR`.
pub fn delete_address(index: u32, net: &IpNet) -> Result<Vec<u8>> {
    encode(Rtm::Deladdr, NlmF::ACK, ifaddr(index, net, false)?)
}

/// `RTM_GETADDR` dump (all families when `family` is `None`).
pub fn dump_addresses(family: Option<Family>) -> Result<Vec<u8>> {
    dump_addresses_of(family, 0)
}

/// `RTM_GETADDR` dump of the addresses of link `index` (0: every link; the
/// kernel filters only on a socket with strict checking).
pub fn dump_addresses_of(family: Option<Family>, index: u32) -> Result<Vec<u8>> {
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(family.map_or(RtAddrFamily::Unspecified, Family::rt))
        .ifa_prefixlen(0)
        .ifa_scope(RtScope::Universe)
        .ifa_index(index)
        .build()
        .map_err(|e| Error::encode("ifaddrmsg", e))?;
    encode(Rtm::Getaddr, NlmF::DUMP, msg)
}

fn rtmsg(spec: &RouteSpec) -> Result<Rtmsg> {
    let fam = match (&spec.dst, &spec.gateway) {
        (Some(d), _) => family(&d.addr()),
        (None, Some(g)) => family(g),
        (None, None) => {
            return Err(Error::encode(
                "route",
                "a route needs a destination or a gateway",
            ));
        }
    };
    let mut attrs = Vec::new();
    if let Some(dst) = &spec.dst
        && dst.prefix_len() > 0
    {
        attrs.push(attr(Rta::Dst, addr_bytes(&dst.addr()))?);
    }
    if let Some(gw) = &spec.gateway {
        attrs.push(attr(Rta::Gateway, addr_bytes(gw))?);
    }
    if let Some(oif) = spec.oif {
        attrs.push(attr(Rta::Oif, oif)?);
    }
    if let Some(metric) = spec.metric {
        attrs.push(attr(Rta::Priority, metric)?);
    }
    let scope = if spec.gateway.is_some() {
        RtScope::Universe
    } else {
        RtScope::Link
    };
    RtmsgBuilder::default()
        .rtm_family(fam)
        .rtm_dst_len(spec.dst.map_or(0, |d| d.prefix_len()))
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(RtTable::Main)
        .rtm_protocol(Rtprot::Boot)
        .rtm_scope(scope)
        .rtm_type(Rtn::Unicast)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<_, _>>())
        .build()
        .map_err(|e| Error::encode("rtmsg", e))
}

/// `RTM_NEWROUTE` in the main table.
pub fn new_route(spec: &RouteSpec) -> Result<Vec<u8>> {
    encode(
        Rtm::Newroute,
        NlmF::ACK | NlmF::CREATE | NlmF::EXCL,
        rtmsg(spec)?,
    )
}

/// `RTM_DELROUTE` from the main table.
pub fn delete_route(spec: &RouteSpec) -> Result<Vec<u8>> {
    encode(Rtm::Delroute, NlmF::ACK, rtmsg(spec)?)
}

/// `RTM_GETROUTE` dump.
pub fn dump_routes(family: Family) -> Result<Vec<u8>> {
    let msg = RtmsgBuilder::default()
        .rtm_family(family.rt())
        .rtm_dst_len(0)
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(RtTable::Unspec)
        .rtm_protocol(Rtprot::Unspec)
        .rtm_scope(RtScope::Universe)
        .rtm_type(Rtn::Unspec)
        .build()
        .map_err(|e| Error::encode("rtmsg", e))?;
    encode(Rtm::Getroute, NlmF::DUMP, msg)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Expected bytes are written out from the kernel's uapi structs
    //! (`nlmsghdr`, `ifinfomsg`, `ifaddrmsg`, `rtmsg`, `rtattr`); the
    //! privileged tests prove the kernel accepts each message.

    use super::*;
    use crate::{IfName, MacAddr};

    /// Bytes written as hex pairs separated by spaces.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    fn name(s: &str) -> IfName {
        IfName::new(s).unwrap()
    }

    #[test]
    fn set_up_by_index() {
        let m = set_link(
            &LinkRef::Index(5),
            &LinkChange {
                up: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            m,
            hex("20 00 00 00  10 00 05 00  00 00 00 00  00 00 00 00
                 00 00 00 00  05 00 00 00  01 00 00 00  01 00 00 00")
        );
    }

    #[test]
    fn set_down_by_name_with_mtu_and_mac() {
        let m = set_link(
            &LinkRef::Name(name("eth0")),
            &LinkChange {
                up: Some(false),
                mtu: Some(1400),
                mac: Some(MacAddr([2, 0x42, 0xac, 0x11, 0, 2])),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            m,
            hex("40 00 00 00  10 00 05 00  00 00 00 00  00 00 00 00
                 00 00 00 00  00 00 00 00  00 00 00 00  01 00 00 00
                 09 00 03 00  65 74 68 30  00 00 00 00
                 08 00 04 00  78 05 00 00
                 0a 00 01 00  02 42 ac 11  00 02 00 00")
        );
    }

    #[test]
    fn delete_by_group_and_set_group() {
        // RTM_DELLINK (17), NLM_F_REQUEST|NLM_F_ACK, ifindex 0, IFLA_GROUP
        // (27) = 0x6272.
        assert_eq!(
            delete_group(0x6272).unwrap(),
            hex("28 00 00 00  11 00 05 00  00 00 00 00  00 00 00 00
                 00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                 08 00 1b 00  72 62 00 00")
        );
        let m = set_link(
            &LinkRef::Index(5),
            &LinkChange {
                up: Some(false),
                group: Some(0x6272),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            m,
            hex("28 00 00 00  10 00 05 00  00 00 00 00  00 00 00 00
                 00 00 00 00  05 00 00 00  00 00 00 00  01 00 00 00
                 08 00 1b 00  72 62 00 00")
        );
    }

    #[test]
    fn rename_needs_an_index() {
        let change = LinkChange {
            name: Some(name("eth1")),
            ..Default::default()
        };
        assert!(set_link(&LinkRef::Name(name("eth0")), &change).is_err());
        let m = set_link(&LinkRef::Index(7), &change).unwrap();
        assert_eq!(
            &m[16..],
            &hex("00 00 00 00  07 00 00 00  00 00 00 00  00 00 00 00
                                   09 00 03 00  65 74 68 31  00 00 00 00")[..]
        );
    }

    #[test]
    fn veth_with_peer_in_a_namespace() {
        // Any open descriptor will do: encoding only copies its number.
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = std::os::fd::AsFd::as_fd(&file);
        let (host, peer) = (name("veth0"), name("eth0"));
        let m = new_veth(&VethSpec {
            name: &host,
            peer_name: &peer,
            peer_netns: Some(fd),
            master: Some(3),
            mtu: None,
            mac: None,
            peer_mac: None,
            up: true,
            peer_up: false,
        })
        .unwrap();
        let mut want = hex("70 00 00 00  10 00 05 06  00 00 00 00  00 00 00 00
                 00 00 00 00  00 00 00 00  01 00 00 00  01 00 00 00
                 0a 00 03 00  76 65 74 68  30 00 00 00
                 08 00 0a 00  03 00 00 00
                 3c 00 12 00
                   09 00 01 00  76 65 74 68  00 00 00 00
                   2c 00 02 00
                     28 00 01 00
                       00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                       09 00 03 00  65 74 68 30  00 00 00 00
                       08 00 1c 00  ff ff ff ff");
        let n = want.len();
        want[n - 4..].copy_from_slice(&std::os::fd::AsRawFd::as_raw_fd(&fd).to_ne_bytes());
        assert_eq!(m, want);
    }

    #[test]
    fn bridge_port_hairpin() {
        let m = set_bridge_port(
            &LinkRef::Name(name("veth0")),
            &BridgePortFlags {
                hairpin: Some(true),
                isolated: None,
            },
        )
        .unwrap();
        assert_eq!(
            m,
            hex("48 00 00 00  10 00 05 00  00 00 00 00  00 00 00 00
                 00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                 0a 00 03 00  76 65 74 68  30 00 00 00
                 1c 00 12 00
                   0b 00 04 00  62 72 69 64  67 65 00 00
                   0c 00 05 00
                     05 00 04 00  01 00 00 00")
        );
    }

    #[test]
    fn bridge_with_stp_off() {
        let br = name("br0");
        let m = new_bridge(&BridgeSpec {
            name: &br,
            mtu: Some(1500),
            mac: None,
            stp: false,
            mcast_snooping: None,
            up: true,
        })
        .unwrap();
        assert_eq!(
            m,
            hex("4c 00 00 00  10 00 05 06  00 00 00 00  00 00 00 00
                 00 00 00 00  00 00 00 00  01 00 00 00  01 00 00 00
                 08 00 03 00  62 72 30 00
                 08 00 04 00  dc 05 00 00
                 1c 00 12 00
                   0b 00 01 00  62 72 69 64  67 65 00 00
                   0c 00 02 00
                     08 00 05 00  00 00 00 00")
        );
    }

    #[test]
    fn get_and_dump_links() {
        assert_eq!(
            get_link(&LinkRef::Name(name("br0"))).unwrap(),
            hex("30 00 00 00  12 00 05 00  00 00 00 00  00 00 00 00
                 00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                 08 00 03 00  62 72 30 00
                 08 00 1d 00  08 00 00 00")
        );
        assert_eq!(
            dump_links().unwrap(),
            hex("28 00 00 00  12 00 01 03  00 00 00 00  00 00 00 00
                 00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                 08 00 1d 00  08 00 00 00")
        );
        assert_eq!(
            delete_link(&LinkRef::Index(9)).unwrap(),
            hex("20 00 00 00  11 00 05 00  00 00 00 00  00 00 00 00
                 00 00 00 00  09 00 00 00  00 00 00 00  00 00 00 00")
        );
    }

    #[test]
    fn ipv4_address_with_broadcast() {
        let m = new_address(2, &"10.88.0.2/16".parse().unwrap(), false).unwrap();
        assert_eq!(
            m,
            hex("30 00 00 00  14 00 05 06  00 00 00 00  00 00 00 00
                 02 10 00 00  02 00 00 00
                 08 00 02 00  0a 58 00 02
                 08 00 01 00  0a 58 00 02
                 08 00 04 00  0a 58 ff ff")
        );
        // A /31 has no broadcast address.
        let m = new_address(2, &"10.0.0.0/31".parse().unwrap(), false).unwrap();
        assert_eq!(m.len(), 16 + 8 + 16);
    }

    #[test]
    fn ipv6_address_nodad() {
        let m = new_address(2, &"fd00::2/64".parse().unwrap(), true).unwrap();
        assert_eq!(
            m,
            hex("34 00 00 00  14 00 05 06  00 00 00 00  00 00 00 00
                 0a 40 02 00  02 00 00 00
                 14 00 01 00  fd 00 00 00  00 00 00 00  00 00 00 00  00 00 00 02
                 08 00 08 00  02 00 00 00")
        );
    }

    #[test]
    fn default_route_via_gateway() {
        let m = new_route(&RouteSpec::default_via("10.88.0.1".parse().unwrap())).unwrap();
        assert_eq!(
            m,
            hex("24 00 00 00  18 00 05 06  00 00 00 00  00 00 00 00
                 02 00 00 00  fe 03 00 01  00 00 00 00
                 08 00 05 00  0a 58 00 01")
        );
        let m = delete_route(&RouteSpec::default_via("10.88.0.1".parse().unwrap())).unwrap();
        assert_eq!(&m[4..8], &hex("19 00 05 00")[..]);
        assert!(
            new_route(&RouteSpec {
                dst: None,
                gateway: None,
                oif: None,
                metric: None,
            })
            .is_err()
        );
    }

    #[test]
    fn route_to_a_prefix_on_a_link() {
        let m = new_route(&RouteSpec {
            dst: Some("172.20.0.0/16".parse().unwrap()),
            gateway: None,
            oif: Some(4),
            metric: None,
        })
        .unwrap();
        assert_eq!(
            m,
            hex("2c 00 00 00  18 00 05 06  00 00 00 00  00 00 00 00
                 02 10 00 00  fe 03 fd 01  00 00 00 00
                 08 00 01 00  ac 14 00 00
                 08 00 04 00  04 00 00 00")
        );
    }

    #[test]
    fn link_replies_parse_back() {
        // An RTM_NEWLINK payload as the kernel sends it for a bridge port:
        // ifinfomsg, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_ADDRESS and
        // IFLA_LINKINFO with the slave kind and hairpin on.
        let p = hex("00 00 01 00  05 00 00 00  43 10 01 00  00 00 00 00
                     0a 00 03 00  76 65 74 68  30 00 00 00
                     08 00 04 00  dc 05 00 00
                     08 00 0a 00  03 00 00 00
                     0a 00 01 00  02 42 ac 11  00 02 00 00
                     30 00 12 00
                       09 00 01 00  76 65 74 68  00 00 00 00
                       0b 00 04 00  62 72 69 64  67 65 00 00
                       14 00 05 80
                         05 00 04 00  01 00 00 00
                         05 00 21 00  00 00 00 00");
        let l = crate::Link::parse(&p).unwrap();
        assert_eq!(l.index, 5);
        assert_eq!(l.name, "veth0");
        assert_eq!(l.mtu, 1500);
        assert_eq!(l.master, Some(3));
        assert_eq!(l.mac.unwrap().to_string(), "02:42:ac:11:00:02");
        assert_eq!(l.kind.as_deref(), Some("veth"));
        assert!(l.is_up());
        assert_eq!(
            l.port,
            Some(crate::BridgePortInfo {
                hairpin: true,
                isolated: false
            })
        );
        // Truncated or garbage payloads are errors, never panics.
        for n in 0..p.len() {
            let _ = crate::Link::parse(&p[..n]);
        }
        assert!(crate::Link::parse(&[0xff; 7]).is_err());
    }
}
