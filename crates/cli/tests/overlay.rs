//! `brnet network create -d overlay` and `brnet overlay agent`, as a
//! user runs them on two "hosts" (network namespaces on an underlay
//! bridge inside the throwaway sandbox, each with its own state
//! directory), sharing the embedded directory store. The agents are
//! child processes killed through their own handles.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use brnet_netns::{NetnsDir, isolated, privileged_test};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brnet");

/// Host `hN` on the underlay, with a default route through it.
fn host(n: u8) {
    brnet_testkit::topo::host(n);
    brnet_testkit::topo::default_route(&format!("h{n}"), "10.99.0.254");
}

/// `brnet --state-dir STATE ARGS` inside host `h`.
fn brnet(h: &str, state: &std::path::Path, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", h, BIN, "--state-dir"])
        .arg(state)
        .args(args)
        .env_remove("BRNET_STATE_DIR")
        .output()
        .unwrap()
}

fn ok(h: &str, state: &std::path::Path, args: &[&str]) -> String {
    let out = brnet(h, state, args);
    assert!(
        out.status.success(),
        "brnet {args:?} on {h}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ping(from: &str, to: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", from, "ping", "-c1", "-W1", to])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `network create -d overlay --subnet SUBNET --opt VNI --cluster CLUSTER
/// NAME` (`VNI`: `vni=N`; `--opt` is `-o`'s long form).
fn create_args<'a>(
    subnet: &'a str,
    vni: &'a str,
    cluster: &'a str,
    name: &'a str,
) -> [&'a str; 11] {
    [
        "network",
        "create",
        "-d",
        "overlay",
        "--subnet",
        subnet,
        "--opt",
        vni,
        "--cluster",
        cluster,
        name,
    ]
}

#[test]
fn overlay_from_the_command_line_with_the_embedded_store_and_agents() {
    if !privileged_test() {
        return;
    }
    isolated(|| {
        brnet_testkit::topo::underlay();
        host(1);
        host(2);
        let store = tempfile::tempdir().unwrap();
        let cluster = format!("dir://{}", store.path().display());
        let (s1, s2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (h, s) in [("h1", s1.path()), ("h2", s2.path())] {
            ok(
                h,
                s,
                &create_args("10.0.9.0/24", "vni=4096", &cluster, "ovnet"),
            );
        }
        // A bad VNI: a usage error naming the option; nothing made.
        let out = brnet(
            "h1",
            s1.path(),
            &create_args("10.0.10.0/24", "vni=99999999", &cluster, "bad"),
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("vni") && err.contains("out of range"), "{err}");
        // The same VNI again: refused by the store.
        let out = brnet(
            "h1",
            s1.path(),
            &create_args("10.0.10.0/24", "vni=4096", &cluster, "other"),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("VNI 4096 is in use by network ovnet"), "{err}");

        let dir = NetnsDir::default();
        dir.create("c1").unwrap();
        dir.create("c2").unwrap();
        ok("h1", s1.path(), &["network", "connect", "ovnet", "c1"]);
        ok("h2", s2.path(), &["network", "connect", "ovnet", "c2"]);
        let agents: Vec<Agent> = [("h1", s1.path()), ("h2", s2.path())]
            .iter()
            .map(|(h, s)| {
                Agent(
                    Command::new("ip")
                        .args(["netns", "exec", h, BIN, "--state-dir"])
                        .arg(s)
                        .args(["overlay", "agent", "--ttl", "3"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                )
            })
            .collect();
        let start = Instant::now();
        while !ping("c1", "10.0.9.3") {
            assert!(start.elapsed() < Duration::from_secs(10), "c1 -> c2");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ping("c2", "10.0.9.2"));

        // Names across hosts: each host's resolver answers for the other
        // host's container (the agent hands it the store's names).
        let dig = |from: &str, q: &str| {
            let out = Command::new("ip")
                .args([
                    "netns", "exec", from, "dig", "+short", "+time=1", "+tries=1",
                ])
                .arg("@10.0.9.1")
                .arg(q)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let start = Instant::now();
        while dig("c1", "c2") != "10.0.9.3" {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "c2 from c1: {:?}",
                dig("c1", "c2")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(dig("c2", "c1"), "10.0.9.2");
        assert_eq!(dig("c1", "c1"), "10.0.9.2");

        // An address of h1 in the store with no endpoint on h1 (a
        // disconnect while the store was down): h1's agent releases it
        // after a TTL.
        let c = bridge_net::brnet_overlay::cluster::Cluster::new(std::sync::Arc::new(
            bridge_net::brnet_overlay::store::DirStore::open(store.path()).unwrap(),
        ));
        let net = c.network("ovnet").unwrap().unwrap();
        let h1: std::net::IpAddr = "10.99.0.1".parse().unwrap();
        let orphan = c
            .allocate(&net, h1, Some("10.0.9.50".parse().unwrap()), None, |_| {
                "02:42:0a:00:09:32".parse().unwrap()
            })
            .unwrap();
        let start = Instant::now();
        while c
            .snapshot()
            .unwrap()
            .live_endpoints("ovnet", None)
            .iter()
            .any(|e| e.ip == orphan.ip)
        {
            assert!(start.elapsed() < Duration::from_secs(15), "orphan released");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "not before its grace"
        );
        assert_eq!(c.snapshot().unwrap().live_endpoints("ovnet", None).len(), 2);

        // inspect shows the peers and the remote endpoint.
        let doc: Value =
            serde_json::from_str(&ok("h1", s1.path(), &["network", "inspect", "ovnet"])).unwrap();
        let doc = &doc[0];
        assert_eq!(doc["Driver"], "overlay", "{doc}");
        assert_eq!(doc["Options"]["vni"], "4096");
        assert_eq!(doc["Peers"].as_array().map(Vec::len), Some(2), "{doc}");
        assert_eq!(doc["RemoteEndpoints"][0]["IPv4Address"], "10.0.9.3");
        // dot draws the VTEPs, the other host and the tunnel.
        let dot = ok(
            "h1",
            s1.path(),
            &["network", "inspect", "--format", "dot", "ovnet"],
        );
        for want in [
            "VXLAN VNI 4096",
            "VTEP 10.99.0.1",
            "host 10.99.0.2",
            "VXLAN tunnel 4096",
        ] {
            assert!(dot.contains(want), "{want} not in {dot}");
        }

        // Disconnect and remove on both hosts: the store forgets the
        // network once nobody has it.
        ok("h2", s2.path(), &["network", "disconnect", "ovnet", "c2"]);
        ok("h1", s1.path(), &["network", "disconnect", "ovnet", "c1"]);
        ok("h2", s2.path(), &["network", "rm", "ovnet"]);
        ok("h1", s1.path(), &["network", "rm", "ovnet"]);
        let left = std::fs::read_to_string(store.path().join("store.json")).unwrap();
        assert!(!left.contains("networks/ovnet"), "{left}");
        drop(agents);
    })
    .unwrap();
}
