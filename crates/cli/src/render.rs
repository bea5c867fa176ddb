//! What the commands print: the `network ls` table, an endpoint as
//! `key  value` lines, JSON indented as docker indents it.

use std::fmt::Write;
use std::net::IpAddr;

use bridge_net::brnet_nat::PortMapping;
use std::collections::BTreeMap;

use bridge_net::{EndpointInfo, NetworkInfo};
use serde::Serialize;
use serde_json::Value;

use crate::args::ListFormat;
use crate::template::TemplateError;

/// Columns padded to their widest cell plus three spaces, and at least
/// ten wide, as docker's tables are (its tabwriter's minwidth 10, padding
/// 3); the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}", w = (widths[c] + 3).max(10));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A network id as `network ls` shows it: 12 hex digits, or all of them.
pub fn short_id(id: &str, no_trunc: bool) -> &str {
    if no_trunc {
        id
    } else {
        id.get(..12).unwrap_or(id)
    }
}

/// `network ls`: NETWORK ID, NAME, DRIVER, SCOPE.
pub fn network_table(nets: &[NetworkInfo], no_trunc: bool) -> String {
    let mut rows = vec![
        ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for n in nets {
        rows.push(vec![
            short_id(&n.id, no_trunc).to_owned(),
            n.name.clone(),
            n.driver.to_owned(),
            "local".to_owned(),
        ]);
    }
    table(&rows)
}

/// Go's `time.Time` as Docker prints `CreatedAt`: `2026-12-05
/// 14:00:00.123456789 +0000 UTC` (trailing zeros of the fraction
/// dropped) from our RFC 3339 `2026-12-05T14:00:00.123456789Z`.
pub fn created_at(rfc3339: &str) -> String {
    let Some(t) = rfc3339.strip_suffix('Z') else {
        return rfc3339.to_owned();
    };
    let t = t.replacen('T', " ", 1);
    let t = match t.split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{frac}")
            }
        }
        None => t,
    };
    format!("{t} +0000 UTC")
}

/// A network as `docker network ls --format json` prints it: Docker's
/// keys, in its (sorted) order, every value a string.
pub fn ls_row(n: &NetworkInfo, no_trunc: bool) -> Value {
    let labels: Vec<String> = n
        .options
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut m = BTreeMap::new();
    m.insert("CreatedAt", created_at(&n.created));
    m.insert("Driver", n.driver.to_owned());
    m.insert("ID", short_id(&n.id, no_trunc).to_owned());
    m.insert("IPv4", n.options.enable_ipv4.to_string());
    m.insert("IPv6", n.options.ipv6.is_some().to_string());
    m.insert("Internal", n.internal.to_string());
    m.insert("Labels", labels.join(","));
    m.insert("Name", n.name.clone());
    m.insert("Scope", "local".to_owned());
    let mut o = serde_json::Map::new();
    for (k, v) in m {
        o.insert(k.to_owned(), Value::String(v));
    }
    Value::Object(o)
}

/// The header a `table TEMPLATE` of `network ls` prints its fields under.
pub fn ls_header() -> Value {
    serde_json::json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
        "CreatedAt": "CREATED AT",
    })
}

/// A list in `format`: `table()` for the default table; one JSON object
/// per line; or the template per row (with `header` rendered first and
/// the tab-separated columns aligned for `table TEMPLATE`).
pub fn list<I: Iterator<Item = Value>>(
    format: &ListFormat,
    table_text: impl FnOnce() -> String,
    rows: impl FnOnce() -> I,
    header: Value,
) -> Result<String, TemplateError> {
    match format {
        ListFormat::Table => Ok(table_text()),
        ListFormat::Json => {
            let mut out = String::new();
            for r in rows() {
                out.push_str(&serde_json::to_string(&r).unwrap_or_default());
                out.push('\n');
            }
            Ok(out)
        }
        ListFormat::Template {
            table: false,
            template,
        } => {
            let mut out = String::new();
            for r in rows() {
                out.push_str(&template.render(&r)?);
                out.push('\n');
            }
            Ok(out)
        }
        ListFormat::Template {
            table: true,
            template,
        } => {
            let mut lines = vec![template.render(&header)?];
            for r in rows() {
                lines.push(template.render(&r)?);
            }
            let cells: Vec<Vec<String>> = lines
                .iter()
                .map(|l| l.split('\t').map(str::to_owned).collect())
                .collect();
            Ok(self::table(&cells))
        }
    }
}

/// A published port as `docker ps` shows it: `0.0.0.0:8080->80/tcp`.
pub fn port(m: &PortMapping) -> String {
    let host = match (m.host_ip(), m.container()) {
        (Some(IpAddr::V6(ip)), _) => format!("[{ip}]"),
        (Some(IpAddr::V4(ip)), _) => ip.to_string(),
        (None, IpAddr::V4(_)) => "0.0.0.0".to_owned(),
        (None, IpAddr::V6(_)) => "[::]".to_owned(),
    };
    format!(
        "{host}:{}->{}/{}",
        m.host_ports(),
        m.container_ports(),
        m.protocol()
    )
}

/// `network connect`: what a runtime needs, one `key  value` line each;
/// absent facts are left out, ports and aliases get a line each.
pub fn endpoint(ep: &EndpointInfo) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |k: &str, v: String| rows.push(vec![k.to_owned(), v]);
    row("network", ep.network.clone());
    row("container", ep.container.clone());
    row("netns", ep.netns.display().to_string());
    row("interface", ep.ifname.clone());
    if let Some(a) = ep.ipv4 {
        row("address", a.to_string());
    }
    if let Some(g) = ep.gateway4 {
        row("gateway", g.to_string());
    }
    if let Some(a) = ep.ipv6 {
        row("address6", a.to_string());
    }
    if let Some(g) = ep.gateway6 {
        row("gateway6", g.to_string());
    }
    row("mac", ep.mac.to_string());
    if !ep.host_veth.is_empty() {
        row("host veth", ep.host_veth.clone());
    }
    row(
        "default route",
        if ep.default_route { "yes" } else { "no" }.to_owned(),
    );
    for p in &ep.ports {
        row("port", port(p));
    }
    for a in &ep.aliases {
        row("alias", a.clone());
    }
    for d in &ep.dns_servers {
        row("dns", d.to_string());
    }
    row("endpoint id", ep.id.clone());
    table(&rows)
}

/// `value` as JSON indented by four spaces (docker's `MarshalIndent`),
/// with a final newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serializing our own plain data to memory cannot fail; if it ever
    // did, the output would be visibly empty rather than wrong.
    if value.serialize(&mut ser).is_err() {
        buf.clear();
    }
    let mut out = String::from_utf8(buf).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_net::NetworkOptions;

    fn info(name: &str, id: &str) -> NetworkInfo {
        NetworkInfo {
            name: name.into(),
            id: id.into(),
            bridge: "br-x".into(),
            driver: "bridge",
            subnet: Some("172.20.0.0/16".parse().unwrap()),
            gateway: Some("172.20.0.1".parse().unwrap()),
            subnet6: None,
            gateway6: None,
            internal: false,
            default: false,
            endpoints: 0,
            created: String::new(),
            options: NetworkOptions::default(),
        }
    }

    #[test]
    fn ls_table_like_docker() {
        let id = "3f2a1b0c4d5e".repeat(5) + "abcd";
        let t = network_table(
            &[info("bridge", &"a".repeat(64)), info("customNetwork", &id)],
            false,
        );
        assert_eq!(
            t,
            "NETWORK ID     NAME            DRIVER    SCOPE\n\
             aaaaaaaaaaaa   bridge          bridge    local\n\
             3f2a1b0c4d5e   customNetwork   bridge    local\n"
        );
        assert!(network_table(&[info("n", &id)], true).contains(&id));
    }

    #[test]
    fn endpoint_lines() {
        let c: IpAddr = "172.20.0.2".parse().unwrap();
        let ep = EndpointInfo {
            id: "e".repeat(64),
            network: "web".into(),
            container_id: "c".repeat(64),
            container: "c1".into(),
            netns: "/run/netns/c1".into(),
            ifname: "eth0".into(),
            host_veth: "veth0123abc".into(),
            mac: "02:42:ac:14:00:02".parse().unwrap(),
            ipv4: Some("172.20.0.2/16".parse().unwrap()),
            gateway4: Some("172.20.0.1".parse().unwrap()),
            ipv6: None,
            gateway6: None,
            default_route: true,
            ports: vec![
                PortMapping::port(bridge_net::brnet_nat::Protocol::Tcp, 8080, c, 80).unwrap(),
            ],
            aliases: vec![],
            dns_servers: vec![],
            dns_search_domains: vec![],
            dns_warning: None,
        };
        let text = endpoint(&ep);
        assert!(text.starts_with("network         web\n"), "{text}");
        for line in [
            "interface       eth0\n",
            "address         172.20.0.2/16\n",
            "gateway         172.20.0.1\n",
            "mac             02:42:ac:14:00:02\n",
            "host veth       veth0123abc\n",
            "port            0.0.0.0:8080->80/tcp\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
        assert!(!text.contains("address6"));
    }

    #[test]
    fn ls_row_has_dockers_keys() {
        let mut n = info("web", &"ab".repeat(32));
        n.created = "2026-12-05T14:00:00.120000000Z".into();
        n.options.labels.insert("team".into(), "a".into());
        n.options.labels.insert("env".into(), "ci".into());
        assert_eq!(
            serde_json::to_string(&ls_row(&n, false)).unwrap(),
            r#"{"CreatedAt":"2026-12-05 14:00:00.12 +0000 UTC","Driver":"bridge","ID":"abababababab","IPv4":"true","IPv6":"false","Internal":"false","Labels":"env=ci,team=a","Name":"web","Scope":"local"}"#
        );
        assert_eq!(
            created_at("2026-12-05T14:00:00.000000000Z"),
            "2026-12-05 14:00:00 +0000 UTC"
        );
    }

    #[test]
    fn json_four_spaces() {
        assert_eq!(
            json(&serde_json::json!([{"a": 1}])),
            "[\n    {\n        \"a\": 1\n    }\n]\n"
        );
    }
}
