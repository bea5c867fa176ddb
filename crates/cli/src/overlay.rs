//! `brnet overlay agent`: the per-host agent of overlay networks
//! ([`bridge_net::brnet_overlay::agent`]), run in the foreground until
//! killed.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bridge_net::brnet_overlay::{agent::Agent, cluster::Cluster, store};
use bridge_net::{BridgeNet, Config, Error};

use crate::args::OverlayAgentArgs;
use crate::failure::{BadInput, Failed, Failures};

/// The cluster and VTEP of this state directory's overlay networks.
fn from_networks(config: &Config) -> Result<(Option<String>, Option<IpAddr>), Error> {
    let mut b = BridgeNet::open_with(config.clone())?;
    for n in b.networks()? {
        if n.driver != "overlay" {
            continue;
        }
        let doc = b.inspect(&n.name)?;
        let o = &doc.options;
        return Ok((
            o.get("cluster").cloned(),
            o.get("vtep").and_then(|v| v.parse().ok()),
        ));
    }
    Ok((None, None))
}

/// Run the agent until killed.
pub fn agent(a: &OverlayAgentArgs, config: &Config) -> Result<(), Failures> {
    // It runs until killed, opening handles as it goes: each one's memory
    // goes back when it drops.
    let config = &Config {
        free_on_drop: true,
        ..config.clone()
    };
    let fail = |why: crate::failure::Failure| vec![Failed::new("overlay agent", why)];
    let (cluster, vtep) = match (&a.cluster, a.vtep) {
        (Some(c), Some(v)) => (Some(c.clone()), Some(v)),
        _ => {
            let (c, v) = from_networks(config).map_err(|e| fail(e.into()))?;
            (a.cluster.clone().or(c), a.vtep.or(v))
        }
    };
    let cluster = cluster.unwrap_or_else(|| bridge_net::DEFAULT_CLUSTER.to_owned());
    let Some(vtep) = vtep else {
        return Err(fail(
            BadInput::new(
                "--vtep",
                "",
                "no overlay network here to take this host's VTEP from: give --vtep ADDR",
            )
            .into(),
        ));
    };
    let store = store::open(&cluster).map_err(|e| {
        fail(
            Error::Cluster {
                network: String::new(),
                cause: e.into(),
            }
            .into(),
        )
    })?;
    let store: Arc<dyn store::Store> = Arc::from(store);
    let nl = bridge_net::brnet_netlink::Socket::new().map_err(|e| fail(Error::from(e).into()))?;
    tracing::info!(%cluster, %vtep, ttl = a.ttl, "overlay agent");
    let mut agent = Agent::new(
        Cluster::new(store.clone()),
        nl,
        vtep,
        Duration::from_secs(a.ttl.max(1)),
    );
    // Names of other hosts' endpoints, for this host's resolver.
    let config = config.clone();
    let mut served: std::collections::BTreeMap<String, Vec<(String, IpAddr)>> =
        std::collections::BTreeMap::new();
    let mut handle: Option<BridgeNet> = None;
    let cluster = Cluster::new(store);
    // This host's addresses in the store with no endpoint here (a
    // disconnect while the store was unreachable): released once they
    // have been orphans for a TTL (a connect between its allocation and
    // its commit, milliseconds, is not an orphan).
    let grace = Duration::from_secs(a.ttl.max(1));
    let mut orphans: std::collections::BTreeMap<(String, IpAddr), std::time::Instant> =
        std::collections::BTreeMap::new();
    agent.on_round(Box::new(move |snap, me| {
        if handle.is_none() {
            handle = BridgeNet::open_with(config.clone()).ok();
        }
        let Some(b) = handle.as_mut() else { return };
        // Addresses disconnects kept while the store was unreachable.
        if let Err(e) = b.release_pending() {
            tracing::warn!(error = %e, "release kept addresses");
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in snap.networks.keys() {
            let Ok(local) = b.endpoints(Some(name)) else {
                continue;
            };
            let here: Vec<IpAddr> = local
                .iter()
                .filter_map(|e| e.ipv4.map(|a| IpAddr::V4(a.addr())))
                .collect();
            for e in snap.live_endpoints(name, Some(me)) {
                if e.host != me || here.contains(&e.ip) {
                    continue;
                }
                let key = (name.clone(), e.ip);
                let since = *orphans
                    .entry(key.clone())
                    .or_insert_with(std::time::Instant::now);
                seen.insert(key);
                if since.elapsed() >= grace {
                    tracing::info!(network = %name, ip = %e.ip, "release an orphan address");
                    let _ = cluster.release(name, e.ip, me);
                }
            }
        }
        orphans.retain(|k, _| seen.contains(k));
        for name in snap.networks.keys() {
            let mut names: Vec<(String, IpAddr)> = snap
                .live_endpoints(name, None)
                .into_iter()
                .filter(|e| e.host != me)
                .filter_map(|e| Some((e.name.clone()?, e.ip)))
                .collect();
            names.sort();
            if served.get(name) == Some(&names) {
                continue;
            }
            if b.network(name).is_err() {
                continue;
            }
            match b.set_overlay_names(name, &names) {
                Ok(_) => {
                    served.insert(name.clone(), names);
                }
                Err(e) => tracing::warn!(network = %name, error = %e, "remote names"),
            }
        }
    }));
    agent.run(&AtomicBool::new(false));
    Ok(())
}
