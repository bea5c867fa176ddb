//! Fault injection for tests (feature `fault-injection`): make an
//! operation fail, or the process die, at a named step.
//!
//! Steps, in the order they fire (each right after the work it names):
//! `connect.allocate` (the plan made), `connect.begin` (the intent
//! written), `connect.veth`, `connect.firewall`, `connect.record`;
//! `create.begin`, `create.bridge`, `create.firewall`, `create.record`;
//! `disconnect.firewall`, `disconnect.veth`, `disconnect.record`;
//! `remove.firewall`, `remove.bridge`, `remove.record`; `publish.firewall`;
//! `disconnect_many.delete` (a batch's endpoints are done, their veths
//! wait in the group to be deleted).
//! `STEP#N` fires from the `N`th time `STEP` is reached on (counted from
//! when the fault was set): the middle of a batch.
//! A failure unwinds the operation's undo stack; past a teardown's point
//! of no return (`disconnect.veth`, `remove.bridge` and later) it leaves
//! the intent open, and the next attempt or reconcile finishes it. A crash
//! (`Fault::Crash`) at any step is cleaned up by the next open.
//!
//! Without the feature, nothing here ever fires.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};

/// What to do at a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Return [`Error::Injected`] at this step.
    Fail(String),
    /// `SIGKILL` the process at this step (a crash in the middle of the
    /// operation).
    Crash(String),
}

/// The fault in `BRNET_FAULT` (`fail:STEP` or `crash:STEP`), for child
/// processes of crash tests. Only with the feature.
pub(crate) fn from_env() -> Option<Armed> {
    if !cfg!(feature = "fault-injection") {
        return None;
    }
    let v = std::env::var("BRNET_FAULT").ok()?;
    let (kind, step) = v.split_once(':')?;
    match kind {
        "fail" => Some(Armed::new(Fault::Fail(step.to_owned()))),
        "crash" => Some(Armed::new(Fault::Crash(step.to_owned()))),
        _ => None,
    }
}

/// A fault with the count of the times its step was reached.
#[derive(Debug)]
pub(crate) struct Armed {
    fault: Fault,
    hits: AtomicU32,
}

impl Armed {
    pub(crate) fn new(fault: Fault) -> Armed {
        Armed {
            fault,
            hits: AtomicU32::new(0),
        }
    }
}

/// `STEP` or `STEP#N`: the step's name and from which time on it fires.
fn parse(spec: &str) -> (&str, u32) {
    match spec.split_once('#') {
        Some((step, n)) => (step, n.parse().unwrap_or(1).max(1)),
        None => (spec, 1),
    }
}

pub(crate) fn hit(fault: Option<&Armed>, step: &'static str) -> Result<()> {
    if !cfg!(feature = "fault-injection") {
        return Ok(());
    }
    let Some(armed) = fault else {
        return Ok(());
    };
    let (spec, crash) = match &armed.fault {
        Fault::Fail(s) => (s, false),
        Fault::Crash(s) => (s, true),
    };
    let (name, from) = parse(spec);
    if name != step || armed.hits.fetch_add(1, Ordering::Relaxed) + 1 < from {
        return Ok(());
    }
    if crash {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    Err(Error::Injected { step })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_with_a_count_fires_from_that_time_on() {
        assert_eq!(parse("disconnect.veth"), ("disconnect.veth", 1));
        assert_eq!(parse("disconnect.veth#3"), ("disconnect.veth", 3));
        assert_eq!(parse("disconnect.veth#x"), ("disconnect.veth", 1));
        if !cfg!(feature = "fault-injection") {
            return;
        }
        let armed = Armed::new(Fault::Fail("disconnect.veth#3".into()));
        let fired: Vec<bool> = (0..4)
            .map(|_| {
                let _ = hit(Some(&armed), "connect.veth");
                hit(Some(&armed), "disconnect.veth").is_err()
            })
            .collect();
        assert_eq!(fired, [false, false, true, true]);
    }
}
