//! Bulk results as JSON, XML or CSV, written a part at a time so a 100,000-term answer is
//! never whole in memory: `begin`, then `lines` per stored chunk, then `end`.
//!
//! JSON is the bulk API's shape (`{"response":[[result, ...], ...]}`); XML follows the
//! shared JSON-to-XML mapping (arrays repeat `item`); CSV has one row per result (a term
//! with three addresses has three rows) in the column order of the schemas below.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::render::fields::Schema;
use crate::render::{csv, xml};

/// A response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
    Csv,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xml => "xml",
            Format::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "xml" => Ok(Format::Xml),
            "csv" => Ok(Format::Csv),
            _ => Err(
                "The format field should have one of the following values: json, xml, csv.".into(),
            ),
        }
    }
}

/// Which results a download holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// One JSON array of results per term.
    Completed,
    /// One `{"term","type","reason"}` object per term.
    Failed,
}

const LEAF: Schema = Schema(&[]);

/// CSV columns of a result.
pub static RESULT_SCHEMA: Schema = Schema(&[
    ("term", LEAF),
    ("ip", LEAF),
    (
        "location",
        Schema(&[
            ("country", LEAF),
            ("region", LEAF),
            ("city", LEAF),
            ("lat", LEAF),
            ("lng", LEAF),
            ("postalCode", LEAF),
            ("timezone", LEAF),
            ("geonameId", LEAF),
        ]),
    ),
    (
        "as",
        Schema(&[("asn", LEAF), ("name", LEAF), ("route", LEAF)]),
    ),
    ("isp", LEAF),
    ("domains", LEAF),
]);

/// CSV columns of a failed or invalid term.
pub static PROBLEM_SCHEMA: Schema = Schema(&[("term", LEAF), ("type", LEAF), ("reason", LEAF)]);

/// Writes one download in parts.
pub struct Writer {
    format: Format,
    part: Part,
    columns: Vec<String>,
    first: bool,
}

impl Writer {
    pub fn new(format: Format, part: Part) -> Writer {
        let schema = match part {
            Part::Completed => &RESULT_SCHEMA,
            Part::Failed => &PROBLEM_SCHEMA,
        };
        Writer {
            format,
            part,
            columns: csv::columns(schema, None),
            first: true,
        }
    }

    pub fn begin(&mut self) -> Vec<u8> {
        match self.format {
            Format::Json => b"{\"response\":[".to_vec(),
            Format::Xml => b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>".to_vec(),
            Format::Csv => csv::header(&self.columns),
        }
    }

    /// The bytes for stored JSON lines (of this writer's part).
    pub fn lines(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + text.len() / 4);
        match self.format {
            Format::Json => {
                for line in text.lines().filter(|l| !l.is_empty()) {
                    if !std::mem::take(&mut self.first) {
                        out.push(b',');
                    }
                    out.extend_from_slice(line.as_bytes());
                }
            }
            Format::Xml => {
                for value in parse_lines(text) {
                    xml::fragment(&mut out, "item", &value);
                }
            }
            Format::Csv => {
                let mut rows = Vec::new();
                for value in parse_lines(text) {
                    match (self.part, value) {
                        (Part::Completed, Value::Array(results)) => rows.extend(results),
                        (_, other) => rows.push(other),
                    }
                }
                out = csv::body(&rows, &self.columns);
            }
        }
        out
    }

    pub fn end(&mut self) -> Vec<u8> {
        match self.format {
            Format::Json => b"]}\n".to_vec(),
            Format::Xml => b"</response>\n".to_vec(),
            Format::Csv => Vec::new(),
        }
    }
}

fn parse_lines(text: &str) -> impl Iterator<Item = Value> + '_ {
    text.lines().filter(|l| !l.is_empty()).filter_map(|line| {
        serde_json::from_str(line)
            .inspect_err(|e| tracing::error!(error = %e, "a stored bulk result is not JSON"))
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(format: Format, part: Part, chunks: &[&str]) -> String {
        let mut w = Writer::new(format, part);
        let mut out = w.begin();
        for c in chunks {
            out.extend(w.lines(c));
        }
        out.extend(w.end());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn parts_join_into_one_document() {
        let a = "[{\"ip\":\"1.2.3.4\",\"as\":{\"asn\":1},\"domains\":[\"a.example\",\"b.example\"],\"term\":\"1.2.3.4\"}]\n";
        let b = "[{\"ip\":\"::1\",\"term\":\"x.example\"},{\"ip\":\"10.0.0.1\",\"term\":\"x.example\"}]\n";
        let json: Value =
            serde_json::from_str(&whole(Format::Json, Part::Completed, &[a, "", b])).unwrap();
        assert_eq!(json["response"].as_array().unwrap().len(), 2);
        assert_eq!(json["response"][1][1]["ip"], "10.0.0.1");

        let csv = whole(Format::Csv, Part::Completed, &[a, b]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(lines[0].starts_with("term,ip,location.country,"), "{csv}");
        assert!(lines[1].ends_with(",a.example;b.example"), "{csv}");

        let xml = whole(Format::Xml, Part::Completed, &[a]);
        assert!(
            xml.contains("<response><item><item><ip>1.2.3.4</ip><as><asn>1</asn></as><domains><item>a.example</item>"),
            "{xml}"
        );
        assert!(xml.ends_with("</response>\n"));
    }
}
