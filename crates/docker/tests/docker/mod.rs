//! A throwaway Docker host: dockerd 20.10 and containerd with real
//! containers, in a sandbox of their own, never touching the machine's
//! network, Docker or iptables.
//!
//! Each [`Sandbox`] is one `unshare --net --mount --pid --fork
//! --mount-proc --propagation private --kill-child` with a tmpfs `/run`
//! (the plugin socket `/run/docker/plugins/brnet.sock`, dockerd's and
//! containerd's state and exec roots, `/run/netns`), and overlays with a
//! tmpfs upper layer on `/var/lib` (bridge-net's state) and `/etc`
//! (dockerd writes there). dockerd runs with `--iptables` (its default),
//! so it sets the FORWARD policy to DROP and turns bridge-nf-call on —
//! inside the sandbox's network namespace only. Containers' cgroups go
//! under `brnet-test-<pid>` (removed on drop). Commands enter the sandbox
//! with `nsenter`. Dropping it kills its pid namespace: dockerd,
//! containerd, the shims, the containers and the plugin go with it.

#![allow(dead_code)]

use std::ops::Deref;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use brnet_testkit::cmd::Args;
use brnet_testkit::host::{Host, require_tools};
pub use brnet_testkit::text;

/// The image every test runs: busybox-static with its applets.
pub const IMAGE: &str = "bb";

const SETUP: &str = r#"
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dk/upper /run/dk/work /run/dk/eupper /run/dk/ework /run/docker/plugins /run/netns
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=/run/dk/upper,workdir=/run/dk/work /var/lib
mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/dk/eupper,workdir=/run/dk/ework /etc
ip link set lo up
echo ready
exec cat >/dev/null
"#;

/// One throwaway Docker host (the [`Host`] methods work on it too).
pub struct Sandbox {
    host: Host,
    cgroup: String,
    plugin: String,
    live_restore: bool,
}

impl Deref for Sandbox {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.host.stop();
        // The containers' cgroups, now empty (their processes died with
        // the pid namespace), deepest first.
        for _ in 0..50 {
            if remove_cgroups(&self.cgroup) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A shell condition: the process in `pidfile` has exited (the sandbox's
/// init does not reap, so a zombie counts as gone).
fn gone(pidfile: &str) -> String {
    format!("p=$(cat {pidfile}); ! kill -0 $p 2>/dev/null || grep -q '^State:.*Z' /proc/$p/status")
}

/// Remove every `/sys/fs/cgroup/*/NAME` tree; whether all are gone.
fn remove_cgroups(name: &str) -> bool {
    fn rm(dir: &Path) -> bool {
        let mut ok = true;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    ok &= rm(&e.path());
                }
            }
        }
        ok && (std::fs::remove_dir(dir).is_ok() || !dir.exists())
    }
    let mut all = true;
    if let Ok(ctrls) = std::fs::read_dir("/sys/fs/cgroup") {
        for c in ctrls.flatten() {
            let d = c.path().join(name);
            if d.exists() {
                all &= rm(&d);
            }
        }
    }
    all
}

impl Sandbox {
    /// A sandbox running `plugin` (this crate's binary), containerd and
    /// dockerd, with the busybox image imported.
    pub fn new(plugin: &str) -> Sandbox {
        Sandbox::with(plugin, false)
    }

    /// The same, dockerd with `--live-restore` (containers outlive it).
    pub fn with(plugin: &str, live_restore: bool) -> Sandbox {
        require_tools(
            &[
                "dockerd",
                "containerd",
                "docker",
                "docker-compose",
                "iptables",
                "socat",
            ],
            "apt-get install docker.io docker-compose iptables socat busybox-static",
        );
        let host = Host::start(SETUP)
            .with_env("DOCKER_HOST", "unix:///run/dk/docker.sock")
            .with_env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .with_logs(&["/run/dk/dockerd.log", "/run/dk/plugin.log"]);
        let pid = host.pid;
        let sb = Sandbox {
            host,
            cgroup: format!("brnet-test-{pid}"),
            plugin: plugin.to_owned(),
            live_restore,
        };
        sb.start_plugin();
        sb.ok(
            "containerd --root /run/dk/ctd --state /run/dk/ctd-state --address /run/dk/containerd.sock \
             >/run/dk/containerd.log 2>&1 &",
        );
        sb.start_dockerd();
        sb.build_image();
        sb
    }

    /// Start the plugin (logging every call to /run/dk/plugin.log).
    pub fn start_plugin(&self) {
        self.ok(&format!(
            "{} --debug >>/run/dk/plugin.log 2>&1 & echo $! >/run/dk/plugin.pid",
            self.plugin
        ));
        self.wait_for(
            "the plugin's socket",
            "test -S /run/docker/plugins/brnet.sock",
        );
    }

    /// Stop the plugin with SIGTERM and wait until it is gone.
    pub fn stop_plugin(&self) {
        self.ok("kill $(cat /run/dk/plugin.pid)");
        self.wait_for("the plugin to exit", &gone("/run/dk/plugin.pid"));
    }

    /// Start dockerd and wait until it answers.
    pub fn start_dockerd(&self) {
        let live = if self.live_restore {
            " --live-restore"
        } else {
            ""
        };
        self.ok(&format!(
            "dockerd --containerd /run/dk/containerd.sock --data-root /run/dk/data \
             --exec-root /run/dk/exec -H unix:///run/dk/docker.sock --pidfile /run/dk/docker.pid \
             --iptables=true --cgroup-parent {}{live} >>/run/dk/dockerd.log 2>&1 &",
            self.cgroup
        ));
        self.wait_for("dockerd", "docker version >/dev/null 2>&1");
    }

    /// Stop dockerd with `signal` (TERM: a clean stop; KILL: a crash) and
    /// wait until it is gone.
    pub fn stop_dockerd(&self, signal: &str) {
        self.ok(&format!("kill -{signal} $(cat /run/dk/docker.pid)"));
        self.wait_for("dockerd to exit", &gone("/run/dk/docker.pid"));
        self.ok("rm -f /run/dk/docker.pid /run/dk/docker.sock");
    }

    /// The busybox-static image, with no registry.
    fn build_image(&self) {
        self.busybox_image("/run/dk/rootfs", &format!("docker import - {IMAGE}"));
    }

    /// `docker ARGS`.
    pub fn docker(&self, args: &(impl Args + ?Sized)) -> Output {
        self.run("docker", &args.args())
    }

    /// `docker ARGS`, which must succeed; its stdout, trimmed.
    #[track_caller]
    pub fn docker_ok(&self, args: &(impl Args + ?Sized)) -> String {
        self.run_ok("docker", &args.args())
    }

    /// `docker ARGS`, which must fail; its stderr.
    #[track_caller]
    pub fn docker_err(&self, args: &(impl Args + ?Sized)) -> String {
        self.run_err("docker", &args.args())
    }

    /// `docker network create -d DRIVER --subnet SUBNET NAME`, which must
    /// succeed; the network's id.
    #[track_caller]
    pub fn network_create(&self, driver: &str, subnet: &str, name: &str) -> String {
        self.docker_ok(&["network", "create", "-d", driver, "--subnet", subnet, name])
    }

    /// `docker exec NAME sh -c SCRIPT`: whether it succeeded, and its
    /// output.
    pub fn exec(&self, name: &str, script: &str) -> (bool, String) {
        let out = self.docker(&["exec", name, "sh", "-c", script]);
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }

    /// `docker run -d --name NAME --network NET [ARGS] IMAGE httpd`: a web
    /// server answering `hello`.
    #[track_caller]
    pub fn run_web(&self, name: &str, network: &str, extra: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--name", name, "--network", network];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"]);
        self.docker_ok(&args);
        self.address(name, network)
    }

    /// A container's address on `network`.
    pub fn address(&self, container: &str, network: &str) -> String {
        self.docker_ok(&[
            "inspect",
            container,
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        ])
    }

    /// The same GET from the namespace `outside` (see [`outside`]).
    pub fn get_outside(&self, url: &str) -> Option<String> {
        let out = self.sh(&format!(
            "ip netns exec outside timeout 3 busybox wget -q -O - {url}"
        ));
        out.status.success().then(|| text(&out.stdout))
    }

    /// A namespace `outside` beyond the host: 198.51.100.2/24 behind the
    /// sandbox's 198.51.100.1 (veth `o-out`), with a TCP server on 9000
    /// that answers with the address it sees the client at.
    pub fn outside(&self) {
        self.ok(
            "set -e; ip netns add outside
             ip link add o-out type veth peer name eth0 netns outside
             sysctl -qw net.ipv6.conf.o-out.disable_ipv6=1
             ip addr add 198.51.100.1/24 dev o-out; ip link set o-out up
             ip -n outside addr add 198.51.100.2/24 dev eth0
             ip -n outside link set eth0 up; ip -n outside link set lo up
             ip -n outside route add default via 198.51.100.1
             ip netns exec outside socat TCP-LISTEN:9000,fork,reuseaddr SYSTEM:'echo peer $SOCAT_PEERADDR' >/dev/null 2>&1 &",
        );
        self.wait_for(
            "the outside server",
            "ip netns exec outside sh -c 'ss -ltn | grep -q :9000'",
        );
    }

    /// What a test compares before the first network and after the last:
    /// link names, addresses, routes, the nftables ruleset (counters
    /// dropped) and the iptables rules.
    pub fn picture(&self) -> String {
        let links = self.ok("ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort");
        // IPv6 link-local addresses and their routes are left out: the
        // kernel adds them on its own, a moment after a link comes up.
        let addrs =
            self.ok("ip -o addr show | awk '{print $2, $3, $4}' | grep -v ' fe80::' | sort");
        let routes = self.ok("ip route show table all | grep -v 'fe80::' | sort");
        let nft = self.ok(
            "nft list ruleset | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' | sort",
        );
        let ipt = self.ok("iptables -S; iptables -t nat -S");
        format!(
            "--- links\n{links}--- addresses\n{addrs}--- routes\n{routes}--- nft\n{nft}--- iptables\n{ipt}"
        )
    }

    /// The endpoints and networks in bridge-net's state.
    pub fn state(&self) -> bridge_net::state::State {
        let bytes = self
            .read("/var/lib/brnet/docker/state.json")
            .unwrap_or_default();
        if bytes.is_empty() {
            return bridge_net::state::State::default();
        }
        bridge_net::state::State::parse(&bytes).expect("a readable state")
    }

    /// One raw call to the plugin: `POST /METHOD` with `body`; the status
    /// line and the body of the answer.
    pub fn call(&self, method: &str, body: &str) -> String {
        self.ok(&format!(
            "printf 'POST /{method} HTTP/1.1\\r\\nHost: plugin\\r\\nContent-Length: {}\\r\\nConnection: close\\r\\n\\r\\n%s' '{}' \
             | socat -t 5 - UNIX-CONNECT:/run/docker/plugins/brnet.sock",
            body.len(),
            body.replace('\'', "'\\''")
        ))
    }
}
