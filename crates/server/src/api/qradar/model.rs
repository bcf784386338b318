//! QRadar's location object (the seed's response sample): MaxMind flattened to one English
//! `name`, `geo_id` for `geoname_id`, a GeoJSON point, and the local-network traits.

use ipintel_core::geo::local::LocalNetwork;
use ipintel_core::geo::record::{Country, Names};
use ipintel_core::geo::GeoAnswer;
use serde::Serialize;

use crate::render::fields::Schema;

const NAMED: Schema = Schema::obj(&[
    ("confidence", Schema::INT),
    ("geo_id", Schema::INT),
    ("iso_code", Schema::STR),
    ("name", Schema::STR),
]);

/// Every field a location can carry, for validating `fields`.
pub const SCHEMA: Schema = Schema::obj(&[
    (
        "city",
        Schema::obj(&[
            ("confidence", Schema::INT),
            ("geo_id", Schema::INT),
            ("name", Schema::STR),
        ]),
    ),
    (
        "continent",
        Schema::obj(&[
            ("code", Schema::STR),
            ("geo_id", Schema::INT),
            ("name", Schema::STR),
        ]),
    ),
    ("domain_id", Schema::INT),
    (
        "geo_json",
        Schema::obj(&[("coordinates", Schema::NUMS), ("type", Schema::STR)]),
    ),
    ("ip_address", Schema::STR),
    ("is_local", Schema::BOOL),
    (
        "location",
        Schema::obj(&[
            ("accuracy_radius", Schema::INT),
            ("average_income", Schema::INT),
            ("latitude", Schema::NUM),
            ("longitude", Schema::NUM),
            ("metro_code", Schema::INT),
            ("population_density", Schema::INT),
            ("timezone", Schema::STR),
        ]),
    ),
    ("network", Schema::STR),
    ("physical_country", NAMED),
    (
        "postal",
        Schema::obj(&[("confidence", Schema::INT), ("postal_code", Schema::STR)]),
    ),
    ("registered_country", NAMED),
    (
        "represented_country",
        Schema::obj(&[
            ("confidence", Schema::INT),
            ("geo_id", Schema::INT),
            ("iso_code", Schema::STR),
            ("name", Schema::STR),
            ("type", Schema::STR),
        ]),
    ),
    ("subdivisions", Schema::list(NAMED.fields)),
    (
        "traits",
        Schema::obj(&[
            ("autonomous_system_number", Schema::INT),
            ("autonomous_system_organization", Schema::STR),
            ("domain", Schema::STR),
            ("internet_service_provider", Schema::STR),
            ("organization", Schema::STR),
            ("user_type", Schema::STR),
        ]),
    ),
]);

fn english(names: &Names) -> Option<&str> {
    names.get("en")
}

#[derive(Serialize)]
struct NamedJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geo_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iso_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
}

impl<'a> NamedJson<'a> {
    fn country(c: &'a Country) -> Self {
        NamedJson {
            code: None,
            confidence: c.confidence,
            geo_id: c.geoname_id,
            iso_code: c.iso_code.as_deref(),
            name: english(&c.names),
            kind: c.representation.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct LocationJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy_radius: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    average_income: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metro_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    population_density: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
}

#[derive(Serialize)]
struct GeoJson {
    #[serde(rename = "type")]
    kind: &'static str,
    /// GeoJSON order: longitude, latitude.
    coordinates: [f64; 2],
}

#[derive(Serialize, Default)]
struct TraitsJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    autonomous_system_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    autonomous_system_organization: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    internet_service_provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_type: Option<&'a str>,
}

#[derive(Serialize)]
struct PostalJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
}

/// One location object.
#[derive(Serialize)]
pub struct GeolocationJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geo_json: Option<GeoJson>,
    ip_address: String,
    is_local: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<LocationJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_country: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal: Option<PostalJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_country: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    represented_country: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subdivisions: Vec<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traits: Option<TraitsJson<'a>>,
}

impl<'a> GeolocationJson<'a> {
    pub fn new(answer: &'a GeoAnswer<'_>, local: Option<&'a LocalNetwork>) -> Self {
        let place = answer.place.as_deref().map(|p| &p.data);
        let location = place.and_then(|p| p.location.as_ref());
        GeolocationJson {
            city: place.and_then(|p| p.city.as_ref()).map(|c| NamedJson {
                code: None,
                confidence: c.confidence,
                geo_id: c.geoname_id,
                iso_code: None,
                name: english(&c.names),
                kind: None,
            }),
            continent: place.and_then(|p| p.continent.as_ref()).map(|c| NamedJson {
                code: c.code.as_deref(),
                confidence: None,
                geo_id: c.geoname_id,
                iso_code: None,
                name: english(&c.names),
                kind: None,
            }),
            domain_id: local.map(|l| l.domain_id),
            geo_json: location.and_then(|l| match (l.latitude, l.longitude) {
                (Some(lat), Some(lon)) => Some(GeoJson {
                    kind: "Point",
                    coordinates: [lon, lat],
                }),
                _ => None,
            }),
            ip_address: answer.ip.to_string(),
            is_local: local.is_some(),
            location: location.map(|l| LocationJson {
                accuracy_radius: l.accuracy_radius,
                average_income: l.average_income,
                latitude: l.latitude,
                longitude: l.longitude,
                metro_code: l.metro_code,
                population_density: l.population_density,
                timezone: l.time_zone.as_deref(),
            }),
            network: local.map(|l| l.name.as_str()),
            physical_country: place
                .and_then(|p| p.country.as_ref())
                .map(NamedJson::country),
            postal: place.and_then(|p| p.postal.as_ref()).map(|p| PostalJson {
                confidence: p.confidence,
                postal_code: p.code.as_deref(),
            }),
            registered_country: place
                .and_then(|p| p.registered_country.as_ref())
                .map(NamedJson::country),
            represented_country: place
                .and_then(|p| p.represented_country.as_ref())
                .map(NamedJson::country),
            subdivisions: place
                .map(|p| {
                    p.subdivisions
                        .iter()
                        .map(|s| NamedJson {
                            code: None,
                            confidence: s.confidence,
                            geo_id: s.geoname_id,
                            iso_code: s.iso_code.as_deref(),
                            name: english(&s.names),
                            kind: None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            traits: answer.network_traits.as_deref().map(|t| {
                let t = &t.data;
                TraitsJson {
                    autonomous_system_number: t.autonomous_system_number,
                    autonomous_system_organization: t.autonomous_system_organization.as_deref(),
                    domain: t.domain.as_deref(),
                    internet_service_provider: t.isp.as_deref(),
                    organization: t.organization.as_deref(),
                    user_type: t.user_type.as_deref(),
                }
            }),
        }
    }
}

/// A finished network task as QRadar's `message`: one line per name, port or answer.
pub fn task_message(outcome: &crate::net::TaskOutcome) -> String {
    use crate::net::TaskOutcome;
    match outcome {
        TaskOutcome::Reverse { ip, names } if names.is_empty() => format!("{ip} has no PTR record"),
        TaskOutcome::Reverse { names, .. } => names
            .iter()
            .map(|n| {
                format!(
                    "{} ({})",
                    n.name,
                    match (n.checked, n.confirmed) {
                        (true, true) => "confirmed",
                        (true, false) => "not confirmed",
                        (false, _) => "not checked: over the forward check limit",
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        TaskOutcome::Dig { report, .. } => report.clone(),
        TaskOutcome::Whois { answer, .. } => answer.text(),
        TaskOutcome::PortScan { ports, .. } => ports
            .iter()
            .map(|(port, state)| format!("{port}/tcp {}", state.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}
