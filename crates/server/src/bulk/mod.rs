//! The bulk pipeline: terms in, one result list (or a failure reason) per term out. The job
//! runner calls it chunk by chunk for `/api/bgservice` requests, and `ipintel bulk` calls
//! it directly; both write what it returns with the bulk dialect's writers
//! (`writers`).
//!
//! Each address is looked up through the engine's bulk projection (`GeoSet::summary`);
//! results are kept in the bulk API's own wire shape (`shape`: one JSON
//! array per term, one per line), because that API is their only reader: a JSON download is
//! then a concatenation, and XML or CSV re-read one chunk at a time.

pub mod download;
pub mod shape;
pub mod writers;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipintel_core::bulk::{Classified, Term};
use ipintel_core::engine::BulkSubmission;
use ipintel_core::geo::GeoSet;
use tokio::sync::Semaphore;

use self::shape::{push_line, write_result, Offsets, Problem};
use crate::net::dns;

/// A request's classified terms as the engine stores them, whichever front end took them
/// (the bulk API or the console): the valid terms to run and charge, one credit each, and
/// the invalid ones as result lines with their reasons.
pub fn submission(
    classified: &Classified<'_>,
    format: writers::Format,
    reverse_ip: bool,
    chunk_terms: u32,
) -> BulkSubmission {
    let mut invalid = String::new();
    for (term, reason) in &classified.invalid {
        push_line(&mut invalid, &Problem::invalid(term, reason));
    }
    BulkSubmission {
        format: format.as_str(),
        reverse_ip,
        chunk_terms,
        total_terms: classified.total(),
        invalid_terms: classified.invalid.len() as u64,
        terms: classified.valid.join("\n"),
        invalid,
        charge: classified.valid.len() as u64,
    }
}

/// Addresses looked up per term at most (a domain with hundreds of A records, or many MX
/// hosts, costs still one credit).
pub const MAX_ADDRESSES: usize = 16;
/// Mail exchangers of an e-mail domain resolved at most.
pub const MAX_MAIL_HOSTS: usize = 5;
/// Reverse DNS names kept per address (as WhoisXML shows at most five).
pub const MAX_DOMAINS: usize = 5;
/// Chunks of one request worked on at once, so DNS waits overlap; results are still
/// recorded (and written) in order.
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// Where names are resolved and how hard.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// `None`: no DNS server known; terms that need one fail with a reason.
    pub server: Option<dns::Server>,
    /// Terms being resolved at once (each asks at most two questions at a time).
    pub concurrency: Arc<Semaphore>,
}

impl Resolver {
    pub fn new(
        server: Option<std::net::SocketAddr>,
        timeout: Duration,
        concurrency: usize,
    ) -> Self {
        Resolver {
            server: server.map(|addr| dns::Server { addr, timeout }),
            concurrency: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }
}

/// A chunk's results as JSON lines, ready to store or write.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChunkOutput {
    /// One JSON array of results per processed term.
    pub completed: String,
    /// One `{"term","type":"failed","reason"}` object per failed term.
    pub failed: String,
    pub n_processed: u64,
    pub n_failed: u64,
}

/// What DNS gave for one term.
struct Resolved {
    /// Each address with its reverse names (empty unless asked for).
    addresses: Vec<(IpAddr, Vec<String>)>,
}

/// Process `terms` (valid terms, as given) in order.
pub async fn process_chunk(
    geo: &GeoSet,
    resolver: &Resolver,
    terms: &[&str],
    reverse_ip: bool,
) -> ChunkOutput {
    // Terms that need DNS run concurrently; plain addresses without reverse DNS need none.
    let mut outcomes: Vec<Option<Result<Resolved, String>>> = Vec::with_capacity(terms.len());
    let mut pending = tokio::task::JoinSet::new();
    for (at, text) in terms.iter().enumerate() {
        let term = match Term::parse(text) {
            Ok(term) => term,
            Err(reason) => {
                outcomes.push(Some(Err(reason.to_owned())));
                continue;
            }
        };
        if let (Term::Ip(ip), false) = (&term, reverse_ip) {
            outcomes.push(Some(Ok(Resolved {
                addresses: vec![(*ip, Vec::new())],
            })));
            continue;
        }
        outcomes.push(None);
        let resolver = resolver.clone();
        pending.spawn(async move {
            let _turn = resolver.concurrency.acquire().await;
            (at, resolve(&resolver, term, reverse_ip).await)
        });
    }
    while let Some(done) = pending.join_next().await {
        match done {
            Ok((at, outcome)) => outcomes[at] = Some(outcome),
            Err(e) => tracing::error!(error = %e, "a bulk resolution task failed"),
        }
    }

    let mut out = ChunkOutput::default();
    let mut offsets = Offsets::default();
    for (text, outcome) in terms.iter().zip(outcomes) {
        let term = text.trim();
        match outcome.unwrap_or_else(|| Err("internal error".to_owned())) {
            Ok(resolved) => {
                out.completed.push('[');
                for (i, (ip, domains)) in resolved.addresses.iter().enumerate() {
                    if i > 0 {
                        out.completed.push(',');
                    }
                    write_result(&mut out.completed, geo, *ip, domains, term, &mut offsets);
                }
                out.completed.push_str("]\n");
                out.n_processed += 1;
            }
            Err(reason) => {
                push_line(&mut out.failed, &Problem::failed(term, &reason));
                out.n_failed += 1;
            }
        }
    }
    out
}

async fn resolve(resolver: &Resolver, term: Term, reverse_ip: bool) -> Result<Resolved, String> {
    let need_server = || {
        resolver.server.ok_or_else(|| {
            "no DNS server configured (tasks.dns_server) or found in /etc/resolv.conf".to_owned()
        })
    };
    let mut addresses: Vec<IpAddr> = match &term {
        Term::Ip(ip) => vec![*ip],
        Term::Domain(name) => {
            let found = dns::addresses(need_server()?, name)
                .await
                .map_err(|e| e.to_string())?;
            if found.is_empty() {
                return Err(format!("{name} has no A or AAAA records"));
            }
            found
        }
        Term::Email { domain } => mail_addresses(need_server()?, domain).await?,
    };
    let mut seen = std::collections::HashSet::new();
    addresses.retain(|ip| seen.insert(*ip));
    addresses.truncate(MAX_ADDRESSES);
    let mut out = Vec::with_capacity(addresses.len());
    for ip in addresses {
        let names = if reverse_ip {
            match dns::ptr_names(need_server()?, ip).await {
                Ok(mut names) => {
                    names.truncate(MAX_DOMAINS);
                    names
                }
                // No reverse name is not a failure of the term: `domains` is left out.
                Err(_) => Vec::new(),
            }
        } else {
            Vec::new()
        };
        out.push((ip, names));
    }
    Ok(Resolved { addresses: out })
}

/// The addresses mail for `domain` goes to: its MX hosts' addresses, or, without MX records,
/// the domain's own (RFC 5321 section 5.1).
async fn mail_addresses(server: dns::Server, domain: &str) -> Result<Vec<IpAddr>, String> {
    let hosts = dns::mail_exchangers(server, domain)
        .await
        .map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    let mut last_error = None;
    for host in hosts.iter().take(MAX_MAIL_HOSTS) {
        match dns::addresses(server, host).await {
            Ok(addresses) => found.extend(addresses),
            Err(e) => last_error = Some(e.to_string()),
        }
        if found.len() >= MAX_ADDRESSES {
            break;
        }
    }
    if !found.is_empty() {
        return Ok(found);
    }
    if !hosts.is_empty() {
        return Err(format!(
            "the mail exchangers of {domain} have no addresses{}",
            last_error.map(|e| format!(" ({e})")).unwrap_or_default()
        ));
    }
    let own = dns::addresses(server, domain)
        .await
        .map_err(|e| e.to_string())?;
    if own.is_empty() {
        return Err(format!("{domain} has no MX, A or AAAA records"));
    }
    Ok(own)
}
