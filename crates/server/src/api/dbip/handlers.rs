//! Request handling: key from the path, one address or a batch, tier and locale, charge.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::{Credential, Service};
use ipintel_core::engine::{Cost, LookupPolicy, MissingPolicy, ReservedPolicy};
use ipintel_core::geo::DbKind;
use ipintel_core::ErrorKind;

use super::error::DbipError;

/// What `queriesPerDay` and `queriesLeft` say for a key without a limit: the largest
/// 32-bit count, so clients that compare them with a number keep going.
pub const UNLIMITED_QUERIES: u64 = u32::MAX as u64;
use super::model;
use crate::state::AppState;

/// Longest key worth hashing; anything longer cannot be one of ours.
const MAX_KEY_LEN: usize = 128;

pub async fn handle_request(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match answer(&state, peer, &uri, &headers).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn json(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A batch of 10 costs 9, of 50 costs 45 (DB-IP's API documentation: a 10 % bonus per full ten).
pub fn batch_cost(n: u64) -> u64 {
    n - n / 10
}

/// DB-IP answers reserved and unknown addresses (labelled, or empty) and prices a batch
/// with its 10% bonus.
const POLICY: LookupPolicy = LookupPolicy {
    reserved: ReservedPolicy::Answer,
    missing: MissingPolicy::Answer,
    cost: Cost::Rule(batch_cost),
    places: ipintel_core::geo::PlaceForm::Decoded,
};

async fn answer(
    state: &AppState,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, DbipError> {
    let rest = uri.path().strip_prefix("/v2").unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let (key, addresses) = match rest.split_once('/') {
        Some((key, addresses)) => (key, Some(addresses)),
        None => (rest, None),
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(DbipError::new(
            ErrorKind::Unauthenticated,
            "INVALID_KEY",
            "invalid API key",
        ));
    }
    let meter = state
        .engine
        .authenticate(
            Credential {
                account_id: None,
                key,
            },
            Service::Dbip,
        )
        .await
        .map_err(DbipError::from_access)?;
    let Some(addresses) = addresses else {
        // Key information; free of charge.
        let remaining = state.engine.remaining(&meter);
        let mut info = serde_json::Map::new();
        info.insert("apiKey".into(), key.into());
        // DB-IP clients read both numbers to decide whether to go on; an unlimited key says
        // so in `unlimited` and gives the largest count (docs/decisions.md), never null
        // (`null < 1` is true in JavaScript).
        let quota = meter.daily_quota();
        let left = remaining.queries();
        info.insert(
            "queriesPerDay".into(),
            quota.unwrap_or(UNLIMITED_QUERIES).into(),
        );
        info.insert(
            "queriesLeft".into(),
            left.unwrap_or(UNLIMITED_QUERIES).into(),
        );
        if quota.is_none() && left.is_none() {
            info.insert("unlimited".into(), true.into());
        }
        info.insert("status".into(), "active".into());
        return Ok(json(
            serde_json::Value::Object(info).to_string().into_bytes(),
        ));
    };

    let plan = meter.plan();
    let text = percent_encoding::percent_decode_str(addresses)
        .decode_utf8()
        .map_err(|_| DbipError::invalid_address(addresses))?;
    let items: Vec<&str> = text.split(',').collect();
    if let Some(position) = items.iter().position(|i| i.trim().is_empty()) {
        return Err(DbipError::new(
            ErrorKind::InvalidInput,
            "INVALID_ADDRESS",
            format!(
                "empty address at position {} of the list (addresses are separated by single commas)",
                position + 1
            ),
        ));
    }
    if items.len() > plan.batch_limit as usize {
        return Err(DbipError::new(
            ErrorKind::InvalidInput,
            "TOO_MANY_ADDRESSES",
            format!(
                "too many addresses: {} in one request, at most {} for this key",
                items.len(),
                plan.batch_limit
            ),
        ));
    }
    let mut ips: Vec<IpAddr> = Vec::with_capacity(items.len());
    for item in &items {
        let ip = match *item {
            "self" => crate::http::client_ip(state, peer, headers),
            text => text
                .parse::<IpAddr>()
                .map_err(|_| DbipError::invalid_address(text))?,
        };
        // Duplicates are answered (and charged) once: a batch answer is keyed by address.
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }

    let language = headers
        .get("accept-language")
        .map(|v| v.to_str().map_err(|_| "not ASCII".to_owned()))
        .transpose()
        .and_then(crate::http::locale::negotiate)
        .map_err(|reason| {
            DbipError::new(
                ErrorKind::InvalidInput,
                "INVALID_REQUEST",
                format!("Accept-Language: {reason}"),
            )
        })?;

    let mut bodies = state
        .engine
        .lookup(&meter, &ips, POLICY, |answers| {
            let set = answers.set;
            let anonymity_loaded = set.has(DbKind::AnonymousIp) || set.has(DbKind::AnonymousPlus);
            answers
                .located
                .iter()
                .map(|entry| {
                    let body = match entry.reserved {
                        Some(label) => {
                            serde_json::to_vec(&model::reserved(entry.ip, label, plan.tier))
                        }
                        None => serde_json::to_vec(&model::record(
                            &entry.answer,
                            plan.tier,
                            language,
                            anonymity_loaded,
                        )),
                    }
                    .expect("serialisable");
                    (entry.ip, body)
                })
                .collect::<Vec<(IpAddr, Vec<u8>)>>()
        })
        .await
        .map_err(DbipError::from_lookup)?;

    if items.len() == 1 {
        return Ok(json(bodies.pop().expect("one address").1));
    }
    // A batch: an object keyed by address, in request order.
    let mut out = Vec::with_capacity(bodies.iter().map(|(_, b)| b.len() + 48).sum());
    out.push(b'{');
    for (i, (ip, body)) in bodies.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &ip.to_string()).expect("serialisable");
        out.push(b':');
        out.extend_from_slice(body);
    }
    out.push(b'}');
    Ok(json(out))
}

#[cfg(test)]
mod tests {
    #[test]
    fn batch_bonus() {
        assert_eq!(super::batch_cost(1), 1);
        assert_eq!(super::batch_cost(9), 9);
        assert_eq!(super::batch_cost(10), 9);
        assert_eq!(super::batch_cost(50), 45);
        assert_eq!(super::batch_cost(256), 231);
    }
}
