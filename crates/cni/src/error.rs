//! Errors, each with the CNI spec's error code, printed as the spec's
//! error JSON (`cniVersion`, `code`, `msg`, `details`).

use serde::Serialize;

/// The spec's well-known error codes (CNI 1.1, "Error").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    /// 1: incompatible CNI version.
    IncompatibleVersion = 1,
    /// 2: unsupported field in the network configuration (the message
    /// names the key and value).
    UnsupportedField = 2,
    /// 4: invalid necessary environment variables (named in the message).
    InvalidEnvironment = 4,
    /// 5: I/O failure.
    Io = 5,
    /// 6: failed to decode content.
    Decode = 6,
    /// 7: invalid network config.
    InvalidConfig = 7,
    /// 50: the plugin is not available (STATUS).
    NotAvailable = 50,
    /// 100: plugin-specific: a bridge-net operation failed.
    Operation = 100,
    /// 101: plugin-specific: CHECK found the attachment not as it should be.
    CheckFailed = 101,
}

/// Everything that can go wrong, with its code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config's cniVersion is not one we speak.
    #[error("incompatible CNI version {version:?} (supported: {supported})")]
    Version {
        /// What was asked.
        version: String,
        /// What we speak.
        supported: String,
    },
    /// A command that needs a newer version of the config.
    #[error("cniVersion {version} does not allow {command} (needs {needs} or later)")]
    CommandVersion {
        /// The config's version.
        version: String,
        /// The command.
        command: &'static str,
        /// The first version that has it.
        needs: &'static str,
    },
    /// A field whose value bridge-net does not implement.
    #[error("unsupported field {field}={value}: {reason}")]
    Unsupported {
        /// The field's path.
        field: String,
        /// Its value, as JSON.
        value: String,
        /// Why, or what is supported.
        reason: &'static str,
    },
    /// A missing or bad environment variable.
    #[error("invalid environment variable {var}={value:?}: {problem}")]
    Environment {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why.
        problem: String,
    },
    /// Reading stdin failed.
    #[error("read network config from stdin: {cause}")]
    Read {
        /// The cause.
        cause: std::io::Error,
    },
    /// The config is not JSON of the right shape.
    #[error("decode network config: {cause}")]
    Decode {
        /// The cause, with line and column.
        cause: serde_json::Error,
    },
    /// A field has a bad value.
    #[error("invalid network config {field}={value:?}: {problem}")]
    Config {
        /// The field's path.
        field: String,
        /// Its value.
        value: String,
        /// Why.
        problem: String,
    },
    /// The state directory.
    #[error("{op} {path}: {cause}")]
    State {
        /// What was done.
        op: &'static str,
        /// Where.
        path: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// A bridge-net operation failed.
    #[error(transparent)]
    Bridge(#[from] bridge_net::Failure),
    /// Installing a route or a port flag failed.
    #[error("{op} {object}: {cause}")]
    Netlink {
        /// The operation.
        op: &'static str,
        /// Its object.
        object: String,
        /// The cause.
        cause: Box<bridge_net::brnet_netlink::Error>,
    },
    /// CHECK found a difference.
    #[error("check {object}: {problem}")]
    Check {
        /// The attachment.
        object: String,
        /// What differs.
        problem: String,
    },
    /// STATUS: not ready.
    #[error("not available: {cause}")]
    Status {
        /// Why.
        cause: Box<Error>,
    },
    /// Several failures (DEL and GC go on after one).
    #[error("{}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Many {
        /// Every failure.
        errors: Vec<Error>,
    },
}

impl Error {
    /// The spec's code.
    pub fn code(&self) -> Code {
        match self {
            Error::Version { .. } | Error::CommandVersion { .. } => Code::IncompatibleVersion,
            Error::Unsupported { .. } => Code::UnsupportedField,
            Error::Environment { .. } => Code::InvalidEnvironment,
            Error::Read { .. } | Error::State { .. } => Code::Io,
            Error::Decode { .. } => Code::Decode,
            Error::Config { .. } => Code::InvalidConfig,
            Error::Bridge(_) | Error::Netlink { .. } => Code::Operation,
            Error::Check { .. } => Code::CheckFailed,
            Error::Status { .. } => Code::NotAvailable,
            Error::Many { errors } => errors.first().map_or(Code::Operation, Error::code),
        }
    }

    /// A netlink failure of `op` on `object`.
    pub fn netlink(
        op: &'static str,
        object: impl Into<String>,
    ) -> impl FnOnce(bridge_net::brnet_netlink::Error) -> Error {
        let object = object.into();
        move |source| Error::Netlink {
            op,
            object,
            cause: Box::new(source),
        }
    }

    /// A bad value of config field `field`.
    pub fn config(field: impl Into<String>, value: impl ToString, problem: impl ToString) -> Error {
        Error::Config {
            field: field.into(),
            value: value.to_string(),
            problem: problem.to_string(),
        }
    }

    /// A bad environment variable.
    pub fn env(var: &'static str, value: impl Into<String>, problem: impl ToString) -> Error {
        Error::Environment {
            var,
            value: value.into(),
            problem: problem.to_string(),
        }
    }

    /// The spec's error JSON.
    pub fn reply(&self, cni_version: &str) -> Reply {
        let (msg, details) = match self {
            // The short message first, the cause in details.
            Error::Bridge(f) => (format!("{} {}", f.op, f.object), f.cause.to_string()),
            Error::Decode { cause } => ("decode network config".to_owned(), cause.to_string()),
            other => (other.to_string(), String::new()),
        };
        Reply {
            cni_version: cni_version.to_owned(),
            code: self.code() as u32,
            msg: if details.is_empty() {
                msg
            } else {
                format!("{msg}: {details}")
            },
            details,
        }
    }
}

/// The spec's error JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    /// The version of the config (or ours).
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// The code.
    pub code: u32,
    /// One line.
    pub msg: String,
    /// The cause, when there is one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub details: String,
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl bridge_net::FromFailure for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_shape() {
        let e = Error::env("CNI_NETNS", "", "missing");
        assert_eq!(e.code(), Code::InvalidEnvironment);
        let r = serde_json::to_string(&e.reply("1.1.0")).unwrap();
        assert_eq!(
            r,
            r#"{"cniVersion":"1.1.0","code":4,"msg":"invalid environment variable CNI_NETNS=\"\": missing"}"#
        );
        let e = Error::Many {
            errors: vec![Error::config("ipam.subnet", "x", "bad"), e],
        };
        assert_eq!(e.code(), Code::InvalidConfig);
    }
}
