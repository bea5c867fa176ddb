//! Reading dumps back: chains, rules (their comments) and set elements,
//! decoded into the ruleset's own types.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use neli::FromBytesWithInput;
use neli::types::{Buffer, GenlBuffer};

use super::consts::*;
use crate::port::{Protocol, PublishedPort};
use crate::ruleset::{Element, NetChain, Set};
use brnet_netlink::IfName;

type Attrs = GenlBuffer<u16, Buffer>;

fn parse(bytes: &[u8]) -> Option<Attrs> {
    Attrs::from_bytes_with_input(&mut Cursor::new(bytes), bytes.len()).ok()
}

fn find(attrs: &Attrs, ty: u16) -> Option<&[u8]> {
    attrs
        .iter()
        .find(|a| *a.nla_type().nla_type() == ty)
        .map(|a| a.nla_payload().as_ref())
}

fn string(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A big-endian u32 attribute of a message payload (after `nfgenmsg`).
pub(crate) fn attr_u32(payload: &[u8], ty: u16) -> Option<u32> {
    let a = parse(payload)?;
    let b = find(&a, ty)?;
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// A table's name from a `NEWTABLE` dump message.
pub(crate) fn table_name(payload: &[u8]) -> Option<String> {
    parse(payload).and_then(|a| find(&a, NFTA_TABLE_NAME).map(string))
}

/// A chain's table and name from a `NEWCHAIN` dump message.
pub(crate) fn chain_table_name(payload: &[u8]) -> Option<(String, String)> {
    let a = parse(payload)?;
    Some((
        string(find(&a, NFTA_CHAIN_TABLE)?),
        string(find(&a, NFTA_CHAIN_NAME)?),
    ))
}

/// A rule's chain and comment from a `NEWRULE` dump message.
pub(crate) fn rule_chain_comment(payload: &[u8]) -> Option<(String, Option<String>)> {
    let a = parse(payload)?;
    let chain = string(find(&a, NFTA_RULE_CHAIN)?);
    let comment = find(&a, NFTA_RULE_USERDATA).and_then(|u| {
        // TLVs: type, length, value; the comment is NUL-terminated.
        let mut i = 0;
        while i + 2 <= u.len() {
            let (t, l) = (u[i], u[i + 1] as usize);
            let v = u.get(i + 2..i + 2 + l)?;
            if t == NFTNL_UDATA_RULE_COMMENT {
                return Some(string(v));
            }
            i += 2 + l;
        }
        None
    });
    Some((chain, comment))
}

/// One raw element: key bytes, and either value bytes or a jump target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawElement {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub jump: Option<String>,
}

fn data_value(nested: &[u8]) -> Option<Vec<u8>> {
    parse(nested).and_then(|a| find(&a, NFTA_DATA_VALUE).map(<[u8]>::to_vec))
}

/// The elements of a `NEWSETELEM` dump message.
pub(crate) fn raw_elements(payload: &[u8]) -> Vec<RawElement> {
    let Some(a) = parse(payload) else {
        return Vec::new();
    };
    let Some(list) = find(&a, NFTA_SET_ELEM_LIST_ELEMENTS).and_then(parse) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let e = parse(e.nla_payload().as_ref())?;
            let key = find(&e, NFTA_SET_ELEM_KEY).and_then(data_value)?;
            let data = find(&e, NFTA_SET_ELEM_DATA).and_then(parse);
            let value = data
                .as_ref()
                .and_then(|d| find(d, NFTA_DATA_VALUE).map(<[u8]>::to_vec));
            let jump = data
                .as_ref()
                .and_then(|d| find(d, NFTA_DATA_VERDICT))
                .and_then(parse)
                .and_then(|v| find(&v, NFTA_VERDICT_CHAIN).map(string));
            Some(RawElement { key, value, jump })
        })
        .collect()
}

fn ip(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
        _ => None,
    }
}

/// `proto(4 bytes, padded) . port(2 bytes BE, padded)`.
fn proto_port(b: &[u8]) -> Option<(Protocol, u16)> {
    if b.len() != 8 {
        return None;
    }
    Some((
        Protocol::from_number(b[0])?,
        u16::from_be_bytes([b[4], b[5]]),
    ))
}

fn addr_port(b: &[u8]) -> Option<(IpAddr, u16)> {
    let (a, p) = b.split_at(b.len().checked_sub(4)?);
    Some((ip(a)?, u16::from_be_bytes([p[0], p[1]])))
}

fn bridge_of(jump: &str, kind: NetChain) -> Option<IfName> {
    match NetChain::parse(jump) {
        Some((k, br)) if k == kind => crate::network::bridge_name(br).ok(),
        _ => None,
    }
}

/// Decode a raw element of `set` into our element type; `None` for
/// anything we would not have written.
pub(crate) fn decode(set: Set, raw: &RawElement) -> Option<Element> {
    let k = raw.key.as_slice();
    match set {
        Set::Ports4 | Set::Ports6 | Set::Ports4Host | Set::Ports6Host => {
            let host_len = match set {
                Set::Ports4Host => 4,
                Set::Ports6Host => 16,
                _ => 0,
            };
            let host = if host_len > 0 {
                Some(ip(k.get(..host_len)?)?)
            } else {
                None
            };
            let (proto, port) = proto_port(k.get(host_len..)?)?;
            let (to, to_port) = addr_port(raw.value.as_deref()?)?;
            Some(Element::Port(PublishedPort {
                protocol: proto,
                host_ip: host,
                host_port: port,
                container: to,
                container_port: to_port,
            }))
        }
        Set::Open4 | Set::Open6 => {
            let alen = if set == Set::Open4 { 4 } else { 16 };
            let addr = ip(k.get(..alen)?)?;
            let (proto, port) = proto_port(k.get(alen..)?)?;
            Some(Element::Open { addr, proto, port })
        }
        Set::Ep4 | Set::Ep6 => {
            let addr = ip(k)?;
            let br = bridge_of(raw.jump.as_deref()?, NetChain::Direct)?;
            Some(Element::Endpoint(addr, br))
        }
        Set::Bridges => Some(Element::Bridge(
            crate::network::bridge_name(&string(k)).ok()?,
        )),
        Set::FwdIn | Set::FwdOut | Set::PostIn | Set::PostOut => {
            let kind = match set {
                Set::FwdIn => NetChain::FwdIn,
                Set::FwdOut => NetChain::FwdOut,
                Set::PostIn => NetChain::PostIn,
                _ => NetChain::PostOut,
            };
            let br = crate::network::bridge_name(&string(k)).ok()?;
            let target = bridge_of(raw.jump.as_deref()?, kind)?;
            (target == br).then_some(Element::Dispatch(kind, br))
        }
    }
}
