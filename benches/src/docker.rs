//! The Docker section of `cargo xtask bench`: what the network costs a
//! Docker container, `docker run -d` + `docker rm -f` per container on
//! `--network none`, Docker's own bridge and the brnet driver, with and
//! without a published port. The measurement is brnet-docker's timing
//! test (a real dockerd 20.10 in a throwaway sandbox), run on release
//! builds; this turns its table into a Markdown section.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Containers per configuration in the bench (medians and quartiles).
pub const ROUNDS: usize = 30;
/// With `--quick`.
pub const QUICK_ROUNDS: usize = 5;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Run the measurement (`rounds` containers per configuration) and return
/// the section; a section saying why when it could not run.
pub fn section(rounds: usize) -> String {
    let head = "\n### What the network costs a Docker container\n\n";
    let have = |p: &str| Path::new(p).is_file();
    if !["/usr/sbin/dockerd", "/usr/bin/containerd", "/bin/busybox"]
        .iter()
        .all(|p| have(p))
    {
        return format!(
            "{head}Docker not installed (`apt-get install docker.io docker-compose busybox-static`): not measured.\n"
        );
    }
    eprintln!(
        "==> bench: Docker, {rounds} containers per configuration (brnet-docker's timing test, release)"
    );
    // The resolver's and veth-delete helper `brnet` beside the plugin, as
    // installed.
    let built = cargo()
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "brnet-docker",
            "-p",
            "brnet-cli",
        ])
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        return format!("{head}Not measured: the release build of brnet-docker failed.\n");
    }
    let out = cargo()
        .args([
            "test",
            "--release",
            "--quiet",
            "-p",
            "brnet-docker",
            "--test",
            "timing",
        ])
        .args(["--", "--nocapture", "--test-threads=1"])
        .env(
            "BRNET_DOCKER_BIN",
            root().join("target/release/brnet-docker"),
        )
        .env("BRNET_DOCKER_ROUNDS", rounds.to_string())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stderr).into_owned(),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            eprintln!("{err}");
            let tail: Vec<&str> = err.lines().rev().take(5).collect();
            return format!(
                "{head}Not measured: the timing test failed ({}): {}\n",
                o.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            );
        }
        Err(e) => return format!("{head}Not measured: cargo test: {e}\n"),
    };
    let lines = table_lines(&out);
    eprintln!("{}", lines.join("\n"));
    format!(
        "{head}`docker run -d [-p PORT:80]` then `docker rm -f` of a busybox httpd, one container at a time, \
         {rounds} per configuration taking turns (Docker 20.10, containerd, runc, in a pid+net+mount sandbox; \
         dockerd's userland proxy on, as by default). \"network\" is the median minus `--network none`'s. \
         Reproduce alone: `cargo build --release -p brnet-docker -p brnet-cli && \
         BRNET_DOCKER_BIN=target/release/brnet-docker BRNET_DOCKER_ROUNDS={rounds} cargo test --release \
         -p brnet-docker --test timing -- --nocapture`.\n\n```text\n{}\n```\n",
        lines.join("\n")
    )
}

/// The table's lines out of the test's stderr (without the harness's own
/// `[  12 ms] docker ...` trace and libtest's lines).
pub fn table_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .skip_while(|l| !l.starts_with("per container,"))
        .filter(|l| {
            !l.trim().is_empty()
                && !l.trim_start().starts_with('[')
                && !l.starts_with("test ")
                && !l.starts_with("running")
        })
        .take_while(|l| !l.starts_with("test result"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_without_the_trace() {
        let err = "[  12 ms] docker run\nper container, median\nnetwork x\n[ 3 ms] docker rm\nbrnet 1\n\ntest docker ... ok\n";
        assert_eq!(
            table_lines(err),
            vec!["per container, median", "network x", "brnet 1"]
        );
    }
}
