//! The per-host agent (`brnet overlay agent`, one per host, like
//! flanneld): keeps the host's lease alive and makes every local overlay
//! device's entries match the store.
//!
//! It is level-triggered: each round reads the whole cluster at one
//! revision and reconciles every local VXLAN device to it; then it waits
//! for any change after that revision, or a third of the TTL (the
//! lease's renewal, at most a second), whichever comes first. On etcd the
//! wait is on one long-lived watch stream, opened once and reopened from
//! the last revision seen when its member goes away
//! ([`crate::store::EtcdWatch`]); on a store without one, a watch per
//! round. A missed event, a
//! restart, an etcd outage or a partition heal all end the same way: the
//! next round converges to the store's truth. While the store is down the
//! agent changes nothing: existing entries stay and traffic keeps flowing.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brnet_netlink::Socket;

use crate::cluster::{Cluster, ClusterError, Snapshot};
use crate::dataplane::{self, Changes};
use crate::store::{LeaseId, Revision, Watch};

/// What can stop a round.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The store.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The kernel.
    #[error(transparent)]
    Netlink(#[from] brnet_netlink::Error),
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// The store's revision it converged to.
    pub revision: Revision,
    /// Local overlay devices reconciled.
    pub devices: usize,
    /// Entries changed.
    pub changes: Changes,
}

/// What the agent calls after each round with the cluster as it read it
/// (the CLI's agent hands remote endpoints' names to the local resolver).
pub type RoundHook = Box<dyn FnMut(&Snapshot, IpAddr) + Send>;

/// One host's agent; see the module's documentation.
pub struct Agent {
    cluster: Cluster,
    nl: Socket,
    vtep: IpAddr,
    ttl: Duration,
    lease: Option<LeaseId>,
    renewed: Option<Instant>,
    hook: Option<RoundHook>,
    watch: Option<Box<dyn Watch>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("cluster", &self.cluster)
            .field("vtep", &self.vtep)
            .field("ttl", &self.ttl)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// The agent of host `vtep`, programming through `nl` (a socket in
    /// the host's namespace), with a lease of `ttl`.
    pub fn new(cluster: Cluster, nl: Socket, vtep: IpAddr, ttl: Duration) -> Agent {
        Agent {
            cluster,
            nl,
            vtep,
            ttl,
            lease: None,
            renewed: None,
            hook: None,
            watch: None,
        }
    }

    /// Call `hook` after every round that read the cluster.
    pub fn on_round(&mut self, hook: RoundHook) {
        self.hook = Some(hook);
    }

    /// The host's lease, once joined.
    pub fn lease(&self) -> Option<LeaseId> {
        self.lease
    }

    /// Join, or renew the lease when a third of the TTL has passed.
    pub fn renew(&mut self) -> Result<LeaseId, AgentError> {
        let due = self.renewed.is_none_or(|t| t.elapsed() >= self.ttl / 3);
        match self.lease {
            Some(l) if !due => return Ok(l),
            Some(l) if self.cluster.keep_alive(l)? => {}
            _ => {
                let l = self.cluster.join(self.vtep, self.ttl)?;
                tracing::info!(vtep = %self.vtep, lease = %l, "joined the cluster");
                self.lease = Some(l);
            }
        }
        self.renewed = Some(Instant::now());
        Ok(self.lease.expect("set above"))
    }

    /// One round: read the cluster, reconcile every local device.
    pub fn sync(&mut self) -> Result<Round, AgentError> {
        let mut snap = self.cluster.snapshot()?;
        // The host's key must be on the lease this agent renews (a
        // connect may have joined first, or the key expired while the
        // store was cut off): join again, adopting the key's lease.
        if self.lease.is_some()
            && snap.hosts.get(&self.vtep).map(|h| h.lease) != self.lease.map(|l| l.0)
        {
            self.lease = None;
            self.renew()?;
            snap = self.cluster.snapshot()?;
        }
        let mut round = Round {
            revision: snap.revision,
            ..Round::default()
        };
        for (name, net) in &snap.networks {
            let index = match self.nl.link(dataplane::vtep_name(net.vni)) {
                Ok(l) => l.index,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let c = dataplane::reconcile(&mut self.nl, index, &snap.peer_set(name, self.vtep))?;
            if c != Changes::default() {
                tracing::info!(network = %name, added = c.added, removed = c.removed, "reconciled");
            }
            round.devices += 1;
            round.changes.added += c.added;
            round.changes.removed += c.removed;
        }
        if let Some(hook) = &mut self.hook {
            hook(&snap, self.vtep);
        }
        Ok(round)
    }

    /// Run until `stop` is set: renew, sync, wait for a change. Errors
    /// are logged and retried; nothing is removed while the store is
    /// unreachable. On stop, the lease is left to expire (a restarted
    /// agent takes it back); call [`Agent::leave`] to go at once.
    pub fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = self.renew() {
                tracing::warn!(error = %e, "lease");
            }
            let after = match self.sync() {
                Ok(r) => Some(r.revision),
                Err(e) => {
                    tracing::warn!(error = %e, "sync");
                    None
                }
            };
            let wait = (self.ttl / 3).min(Duration::from_secs(1));
            match after {
                Some(rev) => {
                    if self.watch.is_none() {
                        self.watch = self.cluster.stream(rev);
                    }
                    let changed = match &mut self.watch {
                        Some(w) => w.wait(rev, wait).map_err(|e| e.to_string()),
                        None => self.cluster.wait(rev, wait).map_err(|e| e.to_string()),
                    };
                    if let Err(e) = changed {
                        tracing::debug!(error = %e, "watch");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                None => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Give the lease back: every other host drops this one's entries at
    /// once.
    pub fn leave(&mut self) -> Result<(), AgentError> {
        if let Some(l) = self.lease.take() {
            self.cluster.leave(l)?;
        }
        Ok(())
    }
}
