//! Driving netavark the way Podman 4.3 does (see
//! `../shared/reference/podman/netavark-contract/`): `netavark --config DIR
//! --rootless=false setup|teardown NETNS` with the container's options as
//! JSON on stdin. Podman allocates the addresses itself and passes them as
//! `static_ips`; so do we (the [`Container`]'s address).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::container::{Container, GATEWAY, SUBNET};
use crate::process::{Call, Error, find_program};

/// Where distributions put netavark.
const CANDIDATES: &[&str] = &[
    "/usr/lib/podman/netavark",
    "/usr/libexec/podman/netavark",
    "/usr/local/libexec/podman/netavark",
];

/// The network's bridge (Podman names them `podmanN`).
pub const BRIDGE: &str = "podman1";

/// The installed netavark, if any.
pub fn find() -> Option<PathBuf> {
    find_program(CANDIDATES, "netavark")
}

/// netavark's version line (`netavark 1.4.0`).
pub fn version(bin: &Path) -> Option<String> {
    let out = Call::new(bin, "netavark --version")
        .arg("--version")
        .run()
        .ok()?;
    Some(String::from_utf8_lossy(&out).trim().to_owned())
}

/// A netavark network (`--config` directory and the network's definition).
#[derive(Debug)]
pub struct Netavark {
    bin: PathBuf,
    config: PathBuf,
    network: Value,
}

impl Netavark {
    /// The network "bench" on bridge [`BRIDGE`], [`SUBNET`], IPv4 only, no
    /// DNS (aardvark-dns is not started), `--config` in `config_dir`.
    pub fn new(bin: &Path, config_dir: &Path) -> Netavark {
        Netavark {
            bin: bin.to_owned(),
            config: config_dir.to_owned(),
            network: json!({
                "name": "bench",
                "id": "bf79918ea54011b80dc739d289d3b6e168710a08a461d691828654054aed3fe1",
                "driver": "bridge",
                "network_interface": BRIDGE,
                "created": "2026-01-01T00:00:00.000000000Z",
                "subnets": [{ "subnet": SUBNET, "gateway": GATEWAY }],
                "ipv6_enabled": false,
                "internal": false,
                "dns_enabled": false,
                "ipam_options": { "driver": "host-local" }
            }),
        }
    }

    /// What Podman writes on netavark's stdin for `c`.
    pub fn options(&self, c: &Container) -> Value {
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|p| {
                json!({
                    "host_ip": "",
                    "container_port": p.container,
                    "host_port": p.host,
                    "range": 1,
                    "protocol": "tcp"
                })
            })
            .collect();
        json!({
            "container_id": c.id,
            "container_name": c.name,
            "port_mappings": ports,
            "networks": {
                "bench": {
                    "static_ips": [c.ip.to_string()],
                    "aliases": [],
                    "interface_name": "eth0"
                }
            },
            "network_info": { "bench": self.network }
        })
    }

    fn call(&self, verb: &str, c: &Container, limit: Option<Duration>) -> Call {
        let call = Call::new(&self.bin, format!("netavark {verb} {}", c.name))
            .arg("--config")
            .arg(&self.config)
            .args(["--rootless=false", verb])
            .arg(c.netns_path())
            // No firewalld: netavark would otherwise ask it over D-Bus.
            .env("DBUS_SYSTEM_BUS_ADDRESS", "")
            .stdin(self.options(c).to_string().into_bytes());
        match limit {
            Some(l) => call.limit(l),
            None => call,
        }
    }

    /// `netavark setup`: the container's interface, address, routes,
    /// firewall rules and ports; the bridge and the network's rules on
    /// first use.
    pub fn setup(&self, c: &Container, limit: Option<Duration>) -> Result<(), Error> {
        self.call("setup", c, limit).run_json().map(drop)
    }

    /// `netavark teardown` (prints nothing when it succeeds).
    pub fn teardown(&self, c: &Container) -> Result<(), Error> {
        self.call("teardown", c, None).run().map(drop)
    }
}
