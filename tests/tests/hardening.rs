//! Hardening: a table of bad inputs, crashes in the middle of an operation,
//! a flushed ruleset, and four processes sharing one state directory.

use std::net::SocketAddr;
use std::process::Command;

use bridge_net::{BridgeNet, ConnectOptions, MacPolicy, NetnsRef, NetworkOptions};
use brnet_netns::{Netns, NetnsDir};
use brnet_tests::*;

/// Links, rules and the state file's networks and endpoints.
fn observable(state: &std::path::Path) -> String {
    let mut b = BridgeNet::open(state).unwrap();
    let nets = serde_json::to_string(&b.networks().unwrap()).unwrap();
    let eps = serde_json::to_string(&b.endpoints(None).unwrap()).unwrap();
    format!("{:?}\n{}\n{nets}\n{eps}", link_names(), nft_ruleset())
}

/// One attempt at a bad input: the error's text, or what it (wrongly)
/// produced.
type Attempt = Box<dyn Fn(&mut BridgeNet) -> Result<String, String>>;

fn opts_with(f: impl FnOnce(&mut NetworkOptions)) -> NetworkOptions {
    let mut o = NetworkOptions::default();
    f(&mut o);
    o
}

#[test]
fn a_table_of_bad_inputs_each_a_typed_error_naming_the_value() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        b.create_network("good", &o).unwrap();
        NetnsDir::default().create("c1").unwrap();
        b.connect("good", &"c1".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        std::fs::write("/run/regular-file", b"").unwrap();
        let before = observable(dir.path());

        type Case = (&'static str, Attempt);
        let create = |name: &'static str, o: NetworkOptions| -> Attempt {
            Box::new(move |b: &mut BridgeNet| {
                b.create_network(name, &o)
                    .map(|n| n.name)
                    .map_err(|e| e.to_string())
            })
        };
        let cidr = |s: &'static str| -> Attempt {
            Box::new(move |_| {
                bridge_net::parse_cidr("--subnet", s)
                    .map(|n| n.to_string())
                    .map_err(|e| e.to_string())
            })
        };
        let port = |s: &'static str| -> Attempt {
            Box::new(move |_| {
                s.parse::<bridge_net::PortSpec>()
                    .map(|p| p.to_string())
                    .map_err(|e| e.to_string())
            })
        };
        let ifname = |s: &'static str| -> Attempt {
            Box::new(move |b| {
                let n = brnet_netlink::IfName::new(s).map_err(|e| e.to_string())?;
                b.connect(
                    "good",
                    &"c1".parse().unwrap(),
                    &ConnectOptions {
                        ifname: Some(n),
                        ..Default::default()
                    },
                )
                .map(|e| e.ifname)
                .map_err(|e| e.to_string())
            })
        };
        let mac = |s: &'static str| -> Attempt {
            Box::new(move |b| {
                let m = s.parse().map_err(|e: brnet_netlink::Error| e.to_string())?;
                NetnsDir::default().create("macns").ok();
                b.connect(
                    "good",
                    &"macns".parse().unwrap(),
                    &ConnectOptions {
                        mac: MacPolicy::Fixed(m),
                        ..Default::default()
                    },
                )
                .map(|e| e.mac.to_string())
                .map_err(|e| e.to_string())
            })
        };
        let netname = |s: String| -> Attempt {
            Box::new(move |b| {
                b.create_network(&s, &NetworkOptions::default())
                    .map(|n| n.name)
                    .map_err(|e| e.to_string())
            })
        };
        let opt = |k: &'static str, v: &'static str| -> Attempt {
            Box::new(move |_| {
                NetworkOptions::default()
                    .set_option(k, v)
                    .map(|()| String::new())
                    .map_err(|e| e.to_string())
            })
        };
        let long_name = "n".repeat(300);
        let cases: Vec<(&str, Case)> = vec![
            ("172.20.0.0/33", ("172.20.0.0/33", cidr("172.20.0.0/33"))),
            ("300.1.1.1/16", ("300.1.1.1/16", cidr("300.1.1.1/16"))),
            ("172.20.0.1/16", ("172.20.0.1/16", cidr("172.20.0.1/16"))),
            ("::/0", ("::/0", cidr("::/0"))),
            ("0.0.0.0/0", ("0.0.0.0/0", cidr("0.0.0.0/0"))),
            ("not-a-cidr", ("not-a-cidr", cidr("not-a-cidr"))),
            (
                "gateway outside",
                (
                    "172.30.0.1",
                    create(
                        "g1",
                        opts_with(|o| {
                            o.ipv4.subnet = Some("172.31.0.0/16".parse().unwrap());
                            o.ipv4.gateway = Some("172.30.0.1".parse().unwrap());
                        }),
                    ),
                ),
            ),
            (
                "ip-range outside",
                (
                    "10.0.0.0/24",
                    create(
                        "g2",
                        opts_with(|o| {
                            o.ipv4.subnet = Some("172.31.0.0/16".parse().unwrap());
                            o.ipv4.ip_range = Some("10.0.0.0/24".parse().unwrap());
                        }),
                    ),
                ),
            ),
            (
                "aux == gateway",
                (
                    "172.31.0.1",
                    create(
                        "g3",
                        opts_with(|o| {
                            o.ipv4.subnet = Some("172.31.0.0/16".parse().unwrap());
                            o.ipv4.gateway = Some("172.31.0.1".parse().unwrap());
                            o.ipv4
                                .aux_addresses
                                .insert("router".into(), "172.31.0.1".parse().unwrap());
                        }),
                    ),
                ),
            ),
            (
                "aux outside",
                (
                    "10.1.1.1",
                    create(
                        "g4",
                        opts_with(|o| {
                            o.ipv4.subnet = Some("172.31.0.0/16".parse().unwrap());
                            o.ipv4
                                .aux_addresses
                                .insert("x".into(), "10.1.1.1".parse().unwrap());
                        }),
                    ),
                ),
            ),
            (
                "v4 subnet, v6 gateway",
                (
                    "fd00::1",
                    create(
                        "g5",
                        opts_with(|o| {
                            o.ipv4.subnet = Some("172.31.0.0/16".parse().unwrap());
                            o.ipv4.gateway = Some("fd00::1".parse().unwrap());
                        }),
                    ),
                ),
            ),
            (
                "overlapping subnet",
                (
                    "172.20.128.0/17",
                    create(
                        "g6",
                        opts_with(|o| {
                            o.ipv4.subnet = Some("172.20.128.0/17".parse().unwrap());
                        }),
                    ),
                ),
            ),
            (
                "ipv6 without subnet",
                (
                    "--ipv6",
                    create(
                        "g7",
                        opts_with(|o| {
                            o.ipv6 = Some(Default::default());
                        }),
                    ),
                ),
            ),
            (
                "duplicate network",
                ("good", create("good", NetworkOptions::default())),
            ),
            (
                "bad bridge name",
                (
                    "a-very-long-bridge",
                    create(
                        "g8",
                        opts_with(|o| {
                            o.bridge_name = Some("a-very-long-bridge".into());
                        }),
                    ),
                ),
            ),
            (
                "ifname 16 bytes",
                ("0123456789abcdef", ifname("0123456789abcdef")),
            ),
            ("ifname with /", ("a/b", ifname("a/b"))),
            ("ifname empty", ("\"\"", ifname(""))),
            ("ifname .", ("\".\"", ifname("."))),
            ("port 0:80", ("0:80", port("0:80"))),
            ("port 8080:0", ("8080:0", port("8080:0"))),
            ("port 70000:80", ("70000:80", port("70000:80"))),
            ("port 80-90:80", ("80-90:80", port("80-90:80"))),
            ("port 8080:80/icmp", ("8080:80/icmp", port("8080:80/icmp"))),
            ("port :::", (":::", port(":::"))),
            ("port 90-80:80-90", ("90-80:80-90", port("90-80:80-90"))),
            ("port bad address", ("1.2.3:80:80", port("1.2.3:80:80"))),
            (
                "network name with spaces",
                ("my net", netname("my net".into())),
            ),
            (
                "network name of 300 chars",
                ("nnnnnnnn", netname(long_name.clone())),
            ),
            ("network name empty", ("\"\"", netname(String::new()))),
            (
                "mac multicast",
                ("ff:ff:ff:ff:ff:ff", mac("ff:ff:ff:ff:ff:ff")),
            ),
            ("mac zero", ("00:00:00:00:00:00", mac("00:00:00:00:00:00"))),
            ("mac garbage", ("02:42:zz", mac("02:42:zz"))),
            (
                "unknown -o",
                ("com.example.nope", opt("com.example.nope", "1")),
            ),
            ("-o icc maybe", ("maybe", opt(bridge_net::OPT_ICC, "maybe"))),
            (
                "-o mtu huge",
                ("99999999", opt(bridge_net::OPT_MTU, "99999999")),
            ),
            (
                "unknown network",
                (
                    "nope",
                    Box::new(|b: &mut BridgeNet| {
                        b.connect("nope", &"c1".parse().unwrap(), &ConnectOptions::default())
                            .map(|e| e.id)
                            .map_err(|e| e.to_string())
                    }),
                ),
            ),
            (
                "netns missing",
                (
                    "ghost",
                    Box::new(|b: &mut BridgeNet| {
                        b.connect(
                            "good",
                            &"ghost".parse().unwrap(),
                            &ConnectOptions::default(),
                        )
                        .map(|e| e.id)
                        .map_err(|e| e.to_string())
                    }),
                ),
            ),
            (
                "netns is a regular file",
                (
                    "/run/regular-file",
                    Box::new(|b: &mut BridgeNet| {
                        b.connect(
                            "good",
                            &NetnsRef::Path("/run/regular-file".into()),
                            &ConnectOptions::default(),
                        )
                        .map(|e| e.id)
                        .map_err(|e| e.to_string())
                    }),
                ),
            ),
            (
                "netns name with /..",
                (
                    "..",
                    Box::new(|_b: &mut BridgeNet| {
                        "..".parse::<NetnsRef>()
                            .map(|r| r.to_string())
                            .map_err(|e| e.to_string())
                    }),
                ),
            ),
            (
                "fixed ip outside subnet",
                (
                    "10.9.9.9",
                    Box::new(|b: &mut BridgeNet| {
                        NetnsDir::default().create("ipns").ok();
                        b.connect(
                            "good",
                            &"ipns".parse().unwrap(),
                            &ConnectOptions {
                                ipv4: Some("10.9.9.9".parse().unwrap()),
                                ..Default::default()
                            },
                        )
                        .map(|e| e.id)
                        .map_err(|e| e.to_string())
                    }),
                ),
            ),
            (
                "fixed ip taken",
                (
                    "172.20.0.2",
                    Box::new(|b: &mut BridgeNet| {
                        NetnsDir::default().create("ipns").ok();
                        b.connect(
                            "good",
                            &"ipns".parse().unwrap(),
                            &ConnectOptions {
                                ipv4: Some("172.20.0.2".parse().unwrap()),
                                ..Default::default()
                            },
                        )
                        .map(|e| e.id)
                        .map_err(|e| e.to_string())
                    }),
                ),
            ),
            (
                "fixed ip = gateway",
                (
                    "172.20.0.1",
                    Box::new(|b: &mut BridgeNet| {
                        NetnsDir::default().create("ipns").ok();
                        b.connect(
                            "good",
                            &"ipns".parse().unwrap(),
                            &ConnectOptions {
                                ipv4: Some("172.20.0.1".parse().unwrap()),
                                ..Default::default()
                            },
                        )
                        .map(|e| e.id)
                        .map_err(|e| e.to_string())
                    }),
                ),
            ),
            (
                "ports on an internal network",
                (
                    "internal",
                    Box::new(|b: &mut BridgeNet| {
                        let _ = b.create_network(
                            "inner",
                            &opts_with(|o| {
                                o.ipv4.subnet = Some("172.29.0.0/16".parse().unwrap());
                                o.internal = true;
                            }),
                        );
                        NetnsDir::default().create("ipns").ok();
                        let r = b
                            .connect(
                                "inner",
                                &"ipns".parse().unwrap(),
                                &ConnectOptions {
                                    ports: vec!["8080:80".parse().unwrap()],
                                    ..Default::default()
                                },
                            )
                            .map(|e| e.id)
                            .map_err(|e| e.to_string());
                        b.remove_network("inner").unwrap();
                        r
                    }),
                ),
            ),
            (
                "remove a network in use",
                (
                    "c1 (eth0)",
                    Box::new(|b: &mut BridgeNet| {
                        b.remove_network("good")
                            .map(|r| r.to_string())
                            .map_err(|e| e.to_string())
                    }),
                ),
            ),
        ];
        assert!(cases.len() >= 40, "{} cases", cases.len());
        for (what, (names, case)) in &cases {
            let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut b)));
            let got = got.unwrap_or_else(|_| panic!("{what}: panicked"));
            let err = got.expect_err(what);
            assert!(!err.contains('\n'), "{what}: one line: {err}");
            assert!(err.contains(names), "{what}: {err:?} should name {names:?}");
        }
        for n in ["macns", "ipns"] {
            let _ = NetnsDir::default().delete(n);
        }
        assert_eq!(observable(dir.path()), before, "the sandbox is unchanged");
        println!("{} bad inputs, each a typed one-line error", cases.len());
    });
}

#[test]
fn bad_state_files_are_typed_errors() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let path = dir.path().join("state.json");
        {
            let mut b = BridgeNet::open(dir.path()).unwrap();
            b.create_network("n", &NetworkOptions::default()).unwrap();
        }
        let good = std::fs::read(&path).unwrap();
        let links = link_names();
        for (what, bytes, expect) in [
            ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
            (
                "garbage",
                b"\x00\xffnot json at all\n".to_vec(),
                "not a bridge-net state header",
            ),
            (
                "future",
                b"{\"brnet_state\":99}\n".to_vec(),
                "newer bridge-net",
            ),
            (
                "bad journal line",
                [good.clone(), b"{\"op\":\"warp\"}\n".to_vec()].concat(),
                "line 2",
            ),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            let err = BridgeNet::open(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains(expect) && err.contains("state.json"),
                "{what}: {err}"
            );
            assert_eq!(link_names(), links, "{what}");
        }
        // A torn last record (a crash mid-write) is not an error.
        std::fs::write(&path, [good.clone(), b"{\"op\":\"disc".to_vec()].concat()).unwrap();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        assert_eq!(b.networks().unwrap().len(), 1);
    });
}

/// Worker for the crash and concurrency tests: runs only when started by
/// them (inside their sandbox).
#[test]
fn hardening_worker() {
    let Ok(job) = std::env::var("BRNET_WORKER") else {
        return;
    };
    let state = std::env::var("BRNET_WORKER_STATE").unwrap();
    let mut b = BridgeNet::open(&state).unwrap();
    match job.as_str() {
        "connect-one" => {
            let _ = b.connect(
                "n",
                &"victim".parse().unwrap(),
                &ConnectOptions {
                    ports: vec!["8080:80".parse().unwrap()],
                    ..Default::default()
                },
            );
        }
        "create-one" => {
            let _ = b.create_network("crashy", &NetworkOptions::default());
        }
        "connect-many" => {
            let first: usize = std::env::var("BRNET_WORKER_FIRST")
                .unwrap()
                .parse()
                .unwrap();
            for k in first..first + 100 {
                let name = format!("w{k}");
                NetnsDir::default().create(&name).unwrap();
                b.connect("n", &name.parse().unwrap(), &ConnectOptions::default())
                    .unwrap();
            }
        }
        other => panic!("unknown job {other}"),
    }
}

fn worker(job: &str, state: &std::path::Path, env: &[(&str, String)]) -> std::process::Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "hardening_worker",
        "--test-threads=1",
        "--nocapture",
    ])
    .env("BRNET_WORKER", job)
    .env("BRNET_WORKER_STATE", state);
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

#[test]
fn a_crash_in_the_middle_of_connect_or_create_is_cleaned_on_reopen() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("172.20.0.0/16".parse().unwrap());
        b.create_network("n", &o).unwrap();
        drop(b);
        let links_before = link_names();
        let rules_before = nft_ruleset();
        NetnsDir::default().create("victim").unwrap();
        // A worker doing `job` killed (SIGKILL) at `step`.
        let crash = |job: &str, step: &str| {
            let status = worker(job, dir.path(), &[brnet_testkit::fault::crash_at(step)])
                .wait()
                .unwrap();
            assert!(!status.success(), "the worker was killed at {step}");
        };
        for step in ["connect.veth", "connect.firewall", "connect.record"] {
            crash("connect-one", step);
            assert_ne!(
                link_names(),
                links_before,
                "the orphan veth exists after a crash at {step}"
            );
            let mut b = BridgeNet::open(dir.path()).unwrap();
            assert_eq!(
                link_names(),
                links_before,
                "reopen removed the orphan ({step})"
            );
            assert_eq!(nft_ruleset(), rules_before, "no rule left behind ({step})");
            assert_eq!(b.network("n").unwrap().endpoints, 0);
        }
        // The address was never kept: the next connect gets .2 and works.
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let e = b
            .connect("n", &"victim".parse().unwrap(), &ConnectOptions::default())
            .unwrap();
        assert_eq!(e.ipv4.unwrap().to_string(), "172.20.0.2/16");
        let victim = Netns::open_path("/run/netns/victim").unwrap();
        serve(
            listen_in(&victim, "172.20.0.2:80".parse().unwrap()),
            "alive",
        );
        assert!(fetch(None, "172.20.0.2:80".parse().unwrap(), LONG).is_ok());
        drop(b);

        // A crash while creating a network (its bridge made; its rules
        // installed; not yet recorded) leaves nothing once reopened: no
        // bridge, no chain, no element.
        let links_before = link_names();
        let rules_before = nft_ruleset();
        for step in ["create.bridge", "create.firewall", "create.record"] {
            crash("create-one", step);
            assert_ne!(
                link_names(),
                links_before,
                "the orphan bridge exists after a crash at {step}"
            );
            if step != "create.bridge" {
                assert_ne!(
                    nft_ruleset(),
                    rules_before,
                    "the orphan rules exist after a crash at {step}"
                );
            }
            let mut b = BridgeNet::open(dir.path()).unwrap();
            assert_eq!(
                link_names(),
                links_before,
                "reopen removed the orphan ({step})"
            );
            assert_eq!(nft_ruleset(), rules_before, "no rule left behind ({step})");
            assert!(b.network("crashy").is_err());
            assert_eq!(b.networks().unwrap().len(), 1);
        }
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let n = b
            .create_network("crashy", &NetworkOptions::default())
            .unwrap();
        assert!(link_names().contains(&n.bridge));
    });
}

#[test]
fn reconcile_restores_a_flushed_ruleset_and_traffic_works_again() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let outside = make_outside("outside", "198.51.100.1/24", "198.51.100.2/24");
        NetnsDir::default().create("web").unwrap();
        let web = Netns::open_path("/run/netns/web").unwrap();
        b.connect(
            "bridge",
            &"web".parse().unwrap(),
            &ConnectOptions {
                ports: vec!["8080:80".parse().unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
        serve(listen_in(&web, "172.17.0.2:80".parse().unwrap()), "web");
        let published: SocketAddr = "198.51.100.1:8080".parse().unwrap();
        assert!(fetch(Some(&outside), published, LONG).is_ok());
        let rules = nft_ruleset();
        assert!(
            Command::new("nft")
                .args(["flush", "ruleset"])
                .status()
                .unwrap()
                .success()
        );
        assert!(
            !can_connect(Some(&outside), published, SHORT),
            "no DNAT without rules"
        );
        let report = b.reconcile().unwrap();
        assert_eq!(report.firewall_restored, vec!["bridge".to_string()]);
        assert_eq!(nft_ruleset(), rules);
        assert_eq!(
            fetch(Some(&outside), published, LONG).unwrap(),
            "web 198.51.100.2\n"
        );
        // A deleted bridge comes back with its port.
        brnet_netlink::Socket::new()
            .unwrap()
            .delete_link(brnet_netlink::IfName::new("docker0").unwrap())
            .unwrap();
        let report = b.reconcile().unwrap();
        assert_eq!(report.bridges_recreated, vec!["docker0".to_string()]);
        assert_eq!(report.ports_reattached.len(), 1);
        assert_eq!(
            fetch(Some(&outside), published, LONG).unwrap(),
            "web 198.51.100.2\n"
        );
        assert!(b.reconcile().unwrap().is_clean());
    });
}

#[test]
fn four_processes_connect_a_hundred_each() {
    brnet_testkit::sandboxed(|| {
        let dir = state_dir();
        let mut b = BridgeNet::open(dir.path()).unwrap();
        let mut o = NetworkOptions::default();
        o.ipv4.subnet = Some("10.55.0.0/16".parse().unwrap());
        b.create_network("n", &o).unwrap();
        let kids: Vec<_> = (0..4)
            .map(|i| {
                worker(
                    "connect-many",
                    dir.path(),
                    &[("BRNET_WORKER_FIRST", (i * 100).to_string())],
                )
            })
            .collect();
        let ok: Vec<bool> = kids
            .into_iter()
            .map(|mut k| k.wait().unwrap().success())
            .collect();
        if ok.iter().any(|o| !o) {
            let _ = std::fs::copy(
                dir.path().join("state.json"),
                "/tmp/brnet-failed-state.json",
            );
        }
        assert!(ok.iter().all(|o| *o), "{ok:?}");
        let eps = b.endpoints(Some("n")).unwrap();
        assert_eq!(eps.len(), 400);
        let mut addrs: Vec<_> = eps.iter().map(|e| e.ipv4.unwrap().addr()).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 400, "no duplicate address");
        for e in &eps {
            let ns = Netns::open_path(&e.netns).unwrap();
            let a = SocketAddr::new(e.ipv4.unwrap().addr().into(), 80);
            let l = listen_in(&ns, a);
            assert!(can_connect(None, a, LONG), "{a} reachable");
            drop(l);
        }
    });
}
