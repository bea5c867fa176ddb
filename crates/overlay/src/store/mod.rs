//! The cluster store: the shared truth of an overlay (hosts, networks,
//! VNIs, endpoints and their addresses), behind one small trait with two
//! implementations:
//!
//! - [`DirStore`]: a directory that every "host" of one machine shares
//!   (one JSON file under an exclusive file lock, leases by wall clock);
//!   for a single machine and for tests.
//! - [`EtcdStore`]: etcd v3 through its JSON gateway (grpc-gateway,
//!   `/v3/...`, base64 keys and values) over plain HTTP/1.1 with a small
//!   synchronous client (ureq). Chosen over a gRPC client crate
//!   (etcd-client) because that pulls in tokio, tonic and prost (a
//!   runtime and a long build on a 2-core machine) into a library whose
//!   callers are synchronous; the gateway is part of etcd 3.4's server,
//!   every call here is one short request with its own deadline (the
//!   reference measured 0.5-0.7 ms per put over one kept-alive
//!   connection), and a watch is one streamed response.
//!
//! The model is etcd's: keys with a modification revision, a store-wide
//! revision that grows with every change, leases with a TTL that take
//! their keys with them when they expire, and compare-and-swap. Values are
//! text (JSON records: see [`crate::cluster`]).

mod dir;
mod etcd;
mod model;
mod stream;

pub use dir::DirStore;
pub use etcd::EtcdStore;
pub use model::{Kv, LeaseId, Put, Result, Revision, Store, StoreError, Watch};
pub use stream::EtcdWatch;

/// Open a store by its address: `etcd://HOST:PORT[,HOST:PORT...]`,
/// `http://HOST:PORT`, or `dir:///PATH` (or a plain absolute path).
pub fn open(address: &str) -> Result<Box<dyn Store>> {
    if let Some(rest) = address
        .strip_prefix("etcd://")
        .or_else(|| address.strip_prefix("http://"))
    {
        let endpoints: Vec<String> = rest
            .trim_end_matches('/')
            .split(',')
            .map(str::to_string)
            .collect();
        return Ok(Box::new(EtcdStore::new(endpoints)?));
    }
    let path = address.strip_prefix("dir://").unwrap_or(address);
    if path.starts_with('/') {
        return Ok(Box::new(DirStore::open(path)?));
    }
    Err(StoreError::Refused {
        store: address.to_string(),
        op: "open",
        detail: "not a store address: expected etcd://HOST:PORT or dir:///PATH".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::model::range_end;
    use super::*;

    #[test]
    fn range_end_is_the_next_prefix() {
        assert_eq!(range_end("/brnet/"), b"/brnet0".to_vec());
        assert_eq!(range_end("a"), b"b".to_vec());
    }

    #[test]
    fn bad_addresses_are_refused() {
        let e = open("ftp://x").err().unwrap();
        assert!(e.to_string().contains("not a store address"), "{e}");
    }
}
