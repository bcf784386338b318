//! HTTP front end: router assembly, middleware, the accept loop.
//!
//! Invariant: dialects under `api/` never see each other; everything they share (status
//! mapping, the caller's address, metrics) lives here.

pub mod error;
pub mod locale;
pub mod openapi;
mod ops;
mod serve;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

pub use serve::{serve, tls_acceptor, TlsAcceptor};

use crate::state::AppState;

/// Every route ipintel serves.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::api::maxmind::routes())
        .merge(crate::api::dbip::routes())
        .merge(crate::api::qradar::routes())
        .merge(crate::api::v1::routes())
        .merge(crate::api::whoisxml::routes())
        .merge(ops::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.http.max_body_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

/// Which dialect a path belongs to, for metrics labels.
fn dialect_of(path: &str) -> &'static str {
    if path.starts_with("/geoip/") {
        "maxmind"
    } else if path == "/v2" || path.starts_with("/v2/") {
        "dbip"
    } else if path.starts_with("/api/services/") {
        "qradar"
    } else if path.starts_with("/v1/") {
        "v1"
    } else if path.starts_with("/api/bgservice/") {
        "bulk"
    } else if path.starts_with("/admin/") {
        "admin"
    } else if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        "ops"
    } else {
        "other"
    }
}

/// Times each request, enforces the body limit and the request timeout, records metrics.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let dialect = dialect_of(request.uri().path());
    if let Some(status) = body_too_large(&request, state.config.http.max_body_bytes, dialect) {
        state
            .metrics
            .observe_request(dialect, status.as_u16(), started.elapsed());
        return status.into_response();
    }
    let limit = Duration::from_secs(state.config.http.request_timeout_secs);
    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(dialect, "request timed out");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    };
    state
        .metrics
        .observe_request(dialect, response.status().as_u16(), started.elapsed());
    response
}

/// A declared body over the limit is refused before any handler runs: 403 for MaxMind's
/// API (its documented status, without a body), 413 elsewhere. A body without a length
/// (chunked) is capped by `DefaultBodyLimit` where a handler reads it. The bulk API has its
/// own limit (`bulk.max_body_bytes`) and error body, so its handlers check.
fn body_too_large(request: &Request, max: usize, dialect: &str) -> Option<StatusCode> {
    if dialect == "bulk" {
        return None;
    }
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    (declared > max as u64).then_some(if dialect == "maxmind" {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::PAYLOAD_TOO_LARGE
    })
}

/// The address a request comes from, for `me`: the peer, or, when the peer is a trusted
/// proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.ip();
    let trusted = &state.config.http.trusted_proxies;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return canonical(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return canonical(peer);
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                // A malformed chain can't be trusted past the proxy that sent it.
                Err(_) => return canonical(peer),
            }
        }
    }
    let client = hops
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer);
    canonical(client)
}

/// IPv4 peers on a dual-stack socket arrive as `::ffff:a.b.c.d`; report them as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}
