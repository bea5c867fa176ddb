//! clap's verdicts: help and version on stdout, usage errors folded into
//! our one line.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap::error::ErrorKind;

use crate::args::Cli;
use crate::failure::{Exit, one_line};

/// Help and version go to stdout (exit 0); a usage error is one line on
/// stderr, `brnet: <command>: <what clap says> (see 'brnet <command>
/// --help')`, and exit 2.
pub fn report(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return Exit::Ok.into();
    }
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let _ = writeln!(std::io::stderr(), "{}", line(e, &argv));
    Exit::Usage.into()
}

/// The one line for usage error `e` of the command line `argv`.
pub fn line(e: &clap::Error, argv: &[String]) -> String {
    let why = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap would print the whole help where a command was expected.
        "a command is expected".to_owned()
    } else {
        // The error and clap's tips ("a similar subcommand exists: 'ls'"),
        // without the usage and the pointer to --help (ours is added).
        let rendered = e.render().to_string();
        let mut parts = rendered.split("\n\n");
        let first = parts.next().unwrap_or_default();
        let mut text = first.trim_start_matches("error: ").to_owned();
        for tip in parts.filter(|p| p.trim_start().starts_with("tip:")) {
            text.push('\n');
            text.push_str(tip);
        }
        one_line(&text)
    };
    let command = command_path(argv).join(" ");
    if command.is_empty() {
        format!("brnet: usage: {why} (see 'brnet --help')")
    } else {
        format!("brnet: {command}: {why} (see 'brnet {command} --help')")
    }
}

/// The (sub)commands named in `argv` (`network create`), found by walking
/// clap's command tree; options and their values are stepped over.
fn command_path(argv: &[String]) -> Vec<String> {
    let mut root = Cli::command();
    root.build();
    let mut cmd = &root;
    let mut path = Vec::new();
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        let takes_value =
            |found: Option<&clap::Arg>| found.is_some_and(|arg| arg.get_action().takes_values());
        if let Some(long) = a.strip_prefix("--") {
            if !long.contains('=')
                && takes_value(cmd.get_arguments().find(|x| x.get_long() == Some(long)))
            {
                args.next();
            }
            continue;
        }
        if let Some(short) = a.strip_prefix('-') {
            let mut chars = short.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && takes_value(cmd.get_arguments().find(|x| x.get_short() == Some(c)))
            {
                args.next();
            }
            continue;
        }
        match cmd.find_subcommand(a) {
            Some(sub) => {
                path.push(sub.get_name().to_owned());
                cmd = sub;
            }
            None => break,
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn check(args: &[&str]) -> String {
        let argv: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        line(&Cli::try_parse_from(&argv).unwrap_err(), &argv)
    }

    #[test]
    fn usage_errors_are_one_line() {
        assert_eq!(
            check(&["brnet", "network", "create"]),
            "brnet: network create: the following required arguments were not provided: <NAME> \
             (see 'brnet network create --help')"
        );
        let l = check(&["brnet", "network", "ls", "--bogus"]);
        assert!(
            l.starts_with("brnet: network ls: unexpected argument '--bogus' found"),
            "{l}"
        );
        assert_eq!(
            check(&[
                "brnet",
                "--state-dir",
                "network",
                "network",
                "list",
                "--format",
                "xml"
            ]),
            "brnet: network ls: invalid value 'xml' for '--format <FORMAT>': not table, json, \
             or a Go template ('{{.Name}}', 'table {{.ID}}\\t{{.Name}}') \
             (see 'brnet network ls --help')"
        );
        let l = check(&[
            "brnet", "network", "connect", "-p", "80", "--ip", "1.2.3.4", "web",
        ]);
        assert!(l.starts_with("brnet: network connect: "), "{l}");
        let l = check(&["brnet", "--firewall", "pf", "network", "ls"]);
        assert!(
            l.starts_with("brnet: network ls: invalid value 'pf'") && l.contains("nftables"),
            "{l}"
        );
        assert_eq!(
            check(&["brnet", "network"]),
            "brnet: network: a command is expected (see 'brnet network --help')"
        );
        assert_eq!(
            check(&["brnet"]),
            "brnet: usage: a command is expected (see 'brnet --help')"
        );
        assert_eq!(
            check(&["brnet", "network", "creat"]),
            "brnet: network: unrecognized subcommand 'creat'; tip: a similar subcommand exists: \
             'create' (see 'brnet network --help')"
        );
        let l = check(&["brnet", "network", "ls", "--no-trun"]);
        assert!(
            l.contains("tip: a similar argument exists: '--no-trunc'"),
            "{l}"
        );
        let l = check(&["brnet", "nope"]);
        assert!(
            l.starts_with("brnet: usage: unrecognized subcommand 'nope'"),
            "{l}"
        );
    }
}
