//! Neighbour entries (`AF_INET`/`AF_INET6`: IP → MAC, as `ip neigh`) and
//! bridge FDB entries (`AF_BRIDGE`: MAC → port, or → remote VTEP on a
//! vxlan device, as `bridge fdb`): add, append, replace, delete, list,
//! over the one transport.
//!
//! What the kernel does with them, as measured (reference/overlay-vxlan.md):
//! - FDB entries on a vxlan device carry `NTF_SELF` and the state
//!   `NUD_NOARP|NUD_PERMANENT`; `NDA_DST` is the remote VTEP.
//! - The all-zero MAC is the flood list: one entry per remote VTEP, each
//!   added with [`NeighMode::Append`] (idempotent).
//! - A unicast MAC moves to another VTEP only with [`NeighMode::Replace`];
//!   `Append` of it with another destination succeeds and changes nothing.
//! - A delete with an `NDA_DST` that does not match is acked and leaves
//!   the entry: delete with the destination installed, or with none.

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::mac::MacAddr;
use crate::socket::Socket;
use crate::wire;

/// `RTM_NEWNEIGH`, `linux/rtnetlink.h`.
pub const RTM_NEWNEIGH: u16 = 28;
/// `RTM_DELNEIGH`.
pub const RTM_DELNEIGH: u16 = 29;
/// `RTM_GETNEIGH`.
pub const RTM_GETNEIGH: u16 = 30;
/// `NDA_DST`, `linux/neighbour.h`: the IP address (a neighbour's; an FDB
/// entry's remote VTEP).
pub const NDA_DST: u16 = 1;
/// `NDA_LLADDR`: the link-layer address.
pub const NDA_LLADDR: u16 = 2;
/// `NDA_MASTER`: the master (bridge) of the port an FDB entry is on.
pub const NDA_MASTER: u16 = 9;
/// `NUD_NOARP`, `linux/neighbour.h`.
pub const NUD_NOARP: u16 = 0x40;
/// `NUD_PERMANENT`.
pub const NUD_PERMANENT: u16 = 0x80;
/// `NTF_SELF`: the entry belongs to the device itself (a vxlan's own
/// table), not to its master bridge.
pub const NTF_SELF: u8 = 0x02;
/// `NTF_MASTER`: the entry belongs to the master bridge's table.
pub const NTF_MASTER: u8 = 0x04;
/// `AF_BRIDGE`.
pub const AF_BRIDGE: u8 = libc::AF_BRIDGE as u8;

const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

/// How a `RTM_NEWNEIGH` treats an entry that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighMode {
    /// Create; `EEXIST` if there is one (`bridge fdb add`, `ip neigh add`).
    Add,
    /// Create or add one more destination (`bridge fdb append`): the flood
    /// list's way; idempotent.
    Append,
    /// Create or overwrite (`bridge fdb replace`, `ip neigh replace`).
    Replace,
}

impl NeighMode {
    fn flags(self) -> u16 {
        NLM_F_CREATE
            | match self {
                NeighMode::Add => NLM_F_EXCL,
                NeighMode::Append => NLM_F_APPEND,
                NeighMode::Replace => NLM_F_REPLACE,
            }
    }
}

/// Which table an entry lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighFamily {
    /// An FDB entry (`AF_BRIDGE`).
    Bridge,
    /// An IPv4 neighbour (ARP).
    V4,
    /// An IPv6 neighbour (NDP).
    V6,
}

impl NeighFamily {
    fn af(self) -> u8 {
        match self {
            NeighFamily::Bridge => AF_BRIDGE,
            NeighFamily::V4 => libc::AF_INET as u8,
            NeighFamily::V6 => libc::AF_INET6 as u8,
        }
    }

    fn of(af: u8) -> Option<NeighFamily> {
        match i32::from(af) {
            libc::AF_BRIDGE => Some(NeighFamily::Bridge),
            libc::AF_INET => Some(NeighFamily::V4),
            libc::AF_INET6 => Some(NeighFamily::V6),
            _ => None,
        }
    }
}

/// An entry as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Its table.
    pub family: NeighFamily,
    /// The device it is on.
    pub index: u32,
    /// `NUD_*` state.
    pub state: u16,
    /// `NTF_*` flags.
    pub flags: u8,
    /// `NDA_LLADDR`.
    pub mac: Option<MacAddr>,
    /// `NDA_DST`: the neighbour's address, or an FDB entry's remote VTEP.
    pub dst: Option<IpAddr>,
    /// `NDA_MASTER`: for an FDB entry, the bridge.
    pub master: Option<u32>,
}

impl Neighbour {
    /// Whether the entry is permanent (static).
    pub fn is_permanent(&self) -> bool {
        self.state & NUD_PERMANENT != 0
    }

    /// Parse an `RTM_NEWNEIGH` payload (`ndmsg` and its attributes).
    pub fn parse(payload: &[u8]) -> Result<Neighbour> {
        let bad = |d: &str| Error::Decode {
            op: "parse neighbour",
            object: String::new(),
            detail: d.to_string(),
        };
        if payload.len() < NDMSG_LEN {
            return Err(bad("shorter than an ndmsg"));
        }
        let family = NeighFamily::of(payload[0]).ok_or_else(|| bad("unknown address family"))?;
        let index = u32::from_ne_bytes(payload[4..8].try_into().expect("4 bytes"));
        let state = u16::from_ne_bytes(payload[8..10].try_into().expect("2 bytes"));
        let mut n = Neighbour {
            family,
            index,
            state,
            flags: payload[10],
            mac: None,
            dst: None,
            master: None,
        };
        let mut rest = &payload[NDMSG_LEN..];
        while rest.len() >= 4 {
            let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
            let ty = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
            if len < 4 || len > rest.len() {
                return Err(bad("attribute length out of bounds"));
            }
            let p = &rest[4..len];
            match ty {
                NDA_LLADDR => n.mac = <[u8; 6]>::try_from(p).ok().map(MacAddr),
                NDA_DST => {
                    n.dst = match p.len() {
                        4 => Some(IpAddr::from(<[u8; 4]>::try_from(p).expect("4"))),
                        16 => Some(IpAddr::from(<[u8; 16]>::try_from(p).expect("16"))),
                        _ => None,
                    }
                }
                NDA_MASTER => {
                    n.master = p
                        .get(..4)
                        .map(|b| u32::from_ne_bytes(b.try_into().expect("4")))
                }
                _ => {}
            }
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
        Ok(n)
    }
}

const NDMSG_LEN: usize = 12;

fn ndmsg(family: NeighFamily, index: u32, state: u16, flags: u8) -> Vec<u8> {
    let mut b = Vec::with_capacity(48);
    b.push(family.af());
    b.extend_from_slice(&[0; 3]);
    b.extend_from_slice(&index.to_ne_bytes());
    b.extend_from_slice(&state.to_ne_bytes());
    b.push(flags);
    b.push(0); // ndm_type
    b
}

fn push_attr(b: &mut Vec<u8>, ty: u16, value: &[u8]) {
    b.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(value);
    b.resize(b.len().next_multiple_of(4), 0);
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn message(ty: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    wire::push_message(
        &mut m,
        ty,
        wire::NLM_F_REQUEST | wire::NLM_F_ACK | flags,
        payload,
    );
    m
}

/// `RTM_NEWNEIGH` for an FDB entry on `index` (a vxlan device's own
/// table, `NTF_SELF`, permanent): `mac` → `dst` (the remote VTEP).
pub fn new_fdb(index: u32, mac: MacAddr, dst: Option<IpAddr>, mode: NeighMode) -> Vec<u8> {
    let mut p = ndmsg(
        NeighFamily::Bridge,
        index,
        NUD_NOARP | NUD_PERMANENT,
        NTF_SELF,
    );
    push_attr(&mut p, NDA_LLADDR, &mac.octets());
    if let Some(dst) = dst {
        push_attr(&mut p, NDA_DST, &ip_bytes(&dst));
    }
    message(RTM_NEWNEIGH, mode.flags(), &p)
}

/// `RTM_DELNEIGH` for an FDB entry; with `dst`, only that destination
/// (for the all-zero MAC: one peer off the flood list).
pub fn delete_fdb(index: u32, mac: MacAddr, dst: Option<IpAddr>) -> Vec<u8> {
    let mut p = ndmsg(NeighFamily::Bridge, index, 0, NTF_SELF);
    push_attr(&mut p, NDA_LLADDR, &mac.octets());
    if let Some(dst) = dst {
        push_attr(&mut p, NDA_DST, &ip_bytes(&dst));
    }
    message(RTM_DELNEIGH, 0, &p)
}

/// `RTM_NEWNEIGH` for a permanent IP neighbour: `ip` is at `mac` on
/// `index`.
pub fn new_neighbour(index: u32, ip: IpAddr, mac: MacAddr, mode: NeighMode) -> Vec<u8> {
    let family = match ip {
        IpAddr::V4(_) => NeighFamily::V4,
        IpAddr::V6(_) => NeighFamily::V6,
    };
    let mut p = ndmsg(family, index, NUD_PERMANENT, 0);
    push_attr(&mut p, NDA_DST, &ip_bytes(&ip));
    push_attr(&mut p, NDA_LLADDR, &mac.octets());
    message(RTM_NEWNEIGH, mode.flags(), &p)
}

/// `RTM_DELNEIGH` for an IP neighbour.
pub fn delete_neighbour(index: u32, ip: IpAddr) -> Vec<u8> {
    let family = match ip {
        IpAddr::V4(_) => NeighFamily::V4,
        IpAddr::V6(_) => NeighFamily::V6,
    };
    let mut p = ndmsg(family, index, 0, 0);
    push_attr(&mut p, NDA_DST, &ip_bytes(&ip));
    message(RTM_DELNEIGH, 0, &p)
}

/// `RTM_GETNEIGH` dump of one table (every device; filtered after).
pub fn dump_neighbours(family: NeighFamily) -> Vec<u8> {
    let p = ndmsg(family, 0, 0, 0);
    let mut m = Vec::with_capacity(32);
    wire::push_message(
        &mut m,
        RTM_GETNEIGH,
        wire::NLM_F_REQUEST | wire::NLM_F_DUMP,
        &p,
    );
    m
}

struct Fdb<'a>(MacAddr, Option<&'a IpAddr>);

impl fmt::Display for Fdb<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        if let Some(d) = self.1 {
            write!(f, " dst {d}")?;
        }
        Ok(())
    }
}

impl Socket {
    /// Add an FDB entry to device `index`'s own table (see [`new_fdb`]).
    pub fn add_fdb(
        &mut self,
        index: u32,
        mac: MacAddr,
        dst: Option<IpAddr>,
        mode: NeighMode,
    ) -> Result<()> {
        self.request(
            new_fdb(index, mac, dst, mode),
            "add fdb entry",
            &Fdb(mac, dst.as_ref()),
        )
    }

    /// Delete an FDB entry (see [`delete_fdb`]).
    pub fn delete_fdb(&mut self, index: u32, mac: MacAddr, dst: Option<IpAddr>) -> Result<()> {
        self.request(
            delete_fdb(index, mac, dst),
            "delete fdb entry",
            &Fdb(mac, dst.as_ref()),
        )
    }

    /// Delete an FDB entry; one already gone is not an error. Returns
    /// whether it was there.
    pub fn delete_fdb_if_exists(
        &mut self,
        index: u32,
        mac: MacAddr,
        dst: Option<IpAddr>,
    ) -> Result<bool> {
        match self.delete_fdb(index, mac, dst) {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The FDB entries of device `index` (both its own and its master's).
    pub fn fdb_entries(&mut self, index: u32) -> Result<Vec<Neighbour>> {
        self.dump(
            dump_neighbours(NeighFamily::Bridge),
            "list fdb entries",
            &format_args!("ifindex {index}"),
            |p| Ok(Neighbour::parse(p).ok().filter(|n| n.index == index)),
        )
    }

    /// Add a permanent neighbour entry (see [`new_neighbour`]).
    pub fn add_neighbour(
        &mut self,
        index: u32,
        ip: IpAddr,
        mac: MacAddr,
        mode: NeighMode,
    ) -> Result<()> {
        self.request(
            new_neighbour(index, ip, mac, mode),
            "add neighbour",
            &format_args!("{ip} lladdr {mac}"),
        )
    }

    /// Delete a neighbour entry.
    pub fn delete_neighbour(&mut self, index: u32, ip: IpAddr) -> Result<()> {
        self.request(delete_neighbour(index, ip), "delete neighbour", &ip)
    }

    /// Delete a neighbour entry; one already gone is not an error.
    pub fn delete_neighbour_if_exists(&mut self, index: u32, ip: IpAddr) -> Result<bool> {
        match self.delete_neighbour(index, ip) {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The IP neighbours (IPv4 and IPv6) on device `index`.
    pub fn neighbours(&mut self, index: u32) -> Result<Vec<Neighbour>> {
        let mut out = Vec::new();
        for fam in [NeighFamily::V4, NeighFamily::V6] {
            out.extend(self.dump(
                dump_neighbours(fam),
                "list neighbours",
                &format_args!("ifindex {index}"),
                |p| Ok(Neighbour::parse(p).ok().filter(|n| n.index == index)),
            )?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::tests::hex;

    /// `bridge fdb append 00:00:00:00:00:00 dev vx dst 10.99.0.2` as
    /// strace shows it (reference/overlay-vxlan.md §2), ifindex 5.
    #[test]
    fn fdb_append_is_bridge_self_permanent_with_dst() {
        let m = new_fdb(
            5,
            MacAddr([0; 6]),
            Some("10.99.0.2".parse().unwrap()),
            NeighMode::Append,
        );
        let want = hex("30 00 00 00  1c 00 05 0c  00 00 00 00  00 00 00 00
             07 00 00 00  05 00 00 00  c0 00 02 00
             0a 00 02 00  00 00 00 00  00 00 00 00
             08 00 01 00  0a 63 00 02");
        assert_eq!(m, want);
    }

    #[test]
    fn replace_and_add_and_delete_flags() {
        let mac = MacAddr([2, 0x42, 10, 0, 9, 2]);
        let r = new_fdb(5, mac, None, NeighMode::Replace);
        assert_eq!(&r[4..8], &[0x1c, 0, 0x05, 0x05]);
        let a = new_fdb(5, mac, None, NeighMode::Add);
        assert_eq!(&a[4..8], &[0x1c, 0, 0x05, 0x06]);
        let d = delete_fdb(5, mac, None);
        assert_eq!(&d[4..8], &[0x1d, 0, 0x05, 0x00]);
        assert_eq!(d.len(), 16 + 12 + 12);
    }

    /// `ip neigh add 10.0.9.3 lladdr 02:42:0a:00:09:03 dev vx nud
    /// permanent`: AF_INET, NUD_PERMANENT, no flags, CREATE|EXCL.
    #[test]
    fn neighbour_add_is_inet_permanent() {
        let m = new_neighbour(
            5,
            "10.0.9.3".parse().unwrap(),
            MacAddr([2, 0x42, 10, 0, 9, 3]),
            NeighMode::Add,
        );
        let want = hex("30 00 00 00  1c 00 05 06  00 00 00 00  00 00 00 00
             02 00 00 00  05 00 00 00  80 00 00 00
             08 00 01 00  0a 00 09 03
             0a 00 02 00  02 42 0a 00  09 03 00 00");
        assert_eq!(m, want);
    }

    #[test]
    fn parse_reads_back_what_we_build() {
        let m = new_fdb(
            9,
            MacAddr([2, 0x42, 10, 0, 9, 2]),
            Some("10.99.0.3".parse().unwrap()),
            NeighMode::Replace,
        );
        let n = Neighbour::parse(&m[16..]).unwrap();
        assert_eq!(n.family, NeighFamily::Bridge);
        assert_eq!(n.index, 9);
        assert!(n.is_permanent());
        assert_eq!(n.flags, NTF_SELF);
        assert_eq!(n.mac, Some(MacAddr([2, 0x42, 10, 0, 9, 2])));
        assert_eq!(n.dst, Some("10.99.0.3".parse().unwrap()));
        assert!(Neighbour::parse(&m[16..20]).is_err());
        let mut bad = m[16..].to_vec();
        bad[12] = 200; // attribute length past the end
        assert!(Neighbour::parse(&bad).is_err());
    }
}
