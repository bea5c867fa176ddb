//! The firewall model of our records (brnet-nat's types).

use std::net::IpAddr;

use brnet_nat::{Endpoint, Network, PortMapping, PortRange, Protocol};

use crate::error::Result;
use crate::state::{EndpointRecord, Net, PortRecord};

/// The firewall's view of a network; `None` for a network the firewall
/// has nothing to do with: a macvlan network (its containers are on the
/// parent's LAN), or one without addresses.
pub fn network(net: &Net) -> Result<Option<Network>> {
    let o = &net.rec.options;
    if !o.driver.is_bridge() || (net.subnet4().is_none() && net.subnet6().is_none()) {
        return Ok(None);
    }
    let mut b = Network::builder(&net.rec.bridge)
        .masquerade(o.masquerade)
        .icc(o.icc)
        .internal(o.internal);
    if let Some(v4) = net.subnet4() {
        b = b.ipv4(v4);
    }
    if let Some(v6) = net.subnet6() {
        b = b.ipv6(v6);
    }
    if let Some(src) = o.snat_source {
        b = b.snat4(src);
    }
    Ok(Some(b.build()?))
}

fn protocol(name: &str) -> Protocol {
    match name {
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        _ => Protocol::Tcp,
    }
}

/// A mapping as recorded.
pub fn port_record(m: &PortMapping) -> PortRecord {
    PortRecord {
        protocol: m.protocol().as_str().to_owned(),
        host_ip: m.host_ip(),
        host_port: m.host_ports().start(),
        host_port_end: m.host_ports().end(),
        container_port: m.container_ports().start(),
        container_port_end: m.container_ports().end(),
    }
}

/// A recorded mapping, for the container address `container`.
pub fn mapping(p: &PortRecord, container: IpAddr) -> Result<PortMapping> {
    let spec_err = |problem| brnet_nat::PortSpecError {
        spec: format!("{}:{}", p.host_port, p.container_port),
        problem,
    };
    Ok(PortMapping::new(
        protocol(&p.protocol),
        p.host_ip,
        PortRange::new(p.host_port, p.host_port_end).map_err(spec_err)?,
        container,
        PortRange::new(p.container_port, p.container_port_end).map_err(spec_err)?,
    )
    .map_err(spec_err)?)
}

/// The addresses of an endpoint.
pub fn addrs(ep: &EndpointRecord) -> Vec<IpAddr> {
    let mut v = Vec::with_capacity(2);
    if let Some(a) = ep.ipv4 {
        v.push(IpAddr::V4(a.addr()));
    }
    if let Some(a) = ep.ipv6 {
        v.push(IpAddr::V6(a.addr()));
    }
    v
}

/// The firewall's view of an endpoint: its addresses and published ports
/// (each port on the address of its host address's family; without a host
/// address, on every family the endpoint has, as Docker and netavark
/// publish a dual-stack container's ports on IPv4 and IPv6).
pub fn endpoint(ep: &EndpointRecord) -> Result<Endpoint> {
    let addrs = addrs(ep);
    let mut e = Endpoint::new(&addrs)?;
    let v4 = ep.ipv4.map(|a| IpAddr::V4(a.addr()));
    let v6 = ep.ipv6.map(|a| IpAddr::V6(a.addr()));
    for p in &ep.ports {
        let containers = match p.host_ip {
            Some(IpAddr::V6(_)) => [v6, None],
            Some(IpAddr::V4(_)) => [v4, None],
            None => [v4, v6],
        };
        for c in containers.into_iter().flatten() {
            e = e.publish(mapping(p, c)?)?;
        }
    }
    Ok(e)
}
