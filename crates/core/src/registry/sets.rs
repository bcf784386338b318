//! Set membership and expansion as IRR clients ask for it (docs/whois.md, IRRd's `!i`, `!a`, `!g`, `!6`): the direct members of an as-set or route-set
//! (its `members` and `mp-members`, plus objects that name it in `member-of` and are
//! maintained by one of its `mbrs-by-ref` maintainers, or any with `ANY`), recursive
//! expansion to AS numbers or prefixes with cycles and unknown sets tolerated, and the
//! prefixes of an origin AS. The answers the whois front end serves (`!i…,1`, `!a`) are
//! cached in the generation they were computed from, within `SET_CACHE_BYTES`: a new
//! generation starts with an empty cache, so an import never serves a stale expansion.
//! No wire format here.

use std::collections::{BTreeSet, HashSet};

pub use super::caches::{Listing, SET_CACHE_BYTES};
use super::index::{ObjectId, RangeKind, Registry};
use super::key::{parse_asn, parse_range, Family};
use super::ranges::Span;

/// The route searches of IRRd's `!r` (`,l` `,L` `,M`; `,o` is the exact search's origins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteSearch {
    Exact,
    OneLess,
    AllLess,
    AllMore,
}

/// A set's recursive expansion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// AS numbers reached (as-sets, and AS members of route-sets).
    pub asns: BTreeSet<u32>,
    /// Prefixes of route-sets as written, range operators kept (`192.0.2.0/24^+`).
    pub prefixes: BTreeSet<String>,
}

fn cache_key(what: &str, name: &str, sources: &[String], exclude: &[String]) -> String {
    let mut exclude: Vec<String> = exclude.iter().map(|e| e.to_ascii_uppercase()).collect();
    exclude.sort();
    format!(
        "{what}\0{}\0{}\0{}",
        name.to_ascii_uppercase(),
        sources.join(",").to_ascii_uppercase(),
        exclude.join(",")
    )
}

/// The classes a set name may be.
const SET_CLASSES: &[&str] = &["as-set", "route-set", "rtr-set"];

impl Registry {
    /// The set object called `name` (any case), in the first of `sources` that has it
    /// (every source when empty).
    pub fn set(&self, name: &str, sources: &[String]) -> Option<ObjectId> {
        let in_class = |source: &str| {
            SET_CLASSES
                .iter()
                .find_map(|class| self.get(source, class, name))
        };
        if sources.is_empty() {
            self.sources().iter().find_map(|s| in_class(s))
        } else {
            sources.iter().find_map(|s| in_class(s))
        }
    }

    /// The direct members of a set, as written (nested set names included, known or not),
    /// sorted and without repeats. `None` when there is no such set.
    pub fn set_members(&self, name: &str, sources: &[String]) -> Option<Vec<String>> {
        let id = self.set(name, sources)?;
        let mut members = BTreeSet::new();
        self.each_member(id, |m| {
            members.insert(m.to_string());
        });
        Some(members.into_iter().collect())
    }

    /// Every direct member of the set `id`, as written, repeats and all, borrowed from the
    /// registry: its `members` and `mp-members`, and the objects that name it in
    /// `member-of` and are maintained by one of its `mbrs-by-ref` maintainers (or any,
    /// with `ANY`).
    fn each_member(&self, id: ObjectId, mut visit: impl FnMut(&str)) {
        let set = self.object(id);
        for attribute in set.object.attributes() {
            if attribute.name != "members" && attribute.name != "mp-members" {
                continue;
            }
            for member in attribute.value.split(',').map(str::trim) {
                if !member.is_empty() && !member.eq_ignore_ascii_case(&set.key) {
                    visit(member);
                }
            }
        }
        let by_ref: Vec<&str> = set
            .object
            .values("mbrs-by-ref")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        if by_ref.is_empty() {
            return;
        }
        let any = by_ref.iter().any(|m| m.eq_ignore_ascii_case("ANY"));
        for &member in self.inverse("member-of", &set.key) {
            if *self.source_of(member) != set.source {
                continue;
            }
            let object = self.object(member);
            let maintained = any
                || object
                    .object
                    .values("mnt-by")
                    .flat_map(|v| v.split(','))
                    .any(|m| by_ref.iter().any(|r| r.eq_ignore_ascii_case(m.trim())));
            if !maintained {
                continue;
            }
            visit(match object.template.class {
                // A route joins as its prefix; an aut-num or a set by its key.
                "route" | "route6" => object.object.first_value(),
                _ => &object.key,
            });
        }
    }

    /// A set expanded recursively: nested sets followed (each once: cycles end), unknown
    /// ones and `exclude`d ones left out, AS members of route-sets kept as AS numbers (the
    /// caller adds their routes if it wants prefixes). `None` when there is no such set.
    pub fn expand(&self, name: &str, sources: &[String], exclude: &[String]) -> Option<Expansion> {
        self.set(name, sources)?;
        let mut out = Expansion::default();
        let mut seen: HashSet<String> = HashSet::new();
        let mut stack = vec![name.to_ascii_uppercase()];
        while let Some(set) = stack.pop() {
            if exclude.iter().any(|e| e.eq_ignore_ascii_case(&set)) {
                continue;
            }
            let Some(id) = self.set(&set, sources) else {
                continue;
            };
            if !seen.insert(set) {
                continue;
            }
            self.each_member(id, |member| {
                if let Some(asn) = parse_asn(member) {
                    out.asns.insert(asn);
                } else if is_prefix(member) {
                    out.prefixes.insert(member.to_string());
                } else {
                    let nested = member.to_ascii_uppercase();
                    if !seen.contains(&nested) {
                        stack.push(nested);
                    }
                }
            });
        }
        Some(out)
    }

    /// The distinct prefixes of the route (V4) or route6 (V6) objects with origin `asn`,
    /// in the registry's canonical form, sorted.
    pub fn origin_prefixes(&self, asn: u32, family: Family) -> Vec<String> {
        self.origin_prefixes_in(asn, Some(family), &[])
    }

    /// [`Registry::origin_prefixes`] of routes in `sources` only (every source when empty);
    /// `family` `None` for both.
    pub fn origin_prefixes_in(
        &self,
        asn: u32,
        family: Option<Family>,
        sources: &[String],
    ) -> Vec<String> {
        let mut out = Vec::new();
        self.add_origin_prefixes(asn, family, &self.source_filter(sources), &mut out);
        sorted_distinct(&mut out);
        out.into_iter().map(str::to_string).collect()
    }

    /// The positions of `sources` among the registry's (`None`: every source).
    fn source_filter(&self, sources: &[String]) -> Option<Vec<u32>> {
        if sources.is_empty() {
            return None;
        }
        Some(
            (0..self.sources().len() as u32)
                .filter(|&at| {
                    sources
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&self.sources()[at as usize]))
                })
                .collect(),
        )
    }

    /// Push the prefixes of `asn`'s routes (`family`, `sources`) onto `out`, repeats and
    /// all: read from the origin index, no object is touched.
    fn add_origin_prefixes<'a>(
        &'a self,
        asn: u32,
        family: Option<Family>,
        sources: &Option<Vec<u32>>,
        out: &mut Vec<&'a str>,
    ) {
        for route in self.routes_of(asn) {
            if sources.as_ref().is_some_and(|s| !s.contains(&route.source)) {
                continue;
            }
            if family.is_some_and(|f| (f == Family::V6) != route.v6) {
                continue;
            }
            out.push(self.route_prefix(&route));
        }
    }

    /// [`Registry::set_members`], cached in this generation (IRRd's direct `!i`, which
    /// bgpq4 asks set by set when it recurses itself).
    pub fn direct_members(&self, name: &str, sources: &[String]) -> Option<Listing> {
        self.sets_cache
            .get_or(cache_key("direct", name, sources, &[]), || {
                Some(Listing::of(self.set_members(name, sources)?))
            })
    }

    /// `!i SET,1`: an as-set's AS numbers (`AS64496`, in numeric order), or a route-set's
    /// prefixes with their range operators plus the route prefixes of its AS members.
    /// Cached in this generation. `None` when there is no such set.
    pub fn recursive_members(
        &self,
        name: &str,
        sources: &[String],
        exclude: &[String],
    ) -> Option<Listing> {
        self.sets_cache
            .get_or(cache_key("members", name, sources, exclude), || {
                let root = self.set(name, sources)?;
                let expansion = self.expand(name, sources, exclude)?;
                Some(if self.template_of(root).class == "as-set" {
                    Listing::of(expansion.asns.iter().map(|asn| format!("AS{asn}")))
                } else {
                    let mut prefixes: Vec<&str> =
                        expansion.prefixes.iter().map(String::as_str).collect();
                    let filter = self.source_filter(sources);
                    for &asn in &expansion.asns {
                        self.add_origin_prefixes(asn, None, &filter, &mut prefixes);
                    }
                    sorted_distinct(&mut prefixes);
                    Listing::of(prefixes)
                })
            })
    }

    /// `!a SET`: the distinct route (V4), route6 (V6) or both (`None`) prefixes whose
    /// origin is an AS the set expands to. Cached in this generation. `None` when there is
    /// no such set.
    pub fn set_prefixes(
        &self,
        name: &str,
        family: Option<Family>,
        sources: &[String],
        exclude: &[String],
    ) -> Option<Listing> {
        let what = match family {
            None => "prefixes",
            Some(Family::V4) => "prefixes4",
            Some(Family::V6) => "prefixes6",
        };
        self.sets_cache
            .get_or(cache_key(what, name, sources, exclude), || {
                let expansion = self.expand(name, sources, exclude)?;
                let filter = self.source_filter(sources);
                let mut prefixes = Vec::new();
                for &asn in &expansion.asns {
                    self.add_origin_prefixes(asn, family, &filter, &mut prefixes);
                }
                sorted_distinct(&mut prefixes);
                Some(Listing::of(prefixes))
            })
    }

    /// IRRd's `!r` route search over route and route6 objects of `sources` (every source
    /// when empty): the exact prefix, the one-level less specific (every object of the
    /// smallest enclosing prefix, the exact one excluded), all less specific (exact
    /// included, least specific first) or all more specific (every level, exact excluded).
    pub fn route_search(
        &self,
        family: Family,
        span: Span,
        search: RouteSearch,
        sources: &[String],
    ) -> Vec<ObjectId> {
        let Some(index) = self.ranges(family, RangeKind::Route) else {
            return Vec::new();
        };
        let in_sources = |id: &ObjectId| {
            sources.is_empty()
                || sources
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(self.source_of(*id)))
        };
        let mut out: Vec<ObjectId> = match search {
            RouteSearch::Exact => index.exact(span).to_vec(),
            RouteSearch::OneLess => {
                // The smallest enclosing prefix that has an object in the sources.
                let mut levels = index.all_less(span);
                let mut found = Vec::new();
                while let Some((_, ids)) = levels.pop() {
                    found = ids.iter().copied().filter(in_sources).collect();
                    if !found.is_empty() {
                        break;
                    }
                }
                found
            }
            RouteSearch::AllLess => index
                .containing(span)
                .into_iter()
                .flat_map(|(_, ids)| ids.iter().copied())
                .collect(),
            RouteSearch::AllMore => index
                .all_more(span)
                .into_iter()
                .flat_map(|(_, ids)| ids.iter().copied())
                .collect(),
        };
        out.retain(in_sources);
        out
    }

    /// What this generation's set cache holds: entries and bytes.
    pub fn set_cache_usage(&self) -> (usize, usize) {
        self.sets_cache.usage()
    }
}

/// Whether a set member is a prefix (with or without a range operator `^+`, `^-`, `^n-m`).
/// Sort (byte order, as the answers have always been) and drop repeats.
fn sorted_distinct(items: &mut Vec<&str>) {
    items.sort_unstable();
    items.dedup();
}

fn is_prefix(member: &str) -> bool {
    let prefix = member.split('^').next().unwrap_or(member);
    prefix.contains('/') && parse_range(prefix).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::rpsl::parse;
    use std::sync::Arc;

    const SETS: &str = "\
as-set: AS-TOP
members: AS64496, AS-MIDDLE, AS-UNKNOWN
mbrs-by-ref: EX-MNT
source: TEST

as-set: AS-MIDDLE
members: AS64497, AS-TOP
source: TEST

aut-num: AS64498
member-of: AS-TOP
mnt-by: EX-MNT
source: TEST

aut-num: AS64499
member-of: AS-TOP
mnt-by: STRANGER-MNT
source: TEST

route-set: RS-TOP
members: 192.0.2.0/24^+, AS64496, RS-INNER
source: TEST

route-set: RS-INNER
mp-members: 2001:db8::/32
source: TEST

route: 198.51.100.0/24
origin: AS64496
source: TEST

route: 203.0.113.0/24
origin: AS64496
source: TEST

route6: 2001:db8:1::/48
origin: AS64496
source: TEST
";

    fn registry() -> Registry {
        Registry::build(parse(SETS).map(|o| ("TEST".to_string(), o.unwrap()))).0
    }

    #[test]
    fn direct_members_follow_member_of_only_for_the_named_maintainers() {
        let r = registry();
        assert_eq!(
            r.set_members("as-top", &[]).unwrap(),
            ["AS-MIDDLE", "AS-UNKNOWN", "AS64496", "AS64498"],
            "AS64499's maintainer is not in mbrs-by-ref"
        );
        assert!(r.set_members("AS-NONE", &[]).is_none());
        assert!(r.set_members("AS-TOP", &["OTHER".to_string()]).is_none());
    }

    #[test]
    fn expansion_survives_cycles_and_unknown_sets() {
        let r = registry();
        let e = r.expand("AS-TOP", &[], &[]).unwrap();
        assert_eq!(
            e.asns.into_iter().collect::<Vec<_>>(),
            [64496, 64497, 64498]
        );
        let e = r.expand("AS-TOP", &[], &["as-middle".to_string()]).unwrap();
        assert_eq!(
            e.asns.into_iter().collect::<Vec<_>>(),
            [64496, 64498],
            "excluded sets are not expanded"
        );
        let rs = r.expand("RS-TOP", &[], &[]).unwrap();
        assert_eq!(
            rs.prefixes.into_iter().collect::<Vec<_>>(),
            ["192.0.2.0/24^+", "2001:db8::/32"]
        );
        assert_eq!(rs.asns.into_iter().collect::<Vec<_>>(), [64496]);
        assert_eq!(
            r.origin_prefixes(64496, Family::V4),
            ["198.51.100.0/24", "203.0.113.0/24"]
        );
        assert_eq!(r.origin_prefixes(64496, Family::V6), ["2001:db8:1::/48"]);
        assert!(r.origin_prefixes(64999, Family::V4).is_empty());
    }

    #[test]
    fn prefixes_are_answered_in_canonical_form_however_written() {
        let text = "route6: 2001:DB8:0::/48\norigin: AS64510\nsource: TEST\n\n\
                    route: 192.0.2.0/24\norigin: AS64510\nsource: TEST\n\n\
                    as-set: AS-CANON\nmembers: AS64510\nsource: TEST\n";
        let r = Registry::build(parse(text).map(|o| ("TEST".to_string(), o.unwrap()))).0;
        assert_eq!(r.origin_prefixes(64510, Family::V6), ["2001:db8::/48"]);
        assert_eq!(
            r.set_prefixes("AS-CANON", None, &[], &[])
                .unwrap()
                .text()
                .as_ref(),
            "192.0.2.0/24 2001:db8::/48"
        );
    }

    #[test]
    fn recursive_answers_are_computed_once_per_generation() {
        let r = registry();
        let members = r.recursive_members("as-top", &[], &[]).unwrap();
        assert_eq!(&**members.text(), "AS64496 AS64497 AS64498");
        let again = r.recursive_members("AS-TOP", &[], &[]).unwrap();
        assert!(
            Arc::ptr_eq(members.text(), again.text()),
            "the second answer comes from the cache"
        );
        let (entries, bytes) = r.set_cache_usage();
        assert_eq!(entries, 1);
        assert!(bytes > 0 && bytes <= SET_CACHE_BYTES);
        let other = r
            .recursive_members("AS-TOP", &[], &["AS-MIDDLE".to_string()])
            .unwrap();
        assert_eq!(other.len(), 2, "exclusions are part of the cache key");

        let routes = r.recursive_members("RS-TOP", &[], &[]).unwrap();
        assert_eq!(
            routes.iter().collect::<Vec<_>>(),
            [
                "192.0.2.0/24^+",
                "198.51.100.0/24",
                "2001:db8:1::/48",
                "2001:db8::/32",
                "203.0.113.0/24"
            ],
            "AS members of a route-set become their routes"
        );
        let v4 = r
            .set_prefixes("AS-TOP", Some(Family::V4), &[], &[])
            .unwrap();
        assert_eq!(&**v4.text(), "198.51.100.0/24 203.0.113.0/24");
        let both = r.set_prefixes("AS-TOP", None, &[], &[]).unwrap();
        assert_eq!(both.len(), 3);
        assert!(r.set_prefixes("AS-NONE", None, &[], &[]).is_none());
        assert_eq!(
            r.direct_members("AS-TOP", &[])
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            r.set_members("AS-TOP", &[]).unwrap()
        );
        assert!(r
            .set_prefixes("AS-TOP", None, &["ELSEWHERE".to_string()], &[])
            .is_none());
        assert!(r
            .origin_prefixes_in(64496, None, &["ELSEWHERE".to_string()])
            .is_empty());
        let (family, span) = parse_range("203.0.113.128/25").unwrap();
        assert!(r
            .route_search(family, span, RouteSearch::Exact, &[])
            .is_empty());
        let less = r.route_search(family, span, RouteSearch::OneLess, &[]);
        assert_eq!(less.len(), 1);
        assert_eq!(r.object(less[0]).object.first_value(), "203.0.113.0/24");
        let (family, span) = parse_range("203.0.0.0/8").unwrap();
        assert_eq!(
            r.route_search(family, span, RouteSearch::AllMore, &[])
                .len(),
            1
        );
        let fresh = registry();
        assert_eq!(
            fresh.set_cache_usage().0,
            0,
            "a new generation starts empty"
        );
    }
}
