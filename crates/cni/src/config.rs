//! The network configuration on stdin, parsed once into what bridge-net
//! needs. Fields are read one by one from the JSON, so a bad one is named
//! with its value (`invalid network config ipam.subnet="10.1.0.1/16": host
//! bits are set`); fields of the reference `bridge` plugin that bridge-net
//! does not implement are refused with code 2 when set to anything but
//! their default; fields nobody here knows are ignored, as the spec asks.

use std::net::IpAddr;
use std::path::PathBuf;

use bridge_net::brnet_nat::{PortRange, Protocol};
use bridge_net::brnet_netlink::MacAddr;
use bridge_net::{NetworkOptions, PortSpec};
use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::version::Version;

/// The bridge when the config names none (the reference plugin's).
pub const DEFAULT_BRIDGE: &str = "cni0";

/// A range of dynamic addresses (`rangeStart`..=`rangeEnd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First address (default: after the network address).
    pub start: Option<IpAddr>,
    /// Last address (default: before the broadcast address).
    pub end: Option<IpAddr>,
}

/// A route from `ipam.routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConf {
    /// Destination.
    pub dst: IpNet,
    /// Next hop (default: the gateway).
    pub gw: Option<IpAddr>,
}

/// What the runtime asks for this container (`runtimeConfig`, `args`,
/// `CNI_ARGS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runtime {
    /// Published ports (`runtimeConfig.portMappings`).
    pub ports: Vec<PortSpec>,
    /// Requested addresses (`runtimeConfig.ips`, `args.cni.ips`, `IP=`).
    pub ips: Vec<IpAddr>,
    /// Requested MAC (`runtimeConfig.mac`, `args.cni.mac`, `MAC=`).
    pub mac: Option<MacAddr>,
    /// Extra names (`runtimeConfig.aliases[<network>]`).
    pub aliases: Vec<String>,
}

/// A parsed network configuration.
#[derive(Debug, Clone)]
pub struct NetConf {
    /// `cniVersion`, as given.
    pub version: String,
    /// It, parsed.
    pub parsed_version: Version,
    /// The network's name.
    pub name: String,
    /// The bridge.
    pub bridge: String,
    /// The network, for bridge-net.
    pub options: NetworkOptions,
    /// The IPv4 range.
    pub range4: Range,
    /// The IPv6 range.
    pub range6: Range,
    /// Routes to install and report.
    pub routes: Vec<RouteConf>,
    /// `hairpinMode`.
    pub hairpin: bool,
    /// The config's own `dns`, echoed in the result.
    pub dns: Value,
    /// What the runtime asks.
    pub runtime: Runtime,
    /// `prevResult`.
    pub prev_result: Option<Value>,
    /// `cni.dev/valid-attachments` (GC): container id and interface.
    pub valid_attachments: Option<Vec<(String, String)>>,
    /// `stateDir`: where bridge-net keeps this plugin's state.
    pub state_dir: Option<PathBuf>,
}

/// A JSON object, read field by field with its path for messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &str) -> Result<Obj<'a>> {
        match v.as_object() {
            Some(map) => Ok(Obj {
                map,
                path: path.to_owned(),
            }),
            None => Err(Error::config(
                if path.is_empty() {
                    "(the network config)"
                } else {
                    path
                },
                v,
                "expected an object",
            )),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(Error::config(self.field(key), v, "expected a string")),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(Error::config(self.field(key), v, "expected true or false")),
        }
    }

    fn u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::config(self.field(key), v, "expected a number")),
        }
    }

    fn ip(&self, key: &str) -> Result<Option<IpAddr>> {
        self.str(key)?
            .map(|s| {
                s.parse()
                    .map_err(|_| Error::config(self.field(key), s, "not an IP address"))
            })
            .transpose()
    }

    fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(Error::config(self.field(key), v, "expected an array")),
        }
    }

    fn obj(&self, key: &str) -> Result<Option<Obj<'a>>> {
        self.get(key)
            .map(|v| Obj::new(v, &self.field(key)))
            .transpose()
    }

    /// Refuse `key` unless it has its default value.
    fn only_default(&self, key: &str, default: &Value, reason: &'static str) -> Result<()> {
        match self.get(key) {
            Some(v) if v != default => Err(Error::Unsupported {
                field: self.field(key),
                value: v.to_string(),
                reason,
            }),
            _ => Ok(()),
        }
    }
}

impl NetConf {
    /// Parse the config text; `cni_args` are `CNI_ARGS`' pairs (for the
    /// tests: the binary reads its stdin as JSON once, see `from_json`).
    #[cfg(test)]
    pub fn parse(text: &str, cni_args: &[(String, String)]) -> Result<NetConf> {
        NetConf::from_json(serde_json::from_str(text), cni_args)
    }

    /// The config on stdin, read as JSON already (once, for the answer's
    /// version too); `cni_args` are `CNI_ARGS`' pairs.
    pub fn from_json(
        v: std::result::Result<Value, serde_json::Error>,
        cni_args: &[(String, String)],
    ) -> Result<NetConf> {
        let v = v.map_err(|source| Error::Decode { cause: source })?;
        let o = Obj::new(&v, "")?;
        let version = o
            .str("cniVersion")?
            .ok_or_else(|| Error::config("cniVersion", "", "missing"))?
            .to_owned();
        let parsed_version = Version::parse(&version)?;
        let name = o
            .str("name")?
            .ok_or_else(|| Error::config("name", "", "missing"))?
            .to_owned();
        bridge_net::validate_network_name(&name).map_err(|e| Error::config("name", &name, e))?;

        // The reference bridge plugin's fields bridge-net does not have.
        let f = Value::Bool(false);
        o.only_default(
            "promiscMode",
            &f,
            "bridge-net leaves the bridge's promiscuity alone",
        )?;
        o.only_default("vlan", &Value::from(0), "VLANs are not implemented")?;
        o.only_default(
            "vlanTrunk",
            &Value::Array(Vec::new()),
            "VLANs are not implemented",
        )?;
        o.only_default("macspoofchk", &f, "MAC spoof checking is not implemented")?;
        o.only_default(
            "disableContainerInterface",
            &f,
            "the container's interface is always up",
        )?;
        o.only_default(
            "portIsolation",
            &f,
            "port isolation is not implemented (networks are isolated from each other)",
        )?;
        o.only_default(
            "isGateway",
            &Value::Bool(true),
            "bridge-net's bridge always holds the gateway address",
        )?;

        let bridge = o.str("bridge")?.unwrap_or(DEFAULT_BRIDGE).to_owned();
        let mut options = NetworkOptions {
            bridge_name: Some(bridge.clone()),
            // The reference plugin masquerades only when asked.
            masquerade: o.bool("ipMasq")?.unwrap_or(false),
            ..NetworkOptions::default()
        };
        if let Some(mtu) = o.u64("mtu")? {
            options
                .set_option(bridge_net::OPT_MTU, &mtu.to_string())
                .map_err(|e| Error::config("mtu", mtu, reason(e)))?;
        }
        let hairpin = o.bool("hairpinMode")?.unwrap_or(false);
        // bridge-net's name resolver for the network's containers: on
        // unless `"resolver": false` (the reference plugins have none).
        if o.bool("resolver")? == Some(false) {
            options.dns = Some(false);
        }

        let ipam = o.obj("ipam")?.ok_or_else(|| {
            Error::config("ipam", "", "missing: bridge-net allocates from ipam.subnet")
        })?;
        let (range4, range6, routes) = parse_ipam(&ipam, &mut options)?;
        options
            .validate()
            .map_err(|e| Error::config("ipam", &name, e))?;

        let runtime = parse_runtime(&o, &name, cni_args)?;
        let valid_attachments = match o.array("cni.dev/valid-attachments")? {
            None => None,
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for (i, a) in list.iter().enumerate() {
                    let a = Obj::new(a, &format!("cni.dev/valid-attachments[{i}]"))?;
                    let id = a
                        .str("containerID")?
                        .ok_or_else(|| Error::config(a.field("containerID"), "", "missing"))?;
                    let ifname = a
                        .str("ifname")?
                        .ok_or_else(|| Error::config(a.field("ifname"), "", "missing"))?;
                    out.push((id.to_owned(), ifname.to_owned()));
                }
                Some(out)
            }
        };
        Ok(NetConf {
            version,
            parsed_version,
            name,
            bridge,
            options,
            range4,
            range6,
            routes,
            hairpin,
            dns: o.get("dns").cloned().unwrap_or(Value::Null),
            runtime,
            prev_result: o.get("prevResult").cloned(),
            valid_attachments,
            state_dir: o.str("stateDir")?.map(PathBuf::from),
        })
    }
}

/// `ipam`: `subnet`/`rangeStart`/`rangeEnd`/`gateway` or host-local's
/// `ranges` (one range per set, one set per family), and `routes`.
fn parse_ipam(
    ipam: &Obj<'_>,
    options: &mut NetworkOptions,
) -> Result<(Range, Range, Vec<RouteConf>)> {
    match ipam.str("type")? {
        None | Some("host-local" | "brnet" | "") => {}
        Some(other) => {
            return Err(Error::Unsupported {
                field: ipam.field("type"),
                value: format!("{other:?}"),
                reason: "bridge-net allocates addresses itself (host-local semantics)",
            });
        }
    }
    let mut ranges: Vec<Obj<'_>> = Vec::new();
    if ipam.get("subnet").is_some() {
        ranges.push(Obj {
            map: ipam.map,
            path: ipam.path.clone(),
        });
    }
    if let Some(sets) = ipam.array("ranges")? {
        for (i, set) in sets.iter().enumerate() {
            let field = format!("{}[{i}]", ipam.field("ranges"));
            let Some(list) = set.as_array() else {
                return Err(Error::config(field, set, "expected an array of ranges"));
            };
            if list.len() > 1 {
                return Err(Error::Unsupported {
                    field: format!("{field}[1]"),
                    value: list[1].to_string(),
                    reason: "one range per range set",
                });
            }
            match list.first() {
                Some(r) => ranges.push(Obj::new(r, &format!("{field}[0]"))?),
                None => return Err(Error::config(field, set, "an empty range set")),
            }
        }
    }
    if ranges.is_empty() {
        return Err(Error::config(ipam.field("subnet"), "", "missing"));
    }
    let mut range4 = Range {
        start: None,
        end: None,
    };
    let mut range6 = range4;
    for r in &ranges {
        let s = r
            .str("subnet")?
            .ok_or_else(|| Error::config(r.field("subnet"), "", "missing"))?;
        let subnet = bridge_net::parse_cidr(&r.field("subnet"), s)
            .map_err(|e| Error::config(r.field("subnet"), s, reason(e)))?;
        let (cfg, range) = match subnet {
            IpNet::V4(_) if options.ipv4.subnet.is_none() => (&mut options.ipv4, &mut range4),
            IpNet::V6(_) if options.ipv6.is_none() => {
                (options.ipv6.insert(Default::default()), &mut range6)
            }
            _ => {
                return Err(Error::Unsupported {
                    field: r.field("subnet"),
                    value: format!("{s:?}"),
                    reason: "one subnet per address family",
                });
            }
        };
        cfg.subnet = Some(subnet);
        if let Some(gw) = r.ip("gateway")? {
            if !subnet.contains(&gw) {
                return Err(Error::config(
                    r.field("gateway"),
                    gw,
                    format!("not inside {subnet}"),
                ));
            }
            cfg.gateway = Some(gw);
        }
        for (key, slot) in [
            ("rangeStart", &mut range.start),
            ("rangeEnd", &mut range.end),
        ] {
            if let Some(a) = r.ip(key)? {
                if !subnet.contains(&a) {
                    return Err(Error::config(
                        r.field(key),
                        a,
                        format!("not inside {subnet}"),
                    ));
                }
                *slot = Some(a);
            }
        }
        if let (Some(a), Some(b)) = (range.start, range.end)
            && a > b
        {
            return Err(Error::config(
                r.field("rangeEnd"),
                b,
                format!("before rangeStart {a}"),
            ));
        }
    }
    // IPv6-only when the ranges are IPv6's alone.
    options.enable_ipv4 = options.ipv4.subnet.is_some();
    if options.ipv4.subnet.is_none() && options.ipv6.is_none() {
        return Err(Error::config(ipam.field("subnet"), "", "missing"));
    }
    let mut routes = Vec::new();
    for (i, r) in ipam.array("routes")?.into_iter().flatten().enumerate() {
        let r = Obj::new(r, &format!("{}[{i}]", ipam.field("routes")))?;
        let dst = r
            .str("dst")?
            .ok_or_else(|| Error::config(r.field("dst"), "", "missing"))?;
        let dst: IpNet = dst
            .parse()
            .map_err(|_| Error::config(r.field("dst"), dst, "not a CIDR"))?;
        let gw = r.ip("gw")?;
        routes.push(RouteConf {
            dst: dst.trunc(),
            gw,
        });
    }
    Ok((range4, range6, routes))
}

/// The reason of a bridge-net option error, without the option and value
/// (the caller names them as the config does).
fn reason(e: bridge_net::Error) -> String {
    match e {
        bridge_net::Error::InvalidOption { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// `runtimeConfig`, `args.cni` and `CNI_ARGS`.
fn parse_runtime(o: &Obj<'_>, network: &str, cni_args: &[(String, String)]) -> Result<Runtime> {
    let mut rt = Runtime::default();
    let ip_of = |field: &str, s: &str| -> Result<IpAddr> {
        let bare = s.split('/').next().unwrap_or(s);
        bare.parse()
            .map_err(|_| Error::config(field, s, "not an IP address"))
    };
    let mac_of = |field: &str, s: &str| -> Result<MacAddr> {
        s.parse().map_err(|e| Error::config(field, s, e))
    };
    let mut sources = Vec::new();
    if let Some(rc) = o.obj("runtimeConfig")? {
        sources.push(rc);
    }
    if let Some(args) = o.obj("args")?
        && let Some(cni) = args.obj("cni")?
    {
        sources.push(cni);
    }
    for src in &sources {
        for (i, ip) in src.array("ips")?.into_iter().flatten().enumerate() {
            let field = format!("{}[{i}]", src.field("ips"));
            let s = ip
                .as_str()
                .ok_or_else(|| Error::config(&field, ip, "expected a string"))?;
            rt.ips.push(ip_of(&field, s)?);
        }
        if let Some(m) = src.str("mac")? {
            rt.mac = Some(mac_of(&src.field("mac"), m)?);
        }
    }
    if let Some(rc) = o.obj("runtimeConfig")? {
        for (i, pm) in rc.array("portMappings")?.into_iter().flatten().enumerate() {
            let pm = Obj::new(pm, &format!("{}[{i}]", rc.field("portMappings")))?;
            let port = |key: &str| -> Result<PortRange> {
                let n = pm
                    .u64(key)?
                    .ok_or_else(|| Error::config(pm.field(key), "", "missing"))?;
                u16::try_from(n)
                    .map_err(|_| Error::config(pm.field(key), n, "not a port"))
                    .and_then(|p| {
                        PortRange::single(p).map_err(|e| Error::config(pm.field(key), n, e))
                    })
            };
            let host = port("hostPort")?;
            let container = port("containerPort")?;
            let protocol: Protocol = pm.str("protocol")?.unwrap_or("tcp").parse().map_err(|e| {
                Error::config(
                    pm.field("protocol"),
                    pm.get("protocol").unwrap_or(&Value::Null),
                    e,
                )
            })?;
            let host_ip = match pm.str("hostIP")? {
                None | Some("") => None,
                Some(s) => Some(ip_of(&pm.field("hostIP"), s)?),
            };
            rt.ports.push(
                PortSpec::new(protocol, host_ip, Some(host), container)
                    .map_err(|e| Error::config(pm.field("hostPort"), host, e))?,
            );
        }
        if let Some(aliases) = rc.obj("aliases")?
            && let Some(list) = aliases.array(network)?
        {
            rt.aliases = list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
        }
    }
    for (k, v) in cni_args {
        match k.as_str() {
            "IP" => {
                for s in v.split(',').filter(|s| !s.is_empty()) {
                    rt.ips.push(ip_of("CNI_ARGS IP", s)?);
                }
            }
            "MAC" if !v.is_empty() => rt.mac = Some(mac_of("CNI_ARGS MAC", v)?),
            _ => {}
        }
    }
    rt.ips.dedup();
    Ok(rt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODMAN: &str = include_str!("../tests/fixtures/bridge-ADD-stdin.json");

    #[test]
    fn podman_conflist_entry() {
        let c = NetConf::parse(PODMAN, &[]).unwrap();
        assert_eq!(c.version, "0.4.0");
        assert_eq!(c.name, "cninet");
        assert_eq!(c.bridge, "cni-podman1");
        assert_eq!(c.options.ipv4.subnet.unwrap().to_string(), "10.90.0.0/24");
        assert_eq!(c.options.ipv4.gateway.unwrap().to_string(), "10.90.0.1");
        assert!(c.options.masquerade && c.hairpin);
        assert_eq!(
            c.routes,
            [RouteConf {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: None
            }]
        );
    }

    #[test]
    fn ip_masq_defaults_to_false_as_in_the_reference_plugin() {
        let c = NetConf::parse(
            r#"{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"subnet":"10.5.0.0/16"}}"#,
            &[],
        )
        .unwrap();
        assert!(!c.options.masquerade);
    }

    #[test]
    fn standard_ipam_and_runtime() {
        let c = NetConf::parse(
            r#"{"cniVersion":"1.1.0","name":"n","type":"bridge","mtu":1400,"ipMasq":false,
                "ipam":{"type":"host-local","subnet":"10.5.0.0/16","rangeStart":"10.5.1.10","rangeEnd":"10.5.1.20",
                        "gateway":"10.5.0.1","routes":[{"dst":"192.168.0.0/16","gw":"10.5.0.254"}]},
                "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],
                                 "ips":["10.5.1.15/16"],"mac":"02:00:00:00:00:01"}}"#,
            &[("IgnoreUnknown".into(), "1".into())],
        )
        .unwrap();
        assert_eq!(c.options.mtu, Some(1400));
        assert!(!c.options.masquerade);
        assert_eq!(c.range4.start.unwrap().to_string(), "10.5.1.10");
        assert_eq!(c.runtime.ports[0].to_string(), "8080:80/tcp");
        assert_eq!(c.runtime.ips[0].to_string(), "10.5.1.15");
        assert!(c.runtime.mac.is_some());
        assert_eq!(c.bridge, DEFAULT_BRIDGE);
    }

    #[test]
    fn refusals_and_codes() {
        use crate::error::Code;
        let base =
            r#"{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"subnet":"10.5.0.0/16"}"#;
        for (extra, code, needle) in [
            (r#","vlan":5"#, Code::UnsupportedField, "vlan=5"),
            (
                r#","promiscMode":true"#,
                Code::UnsupportedField,
                "promiscMode=true",
            ),
            (
                r#","isGateway":false"#,
                Code::UnsupportedField,
                "isGateway=false",
            ),
            (
                r#","mtu":"big""#,
                Code::InvalidConfig,
                "mtu=\"\\\"big\\\"\"",
            ),
            (r#","mtu":20"#, Code::InvalidConfig, "mtu=\"20\""),
            (
                r#","runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":80}]}"#,
                Code::InvalidConfig,
                "portMappings[0].hostPort",
            ),
        ] {
            let text = format!("{base}{extra}}}");
            let e = NetConf::parse(&text, &[]).unwrap_err();
            assert_eq!(e.code(), code, "{extra}: {e}");
            assert!(e.to_string().contains(needle), "{extra}: {e}");
        }
        for (text, code, needle) in [
            (
                r#"{"cniVersion":"9.9.9","name":"n","ipam":{"subnet":"10.5.0.0/16"}}"#,
                Code::IncompatibleVersion,
                "9.9.9",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","ipam":{"subnet":"10.5.0.1/16"}}"#,
                Code::InvalidConfig,
                "ipam.subnet=\"10.5.0.1/16\"",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","ipam":{"subnet":"nope"}}"#,
                Code::InvalidConfig,
                "ipam.subnet=\"nope\"",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","ipam":{"subnet":"10.5.0.0/16","gateway":"10.6.0.1"}}"#,
                Code::InvalidConfig,
                "ipam.gateway",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":"dhcp","subnet":"10.5.0.0/16"}}"#,
                Code::UnsupportedField,
                "ipam.type",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","ipam":{"ranges":[[{"subnet":"10.5.0.0/16"},{"subnet":"10.6.0.0/16"}]]}}"#,
                Code::UnsupportedField,
                "ipam.ranges[0][1]",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n"}"#,
                Code::InvalidConfig,
                "ipam",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"bad name","ipam":{"subnet":"10.5.0.0/16"}}"#,
                Code::InvalidConfig,
                "name=\"bad name\"",
            ),
            (
                r#"{"name":"n","ipam":{"subnet":"10.5.0.0/16"}}"#,
                Code::InvalidConfig,
                "cniVersion",
            ),
            (r#"{"cniVersion":"#, Code::Decode, "decode"),
            (r#"[]"#, Code::InvalidConfig, "expected an object"),
        ] {
            let e = NetConf::parse(text, &[]).unwrap_err();
            assert_eq!(e.code(), code, "{text}: {e}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
            assert!(!e.to_string().contains('\n'));
        }
    }
}
