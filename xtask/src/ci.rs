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
