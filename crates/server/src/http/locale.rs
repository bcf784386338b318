//! Picking one of the locales GeoIP databases carry from an `Accept-Language` header
//! (RFC 9110 q-values, RFC 4647 lookup with primary-subtag fallback, English by default).

/// The locales MaxMind-schema databases carry names in.
pub const LOCALES: &[&str] = &["de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"];

/// The best locale for `header`; `Err` with a reason when the header is malformed.
/// Without a header, or with nothing acceptable in it, English.
pub fn negotiate(header: Option<&str>) -> Result<&'static str, String> {
    let Some(header) = header else {
        return Ok("en");
    };
    let mut ranges: Vec<(&str, u16)> = Vec::new();
    for item in header.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        if !valid_tag(tag) {
            return Err(format!("invalid language range {tag:?}"));
        }
        let mut q = 1000u16;
        for param in parts {
            let param = param.trim();
            let value = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
                .ok_or_else(|| format!("unknown parameter {param:?}"))?;
            q = parse_q(value).ok_or_else(|| format!("invalid q-value {value:?}"))?;
        }
        ranges.push((tag, q));
    }
    // Highest q first; equal q keep header order.
    ranges.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (tag, q) in ranges {
        if q == 0 {
            continue;
        }
        if tag == "*" {
            return Ok("en");
        }
        if let Some(exact) = LOCALES.iter().find(|l| l.eq_ignore_ascii_case(tag)) {
            return Ok(exact);
        }
        let primary = tag.split('-').next().unwrap_or(tag);
        if let Some(near) = LOCALES.iter().find(|l| {
            l.split('-')
                .next()
                .is_some_and(|p| p.eq_ignore_ascii_case(primary))
        }) {
            return Ok(near);
        }
    }
    Ok("en")
}

fn valid_tag(tag: &str) -> bool {
    tag == "*"
        || (!tag.is_empty()
            && tag.split('-').enumerate().all(|(i, sub)| {
                (1..=8).contains(&sub.len())
                    && if i == 0 {
                        sub.bytes().all(|b| b.is_ascii_alphabetic())
                    } else {
                        sub.bytes().all(|b| b.is_ascii_alphanumeric())
                    }
            }))
}

/// q-values in thousandths: `0`, `0.5`, `1.000`; at most three decimals.
fn parse_q(value: &str) -> Option<u16> {
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::negotiate;

    #[test]
    fn picks_by_quality_and_falls_back() {
        assert_eq!(negotiate(None), Ok("en"));
        assert_eq!(negotiate(Some("fr-FR,fr;q=0.9,en;q=0.8")), Ok("fr"));
        assert_eq!(negotiate(Some("en;q=0.5, ru")), Ok("ru"));
        assert_eq!(negotiate(Some("pt")), Ok("pt-BR"));
        assert_eq!(negotiate(Some("zh-cn")), Ok("zh-CN"));
        assert_eq!(negotiate(Some("xx, yy;q=0.3")), Ok("en"));
        assert_eq!(negotiate(Some("ja;q=0, de;q=0.1")), Ok("de"));
        assert_eq!(negotiate(Some("*")), Ok("en"));
        assert_eq!(negotiate(Some("")), Ok("en"));
    }

    #[test]
    fn rejects_malformed_headers() {
        for bad in [
            "fr;q=2",
            "fr;q=0.1234",
            "fr;x=1",
            "f r",
            "toolongsubtag-x",
            "de;q=",
            "12-de",
        ] {
            assert!(negotiate(Some(bad)).is_err(), "{bad}");
        }
    }
}
