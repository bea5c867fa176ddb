//! Commands run in the calling thread's namespaces, for setting up a
//! topology and reading the kernel back.

use std::process::{Child, Command};

use crate::text;

/// Run `program ARGS` and return stdout; panics with stderr on failure.
#[track_caller]
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Run `ip ARGS` and return stdout; panics with stderr on failure.
#[track_caller]
pub fn ip(args: &[&str]) -> String {
    run("ip", args)
}

/// `ip -j ARGS`, parsed.
#[track_caller]
pub fn ip_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    serde_json::from_str(&ip(&all)).expect("ip -j prints JSON")
}

/// The link names of the calling thread's namespace, sorted.
pub fn link_names() -> Vec<String> {
    let mut names: Vec<String> = ip_json(&["link", "show"])
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Run a shell command; panic with its output if it fails. Returns stdout.
#[track_caller]
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed ({}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Run a shell command; its stdout if it succeeds.
pub fn try_sh(cmd: &str) -> Option<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    out.status.success().then(|| text(&out.stdout))
}

/// `cmd` in the named namespace `ns` (`ip netns exec`), or as it is when
/// `ns` is empty (the sandbox itself).
pub fn in_ns(ns: &str, cmd: &str) -> String {
    if ns.is_empty() {
        cmd.to_owned()
    } else {
        format!("ip netns exec {ns} {cmd}")
    }
}

/// Processes a test started (listeners); killed by handle when dropped.
#[derive(Debug, Default)]
pub struct Procs(Vec<Child>);

impl Procs {
    /// Keep `c` until the end of the test.
    pub fn add(&mut self, c: Child) {
        self.0.push(c);
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `nft -j list ruleset`, normalised (see [`normalise`]).
pub fn ruleset_json() -> serde_json::Value {
    normalise(&sh("nft -j list ruleset"))
}

/// `nft -j list table FAMILY NAME`, normalised.
pub fn table_json(family: &str, name: &str) -> serde_json::Value {
    normalise(&sh(&format!("nft -j list table {family} {name}")))
}

/// `nft -j` output made comparable: handles dropped, set elements sorted,
/// the metainfo entry dropped.
pub fn normalise(text: &str) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("handle");
                for (k, x) in m.iter_mut() {
                    strip(x);
                    if let (true, serde_json::Value::Array(a)) = (k == "elem", x) {
                        a.sort_by_key(|e| e.to_string());
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(text).expect("nft -j prints JSON");
    strip(&mut v);
    if let Some(a) = v.get_mut("nftables").and_then(|a| a.as_array_mut()) {
        a.retain(|e| e.get("metainfo").is_none());
    }
    v
}

/// `nft list ruleset` as text; panics when nft fails.
#[track_caller]
pub fn nft_ruleset() -> String {
    run("nft", &["list", "ruleset"])
}

/// Run `cmd` with `stdin` written to its standard input and its stdout
/// captured (stderr as the caller set it); its output. Panics when the
/// program does not take all of `stdin`.
#[track_caller]
pub fn feed(cmd: &mut Command, stdin: &[u8]) -> std::process::Output {
    feed_inner(cmd, stdin, false)
}

/// [`feed`], for a program that may exit before reading its input (a
/// usage error): a closed pipe is not an error.
#[track_caller]
pub fn feed_or_early_exit(cmd: &mut Command, stdin: &[u8]) -> std::process::Output {
    feed_inner(cmd, stdin, true)
}

#[track_caller]
fn feed_inner(cmd: &mut Command, stdin: &[u8], early_exit: bool) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe if early_exit => Ok(()),
            _ => Err(e),
        })
        .unwrap_or_else(|e| panic!("write {program}'s stdin: {e}"));
    child.wait_with_output().expect("wait")
}

/// A command's arguments: a list (`&["netns", "add", "c1"]`), or one line
/// split at whitespace (`"network create --subnet 10.1.0.0/24 web"`), for
/// the commands whose arguments hold no space.
pub trait Args {
    /// The arguments, in order.
    fn args(&self) -> Vec<&str>;
}

impl Args for str {
    fn args(&self) -> Vec<&str> {
        self.split_whitespace().collect()
    }
}

impl Args for [&str] {
    fn args(&self) -> Vec<&str> {
        self.to_vec()
    }
}

impl<const N: usize> Args for [&str; N] {
    fn args(&self) -> Vec<&str> {
        self.to_vec()
    }
}

impl Args for Vec<&str> {
    fn args(&self) -> Vec<&str> {
        self.clone()
    }
}

impl Args for [String] {
    fn args(&self) -> Vec<&str> {
        self.iter().map(String::as_str).collect()
    }
}

impl Args for Vec<String> {
    fn args(&self) -> Vec<&str> {
        self.iter().map(String::as_str).collect()
    }
}
