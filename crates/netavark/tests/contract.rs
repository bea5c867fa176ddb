//! The netavark contract driven as Podman drives it, without Podman: the
//! captured argv and stdin (`tests/fixtures/`), in a throwaway network and
//! mount namespace (`brnet_netns::isolated`) with its own `--config`
//! directory.

use std::path::Path;
use std::process::{Command, Stdio};

use brnet_netns::NetnsDir;
use brnet_testkit::cmd::{feed_or_early_exit, nft_ruleset};
use brnet_testkit::topo::named_netns;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brnet-netavark");
const CAPTURED: &str = include_str!("fixtures/setup-stdin.json");

struct Run {
    ok: bool,
    stdout: String,
}

fn run(config: &Path, args: &[&str], stdin: &str) -> Run {
    run_env(config, args, stdin, &[])
}

/// [`run`] with `NAME=VALUE`s in its environment (`NETAVARK_FW` is
/// removed unless given).
fn run_env(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(config)
        .args([
            "--rootless=false",
            "--aardvark-binary=/usr/lib/podman/aardvark-dns",
        ])
        .args(args)
        .env_remove("BRNET_STATE_DIR")
        .env_remove("NETAVARK_FW")
        .envs(env.iter().copied())
        .stderr(Stdio::inherit());
    // A usage error exits before reading: its stdout says why.
    let out = feed_or_early_exit(&mut cmd, stdin.as_bytes());
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// A failure: `{"error": "..."}` on stdout, one line, exit status 1.
#[track_caller]
fn error_of(r: &Run) -> String {
    assert!(!r.ok, "expected a failure: {}", r.stdout);
    assert_eq!(r.stdout.lines().count(), 1, "{:?}", r.stdout);
    let v: Value = serde_json::from_str(&r.stdout).expect("error JSON");
    v["error"].as_str().expect("error").to_owned()
}

#[test]
fn version() {
    let dir = tempfile::tempdir().unwrap();
    let v = run(dir.path(), &["version"], "");
    assert!(v.ok);
    let j: Value = serde_json::from_str(&v.stdout).unwrap();
    // netavark's keys: the contract's release, the commit (40 hex digits
    // in a git checkout), the build time, the target.
    assert_eq!(j["version"], "1.4.0");
    let commit = j["commit"].as_str().unwrap();
    assert!(
        commit.is_empty() || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(j["build_time"].as_str().unwrap().starts_with("20"), "{j}");
    assert!(j["target"].as_str().unwrap().contains("linux"), "{j}");
    assert_eq!(
        j["implementation"],
        concat!(
            "brnet-netavark ",
            env!("CARGO_PKG_VERSION"),
            " (bridge-net)"
        )
    );
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("netavark 1.4.0 (brnet-netavark "),
        "{line}"
    );
}

/// `nft flush ruleset` (a stock nftables.conf does it on restart) takes
/// our table: teardown still succeeds, takes the bridge, and puts no rule
/// back.
#[test]
fn teardown_after_a_flushed_ruleset_succeeds() {
    brnet_testkit::sandboxed(|| {
        let config = tempfile::tempdir().unwrap();
        let ns = &named_netns("flushed");
        let setup = run(config.path(), &["setup", ns], CAPTURED);
        assert!(setup.ok, "{}", setup.stdout);
        let flush = Command::new("nft").args(["flush", "ruleset"]).status();
        assert!(flush.unwrap().success());
        let t = run(config.path(), &["teardown", ns], CAPTURED);
        assert!(
            t.ok && t.stdout.is_empty(),
            "teardown after a flush: {}",
            t.stdout
        );
        let mut nl = bridge_net::brnet_netlink::Socket::new().unwrap();
        assert!(
            nl.link_by_name("podman1").is_err(),
            "the bridge outlived its last container"
        );
        assert_eq!(nft_ruleset(), "", "teardown put rules back");
    });
}

#[test]
fn captured_setup_then_teardown_twice() {
    brnet_testkit::sandboxed(|| {
        let config = tempfile::tempdir().unwrap();
        let ns = &named_netns("web");

        let setup = run(config.path(), &["setup", ns], CAPTURED);
        assert!(setup.ok, "{}", setup.stdout);
        let out: Value = serde_json::from_str(&setup.stdout).unwrap();
        // The captured stdout's shape (`setup-stdout.json`), with our MAC.
        let eth0 = &out["testnet"]["interfaces"]["eth0"];
        assert_eq!(eth0["subnets"][0]["ipnet"], "10.89.0.2/24");
        assert_eq!(eth0["subnets"][0]["gateway"], "10.89.0.1");
        assert_eq!(eth0["mac_address"].as_str().unwrap().len(), 17);
        assert!(out["testnet"]["dns_server_ips"].is_array());
        assert!(out["testnet"]["dns_search_domains"].is_array());
        assert!(config.path().join("brnet/state.json").exists());

        // The same container again: refused, nothing changed.
        let again = run(config.path(), &["setup", ns], CAPTURED);
        assert!(
            error_of(&again).contains("already connected"),
            "{}",
            again.stdout
        );

        // Teardown prints nothing; a second one succeeds too (netavark's
        // own fails).
        for _ in 0..2 {
            let t = run(config.path(), &["teardown", ns], CAPTURED);
            assert!(t.ok && t.stdout.is_empty(), "{}", t.stdout);
        }
        let mut nl = bridge_net::brnet_netlink::Socket::new().unwrap();
        assert!(
            nl.link_by_name("podman1").is_err(),
            "the bridge outlived its last container"
        );
        // The namespace gone: teardown still succeeds.
        NetnsDir::default().delete("web").unwrap();
        assert!(run(config.path(), &["teardown", ns], CAPTURED).ok);
    });
}

#[test]
fn failures_are_one_json_line_naming_the_field() {
    brnet_testkit::sandboxed(|| {
        let config = tempfile::tempdir().unwrap();
        NetnsDir::default().create("c").unwrap();
        let ns = "/run/netns/c";
        let with = |from: &str, to: &str| {
            assert!(CAPTURED.contains(from), "{from}");
            CAPTURED.replacen(from, to, 1)
        };
        for (stdin, args, want) in [
            (
                "{".to_owned(),
                vec!["setup", ns],
                "decode network options from stdin",
            ),
            (
                with("\"driver\": \"bridge\"", "\"driver\": \"ipvlan\""),
                vec!["setup", ns],
                "network_info.testnet.driver=\"ipvlan\"",
            ),
            (
                with(
                    "\"ipam_options\": {",
                    "\"options\": {\"vlan\": \"4\"}, \"ipam_options\": {",
                ),
                vec!["setup", ns],
                "network_info.testnet.options.vlan=\"4\"",
            ),
            (
                with("\"10.89.0.0/24\"", "\"10.89.0.0/33\""),
                vec!["setup", ns],
                "subnets[0].subnet=\"10.89.0.0/33\"",
            ),
            (
                with("\"range\": 1", "\"range\": 0, \"bogus\": 1")
                    .replace("\"host_port\": 8080", "\"host_port\": 0"),
                vec!["setup", ns],
                "port_mappings[0].host_port",
            ),
            (
                with("\"10.89.0.2\"", "\"10.90.0.2\""),
                vec!["setup", ns],
                "10.90.0.2",
            ),
            (
                CAPTURED.to_owned(),
                vec!["setup", "/run/netns/missing"],
                "missing",
            ),
            (
                CAPTURED.to_owned(),
                vec!["frobnicate"],
                "frobnicate: unknown command",
            ),
        ] {
            let r = run(config.path(), &args, &stdin);
            let e = error_of(&r);
            assert!(e.contains(want), "want {want:?} in {e:?}");
        }
        // None of them left anything.
        let mut nl = bridge_net::brnet_netlink::Socket::new().unwrap();
        assert!(nl.link_by_name("podman1").is_err());
    });
}

/// The rules of `table` (`iptables -S` or `ip6tables -S`).
fn iptables(cmd: &str, table: &str) -> String {
    let out = Command::new(cmd)
        .args(["-t", table, "-S"])
        .output()
        .expect("run iptables");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The nftables ruleset.
#[test]
fn netavark_fw_chooses_the_firewall_and_teardown_finds_it() {
    brnet_testkit::sandboxed(|| {
        let config = tempfile::tempdir().unwrap();
        let dir = NetnsDir::default();
        dir.create("web").unwrap();
        let ns = "/run/netns/web";
        // iptables: the published port is a DNAT rule there, and nothing
        // of ours is in nftables.
        let setup = run_env(
            config.path(),
            &["setup", ns],
            CAPTURED,
            &[("NETAVARK_FW", "iptables")],
        );
        assert!(setup.ok, "{}", setup.stdout);
        assert!(iptables("iptables", "nat").contains("10.89.0.2:80"));
        assert!(!nft_ruleset().contains("brnet"), "{}", nft_ruleset());
        // Another driver while the network has its rules in iptables.
        let other = run_env(
            config.path(),
            &["setup", ns],
            CAPTURED,
            &[("NETAVARK_FW", "nftables")],
        );
        let e = error_of(&other);
        assert!(e.contains("NETAVARK_FW") && e.contains("iptables"), "{e}");
        // Teardown from Podman's cleanup process, its environment
        // scrubbed: the rules go from iptables all the same.
        let t = run(config.path(), &["teardown", ns], CAPTURED);
        assert!(t.ok, "{}", t.stdout);
        assert!(!iptables("iptables", "nat").contains("10.89.0.2"));

        // none: no rule anywhere, the container still on its bridge.
        let setup = run_env(
            config.path(),
            &["setup", ns],
            CAPTURED,
            &[("NETAVARK_FW", "none")],
        );
        assert!(setup.ok, "{}", setup.stdout);
        assert!(!iptables("iptables", "nat").contains("10.89.0.2"));
        assert!(!nft_ruleset().contains("10.89.0.2"), "{}", nft_ruleset());
        assert!(run(config.path(), &["teardown", ns], CAPTURED).ok);

        // nftables, the default, and what is not a driver.
        assert!(run(config.path(), &["setup", ns], CAPTURED).ok);
        assert!(nft_ruleset().contains("10.89.0.2"), "{}", nft_ruleset());
        assert!(run(config.path(), &["teardown", ns], CAPTURED).ok);
        for (v, want) in [
            ("firewalld", "firewalld"),
            ("pf", "unknown firewall driver"),
        ] {
            let r = run_env(
                config.path(),
                &["setup", ns],
                CAPTURED,
                &[("NETAVARK_FW", v)],
            );
            assert!(error_of(&r).contains(want));
        }
    });
}

#[test]
fn network_dns_servers_go_to_the_resolver_and_update_changes_them() {
    brnet_testkit::sandboxed(|| {
        let config = tempfile::tempdir().unwrap();
        let dir = NetnsDir::default();
        dir.create("web").unwrap();
        let ns = "/run/netns/web";
        let stdin = CAPTURED.replacen(
            "\"dns_enabled\": true",
            "\"dns_enabled\": true, \"network_dns_servers\": [\"192.0.2.53\", \"2001:db8::53\"]",
            1,
        );
        assert_ne!(stdin, CAPTURED);
        let setup = run(config.path(), &["setup", ns], &stdin);
        assert!(setup.ok, "{}", setup.stdout);
        let spec = config.path().join("brnet/resolver.json");
        let upstreams = || -> Value {
            let s: Value = serde_json::from_slice(&std::fs::read(&spec).unwrap()).unwrap();
            s["networks"][0]["upstreams"].clone()
        };
        assert_eq!(
            upstreams(),
            serde_json::json!(["192.0.2.53", "2001:db8::53"])
        );
        // As netavark's suite (and Podman 4.6's `network update
        // --dns-add/--dns-drop`) call it.
        let u = run(
            config.path(),
            &[
                "update",
                "testnet",
                "--network-dns-servers",
                "198.51.100.53",
            ],
            "",
        );
        assert!(u.ok && u.stdout.is_empty(), "{}", u.stdout);
        assert_eq!(upstreams(), serde_json::json!(["198.51.100.53"]));
        // Dropping the last: back to the host's.
        let u = run(
            config.path(),
            &["update", "testnet", "--network-dns-servers", ""],
            "",
        );
        assert!(u.ok, "{}", u.stdout);
        assert!(upstreams().is_null(), "{}", upstreams());
        // A network no container uses: nothing to change.
        assert!(
            run(
                config.path(),
                &["update", "nope", "--network-dns-servers", "192.0.2.1"],
                ""
            )
            .ok
        );
        let bad = run(
            config.path(),
            &["update", "testnet", "--network-dns-servers", "nope"],
            "",
        );
        assert!(error_of(&bad).contains("--network-dns-servers"));
        assert!(run(config.path(), &["teardown", ns], &stdin).ok);
    });
}
