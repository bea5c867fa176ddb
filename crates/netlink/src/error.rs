//! The crate's error type: every failure names the operation and the object.

use std::fmt;

use brnet_netns::{Errno, ShowErrno};

use crate::transport::Failure;

/// Why an interface name was rejected (before any system call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than 15 bytes (`IFNAMSIZ - 1`).
    TooLong,
    /// The name is `.` or `..`.
    Dot,
    /// The name contains `/`.
    Slash,
    /// The name contains `:` (reserved for legacy aliases).
    Colon,
    /// The name contains whitespace.
    Whitespace,
    /// The name contains a NUL byte.
    Nul,
    /// A character other than ASCII letters, digits, `_`, `-` and `.`,
    /// where a name is written into firewall rules and scripts (see
    /// [`crate::IfName::check_plain`]).
    NotPlain(char),
}

impl fmt::Display for IfNameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IfNameProblem::Empty => "must not be empty",
            IfNameProblem::TooLong => "must be at most 15 bytes (IFNAMSIZ)",
            IfNameProblem::Dot => "must not be '.' or '..'",
            IfNameProblem::Slash => "must not contain '/'",
            IfNameProblem::Colon => "must not contain ':'",
            IfNameProblem::Whitespace => "must not contain whitespace",
            IfNameProblem::Nul => "must not contain a NUL byte",
            IfNameProblem::NotPlain(c) => {
                return write!(
                    f,
                    "has {c:?}: only ASCII letters, digits, '_', '-' and '.' are allowed here"
                );
            }
        })
    }
}

/// Everything that can go wrong talking rtnetlink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused a request.
    #[error("{op} {object}: {}{}", ShowErrno(*errno), ExtAck(message.as_deref()))]
    Kernel {
        /// The operation (`create link`, `add address`, ...).
        op: &'static str,
        /// The object it was applied to (a link name, an address, ...).
        object: String,
        /// The kernel's errno.
        errno: Errno,
        /// The kernel's extended-ack message, when it sent one.
        message: Option<String>,
    },
    /// An interface name failed validation; nothing was sent.
    #[error("invalid interface name {name:?}: {problem}")]
    InvalidIfName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        problem: IfNameProblem,
    },
    /// A MAC address failed validation.
    #[error("invalid MAC address {value:?}: {problem}")]
    InvalidMac {
        /// The rejected text or address.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A lookup found nothing.
    #[error("{what} {object} not found")]
    NotFound {
        /// What was looked up (`link`, `address`, `route`).
        what: &'static str,
        /// The name, index or address asked for.
        object: String,
    },
    /// The netlink socket itself failed (socket, bind, send, recv).
    #[error("netlink socket: {op}: {}", ShowErrno(*errno))]
    Socket {
        /// `socket`, `bind`, `send` or `recv`.
        op: &'static str,
        /// The errno.
        errno: Errno,
    },
    /// The kernel's reply could not be parsed.
    #[error("{op} {object}: malformed netlink reply: {detail}")]
    Decode {
        /// The operation whose reply was malformed.
        op: &'static str,
        /// Its object.
        object: String,
        /// What was wrong.
        detail: String,
    },
    /// A message could not be encoded (a value too large for its field).
    #[error("encode {what}: {detail}")]
    Encode {
        /// The message or attribute.
        what: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Entering or opening a namespace failed.
    #[error(transparent)]
    Netns(#[from] brnet_netns::Error),
    /// The transport failed otherwise: replies dropped (outcome unknown),
    /// a reply it could not parse, a dump the data kept changing under, a
    /// message too large to send.
    #[error("{op} {object}: {failure}")]
    Transport {
        /// The operation.
        op: &'static str,
        /// Its object.
        object: String,
        /// What went wrong.
        failure: Failure,
    },
}

impl Error {
    /// An operation's transport failure: a refusal is [`Error::Kernel`], a
    /// failed socket call [`Error::Socket`], the rest [`Error::Transport`].
    pub fn transport(op: &'static str, object: &dyn fmt::Display, failure: Failure) -> Error {
        match failure {
            Failure::Refused { errno, message, .. } => Error::Kernel {
                op,
                object: object.to_string(),
                errno,
                message,
            },
            Failure::Socket { op, errno } => Error::Socket { op, errno },
            failure => Error::Transport {
                op,
                object: object.to_string(),
                failure,
            },
        }
    }
}

struct ExtAck<'a>(Option<&'a str>);

impl fmt::Display for ExtAck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) if !m.is_empty() => write!(f, ": {m}"),
            _ => Ok(()),
        }
    }
}

impl Error {
    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Kernel { errno, .. } | Error::Socket { errno, .. } => Some(*errno),
            Error::Netns(e) => e.errno(),
            Error::Transport { failure, .. } => failure.errno(),
            _ => None,
        }
    }

    /// Whether this error means "no such object" (a missing link, address
    /// or route): [`Error::NotFound`], `ENODEV`, `ENOENT` or `EADDRNOTAVAIL`
    /// from the kernel. Idempotent deletes use this.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
            || matches!(
                self.errno(),
                Some(Errno::ENODEV | Errno::ENOENT | Errno::EADDRNOTAVAIL | Errno::ESRCH)
            )
    }

    /// Whether the kernel said the object already exists (`EEXIST`).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(Errno::EEXIST)
    }

    pub(crate) fn encode(what: &'static str, detail: impl fmt::Display) -> Self {
        Error::Encode {
            what,
            detail: detail.to_string(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_error_names_operation_object_and_errno() {
        let e = Error::Kernel {
            op: "create link",
            object: "veth1a2b3c4".into(),
            errno: Errno::EEXIST,
            message: None,
        };
        assert_eq!(
            e.to_string(),
            "create link veth1a2b3c4: file exists (EEXIST)"
        );
        let e = Error::Kernel {
            op: "set master",
            object: "veth0 -> eth0".into(),
            errno: Errno::EINVAL,
            message: Some("Device does not allow enslaving to a bridge".into()),
        };
        assert_eq!(
            e.to_string(),
            "set master veth0 -> eth0: invalid argument (EINVAL): Device does not allow \
             enslaving to a bridge"
        );
    }
}
