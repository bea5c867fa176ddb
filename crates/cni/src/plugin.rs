//! The commands, on bridge-net.
//!
//! The CNI network `name` is a bridge-net network of the same name, made
//! on the first ADD from the config (bridge, subnet, gateway, MTU,
//! masquerade) and made again when the config changed while it had no
//! attachments. ADD connects the namespace; DEL disconnects it and keeps
//! the network (as the reference plugin keeps its bridge); GC releases
//! what the runtime no longer lists and removes the network once empty.
//! One lock (`<state>/cni.lock`) makes each command one step for the
//! others.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use bridge_net::brnet_netlink::{BridgePortFlags, Family, IfName, RouteSpec, Socket};
use bridge_net::brnet_netns::Netns;
use bridge_net::{
    BridgeNet, CommandLock, Config, ConnectOptions, EndpointInfo, FromFailure, MacPolicy, NetnsRef,
};
use ipnet::IpNet;
use serde_json::{Value, json};

use crate::attachment::{Record, Records};
use crate::config::{NetConf, Range};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::version::{self, AddResult, Address, Interface, Route, Version};

/// Where state lives unless the config's `stateDir` says otherwise: a
/// tmpfs, as the namespaces and links it describes do not outlive a boot.
pub const DEFAULT_STATE_DIR: &str = "/run/brnet/cni";

/// How many detached records (addresses of containers that may come
/// back) a network keeps when the runtime never calls GC.
const KEEP_DETACHED: usize = 1024;

/// The search domain of bridge-net's resolver.
pub const SEARCH_DOMAIN: &str = "dns.brnet";

/// The state directory of `conf`.
pub fn state_dir(conf: &NetConf) -> PathBuf {
    conf.state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// The lock held for a whole command.
fn lock(dir: &Path) -> Result<CommandLock> {
    CommandLock::take(dir, "cni.lock").map_err(|e| Error::State {
        op: e.op,
        path: e.path.display().to_string(),
        cause: e.cause,
    })
}

fn open(state: &Path, reconcile: bool) -> Result<BridgeNet> {
    BridgeNet::open_with(Config {
        reconcile,
        // The runtime waits for DEL: the veth's kernel delete (an RCU grace
        // period) goes to a helper process; the veth is down at once.
        veth_delete: bridge_net::VethDelete::Background,
        // One command per process: the exit frees the state's memory.
        free_on_drop: false,
        ..Config::new(state)
    })
    .map_err(Error::bridge("open state", state.display().to_string()))
}

/// ADD: attach, and say what was made.
pub fn add(env: &Env, conf: &NetConf) -> Result<AddResult> {
    let netns = env
        .netns
        .clone()
        .ok_or_else(|| Error::env("CNI_NETNS", "", "missing"))?;
    let ifname = IfName::new(&env.ifname).map_err(|e| Error::env("CNI_IFNAME", &env.ifname, e))?;
    let mut opts = ConnectOptions {
        name: Some(env.container_name()),
        ifname: Some(ifname),
        ports: conf.runtime.ports.clone(),
        aliases: conf.runtime.aliases.clone(),
        mac: conf
            .runtime
            .mac
            .map_or(MacPolicy::Derived, MacPolicy::Fixed),
        ..ConnectOptions::default()
    };
    for ip in &conf.runtime.ips {
        let taken = match ip {
            IpAddr::V4(a) => opts.ipv4.replace(*a).is_some(),
            IpAddr::V6(a) => opts.ipv6.replace(*a).is_some(),
        };
        if taken {
            return Err(Error::Unsupported {
                field: "runtimeConfig.ips".into(),
                value: ip.to_string(),
                reason: "one address per family",
            });
        }
    }

    let state = state_dir(conf);
    let _lock = lock(&state)?;
    let mut brnet = open(&state, true)?;
    ensure_network(&mut brnet, conf)?;
    let records = Records::of(&state, &conf.name);
    let previous = records.get(&env.container_id, &env.ifname);
    if let Some(p) = previous.as_ref().filter(|p| p.attached) {
        // ADD again without DEL (a runtime that crashed): the old
        // attachment goes first.
        let _ = brnet.disconnect(&conf.name, &NetnsRef::Path(p.netns.clone()));
    }
    let ns = NetnsRef::Path(netns.clone());
    // A secondary attachment (another plugin's interface holds the default
    // route): ours adds none, and reports none.
    opts.keep_default_route = has_default_route(&netns);

    // Addresses: asked for; else the container's previous ones (stop and
    // start keep the address); else the first free one of the range; else
    // the pool's next.
    let explicit4 = opts.ipv4.is_some();
    let explicit6 = opts.ipv6.is_some();
    let mut tries = Vec::new();
    let hint4 = previous
        .as_ref()
        .and_then(|p| p.ipv4)
        .filter(|a| in_range(IpAddr::V4(*a), &conf.range4, conf.options.ipv4.subnet));
    let hint6 = previous.as_ref().and_then(|p| p.ipv6);
    if (!explicit4 && hint4.is_some()) || (!explicit6 && hint6.is_some()) {
        let mut o = opts.clone();
        if !explicit4 {
            o.ipv4 = hint4;
        }
        if !explicit6 {
            o.ipv6 = hint6;
        }
        tries.push(o);
    }
    let mut o = opts.clone();
    if !explicit4 && (conf.range4.start.is_some() || conf.range4.end.is_some()) {
        o.ipv4 = Some(free_in_range4(&mut brnet, conf)?);
    }
    if !explicit6 && (conf.range6.start.is_some() || conf.range6.end.is_some()) {
        o.ipv6 = Some(free_in_range6(&mut brnet, conf)?);
    }
    tries.push(o);
    let mut result = Err(Error::config("ipam", &conf.name, "no address to try"));
    let n = tries.len();
    for (i, o) in tries.iter().enumerate() {
        result = brnet
            .connect(&conf.name, &ns, o)
            .map_err(Error::bridge("connect", &conf.name));
        match &result {
            // The previous address is taken: the next way.
            Err(Error::Bridge(f))
                if matches!(*f.cause, bridge_net::Error::Ipam { .. }) && i + 1 < n =>
            {
                continue;
            }
            _ => break,
        }
    }
    let ep = result?;
    match finish(&mut brnet, conf, env, &netns, &ep) {
        Ok(r) => {
            records.put(&Record {
                container_id: env.container_id.clone(),
                ifname: env.ifname.clone(),
                netns,
                attached: true,
                ipv4: ep.ipv4.map(|a| a.addr()),
                ipv6: ep.ipv6.map(|a| a.addr()),
            })?;
            Ok(r)
        }
        Err(e) => {
            let _ = brnet.disconnect(&conf.name, &ns);
            Err(e)
        }
    }
}

/// After connect: routes, hairpin mode, and the result.
fn finish(
    brnet: &mut BridgeNet,
    conf: &NetConf,
    env: &Env,
    netns: &Path,
    ep: &EndpointInfo,
) -> Result<AddResult> {
    let nl = brnet.netlink();
    let veth = nl
        .link_by_name(&ep.host_veth)
        .map_err(Error::netlink("read link", &ep.host_veth))?;
    if conf.hairpin {
        nl.set_bridge_port(
            veth.index,
            &BridgePortFlags {
                hairpin: Some(true),
                isolated: None,
            },
        )
        .map_err(Error::netlink("set hairpin mode on", &ep.host_veth))?;
    }
    let bridge = nl
        .link_by_name(&conf.bridge)
        .map_err(Error::netlink("read link", &conf.bridge))?;

    // Routes other than the default one (bridge-net installs that).
    let gateway = |dst: &IpNet| -> Option<IpAddr> {
        match dst {
            IpNet::V4(_) => ep.gateway4.map(IpAddr::V4),
            IpNet::V6(_) => ep.gateway6.map(IpAddr::V6),
        }
    };
    let extra: Vec<_> = conf
        .routes
        .iter()
        .filter(|r| r.dst.prefix_len() > 0)
        .filter(|r| match r.dst {
            IpNet::V4(_) => ep.ipv4.is_some(),
            IpNet::V6(_) => ep.ipv6.is_some(),
        })
        .collect();
    if !extra.is_empty() {
        let ns = Netns::open_path(netns)
            .map_err(|e| Error::bridge("open", netns.display().to_string())(e.into()))?;
        let mut inside = socket_in(&ns).map_err(Error::netlink(
            "open netlink in",
            netns.display().to_string(),
        ))?;
        for r in extra {
            let spec = RouteSpec {
                dst: Some(r.dst),
                gateway: r.gw.or_else(|| gateway(&r.dst)),
                oif: None,
                metric: None,
            };
            inside
                .add_route(&spec)
                .map_err(Error::netlink("add route", spec.to_string()))?;
        }
    }

    let mac = |m: Option<bridge_net::brnet_netlink::MacAddr>| {
        m.map(|m| m.to_string()).unwrap_or_default()
    };
    let interfaces = vec![
        Interface {
            name: conf.bridge.clone(),
            mac: mac(bridge.mac),
            sandbox: None,
        },
        Interface {
            name: ep.host_veth.clone(),
            mac: mac(veth.mac),
            sandbox: None,
        },
        Interface {
            name: env.ifname.clone(),
            mac: ep.mac.to_string(),
            sandbox: Some(netns.display().to_string()),
        },
    ];
    let mut ips = Vec::new();
    if let Some(a) = ep.ipv4 {
        ips.push(Address {
            address: IpNet::V4(a),
            gateway: ep.gateway4.map(IpAddr::V4),
            interface: 2,
        });
    }
    if let Some(a) = ep.ipv6 {
        ips.push(Address {
            address: IpNet::V6(a),
            gateway: ep.gateway6.map(IpAddr::V6),
            interface: 2,
        });
    }
    let routes = if conf.routes.is_empty() {
        // What bridge-net installed: the default route via the gateway.
        let mut r = Vec::new();
        if ep.default_route {
            if let Some(gw) = ep.gateway4 {
                r.push(Route {
                    dst: "0.0.0.0/0".parse().unwrap_or(IpNet::V4(Default::default())),
                    gw: Some(IpAddr::V4(gw)),
                });
            }
            if let Some(gw) = ep.gateway6 {
                r.push(Route {
                    dst: "::/0".parse().unwrap_or(IpNet::V6(Default::default())),
                    gw: Some(IpAddr::V6(gw)),
                });
            }
        }
        r
    } else {
        conf.routes
            .iter()
            .filter(|r| match r.dst {
                IpNet::V4(_) => ep.ipv4.is_some(),
                IpNet::V6(_) => ep.ipv6.is_some(),
            })
            // The default route is bridge-net's to install: reported only
            // where it was.
            .filter(|r| r.dst.prefix_len() > 0 || ep.default_route)
            .map(|r| Route {
                dst: r.dst,
                gw: r.gw.or(match r.dst {
                    IpNet::V4(_) => ep.gateway4.map(IpAddr::V4),
                    IpNet::V6(_) => ep.gateway6.map(IpAddr::V6),
                }),
            })
            .collect()
    };
    let dns = match &conf.dns {
        Value::Object(m) if !m.is_empty() => conf.dns.clone(),
        _ if !ep.dns_servers.is_empty() => json!({
            "nameservers": ep.dns_servers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "search": [SEARCH_DOMAIN],
        }),
        _ => json!({}),
    };
    Ok(AddResult {
        interfaces,
        ips,
        routes,
        dns,
    })
}

/// Whether `a` may be handed out under `range` (or the whole subnet).
fn in_range(a: IpAddr, range: &Range, subnet: Option<IpNet>) -> bool {
    subnet.is_none_or(|s| s.contains(&a))
        && range.start.is_none_or(|s| a >= s)
        && range.end.is_none_or(|e| a <= e)
}

/// The addresses of the network that are not free: the gateway and every
/// endpoint's.
fn used(brnet: &mut BridgeNet, conf: &NetConf) -> Result<Vec<IpAddr>> {
    let net = brnet
        .network(&conf.name)
        .map_err(Error::bridge("read network", &conf.name))?;
    let mut used: Vec<IpAddr> = net.gateway.into_iter().collect();
    used.extend(net.gateway6);
    for ep in brnet
        .endpoints(Some(&conf.name))
        .map_err(Error::bridge("list endpoints of", &conf.name))?
    {
        used.extend(ep.ipv4.map(|a| IpAddr::V4(a.addr())));
        used.extend(ep.ipv6.map(|a| IpAddr::V6(a.addr())));
    }
    Ok(used)
}

/// The first free IPv4 address of `rangeStart`..=`rangeEnd`.
fn free_in_range4(brnet: &mut BridgeNet, conf: &NetConf) -> Result<Ipv4Addr> {
    let Some(IpNet::V4(subnet)) = conf.options.ipv4.subnet else {
        return Err(Error::config("ipam.subnet", "", "missing"));
    };
    let used = used(brnet, conf)?;
    let first = match conf.range4.start {
        Some(IpAddr::V4(a)) => u32::from(a),
        _ => u32::from(subnet.network()).saturating_add(1),
    };
    let last = match conf.range4.end {
        Some(IpAddr::V4(a)) => u32::from(a),
        _ => u32::from(subnet.broadcast()).saturating_sub(1),
    };
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|a| !used.contains(&IpAddr::V4(*a)))
        .ok_or_else(|| {
            Error::bridge("allocate in", &conf.name)(bridge_net::Error::InvalidOption {
                option: "ipam.rangeEnd".into(),
                value: Ipv4Addr::from(last).to_string(),
                reason: format!(
                    "no free address in {}-{}",
                    Ipv4Addr::from(first),
                    Ipv4Addr::from(last)
                ),
            })
        })
}

/// The first free IPv6 address of `rangeStart`..=`rangeEnd`.
fn free_in_range6(brnet: &mut BridgeNet, conf: &NetConf) -> Result<Ipv6Addr> {
    let Some(IpNet::V6(subnet)) = conf.options.ipv6.as_ref().and_then(|c| c.subnet) else {
        return Err(Error::config(
            "ipam.ranges",
            "",
            "an IPv6 range needs an IPv6 subnet",
        ));
    };
    let used = used(brnet, conf)?;
    let first = match conf.range6.start {
        Some(IpAddr::V6(a)) => u128::from(a),
        _ => u128::from(subnet.network()).saturating_add(1),
    };
    let last = match conf.range6.end {
        Some(IpAddr::V6(a)) => u128::from(a),
        _ => u128::from(subnet.broadcast()),
    };
    // Bounded: a range is scanned past its used addresses only.
    (first..=last)
        .take(used.len() + 1)
        .map(Ipv6Addr::from)
        .find(|a| !used.contains(&IpAddr::V6(*a)))
        .ok_or_else(|| {
            Error::config(
                "ipam.rangeEnd",
                Ipv6Addr::from(last),
                "no free address in the range",
            )
        })
}

/// Make the network as the config defines it, unless it is there
/// (bridge-net's one way of doing it: a network that differs is made again
/// while it has no attachments, and refused while it has some).
fn ensure_network(brnet: &mut BridgeNet, conf: &NetConf) -> Result<()> {
    match brnet.ensure_network(&conf.name, &conf.options) {
        Ok(_) => Ok(()),
        Err(bridge_net::Error::NetworkChanged {
            field,
            ours,
            theirs,
            endpoints,
            ..
        }) => Err(Error::config(
            field,
            theirs,
            format!(
                "network {:?} has {ours} and {endpoints} attachment(s): DEL them first",
                conf.name
            ),
        )),
        Err(e) => Err(Error::bridge("create network", &conf.name)(e)),
    }
}

/// DEL: detach; what is gone already is fine. The record stays, marked
/// detached, for the address.
pub fn del(env: &Env, conf: &NetConf) -> Result<()> {
    let state = state_dir(conf);
    let _lock = lock(&state)?;
    let mut brnet = open(&state, false)?;
    let records = Records::of(&state, &conf.name);
    let rec = records.get(&env.container_id, &env.ifname);
    let target = rec
        .as_ref()
        .filter(|r| r.attached)
        .map(|r| r.netns.clone())
        .or_else(|| env.netns.clone());
    let mut errors = Vec::new();
    if let Some(path) = target {
        match brnet.disconnect(&conf.name, &NetnsRef::Path(path)) {
            Ok(_) | Err(bridge_net::Error::NetworkNotFound { .. }) => {}
            Err(e) => errors.push(Error::bridge("disconnect", &conf.name)(e)),
        }
    }
    if let Some(mut r) = rec.filter(|r| r.attached) {
        r.attached = false;
        if let Err(e) = records.put(&r) {
            errors.push(e);
        }
        if let Err(e) = records.prune_detached(KEEP_DETACHED) {
            errors.push(e);
        }
    }
    many(errors)
}

fn many(mut errors: Vec<Error>) -> Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Many { errors }),
    }
}

/// CHECK: the attachment is as ADD left it.
pub fn check(env: &Env, conf: &NetConf) -> Result<()> {
    if conf.parsed_version < Version::V0_4_0 {
        return Err(Error::CommandVersion {
            version: conf.version.clone(),
            command: "CHECK",
            needs: "0.4.0",
        });
    }
    let object = format!("{}/{} on {}", env.container_id, env.ifname, conf.name);
    let fail = |problem: String| Error::Check {
        object: object.clone(),
        problem,
    };
    let state = state_dir(conf);
    let _lock = lock(&state)?;
    let mut brnet = open(&state, false)?;
    let rec = Records::of(&state, &conf.name)
        .get(&env.container_id, &env.ifname)
        .filter(|r| r.attached)
        .ok_or_else(|| fail("not attached".into()))?;
    if env.netns.as_ref() != Some(&rec.netns) {
        return Err(fail(format!(
            "attached in {}, not {}",
            rec.netns.display(),
            env.netns
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )));
    }
    let ep = brnet
        .endpoints(Some(&conf.name))
        .map_err(Error::bridge("list endpoints of", &conf.name))?
        .into_iter()
        .find(|e| e.netns == rec.netns)
        .ok_or_else(|| fail("bridge-net has no endpoint for it".into()))?;
    let ours: Vec<IpNet> = ep
        .ipv4
        .map(IpNet::V4)
        .into_iter()
        .chain(ep.ipv6.map(IpNet::V6))
        .collect();
    if let Some(prev) = &conf.prev_result {
        for a in version::prev_addresses(prev) {
            if !ours.contains(&a) {
                return Err(fail(format!(
                    "prevResult has {a}, the endpoint has {ours:?}"
                )));
            }
        }
    }
    let nl = brnet.netlink();
    let bridge = nl
        .link_by_name(&conf.bridge)
        .map_err(|e| fail(format!("bridge {}: {e}", conf.bridge)))?;
    let veth = nl
        .link_by_name(&ep.host_veth)
        .map_err(|e| fail(format!("host veth {}: {e}", ep.host_veth)))?;
    if veth.master != Some(bridge.index) || !veth.is_up() {
        return Err(fail(format!(
            "host veth {} is not up on {}",
            ep.host_veth, conf.bridge
        )));
    }
    let ns = Netns::open_path(&rec.netns).map_err(|e| fail(e.to_string()))?;
    let mut inside = socket_in(&ns).map_err(|e| fail(e.to_string()))?;
    let link = inside
        .link_by_name(&env.ifname)
        .map_err(|e| fail(format!("{} in the namespace: {e}", env.ifname)))?;
    if !link.is_up() {
        return Err(fail(format!("{} is down", env.ifname)));
    }
    let have: Vec<IpNet> = inside
        .addresses_of(link.index)
        .map_err(|e| fail(e.to_string()))?
        .into_iter()
        .map(|a| a.net)
        .collect();
    for a in &ours {
        if !have.contains(a) {
            return Err(fail(format!("{} lacks {a}", env.ifname)));
        }
    }
    Ok(())
}

/// STATUS: ready when the state opens and netlink answers.
pub fn status(conf: &NetConf) -> Result<()> {
    if conf.parsed_version < Version::V1_1_0 {
        return Err(Error::CommandVersion {
            version: conf.version.clone(),
            command: "STATUS",
            needs: "1.1.0",
        });
    }
    let state = state_dir(conf);
    open(&state, false)
        .map(|_| ())
        .map_err(|e| Error::Status { cause: Box::new(e) })
}

/// GC: release every attachment of the network not in
/// `cni.dev/valid-attachments`, and the network itself once empty.
pub fn gc(conf: &NetConf) -> Result<()> {
    if conf.parsed_version < Version::V1_1_0 {
        return Err(Error::CommandVersion {
            version: conf.version.clone(),
            command: "GC",
            needs: "1.1.0",
        });
    }
    let valid = conf.valid_attachments.clone().unwrap_or_default();
    let state = state_dir(conf);
    let _lock = lock(&state)?;
    let mut brnet = open(&state, true)?;
    let records = Records::of(&state, &conf.name);
    let mut errors = Vec::new();
    let mut kept: Vec<PathBuf> = Vec::new();
    for r in records.all()? {
        if valid
            .iter()
            .any(|(id, ifname)| *id == r.container_id && *ifname == r.ifname)
        {
            if r.attached {
                kept.push(r.netns.clone());
            }
            continue;
        }
        if r.attached
            && let Err(e) = brnet.disconnect(&conf.name, &NetnsRef::Path(r.netns.clone()))
            && !matches!(e, bridge_net::Error::NetworkNotFound { .. })
        {
            errors.push(Error::bridge("disconnect", &conf.name)(e));
            continue;
        }
        if let Err(e) = records.remove(&r.container_id, &r.ifname) {
            errors.push(e);
        }
    }
    // Endpoints no record accounts for (a crash between connect and the
    // record) are unknown to the runtime: garbage too.
    match brnet.endpoints(Some(&conf.name)) {
        Ok(eps) => {
            for ep in eps.iter().filter(|e| !kept.contains(&e.netns)) {
                if let Err(e) = brnet.disconnect(&conf.name, &NetnsRef::Path(ep.netns.clone())) {
                    errors.push(Error::bridge("disconnect", &conf.name)(e));
                }
            }
        }
        Err(bridge_net::Error::NetworkNotFound { .. }) => {}
        Err(e) => errors.push(Error::bridge("list endpoints of", &conf.name)(e)),
    }
    match brnet.network(&conf.name) {
        Ok(n) if n.endpoints == 0 => {
            if let Err(e) = brnet.remove_network(&conf.name) {
                errors.push(Error::bridge("remove network", &conf.name)(e));
            }
        }
        _ => {}
    }
    many(errors)
}

/// A netlink socket in `ns`, opened by entering the namespace on this
/// thread for the `socket(2)` call only (the guard switches back before
/// anything else runs). The plugin runs one command on one thread, so it
/// needs no helper thread, which is what [`Socket::open_in`] starts for
/// callers on shared threads: a thread start (its stack, a malloc arena)
/// per call.
fn socket_in(ns: &Netns) -> bridge_net::brnet_netlink::Result<Socket> {
    let guard = ns.enter()?;
    let socket = Socket::new();
    guard.exit();
    socket
}

/// Whether the namespace has a default route already (IPv4 or IPv6, main
/// table). A namespace that cannot be read says no: connect reports why.
fn has_default_route(netns: &Path) -> bool {
    let Ok(ns) = Netns::open_path(netns) else {
        return false;
    };
    let Ok(mut nl) = socket_in(&ns) else {
        return false;
    };
    [Family::V4, Family::V6].into_iter().any(|f| {
        nl.routes(f).is_ok_and(|routes| {
            routes
                .iter()
                .any(|r| r.dst.is_none_or(|d| d.prefix_len() == 0) && r.table == 254)
        })
    })
}
