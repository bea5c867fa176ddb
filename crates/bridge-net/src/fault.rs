//! Fault injection for tests (feature `fault-injection`): make an
//! operation fail, or the process die, at a named step.
//!
//! Steps: `connect.allocate`, `connect.begin`, `connect.veth`,
//! `connect.firewall`, `connect.record`; `create.begin`, `create.bridge`,
//! `create.firewall`, `create.record`; `disconnect.firewall`,
//! `disconnect.veth`, `disconnect.record`; `remove.firewall`,
//! `remove.bridge`, `remove.record`. A step fires right after the work it
//! names is done.
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
