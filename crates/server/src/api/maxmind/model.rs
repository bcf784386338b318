//! MaxMind's JSON shapes. Wire DTOs borrow from the engine's records; nothing here is
//! `Deserialize`, and nothing outside this dialect sees these types.
//!
//! Each record renders once per service into a memo slot (a JSON member list without the
//! braces); a response is those fragments joined with the per-request members
//! (`ip_address`, `network`, `queries_remaining`).

use std::io::Write as _;

use std::borrow::Cow;

use ipintel_core::geo::record::{Continent, Country, Location, Names, Postal, Subdivision};
use ipintel_core::geo::{AnonymityRecord, GeoAnswer, MemoSlot, NetworkTraits, PlaceRecord};
use serde::Serialize;

use super::Endpoint;

pub fn content_type(service: Endpoint) -> &'static str {
    match service {
        Endpoint::Country => "application/vnd.maxmind.com-country+json; charset=UTF-8; version=2.1",
        Endpoint::City => "application/vnd.maxmind.com-city+json; charset=UTF-8; version=2.1",
        Endpoint::Insights => {
            "application/vnd.maxmind.com-insights+json; charset=UTF-8; version=2.1"
        }
    }
}

/// Memo slots 0-2 hold the three services' renderings; slot 3 the anonymity flags as
/// traits members. Other dialects use slots from 4 up.
fn slot(service: Endpoint) -> MemoSlot {
    match service {
        Endpoint::Country => MemoSlot(0),
        Endpoint::City => MemoSlot(1),
        Endpoint::Insights => MemoSlot(2),
    }
}
const ANONYMITY_TRAITS_SLOT: MemoSlot = MemoSlot(3);

/// The full response body.
pub fn render(service: Endpoint, answer: &GeoAnswer, queries_remaining: Option<u64>) -> Vec<u8> {
    let empty = Cow::Borrowed(&b""[..]);
    // The handler asks for places rendered from the database (`place.rs`); the CLI and
    // tests may hand a decoded record, rendered here.
    let rendered = answer
        .rendered_place
        .as_ref()
        .map(|r| &r.rendering)
        .filter(|r| !r.is_empty());
    let place = match (&answer.rendered_place, answer.place.as_deref()) {
        (None, Some(place)) => {
            place.memo(slot(service), |p| member_list(&PlaceJson::new(p, service)))
        }
        _ => empty.clone(),
    };
    let anonymity = answer
        .anonymity
        .as_deref()
        .filter(|_| service == Endpoint::Insights);
    let anonymizer = match anonymity {
        Some(a) => a.memo(slot(service), |a| {
            let mut v = b"\"anonymizer\":".to_vec();
            serde_json::to_writer(&mut v, &AnonymizerJson::from(a)).expect("serialisable");
            v
        }),
        None => empty.clone(),
    };
    let traits = match answer.network_traits.as_deref() {
        Some(record) => record.memo(slot(service), |t| member_list(&TraitsJson::new(t, service))),
        None => empty.clone(),
    };
    let anonymity_traits = match anonymity {
        Some(a) => a.memo(ANONYMITY_TRAITS_SLOT, |a| {
            member_list(&AnonymityTraitsJson::from(a))
        }),
        None => empty,
    };
    let (place, anonymizer, traits, anonymity_traits) =
        (&*place, &*anonymizer, &*traits, &*anonymity_traits);

    // One exact allocation: fragments plus the per-request members (at most ~140 bytes).
    let mut out = Vec::with_capacity(
        rendered.map_or(0, |r| r.len())
            + place.len()
            + anonymizer.len()
            + traits.len()
            + anonymity_traits.len()
            + 192,
    );
    out.push(b'{');
    let mut first = true;
    if let Some(rendered) = rendered {
        rendered.write_to(&mut out);
        first = false;
    }
    for fragment in [place, anonymizer] {
        push_member(&mut out, &mut first, fragment);
    }
    if let Some(remaining) = queries_remaining {
        push_member(&mut out, &mut first, b"\"maxmind\":{\"queries_remaining\":");
        out.extend_from_slice(itoa::Buffer::new().format(remaining).as_bytes());
        out.push(b'}');
    }
    push_member(&mut out, &mut first, b"\"traits\":{");
    let mut first_trait = true;
    for fragment in [traits, anonymity_traits] {
        push_member(&mut out, &mut first_trait, fragment);
    }
    push_member(&mut out, &mut first_trait, b"\"ip_address\":\"");
    write_ip(&mut out, answer.ip);
    out.extend_from_slice(b"\",\"network\":\"");
    write_ip(&mut out, answer.network.network());
    out.push(b'/');
    out.extend_from_slice(
        itoa::Buffer::new()
            .format(answer.network.prefix_len())
            .as_bytes(),
    );
    out.extend_from_slice(b"\"}}");
    out
}

/// Append a member (or member list) with its separating comma; empty fragments add nothing.
fn push_member(out: &mut Vec<u8>, first: &mut bool, fragment: &[u8]) {
    if fragment.is_empty() {
        return;
    }
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(fragment);
}

/// Addresses print as plain ASCII, so no JSON escaping is needed. IPv4, the common case,
/// skips the formatting machinery.
fn write_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut buf = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(buf.format(octet).as_bytes());
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// The place members as the decoded path renders them (what `place.rs` must equal).
#[cfg(test)]
pub fn decoded_place_members(place: &PlaceRecord, service: Endpoint) -> Vec<u8> {
    member_list(&PlaceJson::new(place, service))
}

/// A value's JSON object without its braces: `"a":1,"b":2` (empty for `{}`).
fn member_list<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialised into this thread's scratch buffer, then copied once at its exact size
    // without the braces: a miss pays one allocation, not a growing buffer's reallocations,
    // a shift and a shrink.
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        serde_json::to_writer(&mut *scratch, value).expect("serialisable");
        debug_assert!(scratch.first() == Some(&b'{') && scratch.last() == Some(&b'}'));
        let inner = scratch[1..scratch.len() - 1].to_vec();
        // A rare huge record does not pin its size in every thread.
        if scratch.capacity() > 64 * 1024 {
            *scratch = Vec::new();
        }
        inner
    })
}

fn no_names(n: &&Names) -> bool {
    n.is_empty()
}

/// `names` as the JSON object MaxMind sends: locale -> name.
fn names_map<S: serde::Serializer>(names: &&Names, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(names.iter())
}
fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct NamedJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geoname_id: Option<u32>,
    #[serde(skip_serializing_if = "is_false")]
    is_in_european_union: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    iso_code: Option<&'a str>,
    #[serde(skip_serializing_if = "no_names", serialize_with = "names_map")]
    names: &'a Names,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
}

impl<'a> NamedJson<'a> {
    fn empty(&self) -> bool {
        self.code.is_none()
            && self.confidence.is_none()
            && self.geoname_id.is_none()
            && !self.is_in_european_union
            && self.iso_code.is_none()
            && self.names.is_empty()
            && self.kind.is_none()
    }

    fn continent(c: &'a Continent) -> Self {
        NamedJson {
            code: c.code.as_deref(),
            confidence: None,
            geoname_id: c.geoname_id,
            is_in_european_union: false,
            iso_code: None,
            names: &c.names,
            kind: None,
        }
    }

    fn country(c: &'a Country, insights: bool) -> Self {
        NamedJson {
            code: None,
            confidence: c.confidence.filter(|_| insights),
            geoname_id: c.geoname_id,
            is_in_european_union: c.is_in_european_union,
            iso_code: c.iso_code.as_deref(),
            names: &c.names,
            kind: c.representation.as_deref(),
        }
    }

    fn subdivision(s: &'a Subdivision, insights: bool) -> Self {
        NamedJson {
            code: None,
            confidence: s.confidence.filter(|_| insights),
            geoname_id: s.geoname_id,
            is_in_european_union: false,
            iso_code: s.iso_code.as_deref(),
            names: &s.names,
            kind: None,
        }
    }
}

fn some_if<T>(v: T, keep: impl FnOnce(&T) -> bool) -> Option<T> {
    keep(&v).then_some(v)
}

#[derive(Serialize)]
struct PlaceJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continent: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<LocationJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal: Option<PostalJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_country: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    represented_country: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subdivisions: Vec<NamedJson<'a>>,
}

impl<'a> PlaceJson<'a> {
    fn new(p: &'a PlaceRecord, service: Endpoint) -> Self {
        let insights = service == Endpoint::Insights;
        let detailed = service != Endpoint::Country;
        let country = |c: &'a Option<Country>| {
            c.as_ref()
                .map(|c| NamedJson::country(c, insights))
                .and_then(|n| some_if(n, |n| !n.empty()))
        };
        PlaceJson {
            city: p
                .city
                .as_ref()
                .filter(|_| detailed)
                .map(|c| NamedJson {
                    code: None,
                    confidence: c.confidence.filter(|_| insights),
                    geoname_id: c.geoname_id,
                    is_in_european_union: false,
                    iso_code: None,
                    names: &c.names,
                    kind: None,
                })
                .and_then(|n| some_if(n, |n| !n.empty())),
            continent: p
                .continent
                .as_ref()
                .map(NamedJson::continent)
                .and_then(|n| some_if(n, |n| !n.empty())),
            country: country(&p.country),
            location: p
                .location
                .as_ref()
                .filter(|_| detailed)
                .map(|l| LocationJson::new(l, insights))
                .and_then(|l| some_if(l, |l| !l.empty())),
            postal: p
                .postal
                .as_ref()
                .filter(|_| detailed)
                .map(|pc| PostalJson::new(pc, insights))
                .and_then(|pc| some_if(pc, |pc| pc.code.is_some() || pc.confidence.is_some())),
            registered_country: country(&p.registered_country),
            represented_country: country(&p.represented_country),
            subdivisions: if detailed {
                p.subdivisions
                    .iter()
                    .map(|s| NamedJson::subdivision(s, insights))
                    .filter(|n| !n.empty())
                    .collect()
            } else {
                Vec::new()
            },
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
    time_zone: Option<&'a str>,
}

impl<'a> LocationJson<'a> {
    fn new(l: &'a Location, insights: bool) -> Self {
        LocationJson {
            accuracy_radius: l.accuracy_radius,
            average_income: l.average_income.filter(|_| insights),
            latitude: l.latitude,
            longitude: l.longitude,
            metro_code: l.metro_code,
            population_density: l.population_density.filter(|_| insights),
            time_zone: l.time_zone.as_deref(),
        }
    }

    fn empty(&self) -> bool {
        self.accuracy_radius.is_none()
            && self.average_income.is_none()
            && self.latitude.is_none()
            && self.longitude.is_none()
            && self.metro_code.is_none()
            && self.population_density.is_none()
            && self.time_zone.is_none()
    }
}

#[derive(Serialize)]
struct PostalJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<u16>,
}

impl<'a> PostalJson<'a> {
    fn new(p: &'a Postal, insights: bool) -> Self {
        PostalJson {
            code: p.code.as_deref(),
            confidence: p.confidence.filter(|_| insights),
        }
    }
}

/// `traits` members from network data, by service (spec 1.2: AS, ISP, connection and
/// domain fields from City up; user type and scores in Insights only).
#[derive(Serialize, Default)]
struct TraitsJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    autonomous_system_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    autonomous_system_organization: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    is_anycast: bool,
    #[serde(skip_serializing_if = "is_false")]
    is_legitimate_proxy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    isp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_country_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_network_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    static_ip_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_type: Option<&'a str>,
}

impl<'a> TraitsJson<'a> {
    fn new(t: &'a NetworkTraits, service: Endpoint) -> Self {
        let mut json = TraitsJson {
            is_anycast: t.is_anycast,
            ..Default::default()
        };
        if service == Endpoint::Country {
            return json;
        }
        json.autonomous_system_number = t.autonomous_system_number;
        json.autonomous_system_organization = t.autonomous_system_organization.as_deref();
        json.connection_type = t.connection_type.as_deref();
        json.domain = t.domain.as_deref();
        json.isp = t.isp.as_deref();
        json.mobile_country_code = t.mobile_country_code.as_deref();
        json.mobile_network_code = t.mobile_network_code.as_deref();
        json.organization = t.organization.as_deref();
        if service == Endpoint::Insights {
            json.is_legitimate_proxy = t.is_legitimate_proxy;
            json.static_ip_score = t.static_ip_score;
            json.user_type = t.user_type.as_deref();
        }
        json
    }
}

#[derive(Serialize)]
struct AnonymityTraitsJson {
    #[serde(skip_serializing_if = "is_false")]
    is_anonymous: bool,
    #[serde(skip_serializing_if = "is_false")]
    is_anonymous_vpn: bool,
    #[serde(skip_serializing_if = "is_false")]
    is_hosting_provider: bool,
    #[serde(skip_serializing_if = "is_false")]
    is_public_proxy: bool,
    #[serde(skip_serializing_if = "is_false")]
    is_residential_proxy: bool,
    #[serde(skip_serializing_if = "is_false")]
    is_tor_exit_node: bool,
}

impl From<&AnonymityRecord> for AnonymityTraitsJson {
    fn from(a: &AnonymityRecord) -> Self {
        AnonymityTraitsJson {
            is_anonymous: a.is_anonymous,
            is_anonymous_vpn: a.is_anonymous_vpn,
            is_hosting_provider: a.is_hosting_provider,
            is_public_proxy: a.is_public_proxy,
            is_residential_proxy: a.is_residential_proxy,
            is_tor_exit_node: a.is_tor_exit_node,
        }
    }
}

#[derive(Serialize)]
struct AnonymizerJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<u16>,
    #[serde(flatten)]
    flags: AnonymityTraitsJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_last_seen: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_name: Option<&'a str>,
}

impl<'a> From<&'a AnonymityRecord> for AnonymizerJson<'a> {
    fn from(a: &'a AnonymityRecord) -> Self {
        AnonymizerJson {
            confidence: a.anonymizer_confidence,
            flags: AnonymityTraitsJson::from(a),
            network_last_seen: a.network_last_seen.as_deref(),
            provider_name: a.provider_name.as_deref(),
        }
    }
}
