//! Bulk results as JSON, XML or CSV, written a part at a time so a 100,000-term answer is
//! never whole in memory: `begin`, then `lines` per stored chunk, then `end`.
//!
//! JSON is the bulk API's shape (`{"response":[[result, ...], ...]}`); XML follows the
//! shared JSON-to-XML mapping (arrays repeat `item`); CSV has one row per result (a term
//! with three addresses has three rows) in the column order of the schemas below.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::render::csv;
use crate::render::fields::Schema;

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

/// CSV columns of a result.
pub static RESULT_SCHEMA: Schema = Schema::obj(&[
    ("term", Schema::STR),
    ("ip", Schema::STR),
    (
        "location",
        Schema::obj(&[
            ("country", Schema::STR),
            ("region", Schema::STR),
            ("city", Schema::STR),
            ("lat", Schema::NUM),
            ("lng", Schema::NUM),
            ("postalCode", Schema::STR),
            ("timezone", Schema::STR),
            ("geonameId", Schema::INT),
        ]),
    ),
    (
        "as",
        Schema::obj(&[
            ("asn", Schema::INT),
            ("name", Schema::STR),
            ("route", Schema::STR),
        ]),
    ),
    ("isp", Schema::STR),
    ("domains", Schema::STRS),
]);

/// CSV columns of a failed or invalid term.
pub static PROBLEM_SCHEMA: Schema = Schema::obj(&[
    ("term", Schema::STR),
    ("type", Schema::STR),
    ("reason", Schema::STR),
]);

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
                for line in text.lines().filter(|l| !l.is_empty()) {
                    match serde_json::from_str::<Ordered>(line) {
                        Ok(node) => node.write_xml(&mut out, "item"),
                        Err(e) => tracing::error!(error = %e, "a stored bulk result is not JSON"),
                    }
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

/// A JSON value that keeps its members in document order, for XML: `serde_json::Value`
/// sorts them, and the results' documented order (ip, location, ..., term) should survive.
enum Ordered {
    Null,
    Text(String),
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl Ordered {
    fn write_xml(&self, out: &mut Vec<u8>, name: &str) {
        use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
        let mut writer = quick_xml::Writer::new(std::mem::take(out));
        fn element(w: &mut quick_xml::Writer<Vec<u8>>, name: &str, node: &Ordered) {
            let expect = "writing to a Vec";
            w.write_event(Event::Start(BytesStart::new(name)))
                .expect(expect);
            match node {
                Ordered::Null => {}
                Ordered::Text(text) => w
                    .write_event(Event::Text(BytesText::new(text)))
                    .expect(expect),
                Ordered::Array(items) => items.iter().for_each(|i| element(w, "item", i)),
                Ordered::Object(members) => members.iter().for_each(|(k, v)| element(w, k, v)),
            }
            w.write_event(Event::End(BytesEnd::new(name)))
                .expect(expect);
        }
        element(&mut writer, name, self);
        *out = writer.into_inner();
    }
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Text(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
                Ok(Ordered::Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
                // As JSON writes it (37.0, not 37).
                Ok(Ordered::Text(
                    serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string()),
                ))
            }
            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Ordered, E> {
                Ok(Ordered::Text(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Ordered, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Ordered>()? {
                    members.push(member);
                }
                Ok(Ordered::Object(members))
            }
        }
        d.deserialize_any(Visit)
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
