//! `setup` and `teardown`: a container's networks, on bridge-net.
//!
//! Setup makes each Podman network on first use (a bridge-net network of
//! the same name, on Podman's bridge, with Podman's subnet and gateway)
//! and connects the namespace to it with the addresses Podman allocated.
//! Teardown disconnects, and removes a network when its last container
//! leaves, as netavark does: `podman network rm` never calls the backend,
//! so a network left behind would hold its bridge and subnet forever.
//! Published ports go to the network of the first interface (`eth0`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use bridge_net::{BridgeNet, Config, ConnectOptions, EndpointInfo, FromFailure, NetnsRef};
use ipnet::IpNet;

use crate::contract::{NetAddress, NetInterface, NetworkOptions, StatusBlock};
use crate::error::{Error, Result};
use crate::firewall;
use crate::translate::{self, NetworkPlan};

/// Connect the namespace at `netns` to every network of `o`, with the
/// firewall driver `fw` asks for (`NETAVARK_FW`; see [`firewall`]); on
/// failure, nothing is left connected.
pub fn setup(
    state: &Path,
    netns: &Path,
    o: &NetworkOptions,
    fw: Option<&str>,
) -> Result<BTreeMap<String, StatusBlock>> {
    let mut plans = plan(o)?;
    let _lock = crate::state::lock(state)?;
    let had = firewall::recorded(state)?;
    let backend = firewall::choose_given(state, had, fw)?;
    let mut brnet = open(state, true, backend)?;
    // Recorded before any rule is written: teardown (with a scrubbed
    // environment) finds them in the same firewall.
    firewall::record_over(state, had, backend)?;
    let ns = NetnsRef::Path(netns.to_owned());
    // `podman network connect` sends the container's port mappings again
    // with the new network alone: they are published already.
    let attached = !brnet
        .endpoints_at(netns)
        .map_err(Error::bridge(
            "list endpoints of",
            netns.display().to_string(),
        ))?
        .is_empty();
    if attached {
        for (_, conn) in &mut plans {
            conn.ports.clear();
        }
    }
    let mut out = BTreeMap::new();
    let mut done: Vec<&str> = Vec::new();
    for (plan, conn) in &plans {
        let result = ensure(&mut brnet, plan).and_then(|()| {
            brnet
                .connect(&plan.name, &ns, conn)
                .map_err(Error::bridge("connect", &plan.name))
        });
        match result {
            Ok(ep) => {
                out.insert(plan.name.clone(), status(plan, &ep));
                done.push(&plan.name);
            }
            Err(e) => {
                for name in done.iter().rev() {
                    let _ = brnet.disconnect(name, &ns);
                    let _ = remove_if_empty(&mut brnet, name);
                }
                let _ = remove_if_empty(&mut brnet, &plan.name);
                forget_firewall_if_empty(state, &mut brnet)?;
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Disconnect the namespace at `netns` from every network of `o`, and
/// remove the networks left empty. Goes on after a failure and reports all
/// of them; what is already gone is not an error.
pub fn teardown(state: &Path, netns: &Path, o: &NetworkOptions, fw: Option<&str>) -> Result<()> {
    let _lock = crate::state::lock(state)?;
    // The firewall the rules were written to, whatever this environment
    // says.
    let backend = match firewall::recorded(state)? {
        Some(b) => b,
        None => firewall::choose_given(state, None, fw)?,
    };
    // No reconcile here: every setup runs it (dropping the endpoints of
    // namespaces that vanished before Podman could hand their addresses
    // out again); teardown only takes away.
    let mut brnet = open(state, false, backend)?;
    let ns = NetnsRef::Path(netns.to_owned());
    let mut errors = Vec::new();
    let mut all_gone = true;
    for name in o.networks.keys() {
        if let Err(e) = brnet.disconnect(name, &ns) {
            errors.push(Error::bridge("disconnect", name.as_str())(e));
        }
        match remove_if_empty(&mut brnet, name) {
            Ok(gone) => all_gone &= gone,
            Err(e) => errors.push(e),
        }
    }
    // A network of the container that others still use has rules in the
    // firewall: only when all of them went can there be none left (and
    // only then are the networks listed, an endpoint count each).
    if all_gone && let Err(e) = forget_firewall_if_empty(state, &mut brnet) {
        errors.push(e);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Teardown { errors })
    }
}

/// Everything translated before anything is touched: the networks in the
/// order of their interfaces, each with its connect options. Published
/// ports go to the first bridge network with addresses (netavark forwards
/// none on a macvlan network: its containers are on the LAN).
fn plan(o: &NetworkOptions) -> Result<Vec<(NetworkPlan, ConnectOptions)>> {
    let ports = translate::ports(o.port_mappings.as_deref().unwrap_or_default())?;
    let mut order: Vec<_> = o.networks.iter().collect();
    order.sort_by(|a, b| {
        a.1.interface_name
            .cmp(&b.1.interface_name)
            .then(a.0.cmp(b.0))
    });
    let mut plans = Vec::with_capacity(order.len());
    let mut ports = Some(ports);
    for (name, per) in order {
        let info = o.network_info.get(name).ok_or_else(|| {
            Error::field(
                format!("network_info.{name}"),
                "",
                "missing: every network in networks needs its definition",
            )
        })?;
        let plan = translate::network(name, info)?;
        let publishes =
            !plan.is_macvlan() && (plan.options.enable_ipv4 || plan.options.ipv6.is_some());
        let ports = if publishes {
            ports.take().unwrap_or_default()
        } else {
            Vec::new()
        };
        let conn = translate::endpoint(o, name, per, ports)?;
        plans.push((plan, conn));
    }
    Ok(plans)
}

/// `update NETWORK --network-dns-servers ...`: the network's resolver
/// forwards to these name servers from now on (none: the host's). A
/// network we do not have (no container uses it) has nothing to change:
/// its next setup brings Podman's definition.
pub fn update(state: &Path, network: &str, servers: &[String], fw: Option<&str>) -> Result<()> {
    let servers: Vec<IpAddr> = servers
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| Error::field("--network-dns-servers", s, "not an IP address"))
        })
        .collect::<Result<_>>()?;
    let _lock = crate::state::lock(state)?;
    let backend = match firewall::recorded(state)? {
        Some(b) => b,
        None => firewall::choose_given(state, None, fw)?,
    };
    let mut brnet = open(state, false, backend)?;
    match brnet.set_dns_servers(network, &servers) {
        Ok(_) | Err(bridge_net::Error::NetworkNotFound { .. }) => Ok(()),
        Err(e) => Err(Error::bridge("update network", network)(e)),
    }
}

/// With no network left, no rule is left either: the next setup may
/// choose another firewall driver.
fn forget_firewall_if_empty(state: &Path, brnet: &mut BridgeNet) -> Result<()> {
    let networks = brnet.networks().map_err(Error::bridge(
        "list networks of",
        state.display().to_string(),
    ))?;
    if networks.is_empty() {
        firewall::forget(state)?;
    }
    Ok(())
}

fn open(state: &Path, reconcile: bool, firewall: bridge_net::FirewallBackend) -> Result<BridgeNet> {
    BridgeNet::open_with(Config {
        // The iptables form rewrites Docker's shared chains from the
        // whole model, which a new handle learns by reconciling.
        reconcile: reconcile || firewall == bridge_net::FirewallBackend::IptablesRestore,
        firewall,
        // Podman waits for teardown: the veth's kernel delete (an RCU grace
        // period) goes to a helper process; the veth is down at once.
        veth_delete: bridge_net::VethDelete::Background,
        // One command per process: the exit frees the state's memory.
        free_on_drop: false,
        ..Config::new(state)
    })
    .map_err(Error::bridge("open state", state.display().to_string()))
}

/// Make the network as Podman defines it, unless it is there already
/// (bridge-net's one way of doing it: a network that differs is made again
/// while idle, and an error while it has containers).
fn ensure(brnet: &mut BridgeNet, plan: &NetworkPlan) -> Result<()> {
    match brnet.ensure_network(&plan.name, &plan.options) {
        Ok(_) => Ok(()),
        Err(bridge_net::Error::NetworkChanged {
            field,
            ours,
            theirs,
            ..
        }) => Err(Error::Changed {
            network: plan.name.clone(),
            field,
            ours,
            theirs,
        }),
        Err(e) => Err(Error::bridge("create network", &plan.name)(e)),
    }
}

/// Remove `name` if it has no endpoints left; `Ok(true)` when it is gone
/// (removed now, or not there).
fn remove_if_empty(brnet: &mut BridgeNet, name: &str) -> Result<bool> {
    match brnet.network(name) {
        Ok(n) if n.endpoints == 0 => match brnet.remove_network(name) {
            Ok(_) => Ok(true),
            Err(bridge_net::Error::NetworkInUse { .. }) => Ok(false),
            Err(e) => Err(Error::bridge("remove network", name)(e)),
        },
        Ok(_) => Ok(false),
        Err(bridge_net::Error::NetworkNotFound { .. }) => Ok(true),
        Err(e) => Err(Error::bridge("read network", name)(e)),
    }
}

/// What Podman reads back for one network.
fn status(plan: &NetworkPlan, ep: &EndpointInfo) -> StatusBlock {
    let mut subnets = Vec::with_capacity(2);
    if let Some(a) = ep.ipv4 {
        subnets.push(NetAddress {
            gateway: ep.gateway4.map(IpAddr::V4),
            ipnet: IpNet::V4(a),
        });
    }
    if let Some(a) = ep.ipv6 {
        subnets.push(NetAddress {
            gateway: ep.gateway6.map(IpAddr::V6),
            ipnet: IpNet::V6(a),
        });
    }
    let dns = plan.options.dns == Some(true);
    let mut interfaces = BTreeMap::new();
    interfaces.insert(
        ep.ifname.clone(),
        NetInterface {
            mac_address: ep.mac.to_string(),
            subnets,
        },
    );
    StatusBlock {
        dns_search_domains: if dns {
            ep.dns_search_domains.clone()
        } else {
            Vec::new()
        },
        dns_server_ips: if dns {
            ep.dns_servers.clone()
        } else {
            Vec::new()
        },
        interfaces,
    }
}
