//! Shared pieces of the benches: the kernel-floor baselines measured in the
//! same run as our code (`nlbench.c` and `ip -batch`), and the link-level
//! attach loop they are compared with.
//!
//! Everything here runs inside a sandbox made by [`brnet_netns::isolated`].
//!
//! The comparison of `cargo xtask bench` lives in [`compare`]: the same
//! workload through bridge-net, the `brnet` binary ([`cli`]), `ip -batch`,
//! nlbench, netavark ([`netavark`]) and the CNI plugins ([`cni`]).

pub mod cli;
pub mod cni;
pub mod compare;
pub mod container;
pub mod docker;
pub mod netavark;
pub mod overlay;
pub mod process;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use brnet_bridge::{BridgeConfig, ensure};
use brnet_netlink::{IfName, Socket};
use brnet_netns::NetnsDir;
use brnet_veth::{Container, VethConfig};

/// The baseline sources shipped beside the project (`../shared/baseline`).
pub fn baseline_dir() -> PathBuf {
    // `shared/` beside the workspace (`/work/main`), or beside the
    // directory of worktrees (`/work/wt/NAME`).
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .skip(2)
        .map(|d| d.join("shared/baseline"))
        .find(|d| d.join("nlbench.c").is_file())
        .unwrap_or_else(|| here.join("../../shared/baseline"))
}

/// Where bench artefacts go (`target/brnet-bench`).
pub fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/brnet-bench");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// `nlbench`, built once per process with `cc -O2`; `None` when there is no
/// C compiler or no baseline source.
pub fn nlbench() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = baseline_dir().join("nlbench.c");
        let bin = out_dir().join("nlbench");
        let ok = src.exists()
            && Command::new("cc")
                .args(["-O2", "-o"])
                .arg(&bin)
                .arg(&src)
                .status()
                .is_ok_and(|s| s.success());
        ok.then_some(bin)
    })
    .as_deref()
}

/// Prepare a sandbox the way the baseline expects: bridge `br0` up with
/// 10.88.0.1/16. With `no_ipv6`, IPv6 is off for every new link on the
/// sandbox's own side (what nlbench's `NLNOV6` run assumes).
pub fn prepare_sandbox(no_ipv6: bool) -> u32 {
    if no_ipv6 {
        for k in ["all", "default"] {
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), "1");
        }
    }
    let mut nl = Socket::new().expect("netlink socket");
    ensure(
        &mut nl,
        &BridgeConfig {
            addresses: vec!["10.88.0.1/16".parse().expect("cidr")],
            ..BridgeConfig::new(IfName::new("br0").expect("name"))
        },
    )
    .expect("bridge br0")
    .index
}

/// The address of endpoint `k` (10.88.0.2, ...), as nlbench numbers them.
pub fn endpoint_addr(k: usize) -> String {
    let host = k + 2;
    format!("10.88.{}.{}/16", host >> 8, host & 0xff)
}

/// Run `nlbench CMD N` in the calling sandbox; its own figure (it times
/// only the netlink work, not its process start).
pub fn run_nlbench(cmd: &str, n: usize, no_ipv6: bool) -> Option<Duration> {
    let bin = nlbench()?;
    let mut c = Command::new(bin);
    c.arg(cmd).arg(n.to_string());
    if no_ipv6 {
        c.env("NLNOV6", "1");
    }
    let out = c.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "nlbench {cmd} {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let us: u64 = text.split_whitespace().last()?.parse().ok()?;
    Some(Duration::from_micros(us))
}

/// The same work through iproute2: one `ip -batch` for the namespaces and
/// veths, then one `ip -n cI -batch` per namespace for its configuration.
pub fn run_ip_batch(n: usize) -> Option<Duration> {
    let dir = out_dir();
    let main = dir.join(format!("ip-batch-{}.txt", std::process::id()));
    let mut text = String::new();
    for k in 0..n {
        text.push_str(&format!(
            "netns add b{k}\nlink add bv{k} master br0 up type veth peer name eth0 netns b{k}\n"
        ));
    }
    std::fs::write(&main, text).ok()?;
    let per_ns: Vec<PathBuf> = (0..n)
        .map(|k| {
            let p = dir.join(format!("ip-batch-{}-{k}.txt", std::process::id()));
            let body = format!(
                "link set lo up\nlink set eth0 up\naddr add {} dev eth0\nroute add default via 10.88.0.1\n",
                endpoint_addr(k)
            );
            std::fs::write(&p, body).map(|()| p)
        })
        .collect::<Result<_, _>>()
        .ok()?;
    let start = Instant::now();
    let ok = Command::new("ip")
        .arg("-batch")
        .arg(&main)
        .status()
        .is_ok_and(|s| s.success());
    let mut all_ok = ok;
    for (k, p) in per_ns.iter().enumerate() {
        all_ok &= Command::new("ip")
            .args(["-n", &format!("b{k}"), "-batch"])
            .arg(p)
            .status()
            .is_ok_and(|s| s.success());
    }
    let took = start.elapsed();
    let _ = std::fs::remove_file(&main);
    for p in per_ns {
        let _ = std::fs::remove_file(p);
    }
    all_ok.then_some(took)
}

/// Teardown of what [`run_ip_batch`] made, in one `ip -batch`: with
/// `delete_veths`, each veth deleted explicitly and then its namespace (as
/// nlbench's `teardown`), else the namespaces only (as its `nsdel`).
pub fn run_ip_batch_teardown(n: usize, delete_veths: bool) -> Option<Duration> {
    let path = out_dir().join(format!("ip-batch-del-{}.txt", std::process::id()));
    let mut text = String::new();
    for k in 0..n {
        if delete_veths {
            text.push_str(&format!("link del bv{k}\n"));
        }
        text.push_str(&format!("netns del b{k}\n"));
    }
    std::fs::write(&path, text).ok()?;
    let start = Instant::now();
    let ok = Command::new("ip")
        .arg("-batch")
        .arg(&path)
        .status()
        .is_ok_and(|s| s.success());
    let took = start.elapsed();
    let _ = std::fs::remove_file(&path);
    ok.then_some(took)
}

/// Our attach loop, the same work as nlbench: per endpoint a named
/// namespace (socket opened inside it while it is made), a veth with its
/// peer created inside, on `br0`, address, default route, up.
pub fn run_brnet(bridge: u32, n: usize, disable_ipv6: bool) -> Duration {
    let dir = NetnsDir::default();
    let mut host = Socket::new().expect("netlink socket");
    let gateway = "10.88.0.1".parse().expect("ip");
    let start = Instant::now();
    for k in 0..n {
        let (_ns, inside) = dir
            .create_with(&format!("c{k}"), Container::here)
            .expect("create namespace");
        let mut inside = inside.expect("socket in namespace");
        brnet_veth::create(
            &mut host,
            &mut inside,
            &VethConfig {
                host_name: Some(IfName::new(&format!("v{k}")).expect("name")),
                bridge: Some(bridge),
                addresses: vec![endpoint_addr(k).parse().expect("cidr")],
                gateways: vec![gateway],
                disable_ipv6,
                ..VethConfig::default()
            },
        )
        .expect("attach endpoint");
    }
    start.elapsed()
}

/// Teardown of what [`run_brnet`] made: explicit veth deletes plus the
/// namespaces (`delete_veths`), or the namespaces only, letting the kernel
/// remove the veths with them.
pub fn teardown_brnet(n: usize, delete_veths: bool) -> Duration {
    let dir = NetnsDir::default();
    let mut host = Socket::new().expect("netlink socket");
    let start = Instant::now();
    for k in 0..n {
        if delete_veths {
            host.delete_link(IfName::new(&format!("v{k}")).expect("name"))
                .expect("delete veth");
        }
        dir.delete(&format!("c{k}")).expect("delete namespace");
    }
    start.elapsed()
}

/// bridge-net's connect loop: per container, a named namespace (made by the
/// "runtime") and one `connect` to `network`, with `ports` published
/// (`-p` specs, `{k}` replaced by the container's number).
pub fn run_connect(
    b: &mut bridge_net::BridgeNet,
    network: &str,
    n: usize,
    ports: &[&str],
) -> Duration {
    let dir = NetnsDir::default();
    let start = Instant::now();
    for k in 0..n {
        let name = format!("c{k}");
        dir.create(&name).expect("create namespace");
        let opts = bridge_net::ConnectOptions {
            ports: ports
                .iter()
                .map(|p| {
                    p.replace("{k}", &(10000 + k).to_string())
                        .parse()
                        .expect("port spec")
                })
                .collect(),
            ..Default::default()
        };
        b.connect(network, &name.parse().expect("name"), &opts)
            .expect("connect");
    }
    start.elapsed()
}

/// Disconnect what [`run_connect`] made, deleting each namespace first
/// when `drop_netns_first` (the cheap path) or after (the veth is deleted
/// explicitly).
pub fn run_disconnect(
    b: &mut bridge_net::BridgeNet,
    network: &str,
    n: usize,
    drop_netns_first: bool,
) -> Duration {
    let dir = NetnsDir::default();
    let start = Instant::now();
    for k in 0..n {
        let name = format!("c{k}");
        if drop_netns_first {
            dir.delete(&name).expect("delete namespace");
        }
        b.disconnect(network, &name.parse().expect("name"))
            .expect("disconnect");
        if !drop_netns_first {
            dir.delete(&name).expect("delete namespace");
        }
    }
    start.elapsed()
}

/// Disconnect what [`run_connect`] made in one call (`disconnect_many`:
/// the veths deleted in one kernel request), then delete the namespaces.
pub fn run_disconnect_many(b: &mut bridge_net::BridgeNet, network: &str, n: usize) -> Duration {
    let dir = NetnsDir::default();
    let refs: Vec<bridge_net::NetnsRef> = (0..n)
        .map(|k| format!("c{k}").parse().expect("name"))
        .collect();
    let start = Instant::now();
    let left = b
        .disconnect_many(refs.iter().map(|r| (network, r)))
        .expect("disconnect_many");
    assert_eq!(left, n, "every container left");
    for k in 0..n {
        dir.delete(&format!("c{k}")).expect("delete namespace");
    }
    start.elapsed()
}

/// A network for the connect benches: 10.88.0.0/16 on its own bridge.
pub fn bench_network(state: &Path) -> bridge_net::BridgeNet {
    let mut b = bridge_net::BridgeNet::open(state).expect("open state");
    let mut o = bridge_net::NetworkOptions::default();
    o.ipv4.subnet = Some("10.88.0.0/16".parse().expect("cidr"));
    // The network path alone: no name resolver to keep in step.
    o.dns = Some(false);
    b.create_network("bench", &o).expect("create network");
    b
}
