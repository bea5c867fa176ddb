//! `brnet netns ...`: named network namespaces under /run/netns, made as
//! `ip netns` makes them (each sees the other's).

use std::io::Write;

use bridge_net::brnet_netns::NetnsDir;

use crate::args::NetnsCommand;
use crate::failure::{Failed, Failure, Failures};

/// Run one `netns` command, printing to `out`.
pub fn run(cmd: &NetnsCommand, out: &mut dyn Write) -> Result<(), Failures> {
    let dir = NetnsDir::default();
    let (what, result): (String, Result<(), Failure>) = match cmd {
        NetnsCommand::Add { name } => (
            format!("netns add {name}"),
            dir.create(name).map(drop).map_err(Failure::from),
        ),
        NetnsCommand::Del { name } => (
            format!("netns del {name}"),
            dir.delete(name).map_err(Failure::from),
        ),
        NetnsCommand::Ls => ("netns ls".into(), ls(&dir, out)),
    };
    result.map_err(|e| vec![Failed::new(what, e)])
}

fn ls(dir: &NetnsDir, out: &mut dyn Write) -> Result<(), Failure> {
    for name in dir.list()? {
        writeln!(out, "{name}")?;
    }
    Ok(())
}
