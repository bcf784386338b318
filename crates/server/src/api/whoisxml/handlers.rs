//! The five bulk endpoints. Each reads the JSON body (bounded by `bulk.max_body_bytes`),
//! authenticates `apiKey`, validates every field (all problems in one 400), calls the store
//! or the engine, and renders in the requested `format`.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::{Credential, Meter, Service};
use ipintel_core::bulk::classify;
use ipintel_core::engine::SubmitError;
use ipintel_core::store::BulkStatus;
use ipintel_core::ErrorKind;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::error::{BulkError, AUTH_FAILED, WRONG_ID};
use crate::bulk::writers::{Format, Part};
use crate::state::AppState;

/// Requests with at least this many terms give their parsing memory back to the system.
const LARGE_REQUEST: u64 = 10_000;

/// The highest `page` accepted (far past any account's last page, and small enough that
/// the offset stays exact).
const MAX_PAGE: u64 = 1_000_000_000;

/// Ids one `/request/status` call may ask about.
pub const MAX_STATUS_IDS: usize = 1000;

/// A parsed body: its members, and the format answers (and errors) are rendered in.
/// `terms` stays raw JSON until `create` reads it, into strings borrowed from the body: a
/// 100,000-term request would otherwise become 100,000 `Value`s.
struct Parsed<'a> {
    fields: Map<String, Value>,
    terms: Option<&'a RawValue>,
    format: Format,
}

/// Read the body, refusing more than `bulk.max_body_bytes` (declared or sent).
async fn read_bytes(state: &AppState, request: Request) -> Result<Bytes, BulkError> {
    let limit = state.config.bulk.max_body_bytes;
    let too_large = || {
        BulkError::invalid(vec![format!(
            "The request body is larger than {limit} bytes (bulk.max_body_bytes)."
        )])
    };
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| too_large())
}

impl<'a> Parsed<'a> {
    /// Parse a body; errors are 400 in JSON (the format is not known yet).
    fn parse(bytes: &'a [u8]) -> Result<Parsed<'a>, BulkError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BulkError::invalid(vec![
                "The request body is empty; send a JSON object with apiKey and the other fields."
                    .into(),
            ]));
        }
        let members: Vec<(Cow<'a, str>, &'a RawValue)> =
            match serde_json::from_slice::<Members<'a>>(bytes) {
                Ok(members) => members.0,
                Err(e) => {
                    // Valid JSON of another kind, or not JSON at all?
                    let message = match serde_json::from_slice::<IgnoredAny>(bytes) {
                        Ok(_) => "The request body must be a JSON object.".to_owned(),
                        Err(e) => format!("The request body is not valid JSON: {e}."),
                    };
                    tracing::debug!(error = %e, "bulk body rejected");
                    return Err(BulkError::invalid(vec![message]));
                }
            };
        let mut fields = Map::new();
        let mut terms = None;
        let mut problems = Vec::new();
        for (name, raw) in members {
            if name == "terms" {
                terms = Some(raw);
                continue;
            }
            // The body parsed lexically, but a member can still fail to become a value: a
            // lone surrogate escape ("\ud800") or a number past f64 (1e400).
            match serde_json::from_str(raw.get()) {
                Ok(value) => {
                    fields.insert(name.into_owned(), value);
                }
                Err(e) => problems.push(format!("The {name} field is not valid JSON: {e}.")),
            }
        }
        if !problems.is_empty() {
            return Err(BulkError::invalid(problems));
        }
        let format = match fields.get("format") {
            None | Some(Value::Null) => Format::Json,
            Some(Value::String(s)) => s.parse().map_err(|e| BulkError::invalid(vec![e]))?,
            Some(_) => {
                return Err(BulkError::invalid(vec![
                    "The format field must be a string: json, xml or csv.".into(),
                ]))
            }
        };
        Ok(Parsed {
            fields,
            terms,
            format,
        })
    }
}

/// Every member any endpoint reads; others are ignored (and not kept, so a body of a
/// million unknown members costs no more than reading it).
const MEMBERS: &[&str] = &[
    "apiKey",
    "terms",
    "format",
    "reverseIp",
    "page",
    "perPage",
    "sort",
    "onlyIds",
    "ids",
    "id",
];

/// A JSON object's known members, values left raw (a repeated member: the last one counts).
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
                while let Some((name, value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    if MEMBERS.contains(&&*name.0) {
                        out.retain(|(n, _)| *n != name.0);
                        out.push((name.0, value));
                    }
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// An object key, borrowed when it has no escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// One term, borrowed from the body when it has no escapes.
#[derive(Deserialize)]
struct TermText<'a>(#[serde(borrow)] Cow<'a, str>);

impl Parsed<'_> {
    async fn authenticate(&self, state: &AppState) -> Result<std::sync::Arc<Meter>, BulkError> {
        let Some(Value::String(key)) = self.fields.get("apiKey") else {
            return Err(
                BulkError::new(ErrorKind::Unauthenticated, AUTH_FAILED).in_format(self.format)
            );
        };
        state
            .engine
            .authenticate(
                Credential {
                    account_id: None,
                    key,
                },
                Service::Bulk,
            )
            .await
            .map_err(|e| BulkError::from_access(e).in_format(self.format))
    }

    /// An optional non-negative integer member, within `range`.
    fn integer(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        problems: &mut Vec<String>,
    ) -> u64 {
        match self.fields.get(name) {
            None | Some(Value::Null) => default,
            Some(v) => match whole_number(v).filter(|n| range.contains(n)) {
                Some(n) => n,
                None => {
                    problems.push(format!(
                        "The {name} field must be an integer between {} and {}.",
                        range.start(),
                        range.end()
                    ));
                    default
                }
            },
        }
    }

    /// An optional flag given as true/false or 1/0.
    fn flag(&self, name: &str, default: bool, problems: &mut Vec<String>) -> bool {
        match self.fields.get(name) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(v) if whole_number(v) == Some(1) => true,
            Some(v) if whole_number(v) == Some(0) => false,
            Some(_) => {
                problems.push(format!("The {name} field must be true, false, 1 or 0."));
                default
            }
        }
    }

    /// The required request id.
    fn id(&self, problems: &mut Vec<String>) -> u64 {
        match self.fields.get("id") {
            None | Some(Value::Null) => {
                problems.push("The id field is required.".into());
                0
            }
            Some(v) => whole_number(v).filter(|n| *n > 0).unwrap_or_else(|| {
                problems.push("The id field must be a positive integer.".into());
                0
            }),
        }
    }

    /// The `terms` member: 1 to `max` strings, borrowed from the body where they can be.
    fn terms(&self, max: usize, problems: &mut Vec<String>) -> Vec<TermText<'_>> {
        let Some(raw) = self.terms.filter(|raw| raw.get() != "null") else {
            problems.push("The terms field is required.".to_owned());
            return Vec::new();
        };
        let mut count = |n: usize| {
            if n == 0 {
                problems.push("The terms field must contain at least one term.".into());
            }
            if n > max {
                problems.push(format!(
                    "The terms field may not have more than {max} items (it has {n})."
                ));
            }
        };
        if let Ok(terms) = serde_json::from_str::<Vec<TermText<'_>>>(raw.get()) {
            count(terms.len());
            return terms;
        }
        // Not an array of strings: say what it is instead.
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Array(items)) => {
                count(items.len());
                if let Some(at) = items.iter().position(|v| !v.is_string()) {
                    problems.push(format!(
                        "The terms field must contain only strings (item {at} is {}).",
                        json_type(&items[at])
                    ));
                }
            }
            Ok(other) => problems.push(format!(
                "The terms field must be an array of strings, not {}.",
                json_type(&other)
            )),
            Err(e) => problems.push(format!("The terms field is not valid JSON: {e}.")),
        }
        Vec::new()
    }

    fn check(&self, problems: Vec<String>) -> Result<(), BulkError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BulkError::invalid(problems).in_format(self.format))
        }
    }
}

/// A small answer (`{"response": value}`) in `format`. CSV: the rows of `value` (an array of
/// objects, or one object) under the given columns.
fn answer(format: Format, value: Value, csv_columns: &[&str]) -> Response {
    let body = match format {
        Format::Json => json!({ "response": value }).to_string().into_bytes(),
        Format::Xml => crate::render::xml::to_xml("response", &value),
        Format::Csv => {
            let rows = match value {
                Value::Array(rows) => rows,
                Value::Object(mut map) => match map.remove("data") {
                    Some(Value::Array(rows)) => rows,
                    _ => vec![Value::Object(map)],
                },
                other => vec![other],
            };
            let columns: Vec<String> = csv_columns.iter().map(|c| (*c).to_owned()).collect();
            crate::render::csv::to_csv(&rows, &columns)
        }
    };
    ([("content-type", format.content_type())], body).into_response()
}

/// `POST /api/bgservice/request`: accept terms, charge them, answer the request id.
pub async fn create(State(state): State<AppState>, request: Request) -> Response {
    match create_inner(&state, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn create_inner(state: &AppState, request: Request) -> Result<Response, BulkError> {
    let bytes = read_bytes(state, request).await?;
    let body = Parsed::parse(&bytes)?;
    let meter = body.authenticate(state).await?;
    let max_terms = state.config.bulk.max_terms;
    let mut problems = Vec::new();
    let terms = body.terms(max_terms, &mut problems);
    let reverse_ip = body.flag("reverseIp", false, &mut problems);
    body.check(problems)?;

    let classified = classify(terms.iter().map(|t| &*t.0));
    let submission = crate::bulk::submission(
        &classified,
        body.format,
        reverse_ip,
        state.config.bulk.chunk_terms,
    );
    let charge = submission.charge;
    let id = state
        .engine
        .submit_bulk(meter, submission)
        .await
        .map_err(|e| match e {
            SubmitError::Access(e) => BulkError::from_access(e),
            SubmitError::Store(e) => BulkError::from_store("cannot store a bulk request", e),
        })
        .map_err(|e| e.in_format(body.format))?;
    state.jobs_wakeup.notify_one();
    state.metrics.bulk_terms("accepted", charge);
    state
        .metrics
        .bulk_terms("invalid", classified.invalid.len() as u64);
    let format = body.format;
    if classified.total() >= LARGE_REQUEST {
        drop(classified);
        drop(terms);
        drop(body);
        drop(bytes);
        ipintel_core::release_free_heap();
    }
    Ok(answer(format, json!({ "id": id }), &["id"]))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const STATUS_COLUMNS: [&str; 7] = [
    "id",
    "date_start",
    "total_terms",
    "invalid_terms",
    "processed_terms",
    "failed_terms",
    "ready",
];

fn status_json(s: &BulkStatus) -> Value {
    json!({
        "id": s.id,
        "date_start": s.created_at.to_string(),
        "total_terms": s.total_terms,
        "invalid_terms": s.invalid_terms,
        "processed_terms": s.processed_terms,
        "failed_terms": s.failed_terms,
        "ready": u8::from(s.ready()),
    })
}

/// `POST /api/bgservice/request/list`: the caller's requests, a page at a time.
pub async fn list(State(state): State<AppState>, request: Request) -> Response {
    let result = async {
        let bytes = read_bytes(&state, request).await?;
        let body = Parsed::parse(&bytes)?;
        let meter = body.authenticate(&state).await?;
        let mut problems = Vec::new();
        let page = body.integer("page", 1, 1..=MAX_PAGE, &mut problems);
        let per_page = body.integer("perPage", 10, 10..=50, &mut problems);
        let only_ids = body.flag("onlyIds", true, &mut problems);
        let newest_first = match body.fields.get("sort") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("desc") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("asc") => false,
            Some(_) => {
                problems.push("The sort field must be asc or desc.".into());
                true
            }
        };
        body.check(problems)?;
        let offset = (page - 1).saturating_mul(per_page);
        let (rows, total) = state
            .engine
            .bulk_page(&meter, offset, per_page, newest_first)
            .await
            .map_err(|e| {
                BulkError::from_store("cannot list bulk requests", e).in_format(body.format)
            })?;
        let data: Vec<Value> = rows
            .iter()
            .map(|s| {
                if only_ids {
                    json!({"id": s.id})
                } else {
                    status_json(s)
                }
            })
            .collect();
        let (from, to) = if data.is_empty() {
            (Value::Null, Value::Null)
        } else {
            (json!(offset + 1), json!(offset + data.len() as u64))
        };
        let value = json!({
            "current_page": page,
            "data": data,
            "from": from,
            "last_page": total.div_ceil(per_page).max(1),
            "per_page": per_page,
            "to": to,
            "total": total,
        });
        let columns: &[&str] = if only_ids { &["id"] } else { &STATUS_COLUMNS };
        Ok::<_, BulkError>(answer(body.format, value, columns))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /api/bgservice/request/status`: the caller's requests among `ids`.
pub async fn status(State(state): State<AppState>, request: Request) -> Response {
    let result = async {
        let bytes = read_bytes(&state, request).await?;
        let body = Parsed::parse(&bytes)?;
        let meter = body.authenticate(&state).await?;
        let mut problems = Vec::new();
        let ids: Vec<u64> = match body.fields.get("ids") {
            None | Some(Value::Null) => {
                problems.push("The ids field is required.".into());
                Vec::new()
            }
            Some(Value::Array(items)) if items.len() > MAX_STATUS_IDS => {
                problems.push(format!(
                    "The ids field may not have more than {MAX_STATUS_IDS} items."
                ));
                Vec::new()
            }
            Some(Value::Array(items)) => {
                let ids: Vec<u64> = items.iter().filter_map(whole_number).collect();
                if ids.len() != items.len() {
                    problems.push("The ids field must contain only non-negative integers.".into());
                }
                ids
            }
            Some(_) => {
                problems.push("The ids field must be an array of request ids.".into());
                Vec::new()
            }
        };
        body.check(problems)?;
        let rows = state
            .engine
            .bulk_statuses(&meter, &ids)
            .await
            .map_err(|e| {
                BulkError::from_store("cannot read bulk requests", e).in_format(body.format)
            })?;
        let value = Value::Array(rows.iter().map(status_json).collect());
        Ok::<_, BulkError>(answer(body.format, value, &STATUS_COLUMNS))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /api/bgservice/request/completed`: the results so far, streamed.
pub async fn completed(State(state): State<AppState>, request: Request) -> Response {
    download(state, request, Part::Completed)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /api/bgservice/request/failed`: invalid terms, then failed ones, streamed.
pub async fn failed(State(state): State<AppState>, request: Request) -> Response {
    download(state, request, Part::Failed)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn download(state: AppState, request: Request, part: Part) -> Result<Response, BulkError> {
    let bytes = read_bytes(&state, request).await?;
    let body = Parsed::parse(&bytes)?;
    let meter = body.authenticate(&state).await?;
    let mut problems = Vec::new();
    let id = body.id(&mut problems);
    body.check(problems)?;
    let found = state.engine.bulk_download(&meter, id).await.map_err(|e| {
        BulkError::from_store("cannot read a bulk request", e).in_format(body.format)
    })?;
    let Some((status, reader)) = found else {
        return Err(BulkError::new(ErrorKind::NotFound, WRONG_ID).in_format(body.format));
    };
    // Without a format of its own, a download takes the one the request was made with.
    let format = match body.fields.get("format") {
        Some(Value::String(_)) => body.format,
        _ => status.format.parse().unwrap_or(Format::Json),
    };
    Ok((
        [("content-type", format.content_type())],
        crate::bulk::download::body(reader, &status, format, part),
    )
        .into_response())
}

/// A non-negative whole number as JSON has it: `5` or `5.0` (JSON Schema calls both
/// integers, and so do the generators clients use); `5.5`, `-1` and `1e300` are not.
fn whole_number(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    // Below 2^53 every whole f64 is exact.
    (f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0).then_some(f as u64)
}
