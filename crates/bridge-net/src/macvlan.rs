//! macvlan networks: each container gets a macvlan of a parent link (a
//! host's NIC), created directly inside its namespace, with its own MAC,
//! on the parent's LAN at its own address. No bridge, no veth, no
//! firewall, no published ports and no name server: the LAN's router is
//! the gateway, and the host itself cannot reach its macvlans through the
//! parent (the kernel's rule). What Docker's `-d macvlan -o parent=IF -o
//! macvlan_mode=MODE` and Podman's macvlan driver make.
//!
//! The network's record names the parent where a bridge network names its
//! bridge, and is `adopted`: the parent is never made, changed or deleted.

use std::fmt;
use std::str::FromStr;

use brnet_netlink::macvlan::{
    MACVLAN_MODE_BRIDGE, MACVLAN_MODE_PASSTHRU, MACVLAN_MODE_PRIVATE, MACVLAN_MODE_SOURCE,
    MACVLAN_MODE_VEPA,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The kind of network: a bridge (Docker's default driver) or macvlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// A Linux bridge with veth pairs, NAT and isolation.
    #[default]
    Bridge,
    /// macvlans of a parent link.
    Macvlan(MacvlanOptions),
    /// A bridge on every host joined by a VXLAN device, addresses and VNI
    /// from the cluster store (see `overlay.rs`).
    Overlay(crate::overlay_options::OverlayOptions),
}

impl Driver {
    /// `bridge` or `macvlan`.
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Macvlan(_) => "macvlan",
            Driver::Overlay(_) => "overlay",
        }
    }

    /// Whether networks of this driver are a Linux bridge with veth pairs,
    /// NAT and isolation: [`Driver::Bridge`], and [`Driver::Overlay`]
    /// (a bridge with one more port).
    pub fn is_bridge(&self) -> bool {
        matches!(self, Driver::Bridge | Driver::Overlay(_))
    }

    /// Whether this is [`Driver::Bridge`] itself (the default).
    pub fn is_plain_bridge(&self) -> bool {
        matches!(self, Driver::Bridge)
    }

    /// The driver named `name` (`bridge`, `macvlan`), with its defaults.
    pub fn from_name(name: &str) -> Result<Driver> {
        match name {
            "bridge" => Ok(Driver::Bridge),
            "macvlan" => Ok(Driver::Macvlan(MacvlanOptions::default())),
            "overlay" => Ok(Driver::Overlay(Default::default())),
            _ => Err(Error::option(
                "--driver",
                name,
                "unknown driver (known: bridge, macvlan, overlay)",
            )),
        }
    }
}

/// A macvlan network's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacvlanOptions {
    /// The parent link (`-o parent=IF`); `None`: the link of the host's
    /// default route, found when the network is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The mode (`-o macvlan_mode=MODE`, default bridge).
    #[serde(default)]
    pub mode: MacvlanMode,
}

/// How a parent's macvlans reach each other (`ip link add ... type
/// macvlan mode MODE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MacvlanMode {
    /// Switched here, between the parent's macvlans (the default).
    #[default]
    Bridge,
    /// Never to each other; only to the LAN.
    Private,
    /// Through the LAN's switch (which must hairpin).
    Vepa,
    /// One macvlan takes the parent over, with the parent's MAC.
    Passthru,
    /// Frames picked by source MAC (none listed: nothing comes in).
    Source,
}

impl MacvlanMode {
    /// The kernel's `MACVLAN_MODE_*`.
    pub fn kernel(self) -> u32 {
        match self {
            MacvlanMode::Bridge => MACVLAN_MODE_BRIDGE,
            MacvlanMode::Private => MACVLAN_MODE_PRIVATE,
            MacvlanMode::Vepa => MACVLAN_MODE_VEPA,
            MacvlanMode::Passthru => MACVLAN_MODE_PASSTHRU,
            MacvlanMode::Source => MACVLAN_MODE_SOURCE,
        }
    }

    /// Its name, as `ip` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Passthru => "passthru",
            MacvlanMode::Source => "source",
        }
    }
}

impl fmt::Display for MacvlanMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MacvlanMode {
    type Err = Error;

    /// `bridge`, `private`, `vepa`, `passthru` or `source` (empty: bridge).
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "" | "bridge" => MacvlanMode::Bridge,
            "private" => MacvlanMode::Private,
            "vepa" => MacvlanMode::Vepa,
            "passthru" => MacvlanMode::Passthru,
            "source" => MacvlanMode::Source,
            _ => {
                return Err(Error::option(
                    OPT_MACVLAN_MODE,
                    s,
                    "expected bridge, private, vepa, passthru or source",
                ));
            }
        })
    }
}

/// Docker's option for a macvlan network's parent link.
pub const OPT_PARENT: &str = "parent";
/// Docker's option for a macvlan network's mode.
pub const OPT_MACVLAN_MODE: &str = "macvlan_mode";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_drivers_by_name() {
        for m in [
            MacvlanMode::Bridge,
            MacvlanMode::Private,
            MacvlanMode::Vepa,
            MacvlanMode::Passthru,
            MacvlanMode::Source,
        ] {
            assert_eq!(m.as_str().parse::<MacvlanMode>().unwrap(), m);
        }
        assert_eq!("".parse::<MacvlanMode>().unwrap(), MacvlanMode::Bridge);
        let e = "l2".parse::<MacvlanMode>().unwrap_err().to_string();
        assert!(e.contains("macvlan_mode") && e.contains("l2"), "{e}");
        assert_eq!(Driver::from_name("macvlan").unwrap().name(), "macvlan");
        assert!(
            Driver::from_name("ipvlan")
                .unwrap_err()
                .to_string()
                .contains("ipvlan")
        );
        // As the state keeps it.
        let d = Driver::Macvlan(MacvlanOptions {
            parent: Some("eth0".into()),
            mode: MacvlanMode::Vepa,
        });
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(j, r#"{"macvlan":{"parent":"eth0","mode":"vepa"}}"#);
        assert_eq!(serde_json::from_str::<Driver>(&j).unwrap(), d);
        assert_eq!(
            serde_json::to_string(&Driver::Bridge).unwrap(),
            r#""bridge""#
        );
    }
}
