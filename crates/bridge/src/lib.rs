#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! The Linux bridge device of a container network.
//!
//! - [`ensure`]: create a bridge or adopt an existing one, with its gateway
//!   addresses, MTU, STP off, and up. A name taken by a link that is not a
//!   bridge is [`Error::NotABridge`].
//! - [`attach`], [`detach`], [`set_port_flags`]: ports, hairpin and
//!   isolation.
//! - [`delete`]: idempotent removal.
//! - [`sysctl`]: `net.ipv4.ip_forward`, `route_localnet`, `accept_ra`,
//!   `disable_ipv6`, each read back after it is written.

#[cfg(not(target_os = "linux"))]
compile_error!("brnet-bridge supports Linux only: it drives Linux bridges over rtnetlink");

pub mod sysctl;

use brnet_netlink::{
    BridgePortFlags, BridgeSpec, Family, IfName, Link, LinkChange, LinkRef, MacAddr, Master, Socket,
};
use ipnet::IpNet;

pub use brnet_netlink;

/// Everything that can go wrong with a bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] brnet_netlink::Error),
    /// The name belongs to a link that is not a bridge.
    #[error("{name} exists and is not a bridge (it is {kind})")]
    NotABridge {
        /// The name asked for.
        name: String,
        /// What the existing link is (`veth`, `device`, ...).
        kind: String,
    },
    /// A sysctl failed.
    #[error(transparent)]
    Sysctl(#[from] sysctl::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a bridge should look.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Its name (`docker0`, `br-0123456789ab`).
    pub name: IfName,
    /// Gateway addresses with the network's prefix (`172.17.0.1/16`).
    pub addresses: Vec<IpNet>,
    /// MTU (kernel default when `None`).
    pub mtu: Option<u32>,
    /// MAC (random, locally administered, when `None`; always fixed, so
    /// it never follows the ports').
    pub mac: Option<MacAddr>,
}

impl BridgeConfig {
    /// A bridge called `name` with no addresses and default MTU.
    pub fn new(name: IfName) -> Self {
        BridgeConfig {
            name,
            addresses: Vec::new(),
            mtu: None,
            mac: None,
        }
    }
}

/// A bridge that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// Its name.
    pub name: IfName,
    /// Its interface index.
    pub index: u32,
    /// Whether [`ensure`] created it (`false`: it adopted an existing one).
    pub created: bool,
}

/// Create the bridge, or adopt it if a bridge of that name exists, and make
/// it match `cfg`: STP off, MTU, the gateway addresses (missing ones added,
/// others left alone), up.
///
/// A bridge created here is deleted again if a later step fails; an adopted
/// one is left as it was found, minus nothing.
pub fn ensure(nl: &mut Socket, cfg: &BridgeConfig) -> Result<Bridge> {
    let _span = tracing::debug_span!("bridge_ensure", bridge = %cfg.name).entered();
    let (link, created) = match nl.link(&cfg.name) {
        Ok(link) => {
            if link.kind.as_deref() != Some("bridge") {
                return Err(Error::NotABridge {
                    name: cfg.name.to_string(),
                    kind: link.kind.unwrap_or_else(|| "a device".into()),
                });
            }
            (link, false)
        }
        Err(e) if e.is_not_found() => {
            // A bridge without an address of its own takes the lowest MAC
            // of its ports, and changes it whenever a port with a lower one
            // joins: every neighbour's ARP entry for the gateway then points
            // at a container's port. A fixed MAC keeps the gateway where it
            // is (Docker does the same).
            let made = nl.create_bridge(&BridgeSpec {
                name: &cfg.name,
                mtu: cfg.mtu,
                mac: Some(cfg.mac.unwrap_or_else(MacAddr::random_local)),
                stp: false,
                mcast_snooping: None,
                up: false,
            });
            match made {
                Ok(()) => {}
                // Someone made it between our lookup and our create: adopt.
                Err(e) if e.is_exists() => return ensure(nl, cfg),
                Err(e) => return Err(e.into()),
            }
            (nl.link(&cfg.name)?, true)
        }
        Err(e) => return Err(e.into()),
    };
    let bridge = Bridge {
        name: cfg.name.clone(),
        index: link.index,
        created,
    };
    match configure(nl, &link, cfg) {
        Ok(()) => Ok(bridge),
        Err(e) => {
            if created {
                let _ = nl.delete_link(link.index);
            }
            Err(e)
        }
    }
}

fn configure(nl: &mut Socket, link: &Link, cfg: &BridgeConfig) -> Result<()> {
    if link.bridge.is_some_and(|b| b.stp) {
        nl.set_bridge_stp(link.index, false)?;
    }
    if let Some(mtu) = cfg.mtu
        && mtu != link.mtu
    {
        nl.set_mtu(link.index, mtu)?;
    }
    if !cfg.addresses.is_empty() {
        let have = nl.addresses_of(link.index)?;
        for net in &cfg.addresses {
            if !have.iter().any(|a| a.net == *net) {
                match net {
                    IpNet::V6(_) => nl.add_address_nodad(link.index, net)?,
                    IpNet::V4(_) => nl.add_address(link.index, net)?,
                }
            }
        }
    }
    if !link.is_up() {
        nl.set_up(link.index)?;
    }
    Ok(())
}

/// Put `port` on the bridge `bridge` (by index). A master that is not a
/// bridge is [`Error::NotABridge`] (looked up only when the kernel refuses,
/// so the common case costs one request).
pub fn attach(nl: &mut Socket, port: impl Into<LinkRef>, bridge: u32) -> Result<()> {
    match nl.set_master(port, bridge) {
        Ok(()) => Ok(()),
        Err(e) => match nl.link(bridge) {
            Ok(link) if link.kind.as_deref() != Some("bridge") => Err(Error::NotABridge {
                name: link.name,
                kind: link.kind.unwrap_or_else(|| "a device".into()),
            }),
            _ => Err(e.into()),
        },
    }
}

/// Take `port` off its bridge.
pub fn detach(nl: &mut Socket, port: impl Into<LinkRef>) -> Result<()> {
    Ok(nl.change_link(
        port,
        &LinkChange {
            master: Some(Master::Clear),
            ..Default::default()
        },
    )?)
}

/// Set hairpin mode and port isolation on a bridge port.
pub fn set_port_flags(
    nl: &mut Socket,
    port: impl Into<LinkRef>,
    flags: &BridgePortFlags,
) -> Result<()> {
    Ok(nl.set_bridge_port(port, flags)?)
}

/// The ports of a bridge.
pub fn ports(nl: &mut Socket, bridge: u32) -> Result<Vec<Link>> {
    let mut links = nl.links()?;
    links.retain(|l| l.master == Some(bridge));
    Ok(links)
}

/// Delete the bridge (its ports are released, not deleted). `Ok(false)`
/// when there was no such link.
pub fn delete(nl: &mut Socket, name: &IfName) -> Result<bool> {
    let _span = tracing::debug_span!("bridge_delete", bridge = %name).entered();
    Ok(nl.delete_link_if_exists(name)?)
}

/// The gateway addresses on a bridge, for reading the picture back.
pub fn addresses(nl: &mut Socket, bridge: u32, family: Option<Family>) -> Result<Vec<IpNet>> {
    let mut all = nl.addresses(family)?;
    all.retain(|a| a.index == bridge);
    Ok(all.into_iter().map(|a| a.net).collect())
}
