//! Bulk requests: which terms a request holds and what kind each one is.
//!
//! A term is an IP address (looked up as is), a domain name (resolved, then every address
//! looked up) or an e-mail address (its domain's mail exchangers, else the domain). Anything
//! else is invalid and costs nothing. Terms are deduplicated by their canonical form (the
//! address's canonical text, the name in lower case without a trailing dot), so a list with
//! repeats is processed and charged once per distinct term; the first spelling is the one
//! results carry in `term`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

/// The longest term accepted: an e-mail address's limit (RFC 5321 path, less the brackets).
pub const MAX_TERM_LEN: usize = 254;

/// What a valid term asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Ip(IpAddr),
    /// A host or domain name, lower case, no trailing dot.
    Domain(String),
    /// An e-mail address; only its domain (lower case) matters.
    Email {
        domain: String,
    },
}

impl Term {
    /// Classify one term as given (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<Term, &'static str> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty term");
        }
        if text.len() > MAX_TERM_LEN {
            return Err("longer than 254 characters");
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Term::Ip(ip));
        }
        if let Some((local, domain)) = text.rsplit_once('@') {
            if local.is_empty() || local.len() > 64 || local.chars().any(char::is_whitespace) {
                return Err("not a valid e-mail address");
            }
            return domain_name(domain)
                .map(|domain| Term::Email { domain })
                .ok_or("e-mail address without a valid domain name");
        }
        domain_name(text)
            .map(Term::Domain)
            .ok_or("not an IP address, domain name or e-mail address")
    }

    /// The form duplicates are recognised by; borrowed from `text` when `text` is already
    /// canonical (most are), so a 100,000-term request does not copy every term again.
    pub fn canonical<'a>(&self, text: &'a str) -> Canonical<'a> {
        let text = text.trim();
        match self {
            Term::Ip(ip) => Canonical::Ip(*ip),
            Term::Domain(name) if name == text => Canonical::Name(Cow::Borrowed(text)),
            Term::Domain(name) => Canonical::Name(Cow::Owned(name.clone())),
            Term::Email { domain } => {
                let (local, given) = text.rsplit_once('@').unwrap_or(("", text));
                if given == domain {
                    Canonical::Name(Cow::Borrowed(text))
                } else {
                    Canonical::Name(Cow::Owned(format!("{local}@{domain}")))
                }
            }
        }
    }
}

/// A term's identity for deduplication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Canonical<'a> {
    Ip(IpAddr),
    /// A domain name, or an e-mail address with its domain in canonical form.
    Name(Cow<'a, str>),
    /// An invalid term, as given (trimmed).
    Invalid(&'a str),
}

/// A domain name in canonical form, if `text` is one: LDH labels (underscores allowed, as in
/// service names) of 1 to 63 characters, at least two labels, 253 characters at most, and a
/// top-level label that is not all digits (so `1.2.3` is not a name). Internationalised
/// names must be given in their `xn--` form.
fn domain_name(text: &str) -> Option<String> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !labels.iter().all(label_ok) || labels.last()?.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(name)
}

/// A request's terms after classification, borrowed from the request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Classified<'a> {
    /// Distinct valid terms, trimmed, in request order.
    pub valid: Vec<&'a str>,
    /// Distinct invalid terms with the reason.
    pub invalid: Vec<(&'a str, &'static str)>,
    /// Terms dropped as repeats of an earlier one.
    pub duplicates: u64,
}

impl Classified<'_> {
    /// Distinct terms, valid or not: the request's `total_terms`.
    pub fn total(&self) -> u64 {
        (self.valid.len() + self.invalid.len()) as u64
    }
}

/// Classify and deduplicate a request's terms.
pub fn classify<'a>(terms: impl IntoIterator<Item = &'a str>) -> Classified<'a> {
    let mut seen = HashSet::new();
    let mut out = Classified::default();
    for text in terms {
        let trimmed = text.trim();
        let (key, outcome) = match Term::parse(trimmed) {
            Ok(term) => (term.canonical(trimmed), Ok(())),
            Err(reason) => (Canonical::Invalid(trimmed), Err(reason)),
        };
        if !seen.insert(key) {
            out.duplicates += 1;
            continue;
        }
        match outcome {
            Ok(()) => out.valid.push(trimmed),
            Err(reason) => out.invalid.push((trimmed, reason)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_classified() {
        assert_eq!(
            Term::parse(" 8.8.8.8 "),
            Ok(Term::Ip("8.8.8.8".parse().unwrap()))
        );
        assert_eq!(
            Term::parse("2001:DB8::1"),
            Ok(Term::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            Term::parse("Mail.Example.COM."),
            Ok(Term::Domain("mail.example.com".into()))
        );
        assert_eq!(
            Term::parse("Alex@Hotmail.EDU"),
            Ok(Term::Email {
                domain: "hotmail.edu".into()
            })
        );
        assert_eq!(
            Term::parse("_dmarc.example.org"),
            Ok(Term::Domain("_dmarc.example.org".into()))
        );
        for bad in [
            "",
            "   ",
            "localhost",
            "1.2.3",
            "256.1.1.1",
            "exa mple.com",
            "-bad.example",
            "bad-.example",
            "a..b",
            "@example.com",
            "user@",
            "user@nodot",
            "http://example.com/",
            "münchen.de",
        ] {
            assert!(Term::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}.com", "a".repeat(251));
        assert_eq!(Term::parse(&long), Err("longer than 254 characters"));
        let label = format!("{}.com", "a".repeat(64));
        assert!(Term::parse(&label).is_err());
    }

    #[test]
    fn duplicates_are_dropped_by_canonical_form() {
        let c = classify([
            "8.8.8.8",
            "Example.com",
            "example.COM.",
            "::ffff:1.2.3.4",
            "::FFFF:1.2.3.4",
            "a@Example.com",
            "a@example.com",
            "A@example.com",
            "nonsense",
            "nonsense",
            " 8.8.8.8",
        ]);
        assert_eq!(
            c.valid,
            [
                "8.8.8.8",
                "Example.com",
                "::ffff:1.2.3.4",
                "a@Example.com",
                "A@example.com"
            ]
        );
        assert_eq!(
            c.invalid,
            [(
                "nonsense",
                "not an IP address, domain name or e-mail address"
            )]
        );
        assert_eq!((c.duplicates, c.total()), (5, 6));
    }
}
