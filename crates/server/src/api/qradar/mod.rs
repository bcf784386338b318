//! QRadar `/api/services` (QRadar's API documentation, the filter grammar in docs/qradar.md): `geolocations` with `filter` (the whole
//! QRadar grammar is parsed; this endpoint accepts `ip_address =` and `ip_address IN`),
//! `fields`, `SEC` or Basic auth, `Range: items=x-y` paging; and the asynchronous WHOIS and
//! port-scan tasks (`tasks.rs`). QRadar's error body throughout.

mod error;
pub use error::refusal;
pub mod filter;
mod handlers;
pub(crate) mod model;
mod tasks;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// This dialect's marker: the app attaches it to the routes below (metrics label, and the
/// error format of refusals the HTTP layer makes).
pub const DIALECT: crate::http::Dialect = crate::http::Dialect {
    name: "qradar",
    refuse: error::refusal,
    forbidden_when_too_large: false,
    own_body_limit: false,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/services/geolocations",
            get(handlers::handle_geolocations),
        )
        .route(
            "/api/services/{kind}",
            axum::routing::post(tasks::handle_create_task),
        )
        .route(
            "/api/services/{kind}/{id}",
            get(tasks::handle_get_task).delete(tasks::handle_cancel_task),
        )
}

/// The documented operations (OpenAPI).
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::{ErrorBody, In, Operation, Param, ParamType};
    let ip = Param {
        name: "IP",
        location: In::Query,
        required: true,
        description: "the address to investigate",
        example: "127.0.0.1",
        kind: ParamType::Ip,
    };
    let id = Param {
        name: "id",
        location: In::Path,
        required: true,
        description: "task id",
        example: "1",
        kind: ParamType::Id,
    };
    let error = ErrorBody {
        content_type: "application/json",
        schema: || {
            serde_json::json!({"type": "object",
            "required": ["http_response", "code", "message", "description", "details"],
            "properties": {
                "http_response": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}},
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "description": {"type": "string"},
                "details": {"type": "object"},
            }})
        },
        also: &[],
    };
    let task = |method, path, summary, params, responses| Operation {
        method,
        path,
        tag: "qradar",
        summary,
        security: &["qradarSec", "basic"],
        params,
        responses,
        schema: Some((tasks::SCHEMA, false)),
        content_type: "application/json",
        also: &[],
        error,
        body: None,
    };
    let mut ops = vec![
        task(
            "POST",
            "/api/services/dns_lookups",
            "Start a reverse DNS lookup with forward confirmation",
            vec![ip],
            vec![(201, "the task"), (422, "code 1005"), (401, "code 1001")],
        ),
        task(
            "GET",
            "/api/services/dns_lookups/{id}",
            "A DNS lookup's state and result",
            vec![id],
            vec![(200, "the task"), (404, "code 1002")],
        ),
        task(
            "DELETE",
            "/api/services/dns_lookups/{id}",
            "Cancel a DNS lookup (ipintel extension)",
            vec![id],
            vec![(200, "the task"), (404, "code 1002")],
        ),
        task(
            "POST",
            "/api/services/dig_lookups",
            "Start a dig of the reverse question",
            vec![ip],
            vec![(201, "the task"), (422, "code 1005"), (401, "code 1001")],
        ),
        task(
            "GET",
            "/api/services/dig_lookups/{id}",
            "A dig lookup's state and report",
            vec![id],
            vec![(200, "the task"), (404, "code 1002")],
        ),
        task(
            "DELETE",
            "/api/services/dig_lookups/{id}",
            "Cancel a dig lookup (ipintel extension)",
            vec![id],
            vec![(200, "the task"), (404, "code 1002")],
        ),
        task(
            "POST",
            "/api/services/whois_lookups",
            "Start a WHOIS lookup",
            vec![ip],
            vec![(201, "the task"), (422, "code 1005"), (401, "code 1001")],
        ),
        task(
            "GET",
            "/api/services/whois_lookups/{id}",
            "A WHOIS lookup's state and result",
            vec![id],
            vec![(200, "the task"), (404, "code 1002")],
        ),
        task(
            "DELETE",
            "/api/services/whois_lookups/{id}",
            "Cancel a WHOIS lookup (ipintel extension)",
            vec![id],
            vec![(200, "the task"), (404, "code 1002")],
        ),
        task(
            "POST",
            "/api/services/port_scans",
            "Start a TCP port scan (404 unless enabled)",
            vec![ip],
            vec![
                (201, "the task"),
                (404, "port scans disabled"),
                (422, "codes 1005, 1010"),
            ],
        ),
        task(
            "GET",
            "/api/services/port_scans/{id}",
            "A port scan's state and result",
            vec![id],
            vec![(200, "the task"), (404, "code 1002")],
        ),
        task(
            "DELETE",
            "/api/services/port_scans/{id}",
            "Cancel a port scan (ipintel extension)",
            vec![id],
            vec![(200, "the task"), (404, "code 1002")],
        ),
    ];
    ops.push(Operation {
        method: "GET",
        path: "/api/services/geolocations",
        tag: "qradar",
        summary: "QRadar geolocations: ip_address = \"...\" or ip_address IN (...)",
        security: &["qradarSec", "basic"],
        params: vec![
            Param {
                name: "filter",
                location: In::Query,
                required: true,
                description: "QRadar filter naming ip_address",
                example: "ip_address = \"81.2.69.160\"",
                kind: ParamType::Text,
            },
            Param {
                name: "fields",
                location: In::Query,
                required: false,
                description: "fields to return, sub-fields in parentheses",
                example: "ip_address,city(name)",
                kind: ParamType::Text,
            },
            Param {
                name: "Range",
                location: In::Header,
                required: false,
                description: "items=first-last",
                example: "items=0-49",
                kind: ParamType::Text,
            },
        ],
        responses: vec![
            (200, "array of location objects"),
            (401, "code 1001"),
            (404, "code 1002"),
            (422, "codes 1005, 1010"),
            (500, "code 1020"),
            (503, "no database loaded, or the server is busy"),
        ],
        schema: Some((model::SCHEMA, true)),
        content_type: "application/json",
        also: &[],
        error,
        body: None,
    });
    ops
}
