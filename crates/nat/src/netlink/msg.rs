//! nf_tables messages, built as pure functions of the ruleset, and the
//! batch (`NFNL_MSG_BATCH_BEGIN` … `END`) that makes them one transaction.

use std::io::Cursor;

use neli::ToBytes;
use neli::consts::nl::NlmF;
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::types::Buffer;

use super::consts::*;
use super::expr::{comment_udata, rule_exprs, verdict};
use super::{Attr, attr, attr_str, attr_u32, nest, nfgenmsg, write_attrs};
use crate::error::Error;
use crate::ruleset::{Chain, Dt, Element, Rule, Set, SetData};

/// Element lists are split into messages of at most this many bytes of
/// elements, well under the 64 KiB an attribute can hold.
pub(crate) const ELEMENTS_PER_MESSAGE_BYTES: usize = 32 * 1024;

/// `NEWTABLE` / `GETTABLE` / `DESTROYTABLE` attributes.
pub(crate) fn table(table: &str, with_flags: bool) -> Result<Vec<Attr>, Error> {
    let mut v = vec![attr_str(NFTA_TABLE_NAME, table)?];
    if with_flags {
        v.push(attr_u32(NFTA_TABLE_FLAGS, 0)?);
    }
    Ok(v)
}

/// `NEWCHAIN` attributes: a regular chain, or a base chain with its hook,
/// type and policy (accept).
pub(crate) fn chain(table: &str, chain: &Chain) -> Result<Vec<Attr>, Error> {
    let mut v = vec![
        attr_str(NFTA_CHAIN_TABLE, table)?,
        attr_str(NFTA_CHAIN_NAME, &chain.name)?,
    ];
    if let Some(h) = chain.hook {
        v.push(attr_str(NFTA_CHAIN_TYPE, h.kind)?);
        v.push(attr_u32(NFTA_CHAIN_POLICY, NF_ACCEPT as u32)?);
        v.push(nest(
            NFTA_CHAIN_HOOK,
            &[
                attr_u32(NFTA_HOOK_HOOKNUM, h.hooknum)?,
                attr(NFTA_HOOK_PRIORITY, &h.priority.to_be_bytes())?,
            ],
        )?);
    }
    Ok(v)
}

/// `DESTROYCHAIN` / `GETCHAIN` attributes.
pub(crate) fn chain_ref(table: &str, name: &str) -> Result<Vec<Attr>, Error> {
    Ok(vec![
        attr_str(NFTA_CHAIN_TABLE, table)?,
        attr_str(NFTA_CHAIN_NAME, name)?,
    ])
}

/// `DELRULE` without a handle: flush `chain`. Also `GETRULE` of one chain.
pub(crate) fn rules_of(table: &str, chain: &str) -> Result<Vec<Attr>, Error> {
    Ok(vec![
        attr_str(NFTA_RULE_TABLE, table)?,
        attr_str(NFTA_RULE_CHAIN, chain)?,
    ])
}

/// `GETRULE` of a whole table.
pub(crate) fn rules_table(table: &str) -> Result<Vec<Attr>, Error> {
    Ok(vec![attr_str(NFTA_RULE_TABLE, table)?])
}

/// `GETCHAIN` of a whole table.
pub(crate) fn chains_table(table: &str) -> Result<Vec<Attr>, Error> {
    Ok(vec![attr_str(NFTA_CHAIN_TABLE, table)?])
}

/// `NEWRULE` attributes: table, chain, expressions, comment.
pub(crate) fn rule(table: &str, chain: &str, rule: &Rule) -> Result<Vec<Attr>, Error> {
    let mut v = vec![
        attr_str(NFTA_RULE_TABLE, table)?,
        attr_str(NFTA_RULE_CHAIN, chain)?,
        nest(
            NFTA_RULE_EXPRESSIONS,
            &rule_exprs(&rule.matches, &rule.stmt)?,
        )?,
    ];
    if let Some(c) = rule.comment {
        v.push(attr(NFTA_RULE_USERDATA, &comment_udata(c))?);
    }
    Ok(v)
}

/// nft's key type for a concatenation: the types' numbers, 6 bits each
/// (`concat_subtype_add` in nftables' datatype.h).
fn concat_type(dts: &[Dt]) -> u32 {
    dts.iter().fold(0, |acc, d| (acc << 6) | d.nft_type())
}

fn concat_len(dts: &[Dt]) -> u32 {
    dts.iter().map(|d| d.reg_len()).sum()
}

fn udata_u32(out: &mut Vec<u8>, tag: u8, v: u32) {
    out.push(tag);
    out.push(4);
    out.extend_from_slice(&v.to_ne_bytes());
}

/// What nft 1.0.6 writes for a `type a . b` concatenation as the key (or
/// data) "typeof": an expression of type 13 with no data. nft does not use
/// it to print a `type` declaration; we write it so the set reads back
/// byte for byte as nft's own.
fn udata_concat_typeof(out: &mut Vec<u8>, tag: u8) {
    out.extend_from_slice(&[tag, 8, 0, 4]);
    out.extend_from_slice(&13u32.to_ne_bytes());
    out.extend_from_slice(&[1, 0]);
}

/// `NFTA_SET_USERDATA` as nft writes it: byte orders of key and data
/// (libnftnl `NFTNL_UDATA_SET_*` TLVs, host-endian values).
pub(crate) fn set_udata(set: Set) -> Vec<u8> {
    let key = set.key();
    let mut out = Vec::with_capacity(40);
    // enum byteorder: 0 invalid (concatenations), 1 host, 2 big-endian.
    let key_order = match key {
        [Dt::Ifname] => 1,
        [Dt::Ipv4] | [Dt::Ipv6] => 2,
        _ => 0,
    };
    udata_u32(&mut out, NFTNL_UDATA_SET_KEYBYTEORDER, key_order);
    if set.data() != SetData::None {
        udata_u32(&mut out, NFTNL_UDATA_SET_DATABYTEORDER, 0);
    }
    if key.len() > 1 {
        udata_concat_typeof(&mut out, NFTNL_UDATA_SET_KEY_TYPEOF);
    }
    if let SetData::Values(v) = set.data()
        && v.len() > 1
    {
        udata_concat_typeof(&mut out, NFTNL_UDATA_SET_DATA_TYPEOF);
    }
    if set.data() != SetData::None {
        udata_u32(&mut out, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
    }
    out
}

/// `NEWSET` attributes.
pub(crate) fn set(table: &str, set: Set) -> Result<Vec<Attr>, Error> {
    let flags = if set.data() == SetData::None {
        0
    } else {
        NFT_SET_MAP
    };
    let mut v = vec![
        attr_str(NFTA_SET_TABLE, table)?,
        attr_str(NFTA_SET_NAME, set.name())?,
        attr_u32(NFTA_SET_FLAGS, flags)?,
        attr_u32(NFTA_SET_KEY_TYPE, concat_type(set.key()))?,
        attr_u32(NFTA_SET_KEY_LEN, concat_len(set.key()))?,
    ];
    match set.data() {
        SetData::None => {}
        SetData::Values(dts) => {
            v.push(attr_u32(NFTA_SET_DATA_TYPE, concat_type(dts))?);
            v.push(attr_u32(NFTA_SET_DATA_LEN, concat_len(dts))?);
        }
        SetData::Verdict => {
            v.push(attr_u32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT)?);
            v.push(attr_u32(NFTA_SET_DATA_LEN, 0)?);
        }
    }
    v.push(attr_u32(NFTA_SET_ID, set.id())?);
    v.push(attr(NFTA_SET_USERDATA, &set_udata(set))?);
    Ok(v)
}

/// `GETSET` / `GETSETELEM` attributes for one set.
pub(crate) fn set_ref(table: &str, set: &str) -> Result<Vec<Attr>, Error> {
    Ok(vec![
        attr_str(NFTA_SET_ELEM_LIST_TABLE, table)?,
        attr_str(NFTA_SET_ELEM_LIST_SET, set)?,
    ])
}

fn push_ip(out: &mut Vec<u8>, a: std::net::IpAddr) {
    match a {
        std::net::IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
}

/// An element's key as the kernel compares it (components padded to 4 bytes).
pub(crate) fn element_key(e: &Element) -> Vec<u8> {
    let mut k = Vec::with_capacity(24);
    match e {
        Element::Bridge(br) | Element::Dispatch(_, br) => k.extend_from_slice(&br.padded()),
        Element::Endpoint(addr, _) => push_ip(&mut k, *addr),
        Element::Port(p) => {
            if let Some(h) = p.host_ip {
                push_ip(&mut k, h);
            }
            k.extend_from_slice(&[p.protocol.number(), 0, 0, 0]);
            k.extend_from_slice(&p.host_port.to_be_bytes());
            k.extend_from_slice(&[0, 0]);
        }
        Element::Open { addr, proto, port } => {
            push_ip(&mut k, *addr);
            k.extend_from_slice(&[proto.number(), 0, 0, 0]);
            k.extend_from_slice(&port.to_be_bytes());
            k.extend_from_slice(&[0, 0]);
        }
    }
    k
}

/// One element of an element list, nested under type `index` (libnftnl
/// numbers the elements of a message 1, 2, 3…; the kernel does not look
/// at the number); `with_data` adds the map value (deletes send only the key).
pub(crate) fn element(e: &Element, index: u16, with_data: bool) -> Result<Attr, Error> {
    let mut parts = vec![nest(
        NFTA_SET_ELEM_KEY,
        &[attr(NFTA_DATA_VALUE, &element_key(e))?],
    )?];
    if with_data {
        match e {
            Element::Port(p) => {
                let mut d = Vec::with_capacity(20);
                push_ip(&mut d, p.container);
                d.extend_from_slice(&p.container_port.to_be_bytes());
                d.extend_from_slice(&[0, 0]);
                parts.push(nest(NFTA_SET_ELEM_DATA, &[attr(NFTA_DATA_VALUE, &d)?])?);
            }
            Element::Dispatch(..) | Element::Endpoint(..) => {
                let chain = e.jump().unwrap_or_default();
                parts.push(nest(
                    NFTA_SET_ELEM_DATA,
                    &[verdict(NFT_JUMP, Some(&chain))?],
                )?);
            }
            Element::Bridge(_) | Element::Open { .. } => {}
        }
    }
    nest(index, &parts)
}

/// `NEWSETELEM` / `DELSETELEM` attributes for `elements` (all of `set`),
/// split into as many messages as their size needs.
pub(crate) fn elements<'a>(
    table: &str,
    set: Set,
    elements: impl IntoIterator<Item = &'a Element>,
    with_data: bool,
) -> Result<Vec<(Vec<Attr>, usize)>, Error> {
    let mut out = Vec::new();
    let mut chunk: Vec<Attr> = Vec::new();
    let mut bytes = 0;
    let flush = |chunk: &mut Vec<Attr>, out: &mut Vec<(Vec<Attr>, usize)>| -> Result<(), Error> {
        let n = chunk.len();
        let list = nest(NFTA_SET_ELEM_LIST_ELEMENTS, chunk)?;
        chunk.clear();
        out.push((
            vec![
                attr_str(NFTA_SET_ELEM_LIST_TABLE, table)?,
                attr_str(NFTA_SET_ELEM_LIST_SET, set.name())?,
                attr_u32(NFTA_SET_ELEM_LIST_SET_ID, set.id())?,
                list,
            ],
            n,
        ));
        Ok(())
    };
    for e in elements {
        let mut a = element(e, chunk.len() as u16 + 1, with_data)?;
        let size = neli::Size::padded_size(&a);
        if bytes + size > ELEMENTS_PER_MESSAGE_BYTES && !chunk.is_empty() {
            flush(&mut chunk, &mut out)?;
            bytes = 0;
            a = element(e, 1, with_data)?;
        }
        bytes += size;
        chunk.push(a);
    }
    if !chunk.is_empty() {
        flush(&mut chunk, &mut out)?;
    }
    Ok(out)
}

/// The netlink message type of an nf_tables message.
pub(crate) fn msg_type(msg: u8) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg)
}

/// One complete netlink message: header (neli's `Nlmsghdr`), `nfgenmsg`, attributes.
pub(crate) fn message(
    ty: u16,
    flags: NlmF,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[Attr],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut payload = Vec::with_capacity(64);
    payload.extend_from_slice(&nfgenmsg(family, res_id));
    write_attrs(&mut payload, attrs)?;
    let msg = NlmsghdrBuilder::default()
        .nl_type(ty)
        .nl_flags(flags)
        .nl_seq(seq)
        .nl_pid(0)
        .nl_payload(NlPayload::Payload(Buffer::from(payload)))
        .build()
        .map_err(|e| Error::Encode {
            what: "netlink header".into(),
            detail: e.to_string(),
        })?;
    let mut cur = Cursor::new(std::mem::take(out));
    cur.set_position(cur.get_ref().len() as u64);
    msg.to_bytes(&mut cur).map_err(|e| Error::Encode {
        what: "netlink message".into(),
        detail: e.to_string(),
    })?;
    *out = cur.into_inner();
    Ok(())
}

/// A closed batch: the bytes to send (`BATCH_BEGIN`, the changes,
/// `BATCH_END`; the transport numbers them), and each change's
/// description.
#[derive(Debug)]
pub(crate) struct Finished {
    pub bytes: Vec<u8>,
    pub changes: Vec<String>,
}

/// A transaction being built: `BATCH_BEGIN`, the changes, `BATCH_END`, in
/// one buffer sent with one `send`. The kernel answers a change it refuses
/// with an error naming it; the last change asks for an ack, so a batch
/// that went through is answered by exactly one message (an ack per
/// change would only fill the receive queue).
#[derive(Debug)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    /// Where the last change's header starts in `buf`.
    last: usize,
    /// Description of each change, for errors.
    changes: Vec<String>,
}

impl Batch {
    /// Start a batch. With `genid`, the kernel refuses the batch
    /// (`ERESTART`) unless the ruleset is still at that generation.
    pub(crate) fn new(genid: Option<u32>) -> Result<Batch, Error> {
        let mut buf = Vec::with_capacity(4096);
        let attrs = match genid {
            Some(g) => vec![attr_u32(NFNL_BATCH_GENID, g)?],
            None => Vec::new(),
        };
        message(
            NFNL_MSG_BATCH_BEGIN,
            NlmF::REQUEST,
            0,
            NFPROTO_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
            &attrs,
            &mut buf,
        )?;
        Ok(Batch {
            buf,
            last: 0,
            changes: Vec::new(),
        })
    }

    /// Add one change: an `NFT_MSG_*` with `flags` (REQUEST is added; ACK
    /// to the last change when the batch is closed).
    pub(crate) fn push(
        &mut self,
        msg: u8,
        flags: NlmF,
        attrs: &[Attr],
        what: String,
    ) -> Result<(), Error> {
        self.last = self.buf.len();
        message(
            msg_type(msg),
            flags | NlmF::REQUEST,
            0,
            NFPROTO_INET,
            0,
            attrs,
            &mut self.buf,
        )?;
        self.changes.push(what);
        Ok(())
    }

    /// Whether the batch has any change.
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes the batch has.
    pub(crate) fn len(&self) -> usize {
        self.changes.len()
    }

    /// Close the batch with `BATCH_END`; the last change asks for an ack.
    pub(crate) fn finish(mut self) -> Result<Finished, Error> {
        if !self.changes.is_empty() {
            let at = self.last + 6;
            let flags = u16::from_ne_bytes([self.buf[at], self.buf[at + 1]]) | NlmF::ACK.bits();
            self.buf[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
        }
        message(
            NFNL_MSG_BATCH_END,
            NlmF::REQUEST,
            0,
            NFPROTO_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
            &[],
            &mut self.buf,
        )?;
        Ok(Finished {
            bytes: self.buf,
            changes: self.changes,
        })
    }
}
