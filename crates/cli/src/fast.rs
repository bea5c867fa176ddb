//! The calls a runtime makes once per container — `network connect`,
//! `network disconnect` — and `--version`, read without building clap's
//! whole command tree (every command, flag and help text: about half a
//! million instructions and the pages of clap's code, on each call).
//!
//! Only plain shapes are taken here: `--opt VALUE`, `--opt=VALUE`, `-p
//! VALUE`, `-v`... and the global options anywhere. Anything else (help,
//! an unknown or repeated option, a value that starts with `-`, `--`, a
//! missing or extra operand, an empty `$BRNET_STATE_DIR`, arguments that
//! are not UTF-8) returns `None`, and the caller asks clap, which parses it
//! or explains what is wrong. What this takes, clap reads the same way
//! (the tests compare the two).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::args::{
    Cli, Command, ConnectArgs, ConnectFormat, DisconnectArgs, Firewall, NetworkCommand,
};

/// What the command line asks, when it is one of the plain shapes.
#[derive(Debug)]
pub enum Fast {
    /// `brnet --version` (or `-V`): print [`version`].
    Version,
    /// A command, as clap would have parsed it.
    Cli(Box<Cli>),
}

/// What `brnet --version` prints (as clap does).
pub fn version() -> String {
    format!("brnet {}\n", env!("CARGO_PKG_VERSION"))
}

/// The options of `network connect` that take a value (and `-p`).
const CONNECT_OPTS: &[&str] = &[
    "ip",
    "ip6",
    "mac",
    "alias",
    "name",
    "ifname",
    "publish",
    "gw-priority",
    "container-id",
    "format",
];

/// Those of them that may be given more than once.
const REPEATABLE: &[&str] = &["alias", "publish"];

/// `args` (without the program's name), with `env` reading the
/// environment; `None` when clap must read them.
pub fn parse(args: &[OsString], env: impl Fn(&str) -> Option<OsString>) -> Option<Fast> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
    if matches!(args.as_slice(), ["--version" | "-V"]) {
        return Some(Fast::Version);
    }
    let mut state_dir: Option<&str> = None;
    let mut firewall: Option<&str> = None;
    let mut verbose: u8 = 0;
    let mut all = false;
    // Operands, the two command words first.
    let mut words: Vec<&str> = Vec::new();
    // The command's own options, in order.
    let mut opts: Vec<(&str, &str)> = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (name, inline) = if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            }
        } else if let Some(short) = a.strip_prefix('-') {
            match short {
                "" => return None,
                "p" => ("publish", None),
                s if s.bytes().all(|b| b == b'v') => {
                    verbose = verbose.checked_add(u8::try_from(s.len()).ok()?)?;
                    continue;
                }
                _ => return None,
            }
        } else {
            words.push(a);
            continue;
        };
        // The command's options only after its name, as clap has them.
        let command: &[&str] = words.get(..2).unwrap_or_default();
        match name {
            "verbose" if inline.is_none() => {
                verbose = verbose.checked_add(1)?;
                continue;
            }
            "all" if inline.is_none() && command == ["network", "disconnect"] && !all => {
                all = true;
                continue;
            }
            "state-dir" | "firewall" => {}
            n if command == ["network", "connect"] && CONNECT_OPTS.contains(&n) => {}
            _ => return None,
        }
        let value = match inline {
            Some(v) => v,
            None => it.next()?,
        };
        if value.starts_with('-') {
            return None;
        }
        match name {
            "state-dir" => once(&mut state_dir, value)?,
            "firewall" => once(&mut firewall, value)?,
            _ => {
                if !REPEATABLE.contains(&name) && opts.iter().any(|(n, _)| *n == name) {
                    return None;
                }
                opts.push((name, value));
            }
        }
    }

    let state_dir = match state_dir {
        Some(d) => PathBuf::from(d),
        None => match env("BRNET_STATE_DIR") {
            Some(d) if d.is_empty() => return None,
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(bridge_net::DEFAULT_STATE_DIR),
        },
    };
    let firewall = match firewall {
        None | Some("nftables") => Firewall::Nftables,
        Some("nft-cmd") => Firewall::NftCmd,
        Some("iptables") => Firewall::Iptables,
        Some("none") => Firewall::None,
        Some(_) => return None,
    };
    let command = match words.as_slice() {
        ["network", "connect", network, netns] => {
            let one = |key: &str| {
                opts.iter()
                    .find(|(n, _)| *n == key)
                    .map(|(_, v)| (*v).to_owned())
            };
            let many = |key: &str| {
                opts.iter()
                    .filter(|(n, _)| *n == key)
                    .map(|(_, v)| (*v).to_owned())
                    .collect::<Vec<_>>()
            };
            let gw_priority = match one("gw-priority") {
                Some(p) => Some(p.parse::<i32>().ok()?),
                None => None,
            };
            let format = match one("format").as_deref() {
                None | Some("text") => ConnectFormat::Text,
                Some("json") => ConnectFormat::Json,
                Some(_) => return None,
            };
            NetworkCommand::Connect(ConnectArgs {
                ip: one("ip"),
                ip6: one("ip6"),
                mac: one("mac"),
                alias: many("alias"),
                name: one("name"),
                ifname: one("ifname"),
                publish: many("publish"),
                gw_priority,
                container_id: one("container-id"),
                format,
                network: (*network).to_owned(),
                netns: (*netns).to_owned(),
            })
        }
        ["network", "disconnect", network, netns @ ..] if all || !netns.is_empty() => {
            NetworkCommand::Disconnect(DisconnectArgs {
                all,
                network: (*network).to_owned(),
                netns: netns.iter().map(|s| (*s).to_owned()).collect(),
            })
        }
        _ => return None,
    };
    Some(Fast::Cli(Box::new(Cli {
        state_dir,
        firewall,
        verbose,
        command: Command::Network(command),
    })))
}

/// Fill `slot` with `value`; `None` when it was filled already (clap
/// refuses an option given twice).
fn once<'a>(slot: &mut Option<&'a str>, value: &'a str) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// The fast reading of `args` beside clap's, both with the process's
    /// environment.
    fn both(args: &[&str]) -> (Option<String>, Result<String, String>) {
        let fast = parse(&os(args), |k| std::env::var_os(k)).map(|f| match f {
            Fast::Version => version(),
            Fast::Cli(c) => format!("{c:?}"),
        });
        let mut argv = vec!["brnet"];
        argv.extend_from_slice(args);
        let clap = match Cli::try_parse_from(&argv) {
            Ok(c) => Ok(format!("{c:?}")),
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => Ok(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        (fast, clap)
    }

    #[test]
    fn the_common_calls_are_read_as_clap_reads_them() {
        let taken: &[&[&str]] = &[
            &["--version"],
            &["-V"],
            &["network", "connect", "net", "c1"],
            &["--state-dir", "/tmp/s", "network", "connect", "net", "c1"],
            &[
                "--state-dir=/tmp/s",
                "-v",
                "network",
                "connect",
                "net",
                "/proc/1/ns/net",
            ],
            &[
                "network",
                "connect",
                "--state-dir",
                "/tmp/s",
                "net",
                "c1",
                "-vv",
            ],
            &["--firewall", "none", "network", "connect", "net", "c1"],
            &["--firewall=iptables", "network", "disconnect", "net", "c1"],
            &[
                "--firewall",
                "nft-cmd",
                "--verbose",
                "network",
                "disconnect",
                "net",
                "c1",
            ],
            &[
                "network",
                "connect",
                "-p",
                "8080:80",
                "--publish",
                "53:53/udp",
                "--publish=127.0.0.1:9000:90",
                "--ip",
                "10.88.0.9",
                "--ip6=fd00::9",
                "--mac",
                "02:42:0a:58:00:09",
                "--alias",
                "a1",
                "--alias=a2",
                "--name",
                "web",
                "--ifname",
                "eth1",
                "--gw-priority",
                "5",
                "--container-id",
                "abc",
                "--format",
                "json",
                "net",
                "c1",
            ],
            &["network", "connect", "net", "--format=text", "c1"],
            &["network", "disconnect", "net", "c1", "c2", "c3"],
            &["network", "disconnect", "--all", "c1"],
            &["network", "disconnect", "--all", "c1", "c2"],
            &["network", "disconnect", "c1", "--all", "c2", "-vvv"],
        ];
        for args in taken {
            let (fast, clap) = both(args);
            let fast = fast.unwrap_or_else(|| panic!("{args:?}: not taken"));
            assert_eq!(Ok(fast), clap, "{args:?}");
        }
    }

    #[test]
    fn everything_else_is_left_to_clap() {
        let left: &[&[&str]] = &[
            &[],
            &["--help"],
            &["network", "connect", "--help"],
            &["network", "--version"],
            &["network", "ls"],
            &["network", "create", "--subnet", "10.0.0.0/24", "n"],
            &["network", "connect", "net"],
            &["network", "connect", "net", "c1", "c2"],
            &[
                "network", "connect", "--ip", "10.0.0.1", "--ip", "10.0.0.2", "net", "c1",
            ],
            &["network", "connect", "--gw-priority", "-5", "net", "c1"],
            &["network", "connect", "--gw-priority", "x", "net", "c1"],
            &["network", "connect", "--format", "yaml", "net", "c1"],
            &["network", "connect", "--bogus", "net", "c1"],
            &["network", "connect", "-x", "net", "c1"],
            &["network", "connect", "-p8080:80", "net", "c1"],
            &["network", "connect", "--", "net", "c1"],
            &["network", "connect", "-", "c1"],
            &["network", "connect", "--all", "net", "c1"],
            &["--ip", "10.0.0.1", "network", "connect", "net", "c1"],
            &["network", "disconnect", "net"],
            &["network", "disconnect", "--all", "--all", "c1"],
            &["network", "disconnect", "-p", "80", "net", "c1"],
            &[
                "--state-dir",
                "a",
                "--state-dir",
                "b",
                "network",
                "disconnect",
                "n",
                "c",
            ],
            &["--firewall", "pf", "network", "disconnect", "net", "c1"],
            &["--state-dir", "network", "disconnect", "net", "c1"],
            &["netns", "add", "c1"],
            &["ps"],
        ];
        for args in left {
            let (fast, clap) = both(args);
            assert_eq!(fast, None, "{args:?} (clap: {clap:?})");
        }
        // Whatever the environment, an empty state directory variable is
        // clap's to judge.
        assert!(
            parse(&os(&["network", "disconnect", "n", "c"]), |_| Some(
                OsString::new()
            ))
            .is_none()
        );
        match parse(&os(&["network", "disconnect", "n", "c"]), |_| {
            Some("/tmp/from-env".into())
        }) {
            Some(Fast::Cli(c)) => assert_eq!(c.state_dir, PathBuf::from("/tmp/from-env")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn version_is_clap_s() {
        assert_eq!(version(), crate::command().render_version());
    }
}
