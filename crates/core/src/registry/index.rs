//! One generation of the registry: every object, and the indexes the queries use (primary
//! key per source and class, lookup keys with name words, inverse attributes, address
//! ranges per family, AS numbers and AS blocks), read in place from a registry file
//! ([`super::compact`]: mapped from the data directory, or built in memory). Read-only: an
//! import writes the next generation's file beside it and the server swaps it in.

use std::collections::HashMap;
use std::sync::Arc;

use super::compact::{self, section, Builder, Bytes, OpenError, Prepared, Sections};
use super::key::Family;
use super::ranges::{RangeIndex, Span};
use super::rpsl::RpslObject;
use super::template::{template, Template};

pub use super::admit::{admit, canonical_key, Admitted, RangeKind, Skipped};

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

impl Stored {
    /// Estimated heap bytes of a parsed object (text, values, attribute table, the rest):
    /// its weight in the generation's object cache.
    pub fn weight(&self) -> u64 {
        (3 * self.object.text.len() + 32 * self.object.attributes().len() + 160) as u64
    }
}

/// One generation: the bytes of a registry file ([`super::compact`]), read in place.
pub struct Registry {
    bytes: Bytes,
    sections: Sections,
    /// Every source, upper case, by its number in the file.
    sources: Vec<Arc<str>>,
    /// The template of each class number in the file.
    classes: Vec<&'static Template>,
    len: u32,
    /// The outermost level of each range index ([`compact::RANGE_INDEXES`] order).
    tops: [u32; 5],
    /// Objects parsed from their texts, within a byte budget.
    objects: super::caches::ObjectCache<Stored>,
    /// Recursive set answers computed from this generation (`sets.rs`).
    pub(super) sets_cache: super::caches::SetCache,
    /// Maintainer passwords checked against this generation (`unlock.rs`).
    unlock_cache: super::caches::UnlockCache,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("bytes", &self.bytes)
            .field("objects", &self.len)
            .field("generation", &self.sections.generation)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::build(std::iter::empty()).0
    }
}

/// A route or route6 object as its origin's index holds it.
#[derive(Debug, Clone, Copy)]
pub struct OriginRoute {
    pub id: ObjectId,
    /// The source's number in the generation ([`Registry::sources`]).
    pub source: u32,
    pub v6: bool,
    /// The prefix's place in the file's route prefixes.
    at: u32,
    len: u32,
}

impl Registry {
    /// Password checks of this generation: gone with it, so a changed `auth:` is never
    /// answered from an old result.
    pub fn unlock_cache(&self) -> &super::caches::UnlockCache {
        &self.unlock_cache
    }

    /// Index `objects` (source, object) in memory. An object [`admit`] refuses is skipped
    /// with the reason; a later object with the same source, class and key replaces an
    /// earlier one, as a newer dump line would.
    pub fn build(
        objects: impl IntoIterator<Item = (String, RpslObject)>,
    ) -> (Registry, Vec<Skipped>) {
        let mut skipped = Vec::new();
        let mut admitted: Vec<Option<(String, Admitted, RpslObject)>> = Vec::new();
        let mut primary: HashMap<(String, &'static str, String), usize> = HashMap::new();
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
            let slot = (
                source.to_ascii_uppercase(),
                facts.template.class,
                facts.canonical.clone(),
            );
            match primary.get(&slot) {
                Some(&at) => admitted[at] = Some((source, facts, object)),
                None => {
                    primary.insert(slot, admitted.len());
                    admitted.push(Some((source, facts, object)));
                }
            }
        }
        drop(primary);
        let mut builder =
            Builder::new(std::io::Cursor::new(Vec::new())).expect("writing to memory");
        for (source, facts, object) in admitted.into_iter().flatten() {
            builder
                .add_prepared(&source, Prepared::of(facts, object))
                .expect("writing to memory");
        }
        let bytes = builder
            .finish(0, 0)
            .expect("writing to memory")
            .into_inner();
        let registry =
            Registry::open(Bytes::heap(&bytes)).expect("a file just written in memory reads");
        (registry, skipped)
    }

    /// Read a registry file's bytes: header, table and the small sections are checked
    /// here; every other read is bounds-checked as it happens (a damaged entry reads as
    /// absent, never as a panic).
    pub fn open(bytes: Bytes) -> Result<Registry, OpenError> {
        let sections = Sections::read(&bytes)?;
        let damaged = |why: String| OpenError::Damaged(why);
        let text = |n: usize| {
            std::str::from_utf8(&bytes[sections.ranges[n].clone()])
                .map_err(|_| damaged(format!("section {n} is not UTF-8")))
        };
        let split = |t: &str| -> Vec<String> {
            if t.is_empty() {
                Vec::new()
            } else {
                t.split('\n').map(str::to_owned).collect()
            }
        };
        let sources: Vec<Arc<str>> = split(text(section::SOURCES)?)
            .into_iter()
            .map(Arc::from)
            .collect();
        let classes = split(text(section::CLASSES)?)
            .iter()
            .map(|c| template(c).ok_or_else(|| damaged(format!("unknown class {c:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let counts: &[u32] =
            bytemuck::try_cast_slice(&bytes[sections.ranges[section::COUNTS].clone()])
                .map_err(|_| damaged("counts misaligned".into()))?;
        if counts.len() != 6 {
            return Err(damaged("counts section has the wrong size".into()));
        }
        let len = counts[0];
        let objects = sections.ranges[section::OBJECTS].len();
        if objects != len as usize * compact::OBJECT_WORDS * 4 {
            return Err(damaged(format!(
                "{len} objects announced, {objects} bytes of object entries"
            )));
        }
        let mut tops = [0u32; 5];
        tops.copy_from_slice(&counts[1..6]);
        Ok(Registry {
            bytes,
            sections,
            sources,
            classes,
            len,
            tops,
            objects: super::caches::ObjectCache::new(
                super::caches::OBJECT_CACHE_BYTES,
                Stored::weight,
            ),
            sets_cache: Default::default(),
            unlock_cache: Default::default(),
        })
    }

    /// Map the file at `path` and read it ([`open`](Self::open)); it must have been built
    /// for `generation` of a store whose sources have `fingerprint`.
    pub fn open_file(
        path: &std::path::Path,
        generation: i64,
        fingerprint: u64,
    ) -> Result<Registry, OpenError> {
        let registry = Registry::open(Bytes::map(path)?)?;
        if registry.sections.generation != generation {
            return Err(OpenError::Stale {
                found: registry.sections.generation,
                wanted: generation,
            });
        }
        if registry.sections.fingerprint != fingerprint {
            return Err(OpenError::Damaged(
                "built from another store, or sources changed since".into(),
            ));
        }
        Ok(registry)
    }

    /// The store generation the file was built for (0 for one built in memory).
    pub fn generation(&self) -> i64 {
        self.sections.generation
    }

    /// The file's size in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    fn section(&self, n: usize) -> &[u8] {
        self.sections
            .ranges
            .get(n)
            .and_then(|r| self.bytes.get(r.clone()))
            .unwrap_or(&[])
    }

    fn u32s(&self, n: usize) -> &[u32] {
        bytemuck::try_cast_slice(self.section(n)).unwrap_or(&[])
    }

    fn str_in(&self, n: usize, at: u32, len: u32) -> &str {
        self.section(n)
            .get(at as usize..at as usize + len as usize)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// Object `id`'s entry ([`compact::OBJECT_WORDS`] values).
    fn entry(&self, id: ObjectId) -> &[u32] {
        let at = id as usize * compact::OBJECT_WORDS;
        self.u32s(section::OBJECTS)
            .get(at..at + compact::OBJECT_WORDS)
            .unwrap_or(&[0; compact::OBJECT_WORDS])
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// The sources, upper case, in the order first seen.
    pub fn sources(&self) -> &[Arc<str>] {
        &self.sources
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The object's source, upper case, without reading the object.
    pub fn source_of(&self, id: ObjectId) -> &Arc<str> {
        static NONE: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        self.sources
            .get((self.entry(id)[5] & 0xffff) as usize)
            .unwrap_or_else(|| NONE.get_or_init(|| Arc::from("")))
    }

    /// The object's class, without reading the object.
    pub fn template_of(&self, id: ObjectId) -> &'static Template {
        self.classes
            .get((self.entry(id)[5] >> 16) as usize)
            .copied()
            .unwrap_or_else(|| template("person").expect("a known class"))
    }

    /// The object's primary key as written, without reading the object.
    pub fn key_of(&self, id: ObjectId) -> &str {
        let e = self.entry(id);
        self.str_in(section::KEYS, e[3], e[4])
    }

    /// The object's text as stored.
    pub fn text_of(&self, id: ObjectId) -> &str {
        let e = self.entry(id);
        let at = e[0] as usize | (e[1] as usize) << 32;
        self.section(section::TEXTS)
            .get(at..at + e[2] as usize)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// Object `id`, parsed from its text (or from the generation's cache of parsed
    /// objects). An object the file cannot give back (a damaged file) reads as its class
    /// and key with a remark saying so.
    pub fn object(&self, id: ObjectId) -> Arc<Stored> {
        self.objects.get_or(id, || self.parse_object(id))
    }

    fn parse_object(&self, id: ObjectId) -> Stored {
        let template = self.template_of(id);
        let key = self.key_of(id);
        let object = super::rpsl::parse(self.text_of(id))
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| {
                tracing::warn!(id, "registry file: an object's text cannot be read");
                // The key may be damaged too: only its printable characters are shown.
                let shown: String = key.chars().filter(|c| !c.is_control()).collect();
                let shown = match shown.trim() {
                    "" => "unreadable",
                    shown => shown,
                };
                let text = format!(
                    "{}: {shown}\nremarks: unreadable in the registry file; run `ipintel registry rebuild`\n",
                    template.class
                );
                super::rpsl::parse(&text)
                    .next()
                    .and_then(Result::ok)
                    .or_else(|| {
                        super::rpsl::parse("remarks: unreadable in the registry file\n")
                            .next()
                            .and_then(Result::ok)
                    })
                    .expect("a one-line object parses")
            });
        Stored {
            source: self.source_of(id).clone(),
            template,
            key: key.into(),
            object,
        }
    }

    /// The parsed objects cached now: how many, and their estimated bytes.
    pub fn cached_objects(&self) -> (usize, u64) {
        (self.objects.len(), self.objects.weight())
    }

    /// The object of `source`, `class` (long or short name) and primary key, any case.
    pub fn get(&self, source: &str, class: &str, key: &str) -> Option<ObjectId> {
        let template = template(class)?;
        let source = self
            .sources
            .iter()
            .position(|s| s.eq_ignore_ascii_case(source))? as u32;
        let class = self
            .classes
            .iter()
            .position(|t| t.class == template.class)? as u32;
        let key = canonical_key(template, key)?;
        let wanted = (source | class << 16, key.as_bytes());
        let entries = self.u32s(section::PRIMARY);
        let keys = self.section(section::PRIMARY_KEYS);
        let objects = self.u32s(section::OBJECTS);
        let entry = |i: usize| {
            let e = &entries[i * compact::PRIMARY_WORDS..][..compact::PRIMARY_WORDS];
            let class = objects
                .get(e[2] as usize * compact::OBJECT_WORDS + 5)
                .copied()
                .unwrap_or(u32::MAX);
            let key = keys
                .get(e[0] as usize..e[0] as usize + e[1] as usize)
                .unwrap_or(&[]);
            ((class, key), e[2])
        };
        let count = entries.len() / compact::PRIMARY_WORDS;
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (at, id) = entry(mid);
            match at.cmp(&wanted) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return (id < self.len).then_some(id),
            }
        }
        None
    }

    /// The ids a string map (lookup keys, name words, inverse values) holds for `key`.
    fn map_get(&self, first: usize, key: &[u8]) -> &[ObjectId] {
        let entries = self.u32s(first);
        let keys = self.section(first + 1);
        let ids = self.u32s(first + 2);
        let count = entries.len() / compact::MAP_WORDS;
        let entry = |i: usize| &entries[i * compact::MAP_WORDS..][..compact::MAP_WORDS];
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = entry(mid);
            let at = keys
                .get(e[0] as usize..e[0] as usize + e[1] as usize)
                .unwrap_or(&[]);
            match at.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return ids
                        .get(e[2] as usize..e[2] as usize + e[3] as usize)
                        .unwrap_or(&[]);
                }
            }
        }
        &[]
    }

    /// The range index of a family and kind (`None` when no such object exists).
    pub fn ranges(&self, family: Family, kind: RangeKind) -> Option<RangeIndex<'_>> {
        let slot = compact::RANGE_INDEXES
            .iter()
            .position(|k| *k == Some((family, kind)))?;
        self.range_index(slot)
    }

    fn range_index(&self, slot: usize) -> Option<RangeIndex<'_>> {
        let first = section::RANGES + 3 * slot;
        let bounds: &[u128] = bytemuck::try_cast_slice(self.section(first)).unwrap_or(&[]);
        let index = RangeIndex::from_parts(
            bounds,
            self.u32s(first + 1),
            self.u32s(first + 2),
            self.tops[slot],
        );
        (!index.is_empty()).then_some(index)
    }

    /// The origin of a route object (the number of an aut-num).
    pub fn origin(&self, id: ObjectId) -> Option<u32> {
        let e = self.entry(id);
        (e[7] & compact::HAS_ASN != 0 && self.template_of(id).class.starts_with("route"))
            .then_some(e[6])
    }

    /// The route and route6 objects whose origin is `asn`, in id order.
    pub fn routes_of(&self, asn: u32) -> impl Iterator<Item = OriginRoute> + '_ {
        let all = self.u32s(section::ORIGINS);
        let routes = &all[..all.len() / compact::ORIGIN_WORDS * compact::ORIGIN_WORDS];
        let count = routes.len() / compact::ORIGIN_WORDS;
        let origin = |i: usize| routes[i * compact::ORIGIN_WORDS];
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if origin(mid) < asn {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        routes[lo * compact::ORIGIN_WORDS..]
            .chunks_exact(compact::ORIGIN_WORDS)
            .take_while(move |e| e[0] == asn)
            .map(|e| OriginRoute {
                id: e[1],
                source: e[2],
                v6: e[3] != 0,
                at: e[4],
                len: e[5],
            })
    }

    /// A route's prefix in canonical form (`2001:db8::/32`).
    pub fn route_prefix(&self, route: &OriginRoute) -> &str {
        self.str_in(section::ROUTE_PREFIXES, route.at, route.len)
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
        let key = compact::inverse_key(name, &value.to_lowercase());
        self.map_get(section::INVERSE, key.as_bytes())
    }

    /// Objects a text key finds: lookup keys equal to it, and persons, roles and
    /// organisations whose name has every word of it.
    pub fn text(&self, key: &str) -> Vec<ObjectId> {
        let key = key.to_lowercase();
        let mut out: Vec<ObjectId> = self.map_get(section::LOOKUP, key.as_bytes()).to_vec();
        let mut words = key.split_whitespace();
        if let Some(first) = words.next() {
            let mut named: Vec<ObjectId> = self.map_get(section::WORDS, first.as_bytes()).to_vec();
            for word in words {
                // Posting lists are in id order: membership is a binary search.
                let with = self.map_get(section::WORDS, word.as_bytes());
                named.retain(|id| with.binary_search(id).is_ok());
            }
            out.extend(named);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The aut-num objects of an AS number.
    pub fn aut_num(&self, asn: u32) -> Vec<ObjectId> {
        let pairs = self.u32s(section::AUT_NUMS);
        let count = pairs.len() / 2;
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pairs[2 * mid] < asn {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        pairs[2 * lo..]
            .chunks_exact(2)
            .take_while(|p| p[0] == asn)
            .map(|p| p[1])
            .collect()
    }

    /// The smallest as-block holding an AS number.
    pub fn as_block(&self, asn: u32) -> Option<ObjectId> {
        let span = Span::new(asn as u128, asn as u128)?;
        self.range_index(4)?
            .most_specific(span)
            .and_then(|(_, ids)| ids.first().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::key::parse_range;
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
    fn parsed_objects_are_kept_within_the_budget() {
        let (r, _) = registry();
        let first = r.object(0);
        assert!(Arc::ptr_eq(&first, &r.object(0)), "read once, then cached");
        let (count, bytes) = r.cached_objects();
        assert_eq!(count, 1);
        assert_eq!(bytes, first.weight());
        let small = crate::registry::caches::ObjectCache::new(2_000, Stored::weight);
        for id in 0..r.len() as u32 {
            small.get_or(id, || (*r.object(id)).clone());
        }
        assert!(small.weight() <= 2_000, "{}", small.weight());
        assert!(small.len() < r.len());
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
