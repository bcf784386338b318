//! The `ipintel` server: everything on the wire.
//!
//! Layout:
//! - `main.rs` / [`cli`]: the command line; `main` owns exit codes.
//! - [`config`]: one `Config`, file < environment < flags, unknown keys rejected.
//! - [`server`]: start (store, databases, bootstrap key) and run (listeners, background tasks).
//! - [`http`]: router, middleware, accept loop, error kind -> status.
//! - [`api`]: one folder per dialect (MaxMind today); dialects never import each other.
//! - [`bulk`]: the bulk pipeline (terms -> results) and its JSON/XML/CSV writers.
//! - [`commands`]: the non-serving subcommands (keys, lookup, data).
//! - [`metrics`]: Prometheus counters.

pub mod api;
pub mod bulk;
pub mod cli;
pub mod commands;
pub mod config;
pub mod http;
pub mod metrics;
pub mod net;
pub mod render;
pub mod runner;
pub mod server;
pub mod state;
