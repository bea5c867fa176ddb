//! Byte-level tests: our messages against what `nft` sent for the same
//! objects, captured with `nft --debug=mnl` on this kernel. No root needed.

use std::net::IpAddr;

use neli::consts::nl::NlmF;

use super::consts::*;
use super::msg::{self, Batch, msg_type};
use super::test_util::{fixture, hex, tree};
use super::{Attr, nfgenmsg, write_attrs};
use crate::port::{Protocol, PublishedPort};
use crate::ruleset::{ALL_SETS, Element};
use crate::scenario;

fn payload(attrs: &[Attr]) -> Vec<u8> {
    let mut out = nfgenmsg(NFPROTO_INET, 0).to_vec();
    write_attrs(&mut out, attrs).unwrap();
    out
}

fn assert_bytes(what: &str, ours: &[u8], nft: &[u8]) {
    assert!(
        ours == nft,
        "{what}: our bytes differ from nft's\nours:\n{}\nnft:\n{}",
        tree(&ours[4..]),
        tree(&nft[4..])
    );
}

/// The byte-by-byte capture in reference/nftables-netlink.md:
/// `add element inet brnet ports4 { udp . 5353 : 172.17.0.3 . 53 }`.
#[test]
fn reference_element_batch() {
    let reference = hex(concat!(
        // BATCH_BEGIN, seq 0, res_id 10
        "14000000", "1000", "0100", "00000000", "00000000", "0000000a",
        // NEWSETELEM, seq 1
        "5c000000", "0c0a", "0100", "01000000", "00000000", "01000000", "0a000100", "62726e65",
        "74000000", "0b000200", "706f7274", "73340000", "08000400", "00000001", "28000380",
        "24000180", "10000180", "0c000100", "11000000", "14e90000", "10000280", "0c000100",
        "ac110003", "00350000", // BATCH_END, seq 2
        "14000000", "1100", "0100", "02000000", "00000000", "0000000a",
    ));
    let mut batch = Batch::new(None).unwrap();
    let e = Element::Port(PublishedPort {
        protocol: Protocol::Udp,
        host_ip: None,
        host_port: 5353,
        container: "172.17.0.3".parse().unwrap(),
        container_port: 53,
    });
    let msgs = msg::elements("brnet", crate::ruleset::Set::Ports4, [&e], true).unwrap();
    assert_eq!(msgs.len(), 1);
    batch
        .push(NFT_MSG_NEWSETELEM, NlmF::CREATE, &msgs[0].0, "add".into())
        .unwrap();
    let done = batch.finish().unwrap();
    assert_eq!(done.changes.len(), 1);
    // The transport numbers the messages when it sends them: 0, 1, 2 here.
    let mut bytes = done.bytes;
    for (i, at) in [0usize, 20, 20 + 92].into_iter().enumerate() {
        bytes[at + 8..at + 12].copy_from_slice(&(i as u32).to_ne_bytes());
    }
    assert_eq!(bytes.len(), reference.len());
    // The capture does not show NLM_F_CREATE/ACK; compare all but the
    // flags, and check ours separately.
    let mut ours = bytes.clone();
    for off in [0usize, 20, 20 + 92] {
        ours[off + 6..off + 8].copy_from_slice(&reference[off + 6..off + 8]);
    }
    assert_eq!(ours, reference);
    let flags = u16::from_le_bytes([bytes[26], bytes[27]]);
    assert_eq!(
        flags,
        (NlmF::REQUEST | NlmF::ACK | NlmF::CREATE).bits(),
        "add element asks for an ack and creates"
    );
    assert_eq!(
        u16::from_le_bytes([bytes[4], bytes[5]]),
        NFNL_MSG_BATCH_BEGIN
    );
    assert_eq!(msg_type(NFT_MSG_NEWSETELEM), 0x0a0c);
}

/// Every object of the scenario (all chain, set, rule and element shapes
/// we use) is encoded exactly as nft encoded it.
#[test]
fn scenario_matches_nft_byte_for_byte() {
    let nft = fixture(include_str!("../../tests/fixtures/scenario.mnl.hex"));
    let model = scenario::model();
    let table = "brnet";
    // nft's order: table, chains, each set then its elements, rules.
    let mut ours: Vec<(u16, Vec<u8>, String)> = Vec::new();
    ours.push((
        msg_type(NFT_MSG_NEWTABLE),
        payload(&msg::table(table, true).unwrap()),
        "table".into(),
    ));
    let chains = model.nft_chains();
    for c in &chains {
        ours.push((
            msg_type(NFT_MSG_NEWCHAIN),
            payload(&msg::chain(table, c).unwrap()),
            format!("chain {}", c.name),
        ));
    }
    let elements = model.nft_elements();
    for s in ALL_SETS {
        ours.push((
            msg_type(NFT_MSG_NEWSET),
            payload(&msg::set(table, s).unwrap()),
            format!("set {}", s.name()),
        ));
        let of_set: Vec<&Element> = elements.iter().filter(|e| e.set() == s).collect();
        if !of_set.is_empty() {
            for (attrs, _) in msg::elements(table, s, of_set, true).unwrap() {
                ours.push((
                    msg_type(NFT_MSG_NEWSETELEM),
                    payload(&attrs),
                    format!("elements of {}", s.name()),
                ));
            }
        }
    }
    for c in &chains {
        for (i, r) in c.rules.iter().enumerate() {
            ours.push((
                msg_type(NFT_MSG_NEWRULE),
                payload(&msg::rule(table, &c.name, r).unwrap()),
                format!("rule {i} of {}", c.name),
            ));
        }
    }
    let nft: Vec<(u16, Vec<u8>)> = nft
        .into_iter()
        .filter(|(t, _)| *t != NFNL_MSG_BATCH_BEGIN && *t != NFNL_MSG_BATCH_END)
        .collect();
    assert_eq!(ours.len(), nft.len(), "number of messages");
    for ((ty, bytes, what), (nty, nbytes)) in ours.iter().zip(&nft) {
        assert_eq!(ty, nty, "{what}: message type");
        assert_bytes(what, bytes, nbytes);
    }
}

#[test]
fn big_element_lists_are_split_under_the_attribute_limit() {
    let to: IpAddr = "172.17.0.2".parse().unwrap();
    let elems: Vec<Element> = (1..=10_000u16)
        .map(|p| {
            Element::Port(PublishedPort {
                protocol: Protocol::Tcp,
                host_ip: None,
                host_port: p,
                container: to,
                container_port: p,
            })
        })
        .collect();
    let msgs = msg::elements("brnet", crate::ruleset::Set::Ports4, &elems, true).unwrap();
    assert!(msgs.len() > 1);
    assert_eq!(msgs.iter().map(|(_, n)| n).sum::<usize>(), 10_000);
    for (attrs, _) in &msgs {
        let b = payload(attrs);
        assert!(b.len() <= msg::ELEMENTS_PER_MESSAGE_BYTES + 256);
        // Elements are numbered from 1 in every message.
        let list = &attrs[3];
        assert_eq!(*list.nla_type().nla_type(), NFTA_SET_ELEM_LIST_ELEMENTS);
    }
    // Deletes carry only keys.
    let del = msg::elements("brnet", crate::ruleset::Set::Ports4, &elems[..1], false).unwrap();
    let b = payload(&del[0].0);
    assert!(!b.windows(4).any(|w| w == [0xac, 0x11, 0, 2]));
}

#[test]
fn rule_comments_fit_their_length_byte() {
    for c in scenario::model().nft_chains() {
        for r in c.rules {
            if let Some(comment) = r.comment {
                assert!(comment.len() < 255);
            }
        }
    }
}
