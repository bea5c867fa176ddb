//! `docker network inspect`, shaped the same: [`NetworkInspect`] and the
//! structs in it serialize with Docker's keys, in Docker's order (as
//! `docker network inspect` prints them), whatever serde_json's features.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::options::{OPT_BRIDGE_NAME, OPT_ICC, OPT_MASQUERADE, OPT_MTU};
use crate::state::{Net, State};
use crate::{BridgeNet, DEFAULT_NETWORK};

/// One network, as `docker network inspect` shows it. Fields serialize in
/// this order, under Docker's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct NetworkInspect {
    /// The network's name.
    pub name: String,
    /// Its id (64 hex digits).
    pub id: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Always `local`.
    pub scope: String,
    /// `bridge` or `macvlan`.
    pub driver: String,
    /// Whether it has an IPv4 subnet.
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    /// Whether it has an IPv6 subnet.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Its addresses.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// No outbound traffic, no published ports.
    pub internal: bool,
    /// Always false (a swarm notion).
    pub attachable: bool,
    /// Always false (a swarm notion).
    pub ingress: bool,
    /// Always empty (config-only networks are not supported).
    pub config_from: ConfigFrom,
    /// Always false.
    pub config_only: bool,
    /// Its endpoints, by container id.
    pub containers: BTreeMap<String, ContainerEndpoint>,
    /// The driver's options (`com.docker.network.bridge.*`, ...).
    pub options: BTreeMap<String, String>,
    /// The user's labels.
    pub labels: BTreeMap<String, String>,
    /// An overlay network: the live hosts with endpoints on it (Docker's
    /// `Peers`); left out for other networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<Peer>>,
    /// An overlay network: its endpoints on other hosts, as the cluster
    /// store has them; left out for other networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_endpoints: Option<Vec<RemoteEndpoint>>,
    /// An overlay network whose cluster store could not be read: why
    /// (then `Peers` and `RemoteEndpoints` are left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_error: Option<String>,
}

/// A host of an overlay network, in [`NetworkInspect::peers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Peer {
    /// The host (its VTEP address).
    #[serde(rename = "Name")]
    pub name: String,
    /// Its VTEP address.
    #[serde(rename = "IP")]
    pub ip: IpAddr,
}

/// An endpoint on another host, in [`NetworkInspect::remote_endpoints`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RemoteEndpoint {
    /// Its address.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: IpAddr,
    /// Its MAC address.
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    /// The host it is on (VTEP address).
    #[serde(rename = "Host")]
    pub host: IpAddr,
}

/// The `IPAM` block of [`NetworkInspect`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct Ipam {
    /// Always `default`.
    pub driver: String,
    /// Always empty.
    pub options: BTreeMap<String, String>,
    /// One entry per address family: IPv4 first, then IPv6.
    pub config: Vec<IpamSubnet>,
}

/// One subnet of [`Ipam::config`]; absent values are left out, as Docker
/// does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct IpamSubnet {
    /// The subnet.
    #[serde(rename = "Subnet", skip_serializing_if = "Option::is_none")]
    pub subnet: Option<IpNet>,
    /// The part of it containers get addresses from.
    #[serde(rename = "IPRange", skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<IpNet>,
    /// The gateway address.
    #[serde(rename = "Gateway", skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Addresses set aside, by name.
    #[serde(
        rename = "AuxiliaryAddresses",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

/// The `ConfigFrom` block of [`NetworkInspect`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ConfigFrom {
    /// Always empty.
    pub network: String,
}

/// One endpoint in [`NetworkInspect::containers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ContainerEndpoint {
    /// The container's name.
    #[serde(rename = "Name")]
    pub name: String,
    /// The endpoint's id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Its interface's MAC address.
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    /// Its IPv4 address with the prefix length (`""` when none).
    #[serde(rename = "IPv4Address", serialize_with = "or_empty")]
    pub ipv4_address: Option<Ipv4Net>,
    /// Its IPv6 address with the prefix length (`""` when none).
    #[serde(rename = "IPv6Address", serialize_with = "or_empty")]
    pub ipv6_address: Option<Ipv6Net>,
}

/// Docker writes an absent address as `""`.
fn or_empty<T: std::fmt::Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_str(""),
    }
}

fn ipam_subnet(cfg: &crate::options::IpamConfig, gateway: Option<IpAddr>) -> IpamSubnet {
    IpamSubnet {
        subnet: cfg.subnet,
        ip_range: cfg.ip_range,
        gateway: gateway.or(cfg.gateway),
        aux_addresses: cfg.aux_addresses.clone(),
    }
}

/// The inspect document of one network.
pub(crate) fn document(state: &State, net: &Net) -> NetworkInspect {
    let o = &net.rec.options;
    let mut configs = Vec::with_capacity(2);
    if o.enable_ipv4 {
        configs.push(ipam_subnet(&o.ipv4, net.gateway4()));
    }
    if let Some(v6) = &o.ipv6 {
        configs.push(ipam_subnet(v6, net.gateway6()));
    }
    let mut options: BTreeMap<String, String> = o.driver_options.clone();
    match &o.driver {
        crate::Driver::Bridge | crate::Driver::Overlay(_) => {
            if let crate::Driver::Overlay(ov) = &o.driver {
                options.insert(crate::OPT_VNI.into(), ov.vni.unwrap_or(0).to_string());
                options.insert(crate::OPT_CLUSTER.into(), ov.cluster_address().into());
                if let Some(v) = ov.vtep {
                    options.insert(crate::OPT_VTEP.into(), v.to_string());
                }
            }
            options.insert(OPT_BRIDGE_NAME.into(), net.rec.bridge.clone());
            options.insert(OPT_ICC.into(), o.icc.to_string());
            options.insert(OPT_MASQUERADE.into(), o.masquerade.to_string());
            options.insert(OPT_MTU.into(), o.mtu.unwrap_or(1500).to_string());
        }
        crate::Driver::Macvlan(m) => {
            options.insert(crate::OPT_PARENT.into(), net.rec.bridge.clone());
            options.insert(crate::OPT_MACVLAN_MODE.into(), m.mode.to_string());
            if let Some(mtu) = o.mtu {
                options.insert(OPT_MTU.into(), mtu.to_string());
            }
        }
    }
    if let Some(m) = o.metric {
        options.insert(crate::OPT_METRIC.into(), m.to_string());
    }
    if net.rec.default {
        options.insert(
            "com.docker.network.bridge.default_bridge".into(),
            "true".into(),
        );
    }
    let containers = state
        .endpoints_of(&net.rec.id)
        .map(|ep| {
            (
                ep.container_id.clone(),
                ContainerEndpoint {
                    name: ep.container.clone(),
                    endpoint_id: ep.id.clone(),
                    mac_address: ep.mac.clone(),
                    ipv4_address: ep.ipv4,
                    ipv6_address: ep.ipv6,
                },
            )
        })
        .collect();
    NetworkInspect {
        name: net.rec.name.clone(),
        id: net.rec.id.clone(),
        created: net.rec.created.clone(),
        scope: "local".into(),
        driver: o.driver.name().into(),
        enable_ipv4: o.enable_ipv4,
        enable_ipv6: o.ipv6.is_some(),
        ipam: Ipam {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: configs,
        },
        internal: o.internal,
        attachable: false,
        ingress: false,
        config_from: ConfigFrom::default(),
        config_only: false,
        containers,
        options,
        labels: o.labels.clone(),
        peers: None,
        remote_endpoints: None,
        cluster_error: None,
    }
}

impl BridgeNet {
    /// `docker network inspect NAME`: a [`NetworkInspect`], which
    /// serializes (serde) with Docker's keys in Docker's order: Name, Id,
    /// Created, Scope, Driver, EnableIPv4, EnableIPv6, IPAM (Driver,
    /// Options, Config: Subnet, IPRange, Gateway, AuxiliaryAddresses),
    /// Internal, Attachable, Ingress, ConfigFrom, ConfigOnly, Containers
    /// (by container id: Name, EndpointID, MacAddress, IPv4Address,
    /// IPv6Address), Options (the `com.docker.network.bridge.*` keys),
    /// Labels; for an overlay network, Scope `global`, then Peers and
    /// RemoteEndpoints (or ClusterError).
    pub fn inspect(&mut self, name: &str) -> Result<NetworkInspect> {
        self.store.refresh_unlocked()?;
        if name == DEFAULT_NETWORK && self.store.state.network(name).is_none() {
            let _lock = self.store.lock()?;
            self.ensure_default()?;
        }
        let st = &self.store.state;
        let net = st.network(name).ok_or_else(|| Error::NetworkNotFound {
            name: name.to_owned(),
        })?;
        let mut doc = document(st, net);
        // An overlay network: Docker's "Peers" (live hosts with endpoints
        // on it), and the endpoints on other hosts, as the store has them.
        if let Some(view) = crate::overlay::view(net) {
            doc.scope = "global".into();
            match view {
                Ok(v) => {
                    doc.peers = Some(
                        v.peers
                            .iter()
                            .map(|p| Peer {
                                name: p.to_string(),
                                ip: *p,
                            })
                            .collect(),
                    );
                    doc.remote_endpoints = Some(
                        v.remote_endpoints
                            .into_iter()
                            .map(|(ip, mac, host)| RemoteEndpoint {
                                ipv4_address: ip,
                                mac_address: mac,
                                host,
                            })
                            .collect(),
                    );
                }
                Err(e) => doc.cluster_error = Some(e.to_string()),
            }
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's keys in Docker's order, with serde_json's default
    /// (sorted-map) features: the order comes from the structs.
    #[test]
    fn serializes_in_dockers_key_order() {
        let doc = NetworkInspect {
            name: "web".into(),
            id: "ab".repeat(32),
            created: "2026-01-01T00:00:00Z".into(),
            scope: "local".into(),
            driver: "bridge".into(),
            enable_ipv4: true,
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: BTreeMap::new(),
                config: vec![IpamSubnet {
                    subnet: Some("172.20.0.0/16".parse().unwrap()),
                    ip_range: None,
                    gateway: Some("172.20.0.1".parse().unwrap()),
                    aux_addresses: BTreeMap::new(),
                }],
            },
            internal: false,
            attachable: false,
            ingress: false,
            config_from: ConfigFrom::default(),
            config_only: false,
            containers: [(
                "c1".to_string(),
                ContainerEndpoint {
                    name: "c1".into(),
                    endpoint_id: "e1".into(),
                    mac_address: "02:42:ac:14:00:02".into(),
                    ipv4_address: Some("172.20.0.2/16".parse().unwrap()),
                    ipv6_address: None,
                },
            )]
            .into(),
            options: [(
                "com.docker.network.bridge.name".to_string(),
                "br-ab".to_string(),
            )]
            .into(),
            labels: BTreeMap::new(),
            peers: None,
            remote_endpoints: None,
            cluster_error: None,
        };
        let json = serde_json::to_string(&doc).unwrap();
        let id = "ab".repeat(32);
        assert_eq!(
            json,
            format!(
                r#"{{"Name":"web","Id":"{id}","Created":"2026-01-01T00:00:00Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"IPAM":{{"Driver":"default","Options":{{}},"Config":[{{"Subnet":"172.20.0.0/16","Gateway":"172.20.0.1"}}]}},"Internal":false,"Attachable":false,"Ingress":false,"ConfigFrom":{{"Network":""}},"ConfigOnly":false,"Containers":{{"c1":{{"Name":"c1","EndpointID":"e1","MacAddress":"02:42:ac:14:00:02","IPv4Address":"172.20.0.2/16","IPv6Address":""}}}},"Options":{{"com.docker.network.bridge.name":"br-ab"}},"Labels":{{}}}}"#
            )
        );
    }
}
