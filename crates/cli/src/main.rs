//! `brnet`: Docker's bridge networks from the command line.
//!
//! `brnet network create|ls|inspect|rm|prune|connect|disconnect` mirror
//! `docker network ...` over [`bridge_net`]; `brnet netns add|del|ls`
//! manage the named namespaces that `connect` attaches; `brnet dns serve`
//! is the name resolver bridge-net starts for DNS-enabled networks. Every failure is
//! one line on stderr, `brnet: <what>: <why>`, and an exit code that says
//! what kind of failure it was ([`failure::Exit`]; see the README).

#[cfg(not(target_os = "linux"))]
compile_error!(
    "brnet supports Linux only: it drives Linux network namespaces, bridges and nf_tables"
);

mod dns;
mod failure;
mod filter;
mod input;
mod netns;
mod network;
mod overlay;
mod ps;
mod render;
mod usage;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use brnet_cli::{args, fast, template};

use args::{Cli, Command};
use failure::{Exit, Failures};

fn main() -> ExitCode {
    // The per-container calls without clap's command tree; the rest (and
    // every mistake) through clap.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let cli = match brnet_cli::fast::parse(&argv, |k| std::env::var_os(k)) {
        Some(fast::Fast::Cli(cli)) => *cli,
        Some(fast::Fast::Version) => {
            let mut out = std::io::stdout().lock();
            return match out.write_all(fast::version().as_bytes()) {
                Ok(()) => Exit::Ok.into(),
                Err(e) => report(&vec![failure::Failed::new("write output", e)]),
            };
        }
        None => match Cli::try_parse() {
            Ok(cli) => cli,
            Err(e) => return usage::report(&e),
        },
    };
    brnet_dns::logfile::init_logs(match cli.verbose {
        0 => None,
        1 => Some("info"),
        2 => Some("debug"),
        _ => Some("trace"),
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(&cli, &mut out).and_then(|()| {
        out.flush()
            .map_err(|e| vec![failure::Failed::new("write output", e)])
    });
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(failures) => report(&failures),
    }
}

fn run(cli: &Cli, out: &mut dyn Write) -> Result<(), Failures> {
    let config = bridge_net::Config {
        firewall: cli.firewall.into(),
        // One command per process: the exit frees the state's memory.
        free_on_drop: false,
        ..bridge_net::Config::new(&cli.state_dir)
    };
    match &cli.command {
        Command::Network(cmd) => network::run(cmd, &config, out),
        Command::Netns(cmd) => netns::run(cmd, out),
        Command::Overlay(args::OverlayCommand::Agent(a)) => overlay::agent(a, &config),
        Command::Dns(args::DnsCommand::Serve(a)) => dns::serve(&cli.state_dir, a),
        Command::Ps(a) => ps::ps(a, &config, out),
        Command::Completions { shell } => {
            let mut cmd = brnet_cli::command();
            clap_complete::generate(*shell, &mut cmd, "brnet", out);
            Ok(())
        }
        Command::Port(a) => ps::port(a, &config, out),
    }
}

/// Print each failure as its line; exit with the first one's code.
fn report(failures: &Failures) -> ExitCode {
    let mut err = std::io::stderr().lock();
    for f in failures {
        // A reader that went away takes the output with it, as SIGPIPE
        // would: no message about it.
        if matches!(&f.why, failure::Failure::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(&f.why, failure::Failure::Silent(_))
        {
            continue;
        }
        let _ = writeln!(err, "{f}");
    }
    failures
        .first()
        .map_or(Exit::Failed, |f| f.why.exit())
        .into()
}
