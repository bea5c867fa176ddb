//! What the network costs a container, measured (never asserted) in one
//! run: `podman run -d` and `podman rm -f -t 0` of 10 containers with one
//! published port each, against `--network none`, with Podman's backend
//! being bridge-net through the netavark contract, Debian's netavark,
//! bridge-net as the CNI `bridge`, and the CNI reference plugins. Then
//! this crate's binary alone: setup + teardown per container, process
//! start included. The table goes to stderr (`cargo test -p brnet-netavark
//! --test timing -- --nocapture`).
//!
//! `BRNET_NETAVARK_BIN` and `BRNET_CNI_BIN` measure other builds (say,
//! `--release` ones) instead of the test's own.

use std::path::PathBuf;
use std::time::Instant;

use brnet_testkit::podman::{Backend, IMAGE, Sandbox};

const CONTAINERS: u16 = 10;

fn ours() -> PathBuf {
    std::env::var_os("BRNET_NETAVARK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_brnet-netavark").into())
}

/// brnet-cni, built beside us by `cargo test --workspace`.
fn cni() -> Option<PathBuf> {
    std::env::var_os("BRNET_CNI_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            Some(PathBuf::from(env!("CARGO_BIN_EXE_brnet-netavark")).with_file_name("brnet-cni"))
        })
        .filter(|p| p.is_file())
}

/// Mean milliseconds of `podman run -d` and of `podman rm -f -t 0`.
fn measure(backend: Backend) -> (f64, f64) {
    let none = matches!(backend, Backend::None);
    let sb = Sandbox::new(backend);
    let network = if none {
        "none".to_owned()
    } else {
        sb.podman_ok(&["network", "create", "--subnet", "10.89.0.0/24", "timenet"]);
        "timenet".to_owned()
    };
    let mut run = 0.0;
    for i in 0..CONTAINERS {
        let name = format!("t{i}");
        let port = format!("{}:80", 8100 + i);
        let mut args = vec!["run", "-d", "--name", &name, "--network", &network];
        if !none {
            args.extend(["-p", &port]);
        }
        args.extend([IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"]);
        let t = Instant::now();
        sb.podman_ok(&args);
        run += t.elapsed().as_secs_f64() * 1000.0;
    }
    let mut rm = 0.0;
    for i in 0..CONTAINERS {
        let t = Instant::now();
        sb.podman_ok(&["rm", "-f", "-t", "0", &format!("t{i}")]);
        rm += t.elapsed().as_secs_f64() * 1000.0;
    }
    let n = f64::from(CONTAINERS);
    (run / n, rm / n)
}

/// Mean milliseconds of a netavark-contract binary's setup and teardown
/// alone (ours, or Debian's netavark with its aardvark-dns), from a shell
/// loop inside a sandbox (one fork and exec per call, as Podman's), for
/// 10 containers (ids, addresses and ports of their own) on one network.
fn direct(bin: &str) -> (f64, f64) {
    let sb = Sandbox::new(Backend::None);
    let stdin = include_str!("fixtures/setup-stdin.json");
    sb.write("/run/pm/opts.json", stdin);
    let script = format!(
        r#"set -e
        B="{bin} --aardvark-binary=/usr/lib/podman/aardvark-dns"
        mkdir -p /run/pm/cfg
        for i in $(seq 0 {last}); do ip netns add t$i; done
        s=$(date +%s%N)
        for i in $(seq 0 {last}); do
          sed "s/10.89.0.2/10.89.0.$((i + 2))/; s/8080/$((8100 + i))/; s/a41daa4827375537/a41daa482737553$i/" /run/pm/opts.json > /run/pm/o$i.json
        done
        m=$(date +%s%N)
        for i in $(seq 0 {last}); do $B --config /run/pm/cfg setup /run/netns/t$i < /run/pm/o$i.json > /run/pm/r$i.json || {{ cat /run/pm/r$i.json; exit 1; }}; done
        a=$(date +%s%N)
        for i in $(seq 0 {last}); do $B --config /run/pm/cfg teardown /run/netns/t$i < /run/pm/o$i.json > /run/pm/r$i.json || {{ cat /run/pm/r$i.json; exit 1; }}; done
        b=$(date +%s%N)
        echo $((a - m)) $((b - a))"#,
        bin = bin,
        last = CONTAINERS - 1,
    );
    per_container_ms(&sb.ok(&script))
}

/// Mean milliseconds of a CNI `bridge` plugin's ADD and DEL alone (ours,
/// or the reference one with host-local), for 10 containers, from a shell
/// loop inside a sandbox, with Podman's conflist entry (0.4.0).
fn direct_cni(bin: &str) -> (f64, f64) {
    let sb = Sandbox::new(Backend::None);
    let conf = r#"{"cniVersion":"0.4.0","name":"timenet","type":"bridge","bridge":"cni-podman1","isGateway":true,"ipMasq":true,"hairpinMode":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.89.0.0/24","gateway":"10.89.0.1"}]],"routes":[{"dst":"0.0.0.0/0"}]}}"#;
    sb.write("/run/pm/conf.json", conf);
    let script = format!(
        r#"set -e
        export CNI_PATH=/usr/lib/cni CNI_IFNAME=eth0 CNI_ARGS="IgnoreUnknown=1"
        for i in $(seq 0 {last}); do ip netns add t$i; done
        m=$(date +%s%N)
        for i in $(seq 0 {last}); do CNI_COMMAND=ADD CNI_CONTAINERID=c$i CNI_NETNS=/run/netns/t$i {bin} < /run/pm/conf.json > /run/pm/r$i.json || {{ cat /run/pm/r$i.json; exit 1; }}; done
        a=$(date +%s%N)
        for i in $(seq 0 {last}); do CNI_COMMAND=DEL CNI_CONTAINERID=c$i CNI_NETNS=/run/netns/t$i {bin} < /run/pm/conf.json > /run/pm/r$i.json || {{ cat /run/pm/r$i.json; exit 1; }}; done
        b=$(date +%s%N)
        echo $((a - m)) $((b - a))"#,
        last = CONTAINERS - 1,
    );
    per_container_ms(&sb.ok(&script))
}

#[test]
fn network_share_per_container() {
    if !brnet_testkit::privileged_test() {
        return;
    }
    let mut rows = vec![
        ("--network none", measure(Backend::None)),
        (
            "bridge-net (netavark contract)",
            measure(Backend::Netavark(Some(ours()))),
        ),
        ("Debian netavark 1.4", measure(Backend::Netavark(None))),
    ];
    match cni() {
        Some(p) => rows.push(("bridge-net (CNI bridge)", measure(Backend::Cni(Some(p))))),
        None => eprintln!("brnet-cni not built beside brnet-netavark: its row is left out"),
    }
    rows.push(("CNI reference plugins", measure(Backend::Cni(None))));
    let (run0, rm0) = rows[0].1;
    eprintln!(
        "\nper container, mean of {CONTAINERS} (ms): podman run -d, podman rm -f -t 0, network's cost over none (run + rm), its share of run + rm"
    );
    for (name, (run, rm)) in &rows {
        let extra = (run - run0) + (rm - rm0);
        eprintln!(
            "{name:<32} run {run:7.1}  rm {rm:7.1}  network {extra:7.1}  share {:5.1}%",
            100.0 * extra / (run + rm)
        );
    }
    for (name, bin) in [
        ("brnet-netavark", ours().display().to_string()),
        ("Debian netavark", "/usr/lib/podman/netavark".to_owned()),
    ] {
        let (setup, teardown) = direct(&bin);
        eprintln!(
            "{name} alone: setup {setup:.1} ms + teardown {teardown:.1} ms = {:.1} ms per container (process start included)",
            setup + teardown
        );
    }
    let mut plugins = vec![("CNI reference bridge", "/usr/lib/cni/bridge".to_owned())];
    if let Some(p) = cni() {
        plugins.insert(0, ("brnet-cni", p.display().to_string()));
    }
    for (name, bin) in plugins {
        let (add, del) = direct_cni(&bin);
        eprintln!(
            "{name} alone: ADD {add:.1} ms + DEL {del:.1} ms = {:.1} ms per container (process start included)",
            add + del
        );
    }
}

/// The two nanosecond totals a timing script prints, as milliseconds per
/// container.
fn per_container_ms(out: &str) -> (f64, f64) {
    let mut it = out.split_whitespace().filter_map(|n| n.parse::<f64>().ok());
    let n = f64::from(CONTAINERS) * 1e6;
    (
        it.next().unwrap_or_default() / n,
        it.next().unwrap_or_default() / n,
    )
}
