//! The records, as the caller gives them: networks, each with a search
//! domain and its endpoints. Names are checked when they enter a
//! [`Table`]; the resolver then compiles the table into lookup maps
//! ([`crate::Records`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use crate::error::{Error, NameProblem, Result};

/// The search domain a network gets unless told otherwise.
pub const DEFAULT_DOMAIN: &str = "dns.brnet";

/// One endpoint on a network: a container's name, its aliases on that
/// network, and its addresses there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The container's name (answered for, and the target of PTR records).
    pub name: String,
    /// More names for the same addresses, on this network only.
    pub aliases: Vec<String>,
    /// The endpoint's addresses on this network (A for IPv4, AAAA for IPv6).
    pub addrs: Vec<IpAddr>,
    /// What ties this entry to the entries of the same container on other
    /// networks (e.g. its namespace path). An asker's source address finds
    /// its entry, and through this key every network its container is on.
    /// `None` means the name is the key.
    pub container: Option<String>,
}

impl Entry {
    /// An entry with a name and addresses, no aliases, keyed by its name.
    pub fn new(name: impl Into<String>, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        Self {
            name: name.into(),
            aliases: Vec::new(),
            addrs: addrs.into_iter().collect(),
            container: None,
        }
    }

    /// Add an alias.
    #[must_use]
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// Set the container key (see [`Entry::container`]).
    #[must_use]
    pub fn container(mut self, key: impl Into<String>) -> Self {
        self.container = Some(key.into());
        self
    }

    /// The key tying this entry to its container's other entries.
    pub fn container_key(&self) -> &str {
        self.container.as_deref().unwrap_or(&self.name)
    }

    pub(crate) fn check(&self, network: &str, domain: &str) -> Result<()> {
        for name in std::iter::once(&self.name).chain(&self.aliases) {
            check_name(name, domain).map_err(|problem| Error::InvalidName {
                network: network.to_owned(),
                name: name.clone(),
                problem,
            })?;
        }
        Ok(())
    }
}

/// A network's records: its id, its search domain, whether its
/// containers' other queries are forwarded upstream, and its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The network's id (bridge-net's network name).
    pub id: String,
    /// The search domain: names are answered bare and under it.
    pub domain: String,
    /// Whether queries for names that are not ours, from containers on
    /// this network, are forwarded upstream. `false` for internal networks
    /// (they are answered REFUSED), unless the asker is also on a network
    /// that forwards.
    pub forward: bool,
    /// The endpoints.
    pub entries: Vec<Entry>,
    /// Where this network's containers' other queries go, in order (the
    /// network's own name servers: netavark's `network_dns_servers`);
    /// empty: the resolver's upstreams.
    pub upstreams: Vec<SocketAddr>,
}

impl Network {
    /// A network with the default domain ([`DEFAULT_DOMAIN`]), forwarding
    /// to the resolver's upstreams, and no entries.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            domain: DEFAULT_DOMAIN.to_owned(),
            forward: true,
            entries: Vec::new(),
            upstreams: Vec::new(),
        }
    }

    /// Forward this network's other queries to these name servers instead
    /// of the resolver's upstreams (see [`Network::upstreams`]).
    #[must_use]
    pub fn upstreams(mut self, upstreams: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.upstreams = upstreams.into_iter().collect();
        self
    }

    /// Set the search domain (a trailing dot is allowed).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into();
        self
    }

    /// Set whether other names are forwarded (see [`Network::forward`]).
    #[must_use]
    pub fn forward(mut self, forward: bool) -> Self {
        self.forward = forward;
        self
    }

    /// Add an entry.
    #[must_use]
    pub fn entry(mut self, entry: Entry) -> Self {
        self.entries.push(entry);
        self
    }

    pub(crate) fn check(&mut self) -> Result<()> {
        if self.id.is_empty() {
            return Err(Error::EmptyNetworkId);
        }
        let trimmed = self.domain.strip_suffix('.').unwrap_or(&self.domain);
        check_name(trimmed, "").map_err(|problem| Error::InvalidDomain {
            network: self.id.clone(),
            domain: self.domain.clone(),
            problem,
        })?;
        self.domain = trimmed.to_owned();
        for entry in &self.entries {
            entry.check(&self.id, &self.domain)?;
        }
        Ok(())
    }
}

/// Every network's records. Checked on the way in, so a `Table` always
/// compiles.
///
/// ```
/// use brnet_dns::{Entry, Network, Table};
///
/// let mut table = Table::new();
/// table.insert(
///     Network::new("customNetwork")
///         .entry(Entry::new("web", ["10.89.0.2".parse().unwrap()]).alias("www"))
///         .entry(Entry::new("db", ["10.89.0.3".parse().unwrap()])),
/// )?;
/// table.remove_entry("customNetwork", "db");
/// table.add_entry("customNetwork", Entry::new("cache", ["10.89.0.4".parse().unwrap()]))?;
/// assert_eq!(table.get("customNetwork").unwrap().entries.len(), 2);
/// # Ok::<(), brnet_dns::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    networks: BTreeMap<String, Network>,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Insert a network with its entries, replacing the network of the
    /// same id (returned). Fails, leaving the table as it was, when the
    /// id, the domain or a name is invalid.
    pub fn insert(&mut self, mut network: Network) -> Result<Option<Network>> {
        network.check()?;
        Ok(self.networks.insert(network.id.clone(), network))
    }

    /// Remove a network and its entries.
    pub fn remove(&mut self, id: &str) -> Option<Network> {
        self.networks.remove(id)
    }

    /// Add an entry to a network, replacing the entry of the same name
    /// (ASCII case ignored), which is returned.
    pub fn add_entry(&mut self, network: &str, entry: Entry) -> Result<Option<Entry>> {
        let net = self
            .networks
            .get_mut(network)
            .ok_or_else(|| Error::UnknownNetwork {
                network: network.to_owned(),
            })?;
        entry.check(&net.id, &net.domain)?;
        let old = net
            .entries
            .iter()
            .position(|e| e.name.eq_ignore_ascii_case(&entry.name))
            .map(|i| net.entries.remove(i));
        net.entries.push(entry);
        Ok(old)
    }

    /// Remove the entry of a name (ASCII case ignored) from a network.
    pub fn remove_entry(&mut self, network: &str, name: &str) -> Option<Entry> {
        let net = self.networks.get_mut(network)?;
        let i = net
            .entries
            .iter()
            .position(|e| e.name.eq_ignore_ascii_case(name))?;
        Some(net.entries.remove(i))
    }

    /// A network by id.
    pub fn get(&self, id: &str) -> Option<&Network> {
        self.networks.get(id)
    }

    /// The networks, by id.
    pub fn networks(&self) -> impl Iterator<Item = &Network> {
        self.networks.values()
    }

    /// Whether the table has no network.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

/// Check a dotted name (a container name, an alias, or a domain): labels of
/// 1 to 63 ASCII letters, digits, `-` or `_`; at most 253 characters with
/// `domain` appended.
pub(crate) fn check_name(name: &str, domain: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    let full = if domain.is_empty() {
        name.len()
    } else {
        name.len() + 1 + domain.len()
    };
    if full > 253 {
        return Err(NameProblem::TooLong);
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameProblem::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameProblem::LabelTooLong(label.to_owned()));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(NameProblem::BadChar(c));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("web", ""), Ok(()));
        assert_eq!(check_name("my_app-1.v2", "dns.brnet"), Ok(()));
        assert_eq!(check_name("", ""), Err(NameProblem::Empty));
        assert_eq!(check_name("a..b", ""), Err(NameProblem::EmptyLabel));
        assert_eq!(check_name(".a", ""), Err(NameProblem::EmptyLabel));
        assert_eq!(check_name("a b", ""), Err(NameProblem::BadChar(' ')));
        assert_eq!(check_name("é", ""), Err(NameProblem::BadChar('é')));
        let long = "a".repeat(64);
        assert_eq!(
            check_name(&long, ""),
            Err(NameProblem::LabelTooLong(long.clone()))
        );
        let many = vec!["a".repeat(63); 4].join(".");
        assert_eq!(check_name(&many, ""), Err(NameProblem::TooLong));
        assert_eq!(
            check_name(&"a".repeat(60), &many[..200]),
            Err(NameProblem::TooLong)
        );
    }

    #[test]
    fn insert_rejects_bad_input_and_keeps_the_table() {
        let mut t = Table::new();
        t.insert(Network::new("n1")).unwrap();
        let err = t
            .insert(Network::new("n1").entry(Entry::new("bad name", [ip("10.0.0.2")])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "network \"n1\": invalid name \"bad name\": character ' ' not allowed (ASCII letters, digits, '-', '_' and '.' between labels)"
        );
        let err = t.insert(Network::new("n2").domain("a..b")).unwrap_err();
        assert!(matches!(err, Error::InvalidDomain { .. }), "{err}");
        assert!(matches!(
            t.insert(Network::new("")),
            Err(Error::EmptyNetworkId)
        ));
        assert_eq!(t.networks().count(), 1);
    }

    #[test]
    fn trailing_dot_of_domain_is_dropped() {
        let mut t = Table::new();
        t.insert(Network::new("n1").domain("example.internal."))
            .unwrap();
        assert_eq!(t.get("n1").unwrap().domain, "example.internal");
    }

    #[test]
    fn entries_replace_by_name_ignoring_case() {
        let mut t = Table::new();
        t.insert(Network::new("n1")).unwrap();
        assert_eq!(
            t.add_entry("n1", Entry::new("Web", [ip("10.0.0.2")]))
                .unwrap(),
            None
        );
        let old = t
            .add_entry("n1", Entry::new("web", [ip("10.0.0.3")]))
            .unwrap();
        assert_eq!(old.unwrap().addrs, vec![ip("10.0.0.2")]);
        assert_eq!(t.get("n1").unwrap().entries.len(), 1);
        assert!(t.remove_entry("n1", "WEB").is_some());
        assert!(t.remove_entry("n1", "web").is_none());
        assert!(matches!(
            t.add_entry("n9", Entry::new("x", [])),
            Err(Error::UnknownNetwork { .. })
        ));
        assert!(t.remove("n1").is_some());
        assert!(t.is_empty());
    }

    #[test]
    fn container_key_defaults_to_name() {
        let e = Entry::new("web", []);
        assert_eq!(e.container_key(), "web");
        assert_eq!(e.container("ns/c1").container_key(), "ns/c1");
    }
}
