//! netavark's command line: `[--config DIR] [--rootless=BOOL]
//! [--aardvark-binary PATH] [--file FILE] setup|teardown NETNS_PATH`,
//! `version`, `--version`. Options take `--opt VALUE` or `--opt=VALUE`, and
//! netavark's short forms (`-c`, `-r`, `-a`, `-f`).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Connect the namespace to the networks on stdin.
    Setup(PathBuf),
    /// Disconnect it.
    Teardown(PathBuf),
    /// Print the version as JSON.
    Version,
    /// Print `netavark VERSION (brnet-netavark VERSION)`.
    VersionFlag,
    /// `update NETWORK --network-dns-servers IP...`: the name servers the
    /// network's resolver forwards to (none: the host's).
    Update {
        /// The network.
        network: String,
        /// Its name servers.
        dns_servers: Vec<String>,
    },
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// `--config DIR`: Podman's directory for the backend's own files.
    pub config: Option<PathBuf>,
    /// `--rootless`: accepted; bridge-net needs `CAP_NET_ADMIN` in the
    /// namespace it runs in, as Podman's rootless network namespace gives.
    pub rootless: bool,
    /// `--aardvark-binary`: accepted and unused (bridge-net resolves names
    /// itself).
    pub aardvark_binary: Option<PathBuf>,
    /// `--file FILE`: the options from a file instead of stdin (`-`: stdin).
    pub file: Option<PathBuf>,
    /// The command.
    pub command: Command,
}

fn usage(arg: &str, problem: &'static str) -> Error {
    Error::Usage {
        arg: arg.to_owned(),
        problem,
    }
}

impl Args {
    /// Parse the arguments after the program's name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args> {
        let mut config = None;
        let mut rootless = false;
        let mut aardvark_binary = None;
        let mut file = None;
        let mut it = args.into_iter();
        let mut positional = Vec::new();
        let mut dns_servers = Vec::new();
        while let Some(arg) = it.next() {
            // Options come before the command, but `update`'s own option
            // after it.
            let update = positional.first().is_some_and(|c| c == "update");
            if (!positional.is_empty() && !update) || !arg.starts_with('-') || arg == "-" {
                positional.push(arg);
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let value = |it: &mut dyn Iterator<Item = String>| -> Result<String> {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| usage(&name, "needs a value"))
            };
            match name.as_str() {
                "-c" | "--config" => config = Some(PathBuf::from(value(&mut it)?)),
                "-r" | "--rootless" => {
                    rootless = match value(&mut it)?.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(usage(&arg, "expected true or false")),
                    }
                }
                "-a" | "--aardvark-binary" => {
                    aardvark_binary = Some(PathBuf::from(value(&mut it)?))
                }
                "-f" | "--file" => file = Some(PathBuf::from(value(&mut it)?)),
                "--network-dns-servers" if update => dns_servers.push(value(&mut it)?),
                "-V" | "--version" => {
                    return Ok(Args {
                        config,
                        rootless,
                        aardvark_binary,
                        file,
                        command: Command::VersionFlag,
                    });
                }
                _ => return Err(usage(&arg, "unknown option")),
            }
        }
        let mut pos = positional.into_iter();
        let command = match pos.next().as_deref() {
            Some("setup") => Command::Setup(netns(pos.next(), "setup")?),
            Some("teardown") => Command::Teardown(netns(pos.next(), "teardown")?),
            Some("version") => Command::Version,
            Some("update") => {
                let network = pos
                    .next()
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| usage("update", "needs the network's name"))?;
                // Each value may be a comma-separated list; an empty one
                // (Podman's way of dropping the last) is none.
                let dns_servers = dns_servers
                    .iter()
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect();
                Command::Update {
                    network,
                    dns_servers,
                }
            }
            Some(c @ ("firewalld-reload" | "dhcp-proxy" | "network-create")) => {
                return Err(usage(c, "not implemented by bridge-net"));
            }
            Some(c) => return Err(usage(c, "unknown command")),
            None => return Err(usage("", "missing command")),
        };
        if let Some(extra) = pos.next() {
            return Err(usage(&extra, "unexpected argument"));
        }
        Ok(Args {
            config,
            rootless,
            aardvark_binary,
            file,
            command,
        })
    }
}

fn netns(arg: Option<String>, cmd: &str) -> Result<PathBuf> {
    match arg {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(usage(cmd, "needs the network namespace's path")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args> {
        Args::parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn podman_argv() {
        // setup-argv.txt, as captured.
        let a = parse("--config /run/containers/networks --rootless=false --aardvark-binary=/usr/lib/podman/aardvark-dns setup /run/netns/netns-29b5").unwrap();
        assert_eq!(a.config.unwrap(), PathBuf::from("/run/containers/networks"));
        assert!(!a.rootless);
        assert_eq!(
            a.aardvark_binary.unwrap(),
            PathBuf::from("/usr/lib/podman/aardvark-dns")
        );
        assert_eq!(a.command, Command::Setup("/run/netns/netns-29b5".into()));
        let a = parse("-c /x -f opts.json teardown /run/netns/n").unwrap();
        assert_eq!(a.file.unwrap(), PathBuf::from("opts.json"));
        assert_eq!(a.command, Command::Teardown("/run/netns/n".into()));
        assert_eq!(parse("version").unwrap().command, Command::Version);
        assert_eq!(parse("--version").unwrap().command, Command::VersionFlag);
    }

    #[test]
    fn update_line() {
        // As netavark's own suite (and Podman 4.6+) call it.
        let a = parse("--config /c --rootless false update podman1 --network-dns-servers 8.8.8.8 --network-dns-servers=1.1.1.1,9.9.9.9").unwrap();
        assert_eq!(a.config.unwrap(), PathBuf::from("/c"));
        assert_eq!(
            a.command,
            Command::Update {
                network: "podman1".into(),
                dns_servers: vec!["8.8.8.8".into(), "1.1.1.1".into(), "9.9.9.9".into()],
            }
        );
        let a = parse("update podman1 --network-dns-servers=").unwrap();
        assert_eq!(
            a.command,
            Command::Update {
                network: "podman1".into(),
                dns_servers: vec![],
            }
        );
    }

    #[test]
    fn bad_lines() {
        for (line, want) in [
            ("", "missing command"),
            ("setup", "setup: needs the network namespace's path"),
            ("--rootless=maybe setup /x", "expected true or false"),
            ("--bogus setup /x", "--bogus: unknown option"),
            ("frobnicate", "frobnicate: unknown command"),
            ("setup /x /y", "/y: unexpected argument"),
            ("--config", "--config: needs a value"),
            ("firewalld-reload", "firewalld-reload: not implemented"),
            ("update", "update: needs the network's name"),
            ("update net --bogus x", "--bogus: unknown option"),
        ] {
            let e = parse(line).unwrap_err().to_string();
            assert!(e.contains(want), "{line:?}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
