//! The request side of the RIPE REST API: query parameters (repeatable, percent-decoded,
//! UTF-8 checked), the response format (Accept header or `.json`/`.xml`/`.txt` suffix), and
//! search flags in long or short form (docs/registry.md and docs/whois.md).

use ipintel_core::registry::flags;
use ipintel_core::registry::query::Hierarchy;

/// Longest `query-string` accepted, in bytes (RIPE's ERROR:107 "input line too long").
pub const MAX_QUERY_BYTES: usize = 1024;
/// Most whitespace-separated words in a `query-string` (ERROR:118).
pub const MAX_QUERY_WORDS: usize = 64;
/// Most parameters in one request.
pub const MAX_PARAMS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "application/xml;charset=UTF-8",
            Format::Json => "application/json;charset=UTF-8",
            Format::Text => "text/plain;charset=UTF-8",
        }
    }
}

/// The format of a path's suffix, and the path without it. `Err` for a suffix that names a
/// format this API does not have (`.html`).
pub fn split_suffix(path: &str) -> Result<(&str, Option<Format>), String> {
    for (suffix, format) in [
        (".json", Format::Json),
        (".xml", Format::Xml),
        (".txt", Format::Text),
    ] {
        if let Some(rest) = path.strip_suffix(suffix) {
            return Ok((rest, Some(format)));
        }
    }
    for suffix in [".html", ".htm", ".csv", ".yaml", ".yml", ".pdf"] {
        if path.ends_with(suffix) {
            return Err(suffix.to_string());
        }
    }
    Ok((path, None))
}

/// The format `Accept` prefers among those this API answers in, by `q` value: each format
/// takes the `q` of the most specific range that names it (`application/json` before
/// `application/*` before `*/*`), `q=0` refuses it, the highest `q` wins and a tie goes to
/// the range listed first. XML when there is no header or only a wildcard decides.
/// `None`: nothing acceptable (415).
pub fn negotiate(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Format::Xml);
    };
    // Per format: (specificity, q, position) of the range that decides it.
    let mut decided: [Option<(u8, f32, usize)>; 3] = [None; 3];
    let formats = [Format::Xml, Format::Json, Format::Text];
    for (position, item) in accept.split(',').enumerate() {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let Some((kind, sub)) = media.split_once('/') else {
            continue;
        };
        let mut q = 1.0f32;
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    // An unreadable q is a q of 0: the client meant something we can't tell.
                    q = value.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
                }
            }
        }
        for (slot, format) in formats.iter().enumerate() {
            let specificity = match (format, kind, sub) {
                (Format::Json, _, s) if s == "json" || s.ends_with("+json") => 3,
                (Format::Xml, _, s) if s == "xml" || s.ends_with("+xml") => 3,
                (Format::Text, "text", "plain") => 3,
                (Format::Text, "text", "*") => 2,
                (Format::Xml | Format::Json, "application", "*") => 2,
                (_, "*", "*") => 1,
                _ => continue,
            };
            let better = match decided[slot] {
                None => true,
                Some((s, old_q, _)) => specificity > s || (specificity == s && q > old_q),
            };
            if better {
                decided[slot] = Some((specificity, q, position));
            }
        }
    }
    let mut best: Option<(f32, usize, usize, Format)> = None;
    for (slot, format) in formats.iter().enumerate() {
        let Some((_, q, position)) = decided[slot] else {
            continue;
        };
        if q <= 0.0 {
            continue;
        }
        // Higher q first, then the earlier range, then XML > JSON > text (slot order).
        let wins = match best {
            None => true,
            Some((bq, bpos, bslot, _)) => q > bq || (q == bq && (position, slot) < (bpos, bslot)),
        };
        if wins {
            best = Some((q, position, slot, *format));
        }
    }
    best.map(|(_, _, _, f)| f)
}

/// The query parameters, in order, decoded (`+` is a space). `Err` names what is wrong.
pub fn parse_query(raw: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        if out.len() == MAX_PARAMS {
            return Err(format!("more than {MAX_PARAMS} query parameters"));
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(name)?, decode(value)?));
    }
    Ok(out)
}

fn decode(part: &str) -> Result<String, String> {
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "a query parameter is not valid UTF-8".to_string())
}

/// Every value of parameter `name`.
pub fn all<'a>(
    params: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    params
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a boolean parameter is on: present without a value, or with `true`/`yes`/`1`.
pub fn flag(params: &[(String, String)], name: &str) -> bool {
    all(params, name).any(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "" | "true" | "yes" | "1" | "on"
        )
    })
}

/// A search flag of RIPE's table (`ipintel_core::registry::flags`): long name, letter, and
/// whether REST allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    pub allowed: bool,
}

impl From<&'static flags::Flag> for Flag {
    fn from(f: &'static flags::Flag) -> Flag {
        Flag {
            long: f.long,
            short: f.short,
            allowed: f.rest,
        }
    }
}

/// The flags one `flags` value names: a long name, or a run of short letters.
pub fn read_flags(value: &str) -> Result<Vec<Flag>, FlagError> {
    let value = value.trim().trim_start_matches('-');
    if let Some(f) = flags::by_long(value) {
        return Ok(vec![f.into()]);
    }
    if value.is_empty() {
        return Err(FlagError::Invalid {
            flag: String::new(),
            value: value.into(),
        });
    }
    value
        .chars()
        .map(|c| {
            flags::by_short(c)
                .map(Flag::from)
                .ok_or_else(|| FlagError::Invalid {
                    flag: c.to_string(),
                    value: value.into(),
                })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// `Invalid search flag 'z' (in parameter 'z')`
    Invalid { flag: String, value: String },
}

/// The hierarchy flag among `flags`, or `Err` when there are two (ERROR:901).
pub fn hierarchy(found: &[Flag]) -> Result<Option<Hierarchy>, flags::DuplicateIpFlags> {
    flags::hierarchy(found.iter().map(|f| f.long))
}

/// Whether a query string carries flags (`10.0.0.0 -10.1.1.1`, `-r AS1`): a word that
/// starts with `-` and is more than the dash of a range.
pub fn has_flags(query: &str) -> bool {
    query
        .split_whitespace()
        .any(|w| w.starts_with('-') && w.len() > 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accept_honours_q_values() {
        let n = |a: &str| negotiate(Some(a));
        assert_eq!(n("application/json;q=0"), None, "q=0 is not JSON");
        assert_eq!(n("application/json;q=0, */*"), Some(Format::Xml));
        assert_eq!(n("text/*"), Some(Format::Text));
        assert_eq!(
            n("application/xml;q=0.5, application/json"),
            Some(Format::Json)
        );
        assert_eq!(
            n("application/json;q=0.2, text/plain;q=0.9"),
            Some(Format::Text)
        );
        assert_eq!(n("*/*;q=0.1, text/plain;q=0"), Some(Format::Xml));
        assert_eq!(
            n("application/*;q=0.3, application/xml;q=0"),
            Some(Format::Json)
        );
        assert_eq!(n("application/json;q=abc"), None, "an unreadable q refuses");
        assert_eq!(
            n("application/json, application/xml"),
            Some(Format::Json),
            "a tie: first listed"
        );
    }

    #[test]
    fn formats_flags_and_parameters() {
        assert_eq!(negotiate(None), Some(Format::Xml));
        assert_eq!(negotiate(Some("application/json")), Some(Format::Json));
        assert_eq!(
            negotiate(Some("text/html, text/plain;q=0.5")),
            Some(Format::Text)
        );
        assert_eq!(
            negotiate(Some("text/html,application/xhtml+xml,*/*;q=0.8")),
            Some(Format::Xml)
        );
        assert_eq!(negotiate(Some("image/png")), None);
        assert_eq!(split_suffix("AS1.json"), Ok(("AS1", Some(Format::Json))));
        assert_eq!(
            split_suffix("rtr1.example.net"),
            Ok(("rtr1.example.net", None))
        );
        assert!(split_suffix("AS1.html").is_err());

        let flags = read_flags("rBG").unwrap();
        assert_eq!(
            flags.iter().map(|f| f.long).collect::<Vec<_>>(),
            ["no-referenced", "no-filtering", "no-grouping"]
        );
        assert_eq!(read_flags("k").unwrap()[0].long, "persistent-connection");
        assert!(!read_flags("k").unwrap()[0].allowed);
        assert_eq!(read_flags("all-more").unwrap()[0].short, Some('M'));
        assert_eq!(
            read_flags("rz"),
            Err(FlagError::Invalid {
                flag: "z".into(),
                value: "rz".into()
            })
        );
        assert!(hierarchy(&read_flags("xL").unwrap()).is_err());
        assert!(has_flags("10.0.0.0 -10.1.1.1"));
        assert!(!has_flags("10.0.0.0 - 10.1.1.1"));

        let p = parse_query(Some("query-string=a+b%20c&flags=r&flags=B&x")).unwrap();
        assert_eq!(all(&p, "query-string").collect::<Vec<_>>(), ["a b c"]);
        assert_eq!(all(&p, "flags").count(), 2);
        assert!(flag(&p, "x"));
        assert!(parse_query(Some("query-string=%ff%fe")).is_err());
        let many = vec!["a=1"; MAX_PARAMS + 1].join("&");
        assert!(parse_query(Some(&many)).is_err());
    }

    proptest! {
        #[test]
        fn no_input_panics(raw in ".{0,200}", accept in ".{0,60}", flags in ".{0,20}") {
            let _ = parse_query(Some(&raw));
            let _ = negotiate(Some(&accept));
            let _ = split_suffix(&raw);
            if let Ok(f) = read_flags(&flags) {
                let _ = hierarchy(&f);
            }
            let _ = has_flags(&raw);
        }
    }
}
