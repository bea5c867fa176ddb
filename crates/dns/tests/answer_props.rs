//! The query path under arbitrary input (no root, no I/O): the stable
//! stand-in for the cargo-fuzz target in `fuzz/`, run by every `cargo
//! test`.

use std::net::IpAddr;

use brnet_dns::{Answer, Proto, Records};
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};
use proptest::prelude::*;

#[path = "common/records.rs"]
mod fixture;
use fixture::{ip, records};

const ASKERS: [&str; 4] = ["10.89.0.2", "fd00:89::2", "10.89.1.2", "192.0.2.1"];

/// What must hold for any answer to `packet`.
fn check(r: &Records, asker: IpAddr, packet: &[u8], proto: Proto) -> Result<(), TestCaseError> {
    match r.answer(asker, packet, proto) {
        Answer::Reply(bytes) => {
            let m = Message::from_vec(&bytes)
                .map_err(|e| TestCaseError::fail(format!("reply does not parse: {e}")))?;
            prop_assert_eq!(m.metadata.message_type, MessageType::Response);
            prop_assert_eq!(m.metadata.id, u16::from_be_bytes([packet[0], packet[1]]));
            if proto == Proto::Udp {
                prop_assert!(bytes.len() <= brnet_dns::MAX_UDP_REPLY);
            }
        }
        Answer::Forward(f) => {
            prop_assert_eq!(f.id, u16::from_be_bytes([packet[0], packet[1]]));
            prop_assert!(Message::from_vec(&f.reply(0, true)).is_ok());
        }
        Answer::Drop => prop_assert!(packet.len() < 12 || packet[2] & 0x80 != 0),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes(packet in proptest::collection::vec(any::<u8>(), 0..600), who in 0usize..4, tcp: bool) {
        let r = records();
        let proto = if tcp { Proto::Tcp } else { Proto::Udp };
        check(r, ip(ASKERS[who]), &packet, proto)?;
    }

    /// Valid queries for names near ours, then one byte flipped.
    #[test]
    fn near_valid_queries(
        labels in proptest::collection::vec("[a-zA-Z0-9-]{1,12}|web|db|www|big|dns|brnet|arpa|in-addr", 1..5),
        qtype in prop::sample::select(vec![RecordType::A, RecordType::AAAA, RecordType::PTR, RecordType::ANY, RecordType::MX]),
        id: u16,
        flip in any::<(usize, u8)>(),
        who in 0usize..4,
    ) {
        let r = records();
        let Ok(name) = Name::from_ascii(format!("{}.", labels.join("."))) else { return Ok(()) };
        let mut m = Message::query();
        m.metadata.id = id;
        m.add_query(Query::query(name, qtype));
        let mut packet = m.to_vec().unwrap();
        check(r, ip(ASKERS[who]), &packet, Proto::Udp)?;
        let at = flip.0 % packet.len();
        packet[at] ^= flip.1;
        check(r, ip(ASKERS[who]), &packet, Proto::Udp)?;
    }
}
