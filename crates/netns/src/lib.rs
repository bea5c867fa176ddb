#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! Named Linux network namespaces, compatible with iproute2, and the
//! throwaway sandbox the rest of bridge-net is tested in.
//!
//! - [`NetnsDir`]: create, open, list and delete named namespaces
//!   (`/run/netns/NAME` bind mounts, as `ip netns add` makes them).
//! - [`Netns`]: an open namespace; [`Netns::enter`] switches the calling
//!   thread with a guard that switches back; [`Netns::run`] runs a closure
//!   on a dedicated thread inside it.
//! - [`isolated`]: a fresh network + private mount namespace on its own
//!   thread, with `lo` up and a private `/run`; everything made inside dies
//!   with the thread.
//!
//! - [`sysctl`]: the namespace's network sysctls, written only when they
//!   differ, and the one place that turns IPv6 off on a link.
//!
//! Namespaces belong to threads, not processes: everything here uses
//! `/proc/thread-self/ns/net`, never `/proc/self/...`.

#[cfg(not(target_os = "linux"))]
compile_error!("brnet-netns supports Linux only: it manages Linux network namespaces");

mod dir;
mod error;
mod name;
mod netns;
mod random;
mod sandbox;
mod sys;
pub mod sysctl;

pub use dir::{DEFAULT_NETNS_DIR, NetnsDir};
pub use error::{Error, NameProblem, Result, ShowErrno};
pub use name::{MAX_NAME_LEN, NsName};
pub use netns::{EnterGuard, Netns, NetnsId, THREAD_NETNS, socket_netns_cookie};
pub use nix::errno::Errno;
pub use random::random_bytes;
pub use sandbox::{SKIP_PRIVILEGED_ENV, isolated, privileged_test};
