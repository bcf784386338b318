//! ipintel's own API: `GET /v1/ip/{ip}` and `POST /v1/batch`, the full merged record in
//! ipintel's documented shape (docs/api-v1.md), with `fields`, `lang` and
//! `format=json|xml|csv`. Key in `Authorization: Bearer <key>` or `X-API-Key`. Also

mod error;
pub use error::refusal;
mod handlers;
pub mod model;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// This dialect's marker: the app attaches it to the routes below (metrics label, and the
/// error format of refusals the HTTP layer makes).
pub const DIALECT: crate::http::Dialect = crate::http::Dialect {
    name: "v1",
    refuse: error::refusal,
    forbidden_when_too_large: false,
    own_body_limit: false,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ip/{ip}", get(handlers::handle_ip))
        .route("/v1/batch", post(handlers::handle_batch))
        .route("/v1/jobs/{id}", get(handlers::handle_job))
}

/// `POST /v1/batch`'s answer: one record per address, in request order.
const BATCH: crate::render::fields::Schema = crate::render::fields::Schema::obj(&[(
    "results",
    crate::render::fields::Schema::list(model::SCHEMA.fields),
)]);

/// The documented operations (OpenAPI).
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::{ErrorBody, In, Operation, Param, ParamType, RequestBody};
    let error = ErrorBody {
        content_type: "application/json",
        schema: || {
            serde_json::json!({"type": "object", "required": ["error"], "properties": {
                "error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}}}}})
        },
        also: &[],
    };
    let common = || {
        vec![
            Param {
                name: "fields",
                location: In::Query,
                required: false,
                description: "fields to return, sub-fields in parentheses",
                example: "ip,city(name)",
                kind: ParamType::Text,
            },
            Param {
                name: "lang",
                location: In::Query,
                required: false,
                description: "names' language: de en es fr ja pt-BR ru zh-CN",
                example: "en",
                kind: ParamType::Text,
            },
            Param {
                name: "format",
                location: In::Query,
                required: false,
                description: "json (default), xml or csv",
                example: "json",
                kind: ParamType::OneOf(&["json", "xml", "csv"]),
            },
        ]
    };
    let errors = || {
        vec![
            (400, "invalid_ip, invalid_parameter"),
            (401, "unauthorized"),
            (
                402,
                "plan_lacks_service, insufficient_credits, daily_quota_exceeded",
            ),
        ]
    };
    let mut one = vec![(200, "the record")];
    one.extend(errors());
    let mut many = vec![(200, "{\"results\": [record, ...]}")];
    many.extend(errors());
    let mut params = vec![Param {
        name: "ip",
        location: In::Path,
        required: true,
        description: "IPv4 or IPv6 address",
        example: "81.2.69.160",
        kind: ParamType::Ip,
    }];
    params.extend(common());
    vec![
        Operation {
            method: "GET",
            path: "/v1/jobs/{id}",
            tag: "v1",
            summary: "A network task with its structured result",
            security: &["bearer", "apiKeyHeader"],
            params: vec![Param {
                name: "id",
                location: In::Path,
                required: true,
                description: "task id, as QRadar's task endpoints return it",
                example: "1",
                kind: ParamType::Id,
            }],
            responses: vec![
                (
                    200,
                    "id, kind, ip, status, message, result, attempts, created_at, finished_at",
                ),
                (401, "unauthorized"),
                (404, "not_found"),
            ],
            schema: None,
            content_type: "application/json",
            also: &[],
            error,
            body: None,
        },
        Operation {
            method: "GET",
            path: "/v1/ip/{ip}",
            tag: "v1",
            summary: "Everything ipintel knows about one address",
            security: &["bearer", "apiKeyHeader"],
            params,
            responses: one,
            schema: Some((model::SCHEMA, false)),
            content_type: "application/json",
            also: &["application/xml", "text/csv"],
            error,
            body: None,
        },
        Operation {
            method: "POST",
            path: "/v1/batch",
            tag: "v1",
            summary: "Everything ipintel knows about several addresses",
            security: &["bearer", "apiKeyHeader"],
            params: common(),
            responses: many,
            schema: Some((BATCH, false)),
            content_type: "application/json",
            also: &["application/xml", "text/csv"],
            error,
            body: Some(RequestBody {
                description:
                    "{\"ips\": [\"<address>\", ...]}: 1 to the plan's batch_limit addresses",
                schema: || {
                    serde_json::json!({"type": "object", "required": ["ips"], "additionalProperties": false,
                        "properties": {"ips": {"type": "array", "minItems": 1, "maxItems": 256,
                            "items": {"anyOf": [
                                {"type": "string", "format": "ipv4"},
                                {"type": "string", "format": "ipv6"}]}}}})
                },
            }),
        },
    ]
}
