//! Links: lookup, list, change, create (veth, bridge), delete.

use std::os::fd::AsFd;

use brnet_netns::Netns;

use super::Socket;
use crate::error::{Error, Result};
use crate::ifname::IfName;
use crate::link::{BridgePortFlags, BridgeSpec, Link, LinkChange, LinkRef, Master, VethSpec};
use crate::mac::MacAddr;
use crate::msg;

impl Socket {
    /// Look a link up by index or name. A missing link is
    /// [`Error::NotFound`].
    pub fn link(&mut self, link: impl Into<LinkRef>) -> Result<Link> {
        let link = link.into();
        let mut found = None;
        let r = self.get(msg::get_link(&link)?, "get link", &link, &mut |p| {
            found = Some(Link::parse(p)?);
            Ok(())
        });
        match r {
            Err(e) if e.is_not_found() => Err(Error::NotFound {
                what: "link",
                object: link.to_string(),
            }),
            Err(e) => Err(e),
            Ok(()) => found.ok_or_else(|| Error::NotFound {
                what: "link",
                object: link.to_string(),
            }),
        }
    }

    /// Look a link up by name (validated first).
    pub fn link_by_name(&mut self, name: &str) -> Result<Link> {
        self.link(IfName::new(name)?)
    }

    /// Every link in the socket's namespace, by index.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let mut out = self.dump(msg::dump_links()?, "list links", &"", |p| {
            Link::parse(p).map(Some)
        })?;
        out.sort_by_key(|l| l.index);
        Ok(out)
    }

    /// Apply several changes to a link in one request.
    pub fn change_link(&mut self, link: impl Into<LinkRef>, change: &LinkChange<'_>) -> Result<()> {
        let link = link.into();
        let op = match change {
            LinkChange { name: Some(_), .. } => "rename link",
            LinkChange {
                master: Some(Master::Set(_)),
                ..
            } => "set master",
            LinkChange {
                master: Some(Master::Clear),
                ..
            } => "clear master",
            LinkChange {
                netns_fd: Some(_), ..
            } => "move link to namespace",
            LinkChange { mtu: Some(_), .. } => "set mtu",
            LinkChange { mac: Some(_), .. } => "set mac",
            LinkChange { up: Some(true), .. } => "set up",
            LinkChange {
                up: Some(false), ..
            } => "set down",
            _ => "change link",
        };
        self.request(msg::set_link(&link, change)?, op, &link)
    }

    /// `ip link set dev LINK up`.
    pub fn set_up(&mut self, link: impl Into<LinkRef>) -> Result<()> {
        self.change_link(
            link,
            &LinkChange {
                up: Some(true),
                ..Default::default()
            },
        )
    }

    /// `ip link set dev LINK down`.
    pub fn set_down(&mut self, link: impl Into<LinkRef>) -> Result<()> {
        self.change_link(
            link,
            &LinkChange {
                up: Some(false),
                ..Default::default()
            },
        )
    }

    /// `ip link set dev LINK mtu MTU`.
    pub fn set_mtu(&mut self, link: impl Into<LinkRef>, mtu: u32) -> Result<()> {
        self.change_link(
            link,
            &LinkChange {
                mtu: Some(mtu),
                ..Default::default()
            },
        )
    }

    /// `ip link set dev LINK address MAC`.
    pub fn set_mac(&mut self, link: impl Into<LinkRef>, mac: MacAddr) -> Result<()> {
        self.change_link(
            link,
            &LinkChange {
                mac: Some(mac),
                ..Default::default()
            },
        )
    }

    /// `ip link set dev LINK name NAME` (the link must be down).
    pub fn rename(&mut self, index: u32, name: &IfName) -> Result<()> {
        self.change_link(
            index,
            &LinkChange {
                name: Some(name.clone()),
                ..Default::default()
            },
        )
    }

    /// `ip link set dev LINK master MASTER`.
    pub fn set_master(&mut self, link: impl Into<LinkRef>, master: u32) -> Result<()> {
        self.change_link(
            link,
            &LinkChange {
                master: Some(Master::Set(master)),
                ..Default::default()
            },
        )
    }

    /// `ip link set dev LINK nomaster`.
    pub fn clear_master(&mut self, link: impl Into<LinkRef>) -> Result<()> {
        self.change_link(
            link,
            &LinkChange {
                master: Some(Master::Clear),
                ..Default::default()
            },
        )
    }

    /// `ip link set dev LINK netns NS`.
    pub fn move_to_netns(&mut self, link: impl Into<LinkRef>, ns: &Netns) -> Result<()> {
        self.change_link(
            link,
            &LinkChange {
                netns_fd: Some(ns.as_fd()),
                ..Default::default()
            },
        )
    }

    /// `ip link del dev LINK`.
    pub fn delete_link(&mut self, link: impl Into<LinkRef>) -> Result<()> {
        let link = link.into();
        self.request(msg::delete_link(&link)?, "delete link", &link)
    }

    /// `ip link del group GROUP`: every link of the netdev group, in one
    /// request and one RCU grace period (deleting them one by one waits
    /// for one each). No link in the group is not an error.
    pub fn delete_group(&mut self, group: u32) -> Result<()> {
        self.request(msg::delete_group(group)?, "delete links of group", &group)
    }

    /// Idempotent delete: `Ok(false)` when there was no such link.
    pub fn delete_link_if_exists(&mut self, link: impl Into<LinkRef>) -> Result<bool> {
        match self.delete_link(link) {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Create a veth pair in one request (see [`VethSpec`]).
    pub fn create_veth(&mut self, spec: &VethSpec<'_>) -> Result<()> {
        self.request(msg::new_veth(spec)?, "create link", spec.name)
    }

    /// Create a bridge (see [`BridgeSpec`]).
    pub fn create_bridge(&mut self, spec: &BridgeSpec<'_>) -> Result<()> {
        self.request(msg::new_bridge(spec)?, "create link", spec.name)
    }

    /// Turn spanning tree on or off on a bridge.
    pub fn set_bridge_stp(&mut self, link: impl Into<LinkRef>, stp: bool) -> Result<()> {
        let link = link.into();
        self.request(msg::set_bridge(&link, stp)?, "set bridge stp", &link)
    }

    /// Set a bridge port's hairpin and isolation flags.
    pub fn set_bridge_port(
        &mut self,
        link: impl Into<LinkRef>,
        flags: &BridgePortFlags,
    ) -> Result<()> {
        let link = link.into();
        self.request(
            msg::set_bridge_port(&link, flags)?,
            "set bridge port",
            &link,
        )
    }
}
