//! `ipintel bulk TERMS --out FILE`: the bulk pipeline from the command line, either in this
//! process (the configured databases and DNS server) or through a server's bulk API
//! (`--server URL --key KEY`), with a progress line and a summary on stderr.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use ipintel_core::bulk::classify;
use ipintel_core::geo::GeoService;

use super::BulkArgs;
use crate::bulk::shape::{push_line, Problem};
use crate::bulk::writers::{Format, Part, Writer};
use crate::bulk::{process_chunk, Resolver, CHUNKS_IN_FLIGHT};
use crate::config::Config;

/// Read the terms file: one term per line; blank lines and `#` comments are skipped.
fn read_terms(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading terms from {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// The format asked for, else the one `--out`'s extension names, else CSV.
fn format_of(args: &BulkArgs) -> anyhow::Result<Format> {
    if let Some(f) = &args.format {
        return f
            .parse()
            .map_err(|_| anyhow::anyhow!("--format {f:?}: expected csv, json or xml"));
    }
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    Ok(ext.parse().unwrap_or(Format::Csv))
}

/// Where invalid and failed terms go: `--failed`, else `--out` with `.failed` before its
/// extension (`results.csv` -> `results.failed.csv`).
fn failed_path(args: &BulkArgs, format: Format) -> PathBuf {
    args.failed.clone().unwrap_or_else(|| {
        let stem = args
            .out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("results");
        args.out.with_file_name(format!("{stem}.failed.{format}"))
    })
}

/// A progress line on stderr, redrawn at most five times a second, only on a terminal.
struct Progress {
    total: u64,
    started: Instant,
    drawn: Option<Instant>,
    enabled: bool,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            total,
            started: Instant::now(),
            drawn: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, done: u64, force: bool) {
        if !self.enabled
            || (!force
                && self
                    .drawn
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(200)))
        {
            return;
        }
        self.drawn = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0}s", (self.total.saturating_sub(done)) as f64 / rate)
        } else {
            "?".to_owned()
        };
        let pct = (done * 100).checked_div(self.total).unwrap_or(100);
        eprint!(
            "\r  {done} / {} terms ({pct}%)  {rate:.0} terms/s  ETA {eta}   ",
            self.total
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&mut self, done: u64) {
        if self.enabled {
            self.show(done, true);
            eprintln!();
        }
    }
}

struct Summary {
    total: u64,
    processed: u64,
    failed: u64,
    invalid: u64,
    duplicates: Option<u64>,
    elapsed: Duration,
}

fn print_summary(s: &Summary, out: &Path, failed_file: Option<&Path>) {
    let dups = s
        .duplicates
        .map(|d| format!(", {d} duplicates dropped"))
        .unwrap_or_default();
    // The rate is over the whole run, start to finish, opening the databases included.
    let secs = s.elapsed.as_secs_f64();
    eprintln!(
        "ipintel bulk: {} terms in {secs:.1} s ({:.0} terms/s): {} processed, {} failed, {} invalid{dups}",
        s.total,
        s.total as f64 / secs.max(1e-3),
        s.processed,
        s.failed,
        s.invalid
    );
    eprintln!("  results: {}", out.display());
    if let Some(f) = failed_file {
        eprintln!("  invalid and failed terms, with reasons: {}", f.display());
    }
}

pub async fn run(config: &Config, args: BulkArgs) -> anyhow::Result<i32> {
    let format = format_of(&args)?;
    let terms = read_terms(&args.terms)?;
    if terms.is_empty() {
        bail!("{} holds no terms", args.terms.display());
    }
    match (&args.server, &args.key) {
        (Some(server), Some(key)) => remote(&args, format, terms, server, key).await,
        (Some(_), None) => bail!("--server needs --key"),
        _ => local(config, &args, format, terms).await,
    }
}

/// Write `parts` to `path` through a temporary file renamed at the end, so a reader never
/// sees half a file under the final name.
struct Output {
    path: PathBuf,
    tmp: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl Output {
    fn create(path: &Path) -> anyhow::Result<Output> {
        let tmp = path.with_extension("partial");
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Output {
            path: path.to_owned(),
            tmp,
            file: std::io::BufWriter::with_capacity(1 << 20, file),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.file
            .write_all(bytes)
            .with_context(|| format!("writing {}", self.tmp.display()))
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.file.flush()?;
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("renaming {} to {}", self.tmp.display(), self.path.display()))
    }
}

async fn local(
    config: &Config,
    args: &BulkArgs,
    format: Format,
    terms: Vec<String>,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    let classified = classify(terms.iter().map(String::as_str));
    let loud = std::io::stderr().is_terminal();
    if loud {
        eprint!(
            "ipintel bulk: opening databases in {:?}... ",
            config.mmdb_paths()
        );
    }
    let geo = GeoService::open(config.geo_options(false))?;
    if loud {
        eprintln!("{:.1} s", started.elapsed().as_secs_f64());
    }
    let set = geo.snapshot();
    if set.dbs.is_empty() {
        bail!("no MMDB database found; run scripts/fetch-data.sh or set geoip.mmdb");
    }
    let resolver = Resolver::new(
        config
            .tasks
            .dns_server
            .or_else(crate::config::system_dns_server),
        Duration::from_millis(config.bulk.dns_timeout_ms),
        config.bulk.resolve_concurrency,
    );
    let mut out = Output::create(&args.out)?;
    let mut results = Writer::new(format, Part::Completed);
    out.write(&results.begin())?;
    let mut problems = String::new();
    for (term, reason) in &classified.invalid {
        push_line(&mut problems, &Problem::invalid(term, reason));
    }
    let valid: &[&str] = &classified.valid;
    let mut progress = Progress::new(valid.len() as u64);
    let (mut processed, mut failed) = (0, 0);
    // As the server does: a few chunks at once, written in order.
    let mut parts = futures_util::stream::iter(valid.chunks(config.bulk.chunk_terms as usize))
        .map(|chunk| process_chunk(&set, &resolver, chunk, args.reverse_ip))
        .buffered(CHUNKS_IN_FLIGHT);
    while let Some(part) = parts.next().await {
        out.write(&results.lines(&part.completed))?;
        problems.push_str(&part.failed);
        processed += part.n_processed;
        failed += part.n_failed;
        progress.show(processed + failed, false);
    }
    out.write(&results.end())?;
    out.finish()?;
    progress.finish(processed + failed);
    let failed_file = if problems.is_empty() {
        None
    } else {
        let path = failed_path(args, format);
        let mut file = Output::create(&path)?;
        let mut writer = Writer::new(format, Part::Failed);
        file.write(&writer.begin())?;
        file.write(&writer.lines(&problems))?;
        file.write(&writer.end())?;
        file.finish()?;
        Some(path)
    };
    print_summary(
        &Summary {
            total: classified.total(),
            processed,
            failed,
            invalid: classified.invalid.len() as u64,
            duplicates: Some(classified.duplicates),
            elapsed: started.elapsed(),
        },
        &args.out,
        failed_file.as_deref(),
    );
    Ok(super::EXIT_OK)
}

async fn remote(
    args: &BulkArgs,
    format: Format,
    terms: Vec<String>,
    server: &str,
    key: &str,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    let api = client::Api::parse(server, args.ca_cert.as_deref())?;
    let created = api
        .call(
            "/api/bgservice/request",
            &serde_json::json!({"apiKey": key, "terms": terms, "format": "json", "reverseIp": u8::from(args.reverse_ip)}),
        )
        .await?;
    let id = created["response"]["id"]
        .as_u64()
        .with_context(|| format!("unexpected answer: {created}"))?;
    drop(terms);
    let status_of = || async {
        let answer = api
            .call(
                "/api/bgservice/request/status",
                &serde_json::json!({"apiKey": key, "ids": [id]}),
            )
            .await?;
        let status = answer["response"][0].clone();
        if status.is_null() {
            bail!("request {id} disappeared from the server");
        }
        Ok(status)
    };
    let mut status = status_of().await?;
    let count = |s: &serde_json::Value, f: &str| s[f].as_u64().unwrap_or(0);
    let mut progress =
        Progress::new(count(&status, "total_terms") - count(&status, "invalid_terms"));
    while status["ready"] != 1 {
        progress.show(
            count(&status, "processed_terms") + count(&status, "failed_terms"),
            false,
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        status = status_of().await?;
    }
    progress.finish(count(&status, "processed_terms") + count(&status, "failed_terms"));
    let body = serde_json::json!({"apiKey": key, "id": id, "format": format.as_str()});
    let mut out = Output::create(&args.out)?;
    api.download("/api/bgservice/request/completed", &body, &mut out)
        .await?;
    out.finish()?;
    let (invalid, failed) = (
        count(&status, "invalid_terms"),
        count(&status, "failed_terms"),
    );
    let failed_file = if invalid + failed > 0 {
        let path = failed_path(args, format);
        let mut file = Output::create(&path)?;
        api.download("/api/bgservice/request/failed", &body, &mut file)
            .await?;
        file.finish()?;
        Some(path)
    } else {
        None
    };
    eprintln!("ipintel bulk: request {id} on {server}");
    print_summary(
        &Summary {
            total: count(&status, "total_terms"),
            processed: count(&status, "processed_terms"),
            failed,
            invalid,
            duplicates: None,
            elapsed: started.elapsed(),
        },
        &args.out,
        failed_file.as_deref(),
    );
    Ok(super::EXIT_OK)
}

/// The smallest HTTP/1.1 client the bulk API needs, on hyper: one connection per call,
/// over TLS (rustls, the system's CA bundle plus `--ca-cert`) for `https://` URLs.
mod client {
    use std::path::Path;
    use std::sync::Arc;

    use anyhow::{bail, Context};
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    use super::Output;

    /// How long a server may take to start answering one call.
    const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

    /// Where Debian, Ubuntu and Alpine keep the system's trusted CAs.
    const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

    pub struct Api {
        /// host:port
        authority: String,
        /// The host, for SNI and certificate checks.
        host: String,
        /// Path prefix, without a trailing slash.
        base: String,
        tls: Option<tokio_rustls::TlsConnector>,
    }

    fn tls_connector(ca_cert: Option<&Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
        let mut roots = rustls::RootCertStore::empty();
        let mut add = |path: &Path, required: bool| -> anyhow::Result<()> {
            let certs = match CertificateDer::pem_file_iter(path) {
                Ok(certs) => certs,
                Err(_) if !required => return Ok(()),
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            for cert in certs {
                let cert = cert.with_context(|| format!("parsing {}", path.display()))?;
                // The system bundle may hold certificates rustls cannot use; skip those.
                if let Err(e) = roots.add(cert) {
                    if required {
                        return Err(e).with_context(|| format!("using {}", path.display()));
                    }
                }
            }
            Ok(())
        };
        add(Path::new(SYSTEM_CA_BUNDLE), false)?;
        if let Some(path) = ca_cert {
            add(path, true)?;
        }
        if roots.is_empty() {
            bail!("no trusted CA certificates: {SYSTEM_CA_BUNDLE} is missing and no --ca-cert was given");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    impl Api {
        pub fn parse(url: &str, ca_cert: Option<&Path>) -> anyhow::Result<Api> {
            let (rest, default_port, tls) = if let Some(rest) = url.strip_prefix("http://") {
                (rest, 80, None)
            } else if let Some(rest) = url.strip_prefix("https://") {
                (rest, 443, Some(tls_connector(ca_cert)?))
            } else {
                bail!("--server takes an http:// or https:// URL (got {url:?})");
            };
            let (authority, base) = match rest.find('/') {
                Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
                None => (rest, ""),
            };
            // host, host:port, [v6], [v6]:port
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port))
                    if !port.contains(']') && (!host.contains(':') || host.ends_with(']')) =>
                {
                    (
                        host,
                        port.parse::<u16>()
                            .with_context(|| format!("bad port in {url:?}"))?,
                    )
                }
                _ => (authority, default_port),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                bail!("--server {url:?} names no host");
            }
            let authority = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            Ok(Api {
                authority,
                host: host.to_owned(),
                base: base.to_owned(),
                tls,
            })
        }

        /// Connect, send, and wait for the answer's head: at most `ANSWER_WITHIN` (the body
        /// of a download may then take as long as it takes).
        async fn send(
            &self,
            path: &str,
            body: &serde_json::Value,
        ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
            tokio::time::timeout(ANSWER_WITHIN, self.send_unbounded(path, body))
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{}{path}: no answer within {} s",
                        self.authority,
                        ANSWER_WITHIN.as_secs()
                    )
                })?
        }

        async fn send_unbounded(
            &self,
            path: &str,
            body: &serde_json::Value,
        ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
            let stream = tokio::net::TcpStream::connect(&self.authority)
                .await
                .with_context(|| format!("connecting to {}", self.authority))?;
            let request = hyper::Request::post(format!("{}{path}", self.base))
                .header("host", &self.authority)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))?;
            match &self.tls {
                None => exchange(stream, request).await,
                Some(connector) => {
                    let name = ServerName::try_from(self.host.clone()).with_context(|| {
                        format!("{:?} is not a valid TLS server name", self.host)
                    })?;
                    let stream = connector
                        .connect(name, stream)
                        .await
                        .with_context(|| format!("TLS with {}", self.authority))?;
                    exchange(stream, request).await
                }
            }
        }

        /// POST a JSON body; the JSON answer, or an error carrying the server's messages.
        pub async fn call(
            &self,
            path: &str,
            body: &serde_json::Value,
        ) -> anyhow::Result<serde_json::Value> {
            let response = self.send(path, body).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            let value: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
                format!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&bytes))
            })?;
            if !status.is_success() {
                bail!("{path}: HTTP {status}: {}", value["response"]);
            }
            Ok(value)
        }

        /// POST a JSON body and stream the answer into `out`.
        pub async fn download(
            &self,
            path: &str,
            body: &serde_json::Value,
            out: &mut Output,
        ) -> anyhow::Result<()> {
            let response = self.send(path, body).await?;
            let status = response.status();
            let mut body = response.into_body();
            if !status.is_success() {
                let bytes = body.collect().await?.to_bytes();
                bail!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
            }
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    out.write(&data)?;
                }
            }
            Ok(())
        }
    }

    /// One request on a fresh HTTP/1.1 connection over `io`.
    async fn exchange<IO>(
        io: IO,
        request: hyper::Request<Full<Bytes>>,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender.send_request(request).await?)
    }
}
