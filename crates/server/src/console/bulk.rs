//! The bulk page: paste terms or drop a file, follow the request's progress (the script
//! polls `/ui/bulk/{id}/progress`; without it the page refreshes itself), download the
//! results as CSV, JSON or XML, and see earlier requests. The same engine use cases as the
//! bulk API, on the signed-in key's account.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use ipintel_core::accounts::Service;
use ipintel_core::bulk::classify;
use ipintel_core::store::BulkStatus;
use ipintel_core::ErrorKind;
use serde::Deserialize;

use super::html::{self, esc, Page};
use super::{meter_of, signed_in, Console, SignedIn, Stop};
use crate::bulk::writers::{Format, Part};
use crate::state::AppState;

/// Earlier requests listed on the page.
const LISTED: u64 = 20;
/// Invalid terms shown with their reasons on a request's page.
const INVALID_SHOWN: usize = 20;

fn status_word(s: &BulkStatus) -> &'static str {
    if s.ready() {
        "ready"
    } else if s.processed_terms + s.failed_terms > 0 {
        "running"
    } else {
        "queued"
    }
}

pub async fn page(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
) -> Response {
    let result = async {
        let meter = meter_of(&state, &console, &headers, &session, Service::Bulk).await?;
        let (requests, total) = state
            .engine
            .bulk_page(&meter, 0, LISTED, true)
            .await
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?;
        let mut page = Page::new("Bulk requests");
        let mut body = String::new();
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/ui/bulk\" class=\"card\" id=\"bulk-form\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"terms\">Terms: IP addresses, domains or e-mail addresses, one per line (at most {max}; one credit each)</label>\
             <textarea id=\"terms\" name=\"terms\" rows=\"10\" required spellcheck=\"false\"></textarea>\
             <div class=\"drop\" id=\"drop\" hidden><label for=\"file\">Or choose a file, or drop one here:</label> <input type=\"file\" id=\"file\" accept=\".txt,.csv,text/plain,text/csv\"></div>\
             <label class=\"check\"><input type=\"checkbox\" name=\"reverse_ip\" value=\"1\"> Reverse DNS for addresses</label>\
             <button id=\"bulk-submit\">Submit</button>\
             <p class=\"hint\">Uploads up to {bytes} bytes; larger lists go through the bulk API (<code>ipintel bulk --server</code>).</p></form>",
            csrf = esc(&session.csrf),
            max = state.config.bulk.max_terms,
            bytes = state.config.bulk.max_body_bytes,
        );
        let _ = write!(body, "<section><h2>Earlier requests <span class=\"count\">{total}</span></h2>");
        if requests.is_empty() {
            body.push_str("<p class=\"muted\">none yet</p>");
        } else {
            body.push_str("<table id=\"requests\"><thead><tr><th>Id</th><th>Started</th><th>Terms</th><th>Done</th><th>Failed</th><th>Invalid</th><th>State</th></tr></thead><tbody>");
            for r in &requests {
                let _ = write!(
                    body,
                    "<tr><td><a href=\"/ui/bulk/{id}\">{id}</a></td><td>{started}</td><td>{total}</td><td>{done}</td><td>{failed}</td><td>{invalid}</td><td>{state}</td></tr>",
                    id = r.id,
                    started = html::time(r.created_at),
                    total = r.total_terms,
                    done = r.processed_terms,
                    failed = r.failed_terms,
                    invalid = r.invalid_terms,
                    state = status_word(r),
                );
            }
            body.push_str("</tbody></table>");
        }
        body.push_str("</section>");
        page.push(&body);
        Ok::<_, Stop>(page)
    }
    .await;
    match result {
        Ok(page) => html::respond(StatusCode::OK, page.render(Some(&session))),
        Err(stop) => stop.into_response(Some(&session)),
    }
}

#[derive(Deserialize)]
struct BulkForm {
    csrf: Option<String>,
    terms: String,
    reverse_ip: Option<String>,
}

/// `POST /ui/bulk`: accept a request (charged one credit per valid term, as the API).
pub async fn submit(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    request: axum::extract::Request,
) -> Response {
    let limit = state.config.bulk.max_body_bytes;
    let result = async {
        let (headers, body) = super::read_body(request, limit).await?;
        let form: BulkForm = super::form(&body, limit)?;
        let session =
            super::session::check_post(&console.sessions, &headers, form.csrf.as_deref())?;
        let meter = meter_of(&state, &console, &headers, &session, Service::Bulk).await?;
        let terms: Vec<&str> = form
            .terms
            .split(|c: char| c == '\n' || c == '\r' || c == ',' || c == ';' || c.is_whitespace())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        let max = state.config.bulk.max_terms;
        if terms.is_empty() {
            return Err(Stop::Page(
                ErrorKind::MissingInput,
                "no terms: paste or drop at least one".into(),
            ));
        }
        if terms.len() > max {
            return Err(Stop::Page(
                ErrorKind::TooLarge,
                format!(
                    "{} terms, more than the {max} one request may hold (bulk.max_terms)",
                    terms.len()
                ),
            ));
        }
        let classified = classify(terms.iter().copied());
        let submission = crate::bulk::submission(
            &classified,
            Format::Csv,
            form.reverse_ip.is_some(),
            state.config.bulk.chunk_terms,
        );
        let charge = submission.charge;
        let id = state
            .engine
            .submit_bulk(meter, submission)
            .await
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?;
        state.jobs_wakeup.notify_one();
        state.metrics.bulk_terms("accepted", charge);
        state
            .metrics
            .bulk_terms("invalid", classified.invalid.len() as u64);
        Ok::<_, Stop>(id)
    }
    .await;
    match result {
        Ok(id) => super::redirect(&format!("/ui/bulk/{id}")),
        Err(stop) => stop.into_response(None),
    }
}

fn parse_id(id: &str) -> Result<u64, Stop> {
    id.parse().map_err(|_| {
        Stop::Page(
            ErrorKind::NotFound,
            format!("no bulk request {id} on your account"),
        )
    })
}

async fn find(
    state: &AppState,
    console: &Console,
    headers: &HeaderMap,
    session: &super::Session,
    id: &str,
) -> Result<(BulkStatus, ipintel_core::engine::BulkReader), Stop> {
    let meter = meter_of(state, console, headers, session, Service::Bulk).await?;
    let number = parse_id(id)?;
    state
        .engine
        .bulk_download(&meter, number)
        .await
        .map_err(|e| Stop::Page(e.kind(), e.to_string()))?
        .ok_or_else(|| {
            Stop::Page(
                ErrorKind::NotFound,
                format!("no bulk request {id} on your account"),
            )
        })
}

/// `GET /ui/bulk/{id}`.
pub async fn request_page(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
) -> Response {
    let result = async {
        let (status, reader) = find(&state, &console, &headers, &session, &id).await?;
        let mut page = Page::new(format!("Bulk request {}", status.id));
        let valid = status.total_terms - status.invalid_terms;
        let done = status.processed_terms + status.failed_terms;
        if !status.ready() {
            page.refresh = Some((2, true));
        }
        let percent = (done * 100).checked_div(valid).unwrap_or(100);
        let mut body = String::new();
        let _ = write!(
            body,
            "<section id=\"bulk-progress\" data-url=\"/ui/bulk/{id}/progress\" data-state=\"{state}\">\
             <progress id=\"progress\" max=\"{valid}\" value=\"{done}\">{percent} %</progress>\
             <p><span id=\"percent\">{percent} %</span>: <span id=\"done\">{done}</span> of {valid} terms\
             <span id=\"rate\"></span><span id=\"eta\"></span>; state <strong id=\"state\">{state}</strong></p>\
             <dl class=\"facts\"><dt>Started</dt><dd>{started}</dd><dt>Terms</dt><dd>{total}</dd>\
             <dt>Processed</dt><dd id=\"processed\">{processed}</dd><dt>Failed</dt><dd id=\"failed\">{failed}</dd>\
             <dt>Invalid</dt><dd id=\"invalid\">{invalid}</dd></dl></section>",
            id = status.id,
            state = status_word(&status),
            started = html::time(status.created_at),
            total = status.total_terms,
            processed = status.processed_terms,
            failed = status.failed_terms,
            invalid = status.invalid_terms,
        );
        if status.invalid_terms > 0 {
            let text = reader
                .invalid()
                .await
                .map_err(|e| Stop::Page(e.kind(), e.to_string()))?;
            body.push_str("<section><h2>Invalid terms</h2><table><thead><tr><th>Term</th><th>Why</th></tr></thead><tbody>");
            for line in text.lines().take(INVALID_SHOWN) {
                let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                let _ = write!(
                    body,
                    "<tr><td><code>{}</code></td><td>{}</td></tr>",
                    esc(value["term"].as_str().unwrap_or("")),
                    esc(value["reason"].as_str().unwrap_or(""))
                );
            }
            body.push_str("</tbody></table>");
            if status.invalid_terms as usize > INVALID_SHOWN {
                body.push_str("<p class=\"muted\">The failed download lists them all.</p>");
            }
            body.push_str("</section>");
        }
        let _ = write!(body, "<section id=\"downloads\"{}><h2>Downloads</h2><ul>", if status.ready() { "" } else { " hidden" });
        for part in ["completed", "failed"] {
            let _ = write!(body, "<li>{part}: ");
            for format in ["csv", "json", "xml"] {
                let _ = write!(
                    body,
                    "<a href=\"/ui/bulk/{id}/download/{part}.{format}\" download>{format}</a> ",
                    id = status.id
                );
            }
            body.push_str("</li>");
        }
        body.push_str("</ul></section><p><a href=\"/ui/bulk\">All bulk requests</a></p>");
        page.push(&body);
        Ok::<_, Stop>(page)
    }
    .await;
    match result {
        Ok(page) => html::respond(StatusCode::OK, page.render(Some(&session))),
        Err(stop) => stop.into_response(Some(&session)),
    }
}

/// `GET /ui/bulk/{id}/progress`: the counters as JSON, for the page's script.
pub async fn progress(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let session = match signed_in(&console, &headers) {
        Ok(s) => s,
        Err(_) => {
            return json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "not signed in"}),
            )
        }
    };
    match find(&state, &console, &headers, &session, &id).await {
        Ok((s, _)) => json(
            StatusCode::OK,
            serde_json::json!({
                "id": s.id,
                "total": s.total_terms,
                "valid": s.total_terms - s.invalid_terms,
                "invalid": s.invalid_terms,
                "processed": s.processed_terms,
                "failed": s.failed_terms,
                "ready": s.ready(),
                "state": status_word(&s),
            }),
        ),
        Err(Stop::Page(kind, message)) => json(
            crate::http::error::status(kind),
            serde_json::json!({"error": message}),
        ),
        Err(Stop::SignIn) => json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "not signed in"}),
        ),
    }
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    let mut response = (
        status,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response();
    html::secure(response.headers_mut());
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// `GET /ui/bulk/{id}/download/{completed|failed}.{csv|json|xml}`.
pub async fn download(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
) -> Response {
    let result = async {
        let (part_name, format_name) = file.split_once('.').unwrap_or((&file, ""));
        let part = match part_name {
            "completed" => Part::Completed,
            "failed" => Part::Failed,
            _ => {
                return Err(Stop::Page(
                    ErrorKind::NotFound,
                    format!("no download {file:?}: completed or failed, .csv .json or .xml"),
                ))
            }
        };
        let format: Format = format_name.parse().map_err(|_| {
            Stop::Page(
                ErrorKind::NotFound,
                format!("no download {file:?}: completed or failed, .csv .json or .xml"),
            )
        })?;
        let (status, reader) = find(&state, &console, &headers, &session, &id).await?;
        let filename = format!("bulk-{}-{part_name}.{}", status.id, format.as_str());
        let mut response = (
            [("content-type", format.content_type())],
            crate::bulk::download::body(reader, &status, format, part),
        )
            .into_response();
        let h = response.headers_mut();
        html::secure(h);
        h.insert(
            "content-disposition",
            HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")).expect("ascii"),
        );
        Ok::<_, Stop>(response)
    }
    .await;
    result.unwrap_or_else(|stop| stop.into_response(Some(&session)))
}
