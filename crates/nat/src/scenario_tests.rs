//! The scenario's own snapshot and determinism (see `scenario.rs`).

use crate::scenario::model;

#[test]
fn print_scenario() {
    if let Ok(path) = std::env::var("BRNET_NAT_WRITE_SCENARIO") {
        std::fs::write(path, model().nft_script("brnet")).unwrap();
    }
}

/// Snapshot: the scenario's nft script. The same file is what `nft -f`
/// turned into the messages of `scenario.mnl.hex` (see regen.sh), which
/// the byte-level tests compare ours with.
#[test]
fn nft_script_snapshot() {
    assert_eq!(
        model().nft_script("brnet"),
        include_str!("../tests/fixtures/scenario.nft")
    );
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(model().nft_script("brnet"), model().nft_script("brnet"));
    let o = crate::IptablesOptions::default();
    assert_eq!(model().iptables(&o), model().iptables(&o));
}
