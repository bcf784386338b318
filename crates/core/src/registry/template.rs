//! Object templates: which classes exist, their attributes in template order, whether each is
//! mandatory and may repeat, and which are primary, lookup and inverse keys (RIPE's
//! templates, docs/registry.md and docs/whois.md). They validate imports (non-strict: a
//! problem is reported, the object kept), answer `/metadata/templates/{type}`, and tell the
//! indexes what to index.
//!
//! Each class is written as one line of `name REQ[KEYS]` entries (`M1PL` = mandatory,
//! single, primary and lookup key), read once into [`Template`]s.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    Mandatory,
    Optional,
    /// Required by a business rule; optional when reading.
    Conditional,
    /// Set by the server.
    Generated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    Single,
    Multiple,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeTemplate {
    pub name: &'static str,
    pub requirement: Requirement,
    pub cardinality: Cardinality,
    pub primary: bool,
    pub lookup: bool,
    pub inverse: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The class, e.g. `inet6num`.
    pub class: &'static str,
    /// Its short name for `-T` and REST paths, e.g. `i6`.
    pub short: &'static str,
    pub attributes: Vec<AttributeTemplate>,
}

/// A problem an object has against its template. Imports report these and keep the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    UnknownClass(String),
    UnknownAttribute(String),
    MissingMandatory(&'static str),
    RepeatedSingle(&'static str),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::UnknownClass(c) => write!(f, "unknown object class {c:?}"),
            Problem::UnknownAttribute(a) => write!(f, "unknown attribute {a:?}"),
            Problem::MissingMandatory(a) => write!(f, "mandatory attribute {a:?} is missing"),
            Problem::RepeatedSingle(a) => write!(f, "attribute {a:?} appears more than once"),
        }
    }
}

impl Template {
    pub fn attribute(&self, name: &str) -> Option<&AttributeTemplate> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The attributes whose values make the primary key, in order (`route` + `origin`;
    /// `nic-hdl` for persons and roles; the class attribute for the rest).
    pub fn primary_key(&self) -> impl Iterator<Item = &AttributeTemplate> {
        self.attributes.iter().filter(|a| a.primary)
    }
}

impl Template {
    /// The template as RIPE writes it for `-t` and `/metadata/templates/{class}.txt`: one
    /// line per attribute with its requirement, cardinality and key kind, in columns.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for a in &self.attributes {
            let requirement = match a.requirement {
                Requirement::Mandatory => "[mandatory]",
                Requirement::Optional => "[optional]",
                Requirement::Conditional => "[conditional]",
                Requirement::Generated => "[generated]",
            };
            let cardinality = match a.cardinality {
                Cardinality::Single => "[single]",
                Cardinality::Multiple => "[multiple]",
            };
            let keys = match (a.primary, a.lookup, a.inverse) {
                (true, true, _) => "[primary/lookup key]",
                (true, false, true) => "[primary/inverse key]",
                (true, false, false) => "[primary key]",
                (false, true, _) => "[lookup key]",
                (false, false, true) => "[inverse key]",
                _ => "[ ]",
            };
            text.push_str(&format!(
                "{:<16}{:<13}{:<13}{}\n",
                format!("{}:", a.name),
                requirement,
                cardinality,
                keys
            ));
        }
        text
    }
}

/// The template of `class` (long or short name, any case).
pub fn template(class: &str) -> Option<&'static Template> {
    all()
        .iter()
        .find(|t| t.class.eq_ignore_ascii_case(class) || t.short.eq_ignore_ascii_case(class))
}

/// Every template, in the order RIPE lists them.
pub fn all() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        CLASSES
            .iter()
            .map(|(class, short, spec)| Template {
                class,
                short,
                attributes: read_spec(spec),
            })
            .collect()
    })
}

/// Every object's last attributes.
const TAIL: &str = "created G1; last-modified G1; source M1";

/// (class, short name, attributes): `name` then requirement M/O/C/G, cardinality 1/*, and
/// key letters P (primary), L (lookup), I (inverse).
const CLASSES: &[(&str, &str, &str)] = &[
    ("inetnum", "in", "inetnum M1PL; netname M1L; descr O*; country M*; geofeed O1; geoloc O1; prefixlen O1; language O*; org C1I; sponsoring-org C1I; admin-c M*I; tech-c M*I; abuse-c O1I; status M1; assignment-size O1; remarks O*; notify O*I; mnt-by M*I; mnt-lower C*I; mnt-domains O*I; mnt-routes O*I; mnt-irt O*I"),
    ("inet6num", "i6", "inet6num M1PL; netname M1L; descr O*; country M*; geofeed O1; geoloc O1; prefixlen O1; language O*; org C1I; sponsoring-org C1I; admin-c M*I; tech-c M*I; abuse-c O1I; status M1; assignment-size O1; remarks O*; notify O*I; mnt-by M*I; mnt-lower C*I; mnt-routes O*I; mnt-domains O*I; mnt-irt O*I"),
    ("aut-num", "an", "aut-num M1PL; as-name M1; descr O*; member-of O*I; import-via O*; import O*; mp-import O*; export-via O*; export O*; mp-export O*; default O*; mp-default O*; remarks O*; org C1I; sponsoring-org C1I; admin-c M*I; tech-c M*I; abuse-c O1I; status G1; notify O*I; mnt-by M*I"),
    ("as-block", "ak", "as-block M1PL; descr O*; remarks O*; org O*I; admin-c M*I; tech-c M*I; notify O*I; mnt-by M*I; mnt-lower O*I"),
    ("as-set", "as", "as-set M1PL; descr O*; members O*I; mbrs-by-ref O*I; remarks O*; org O*I; tech-c M*I; admin-c M*I; notify O*I; mnt-by M*I; mnt-lower O*I"),
    ("route", "rt", "route M1PL; descr O*; origin M1PI; pingable O*; ping-hdl O*I; holes O*; org O*I; member-of O*I; inject O*; aggr-mtd O1; aggr-bndry O1; export-comps O1; components O1; remarks O*; notify O*I; mnt-lower O*I; mnt-routes O*I; mnt-by M*I"),
    ("route6", "r6", "route6 M1PL; descr O*; origin M1PI; pingable O*; ping-hdl O*I; holes O*; org O*I; member-of O*I; inject O*; aggr-mtd O1; aggr-bndry O1; export-comps O1; components O1; remarks O*; notify O*I; mnt-lower O*I; mnt-routes O*I; mnt-by M*I"),
    ("route-set", "rs", "route-set M1PL; descr O*; members O*; mp-members O*I; mbrs-by-ref O*I; remarks O*; org O*I; tech-c M*I; admin-c M*I; notify O*I; mnt-by M*I; mnt-lower O*I"),
    ("mntner", "mt", "mntner M1PL; descr O*; org O*I; admin-c M*I; tech-c O*I; upd-to M*I; mnt-nfy O*I; auth M*I; remarks O*; notify O*I; mnt-by M*I; mnt-ref O*I"),
    ("person", "pn", "person M1L; address O*; phone O*; fax-no O*; e-mail M*L; contact O*; org O*I; nic-hdl M1PL; remarks O*; notify O*I; mnt-by M*I; mnt-ref O*I"),
    ("role", "ro", "role M1L; address O*; phone O*; fax-no O*; e-mail M*L; contact O*; org O*I; admin-c O*I; tech-c O*I; nic-hdl M1PL; remarks O*; notify O*I; abuse-mailbox C1I; mnt-by M*I; mnt-ref O*I"),
    ("organisation", "oa", "organisation M1PL; org-name M1L; org-type M1; descr O*; remarks O*; address M*; country O1; phone C*; fax-no C*; e-mail M*L; contact O*; geoloc O1; language O*; reg-nr C1; org O*I; admin-c O*I; tech-c O*I; abuse-c C1I; ref-nfy O*I; mnt-ref M*I; notify O*I; mnt-by M*I"),
    ("irt", "it", "irt M1PL; address M*; phone O*; fax-no O*; e-mail M*L; signature O*; contact O*; encryption O*; org O*I; admin-c M*I; tech-c M*I; auth M*I; remarks O*; irt-nfy O*I; notify O*I; mnt-by M*I; mnt-ref O*I"),
    ("domain", "dn", "domain M1PL; descr O*; org O*I; admin-c M*I; tech-c M*I; zone-c M*I; nserver M*I; ds-rdata O*I; remarks O*; notify O*I; mnt-by M*I"),
    ("key-cert", "kc", "key-cert M1PL; method G1; owner G*; fingerpr G1I; certif M*; org O*I; remarks O*; notify O*I; admin-c O*I; tech-c O*I; mnt-by M*I"),
    ("inet-rtr", "ir", "inet-rtr M1PL; descr O*; alias O*; local-as M1I; ifaddr M*; interface O*; peer O*; mp-peer O*; member-of O*I; remarks O*; org O*I; admin-c M*I; tech-c M*I; notify O*I; mnt-by M*I"),
    ("filter-set", "fs", "filter-set M1PL; descr O*; filter C1; mp-filter C1; remarks O*; org O*I; tech-c M*I; admin-c M*I; notify O*I; mnt-by M*I; mnt-lower O*I"),
    ("peering-set", "ps", "peering-set M1PL; descr O*; peering C*; mp-peering C*; remarks O*; org O*I; tech-c M*I; admin-c M*I; notify O*I; mnt-by M*I; mnt-lower O*I"),
    ("rtr-set", "is", "rtr-set M1PL; descr O*; members O*; mp-members O*I; mbrs-by-ref O*I; remarks O*; org O*I; tech-c M*I; admin-c M*I; notify O*I; mnt-by M*I; mnt-lower O*I"),
    ("poem", "po", "poem M1PL; descr O*; form M1I; text M*; author O*I; remarks O*; notify O*I; mnt-by M1I"),
    ("poetic-form", "pf", "poetic-form M1PL; descr O*; admin-c O*I; remarks O*; notify O*I; mnt-by M*I"),
];

fn read_spec(spec: &'static str) -> Vec<AttributeTemplate> {
    spec.split(';')
        .chain(TAIL.split(';'))
        .map(|entry| {
            let (name, code) = entry
                .trim()
                .split_once(' ')
                .expect("template entries are `name CODE`");
            let mut chars = code.chars();
            let requirement = match chars.next() {
                Some('M') => Requirement::Mandatory,
                Some('O') => Requirement::Optional,
                Some('C') => Requirement::Conditional,
                Some('G') => Requirement::Generated,
                other => panic!("template {name}: requirement {other:?}"),
            };
            let cardinality = match chars.next() {
                Some('1') => Cardinality::Single,
                Some('*') => Cardinality::Multiple,
                other => panic!("template {name}: cardinality {other:?}"),
            };
            let keys: String = chars.collect();
            assert!(
                keys.chars().all(|c| "PLI".contains(c)),
                "template {name}: keys {keys:?}"
            );
            AttributeTemplate {
                name,
                requirement,
                cardinality,
                primary: keys.contains('P'),
                lookup: keys.contains('L'),
                inverse: keys.contains('I'),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::rpsl::parse;

    #[test]
    fn every_class_of_the_issue_has_a_template_with_its_tail() {
        for class in [
            "inetnum",
            "inet6num",
            "route",
            "route6",
            "aut-num",
            "as-set",
            "route-set",
            "mntner",
            "person",
            "role",
            "organisation",
            "irt",
            "domain",
            "as-block",
            "key-cert",
            "filter-set",
            "peering-set",
            "rtr-set",
            "inet-rtr",
            "poem",
        ] {
            let t = template(class).unwrap_or_else(|| panic!("no template for {class}"));
            assert_eq!(t.attributes.last().unwrap().name, "source", "{class}");
            assert!(t.primary_key().count() >= 1, "{class} has a primary key");
            // Attribute names are unique within a template.
            let mut names: Vec<_> = t.attributes.iter().map(|a| a.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), t.attributes.len(), "{class}");
        }
        assert_eq!(template("I6").unwrap().class, "inet6num");
        assert_eq!(template("AUT-NUM").unwrap().short, "an");
        assert!(template("weather").is_none());
        // Short names are unique.
        let mut shorts: Vec<_> = all().iter().map(|t| t.short).collect();
        shorts.sort();
        shorts.dedup();
        assert_eq!(shorts.len(), all().len());
    }

    #[test]
    fn keys_and_checks() {
        let route = parse("route: 192.0.2.0/24\norigin: AS64496\nmnt-by: EX-MNT\nsource: TEST\n")
            .next()
            .unwrap()
            .unwrap();
        let t = template(route.class()).unwrap();
        assert_eq!(route.key_in(t).as_deref(), Some("192.0.2.0/24AS64496"));
        assert!(
            route.problems_against(t).is_empty(),
            "{:?}",
            route.problems_against(t)
        );
        assert!(t.attribute("origin").unwrap().inverse);

        let person = parse(
            "person: Ann Example\nnic-hdl: AE1-TEST\nnic-hdl: AE2-TEST\nfavourite-colour: blue\nchanged: x@example.org 20010101\nsource: TEST\n",
        )
        .next()
        .unwrap()
        .unwrap();
        let t = template(person.class()).unwrap();
        assert_eq!(
            person.key_in(t).as_deref(),
            Some("AE1-TEST"),
            "nic-hdl, not the name"
        );
        let problems = person.problems_against(t);
        assert!(
            problems.contains(&Problem::RepeatedSingle("nic-hdl")),
            "{problems:?}"
        );
        assert!(
            problems.contains(&Problem::MissingMandatory("e-mail")),
            "{problems:?}"
        );
        assert!(
            problems.contains(&Problem::MissingMandatory("mnt-by")),
            "{problems:?}"
        );
        assert!(
            problems.contains(&Problem::UnknownAttribute("favourite-colour".into())),
            "{problems:?}"
        );
        assert!(
            !problems
                .iter()
                .any(|p| matches!(p, Problem::UnknownAttribute(a) if a == "changed")),
            "legacy `changed` is accepted"
        );
        assert!(
            template("person")
                .unwrap()
                .attribute("person")
                .unwrap()
                .lookup
        );
    }
}
