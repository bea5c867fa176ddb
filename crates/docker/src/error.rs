//! What a call can fail with; the message goes back to dockerd, which
//! shows it to the user, so each names the object and what is wrong.

/// A failed call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body did not parse as this method's request.
    #[error("{method}: malformed request: {detail}")]
    BadRequest {
        /// `NetworkDriver.CreateNetwork`, ...
        method: String,
        /// serde's message.
        detail: String,
    },
    /// No such method.
    #[error("unknown method {method:?} (brnet serves NetworkDriver and IpamDriver)")]
    UnknownMethod {
        /// The path asked for.
        method: String,
    },
    /// A value of the request that cannot be used.
    #[error("{object}: {field}={value:?}: {reason}")]
    Invalid {
        /// `network 1e2f0d3c4b5a`, `pool LocalDefault/...`
        object: String,
        /// The field or option.
        field: String,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// bridge-net refused or failed.
    #[error(transparent)]
    Bridge(#[from] bridge_net::Failure),
    /// An address decision of the IPAM driver.
    #[error("{object}: {cause}")]
    Ipam {
        /// The pool.
        object: String,
        /// Why.
        cause: bridge_net::brnet_ipam::Error,
    },
    /// No such pool (IPAM).
    #[error("pool {pool_id:?} not found")]
    PoolNotFound {
        /// The id.
        pool_id: String,
    },
    /// An iptables command failed.
    #[error("iptables {args}: {detail}")]
    Iptables {
        /// Its arguments.
        args: String,
        /// Its stderr, or why it did not run.
        detail: String,
    },
    /// The IPAM state file.
    #[error("{op} {path}: {detail}")]
    State {
        /// read, write, ...
        op: &'static str,
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// A handler panicked (a bug): reported, the service goes on.
    #[error("{method}: internal error: {detail}")]
    Internal {
        /// The method.
        method: String,
        /// The panic's message.
        detail: String,
    },
}

impl Error {
    /// `Error::Invalid`.
    pub fn invalid(
        object: impl Into<String>,
        field: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl std::fmt::Display,
    ) -> Error {
        Error::Invalid {
            object: object.into(),
            field: field.into(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How dockerd names a network or endpoint in its messages: 12 digits.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

impl bridge_net::FromFailure for Error {}
