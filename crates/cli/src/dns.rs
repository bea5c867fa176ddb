//! `brnet dns serve`: the name resolver of a state directory's DNS-enabled
//! networks, kept in step with the state over a control socket.
//!
//! Protocol (`resolver.sock` in the state directory, one line each way):
//! `sync` → re-read the state, update records and listeners → `ok`;
//! `ping` → `ok`; `stop` → `ok`, then exit. After a sync that leaves no
//! DNS-enabled network with endpoints, it exits; it also exits when its
//! state directory disappears.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bridge_net::state::{State, Store};
use bridge_net::{RESOLVER_LOCK, RESOLVER_PID, RESOLVER_SOCKET};
use brnet_dns::{Config, Entry, Network, RESOLV_CONF, Resolver, Table};

use crate::args::DnsServeArgs;
use crate::failure::{Failed, Failures};

fn fail(what: &str, why: impl Into<crate::failure::Failure>) -> Failures {
    vec![Failed::new(format!("dns serve: {what}"), why)]
}

/// The records and the listen addresses the state asks for.
fn plan(state: &State, port: u16) -> (Table, Vec<SocketAddr>, bool) {
    let mut table = Table::new();
    let mut listen = BTreeSet::new();
    let mut wanted = false;
    for net in state
        .networks
        .iter()
        .filter(|n| n.rec.options.dns == Some(true))
    {
        let mut network = Network::new(net.rec.name.clone()).forward(!net.rec.options.internal);
        if let Some(d) = &net.rec.options.dns_domain {
            network = network.domain(d.clone());
        }
        let mut entries = Vec::new();
        for ep in state.endpoints_of(&net.rec.id) {
            let mut addrs: Vec<IpAddr> = Vec::new();
            addrs.extend(ep.ipv4.map(|a| IpAddr::V4(a.addr())));
            addrs.extend(ep.ipv6.map(|a| IpAddr::V6(a.addr())));
            let mut e = Entry::new(ep.container.clone(), addrs).container(ep.container_id.clone());
            for a in &ep.aliases {
                e = e.alias(a.clone());
            }
            entries.push(e);
        }
        if entries.is_empty() {
            continue;
        }
        wanted = true;
        listen.insert(SocketAddr::new(net.pool4.gateway(), port));
        if let Some(p) = &net.pool6 {
            listen.insert(SocketAddr::new(p.gateway(), port));
        }
        let name = net.rec.name.clone();
        if table.insert(network.clone()).is_err() {
            eprintln!(
                "brnet dns: network {name:?}: its search domain is not a DNS name; serving it without one"
            );
            let _ = table.insert(Network::new(name.clone()).forward(!net.rec.options.internal));
        }
        for e in entries {
            let who = e.name.clone();
            if let Err(err) = table.add_entry(&name, e) {
                eprintln!("brnet dns: network {name:?}: {who:?} is not served: {err}");
            }
        }
    }
    (table, listen.into_iter().collect(), wanted)
}

struct Cleanup {
    files: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Where names that are not ours go: `--upstream`, else the nameservers of
/// `--resolv-conf`, of the state directory's `resolv.conf` when it has one,
/// or of `/etc/resolv.conf`. A file that cannot be read is a log line (and
/// forwarded names get SERVFAIL), not a resolver that fails to start.
fn config(state_dir: &Path, args: &DnsServeArgs) -> Config {
    if !args.upstreams.is_empty() {
        return Config {
            upstreams: args.upstreams.clone(),
            ..Config::default()
        };
    }
    let local = state_dir.join(STATE_RESOLV_CONF);
    let path = match &args.resolv_conf {
        Some(p) => p.clone(),
        None if local.exists() => local,
        None => PathBuf::from(RESOLV_CONF),
    };
    match Config::from_resolv_conf(&path) {
        Ok(c) => {
            if c.upstreams.is_empty() {
                eprintln!(
                    "brnet dns: {} lists no usable nameserver: names that are not ours get SERVFAIL",
                    path.display()
                );
            }
            c
        }
        Err(e) => {
            eprintln!("brnet dns: {e}: names that are not ours get SERVFAIL");
            Config::default()
        }
    }
}

/// The file in the state directory that, when present, names the upstream
/// nameservers instead of `/etc/resolv.conf`.
pub const STATE_RESOLV_CONF: &str = "resolv.conf";

/// Serve until nothing is left to serve.
pub fn serve(state_dir: &Path, args: &DnsServeArgs) -> Result<(), Failures> {
    let port = args.port;
    // Never two: whoever holds the lock serves.
    let lock_path = state_dir.join(RESOLVER_LOCK);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| fail(&format!("open {}", lock_path.display()), e))?;
    // Another resolver may be on its way out (it lets go of the lock once
    // its port 53 sockets are closed): wait a little for it; if it is
    // still there after that, it is serving, and we are not needed.
    let mut tries = 0;
    while lock.try_lock().is_err() {
        tries += 1;
        if tries > 150 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sock_path = state_dir.join(RESOLVER_SOCKET);
    let pid_path = state_dir.join(RESOLVER_PID);
    let _ = std::fs::remove_file(&sock_path);
    let control = UnixListener::bind(&sock_path)
        .map_err(|e| fail(&format!("listen on {}", sock_path.display()), e))?;
    let _cleanup = Cleanup {
        files: vec![sock_path.clone(), pid_path.clone()],
    };
    std::fs::write(&pid_path, format!("{}\n", std::process::id()))
        .map_err(|e| fail(&format!("write {}", pid_path.display()), e))?;

    let config = config(state_dir, args);
    let resolver = Resolver::start(config).map_err(|e| fail("start", e))?;
    let mut store = Store::open_unlocked(state_dir).map_err(|e| fail("read the state", e))?;
    let apply = |store: &mut Store, resolver: &Resolver| -> Result<bool, Failures> {
        store
            .refresh_unlocked()
            .map_err(|e| fail("read the state", e))?;
        let (table, listen, wanted) = plan(&store.state, port);
        resolver.set_records(table);
        if let Err(e) = resolver.set_listeners(&listen) {
            eprintln!("brnet dns: {e}");
        }
        Ok(wanted)
    };
    apply(&mut store, &resolver)?;

    // The state directory going away ends us too.
    let watched = state_dir.join(bridge_net::state::STATE_FILE);
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if !watched.exists() {
                let _ = std::fs::remove_file(&sock_path);
                std::process::exit(0);
            }
        }
    });

    for conn in control.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        if BufReader::new(&conn).read_line(&mut line).is_err() {
            continue;
        }
        match line.trim() {
            "sync" => {
                let wanted = apply(&mut store, &resolver)?;
                let _ = conn.write_all(b"ok\n");
                if !wanted {
                    break;
                }
            }
            "ping" => {
                let _ = conn.write_all(b"ok\n");
            }
            "stop" => {
                let _ = conn.write_all(b"ok\n");
                break;
            }
            _ => {
                let _ = conn.write_all(b"unknown\n");
            }
        }
    }
    drop(control);
    resolver.stop().map_err(|e| fail("stop", e))?;
    drop(lock);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> DnsServeArgs {
        let mut argv = vec!["brnet", "dns", "serve"];
        argv.extend(extra);
        match crate::args::Cli::parse_from(argv).command {
            crate::args::Command::Dns(crate::args::DnsCommand::Serve(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn upstreams(dir: &Path, extra: &[&str]) -> Vec<String> {
        config(dir, &args(extra))
            .upstreams
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn upstreams_come_from_flags_then_the_state_dir_then_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let host = Config::from_resolv_conf(RESOLV_CONF)
            .map(|c| c.upstreams.iter().map(ToString::to_string).collect())
            .unwrap_or_else(|_| Vec::<String>::new());
        assert_eq!(upstreams(dir.path(), &[]), host, "the host's by default");

        std::fs::write(
            dir.path().join(STATE_RESOLV_CONF),
            "# ours\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n",
        )
        .unwrap();
        assert_eq!(
            upstreams(dir.path(), &[]),
            ["192.0.2.53:53", "[2001:db8::53]:53"],
            "the state directory's resolv.conf wins over the host's"
        );

        let other = dir.path().join("other.conf");
        std::fs::write(&other, "nameserver 198.51.100.7\n").unwrap();
        let other = other.to_str().unwrap();
        assert_eq!(
            upstreams(dir.path(), &["--resolv-conf", other]),
            ["198.51.100.7:53"]
        );
        assert_eq!(
            upstreams(
                dir.path(),
                &[
                    "--upstream",
                    "203.0.113.1",
                    "--upstream",
                    "203.0.113.2:5353"
                ]
            ),
            ["203.0.113.1:53", "203.0.113.2:5353"],
            "--upstream wins over every file, in order"
        );
        assert!(
            upstreams(dir.path(), &["--resolv-conf", "/nonexistent/resolv.conf"]).is_empty(),
            "an unreadable file: no upstream (SERVFAIL), not a failure to start"
        );
        assert!(
            crate::args::Cli::try_parse_from(["brnet", "dns", "serve", "--upstream", "nope"])
                .is_err()
        );
    }
}
