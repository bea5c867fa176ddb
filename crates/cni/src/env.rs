//! The `CNI_*` environment variables, checked once (error code 4, naming
//! the variable).

use std::path::PathBuf;

use bridge_net::brnet_netlink::IfName;

use crate::error::{Error, Result};

/// `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Attach.
    Add,
    /// Detach (idempotent).
    Del,
    /// Verify.
    Check,
    /// Readiness (1.1.0).
    Status,
    /// Release what the runtime no longer lists (1.1.0).
    Gc,
    /// The versions we speak.
    Version,
}

/// What the runtime passed in the environment.
#[derive(Debug, Clone)]
pub struct Env {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID` (ADD, DEL, CHECK).
    pub container_id: String,
    /// `CNI_NETNS` (ADD, CHECK; optional for DEL).
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME` (ADD, DEL, CHECK).
    pub ifname: String,
    /// `CNI_ARGS`, as `KEY=VALUE` pairs.
    pub args: Vec<(String, String)>,
}

fn var(name: &'static str, get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    get(name).filter(|v| !v.is_empty())
}

impl Env {
    /// Read the variables through `get` (`std::env::var` in the binary).
    pub fn read(get: &dyn Fn(&str) -> Option<String>) -> Result<Env> {
        let command = match var("CNI_COMMAND", get).as_deref() {
            Some("ADD") => Command::Add,
            Some("DEL") => Command::Del,
            Some("CHECK") => Command::Check,
            Some("STATUS") => Command::Status,
            Some("GC") => Command::Gc,
            Some("VERSION") => Command::Version,
            Some(other) => {
                return Err(Error::env(
                    "CNI_COMMAND",
                    other,
                    "expected ADD, DEL, CHECK, STATUS, GC or VERSION",
                ));
            }
            None => return Err(Error::env("CNI_COMMAND", "", "missing")),
        };
        let per_container = matches!(command, Command::Add | Command::Del | Command::Check);
        let container_id = var("CNI_CONTAINERID", get).unwrap_or_default();
        let ifname = var("CNI_IFNAME", get).unwrap_or_default();
        let netns = var("CNI_NETNS", get).map(PathBuf::from);
        if per_container {
            check_container_id(&container_id)?;
            IfName::new(&ifname).map_err(|e| Error::env("CNI_IFNAME", &ifname, e))?;
            if command != Command::Del {
                match &netns {
                    None => return Err(Error::env("CNI_NETNS", "", "missing")),
                    Some(p) if !p.exists() => {
                        return Err(Error::env(
                            "CNI_NETNS",
                            p.display().to_string(),
                            "no such network namespace",
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let args = var("CNI_ARGS", get)
            .map(|a| {
                a.split(';')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) => (k.to_owned(), v.to_owned()),
                        None => (kv.to_owned(), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Env {
            command,
            container_id,
            netns,
            ifname,
            args,
        })
    }

    /// The container's name for name resolution: `K8S_POD_NAME` (Podman
    /// passes the container's name there), else the id's first 12 digits.
    pub fn container_name(&self) -> String {
        self.args
            .iter()
            .find(|(k, v)| k == "K8S_POD_NAME" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| self.container_id.chars().take(12).collect())
    }
}

/// The spec's rule: at least one character, alphanumerics, `_`, `.`, `-`,
/// starting with an alphanumeric.
fn check_container_id(id: &str) -> Result<()> {
    let ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else if id.is_empty() {
        Err(Error::env("CNI_CONTAINERID", id, "missing"))
    } else {
        Err(Error::env(
            "CNI_CONTAINERID",
            id,
            "expected letters, digits, '_', '.' and '-', starting with a letter or digit",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Env> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::read(&|k: &str| m.get(k).cloned())
    }

    #[test]
    fn podman_add() {
        let e = env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "14479835730f"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/proc/self/ns/net"),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web"),
        ])
        .unwrap();
        assert_eq!(e.command, Command::Add);
        assert_eq!(e.container_name(), "web");
    }

    #[test]
    fn bad_environments_name_the_variable() {
        for (pairs, var) in [
            (vec![], "CNI_COMMAND"),
            (vec![("CNI_COMMAND", "FROB")], "CNI_COMMAND"),
            (
                vec![
                    ("CNI_COMMAND", "ADD"),
                    ("CNI_IFNAME", "eth0"),
                    ("CNI_NETNS", "/proc/self/ns/net"),
                ],
                "CNI_CONTAINERID",
            ),
            (
                vec![
                    ("CNI_COMMAND", "ADD"),
                    ("CNI_CONTAINERID", "-x"),
                    ("CNI_IFNAME", "eth0"),
                ],
                "CNI_CONTAINERID",
            ),
            (
                vec![
                    ("CNI_COMMAND", "ADD"),
                    ("CNI_CONTAINERID", "c"),
                    ("CNI_IFNAME", "eth0"),
                ],
                "CNI_NETNS",
            ),
            (
                vec![
                    ("CNI_COMMAND", "ADD"),
                    ("CNI_CONTAINERID", "c"),
                    ("CNI_IFNAME", "eth0"),
                    ("CNI_NETNS", "/nonexistent/ns"),
                ],
                "CNI_NETNS",
            ),
            (
                vec![
                    ("CNI_COMMAND", "CHECK"),
                    ("CNI_CONTAINERID", "c"),
                    ("CNI_IFNAME", "a-name-far-too-long"),
                    ("CNI_NETNS", "/proc/self/ns/net"),
                ],
                "CNI_IFNAME",
            ),
        ] {
            let e = env(&pairs).unwrap_err();
            assert_eq!(e.code(), crate::error::Code::InvalidEnvironment);
            assert!(e.to_string().contains(var), "{e}");
        }
        // DEL without a namespace is allowed; VERSION needs nothing else.
        env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c"),
            ("CNI_IFNAME", "eth0"),
        ])
        .unwrap();
        env(&[("CNI_COMMAND", "VERSION")]).unwrap();
    }
}
