//! Fault injection for tests (feature `fault-injection`): make an
//! operation fail, or the process die, at a named step.
//!
//! Steps, in the order they fire (each right after the work it names):
//! `connect.allocate` (the plan made), `connect.begin` (the intent
//! written), `connect.veth`, `connect.firewall`, `connect.record`;
//! `create.begin`, `create.bridge`, `create.firewall`, `create.record`;
//! `disconnect.firewall`, `disconnect.veth`, `disconnect.record`;
//! `remove.firewall`, `remove.bridge`, `remove.record`; `publish.firewall`.
//! A failure unwinds the operation's undo stack; past a teardown's point
//! of no return (`disconnect.veth`, `remove.bridge` and later) it leaves
//! the intent open, and the next attempt or reconcile finishes it. A crash
//! (`Fault::Crash`) at any step is cleaned up by the next open.
//!
//! Without the feature, nothing here ever fires.

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
pub(crate) fn from_env() -> Option<Fault> {
    if !cfg!(feature = "fault-injection") {
        return None;
    }
    let v = std::env::var("BRNET_FAULT").ok()?;
    let (kind, step) = v.split_once(':')?;
    match kind {
        "fail" => Some(Fault::Fail(step.to_owned())),
        "crash" => Some(Fault::Crash(step.to_owned())),
        _ => None,
    }
}

pub(crate) fn hit(fault: Option<&Fault>, step: &'static str) -> Result<()> {
    if !cfg!(feature = "fault-injection") {
        return Ok(());
    }
    match fault {
        Some(Fault::Fail(s)) if s == step => Err(Error::Injected { step }),
        Some(Fault::Crash(s)) if s == step => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            Err(Error::Injected { step })
        }
        _ => Ok(()),
    }
}
