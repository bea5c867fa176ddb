//! Networks: create (the default `bridge` on first use), remove, list.

use std::net::IpAddr;

use brnet_ipam::overlaps;
use brnet_netlink::{Family, IfName};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::options::{NetworkOptions, validate_network_name};
use crate::plan::{self, HostView};
use crate::state::{Intent, Net, Op};
use crate::{BridgeNet, DEFAULT_NETWORK, apply, host};

/// A network, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkInfo {
    /// Name.
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// The bridge (a macvlan network's: its parent).
    pub bridge: String,
    /// `bridge` or `macvlan`.
    pub driver: &'static str,
    /// IPv4 subnet (none on an IPv6-only network, or one without
    /// addresses).
    pub subnet: Option<Ipv4Net>,
    /// IPv4 gateway (on the bridge; a macvlan network's is its LAN's
    /// router).
    pub gateway: Option<IpAddr>,
    /// IPv6 subnet, when the network has IPv6.
    pub subnet6: Option<Ipv6Net>,
    /// IPv6 gateway.
    pub gateway6: Option<IpAddr>,
    /// No outbound, no published ports.
    pub internal: bool,
    /// The default network.
    pub default: bool,
    /// Number of endpoints.
    pub endpoints: usize,
    /// RFC 3339 creation time.
    pub created: String,
    /// The options the network was made with.
    pub options: NetworkOptions,
}

impl NetworkInfo {
    pub(crate) fn of(net: &Net, endpoints: usize) -> NetworkInfo {
        NetworkInfo {
            name: net.rec.name.clone(),
            id: net.rec.id.clone(),
            bridge: net.rec.bridge.clone(),
            driver: net.rec.options.driver.name(),
            subnet: net.subnet4(),
            gateway: net.gateway4(),
            subnet6: net.subnet6(),
            gateway6: net.gateway6(),
            internal: net.rec.options.internal,
            default: net.rec.default,
            endpoints,
            created: net.rec.created.clone(),
            options: net.rec.options.clone(),
        }
    }
}

/// A setting in which a network differs from what is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `driver`, `bridge`, `IPv4`, `subnet`, `gateway`, `IPv6 subnet`,
    /// `internal`, `mtu`, `metric`, `dns`, `masquerade` or `label`.
    pub field: &'static str,
    /// The network's value.
    pub ours: String,
    /// The value asked for.
    pub theirs: String,
}

impl NetworkInfo {
    /// The first setting in which this network differs from `asked`, among
    /// those `asked` states: the bridge, the subnets and gateway, internal,
    /// MTU, DNS, masquerade, and each label (a front end's own id for the
    /// network, say). `None`: it is the network asked for.
    pub fn difference(&self, asked: &NetworkOptions) -> Option<Difference> {
        fn show<T: std::fmt::Display>(v: Option<T>) -> String {
            v.map_or_else(|| "none".to_owned(), |v| v.to_string())
        }
        let differ = |field, ours: String, theirs: String| {
            Some(Difference {
                field,
                ours,
                theirs,
            })
        };
        let o = &self.options;
        // An overlay network records the VNI and VTEP it was given or
        // found: a request that leaves them out asks for any.
        let same_driver = match (&o.driver, &asked.driver) {
            (crate::Driver::Overlay(ours), crate::Driver::Overlay(theirs)) => {
                theirs.vni.is_none_or(|v| Some(v) == ours.vni)
                    && theirs.vtep.is_none_or(|v| Some(v) == ours.vtep)
                    && theirs.cluster_address() == ours.cluster_address()
            }
            (ours, theirs) => ours == theirs,
        };
        if !same_driver {
            let name = |d: &crate::Driver| match d {
                crate::Driver::Bridge => "bridge".to_owned(),
                crate::Driver::Overlay(v) => format!(
                    "overlay (VNI {}, cluster {})",
                    v.vni.map_or("any".to_owned(), |n| n.to_string()),
                    v.cluster_address()
                ),
                crate::Driver::Macvlan(m) => format!(
                    "macvlan (parent {}, mode {})",
                    m.parent.as_deref().unwrap_or("of the default route"),
                    m.mode
                ),
            };
            return differ("driver", name(&o.driver), name(&asked.driver));
        }
        if let Some(b) = &asked.bridge_name
            && *b != self.bridge
        {
            return differ("bridge", self.bridge.clone(), b.clone());
        }
        if asked.enable_ipv4 != o.enable_ipv4 {
            return differ(
                "IPv4",
                o.enable_ipv4.to_string(),
                asked.enable_ipv4.to_string(),
            );
        }
        if let Some(s) = asked.ipv4.subnet
            && Some(s) != self.subnet.map(IpNet::V4)
        {
            return differ("subnet", show(self.subnet), s.to_string());
        }
        if let Some(g) = asked.ipv4.gateway
            && Some(g) != self.gateway
        {
            return differ("gateway", show(self.gateway), g.to_string());
        }
        let theirs6 = asked.ipv6.as_ref().and_then(|c| c.subnet);
        if theirs6 != self.subnet6.map(IpNet::V6) {
            return differ("IPv6 subnet", show(self.subnet6), show(theirs6));
        }
        if asked.internal != self.internal {
            return differ(
                "internal",
                self.internal.to_string(),
                asked.internal.to_string(),
            );
        }
        // An overlay network's MTU, unless asked, is the underlay's - 50.
        let derived_mtu = asked.mtu.is_none() && matches!(o.driver, crate::Driver::Overlay(_));
        if asked.mtu != o.mtu && !derived_mtu {
            return differ("mtu", show(o.mtu), show(asked.mtu));
        }
        if asked.metric != o.metric {
            return differ("metric", show(o.metric), show(asked.metric));
        }
        if let Some(d) = asked.dns
            && o.dns != Some(d)
        {
            return differ("dns", show(o.dns), d.to_string());
        }
        if asked.masquerade != o.masquerade {
            return differ(
                "masquerade",
                o.masquerade.to_string(),
                asked.masquerade.to_string(),
            );
        }
        for (k, v) in &asked.labels {
            if o.labels.get(k) != Some(v) {
                return differ(
                    "label",
                    show(o.labels.get(k).map(|ours| format!("{k}={ours}"))),
                    format!("{k}={v}"),
                );
            }
        }
        None
    }
}

/// What [`BridgeNet::ensure_network`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ensured {
    /// The network, as it is now.
    pub network: NetworkInfo,
    /// It was made by this call.
    pub created: bool,
    /// It was there with other settings and no endpoints: removed and made
    /// again; what differed.
    pub replaced: Option<Difference>,
    /// Idle networks removed because they stood in its way (its bridge, an
    /// overlapping subnet).
    pub removed: Vec<String>,
}

impl BridgeNet {
    /// Make the network `name` match `asked`, the way a front end that
    /// keeps its own definition of networks needs it (Podman's networks,
    /// a CNI config): nothing to do when it is there as asked; made when
    /// missing; removed and made again when it differs and has no
    /// endpoints (the front end changed it while nothing used it); an
    /// error ([`Error::NetworkChanged`], naming the difference) when it
    /// differs and has endpoints. Before making it, idle networks in its
    /// way are removed ([`remove_idle_networks_in_the_way`]).
    ///
    /// [`remove_idle_networks_in_the_way`]: BridgeNet::remove_idle_networks_in_the_way
    pub fn ensure_network(&mut self, name: &str, asked: &NetworkOptions) -> Result<Ensured> {
        let _span = tracing::info_span!("ensure_network", network = name).entered();
        let mut replaced = None;
        match self.network(name) {
            Ok(ours) => match ours.difference(asked) {
                None => {
                    // Its name servers change in place, endpoints and all.
                    let network = if ours.options.dns_servers != asked.dns_servers {
                        self.set_dns_servers(name, &asked.dns_servers)?;
                        self.network(name)?
                    } else {
                        ours
                    };
                    return Ok(Ensured {
                        network,
                        created: false,
                        replaced: None,
                        removed: Vec::new(),
                    });
                }
                Some(d) if ours.endpoints > 0 => {
                    return Err(Error::NetworkChanged {
                        network: name.to_owned(),
                        field: d.field,
                        ours: d.ours,
                        theirs: d.theirs,
                        endpoints: ours.endpoints,
                    });
                }
                Some(d) => {
                    self.remove_network(name)?;
                    replaced = Some(d);
                }
            },
            Err(Error::NetworkNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let bridge = asked.bridge_name.clone().unwrap_or_default();
        let removed = self.remove_idle_networks_in_the_way(&bridge, asked)?;
        let network = self.create_network(name, asked)?;
        Ok(Ensured {
            network,
            created: true,
            replaced,
            removed,
        })
    }

    /// Create a network: pick or check its subnet, make (or adopt) its
    /// bridge with the gateway address, turn `ip_forward` on, install its
    /// firewall chains, and record it. Any failure undoes what was done.
    ///
    /// The name `bridge` makes the default network (bridge `docker0`),
    /// which is otherwise created on first use.
    pub fn create_network(&mut self, name: &str, opts: &NetworkOptions) -> Result<NetworkInfo> {
        let _span = tracing::info_span!("create_network", network = name).entered();
        validate_network_name(name)?;
        opts.validate()?;
        let _lock = self.store.lock()?;
        self.create_network_locked(name, opts.clone(), name == DEFAULT_NETWORK)
    }

    /// The default network, created if missing (the caller holds the lock).
    pub(crate) fn ensure_default(&mut self) -> Result<()> {
        if self.store.state.network(DEFAULT_NETWORK).is_some() {
            return Ok(());
        }
        self.create_network_locked(DEFAULT_NETWORK, NetworkOptions::default(), true)?;
        Ok(())
    }

    pub(crate) fn create_network_locked(
        &mut self,
        name: &str,
        opts: NetworkOptions,
        default: bool,
    ) -> Result<NetworkInfo> {
        let seeds = host::seeds();
        let mut opts = opts;
        // An overlay network is registered in its cluster store first (a
        // store that cannot be reached fails here, with nothing made).
        let registered = crate::overlay::prepare_create(&mut self.nl, name, &seeds.id, &mut opts)?;
        let r = self.create_network_seeded(name, opts, default, seeds);
        if r.is_err()
            && let Some(reg) = &registered
        {
            reg.undo();
        }
        r
    }

    fn create_network_seeded(
        &mut self,
        name: &str,
        opts: NetworkOptions,
        default: bool,
        seeds: plan::Seeds,
    ) -> Result<NetworkInfo> {
        // Observe: what the host says about subnets and the bridge.
        let view = self.host_view(&opts, default, &seeds.id)?;
        let mut plan = plan::create_network(&self.store.state, name, opts, default, &seeds, &view)?;
        let bridge = plan.link.name();
        let intent = Intent {
            id: plan.record.id.clone(),
            kind: "create_network".into(),
            bridge: Some(bridge.to_string()),
            network: Some(plan.record.id.clone()),
            subnets: plan.subnets.clone(),
            vxlan: crate::overlay::vtep_of(&plan.record.options),
            cluster: crate::overlay::cluster_of(&plan.record.options),
            ..Intent::default()
        };
        let id = plan.record.id.clone();
        self.transact(intent, true, |k, intent, undo| {
            apply::create_network(k, &mut plan, intent, undo)?;
            Ok((
                Op::Network {
                    network: plan.record.clone(),
                },
                (),
            ))
        })?;
        let net = self
            .store
            .state
            .network_by_id(&id)
            .ok_or_else(|| Error::NetworkNotFound { name: id.clone() })?;
        Ok(NetworkInfo::of(net, 0))
    }

    /// What a network's plan needs from the host: its on-link routes and
    /// nameservers (only when a subnet is to be chosen), the bridge's
    /// address (the default network keeps docker0's).
    fn host_view(&mut self, opts: &NetworkOptions, default: bool, id: &str) -> Result<HostView> {
        let choose = opts.ipv4.subnet.is_none() && opts.enable_ipv4 && opts.driver.is_bridge();
        let default_route_link = match &opts.driver {
            crate::Driver::Macvlan(m) if m.parent.is_none() => {
                Some(crate::macvlan_link::default_route_link(&mut self.nl)?)
            }
            _ => None,
        };
        let bridge_v4 = if choose && default {
            self.existing_bridge_subnet(&IfName::new(&plan::bridge_name(opts, default, id))?)?
        } else {
            None
        };
        Ok(HostView {
            reserved: if choose {
                host::reserved_prefixes(&mut self.nl, &[])?
            } else {
                Vec::new()
            },
            bridge_v4,
            default_pools: self.config.default_pools.clone(),
            loopback_guarded: self.loopback_guarded(),
            default_route_link,
        })
    }

    /// Whether the firewall drops packets for 127.0.0.0/8 arriving on our
    /// bridges (CVE-2020-8558): only then may `route_localnet` be on.
    pub(crate) fn loopback_guarded(&self) -> bool {
        self.fw.drops_loopback_from_bridges()
    }

    fn existing_bridge_subnet(&mut self, bridge: &IfName) -> Result<Option<Ipv4Net>> {
        let link = match self.nl.link(bridge) {
            Ok(l) => l,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let addrs = brnet_bridge::addresses(&mut self.nl, link.index, Some(Family::V4))?;
        Ok(addrs.into_iter().find_map(|a| match a {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        }))
    }

    /// Remove the networks without endpoints that stand in the way of a
    /// network about to be created with `bridge` and `options`: the same
    /// bridge name, or a subnet overlapping one of its subnets. They are
    /// left by a crash, or by a caller that removed its own record of a
    /// network without telling us (Podman, a CNI runtime). A network with
    /// endpoints is never touched: the create then fails and says why.
    /// Returns the names removed.
    pub fn remove_idle_networks_in_the_way(
        &mut self,
        bridge: &str,
        options: &NetworkOptions,
    ) -> Result<Vec<String>> {
        let theirs: Vec<IpNet> = [
            options.ipv4.subnet,
            options.ipv6.as_ref().and_then(|c| c.subnet),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut removed = Vec::new();
        for n in self.networks()?.into_iter().filter(|n| n.endpoints == 0) {
            let overlap = n
                .subnet
                .map(IpNet::V4)
                .into_iter()
                .chain(n.subnet6.map(IpNet::V6))
                .any(|a| theirs.iter().any(|b| overlaps(&a, b)));
            // A macvlan network's parent is not its own: another may share it.
            let same_bridge = n.bridge == bridge && n.driver == "bridge";
            if (same_bridge || overlap) && self.remove_network(&n.name)? {
                removed.push(n.name);
            }
        }
        Ok(removed)
    }

    /// Remove a network: its firewall chains, its bridge (deleted if
    /// bridge-net made it; an adopted one is given back as it was found:
    /// our gateway addresses off it, its `route_localnet` as it was), its
    /// record. Refused while endpoints are attached (the error lists them).
    /// `Ok(false)` when there is no such network.
    pub fn remove_network(&mut self, name: &str) -> Result<bool> {
        let _span = tracing::info_span!("remove_network", network = name).entered();
        let _lock = self.store.lock()?;
        self.remove_network_locked(name)
    }

    pub(crate) fn remove_network_locked(&mut self, name: &str) -> Result<bool> {
        let Some(plan) = plan::remove_network(&self.store.state, name)? else {
            return Ok(false);
        };
        let net = self.store.state.network(name).cloned();
        let intent = Intent {
            id: plan.record.id.clone(),
            kind: "remove_network".into(),
            bridge: Some(plan.record.bridge.clone()),
            network: Some(plan.record.id.clone()),
            ..Intent::default()
        };
        self.transact(intent, true, |k, _, undo| {
            apply::remove_network(k, &plan, undo)?;
            Ok((plan.commit(), ()))
        })?;
        if let Some(net) = &net {
            crate::overlay::unregister(net);
        }
        Ok(true)
    }

    /// Remove every user-defined network without endpoints (never the
    /// default network, as Docker). Returns the names removed.
    pub fn prune(&mut self) -> Result<Vec<String>> {
        let _span = tracing::info_span!("prune").entered();
        let names: Vec<String> = {
            let _lock = self.store.lock()?;
            let st = &self.store.state;
            st.networks
                .iter()
                .filter(|n| !n.rec.default && st.endpoints_of(&n.rec.id).next().is_none())
                .map(|n| n.rec.name.clone())
                .collect()
        };
        let mut removed = Vec::new();
        for n in names {
            if self.remove_network(&n)? {
                removed.push(n);
            }
        }
        Ok(removed)
    }

    /// Set the name servers the resolver forwards the network's
    /// containers' other names to, in order (none: the resolver's own
    /// upstreams, the host's), in place: its endpoints stay, and a running
    /// resolver has them before this returns. `Ok(false)` when they were
    /// these already.
    pub fn set_dns_servers(&mut self, name: &str, servers: &[IpAddr]) -> Result<bool> {
        let _span = tracing::info_span!("set_dns_servers", network = name, ?servers).entered();
        let _lock = self.store.lock()?;
        let net = self
            .store
            .state
            .network(name)
            .ok_or_else(|| Error::NetworkNotFound {
                name: name.to_owned(),
            })?;
        if net.rec.options.dns_servers == servers {
            return Ok(false);
        }
        let mut network = net.rec.clone();
        network.options.dns_servers = servers.to_vec();
        let dns = network.options.dns == Some(true);
        self.record_vouched(Op::UpdateNetwork { network }, true)?;
        if dns && self.dns_wanted() {
            self.sync_resolver()?;
        }
        Ok(true)
    }

    /// Every network, in creation order.
    pub fn networks(&mut self) -> Result<Vec<NetworkInfo>> {
        self.store.refresh_unlocked()?;
        let st = &self.store.state;
        Ok(st
            .networks
            .iter()
            .map(|n| NetworkInfo::of(n, st.endpoint_count(&n.rec.id)))
            .collect())
    }

    /// One network, by name or id.
    pub fn network(&mut self, name: &str) -> Result<NetworkInfo> {
        self.store.refresh_unlocked()?;
        let st = &self.store.state;
        st.network(name)
            .map(|n| NetworkInfo::of(n, st.endpoint_count(&n.rec.id)))
            .ok_or_else(|| Error::NetworkNotFound {
                name: name.to_owned(),
            })
    }
}
