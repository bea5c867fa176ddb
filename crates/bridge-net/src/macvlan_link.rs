//! The kernel steps of a macvlan endpoint (see [`crate::macvlan`] for the
//! network model): the parent a network without one takes, the link made
//! and configured inside the container, and its deletion.

use std::path::Path;

use brnet_netlink::{IfName, LinkRef, MacAddr, MacvlanSpec, Socket};
use brnet_netns::{Errno, Netns};
use brnet_veth::Container;
use ipnet::IpNet;

use crate::error::{Error, Result};
use crate::macvlan::{MacvlanMode, OPT_PARENT};
use crate::plan::EndpointPlan;

/// The link of the host's IPv4 default route (else IPv6's), for a macvlan
/// network without a parent: what netavark and Docker pick.
pub(crate) fn default_route_link(nl: &mut Socket) -> Result<String> {
    for family in [brnet_netlink::Family::V4, brnet_netlink::Family::V6] {
        let routes = nl.routes(family)?;
        if let Some(oif) = routes.iter().filter(|r| r.is_default()).find_map(|r| r.oif) {
            return Ok(nl.link(LinkRef::Index(oif))?.name);
        }
    }
    Err(Error::option(
        OPT_PARENT,
        "",
        "no parent given and the host has no default route to take one from",
    ))
}

/// What [`create`] made: whether `lo` was brought up, and the macvlan's
/// MAC as the kernel has it (a passthru macvlan has its parent's).
#[derive(Debug)]
pub(crate) struct Made {
    pub(crate) lo_raised: bool,
    pub(crate) mac: MacAddr,
}

/// Make the endpoint's macvlan of `parent` in mode `mode`, straight inside
/// the container (its name is only ever taken there), and configure it
/// there: IPv6 autoconfiguration off (the LAN's router advertisements are
/// not for it), IPv6 off altogether without an IPv6 address, `lo` and the
/// link up, addresses, default routes. One step: on failure the link is
/// deleted (and `lo` put back) before the error is returned.
pub(crate) fn create(
    host: &mut Socket,
    plan: &EndpointPlan,
    parent: &IfName,
    mode: MacvlanMode,
    name: &IfName,
    inside: &mut Container,
) -> Result<Made> {
    let parent_link = match host.link(parent) {
        Ok(l) => l,
        Err(e) if e.is_not_found() => {
            return Err(Error::option(
                OPT_PARENT,
                parent,
                format!("no such link: the parent of network {:?}", plan.network),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let spec = MacvlanSpec {
        name,
        parent: parent_link.index,
        mode: mode.kernel(),
        netns: Some(std::os::fd::AsFd::as_fd(inside.netns())),
        mtu: plan.mtu,
        // A passthru macvlan takes the parent's MAC whatever is asked.
        mac: (mode != MacvlanMode::Passthru).then_some(plan.mac),
        up: false,
    };
    let taken = || {
        Error::option(
            "interface name",
            name,
            "a link of that name exists in the container's namespace already",
        )
    };
    match host.create_macvlan(&spec) {
        Ok(()) => {}
        Err(e) if e.errno() == Some(Errno::EEXIST) && host.link(name).is_ok() => {
            // Older kernels (Debian 12's 6.1; not 6.18) look the name of
            // a new link up in the sender's namespace before the one it is
            // made in: the host's own eth0 answers EEXIST. Made there
            // under a name free on the host, then renamed inside.
            let tmp = IfName::new(&format!("mvtmp{}", tmp_suffix(spec.mac)))?;
            let made = host.create_macvlan(&MacvlanSpec {
                name: &tmp,
                ..spec.clone()
            });
            made.and_then(|()| rename_inside(inside, &tmp, name))
                .map_err(|e| {
                    if e.errno() == Some(Errno::EEXIST) {
                        taken()
                    } else {
                        e.into()
                    }
                })?;
        }
        Err(e) if e.errno() == Some(Errno::EEXIST) => return Err(taken()),
        Err(e) => return Err(e.into()),
    }
    let mut lo_raised = false;
    match configure(plan, name, inside, &mut lo_raised) {
        Ok(mac) => Ok(Made { lo_raised, mac }),
        Err(e) => {
            let _ = inside.socket().delete_link_if_exists(name);
            if lo_raised {
                let _ = brnet_veth::lower_lo(inside);
            }
            Err(e)
        }
    }
}

/// Rename the macvlan made as `tmp` to `name` inside the container;
/// when that fails, delete it again.
fn rename_inside(inside: &mut Container, tmp: &IfName, name: &IfName) -> brnet_netlink::Result<()> {
    let nl = inside.socket();
    let renamed = nl
        .links()
        .and_then(|links| {
            links
                .iter()
                .find(|l| l.name == tmp.as_str())
                .map(|l| l.index)
                .ok_or_else(|| brnet_netlink::Error::NotFound {
                    what: "link",
                    object: tmp.to_string(),
                })
        })
        .and_then(|index| nl.rename(index, name));
    if renamed.is_err() {
        let _ = nl.delete_link_if_exists(LinkRef::Name(tmp.clone()));
    }
    renamed
}

/// Eight hex digits that tell an endpoint's temporary name (`mvtmp` and
/// them, free on the host) apart: the MAC's last four bytes (the plan's
/// MAC is unique among live endpoints), or the process id and a counter.
fn tmp_suffix(mac: Option<MacAddr>) -> String {
    match mac {
        Some(m) => {
            let o = m.octets();
            format!("{:02x}{:02x}{:02x}{:02x}", o[2], o[3], o[4], o[5])
        }
        None => {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!(
                "{:08x}",
                std::process::id().wrapping_mul(0x10000).wrapping_add(n)
            )
        }
    }
}

fn configure(
    plan: &EndpointPlan,
    name: &IfName,
    inside: &mut Container,
    lo_raised: &mut bool,
) -> Result<MacAddr> {
    // The link's IPv6 sysctls, written from inside (a /proc/sys/net file is
    // the namespace's of whoever opens it), before it comes up.
    let autoconf = format!("/proc/sys/net/ipv6/conf/{name}/autoconf");
    let guard = inside.netns().enter()?;
    let written = write_if_there(&autoconf, "0").and_then(|()| {
        if plan.disable_ipv6 {
            brnet_netns::sysctl::ipv6_off(name.as_str())
                .map(drop)
                .map_err(Error::from)
        } else {
            Ok(())
        }
    });
    guard.exit();
    written?;
    let nl = inside.socket();
    let links = nl.links()?;
    let link = links
        .iter()
        .find(|l| l.name == name.as_str())
        .ok_or_else(|| brnet_netlink::Error::NotFound {
            what: "link",
            object: name.to_string(),
        })?;
    let (index, mac) = (link.index, link.mac.unwrap_or(plan.mac));
    if links.iter().any(|l| l.index == 1 && !l.is_up()) {
        nl.set_up(LinkRef::Index(1))?;
        *lo_raised = true;
    }
    nl.set_up(LinkRef::Index(index))?;
    for a in &plan.addresses {
        match a {
            IpNet::V6(_) => nl.add_address_nodad(index, a)?,
            IpNet::V4(_) => nl.add_address(index, a)?,
        }
    }
    for r in &plan.routes {
        nl.add_route(&brnet_netlink::RouteSpec {
            dst: Some(r.dst),
            gateway: Some(r.via),
            oif: None,
            metric: r.metric,
        })?;
    }
    Ok(mac)
}

/// Write a sysctl unless the kernel has none of that name (no IPv6).
fn write_if_there(path: &str, value: &str) -> Result<()> {
    if !Path::new(path).exists() {
        return Ok(());
    }
    brnet_bridge::sysctl::write(path, value).map_err(Error::from)
}

/// Delete an endpoint's macvlan `name` inside the namespace at `netns`
/// (already gone: fine).
pub(crate) fn delete(netns: &Path, name: &str) -> Result<()> {
    let ns = match Netns::open_path(netns) {
        Ok(ns) => ns,
        Err(e) if e.errno() == Some(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut nl = Socket::open_in(&ns)?;
    nl.delete_link_if_exists(LinkRef::Name(IfName::new(name)?))?;
    Ok(())
}
