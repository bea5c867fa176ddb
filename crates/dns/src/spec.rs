//! The spec the resolver serves ([`Spec`], the file [`SPEC_FILE`]) and the
//! changes to it appended to the journal ([`Change`], [`JOURNAL_FILE`]):
//! below both the serving loop (`serve`) and the records kept change by
//! change (`live`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::table::{Entry, Network, Table};

/// The spec, in the directory.
pub const SPEC_FILE: &str = "resolver.json";
/// The changes since the spec, in the directory.
pub const JOURNAL_FILE: &str = "resolver.journal";

/// What to serve: the embedder's view of its DNS-enabled networks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The addresses to answer on (each network's gateway); the port is
    /// the resolver's.
    #[serde(default)]
    pub listen: Vec<IpAddr>,
    /// The networks.
    #[serde(default)]
    pub networks: Vec<SpecNetwork>,
}

/// A network of a [`Spec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecNetwork {
    /// Its name (the key of its records).
    pub name: String,
    /// Its search domain (default [`crate::DEFAULT_DOMAIN`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Forward names that are not ours upstream (false: internal
    /// networks get REFUSED).
    pub forward: bool,
    /// Its endpoints.
    #[serde(default)]
    pub entries: Vec<SpecEntry>,
    /// Its own name servers (port 53), asked instead of the resolver's
    /// upstreams for its containers' other names; empty: the resolver's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<IpAddr>,
}

/// An endpoint of a [`SpecNetwork`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecEntry {
    /// The container's name.
    pub name: String,
    /// The container's key (its endpoints on several networks share it:
    /// the asker is known by its address).
    pub container: String,
    /// Its addresses on the network.
    pub addrs: Vec<IpAddr>,
    /// Its aliases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl Spec {
    /// Read the spec at `path`; a missing file is an empty spec.
    pub fn read(path: &Path) -> Result<Spec> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Spec::default()),
            Err(source) => {
                return Err(Error::Serve {
                    op: "read",
                    path: path.to_owned(),
                    cause: source,
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::Spec {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    /// Write it to `path` whole: a temp file beside it, renamed.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(
            &tmp,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, path)
    }

    /// Whether there is a name to serve.
    pub fn wanted(&self) -> bool {
        self.networks.iter().any(|n| !n.entries.is_empty())
    }

    /// The records. What cannot be served (a name that is not a DNS name)
    /// is logged to standard error and left out; the rest is served.
    pub fn table(&self) -> Table {
        let mut table = Table::new();
        for n in self.networks.iter().filter(|n| !n.entries.is_empty()) {
            if let Some(network) = network_of(n) {
                let _ = table.insert(network);
            }
            for e in &n.entries {
                let entry = entry_of(e);
                if let Err(err) = table.add_entry(&n.name, entry) {
                    tracing::warn!("network {:?}: {:?} is not served: {err}", n.name, e.name);
                }
            }
        }
        table
    }
}

/// A change to a [`Spec`], a line of the journal ([`JOURNAL_FILE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// An endpoint joins a network the spec has.
    Add {
        /// The network's name.
        network: String,
        /// The endpoint.
        entry: SpecEntry,
    },
    /// An endpoint leaves a network: the entry of the same name and
    /// container goes.
    Remove {
        /// The network's name.
        network: String,
        /// The endpoint.
        entry: SpecEntry,
    },
}

impl Spec {
    /// Apply a change. `false` (and nothing changed) when its network is
    /// not in the spec, or the entry to remove is not there.
    pub fn apply(&mut self, change: Change) -> bool {
        let (Change::Add { network, .. } | Change::Remove { network, .. }) = &change;
        let Some(net) = self.networks.iter_mut().find(|n| n.name == *network) else {
            return false;
        };
        match change {
            Change::Add { entry, .. } => {
                net.entries.push(entry);
                true
            }
            Change::Remove { entry, .. } => {
                // The latest first: a name added again replaces the older.
                match net
                    .entries
                    .iter()
                    .rposition(|e| e.name == entry.name && e.container == entry.container)
                {
                    Some(i) => {
                        net.entries.remove(i);
                        true
                    }
                    None => false,
                }
            }
        }
    }
}

/// The network a spec's network is served as (as [`Spec::table`] has
/// it): `None` when it cannot be served at all.
pub(crate) fn network_of(n: &SpecNetwork) -> Option<Network> {
    let upstreams: Vec<SocketAddr> = n
        .upstreams
        .iter()
        .map(|a| SocketAddr::new(*a, 53))
        .collect();
    let mut network = Network::new(n.name.clone())
        .forward(n.forward)
        .upstreams(upstreams.iter().copied());
    if let Some(d) = &n.domain {
        network = network.domain(d.clone());
    }
    if network.check().is_ok() {
        return Some(network);
    }
    tracing::warn!(
        "network {:?}: its search domain is not a DNS name; serving it without one",
        n.name
    );
    let mut plain = Network::new(n.name.clone())
        .forward(n.forward)
        .upstreams(upstreams);
    plain.check().ok().map(|()| plain)
}

/// An endpoint of the spec as a table entry.
pub(crate) fn entry_of(e: &SpecEntry) -> Entry {
    let mut entry = Entry::new(e.name.clone(), e.addrs.clone()).container(e.container.clone());
    entry.aliases.clone_from(&e.aliases);
    entry
}
