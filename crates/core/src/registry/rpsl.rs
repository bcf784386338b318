//! RPSL text as registries publish it (RFC 2622 section 2, and what IRRd and RIPE's
//! dumps actually contain): objects are paragraphs separated by empty lines; lines starting
//! with `%` or `#` are comments; an attribute is `name: value`, continued on lines that
//! start with a space, a tab or `+`; `#` starts an end-of-line comment inside a value.
//!
//! Every object keeps its original text (for `unformatted` answers) and its attributes in
//! order, each with its value normalised (continuations joined by one space, runs of
//! whitespace collapsed) and its comments kept apart. Names of attributes and classes are
//! lower-cased. Nothing here knows which classes exist: that is the templates' business.

use super::template::{Cardinality, Problem, Requirement, Template};
use std::borrow::Cow;
use std::ops::Range;

/// Longest attribute name accepted (RIPE's longest is 15 characters).
pub const MAX_NAME_LEN: usize = 64;

/// One attribute of an object, as the object lends it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Lower case, e.g. `mnt-by`.
    pub name: &'a str,
    /// The value without comments, continuation lines joined by one space, whitespace runs
    /// collapsed, trimmed. May be empty (`remarks:` alone).
    pub value: &'a str,
    /// End-of-line comments, in order, joined by one space (`# Filtered`), without the `#`.
    pub comment: Option<&'a str>,
}

/// An attribute's name: one of the templates' (no allocation) or another one, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Known(&'static str),
    Other(Box<str>),
}

/// Where an attribute's parts are in the object's `values` string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    name: Name,
    value: (u32, u32),
    comment: (u32, u32),
}

/// One object: its attributes in order and the text it was read from. Values and comments
/// sit end to end in one string, so an object is four allocations however many attributes
/// it has (a million-object dump held ~1 KB more per object with one string per part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpslObject {
    attributes: Vec<Stored>,
    values: Box<str>,
    /// The paragraph as it was in the input, comment lines included, lines ending in `\n`.
    pub text: Box<str>,
    /// 1-based line number of the object's first line in its input.
    pub line: usize,
}

impl RpslObject {
    /// The attributes in order.
    pub fn attributes(&self) -> impl ExactSizeIterator<Item = Attribute<'_>> + '_ {
        self.attributes.iter().map(|a| self.lend(a))
    }

    fn lend<'a>(&'a self, a: &'a Stored) -> Attribute<'a> {
        let part = |(from, to): (u32, u32)| &self.values[from as usize..to as usize];
        Attribute {
            name: match &a.name {
                Name::Known(name) => name,
                Name::Other(name) => name,
            },
            value: part(a.value),
            comment: (a.comment.0 != a.comment.1).then(|| part(a.comment)),
        }
    }

    /// The class: the first attribute's name (`inetnum`, `aut-num`, ...).
    pub fn class(&self) -> &str {
        self.lend(&self.attributes[0]).name
    }

    /// The first attribute's value (the primary key of most classes).
    pub fn first_value(&self) -> &str {
        self.lend(&self.attributes[0]).value
    }

    /// Values of every attribute called `name` (lower case), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes()
            .filter(move |a| a.name == name)
            .map(|a| a.value)
    }

    /// The first value of `name`, if any.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.attributes().find(|a| a.name == name).map(|a| a.value)
    }
}

/// The templates' attribute names, to store known names without allocating.
fn known_name(name: &str) -> Option<&'static str> {
    static NAMES: std::sync::OnceLock<hashbrown::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            super::template::all()
                .iter()
                .flat_map(|t| t.attributes.iter().map(|a| a.name))
                .chain(["changed"])
                .collect()
        })
        .get(name)
        .copied()
}

/// An object that could not be read, with where and why; parsing goes on after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number in the input where the problem is.
    pub line: usize,
    pub reason: String,
}

/// Text of a dump: UTF-8 when it is valid UTF-8, else ISO-8859-1 (RIPE's classic dumps),
/// where every byte is the character of the same number.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}

/// Every object in `text`, in order; a malformed paragraph is an `Err` and the next one is
/// read as usual (non-strict, as IRRd imports).
pub fn parse(text: &str) -> Parser<'_> {
    Parser {
        text,
        pos: 0,
        line: 1,
        lines: Vec::new(),
        comment: String::new(),
    }
}

/// Iterator over the objects of a text (see [`parse`]).
pub struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// Line number at `pos`.
    line: usize,
    /// The current object's lines with their numbers (kept between objects: parsing
    /// allocates per object, not per line or attribute).
    lines: Vec<(&'a str, usize)>,
    /// The current attribute's comment while its lines are read.
    comment: String,
}

impl<'a> Parser<'a> {
    /// The next line (without its `\n` or `\r\n`) and the byte range it spans with its end.
    fn next_line(&mut self) -> Option<(&'a str, Range<usize>)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (line, len) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        let span = self.pos..self.pos + len;
        self.pos += len;
        self.line += 1;
        Some((line.strip_suffix('\r').unwrap_or(line), span))
    }
}

impl Iterator for Parser<'_> {
    type Item = Result<RpslObject, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Skip empty lines and comments between objects.
        let (first, first_span, first_line) = loop {
            let line_no = self.line;
            let (line, span) = self.next_line()?;
            if line.is_empty() || is_comment(line) {
                continue;
            }
            break (line, span, line_no);
        };
        let start = first_span.start;
        let mut end = first_span.end;
        let mut lines = std::mem::take(&mut self.lines);
        lines.clear();
        lines.push((first, first_line));
        loop {
            let line_no = self.line;
            let Some((line, span)) = self.next_line() else {
                break;
            };
            if line.is_empty() {
                // The blank line ends the object; it is not part of its text.
                break;
            }
            end = span.end;
            lines.push((line, line_no));
        }
        let mut text = self.text[start..end].to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let object = read_object(&lines, text.into_boxed_str(), first_line, &mut self.comment);
        self.lines = lines;
        Some(object)
    }
}

fn is_comment(line: &str) -> bool {
    line.starts_with('%') || line.starts_with('#')
}

/// An object from its lines (comment lines dropped, continuations joined). Values are
/// written straight into the object's one string; an attribute's comment waits in
/// `comment` (continuation lines can still add to the value) and follows its value.
fn read_object(
    lines: &[(&str, usize)],
    text: Box<str>,
    line: usize,
    comment: &mut String,
) -> Result<RpslObject, ParseError> {
    let mut values = String::with_capacity(text.len());
    let mut attributes: Vec<Stored> = Vec::with_capacity(16);
    comment.clear();
    // The attribute being read: its name and where its value starts in `values`.
    let mut open: Option<(Name, u32)> = None;
    let close = |open: Option<(Name, u32)>,
                 values: &mut String,
                 comment: &mut String,
                 attributes: &mut Vec<Stored>| {
        if let Some((name, from)) = open {
            let value = (from, values.len() as u32);
            values.push_str(comment);
            comment.clear();
            attributes.push(Stored {
                name,
                value,
                comment: (value.1, values.len() as u32),
            });
        }
    };
    for &(line, line_no) in lines {
        if is_comment(line) {
            continue;
        }
        let rest = match line.as_bytes()[0] {
            b' ' | b'\t' | b'+' => {
                let Some((_, from)) = &open else {
                    return Err(ParseError {
                        line: line_no,
                        reason: "a continuation line before any attribute".into(),
                    });
                };
                let from = *from as usize;
                push_part(&line[1..], from, &mut values, comment);
                continue;
            }
            _ => {
                let Some((name, rest)) = line.split_once(':') else {
                    return Err(ParseError {
                        line: line_no,
                        reason: format!("expected \"name: value\", got {:?}", shorten(line)),
                    });
                };
                let name = name.trim_end();
                if !valid_name(name) {
                    return Err(ParseError {
                        line: line_no,
                        reason: format!("{:?} is not an attribute name", shorten(name)),
                    });
                }
                let mut lower = [0u8; MAX_NAME_LEN];
                let lower = &mut lower[..name.len()];
                lower.copy_from_slice(name.as_bytes());
                lower.make_ascii_lowercase();
                let lower = std::str::from_utf8(lower).expect("names are ASCII");
                let name = match known_name(lower) {
                    Some(known) => Name::Known(known),
                    None => Name::Other(lower.into()),
                };
                close(open.take(), &mut values, comment, &mut attributes);
                open = Some((name, values.len() as u32));
                rest
            }
        };
        let from = values.len();
        push_part(rest, from, &mut values, comment);
    }
    close(open.take(), &mut values, comment, &mut attributes);
    if attributes.is_empty() {
        return Err(ParseError {
            line: lines.first().map_or(0, |l| l.1),
            reason: "an object without attributes".into(),
        });
    }
    if u32::try_from(values.len()).is_err() {
        // Offsets above were cut to 32 bits: the object is refused, never half read.
        return Err(ParseError {
            line,
            reason: "an object larger than 4 GiB".into(),
        });
    }
    Ok(RpslObject {
        attributes,
        values: values.into_boxed_str(),
        text,
        line,
    })
}

/// Add one line's part of a value whose text starts at `from` in `values`: the words
/// before `#` to the value (runs of whitespace made one space, ends trimmed), the trimmed
/// rest to `comment`.
fn push_part(part: &str, from: usize, values: &mut String, comment: &mut String) {
    let (text, note) = match part.split_once('#') {
        Some((text, note)) => (text, Some(note)),
        None => (part, None),
    };
    for word in text.split_whitespace() {
        if values.len() > from {
            values.push(' ');
        }
        values.push_str(word);
    }
    if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
        if !comment.is_empty() {
            comment.push(' ');
        }
        comment.push_str(note);
    }
}

/// RPSL names: a letter, then letters, digits, `-` and `_`; case-insensitive.
fn valid_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(60).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// What a template makes of an object (rpsl reads templates; templates know no objects).
impl RpslObject {
    /// The object's primary key under `template` as the registry writes it: the key attributes' values
    /// joined without a separator (`192.0.2.0/24AS64496`, as RIPE's REST paths use it).
    pub fn key_in(&self, template: &Template) -> Option<String> {
        let mut key = String::new();
        for attribute in template.primary_key() {
            key.push_str(self.value(attribute.name)?);
        }
        (!key.is_empty()).then_some(key)
    }

    /// Everything wrong with this object against `template`.
    pub fn problems_against(&self, template: &Template) -> Vec<Problem> {
        let mut problems = Vec::new();
        for attribute in self.attributes() {
            if template.attribute(attribute.name).is_none() && attribute.name != "changed" {
                problems.push(Problem::UnknownAttribute(attribute.name.to_string()));
            }
        }
        for expected in &template.attributes {
            let n = self.values(expected.name).count();
            if n == 0 && expected.requirement == Requirement::Mandatory {
                problems.push(Problem::MissingMandatory(expected.name));
            }
            if n > 1 && expected.cardinality == Cardinality::Single {
                problems.push(Problem::RepeatedSingle(expected.name));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(text: &str) -> Vec<Result<RpslObject, ParseError>> {
        parse(text).collect()
    }

    #[test]
    fn paragraphs_comments_continuations_and_end_of_line_comments() {
        let text = "% RIPE dump header\n# terms and conditions\n\n\
            inetnum:        192.0.2.10 - 192.0.2.37\n\
            NetName:        EXAMPLE-NET   # a comment\n\
            descr:          first line\n\
            \x20               second   line\n\
            +               third line\n\
            \tfourth # more\n\
            % a comment inside the object\n\
            remarks:\n\
            source:         TEST # Filtered\n\
            \n\n\
            person: Ann Example\nnic-hdl: AE1-TEST\n";
        let all = objects(text);
        assert_eq!(all.len(), 2, "{all:?}");
        let first = all[0].as_ref().unwrap();
        assert_eq!(first.class(), "inetnum");
        assert_eq!(first.first_value(), "192.0.2.10 - 192.0.2.37");
        assert_eq!(first.line, 4);
        assert_eq!(first.value("netname"), Some("EXAMPLE-NET"));
        let attributes: Vec<Attribute> = first.attributes().collect();
        assert_eq!(
            attributes[1].comment,
            Some("a comment"),
            "comments are kept apart"
        );
        assert_eq!(
            first.value("descr"),
            Some("first line second line third line fourth")
        );
        assert_eq!(attributes[2].comment, Some("more"));
        assert_eq!(first.value("remarks"), Some(""));
        assert_eq!(first.value("source"), Some("TEST"));
        assert_eq!(attributes[4].comment, Some("Filtered"));
        assert_eq!(attributes[0].comment, None);
        assert!(first.text.starts_with("inetnum:") && first.text.ends_with("# Filtered\n"));
        assert!(
            first.text.contains("% a comment inside"),
            "the original text is whole"
        );
        let second = all[1].as_ref().unwrap();
        assert_eq!((second.class(), second.line), ("person", 15));
        assert_eq!(second.value("nic-hdl"), Some("AE1-TEST"));
    }

    #[test]
    fn crlf_latin1_and_a_missing_final_newline() {
        let bytes = b"person: Jos\xe9 Garc\xeda\r\nnic-hdl: JG1-TEST\r\n\r\nrole: R";
        let text = decode(bytes);
        assert!(
            matches!(text, Cow::Owned(_)),
            "not UTF-8: read as ISO-8859-1"
        );
        let all: Vec<_> = parse(&text).map(Result::unwrap).collect();
        assert_eq!(all[0].first_value(), "José García");
        assert_eq!(all[0].value("nic-hdl"), Some("JG1-TEST"));
        assert_eq!(all[1].first_value(), "R");
        assert!(all[1].text.ends_with('\n'));
        assert!(matches!(decode("Zoë".as_bytes()), Cow::Borrowed("Zoë")));
    }

    #[test]
    fn malformed_objects_are_reported_and_the_next_one_is_read() {
        let text = "no colon here\nsource: TEST\n\n\
            \x20continuation first\n\n\
            9bad: name\n\n\
            : empty name\n\n\
            aut-num: AS64496\nas-name: EXAMPLE\n";
        let all = objects(text);
        assert_eq!(all.len(), 5);
        for (i, line) in [(0, 1), (1, 4), (2, 6), (3, 8)] {
            let err = all[i].as_ref().unwrap_err();
            assert_eq!(err.line, line, "{err}");
        }
        assert!(all[1].as_ref().unwrap_err().reason.contains("continuation"));
        let good = all[4].as_ref().unwrap();
        assert_eq!((good.class(), good.first_value()), ("aut-num", "AS64496"));
        // Only comments, or nothing: no objects at all.
        assert!(objects("% only\n# comments\n\n\n").is_empty());
        assert!(objects("").is_empty());
    }

    #[test]
    fn a_whitespace_only_line_continues_the_object() {
        // IRRd: only an empty line ends a paragraph; "  " is an (empty) continuation.
        let all = objects("remarks: a\n   \nremarks: b\n");
        let obj = all[0].as_ref().unwrap();
        assert_eq!(obj.values("remarks").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_huge_object_parses_in_one_piece() {
        let mut text = String::from("as-set: AS-HUGE\n");
        for n in 0..50_000 {
            text.push_str(&format!("members: AS{}\n", 64_512 + n % 1000));
        }
        let all = objects(&text);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].as_ref().unwrap().values("members").count(), 50_000);
    }

    /// Objects of `text` as (name, value, comment) lists, read the plain way (`None`: the
    /// paragraph is not an object).
    fn plain_reading(text: &str) -> Vec<Option<Vec<(String, String, String)>>> {
        let mut objects = Vec::new();
        for paragraph in text
            .split('\n')
            .collect::<Vec<_>>()
            .split(|l| l.trim_end_matches('\r').is_empty())
        {
            let lines: Vec<&str> = paragraph
                .iter()
                .map(|l| l.trim_end_matches('\r'))
                .filter(|l| !l.starts_with('%') && !l.starts_with('#'))
                .collect();
            if lines.is_empty() {
                continue;
            }
            let mut read: Option<Vec<(String, String, String)>> = Some(Vec::new());
            for line in lines {
                let Some(attributes) = read.as_mut() else {
                    break;
                };
                let (part, new) = match line.as_bytes()[0] {
                    b' ' | b'\t' | b'+' => (&line[1..], None),
                    _ => match line.split_once(':') {
                        Some((name, rest)) if valid_name(name.trim_end()) => {
                            (rest, Some(name.trim_end().to_ascii_lowercase()))
                        }
                        _ => {
                            read = None;
                            break;
                        }
                    },
                };
                match new {
                    Some(name) => attributes.push((name, String::new(), String::new())),
                    None if attributes.is_empty() => {
                        read = None;
                        break;
                    }
                    None => {}
                }
                let (_, value, comment) = attributes.last_mut().unwrap();
                let (text, note) = part
                    .split_once('#')
                    .map_or((part, None), |(t, n)| (t, Some(n)));
                *value = format!("{value} {text}")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
                    *comment = if comment.is_empty() {
                        note.to_string()
                    } else {
                        format!("{comment} {note}")
                    };
                }
            }
            objects.push(read);
        }
        objects
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// No input panics, every object has a class, and the objects' texts are pieces of
        /// the input in order.
        #[test]
        fn any_text_parses_without_panicking(text in "(?s)[a-z: \t+#%\n\r\u{e9}\u{1F600}-]{0,400}") {
            let mut from = 0;
            for obj in parse(&text).flatten() {
                proptest::prop_assert!(!obj.class().is_empty());
                let body = obj.text.trim_end_matches('\n');
                let at = text[from..].find(body.lines().next().unwrap_or(""));
                proptest::prop_assert!(at.is_some());
                from += at.unwrap();
            }
        }

        /// The parser writes values in place; a plain reading of the same lines (join an
        /// attribute's parts with spaces, collapse, keep comments apart) must agree.
        #[test]
        fn values_and_comments_are_those_of_a_plain_reading(
            text in "(?s)(([a-zA-Z][a-z-]{0,6}:|[ \t+]|%)[a-z \t#\u{e9}\u{3000}]{0,20}\n){1,12}"
        ) {
            let parsed: Vec<_> = parse(&text).collect();
            let plain = plain_reading(&text);
            proptest::prop_assert_eq!(parsed.len(), plain.len());
            for (object, expected) in parsed.iter().zip(&plain) {
                match (object, expected) {
                    (Ok(object), Some(expected)) => {
                        let got: Vec<(String, String, String)> = object
                            .attributes()
                            .map(|a| (a.name.to_string(), a.value.to_string(), a.comment.unwrap_or("").to_string()))
                            .collect();
                        proptest::prop_assert_eq!(&got, expected);
                    }
                    (Err(_), None) => {}
                    (got, expected) => proptest::prop_assert!(false, "{got:?} against {expected:?}"),
                }
            }
        }

        #[test]
        fn any_bytes_decode_and_parse(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let text = decode(&bytes);
            let _ = parse(&text).count();
        }
    }
}
