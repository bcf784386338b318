//! Handlers: parse the request, ask the registry generation of the moment, render. One
//! generation serves a whole request, so an import never shows half of itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use ipintel_core::registry::index::{ObjectId, Registry};
use ipintel_core::registry::key::{classify, parse_range, SearchKey};
use ipintel_core::registry::query::{self, Query, QueryError, Warning};
use ipintel_core::registry::service::Generation;
use ipintel_core::registry::template::template;
use ipintel_core::registry::unlock::{UnlockOutcome, Unlocker};
use ipintel_core::registry::versions::VersionsError;
use ipintel_core::ErrorKind;

use super::doc::Node;
use super::error::{no_entries, Message, RipeError};
use super::params::{self, Format};
use super::render::{Options, Renderer};
use crate::limits::Cancel;
use crate::state::AppState;

/// Answers of more objects than this (or any answer that checks passwords) are rendered on
/// the CPU pool, never on the async threads.
const INLINE_RENDER_OBJECTS: usize = 64;

/// Render an answer: on the CPU pool when it may be slow, inline when small; then count
/// what its passwords did (a failed guess spends one of the client's tokens).
async fn render_answer<F>(
    state: &AppState,
    client: IpAddr,
    heavy: bool,
    options: Options,
    render: F,
) -> Result<Response, RipeError>
where
    F: FnOnce(&Options, &Cancel) -> Result<Response, RipeError> + Send + 'static,
{
    let heavy = heavy || !options.unlock.is_empty();
    let (answer, outcome) = if heavy {
        state
            .cpu
            .run(move |cancel| {
                let answer = render(&options, cancel);
                (answer, options.unlock.outcome())
            })
            .await
    } else {
        let answer = render(&options, &Cancel::never());
        (answer, options.unlock.outcome())
    };
    match outcome {
        UnlockOutcome::NotTried => {}
        UnlockOutcome::Unlocked => state.metrics.registry_unlock("unlocked"),
        UnlockOutcome::Failed => {
            state.metrics.registry_unlock("failed");
            state.unlock_limiter.allow(client);
            tracing::info!(%client, "registry: maintainer passwords did not match");
        }
    }
    answer
}

/// What every handler knows of its request.
struct Request {
    generation: Arc<Generation>,
    params: Vec<(String, String)>,
    format: Format,
    base: String,
    terms: String,
    /// The request's path without the API's prefix (for its locator, built when needed).
    path: String,
}

impl Request {
    /// Read the parameters and the format (the path's suffix, else `Accept`).
    fn new(
        state: &AppState,
        uri: &Uri,
        headers: &HeaderMap,
        suffix: Option<Format>,
    ) -> Result<Request, RipeError> {
        let base = state.config.registry_base_url();
        let terms = state
            .config
            .registry
            .terms_url
            .clone()
            .unwrap_or_else(|| format!("{base}/"));
        let path = strip_prefix(uri.path(), &state.config.registry.prefix);
        let accept = headers.get("accept").and_then(|v| v.to_str().ok());
        let negotiated = params::negotiate(accept);
        let format = suffix.or(negotiated);
        let mut request = Request {
            generation: state.registry.current(),
            params: Vec::new(),
            format: format.unwrap_or(Format::Xml),
            path: path.to_string(),
            base,
            terms,
        };
        if !request.generation.loaded {
            return Err(request.error(
                ErrorKind::Unavailable,
                Message::error("The registry is loading; try again in a few seconds"),
            ));
        }
        if format.is_none() {
            return Err(request.error(
                ErrorKind::UnsupportedFormat,
                Message::error(format!(
                    "None of the accepted media types can be produced: {}",
                    accept.unwrap_or("")
                )),
            ));
        }
        match params::parse_query(uri.query()) {
            Ok(p) => request.params = p,
            Err(e) => return Err(request.error(ErrorKind::InvalidInput, Message::error(e))),
        }
        Ok(request)
    }

    /// The request's URL on the public base, `password` parameters left out. Only errors
    /// and a few documents carry it, so it is built on demand, not for every request.
    fn link(&self) -> String {
        const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~')
            .remove(b':')
            .remove(b'/');
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY).to_string();
        let shown: Vec<String> = self
            .params
            .iter()
            .filter(|(n, _)| n != "password")
            .map(|(n, v)| {
                if v.is_empty() {
                    enc(n)
                } else {
                    format!("{}={}", enc(n), enc(v))
                }
            })
            .collect();
        if shown.is_empty() {
            format!("{}{}", self.base, self.path)
        } else {
            format!("{}{}?{}", self.base, self.path, shown.join("&"))
        }
    }

    fn error(&self, kind: ErrorKind, message: Message) -> RipeError {
        RipeError {
            kind,
            message,
            format: self.format,
            link: self.link(),
            terms: self.terms.clone(),
        }
    }

    fn invalid(&self, text: impl Into<String>) -> RipeError {
        self.error(ErrorKind::InvalidInput, Message::error(text))
    }

    fn registry(&self) -> &Registry {
        &self.generation.registry
    }

    /// The registry's own name for a source, or 400 `Invalid source`.
    fn source(&self, name: &str) -> Result<String, RipeError> {
        self.registry()
            .sources()
            .iter()
            .find(|s| s.eq_ignore_ascii_case(name))
            .map(|s| s.to_string())
            .ok_or_else(|| self.invalid(format!("Invalid source '{name}'")))
    }

    /// How to show objects. Passwords are capped (`unlock::MAX_PASSWORDS`, a 400 past it), and a
    /// client with too many failed guesses of late is refused while it presents any.
    fn options(
        &self,
        state: &AppState,
        client: IpAddr,
        headers: &HeaderMap,
    ) -> Result<Options, RipeError> {
        let mut passwords: Vec<String> = params::all(&self.params, "password")
            .map(str::to_string)
            .collect();
        // `Authorization: Basic base64(MNTNER:password)`: the password counts.
        if let Some((_, pw)) = crate::http::basic_auth(headers) {
            passwords.push(pw);
        }
        let unlock = Unlocker::new(passwords).map_err(|e| self.invalid(e.to_string()))?;
        if !unlock.is_empty() && state.unlock_limiter.exhausted(client) {
            state.metrics.registry_unlock("refused");
            tracing::warn!(%client, "registry: passwords refused after too many failed guesses");
            return Err(self.error(
                ErrorKind::TooManyRequests,
                Message::error(format!(
                    "ERROR:201: access denied for {client}\n\nToo many failed maintainer password attempts from this address; try again in a minute."
                )),
            ));
        }
        Ok(Options {
            unformatted: params::flag(&self.params, "unformatted"),
            unfiltered: params::flag(&self.params, "unfiltered"),
            managed: params::flag(&self.params, "managed-attributes"),
            resource_holder: params::flag(&self.params, "resource-holder"),
            abuse_contact: params::flag(&self.params, "abuse-contact"),
            unlock,
        })
    }

    fn renderer<'a>(&'a self, options: &'a Options) -> Renderer<'a> {
        Renderer {
            registry: self.registry(),
            base: &self.base,
            options,
        }
    }

    /// A whole document: `members`, then terms and (on success) the server version.
    fn respond(&self, mut members: Vec<(&'static str, Node)>, success: bool) -> Response {
        members.push(("terms-and-conditions", Node::Locator(self.terms.clone())));
        if success {
            members.push(("version", version_node()));
        }
        let doc = Node::obj(members);
        let body = match self.format {
            Format::Json => doc.json(),
            _ => doc.xml("whois-resources"),
        };
        ([("content-type", self.format.content_type())], body).into_response()
    }

    fn text(&self, text: String) -> Response {
        ([("content-type", Format::Text.content_type())], text).into_response()
    }
}

/// The server build: version, when this server started, commit.
fn version_node() -> Node<'static> {
    static STARTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(|| crate::render::rfc3339(ipintel_core::store::now_unix()));
    Node::obj(vec![
        ("version", Node::str(env!("CARGO_PKG_VERSION"))),
        ("timestamp", Node::str(started.as_str())),
        (
            "commit-id",
            Node::str(option_env!("IPINTEL_COMMIT").unwrap_or("unknown")),
        ),
    ])
}

fn strip_prefix<'a>(path: &'a str, prefix: &str) -> &'a str {
    if prefix.is_empty() {
        return path;
    }
    match path.strip_prefix(prefix) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// A path that does not decode (`%FF`: not UTF-8) is a 400 in the asked format, not
/// axum's plain-text rejection.
fn path_or_400<T>(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    path: Result<Path<T>, PathRejection>,
) -> Result<Path<T>, RipeError> {
    path.map_err(|e| {
        let format = params::split_suffix(uri.path()).ok().and_then(|(_, f)| f);
        match Request::new(state, uri, headers, format) {
            Ok(r) => r.invalid(format!("Invalid path: {}", e.body_text())),
            Err(e) => e,
        }
    })
}

/// A one-parameter path's value without its format suffix, and the request in that
/// format.
fn path_request(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<(Path<String>, Request), RipeError> {
    let Path(value) = path_or_400(state, uri, headers, path)?;
    let (value, suffix) = suffix_of(&value)
        .map_err(|_| path_format(state, uri, headers).expect_err("an unsupported suffix"))?;
    let request = Request::new(state, uri, headers, suffix)?;
    Ok((Path(value.to_string()), request))
}

fn suffix_of(path: &str) -> Result<(&str, Option<Format>), String> {
    params::split_suffix(path)
}

/// The format a path's suffix names, or a 400 in a format the client accepts.
fn path_format(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<Format>, RipeError> {
    match suffix_of(uri.path()) {
        Ok((_, format)) => Ok(format),
        Err(suffix) => {
            let r = Request::new(state, uri, headers, None)?;
            Err(r.invalid(format!("Unsupported format suffix '{suffix}'")))
        }
    }
}

/// `GET /search`.
pub async fn search(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, RipeError> {
    let client = crate::http::client_ip(&state, peer, &headers);
    let suffix = path_format(&state, &uri, &headers)?;
    let r = Request::new(&state, &uri, &headers, suffix)?;
    let key = params::all(&r.params, "query-string")
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if key.is_empty() {
        return Err(r.invalid("Query param 'query-string' cannot be empty"));
    }
    if key.len() > params::MAX_QUERY_BYTES {
        return Err(r.invalid("ERROR:107: input line too long"));
    }
    if key.split_whitespace().count() > params::MAX_QUERY_WORDS {
        return Err(r.invalid("ERROR:118: too many arguments supplied"));
    }
    if params::has_flags(&key) {
        return Err(r.invalid("Flags are not allowed in 'query-string'"));
    }
    let mut flags = Vec::new();
    for value in params::all(&r.params, "flags") {
        match params::read_flags(value) {
            Ok(found) => flags.extend(found),
            Err(params::FlagError::Invalid { flag, value }) => {
                return Err(r.invalid(format!(
                    "Invalid search flag '{flag}' (in parameter '{value}')"
                )));
            }
        }
    }
    if let Some(bad) = flags.iter().find(|f| !f.allowed) {
        // Every flag in the table has a long name: RIPE names disallowed flags by it.
        return Err(r.invalid(format!("Disallowed search flag '{}'", bad.long)));
    }
    let has = |long: &str| flags.iter().any(|f| f.long == long);
    let hierarchy = params::hierarchy(&flags).map_err(|_| {
        r.invalid("ERROR:901: duplicate IP flags passed\n\nMore than one IP flag (-l, -L, -m, -M or -x) passed to the server.")
    })?;
    let mut sources = Vec::new();
    for name in params::all(&r.params, "source") {
        sources.push(r.source(name)?);
    }
    let asked_sources: Vec<String> = params::all(&r.params, "source")
        .map(str::to_string)
        .collect();
    if sources.is_empty() {
        sources = state.config.registry_default_sources();
    }
    let type_names: Vec<&str> = params::all(&r.params, "type-filter")
        .flat_map(|v| v.split(','))
        .collect();
    let types = query::types(&type_names).map_err(|e| r.invalid(format!("ERROR:103: {e}")))?;
    let inverse_names: Vec<&str> = params::all(&r.params, "inverse-attribute")
        .flat_map(|v| v.split(','))
        .collect();
    let inverse =
        query::inverse_attributes(&inverse_names).map_err(|e| r.invalid(query_error_text(&e)))?;
    let q = Query {
        key: key.clone(),
        sources: sources.clone(),
        types,
        inverse,
        hierarchy,
        no_referenced: has("no-referenced"),
        no_grouping: has("no-grouping"),
        irt: has("irt"),
        reverse_domain: has("reverse-domain"),
        no_personal: has("no-personal"),
    };
    let limit = match params::all(&r.params, "limit").next() {
        Some(v) => Some(
            v.trim()
                .parse::<usize>()
                .map_err(|_| r.invalid(format!("Invalid limit '{v}'")))?,
        ),
        None => None,
    };
    let offset = match params::all(&r.params, "offset").next() {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| r.invalid(format!("Invalid offset '{v}'")))?,
        None => 0,
    };
    let registry = r.registry();
    let answer = registry
        .search(&q)
        .map_err(|e| r.invalid(query_error_text(&e)))?;
    let stream = answer.stream(q.no_grouping);
    let cap = state.config.registry.max_results;
    let page: Vec<_> = stream
        .iter()
        .copied()
        .skip(offset)
        .take(limit.unwrap_or(cap).min(cap))
        .collect();
    let shown_sources: Vec<String> = if sources.is_empty() {
        registry.sources().iter().map(|s| s.to_string()).collect()
    } else {
        sources.clone()
    };
    if page.is_empty() {
        return Err(r.error(ErrorKind::NotFound, no_entries(&shown_sources)));
    }
    let mut messages = Vec::new();
    if answer.warnings.contains(&Warning::UselessIpFlag) {
        messages.push(Message {
            severity: "Warning",
            text: "WARNING:902: useless IP flag passed\n\nAn IP flag (-l, -L, -m, -M, -x, -d or -b) used without an IP key.".into(),
            args: vec![],
        });
    }
    if limit.is_none() && stream.len() > offset + cap {
        messages.push(Message {
            severity: "Warning",
            text: "The answer was cut at %s objects (registry.max_results); use limit and offset to page".into(),
            args: vec![cap.to_string()],
        });
    }
    drop(stream);
    let mut options = r.options(&state, client, &headers)?;
    options.unfiltered |= has("no-filtering");
    let heavy = page.len() > INLINE_RENDER_OBJECTS;
    let echo = SearchEcho {
        inverse: inverse_names.iter().map(|s| s.to_string()).collect(),
        types: type_names.iter().map(|s| s.to_string()).collect(),
        flags: flags.iter().map(|f| f.long).collect(),
        key,
        sources: asked_sources,
    };
    render_answer(&state, client, heavy, options, move |options, cancel| {
        search_document(&r, options, &page, echo, messages, cancel)
    })
    .await
}

/// What a search document repeats of its request.
struct SearchEcho {
    inverse: Vec<String>,
    types: Vec<String>,
    flags: Vec<&'static str>,
    key: String,
    sources: Vec<String>,
}

/// A search answer's page as a document (or RPSL text), stopping early when cancelled.
fn search_document(
    r: &Request,
    options: &Options,
    page: &[ObjectId],
    echo: SearchEcho,
    messages: Vec<Message>,
    cancel: &Cancel,
) -> Result<Response, RipeError> {
    let registry = r.registry();
    let renderer = r.renderer(options);
    let cancelled = || {
        r.error(
            ErrorKind::Unavailable,
            Message::error("The request was cancelled"),
        )
    };
    if r.format == Format::Text {
        let mut text = String::new();
        for &id in page {
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            renderer.text(Some(id), &registry.object(id), &mut text);
        }
        return Ok(r.text(text));
    }
    // Objects are read from the generation's file; the rendered nodes borrow them.
    let mut stored = Vec::with_capacity(page.len());
    for &id in page {
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        stored.push((id, registry.object(id)));
    }
    let objects: Vec<Node> = stored
        .iter()
        .map(|(id, object)| renderer.object(Some(*id), object, None))
        .collect();
    let value_list = |name: &'static str, key: &'static str, values: Vec<String>| {
        Node::wrap(
            name,
            values
                .into_iter()
                .map(|v| Node::obj(vec![(key, Node::str(v))]))
                .collect(),
        )
    };
    let parameters = Node::obj(vec![
        (
            "inverse-lookup",
            value_list("inverse-attribute", "value", echo.inverse),
        ),
        ("type-filters", value_list("type-filter", "id", echo.types)),
        (
            "flags",
            value_list(
                "flag",
                "value",
                echo.flags.iter().map(|f| f.to_string()).collect(),
            ),
        ),
        (
            "query-strings",
            value_list("query-string", "value", vec![echo.key]),
        ),
        ("sources", value_list("source", "id", echo.sources)),
    ]);
    let mut members = vec![
        ("service", Node::obj(vec![("name", Node::str("search"))])),
        ("parameters", parameters),
        ("objects", Node::wrap("object", objects)),
    ];
    if !messages.is_empty() {
        members.push((
            "errormessages",
            Node::wrap("errormessage", messages.iter().map(Message::node).collect()),
        ));
    }
    Ok(r.respond(members, true))
}

fn query_error_text(e: &QueryError) -> String {
    match e {
        QueryError::NoKey => "ERROR:106: no search key specified".into(),
        // The reason the key does not parse, after RIPE's text.
        QueryError::InvalidKey(why) => format!("{}\n({why})", e.ripe_message()),
        _ => e.ripe_message(),
    }
}

/// `GET /{source}/{type}` without a key.
pub async fn no_key() -> Response {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        [("content-type", "text/plain;charset=UTF-8")],
        "a key is required: /{source}/{type}/{key}\n",
    )
        .into_response()
}

/// What a lookup path asks for.
enum Wanted {
    Object,
    Versions,
    Version(u32),
}

/// `GET /{source}/{type}/{key}`, `.../versions`, `.../versions/{n}`.
pub async fn lookup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, RipeError> {
    let client = crate::http::client_ip(&state, peer, &headers);
    let Path((source, class, key)) = path_or_400(&state, &uri, &headers, path)?;
    let (key, suffix) = match suffix_of(&key) {
        Ok(split) => split,
        Err(_) => {
            return Err(path_format(&state, &uri, &headers).expect_err("an unsupported suffix"))
        }
    };
    let r = Request::new(&state, &uri, &headers, suffix)?;
    let (key, wanted) = if let Some(k) = key.strip_suffix("/versions") {
        (k, Wanted::Versions)
    } else if let Some((k, n)) = key.rsplit_once("/versions/") {
        match n.parse::<u32>() {
            Ok(n) => (k, Wanted::Version(n)),
            Err(_) => return Err(r.invalid(format!("Invalid version '{n}'"))),
        }
    } else {
        (key, Wanted::Object)
    };
    let source = r.source(&source)?;
    let Some(template) = template(&class) else {
        return Err(r.invalid(format!("Invalid object type: {class}")));
    };
    let registry = r.registry();
    let options = r.options(&state, client, &headers)?;
    match wanted {
        Wanted::Object => {
            let Some(id) = registry.get(&source, template.class, key) else {
                return Err(r.error(ErrorKind::NotFound, no_entries(&[source])));
            };
            render_answer(&state, client, false, options, move |options, _| {
                let registry = r.registry();
                let renderer = r.renderer(options);
                if r.format == Format::Text {
                    let mut text = String::new();
                    renderer.text(Some(id), &registry.object(id), &mut text);
                    return Ok(r.text(text));
                }
                let stored = registry.object(id);
                let object = renderer.object(Some(id), &stored, None);
                Ok(r.respond(vec![("objects", Node::wrap("object", vec![object]))], true))
            })
            .await
        }
        Wanted::Versions | Wanted::Version(_) => {
            let refuse = |e: VersionsError| match e {
                VersionsError::NotFound => r.error(
                    ErrorKind::NotFound,
                    no_entries(std::slice::from_ref(&source)),
                ),
                e => r.error(e.kind(), Message::error(e.to_string())),
            };
            let versions = state
                .registry
                .versions(registry, &source, template, key)
                .await
                .map_err(refuse)?;
            if let Wanted::Version(n) = wanted {
                let (stored, _) = versions.revision(n).map_err(refuse)?;
                let renderer = r.renderer(&options);
                if r.format == Format::Text {
                    let mut text = String::new();
                    renderer.text(None, &stored, &mut text);
                    return Ok(r.text(text));
                }
                let object = renderer.object(None, &stored, Some(n));
                return Ok(r.respond(vec![("objects", Node::wrap("object", vec![object]))], true));
            }
            let shown_key = &versions.key;
            let versions = &versions.rows;
            if r.format == Format::Text {
                let mut text = format!(
                    "Version history for {} object \"{shown_key}\"\n\nrev#  Date              Op.\n",
                    template.class.to_ascii_uppercase()
                );
                for v in versions {
                    text.push_str(&format!(
                        "{:<5} {:<21} {}\n",
                        v.revision,
                        crate::render::rfc3339(v.at),
                        "ADD/UPD"
                    ));
                }
                return Ok(r.text(text));
            }
            let list: Vec<Node> = versions
                .iter()
                .map(|v| {
                    Node::obj(vec![
                        ("revision", Node::Int(v.revision as i64)),
                        ("date", Node::str(crate::render::rfc3339(v.at))),
                        ("operation", Node::str("ADD/UPD")),
                    ])
                })
                .collect();
            Ok(r.respond(
                vec![(
                    "versions",
                    Node::obj(vec![
                        ("type", Node::str(template.class)),
                        ("key", Node::str(shown_key)),
                        ("version", Node::List(list)),
                    ]),
                )],
                true,
            ))
        }
    }
}

/// `GET /metadata/sources`.
pub async fn sources(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, RipeError> {
    let suffix = path_format(&state, &uri, &headers)?;
    let r = Request::new(&state, &uri, &headers, suffix)?;
    let list: Vec<Node> = r
        .generation
        .sources
        .iter()
        .map(|s| {
            let mut m = vec![("id", Node::str(s.name.to_ascii_lowercase()))];
            if let Some(serial) = s.serial {
                m.push(("serial", Node::Int(serial)));
            }
            m.push(("imported", Node::str(crate::render::rfc3339(s.imported_at))));
            m.push(("objects", Node::Int(s.objects as i64)));
            Node::obj(m)
        })
        .collect();
    if r.format == Format::Text {
        let text: String = r
            .generation
            .sources
            .iter()
            .map(|s| format!("{}\n", s.name.to_ascii_lowercase()))
            .collect();
        return Ok(r.text(text));
    }
    Ok(r.respond(
        vec![
            (
                "link",
                Node::Locator(format!("{}/metadata/sources", r.base)),
            ),
            (
                "service",
                Node::obj(vec![("name", Node::str("getSupportedDataSources"))]),
            ),
            ("sources", Node::wrap("source", list)),
        ],
        false,
    ))
}

/// `GET /metadata/templates/{type}`.
pub async fn object_template(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, RipeError> {
    let (Path(class), r) = path_request(&state, &uri, &headers, path)?;
    let class = class.as_str();
    let Some(t) = template(class) else {
        let status = crate::http::error::status(ErrorKind::NotFound);
        return Ok((status, [("content-type", r.format.content_type())], "").into_response());
    };
    if r.format == Format::Text {
        return Ok(r.text(t.text()));
    }
    let source = r
        .registry()
        .sources()
        .first()
        .map_or("ripe".to_string(), |s| s.to_ascii_lowercase());
    let attributes: Vec<Node> = t
        .attributes
        .iter()
        .map(|a| {
            let mut m = vec![
                ("name", Node::str(a.name)),
                (
                    "requirement",
                    Node::str(format!("{:?}", a.requirement).to_ascii_uppercase()),
                ),
                (
                    "cardinality",
                    Node::str(format!("{:?}", a.cardinality).to_ascii_uppercase()),
                ),
            ];
            let mut keys = Vec::new();
            if a.primary {
                keys.push(Node::str("PRIMARY_KEY"));
            }
            if a.lookup {
                keys.push(Node::str("LOOKUP_KEY"));
            }
            if a.inverse {
                keys.push(Node::str("INVERSE_KEY"));
            }
            if !keys.is_empty() {
                m.push(("keys", Node::List(keys)));
            }
            Node::obj(m)
        })
        .collect();
    Ok(r.respond(
        vec![
            (
                "link",
                Node::Locator(format!("{}/metadata/templates/{}", r.base, t.class)),
            ),
            (
                "service",
                Node::obj(vec![("name", Node::str("getObjectTemplate"))]),
            ),
            (
                "templates",
                Node::wrap(
                    "template",
                    vec![Node::obj(vec![
                        ("type", Node::str(t.class)),
                        ("source", Node::obj(vec![("id", Node::str(source))])),
                        ("attributes", Node::wrap("attribute", attributes)),
                    ])],
                ),
            ),
        ],
        false,
    ))
}

/// `GET /abuse-contact/{resource}`.
pub async fn abuse_contact(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, RipeError> {
    let (Path(resource), r) = path_request(&state, &uri, &headers, path)?;
    let resource = resource.as_str();
    let message = |kind: ErrorKind, text: String| -> Response {
        let status = crate::http::error::status(kind);
        let body = match r.format {
            Format::Json => Node::obj(vec![("message", Node::str(text))]).json(),
            Format::Xml => {
                let mut xml =
                    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><abuse-resources><message>"
                        .to_vec();
                xml.extend(quick_xml::escape::escape(&text).as_bytes());
                xml.extend(b"</message></abuse-resources>");
                xml
            }
            Format::Text => format!("{text}\n").into_bytes(),
        };
        (status, [("content-type", r.format.content_type())], body).into_response()
    };
    let key = match classify(resource) {
        Ok(key @ (SearchKey::AsNumber(_) | SearchKey::Range { origin: None, .. })) => key,
        _ => {
            return Ok(message(
                ErrorKind::InvalidInput,
                format!("Invalid argument: {resource}"),
            ))
        }
    };
    let registry = r.registry();
    let found = registry
        .resource(&key)
        .filter(|&id| !registry.is_whole_space(id));
    let Some(id) = found else {
        return Ok(message(
            ErrorKind::NotFound,
            format!("No abuse contact found for {resource}"),
        ));
    };
    let abuse = registry.abuse_mailbox(id);
    let text = format!("% {}\n", abuse.sentence());
    let primary = abuse.resource.clone();
    let contact = super::render::abuse_node(abuse);
    let doc = Node::obj(vec![
        ("service", Node::str("abuse-contact")),
        (
            "link",
            Node::Locator(format!("{}/abuse-contact/{resource}", r.base)),
        ),
        (
            "parameters",
            Node::obj(vec![(
                "primary-key",
                Node::obj(vec![("value", Node::str(primary.clone()))]),
            )]),
        ),
        ("abuse-contacts", contact),
        ("terms-and-conditions", Node::Locator(r.terms.clone())),
    ]);
    let body = match r.format {
        Format::Json => doc.json(),
        Format::Xml => doc.xml("abuse-resources"),
        Format::Text => text.into_bytes(),
    };
    Ok(([("content-type", r.format.content_type())], body).into_response())
}

/// `GET /geolocation?ipkey=`.
pub async fn geolocation(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, RipeError> {
    let suffix = path_format(&state, &uri, &headers)?;
    let r = Request::new(&state, &uri, &headers, suffix)?;
    let Some(ipkey) = params::all(&r.params, "ipkey")
        .next()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        return Err(r.invalid("ipkey is required"));
    };
    let Ok((family, span)) = parse_range(ipkey) else {
        return Err(r.error(
            ErrorKind::NotFound,
            Message::error("No inetnum/inet6num resource has been found"),
        ));
    };
    let registry = r.registry();
    let geo = registry.geolocation(family, span);
    if geo.location.is_none() && geo.languages.is_empty() {
        return Err(r.error(
            ErrorKind::NotFound,
            Message::error(format!(
                "No geolocation data was found for the given ipkey: {ipkey}"
            )),
        ));
    }
    let link = |id| {
        let stored = registry.object(id);
        Node::Locator(super::render::object_url(
            &format!("{}/lookup", r.base),
            &stored.source,
            stored.template.class,
            &stored.key,
        ))
    };
    if r.format == Format::Text {
        let mut text = String::new();
        if let Some((value, _)) = &geo.location {
            text.push_str(&format!("location: {value}\n"));
        }
        for (value, _) in &geo.languages {
            text.push_str(&format!("language: {value}\n"));
        }
        return Ok(r.text(text));
    }
    let mut attrs = Vec::new();
    if let Some((value, id)) = &geo.location {
        attrs.push((
            "location",
            Node::List(vec![Node::obj(vec![
                ("value", Node::str(value.clone())),
                ("link", link(*id)),
            ])]),
        ));
    }
    if !geo.languages.is_empty() {
        attrs.push((
            "language",
            Node::List(
                geo.languages
                    .iter()
                    .map(|(v, id)| {
                        Node::obj(vec![("value", Node::str(v.clone())), ("link", link(*id))])
                    })
                    .collect(),
            ),
        ));
    }
    Ok(r.respond(
        vec![
            (
                "service",
                Node::obj(vec![("name", Node::str("geolocation-finder"))]),
            ),
            ("link", Node::Locator(r.link())),
            ("geolocation-attributes", Node::obj(attrs)),
        ],
        false,
    ))
}
