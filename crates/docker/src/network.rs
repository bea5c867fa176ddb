//! The NetworkDriver: dockerd's calls as bridge-net operations.
//!
//! - A Docker network is a bridge-net network named by its NetworkID (64
//!   hex digits; bridge `br-` + its first 12, as Docker's own bridge
//!   driver names its bridges), made with the subnets and gateways
//!   dockerd's IPAM chose, and kept in the state directory: dockerd never
//!   sends CreateNetwork again, after a restart of either side.
//! - An endpoint is a detached bridge-net endpoint with the same id: a
//!   veth whose host end is on the bridge and whose peer waits in the
//!   host's namespace under its `veth…` name, for dockerd to move into
//!   the container, rename `eth<N>` and address (Join names it).
//! - Published ports are set on the endpoint dockerd programs external
//!   connectivity for (the container's gateway endpoint) and withdrawn on
//!   revoke, so they follow it.
//! - Names: dockerd's resolver at 127.0.0.11 serves plugin networks, so
//!   bridge-net's own resolver stays off.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use bridge_net::brnet_nat::{PortRange, PortSpec, Protocol};
use bridge_net::brnet_netlink::MacAddr;
use bridge_net::{
    BridgeNet, Config, DetachedOptions, EndpointInfo, FromFailure, IpamConfig, MacPolicy,
    NetworkOptions, VethDelete,
};
use ipnet::IpNet;
use serde_json::Value;

use crate::error::{Error, Result, short};
use crate::forward::Forward;
use crate::protocol::{
    CreateEndpoint, CreateEndpointReply, CreateNetwork, EndpointRef, InterfaceName, IpamData, Join,
    JoinReply, NetworkRef, PORTMAP, PortBinding, ProgramExternal,
};

/// `-o` options arrive under this key.
pub const GENERIC: &str = "com.docker.network.generic";
/// `--internal`.
pub const INTERNAL: &str = "com.docker.network.internal";
/// `--ipv6`.
pub const ENABLE_IPV6: &str = "com.docker.network.enable_ipv6";

/// The network driver's state: a bridge-net handle and the iptables side.
#[derive(Debug)]
pub struct Driver {
    brnet: BridgeNet,
    forward: Forward,
}

fn object(id: &str) -> String {
    format!("network {}", short(id))
}

fn endpoint_object(id: &str) -> String {
    format!("endpoint {}", short(id))
}

/// `a.b.c.d/len` or a bare address.
fn addr_of(cidr: &str) -> Option<IpAddr> {
    cidr.split('/').next().and_then(|a| a.parse().ok())
}

fn family(obj: &str, field: &str, data: &IpamData, v4: bool) -> Result<IpamConfig> {
    let subnet: IpNet = data
        .pool
        .parse()
        .map_err(|e| Error::invalid(obj, format!("{field}.Pool"), &data.pool, e))?;
    if subnet.addr().is_ipv4() != v4 {
        return Err(Error::invalid(
            obj,
            format!("{field}.Pool"),
            subnet,
            "wrong address family",
        ));
    }
    let gateway =
        match data.gateway.as_deref().filter(|g| !g.is_empty()) {
            Some(g) => Some(addr_of(g).ok_or_else(|| {
                Error::invalid(obj, format!("{field}.Gateway"), g, "not an address")
            })?),
            None => None,
        };
    let mut aux = BTreeMap::new();
    for (name, a) in data.aux_addresses.iter().flatten() {
        let ip = addr_of(a).ok_or_else(|| {
            Error::invalid(
                obj,
                format!("{field}.AuxAddresses.{name}"),
                a,
                "not an address",
            )
        })?;
        aux.insert(name.clone(), ip);
    }
    Ok(IpamConfig {
        subnet: Some(subnet.trunc()),
        gateway,
        ip_range: None,
        aux_addresses: aux,
    })
}

fn flag(obj: &str, options: &BTreeMap<String, Value>, key: &str) -> Result<bool> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" || s.is_empty() => Ok(false),
        Some(v) => Err(Error::invalid(obj, key, v, "expected true or false")),
    }
}

/// The bridge-net network a CreateNetwork asks for (pure: tested without
/// root).
pub fn plan_network(r: &CreateNetwork) -> Result<NetworkOptions> {
    let obj = object(&r.network_id);
    if r.network_id.len() != 64 || !r.network_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            obj,
            "NetworkID",
            &r.network_id,
            "expected 64 hex digits",
        ));
    }
    let mut opts = NetworkOptions {
        bridge_name: Some(format!("br-{}", &r.network_id[..12])),
        // dockerd's resolver (127.0.0.11) serves names on plugin networks.
        dns: Some(false),
        ..NetworkOptions::default()
    };
    let v4 = r.ipv4_data.as_deref().unwrap_or_default();
    match v4 {
        [] => {
            return Err(Error::invalid(
                obj,
                "IPv4Data",
                "[]",
                "a bridge network needs an IPv4 subnet",
            ));
        }
        [one] => opts.ipv4 = family(&obj, "IPv4Data", one, true)?,
        _ => {
            return Err(Error::invalid(
                obj,
                "IPv4Data",
                v4.iter()
                    .map(|d| d.pool.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                "bridge-net gives a network one IPv4 subnet",
            ));
        }
    }
    let v6 = r.ipv6_data.as_deref().unwrap_or_default();
    match v6 {
        [] => {}
        [one] => opts.ipv6 = Some(family(&obj, "IPv6Data", one, false)?),
        _ => {
            return Err(Error::invalid(
                obj,
                "IPv6Data",
                v6.iter()
                    .map(|d| d.pool.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                "bridge-net gives a network one IPv6 subnet",
            ));
        }
    }
    let empty = BTreeMap::new();
    let options = r.options.as_ref().unwrap_or(&empty);
    opts.internal = flag(&obj, options, INTERNAL)?;
    if flag(&obj, options, ENABLE_IPV6)? && opts.ipv6.is_none() {
        return Err(Error::invalid(
            obj,
            ENABLE_IPV6,
            true,
            "no IPv6 subnet came with --ipv6 (give --subnet with an IPv6 CIDR)",
        ));
    }
    match options.get(GENERIC) {
        None | Some(Value::Null) => {}
        Some(Value::Object(generic)) => {
            for (key, value) in generic {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if matches!(
                    key.as_str(),
                    "brnet.dns" | "brnet.dns_domain" | "com.docker.network.bridge.enable_dns"
                ) {
                    return Err(Error::invalid(
                        obj,
                        key,
                        value,
                        "names on Docker networks are served by dockerd's resolver (127.0.0.11)",
                    ));
                }
                opts.set_option(key, &value)
                    .map_err(|e| Error::invalid(&obj, key, &value, e))?;
            }
        }
        Some(other) => {
            return Err(Error::invalid(obj, GENERIC, other, "expected an object"));
        }
    }
    opts.validate()
        .map_err(|e| Error::invalid(&obj, "options", "", e))?;
    Ok(opts)
}

/// The `-p` bindings of a ProgramExternalConnectivity, as port specs; a
/// host range with one container port (`-p 8081-8085:80`: any one of
/// them) is returned with its candidates.
pub fn plan_ports(
    endpoint: &str,
    options: Option<&BTreeMap<String, Value>>,
) -> Result<Vec<(PortSpec, Vec<u16>)>> {
    let obj = endpoint_object(endpoint);
    let Some(map) = options.and_then(|o| o.get(PORTMAP)) else {
        return Ok(Vec::new());
    };
    if map.is_null() {
        return Ok(Vec::new());
    }
    let bindings: Vec<PortBinding> =
        serde_json::from_value(map.clone()).map_err(|e| Error::invalid(&obj, PORTMAP, map, e))?;
    let mut out = Vec::with_capacity(bindings.len());
    for b in bindings {
        let protocol = Protocol::from_number(b.proto).ok_or_else(|| {
            Error::invalid(
                &obj,
                "Proto",
                b.proto,
                "expected 6 (tcp), 17 (udp) or 132 (sctp)",
            )
        })?;
        let host_ip = match b.host_ip.as_str() {
            "" => None,
            ip => Some(
                ip.parse::<IpAddr>()
                    .map_err(|e| Error::invalid(&obj, "HostIP", ip, e))?,
            ),
        };
        let bad = |e| Error::invalid(&obj, "Port", b.port, e);
        let container = PortRange::single(b.port).map_err(bad)?;
        let end = b.host_port_end.max(b.host_port);
        let (host, candidates) = match b.host_port {
            0 => (None, Vec::new()),
            p if end == p => (Some(PortRange::single(p).map_err(bad)?), Vec::new()),
            p => (
                Some(PortRange::single(p).map_err(bad)?),
                (p..=end).collect(),
            ),
        };
        let spec = PortSpec::new(protocol, host_ip, host, container).map_err(bad)?;
        out.push((spec, candidates));
    }
    Ok(out)
}

impl Driver {
    /// Open (and reconcile) the state in `state_dir`: bridges, firewall
    /// rules and iptables accepts are put back, endpoints whose veth is
    /// gone are dropped.
    pub fn open(state_dir: &Path, forward: Forward) -> Result<Driver> {
        let brnet = BridgeNet::open_with(Config {
            // The veth of a removed endpoint goes down at once; its delete
            // (an RCU grace period in the kernel) goes to a helper when
            // `brnet` is installed beside us.
            veth_delete: VethDelete::Background,
            ..Config::new(state_dir)
        })
        .map_err(Error::bridge("open state", state_dir.display().to_string()))?;
        let mut d = Driver { brnet, forward };
        let nets = d.brnet.networks().map_err(Error::bridge(
            "list networks in",
            state_dir.display().to_string(),
        ))?;
        for n in nets {
            d.forward.add(&n.bridge)?;
        }
        Ok(d)
    }

    /// CreateNetwork.
    pub fn create_network(&mut self, r: &CreateNetwork) -> Result<()> {
        let opts = plan_network(r)?;
        let obj = object(&r.network_id);
        let info = self
            .brnet
            .create_network(&r.network_id, &opts)
            .map_err(Error::bridge("create", &obj))?;
        if let Err(e) = self.forward.add(&info.bridge) {
            let last = self.brnet.networks().map(|n| n.len() <= 1).unwrap_or(false);
            let _ = self.forward.remove(&info.bridge, last);
            let _ = self.brnet.remove_network(&r.network_id);
            return Err(e);
        }
        Ok(())
    }

    /// DeleteNetwork: endpoints whose containers vanished go first (a
    /// crashed dockerd never deletes them). Idempotent.
    pub fn delete_network(&mut self, r: &NetworkRef) -> Result<()> {
        let obj = object(&r.network_id);
        self.collect()?;
        let info = match self.brnet.network(&r.network_id) {
            Ok(info) => info,
            Err(bridge_net::Error::NetworkNotFound { .. }) => return Ok(()),
            Err(e) => return Err(Error::bridge("look up", obj)(e)),
        };
        self.brnet
            .remove_network(&r.network_id)
            .map_err(Error::bridge("remove", &obj))?;
        let last = self
            .brnet
            .networks()
            .map_err(Error::bridge("list networks after removing", &obj))?
            .is_empty();
        self.forward.remove(&info.bridge, last)
    }

    /// Drop the endpoints whose veth is gone; their ids.
    pub fn collect(&mut self) -> Result<Vec<String>> {
        let gone = self.brnet.collect_detached().map_err(Error::bridge(
            "collect endpoints of vanished containers in",
            "state",
        ))?;
        for id in &gone {
            eprintln!(
                "brnet-docker: endpoint {} collected: its container vanished without DeleteEndpoint",
                short(id)
            );
        }
        Ok(gone)
    }

    /// CreateEndpoint: the veth, its peer waiting here with its MAC.
    pub fn create_endpoint(&mut self, r: &CreateEndpoint) -> Result<CreateEndpointReply> {
        let obj = endpoint_object(&r.endpoint_id);
        let iface = r.interface.clone().unwrap_or_default();
        let ipv4 = match iface.address.as_str() {
            "" => None,
            a => match addr_of(a) {
                Some(IpAddr::V4(v4)) => Some(v4),
                _ => {
                    return Err(Error::invalid(
                        obj,
                        "Interface.Address",
                        a,
                        "not an IPv4 CIDR",
                    ));
                }
            },
        };
        let ipv6: Option<Ipv6Addr> = match iface.address_ipv6.as_str() {
            "" => None,
            a => match addr_of(a) {
                Some(IpAddr::V6(v6)) => Some(v6),
                _ => {
                    return Err(Error::invalid(
                        obj,
                        "Interface.AddressIPv6",
                        a,
                        "not an IPv6 CIDR",
                    ));
                }
            },
        };
        let mac = match iface.mac_address.as_str() {
            "" => MacPolicy::Derived,
            m => MacPolicy::Fixed(
                m.parse::<MacAddr>()
                    .map_err(|e| Error::invalid(&obj, "Interface.MacAddress", m, e))?,
            ),
        };
        // A crashed dockerd's endpoints hold addresses it hands out again.
        self.collect()?;
        let opts = DetachedOptions {
            id: Some(r.endpoint_id.clone()),
            name: None,
            ipv4,
            ipv6,
            mac,
        };
        let info = match self.brnet.create_detached(&r.network_id, &opts) {
            Err(bridge_net::Error::Ipam { .. })
                if self.drop_stale_holder(&r.network_id, ipv4, ipv6)? =>
            {
                self.brnet.create_detached(&r.network_id, &opts)
            }
            other => other,
        }
        .map_err(Error::bridge(
            "create",
            format!("{obj} on {}", object(&r.network_id)),
        ))?;
        // Only what dockerd left empty.
        let mut reply = CreateEndpointReply::default();
        if iface.address.is_empty() {
            reply.interface.address = info.ipv4.map(|a| a.to_string()).unwrap_or_default();
        }
        if iface.address_ipv6.is_empty() {
            reply.interface.address_ipv6 = info.ipv6.map(|a| a.to_string()).unwrap_or_default();
        }
        if iface.mac_address.is_empty() {
            reply.interface.mac_address = info.mac.to_string();
        }
        Ok(reply)
    }

    /// dockerd's IPAM is the authority on addresses: when it hands out an
    /// address that an endpoint of ours still holds, that endpoint's
    /// container is gone without a DeleteEndpoint (a dockerd crash whose
    /// sandbox's veth the kernel has not finished deleting). Remove it;
    /// whether there was one.
    fn drop_stale_holder(
        &mut self,
        network: &str,
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
    ) -> Result<bool> {
        let holders: Vec<String> = self
            .brnet
            .endpoints(Some(network))
            .map_err(Error::bridge("list endpoints of", object(network)))?
            .into_iter()
            .filter(|e| {
                e.netns.as_os_str().is_empty()
                    && (ipv4.is_some_and(|a| e.ipv4.is_some_and(|n| n.addr() == a))
                        || ipv6.is_some_and(|a| e.ipv6.is_some_and(|n| n.addr() == a)))
            })
            .map(|e| e.id)
            .collect();
        for id in &holders {
            eprintln!(
                "brnet-docker: endpoint {} removed: dockerd gave its address to a new endpoint",
                short(id)
            );
            self.brnet
                .remove_detached(id)
                .map_err(Error::bridge("remove stale", endpoint_object(id)))?;
        }
        Ok(!holders.is_empty())
    }

    fn endpoint(&mut self, network: &str, id: &str) -> Result<EndpointInfo> {
        let obj = endpoint_object(id);
        let ep = self
            .brnet
            .endpoint(id)
            .map_err(Error::bridge("look up", &obj))?
            .ok_or_else(|| Error::invalid(&obj, "EndpointID", id, "no such endpoint"))?;
        // bridge-net names the network by its name: the NetworkID.
        if ep.network != network {
            return Err(Error::invalid(
                obj,
                "NetworkID",
                network,
                format!("the endpoint is on network {}", short(&ep.network)),
            ));
        }
        Ok(ep)
    }

    /// Join: the waiting peer's name, the prefix and the gateways. The
    /// sandbox is not opened (on `docker run` it does not exist yet).
    pub fn join(&mut self, r: &Join) -> Result<JoinReply> {
        let ep = self
            .endpoint(&r.network_id, &r.endpoint_id)
            .map_err(|e| match e {
                Error::Invalid {
                    object,
                    field,
                    value,
                    reason,
                } => Error::Invalid {
                    object: format!("{object} (joining sandbox {})", r.sandbox_key),
                    field,
                    value,
                    reason,
                },
                other => other,
            })?;
        Ok(JoinReply {
            interface_name: InterfaceName {
                src_name: ep.ifname.clone(),
                dst_prefix: "eth",
            },
            gateway: ep.gateway4.map(|g: Ipv4Addr| g.to_string()),
            gateway_ipv6: ep.gateway6.map(|g| g.to_string()),
            disable_gateway_service: false,
        })
    }

    /// Leave: dockerd moves the interface back itself; nothing to do but
    /// check the endpoint is known.
    pub fn leave(&mut self, r: &EndpointRef) -> Result<()> {
        self.endpoint(&r.network_id, &r.endpoint_id).map(|_| ())
    }

    /// DeleteEndpoint: the veth (dockerd moved its peer back here), the
    /// rules, the addresses. Idempotent.
    pub fn delete_endpoint(&mut self, r: &EndpointRef) -> Result<()> {
        self.brnet
            .remove_detached(&r.endpoint_id)
            .map_err(Error::bridge("remove", endpoint_object(&r.endpoint_id)))?;
        Ok(())
    }

    /// ProgramExternalConnectivity: publish the container's ports on this
    /// endpoint.
    pub fn program(&mut self, r: &ProgramExternal) -> Result<()> {
        let obj = endpoint_object(&r.endpoint_id);
        self.endpoint(&r.network_id, &r.endpoint_id)?;
        let mut plan = plan_ports(&r.endpoint_id, r.options.as_ref())?;
        // A host range gives candidates: try the next on "in use".
        let mut next = vec![0usize; plan.len()];
        loop {
            let specs: Vec<PortSpec> = plan.iter().map(|(s, _)| *s).collect();
            match self.brnet.publish(&r.endpoint_id, &specs) {
                Ok(_) => return Ok(()),
                Err(bridge_net::Error::PortInUse { port, .. })
                    if {
                        plan.iter().zip(&next).any(|((s, c), i)| {
                            s.host_ports().is_some_and(|h| h.start() == port) && i + 1 < c.len()
                        })
                    } =>
                {
                    for ((spec, cands), i) in plan.iter_mut().zip(next.iter_mut()) {
                        if spec.host_ports().is_some_and(|h| h.start() == port)
                            && *i + 1 < cands.len()
                        {
                            *i += 1;
                            let p = PortRange::single(cands[*i])
                                .map_err(|e| Error::invalid(&obj, "HostPort", cands[*i], e))?;
                            *spec = spec
                                .with_host_ports(p)
                                .map_err(|e| Error::invalid(&obj, "HostPort", cands[*i], e))?;
                            break;
                        }
                    }
                }
                Err(e) => return Err(Error::bridge("publish ports of", obj)(e)),
            }
        }
    }

    /// RevokeExternalConnectivity: withdraw this endpoint's ports.
    /// Idempotent.
    pub fn revoke(&mut self, r: &EndpointRef) -> Result<()> {
        let obj = endpoint_object(&r.endpoint_id);
        match self.brnet.publish(&r.endpoint_id, &[]) {
            Ok(_) | Err(bridge_net::Error::EndpointNotFound { .. }) => Ok(()),
            Err(e) => Err(Error::bridge("withdraw ports of", obj)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1e2f0d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    fn create(json: &str) -> CreateNetwork {
        serde_json::from_str(&json.replace("NETID", ID)).unwrap()
    }

    #[test]
    fn custom_network_as_dockerd_sends_it() {
        let r = create(
            r#"{"NetworkID":"NETID","IPv4Data":[{"AddressSpace":"LocalDefault","Pool":"172.20.0.0/16","Gateway":"172.20.0.1/16"}],"IPv6Data":[],
            "Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{}}}"#,
        );
        let o = plan_network(&r).unwrap();
        assert_eq!(o.ipv4.subnet, Some("172.20.0.0/16".parse().unwrap()));
        assert_eq!(o.ipv4.gateway, Some("172.20.0.1".parse().unwrap()));
        assert_eq!(o.bridge_name.as_deref(), Some("br-1e2f0d3c4b5a"));
        assert_eq!(o.dns, Some(false));
        assert!(!o.internal && o.ipv6.is_none());
    }

    #[test]
    fn every_option_maps() {
        let r = create(
            r#"{"NetworkID":"NETID","IPv4Data":[{"AddressSpace":"LocalDefault","Pool":"172.30.0.0/24","Gateway":"172.30.0.1/24","AuxAddresses":{"a1":"172.30.0.10/24"}}],
            "IPv6Data":[{"AddressSpace":"LocalDefault","Pool":"fd00:30::/64","Gateway":"fd00:30::1/64"}],
            "Options":{"com.docker.network.enable_ipv6":true,"com.docker.network.internal":true,"com.docker.network.generic":{
              "com.docker.network.bridge.name":"brcustom","com.docker.network.driver.mtu":"1400",
              "com.docker.network.bridge.enable_icc":"false","com.docker.network.bridge.enable_ip_masquerade":"false",
              "com.docker.network.bridge.host_binding_ipv4":"127.0.0.1"}}}"#,
        );
        let o = plan_network(&r).unwrap();
        assert!(o.internal);
        assert_eq!(
            o.ipv4.aux_addresses["a1"],
            "172.30.0.10".parse::<IpAddr>().unwrap()
        );
        let v6 = o.ipv6.unwrap();
        assert_eq!(v6.subnet, Some("fd00:30::/64".parse().unwrap()));
        assert_eq!(v6.gateway, Some("fd00:30::1".parse().unwrap()));
        assert_eq!(o.bridge_name.as_deref(), Some("brcustom"));
        assert_eq!(o.mtu, Some(1400));
        assert!(!o.icc && !o.masquerade);
        assert_eq!(o.host_binding, Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bad_requests_name_the_network_and_option() {
        let e = plan_network(&create(
            r#"{"NetworkID":"NETID","IPv4Data":[{"Pool":"172.30.0.0/24"}],"Options":{"com.docker.network.generic":{"foo":"bar"}}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("network 1e2f0d3c4b5a") && e.contains("foo"),
            "{e}"
        );
        let e = plan_network(&create(
            r#"{"NetworkID":"NETID","IPv4Data":[{"Pool":"172.30.0.0/24"}],"Options":{"com.docker.network.generic":{"com.docker.network.driver.mtu":"9"}}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("mtu") && e.contains("68"), "{e}");
        let e = plan_network(&create(
            r#"{"NetworkID":"NETID","IPv4Data":[{"Pool":"172.30.0.0/24"},{"Pool":"172.31.0.0/24"}]}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("one IPv4 subnet"), "{e}");
        let e = plan_network(&create(
            r#"{"NetworkID":"NETID","IPv4Data":[{"Pool":"nonsense"}]}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("IPv4Data.Pool") && e.contains("nonsense"), "{e}");
        let e = plan_network(&create(
            r#"{"NetworkID":"NETID","IPv4Data":[{"Pool":"172.30.0.0/24"}],"Options":{"com.docker.network.enable_ipv6":true}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("IPv6 subnet"), "{e}");
        let e = plan_network(&create(
            r#"{"NetworkID":"abc","IPv4Data":[{"Pool":"172.30.0.0/24"}]}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("64 hex"), "{e}");
        let e = plan_network(&create(
            r#"{"NetworkID":"NETID","IPv4Data":[{"Pool":"172.30.0.0/24","Gateway":"172.31.0.1/24"}]}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("not inside subnet"), "{e}");
    }

    #[test]
    fn ports_from_the_portmap() {
        let o: BTreeMap<String, Value> = serde_json::from_str(
            r#"{"com.docker.network.portmap":[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8081,"HostPortEnd":8081},
            {"Proto":17,"IP":"","Port":53,"HostIP":"127.0.0.1","HostPort":0,"HostPortEnd":0},
            {"Proto":6,"IP":"","Port":443,"HostIP":"","HostPort":9000,"HostPortEnd":9002}],
            "com.docker.network.endpoint.exposedports":[{"Proto":6,"Port":80}]}"#,
        )
        .unwrap();
        let p = plan_ports(ID, Some(&o)).unwrap();
        assert_eq!(p[0].0.to_string(), "8081:80/tcp");
        assert!(p[0].1.is_empty());
        assert_eq!(p[1].0.host_ports(), None);
        assert_eq!(p[1].0.host_ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p[1].0.protocol(), Protocol::Udp);
        assert_eq!(p[2].1, vec![9000, 9001, 9002]);
        assert!(plan_ports(ID, None).unwrap().is_empty());
        let bad: BTreeMap<String, Value> = serde_json::from_str(
            r#"{"com.docker.network.portmap":[{"Proto":99,"Port":80,"HostPort":1}]}"#,
        )
        .unwrap();
        let e = plan_ports(ID, Some(&bad)).unwrap_err().to_string();
        assert!(
            e.contains("endpoint 1e2f0d3c4b5a") && e.contains("Proto"),
            "{e}"
        );
    }
}
