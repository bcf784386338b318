//! The network operator's pages: an AS (`/ui/as/{AS}`: its aut-num, its routes by family)
//! and a set (`/ui/set/{name}`: direct members, the recursive tree with cycles marked, the
//! prefixes bgpq4 would build), each with the `bgpq4` and `whois -h` commands to copy.
//! All read the registry generation of the moment; nothing is metered.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ipintel_core::registry::index::Registry;
use ipintel_core::registry::key::Family;
use ipintel_core::registry::service::Generation;
use ipintel_core::ErrorKind;

use super::html::{self, esc, Page};
use super::{SignedIn, Stop};
use crate::state::AppState;

/// Prefixes or members listed on a page at most (the count is always whole).
const SHOWN: usize = 1_000;
/// Nodes of a set's tree drawn at most.
const TREE_NODES: usize = 2_000;

fn loaded(state: &AppState) -> Result<Arc<Generation>, Stop> {
    let generation = state.registry.current();
    if !generation.loaded || generation.sources.is_empty() {
        return Err(Stop::Page(
            ErrorKind::NotFound,
            "no registry is loaded: import one with `ipintel registry import`".into(),
        ));
    }
    Ok(generation)
}

/// The object `class`/`key` in the first source that has it, as RPSL text (filtered as
/// the whois front end shows it).
fn object_text(registry: &Registry, class: &str, key: &str) -> Option<(String, String)> {
    let id = registry
        .sources()
        .iter()
        .find_map(|source| registry.get(source, class, key))?;
    let stored = registry.object(id);
    let view = ipintel_core::registry::view::view(&stored, false, false);
    let mut text = String::new();
    ipintel_core::registry::view::rpsl_text(&view, &mut text);
    Some((stored.source.to_string(), text))
}

/// A whois host and port for commands, from the browser's Host and `whois.listen`.
fn whois_at(state: &AppState, headers: &HeaderMap) -> Option<(String, u16)> {
    let listen = state.config.whois.listen?;
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    let host = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    Some((host.to_string(), listen.port()))
}

fn listing(body: &mut String, id: &str, title: &str, items: &[&str]) {
    let _ = write!(
        body,
        "<section><h2>{} <span class=\"count\" id=\"{id}-count\">{}</span></h2>",
        esc(title),
        items.len()
    );
    if items.is_empty() {
        body.push_str("<p class=\"muted\">none</p></section>");
        return;
    }
    let _ = write!(body, "<ul class=\"columns\" id=\"{id}\">");
    for item in items.iter().take(SHOWN) {
        let _ = write!(body, "<li><code>{}</code></li>", esc(item));
    }
    body.push_str("</ul>");
    if items.len() > SHOWN {
        let _ = write!(
            body,
            "<p class=\"muted\">The first {SHOWN} of {} are shown; the commands below give them all.</p>",
            items.len()
        );
    }
    body.push_str("</section>");
}

pub async fn as_page(
    State(state): State<AppState>,
    Path(asn): Path<String>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
) -> Response {
    let result = (|| {
        let upper = asn.trim().to_ascii_uppercase();
        let digits = upper.strip_prefix("AS").unwrap_or(&upper);
        let number: u32 = digits.parse().map_err(|_| {
            let shown: String = asn.chars().take(40).collect();
            Stop::Page(
                ErrorKind::InvalidInput,
                format!("{shown:?} is not an AS number (AS64496 or 64496)"),
            )
        })?;
        let name = format!("AS{number}");
        let generation = loaded(&state)?;
        let registry = &generation.registry;
        let mut page = Page::new(name.clone());
        let mut body = String::new();
        match object_text(registry, "aut-num", &name) {
            Some((source, text)) => {
                let _ = write!(
                    body,
                    "<section><h2>aut-num <span class=\"muted\">({})</span></h2><pre class=\"rpsl\" id=\"aut-num\">{}</pre></section>",
                    esc(&source),
                    esc(&text)
                );
            }
            None => body.push_str("<p class=\"notice\">The registry holds no aut-num for this AS; its routes are below.</p>"),
        }
        let v4 = registry.origin_prefixes(number, Family::V4);
        let v6 = registry.origin_prefixes(number, Family::V6);
        listing(
            &mut body,
            "routes-v4",
            "Routes (IPv4)",
            &v4.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        listing(
            &mut body,
            "routes-v6",
            "Routes (IPv6)",
            &v6.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        body.push_str("<section><h2>Commands</h2>");
        if let Some((host, port)) = whois_at(&state, &headers) {
            html::copyable(
                &mut body,
                "cmd-bgpq4",
                "bgpq4: an IPv4 prefix list",
                &format!("bgpq4 -h {host}:{port} -4 -l {name}-IN {name}"),
            );
            html::copyable(
                &mut body,
                "cmd-bgpq4-6",
                "bgpq4: an IPv6 prefix list",
                &format!("bgpq4 -h {host}:{port} -6 -l {name}-IN-V6 {name}"),
            );
            html::copyable(
                &mut body,
                "cmd-whois",
                "whois: the aut-num",
                &format!("whois -h {host} -p {port} {name}"),
            );
            html::copyable(
                &mut body,
                "cmd-whois-routes",
                "whois: its routes",
                &format!("whois -h {host} -p {port} -i origin {name}"),
            );
        } else {
            body.push_str(
                "<p class=\"muted\">The whois front end is off (<code>whois.listen</code>).</p>",
            );
        }
        body.push_str("</section>");
        page.push(&body);
        Ok::<_, Stop>(page)
    })();
    match result {
        Ok(page) => html::respond(StatusCode::OK, page.render(Some(&session))),
        Err(stop) => stop.into_response(Some(&session)),
    }
}

/// Whether a member names a set (as opposed to an AS number or a prefix).
fn is_set_name(member: &str) -> bool {
    let upper = member.to_ascii_uppercase();
    upper
        .split(':')
        .any(|part| part.starts_with("AS-") || part.starts_with("RS-") || part.starts_with("RTRS-"))
}

/// The set's members as a nested list: a set already on the path from the root is a
/// cycle (drawn, not followed); a set named but not held says so.
fn tree(
    registry: &Registry,
    name: &str,
    path: &mut Vec<String>,
    nodes: &mut usize,
    out: &mut String,
) {
    let Some(members) = registry.set_members(name, &[]) else {
        return;
    };
    out.push_str("<ul>");
    for member in members {
        if *nodes >= TREE_NODES {
            out.push_str("<li class=\"muted\">… (the tree is cut here)</li>");
            break;
        }
        *nodes += 1;
        let upper = member.to_ascii_uppercase();
        if !is_set_name(&member) {
            let _ = write!(out, "<li><code>{}</code></li>", esc(&member));
            continue;
        }
        let link = format!(
            "<a href=\"/ui/set/{}\">{}</a>",
            esc(&html::seg(&upper)),
            esc(&member)
        );
        if path.contains(&upper) {
            let _ = write!(
                out,
                "<li class=\"cycle\">{link} <span class=\"badge\">cycle</span></li>"
            );
        } else if registry.set(&member, &[]).is_none() {
            let _ = write!(
                out,
                "<li>{link} <span class=\"badge\">not in the registry</span></li>"
            );
        } else {
            let _ = write!(out, "<li>{link}");
            path.push(upper);
            tree(registry, &member, path, nodes, out);
            path.pop();
            out.push_str("</li>");
        }
    }
    out.push_str("</ul>");
}

pub async fn set_page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
) -> Response {
    let result = (|| {
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() || name.len() > 200 {
            return Err(Stop::Page(
                ErrorKind::InvalidInput,
                "a set name has 1 to 200 characters".into(),
            ));
        }
        let generation = loaded(&state)?;
        let registry = &generation.registry;
        let id = registry.set(&name, &[]).ok_or_else(|| {
            Stop::Page(
                ErrorKind::NotFound,
                format!("the registry holds no as-set, route-set or rtr-set {name}"),
            )
        })?;
        let class = registry.template_of(id).class;
        let mut page = Page::new(name.clone());
        let mut body = String::new();
        if let Some((source, text)) = object_text(registry, class, &name) {
            let _ = write!(
                body,
                "<section><h2>{} <span class=\"muted\">({})</span></h2><pre class=\"rpsl\">{}</pre></section>",
                esc(class),
                esc(&source),
                esc(&text)
            );
        }
        let direct = registry.set_members(&name, &[]).unwrap_or_default();
        listing(
            &mut body,
            "direct",
            "Direct members",
            &direct.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let mut tree_html = String::new();
        let mut nodes = 0;
        tree(
            registry,
            &name,
            &mut vec![name.clone()],
            &mut nodes,
            &mut tree_html,
        );
        let _ = write!(body, "<section><h2>Members, recursively</h2><div class=\"tree\" id=\"tree\">{tree_html}</div></section>");
        let recursive = registry
            .recursive_members(&name, &[], &[])
            .map(|l| l.text().to_string())
            .unwrap_or_default();
        let recursive: BTreeSet<&str> = recursive.split(' ').filter(|s| !s.is_empty()).collect();
        let title = if class == "as-set" {
            "AS numbers it expands to"
        } else {
            "Prefixes it expands to"
        };
        listing(
            &mut body,
            "recursive",
            title,
            &recursive.into_iter().collect::<Vec<_>>(),
        );
        if class == "as-set" {
            for (family, id, title) in [
                (Family::V4, "prefixes-v4", "IPv4 prefixes bgpq4 builds"),
                (Family::V6, "prefixes-v6", "IPv6 prefixes bgpq4 builds"),
            ] {
                let prefixes = registry
                    .set_prefixes(&name, Some(family), &[], &[])
                    .map(|l| l.text().to_string())
                    .unwrap_or_default();
                let items: Vec<&str> = prefixes.split(' ').filter(|s| !s.is_empty()).collect();
                listing(&mut body, id, title, &items);
            }
        }
        body.push_str("<section><h2>Commands</h2>");
        if let Some((host, port)) = whois_at(&state, &headers) {
            let list = name.replace(':', "_");
            html::copyable(
                &mut body,
                "cmd-bgpq4",
                "bgpq4: an IPv4 prefix list",
                &format!("bgpq4 -h {host}:{port} -4 -l {list} {name}"),
            );
            html::copyable(
                &mut body,
                "cmd-bgpq4-6",
                "bgpq4: an IPv6 prefix list",
                &format!("bgpq4 -h {host}:{port} -6 -l {list}-V6 {name}"),
            );
            html::copyable(
                &mut body,
                "cmd-whois",
                "whois: the set",
                &format!("whois -h {host} -p {port} {name}"),
            );
        } else {
            body.push_str(
                "<p class=\"muted\">The whois front end is off (<code>whois.listen</code>).</p>",
            );
        }
        body.push_str("</section>");
        page.push(&body);
        Ok(page)
    })();
    match result {
        Ok(page) => html::respond(StatusCode::OK, page.render(Some(&session))),
        Err(stop) => stop.into_response(Some(&session)),
    }
}
