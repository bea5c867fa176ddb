//! Many disconnects in one call, for a runtime that stops many containers
//! at once: the kernel's RCU grace period of a veth delete (tens of
//! milliseconds, whatever the machine) is paid once for the whole batch,
//! not once per container.
//!
//! Each endpoint leaves as [`BridgeNet::disconnect`] makes it leave (its
//! own intent, firewall step, undo stack and commit), except that its veth,
//! when its namespace lives, is only taken down into bridge-net's netdev
//! group of links to delete ([`DOOMED_GROUP`]). Once every endpoint is
//! done, one `RTM_DELLINK` with `IFLA_GROUP` (`ip link delete group N`,
//! in every kernel we support) deletes the whole group: the kernel unlinks
//! the devices in one `unregister_netdevice_many`, under one grace period.
//! The veth's peer, inside the container, goes with it.
//!
//! A crash between the endpoints' commits and the group delete leaves
//! veths that are down (they forward nothing) in the group: the batch's
//! own intent (`delete_links`), written first and closed last, makes the
//! next open delete the group. A kernel that refuses the group delete
//! (something that cannot be deleted was put in the group by hand) gets
//! the batch's veths deleted one by one instead.

use std::borrow::Borrow;
use std::path::PathBuf;

use brnet_netlink::IfName;

use crate::apply::{DOOMED_GROUP, VethGone, delete_doomed_detached};
use crate::endpoint::Seen;
use crate::error::{Error, Result};
use crate::options::NetnsRef;
use crate::state::{Intent, Op, same_netns};
use crate::{BridgeNet, VethDelete, host};

/// One endpoint of a batch: its id, whether its namespace lives, its veth.
struct Leaving {
    id: String,
    alive: bool,
    host_veth: String,
}

impl BridgeNet {
    /// Disconnect each `(network, netns)` as [`disconnect`] does, in one
    /// call that pays the kernel's RCU grace period once for all the
    /// veths whose namespace lives (deleted in one kernel request), not
    /// once per endpoint. A pair that is not connected (or whose network
    /// does not exist) is skipped: disconnect is idempotent. Returns how
    /// many endpoints were disconnected.
    ///
    /// Every namespace reference is checked before anything changes (a
    /// bad one is the error, and nothing is done). Then each endpoint
    /// leaves on its own: a failure undoes that endpoint's steps and the
    /// batch goes on with the next; the errors are reported together
    /// ([`Error::Teardown`]), and the veths of the endpoints that left
    /// are deleted all the same. With [`VethDelete::Background`] the one
    /// request goes to a forked child instead, as for one disconnect.
    ///
    /// [`disconnect`]: BridgeNet::disconnect
    pub fn disconnect_many<N, R>(
        &mut self,
        endpoints: impl IntoIterator<Item = (N, R)>,
    ) -> Result<usize>
    where
        N: AsRef<str>,
        R: Borrow<NetnsRef>,
    {
        let asked: Vec<(String, NetnsRef, PathBuf)> = endpoints
            .into_iter()
            .map(|(n, r)| {
                let r = r.borrow();
                r.path().map(|p| (n.as_ref().to_owned(), r.clone(), p))
            })
            .collect::<Result<_>>()?;
        let _span = tracing::info_span!("disconnect_many", endpoints = asked.len()).entered();
        let _lock = self.store.lock()?;
        let mut leaving: Vec<Leaving> = Vec::new();
        for (network, _, path) in &asked {
            let Some(net) = self.store.state.network(network) else {
                continue;
            };
            let now = Seen::at(path);
            // The live one first, if there are two (as `disconnect`).
            let found = self
                .store
                .state
                .endpoints
                .matching_netns(|k| k.network == net.rec.id && same_netns(k.netns, path))
                .map(|e| Leaving {
                    id: e.id.clone(),
                    alive: now.is_of(e),
                    host_veth: e.host_veth.clone(),
                })
                .max_by_key(|l| l.alive);
            if let Some(l) = found.filter(|l| leaving.iter().all(|o| o.id != l.id)) {
                leaving.push(l);
            }
        }
        let mut errors = Vec::new();
        let done = self.disconnect_batch(&leaving, &mut errors)?;
        teardown_result(done, errors, || {
            asked
                .iter()
                .map(|(n, r, _)| format!("{n}/{r}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// Disconnect every endpoint of each namespace in `namespaces`, from
    /// every network, and forget their network modes: what
    /// [`disconnect_all`] does for one namespace, for many, with the
    /// veths deleted in one kernel request as [`disconnect_many`] does.
    /// Returns how many endpoints there were.
    ///
    /// [`disconnect_all`]: BridgeNet::disconnect_all
    /// [`disconnect_many`]: BridgeNet::disconnect_many
    pub fn disconnect_namespaces<R>(
        &mut self,
        namespaces: impl IntoIterator<Item = R>,
    ) -> Result<usize>
    where
        R: Borrow<NetnsRef>,
    {
        let asked: Vec<(NetnsRef, PathBuf)> = namespaces
            .into_iter()
            .map(|r| {
                let r = r.borrow();
                r.path().map(|p| (r.clone(), p))
            })
            .collect::<Result<_>>()?;
        let _span =
            tracing::info_span!("disconnect_namespaces", namespaces = asked.len()).entered();
        let _lock = self.store.lock()?;
        let mut leaving: Vec<Leaving> = Vec::new();
        for (_, path) in &asked {
            let now = Seen::at(path);
            leaving.extend(
                self.store
                    .state
                    .endpoints
                    .matching_netns(|k| !k.is_detached() && same_netns(k.netns, path))
                    .filter(|e| leaving.iter().all(|o| o.id != e.id))
                    .map(|e| Leaving {
                        id: e.id.clone(),
                        alive: now.is_of(e),
                        host_veth: e.host_veth.clone(),
                    })
                    .collect::<Vec<_>>(),
            );
        }
        let mut errors = Vec::new();
        self.disconnect_batch(&leaving, &mut errors)?;
        let sandboxes: Vec<String> = self
            .store
            .state
            .sandboxes
            .values()
            .filter(|s| asked.iter().any(|(_, p)| &s.netns == p))
            .map(|s| s.id.clone())
            .collect();
        for id in sandboxes {
            self.record_vouched(Op::RemoveSandbox { id }, false)?;
        }
        teardown_result(leaving.len(), errors, || {
            asked
                .iter()
                .map(|(r, _)| r.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// Disconnect `leaving` (the caller holds the lock), the live veths
    /// into [`DOOMED_GROUP`], then the group deleted in one request.
    /// Each endpoint's failure goes to `errors`; returns how many left.
    fn disconnect_batch(&mut self, leaving: &[Leaving], errors: &mut Vec<Error>) -> Result<usize> {
        if !leaving.iter().any(|l| l.alive) {
            // No veth to delete: every namespace is gone, and its veth
            // with it.
            let mut done = 0;
            for l in leaving {
                match self.disconnect_with(&l.id, false, VethGone::Wait) {
                    Ok(()) => done += 1,
                    Err(e) => errors.push(e),
                }
            }
            return Ok(done);
        }
        // Written first and closed last: a crash in between leaves the
        // next open to delete the group.
        let batch = host::random_id();
        self.record_vouched(
            Op::Begin {
                intent: Intent {
                    id: batch.clone(),
                    kind: DELETE_LINKS.into(),
                    ..Intent::default()
                },
            },
            false,
        )?;
        let mut done = 0;
        let mut grouped = Vec::new();
        for l in leaving {
            match self.disconnect_with(&l.id, l.alive, VethGone::Group) {
                Ok(()) => done += 1,
                Err(e) => errors.push(e),
            }
            // Also after a failure past the point of no return: its veth
            // may be in the group already.
            if l.alive {
                grouped.push(l.host_veth.as_str());
            }
        }
        if let Err(e) = self.step("disconnect_many.delete") {
            errors.push(e);
            return Ok(done);
        }
        match self.config.veth_delete {
            VethDelete::Wait => self.delete_grouped(&grouped, errors),
            VethDelete::Background => match delete_doomed_detached(&self.fw) {
                Some(release) => self.detached = Some(release),
                // Not left to anyone: done here, waiting.
                None => self.delete_grouped(&grouped, errors),
            },
        }
        self.record_vouched(Op::End { id: batch }, false)?;
        Ok(done)
    }

    /// Delete [`DOOMED_GROUP`] in one request; if the kernel refuses,
    /// the veths `grouped` one by one.
    fn delete_grouped(&mut self, grouped: &[&str], errors: &mut Vec<Error>) {
        match self.nl.delete_group(DOOMED_GROUP) {
            Ok(()) => return,
            // Nothing in the group (the links went with their namespaces,
            // or another process's deleter took them).
            Err(e) if e.is_not_found() => return,
            Err(e) => tracing::warn!("deleting link group {DOOMED_GROUP}: {e}; one by one instead"),
        }
        for v in grouped {
            let r = IfName::new(v)
                .map_err(Error::from)
                .and_then(|name| self.nl.delete_link_if_exists(&name).map_err(Error::from));
            if let Err(e) = r {
                errors.push(e);
            }
        }
    }

    /// Finish a `delete_links` intent a crash left open: the group goes.
    pub(crate) fn settle_delete_links(&mut self) {
        if let Err(e) = self.nl.delete_group(DOOMED_GROUP)
            && !e.is_not_found()
        {
            tracing::warn!("deleting link group {DOOMED_GROUP}: {e}");
        }
    }
}

/// The kind of a batch's intent.
pub(crate) const DELETE_LINKS: &str = "delete_links";

fn teardown_result(
    done: usize,
    errors: Vec<Error>,
    object: impl FnOnce() -> String,
) -> Result<usize> {
    if errors.is_empty() {
        Ok(done)
    } else {
        Err(Error::Teardown {
            op: "disconnect",
            object: object(),
            errors,
        })
    }
}
