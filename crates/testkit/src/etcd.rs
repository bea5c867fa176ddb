//! A real etcd (Debian's `etcd-server`, 3.4) for the overlay tests and
//! benches, started by the caller inside its sandbox and killed through
//! its own [`Child`] handle (never by name).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// One etcd member; killed and reaped on drop.
#[derive(Debug)]
pub struct Etcd {
    child: Option<Child>,
    /// Its client address, `HOST:2379`.
    pub client: String,
    log: PathBuf,
}

/// `GET /version` from the member at `client` (`HOST:PORT`): its reply's
/// body when it answers within `timeout` with `etcdserver` in it.
pub fn version(client: &str, timeout: Duration) -> Option<String> {
    let addr: SocketAddr = client.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    write!(s, "GET /version HTTP/1.0\r\nHost: {client}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let body = out.split("\r\n\r\n").nth(1)?.trim().to_owned();
    body.contains("etcdserver").then_some(body)
}

impl Etcd {
    /// A one-member cluster listening on `addr` (client port 2379, peer
    /// 2380), data and `etcd.log` in `dir`; returns once it answers
    /// `GET /version` (panics with its log after 20 s).
    #[track_caller]
    pub fn start(addr: &str, dir: &Path) -> Etcd {
        let peer = format!("http://{addr}:2380");
        let etcd = Etcd::spawn(
            Command::new("etcd"),
            "m1",
            addr,
            &format!("m1={peer}"),
            &dir.join("data"),
            &dir.join("etcd.log"),
        );
        etcd.wait_up(Duration::from_secs(20));
        etcd
    }

    /// Member `n` of a 3-member cluster, one member per host: inside the
    /// named namespace `hN` on 10.99.0.N (the test kit's
    /// [`crate::topo::host`]), started through `ip netns exec` (which
    /// execs etcd: the [`Child`] is etcd's own process). Data in
    /// `dir/dataN`, log `dir/etcdN.log`. Does not wait: a member answers
    /// only once a quorum is up.
    pub fn member(n: u8, dir: &Path) -> Etcd {
        let initial = (1..=3)
            .map(|i| format!("m{i}=http://10.99.0.{i}:2380"))
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &format!("h{n}"), "etcd"]);
        cmd.args(["--initial-cluster-token", "brnet-test"]);
        Etcd::spawn(
            cmd,
            &format!("m{n}"),
            &format!("10.99.0.{n}"),
            &initial,
            &dir.join(format!("data{n}")),
            &dir.join(format!("etcd{n}.log")),
        )
    }

    fn spawn(
        mut cmd: Command,
        name: &str,
        addr: &str,
        initial: &str,
        data: &Path,
        log: &Path,
    ) -> Etcd {
        let client = format!("http://{addr}:2379");
        let peer = format!("http://{addr}:2380");
        let log = log.to_owned();
        let out = std::fs::File::create(&log).expect("etcd's log file");
        let child = cmd
            .args(["--name", name, "--data-dir"])
            .arg(data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", initial])
            .stdout(out.try_clone().expect("etcd's log file"))
            .stderr(out)
            .spawn()
            .expect("etcd (Debian's etcd-server) on PATH");
        Etcd {
            child: Some(child),
            client: format!("{addr}:2379"),
            log,
        }
    }

    /// Wait until it answers `GET /version`; panics with its log after
    /// `limit`.
    #[track_caller]
    pub fn wait_up(&self, limit: Duration) {
        let start = Instant::now();
        while version(&self.client, Duration::from_millis(500)).is_none() {
            assert!(
                start.elapsed() < limit,
                "etcd at {} did not come up: {}",
                self.client,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The store address bridge-net takes: `etcd://HOST:2379`.
    pub fn address(&self) -> String {
        format!("etcd://{}", self.client)
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kill it now (SIGKILL through our own handle) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}
