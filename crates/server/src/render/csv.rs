//! JSON answers as CSV: one row per answer, one column per leaf of the schema (dotted paths,
//! `country.iso_code`), in schema order, so every row of every request has the same header.
//! Arrays of objects (subdivisions) join each leaf's values with `;`.

use serde_json::Value;

use super::fields::{Field, Schema};

/// The columns for a schema, restricted to a selection when there is one.
pub fn columns(schema: &Schema, selection: Option<&[Field]>) -> Vec<String> {
    let mut out = Vec::new();
    collect(schema, selection, "", &mut out);
    out
}

fn collect(schema: &Schema, selection: Option<&[Field]>, prefix: &str, out: &mut Vec<String>) {
    for (name, below) in schema.fields {
        let chosen = match selection {
            None => Some(None),
            Some(fields) => fields
                .iter()
                .find(|f| f.name == *name)
                .map(|f| f.sub.as_deref()),
        };
        let Some(sub) = chosen else { continue };
        let path = if prefix.is_empty() {
            (*name).to_owned()
        } else {
            format!("{prefix}.{name}")
        };
        if below.fields.is_empty() {
            out.push(path);
        } else {
            collect(below, sub, &path, out);
        }
    }
}

fn cell(value: &Value, path: &[&str]) -> String {
    let Some((first, rest)) = path.split_first() else {
        return match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            Value::Array(items) => items
                .iter()
                .map(|item| cell(item, path))
                .collect::<Vec<_>>()
                .join(";"),
            other => other.to_string(),
        };
    };
    match value {
        Value::Object(map) => map.get(*first).map(|v| cell(v, rest)).unwrap_or_default(),
        Value::Array(items) => items
            .iter()
            .map(|item| cell(item, path))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(";"),
        _ => String::new(),
    }
}

/// Header plus one row per value.
pub fn to_csv(rows: &[Value], columns: &[String]) -> Vec<u8> {
    let mut out = header(columns);
    out.extend(body(rows, columns));
    out
}

/// The header line alone (a streamed answer writes it first, then `body` per part).
pub fn header(columns: &[String]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(256));
    writer.write_record(columns).expect("writing to a Vec");
    writer.into_inner().expect("flushing a Vec")
}

/// One row per value, no header.
pub fn body(rows: &[Value], columns: &[String]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(256 * rows.len()));
    let paths: Vec<Vec<&str>> = columns.iter().map(|c| c.split('.').collect()).collect();
    for row in rows {
        writer
            .write_record(paths.iter().map(|p| cell(row, p)))
            .expect("writing to a Vec");
    }
    writer.into_inner().expect("flushing a Vec")
}
