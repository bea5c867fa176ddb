//! `cargo xtask demo`: build the picture in a throwaway sandbox, print it,
//! check it with real traffic, exit non-zero if a check fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use brnet_bridge::{BridgeConfig, ensure};
use brnet_netlink::{IfName, Socket};
use brnet_netns::{Netns, NetnsDir, isolated};
use brnet_veth::{Container, VethConfig};

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `ip -br addr` for the namespace behind `nl`, from our own netlink dump.
pub fn brief(nl: &mut Socket) -> Res<String> {
    let links = nl.links().map_err(err)?;
    let addrs = nl.addresses(None).map_err(err)?;
    let mut out = String::new();
    for l in &links {
        let state = l.state();
        let name = match l.link {
            Some(peer) if l.kind.as_deref() == Some("veth") => format!("{}@if{peer}", l.name),
            _ => l.name.clone(),
        };
        let mut line = format!("  {name:<18} {state:<8}");
        for a in addrs.iter().filter(|a| a.index == l.index) {
            line.push_str(&format!(" {}", a.net));
        }
        if let Some(m) = l.master.and_then(|m| links.iter().find(|x| x.index == m)) {
            line.push_str(&format!("  (on {})", m.name));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

fn serve(ns: &Netns, addr: SocketAddr, who: &'static str) -> Res<()> {
    let listener = ns
        .run(|| TcpListener::bind(addr))
        .map_err(err)?
        .map_err(|e| format!("listen on {addr}: {e}"))?;
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let peer = c
                .peer_addr()
                .map(|p| p.ip().to_string())
                .unwrap_or_default();
            let _ = c.write_all(format!("{who} sees you as {peer}").as_bytes());
        }
    });
    Ok(())
}

fn fetch(ns: Option<&Netns>, addr: SocketAddr) -> Res<String> {
    let go = move || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    let r = match ns {
        Some(ns) => ns.run(go).map_err(err)?,
        None => go(),
    };
    r.map_err(|e| format!("connect {addr}: {e}"))
}

struct Checks {
    failed: usize,
}

impl Checks {
    fn check(&mut self, what: &str, r: Res<String>) {
        match r {
            Ok(detail) => println!("  PASS  {what}: {detail}"),
            Err(e) => {
                self.failed += 1;
                println!("  FAIL  {what}: {e}");
            }
        }
    }
}

fn scenario() -> Res<()> {
    let mut host = Socket::new().map_err(err)?;
    let bridge = ensure(
        &mut host,
        &BridgeConfig {
            addresses: vec!["172.30.0.1/24".parse().map_err(err)?],
            ..BridgeConfig::new(IfName::new("br0").map_err(err)?)
        },
    )
    .map_err(err)?;
    let dir = NetnsDir::default();
    let mut spaces = Vec::new();
    for (i, name) in ["c1", "c2"].iter().enumerate() {
        let (ns, inside) = dir.create_with(name, Container::here).map_err(err)?;
        let mut inside = inside.map_err(err)?;
        brnet_veth::create(
            &mut host,
            &mut inside,
            &VethConfig {
                bridge: Some(bridge.index),
                addresses: vec![format!("172.30.0.{}/24", i + 2).parse().map_err(err)?],
                gateways: vec!["172.30.0.1".parse().map_err(err)?],
                disable_ipv6: true,
                ..VethConfig::default()
            },
        )
        .map_err(err)?;
        spaces.push((name, ns, inside));
    }

    println!("== topology (our netlink dump, like `ip -br addr`)");
    println!("sandbox (host side):");
    print!("{}", brief(&mut host)?);
    for (name, _, inside) in &mut spaces {
        println!("{name}:");
        print!("{}", brief(inside.socket())?);
    }

    println!("\n== checks");
    let mut checks = Checks { failed: 0 };
    let c2 = "172.30.0.3:8080".parse().map_err(err)?;
    let c1 = "172.30.0.2:8080".parse().map_err(err)?;
    serve(&spaces[1].1, c2, "c2")?;
    serve(&spaces[0].1, c1, "c1")?;
    checks.check(
        "c1 -> c2 (172.30.0.3:8080) over TCP",
        fetch(Some(&spaces[0].1), c2),
    );
    checks.check("host -> c1 (172.30.0.2:8080) over TCP", fetch(None, c1));
    if checks.failed > 0 {
        return Err(format!("{} check(s) failed", checks.failed));
    }
    println!("\nall checks passed; the sandbox and everything in it is gone now");
    Ok(())
}

/// Run the demo.
pub fn run(_args: &[String]) -> Res<()> {
    if !is_root() {
        return Err("the demo makes a throwaway network namespace: run it as root".into());
    }
    isolated(scenario).map_err(err)?
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
