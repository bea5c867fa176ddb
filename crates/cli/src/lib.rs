#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! The command line of `brnet` as clap defines it, for the tools that
//! generate from it (shell completions, man pages: `cargo xtask man`).
//! The `brnet` binary is this package's program; this library is not an
//! API.

pub mod args;
pub mod fast;
pub mod template;

/// The whole `brnet` command line, as clap sees it.
pub fn command() -> clap::Command {
    <args::Cli as clap::CommandFactory>::command()
}
