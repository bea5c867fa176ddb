#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! Multi-host overlay networks (Docker's `overlay` driver): a VXLAN
//! device per network with static FDB and neighbour entries (the data
//! plane, [`dataplane`]), the cluster store behind one trait ([`store`]:
//! a shared directory or etcd v3), the cluster records and the
//! operations on them ([`cluster`]), and the per-host agent's loop that
//! turns the store's truth into kernel entries ([`agent`]).
//!
//! The data plane knows nothing of the store: it takes a peer set (remote
//! VTEPs and remote endpoints) and makes the kernel match it.

#[cfg(not(target_os = "linux"))]
compile_error!("brnet-overlay supports Linux only: it drives Linux VXLAN devices over rtnetlink");

pub mod agent;
pub mod cluster;
pub mod dataplane;
pub mod store;
