//! Reconcile: make the kernel match the state again after a crash, a
//! reboot, a flushed ruleset or a deleted bridge.

use std::collections::HashMap;
use std::path::PathBuf;

use brnet_bridge::BridgeConfig;
use brnet_netlink::IfName;
use ipnet::IpNet;
use serde::Serialize;

use crate::apply::{self, VethGone};
use crate::endpoint::{Looker, Seen};
use crate::error::Result;
use crate::plan;
use crate::state::{EndpointRecord, Intent, NetnsKeys, Op};
use crate::{BridgeNet, fw};

/// What reconcile found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Operations cut short by a crash, cleaned up (their veth or bridge
    /// removed, nothing recorded).
    pub interrupted: Vec<String>,
    /// Bridges that were missing and were made again.
    pub bridges_recreated: Vec<String>,
    /// Networks whose firewall rules were missing or different and were
    /// installed again.
    pub firewall_restored: Vec<String>,
    /// Endpoints whose namespace is gone, dropped (addresses released).
    pub endpoints_dropped: Vec<String>,
    /// Endpoints whose veth lost its bridge (the bridge was gone and was
    /// made again) and was put back on it.
    pub ports_reattached: Vec<String>,
    /// The name resolver was not running and was started.
    pub resolver_started: bool,
    /// Whether the firewall rules were read back and compared with the
    /// state (O(endpoints)); `false` when the state directory vouched for
    /// them at the ruleset's current generation (see [`VERIFIED_FILE`]).
    /// Not a fix: [`Report::is_clean`] ignores it.
    pub firewall_read_back: bool,
}

impl Report {
    /// Whether nothing needed fixing.
    pub fn is_clean(&self) -> bool {
        *self
            == Report {
                firewall_read_back: self.firewall_read_back,
                ..Report::default()
            }
    }
}

/// The file in the state directory that says at which nf_tables ruleset
/// generation, and at which point of the state file (device, inode,
/// length), the firewall was last known to match the state, in this boot
/// and network namespace: one line, `brnet-firewall-verified 1 BOOT_ID
/// NETNS_COOKIE GENERATION DEVICE INODE LENGTH`. While both are where it
/// says, reconcile does not read the rules back; anything else in it, or
/// no file, means "read them back" (it is a cache, never a source of
/// truth).
pub const VERIFIED_FILE: &str = "firewall.verified";

/// Where a ruleset generation means something: this boot
/// (`/proc/sys/kernel/random/boot_id`) and the network namespace the
/// firewall socket is bound to (its cookie, never reused within a boot).
/// Generations restart with every namespace and every boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Home {
    boot: String,
    netns: u64,
}

impl Home {
    /// The calling thread's (where [`BridgeNet::open_with`] opens its
    /// sockets); `None` when either is unknown (no shortcut then).
    pub(crate) fn current() -> Option<Home> {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let netns = brnet_netns::Netns::current().ok()?.cookie().ok()??;
        Some(Home {
            boot: boot.trim().to_owned(),
            netns,
        })
    }
}

/// "The firewall matched the state when the state file was at `state`
/// (device, inode, length) and the ruleset at `generation`": written at
/// the end of a reconcile that checked (or repaired) every network's
/// rules, and moved on by every transaction whose firewall commits were
/// the only ones since ([`brnet_nat::Firewall::watch`]), in a handle that
/// reconciled or found the mark holding when it opened
/// ([`BridgeNet::adopt_verified`]). While both are
/// unchanged, nothing can differ — any commit by anyone (another program,
/// `nft flush ruleset` by hand) moves the generation, any record by anyone
/// moves the state file — and reconcile skips reading the ruleset back,
/// which costs O(endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    home: Home,
    generation: u32,
    state: (u64, u64, u64),
}

impl Verified {
    /// The line, padded with spaces to [`MARK_LEN`] bytes: rewritten in
    /// place, never truncated (on ext4 a truncated and rewritten file is
    /// flushed at close: 0.3 ms per write).
    fn encode(&self) -> String {
        let mut line = format!(
            "brnet-firewall-verified 1 {} {} {} {} {} {}",
            self.home.boot,
            self.home.netns,
            self.generation,
            self.state.0,
            self.state.1,
            self.state.2
        );
        while line.len() + 1 < MARK_LEN {
            line.push(' ');
        }
        line.push('\n');
        line
    }

    /// The first line of `text` (anything after it is ignored: what an
    /// earlier, longer mark left).
    fn decode(text: &str) -> Option<Verified> {
        let (line, _) = text.split_once('\n')?;
        let mut f = line.trim_end_matches(' ').split(' ');
        if (f.next()?, f.next()?) != ("brnet-firewall-verified", "1") {
            return None;
        }
        let boot = f.next()?.to_owned();
        let mut num = || f.next()?.parse::<u64>().ok();
        let netns = num()?;
        let generation = u32::try_from(num()?).ok()?;
        let state = (num()?, num()?, num()?);
        if f.next().is_some() {
            return None;
        }
        Some(Verified {
            home: Home { boot, netns },
            generation,
            state,
        })
    }
}

/// How long a mark is written (padded): longer than any mark.
const MARK_LEN: usize = 192;

/// Write `bytes` at the start of `path` (created if missing), without
/// truncating it.
fn write_in_place(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?
        .write_all_at(bytes, 0)
}

impl BridgeNet {
    fn verified_path(&self) -> PathBuf {
        self.store.dir().join(VERIFIED_FILE)
    }

    /// What the state directory says was verified (`None`: nothing, or
    /// unreadable).
    fn read_verified(&self) -> Option<Verified> {
        let text = std::fs::read_to_string(self.verified_path()).ok()?;
        Verified::decode(&text)
    }

    /// For a handle opened without reconcile: vouch on, as a reconciling
    /// handle does, if the mark holds as this handle found things (its
    /// boot and namespace, the state file where this handle loaded it, the
    /// ruleset at the mark's generation, which is watched from here). Its
    /// own transactions then move the mark on, so a `teardown` or a CNI
    /// `DEL` does not leave the next reconcile a ruleset to read back. A
    /// mark that does not hold is left alone: this handle vouches for
    /// nothing and its first transaction removes nothing it did not write
    /// (the next reconcile reads the rules back).
    ///
    /// No lock needed: the mark was true when written; the generation read
    /// here, after the mark, equal to the mark's means nobody committed
    /// since; the state file only grows (or is replaced), and a
    /// transaction vouches only if it is still at the position loaded on
    /// open when the transaction takes the lock ([`BridgeNet::vouched`]),
    /// so it was there all along. An error reading either (the generation
    /// included) only means no shortcut.
    pub(crate) fn adopt_verified(&mut self) {
        let (Some(home), Some(state)) = (&self.home, self.store.position()) else {
            return;
        };
        let Some(mark) = self.read_verified() else {
            return;
        };
        if mark.home != *home || mark.state != state {
            return;
        }
        if let Ok(Some(generation)) = self.fw.watch()
            && generation == mark.generation
        {
            self.vouched = Some(state);
        }
    }

    /// Whether the state file is where this handle last vouched for it
    /// (nobody else recorded anything since). Asked under the lock, before
    /// a transaction records anything.
    pub(crate) fn vouched(&self) -> bool {
        self.vouched.is_some() && self.vouched == self.store.position()
    }

    /// Record `op` outside a transaction (the caller holds the state lock),
    /// moving the mark on with it as a transaction does: if this handle
    /// vouched for the state as it was just before (nobody else recorded
    /// since), it vouches for it with `op` too; otherwise the claim ends.
    /// A change recorded this way without it (a batch's own intent, a
    /// network's name servers, a network mode) left the mark behind, and
    /// the next reconcile read the whole ruleset back.
    pub(crate) fn record_vouched(&mut self, op: Op, durable: bool) -> Result<()> {
        let clean = self.vouched();
        self.store.record(op, durable)?;
        self.vouch(clean);
        Ok(())
    }

    /// Write down that the firewall matches the state as it is now, if this
    /// handle can vouch for it: it verified the ruleset (or found it
    /// verified), every record since was its own (`clean`, see
    /// [`BridgeNet::vouched`]) and so was every commit. Otherwise forget any
    /// earlier claim. Called with the state lock held, at the end of a
    /// reconcile and of every transaction.
    pub(crate) fn vouch(&mut self, clean: bool) {
        let path = self.verified_path();
        let claim = match (&self.home, self.fw.watched(), self.store.position()) {
            (Some(home), Some(generation), Some(state)) if clean => Some(Verified {
                home: home.clone(),
                generation,
                state,
            }),
            _ => None,
        };
        let had = self.vouched.take();
        self.vouched = claim.as_ref().map(|v| v.state);
        let written = match claim {
            Some(v) => write_in_place(&path, v.encode().as_bytes()),
            // A claim about an earlier position of the state file can
            // match nothing any more (the file only grows, or is another
            // inode): removing ours is tidiness, not safety.
            None if had.is_some() => match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
            None => Ok(()),
        };
        if let Err(e) = written {
            // The shortcut is lost, nothing else: the next reconcile reads
            // the ruleset back. A claim left behind is one about another
            // state file position, which matches nothing.
            tracing::debug!(path = %path.display(), error = %e, "firewall verification mark");
        }
    }
}

/// The endpoints whose namespace is no longer at its path (detached ones
/// aside: they have none), as (id, container, path): one stat(2) per
/// endpoint (device, inode and change time; the cookie read only when the
/// change time says nothing, see [`Seen`]; relative to the directory of
/// the path before when it is the same, see [`Looker`]), nothing
/// allocated for the endpoints that are alive, of each record only its
/// namespace keys read ([`NetnsKeys`]).
///
/// This is the only per-endpoint cost of a reconcile whose firewall is
/// vouched for: about half a microsecond of kernel time per path at 1000
/// endpoints (a bind mount's path walk), measured against the one-query
/// alternatives, which cost more and see less: a link dump (or
/// `/proc/net/dev`) to find the endpoints whose host veth vanished moves
/// about 1.5 kB (120 B) per link and took 1.3 to 1.8 ms at 1000 links
/// where 1000 stats took 0.45 to 0.6 ms; `mountinfo` 0.6 ms and blind to
/// `/proc/PID/ns/net` paths. And a veth outlives its namespace's file: it
/// goes when the kernel's cleanup of the namespace runs (later, from a
/// work queue), or never while a process still holds the namespace; the
/// path says at once that the namespace the endpoint was made in is gone.
///
/// Also says whether any endpoint is detached (the same pass: those are
/// looked for, by their veth, only when there are some).
fn gone_namespaces<'a>(
    endpoints: impl Iterator<Item = NetnsKeys<'a>>,
) -> (Vec<(String, String, PathBuf)>, bool) {
    // Each endpoint looks for itself: a path shared by several endpoints
    // (a container on several networks) is stat(2)ed once per endpoint,
    // which costs less than remembering every path (hashing ~370
    // instructions per endpoint at 1000 endpoints, for a namespace that
    // mostly has one). Of each record only its namespace keys are read.
    let mut looker = Looker::default();
    let mut detached = false;
    let gone = endpoints
        .filter(|k| {
            if k.is_detached() {
                detached = true;
                return false;
            }
            !looker.look(k.netns).is_of(*k)
        })
        .map(|k| (k.id.to_owned(), k.container.to_owned(), k.netns.to_owned()))
        .collect();
    (gone, detached)
}

impl BridgeNet {
    /// Make the kernel match the state: clean up operations a crash cut
    /// short, drop endpoints whose namespace is gone (releasing their
    /// addresses), re-create missing bridges (and put their veths back),
    /// and re-install firewall rules that were flushed or changed. Runs on
    /// open; safe to run any time.
    pub fn reconcile(&mut self) -> Result<Report> {
        let _span = tracing::info_span!("reconcile").entered();
        let _lock = self.store.lock()?;
        let mut report = Report::default();
        // Watched from here: every firewall commit of this reconcile is
        // ours, or the watch ends. The rules are as verified earlier if
        // nothing was committed and nothing recorded since.
        let generation = self.fw.watch()?;
        let verified = match (generation, &self.home, self.store.position()) {
            (Some(generation), Some(home), Some(state)) => {
                self.read_verified()
                    == Some(Verified {
                        home: home.clone(),
                        generation,
                        state,
                    })
            }
            _ => false,
        };
        // Transactions of this reconcile go on from the verified position.
        self.vouched = if verified {
            self.store.position()
        } else {
            None
        };

        // 1. Operations cut short: a connect or a create is undone, a
        // disconnect or a removal finished.
        let intents: Vec<_> = self.store.state.intents.values().cloned().collect();
        for intent in intents {
            self.settle(&intent)?;
            report
                .interrupted
                .push(format!("{} {}", intent.kind, intent.id));
        }

        // 2. Endpoints whose namespace is gone (detached ones: whose veth
        // is gone).
        let (gone, detached) = gone_namespaces(self.store.state.endpoints.all_netns());
        if detached {
            report
                .endpoints_dropped
                .extend(self.collect_detached_locked()?);
        }
        for (id, container, netns) in gone {
            // The namespace's file is gone, but the namespace may not be (a
            // process still in it): its veth is taken down, so the address
            // the pool gets back cannot be answered by a container left
            // behind; its rules go.
            let _ = self.disconnect_with(&id, false, VethGone::Wait);
            if self.store.state.endpoints.contains_key(&id) {
                // The firewall refused: step 4 sweeps what is left.
                self.store.record(Op::Disconnect { id }, false)?;
            }
            report
                .endpoints_dropped
                .push(format!("{container} ({})", netns.display()));
        }

        // 3. Bridges, and the veths that belong on them. A bridge that was
        // gone lost its ports with it: those veths are put back (found with
        // one link dump). A bridge that is there is trusted with its ports
        // (as Docker does): checking each one costs a request per endpoint
        // on every open.
        let nets: Vec<_> = self.store.state.networks.clone();
        let mut masters: Option<HashMap<String, (u32, Option<u32>)>> = None;
        for net in nets.iter().filter(|n| n.rec.options.driver.is_bridge()) {
            let name = IfName::new(&net.rec.bridge)?;
            let addresses = net.gateway_cidrs();
            let br = brnet_bridge::ensure(
                &mut self.nl,
                &BridgeConfig {
                    name: name.clone(),
                    addresses,
                    mtu: net.rec.options.mtu,
                    mac: None,
                },
            )?;
            // Made again: it was missing (one lookup, ensure's own).
            if !br.created {
                continue;
            }
            report.bridges_recreated.push(net.rec.bridge.clone());
            if self.loopback_guarded() && net.subnet4().is_some() {
                let _ = brnet_bridge::sysctl::set_route_localnet(&name, true);
            }
            let eps: Vec<EndpointRecord> = self
                .store
                .state
                .endpoints_of(&net.rec.id)
                .cloned()
                .collect();
            if eps.is_empty() {
                continue;
            }
            let masters = match &mut masters {
                Some(m) => m,
                None => masters.insert(
                    self.nl
                        .links()?
                        .into_iter()
                        .map(|l| (l.name, (l.index, l.master)))
                        .collect(),
                ),
            };
            for ep in eps {
                if let Some(&(index, master)) = masters.get(&ep.host_veth)
                    && master != Some(br.index)
                {
                    self.nl.set_master(index, br.index)?;
                    self.nl.set_up(index)?;
                    report.ports_reattached.push(ep.host_veth.clone());
                }
            }
        }

        // 4. Firewall rules: read back only when the state directory cannot
        // vouch for them (see [`Verified`]), or when this reconcile's own
        // changes were not the only ones since.
        let skip = verified && self.fw.watched().is_some();
        report.firewall_read_back = !skip;
        for net in nets.iter().filter(|_| !skip) {
            let Some(fw_net) = fw::network(net)? else {
                continue;
            };
            let eps = self
                .store
                .state
                .endpoints_of(&net.rec.id)
                .map(fw::endpoint)
                .collect::<Result<Vec<_>>>()?;
            let drift = self.fw.check(&fw_net, &eps)?;
            // The iptables handle keeps a model of the networks it was given
            // (Docker's chains are shared between networks): a fresh handle,
            // in a fresh process, must be given every network again.
            let model = self.fw.backend() == brnet_nat::Backend::IptablesRestore;
            if !drift.is_empty() || model {
                self.fw.install_network(&fw_net, &eps)?;
            }
            if !drift.is_empty() {
                report.firewall_restored.push(net.rec.name.clone());
            }
        }
        // 5. The resolver, when a DNS-enabled network has endpoints.
        if self.dns_wanted()
            && !self.resolver_listening()
            && self.config.resolver.binary().is_some()
            && self.sync_resolver()?
        {
            report.resolver_started = true;
        }
        // Clean: whatever was recorded since the lock was taken was
        // recorded here, and the rules were checked against all of it.
        self.vouch(true);
        Ok(report)
    }
}

impl BridgeNet {
    /// Finish or undo the operation `intent` describes, which a crash cut
    /// short, and close it.
    fn settle(&mut self, intent: &Intent) -> Result<()> {
        let st = &self.store.state;
        match intent.kind.as_str() {
            // Finished: what the caller asked for to go, goes.
            "disconnect" if st.endpoints.contains_key(&intent.id) => {
                let ep = &st.endpoints[&intent.id];
                let alive = plan::is_detached(ep) || Seen::at(&ep.netns).is_of(ep);
                if self
                    .disconnect_with(&intent.id, alive, VethGone::Wait)
                    .is_ok()
                {
                    return Ok(());
                }
            }
            "remove_network" if st.network_by_id(&intent.id).is_some() => {
                let name = st.network_by_id(&intent.id).map(|n| n.rec.name.clone());
                if let Some(name) = name
                    && self.remove_network_locked(&name).is_ok()
                {
                    return Ok(());
                }
            }
            // Undone: the veth (its peer goes with it); its rules are swept
            // by step 4, which knows every recorded endpoint.
            "connect" => {
                if let Some(v) = &intent.host_veth
                    && let Ok(name) = IfName::new(v)
                {
                    let _ = self.nl.delete_link_if_exists(&name);
                }
            }
            "create_network"
                if intent
                    .bridge
                    .as_ref()
                    .is_some_and(|b| st.networks.iter().all(|n| &n.rec.bridge != b)) =>
            {
                let b = intent.bridge.clone().unwrap_or_default();
                if let Ok(name) = IfName::new(&b) {
                    // Deleted only if this operation made it: said so once
                    // it knew, or (a crash before it could say) a name of
                    // our own (`br-` + the id), which nobody else uses. An
                    // adopted bridge (docker0, a host's br0, cni0) is given
                    // back as it was found, never deleted.
                    let ours = match intent.bridge_created {
                        Some(made) => made,
                        None => intent.id.len() >= 12 && b == format!("br-{}", &intent.id[..12]),
                    };
                    if ours {
                        let _ = self.nl.delete_link_if_exists(&name);
                    } else {
                        let _ = apply::give_back(&mut self.nl, &name, &intent.restore);
                    }
                }
                // The firewall model needs the subnets to find the
                // network's elements; the intent carries them.
                let mut table_net = brnet_nat::Network::builder(&b);
                for subnet in &intent.subnets {
                    table_net = match *subnet {
                        IpNet::V4(n) => table_net.ipv4(n),
                        IpNet::V6(n) => table_net.ipv6(n),
                    };
                }
                if let Ok(table_net) = table_net.build() {
                    let _ = self.fw.remove_network(&table_net);
                }
                if let Some(vx) = &intent.vxlan {
                    crate::overlay::remove_leftover_vtep(&mut self.nl, vx, &b);
                }
                if let Some(cluster) = &intent.cluster {
                    crate::overlay::unregister_unfinished(cluster, &intent.id);
                }
            }
            // A batch of disconnects: its veths wait in the group.
            crate::batch::DELETE_LINKS => self.settle_delete_links(),
            // A publish: the firewall is swept against the records by step
            // 4. Anything else: nothing of it is left to do.
            _ => {}
        }
        if self.store.state.intents.contains_key(&intent.id) {
            self.store.record(
                Op::End {
                    id: intent.id.clone(),
                },
                false,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verification_mark_reads_back_as_written_and_nothing_else_reads_as_one() {
        let v = Verified {
            home: Home {
                boot: "48f6e2b0-0d43-4b8c-9a53-2f3c1c1e0a77".into(),
                netns: 4096,
            },
            generation: u32::MAX,
            state: (2049, 1_234_567, 98_765),
        };
        assert_eq!(Verified::decode(&v.encode()), Some(v.clone()));
        let text = v.encode();
        assert_eq!(text.len(), MARK_LEN);
        // What a longer, earlier mark left after the line is ignored.
        let longer = format!("{text}{}", "x".repeat(50));
        assert_eq!(Verified::decode(&longer), Some(v.clone()));
        for bad in [
            "",
            "\n",
            "garbage\n",
            text.trim_end(),
            &text.replace(" 1 ", " 2 "),
            &text.replace(&u32::MAX.to_string(), "4294967296"),
            &text.replace("98765", "98765 1"),
            &text.replace("98765", "-1"),
        ] {
            assert_eq!(Verified::decode(bad), None, "{bad:?}");
        }
    }
}
