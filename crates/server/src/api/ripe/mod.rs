//! The RIPE Database REST API, read side (RIPE's REST API documentation, docs/registry.md sections
//! 1-8): object lookup, versions, search with flags, metadata, abuse contact and
//! geolocation, answered from the registry in memory. XML by default, JSON and text by
//! `Accept` or suffix. Served at the root paths, as RIPE serves them, and under
//! `registry.prefix` (default `/whois`). Open: RIPE's read API takes no key.

mod doc;
mod error;
mod handlers;
mod params;
mod render;

pub use error::refusal;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// This dialect's marker: the app attaches it to the routes below (metrics label, and the
/// error format of refusals the HTTP layer makes).
pub const DIALECT: crate::http::Dialect = crate::http::Dialect {
    name: "ripe",
    refuse: error::refusal,
    forbidden_when_too_large: false,
    own_body_limit: false,
};

/// The API's routes at the root and under `prefix`.
pub fn routes(prefix: &str) -> Router<AppState> {
    let mut router = mounted("");
    if !prefix.is_empty() {
        router = router.merge(mounted(prefix));
    }
    router
}

fn mounted(prefix: &str) -> Router<AppState> {
    let p = |path: &str| format!("{prefix}{path}");
    let mut router = Router::new();
    // The formats, and suffixes that name formats this API lacks (answered 400).
    for suffix in [
        "", ".json", ".xml", ".txt", ".html", ".htm", ".csv", ".yaml", ".yml", ".pdf",
    ] {
        router = router
            .route(&p(&format!("/search{suffix}")), get(handlers::search))
            .route(
                &p(&format!("/metadata/sources{suffix}")),
                get(handlers::sources),
            )
            .route(
                &p(&format!("/geolocation{suffix}")),
                get(handlers::geolocation),
            );
    }
    router
        .route(
            &p("/metadata/templates/{class}"),
            get(handlers::object_template),
        )
        .route(
            &p("/abuse-contact/{*resource}"),
            get(handlers::abuse_contact),
        )
        // Geolocation answers link objects under `/lookup/`, as RIPE's do.
        .route(&p("/lookup/{source}/{class}/{*key}"), get(handlers::lookup))
        .route(&p("/{source}/{class}/{*key}"), get(handlers::lookup))
        .route(&p("/{source}/{class}"), get(handlers::no_key))
}

/// The documented operations (OpenAPI). Documents are RIPE's `whois-resources` in XML by
/// default, JSON or text by `Accept` or suffix; errors come in the same three.
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    use crate::http::openapi::{ErrorBody, In, Operation, Param, ParamType};
    // XML is the default; described here as JSON, where a schema can say something.
    const FORMATS: &[&str] = &["application/xml", "text/plain"];
    let error = ErrorBody {
        content_type: "application/json",
        schema: || serde_json::json!({"type": "object"}),
        also: FORMATS,
    };
    let classes: &'static [&'static str] = {
        static CLASSES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        CLASSES.get_or_init(|| {
            ipintel_core::registry::template::all()
                .iter()
                .map(|t| t.class)
                .collect()
        })
    };
    // A source is a name; these words are other paths of the same server.
    const NOT_SOURCES: &[&str] = &[
        "v1",
        "v2",
        "api",
        "geoip",
        "admin",
        "metadata",
        "abuse-contact",
        "search",
        "geolocation",
        "whois",
        "openapi.json",
        "healthz",
        "readyz",
        "metrics",
    ];
    let path = |name: &'static str, description: &'static str, example: &'static str, kind| Param {
        name,
        location: In::Path,
        required: true,
        description,
        example,
        kind,
    };
    let query = |name: &'static str,
                 required: bool,
                 description: &'static str,
                 example: &'static str| Param {
        name,
        location: In::Query,
        required,
        description,
        example,
        kind: ParamType::AnyText,
    };
    let source = || {
        path(
            "source",
            "registry source (RIPE, TEST, ...), any case",
            "test",
            ParamType::Pattern("^[A-Za-z][A-Za-z0-9_-]{0,63}$", NOT_SOURCES),
        )
    };
    let class = || path("type", "object class", "mntner", ParamType::OneOf(classes));
    let key = || {
        path(
            "key",
            "primary key; inetnum as a range or CIDR, route as prefix + origin",
            "EX-MNT",
            ParamType::Text,
        )
    };
    let lookup_params = || {
        vec![
            source(),
            class(),
            key(),
            query(
                "password",
                false,
                "maintainer password (repeatable): unlocks hashes",
                "secret",
            ),
            query(
                "unfiltered",
                false,
                "keep e-mail, notify and the other notification attributes",
                "",
            ),
            query("unformatted", false, "attribute values as written", ""),
        ]
    };
    let op = |path: &'static str,
              summary: &'static str,
              params: Vec<Param>,
              responses: Vec<(u16, &'static str)>| Operation {
        method: "GET",
        path,
        tag: "RIPE Database REST API",
        summary,
        security: &[],
        params,
        responses,
        schema: None,
        content_type: "application/json",
        also: FORMATS,
        error,
        body: None,
    };
    let common = |extra: &[(u16, &'static str)]| {
        let mut r = vec![
            (503, "the registry is still loading (just after a start)"),
            (200, "a whois-resources document"),
            (400, "invalid input (RIPE's message)"),
            (415, "no acceptable format"),
        ];
        r.extend_from_slice(extra);
        r
    };
    // Root paths share the namespace with the other APIs: a "source" named like one of
    // their paths (the schema's excluded words) gets that API's answer.
    const SHARED: &[(u16, &str)] = &[
        (
            401,
            "the path belongs to another API of this server (a source named v2, geoip, api ...)",
        ),
        (405, "no key (`/{source}/{type}`), or a path of another API"),
    ];
    vec![
        op("/{source}/{type}/{key}", "one object, filtered unless a maintainer password unlocks it", lookup_params(), common(&[&[(404, "ERROR:101 no entries found")], SHARED].concat())),
        op("/{source}/{type}/{key}/versions", "the object's versions since it was last created", vec![source(), class(), key()], common(&[&[(404, "never existed, or a person/role")], SHARED].concat())),
        op(
            "/search",
            "RIPE's whois search: key classification, hierarchy, inverse and type filters",
            vec![
                Param { kind: ParamType::Text, ..query("query-string", true, "the search key (no flags)", "AS64496") },
                query("source", false, "source (repeatable)", "TEST"),
                query("type-filter", false, "object class (repeatable)", "aut-num"),
                query("inverse-attribute", false, "inverse attribute (repeatable)", "mnt-by"),
                query("flags", false, "long or short flags: no-referenced (r), no-filtering (B), no-grouping (G), exact (x), one-less (l), all-less (L), one-more (m), all-more (M), reverse-domain (d), irt (c)", "r"),
                query("limit", false, "most objects", "10"),
                query("offset", false, "objects to skip", "0"),
                query("abuse-contact", false, "add abuse-contact to resources", ""),
                query("resource-holder", false, "add resource-holder to resources", ""),
                query("managed-attributes", false, "mark attributes the registry manages", ""),
                query("unformatted", false, "attribute values as written", ""),
            ],
            common(&[(404, "ERROR:101 no entries found")]),
        ),
        op("/metadata/sources", "the registry's sources, with serial, import time and object count", vec![], vec![(200, "sources"), (415, "no acceptable format"), (503, "the registry is still loading")]),
        op("/metadata/templates/{type}", "a class's template", vec![class()], vec![(200, "the template"), (404, "no such class (empty body)"), (415, "no acceptable format"), (503, "the registry is still loading")]),
        op("/geolocation", "geoloc and language of an address's ranges and organisations", vec![Param { kind: ParamType::Text, ..query("ipkey", true, "address, prefix or range", "192.0.2.20") }], common(&[(404, "no range, or no geolocation data")])),
        op(
            "/abuse-contact/{resource}",
            "the abuse contact of an address, range or AS number",
            vec![path("resource", "address, prefix, range or AS number", "192.0.2.20", ParamType::Text)],
            vec![(200, "abuse-resources"), (400, "Invalid argument"), (404, "No abuse contact found"), (415, "no acceptable format"), (503, "the registry is still loading")],
        ),
    ]
}
