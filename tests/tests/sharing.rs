//! Several processes on one state directory: a handle that writes a
//! snapshot (a network created or removed, a journal compacted) keeps
//! reading and appending to the file it wrote, while other processes
//! connect, disconnect, create and remove networks around it. No record is
//! lost, no address is handed out twice, the file always reopens.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bridge_net::state::{COMPACT_MIN, STATE_FILE, State, Store};
use bridge_net::{BridgeNet, ConnectOptions, NetnsRef, NetworkMode, NetworkOptions};
use brnet_netns::NetnsDir;
use brnet_tests::*;

fn subnet_opts(subnet: &str) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    o.ipv4.subnet = Some(subnet.parse().unwrap());
    o
}

fn ns(name: &str) -> NetnsRef {
    name.parse().unwrap()
}

/// The IPv4 address of `eth0` inside the namespace `name`, as the kernel
/// has it.
fn kernel_addr(name: &str) -> Ipv4Addr {
    let v = ip_json(&["-n", name, "addr", "show", "dev", "eth0"]);
    v[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["family"] == "inet")
        .and_then(|a| a["local"].as_str())
        .unwrap_or_else(|| panic!("no IPv4 address in {name}: {v}"))
        .parse()
        .unwrap()
}

/// The state file parses as a whole (what every later open does first).
fn parse_file(dir: &Path) -> State {
    let bytes = std::fs::read(dir.join(STATE_FILE)).unwrap();
    State::parse(&bytes).unwrap_or_else(|e| {
        let _ = std::fs::write("/tmp/brnet-sharing-failed-state.json", &bytes);
        panic!(
            "the state file does not reopen: {e} (copied to /tmp/brnet-sharing-failed-state.json)"
        )
    })
}

/// Worker for the tests below: runs only when started by them, inside
/// their sandbox.
#[test]
fn sharing_worker() {
    let Ok(job) = std::env::var("BRNET_SHARING_JOB") else {
        return;
    };
    let state = std::env::var("BRNET_SHARING_STATE").unwrap();
    let arg = std::env::var("BRNET_SHARING_ARG").unwrap_or_default();
    match job.as_str() {
        "connect" => {
            let mut b = BridgeNet::open(&state).unwrap();
            let e = b
                .connect("n", &ns(&arg), &ConnectOptions::default())
                .unwrap();
            println!("kept {arg} {}", e.ipv4.unwrap().addr());
        }
        "mixed" => mixed(Path::new(&state), arg.parse().unwrap()),
        other => panic!("unknown job {other}"),
    }
}

/// Processes sharing the state directory.
const WORKERS: usize = 4;
/// Iterations of each `mixed` worker.
const ROUNDS: usize = 90;

/// One worker of the shared load: one long-lived handle that connects a
/// namespace per round; every other round deletes the previous round's
/// namespace and disconnects it (the cheap teardown); every 15 rounds
/// creates and removes a network of its own (two snapshots written by this
/// handle); sandboxes attached and detached in between add journal records
/// so that compaction happens several times. Prints `kept NAME ADDR` for
/// every endpoint it leaves connected.
fn mixed(state: &Path, w: usize) {
    let mut b = BridgeNet::open(state).unwrap();
    // Start together, once every worker has opened (and reconciled):
    // a later open would rightly drop the endpoints whose namespace a
    // worker has deleted and not yet disconnected.
    std::fs::write(state.join(format!("ready-{w}")), b"").unwrap();
    while (0..WORKERS).any(|k| !state.join(format!("ready-{k}")).exists()) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let mut kept = BTreeMap::new();
    for i in 0..ROUNDS {
        let name = format!("w{w}-{i}");
        NetnsDir::default().create(&name).unwrap();
        let e = b
            .connect("n", &ns(&name), &ConnectOptions::default())
            .unwrap_or_else(|e| panic!("worker {w} round {i}: connect: {e}"));
        kept.insert(name.clone(), e.ipv4.unwrap().addr());
        if i % 2 == 1 {
            let prev = format!("w{w}-{}", i - 1);
            NetnsDir::default().delete(&prev).unwrap();
            assert!(
                b.disconnect("n", &ns(&prev))
                    .unwrap_or_else(|e| panic!("worker {w} round {i}: disconnect: {e}")),
                "worker {w}: {prev} was connected"
            );
            kept.remove(&prev);
        }
        if i % 15 == 7 {
            let own = format!("own{w}-{i}");
            b.create_network(&own, &NetworkOptions::default())
                .unwrap_or_else(|e| panic!("worker {w} round {i}: create: {e}"));
            assert!(b.remove_network(&own).unwrap());
        }
        let sandbox = format!("s{w}-{i}");
        for _ in 0..2 {
            b.attach(&sandbox, &NetworkMode::None, Some(&ns(&name)))
                .unwrap_or_else(|e| panic!("worker {w} round {i}: attach: {e}"));
            assert!(b.detach(&sandbox).unwrap());
        }
    }
    for (name, addr) in kept {
        println!("kept {name} {addr}");
    }
}

fn worker(job: &str, state: &Path, arg: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sharing_worker",
            "--test-threads=1",
            "--nocapture",
        ])
        .env("BRNET_SHARING_JOB", job)
        .env("BRNET_SHARING_STATE", state)
        .env("BRNET_SHARING_ARG", arg)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for `child`; its `kept NAME ADDR` lines.
fn kept_by(child: Child) -> Vec<(String, Ipv4Addr)> {
    kept(child.wait_with_output().unwrap())
}

/// A finished worker's `kept NAME ADDR` lines.
fn kept(out: std::process::Output) -> Vec<(String, Ipv4Addr)> {
    assert!(out.status.success(), "worker failed: {:?}", out.status);
    BufReader::new(&out.stdout[..])
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            // The harness may print `test sharing_worker ... ` first.
            let mut w = l[l.find("kept ")? + 5..].split(' ');
            Some((w.next()?.to_owned(), w.next()?.parse().ok()?))
        })
        .collect()
}

/// A handle that has read the file, then writes a snapshot (creates a
/// network), must read what another process appends next, and append
/// after it. Before the fix it read the old, unlinked file: it missed the
/// other process's connect, gave the same address again and wrote its
/// record over the other's.
#[test]
fn a_handle_reads_what_others_append_after_its_own_snapshot() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        BridgeNet::open(dir.path())
            .unwrap()
            .create_network("n", &subnet_opts("10.56.0.0/16"))
            .unwrap();
        // This handle loads an existing file (and holds it open).
        let mut a = BridgeNet::open(dir.path()).unwrap();
        let mut got: Vec<(String, Ipv4Addr)> = Vec::new();
        for round in 0..3 {
            // A snapshot written by this handle: a network created (or
            // removed).
            let other = format!("m{round}");
            a.create_network(&other, &NetworkOptions::default())
                .unwrap();
            // Another process connects.
            let theirs = format!("b{round}");
            NetnsDir::default().create(&theirs).unwrap();
            got.extend(kept_by(worker("connect", dir.path(), &theirs)));
            // Then this handle connects.
            let ours = format!("a{round}");
            NetnsDir::default().create(&ours).unwrap();
            let e = a
                .connect("n", &ns(&ours), &ConnectOptions::default())
                .unwrap();
            got.push((ours, e.ipv4.unwrap().addr()));
            assert!(a.remove_network(&other).unwrap());
        }
        assert_eq!(got.len(), 6);
        check_shared(dir.path(), &got);
    });
}

/// The same after a compaction this handle did itself (a long journal
/// rewritten as a snapshot by the append that crossed the threshold).
#[test]
fn a_handle_reads_what_others_append_after_its_own_compaction() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        BridgeNet::open(dir.path())
            .unwrap()
            .create_network("n", &subnet_opts("10.57.0.0/16"))
            .unwrap();
        let mut a = BridgeNet::open(dir.path()).unwrap();
        NetnsDir::default().create("s").unwrap();
        // Attach and detach a sandbox (one record each) until this handle
        // compacts: the journal then shrinks.
        let mut last = journal_lines(dir.path());
        let mut compacted = false;
        for _ in 0..COMPACT_MIN {
            a.attach("sb", &NetworkMode::None, Some(&ns("s"))).unwrap();
            a.detach("sb").unwrap();
            let now = journal_lines(dir.path());
            if now < last {
                compacted = true;
                break;
            }
            last = now;
        }
        assert!(compacted, "the handle compacted the journal");
        NetnsDir::default().create("b").unwrap();
        let mut got = kept_by(worker("connect", dir.path(), "b"));
        NetnsDir::default().create("a").unwrap();
        let e = a
            .connect("n", &ns("a"), &ConnectOptions::default())
            .unwrap();
        got.push(("a".into(), e.ipv4.unwrap().addr()));
        check_shared(dir.path(), &got);
    });
}

/// Four processes, each with one long-lived handle, connect, disconnect,
/// create and remove networks and attach sandboxes on one state directory
/// (about 1,700 journal records: the journal is compacted several times,
/// by whichever process crosses the threshold). A reader opens the file
/// without the lock all along.
#[test]
fn four_processes_share_one_state_through_snapshots_and_compactions() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        BridgeNet::open(dir.path())
            .unwrap()
            .create_network("n", &subnet_opts("10.58.0.0/16"))
            .unwrap();
        // The unlocked reader (as the name resolver and `network ls` read
        // the state): every refresh succeeds, and so does every whole
        // parse of the file.
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let done = done.clone();
            let dir = dir.path().to_owned();
            std::thread::spawn(move || {
                let mut store = Store::open_unlocked(&dir).unwrap();
                let mut inodes = BTreeSet::new();
                let mut reads = 0usize;
                while !done.load(Ordering::Relaxed) {
                    store
                        .refresh_unlocked()
                        .unwrap_or_else(|e| panic!("unlocked refresh: {e}"));
                    let bytes = std::fs::read(dir.join(STATE_FILE)).unwrap();
                    if let Err(e) = State::parse(&bytes) {
                        let _ = std::fs::write("/tmp/brnet-sharing-failed-state.json", &bytes);
                        panic!("the state file does not reopen: {e}");
                    }
                    inodes.insert(std::os::unix::fs::MetadataExt::ino(
                        &std::fs::metadata(dir.join(STATE_FILE)).unwrap(),
                    ));
                    reads += 1;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                (reads, inodes.len())
            })
        };
        let kids: Vec<Child> = (0..WORKERS)
            .map(|w| worker("mixed", dir.path(), &w.to_string()))
            .collect();
        // Every worker waited for before any is judged.
        let outs: Vec<_> = kids.into_iter().map(|k| k.wait_with_output()).collect();
        let got: Vec<(String, Ipv4Addr)> =
            outs.into_iter().flat_map(|o| kept(o.unwrap())).collect();
        done.store(true, Ordering::Relaxed);
        let (reads, files) = reader.join().unwrap();
        println!(
            "{} endpoints kept; {reads} unlocked reads saw {files} files",
            got.len()
        );
        assert_eq!(got.len(), WORKERS * ROUNDS / 2);
        // Each worker wrote ~430 records (2 per connect, 1 per
        // disconnect, 4 per sandbox round, 2 network snapshots per 15
        // rounds): with ~1700 in all, the journal was compacted.
        assert!(
            files > 4,
            "snapshots and compactions happened ({files} files seen)"
        );
        check_shared(dir.path(), &got);
    });
}

/// What the processes were given (`got`: namespace name and address) is
/// exactly what the state holds for network `n` and what the kernel has:
/// no record lost, no address twice, and the file reopens.
fn check_shared(dir: &Path, got: &[(String, Ipv4Addr)]) {
    parse_file(dir);
    let mut b = BridgeNet::open(dir).unwrap();
    let recorded: BTreeMap<String, Ipv4Addr> = b
        .endpoints(Some("n"))
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.netns.file_name().unwrap().to_string_lossy().into_owned(),
                e.ipv4.unwrap().addr(),
            )
        })
        .collect();
    let given: BTreeMap<String, Ipv4Addr> = got.iter().cloned().collect();
    let distinct: BTreeSet<Ipv4Addr> = got.iter().map(|(_, a)| *a).collect();
    assert_eq!(
        distinct.len(),
        got.len(),
        "no address handed out twice: {got:?}"
    );
    assert_eq!(recorded, given, "every connect is recorded, as given");
    for (name, addr) in &given {
        assert_eq!(kernel_addr(name), *addr, "{name}'s address in the kernel");
    }
    assert!(b.reconcile().unwrap().endpoints_dropped.is_empty());
}

/// Journal records of the state file (after its snapshot).
fn journal_lines(dir: &Path) -> usize {
    Store::open_unlocked(dir).unwrap().journal_records()
}

/// Attach and detach a sandbox (one record each) until the journal has
/// `target` lines.
fn fill_journal(b: &mut BridgeNet, dir: &Path, target: usize) {
    if !Path::new("/run/netns/filler").exists() {
        NetnsDir::default().create("filler").unwrap();
    }
    let attach = |b: &mut BridgeNet| {
        b.attach("sb", &NetworkMode::None, Some(&ns("filler")))
            .unwrap()
    };
    while journal_lines(dir) + 1 < target {
        attach(b);
        b.detach("sb").unwrap();
    }
    if journal_lines(dir) < target {
        attach(b);
    }
}

/// A connect whose intent record is the one that crosses the compaction
/// threshold: the snapshot must not hold the address the connect has
/// taken in memory but not recorded yet. Before, it did; the connect's
/// record then took the address a second time on replay, and no open of
/// the file worked again ("address ... is already allocated").
#[test]
fn a_compaction_in_the_middle_of_a_connect_keeps_the_file_whole() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("n", &subnet_opts("10.60.0.0/16")).unwrap();
        fill_journal(&mut b, dir.path(), COMPACT_MIN - 1);
        assert_eq!(journal_lines(dir.path()), COMPACT_MIN - 1);
        let mut got = Vec::new();
        for name in ["c1", "c2"] {
            NetnsDir::default().create(name).unwrap();
            let e = b
                .connect("n", &ns(name), &ConnectOptions::default())
                .unwrap();
            got.push((name.to_owned(), e.ipv4.unwrap().addr()));
        }
        assert!(journal_lines(dir.path()) < COMPACT_MIN, "compacted");
        check_shared(dir.path(), &got);
    });
}

/// A compaction that cannot be written (its temp file cannot be created)
/// fails no connect: the connect says it connected, and the kernel and the
/// state agree. Before, the connect whose record crossed the threshold
/// returned the compaction's error and undid its veth, leaving a recorded
/// endpoint without one.
#[test]
fn a_failed_compaction_does_not_fail_the_connect() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        b.create_network("n", &subnet_opts("10.59.0.0/16")).unwrap();
        // A directory where the compaction's temp file goes: creating it
        // fails, even as root.
        let blocker = dir.path().join(format!("{STATE_FILE}.tmp"));
        std::fs::create_dir(&blocker).unwrap();
        let mut got = Vec::new();
        let connect = |b: &mut BridgeNet, got: &mut Vec<_>, name: &str| {
            NetnsDir::default().create(name).unwrap();
            let e = b
                .connect("n", &ns(name), &ConnectOptions::default())
                .unwrap_or_else(|e| panic!("connect {name}: {e}"));
            assert!(link_names().contains(&e.host_veth), "{name}'s veth");
            got.push((name.to_owned(), e.ipv4.unwrap().addr()));
        };
        // Two records short of the threshold: the connect's second record
        // crosses it.
        fill_journal(&mut b, dir.path(), COMPACT_MIN - 2);
        assert_eq!(journal_lines(dir.path()), COMPACT_MIN - 2);
        connect(&mut b, &mut got, "c1");
        // Past it: every change tries (and fails) to compact first.
        fill_journal(&mut b, dir.path(), COMPACT_MIN + 20);
        connect(&mut b, &mut got, "c2");
        assert!(journal_lines(dir.path()) > COMPACT_MIN, "not compacted");
        check_shared(dir.path(), &got);
        // Once the way is clear, the next change compacts.
        std::fs::remove_dir(&blocker).unwrap();
        connect(&mut b, &mut got, "c3");
        assert!(journal_lines(dir.path()) < COMPACT_MIN, "compacted");
        check_shared(dir.path(), &got);
    });
}
