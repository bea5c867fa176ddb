//! `cargo xtask demo`: the seeds' picture, built with bridge-net inside a
//! throwaway sandbox (never the host's own network), printed, checked with
//! real traffic, and drawn. Exits non-zero if a check fails.
//!
//! The picture: the default network `bridge` (docker0) with containers c1
//! and c2; the user network customNetwork 172.20.0.0/16; container web on
//! customNetwork publishing 8080→80 with a small HTTP server inside; an
//! "outside" namespace standing for the world beyond the host.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use bridge_net::{BridgeNet, ConnectOptions, NetworkOptions};
use brnet_netlink::{IfName, Socket};
use brnet_netns::{Netns, NetnsDir, isolated};
use brnet_veth::{Container, VethConfig};

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `ip -br addr` for the namespace behind `nl`, from our own netlink dump.
fn brief(nl: &mut Socket) -> Res<String> {
    let links = nl.links().map_err(err)?;
    let addrs = nl.addresses(None).map_err(err)?;
    let mut out = String::new();
    for l in &links {
        let name = match l.link {
            Some(peer) if l.kind.as_deref() == Some("veth") => format!("{}@if{peer}", l.name),
            _ => l.name.clone(),
        };
        let mut line = format!("  {name:<18} {:<8}", l.state());
        if let Some(mac) = l.mac.filter(|m| !m.is_zero()) {
            line.push_str(&format!(" {mac}"));
        }
        for a in addrs.iter().filter(|a| a.index == l.index) {
            line.push_str(&format!(" {}", a.net));
        }
        if let Some(m) = l.master.and_then(|m| links.iter().find(|x| x.index == m)) {
            line.push_str(&format!("  (port of {})", m.name));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// A tiny HTTP server inside `ns` on `addr`: answers every request with a
/// line naming itself and the client address it sees.
fn http_server(ns: &Netns, addr: SocketAddr, who: &'static str) -> Res<()> {
    let listener = ns
        .run(|| TcpListener::bind(addr))
        .map_err(err)?
        .map_err(|e| format!("listen on {addr}: {e}"))?;
    brnet_testkit::traffic::serve_http(listener, move |peer| format!("{who} sees you as {peer}\n"));
    Ok(())
}

/// `GET /` from inside `ns` (or the sandbox's own side); the body.
fn http_get(ns: Option<&Netns>, addr: SocketAddr, timeout: Duration) -> Res<String> {
    brnet_testkit::traffic::http_get(ns, addr, timeout)
        .map_err(|e| format!("GET http://{addr}/: {e}"))
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

/// The "outside": a namespace reached over a second veth from the host
/// side, 198.51.100.2/24 behind the host's 198.51.100.1.
fn make_outside(host: &mut Socket) -> Res<Netns> {
    let (ns, inside) = NetnsDir::default()
        .create_with("outside", Container::here)
        .map_err(err)?;
    let mut inside = inside.map_err(err)?;
    let host_end = IfName::new("uplink").map_err(err)?;
    brnet_veth::create(
        host,
        &mut inside,
        &VethConfig {
            host_name: Some(host_end.clone()),
            addresses: vec!["198.51.100.2/24".parse().map_err(err)?],
            gateways: vec!["198.51.100.1".parse().map_err(err)?],
            ..VethConfig::default()
        },
    )
    .map_err(err)?;
    let link = host.link(&host_end).map_err(err)?;
    host.add_address(link.index, &"198.51.100.1/24".parse().map_err(err)?)
        .map_err(err)?;
    Ok(ns)
}

fn firewall_dump(b: &mut BridgeNet) -> Res<String> {
    let installed = b.firewall().dump().map_err(err)?;
    let mut out = format!(
        "table inet brnet: {} chains, {} set/map elements\n",
        installed.chains().count(),
        installed.element_count()
    );
    for (chain, rules) in installed.chains() {
        let comments: Vec<String> = installed
            .rule_comments(chain)
            .unwrap_or_default()
            .iter()
            .map(|c| c.clone().unwrap_or_else(|| "-".into()))
            .collect();
        out.push_str(&format!(
            "  chain {chain:<28} {rules} rule(s): {}\n",
            comments.join(", ")
        ));
    }
    for b in installed.bridges() {
        out.push_str(&format!("  bridge        {b}\n"));
    }
    for (addr, bridge) in installed.endpoints() {
        out.push_str(&format!("  protected     {addr} (only from {bridge})\n"));
    }
    for p in installed.ports() {
        let host = p
            .host_ip
            .map(|h| h.to_string())
            .unwrap_or_else(|| "*".into());
        out.push_str(&format!(
            "  published     {host}:{}/{} -> {}:{}\n",
            p.host_port,
            p.protocol.as_str(),
            p.container,
            p.container_port
        ));
    }
    Ok(out)
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/brnet-demo");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn scenario() -> Res<()> {
    let started = Instant::now();
    let state = std::env::temp_dir().join(format!("brnet-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut b = BridgeNet::open(&state).map_err(err)?;
    let dir = NetnsDir::default();
    let mut host = Socket::new().map_err(err)?;
    let outside = make_outside(&mut host)?;

    // The seeds' picture.
    let mut custom = NetworkOptions::default();
    custom.ipv4.subnet = Some("172.20.0.0/16".parse().map_err(err)?);
    custom.ipv4.gateway = Some("172.20.0.1".parse().map_err(err)?);
    b.create_network("customNetwork", &custom).map_err(err)?;
    let mut spaces = Vec::new();
    for name in ["c1", "c2", "web"] {
        spaces.push((name, dir.create(name).map_err(err)?));
    }
    let c1 = b
        .connect(
            "bridge",
            &"c1".parse().map_err(err)?,
            &ConnectOptions::default(),
        )
        .map_err(err)?;
    let c2 = b
        .connect(
            "bridge",
            &"c2".parse().map_err(err)?,
            &ConnectOptions::default(),
        )
        .map_err(err)?;
    let web = b
        .connect(
            "customNetwork",
            &"web".parse().map_err(err)?,
            &ConnectOptions {
                ports: vec!["8080:80".parse().map_err(err)?],
                ..ConnectOptions::default()
            },
        )
        .map_err(err)?;
    let ns = |n: &str| spaces.iter().find(|(k, _)| *k == n).map(|(_, v)| v);
    let (c1_ns, c2_ns, web_ns) = (
        ns("c1").ok_or("c1")?,
        ns("c2").ok_or("c2")?,
        ns("web").ok_or("web")?,
    );

    println!("== 1. topology (our netlink dump, like `ip -br addr`)");
    println!("host side of the sandbox:");
    print!("{}", brief(&mut host)?);
    for (name, n) in &spaces {
        println!("{name}:");
        print!("{}", brief(&mut Socket::open_in(n).map_err(err)?)?);
    }
    println!("outside:");
    print!("{}", brief(&mut Socket::open_in(&outside).map_err(err)?)?);

    println!("\n== 2. brnet network inspect bridge customNetwork");
    let docs = vec![
        b.inspect("bridge").map_err(err)?,
        b.inspect("customNetwork").map_err(err)?,
    ];
    println!("{}", serde_json::to_string_pretty(&docs).map_err(err)?);

    println!("\n== 3. firewall (our own dump of the installed ruleset)");
    print!("{}", firewall_dump(&mut b)?);

    println!("\n== 4. checks");
    let mut checks = Checks { failed: 0 };
    let c2_addr = SocketAddr::new(c2.ipv4.ok_or("c2 has no address")?.addr().into(), 80);
    let web_addr = SocketAddr::new(web.ipv4.ok_or("web has no address")?.addr().into(), 80);
    http_server(c2_ns, c2_addr, "c2")?;
    http_server(web_ns, web_addr, "web")?;
    http_server(&outside, "198.51.100.2:80".parse().map_err(err)?, "outside")?;
    let long = Duration::from_secs(3);
    let short = Duration::from_millis(500);
    checks.check(
        &format!("c1 -> c2 by address ({c2_addr})"),
        http_get(Some(c1_ns), c2_addr, long),
    );
    checks.check(
        "web reachable from the outside namespace on host port 8080 (198.51.100.1:8080)",
        http_get(
            Some(&outside),
            "198.51.100.1:8080".parse().map_err(err)?,
            long,
        ),
    );
    checks.check(
        &format!("c1 cannot reach web's private address ({web_addr})"),
        match http_get(Some(c1_ns), web_addr, short) {
            Ok(body) => Err(format!("it answered: {body}")),
            Err(_) => Ok("blocked (networks are isolated)".into()),
        },
    );
    checks.check(
        "c1's outbound connection is masqueraded",
        http_get(Some(c1_ns), "198.51.100.2:80".parse().map_err(err)?, long).and_then(|body| {
            let c1_ip = c1.ipv4.map(|a| a.addr().to_string()).unwrap_or_default();
            if body.contains("198.51.100.1") {
                Ok(format!("{body} (not {c1_ip})"))
            } else {
                Err(format!(
                    "the outside saw {body:?}, not the host's 198.51.100.1"
                ))
            }
        }),
    );

    println!("\n== 5. picture");
    let dot = b.topology_dot(&[]).map_err(err)?;
    let svg = out_dir().join("topology.svg");
    let _ = std::fs::write(out_dir().join("topology.dot"), &dot);
    let drawn = Command::new("dot")
        .args(["-Tsvg", "-o"])
        .arg(&svg)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(dot.as_bytes())?;
            }
            child.wait()
        });
    match drawn {
        Ok(s) if s.success() => println!("  topology drawn by Graphviz: {}", svg.display()),
        _ => {
            let path = out_dir().join("topology.dot");
            let _ = std::fs::write(&path, &dot);
            println!(
                "  (Graphviz `dot` not installed: the dot text, also in {})",
                path.display()
            );
            print!("{dot}");
        }
    }

    // Tidy up through the API, as a runtime would.
    for (name, _) in &spaces {
        let net = if *name == "web" {
            "customNetwork"
        } else {
            "bridge"
        };
        b.disconnect(net, &name.parse().map_err(err)?)
            .map_err(err)?;
    }
    b.remove_network("customNetwork").map_err(err)?;
    b.remove_network("bridge").map_err(err)?;
    let _ = std::fs::remove_dir_all(&state);
    println!(
        "\n{} in {:.1} s",
        if checks.failed == 0 {
            "all checks passed"
        } else {
            "SOME CHECKS FAILED"
        },
        started.elapsed().as_secs_f64()
    );
    if checks.failed > 0 {
        return Err(format!("{} check(s) failed", checks.failed));
    }
    Ok(())
}

/// Run the demo.
pub fn run() -> Res<()> {
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
