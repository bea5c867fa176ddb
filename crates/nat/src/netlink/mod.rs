//! The nf_tables netlink form of the ruleset: message builders (pure, no
//! I/O), the batch they travel in, the socket that sends it, and the
//! parser for dumps.
//!
//! Attributes and message headers are neli's types ([`Nlattr`],
//! [`neli::nl::Nlmsghdr`]); what neli lacks is the nf_tables vocabulary,
//! in [`consts`].

pub(crate) mod consts;
pub(crate) mod dump;
pub(crate) mod expr;
pub(crate) mod msg;
pub(crate) mod socket;

use std::io::Cursor;

use neli::genl::{AttrTypeBuilder, Nlattr, NlattrBuilder};
use neli::types::Buffer;
use neli::{Size, ToBytes};

use crate::error::Error;

/// One netlink attribute (type, flags, payload) as neli holds it.
pub(crate) type Attr = Nlattr<u16, Buffer>;

/// The largest attribute netlink can describe (`nla_len` is 16 bits).
pub(crate) const MAX_ATTR_LEN: usize = u16::MAX as usize;

fn encode_error(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Encode {
        what: what.to_owned(),
        detail: detail.to_string(),
    }
}

/// An attribute with a raw payload.
pub(crate) fn attr(ty: u16, payload: &[u8]) -> Result<Attr, Error> {
    if payload.len() + 4 > MAX_ATTR_LEN {
        return Err(Error::TooLarge {
            what: format!("attribute {ty}"),
            len: payload.len() + 4,
        });
    }
    let nla_type = AttrTypeBuilder::default()
        .nla_type(ty)
        .build()
        .map_err(|e| encode_error("attribute type", e))?;
    NlattrBuilder::default()
        .nla_type(nla_type)
        .nla_payload(Buffer::from(payload))
        .build()
        .map_err(|e| encode_error("attribute", e))
}

/// A NUL-terminated string attribute.
pub(crate) fn attr_str(ty: u16, s: &str) -> Result<Attr, Error> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    attr(ty, &v)
}

/// A big-endian u32 attribute (nf_tables numbers are in network order).
pub(crate) fn attr_u32(ty: u16, v: u32) -> Result<Attr, Error> {
    attr(ty, &v.to_be_bytes())
}

/// A nested attribute (`NLA_F_NESTED` set) holding `children`.
pub(crate) fn nest(ty: u16, children: &[Attr]) -> Result<Attr, Error> {
    let len: usize = 4 + children.iter().map(|c| c.padded_size()).sum::<usize>();
    if len > MAX_ATTR_LEN {
        return Err(Error::TooLarge {
            what: format!("nested attribute {ty}"),
            len,
        });
    }
    let nla_type = AttrTypeBuilder::default()
        .nla_type(ty)
        .nla_nested(true)
        .build()
        .map_err(|e| encode_error("attribute type", e))?;
    let mut out = NlattrBuilder::default()
        .nla_type(nla_type)
        .nla_payload(Buffer::new())
        .build()
        .map_err(|e| encode_error("attribute", e))?;
    for c in children {
        out = out
            .nest(c)
            .map_err(|e| encode_error("nested attribute", e))?;
    }
    Ok(out)
}

/// Serialize attributes back to back (each padded to 4 bytes) onto `out`.
pub(crate) fn write_attrs(out: &mut Vec<u8>, attrs: &[Attr]) -> Result<(), Error> {
    let mut cur = Cursor::new(std::mem::take(out));
    cur.set_position(cur.get_ref().len() as u64);
    for a in attrs {
        a.to_bytes(&mut cur)
            .map_err(|e| encode_error("attribute", e))?;
    }
    *out = cur.into_inner();
    Ok(())
}

/// `nfgenmsg`: family, version 0, resource id (big-endian).
pub(crate) fn nfgenmsg(family: u8, res_id: u16) -> [u8; 4] {
    let r = res_id.to_be_bytes();
    [family, consts::NFNETLINK_V0, r[0], r[1]]
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers for byte-level tests: fixtures captured from `nft --debug=mnl`.

    /// The messages of a fixture file: (netlink type, payload after the
    /// 16-byte nlmsghdr).
    pub(crate) fn fixture(text: &str) -> Vec<(u16, Vec<u8>)> {
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (t, h) = l.split_once(' ').unwrap();
                (t.parse().unwrap(), hex(h.trim()))
            })
            .collect()
    }

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Attribute tree dump, for readable assertion failures.
    pub(crate) fn tree(b: &[u8]) -> String {
        fn walk(b: &[u8], depth: usize, out: &mut String) {
            let mut i = 0;
            while i + 4 <= b.len() {
                let len = u16::from_le_bytes([b[i], b[i + 1]]) as usize;
                let ty = u16::from_le_bytes([b[i + 2], b[i + 3]]);
                if len < 4 || i + len > b.len() {
                    out.push_str(&format!("{}!! bad attr at {i}\n", "  ".repeat(depth)));
                    return;
                }
                let data = &b[i + 4..i + len];
                if ty & 0x8000 != 0 {
                    out.push_str(&format!("{}{} N\n", "  ".repeat(depth), ty & 0x3fff));
                    walk(data, depth + 1, out);
                } else {
                    let h: String = data.iter().map(|x| format!("{x:02x}")).collect();
                    out.push_str(&format!("{}{} {h}\n", "  ".repeat(depth), ty));
                }
                i += (len + 3) & !3;
            }
        }
        let mut out = String::new();
        walk(b, 0, &mut out);
        out
    }
}

#[cfg(test)]
mod tests;
