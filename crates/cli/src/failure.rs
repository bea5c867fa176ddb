//! Why a command failed, as one line, and the exit code it maps to.

use std::fmt;
use std::process::ExitCode;

use bridge_net::Error;
use bridge_net::brnet_ipam;
use bridge_net::brnet_netns;

/// The exit codes, documented in the README and in `brnet --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The operation did what was asked.
    Ok = 0,
    /// The operation failed: the kernel, the firewall or the state refused.
    Failed = 1,
    /// Bad input: a usage error or a value that does not parse or fit.
    Usage = 2,
    /// A network or namespace that does not exist.
    NotFound = 3,
    /// A conflict: a name, subnet, address or port is taken, or a network
    /// still has endpoints.
    Conflict = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// A value from the command line that cannot be used, found before the
/// library was asked anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// The option (`--ip`, `--mac`, `-o`, `NETWORK`).
    pub option: &'static str,
    /// The value as given.
    pub value: String,
    /// Why it cannot be used.
    pub reason: String,
}

impl BadInput {
    /// `option` = `value` cannot be used because of `reason`.
    pub fn new(option: &'static str, value: impl Into<String>, reason: impl fmt::Display) -> Self {
        BadInput {
            option,
            value: value.into(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "invalid option {}: {}", self.option, self.reason)
        } else {
            write!(
                f,
                "invalid option {}={:?}: {}",
                self.option, self.value, self.reason
            )
        }
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The library refused or failed.
    Net(Error),
    /// A namespace operation failed (`brnet netns ...`).
    Netns(brnet_netns::Error),
    /// A command-line value cannot be used.
    Input(BadInput),
    /// Writing the output failed.
    Output(std::io::Error),
    /// The name resolver failed.
    Dns(brnet_dns::Error),
    /// An answer that is only an exit code (`network exists`).
    Silent(Exit),
}

impl From<brnet_dns::Error> for Failure {
    fn from(e: brnet_dns::Error) -> Self {
        Failure::Dns(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Net(e)
    }
}

impl From<brnet_netns::Error> for Failure {
    fn from(e: brnet_netns::Error) -> Self {
        Failure::Netns(e)
    }
}

impl From<BadInput> for Failure {
    fn from(e: BadInput) -> Self {
        Failure::Input(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Output(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Failure::Net(e) => with_causes(e),
            Failure::Netns(e) => with_causes(e),
            Failure::Input(e) => e.to_string(),
            Failure::Output(e) => format!("write output: {}", with_causes(e)),
            Failure::Dns(e) => with_causes(e),
            Failure::Silent(_) => String::new(),
        };
        // One line, whatever the source says.
        f.write_str(&one_line(&text))
    }
}

/// `e`'s message, then each cause of its `source()` chain that the text
/// so far does not show yet: every cause once, whichever convention the
/// error follows (ours: the cause in the message, no `source()`).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let t = cause.to_string();
        if !t.is_empty() && !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        next = cause.source();
    }
    text
}

/// `text` with every line break folded: into a space after a colon,
/// into `; ` otherwise.
pub fn one_line(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
}

impl Failure {
    /// The exit code this failure maps to.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Net(e) => net_exit(e),
            Failure::Netns(e) => netns_exit(e),
            Failure::Input(_) => Exit::Usage,
            Failure::Output(_) | Failure::Dns(_) => Exit::Failed,
            Failure::Silent(code) => *code,
        }
    }
}

fn netns_exit(e: &brnet_netns::Error) -> Exit {
    match e {
        brnet_netns::Error::NotFound { .. } => Exit::NotFound,
        brnet_netns::Error::AlreadyExists { .. } => Exit::Conflict,
        brnet_netns::Error::InvalidName { .. }
        | brnet_netns::Error::NotANetworkNamespace { .. } => Exit::Usage,
        _ => Exit::Failed,
    }
}

fn ipam_exit(e: &brnet_ipam::Error) -> Exit {
    match e {
        brnet_ipam::Error::AlreadyAllocated { .. } => Exit::Conflict,
        brnet_ipam::Error::HostBitsSet { .. }
        | brnet_ipam::Error::RangeOutsideSubnet { .. }
        | brnet_ipam::Error::InvalidGateway { .. }
        | brnet_ipam::Error::OutOfRange { .. }
        | brnet_ipam::Error::FixedAddress { .. } => Exit::Usage,
        _ => Exit::Failed,
    }
}

fn net_exit(e: &Error) -> Exit {
    match e {
        Error::NetworkNotFound { .. } => Exit::NotFound,
        Error::NetworkExists { .. }
        | Error::SubnetOverlap { .. }
        | Error::NetworkInUse { .. }
        | Error::AlreadyConnected { .. }
        | Error::PortInUse { .. } => Exit::Conflict,
        Error::InvalidNetworkName { .. }
        | Error::InvalidOption { .. }
        | Error::PortsNotAllowed { .. }
        | Error::InvalidMode { .. }
        | Error::PortSpec(_) => Exit::Usage,
        Error::Ipam { cause, .. } => ipam_exit(cause),
        Error::Netns(e) => netns_exit(e),
        _ => Exit::Failed,
    }
}

/// A failed operation: what was being done (`network connect web c9`)
/// and why it failed; printed as `brnet: <what>: <why>`.
#[derive(Debug)]
pub struct Failed {
    /// The command and its operands, as given.
    pub what: String,
    /// Why it failed.
    pub why: Failure,
}

impl Failed {
    /// `what` failed because of `why`.
    pub fn new(what: impl Into<String>, why: impl Into<Failure>) -> Self {
        Failed {
            what: what.into(),
            why: why.into(),
        }
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "brnet: {}: {}", one_line(&self.what), self.why)
    }
}

/// Every failure of a command that goes on after one (`network rm a b`).
pub type Failures = Vec<Failed>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_folds_breaks() {
        assert_eq!(one_line("a\n  b\n\nc\n"), "a; b; c");
        assert_eq!(one_line("missing:\n  <NAME>\n"), "missing: <NAME>");
        assert_eq!(one_line("plain"), "plain");
    }

    #[derive(Debug)]
    struct Outer {
        shows_cause: bool,
        cause: std::io::Error,
    }

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.shows_cause {
                write!(f, "open /x: {}", self.cause)
            } else {
                f.write_str("open /x")
            }
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.cause)
        }
    }

    #[test]
    fn a_cause_shows_once() {
        let cause = || std::io::Error::other("no such thing");
        for shows_cause in [true, false] {
            let e = Outer {
                shows_cause,
                cause: cause(),
            };
            assert_eq!(with_causes(&e), "open /x: no such thing");
        }
        // Ours: the cause in the message, once, and nothing appended.
        let e = Error::Ipam {
            network: "n".into(),
            cause: brnet_ipam::Error::Exhausted {
                subnet: "10.0.0.0/30".parse().unwrap(),
            },
        };
        let text = Failure::Net(e).to_string();
        assert_eq!(text.matches("10.0.0.0/30").count(), 1, "{text}");
    }

    #[test]
    fn exit_codes() {
        let nf = Failure::Net(Error::NetworkNotFound { name: "x".into() });
        assert_eq!(nf.exit(), Exit::NotFound);
        assert_eq!(nf.to_string(), "network \"x\" not found");
        let dup = Failure::Net(Error::NetworkExists { name: "x".into() });
        assert_eq!(dup.exit(), Exit::Conflict);
        let bad = Failure::from(bridge_net::parse_cidr("--subnet", "172.20.0.0/33").unwrap_err());
        assert_eq!(bad.exit(), Exit::Usage);
        let input = Failure::from(BadInput::new("--ip", "x", "not an IPv4 address"));
        assert_eq!(input.exit(), Exit::Usage);
        assert_eq!(
            input.to_string(),
            "invalid option --ip=\"x\": not an IPv4 address"
        );
        let ns = Failure::Netns(brnet_netns::Error::NotFound {
            name: "c9".into(),
            path: "/run/netns/c9".into(),
        });
        assert_eq!(ns.exit(), Exit::NotFound);
        assert_eq!(Exit::Conflict as u8, 4);
    }
}
