//! Reconcile: make the kernel match the state again after a crash, a
//! reboot, a flushed ruleset or a deleted bridge.

use std::collections::HashMap;
use std::path::PathBuf;

use brnet_bridge::BridgeConfig;
use brnet_netlink::IfName;
use ipnet::IpNet;
use serde::Serialize;

use crate::apply::{self, VethGone};
use crate::endpoint::Seen;
use crate::error::Result;
use crate::plan;
use crate::state::{EndpointRecord, Intent, Op};
use crate::{BridgeNet, fw};

/// What reconcile found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Operations cut short by a crash, cleaned up (their veth or bridge
    /// removed, nothing recorded).
    pub interrupted: Vec<String>,
    /// Bridges that were missing and were made again.
    pub bridges_recreated: Vec<String>,
    /// Networks whose firewall rules were missing or different and were
    /// installed again.
    pub firewall_restored: Vec<String>,
    /// Endpoints whose namespace is gone, dropped (addresses released).
    pub endpoints_dropped: Vec<String>,
    /// Endpoints whose veth lost its bridge (the bridge was gone and was
    /// made again) and was put back on it.
    pub ports_reattached: Vec<String>,
    /// The name resolver was not running and was started.
    pub resolver_started: bool,
}

impl Report {
    /// Whether nothing needed fixing.
    pub fn is_clean(&self) -> bool {
        *self == Report::default()
    }
}

/// Whether the namespace an endpoint was made in is still at its path:
/// one stat(2) per path (device, inode and change time), the cookie read
/// only when the change time says nothing ([`Seen`]).
fn netns_alive(ep: &EndpointRecord, seen: &mut HashMap<PathBuf, Seen>) -> bool {
    seen.entry(ep.netns.clone())
        .or_insert_with(|| Seen::at(&ep.netns))
        .is_of(ep)
}

impl BridgeNet {
    /// Make the kernel match the state: clean up operations a crash cut
    /// short, drop endpoints whose namespace is gone (releasing their
    /// addresses), re-create missing bridges (and put their veths back),
    /// and re-install firewall rules that were flushed or changed. Runs on
    /// open; safe to run any time.
    pub fn reconcile(&mut self) -> Result<Report> {
        let _span = tracing::info_span!("reconcile").entered();
        let _lock = self.store.lock()?;
        let mut report = Report::default();

        // 1. Operations cut short: a connect or a create is undone, a
        // disconnect or a removal finished.
        let intents: Vec<_> = self.store.state.intents.values().cloned().collect();
        for intent in intents {
            self.settle(&intent)?;
            report
                .interrupted
                .push(format!("{} {}", intent.kind, intent.id));
        }

        // 2. Endpoints whose namespace is gone (detached ones: whose veth
        // is gone).
        report
            .endpoints_dropped
            .extend(self.collect_detached_locked()?);
        let mut seen = HashMap::new();
        let gone: Vec<EndpointRecord> = self
            .store
            .state
            .endpoints
            .values()
            .filter(|e| !plan::is_detached(e) && !netns_alive(e, &mut seen))
            .cloned()
            .collect();
        for ep in gone {
            // The namespace's file is gone, but the namespace may not be (a
            // process still in it): its veth is taken down, so the address
            // the pool gets back cannot be answered by a container left
            // behind; its rules go.
            let _ = self.disconnect_with(&ep.id, false, VethGone::Wait);
            if self.store.state.endpoints.contains_key(&ep.id) {
                // The firewall refused: step 4 sweeps what is left.
                self.store
                    .record(Op::Disconnect { id: ep.id.clone() }, false)?;
            }
            report
                .endpoints_dropped
                .push(format!("{} ({})", ep.container, ep.netns.display()));
        }

        // 3. Bridges, and the veths that belong on them. A bridge that was
        // gone lost its ports with it: those veths are put back (found with
        // one link dump). A bridge that is there is trusted with its ports
        // (as Docker does): checking each one costs a request per endpoint
        // on every open.
        let nets: Vec<_> = self.store.state.networks.clone();
        let mut masters: Option<HashMap<String, (u32, Option<u32>)>> = None;
        for net in nets.iter().filter(|n| n.rec.options.driver.is_bridge()) {
            let name = IfName::new(&net.rec.bridge)?;
            let missing = match self.nl.link(&name) {
                Ok(_) => false,
                Err(e) if e.is_not_found() => true,
                Err(e) => return Err(e.into()),
            };
            let addresses = net.gateway_cidrs();
            let br = brnet_bridge::ensure(
                &mut self.nl,
                &BridgeConfig {
                    name: name.clone(),
                    addresses,
                    mtu: net.rec.options.mtu,
                    mac: None,
                },
            )?;
            if !missing {
                continue;
            }
            report.bridges_recreated.push(net.rec.bridge.clone());
            if self.loopback_guarded() && net.subnet4().is_some() {
                let _ = brnet_bridge::sysctl::set_route_localnet(&name, true);
            }
            let eps: Vec<EndpointRecord> = self
                .store
                .state
                .endpoints_of(&net.rec.id)
                .cloned()
                .collect();
            if eps.is_empty() {
                continue;
            }
            let masters = match &mut masters {
                Some(m) => m,
                None => masters.insert(
                    self.nl
                        .links()?
                        .into_iter()
                        .map(|l| (l.name, (l.index, l.master)))
                        .collect(),
                ),
            };
            for ep in eps {
                if let Some(&(index, master)) = masters.get(&ep.host_veth)
                    && master != Some(br.index)
                {
                    self.nl.set_master(index, br.index)?;
                    self.nl.set_up(index)?;
                    report.ports_reattached.push(ep.host_veth.clone());
                }
            }
        }

        // 4. Firewall rules.
        for net in &nets {
            let Some(fw_net) = fw::network(net)? else {
                continue;
            };
            let eps = self
                .store
                .state
                .endpoints_of(&net.rec.id)
                .map(fw::endpoint)
                .collect::<Result<Vec<_>>>()?;
            let drift = self.fw.check(&fw_net, &eps)?;
            // The iptables handle keeps a model of the networks it was given
            // (Docker's chains are shared between networks): a fresh handle,
            // in a fresh process, must be given every network again.
            let model = self.fw.backend() == brnet_nat::Backend::IptablesRestore;
            if !drift.is_empty() || model {
                self.fw.install_network(&fw_net, &eps)?;
            }
            if !drift.is_empty() {
                report.firewall_restored.push(net.rec.name.clone());
            }
        }
        // 5. The resolver, when a DNS-enabled network has endpoints.
        if self.dns_wanted()
            && !self.resolver_running()
            && self.config.resolver.binary().is_some()
            && self.sync_resolver()?
        {
            report.resolver_started = true;
        }
        Ok(report)
    }
}

impl BridgeNet {
    /// Finish or undo the operation `intent` describes, which a crash cut
    /// short, and close it.
    fn settle(&mut self, intent: &Intent) -> Result<()> {
        let st = &self.store.state;
        match intent.kind.as_str() {
            // Finished: what the caller asked for to go, goes.
            "disconnect" if st.endpoints.contains_key(&intent.id) => {
                let ep = &st.endpoints[&intent.id];
                let alive = plan::is_detached(ep) || Seen::at(&ep.netns).is_of(ep);
                if self
                    .disconnect_with(&intent.id, alive, VethGone::Wait)
                    .is_ok()
                {
                    return Ok(());
                }
            }
            "remove_network" if st.network_by_id(&intent.id).is_some() => {
                let name = st.network_by_id(&intent.id).map(|n| n.rec.name.clone());
                if let Some(name) = name
                    && self.remove_network_locked(&name).is_ok()
                {
                    return Ok(());
                }
            }
            // Undone: the veth (its peer goes with it); its rules are swept
            // by step 4, which knows every recorded endpoint.
            "connect" => {
                if let Some(v) = &intent.host_veth
                    && let Ok(name) = IfName::new(v)
                {
                    let _ = self.nl.delete_link_if_exists(&name);
                }
            }
            "create_network"
                if intent
                    .bridge
                    .as_ref()
                    .is_some_and(|b| st.networks.iter().all(|n| &n.rec.bridge != b)) =>
            {
                let b = intent.bridge.clone().unwrap_or_default();
                if let Ok(name) = IfName::new(&b) {
                    // Deleted only if this operation made it: said so once
                    // it knew, or (a crash before it could say) a name of
                    // our own (`br-` + the id), which nobody else uses. An
                    // adopted bridge (docker0, a host's br0, cni0) is given
                    // back as it was found, never deleted.
                    let ours = match intent.bridge_created {
                        Some(made) => made,
                        None => intent.id.len() >= 12 && b == format!("br-{}", &intent.id[..12]),
                    };
                    if ours {
                        let _ = self.nl.delete_link_if_exists(&name);
                    } else {
                        let _ = apply::give_back(&mut self.nl, &name, &intent.restore);
                    }
                }
                // The firewall model needs the subnets to find the
                // network's elements; the intent carries them.
                let mut table_net = brnet_nat::Network::builder(&b);
                for subnet in &intent.subnets {
                    table_net = match *subnet {
                        IpNet::V4(n) => table_net.ipv4(n),
                        IpNet::V6(n) => table_net.ipv6(n),
                    };
                }
                if let Ok(table_net) = table_net.build() {
                    let _ = self.fw.remove_network(&table_net);
                }
                if let Some(vx) = &intent.vxlan {
                    crate::overlay::remove_leftover_vtep(&mut self.nl, vx, &b);
                }
            }
            // A batch of disconnects: its veths wait in the group.
            crate::batch::DELETE_LINKS => self.settle_delete_links(),
            // A publish: the firewall is swept against the records by step
            // 4. Anything else: nothing of it is left to do.
            _ => {}
        }
        if self.store.state.intents.contains_key(&intent.id) {
            self.store.record(
                Op::End {
                    id: intent.id.clone(),
                },
                false,
            )?;
        }
        Ok(())
    }
}
