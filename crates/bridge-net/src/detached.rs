//! Detached endpoints: the veth's peer stays in the handle's namespace,
//! under a temporary name, for a runtime that moves it into the container
//! itself — Docker's remote network drivers, where dockerd moves the
//! interface, renames it `eth<N>`, and sets its addresses and routes
//! (the container's namespace does not even exist when the driver is
//! asked for the interface).
//!
//! Such an endpoint is recorded with an empty namespace path: it lives as
//! long as its host-side veth does (a namespace that dies takes the pair
//! along), so [`BridgeNet::collect_detached`] and reconcile drop the
//! endpoints whose veth is gone. Its published ports can be set after
//! creation ([`BridgeNet::publish`]): Docker tells them to the one
//! endpoint of a container that holds the default route, and moves them
//! when that changes.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use brnet_nat::PortSpec;
use brnet_netlink::VethSpec;
use brnet_netns::Errno;
use ipnet::{Ipv4Net, Ipv6Net};

use crate::error::{Error, Result};
use crate::options::MacPolicy;
use crate::state::{EndpointRecord, Intent, Op};
use crate::{BRIDGE_PORT_LIMIT, BridgeNet, EndpointInfo, fw, host};

/// How to create a detached endpoint.
#[derive(Debug, Clone, Default)]
pub struct DetachedOptions {
    /// The endpoint's id (64 hex digits, unique); `None`: a random one.
    pub id: Option<String>,
    /// A name for inspect (a container's or sandbox's); `None`: the id's
    /// first 12 digits.
    pub name: Option<String>,
    /// The IPv4 address, when the caller's IPAM chose it; `None`: the
    /// network's pool's next.
    pub ipv4: Option<Ipv4Addr>,
    /// The IPv6 address (dual-stack networks); `None`: the pool's next.
    pub ipv6: Option<Ipv6Addr>,
    /// The peer's MAC.
    pub mac: MacPolicy,
}

/// Whether a record is a detached endpoint's.
pub(crate) fn is_detached(ep: &EndpointRecord) -> bool {
    ep.netns.as_os_str().is_empty()
}

fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl BridgeNet {
    /// Create an endpoint on `network` whose veth peer stays here, down,
    /// under a temporary name (`EndpointInfo::ifname`) with its MAC and
    /// MTU set, for the caller's runtime to move into the container and
    /// address. The host end is up on the bridge; the endpoint's address
    /// protection is in the firewall. Each step is undone if a later one
    /// fails. Internal networks give no gateway.
    pub fn create_detached(
        &mut self,
        network: &str,
        opts: &DetachedOptions,
    ) -> Result<EndpointInfo> {
        let _lock = self.store.lock()?;
        let net =
            self.store
                .state
                .network(network)
                .cloned()
                .ok_or_else(|| Error::NetworkNotFound {
                    name: network.to_owned(),
                })?;
        let id = match &opts.id {
            Some(id) if !valid_id(id) => {
                return Err(Error::option("endpoint id", id, "expected 64 hex digits"));
            }
            Some(id) if self.store.state.endpoints.contains_key(id) => {
                return Err(Error::option("endpoint id", id, "exists already"));
            }
            Some(id) => id.clone(),
            None => host::random_id(),
        };
        if opts.ipv6.is_some() && net.pool6.is_none() {
            return Err(Error::option(
                "--ip6",
                opts.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                format!("network {:?} has no IPv6 subnet", net.rec.name),
            ));
        }
        // Addresses, taken from the state's own pools and given back if a
        // later step fails.
        let backup = net.clone();
        let taken = (|| -> Result<(Option<Ipv4Net>, Option<Ipv6Net>, bool, bool)> {
            let n = self
                .store
                .state
                .network_by_id_mut(&net.rec.id)
                .ok_or_else(|| Error::NetworkNotFound {
                    name: network.to_owned(),
                })?;
            let ipam = |source| Error::Ipam {
                network: n.rec.name.clone(),
                source,
            };
            let (a4, d4) = match opts.ipv4 {
                Some(a) => {
                    n.pool4.request(IpAddr::V4(a)).map_err(ipam)?;
                    (IpAddr::V4(a), false)
                }
                None => (n.pool4.allocate().map_err(ipam)?, true),
            };
            let p4 = match n.pool4.subnet() {
                ipnet::IpNet::V4(s) => s.prefix_len(),
                ipnet::IpNet::V6(_) => 32,
            };
            let ipv4 = match a4 {
                IpAddr::V4(a) => Ipv4Net::new(a, p4).ok(),
                IpAddr::V6(_) => None,
            };
            let p6 = n.pool6.as_ref().map(|p| p.subnet().prefix_len());
            let (ipv6, d6) = match (n.pool6.as_mut(), p6) {
                (Some(pool), Some(p6)) => {
                    let (a, d) = match opts.ipv6 {
                        Some(a) => {
                            pool.request(IpAddr::V6(a)).map_err(ipam)?;
                            (IpAddr::V6(a), false)
                        }
                        None => (pool.allocate().map_err(ipam)?, true),
                    };
                    match a {
                        IpAddr::V6(a) => (Ipv6Net::new(a, p6).ok(), d),
                        IpAddr::V4(_) => (None, d),
                    }
                }
                _ => (None, false),
            };
            Ok((ipv4, ipv6, d4, d6))
        })();
        let restore = |this: &mut BridgeNet| {
            if let Some(n) = this.store.state.network_by_id_mut(&backup.rec.id) {
                *n = backup.clone();
            }
        };
        let (ipv4, ipv6, dynamic4, dynamic6) = match taken {
            Ok(t) => t,
            Err(e) => {
                restore(self);
                return Err(e);
            }
        };
        let result = self.detached_steps(&net.rec.id, &id, opts, ipv4, ipv6, dynamic4, dynamic6);
        if result.is_err() {
            restore(self);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn detached_steps(
        &mut self,
        net_id: &str,
        id: &str,
        opts: &DetachedOptions,
        ipv4: Option<Ipv4Net>,
        ipv6: Option<Ipv6Net>,
        dynamic4: bool,
        dynamic6: bool,
    ) -> Result<EndpointInfo> {
        let net = self
            .store
            .state
            .network_by_id(net_id)
            .cloned()
            .ok_or_else(|| Error::NetworkNotFound {
                name: net_id.to_owned(),
            })?;
        let mac = match opts.mac {
            MacPolicy::Fixed(m) => m.unicast()?,
            MacPolicy::Random => host::random_mac(),
            MacPolicy::Derived => match ipv4 {
                Some(a) => host::derived_mac(a.addr()),
                None => host::random_mac(),
            },
        };
        let host_veth = brnet_veth::random_host_name();
        let mut peer = brnet_veth::random_host_name();
        while peer == host_veth {
            peer = brnet_veth::random_host_name();
        }
        self.store.record(
            Op::Begin {
                intent: Intent {
                    id: id.to_owned(),
                    kind: "connect".into(),
                    host_veth: Some(host_veth.to_string()),
                    bridge: None,
                    network: Some(net.rec.id.clone()),
                    subnets: Vec::new(),
                },
            },
            false,
        )?;
        let rec = EndpointRecord {
            id: id.to_owned(),
            network: net.rec.id.clone(),
            container_id: id.to_owned(),
            container: opts.name.clone().unwrap_or_else(|| id[..12].to_owned()),
            netns: PathBuf::new(),
            netns_ino: 0,
            ifname: peer.to_string(),
            host_veth: host_veth.to_string(),
            mac: mac.to_string(),
            ipv4,
            ipv6,
            dynamic4,
            dynamic6,
            default_route: false,
            ports: Vec::new(),
            aliases: Vec::new(),
            created: host::now(),
        };
        let mut veth_made = false;
        let result = (|| -> Result<()> {
            self.step("connect.begin")?;
            let bridge = self.nl.link_by_name(&net.rec.bridge)?;
            let made = self.nl.create_veth(&VethSpec {
                name: &host_veth,
                peer_name: &peer,
                peer_netns: None,
                master: Some(bridge.index),
                mtu: net.rec.options.mtu,
                mac: None,
                peer_mac: Some(mac),
                up: true,
                peer_up: false,
            });
            if let Err(e) = &made
                && e.errno() == Some(Errno::EXFULL)
            {
                return Err(Error::BridgeFull {
                    bridge: net.rec.bridge.clone(),
                    network: net.rec.name.clone(),
                    limit: BRIDGE_PORT_LIMIT,
                });
            }
            made?;
            veth_made = true;
            self.step("connect.veth")?;
            self.fw
                .add_endpoint(&fw::network(&net)?, &fw::endpoint(&rec)?)?;
            self.step("connect.firewall")?;
            self.step("connect.record")?;
            self.store.record(
                Op::Connect {
                    endpoint: rec.clone(),
                },
                false,
            )?;
            Ok(())
        })();
        match result {
            Ok(()) => Ok(EndpointInfo::of(&net, &rec)),
            Err(e) => {
                if let (Ok(n), Ok(ep)) = (fw::network(&net), fw::endpoint(&rec)) {
                    let _ = self.fw.remove_endpoint(&n, &ep);
                }
                if veth_made {
                    let _ = self.nl.delete_link_if_exists(&host_veth);
                }
                let _ = self.store.record(Op::End { id: id.to_owned() }, false);
                Err(e)
            }
        }
    }

    /// The endpoint with id `id` (detached or not).
    pub fn endpoint(&mut self, id: &str) -> Result<Option<EndpointInfo>> {
        self.store.refresh_unlocked()?;
        let st = &self.store.state;
        Ok(st
            .endpoints
            .get(id)
            .and_then(|e| st.network_by_id(&e.network).map(|n| EndpointInfo::of(n, e))))
    }

    /// Remove the detached endpoint `id`: its ports and protection leave
    /// the firewall, its veth is deleted (the peer with it, wherever it
    /// is), its addresses go back to the pool. `Ok(false)` when there is
    /// no such endpoint: removal is idempotent.
    pub fn remove_detached(&mut self, id: &str) -> Result<bool> {
        let _lock = self.store.lock()?;
        let Some(ep) = self.store.state.endpoints.get(id).cloned() else {
            return Ok(false);
        };
        let Some(net) = self.store.state.network_by_id(&ep.network).cloned() else {
            self.store.record(Op::Disconnect { id: ep.id }, false)?;
            return Ok(true);
        };
        // The veth goes first: a pair whose peer moved back here is
        // deleted whole; one inside a namespace that lives on, too.
        self.disconnect_locked(&net, &ep, true)?;
        Ok(true)
    }

    /// Set the published ports of endpoint `id` to `ports` (replacing the
    /// ones it had; empty: none). Host ports are checked free (or chosen,
    /// for a spec without them) before anything changes; the firewall
    /// changes in one transaction per step, undone on failure.
    pub fn publish(&mut self, id: &str, ports: &[PortSpec]) -> Result<EndpointInfo> {
        let _lock = self.store.lock()?;
        let ep = self
            .store
            .state
            .endpoints
            .get(id)
            .cloned()
            .ok_or_else(|| Error::EndpointNotFound { id: id.to_owned() })?;
        let net = self
            .store
            .state
            .network_by_id(&ep.network)
            .cloned()
            .ok_or_else(|| Error::NetworkNotFound {
                name: ep.network.clone(),
            })?;
        if net.rec.options.internal && !ports.is_empty() {
            return Err(Error::PortsNotAllowed {
                network: net.rec.name.clone(),
                reason: "an internal network cannot publish ports",
            });
        }
        // Its own old ports do not stand in the way of the new ones.
        let mut without = ep.clone();
        without.ports.clear();
        if let Some(e) = self.store.state.endpoints.get_mut(id) {
            e.ports.clear();
        }
        let mut mappings = Vec::with_capacity(ports.len());
        let resolved = (|| -> Result<()> {
            for spec in ports {
                let m = self.resolve_port(&net, spec, ep.ipv4, ep.ipv6, &mappings)?;
                mappings.push(m);
            }
            Ok(())
        })();
        if let Some(e) = self.store.state.endpoints.get_mut(id) {
            e.ports = ep.ports.clone();
        }
        resolved?;
        let mut new = without;
        new.ports = mappings.iter().map(fw::port_record).collect();
        if new == ep {
            return Ok(EndpointInfo::of(&net, &ep));
        }
        let fw_net = fw::network(&net)?;
        let old_fw = fw::endpoint(&ep)?;
        let new_fw = fw::endpoint(&new)?;
        if !old_fw.ports().is_empty() {
            self.fw.remove_ports(&fw_net, old_fw.ports())?;
        }
        let applied = (|| -> Result<()> {
            if !new_fw.ports().is_empty() {
                self.fw.add_ports(&fw_net, new_fw.ports())?;
            }
            self.step("publish.firewall")?;
            self.store.record(
                Op::Update {
                    endpoint: new.clone(),
                },
                false,
            )?;
            Ok(())
        })();
        if let Err(e) = applied {
            if !new_fw.ports().is_empty() {
                let _ = self.fw.remove_ports(&fw_net, new_fw.ports());
            }
            if !old_fw.ports().is_empty() {
                let _ = self.fw.add_ports(&fw_net, old_fw.ports());
            }
            return Err(e);
        }
        Ok(EndpointInfo::of(&net, &new))
    }

    /// Drop the detached endpoints whose veth is gone (their container's
    /// namespace died without the runtime saying so: a crashed daemon):
    /// firewall entries removed, addresses released. Returns their ids.
    pub fn collect_detached(&mut self) -> Result<Vec<String>> {
        let _lock = self.store.lock()?;
        self.collect_detached_locked()
    }

    pub(crate) fn collect_detached_locked(&mut self) -> Result<Vec<String>> {
        let detached: Vec<EndpointRecord> = self
            .store
            .state
            .endpoints
            .values()
            .filter(|e| is_detached(e))
            .cloned()
            .collect();
        if detached.is_empty() {
            return Ok(Vec::new());
        }
        let links: HashSet<String> = self.nl.links()?.into_iter().map(|l| l.name).collect();
        let mut gone = Vec::new();
        for ep in detached
            .into_iter()
            .filter(|e| !links.contains(&e.host_veth))
        {
            if let Some(net) = self.store.state.network_by_id(&ep.network).cloned() {
                self.disconnect_locked(&net, &ep, false)?;
            } else {
                self.store
                    .record(Op::Disconnect { id: ep.id.clone() }, false)?;
            }
            gone.push(ep.id);
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits() {
        assert!(valid_id(&"ab".repeat(32)));
        assert!(!valid_id("abc"));
        assert!(!valid_id(&"zz".repeat(32)));
    }
}
