//! An object as a reader may see it (docs/registry.md and docs/whois.md): `e-mail`,
//! `notify` and the other notification attributes removed unless unfiltered, password
//! hashes masked unless a maintainer's password unlocks the object, `source` marked
//! `Filtered` when anything was hidden; and the RPSL text form of the result.

use std::borrow::Cow;

use super::index::Stored;

/// Attributes removed by default (never `abuse-mailbox` or `irt-nfy`).
const NOTIFICATIONS: &[&str] = &["e-mail", "notify", "ref-nfy", "mnt-nfy", "upd-to"];

/// One attribute as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown<'a> {
    pub name: &'a str,
    /// Normalised value (or the scheme alone for a masked password).
    pub value: Cow<'a, str>,
    pub comment: Option<Cow<'a, str>>,
    /// The value as written after `name:`, continuation lines and comments included.
    pub raw: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View<'a> {
    pub attributes: Vec<Shown<'a>>,
    /// Something was removed or masked.
    pub filtered: bool,
}

/// Whether an `auth` value is a password hash (or SSO) that is masked.
fn masked_scheme(value: &str) -> Option<&str> {
    let scheme = value.split_whitespace().next()?;
    let upper = scheme.to_ascii_uppercase();
    (upper.ends_with("-PW") || upper == "SSO").then_some(scheme)
}

/// The view of `stored`: `unfiltered` keeps notification attributes, `unlocked` shows
/// password hashes; `with_raw` fills `raw` from the object's text (else `raw` is the value).
pub fn view<'a>(stored: &'a Stored, unfiltered: bool, unlocked: bool) -> View<'a> {
    view_with(stored, unfiltered, unlocked, true)
}

/// [`view`], reading the raw values only when asked (text output, `unformatted`).
pub fn view_with<'a>(
    stored: &'a Stored,
    unfiltered: bool,
    unlocked: bool,
    with_raw: bool,
) -> View<'a> {
    let raws = if with_raw {
        raw_values(&stored.object.text)
    } else {
        Vec::new()
    };
    let mut filtered = false;
    let mut attributes = Vec::with_capacity(stored.object.attributes().len());
    for (i, attribute) in stored.object.attributes().enumerate() {
        let raw = raws
            .get(i)
            .filter(|(name, _)| name.eq_ignore_ascii_case(attribute.name))
            .map_or(Cow::Borrowed(attribute.value), |(_, raw)| {
                Cow::Borrowed(*raw)
            });
        if attribute.name == "changed" {
            continue;
        }
        if !unfiltered && NOTIFICATIONS.contains(&attribute.name) {
            filtered = true;
            continue;
        }
        if attribute.name == "auth" && !unlocked {
            if let Some(scheme) = masked_scheme(attribute.value) {
                filtered = true;
                attributes.push(Shown {
                    name: attribute.name,
                    value: Cow::Borrowed(scheme),
                    comment: Some(Cow::Borrowed("Filtered")),
                    raw: Cow::Owned(format!("{scheme} # Filtered")),
                });
                continue;
            }
        }
        attributes.push(Shown {
            name: attribute.name,
            value: Cow::Borrowed(attribute.value),
            comment: attribute.comment.map(Cow::Borrowed),
            raw,
        });
    }
    if filtered {
        if let Some(source) = attributes.iter_mut().rev().find(|a| a.name == "source") {
            source.comment = Some(Cow::Borrowed("Filtered"));
            source.raw = Cow::Owned(format!("{} # Filtered", source.value));
        }
    }
    View {
        attributes,
        filtered,
    }
}

/// (name, raw value) of each attribute of an object's text, in order: the text after the
/// colon with its continuation lines (newlines kept), comment lines left out.
pub fn raw_values(text: &str) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    let mut current: Option<(&str, usize, usize)> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        if body.starts_with('%') || body.starts_with('#') {
            continue;
        }
        if body.starts_with([' ', '\t', '+']) {
            if let Some((_, _, end)) = &mut current {
                *end = start + body.len();
            }
            continue;
        }
        if let Some((name, from, to)) = current.take() {
            out.push((name, &text[from..to.max(from)]));
        }
        if let Some(colon) = body.find(':') {
            current = Some((&body[..colon], start + colon + 1, start + body.len()));
        }
    }
    if let Some((name, from, to)) = current {
        out.push((name, &text[from..to.max(from)]));
    }
    out
}

/// The RPSL text of a view: `name:` padded to 16 columns, continuation lines re-indented
/// to column 17, one line per attribute, ending in `\n`.
pub fn rpsl_text(view: &View<'_>, out: &mut String) {
    for a in &view.attributes {
        let head = format!("{}:", a.name);
        out.push_str(&head);
        let pad = if head.len() >= 16 { 1 } else { 16 - head.len() };
        let mut lines = a.raw.split('\n');
        let first = lines.next().unwrap_or("").trim();
        if !first.is_empty() {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(first);
        }
        out.push('\n');
        for line in lines {
            let line = line.trim_end_matches('\r');
            let rest = line[1.min(line.len())..].trim();
            // An empty continuation is written `+` whatever started it: a line of spaces
            // would look blank, and a client that trims lines would split the object there.
            if rest.is_empty() {
                out.push_str("+\n");
                continue;
            }
            out.push_str(&" ".repeat(16));
            out.push_str(rest);
            out.push('\n');
        }
    }
}

/// An object as IRRd shows it in `!m`, `!o` and `!r` answers (and NRTM): every attribute
/// kept (`changed:`, notifications, `source:` as written), comment lines dropped, names
/// lower-cased and padded to 16 columns, values trimmed, each continuation line behind its
/// own continuation character and 15 spaces (`+` for an empty one, so no line of the object
/// looks blank), and password hashes replaced by IRRd's placeholder.
pub fn irrd_text(stored: &Stored, out: &mut String) {
    irrd_text_of(&stored.object.text, out)
}

/// [`irrd_text`] of an object's stored text (an NRTM journal entry).
pub fn irrd_text_of(text: &str, out: &mut String) {
    let start = out.len();
    let class = text.split(':').next().unwrap_or("").trim();
    let routes = class.eq_ignore_ascii_case("route") || class.eq_ignore_ascii_case("route6");
    for (name, raw) in raw_values(text) {
        let name = name.to_ascii_lowercase();
        // IRRd discards its own RPKI verdict on routes; a mirror never repeats it.
        if routes && name == "rpki-ov-state" {
            continue;
        }
        // IRRd's value: the first line trimmed, then "\n" and each continuation trimmed
        // after its continuation character; leading and trailing empty lines fall away.
        let mut lines = raw.split('\n');
        let mut value = lines.next().unwrap_or("").trim().to_string();
        let mut marks: Vec<char> = Vec::new();
        for line in lines {
            let line = line.trim_end_matches('\r');
            let mut chars = line.chars();
            marks.push(chars.next().unwrap_or(' '));
            value.push('\n');
            value.push_str(chars.as_str().trim());
        }
        let head = format!("{name}:");
        out.push_str(&head);
        let value = value.trim_matches('\n');
        if value.is_empty() {
            out.push('\n');
            continue;
        }
        out.extend(std::iter::repeat_n(' ', 16usize.saturating_sub(head.len())));
        for (i, line) in value.split('\n').enumerate() {
            let line = line.trim_matches('\r');
            if i > 0 {
                let mark = if line.is_empty() {
                    '+'
                } else {
                    marks.get(i - 1).copied().unwrap_or(' ')
                };
                out.push(mark);
                out.push_str(&" ".repeat(15));
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    let masked = mask_hashes(&out[start..]);
    if let Cow::Owned(masked) = masked {
        out.truncate(start);
        out.push_str(&masked);
    }
}

/// IRRd's hash filter: from a hash scheme's name (any case, anywhere in the text) to the
/// end of its line becomes the scheme and `DummyValue  # Filtered for security`.
fn mask_hashes(text: &str) -> Cow<'_, str> {
    const SCHEMES: [&str; 3] = ["CRYPT-PW", "MD5-PW", "BCRYPT-PW"];
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let scheme = SCHEMES.iter().find(|scheme| {
            bytes.len() > at + scheme.len()
                && bytes[at..at + scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
                && bytes[at + scheme.len()] != b'\n'
        });
        let Some(scheme) = scheme else {
            at += 1;
            continue;
        };
        let name_end = at + scheme.len();
        let line_end = text[name_end..]
            .find('\n')
            .map_or(text.len(), |n| name_end + n);
        out.push_str(&text[copied..name_end]);
        out.push_str(" DummyValue  # Filtered for security");
        copied = line_end;
        at = line_end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Whether `password` matches one `auth:` value (`MD5-PW $1$salt$hash`).
pub fn password_matches(auth: &str, password: &str) -> bool {
    let mut parts = auth.split_whitespace();
    let (Some(scheme), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    match scheme.to_ascii_uppercase().as_str() {
        "MD5-PW" => hash.starts_with("$1$") && pwhash::md5_crypt::verify(password, hash),
        "BCRYPT-PW" => hash.starts_with("$2") && pwhash::bcrypt::verify(password, hash),
        "CRYPT-PW" => hash.len() == 13 && pwhash::unix_crypt::verify(password, hash),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::index::Registry;
    use crate::registry::rpsl::parse;

    fn registry(text: &str) -> Registry {
        Registry::build(parse(text).map(|o| ("TEST".to_string(), o.unwrap()))).0
    }

    const MNT: &str = "\
mntner:      EX-MNT
descr:       one
             two   # a comment
+
auth:        MD5-PW $1$SaltSalt$YhgRYajLPrYevs14poKBQ0 # ops
auth:        PGPKEY-1234ABCD
upd-to:      ops@example.org
changed:     ops@example.org 20240101
mnt-by:      EX-MNT
source:      TEST
";

    #[test]
    fn irrd_text_keeps_every_attribute_and_masks_hashes_as_irrd_does() {
        let r = registry(MNT);
        let mut text = String::new();
        irrd_text(&r.object(0), &mut text);
        assert_eq!(
            text,
            "mntner:         EX-MNT\ndescr:          one\n                two   # a comment\n\
             auth:           MD5-PW DummyValue  # Filtered for security\n\
             auth:           PGPKEY-1234ABCD\nupd-to:         ops@example.org\n\
             changed:        ops@example.org 20240101\nmnt-by:         EX-MNT\nsource:         TEST\n"
        );
        // An empty continuation inside a value is a `+` line; a line of spaces never is.
        let r = registry("person: A\nAddress: one\n \t\n\ttwo\nnic-hdl: A1-TEST\nsource: TEST\n");
        let mut text = String::new();
        irrd_text(&r.object(0), &mut text);
        assert_eq!(
            text,
            "person:         A\naddress:        one\n+               \n\t               two\n\
             nic-hdl:        A1-TEST\nsource:         TEST\n"
        );
        let stored = r.object(0);
        let v = view(&stored, true, true);
        let mut ripe = String::new();
        rpsl_text(&v, &mut ripe);
        assert!(ripe.contains("one\n+\n                two\n"), "{ripe:?}");
        assert_eq!(
            mask_hashes("remarks: see bcrypt-pw x\nBCRYPT-PW\n"),
            "remarks: see bcrypt-pw DummyValue  # Filtered for security\nBCRYPT-PW\n"
        );
    }

    #[test]
    fn filtering_masks_hashes_and_removes_notifications() {
        let r = registry(MNT);
        let stored = &r.object(0);
        let v = view(stored, false, false);
        let names: Vec<&str> = v.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            ["mntner", "descr", "auth", "auth", "mnt-by", "source"]
        );
        assert!(v.filtered);
        assert_eq!(v.attributes[2].value, "MD5-PW");
        assert_eq!(v.attributes[2].comment.as_deref(), Some("Filtered"));
        assert_eq!(
            v.attributes[3].value, "PGPKEY-1234ABCD",
            "key-cert auth is not hidden"
        );
        assert_eq!(v.attributes[5].comment.as_deref(), Some("Filtered"));
        let mut text = String::new();
        rpsl_text(&v, &mut text);
        assert_eq!(
            text,
            "mntner:         EX-MNT\ndescr:          one\n                two   # a comment\n+\n\
             auth:           MD5-PW # Filtered\nauth:           PGPKEY-1234ABCD\n\
             mnt-by:         EX-MNT\nsource:         TEST # Filtered\n"
        );
        // Unlocked and unfiltered: as stored, but `changed` never.
        let v = view(stored, true, true);
        assert!(!v.filtered);
        assert!(v.attributes.iter().any(|a| a.name == "upd-to"));
        assert!(v.attributes.iter().all(|a| a.name != "changed"));
        assert!(v.attributes[2].value.starts_with("MD5-PW $1$"));
        assert_eq!(v.attributes[2].comment.as_deref(), Some("ops"));
    }

    #[test]
    fn passwords_unlock_through_the_maintainer() {
        // `openssl passwd -1 -salt SaltSalt secret`
        assert!(password_matches(
            "MD5-PW $1$SaltSalt$YhgRYajLPrYevs14poKBQ0",
            "secret"
        ));
        assert!(!password_matches(
            "MD5-PW $1$SaltSalt$YhgRYajLPrYevs14poKBQ0",
            "Secret"
        ));
        assert!(!password_matches("MD5-PW garbage", "secret"));
        assert!(!password_matches("BCRYPT-PW $2y$04$short", "secret"));
        let bcrypt = pwhash::bcrypt::hash_with(
            pwhash::bcrypt::BcryptSetup {
                cost: Some(4),
                ..Default::default()
            },
            "secret",
        )
        .unwrap();
        assert!(password_matches(&format!("BCRYPT-PW {bcrypt}"), "secret"));
        assert!(!password_matches(&format!("BCRYPT-PW {bcrypt}"), "other"));
        let r = registry(&format!(
            "{MNT}\nperson: A\nnic-hdl: A1-TEST\nmnt-by: EX-MNT\nsource: TEST\n\nperson: B\nnic-hdl: B1-TEST\nsource: TEST\n"
        ));
        let a = r.get("TEST", "person", "A1-TEST").unwrap();
        let b = r.get("TEST", "person", "B1-TEST").unwrap();
        let pw = vec!["wrong".to_string(), "secret".to_string()];
        let unlocked = |id, pw: &[String]| {
            crate::registry::unlock::Unlocker::new(pw.to_vec())
                .unwrap()
                .unlocks(&r, id)
        };
        assert!(unlocked(a, &pw));
        assert!(unlocked(0, &pw), "a mntner by its own auth");
        assert!(!unlocked(b, &pw), "no maintainer, no unlock");
        assert!(!unlocked(a, &["wrong".to_string()]));
        use crate::registry::unlock::{UnlockOutcome, Unlocker};
        let guess = Unlocker::new(vec!["guess".into()]).unwrap();
        assert!(!guess.unlocks(&r, a) && !guess.unlocks(&r, b));
        assert_eq!(
            guess.outcome(),
            UnlockOutcome::Failed,
            "a checked, wrong password"
        );
        let none = Unlocker::new(vec!["guess".into()]).unwrap();
        assert!(!none.unlocks(&r, b));
        assert_eq!(
            none.outcome(),
            UnlockOutcome::NotTried,
            "no maintainer to check"
        );
        let right = Unlocker::new(vec!["guess".into(), "secret".into()]).unwrap();
        assert!(right.unlocks(&r, a));
        assert_eq!(right.outcome(), UnlockOutcome::Unlocked);
    }

    #[test]
    fn raw_values_keep_continuations() {
        let raws = raw_values(MNT);
        assert_eq!(
            raws[1],
            ("descr", "       one\n             two   # a comment\n+")
        );
        assert_eq!(raws.len(), 8);
    }
}
