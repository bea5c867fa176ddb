//! The whole firewall model (every network, its endpoints, its ports) and
//! its pure renderings: an nft script and iptables-restore text.

use crate::error::ModelError;
use crate::iptables::{self, IptablesOptions};
use crate::network::{Endpoint, NetState, Network};
use crate::port::PortMapping;
use crate::ruleset::{self, Chain, Element, Family};
use crate::script;
use brnet_netlink::IfName;

/// Every network the firewall knows, in the order they were added (the
/// order matters to iptables, where Docker appends and inserts).
///
/// Rendering is pure, so this is how to see the rules without applying
/// them:
///
/// ```
/// use brnet_nat::{Endpoint, IptablesOptions, Model, Network, PortMapping, Protocol};
/// let net = Network::builder("docker0").ipv4("172.17.0.0/16".parse()?).build()?;
/// let c1 = "172.17.0.2".parse()?;
/// let ep = Endpoint::new(&[c1])?.publish(PortMapping::port(Protocol::Tcp, 8080, c1, 80)?)?;
/// let mut model = Model::new();
/// model.set_network(net, vec![ep])?;
/// assert!(model.nft_script("brnet").contains("tcp . 8080 : 172.17.0.2 . 80"));
/// assert!(model
///     .iptables(&IptablesOptions::default())
///     .contains("-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    networks: Vec<NetState>,
}

impl Model {
    /// An empty model.
    pub fn new() -> Model {
        Model::default()
    }

    pub(crate) fn states(&self) -> &[NetState] {
        &self.networks
    }

    fn state_mut(&mut self, bridge: &IfName) -> Result<&mut NetState, ModelError> {
        self.networks
            .iter_mut()
            .find(|s| s.net.bridge() == bridge)
            .ok_or_else(|| ModelError::UnknownNetwork {
                bridge: bridge.clone(),
            })
    }

    /// Add `net` with its endpoints, or replace the network on the same
    /// bridge (keeping its place). Ports added separately are kept when the
    /// network is replaced.
    pub fn set_network(
        &mut self,
        net: Network,
        endpoints: Vec<Endpoint>,
    ) -> Result<(), ModelError> {
        for ep in &endpoints {
            net.check_endpoint(ep)?;
        }
        if let Some(s) = self
            .networks
            .iter_mut()
            .find(|s| s.net.bridge() == net.bridge())
        {
            s.net = net;
            s.endpoints = endpoints;
        } else {
            self.networks.push(NetState {
                net,
                endpoints,
                ports: Vec::new(),
            });
        }
        Ok(())
    }

    /// Remove the network on `bridge`; returns it if it was there.
    pub fn remove_network(&mut self, bridge: &IfName) -> Option<Network> {
        let i = self
            .networks
            .iter()
            .position(|s| s.net.bridge() == bridge)?;
        Some(self.networks.remove(i).net)
    }

    /// The network on `bridge`.
    pub fn network(&self, bridge: &IfName) -> Option<&Network> {
        self.networks
            .iter()
            .find(|s| s.net.bridge() == bridge)
            .map(|s| &s.net)
    }

    /// The networks, in order.
    pub fn networks(&self) -> impl Iterator<Item = &Network> {
        self.networks.iter().map(|s| &s.net)
    }

    /// The endpoints of the network on `bridge`.
    pub fn endpoints(&self, bridge: &IfName) -> &[Endpoint] {
        self.networks
            .iter()
            .find(|s| s.net.bridge() == bridge)
            .map(|s| s.endpoints.as_slice())
            .unwrap_or_default()
    }

    /// Add an endpoint to the network on `bridge` (replacing one with the
    /// same addresses).
    pub fn add_endpoint(&mut self, bridge: &IfName, ep: Endpoint) -> Result<(), ModelError> {
        let s = self.state_mut(bridge)?;
        s.net.check_endpoint(&ep)?;
        s.endpoints.retain(|e| e.addrs() != ep.addrs());
        s.endpoints.push(ep);
        Ok(())
    }

    /// Remove the endpoint with `ep`'s addresses; returns whether it was there.
    pub fn remove_endpoint(&mut self, bridge: &IfName, ep: &Endpoint) -> Result<bool, ModelError> {
        let s = self.state_mut(bridge)?;
        let before = s.endpoints.len();
        s.endpoints.retain(|e| e.addrs() != ep.addrs());
        Ok(s.endpoints.len() != before)
    }

    /// Publish `ports` on the network on `bridge`, outside any endpoint.
    pub fn add_ports(&mut self, bridge: &IfName, ports: &[PortMapping]) -> Result<(), ModelError> {
        let s = self.state_mut(bridge)?;
        s.net.check_ports(ports)?;
        for p in ports {
            if !s.ports.contains(p) {
                s.ports.push(*p);
            }
        }
        Ok(())
    }

    /// Withdraw `ports` (from the separately added ones and from endpoints).
    pub fn remove_ports(
        &mut self,
        bridge: &IfName,
        ports: &[PortMapping],
    ) -> Result<(), ModelError> {
        let s = self.state_mut(bridge)?;
        s.ports.retain(|p| !ports.contains(p));
        for ep in &mut s.endpoints {
            if ep.ports().iter().any(|p| ports.contains(p)) {
                let mut kept = Endpoint::new(ep.addrs())?;
                for p in ep.ports().iter().filter(|p| !ports.contains(p)) {
                    kept = kept.publish(*p)?;
                }
                *ep = kept;
            }
        }
        Ok(())
    }

    /// Every chain of the nft form, base chains first.
    pub(crate) fn nft_chains(&self) -> Vec<Chain> {
        let mut chains = ruleset::base_chains();
        for s in &self.networks {
            chains.extend(ruleset::network_chains(&s.net).into_iter().map(|(_, c)| c));
        }
        chains
    }

    /// Every element of the nft form.
    pub(crate) fn nft_elements(&self) -> Vec<Element> {
        let mut out = Vec::new();
        for s in &self.networks {
            let chains = ruleset::network_chains(&s.net);
            out.extend(ruleset::dispatch_elements(&s.net, &chains));
            for ep in &s.endpoints {
                ruleset::endpoint_elements(&s.net, ep, &mut out);
            }
            ruleset::port_elements(&s.net, &s.ports, &mut out);
        }
        out
    }

    /// The whole nft table `inet <table>`, declared in one block: what `nft
    /// -f` loads into an empty table and what `nft list table` then prints.
    /// Deterministic, linear in the model's size.
    pub fn nft_script(&self, table: &str) -> String {
        script::render_table(table, &self.nft_chains(), &self.nft_elements())
    }

    /// `iptables-restore` text for IPv4, in Docker 29's chain layout.
    pub fn iptables(&self, opts: &IptablesOptions) -> String {
        iptables::render(&self.networks, Family::V4, opts).text()
    }

    /// `ip6tables-restore` text for IPv6, in Docker 29's chain layout.
    pub fn ip6tables(&self, opts: &IptablesOptions) -> String {
        iptables::render(&self.networks, Family::V6, opts).text()
    }
}
