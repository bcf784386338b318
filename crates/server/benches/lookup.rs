//! In-process lookup benchmark: look a random public IPv4 address up in every database in
//! `IPINTEL_BENCH_MMDB` (default: the data directory, as `scripts/data-dir.sh` prints it) and
//! render the MaxMind City body, as a request does.
//!
//! Run with `cargo bench -p ipintel --bench lookup` after `scripts/fetch-data.sh`.
//! Reports the median of 21 rounds (each over the whole address list) per phase, plus the
//! cold first round (empty caches) for the record.

#[path = "support/mod.rs"]
mod support;
use support::rss;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Instant;

use ipintel_core::geo::PlaceForm;
use ipintel_core::geo::{reserved, GeoOptions, GeoService};
use ipintel_server::api::maxmind::{place_renderer, render_body, Endpoint};

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
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let paths: Vec<PathBuf> = std::env::var("IPINTEL_BENCH_MMDB")
        .map(|v| v.split(',').map(PathBuf::from).collect())
        .unwrap_or_else(|_| {
            vec![env
                .get("IPINTEL_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| ipintel_server::config::default_data_dir(&env).0)]
        });
    let n: usize = std::env::var("IPINTEL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cache_mb: u64 = std::env::var("IPINTEL_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ipintel_core::geo::DEFAULT_CACHE_BYTES >> 20);
    let opened = Instant::now();
    let geo = GeoService::open(GeoOptions {
        paths: paths.clone(),
        verify: false,
        cache_bytes: cache_mb << 20,
    })
    .expect("open databases (run scripts/fetch-data.sh first)");
    let set = geo.snapshot();
    assert!(!set.dbs.is_empty(), "no databases in {paths:?}");
    println!(
        "open: {:.2} s; record cache {cache_mb} MiB; {}",
        opened.elapsed().as_secs_f64(),
        rss()
    );
    for db in &set.dbs {
        println!("database: {} ({})", db.database_type, db.path.display());
    }
    let ips = addresses(n, 0x9e37_79b9_7f4a_7c15);
    // The handler renders places straight from the database; IPINTEL_BENCH_PLACES=decoded
    // measures the decoded records other dialects use, in the same binary (an A/B).
    let form = match std::env::var("IPINTEL_BENCH_PLACES").as_deref() {
        Ok("decoded") => PlaceForm::Decoded,
        _ => PlaceForm::Rendered(place_renderer(Endpoint::City)),
    };
    println!("places: {form:?}");

    // Three phases, each timed over the whole list: search-tree walks only; the engine's
    // lookup (walks, reserved check, record caches); and the handler's lookup + render.
    let walk = || {
        let mut n = 0usize;
        for &ip in &ips {
            for db in &set.dbs {
                n += db.hit(ip).map(|h| h.offset.is_some() as usize).unwrap_or(0);
            }
        }
        n
    };
    let locate = || {
        let mut n = 0usize;
        for &ip in &ips {
            n += geo.snapshot().lookup_as(ip, form).is_ok() as usize;
        }
        n
    };
    let render = || {
        let mut bytes = 0usize;
        for &ip in &ips {
            // The handler's path: snapshot, reserved check, every database, render.
            let set = geo.snapshot();
            if let Ok(answer) = set.lookup_as(ip, form) {
                bytes += render_body(Endpoint::City, &answer, Some(1000)).len();
            }
        }
        bytes
    };
    // Short lists are walked several times per round, so every round does ~1M lookups.
    let passes = (1_000_000 / ips.len()).max(1);
    let time = |f: &dyn Fn() -> usize| {
        let started = Instant::now();
        for _ in 0..passes {
            std::hint::black_box(f());
        }
        started.elapsed().as_nanos() as f64 / (ips.len() * passes) as f64
    };
    let started = Instant::now();
    render();
    println!(
        "cold pass (records decoded on first use): {:.0} ns/lookup",
        started.elapsed().as_nanos() as f64 / ips.len() as f64
    );
    let found = locate();
    println!(
        "{found} of {} addresses found; after the cold round: {:?}; {}",
        ips.len(),
        set.cache_stats(),
        rss()
    );
    // IPINTEL_BENCH_PHASE=walk|engine|render|none runs one phase (or none: setup and the
    // cold pass only), so instruction counts (callgrind) can be taken per phase by difference.
    let only = std::env::var("IPINTEL_BENCH_PHASE").ok();
    for (label, f) in [
        ("tree walks only", &walk as &dyn Fn() -> usize),
        ("engine lookup", &locate),
        ("lookup + render City body", &render),
    ] {
        if only.as_deref().is_some_and(|p| {
            !label.starts_with(
                &p.replace("render", "lookup + render")
                    .replace("walk", "tree walks"),
            )
        }) {
            continue;
        }
        let mut times: Vec<f64> = (0..rounds()).map(|_| time(f)).collect();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{label}: median {:.0} ns/lookup (min {:.0}, max {:.0}, {} rounds of {} random IPv4); {}",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            times.len(),
            ips.len(),
            rss()
        );
    }
    println!("cache at the end: {:?}", set.cache_stats());
}

/// Rounds per phase: `IPINTEL_BENCH_ROUNDS` (default 21; 1 under callgrind).
fn rounds() -> usize {
    std::env::var("IPINTEL_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(21)
}
