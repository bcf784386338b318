//! MaxMind's place members rendered straight from the database's bytes (`geo::raw`): the
//! bytes `model::PlaceJson` makes from a decoded record (a test holds the two equal over
//! real addresses), without decoding into structs, and with the values records share (a
//! country, a city, a names map) rendered once and copied after (`SharedRenderings`).
//!
//! The record is read as the decoded path reads it: known members only, in MaxMind's order,
//! empty objects left out, a member of the wrong type an error (a damaged database).

use ipintel_core::geo::raw::{Error, Map, Node, Value};
use ipintel_core::geo::{Keep, PlaceRenderer, SharedRenderings, Sink};

use super::Endpoint;

/// The renderer of each service's place members (cache forms 0-2 are MaxMind's).
pub fn renderer(service: Endpoint) -> PlaceRenderer {
    match service {
        Endpoint::Country => PlaceRenderer {
            form: 0,
            render: |n, out, shared| render(n, out, shared, Endpoint::Country),
        },
        Endpoint::City => PlaceRenderer {
            form: 1,
            render: |n, out, shared| render(n, out, shared, Endpoint::City),
        },
        Endpoint::Insights => PlaceRenderer {
            form: 2,
            render: |n, out, shared| render(n, out, shared, Endpoint::Insights),
        },
    }
}

/// The place members in the order MaxMind's JSON has them; `true` for those only the City
/// and Insights services carry.
const MEMBERS: [(&str, bool); 8] = [
    ("city", true),
    ("continent", false),
    ("country", false),
    ("location", true),
    ("postal", true),
    ("registered_country", false),
    ("represented_country", false),
    ("subdivisions", true),
];

/// What a shared value renders as, for its key in `SharedRenderings` (plus 8 for Insights,
/// whose confidences other services leave out).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    City = 0,
    Continent = 1,
    Country = 2,
    Subdivision = 3,
    Location = 4,
    Postal = 5,
    Names = 6,
}

fn render(
    record: Node<'_>,
    out: &mut Sink,
    shared: &SharedRenderings,
    service: Endpoint,
) -> Result<(), Error> {
    let mut map = as_map(record, "a place record is not a map")?;
    let mut found: [Option<Node<'_>>; 8] = [None; 8];
    while let Some((key, value)) = map.next_entry()? {
        if let Some(i) = MEMBERS.iter().position(|(name, _)| *name == key) {
            found[i] = Some(value);
        }
    }
    let insights = service == Endpoint::Insights;
    let detailed = service != Endpoint::Country;
    let mut first = true;
    for (i, (name, detail)) in MEMBERS.iter().enumerate() {
        let Some(node) = found[i] else { continue };
        if *detail && !detailed {
            continue;
        }
        let mark = out.len();
        if !first {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        let body = out.len();
        match i {
            0 => object(node, Kind::City, insights, out, shared)?,
            1 => object(node, Kind::Continent, insights, out, shared)?,
            2 | 5 | 6 => object(node, Kind::Country, insights, out, shared)?,
            3 => object(node, Kind::Location, insights, out, shared)?,
            4 => object(node, Kind::Postal, insights, out, shared)?,
            _ => subdivisions(node, insights, out, shared)?,
        }
        if out.len() == body {
            out.truncate(mark);
        } else {
            first = false;
        }
    }
    Ok(())
}

fn as_map<'a>(node: Node<'a>, what: &'static str) -> Result<Map<'a>, Error> {
    match node.value {
        Value::Map(map) => Ok(map),
        _ => Err(Error(what)),
    }
}

/// `[...]` of the non-empty subdivisions, or nothing when none is.
fn subdivisions(
    node: Node<'_>,
    insights: bool,
    out: &mut Sink,
    shared: &SharedRenderings,
) -> Result<(), Error> {
    let Value::Array(mut items) = node.value else {
        return Err(Error("subdivisions is not an array"));
    };
    let start = out.len();
    out.push(b'[');
    let mut any = false;
    while let Some(item) = items.next_item()? {
        let mark = out.len();
        if any {
            out.push(b',');
        }
        let body = out.len();
        object(item, Kind::Subdivision, insights, out, shared)?;
        if out.len() == body {
            out.truncate(mark);
        } else {
            any = true;
        }
    }
    if any {
        out.push(b']');
    } else {
        out.truncate(start);
    }
    Ok(())
}

/// `{...}` of a place object, or nothing when it has no member to show; a shared one from
/// (or into) the shared renderings.
fn object(
    node: Node<'_>,
    kind: Kind,
    insights: bool,
    out: &mut Sink,
    shared: &SharedRenderings,
) -> Result<(), Error> {
    if node.shared {
        let key = kind as u8 + if insights { 8 } else { 0 };
        let render = |out: &mut Sink| object_body(node, kind, insights, out, shared);
        let keep = match kind {
            Kind::Continent | Kind::Country | Kind::Subdivision => Keep::Shared,
            Kind::City => Keep::Counted,
            Kind::Location | Kind::Postal | Kind::Names => Keep::Copy,
        };
        shared.append(key, node.at, keep, out, render)
    } else {
        object_body(node, kind, insights, out, shared)
    }
}

fn object_body(
    node: Node<'_>,
    kind: Kind,
    insights: bool,
    out: &mut Sink,
    shared: &SharedRenderings,
) -> Result<(), Error> {
    let mut map = as_map(node, "a place member is not a map")?;
    match kind {
        Kind::Location => return location(map, insights, out),
        Kind::Postal => return postal(map, insights, out),
        _ => {}
    }
    // code, confidence, geoname_id, is_in_european_union, iso_code, names, type: the
    // members each kind decodes, in MaxMind's order.
    let (mut code, mut confidence, mut geoname_id, mut eu, mut iso_code, mut names, mut type_) =
        (None, None, None, false, None, None, None);
    while let Some((key, value)) = map.next_entry()? {
        match (key, kind) {
            ("code", Kind::Continent) => code = Some(string(value)?),
            ("confidence", Kind::City | Kind::Country | Kind::Subdivision) => {
                let c = uint(value, u16::MAX as u64)?;
                confidence = insights.then_some(c);
            }
            ("geoname_id", _) => geoname_id = Some(uint(value, u32::MAX as u64)?),
            ("is_in_european_union", Kind::Country) => eu = boolean(value)?,
            ("iso_code", Kind::Country | Kind::Subdivision) => iso_code = Some(string(value)?),
            ("names", _) => names = Some(value),
            ("type", Kind::Country) => type_ = Some(string(value)?),
            _ => {}
        }
    }
    let mut object = Object::open(out);
    if let Some(code) = code {
        object.member(out, "code");
        push_str(out, code);
    }
    if let Some(c) = confidence {
        object.member(out, "confidence");
        push_uint(out, c);
    }
    if let Some(id) = geoname_id {
        object.member(out, "geoname_id");
        push_uint(out, id);
    }
    if eu {
        object.member(out, "is_in_european_union");
        out.extend_from_slice(b"true");
    }
    if let Some(iso) = iso_code {
        object.member(out, "iso_code");
        push_str(out, iso);
    }
    if let Some(names_node) = names {
        let mark = out.len();
        object.member(out, "names");
        let body = out.len();
        names_map(names_node, out, shared)?;
        if out.len() == body {
            object.retract(out, mark);
        }
    }
    if let Some(t) = type_ {
        object.member(out, "type");
        push_str(out, t);
    }
    object.close(out);
    Ok(())
}

/// The most locales a names map is sorted on the stack for (GeoIP2 has eight).
const STACK_LOCALES: usize = 16;

/// `{"locale":"name",...}` ordered by locale, a locale given twice keeping its last name (as
/// the decoded `Names` does), or nothing when empty.
fn names_map(node: Node<'_>, out: &mut Sink, shared: &SharedRenderings) -> Result<(), Error> {
    if node.shared {
        let render = |out: &mut Sink| names_body(node, out);
        return shared.append(Kind::Names as u8, node.at, Keep::Copy, out, render);
    }
    names_body(node, out)
}

fn names_body(node: Node<'_>, out: &mut Sink) -> Result<(), Error> {
    let mut map = as_map(node, "names is not a map")?;
    let mut stack = [("", ""); STACK_LOCALES];
    let mut heap = Vec::new();
    let mut n = 0;
    while let Some((locale, name)) = map.next_entry()? {
        let name = string(name)?;
        if n < STACK_LOCALES {
            stack[n] = (locale, name);
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push((locale, name));
        }
        n += 1;
    }
    let entries: &mut [(&str, &str)] = if n > STACK_LOCALES {
        &mut heap
    } else {
        &mut stack[..n]
    };
    // Stable: of a locale given twice, the later stays later.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    if entries.is_empty() {
        return Ok(());
    }
    out.push(b'{');
    let mut first = true;
    for (i, (locale, name)) in entries.iter().enumerate() {
        if entries.get(i + 1).is_some_and(|next| next.0 == *locale) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        push_str(out, locale);
        out.push(b':');
        push_str(out, name);
    }
    out.push(b'}');
    Ok(())
}

fn location(mut map: Map<'_>, insights: bool, out: &mut Sink) -> Result<(), Error> {
    let (mut radius, mut income, mut lat, mut lon, mut metro, mut density, mut zone) =
        (None, None, None, None, None, None, None);
    while let Some((key, value)) = map.next_entry()? {
        match key {
            "accuracy_radius" => radius = Some(uint(value, u16::MAX as u64)?),
            "average_income" => income = Some(uint(value, u32::MAX as u64)?),
            "latitude" => lat = Some(float(value)?),
            "longitude" => lon = Some(float(value)?),
            "metro_code" => metro = Some(uint(value, u16::MAX as u64)?),
            "population_density" => density = Some(uint(value, u32::MAX as u64)?),
            "time_zone" => zone = Some(string(value)?),
            _ => {}
        }
    }
    if !insights {
        (income, density) = (None, None);
    }
    let mut object = Object::open(out);
    for (name, value) in [("accuracy_radius", radius), ("average_income", income)] {
        if let Some(v) = value {
            object.member(out, name);
            push_uint(out, v);
        }
    }
    for (name, value) in [("latitude", lat), ("longitude", lon)] {
        if let Some(v) = value {
            object.member(out, name);
            push_float(out, v);
        }
    }
    for (name, value) in [("metro_code", metro), ("population_density", density)] {
        if let Some(v) = value {
            object.member(out, name);
            push_uint(out, v);
        }
    }
    if let Some(zone) = zone {
        object.member(out, "time_zone");
        push_str(out, zone);
    }
    object.close(out);
    Ok(())
}

fn postal(mut map: Map<'_>, insights: bool, out: &mut Sink) -> Result<(), Error> {
    let (mut code, mut confidence) = (None, None);
    while let Some((key, value)) = map.next_entry()? {
        match key {
            "code" => code = Some(string(value)?),
            "confidence" => confidence = Some(uint(value, u16::MAX as u64)?),
            _ => {}
        }
    }
    let confidence = confidence.filter(|_| insights);
    if code.is_none() && confidence.is_none() {
        return Ok(());
    }
    out.push(b'{');
    if let Some(code) = code {
        out.extend_from_slice(b"\"code\":");
        push_str(out, code);
    }
    if let Some(c) = confidence {
        if code.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"confidence\":");
        push_uint(out, c);
    }
    out.push(b'}');
    Ok(())
}

/// Writes `{"a":...,"b":...}`, or nothing when no member was written.
struct Object {
    start: usize,
    members: usize,
}

impl Object {
    fn open(out: &mut Sink) -> Object {
        let start = out.len();
        out.push(b'{');
        Object { start, members: 0 }
    }

    fn member(&mut self, out: &mut Sink, name: &str) {
        if self.members > 0 {
            out.push(b',');
        }
        self.members += 1;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    }

    /// Take back the member begun at `mark`, whose value turned out empty.
    fn retract(&mut self, out: &mut Sink, mark: usize) {
        out.truncate(mark);
        self.members -= 1;
    }

    fn close(self, out: &mut Sink) {
        if self.members == 0 {
            out.truncate(self.start);
        } else {
            out.push(b'}');
        }
    }
}

fn string<'a>(node: Node<'a>) -> Result<&'a str, Error> {
    match node.value {
        Value::Str(s) => Ok(s),
        _ => Err(Error("a place member is not a string")),
    }
}

/// An unsigned number no larger than `max` (as serde would accept it into that type).
fn uint(node: Node<'_>, max: u64) -> Result<u64, Error> {
    let n = match node.value {
        Value::Uint(n) => n,
        Value::Int(n) if n >= 0 => n as u64,
        Value::Uint128(n) if n <= max as u128 => n as u64,
        _ => return Err(Error("a place member is not an unsigned number")),
    };
    if n > max {
        return Err(Error("a place member's number is out of range"));
    }
    Ok(n)
}

fn float(node: Node<'_>) -> Result<f64, Error> {
    match node.value {
        Value::Double(x) => Ok(x),
        Value::Float(x) => Ok(x as f64),
        _ => Err(Error("a coordinate is not a number")),
    }
}

fn boolean(node: Node<'_>) -> Result<bool, Error> {
    match node.value {
        Value::Bool(b) => Ok(b),
        _ => Err(Error("a place member is not a boolean")),
    }
}

fn push_uint(out: &mut Sink, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// As serde_json writes an `f64` (the decoded path's writer): shortest round-trip form.
fn push_float(out: &mut Sink, x: f64) {
    serde_json::to_writer(&mut *out, &x).expect("a number serialises");
}

/// A JSON string, escaped as serde_json escapes (quote, backslash, control characters); the
/// common case, nothing to escape, is one copy.
fn push_str(out: &mut Sink, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("a string serialises");
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::{Path, PathBuf};

    use ipintel_core::geo::{GeoOptions, GeoSet, PlaceForm};

    use super::super::{model, Endpoint};

    const SERVICES: [Endpoint; 3] = [Endpoint::Country, Endpoint::City, Endpoint::Insights];

    fn fixture(dir: &Path) -> PathBuf {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/GeoIP2-City.json");
        let out = dir.join("GeoIP2-City.mmdb");
        ipintel_core::geo::build::build_from_json(&source, "GeoIP2-City", &out).unwrap();
        out
    }

    /// The first and last address of every network in the fixture's source.
    fn fixture_addresses() -> Vec<IpAddr> {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/GeoIP2-City.json");
        let entries: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&std::fs::read(source).unwrap()).unwrap();
        entries
            .iter()
            .flat_map(|e| e.keys())
            .flat_map(|net| {
                let net: ipnet::IpNet = net.parse().unwrap();
                [net.network(), net.broadcast()]
            })
            .collect()
    }

    fn open(paths: Vec<PathBuf>, verify: bool) -> Result<GeoSet, ipintel_core::geo::GeoError> {
        GeoSet::open(
            &GeoOptions {
                paths,
                verify,
                cache_bytes: 4 << 20,
            },
            1,
        )
    }

    /// Every body the handler makes from rendered places equals the body made from decoded
    /// records, for every service, cold and from the caches.
    fn assert_same_bodies(set: &GeoSet, ips: &[IpAddr]) -> usize {
        let mut compared = 0;
        for pass in 0..2 {
            for &ip in ips {
                for service in SERVICES {
                    let decoded = set.locate_as(ip, PlaceForm::Decoded);
                    let rendered = set.locate_as(ip, PlaceForm::Rendered(super::renderer(service)));
                    let (decoded, rendered) = match (decoded, rendered) {
                        (Ok(d), Ok(r)) => (d, r),
                        (d, r) => panic!("{ip}: decoded {d:?}, rendered {r:?}"),
                    };
                    assert_eq!(decoded.is_empty(), rendered.is_empty(), "{ip}");
                    let a = model::render(service, &decoded, Some(7));
                    let b = model::render(service, &rendered, Some(7));
                    assert_eq!(
                        String::from_utf8_lossy(&a),
                        String::from_utf8_lossy(&b),
                        "{ip} {service:?} pass {pass}"
                    );
                    if let Some(place) = &decoded.place {
                        assert_eq!(
                            model::decoded_place_members(&place.data, service),
                            rendered.rendered_place.as_ref().unwrap().rendering.to_vec(),
                        );
                        compared += 1;
                    }
                }
            }
        }
        compared
    }

    #[test]
    fn rendered_places_equal_decoded_ones() {
        let dir = tempfile::tempdir().unwrap();
        let set = open(vec![fixture(dir.path())], true).unwrap();
        let compared = assert_same_bodies(&set, &fixture_addresses());
        assert!(compared > 50, "only {compared} places compared");
        // The fixture's records share their countries and names through pointers: the
        // shared renderings were used.
        assert!(
            set.cache_stats().shared_bytes > 0,
            "{:?}",
            set.cache_stats()
        );
    }

    /// The same over the real GeoLite2 City and ASN databases, when this machine has them
    /// (`scripts/fetch-data.sh`; the fixture test above runs everywhere).
    #[test]
    fn rendered_places_equal_decoded_ones_in_geolite2_when_present() {
        let dir = std::env::var_os("IPINTEL_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/ipintel"))
            })
            .unwrap_or_default();
        let paths: Vec<PathBuf> = ["GeoLite2-City.mmdb", "GeoLite2-ASN.mmdb"]
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.exists())
            .collect();
        if paths.len() < 2 {
            eprintln!(
                "no GeoLite2 databases in {}; compared on the fixture only",
                dir.display()
            );
            return;
        }
        let set = open(paths, false).unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let ips: Vec<IpAddr> = (0..5_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                IpAddr::V4(std::net::Ipv4Addr::from(state as u32))
            })
            .filter(|ip| !ipintel_core::geo::reserved::is_reserved(*ip))
            .collect();
        assert!(assert_same_bodies(&set, &ips) > 1_000);
    }

    /// A damaged data section gives errors (500s), never a panic or an endless walk.
    #[test]
    fn damaged_databases_give_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let good = std::fs::read(fixture(dir.path())).unwrap();
        let ips = fixture_addresses();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut errors = 0;
        for round in 0..200 {
            let mut bytes = good.clone();
            // Damage the data section (the file's middle: past the tree, before the
            // metadata), a few bytes at a time.
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = bytes.len() / 3 + (state as usize % (bytes.len() / 2));
                bytes[at] = (state >> 32) as u8;
            }
            let path = dir.path().join(format!("damaged-{round}.mmdb"));
            std::fs::write(&path, &bytes).unwrap();
            let Ok(set) = open(vec![path], false) else {
                continue;
            };
            for &ip in &ips {
                for service in SERVICES {
                    let form = PlaceForm::Rendered(super::renderer(service));
                    match set.locate_as(ip, form) {
                        Ok(answer) => drop(model::render(service, &answer, None)),
                        Err(_) => errors += 1,
                    }
                }
            }
        }
        assert!(errors > 0, "no damage was noticed");
    }
}
