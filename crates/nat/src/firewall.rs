//! The firewall handle: one backend chosen at construction, and the
//! operations bridge-net calls, each one transaction.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use brnet_netns::Errno;

use crate::error::{Error, ModelError, Result};
use crate::iptables::{self, IptablesOptions, Rendered, USER_CHAIN};
use crate::lock::{Held, TableLock};
use crate::model::Model;
use crate::netlink::consts::{
    NFT_MSG_GETCHAIN, NFT_MSG_GETRULE, NFT_MSG_GETSETELEM, NFT_MSG_GETTABLE,
};
use crate::netlink::socket::{BatchError, NftSocket};
use crate::netlink::{dump, msg};
use crate::network::{Endpoint, Network};
use crate::plan::{Plan, Present};
use crate::port::PortMapping;
use crate::readback::{Drift, Installed};
use crate::ruleset::{self, ALL_SETS, DEFAULT_TABLE, Element, Family, Set};

/// How rules reach the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// nf_tables over netlink, one batch per operation, no external binary
    /// (the default).
    #[default]
    Native,
    /// The same nftables ruleset, written by `nft -f -` (read back over
    /// netlink). For debugging, and for kernels where our encoding would
    /// not do.
    NftCommand,
    /// Docker's iptables layout through `iptables-restore --noflush` and
    /// `ip6tables-restore`, for hosts that run iptables.
    IptablesRestore,
    /// No firewall at all: every operation succeeds and does nothing.
    None,
}

/// The environment variable that makes every [`Firewall`] remove the way
/// kernels before 6.3 need (see [`Firewall::use_legacy_removal`]), for
/// testing that path on a newer kernel: `BRNET_NFT_NO_DESTROY=1`.
pub const NO_DESTROY_ENV: &str = "BRNET_NFT_NO_DESTROY";

/// How an operation that read the ruleset is retried when the ruleset
/// changed before it committed, or its acks were dropped.
const ATTEMPTS: usize = 32;

/// How removals reach the kernel (nftables backends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// Not known yet: `NFT_MSG_DESTROY*` is tried first; a kernel that does
    /// not know it (before Linux 6.3) refuses it with `EINVAL`.
    Untested,
    /// The kernel knows `NFT_MSG_DESTROY*`: "delete if present" in one
    /// message, no read needed.
    Destroy,
    /// Read back what is there, then delete exactly that (`NFT_MSG_DEL*`),
    /// in a batch that the kernel refuses if the ruleset changed since the
    /// read.
    Delete,
}

enum Inner {
    Native(NftSocket),
    Nft(NftSocket),
    Iptables { model: Model, opts: IptablesOptions },
    None,
}

/// A firewall for the network namespace it was created in.
///
/// Every operation is one transaction: it happens completely or not at
/// all, and doing it twice leaves the same state as doing it once. Nothing
/// outside our table (nftables) or Docker's chains (iptables) is touched.
///
/// With the nftables backends the handle keeps no state: it writes what it
/// is given and reads the kernel back when it needs to know what is there
/// (replacing and removing a network). With the iptables backend the
/// handle keeps the model of every network it installed, because Docker's
/// layout shares chains between networks: after creating a handle,
/// install every network again.
///
/// ```no_run
/// use brnet_nat::{Backend, Endpoint, Firewall, Network, PortMapping, Protocol};
/// // The socket is opened in the calling thread's network namespace.
/// let mut fw = Firewall::new(Backend::Native)?;
/// let net = Network::builder("docker0").ipv4("172.17.0.0/16".parse()?).build()?;
/// fw.install_network(&net, &[])?;
/// let c1 = "172.17.0.2".parse()?;
/// let ep = Endpoint::new(&[c1])?.publish(PortMapping::port(Protocol::Tcp, 8080, c1, 80)?)?;
/// fw.add_endpoint(&net, &ep)?;
/// assert!(fw.check(&net, &[ep.clone()])?.is_empty());
/// fw.remove_endpoint(&net, &ep)?;
/// fw.remove_network(&net)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Firewall {
    table: String,
    backend: Backend,
    inner: Inner,
    removal: Removal,
    lock: TableLock,
    /// The ruleset generation after this handle's last commit, while every
    /// commit since [`Firewall::watch`] was this handle's own (see there).
    custody: Option<u32>,
    /// A commit of this handle removed something (see
    /// [`Firewall::released`]).
    released: bool,
}

impl std::fmt::Debug for Firewall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firewall")
            .field("table", &self.table)
            .field("backend", &self.backend)
            .field("removal", &self.removal)
            .finish()
    }
}

fn valid_table(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=64).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Firewall {
    /// A firewall using `backend`, with our table named `brnet`.
    pub fn new(backend: Backend) -> Result<Firewall> {
        Firewall::with_table(backend, DEFAULT_TABLE)
    }

    /// A firewall using `backend` with our nftables table named `table`
    /// (ignored by the iptables backend, whose chains are Docker's).
    pub fn with_table(backend: Backend, table: &str) -> Result<Firewall> {
        if !valid_table(table) {
            return Err(ModelError::InvalidTableName {
                name: table.to_owned(),
            }
            .into());
        }
        let inner = match backend {
            Backend::Native => Inner::Native(NftSocket::open()?),
            Backend::NftCommand => Inner::Nft(NftSocket::open()?),
            Backend::IptablesRestore => Inner::Iptables {
                model: Model::new(),
                opts: IptablesOptions::default(),
            },
            Backend::None => Inner::None,
        };
        let removal = if std::env::var_os(NO_DESTROY_ENV).is_some_and(|v| v == "1") {
            Removal::Delete
        } else {
            Removal::Untested
        };
        Ok(Firewall {
            table: table.to_owned(),
            backend,
            inner,
            removal,
            lock: TableLock::new(table),
            custody: None,
            released: false,
        })
    }

    /// The ruleset's generation id (`NFT_MSG_GETGEN`; nftables backends):
    /// every commit by anyone in the namespace — ours, another process's,
    /// `nft flush ruleset` by hand — changes it. `None` for the iptables
    /// backend and for none.
    pub fn generation(&mut self) -> Result<Option<u32>> {
        match &mut self.inner {
            Inner::Native(s) | Inner::Nft(s) => s.genid("get ruleset generation").map(Some),
            Inner::Iptables { .. } | Inner::None => Ok(None),
        }
    }

    /// Start watching the ruleset from its current generation, which is
    /// returned: from now on, [`Firewall::watched`] tells the generation
    /// after this handle's last commit for as long as nobody else has
    /// committed in between (each of our commits is planned against the
    /// generation before it and followed by a `GETGEN`; a read that finds
    /// another generation, an error, a commit by the `nft` command or the
    /// iptables backend ends the watch). A caller that verified the
    /// ruleset at the returned generation and then changed it only through
    /// this handle knows it is still as verified plus its own changes at
    /// the watched generation, without reading it again. `None` (no watch)
    /// for the iptables backend and for none.
    pub fn watch(&mut self) -> Result<Option<u32>> {
        self.custody = None;
        let generation = self.generation()?;
        if matches!(self.inner, Inner::Native(_)) {
            self.custody = generation;
        }
        Ok(self.custody)
    }

    /// The generation after this handle's last commit, if every commit
    /// since [`Firewall::watch`] was its own (`None` otherwise, and before
    /// any watch).
    pub fn watched(&self) -> Option<u32> {
        self.custody
    }

    /// Whether a commit of this handle removed something (elements, rules,
    /// chains, the table). The kernel frees removed objects after an RCU
    /// grace period, and the close of the last descriptor of the socket
    /// that committed them waits for that (tens of milliseconds); a
    /// short-lived process can hand a descriptor
    /// ([`Firewall::dup_socket`]) to a child that pays it instead. A
    /// commit that only adds leaves nothing to wait for.
    pub fn released(&self) -> bool {
        self.released
    }

    /// Remove the way kernels before Linux 6.3 need from now on: read back
    /// what is there, then delete exactly that (`NFT_MSG_DEL*`, in a batch
    /// the kernel refuses if the ruleset changed since the read), instead
    /// of "delete if present" (`NFT_MSG_DESTROY*`). A firewall finds such a
    /// kernel by itself, on its first removal, and switches; this forces
    /// the path, to test it on a newer kernel. So does
    /// `BRNET_NFT_NO_DESTROY=1` in the environment, for every firewall.
    pub fn use_legacy_removal(&mut self) {
        self.removal = Removal::Delete;
    }

    /// Whether removals use `NFT_MSG_DESTROY*`: `Some(true)` once one went
    /// through, `Some(false)` on a kernel without it (or when told so by
    /// [`Firewall::use_legacy_removal`]), `None` before the first removal.
    pub fn uses_destroy(&self) -> Option<bool> {
        match self.removal {
            Removal::Untested => None,
            Removal::Destroy => Some(true),
            Removal::Delete => Some(false),
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the installed rules drop packets for 127.0.0.0/8 arriving
    /// on a network's bridge (CVE-2020-8558): only then is it safe to turn
    /// `route_localnet` on for the bridge (needed by ports published on
    /// 127.0.0.1). The nftables ruleset always has the drop, the iptables
    /// form without a userland proxy too; no firewall has none.
    pub fn drops_loopback_from_bridges(&self) -> bool {
        match &self.inner {
            Inner::Native(_) | Inner::Nft(_) => true,
            Inner::Iptables { opts, .. } => !opts.userland_proxy,
            Inner::None => false,
        }
    }

    /// A second descriptor of the nf_tables socket (nftables backends).
    ///
    /// When the last descriptor of an nf_tables socket is closed, the
    /// kernel first finishes the cleanup that recent transactions left
    /// pending — an RCU grace period, tens of milliseconds — and the
    /// closing process waits for it; a short-lived process pays that at
    /// exit. Handing this descriptor to a helper process moves the wait
    /// there.
    pub fn dup_socket(&self) -> Option<std::io::Result<std::os::fd::OwnedFd>> {
        match &self.inner {
            Inner::Native(s) | Inner::Nft(s) => Some(s.dup()),
            Inner::Iptables { .. } | Inner::None => None,
        }
    }

    /// The nftables table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Run one operation on the nftables backends: `build` plans it (from
    /// what it reads through the [`Reader`]), and the plan is committed as
    /// one transaction.
    ///
    /// A plan built from a read carries the ruleset generation it read
    /// (`NFNL_BATCH_GENID`): if anyone committed since, the kernel refuses
    /// it (`ERESTART`) and the operation is planned again from a fresh
    /// read, so a decision such as "this is the last network, the table
    /// goes" is never made on a stale picture (several front ends share
    /// the table). Removals are "delete if present" (`NFT_MSG_DESTROY*`);
    /// on a kernel without it, or when what they refer to is gone (our
    /// table after `nft flush ruleset`), they are resolved against a read
    /// into deletes of exactly what is there. When the kernel dropped the
    /// acks (`ENOBUFS`), the ruleset is read back to tell whether the
    /// transaction went through.
    fn run(
        &mut self,
        op: &str,
        build: &mut dyn FnMut(&mut Reader<'_>) -> Result<Plan>,
    ) -> Result<()> {
        let done = self.run_watched(op, build);
        if done.is_err() {
            self.custody = None;
        }
        done
    }

    /// [`Firewall::run`], keeping the watch (see [`Firewall::watch`]).
    fn run_watched(
        &mut self,
        op: &str,
        build: &mut dyn FnMut(&mut Reader<'_>) -> Result<Plan>,
    ) -> Result<()> {
        let table = self.table.clone();
        let mut resolve = false;
        let mut last = None;
        // Taken by the first read, kept until the operation is done.
        let mut held = None;
        for _ in 0..ATTEMPTS {
            let removal = self.removal;
            let (sock, script) = match &mut self.inner {
                Inner::Native(s) => (s, false),
                Inner::Nft(s) => (s, true),
                Inner::Iptables { .. } | Inner::None => return Ok(()),
            };
            let mut rd = Reader {
                sock,
                table: &table,
                op,
                genid: None,
                lock: Some((&mut self.lock, &mut held)),
            };
            let mut plan = build(&mut rd)?;
            if (resolve || removal == Removal::Delete) && plan.ops.iter().any(|o| o.is_removal()) {
                let present = rd.present(&plan)?;
                plan = plan.resolve(&present);
            }
            if plan.ops.is_empty() {
                return Ok(());
            }
            if self.custody.is_some() && !script {
                // Watched: the batch is planned against a known
                // generation, so that the one after it is known too.
                rd.begin()?;
            }
            let genid = rd.genid;
            if script {
                self.custody = None;
                // nft 1.0.6 has no destroy: the script deletes what it
                // creates first; after a flush, that fails on sets that are
                // gone, and the plan is resolved against a read instead.
                match run(op, "nft", &["-f", "-"], &plan.to_script(&table)) {
                    Err(e) if !resolve && plan.ops.iter().any(|o| o.is_removal()) => {
                        resolve = true;
                        last = Some(e);
                        continue;
                    }
                    other => return other,
                }
            }
            let mut batch = sock.batch(genid)?;
            let owners = plan.to_batch(&table, &mut batch)?;
            let outcome = sock.transact(op, batch);
            match outcome {
                Ok(()) => {
                    if removal == Removal::Untested && plan.destroys() {
                        self.removal = Removal::Destroy;
                    }
                    if plan.releases() {
                        self.released = true;
                    }
                    self.custody = match (self.custody, genid) {
                        // Ours was the only commit since the watched
                        // generation if the one after it is the next.
                        (Some(c), Some(g)) if c == g => {
                            let after = sock.genid(op)?;
                            (after == next_generation(g)).then_some(after)
                        }
                        _ => None,
                    };
                    return Ok(());
                }
                Err(BatchError::Failed(e)) => return Err(e),
                Err(BatchError::Unknown) => {
                    // The kernel dropped our acks: read back (the lock,
                    // if any, is held already).
                    if plan.holds(&self.read_installed(op)?) {
                        return Ok(());
                    }
                    // Not through, its answer lost: on a kernel before 6.3
                    // that may be its refusal of NFT_MSG_DESTROY*, which we
                    // then never see (Debian 12's 6.1 with a full receive
                    // queue). The next try deletes what a read-back finds,
                    // which every kernel knows.
                    if removal == Removal::Untested && plan.destroys() {
                        resolve = true;
                    }
                    last = Some(Error::Socket {
                        op: "receive from",
                        object: "NETLINK_NETFILTER socket".into(),
                        errno: Errno::ENOBUFS,
                    });
                }
                Err(BatchError::Refused {
                    change,
                    what,
                    errno,
                    message,
                }) => {
                    let refused = change.and_then(|c| owners.get(c)).map(|o| &plan.ops[*o]);
                    let error = Error::Kernel {
                        op: op.to_owned(),
                        object: what,
                        errno,
                        message,
                    };
                    match (errno, refused) {
                        // The ruleset changed since we read it.
                        (Errno::ERESTART, None) if genid.is_some() => {}
                        // A kernel before 6.3: no NFT_MSG_DESTROY*.
                        (Errno::EINVAL, Some(o))
                            if o.is_destroy() && removal == Removal::Untested =>
                        {
                            tracing::info!(
                                "nf_tables: the kernel does not know NFT_MSG_DESTROY* (before Linux 6.3): removing what a read-back finds instead"
                            );
                            self.removal = Removal::Delete;
                        }
                        // What we remove, or where it was, is gone already.
                        (Errno::ENOENT, Some(o)) if o.is_removal() && !resolve => resolve = true,
                        _ => return Err(error),
                    }
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Protocol {
            op: op.to_owned(),
            detail: format!("no transaction went through in {ATTEMPTS} attempts"),
        }))
    }

    /// The iptables backend: apply `change` to a copy of the model, render
    /// before and after, restore the difference, keep the new model.
    fn iptables(
        &mut self,
        op: &str,
        change: impl FnOnce(&mut Model) -> std::result::Result<(), ModelError>,
    ) -> Result<()> {
        let Inner::Iptables { model, opts } = &mut self.inner else {
            return Ok(());
        };
        let mut next = model.clone();
        change(&mut next)?;
        for family in [Family::V4, Family::V6] {
            let used = |m: &Model| {
                m.networks().any(|n| match family {
                    Family::V4 => n.ipv4().is_some(),
                    Family::V6 => n.ipv6().is_some(),
                })
            };
            if !used(model) && !used(&next) {
                continue;
            }
            let before = iptables::render(model.states(), family, opts);
            let after = used(&next).then(|| iptables::render(next.states(), family, opts));
            let (save, restore) = match family {
                Family::V4 => ("iptables-save", "iptables-restore"),
                Family::V6 => ("ip6tables-save", "ip6tables-restore"),
            };
            let current = SaveState::parse(&output(op, save, &[])?);
            let input = restore_input(&before, after.as_ref(), &current);
            run(op, restore, &["-w", "--noflush"], &input)?;
        }
        *model = next;
        Ok(())
    }

    /// Install `net` with `endpoints`, or replace what is installed for it:
    /// its chains are rewritten and its elements made exactly these. The
    /// table, its sets and base chains are created if missing. One
    /// transaction.
    pub fn install_network(&mut self, net: &Network, endpoints: &[Endpoint]) -> Result<()> {
        for ep in endpoints {
            net.check_endpoint(ep)?;
        }
        let op = format!("install network {}", net.bridge());
        if let Inner::Iptables { .. } = self.inner {
            let (net, eps) = (net.clone(), endpoints.to_vec());
            return self.iptables(&op, move |m| m.set_network(net, eps));
        }
        self.run(&op, &mut |rd| {
            let found = rd.found(net)?;
            Ok(Plan::install(net, endpoints, &found))
        })
    }

    /// Remove `net`: exactly its chains and its elements. When it is the
    /// last network, the whole table goes, so a host without networks has
    /// no trace of us. Removing a network that is not installed is a no-op.
    pub fn remove_network(&mut self, net: &Network) -> Result<()> {
        let op = format!("remove network {}", net.bridge());
        if let Inner::Iptables { .. } = self.inner {
            let br = net.bridge().clone();
            return self.iptables(&op, move |m| {
                m.remove_network(&br);
                Ok(())
            });
        }
        self.run(&op, &mut |rd| {
            if !rd.table_exists()? {
                return Ok(Plan::default());
            }
            // Whether this is the last network is read under the ruleset's
            // generation: a network another front end adds meanwhile makes
            // the kernel refuse the table's removal, and we read again.
            let (bridges, _) = rd.set_elements(Set::Bridges)?;
            let last = bridges
                .iter()
                .all(|e| matches!(e, Element::Bridge(b) if b == net.bridge()));
            let found = if last { Vec::new() } else { rd.found(net)? };
            Ok(Plan::remove(net, &found, last))
        })
    }

    /// Add an endpoint: its addresses (direct-access protection) and its
    /// published ports. One transaction, one element each.
    pub fn add_endpoint(&mut self, net: &Network, ep: &Endpoint) -> Result<()> {
        net.check_endpoint(ep)?;
        let op = format!("add endpoint {:?} on {}", ep.addrs(), net.bridge());
        if let Inner::Iptables { .. } = self.inner {
            let (br, ep) = (net.bridge().clone(), ep.clone());
            return self.iptables(&op, move |m| m.add_endpoint(&br, ep));
        }
        self.run(&op, &mut |_| {
            let mut elems = Vec::new();
            ruleset::endpoint_elements(net, ep, &mut elems);
            Ok(Plan::add(elems))
        })
    }

    /// Remove an endpoint's elements (whether or not they are there).
    pub fn remove_endpoint(&mut self, net: &Network, ep: &Endpoint) -> Result<()> {
        let op = format!("remove endpoint {:?} on {}", ep.addrs(), net.bridge());
        if let Inner::Iptables { .. } = self.inner {
            let (br, ep) = (net.bridge().clone(), ep.clone());
            return self.iptables(&op, move |m| m.remove_endpoint(&br, &ep).map(|_| ()));
        }
        self.run(&op, &mut |_| {
            let mut elems = Vec::new();
            ruleset::endpoint_elements(net, ep, &mut elems);
            Ok(Plan::destroy(elems))
        })
    }

    /// Publish `ports` on `net`: one map element per port, no rule changes.
    pub fn add_ports(&mut self, net: &Network, ports: &[PortMapping]) -> Result<()> {
        net.check_ports(ports)?;
        let op = format!("add ports on {}", net.bridge());
        if let Inner::Iptables { .. } = self.inner {
            let (br, ports) = (net.bridge().clone(), ports.to_vec());
            return self.iptables(&op, move |m| m.add_ports(&br, &ports));
        }
        self.run(&op, &mut |_| {
            let mut elems = Vec::with_capacity(ports.len());
            ruleset::port_elements(net, ports, &mut elems);
            Ok(Plan::add(elems))
        })
    }

    /// Withdraw `ports` from `net` (whether or not they are there).
    pub fn remove_ports(&mut self, net: &Network, ports: &[PortMapping]) -> Result<()> {
        let op = format!("remove ports on {}", net.bridge());
        if let Inner::Iptables { .. } = self.inner {
            let (br, ports) = (net.bridge().clone(), ports.to_vec());
            return self.iptables(&op, move |m| m.remove_ports(&br, &ports));
        }
        self.run(&op, &mut |_| {
            let mut elems = Vec::with_capacity(ports.len());
            ruleset::port_elements(net, ports, &mut elems);
            Ok(Plan::destroy(elems))
        })
    }

    /// Read back what is installed.
    pub fn dump(&mut self) -> Result<Installed> {
        let op = "dump";
        if let Inner::Iptables { .. } = self.inner {
            let mut inst = Installed::default();
            for (family, save) in [
                (Family::V4, "iptables-save"),
                (Family::V6, "ip6tables-save"),
            ] {
                let state = SaveState::parse(&output(op, save, &[])?);
                for (table, t) in &state.tables {
                    for chain in &t.chains {
                        if chain.starts_with("DOCKER") {
                            inst.exists = true;
                            let rules = t
                                .lines
                                .iter()
                                .filter(|l| l.split(' ').nth(1) == Some(chain.as_str()))
                                .map(|_| None)
                                .collect();
                            let fam = if family == Family::V4 { "" } else { "6" };
                            inst.chains.insert(format!("{table}{fam}/{chain}"), rules);
                        }
                    }
                    for l in &t.lines {
                        inst.lines.insert(format!("{table} {l}"));
                    }
                }
            }
            return Ok(inst);
        }
        let _held = self.lock.hold();
        self.read_installed(op)
    }

    /// Read back our table (nftables backends), all of it from one
    /// generation of the ruleset: read again if anything committed
    /// meanwhile (an element dump does not say when it was interrupted).
    fn read_installed(&mut self, op: &str) -> Result<Installed> {
        let table = self.table.clone();
        let (Inner::Native(sock) | Inner::Nft(sock)) = &mut self.inner else {
            return Ok(Installed::default());
        };
        for _ in 0..ATTEMPTS {
            let before = sock.genid(op)?;
            if self.custody.is_some_and(|c| c != before) {
                self.custody = None;
            }
            let inst = Self::read_once(sock, &table, op)?;
            if sock.genid(op)? == before {
                return Ok(inst);
            }
        }
        self.custody = None;
        Err(Error::Kernel {
            op: op.to_owned(),
            object: format!("read back table inet {table}"),
            errno: Errno::EINTR,
            message: Some(format!(
                "the ruleset changed under {ATTEMPTS} reads in a row"
            )),
        })
    }

    fn read_once(sock: &mut NftSocket, table: &str, op: &str) -> Result<Installed> {
        let mut rd = Reader {
            sock,
            table,
            op,
            genid: None,
            lock: None,
        };
        let mut inst = Installed {
            exists: rd.table_exists()?,
            ..Installed::default()
        };
        if !inst.exists {
            return Ok(inst);
        }
        // Every chain, even empty ones, then every rule.
        for name in rd.chains()? {
            inst.chains.entry(name).or_default();
        }
        let rules = rd
            .sock
            .dump(op, NFT_MSG_GETRULE, &msg::rules_table(table)?)?
            .unwrap_or_default();
        for r in rules {
            if let Some((chain, comment)) = dump::rule_chain_comment(&r) {
                inst.chains.entry(chain).or_default().push(comment);
            }
        }
        for s in ALL_SETS {
            let (elems, unknown) = rd.set_elements(s)?;
            inst.elements.extend(elems);
            inst.unknown_elements += unknown;
        }
        Ok(inst)
    }

    /// How the installed state differs from `net` with `endpoints` (and
    /// `ports` published outside endpoints). Empty when intact; anything
    /// else means [`Firewall::install_network`] should run again.
    pub fn check(&mut self, net: &Network, endpoints: &[Endpoint]) -> Result<Vec<Drift>> {
        self.check_with_ports(net, endpoints, &[])
    }

    /// [`Firewall::check`] with ports published through [`Firewall::add_ports`].
    pub fn check_with_ports(
        &mut self,
        net: &Network,
        endpoints: &[Endpoint],
        ports: &[PortMapping],
    ) -> Result<Vec<Drift>> {
        match &self.inner {
            Inner::None => Ok(Vec::new()),
            Inner::Iptables { opts, .. } => {
                let opts = *opts;
                let installed = self.dump()?;
                let mut m = Model::new();
                m.set_network(net.clone(), endpoints.to_vec())?;
                if !ports.is_empty() {
                    m.add_ports(net.bridge(), ports)?;
                }
                let mut out = Vec::new();
                for family in [Family::V4, Family::V6] {
                    let fam_used = match family {
                        Family::V4 => net.ipv4().is_some(),
                        Family::V6 => net.ipv6().is_some(),
                    };
                    if !fam_used {
                        continue;
                    }
                    for t in iptables::render(m.states(), family, &opts).tables {
                        for l in t.lines() {
                            if !installed.lines.contains(&format!("{} {l}", t.name)) {
                                out.push(Drift::MissingRule {
                                    table: t.name.to_owned(),
                                    rule: l.clone(),
                                });
                            }
                        }
                    }
                }
                Ok(out)
            }
            Inner::Native(_) | Inner::Nft(_) => {
                let installed = self.dump()?;
                Ok(installed.drift(&self.table, net, endpoints, ports))
            }
        }
    }
}

/// The generation a commit at `genid` leaves: the next one, 0 skipped
/// (the kernel's `base_seq`, which `NFNL_BATCH_GENID` 0 would not check).
fn next_generation(genid: u32) -> u32 {
    match genid.wrapping_add(1) {
        0 => 1,
        g => g,
    }
}

/// Reads of our table on behalf of one attempt of an operation. When
/// planning, the first read takes the table lock (see [`crate::lock`])
/// and notes the ruleset's generation, which the operation's batch then
/// carries: what was read is what the batch changes, or the kernel refuses
/// it.
struct Reader<'a> {
    sock: &'a mut NftSocket,
    table: &'a str,
    op: &'a str,
    /// The generation of the first read; `None` before it, and for reads
    /// that plan nothing.
    genid: Option<u32>,
    /// When planning: the lock, and where to keep it held.
    lock: Option<(&'a mut TableLock, &'a mut Option<Held>)>,
}

impl Reader<'_> {
    fn begin(&mut self) -> Result<()> {
        if let Some((lock, held)) = &mut self.lock
            && self.genid.is_none()
        {
            if held.is_none() {
                **held = Some(lock.hold());
            }
            self.genid = Some(self.sock.genid(self.op)?);
        }
        Ok(())
    }

    fn table_exists(&mut self) -> Result<bool> {
        self.begin()?;
        let tables = self
            .sock
            .dump(self.op, NFT_MSG_GETTABLE, &[])?
            .unwrap_or_default();
        Ok(tables
            .iter()
            .any(|t| dump::table_name(t).as_deref() == Some(self.table)))
    }

    fn chains(&mut self) -> Result<BTreeSet<String>> {
        self.begin()?;
        let chains = self
            .sock
            .dump(self.op, NFT_MSG_GETCHAIN, &msg::chains_table(self.table)?)?
            .unwrap_or_default();
        Ok(chains
            .iter()
            .filter_map(|c| dump::chain_table_name(c))
            .filter(|(t, _)| t == self.table)
            .map(|(_, name)| name)
            .collect())
    }

    /// Decoded elements of one set, and how many did not decode.
    fn set_elements(&mut self, set: Set) -> Result<(Vec<Element>, usize)> {
        let mut out = Vec::new();
        let mut unknown = 0;
        for raw in self.raw_elements(set)? {
            match dump::decode(set, &raw) {
                Some(e) => out.push(e),
                None => unknown += 1,
            }
        }
        Ok((out, unknown))
    }

    fn raw_elements(&mut self, set: Set) -> Result<Vec<dump::RawElement>> {
        self.begin()?;
        let Some(replies) = self.sock.dump(
            self.op,
            NFT_MSG_GETSETELEM,
            &msg::set_ref(self.table, set.name())?,
        )?
        else {
            return Ok(Vec::new());
        };
        Ok(replies.iter().flat_map(|r| dump::raw_elements(r)).collect())
    }

    /// Elements of `net`'s sets as the kernel has them now.
    fn found(&mut self, net: &Network) -> Result<Vec<Element>> {
        let mut sets = Vec::new();
        if net.ipv4().is_some() {
            sets.extend([Set::Ports4, Set::Ports4Host, Set::Open4, Set::Ep4]);
        }
        if net.ipv6().is_some() {
            sets.extend([Set::Ports6, Set::Ports6Host, Set::Open6, Set::Ep6]);
        }
        let mut out = Vec::new();
        for s in sets {
            out.extend(self.set_elements(s)?.0);
        }
        Ok(out)
    }

    /// What `plan` removes that is there.
    fn present(&mut self, plan: &Plan) -> Result<Present> {
        let mut present = Present {
            table: self.table_exists()?,
            ..Present::default()
        };
        if !present.table {
            return Ok(present);
        }
        let needs = plan.needs();
        if needs.chains {
            present.chains = self.chains()?;
        }
        for set in needs.sets {
            let keys = self.raw_elements(set)?.into_iter().map(|r| r.key).collect();
            present.keys.insert(set, keys);
        }
        Ok(present)
    }
}

/// What `iptables-save` printed: per table, its chains and rule lines.
#[derive(Debug, Default)]
pub(crate) struct SaveState {
    pub tables: std::collections::BTreeMap<String, SaveTable>,
}

#[derive(Debug, Default)]
pub(crate) struct SaveTable {
    pub chains: BTreeSet<String>,
    pub lines: Vec<String>,
}

impl SaveState {
    pub(crate) fn parse(text: &str) -> SaveState {
        let mut state = SaveState::default();
        let mut cur: Option<String> = None;
        for line in text.lines() {
            if let Some(t) = line.strip_prefix('*') {
                cur = Some(t.to_owned());
                state.tables.entry(t.to_owned()).or_default();
            } else if let (Some(t), Some(c)) = (&cur, line.strip_prefix(':')) {
                if let Some(name) = c.split(' ').next() {
                    state
                        .tables
                        .entry(t.clone())
                        .or_default()
                        .chains
                        .insert(name.to_owned());
                }
            } else if let (Some(t), true) = (&cur, line.starts_with("-A ")) {
                state
                    .tables
                    .entry(t.clone())
                    .or_default()
                    .lines
                    .push(line.to_owned());
            }
        }
        state
    }
}

/// The `iptables-restore --noflush` input that takes the host from
/// `before` (what this handle rendered last time) to `after` (`None`: no
/// networks left, remove our chains), given what is installed now.
///
/// Our user chains are declared, which creates or flushes them, and
/// refilled; in built-in chains, our rules (those of `before` or `after`)
/// are deleted and the `after` ones appended, so order and count are
/// right however often it runs. `DOCKER-USER` is created, never flushed.
pub(crate) fn restore_input(
    before: &Rendered,
    after: Option<&Rendered>,
    current: &SaveState,
) -> String {
    let mut out = String::new();
    for (i, t) in before.tables.iter().enumerate() {
        let after_t = after.and_then(|a| a.tables.get(i));
        let empty = SaveTable::default();
        let cur = current.tables.get(t.name).unwrap_or(&empty);
        out.push_str(&format!("*{}\n", t.name));
        let mut user: Vec<&str> = t.user_chains.clone();
        user.sort();
        for c in &user {
            if *c == USER_CHAIN && cur.chains.contains(*c) {
                continue;
            }
            if after_t.is_none() && !cur.chains.contains(*c) {
                continue;
            }
            out.push_str(&format!(":{c} - [0:0]\n"));
        }
        let ours: BTreeSet<&String> = t
            .lines()
            .chain(after_t.into_iter().flat_map(|a| a.lines()))
            .filter(|l| t.is_builtin(l.split(' ').nth(1).unwrap_or_default()))
            .collect();
        for l in cur.lines.iter().filter(|l| ours.contains(l)) {
            out.push_str(&format!("-D{}\n", &l[2..]));
        }
        match after_t {
            Some(a) => {
                for l in a.lines() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            None => {
                for c in user
                    .iter()
                    .filter(|c| **c != USER_CHAIN && cur.chains.contains(**c))
                {
                    out.push_str(&format!("-X {c}\n"));
                }
            }
        }
        out.push_str("COMMIT\n");
    }
    out
}

fn spawn_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO)
}

/// `program` could not be started, fed or waited for.
fn spawn_failed(op: &str, program: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Spawn {
        op: op.to_owned(),
        program,
        errno: spawn_errno(&e),
    }
}

/// `Err` with its stderr when `program` exited with a failure.
fn exited_ok(op: &str, program: &'static str, out: &Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Command {
        op: op.to_owned(),
        program,
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Run `program args` with `input` on stdin; fail with its stderr.
fn run(op: &str, program: &'static str, args: &[&str], input: &str) -> Result<()> {
    tracing::debug!(
        op,
        "{program} {}: {} lines on stdin",
        args.join(" "),
        input.lines().count()
    );
    tracing::trace!("{program} stdin:\n{input}");
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_failed(op, program))?;
    let write = child
        .stdin
        .take()
        .map(|mut s| s.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(spawn_failed(op, program))?;
    exited_ok(op, program, &out)?;
    write.transpose().map_err(spawn_failed(op, program))?;
    Ok(())
}

/// Run `program args` and return its stdout.
fn output(op: &str, program: &'static str, args: &[&str]) -> Result<String> {
    tracing::debug!(op, "{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(spawn_failed(op, program))?;
    exited_ok(op, program, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod kernel_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<Firewall>();
    }

    #[test]
    fn table_names_are_checked() {
        assert!(valid_table("brnet"));
        assert!(valid_table("brnet-test_2"));
        assert!(!valid_table(""));
        assert!(!valid_table("2brnet"));
        assert!(!valid_table("br net"));
        let e = Firewall::with_table(Backend::None, "bad name").unwrap_err();
        assert!(matches!(
            e,
            Error::Model(ModelError::InvalidTableName { .. })
        ));
    }

    #[test]
    fn none_backend_does_nothing_successfully() {
        let mut fw = Firewall::new(Backend::None).unwrap();
        let net = Network::builder("br0")
            .ipv4("10.0.0.0/24".parse().unwrap())
            .build()
            .unwrap();
        fw.install_network(&net, &[]).unwrap();
        assert!(!fw.dump().unwrap().exists());
        assert!(fw.check(&net, &[]).unwrap().is_empty());
        fw.remove_network(&net).unwrap();
    }

    #[test]
    fn restore_input_deletes_ours_and_keeps_the_user_chain() {
        let mut m = Model::new();
        m.set_network(
            Network::builder("br0")
                .ipv4("10.0.0.0/24".parse().unwrap())
                .build()
                .unwrap(),
            vec![],
        )
        .unwrap();
        let r = iptables::render(m.states(), Family::V4, &IptablesOptions::default());
        let current = SaveState::parse(
            "*filter\n:FORWARD ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n:DOCKER - [0:0]\n\
             -A FORWARD -j DOCKER-USER\n-A FORWARD -j MINE\nCOMMIT\n",
        );
        let input = restore_input(&r, Some(&r), &current);
        let filter = input.split("*filter\n").nth(1).unwrap();
        assert!(!filter.contains(":DOCKER-USER"), "never flushed: {filter}");
        assert!(filter.contains(":DOCKER - [0:0]"));
        assert!(filter.contains("-D FORWARD -j DOCKER-USER\n"));
        assert!(!filter.contains("MINE"));
        // No networks left: our chains are deleted, the user's is kept.
        let input = restore_input(&r, None, &current);
        assert!(input.contains("-X DOCKER\n"));
        assert!(!input.contains("-X DOCKER-USER"));
    }
}
