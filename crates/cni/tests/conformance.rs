//! A black-box conformance harness: the binary driven as a runtime drives
//! it (CNI_* environment, config on stdin, result or error JSON on
//! stdout), every command of the spec with valid and invalid configs, and
//! the spec's error codes. Each test runs in its own throwaway network and
//! mount namespace (`brnet_netns::isolated`) with its own state directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bridge_net::brnet_netlink::Socket;
use brnet_netns::NetnsDir;
use brnet_testkit::cmd::feed_or_early_exit;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_brnet-cni");

/// One plugin call's outcome.
#[derive(Debug)]
struct Call {
    ok: bool,
    stdout: String,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    /// The spec's error: its code, with the shape checked.
    #[track_caller]
    fn code(&self) -> u64 {
        assert!(!self.ok, "expected a failure, got {:?}", self.stdout);
        let v = self.json();
        let msg = v["msg"].as_str().expect("msg");
        assert!(!msg.is_empty() && !msg.contains('\n'), "msg: {msg:?}");
        assert!(v["cniVersion"].is_string(), "{v}");
        v["code"].as_u64().expect("code")
    }
}

struct Harness {
    state: tempfile::TempDir,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            state: tempfile::tempdir().expect("state dir"),
        }
    }

    /// A valid config of version `v`, in this harness's state directory.
    fn conf(&self, v: &str) -> Value {
        json!({
            "cniVersion": v,
            "name": "confnet",
            "type": "bridge",
            "bridge": "cni-conf0",
            "isGateway": true,
            "ipMasq": true,
            "hairpinMode": true,
            "ipam": {"type": "host-local", "subnet": "10.77.0.0/24", "gateway": "10.77.0.1",
                     "routes": [{"dst": "0.0.0.0/0"}]},
            "stateDir": self.state.path(),
        })
    }

    fn call(&self, command: &str, id: &str, netns: Option<&Path>, stdin: &str) -> Call {
        self.call_as(command, id, "eth0", netns, stdin)
    }

    fn call_as(
        &self,
        command: &str,
        id: &str,
        ifname: &str,
        netns: Option<&Path>,
        stdin: &str,
    ) -> Call {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", id)
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", "/usr/lib/cni")
            .env("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web")
            .stderr(Stdio::inherit());
        if let Some(ns) = netns {
            c.env("CNI_NETNS", ns);
        }
        let out = feed_or_early_exit(&mut c, stdin.as_bytes());
        Call {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }

    fn endpoints(&self) -> usize {
        let Ok(bytes) = std::fs::read(self.state.path().join("state.json")) else {
            return 0;
        };
        bridge_net::state::State::parse(&bytes)
            .expect("state parses")
            .endpoints
            .len()
    }
}

fn netns(name: &str) -> PathBuf {
    let dir = NetnsDir::default();
    dir.create(name).expect("create namespace");
    dir.path_of(name).expect("path")
}

/// The IPv4 addresses of `ifname` inside `ns`.
fn addresses_in(ns: &Path, ifname: &str) -> Vec<String> {
    let ns = brnet_netns::Netns::open_path(ns).expect("open namespace");
    let mut nl = Socket::open_in(&ns).expect("netlink in namespace");
    let link = nl.link_by_name(ifname).expect("interface");
    nl.addresses_of(link.index)
        .expect("addresses")
        .into_iter()
        .map(|a| a.net.to_string())
        .collect()
}

#[test]
fn version_answers_in_the_asked_version() {
    let h = Harness::new();
    for (stdin, want) in [
        (r#"{"cniVersion":"1.0.0"}"#, "1.0.0"),
        (r#"{"cniVersion":"0.4.0"}"#, "0.4.0"),
        ("", "1.1.0"),
        (r#"{"cniVersion":"9.9.9"}"#, "1.1.0"),
    ] {
        let c = h.call("VERSION", "", None, stdin);
        assert!(c.ok, "{c:?}");
        let v = c.json();
        assert_eq!(v["cniVersion"], want);
        let sup: Vec<&str> = v["supportedVersions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for needed in ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
            assert!(sup.contains(&needed), "{sup:?}");
        }
    }
}

/// `nft flush ruleset` (a stock nftables.conf does it on restart) takes
/// our table: DEL still succeeds, as the spec asks when what it would
/// remove is gone, and puts nothing back.
#[test]
fn del_after_a_flushed_ruleset_succeeds() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        let h = Harness::new();
        let ns = netns("flushed");
        let conf = h.conf("1.0.0");
        let add = h.call("ADD", "flushed", Some(&ns), &conf.to_string());
        assert!(add.ok, "ADD: {}", add.stdout);
        let nft = |args: &[&str]| {
            let out = Command::new("nft").args(args).output().expect("nft");
            assert!(out.status.success(), "nft {args:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        nft(&["flush", "ruleset"]);
        let d = h.call("DEL", "flushed", Some(&ns), &conf.to_string());
        assert!(
            d.ok && d.stdout.trim().is_empty(),
            "DEL after a flush: {}",
            d.stdout
        );
        assert_eq!(h.endpoints(), 0);
        assert_eq!(nft(&["list", "ruleset"]), "", "DEL put rules back");
    })
    .expect("sandbox");
}

#[test]
fn add_check_del_twice_in_every_result_version() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        let h = Harness::new();
        for (i, v) in ["1.1.0", "1.0.0", "0.4.0", "0.3.1"].into_iter().enumerate() {
            let id = format!("ctr{i}");
            let ns = netns(&id);
            let conf = h.conf(v);
            let add = h.call("ADD", &id, Some(&ns), &conf.to_string());
            assert!(add.ok, "ADD {v}: {}", add.stdout);
            let r = add.json();
            assert_eq!(r["cniVersion"], v);
            let ifs = r["interfaces"].as_array().unwrap();
            assert_eq!(ifs.len(), 3, "{r}");
            assert_eq!(ifs[0]["name"], "cni-conf0");
            assert_eq!(ifs[2]["name"], "eth0");
            assert_eq!(ifs[2]["sandbox"], ns.display().to_string());
            let ip = &r["ips"][0];
            assert_eq!(ip["interface"], 2);
            assert_eq!(ip["gateway"], "10.77.0.1");
            assert_eq!(ip.get("version").is_some(), v.starts_with("0."), "{ip}");
            let addr = ip["address"].as_str().unwrap().to_owned();
            assert!(
                addr.starts_with("10.77.0.") && addr.ends_with("/24"),
                "{addr}"
            );
            assert_eq!(addresses_in(&ns, "eth0"), [addr.as_str()]);

            // CHECK with prevResult: fine; from another namespace: not.
            let mut with_prev = conf.clone();
            with_prev["prevResult"] = r.clone();
            if v != "0.3.1" {
                let c = h.call("CHECK", &id, Some(&ns), &with_prev.to_string());
                assert!(
                    c.ok && c.stdout.trim().is_empty(),
                    "CHECK {v}: {}",
                    c.stdout
                );
                let c = h.call(
                    "CHECK",
                    &id,
                    Some(Path::new("/proc/self/ns/net")),
                    &with_prev.to_string(),
                );
                assert_eq!(c.code(), 101, "CHECK from elsewhere");
            } else {
                // CHECK came with 0.4.0.
                assert_eq!(
                    h.call("CHECK", &id, Some(&ns), &with_prev.to_string())
                        .code(),
                    1
                );
            }

            // DEL twice, then once more with no namespace: all succeed.
            for netns in [Some(ns.as_path()), Some(ns.as_path()), None] {
                let d = h.call("DEL", &id, netns, &with_prev.to_string());
                assert!(d.ok && d.stdout.trim().is_empty(), "DEL {v}: {}", d.stdout);
            }
            assert_eq!(h.endpoints(), 0);
            if v != "0.3.1" {
                assert_eq!(
                    h.call("CHECK", &id, Some(&ns), &with_prev.to_string())
                        .code(),
                    101
                );
            }
        }
    })
    .expect("sandbox");
}

#[test]
fn legacy_0_2_0_result() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        let h = Harness::new();
        let ns = netns("old");
        let add = h.call("ADD", "old", Some(&ns), &h.conf("0.2.0").to_string());
        assert!(add.ok, "{}", add.stdout);
        let r = add.json();
        assert!(
            r["ip4"]["ip"].as_str().unwrap().starts_with("10.77.0."),
            "{r}"
        );
        assert!(r.get("interfaces").is_none());
        assert!(
            h.call("DEL", "old", Some(&ns), &h.conf("0.2.0").to_string())
                .ok
        );
    })
    .expect("sandbox");
}

#[test]
fn same_container_same_address_and_ranges() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        let h = Harness::new();
        let mut conf = h.conf("1.0.0");
        conf["ipam"]["rangeStart"] = json!("10.77.0.100");
        conf["ipam"]["rangeEnd"] = json!("10.77.0.110");
        conf["mtu"] = json!(1400);
        let conf = conf.to_string();
        let first = h.call("ADD", "keep", Some(&netns("keep-1")), &conf);
        let a = first.json()["ips"][0]["address"].clone();
        assert_eq!(a, "10.77.0.100/24");
        let other = h.call("ADD", "other", Some(&netns("other")), &conf);
        assert_eq!(other.json()["ips"][0]["address"], "10.77.0.101/24");
        assert!(h.call("DEL", "keep", None, &conf).ok);
        // Restarted in a new namespace: the same address.
        let again = h.call("ADD", "keep", Some(&netns("keep-2")), &conf);
        assert_eq!(again.json()["ips"][0]["address"], a);
        // Asked for an address: that one (and the MTU of the config).
        let asked = h.call("ADD", "asked", Some(&netns("asked")), &{
            let mut c: Value = serde_json::from_str(&conf).unwrap();
            c["runtimeConfig"] = json!({"ips": ["10.77.0.50/24"]});
            c.to_string()
        });
        assert_eq!(asked.json()["ips"][0]["address"], "10.77.0.50/24");
        let ns =
            brnet_netns::Netns::open_path(NetnsDir::default().path_of("asked").unwrap()).unwrap();
        let mtu = Socket::open_in(&ns)
            .unwrap()
            .link_by_name("eth0")
            .unwrap()
            .mtu;
        assert_eq!(mtu, 1400);
        // An address outside the subnet: the plugin's own code.
        let outside = h.call("ADD", "outside", Some(&netns("outside")), &{
            let mut c: Value = serde_json::from_str(&conf).unwrap();
            c["runtimeConfig"] = json!({"ips": ["10.99.0.5"]});
            c.to_string()
        });
        assert_eq!(outside.code(), 100);
        assert_eq!(h.endpoints(), 3);
    })
    .expect("sandbox");
}

#[test]
fn gc_releases_what_is_not_listed_and_status_reports() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        let h = Harness::new();
        let conf = h.conf("1.1.0");
        for id in ["keep", "drop1", "drop2"] {
            let add = h.call("ADD", id, Some(&netns(id)), &conf.to_string());
            assert!(add.ok, "{}", add.stdout);
        }
        assert_eq!(h.endpoints(), 3);
        let st = h.call("STATUS", "", None, &conf.to_string());
        assert!(st.ok && st.stdout.trim().is_empty(), "{}", st.stdout);

        let mut gc = conf.clone();
        gc["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
        let g = h.call("GC", "", None, &gc.to_string());
        assert!(g.ok, "{}", g.stdout);
        assert_eq!(h.endpoints(), 1);
        let check = h.call(
            "CHECK",
            "keep",
            Some(&NetnsDir::default().path_of("keep").unwrap()),
            &conf.to_string(),
        );
        assert!(check.ok, "{}", check.stdout);

        // Nothing listed: everything goes, the network too.
        gc["cni.dev/valid-attachments"] = json!([]);
        assert!(h.call("GC", "", None, &gc.to_string()).ok);
        assert_eq!(h.endpoints(), 0);
        let mut nl = Socket::new().unwrap();
        assert!(
            nl.link_by_name("cni-conf0").is_err(),
            "the bridge outlived GC"
        );

        // STATUS and GC came with 1.1.0.
        assert_eq!(
            h.call("STATUS", "", None, &h.conf("1.0.0").to_string())
                .code(),
            1
        );
        assert_eq!(
            h.call("GC", "", None, &h.conf("0.4.0").to_string()).code(),
            1
        );
    })
    .expect("sandbox");
}

#[test]
fn invalid_configs_and_environments_get_the_spec_codes() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        let h = Harness::new();
        let ns = netns("bad");
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = h.conf("1.0.0");
            f(&mut c);
            c.to_string()
        };
        let cases: Vec<(&str, String, Option<&Path>, u64)> = vec![
            (
                "unknown cniVersion",
                with(&|c| c["cniVersion"] = json!("9.9.9")),
                Some(&ns),
                1,
            ),
            (
                "bad subnet",
                with(&|c| c["ipam"]["subnet"] = json!("10.77.0.1/24")),
                Some(&ns),
                7,
            ),
            (
                "not a subnet",
                with(&|c| c["ipam"]["subnet"] = json!("banana")),
                Some(&ns),
                7,
            ),
            (
                "gateway outside",
                with(&|c| c["ipam"]["gateway"] = json!("10.1.1.1")),
                Some(&ns),
                7,
            ),
            ("no ipam", with(&|c| c["ipam"] = Value::Null), Some(&ns), 7),
            ("vlan", with(&|c| c["vlan"] = json!(12)), Some(&ns), 2),
            (
                "dhcp",
                with(&|c| c["ipam"]["type"] = json!("dhcp")),
                Some(&ns),
                2,
            ),
            ("missing CNI_NETNS", h.conf("1.0.0").to_string(), None, 4),
            (
                "missing namespace",
                h.conf("1.0.0").to_string(),
                Some(Path::new("/run/netns/nope")),
                4,
            ),
            ("not JSON", "{\"cniVersion\":".to_owned(), Some(&ns), 6),
        ];
        for (what, stdin, netns, code) in cases {
            let c = h.call("ADD", "bad", netns, &stdin);
            assert_eq!(c.code(), code, "{what}: {}", c.stdout);
        }
        // The message names the field and its value.
        let c = h.call(
            "ADD",
            "bad",
            Some(&ns),
            &with(&|c| c["ipam"]["subnet"] = json!("10.77.0.1/24")),
        );
        assert!(
            c.json()["msg"]
                .as_str()
                .unwrap()
                .contains("ipam.subnet=\"10.77.0.1/24\""),
            "{}",
            c.stdout
        );
        // A bad CNI_COMMAND and a bad container id.
        let c = h.call("FROB", "bad", Some(&ns), &h.conf("1.0.0").to_string());
        assert_eq!(c.code(), 4);
        let c = h.call("ADD", "../x", Some(&ns), &h.conf("1.0.0").to_string());
        assert_eq!(c.code(), 4);
        // Nothing was made by any of them.
        assert_eq!(h.endpoints(), 0);
    })
    .expect("sandbox");
}

#[test]
fn port_mappings_from_runtime_config_are_published() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        use std::io::{Read, Write as _};
        use std::net::{TcpListener, TcpStream};
        use std::time::Duration;

        let h = Harness::new();
        let ns = netns("pub");
        let mut conf = h.conf("1.0.0");
        conf["capabilities"] = json!({"portMappings": true});
        conf["runtimeConfig"] =
            json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]});
        let add = h.call("ADD", "pub", Some(&ns), &conf.to_string());
        assert!(add.ok, "{}", add.stdout);
        let inside = brnet_netns::Netns::open_path(&ns).unwrap();
        let listener = inside
            .run(|| TcpListener::bind("0.0.0.0:80"))
            .unwrap()
            .unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.write_all(b"published").unwrap();
        });
        // From the host side, to the gateway's port 8080.
        let mut c =
            TcpStream::connect_timeout(&"10.77.0.1:8080".parse().unwrap(), Duration::from_secs(5))
                .expect("connect to the published port");
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "published");
        server.join().unwrap();
        assert!(h.call("DEL", "pub", Some(&ns), &conf.to_string()).ok);
        let again = TcpStream::connect_timeout(
            &"10.77.0.1:8080".parse().unwrap(),
            Duration::from_millis(500),
        );
        assert!(again.is_err(), "the port outlived DEL");
    })
    .expect("sandbox");
}

/// host-local with an IPv6 range alone: an IPv6-only network, the result
/// one IPv6 address with its gateway, the default route through it.
#[test]
fn ipv6_only_ranges() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        let h = Harness::new();
        let mut conf = h.conf("1.0.0");
        conf["ipam"] = json!({"type": "host-local", "ranges": [[{"subnet": "fd77::/64"}]],
                              "routes": [{"dst": "::/0"}]});
        let conf = conf.to_string();
        let six = netns("six");
        let add = h.call("ADD", "six", Some(&six), &conf);
        assert!(add.ok, "{}", add.stdout);
        let ips = add.json()["ips"].clone();
        assert_eq!(ips.as_array().unwrap().len(), 1, "{ips}");
        assert_eq!(ips[0]["address"], "fd77::2/64");
        assert_eq!(ips[0]["gateway"], "fd77::1");
        let addrs = addresses_in(&six, "eth0");
        assert!(addrs.iter().all(|a| !a.contains('.')), "{addrs:?}");
        let ns = brnet_netns::Netns::open_path(&six).unwrap();
        let routes = Socket::open_in(&ns)
            .unwrap()
            .routes(bridge_net::brnet_netlink::Family::V6)
            .unwrap();
        assert!(
            routes
                .iter()
                .any(|r| r.is_default() && r.gateway == Some("fd77::1".parse().unwrap())),
            "{routes:?}"
        );
        assert!(h.call("DEL", "six", None, &conf).ok);
        assert_eq!(h.endpoints(), 0);
    })
    .expect("sandbox");
}

/// A secondary attachment (Multus-style: eth0 and the default route come
/// from another plugin, ours is net1): ADD succeeds, the other plugin's
/// default route stays, and every route the result reports is in the
/// kernel.
#[test]
fn secondary_attachment_keeps_the_default_route_and_reports_what_it_installed() {
    if !brnet_netns::privileged_test() {
        return;
    }
    brnet_netns::isolated(|| {
        let h = Harness::new();
        let ns = netns("multus");
        let ip = |args: &str| {
            let st = Command::new("ip")
                .args(["-n", "multus"])
                .args(args.split_whitespace())
                .status()
                .expect("run ip");
            assert!(st.success(), "ip -n multus {args}");
        };
        ip("link add eth0 type veth peer name other0");
        ip("addr add 192.0.2.2/24 dev eth0");
        ip("link set eth0 up");
        ip("link set other0 up");
        ip("route add default via 192.0.2.1 dev eth0");
        let conf = h.conf("1.0.0");
        let add = h.call_as("ADD", "sec", "net1", Some(&ns), &conf.to_string());
        assert!(
            add.ok,
            "ADD net1 beside another plugin's eth0: {}",
            add.stdout
        );
        let r = add.json();
        assert_eq!(r["interfaces"][2]["name"], "net1", "{r}");

        let out = Command::new("ip")
            .args(["-n", "multus", "-4", "-j", "route", "show"])
            .output()
            .expect("ip route");
        let installed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("routes JSON");
        let has = |dst: &str, gw: Option<&str>| {
            installed.iter().any(|x| {
                let d = x["dst"].as_str().unwrap_or("");
                let d = if d == "default" { "0.0.0.0/0" } else { d };
                d == dst && gw.is_none_or(|g| x["gateway"].as_str() == Some(g))
            })
        };
        assert!(
            has("0.0.0.0/0", Some("192.0.2.1")),
            "the other plugin's default route stays: {installed:?}"
        );
        for route in r["routes"].as_array().into_iter().flatten() {
            let dst = route["dst"].as_str().expect("dst");
            assert!(
                has(dst, route["gw"].as_str()),
                "reported {route} is not installed: {installed:?}"
            );
        }
        let d = h.call_as("DEL", "sec", "net1", Some(&ns), &conf.to_string());
        assert!(d.ok, "DEL: {}", d.stdout);
        assert_eq!(h.endpoints(), 0);
    })
    .expect("sandbox");
}
