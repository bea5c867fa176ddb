//! `isolated`: the throwaway sandbox every privileged test, the demo and the
//! benches run in.

use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

use crate::error::{Error, Result};
use crate::netns::io_errno;
use crate::sys;

/// Environment variable that lets privileged tests pass without running
/// when the caller is not root. CI never sets it.
pub const SKIP_PRIVILEGED_ENV: &str = "BRNET_SKIP_PRIVILEGED";

/// Run `f` in a fresh network namespace and a private mount namespace, on a
/// new thread, and return its value.
///
/// Inside: `lo` is up, the whole mount tree is private (nothing mounted
/// inside propagates out), and `/run` is a fresh tmpfs with an empty
/// `/run/netns`, so named namespaces, lock files and state made by the body
/// are its own. Child processes started from the body inherit both
/// namespaces. When `f` returns, the thread ends and everything it created
/// (links, addresses, routes, firewall rules, named namespaces) dies with it.
///
/// A panic in `f` is propagated to the caller, so test assertions work as
/// usual. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
///
/// ```no_run
/// let loopback_up = brnet_netns::isolated(|| {
///     std::fs::read_to_string("/proc/thread-self/net/dev").unwrap().contains("lo:")
/// })?;
/// # Ok::<(), brnet_netns::Error>(())
/// ```
pub fn isolated<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("brnet-isolated".into())
            .spawn_scoped(s, move || -> Result<T> {
                enter_sandbox()?;
                Ok(f())
            })
            .map_err(|e| Error::sys("spawn thread", "sandbox", io_errno(&e)))?;
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Turn the calling thread into a sandbox (see [`isolated`]). Only for
/// threads that end when the sandbox should: there is no way back.
fn enter_sandbox() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::sys("unshare", "net+mount namespaces", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::sys("make private", "/", e))?;
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(|e| Error::sys("mount tmpfs", "/run", e))?;
    let netns_dir = Path::new(crate::dir::DEFAULT_NETNS_DIR);
    std::fs::create_dir_all(netns_dir)
        .map_err(|e| Error::sys("create directory", netns_dir.display(), io_errno(&e)))?;
    sys::set_link_up("lo").map_err(|e| Error::sys("set up", "lo", e))?;
    Ok(())
}

/// Gate for privileged tests.
///
/// Returns `true` when the caller is root and the test should run. When not
/// root it panics with a message saying how to run the test, unless
/// `BRNET_SKIP_PRIVILEGED=1` is set, in which case it returns `false` and
/// the test should return early. Tests are never skipped silently.
pub fn privileged_test() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var(SKIP_PRIVILEGED_ENV).is_ok_and(|v| v == "1") {
        eprintln!("skipping a privileged test: not root and {SKIP_PRIVILEGED_ENV}=1");
        return false;
    }
    panic!(
        "this test needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) to make a throwaway network \
         namespace: run it as root (e.g. `sudo -E cargo test`), or set \
         {SKIP_PRIVILEGED_ENV}=1 to skip privileged tests"
    );
}
