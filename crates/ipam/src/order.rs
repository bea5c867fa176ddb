//! The order a pool hands out addresses in: a setting of the pool and of
//! its saved form alike.

use serde::{Deserialize, Serialize};

/// In which order [`Pool::allocate`](crate::Pool::allocate) hands out addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Continue after the last address handed out and wrap at the end of
    /// the range, so a just-released address is not handed out again at
    /// once (stale ARP and conntrack entries keep pointing at it for a
    /// while). The default.
    #[default]
    Serial,
    /// Take the lowest free address: Docker's bridge driver behaviour.
    Lowest,
}
