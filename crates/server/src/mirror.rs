//! NRTM, the client side: each `[[registry.mirrors]]` source is kept current from another
//! server's journal (IRRd, RIPE, another ipintel). The first time, the source's dump is
//! imported with its serial; then every `interval_secs` the server asks
//! `-g SOURCE:3:NEXT-LAST` (or, when the upstream caps one answer at N serials and says so,
//! `NEXT-(NEXT+N-1)` and again at once until caught up), reads the whole answer (at most
//! `max_bytes`, within a timeout), checks that it is one complete stream for this source starting at the serial
//! asked, and hands the operations to the engine's mirror use case, which applies them in
//! serial order or refuses them whole. A failed poll keeps the last good serial and is
//! tried again with back-off (doubling up to ten intervals); the reason is logged.
//!
//! Instances sharing one store follow each source once: a poll is made only by the holder
//! of the store's named lease `nrtm:SOURCE`, renewed before every poll; when the holder dies,
//! another instance takes the lease over once it expires.

use std::time::Duration;

use ipintel_core::registry::mirror::{self, Operation};
use tokio_util::sync::CancellationToken;

use crate::config::MirrorConfig;
use crate::net::whois::{self as whois_net, Limits, Reach, ReferralPolicy, Target};
use crate::state::AppState;

/// Follow every configured mirror until `cancel`.
pub async fn follow_all(state: AppState, cancel: CancellationToken) {
    let mut tasks = tokio::task::JoinSet::new();
    for mirror in state.config.registry.mirrors.clone() {
        tasks.spawn(follow(state.clone(), mirror, cancel.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

async fn follow(state: AppState, mirror: MirrorConfig, cancel: CancellationToken) {
    let interval = Duration::from_secs(mirror.interval_secs);
    let lease_name = format!("nrtm:{}", mirror.source.to_ascii_uppercase());
    let owner = crate::runner::instance_name();
    // Long enough to cover a poll that takes its whole timeout, and a few missed intervals.
    let lease_secs = (mirror.interval_secs * 3)
        .max(mirror.timeout_secs * 2)
        .max(30) as i64;
    let store = state.accounts.store().clone();
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = store.release_named_lease(&lease_name, &owner).await;
                return;
            }
            _ = tokio::time::sleep(wait) => {}
        }
        let now = ipintel_core::store::now_unix();
        match store
            .take_named_lease(&lease_name, &owner, now, now + lease_secs)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                // Another instance follows this source.
                wait = interval;
                continue;
            }
            Err(e) => {
                tracing::warn!(source = %mirror.source, error = %e, "mirror: cannot take the source's lease");
                wait = interval;
                continue;
            }
        }
        wait = match poll(&state, &mirror).await {
            // More is waiting beyond what the upstream gives at once: ask again now.
            Ok(Caught::Behind) => Duration::ZERO,
            Ok(Caught::Up) => interval,
            Err(e) => {
                tracing::warn!(source = %mirror.source, nrtm = %mirror.nrtm, error = %e, "mirror: poll failed; the last good serial is kept");
                state.metrics.mirror_failures.inc();
                (wait.max(interval) * 2).min(interval * 10)
            }
        };
    }
}

/// Where a poll left the source: at the upstream's newest serial as far as it knows, or
/// behind it (the upstream caps how many serials one answer holds).
#[derive(Debug, PartialEq, Eq)]
enum Caught {
    Up,
    Behind,
}

/// The cap an upstream puts on one `-g` range, when that is why it refused one (IRRd's
/// and ipintel's words: `Serial range requested exceeds maximum range of N`).
fn range_cap(answer: &str) -> Option<i64> {
    let rest = answer
        .trim_start()
        .strip_prefix("%% ERROR:")?
        .trim_start()
        .strip_prefix("Serial range requested exceeds maximum range of")?;
    let cap: i64 = rest.split_whitespace().next()?.parse().ok()?;
    (cap > 0).then_some(cap)
}

/// One poll: the first dump if the source is new, then the journal since its serial.
async fn poll(state: &AppState, mirror: &MirrorConfig) -> anyhow::Result<Caught> {
    let store = state.registry.store();
    let source = mirror.source.to_ascii_uppercase();
    let serial = match mirror::current_serial(store, &source).await? {
        Some(serial) => serial,
        None => first_dump(state, mirror).await?,
    };
    let target = Target::parse(&mirror.nrtm)
        .ok_or_else(|| anyhow::anyhow!("nrtm {:?} is not host:port", mirror.nrtm))?;
    let first = serial + 1;
    let limits = Limits {
        timeout: Duration::from_secs(mirror.timeout_secs),
        max_bytes: mirror.max_bytes as usize,
        max_referrals: 0,
    };
    let dns = state
        .config
        .tasks
        .dns_server()
        .map(|addr| crate::net::dns::Server {
            addr,
            timeout: Duration::from_secs(10),
        });
    let reach = Reach {
        policy: ReferralPolicy::default(),
        dns,
    };
    let mut answer = whois_net::lookup(
        &target,
        &format!("-g {source}:3:{first}-LAST"),
        limits,
        &reach,
    )
    .await?;
    let mut caught = Caught::Up;
    let capped = answer.chain.first().and_then(|(_, text)| range_cap(text));
    if let Some(cap) = capped {
        // More serials wait than the upstream gives at once: take the first `cap` of
        // them now, the rest on the polls right after.
        answer = whois_net::lookup(
            &target,
            &format!("-g {source}:3:{first}-{}", first.saturating_add(cap - 1)),
            limits,
            &reach,
        )
        .await?;
        caught = Caught::Behind;
    }
    if answer.truncated {
        anyhow::bail!(
            "the answer is larger than max_bytes ({}); raise it or poll more often",
            mirror.max_bytes
        );
    }
    let text = answer.chain.first().map(|(_, t)| t.as_str()).unwrap_or("");
    let operations = read_stream(text, &source, first)?;
    if operations.is_empty() {
        return Ok(Caught::Up);
    }
    let applied = mirror::apply(store, &source, &operations).await?;
    for (serial, reason) in &applied.skipped {
        tracing::warn!(source = %source, serial, %reason, "mirror: an object was not admitted");
    }
    tracing::info!(
        source = %source,
        serial = applied.serial,
        added = applied.added,
        changed = applied.changed,
        deleted = applied.deleted,
        "mirror: journal applied"
    );
    state
        .metrics
        .mirror_operations
        .inc_by(operations.len() as u64);
    Ok(caught)
}

/// Import the source's first dump with its serial; returns the serial.
async fn first_dump(state: &AppState, mirror: &MirrorConfig) -> anyhow::Result<i64> {
    let Some(dump) = &mirror.dump else {
        anyhow::bail!(
            "source {} has no serial in the store (never imported, or imported without one) and no dump is configured to start from",
            mirror.source
        );
    };
    let serial = match mirror.dump_serial {
        Some(serial) => serial,
        None => {
            let file = dump.with_file_name(format!(
                "{}.CURRENTSERIAL",
                mirror.source.to_ascii_uppercase()
            ));
            let text = std::fs::read_to_string(&file).map_err(|e| {
                anyhow::anyhow!(
                    "the first dump's serial: set dump_serial or write it to {} ({e})",
                    file.display()
                )
            })?;
            text.trim().parse().map_err(|_| {
                anyhow::anyhow!("{}: {:?} is not a serial", file.display(), text.trim())
            })?
        }
    };
    let summary = ipintel_core::registry::service::import_spilled(
        state.registry.store(),
        &mirror.source,
        std::slice::from_ref(dump),
        Some(serial),
        &mut (),
        Some(&state.config.registry_dir()),
    )
    .await?;
    tracing::info!(source = %mirror.source, serial, objects = summary.added, "mirror: first dump imported");
    Ok(serial)
}

/// The operations of one NRTM answer, checked: no error, one `%START` for `source` that
/// begins at `first`, serials (version 3) increasing, and the `%END` line last. A warning
/// that nothing is newer is an empty answer.
fn read_stream(text: &str, source: &str, first: i64) -> anyhow::Result<Vec<Operation>> {
    let paragraphs: Vec<String> = paragraphs(text);
    let mut operations = Vec::new();
    let mut started: Option<(u8, i64, i64)> = None;
    let mut last_comment = String::new();
    let mut at = 0;
    while at < paragraphs.len() {
        let paragraph = paragraphs[at].trim_end();
        at += 1;
        if let Some(error) = paragraph
            .strip_prefix("%% ERROR:")
            .or(paragraph.strip_prefix("%ERROR:"))
        {
            anyhow::bail!("the server refused: {}", error.trim());
        }
        let nothing_new = paragraph.starts_with("% Warning: there are no newer updates available")
            || paragraph.starts_with("% Warning: there are no updates available");
        if nothing_new && started.is_none() {
            return Ok(Vec::new());
        }
        if let Some(rest) = paragraph.strip_prefix("%START Version:") {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            let [version, name, range] = parts[..] else {
                anyhow::bail!("a %START line that does not parse: {paragraph:?}");
            };
            if started.is_some() {
                anyhow::bail!("a second %START line: {paragraph:?}");
            }
            if !name.eq_ignore_ascii_case(source) {
                anyhow::bail!("the stream is for source {name}, not {source}");
            }
            let version: u8 = match version {
                "1" => 1,
                "3" => 3,
                other => anyhow::bail!("NRTM version {other} is not served"),
            };
            let (a, b) = range
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
                .ok_or_else(|| anyhow::anyhow!("a %START range that does not parse: {range:?}"))?;
            if a != first {
                anyhow::bail!(
                    "the stream starts at serial {a}, not at {first} as asked: serials {first}-{} would be lost",
                    a - 1
                );
            }
            started = Some((version, a, b));
            continue;
        }
        if paragraph.starts_with('%') || paragraph.starts_with('#') {
            last_comment = paragraph.to_string();
            continue;
        }
        let Some((version, start, _)) = started else {
            anyhow::bail!(
                "an operation before the %START line: {:?}",
                first_line(paragraph)
            );
        };
        let mut words = paragraph.split_whitespace();
        let add = match words.next() {
            Some("ADD") => true,
            Some("DEL") => false,
            _ => anyhow::bail!("neither ADD nor DEL: {:?}", first_line(paragraph)),
        };
        let serial = match (version, words.next()) {
            (3, Some(serial)) => serial
                .parse::<i64>()
                .map_err(|_| anyhow::anyhow!("a serial that does not parse: {paragraph:?}"))?,
            (3, None) => anyhow::bail!("a version 3 operation without its serial"),
            (_, _) => start + operations.len() as i64,
        };
        let Some(object) = paragraphs.get(at) else {
            anyhow::bail!(
                "{} {serial} without its object",
                if add { "ADD" } else { "DEL" }
            );
        };
        at += 1;
        operations.push(Operation {
            serial,
            add,
            text: object.clone(),
        });
    }
    if started.is_none() {
        anyhow::bail!("no %START line: {:?}", first_line(text));
    }
    if !last_comment.eq_ignore_ascii_case(&format!("%END {source}")) {
        anyhow::bail!("the stream does not end with %END {source} (cut off?); nothing applied");
    }
    Ok(operations)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Paragraphs separated by empty lines (a line of spaces is not empty, as IRRd reads it).
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "%START Version: 3 IRR 5-7\n\nADD 5\n\nmntner: A-MNT\nsource: IRR\n\nDEL 7\n\nmntner: B-MNT\n+\nsource: IRR\n\n%END IRR\n\n\n";

    #[test]
    fn a_complete_stream_gives_its_operations() {
        let ops = read_stream(STREAM, "irr", 5).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!((ops[0].serial, ops[0].add), (5, true));
        assert_eq!((ops[1].serial, ops[1].add), (7, false));
        assert_eq!(ops[1].text, "mntner: B-MNT\n+\nsource: IRR\n");
        let v1 = "%START Version: 1 IRR 5-6\n\nADD\n\nmntner: A-MNT\nsource: IRR\n\nDEL\n\nmntner: A-MNT\nsource: IRR\n\n%END IRR\n";
        let ops = read_stream(v1, "IRR", 5).unwrap();
        assert_eq!(ops.iter().map(|o| o.serial).collect::<Vec<_>>(), [5, 6]);
        assert!(read_stream(
            "% Warning: there are no newer updates available\n\n\n",
            "IRR",
            5
        )
        .unwrap()
        .is_empty());
    }

    #[test]
    fn an_upstreams_range_cap_is_read_from_its_refusal() {
        let cap = "%% ERROR: Serial range requested exceeds maximum range of 100000\n\n\n";
        assert_eq!(range_cap(cap), Some(100_000));
        for other in [
            "%% ERROR: Access denied\n",
            "%% ERROR: Serial range requested exceeds maximum range of 0\n",
            "%% ERROR: Serial range requested exceeds maximum range of many\n",
            "%START Version: 3 TEST 1-2\n",
            "",
        ] {
            assert_eq!(range_cap(other), None, "{other:?}");
        }
    }

    #[test]
    fn broken_streams_are_refused_with_the_reason() {
        for (text, first, why) in [
            ("%% ERROR: Access denied\n\n\n", 5, "refused: Access denied"),
            (
                &STREAM[..STREAM.len() - 12],
                5,
                "does not end with %END IRR",
            ),
            (STREAM, 4, "starts at serial 5, not at 4"),
            (&STREAM.replace("3 IRR", "3 RADB"), 5, "for source RADB"),
            (&STREAM.replace("ADD 5", "ADD"), 5, "without its serial"),
            (
                &STREAM.replace("ADD 5", "CHANGE 5"),
                5,
                "neither ADD nor DEL",
            ),
            ("ADD 5\n\nmntner: A\n", 5, "before the %START line"),
            ("", 5, "no %START line"),
            (
                &STREAM.replace("%END IRR", "DEL 8"),
                5,
                "without its object",
            ),
        ] {
            let refused = read_stream(text, "IRR", first).unwrap_err().to_string();
            assert!(refused.contains(why), "{refused:?} for {text:?}");
        }
    }
}
