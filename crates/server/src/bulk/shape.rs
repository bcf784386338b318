//! The bulk API's wire shapes: one result in the seed's single-lookup shape, one line of
//! `/request/failed`. Built from the engine's bulk projection (`geo::Summary`); what no
//! database knows is left out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::SystemTime;

use ipintel_core::geo::country::utc_offset_hours;
use ipintel_core::geo::GeoSet;
use serde::Serialize;

/// One line of `/request/failed`.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    pub term: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reason: &'a str,
}

impl<'a> Problem<'a> {
    pub fn failed(term: &'a str, reason: &'a str) -> Self {
        Problem {
            term,
            kind: "failed",
            reason,
        }
    }
    /// An invalid term; one longer than any valid term is shown cut to that length (a
    /// 30 MB "term" is not worth keeping for 7 days).
    pub fn invalid(term: &'a str, reason: &'a str) -> Self {
        let mut end = term.len().min(ipintel_core::bulk::MAX_TERM_LEN);
        while !term.is_char_boundary(end) {
            end -= 1;
        }
        Problem {
            term: &term[..end],
            kind: "invalid",
            reason,
        }
    }
}

/// Append `value` as one JSON line.
pub fn push_line(out: &mut String, value: &impl Serialize) {
    out.push_str(&serde_json::to_string(value).expect("serialising plain data"));
    out.push('\n');
}

/// UTC offsets by time zone name, computed once per chunk.
#[derive(Default)]
pub struct Offsets(HashMap<Box<str>, Option<String>>);

impl Offsets {
    fn get(&mut self, zone: &str) -> Option<&str> {
        if !self.0.contains_key(zone) {
            let text = utc_offset_hours(zone, SystemTime::now()).map(|hours| {
                let minutes = (hours * 60.0).round() as i64;
                let sign = if minutes < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
            });
            self.0.insert(zone.into(), text);
        }
        self.0.get(zone).and_then(|o| o.as_deref())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lng: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geoname_id: Option<u32>,
}

#[derive(Serialize)]
struct AutonomousSystem<'a> {
    asn: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<String>,
}

#[derive(Serialize)]
struct ResultRecord<'a> {
    ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    domains: &'a [String],
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    autonomous_system: Option<AutonomousSystem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isp: Option<&'a str>,
    term: &'a str,
}

/// One result in the seed's single-lookup shape; what no database knows is left out.
pub fn write_result(
    out: &mut String,
    geo: &GeoSet,
    ip: IpAddr,
    domains: &[String],
    term: &str,
    offsets: &mut Offsets,
) {
    let summary = geo.summary(ip).unwrap_or_else(|e| {
        tracing::error!(%ip, error = %e, "bulk lookup failed");
        Default::default()
    });
    let location = Location {
        country: summary.country_iso.as_deref(),
        region: summary.region.as_deref(),
        city: summary.city.as_deref(),
        lat: summary.latitude,
        lng: summary.longitude,
        postal_code: summary.postal_code.as_deref(),
        timezone: summary
            .time_zone
            .as_deref()
            .and_then(|zone| offsets.get(zone)),
        geoname_id: summary.city_geoname_id,
    };
    let location =
        (location.country.is_some() || location.lat.is_some() || location.city.is_some())
            .then_some(location);
    let autonomous_system = summary.asn.map(|asn| AutonomousSystem {
        asn,
        name: summary.as_organization.as_deref(),
        route: summary.as_route.map(|n| n.to_string()),
    });
    let isp = summary
        .isp
        .as_deref()
        .or(summary.organization.as_deref())
        .or(summary.as_organization.as_deref());
    let record = ResultRecord {
        ip,
        location,
        domains,
        autonomous_system,
        isp,
        term,
    };
    // Writing JSON into a String cannot fail.
    let json = serde_json::to_string(&record).expect("serialising plain data");
    out.push_str(&json);
}
