//! `brnet-dns`: the resolver process of a directory, started by bridge-net
//! (as netavark starts aardvark-dns) for its DNS-enabled networks.
//!
//! ```text
//! brnet-dns --state-dir DIR dns serve [--port N] [--upstream IP[:PORT]]... [--resolv-conf FILE]
//! ```
//!
//! The same command line as `brnet dns serve`. See [`brnet_dns::serve`] for
//! the protocol.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "brnet-dns --state-dir DIR dns serve [--port N] [--upstream IP[:PORT]]... [--resolv-conf FILE]\n\n\
             Serve the names written in DIR/{} on port 53 of each listed address, \
             until none is left to serve.",
            brnet_dns::serve::SPEC_FILE
        );
        return ExitCode::SUCCESS;
    }
    init_logs(None);
    let (dir, opts) = match brnet_dns::serve::parse_args(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("brnet-dns: {e}");
            return ExitCode::from(2);
        }
    };
    match brnet_dns::serve::serve(&dir, &opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("brnet-dns: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where `tracing` events go: to `$BRNET_LOG_FILE` when set (capped at
/// 1 MiB, one older generation kept as `NAME.1`), else to stderr; never to
/// stdout. Which ones: LEVEL, else `$RUST_LOG`, else `info` into a log
/// file and none on stderr.
fn init_logs(level: Option<&str>) {
    use brnet_dns::logfile::{CappedFile, DEFAULT_CAP, LOG_FILE_ENV};
    use tracing_subscriber::EnvFilter;
    let file = std::env::var_os(LOG_FILE_ENV).filter(|f| !f.is_empty());
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => match EnvFilter::try_from_default_env() {
            Ok(f) => f,
            Err(_) if file.is_some() => EnvFilter::new("info"),
            Err(_) => return,
        },
    };
    let fmt = tracing_subscriber::fmt().with_env_filter(filter);
    match file.map(|p| CappedFile::open(std::path::PathBuf::from(p), DEFAULT_CAP)) {
        Some(Ok(f)) => fmt.with_writer(std::sync::Mutex::new(f)).init(),
        Some(Err(e)) => {
            fmt.with_writer(std::io::stderr).init();
            tracing::warn!("{LOG_FILE_ENV}: {e}: logging to stderr");
        }
        None => fmt.with_writer(std::io::stderr).init(),
    }
}
