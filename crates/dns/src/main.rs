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
    brnet_dns::logfile::init_logs(None);
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
