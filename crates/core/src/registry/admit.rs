//! Whether an object can be held in a registry generation, and under which canonical key:
//! the one decision imports, mirrors and registry files share (`admit`), and the same
//! canonical form for keys someone types (`canonical_key`).

use super::key::{format_span, parse_asn, parse_range, Family};
use super::ranges::Span;
use super::rpsl::RpslObject;
use super::template::{template, Template};

/// Which range index: address objects (inetnum, inet6num) or routes (route, route6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeKind {
    Network,
    Route,
}

/// Why an object was not indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

/// What a registry needs to know of an object to index it, read once at import and again
/// when a generation is built: one function decides whether an object can be held.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub template: &'static Template,
    /// The primary key as written (`192.0.2.0/24AS64496`).
    pub key: String,
    /// The key as the store and the primary index hold it: lower case, address ranges in
    /// one form (`192.0.2.0/24` and `192.0.2.0 - 192.0.2.255` are the same inetnum).
    pub canonical: String,
    pub range: Option<(Family, Span, RangeKind)>,
    /// A route's origin, an aut-num's number.
    pub asn: Option<u32>,
    pub as_block: Option<Span>,
}

/// Whether `object` can be indexed, and its keys. Refused (with the reason): an unknown
/// class, no primary key, an address, origin, AS number or AS range that does not parse.
/// Other template problems do not refuse an object (non-strict, as IRRd imports).
pub fn admit(object: &RpslObject) -> Result<Admitted, String> {
    let template = template(object.class())
        .ok_or_else(|| format!("unknown object class {:?}", object.class()))?;
    let key = object
        .key_in(template)
        .ok_or_else(|| format!("{} without its primary key", template.class))?;
    let sources: Vec<&str> = object.values("source").collect();
    if sources.len() > 1 {
        return Err(format!(
            "{} {key}: {} source: lines ({}); an object belongs to one source",
            template.class,
            sources.len(),
            sources.join(", ")
        ));
    }
    let class = template.class;
    let mut admitted = Admitted {
        template,
        canonical: key.to_lowercase(),
        key,
        range: None,
        asn: None,
        as_block: None,
    };
    match class {
        "inetnum" | "inet6num" | "route" | "route6" => {
            let (family, span) = parse_range(object.first_value()).map_err(|e| e.to_string())?;
            let kind = if class.starts_with("route") {
                let origin = object
                    .value("origin")
                    .and_then(parse_asn)
                    .ok_or_else(|| format!("{class} without a valid origin"))?;
                admitted.asn = Some(origin);
                RangeKind::Route
            } else {
                RangeKind::Network
            };
            let want = if matches!(class, "inet6num" | "route6") {
                Family::V6
            } else {
                Family::V4
            };
            if family != want {
                return Err(format!(
                    "{class} {:?} is not an IP{} range",
                    object.first_value(),
                    if want == Family::V4 { "v4" } else { "v6" }
                ));
            }
            admitted.canonical = match admitted.asn {
                Some(origin) => format!("{}as{origin}", format_span(family, span).to_lowercase()),
                None => format_span(family, span).to_lowercase(),
            };
            admitted.range = Some((family, span, kind));
        }
        "aut-num" => {
            let asn = parse_asn(object.first_value())
                .ok_or_else(|| format!("{:?} is not an AS number", object.first_value()))?;
            admitted.canonical = format!("as{asn}");
            admitted.asn = Some(asn);
        }
        "as-block" => {
            let value = object.first_value();
            let span = value
                .split_once('-')
                .and_then(|(a, b)| Some((parse_asn(a.trim())?, parse_asn(b.trim())?)))
                .and_then(|(a, b)| Span::new(a as u128, b as u128))
                .ok_or_else(|| format!("{value:?} is not an AS range"))?;
            admitted.canonical = format!("as{} - as{}", span.start, span.end);
            admitted.as_block = Some(span);
        }
        _ => {}
    }
    Ok(admitted)
}

/// The canonical primary key of a key someone typed for `class` (see
/// [`Admitted::canonical`]), or `None` when it cannot be one.
pub fn canonical_key<'k>(class: &Template, key: &'k str) -> Option<std::borrow::Cow<'k, str>> {
    use std::borrow::Cow;
    let key = key.trim();
    Some(Cow::Owned(match class.class {
        "inetnum" | "inet6num" => {
            let (family, span) = parse_range(key).ok()?;
            let want = if class.class == "inet6num" {
                Family::V6
            } else {
                Family::V4
            };
            if family != want {
                return None;
            }
            format_span(family, span).to_lowercase()
        }
        "route" | "route6" => {
            let at = key.to_ascii_lowercase().rfind("as")?;
            let (prefix, origin) = key.split_at(at);
            let (family, span) = parse_range(prefix.trim()).ok()?;
            let origin = parse_asn(origin)?;
            format!("{}as{origin}", format_span(family, span).to_lowercase())
        }
        "aut-num" => format!("as{}", parse_asn(key)?),
        "as-block" => {
            let (a, b) = key.split_once('-')?;
            format!("as{} - as{}", parse_asn(a.trim())?, parse_asn(b.trim())?)
        }
        // Handles and names: most are typed as stored; lower-case only when needed.
        _ if !key.chars().any(char::is_uppercase) => return Some(Cow::Borrowed(key)),
        _ => key.to_lowercase(),
    }))
}
