//! CNI versions, and the result of ADD written in the version of the
//! config it answers: a runtime (and the next plugin of a chain, such as
//! `portmap` in Podman's 0.4.0 conflists) reads the version it wrote.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Every version we speak, oldest first.
pub const SUPPORTED: &[&str] = &[
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

/// Our newest version: VERSION answers in it when asked in no version.
pub const LATEST: &str = "1.1.0";

/// A parsed CNI version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(u16, u16, u16);

impl Version {
    /// Parse one of [`SUPPORTED`]; anything else is error code 1.
    pub fn parse(s: &str) -> Result<Version> {
        let bad = || Error::Version {
            version: s.to_owned(),
            supported: SUPPORTED.join(", "),
        };
        if !SUPPORTED.contains(&s) {
            return Err(bad());
        }
        let mut it = s.split('.').map(|p| p.parse::<u16>().map_err(|_| bad()));
        let (Some(a), Some(b), Some(c)) = (it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        Ok(Version(a?, b?, c?))
    }

    /// 0.4.0: CHECK and prevResult on DEL.
    pub const V0_4_0: Version = Version(0, 4, 0);
    /// 1.1.0: STATUS and GC.
    pub const V1_1_0: Version = Version(1, 1, 0);
    const V0_3_0: Version = Version(0, 3, 0);
    const V1_0_0: Version = Version(1, 0, 0);
}

/// One interface of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its MAC.
    pub mac: String,
    /// Its namespace (container side only).
    pub sandbox: Option<String>,
}

/// One address of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The address with its prefix.
    pub address: IpNet,
    /// The gateway.
    pub gateway: Option<IpAddr>,
    /// The index of its interface in `interfaces`.
    pub interface: usize,
}

/// One route of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination.
    pub dst: IpNet,
    /// Next hop, when not the default one.
    pub gw: Option<IpAddr>,
}

/// The result of ADD, in no particular version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddResult {
    /// Bridge, host veth, container interface.
    pub interfaces: Vec<Interface>,
    /// Addresses.
    pub ips: Vec<Address>,
    /// Routes.
    pub routes: Vec<Route>,
    /// DNS settings (`nameservers`, `domain`, `search`, `options`), as JSON.
    pub dns: Value,
}

fn route(r: &Route) -> Value {
    match r.gw {
        Some(gw) => json!({"dst": r.dst.to_string(), "gw": gw.to_string()}),
        None => json!({"dst": r.dst.to_string()}),
    }
}

impl AddResult {
    /// The result as the version `v` writes it.
    pub fn render(&self, v: &str) -> Result<Value> {
        let ver = Version::parse(v)?;
        let dns = if self.dns.is_null() {
            json!({})
        } else {
            self.dns.clone()
        };
        if ver < Version::V0_3_0 {
            // 0.1.0 / 0.2.0: ip4 and ip6, no interfaces.
            let mut out = json!({"cniVersion": v, "dns": dns});
            for a in &self.ips {
                let key = if a.address.addr().is_ipv4() {
                    "ip4"
                } else {
                    "ip6"
                };
                let routes: Vec<Value> = self
                    .routes
                    .iter()
                    .filter(|r| r.dst.addr().is_ipv4() == a.address.addr().is_ipv4())
                    .map(route)
                    .collect();
                let mut ip = json!({"ip": a.address.to_string(), "routes": routes});
                if let Some(gw) = a.gateway {
                    ip["gateway"] = json!(gw.to_string());
                }
                out[key] = ip;
            }
            return Ok(out);
        }
        let interfaces: Vec<Value> = self
            .interfaces
            .iter()
            .map(|i| match &i.sandbox {
                Some(s) => json!({"name": i.name, "mac": i.mac, "sandbox": s}),
                None => json!({"name": i.name, "mac": i.mac}),
            })
            .collect();
        let ips: Vec<Value> = self
            .ips
            .iter()
            .map(|a| {
                let mut ip = json!({"interface": a.interface, "address": a.address.to_string()});
                if let Some(gw) = a.gateway {
                    ip["gateway"] = json!(gw.to_string());
                }
                if ver < Version::V1_0_0 {
                    ip["version"] = json!(if a.address.addr().is_ipv4() { "4" } else { "6" });
                }
                ip
            })
            .collect();
        Ok(json!({
            "cniVersion": v,
            "interfaces": interfaces,
            "ips": ips,
            "routes": self.routes.iter().map(route).collect::<Vec<_>>(),
            "dns": dns,
        }))
    }
}

/// The addresses of a `prevResult`, in any version.
pub fn prev_addresses(prev: &Value) -> Vec<IpNet> {
    let mut out = Vec::new();
    if let Some(ips) = prev.get("ips").and_then(Value::as_array) {
        out.extend(
            ips.iter()
                .filter_map(|i| i.get("address")?.as_str()?.parse::<IpNet>().ok()),
        );
    }
    for key in ["ip4", "ip6"] {
        if let Some(a) = prev
            .get(key)
            .and_then(|i| i.get("ip"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
        {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AddResult {
        AddResult {
            interfaces: vec![
                Interface {
                    name: "cni-podman1".into(),
                    mac: "06:95:13:b6:b3:19".into(),
                    sandbox: None,
                },
                Interface {
                    name: "veth7333de9f".into(),
                    mac: "32:18:78:af:cc:e3".into(),
                    sandbox: None,
                },
                Interface {
                    name: "eth0".into(),
                    mac: "de:61:cf:3c:52:5d".into(),
                    sandbox: Some("/run/netns/netns-523d1b48-6644-bab2-9f06-83dda976d95b".into()),
                },
            ],
            ips: vec![Address {
                address: "10.90.0.2/24".parse().unwrap(),
                gateway: Some("10.90.0.1".parse().unwrap()),
                interface: 2,
            }],
            routes: vec![Route {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: None,
            }],
            dns: Value::Null,
        }
    }

    #[test]
    fn renders_the_captured_0_4_0_result() {
        // The reference bridge's stdout in Podman's chain, as captured.
        let want: Value =
            serde_json::from_str(include_str!("../tests/fixtures/bridge-ADD-stdout.json")).unwrap();
        assert_eq!(sample().render("0.4.0").unwrap(), want);
    }

    #[test]
    fn versions() {
        let r = sample();
        let v1 = r.render("1.0.0").unwrap();
        assert!(v1["ips"][0].get("version").is_none());
        assert_eq!(v1["cniVersion"], "1.0.0");
        let v2 = r.render("0.2.0").unwrap();
        assert_eq!(v2["ip4"]["ip"], "10.90.0.2/24");
        assert_eq!(v2["ip4"]["gateway"], "10.90.0.1");
        assert!(v2.get("interfaces").is_none());
        assert_eq!(prev_addresses(&v1), prev_addresses(&v2));
        assert!(Version::parse("0.4.0").unwrap() < Version::V1_1_0);
        for bad in ["2.0.0", "", "0.4", "1.1.0.0", "latest"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }
}
