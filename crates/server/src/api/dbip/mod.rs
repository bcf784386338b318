//! DB-IP API v2: `GET /v2/{key}/{address[,address...]|self}` and `GET /v2/{key}`.
//!
//! DB-IP's API documentation is the contract: the key in the URL path, DB-IP's flat record
//! whose fields depend on the key's tier (the plan's `tier`), comma-separated batches with
//! per-plan limits and the 10 % batch bonus, names localised by `Accept-Language` (lite and
//! pro), reserved addresses answered as `countryCode: "ZZ"` rather than as errors, and errors
//! as `{"error", "errorCode"}`.

mod error;
pub use error::refusal;
mod handlers;
mod model;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// This dialect's marker: the app attaches it to the routes below (metrics label, and the
/// error format of refusals the HTTP layer makes).
pub const DIALECT: crate::http::Dialect = crate::http::Dialect {
    name: "dbip",
    refuse: error::refusal,
    forbidden_when_too_large: false,
    own_body_limit: false,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2", get(handlers::handle_request))
        .route("/v2/", get(handlers::handle_request))
        .route("/v2/{*rest}", get(handlers::handle_request))
}

/// `GET /v2/{key}`'s answer.
const KEY_INFO: crate::render::fields::Schema = {
    use crate::render::fields::Schema;
    Schema::obj(&[
        ("apiKey", Schema::STR),
        ("queriesPerDay", Schema::INT),
        ("queriesLeft", Schema::INT),
        ("unlimited", Schema::BOOL),
        ("status", Schema::STR),
    ])
};

/// The documented operations (OpenAPI).
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::{ErrorBody, In, Operation, Param, ParamType};
    let key = Param {
        name: "key",
        location: In::Path,
        required: true,
        description: "API key",
        example: "KEY",
        kind: ParamType::Text,
    };
    let error = ErrorBody {
        content_type: "application/json",
        schema: || {
            serde_json::json!({"type": "object", "required": ["error", "errorCode"],
                "properties": {"error": {"type": "string"}, "errorCode": {"type": "string"}}})
        },
        also: &[],
    };
    vec![
        Operation {
            method: "GET",
            path: "/v2/{key}/{addresses}",
            tag: "dbip",
            summary: "DB-IP v2 lookup: one address, or a comma-separated batch",
            security: &[],
            params: vec![
                key,
                Param {
                    name: "addresses",
                    location: In::Path,
                    required: true,
                    description: "address, `self`, or addresses joined by commas",
                    example: "81.2.69.160,2001:218::1",
                    kind: ParamType::Text,
                },
                Param {
                    name: "Accept-Language",
                    location: In::Header,
                    required: false,
                    description: "names' language (lite and pro tiers)",
                    example: "fr-FR,fr;q=0.9",
                    kind: ParamType::AnyText,
                },
            ],
            responses: vec![
                (200, "the record, or an object of records keyed by address"),
                (400, "INVALID_ADDRESS, TOO_MANY_ADDRESSES, INVALID_REQUEST"),
                (401, "INVALID_KEY"),
                (402, "OVER_QUERY_LIMIT"),
                (413, "REQUEST_TOO_LARGE"),
                (503, "UNAVAILABLE"),
            ],
            schema: None,
            content_type: "application/json",
            also: &[],
            error,
            body: None,
        },
        Operation {
            method: "GET",
            path: "/v2/{key}",
            tag: "dbip",
            summary: "DB-IP v2 key information",
            security: &[],
            params: vec![key],
            responses: vec![
                (200, "apiKey, queriesPerDay, queriesLeft (4294967295 and unlimited: true for a key without limits), status"),
                (401, "INVALID_KEY"),
            ],
            schema: Some((KEY_INFO, false)),
            content_type: "application/json",
            also: &[],
            error,
            body: None,
        },
    ]
}
