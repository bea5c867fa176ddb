//! Apply and commit: the kernel steps of a plan, one undo stack, then the
//! journal record.
//!
//! [`BridgeNet::transact`] is the one shape every change goes through:
//!
//! 1. the intent ([`Intent`]) is written, before any kernel change: a crash
//!    from here on is found by the next open, whose reconcile undoes
//!    (connect, create) or finishes (disconnect, remove) what was cut short;
//! 2. the steps run in order; each one that changes something pushes its
//!    [`Undo`] onto the [`UndoStack`]. A step is atomic on its own (it
//!    either happens or leaves nothing: `brnet_veth::create` and
//!    `brnet_bridge::ensure` clean up after themselves);
//! 3. the commit: one journal record, which is the only writer of the state
//!    (it also closes the intent).
//!
//! Any failure before the commit unwinds the stack in reverse and closes
//! the intent: nothing is left behind, and the first error is returned. A
//! teardown has a point of no return (the veth or the bridge deleted:
//! putting it back would not serve the caller, who asked for it to go):
//! past it the stack is sealed, and a failure leaves the intent open for
//! the next attempt, or reconcile, to finish.

use std::path::PathBuf;

use brnet_bridge::{BridgeConfig, sysctl};
use brnet_nat::{Endpoint, Firewall, Network, PortMapping};
use brnet_netlink::{IfName, LinkChange, Socket, VethSpec};
use brnet_netns::Errno;
use brnet_netns::sysctl::NetDir;
use brnet_veth::{Container, VethConfig};
use ipnet::IpNet;

use crate::error::{Error, Result};
use crate::fault;
use crate::plan::{
    DisconnectPlan, EndpointLink, EndpointPlan, NetworkLink, NetworkPlan, PublishPlan, RemovePlan,
    Target,
};
use crate::state::{Intent, Op, Restore, Store};
use crate::{BRIDGE_PORT_LIMIT, BridgeNet};

/// What a step changed, and how to take it back.
#[derive(Debug)]
pub(crate) enum Undo {
    /// Delete a link this operation made (a veth, whose peer goes with it;
    /// a bridge).
    DeleteLink(IfName),
    /// Take `lo` of a container down again (it was down before).
    LowerLo(Box<Container>),
    /// Put routes back in the namespace at this path (the default route
    /// of an endpoint a higher gateway priority took it from).
    AddRoutesIn {
        /// The namespace.
        netns: PathBuf,
        /// The routes.
        routes: Vec<brnet_netlink::RouteSpec>,
    },
    /// Delete a link this operation made inside a container (a macvlan),
    /// and take its `lo` down again when it was down before.
    DeleteInside {
        /// The container.
        container: Box<Container>,
        /// The link.
        link: IfName,
        /// `lo` was brought up.
        lower_lo: bool,
    },
    /// Remove an address this operation added to a link it did not make.
    DeleteAddress {
        /// The link's index.
        link: u32,
        /// The address.
        net: IpNet,
    },
    /// Write a sysctl's old value back.
    Sysctl {
        /// The file.
        path: PathBuf,
        /// The value it had.
        value: String,
    },
    /// Remove an endpoint's firewall rules.
    RemoveEndpoint(Box<(Network, Endpoint)>),
    /// Put an endpoint's firewall rules back.
    AddEndpoint(Box<(Network, Endpoint)>),
    /// Unpublish ports.
    RemovePorts(Box<(Network, Vec<PortMapping>)>),
    /// Publish ports again.
    AddPorts(Box<(Network, Vec<PortMapping>)>),
    /// Remove a network's firewall chains.
    RemoveNetwork(Box<Network>),
    /// Put a network's firewall chains back.
    InstallNetwork(Box<Network>),
}

/// The undo of every step done so far, in order.
#[derive(Debug, Default)]
pub(crate) struct UndoStack {
    steps: Vec<Undo>,
    sealed: bool,
}

impl UndoStack {
    /// Remember how to take a step back.
    pub(crate) fn push(&mut self, undo: Undo) {
        if !self.sealed {
            self.steps.push(undo);
        }
    }

    /// The point of no return: from here on nothing is taken back, and a
    /// failure leaves the intent open for the operation to be finished.
    pub(crate) fn seal(&mut self) {
        self.sealed = true;
        self.steps.clear();
    }

    /// Take every step back, the last first. Each undo is tried whatever
    /// happened to the others (the caller returns the error that caused
    /// the unwinding, not these).
    fn unwind(self, k: &mut Kernel<'_>) {
        for undo in self.steps.into_iter().rev() {
            let _ = match undo {
                Undo::DeleteLink(name) => {
                    k.nl.delete_link_if_exists(&name)
                        .map(|_| ())
                        .map_err(Error::from)
                }
                Undo::LowerLo(mut c) => brnet_veth::lower_lo(&mut c).map_err(Error::from),
                Undo::AddRoutesIn { netns, routes } => add_routes_in(&netns, &routes),
                Undo::DeleteInside {
                    mut container,
                    link,
                    lower_lo,
                } => {
                    let deleted = container
                        .socket()
                        .delete_link_if_exists(&link)
                        .map(|_| ())
                        .map_err(Error::from);
                    if lower_lo {
                        let _ = brnet_veth::lower_lo(&mut container);
                    }
                    deleted
                }
                Undo::DeleteAddress { link, net } => match k.nl.delete_address(link, &net) {
                    Err(e) if !e.is_not_found() => Err(e.into()),
                    _ => Ok(()),
                },
                Undo::Sysctl { path, value } => sysctl::write(&path, &value).map_err(Error::from),
                Undo::RemoveEndpoint(b) => k.fw.remove_endpoint(&b.0, &b.1).map_err(Error::from),
                Undo::AddEndpoint(b) => k.fw.add_endpoint(&b.0, &b.1).map_err(Error::from),
                Undo::RemovePorts(b) => k.fw.remove_ports(&b.0, &b.1).map_err(Error::from),
                Undo::AddPorts(b) => k.fw.add_ports(&b.0, &b.1).map_err(Error::from),
                Undo::RemoveNetwork(n) => k.fw.remove_network(&n).map_err(Error::from),
                Undo::InstallNetwork(n) => k.fw.install_network(&n, &[]).map_err(Error::from),
            };
        }
    }
}

/// What the steps work with: the handle's sockets, the journal (for
/// progress on the intent) and the fault hook of the tests.
pub(crate) struct Kernel<'a> {
    pub(crate) nl: &'a mut Socket,
    pub(crate) fw: &'a mut Firewall,
    journal: &'a mut Store,
    fault: Option<&'a fault::Armed>,
    net_sysctl: &'a mut Option<NetDir>,
}

impl Kernel<'_> {
    /// `/proc/sys/net` of our namespace, opened once per handle (`None`
    /// where it cannot be opened: the callers then go by path, as they
    /// would without it). A veth's host end has its `disable_ipv6` written
    /// below it, which costs the same whatever the number of containers
    /// (a path from `/proc/sys` walks past one entry per namespace that
    /// had a sysctl looked up: see [`NetDir`]).
    pub(crate) fn net_sysctl(&mut self) -> Option<&NetDir> {
        open_once(self.net_sysctl)
    }

    /// A named step is done (a test may make it fail, or crash, here).
    pub(crate) fn step(&self, name: &'static str) -> Result<()> {
        fault::hit(self.fault, name)
    }

    /// Write what the intent learnt (it replaces the one written before).
    fn note(&mut self, intent: &Intent) -> Result<()> {
        self.journal.record(
            Op::Begin {
                intent: intent.clone(),
            },
            false,
        )
    }
}

/// What `cache` holds, opened first if it holds nothing (see
/// [`Kernel::net_sysctl`]).
fn open_once(cache: &mut Option<NetDir>) -> Option<&NetDir> {
    if cache.is_none() {
        *cache = NetDir::open().ok();
    }
    cache.as_ref()
}

/// `net.ipv4.conf.<link>.route_localnet`.
pub(crate) fn route_localnet_path(link: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/ipv4/conf/{link}/route_localnet"))
}

/// `route_localnet` on `bridge`, written only when it is not 1 already
/// (ports published on 127.0.0.1 need it; see [`NetworkPlan`]'s).
pub(crate) fn ensure_route_localnet(bridge: &str) -> Result<()> {
    let path = route_localnet_path(bridge);
    if sysctl::read(&path)? != "1" {
        sysctl::write(&path, "1")?;
    }
    Ok(())
}

impl BridgeNet {
    /// Write `intent`, run `steps` with one undo stack, then commit the
    /// record they return; on failure unwind and close the intent (or,
    /// past a sealed point of no return, leave it open). `durable`: the
    /// commit is written as an fsynced snapshot (network changes).
    pub(crate) fn transact<T>(
        &mut self,
        mut intent: Intent,
        durable: bool,
        steps: impl FnOnce(&mut Kernel<'_>, &mut Intent, &mut UndoStack) -> Result<(Op, T)>,
    ) -> Result<T> {
        let id = intent.id.clone();
        // Nobody else recorded anything since this handle last vouched for
        // the firewall (checked before this transaction records).
        let clean = self.vouched();
        let _span = tracing::debug_span!(
            "transaction",
            kind = %intent.kind,
            id = %id.get(..12).unwrap_or(&id),
        )
        .entered();
        tracing::debug!(
            host_veth = ?intent.host_veth,
            bridge = ?intent.bridge,
            "begin: intent journaled"
        );
        self.store.record(
            Op::Begin {
                intent: intent.clone(),
            },
            false,
        )?;
        let mut undo = UndoStack::default();
        let mut k = Kernel {
            nl: &mut self.nl,
            fw: &mut self.fw,
            journal: &mut self.store,
            fault: self.fault.as_ref(),
            net_sysctl: &mut self.net_sysctl,
        };
        let done = steps(&mut k, &mut intent, &mut undo)
            .and_then(|(commit, value)| k.journal.record(commit, durable).map(|()| value));
        match done {
            Ok(value) => {
                tracing::info!("{} done", intent.kind);
                // The firewall still matches the state, if it did before.
                self.vouch(clean);
                Ok(value)
            }
            Err(e) if undo.sealed => {
                tracing::warn!(error = %e, "{} failed after its point of no return", intent.kind);
                Err(e)
            }
            Err(e) => {
                tracing::info!(error = %e, "{} failed: rolling back", intent.kind);
                undo.unwind(&mut k);
                let _ = k.journal.record(Op::End { id }, false);
                Err(e)
            }
        }
    }
}

/// Connect: the veth pair (peer configured inside the namespace, or left
/// in ours for Docker) or the macvlan, then the endpoint's firewall rules.
/// `inside`: the container, opened before planning (`None` for
/// [`Target::Detached`]). Returns the link's MAC as the kernel has it (a
/// passthru macvlan's is its parent's).
pub(crate) fn connect(
    k: &mut Kernel<'_>,
    plan: &EndpointPlan,
    inside: Option<Container>,
    undo: &mut UndoStack,
) -> Result<brnet_netlink::MacAddr> {
    k.step("connect.begin")?;
    if let EndpointLink::Macvlan { parent, name, mode } = &plan.link {
        let Some(mut inside) = inside else {
            return Err(Error::InvalidMode {
                mode: "macvlan".into(),
                reason: "the container's namespace was not opened".into(),
            });
        };
        let made = crate::macvlan_link::create(k.nl, plan, parent, *mode, name, &mut inside)?;
        undo.push(Undo::DeleteInside {
            container: Box::new(inside),
            link: name.clone(),
            lower_lo: made.lo_raised,
        });
        k.step("connect.veth")?;
        k.step("connect.firewall")?;
        k.step("connect.record")?;
        return Ok(made.mac);
    }
    let bridge = k.nl.link_by_name(plan.bridge.as_str())?;
    let full = |e: &brnet_netlink::Error| {
        (e.errno() == Some(Errno::EXFULL)).then(|| Error::BridgeFull {
            bridge: plan.bridge.to_string(),
            network: plan.network.clone(),
            limit: BRIDGE_PORT_LIMIT,
        })
    };
    let EndpointLink::Veth { host, peer } = &plan.link else {
        return Err(Error::InvalidMode {
            mode: "bridge".into(),
            reason: "a bridge network's endpoint is a veth".into(),
        });
    };
    match (&plan.target, inside) {
        (Target::Netns { path, .. }, Some(mut inside)) => {
            if let Some(d) = &plan.demote {
                let routes: Vec<brnet_netlink::RouteSpec> = d
                    .routes
                    .iter()
                    .map(|r| brnet_netlink::RouteSpec::default_via(r.via).with_metric(r.metric))
                    .collect();
                for r in &routes {
                    match inside.socket().delete_route(r) {
                        // Gone already: nothing to take over.
                        Err(e) if e.errno() == Some(Errno::ESRCH) => {}
                        other => other?,
                    }
                }
                undo.push(Undo::AddRoutesIn {
                    netns: path.clone(),
                    routes,
                });
            }
            let host_sysctl = if plan.disable_ipv6 {
                open_once(k.net_sysctl)
            } else {
                None
            };
            let made = brnet_veth::create_with(
                k.nl,
                host_sysctl,
                &mut inside,
                &VethConfig {
                    host_name: Some(host.clone()),
                    peer_name: peer.clone(),
                    bridge: Some(bridge.index),
                    mtu: plan.mtu,
                    peer_mac: Some(plan.mac),
                    addresses: plan.addresses.clone(),
                    gateways: plan
                        .routes
                        .iter()
                        .filter(|r| r.dst.prefix_len() == 0)
                        .map(|r| r.via)
                        .collect(),
                    metric: plan.routes.first().and_then(|r| r.metric),
                    disable_ipv6: plan.disable_ipv6,
                    host_up: true,
                },
            );
            let made = match made {
                Err(brnet_veth::Error::Netlink(e)) => return Err(full(&e).unwrap_or(e.into())),
                made => made?,
            };
            if made.lo_raised {
                undo.push(Undo::LowerLo(Box::new(inside)));
            }
            undo.push(Undo::DeleteLink(host.clone()));
        }
        (Target::Detached { .. }, _) => {
            // Both ends here; the peer named as dockerd will look for it,
            // down, with its MAC: dockerd moves, names and addresses it.
            let made = k.nl.create_veth(&VethSpec {
                name: host,
                peer_name: peer,
                peer_netns: None,
                master: Some(bridge.index),
                mtu: plan.mtu,
                mac: None,
                peer_mac: Some(plan.mac),
                up: !plan.disable_ipv6,
                peer_up: false,
            });
            if let Err(e) = made {
                return Err(full(&e).unwrap_or(e.into()));
            }
            undo.push(Undo::DeleteLink(host.clone()));
            if plan.disable_ipv6 {
                match k.net_sysctl() {
                    Some(dir) => drop(dir.ipv6_off(host.as_str())?),
                    None => sysctl::set_disable_ipv6(host, true)?,
                }
                k.nl.set_up(host)?;
            }
        }
        (Target::Netns { .. }, None) => {
            return Err(Error::InvalidMode {
                mode: "bridge".into(),
                reason: "the container's namespace was not opened".into(),
            });
        }
    }
    k.step("connect.veth")?;
    if plan.route_localnet {
        ensure_route_localnet(plan.bridge.as_str())?;
    }
    if let Some(fw) = &plan.firewall {
        k.fw.add_endpoint(&fw.0, &fw.1)?;
        undo.push(Undo::RemoveEndpoint(Box::new(fw.clone())));
    }
    k.step("connect.firewall")?;
    k.step("connect.record")?;
    Ok(plan.mac)
}

/// Publish: the old ports go, the new ones come (one firewall
/// transaction each).
pub(crate) fn publish(k: &mut Kernel<'_>, plan: &PublishPlan, undo: &mut UndoStack) -> Result<()> {
    if plan.route_localnet && !plan.add.is_empty() {
        ensure_route_localnet(plan.network.bridge().as_str())?;
    }
    if !plan.remove.is_empty() {
        k.fw.remove_ports(&plan.network, &plan.remove)?;
        undo.push(Undo::AddPorts(Box::new((
            plan.network.clone(),
            plan.remove.clone(),
        ))));
    }
    if !plan.add.is_empty() {
        k.fw.add_ports(&plan.network, &plan.add)?;
        undo.push(Undo::RemovePorts(Box::new((
            plan.network.clone(),
            plan.add.clone(),
        ))));
    }
    k.step("publish.firewall")?;
    Ok(())
}

/// The netdev group of veths that are down and waiting to be deleted
/// (`ip link show group 1651665508`): a disconnect that does not wait puts
/// its veth there, and a forked child deletes the whole group in one
/// request, under one RCU grace period.
pub const DOOMED_GROUP: u32 = 0x6272_6e64;

/// Leave the delete of [`DOOMED_GROUP`] to a detached child
/// ([`crate::sys::request_detached`]), which holds a copy of the nf_tables
/// socket `fw` until the returned release is dropped: the handle keeps it
/// until its own copy is closed, so that the child's close is the last and
/// pays the kernel's wait for the rules this call removed. `None` (logged)
/// when no child could be forked: the caller deletes the group itself.
pub(crate) fn delete_doomed_detached(fw: &brnet_nat::Firewall) -> Option<crate::sys::Release> {
    let hold = fw.dup_socket().and_then(|r| r.ok());
    let sent = brnet_netlink::msg::delete_group(DOOMED_GROUP)
        .map_err(|e| e.to_string())
        .and_then(|msg| crate::sys::request_detached(&msg, hold).map_err(|e| e.to_string()));
    sent.inspect_err(|e| {
        tracing::warn!("fork the deleter of link group {DOOMED_GROUP}: {e}; deleting it here")
    })
    .ok()
}

/// How a disconnect gets rid of a veth whose namespace lives on.
pub(crate) enum VethGone {
    /// Delete it before returning (waits for an RCU grace period).
    Wait,
    /// Take it down into [`DOOMED_GROUP`] at once and leave it there: the
    /// caller deletes the group once for a whole batch (one grace period
    /// for all), see `batch.rs`.
    Group,
    /// As `Group`; the caller then leaves the group's delete to a forked
    /// child, in the same transaction (`VethDelete::Background`).
    Background,
}

/// Disconnect: the endpoint's rules go, then its veth (the point of no
/// return).
/// Returns whether the default route went to [`DisconnectPlan::promote`]
/// (a failure there is logged: the disconnect itself is done).
pub(crate) fn disconnect(
    k: &mut Kernel<'_>,
    plan: &DisconnectPlan,
    veth: VethGone,
    undo: &mut UndoStack,
) -> Result<bool> {
    if let Some(fw) = &plan.firewall {
        k.fw.remove_endpoint(&fw.0, &fw.1)?;
        undo.push(Undo::AddEndpoint(Box::new(fw.clone())));
    }
    k.step("disconnect.firewall")?;
    undo.seal();
    if let EndpointLink::Macvlan { name, .. } = &plan.link {
        // Inside the container: with a namespace that is gone, it is gone.
        if plan.netns_alive {
            crate::macvlan_link::delete(&plan.record.netns, name.as_str())?;
        }
        k.step("disconnect.veth")?;
        let promoted = promote(plan);
        k.step("disconnect.record")?;
        return Ok(promoted);
    }
    let name = IfName::new(&plan.record.host_veth)?;
    let down = |k: &mut Kernel<'_>, group: Option<u32>| match k.nl.change_link(
        &name,
        &LinkChange {
            up: Some(false),
            group,
            ..LinkChange::default()
        },
    ) {
        Err(e) if !e.is_not_found() => Err(Error::from(e)),
        _ => Ok(()),
    };
    // Down at once in every case but a plain wait: from here on the veth
    // forwards nothing and answers for nothing, so its address can be
    // handed out again (down costs microseconds; a delete waits for an RCU
    // grace period). A namespace whose file is gone takes its veth along,
    // asynchronously, but may outlive its file (a process still in it):
    // hence the down.
    //
    // With the namespace gone, the kernel's cleanup of it takes the veth
    // down first (then deletes it), holding the RTNL lock that a request
    // to take it down would wait for: the link is asked first, without
    // that lock, and left alone when it is down or gone already.
    match veth {
        VethGone::Wait if plan.netns_alive => {
            k.nl.delete_link_if_exists(&name)?;
        }
        VethGone::Group | VethGone::Background if plan.netns_alive => down(k, Some(DOOMED_GROUP))?,
        VethGone::Wait | VethGone::Group | VethGone::Background => {
            if crate::sys::link_up(name.as_str()) != Some(false) {
                down(k, None)?;
            }
        }
    }
    k.step("disconnect.veth")?;
    let promoted = promote(plan);
    k.step("disconnect.record")?;
    Ok(promoted)
}

/// Give the namespace's default route to the plan's successor: the
/// leaving endpoint's default routes out (they may be gone with its link
/// already), the successor's in. Past the point of no return: a failure
/// is logged, and the successor is not recorded as the holder.
fn promote(plan: &DisconnectPlan) -> bool {
    let Some(p) = &plan.promote else {
        return false;
    };
    let spec =
        |r: &crate::plan::Route| brnet_netlink::RouteSpec::default_via(r.via).with_metric(r.metric);
    let done = (|| -> Result<()> {
        let ns = brnet_netns::Netns::open_path(&plan.record.netns)?;
        let mut c = Container::open(&ns)?;
        for r in &p.old {
            let _ = c.socket().delete_route(&spec(r));
        }
        for r in &p.routes {
            c.socket().add_route(&spec(r))?;
        }
        Ok(())
    })();
    match done {
        Ok(()) => {
            tracing::info!(
                from = %plan.record.ifname,
                to = %p.record.ifname,
                "the default route moves (gateway priority {})",
                p.record.gw_priority
            );
            true
        }
        Err(e) => {
            tracing::warn!(to = %p.record.ifname, "the default route could not move: {e}");
            false
        }
    }
}

/// Create a network: `ip_forward`, the bridge (made, or adopted: then
/// what is changed on it is written down first, to be put back), its
/// sysctls, its firewall chains. Fills in `plan.record`'s `adopted` and
/// `restore`.
pub(crate) fn create_network(
    k: &mut Kernel<'_>,
    plan: &mut NetworkPlan,
    intent: &mut Intent,
    undo: &mut UndoStack,
) -> Result<()> {
    k.step("create.begin")?;
    if let NetworkLink::Parent { name } = &plan.link {
        // A macvlan network: its parent must be there; nothing is made.
        match k.nl.link(name) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                return Err(Error::option(
                    crate::OPT_PARENT,
                    name,
                    format!(
                        "no such link: the parent of macvlan network {:?}",
                        plan.record.name
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        intent.bridge_created = Some(false);
        k.note(intent)?;
        k.step("create.bridge")?;
        k.step("create.firewall")?;
        plan.record.adopted = true;
        k.step("create.record")?;
        return Ok(());
    }
    if !sysctl::ip_forward()? {
        sysctl::set_ip_forward(true).map_err(|source| Error::IpForward { cause: source })?;
    }
    let NetworkLink::Bridge { name, addresses } = &plan.link else {
        return Ok(());
    };
    // A bridge that is there is someone's: note what we will change on it
    // before changing anything.
    let before = match k.nl.link(name) {
        Ok(l) if l.kind.as_deref() == Some("bridge") => Some(l),
        Ok(_) => None, // ensure says what it is instead
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let rl_path = route_localnet_path(name.as_str());
    let mut restore = Restore::default();
    if let Some(link) = &before {
        let have: Vec<IpNet> = brnet_bridge::addresses(k.nl, link.index, None)?;
        restore.addresses = addresses
            .iter()
            .filter(|a| !have.contains(a))
            .copied()
            .collect();
        if plan.route_localnet {
            let old = sysctl::read(&rl_path)?;
            if old != "1" {
                restore.route_localnet = Some(old);
            }
        }
        intent.bridge_created = Some(false);
        intent.restore = restore.clone();
        k.note(intent)?;
    }
    let br = brnet_bridge::ensure(
        k.nl,
        &BridgeConfig {
            name: name.clone(),
            addresses: addresses.clone(),
            mtu: plan.mtu,
            mac: None,
        },
    )?;
    if br.created {
        undo.push(Undo::DeleteLink(name.clone()));
        intent.bridge_created = Some(true);
        k.note(intent)?;
    } else {
        if before.is_none() {
            // Someone made it between our look and ensure's: ours are the
            // addresses we asked for, as far as we can tell.
            restore.addresses = addresses.clone();
            intent.bridge_created = Some(false);
            intent.restore = restore.clone();
            k.note(intent)?;
        }
        for net in &restore.addresses {
            undo.push(Undo::DeleteAddress {
                link: br.index,
                net: *net,
            });
        }
    }
    if let crate::Driver::Overlay(o) = &plan.record.options.driver {
        // The network's VXLAN device, a port of its bridge.
        let vx = crate::overlay::create_vtep(k.nl, o, br.index, plan.mtu)?;
        undo.push(Undo::DeleteLink(vx));
    }
    k.step("create.bridge")?;
    // Ports published on 127.0.0.1 are routed to the bridge only with
    // route_localnet, which is safe only where the firewall drops
    // 127.0.0.0/8 arriving from it (CVE-2020-8558): never elsewhere.
    if plan.route_localnet {
        if let Some(old) = &restore.route_localnet {
            undo.push(Undo::Sysctl {
                path: rl_path.clone(),
                value: old.clone(),
            });
        }
        // A bridge we made gets it with its first published port
        // ([`ensure_route_localnet`]), as netavark does: a network without
        // ports never needs it, and a read-only /proc is then no obstacle.
        if restore.route_localnet.is_some() {
            sysctl::set_route_localnet(name, true)?;
        }
    }
    if br.created && std::path::Path::new("/proc/sys/net/ipv6/conf").exists() {
        // Routers advertised on the bridge are not for us.
        let _ = sysctl::set_accept_ra(name, 0);
    }
    if plan.ipv6_forwarding && std::path::Path::new("/proc/sys/net/ipv6").exists() {
        sysctl::set_ipv6_forwarding(true)?;
    }
    if plan.br_netfilter {
        // ICC off is enforced on bridged traffic only with br_netfilter.
        sysctl::write("/proc/sys/net/bridge/bridge-nf-call-iptables", "1").map_err(|e| {
            Error::option(
                crate::OPT_ICC,
                "false",
                format!("needs br_netfilter (modprobe br_netfilter): {e}"),
            )
        })?;
    }
    if let Some(fw) = &plan.firewall {
        k.fw.install_network(fw, &[])?;
        undo.push(Undo::RemoveNetwork(Box::new(fw.clone())));
    }
    k.step("create.firewall")?;
    plan.record.adopted = !br.created;
    plan.record.restore = restore;
    k.step("create.record")?;
    Ok(())
}

/// Remove a network: its firewall chains, then its bridge (deleted if we
/// made it, given back as found if we adopted it: the point of no return).
pub(crate) fn remove_network(
    k: &mut Kernel<'_>,
    plan: &RemovePlan,
    undo: &mut UndoStack,
) -> Result<()> {
    if let Some(fw) = &plan.firewall {
        k.fw.remove_network(fw)?;
        undo.push(Undo::InstallNetwork(Box::new(fw.clone())));
    }
    k.step("remove.firewall")?;
    undo.seal();
    if let crate::Driver::Overlay(o) = &plan.record.options.driver
        && let Some(vni) = o.vni
    {
        brnet_overlay::dataplane::delete_vtep(k.nl, vni)?;
    }
    let name = IfName::new(&plan.record.bridge)?;
    if plan.record.adopted {
        give_back(k.nl, &name, &plan.record.restore)?;
    } else {
        brnet_bridge::delete(k.nl, &name)?;
    }
    k.step("remove.bridge")?;
    k.step("remove.record")?;
    Ok(())
}

/// Put an adopted bridge back as it was found: our addresses off it, its
/// `route_localnet` as it was. A bridge that is gone is fine.
pub(crate) fn give_back(nl: &mut Socket, bridge: &IfName, restore: &Restore) -> Result<()> {
    let link = match nl.link(bridge) {
        Ok(l) => l,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for net in &restore.addresses {
        match nl.delete_address(link.index, net) {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    if let Some(old) = &restore.route_localnet {
        sysctl::write(route_localnet_path(bridge.as_str()), old)?;
    }
    Ok(())
}

/// Add `routes` inside the namespace at `netns` (an undo step).
fn add_routes_in(netns: &std::path::Path, routes: &[brnet_netlink::RouteSpec]) -> Result<()> {
    let ns = brnet_netns::Netns::open_path(netns)?;
    let mut c = Container::open(&ns)?;
    for r in routes {
        c.socket().add_route(r)?;
    }
    Ok(())
}
