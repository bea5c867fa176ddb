#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! The name-resolution engine of bridge-net: containers on a network find
//! each other by name, as with Docker's embedded DNS and Podman's
//! aardvark-dns.
//!
//! One [`Resolver`] serves every network, on UDP and TCP of each listen
//! address (port 53 of each DNS-enabled network's gateway address). It
//! answers from its records, and forwards the rest upstream:
//!
//! - **Records** ([`Table`]): per [`Network`], each endpoint's name and
//!   aliases ([`Entry`]) → its addresses there (A, AAAA) and back (PTR to
//!   `name.domain.`). Names are ASCII case-insensitive, asked bare or under
//!   the network's search domain ([`DEFAULT_DOMAIN`] unless set).
//! - **Isolation**: the asker is known by its source address; a name
//!   resolves only when the asker's container shares a network with the
//!   target. Other names that are ours (single labels, names under a
//!   domain, reverse names of endpoints) get NXDOMAIN, never a trip
//!   upstream.
//! - **Forwarding** to the [`Config::upstreams`] (read from
//!   `/etc/resolv.conf` with [`Config::from_resolv_conf`]): UDP, TCP again
//!   when the answer is truncated, at most [`Config::max_forwards`] in
//!   flight, SERVFAIL and one log line when none answers within
//!   [`Config::forward_timeout`]. Internal networks
//!   ([`Network::forward`] false) get REFUSED instead.
//! - **Changes at run time**: [`Resolver::set_listeners`] (or
//!   `add_listener` / `remove_listener`) and [`Resolver::set_records`]
//!   (or `update_records`, `add_entry`, `remove_entry`) swap in place,
//!   without dropping queries in flight.
//!
//! The query path itself is [`Records::answer`]: bytes in, [`Answer`] out,
//! no I/O; the listeners, the tests without root and the fuzz target all
//! go through it. Threads and std sockets; messages are parsed and built
//! with `hickory-proto`, which stays inside: the API speaks bytes, names
//! and numbers, so a client uses any DNS library (the example below uses
//! hickory-proto's own types, as a dependency of its own).
//!
//! ```no_run
//! use std::net::{SocketAddr, UdpSocket};
//! use brnet_dns::{Config, Entry, Network, Resolver, Table};
//! use hickory_proto as proto;
//! use proto::op::Message;
//! use proto::rr::{Name, RecordType};
//!
//! // start, with the host's nameservers as upstreams
//! let resolver = Resolver::start(Config::from_resolv_conf(brnet_dns::RESOLV_CONF)?)?;
//! // serve on the gateway of each DNS-enabled network
//! let gateway: SocketAddr = "10.89.0.1:53".parse().unwrap();
//! resolver.set_listeners(&[gateway])?;
//! // the records: two containers on customNetwork
//! let mut table = Table::new();
//! table.insert(
//!     Network::new("customNetwork")
//!         .entry(Entry::new("web", ["10.89.0.2".parse().unwrap()]).alias("www"))
//!         .entry(Entry::new("db", ["10.89.0.3".parse().unwrap()])),
//! )?;
//! resolver.set_records(table);
//!
//! // a query, as `web` (10.89.0.2) would send it
//! let mut query = Message::query();
//! query.metadata.recursion_desired = true;
//! query.add_query(proto::op::Query::query(Name::from_ascii("DB.dns.brnet.")?, RecordType::A));
//! let client = UdpSocket::bind("10.89.0.2:0").unwrap();
//! client.send_to(&query.to_vec()?, gateway).unwrap();
//! let mut buf = [0u8; 512];
//! let n = client.recv(&mut buf).unwrap();
//! let reply = Message::from_vec(&buf[..n])?;
//! assert_eq!(reply.answers.len(), 1); // db's 10.89.0.3
//!
//! // endpoints come and go
//! resolver.remove_entry("customNetwork", "db");
//! resolver.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(not(target_os = "linux"))]
compile_error!("brnet-dns supports Linux only: it serves inside Linux network namespaces");

mod answer;
mod config;
mod context;
mod error;
mod forward;
mod listener;
mod live;
pub mod logfile;
mod records;
mod report;
mod resolver;
pub mod serve;
mod spec;
mod stats;
mod table;

pub use answer::{Answer, Forward, MAX_MESSAGE, MAX_UDP_REPLY, MIN_UDP_REPLY};
pub use config::{Config, RESOLV_CONF, parse_resolv_conf};
pub use error::{Error, NameProblem, Proto, Result};
pub use records::{Policy, Records};
pub use report::LogSink;
pub use resolver::Resolver;
pub use stats::Stats;
pub use table::{DEFAULT_DOMAIN, Entry, Network, Table};
