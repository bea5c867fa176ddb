#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! Docker's bridge network model as a library.
//!
//! A container runtime hands us a network namespace; [`BridgeNet::connect`]
//! gives it an `eth0` on a Linux bridge, the next address of the network's
//! pool, an IP-derived MAC, a default route through the gateway,
//! masquerade for outbound traffic, published ports and isolation from
//! other networks — what `docker0` does — with no daemon, no external
//! binary on the hot path and no process per published port.
//!
//! - Networks: the default network `bridge` (bridge `docker0`,
//!   172.17.0.0/16 or the first free default pool, created on first use)
//!   and user-defined networks (bridge `br-` + 12 hex of the id), made by
//!   [`BridgeNet::create_network`] with [`NetworkOptions`] (subnet, gateway,
//!   ip-range, aux addresses, internal, ICC, masquerade, MTU, IPv6).
//! - Endpoints: [`BridgeNet::connect`] / [`BridgeNet::disconnect`]
//!   ([`BridgeNet::disconnect_many`] for many at once: one kernel wait for
//!   all their veths), with
//!   [`ConnectOptions`] (interface name, fixed address, MAC, published
//!   ports, aliases). A namespace on two networks gets `eth0` and `eth1`,
//!   with the default route of the first.
//! - Network modes: [`BridgeNet::attach`] for host, none and
//!   `container:NAME`.
//! - State: one file in a state directory, shared safely by every process
//!   that opens it (an exclusive lock; see [`state`]). Opening reconciles
//!   the kernel with it ([`BridgeNet::reconcile`]).
//! - One shape for every change (connect, disconnect, create and remove a
//!   network): **plan** ([`plan`], a pure function of the state and the
//!   request), **apply** (the kernel steps, each pushing its undo onto one
//!   stack that any failure unwinds: nothing is left behind), **commit**
//!   (one journal record, the only writer of the state). An intent written
//!   before apply lets the next open undo or finish what a crash cut
//!   short, and never deletes a bridge bridge-net did not make.
//! - Inspect: [`BridgeNet::inspect`] returns `docker network inspect`'s
//!   shape.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "bridge-net supports Linux only: it drives Linux network namespaces, bridges, veth pairs and nf_tables"
);

mod apply;
mod batch;
mod command_lock;
mod detached;
mod dot;
mod endpoint;
mod error;
mod fault;
mod fw;
pub mod host;
mod inputs;
pub mod inspect;
mod macvlan;
mod macvlan_link;
mod network;
mod options;
mod overlay;
mod overlay_options;
pub mod plan;
mod reconcile;
mod resolver;
pub mod state;
mod sys;

use std::path::{Path, PathBuf};

use brnet_netlink::Socket;

pub use apply::DOOMED_GROUP;
pub use brnet_ipam::{DefaultPool, Order};
pub use brnet_nat::{Backend as FirewallBackend, PortSpec};
pub use command_lock::{CommandLock, LockError};
pub use detached::DetachedOptions;
pub use endpoint::{Attachment, EndpointInfo};
pub use error::{Error, Failure, FromFailure, Result, StateProblem};
pub use fault::Fault;
pub use inspect::NetworkInspect;
pub use macvlan::{Driver, MacvlanMode, MacvlanOptions, OPT_MACVLAN_MODE, OPT_PARENT};
pub use network::{Difference, Ensured, NetworkInfo};
pub use options::{
    ConnectOptions, IpamConfig, MacPolicy, NetnsRef, NetworkMode, NetworkOptions, OPT_BRIDGE_NAME,
    OPT_DNS_SERVERS, OPT_HOST_BINDING, OPT_HOST_IPV4, OPT_ICC, OPT_MASQUERADE, OPT_METRIC, OPT_MTU,
    parse_aux, parse_cidr, validate_network_name,
};
pub use overlay::{OverlayView, PENDING_RELEASES};
pub use overlay_options::{
    DEFAULT_CLUSTER, HOST_TTL, OPT_CLUSTER, OPT_VNI, OPT_VTEP, OverlayOptions,
};
pub use reconcile::{Report, VERIFIED_FILE};
pub use resolver::{
    RESOLVER_JOURNAL, RESOLVER_LOCK, RESOLVER_LOG, RESOLVER_PID, RESOLVER_SOCKET, RESOLVER_SPEC,
    ResolverCommand, spec as resolver_spec, tell as tell_resolver,
};
pub use {
    brnet_bridge, brnet_ipam, brnet_nat, brnet_netlink, brnet_netns, brnet_overlay, brnet_veth,
};

/// Where state lives unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/brnet";
/// The default network's name.
pub const DEFAULT_NETWORK: &str = "bridge";
/// The default network's bridge.
pub const DEFAULT_BRIDGE: &str = "docker0";
/// The search domain of DNS-enabled networks unless set
/// ([`NetworkOptions::dns_domain`]).
pub const DEFAULT_DNS_DOMAIN: &str = "dns.brnet";
/// The most ports the kernel allows on one bridge (`BR_MAX_PORTS - 1`).
pub const BRIDGE_PORT_LIMIT: u32 = 1023;

/// How to open a [`BridgeNet`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The state directory (default [`DEFAULT_STATE_DIR`]).
    pub state_dir: PathBuf,
    /// The firewall backend (default native nftables over netlink).
    pub firewall: FirewallBackend,
    /// The pools new networks without a subnet are carved from (default:
    /// Docker's, 172.17–31.0.0/16 then 192.168.0.0/16 in /20s).
    pub default_pools: Vec<DefaultPool>,
    /// Reconcile the kernel with the state when opening (default true).
    /// A handle that does not still keeps the firewall's verification mark
    /// ([`VERIFIED_FILE`]) moving with its own changes when the mark held
    /// as it opened, so the next reconcile need not read the rules back.
    pub reconcile: bool,
    /// The program that serves names on DNS-enabled networks (default:
    /// `brnet-dns` found next to the running program or on `PATH`).
    pub resolver: ResolverCommand,
    /// How `disconnect` deletes the veth of a namespace that lives on.
    pub veth_delete: VethDelete,
    /// Free the state in memory (every network and endpoint record) when
    /// the handle drops (default true). `false` for a program whose handle
    /// lives until it exits (`brnet`, the netavark and CNI binaries): the
    /// exit gives the memory back at once, where freeing the records one
    /// by one costs ~2M instructions at 1000 endpoints. Everything else a
    /// drop does (files, sockets, the nf_tables socket's release) is done
    /// either way.
    pub free_on_drop: bool,
}

/// How `disconnect` deletes the veth of a namespace that is still alive.
///
/// Deleting a veth makes the kernel wait for an RCU grace period (tens of
/// milliseconds, whatever the machine). A namespace that is already gone
/// takes its veth with it, asynchronously, and nothing is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VethDelete {
    /// Delete it before `disconnect` returns (the default).
    #[default]
    Wait,
    /// Take it down before `disconnect` returns — it then forwards nothing,
    /// so its address can be handed out again at once — into bridge-net's
    /// netdev group of links to delete ([`DOOMED_GROUP`]), and leave the
    /// delete to a child forked without exec, which deletes that whole
    /// group in one request (under one RCU grace period). No binary is
    /// needed. The child then keeps a copy of the handle's nf_tables
    /// socket until the handle drops (or a newer child takes over), so
    /// that its close, not the caller's, is the last and pays the kernel's
    /// wait for the removed rules: a handle keeps at most one such child.
    /// For runtimes whose teardown latency counts: Podman's and the CNI
    /// front ends use it. A namespace that is gone forks nothing.
    Background,
}

impl Config {
    /// Defaults, with state in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Config {
        Config {
            state_dir: state_dir.into(),
            firewall: FirewallBackend::Native,
            default_pools: DefaultPool::docker_defaults(),
            reconcile: true,
            resolver: ResolverCommand::Auto,
            veth_delete: VethDelete::Wait,
            free_on_drop: true,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new(DEFAULT_STATE_DIR)
    }
}

/// A handle on the bridge networks of one network namespace (the one of
/// the thread that opens it: usually the host's), with their state
/// directory.
///
/// Its netlink and nf_tables sockets stay bound to that namespace; sysctls
/// and host-port checks go through the calling thread, so use the handle
/// from threads in that same namespace. Any number of handles, in any
/// number of processes, may share a state directory.
#[derive(Debug)]
pub struct BridgeNet {
    store: state::Store,
    nl: Socket,
    fw: brnet_nat::Firewall,
    config: Config,
    fault: Option<fault::Armed>,
    /// The boot and the network namespace the firewall socket lives in
    /// (see [`reconcile::Verified`]); `None` when unknown.
    home: Option<reconcile::Home>,
    /// The state file position this handle last wrote down as verified.
    vouched: Option<(u64, u64, u64)>,
    /// `/proc/sys/net` of the handle's namespace, opened at the first
    /// connect that needs it (see `apply::Kernel::net_sysctl`).
    net_sysctl: Option<brnet_netns::sysctl::NetDir>,
    /// The newest detached child holding a copy of the nf_tables socket
    /// (a background link delete's): let go at drop, after this handle's
    /// own copy is closed (see [`sys::request_detached`]). Only the newest
    /// is kept: an older child lets go when a newer one holds a copy.
    detached: Option<sys::Release>,
}

impl BridgeNet {
    /// Open the state directory `state_dir` with the default
    /// configuration, and reconcile.
    pub fn open(state_dir: impl AsRef<Path>) -> Result<BridgeNet> {
        BridgeNet::open_with(Config::new(state_dir.as_ref()))
    }

    /// Open with `config`.
    pub fn open_with(config: Config) -> Result<BridgeNet> {
        let _span = tracing::info_span!("open", state_dir = %config.state_dir.display()).entered();
        let store = state::Store::open(&config.state_dir)?;
        let nl = Socket::new()?;
        let fw = brnet_nat::Firewall::new(config.firewall)?;
        let mut brnet = BridgeNet {
            store,
            nl,
            fw,
            config,
            fault: fault::from_env(),
            home: reconcile::Home::current(),
            vouched: None,
            net_sysctl: None,
            detached: None,
        };
        if brnet.config.reconcile {
            brnet.reconcile()?;
        } else {
            brnet.adopt_verified();
        }
        Ok(brnet)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state file.
    pub fn state_path(&self) -> &Path {
        self.store.path()
    }

    /// The host-side netlink socket (for reading the picture back).
    pub fn netlink(&mut self) -> &mut Socket {
        &mut self.nl
    }

    /// The firewall handle (for reading the ruleset back).
    pub fn firewall(&mut self) -> &mut brnet_nat::Firewall {
        &mut self.fw
    }

    /// Make the next operations fail (or crash) at `step`; see [`Fault`]
    /// (`STEP#N`: from the `N`th time on).
    /// Only with the `fault-injection` feature, for tests.
    #[cfg(feature = "fault-injection")]
    pub fn inject(&mut self, fault: Option<Fault>) {
        self.fault = fault.map(fault::Armed::new);
    }

    fn step(&self, name: &'static str) -> Result<()> {
        fault::hit(self.fault.as_ref(), name)
    }
}

impl Drop for BridgeNet {
    /// After a firewall commit that removed something, the last close of
    /// the nf_tables socket waits for the kernel's RCU grace period (about
    /// 10 ms; [`brnet_nat::Firewall::released`]): a detached child that
    /// holds a copy of it pays that, not the caller (a `brnet` or CNI
    /// process per call would otherwise wait before it can exit). The
    /// removal itself took effect at its commit; only the kernel's freeing
    /// of what was removed is left.
    fn drop(&mut self) {
        if !self.config.free_on_drop {
            // Only memory: the exit that follows takes it back whole.
            std::mem::forget(std::mem::take(&mut self.store.state));
        }
        if !self.fw.released() {
            return;
        }
        // A background link delete's child holds a copy already; if there
        // is none, one is forked to hold it, after the state is freed (a
        // handle that frees it, see `free_on_drop`): a page written after a
        // fork faults (copy on write, while the child lives), and freeing
        // the state writes all over the heap (about 50 faults at 1000
        // endpoints).
        let release = match self.detached.take() {
            Some(release) => release,
            None => {
                drop(std::mem::take(&mut self.store.state));
                let Some(Ok(fd)) = self.fw.dup_socket() else {
                    return;
                };
                match sys::close_detached(fd) {
                    Ok(release) => release,
                    Err(errno) => {
                        tracing::debug!(%errno, "could not fork to close the nf_tables socket");
                        return;
                    }
                }
            }
        };
        // Ours goes first, then the child lets go of its copy: the last one.
        if let Ok(none) = brnet_nat::Firewall::new(brnet_nat::Backend::None) {
            drop(std::mem::replace(&mut self.fw, none));
        }
        drop(release);
    }
}
