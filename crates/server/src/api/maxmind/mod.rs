//! MaxMind GeoIP2 web services: `GET /geoip/v2.1/{country|city|insights}/{ip|me}`.
//!
//! Seed 004 and spec sections 1-2 are the contract: Basic auth `account_id:license_key`,
//! per-service Content-Type, `Accept` negotiation (415/406 without a body), the omission of
//! empty keys, and MaxMind's error codes in `{"code", "error"}` bodies.

mod error;
mod handlers;
mod model;

use axum::routing::get;
use axum::Router;
use ipintel_core::accounts::Service;
use ipintel_core::geo::GeoAnswer;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/geoip/v2.1", get(handlers::handle_lookup))
        .route("/geoip/v2.1/", get(handlers::handle_lookup))
        .route("/geoip/v2.1/{*rest}", get(handlers::handle_lookup))
}

/// The Insights body for an answer, without account data (`ipintel lookup --json`).
pub fn render_insights(answer: &GeoAnswer) -> Vec<u8> {
    model::render(Service::Insights, answer, None)
}

/// A response body exactly as the handler renders it (for benchmarks).
pub fn render_body(
    service: Service,
    answer: &GeoAnswer,
    queries_remaining: Option<u64>,
) -> Vec<u8> {
    model::render(service, answer, queries_remaining)
}
