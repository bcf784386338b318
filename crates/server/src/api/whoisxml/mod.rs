//! WhoisXML's bulk API (`/api/bgservice/...`, seed 001): upload up to 100,000 terms (IPs,
//! domains, e-mail addresses), poll, download results as JSON, XML or CSV. Every call is a
//! POST with a JSON body carrying `apiKey`. The work itself is a `bulk` job run by the
//! runner; this module only parses, calls the engine, and renders (docs/bulk.md). Its wire
//! shapes (`model`) and streamed writers (`render`) are also what the bulk pipeline stores
//! and what `ipintel bulk` writes.

mod error;
pub use error::refusal;
mod handlers;
pub mod model;
pub mod render;

use axum::routing::post;
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/bgservice/request", post(handlers::create))
        .route("/api/bgservice/request/list", post(handlers::list))
        .route("/api/bgservice/request/status", post(handlers::status))
        .route(
            "/api/bgservice/request/completed",
            post(handlers::completed),
        )
        .route("/api/bgservice/request/failed", post(handlers::failed))
}

/// The documented operations (OpenAPI).
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::Operation;
    let errors =
        |extra: &[(u16, &'static str)]| {
            let mut all =
                vec![
            (400, "{\"response\":{\"errors\":[...]}}: missing or invalid fields, body too large"),
            (401, "{\"response\":{\"error\":\"Authorisation or authentication failed\"}}"),
            (402, "{\"response\":{\"error\":\"Insufficient balance...\"}}"),
        ];
            all.extend_from_slice(extra);
            all
        };
    let op = |path, summary, ok, body, extra: &[(u16, &'static str)]| {
        let mut responses = vec![(200, ok)];
        responses.extend(errors(extra));
        Operation {
            method: "POST",
            path,
            tag: "bulk",
            summary,
            security: "",
            params: vec![],
            responses,
            schema: None,
            content_type: "application/json",
            body: Some(body),
        }
    };
    let wrong_id: &[(u16, &'static str)] =
        &[(422, "{\"response\":{\"error\":\"Wrong request id\"}}")];
    vec![
        op(
            "/api/bgservice/request",
            "Create a bulk request",
            "{\"response\":{\"id\":5}}",
            "{\"apiKey\", \"terms\": [ip | domain | e-mail, ...] (at most bulk.max_terms), \"format\": json|xml|csv, \"reverseIp\": 0|1}",
            &[],
        ),
        op(
            "/api/bgservice/request/list",
            "List your bulk requests",
            "{\"response\":{\"current_page\", \"data\", \"from\", \"last_page\", \"per_page\", \"to\", \"total\"}}",
            "{\"apiKey\", \"page\", \"perPage\": 10-50, \"sort\": asc|desc, \"onlyIds\", \"format\"}",
            &[],
        ),
        op(
            "/api/bgservice/request/status",
            "Status of bulk requests",
            "{\"response\":[{\"id\", \"date_start\", \"total_terms\", \"invalid_terms\", \"processed_terms\", \"failed_terms\", \"ready\"}]}",
            "{\"apiKey\", \"ids\": [id, ...], \"format\"}",
            &[],
        ),
        op(
            "/api/bgservice/request/completed",
            "Download results (streamed)",
            "{\"response\":[[result, ...], ...]}: one list per term",
            "{\"apiKey\", \"id\", \"format\"}",
            wrong_id,
        ),
        op(
            "/api/bgservice/request/failed",
            "Download invalid and failed terms with reasons (streamed)",
            "{\"response\":[{\"term\", \"type\": invalid|failed, \"reason\"}, ...]}",
            "{\"apiKey\", \"id\", \"format\"}",
            wrong_id,
        ),
    ]
}
