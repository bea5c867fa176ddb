//! What every listener thread of a resolver shares: its records, the
//! forwarder's shared half, statistics, the log, timeouts and the TCP
//! connection limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::forward;
use crate::records::Records;
use crate::report::Log;
use crate::stats::Counters;

/// What every listener thread shares.
pub(crate) struct Context {
    pub(crate) records: RwLock<Arc<Records>>,
    pub(crate) forwarder: Arc<forward::Shared>,
    pub(crate) stats: Arc<Counters>,
    pub(crate) log: Arc<Log>,
    pub(crate) forward_timeout: Duration,
    pub(crate) tcp_idle_timeout: Duration,
    pub(crate) max_tcp: usize,
    pub(crate) tcp_open: Arc<AtomicUsize>,
}

/// A TCP connection's place under the limit, given back on drop.
pub(crate) struct TcpSlot(Arc<AtomicUsize>);

impl Drop for TcpSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Context {
    /// The records in force (a cheap clone of an `Arc`).
    pub(crate) fn records(&self) -> Arc<Records> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn tcp_slot(&self) -> Option<TcpSlot> {
        let open = self.tcp_open.fetch_add(1, Ordering::SeqCst);
        let slot = TcpSlot(self.tcp_open.clone());
        (open < self.max_tcp).then_some(slot)
    }
}
