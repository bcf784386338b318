//! Operations endpoints: liveness, readiness, metrics, and the admin reload.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// Health, metrics, the index and the OpenAPI document (plain-text refusals).
pub const OPS: crate::http::Dialect = crate::http::Dialect::plain("ops");
/// The admin endpoints.
pub const ADMIN: crate::http::Dialect = crate::http::Dialect::plain("admin");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(handle_index))
        .route("/openapi.json", get(handle_openapi))
        .route("/healthz", get(handle_healthz))
        .route("/readyz", get(handle_readyz))
        .route("/metrics", get(handle_metrics))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new().route("/admin/reload", post(handle_reload))
}

/// `GET /`: what this server is and where to go next, for a person who opens it in a browser
/// or curls it before reading anything.
async fn handle_index(State(state): State<AppState>) -> Response {
    let set = state.geo.snapshot();
    let mut text = format!(
        "ipintel {version}: self-hosted IP intelligence\n\n",
        version = env!("CARGO_PKG_VERSION")
    );
    text.push_str("Databases:\n");
    if set.dbs.is_empty() {
        text.push_str("  none loaded yet (lookups answer 503; run scripts/fetch-data.sh)\n");
    }
    for db in &set.dbs {
        text.push_str(&format!("  {} ({})\n", db.database_type, db.kind));
    }
    text.push_str(
        "\nAPIs (every one needs a key: `ipintel keys create`):\n\
         \x20 GET  /geoip/v2.1/{country,city,insights}/{ip}   MaxMind GeoIP2 web services (HTTP Basic ACCOUNT_ID:KEY)\n\
         \x20 GET  /v2/{key}/{ip[,ip...]}                      DB-IP API v2\n\
         \x20 GET  /api/services/geolocations?filter=...      QRadar geolocations (header SEC: KEY)\n\
         \x20 POST /api/services/{whois,dns,dig,port_scan}...  QRadar network tasks\n\
         \x20 GET  /v1/ip/{ip}, POST /v1/batch                 ipintel's own API (JSON, XML, CSV)\n\
         \x20 POST /api/bgservice/request                      bulk requests, WhoisXML style\n\
         \nEvery operation, typed: /openapi.json\n\
         Health: /healthz (process), /readyz (databases and store); metrics: /metrics\n\
         Documentation: docs/ in the source tree (README.md first)\n",
    );
    (
        StatusCode::OK,
        [("content-type", "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn handle_openapi() -> Response {
    let document = crate::http::openapi::document(&super::operations());
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        document.to_string(),
    )
        .into_response()
}

pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::Operation;
    let op =
        |method, path, summary, security, responses: Vec<(u16, &'static str)>, content_type| {
            Operation {
                method,
                path,
                tag: "operations",
                summary,
                security,
                params: vec![],
                responses,
                schema: None,
                content_type,
                also: &[],
                error: crate::http::openapi::TEXT_ERROR,
                body: None,
            }
        };
    vec![
        op(
            "GET",
            "/",
            "What this server serves, with links",
            &[],
            vec![(200, "a short plain-text index")],
            "text/plain",
        ),
        op(
            "GET",
            "/openapi.json",
            "This document",
            &[],
            vec![(200, "OpenAPI 3.1")],
            "application/json",
        ),
        op(
            "GET",
            "/healthz",
            "Liveness",
            &[],
            vec![(200, "serving")],
            "text/plain",
        ),
        op(
            "GET",
            "/readyz",
            "Readiness: databases loaded and store reachable",
            &[],
            vec![(200, "ready"), (503, "not ready")],
            "text/plain",
        ),
        op(
            "GET",
            "/metrics",
            "Prometheus metrics (behind the admin token when one is set)",
            &[],
            vec![(200, "OpenMetrics text"), (403, "admin token required")],
            "application/openmetrics-text",
        ),
        op(
            "POST",
            "/admin/reload",
            "Reload the databases now",
            &["adminBearer"],
            vec![
                (200, "reloaded"),
                (403, "not allowed"),
                (422, "a database failed; the old set serves"),
            ],
            "text/plain",
        ),
    ]
}

async fn handle_healthz() -> Response {
    text(StatusCode::OK, "ok\n".into())
}

/// Ready when at least one database serves and the store answers.
async fn handle_readyz(State(state): State<AppState>) -> Response {
    let set = state.geo.snapshot();
    if set.dbs.is_empty() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no GeoIP database loaded\n".into(),
        );
    }
    if let Err(e) = state.accounts.store().revision().await {
        tracing::error!(error = %e, "store check failed");
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable\n".into(),
        );
    }
    // Stale data still answers (readiness stays 200, so a load balancer keeps the node),
    // but the body says so in its first line for monitors and operators.
    let mut body = match state.geo.stale() {
        Some(why) => format!(
            "ready (stale): generation {}; a changed database was rejected: {why}\n",
            set.generation
        ),
        None => format!("ready: generation {}\n", set.generation),
    };
    for db in &set.dbs {
        body.push_str(&format!(
            "{} {} {}\n",
            db.kind,
            db.database_type,
            db.path.display()
        ));
    }
    text(StatusCode::OK, body)
}

/// `GET /metrics`: open when no admin token is set; behind it when one is.
async fn handle_metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if state.config.admin.token.is_some() && !admin_allowed(&state, peer, &headers) {
        return forbidden();
    }
    let set = state.geo.snapshot();
    state.metrics.geo_generation.set(set.generation as i64);
    state.metrics.set_cache(set.cache_stats());
    state
        .metrics
        .live_keys
        .set(state.accounts.n_live_keys() as i64);
    (
        StatusCode::OK,
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Whether a caller may use the admin endpoints: with `Authorization: Bearer <admin.token>`,
/// or from a loopback address when `admin.trust_loopback` says so. Loopback is not trusted
/// by default: behind a reverse proxy on the same host every client is loopback.
fn admin_allowed(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    let admin = &state.config.admin;
    let bearer = admin.token.as_ref().is_some_and(|token| {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
    });
    bearer || (admin.trust_loopback && peer.ip().to_canonical().is_loopback())
}

fn forbidden() -> Response {
    text(
        StatusCode::FORBIDDEN,
        "this endpoint needs Authorization: Bearer <admin.token>, or admin.trust_loopback = true for callers on loopback (SIGHUP also reloads the databases)\n".into(),
    )
}

/// `POST /admin/reload`: reopen the databases now, even if no file changed.
async fn handle_reload(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !admin_allowed(&state, peer, &headers) {
        return forbidden();
    }
    match super::reload::reload_geo(&state, true).await {
        Ok(generation) => text(
            StatusCode::OK,
            format!("reloaded: generation {generation}\n"),
        ),
        Err(e) => text(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload failed, the previous databases keep serving: {e}\n"),
        ),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
