//! The versions use case (`--list-versions`, `--show-version`, REST `/versions`), once for
//! every front end: which object is versioned, where its history comes from, and the
//! numbered errors RIPE gives when it cannot be listed or a revision does not exist.

use super::index::{canonical_key, Registry, Stored};
use super::service::RegistryService;
use super::template::Template;
use crate::store::{History, StoreError, VersionRow};
use crate::ErrorKind;

/// Why versions cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum VersionsError {
    /// Persons and roles keep no public history (RIPE hides it).
    #[error("ERROR:116: unsupported query\n\nVersions are not supported for PERSON/ROLE objects")]
    NotVersioned,
    /// No object of that key ever existed (the front end says "no entries" its own way).
    #[error("no entries")]
    NotFound,
    /// The revision asked is past the last one.
    #[error("ERROR:117: version cannot exceed {0} for this object\n\nThe versions of this object are 1 to {0}.")]
    OutOfRange(usize),
    /// A stored revision no longer parses, or the store failed.
    #[error("ERROR:100: internal software error")]
    Internal,
    #[error("ERROR:100: internal software error")]
    Store(#[source] StoreError),
}

impl VersionsError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            VersionsError::NotVersioned
            | VersionsError::NotFound
            | VersionsError::OutOfRange(_) => ErrorKind::NotFound,
            VersionsError::Internal => ErrorKind::Internal,
            VersionsError::Store(e) => e.kind(),
        }
    }
}

/// An object's history since it was last created.
#[derive(Debug)]
pub struct Versions {
    pub source: String,
    pub template: &'static Template,
    /// The key as the current object writes it (the asked key when it is deleted now).
    pub key: String,
    /// Oldest first; the last is current. Empty when the object is deleted now.
    pub rows: Vec<VersionRow>,
}

impl Versions {
    /// Revision `n` as an object to render (with today's key spelling), and whether it
    /// is the current one.
    pub fn revision(&self, n: u32) -> Result<(Stored, &VersionRow), VersionsError> {
        let Some(row) = self.rows.iter().find(|r| r.revision == n) else {
            return Err(match self.rows.len() {
                0 => VersionsError::NotFound,
                count => VersionsError::OutOfRange(count),
            });
        };
        let Some(Ok(object)) = super::rpsl::parse(&row.text).next() else {
            tracing::error!(key = %self.key, revision = n, "a stored revision does not parse");
            return Err(VersionsError::Internal);
        };
        let stored = Stored {
            source: self.source.as_str().into(),
            template: self.template,
            key: self.key.as_str().into(),
            object,
        };
        Ok((stored, row))
    }

    /// Whether `n` is the current revision.
    pub fn is_current(&self, n: u32) -> bool {
        self.rows.last().is_some_and(|r| r.revision == n)
    }
}

impl RegistryService {
    /// The versions of `source`'s `template` object `key`, read from the store.
    pub async fn versions(
        &self,
        registry: &Registry,
        source: &str,
        template: &'static Template,
        key: &str,
    ) -> Result<Versions, VersionsError> {
        if matches!(template.class, "person" | "role") {
            return Err(VersionsError::NotVersioned);
        }
        let canonical = canonical_key(template, key).ok_or(VersionsError::NotFound)?;
        let history = self
            .history(source, template.class, &canonical)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "registry history read failed");
                VersionsError::Store(e)
            })?;
        let rows = match history {
            History::Never => return Err(VersionsError::NotFound),
            History::Deleted => Vec::new(),
            History::Versions(rows) => rows,
        };
        let key = registry.get(source, template.class, key).map_or_else(
            || key.trim().to_string(),
            |id| registry.key_of(id).to_string(),
        );
        Ok(Versions {
            source: source.to_string(),
            template,
            key,
            rows,
        })
    }
}

/// An abuse contact as both front ends show it: the resource's key as announced, the
/// role's key and `abuse-mailbox:`, and the organisation that supplied it (empty strings
/// where nothing does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbuseMailbox {
    pub resource: String,
    pub role_key: String,
    pub email: String,
    pub org_id: String,
}

impl AbuseMailbox {
    /// The sentence RIPE puts before a resource (`% ` comment lines are the front end's).
    pub fn sentence(&self) -> String {
        match self.email.as_str() {
            "" => format!("No abuse contact registered for {}", self.resource),
            email => format!("Abuse contact for '{}' is '{email}'", self.resource),
        }
    }
}

/// The key an object is announced by: an IPv4 inetnum as `a - b` (however it was
/// written), a route with its origin (`192.0.2.0/24AS64496`), the rest as written.
pub fn announced_key(stored: &Stored) -> String {
    use super::key::{format_span, parse_range, Family};
    if stored.template.class == "inetnum" {
        if let Ok((Family::V4, span)) = parse_range(stored.object.first_value()) {
            return format_span(Family::V4, span);
        }
    }
    stored.key.to_string()
}

impl Registry {
    /// The abuse mailbox of object `id` (inherited as docs/registry.md describes).
    pub fn abuse_mailbox(&self, id: super::index::ObjectId) -> AbuseMailbox {
        let contact = self.abuse_contact(id);
        let (role_key, email) = contact.role.map_or_else(Default::default, |role| {
            let role = self.object(role);
            (
                role.key.to_string(),
                role.object.value("abuse-mailbox").unwrap_or("").to_string(),
            )
        });
        AbuseMailbox {
            resource: announced_key(&self.object(id)),
            role_key,
            email,
            org_id: contact.org_id.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(rows: usize) -> Versions {
        Versions {
            source: "TEST".into(),
            template: super::super::template::template("aut-num").unwrap(),
            key: "AS64496".into(),
            rows: (1..=rows as u32)
                .map(|revision| VersionRow {
                    revision,
                    at: 1_700_000_000 + revision as i64,
                    text: format!("aut-num: AS64496\nas-name: REV-{revision}\nsource: TEST\n"),
                })
                .collect(),
        }
    }

    #[test]
    fn a_revision_is_found_or_refused_with_ripes_numbers() {
        let versions = history(2);
        let (stored, row) = versions.revision(1).unwrap();
        assert_eq!(stored.object.value("as-name"), Some("REV-1"));
        assert_eq!(row.revision, 1);
        assert!(!versions.is_current(1) && versions.is_current(2));
        let past = versions.revision(3).unwrap_err();
        assert!(past
            .to_string()
            .starts_with("ERROR:117: version cannot exceed 2"));
        assert_eq!(past.kind(), ErrorKind::NotFound);
        // Deleted now: no revision exists, which is "no entries", not ERROR:117.
        assert!(matches!(
            history(0).revision(1),
            Err(VersionsError::NotFound)
        ));
    }

    #[test]
    fn the_abuse_sentence_names_the_resource_either_way() {
        let mut abuse = AbuseMailbox {
            resource: "192.0.2.0 - 192.0.2.255".into(),
            ..AbuseMailbox::default()
        };
        assert_eq!(
            abuse.sentence(),
            "No abuse contact registered for 192.0.2.0 - 192.0.2.255"
        );
        abuse.email = "abuse@example.net".into();
        assert_eq!(
            abuse.sentence(),
            "Abuse contact for '192.0.2.0 - 192.0.2.255' is 'abuse@example.net'"
        );
    }
}
