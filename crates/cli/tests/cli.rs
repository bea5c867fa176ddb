//! The `brnet` binary, driven as a user drives it, each test in its own
//! throwaway sandbox (`brnet_netns::isolated`: its own network namespace
//! and private `/run`, inherited by the child processes) with its own
//! state directory. Nothing here touches the machine's own network.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};

use brnet_netns::NetnsDir;
use brnet_testkit::cmd::{Args, ip_json, link_names, nft_ruleset, run};
use brnet_testkit::traffic::{LONG, listen_in_named, serve};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brnet");

/// One sandbox's view: its state directory and the commands that read it.
struct Sandbox {
    state: tempfile::TempDir,
}

/// What must not change when a command fails.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    links: Vec<String>,
    addresses: Vec<String>,
    ruleset: String,
    networks: String,
    namespaces: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            state: tempfile::tempdir().expect("temp state dir"),
        }
    }

    /// Run `brnet --state-dir STATE ARGS`.
    fn run(&self, args: &(impl Args + ?Sized)) -> Output {
        let args = args.args();
        Command::new(BIN)
            .arg("--state-dir")
            .arg(self.state.path())
            .args(&args)
            .env_remove("BRNET_STATE_DIR")
            .output()
            .expect("run brnet")
    }

    /// Run a command that must succeed quietly; its stdout.
    fn ok(&self, args: &(impl Args + ?Sized)) -> String {
        let args = args.args();
        let out = self.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "brnet {args:?} failed ({}): {stderr}",
            out.status
        );
        assert!(
            stderr.is_empty(),
            "brnet {args:?} wrote to stderr: {stderr}"
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Run a command that must fail with `code` and exactly one line
    /// `brnet: <what>: <why>` on stderr; that line.
    fn fails(&self, args: &(impl Args + ?Sized), code: i32) -> String {
        let args = args.args();
        let out = self.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "brnet {args:?}: exit status; stderr: {stderr}"
        );
        one_error_line(&stderr, &args)
    }

    /// Everything a failed command must leave as it was.
    fn snapshot(&self) -> Snapshot {
        let addrs = ip_json(&["addr", "show"]);
        let mut addresses: Vec<String> = addrs
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| {
                let name = l["ifname"].as_str().unwrap_or("?").to_owned();
                l["addr_info"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |a| format!("{name} {}/{}", a["local"], a["prefixlen"]))
            })
            .collect();
        addresses.sort();
        Snapshot {
            links: link_names(),
            addresses,
            ruleset: nft_ruleset(),
            networks: self.ok(&["network", "ls", "--format", "json"]),
            namespaces: self.ok(&["netns", "ls"]),
        }
    }

    /// The networks as `network ls --format json` lists them (one object
    /// per line, Docker's keys), each with the facts of its `network
    /// inspect`: name, subnet (the first), bridge, endpoints.
    fn networks(&self) -> Vec<Value> {
        let out = self.ok(&["network", "ls", "--format", "json"]);
        out.lines()
            .map(|l| {
                let row: Value = serde_json::from_str(l).expect("a JSON object per line");
                let name = row["Name"].as_str().expect("Name").to_owned();
                let doc = &json(&self.ok(&["network", "inspect", &name]))[0];
                serde_json::json!({
                    "name": name,
                    "subnet": doc["IPAM"]["Config"][0]["Subnet"],
                    "bridge": doc["Options"]["com.docker.network.bridge.name"],
                    "endpoints": doc["Containers"].as_object().map_or(0, |c| c.len()),
                })
            })
            .collect()
    }
}

/// Run `f` with a fresh sandbox inside a fresh throwaway namespace.
fn sandboxed(f: impl FnOnce(&Sandbox) + Send) {
    brnet_netns::isolated(|| f(&Sandbox::new())).expect("make sandbox");
}

/// `stderr` is exactly one line, `brnet: <what>: <why>`; that line.
fn one_error_line(stderr: &str, args: &[&str]) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "brnet {args:?}: not one line: {stderr:?}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    let line = lines[0];
    assert!(line.starts_with("brnet: "), "{line}");
    assert!(
        line["brnet: ".len()..].contains(": "),
        "no <what>: <why> in {line}"
    );
    line.to_owned()
}

/// Connect to `addr` (from the calling thread's namespace) and read what
/// the server says.
fn fetch(addr: &str) -> std::io::Result<String> {
    let addr: SocketAddr = addr.parse().expect("socket address");
    brnet_testkit::traffic::fetch(None, addr, LONG)
}

/// The value of `key` in `network connect`'s text output.
fn field<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key))
        .filter(|rest| rest.starts_with("  "))
        .map(str::trim)
        .collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------------
// Without root: help and usage errors never reach the kernel.

#[test]
fn help_on_every_command() {
    let commands: &[&[&str]] = &[
        &[],
        &["network"],
        &["network", "create"],
        &["network", "ls"],
        &["network", "inspect"],
        &["network", "rm"],
        &["network", "prune"],
        &["network", "connect"],
        &["network", "disconnect"],
        &["network", "exists"],
        &["ps"],
        &["port"],
        &["netns"],
        &["netns", "add"],
        &["netns", "del"],
        &["netns", "ls"],
    ];
    for path in commands {
        let out = Command::new(BIN)
            .args(*path)
            .arg("--help")
            .output()
            .expect("run brnet");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{path:?} --help: {}", out.status);
        assert!(out.stderr.is_empty(), "{path:?} --help wrote to stderr");
        let usage = format!("Usage: brnet {}", path.join(" "));
        assert!(stdout.contains(usage.trim_end()), "{path:?}: {stdout}");
    }
    let top = String::from_utf8(Command::new(BIN).arg("--help").output().unwrap().stdout).unwrap();
    for needle in ["--state-dir", "BRNET_STATE_DIR", "--firewall", "Exit codes"] {
        assert!(top.contains(needle), "{needle} in {top}");
    }
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("brnet "));
}

#[test]
fn usage_errors_are_one_line_exit_2() {
    for (args, needle) in [
        (&["network", "create"][..], "brnet: network create: "),
        (&["network", "ls", "--bogus"], "'--bogus'"),
        (
            &["network", "ls", "--format", "xml"],
            "brnet: network ls: invalid value 'xml'",
        ),
        (&["--firewall", "pf", "network", "ls"], "'pf'"),
        (&["network", "connect", "web"], "<NETNS>"),
        (&["network", "inspect"], "<NETWORK>"),
        (&["network"], "brnet: network: "),
        (&["bogus"], "'bogus'"),
        // clap's "did you mean", on the one line.
        (
            &["network", "creat", "x"],
            "unrecognized subcommand 'creat'; tip: a similar subcommand exists: 'create'",
        ),
        (
            &["network", "ls", "--quite"],
            "tip: a similar argument exists: '--quiet'",
        ),
        (
            &["network", "ls", "--filter", "nmae=x"],
            "no filter \"nmae\"",
        ),
        (&["network", "ls", "--format", "{{.Name"], "unclosed action"),
        (&[], "brnet: usage: "),
    ] {
        let out = Command::new(BIN).args(args).output().expect("run brnet");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
        let line = one_error_line(&String::from_utf8_lossy(&out.stderr), args);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
}

// ---------------------------------------------------------------------
// In the sandbox.

#[test]
fn create_connect_inspect_disconnect_rm_leaves_nothing() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["netns", "add", "c1"]);
        let before = s.snapshot();
        assert_eq!(s.networks(), Vec::<Value>::new());

        let id = s.ok(
            "network create --subnet 172.20.0.0/16 --gateway 172.20.0.254 --ip-range \
             172.20.1.0/24 --aux-address printer=172.20.1.0 --label team=net -o \
             com.docker.network.driver.mtu=1400 customNetwork",
        );
        let id = id.trim();
        assert_eq!(id.len(), 64, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

        // ls: docker's table, 12 hex of the id.
        let table = s.ok(&["network", "ls"]);
        let mut lines = table.lines();
        assert_eq!(
            lines.next(),
            Some("NETWORK ID     NAME            DRIVER    SCOPE")
        );
        assert_eq!(
            lines
                .next()
                .map(|l| l.split_whitespace().collect::<Vec<_>>()),
            Some(vec![&id[..12], "customNetwork", "bridge", "local"])
        );
        assert_eq!(lines.next(), None);
        assert_eq!(s.ok(&["network", "ls", "-q"]), format!("{}\n", &id[..12]));
        let nets = s.networks();
        assert_eq!(nets[0]["name"], "customNetwork");
        assert_eq!(nets[0]["subnet"], "172.20.0.0/16");
        let bridge = nets[0]["bridge"].as_str().unwrap().to_owned();
        assert_eq!(bridge, format!("br-{}", &id[..12]));

        // connect: what the runtime needs.
        let text = s.ok("network connect -p 8080:80 --alias www customNetwork c1");
        assert_eq!(field(&text, "interface"), ["eth0"]);
        assert_eq!(field(&text, "address"), ["172.20.1.1/16"], "{text}");
        assert_eq!(field(&text, "gateway"), ["172.20.0.254"]);
        assert_eq!(field(&text, "mac"), ["02:42:ac:14:01:01"]);
        assert_eq!(field(&text, "port"), ["0.0.0.0:8080->80/tcp"]);
        assert_eq!(field(&text, "alias"), ["www"]);
        let veth = field(&text, "host veth")[0].to_owned();
        assert!(link_names().contains(&veth), "{veth} on the host side");
        assert!(link_names().contains(&bridge));

        // inspect: docker's shape.
        let doc = json(&s.ok(&["network", "inspect", "customNetwork"]));
        let doc = &doc.as_array().expect("an array")[0];
        assert_eq!(doc["Name"], "customNetwork");
        assert_eq!(doc["Id"], id);
        assert_eq!(doc["Driver"], "bridge");
        let ipam = &doc["IPAM"]["Config"][0];
        assert_eq!(ipam["Subnet"], "172.20.0.0/16");
        assert_eq!(ipam["Gateway"], "172.20.0.254");
        assert_eq!(ipam["IPRange"], "172.20.1.0/24");
        assert_eq!(ipam["AuxiliaryAddresses"]["printer"], "172.20.1.0");
        assert_eq!(doc["Labels"]["team"], "net");
        assert_eq!(doc["Options"]["com.docker.network.driver.mtu"], "1400");
        let containers = doc["Containers"].as_object().expect("containers");
        assert_eq!(containers.len(), 1);
        let c = containers.values().next().unwrap();
        assert_eq!(c["Name"], "c1");
        assert_eq!(c["IPv4Address"], "172.20.1.1/16");
        assert_eq!(c["MacAddress"], "02:42:ac:14:01:01");
        // By id prefix too.
        let by_id = json(&s.ok(&["network", "inspect", &id[..12]]));
        assert_eq!(by_id[0]["Name"], "customNetwork");

        // disconnect, twice: the second has nothing to do.
        assert_eq!(s.ok(&["network", "disconnect", "customNetwork", "c1"]), "");
        assert_eq!(s.ok(&["network", "disconnect", "customNetwork", "c1"]), "");
        assert!(!link_names().contains(&veth));

        assert_eq!(s.ok(&["network", "rm", "customNetwork"]), "customNetwork\n");
        assert_eq!(s.snapshot(), before);
        assert_eq!(s.networks(), Vec::<Value>::new());
        assert_eq!(nft_ruleset(), "");
    });
}

#[test]
fn traffic_reaches_a_connected_namespace() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["network", "create", "--subnet", "172.20.0.0/16", "web"]);
        s.ok(&["netns", "add", "web1"]);
        let ep = json(&s.ok(&[
            "network", "connect", "--format", "json", "-p", "8080:80", "web", "web1",
        ]));
        assert_eq!(ep["ipv4"], "172.20.0.2/16");
        assert_eq!(ep["gateway4"], "172.20.0.1");
        assert_eq!(ep["ifname"], "eth0");
        assert_eq!(ep["mac"], "02:42:ac:14:00:02");
        assert_eq!(ep["ports"][0], "8080:172.20.0.2:80/tcp");

        let ns = NetnsDir::default().open("web1").expect("open web1");
        let listener = ns
            .run(|| TcpListener::bind("0.0.0.0:80"))
            .expect("enter web1")
            .expect("bind :80 in web1");
        serve(listener, "hello from web1");

        // From the sandbox's own side, over the bridge.
        let got = fetch("172.20.0.2:80").expect("reach 172.20.0.2:80");
        assert_eq!(got, "hello from web1 172.20.0.1\n");

        // From an outside namespace, through the published port.
        s.ok(&["netns", "add", "outside"]);
        for line in [
            "link add o-out type veth peer name eth0 netns outside",
            "addr add 198.51.100.1/24 dev o-out",
            "link set o-out up",
            "-n outside addr add 198.51.100.2/24 dev eth0",
            "-n outside link set eth0 up",
            "-n outside route add default via 198.51.100.1",
        ] {
            run("ip", &line.args());
        }
        let outside = NetnsDir::default().open("outside").expect("open outside");
        let got = outside
            .run(|| fetch("198.51.100.1:8080"))
            .expect("enter outside")
            .expect("reach the published port 8080");
        assert_eq!(got, "hello from web1 198.51.100.2\n");
    });
}

#[test]
fn inspect_dot_draws_the_topology() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["network", "create", "--subnet", "172.20.0.0/16", "web"]);
        s.ok(&["network", "create", "--subnet", "172.21.0.0/16", "back"]);
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["netns", "add", "c2"]);
        let c1 = s.ok(&["network", "connect", "-p", "8080:80", "web", "c1"]);
        s.ok(&["network", "connect", "back", "c1"]);
        s.ok(&["network", "connect", "back", "c2"]);
        let dot = s.ok(&["network", "inspect", "--format", "dot", "web", "back"]);
        assert!(dot.starts_with("digraph"), "{dot}");
        let veth = field(&c1, "host veth")[0];
        for needle in [
            "172.20.0.1/16",
            "172.21.0.1/16",
            "172.20.0.2",
            veth,
            "8080",
            "eth1",
        ] {
            assert!(dot.contains(needle), "{needle} in {dot}");
        }
        assert_eq!(dot.matches('{').count(), dot.matches('}').count());
        if Command::new("dot").arg("-V").output().is_ok() {
            let mut child = Command::new("dot")
                .arg("-Tsvg")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run dot");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(dot.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "dot rejects it: {}\n{dot}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
        }
        // An unknown network in the list is an error and nothing printed.
        let out = s.run(&["network", "inspect", "--format", "dot", "web", "nope"]);
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stdout.is_empty());
    });
}

#[test]
fn bad_input_fails_in_one_line_and_changes_nothing() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["network", "create", "--subnet", "172.20.0.0/16", "web"]);
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["netns", "add", "c2"]);
        s.ok(&["network", "connect", "-p", "8080:80", "web", "c1"]);
        // exit code | arguments | what the one line on stderr says
        let cases = r#"
            # bad CIDRs
            2 | network create --subnet 172.20.0.0/33 x | brnet: network create x: invalid option --subnet="172.20.0.0/33"
            2 | network create --subnet 300.1.1.1/16 x | "300.1.1.1/16"
            2 | network create --subnet 10.9.0.1/16 x | host bits are set (did you mean 10.9.0.0/16?)
            2 | network create --ip-range 10.9.0.0/24 x | no IPv4 --subnet
            2 | network create --subnet 10.9.0.0/16 --gateway 10.8.0.1 x | not inside subnet 10.9.0.0/16
            # names, duplicates, overlaps
            4 | network create --subnet 10.9.0.0/16 web | brnet: network create web: network "web" already exists
            4 | network create --subnet 172.20.128.0/17 other | subnet 172.20.128.0/17 overlaps 172.20.0.0/16 of network "web"
            # -o
            2 | network create -o com.example.nope=1 x | unknown option
            2 | network create -o com.docker.network.driver.mtu=10 x | between 68 and 65535
            2 | network create -o novalue x | KEY=VALUE
            # the kernel refuses: rolled back, exit 1
            1 | network create --subnet 10.9.0.0/16 -o com.docker.network.bridge.name=lo x | lo exists and is not a bridge
            # connect
            4 | network connect -p 8080:80 web c2 | port 8080/tcp on 0.0.0.0 is already in use
            3 | network connect web c9 | brnet: network connect web c9: network namespace "c9" not found (no /run/netns/c9)
            3 | network connect nope c2 | brnet: network connect nope c2: network "nope" not found
            2 | network connect -p 99999:80 web c2 | invalid port spec "99999:80"
            2 | network connect -p abc web c2 | invalid port spec "abc"
            2 | network connect -p 80/xyz web c2 | invalid port spec "80/xyz"
            2 | network connect --mac zz:42:ac:14:00:09 web c2 | invalid option --mac="zz:42:ac:14:00:09"
            2 | network connect --mac 01:00:5e:00:00:01 web c2 | multicast
            2 | network connect --ip nope web c2 | not an IPv4 address
            2 | network connect --ip 10.0.0.5 web c2 | address 10.0.0.5 is outside 172.20.0.0/16
            4 | network connect --ip 172.20.0.2 web c2 | 172.20.0.2 is already allocated
            2 | network connect --ip 172.20.0.1 web c2 | is the gateway
            2 | network connect --ip6 fd00::5 web c2 | no IPv6 subnet
            4 | network connect web c1 | already connected
            # rm, inspect, disconnect
            3 | network rm nope | brnet: network rm nope: network "nope" not found
            4 | network rm web | has active endpoints: c1 (eth0)
            3 | network inspect nope | brnet: network inspect nope: network "nope" not found
            3 | network disconnect nope c1 | network "nope" not found
            # netns
            4 | netns add c1 | already exists
            2 | netns add bad/name | invalid network namespace name
            3 | netns del nope | network namespace "nope" not found
            # usage
            2 | --firewall pf network ls | invalid value 'pf'
        "#;
        let check = |args: &[&str], code: i32, needle: &str| {
            let before = s.snapshot();
            let line = s.fails(args, code);
            assert!(
                line.contains(needle),
                "brnet {args:?}:\n  got  {line}\n  want …{needle}…"
            );
            assert_eq!(s.snapshot(), before, "brnet {args:?} changed the sandbox");
        };
        for case in cases.lines().map(str::trim) {
            if case.is_empty() || case.starts_with('#') {
                continue;
            }
            let [code, args, needle] = case.splitn(3, " | ").collect::<Vec<_>>()[..] else {
                panic!("not `code | args | needle`: {case}");
            };
            check(&args.args(), code.parse().unwrap(), needle);
        }
        // The arguments the table cannot hold: a space, a path of the run.
        check(
            &["network", "create", "bad name"],
            2,
            "invalid network name",
        );
        let not_a_netns = s.state.path().to_str().unwrap().to_owned();
        check(
            &["network", "connect", "web", &not_a_netns],
            2,
            "is not a network namespace",
        );
        // What failed did not break what was there.
        let nets = s.networks();
        assert_eq!(nets.len(), 1);
        assert_eq!(nets[0]["endpoints"], 1);
    });
}

#[test]
fn rm_several_removes_what_it_can() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["network", "create", "a"]);
        s.ok(&["network", "create", "b"]);
        let out = s.run(&["network", "rm", "a", "nope", "b"]);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\n");
        let line = one_error_line(&String::from_utf8_lossy(&out.stderr), &[]);
        assert_eq!(line, "brnet: network rm nope: network \"nope\" not found");
        assert_eq!(s.networks(), Vec::<Value>::new());
    });
}

#[test]
fn inspect_several_prints_what_it_finds() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["network", "create", "a"]);
        s.ok(&["network", "create", "b"]);
        let docs = json(&s.ok(&["network", "inspect", "a", "b"]));
        let names: Vec<&str> = docs
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        // Default pools, in order, as docker's.
        assert_eq!(docs[0]["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
        assert_eq!(docs[1]["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16");
        let out = s.run(&["network", "inspect", "a", "nope"]);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(json(&String::from_utf8_lossy(&out.stdout))[0]["Name"], "a");
        one_error_line(&String::from_utf8_lossy(&out.stderr), &[]);
    });
}

#[test]
fn prune_removes_networks_without_endpoints() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["network", "create", "used"]);
        s.ok(&["network", "create", "idle1"]);
        s.ok(&["network", "create", "idle2"]);
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["network", "connect", "used", "c1"]);
        assert_eq!(s.ok(&["network", "prune"]), "idle1\nidle2\n");
        let names: Vec<Value> = s.networks().iter().map(|n| n["name"].clone()).collect();
        assert_eq!(names, ["used"]);
        assert_eq!(s.ok(&["network", "prune", "-f"]), "");
        s.ok(&["network", "disconnect", "used", "c1"]);
        assert_eq!(s.ok(&["network", "prune"]), "used\n");
        assert_eq!(nft_ruleset(), "");
    });
}

#[test]
fn netns_add_ls_del() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        assert_eq!(s.ok(&["netns", "ls"]), "");
        assert_eq!(s.ok(&["netns", "add", "red"]), "");
        s.ok(&["netns", "add", "blue"]);
        assert_eq!(s.ok(&["netns", "ls"]), "blue\nred\n");
        // iproute2 sees ours.
        assert!(run("ip", &["netns", "list"]).contains("red"));
        run("ip", &["netns", "exec", "red", "true"]);
        s.ok(&["netns", "del", "red"]);
        assert_eq!(s.ok(&["netns", "list"]), "blue\n");
        assert!(!Path::new("/run/netns/red").exists());
    });
}

#[test]
fn disconnect_after_the_namespace_is_gone() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["network", "create", "web"]);
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["network", "connect", "web", "c1"]);
        let bridge = s.networks()[0]["bridge"].as_str().unwrap().to_owned();
        // A runtime deletes the namespace first (the veth dies with it,
        // when the kernel gets round to it: not asserted here)...
        s.ok(&["netns", "del", "c1"]);
        // ...then disconnects: nothing left to do but the bookkeeping.
        s.ok(&["network", "disconnect", "web", "c1"]);
        assert_eq!(s.networks()[0]["endpoints"], 0);
        s.ok(&["network", "rm", "web"]);
        assert!(!link_names().contains(&bridge));
        assert_eq!(s.networks(), Vec::<Value>::new());
        assert_eq!(nft_ruleset(), "");
    });
}

/// Several containers leave in one call (their veths deleted in one
/// kernel request): `disconnect NETWORK NETNS...` from one network,
/// `disconnect --all NETNS...` from every network; a network among
/// `--all`'s operands is refused before anything changes.
#[test]
fn disconnect_many_namespaces_in_one_call() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        let links = link_names();
        s.ok(&["network", "create", "--subnet", "172.30.0.0/16", "web"]);
        s.ok(&["network", "create", "--subnet", "172.29.0.0/16", "back"]);
        let bridges = link_names();
        for c in ["c1", "c2", "c3", "c4"] {
            s.ok(&["netns", "add", c]);
            s.ok(&["network", "connect", "web", c]);
        }
        s.ok(&["network", "connect", "back", "c3"]);
        s.ok(&["network", "connect", "back", "c4"]);
        let ps = || s.ok(&["ps", "--format", "{{.Netns}} {{.Network}}"]);

        s.ok(&["network", "disconnect", "web", "c1", "c2", "c3"]);
        assert_eq!(ps(), "c3 back\nc4 web\nc4 back\n");
        for c in ["c1", "c2"] {
            let left = run("ip", &["-n", c, "-o", "link", "show"]);
            assert_eq!(left.lines().count(), 1, "only lo in {c}: {left}");
        }

        s.fails(&["network", "disconnect", "--all", "web", "c3"], 2);
        assert_eq!(ps(), "c3 back\nc4 web\nc4 back\n", "nothing changed");
        s.ok(&["network", "disconnect", "--all", "c3", "c4", "c1"]);
        assert_eq!(ps(), "");
        assert_eq!(link_names(), bridges, "every veth is gone");
        s.ok(&["network", "rm", "web", "back"]);
        assert_eq!(link_names(), links);
        assert_eq!(nft_ruleset(), "");
    });
}

#[test]
fn dual_stack_with_fixed_addresses() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok("network create --ipv6 --subnet 172.22.0.0/16 --subnet fd00:22::/64 dual");
        s.ok(&["netns", "add", "c1"]);
        let text = s.ok("network connect --ip 172.22.0.10 --ip6 fd00:22::10 --mac \
             02:00:00:00:00:10 --name web --ifname net0 dual c1");
        assert_eq!(field(&text, "container"), ["web"]);
        assert_eq!(field(&text, "interface"), ["net0"]);
        assert_eq!(field(&text, "address"), ["172.22.0.10/16"]);
        assert_eq!(field(&text, "address6"), ["fd00:22::10/64"]);
        assert_eq!(field(&text, "gateway6"), ["fd00:22::1"]);
        assert_eq!(field(&text, "mac"), ["02:00:00:00:00:10"]);
        let doc = json(&s.ok(&["network", "inspect", "dual"]));
        assert_eq!(doc[0]["EnableIPv6"], true);
        assert_eq!(doc[0]["IPAM"]["Config"][1]["Subnet"], "fd00:22::/64");
        let inside = run("ip", &["-n", "c1", "-br", "addr", "show", "net0"]);
        assert!(
            inside.contains("172.22.0.10/16") && inside.contains("fd00:22::10/64"),
            "{inside}"
        );
    });
}

#[test]
fn state_dir_from_the_environment_and_firewall_none() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        let out = Command::new(BIN)
            .args(["--firewall", "none", "network", "create", "quiet"])
            .env("BRNET_STATE_DIR", s.state.path())
            .output()
            .expect("run brnet");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // No firewall: no rules.
        assert_eq!(nft_ruleset(), "");
        assert_eq!(s.networks()[0]["name"], "quiet");
        s.ok(&["--firewall", "none", "network", "rm", "quiet"]);
    });
}

/// `brnet network create --ipv6 --subnet fd00::/64`, no IPv4: the
/// namespace gets an IPv6 address and default route, reaches the gateway
/// and another namespace over IPv6, and its published port answers on
/// the gateway's address and on IPv6 alone.
#[test]
fn ipv6_only_network() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok("network create --ipv6 --subnet fd00:5::/64 v6");
        let doc = json(&s.ok(&["network", "inspect", "v6"]));
        assert_eq!(doc[0]["EnableIPv4"], false);
        assert_eq!(doc[0]["EnableIPv6"], true);
        assert_eq!(doc[0]["IPAM"]["Config"].as_array().unwrap().len(), 1);
        assert_eq!(doc[0]["IPAM"]["Config"][0]["Subnet"], "fd00:5::/64");
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["netns", "add", "c2"]);
        let text = s.ok(&["network", "connect", "-p", "8080:80", "v6", "c1"]);
        assert_eq!(field(&text, "address"), Vec::<&str>::new());
        assert_eq!(field(&text, "address6"), ["fd00:5::2/64"]);
        assert_eq!(field(&text, "gateway6"), ["fd00:5::1"]);
        assert_eq!(field(&text, "port"), ["[::]:8080->80/tcp"]);
        s.ok(&["network", "connect", "v6", "c2"]);
        let route = ip_json(&["-n", "c1", "-6", "route", "show", "default"]);
        assert_eq!(route[0]["gateway"], "fd00:5::1");
        serve(listen_in_named("c1", "[fd00:5::2]:80"), "c1");
        assert_eq!(fetch("[fd00:5::1]:8080").unwrap(), "c1 fd00:5::1\n");
        let from_c2 = run("ip", &"netns exec c2 ping -6 -c1 -W2 fd00:5::2".args());
        assert!(from_c2.contains("1 received"), "{from_c2}");
        // --ipv4=false with an IPv4 subnet is a contradiction.
        let out = s.run("network create --ipv4=false --subnet 10.9.0.0/24 bad");
        assert!(!out.status.success());
    });
}

/// `brnet network create -d macvlan -o parent=IF -o macvlan_mode=bridge`:
/// the namespace gets a macvlan of the parent, on the parent's LAN.
#[test]
fn macvlan_network() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        brnet_testkit::topo::lan("lan0");
        s.ok(
            "network create -d macvlan -o parent=lan0 -o macvlan_mode=bridge --subnet \
             192.168.50.0/24 --gateway 192.168.50.1 mv",
        );
        let ls = s.ok(&["network", "ls"]);
        assert!(
            ls.lines()
                .any(|l| l.contains(" mv ") && l.contains("macvlan")),
            "{ls}"
        );
        let doc = json(&s.ok(&["network", "inspect", "mv"]));
        assert_eq!(doc[0]["Driver"], "macvlan");
        assert_eq!(doc[0]["Options"]["parent"], "lan0");
        s.ok(&["netns", "add", "c1"]);
        let text = s.ok(&["network", "connect", "mv", "c1"]);
        assert_eq!(field(&text, "address"), ["192.168.50.2/24"]);
        assert_eq!(field(&text, "host veth"), Vec::<&str>::new());
        let link = ip_json(&["-n", "c1", "-d", "link", "show", "eth0"]);
        assert_eq!(link[0]["linkinfo"]["info_kind"], "macvlan");
        assert_eq!(link[0]["linkinfo"]["info_data"]["mode"], "bridge");
        let ping = run(
            "ip",
            &["netns", "exec", "c1", "ping", "-c1", "-W2", "192.168.50.1"],
        );
        assert!(ping.contains("1 received"), "{ping}");
        // -p has no meaning there; macvlan options on a bridge neither.
        let out = s.run(&["network", "connect", "-p", "80:80", "mv", "c1"]);
        assert!(!out.status.success());
        let out = s.run(&["network", "create", "-o", "parent=lan0", "br"]);
        let e = one_error_line(&String::from_utf8_lossy(&out.stderr), &[]);
        assert!(e.contains("parent") && e.contains("macvlan"), "{e}");
        s.ok(&["network", "disconnect", "mv", "c1"]);
        s.ok(&["network", "rm", "mv"]);
        assert!(link_names().contains(&"lan0".to_owned()));
    });
}

/// `-o brnet.metric=N` orders the default routes of a namespace on two
/// networks; without it, the first network keeps the only one.
#[test]
fn default_route_metrics() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok("network create --subnet 10.71.0.0/24 -o brnet.metric=200 a");
        s.ok("network create --subnet 10.72.0.0/24 -o brnet.metric=100 b");
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["network", "connect", "a", "c1"]);
        let text = s.ok(&["network", "connect", "b", "c1"]);
        assert_eq!(field(&text, "default route"), ["yes"]);
        let routes = ip_json(&["-n", "c1", "route", "show", "default"]);
        let got: Vec<(String, u64)> = routes
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["gateway"].as_str().unwrap().to_owned(),
                    r["metric"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            got,
            [("10.72.0.1".to_owned(), 100), ("10.71.0.1".to_owned(), 200)]
        );
    });
}

/// A dual-stack network's `-p 8080:80` answers on IPv4 and on IPv6.
#[test]
fn dual_stack_ports_answer_on_both_families() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok("network create --ipv6 --subnet 172.23.0.0/16 --subnet fd00:23::/64 dual");
        s.ok(&["netns", "add", "c1"]);
        let text = s.ok(&["network", "connect", "-p", "8080:80", "dual", "c1"]);
        assert_eq!(
            field(&text, "port"),
            ["0.0.0.0:8080->80/tcp", "[::]:8080->80/tcp"]
        );
        serve(listen_in_named("c1", "[::]:80"), "c1");
        assert_eq!(fetch("172.23.0.1:8080").unwrap(), "c1 ::ffff:172.23.0.1\n");
        assert_eq!(fetch("[fd00:23::1]:8080").unwrap(), "c1 fd00:23::1\n");
    });
}

#[test]
fn docker_formats_filters_and_script_habits() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        let a = s.ok(
            "network create --subnet 172.30.0.0/16 --subnet fd00:30::/64 --ipv6 \
             --label team=blue --label env=ci alpha",
        );
        let a = a.trim();
        s.ok("network create --internal --label team=red beta");
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["network", "connect", "beta", "c1"]);

        // One JSON object per line, Docker's keys, string values.
        let out = s.ok(&["network", "ls", "--format", "json"]);
        let rows: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 2, "{out}");
        let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "CreatedAt",
                "Driver",
                "ID",
                "IPv4",
                "IPv6",
                "Internal",
                "Labels",
                "Name",
                "Scope"
            ]
        );
        assert_eq!(rows[0]["Name"], "alpha");
        assert_eq!(rows[0]["ID"], &a[..12]);
        assert_eq!(rows[0]["IPv6"], "true");
        assert_eq!(rows[0]["Labels"], "env=ci,team=blue");
        assert_eq!(rows[1]["Internal"], "true");
        assert!(
            rows[0]["CreatedAt"]
                .as_str()
                .unwrap()
                .ends_with(" +0000 UTC")
        );
        // '{{json .}}' is the same; fields by name; 'table' adds a header.
        assert_eq!(s.ok(&["network", "ls", "--format", "{{json .}}"]), out);
        assert_eq!(
            s.ok(&["network", "ls", "--format", "{{.Name}}"]),
            "alpha\nbeta\n"
        );
        assert_eq!(
            s.ok(&["network", "ls", "--format", "table {{.Name}}\\t{{.Driver}}"]),
            "NAME      DRIVER\nalpha     bridge\nbeta      bridge\n"
        );
        // Today's table stays.
        assert!(s.ok(&["network", "ls"]).starts_with("NETWORK ID     NAME "));
        assert_eq!(
            s.ok(&["network", "ls", "-q"]),
            format!("{}\n", &a[..12]) + &s.ok(&["network", "ls", "-q", "-f", "name=beta"])
        );
        assert_eq!(
            s.ok(&["network", "ls", "-q", "--no-trunc", "-f", "name=alp"]),
            format!("{a}\n")
        );

        // Filters: one key's values are alternatives, keys must all match.
        let names = |f: &[&str]| {
            let mut args = vec!["network", "ls", "--format", "{{.Name}}"];
            for x in f {
                args.extend(["--filter", x]);
            }
            s.ok(&args).lines().map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(names(&["name=lph"]), ["alpha"]);
        assert_eq!(names(&[&format!("id={}", &a[..6])]), ["alpha"]);
        assert_eq!(names(&["driver=bridge"]), ["alpha", "beta"]);
        assert_eq!(names(&["driver=macvlan"]), Vec::<String>::new());
        assert_eq!(names(&["label=team"]), ["alpha", "beta"]);
        assert_eq!(names(&["label=team=red"]), ["beta"]);
        assert_eq!(names(&["label=team=red", "label=env"]), ["alpha", "beta"]);
        assert_eq!(
            names(&["label=team=red", "name=alpha"]),
            Vec::<String>::new()
        );
        assert_eq!(names(&["type=custom"]), ["alpha", "beta"]);
        assert_eq!(names(&["type=builtin"]), Vec::<String>::new());
        assert_eq!(names(&["dangling=true"]), ["alpha"]);
        assert_eq!(names(&["dangling=false"]), ["beta"]);
        s.fails(&["network", "ls", "-f", "type=other"], 2);

        // inspect with a Go template.
        assert_eq!(
            s.ok(&[
                "network",
                "inspect",
                "--format",
                "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                "alpha"
            ]),
            "172.30.0.0/16 fd00:30::/64 \n"
        );
        assert_eq!(
            s.ok(&[
                "network",
                "inspect",
                "-f",
                "{{.Id}} {{json .Labels}}",
                "alpha",
                "beta"
            ])
            .lines()
            .next()
            .unwrap(),
            format!("{a} {{\"env\":\"ci\",\"team\":\"blue\"}}")
        );
        assert_eq!(
            s.ok(&["network", "inspect", "-f", "{{.Internal}}", "beta"]),
            "true\n"
        );

        // exists: 0 or 1, silently.
        assert_eq!(s.ok(&["network", "exists", "alpha"]), "");
        let out = s.run(&["network", "exists", "nope"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty() && out.stderr.is_empty());

        // create --ignore: the one that is there.
        assert_eq!(s.ok(&["network", "create", "--ignore", "alpha"]).trim(), a);
        s.fails(&["network", "create", "alpha"], 4);
        // rm -f: no error for what is not there.
        assert_eq!(s.ok(&["network", "rm", "-f", "nope"]), "");
        s.fails(&["network", "rm", "nope"], 3);

        // prune's filters.
        s.ok(&["network", "create", "--label", "keep", "gamma"]);
        s.ok(&["network", "disconnect", "beta", "c1"]);
        assert_eq!(s.ok(&["network", "prune", "--filter", "until=1h"]), "");
        assert_eq!(
            s.ok(&["network", "prune", "--filter", "label=team=red"]),
            "beta\n"
        );
        assert_eq!(
            s.ok(&[
                "network",
                "prune",
                "--filter",
                "until=2999-01-01T00:00:00Z",
                "--filter",
                "label!=keep"
            ]),
            "alpha\n"
        );
        s.fails(&["network", "prune", "--filter", "until=soon"], 2);
        assert_eq!(s.ok(&["network", "prune", "-f"]), "gamma\n");
    });
}

#[test]
fn container_side_view_ps_port_disconnect_all() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        s.ok(&["network", "create", "--subnet", "172.31.0.0/16", "web"]);
        s.ok("network create --ipv6 --subnet 10.99.0.0/24 --subnet fd00:99::/64 back");
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["netns", "add", "c2"]);
        s.ok("network connect -p 8080:80 -p 5353:53/udp --container-id runtime-id-1 web c1");
        s.ok(&["network", "connect", "back", "c1"]);
        s.ok(&["network", "connect", "--name", "db", "web", "c2"]);

        let table = s.ok(&["ps"]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        let cols: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            cols.join(" "),
            "NETNS CONTAINER NETWORK INTERFACE ADDRESSES MAC PORTS"
        );
        assert!(
            lines[1].starts_with("c1 ")
                && lines[1].contains(" web ")
                && lines[1].contains(" eth0 ")
                && lines[1].contains(" 172.31.0.2/16 ")
                && lines[1].contains(" 02:42:ac:1f:00:02 ")
                && lines[1].ends_with(" 0.0.0.0:8080->80/tcp, 0.0.0.0:5353->53/udp"),
            "{table}"
        );
        assert!(
            lines[2].contains(" back ")
                && lines[2].contains(" eth1 ")
                && lines[2].contains(" 10.99.0.2/24,fd00:99::2/64 "),
            "{table}"
        );
        assert!(
            lines[3].starts_with("c2 ") && lines[3].contains(" db "),
            "{table}"
        );

        // JSON lines; the runtime's container id on both of c1's endpoints.
        let rows: Vec<Value> = s
            .ok(&["ps", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["ContainerID"], "runtime-id-1");
        assert_eq!(rows[1]["ContainerID"], "runtime-id-1");
        assert_eq!(
            rows[0]["Ports"],
            "0.0.0.0:8080->80/tcp, 0.0.0.0:5353->53/udp"
        );
        assert_eq!(rows[0]["DefaultRoute"], true);
        assert_eq!(rows[1]["IPv6"], "fd00:99::2/64");
        let inspect = json(&s.ok(&["network", "inspect", "web"]));
        assert_eq!(inspect[0]["Containers"]["runtime-id-1"]["Name"], "c1");
        assert_eq!(
            s.ok(&[
                "ps",
                "--network",
                "back",
                "--format",
                "{{.Netns}} {{.IPv4}}"
            ]),
            "c1 10.99.0.2/24\n"
        );
        s.fails(
            &["network", "connect", "--container-id", "a b", "back", "c2"],
            2,
        );

        // docker port.
        assert_eq!(
            s.ok(&["port", "c1"]),
            "80/tcp -> 0.0.0.0:8080\n53/udp -> 0.0.0.0:5353\n"
        );
        assert_eq!(s.ok(&["port", "c1", "80"]), "0.0.0.0:8080\n");
        assert_eq!(s.ok(&["port", "c1", "53/udp"]), "0.0.0.0:5353\n");
        assert_eq!(s.ok(&["port", "c2"]), "");
        s.fails(&["port", "c1", "81"], 2);
        s.fails(&["port", "c1", "80/xyz"], 2);

        // --gw-priority: back (higher than web's 0) takes the default route.
        s.ok(&["network", "disconnect", "back", "c1"]);
        let ep = s.ok(&["network", "connect", "--gw-priority", "5", "back", "c1"]);
        assert_eq!(field(&ep, "default route"), ["yes"], "{ep}");
        assert_eq!(
            s.ok(&[
                "ps",
                "--format",
                "{{.Network}} {{.DefaultRoute}}",
                "--network",
                "web"
            ]),
            "web false\nweb true\n"
        );
        let routes = run("ip", &["-n", "c1", "-4", "route", "show", "default"]);
        assert!(
            routes.starts_with("default via 10.99.0.1 dev eth1"),
            "{routes}"
        );
        s.fails(
            &["network", "connect", "--gw-priority", "x", "back", "c2"],
            2,
        );

        // disconnect --all: c1 leaves both networks, c2 stays.
        s.fails(&["network", "disconnect", "--all", "web", "c1"], 2);
        assert_eq!(s.ok(&["network", "disconnect", "--all", "c1"]), "");
        let ps = s.ok(&["ps", "--format", "{{.Netns}} {{.Network}}"]);
        assert_eq!(ps, "c2 web\n");
        let left = run("ip", &["-n", "c1", "-o", "link", "show"]);
        assert!(!left.contains("eth0") && !left.contains("eth1"), "{left}");
        assert_eq!(s.ok(&["network", "disconnect", "--all", "c1"]), "");
    });
}

#[test]
fn completions_for_each_shell() {
    let script = |shell: &str| {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .expect("run brnet");
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(script("zsh").starts_with("#compdef brnet"));
    assert!(script("fish").contains("complete -c brnet"));
    // bash completes for real: `brnet network l<TAB>` offers ls.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("brnet.bash");
    std::fs::write(&file, script("bash")).unwrap();
    let complete = |words: &str| {
        let prog = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _brnet brnet \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        run("bash", &["-c", &prog])
    };
    let ls = complete("brnet network l");
    assert!(ls.split_whitespace().any(|w| w == "ls"), "{ls}");
    let top = complete("brnet p");
    assert!(
        top.split_whitespace().any(|w| w == "ps") && top.contains("port"),
        "{top}"
    );
    let flags = complete("brnet network ls --fi");
    assert!(flags.contains("--filter"), "{flags}");
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn logs_on_stderr_with_v_or_rust_log_and_the_resolver_log() {
    if !brnet_netns::privileged_test() {
        return;
    }
    sandboxed(|s| {
        let run = |args: &[&str], env: &[(&str, &str)]| {
            let out = Command::new(BIN)
                .arg("--state-dir")
                .arg(s.state.path())
                .args(args)
                .env_remove("RUST_LOG")
                .env_remove("BRNET_LOG_FILE")
                .envs(env.iter().copied())
                .output()
                .expect("run brnet");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            (
                String::from_utf8(out.stdout).unwrap(),
                String::from_utf8(out.stderr).unwrap(),
            )
        };
        // -v: each operation, in its span with its object; stdout as ever.
        let (out, err) = run(&"-v network create --subnet 172.28.0.0/16 logs".args(), &[]);
        assert_eq!(out.trim().len(), 64, "{out}");
        assert!(
            err.contains(
                " INFO create_network{network=\"logs\"}: bridge_net::apply: create_network done"
            ),
            "{err}"
        );
        assert!(!err.contains("DEBUG"), "{err}");
        // -vv: the kernel requests too, timestamped.
        s.ok(&["netns", "add", "c1"]);
        let (_, err) = run(&["-vv", "network", "connect", "logs", "c1"], &[]);
        assert!(
            err.lines()
                .any(|l| l.contains("DEBUG connect{network=\"logs\" netns=c1}:")
                    && l.contains("netlink request RTM_NEWLINK")),
            "{err}"
        );
        assert!(
            err.lines().all(|l| l.starts_with("20") && l.contains('T')),
            "{err}"
        );
        // RUST_LOG alone.
        let (_, err) = run(&["network", "ls"], &[("RUST_LOG", "debug")]);
        assert!(
            err.contains("netlink dump RTM_GETLINK") || err.contains("NFT_MSG_GET"),
            "{err}"
        );
        // To a file instead of stderr.
        let file = s.state.path().join("brnet.log");
        let (_, err) = run(
            &["-v", "network", "disconnect", "logs", "c1"],
            &[("BRNET_LOG_FILE", file.to_str().unwrap())],
        );
        assert_eq!(err, "");
        let logged = std::fs::read_to_string(&file).unwrap();
        assert!(logged.contains("disconnect done"), "{logged}");

        // The resolver's log: in the state directory, timestamped.
        s.ok(&["network", "connect", "logs", "c1"]);
        let log = s.state.path().join("resolver.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.lines()
                .any(|l| l.starts_with("20") && l.contains("INFO") && l.contains("serving /")),
            "{}: {text:?}",
            log.display()
        );
        s.ok(&["network", "disconnect", "logs", "c1"]);
        s.ok(&["network", "rm", "logs"]);
    });
}

/// No run of three words appears twice in `line`.
fn assert_no_repeated_text(line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    for w in words.windows(3) {
        let phrase = w.join(" ");
        assert_eq!(
            line.matches(&phrase).count(),
            1,
            "{phrase:?} twice in {line}"
        );
    }
}

/// An error with a cause (the pool's, under the network's) shows the
/// cause once: in the message, and never again from `source()`.
#[test]
fn an_error_shows_its_cause_once() {
    sandboxed(|s| {
        s.ok(&["network", "create", "--subnet", "10.55.0.0/30", "tiny"]);
        s.ok(&["netns", "add", "c1"]);
        s.ok(&["netns", "add", "c2"]);
        s.ok(&["network", "connect", "tiny", "c1"]);
        let line = s.fails(&["network", "connect", "tiny", "c2"], 1);
        assert!(line.contains("10.55.0.0/30"), "{line}");
        assert_no_repeated_text(&line);
        let line = s.fails(&["network", "connect", "tiny", "nope"], 3);
        assert_no_repeated_text(&line);
    });
}
