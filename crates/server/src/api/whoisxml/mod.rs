//! WhoisXML's bulk API (`/api/bgservice/...`, WhoisXML's bulk API documentation): upload up to 100,000 terms (IPs,
//! domains, e-mail addresses), poll, download results as JSON, XML or CSV. Every call is a
//! POST with a JSON body carrying `apiKey`. The work itself is a `bulk` job run by the
//! runner; this module only parses, calls the engine, and renders (docs/bulk.md). Its wire
//! shapes (`model`) and streamed writers (`render`) are also what the bulk pipeline stores
//! and what `ipintel bulk` writes.

mod error;
pub use error::refusal;
mod handlers;

use axum::routing::post;
use axum::Router;
use serde_json::json;

use crate::state::AppState;

/// This dialect's marker: the app attaches it to the routes below (metrics label, and the
/// error format of refusals the HTTP layer makes).
pub const DIALECT: crate::http::Dialect = crate::http::Dialect {
    name: "bulk",
    refuse: error::refusal,
    forbidden_when_too_large: false,
    own_body_limit: true,
};

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

/// A bulk call's body: `apiKey` and `format` always, plus `members`; other members are
/// ignored, as WhoisXML's API does.
fn body_schema(required: &[&str], members: serde_json::Value) -> serde_json::Value {
    let mut properties = json!({
        "apiKey": {"type": "string", "minLength": 1},
        // Any case, as WhoisXML reads it.
        "format": nullable(json!({"type": "string", "pattern": "^([Jj][Ss][Oo][Nn]|[Xx][Mm][Ll]|[Cc][Ss][Vv])$"})),
    });
    for (name, schema) in members.as_object().expect("members are an object") {
        properties[name] = schema.clone();
    }
    let mut all = vec!["apiKey"];
    all.extend_from_slice(required);
    json!({"type": "object", "required": all, "properties": properties})
}

/// An optional member: `null` is the same as leaving it out.
fn nullable(schema: serde_json::Value) -> serde_json::Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

/// The documented operations (OpenAPI).
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::{ErrorBody, Operation, RequestBody};
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
    let op = |path, summary, ok, body: RequestBody, extra: &[(u16, &'static str)]| {
        let mut responses = vec![(200, ok)];
        responses.extend(errors(extra));
        Operation {
            method: "POST",
            path,
            tag: "bulk",
            summary,
            security: &[],
            params: vec![],
            responses,
            schema: None,
            content_type: "application/json",
            also: &["application/xml", "text/csv"],
            error: ErrorBody {
                content_type: "application/json",
                schema: || {
                    serde_json::json!({"type": "object", "required": ["response"], "properties": {
                        "response": {"type": "object", "properties": {
                            "error": {"type": "string"},
                            "errors": {"type": "array", "items": {"type": "string"}}}}}})
                },
                also: &["application/xml"],
            },
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
            RequestBody {
                description: "{\"apiKey\", \"terms\": [ip | domain | e-mail, ...] (at most bulk.max_terms), \"format\": json|xml|csv, \"reverseIp\": 0|1}",
                schema: || body_schema(&["terms"], json!({
                    "terms": {"type": "array", "minItems": 1, "maxItems": 100_000,
                        "items": {"type": "string"}},
                    "reverseIp": nullable(json!({"enum": [0, 1, true, false]})),
                })),
            },
            &[],
        ),
        op(
            "/api/bgservice/request/list",
            "List your bulk requests",
            "{\"response\":{\"current_page\", \"data\", \"from\", \"last_page\", \"per_page\", \"to\", \"total\"}}",
            RequestBody {
                description: "{\"apiKey\", \"page\", \"perPage\": 10-50, \"sort\": asc|desc, \"onlyIds\", \"format\"}",
                schema: || body_schema(&[], json!({
                    "page": nullable(json!({"type": "integer", "minimum": 1, "maximum": 1_000_000_000})),
                    "perPage": nullable(json!({"type": "integer", "minimum": 10, "maximum": 50})),
                    "sort": nullable(json!({"enum": ["asc", "desc"]})),
                    "onlyIds": nullable(json!({"enum": [0, 1, true, false]})),
                })),
            },
            &[],
        ),
        op(
            "/api/bgservice/request/status",
            "Status of bulk requests",
            "{\"response\":[{\"id\", \"date_start\", \"total_terms\", \"invalid_terms\", \"processed_terms\", \"failed_terms\", \"ready\"}]}",
            RequestBody {
                description: "{\"apiKey\", \"ids\": [id, ...] (1 to 1,000), \"format\"}",
                schema: || body_schema(&["ids"], json!({
                    "ids": {"type": "array", "minItems": 1, "maxItems": 1000,
                        "items": {"type": "integer", "minimum": 0, "maximum": u64::MAX}},
                })),
            },
            &[],
        ),
        op(
            "/api/bgservice/request/completed",
            "Download results (streamed)",
            "{\"response\":[[result, ...], ...]}: one list per term",
            RequestBody {
                description: "{\"apiKey\", \"id\", \"format\"}",
                schema: || body_schema(&["id"], json!({
                    "id": {"type": "integer", "minimum": 1, "maximum": u64::MAX},
                })),
            },
            wrong_id,
        ),
        op(
            "/api/bgservice/request/failed",
            "Download invalid and failed terms with reasons (streamed)",
            "{\"response\":[{\"term\", \"type\": invalid|failed, \"reason\"}, ...]}",
            RequestBody {
                description: "{\"apiKey\", \"id\", \"format\"}",
                schema: || body_schema(&["id"], json!({
                    "id": {"type": "integer", "minimum": 1, "maximum": u64::MAX},
                })),
            },
            wrong_id,
        ),
    ]
}
