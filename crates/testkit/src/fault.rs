//! Fault injection: what a rollback test compares before and after a
//! failure injected at one step (bridge-net's `fault-injection` feature,
//! `BRNET_FAULT` for child processes).

use std::process::Command;

use crate::cmd::{ip, ip_json};

/// The environment that makes a bridge-net process crash (exit at once,
/// no unwinding) at `step`: `BRNET_FAULT=crash:STEP`.
pub fn crash_at(step: &str) -> (&'static str, String) {
    ("BRNET_FAULT", format!("crash:{step}"))
}

/// The environment that makes `step` fail with an error in a bridge-net
/// process: `BRNET_FAULT=fail:STEP`.
pub fn fail_at(step: &str) -> (&'static str, String) {
    ("BRNET_FAULT", format!("fail:{step}"))
}

/// Links with their master, MAC and addresses (not their operational
/// state, which the kernel flips on its own), one a line; `prefix` is
/// put before `addr show` (e.g. `["-n", "c1"]`). IPv6 link-local
/// addresses are left out: the kernel adds them itself when a link gets
/// carrier (a bridge, once a port is up), at a moment of its choosing, so
/// one can appear between two snapshots of a sandbox nothing else changed.
pub fn addresses(prefix: &[&str]) -> String {
    let mut args = prefix.to_vec();
    args.extend(["addr", "show"]);
    let mut out = String::new();
    for l in ip_json(&args).as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{} master={} mac={}",
            l["ifname"], l["master"], l["address"]
        ));
        for a in l["addr_info"].as_array().into_iter().flatten() {
            if a["family"] == "inet6" && a["scope"] == "link" {
                continue;
            }
            out.push_str(&format!(" {}/{}", a["local"], a["prefixlen"]));
        }
        out.push('\n');
    }
    out
}

/// What the kernel shows of a sandbox: the host's links and addresses,
/// each named namespace's links, addresses and routes, and the nftables
/// ruleset. Equal before and after a failed operation means it left
/// nothing behind.
pub fn kernel_snapshot(namespaces: &[&str]) -> String {
    let mut s = addresses(&[]);
    for n in namespaces {
        s.push_str(&addresses(&["-n", n]));
        s.push_str(&ip(&["-n", n, "route"]));
    }
    let out = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("run nft (install nftables)");
    s.push_str(&String::from_utf8_lossy(&out.stdout));
    s
}
