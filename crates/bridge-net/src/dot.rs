//! The topology as Graphviz dot: bridges, veth pairs, namespaces,
//! addresses, MACs and published ports — the picture Docker's docs draw by
//! hand.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::BridgeNet;
use crate::error::{Error, Result};

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl BridgeNet {
    /// The topology of the networks `names` (all when empty) as dot text.
    pub fn topology_dot(&mut self, names: &[&str]) -> Result<String> {
        self.store.refresh_unlocked()?;
        let st = &self.store.state;
        let nets: Vec<_> = if names.is_empty() {
            st.networks.iter().collect()
        } else {
            names
                .iter()
                .map(|n| {
                    st.network(n).ok_or_else(|| Error::NetworkNotFound {
                        name: (*n).to_owned(),
                    })
                })
                .collect::<Result<_>>()?
        };
        let mut out = String::new();
        let _ = writeln!(out, "digraph brnet {{");
        let _ = writeln!(out, "  rankdir=LR;");
        let _ = writeln!(
            out,
            "  node [shape=box, fontname=\"monospace\", fontsize=10];"
        );
        let _ = writeln!(out, "  edge [fontname=\"monospace\", fontsize=9];");
        let _ = writeln!(out, "  subgraph cluster_host {{");
        let _ = writeln!(out, "    label=\"host network namespace\"; style=rounded;");
        let mut namespaces: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut edges = Vec::new();
        // Overlay networks: other hosts (by VTEP), with their endpoints.
        let mut remote_hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for net in &nets {
            let br = format!("br:{}", net.rec.bridge);
            let mut label = format!("{}\\nnetwork {}", net.rec.bridge, net.rec.name);
            if !net.rec.options.driver.is_bridge() {
                label.push_str("\\nmacvlan parent");
            }
            for gw in net.gateway_cidrs() {
                let _ = write!(label, "\\n{gw}");
            }
            if net.rec.options.internal {
                label.push_str("\\ninternal");
            }
            let _ = writeln!(
                out,
                "    {} [label=\"{label}\", style=filled, fillcolor=\"#dbe9f6\"];",
                q(&br)
            );
            if let crate::Driver::Overlay(o) = &net.rec.options.driver {
                let vni = o.vni.unwrap_or(0);
                let vx = format!("vx:{vni}");
                let local = o.vtep.map(|v| v.to_string()).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {} [label=\"vx-{vni}\\nVXLAN VNI {vni}\\nVTEP {local}:4789\", style=filled, fillcolor=\"#e3f1dc\"];",
                    q(&vx)
                );
                edges.push(format!("  {} -> {} [arrowhead=none];", q(&br), q(&vx)));
                let view = match crate::overlay::view(net) {
                    Some(Ok(v)) => v,
                    Some(Err(e)) => {
                        edges.push(format!(
                            "  {} -> {} [style=dotted, label={}];",
                            q(&vx),
                            q(&vx),
                            q(&format!("store: {e}"))
                        ));
                        crate::overlay::OverlayView::default()
                    }
                    None => crate::overlay::OverlayView::default(),
                };
                for peer in view.peers.iter().filter(|p| Some(**p) != o.vtep) {
                    let host = format!("host:{peer}");
                    let nodes = remote_hosts.entry(peer.to_string()).or_default();
                    let vtep_node = format!("{host}:vx-{vni}");
                    nodes.push(format!(
                        "    {} [label=\"vx-{vni}\\nVTEP {peer}\", style=filled, fillcolor=\"#e3f1dc\"];",
                        q(&vtep_node)
                    ));
                    for (ip, mac, _) in view.remote_endpoints.iter().filter(|e| e.2 == *peer) {
                        let ep = format!("{host}:{ip}");
                        nodes.push(format!("    {} [label=\"{ip}\\n{mac}\"];", q(&ep)));
                        edges.push(format!(
                            "  {} -> {} [arrowhead=none];",
                            q(&vtep_node),
                            q(&ep)
                        ));
                    }
                    edges.push(format!(
                        "  {} -> {} [dir=both, style=bold, color=\"#4a8a2c\", label=\"VXLAN tunnel {vni}\\nUDP 4789\"];",
                        q(&vx),
                        q(&vtep_node)
                    ));
                }
            }
            for ep in st.endpoints_of(&net.rec.id) {
                let veth = format!("veth:{}", ep.host_veth);
                let _ = writeln!(out, "    {} [label={}];", q(&veth), q(&ep.host_veth));
                edges.push(format!("  {} -> {} [arrowhead=none];", q(&br), q(&veth)));
                let inner = format!("{}:{}", ep.netns.display(), ep.ifname);
                let mut l = format!("{}\\n{}", ep.ifname, ep.mac);
                if let Some(a) = ep.ipv4 {
                    let _ = write!(l, "\\n{a}");
                }
                if let Some(a) = ep.ipv6 {
                    let _ = write!(l, "\\n{a}");
                }
                namespaces
                    .entry(format!("{}|{}", ep.container, ep.netns.display()))
                    .or_default()
                    .push(format!("    {} [label=\"{l}\"];", q(&inner)));
                edges.push(format!(
                    "  {} -> {} [dir=both, arrowsize=0.5, label=\"veth pair\"];",
                    q(&veth),
                    q(&inner)
                ));
                for p in &ep.ports {
                    let host = p
                        .host_ip
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "*".into());
                    let range = |a: u16, b: u16| {
                        if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        }
                    };
                    let pnode = format!("port:{host}:{}:{}", p.protocol, p.host_port);
                    let _ = writeln!(
                        out,
                        "    {} [label=\"{host}:{}/{}\", shape=cds, style=filled, fillcolor=\"#fde9c9\"];",
                        q(&pnode),
                        range(p.host_port, p.host_port_end),
                        p.protocol
                    );
                    edges.push(format!(
                        "  {} -> {} [style=dashed, label=\"DNAT → :{}\"];",
                        q(&pnode),
                        q(&inner),
                        range(p.container_port, p.container_port_end)
                    ));
                }
            }
        }
        let _ = writeln!(out, "  }}");
        for (i, (key, nodes)) in namespaces.iter().enumerate() {
            let (container, path) = key.split_once('|').unwrap_or((key.as_str(), ""));
            let _ = writeln!(out, "  subgraph cluster_ns{i} {{");
            let _ = writeln!(
                out,
                "    label={}; style=rounded;",
                q(&format!("container {container} ({path})"))
            );
            for n in nodes {
                let _ = writeln!(out, "{n}");
            }
            let _ = writeln!(out, "  }}");
        }
        for (i, (host, nodes)) in remote_hosts.iter().enumerate() {
            let _ = writeln!(out, "  subgraph cluster_remote{i} {{");
            let _ = writeln!(
                out,
                "    label={}; style=dashed;",
                q(&format!("host {host} (another host)"))
            );
            for n in nodes {
                let _ = writeln!(out, "{n}");
            }
            let _ = writeln!(out, "  }}");
        }
        for e in edges {
            let _ = writeln!(out, "{e}");
        }
        let _ = writeln!(out, "}}");
        Ok(out)
    }
}
