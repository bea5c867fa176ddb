//! `cargo xtask man`: `brnet`'s man pages (clap_mangen: one page per
//! command, `brnet-network-ls.1`) and its bash, zsh and fish completions
//! (clap_complete), generated from the command line's own definition.

use std::path::{Path, PathBuf};

/// `cargo xtask man`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Where to write `man1/*.1` and `completions/{brnet.bash,_brnet,brnet.fish}`.
    #[arg(long, value_name = "DIR", default_value = "target/brnet-man")]
    pub out: PathBuf,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("write {}: {e}", path.display()))
}

/// Every page of `cmd` and its subcommands: `brnet.1`, `brnet-network.1`,
/// `brnet-network-create.1`, ...
fn pages(cmd: &clap::Command, dir: &Path, n: &mut usize) -> Result<(), String> {
    // A built command's display name is its path: brnet-network-ls.
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .map_err(|e| format!("render {name}.1: {e}"))?;
    write(&dir.join(format!("{name}.1")), &buf)?;
    *n += 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages(sub, dir, n)?;
    }
    Ok(())
}

/// Generate into `a.out` (relative to the workspace root).
pub fn run(a: &ManArgs) -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let out = root.join(&a.out);
    let man1 = out.join("man1");
    let comp = out.join("completions");
    for d in [&man1, &comp] {
        std::fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    let mut cmd = brnet_cli::command();
    cmd.build();
    let mut n = 0;
    pages(&cmd, &man1, &mut n)?;
    for (shell, file) in [
        (clap_complete::Shell::Bash, "brnet.bash"),
        (clap_complete::Shell::Zsh, "_brnet"),
        (clap_complete::Shell::Fish, "brnet.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut brnet_cli::command(), "brnet", &mut buf);
        write(&comp.join(file), &buf)?;
    }
    eprintln!(
        "==> man: {n} pages in {}, completions in {}",
        man1.display(),
        comp.display()
    );
    Ok(())
}
