//! The operator's view (`/ui/admin`, admin token only): accounts and keys (create, revoke,
//! change plan or credits), the databases serving and any rejected replacement, registry
//! sources, the job queue, and a reload. Changes go through the engine's operator use
//! cases, the same ones `ipintel keys` uses through the store.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use ipintel_core::ErrorKind;
use serde::Deserialize;

use super::html::{self, esc, Page};
use super::session::{check_post, Session};
use super::{operator_of, Console, Stop};
use crate::state::AppState;

/// Jobs listed in the queue.
const RECENT_JOBS: u32 = 20;

/// What the last action did, shown above the page.
enum Notice {
    Done(String),
    /// A new key: shown once, here and nowhere else.
    NewKey {
        account_id: u64,
        key: String,
    },
}

pub async fn page(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
) -> Response {
    match operator_of(&console, &headers) {
        Ok(session) => render(&state, &session, None, StatusCode::OK).await,
        Err(stop) => {
            let session = console.sessions.find(&headers);
            stop.into_response(session.as_deref())
        }
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let result = async {
        let fail = |e: ipintel_core::store::StoreError| Stop::Page(e.kind(), e.to_string());
        let (accounts, keys) = state.engine.accounts_and_keys().await.map_err(fail)?;
        let (jobs, counts) = state.engine.job_queue(RECENT_JOBS).await.map_err(fail)?;
        let (set, stale) = state.engine.databases();
        let registry = state.registry.current();
        let csrf = esc(&session.csrf);
        let plans: Vec<String> = state
            .engine
            .accounts
            .plans()
            .names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let plan_options = |selected: &str| {
            plans
                .iter()
                .map(|p| {
                    format!(
                        "<option{}>{}</option>",
                        if p == selected { " selected" } else { "" },
                        esc(p)
                    )
                })
                .collect::<String>()
        };
        let mut page = Page::new("Operator");
        let mut body = String::new();
        match notice {
            Some(Notice::Done(text)) => {
                let _ = write!(body, "<p class=\"notice\" role=\"status\" id=\"notice\">{}</p>", esc(&text));
            }
            Some(Notice::NewKey { account_id, key }) => {
                let _ = write!(
                    body,
                    "<div class=\"notice\" role=\"status\" id=\"notice\"><p>Account {account_id} created. Its key, shown this once:</p>"
                );
                html::copyable(&mut body, "new-key", "API key", &key);
                body.push_str("</div>");
            }
            None => {}
        }

        // Accounts and keys.
        let _ = write!(
            body,
            "<section><h2>Accounts <span class=\"count\">{}</span></h2>\
             <form method=\"post\" action=\"/ui/admin/accounts\" class=\"card inline-form\" id=\"create-account\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Plan <select name=\"plan\">{}</select></label>\
             <label>Credits <input name=\"credits\" inputmode=\"numeric\" placeholder=\"plan's\"></label>\
             <label>Daily quota <input name=\"daily_quota\" inputmode=\"numeric\" placeholder=\"plan's\"></label>\
             <label>Label <input name=\"label\" maxlength=\"200\"></label>\
             <button id=\"create\">Create account and key</button></form>",
            accounts.len(),
            plan_options("free"),
        );
        body.push_str("<div class=\"scroll\"><table id=\"accounts\"><thead><tr><th>Id</th><th>Label</th><th>Plan and credits</th><th>Used</th><th>Keys</th></tr></thead><tbody>");
        for account in &accounts {
            let mut key_cells = String::new();
            for key in keys.iter().filter(|k| k.account_id == account.id) {
                if key.revoked_at.is_some() {
                    let _ = write!(key_cells, "<div class=\"key revoked\"><code>{}…</code> revoked</div>", esc(&key.key_prefix));
                } else {
                    let _ = write!(
                        key_cells,
                        "<form method=\"post\" action=\"/ui/admin/keys/revoke\" class=\"key\">\
                         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"prefix\" value=\"{p}\">\
                         <code>{p}…</code> <button class=\"danger\" data-key=\"{p}\" aria-label=\"Revoke key {p}\">Revoke</button></form>",
                        p = esc(&key.key_prefix)
                    );
                }
            }
            let credits = account
                .credits_granted
                .map_or_else(|| "unlimited".to_string(), |c| c.to_string());
            let _ = write!(
                body,
                "<tr id=\"account-{id}\"><td>{id}</td><td>{label}</td><td>\
                 <form method=\"post\" action=\"/ui/admin/accounts/update\" class=\"inline-form\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"account\" value=\"{id}\">\
                 <label class=\"visually-hidden\" for=\"plan-{id}\">Plan</label><select id=\"plan-{id}\" name=\"plan\">{options}</select>\
                 <label class=\"visually-hidden\" for=\"credits-{id}\">Credits</label><input id=\"credits-{id}\" name=\"credits\" value=\"{credits}\" size=\"9\">\
                 <button>Save</button></form></td><td>{used}</td><td>{key_cells}</td></tr>",
                id = account.id,
                label = esc(&account.label),
                options = plan_options(&account.plan),
                used = account.credits_used,
            );
        }
        body.push_str("</tbody></table></div></section>");

        // Databases.
        body.push_str("<section><h2>Databases</h2>");
        if let Some(why) = &stale {
            let _ = write!(body, "<p class=\"error\" role=\"alert\">A changed database was rejected; the previous set keeps serving: {}</p>", esc(why));
        }
        if set.dbs.is_empty() {
            body.push_str("<p class=\"error\">No database is loaded: lookups answer 503 (run scripts/fetch-data.sh).</p>");
        } else {
            body.push_str("<div class=\"scroll\"><table id=\"databases\"><thead><tr><th>Kind</th><th>Type</th><th>Built</th><th>Tree nodes</th><th>File</th></tr></thead><tbody>");
            for db in &set.dbs {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    esc(&db.kind.to_string()),
                    esc(&db.database_type),
                    html::time(db.build_epoch as i64),
                    db.node_count(),
                    esc(&db.path.display().to_string())
                );
            }
            body.push_str("</tbody></table></div>");
        }
        let _ = write!(
            body,
            "<p>Generation {} loaded {}.</p><form method=\"post\" action=\"/ui/admin/reload\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button id=\"reload\">Reload the databases now</button></form></section>",
            set.generation,
            set.loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| html::time(d.as_secs() as i64))
                .unwrap_or_default(),
        );

        // Registry.
        body.push_str("<section><h2>Registry sources</h2>");
        if registry.sources.is_empty() {
            body.push_str("<p class=\"muted\">none loaded (<code>ipintel registry import</code>)</p>");
        } else {
            body.push_str("<table id=\"sources\"><thead><tr><th>Source</th><th>Objects</th><th>Serial</th><th>Last import</th></tr></thead><tbody>");
            for s in &registry.sources {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&s.name),
                    s.objects,
                    s.serial.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                    html::time(s.imported_at)
                );
            }
            let _ = write!(body, "</tbody></table><p>Store generation {}.</p>", registry.generation);
        }
        body.push_str("</section>");

        // Jobs.
        body.push_str("<section><h2>Job queue</h2>");
        if counts.is_empty() {
            body.push_str("<p class=\"muted\">no jobs</p>");
        } else {
            body.push_str("<table id=\"job-counts\"><thead><tr><th>Kind</th><th>State</th><th>Jobs</th></tr></thead><tbody>");
            for (kind, status, n) in &counts {
                let _ = write!(body, "<tr><td>{}</td><td>{}</td><td>{n}</td></tr>", kind.as_str(), status.as_str());
            }
            body.push_str("</tbody></table><h3>Newest</h3><div class=\"scroll\"><table id=\"recent-jobs\"><thead><tr><th>Id</th><th>Account</th><th>Kind</th><th>Target</th><th>State</th><th>Created</th></tr></thead><tbody>");
            for job in &jobs {
                let target = if job.kind == ipintel_core::jobs::JobKind::Bulk { "" } else { &job.target };
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    job.id,
                    job.account_id,
                    job.kind.as_str(),
                    esc(target),
                    job.status.as_str(),
                    html::time(job.created_at)
                );
            }
            body.push_str("</tbody></table></div>");
        }
        body.push_str("</section>");
        page.push(&body);
        Ok::<_, Stop>(page)
    }
    .await;
    match result {
        Ok(page) => html::respond(status, page.render(Some(session))),
        Err(stop) => stop.into_response(Some(session)),
    }
}

/// A POST's operator session, its form read and its CSRF token checked.
async fn operator_post<T: for<'de> Deserialize<'de> + HasCsrf>(
    console: &Console,
    request: axum::extract::Request,
) -> Result<(Arc<Session>, T), Stop> {
    let (headers, body) = super::read_body(request, super::FORM_LIMIT).await?;
    let form: T = super::form(&body, super::FORM_LIMIT)?;
    let session = check_post(&console.sessions, &headers, form.csrf())?;
    if !session.is_operator() {
        return Err(Stop::Page(
            ErrorKind::Forbidden,
            "the operator's actions need the admin token".into(),
        ));
    }
    Ok((session, form))
}

trait HasCsrf {
    fn csrf(&self) -> Option<&str>;
}

macro_rules! has_csrf {
    ($($t:ty),*) => {$(impl HasCsrf for $t { fn csrf(&self) -> Option<&str> { self.csrf.as_deref() } })*};
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: Option<String>,
    plan: String,
    credits: Option<String>,
    daily_quota: Option<String>,
    label: Option<String>,
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: Option<String>,
    prefix: String,
}

#[derive(Deserialize)]
struct UpdateForm {
    csrf: Option<String>,
    account: u64,
    plan: String,
    credits: Option<String>,
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

has_csrf!(CreateForm, RevokeForm, UpdateForm, CsrfForm);

/// A count field: blank is `None`; anything else must be a whole number.
fn count(name: &str, text: Option<&str>) -> Result<Option<u64>, Stop> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| {
            let shown: String = t.chars().take(30).collect();
            Stop::Page(
                ErrorKind::InvalidInput,
                format!(
                    "{name} must be a whole number from 0 to {}, not {shown:?}",
                    u64::MAX
                ),
            )
        }),
    }
}

async fn act(state: &AppState, outcome: Result<(Arc<Session>, Notice), Stop>) -> Response {
    match outcome {
        Ok((session, notice)) => render(state, &session, Some(notice), StatusCode::OK).await,
        Err(stop) => stop.into_response(None),
    }
}

pub async fn create_account(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    request: axum::extract::Request,
) -> Response {
    let outcome = async {
        let (session, form): (_, CreateForm) = operator_post(&console, request).await?;
        let credits = count("credits", form.credits.as_deref())?;
        let quota = count("daily quota", form.daily_quota.as_deref())?;
        let label = form.label.as_deref().unwrap_or("").trim();
        if label.chars().count() > 200 {
            return Err(Stop::Page(
                ErrorKind::InvalidInput,
                "a label has at most 200 characters".into(),
            ));
        }
        let new = state
            .engine
            .create_account(form.plan.trim(), credits, quota, label)
            .await
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?;
        Ok((
            session,
            Notice::NewKey {
                account_id: new.account_id,
                key: new.key,
            },
        ))
    }
    .await;
    act(&state, outcome).await
}

pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    request: axum::extract::Request,
) -> Response {
    let outcome = async {
        let (session, form): (_, RevokeForm) = operator_post(&console, request).await?;
        let prefix = form.prefix.trim();
        if prefix.len() < 8 {
            return Err(Stop::Page(
                ErrorKind::InvalidInput,
                "give a key's shown prefix (12 characters)".into(),
            ));
        }
        let revoked = state
            .engine
            .revoke_key(prefix)
            .await
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?;
        let text = match revoked {
            0 => format!("No live key starts with {prefix}."),
            1 => format!("Key {prefix}… revoked: every instance refuses it from its next poll."),
            n => format!("{n} keys starting with {prefix} revoked."),
        };
        Ok((session, Notice::Done(text)))
    }
    .await;
    act(&state, outcome).await
}

pub async fn update_account(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    request: axum::extract::Request,
) -> Response {
    let outcome = async {
        let (session, form): (_, UpdateForm) = operator_post(&console, request).await?;
        let credits = match form.credits.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("unlimited") => Some(None),
            Some(text) => Some(count("credits", Some(text))?),
        };
        state
            .engine
            .update_account(form.account, Some(form.plan.trim()), credits)
            .await
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?;
        Ok((
            session,
            Notice::Done(format!("Account {} saved.", form.account)),
        ))
    }
    .await;
    act(&state, outcome).await
}

pub async fn reload(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    request: axum::extract::Request,
) -> Response {
    let outcome = async {
        let (session, _): (_, CsrfForm) = operator_post(&console, request).await?;
        let text = match (console.reload)(state.clone()).await {
            Ok(generation) => format!("Reloaded: generation {generation}."),
            Err(e) => format!("Reload failed, the previous databases keep serving: {e}"),
        };
        Ok((session, Notice::Done(text)))
    }
    .await;
    act(&state, outcome).await
}
