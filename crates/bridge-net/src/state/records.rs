//! The records: what the state holds about networks, endpoints, network
//! modes and operations under way, and the changes ([`Op`]) the journal is
//! made of. These types are the state's vocabulary in memory; how they are
//! laid out on disk is [`format`](super::format)'s business.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::options::NetworkOptions;

/// A network as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The bridge's name.
    pub bridge: String,
    /// The default network (`bridge`, on `docker0`).
    #[serde(default)]
    pub default: bool,
    /// The bridge existed before the network: it is left in place on
    /// removal.
    #[serde(default)]
    pub adopted: bool,
    /// What bridge-net changed on an adopted bridge, put back when the
    /// network is removed.
    #[serde(default, skip_serializing_if = "Restore::is_empty")]
    pub restore: Restore,
    /// The options, with the chosen subnets and gateways filled in.
    pub options: NetworkOptions,
}

/// What bridge-net changed on a bridge it did not create (docker0, a host's
/// `br0`, another plugin's `cni0`), to put back when it lets go of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    /// `net.ipv4.conf.<bridge>.route_localnet` as found, when bridge-net
    /// changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_localnet: Option<String>,
    /// Gateway addresses bridge-net added to the bridge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpNet>,
}

impl Restore {
    /// Nothing to put back.
    pub fn is_empty(&self) -> bool {
        self.route_localnet.is_none() && self.addresses.is_empty()
    }
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A published port as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortRecord {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Host address; `None`: every address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    /// First host port.
    pub host_port: u16,
    /// Last host port (same as the first for one port).
    pub host_port_end: u16,
    /// First container port.
    pub container_port: u16,
    /// Last container port.
    pub container_port_end: u16,
}

/// An endpoint (a veth on a bridge network) as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointRecord {
    /// 64 hex digits.
    pub id: String,
    /// The network's id.
    pub network: String,
    /// The container's id (shared by the endpoints of one namespace).
    pub container_id: String,
    /// The container's name.
    pub container: String,
    /// The namespace's path.
    pub netns: PathBuf,
    /// The namespace's inode (nsfs inodes are reused once a namespace is
    /// gone: with the device and the cookie, its identity).
    pub netns_ino: u64,
    /// The device of the namespace's nsfs file (0: not recorded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub netns_dev: u64,
    /// The namespace's cookie (`SO_NETNS_COOKIE`, Linux 5.14+): unique for
    /// the boot, never reused. `None`: not known (older kernel, older
    /// record, or a namespace bridge-net never opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_cookie: Option<u64>,
    /// The change time of the namespace's nsfs inode, nanoseconds since
    /// the epoch (0: not recorded): while it is unchanged, so is the
    /// namespace, and the cookie need not be read (see
    /// [`NsIdentity`](crate::plan::NsIdentity)).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub netns_ctime: u64,
    /// Interface name inside the namespace.
    pub ifname: String,
    /// Host end of the veth.
    pub host_veth: String,
    /// MAC of the interface.
    pub mac: String,
    /// IPv4 address with the network's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Net>,
    /// IPv6 address with the network's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Net>,
    /// The IPv4 address came from the pool's sequence (not `--ip`).
    #[serde(default)]
    pub dynamic4: bool,
    /// The IPv6 address came from the pool's sequence (not `--ip6`).
    #[serde(default)]
    pub dynamic6: bool,
    /// This endpoint holds the namespace's default route.
    #[serde(default)]
    pub default_route: bool,
    /// Its gateway priority (Docker's `--gw-priority`; 0 by default).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub gw_priority: i32,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortRecord>,
    /// Extra names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// RFC 3339 creation time.
    pub created: String,
}

/// A container in a mode without an endpoint (host, none, container:X).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxRecord {
    /// 64 hex digits.
    pub id: String,
    /// The container's name.
    pub container: String,
    /// `host`, `none` or `container:NAME`.
    pub mode: String,
    /// The namespace's path.
    pub netns: PathBuf,
    /// The namespace's inode.
    pub netns_ino: u64,
    /// RFC 3339 creation time.
    pub created: String,
}

/// An operation in progress: written before the first kernel change, closed
/// by its result. One still open when a writer takes the lock was cut short
/// by a crash, and tells reconcile what to undo (`connect`,
/// `create_network`) or to finish (`disconnect`, `remove_network`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// 64 hex digits: the endpoint's or network's id (to be).
    pub id: String,
    /// `connect`, `create_network`, `disconnect`, `remove_network`,
    /// `publish` or `delete_links` (a batch of disconnects whose veths
    /// wait in bridge-net's link group to be deleted).
    pub kind: String,
    /// The veth that may exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_veth: Option<String>,
    /// The network's bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Whether this operation created the bridge (`Some(true)`: reconcile
    /// may delete it) or adopted one that was there (`Some(false)`: never
    /// deleted). Written only once the bridge step knows; `None` before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_created: Option<bool>,
    /// What to put back on an adopted bridge.
    #[serde(default, skip_serializing_if = "Restore::is_empty")]
    pub restore: Restore,
    /// The network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The subnets of the network being created, so that reconcile can
    /// remove the firewall rules it may have installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<IpNet>,
    /// The VXLAN device of the overlay network being created (a port of
    /// its bridge, which deleting the bridge leaves behind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<String>,
    /// The cluster store of the overlay network being created, where it
    /// was registered before the plan (a record with this intent's id is
    /// this create's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// One journal record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// A network was created.
    Network {
        /// It.
        network: NetworkRecord,
    },
    /// A network's record changed in place: its id, name, bridge and
    /// address plan the same (its upstream name servers).
    UpdateNetwork {
        /// It, as it is now.
        network: NetworkRecord,
    },
    /// A network was removed.
    RemoveNetwork {
        /// Its id.
        id: String,
    },
    /// An endpoint was connected.
    Connect {
        /// It.
        endpoint: EndpointRecord,
    },
    /// An endpoint's record changed, its network and addresses the same
    /// (the published ports of a detached endpoint).
    Update {
        /// It, as it is now.
        endpoint: EndpointRecord,
    },
    /// An endpoint was disconnected.
    Disconnect {
        /// Its id.
        id: String,
    },
    /// A container joined a mode without an endpoint.
    Sandbox {
        /// It.
        sandbox: SandboxRecord,
    },
    /// That container left.
    RemoveSandbox {
        /// Its id.
        id: String,
    },
    /// An operation began.
    Begin {
        /// What it may leave behind.
        intent: Intent,
    },
    /// An operation ended (committed or rolled back).
    End {
        /// The intent's id.
        id: String,
    },
}
