//! The crate's errors. Each names the operation and the object (address,
//! name, network, file) that failed.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use nix::errno::Errno;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A transport a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// DNS over UDP.
    Udp,
    /// DNS over TCP (two-byte length prefix, RFC 1035 §4.2.2).
    Tcp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        })
    }
}

/// What is wrong with a name or a domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// Nothing given.
    #[error("empty")]
    Empty,
    /// More than 253 characters (with the domain, for names).
    #[error("longer than 253 characters")]
    TooLong,
    /// Two dots in a row, or a leading or trailing dot.
    #[error("empty label")]
    EmptyLabel,
    /// A label of more than 63 characters.
    #[error("label {0:?} longer than 63 characters")]
    LabelTooLong(String),
    /// A character other than an ASCII letter, digit, `-` or `_`.
    #[error("character {0:?} not allowed (ASCII letters, digits, '-', '_' and '.' between labels)")]
    BadChar(char),
}

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listener's socket could not be bound.
    #[error("bind {proto} {addr}: {}", ShowIo(.cause))]
    Bind {
        /// UDP or TCP.
        proto: Proto,
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        cause: io::Error,
    },
    /// A socket operation other than bind failed (for the forwarder's
    /// sockets, or while setting up a listener).
    #[error("{op} {what}: {}", ShowIo(.cause))]
    Socket {
        /// The operation (`set read timeout`, `bind upstream socket`, …).
        op: &'static str,
        /// The socket it was done on.
        what: String,
        /// The system's error.
        cause: io::Error,
    },
    /// A file or socket of the resolver's directory could not be used.
    #[error("{op} {}: {}", .path.display(), ShowIo(.cause))]
    Serve {
        /// The operation (`open`, `listen on`, `write`, `read`).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        cause: io::Error,
    },
    /// The spec file is not what [`crate::spec::Spec`] reads.
    #[error("{}: {detail}", .path.display())]
    Spec {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A thread could not be started.
    #[error("start thread {name}: {}", ShowIo(.cause))]
    Spawn {
        /// The thread's name.
        name: String,
        /// The system's error.
        cause: io::Error,
    },
    /// A thread of the resolver panicked (a bug: report it).
    #[error("thread {name} panicked")]
    Panicked {
        /// The thread's name.
        name: String,
    },
    /// A resolv.conf file could not be read.
    #[error("read {}: {}", .path.display(), ShowIo(.cause))]
    ResolvConf {
        /// The file.
        path: PathBuf,
        /// The system's error.
        cause: io::Error,
    },
    /// A container name or alias we do not accept.
    #[error("network {network:?}: invalid name {name:?}: {problem}")]
    InvalidName {
        /// The network the entry was for.
        network: String,
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// A search domain we do not accept.
    #[error("network {network:?}: invalid domain {domain:?}: {problem}")]
    InvalidDomain {
        /// The network.
        network: String,
        /// The domain given.
        domain: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// An empty network id.
    #[error("empty network id")]
    EmptyNetworkId,
    /// An entry for a network the table does not have.
    #[error("no network {network:?} in the table")]
    UnknownNetwork {
        /// The network asked for.
        network: String,
    },
    /// Several errors, all reported (from [`crate::Resolver::set_listeners`]
    /// and [`crate::Resolver::stop`], which keep going after a failure).
    #[error("{}", ShowAll(.0))]
    Several(Vec<Error>),
}

impl Error {
    /// Fold a list of errors: `Ok` when empty, the error itself when
    /// alone, [`Error::Several`] otherwise.
    pub(crate) fn fold(mut errors: Vec<Error>) -> Result<()> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Self::Several(errors)),
        }
    }

    /// The errors inside: the list for [`Error::Several`], else `self`
    /// alone.
    pub fn all(&self) -> Vec<&Error> {
        match self {
            Self::Several(list) => list.iter().flat_map(Error::all).collect(),
            other => vec![other],
        }
    }
}

/// Shows an I/O error the way this project shows kernel errors:
/// `address already in use (EADDRINUSE)`; other I/O errors as they are.
pub(crate) struct ShowIo<'a>(pub(crate) &'a io::Error);

impl fmt::Display for ShowIo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(raw) = self.0.raw_os_error() else {
            return write!(f, "{}", self.0);
        };
        let errno = Errno::from_raw(raw);
        if errno == Errno::UnknownErrno {
            return write!(f, "{}", self.0);
        }
        write!(f, "{}", brnet_netns::ShowErrno(errno))
    }
}

struct ShowAll<'a>(&'a [Error]);

impl fmt::Display for ShowAll<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} errors: ", self.0.len())?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_error_names_address_and_errno() {
        let e = Error::Bind {
            proto: Proto::Udp,
            addr: "10.89.0.1:53".parse().unwrap(),
            cause: io::Error::from_raw_os_error(libc_eaddrinuse()),
        };
        assert_eq!(
            e.to_string(),
            "bind udp 10.89.0.1:53: address already in use (EADDRINUSE)"
        );
    }

    #[test]
    fn several_lists_every_error() {
        let e = Error::fold(vec![
            Error::EmptyNetworkId,
            Error::UnknownNetwork {
                network: "n1".into(),
            },
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 errors: empty network id; no network \"n1\" in the table"
        );
        assert_eq!(e.all().len(), 2);
        assert!(Error::fold(vec![]).is_ok());
    }

    fn libc_eaddrinuse() -> i32 {
        Errno::EADDRINUSE as i32
    }
}
