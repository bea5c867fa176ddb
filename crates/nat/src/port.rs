//! Published ports: protocols, port ranges, Docker's `-p` syntax and the
//! validated mapping the firewall installs.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// SCTP (IP protocol 132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number (`IPPROTO_*`).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for an IP protocol number, if we publish ports for it.
    pub fn from_number(n: u8) -> Option<Protocol> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// `tcp`, `udp` or `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = PortError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(PortError::UnknownProtocol {
                value: s.to_owned(),
            }),
        }
    }
}

/// What is wrong with a port, a range, a protocol or an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// Port 0 was given; ports are 1 to 65535.
    #[error("port {value:?} is 0: ports are 1 to 65535")]
    Zero {
        /// The text or number given.
        value: String,
    },
    /// A port over 65535 was given.
    #[error("port {value:?} is over 65535")]
    TooLarge {
        /// The text given.
        value: String,
    },
    /// A port that is not a decimal number.
    #[error("port {value:?} is not a number")]
    NotANumber {
        /// The text given.
        value: String,
    },
    /// A range whose start is after its end.
    #[error("port range {value:?} is reversed: its start is after its end")]
    Reversed {
        /// The range as given.
        value: String,
    },
    /// Host and container ranges of different lengths.
    #[error("host ports {host} and container ports {container} differ in length")]
    LengthMismatch {
        /// The host side.
        host: PortRange,
        /// The container side.
        container: PortRange,
    },
    /// A protocol other than tcp, udp or sctp.
    #[error("unknown protocol {value:?}: expected tcp, udp or sctp")]
    UnknownProtocol {
        /// The text given.
        value: String,
    },
    /// A host address that does not parse.
    #[error("bad host address {value:?}")]
    BadAddress {
        /// The text given.
        value: String,
    },
    /// An IPv6 host address without brackets (`[::1]:8080:80`).
    #[error("IPv6 host address in {value:?} must be in brackets, as in [::1]:8080:80")]
    UnbracketedIpv6 {
        /// The spec given.
        value: String,
    },
    /// The spec does not have the `[ip:][host:]container[/proto]` shape.
    #[error("{value:?} is not of the form [ip:][hostport:]containerport[/protocol]")]
    Malformed {
        /// The spec given.
        value: String,
    },
    /// Host and container addresses of different families.
    #[error("host address {host} and container address {container} are not of the same family")]
    FamilyMismatch {
        /// The host address.
        host: IpAddr,
        /// The container address.
        container: IpAddr,
    },
    /// A spec without a host port (`-p 80`) was turned into a mapping
    /// before the caller chose one.
    #[error("no host port chosen for container ports {container}")]
    HostPortUnset {
        /// The container side.
        container: PortRange,
    },
}

/// An inclusive range of ports, `start..=end`, with `1 <= start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    start: u16,
    end: u16,
}

impl PortRange {
    /// The range `start..=end`.
    pub fn new(start: u16, end: u16) -> Result<PortRange, PortError> {
        if start == 0 || end == 0 {
            return Err(PortError::Zero {
                value: format!("{start}-{end}"),
            });
        }
        if start > end {
            return Err(PortError::Reversed {
                value: format!("{start}-{end}"),
            });
        }
        Ok(PortRange { start, end })
    }

    /// The one-port range `port..=port`.
    pub fn single(port: u16) -> Result<PortRange, PortError> {
        PortRange::new(port, port)
    }

    /// First port.
    pub fn start(&self) -> u16 {
        self.start
    }

    /// Last port (inclusive).
    pub fn end(&self) -> u16 {
        self.end
    }

    /// Number of ports (1 to 65535).
    pub fn len(&self) -> u32 {
        u32::from(self.end - self.start) + 1
    }

    /// Always false: a range has at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every port in the range, in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + use<> {
        self.start..=self.end
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

fn parse_port(s: &str) -> Result<u16, PortError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortError::NotANumber {
            value: s.to_owned(),
        });
    }
    match s.parse::<u32>() {
        Ok(0) => Err(PortError::Zero {
            value: s.to_owned(),
        }),
        Ok(n) => u16::try_from(n).map_err(|_| PortError::TooLarge {
            value: s.to_owned(),
        }),
        // Only digits, so the only failure left is overflow of u32.
        Err(_) => Err(PortError::TooLarge {
            value: s.to_owned(),
        }),
    }
}

impl FromStr for PortRange {
    type Err = PortError;
    /// `80` or `8000-8010`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('-') {
            None => PortRange::single(parse_port(s)?),
            Some((a, b)) => {
                let (start, end) = (parse_port(a)?, parse_port(b)?);
                if start > end {
                    return Err(PortError::Reversed {
                        value: s.to_owned(),
                    });
                }
                PortRange::new(start, end)
            }
        }
    }
}

/// A parsed `-p` spec, as Docker takes it: `[ip:][hostport:]containerport[/protocol]`.
///
/// ```
/// use brnet_nat::{PortSpec, Protocol};
/// let p: PortSpec = "127.0.0.1:8080:80/udp".parse()?;
/// assert_eq!(p.protocol(), Protocol::Udp);
/// assert_eq!(p.host_ip(), Some("127.0.0.1".parse()?));
/// assert_eq!(p.host_ports().map(|r| r.start()), Some(8080));
/// assert_eq!(p.container_ports().start(), 80);
/// let bare: PortSpec = "80".parse()?;
/// assert_eq!(bare.host_ports(), None); // the caller picks the host port
/// assert!("8000-8010:80-85".parse::<PortSpec>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortSpec {
    host_ip: Option<IpAddr>,
    host_ports: Option<PortRange>,
    container_ports: PortRange,
    protocol: Protocol,
}

/// A `-p` spec that did not parse: the spec and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port spec {spec:?}: {problem}")]
pub struct PortSpecError {
    /// The whole spec as given.
    pub spec: String,
    /// What is wrong with it.
    #[source]
    pub problem: PortError,
}

impl PortSpec {
    /// A spec from its parts. `host_ports`, when given, must have as many
    /// ports as `container_ports`.
    pub fn new(
        protocol: Protocol,
        host_ip: Option<IpAddr>,
        host_ports: Option<PortRange>,
        container_ports: PortRange,
    ) -> Result<PortSpec, PortError> {
        if let Some(h) = host_ports
            && h.len() != container_ports.len()
        {
            return Err(PortError::LengthMismatch {
                host: h,
                container: container_ports,
            });
        }
        Ok(PortSpec {
            host_ip,
            host_ports,
            container_ports,
            protocol,
        })
    }

    /// The host address, if one was given (`0.0.0.0` and `::` are kept as given).
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host_ip
    }

    /// The host ports, if given (`-p 80` leaves the choice to the caller).
    pub fn host_ports(&self) -> Option<PortRange> {
        self.host_ports
    }

    /// The container ports.
    pub fn container_ports(&self) -> PortRange {
        self.container_ports
    }

    /// The protocol (default tcp).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The same spec with the host ports the caller chose for `-p 80`.
    pub fn with_host_ports(self, host_ports: PortRange) -> Result<PortSpec, PortError> {
        PortSpec::new(
            self.protocol,
            self.host_ip,
            Some(host_ports),
            self.container_ports,
        )
    }

    /// The mapping to `container`, ready to install. Fails when no host port
    /// was given or chosen, or when the host address is of the other family.
    pub fn to_mapping(&self, container: IpAddr) -> Result<PortMapping, PortError> {
        let host_ports = self.host_ports.ok_or(PortError::HostPortUnset {
            container: self.container_ports,
        })?;
        PortMapping::new(
            self.protocol,
            self.host_ip,
            host_ports,
            container,
            self.container_ports,
        )
    }

    fn parse_inner(s: &str) -> Result<PortSpec, PortError> {
        let malformed = || PortError::Malformed {
            value: s.to_owned(),
        };
        let (body, protocol) = match s.rsplit_once('/') {
            Some((body, proto)) => (body, proto.parse::<Protocol>()?),
            None => (s, Protocol::Tcp),
        };
        let (host_ip, rest) = if let Some(after) = body.strip_prefix('[') {
            let (ip, rest) = after.split_once(']').ok_or_else(malformed)?;
            let ip: IpAddr = ip.parse().map_err(|_| PortError::BadAddress {
                value: ip.to_owned(),
            })?;
            let rest = rest.strip_prefix(':').ok_or_else(malformed)?;
            let (host, container) = rest.split_once(':').ok_or_else(malformed)?;
            (Some(ip), vec![host, container])
        } else {
            let parts: Vec<&str> = body.split(':').collect();
            match parts.len() {
                1 | 2 => (None, parts),
                3 if parts[0].is_empty() => return Err(malformed()),
                3 => {
                    let ip: IpAddr = parts[0].parse().map_err(|_| PortError::BadAddress {
                        value: parts[0].to_owned(),
                    })?;
                    (Some(ip), parts[1..].to_vec())
                }
                // More than two colons outside brackets: an IPv6 address.
                _ => {
                    return Err(PortError::UnbracketedIpv6 {
                        value: s.to_owned(),
                    });
                }
            }
        };
        let (host, container) = match rest.as_slice() {
            [container] => (None, *container),
            [host, container] => (Some(*host), *container),
            _ => return Err(malformed()),
        };
        if container.is_empty() {
            return Err(malformed());
        }
        let container_ports: PortRange = container.parse()?;
        let host_ports = match host {
            None | Some("") => None,
            Some(h) => Some(h.parse::<PortRange>()?),
        };
        PortSpec::new(protocol, host_ip, host_ports, container_ports)
    }
}

impl FromStr for PortSpec {
    type Err = PortSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PortSpec::parse_inner(s).map_err(|problem| PortSpecError {
            spec: s.to_owned(),
            problem,
        })
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.host_ip, self.host_ports) {
            (Some(IpAddr::V6(ip)), h) => write!(
                f,
                "[{ip}]:{}:",
                h.map(|h| h.to_string()).unwrap_or_default()
            )?,
            (Some(IpAddr::V4(ip)), h) => {
                write!(f, "{ip}:{}:", h.map(|h| h.to_string()).unwrap_or_default())?
            }
            (None, Some(h)) => write!(f, "{h}:")?,
            (None, None) => {}
        }
        write!(f, "{}/{}", self.container_ports, self.protocol)
    }
}

/// A published port or range, fully specified and validated: protocol, host
/// address (or every address of the container's family), host ports, the
/// container's address and its ports. Ranges have the same length; the host
/// address, when given, is of the container address's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMapping {
    protocol: Protocol,
    host_ip: Option<IpAddr>,
    host_ports: PortRange,
    container: IpAddr,
    container_ports: PortRange,
}

impl PortMapping {
    /// A mapping. An unspecified host address (`0.0.0.0`, `::`) of the
    /// container's family means every address, like `None`.
    pub fn new(
        protocol: Protocol,
        host_ip: Option<IpAddr>,
        host_ports: PortRange,
        container: IpAddr,
        container_ports: PortRange,
    ) -> Result<PortMapping, PortError> {
        if host_ports.len() != container_ports.len() {
            return Err(PortError::LengthMismatch {
                host: host_ports,
                container: container_ports,
            });
        }
        let host_ip = match host_ip {
            Some(h) if h.is_ipv4() != container.is_ipv4() => {
                return Err(PortError::FamilyMismatch { host: h, container });
            }
            Some(h) if h.is_unspecified() => None,
            other => other,
        };
        Ok(PortMapping {
            protocol,
            host_ip,
            host_ports,
            container,
            container_ports,
        })
    }

    /// A single TCP or UDP port from every host address, the common case.
    ///
    /// ```
    /// use brnet_nat::{PortMapping, Protocol};
    /// let m = PortMapping::port(Protocol::Tcp, 8080, "172.17.0.2".parse()?, 80)?;
    /// assert_eq!(m.to_string(), "8080:172.17.0.2:80/tcp");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn port(
        protocol: Protocol,
        host_port: u16,
        container: IpAddr,
        container_port: u16,
    ) -> Result<PortMapping, PortError> {
        PortMapping::new(
            protocol,
            None,
            PortRange::single(host_port)?,
            container,
            PortRange::single(container_port)?,
        )
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The host address, or `None` for every address of the container's family.
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host_ip
    }

    /// The host ports.
    pub fn host_ports(&self) -> PortRange {
        self.host_ports
    }

    /// The container's address.
    pub fn container(&self) -> IpAddr {
        self.container
    }

    /// The container ports.
    pub fn container_ports(&self) -> PortRange {
        self.container_ports
    }

    /// Each (host port, container port) pair, in order: one firewall
    /// element each.
    pub fn pairs(&self) -> impl Iterator<Item = (u16, u16)> + use<> {
        self.host_ports.iter().zip(self.container_ports.iter())
    }
}

impl fmt::Display for PortMapping {
    /// `[host_ip:]hostports:container:containerports/proto`, IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(f, "{}:", self.host_ports)?;
        match self.container {
            IpAddr::V6(ip) => write!(f, "[{ip}]")?,
            IpAddr::V4(ip) => write!(f, "{ip}")?,
        }
        write!(f, ":{}/{}", self.container_ports, self.protocol)
    }
}

/// One published port, host port to container port: an element of the
/// DNAT maps, and what a read-back finds installed (ranges are installed
/// port by port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublishedPort {
    /// The protocol.
    pub protocol: Protocol,
    /// The host address, or `None` for every address.
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The container's address.
    pub container: IpAddr,
    /// The container's port.
    pub container_port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(s: &str) -> PortSpec {
        s.parse().unwrap()
    }

    fn problem(s: &str) -> PortError {
        s.parse::<PortSpec>().unwrap_err().problem
    }

    #[test]
    fn docker_forms() {
        let p = spec("8080:80");
        assert_eq!(
            (
                p.host_ip(),
                p.host_ports(),
                p.container_ports(),
                p.protocol()
            ),
            (
                None,
                Some(PortRange::single(8080).unwrap()),
                PortRange::single(80).unwrap(),
                Protocol::Tcp
            )
        );
        let p = spec("127.0.0.1:8080:80/udp");
        assert_eq!(p.host_ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p.protocol(), Protocol::Udp);
        let p = spec("8000-8010:80-90");
        assert_eq!(p.host_ports(), Some(PortRange::new(8000, 8010).unwrap()));
        assert_eq!(p.container_ports(), PortRange::new(80, 90).unwrap());
        let p = spec("[::1]:8080:80");
        assert_eq!(p.host_ip(), Some("::1".parse().unwrap()));
        let p = spec("80");
        assert_eq!(p.host_ports(), None);
        assert_eq!(p.container_ports().start(), 80);
        let p = spec("127.0.0.1::80/sctp");
        assert_eq!(p.host_ports(), None);
        assert_eq!(p.protocol(), Protocol::Sctp);
        let p = spec("[fd00::1]::53/UDP");
        assert_eq!(p.protocol(), Protocol::Udp);
    }

    #[test]
    fn typed_errors_name_the_value() {
        assert_eq!(
            problem("0:80"),
            PortError::Zero {
                value: "0".to_owned()
            }
        );
        assert_eq!(
            problem("8080:70000"),
            PortError::TooLarge {
                value: "70000".to_owned()
            }
        );
        assert_eq!(
            problem("8080:99999999999999"),
            PortError::TooLarge {
                value: "99999999999999".to_owned()
            }
        );
        assert_eq!(
            problem("8000-8010:80-85"),
            PortError::LengthMismatch {
                host: PortRange::new(8000, 8010).unwrap(),
                container: PortRange::new(80, 85).unwrap()
            }
        );
        assert_eq!(
            problem("90-80"),
            PortError::Reversed {
                value: "90-80".to_owned()
            }
        );
        assert_eq!(
            problem("80/icmp"),
            PortError::UnknownProtocol {
                value: "icmp".to_owned()
            }
        );
        assert_eq!(
            problem("300.1.1.1:80:80"),
            PortError::BadAddress {
                value: "300.1.1.1".to_owned()
            }
        );
        assert_eq!(
            problem("[::zz]:80:80"),
            PortError::BadAddress {
                value: "::zz".to_owned()
            }
        );
        assert!(matches!(
            problem("::1:8080:80"),
            PortError::UnbracketedIpv6 { .. }
        ));
        assert!(matches!(problem("8080:"), PortError::Malformed { .. }));
        assert!(matches!(
            problem("[::1]8080:80"),
            PortError::Malformed { .. }
        ));
        assert!(matches!(problem("http"), PortError::NotANumber { .. }));
        assert!(matches!(problem(""), PortError::Malformed { .. }));
        let e = "8080:0/tcp".parse::<PortSpec>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid port spec \"8080:0/tcp\": port \"0\" is 0: ports are 1 to 65535"
        );
    }

    #[test]
    fn mapping_checks_family_and_host_port() {
        let c4: IpAddr = "172.17.0.2".parse().unwrap();
        let c6: IpAddr = "fd00::2".parse().unwrap();
        assert!(matches!(
            spec("80").to_mapping(c4),
            Err(PortError::HostPortUnset { .. })
        ));
        let m = spec("80")
            .with_host_ports(PortRange::single(32768).unwrap())
            .unwrap()
            .to_mapping(c4)
            .unwrap();
        assert_eq!(m.host_ports().start(), 32768);
        assert!(matches!(
            spec("[::1]:8080:80").to_mapping(c4),
            Err(PortError::FamilyMismatch { .. })
        ));
        assert_eq!(
            spec("[::1]:8080:80").to_mapping(c6).unwrap().host_ip(),
            Some("::1".parse().unwrap())
        );
        // The unspecified address means "every address".
        assert_eq!(
            spec("0.0.0.0:8080:80").to_mapping(c4).unwrap().host_ip(),
            None
        );
        let r = spec("8000-8002:80-82").to_mapping(c4).unwrap();
        assert_eq!(
            r.pairs().collect::<Vec<_>>(),
            vec![(8000, 80), (8001, 81), (8002, 82)]
        );
        assert_eq!(r.to_string(), "8000-8002:172.17.0.2:80-82/tcp");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<PortSpec>();
        }

        #[test]
        fn display_round_trips(
            ip in proptest::option::of(prop_oneof![
                any::<[u8; 4]>().prop_map(IpAddr::from),
                any::<[u8; 16]>().prop_map(IpAddr::from),
            ]),
            start in 1u16..=60000, len in 0u16..100, cstart in 1u16..=60000,
            host in any::<bool>(),
            proto in prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)],
        ) {
            let host_ports = host.then(|| PortRange::new(start, start + len).unwrap());
            let s = PortSpec::new(proto, ip, host_ports, PortRange::new(cstart, cstart + len).unwrap()).unwrap();
            prop_assert_eq!(s.to_string().parse::<PortSpec>().unwrap(), s);
        }
    }
}
