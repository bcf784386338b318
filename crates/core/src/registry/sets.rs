//! Set membership and expansion as IRR clients ask for it (../shared/spec/registry.md
//! section 9, IRRd's `!i`, `!a`, `!g`, `!6`): the direct members of an as-set or route-set
//! (its `members` and `mp-members`, plus objects that name it in `member-of` and are
//! maintained by one of its `mbrs-by-ref` maintainers, or any with `ANY`), recursive
//! expansion to AS numbers or prefixes with cycles and unknown sets tolerated, and the
//! prefixes of an origin AS. The foundation of the whois front end (issue 12); no wire
//! format here.

use std::collections::BTreeSet;

use super::index::{ObjectId, Registry};
use super::key::{parse_asn, parse_range, Family};

/// A set's recursive expansion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// AS numbers reached (as-sets, and AS members of route-sets).
    pub asns: BTreeSet<u32>,
    /// Prefixes of route-sets as written, range operators kept (`192.0.2.0/24^+`).
    pub prefixes: BTreeSet<String>,
}

/// The classes a set name may be.
const SET_CLASSES: &[&str] = &["as-set", "route-set", "rtr-set"];

impl Registry {
    /// The set object called `name` (any case), in the first of `sources` that has it
    /// (every source when empty).
    pub fn set(&self, name: &str, sources: &[String]) -> Option<ObjectId> {
        let in_order: Vec<String> = if sources.is_empty() {
            self.sources().iter().map(|s| s.to_string()).collect()
        } else {
            sources.to_vec()
        };
        in_order.iter().find_map(|source| {
            SET_CLASSES
                .iter()
                .find_map(|class| self.get(source, class, name))
        })
    }

    /// The direct members of a set, as written (nested set names included, known or not),
    /// sorted and without repeats. `None` when there is no such set.
    pub fn set_members(&self, name: &str, sources: &[String]) -> Option<Vec<String>> {
        let id = self.set(name, sources)?;
        let set = self.object(id);
        let mut members: BTreeSet<String> = set
            .object
            .attributes()
            .filter(|a| a.name == "members" || a.name == "mp-members")
            .flat_map(|a| {
                a.value
                    .split(',')
                    .map(str::trim)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|m| !m.is_empty() && !m.eq_ignore_ascii_case(&set.key))
            .collect();
        // member-of, honoured only for objects maintained by one of the set's mbrs-by-ref.
        let by_ref: Vec<String> = set
            .object
            .values("mbrs-by-ref")
            .flat_map(|v| v.split(','))
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect();
        if !by_ref.is_empty() {
            for &member in self.inverse("member-of", &set.key) {
                let object = self.object(member);
                if object.source != set.source {
                    continue;
                }
                let maintained = by_ref.iter().any(|m| m == "ANY")
                    || object
                        .object
                        .values("mnt-by")
                        .flat_map(|v| v.split(','))
                        .any(|m| by_ref.iter().any(|r| r.eq_ignore_ascii_case(m.trim())));
                if !maintained {
                    continue;
                }
                let shown = match object.template.class {
                    // A route joins as its prefix; an aut-num or a set by its key.
                    "route" | "route6" => object.object.first_value().to_string(),
                    _ => object.key.to_string(),
                };
                members.insert(shown);
            }
        }
        Some(members.into_iter().collect())
    }

    /// A set expanded recursively: nested sets followed (each once: cycles end), unknown
    /// ones and `exclude`d ones left out, AS members of route-sets kept as AS numbers (the
    /// caller adds their routes if it wants prefixes). `None` when there is no such set.
    pub fn expand(&self, name: &str, sources: &[String], exclude: &[String]) -> Option<Expansion> {
        self.set(name, sources)?;
        let mut out = Expansion::default();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut stack = vec![name.to_ascii_uppercase()];
        while let Some(set) = stack.pop() {
            if !seen.insert(set.clone()) || exclude.iter().any(|e| e.eq_ignore_ascii_case(&set)) {
                continue;
            }
            let Some(members) = self.set_members(&set, sources) else {
                continue;
            };
            for member in members {
                if let Some(asn) = parse_asn(&member) {
                    out.asns.insert(asn);
                } else if is_prefix(&member) {
                    out.prefixes.insert(member);
                } else {
                    stack.push(member.to_ascii_uppercase());
                }
            }
        }
        Some(out)
    }

    /// The distinct prefixes of the route (V4) or route6 (V6) objects with origin `asn`,
    /// in the registry's canonical form, sorted.
    pub fn origin_prefixes(&self, asn: u32, family: Family) -> Vec<String> {
        let mut out = BTreeSet::new();
        for &id in self.routes_of(asn) {
            let route = self.object(id);
            if let Ok((f, _)) = parse_range(route.object.first_value()) {
                if f == family {
                    out.insert(route.object.first_value().to_ascii_lowercase());
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Whether a set member is a prefix (with or without a range operator `^+`, `^-`, `^n-m`).
fn is_prefix(member: &str) -> bool {
    let prefix = member.split('^').next().unwrap_or(member);
    prefix.contains('/') && parse_range(prefix).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::rpsl::parse;

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
}
