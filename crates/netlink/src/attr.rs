//! Reading rtnetlink attributes: their type without flags, C strings,
//! native-endian numbers.

use crate::consts::NLA_F_NESTED;

/// The attribute type without the `NLA_F_NESTED` / byte-order flags.
pub(crate) fn attr_type(ty: u16) -> u16 {
    ty & !(NLA_F_NESTED | 1 << 14)
}

pub(crate) fn c_string(p: &[u8]) -> String {
    let end = p.iter().position(|b| *b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

pub(crate) fn u32_of(p: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}
