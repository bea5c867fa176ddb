//! The crate's errors: model errors (bad input, nothing touched) and
//! firewall errors (an operation that failed; nothing was changed).

use std::net::IpAddr;

use brnet_netns::Errno;

use crate::port::PortMapping;
use brnet_netlink::{IfName, IfNameProblem};

/// An errno shown the way this project shows kernel errors:
/// `file exists (EEXIST)` (brnet-netns's, the one home of it).
pub use brnet_netns::ShowErrno;

/// Input that does not make a valid model. Nothing was sent to the kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A bridge name we do not accept.
    #[error("invalid bridge name {name:?}: {problem}")]
    InvalidBridgeName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: IfNameProblem,
    },
    /// A table name we do not accept.
    #[error(
        "invalid nftables table name {name:?}: 1 to 64 ASCII letters, digits, '_' or '-', starting with a letter"
    )]
    InvalidTableName {
        /// The name given.
        name: String,
    },
    /// A network with neither an IPv4 nor an IPv6 subnet.
    #[error("network on {bridge}: no subnet given")]
    NoSubnet {
        /// The network's bridge.
        bridge: IfName,
    },
    /// A fixed SNAT source for a family the network has no subnet of.
    #[error(
        "network on {bridge}: SNAT source {addr} given, but the network has no subnet of that family"
    )]
    SnatWithoutSubnet {
        /// The network's bridge.
        bridge: IfName,
        /// The source address given.
        addr: IpAddr,
    },
    /// An operation on a network the model does not have.
    #[error("no network on bridge {bridge}")]
    UnknownNetwork {
        /// The bridge asked for.
        bridge: IfName,
    },
    /// A subnet that would cover every address (`/0`).
    #[error("network on {bridge}: subnet {subnet} is too broad")]
    SubnetTooBroad {
        /// The network's bridge.
        bridge: IfName,
        /// The subnet.
        subnet: ipnet::IpNet,
    },
    /// An endpoint or a mapping address outside the network's subnets.
    #[error("address {addr} is not in a subnet of the network on {bridge}")]
    AddressNotInNetwork {
        /// The address.
        addr: IpAddr,
        /// The network's bridge.
        bridge: IfName,
    },
    /// Published ports on an internal network.
    #[error("network on {bridge} is internal: it cannot publish {mapping}")]
    PortsOnInternalNetwork {
        /// The network's bridge.
        bridge: IfName,
        /// The first mapping asked for.
        mapping: PortMapping,
    },
    /// A mapping to an address the endpoint does not have.
    #[error("port mapping {mapping} is not for one of the endpoint's addresses {addrs:?}")]
    PortNotForEndpoint {
        /// The mapping.
        mapping: PortMapping,
        /// The endpoint's addresses.
        addrs: Vec<IpAddr>,
    },
    /// An endpoint with no address, or two of one family.
    #[error("an endpoint has one or two addresses, at most one per family, not {addrs:?}")]
    EndpointAddresses {
        /// The addresses given.
        addrs: Vec<IpAddr>,
    },
    /// The same host port (protocol, address, port) mapped to two targets.
    #[error("port mappings {first} and {second} claim the same host port")]
    DuplicateHostPort {
        /// The first claim.
        first: PortMapping,
        /// The clashing one.
        second: PortMapping,
    },
}

/// A firewall operation that failed. The operation was one transaction:
/// when it fails, nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was rejected before anything was sent.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The kernel rejected a message of the transaction; the whole
    /// transaction was rolled back.
    #[error("{op}: {object}: {}{}", ShowErrno(*errno), message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kernel {
        /// The firewall operation (`install network br0`, `add ports on br0`).
        op: String,
        /// The message that failed (`add chain inet brnet fwd_in_br0`).
        object: String,
        /// The kernel's answer.
        errno: Errno,
        /// The kernel's extended-ack text, when it gave one.
        message: Option<String>,
    },
    /// A socket call failed.
    #[error("{op}: {object}: {}", ShowErrno(*errno))]
    Socket {
        /// What we were doing (`open`, `send`, `receive`).
        op: &'static str,
        /// What we were doing it to (`NETLINK_NETFILTER socket`).
        object: String,
        /// The errno.
        errno: Errno,
    },
    /// A reply we could not make sense of.
    #[error("{op}: unexpected reply from the kernel: {detail}")]
    Protocol {
        /// The firewall operation.
        op: String,
        /// What was wrong.
        detail: String,
    },
    /// A message too big for netlink's 16-bit attribute lengths.
    #[error("{what} does not fit in a netlink attribute ({len} bytes)")]
    TooLarge {
        /// What we were encoding.
        what: String,
        /// Its size.
        len: usize,
    },
    /// A transaction bigger than the netlink socket can send at once (it
    /// must go in one `send` to be one transaction). Unprivileged,
    /// `net.core.wmem_max` caps the send buffer. Nothing was sent.
    #[error(
        "{op}: the transaction is {len} bytes, more than the {max} bytes the netlink socket can send at once (raise net.core.wmem_max, or run with CAP_NET_ADMIN in the initial user namespace)"
    )]
    BatchTooLarge {
        /// The firewall operation.
        op: String,
        /// The transaction's size.
        len: usize,
        /// The most the socket takes.
        max: usize,
    },
    /// A message could not be encoded (a bug: our messages are fixed shapes).
    #[error("cannot encode {what}: {detail}")]
    Encode {
        /// What we were encoding.
        what: String,
        /// neli's complaint.
        detail: String,
    },
    /// An external program (`nft`, `iptables-restore`) could not be started.
    #[error("{op}: start {program}: {}", ShowErrno(*errno))]
    Spawn {
        /// The firewall operation.
        op: String,
        /// The program.
        program: &'static str,
        /// The errno.
        errno: Errno,
    },
    /// An external program failed; nothing it was asked to do was applied.
    #[error("{op}: {program} exited with {status}: {stderr}")]
    Command {
        /// The firewall operation.
        op: String,
        /// The program.
        program: &'static str,
        /// Its exit status (`exit status: 1`).
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

impl Error {
    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Kernel { errno, .. }
            | Error::Socket { errno, .. }
            | Error::Spawn { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_name_op_object_and_errno() {
        let e = Error::Kernel {
            op: "add ports on br0".into(),
            object: "add 2 elements to map inet brnet ports4".into(),
            errno: Errno::EEXIST,
            message: None,
        };
        assert_eq!(
            e.to_string(),
            "add ports on br0: add 2 elements to map inet brnet ports4: file exists (EEXIST)"
        );
        assert_eq!(e.errno(), Some(Errno::EEXIST));
    }
}
