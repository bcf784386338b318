//! QRadar `/api/services/geolocations` (seed 000, spec section 5): `filter` (the whole
//! QRadar grammar is parsed; this endpoint accepts `ip_address =` and `ip_address IN`),
//! `fields`, `SEC` or Basic auth, `Range: items=x-y` paging, QRadar's error body.

mod error;
pub mod filter;
mod handlers;
pub(crate) mod model;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/services/geolocations",
        get(handlers::handle_geolocations),
    )
}

/// The documented operations (OpenAPI).
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::{In, Operation, Param};
    vec![Operation {
        method: "GET",
        path: "/api/services/geolocations",
        tag: "qradar",
        summary: "QRadar geolocations: ip_address = \"...\" or ip_address IN (...)",
        security: "qradarSec",
        params: vec![
            Param {
                name: "filter",
                location: In::Query,
                required: true,
                description: "QRadar filter naming ip_address",
                example: "ip_address = \"81.2.69.160\"",
            },
            Param {
                name: "fields",
                location: In::Query,
                required: false,
                description: "fields to return, sub-fields in parentheses",
                example: "ip_address,city(name)",
            },
            Param {
                name: "Range",
                location: In::Header,
                required: false,
                description: "items=first-last",
                example: "items=0-49",
            },
        ],
        responses: vec![
            (200, "array of location objects"),
            (401, "code 1001"),
            (404, "code 1002"),
            (422, "codes 1005, 1010"),
            (500, "code 1020"),
        ],
        schema: Some((model::SCHEMA, true)),
        content_type: "application/json",
        body: None,
    }]
}
