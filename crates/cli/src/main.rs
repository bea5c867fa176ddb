//! `brnet`: Docker's bridge networks from the command line.
//!
//! `brnet network create|ls|inspect|rm|prune|connect|disconnect` mirror
//! `docker network ...` over [`bridge_net`]; `brnet netns add|del|ls`
//! manage the named namespaces that `connect` attaches. Every failure is
//! one line on stderr, `brnet: <what>: <why>`, and an exit code that says
//! what kind of failure it was ([`failure::Exit`]; see the README).

mod args;
mod failure;
mod input;
mod netns;
mod network;
mod render;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use args::{Cli, Command};
use failure::{Exit, Failures, one_line};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
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
        ..bridge_net::Config::new(&cli.state_dir)
    };
    match &cli.command {
        Command::Network(cmd) => network::run(cmd, &config, out),
        Command::Netns(cmd) => netns::run(cmd, out),
    }
}

/// Print each failure as its line; exit with the first one's code.
fn report(failures: &Failures) -> ExitCode {
    let mut err = std::io::stderr().lock();
    for f in failures {
        // A reader that went away takes the output with it, as SIGPIPE
        // would: no message about it.
        if matches!(&f.why, failure::Failure::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
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

/// Help and version go to stdout (exit 0); a usage error is one line,
/// `brnet: <command>: <what clap says> (see 'brnet <command> --help')`,
/// and exit 2.
fn usage(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return Exit::Ok.into();
    }
    let _ = writeln!(std::io::stderr(), "{}", usage_line(&e.render().to_string()));
    Exit::Usage.into()
}

/// clap's multi-line message folded into our one line.
fn usage_line(rendered: &str) -> String {
    let first = rendered.split("\n\n").next().unwrap_or_default();
    let why = one_line(first.trim_start_matches("error: "));
    // "Usage: brnet network create [OPTIONS] <NAME>" names the command.
    let command: Vec<&str> = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .skip(1)
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect()
        })
        .unwrap_or_default();
    if command.is_empty() {
        format!("brnet: usage: {why} (see 'brnet --help')")
    } else {
        let command = command.join(" ");
        format!("brnet: {command}: {why} (see 'brnet {command} --help')")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn line(args: &[&str]) -> String {
        usage_line(&Cli::try_parse_from(args).unwrap_err().render().to_string())
    }

    #[test]
    fn usage_errors_are_one_line() {
        assert_eq!(
            line(&["brnet", "network", "create"]),
            "brnet: network create: the following required arguments were not provided: <NAME> \
             (see 'brnet network create --help')"
        );
        let l = line(&["brnet", "network", "ls", "--bogus"]);
        assert!(
            l.starts_with("brnet: network ls: unexpected argument '--bogus' found"),
            "{l}"
        );
        let l = line(&["brnet", "--firewall", "pf", "network", "ls"]);
        assert!(
            l.contains("invalid value 'pf'") && l.contains("nftables"),
            "{l}"
        );
        let l = line(&["brnet", "network"]);
        assert!(l.starts_with("brnet: network: "), "{l}");
        let l = line(&["brnet", "nope"]);
        assert!(
            l.starts_with("brnet: usage: unrecognized subcommand 'nope'"),
            "{l}"
        );
        for args in [
            &["brnet", "network", "create"][..],
            &["brnet", "nope"],
            &["brnet"],
        ] {
            assert!(!line(args).contains('\n'), "{args:?}");
        }
    }
}
