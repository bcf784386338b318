//! Parse, look up, render in the requested format.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::{Credential, Meter, Service};
use ipintel_core::engine::{Cost, LookupPolicy, MissingPolicy, ReservedPolicy};
use ipintel_core::ErrorKind;
use serde::Deserialize;
use serde_json::Value;

use super::error::V1Error;
use super::model::{RecordJson, SCHEMA};
use crate::render::fields::{self, Field};
use crate::render::{csv, xml};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    fields: Option<String>,
    lang: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
    Csv,
}

/// What a request asked for, checked.
struct Request {
    selection: Option<Vec<Field>>,
    lang: &'static str,
    format: Format,
}

fn options(
    params: Result<Query<Params>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Request, V1Error> {
    let Query(params) =
        params.map_err(|e| V1Error::parameter(format!("query string: {}", e.body_text())))?;
    let selection = params
        .fields
        .as_deref()
        .map(|text| {
            let selection = fields::parse(text)?;
            fields::validate(&selection, &SCHEMA)?;
            Ok::<_, fields::FieldsError>(selection)
        })
        .transpose()
        .map_err(|e| V1Error::parameter(e.to_string()))?;
    let lang = match params.lang.as_deref() {
        Some(lang) => crate::http::locale::LOCALES
            .iter()
            .copied()
            .find(|l| l.eq_ignore_ascii_case(lang))
            .ok_or_else(|| {
                V1Error::parameter(format!(
                    "lang {lang:?} is not one of {}",
                    crate::http::locale::LOCALES.join(", ")
                ))
            })?,
        None => crate::http::locale::negotiate(
            headers.get("accept-language").and_then(|v| v.to_str().ok()),
        )
        .map_err(|e| V1Error::parameter(format!("Accept-Language: {e}")))?,
    };
    let format = match params.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "xml" => Format::Xml,
        "csv" => Format::Csv,
        other => {
            return Err(V1Error::parameter(format!(
                "format {other:?} is not json, xml or csv"
            )))
        }
    };
    Ok(Request {
        selection,
        lang,
        format,
    })
}

async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<std::sync::Arc<Meter>, V1Error> {
    authenticate_for(state, headers, Service::City).await
}

async fn authenticate_for(
    state: &AppState,
    headers: &HeaderMap,
    service: Service,
) -> Result<std::sync::Arc<Meter>, V1Error> {
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .ok_or_else(|| {
            V1Error::new(
                ErrorKind::Unauthenticated,
                "unauthorized",
                "an API key is required (Authorization: Bearer or X-API-Key)",
            )
        })?;
    state
        .engine
        .authenticate(
            Credential {
                account_id: None,
                key,
            },
            service,
        )
        .await
        .map_err(V1Error::from_access)
}

/// `GET /v1/jobs/{id}`: a task with its structured result (the QRadar view has only the
/// human-readable message).
pub async fn handle_job(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let meter = authenticate_for(&state, &headers, Service::Tasks).await?;
        let not_found =
            |id: &str| V1Error::new(ErrorKind::NotFound, "not_found", format!("no job {id}"));
        let Path(text) = id.map_err(|e| V1Error::parameter(e.body_text()))?;
        let id: u64 = text.parse().map_err(|_| not_found(&text))?;
        let job = state
            .engine
            .job(&meter, None, id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "job store failed");
                V1Error::new(ErrorKind::Internal, "internal", "internal error")
            })?
            // Bulk requests have their own API.
            .filter(|job| job.kind != ipintel_core::jobs::JobKind::Bulk)
            .ok_or_else(|| not_found(&text))?;
        let result: Option<Value> = job
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok());
        let body = serde_json::json!({
            "id": job.id,
            "kind": job.kind.as_str(),
            "ip": job.target,
            "status": job.status.as_str(),
            "message": job.message,
            "result": result,
            "attempts": job.attempts,
            "created_at": job.created_at,
            "finished_at": job.finished_at,
        });
        Ok::<_, V1Error>(
            (
                StatusCode::OK,
                [("content-type", "application/json; charset=utf-8")],
                body.to_string(),
            )
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// ipintel's own API answers every address, reserved and unknown ones labelled or empty.
const POLICY: LookupPolicy = LookupPolicy {
    reserved: ReservedPolicy::Answer,
    missing: MissingPolicy::Answer,
    cost: Cost::PerAnswer,
    places: ipintel_core::geo::PlaceForm::Decoded,
};

async fn lookup_all(
    state: &AppState,
    meter: &Meter,
    ips: &[IpAddr],
    request: &Request,
) -> Result<Vec<Value>, V1Error> {
    let registry = state.registry.current();
    state
        .engine
        .lookup(meter, ips, POLICY, |answers| {
            answers
                .located
                .iter()
                .map(|entry| {
                    let record =
                        RecordJson::new(&entry.answer, entry.reserved, entry.local, request.lang);
                    let mut value = serde_json::to_value(record).expect("serialisable");
                    if let (Some(covering), Some(object)) =
                        (registry.registry.covering(entry.ip), value.as_object_mut())
                    {
                        object.insert("registry".into(), super::model::registry_json(&covering));
                    }
                    if let Some(selection) = &request.selection {
                        fields::apply(&mut value, selection);
                    }
                    value
                })
                .collect()
        })
        .await
        .map_err(V1Error::from_lookup)
}

fn render(request: &Request, rows: Vec<Value>, single: bool) -> Response {
    let (content_type, body) = match request.format {
        Format::Json => {
            let value = if single {
                rows.into_iter().next().expect("one row")
            } else {
                serde_json::json!({ "results": rows })
            };
            (
                "application/json; charset=utf-8",
                value.to_string().into_bytes(),
            )
        }
        Format::Xml => {
            let body = if single {
                xml::to_xml("record", &rows[0])
            } else {
                xml::to_xml("results", &Value::Array(rows))
            };
            ("application/xml; charset=utf-8", body)
        }
        Format::Csv => (
            "text/csv; charset=utf-8",
            csv::to_csv(&rows, &csv::columns(&SCHEMA, request.selection.as_deref())),
        ),
    };
    (StatusCode::OK, [("content-type", content_type)], body).into_response()
}

fn parse_ip(text: &str) -> Result<IpAddr, V1Error> {
    text.trim().parse().map_err(|_| {
        let shown: String = text.chars().take(100).collect();
        V1Error::new(
            ErrorKind::InvalidInput,
            "invalid_ip",
            format!("{shown:?} is not an IPv4 or IPv6 address"),
        )
    })
}

pub async fn handle_ip(
    State(state): State<AppState>,
    ip: Result<Path<String>, PathRejection>,
    params: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let meter = authenticate(&state, &headers).await?;
        let request = options(params, &headers)?;
        let Path(text) =
            ip.map_err(|e| V1Error::new(ErrorKind::InvalidInput, "invalid_ip", e.body_text()))?;
        let ip = parse_ip(&text)?;
        let rows = lookup_all(&state, &meter, &[ip], &request).await?;
        Ok::<_, V1Error>(render(&request, rows, true))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    ips: Vec<String>,
}

pub async fn handle_batch(
    State(state): State<AppState>,
    params: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let result = async {
        // A chunked body past `http.max_body_bytes` is cut off here (a declared length over
        // it never reaches the handler).
        let body = body.map_err(|e| {
            V1Error::new(
                ipintel_core::ErrorKind::TooLarge,
                "body_too_large",
                format!(
                    "the request body is larger than the {} bytes accepted (http.max_body_bytes): {e}",
                    state.config.http.max_body_bytes
                ),
            )
        })?;
        let meter = authenticate(&state, &headers).await?;
        let request = options(params, &headers)?;
        let batch: BatchBody = serde_json::from_slice(&body).map_err(|e| {
            V1Error::parameter(format!(
                "body must be {{\"ips\": [\"<address>\", ...]}}: {e}"
            ))
        })?;
        let limit = meter.plan().batch_limit as usize;
        if batch.ips.is_empty() || batch.ips.len() > limit {
            return Err(V1Error::parameter(format!(
                "ips must hold 1 to {limit} addresses for this key, not {}",
                batch.ips.len()
            )));
        }
        let mut ips: Vec<IpAddr> = Vec::with_capacity(batch.ips.len());
        for text in &batch.ips {
            let ip = parse_ip(text)?;
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        let rows = lookup_all(&state, &meter, &ips, &request).await?;
        Ok::<_, V1Error>(render(&request, rows, false))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
