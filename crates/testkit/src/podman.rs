//! A throwaway Podman 4.3: real containers on a [`Host`] of their own,
//! shared by the Podman tests of brnet-netavark and brnet-cni, and the
//! scenarios both front ends must pass.
//!
//! Inside: a tmpfs `/run` (Podman's runroot, `/run/netns`, every backend's
//! state) and `/dev/shm`, an overlay with a tmpfs upper layer on
//! `/var/lib`, and `/sys/fs/cgroup/unified` unmounted in its own mount
//! namespace (crun refuses hybrid cgroups). Podman is configured through
//! `CONTAINERS_CONF` only (its cleanup process runs with a scrubbed
//! environment).

use std::ops::Deref;
use std::path::PathBuf;
use std::process::Output;

use crate::cmd::Args;
use crate::host::{Host, require_tools};
use crate::text;

/// Which network backend Podman uses.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The netavark contract: this binary as `netavark` (None: Debian's).
    Netavark(Option<PathBuf>),
    /// CNI: this binary as `bridge` before the reference plugins (None:
    /// the reference plugins only).
    Cni(Option<PathBuf>),
    /// No network at all (`--network none` is passed by the caller).
    None,
}

/// The image every test runs: busybox-static with its applets.
pub const IMAGE: &str = "localhost/bb";

const SETUP: &str = r#"
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mkdir -p /run/pm/upper /run/pm/work /run/pm/bin /run/pm/cni-bin /run/pm/net
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=/run/pm/upper,workdir=/run/pm/work /var/lib
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
ip link set lo up
echo ready
exec cat >/dev/null
"#;

const STORAGE_CONF: &str = r#"[storage]
driver = "overlay"
runroot = "/run/pm/runroot"
graphroot = "/run/pm/root"
"#;

/// One throwaway Podman host (the [`Host`] methods work on it too).
#[derive(Debug)]
pub struct Sandbox {
    host: Host,
    backend: Backend,
}

impl Deref for Sandbox {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

impl Sandbox {
    /// A sandbox with Podman configured for `backend` and the image built.
    pub fn new(backend: Backend) -> Sandbox {
        require_tools(
            &["podman", "crun", "conmon"],
            "apt-get install podman crun busybox-static containernetworking-plugins netavark",
        );
        let host = Host::start(SETUP)
            .with_env("CONTAINERS_CONF", "/run/pm/containers.conf")
            .with_env("CONTAINERS_STORAGE_CONF", "/run/pm/storage.conf");
        let sb = Sandbox { host, backend };
        sb.configure(&sb.backend);
        sb.busybox_image("/run/pm/rootfs", &format!("podman import -q - {IMAGE}"));
        sb
    }

    fn configure(&self, backend: &Backend) {
        let (network, install) = match backend {
            Backend::Netavark(ours) => (
                r#"network_backend = "netavark"
network_config_dir = "/run/pm/net""#
                    .to_owned(),
                ours.as_ref()
                    .map(|p| format!("ln -s {} /run/pm/bin/netavark", p.display()))
                    .unwrap_or_default(),
            ),
            Backend::Cni(ours) => (
                format!(
                    r#"network_backend = "cni"
network_config_dir = "/run/pm/net"
cni_plugin_dirs = [{}"/usr/lib/cni"]"#,
                    if ours.is_some() {
                        r#""/run/pm/cni-bin", "#
                    } else {
                        ""
                    }
                ),
                ours.as_ref()
                    .map(|p| format!("ln -s {} /run/pm/cni-bin/bridge", p.display()))
                    .unwrap_or_default(),
            ),
            Backend::None => (
                r#"network_backend = "netavark"
network_config_dir = "/run/pm/net""#
                    .to_owned(),
                String::new(),
            ),
        };
        let conf = format!(
            r#"[containers]
cgroups = "disabled"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
helper_binaries_dir = ["/run/pm/bin", "/usr/lib/podman"]
[network]
{network}
"#
        );
        self.write("/run/pm/containers.conf", &conf);
        self.write("/run/pm/storage.conf", STORAGE_CONF);
        if !install.is_empty() {
            self.ok(&install);
        }
    }

    /// The bytes of bridge-net's state file, where this backend's binary
    /// keeps it: `/run/brnet/cni` (the CNI plugin's default) or Podman's
    /// `--config` directory (`brnet-netavark`).
    #[track_caller]
    pub fn brnet_state(&self) -> Vec<u8> {
        let path = match self.backend {
            Backend::Cni(Some(_)) => "/run/brnet/cni/state.json",
            Backend::Netavark(Some(_)) => "/run/containers/networks/brnet/state.json",
            _ => panic!("no bridge-net binary in this sandbox: {:?}", self.backend),
        };
        self.read(path)
            .unwrap_or_else(|| panic!("bridge-net's state at {path}"))
    }

    /// The bridge-net binary this sandbox's Podman runs, if any.
    pub fn ours(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Cni(ours) | Backend::Netavark(ours) => ours.as_deref(),
            Backend::None => None,
        }
    }

    /// `podman ARGS`.
    pub fn podman(&self, args: &(impl Args + ?Sized)) -> Output {
        self.run("podman", &args.args())
    }

    /// `podman ARGS`, which must succeed; its stdout, trimmed.
    #[track_caller]
    pub fn podman_ok(&self, args: &(impl Args + ?Sized)) -> String {
        self.run_ok("podman", &args.args())
    }

    /// `podman run --rm --network NET IMAGE sh -c SCRIPT`: whether it
    /// succeeded, and its output.
    pub fn in_container(&self, network: &str, script: &str) -> (bool, String) {
        // `; exit $?` keeps sh as the container's PID 1: a command that
        // became PID 1 would ignore the signal of `timeout`.
        let script = format!("{script}; exit $?");
        let out = self.podman(&[
            "run",
            "--rm",
            "--network",
            network,
            IMAGE,
            "sh",
            "-c",
            &script,
        ]);
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }

    /// A container's address on `network`.
    pub fn address(&self, container: &str, network: &str) -> String {
        self.podman_ok(&[
            "inspect",
            container,
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        ])
    }

    /// `ip -o link` inside.
    pub fn links(&self) -> String {
        self.ok("ip -o link show")
    }

    /// `nft list ruleset` inside.
    pub fn ruleset(&self) -> String {
        self.ok("nft list ruleset")
    }
}

/// The parts of a `podman run -d ... httpd` a test checks.
#[derive(Debug)]
pub struct Web {
    /// The container's name.
    pub name: String,
    /// Its address.
    pub ip: String,
}

/// `podman run -d --name NAME --network NET [EXTRA] IMAGE httpd` (busybox
/// httpd on port 80 serving `hello`); its address on `network`.
#[track_caller]
pub fn run_httpd(sb: &Sandbox, name: &str, network: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"]);
    sb.podman_ok(&args);
    sb.address(name, network)
}

/// `podman run -d --name NAME --network NET -p HOST:80 IMAGE httpd`, up.
#[track_caller]
pub fn run_web(sb: &Sandbox, name: &str, network: &str, host_port: u16) -> Web {
    let ip = run_httpd(sb, name, network, &["-p", &format!("{host_port}:80")]);
    assert!(!ip.is_empty(), "{name} has no address on {network}");
    assert_eq!(
        sb.get_when_up(&format!("http://127.0.0.1:{host_port}/"))
            .as_deref(),
        Some("hello\n"),
        "127.0.0.1:{host_port} -> {name}"
    );
    Web {
        name: name.to_owned(),
        ip,
    }
}

/// The scenario both Podman backends open with: a network `testnet`
/// (10.89.0.0/24) and `web` on it publishing 8080; the port answers on
/// the gateway, the address from the host and from a second container;
/// a container on `othernet` (10.90.0.0/24) cannot reach `web` directly
/// but does reach the port published on its own gateway.
#[track_caller]
pub fn published_port_and_isolation(sb: &Sandbox) -> Web {
    sb.podman_ok(&["network", "create", "--subnet", "10.89.0.0/24", "testnet"]);
    let web = run_web(sb, "web", "testnet", 8080);
    assert!(web.ip.starts_with("10.89.0."), "{}", web.ip);

    // From the sandbox: the host port on loopback (run_web) and on the
    // gateway, and the container's own address.
    assert_eq!(sb.get("http://10.89.0.1:8080/").as_deref(), Some("hello\n"));
    assert_eq!(
        sb.get(&format!("http://{}:80/", web.ip)).as_deref(),
        Some("hello\n")
    );
    // A second container on the same network reaches it by address.
    let (ok, out) = sb.in_container(
        "testnet",
        &format!("timeout 5 wget -q -O - http://{}/", web.ip),
    );
    assert!(ok && out.contains("hello"), "by address: {out}");

    // Another Podman network is isolated from this one (the reference
    // bridge plugin does not isolate: this is bridge-net's doing), but
    // reaches the port published on its own gateway.
    sb.podman_ok(&["network", "create", "--subnet", "10.90.0.0/24", "othernet"]);
    let (ok, out) = sb.in_container(
        "othernet",
        &format!("timeout 3 wget -q -O - http://{}/", web.ip),
    );
    assert!(!ok, "othernet reached {} directly: {out}", web.ip);
    let (ok, out) = sb.in_container("othernet", "timeout 5 wget -q -O - http://10.90.0.1:8080/");
    assert!(
        ok && out.contains("hello"),
        "published port from othernet: {out}"
    );
    web
}

/// A second container on `testnet` reaches `web` by name (bridge-net's
/// resolver), and `--ip` gives the address asked for; `web` is removed.
#[track_caller]
pub fn by_name_and_fixed_address(sb: &Sandbox) {
    if let Some(ours) = sb.ours() {
        resolver_beside(&ours.to_string_lossy());
    }
    sb.podman_ok(&["network", "create", "--subnet", "10.89.0.0/24", "testnet"]);
    let _web = run_web(sb, "web", "testnet", 8080);
    let (ok, out) = sb.in_container(
        "testnet",
        "cat /etc/resolv.conf; timeout 5 wget -q -O - http://web/",
    );
    assert!(ok && out.contains("hello"), "by name: {out}");
    let out = sb.podman_ok(&[
        "run",
        "--rm",
        "--network",
        "testnet",
        "--ip",
        "10.89.0.50",
        IMAGE,
        "ip",
        "-4",
        "addr",
    ]);
    assert!(out.contains("inet 10.89.0.50/24"), "--ip: {out}");
    sb.podman_ok(&["rm", "-f", "-t", "0", "web"]);
}

/// `web` on Podman's default network `podman` publishing `host_port`:
/// an address in 10.88.0.0/16 that answers from the host and from a
/// second container.
#[track_caller]
pub fn on_the_default_network(sb: &Sandbox, host_port: u16) -> Web {
    let web = run_web(sb, "web", "podman", host_port);
    assert!(web.ip.starts_with("10.88."), "{}", web.ip);
    assert_eq!(
        sb.get(&format!("http://{}:80/", web.ip)).as_deref(),
        Some("hello\n")
    );
    let (ok, out) = sb.in_container(
        "podman",
        &format!("timeout 5 wget -q -O - http://{}/", web.ip),
    );
    assert!(ok && out.contains("hello"), "{out}");
    web
}

/// Bridge-net's resolver, `brnet-dns`, is beside `ours` (the front end's
/// binary: bridge-net looks for it next to the program that connects;
/// cargo builds it there for `cargo test --workspace`).
#[track_caller]
pub fn resolver_beside(ours: &str) {
    let resolver = std::path::Path::new(ours).with_file_name("brnet-dns");
    assert!(
        resolver.is_file(),
        "{} is missing: cargo build -p brnet-dns (the resolver)",
        resolver.display()
    );
}

/// `podman rm -f -t 0 web` (httpd as PID 1 ignores SIGTERM): no veth is
/// left, no rule names `web`'s address or `host_port`, and the port no
/// longer answers. The links left, for the caller's own checks.
#[track_caller]
pub fn removed_leaves_no_veth_nor_rule(sb: &Sandbox, web: &Web, host_port: u16) -> String {
    sb.podman_ok(&["rm", "-f", "-t", "0", &web.name]);
    let links = sb.links();
    assert!(!links.contains("veth"), "{links}");
    let rules = sb.ruleset();
    let port = host_port.to_string();
    assert!(
        !rules.contains(&web.ip) && !rules.contains(&port),
        "{rules}"
    );
    assert_eq!(
        sb.get(&format!("http://127.0.0.1:{host_port}/")),
        None,
        "the port still answers"
    );
    links
}

/// The Podman tests every bridge-net backend passes, written once and
/// expanded as `#[test]`s of the calling test crate (which depends on
/// `bridge_net`), beside an `endpoints(&Sandbox) -> usize` it also defines:
///
/// - `second_container_reaches_the_first_by_name`:
///   [`by_name_and_fixed_address`];
/// - `default_podman_network`: [`on_the_default_network`], then
///   `$while_running` (a backend's own checks while `web` runs), then a
///   container without `-p` started and removed beside it; removing `web`
///   leaves no veth and no endpoint in bridge-net's state, and with
///   `$bridge_goes` no `podman0` either (netavark's contract removes the
///   network with its last container; CNI has no verb for that).
#[macro_export]
macro_rules! podman_tests {
    (
        backend: $backend:expr,
        while_running: $while_running:expr,
        bridge_goes: $bridge_goes:expr $(,)?
    ) => {
        /// How many endpoints bridge-net's state holds, read from outside.
        fn endpoints(sb: &$crate::podman::Sandbox) -> usize {
            bridge_net::state::State::parse(&sb.brnet_state())
                .expect("a readable state")
                .endpoints
                .len()
        }

        #[test]
        fn second_container_reaches_the_first_by_name() {
            if !$crate::privileged_test() {
                return;
            }
            $crate::podman::by_name_and_fixed_address(&$crate::podman::Sandbox::new($backend));
        }

        #[test]
        fn default_podman_network() {
            if !$crate::privileged_test() {
                return;
            }
            let sb = $crate::podman::Sandbox::new($backend);
            $crate::podman::on_the_default_network(&sb, 8081);
            let while_running: fn(&$crate::podman::Sandbox) = $while_running;
            while_running(&sb);
            // A container with the default network and no -p, started and
            // removed while the first runs.
            sb.podman_ok(&["run", "--rm", $crate::podman::IMAGE, "true"]);
            sb.podman_ok("rm -f -t 0 web");
            let links = sb.links();
            assert!(!links.contains("veth"), "{links}");
            assert!(!$bridge_goes || !links.contains("podman0"), "{links}");
            assert_eq!(endpoints(&sb), 0);
        }
    };
}
