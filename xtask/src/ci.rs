//! `cargo xtask ci`: everything CI checks, in order, stopping at the first
//! failure.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("==> {name}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args);
    c
}

/// Run the gate. `skip_tests` leaves out the test run (for `.ci/run`,
/// which runs the README's test command itself just before).
pub fn run(skip_tests: bool) -> Result<(), String> {
    step(
        "cargo fmt --all --check",
        &mut cargo(&["fmt", "--all", "--check"]),
    )?;
    step(
        "cargo clippy --workspace --all-targets -- -D warnings",
        &mut cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step(
        "RUSTDOCFLAGS=-D warnings cargo doc --workspace --no-deps",
        cargo(&["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    rust_version()?;
    published_crates()?;
    // Every published crate packages and builds from its .crate alone
    // (licenses, README, path dependencies with versions).
    let packages = forget_unpacked_packages();
    let published = step(
        "cargo publish --dry-run --workspace",
        cargo(&["publish", "--dry-run", "--workspace", "--quiet"])
            .arg("--target-dir")
            .arg(&packages),
    );
    let _ = std::fs::remove_dir_all(&packages);
    published?;
    if !skip_tests {
        step(
            "cargo test --workspace",
            &mut cargo(&["test", "--workspace"]),
        )?;
    }
    step(
        "cargo bench --workspace --no-run",
        &mut cargo(&["bench", "--workspace", "--no-run"]),
    )?;
    let have_deny = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have_deny {
        step(
            "cargo deny check licenses bans sources",
            &mut cargo(&["deny", "check", "licenses", "bans", "sources"]),
        )?;
    } else {
        eprintln!("==> cargo deny: not installed (cargo install --locked cargo-deny); skipped");
    }
    eprintln!("==> cargo xtask cycles");
    crate::cycles::run()?;
    eprintln!("==> cargo xtask graph --check");
    crate::graph::check_readme()?;
    eprintln!("==> ci: all green");
    Ok(())
}

/// The workspace's `rust-version` is the toolchain this gate builds with
/// (major.minor): the declared minimum is one that is built somewhere.
fn rust_version() -> Result<(), String> {
    eprintln!("==> rust-version = rustc's version");
    let manifest = std::fs::read_to_string(root().join("Cargo.toml"))
        .map_err(|e| format!("read Cargo.toml: {e}"))?;
    let declared = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .ok_or("Cargo.toml: no rust-version in [workspace.package]")?;
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("--version")
        .output()
        .map_err(|e| format!("{rustc} --version: cannot start: {e}"))?;
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)" -> "1.95"
    let built = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.rsplit_once('.'))
        .map(|(mm, _)| mm.to_owned())
        .ok_or_else(|| format!("{rustc} --version: unexpected output {version:?}"))?;
    if built == declared {
        Ok(())
    } else {
        Err(format!(
            "rust-version is {declared} but CI builds with rustc {built}: set rust-version = \"{built}\" in Cargo.toml (or build with the declared toolchain)"
        ))
    }
}

/// `cargo publish --workspace` unpacks the packages it has just made (from
/// its temporary local registry, standing in for crates.io) into
/// `$CARGO_HOME/registry/src/-HASH/`, and never again while
/// `NAME-VERSION` is there; and it builds them as registry crates, which
/// are never rebuilt for a change of source: a second run would build the
/// first run's sources. Those `-HASH` directories (a registry without a
/// host) only ever hold such local packages: forget them, and build in a
/// target directory of its own (returned, emptied), removed after.
fn forget_unpacked_packages() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(src) = home.map(|h| h.join("registry").join("src")) {
        for dir in std::fs::read_dir(src).into_iter().flatten().flatten() {
            if dir.file_name().to_string_lossy().starts_with('-') {
                let _ = std::fs::remove_dir_all(dir.path());
            }
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("publish-dry-run");
    let _ = std::fs::remove_dir_all(&target);
    target
}

/// Every crate under `crates/` that is published (no `publish = false`)
/// carries what crates.io and docs.rs users need: both license files, a
/// README that is its crate docs (so its example is a doctest), docs.rs
/// built for Linux only, and a clear compile error elsewhere (brnet-ipam
/// alone is portable).
fn published_crates() -> Result<(), String> {
    eprintln!("==> published crates: licenses, README as docs, docs.rs, Linux only");
    let mut problems = Vec::new();
    let dirs = std::fs::read_dir(root().join("crates")).map_err(|e| format!("crates/: {e}"))?;
    let mut dirs: Vec<PathBuf> = dirs.flatten().map(|d| d.path()).collect();
    dirs.sort();
    for dir in dirs {
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        if manifest.lines().any(|l| l.trim() == "publish = false") {
            continue;
        }
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut missing = Vec::new();
        for file in ["LICENSE-MIT", "LICENSE-APACHE", "README.md"] {
            if !dir.join(file).is_file() {
                missing.push(file.to_owned());
            }
        }
        if !manifest.contains("[package.metadata.docs.rs]")
            || !manifest.contains("targets = [\"x86_64-unknown-linux-gnu\"]")
        {
            missing
                .push("[package.metadata.docs.rs] targets = [\"x86_64-unknown-linux-gnu\"]".into());
        }
        // The library's and the program's root files.
        let root_file: String = ["src/lib.rs", "src/main.rs"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .collect();
        if !root_file.contains("#![doc = include_str!(\"../README.md\")]") {
            missing.push("#![doc = include_str!(\"../README.md\")]".into());
        }
        if name != "ipam" && !root_file.contains("#[cfg(not(target_os = \"linux\"))]") {
            missing.push("compile_error! on other systems".into());
        }
        if !missing.is_empty() {
            problems.push(format!("crates/{name}: no {}", missing.join(", no ")));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "published crates without what crates.io and docs.rs users need (or set publish = false):\n  {}",
            problems.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_published_crate_is_ready_for_crates_io() {
        if let Err(e) = super::published_crates() {
            panic!("{e}");
        }
    }
}
