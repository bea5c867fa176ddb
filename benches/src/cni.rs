//! Driving the CNI reference plugins the way Podman 4.3's CNI backend does
//! (see `../shared/reference/podman/cni/`): `bridge` (which calls
//! `host-local` for the address) and, with published ports, `portmap`
//! chained after it with the bridge's result as `prevResult`; DEL in
//! reverse. Configuration on stdin, `CNI_*` in the environment, the result
//! on stdout, `cniVersion` 0.4.0.
//!
//! Podman's conflist also runs `firewall` and `tuning` after `portmap`;
//! they are left out here (fewer processes than Podman starts).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::container::{Container, GATEWAY, SUBNET};
use crate::process::{Call, Error, is_executable};

/// Where distributions put the plugins.
const DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni"];
/// The plugins used.
const PLUGINS: &[&str] = &["bridge", "host-local", "portmap"];

/// The network's bridge (Podman names them `cni-podmanN`).
pub const BRIDGE: &str = "cni-podman1";

/// The directory holding bridge, host-local and portmap, if installed.
pub fn find() -> Option<PathBuf> {
    DIRS.iter()
        .map(PathBuf::from)
        .find(|d| PLUGINS.iter().all(|p| is_executable(&d.join(p))))
}

/// The plugins' version (`CNI bridge plugin v1.1.1`), from `bridge` run
/// without CNI_COMMAND (it prints its about line on stderr).
pub fn version(dir: &Path) -> Option<String> {
    let out = std::process::Command::new(dir.join("bridge"))
        .env_remove("CNI_COMMAND")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find(|l| l.contains("plugin"))
        .map(|l| l.trim().to_owned())
}

/// A CNI network: plugin directory and the host-local data directory.
#[derive(Debug)]
pub struct Cni {
    dir: PathBuf,
    data: PathBuf,
    /// bridge-net's plugin (`brnet-cni` in `dir`) instead of `bridge` +
    /// `portmap`: one call per ADD or DEL, ports published by the plugin
    /// (`portMappings` capability), its state in `data`.
    brnet: bool,
}

impl Cni {
    /// The network "bench" on [`BRIDGE`], [`SUBNET`], as Podman configures
    /// it (gateway, masquerade, hairpin); host-local keeps its leases in
    /// `data_dir` (not `/var/lib/cni`).
    pub fn new(dir: &Path, data_dir: &Path) -> Cni {
        Cni {
            dir: dir.to_owned(),
            data: data_dir.to_owned(),
            brnet: false,
        }
    }

    /// The same network through `brnet-cni` (in `dir`) alone, as a
    /// runtime that configures it for its ports calls it: one process
    /// per ADD or DEL, the ports in `runtimeConfig.portMappings` (no
    /// `portmap`), its state under `data_dir`.
    pub fn brnet(dir: &Path, data_dir: &Path) -> Cni {
        Cni {
            brnet: true,
            ..Cni::new(dir, data_dir)
        }
    }

    /// The configuration of bridge-net's plugin for `c`.
    fn brnet_config(&self, c: &Container, prev: Option<&Value>) -> Value {
        let mut conf = self.bridge_config(prev);
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|p| json!({ "hostPort": p.host, "containerPort": p.container, "protocol": "tcp" }))
            .collect();
        conf["type"] = json!("brnet");
        conf["stateDir"] = json!(self.data.join("brnet"));
        conf["capabilities"] = json!({ "ips": true, "portMappings": true });
        conf["runtimeConfig"] = json!({ "portMappings": ports });
        // No name resolver, as the reference plugins start none (the
        // plugin's default for users is on).
        conf["resolver"] = json!(false);
        conf
    }

    /// The bridge plugin's configuration (with `prevResult` for DEL).
    pub fn bridge_config(&self, prev: Option<&Value>) -> Value {
        let mut conf = json!({
            "bridge": BRIDGE,
            "capabilities": { "ips": true },
            "cniVersion": "0.4.0",
            "hairpinMode": true,
            "ipMasq": true,
            "ipam": {
                "ranges": [[{ "gateway": GATEWAY, "subnet": SUBNET }]],
                "routes": [{ "dst": "0.0.0.0/0" }],
                "type": "host-local",
                "dataDir": self.data
            },
            "isGateway": true,
            "name": "bench",
            "type": "bridge"
        });
        if let Some(p) = prev {
            conf["prevResult"] = p.clone();
        }
        conf
    }

    /// The portmap plugin's configuration for `c`'s ports.
    pub fn portmap_config(&self, c: &Container, prev: &Value) -> Value {
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|p| json!({ "hostPort": p.host, "containerPort": p.container, "protocol": "tcp" }))
            .collect();
        json!({
            "capabilities": { "portMappings": true },
            "cniVersion": "0.4.0",
            "name": "bench",
            "prevResult": prev,
            "runtimeConfig": { "portMappings": ports },
            "type": "portmap"
        })
    }

    fn call(&self, plugin: &str, command: &str, c: &Container, conf: &Value) -> Call {
        Call::new(
            &self.dir.join(plugin),
            format!("CNI {plugin} {command} {}", c.name),
        )
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &c.id)
        .env("CNI_NETNS", c.netns_path())
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", self.dir.display().to_string())
        .env(
            "CNI_ARGS",
            format!("IgnoreUnknown=1;K8S_POD_NAME={}", c.name),
        )
        .stdin(conf.to_string().into_bytes())
    }

    /// ADD: bridge (+ host-local), then portmap when `c` publishes ports.
    /// Returns the bridge's result, which DEL needs back.
    pub fn add(&self, c: &Container, limit: Option<Duration>) -> Result<Value, Error> {
        if self.brnet {
            let call = self.call("brnet-cni", "ADD", c, &self.brnet_config(c, None));
            return match limit {
                Some(l) => call.limit(l),
                None => call,
            }
            .run_json();
        }
        let prev = self
            .call("bridge", "ADD", c, &self.bridge_config(None))
            .run_json()?;
        if !c.ports.is_empty() {
            let call = self.call("portmap", "ADD", c, &self.portmap_config(c, &prev));
            match limit {
                Some(l) => call.limit(l),
                None => call,
            }
            .run_json()?;
        }
        Ok(prev)
    }

    /// DEL in reverse order: portmap, then bridge (+ host-local).
    pub fn del(&self, c: &Container, prev: &Value) -> Result<(), Error> {
        if self.brnet {
            return self
                .call("brnet-cni", "DEL", c, &self.brnet_config(c, Some(prev)))
                .run()
                .map(drop);
        }
        if !c.ports.is_empty() {
            self.call("portmap", "DEL", c, &self.portmap_config(c, prev))
                .run()?;
        }
        self.call("bridge", "DEL", c, &self.bridge_config(Some(prev)))
            .run()
            .map(drop)
    }

    /// host-local alone: ADD one address for `c` (its IPAM step, without
    /// the bridge).
    pub fn ipam_add(&self, c: &Container) -> Result<(), Error> {
        self.call("host-local", "ADD", c, &self.bridge_config(None))
            .run_json()
            .map(drop)
    }
}
