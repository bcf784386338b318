//! Load generator for the whois front end (bench/whois.sh starts the server on the
//! generated 1M-object registry and runs this pinned to the other core).
//!
//! `IPINTEL_BENCH_WHOIS=127.0.0.1:PORT` names the server (loopback only). Phases:
//! 1. heavy queries (`!g`, `!6`, `!i…,1`, `!a` on sets with 10,000+ member ASNs), one
//!    `!!` connection, stop-and-wait: the first (uncached) answer's time, then p50/p99/max;
//! 2. simple queries (`!g`, `!m`, RIPE lookups in a `-k` session): one connection
//!    stop-and-wait, one connection pipelined (32 in flight), 16 connections; queries/s
//!    and p99.
//!
//! `IPINTEL_BENCH_SERVER_PID` adds the server's RSS to each line; `IPINTEL_BENCH_SECS`
//! sets each throughput run's length (default 5); `IPINTEL_BENCH_OBJECTS` the registry's
//! size (to pick keys the generator made, default 1,000,000). `IPINTEL_BENCH_IRR_ONLY=1`
//! leaves RIPE-style queries out (for IRRd, bench/irrd.sh); `IPINTEL_BENCH_TSV=FILE`
//! appends each figure as `name<TAB>value` for the side-by-side ratio; `IPINTEL_BENCH_ANSWERS=DIR`
//! saves each heavy query's answer there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One framed answer read from `reader` into `payload`: its size. RIPE answers end at the
/// blank lines after the served-by line; IRRd answers are `A<n>`+`C`, `C`, `D` or `F`.
fn read_answer(
    reader: &mut BufReader<TcpStream>,
    ripe: bool,
    payload: &mut Vec<u8>,
) -> std::io::Result<usize> {
    payload.clear();
    let mut line = String::new();
    if ripe {
        let mut size = 0;
        let mut served = false;
        let mut blanks = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            size += line.len();
            payload.extend_from_slice(line.as_bytes());
            if line.starts_with("% This query was served by") {
                served = true;
                blanks = 0;
            } else if served && line == "\n" {
                blanks += 1;
                if blanks == 2 {
                    return Ok(size);
                }
            }
        }
    }
    line.clear();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    match line.as_bytes().first() {
        Some(b'A') => {
            let n: usize = line[1..]
                .trim()
                .parse()
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, line.clone()))?;
            payload.resize(n, 0);
            reader.read_exact(payload)?;
            line.clear();
            reader.read_line(&mut line)?;
            if line != "C\n" {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("after the payload: {line:?}"),
                ));
            }
            Ok(n)
        }
        Some(b'C' | b'D') => Ok(0),
        Some(b'F') => Err(std::io::Error::other(line.clone())),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            line.clone(),
        )),
    }
}

struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    /// The last answer's payload.
    answer: Vec<u8>,
}

impl Connection {
    fn open(addr: SocketAddr, first: &str) -> Connection {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream.set_nodelay(true).unwrap();
        let mut c = Connection {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::with_capacity(1 << 20, stream),
            answer: Vec::new(),
        };
        c.writer.write_all(first.as_bytes()).unwrap();
        c
    }

    fn ask(&mut self, query: &str) -> std::io::Result<usize> {
        self.writer.write_all(query.as_bytes())?;
        read_answer(&mut self.reader, !query.starts_with('!'), &mut self.answer)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn rss() -> String {
    let Ok(pid) = std::env::var("IPINTEL_BENCH_SERVER_PID") else {
        return String::new();
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .map(|v| format!(", server RSS {}", v.trim()))
        .unwrap_or_default()
}

/// A small deterministic generator (no dependency), as the registry bench uses.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn irr_only() -> bool {
    std::env::var("IPINTEL_BENCH_IRR_ONLY").is_ok_and(|v| v == "1")
}

/// Append a figure for bench/whois.sh's ratio table.
fn record(name: &str, value: f64) {
    if let Ok(path) = std::env::var("IPINTEL_BENCH_TSV") {
        let line = format!("{name}\t{value}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

/// With `IPINTEL_BENCH_ANSWERS=DIR`, a heavy query's answer is written to DIR/QUERY, for
/// bench/whois.sh to compare the two servers' answers.
fn save_answer(query: &str, payload: &[u8]) {
    if let Ok(dir) = std::env::var("IPINTEL_BENCH_ANSWERS") {
        let name: String = query
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let _ = std::fs::write(std::path::Path::new(&dir).join(name), payload);
    }
}

fn simple_query(rng: &mut Rng, objects: u64) -> String {
    let aut_nums = (objects / 100).max(1);
    let kinds = if irr_only() { 3 } else { 4 };
    match rng.below(kinds) {
        0 => format!("!gAS{}\n", 4_200_000_000 + rng.below(10_000)),
        1 => format!("!maut-num,AS{}\n", 4_200_000_000 + rng.below(aut_nums)),
        2 => format!("!mmntner,MNT-{}\n", rng.below((objects * 4 / 100).max(1))),
        _ => format!("-r -T aut-num AS{}\n", 4_200_000_000 + rng.below(aut_nums)),
    }
}

/// Run simple queries on `connections` connections for `secs`, `window` in flight on each.
fn throughput(addr: SocketAddr, connections: usize, window: usize, secs: u64, objects: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..connections)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng(0x5eed_0000 + t as u64);
                let mut c = Connection::open(addr, if irr_only() { "!!\n" } else { "!!\n-k\n" });
                let mut latencies = Vec::new();
                let mut in_flight = std::collections::VecDeque::new();
                while Instant::now() < deadline {
                    while in_flight.len() < window {
                        let q = simple_query(&mut rng, objects);
                        c.writer.write_all(q.as_bytes()).unwrap();
                        in_flight.push_back((Instant::now(), !q.starts_with('!')));
                    }
                    let (sent, ripe) = in_flight.pop_front().unwrap();
                    read_answer(&mut c.reader, ripe, &mut c.answer).unwrap();
                    latencies.push(sent.elapsed());
                }
                while let Some((_, ripe)) = in_flight.pop_front() {
                    read_answer(&mut c.reader, ripe, &mut c.answer).unwrap();
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = started.elapsed().as_secs_f64().max(secs as f64);
    all.sort_unstable();
    let rate = all.len() as f64 / elapsed;
    record(
        &format!("simple c={connections} w={window} queries/s"),
        rate,
    );
    record(
        &format!("simple c={connections} w={window} p99 ms"),
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
    );
    println!(
        "  {connections} connection(s), {window} in flight each: {:.0} queries/s, p50 {}, p99 {}{}",
        rate,
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        rss()
    );
}

fn main() {
    let Ok(addr) = std::env::var("IPINTEL_BENCH_WHOIS") else {
        eprintln!(
            "whois bench: set IPINTEL_BENCH_WHOIS=127.0.0.1:PORT (bench/whois.sh does); skipped"
        );
        return;
    };
    let addr: SocketAddr = addr.parse().expect("IPINTEL_BENCH_WHOIS is ip:port");
    assert!(addr.ip().is_loopback(), "benchmarks talk to loopback only");
    let secs: u64 = std::env::var("IPINTEL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let objects: u64 = std::env::var("IPINTEL_BENCH_OBJECTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);

    println!("== heavy queries, one !! connection, stop-and-wait");
    let mut c = Connection::open(addr, "!!\n");
    for query in [
        "!gAS4200000001",
        "!6AS4200000001",
        "!iAS-BIG",
        "!iAS-BIG,1",
        "!a4AS-BIG",
        "!a6AS-BIG",
        "!aAS-BIG",
        "!iAS-SET0,1",
        "!aAS-SET0",
        "!iRS-SET0,1",
    ] {
        let line = format!("{query}\n");
        let first = Instant::now();
        // A server that fails a query (the other server, in bench/irrd.sh) is reported as
        // such, and the next query gets a fresh connection.
        let failed = |c: &mut Connection, e: std::io::Error, t: Instant| {
            println!("  {query:<16} failed after {}: {e}", ms(t.elapsed()));
            record(&format!("{query} failed"), 1.0);
            *c = Connection::open(addr, "!!\n");
        };
        let size = match c.ask(&line) {
            Ok(size) => size,
            Err(e) => {
                failed(&mut c, e, first);
                continue;
            }
        };
        let first = first.elapsed();
        save_answer(query, &c.answer);
        // 300 answers, or as many as 20 s allow (a slow server), at least 5.
        let mut times = Vec::with_capacity(300);
        let budget = Instant::now();
        while times.len() < 300 && (times.len() < 5 || budget.elapsed() < Duration::from_secs(20)) {
            let t = Instant::now();
            match c.ask(&line) {
                Ok(_) => times.push(t.elapsed()),
                Err(e) => {
                    failed(&mut c, e, t);
                    break;
                }
            }
        }
        if times.is_empty() {
            continue;
        }
        times.sort_unstable();
        record(&format!("{query} first ms"), first.as_secs_f64() * 1000.0);
        record(
            &format!("{query} p99 ms"),
            percentile(&times, 0.99).as_secs_f64() * 1000.0,
        );
        println!(
            "  {query:<16} {size:>9} B  first {}, then p50 {}, p99 {}, max {}{}",
            ms(first),
            ms(percentile(&times, 0.50)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap()),
            rss()
        );
    }
    drop(c);

    if irr_only() {
        println!("== simple queries (!g, !m aut-num, !m mntner), {secs} s each");
    } else {
        println!(
            "== simple queries (!g, !m aut-num, !m mntner, RIPE -r -T aut-num), {secs} s each"
        );
    }
    throughput(addr, 1, 1, secs, objects);
    throughput(addr, 1, 32, secs, objects);
    throughput(addr, 16, 1, secs, objects);
    throughput(addr, 16, 8, secs, objects);
}
