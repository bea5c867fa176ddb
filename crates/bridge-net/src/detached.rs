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
use std::net::{Ipv4Addr, Ipv6Addr};

use brnet_nat::PortSpec;

use crate::error::{Error, Result};
use crate::options::{ConnectOptions, MacPolicy};
use crate::plan::{self, Target};
use crate::state::{EndpointRecord, Intent, Op};
use crate::{BridgeNet, EndpointInfo, apply, host};

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

fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl BridgeNet {
    /// Create an endpoint on `network` whose veth peer stays here, down,
    /// under a temporary name (`EndpointInfo::ifname`) with its MAC and
    /// MTU set, for the caller's runtime to move into the container and
    /// address ([`Target::Detached`]): no container namespace is opened.
    /// The host end is up on the bridge; the endpoint's address protection
    /// is in the firewall. Plan, apply, commit, as [`connect`]: each step
    /// is undone if a later one fails. Internal networks give no gateway.
    ///
    /// [`connect`]: BridgeNet::connect
    pub fn create_detached(
        &mut self,
        network: &str,
        opts: &DetachedOptions,
    ) -> Result<EndpointInfo> {
        let _span = tracing::info_span!("create_detached", network).entered();
        let _lock = self.store.lock()?;
        let mut seeds = host::seeds();
        match &opts.id {
            Some(id) if !valid_id(id) => {
                return Err(Error::option("endpoint id", id, "expected 64 hex digits"));
            }
            Some(id) if self.store.state.endpoints.contains_key(id) => {
                return Err(Error::option("endpoint id", id, "exists already"));
            }
            Some(id) => seeds.id = id.clone(),
            None => {}
        }
        let mut peer = brnet_veth::random_host_name();
        while peer == seeds.host_veth {
            peer = brnet_veth::random_host_name();
        }
        let conn = ConnectOptions {
            name: opts.name.clone(),
            ipv4: opts.ipv4,
            ipv6: opts.ipv6,
            mac: opts.mac,
            ..ConnectOptions::default()
        };
        self.connect_target(network, &Target::Detached { peer }, None, &conn, seeds)
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
        let _span = tracing::info_span!("remove_detached", endpoint = id).entered();
        let _lock = self.store.lock()?;
        let Some(ep) = self.store.state.endpoints.get(id) else {
            return Ok(false);
        };
        if self.store.state.network_by_id(&ep.network).is_none() {
            self.store
                .record(Op::Disconnect { id: id.to_owned() }, false)?;
            return Ok(true);
        }
        // The veth goes: a pair whose peer moved back here is deleted
        // whole; one inside a namespace that lives on, too.
        self.disconnect_locked(id, true)?;
        Ok(true)
    }

    /// Set the published ports of endpoint `id` to `ports` (replacing the
    /// ones it had; empty: none). Host ports are checked free (or chosen,
    /// for a spec without them) in the plan, before anything changes; the
    /// old ports go and the new ones come, each undone if a later step
    /// fails.
    pub fn publish(&mut self, id: &str, ports: &[PortSpec]) -> Result<EndpointInfo> {
        let _span = tracing::info_span!("publish", endpoint = id).entered();
        let _lock = self.store.lock()?;
        let seeds = host::seeds();
        let mut plan = plan::publish(&self.store.state, id, ports, &seeds, &host::Ports)?;
        plan.route_localnet = plan.new.ipv4.is_some() && self.loopback_guarded();
        if !plan.is_noop() {
            let intent = Intent {
                id: seeds.id,
                kind: "publish".into(),
                network: Some(plan.new.network.clone()),
                ..Intent::default()
            };
            self.transact(intent, false, |k, _, undo| {
                apply::publish(k, &plan, undo)?;
                Ok((plan.commit(), ()))
            })?;
        }
        let st = &self.store.state;
        let net = st
            .network_by_id(&plan.new.network)
            .ok_or_else(|| Error::NetworkNotFound {
                name: plan.new.network.clone(),
            })?;
        Ok(EndpointInfo::of(net, &plan.new))
    }

    /// Drop the detached endpoints whose veth is gone (their container's
    /// namespace died without the runtime saying so: a crashed daemon):
    /// firewall entries removed, addresses released. Returns their ids.
    pub fn collect_detached(&mut self) -> Result<Vec<String>> {
        let _span = tracing::info_span!("collect_detached").entered();
        let _lock = self.store.lock()?;
        self.collect_detached_locked()
    }

    pub(crate) fn collect_detached_locked(&mut self) -> Result<Vec<String>> {
        let detached: Vec<EndpointRecord> = self
            .store
            .state
            .endpoints
            .matching_netns(|k| k.is_detached())
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
            if self.store.state.network_by_id(&ep.network).is_some() {
                self.disconnect_locked(&ep.id, false)?;
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
