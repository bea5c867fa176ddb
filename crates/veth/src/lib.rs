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
//!
//! ```no_run
//! use brnet_netlink::{IfName, Socket};
//! use brnet_netns::NetnsDir;
//! use brnet_veth::{VethConfig, create};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut host = Socket::new()?;
//! let (ns, mut inside) = NetnsDir::default().create_with("c1", Socket::new)?;
//! let veth = create(&mut host, &ns, &mut inside?, &VethConfig {
//!     addresses: vec!["172.30.0.2/24".parse()?],
//!     gateways: vec!["172.30.0.1".parse()?],
//!     disable_ipv6: true,
//!     ..VethConfig::default()
//! })?;
//! println!("{} <-> {} (ifindex {} in c1)", veth.host, veth.peer, veth.peer_index);
//! # Ok(())
//! # }
//! ```

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;

use brnet_netlink::{IfName, LinkRef, MacAddr, Socket, VethSpec};
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
}

/// `veth` + 7 random hex digits, as Docker names both ends.
pub fn random_host_name() -> IfName {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    let n = h.finish() & 0x0fff_ffff;
    IfName::new(&format!("veth{n:07x}")).expect("veth + 7 hex digits is a valid interface name")
}

/// Make a veth pair for the container namespace `ns`.
///
/// `host` is a socket in the namespace the host end lives in (the bridge's);
/// `container` is a socket opened inside `ns` (for example with
/// [`Socket::open_in`], or by [`brnet_netns::NetnsDir::create_with`] when
/// the namespace is new). Requests, in order: one `RTM_NEWLINK` for the pair
/// (peer created in `ns`, named, MAC, MTU; host end on the bridge and up),
/// then in `ns`: `lo` up, the peer up, one lookup of the peer's index, each
/// address, each default route. With `disable_ipv6` the host end comes up
/// in a request of its own, after its `disable_ipv6` sysctl is written.
///
/// With `disable_ipv6`, the container namespace's
/// `net.ipv6.conf.default.disable_ipv6` is set to 1 for the instant the
/// peer is created and restored right after (so the peer is born without
/// IPv6), and the host end gets `disable_ipv6=1` before it comes up.
///
/// On failure the pair is deleted (which also removes the peer) and the
/// first error returned.
pub fn create(
    host: &mut Socket,
    ns: &Netns,
    container: &mut Socket,
    cfg: &VethConfig,
) -> Result<Veth> {
    let host_name = cfg.host_name.clone().unwrap_or_else(random_host_name);
    let default_v6 = if cfg.disable_ipv6 {
        Some(Ipv6Default::switch_off(ns)?)
    } else {
        None
    };
    let created = host.create_veth(&VethSpec {
        name: &host_name,
        peer_name: &cfg.peer_name,
        peer_netns: Some(ns.as_fd()),
        master: cfg.bridge,
        mtu: cfg.mtu,
        mac: None,
        peer_mac: cfg.peer_mac,
        up: cfg.host_up && !cfg.disable_ipv6,
        // The kernel cannot open a veth before its peer is linked, which
        // happens after both are registered: the peer comes up below.
        peer_up: false,
    });
    let restored = default_v6.map(Ipv6Default::restore).transpose();
    created?;
    let result = restored.and_then(|_| finish(host, container, &host_name, cfg));
    match result {
        Ok(peer_index) => Ok(Veth {
            host: host_name,
            peer: cfg.peer_name.clone(),
            peer_index,
        }),
        Err(e) => {
            // Deleting one end deletes both.
            let _ = host.delete_link(&host_name);
            Err(e)
        }
    }
}

fn finish(
    host: &mut Socket,
    container: &mut Socket,
    host_name: &IfName,
    cfg: &VethConfig,
) -> Result<u32> {
    if cfg.disable_ipv6 {
        write_sysctl(
            &PathBuf::from(format!("/proc/sys/net/ipv6/conf/{host_name}/disable_ipv6")),
            b"1",
        )?;
        if cfg.host_up {
            host.set_up(host_name)?;
        }
    }
    container.set_up(LinkRef::Index(1))?;
    container.set_up(&cfg.peer_name)?;
    let peer_index = container.link(&cfg.peer_name)?.index;
    for net in &cfg.addresses {
        match net {
            IpNet::V6(_) => container.add_address_nodad(peer_index, net)?,
            IpNet::V4(_) => container.add_address(peer_index, net)?,
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
        container.add_default_route(*gw)?;
    }
    Ok(peer_index)
}

/// The container namespace's `net.ipv6.conf.default.disable_ipv6`, switched
/// to 1 and remembered. The file is opened inside the namespace, and a
/// sysctl file stays bound to the namespace it was opened in, so it is
/// restored from here without entering again.
struct Ipv6Default {
    file: File,
    old: Vec<u8>,
}

const V6_DEFAULT: &str = "/proc/sys/net/ipv6/conf/default/disable_ipv6";

impl Ipv6Default {
    fn switch_off(ns: &Netns) -> Result<Ipv6Default> {
        let path = PathBuf::from(V6_DEFAULT);
        let err = |op, e: std::io::Error| Error::Sysctl {
            op,
            path: path.clone(),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        };
        let guard = ns.enter()?;
        let opened = File::options().read(true).write(true).open(V6_DEFAULT);
        guard.exit()?;
        let mut file = opened.map_err(|e| err("open", e))?;
        let mut old = Vec::with_capacity(4);
        file.read_to_end(&mut old).map_err(|e| err("read", e))?;
        if old.first() != Some(&b'1') {
            // A sysctl write must start at offset 0 (writes at an offset are
            // ignored under the default `kernel.sysctl_writes_strict`).
            file.rewind()
                .and_then(|()| file.write_all(b"1"))
                .map_err(|e| err("write", e))?;
        }
        Ok(Ipv6Default { file, old })
    }

    fn restore(mut self) -> Result<()> {
        if self.old.first() == Some(&b'1') {
            return Ok(());
        }
        let path = PathBuf::from(V6_DEFAULT);
        self.file
            .rewind()
            .and_then(|()| self.file.write_all(&self.old))
            .map_err(|e| Error::Sysctl {
                op: "write",
                path,
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            })
    }
}

fn write_sysctl(path: &PathBuf, value: &[u8]) -> Result<()> {
    std::fs::write(path, value).map_err(|e| Error::Sysctl {
        op: "write",
        path: path.clone(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    })
}

/// Delete a pair by its host end (the peer goes with it). `Ok(false)` when
/// it was already gone.
pub fn delete(host: &mut Socket, host_name: &IfName) -> Result<bool> {
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
