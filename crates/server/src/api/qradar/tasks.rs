//! QRadar's asynchronous tasks: `POST /api/services/{dns_lookups|dig_lookups|whois_lookups|port_scans}?IP=...`
//! answers 201 with the task and a `Location`; `GET /api/services/{kind}/{id}` polls it;
//! `DELETE` on the same path cancels it (an ipintel extension). Tasks belong to the key's
//! account: another account's task is "not found".

use std::net::IpAddr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::{Credential, Meter, Service};
use ipintel_core::engine::SubmitError;
use ipintel_core::jobs::{Job, JobKind};
use ipintel_core::ErrorKind;
use serde::Deserialize;

use super::error::{self, QradarError};
use crate::render::fields::{self, Field, Schema};
use crate::state::AppState;

pub const SCHEMA: Schema = Schema::obj(&[
    ("id", Schema::INT),
    ("ip", Schema::STR),
    ("message", Schema::STR),
    ("status", Schema::STR),
]);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskParams {
    #[serde(rename = "IP")]
    ip: Option<String>,
    fields: Option<String>,
}

fn kind(path: &str, state: &AppState) -> Result<JobKind, QradarError> {
    let unavailable = |what: &str| {
        QradarError::new(
            ErrorKind::NotFound,
            error::NOT_FOUND,
            format!("{what} are not available on this server"),
            "The endpoint does not exist.",
        )
    };
    match path {
        "dns_lookups" => Ok(JobKind::DnsLookup),
        "dig_lookups" => Ok(JobKind::Dig),
        "whois_lookups" => Ok(JobKind::Whois),
        // As on QRadar SaaS: a server without scanning answers 404.
        "port_scans" if state.config.tasks.port_scan.enabled => Ok(JobKind::PortScan),
        "port_scans" => Err(unavailable("port scans")),
        other => Err(unavailable(other)),
    }
}

async fn meter(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<std::sync::Arc<Meter>, QradarError> {
    let key = super::handlers::key(headers).ok_or_else(|| {
        QradarError::new(
            ErrorKind::Unauthenticated,
            error::UNAUTHORIZED,
            "a SEC header or Basic credentials are required",
            "The request could not be authenticated.",
        )
    })?;
    state
        .engine
        .authenticate(
            Credential {
                account_id: None,
                key: &key,
            },
            Service::Tasks,
        )
        .await
        .map_err(QradarError::from_access)
}

fn selection(text: Option<&str>) -> Result<Option<Vec<Field>>, QradarError> {
    text.map(|text| {
        let selection = fields::parse(text)?;
        fields::validate(&selection, &SCHEMA)?;
        Ok::<_, fields::FieldsError>(selection)
    })
    .transpose()
    .map_err(|e| QradarError::parameter(e.to_string()))
}

fn render(job: &Job, selection: Option<&[Field]>, status: StatusCode) -> Response {
    let mut value = serde_json::json!({
        "id": job.id,
        "ip": job.target,
        "message": job.message.as_deref().unwrap_or(""),
        "status": job.status.as_str(),
    });
    if let Some(selection) = selection {
        fields::apply(&mut value, selection);
    }
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

fn store_error(e: ipintel_core::store::StoreError) -> QradarError {
    if e.kind() == ErrorKind::Unavailable {
        tracing::warn!(error = %e, "job store cannot take writes now");
        return QradarError::new(
            ErrorKind::Unavailable,
            error::INTERNAL,
            "the task store cannot take writes now (full disk or busy); try again later",
            "Service temporarily unavailable.",
        );
    }
    tracing::error!(error = %e, "job store failed");
    QradarError::new(
        ErrorKind::Internal,
        error::INTERNAL,
        "an internal error occurred while creating the task",
        "Internal error.",
    )
}

pub async fn handle_create_task(
    State(state): State<AppState>,
    Path(kind_text): Path<String>,
    params: Result<Query<TaskParams>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let kind = kind(&kind_text, &state)?;
        let meter = meter(&state, &headers).await?;
        let Query(params) = params.map_err(|e| QradarError::parameter(format!("query string: {}", e.body_text())))?;
        let selection = selection(params.fields.as_deref())?;
        let text = params.ip.ok_or_else(|| QradarError::parameter("the IP parameter is required"))?;
        let ip: IpAddr = text.trim().parse().map_err(|_| {
            QradarError::new(ErrorKind::InvalidInput, error::INVALID_IP, format!("{text:?} is not a valid IP address"), "The provided IP address is invalid.")
        })?;
        if kind == JobKind::PortScan && !state.config.tasks.port_scan.allowed_networks.iter().any(|n| n.contains(&ip)) {
            return Err(QradarError::parameter(format!(
                "{ip} is outside the networks this server may scan (tasks.port_scan.allowed_networks)"
            )));
        }
        let job = state
            .engine
            .submit_task(&meter, kind, &ip.to_string())
            .await
            .map_err(|e| match e {
                SubmitError::Access(e) => QradarError::from_access(e),
                SubmitError::Store(e) => store_error(e),
            })?;
        state.jobs_wakeup.notify_one();
        let mut response = render(&job, selection.as_deref(), StatusCode::CREATED);
        let location = format!("/api/services/{kind_text}/{}", job.id);
        response
            .headers_mut()
            .insert("location", HeaderValue::from_str(&location).expect("ASCII"));
        Ok::<_, QradarError>(response)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    fields: Option<String>,
}

fn not_found(id: &str) -> QradarError {
    QradarError::new(
        ErrorKind::NotFound,
        error::NOT_FOUND,
        format!("no task {id}"),
        "The task does not exist.",
    )
}

async fn find(
    state: &AppState,
    headers: &HeaderMap,
    kind_text: &str,
    id_text: &str,
    cancel: bool,
) -> Result<Job, QradarError> {
    let meter = meter(state, headers).await?;
    let kind = kind(kind_text, state)?;
    let id: u64 = id_text.parse().map_err(|_| not_found(id_text))?;
    // The kind is checked before anything changes: a task id under another kind's path
    // (or a bulk request's id) is not found, and not cancelled.
    let found = if cancel {
        state.engine.cancel_job(&meter, kind, id).await
    } else {
        state.engine.job(&meter, Some(kind), id).await
    };
    found
        .map_err(store_error)?
        .ok_or_else(|| not_found(id_text))
}

pub async fn handle_get_task(
    State(state): State<AppState>,
    Path((kind_text, id_text)): Path<(String, String)>,
    params: Result<Query<GetParams>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let Query(params) = params
            .map_err(|e| QradarError::parameter(format!("query string: {}", e.body_text())))?;
        let selection = selection(params.fields.as_deref())?;
        let job = find(&state, &headers, &kind_text, &id_text, false).await?;
        Ok::<_, QradarError>(render(&job, selection.as_deref(), StatusCode::OK))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn handle_cancel_task(
    State(state): State<AppState>,
    Path((kind_text, id_text)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match find(&state, &headers, &kind_text, &id_text, true).await {
        Ok(job) => render(&job, None, StatusCode::OK),
        Err(e) => e.into_response(),
    }
}
