//! Validated namespace names.

use std::fmt;

use crate::error::{Error, NameProblem, Result};

/// The longest namespace name, in bytes (`NAME_MAX`: it is a file name).
pub const MAX_NAME_LEN: usize = 255;

/// A namespace name that is safe to use as a file name in the netns
/// directory: not empty, no `/`, not `.` or `..`, no NUL, at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NsName(String);

impl NsName {
    /// Validate `name`. No system call is made.
    ///
    /// ```
    /// use brnet_netns::NsName;
    /// assert!(NsName::new("c1").is_ok());
    /// assert!(NsName::new("a/b").is_err());
    /// ```
    pub fn new(name: &str) -> Result<Self> {
        let problem = if name.is_empty() {
            Some(NameProblem::Empty)
        } else if name == "." || name == ".." {
            Some(NameProblem::Dot)
        } else if name.contains('/') {
            Some(NameProblem::Slash)
        } else if name.contains('\0') {
            Some(NameProblem::Nul)
        } else if name.len() > MAX_NAME_LEN {
            Some(NameProblem::TooLong)
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::InvalidName {
                name: name.to_owned(),
                problem,
            }),
            None => Ok(NsName(name.to_owned())),
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NsName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_names() {
        let long = "x".repeat(256);
        for (bad, problem) in [
            ("", NameProblem::Empty),
            (".", NameProblem::Dot),
            ("..", NameProblem::Dot),
            ("a/b", NameProblem::Slash),
            ("/", NameProblem::Slash),
            ("a\0b", NameProblem::Nul),
            (long.as_str(), NameProblem::TooLong),
        ] {
            match NsName::new(bad) {
                Err(Error::InvalidName { name, problem: p }) => {
                    assert_eq!(name, bad);
                    assert_eq!(p, problem);
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn accepts_good_names() {
        for good in ["c1", "netns-29b532c9", "a.b", "...", &"x".repeat(255)] {
            assert_eq!(NsName::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn error_names_the_value() {
        let e = NsName::new("a/b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network namespace name \"a/b\": must not contain '/'"
        );
    }
}
