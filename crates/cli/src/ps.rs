//! `brnet ps` and `brnet port`: the container-side view, every endpoint
//! with its namespace, addresses, MAC and published ports.

use std::io::Write;

use bridge_net::brnet_nat::{PortMapping, Protocol};
use bridge_net::{BridgeNet, Config, EndpointInfo};
use serde_json::{Value, json};

use crate::args::{PortArgs, PsArgs};
use crate::failure::{BadInput, Failed, Failure, Failures};
use crate::{input, render};

/// Run `brnet ps`.
pub fn ps(a: &PsArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failures> {
    run(a, config, out).map_err(|e| vec![Failed::new("ps", e)])
}

fn endpoints(config: &Config, network: Option<&str>) -> Result<Vec<EndpointInfo>, Failure> {
    let mut eps = BridgeNet::open_with(config.clone())?.endpoints(network)?;
    eps.sort_by(|x, y| (&x.netns, &x.ifname, &x.network).cmp(&(&y.netns, &y.ifname, &y.network)));
    Ok(eps)
}

/// A namespace as the user names it: `c1` for `/run/netns/c1`.
fn netns_name(ep: &EndpointInfo) -> String {
    let p = ep.netns.display().to_string();
    match p.strip_prefix("/run/netns/") {
        Some(n) if !n.contains('/') => n.to_owned(),
        _ if p.is_empty() => "-".to_owned(),
        _ => p,
    }
}

/// docker ps' PORTS column: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`.
fn ports(ep: &EndpointInfo) -> String {
    ep.ports
        .iter()
        .map(render::port)
        .collect::<Vec<_>>()
        .join(", ")
}

fn row(ep: &EndpointInfo, no_trunc: bool) -> Value {
    let gw = ep
        .gateway4
        .map(|g| g.to_string())
        .or(ep.gateway6.map(|g| g.to_string()))
        .unwrap_or_default();
    json!({
        "ContainerID": render::short_id(&ep.container_id, no_trunc),
        "Name": ep.container,
        "Netns": netns_name(ep),
        "Network": ep.network,
        "Interface": ep.ifname,
        "IPv4": ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
        "IPv6": ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
        "MAC": ep.mac.to_string(),
        "Gateway": gw,
        "DefaultRoute": ep.default_route,
        "Ports": ports(ep),
        "EndpointID": render::short_id(&ep.id, no_trunc),
    })
}

fn run(a: &PsArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failure> {
    let eps = endpoints(config, a.network.as_deref())?;
    let table = || {
        let mut rows = vec![
            [
                "NETNS",
                "CONTAINER",
                "NETWORK",
                "INTERFACE",
                "ADDRESSES",
                "MAC",
                "PORTS",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for ep in &eps {
            let addrs: Vec<String> = ep
                .ipv4
                .map(|a| a.to_string())
                .into_iter()
                .chain(ep.ipv6.map(|a| a.to_string()))
                .collect();
            rows.push(vec![
                netns_name(ep),
                ep.container.clone(),
                ep.network.clone(),
                ep.ifname.clone(),
                if addrs.is_empty() {
                    "-".into()
                } else {
                    addrs.join(",")
                },
                ep.mac.to_string(),
                ports(ep),
            ]);
        }
        render::table(&rows)
    };
    let header = json!({
        "ContainerID": "CONTAINER ID", "Name": "CONTAINER", "Netns": "NETNS",
        "Network": "NETWORK", "Interface": "INTERFACE", "IPv4": "IPV4", "IPv6": "IPV6",
        "MAC": "MAC", "Gateway": "GATEWAY", "DefaultRoute": "DEFAULT ROUTE",
        "Ports": "PORTS", "EndpointID": "ENDPOINT ID",
    });
    let text = render::list(
        &a.format,
        table,
        || eps.iter().map(|e| row(e, a.no_trunc)),
        header,
    )
    .map_err(|e| BadInput::new("--format", "", e))?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// `PORT[/PROTO]`.
fn port_filter(s: &str) -> Result<(u16, Protocol), Failure> {
    let bad = |why: &str| Failure::from(BadInput::new("PORT", s, why));
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("expected a port number 1-65535"))?;
    let proto = [Protocol::Tcp, Protocol::Udp]
        .into_iter()
        .chain(Protocol::from_number(132))
        .find(|p| p.as_str() == proto)
        .ok_or_else(|| bad("expected tcp, udp or sctp after the /"))?;
    Ok((port, proto))
}

/// A host end as `docker port` shows it: `0.0.0.0:8080`, `[::]:8080`.
fn host_end(m: &PortMapping, host_port: u16) -> String {
    let full = render::port(m);
    let host = full.rsplit_once(':').map_or("", |(h, _)| h);
    format!("{host}:{host_port}")
}

/// Run `brnet port`.
pub fn port(a: &PortArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failures> {
    let what = match &a.port {
        Some(p) => format!("port {} {p}", a.netns),
        None => format!("port {}", a.netns),
    };
    port_run(a, config, out).map_err(|e| vec![Failed::new(what, e)])
}

fn port_run(a: &PortArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failure> {
    let filter = a.port.as_deref().map(port_filter).transpose()?;
    let netns = input::netns(&a.netns)?;
    let path = netns.path()?;
    let eps: Vec<EndpointInfo> = endpoints(config, None)?
        .into_iter()
        .filter(|e| e.netns == path)
        .collect();
    if eps.is_empty() {
        return Err(BadInput::new("NETNS", &a.netns, "not connected to any network").into());
    }
    let mut lines = Vec::new();
    for ep in &eps {
        for m in &ep.ports {
            for (host, container) in m.pairs() {
                match filter {
                    Some((p, proto)) if p == container && proto == m.protocol() => {
                        lines.push(host_end(m, host));
                    }
                    Some(_) => {}
                    None => lines.push(format!(
                        "{container}/{} -> {}",
                        m.protocol(),
                        host_end(m, host)
                    )),
                }
            }
        }
    }
    if lines.is_empty()
        && let Some(p) = &a.port
    {
        return Err(BadInput::new("PORT", p, "not published").into());
    }
    for l in lines {
        writeln!(out, "{l}")?;
    }
    Ok(())
}
