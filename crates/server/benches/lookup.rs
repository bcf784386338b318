//! In-process lookup benchmark: look a random public IPv4 address up in every database in
//! `IPINTEL_BENCH_MMDB` (default `data/`) and render the MaxMind City body, as a request does.
//!
//! Run with `cargo bench -p ipintel --bench lookup` after `scripts/fetch-data.sh`.
//! Reports the median of 15 rounds (each over the whole address list), after a warm-up
//! round, plus the cold first round (empty caches) for the record.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Instant;

use ipintel_core::accounts::Service;
use ipintel_core::geo::{reserved, GeoOptions, GeoService};
use ipintel_server::api::maxmind::render_body;

fn addresses(n: usize, seed: u64) -> Vec<IpAddr> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        // xorshift64*: deterministic, the same list every run.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let v = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32;
        let ip = IpAddr::V4(Ipv4Addr::from(v));
        if !reserved::is_reserved(ip) {
            out.push(ip);
        }
    }
    out
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let paths: Vec<PathBuf> = std::env::var("IPINTEL_BENCH_MMDB")
        .map(|v| v.split(',').map(PathBuf::from).collect())
        .unwrap_or_else(|_| vec![root.join("data")]);
    let n: usize = std::env::var("IPINTEL_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let geo = GeoService::open(GeoOptions {
        paths: paths.clone(),
        verify: false,
        cache_records: 200_000,
    })
    .expect("open databases (run scripts/fetch-data.sh first)");
    let set = geo.snapshot();
    assert!(!set.dbs.is_empty(), "no databases in {paths:?}");
    for db in &set.dbs {
        println!("database: {} ({})", db.database_type, db.path.display());
    }
    let ips = addresses(n, 0x9e37_79b9_7f4a_7c15);

    let round = |label: Option<&str>| {
        let started = Instant::now();
        let mut bytes = 0usize;
        let mut found = 0usize;
        for &ip in &ips {
            // The handler's path: snapshot, reserved check, every database, render.
            if let Ok((_set, answer)) = geo.lookup(ip) {
                found += 1;
                bytes += render_body(Service::City, &answer, Some(1000)).len();
            }
        }
        let per = started.elapsed().as_nanos() as f64 / ips.len() as f64;
        if let Some(label) = label {
            println!("{label}: {per:.0} ns/lookup ({found} of {} found, {:.0} B/body)", ips.len(), bytes as f64 / found.max(1) as f64);
        }
        per
    };
    round(Some("cold round"));
    let mut rounds: Vec<f64> = (0..15).map(|_| round(None)).collect();
    rounds.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "city lookup + merge + render, {} random IPv4: median {:.0} ns/lookup (min {:.0}, max {:.0}) over 15 rounds",
        ips.len(),
        rounds[7],
        rounds[0],
        rounds[14]
    );
}
