//! `brnet network ...`: parse the values, open the state, ask the library,
//! print.

use std::io::Write;

use bridge_net::brnet_netns;
use bridge_net::{BridgeNet, Config, Error, NetnsRef};

use crate::args::{
    ConnectArgs, ConnectFormat, CreateArgs, DisconnectArgs, ExistsArgs, InspectArgs, InspectFormat,
    LsArgs, NetworkCommand, PruneArgs, RmArgs,
};
use crate::failure::{BadInput, Exit, Failed, Failure, Failures};
use crate::{filter, input, render};

/// Run one `network` command, printing to `out`.
pub fn run(cmd: &NetworkCommand, config: &Config, out: &mut dyn Write) -> Result<(), Failures> {
    let one = |what: String, r: Result<(), Failure>| r.map_err(|e| vec![Failed::new(what, e)]);
    match cmd {
        NetworkCommand::Create(a) => {
            one(format!("network create {}", a.name), create(a, config, out))
        }
        NetworkCommand::Exists(a) => {
            one(format!("network exists {}", a.network), exists(a, config))
        }
        NetworkCommand::Ls(a) => one("network ls".into(), ls(a, config, out)),
        NetworkCommand::Inspect(a) => inspect(a, config, out),
        NetworkCommand::Rm(a) => rm(a, config, out),
        NetworkCommand::Prune(a) => one("network prune".into(), prune(a, config, out)),
        NetworkCommand::Connect(a) => one(
            format!("network connect {} {}", a.network, a.netns),
            connect(a, config, out),
        ),
        NetworkCommand::Disconnect(a) => one(
            if a.all {
                format!("network disconnect --all {}", a.namespaces().join(" "))
            } else {
                format!("network disconnect {} {}", a.network, a.netns.join(" "))
            },
            disconnect(a, config),
        ),
    }
}

fn open(config: &Config) -> Result<BridgeNet, Failure> {
    Ok(BridgeNet::open_with(config.clone())?)
}

fn create(a: &CreateArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failure> {
    let opts = input::network_options(a)?;
    let mut net = open(config)?;
    let info = match net.create_network(&a.name, &opts) {
        // podman's --ignore: the network that is there already.
        Err(Error::NetworkExists { .. }) if a.ignore => net.network(&a.name)?,
        r => r?,
    };
    writeln!(out, "{}", info.id)?;
    Ok(())
}

/// Exit 0 when the network exists; a not-found exits 1 without a word.
fn exists(a: &ExistsArgs, config: &Config) -> Result<(), Failure> {
    match open(config)?.network(&a.network) {
        Ok(_) => Ok(()),
        Err(Error::NetworkNotFound { .. }) => Err(Failure::Silent(Exit::Failed)),
        Err(e) => Err(e.into()),
    }
}

fn ls(a: &LsArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failure> {
    let filters = filter::Ls::new(&a.filter)?;
    let nets: Vec<_> = open(config)?
        .networks()?
        .into_iter()
        .filter(|n| filters.matches(n))
        .collect();
    if a.quiet {
        for n in &nets {
            writeln!(out, "{}", render::short_id(&n.id, a.no_trunc))?;
        }
        return Ok(());
    }
    let rows = || nets.iter().map(|n| render::ls_row(n, a.no_trunc));
    let text = render::list(
        &a.format,
        || render::network_table(&nets, a.no_trunc),
        rows,
        render::ls_header(),
    )
    .map_err(|e| BadInput::new("--format", "", e))?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

fn inspect(a: &InspectArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failures> {
    let all = || format!("network inspect {}", a.names.join(" "));
    let mut net = open(config).map_err(|e| vec![Failed::new(all(), e)])?;
    match &a.format {
        InspectFormat::Template(t) => {
            // As docker: a line per network found, then what was not.
            let mut failed = Vec::new();
            for name in &a.names {
                let what = || format!("network inspect {name}");
                let line = net.inspect(name).map_err(Failure::from).and_then(|doc| {
                    let doc =
                        serde_json::to_value(&doc).map_err(|e| BadInput::new("--format", "", e))?;
                    t.render(&doc)
                        .map_err(|e| Failure::from(BadInput::new("--format", "", e)))
                });
                match line {
                    Ok(line) => {
                        writeln!(out, "{line}").map_err(|e| vec![Failed::new(what(), e)])?
                    }
                    Err(e) => failed.push(Failed::new(what(), e)),
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed)
            }
        }
        InspectFormat::Json => {
            // As docker: print what was found, report what was not.
            let mut docs = Vec::with_capacity(a.names.len());
            let mut failed = Vec::new();
            for name in &a.names {
                match net.inspect(name) {
                    Ok(doc) => docs.push(doc),
                    Err(e) => failed.push(Failed::new(format!("network inspect {name}"), e)),
                }
            }
            out.write_all(render::json(&docs).as_bytes())
                .map_err(|e| vec![Failed::new(all(), e)])?;
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed)
            }
        }
        InspectFormat::Dot => {
            let names: Vec<&str> = a.names.iter().map(String::as_str).collect();
            let dot = net
                .topology_dot(&names)
                .map_err(|e| vec![Failed::new(all(), e)])?;
            out.write_all(dot.as_bytes())
                .map_err(|e| vec![Failed::new(all(), e)])
        }
    }
}

fn rm(a: &RmArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failures> {
    let mut net = open(config)
        .map_err(|e| vec![Failed::new(format!("network rm {}", a.names.join(" ")), e)])?;
    // As docker: remove what can be removed, report the rest.
    let mut failed = Vec::new();
    for name in &a.names {
        let what = || format!("network rm {name}");
        match net.remove_network(name) {
            Ok(true) => {
                if let Err(e) = writeln!(out, "{name}") {
                    failed.push(Failed::new(what(), e));
                }
            }
            Ok(false) if a.force => {}
            Ok(false) => failed.push(Failed::new(
                what(),
                Error::NetworkNotFound { name: name.clone() },
            )),
            Err(Error::NetworkNotFound { .. }) if a.force => {}
            Err(e) => failed.push(Failed::new(what(), e)),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed)
    }
}

fn prune(a: &PruneArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failure> {
    let mut net = open(config)?;
    if a.filter.is_empty() {
        for name in net.prune()? {
            writeln!(out, "{name}")?;
        }
        return Ok(());
    }
    let filters = filter::Prune::new(&a.filter)?;
    let chosen: Vec<String> = net
        .networks()?
        .into_iter()
        .filter(|n| !n.default && n.endpoints == 0 && filters.matches(n))
        .map(|n| n.name)
        .collect();
    for name in chosen {
        match net.remove_network(&name) {
            Ok(true) => writeln!(out, "{name}")?,
            // Taken or removed by another process meanwhile: not idle.
            Ok(false) | Err(Error::NetworkInUse { .. } | Error::NetworkNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The library opens a named namespace by its path, and names it by the
/// path when it is missing; name it as the user did.
fn as_named(e: Error, netns: &NetnsRef) -> Error {
    match (e, netns) {
        (Error::Netns(brnet_netns::Error::NotFound { path, .. }), NetnsRef::Name(name)) => {
            Error::Netns(brnet_netns::Error::NotFound {
                name: name.clone(),
                path,
            })
        }
        (e, _) => e,
    }
}

fn connect(a: &ConnectArgs, config: &Config, out: &mut dyn Write) -> Result<(), Failure> {
    let opts = input::connect_options(a)?;
    let netns = input::netns(&a.netns)?;
    let ep = open(config)?
        .connect(&a.network, &netns, &opts)
        .map_err(|e| as_named(e, &netns))?;
    let text = match a.format {
        ConnectFormat::Text => render::endpoint(&ep),
        ConnectFormat::Json => render::json(&ep),
    };
    out.write_all(text.as_bytes())?;
    if let Some(w) = &ep.dns_warning {
        eprintln!("brnet: warning: {} on {}: {w}", ep.container, ep.network);
    }
    Ok(())
}

/// One namespace: `disconnect` (or `disconnect_all`); several: one batch
/// (`disconnect_many`, `disconnect_namespaces`), whose veths go in one
/// kernel request.
fn disconnect(a: &DisconnectArgs, config: &Config) -> Result<(), Failure> {
    let namespaces = a
        .namespaces()
        .into_iter()
        .map(input::netns)
        .collect::<Result<Vec<NetnsRef>, _>>()?;
    if a.all {
        let mut net = open(config)?;
        // `--all NETWORK NETNS` is a slip for `NETWORK NETNS`: an operand
        // that is no namespace but names a network is refused, before
        // anything changes.
        if namespaces.len() > 1 {
            for ns in &namespaces {
                let name = ns.to_string();
                if !ns.path().is_ok_and(|p| p.exists()) && net.network(&name).is_ok() {
                    return Err(BadInput::new(
                        "NETNS",
                        name,
                        "a network, not a namespace: with --all every operand is a namespace \
                         (`brnet network disconnect NETWORK NETNS...` leaves one network)",
                    )
                    .into());
                }
            }
        }
        net.disconnect_namespaces(&namespaces)?;
        return Ok(());
    }
    let mut net = open(config)?;
    // An unknown network is an error (a typo, as docker says); a namespace
    // that is not connected, or is gone, is nothing to do.
    match namespaces.as_slice() {
        [one] => {
            // Nothing disconnected: then (only then: it counts the
            // network's endpoints) whether the network exists says which.
            if !net.disconnect(&a.network, one)? {
                net.network(&a.network)?;
            }
        }
        many => {
            net.network(&a.network)?;
            net.disconnect_many(many.iter().map(|ns| (a.network.as_str(), ns)))?;
        }
    }
    Ok(())
}
