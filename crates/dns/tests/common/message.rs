//! Building queries and reading replies, with no I/O: shared by the
//! sandbox tests (through `common`) and the query path's unit tests
//! (`src/answer/tests.rs`, by `#[path]`).
#![allow(dead_code)]

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// A query with RD set and a random id.
pub fn query(name: &str, qtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

/// The addresses (or PTR targets) of a reply's answers, as text.
pub fn answers(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0.to_string(),
            RData::AAAA(a) => a.0.to_string(),
            RData::PTR(p) => p.0.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// A reply's code.
pub fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}
