//! Which firewall driver: netavark's `NETAVARK_FW` (Podman 5 sets it from
//! containers.conf's `firewall_driver`), kept in the state directory so
//! that teardown — run by Podman's cleanup process, whose environment is
//! scrubbed — removes rules from the firewall that setup wrote them to.
//!
//! | `NETAVARK_FW` | bridge-net's backend |
//! |---|---|
//! | unset, empty | the one recorded, else native nftables (the default) |
//! | `nftables` | native nftables over netlink |
//! | `iptables` | Docker's iptables layout (`iptables-restore`) |
//! | `none` | no firewall at all |
//! | `firewalld`, anything else | refused |
//!
//! The driver is recorded while the state has networks (setup records it,
//! the teardown that removes the last network forgets it); another one is
//! refused meanwhile: their rules are in the recorded one's tables.

use std::path::{Path, PathBuf};

use bridge_net::FirewallBackend;

use crate::error::{Error, Result};

/// The environment variable netavark reads.
pub const ENV: &str = "NETAVARK_FW";

/// The file in the state directory that names the driver in use.
const FILE: &str = "firewall_driver";

/// netavark's name for a backend.
pub fn name(b: FirewallBackend) -> &'static str {
    match b {
        FirewallBackend::IptablesRestore => "iptables",
        FirewallBackend::None => "none",
        // The nft command is the same ruleset, for debugging.
        FirewallBackend::Native | FirewallBackend::NftCommand => "nftables",
    }
}

/// The backend netavark's name stands for.
pub fn parse(value: &str) -> Result<FirewallBackend> {
    match value.trim().to_ascii_lowercase().as_str() {
        "nftables" => Ok(FirewallBackend::Native),
        "iptables" => Ok(FirewallBackend::IptablesRestore),
        "none" => Ok(FirewallBackend::None),
        "firewalld" => Err(Error::Unsupported {
            field: ENV.to_owned(),
            value: value.to_owned(),
            reason: "bridge-net does not drive firewalld: use nftables, iptables or none",
        }),
        _ => Err(Error::field(
            ENV,
            value,
            "unknown firewall driver (known: nftables, iptables, none)",
        )),
    }
}

/// `choose_given` with what `state` records (for the tests).
#[cfg(test)]
pub fn choose(state: &Path, asked: Option<&str>) -> Result<FirewallBackend> {
    choose_given(state, recorded(state)?, asked)
}

/// The driver: as asked (`asked`, the environment's value), else as
/// `recorded` in `state` (read already), else native nftables. A driver
/// other than the recorded one is refused.
pub fn choose_given(
    state: &Path,
    recorded: Option<FirewallBackend>,
    asked: Option<&str>,
) -> Result<FirewallBackend> {
    match asked.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(recorded.unwrap_or_default()),
        Some(v) => {
            let want = parse(v)?;
            match recorded {
                Some(had) if name(had) != name(want) => Err(Error::field(
                    ENV,
                    v,
                    format!(
                        "the networks in {} have their rules in {}: remove their containers first",
                        state.display(),
                        name(had)
                    ),
                )),
                _ => Ok(want),
            }
        }
    }
}

/// The driver recorded in `state`, if any.
pub fn recorded(state: &Path) -> Result<Option<FirewallBackend>> {
    let path = state.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).map(Some).map_err(|e| {
            Error::field(
                path.display().to_string(),
                text.trim(),
                format!("not a firewall driver: {e}"),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::State {
            op: "read",
            path,
            cause: source,
        }),
    }
}

/// Forget the driver of `state` (it has no network left).
pub fn forget(state: &Path) -> Result<()> {
    let path = state.join(FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::State {
            op: "remove",
            path,
            cause: e,
        }),
        _ => Ok(()),
    }
}

/// `record_over` with what `state` records (for the tests).
#[cfg(test)]
pub fn record(state: &Path, backend: FirewallBackend) -> Result<()> {
    record_over(state, recorded(state)?, backend)
}

/// Record `backend` as the driver of `state`, where `had` is recorded
/// already (read before): nothing is written when it is `backend`'s.
pub fn record_over(
    state: &Path,
    had: Option<FirewallBackend>,
    backend: FirewallBackend,
) -> Result<()> {
    let path: PathBuf = state.join(FILE);
    if had.is_some_and(|b| name(b) == name(backend)) {
        return Ok(());
    }
    std::fs::write(&path, format!("{}\n", name(backend))).map_err(|source| Error::State {
        op: "write",
        path,
        cause: source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_choice() {
        for (v, b) in [
            ("nftables", FirewallBackend::Native),
            ("iptables", FirewallBackend::IptablesRestore),
            ("NONE", FirewallBackend::None),
        ] {
            assert_eq!(parse(v).unwrap(), b);
        }
        assert!(
            parse("firewalld")
                .unwrap_err()
                .to_string()
                .contains("firewalld")
        );
        assert!(parse("pf").unwrap_err().to_string().contains("NETAVARK_FW"));
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(choose(d, None).unwrap(), FirewallBackend::Native);
        assert_eq!(
            choose(d, Some("iptables")).unwrap(),
            FirewallBackend::IptablesRestore
        );
        record(d, FirewallBackend::IptablesRestore).unwrap();
        // Unset (a scrubbed environment): what setup used.
        assert_eq!(choose(d, None).unwrap(), FirewallBackend::IptablesRestore);
        assert_eq!(
            choose(d, Some("")).unwrap(),
            FirewallBackend::IptablesRestore
        );
        // Another one while networks have rules in this one: refused.
        let e = choose(d, Some("nftables")).unwrap_err().to_string();
        assert!(e.contains("iptables") && e.contains("NETAVARK_FW"), "{e}");
        // Without networks, the new one goes.
        forget(d).unwrap();
        forget(d).unwrap();
        assert_eq!(
            choose(d, Some("nftables")).unwrap(),
            FirewallBackend::Native
        );
    }
}
