//! Errors: each names the operation, the object (network, field, option,
//! path) and the cause, on one line: Podman shows it to the user as is.

use std::path::PathBuf;

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad command line.
    #[error(
        "usage: {arg}: {problem} (usage: netavark [--config DIR] [--rootless=BOOL] [--aardvark-binary PATH] [--file FILE] setup|teardown NETNS_PATH | version)"
    )]
    Usage {
        /// The argument.
        arg: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The options could not be read.
    #[error("read network options from {from}: {cause}")]
    Read {
        /// stdin or the file.
        from: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// The options are not the contract's JSON.
    #[error("decode network options from {from}: {cause}")]
    Decode {
        /// stdin or the file.
        from: String,
        /// The cause (with line and column).
        cause: serde_json::Error,
    },
    /// A field has a value we cannot use.
    #[error("invalid {field}={value:?}: {problem}")]
    Field {
        /// The field's path (`network_info.testnet.subnets[0].subnet`).
        field: String,
        /// Its value.
        value: String,
        /// Why.
        problem: String,
    },
    /// A field or option bridge-net does not implement.
    #[error("unsupported {field}={value:?}: {reason}")]
    Unsupported {
        /// The field or option.
        field: String,
        /// Its value.
        value: String,
        /// What is supported instead.
        reason: &'static str,
    },
    /// The state directory.
    #[error("{op} {}: {cause}", path.display())]
    State {
        /// What was done.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A network of that name exists with another definition and is in
    /// use.
    #[error("network {network:?} exists with {field} {ours} (asked: {theirs}) and has containers")]
    Changed {
        /// The network.
        network: String,
        /// What differs.
        field: &'static str,
        /// What we have.
        ours: String,
        /// What Podman asks.
        theirs: String,
    },
    /// A bridge-net operation failed.
    #[error(transparent)]
    Bridge(#[from] bridge_net::Failure),
    /// Teardown went on after failures: all of them.
    #[error("teardown: {}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Teardown {
        /// Every failure.
        errors: Vec<Error>,
    },
}

impl Error {
    /// A bad value of `field`.
    pub fn field(field: impl Into<String>, value: impl ToString, problem: impl ToString) -> Error {
        Error::Field {
            field: field.into(),
            value: value.to_string(),
            problem: problem.to_string(),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl bridge_net::FromFailure for Error {}
