//! Registry objects as RIPE's WhoisObject (JSON and XML through [`Node`]) and as RPSL text:
//! locators to referenced objects, list attributes split per element, filtering markers,
//! and the optional abuse-contact, resource-holder and managed members.

use std::borrow::Cow;

use ipintel_core::registry::index::{ObjectId, Registry, Stored};
use ipintel_core::registry::query::STOP_MAINTAINERS;
use ipintel_core::registry::unlock::Unlocker;
use ipintel_core::registry::versions::AbuseMailbox;
use ipintel_core::registry::view::{rpsl_text, view_with, View};

use super::doc::Node;

/// Attributes whose values are comma-separated lists, shown one element per attribute.
const LISTS: &[&str] = &[
    "members",
    "mp-members",
    "mnt-by",
    "mnt-lower",
    "mnt-ref",
    "mnt-domains",
    "mnt-routes",
    "mnt-irt",
    "member-of",
    "mbrs-by-ref",
    "holes",
];

/// How objects are shown in one answer.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub unformatted: bool,
    pub unfiltered: bool,
    pub managed: bool,
    pub resource_holder: bool,
    pub abuse_contact: bool,
    /// The request's maintainer passwords and what they unlocked.
    pub unlock: Unlocker,
}

pub struct Renderer<'a> {
    // Documents borrow from the registry generation the request holds.
    pub registry: &'a Registry,
    pub base: &'a str,
    pub options: &'a Options,
}

/// `{base}/{source}/{type}/{key}`: the locator of an object.
pub fn object_url(base: &str, source: &str, class: &str, key: &str) -> String {
    format!(
        "{base}/{}/{class}/{}",
        source.to_ascii_lowercase(),
        encode_key(key)
    )
}

/// A key in a URL path: spaces and the characters a path cannot hold percent-encoded
/// (`/` stays: RIPE's paths hold prefixes as they are).
fn encode_key(key: &str) -> String {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'%');
    percent_encoding::utf8_percent_encode(key, PATH).to_string()
}

impl Renderer<'_> {
    pub fn view<'s>(&self, id: Option<ObjectId>, stored: &'s Stored, with_raw: bool) -> View<'s> {
        let unlocked = id.is_some_and(|id| self.options.unlock.unlocks(self.registry, id));
        view_with(stored, self.options.unfiltered, unlocked, with_raw)
    }

    /// One WhoisObject. `id` is `None` for an old version (not in the registry); `version`
    /// is set for `/versions/{n}`.
    pub fn object<'s>(
        &self,
        id: Option<ObjectId>,
        stored: &'s Stored,
        version: Option<u32>,
    ) -> Node<'s> {
        let shown = self.view(id, stored, self.options.unformatted);
        let class = stored.template.class;
        let source = &*stored.source;
        let mut members = vec![
            ("type", Node::str(class)),
            (
                "link",
                Node::Locator(object_url(self.base, source, class, &stored.key)),
            ),
            (
                "source",
                Node::obj(vec![("id", Node::str(source.to_ascii_lowercase()))]),
            ),
        ];
        let primary: Vec<Node<'s>> = stored
            .template
            .primary_key()
            .filter_map(|a| {
                let value = stored.object.value(a.name)?;
                Some(Node::obj(vec![
                    ("name", Node::str(a.name)),
                    ("value", Node::str(value)),
                ]))
            })
            .collect();
        members.push(("primary-key", Node::wrap("attribute", primary)));
        let managed_object = self.options.managed && is_managed(stored);
        let mut attributes = Vec::new();
        for a in shown.attributes {
            if self.options.unformatted {
                let mut m = vec![("name", Node::str(a.name)), ("value", Node::str(a.raw))];
                if self.options.managed {
                    m.push((
                        "managed",
                        Node::Bool(managed_object && managed_attribute(stored, a.name)),
                    ));
                }
                attributes.push(Node::obj(m));
                continue;
            }
            let values: Vec<Cow<'s, str>> = match a.value {
                Cow::Borrowed(value) if LISTS.contains(&a.name) => value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(Cow::Borrowed)
                    .collect(),
                value => vec![value],
            };
            for value in values {
                let mut m = Vec::with_capacity(5);
                let referenced = self.referenced(source, a.name, &value);
                if let Some((class, key)) = &referenced {
                    m.push((
                        "link",
                        Node::Locator(object_url(self.base, source, class, key)),
                    ));
                }
                m.push(("name", Node::str(a.name)));
                m.push(("value", Node::Str(value)));
                if let Some(comment) = &a.comment {
                    m.push(("comment", Node::Str(comment.clone())));
                }
                if let Some((class, _)) = referenced {
                    m.push(("referenced-type", Node::str(class)));
                }
                if self.options.managed {
                    m.push((
                        "managed",
                        Node::Bool(managed_object && managed_attribute(stored, a.name)),
                    ));
                }
                attributes.push(Node::obj(m));
            }
        }
        members.push(("attributes", Node::wrap("attribute", attributes)));
        let resource = matches!(class, "inetnum" | "inet6num" | "aut-num");
        if let (true, true, Some(id)) = (self.options.resource_holder, resource, id) {
            if let Some(org) = self.resource_holder(id) {
                let org = self.registry.object(org);
                members.push((
                    "resource-holder",
                    Node::obj(vec![
                        ("key", Node::str(org.key.to_string())),
                        (
                            "name",
                            Node::str(org.object.value("org-name").unwrap_or("").to_string()),
                        ),
                    ]),
                ));
            }
        }
        if let (true, true, Some(id)) = (
            self.options.abuse_contact,
            resource || class == "organisation",
            id,
        ) {
            members.push(("abuse-contact", self.abuse_contact(id)));
        }
        if self.options.managed {
            members.push(("managed", Node::Bool(managed_object)));
        }
        if let Some(n) = version {
            members.push(("version", Node::Int(n as i64)));
        }
        Node::obj(members)
    }

    /// `{key, email, suspect, org-id}` of an object's abuse contact (empty when none).
    pub fn abuse_contact(&self, id: ObjectId) -> Node<'static> {
        abuse_node(self.registry.abuse_mailbox(id))
    }

    fn resource_holder(&self, id: ObjectId) -> Option<ObjectId> {
        let mut at = Some(id);
        for _ in 0..64 {
            let current = at?;
            let stored = self.registry.object(current);
            if let Some(org) = stored.object.value("org") {
                return self.registry.get(&stored.source, "organisation", org);
            }
            at = self.registry.parent(current);
        }
        None
    }

    /// The class and key an attribute value points to, when that object exists.
    fn referenced(&self, source: &str, name: &str, value: &str) -> Option<(&'static str, String)> {
        if name == "auth" || name == "signature" || name == "encryption" {
            let upper = value.to_ascii_uppercase();
            if upper.starts_with("PGPKEY-") || upper.starts_with("X509-") {
                return self
                    .registry
                    .get(source, "key-cert", value)
                    .map(|id| ("key-cert", self.registry.key_of(id).to_string()));
            }
            return None;
        }
        if name == "mbrs-by-ref" && value.eq_ignore_ascii_case("ANY") {
            return None;
        }
        let (id, class) = self.registry.referenced(source, name, value)?;
        Some((class, self.registry.key_of(id).to_string()))
    }

    /// The RPSL text of an object as shown, then a blank line.
    pub fn text(&self, id: Option<ObjectId>, stored: &Stored, out: &mut String) {
        let shown = self.view(id, stored, true);
        rpsl_text(&shown, out);
        out.push('\n');
    }
}

/// Objects maintained by the registry itself (its top-level allocations).
fn is_managed(stored: &Stored) -> bool {
    stored
        .object
        .values("mnt-by")
        .flat_map(|v| v.split(','))
        .any(|m| {
            STOP_MAINTAINERS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(m.trim()))
        })
}

/// The attributes of a managed object only the registry may change.
fn managed_attribute(stored: &Stored, name: &str) -> bool {
    stored.template.attribute(name).is_some_and(|a| a.primary)
        || matches!(
            name,
            "status" | "org" | "sponsoring-org" | "mnt-by" | "source" | "netname" | "as-name"
        )
}

/// `{key, email, suspect, org-id}` of an abuse contact.
pub fn abuse_node(abuse: AbuseMailbox) -> Node<'static> {
    Node::obj(vec![
        ("key", Node::str(abuse.role_key)),
        ("email", Node::str(abuse.email)),
        ("suspect", Node::Bool(false)),
        ("org-id", Node::str(abuse.org_id)),
    ])
}
