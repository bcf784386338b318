//! ipintel's own API: `GET /v1/ip/{ip}` and `POST /v1/batch`, the full merged record in
//! ipintel's documented shape (docs/api-v1.md), with `fields`, `lang` and
//! `format=json|xml|csv`. Key in `Authorization: Bearer <key>` or `X-API-Key`.

mod error;
mod handlers;
mod model;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ip/{ip}", get(handlers::handle_ip))
        .route("/v1/batch", post(handlers::handle_batch))
}
