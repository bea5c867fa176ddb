//! The query path without I/O: a packet and its sender's address in, a
//! reply (or "forward this", or "say nothing") out. Every listener thread
//! runs this; so does the fuzz target.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::error::Proto;
use crate::records::{EntryInfo, Records};

/// The largest UDP reply we send for our own names (the DNS flag day 2020
/// size); bigger answers go out truncated and the client retries over TCP.
pub const MAX_UDP_REPLY: usize = 1232;
/// The size every DNS client accepts over UDP (RFC 1035).
pub const MIN_UDP_REPLY: usize = 512;
/// The largest DNS message (two-byte length over TCP).
pub const MAX_MESSAGE: usize = 65535;

/// What to do with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send these bytes back to the asker.
    Reply(Vec<u8>),
    /// Not ours: forward the packet upstream.
    Forward(Forward),
    /// Send nothing: a response, or too short to carry a message id.
    Drop,
}

/// A query to forward, with what the forwarder needs to answer the client
/// itself (SERVFAIL, truncation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The client's message id.
    pub id: u16,
    /// The question.
    pub(crate) query: Query,
    /// The client's RD bit.
    pub recursion_desired: bool,
    /// The client's CD bit.
    pub checking_disabled: bool,
    /// The largest reply the client takes over this transport.
    pub limit: usize,
    /// The name servers to ask, in order: the asker's network's own
    /// ([`crate::Network::upstreams`]); `None`: the resolver's.
    pub upstreams: Option<Arc<[SocketAddr]>>,
}

impl Forward {
    /// The name asked for, fully qualified (`example.test.`).
    pub fn name(&self) -> String {
        self.query.name().to_string()
    }

    /// The record type asked for, as its number (1 for A, 28 for AAAA).
    pub fn record_type(&self) -> u16 {
        self.query.query_type().into()
    }

    /// A reply to the client with no records and the response code
    /// `rcode` (its number: 2 for SERVFAIL, as when no upstream answered;
    /// the upstream's code with `truncated` when its answer is too big for
    /// the client's UDP limit).
    pub fn reply(&self, rcode: u16, truncated: bool) -> Vec<u8> {
        self.reply_code(rcode.into(), truncated)
    }

    /// [`Forward::reply`] with the message library's response code.
    pub(crate) fn reply_code(&self, code: ResponseCode, truncated: bool) -> Vec<u8> {
        let mut msg = Message::response(self.id, OpCode::Query);
        msg.metadata.recursion_desired = self.recursion_desired;
        msg.metadata.checking_disabled = self.checking_disabled;
        msg.metadata.recursion_available = true;
        msg.metadata.truncation = truncated;
        msg.metadata.response_code = code;
        msg.add_query(self.query.clone());
        encode(&msg)
    }
}

impl Records {
    /// Answer one packet from `asker` that came over `proto`.
    ///
    /// - Responses and packets shorter than a header: [`Answer::Drop`].
    /// - Unparseable messages, or not exactly one question: FORMERR;
    ///   opcodes other than QUERY: NOTIMP; EDNS versions above 0: BADVERS;
    ///   classes other than IN: REFUSED.
    /// - A name or alias of an endpoint on a network the asker shares
    ///   (bare or under that network's domain, ASCII case ignored): its
    ///   A / AAAA records (both for ANY; NODATA for other types).
    /// - A reverse name of an endpoint's address on a shared network: PTR
    ///   to `name.domain.`.
    /// - Other names that are ours (single labels, names under a domain,
    ///   reverse names of endpoints): NXDOMAIN. Isolation holds: a name on
    ///   a network the asker does not share is answered NXDOMAIN.
    /// - Anything else: [`Answer::Forward`], or REFUSED when none of the
    ///   asker's networks forwards.
    ///
    /// Over UDP, replies larger than the client's limit (512 bytes, or its
    /// EDNS size up to [`MAX_UDP_REPLY`]) go out truncated (TC set).
    pub fn answer(&self, asker: IpAddr, packet: &[u8], proto: Proto) -> Answer {
        if packet.len() < 12 {
            return Answer::Drop;
        }
        // QR set: a response sent to us. Never answer one (no loops).
        if packet[2] & 0x80 != 0 {
            return Answer::Drop;
        }
        let request = match Message::from_vec(packet) {
            Ok(m) => m,
            Err(_) => return Answer::Reply(header_error(packet, ResponseCode::FormErr)),
        };
        if request.metadata.op_code != OpCode::Query {
            return Answer::Reply(error(&request, ResponseCode::NotImp));
        }
        if request.queries.len() != 1 {
            return Answer::Reply(error(&request, ResponseCode::FormErr));
        }
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return Answer::Reply(error(&request, ResponseCode::BADVERS));
        }
        let query = &request.queries[0];
        if query.query_class() != DNSClass::IN {
            return Answer::Reply(error(&request, ResponseCode::Refused));
        }
        let limit = match proto {
            Proto::Tcp => MAX_MESSAGE,
            Proto::Udp => udp_limit(&request, MAX_UDP_REPLY),
        };
        let asker = self.asker(asker);
        let name = query.name();
        let ttl = self.policy.ttl;

        let mut answers = Vec::new();
        let code = if let Some(found) = self.reverse_lookup(name, asker) {
            if found.is_empty() {
                ResponseCode::NXDomain
            } else {
                if matches!(query.query_type(), RecordType::PTR | RecordType::ANY) {
                    let mut targets: Vec<&Name> = Vec::new();
                    for e in found {
                        if !targets.contains(&&e.fqdn) {
                            targets.push(&e.fqdn);
                        }
                    }
                    for t in targets {
                        answers.push(Record::from_rdata(
                            name.clone(),
                            ttl,
                            RData::PTR(PTR(t.clone())),
                        ));
                    }
                }
                ResponseCode::NoError
            }
        } else {
            let found = match (asker, lookup_key(name)) {
                (Some(a), Some(key)) => self.lookup(&key, a),
                _ => Vec::new(),
            };
            if !found.is_empty() {
                address_records(&found, name, query.query_type(), ttl, &mut answers);
                ResponseCode::NoError
            } else if self.is_domain(name) {
                ResponseCode::NoError
            } else if self.is_ours(name) {
                ResponseCode::NXDomain
            } else if self.may_forward(asker) {
                return Answer::Forward(Forward {
                    id: request.metadata.id,
                    query: query.clone(),
                    recursion_desired: request.metadata.recursion_desired,
                    checking_disabled: request.metadata.checking_disabled,
                    limit: match proto {
                        Proto::Tcp => MAX_MESSAGE,
                        Proto::Udp => udp_limit(&request, MAX_MESSAGE),
                    },
                    upstreams: self.upstreams(asker),
                });
            } else {
                ResponseCode::Refused
            }
        };

        let mut reply = response(&request, code);
        reply.metadata.authoritative = code != ResponseCode::Refused;
        reply.insert_answers(answers);
        let bytes = encode(&reply);
        if bytes.len() > limit {
            return Answer::Reply(encode(&reply.truncate()));
        }
        Answer::Reply(bytes)
    }

    /// For a reverse name of an address the table has: the entries with
    /// it that the asker may see (maybe none). `None` when the name is no
    /// full reverse name, or the address is no endpoint's.
    fn reverse_lookup(
        &self,
        name: &Name,
        asker: Option<&crate::records::Asker>,
    ) -> Option<Vec<&EntryInfo>> {
        if name.num_labels() < 6 {
            return None;
        }
        let net = name.parse_arpa_name().ok()?;
        if net.prefix_len() != net.max_prefix_len() {
            return None;
        }
        self.reverse(net.addr(), asker)
    }
}

/// The client's UDP limit: 512, or its EDNS size capped at `cap`.
fn udp_limit(request: &Message, cap: usize) -> usize {
    match &request.edns {
        Some(e) => usize::from(e.max_payload()).clamp(MIN_UDP_REPLY, cap.max(MIN_UDP_REPLY)),
        None => MIN_UDP_REPLY,
    }
}

/// A name as a lookup key: lowercase labels joined by dots, no trailing
/// dot. `None` for names no entry can have (a label with a dot or a
/// non-ASCII byte in it).
fn lookup_key(name: &Name) -> Option<String> {
    let mut key = String::with_capacity(64);
    for label in name.iter() {
        if !key.is_empty() {
            key.push('.');
        }
        for &b in label {
            if b == b'.' || !b.is_ascii() {
                return None;
            }
            key.push(char::from(b.to_ascii_lowercase()));
        }
    }
    Some(key)
}

/// A, AAAA (or both for ANY) for the found entries, owner `name` as asked.
fn address_records(
    found: &[&EntryInfo],
    name: &Name,
    qtype: RecordType,
    ttl: u32,
    out: &mut Vec<Record>,
) {
    let want_a = matches!(qtype, RecordType::A | RecordType::ANY);
    let want_aaaa = matches!(qtype, RecordType::AAAA | RecordType::ANY);
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for e in found {
        if want_a {
            for a in &e.v4 {
                if !v4.contains(a) {
                    v4.push(*a);
                }
            }
        }
        if want_aaaa {
            for a in &e.v6 {
                if !v6.contains(a) {
                    v6.push(*a);
                }
            }
        }
    }
    out.extend(
        v4.into_iter()
            .map(|a| Record::from_rdata(name.clone(), ttl, RData::A(A(a)))),
    );
    out.extend(
        v6.into_iter()
            .map(|a| Record::from_rdata(name.clone(), ttl, RData::AAAA(AAAA(a)))),
    );
}

/// A response skeleton: id, opcode, RD and CD copied, RA set (we
/// forward), the question echoed, EDNS answered with EDNS.
fn response(request: &Message, code: ResponseCode) -> Message {
    let mut msg = Message::response(request.metadata.id, request.metadata.op_code);
    msg.metadata.recursion_desired = request.metadata.recursion_desired;
    msg.metadata.checking_disabled = request.metadata.checking_disabled;
    msg.metadata.recursion_available = true;
    msg.metadata.response_code = code;
    msg.add_queries(request.queries.iter().cloned());
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_REPLY as u16);
        msg.set_edns(edns);
    }
    msg
}

/// An error reply to a message that parsed.
fn error(request: &Message, code: ResponseCode) -> Vec<u8> {
    let mut msg = response(request, code);
    if request.queries.len() > 1 || request.metadata.op_code != OpCode::Query {
        // echo nothing we did not understand
        msg.queries.clear();
    }
    if code == ResponseCode::BADVERS && msg.edns.is_none() {
        msg.set_edns(Edns::new());
    }
    encode(&msg)
}

/// An error reply to a message that did not parse: its id, opcode and RD
/// bit, no question.
fn header_error(packet: &[u8], code: ResponseCode) -> Vec<u8> {
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let op_code = OpCode::from_u8((packet[2] >> 3) & 0x0f);
    let mut msg = Message::error_msg(id, op_code, code);
    msg.metadata.message_type = MessageType::Response;
    msg.metadata.recursion_desired = packet[2] & 0x01 != 0;
    encode(&msg)
}

/// Encode a reply we built. Our replies always encode (names come from
/// the table or the parsed question); should one not, a bare SERVFAIL
/// with the same id goes out instead of nothing.
pub(crate) fn encode(msg: &Message) -> Vec<u8> {
    match msg.to_vec() {
        Ok(bytes) => bytes,
        Err(_) => {
            let mut bare = Message::error_msg(
                msg.metadata.id,
                msg.metadata.op_code,
                ResponseCode::ServFail,
            );
            bare.metadata.recursion_available = true;
            bare.to_vec().unwrap_or_else(|_| {
                let [a, b] = msg.metadata.id.to_be_bytes();
                vec![a, b, 0x80, 0x82, 0, 0, 0, 0, 0, 0, 0, 0]
            })
        }
    }
}

#[cfg(test)]
mod tests;
