//! The crate's error type. Every variant names the object (network,
//! namespace, port, state file) and what is wrong with it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use brnet_netns::{Errno, ShowErrno};
use ipnet::IpNet;

/// What is wrong with a state file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateProblem {
    /// The file is empty or its first record is cut short.
    Truncated,
    /// A record is not valid JSON of the expected shape.
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The parser's complaint.
        detail: String,
    },
    /// Written by a newer bridge-net.
    FutureVersion {
        /// The file's version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The records contradict each other (an endpoint on a missing
    /// network, an address outside its pool, ...).
    Inconsistent {
        /// 1-based line number.
        line: usize,
        /// What contradicts what.
        detail: String,
    },
}

impl fmt::Display for StateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateProblem::Truncated => f.write_str("truncated (no complete header record)"),
            StateProblem::Malformed { line, detail } => write!(f, "line {line}: {detail}"),
            StateProblem::FutureVersion { found, supported } => write!(
                f,
                "written by a newer bridge-net (state version {found}; this build reads up to {supported})"
            ),
            StateProblem::Inconsistent { line, detail } => write!(f, "line {line}: {detail}"),
        }
    }
}

/// Everything that can go wrong in bridge-net.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No network of that name or id.
    #[error("network {name:?} not found")]
    NetworkNotFound {
        /// The name or id asked for.
        name: String,
    },
    /// No endpoint of that id.
    #[error("endpoint {id:?} not found")]
    EndpointNotFound {
        /// The id asked for.
        id: String,
    },
    /// A network exists with other settings than asked for, and has
    /// endpoints (so it cannot be made again).
    #[error(
        "network {network:?} exists with {field} {ours} (asked: {theirs}) and has {endpoints} endpoint(s)"
    )]
    NetworkChanged {
        /// The network.
        network: String,
        /// What differs (`subnet`, `bridge`, `label`, ...).
        field: &'static str,
        /// Its value in the network.
        ours: String,
        /// The value asked for.
        theirs: String,
        /// How many endpoints it has.
        endpoints: usize,
    },
    /// A network of that name exists already.
    #[error("network {name:?} already exists")]
    NetworkExists {
        /// The name.
        name: String,
    },
    /// A network name that cannot be used.
    #[error("invalid network name {name:?}: {reason}")]
    InvalidNetworkName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A network option that cannot be used.
    #[error("invalid option {option}={value:?}: {reason}")]
    InvalidOption {
        /// The option (`--subnet`, `com.docker.network.driver.mtu`, ...).
        option: String,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A subnet overlaps one that is in use.
    #[error("subnet {subnet} overlaps {other} of {owner}")]
    SubnetOverlap {
        /// The subnet asked for.
        subnet: IpNet,
        /// The one in use.
        other: IpNet,
        /// Who uses it (`network "x"`, `the host's route on eth0`).
        owner: String,
    },
    /// The network still has endpoints.
    #[error("network {name:?} has active endpoints: {}", endpoints.join(", "))]
    NetworkInUse {
        /// The network.
        name: String,
        /// Its endpoints, as `container (ifname)`.
        endpoints: Vec<String>,
    },
    /// An address decision failed (exhausted pool, address taken, ...).
    #[error("network {network:?}: {cause}")]
    Ipam {
        /// The network.
        network: String,
        /// The allocator's error.
        cause: brnet_ipam::Error,
    },
    /// The namespace is on this network already.
    #[error("{netns} is already connected to network {network:?} (as {ifname})")]
    AlreadyConnected {
        /// The network.
        network: String,
        /// The namespace.
        netns: String,
        /// Its interface on the network.
        ifname: String,
    },
    /// A host port is taken.
    #[error("port {port}/{protocol} on {host_ip} is already in use{}", by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default())]
    PortInUse {
        /// The port.
        port: u16,
        /// `tcp`, `udp` or `sctp`.
        protocol: &'static str,
        /// The host address (`0.0.0.0` for all).
        host_ip: IpAddr,
        /// Who holds it (an endpoint), when known.
        by: Option<String>,
    },
    /// No free ephemeral host port.
    #[error("no free host port for {protocol} in {first}-{last}")]
    NoFreePort {
        /// `tcp`, `udp` or `sctp`.
        protocol: &'static str,
        /// First port of the range searched.
        first: u16,
        /// Last port.
        last: u16,
    },
    /// A port spec that does not fit this network.
    #[error("network {network:?}: {reason}")]
    PortsNotAllowed {
        /// The network.
        network: String,
        /// Why (`internal networks cannot publish ports`).
        reason: &'static str,
    },
    /// The bridge has as many ports as the kernel allows.
    #[error(
        "bridge {bridge} has {limit} ports, the kernel's limit (BR_MAX_PORTS - 1): cannot connect another endpoint to network {network:?}"
    )]
    BridgeFull {
        /// The bridge.
        bridge: String,
        /// The network.
        network: String,
        /// The limit (1023).
        limit: u32,
    },
    /// `net.ipv4.ip_forward` is off and could not be turned on.
    #[error(
        "IPv4 forwarding is disabled and could not be enabled ({cause}): set net.ipv4.ip_forward=1"
    )]
    IpForward {
        /// Why it could not be set.
        cause: brnet_bridge::sysctl::Error,
    },
    /// A network mode (`container:NAME`) that names nothing known.
    #[error("network mode {mode:?}: {reason}")]
    InvalidMode {
        /// The mode.
        mode: String,
        /// Why.
        reason: String,
    },
    /// The state file cannot be used.
    #[error("state file {}: {problem}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: StateProblem,
    },
    /// Reading, writing or locking the state directory failed.
    #[error("{op} {}: {}", path.display(), ShowErrno(*errno))]
    StateIo {
        /// The operation.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The errno.
        errno: Errno,
    },
    /// A namespace could not be opened or made.
    #[error(transparent)]
    Netns(#[from] brnet_netns::Error),
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] brnet_netlink::Error),
    /// Making a veth pair failed.
    #[error(transparent)]
    Veth(#[from] brnet_veth::Error),
    /// The bridge could not be made or configured.
    #[error(transparent)]
    Bridge(#[from] brnet_bridge::Error),
    /// A sysctl failed.
    #[error(transparent)]
    Sysctl(#[from] brnet_bridge::sysctl::Error),
    /// The firewall refused a change.
    #[error(transparent)]
    Firewall(#[from] brnet_nat::Error),
    /// A port spec or firewall model error.
    #[error(transparent)]
    PortSpec(#[from] brnet_nat::PortSpecError),
    /// A firewall model error (an address outside the network, ...).
    #[error(transparent)]
    Model(#[from] brnet_nat::ModelError),
    /// The cluster store of an overlay network refused, could not be
    /// reached, or holds garbage.
    #[error("overlay network {network:?}: {cause}")]
    Cluster {
        /// The network.
        network: String,
        /// What the store (or the cluster's rules) said.
        cause: brnet_overlay::cluster::ClusterError,
    },
    /// Teardown kept going after errors; here are all of them.
    #[error("{op} {object}: {} error(s): {}", errors.len(), errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Teardown {
        /// `disconnect` or `remove network`.
        op: &'static str,
        /// The endpoint or network.
        object: String,
        /// Every error met.
        errors: Vec<Error>,
    },
    /// A failure injected by a test (feature `fault-injection`).
    #[error("injected fault at {step}")]
    Injected {
        /// The step.
        step: &'static str,
    },
}

impl Error {
    pub(crate) fn state_io(op: &'static str, path: impl Into<PathBuf>, e: &std::io::Error) -> Self {
        Error::StateIo {
            op,
            path: path.into(),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32)),
        }
    }

    pub(crate) fn option(
        option: &str,
        value: impl fmt::Display,
        reason: impl fmt::Display,
    ) -> Self {
        Error::InvalidOption {
            option: option.to_owned(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A front end's operation that bridge-net refused or failed: what was
/// being done (`connect`), on what (a network's name), and why. The CNI
/// plugin, the netavark binary and the Docker driver each carry it as their
/// `Error::Bridge`.
#[derive(Debug, thiserror::Error)]
#[error("{op} {object}: {cause}")]
pub struct Failure {
    /// The operation (`connect`, `create network`, ...).
    pub op: &'static str,
    /// Its object (a network's name, a path).
    pub object: String,
    /// The cause.
    pub cause: Box<Error>,
}

/// A front end's error type that holds a [`Failure`].
pub trait FromFailure: From<Failure> {
    /// For `map_err`: a bridge-net failure of `op` on `object`.
    fn bridge(op: &'static str, object: impl Into<String>) -> impl FnOnce(Error) -> Self {
        let object = object.into();
        move |cause| {
            Self::from(Failure {
                op,
                object,
                cause: Box::new(cause),
            })
        }
    }
}
