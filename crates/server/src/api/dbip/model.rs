//! DB-IP's flat record. Built per request from the engine's answer: the shape depends on
//! tier and locale, and a DB-IP record is small enough that memoising it buys little.

use std::net::IpAddr;
use std::time::SystemTime;

use ipintel_core::accounts::Tier;
use ipintel_core::geo::country::{country_facts, utc_offset_hours};
use ipintel_core::geo::record::Names;
use ipintel_core::geo::GeoAnswer;
use serde::Serialize;

/// The record, in seed order. Absent fields are omitted.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RecordJson<'a> {
    pub ip_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_eu_member: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    languages: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_prov_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_prov: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    district: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geoname_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zip_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gmt_offset: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_proxy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threat_level: Option<&'static str>,
}

fn name<'a>(names: &'a Names, locale: &str) -> Option<&'a str> {
    names.get(locale).or_else(|| names.get("en"))
}

/// A reserved address: not an error in DB-IP's API, but a record in the "ZZ" country.
pub fn reserved(ip: IpAddr, label: &'static str, tier: Tier) -> RecordJson<'static> {
    let mut json = RecordJson {
        ip_address: ip.to_string(),
        country_code: Some("ZZ"),
        ..Default::default()
    };
    if tier >= Tier::Pro {
        json.isp = Some(if label == "Rfc 1918" {
            "Private network"
        } else {
            "Reserved network"
        });
        json.usage_type = Some("reserved");
        json.organization = Some(label);
    }
    json
}

/// The record for a found (or unknown) address. `anonymity_loaded` says whether proxy data
/// exists at all: without it the proxy fields are left out rather than claimed false.
pub fn record<'a>(
    answer: &'a GeoAnswer<'_>,
    tier: Tier,
    locale: &str,
    anonymity_loaded: bool,
) -> RecordJson<'a> {
    let mut json = RecordJson {
        ip_address: answer.ip.to_string(),
        ..Default::default()
    };
    let locale = if tier >= Tier::Lite { locale } else { "en" };
    if let Some(place) = answer.place.as_deref().map(|p| &p.data) {
        if let Some(c) = &place.continent {
            json.continent_code = c.code.as_deref();
            json.continent_name = name(&c.names, locale);
        }
        let country = place.country.as_ref().or(place.registered_country.as_ref());
        if let Some(c) = country {
            json.country_code = c.iso_code.as_deref();
            json.country_name = name(&c.names, locale);
        }
        if let Some(s) = place.subdivisions.first() {
            json.state_prov_code = s.iso_code.as_deref();
            json.state_prov = name(&s.names, locale);
        }
        json.city = place.city.as_ref().and_then(|c| name(&c.names, locale));
        if tier >= Tier::Lite {
            if let Some(c) = country {
                json.is_eu_member = Some(c.is_in_european_union);
                if let Some(facts) = c.iso_code.as_deref().and_then(country_facts) {
                    json.currency_code = Some(facts.currency_code);
                    json.currency_name = facts.currency_name;
                    json.phone_prefix = Some(facts.phone_prefix);
                    json.languages = Some(facts.languages);
                }
            }
            json.district = place
                .subdivisions
                .get(1)
                .and_then(|s| name(&s.names, locale));
            json.geoname_id = place.city.as_ref().and_then(|c| c.geoname_id);
            json.zip_code = place.postal.as_ref().and_then(|p| p.code.as_deref());
            if let Some(l) = &place.location {
                json.latitude = l.latitude;
                json.longitude = l.longitude;
                json.time_zone = l.time_zone.as_deref();
                json.gmt_offset = l
                    .time_zone
                    .as_deref()
                    .and_then(|tz| utc_offset_hours(tz, SystemTime::now()))
                    .and_then(hours);
            }
        }
    }
    if tier >= Tier::Pro {
        if let Some(t) = answer.network_traits.as_deref().map(|t| &t.data) {
            json.as_number = t.autonomous_system_number;
            json.as_name = t.autonomous_system_organization.as_deref();
            json.isp = t.isp.as_deref();
            json.organization = t.organization.as_deref();
            json.link_type = t.connection_type.as_deref();
            json.usage_type = t.user_type.as_deref();
        }
        if anonymity_loaded {
            let a = answer.anonymity.as_deref().map(|a| &a.data);
            let proxy_type = a.and_then(|a| {
                if a.is_tor_exit_node {
                    Some("tor")
                } else if a.is_anonymous_vpn {
                    Some("vpn")
                } else if a.is_public_proxy || a.is_residential_proxy {
                    Some("http")
                } else {
                    None
                }
            });
            json.is_proxy = Some(proxy_type.is_some());
            json.proxy_type = proxy_type;
            json.threat_level = Some(
                match (
                    proxy_type,
                    a.is_some_and(|a| a.is_hosting_provider || a.is_anonymous),
                ) {
                    (Some("tor"), _) | (Some("http"), _) => "high",
                    (Some(_), _) | (None, true) => "medium",
                    (None, false) => "low",
                },
            );
        }
    }
    json
}

/// Whole hours print as integers (`-7`), others as decimals (`5.5`), as DB-IP does.
fn hours(h: f64) -> Option<serde_json::Number> {
    if h.fract() == 0.0 {
        Some(serde_json::Number::from(h as i64))
    } else {
        serde_json::Number::from_f64(h)
    }
}
