//! ipintel's own record: everything the engine knows about an address, names in one locale.

use ipintel_core::geo::local::LocalNetwork;
use ipintel_core::geo::record::Names;
use ipintel_core::geo::GeoAnswer;
use serde::Serialize;

use crate::render::fields::Schema;

const PLACE: Schema = Schema::obj(&[
    ("iso_code", Schema::STR),
    ("name", Schema::STR),
    ("geoname_id", Schema::INT),
]);

/// Every field of the record, in output order: validates `fields` and orders CSV columns.
pub const SCHEMA: Schema = Schema::obj(&[
    ("ip", Schema::STR),
    ("network", Schema::STR),
    ("found", Schema::BOOL),
    ("reserved", Schema::STR),
    (
        "local_network",
        Schema::obj(&[("name", Schema::STR), ("domain_id", Schema::INT)]),
    ),
    (
        "continent",
        Schema::obj(&[
            ("code", Schema::STR),
            ("name", Schema::STR),
            ("geoname_id", Schema::INT),
        ]),
    ),
    (
        "country",
        Schema::obj(&[
            ("iso_code", Schema::STR),
            ("name", Schema::STR),
            ("geoname_id", Schema::INT),
            ("is_in_european_union", Schema::BOOL),
        ]),
    ),
    ("registered_country", PLACE),
    (
        "represented_country",
        Schema::obj(&[
            ("iso_code", Schema::STR),
            ("name", Schema::STR),
            ("type", Schema::STR),
        ]),
    ),
    ("subdivisions", Schema::list(PLACE.fields)),
    (
        "city",
        Schema::obj(&[("name", Schema::STR), ("geoname_id", Schema::INT)]),
    ),
    ("postal_code", Schema::STR),
    (
        "location",
        Schema::obj(&[
            ("latitude", Schema::NUM),
            ("longitude", Schema::NUM),
            ("accuracy_radius", Schema::INT),
            ("time_zone", Schema::STR),
        ]),
    ),
    (
        "asn",
        Schema::obj(&[("number", Schema::INT), ("organization", Schema::STR)]),
    ),
    ("isp", Schema::STR),
    ("organization", Schema::STR),
    ("connection_type", Schema::STR),
    ("domain", Schema::STR),
    (
        "registry",
        Schema::obj(&[
            ("source", Schema::STR),
            ("range", Schema::STR),
            ("netname", Schema::STR),
            ("country", Schema::STR),
            ("org_id", Schema::STR),
            ("org_name", Schema::STR),
            ("abuse_contact", Schema::STR),
            ("abuse_email", Schema::STR),
        ]),
    ),
    (
        "anonymity",
        Schema::obj(&[
            ("is_anonymous", Schema::BOOL),
            ("is_anonymous_vpn", Schema::BOOL),
            ("is_hosting_provider", Schema::BOOL),
            ("is_public_proxy", Schema::BOOL),
            ("is_residential_proxy", Schema::BOOL),
            ("is_tor_exit_node", Schema::BOOL),
        ]),
    ),
]);

fn name<'a>(names: &'a Names, lang: &str) -> Option<&'a str> {
    names.get(lang).or_else(|| names.get("en"))
}

#[derive(Serialize)]
struct PlaceJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iso_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geoname_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_in_european_union: Option<bool>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
}

#[derive(Serialize)]
struct LocationJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy_radius: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_zone: Option<&'a str>,
}

#[derive(Serialize)]
struct AsnJson<'a> {
    number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<&'a str>,
}

#[derive(Serialize)]
struct LocalJson<'a> {
    name: &'a str,
    domain_id: u32,
}

#[derive(Serialize)]
struct AnonymityJson {
    is_anonymous: bool,
    is_anonymous_vpn: bool,
    is_hosting_provider: bool,
    is_public_proxy: bool,
    is_residential_proxy: bool,
    is_tor_exit_node: bool,
}

#[derive(Serialize)]
pub struct RecordJson<'a> {
    ip: String,
    network: String,
    found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reserved: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_network: Option<LocalJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent: Option<PlaceJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<PlaceJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_country: Option<PlaceJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    represented_country: Option<PlaceJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subdivisions: Vec<PlaceJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<PlaceJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<LocationJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asn: Option<AsnJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    anonymity: Option<AnonymityJson>,
}

impl<'a> RecordJson<'a> {
    pub fn new(
        answer: &'a GeoAnswer<'_>,
        reserved: Option<&'static str>,
        local: Option<&'a LocalNetwork>,
        lang: &str,
    ) -> Self {
        let place = answer.place.as_deref().map(|p| &p.data);
        let country = |c: &'a ipintel_core::geo::record::Country, eu: bool| PlaceJson {
            code: None,
            iso_code: c.iso_code.as_deref(),
            name: name(&c.names, lang),
            geoname_id: c.geoname_id,
            is_in_european_union: eu.then_some(c.is_in_european_union),
            kind: c.representation.as_deref(),
        };
        let traits = answer.network_traits.as_deref().map(|t| &t.data);
        RecordJson {
            ip: answer.ip.to_string(),
            network: answer.network.to_string(),
            found: !answer.is_empty(),
            reserved,
            local_network: local.map(|l| LocalJson {
                name: &l.name,
                domain_id: l.domain_id,
            }),
            continent: place.and_then(|p| p.continent.as_ref()).map(|c| PlaceJson {
                code: c.code.as_deref(),
                iso_code: None,
                name: name(&c.names, lang),
                geoname_id: c.geoname_id,
                is_in_european_union: None,
                kind: None,
            }),
            country: place
                .and_then(|p| p.country.as_ref())
                .map(|c| country(c, true)),
            registered_country: place
                .and_then(|p| p.registered_country.as_ref())
                .map(|c| country(c, false)),
            represented_country: place
                .and_then(|p| p.represented_country.as_ref())
                .map(|c| country(c, false)),
            subdivisions: place
                .map(|p| {
                    p.subdivisions
                        .iter()
                        .map(|s| PlaceJson {
                            code: None,
                            iso_code: s.iso_code.as_deref(),
                            name: name(&s.names, lang),
                            geoname_id: s.geoname_id,
                            is_in_european_union: None,
                            kind: None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            city: place.and_then(|p| p.city.as_ref()).map(|c| PlaceJson {
                code: None,
                iso_code: None,
                name: name(&c.names, lang),
                geoname_id: c.geoname_id,
                is_in_european_union: None,
                kind: None,
            }),
            postal_code: place
                .and_then(|p| p.postal.as_ref())
                .and_then(|p| p.code.as_deref()),
            location: place
                .and_then(|p| p.location.as_ref())
                .map(|l| LocationJson {
                    latitude: l.latitude,
                    longitude: l.longitude,
                    accuracy_radius: l.accuracy_radius,
                    time_zone: l.time_zone.as_deref(),
                }),
            asn: traits.and_then(|t| {
                t.autonomous_system_number.map(|number| AsnJson {
                    number,
                    organization: t.autonomous_system_organization.as_deref(),
                })
            }),
            isp: traits.and_then(|t| t.isp.as_deref()),
            organization: traits.and_then(|t| t.organization.as_deref()),
            connection_type: traits.and_then(|t| t.connection_type.as_deref()),
            domain: traits.and_then(|t| t.domain.as_deref()),
            anonymity: answer.anonymity.as_deref().map(|a| {
                let a = &a.data;
                AnonymityJson {
                    is_anonymous: a.is_anonymous,
                    is_anonymous_vpn: a.is_anonymous_vpn,
                    is_hosting_provider: a.is_hosting_provider,
                    is_public_proxy: a.is_public_proxy,
                    is_residential_proxy: a.is_residential_proxy,
                    is_tor_exit_node: a.is_tor_exit_node,
                }
            }),
        }
    }
}

/// A finished network task as the structured `result` of `GET /v1/jobs/{id}`.
pub fn task_result(outcome: &crate::net::TaskOutcome) -> serde_json::Value {
    use crate::net::TaskOutcome;
    use serde_json::json;
    match outcome {
        TaskOutcome::Reverse { ip, names } => json!({
            "ip": ip.to_string(),
            // Names past the forward check limit say `"checked": false`; checked ones omit it.
            "names": names.iter().map(|n| if n.checked {
                json!({"name": n.name, "confirmed": n.confirmed})
            } else {
                json!({"name": n.name, "confirmed": false, "checked": false})
            }).collect::<Vec<_>>(),
        }),
        TaskOutcome::Dig {
            ip,
            server,
            status,
            answers,
            query_time_ms,
            ..
        } => json!({
            "ip": ip.to_string(),
            "server": server.to_string(),
            "status": status,
            "answers": answers,
            "query_time_ms": query_time_ms,
        }),
        TaskOutcome::Whois { query, answer } => json!({
            "query": query,
            "servers": answer.chain.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            "answer": answer.chain.last().map(|(_, text)| text.as_str()).unwrap_or(""),
            "truncated": answer.truncated,
        }),
        TaskOutcome::PortScan { ip, ports } => json!({
            "ip": ip.to_string(),
            "ports": ports.iter().map(|(port, state)| json!({"port": port, "state": state.as_str()})).collect::<Vec<_>>(),
        }),
    }
}

/// The `registry` member: the covering range of the RPSL registry, when one is loaded and
/// holds the address.
pub fn registry_json(c: &ipintel_core::registry::query::Covering) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("source".into(), c.source.clone().into());
    m.insert("range".into(), c.range.clone().into());
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), v.clone().into());
        }
    };
    put("netname", &c.netname);
    put("country", &c.country);
    put("org_id", &c.org.as_ref().map(|o| o.0.clone()));
    put("org_name", &c.org.as_ref().and_then(|o| o.1.clone()));
    put("abuse_contact", &c.abuse.as_ref().map(|a| a.0.clone()));
    put("abuse_email", &c.abuse.as_ref().map(|a| a.1.clone()));
    serde_json::Value::Object(m)
}
