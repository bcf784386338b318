//! The `ipintel` server: everything on the wire.
//!
//! Layout:
//! - `main.rs` / [`cli`]: the command line, every subcommand in its own file; `main`
//!   only dispatches and owns exit codes.
//! - [`config`]: one `Config`, file < environment < flags, unknown keys rejected.
//! - [`app`]: assembly on top: start (store, databases, bootstrap key), run (listeners,
//!   background tasks), the router and OpenAPI document from every front end, ops
//!   endpoints, reloading the databases.
//! - [`listen`]: front ends as listeners: the one accept loop, connection caps, TLS, drain.
//! - [`http`]: the HTTP front end: router, middleware, error kind -> status.
//! - [`api`]: one folder per dialect; dialects never import each other.
//! - [`console`]: the web console under `/ui/`, a front end in HTML.
//! - [`bulk`]: the bulk pipeline (terms -> results) and its JSON/XML/CSV writers.
//! - [`limits`]: per-client rate limits every front end shares.
//! - [`metrics`]: Prometheus counters.

pub mod api;
pub mod app;
pub mod bulk;
pub mod cli;
pub mod config;
pub mod console;
pub mod http;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod mirror;
pub mod net;
pub mod render;
pub mod runner;
pub mod state;
pub mod whois;
