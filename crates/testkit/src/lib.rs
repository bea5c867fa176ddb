//! The test kit of bridge-net's own tests (a dev-dependency only, never
//! published).
//!
//! - [`isolated`] and [`privileged_test`] (re-exported from `brnet-netns`,
//!   where the benches and the demo use them too), and [`sandboxed`], the
//!   two together;
//! - [`cmd`]: `ip`, `sh` and `nft` read-backs, processes killed on drop;
//! - [`etcd`]: a real etcd, one member or one of three, killed on drop;
//! - [`topo`]: bridges, containers and an "outside" namespace built with
//!   iproute2 inside a sandbox;
//! - [`traffic`]: listen, connect, UDP echo, ping and DF ping, an HTTP-ish
//!   request and response;
//! - [`fault`]: what a rollback test compares before and after an injected
//!   failure;
//! - [`host`]: a throwaway pid+net+mount host for a real client, and
//!   [`podman`], Podman in one (shared by brnet-netavark and brnet-cni).
//!
//! A dependency of a crate's integration tests (`tests/*.rs`) may form a
//! cycle with the crate itself (brnet-netns's own tests use this kit,
//! which depends on brnet-netns): cargo builds one copy of the library for
//! both. Unit tests inside `src/` of brnet-netns cannot share its types
//! with this kit (they would see a second copy of the crate).

pub mod cmd;
pub mod etcd;
pub mod fault;
pub mod host;
pub mod podman;
pub mod stats;
pub mod topo;
pub mod traffic;

pub use brnet_netns::{Netns, NetnsDir, SKIP_PRIVILEGED_ENV, isolated, privileged_test};

/// Run `body` in a fresh [`isolated`] sandbox when [`privileged_test`]
/// lets the test run: `Some` of its value, `None` when the test is skipped
/// (not root and `BRNET_SKIP_PRIVILEGED=1`). A panic in `body` fails the
/// test as usual.
pub fn sandboxed<T, F>(body: F) -> Option<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if !privileged_test() {
        return None;
    }
    Some(isolated(body).expect("enter a throwaway sandbox (net + mount namespaces)"))
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
