//! etcd's watch as one long-lived stream (`POST /v3/watch` through the
//! JSON gateway, one JSON message a line in a chunked response), read by
//! a thread of its own: the agent's rounds wait on it instead of opening
//! a watch each round.
//!
//! When the member goes away (connection refused or reset, the stream
//! ended, an error message), the thread reopens the watch on the next
//! endpoint from the revision after the last event it saw, so no change
//! is missed across a reconnect (etcd replays them, or answers with its
//! compaction revision: then everything may have changed). A stream
//! silent for `IDLE` (10 s) is reopened the same way (a member cut off
//! without a reset sends nothing). Dropping the watch shuts its
//! connection down, which ends the thread.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::model::{Result, Revision, StoreError, Watch, int, range_end};

/// A stream silent this long is reopened.
pub const IDLE: Duration = Duration::from_secs(10);
const CONNECT: Duration = Duration::from_secs(1);
const RETRY: Duration = Duration::from_millis(200);

/// What the thread tells the watch.
enum Msg {
    /// A change at this revision.
    Changed(Revision),
    /// A stream is open.
    Up,
    /// The member could not be reached, or went away.
    Down(String),
}

struct Shared {
    stop: AtomicBool,
    opened: AtomicUsize,
    conn: Mutex<Option<TcpStream>>,
}

/// See the module's documentation.
pub struct EtcdWatch {
    address: String,
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
    latest: Revision,
    down: Option<String>,
}

impl std::fmt::Debug for EtcdWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdWatch")
            .field("address", &self.address)
            .field("latest", &self.latest)
            .field("streams_opened", &self.streams_opened())
            .finish_non_exhaustive()
    }
}

impl EtcdWatch {
    /// Watch `prefix` on the members at `endpoints` (in that order) for
    /// changes after revision `after`; `address` names the store in
    /// errors.
    pub(crate) fn open(
        address: String,
        endpoints: Vec<String>,
        prefix: &str,
        after: Revision,
    ) -> EtcdWatch {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            opened: AtomicUsize::new(0),
            conn: Mutex::new(None),
        });
        let s = shared.clone();
        let prefix = prefix.to_owned();
        std::thread::Builder::new()
            .name("brnet-etcd-watch".into())
            .spawn(move || run(&s, &endpoints, &prefix, after + 1, &tx))
            .expect("spawn the watch thread");
        EtcdWatch {
            address,
            rx,
            shared,
            latest: after,
            down: None,
        }
    }

    /// How many streams it has opened so far (one, until a member goes
    /// away or the stream stays idle for 10 s).
    pub fn streams_opened(&self) -> usize {
        self.shared.opened.load(Ordering::Relaxed)
    }

    fn take(&mut self, m: Msg) {
        match m {
            Msg::Changed(r) => self.latest = self.latest.max(r),
            Msg::Up => self.down = None,
            Msg::Down(e) => self.down = Some(e),
        }
    }
}

impl Watch for EtcdWatch {
    fn wait(&mut self, after: Revision, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(m) = self.rx.try_recv() {
                self.take(m);
            }
            if self.latest > after {
                return Ok(true);
            }
            if let Some(e) = &self.down {
                return Err(StoreError::Unreachable {
                    store: self.address.clone(),
                    op: "watch",
                    detail: e.clone(),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            match self.rx.recv_timeout(left) {
                Ok(m) => self.take(m),
                Err(RecvTimeoutError::Timeout) => return Ok(false),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(StoreError::Unreachable {
                        store: self.address.clone(),
                        op: "watch",
                        detail: "the watch thread ended".into(),
                    });
                }
            }
        }
    }
}

impl Drop for EtcdWatch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(c) = self.shared.conn.lock().ok().and_then(|mut c| c.take()) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// The thread: one stream after another, each from the revision after
/// the last event seen.
fn run(sh: &Shared, endpoints: &[String], prefix: &str, mut next: Revision, tx: &Sender<Msg>) {
    let mut i = 0;
    while !sh.stop.load(Ordering::Relaxed) {
        let ep = &endpoints[i % endpoints.len()];
        match stream(sh, ep, prefix, &mut next, tx) {
            // Idle, or compacted: again, on the same member.
            Ok(()) => {}
            Err(e) => {
                if sh.stop.load(Ordering::Relaxed)
                    || tx.send(Msg::Down(format!("{ep}: {e}"))).is_err()
                {
                    return;
                }
                i += 1;
                std::thread::sleep(RETRY);
            }
        }
    }
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

/// One stream until it fails (`Err`), stays idle or is compacted (`Ok`).
fn stream(
    sh: &Shared,
    ep: &str,
    prefix: &str,
    next: &mut Revision,
    tx: &Sender<Msg>,
) -> io::Result<()> {
    let addr = ep
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address"))?;
    let mut conn = TcpStream::connect_timeout(&addr, CONNECT)?;
    conn.set_read_timeout(Some(IDLE))?;
    *sh.conn.lock().map_err(|_| io::Error::other("lock"))? = Some(conn.try_clone()?);
    if sh.stop.load(Ordering::Relaxed) {
        return Ok(());
    }
    sh.opened.fetch_add(1, Ordering::Relaxed);
    let body = json!({"create_request": {
        "key": b64(prefix.as_bytes()),
        "range_end": b64(&range_end(prefix)),
        "start_revision": next.to_string(),
    }})
    .to_string();
    write!(
        conn,
        "POST /v3/watch HTTP/1.1\r\nHost: {ep}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!("answered {:?}", line.trim())));
    }
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::other("the stream ended"));
        }
        let h = line.trim().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        chunked |= h.starts_with("transfer-encoding:") && h.contains("chunked");
    }
    let mut pending = Vec::new();
    loop {
        let piece = match piece(&mut r, chunked) {
            Ok(Some(p)) => p,
            Ok(None) => return Err(io::Error::other("the stream ended")),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        pending.extend(piece);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let msg: Vec<u8> = pending.drain(..=pos).collect();
            if !message(&msg, next, tx)? {
                return Ok(());
            }
        }
    }
}

/// The next piece of the body: a chunk, or a line when not chunked;
/// `None` at its end.
fn piece(r: &mut BufReader<TcpStream>, chunked: bool) -> io::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if !chunked {
        return Ok((r.read_line(&mut line)? > 0).then(|| line.into_bytes()));
    }
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let size = line.trim().split(';').next().unwrap_or_default();
    let size = usize::from_str_radix(size, 16)
        .map_err(|e| io::Error::other(format!("chunk size {size:?}: {e}")))?;
    if size == 0 {
        return Ok(None);
    }
    let mut data = vec![0; size + 2];
    r.read_exact(&mut data)?;
    data.truncate(size);
    Ok(Some(data))
}

/// One message of the stream: its changes sent on; `false` when the
/// watch must be opened again (compacted past `next`).
fn message(msg: &[u8], next: &mut Revision, tx: &Sender<Msg>) -> io::Result<bool> {
    let text = String::from_utf8_lossy(msg);
    if text.trim().is_empty() {
        return Ok(true);
    }
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| io::Error::other(format!("{e}: {:.200}", text.trim())))?;
    if let Some(e) = v.get("error") {
        return Err(io::Error::other(e.to_string()));
    }
    let r = &v["result"];
    let send = |m| {
        tx.send(m)
            .map_err(|_| io::Error::other("the watch was dropped"))
    };
    if r["created"].as_bool() == Some(true) {
        send(Msg::Up)?;
    }
    let compact = int(&r["compact_revision"]);
    if compact > 0 {
        // Compacted past `next`: everything may have changed.
        *next = compact;
        send(Msg::Changed(int(&r["header"]["revision"]).max(compact)))?;
        return Ok(false);
    }
    if r["canceled"].as_bool() == Some(true) {
        return Err(io::Error::other("the watch was canceled"));
    }
    let seen = r["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| int(&e["kv"]["mod_revision"]))
        .max();
    if let Some(rev) = seen {
        let rev = rev.max(1);
        *next = rev + 1;
        send(Msg::Changed(rev))?;
    }
    Ok(true)
}
