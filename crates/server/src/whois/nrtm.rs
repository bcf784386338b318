//! NRTM, the server side: `-g SOURCE:VERSION:FIRST-LAST` answers a source's journal (what
//! each import after the source's first changed, serial by serial) so that another ipintel
//! or an IRRd can mirror it. Versions 1 and 3 as IRRd serves them: a `%START` line, each
//! change as `ADD`/`DEL` (with its serial in version 3) and the object as IRRd shows it,
//! `%END`; errors as `%% ERROR:` lines. Only clients in `whois.nrtm_clients` are served.

use super::ripe::RipeAnswer;
use super::{Outcome, Session};

/// The answer to `-g ARGUMENT`.
pub async fn answer(session: &Session<'_>, argument: &str) -> RipeAnswer {
    match journal_text(session, argument).await {
        Ok(text) => RipeAnswer::unframed(format!("{text}\n\n\n"), Outcome::Data),
        Err(message) => RipeAnswer::unframed(format!("%% ERROR: {message}\n\n\n"), Outcome::Error),
    }
}

/// A parsed `SOURCE:VERSION:FIRST-LAST`.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    source: String,
    version: u8,
    first: i64,
    /// `None` for `LAST`.
    last: Option<i64>,
}

fn parse(argument: &str) -> Result<Request, String> {
    let parts: Vec<&str> = argument.trim().split(':').collect();
    let [source, version, range] = parts[..] else {
        return Err("Invalid parameter: must contain three elements".into());
    };
    let invalid_range = || format!("Invalid serial range: {range}");
    let (first, last) = range.split_once('-').ok_or_else(invalid_range)?;
    let first: i64 = first.parse().map_err(|_| invalid_range())?;
    // Query flags reach us in any case (`whois` clients may lower-case them).
    let last = match last {
        n if n.eq_ignore_ascii_case("LAST") => None,
        n => Some(n.parse::<i64>().map_err(|_| invalid_range())?),
    };
    if first < 0 || last.is_some_and(|l| l < 0) {
        return Err(invalid_range());
    }
    let version = match version {
        "1" => 1,
        "3" => 3,
        other => return Err(format!("Invalid NRTM version: {other}")),
    };
    Ok(Request {
        source: source.to_ascii_uppercase(),
        version,
        first,
        last,
    })
}

async fn journal_text(session: &Session<'_>, argument: &str) -> Result<String, String> {
    let request = parse(argument)?;
    let config = &session.state.config.whois;
    let generation = session.state.registry.current();
    if !generation.sources.iter().any(|s| s.name == request.source) {
        return Err(format!("Unknown source: {}", request.source));
    }
    if !config
        .nrtm_clients
        .iter()
        .any(|n| n.contains(&session.client))
    {
        tracing::info!(client = %session.client, source = %request.source, "NRTM refused: not in whois.nrtm_clients");
        return Err("Access denied".into());
    }
    if let Some(last) = request.last {
        if last < request.first {
            return Err(format!(
                "Start of the serial range ({}) must be lower or equal to end of the serial range ({last})",
                request.first
            ));
        }
    }
    let limit = config.nrtm_max_serials;
    let journal = session
        .state
        .registry
        .journal(
            &request.source,
            request.first,
            request.last,
            limit as usize + 1,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "NRTM journal read failed");
            "Internal error, try again later".to_string()
        })?;
    let (Some(oldest), Some(newest)) = (journal.oldest, journal.newest) else {
        return Ok("% Warning: there are no updates available".into());
    };
    if request.first < oldest {
        return Err(format!("Serials {} - {oldest} do not exist", request.first));
    }
    if let Some(last) = request.last {
        if last > newest {
            return Err(format!("Serials {newest} - {last} do not exist"));
        }
    } else if request.first == newest + 1 {
        return Ok("% Warning: there are no newer updates available".into());
    } else if request.first > newest {
        return Err(format!("Serials {newest} - {} do not exist", request.first));
    }
    let end = request.last.unwrap_or(newest);
    if (end - request.first) as u64 >= limit {
        return Err(format!(
            "Serial range requested exceeds maximum range of {limit}"
        ));
    }
    let mut out = format!(
        "%START Version: {} {} {}-{end}\n",
        request.version, request.source, request.first
    );
    for row in &journal.rows {
        out.push('\n');
        out.push_str(&row.op);
        if request.version == 3 {
            out.push_str(&format!(" {}", row.serial));
        }
        out.push_str("\n\n");
        ipintel_core::registry::view::irrd_text_of(&row.text, &mut out);
    }
    out.push_str(&format!("\n%END {}", request.source));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_as_irrd_reads_them() {
        assert_eq!(
            parse("test:3:5-LAST"),
            Ok(Request {
                source: "TEST".into(),
                version: 3,
                first: 5,
                last: None
            })
        );
        assert_eq!(parse("TEST:1:5-9").unwrap().last, Some(9));
        assert_eq!(parse("test:3:5-last").unwrap().last, None);
        assert_eq!(
            parse("TEST:3"),
            Err("Invalid parameter: must contain three elements".into())
        );
        assert_eq!(parse("TEST:3:5"), Err("Invalid serial range: 5".into()));
        assert_eq!(
            parse("TEST:3:x-LAST"),
            Err("Invalid serial range: x-LAST".into())
        );
        assert_eq!(
            parse("TEST:2:1-LAST"),
            Err("Invalid NRTM version: 2".into())
        );
        assert!(parse("TEST:3:99999999999999999999-LAST").is_err());
    }
}
