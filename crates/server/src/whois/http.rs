//! The whois front end's HTTP mirror, `GET /v1/whois?q=`: one query answered as the TCP
//! port would, for clients behind firewalls. Mounted by the app under this front end's
//! own marker.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ipintel_core::ErrorKind;

use crate::http::openapi::{In, Operation, Param, ParamType};
use crate::state::AppState;

/// The mirror's marker: plain-text refusals, its own metrics label.
pub const DIALECT: crate::http::Dialect = crate::http::Dialect::plain("whois");

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/whois", get(handle_whois))
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation {
            method: "GET",
            path: "/v1/whois",
            tag: "whois",
            summary: "One whois query (RIPE flags or an IRRd ! command) over HTTP",
            security: &[],
            params: vec![Param {
                name: "q",
                location: In::Query,
                required: true,
                description: "the query line, as sent to the whois port (docs/whois.md)",
                example: "!gAS64496",
                kind: ParamType::Text,
            }],
            responses: vec![
                (200, "the answer's payload, without framing or banner"),
                (204, "a valid query with nothing to show"),
                (400, "the query was refused (the F message or %ERROR block), or q is missing, not UTF-8 or too long"),
                (429, "the client's whois query rate is spent"),
                (503, "the registry is loading"),
            ],
            schema: None,
            content_type: "text/plain",
            also: &[],
            error: crate::http::openapi::TEXT_ERROR,
            body: None,
        },
    ]
}

/// `q` of a query string: `Ok(None)` when absent, `Err` for another parameter or a value
/// that is not UTF-8 once decoded.
fn whois_param(raw: Option<&str>) -> Result<Option<String>, String> {
    let mut q = None;
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "q" {
            return Err(format!("unknown parameter {name:?}; the only one is q"));
        }
        let spaced = value.replace('+', " ");
        let decoded = percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map_err(|_| "q is not UTF-8".to_string())?;
        q = Some(decoded.into_owned());
    }
    Ok(q)
}

/// A plain-text answer of the whois mirror with the status of `kind` (or 200).
fn whois_text(kind: Option<ErrorKind>, text: String) -> Response {
    let status = kind.map_or(StatusCode::OK, crate::http::error::status);
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /v1/whois?q=QUERY`: one whois query (RIPE flags or an IRRd `!` command) over
/// HTTP, for clients behind firewalls. Open, like whois on TCP, and under the same
/// per-client query rate. 200 with the payload, 204 when there is nothing, 400 for a
/// refused query, 429 past the rate, 503 while the registry loads.
async fn handle_whois(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let q = match whois_param(uri.query()) {
        Ok(Some(q)) if !q.trim().is_empty() => q,
        Ok(_) => {
            return whois_text(
                Some(ErrorKind::MissingInput),
                "Missing the query: /v1/whois?q=QUERY\n".into(),
            )
        }
        Err(why) => {
            return whois_text(
                Some(ErrorKind::InvalidInput),
                format!("Invalid parameters: {why}\n"),
            )
        }
    };
    if q.len() > state.config.whois.max_line_bytes || q.contains(['\n', '\r']) {
        return whois_text(
            Some(ErrorKind::InvalidInput),
            format!(
                "The query must be one line of at most {} bytes\n",
                state.config.whois.max_line_bytes
            ),
        );
    }
    if !state.registry.current().loaded {
        return whois_text(
            Some(ErrorKind::Unavailable),
            "The registry is loading; try again shortly\n".into(),
        );
    }
    let client = crate::http::client_ip(&state, peer, &headers);
    match super::answer_http(&state, client, &q).await {
        None => whois_text(
            Some(ErrorKind::TooManyRequests),
            format!("Access denied for {client}: too many queries\n"),
        ),
        Some((super::Outcome::Empty, _)) => StatusCode::NO_CONTENT.into_response(),
        Some((super::Outcome::Error, text)) => {
            whois_text(Some(ErrorKind::InvalidInput), with_newline(text))
        }
        Some((super::Outcome::Data, text)) => whois_text(None, with_newline(text)),
    }
}

fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
