//! The resolver process: one per directory, serving what its embedder
//! writes there (`brnet-dns --state-dir DIR dns serve`, the binary of this
//! crate, as aardvark-dns is netavark's; `brnet dns serve` is the same).
//!
//! The protocol, all in the directory:
//!
//! - [`SPEC_FILE`] (`resolver.json`): the [`Spec`] — the networks, their
//!   names and addresses, the addresses to listen on. The embedder
//!   (bridge-net) writes it whole, atomically (a temp file renamed), under
//!   its own lock, when a DNS-enabled network changes as a whole (its
//!   first endpoint or its last, its settings), then replaces the journal
//!   with an empty one ([`Journal::reset`]).
//! - [`JOURNAL_FILE`] (`resolver.journal`): what changed since the spec
//!   was written, one [`Change`] (an endpoint added to or removed from a
//!   network the spec has) a line, appended ([`Journal::append`]) under
//!   the embedder's lock: a connect or disconnect costs one short write,
//!   whatever the number of endpoints. What the resolver serves is always
//!   the spec, then the journal's changes in order; the embedder folds the
//!   journal into a new spec when it outgrows it.
//! - [`SOCKET`] (`resolver.sock`), one line each way: `sync` → read what
//!   is new (the journal's lines past those already read; everything
//!   again when the journal was replaced), update records and listeners
//!   → `ok`; `ping` → `ok`;
//!   `stop` → `ok`, then exit. After a sync that leaves no network with a
//!   name to serve, the resolver exits; it also exits when the spec file
//!   goes away (its directory was removed).
//! - [`LOCK`] (`resolver.lock`): held by the one resolver of the
//!   directory; [`PID`] (`resolver.pid`) names it; [`LOG`]
//!   (`resolver.log`) is where the embedder sends its standard error.
//! - [`RESOLV_CONF_IN_DIR`] (`resolv.conf`), when present: the upstream
//!   nameservers, instead of the host's `/etc/resolv.conf`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, RESOLV_CONF};
use crate::error::{Error, Result};
use crate::records::Records;
use crate::resolver::Resolver;

/// The control socket, in the directory.
pub const SOCKET: &str = "resolver.sock";
/// The resolver's lock, in the directory.
pub const LOCK: &str = "resolver.lock";
/// The resolver's pid, in the directory.
pub const PID: &str = "resolver.pid";
/// The resolver's log, in the directory (written by whoever starts it).
pub const LOG: &str = "resolver.log";
/// The file in the directory that, when present, names the upstream
/// nameservers instead of `/etc/resolv.conf`.
pub const RESOLV_CONF_IN_DIR: &str = "resolv.conf";

pub use crate::spec::{Change, JOURNAL_FILE, SPEC_FILE, Spec, SpecEntry, SpecNetwork};

/// The journal of a directory ([`JOURNAL_FILE`]), as its writer (the
/// embedder, under its own lock) sees it.
pub struct Journal;

impl Journal {
    /// Append a change to the journal of `dir` (made when missing), in one
    /// write. Returns the journal's size after it, in bytes.
    ///
    /// Each line starts with a newline too: a line a crash cut short is
    /// ended by the next one, and read as one bad line (logged, skipped)
    /// rather than spoiling the next.
    pub fn append(dir: &Path, change: &Change) -> std::io::Result<u64> {
        let path = dir.join(JOURNAL_FILE);
        let mut line = Vec::with_capacity(256);
        line.push(b'\n');
        serde_json::to_writer(&mut line, change).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = File::options().create(true).append(true).open(&path)?;
        f.write_all(&line)?;
        Ok(f.metadata()?.len())
    }

    /// Replace the journal of `dir` with an empty one (a new file: a
    /// resolver that had read the old one reads the spec again). Called
    /// right after the spec was written whole.
    pub fn reset(dir: &Path) -> std::io::Result<()> {
        let path = dir.join(JOURNAL_FILE);
        let tmp = dir.join(format!("{JOURNAL_FILE}.tmp"));
        File::create(&tmp)?;
        std::fs::rename(&tmp, &path)
    }
}

/// What a resolver serves, as read from a directory: the spec and the
/// journal's changes, and where it stopped reading the journal.
///
/// [`Served::refresh`] reads what is new; [`Served::update`] brings the
/// resolver's records in step: one journal line costs one entry's names
/// and addresses, whatever the number of entries; a spec written whole
/// (the journal replaced) is compiled whole.
pub struct Served {
    /// The addresses to listen on.
    listen: Vec<IpAddr>,
    what: What,
    /// The journal read (kept open: its identity tells a replaced one).
    journal: Option<File>,
    /// How far it was read: the byte after its last full line.
    offset: u64,
    /// Changes read, not yet in the records.
    pending: Vec<Change>,
}

enum What {
    /// Kept change by change.
    Live(crate::live::Live),
    /// A spec with two networks of the same name: compiled whole each
    /// time, as [`Spec::table`] has it.
    Whole(Spec),
}

impl Served {
    /// Read the spec and the journal of `dir` from the start.
    pub fn load(dir: &Path) -> Result<Served> {
        let jpath = dir.join(JOURNAL_FILE);
        // The journal first: one replaced in between (with a newer spec)
        // is noticed by the next refresh, which reads both again.
        let journal = match File::open(&jpath) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("open", &jpath)(e)),
        };
        let spec = Spec::read(&dir.join(SPEC_FILE))?;
        let what = match crate::live::Live::load(&spec) {
            Some(live) => What::Live(live),
            None => What::Whole(spec.clone()),
        };
        let mut served = Served {
            listen: spec.listen,
            what,
            journal,
            offset: 0,
            pending: Vec::new(),
        };
        served.read_journal(&jpath)?;
        Ok(served)
    }

    /// Bring it up to date with `dir`: the journal's new lines, or
    /// everything again when the journal was replaced (or went away).
    pub fn refresh(&mut self, dir: &Path) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let jpath = dir.join(JOURNAL_FILE);
        let now = std::fs::metadata(&jpath).ok().map(|m| (m.dev(), m.ino()));
        let held = match &self.journal {
            Some(f) => Some(f.metadata().map_err(io("stat", &jpath))?).map(|m| (m.dev(), m.ino())),
            None => None,
        };
        if now.is_none() || now != held {
            *self = Served::load(dir)?;
            return Ok(());
        }
        self.read_journal(&jpath)
    }

    /// Bring `records` in step with what was read: the changes read
    /// since the last update applied to them one by one, or compiled
    /// whole after a load (and when the set of networks with names
    /// changed).
    pub fn update(&mut self, records: &mut Records) {
        let pending = std::mem::take(&mut self.pending);
        match &mut self.what {
            What::Live(live) => {
                for change in &pending {
                    if !live.apply(change, Some(&mut *records)) {
                        tracing::warn!("{JOURNAL_FILE}: {change:?} does not apply");
                    }
                }
                if live.stale() {
                    *records = live.build(records.policy());
                }
            }
            What::Whole(spec) => {
                for change in pending {
                    if !spec.apply(change.clone()) {
                        tracing::warn!("{JOURNAL_FILE}: {change:?} does not apply");
                    }
                }
                *records = Records::new(&spec.table(), records.policy());
            }
        }
    }

    /// Whether there is a name to serve (after [`Served::update`]).
    pub fn wanted(&self) -> bool {
        match &self.what {
            What::Live(live) => live.wanted(),
            What::Whole(spec) => spec.wanted(),
        }
    }

    /// The addresses to listen on (the port is the resolver's).
    pub fn listen(&self) -> &[IpAddr] {
        &self.listen
    }

    fn read_journal(&mut self, jpath: &Path) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let Some(f) = self.journal.as_mut() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        f.seek(SeekFrom::Start(self.offset))
            .and_then(|_| f.read_to_end(&mut buf))
            .map_err(io("read", jpath))?;
        // Only whole lines: a line still being written is read next time.
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        for line in buf[..end].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Change>(line) {
                Ok(change) => self.pending.push(change),
                Err(e) => tracing::warn!(
                    "{}: a line that is not a change, skipped: {e}",
                    jpath.display()
                ),
            }
        }
        self.offset += end as u64 + 1;
        Ok(())
    }
}

/// How to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The port to answer on (53 unless testing).
    pub port: u16,
    /// Upstream nameservers, asked in order; empty: those of
    /// `resolv_conf`, else of [`RESOLV_CONF_IN_DIR`] when there is one,
    /// else of `/etc/resolv.conf`.
    pub upstreams: Vec<SocketAddr>,
    /// A resolv.conf file to take the upstream nameservers from.
    pub resolv_conf: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            port: 53,
            upstreams: Vec::new(),
            resolv_conf: None,
        }
    }
}

/// Where names that are not ours go (see [`ServeOptions::upstreams`]). A
/// file that cannot be read is a log line (and forwarded names get
/// SERVFAIL), not a resolver that fails to start.
pub fn config(dir: &Path, opts: &ServeOptions) -> Config {
    if !opts.upstreams.is_empty() {
        return Config {
            upstreams: opts.upstreams.clone(),
            ..Config::default()
        };
    }
    let local = dir.join(RESOLV_CONF_IN_DIR);
    let path = match &opts.resolv_conf {
        Some(p) => p.clone(),
        None if local.exists() => local,
        None => PathBuf::from(RESOLV_CONF),
    };
    match Config::from_resolv_conf(&path) {
        Ok(c) => {
            if c.upstreams.is_empty() {
                tracing::warn!(
                    "{} lists no usable nameserver: names that are not ours get SERVFAIL",
                    path.display()
                );
            }
            c
        }
        Err(e) => {
            tracing::warn!("{e}: names that are not ours get SERVFAIL");
            Config::default()
        }
    }
}

struct Cleanup {
    files: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Serve {
        op,
        path,
        cause: source,
    }
}

/// Serve the names of `dir` until nothing is left to serve (or `stop`).
/// Returns at once when another resolver holds the directory.
pub fn serve(dir: &Path, opts: &ServeOptions) -> Result<()> {
    // Never two: whoever holds the lock serves.
    let lock_path = dir.join(LOCK);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("open", &lock_path))?;
    // Another resolver may be on its way out (it lets go of the lock once
    // its port 53 sockets are closed): wait a little for it; if it is
    // still there after that, it is serving, and we are not needed.
    let mut tries = 0;
    while lock.try_lock().is_err() {
        tries += 1;
        if tries > 150 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sock_path = dir.join(SOCKET);
    let pid_path = dir.join(PID);
    let _ = std::fs::remove_file(&sock_path);
    let control = UnixListener::bind(&sock_path).map_err(io("listen on", &sock_path))?;
    let _cleanup = Cleanup {
        files: vec![sock_path.clone(), pid_path.clone()],
    };
    std::fs::write(&pid_path, format!("{}\n", std::process::id()))
        .map_err(io("write", &pid_path))?;

    let resolver = Resolver::start(config(dir, opts))?;
    let spec_path = dir.join(SPEC_FILE);
    let port = opts.port;
    let mut served: Option<Served> = None;
    let mut apply = |resolver: &Resolver| -> Result<bool> {
        // After a failure, everything is read again next time.
        let now = match served.take() {
            Some(mut s) => {
                s.refresh(dir)?;
                s
            }
            None => Served::load(dir)?,
        };
        let now = served.insert(now);
        resolver.patch_records(|records| now.update(records));
        let listen: Vec<SocketAddr> = now
            .listen()
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        if let Err(e) = resolver.set_listeners(&listen) {
            tracing::warn!("{e}");
        }
        tracing::debug!(?listen, "serving the names of the state directory");
        Ok(now.wanted())
    };
    apply(&resolver)?;
    tracing::info!(pid = std::process::id(), "serving {}", dir.display());

    // The spec going away (its directory removed) ends us too.
    let watched = spec_path.clone();
    let sock = sock_path.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if !watched.exists() {
                let _ = std::fs::remove_file(&sock);
                std::process::exit(0);
            }
        }
    });

    for conn in control.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        if BufReader::new(&conn).read_line(&mut line).is_err() {
            continue;
        }
        match line.trim() {
            "sync" => {
                let wanted = match apply(&resolver) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!("sync: {e}");
                        true
                    }
                };
                let _ = conn.write_all(b"ok\n");
                if !wanted {
                    break;
                }
            }
            "ping" => {
                let _ = conn.write_all(b"ok\n");
            }
            // A connection closed without a word: [`listening`]'s probe.
            "" => {}
            "stop" => {
                let _ = conn.write_all(b"ok\n");
                break;
            }
            _ => {
                let _ = conn.write_all(b"unknown\n");
            }
        }
    }
    drop(control);
    resolver.stop()?;
    // The socket and pid files go before the lock: the next resolver takes
    // the lock, then makes its own (removed after that, they would leave it
    // serving behind a socket nobody can reach, and every sync would start
    // another one that waits for the lock).
    drop(_cleanup);
    drop(lock);
    Ok(())
}

/// Ask the resolver of `dir` something (`sync`, `ping`, `stop`) and
/// wait up to `timeout` for its answer. `Ok(false)` when no resolver
/// listens there, or it did not say `ok`.
pub fn tell(dir: &Path, what: &str, timeout: Duration) -> std::io::Result<bool> {
    let path = dir.join(SOCKET);
    let mut s = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(_) => return Ok(false),
    };
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(format!("{what}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    Ok(line.trim() == "ok")
}

/// Whether a resolver listens on the control socket of `dir`, without
/// waiting for it: a connect (a resolver that died, even killed, leaves
/// no listener: refused), closed at once. Cheaper than [`tell`]'s `ping`,
/// which waits for the resolver to be scheduled and answer.
pub fn listening(dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(dir.join(SOCKET)).is_ok()
}

/// The command line of the resolver binaries (`brnet-dns`, and `brnet`'s
/// `dns serve`): `--state-dir DIR dns serve [--port N] [--upstream
/// IP[:PORT]]... [--resolv-conf FILE]`. Returns the directory and the
/// options, or what is wrong.
pub fn parse_args(args: &[String]) -> std::result::Result<(PathBuf, ServeOptions), String> {
    let mut dir = None;
    let mut opts = ServeOptions::default();
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--state-dir" => dir = Some(PathBuf::from(value("--state-dir")?)),
            "--port" => {
                let v = value("--port")?;
                opts.port = v.parse().map_err(|_| format!("--port {v:?}: not a port"))?;
            }
            "--upstream" => {
                let v = value("--upstream")?;
                opts.upstreams.push(parse_upstream(&v)?);
            }
            "--resolv-conf" => opts.resolv_conf = Some(PathBuf::from(value("--resolv-conf")?)),
            w if !w.starts_with('-') => words.push(w.to_owned()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if words != ["dns", "serve"] {
        return Err(format!("expected `dns serve`, got {words:?}"));
    }
    let dir = dir.ok_or("--state-dir DIR is missing")?;
    Ok((dir, opts))
}

/// `IP` (port 53) or `IP:PORT` (`[IPv6]:PORT`).
pub fn parse_upstream(s: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    s.parse()
        .map_err(|_| format!("{s:?} is not an IP address or IP:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn args(extra: &[&str]) -> ServeOptions {
        let mut argv: Vec<String> = ["--state-dir", "/x", "dns", "serve"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.extend(extra.iter().map(|s| s.to_string()));
        parse_args(&argv).unwrap().1
    }

    fn upstreams(dir: &Path, extra: &[&str]) -> Vec<String> {
        config(dir, &args(extra))
            .upstreams
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn upstreams_come_from_flags_then_the_directory_then_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let host = Config::from_resolv_conf(RESOLV_CONF)
            .map(|c| c.upstreams.iter().map(ToString::to_string).collect())
            .unwrap_or_else(|_| Vec::<String>::new());
        assert_eq!(upstreams(dir.path(), &[]), host, "the host's by default");
        std::fs::write(
            dir.path().join(RESOLV_CONF_IN_DIR),
            "# ours\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n",
        )
        .unwrap();
        assert_eq!(
            upstreams(dir.path(), &[]),
            ["192.0.2.53:53", "[2001:db8::53]:53"],
            "the directory's resolv.conf wins over the host's"
        );
        let other = dir.path().join("other.conf");
        std::fs::write(&other, "nameserver 198.51.100.7\n").unwrap();
        let other = other.to_str().unwrap();
        assert_eq!(
            upstreams(dir.path(), &["--resolv-conf", other]),
            ["198.51.100.7:53"]
        );
        assert_eq!(
            upstreams(
                dir.path(),
                &[
                    "--upstream",
                    "203.0.113.1",
                    "--upstream",
                    "203.0.113.2:5353"
                ]
            ),
            ["203.0.113.1:53", "203.0.113.2:5353"],
            "--upstream wins over every file, in order"
        );
        assert!(
            upstreams(dir.path(), &["--resolv-conf", "/nonexistent/resolv.conf"]).is_empty(),
            "an unreadable file: no upstream (SERVFAIL), not a failure to start"
        );
    }

    #[test]
    fn command_lines() {
        let (dir, o) =
            parse_args(&["--state-dir", "/s", "dns", "serve", "--port", "5353"].map(String::from))
                .unwrap();
        assert_eq!((dir, o.port), (PathBuf::from("/s"), 5353));
        for bad in [
            &["dns", "serve"][..],
            &["--state-dir", "/s", "dns"],
            &["--state-dir", "/s", "dns", "serve", "--upstream", "nope"],
            &["--state-dir", "/s", "dns", "serve", "--what"],
            &["--state-dir"],
        ] {
            let argv: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert!(parse_args(&argv).is_err(), "{bad:?}");
        }
    }

    fn entry(name: &str, ip: &str) -> SpecEntry {
        SpecEntry {
            name: name.into(),
            container: format!("k-{name}"),
            addrs: vec![ip.parse().unwrap()],
            aliases: vec![],
        }
    }

    /// The names served, in order, once `s` is brought in step.
    fn names(s: &mut Served, r: &mut Records) -> Vec<String> {
        s.update(r);
        let mut entries: Vec<_> = r.entries.iter().flatten().collect();
        entries.sort_by_key(|e| (e.net, e.seq));
        entries.iter().map(|e| e.fqdn.to_string()).collect()
    }

    #[test]
    fn the_journal_is_read_past_the_spec_and_a_reset_reads_everything_again() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let spec = |entries: Vec<SpecEntry>| Spec {
            listen: vec!["10.89.0.1".parse().unwrap()],
            networks: vec![SpecNetwork {
                name: "web".into(),
                domain: None,
                forward: true,
                entries,
                upstreams: vec![],
            }],
        };
        spec(vec![entry("a", "10.89.0.2")])
            .write(&d.join(SPEC_FILE))
            .unwrap();
        Journal::reset(d).unwrap();
        let add = |name: &str, ip: &str| Change::Add {
            network: "web".into(),
            entry: entry(name, ip),
        };
        let remove = |name: &str, ip: &str| Change::Remove {
            network: "web".into(),
            entry: entry(name, ip),
        };
        Journal::append(d, &add("b", "10.89.0.3")).unwrap();
        let mut s = Served::load(d).unwrap();
        let mut r = Records::empty(Policy::default());
        assert_eq!(names(&mut s, &mut r), ["a.dns.brnet.", "b.dns.brnet."]);
        // Only what is new is read.
        Journal::append(d, &add("c", "10.89.0.4")).unwrap();
        Journal::append(d, &remove("a", "10.89.0.2")).unwrap();
        s.refresh(d).unwrap();
        assert_eq!(names(&mut s, &mut r), ["b.dns.brnet.", "c.dns.brnet."]);
        s.refresh(d).unwrap();
        assert_eq!(
            names(&mut s, &mut r),
            ["b.dns.brnet.", "c.dns.brnet."],
            "nothing new: the same"
        );
        // A line a crash cut short: skipped, and the next one still read.
        let jpath = d.join(JOURNAL_FILE);
        let mut f = File::options().append(true).open(&jpath).unwrap();
        f.write_all(b"\n{\"add\":{\"netw").unwrap();
        s.refresh(d).unwrap();
        assert_eq!(names(&mut s, &mut r), ["b.dns.brnet.", "c.dns.brnet."]);
        Journal::append(d, &add("e", "10.89.0.6")).unwrap();
        // A change for a network the spec does not have: skipped.
        Journal::append(
            d,
            &Change::Add {
                network: "nope".into(),
                entry: entry("x", "10.0.0.9"),
            },
        )
        .unwrap();
        s.refresh(d).unwrap();
        assert_eq!(
            names(&mut s, &mut r),
            ["b.dns.brnet.", "c.dns.brnet.", "e.dns.brnet."]
        );
        assert_eq!(
            names(
                &mut Served::load(d).unwrap(),
                &mut Records::empty(Policy::default())
            ),
            names(&mut s, &mut r),
            "from scratch"
        );
        // The spec written whole and the journal reset: read again.
        spec(vec![entry("z", "10.89.0.9")])
            .write(&d.join(SPEC_FILE))
            .unwrap();
        Journal::reset(d).unwrap();
        s.refresh(d).unwrap();
        assert_eq!(names(&mut s, &mut r), ["z.dns.brnet."]);
        Journal::append(d, &remove("z", "10.89.0.9")).unwrap();
        s.refresh(d).unwrap();
        s.update(&mut r);
        assert!(!s.wanted());
    }

    #[test]
    fn a_spec_round_trips_and_becomes_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SPEC_FILE);
        assert_eq!(
            Spec::read(&path).unwrap(),
            Spec::default(),
            "missing: empty"
        );
        let spec = Spec {
            listen: vec!["10.89.0.1".parse().unwrap()],
            networks: vec![
                SpecNetwork {
                    name: "web".into(),
                    domain: Some("dns.podman".into()),
                    forward: true,
                    entries: vec![SpecEntry {
                        name: "c1".into(),
                        container: "k1".into(),
                        addrs: vec!["10.89.0.2".parse().unwrap()],
                        aliases: vec!["www".into()],
                    }],
                    upstreams: vec!["192.0.2.53".parse().unwrap()],
                },
                SpecNetwork {
                    name: "idle".into(),
                    domain: None,
                    forward: false,
                    entries: vec![],
                    upstreams: vec![],
                },
            ],
        };
        spec.write(&path).unwrap();
        assert_eq!(Spec::read(&path).unwrap(), spec);
        assert!(spec.wanted());
        let table = spec.table();
        assert!(table.get("web").is_some() && table.get("idle").is_none());
        assert_eq!(
            table.get("web").unwrap().upstreams,
            ["192.0.2.53:53".parse::<SocketAddr>().unwrap()]
        );
        std::fs::write(&path, b"{\"listen\":[],\"nope\":1}").unwrap();
        assert!(Spec::read(&path).unwrap_err().to_string().contains("nope"));
    }
}
