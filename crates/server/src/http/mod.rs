//! The HTTP kit under every dialect: middleware (body limit and budget, timeout, panics,
//! metrics), the caller's address, Basic credentials, locale negotiation, the OpenAPI
//! types, the one status table, and hyper per connection. Imports no front end: the app
//! assembles the routes.
//!
//! Invariant: dialects under `api/` never see each other; everything they share (status
//! mapping, the caller's address, metrics) lives here.

pub mod error;
pub mod locale;
pub mod openapi;
mod serve;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::{FutureExt, StreamExt};
use ipintel_core::ErrorKind;

pub use serve::Http;

use crate::limits::budget;
use crate::state::AppState;

/// Which front end a route belongs to, attached to its routes by the app: its metrics label
/// and how it refuses a request the HTTP layer answers itself (a body too large, the body
/// budget, a timeout, a panic), in its own error format. No path is ever guessed.
#[derive(Debug)]
pub struct Dialect {
    pub name: &'static str,
    pub refuse: fn(ErrorKind, String) -> Response,
    /// MaxMind documents 403 without a body for a declared body over the limit.
    pub forbidden_when_too_large: bool,
    /// The bulk API checks its own, larger body limit and answers in its own format.
    pub own_body_limit: bool,
}

impl Dialect {
    /// A front end whose refusals are plain text (the ops endpoints).
    pub const fn plain(name: &'static str) -> Dialect {
        Dialect {
            name,
            refuse: plain_refusal,
            forbidden_when_too_large: false,
            own_body_limit: false,
        }
    }
}

fn plain_refusal(kind: ErrorKind, message: String) -> Response {
    (
        error::status(kind),
        [("content-type", "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// `routes` of one front end with what each of its requests gets: the body limit and
/// budget, the request timeout, panics as 500s, metrics, all in `dialect`'s terms.
pub fn observed(
    routes: Router<AppState>,
    state: AppState,
    dialect: &'static Dialect,
) -> Router<AppState> {
    routes.layer(axum::middleware::from_fn_with_state(
        (state, dialect),
        observe,
    ))
}

/// The whole router: every front end's observed routes, the 404 fallback, the body cap.
pub fn layered(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.http.max_body_bytes,
        ))
        .with_state(state)
}

/// The (user, password) of an `Authorization: Basic` header, if it holds one that decodes.
/// Dialects give the parts their own meaning (QRadar: the password is the key; RIPE: a
/// maintainer's password).
pub fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(user, password)| (user.to_owned(), password.to_owned()))
}

async fn not_found(State(state): State<AppState>) -> Response {
    state.metrics.observe_request("other", 404, Duration::ZERO);
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

/// Times each request, enforces the body limit, the body memory budget and the request
/// timeout, turns a handler panic into a 500, records metrics.
async fn observe(
    State((state, marker)): State<(AppState, &'static Dialect)>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let dialect = marker.name;
    if let Some(response) = body_too_large(&request, state.config.http.max_body_bytes, marker) {
        state
            .metrics
            .observe_request(dialect, response.status().as_u16(), started.elapsed());
        return response;
    }
    let (request, reservation) = count_body(&state, request);
    let limit = Duration::from_secs(state.config.http.request_timeout_secs);
    // A panic in a handler is a bug, but it must not cost the client its answer (or the
    // connection): it becomes a 500 and an error log line.
    let handler = std::panic::AssertUnwindSafe(next.run(request)).catch_unwind();
    let response = match tokio::time::timeout(limit, handler).await {
        Ok(Ok(response)) => response,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(dialect, panic = %what, "handler panicked; answered 500");
            state.metrics.panics.inc();
            (marker.refuse)(ErrorKind::Internal, "internal error".into())
        }
        Err(_) => {
            tracing::warn!(dialect, "request timed out");
            (marker.refuse)(
                ErrorKind::Unavailable,
                format!("the request took longer than {} s", limit.as_secs()),
            )
        }
    };
    // Whatever the handler made of a body cut off by the budget, the client is told why.
    let response = match reservation.as_ref().and_then(|r| r.refused()) {
        Some(refusal) => {
            state.metrics.body_budget_refusals.inc();
            tracing::warn!(dialect, %refusal, "request body refused");
            budget_refused(marker, refusal)
        }
        None => response,
    };
    drop(reservation);
    state
        .metrics
        .observe_request(dialect, response.status().as_u16(), started.elapsed());
    response
}

/// Count the request's body against the budget as it arrives. The reservation is given
/// back when the caller drops it, after the response is made.
fn count_body(state: &AppState, request: Request) -> (Request, Option<Arc<budget::Reservation>>) {
    // Most requests (every GET) have no body: nothing to count, nothing to allocate.
    if axum::body::HttpBody::is_end_stream(request.body()) {
        return (request, None);
    }
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let client = client_ip(state, peer, request.headers());
    let reservation = Arc::new(state.body_budget.reservation(client));
    let (parts, body) = request.into_parts();
    let counter = reservation.clone();
    let counted = body.into_data_stream().map(move |frame| {
        let data = frame.map_err(axum::BoxError::from)?;
        counter.take(data.len() as u64)?;
        Ok::<_, axum::BoxError>(data)
    });
    (
        Request::from_parts(parts, axum::body::Body::from_stream(counted)),
        Some(reservation),
    )
}

/// The answer to a request whose body the budget refused: 503 when the server as a whole
/// holds too much, 429 when this client does; both say when to try again.
fn budget_refused(dialect: &Dialect, refusal: budget::Refusal) -> Response {
    let kind = match refusal {
        budget::Refusal::Total => ErrorKind::Unavailable,
        budget::Refusal::Client => ErrorKind::TooManyRequests,
    };
    let mut response = (dialect.refuse)(kind, format!("request body refused: {refusal}"));
    let headers = response.headers_mut();
    headers.insert("retry-after", axum::http::HeaderValue::from_static("1"));
    headers.insert("connection", axum::http::HeaderValue::from_static("close"));
    response
}

/// A declared body over the limit is refused before any handler runs: 403 for MaxMind's
/// API (its documented status, without a body), 413 elsewhere. A body without a length
/// (chunked) is capped by `DefaultBodyLimit` where a handler reads it. The bulk API has its
/// own limit (`bulk.max_body_bytes`) and error body, so its handlers check.
fn body_too_large(request: &Request, max: usize, dialect: &Dialect) -> Option<Response> {
    if dialect.own_body_limit {
        return None;
    }
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    (declared > max as u64).then(|| {
        if dialect.forbidden_when_too_large {
            StatusCode::FORBIDDEN.into_response()
        } else {
            (dialect.refuse)(
                ErrorKind::TooLarge,
                format!("the request body is {declared} bytes; at most {max} are accepted (http.max_body_bytes)"),
            )
        }
    })
}

/// The address a request comes from, for `me`: the peer, or, when the peer is a trusted
/// proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.ip();
    let trusted = &state.config.http.trusted_proxies;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return crate::limits::canonical(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return crate::limits::canonical(peer);
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                // A malformed chain can't be trusted past the proxy that sent it.
                Err(_) => return crate::limits::canonical(peer),
            }
        }
    }
    let client = hops
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer);
    crate::limits::canonical(client)
}
