//! `docker network inspect`, shaped the same.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::options::{OPT_BRIDGE_NAME, OPT_ICC, OPT_MASQUERADE, OPT_MTU};
use crate::state::{Net, State};
use crate::{BridgeNet, DEFAULT_NETWORK};

fn ipam_config(cfg: &crate::options::IpamConfig, gateway: Option<std::net::IpAddr>) -> Value {
    let mut o = serde_json::Map::new();
    if let Some(s) = cfg.subnet {
        o.insert("Subnet".into(), json!(s.to_string()));
    }
    if let Some(r) = cfg.ip_range {
        o.insert("IPRange".into(), json!(r.to_string()));
    }
    if let Some(g) = gateway.or(cfg.gateway) {
        o.insert("Gateway".into(), json!(g.to_string()));
    }
    if !cfg.aux_addresses.is_empty() {
        let aux: BTreeMap<_, _> = cfg
            .aux_addresses
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        o.insert("AuxiliaryAddresses".into(), json!(aux));
    }
    Value::Object(o)
}

/// The inspect document of one network.
pub(crate) fn document(state: &State, net: &Net) -> Value {
    let o = &net.rec.options;
    let mut configs = Vec::with_capacity(2);
    if o.enable_ipv4 {
        configs.push(ipam_config(&o.ipv4, net.gateway4()));
    }
    if let Some(v6) = &o.ipv6 {
        configs.push(ipam_config(v6, net.gateway6()));
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
    let mut containers = serde_json::Map::new();
    for ep in state.endpoints_of(&net.rec.id) {
        containers.insert(
            ep.container_id.clone(),
            json!({
                "Name": ep.container,
                "EndpointID": ep.id,
                "MacAddress": ep.mac,
                "IPv4Address": ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                "IPv6Address": ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
            }),
        );
    }
    json!({
        "Name": net.rec.name,
        "Id": net.rec.id,
        "Created": net.rec.created,
        "Scope": "local",
        "Driver": o.driver.name(),
        "EnableIPv4": o.enable_ipv4,
        "EnableIPv6": o.ipv6.is_some(),
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": configs,
        },
        "Internal": o.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": o.labels,
    })
}

impl BridgeNet {
    /// `docker network inspect NAME`: Name, Id, Created, Driver, IPAM
    /// (Config: Subnet, Gateway, IPRange, AuxiliaryAddresses), Internal,
    /// Containers (by container id: Name, EndpointID, MacAddress,
    /// IPv4Address, IPv6Address), Options (the
    /// `com.docker.network.bridge.*` keys), Labels.
    pub fn inspect(&mut self, name: &str) -> Result<Value> {
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
            doc["Scope"] = json!("global");
            match view {
                Ok(v) => {
                    doc["Peers"] = json!(
                        v.peers
                            .iter()
                            .map(|p| json!({"Name": p.to_string(), "IP": p.to_string()}))
                            .collect::<Vec<_>>()
                    );
                    doc["RemoteEndpoints"] = json!(
                        v.remote_endpoints
                            .iter()
                            .map(|(ip, mac, host)| json!({
                                "IPv4Address": ip.to_string(),
                                "MacAddress": mac,
                                "Host": host.to_string(),
                            }))
                            .collect::<Vec<_>>()
                    );
                }
                Err(e) => doc["ClusterError"] = json!(e.to_string()),
            }
        }
        Ok(doc)
    }
}
