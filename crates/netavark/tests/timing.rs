//! What the network costs a container, measured (never asserted) in one
//! run: `podman run -d` and `podman rm -f -t 0` of a busybox httpd with one
//! published port, one container at a time, against `--network none`,
//! with Podman's backend being bridge-net through the netavark contract,
//! Debian's netavark, bridge-net as the CNI `bridge`, and the CNI
//! reference plugins. The backends take turns container by container (each
//! in its own sandbox, all alive at once), so drift of the machine's load
//! spreads over all of them. After each `rm` the test waits until the
//! container's veth is really gone from the host (brnet-netavark leaves its
//! deletion to a background child): that time is in the "rm, veth gone"
//! column and in the totals. Medians with the 10th–90th percentiles; the
//! network's cost is the median of the per-round differences from
//! `--network none`'s run + rm. Then this crate's binary alone: setup +
//! teardown per container, process start included, teardown counted until
//! the veths are gone. The table goes to stderr (`cargo test -p
//! brnet-netavark --test timing -- --nocapture`).
//!
//! What can fail: any `podman` call or backend call that errors, and a
//! veth still there 10 s after its container's removal. Never a time.
//!
//! `BRNET_PODMAN_ROUNDS` sets the containers per backend (default 5,
//! enough to exercise the path in `cargo test`; `cargo xtask bench` uses
//! 40). `BRNET_NETAVARK_BIN` and `BRNET_CNI_BIN` measure other builds (say,
//! `--release` ones) instead of the test's own.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use brnet_testkit::podman::{Backend, IMAGE, Sandbox};

/// Containers per call of the binaries alone.
const CONTAINERS: u16 = 10;

fn rounds() -> usize {
    std::env::var("BRNET_PODMAN_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(5)
}

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

use brnet_testkit::stats::quantile;

/// Median (10th–90th percentile).
fn cell(v: &[f64]) -> String {
    format!(
        "{:.1} ({:.1}–{:.1})",
        quantile(v, 0.5),
        quantile(v, 0.1),
        quantile(v, 0.9)
    )
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Wait until the sandbox's host has at most `base` veths; the wall-clock
/// nanoseconds when it saw that, or `None` when it did at its first look
/// (gone before `rm` returned). Fails the test after 10 s.
fn veths_gone(sb: &Sandbox, base: usize) -> Option<u128> {
    let out = sb.ok(&format!(
        r#"n() {{ ip -o link show type veth | wc -l; }}
        if [ "$(n)" -le {base} ]; then echo gone; exit 0; fi
        s=$(date +%s)
        until [ "$(n)" -le {base} ]; do
          [ $(( $(date +%s) - s )) -lt 10 ] || {{ echo "a veth is still there 10 s after its container's removal" >&2; ip -o link show type veth >&2; exit 1; }}
        done
        date +%s%N"#
    ));
    out.trim().parse().ok()
}

fn veth_count(sb: &Sandbox) -> usize {
    sb.ok("ip -o link show type veth | wc -l")
        .trim()
        .parse()
        .unwrap()
}

/// One backend's sandbox and samples (milliseconds per container).
struct Row {
    label: &'static str,
    sb: Sandbox,
    network: &'static str,
    run: Vec<f64>,
    rm: Vec<f64>,
    gone: Vec<f64>,
    total: Vec<f64>,
}

impl Row {
    fn new(label: &'static str, backend: Backend) -> Row {
        let none = matches!(backend, Backend::None);
        let sb = Sandbox::new(backend);
        let network = if none {
            "none"
        } else {
            sb.podman_ok(&["network", "create", "--subnet", "10.89.0.0/24", "timenet"]);
            "timenet"
        };
        // One untimed container first: the bridge, the firewall's table
        // and the image's layers come before.
        sb.podman_ok(&["run", "--rm", "--network", network, IMAGE, "true"]);
        Row {
            label,
            sb,
            network,
            run: Vec::new(),
            rm: Vec::new(),
            gone: Vec::new(),
            total: Vec::new(),
        }
    }

    /// `podman run -d` then `podman rm -f -t 0` of one container, and the
    /// wait for its veth to be gone.
    fn round(&mut self, i: usize) {
        let none = self.network == "none";
        let name = format!("t{i}");
        let port = format!("{}:80", 8100 + i % 1000);
        let base = veth_count(&self.sb);
        let mut args = vec!["run", "-d", "--name", &name, "--network", self.network];
        if !none {
            args.extend(["-p", &port]);
        }
        args.extend([IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"]);
        let t = Instant::now();
        self.sb.podman_ok(&args);
        let run = t.elapsed().as_secs_f64() * 1000.0;
        let started = now_ns();
        let t = Instant::now();
        self.sb.podman_ok(&["rm", "-f", "-t", "0", &name]);
        let rm = t.elapsed().as_secs_f64() * 1000.0;
        let gone = match veths_gone(&self.sb, base) {
            Some(at) => (at.saturating_sub(started) as f64 / 1e6).max(rm),
            None => rm,
        };
        self.run.push(run);
        self.rm.push(rm);
        self.gone.push(gone);
        self.total.push(run + gone);
    }
}

#[test]
fn network_share_per_container() {
    if !brnet_testkit::privileged_test() {
        return;
    }
    let mut rows = vec![
        Row::new("--network none", Backend::None),
        Row::new(
            "bridge-net (netavark contract)",
            Backend::Netavark(Some(ours())),
        ),
        Row::new("Debian netavark 1.4", Backend::Netavark(None)),
    ];
    match cni() {
        Some(p) => rows.push(Row::new("bridge-net (CNI bridge)", Backend::Cni(Some(p)))),
        None => eprintln!("brnet-cni not built beside brnet-netavark: its row is left out"),
    }
    rows.push(Row::new("CNI reference plugins", Backend::Cni(None)));
    let n = rounds();
    for i in 0..n {
        for r in &mut rows {
            r.round(i);
        }
    }
    let none = rows[0].total.clone();
    let none_median = quantile(&none, 0.5);
    eprintln!(
        "\nper container, median (10th–90th percentile) of {n} per backend, the backends taking turns, ms;\n\
         \"rm, veth gone\": from the start of podman rm until the container's veth is gone from the host;\n\
         network: the per-round difference from --network none's run + rm (veth gone), median (10th–90th percentile); share: its median over the row's"
    );
    eprintln!(
        "{:<31} {:>22} {:>22} {:>22} {:>22} {:>24} {:>6}",
        "backend",
        "podman run -d",
        "podman rm -f -t 0",
        "rm, veth gone",
        "run + rm (veth gone)",
        "network",
        "share"
    );
    for r in &rows {
        let extra: Vec<f64> = r.total.iter().zip(&none).map(|(t, z)| t - z).collect();
        let (net, share) = if r.network == "none" {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                cell(&extra),
                format!(
                    "{:.0} %",
                    100.0 * quantile(&extra, 0.5) / quantile(&r.total, 0.5)
                ),
            )
        };
        eprintln!(
            "{:<31} {:>22} {:>22} {:>22} {:>22} {:>24} {:>6}",
            r.label,
            cell(&r.run),
            cell(&r.rm),
            cell(&r.gone),
            cell(&r.total),
            net,
            share
        );
    }
    eprintln!(
        "noise: --network none's run + rm alone spans {:.1}–{:.1} ms (10th–90th percentile) around {none_median:.1}",
        quantile(&none, 0.1),
        quantile(&none, 0.9)
    );
    for (name, bin) in [
        ("brnet-netavark", ours().display().to_string()),
        ("Debian netavark", "/usr/lib/podman/netavark".to_owned()),
    ] {
        let (setup, teardown, gone) = direct(&bin);
        eprintln!(
            "{name} alone, mean of {CONTAINERS}: setup {setup:.1} ms + teardown {teardown:.1} ms (veths gone: {gone:.1} ms) = {:.1} ms per container (process start included)",
            setup + gone
        );
    }
    let mut plugins = vec![("CNI reference bridge", "/usr/lib/cni/bridge".to_owned())];
    if let Some(p) = cni() {
        plugins.insert(0, ("brnet-cni", p.display().to_string()));
    }
    for (name, bin) in plugins {
        let (add, del, gone) = direct_cni(&bin);
        eprintln!(
            "{name} alone, mean of {CONTAINERS}: ADD {add:.1} ms + DEL {del:.1} ms (veths gone: {gone:.1} ms) = {:.1} ms per container (process start included)",
            add + gone
        );
    }
}

/// Mean milliseconds of a netavark-contract binary's setup and teardown
/// alone (ours, or Debian's netavark with its aardvark-dns), from a shell
/// loop inside a sandbox (one fork and exec per call, as Podman's), for
/// 10 containers (ids, addresses and ports of their own) on one network;
/// and of the teardown until the veths are gone (the namespaces stay).
fn direct(bin: &str) -> (f64, f64, f64) {
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
        {wait}
        c=$(date +%s%N)
        echo $((a - m)) $((b - a)) $((c - a))"#,
        wait = WAIT_VETHS,
        bin = bin,
        last = CONTAINERS - 1,
    );
    per_container_ms(&sb.ok(&script))
}

/// Mean milliseconds of a CNI `bridge` plugin's ADD and DEL alone (ours,
/// or the reference one with host-local), for 10 containers, from a shell
/// loop inside a sandbox, with Podman's conflist entry (0.4.0); and of DEL
/// until the veths are gone.
fn direct_cni(bin: &str) -> (f64, f64, f64) {
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
        {wait}
        c=$(date +%s%N)
        echo $((a - m)) $((b - a)) $((c - a))"#,
        wait = WAIT_VETHS,
        last = CONTAINERS - 1,
    );
    per_container_ms(&sb.ok(&script))
}

/// Shell: wait (10 s at most, else fail) until the sandbox has no veth.
const WAIT_VETHS: &str = r#"s=$(date +%s)
        until [ "$(ip -o link show type veth | wc -l)" -eq 0 ]; do
          [ $(( $(date +%s) - s )) -lt 10 ] || { echo "veths still there 10 s after their teardown" >&2; exit 1; }
        done"#;

/// The three nanosecond totals a timing script prints, as milliseconds per
/// container.
fn per_container_ms(out: &str) -> (f64, f64, f64) {
    let mut it = out.split_whitespace().filter_map(|n| n.parse::<f64>().ok());
    let n = f64::from(CONTAINERS) * 1e6;
    let mut next = || it.next().unwrap_or_default() / n;
    (next(), next(), next())
}
