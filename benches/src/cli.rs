//! Driving the `brnet` command line, one process per call, as a runtime
//! that shells out would: `brnet --state-dir DIR network create|connect|
//! disconnect ...`.

use std::path::{Path, PathBuf};

use crate::container::{Container, GATEWAY, SUBNET};
use crate::process::{Call, Error};

/// A state directory driven through the `brnet` binary.
#[derive(Debug)]
pub struct Brnet {
    bin: PathBuf,
    state: PathBuf,
}

impl Brnet {
    /// `bin` with `--state-dir state`.
    pub fn new(bin: &Path, state: &Path) -> Brnet {
        Brnet {
            bin: bin.to_owned(),
            state: state.to_owned(),
        }
    }

    fn call(&self, op: String) -> Call {
        Call::new(&self.bin, op).arg("--state-dir").arg(&self.state)
    }

    /// `brnet network create --subnet 10.88.0.0/16 --gateway 10.88.0.1 -o
    /// brnet.dns=false NAME`: no name resolution, as the peers' networks in
    /// the comparison.
    pub fn create_network(&self, name: &str) -> Result<(), Error> {
        self.call(format!("brnet network create {name}"))
            .args([
                "network",
                "create",
                "--subnet",
                SUBNET,
                "--gateway",
                GATEWAY,
                "-o",
                "brnet.dns=false",
                name,
            ])
            .run()
            .map(drop)
    }

    /// `brnet network connect [-p HOST:CONTAINER]... NETWORK c.name`.
    pub fn connect(&self, network: &str, c: &Container) -> Result<(), Error> {
        let mut call = self
            .call(format!("brnet network connect {network} {}", c.name))
            .args(["network", "connect"]);
        for p in &c.ports {
            call = call.arg("-p").arg(p.spec());
        }
        call.args([network, c.name.as_str()]).run().map(drop)
    }

    /// `brnet network disconnect NETWORK c0 c1 ...`: every container in
    /// one call (their veths deleted in one kernel request).
    pub fn disconnect_many(&self, network: &str, cs: &[Container]) -> Result<(), Error> {
        self.call(format!(
            "brnet network disconnect {network} ({} containers)",
            cs.len()
        ))
        .args(["network", "disconnect", network])
        .args(cs.iter().map(|c| c.name.as_str()))
        .run()
        .map(drop)
    }

    /// `brnet network disconnect NETWORK c.name`.
    pub fn disconnect(&self, network: &str, c: &Container) -> Result<(), Error> {
        self.call(format!("brnet network disconnect {network} {}", c.name))
            .args(["network", "disconnect", network, c.name.as_str()])
            .run()
            .map(drop)
    }
}
