#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! `brnet-netavark`: Podman's default network backend, netavark, by its
//! contract, over bridge-net.
//!
//! Podman runs the first executable named `netavark` in its
//! `helper_binaries_dir`: install this binary there under that name and
//! Podman's containers get bridge-net's networks. The contract, as Podman
//! 4.3 speaks it:
//!
//! - `[--config DIR] [--rootless=BOOL] [--aardvark-binary PATH]
//!   [--file FILE] setup NETNS_PATH`: the network options JSON on stdin
//!   (or in FILE); on success, a JSON map from network name to its status
//!   block (interfaces, addresses, name servers) on stdout.
//! - `teardown NETNS_PATH`: the same options; prints nothing. Idempotent:
//!   tearing down what is gone succeeds.
//! - `update NETWORK --network-dns-servers IP...`: the network's
//!   resolver forwards to these name servers (none: the host's).
//! - `version`: netavark's JSON (`version`, the netavark release whose
//!   contract this is, `commit`, `build_time`, `target`, and
//!   `implementation`); `--version`: one line.
//! - `NETAVARK_FW`: the firewall driver (`nftables`, the default;
//!   `iptables`; `none`): see [`firewall`].
//! - Any failure: `{"error": "..."}` on stdout (one line naming the
//!   operation, the object and the cause) and exit status 1.
//!
//! The state lives in `<--config DIR>/brnet` (see [`state`]).

#[cfg(not(target_os = "linux"))]
compile_error!(
    "brnet-netavark supports Linux only: it drives Linux network namespaces, bridges and nf_tables"
);

mod args;
mod contract;
mod error;
mod firewall;
mod setup;
mod state;
mod translate;

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use args::{Args, Command};
use contract::{ErrorReply, NetworkOptions, Version};
use error::{Error, Result};

/// The netavark release whose contract we speak (Podman 4.3's): what
/// `version` and `--version` say the version is, since Podman and
/// netavark's own tools read the backend's version as netavark's.
const NETAVARK_VERSION: &str = "1.4.0";

/// What we are.
const IMPLEMENTATION: &str = concat!(
    "brnet-netavark ",
    env!("CARGO_PKG_VERSION"),
    " (bridge-net)"
);

fn main() -> ExitCode {
    brnet_dns::logfile::init_logs(None);
    let mut out = std::io::stdout().lock();
    match run(std::env::args().skip(1), &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let reply = ErrorReply {
                error: e.to_string(),
            };
            let _ = serde_json::to_writer(&mut out, &reply);
            let _ = writeln!(out);
            ExitCode::FAILURE
        }
    }
}

fn run(argv: impl IntoIterator<Item = String>, out: &mut dyn Write) -> Result<()> {
    let args = Args::parse(argv)?;
    let state = state::state_dir(args.config.as_deref());
    let fw = std::env::var(firewall::ENV).ok();
    let written = match &args.command {
        Command::VersionFlag => writeln!(out, "netavark {NETAVARK_VERSION} ({IMPLEMENTATION})"),
        Command::Version => {
            let v = Version {
                version: NETAVARK_VERSION,
                commit: env!("BRNET_GIT_COMMIT"),
                build_time: env!("BRNET_BUILD_TIME"),
                target: env!("BRNET_BUILD_TARGET"),
                implementation: IMPLEMENTATION,
            };
            serde_json::to_writer_pretty(&mut *out, &v)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Command::Setup(netns) => {
            let o = read_options(args.file.as_deref())?;
            let status = setup::setup(&state, netns, &o, fw.as_deref())?;
            serde_json::to_writer_pretty(&mut *out, &status)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Command::Teardown(netns) => {
            let o = read_options(args.file.as_deref())?;
            setup::teardown(&state, netns, &o, fw.as_deref())?;
            Ok(())
        }
        Command::Update {
            network,
            dns_servers,
        } => {
            setup::update(&state, network, dns_servers, fw.as_deref())?;
            Ok(())
        }
    };
    written
        .and_then(|()| out.flush())
        .map_err(|source| Error::State {
            op: "write",
            path: "stdout".into(),
            cause: source,
        })
}

/// The options, from `file` or stdin.
fn read_options(file: Option<&Path>) -> Result<NetworkOptions> {
    let (from, text) = match file.filter(|f| *f != Path::new("-")) {
        Some(f) => (
            f.display().to_string(),
            std::fs::read_to_string(f).map_err(|source| Error::Read {
                from: f.display().to_string(),
                cause: source,
            })?,
        ),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|source| Error::Read {
                    from: "stdin".into(),
                    cause: source,
                })?;
            ("stdin".to_owned(), s)
        }
    };
    serde_json::from_str(&text).map_err(|source| Error::Decode {
        from,
        cause: source,
    })
}
