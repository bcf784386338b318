//! The bulk pipeline: terms in, one result list (or a failure reason) per term out. The job
//! runner calls it chunk by chunk for `/api/bgservice` requests, and `ipintel bulk` calls
//! it directly; both write what it returns with [`render`].
//!
//! Results are kept in the bulk API's own wire shape (one JSON array per term, one per
//! line), because that API is their only reader: a JSON download is then a concatenation,
//! and XML or CSV re-read one chunk at a time.

pub mod command;
pub mod render;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipintel_core::bulk::Term;
use ipintel_core::geo::country::utc_offset_hours;
use ipintel_core::geo::GeoSet;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::net::dns;

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

/// One line of `/request/failed`.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    pub term: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reason: &'a str,
}

impl<'a> Problem<'a> {
    pub fn failed(term: &'a str, reason: &'a str) -> Self {
        Problem {
            term,
            kind: "failed",
            reason,
        }
    }
    /// An invalid term; one longer than any valid term is shown cut to that length (a
    /// 30 MB "term" is not worth keeping for 7 days).
    pub fn invalid(term: &'a str, reason: &'a str) -> Self {
        let mut end = term.len().min(ipintel_core::bulk::MAX_TERM_LEN);
        while !term.is_char_boundary(end) {
            end -= 1;
        }
        Problem {
            term: &term[..end],
            kind: "invalid",
            reason,
        }
    }
}

/// Append `value` as one JSON line.
pub fn push_line(out: &mut String, value: &impl Serialize) {
    out.push_str(&serde_json::to_string(value).expect("serialising plain data"));
    out.push('\n');
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

/// UTC offsets by time zone name, computed once per chunk.
#[derive(Default)]
struct Offsets(HashMap<Box<str>, Option<String>>);

impl Offsets {
    fn get(&mut self, zone: &str) -> Option<&str> {
        if !self.0.contains_key(zone) {
            let text = utc_offset_hours(zone, SystemTime::now()).map(|hours| {
                let minutes = (hours * 60.0).round() as i64;
                let sign = if minutes < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
            });
            self.0.insert(zone.into(), text);
        }
        self.0.get(zone).and_then(|o| o.as_deref())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lng: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geoname_id: Option<u32>,
}

#[derive(Serialize)]
struct AutonomousSystem<'a> {
    asn: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<String>,
}

#[derive(Serialize)]
struct ResultRecord<'a> {
    ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    domains: &'a [String],
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    autonomous_system: Option<AutonomousSystem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isp: Option<&'a str>,
    term: &'a str,
}

/// The parts of a City/Country/Enterprise record a result shows, decoded afresh: a
/// 100,000-term request touches tens of thousands of records once each, and decoding only
/// these fields (rather than filling the shared tables the single-lookup APIs cache whole
/// records in) keeps the server's memory flat while it works.
#[derive(Debug, Default, Deserialize)]
struct PlaceFields {
    country: Option<IsoCode>,
    city: Option<CityFields>,
    location: Option<LocationFields>,
    postal: Option<PostalFields>,
    #[serde(default)]
    subdivisions: Vec<NamedFields>,
}

#[derive(Debug, Default, Deserialize)]
struct IsoCode {
    iso_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct English {
    en: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NamedFields {
    names: Option<English>,
}

#[derive(Debug, Default, Deserialize)]
struct CityFields {
    geoname_id: Option<u32>,
    names: Option<English>,
}

#[derive(Debug, Default, Deserialize)]
struct LocationFields {
    latitude: Option<f64>,
    longitude: Option<f64>,
    time_zone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PostalFields {
    code: Option<String>,
}

fn english(names: &Option<English>) -> Option<&str> {
    names.as_ref().and_then(|n| n.en.as_deref())
}

/// The AS fields of an ISP or ASN record.
#[derive(Debug, Default, Deserialize)]
struct NetworkFields {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
    isp: Option<String>,
    organization: Option<String>,
}

/// One result in the seed's single-lookup shape; what no database knows is left out.
fn write_result(
    out: &mut String,
    geo: &GeoSet,
    ip: IpAddr,
    domains: &[String],
    term: &str,
    offsets: &mut Offsets,
) {
    let decode_failed = |e: ipintel_core::geo::GeoError| {
        tracing::error!(%ip, error = %e, "bulk lookup failed");
    };
    let place: Option<PlaceFields> = geo.place_db().and_then(|db| {
        db.decode_with_network(ip)
            .map_err(decode_failed)
            .ok()
            .flatten()
            .map(|(p, _)| p)
    });
    // Earlier databases win field by field (ISP before ASN); the route is the network of
    // the record that gave the AS number.
    let mut network = NetworkFields::default();
    let mut route = None;
    for db in geo.network_dbs() {
        let Some((found, net)) = db
            .decode_with_network::<NetworkFields>(ip)
            .map_err(decode_failed)
            .ok()
            .flatten()
        else {
            continue;
        };
        if network.autonomous_system_number.is_none() && found.autonomous_system_number.is_some() {
            route = net;
        }
        network.autonomous_system_number = network
            .autonomous_system_number
            .or(found.autonomous_system_number);
        network.autonomous_system_organization = network
            .autonomous_system_organization
            .or(found.autonomous_system_organization);
        network.isp = network.isp.or(found.isp);
        network.organization = network.organization.or(found.organization);
    }
    let location = place
        .as_ref()
        .map(|p| {
            let loc = p.location.as_ref();
            Location {
                country: p.country.as_ref().and_then(|c| c.iso_code.as_deref()),
                region: p.subdivisions.first().and_then(|s| english(&s.names)),
                city: p.city.as_ref().and_then(|c| english(&c.names)),
                lat: loc.and_then(|l| l.latitude),
                lng: loc.and_then(|l| l.longitude),
                postal_code: p.postal.as_ref().and_then(|c| c.code.as_deref()),
                timezone: loc
                    .and_then(|l| l.time_zone.as_deref())
                    .and_then(|zone| offsets.get(zone)),
                geoname_id: p.city.as_ref().and_then(|c| c.geoname_id),
            }
        })
        .filter(|l| l.country.is_some() || l.lat.is_some() || l.city.is_some());
    let autonomous_system = network
        .autonomous_system_number
        .map(|asn| AutonomousSystem {
            asn,
            name: network.autonomous_system_organization.as_deref(),
            route: route.map(|n| n.to_string()),
        });
    let isp = network
        .isp
        .as_deref()
        .or(network.organization.as_deref())
        .or(network.autonomous_system_organization.as_deref());
    let record = ResultRecord {
        ip,
        location,
        domains,
        autonomous_system,
        isp,
        term,
    };
    // Writing JSON into a String cannot fail.
    let json = serde_json::to_string(&record).expect("serialising plain data");
    out.push_str(&json);
}
