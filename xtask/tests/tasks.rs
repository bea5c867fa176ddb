//! The `xtask` binary as `cargo xtask` runs it: every task's `--help`,
//! and what `test` installs on a machine that lacks the tests' packages
//! (pretended with `BRNET_XTASK_SEARCH_PATH`, and `--dry-run`: nothing is
//! installed or run).

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_xtask");

fn xtask(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("BRNET_SKIP_PRIVILEGED")
        .output()
        .expect("run xtask")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_task_has_help_and_runs_nothing() {
    let top = xtask(&["--help"]);
    assert!(top.status.success());
    let top = text(&top.stdout);
    // Every task `--help` lists (a new one is covered too).
    let listed: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|t| *t != "help")
        .collect();
    for task in ["test", "ci", "cycles", "demo", "soak", "bench", "man"] {
        assert!(listed.contains(&task), "{task} in\n{top}");
    }
    for task in listed {
        let started = std::time::Instant::now();
        let out = xtask(&[task, "--help"]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{task} --help: {}", text(&out.stderr));
        assert!(
            stdout.contains(&format!("Usage: cargo xtask {task}")),
            "{task} --help:\n{stdout}"
        );
        // `demo --help` prints help, it does not run the demo (which
        // makes a sandbox and prints the topology).
        assert!(
            !stdout.contains("==>"),
            "{task} --help ran something:\n{stdout}"
        );
        assert!(
            out.stderr.is_empty(),
            "{task} --help: {}",
            text(&out.stderr)
        );
        assert!(started.elapsed().as_secs() < 30);
    }
    for (task, flag) in [
        ("soak", "--cycles <CYCLES>"),
        ("soak", "--processes <PROCESSES>"),
        ("bench", "--quick"),
        ("bench", "--install-peers"),
        ("ci", "--skip-tests"),
        ("test", "--dry-run"),
    ] {
        let help = text(&xtask(&[task, "--help"]).stdout);
        assert!(help.contains(flag), "{flag} in {task} --help:\n{help}");
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["demo", "--bogus"][..],
        &["soak", "--cycles", "5"],
        &["soak", "--processes", "x"],
        &["bench", "--quik"],
        &["nope"],
    ] {
        let out = xtask(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).starts_with("error: "),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // clap's suggestion for a typo.
    let out = xtask(&["bench", "--quik"]);
    assert!(
        text(&out.stderr).contains("--quick"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn test_says_what_it_installs_and_skips_what_is_present() {
    // Nothing found on the search path: every program's package is
    // missing; the packages found by a fixed path are judged by it.
    let out = Command::new(BIN)
        .args(["test", "--dry-run"])
        .env("BRNET_XTASK_SEARCH_PATH", "/nonexistent")
        .output()
        .expect("run xtask");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("==> test: would apt-get install "))
        .unwrap_or_else(|| panic!("no install line in\n{stderr}"));
    for pkg in [
        "iproute2",
        "nftables",
        "iptables",
        "socat",
        "iputils-ping",
        "gcc",
        "podman",
    ] {
        assert!(line.split(' ').any(|w| w == pkg), "{pkg} in {line}");
    }
    let has_netavark = std::path::Path::new("/usr/lib/podman/netavark").exists();
    assert_eq!(
        line.split(' ').any(|w| w == "netavark"),
        !has_netavark,
        "netavark is present here: not installed again ({line})"
    );
    assert!(stderr.contains("==> cargo test --workspace"), "{stderr}");

    // On this machine's own path: what is installed is not installed again.
    let out = xtask(&["test", "--dry-run", "--", "-p", "brnet-ipam"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("==> cargo test -p brnet-ipam"), "{stderr}");
    if std::path::Path::new("/usr/sbin/nft").exists()
        || std::path::Path::new("/usr/bin/nft").exists()
    {
        assert!(!stderr.contains("nftables"), "{stderr}");
    }
}

#[test]
fn test_without_root_says_in_one_line_what_to_install() {
    // As nobody (setpriv drops root when we are root), on a machine that
    // lacks them.
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    });
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd
        .arg("test")
        .env("BRNET_XTASK_SEARCH_PATH", "/nonexistent")
        .env_remove("BRNET_SKIP_PRIVILEGED")
        .output()
        .expect("run xtask (as root: through setpriv, util-linux)");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line:\n{stderr}");
    assert!(
        lines[0].starts_with("xtask test: the tests need iproute2 nftables")
            && lines[0].contains("apt-get install iproute2 nftables"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn man_writes_a_page_per_command_and_the_completions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = xtask(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let man1 = dir.path().join("man1");
    for page in [
        "brnet.1",
        "brnet-network.1",
        "brnet-network-ls.1",
        "brnet-network-create.1",
        "brnet-ps.1",
        "brnet-port.1",
        "brnet-completions.1",
        "brnet-netns-add.1",
    ] {
        let p = man1.join(page);
        let body = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            body.starts_with(".ie \\n(.g .ds Aq") || body.contains(".TH"),
            "{page}"
        );
    }
    let ls = std::fs::read_to_string(man1.join("brnet-network-ls.1")).unwrap();
    assert!(
        ls.contains("brnet\\-network\\-ls") && ls.contains("filter"),
        "{ls}"
    );
    let comp = dir.path().join("completions");
    for f in ["brnet.bash", "_brnet", "brnet.fish"] {
        let body = std::fs::read_to_string(comp.join(f)).unwrap();
        assert!(body.contains("brnet"), "{f}");
    }
}

#[test]
fn test_installs_what_is_missing_with_apt_get_as_root() {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    });
    if !root {
        assert!(
            std::env::var_os("BRNET_SKIP_PRIVILEGED").is_some_and(|v| v == "1"),
            "this test runs apt-get's path as root: run it as root (sudo -E cargo test -p xtask), \
             or set BRNET_SKIP_PRIVILEGED=1 to skip it"
        );
        return;
    }
    // A machine where nothing is found, whose apt-get and cargo only say
    // how they were called (the machine's packages are not touched).
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    for (name, body) in [
        (
            "apt-get",
            "echo \"apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND\" >> \"$CALLS\"\n\
             [ -x /usr/sbin/policy-rc.d ] && [ \"$1\" = install ] && echo 'no services' >> \"$CALLS\"\n",
        ),
        ("cargo", "echo \"cargo $*\" >> \"$CALLS\"\n"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}exit 0\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let had_policy = std::path::Path::new("/usr/sbin/policy-rc.d").exists();
    let out = Command::new(BIN)
        .args(["test", "--", "-p", "brnet-ipam"])
        .env("BRNET_XTASK_SEARCH_PATH", dir.path())
        .env("CARGO", dir.path().join("cargo"))
        .env("CALLS", &log)
        .output()
        .expect("run xtask");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(
        lines[0], "apt-get update -qq DEBIAN_FRONTEND=noninteractive",
        "{calls}"
    );
    assert!(
        lines[1].starts_with("apt-get install -y -qq iproute2 nftables iptables socat"),
        "{calls}"
    );
    if !had_policy {
        assert_eq!(lines[2], "no services", "{calls}");
        assert!(!std::path::Path::new("/usr/sbin/policy-rc.d").exists());
    }
    assert_eq!(lines.last(), Some(&"cargo test -p brnet-ipam"), "{calls}");
    // It says what it installs.
    assert!(
        stderr.contains("==> apt-get install iproute2 nftables"),
        "{stderr}"
    );
}
