//! What a caller asks for: network options (with Docker's `-o` keys),
//! connect options, network modes and namespace references.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use brnet_ipam::Order;
use brnet_nat::PortSpec;
use brnet_netlink::{IfName, MacAddr};
use brnet_netns::NetnsDir;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::macvlan::{Driver, MacvlanMode, OPT_MACVLAN_MODE, OPT_PARENT};

/// Docker's option for the bridge's name.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// Docker's option for inter-container communication.
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
/// Docker's option for outbound masquerade.
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// Docker's option for the MTU of the bridge and the veths.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// Docker's option for the default host address of published ports.
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
/// Docker's option for the fixed SNAT source address.
pub const OPT_HOST_IPV4: &str = "com.docker.network.host_ipv4";
/// The network's own upstream name servers, comma-separated
/// ([`NetworkOptions::dns_servers`]).
pub const OPT_DNS_SERVERS: &str = "brnet.dns_servers";
/// The metric of the default routes of the network's endpoints
/// ([`NetworkOptions::metric`]; netavark's `metric`).
pub const OPT_METRIC: &str = "brnet.metric";

/// The address plan of one family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfig {
    /// The subnet; `None` (IPv4 only): the next free default pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<IpNet>,
    /// The gateway; `None`: the subnet's first host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Dynamic addresses come only from here (`--ip-range`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<IpNet>,
    /// Named addresses never handed out (`--aux-address NAME=IP`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

/// How a network should be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkOptions {
    /// The kind of network: a bridge (the default) or macvlan.
    #[serde(default, skip_serializing_if = "Driver::is_plain_bridge")]
    pub driver: Driver,
    /// Whether the network has IPv4 (default true; Docker's `EnableIPv4`).
    /// Without it and without [`ipv6`](NetworkOptions::ipv6), the network
    /// gives no address at all (netavark's IPAM driver `none`): its
    /// endpoints get a link, and their owner addresses it.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enable_ipv4: bool,
    /// IPv4 addressing (with [`enable_ipv4`](NetworkOptions::enable_ipv4));
    /// a bridge network without a subnet gets the next free default pool.
    pub ipv4: IpamConfig,
    /// IPv6 addressing, when the network has IPv6 (`--ipv6`): dual-stack,
    /// or IPv6-only without [`enable_ipv4`](NetworkOptions::enable_ipv4).
    /// Its subnet must be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<IpamConfig>,
    /// No outbound traffic, no published ports, no default route.
    #[serde(default)]
    pub internal: bool,
    /// Inter-container communication on the bridge (default true).
    #[serde(default = "yes")]
    pub icc: bool,
    /// Masquerade outbound traffic (default true).
    #[serde(default = "yes")]
    pub masquerade: bool,
    /// MTU of the bridge and the veths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The bridge's name; `None`: `br-` + 12 hex of the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_name: Option<String>,
    /// Default host address of published ports (`host_binding_ipv4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_binding: Option<IpAddr>,
    /// Fixed SNAT source instead of masquerade (`com.docker.network.host_ipv4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snat_source: Option<Ipv4Addr>,
    /// Order of dynamic addresses: serial (default; a released address is
    /// not handed out again at once) or lowest (Docker's bridge).
    #[serde(default)]
    pub order: Order,
    /// Name resolution for the network's containers (user-defined networks;
    /// `None`: on for user-defined networks, off for `bridge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<bool>,
    /// The search domain names are also answered under (default
    /// `dns.brnet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
    /// The metric of its endpoints' default routes (netavark's `metric`,
    /// 100 there by default). `None`: Docker's model, only the namespace's
    /// first network gives it a default route, with the kernel's metric.
    /// Set: every endpoint gets its default routes with this metric, so a
    /// namespace on several networks has them in order (the lowest wins);
    /// a namespace holding a default route of that metric already gets
    /// none from this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// The name servers the network's resolver forwards its containers'
    /// other names to, in order (netavark's `network_dns_servers`); empty:
    /// the resolver's own upstreams (the host's). Changed in place by
    /// [`BridgeNet::set_dns_servers`](crate::BridgeNet::set_dns_servers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<IpAddr>,
    /// Options as given (`-o KEY=VALUE`), kept for inspect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_options: BTreeMap<String, String>,
    /// Labels, kept for inspect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            driver: Driver::Bridge,
            enable_ipv4: true,
            ipv4: IpamConfig::default(),
            ipv6: None,
            internal: false,
            icc: true,
            masquerade: true,
            mtu: None,
            bridge_name: None,
            host_binding: None,
            snat_source: None,
            order: Order::Serial,
            dns: None,
            dns_domain: None,
            metric: None,
            dns_servers: Vec::new(),
            driver_options: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::option(key, value, "expected true or false")),
    }
}

impl NetworkOptions {
    /// Apply one Docker driver option (`-o KEY=VALUE`). Unknown keys are an
    /// error naming the key, never silently ignored.
    pub fn set_option(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            OPT_BRIDGE_NAME => {
                IfName::new(value).map_err(|e| Error::option(key, value, e))?;
                self.bridge_name = Some(value.to_owned());
            }
            OPT_ICC => self.icc = parse_bool(key, value)?,
            OPT_MASQUERADE => self.masquerade = parse_bool(key, value)?,
            OPT_MTU => {
                let mtu: u32 = value
                    .parse()
                    .map_err(|_| Error::option(key, value, "expected a number"))?;
                if !(68..=65535).contains(&mtu) {
                    return Err(Error::option(key, value, "must be between 68 and 65535"));
                }
                self.mtu = Some(mtu);
            }
            OPT_HOST_BINDING => {
                self.host_binding = Some(
                    value
                        .parse()
                        .map_err(|_| Error::option(key, value, "expected an IP address"))?,
                );
            }
            OPT_HOST_IPV4 => {
                self.snat_source = Some(
                    value
                        .parse()
                        .map_err(|_| Error::option(key, value, "expected an IPv4 address"))?,
                );
            }
            "com.docker.network.bridge.enable_dns" | "brnet.dns" => {
                self.dns = Some(parse_bool(key, value)?)
            }
            "brnet.dns_domain" => {
                if value.is_empty()
                    || !value.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
                {
                    return Err(Error::option(
                        key,
                        value,
                        "expected a DNS domain such as dns.brnet",
                    ));
                }
                self.dns_domain = Some(value.to_owned());
            }
            OPT_METRIC | "metric" => {
                self.metric = Some(
                    value
                        .parse()
                        .map_err(|_| Error::option(key, value, "expected a number"))?,
                );
            }
            OPT_PARENT | OPT_MACVLAN_MODE => {
                let Driver::Macvlan(m) = &mut self.driver else {
                    return Err(Error::option(
                        key,
                        value,
                        "an option of macvlan networks (-d macvlan)",
                    ));
                };
                if key == OPT_PARENT {
                    IfName::new(value).map_err(|e| Error::option(key, value, e))?;
                    m.parent = Some(value.to_owned());
                } else {
                    m.mode = value.parse::<MacvlanMode>()?;
                }
            }
            crate::overlay_options::OPT_VNI
            | crate::overlay_options::OPT_CLUSTER
            | crate::overlay_options::OPT_VTEP => {
                let Driver::Overlay(o) = &mut self.driver else {
                    return Err(Error::option(
                        key,
                        value,
                        "an option of overlay networks (-d overlay)",
                    ));
                };
                o.set(key, value)?;
            }
            OPT_DNS_SERVERS => {
                self.dns_servers = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| {
                        v.parse().map_err(|_| {
                            Error::option(key, value, format!("{v:?} is not an IP address"))
                        })
                    })
                    .collect::<Result<_>>()?;
            }
            _ => {
                return Err(Error::option(
                    key,
                    value,
                    "unknown option (known: com.docker.network.bridge.{name,enable_icc,enable_ip_masquerade,enable_dns,host_binding_ipv4}, com.docker.network.driver.mtu, com.docker.network.host_ipv4, brnet.dns, brnet.dns_domain, brnet.dns_servers, brnet.metric; macvlan: parent, macvlan_mode; overlay: vni, cluster, vtep)",
                ));
            }
        }
        self.driver_options.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    /// Check everything that can be checked without the kernel: families
    /// match, gateway/range/aux inside their subnet, the bridge name valid.
    pub fn validate(&self) -> Result<()> {
        if !self.enable_ipv4 && self.ipv4 != IpamConfig::default() {
            let what = self
                .ipv4
                .subnet
                .map(|s| s.to_string())
                .or(self.ipv4.gateway.map(|g| g.to_string()))
                .or(self.ipv4.ip_range.map(|r| r.to_string()))
                .unwrap_or_else(|| "--aux-address".into());
            return Err(Error::option(
                "--subnet",
                what,
                "an IPv4 setting on a network without IPv4",
            ));
        }
        check_family(&self.ipv4, true, "--subnet")?;
        if let Some(v6) = &self.ipv6 {
            if v6.subnet.is_none() {
                return Err(Error::option(
                    "--ipv6",
                    "true",
                    "an IPv6 network needs its subnet (--subnet with an IPv6 CIDR)",
                ));
            }
            check_family(v6, false, "--subnet")?;
        }
        if let Some(name) = &self.bridge_name {
            IfName::new(name).map_err(|e| Error::option(OPT_BRIDGE_NAME, name, e))?;
        }
        let addressed = self.enable_ipv4 || self.ipv6.is_some();
        if self.dns == Some(true) && !addressed {
            return Err(Error::option(
                "dns",
                "true",
                "a network without addresses has no gateway for a name server to answer on",
            ));
        }
        if let Driver::Macvlan(m) = &self.driver {
            if let Some(p) = &m.parent {
                IfName::new(p).map_err(|e| Error::option(OPT_PARENT, p, e))?;
            }
            let bad = |key: &str, value: String| {
                Err(Error::option(
                    key,
                    value,
                    "not for a macvlan network (no bridge, no NAT: its containers are on the parent's LAN)",
                ))
            };
            if let Some(b) = &self.bridge_name {
                return bad(OPT_BRIDGE_NAME, b.clone());
            }
            if let Some(h) = self.host_binding {
                return bad(OPT_HOST_BINDING, h.to_string());
            }
            if let Some(s) = self.snat_source {
                return bad(OPT_HOST_IPV4, s.to_string());
            }
            if self.dns == Some(true) {
                return bad("dns", "true".into());
            }
            if self.enable_ipv4 && self.ipv4.subnet.is_none() {
                return Err(Error::option(
                    "--subnet",
                    "",
                    "a macvlan network needs its LAN's IPv4 subnet (or no IPv4)",
                ));
            }
        }
        if matches!(self.driver, Driver::Overlay(_))
            && let Some(v6) = self.ipv6.as_ref().and_then(|c| c.subnet)
        {
            // Its addresses would come from this host's pool alone: not
            // unique across hosts.
            return Err(Error::option(
                "--subnet",
                v6,
                "IPv6 on overlay networks is not supported (addresses are allocated across hosts for IPv4 only)",
            ));
        }
        if matches!(self.driver, Driver::Overlay(_))
            && !matches!(self.ipv4.subnet, Some(IpNet::V4(_)))
        {
            return Err(Error::option(
                "--subnet",
                "",
                "an overlay network needs its IPv4 subnet (the same on every host)",
            ));
        }
        if self.internal && self.snat_source.is_some() {
            return Err(Error::option(
                OPT_HOST_IPV4,
                self.snat_source.map(|a| a.to_string()).unwrap_or_default(),
                "an internal network has no outbound traffic to translate",
            ));
        }
        Ok(())
    }
}

fn check_family(cfg: &IpamConfig, v4: bool, what: &str) -> Result<()> {
    let fam = |a: &IpAddr| a.is_ipv4() == v4;
    let want = if v4 { "an IPv4" } else { "an IPv6" };
    if let Some(s) = &cfg.subnet
        && !fam(&s.addr())
    {
        return Err(Error::option(what, s, format!("expected {want} subnet")));
    }
    if let Some(gw) = &cfg.gateway {
        if !fam(gw) {
            return Err(Error::option(
                "--gateway",
                gw,
                format!("expected {want} address"),
            ));
        }
        if let Some(s) = &cfg.subnet
            && !s.contains(gw)
        {
            return Err(Error::option(
                "--gateway",
                gw,
                format!("not inside subnet {s}"),
            ));
        }
    }
    if let Some(r) = &cfg.ip_range {
        if !fam(&r.addr()) {
            return Err(Error::option(
                "--ip-range",
                r,
                format!("expected {want} range"),
            ));
        }
        if let Some(s) = &cfg.subnet
            && !(s.contains(&r.network()) && s.prefix_len() <= r.prefix_len())
        {
            return Err(Error::option(
                "--ip-range",
                r,
                format!("not inside subnet {s}"),
            ));
        }
    }
    for (name, a) in &cfg.aux_addresses {
        if !fam(a) {
            continue;
        }
        if let Some(s) = &cfg.subnet
            && !s.contains(a)
        {
            return Err(Error::option(
                "--aux-address",
                format!("{name}={a}"),
                format!("not inside subnet {s}"),
            ));
        }
        if cfg.gateway == Some(*a) {
            return Err(Error::option(
                "--aux-address",
                format!("{name}={a}"),
                "is the gateway",
            ));
        }
    }
    Ok(())
}

/// How an endpoint's MAC address is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MacPolicy {
    /// `02:42` + the four bytes of the IPv4 address (Docker up to v27):
    /// 172.17.0.3 → `02:42:ac:11:00:03`. Random on IPv6-only networks.
    #[default]
    Derived,
    /// Six random bytes, locally administered, unicast (Docker v28+).
    Random,
    /// This address.
    Fixed(MacAddr),
}

/// How to connect a namespace to a network.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The container's name (for inspect and name resolution); `None`: the
    /// namespace's name.
    pub name: Option<String>,
    /// Interface name inside the namespace; `None`: `eth0`, or the lowest
    /// free `ethN` when the namespace is on other networks already.
    pub ifname: Option<IfName>,
    /// A fixed IPv4 address (`--ip`), anywhere in the subnet.
    pub ipv4: Option<Ipv4Addr>,
    /// A fixed IPv6 address (`--ip6`).
    pub ipv6: Option<Ipv6Addr>,
    /// The MAC.
    pub mac: MacPolicy,
    /// Published ports (`-p`).
    pub ports: Vec<PortSpec>,
    /// Extra names for name resolution (`--alias`).
    pub aliases: Vec<String>,
    /// The runtime's container id (`Containers` key in inspect, shared by
    /// the namespace's endpoints); `None`: the namespace's other
    /// endpoints', else a random one.
    pub container_id: Option<String>,
    /// Which of the namespace's networks gives its default route (Docker
    /// 28's `--gw-priority`; `None` is 0): an endpoint whose priority is
    /// higher than the one holding the default route takes it over (that
    /// one's default route is removed); otherwise the first network's
    /// stays. When the holder leaves a namespace whose endpoints use
    /// priorities, the one with the highest priority left (the earliest of
    /// equals) gets the route; without priorities, none does (as before).
    /// Networks with a metric keep their own model.
    pub gw_priority: Option<i32>,
    /// Leave the namespace's default route alone: no default route through
    /// this network, whatever the priorities (a secondary attachment, e.g.
    /// Multus-style, where another plugin's interface holds it).
    pub keep_default_route: bool,
}

/// A network namespace, by name (under `/run/netns`) or by path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetnsRef {
    /// A named namespace in the default directory.
    Name(String),
    /// A path (`/run/netns/NAME`, `/proc/PID/ns/net`, ...).
    Path(PathBuf),
}

impl NetnsRef {
    /// The path to open.
    pub fn path(&self) -> Result<PathBuf> {
        match self {
            NetnsRef::Name(n) => Ok(NetnsDir::default().path_of(n)?),
            NetnsRef::Path(p) => Ok(p.clone()),
        }
    }

    /// A short name: the namespace's name, the path's file name, or for
    /// `/proc/PID/ns/net` (and `/proc/PID/task/TID/ns/net`) the pid.
    pub fn short_name(&self) -> String {
        match self {
            NetnsRef::Name(n) => n.clone(),
            NetnsRef::Path(p) => {
                let parts: Vec<String> =
                    p.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                match parts.as_slice() {
                    [.., id, ns, net] if ns == "ns" && net == "net" => id.clone(),
                    [.., last] => last.clone(),
                    [] => p.display().to_string(),
                }
            }
        }
    }
}

impl FromStr for NetnsRef {
    type Err = Error;

    /// A string with a `/` is a path; anything else a name.
    fn from_str(s: &str) -> Result<Self> {
        if s.contains('/') {
            Ok(NetnsRef::Path(PathBuf::from(s)))
        } else {
            brnet_netns::NsName::new(s)?;
            Ok(NetnsRef::Name(s.to_owned()))
        }
    }
}

impl fmt::Display for NetnsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsRef::Name(n) => f.write_str(n),
            NetnsRef::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Docker's network modes (`--network`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// A veth on a bridge network (the name of the network).
    Bridge(String),
    /// The host's namespace: nothing is created.
    Host,
    /// Only `lo`.
    None,
    /// Join another container's namespace: no new link.
    Container(String),
}

impl FromStr for NetworkMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            _ => match s.strip_prefix("container:") {
                Some("") => {
                    return Err(Error::InvalidMode {
                        mode: s.to_owned(),
                        reason: "container: needs a container name".into(),
                    });
                }
                Some(other) => NetworkMode::Container(other.to_owned()),
                None => NetworkMode::Bridge(s.to_owned()),
            },
        })
    }
}

/// Check a network name: 1 to 128 characters of `[A-Za-z0-9_.-]`, not
/// starting with `.` or `-` (Docker's rule, with a length limit).
pub fn validate_network_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidNetworkName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > 128 {
        return bad("must be at most 128 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return bad("may only contain letters, digits, '_', '.' and '-'");
    }
    if name.starts_with(['.', '-']) {
        return bad("must start with a letter, a digit or '_'");
    }
    Ok(())
}

/// Parse `NAME=IP` (`--aux-address`).
pub fn parse_aux(s: &str) -> Result<(String, IpAddr)> {
    let (name, ip) = s
        .split_once('=')
        .ok_or_else(|| Error::option("--aux-address", s, "expected NAME=IP"))?;
    let ip = ip
        .parse()
        .map_err(|_| Error::option("--aux-address", s, "not an IP address"))?;
    Ok((name.to_owned(), ip))
}

/// Parse a CIDR for option `what`, refusing host bits
/// (`172.20.0.1/16` is an error naming the value, as Docker's is).
pub fn parse_cidr(what: &str, s: &str) -> Result<IpNet> {
    let net: IpNet = s
        .parse()
        .map_err(|_| Error::option(what, s, "not a CIDR (expected e.g. 172.20.0.0/16)"))?;
    if net.addr() != net.network() {
        return Err(Error::option(
            what,
            s,
            format!("host bits are set (did you mean {}?)", net.trunc()),
        ));
    }
    if net.prefix_len() == 0 {
        return Err(Error::option(what, s, "a /0 would cover every address"));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_options() {
        let mut o = NetworkOptions::default();
        o.set_option(OPT_ICC, "false").unwrap();
        o.set_option(OPT_MTU, "1400").unwrap();
        o.set_option(OPT_BRIDGE_NAME, "mybr0").unwrap();
        assert!(!o.icc);
        assert_eq!(o.mtu, Some(1400));
        assert_eq!(o.bridge_name.as_deref(), Some("mybr0"));
        let e = o.set_option(OPT_ICC, "maybe").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid option com.docker.network.bridge.enable_icc=\"maybe\": expected true or false"
        );
        assert!(
            o.set_option("com.example.nope", "1")
                .unwrap_err()
                .to_string()
                .contains("unknown option")
        );
        assert!(
            o.set_option(OPT_BRIDGE_NAME, "a-name-that-is-too-long")
                .is_err()
        );
    }

    #[test]
    fn cidrs() {
        assert!(parse_cidr("--subnet", "172.20.0.0/16").is_ok());
        for bad in ["172.20.0.0/33", "300.1.1.1/16", "::/0", "0.0.0.0/0", "nope"] {
            assert!(parse_cidr("--subnet", bad).is_err(), "{bad}");
        }
        let e = parse_cidr("--subnet", "172.20.0.1/16")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("172.20.0.1/16") && e.contains("172.20.0.0/16"),
            "{e}"
        );
    }

    #[test]
    fn validation() {
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        o.ipv4.gateway = Some("172.21.0.1".parse().unwrap());
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("not inside subnet")
        );
        o.ipv4.gateway = Some("fd00::1".parse().unwrap());
        assert!(o.validate().unwrap_err().to_string().contains("IPv4"));
        o.ipv4.gateway = Some("172.20.0.1".parse().unwrap());
        o.ipv4
            .aux_addresses
            .insert("gw".into(), "172.20.0.1".parse().unwrap());
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("is the gateway")
        );
        o.ipv4.aux_addresses.clear();
        o.ipv4.ip_range = Some("10.0.0.0/24".parse().unwrap());
        assert!(o.validate().is_err());
        o.ipv4.ip_range = Some("172.20.5.0/24".parse().unwrap());
        o.validate().unwrap();
    }

    #[test]
    fn names_and_modes() {
        for good in ["bridge", "customNetwork", "my_net.1", "a"] {
            validate_network_name(good).unwrap();
        }
        for bad in ["", "has space", "-x", ".x", &"n".repeat(300), "a/b"] {
            assert!(validate_network_name(bad).is_err(), "{bad}");
        }
        assert_eq!("host".parse::<NetworkMode>().unwrap(), NetworkMode::Host);
        assert_eq!("none".parse::<NetworkMode>().unwrap(), NetworkMode::None);
        assert_eq!(
            "container:web".parse::<NetworkMode>().unwrap(),
            NetworkMode::Container("web".into())
        );
        assert!("container:".parse::<NetworkMode>().is_err());
        assert_eq!(
            "c1".parse::<NetnsRef>().unwrap(),
            NetnsRef::Name("c1".into())
        );
        assert_eq!(
            "/proc/1/ns/net".parse::<NetnsRef>().unwrap(),
            NetnsRef::Path("/proc/1/ns/net".into())
        );
        assert_eq!(
            "/proc/1234/ns/net"
                .parse::<NetnsRef>()
                .unwrap()
                .short_name(),
            "1234"
        );
        assert_eq!(
            "/run/netns/web".parse::<NetnsRef>().unwrap().short_name(),
            "web"
        );
        assert_eq!("web".parse::<NetnsRef>().unwrap().short_name(), "web");
    }
}
