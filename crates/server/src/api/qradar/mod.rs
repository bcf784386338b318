//! QRadar `/api/services/geolocations` (seed 000, spec section 5): `filter` (the whole
//! QRadar grammar is parsed; this endpoint accepts `ip_address =` and `ip_address IN`),
//! `fields`, `SEC` or Basic auth, `Range: items=x-y` paging, QRadar's error body.

mod error;
pub mod filter;
mod handlers;
mod model;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/services/geolocations",
        get(handlers::handle_geolocations),
    )
}
