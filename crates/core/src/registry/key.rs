//! Search keys as people type them (docs/registry.md and docs/whois.md): an address, a
//! prefix, a range (`192.0.2.10 - 192.0.2.37`), a route with its origin
//! (`192.0.2.0/24AS64496`), an AS number or AS range, an e-mail address, or words. Address
//! forms are also how inetnum, inet6num, route and route6 values are read at import.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ranges::Span;

/// Which address family (and so which range index) a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

/// A key, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// An address, prefix or range; with an origin only as a route key.
    Range {
        family: Family,
        span: Span,
        origin: Option<u32>,
    },
    /// `AS64496`.
    AsNumber(u32),
    /// `AS64496 - AS64511` (as-block).
    AsRange(u32, u32),
    /// `x@y`: objects with that `e-mail`.
    Email(String),
    /// Anything else: handles, set names, names (matched by words), lower-cased.
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// Classify a search key. Text that is neither an address form nor an AS form is `Text`;
/// text that tries to be an address form but is wrong (`192.0.2.0/33`, `10.0.0.9 - 10.0.0.1`)
/// is an error, so a typo is reported instead of searched for as a name.
pub fn classify(key: &str) -> Result<SearchKey, KeyError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(KeyError("an empty search key".into()));
    }
    if let Some(asn) = parse_asn(key) {
        return Ok(SearchKey::AsNumber(asn));
    }
    if let Some((a, b)) = key.split_once('-') {
        if let (Some(a), Some(b)) = (parse_asn(a.trim()), parse_asn(b.trim())) {
            if a > b {
                return Err(KeyError(format!(
                    "{key:?}: the AS range ends before it starts"
                )));
            }
            return Ok(SearchKey::AsRange(a, b));
        }
    }
    // A route key: a prefix followed directly by its origin.
    if let Some(at) = key.to_ascii_uppercase().rfind("AS") {
        let (prefix, origin) = key.split_at(at);
        if looks_like_address(prefix) {
            let origin = parse_asn(origin)
                .ok_or_else(|| KeyError(format!("{key:?}: {origin:?} is not an AS number")))?;
            let (family, span) = parse_range(prefix)?;
            return Ok(SearchKey::Range {
                family,
                span,
                origin: Some(origin),
            });
        }
    }
    if looks_like_address(key) {
        let (family, span) = parse_range(key)?;
        return Ok(SearchKey::Range {
            family,
            span,
            origin: None,
        });
    }
    if key.contains('@') && !key.contains(char::is_whitespace) {
        return Ok(SearchKey::Email(key.to_ascii_lowercase()));
    }
    Ok(SearchKey::Text(key.to_lowercase()))
}

/// `AS64496` (any case) to 64496; the full 32-bit range.
pub fn parse_asn(text: &str) -> Option<u32> {
    let digits = text
        .strip_prefix("AS")
        .or_else(|| text.strip_prefix("as"))
        .or_else(|| text.strip_prefix("As"))
        .or_else(|| text.strip_prefix("aS"))?;
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// Whether `text` is trying to be an address form: digits, dots, colons, a slash, a dash
/// and spaces only, with a dot or a colon.
fn looks_like_address(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty()
        && (text.contains('.') || text.contains(':'))
        && text
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/' | '-' | ' '))
        && text.starts_with(|c: char| c.is_ascii_hexdigit() || c == ':')
}

/// An address (`192.0.2.1`, `2001:db8::1`), prefix (`192.0.2.0/24`) or range
/// (`192.0.2.10 - 192.0.2.37`) to its family and inclusive span. A prefix must be on its
/// boundary (`192.0.2.5/24` is an error, as the registries say).
pub fn parse_range(text: &str) -> Result<(Family, Span), KeyError> {
    let text = text.trim();
    let bad = |why: &str| KeyError(format!("{text:?}: {why}"));
    if let Some((a, b)) = split_range(text) {
        let a = parse_ip(a).ok_or_else(|| bad("the start is not an address"))?;
        let b = parse_ip(b).ok_or_else(|| bad("the end is not an address"))?;
        let (fa, sa) = family_and_number(a);
        let (fb, sb) = family_and_number(b);
        if fa != fb {
            return Err(bad("the start and the end are of different families"));
        }
        return Span::new(sa, sb)
            .map(|span| (fa, span))
            .ok_or_else(|| bad("the range ends before it starts"));
    }
    let (address, length) = match text.split_once('/') {
        Some((address, length)) => (address, Some(length)),
        None => (text, None),
    };
    let ip = parse_ip(address).ok_or_else(|| bad("not an address, prefix or range"))?;
    let (family, start) = family_and_number(ip);
    let bits = match family {
        Family::V4 => 32,
        Family::V6 => 128,
    };
    let length: u32 = match length {
        None => bits,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if n <= bits && !(l.len() > 1 && l.starts_with('0')) => n,
            _ => return Err(bad(&format!("the prefix length must be 0 to {bits}"))),
        },
    };
    let host_bits = bits - length;
    let size_minus_one: u128 = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    if start & size_minus_one != 0 {
        return Err(bad("the address is not on the prefix's boundary"));
    }
    Ok((
        family,
        Span::new(start, start | size_minus_one).expect("start <= end"),
    ))
}

/// `a - b`, `a-b` (IPv4 only: a dash cannot be part of an address).
fn split_range(text: &str) -> Option<(&str, &str)> {
    let (a, b) = text.split_once('-')?;
    Some((a.trim(), b.trim()))
}

/// An address, strictly: no leading zeros in IPv4 (they mean octal to some tools), no zone.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if text.contains(':') {
        return text.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let ip: Ipv4Addr = text.parse().ok()?;
    Some(IpAddr::V4(ip))
}

fn family_and_number(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(v4) => (Family::V4, u32::from(v4) as u128),
        IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
    }
}

/// A span that is one prefix in CIDR notation, addresses in their canonical text
/// (`2001:db8:0::/48` becomes `2001:db8::/48`, as IRRd answers); `None` when the span is
/// no prefix.
pub fn format_prefix(family: Family, span: Span) -> Option<String> {
    let bits: u32 = match family {
        Family::V4 => 32,
        Family::V6 => 128,
    };
    let size = span.end.wrapping_sub(span.start).wrapping_add(1);
    let length = if size == 0 && family == Family::V6 {
        // The whole IPv6 space wraps the size to zero.
        0
    } else if size.is_power_of_two() && span.start % size == 0 {
        bits.checked_sub(size.trailing_zeros())?
    } else {
        return None;
    };
    Some(match family {
        Family::V4 => format!(
            "{}/{length}",
            Ipv4Addr::from(u32::try_from(span.start).ok()?)
        ),
        Family::V6 => format!("{}/{length}", Ipv6Addr::from(span.start)),
    })
}

/// A span of `family` as the registries write it: `a.b.c.d - e.f.g.h` for IPv4, the prefix
/// for IPv6 when the span is one (else a range).
pub fn format_span(family: Family, span: Span) -> String {
    match family {
        Family::V4 => format!(
            "{} - {}",
            Ipv4Addr::from(span.start as u32),
            Ipv4Addr::from(span.end as u32)
        ),
        Family::V6 => format_prefix(family, span).unwrap_or_else(|| {
            format!(
                "{} - {}",
                Ipv6Addr::from(span.start),
                Ipv6Addr::from(span.end)
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_formatted_canonically_and_ranges_are_not_prefixes() {
        let (family, span) = parse_range("2001:DB8:0::/48").unwrap();
        assert_eq!(format_prefix(family, span).unwrap(), "2001:db8::/48");
        let (family, span) = parse_range("192.0.2.0/24").unwrap();
        assert_eq!(format_prefix(family, span).unwrap(), "192.0.2.0/24");
        let (family, span) = parse_range("::/0").unwrap();
        assert_eq!(format_prefix(family, span).unwrap(), "::/0");
        let (family, span) = parse_range("0.0.0.0/0").unwrap();
        assert_eq!(format_prefix(family, span).unwrap(), "0.0.0.0/0");
        let (family, span) = parse_range("192.0.2.0 - 192.0.2.2").unwrap();
        assert_eq!(format_prefix(family, span), None);
    }

    fn span(key: &str) -> (Family, Span) {
        parse_range(key).unwrap()
    }

    #[test]
    fn address_forms() {
        let (f, s) = span("192.0.2.10 - 192.0.2.37");
        assert_eq!(f, Family::V4);
        assert_eq!(format_span(f, s), "192.0.2.10 - 192.0.2.37");
        assert_eq!(span("192.0.2.10-192.0.2.37"), (f, s));
        let (_, s) = span("192.0.2.0/24");
        assert_eq!(format_span(Family::V4, s), "192.0.2.0 - 192.0.2.255");
        assert_eq!(
            span("192.0.2.7").1,
            Span::new(0xc000_0207, 0xc000_0207).unwrap()
        );
        assert_eq!(span("0.0.0.0/0").1, Span::new(0, u32::MAX as u128).unwrap());
        let (f, s) = span("2001:db8::/32");
        assert_eq!(
            (f, format_span(f, s).as_str()),
            (Family::V6, "2001:db8::/32")
        );
        assert_eq!(format_span(Family::V6, span("::/0").1), "::/0");
        assert_eq!(
            format_span(Family::V6, span("2001:db8::1").1),
            "2001:db8::1/128"
        );
        for bad in [
            "192.0.2.0/33",
            "2001:db8::/129",
            "192.0.2.5/24",
            "192.0.2.9 - 192.0.2.1",
            "192.0.2.0 - 2001:db8::",
            "192.0.002.1",
            "192.0.2.0/024",
            "300.0.0.1",
            "1.2.3",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_classified_as_section_8_says() {
        use SearchKey::*;
        assert_eq!(classify("AS64496").unwrap(), AsNumber(64496));
        assert_eq!(classify("as4294967295").unwrap(), AsNumber(u32::MAX));
        assert_eq!(
            classify("AS64496 - AS64511").unwrap(),
            AsRange(64496, 64511)
        );
        assert!(classify("AS64511 - AS64496").is_err());
        assert_eq!(
            classify("192.0.2.0/24AS64496").unwrap(),
            Range {
                family: Family::V4,
                span: span("192.0.2.0/24").1,
                origin: Some(64496)
            }
        );
        assert_eq!(
            classify("2001:db8::/48").unwrap(),
            Range {
                family: Family::V6,
                span: span("2001:db8::/48").1,
                origin: None
            }
        );
        assert!(
            classify("192.0.2.0/33").is_err(),
            "a typo is an error, not a name"
        );
        assert!(classify("192.0.2.0/24AS").is_err());
        assert_eq!(
            classify("Abuse@Example.NET").unwrap(),
            Email("abuse@example.net".into())
        );
        assert_eq!(classify("AS-EXAMPLE").unwrap(), Text("as-example".into()));
        assert_eq!(
            classify("AS64496:AS-CUSTOMERS").unwrap(),
            Text("as64496:as-customers".into())
        );
        assert_eq!(classify("Ann Example").unwrap(), Text("ann example".into()));
        assert_eq!(classify("AE1-TEST").unwrap(), Text("ae1-test".into()));
        assert!(classify("  ").is_err());
        assert_eq!(
            classify("AS0123").unwrap(),
            Text("as0123".into()),
            "leading zeros: not an AS"
        );
        assert_eq!(
            classify("AS99999999999").unwrap(),
            Text("as99999999999".into())
        );
    }

    proptest::proptest! {
        #[test]
        fn any_key_classifies_without_panicking(key in "(?s).{0,80}") {
            let _ = classify(&key);
        }

        #[test]
        fn ranges_round_trip(a in proptest::num::u32::ANY, b in proptest::num::u32::ANY) {
            let span = Span::new(a.min(b) as u128, a.max(b) as u128).unwrap();
            let text = format_span(Family::V4, span);
            proptest::prop_assert_eq!(parse_range(&text).unwrap(), (Family::V4, span));
        }
    }
}
