//! brnet-cni's logs: never on stdout (the CNI result's place), on stderr
//! with RUST_LOG, in a file with BRNET_LOG_FILE.

use std::process::{Command, Output, Stdio};

use brnet_testkit::cmd::feed;
use brnet_testkit::topo::named_netns;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_brnet-cni");

fn call(command: &str, netns: &str, conf: &Value, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", "logged")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .env("CNI_NETNS", netns)
        .envs(env.iter().copied())
        .stderr(Stdio::piped());
    feed(&mut cmd, conf.to_string().as_bytes())
}

#[test]
fn logs_go_to_stderr_or_a_file_never_to_stdout() {
    brnet_testkit::sandboxed(|| {
        let state = tempfile::tempdir().unwrap();
        let conf = json!({
            "cniVersion": "1.0.0", "name": "lognet", "type": "bridge", "bridge": "cni-log0",
            "isGateway": true, "ipMasq": true,
            "ipam": {"type": "host-local", "subnet": "10.78.0.0/24"},
            "stateDir": state.path(),
        });
        let ns = &named_netns("logged");

        let add = call("ADD", ns, &conf, &[("RUST_LOG", "debug")]);
        let stdout = String::from_utf8(add.stdout).unwrap();
        let stderr = String::from_utf8(add.stderr).unwrap();
        assert!(add.status.success(), "{stdout} {stderr}");
        let result: Value = serde_json::from_str(&stdout).expect("stdout is the result alone");
        assert_eq!(result["cniVersion"], "1.0.0");
        assert!(stderr.contains("connect{network=\"lognet\""), "{stderr}");
        assert!(stderr.contains("netlink request RTM_NEWLINK"), "{stderr}");

        let file = state.path().join("cni.log");
        let del = call(
            "DEL",
            ns,
            &conf,
            &[("BRNET_LOG_FILE", file.to_str().unwrap())],
        );
        assert!(del.status.success());
        assert!(
            del.stdout.trim_ascii().is_empty() && del.stderr.is_empty(),
            "{del:?}"
        );
        let logged = std::fs::read_to_string(&file).unwrap();
        assert!(
            logged.contains("INFO") && logged.contains("disconnect"),
            "{logged}"
        );
    });
}
