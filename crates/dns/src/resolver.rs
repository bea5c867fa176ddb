//! The resolver: listeners added and removed at run time, records swapped
//! whole, one forwarder for everything.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::config::Config;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::forward::Forwarder;
use crate::listener::Listener;
use crate::records::{Policy, Records};
use crate::report::Log;
use crate::stats::{Counters, Stats};
use crate::table::{Entry, Table};

/// A running resolver: one for every network, serving UDP and TCP on each
/// listen address, answering from its records and forwarding the rest.
///
/// All methods take `&self`: share it (`Arc<Resolver>`) between the
/// thread that manages listeners and the one that feeds records. Dropping
/// it stops it, as [`Resolver::stop`] does without the report.
///
/// ```no_run
/// use std::net::SocketAddr;
/// use brnet_dns::{Config, Entry, Network, Resolver, Table};
///
/// let resolver = Resolver::start(Config::from_resolv_conf(brnet_dns::RESOLV_CONF)?)?;
/// resolver.set_listeners(&["10.89.0.1:53".parse::<SocketAddr>().unwrap()])?;
/// let mut table = Table::new();
/// table.insert(Network::new("customNetwork").entry(Entry::new("web", ["10.89.0.2".parse().unwrap()])))?;
/// resolver.set_records(table);
/// resolver.add_entry("customNetwork", Entry::new("db", ["10.89.0.3".parse().unwrap()]))?;
/// resolver.stop()?;
/// # Ok::<(), brnet_dns::Error>(())
/// ```
pub struct Resolver {
    ctx: Arc<Context>,
    forwarder: Mutex<Option<Forwarder>>,
    listeners: Mutex<BTreeMap<SocketAddr, Listener>>,
    table: Mutex<Table>,
    policy: Policy,
}

impl Resolver {
    /// Start the forwarder, with no listener and no records yet.
    pub fn start(config: Config) -> Result<Resolver> {
        let stats = Arc::new(Counters::default());
        let log = Arc::new(Log::new(config.log.clone()));
        let forwarder = Forwarder::start(
            config.upstreams.clone(),
            config.forward_timeout,
            config.max_forwards,
            stats.clone(),
            log.clone(),
        )?;
        let ctx = Arc::new(Context {
            records: RwLock::new(Arc::new(Records::empty(config.policy))),
            forwarder: forwarder.shared.clone(),
            stats,
            log,
            forward_timeout: config.forward_timeout,
            tcp_idle_timeout: config.tcp_idle_timeout,
            max_tcp: config.max_tcp_connections,
            tcp_open: Arc::new(AtomicUsize::new(0)),
        });
        Ok(Resolver {
            ctx,
            forwarder: Mutex::new(Some(forwarder)),
            listeners: Mutex::new(BTreeMap::new()),
            table: Mutex::new(Table::new()),
            policy: config.policy,
        })
    }

    /// Serve on exactly these addresses: start the missing ones, stop the
    /// others, leave the rest running. Keeps going after a failure and
    /// reports every one (the addresses that bound serve).
    pub fn set_listeners(&self, addrs: &[SocketAddr]) -> Result<()> {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut errors = Vec::new();
        let gone: Vec<SocketAddr> = listeners
            .keys()
            .filter(|a| !addrs.contains(a))
            .copied()
            .collect();
        for addr in gone {
            if let Some(l) = listeners.remove(&addr) {
                errors.extend(l.stop());
            }
        }
        for addr in addrs {
            if listeners.contains_key(addr) {
                continue;
            }
            match Listener::start(*addr, &self.ctx) {
                Ok(l) => {
                    listeners.insert(*addr, l);
                }
                Err(e) => errors.push(e),
            }
        }
        Error::fold(errors)
    }

    /// Serve on one more address; returns the address bound (with the
    /// port filled in when 0 was asked for). Already served: its address.
    pub fn add_listener(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = listeners.get(&addr) {
            return Ok(l.bound());
        }
        let l = Listener::start(addr, &self.ctx)?;
        let bound = l.bound();
        listeners.insert(addr, l);
        Ok(bound)
    }

    /// Stop serving on an address (as given to `add_listener` or
    /// `set_listeners`); its sockets are closed when this returns. Returns
    /// whether it was served.
    pub fn remove_listener(&self, addr: SocketAddr) -> Result<bool> {
        let l = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&addr);
        match l {
            Some(l) => Error::fold(l.stop()).map(|()| true),
            None => Ok(false),
        }
    }

    /// The addresses served, as bound.
    pub fn listeners(&self) -> Vec<SocketAddr> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Listener::bound)
            .collect()
    }

    /// Replace every record at once. Queries in flight finish with the
    /// records they started with; the next one sees these.
    pub fn set_records(&self, table: Table) {
        let mut current = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        self.swap(&table);
        *current = table;
    }

    /// Change the records in place: `f` edits a copy of the table; when it
    /// returns `Ok`, the copy replaces the records (as `set_records`),
    /// else nothing changes. Edits are serialized.
    pub fn update_records<T>(&self, f: impl FnOnce(&mut Table) -> Result<T>) -> Result<T> {
        let mut current = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = current.clone();
        let out = f(&mut next)?;
        self.swap(&next);
        *current = next;
        Ok(out)
    }

    /// Add (or replace, by name) one endpoint's entry on a network the
    /// records have.
    pub fn add_entry(&self, network: &str, entry: Entry) -> Result<()> {
        self.update_records(|t| t.add_entry(network, entry).map(drop))
    }

    /// Remove one endpoint's entry; returns whether there was one.
    pub fn remove_entry(&self, network: &str, name: &str) -> bool {
        self.update_records(|t| Ok(t.remove_entry(network, name).is_some()))
            .unwrap_or(false)
    }

    /// Change the compiled records in place (the resolver process, which
    /// keeps its own account of what it serves: [`crate::serve::Served`]);
    /// the table [`Resolver::records`] returns is not. Queries in flight
    /// finish with the records they started with (the records are copied
    /// first when one still holds them); the next one sees the change.
    pub(crate) fn patch_records(&self, f: impl FnOnce(&mut Records)) {
        let mut current = self
            .ctx
            .records
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match Arc::get_mut(&mut current) {
            Some(records) => f(records),
            None => {
                let mut records = Records::clone(&current);
                f(&mut records);
                *current = Arc::new(records);
            }
        }
        Counters::bump(&self.ctx.stats.record_updates);
    }

    /// A copy of the records' table.
    pub fn records(&self) -> Table {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.ctx.stats.snapshot()
    }

    /// Stop: every listener (sockets closed on return) and the forwarder.
    /// Keeps going after a failure and reports every one.
    pub fn stop(self) -> Result<()> {
        Error::fold(self.shutdown())
    }

    fn swap(&self, table: &Table) {
        let records = Arc::new(Records::new(table, self.policy));
        *self
            .ctx
            .records
            .write()
            .unwrap_or_else(PoisonError::into_inner) = records;
        Counters::bump(&self.ctx.stats.record_updates);
    }

    fn shutdown(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        let listeners = std::mem::take(
            &mut *self
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (_, l) in listeners {
            errors.extend(l.stop());
        }
        if let Some(mut f) = self
            .forwarder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            errors.extend(f.stop());
        }
        errors
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
