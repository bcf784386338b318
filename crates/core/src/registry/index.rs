//! One generation of the registry in memory: every object, and the indexes the queries use
//! (primary key per source and class, lookup keys with name words, inverse attributes,
//! address ranges per family, AS numbers and AS blocks). Built whole from the objects, then
//! read-only: an import builds the next generation beside it and swaps it in.

use std::collections::HashMap;
use std::sync::Arc;

use super::key::{format_span, parse_asn, parse_range, Family};
use super::ranges::{RangeIndex, Span};
use super::rpsl::RpslObject;
use super::template::{template, Template};

/// An object's place in its generation.
pub type ObjectId = u32;

/// An object with where it belongs.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Upper case, e.g. `TEST`; shared by every object of the source.
    pub source: Arc<str>,
    pub template: &'static Template,
    /// The primary key as written (`192.0.2.0/24AS64496`).
    pub key: Box<str>,
    pub object: RpslObject,
}

/// Which range index: address objects (inetnum, inet6num) or routes (route, route6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeKind {
    Network,
    Route,
}

/// Why an object was not indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Registry {
    objects: Vec<Stored>,
    /// Every source, upper case; the primary index refers to them by position.
    sources: Vec<Arc<str>>,
    /// (source position, class) -> canonical key -> object: looked up by `&str`, with no
    /// allocation on the request path.
    primary: HashMap<(u32, &'static str), HashMap<Box<str>, ObjectId>>,
    /// Lower-case value of a lookup attribute -> objects (handles, set names, e-mail).
    lookup: HashMap<Box<str>, Vec<ObjectId>>,
    /// Lower-case word of a person, role or organisation name -> objects.
    words: HashMap<Box<str>, Vec<ObjectId>>,
    /// (attribute, lower-case value) -> objects, for every inverse attribute.
    inverse: HashMap<(&'static str, Box<str>), Vec<ObjectId>>,
    ranges: HashMap<(Family, RangeKind), RangeIndex>,
    /// Origin of each route, by object.
    origins: HashMap<ObjectId, u32>,
    /// Routes (route and route6) by origin AS, in id order, with what set expansion
    /// reads of them, so `!a` of 100,000 prefixes touches no object.
    by_origin: HashMap<u32, Vec<OriginRoute>>,
    /// The prefixes [`OriginRoute`]s point into, canonical, one after another.
    route_prefixes: String,
    /// aut-num by number.
    aut_nums: HashMap<u32, Vec<ObjectId>>,
    as_blocks: RangeIndex,
    /// Recursive set answers computed from this generation (`sets.rs`).
    pub(super) sets_cache: super::caches::SetCache,
    /// Maintainer passwords checked against this generation (`unlock.rs`).
    unlock_cache: super::caches::UnlockCache,
}

/// A route or route6 object as its origin's index holds it.
#[derive(Debug, Clone, Copy)]
pub struct OriginRoute {
    pub id: ObjectId,
    /// Position in [`Registry::sources`].
    pub source: u32,
    pub v6: bool,
    /// The prefix's place in `route_prefixes`.
    at: u32,
    len: u32,
}

/// What a registry needs to know of an object to index it, read once at import and again
/// when a generation is built: one function decides whether an object can be held.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub template: &'static Template,
    /// The primary key as written (`192.0.2.0/24AS64496`).
    pub key: String,
    /// The key as the store and the primary index hold it: lower case, address ranges in
    /// one form (`192.0.2.0/24` and `192.0.2.0 - 192.0.2.255` are the same inetnum).
    pub canonical: String,
    pub range: Option<(Family, Span, RangeKind)>,
    /// A route's origin, an aut-num's number.
    pub asn: Option<u32>,
    pub as_block: Option<Span>,
}

/// Whether `object` can be indexed, and its keys. Refused (with the reason): an unknown
/// class, no primary key, an address, origin, AS number or AS range that does not parse.
/// Other template problems do not refuse an object (non-strict, as IRRd imports).
pub fn admit(object: &RpslObject) -> Result<Admitted, String> {
    let template = template(object.class())
        .ok_or_else(|| format!("unknown object class {:?}", object.class()))?;
    let key = object
        .key_in(template)
        .ok_or_else(|| format!("{} without its primary key", template.class))?;
    let sources: Vec<&str> = object.values("source").collect();
    if sources.len() > 1 {
        return Err(format!(
            "{} {key}: {} source: lines ({}); an object belongs to one source",
            template.class,
            sources.len(),
            sources.join(", ")
        ));
    }
    let class = template.class;
    let mut admitted = Admitted {
        template,
        canonical: key.to_lowercase(),
        key,
        range: None,
        asn: None,
        as_block: None,
    };
    match class {
        "inetnum" | "inet6num" | "route" | "route6" => {
            let (family, span) = parse_range(object.first_value()).map_err(|e| e.to_string())?;
            let kind = if class.starts_with("route") {
                let origin = object
                    .value("origin")
                    .and_then(parse_asn)
                    .ok_or_else(|| format!("{class} without a valid origin"))?;
                admitted.asn = Some(origin);
                RangeKind::Route
            } else {
                RangeKind::Network
            };
            let want = if matches!(class, "inet6num" | "route6") {
                Family::V6
            } else {
                Family::V4
            };
            if family != want {
                return Err(format!(
                    "{class} {:?} is not an IP{} range",
                    object.first_value(),
                    if want == Family::V4 { "v4" } else { "v6" }
                ));
            }
            admitted.canonical = match admitted.asn {
                Some(origin) => format!("{}as{origin}", format_span(family, span).to_lowercase()),
                None => format_span(family, span).to_lowercase(),
            };
            admitted.range = Some((family, span, kind));
        }
        "aut-num" => {
            let asn = parse_asn(object.first_value())
                .ok_or_else(|| format!("{:?} is not an AS number", object.first_value()))?;
            admitted.canonical = format!("as{asn}");
            admitted.asn = Some(asn);
        }
        "as-block" => {
            let value = object.first_value();
            let span = value
                .split_once('-')
                .and_then(|(a, b)| Some((parse_asn(a.trim())?, parse_asn(b.trim())?)))
                .and_then(|(a, b)| Span::new(a as u128, b as u128))
                .ok_or_else(|| format!("{value:?} is not an AS range"))?;
            admitted.canonical = format!("as{} - as{}", span.start, span.end);
            admitted.as_block = Some(span);
        }
        _ => {}
    }
    Ok(admitted)
}

/// The canonical primary key of a key someone typed for `class` (see
/// [`Admitted::canonical`]), or `None` when it cannot be one.
pub fn canonical_key<'k>(class: &Template, key: &'k str) -> Option<std::borrow::Cow<'k, str>> {
    use std::borrow::Cow;
    let key = key.trim();
    Some(Cow::Owned(match class.class {
        "inetnum" | "inet6num" => {
            let (family, span) = parse_range(key).ok()?;
            let want = if class.class == "inet6num" {
                Family::V6
            } else {
                Family::V4
            };
            if family != want {
                return None;
            }
            format_span(family, span).to_lowercase()
        }
        "route" | "route6" => {
            let at = key.to_ascii_lowercase().rfind("as")?;
            let (prefix, origin) = key.split_at(at);
            let (family, span) = parse_range(prefix.trim()).ok()?;
            let origin = parse_asn(origin)?;
            format!("{}as{origin}", format_span(family, span).to_lowercase())
        }
        "aut-num" => format!("as{}", parse_asn(key)?),
        "as-block" => {
            let (a, b) = key.split_once('-')?;
            format!("as{} - as{}", parse_asn(a.trim())?, parse_asn(b.trim())?)
        }
        // Handles and names: most are typed as stored; lower-case only when needed.
        _ if !key.chars().any(char::is_uppercase) => return Some(Cow::Borrowed(key)),
        _ => key.to_lowercase(),
    }))
}

impl Registry {
    /// Password checks of this generation: gone with it, so a changed `auth:` is never
    /// answered from an old result.
    pub fn unlock_cache(&self) -> &super::caches::UnlockCache {
        &self.unlock_cache
    }

    /// Index `objects` (source, object). An object [`admit`] refuses is skipped with the
    /// reason; a later object with the same source, class and key replaces an earlier one,
    /// as a newer dump line would.
    pub fn build(
        objects: impl IntoIterator<Item = (String, RpslObject)>,
    ) -> (Registry, Vec<Skipped>) {
        let mut registry = Registry::default();
        let mut skipped = Vec::new();
        let mut ranges: HashMap<(Family, RangeKind), Vec<(Span, ObjectId)>> = HashMap::new();
        let mut as_blocks = Vec::new();
        let mut admitted: Vec<Option<(u32, Admitted, RpslObject)>> = Vec::new();
        let mut primary: HashMap<(u32, &'static str, Box<str>), usize> = HashMap::new();
        for (source, object) in objects {
            let facts = match admit(&object) {
                Ok(facts) => facts,
                Err(reason) => {
                    skipped.push(Skipped {
                        line: object.line,
                        reason,
                    });
                    continue;
                }
            };
            let source_id = registry.source_id(&source);
            let slot = (
                source_id,
                facts.template.class,
                facts.canonical.clone().into_boxed_str(),
            );
            match primary.get(&slot) {
                Some(&at) => admitted[at] = Some((source_id, facts, object)),
                None => {
                    primary.insert(slot, admitted.len());
                    admitted.push(Some((source_id, facts, object)));
                }
            }
        }
        drop(primary);
        for (source_id, facts, object) in admitted.into_iter().flatten() {
            let id = registry.objects.len() as ObjectId;
            let class = facts.template.class;
            if let Some((family, span, kind)) = facts.range {
                ranges.entry((family, kind)).or_default().push((span, id));
                if kind == RangeKind::Route {
                    let origin = facts.asn.expect("admitted routes have one");
                    registry.origins.insert(id, origin);
                    // Set answers carry the prefix in one form, however it was written.
                    let prefix = super::key::format_prefix(family, span)
                        .unwrap_or_else(|| object.first_value().to_ascii_lowercase());
                    let at = registry.route_prefixes.len();
                    registry.route_prefixes.push_str(&prefix);
                    registry
                        .by_origin
                        .entry(origin)
                        .or_default()
                        .push(OriginRoute {
                            id,
                            source: source_id,
                            v6: class == "route6",
                            at: at as u32,
                            len: prefix.len() as u32,
                        });
                }
            }
            if class == "aut-num" {
                let asn = facts.asn.expect("admitted aut-nums have one");
                registry.aut_nums.entry(asn).or_default().push(id);
            }
            if let Some(span) = facts.as_block {
                as_blocks.push((span, id));
            }
            registry
                .primary
                .entry((source_id, class))
                .or_default()
                .insert(facts.canonical.into_boxed_str(), id);
            for attribute in object.attributes() {
                let Some(spec) = facts.template.attribute(attribute.name) else {
                    continue;
                };
                let value = attribute.value.to_lowercase();
                if value.is_empty() {
                    continue;
                }
                if spec.lookup {
                    let words = matches!(
                        (class, spec.name),
                        ("person", "person") | ("role", "role") | ("organisation", "org-name")
                    );
                    if words {
                        for word in value.split_whitespace() {
                            push_id(registry.words.entry(word.into()).or_default(), id);
                        }
                    } else {
                        push_id(registry.lookup.entry(value.clone().into()).or_default(), id);
                    }
                }
                if spec.inverse {
                    // Lists (`mnt-by: A, B`) are indexed item by item.
                    for item in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                        push_id(
                            registry
                                .inverse
                                .entry((spec.name, item.into()))
                                .or_default(),
                            id,
                        );
                    }
                }
            }
            registry.objects.push(Stored {
                source: registry.sources[source_id as usize].clone(),
                template: facts.template,
                key: facts.key.into_boxed_str(),
                object,
            });
        }
        registry.ranges = ranges
            .into_iter()
            .map(|(k, items)| (k, RangeIndex::build(items)))
            .collect();
        registry.as_blocks = RangeIndex::build(as_blocks);
        registry.route_prefixes.shrink_to_fit();
        (registry, skipped)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// The position of a source (upper-cased), added when new. A registry holds a handful.
    fn source_id(&mut self, name: &str) -> u32 {
        let name = name.to_ascii_uppercase();
        match self.sources.iter().position(|s| **s == *name) {
            Some(at) => at as u32,
            None => {
                self.sources.push(name.into());
                (self.sources.len() - 1) as u32
            }
        }
    }

    /// The sources, upper case, in the order first seen.
    pub fn sources(&self) -> &[Arc<str>] {
        &self.sources
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn object(&self, id: ObjectId) -> &Stored {
        &self.objects[id as usize]
    }

    /// The object of `source`, `class` (long or short name) and primary key, any case.
    pub fn get(&self, source: &str, class: &str, key: &str) -> Option<ObjectId> {
        let template = template(class)?;
        let source = self
            .sources
            .iter()
            .position(|s| s.eq_ignore_ascii_case(source))? as u32;
        let key = canonical_key(template, key)?;
        self.primary
            .get(&(source, template.class))?
            .get(&*key)
            .copied()
    }

    /// The range index of a family and kind (empty when no such object exists).
    pub fn ranges(&self, family: Family, kind: RangeKind) -> Option<&RangeIndex> {
        self.ranges.get(&(family, kind))
    }

    /// The origin of a route object.
    pub fn origin(&self, id: ObjectId) -> Option<u32> {
        self.origins.get(&id).copied()
    }

    /// The route and route6 objects whose origin is `asn`, in id order.
    pub fn routes_of(&self, asn: u32) -> &[OriginRoute] {
        self.by_origin.get(&asn).map_or(&[], Vec::as_slice)
    }

    /// A route's prefix in canonical form (`2001:db8::/32`).
    pub fn route_prefix(&self, route: &OriginRoute) -> &str {
        &self.route_prefixes[route.at as usize..(route.at + route.len) as usize]
    }

    /// Objects whose inverse attribute `attribute` names `value` (`-i mnt-by EX-MNT`).
    pub fn inverse(&self, attribute: &str, value: &str) -> &[ObjectId] {
        let Some(name) = super::template::all()
            .iter()
            .flat_map(|t| t.attributes.iter())
            .find(|a| a.name == attribute && a.inverse)
            .map(|a| a.name)
        else {
            return &[];
        };
        self.inverse
            .get(&(name, value.to_lowercase().into_boxed_str()))
            .map_or(&[], Vec::as_slice)
    }

    /// Objects a text key finds: lookup keys equal to it, and persons, roles and
    /// organisations whose name has every word of it.
    pub fn text(&self, key: &str) -> Vec<ObjectId> {
        let key = key.to_lowercase();
        let mut out: Vec<ObjectId> = self.lookup.get(key.as_str()).cloned().unwrap_or_default();
        let mut words = key.split_whitespace();
        if let Some(first) = words.next() {
            let mut named: Vec<ObjectId> = self.words.get(first).cloned().unwrap_or_default();
            for word in words {
                // Posting lists are in id order: membership is a binary search.
                let with = self.words.get(word).map_or(&[][..], Vec::as_slice);
                named.retain(|id| with.binary_search(id).is_ok());
            }
            out.extend(named);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The aut-num objects of an AS number.
    pub fn aut_num(&self, asn: u32) -> &[ObjectId] {
        self.aut_nums.get(&asn).map_or(&[], Vec::as_slice)
    }

    /// The smallest as-block holding an AS number.
    pub fn as_block(&self, asn: u32) -> Option<ObjectId> {
        let span = Span::new(asn as u128, asn as u128)?;
        self.as_blocks
            .most_specific(span)
            .and_then(|(_, ids)| ids.first().copied())
    }
}

/// Add `id` to a posting list. Objects are indexed in id order, so a list only ever sees
/// the current object again at its end: checking the last entry keeps lists sorted and
/// without repeats, with no scan (a popular word or e-mail address has a long list).
fn push_id(list: &mut Vec<ObjectId>, id: ObjectId) {
    if list.last() != Some(&id) {
        debug_assert!(
            list.last().is_none_or(|&last| last < id),
            "ids arrive in order"
        );
        list.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::rpsl::parse;

    const SAMPLE: &str = "\
inetnum: 192.0.2.0 - 192.0.2.255
netname: EXAMPLE-NET
country: NL
admin-c: AE1-TEST
tech-c: AE1-TEST
status: ASSIGNED PA
mnt-by: EX-MNT, OTHER-MNT
source: TEST

inetnum: 192.0.2.10 - 192.0.2.37
netname: ODD-NET
admin-c: AE1-TEST
source: TEST

inet6num: 2001:db8::/32
netname: EXAMPLE-V6
source: TEST

route: 192.0.2.0/24
origin: AS64496
mnt-by: EX-MNT
source: TEST

route: 192.0.2.0/24
origin: AS64497
source: TEST

person: Ann  Example
nic-hdl: AE1-TEST
e-mail: ann@example.org
source: TEST

organisation: ORG-EX1-TEST
org-name: Example Networks B.V.
source: TEST

aut-num: AS64496
as-name: EXAMPLE
source: TEST

as-block: AS64496 - AS64511
source: TEST

inetnum: 192.0.2.0/33
source: TEST

weather: sunny
source: TEST

route: 198.51.100.0/24
origin: not-an-as
source: TEST
";

    fn registry() -> (Registry, Vec<Skipped>) {
        Registry::build(parse(SAMPLE).map(|o| ("test".to_owned(), o.unwrap())))
    }

    #[test]
    fn objects_are_found_by_every_index() {
        let (r, skipped) = registry();
        assert_eq!(r.len(), 9, "{skipped:?}");
        let reasons: Vec<&str> = skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(skipped.len(), 3, "{reasons:?}");
        assert!(
            reasons.iter().any(|r| r.contains("prefix length")),
            "{reasons:?}"
        );
        assert!(reasons.iter().any(|r| r.contains("weather")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("origin")), "{reasons:?}");

        let odd = r.get("TEST", "inetnum", "192.0.2.10 - 192.0.2.37").unwrap();
        assert_eq!(r.object(odd).object.value("netname"), Some("ODD-NET"));
        assert_eq!(
            r.get("test", "IN", "192.0.2.10 - 192.0.2.37"),
            Some(odd),
            "any case, short class"
        );
        assert!(r
            .get("OTHER", "inetnum", "192.0.2.10 - 192.0.2.37")
            .is_none());
        let net = r.get("TEST", "inetnum", "192.0.2.0 - 192.0.2.255").unwrap();
        assert_eq!(
            r.get("TEST", "inetnum", "192.0.2.0/24"),
            Some(net),
            "CIDR or range"
        );
        assert_eq!(
            r.get("TEST", "aut-num", "as64496"),
            r.get("TEST", "aut-num", "AS64496")
        );
        let route = r.get("TEST", "route", "192.0.2.0/24AS64497").unwrap();
        assert_eq!(r.origin(route), Some(64497));

        let v4 = r.ranges(Family::V4, RangeKind::Network).unwrap();
        let q = parse_range("192.0.2.20").unwrap().1;
        let (span, ids) = v4.most_specific(q).unwrap();
        assert_eq!(
            (span, ids),
            (
                parse_range("192.0.2.10 - 192.0.2.37").unwrap().1,
                &[odd][..]
            )
        );
        let routes = r.ranges(Family::V4, RangeKind::Route).unwrap();
        assert_eq!(
            routes.exact(parse_range("192.0.2.0/24").unwrap().1).len(),
            2
        );
        assert!(r.ranges(Family::V6, RangeKind::Route).is_none());

        // Inverse keys, list values item by item.
        assert_eq!(r.inverse("admin-c", "ae1-test").len(), 2);
        assert_eq!(r.inverse("mnt-by", "OTHER-MNT").len(), 1);
        assert_eq!(r.inverse("mnt-by", "EX-MNT").len(), 2);
        assert!(
            r.inverse("netname", "EXAMPLE-NET").is_empty(),
            "not an inverse attribute"
        );

        // Lookup keys and name words.
        let ann = r.get("TEST", "person", "AE1-TEST").unwrap();
        assert_eq!(r.text("AE1-TEST"), [ann]);
        assert_eq!(r.text("ann@example.org"), [ann]);
        assert_eq!(r.text("example ann"), [ann], "every word, any order");
        assert!(r.text("ann examples").is_empty());
        let org = r.get("TEST", "organisation", "ORG-EX1-TEST").unwrap();
        assert_eq!(r.text("networks example"), [org]);
        assert!(r.text("example").contains(&ann) && r.text("example").contains(&org));
        assert_eq!(r.text("odd-net"), [odd], "netname is a lookup key");

        assert_eq!(r.aut_num(64496).len(), 1);
        let block = r.as_block(64500).unwrap();
        assert_eq!(r.object(block).template.class, "as-block");
        assert!(r.as_block(64512).is_none());
    }

    #[test]
    fn a_later_object_with_the_same_key_replaces_the_earlier() {
        let text = "person: Old Name\nnic-hdl: X1-TEST\nsource: TEST\n\nperson: New Name\nnic-hdl: x1-test\nsource: TEST\n";
        let (r, _) = Registry::build(parse(text).map(|o| ("TEST".to_owned(), o.unwrap())));
        assert_eq!(r.len(), 1);
        let id = r.get("TEST", "person", "X1-TEST").unwrap();
        assert_eq!(r.object(id).object.first_value(), "New Name");
        assert!(
            r.text("old").is_empty(),
            "the replaced object's words are gone"
        );
    }
}
