#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! `brnet-cni`: a CNI plugin (spec 1.1) over bridge-net.
//!
//! Install it under the type name a network configuration uses (`bridge`
//! for Podman's conflists) in a plugin directory listed before the
//! reference plugins. It speaks ADD, DEL, CHECK, STATUS, GC and VERSION
//! from the `CNI_*` environment and the config on stdin; allocates
//! addresses itself (bridge-net's pools, from the standard `ipam` section:
//! `subnet` or host-local's `ranges`, `rangeStart`, `rangeEnd`, `gateway`,
//! `routes`); publishes `runtimeConfig.portMappings`; honours `isGateway`,
//! `ipMasq`, `mtu`, `hairpinMode`; and answers in the config's
//! `cniVersion` (0.1.0 to 1.1.0). Errors are the spec's JSON on stdout
//! (`code`, `msg`, `details`) with exit status 1.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "brnet-cni supports Linux only: it drives Linux network namespaces, bridges and nf_tables"
);

mod attachment;
mod config;
mod env;
mod error;
mod plugin;
mod version;

use std::io::{Read, Write};
use std::process::ExitCode;

use config::NetConf;
use env::{Command, Env};
use error::{Error, Result};

fn main() -> ExitCode {
    brnet_dns::logfile::init_logs(None);
    let mut stdin = String::new();
    let read = std::io::stdin().read_to_string(&mut stdin);
    let get = |k: &str| std::env::var(k).ok();
    // Read as JSON once: for the version to answer in (the config's, when
    // it has one we speak) and for the command.
    let doc = serde_json::from_str::<serde_json::Value>(&stdin);
    let answer_version = doc
        .as_ref()
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().map(str::to_owned))
        .filter(|v| version::SUPPORTED.contains(&v.as_str()))
        .unwrap_or_else(|| version::LATEST.to_owned());
    let result = match read {
        Ok(_) => run(&get, doc, &answer_version),
        Err(source) => Err(Error::Read { cause: source }),
    };
    let mut out = std::io::stdout().lock();
    let code = match result {
        Ok(Some(v)) => {
            if serde_json::to_writer(&mut out, &v).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = serde_json::to_writer(&mut out, &e.reply(&answer_version));
            ExitCode::FAILURE
        }
    };
    let _ = writeln!(out).and_then(|()| out.flush());
    code
}

/// One command; `Some(json)` to print on success.
fn run(
    get: &dyn Fn(&str) -> Option<String>,
    stdin: serde_json::Result<serde_json::Value>,
    answer_version: &str,
) -> Result<Option<serde_json::Value>> {
    let env = Env::read(get)?;
    if env.command == Command::Version {
        return Ok(Some(serde_json::json!({
            "cniVersion": answer_version,
            "supportedVersions": version::SUPPORTED,
        })));
    }
    let conf = NetConf::from_json(stdin, &env.args)?;
    match env.command {
        Command::Add => {
            let r = plugin::add(&env, &conf)?;
            Ok(Some(r.render(&conf.version)?))
        }
        Command::Del => plugin::del(&env, &conf).map(|()| None),
        Command::Check => plugin::check(&env, &conf).map(|()| None),
        Command::Status => plugin::status(&conf).map(|()| None),
        Command::Gc => plugin::gc(&conf).map(|()| None),
        Command::Version => Ok(None),
    }
}
