//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

use nix::errno::Errno;

/// Why a namespace name was rejected before any system call was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name contains a `/`.
    Slash,
    /// The name is `.` or `..`.
    Dot,
    /// The name contains a NUL byte.
    Nul,
    /// The name is longer than 255 bytes (`NAME_MAX`).
    TooLong,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameProblem::Empty => "must not be empty",
            NameProblem::Slash => "must not contain '/'",
            NameProblem::Dot => "must not be '.' or '..'",
            NameProblem::Nul => "must not contain a NUL byte",
            NameProblem::TooLong => "must be at most 255 bytes",
        })
    }
}

/// An errno shown the way this project shows kernel errors:
/// `file exists (EEXIST)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowErrno(pub Errno);

impl fmt::Display for ShowErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let desc = self.0.desc();
        let mut chars = desc.chars();
        if let Some(first) = chars.next() {
            for c in first.to_lowercase() {
                write!(f, "{c}")?;
            }
            f.write_str(chars.as_str())?;
        }
        write!(f, " ({:?})", self.0)
    }
}

/// Everything that can go wrong with a network namespace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A namespace name failed validation; nothing was touched.
    #[error("invalid network namespace name {name:?}: {problem}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// No namespace of that name exists.
    #[error("network namespace {name:?} not found (no {})", path.display())]
    NotFound {
        /// The name asked for.
        name: String,
        /// The path that does not exist.
        path: PathBuf,
    },
    /// A namespace of that name already exists.
    #[error("network namespace {name:?} already exists ({})", path.display())]
    AlreadyExists {
        /// The name asked for.
        name: String,
        /// The existing path.
        path: PathBuf,
    },
    /// The path exists but is not a network namespace (a regular file, a
    /// directory, another kind of namespace).
    #[error("{} is not a network namespace", path.display())]
    NotANetworkNamespace {
        /// The offending path.
        path: PathBuf,
    },
    /// A system call failed.
    #[error("{op} {object}: {}", ShowErrno(*errno))]
    Sys {
        /// What we were doing (`unshare`, `bind-mount`, `setns`, ...).
        op: &'static str,
        /// What we were doing it to (a path or a namespace name).
        object: String,
        /// The kernel's answer.
        errno: Errno,
    },
}

impl Error {
    pub(crate) fn sys(op: &'static str, object: impl fmt::Display, errno: Errno) -> Self {
        Error::Sys {
            op,
            object: object.to_string(),
            errno,
        }
    }

    /// The errno behind this error, when a system call failed.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } => Some(*errno),
            Error::NotFound { .. } => Some(Errno::ENOENT),
            Error::AlreadyExists { .. } => Some(Errno::EEXIST),
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
    fn errno_is_shown_lowercase_with_its_name() {
        assert_eq!(ShowErrno(Errno::EEXIST).to_string(), "file exists (EEXIST)");
        let e = Error::sys("bind-mount", "/run/netns/c1", Errno::EPERM);
        assert_eq!(
            e.to_string(),
            "bind-mount /run/netns/c1: operation not permitted (EPERM)"
        );
    }
}
