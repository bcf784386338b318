//! Registry queries, as RIPE's query flags define them (docs/registry.md sections
//! 5, 6, 7, 8): what a search key finds with type, source, inverse and hierarchy options,
//! the related objects of each answer, abuse contacts and geolocation. The REST and whois
//! front ends parse their own syntax into a [`Query`] and render the [`Answer`].

use super::index::{ObjectId, RangeKind, Registry, Stored};
use super::key::{classify, Family, SearchKey};
use super::ranges::Span;
use super::template::{all as all_templates, template, Template};

/// The IP hierarchy flags (`-x -l -L -m -M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    Exact,
    OneLess,
    AllLess,
    OneMore,
    AllMore,
}

/// One search.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub key: String,
    /// Upper or lower case; empty: every source.
    pub sources: Vec<String>,
    /// Restrict to these classes; empty: every class the key can find.
    pub types: Vec<&'static Template>,
    /// Inverse attributes (`-i mnt-by`); empty: a direct search.
    pub inverse: Vec<&'static str>,
    pub hierarchy: Option<Hierarchy>,
    /// `-r`: no related objects.
    pub no_referenced: bool,
    /// `-G`: primaries first, then the related objects once.
    pub no_grouping: bool,
    /// `-c`: add the irt of each resource.
    pub irt: bool,
    /// `-d`: reverse domains too (held as domain objects by name).
    pub reverse_domain: bool,
    /// `--no-personal`: no person or role objects.
    pub no_personal: bool,
}

/// Why a query cannot run: each is one of RIPE's numbered messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// 106
    #[error("no search key specified")]
    NoKey,
    /// 104
    #[error("\"{0}\" is not a known attribute")]
    UnknownAttribute(String),
    /// 105
    #[error("\"{0}\" is not an inverse searchable attribute")]
    NotInverse(String),
    /// 103
    #[error("unknown object type '{0}'")]
    UnknownType(String),
    /// 115: the key cannot be one of the selected classes, or is a malformed address form.
    #[error("invalid search key: {0}")]
    InvalidKey(String),
    /// 112: -m/-M over the whole address space.
    #[error("'-mM' query options are not allowed on very large ranges/prefixes")]
    TooLarge,
}

impl QueryError {
    /// RIPE's numbered message for it: `ERROR:NNN: title`, a blank line, the detail
    /// (docs/registry.md and docs/whois.md). Each front end lays it out its own way.
    pub fn ripe_message(&self) -> String {
        match self {
            QueryError::NoKey => "ERROR:106: no search key specified\n\nNo search key specified".into(),
            QueryError::UnknownAttribute(a) => {
                format!("ERROR:104: unknown attribute\n\n\"{a}\" is not a known attribute.")
            }
            QueryError::NotInverse(a) => format!(
                "ERROR:105: attribute is not searchable\n\n\"{a}\" is not an inverse searchable attribute."
            ),
            QueryError::UnknownType(t) => format!("ERROR:103: unknown object type '{t}'"),
            QueryError::InvalidKey(_) => "ERROR:115: invalid search key\n\nSearch key entered is not valid for the specified object type(s)".into(),
            QueryError::TooLarge => "ERROR:112: unsupported query\n\n'-mM' query options are not allowed on very large ranges/prefixes.".into(),
        }
    }
}

/// A message that comes with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// WARNING:902: an IP flag without an IP key.
    UselessIpFlag,
}

/// One primary object with its related ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub primary: ObjectId,
    pub related: Vec<ObjectId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub groups: Vec<Group>,
    pub warnings: Vec<Warning>,
}

impl Answer {
    /// The objects in the order they are sent: by group (each group's related objects
    /// after its primary, repeated per group) or, with no-grouping, the primaries then
    /// every related object once.
    pub fn stream(&self, no_grouping: bool) -> Vec<ObjectId> {
        let mut out = Vec::new();
        if no_grouping {
            // An answer holds up to `max_results` objects: a set, not scans of the list.
            let mut seen = std::collections::HashSet::new();
            for g in &self.groups {
                seen.insert(g.primary);
                out.push(g.primary);
            }
            for g in &self.groups {
                out.extend(g.related.iter().copied().filter(|&id| seen.insert(id)));
            }
        } else {
            for g in &self.groups {
                out.push(g.primary);
                out.extend(&g.related);
            }
        }
        out
    }
}

/// RIPE's class order for results (lower first).
/// RIPE's ERROR:101 text for a query over `sources` (the asked ones, else all the
/// registry holds): `%s` stands for the sources in REST's message arguments, and is filled
/// in for whois. An empty registry says so instead of naming a blank source.
pub fn no_entries_text(sources: &[String]) -> (String, Option<String>) {
    let names: Vec<&str> = sources
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return (
            "ERROR:101: no entries found\n\nNo entries found: the registry holds no objects yet\n(load some with `ipintel registry import`).".into(),
            None,
        );
    }
    (
        "ERROR:101: no entries found\n\nNo entries found in source %s.".into(),
        Some(names.join(",")),
    )
}

pub fn class_order(class: &str) -> u32 {
    match class {
        "inetnum" => 5,
        "inet6num" => 6,
        "as-block" => 7,
        "aut-num" => 8,
        "as-set" => 9,
        "route" => 10,
        "route6" => 11,
        "route-set" => 12,
        "inet-rtr" => 15,
        "filter-set" => 21,
        "peering-set" => 22,
        "rtr-set" => 23,
        "domain" => 30,
        "poetic-form" => 31,
        "poem" => 32,
        "mntner" => 40,
        "irt" => 41,
        "key-cert" => 45,
        "organisation" => 48,
        "role" => 49,
        "person" => 50,
        _ => 99,
    }
}

/// The attributes whose values name the related objects of an answer.
const RELATED: &[&str] = &["admin-c", "tech-c", "zone-c", "author", "ping-hdl", "org"];

/// The inverse attributes `-i person` stands for.
const PERSON_ATTRIBUTES: &[&str] = &[
    "abuse-c", "admin-c", "tech-c", "zone-c", "author", "ping-hdl",
];

/// The inverse attribute names a query names, checked (`person` expanded).
pub fn inverse_attributes(names: &[&str]) -> Result<Vec<&'static str>, QueryError> {
    let mut out = Vec::new();
    for name in names {
        let name = name.trim().to_ascii_lowercase();
        if name == "person" {
            out.extend(PERSON_ATTRIBUTES);
            continue;
        }
        let mut known = all_templates().iter().flat_map(|t| t.attributes.iter());
        let Some(spec) = known.clone().find(|a| a.name == name) else {
            return Err(QueryError::UnknownAttribute(name));
        };
        if !known.any(|a| a.name == name && a.inverse) {
            return Err(QueryError::NotInverse(spec.name.to_string()));
        }
        out.push(spec.name);
    }
    out.dedup();
    Ok(out)
}

/// Class names (long or short) as templates.
pub fn types(names: &[&str]) -> Result<Vec<&'static Template>, QueryError> {
    names
        .iter()
        .map(|n| template(n.trim()).ok_or_else(|| QueryError::UnknownType(n.trim().to_string())))
        .collect()
}

impl Registry {
    fn in_sources(&self, id: ObjectId, query: &Query) -> bool {
        let stored = self.object(id);
        (query.sources.is_empty()
            || query
                .sources
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&stored.source)))
            && (query.types.is_empty()
                || query.types.iter().any(|t| t.class == stored.template.class))
            && !(query.no_personal && matches!(stored.template.class, "person" | "role"))
    }

    /// Run a search.
    pub fn search(&self, query: &Query) -> Result<Answer, QueryError> {
        let key = query.key.split_whitespace().collect::<Vec<_>>().join(" ");
        if key.is_empty() {
            return Err(QueryError::NoKey);
        }
        let mut answer = Answer::default();
        let mut primaries: Vec<ObjectId> = if !query.inverse.is_empty() {
            let mut ids: Vec<ObjectId> = query
                .inverse
                .iter()
                .flat_map(|attribute| self.inverse(attribute, &key).iter().copied())
                .filter(|&id| self.in_sources(id, query))
                .collect();
            self.sort_by_class(&mut ids);
            if query.hierarchy.is_some() {
                answer.warnings.push(Warning::UselessIpFlag);
            }
            ids
        } else {
            let classified = classify(&key).map_err(|e| QueryError::InvalidKey(e.0))?;
            if query.hierarchy.is_some() && !matches!(classified, SearchKey::Range { .. }) {
                answer.warnings.push(Warning::UselessIpFlag);
            }
            self.direct(&classified, &key, query)?
        };
        primaries.dedup();
        for primary in primaries {
            let related = if query.no_referenced {
                Vec::new()
            } else {
                self.related(primary, query)
            };
            answer.groups.push(Group { primary, related });
        }
        Ok(answer)
    }

    fn sort_by_class(&self, ids: &mut Vec<ObjectId>) {
        // One lower-cased key per object, not two per comparison.
        ids.sort_by_cached_key(|&id| {
            let o = self.object(id);
            (class_order(o.template.class), o.key.to_lowercase(), id)
        });
        ids.dedup();
    }

    /// What a key finds without `-i`.
    fn direct(
        &self,
        key: &SearchKey,
        text: &str,
        query: &Query,
    ) -> Result<Vec<ObjectId>, QueryError> {
        let wants =
            |class: &str| query.types.is_empty() || query.types.iter().any(|t| t.class == class);
        let mut out = Vec::new();
        match *key {
            SearchKey::Range {
                family,
                span,
                origin,
            } => {
                let (network, route) = match family {
                    Family::V4 => ("inetnum", "route"),
                    Family::V6 => ("inet6num", "route6"),
                };
                let classes: Vec<(&str, RangeKind)> =
                    [(network, RangeKind::Network), (route, RangeKind::Route)]
                        .into_iter()
                        .filter(|(class, kind)| {
                            wants(class) && (origin.is_none() || *kind == RangeKind::Route)
                        })
                        .collect();
                if classes.is_empty() {
                    return Err(QueryError::InvalidKey(
                        "the key is not valid for the selected object types".into(),
                    ));
                }
                if matches!(
                    query.hierarchy,
                    Some(Hierarchy::OneMore | Hierarchy::AllMore)
                ) && span.start == 0
                    && span.end == family_max(family)
                {
                    return Err(QueryError::TooLarge);
                }
                for (_, kind) in classes {
                    let Some(index) = self.ranges(family, kind) else {
                        continue;
                    };
                    let hierarchy = match (query.hierarchy, origin) {
                        (None, Some(_)) => Some(Hierarchy::Exact),
                        (h, _) => h,
                    };
                    let found: Vec<(Span, &[u32])> = match hierarchy {
                        None => index.most_specific(span).into_iter().collect(),
                        Some(Hierarchy::Exact) => {
                            let ids = index.exact(span);
                            if ids.is_empty() {
                                vec![]
                            } else {
                                vec![(span, ids)]
                            }
                        }
                        Some(Hierarchy::OneLess) => index.one_less(span).into_iter().collect(),
                        Some(Hierarchy::AllLess) => index.containing(span),
                        Some(Hierarchy::OneMore) => index.one_more(span),
                        Some(Hierarchy::AllMore) => index.all_more(span),
                    };
                    for (_, ids) in found {
                        for &id in ids {
                            if origin.is_some_and(|o| self.origin(id) != Some(o)) {
                                continue;
                            }
                            if self.in_sources(id, query) {
                                out.push(id);
                            }
                        }
                    }
                }
            }
            SearchKey::AsNumber(asn) => {
                if !query.types.is_empty()
                    && query
                        .types
                        .iter()
                        .all(|t| matches!(t.class, "inetnum" | "inet6num" | "route" | "route6"))
                {
                    return Err(QueryError::InvalidKey(
                        "the key is not valid for the selected object types".into(),
                    ));
                }
                if let Some(block) = self.as_block(asn) {
                    out.push(block);
                }
                out.extend(self.aut_num(asn));
                out.extend(self.text(text));
                out.retain(|&id| self.in_sources(id, query));
                let mut seen = Vec::new();
                out.retain(|id| {
                    let new = !seen.contains(id);
                    seen.push(*id);
                    new
                });
            }
            SearchKey::AsRange(a, b) => {
                let key = format!("AS{a} - AS{b}");
                for source in self.sources() {
                    if let Some(id) = self.get(source, "as-block", &key) {
                        if self.in_sources(id, query) {
                            out.push(id);
                        }
                    }
                }
            }
            SearchKey::Email(_) | SearchKey::Text(_) => {
                out = self.text(text);
                out.retain(|&id| self.in_sources(id, query));
                self.sort_by_class(&mut out);
            }
        }
        Ok(out)
    }

    /// The person, role, organisation (and with -c irt) objects `id` refers to, in class
    /// order then key, without `id` itself.
    pub fn related(&self, id: ObjectId, query: &Query) -> Vec<ObjectId> {
        let stored = self.object(id);
        let mut out = Vec::new();
        for attribute in stored.object.attributes() {
            if !(RELATED.contains(&attribute.name) || query.irt && attribute.name == "mnt-irt") {
                continue;
            }
            for value in attribute
                .value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                let found = match attribute.name {
                    "org" => self.get(&stored.source, "organisation", value),
                    "mnt-irt" => self.get(&stored.source, "irt", value),
                    _ => self
                        .get(&stored.source, "role", value)
                        .or_else(|| self.get(&stored.source, "person", value)),
                };
                if let Some(found) = found {
                    if found != id
                        && !out.contains(&found)
                        && !(query.no_personal
                            && matches!(self.template_of(found).class, "person" | "role"))
                    {
                        out.push(found);
                    }
                }
            }
        }
        // -c: an address range without an irt of its own takes its nearest ancestor's.
        let own_irt = stored.object.value("mnt-irt").is_some();
        if query.irt && !own_irt && matches!(stored.template.class, "inetnum" | "inet6num") {
            if let Some(irt) = self.inherited_irt(id) {
                if !out.contains(&irt) {
                    out.push(irt);
                }
            }
        }
        self.sort_by_class(&mut out);
        out
    }

    /// The irt named by the nearest enclosing range that names one.
    fn inherited_irt(&self, id: ObjectId) -> Option<ObjectId> {
        let mut at = self.parent(id);
        for _ in 0..64 {
            let parent = self.object(at?);
            if let Some(name) = parent.object.value("mnt-irt") {
                return self.get(&parent.source, "irt", name.split(',').next()?.trim());
            }
            at = self.parent(at?);
        }
        None
    }

    /// The object a reference names, of the classes it may point to.
    pub fn referenced(
        &self,
        source: &str,
        attribute: &str,
        value: &str,
    ) -> Option<(ObjectId, &'static str)> {
        let classes: &[&str] = match attribute {
            "admin-c" | "tech-c" | "zone-c" | "author" | "ping-hdl" => &["person", "role"],
            "abuse-c" => &["role"],
            "mnt-by" | "mnt-lower" | "mnt-ref" | "mnt-domains" | "mnt-routes" | "mbrs-by-ref" => {
                &["mntner"]
            }
            "org" | "sponsoring-org" => &["organisation"],
            "mnt-irt" => &["irt"],
            "member-of" => &["as-set", "route-set", "rtr-set"],
            "members" | "mp-members" => &["aut-num", "as-set", "route-set", "rtr-set"],
            _ => return None,
        };
        classes.iter().find_map(|class| {
            self.get(source, class, value)
                .map(|id| (id, self.template_of(id).class))
        })
    }

    /// The parent of an inetnum or inet6num: the smallest other object enclosing it.
    pub fn parent(&self, id: ObjectId) -> Option<ObjectId> {
        let stored = self.object(id);
        let (family, span) = super::key::parse_range(stored.object.first_value()).ok()?;
        let index = self.ranges(family, RangeKind::Network)?;
        index.one_less(span).and_then(|(_, ids)| {
            ids.iter()
                .copied()
                .find(|&p| *self.source_of(p) == stored.source)
        })
    }

    /// Abuse contact of an object (docs/registry.md, "Abuse contact"): `None` when nothing supplies one.
    pub fn abuse_contact(&self, id: ObjectId) -> AbuseContact {
        let mut contact = AbuseContact::default();
        let mut at = Some(id);
        let mut depth = 0;
        while let Some(current) = at {
            let stored = self.object(current);
            if contact.org_id.is_none() {
                contact.org_id = stored
                    .object
                    .value("sponsoring-org")
                    .or_else(|| stored.object.value("org"))
                    .map(str::to_string);
            }
            if contact.role.is_none() {
                let own = stored
                    .object
                    .value("abuse-c")
                    .and_then(|h| self.abuse_role(&stored.source, h));
                let via_org = || {
                    let org =
                        self.get(&stored.source, "organisation", stored.object.value("org")?)?;
                    let org = self.object(org);
                    let handle = org.object.value("abuse-c")?;
                    self.abuse_role(&stored.source, handle)
                };
                contact.role = own.or_else(via_org);
            }
            if contact.role.is_some() && contact.org_id.is_some() {
                break;
            }
            let inherits = matches!(stored.template.class, "inetnum" | "inet6num")
                && !stored
                    .object
                    .attributes()
                    .filter(|a| a.name == "mnt-by" || a.name == "mnt-lower")
                    .flat_map(|a| a.value.split(','))
                    .any(|m| {
                        STOP_MAINTAINERS
                            .iter()
                            .any(|s| s.eq_ignore_ascii_case(m.trim()))
                    });
            depth += 1;
            at = if inherits && depth < 64 {
                self.parent(current)
            } else {
                None
            };
            if contact.role.is_some() {
                // Only the org-id may still come from further up.
                if at.is_none() {
                    break;
                }
            }
        }
        contact
    }

    fn abuse_role(&self, source: &str, handle: &str) -> Option<ObjectId> {
        let role = self.get(source, "role", handle)?;
        self.object(role)
            .object
            .value("abuse-mailbox")
            .filter(|m| !m.is_empty())?;
        Some(role)
    }

    /// Geolocation of a key's chain (docs/registry.md, "Geolocation"): from the most specific range out.
    pub fn geolocation(&self, family: Family, span: Span) -> Geolocation {
        let mut geo = Geolocation::default();
        let Some(index) = self.ranges(family, RangeKind::Network) else {
            return geo;
        };
        let chain = index.containing(span);
        for (_, ids) in chain.iter().rev() {
            let Some(&id) = ids.first() else { continue };
            let stored = self.object(id);
            let org = stored
                .object
                .value("org")
                .and_then(|o| self.get(&stored.source, "organisation", o));
            if geo.location.is_none() {
                geo.location = stored
                    .object
                    .value("geoloc")
                    .map(|v| (v.to_string(), id))
                    .or_else(|| {
                        let org = org?;
                        self.object(org)
                            .object
                            .value("geoloc")
                            .map(|v| (v.to_string(), org))
                    });
            }
            if geo.languages.is_empty() {
                let own: Vec<(String, ObjectId)> = stored
                    .object
                    .values("language")
                    .map(|v| (v.to_string(), id))
                    .collect();
                geo.languages = if own.is_empty() {
                    org.map(|org| {
                        self.object(org)
                            .object
                            .values("language")
                            .map(|v| (v.to_string(), org))
                            .collect()
                    })
                    .unwrap_or_default()
                } else {
                    own
                };
            }
            if geo.location.is_some() && !geo.languages.is_empty() {
                break;
            }
            let status = stored
                .object
                .value("status")
                .unwrap_or("")
                .to_ascii_uppercase();
            let stops: &[&str] = match family {
                Family::V4 => &[
                    "ASSIGNED PI",
                    "ASSIGNED ANYCAST",
                    "ALLOCATED PA",
                    "ALLOCATED-ASSIGNED PA",
                    "ALLOCATED UNSPECIFIED",
                ],
                Family::V6 => &["ASSIGNED PI", "ASSIGNED ANYCAST", "ALLOCATED-BY-RIR"],
            };
            if stops.contains(&status.as_str()) {
                break;
            }
        }
        geo
    }

    /// The object an abuse-contact or lookup of a resource finds: an AS number's aut-num,
    /// an address form's exact or nearest enclosing inetnum/inet6num.
    pub fn resource(&self, key: &SearchKey) -> Option<ObjectId> {
        match *key {
            SearchKey::AsNumber(asn) => self.aut_num(asn).first().copied(),
            SearchKey::Range {
                family,
                span,
                origin: None,
            } => self
                .ranges(family, RangeKind::Network)?
                .most_specific(span)
                .and_then(|(_, ids)| ids.first().copied()),
            _ => None,
        }
    }

    /// Whether an object is the whole address space (no abuse contact is reported for it).
    pub fn is_whole_space(&self, id: ObjectId) -> bool {
        let stored: &Stored = &self.object(id);
        matches!(stored.template.class, "inetnum" | "inet6num")
            && super::key::parse_range(stored.object.first_value())
                .is_ok_and(|(family, span)| span.start == 0 && span.end == family_max(family))
    }
}

/// Maintainers of the registry itself: abuse contacts are not inherited past objects they
/// maintain (top-level allocations).
pub const STOP_MAINTAINERS: &[&str] = &["RIPE-NCC-HM-MNT"];

fn family_max(family: Family) -> u128 {
    match family {
        Family::V4 => u32::MAX as u128,
        Family::V6 => u128::MAX,
    }
}

/// An abuse contact: the role that has the mailbox, and the organisation reported with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbuseContact {
    pub role: Option<ObjectId>,
    pub org_id: Option<String>,
}

/// Geolocation values, each with the object that supplied it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Geolocation {
    pub location: Option<(String, ObjectId)>,
    pub languages: Vec<(String, ObjectId)>,
}

/// What the registry says of one address, for APIs that are not the registry's own
/// (ipintel's `/v1/ip`, QRadar's WHOIS task): the most specific inetnum or inet6num that
/// holds it (never the whole-space placeholder), its organisation and abuse contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covering {
    pub id: ObjectId,
    pub source: String,
    /// `192.0.2.0 - 192.0.2.255`, `2001:db8::/32`.
    pub range: String,
    pub netname: Option<String>,
    pub country: Option<String>,
    /// (organisation id, org-name).
    pub org: Option<(String, Option<String>)>,
    /// (role handle, abuse-mailbox).
    pub abuse: Option<(String, String)>,
}

impl Registry {
    /// The registry's range for an address, if it holds one.
    pub fn covering(&self, ip: std::net::IpAddr) -> Option<Covering> {
        let (family, at) = match ip {
            std::net::IpAddr::V4(v4) => (Family::V4, u32::from(v4) as u128),
            std::net::IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
        };
        let id = self.resource(&SearchKey::Range {
            family,
            span: Span::new(at, at)?,
            origin: None,
        })?;
        if self.is_whole_space(id) {
            return None;
        }
        let stored = self.object(id);
        let value = |name: &str| stored.object.value(name).map(str::to_string);
        let org = value("org").map(|org_id| {
            let name = self
                .get(&stored.source, "organisation", &org_id)
                .and_then(|o| self.object(o).object.value("org-name").map(str::to_string));
            (org_id, name)
        });
        let abuse = self.abuse_contact(id).role.map(|role| {
            let role = self.object(role);
            (
                role.key.to_string(),
                role.object.value("abuse-mailbox").unwrap_or("").to_string(),
            )
        });
        let range = match super::key::parse_range(stored.object.first_value()) {
            Ok((family, span)) => super::key::format_span(family, span),
            Err(_) => stored.key.to_string(),
        };
        Some(Covering {
            id,
            source: stored.source.to_string(),
            range,
            netname: value("netname"),
            country: value("country"),
            org,
            abuse,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_entries_never_names_a_blank_source() {
        let (text, arg) = no_entries_text(&[]);
        assert!(text.contains("holds no objects yet") && arg.is_none());
        let (text, arg) = no_entries_text(&[String::new()]);
        assert!(text.contains("holds no objects yet") && arg.is_none());
        let (text, arg) = no_entries_text(&["RIPE".into(), "TEST".into()]);
        assert!(text.ends_with("in source %s."));
        assert_eq!(arg.as_deref(), Some("RIPE,TEST"));
    }
}
