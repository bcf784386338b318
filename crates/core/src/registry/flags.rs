//! RIPE's query flags (docs/registry.md and docs/whois.md): the one table both front ends
//! read, the REST API's `flags` parameter and a whois query line, with each flag's long
//! name, short letter, whether it takes an argument, and whether REST allows it.

use super::query::Hierarchy;

/// One query flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    /// Consumes the next word (`-i mnt-by`, `-s TEST`, `--show-version 2`).
    pub argument: bool,
    /// Allowed in REST searches (RIPE refuses the rest with "Disallowed search flag").
    pub rest: bool,
}

const fn flag(long: &'static str, short: Option<char>, argument: bool, rest: bool) -> Flag {
    Flag {
        long,
        short,
        argument,
        rest,
    }
}

/// Every flag, in RIPE's names.
pub const FLAGS: &[Flag] = &[
    flag("no-referenced", Some('r'), false, true),
    flag("no-filtering", Some('B'), false, true),
    flag("no-grouping", Some('G'), false, true),
    flag("exact", Some('x'), false, true),
    flag("one-less", Some('l'), false, true),
    flag("all-less", Some('L'), false, true),
    flag("one-more", Some('m'), false, true),
    flag("all-more", Some('M'), false, true),
    flag("reverse-domain", Some('d'), false, true),
    flag("irt", Some('c'), false, true),
    flag("no-personal", None, false, true),
    // Irt objects are only added on request (`irt`); accepted as the explicit default.
    flag("no-irt", None, false, true),
    flag("show-personal", None, false, true),
    flag("resource", None, false, true),
    flag("valid-syntax", None, false, true),
    flag("no-valid-syntax", None, false, true),
    flag("no-tag-info", None, false, true),
    flag("show-tag-info", None, false, true),
    flag("abuse-contact", Some('b'), false, false),
    flag("brief", Some('F'), false, false),
    flag("primary-keys", Some('K'), false, false),
    flag("persistent-connection", Some('k'), false, false),
    flag("template", Some('t'), true, false),
    flag("verbose", Some('v'), true, false),
    flag("client", Some('V'), true, false),
    flag("query-type", Some('q'), true, false),
    flag("sources", Some('s'), true, false),
    flag("all-sources", Some('a'), false, false),
    flag("select-types", Some('T'), true, false),
    flag("inverse", Some('i'), true, false),
    flag("list-sources", None, false, false),
    flag("list-versions", None, false, false),
    flag("show-version", None, true, false),
    flag("diff-versions", None, true, false),
    flag("version", None, false, false),
    flag("charset", Some('Z'), true, false),
    flag("mirror", Some('g'), true, false),
];

/// The flag with this short letter.
pub fn by_short(c: char) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.short == Some(c))
}

/// The flag with this long name (any case).
pub fn by_long(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.long.eq_ignore_ascii_case(name))
}

/// Two different hierarchy flags were given (ERROR:901).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateIpFlags;

/// The hierarchy flag among `longs`, or `Err` when two different ones are given.
pub fn hierarchy<'a>(
    longs: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Hierarchy>, DuplicateIpFlags> {
    let mut found = None;
    for long in longs {
        let h = match long {
            "exact" => Hierarchy::Exact,
            "one-less" => Hierarchy::OneLess,
            "all-less" => Hierarchy::AllLess,
            "one-more" => Hierarchy::OneMore,
            "all-more" => Hierarchy::AllMore,
            _ => continue,
        };
        if found.is_some_and(|f| f != h) {
            return Err(DuplicateIpFlags);
        }
        found = Some(h);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_letter_and_name_is_unique() {
        for (i, a) in FLAGS.iter().enumerate() {
            for b in &FLAGS[i + 1..] {
                assert_ne!(a.long, b.long);
                assert!(a.short.is_none() || a.short != b.short, "{a:?} {b:?}");
            }
        }
        assert_eq!(by_short('k').unwrap().long, "persistent-connection");
        assert!(by_long("ALL-MORE").is_some());
        assert!(hierarchy(["exact", "all-less"]).is_err());
        assert_eq!(hierarchy(["exact", "exact"]), Ok(Some(Hierarchy::Exact)));
    }
}
