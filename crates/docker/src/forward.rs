//! The iptables side of dockerd's forwarding policy.
//!
//! dockerd (`--iptables`, the default) sets the iptables FORWARD policy to
//! DROP when it turned `ip_forward` on itself, and its bridge driver turns
//! on `bridge-nf-call-iptables`: every packet that crosses one of our
//! bridges — routed, and bridged between two containers of one network —
//! then crosses iptables' FORWARD too, and is dropped there unless
//! something accepts it. bridge-net's own nftables table decides what our
//! bridges forward (isolation, internal networks, published ports); the
//! iptables FORWARD chain only has to leave our bridges to it.
//!
//! So, with the first network, in the `filter` table of `iptables` (the
//! same command dockerd uses, legacy or nf_tables — whichever the host's
//! `iptables` is, that is where dockerd's chains are):
//!
//! ```text
//! -N BRNET-FORWARD
//! -A FORWARD -j BRNET-FORWARD         (appended: after DOCKER-USER and
//!                                       Docker's own rules, so a user's
//!                                       DOCKER-USER rules still come first)
//! ```
//! and for each network's bridge `br-X`:
//! ```text
//! -A BRNET-FORWARD -i br-X -j ACCEPT
//! -A BRNET-FORWARD -o br-X -j ACCEPT
//! ```
//! Removing a network deletes its two rules; removing the last one deletes
//! the jump and the chain. Nothing of Docker's chains is changed. dockerd
//! re-inserts its own rules at the top of FORWARD when it starts, so ours
//! stay behind them across dockerd restarts. IPv6 (`ip6tables`) is left
//! alone: dockerd 20.10 sets its FORWARD policy only with the experimental
//! `--ip6tables`, which is not handled here.

use std::process::{Command, Output};

use crate::error::{Error, Result};

/// Our chain in the `filter` table.
pub const CHAIN: &str = "BRNET-FORWARD";

/// Whether and how the accept rules are managed.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The `iptables` program; `None`: manage nothing (`--no-iptables`).
    program: Option<String>,
}

impl Forward {
    /// Rules through `program` (normally `iptables`).
    pub fn new(program: Option<String>) -> Forward {
        Forward { program }
    }

    /// Run `program -w args`; `None` without a program.
    fn output(&self, args: &[&str]) -> Result<Option<Output>> {
        let Some(program) = &self.program else {
            return Ok(None);
        };
        Command::new(program)
            .arg("-w")
            .args(args)
            .output()
            .map(Some)
            .map_err(|e| Error::Iptables {
                args: args.join(" "),
                detail: format!("cannot run {program}: {e} (install iptables, or start brnet-docker with --no-iptables)"),
            })
    }

    /// Whether `args` succeed (true without a program).
    fn run(&self, args: &[&str]) -> Result<bool> {
        Ok(self.output(args)?.is_none_or(|out| out.status.success()))
    }

    /// Run `args`, which must succeed.
    fn must(&self, args: &[&str]) -> Result<()> {
        match self.output(args)? {
            Some(out) if !out.status.success() => Err(Error::Iptables {
                args: args.join(" "),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }),
            _ => Ok(()),
        }
    }

    fn ensure(&self, check: &[&str], add: &[&str]) -> Result<()> {
        if !self.run(check)? {
            self.must(add)?;
        }
        Ok(())
    }

    /// Accept forwarding through `bridge` in iptables (idempotent).
    pub fn add(&self, bridge: &str) -> Result<()> {
        if self.program.is_none() {
            return Ok(());
        }
        if !self.run(&["-t", "filter", "-L", CHAIN, "-n"])? {
            self.must(&["-t", "filter", "-N", CHAIN])?;
        }
        self.ensure(
            &["-t", "filter", "-C", "FORWARD", "-j", CHAIN],
            &["-t", "filter", "-A", "FORWARD", "-j", CHAIN],
        )?;
        for dir in ["-i", "-o"] {
            self.ensure(
                &["-t", "filter", "-C", CHAIN, dir, bridge, "-j", "ACCEPT"],
                &["-t", "filter", "-A", CHAIN, dir, bridge, "-j", "ACCEPT"],
            )?;
        }
        Ok(())
    }

    /// Withdraw `bridge`'s rules; with `last`, the jump and the chain too.
    /// What is already gone is not an error.
    pub fn remove(&self, bridge: &str, last: bool) -> Result<()> {
        if self.program.is_none() {
            return Ok(());
        }
        for dir in ["-i", "-o"] {
            while self.run(&["-t", "filter", "-D", CHAIN, dir, bridge, "-j", "ACCEPT"])? {}
        }
        if last {
            while self.run(&["-t", "filter", "-D", "FORWARD", "-j", CHAIN])? {}
            if self.run(&["-t", "filter", "-L", CHAIN, "-n"])? {
                // Only when empty: a rule someone else put there stays.
                let _ = self.run(&["-t", "filter", "-X", CHAIN])?;
            }
        }
        Ok(())
    }
}
