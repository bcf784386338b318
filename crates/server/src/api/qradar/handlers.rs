//! `GET /api/services/geolocations?filter=...&fields=...` with `SEC` or Basic auth and
//! `Range: items=x-y` paging.

use std::net::IpAddr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::{Credential, Service};
use ipintel_core::engine::{Cost, LookupPolicy, MissingPolicy, ReservedPolicy};
use ipintel_core::ErrorKind;

use super::error::{self, QradarError};
use super::filter::{self, Filter, Op, Value};
use super::model::{GeolocationJson, SCHEMA};
use crate::render::fields;
use crate::state::AppState;

pub async fn handle_geolocations(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    match geolocations(&state, query, &headers).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The key: `SEC: <key>`, or Basic auth whose password is the key (the user is ignored).
pub(super) fn key(headers: &HeaderMap) -> Option<String> {
    if let Some(sec) = headers.get("sec").and_then(|v| v.to_str().ok()) {
        return Some(sec.trim().to_owned());
    }
    crate::http::basic_auth(headers).map(|(_, key)| key)
}

/// The addresses a geolocation filter names: only `ip_address = "..."` and
/// `ip_address IN ("...", ...)` are supported here (QRadar's API documentation).
fn addresses(filter: &Filter) -> Result<Vec<&str>, QradarError> {
    let unsupported = || {
        QradarError::parameter(
            r#"only ip_address = "<address>" or ip_address IN ("<address>", ...) is supported here"#,
        )
    };
    let text = |v: &'_ Value| -> Result<(), QradarError> {
        match v {
            Value::Str(_) => Ok(()),
            other => Err(QradarError::parameter(format!(
                "addresses must be quoted strings, got {other}"
            ))),
        }
    };
    match filter {
        Filter::Compare {
            field,
            op: Op::Eq,
            value,
        } if field == "ip_address" => {
            text(value)?;
            let Value::Str(s) = value else {
                unreachable!("checked")
            };
            Ok(vec![s.as_str()])
        }
        Filter::In {
            field,
            negated: false,
            values,
        } if field == "ip_address" => values
            .iter()
            .map(|v| {
                text(v)?;
                let Value::Str(s) = v else {
                    unreachable!("checked")
                };
                Ok(s.as_str())
            })
            .collect(),
        _ => Err(unsupported()),
    }
}

/// `Range: items=x-y` (0-based, inclusive; spaces tolerated).
fn range(headers: &HeaderMap) -> Result<Option<(usize, usize)>, QradarError> {
    let Some(value) = headers.get("range") else {
        return Ok(None);
    };
    let bad = || QradarError::parameter("Range must be items=<first>-<last>");
    let text = value.to_str().map_err(|_| bad())?.trim();
    let spec = text.strip_prefix("items").ok_or_else(bad)?.trim_start();
    let spec = spec.strip_prefix('=').ok_or_else(bad)?.trim();
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let first: usize = first.trim().parse().map_err(|_| bad())?;
    let last: usize = last.trim().parse().map_err(|_| bad())?;
    if last < first {
        return Err(bad());
    }
    Ok(Some((first, last)))
}

/// QRadar leaves out addresses nothing knows (failing only when that is all of them), and
/// charges one query per address answered.
const POLICY: LookupPolicy = LookupPolicy {
    reserved: ReservedPolicy::Answer,
    missing: MissingPolicy::Skip,
    cost: Cost::PerAnswer,
    places: ipintel_core::geo::PlaceForm::Decoded,
};

async fn geolocations(
    state: &AppState,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Response, QradarError> {
    let key = key(headers).ok_or_else(|| {
        QradarError::new(
            ErrorKind::Unauthenticated,
            error::UNAUTHORIZED,
            "a SEC header or Basic credentials are required",
            "The request could not be authenticated.",
        )
    })?;
    let meter = state
        .engine
        .authenticate(
            Credential {
                account_id: None,
                key: &key,
            },
            Service::City,
        )
        .await
        .map_err(QradarError::from_access)?;

    let Query(params) = query.map_err(|e| QradarError::parameter(format!("query string: {e}")))?;
    let mut filter_text = None;
    let mut fields_text = None;
    for (name, value) in &params {
        let slot = match name.as_str() {
            "filter" => &mut filter_text,
            "fields" => &mut fields_text,
            other => {
                return Err(QradarError::parameter(format!(
                    "unknown parameter {other:?}"
                )))
            }
        };
        if slot.replace(value.as_str()).is_some() {
            return Err(QradarError::parameter(format!("{name} is given twice")));
        }
    }
    let filter_text = filter_text
        .ok_or_else(|| QradarError::parameter("a filter naming ip_address is required"))?;
    let filter = filter::parse(filter_text).map_err(|e| QradarError::parameter(e.to_string()))?;
    let selection = fields_text
        .map(|text| {
            let selection = fields::parse(text)?;
            fields::validate(&selection, &SCHEMA)?;
            Ok::<_, fields::FieldsError>(selection)
        })
        .transpose()
        .map_err(|e| QradarError::parameter(e.to_string()))?;
    let paging = range(headers)?;

    let plan = meter.plan();
    let texts = addresses(&filter)?;
    if texts.len() > plan.batch_limit as usize {
        return Err(QradarError::parameter(format!(
            "{} addresses in one filter; this key's plan allows {}",
            texts.len(),
            plan.batch_limit
        )));
    }
    let mut ips: Vec<IpAddr> = Vec::with_capacity(texts.len());
    for text in texts {
        let ip: IpAddr = text.trim().parse().map_err(|_| {
            QradarError::new(
                ErrorKind::InvalidInput,
                error::INVALID_IP,
                format!("{text:?} is not a valid IP address"),
                "The provided IP address is invalid.",
            )
        })?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }

    let mut found = state
        .engine
        .lookup(&meter, &ips, POLICY, |answers| {
            answers
                .located
                .iter()
                .map(|entry| {
                    serde_json::to_value(GeolocationJson::new(&entry.answer, entry.local))
                        .expect("serialisable")
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| QradarError::from_lookup(e, &ips))?;

    let total = found.len();
    let mut content_range = None;
    if let Some((first, last)) = paging {
        if first >= total {
            found.clear();
            content_range = Some(format!("items */{total}"));
        } else {
            let last = last.min(total - 1);
            found = found.drain(first..=last).collect();
            content_range = Some(format!("items {first}-{last}/{total}"));
        }
    }
    let mut body = serde_json::Value::Array(found);
    if let Some(selection) = &selection {
        fields::apply(&mut body, selection);
    }
    let mut response = (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    if let Some(range) = content_range {
        response.headers_mut().insert(
            "content-range",
            HeaderValue::from_str(&range).expect("ASCII"),
        );
    }
    Ok(response)
}
