//! Output machinery shared by dialects: field selection over JSON answers, and JSON answers
//! as XML and CSV.

pub mod csv;
pub mod fields;
pub mod xml;

/// Unix seconds as RFC 3339 in UTC, e.g. `2026-12-01T21:53:23Z`.
pub fn rfc3339(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| unix_seconds.to_string())
}
