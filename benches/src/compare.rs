//! The workloads of `cargo xtask bench`, one per system, each the same
//! work: containers `c0..cN` (namespace, address in 10.88.0.0/16, host port
//! `10000 + k` when they publish one) joining one network and leaving it.
//!
//! Every function runs in the caller's sandbox ([`brnet_netns::isolated`])
//! and returns wall-clock times; what is inside the timed part is said on
//! each.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use brnet_netns::NetnsDir;

use crate::cli::Brnet;
use crate::cni::Cni;
use crate::container::{Container, Publish, SUBNET, many_ports};
use crate::netavark::Netavark;
use crate::process::{Call, Error};

/// A system measured, with what it needs to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum System {
    /// bridge-net, in-process.
    BridgeNet,
    /// The `brnet` binary, one process per call.
    Brnet(PathBuf),
    /// iproute2: one `ip -batch` for namespaces and veths, one `ip -n cI
    /// -batch` per namespace.
    IpBatch,
    /// `nlbench.c`, the kernel floor.
    Nlbench,
    /// netavark (the binary).
    Netavark(PathBuf),
    /// CNI bridge + host-local (+ portmap); the plugin directory.
    Cni(PathBuf),
    /// `brnet-netavark`, bridge-net's binary for the netavark contract,
    /// called as netavark is.
    BrnetNetavark(PathBuf),
    /// `brnet-cni`, bridge-net's CNI plugin, one call per ADD or DEL
    /// (ports published by the plugin itself: `portMappings`).
    BrnetCni(PathBuf),
}

/// How a container leaves the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    /// Disconnect while the namespace is alive (its veth is deleted
    /// explicitly), then remove the namespace: what Podman does with
    /// netavark and CNI.
    NamespaceAlive,
    /// Remove the namespace first (the kernel takes the veth with it),
    /// then disconnect: the cheap path of a runtime whose container is
    /// gone. netavark cannot: its teardown opens the namespace.
    NamespaceFirst,
    /// All N containers leave in one call while their namespaces live
    /// (bridge-net's `disconnect_many`, `brnet network disconnect NETWORK
    /// c0 c1 ...`: their veths deleted in one kernel request), then the
    /// namespaces are removed.
    Batch,
}

impl System {
    /// Whether the system can leave the network this way.
    pub fn supports(&self, teardown: Teardown) -> bool {
        match teardown {
            Teardown::NamespaceAlive => true,
            Teardown::NamespaceFirst => !matches!(self, System::Netavark(_)),
            Teardown::Batch => matches!(self, System::BridgeNet | System::Brnet(_)),
        }
    }
}

/// Times of one connect-then-disconnect pass over N containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// All N connects, each from creating the namespace to the interface
    /// up with address, route (and port).
    pub connect: Duration,
    /// All N disconnects, namespace removal included, in the order of
    /// the [`Teardown`].
    pub disconnect: Duration,
    /// From the first disconnect until the last of the N host veths is
    /// really gone: work a call leaves to a background process (or the
    /// kernel leaves to its namespace cleanup) is counted here.
    pub until_gone: Duration,
    /// CPU time (user + system) of the disconnects: the calling thread's
    /// (in-process work) and every process they started, the ones left
    /// running in the background included (reaped here as their
    /// subreaper). Not the kernel's own threads (namespace cleanup, RCU
    /// callbacks).
    pub disconnect_cpu: Duration,
}

fn cpu_of(who: nix::sys::resource::UsageWho) -> Duration {
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or(0),
            u32::try_from(t.tv_usec()).unwrap_or(0) * 1000,
        )
    };
    nix::sys::resource::getrusage(who)
        .map(|u| tv(u.user_time()) + tv(u.system_time()))
        .unwrap_or_default()
}

/// CPU time so far of the calling thread.
fn cpu_thread() -> Duration {
    cpu_of(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

/// CPU time so far of every child reaped (and of what they reaped).
fn cpu_children() -> Duration {
    cpu_of(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
}

/// Become the subreaper of our descendants: a process a call leaves
/// running (a double-forked child) is then ours to reap, and its CPU time
/// is counted in `RUSAGE_CHILDREN`.
fn adopt_orphans() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| Error::local("prctl(PR_SET_CHILD_SUBREAPER)", e))
}

/// Reap every child left (background processes the calls left behind),
/// waiting up to [`GONE_LIMIT`] for them to end.
fn reap_orphans() -> Result<()> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let started = Instant::now();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                if started.elapsed() > GONE_LIMIT {
                    return Err(Error::local(
                        "reaping background processes",
                        std::io::Error::other(format!("still running after {GONE_LIMIT:?}")),
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => return Ok(()),
            Err(e) => return Err(Error::local("waitpid", e)),
        }
    }
}

/// The veths in the calling thread's namespace (the sandbox's host side).
fn veths() -> Result<usize> {
    let mut nl = brnet_netlink::Socket::new().map_err(|e| Error::local("netlink socket", e))?;
    Ok(nl
        .links()
        .map_err(|e| Error::local("list links", e))?
        .iter()
        .filter(|l| l.kind.as_deref() == Some("veth"))
        .count())
}

/// How long to wait for links a background process or the kernel is
/// still deleting.
const GONE_LIMIT: Duration = Duration::from_secs(60);

/// Wait (polling every millisecond: a link dump competes a little with
/// the deletes it waits for) until no more than `baseline` veths are
/// left, and return `started`'s elapsed time then.
fn until_gone(started: Instant, baseline: usize) -> Result<Duration> {
    loop {
        if veths()? <= baseline {
            return Ok(started.elapsed());
        }
        if started.elapsed() > GONE_LIMIT {
            return Err(Error::local(
                "waiting for the veths to go",
                std::io::Error::other(format!("more than {baseline} veths after {GONE_LIMIT:?}")),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Publishing many ports: one container with all of them, then one more
/// container with one port beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManyPorts {
    /// Namespace + connect of the container publishing them all.
    pub all: Duration,
    /// Namespace + connect of the next container, with one port.
    pub one_more: Duration,
}

/// Why a workload could not run.
pub type Result<T> = std::result::Result<T, Error>;

fn netns(op: &str, c: &Container) -> Result<()> {
    NetnsDir::default()
        .create(&c.name)
        .map(drop)
        .map_err(|e| Error::local(format!("{op}: create namespace {}", c.name), e))
}

fn drop_netns(c: &Container) -> Result<()> {
    NetnsDir::default()
        .delete(&c.name)
        .map_err(|e| Error::local(format!("delete namespace {}", c.name), e))
}

/// The network of the comparison for bridge-net: [`SUBNET`] named
/// "bench", as [`crate::bench_network`] but without name resolution (no
/// resolver process to keep in step), as the peers' networks here.
fn network(state: &std::path::Path) -> Result<bridge_net::BridgeNet> {
    let mut b = bridge_net::BridgeNet::open(state)
        .map_err(|e| Error::local("bridge-net: open state", e))?;
    let mut o = bridge_net::NetworkOptions::default();
    o.ipv4.subnet = Some(SUBNET.parse().map_err(|e| Error::local("subnet", e))?);
    o.dns = Some(false);
    b.create_network("bench", &o)
        .map_err(|e| Error::local("bridge-net: create network bench", e))?;
    Ok(b)
}

fn temp_dir(what: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("brnet-bench-{what}-"))
        .tempdir()
        .map_err(|e| Error::local(format!("{what}: temporary directory"), e))
}

/// The container every peer connects first, untimed: netavark and CNI make
/// the bridge and the network's firewall chains on first use, which
/// bridge-net and brnet do in `network create` (also untimed).
fn warm_up(with_port: bool) -> Container {
    let ports = if with_port {
        vec![Publish {
            host: 9_999,
            container: crate::container::CONTAINER_PORT,
        }]
    } else {
        Vec::new()
    };
    Container::named("w", 65_000, ports)
}

/// Connect `n` containers one after the other, then disconnect them.
/// `with_port`: each publishes one port (not for `IpBatch` and `Nlbench`,
/// which publish nothing).
pub fn connect_disconnect(
    system: &System,
    n: usize,
    with_port: bool,
    teardown: Teardown,
) -> Result<Pass> {
    let cs: Vec<Container> = (0..n).map(|k| Container::numbered(k, with_port)).collect();
    let first = teardown == Teardown::NamespaceFirst;
    let batch = teardown == Teardown::Batch;
    if !system.supports(teardown) {
        return Err(failed("this teardown order: not supported"));
    }
    // One at a time, in the teardown's order: `leave` is the system's call.
    let one_by_one = |leave: &mut dyn FnMut(&Container) -> Result<()>| -> Result<Duration> {
        let t = Instant::now();
        for c in &cs {
            if first {
                drop_netns(c)?;
            }
            leave(c)?;
            if !first {
                drop_netns(c)?;
            }
        }
        Ok(t.elapsed())
    };
    adopt_orphans()?;
    let baseline;
    let connect;
    let disconnect;
    let started;
    // CPU time (thread, children) before the disconnects, taken with
    // `started`.
    let cpu = std::cell::Cell::new((Duration::ZERO, Duration::ZERO));
    let start_clock = || {
        cpu.set((cpu_thread(), cpu_children()));
        Instant::now()
    };
    match system {
        System::BridgeNet => {
            let state = temp_dir("state")?;
            let mut b = network(state.path())?;
            let ports: &[&str] = if with_port { &["{k}:80"] } else { &[] };
            baseline = veths()?;
            connect = crate::run_connect(&mut b, "bench", n, ports);
            started = start_clock();
            disconnect = if batch {
                crate::run_disconnect_many(&mut b, "bench", n)
            } else {
                crate::run_disconnect(&mut b, "bench", n, first)
            };
        }
        System::Brnet(bin) => {
            let state = temp_dir("state")?;
            let brnet = Brnet::new(bin, state.path());
            brnet.create_network("bench")?;
            baseline = veths()?;
            let t = Instant::now();
            for c in &cs {
                netns("brnet connect", c)?;
                brnet.connect("bench", c)?;
            }
            connect = t.elapsed();
            started = start_clock();
            disconnect = if batch {
                brnet.disconnect_many("bench", &cs)?;
                for c in &cs {
                    drop_netns(c)?;
                }
                started.elapsed()
            } else {
                one_by_one(&mut |c| brnet.disconnect("bench", c))?
            };
        }
        System::IpBatch => {
            crate::prepare_sandbox(true);
            baseline = veths()?;
            connect = crate::run_ip_batch(n).ok_or_else(|| failed("ip -batch setup"))?;
            started = start_clock();
            disconnect = crate::run_ip_batch_teardown(n, !first)
                .ok_or_else(|| failed("ip -batch teardown"))?;
        }
        System::Nlbench => {
            crate::prepare_sandbox(true);
            baseline = veths()?;
            connect =
                crate::run_nlbench("setup", n, true).ok_or_else(|| failed("nlbench setup"))?;
            let cmd = if first { "nsdel" } else { "teardown" };
            started = start_clock();
            disconnect =
                crate::run_nlbench(cmd, n, true).ok_or_else(|| failed("nlbench teardown"))?;
        }
        System::Netavark(bin) | System::BrnetNetavark(bin) => {
            let config = temp_dir("netavark")?;
            let nv = Netavark::new(bin, config.path());
            let w = warm_up(with_port);
            netns("netavark warm-up", &w)?;
            nv.setup(&w, None)?;
            baseline = veths()?;
            let t = Instant::now();
            for c in &cs {
                netns("netavark setup", c)?;
                nv.setup(c, None)?;
            }
            connect = t.elapsed();
            started = start_clock();
            disconnect = one_by_one(&mut |c| nv.teardown(c))?;
        }
        System::Cni(dir) | System::BrnetCni(dir) => {
            let data = temp_dir("cni")?;
            let cni = match system {
                System::BrnetCni(_) => Cni::brnet(dir, data.path()),
                _ => Cni::new(dir, data.path()),
            };
            let w = warm_up(with_port);
            netns("CNI warm-up", &w)?;
            cni.add(&w, None)?;
            baseline = veths()?;
            let t = Instant::now();
            let mut results = Vec::with_capacity(n);
            for c in &cs {
                netns("CNI ADD", c)?;
                results.push(cni.add(c, None)?);
            }
            connect = t.elapsed();
            started = start_clock();
            let mut prev = results.iter();
            disconnect = one_by_one(&mut |c| {
                let p = prev
                    .next()
                    .ok_or_else(|| failed("CNI DEL: no ADD result"))?;
                cni.del(c, p)
            })?;
        }
    }
    let (thread_before, children_before) = cpu.get();
    // This thread's share ends with the last call (the wait below polls).
    let thread = cpu_thread().saturating_sub(thread_before);
    let until_gone = until_gone(started, baseline)?;
    reap_orphans()?;
    Ok(Pass {
        connect,
        disconnect,
        until_gone,
        disconnect_cpu: thread + cpu_children().saturating_sub(children_before),
    })
}

/// What the kernel-floor column runs for process start: exec and exit,
/// nothing else (`true` ignores its arguments).
pub const TRUE: &str = "/bin/true";

/// Process start: `calls` empty calls of the system's binary (`--version`;
/// a CNI plugin's `VERSION`), one after the other; for the kernel-floor
/// column, of [`TRUE`]. Not for the in-process column.
pub fn process_start(system: &System, calls: usize) -> Result<Duration> {
    let call = match system {
        System::Brnet(bin) | System::Netavark(bin) | System::BrnetNetavark(bin) => {
            Call::new(bin, format!("{} --version", bin.display())).arg("--version")
        }
        System::Cni(dir) | System::BrnetCni(dir) => {
            let bin = match system {
                System::BrnetCni(_) => dir.join("brnet-cni"),
                _ => dir.join("bridge"),
            };
            Call::new(&bin, format!("{} VERSION", bin.display()))
                .env("CNI_COMMAND", "VERSION")
                .stdin(br#"{"cniVersion":"0.4.0"}"#.to_vec())
        }
        // The floor: the same call of the smallest program there is.
        System::Nlbench => {
            Call::new(std::path::Path::new(TRUE), format!("{TRUE} --version")).arg("--version")
        }
        System::BridgeNet | System::IpBatch => {
            return Err(failed("process start: no process of its own"));
        }
    };
    let t = Instant::now();
    for _ in 0..calls {
        call.clone().run()?;
    }
    Ok(t.elapsed())
}

/// One container publishing `ports` separate ports (host `20000 + i` to
/// container port 80), then the next container with one port (host 30000)
/// beside them. A peer call running past `limit` is killed and reported as
/// [`Error::TimedOut`].
pub fn many_ports_pass(system: &System, ports: u16, limit: Duration) -> Result<ManyPorts> {
    let many = Container::named("m", 0, many_ports(ports));
    let one = Container::named(
        "o",
        1,
        vec![Publish {
            host: 30_000,
            container: crate::container::CONTAINER_PORT,
        }],
    );
    match system {
        System::BridgeNet => {
            let state = temp_dir("state")?;
            let mut b = network(state.path())?;
            let mut connect = |c: &Container| -> Result<Duration> {
                let opts = bridge_net::ConnectOptions {
                    ports: c
                        .ports
                        .iter()
                        .map(|p| p.spec().parse())
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|e| Error::local("port spec", e))?,
                    ..Default::default()
                };
                let name = c
                    .name
                    .parse()
                    .map_err(|e| Error::local("namespace name", e))?;
                let t = Instant::now();
                netns("bridge-net connect", c)?;
                b.connect("bench", &name, &opts)
                    .map_err(|e| Error::local(format!("bridge-net connect {}", c.name), e))?;
                Ok(t.elapsed())
            };
            Ok(ManyPorts {
                all: connect(&many)?,
                one_more: connect(&one)?,
            })
        }
        System::Brnet(bin) => {
            let state = temp_dir("state")?;
            let brnet = Brnet::new(bin, state.path());
            brnet.create_network("bench")?;
            let connect = |c: &Container| -> Result<Duration> {
                let t = Instant::now();
                netns("brnet connect", c)?;
                brnet.connect("bench", c)?;
                Ok(t.elapsed())
            };
            Ok(ManyPorts {
                all: connect(&many)?,
                one_more: connect(&one)?,
            })
        }
        System::Netavark(bin) | System::BrnetNetavark(bin) => {
            let config = temp_dir("netavark")?;
            let nv = Netavark::new(bin, config.path());
            let w = warm_up(true);
            netns("netavark warm-up", &w)?;
            nv.setup(&w, None)?;
            let connect = |c: &Container| -> Result<Duration> {
                let t = Instant::now();
                netns("netavark setup", c)?;
                nv.setup(c, Some(limit))?;
                Ok(t.elapsed())
            };
            Ok(ManyPorts {
                all: connect(&many)?,
                one_more: connect(&one)?,
            })
        }
        System::Cni(dir) | System::BrnetCni(dir) => {
            let data = temp_dir("cni")?;
            let cni = match system {
                System::BrnetCni(_) => Cni::brnet(dir, data.path()),
                _ => Cni::new(dir, data.path()),
            };
            let w = warm_up(true);
            netns("CNI warm-up", &w)?;
            cni.add(&w, None)?;
            let connect = |c: &Container| -> Result<Duration> {
                let t = Instant::now();
                netns("CNI ADD", c)?;
                cni.add(c, Some(limit))?;
                Ok(t.elapsed())
            };
            Ok(ManyPorts {
                all: connect(&many)?,
                one_more: connect(&one)?,
            })
        }
        System::IpBatch | System::Nlbench => Err(failed("publishing ports: not this system's job")),
    }
}

/// bridge-net's IPAM: a fresh pool for a /16, every address handed out.
/// Returns the time and the count (65,533).
pub fn ipam_fill_bridge_net() -> Result<(Duration, usize)> {
    let net: brnet_ipam::IpNet = SUBNET.parse().map_err(|e| Error::local("subnet", e))?;
    let t = Instant::now();
    let mut pool = brnet_ipam::Pool::new(net).map_err(|e| Error::local("pool", e))?;
    let mut count = 0;
    while pool.allocate().is_ok() {
        count += 1;
    }
    Ok((t.elapsed(), count))
}

/// host-local (CNI's IPAM) alone: the first `count` addresses of a /16,
/// one process per address, leases in a fresh directory.
pub fn ipam_fill_host_local(dir: &std::path::Path, count: usize) -> Result<Duration> {
    let data = temp_dir("host-local")?;
    let cni = Cni::new(dir, data.path());
    let t = Instant::now();
    for k in 0..count {
        cni.ipam_add(&Container::named(&format!("i{k}"), k, Vec::new()))?;
    }
    Ok(t.elapsed())
}

fn failed(what: &str) -> Error {
    Error::local(
        what,
        std::io::Error::other("failed (its own message is above)"),
    )
}
