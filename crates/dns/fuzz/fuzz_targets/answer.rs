//! The query path: any bytes, from any asker, over either transport.
//! Never a panic; every reply we make parses back and carries the id of
//! the packet it answers.

#![no_main]

use hickory_proto::op::{Message, MessageType, ResponseCode};
use brnet_dns::{Answer, Proto};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/records.rs"]
mod fixture;
use fixture::{ip, records};

const ASKERS: [&str; 5] = [
    "10.89.0.2",
    "fd00:89::2",
    "10.89.1.2",
    "192.0.2.1",
    "::ffff:10.89.0.3",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, packet)) = data.split_first() else {
        return;
    };
    let asker = ip(ASKERS[usize::from(sel & 0x7f) % ASKERS.len()]);
    let proto = if sel & 0x80 != 0 {
        Proto::Tcp
    } else {
        Proto::Udp
    };
    match records().answer(asker, packet, proto) {
        Answer::Reply(bytes) => {
            let m = Message::from_vec(&bytes).expect("our reply parses");
            assert_eq!(m.metadata.message_type, MessageType::Response);
            assert_eq!(m.metadata.id, u16::from_be_bytes([packet[0], packet[1]]));
            if proto == Proto::Udp {
                assert!(bytes.len() <= brnet_dns::MAX_UDP_REPLY);
            }
        }
        Answer::Forward(fwd) => {
            for (code, tc) in [
                (ResponseCode::ServFail, false),
                (ResponseCode::NoError, true),
            ] {
                let m = Message::from_vec(&fwd.reply(code.into(), tc)).expect("forward reply parses");
                assert_eq!(m.metadata.id, fwd.id);
            }
        }
        Answer::Drop => assert!(packet.len() < 12 || packet[2] & 0x80 != 0),
    }
});
