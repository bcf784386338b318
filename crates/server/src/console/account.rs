//! The key holder's account page: plan and services, credits and today's quota left, a
//! chart of daily usage over the last 30 days (drawn on the server as SVG), and the
//! account's recent tasks and bulk requests.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use ipintel_core::accounts::{Meter, Service};
use ipintel_core::jobs::JobKind;
use ipintel_core::ErrorKind;

use super::html::{self, esc, Page};
use super::{meter_of, Console, SignedIn, Stop};
use crate::state::AppState;

/// Days the usage chart covers.
pub const CHART_DAYS: u32 = 30;
/// Jobs listed.
const RECENT: u32 = 20;

/// The key's meter through whichever service its plan has (the page is free).
async fn any_meter(
    state: &AppState,
    console: &Console,
    headers: &HeaderMap,
    session: &super::Session,
) -> Result<Arc<Meter>, Stop> {
    let mut last = None;
    for &service in Service::ALL {
        match meter_of(state, console, headers, session, service).await {
            Ok(meter) => return Ok(meter),
            Err(Stop::Page(ErrorKind::PermissionDenied, message)) => {
                last = Some(Stop::Page(ErrorKind::PermissionDenied, message))
            }
            Err(other) => return Err(other),
        }
    }
    Err(last.unwrap_or(Stop::SignIn))
}

fn limit(value: Option<u64>) -> String {
    value.map_or_else(|| "unlimited".into(), |v| v.to_string())
}

/// Daily usage as bars; each bar says its day and count on hover and to screen readers.
fn chart(days: &[(i64, u64)]) -> String {
    const BAR: f64 = 10.0;
    const HEIGHT: f64 = 100.0;
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let mut svg = format!(
        "<svg id=\"usage-chart\" class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Queries per day, last {n} days\">",
        w = BAR * days.len() as f64,
        h = HEIGHT + 14.0,
        n = days.len()
    );
    for (i, (day, used)) in days.iter().enumerate() {
        let height = (*used as f64 / max as f64 * HEIGHT).max(if *used > 0 { 1.0 } else { 0.0 });
        let date = jiff::Timestamp::from_second(day * 86_400)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.2}\" width=\"{w:.1}\" height=\"{height:.2}\" data-day=\"{date}\" data-used=\"{used}\"><title>{date}: {used}</title></rect>",
            x = i as f64 * BAR + 1.0,
            y = HEIGHT - height,
            w = BAR - 2.0,
        );
    }
    let first = days.first().map(|d| d.0).unwrap_or(0);
    let label = |day: i64| {
        jiff::Timestamp::from_second(day * 86_400)
            .map(|t| t.strftime("%b %d").to_string())
            .unwrap_or_default()
    };
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"{y}\" class=\"axis\">{}</text><text x=\"{w}\" y=\"{y}\" class=\"axis end\">{}</text></svg>",
        label(first),
        label(days.last().map(|d| d.0).unwrap_or(0)),
        y = HEIGHT + 12.0,
        w = BAR * days.len() as f64,
    );
    svg
}

pub async fn page(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
) -> Response {
    let result = async {
        let meter = any_meter(&state, &console, &headers, &session).await?;
        let fail = |e: ipintel_core::store::StoreError| Stop::Page(e.kind(), e.to_string());
        let plan = meter.plan();
        let remaining = state.engine.remaining(&meter);
        let history = state
            .engine
            .usage_history(&meter, CHART_DAYS)
            .await
            .map_err(fail)?;
        let jobs = state.engine.recent_jobs(&meter, RECENT).await.map_err(fail)?;
        let mut page = Page::new("Your account");
        let mut body = String::new();
        let services: Vec<&str> = plan.services.iter().map(|s| s.as_str()).collect();
        let _ = write!(
            body,
            "<dl class=\"facts\" id=\"account\"><dt>Account</dt><dd>{account}</dd><dt>Plan</dt><dd id=\"plan\">{plan}</dd>\
             <dt>Services</dt><dd>{services}</dd><dt>Credits left</dt><dd id=\"credits\">{credits}</dd>\
             <dt>Daily quota</dt><dd>{quota}</dd><dt>Left today</dt><dd id=\"today\">{today}</dd></dl>",
            account = meter.account_id,
            plan = esc(&plan.name),
            services = esc(&services.join(", ")),
            credits = limit(remaining.credits),
            quota = limit(meter.daily_quota()),
            today = limit(remaining.today),
        );
        let total: u64 = history.iter().map(|d| d.1).sum();
        let _ = write!(
            body,
            "<section><h2>Queries per day, last {CHART_DAYS} days <span class=\"count\">{total}</span></h2><figure class=\"chart\">{}</figure></section>",
            chart(&history)
        );
        body.push_str("<section><h2>Recent tasks and bulk requests</h2>");
        if jobs.is_empty() {
            body.push_str("<p class=\"muted\">none yet</p>");
        } else {
            body.push_str("<table id=\"jobs\"><thead><tr><th>Id</th><th>Kind</th><th>Target</th><th>State</th><th>Created</th></tr></thead><tbody>");
            for job in &jobs {
                let link = if job.kind == JobKind::Bulk {
                    format!("/ui/bulk/{}", job.id)
                } else {
                    format!("/ui/task/{}", job.id)
                };
                let target = if job.kind == JobKind::Bulk { String::new() } else { esc(&job.target) };
                let _ = write!(
                    body,
                    "<tr><td><a href=\"{link}\">{id}</a></td><td>{kind}</td><td>{target}</td><td>{status}</td><td>{created}</td></tr>",
                    id = job.id,
                    kind = job.kind.as_str(),
                    status = job.status.as_str(),
                    created = html::time(job.created_at),
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
