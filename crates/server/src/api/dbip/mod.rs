//! DB-IP API v2: `GET /v2/{key}/{address[,address...]|self}` and `GET /v2/{key}`.
//!
//! Seed 003 and spec section 4 are the contract: the key in the URL path, DB-IP's flat record
//! whose fields depend on the key's tier (the plan's `tier`), comma-separated batches with
//! per-plan limits and the 10 % batch bonus, names localised by `Accept-Language` (lite and
//! pro), reserved addresses answered as `countryCode: "ZZ"` rather than as errors, and errors
//! as `{"error", "errorCode"}`.

mod error;
mod handlers;
mod model;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2", get(handlers::handle_request))
        .route("/v2/", get(handlers::handle_request))
        .route("/v2/{*rest}", get(handlers::handle_request))
}
