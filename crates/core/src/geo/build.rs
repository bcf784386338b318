//! Writing MMDB files: the ASN database from open CSV ranges, and any MaxMind-schema
//! database from a readable JSON source (how the tests make their fixtures).
//!
//! Both write to a temporary file and rename it into place, so a server watching the
//! output path only ever sees a complete database.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use mmdb_writer::{ReservedNetworks, Value, Writer};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{}:{line}: {reason}", path.display())]
    Parse {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

/// What a build wrote and what it passed over.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub n_written: u64,
    /// Rows inside reserved space or IPv4-alias subtrees (6to4, Teredo, mapped), which an
    /// MMDB with IPv4 aliasing cannot hold separately.
    pub n_skipped: u64,
    pub examples_skipped: Vec<String>,
}

impl BuildReport {
    fn skip(&mut self, what: String) {
        self.n_skipped += 1;
        if self.examples_skipped.len() < 5 {
            self.examples_skipped.push(what);
        }
    }
}

/// Build a GeoLite2-ASN-schema database from CSV files of `start,end,asn,organization`
/// rows (the `@ip-location-db/asn` layout: no header, addresses in text form).
pub fn build_asn(inputs: &[PathBuf], out: &Path) -> Result<BuildReport, BuildError> {
    let mut writer = Writer::builder("GeoLite2-ASN")
        .description(&[("en", "ASN ranges built by ipintel from open routing data")])
        .reserved_networks(ReservedNetworks::Excluded)
        .build();
    let mut report = BuildReport::default();
    for input in inputs {
        let read_err = |e: &dyn std::fmt::Display| BuildError::Read {
            path: input.clone(),
            reason: e.to_string(),
        };
        let file = File::open(input).map_err(|e| read_err(&e))?;
        let mut rows = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        for (index, row) in rows.records().enumerate() {
            let line = index as u64 + 1;
            let parse_err = |reason: String| BuildError::Parse {
                path: input.clone(),
                line,
                reason,
            };
            let row = row.map_err(|e| parse_err(e.to_string()))?;
            if row.len() < 3 {
                return Err(parse_err(format!(
                    "expected start,end,asn,organization; got {} fields",
                    row.len()
                )));
            }
            let start: IpAddr = row[0]
                .trim()
                .parse()
                .map_err(|_| parse_err(format!("bad start address {:?}", &row[0])))?;
            let end: IpAddr = row[1]
                .trim()
                .parse()
                .map_err(|_| parse_err(format!("bad end address {:?}", &row[1])))?;
            let asn: u32 = row[2]
                .trim()
                .trim_start_matches("AS")
                .parse()
                .map_err(|_| parse_err(format!("bad AS number {:?}", &row[2])))?;
            if start.is_ipv4() != end.is_ipv4() || start > end {
                return Err(parse_err(format!("bad range {start} - {end}")));
            }
            let mut record = vec![("autonomous_system_number", Value::from(asn))];
            let org = row.get(3).unwrap_or("").trim();
            if !org.is_empty() {
                record.push((
                    "autonomous_system_organization",
                    Value::from(org.to_owned()),
                ));
            }
            match writer.insert_range(start, end, &Value::map(record)) {
                Ok(()) => report.n_written += 1,
                Err(e) => report.skip(format!("{start} - {end}: {e}")),
            }
        }
    }
    write_atomically(&writer, out)?;
    Ok(report)
}

/// Build a database of any MaxMind schema from JSON in MaxMind's test-data layout:
/// an array of single-entry objects `{"<network/len>": {record}}`. Later entries win over
/// the parts of earlier networks they cover. Values take MaxMind's binary types by key
/// (uint16 for `accuracy_radius`, `confidence`, `metro_code`; uint32 for ids and counts;
/// double for coordinates and scores), so readers see exactly what MaxMind ships.
pub fn build_from_json(
    source: &Path,
    database_type: &str,
    out: &Path,
) -> Result<BuildReport, BuildError> {
    let read_err = |reason: String| BuildError::Read {
        path: source.to_owned(),
        reason,
    };
    let file = File::open(source).map_err(|e| read_err(e.to_string()))?;
    let entries: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_reader(BufReader::new(file)).map_err(|e| read_err(e.to_string()))?;

    let mut languages = BTreeSet::new();
    let mut values = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        for (network, record) in entry {
            let net: IpNet = network.parse().map_err(|_| BuildError::Parse {
                path: source.to_owned(),
                line: index as u64 + 1,
                reason: format!("bad network {network:?}"),
            })?;
            collect_languages(&record, &mut languages);
            values.push((net, typed_value(None, &record)));
        }
    }
    let mut writer = Writer::builder(database_type)
        .description(&[("en", "ipintel database built from a JSON source")])
        .languages(languages)
        .build();
    let mut report = BuildReport::default();
    for (net, value) in values {
        match writer.insert_value(net, value) {
            Ok(()) => report.n_written += 1,
            Err(e) => report.skip(format!("{net}: {e}")),
        }
    }
    write_atomically(&writer, out)?;
    Ok(report)
}

fn collect_languages(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "names" {
                    if let serde_json::Value::Object(names) = v {
                        out.extend(names.keys().cloned());
                    }
                } else {
                    collect_languages(v, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_languages(v, out)),
        _ => {}
    }
}

/// JSON -> MMDB value with MaxMind's numeric types chosen by field name.
fn typed_value(key: Option<&str>, value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::Null => Value::map(Vec::<(String, Value)>::new()),
        J::Bool(b) => Value::from(*b),
        J::String(s) => Value::from(s.clone()),
        J::Array(items) => Value::array(items.iter().map(|v| typed_value(key, v))),
        J::Object(map) => Value::map(
            map.iter()
                .map(|(k, v)| (k.clone(), typed_value(Some(k), v))),
        ),
        J::Number(n) => {
            let double_field = matches!(
                key,
                Some("latitude" | "longitude" | "static_ip_score" | "ip_risk" | "score")
            );
            match n.as_u64() {
                Some(u) if !double_field => match key {
                    Some(
                        "accuracy_radius" | "confidence" | "metro_code" | "anonymizer_confidence",
                    ) if u <= u64::from(u16::MAX) => Value::from(u as u16),
                    _ if u <= u64::from(u32::MAX) => Value::from(u as u32),
                    _ => Value::from(u),
                },
                _ => Value::from(n.as_f64().unwrap_or(0.0)),
            }
        }
    }
}

fn write_atomically(writer: &Writer, out: &Path) -> Result<(), BuildError> {
    let write_err = |e: &dyn std::fmt::Display| BuildError::Write {
        path: out.to_owned(),
        reason: e.to_string(),
    };
    let mut tmp_name = out.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let file = File::create(&tmp).map_err(|e| write_err(&e))?;
        let mut buf = BufWriter::with_capacity(1 << 20, file);
        writer.write_to(&mut buf).map_err(|e| write_err(&e))?;
        buf.flush().map_err(|e| write_err(&e))?;
        buf.get_ref().sync_all().map_err(|e| write_err(&e))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| write_err(&e))
}
