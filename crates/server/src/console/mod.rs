//! The web console under `/ui/`: a front end like the API dialects, in HTML. Each handler
//! parses, calls one engine use case (or reads the registry generation of the moment) and
//! renders a page; the pages work without JavaScript (the one script adds copying, file
//! drop and live progress). docs/console.md describes each page.
//!
//! Security: sign-in exchanges an API key or the admin token for a session cookie
//! (`session.rs`); every POST passes the same-origin check and its session's CSRF token;
//! every answer carries a strict Content-Security-Policy (`html::CSP`) and loads nothing
//! from another origin; assets are in the binary (`assets.rs`).

mod account;
mod address;
mod assets;
mod bulk;
mod html;
mod map;
mod operator;
mod registry;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures_util::future::BoxFuture;
use ipintel_core::accounts::{Credential, Meter, Service};
use ipintel_core::ErrorKind;
use serde::Deserialize;

use crate::state::AppState;
use html::{esc, Page};
use session::{Principal, Refusal, Session, Sessions};

/// This front end's marker: refusals the HTTP layer makes become an HTML page.
pub const DIALECT: crate::http::Dialect = crate::http::Dialect {
    name: "console",
    refuse: refusal,
    forbidden_when_too_large: false,
    // Forms are read with their own limits (a bulk upload's is the bulk API's).
    own_body_limit: true,
};

/// Reopens the databases now (`app::reload`), handed in by the app: the console sits
/// below it.
pub type ReloadHook =
    Arc<dyn Fn(AppState) -> BoxFuture<'static, Result<u64, String>> + Send + Sync>;

/// A form's largest body (bulk uploads excepted).
pub const FORM_LIMIT: usize = 16 * 1024;

/// The console's own state beside `AppState`.
pub struct Console {
    sessions: Sessions,
    /// Failed sign-ins per client address.
    sign_in_failures: crate::limits::RateLimiter,
    reload: ReloadHook,
}

pub fn routes(reload: ReloadHook) -> Router<AppState> {
    let console = Arc::new(Console {
        sessions: Sessions::default(),
        sign_in_failures: crate::limits::RateLimiter::per_minute(10, 10),
        reload,
    });
    Router::new()
        .route("/ui", get(|| async { redirect("/ui/") }))
        .route("/ui/", get(home))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/search", get(search))
        .route("/ui/ip/{*q}", get(address::page))
        .route("/ui/task", post(address::submit_task))
        .route("/ui/task/{id}", get(address::task_page))
        .route("/ui/as/{asn}", get(registry::as_page))
        .route("/ui/set/{name}", get(registry::set_page))
        .route("/ui/bulk", get(bulk::page).post(bulk::submit))
        .route("/ui/bulk/{id}", get(bulk::request_page))
        .route("/ui/bulk/{id}/progress", get(bulk::progress))
        .route("/ui/bulk/{id}/download/{file}", get(bulk::download))
        .route("/ui/account", get(account::page))
        .route("/ui/admin", get(operator::page))
        .route("/ui/admin/accounts", post(operator::create_account))
        .route("/ui/admin/keys/revoke", post(operator::revoke_key))
        .route("/ui/admin/accounts/update", post(operator::update_account))
        .route("/ui/admin/reload", post(operator::reload))
        .route("/ui/assets/{name}", get(assets::serve))
        .layer(Extension(console))
}

/// The console's error page (also what the HTTP layer's refusals become).
pub fn refusal(kind: ErrorKind, message: String) -> Response {
    error_page(None, kind, &message)
}

fn error_page(session: Option<&Session>, kind: ErrorKind, message: &str) -> Response {
    let status = crate::http::error::status(kind);
    let mut page = Page::new(status.canonical_reason().unwrap_or("Error"));
    page.push(&format!(
        "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/ui/\">Back to the start page</a></p>",
        esc(message)
    ));
    html::respond(status, page.render(session))
}

fn not_found(session: Option<&Session>, message: &str) -> Response {
    error_page(session, ErrorKind::NotFound, message)
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(
        "location",
        HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/ui/")),
    );
    html::secure(response.headers_mut());
    response
}

/// Why a console request stops: a page to show, or a redirect.
enum Stop {
    Page(ErrorKind, String),
    SignIn,
}

impl Stop {
    fn into_response(self, session: Option<&Session>) -> Response {
        match self {
            Stop::Page(kind, message) => error_page(session, kind, &message),
            Stop::SignIn => redirect("/ui/login"),
        }
    }
}

impl From<Refusal> for Stop {
    fn from(refusal: Refusal) -> Stop {
        match refusal {
            Refusal::CrossSite => Stop::Page(
                ErrorKind::Forbidden,
                "refused: this form was posted from another site".into(),
            ),
            Refusal::NotSignedIn => Stop::SignIn,
            Refusal::BadToken => Stop::Page(
                ErrorKind::Forbidden,
                "refused: the form's security token is missing or out of date; reload the page and try again"
                    .into(),
            ),
        }
    }
}

/// The signed-in session, or a redirect to sign in.
fn signed_in(console: &Console, headers: &HeaderMap) -> Result<Arc<Session>, Stop> {
    console.sessions.find(headers).ok_or(Stop::SignIn)
}

/// A page's signed-in session, as an extractor: without one the page is never run and the
/// browser goes to sign in. Listed after a handler's other extractors, so their refusals
/// (a path that is not UTF-8) come first, as they did when each page looked itself.
struct SignedIn(Arc<Session>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<SignedIn, Response> {
        let Some(console) = parts.extensions.get::<Arc<Console>>() else {
            return Err(
                Stop::Page(ErrorKind::Internal, "the console is not mounted".into())
                    .into_response(None),
            );
        };
        signed_in(console, &parts.headers)
            .map(SignedIn)
            .map_err(|stop| stop.into_response(None))
    }
}

/// The meter of a key holder's session for `service`. A revoked key ends the session.
async fn meter_of(
    state: &AppState,
    console: &Console,
    headers: &HeaderMap,
    session: &Session,
    service: Service,
) -> Result<Arc<Meter>, Stop> {
    let Some(key) = session.key() else {
        return Err(Stop::Page(
            ErrorKind::Forbidden,
            "this page is for key holders: sign in with an API key".into(),
        ));
    };
    match state
        .engine
        .authenticate(
            Credential {
                account_id: None,
                key,
            },
            service,
        )
        .await
    {
        Ok(meter) => Ok(meter),
        Err(e) if e.kind() == ErrorKind::Unauthenticated => {
            console.sessions.end(headers);
            Err(Stop::SignIn)
        }
        Err(e) => Err(Stop::Page(e.kind(), e.to_string())),
    }
}

/// The operator's session, or a refusal for anyone else.
fn operator_of(console: &Console, headers: &HeaderMap) -> Result<Arc<Session>, Stop> {
    let session = signed_in(console, headers)?;
    if !session.is_operator() {
        return Err(Stop::Page(
            ErrorKind::Forbidden,
            "the operator's pages need the admin token: sign out and sign in with it".into(),
        ));
    }
    Ok(session)
}

/// A form body within `limit` bytes, parsed; the CSRF token is its `csrf` field.
fn form<T: for<'de> Deserialize<'de>>(body: &Bytes, limit: usize) -> Result<T, Stop> {
    if body.len() > limit {
        return Err(Stop::Page(
            ErrorKind::TooLarge,
            format!("the form is larger than the {limit} bytes accepted"),
        ));
    }
    serde_urlencoded::from_bytes(body).map_err(|e| {
        Stop::Page(
            ErrorKind::InvalidInput,
            format!("the form cannot be read: {e}"),
        )
    })
}

/// Read a request body up to `limit` bytes (declared or sent).
async fn read_body(
    request: axum::extract::Request,
    limit: usize,
) -> Result<(HeaderMap, Bytes), Stop> {
    let (parts, body) = request.into_parts();
    let too_large = || {
        Stop::Page(
            ErrorKind::TooLarge,
            format!("the form is larger than the {limit} bytes accepted"),
        )
    };
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    Ok((parts.headers, bytes))
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn home(State(state): State<AppState>, SignedIn(session): SignedIn) -> Response {
    let mut page = Page::new("Look up an address");
    page.push(
        "<form class=\"big-search\" method=\"get\" action=\"/ui/search\" role=\"search\">\
         <label for=\"q\">IP address, prefix, AS number, as-set or route-set, host name</label>\
         <div class=\"inline\"><input id=\"q\" name=\"q\" required autofocus placeholder=\"192.0.2.1\" autocomplete=\"off\">\
         <button>Look up</button></div></form>",
    );
    let registry = state.registry.current();
    let set = state.engine.databases().0;
    let mut facts = String::new();
    html::row(
        &mut facts,
        "Databases",
        Some(if set.dbs.is_empty() {
            "none loaded: lookups cannot answer (run scripts/fetch-data.sh)".into()
        } else {
            set.dbs
                .iter()
                .map(|db| esc(&db.database_type))
                .collect::<Vec<_>>()
                .join(", ")
        }),
    );
    html::row(
        &mut facts,
        "Registry",
        Some(if registry.sources.is_empty() {
            "none loaded".into()
        } else {
            registry
                .sources
                .iter()
                .map(|s| format!("{} ({} objects)", esc(&s.name), s.objects))
                .collect::<Vec<_>>()
                .join(", ")
        }),
    );
    page.push(&format!("<dl class=\"facts\">{facts}</dl>"));
    if session.is_operator() {
        page.push("<p><a href=\"/ui/admin\">Accounts, keys, databases and jobs</a></p>");
    } else {
        page.push("<p><a href=\"/ui/bulk\">Bulk requests</a> · <a href=\"/ui/account\">Your plan and usage</a></p>");
    }
    html::respond(StatusCode::OK, page.render(Some(&session)))
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
}

/// `GET /ui/search?q=`: to the page for what `q` is.
async fn search(
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
    SignedIn(session): SignedIn,
) -> Response {
    let q = params
        .ok()
        .and_then(|Query(p)| p.q)
        .map(|q| q.trim().to_string())
        .unwrap_or_default();
    if q.is_empty() || q.len() > 255 {
        return error_page(
            Some(&session),
            ErrorKind::InvalidInput,
            "type an address, prefix, AS number, set name or host name (at most 255 characters)",
        );
    }
    let upper = q.to_ascii_uppercase();
    if let Some(digits) = upper.strip_prefix("AS") {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return redirect(&format!("/ui/as/{}", html::seg(&upper)));
        }
        if digits.starts_with('-') || digits.contains(':') {
            return redirect(&format!("/ui/set/{}", html::seg(&upper)));
        }
    }
    if upper.starts_with("RS-") || upper.contains(":RS-") || upper.contains(":AS-") {
        return redirect(&format!("/ui/set/{}", html::seg(&upper)));
    }
    redirect(&format!("/ui/ip/{}", html::seg(&q).replace("%2F", "/")))
}

async fn login_page(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
) -> Response {
    if console.sessions.find(&headers).is_some() {
        return redirect("/ui/");
    }
    html::respond(StatusCode::OK, login_form(&state, None, StatusCode::OK).1)
}

fn login_form(state: &AppState, problem: Option<&str>, status: StatusCode) -> (StatusCode, String) {
    let mut page = Page::new("Sign in");
    if let Some(problem) = problem {
        page.push(&format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(problem)
        ));
    }
    let admin = if state.config.admin.token.is_some() {
        "or the server's admin token (<code>admin.token</code>) for the operator's pages"
    } else {
        "(the operator's pages need <code>admin.token</code> set in the configuration)"
    };
    page.push(&format!(
        "<form method=\"post\" action=\"/ui/login\" class=\"card\">\
         <label for=\"secret\">API key</label>\
         <input id=\"secret\" name=\"secret\" type=\"password\" required autocomplete=\"current-password\" autofocus>\
         <p class=\"hint\">A key from <code>ipintel keys create</code>, {admin}. The key stays on the server; your browser keeps only a session cookie.</p>\
         <button>Sign in</button></form>"
    ));
    (status, page.render(None))
}

#[derive(Deserialize)]
struct LoginForm {
    secret: String,
}

async fn login(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let client = crate::http::client_ip(&state, peer, request.headers());
    let result = async {
        let (headers, body) = read_body(request, FORM_LIMIT).await?;
        session::same_origin(&headers)?;
        if console.sign_in_failures.exhausted(client) {
            return Err(Stop::Page(
                ErrorKind::TooManyRequests,
                "too many failed sign-ins from your address; wait a minute".into(),
            ));
        }
        let form: LoginForm = form(&body, FORM_LIMIT)?;
        let secret = form.secret.trim();
        let token_matches = state
            .config
            .admin
            .token
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), secret.as_bytes()));
        let principal = if token_matches {
            Some(Principal::Operator)
        } else {
            let found = state
                .engine
                .authenticate(
                    Credential {
                        account_id: None,
                        key: secret,
                    },
                    Service::City,
                )
                .await;
            match found {
                // A live key whose plan lacks City can still sign in (its pages say what
                // it may use).
                Ok(_) => Some(()),
                Err(e) if e.kind() == ErrorKind::PermissionDenied => Some(()),
                Err(e) if e.kind() == ErrorKind::Unauthenticated => None,
                Err(e) => return Err(Stop::Page(e.kind(), e.to_string())),
            }
            .map(|()| Principal::Key {
                key: secret.to_string(),
                shown: secret.chars().take(12).collect(),
            })
        };
        let Some(principal) = principal else {
            console.sign_in_failures.allow(client);
            return Ok(None);
        };
        let id = console.sessions.create(principal).ok_or_else(|| {
            Stop::Page(
                ErrorKind::Unavailable,
                "too many sessions are open; try again later".into(),
            )
        })?;
        Ok(Some(id))
    }
    .await;
    match result {
        Ok(Some(id)) => {
            let mut response = redirect("/ui/");
            let cookie = session::set_cookie(Some(&id), state.config.tls.is_some());
            response
                .headers_mut()
                .insert("set-cookie", HeaderValue::from_str(&cookie).expect("ascii"));
            response
        }
        Ok(None) => {
            let (status, page) = login_form(
                &state,
                Some("that is not a live API key or the admin token"),
                StatusCode::UNAUTHORIZED,
            );
            html::respond(status, page)
        }
        Err(stop) => stop.into_response(None),
    }
}

async fn logout(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    request: axum::extract::Request,
) -> Response {
    let result = async {
        let (headers, body) = read_body(request, FORM_LIMIT).await?;
        let form: CsrfOnly = form(&body, FORM_LIMIT)?;
        session::check_post(&console.sessions, &headers, form.csrf.as_deref())?;
        console.sessions.end(&headers);
        Ok::<_, Stop>(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut response = redirect("/ui/login");
            let cookie = session::set_cookie(None, state.config.tls.is_some());
            response
                .headers_mut()
                .insert("set-cookie", HeaderValue::from_str(&cookie).expect("ascii"));
            response
        }
        Err(stop) => stop.into_response(None),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
