//! The query path without I/O: every kind of question and bad packet.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::*;

#[path = "../../tests/common/message.rs"]
mod message;
use crate::records::Policy;
use crate::table::{Entry, Network, Table};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const WEB: &str = "10.89.0.2";
const DB: &str = "10.89.0.3";
const OTHER: &str = "10.89.1.2";
const STRANGER: &str = "192.0.2.9";

fn records() -> Records {
    let mut t = Table::new();
    t.insert(
        Network::new("customNetwork")
            .entry(Entry::new("web", [ip(WEB), ip("fd00:89::2")]).alias("www"))
            .entry(Entry::new("DB", [ip(DB)]).alias("database")),
    )
    .unwrap();
    t.insert(
        Network::new("other")
            .domain("other.test")
            .entry(Entry::new("c3", [ip(OTHER)])),
    )
    .unwrap();
    t.insert(
        Network::new("internal")
            .forward(false)
            .entry(Entry::new("secret", [ip("10.89.2.2")])),
    )
    .unwrap();
    Records::new(&t, Policy::default())
}

fn query(name: &str, qtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.id = 0x1234;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

fn ask(r: &Records, from: &str, msg: &Message) -> Answer {
    r.answer(ip(from), &msg.to_vec().unwrap(), Proto::Udp)
}

fn reply(r: &Records, from: &str, msg: &Message) -> Message {
    match ask(r, from, msg) {
        Answer::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn names_and_aliases_bare_and_qualified_any_case() {
    let r = records();
    for name in [
        "db.",
        "DB.",
        "dB.dns.brnet.",
        "database.",
        "DATABASE.Dns.Brnet.",
    ] {
        let m = reply(&r, WEB, &query(name, RecordType::A));
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert_eq!(message::answers(&m), vec![DB], "{name}");
        assert!(m.metadata.authoritative);
        assert!(m.metadata.recursion_available);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.metadata.id, 0x1234);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        // the owner name is the question as asked
        assert_eq!(m.answers[0].name.to_string(), name);
        assert_eq!(m.answers[0].ttl, 60);
        assert_eq!(m.queries[0].name().to_string(), name);
    }
    let m = reply(&r, DB, &query("www.", RecordType::A));
    assert_eq!(message::answers(&m), vec![WEB]);
}

#[test]
fn aaaa_and_any_on_dual_stack() {
    let r = records();
    let m = reply(&r, DB, &query("web.", RecordType::AAAA));
    assert_eq!(message::answers(&m), vec!["fd00:89::2"]);
    let m = reply(&r, DB, &query("web.", RecordType::ANY));
    assert_eq!(message::answers(&m), vec![WEB, "fd00:89::2"]);
    // an IPv4-only name: NODATA
    let m = reply(&r, WEB, &query("db.", RecordType::AAAA));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let m = reply(&r, WEB, &query("db.", RecordType::MX));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[test]
fn reverse_lookups() {
    let r = records();
    let m = reply(&r, WEB, &query("3.0.89.10.in-addr.arpa.", RecordType::PTR));
    assert_eq!(message::answers(&m), vec!["DB.dns.brnet."]);
    let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.8.0.0.0.0.d.f.ip6.arpa.";
    let m = reply(&r, DB, &query(v6, RecordType::PTR));
    assert_eq!(message::answers(&m), vec!["web.dns.brnet."]);
    // not shared: NXDOMAIN, not forwarded
    let m = reply(
        &r,
        OTHER,
        &query("3.0.89.10.in-addr.arpa.", RecordType::PTR),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // an address no endpoint has: forwarded
    assert!(matches!(
        ask(&r, WEB, &query("1.0.89.10.in-addr.arpa.", RecordType::PTR)),
        Answer::Forward(_)
    ));
    // a partial reverse name: not ours
    assert!(matches!(
        ask(&r, WEB, &query("89.10.in-addr.arpa.", RecordType::PTR)),
        Answer::Forward(_)
    ));
}

#[test]
fn isolation_between_networks() {
    let r = records();
    for name in ["db.", "db.dns.brnet.", "www.", "secret."] {
        let m = reply(&r, OTHER, &query(name, RecordType::A));
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
        assert!(m.answers.is_empty());
    }
    let m = reply(&r, OTHER, &query("c3.other.test.", RecordType::A));
    assert_eq!(message::answers(&m), vec![OTHER]);
    // c3 is not on customNetwork: nothing for web either
    let m = reply(&r, WEB, &query("c3.", RecordType::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // an unknown asker sees no name, and ours stay ours
    let m = reply(&r, STRANGER, &query("web.dns.brnet.", RecordType::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // the domain itself exists
    let m = reply(&r, WEB, &query("dns.brnet.", RecordType::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[test]
fn forward_or_refuse_the_rest() {
    let r = records();
    let q = query("Example.Test.", RecordType::A);
    match ask(&r, WEB, &q) {
        Answer::Forward(f) => {
            assert_eq!(f.id, 0x1234);
            assert_eq!(f.query.name().to_string(), "Example.Test.");
            assert!(f.recursion_desired);
            assert_eq!(f.limit, MIN_UDP_REPLY);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(ask(&r, STRANGER, &q), Answer::Forward(_)));
    // internal network: REFUSED
    let m = reply(&r, "10.89.2.2", &q);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
    // unknown askers refused when told so
    let mut t = Table::new();
    t.insert(Network::new("n")).unwrap();
    let strict = Records::new(
        &t,
        Policy {
            ttl: 5,
            forward_unknown_askers: false,
        },
    );
    let m = reply(&strict, STRANGER, &q);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn forward_reply_servfail_and_truncated() {
    let r = records();
    let Answer::Forward(f) = ask(&r, WEB, &query("example.test.", RecordType::A)) else {
        panic!()
    };
    assert_eq!((f.name().as_str(), f.record_type()), ("example.test.", 1));
    let m = Message::from_vec(&f.reply(2, false)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(m.queries.len(), 1);
    let m = Message::from_vec(&f.reply(0, true)).unwrap();
    assert!(m.metadata.truncation);
}

#[test]
fn bad_packets() {
    let r = records();
    // runts and responses: nothing
    assert_eq!(r.answer(ip(WEB), &[], Proto::Udp), Answer::Drop);
    assert_eq!(r.answer(ip(WEB), &[0; 11], Proto::Udp), Answer::Drop);
    let mut resp = query("db.", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    assert_eq!(ask(&r, WEB, &resp), Answer::Drop);
    // garbage with a header: FORMERR with its id
    let mut junk = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    junk.extend_from_slice(&[0xff; 20]);
    let m = match r.answer(ip(WEB), &junk, Proto::Udp) {
        Answer::Reply(b) => Message::from_vec(&b).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(m.metadata.id, 0xabcd);
    assert!(m.metadata.recursion_desired);
    // truncated question
    let full = query("db.dns.brnet.", RecordType::A).to_vec().unwrap();
    let m = match r.answer(ip(WEB), &full[..full.len() - 3], Proto::Udp) {
        Answer::Reply(b) => Message::from_vec(&b).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    // no question, two questions
    let mut none = Message::query();
    none.metadata.id = 7;
    let m = reply(&r, WEB, &none);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    let mut two = query("db.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("web.").unwrap(),
        RecordType::A,
    ));
    let m = reply(&r, WEB, &two);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert!(m.queries.is_empty());
    // other opcodes
    let mut notify = query("db.", RecordType::A);
    notify.metadata.op_code = OpCode::Notify;
    let m = reply(&r, WEB, &notify);
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
    // other classes
    let mut chaos = Query::query(Name::from_ascii("version.bind.").unwrap(), RecordType::TXT);
    chaos.set_query_class(DNSClass::CH);
    let mut m = Message::query();
    m.add_query(chaos);
    let m = reply(&r, WEB, &m);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn edns_is_answered_with_edns_and_badvers() {
    let r = records();
    let mut q = query("db.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns.clone());
    let m = reply(&r, WEB, &q);
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), MAX_UDP_REPLY as u16);
    assert_eq!(message::answers(&m), vec![DB]);
    edns.set_version(1);
    q.set_edns(edns);
    let m = reply(&r, WEB, &q);
    // BADVERS and BADSIG share code 16; hickory reads it back as BADSIG
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert!(m.edns.is_some());
}

#[test]
fn udp_answers_over_the_limit_are_truncated() {
    let mut t = Table::new();
    let many: Vec<IpAddr> = (1..=60).map(|i| ip(&format!("10.90.0.{i}"))).collect();
    t.insert(
        Network::new("n")
            .entry(Entry::new("big", many))
            .entry(Entry::new("asker", [ip("10.90.1.1")])),
    )
    .unwrap();
    let r = Records::new(&t, Policy::default());
    let q = query("big.", RecordType::A);
    let m = reply(&r, "10.90.1.1", &q);
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1);
    // over TCP: all of them
    let Answer::Reply(b) = r.answer(ip("10.90.1.1"), &q.to_vec().unwrap(), Proto::Tcp) else {
        panic!()
    };
    let m = Message::from_vec(&b).unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 60);
    // with a large enough EDNS size: all of them over UDP too
    let mut q = q;
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    q.set_edns(edns);
    let m = reply(&r, "10.90.1.1", &q);
    assert_eq!(m.answers.len(), 60);
}

#[test]
fn multi_network_container_sees_both_and_own_network_first() {
    let mut t = Table::new();
    t.insert(
        Network::new("a")
            .entry(Entry::new("both", [ip("10.1.0.2")]).container("ns1"))
            .entry(Entry::new("x", [ip("10.1.0.3")])),
    )
    .unwrap();
    t.insert(
        Network::new("b")
            .entry(Entry::new("both", [ip("10.2.0.2")]).container("ns1"))
            .entry(Entry::new("y", [ip("10.2.0.3")])),
    )
    .unwrap();
    let r = Records::new(&t, Policy::default());
    // asking from its network-a address, it sees y on network b
    let m = reply(&r, "10.1.0.2", &query("y.", RecordType::A));
    assert_eq!(message::answers(&m), vec!["10.2.0.3"]);
    // x asks for both: only the shared network's address
    let m = reply(&r, "10.1.0.3", &query("both.", RecordType::A));
    assert_eq!(message::answers(&m), vec!["10.1.0.2"]);
    // both asks for itself from b: b's address first
    let m = reply(&r, "10.2.0.2", &query("both.", RecordType::A));
    assert_eq!(message::answers(&m), vec!["10.2.0.2", "10.1.0.2"]);
}

#[test]
fn odd_labels_never_match() {
    let r = records();
    // a label with a dot inside ("db.dns" as one label) is not db.dns.*
    let name = Name::from_labels(vec![b"db.dns".to_vec(), b"brnet".to_vec()]).unwrap();
    let mut m = Message::query();
    m.add_query(Query::query(name, RecordType::A));
    let got = ask(&r, WEB, &m);
    assert!(
        !matches!(&got, Answer::Reply(b) if !Message::from_vec(b).unwrap().answers.is_empty()),
        "{got:?}"
    );
}
