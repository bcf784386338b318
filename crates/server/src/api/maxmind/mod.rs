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

/// The three web services, each its own product with its own permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Country,
    City,
    Insights,
}

impl Endpoint {
    fn parse(path_segment: &str) -> Option<Endpoint> {
        match path_segment {
            "country" => Some(Endpoint::Country),
            "city" => Some(Endpoint::City),
            "insights" => Some(Endpoint::Insights),
            _ => None,
        }
    }

    /// The permission a plan needs to call this endpoint.
    fn service(self) -> Service {
        match self {
            Endpoint::Country => Service::Country,
            Endpoint::City => Service::City,
            Endpoint::Insights => Service::Insights,
        }
    }
}

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/geoip/v2.1", get(handlers::handle_lookup))
        .route("/geoip/v2.1/", get(handlers::handle_lookup))
        .route("/geoip/v2.1/{*rest}", get(handlers::handle_lookup))
}

/// The Insights body for an answer, without account data (`ipintel lookup --json`).
pub fn render_insights(answer: &GeoAnswer) -> Vec<u8> {
    model::render(Endpoint::Insights, answer, None)
}

/// A response body exactly as the handler renders it (for benchmarks).
pub fn render_body(
    endpoint: Endpoint,
    answer: &GeoAnswer,
    queries_remaining: Option<u64>,
) -> Vec<u8> {
    model::render(endpoint, answer, queries_remaining)
}
