#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! veth pairs for containers.
//!
//! [`create`] makes a pair whose host end (named `veth` + 7 hex digits unless
//! told otherwise) sits on a bridge and whose peer is created directly inside
//! the container's namespace (`IFLA_NET_NS_FD` on the peer: no move, no
//! rename), named `eth0` (or as asked), with its MAC and MTU, then configures
//! the peer: `lo` up, addresses, default routes. With
//! [`VethConfig::disable_ipv6`], neither end ever starts IPv6 (no link-local
//! address, no DAD, no MLD), which is what keeps attaching the thousandth
//! container to a bridge as cheap as the first.
//!
//! If anything fails midway, the pair is deleted and the first error is
//! returned: nothing is left behind.

#[cfg(not(target_os = "linux"))]
compile_error!("brnet-veth supports Linux only: it makes Linux veth pairs over rtnetlink");

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;

use brnet_netlink::{IfName, LinkRef, MacAddr, Socket, VethSpec};
use brnet_netns::sysctl::{Ipv6Off, NetDir};
use brnet_netns::{Errno, Netns, ShowErrno};
use ipnet::IpNet;

pub use brnet_netlink;

/// Everything that can go wrong making a veth pair.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] brnet_netlink::Error),
    /// Entering the container's namespace failed.
    #[error(transparent)]
    Netns(#[from] brnet_netns::Error),
    /// A sysctl could not be read or written.
    #[error("{op} {}: {}", path.display(), ShowErrno(*errno))]
    Sysctl {
        /// `read` or `write`.
        op: &'static str,
        /// The sysctl's path.
        path: PathBuf,
        /// The errno.
        errno: Errno,
    },
    /// Turning IPv6 off on the host end failed.
    #[error(transparent)]
    Ipv6Off(#[from] brnet_netns::sysctl::Error),
    /// An address and a gateway of different families, or a gateway with no
    /// address of its family on the peer.
    #[error("gateway {gateway} has no address of its family on {peer}")]
    GatewayFamily {
        /// The gateway.
        gateway: IpAddr,
        /// The peer's name.
        peer: IfName,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to make a pair.
#[derive(Debug, Clone)]
pub struct VethConfig {
    /// Name of the host end; `None`: `veth` + 7 random hex digits, as Docker.
    pub host_name: Option<IfName>,
    /// Name of the peer inside the container (default `eth0`).
    pub peer_name: IfName,
    /// Index of the bridge the host end joins.
    pub bridge: Option<u32>,
    /// MTU of both ends (kernel default 1500 when `None`).
    pub mtu: Option<u32>,
    /// MAC of the peer (kernel-random when `None`).
    pub peer_mac: Option<MacAddr>,
    /// Addresses of the peer, with their prefix.
    pub addresses: Vec<IpNet>,
    /// Default routes of the peer, one per family at most.
    pub gateways: Vec<IpAddr>,
    /// The default routes' metric (`None`: the kernel's, 0 for IPv4 and
    /// 1024 for IPv6).
    pub metric: Option<u32>,
    /// Keep IPv6 off on both ends (for IPv4-only endpoints).
    pub disable_ipv6: bool,
    /// Bring the host end up (default true).
    pub host_up: bool,
}

impl Default for VethConfig {
    fn default() -> Self {
        VethConfig {
            host_name: None,
            peer_name: IfName::new("eth0").expect("\"eth0\" is a valid interface name"),
            bridge: None,
            mtu: None,
            peer_mac: None,
            addresses: Vec::new(),
            gateways: Vec::new(),
            metric: None,
            disable_ipv6: false,
            host_up: true,
        }
    }
}

/// A pair that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veth {
    /// The host end's name.
    pub host: IfName,
    /// The peer's name, in the container's namespace.
    pub peer: IfName,
    /// The peer's interface index, in the container's namespace.
    pub peer_index: u32,
    /// Whether `create` brought the container's `lo` up (it was down):
    /// a caller undoing the pair undoes that with [`lower_lo`].
    pub lo_raised: bool,
}

/// `veth` + 7 random hex digits, as Docker names both ends.
pub fn random_host_name() -> IfName {
    let n = u32::from_ne_bytes(brnet_netns::random_bytes::<4>()) & 0x0fff_ffff;
    IfName::new(&format!("veth{n:07x}")).expect("veth + 7 hex digits is a valid interface name")
}

/// What is needed to configure links inside a container's namespace: a
/// handle on the namespace, a netlink socket bound to it, and its
/// `net.ipv6.conf.default.disable_ipv6` sysctl file (a sysctl file stays
/// bound to the namespace it was opened in).
///
/// Opening takes one visit to the namespace; after that the container is
/// configured from any thread without entering it again.
#[derive(Debug)]
pub struct Container {
    ns: Netns,
    socket: Socket,
    ipv6_default: Option<File>,
}

const V6_DEFAULT: &str = "/proc/sys/net/ipv6/conf/default/disable_ipv6";

impl Container {
    /// Open `ns` for configuration. The calling thread enters the namespace
    /// for the duration of two `open`s (a netlink socket and one sysctl
    /// file) and is back in its own namespace before this returns, errors
    /// included; no other code runs while it is inside.
    pub fn open(ns: &Netns) -> Result<Container> {
        let guard = ns.enter()?;
        let opened = Container::here_with(ns.try_clone());
        guard.exit();
        opened
    }

    /// Open the calling thread's current namespace for configuration: for
    /// use inside [`brnet_netns::NetnsDir::create_with`], where the thread
    /// is already in the new namespace.
    pub fn here() -> Result<Container> {
        Container::here_with(Netns::current())
    }

    fn here_with(ns: brnet_netns::Result<Netns>) -> Result<Container> {
        let ns = ns?;
        let socket = Socket::new()?;
        // Absent when the kernel runs without IPv6: nothing to disable then.
        // Opened where its lookup does not walk past every namespace on the
        // machine that ever had an IPv6 sysctl looked up (this one never
        // had): see `open_net_file`.
        let ipv6_default =
            brnet_netns::sysctl::open_net_file("ipv6/conf/default/disable_ipv6", true).ok();
        Ok(Container {
            ns,
            socket,
            ipv6_default,
        })
    }

    /// The container's namespace.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// The netlink socket bound to the container's namespace.
    pub fn socket(&mut self) -> &mut Socket {
        &mut self.socket
    }

    /// Set the namespace's IPv6 default to off, returning what to write
    /// back (`None`: nothing changed).
    fn ipv6_default_off(&mut self) -> Result<Option<u8>> {
        let Some(file) = self.ipv6_default.as_mut() else {
            return Ok(None);
        };
        let mut old = [0u8; 1];
        file.rewind()
            .and_then(|()| file.read(&mut old))
            .map_err(|e| sysctl_error("read", V6_DEFAULT, &e))?;
        if old[0] == b'1' {
            return Ok(None);
        }
        // A sysctl write must start at offset 0 (writes at an offset are
        // ignored under the default `kernel.sysctl_writes_strict`).
        file.rewind()
            .and_then(|()| file.write_all(b"1"))
            .map_err(|e| sysctl_error("write", V6_DEFAULT, &e))?;
        Ok(Some(old[0]))
    }

    fn ipv6_default_restore(&mut self, old: u8) -> Result<()> {
        let Some(file) = self.ipv6_default.as_mut() else {
            return Ok(());
        };
        file.rewind()
            .and_then(|()| file.write_all(&[old]))
            .map_err(|e| sysctl_error("write", V6_DEFAULT, &e))
    }
}

fn sysctl_error(op: &'static str, path: &str, e: &std::io::Error) -> Error {
    Error::Sysctl {
        op,
        path: PathBuf::from(path),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    }
}

/// Make a veth pair into `container`'s namespace.
///
/// `host` is a socket in the namespace the host end lives in (the
/// bridge's). Requests, in order: one `RTM_NEWLINK` for the pair (peer
/// created inside the container, named, MAC, MTU; host end on the bridge
/// and up), then inside: one dump of the container's links (the kernel
/// picks the peer's index and does not report it, and ignores an index
/// asked for a peer created in another namespace; the dump also tells
/// whether `lo` is up), `lo` up if it was down, the peer up, each address,
/// each default route.
///
/// With `disable_ipv6`, the container namespace's
/// `net.ipv6.conf.default.disable_ipv6` is 1 for the instant the peer is
/// created and restored right after (so the peer is born without IPv6), and
/// the host end gets its own `disable_ipv6=1` before it comes up, in a
/// request of its own.
///
/// On failure the pair is deleted (which also removes the peer) and the
/// first error returned.
///
/// The host end's `disable_ipv6` is opened by its path from `/proc/sys`
/// of the calling thread's namespace; a caller making many pairs opens
/// that namespace's [`NetDir`] once and calls [`create_with`].
pub fn create(host: &mut Socket, container: &mut Container, cfg: &VethConfig) -> Result<Veth> {
    create_with(host, None, container, cfg)
}

/// [`create`], with the host end's `disable_ipv6` written below
/// `host_sysctl`, the host namespace's `/proc/sys/net` opened already
/// (`None`: by its path, as [`create`]). The walk from `/proc/sys` costs
/// the kernel one comparison per namespace on the machine that ever had a
/// sysctl looked up (see [`NetDir`]); below an open `NetDir`, it costs the
/// same with a thousand containers as with one.
pub fn create_with(
    host: &mut Socket,
    host_sysctl: Option<&NetDir>,
    container: &mut Container,
    cfg: &VethConfig,
) -> Result<Veth> {
    let _span = tracing::debug_span!(
        "veth_create",
        host = cfg.host_name.as_ref().map_or("(random)", |n| n.as_str()),
        peer = %cfg.peer_name
    )
    .entered();
    let host_name = cfg.host_name.clone().unwrap_or_else(random_host_name);
    let restore = if cfg.disable_ipv6 {
        container.ipv6_default_off()?
    } else {
        None
    };
    let spec = VethSpec {
        name: &host_name,
        peer_name: &cfg.peer_name,
        peer_netns: Some(container.ns.as_fd()),
        master: cfg.bridge,
        mtu: cfg.mtu,
        mac: None,
        peer_mac: cfg.peer_mac,
        up: cfg.host_up && !cfg.disable_ipv6,
        // The kernel cannot open a veth before its peer is linked, which
        // happens after both are registered: the peer comes up below.
        peer_up: false,
    };
    let created = host.create_veth(&spec);
    let restored = match restore {
        Some(old) => container.ipv6_default_restore(old),
        None => Ok(()),
    };
    created?;
    let mut lo_raised = false;
    let result = restored.and_then(|()| {
        finish(
            host,
            host_sysctl,
            container,
            &host_name,
            cfg,
            &mut lo_raised,
        )
    });
    match result {
        Ok(peer_index) => Ok(Veth {
            host: host_name,
            peer: cfg.peer_name.clone(),
            peer_index,
            lo_raised,
        }),
        Err(e) => {
            // Deleting one end deletes both.
            let _ = host.delete_link(&host_name);
            if lo_raised {
                let _ = lower_lo(container);
            }
            Err(e)
        }
    }
}

fn finish(
    host: &mut Socket,
    host_sysctl: Option<&NetDir>,
    container: &mut Container,
    host_name: &IfName,
    cfg: &VethConfig,
    lo_raised: &mut bool,
) -> Result<u32> {
    if cfg.disable_ipv6 {
        let off = match host_sysctl {
            Some(dir) => dir.ipv6_off(host_name.as_str()),
            None => brnet_netns::sysctl::ipv6_off(host_name.as_str()),
        };
        match off? {
            Ipv6Off::Off | Ipv6Off::NoIpv6 => {
                if cfg.host_up {
                    host.set_up(host_name)?;
                }
            }
            // A read-only /proc (a container runtime's sandbox): no
            // link-local address then, which spares DAD and MLD all the
            // same, over netlink.
            Ipv6Off::LeftOn => {
                host.change_link(
                    host_name,
                    &brnet_netlink::LinkChange {
                        up: cfg.host_up.then_some(true),
                        addr_gen_mode_none: true,
                        ..brnet_netlink::LinkChange::default()
                    },
                )?;
            }
        }
    }
    let nl = &mut container.socket;
    // One dump tells both the peer's index and whether `lo` is up already.
    let links = nl.links()?;
    let peer_index = links
        .iter()
        .find(|l| l.name == cfg.peer_name.as_str())
        .map(|l| l.index)
        .ok_or_else(|| brnet_netlink::Error::NotFound {
            what: "link",
            object: cfg.peer_name.to_string(),
        })?;
    if links.iter().any(|l| l.index == LO_INDEX && !l.is_up()) {
        nl.set_up(LinkRef::Index(LO_INDEX))?;
        *lo_raised = true;
    }
    nl.set_up(LinkRef::Index(peer_index))?;
    for net in &cfg.addresses {
        match net {
            IpNet::V6(_) => nl.add_address_nodad(peer_index, net)?,
            IpNet::V4(_) => nl.add_address(peer_index, net)?,
        }
    }
    for gw in &cfg.gateways {
        if !cfg
            .addresses
            .iter()
            .any(|a| a.addr().is_ipv4() == gw.is_ipv4())
        {
            return Err(Error::GatewayFamily {
                gateway: *gw,
                peer: cfg.peer_name.clone(),
            });
        }
        nl.add_default_route_with_metric(*gw, cfg.metric)?;
    }
    Ok(peer_index)
}

/// `lo`'s index in every namespace.
const LO_INDEX: u32 = 1;

/// Put `lo` back the way a fresh namespace has it (down, no address),
/// undoing the `lo` up of a [`create`] whose [`Veth::lo_raised`] is set.
pub fn lower_lo(container: &mut Container) -> Result<()> {
    let nl = &mut container.socket;
    nl.set_down(LinkRef::Index(LO_INDEX))?;
    let lo_addr: IpNet = IpNet::V4(
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::LOCALHOST, 8).map_err(|_| {
            brnet_netlink::Error::NotFound {
                what: "address",
                object: "127.0.0.1/8".into(),
            }
        })?,
    );
    match nl.delete_address(LO_INDEX, &lo_addr) {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}

/// Delete a pair by its host end (the peer goes with it). `Ok(false)` when
/// it was already gone.
pub fn delete(host: &mut Socket, host_name: &IfName) -> Result<bool> {
    let _span = tracing::debug_span!("veth_delete", host = %host_name).entered();
    Ok(host.delete_link_if_exists(host_name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_look_like_dockers() {
        let a = random_host_name();
        assert_eq!(a.as_str().len(), 11);
        assert!(a.as_str().starts_with("veth"));
        assert!(a.as_str()[4..].chars().all(|c| c.is_ascii_hexdigit()));
        let b = random_host_name();
        assert_ne!(a, b);
    }

    #[test]
    fn default_peer_is_eth0() {
        assert_eq!(VethConfig::default().peer_name.as_str(), "eth0");
        assert!(VethConfig::default().host_up);
    }
}
