//! What the network costs a Docker container, measured (never asserted):
//! `docker run -d` + `docker rm -f` of a busybox httpd, one container at a
//! time, on `--network none`, on a network of Docker's own bridge driver,
//! and on a network of this driver, each with and without `-p PORT:80`.
//! The configurations take turns container by container (so drift of the
//! machine's load spreads over all of them); the table — medians with
//! the 25th–75th percentiles, the network's cost (median minus `none`'s)
//! and its share of the whole — goes to stderr:
//! `cargo test --release -p brnet-docker --test timing -- --nocapture`.
//!
//! `BRNET_DOCKER_ROUNDS` sets the containers per configuration (default 3,
//! enough to exercise the path in `cargo test`; `cargo xtask bench` uses
//! 30); `BRNET_DOCKER_BIN` measures another build of the plugin (say, a
//! `--release` one).

#[path = "docker/mod.rs"]
mod docker;

use std::time::Instant;

use docker::{IMAGE, Sandbox};

fn plugin() -> String {
    std::env::var("BRNET_DOCKER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_brnet-docker").into())
}

fn rounds() -> usize {
    std::env::var("BRNET_DOCKER_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(3)
}

struct Config {
    label: &'static str,
    network: &'static str,
    port: bool,
    run: Vec<f64>,
    rm: Vec<f64>,
    total: Vec<f64>,
}

use brnet_testkit::stats::quantile;

fn cell(v: &[f64]) -> String {
    format!(
        "{:6.1} ({:.1}–{:.1})",
        quantile(v, 0.5),
        quantile(v, 0.25),
        quantile(v, 0.75)
    )
}

#[test]
fn docker_run_and_rm_per_network() {
    if !brnet_netns::privileged_test() {
        return;
    }
    let sb = Sandbox::new(&plugin());
    sb.network_create("bridge", "172.20.0.0/16", "dockerbr");
    sb.network_create("brnet", "172.21.0.0/16", "brnet");
    let mut configs: Vec<Config> = [
        ("--network none", "none", false),
        ("Docker's bridge", "dockerbr", false),
        ("brnet driver", "brnet", false),
        ("Docker's bridge, -p", "dockerbr", true),
        ("brnet driver, -p", "brnet", true),
    ]
    .into_iter()
    .map(|(label, network, port)| Config {
        label,
        network,
        port,
        run: Vec::new(),
        rm: Vec::new(),
        total: Vec::new(),
    })
    .collect();
    // One untimed container per network first: image layers, the
    // plugin's activation and the bridges' first port come before.
    for c in &configs {
        sb.docker_ok(&["run", "--rm", "--network", c.network, IMAGE, "true"]);
    }
    let n = rounds();
    for i in 0..n {
        for (k, c) in configs.iter_mut().enumerate() {
            let name = format!("t{k}-{i}");
            let port = format!("{}:80", 8100 + k);
            let mut args = vec!["run", "-d", "--name", &name, "--network", c.network];
            if c.port {
                args.extend(["-p", &port]);
            }
            args.extend([IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"]);
            let t = Instant::now();
            sb.docker_ok(&args);
            let run = t.elapsed().as_secs_f64() * 1000.0;
            let t = Instant::now();
            sb.docker_ok(&["rm", "-f", &name]);
            let rm = t.elapsed().as_secs_f64() * 1000.0;
            c.run.push(run);
            c.rm.push(rm);
            c.total.push(run + rm);
        }
    }
    let none = quantile(&configs[0].total, 0.5);
    let mut table = format!(
        "per container, median (25th–75th percentile) of {n} per configuration, ms\n\
         {:<22} {:>22} {:>22} {:>22} {:>9} {:>6}\n",
        "network", "docker run -d", "docker rm -f", "both", "network", "share"
    );
    for c in &configs {
        let total = quantile(&c.total, 0.5);
        let (cost, share) = if c.network == "none" {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{:.1}", total - none),
                format!("{:.0} %", 100.0 * (total - none) / total),
            )
        };
        table.push_str(&format!(
            "{:<22} {:>22} {:>22} {:>22} {:>9} {:>6}\n",
            c.label,
            cell(&c.run),
            cell(&c.rm),
            cell(&c.total),
            cost,
            share
        ));
    }
    let cost = |label: &str| {
        configs
            .iter()
            .find(|c| c.label == label)
            .map(|c| quantile(&c.total, 0.5) - none)
            .unwrap_or(f64::NAN)
    };
    table.push_str(&format!(
        "network cost, brnet driver / Docker's bridge: {:.2}x without a port, {:.2}x with one\n",
        cost("brnet driver") / cost("Docker's bridge"),
        cost("brnet driver, -p") / cost("Docker's bridge, -p"),
    ));
    // The plugin's own time per call (its --debug log), per container.
    let log = sb
        .read("/run/dk/plugin.log")
        .map(|b| docker::text(&b))
        .unwrap_or_default();
    let mut per: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("brnet-docker: NetworkDriver.") else {
            continue;
        };
        let method = rest.split_whitespace().next().unwrap_or_default();
        let us = line
            .rsplit_once('(')
            .and_then(|(_, t)| t.strip_suffix(" us)"))
            .and_then(|t| t.parse::<f64>().ok());
        if let Some(us) = us {
            per.entry(method).or_default().push(us / 1000.0);
        }
    }
    table.push_str("the plugin's own time per call, median ms:");
    for (method, v) in &per {
        if !matches!(
            *method,
            "CreateNetwork" | "DeleteNetwork" | "GetCapabilities"
        ) {
            table.push_str(&format!(" {method} {:.2};", quantile(v, 0.5)));
        }
    }
    table.push('\n');
    eprintln!("{table}");
    sb.docker_ok(&["network", "rm", "dockerbr", "brnet"]);
}
