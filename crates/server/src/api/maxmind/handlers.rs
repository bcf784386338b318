//! Request handling: negotiate, authenticate, parse the address, look up, charge, render.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ipintel_core::accounts::Credential;
use ipintel_core::engine::{Cost, LookupPolicy, MissingPolicy, ReservedPolicy};
use ipintel_core::geo::PlaceForm;
use ipintel_core::ErrorKind;

use super::error::MaxMindError;
use super::{model, Endpoint};
use crate::state::AppState;

/// MaxMind refuses reserved and unknown addresses, charges one query per answer, and
/// renders places straight from the database (its JSON is the record's shape).
fn policy(endpoint: Endpoint) -> LookupPolicy {
    LookupPolicy {
        reserved: ReservedPolicy::Refuse,
        missing: MissingPolicy::Refuse,
        cost: Cost::PerAnswer,
        places: PlaceForm::Rendered(super::place::renderer(endpoint)),
    }
}

/// Longest address text worth parsing (an IPv6 with an embedded IPv4 and a zone fits).
const MAX_ADDRESS_LEN: usize = 100;

pub async fn handle_lookup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match lookup(&state, peer, &uri, &headers).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn lookup(
    state: &AppState,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, MaxMindError> {
    let rest = uri.path().strip_prefix("/geoip/v2.1").unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let (service_text, address) = rest.split_once('/').unwrap_or((rest, ""));
    let endpoint = Endpoint::parse(service_text).ok_or_else(|| {
        MaxMindError::new(
            ErrorKind::NotFound,
            "PATH_NOT_FOUND",
            format!("The service {service_text:?} does not exist; use country, city or insights."),
        )
    })?;
    negotiate(headers, endpoint)?;
    let (account_id, key) = basic_auth(headers)?;
    let credential = Credential {
        account_id: Some(account_id),
        key: &key,
    };
    let meter = state
        .engine
        .authenticate(credential, endpoint.service())
        .await
        .map_err(MaxMindError::from_access)?;
    let ip = parse_address(state, peer, headers, address)?;
    let body = state
        .engine
        .lookup(&meter, &[ip], policy(endpoint), |answers| {
            model::render(
                endpoint,
                &answers.located[0].answer,
                answers.remaining.queries(),
            )
        })
        .await
        .map_err(MaxMindError::from_lookup)?;
    Ok((
        StatusCode::OK,
        [("content-type", model::content_type(endpoint))],
        body,
    )
        .into_response())
}

/// `Authorization: Basic base64(account_id:license_key)` -> (account id, key).
fn basic_auth(headers: &HeaderMap) -> Result<(u64, String), MaxMindError> {
    let invalid = || {
        MaxMindError::new(
            ErrorKind::Unauthenticated,
            "AUTHORIZATION_INVALID",
            "You have supplied an invalid MaxMind account ID and/or license key in the Authorization header.",
        )
    };
    let Some(value) = headers.get("authorization") else {
        return Err(MaxMindError::new(
            ErrorKind::Unauthenticated,
            "ACCOUNT_ID_REQUIRED",
            "You have not supplied a MaxMind account ID in the Authorization header.",
        ));
    };
    let value = value.to_str().map_err(|_| invalid())?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (user, key) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
    if user.is_empty() {
        return Err(MaxMindError::new(
            ErrorKind::Unauthenticated,
            "ACCOUNT_ID_REQUIRED",
            "You have not supplied a MaxMind account ID in the Authorization header.",
        ));
    }
    if key.is_empty() {
        return Err(MaxMindError::new(
            ErrorKind::Unauthenticated,
            "LICENSE_KEY_REQUIRED",
            "You have not supplied a MaxMind license key in the Authorization header.",
        ));
    }
    let account_id: u64 = user.parse().map_err(|_| invalid())?;
    Ok((account_id, key.to_owned()))
}

fn parse_address(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    raw: &str,
) -> Result<IpAddr, MaxMindError> {
    if raw.is_empty() {
        return Err(MaxMindError::new(
            ErrorKind::MissingInput,
            "IP_ADDRESS_REQUIRED",
            "You have not supplied an IP address, which is a required field.",
        ));
    }
    let invalid = |shown: &str| {
        let shown: String = shown.chars().take(MAX_ADDRESS_LEN).collect();
        MaxMindError::new(
            ErrorKind::InvalidInput,
            "IP_ADDRESS_INVALID",
            format!("The value \"{shown}\" is not a valid IP address."),
        )
    };
    if raw.len() > 3 * MAX_ADDRESS_LEN {
        return Err(invalid(raw));
    }
    let text = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid(raw))?;
    if text == "me" {
        return Ok(crate::http::client_ip(state, peer, headers));
    }
    if text.len() > MAX_ADDRESS_LEN || text.contains('/') {
        return Err(invalid(&text));
    }
    // Java clients send IPv6 with a zone (`fe80::1%eth0`); the zone names an interface on
    // the client's host and means nothing here.
    let bare = match text.split_once('%') {
        Some((addr, _zone)) if addr.contains(':') => addr,
        _ => &text,
    };
    bare.parse::<IpAddr>().map_err(|_| invalid(&text))
}

/// `Accept` must allow JSON or this service's vendor type; `Accept-Charset` must allow UTF-8.
fn negotiate(headers: &HeaderMap, endpoint: Endpoint) -> Result<(), MaxMindError> {
    let vendor = format!(
        "application/vnd.maxmind.com-{}+json",
        endpoint.service().as_str()
    );
    for value in headers.get_all("accept") {
        let text = value
            .to_str()
            .map_err(|_| MaxMindError::Bare(StatusCode::UNSUPPORTED_MEDIA_TYPE))?;
        let acceptable = media_ranges(text).any(|range| {
            range == "*/*"
                || range == "application/*"
                || range == "application/json"
                || range == vendor
        });
        if !acceptable {
            return Err(MaxMindError::Bare(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
    }
    for value in headers.get_all("accept-charset") {
        let text = value
            .to_str()
            .map_err(|_| MaxMindError::Bare(StatusCode::NOT_ACCEPTABLE))?;
        if !media_ranges(text).any(|c| c == "utf-8" || c == "*") {
            return Err(MaxMindError::Bare(StatusCode::NOT_ACCEPTABLE));
        }
    }
    Ok(())
}

/// The lower-cased items of an `Accept`-style list, without those refused by `q=0`.
fn media_ranges(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',').filter_map(|item| {
        let mut parts = item.split(';');
        let range = parts.next()?.trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .or_else(|| p.strip_prefix("Q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                == Some(0.0)
        });
        (!range.is_empty() && !refused).then_some(range)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Result<(), MaxMindError> {
        let mut h = HeaderMap::new();
        h.insert("accept", value.parse().unwrap());
        negotiate(&h, Endpoint::City)
    }

    #[test]
    fn accept_negotiation() {
        assert!(accept("application/json").is_ok());
        assert!(
            accept("application/vnd.maxmind.com-city+json; charset=UTF-8; version=2.1").is_ok()
        );
        assert!(accept("text/html, */*;q=0.8").is_ok());
        assert!(accept("text/html").is_err());
        assert!(accept("application/vnd.maxmind.com-country+json").is_err());
        assert!(accept("application/json;q=0").is_err());
    }
}
