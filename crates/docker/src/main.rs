#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! `brnet-docker`: Docker's remote network driver and IPAM driver over
//! bridge-net, on one unix socket.
//!
//! dockerd finds a plugin by its socket: `/run/docker/plugins/NAME.sock`
//! makes the driver `NAME` (`docker network create -d brnet`,
//! `--ipam-driver brnet`). Start this before dockerd and stop it after
//! (dockerd stops containers through it). See the README for the systemd
//! unit.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "brnet-docker supports Linux only: it drives Linux network namespaces, bridges and nf_tables"
);

mod error;
mod forward;
mod ipam;
mod network;
mod protocol;
mod server;

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use nix::sys::signal::{SigSet, Signal};

/// Docker's remote network and IPAM driver over bridge-net.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The socket dockerd finds the plugin by; its file name (without
    /// `.sock`) is the driver's name.
    #[arg(long, default_value = "/run/docker/plugins/brnet.sock")]
    socket: PathBuf,
    /// Where networks, endpoints and IPAM pools are kept.
    #[arg(long, default_value = "/var/lib/brnet/docker")]
    state_dir: PathBuf,
    /// The iptables program whose FORWARD chain gets our bridges' accept
    /// rules (dockerd's FORWARD policy is DROP).
    #[arg(long, default_value = "iptables")]
    iptables: String,
    /// Add no iptables rules (dockerd runs with --iptables=false).
    #[arg(long)]
    no_iptables: bool,
    /// Threads answering calls.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Log every call and its answer on stderr.
    #[arg(long)]
    debug: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brnet-docker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Make `socket` free to bind: a file left by an earlier run is removed;
/// one a live plugin answers on is not.
fn clear_socket(socket: &Path) -> Result<(), String> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            return Err(format!(
                "{} is served by another process already",
                socket.display()
            ));
        }
        std::fs::remove_file(socket)
            .map_err(|e| format!("remove stale {}: {e}", socket.display()))?;
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), String> {
    // Signals go to the waiting main thread only (blocked before any
    // thread starts, so every worker inherits the mask).
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals
        .thread_block()
        .map_err(|e| format!("block signals: {e}"))?;

    let forward = forward::Forward::new((!args.no_iptables).then(|| args.iptables.clone()));
    let driver = network::Driver::open(&args.state_dir, forward).map_err(|e| e.to_string())?;
    let ipam = ipam::Ipam::open(&args.state_dir).map_err(|e| e.to_string())?;
    let service = server::Service::new(driver, ipam, args.debug);

    clear_socket(&args.socket)?;
    let server = tiny_http::Server::http_unix(&args.socket)
        .map_err(|e| format!("listen on {}: {e}", args.socket.display()))?;
    eprintln!(
        "brnet-docker: serving NetworkDriver and IpamDriver on {} (state in {})",
        args.socket.display(),
        args.state_dir.display()
    );
    std::thread::scope(|s| {
        s.spawn(|| server::serve(&server, &service, args.threads));
        let got = signals.wait();
        // The socket goes first: dockerd then sees the plugin gone (and
        // retries) rather than a socket nobody answers. Calls in progress
        // finish; none starts after.
        let _ = std::fs::remove_file(&args.socket);
        let _held = service.quiesce();
        eprintln!("brnet-docker: {got:?}: stopped");
        std::process::exit(0);
    })
}
