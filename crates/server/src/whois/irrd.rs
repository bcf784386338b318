//! IRRd's `!` commands (docs/registry.md and docs/whois.md): parsed here,
//! answered by the registry engine (sets, origins, route searches, lookups), framed as
//! `A<n>` data, `C` (empty success), `D` (not found) or `F <message>`.

use ipintel_core::registry::index::{ObjectId, Registry};
use ipintel_core::registry::key::{parse_range, Family};
use ipintel_core::registry::sets::RouteSearch;
use ipintel_core::registry::template::template;
use ipintel_core::registry::view::irrd_text;

use super::{Outcome, Session};

/// The answer to one `!` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `A<n>` and the payload (without its final newline), then `C`.
    Data(String),
    /// The same, from a listing the registry generation holds (no copy until framing).
    Listing(std::sync::Arc<str>),
    /// `C`: valid, nothing to say.
    Empty,
    /// `D`: key or set not found, or an empty result.
    NotFound,
    /// `F <message>`.
    Fail(String),
    /// `!!`: no reply at all.
    Silent,
    /// `!q`: close without a reply.
    Close,
}

impl Answer {
    /// The bytes on the wire. The length of `A` counts the payload's final newline:
    /// bgpq4 reads exactly that many bytes and then one more line.
    pub fn framed(&self) -> Vec<u8> {
        match self {
            Answer::Data(payload) => frame_data(payload),
            Answer::Listing(payload) => frame_data(payload),
            Answer::Empty => b"C\n".to_vec(),
            Answer::NotFound => b"D\n".to_vec(),
            Answer::Fail(message) => format!("F {message}\n").into_bytes(),
            Answer::Silent | Answer::Close => Vec::new(),
        }
    }

    /// The bytes on the wire in three parts: what is rendered for this answer, the
    /// registry's own shared listing (written from the generation's copy, never copied
    /// per connection), and a fixed trailer.
    pub fn into_parts(self) -> (Vec<u8>, Option<std::sync::Arc<str>>, &'static [u8]) {
        match self {
            Answer::Listing(payload) => (
                format!("A{}\n", payload.len() + 1).into_bytes(),
                Some(payload),
                b"\nC\n",
            ),
            other => (other.framed(), None, b""),
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            Answer::Data(_) | Answer::Listing(_) => Outcome::Data,
            Answer::Fail(_) => Outcome::Error,
            _ => Outcome::Empty,
        }
    }
}

fn frame_data(payload: &str) -> Vec<u8> {
    let head = format!("A{}\n", payload.len() + 1);
    let mut out = Vec::with_capacity(head.len() + payload.len() + 3);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(b"\nC\n");
    out
}

/// A cached listing, or `D` when it is empty.
fn shared(listing: Option<ipintel_core::registry::sets::Listing>) -> Answer {
    match listing {
        Some(l) if !l.is_empty() => Answer::Listing(l.text().clone()),
        _ => Answer::NotFound,
    }
}

/// A space-separated list, or `D` when it is empty.
fn listing<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Answer {
    let mut out = String::new();
    for item in items {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(item.as_ref());
    }
    if out.is_empty() {
        Answer::NotFound
    } else {
        Answer::Data(out)
    }
}

/// Answer `command` (the line after its `!`).
pub fn answer(session: &mut Session<'_>, command: &str) -> (Answer, Outcome) {
    let answer = dispatch(session, command);
    let outcome = answer.outcome();
    (answer, outcome)
}

fn dispatch(session: &mut Session<'_>, command: &str) -> Answer {
    let mut chars = command.chars();
    let Some(letter) = chars.next() else {
        return Answer::Fail("Missing IRRD command".into());
    };
    let argument = chars.as_str().trim();
    // Commands are case-sensitive (`!j` and `!J` differ), except `!q`.
    let letter_lower = if letter == 'Q' { 'q' } else { letter };
    match letter_lower {
        '!' => {
            session.multiple = true;
            return Answer::Silent;
        }
        'q' => return Answer::Close,
        'v' => {
            // peval and RtConfig switch to RIPE-style queries inside `!!` for 2.2 and
            // later: the protocol level we answer with.
            return Answer::Data(format!(
                "ipintel {} -- version 4.5 (IRRd protocol)",
                env!("CARGO_PKG_VERSION")
            ));
        }
        'e' if argument.is_empty() => {
            session.exclude.clear();
            return Answer::Empty;
        }
        't' | 'g' | '6' | 'i' | 'j' | 'm' | 'n' | 'o' | 'r' | 's' if argument.is_empty() => {
            return Answer::Fail(format!("Missing parameter for {letter} query"));
        }
        'a' if argument.is_empty() || argument == "4" || argument == "6" => {
            return Answer::Fail("Missing required set name for A query".into());
        }
        _ => {}
    }
    match letter_lower {
        'n' => return Answer::Empty,
        't' => {
            return match argument.parse::<u64>() {
                Ok(secs @ 1..=1000) => {
                    session.timeout = std::time::Duration::from_secs(secs);
                    Answer::Empty
                }
                _ => Answer::Fail(format!("Invalid value for timeout: {argument}")),
            };
        }
        'e' => {
            if argument.eq_ignore_ascii_case("-lc") {
                return if session.exclude.is_empty() {
                    Answer::Empty
                } else {
                    Answer::Data(session.exclude.join(","))
                };
            }
            session.exclude = split_list(argument);
            return Answer::Empty;
        }
        _ => {}
    }
    let generation = session.state.registry.current();
    if !generation.loaded {
        return Answer::Fail("The registry is loading; try again shortly".into());
    }
    let registry = &generation.registry;
    match letter_lower {
        's' => sources(session, registry, argument),
        'g' => origin(session, registry, argument, Family::V4),
        '6' => origin(session, registry, argument, Family::V6),
        'i' => members(session, registry, argument),
        'a' => {
            let (family, name) = match argument.as_bytes()[0] {
                b'4' => (Some(Family::V4), &argument[1..]),
                b'6' => (Some(Family::V6), &argument[1..]),
                _ => (None, argument),
            };
            let sources = session.irr_sources();
            shared(registry.set_prefixes(name.trim(), family, &sources, &session.exclude))
        }
        'm' => lookup(session, registry, argument),
        'o' => {
            let sources = session.irr_sources();
            let ids: Vec<ObjectId> = registry
                .inverse("mnt-by", argument)
                .iter()
                .copied()
                .filter(|&id| in_sources(registry, id, &sources))
                .collect();
            objects(registry, &ids)
        }
        'r' => routes(session, registry, argument),
        'j' => serials(&generation.sources, registry, argument),
        _ => Answer::Fail(format!("Unrecognised command: {letter}")),
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn in_sources(registry: &Registry, id: ObjectId, sources: &[String]) -> bool {
    sources.is_empty()
        || sources
            .iter()
            .any(|s| s.eq_ignore_ascii_case(registry.source_of(id)))
}

/// `!s-lc`, `!s-*`, `!sSRC[,SRC]`.
fn sources(session: &mut Session<'_>, registry: &Registry, argument: &str) -> Answer {
    if argument.eq_ignore_ascii_case("-lc") {
        let current = session.irr_sources();
        let shown: Vec<String> = if current.is_empty() {
            registry.sources().iter().map(|s| s.to_string()).collect()
        } else {
            current
        };
        return if shown.is_empty() {
            Answer::Empty
        } else {
            Answer::Data(shown.join(","))
        };
    }
    if argument == "-*" {
        return Answer::Empty;
    }
    let wanted = split_list(argument);
    let known = |s: &String| registry.sources().iter().any(|k| **k == **s);
    if wanted.is_empty() || !wanted.iter().all(known) {
        return Answer::Fail("One or more selected sources are unavailable.".into());
    }
    session.sources = wanted;
    Answer::Empty
}

/// `!gAS…` / `!6AS…`: the origin's prefixes.
fn origin(session: &Session<'_>, registry: &Registry, argument: &str, family: Family) -> Answer {
    let asn = match read_asn(argument) {
        Ok(asn) => asn,
        Err(message) => return Answer::Fail(message),
    };
    listing(registry.origin_prefixes_in(asn, Some(family), &session.irr_sources()))
}

/// An AS number as IRRd reads it: `AS` (any case) and digits.
fn read_asn(text: &str) -> Result<u32, String> {
    let upper = text.trim().to_ascii_uppercase();
    let Some(digits) = upper.strip_prefix("AS") else {
        return Err(format!("Invalid AS number {upper}: must start with \"AS\""));
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "Invalid AS number {upper}: number part is not numeric"
        ));
    }
    digits
        .parse::<u32>()
        .map_err(|_| format!("Invalid AS number {upper}: number part is out of range"))
}

/// `!iSET` (direct members) and `!iSET,1` (recursive).
fn members(session: &Session<'_>, registry: &Registry, argument: &str) -> Answer {
    let (name, recursive) = match argument.rsplit_once(',') {
        Some((name, "1")) => (name.trim(), true),
        Some((_, other)) => {
            return Answer::Fail(format!("Invalid option for set query: {other}"));
        }
        None => (argument, false),
    };
    let sources = session.irr_sources();
    if recursive {
        return shared(registry.recursive_members(name, &sources, &session.exclude));
    }
    shared(registry.direct_members(name, &sources))
}

/// `!mCLASS,KEY`: one object by primary key, first source in priority order.
fn lookup(session: &Session<'_>, registry: &Registry, argument: &str) -> Answer {
    let Some((class, key)) = argument.split_once(',') else {
        return Answer::Fail(format!("Invalid argument for object lookup: {argument}"));
    };
    let Some(template) = template(class.trim()) else {
        return Answer::Fail(format!("Invalid object class: {}", class.trim()));
    };
    let key: String = if matches!(template.class, "route" | "route6") {
        // `10.1.0.0/16AS65550`, `10.1.0.0/16 AS65550` and `10.1.0.0/16-AS65550` alike.
        key.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect()
    } else {
        key.trim().to_string()
    };
    let mut sources = session.irr_sources();
    if sources.is_empty() {
        sources = registry.sources().iter().map(|s| s.to_string()).collect();
    }
    let found = sources
        .iter()
        .find_map(|source| registry.get(source, template.class, &key));
    match found {
        Some(id) => objects(registry, &[id]),
        None => Answer::NotFound,
    }
}

/// Objects as IRRd shows them (every attribute, `source:` as written, password hashes
/// replaced by IRRd's placeholder), one blank line between them.
fn objects(registry: &Registry, ids: &[ObjectId]) -> Answer {
    if ids.is_empty() {
        return Answer::NotFound;
    }
    let mut out = String::new();
    for (i, &id) in ids.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        irrd_text(&registry.object(id), &mut out);
    }
    while out.ends_with('\n') {
        out.pop();
    }
    Answer::Data(out)
}

/// `!rPREFIX[,o|l|L|M]`.
fn routes(session: &Session<'_>, registry: &Registry, argument: &str) -> Answer {
    let (prefix, option) = match argument.split_once(',') {
        Some((prefix, option)) => (prefix.trim(), Some(option.trim())),
        None => (argument, None),
    };
    // A prefix or an address; `a - b` ranges are not route keys.
    let parsed = (!prefix.contains('-'))
        .then(|| parse_range(prefix).ok())
        .flatten();
    let Some((family, span)) = parsed else {
        return Answer::Fail(format!("Invalid input for route search: {prefix}"));
    };
    let search = match option {
        None | Some("o") => RouteSearch::Exact,
        Some("l") => RouteSearch::OneLess,
        Some("L") => RouteSearch::AllLess,
        Some("M") => RouteSearch::AllMore,
        Some(other) => return Answer::Fail(format!("Invalid route search option: {other}")),
    };
    let ids = registry.route_search(family, span, search, &session.irr_sources());
    if option == Some("o") {
        let mut origins: Vec<u32> = ids.iter().filter_map(|&id| registry.origin(id)).collect();
        origins.sort_unstable();
        origins.dedup();
        return listing(origins.iter().map(|asn| format!("AS{asn}")));
    }
    objects(registry, &ids)
}

/// `!jSRC[,SRC]` / `!j-*`: serial ranges, one line per source.
fn serials(rows: &[ipintel_core::store::SourceRow], registry: &Registry, argument: &str) -> Answer {
    let wanted: Vec<String> = if argument == "-*" {
        registry.sources().iter().map(|s| s.to_string()).collect()
    } else {
        split_list(argument)
    };
    let lines: Vec<String> = wanted
        .iter()
        .map(|name| match rows.iter().find(|r| r.name == *name) {
            None if !registry.sources().iter().any(|s| **s == **name) => {
                format!("{name}:X:Database unknown")
            }
            // `Y`: the source keeps a journal (every source does, from its second import).
            Some(ipintel_core::store::SourceRow {
                serial: Some(serial),
                ..
            }) => format!("{name}:Y:0-{serial}"),
            _ => format!("{name}:Y:-"),
        })
        .collect();
    Answer::Data(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_counts_the_final_newline() {
        assert_eq!(
            Answer::Data("192.0.2.0/24".into()).framed(),
            b"A13\n192.0.2.0/24\nC\n"
        );
        assert_eq!(
            Answer::Data("été".into()).framed(),
            "A6\nété\nC\n".as_bytes()
        );
        assert_eq!(Answer::Empty.framed(), b"C\n");
        assert_eq!(Answer::NotFound.framed(), b"D\n");
        assert_eq!(Answer::Fail("x".into()).framed(), b"F x\n");
        assert!(Answer::Silent.framed().is_empty());
        assert_eq!(listing(Vec::<String>::new()), Answer::NotFound);
    }

    #[test]
    fn as_numbers_are_read_as_irrd_reads_them() {
        assert_eq!(read_asn("as64500"), Ok(64500));
        assert_eq!(
            read_asn("ASfoo"),
            Err("Invalid AS number ASFOO: number part is not numeric".into())
        );
        assert_eq!(
            read_asn("64500"),
            Err("Invalid AS number 64500: must start with \"AS\"".into())
        );
        assert!(read_asn("AS99999999999").is_err());
    }
}
