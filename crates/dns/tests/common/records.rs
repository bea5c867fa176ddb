//! The names the query path is tried on with arbitrary input: shared by
//! the property test (`tests/answer_props.rs`) and the cargo-fuzz target
//! (`fuzz/fuzz_targets/answer.rs`), both by `#[path]`.

use std::net::IpAddr;
use std::sync::OnceLock;

use brnet_dns::{Entry, Network, Policy, Records, Table};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Two networks: `customNetwork` (web/www with both families, db/database,
/// `big` with 80 addresses) and `other` (its own domain, no forwarding).
pub fn records() -> &'static Records {
    static RECORDS: OnceLock<Records> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let mut t = Table::new();
        t.insert(
            Network::new("customNetwork")
                .entry(Entry::new("web", [ip("10.89.0.2"), ip("fd00:89::2")]).alias("www"))
                .entry(Entry::new("db", [ip("10.89.0.3")]).alias("database"))
                .entry(Entry::new(
                    "big",
                    (1..=80).map(|i| ip(&format!("10.89.3.{i}"))),
                )),
        )
        .unwrap();
        t.insert(
            Network::new("other")
                .domain("other.test")
                .forward(false)
                .entry(Entry::new("c3", [ip("10.89.1.2")])),
        )
        .unwrap();
        Records::new(&t, Policy::default())
    })
}
