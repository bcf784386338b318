//! The RIPE Database REST API, read side (seed 002, ../shared/spec/registry.md sections
//! 1-8): object lookup, versions, search with flags, metadata, abuse contact and
//! geolocation, answered from the registry in memory. XML by default, JSON and text by
//! `Accept` or suffix. Served at the root paths, as RIPE serves them, and under
//! `registry.prefix` (default `/whois`). Open: RIPE's read API takes no key.

mod doc;
mod error;
mod handlers;
mod params;
mod render;

pub use error::refusal;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The API's routes at the root and under `prefix`.
pub fn routes(prefix: &str) -> Router<AppState> {
    let mut router = mounted("");
    if !prefix.is_empty() {
        router = router.merge(mounted(prefix));
    }
    router
}

fn mounted(prefix: &str) -> Router<AppState> {
    let p = |path: &str| format!("{prefix}{path}");
    let mut router = Router::new();
    // The formats, and suffixes that name formats this API lacks (answered 400).
    for suffix in ["", ".json", ".xml", ".txt", ".html", ".htm", ".csv", ".yaml", ".yml", ".pdf"] {
        router = router
            .route(&p(&format!("/search{suffix}")), get(handlers::search))
            .route(&p(&format!("/metadata/sources{suffix}")), get(handlers::sources))
            .route(&p(&format!("/geolocation{suffix}")), get(handlers::geolocation));
    }
    router
        .route(&p("/metadata/templates/{class}"), get(handlers::object_template))
        .route(&p("/abuse-contact/{*resource}"), get(handlers::abuse_contact))
        .route(&p("/{source}/{class}/{*key}"), get(handlers::lookup))
        .route(&p("/{source}/{class}"), get(handlers::no_key))
}
