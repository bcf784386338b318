//! MaxMind GeoIP2 web services: `GET /geoip/v2.1/{country|city|insights}/{ip|me}`.
//!
//! MaxMind's web-service documentation is the contract: Basic auth `account_id:license_key`,
//! per-service Content-Type, `Accept` negotiation (415/406 without a body), the omission of
//! empty keys, and MaxMind's error codes in `{"code", "error"}` bodies.

mod error;
pub use error::refusal;
mod handlers;
mod model;
mod place;

pub use place::renderer as place_renderer;

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

/// This dialect's marker: the app attaches it to the routes below (metrics label, and the
/// error format of refusals the HTTP layer makes).
pub const DIALECT: crate::http::Dialect = crate::http::Dialect {
    name: "maxmind",
    refuse: error::refusal,
    forbidden_when_too_large: true,
    own_body_limit: false,
};

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

/// The documented operations (OpenAPI).
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::{ErrorBody, In, Operation, Param, ParamType};
    ["country", "city", "insights"]
        .into_iter()
        .map(|service| Operation {
            method: "GET",
            path: match service {
                "country" => "/geoip/v2.1/country/{ip}",
                "city" => "/geoip/v2.1/city/{ip}",
                _ => "/geoip/v2.1/insights/{ip}",
            },
            tag: "maxmind",
            summary: match service {
                "country" => "MaxMind GeoIP2 Country web service",
                "city" => "MaxMind GeoIP2 City web service",
                _ => "MaxMind GeoIP2 Insights web service",
            },
            security: &["basic"],
            params: vec![Param {
                name: "ip",
                location: In::Path,
                required: true,
                description: "IPv4 or IPv6 address, or `me`",
                example: "81.2.69.160",
                kind: ParamType::IpOrMe,
            }],
            responses: vec![
                (
                    200,
                    "the merged record (application/vnd.maxmind.com-<service>+json)",
                ),
                (
                    400,
                    "IP_ADDRESS_INVALID, IP_ADDRESS_REQUIRED, IP_ADDRESS_RESERVED",
                ),
                (
                    401,
                    "ACCOUNT_ID_REQUIRED, LICENSE_KEY_REQUIRED, AUTHORIZATION_INVALID",
                ),
                (
                    402,
                    "PERMISSION_REQUIRED, INSUFFICIENT_FUNDS, OUT_OF_QUERIES",
                ),
                (
                    403,
                    "a request body over http.max_body_bytes (no body, as MaxMind)",
                ),
                (404, "IP_ADDRESS_NOT_FOUND"),
                (415, "unacceptable Accept"),
                (503, "no database loaded, or the server is busy"),
            ],
            schema: None,
            content_type: match service {
                "country" => "application/vnd.maxmind.com-country+json",
                "city" => "application/vnd.maxmind.com-city+json",
                _ => "application/vnd.maxmind.com-insights+json",
            },
            also: &[],
            error: ErrorBody {
                content_type: "application/vnd.maxmind.com-error+json",
                schema: || {
                    serde_json::json!({"type": "object", "required": ["code", "error"],
                        "properties": {"code": {"type": "string"}, "error": {"type": "string"}}})
                },
                also: &[],
            },
            body: None,
        })
        .collect()
}
