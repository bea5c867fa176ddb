//! Interface names, checked against the kernel's rules before any syscall.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, IfNameProblem, Result};

/// `IFNAMSIZ - 1`: the longest interface name, in bytes.
pub const MAX_IFNAME_LEN: usize = 15;

/// A valid Linux interface name: 1 to 15 bytes, not `.` or `..`, no `/`,
/// `:`, whitespace or NUL (the kernel's `dev_valid_name`, plus `:`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName(String);

impl IfName {
    /// Validate `name`.
    ///
    /// ```
    /// use brnet_netlink::IfName;
    /// assert!(IfName::new("eth0").is_ok());
    /// let err = IfName::new("a-very-long-name").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid interface name \"a-very-long-name\": must be at most 15 bytes (IFNAMSIZ)"
    /// );
    /// ```
    pub fn new(name: &str) -> Result<Self> {
        IfName::checked(name).map_err(|problem| Error::InvalidIfName {
            name: name.to_owned(),
            problem,
        })
    }

    /// `name` as an interface name, or what is wrong with it.
    pub fn checked(name: &str) -> std::result::Result<Self, IfNameProblem> {
        match IfName::problem(name) {
            Some(problem) => Err(problem),
            None => Ok(IfName(name.to_owned())),
        }
    }

    /// What is wrong with `name` as an interface name, if anything.
    pub fn problem(name: &str) -> Option<IfNameProblem> {
        if name.is_empty() {
            Some(IfNameProblem::Empty)
        } else if name.len() > MAX_IFNAME_LEN {
            Some(IfNameProblem::TooLong)
        } else if name == "." || name == ".." {
            Some(IfNameProblem::Dot)
        } else if name.contains('/') {
            Some(IfNameProblem::Slash)
        } else if name.contains(':') {
            Some(IfNameProblem::Colon)
        } else if name.contains('\0') {
            Some(IfNameProblem::Nul)
        } else if name.chars().any(char::is_whitespace) {
            Some(IfNameProblem::Whitespace)
        } else {
            None
        }
    }

    /// Whether the name is plain: only ASCII letters, digits, `_`, `-` and
    /// `.` (as `docker0` and `br-<12 hex>`), so that it can be written into
    /// firewall rules, chain names and scripts as it is. The first other
    /// character is the problem.
    pub fn check_plain(&self) -> std::result::Result<(), IfNameProblem> {
        match self
            .0
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            Some(c) => Err(IfNameProblem::NotPlain(c)),
            None => Ok(()),
        }
    }

    /// The name as the kernel compares it: 16 bytes, NUL-padded
    /// (`IFNAMSIZ`).
    pub fn padded(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..self.0.len()].copy_from_slice(self.0.as_bytes());
        out
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IfName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        IfName::new(s)
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rules() {
        for (bad, problem) in [
            ("", IfNameProblem::Empty),
            ("0123456789abcdef", IfNameProblem::TooLong),
            (".", IfNameProblem::Dot),
            ("..", IfNameProblem::Dot),
            ("a/b", IfNameProblem::Slash),
            ("eth0:1", IfNameProblem::Colon),
            ("a b", IfNameProblem::Whitespace),
            ("a\tb", IfNameProblem::Whitespace),
            ("a\0", IfNameProblem::Nul),
        ] {
            match IfName::new(bad) {
                Err(Error::InvalidIfName { name, problem: p }) => {
                    assert_eq!((name.as_str(), p), (bad, problem))
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        for good in [
            "eth0",
            "0123456789abcde",
            "br-0123456789ab",
            "veth1a2b3c4",
            "...",
        ] {
            assert_eq!(IfName::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn plain_names_and_padding() {
        for n in ["docker0", "br-0123456789ab", "a.b_c-d"] {
            assert_eq!(IfName::new(n).unwrap().check_plain(), Ok(()));
        }
        assert_eq!(
            IfName::new("brü").unwrap().check_plain(),
            Err(IfNameProblem::NotPlain('ü'))
        );
        assert_eq!(
            IfNameProblem::NotPlain('@').to_string(),
            "has '@': only ASCII letters, digits, '_', '-' and '.' are allowed here"
        );
        let p = IfName::new("docker0").unwrap().padded();
        assert_eq!(&p[..8], b"docker0\0");
        assert!(p[8..].iter().all(|b| *b == 0));
    }
}
