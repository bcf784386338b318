//! RIPE-style whois queries on port 43 (docs/registry.md and docs/whois.md): a
//! line of flags and a search key, parsed into the engine's [`Query`] (the same model the
//! REST API uses), answered as RPSL text with `%` message blocks: filtering notes,
//! `% Information related to` groups, abuse-contact lines, numbered `%ERROR:` and
//! `%WARNING:` messages. The banner and the served-by line are added by [`frame`].

use ipintel_core::registry::flags::{self, Flag};
use ipintel_core::registry::index::{ObjectId, Registry, Stored};
use ipintel_core::registry::key::{classify, SearchKey};
use ipintel_core::registry::query::{self, Query, QueryError, Warning};
use ipintel_core::registry::template::{self, Template};
use ipintel_core::registry::versions::{announced_key, VersionsError};
use ipintel_core::registry::view::{rpsl_text, view_with, View};

use super::{Outcome, Session};

/// A RIPE answer before framing.
pub struct RipeAnswer {
    /// Message blocks and objects, each ending in one blank line.
    pub body: String,
    pub outcome: Outcome,
    /// Sent as it is, without banner and served-by line (NRTM, as IRRd sends it).
    pub unframed: bool,
    /// Close the connection after it (a bare `-k` ending a persistent session).
    pub close: bool,
    /// Send nothing (a bare `-k` opening one).
    pub silent: bool,
}

impl RipeAnswer {
    fn of(body: String, outcome: Outcome) -> RipeAnswer {
        RipeAnswer {
            body,
            outcome,
            unframed: false,
            close: false,
            silent: false,
        }
    }

    fn error(text: &str) -> RipeAnswer {
        RipeAnswer::of(message(text), Outcome::Error)
    }

    pub(super) fn unframed(body: String, outcome: Outcome) -> RipeAnswer {
        RipeAnswer {
            unframed: true,
            ..RipeAnswer::of(body, outcome)
        }
    }
}

/// A message block: each line prefixed `% ` (an empty one `%`, `ERROR:`/`WARNING:` lines
/// `%ERROR:`), then one blank line.
pub fn message(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split('\n') {
        if line.is_empty() {
            out.push_str("%\n");
        } else if line.starts_with("ERROR:") || line.starts_with("WARNING:") {
            out.push('%');
            out.push_str(line);
            out.push('\n');
        } else {
            out.push_str("% ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

/// Banner, `body`, served-by line and the two blank lines that end an answer.
pub fn frame(session: &Session<'_>, body: &str) -> String {
    let config = &session.state.config;
    let name = &config.whois.name;
    let terms = config
        .registry
        .terms_url
        .clone()
        .unwrap_or_else(|| format!("{}/", config.registry_base_url()));
    let mut out = String::with_capacity(body.len() + 512);
    out.push_str(&format!(
        "% This is the {name} Database query service.\n% The objects are in RPSL format.\n%\n% The {name} Database is subject to Terms and Conditions.\n% See {terms}\n\n"
    ));
    out.push_str(body);
    out.push_str(&format!(
        "% This query was served by the {name} Database Query Service version {} ({})\n\n\n",
        env!("CARGO_PKG_VERSION"),
        host_name()
    ));
    out
}

fn host_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
}

/// A query line's flags (each with its argument) and search key.
#[derive(Debug, Default)]
struct Parsed {
    flags: Vec<(&'static Flag, Option<String>)>,
    key: String,
}

impl Parsed {
    fn has(&self, long: &str) -> bool {
        self.flags.iter().any(|(f, _)| f.long == long)
    }

    /// Every argument of a flag (`-T a -T b`, `-T a,b`).
    fn values(&self, long: &str) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(f, _)| f.long == long)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    /// Every comma-separated item of a list flag's arguments (`-T a,b -T c`).
    fn list(&self, long: &str) -> Vec<String> {
        self.values(long)
            .iter()
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn value(&self, long: &str) -> Option<String> {
        self.values(long).into_iter().next()
    }
}

/// How a flag is named in messages: `-r` or `--no-personal`.
fn shown(flag: &Flag) -> String {
    match flag.short {
        Some(c) => format!("-{c}"),
        None => format!("--{}", flag.long),
    }
}

/// Flags that may be given more than once (their lists add up).
const REPEATABLE: &[&str] = &["select-types", "inverse", "sources"];

fn invalid_option(reason: &str) -> String {
    format!(
        "ERROR:111: invalid option supplied\n\n{reason}\nUse help query to see the valid options."
    )
}

fn parse(line: &str) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut words = line.split_whitespace();
    let mut key: Vec<&str> = Vec::new();
    let push = |parsed: &mut Parsed, flag: &'static Flag, value: Option<String>| {
        if !REPEATABLE.contains(&flag.long) && parsed.has(flag.long) {
            return Err(format!(
                "ERROR:110: multiple use of flag\n\nThe flag \"{}\" cannot be used multiple times.",
                shown(flag)
            ));
        }
        parsed.flags.push((flag, value));
        Ok(())
    };
    while let Some(word) = words.next() {
        if let Some(long) = word.strip_prefix("--").filter(|l| !l.is_empty()) {
            let Some(flag) = flags::by_long(long) else {
                return Err(invalid_option(&format!(
                    "\"--{long}\" is not a known option."
                )));
            };
            let value =
                if flag.argument {
                    Some(words.next().map(str::to_string).ok_or_else(|| {
                        invalid_option(&format!("\"--{long}\" needs an argument."))
                    })?)
                } else {
                    None
                };
            push(&mut parsed, flag, value)?;
        } else if word.len() > 1 && word.starts_with('-') {
            let letters = &word[1..];
            for (at, c) in letters.char_indices() {
                let Some(flag) = flags::by_short(c) else {
                    return Err(invalid_option(&format!("\"-{c}\" is not a known option.")));
                };
                if flag.argument {
                    let rest = &letters[at + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        words.next().map(str::to_string).ok_or_else(|| {
                            invalid_option(&format!("\"-{c}\" needs an argument."))
                        })?
                    } else {
                        rest.to_string()
                    };
                    push(&mut parsed, flag, Some(value))?;
                    break;
                }
                push(&mut parsed, flag, None)?;
            }
        } else {
            key.push(word);
        }
    }
    parsed.key = key.join(" ");
    Ok(parsed)
}

/// Answer one RIPE-style query line.
pub async fn answer(session: &mut Session<'_>, line: &str) -> RipeAnswer {
    let parsed = match parse(line) {
        Ok(parsed) => parsed,
        Err(text) => return RipeAnswer::error(&text),
    };
    // -k: a persistent connection. Bare, it opens one (nothing is sent) or ends it.
    if parsed.has("persistent-connection") {
        if parsed.key.is_empty() && parsed.flags.len() == 1 {
            let was = session.persistent;
            session.persistent = !was;
            return RipeAnswer {
                close: was,
                silent: true,
                ..RipeAnswer::of(String::new(), Outcome::Empty)
            };
        }
        session.persistent = true;
    }
    if let Some(client) = parsed.value("client") {
        // `-V agent,ip` is for proxies the operator trusts.
        if client.contains(',') {
            let trusted = session
                .state
                .config
                .http
                .trusted_proxies
                .iter()
                .any(|n| n.contains(&session.client));
            if !trusted {
                return RipeAnswer::error("ERROR:203: you are not allowed to act as a proxy");
            }
        }
    }
    if let Some(mirror) = parsed.value("mirror") {
        return super::nrtm::answer(session, &mirror).await;
    }
    for unsupported in ["brief", "diff-versions"] {
        if parsed.has(unsupported) {
            let flag = flags::by_long(unsupported).expect("in the table");
            return RipeAnswer::error(&invalid_option(&format!(
                "\"{}\" is not served by this server.",
                shown(flag)
            )));
        }
    }
    if let Some(charset) = parsed.value("charset") {
        if !matches!(charset.to_ascii_lowercase().as_str(), "utf-8" | "utf8") {
            return RipeAnswer::error(&invalid_option(&format!(
                "The charset \"{charset}\" is not served: answers are UTF-8."
            )));
        }
    }
    if let Some(what) = parsed.value("query-type") {
        return server_info(session, &what).await;
    }
    if let Some(class) = parsed.value("template") {
        return template_answer(&class, false);
    }
    if let Some(class) = parsed.value("verbose") {
        return template_answer(&class, true);
    }
    let generation = session.state.registry.current();
    if !generation.loaded {
        return RipeAnswer::error(
            "ERROR:100: internal software error\n\nThe registry is loading; try again shortly.",
        );
    }
    let registry = &generation.registry;
    let query = match build_query(session, registry, &parsed) {
        Ok(query) => query,
        Err(text) => return RipeAnswer::error(&text),
    };
    if parsed.has("list-versions") || parsed.has("show-version") {
        return versions(session, registry, &parsed, query).await;
    }
    search(session, registry, &parsed, &query)
}

/// The engine query a line asks for, or the message refusing it.
fn build_query(
    session: &Session<'_>,
    registry: &Registry,
    parsed: &Parsed,
) -> Result<Query, String> {
    let brief = parsed.has("abuse-contact");
    if brief {
        for other in ["no-filtering", "brief", "no-referenced", "primary-keys"] {
            if parsed.has(other) {
                let flag = flags::by_long(other).expect("in the table");
                return Err(format!(
                    "ERROR:109: invalid combination of flags passed\n\nThe flags \"-b, --abuse-contact\" and \"{}, --{}\" cannot be used together.",
                    shown(flag),
                    flag.long
                ));
            }
        }
    }
    let hierarchy = flags::hierarchy(parsed.flags.iter().map(|(f, _)| f.long)).map_err(|_| {
        "ERROR:901: duplicate IP flags passed\n\nMore than one IP flag (-l, -L, -m, -M or -x) passed to the server.".to_string()
    })?;
    let known = registry.sources();
    let mut sources: Vec<String> = Vec::new();
    for name in parsed.list("sources") {
        let upper = name.to_ascii_uppercase();
        if !known.iter().any(|k| **k == *upper) {
            return Err(format!(
                "ERROR:102: unknown source\n\n\"{name}\" is not a known source.\nUse \"-q sources\" to list known sources."
            ));
        }
        sources.push(upper);
    }
    let resource = parsed.has("resource");
    if parsed.has("all-sources") || resource {
        sources = known.iter().map(|s| s.to_string()).collect();
    } else if sources.is_empty() {
        sources = session.state.config.registry_default_sources();
    }
    let type_names = parsed.list("select-types");
    let names: Vec<&str> = type_names.iter().map(String::as_str).collect();
    let mut types = query::types(&names).map_err(|e| query_error_text(&e))?;
    let primary_keys = parsed.has("primary-keys");
    if primary_keys || resource {
        // -K leaves personal data out; --resource searches resource classes only.
        let keep = |t: &&Template| {
            if resource {
                matches!(
                    t.class,
                    "inetnum" | "inet6num" | "aut-num" | "as-block" | "route" | "route6" | "domain"
                )
            } else {
                !matches!(t.class, "person" | "role" | "organisation")
            }
        };
        if types.is_empty() {
            types = template::all().iter().filter(keep).collect();
        } else {
            types.retain(keep);
        }
    }
    let inverse_names = parsed.list("inverse");
    let names: Vec<&str> = inverse_names.iter().map(String::as_str).collect();
    let inverse = query::inverse_attributes(&names).map_err(|e| query_error_text(&e))?;
    let versions = parsed.has("list-versions") || parsed.has("show-version");
    if brief {
        match classify(&parsed.key) {
            Ok(SearchKey::Range { .. } | SearchKey::AsNumber(_)) => {}
            _ if parsed.key.trim().is_empty() => {}
            _ => {
                return Err(invalid_option(
                    "The \"-b\" flag takes an IP address, a range or an AS number.",
                ))
            }
        }
    }
    Ok(Query {
        key: parsed.key.clone(),
        sources,
        types,
        inverse,
        hierarchy,
        no_referenced: parsed.has("no-referenced") || primary_keys || brief || resource || versions,
        no_grouping: parsed.has("no-grouping"),
        irt: parsed.has("irt"),
        reverse_domain: parsed.has("reverse-domain"),
        no_personal: parsed.has("no-personal"),
    })
}

fn query_error_text(e: &QueryError) -> String {
    match e {
        QueryError::TooLarge => format!(
            "{}\nThe data is available from the registry's dump files.",
            e.ripe_message()
        ),
        _ => e.ripe_message(),
    }
}

/// The sources a "no entries" message names.
fn no_entries(registry: &Registry, query: &Query) -> RipeAnswer {
    let sources: Vec<String> = if query.sources.is_empty() {
        registry.sources().iter().map(|s| s.to_string()).collect()
    } else {
        query.sources.clone()
    };
    let (text, arg) = ipintel_core::registry::query::no_entries_text(&sources);
    let text = match arg {
        Some(names) => text.replace("%s", &names),
        None => text,
    };
    RipeAnswer::of(message(&text), Outcome::Empty)
}

const FILTER_NOTE: &str =
    "Note: this output has been filtered.\n      To receive output for a database update, use the \"-B\" flag.";
const PRIMARY_KEYS_NOTE: &str = "Note: this output has been filtered.\nOnly primary keys and abuse contacts will be visible.\nNo other contact information will be shown.";

fn search(
    session: &Session<'_>,
    registry: &Registry,
    parsed: &Parsed,
    query: &Query,
) -> RipeAnswer {
    let brief = parsed.has("abuse-contact");
    let primary_keys = parsed.has("primary-keys");
    let unfiltered = parsed.has("no-filtering");
    let mut body = String::new();
    if primary_keys {
        body.push_str(&message(PRIMARY_KEYS_NOTE));
    } else if !unfiltered && !brief {
        // Said even when nothing is found, as RIPE does.
        body.push_str(&message(FILTER_NOTE));
    }
    let answer = match registry.search(query) {
        Ok(answer) => answer,
        Err(e) => return RipeAnswer::error(&query_error_text(&e)),
    };
    if answer.warnings.contains(&Warning::UselessIpFlag) {
        body.push_str(&message(
            "WARNING:902: useless IP flag passed\n\nAn IP flag (-l, -L, -m, -M, -x, -d or -b) used without an IP key.",
        ));
    }
    if answer.groups.is_empty() {
        let mut none = no_entries(registry, query);
        none.body.insert_str(0, &body);
        return none;
    }
    let cap = session.state.config.registry.max_results;
    let mut written = 0usize;
    let mut cut = false;
    let mut object = |id: ObjectId, body: &mut String| -> bool {
        if written == cap {
            cut = true;
            return false;
        }
        written += 1;
        let stored = &registry.object(id);
        let mut view = view_with(stored, unfiltered, false, true);
        if primary_keys {
            keep_keys(stored, &mut view);
        }
        rpsl_text(&view, body);
        body.push('\n');
        true
    };
    if brief {
        for group in &answer.groups {
            let stored = &registry.object(group.primary);
            if !is_resource(stored) {
                continue;
            }
            let Some(email) = abuse_mailbox(registry, group.primary) else {
                body.push_str(&message(&format!(
                    "No abuse contact registered for {}",
                    announced_key(stored)
                )));
                continue;
            };
            let mut view = view_with(stored, true, false, true);
            view.attributes.retain(|a| a.name == stored.template.class);
            rpsl_text(&view, &mut body);
            body.push_str(&format!("{:<16}{email}\n\n", "abuse-mailbox:"));
        }
        return RipeAnswer::of(body, Outcome::Data);
    }
    if query.no_grouping {
        let primaries: std::collections::HashSet<ObjectId> =
            answer.groups.iter().map(|g| g.primary).collect();
        for id in answer.stream(true) {
            if primaries.contains(&id) {
                abuse_line(registry, id, &mut body);
            }
            if !object(id, &mut body) {
                break;
            }
        }
    } else {
        'groups: for group in &answer.groups {
            let stored = &registry.object(group.primary);
            body.push_str(&message(&format!(
                "Information related to '{}'",
                announced_key(stored)
            )));
            abuse_line(registry, group.primary, &mut body);
            for id in std::iter::once(group.primary).chain(group.related.iter().copied()) {
                if !object(id, &mut body) {
                    break 'groups;
                }
            }
        }
    }
    if cut {
        body.push_str(&message(&format!(
            "WARNING: the answer was cut at {cap} objects (registry.max_results).\nNarrow the query (-T, -r, -x) to see the rest."
        )));
    }
    RipeAnswer::of(body, Outcome::Data)
}

fn is_resource(stored: &Stored) -> bool {
    matches!(stored.template.class, "inetnum" | "inet6num" | "aut-num")
}

fn abuse_mailbox(registry: &Registry, id: ObjectId) -> Option<String> {
    Some(registry.abuse_mailbox(id).email).filter(|email| !email.is_empty())
}

/// `% Abuse contact for 'K' is 'E'` (or that there is none) before a resource.
fn abuse_line(registry: &Registry, id: ObjectId, body: &mut String) {
    let stored = &registry.object(id);
    if !is_resource(stored) {
        return;
    }
    body.push_str(&message(&registry.abuse_mailbox(id).sentence()));
}

/// -K: only the attributes of the primary key (and a set's members).
fn keep_keys(stored: &Stored, view: &mut View<'_>) {
    let template = stored.template;
    let is_set = template.class.ends_with("-set");
    view.attributes.retain(|a| {
        template.attribute(a.name).is_some_and(|t| t.primary)
            || (is_set && (a.name == "members" || a.name == "mp-members"))
    });
}

/// `-q sources`, `-q version`, `-q types`.
async fn server_info(session: &Session<'_>, what: &str) -> RipeAnswer {
    match what.to_ascii_lowercase().as_str() {
        "types" => {
            let mut body: String = template::all()
                .iter()
                .map(|t| format!("{}\n", t.class))
                .collect();
            body.push('\n');
            RipeAnswer::of(body, Outcome::Data)
        }
        "version" => RipeAnswer::of(
            message(&format!("ipintel-server-{}", env!("CARGO_PKG_VERSION"))),
            Outcome::Data,
        ),
        "sources" => {
            // As IRRd: version 3, whether this client may mirror (`X`) or not (`N`), and
            // the serials the journal holds (`Unknown` before the first journaled change).
            let generation = session.state.registry.current();
            let allowed = session
                .state
                .config
                .whois
                .nrtm_clients
                .iter()
                .any(|n| n.contains(&session.client));
            let mut body = String::new();
            for source in generation.registry.sources() {
                let journal = session
                    .state
                    .registry
                    .journal(source, i64::MAX, None, 0)
                    .await;
                let range = match journal {
                    Ok(ipintel_core::store::Journal {
                        oldest: Some(oldest),
                        newest: Some(newest),
                        ..
                    }) => format!("{oldest}-{newest}"),
                    _ => "Unknown".into(),
                };
                let permission = if allowed { "X" } else { "N" };
                body.push_str(&format!("{source}:3:{permission}:{range}\n"));
            }
            body.push('\n');
            RipeAnswer::of(body, Outcome::Data)
        }
        other => RipeAnswer::error(&invalid_option(&format!(
            "\"-q {other}\": the server information is one of sources, version, types."
        ))),
    }
}

/// `-t TYPE` (and `-v TYPE`, with what each column means).
fn template_answer(class: &str, verbose: bool) -> RipeAnswer {
    let Some(template) = template::template(class) else {
        return RipeAnswer::error(&format!("ERROR:103: unknown object type '{class}'"));
    };
    let mut body = String::new();
    if verbose {
        body.push_str(&message(&format!(
            "The {} class:\n\nEach line is an attribute: whether it must appear, how often, and\nwhether queries find objects by it (primary, lookup or inverse key).",
            template.class
        )));
    }
    body.push_str(&template.text());
    body.push('\n');
    RipeAnswer::of(body, Outcome::Data)
}

/// `--list-versions KEY` and `--show-version N KEY`.
async fn versions(
    session: &Session<'_>,
    registry: &Registry,
    parsed: &Parsed,
    mut query: Query,
) -> RipeAnswer {
    query.hierarchy = Some(query::Hierarchy::Exact);
    let answer = match registry.search(&query) {
        Ok(answer) => answer,
        Err(e) => return RipeAnswer::error(&query_error_text(&e)),
    };
    // The object whose primary key is the key asked (AS64497's aut-num, not the as-block
    // that holds it), else the first one found.
    let versioned = |id: &ObjectId| !matches!(registry.template_of(*id).class, "person" | "role");
    let same_key = |id: &ObjectId| {
        let stored = &registry.object(*id);
        let canonical = |key: &str| {
            ipintel_core::registry::index::canonical_key(stored.template, key)
                .map(|k| k.into_owned())
        };
        canonical(&query.key).is_some() && canonical(&query.key) == canonical(&stored.key)
    };
    let primaries: Vec<ObjectId> = answer.groups.iter().map(|g| g.primary).collect();
    let Some(id) = primaries
        .iter()
        .copied()
        .filter(versioned)
        .find(same_key)
        .or_else(|| primaries.iter().copied().find(versioned))
    else {
        if !answer.groups.is_empty() {
            return RipeAnswer::error(&VersionsError::NotVersioned.to_string());
        }
        return no_entries(registry, &query);
    };
    let stored = &registry.object(id);
    let versions = match session
        .state
        .registry
        .versions(registry, &stored.source, stored.template, &stored.key)
        .await
    {
        Ok(versions) if !versions.rows.is_empty() => versions,
        Ok(_) | Err(VersionsError::NotFound) => return no_entries(registry, &query),
        Err(e) => return RipeAnswer::error(&e.to_string()),
    };
    let class = versions.template.class.to_ascii_uppercase();
    let key = &versions.key;
    let Some(wanted) = parsed.value("show-version") else {
        let mut body = message(&format!(
            "Version history for {class} object \"{key}\"\nYou can use \"--show-version rev#\" to get an exact version of the object."
        ));
        body.push_str("rev#  Date              Op.\n\n");
        for row in &versions.rows {
            body.push_str(&format!(
                "{:<6}{:<18}ADD/UPD\n",
                row.revision,
                short_time(row.at)
            ));
        }
        body.push('\n');
        return RipeAnswer::of(body, Outcome::Data);
    };
    let Ok(n) = wanted.trim().parse::<u32>() else {
        return RipeAnswer::error(&invalid_option(&format!(
            "\"--show-version {wanted}\": the version is a number."
        )));
    };
    let (old, row) = match versions.revision(n) {
        Ok(found) => found,
        Err(e) => return RipeAnswer::error(&e.to_string()),
    };
    let current = if versions.is_current(n) {
        " (current version)"
    } else {
        ""
    };
    let mut body = message(&format!(
        "Version {n}{current} of object \"{key}\"\nThis version was a UPDATE operation on {}\nYou can use \"--list-versions\" to get a list of versions for an object.",
        short_time(row.at)
    ));
    let unfiltered = parsed.has("no-filtering");
    if !unfiltered {
        body.push_str(&message(FILTER_NOTE));
    }
    rpsl_text(&view_with(&old, unfiltered, false, true), &mut body);
    body.push('\n');
    RipeAnswer::of(body, Outcome::Data)
}

/// `2026-12-01 10:00` (UTC), as RIPE lists versions.
fn short_time(unix_seconds: i64) -> String {
    let full = crate::render::rfc3339(unix_seconds);
    full.get(..16).map(|s| s.replace('T', " ")).unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_prefixed_as_ripe_writes_them() {
        assert_eq!(
            message("ERROR:101: no entries found\n\nNo entries found in source TEST."),
            "%ERROR:101: no entries found\n%\n% No entries found in source TEST.\n\n"
        );
        assert_eq!(message("WARNING:902: x"), "%WARNING:902: x\n\n");
    }

    #[test]
    fn flags_combine_take_arguments_and_refuse_repeats() {
        let p = parse("-rBG -T inetnum,route -sTEST 192.0.2.0 - 192.0.2.255").unwrap();
        assert!(p.has("no-referenced") && p.has("no-filtering") && p.has("no-grouping"));
        assert_eq!(p.values("select-types"), ["inetnum,route"]);
        assert_eq!(p.value("sources").as_deref(), Some("TEST"));
        assert_eq!(p.key, "192.0.2.0 - 192.0.2.255");
        let p = parse("--list-versions --show-version 2 AS1").unwrap();
        assert_eq!(p.value("show-version").as_deref(), Some("2"));
        assert_eq!(p.key, "AS1");
        assert!(parse("-r -r AS1").unwrap_err().starts_with("ERROR:110"));
        assert!(parse("-z AS1").unwrap_err().starts_with("ERROR:111"));
        assert!(parse("--nope AS1").unwrap_err().starts_with("ERROR:111"));
        assert!(parse("-i").unwrap_err().starts_with("ERROR:111"));
        assert!(parse("-T a -T b x").is_ok(), "list flags may repeat");
    }
}
