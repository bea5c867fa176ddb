//! The resolver's configuration, and the host's nameservers read from a
//! resolv.conf.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::records::Policy;
use crate::report::LogSink;

/// The host's resolver configuration.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// How a [`crate::Resolver`] runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where names that are not ours go, in order. Empty: they are
    /// answered SERVFAIL (with a log line).
    pub upstreams: Vec<SocketAddr>,
    /// How long a forwarded query may take over all upstreams (each is
    /// given an equal share before the next is asked); then the client gets
    /// SERVFAIL and the log one line.
    pub forward_timeout: Duration,
    /// The most forwarded queries in flight at once; past it, SERVFAIL at
    /// once (Docker's resolver allows 1024).
    pub max_forwards: usize,
    /// TTL, and what to do with askers the records do not know.
    pub policy: Policy,
    /// The most TCP client connections open at once, over all listeners.
    pub max_tcp_connections: usize,
    /// A TCP client connection idle this long is closed.
    pub tcp_idle_timeout: Duration,
    /// Where log lines go.
    pub log: LogSink,
}

impl Default for Config {
    /// No upstream, 4 s forward timeout (under glibc's 5 s), 1024 forwards,
    /// [`Policy::default`], 256 TCP connections idle at most 10 s, log to
    /// stderr.
    fn default() -> Self {
        Self {
            upstreams: Vec::new(),
            forward_timeout: Duration::from_secs(4),
            max_forwards: 1024,
            policy: Policy::default(),
            max_tcp_connections: 256,
            tcp_idle_timeout: Duration::from_secs(10),
            log: LogSink::default(),
        }
    }
}

impl Config {
    /// The default configuration with the upstreams of a resolv.conf file
    /// (usually [`RESOLV_CONF`]).
    pub fn from_resolv_conf(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ResolvConf {
            path: path.to_owned(),
            cause: source,
        })?;
        Ok(Self {
            upstreams: parse_resolv_conf(&text),
            ..Self::default()
        })
    }
}

/// The `nameserver` lines of a resolv.conf, as port-53 socket addresses,
/// in order, without duplicates. Lines that do not parse are skipped, and
/// so are IPv6 addresses with a zone (`fe80::1%eth0`): a link-local
/// upstream is not reachable from every network.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        let addr = SocketAddr::new(ip, 53);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_in_order() {
        let text = "\
# generated
search example.com
nameserver 10.255.255.53
nameserver   2001:db8::53 # comment
nameserver fe80::1%eth0
nameserver not-an-address
nameserver 10.255.255.53
options ndots:0
 nameserver 192.0.2.1
";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "10.255.255.53:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::53]:53".parse().unwrap(),
                "192.0.2.1:53".parse().unwrap(),
            ]
        );
        assert!(parse_resolv_conf("").is_empty());
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Config::from_resolv_conf("/nonexistent/resolv.conf").unwrap_err();
        assert_eq!(
            err.to_string(),
            "read /nonexistent/resolv.conf: no such file or directory (ENOENT)"
        );
    }
}
