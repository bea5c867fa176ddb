//! Counters the resolver keeps, read with [`crate::Resolver::stats`].

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the resolver's counters since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams received on the UDP listeners.
    pub udp_queries: u64,
    /// Messages received on TCP connections.
    pub tcp_queries: u64,
    /// Replies made from the records (answers, NXDOMAIN, REFUSED and
    /// error replies to bad packets).
    pub local_replies: u64,
    /// Packets answered with nothing (responses, runts).
    pub dropped: u64,
    /// Queries sent upstream.
    pub forwarded: u64,
    /// Upstream answers relayed to clients.
    pub upstream_answers: u64,
    /// Truncated UDP answers retried over TCP.
    pub tcp_fallbacks: u64,
    /// SERVFAIL replies because no upstream answered in time, none is
    /// configured, or the TCP fallback failed.
    pub servfail: u64,
    /// Forwards refused (SERVFAIL) because the in-flight limit was reached.
    pub overflow: u64,
    /// The most forwards that were ever in flight at once.
    pub peak_in_flight: u64,
    /// TCP connections closed at once because the connection limit was
    /// reached.
    pub tcp_rejected: u64,
    /// Record tables swapped in.
    pub record_updates: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) udp_queries: AtomicU64,
    pub(crate) tcp_queries: AtomicU64,
    pub(crate) local_replies: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) upstream_answers: AtomicU64,
    pub(crate) tcp_fallbacks: AtomicU64,
    pub(crate) servfail: AtomicU64,
    pub(crate) overflow: AtomicU64,
    pub(crate) peak_in_flight: AtomicU64,
    pub(crate) tcp_rejected: AtomicU64,
    pub(crate) record_updates: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            udp_queries: get(&self.udp_queries),
            tcp_queries: get(&self.tcp_queries),
            local_replies: get(&self.local_replies),
            dropped: get(&self.dropped),
            forwarded: get(&self.forwarded),
            upstream_answers: get(&self.upstream_answers),
            tcp_fallbacks: get(&self.tcp_fallbacks),
            servfail: get(&self.servfail),
            overflow: get(&self.overflow),
            peak_in_flight: get(&self.peak_in_flight),
            tcp_rejected: get(&self.tcp_rejected),
            record_updates: get(&self.record_updates),
        }
    }
}
