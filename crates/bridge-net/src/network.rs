//! Networks: create (the default `bridge` on first use), remove, list.

use std::net::IpAddr;

use brnet_bridge::{BridgeConfig, sysctl};
use brnet_ipam::{SubnetAllocator, overlaps};
use brnet_netlink::{Family, IfName};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::options::{NetworkOptions, validate_network_name};
use crate::state::{Intent, Net, NetworkRecord, Op};
use crate::{BridgeNet, DEFAULT_BRIDGE, DEFAULT_NETWORK, fw, host};

/// A network, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkInfo {
    /// Name.
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// The bridge.
    pub bridge: String,
    /// IPv4 subnet.
    pub subnet: Ipv4Net,
    /// IPv4 gateway (on the bridge).
    pub gateway: IpAddr,
    /// IPv6 subnet, when dual-stack.
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
            subnet: net.subnet4(),
            gateway: net.pool4.gateway(),
            subnet6: net.subnet6(),
            gateway6: net.pool6.as_ref().map(|p| p.gateway()),
            internal: net.rec.options.internal,
            default: net.rec.default,
            endpoints,
            created: net.rec.created.clone(),
            options: net.rec.options.clone(),
        }
    }

    /// The gateway address with the network's prefix (`172.17.0.1/16`).
    pub fn gateway_cidr(&self) -> IpNet {
        IpNet::new(self.gateway, self.subnet.prefix_len()).unwrap_or_else(|_| self.subnet.into())
    }
}

impl BridgeNet {
    /// Create a network: pick or check its subnet, make (or adopt) its
    /// bridge with the gateway address, turn `ip_forward` on, install its
    /// firewall chains, and record it. Any failure undoes what was done.
    ///
    /// The name `bridge` makes the default network (bridge `docker0`),
    /// which is otherwise created on first use.
    pub fn create_network(&mut self, name: &str, opts: &NetworkOptions) -> Result<NetworkInfo> {
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
        mut opts: NetworkOptions,
        default: bool,
    ) -> Result<NetworkInfo> {
        if self.store.state.network(name).is_some() {
            return Err(Error::NetworkExists {
                name: name.to_owned(),
            });
        }
        let id = host::random_id();
        let bridge = match (&opts.bridge_name, default) {
            (Some(b), _) => b.clone(),
            (None, true) => DEFAULT_BRIDGE.to_owned(),
            (None, false) => format!("br-{}", &id[..12]),
        };
        let bridge_name = IfName::new(&bridge)?;
        if let Some(other) = self
            .store
            .state
            .networks
            .iter()
            .find(|n| n.rec.bridge == bridge)
        {
            return Err(Error::option(
                crate::OPT_BRIDGE_NAME,
                &bridge,
                format!("bridge already used by network {:?}", other.rec.name),
            ));
        }
        if opts.dns.is_none() {
            opts.dns = Some(!default);
        }
        self.choose_subnets(name, &bridge_name, &mut opts, default)?;
        let rec = NetworkRecord {
            id: id.clone(),
            name: name.to_owned(),
            created: host::now(),
            bridge: bridge.clone(),
            default,
            adopted: false,
            options: opts,
        };
        let mut net = Net::new(rec).map_err(|detail| Error::InvalidOption {
            option: "--subnet".into(),
            value: name.to_owned(),
            reason: detail,
        })?;
        // Fill in the gateways the pools chose, for inspect and reload.
        net.rec.options.ipv4.gateway = Some(net.pool4.gateway());
        if let (Some(v6), Some(p)) = (net.rec.options.ipv6.as_mut(), net.pool6.as_ref()) {
            v6.gateway = Some(p.gateway());
        }

        self.store.record(
            Op::Begin {
                intent: Intent {
                    id: id.clone(),
                    kind: "create_network".into(),
                    host_veth: None,
                    bridge: Some(bridge.clone()),
                    network: Some(id.clone()),
                    subnets: std::iter::once(IpNet::V4(net.subnet4()))
                        .chain(net.subnet6().map(IpNet::V6))
                        .collect(),
                },
            },
            false,
        )?;
        let mut undo = Undo::default();
        match self.create_steps(&mut net, &bridge_name, &mut undo) {
            Ok(()) => Ok(NetworkInfo::of(&net, 0)),
            Err(e) => {
                if undo.firewall
                    && let Ok(n) = fw::network(&net)
                {
                    let _ = self.fw.remove_network(&n);
                }
                if undo.bridge {
                    let _ = brnet_bridge::delete(&mut self.nl, &bridge_name);
                }
                let _ = self.store.record(Op::End { id }, false);
                Err(e)
            }
        }
    }

    fn create_steps(&mut self, net: &mut Net, bridge: &IfName, undo: &mut Undo) -> Result<()> {
        self.step("create.begin")?;
        if !sysctl::ip_forward()? {
            sysctl::set_ip_forward(true).map_err(|source| Error::IpForward { source })?;
        }
        let mut addresses = vec![
            IpNet::new(net.pool4.gateway(), net.subnet4().prefix_len())
                .map_err(|e| Error::option("--gateway", net.pool4.gateway(), e))?,
        ];
        if let (Some(p), Some(s)) = (&net.pool6, net.subnet6()) {
            addresses.push(
                IpNet::new(p.gateway(), s.prefix_len())
                    .map_err(|e| Error::option("--gateway", p.gateway(), e))?,
            );
        }
        let br = brnet_bridge::ensure(
            &mut self.nl,
            &BridgeConfig {
                name: bridge.clone(),
                addresses,
                mtu: net.rec.options.mtu,
                mac: None,
            },
        )?;
        undo.bridge = br.created;
        net.rec.adopted = !br.created;
        self.step("create.bridge")?;
        // Ports published on 127.0.0.1 are routed to the bridge (the
        // firewall drops 127.0.0.0/8 arriving from it); Docker sets the same
        // without its userland proxy. Routers advertised on the bridge are
        // not for us.
        sysctl::set_route_localnet(bridge, true)?;
        if std::path::Path::new("/proc/sys/net/ipv6/conf").exists() {
            let _ = sysctl::set_accept_ra(bridge, 0);
        }
        if net.subnet6().is_some() && std::path::Path::new("/proc/sys/net/ipv6").exists() {
            sysctl::set_ipv6_forwarding(true)?;
        }
        if !net.rec.options.icc {
            // ICC off is enforced on bridged traffic only with br_netfilter.
            sysctl::write("/proc/sys/net/bridge/bridge-nf-call-iptables", "1").map_err(|e| {
                Error::option(
                    crate::OPT_ICC,
                    "false",
                    format!("needs br_netfilter (modprobe br_netfilter): {e}"),
                )
            })?;
        }
        self.fw.install_network(&fw::network(net)?, &[])?;
        undo.firewall = true;
        self.step("create.firewall")?;
        self.step("create.record")?;
        self.store.record(
            Op::Network {
                network: net.rec.clone(),
            },
            true,
        )?;
        Ok(())
    }

    /// Pick (default pools) or check (given) the subnets.
    fn choose_subnets(
        &mut self,
        name: &str,
        bridge: &IfName,
        opts: &mut NetworkOptions,
        default: bool,
    ) -> Result<()> {
        let ours: Vec<IpNet> = self
            .store
            .state
            .networks
            .iter()
            .flat_map(|n| {
                std::iter::once(IpNet::from(n.subnet4())).chain(n.subnet6().map(IpNet::from))
            })
            .collect();
        let owner = |subnet: &IpNet| -> Option<(IpNet, String)> {
            self.store.state.networks.iter().find_map(|n| {
                let s4 = IpNet::from(n.subnet4());
                if overlaps(&s4, subnet) {
                    return Some((s4, format!("network {:?}", n.rec.name)));
                }
                n.subnet6()
                    .map(IpNet::from)
                    .filter(|s6| overlaps(s6, subnet))
                    .map(|s6| (s6, format!("network {:?}", n.rec.name)))
            })
        };
        for given in [opts.ipv4.subnet, opts.ipv6.as_ref().and_then(|c| c.subnet)]
            .into_iter()
            .flatten()
        {
            if let Some((other, who)) = owner(&given) {
                return Err(Error::SubnetOverlap {
                    subnet: given,
                    other,
                    owner: who,
                });
            }
        }
        if opts.ipv4.subnet.is_none() {
            // docker0 keeps the address it already has, as Docker does.
            if default && let Some(existing) = self.existing_bridge_subnet(bridge)? {
                opts.ipv4.subnet = Some(IpNet::from(existing.trunc()));
                opts.ipv4.gateway = Some(IpAddr::V4(existing.addr()));
                return Ok(());
            }
            let mut alloc = SubnetAllocator::with_pools(self.config.default_pools.clone());
            for s in &ours {
                let _ = alloc.request(*s);
            }
            let reserved = host::reserved_prefixes(&mut self.nl, &ours)?;
            let subnet = alloc.next(&reserved).map_err(|source| Error::Ipam {
                network: name.to_owned(),
                source,
            })?;
            opts.ipv4.subnet = Some(subnet);
        }
        Ok(())
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
            let overlap = std::iter::once(IpNet::V4(n.subnet))
                .chain(n.subnet6.map(IpNet::V6))
                .any(|a| theirs.iter().any(|b| overlaps(&a, b)));
            if (n.bridge == bridge || overlap) && self.remove_network(&n.name)? {
                removed.push(n.name);
            }
        }
        Ok(removed)
    }

    /// Remove a network: its firewall chains, its bridge (unless it was
    /// adopted), its record. Refused while endpoints are attached (the
    /// error lists them). `Ok(false)` when there is no such network.
    pub fn remove_network(&mut self, name: &str) -> Result<bool> {
        let _lock = self.store.lock()?;
        let Some(net) = self.store.state.network(name).cloned() else {
            return Ok(false);
        };
        let eps: Vec<String> = self
            .store
            .state
            .endpoints_of(&net.rec.id)
            .map(|e| format!("{} ({})", e.container, e.ifname))
            .collect();
        if !eps.is_empty() {
            return Err(Error::NetworkInUse {
                name: net.rec.name.clone(),
                endpoints: eps,
            });
        }
        let fw_net = fw::network(&net)?;
        self.fw.remove_network(&fw_net)?;
        let rest = (|| -> Result<()> {
            self.step("remove.firewall")?;
            if !net.rec.adopted {
                brnet_bridge::delete(&mut self.nl, &IfName::new(&net.rec.bridge)?)?;
            }
            self.step("remove.bridge")?;
            Ok(())
        })();
        if let Err(e) = rest {
            // Nothing is gone but the rules: put them back.
            let eps: Vec<_> = Vec::new();
            let _ = self.fw.install_network(&fw_net, &eps);
            return Err(e);
        }
        self.step("remove.record")?;
        self.store.record(
            Op::RemoveNetwork {
                id: net.rec.id.clone(),
            },
            true,
        )?;
        Ok(true)
    }

    /// Remove every user-defined network without endpoints (never the
    /// default network, as Docker). Returns the names removed.
    pub fn prune(&mut self) -> Result<Vec<String>> {
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

    /// Every network, in creation order.
    pub fn networks(&mut self) -> Result<Vec<NetworkInfo>> {
        self.store.refresh_unlocked()?;
        let st = &self.store.state;
        Ok(st
            .networks
            .iter()
            .map(|n| NetworkInfo::of(n, st.endpoints_of(&n.rec.id).count()))
            .collect())
    }

    /// One network, by name or id.
    pub fn network(&mut self, name: &str) -> Result<NetworkInfo> {
        self.store.refresh_unlocked()?;
        let st = &self.store.state;
        st.network(name)
            .map(|n| NetworkInfo::of(n, st.endpoints_of(&n.rec.id).count()))
            .ok_or_else(|| Error::NetworkNotFound {
                name: name.to_owned(),
            })
    }
}

#[derive(Default)]
struct Undo {
    bridge: bool,
    firewall: bool,
}
