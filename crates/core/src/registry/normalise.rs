//! Keys written the long way round (`AS065537`, `as64496`, `192.0.02.0/24`,
//! `2001:DB8:0::/48`), rewritten in the object's text as IRRd rewrites them before it
//! stores an object, so that the key is admitted, indexed and shown in one form.
//!
//! Only the attributes that carry keys are touched: the primary key of the classes keyed
//! by numbers (aut-num, as-block, inetnum, inet6num, route, route6), `origin`, and the
//! `members`/`mp-members` of sets. Inside them, each AS number becomes `AS` and its
//! decimal value, each address or prefix its canonical text; separators, spacing and
//! end-of-line comments stay as written. A token that is not a valid number or address is
//! left alone (admission then says what is wrong with it).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::rpsl::{parse, RpslObject};

/// `object` with its keys in canonical form; the same object when nothing needed it.
pub fn normalise_keys(object: RpslObject) -> RpslObject {
    let class = object.class().to_string();
    let Some(text) = rewrite(&object.text, &class) else {
        return object;
    };
    match parse(&text).next() {
        Some(Ok(mut rewritten)) => {
            rewritten.line = object.line;
            rewritten
        }
        // Rewriting tokens never changes the object's shape; keep the original if it did.
        _ => object,
    }
}

/// The rewritten text, or `None` when every key is already canonical.
fn rewrite(text: &str, class: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut in_key = false;
    for line in text.split_inclusive('\n') {
        let is_continuation = line.starts_with([' ', '\t', '+']);
        let is_comment = line.starts_with(['%', '#']);
        let value_from = if is_comment {
            in_key = false;
            None
        } else if is_continuation {
            in_key.then_some(1)
        } else {
            let name_end = line.find(':');
            in_key = name_end.is_some_and(|end| carries_keys(class, &line[..end]));
            name_end.filter(|_| in_key).map(|end| end + 1)
        };
        let Some(from) = value_from else {
            out.push_str(line);
            continue;
        };
        out.push_str(&line[..from]);
        let rest = &line[from..];
        // End-of-line comments are the writer's words: never rewritten.
        let (value, comment) = rest.split_at(rest.find('#').unwrap_or(rest.len()));
        changed |= rewrite_tokens(value, &mut out);
        out.push_str(comment);
    }
    changed.then_some(out)
}

/// Whether attribute `name` of an object of `class` holds keys this module normalises.
fn carries_keys(class: &str, name: &str) -> bool {
    let name = name.trim();
    let primary = name.eq_ignore_ascii_case(class)
        && matches!(
            class,
            "aut-num" | "as-block" | "inetnum" | "inet6num" | "route" | "route6"
        );
    primary
        || name.eq_ignore_ascii_case("origin")
        || (matches!(class, "as-set" | "route-set" | "rtr-set")
            && (name.eq_ignore_ascii_case("members") || name.eq_ignore_ascii_case("mp-members")))
}

/// Copy `value` to `out` with each token (a run of letters, digits, `.`, `:` and `/`)
/// canonical; true when one changed.
fn rewrite_tokens(value: &str, out: &mut String) -> bool {
    let mut changed = false;
    let mut rest = value;
    while !rest.is_empty() {
        let token_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/')))
            .unwrap_or(rest.len());
        if token_len == 0 {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let (token, after) = rest.split_at(token_len);
        match canonical_token(token) {
            Some(canonical) if canonical != token => {
                out.push_str(&canonical);
                changed = true;
            }
            _ => out.push_str(token),
        }
        rest = after;
    }
    changed
}

/// The canonical text of an AS number, address or prefix; `None` for anything else.
fn canonical_token(token: &str) -> Option<String> {
    if token.len() > 2 && token[..2].eq_ignore_ascii_case("as") {
        let digits = &token[2..];
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            // IRRd reads the number as a decimal integer, leading zeros and all.
            let number: u32 = digits.parse().ok()?;
            return Some(format!("AS{number}"));
        }
        return None;
    }
    let (address, length) = match token.split_once('/') {
        Some((address, length)) => (address, Some(length)),
        None => (token, None),
    };
    let address = if address.contains(':') {
        address.parse::<Ipv6Addr>().ok()?.to_string()
    } else {
        lenient_ipv4(address)?.to_string()
    };
    Some(match length {
        None => address,
        Some(length) => {
            if length.is_empty() || length.len() > 3 || !length.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            format!("{address}/{}", length.parse::<u8>().ok()?)
        }
    })
}

/// A dotted quad whose parts may carry leading zeros (`192.0.02.0`), read as decimal the
/// way IRRd reads them.
fn lenient_ipv4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(text: &str) -> String {
        let object = parse(text).next().unwrap().unwrap();
        normalise_keys(object).text.to_string()
    }

    #[test]
    fn keys_with_leading_zeros_and_odd_case_are_rewritten_as_irrd_does() {
        assert_eq!(
            normalised("aut-num: AS065537\nas-name: X\nsource: TEST\n"),
            "aut-num: AS65537\nas-name: X\nsource: TEST\n"
        );
        assert_eq!(
            normalised("as-block:  AS65536 - as065538 # ours\nsource: TEST\n"),
            "as-block:  AS65536 - AS65538 # ours\nsource: TEST\n"
        );
        assert_eq!(
            normalised("route: 192.0.02.0/24\norigin: as065537\nsource: TEST\n"),
            "route: 192.0.2.0/24\norigin: AS65537\nsource: TEST\n"
        );
        assert_eq!(
            normalised("route-set: RS-X\nmembers: 2001:DB8:0::/48^+, RS-Y,\n  192.0.02.0/24\nsource: TEST\n"),
            "route-set: RS-X\nmembers: 2001:db8::/48^+, RS-Y,\n  192.0.2.0/24\nsource: TEST\n"
        );
        assert_eq!(
            normalised("as-set: AS-X\nmembers: AS0, AS00012, AS-Y, AS65537:AS-Z\nsource: TEST\n"),
            "as-set: AS-X\nmembers: AS0, AS12, AS-Y, AS65537:AS-Z\nsource: TEST\n"
        );
    }

    #[test]
    fn other_attributes_comments_and_invalid_tokens_are_left_alone() {
        for text in [
            "aut-num: AS64496\nremarks: AS065537 192.0.02.0\nsource: TEST\n",
            "route: 192.0.2.0/24\norigin: AS64496 # was AS064496\nsource: TEST\n",
            "aut-num: AS99999999999\nsource: TEST\n",
            "route: 192.0.2.500/24\norigin: AS1\nsource: TEST\n",
            "person: AS065537\nnic-hdl: X1-TEST\nsource: TEST\n",
        ] {
            assert_eq!(normalised(text), text);
        }
    }
}
