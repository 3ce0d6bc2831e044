//! # openline-server
//!
//! The I/O shell around the pure [`openline_core::Engine`] (DESIGN.md "a pure engine inside an
//! I/O shell"): configuration, the command-log store (sqlx, group commit), the HTTP API of
//! API.md, the deadline timer, Server-Sent Events and Prometheus metrics.
//!
//! Durability is a command log: every command the engine accepted is appended with the
//! instant it was applied at; on start the log is replayed into a fresh engine (SPEC R19).

pub mod auth;
pub mod changes;
pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod events;
pub mod http;
pub mod metrics;
pub mod presence_sources;
pub mod runtime;
pub mod stats;
pub mod store;
pub mod webhooks;

use openline_core::registry::{PluginError, Registry};

// The bundled source plugins, each named once so its `inventory` registration is linked.
use openline_browser as _;
use openline_hr as _;
use openline_messenger as _;
use openline_mobile as _;
use openline_timesheet as _;

/// Runs the `openline` command line (`serve`, `check`, `plugins`, …) with every source
/// registered in this binary: a custom binary that links its own source crates and calls
/// this is openline with those sources added (SPEC R34, API.md "Custom binary").
pub fn main() -> std::process::ExitCode {
    cli::main()
}

/// Every plugin registered in this binary: the core's built-in policies and the bundled
/// source plugins, which are named here once so the linker keeps their registrations
/// (the inventory pitfall of STYLE.md).
pub fn registry() -> Result<Registry, PluginError> {
    Registry::collect()
}
