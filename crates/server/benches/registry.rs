//! Registry benchmark: generate a deterministic RPSL dump with RIPE-like proportions
//! (docs/benchmarks.md: 60 % inetnum with non-aligned ranges, 12 % inet6num,
//! 10 % route, 2 % route6, 1 % aut-num, 4 % mntner, 8 % person/role, 2 % organisation,
//! 1 % as-set/route-set nested, and AS-BIG with 12,000 member AS numbers), then time parsing it and building one in-memory
//! generation (every index), and a million most-specific lookups, with RSS.
//! Run: `cargo bench -p ipintel --bench registry`
//! (`IPINTEL_BENCH_OBJECTS`, default 1,000,000; `IPINTEL_BENCH_DUMP=FILE` also writes the
//! dump there for other tools, and with `IPINTEL_BENCH_PHASE=dump` only that:
//! `bench/registry.sh` imports it with the CLI and serves it; `IPINTEL_BENCH_SIZES=ripe`
//! gives inetnum, inet6num and person/role objects RIPE's sizes, with descr, remarks and
//! address lines: ~470 bytes an object on average instead of ~160).

#[path = "support/mod.rs"]
mod support;
use support::rss;

use std::fmt::Write;
use std::time::Instant;

use ipintel_core::registry::index::{RangeKind, Registry};
use ipintel_core::registry::key::Family;
use ipintel_core::registry::ranges::Span;
use ipintel_core::registry::rpsl;

/// xorshift64*: the same dump every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ipv4(n: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(n)
}

/// What RIPE's inetnum and inet6num objects carry besides their keys and contacts.
const RIPE_NETWORK_LINES: &str =
    "descr: Example customer network, numbered as a real registry numbers it\n\
descr: Rack 12, second floor, example data centre\n\
remarks: ----------------------------------------------------------------\n\
remarks: Abuse reports go to the abuse-c of the allocation, not to this object\n\
remarks: ----------------------------------------------------------------\n\
created: 2015-06-01T12:00:00Z\nlast-modified: 2024-01-15T09:30:00Z\n";

/// ... and what RIPE's person and role objects carry.
const RIPE_PERSON_LINES: &str = "address: Example Street 1\naddress: 1000 AA Amsterdam\n\
address: Netherlands\nfax-no: +31 20 000 0000\n\
remarks: Office hours Monday to Friday, 09:00 to 17:00 CET\n\
created: 2015-06-01T12:00:00Z\nlast-modified: 2024-01-15T09:30:00Z\n";

/// The dump text: a `#` header, then objects separated by blank lines.
fn generate(objects: usize, seed: u64, ripe_sizes: bool) -> String {
    let mut rng = Rng(seed);
    let (network_lines, person_lines) = if ripe_sizes {
        (RIPE_NETWORK_LINES, RIPE_PERSON_LINES)
    } else {
        ("", "")
    };
    let mut out = String::with_capacity(objects * if ripe_sizes { 420 } else { 260 });
    out.push_str("# Generated registry for ipintel's benchmark (made-up data)\n");
    let people = (objects * 8 / 100).max(1);
    let maintainers = (objects * 4 / 100).max(1);
    let orgs = (objects * 2 / 100).max(1);
    let person = |n: u64| format!("P{n}-TEST");
    let mntner = |n: u64| format!("MNT-{n}");
    // inetnum: /16 allocations, each split into non-aligned assignments below it.
    let mut made = 0usize;
    let mut block: u32 = 0x0a00_0000;
    let inetnums = objects * 60 / 100;
    while made < inetnums {
        let (start, end) = (block, block + 0xffff);
        let _ = write!(
            out,
            "\ninetnum: {} - {}\nnetname: ALLOC-{made}\ncountry: NL\norg: ORG-{}-TEST\nadmin-c: {}\ntech-c: {}\nstatus: ALLOCATED PA\nmnt-by: {}\nsource: TEST\n",
            ipv4(start),
            ipv4(end),
            rng.below(orgs as u64),
            person(rng.below(people as u64)),
            person(rng.below(people as u64)),
            mntner(rng.below(maintainers as u64)),
        );
        made += 1;
        let mut at = start;
        while made < inetnums && at < end {
            let len = 1 + rng.below(700) as u32;
            let last = (at + len).min(end);
            let _ = write!(
                out,
                "\ninetnum: {} - {}\nnetname: NET-{made}\ndescr: customer {made}\n{network_lines}country: NL\nadmin-c: {}\ntech-c: {}\nstatus: ASSIGNED PA\nmnt-by: {}\nsource: TEST\n",
                ipv4(at),
                ipv4(last),
                person(rng.below(people as u64)),
                person(rng.below(people as u64)),
                mntner(rng.below(maintainers as u64)),
            );
            made += 1;
            at = last + 1 + rng.below(64) as u32;
        }
        block += 0x1_0000;
    }
    for n in 0..objects * 12 / 100 {
        let _ = write!(
            out,
            "\ninet6num: 2001:db8:{:x}:{:x}::/64\nnetname: V6-{n}\n{network_lines}country: NL\nadmin-c: {}\ntech-c: {}\nstatus: ASSIGNED\nmnt-by: {}\nsource: TEST\n",
            n >> 16,
            n & 0xffff,
            person(rng.below(people as u64)),
            person(rng.below(people as u64)),
            mntner(rng.below(maintainers as u64)),
        );
    }
    for n in 0..objects * 10 / 100 {
        let prefix = 0x0a00_0000u32 + ((n as u32) << 8);
        let _ = write!(
            out,
            "\nroute: {}/24\norigin: AS{}\nmnt-by: {}\nsource: TEST\n",
            ipv4(prefix),
            4_200_000_000u64 + rng.below(10_000),
            mntner(rng.below(maintainers as u64)),
        );
    }
    for n in 0..objects * 2 / 100 {
        let _ = write!(
            out,
            // Past 65,535 the second group moves on (2001:db9:...): one group holds 16 bits.
            "\nroute6: 2001:{:x}:{:x}::/48\norigin: AS{}\nmnt-by: {}\nsource: TEST\n",
            0xdb8 + (n >> 16),
            n & 0xffff,
            4_200_000_000u64 + rng.below(10_000),
            mntner(rng.below(maintainers as u64)),
        );
    }
    for n in 0..objects / 100 {
        let _ = write!(
            out,
            "\naut-num: AS{}\nas-name: AS-NAME-{n}\nadmin-c: {}\ntech-c: {}\nmnt-by: {}\nsource: TEST\n",
            4_200_000_000u64 + n as u64,
            person(rng.below(people as u64)),
            person(rng.below(people as u64)),
            mntner(rng.below(maintainers as u64)),
        );
    }
    for n in 0..maintainers {
        let _ = write!(
            out,
            "\nmntner: {}\nadmin-c: {}\nupd-to: noc@example.net\nauth: MD5-PW $1$saltsalt$abcdefghijklmnopqrstuv\nmnt-by: {}\nsource: TEST\n",
            mntner(n as u64),
            person(rng.below(people as u64)),
            mntner(n as u64),
        );
    }
    for n in 0..people {
        let kind = if n % 4 == 0 { "role" } else { "person" };
        let _ = write!(
            out,
            "\n{kind}: Name{} Surname{}\naddress: Street {n}\n{person_lines}phone: +31 20 000 {n}\ne-mail: p{n}@example.net\nnic-hdl: {}\nmnt-by: {}\nsource: TEST\n",
            rng.below(5000),
            rng.below(20000),
            person(n as u64),
            mntner(rng.below(maintainers as u64)),
        );
    }
    for n in 0..orgs {
        let _ = write!(
            out,
            "\norganisation: ORG-{n}-TEST\norg-name: Example Org {n}\norg-type: OTHER\naddress: Street {n}\ne-mail: org{n}@example.net\nmnt-ref: {}\nmnt-by: {}\nsource: TEST\n",
            mntner(rng.below(maintainers as u64)),
            mntner(rng.below(maintainers as u64)),
        );
    }
    // Sets nested four levels: each set names the three below it and some AS numbers.
    let sets = objects / 100;
    for n in 0..sets {
        let mut members: Vec<String> = (1..=3)
            .map(|k| n * 3 + k)
            .filter(|&c| c < sets)
            .map(|c| format!("AS-SET{c}"))
            .collect();
        members.push(format!("AS{}", 4_200_000_000u64 + rng.below(10_000)));
        let _ = write!(
            out,
            "\nas-set: AS-SET{n}\nmembers: {}\ntech-c: {}\nadmin-c: {}\nmnt-by: {}\nsource: TEST\n",
            members.join(", "),
            person(rng.below(people as u64)),
            person(rng.below(people as u64)),
            mntner(rng.below(maintainers as u64)),
        );
    }
    // One large set for the whois benchmark: 12,000 member AS numbers (most with routes)
    // and the whole as-set tree below AS-SET0.
    if objects >= 100_000 {
        out.push_str("\nas-set: AS-BIG\nmembers: AS-SET0\n");
        for line in 0..120u64 {
            let members: Vec<String> = (0..100u64)
                .map(|k| format!("AS{}", 4_200_000_000u64 + line * 100 + k))
                .collect();
            let _ = writeln!(out, "members: {}", members.join(", "));
        }
        out.push_str("tech-c: P0-TEST\nadmin-c: P0-TEST\nmnt-by: MNT-0\nsource: TEST\n");
    }
    // Route sets nested three levels, with prefixes and the as-sets above.
    let route_sets = objects / 200;
    for n in 0..route_sets {
        let mut members: Vec<String> = (1..=2)
            .map(|k| n * 2 + k)
            .filter(|&c| c < route_sets)
            .map(|c| format!("RS-SET{c}"))
            .collect();
        members.push(format!(
            "{}/24",
            ipv4(0x0a00_0000u32 + ((rng.below(1 << 12) as u32) << 8))
        ));
        members.push(format!("AS-SET{}", rng.below(sets.max(1) as u64)));
        let _ = write!(
            out,
            "\nroute-set: RS-SET{n}\nmembers: {}\nmp-members: 2001:db8:{:x}::/48\ntech-c: {}\nadmin-c: {}\nmnt-by: {}\nsource: TEST\n",
            members.join(", "),
            rng.below(1 << 16),
            person(rng.below(people as u64)),
            person(rng.below(people as u64)),
            mntner(rng.below(maintainers as u64)),
        );
    }
    out
}

fn main() {
    let objects: usize = std::env::var("IPINTEL_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let ripe_sizes = std::env::var("IPINTEL_BENCH_SIZES").as_deref() == Ok("ripe");
    let text = generate(objects, 0x5eed_2026, ripe_sizes);
    println!(
        "generated {} objects target, {:.1} MB in {:.2} s; {}",
        objects,
        text.len() as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        rss()
    );
    if let Ok(path) = std::env::var("IPINTEL_BENCH_DUMP") {
        std::fs::write(&path, &text).expect("write the dump");
        println!("dump written to {path}");
        if std::env::var("IPINTEL_BENCH_PHASE").as_deref() == Ok("dump") {
            return;
        }
    }
    let started = Instant::now();
    let parsed: Vec<_> = rpsl::parse(&text)
        .collect::<Result<_, _>>()
        .expect("the dump parses");
    let parse_secs = started.elapsed().as_secs_f64();
    println!(
        "parsed {} objects in {parse_secs:.2} s ({:.0} objects/s); {}",
        parsed.len(),
        parsed.len() as f64 / parse_secs,
        rss()
    );
    let n = parsed.len();
    let started = Instant::now();
    let (registry, skipped) = Registry::build(parsed.into_iter().map(|o| ("TEST".to_owned(), o)));
    let build_secs = started.elapsed().as_secs_f64();
    println!(
        "indexed {} objects ({} skipped) in {build_secs:.2} s; parse + index {:.0} objects/s; {}",
        registry.len(),
        skipped.len(),
        n as f64 / (parse_secs + build_secs),
        rss()
    );
    drop(text);
    println!("after dropping the dump text: {}", rss());
    // What the allocator keeps of the build's temporaries, given back (as an import will).
    ipintel_core::release_free_heap();
    println!("after giving freed heap back: {}", rss());

    // Uncached set answers (what the first `!a`/`!i…,1` after an import costs): each run
    // excludes a different set that does not exist, so it misses the generation's cache.
    if registry.set("AS-BIG", &[]).is_some() {
        for (label, run) in [
            ("!aAS-BIG", 0u8),
            ("!a4AS-BIG", 1),
            ("!iAS-BIG,1", 2),
            ("!iRS-SET0,1", 3),
        ] {
            let runs = 10;
            let started = Instant::now();
            let mut bytes = 0;
            for i in 0..runs {
                let exclude = [format!("AS-UNCACHED-{i}")];
                let listing = match run {
                    0 => registry.set_prefixes("AS-BIG", None, &[], &exclude),
                    1 => registry.set_prefixes("AS-BIG", Some(Family::V4), &[], &exclude),
                    2 => registry.recursive_members("AS-BIG", &[], &exclude),
                    _ => registry.recursive_members("RS-SET0", &[], &exclude),
                };
                bytes = listing.expect("the set exists").text().len();
            }
            println!(
                "uncached {label}: {:.1} ms ({bytes} B answer); {}",
                started.elapsed().as_secs_f64() * 1000.0 / runs as f64,
                rss()
            );
        }
    }

    // Most-specific lookups of random addresses in the generated space.
    let index = registry
        .ranges(Family::V4, RangeKind::Network)
        .expect("inetnums");
    let mut rng = Rng(7);
    // Addresses in 10.0.0.0/12, where the generated allocations are (and some beyond).
    let queries: Vec<Span> = (0..1_000_000)
        .map(|_| {
            let a = 0x0a00_0000u128 + rng.below(1 << 20) as u128;
            Span::new(a, a).unwrap()
        })
        .collect();
    let started = Instant::now();
    let mut found = 0usize;
    for &q in &queries {
        found += index.most_specific(q).is_some() as usize;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "most-specific: {:.0} ns/lookup over {} random addresses ({} found); {}",
        secs * 1e9 / queries.len() as f64,
        queries.len(),
        found,
        rss()
    );
}
