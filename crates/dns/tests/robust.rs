//! Bad packets and floods never crash the resolver nor stop it answering.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use brnet_dns::{Config, LogSink, Resolver, Table};
use common::{Client, GW, answers, query, rcode, sa, tcp_exchange};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::RecordType;

fn start() -> Resolver {
    let mut t = Table::new();
    t.insert(common::custom_network()).unwrap();
    let resolver = Resolver::start(Config {
        max_tcp_connections: 8,
        tcp_idle_timeout: Duration::from_secs(2),
        log: LogSink::new(|_| {}),
        ..Config::default()
    })
    .unwrap();
    resolver.set_listeners(&[sa(GW)]).unwrap();
    resolver.set_records(t);
    resolver
}

/// The server closes `conn` (end of stream, or a reset) before the
/// client's read timeout; a timeout, or data, fails.
#[track_caller]
fn assert_closed(conn: &mut std::net::TcpStream, what: &str) {
    match conn.read(&mut [0u8; 4]) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(n) => panic!("{what}: the server sent {n} bytes instead of closing"),
        Err(e) => panic!("{what}: the server did not close the connection: {e}"),
    }
}

/// A small deterministic generator for junk (no extra dependency).
struct Junk(u64);

impl Junk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn bad_packets_and_a_flood_over_udp() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let resolver = start();
        let c = Client::new(&web, sa(GW));
        let good = query("db.", RecordType::A).to_vec().unwrap();

        // one of each, each followed by a good query
        let mut response = query("db.", RecordType::A);
        response.metadata.message_type = MessageType::Response;
        let bad: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x12],
            good[..11].to_vec(),
            good[..good.len() - 1].to_vec(),
            good[..14].to_vec(),
            vec![0xff; 12],
            vec![0; 512],
            Junk(7).bytes(300),
            // a label pointer loop
            [&good[..12], &[0xc0, 0x0c, 0, 1, 0, 1][..]].concat(),
            // claims 65535 questions
            [&[0, 1, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0][..], &good[12..]].concat(),
            response.to_vec().unwrap(),
            // oversized: 65000 bytes
            [&good[..], &vec![0u8; 65000 - good.len()][..]].concat(),
        ];
        for b in &bad {
            c.send_raw(b);
            let m = c.ask("db.", RecordType::A);
            assert_eq!(answers(&m), ["10.89.0.3"], "after {} bytes", b.len());
        }
        // a FORMERR carries the junk's id
        let mut junk = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        junk.extend_from_slice(&[0xff; 20]);
        let raw = c.to(sa(GW));
        raw.send_raw(&junk);
        let m = Message::from_vec(&raw.recv_raw().unwrap()).unwrap();
        assert_eq!(m.metadata.id, 0xabcd);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);

        // the flood: 10,000 packets, junk and queries mixed, no waiting
        let flooder = c.to(sa(GW));
        let mut rng = Junk(0x9e37_79b9_7f4a_7c15);
        for i in 0..10_000u32 {
            let packet = match i % 4 {
                0 => good.clone(),
                1 => {
                    let n = (rng.next() % 600) as usize;
                    rng.bytes(n)
                }
                2 => {
                    let mut g = good.clone();
                    let at = (rng.next() as usize) % g.len();
                    g[at] ^= rng.next() as u8 | 1;
                    g
                }
                _ => query(&format!("n{i}."), RecordType::AAAA).to_vec().unwrap(),
            };
            flooder.send_raw(&packet);
        }
        // still answering, over UDP and TCP
        let m = c.ask_retrying("web.", RecordType::A, 10);
        assert_eq!(answers(&m), ["10.89.0.2"]);
        assert_eq!(answers(&c.ask_tcp("db.", RecordType::A)), ["10.89.0.3"]);
        let s = resolver.stats();
        assert!(s.udp_queries > 12, "{s:?}");
        assert!(s.dropped > 0, "{s:?}");
        resolver.stop().unwrap();
    });
}

#[test]
fn bad_tcp_clients() {
    brnet_testkit::sandboxed(|| {
        let web = common::web_on_br0();
        let resolver = start();
        let c = Client::new(&web, sa(GW));

        // garbage after a length; a length and then nothing; zero length;
        // a truncated message; all closed or answered, never stuck
        let mut conn = c.connect_tcp();
        // a response is ignored: nothing comes back for it
        conn.write_all(&[0, 40]).unwrap();
        conn.write_all(&[0xff; 40]).unwrap();
        // junk with a query header: FORMERR
        conn.write_all(&[0, 40, 0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
            .unwrap();
        conn.write_all(&[0xff; 28]).unwrap();
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut buf).unwrap();
        let m = Message::from_vec(&buf).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert_eq!(m.metadata.id, 0xabcd);
        // the same connection goes on serving
        let m = tcp_exchange(&mut conn, &query("db.", RecordType::A)).unwrap();
        assert_eq!(answers(&m), ["10.89.0.3"]);

        let mut zero = c.connect_tcp();
        zero.write_all(&[0, 0]).unwrap();
        assert_closed(&mut zero, "a zero-length message");

        // more connections than allowed (8), all idle: the extra ones are
        // closed at once, and the idle ones time out (2 s)
        let idle: Vec<_> = (0..12).map(|_| c.connect_tcp()).collect();
        std::thread::sleep(Duration::from_millis(200));
        assert!(resolver.stats().tcp_rejected >= 4, "{:?}", resolver.stats());
        // UDP unaffected meanwhile
        assert_eq!(answers(&c.ask("db.", RecordType::A)), ["10.89.0.3"]);
        for mut conn in idle {
            // each ends: closed by the limit or by the idle timeout (2 s,
            // well within the client's read timeout)
            assert_closed(&mut conn, "an idle connection");
        }
        // then TCP serves again
        assert_eq!(answers(&c.ask_tcp("web.", RecordType::A)), ["10.89.0.2"]);
        assert_eq!(
            rcode(&c.ask_tcp("nope.", RecordType::A)),
            ResponseCode::NXDomain
        );
        resolver.stop().unwrap();
    });
}
