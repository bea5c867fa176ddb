//! Rules as nf_tables expressions, encoded the way `nft` encodes the same
//! rule text (same expressions, same registers, same attribute order), so a
//! natively installed rule reads back exactly like one `nft -f` installed.

use ipnet::IpNet;

use super::consts::*;
use super::{Attr, attr, attr_str, attr_u32, nest};
use crate::error::Error;
use crate::ruleset::{CmpOp, Family, Match, Set, Stmt, VmapKey};

/// A data register for the 32-bit word `word` counted from the start of
/// `NFT_REG_1`, numbered as nft numbers it: 16-byte registers where the
/// word is 16-byte aligned, 4-byte registers otherwise.
pub(crate) fn reg(word: u32) -> u32 {
    if word.is_multiple_of(4) {
        NFT_REG_1 + word / 4
    } else {
        NFT_REG32_00 + word
    }
}

fn expr(name: &str, data: &[Attr]) -> Result<Attr, Error> {
    nest(
        NFTA_LIST_ELEM,
        &[attr_str(NFTA_EXPR_NAME, name)?, nest(NFTA_EXPR_DATA, data)?],
    )
}

fn meta(key: u32, dreg: u32) -> Result<Attr, Error> {
    expr(
        "meta",
        &[
            attr_u32(NFTA_META_KEY, key)?,
            attr_u32(NFTA_META_DREG, dreg)?,
        ],
    )
}

fn cmp(op: u32, data: &[u8]) -> Result<Attr, Error> {
    expr(
        "cmp",
        &[
            attr_u32(NFTA_CMP_SREG, NFT_REG_1)?,
            attr_u32(NFTA_CMP_OP, op)?,
            nest(NFTA_CMP_DATA, &[attr(NFTA_DATA_VALUE, data)?])?,
        ],
    )
}

fn payload(dreg: u32, base: u32, offset: u32, len: u32) -> Result<Attr, Error> {
    expr(
        "payload",
        &[
            attr_u32(NFTA_PAYLOAD_DREG, dreg)?,
            attr_u32(NFTA_PAYLOAD_BASE, base)?,
            attr_u32(NFTA_PAYLOAD_OFFSET, offset)?,
            attr_u32(NFTA_PAYLOAD_LEN, len)?,
        ],
    )
}

fn bitwise(mask: &[u8]) -> Result<Attr, Error> {
    let xor = vec![0u8; mask.len()];
    expr(
        "bitwise",
        &[
            attr_u32(NFTA_BITWISE_SREG, NFT_REG_1)?,
            attr_u32(NFTA_BITWISE_DREG, NFT_REG_1)?,
            attr_u32(NFTA_BITWISE_LEN, mask.len() as u32)?,
            nest(NFTA_BITWISE_MASK, &[attr(NFTA_DATA_VALUE, mask)?])?,
            nest(NFTA_BITWISE_XOR, &[attr(NFTA_DATA_VALUE, &xor)?])?,
        ],
    )
}

fn ct(key: u32) -> Result<Attr, Error> {
    expr(
        "ct",
        &[
            attr_u32(NFTA_CT_KEY, key)?,
            attr_u32(NFTA_CT_DREG, NFT_REG_1)?,
        ],
    )
}

fn fib_addrtype(flags: u32) -> Result<Attr, Error> {
    expr(
        "fib",
        &[
            attr_u32(NFTA_FIB_FLAGS, flags)?,
            attr_u32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE)?,
            attr_u32(NFTA_FIB_DREG, NFT_REG_1)?,
        ],
    )
}

fn lookup(set: Set, dreg: Option<u32>) -> Result<Attr, Error> {
    let mut data = vec![attr_u32(NFTA_LOOKUP_SREG, NFT_REG_1)?];
    if let Some(d) = dreg {
        data.push(attr_u32(NFTA_LOOKUP_DREG, d)?);
    }
    data.push(attr_str(NFTA_LOOKUP_SET, set.name())?);
    data.push(attr_u32(NFTA_LOOKUP_SET_ID, set.id())?);
    expr("lookup", &data)
}

/// The `NFTA_DATA_VERDICT` nest for a verdict (and jump target).
pub(crate) fn verdict(code: i32, chain: Option<&str>) -> Result<Attr, Error> {
    let mut v = vec![attr(NFTA_VERDICT_CODE, &code.to_be_bytes())?];
    if let Some(c) = chain {
        v.push(attr_str(NFTA_VERDICT_CHAIN, c)?);
    }
    nest(NFTA_DATA_VERDICT, &v)
}

fn immediate_verdict(code: i32, chain: Option<&str>) -> Result<Attr, Error> {
    expr(
        "immediate",
        &[
            attr_u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT)?,
            nest(NFTA_IMMEDIATE_DATA, &[verdict(code, chain)?])?,
        ],
    )
}

fn immediate_value(value: &[u8]) -> Result<Attr, Error> {
    expr(
        "immediate",
        &[
            attr_u32(NFTA_IMMEDIATE_DREG, NFT_REG_1)?,
            nest(NFTA_IMMEDIATE_DATA, &[attr(NFTA_DATA_VALUE, value)?])?,
        ],
    )
}

fn nat(kind: u32, family: Family, proto_reg: Option<u32>) -> Result<Attr, Error> {
    let mut data = vec![
        attr_u32(NFTA_NAT_TYPE, kind)?,
        attr_u32(NFTA_NAT_FAMILY, u32::from(family.nfproto()))?,
        attr_u32(NFTA_NAT_REG_ADDR_MIN, NFT_REG_1)?,
    ];
    if let Some(r) = proto_reg {
        data.push(attr_u32(NFTA_NAT_REG_PROTO_MIN, r)?);
    }
    expr("nat", &data)
}

fn addr_bytes(net: &IpNet) -> Vec<u8> {
    match net {
        IpNet::V4(n) => n.addr().octets().to_vec(),
        IpNet::V6(n) => n.addr().octets().to_vec(),
    }
}

fn mask_bytes(net: &IpNet) -> Vec<u8> {
    match net {
        IpNet::V4(n) => n.netmask().octets().to_vec(),
        IpNet::V6(n) => n.netmask().octets().to_vec(),
    }
}

/// Network-header offsets of the source and destination addresses.
fn addr_offset(family: Family, source: bool) -> u32 {
    match (family, source) {
        (Family::V4, true) => 12,
        (Family::V4, false) => 16,
        (Family::V6, true) => 8,
        (Family::V6, false) => 24,
    }
}

fn addr_len(family: Family) -> u32 {
    match family {
        Family::V4 => 4,
        Family::V6 => 16,
    }
}

/// Builds one rule's expression list, tracking the `meta nfproto`
/// dependency as nft does: an `ip`/`ip6` payload match in an `inet` table
/// is preceded by one `meta nfproto` check per rule.
struct Encoder {
    exprs: Vec<Attr>,
    proto: Option<Family>,
}

impl Encoder {
    fn push(&mut self, a: Attr) {
        self.exprs.push(a);
    }

    fn depend(&mut self, family: Family) -> Result<(), Error> {
        if self.proto != Some(family) {
            self.push(meta(NFT_META_NFPROTO, NFT_REG_1)?);
            self.push(cmp(NFT_CMP_EQ, &[family.nfproto()])?);
            self.proto = Some(family);
        }
        Ok(())
    }

    /// `ip[6] daddr . meta l4proto . th dport` into consecutive registers
    /// from `NFT_REG_1`.
    fn addr_proto_port(&mut self, family: Family) -> Result<(), Error> {
        self.depend(family)?;
        let alen = addr_len(family);
        self.push(payload(
            NFT_REG_1,
            NFT_PAYLOAD_NETWORK_HEADER,
            addr_offset(family, false),
            alen,
        )?);
        let w = alen / 4;
        self.push(meta(NFT_META_L4PROTO, reg(w))?);
        self.push(payload(reg(w + 1), NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2)?);
        Ok(())
    }

    fn prefix(&mut self, net: &IpNet, source: bool) -> Result<(), Error> {
        let family = match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        };
        self.depend(family)?;
        let plen = u32::from(net.prefix_len());
        if plen == 0 {
            return Ok(());
        }
        let offset = addr_offset(family, source);
        let addr = addr_bytes(net);
        if plen % 8 == 0 {
            let n = (plen / 8) as usize;
            self.push(payload(
                NFT_REG_1,
                NFT_PAYLOAD_NETWORK_HEADER,
                offset,
                n as u32,
            )?);
            self.push(cmp(NFT_CMP_EQ, &addr[..n])?);
        } else {
            self.push(payload(
                NFT_REG_1,
                NFT_PAYLOAD_NETWORK_HEADER,
                offset,
                addr_len(family),
            )?);
            self.push(bitwise(&mask_bytes(net))?);
            self.push(cmp(NFT_CMP_EQ, &addr)?);
        }
        Ok(())
    }

    fn matches(&mut self, m: &Match) -> Result<(), Error> {
        match m {
            Match::Iif(op, br) | Match::Oif(op, br) => {
                let key = if matches!(m, Match::Iif(..)) {
                    NFT_META_IIFNAME
                } else {
                    NFT_META_OIFNAME
                };
                self.push(meta(key, NFT_REG_1)?);
                let op = match op {
                    CmpOp::Eq => NFT_CMP_EQ,
                    CmpOp::Ne => NFT_CMP_NEQ,
                };
                self.push(cmp(op, &br.padded())?);
            }
            Match::IifIn(set) => {
                self.push(meta(NFT_META_IIFNAME, NFT_REG_1)?);
                self.push(lookup(*set, None)?);
            }
            Match::Saddr(net) => self.prefix(net, true)?,
            Match::Daddr(net) => self.prefix(net, false)?,
            Match::CtEstablished | Match::CtDnat => {
                let (key, mask) = if matches!(m, Match::CtEstablished) {
                    (NFT_CT_STATE, CT_STATE_ESTABLISHED_RELATED)
                } else {
                    (NFT_CT_STATUS, IPS_DST_NAT)
                };
                self.push(ct(key)?);
                // ct state and status are host-endian 32-bit words.
                self.push(bitwise(&mask.to_ne_bytes())?);
                self.push(cmp(NFT_CMP_NEQ, &0u32.to_ne_bytes())?);
            }
            Match::FibDaddrLocal | Match::FibSaddrLocal => {
                let flags = if matches!(m, Match::FibDaddrLocal) {
                    NFTA_FIB_F_DADDR
                } else {
                    NFTA_FIB_F_SADDR
                };
                self.push(fib_addrtype(flags)?);
                self.push(cmp(NFT_CMP_EQ, &RTN_LOCAL.to_ne_bytes())?);
            }
            Match::L4proto(p) => {
                self.push(meta(NFT_META_L4PROTO, NFT_REG_1)?);
                self.push(cmp(NFT_CMP_EQ, &[*p])?);
            }
            Match::Nfproto(f) => {
                self.push(meta(NFT_META_NFPROTO, NFT_REG_1)?);
                self.push(cmp(NFT_CMP_EQ, &[f.nfproto()])?);
                self.proto = Some(*f);
            }
            Match::Open(f) => {
                self.addr_proto_port(*f)?;
                let set = match f {
                    Family::V4 => Set::Open4,
                    Family::V6 => Set::Open6,
                };
                self.push(lookup(set, None)?);
            }
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), Error> {
        match s {
            Stmt::Accept => self.push(immediate_verdict(NF_ACCEPT, None)?),
            Stmt::Drop => self.push(immediate_verdict(NF_DROP, None)?),
            Stmt::Jump(chain) => self.push(immediate_verdict(NFT_JUMP, Some(chain))?),
            Stmt::Vmap(key, set) => {
                match key {
                    VmapKey::Iif => self.push(meta(NFT_META_IIFNAME, NFT_REG_1)?),
                    VmapKey::Oif => self.push(meta(NFT_META_OIFNAME, NFT_REG_1)?),
                    VmapKey::Daddr(f) => {
                        self.depend(*f)?;
                        self.push(payload(
                            NFT_REG_1,
                            NFT_PAYLOAD_NETWORK_HEADER,
                            addr_offset(*f, false),
                            addr_len(*f),
                        )?);
                    }
                }
                self.push(lookup(*set, Some(NFT_REG_VERDICT))?);
            }
            Stmt::Masquerade => self.push(expr("masq", &[])?),
            Stmt::Snat(src) => {
                let family = Family::of(*src);
                let bytes = match src {
                    std::net::IpAddr::V4(a) => a.octets().to_vec(),
                    std::net::IpAddr::V6(a) => a.octets().to_vec(),
                };
                self.push(immediate_value(&bytes)?);
                self.push(nat(NFT_NAT_SNAT, family, None)?);
            }
            Stmt::Dnat { family, host } => {
                if *host {
                    self.addr_proto_port(*family)?;
                } else {
                    self.push(meta(NFT_META_L4PROTO, NFT_REG_1)?);
                    self.push(payload(reg(1), NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2)?);
                }
                self.push(lookup(Set::ports(*family, *host), Some(NFT_REG_1))?);
                // The mapped port follows the address in the data registers.
                self.push(nat(
                    NFT_NAT_DNAT,
                    *family,
                    Some(reg(addr_len(*family) / 4)),
                )?);
            }
        }
        Ok(())
    }
}

/// The `NFTA_RULE_EXPRESSIONS` children of a rule.
pub(crate) fn rule_exprs(matches: &[Match], stmt: &Stmt) -> Result<Vec<Attr>, Error> {
    let mut enc = Encoder {
        exprs: Vec::with_capacity(8),
        proto: None,
    };
    for m in matches {
        enc.matches(m)?;
    }
    enc.stmt(stmt)?;
    Ok(enc.exprs)
}

/// A rule comment as nft stores it in `NFTA_RULE_USERDATA`: one TLV,
/// `NFTNL_UDATA_RULE_COMMENT`, NUL-terminated.
pub(crate) fn comment_udata(comment: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(comment.len() + 3);
    v.push(NFTNL_UDATA_RULE_COMMENT);
    // Comments are ours and short (checked in tests).
    v.push((comment.len() + 1) as u8);
    v.extend_from_slice(comment.as_bytes());
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_numbered_like_nft() {
        assert_eq!(reg(0), 1); // reg 1
        assert_eq!(reg(1), 9); // reg32 01
        assert_eq!(reg(2), 10);
        assert_eq!(reg(4), 2); // reg 2
        assert_eq!(reg(5), 13);
    }
}
