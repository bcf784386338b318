//! Bulk throughput, end to end through the HTTP API of a real `ipintel serve` process:
//! submit 100,000 terms, poll until ready, download the CSV. Two runs: every term an IPv4
//! address; then a mix where one third are domains, resolved by a DNS server this benchmark
//! runs on 127.0.0.1 (`tests/it/zone.rs`). Prints each phase, the total, and the server's
//! peak resident memory (VmHWM), which includes the GeoIP index built at start.
//!
//! Needs data/GeoLite2-City.mmdb and data/GeoLite2-ASN.mmdb (scripts/fetch-data.sh).
//! Run with `cargo bench -p ipintel --bench bulk`; `IPINTEL_BENCH_TERMS` sets the count.

#[allow(dead_code)] // the tests use all of it; this benchmark does not
#[path = "../tests/it/zone.rs"]
mod zone;

use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, RecordType};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A deterministic public-looking IPv4 address for `n` (splitmix64; no 0/8, 10/8, 127/8,
/// or 224/3, which are reserved and cheap to answer).
fn address(n: u64) -> Ipv4Addr {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let mut octets = (z as u32).to_be_bytes();
    octets[0] = 11 + octets[0] % 212; // 11..=222
    if octets[0] == 127 {
        octets[0] = 128;
    }
    Ipv4Addr::from(octets)
}

/// POST a JSON body; (status, body), chunked bodies decoded.
async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let status: u16 = head[9..12].parse().unwrap();
    let mut raw = &buf[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (status, raw.to_vec());
    }
    let mut out = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap(), 16).unwrap();
        raw = &raw[end + 2..];
        if size == 0 {
            return (status, out);
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Start a new peak: the kernel resets VmHWM to the current RSS (Linux 4.0+).
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
}

/// The server's peak resident set since start or the last `reset_peak`, from /proc.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

async fn run(addr: SocketAddr, pid: u32, key: &str, label: &str, terms: &[String]) {
    let mut peaks = Vec::new();
    reset_peak(pid);
    let started = Instant::now();
    let body = serde_json::to_vec(&json!({"apiKey": key, "terms": terms})).unwrap();
    let (status, answer) = post(addr, "/api/bgservice/request", &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let id = serde_json::from_slice::<Value>(&answer).unwrap()["response"]["id"]
        .as_u64()
        .unwrap();
    let submitted = started.elapsed();
    peaks.push(peak_rss_mib(pid));
    reset_peak(pid);
    let status_body = serde_json::to_vec(&json!({"apiKey": key, "ids": [id]})).unwrap();
    let state = loop {
        let (_, answer) = post(addr, "/api/bgservice/request/status", &status_body).await;
        let state = serde_json::from_slice::<Value>(&answer).unwrap()["response"][0].clone();
        if state["ready"] == 1 {
            break state;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not done: {state}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let processed = started.elapsed();
    peaks.push(peak_rss_mib(pid));
    reset_peak(pid);
    let download = serde_json::to_vec(&json!({"apiKey": key, "id": id, "format": "csv"})).unwrap();
    let (status, csv) = post(addr, "/api/bgservice/request/completed", &download).await;
    assert_eq!(status, 200);
    let total = started.elapsed();
    peaks.push(peak_rss_mib(pid));
    let rows = csv.iter().filter(|&&b| b == b'\n').count() - 1;
    println!(
        "{label}: {} terms: submit {:.2} s, process {:.2} s, download CSV {:.2} s ({} rows, {:.1} MB); total {:.2} s; processed {} failed {}",
        terms.len(),
        submitted.as_secs_f64(),
        (processed - submitted).as_secs_f64(),
        (total - processed).as_secs_f64(),
        rows,
        csv.len() as f64 / 1e6,
        total.as_secs_f64(),
        state["processed_terms"],
        state["failed_terms"],
    );
    println!(
        "  server peak RSS: submit {:.0} MiB, process {:.0} MiB, download {:.0} MiB",
        peaks[0], peaks[1], peaks[2]
    );
}

/// The server's resident set now.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

fn main() {
    let n: u64 = std::env::var("IPINTEL_BENCH_TERMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // The databases: IPINTEL_DATA_DIR, else the repository's data/, else the default data
    // directory scripts/fetch-data.sh fills.
    let data = std::env::var_os("IPINTEL_DATA_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| d.join("GeoLite2-City.mmdb").exists())
        .or_else(|| {
            let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
            repo.join("GeoLite2-City.mmdb").exists().then_some(repo)
        })
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share/ipintel")))
        .unwrap_or_default();
    let (city, asn) = (
        data.join("GeoLite2-City.mmdb"),
        data.join("GeoLite2-ASN.mmdb"),
    );
    if !city.exists() || !asn.exists() {
        eprintln!("bulk bench: run scripts/fetch-data.sh first (needs {city:?} and {asn:?})");
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // d<N>.bench.test has one A record, address(N); nothing else exists.
        let (dns, answered) = zone::serve(|name, kind| {
            let n = name
                .strip_prefix('d')
                .and_then(|rest| rest.strip_suffix(".bench.test."))
                .and_then(|n| n.parse::<u64>().ok());
            match (n, kind) {
                (Some(n), RecordType::A) => zone::Answer::Records(vec![RData::A(A(address(n)))]),
                (Some(_), _) => zone::Answer::Records(vec![]),
                (None, _) => zone::Answer::NxDomain,
            }
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ipintel.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[geoip]\nmmdb = [{:?}, {:?}]\n[tasks]\ndns_server = \"{dns}\"\n[bulk]\nmax_terms = {}\nmax_body_bytes = {}\n",
                dir.path().join("data").display().to_string(),
                city.display().to_string(),
                asn.display().to_string(),
                n.max(100_000),
                // ~16 bytes a term as JSON, with room.
                (n.max(100_000) * 32).max(32 << 20),
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ipintel"))
            .arg("--config")
            .arg(&config)
            .args(["serve", "--whois-listen", "off"])
            .env("IPINTEL_LOG", "warn")
            // The server reads IPINTEL_* as settings: not this benchmark's own.
            .env_remove("IPINTEL_BENCH_TERMS")
            .env_remove("IPINTEL_DATA_DIR")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut key = String::new();
        let addr = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(rest) = line.split(" with key ").nth(1) {
                key = rest.trim().to_owned();
            }
            if let Some(at) = line.find("http://") {
                let addr: SocketAddr = line[at + 7..].split('/').next().unwrap().parse().unwrap();
                break addr;
            }
        };
        let pid = child.id();
        println!(
            "server started (GeoLite2 City + ASN): peak RSS while building the index {:.0} MiB, now {:.0} MiB",
            peak_rss_mib(pid),
            rss_mib(pid)
        );

        let ips: Vec<String> = (0..n).map(|i| address(i).to_string()).collect();
        run(addr, pid, &key, "IP terms", &ips).await;

        let mixed: Vec<String> = (0..n)
            .map(|i| {
                let i = i + n; // other addresses than the first run's
                if i % 3 == 0 {
                    format!("d{i}.bench.test")
                } else {
                    address(i).to_string()
                }
            })
            .collect();
        run(addr, pid, &key, "mixed terms (1/3 domains)", &mixed).await;
        println!(
            "  the DNS server answered {} questions",
            answered.load(std::sync::atomic::Ordering::Relaxed)
        );
        child.kill().unwrap();
        child.wait().unwrap();
    });
}
