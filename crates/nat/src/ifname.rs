//! Validated bridge interface names.

use std::fmt;

/// The longest interface name, in bytes (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Why an interface name was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than 15 bytes.
    TooLong,
    /// The name has a byte other than ASCII letters, digits, `_`, `-` and `.`.
    BadChar(char),
    /// The name is `.` or `..`.
    Dot,
}

impl fmt::Display for IfNameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfNameProblem::Empty => f.write_str("must not be empty"),
            IfNameProblem::TooLong => write!(f, "must be at most {MAX_IFNAME_LEN} bytes"),
            IfNameProblem::BadChar(c) => write!(
                f,
                "has {c:?}: only ASCII letters, digits, '_', '-' and '.' are allowed"
            ),
            IfNameProblem::Dot => f.write_str("must not be '.' or '..'"),
        }
    }
}

/// A bridge name we can put in rules, chain names and iptables text: 1 to 15
/// bytes of ASCII letters, digits, `_`, `-` and `.` (what `docker0` and
/// `br-<12 hex>` are made of). The kernel allows more; rules built from
/// shell-unfriendly names are not worth the risk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName(String);

impl IfName {
    /// Validate `name`.
    ///
    /// ```
    /// use brnet_nat::IfName;
    /// assert!(IfName::new("br-1a2b3c4d5e6f").is_ok());
    /// assert!(IfName::new("a-name-that-is-too-long").is_err());
    /// ```
    pub fn new(name: &str) -> Result<IfName, crate::ModelError> {
        let problem = if name.is_empty() {
            Some(IfNameProblem::Empty)
        } else if name.len() > MAX_IFNAME_LEN {
            Some(IfNameProblem::TooLong)
        } else if name == "." || name == ".." {
            Some(IfNameProblem::Dot)
        } else {
            name.chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                .map(IfNameProblem::BadChar)
        };
        match problem {
            Some(problem) => Err(crate::ModelError::InvalidBridgeName {
                name: name.to_owned(),
                problem,
            }),
            None => Ok(IfName(name.to_owned())),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as the kernel compares it: 16 bytes, NUL-padded (`IFNAMSIZ`).
    pub(crate) fn padded(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..self.0.len()].copy_from_slice(self.0.as_bytes());
        out
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

impl std::str::FromStr for IfName {
    type Err = crate::ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IfName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_docker_names() {
        for n in ["docker0", "br-0123456789ab", "bridge1", "a.b_c-d"] {
            assert_eq!(IfName::new(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn rejects_with_the_name_and_the_reason() {
        let e = IfName::new("br 0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid bridge name \"br 0\": has ' ': only ASCII letters, digits, '_', '-' and '.' are allowed"
        );
        assert!(IfName::new("").is_err());
        assert!(IfName::new("..").is_err());
        assert!(IfName::new("0123456789abcdef").is_err());
        assert!(IfName::new("0123456789abcde").is_ok());
        assert!(IfName::new("br/0").is_err());
        assert!(IfName::new("brü").is_err());
    }

    #[test]
    fn padded_is_ifnamsiz() {
        let p = IfName::new("docker0").unwrap().padded();
        assert_eq!(&p[..8], b"docker0\0");
        assert!(p[8..].iter().all(|b| *b == 0));
    }
}
