//! brnet-netavark's logs: never on stdout (the contract's JSON), on
//! stderr with RUST_LOG (as Podman sets it), in a file with
//! BRNET_LOG_FILE.

use std::process::{Command, Output, Stdio};

use brnet_testkit::cmd::feed;
use brnet_testkit::topo::named_netns;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brnet-netavark");
const CAPTURED: &str = include_str!("fixtures/setup-stdin.json");

fn run(config: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(config)
        .arg("--rootless=false")
        .args(args)
        .env_remove("BRNET_STATE_DIR")
        .env_remove("NETAVARK_FW")
        .env_remove("RUST_LOG")
        .env_remove("BRNET_LOG_FILE")
        .envs(env.iter().copied())
        .stderr(Stdio::piped());
    feed(&mut cmd, CAPTURED.as_bytes())
}

#[test]
fn logs_go_to_stderr_or_a_file_never_to_stdout() {
    brnet_testkit::sandboxed(|| {
        let config = tempfile::tempdir().unwrap();
        let ns = &named_netns("web");

        let setup = run(config.path(), &["setup", ns], &[("RUST_LOG", "debug")]);
        let stdout = String::from_utf8(setup.stdout).unwrap();
        let stderr = String::from_utf8(setup.stderr).unwrap();
        assert!(setup.status.success(), "{stdout} {stderr}");
        let _: Value = serde_json::from_str(&stdout).expect("stdout is the JSON alone");
        assert!(stderr.contains("connect{network=\"testnet\""), "{stderr}");
        assert!(stderr.contains("netlink request RTM_NEWLINK"), "{stderr}");

        let file = config.path().join("netavark.log");
        let t = run(
            config.path(),
            &["teardown", ns],
            &[("BRNET_LOG_FILE", file.to_str().unwrap())],
        );
        assert!(t.status.success());
        assert!(t.stdout.is_empty() && t.stderr.is_empty(), "{t:?}");
        let logged = std::fs::read_to_string(&file).unwrap();
        assert!(
            logged.contains("INFO") && logged.contains("disconnect done"),
            "{logged}"
        );
    });
}
