//! Helpers for the end-to-end tests in `tests/tests/`: the test kit's
//! traffic helpers and kernel read-backs (`brnet_testkit`), re-exported
//! so that every scenario reads `use brnet_tests::*;`.

/// The README's Rust examples, compiled as doc tests.
#[doc = include_str!("../../README.md")]
pub mod readme {}

pub use brnet_testkit::cmd::{ip, ip_json, link_names, nft_ruleset, sh};
pub use brnet_testkit::topo::outside_routed as make_outside;
pub use brnet_testkit::traffic::{
    LONG, SHORT, can_connect, fetch, listen_in, ping, serve, udp_echo,
};

/// A fresh state directory (removed when dropped).
pub fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
