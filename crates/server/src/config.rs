//! Configuration: one TOML file, overridden by `IPINTEL_*` environment variables, overridden
//! by command-line flags. Unknown keys are errors wherever they come from.
//!
//! Environment names are the key path in upper case with `__` between levels:
//! `listen` is `IPINTEL_LISTEN`, `geoip.mmdb` is `IPINTEL_GEOIP__MMDB`. Values are read as
//! TOML when they parse as TOML (`true`, `42`, `["a", "b"]`), else as a string; list keys
//! also take a comma-separated string.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipintel_core::accounts::{Plan, Plans, Service};
use serde::{Deserialize, Deserializer, Serialize};

/// Every key, its type and what it does: `--help` prints this table, and a test checks it
/// against `Config` and the example file.
pub const KEYS: &[(&str, &str)] = &[
    (
        "listen",
        "where the HTTP(S) server listens: PORT (on 127.0.0.1), HOST:PORT, [IPV6]:PORT or :PORT (every interface) (default 127.0.0.1:8080)",
    ),
    (
        "data_dir",
        "directory for the SQLite store and, by default, the MMDB files (default $XDG_DATA_HOME/ipintel, else ~/.local/share/ipintel, else /var/lib/ipintel; relative paths in the file are relative to the file)",
    ),
    ("log_format", "text or json (default text)"),
    (
        "usage_sync_ms",
        "how often usage counted in memory is written to the store: what a SIGKILL can lose at most (default 500)",
    ),
    (
        "store.url",
        "the store: sqlite:PATH, or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE for several instances sharing one (default sqlite:DATA_DIR/ipintel.db; also --store-url and IPINTEL_STORE_URL)",
    ),
    (
        "store.max_connections",
        "PostgreSQL connections this instance opens at most (default 10)",
    ),
    (
        "store.acquire_timeout_ms",
        "how long a call waits for a free PostgreSQL connection before it is answered 503 (default 5000)",
    ),
    (
        "bootstrap_plan",
        "plan of the account created on first start when there is none (default pro)",
    ),
    (
        "geoip.mmdb",
        "MMDB files or directories to load (default: every *.mmdb in data_dir)",
    ),
    (
        "geoip.verify",
        "walk every database completely before serving it (default true)",
    ),
    (
        "geoip.cache_mb",
        "memory for decoded records and their rendered answers, MiB; least useful evicted first (default 48)",
    ),
    (
        "geoip.reload_poll_secs",
        "how often to check the MMDB files for replacement; 0 disables (default 2)",
    ),
    (
        "tls.cert",
        "PEM certificate chain; with tls.key, serve HTTPS",
    ),
    ("tls.key", "PEM private key"),
    (
        "http.max_connections",
        "open connections at most; more are refused (default 10000)",
    ),
    (
        "http.max_connections_per_client",
        "open connections one client address may hold; more are refused (default 1024)",
    ),
    (
        "http.request_timeout_secs",
        "longest a request may take before 503 (default 30)",
    ),
    (
        "http.header_read_timeout_secs",
        "longest a client may take to send its headers (default 10)",
    ),
    (
        "http.max_header_bytes",
        "largest request head accepted (default 16384)",
    ),
    (
        "http.max_body_bytes",
        "largest request body accepted (default 20000, as MaxMind)",
    ),
    (
        "http.body_budget_bytes",
        "request body bytes all requests in flight may hold together; past it 503 (default 268435456, 256 MiB)",
    ),
    (
        "http.body_budget_per_client_bytes",
        "request body bytes one client address may hold at once; past it 429 (default 67108864, 64 MiB)",
    ),
    (
        "http.trusted_proxies",
        "networks whose X-Forwarded-For is believed for `me` (default none)",
    ),
    (
        "admin.token",
        "bearer token for /admin/* and, when set, /metrics (default none: /admin/* refused)",
    ),
    (
        "admin.trust_loopback",
        "let callers on 127.0.0.0/8 and ::1 use /admin/* and /metrics without the token (default false)",
    ),
    (
        "console.enabled",
        "serve the web console under /ui/ (default true; false: /ui/ answers 404)",
    ),
    (
        "plans.<name>.services",
        "services the plan may call: country, city, insights, dbip, tasks, bulk",
    ),
    (
        "plans.<name>.daily_quota",
        "queries per UTC day; absent: unlimited",
    ),
    (
        "plans.<name>.credits",
        "credits a new account starts with; absent: unlimited",
    ),
    (
        "plans.<name>.batch_limit",
        "most addresses in one batch request (default 256)",
    ),
    (
        "plans.<name>.tier",
        "detail of tiered APIs (DB-IP): free, lite or pro (default free)",
    ),
    (
        "local_networks",
        "the operator's networks: [[local_networks]] cidr, name, domain_id (QRadar is_local)",
    ),
    ("tasks.workers", "network tasks run at once (default 16)"),
    (
        "registry.base_url",
        "public base URL of the RIPE REST API, for links (default http://<listen>, https:// with TLS)",
    ),
    (
        "registry.prefix",
        "path the RIPE REST API is also served under (default /whois)",
    ),
    (
        "registry.default_sources",
        "sources a search without source= reads (default: every source)",
    ),
    (
        "registry.terms_url",
        "terms-and-conditions link of every document (default <base_url>/)",
    ),
    (
        "registry.max_results",
        "most objects one search answers, referenced ones included (default 10000)",
    ),
    (
        "registry.refresh_ms",
        "how often a running server looks for a finished import (default 1000)",
    ),
    (
        "whois.listen",
        "where the whois front end (RIPE flags and IRRd ! queries on TCP) listens, as listen; off disables (default 127.0.0.1:4343; port 43 needs privileges)",
    ),
    (
        "whois.max_connections",
        "open whois connections at most; more are refused (default 1000)",
    ),
    (
        "whois.max_connections_per_client",
        "open whois connections one client address may hold (default 32)",
    ),
    (
        "whois.idle_timeout_secs",
        "a connection with no query for this long is closed; IRRd's !t sets it per connection within 1..1000 (default 30)",
    ),
    (
        "whois.stuck_reader_secs",
        "a client that takes no bytes of its answer for this long is let go, whatever !t says (default 30)",
    ),
    (
        "whois.output_budget_bytes",
        "memory all whois answers waiting for their readers may hold together; past it a query is refused with a retry message (default 67108864)",
    ),
    (
        "whois.max_line_bytes",
        "longest query line; longer ones get ERROR:107 and the connection closes (default 4096)",
    ),
    (
        "whois.queries_per_second",
        "queries one client address may send per second, sustained (default 500)",
    ),
    (
        "whois.burst",
        "queries one client address may send at once beyond the rate (default 2000)",
    ),
    (
        "whois.unmetered_networks",
        "client networks with no query rate limit, e.g. your route servers (default none)",
    ),
    (
        "registry.mirrors",
        "sources followed from an NRTM server: [[registry.mirrors]] source, nrtm (host:port), dump (first dump file), dump_serial, interval_secs (60), max_bytes (268435456), timeout_secs (60)",
    ),
    (
        "whois.nrtm_clients",
        "client networks allowed to mirror the registry with NRTM (-g SOURCE:3:FIRST-LAST); others get \"Access denied\" (default none)",
    ),
    (
        "whois.nrtm_max_serials",
        "most journal entries one -g query may ask for (default 100000)",
    ),
    (
        "whois.name",
        "name in the banner and served-by lines (default ipintel)",
    ),
    (
        "tasks.timeout_secs",
        "longest one task may run before EXCEPTION (default 20)",
    ),
    (
        "tasks.retention_secs",
        "finished tasks are deleted after this (default 604800, 7 days)",
    ),
    (
        "tasks.whois_server",
        "first WHOIS server asked; referrals are followed (default whois.iana.org:43)",
    ),
    (
        "tasks.whois_max_bytes",
        "largest WHOIS answer kept per server (default 262144)",
    ),
    (
        "tasks.whois_max_referrals",
        "referrals followed at most (default 3)",
    ),
    (
        "tasks.whois_referral_hosts",
        "servers referrals may lead to, host[:port] (port 43 unless given; IP literals only if listed; default IANA and the five RIRs' whois servers)",
    ),
    (
        "tasks.port_scan.enabled",
        "allow port scans (default false: the endpoint answers 404)",
    ),
    (
        "tasks.port_scan.allowed_networks",
        "only addresses inside these networks may be scanned",
    ),
    (
        "tasks.port_scan.ports",
        "TCP ports scanned (default 21,22,23,25,53,80,110,143,443,445,3389,8080)",
    ),
    (
        "tasks.port_scan.concurrency",
        "connections in flight per scan (default 64)",
    ),
    (
        "tasks.port_scan.connect_timeout_ms",
        "a port that does not answer within this is filtered (default 1500)",
    ),
    ("tasks.dns_server", "DNS server for dns_lookups and dig_lookups, ip:port (default: the first nameserver in /etc/resolv.conf)"),
    ("tasks.per_account", "tasks of one account running at once (default 8)"),
    ("tasks.port_scan.at_once", "port scans running at once, all accounts together (default 2)"),
    ("bulk.max_terms", "most terms one bulk request may carry (default 100000)"),
    (
        "bulk.max_body_bytes",
        "largest bulk request body (default 33554432, 32 MiB)",
    ),
    (
        "bulk.retention_secs",
        "bulk results are deleted this long after the request finished (default 604800, 7 days)",
    ),
    ("bulk.at_once", "bulk requests processed at once, all accounts together (default 2)"),
    (
        "bulk.chunk_terms",
        "terms per durable checkpoint of a bulk request (default 1000)",
    ),
    (
        "bulk.resolve_concurrency",
        "terms of one bulk request resolved at once; each asks 1-2 DNS questions at a time (default 256)",
    ),
    (
        "bulk.dns_timeout_ms",
        "how long one DNS question of a bulk request may take (default 2000)",
    ),
    (
        "bulk.chunk_lease_secs",
        "how long a worker holds a chunk it works on; a dead worker's chunk is taken over after this (default 120)",
    ),
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen", deserialize_with = "listen_addr")]
    pub listen: SocketAddr,
    /// Empty until `load` applies the data directory rule; absolute after.
    #[serde(default)]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Write-behind interval of the usage ledger: the most spending a SIGKILL can lose.
    #[serde(default = "default_usage_sync_ms")]
    pub usage_sync_ms: u64,
    #[serde(default = "default_bootstrap_plan")]
    pub bootstrap_plan: String,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub geoip: GeoipConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
    /// Overrides and additions to the built-in plans.
    #[serde(default)]
    pub plans: BTreeMap<String, PlanConfig>,
    /// The operator's own networks.
    #[serde(default)]
    pub local_networks: Vec<LocalNetworkConfig>,
    #[serde(default)]
    pub tasks: TasksConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
    #[serde(default)]
    pub bulk: BulkConfig,
    #[serde(default)]
    pub whois: WhoisConfig,
    /// Where each value set by the operator came from, by dotted key.
    #[serde(skip)]
    pub sources: BTreeMap<String, String>,
}

/// Bulk requests (`/api/bgservice/...`, `ipintel bulk`). DNS goes to `tasks.dns_server`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BulkConfig {
    #[serde(default = "default_bulk_max_terms")]
    pub max_terms: usize,
    #[serde(default = "default_bulk_max_body")]
    pub max_body_bytes: usize,
    #[serde(default = "default_retention")]
    pub retention_secs: u64,
    #[serde(default = "default_scans_at_once")]
    pub at_once: usize,
    #[serde(default = "default_chunk_terms")]
    pub chunk_terms: u32,
    #[serde(default = "default_resolve_concurrency")]
    pub resolve_concurrency: usize,
    #[serde(default = "default_bulk_dns_timeout")]
    pub dns_timeout_ms: u64,
    #[serde(default = "default_chunk_lease")]
    pub chunk_lease_secs: u64,
}

fn default_chunk_lease() -> u64 {
    120
}

/// Where the store is: SQLite in the data directory by default, PostgreSQL for several
/// instances.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default, serialize_with = "redacted_url")]
    pub url: Option<String>,
    #[serde(default = "default_store_connections")]
    pub max_connections: u32,
    #[serde(default = "default_store_acquire")]
    pub acquire_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        toml::Table::new().try_into().expect("all defaults")
    }
}

fn default_store_connections() -> u32 {
    10
}
fn default_store_acquire() -> u64 {
    5000
}

/// Where the store is, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Display for StoreLocation {
    /// The location without a password: for logs and messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(parts) => parts,
        None => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// `check-config` never prints a store password.
fn redacted_url<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => s.serialize_str(&without_password(url)),
        None => s.serialize_none(),
    }
}

impl Default for BulkConfig {
    fn default() -> Self {
        toml::Table::new().try_into().expect("all defaults")
    }
}

fn default_bulk_max_terms() -> usize {
    100_000
}
fn default_bulk_max_body() -> usize {
    32 * 1024 * 1024
}
fn default_chunk_terms() -> u32 {
    1000
}
fn default_resolve_concurrency() -> usize {
    256
}
fn default_bulk_dns_timeout() -> u64 {
    2000
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TasksConfig {
    #[serde(default = "default_workers")]
    pub workers: usize,
    #[serde(default = "default_per_account")]
    pub per_account: usize,
    #[serde(default = "default_task_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_retention")]
    pub retention_secs: u64,
    #[serde(default)]
    pub dns_server: Option<SocketAddr>,
    #[serde(default = "default_whois_server")]
    pub whois_server: String,
    #[serde(default = "default_whois_max_bytes")]
    pub whois_max_bytes: usize,
    #[serde(default = "default_whois_referrals")]
    pub whois_max_referrals: usize,
    #[serde(
        default = "default_whois_referral_hosts",
        deserialize_with = "string_or_list"
    )]
    pub whois_referral_hosts: Vec<String>,
    #[serde(default)]
    pub port_scan: PortScanConfig,
}

impl TasksConfig {
    /// The first WHOIS server (validated at load).
    pub fn whois_target(&self) -> crate::net::whois::Target {
        crate::net::whois::Target::parse(&self.whois_server).expect("validated at load")
    }

    /// Where WHOIS referrals may lead (validated at load).
    pub fn whois_referral_policy(&self) -> crate::net::whois::ReferralPolicy {
        crate::net::whois::ReferralPolicy {
            allowed: self
                .whois_referral_hosts
                .iter()
                .filter_map(|h| crate::net::whois::Target::parse(h))
                .collect(),
        }
    }

    /// The DNS server tasks ask: `tasks.dns_server`, else the system's first nameserver.
    pub fn dns_server(&self) -> Option<SocketAddr> {
        self.dns_server.or_else(system_dns_server)
    }
}

impl Default for TasksConfig {
    fn default() -> Self {
        toml::Table::new().try_into().expect("all defaults")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortScanConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, deserialize_with = "string_or_list")]
    pub allowed_networks: Vec<ipnet::IpNet>,
    #[serde(default = "default_ports")]
    pub ports: Vec<u16>,
    #[serde(default = "default_scan_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_scans_at_once")]
    pub at_once: usize,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
}

impl Default for PortScanConfig {
    fn default() -> Self {
        toml::Table::new().try_into().expect("all defaults")
    }
}

fn default_workers() -> usize {
    16
}
fn default_per_account() -> usize {
    8
}
fn default_scans_at_once() -> usize {
    2
}
fn default_task_timeout() -> u64 {
    20
}
fn default_retention() -> u64 {
    7 * 24 * 3600
}
/// The first `nameserver` of /etc/resolv.conf, port 53.
pub fn system_dns_server() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|rest| {
            rest.trim()
                .split('%')
                .next()?
                .parse::<std::net::IpAddr>()
                .ok()
        })
        .map(|ip| SocketAddr::new(ip, 53))
}

fn default_whois_server() -> String {
    "whois.iana.org:43".to_owned()
}
fn default_whois_max_bytes() -> usize {
    256 * 1024
}
fn default_whois_referrals() -> usize {
    3
}
/// IANA and the five regional registries' whois servers, port 43.
fn default_whois_referral_hosts() -> Vec<String> {
    [
        "whois.iana.org",
        "whois.afrinic.net",
        "whois.apnic.net",
        "whois.arin.net",
        "whois.lacnic.net",
        "whois.ripe.net",
    ]
    .map(String::from)
    .to_vec()
}
fn default_ports() -> Vec<u16> {
    vec![21, 22, 23, 25, 53, 80, 110, 143, 443, 445, 3389, 8080]
}
fn default_scan_concurrency() -> usize {
    64
}
fn default_connect_timeout() -> u64 {
    1500
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalNetworkConfig {
    pub cidr: ipnet::IpNet,
    pub name: String,
    #[serde(default)]
    pub domain_id: u32,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipConfig {
    #[serde(default, deserialize_with = "string_or_list")]
    pub mmdb: Vec<PathBuf>,
    #[serde(default = "yes")]
    pub verify: bool,
    #[serde(default = "default_reload_poll_secs")]
    pub reload_poll_secs: u64,
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
}

impl Default for GeoipConfig {
    fn default() -> Self {
        GeoipConfig {
            mmdb: Vec::new(),
            verify: true,
            reload_poll_secs: default_reload_poll_secs(),
            cache_mb: default_cache_mb(),
        }
    }
}

fn default_cache_mb() -> u64 {
    ipintel_core::geo::DEFAULT_CACHE_BYTES >> 20
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: usize,
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    #[serde(default = "default_header_timeout")]
    pub header_read_timeout_secs: u64,
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default = "default_body_budget")]
    pub body_budget_bytes: u64,
    #[serde(default = "default_body_budget_per_client")]
    pub body_budget_per_client_bytes: u64,
    #[serde(default, deserialize_with = "string_or_list")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_connections: default_max_connections(),
            max_connections_per_client: default_max_connections_per_client(),
            request_timeout_secs: default_request_timeout(),
            header_read_timeout_secs: default_header_timeout(),
            max_header_bytes: default_max_header_bytes(),
            max_body_bytes: default_max_body_bytes(),
            body_budget_bytes: default_body_budget(),
            body_budget_per_client_bytes: default_body_budget_per_client(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The whois front end on TCP (docs/whois.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WhoisConfig {
    /// `None`: no whois front end (`off`).
    #[serde(
        default = "default_whois_listen",
        deserialize_with = "optional_listen_addr",
        serialize_with = "listen_or_off"
    )]
    pub listen: Option<SocketAddr>,
    #[serde(default = "default_whois_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_whois_max_per_client")]
    pub max_connections_per_client: usize,
    #[serde(default = "default_whois_idle_timeout")]
    pub idle_timeout_secs: u64,
    #[serde(default = "default_whois_stuck_reader")]
    pub stuck_reader_secs: u64,
    #[serde(default = "default_whois_output_budget")]
    pub output_budget_bytes: u64,
    #[serde(default = "default_whois_max_line")]
    pub max_line_bytes: usize,
    #[serde(default = "default_whois_rate")]
    pub queries_per_second: u32,
    #[serde(default = "default_whois_burst")]
    pub burst: u32,
    #[serde(default, deserialize_with = "string_or_list")]
    pub unmetered_networks: Vec<ipnet::IpNet>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub nrtm_clients: Vec<ipnet::IpNet>,
    #[serde(default = "default_whois_nrtm_max_serials")]
    pub nrtm_max_serials: u64,
    #[serde(default = "default_whois_name")]
    pub name: String,
}

impl Default for WhoisConfig {
    fn default() -> Self {
        WhoisConfig {
            listen: default_whois_listen(),
            max_connections: default_whois_max_connections(),
            max_connections_per_client: default_whois_max_per_client(),
            idle_timeout_secs: default_whois_idle_timeout(),
            stuck_reader_secs: default_whois_stuck_reader(),
            output_budget_bytes: default_whois_output_budget(),
            max_line_bytes: default_whois_max_line(),
            queries_per_second: default_whois_rate(),
            burst: default_whois_burst(),
            unmetered_networks: Vec::new(),
            nrtm_clients: Vec::new(),
            nrtm_max_serials: default_whois_nrtm_max_serials(),
            name: default_whois_name(),
        }
    }
}

fn default_whois_nrtm_max_serials() -> u64 {
    100_000
}
fn default_whois_listen() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 4343)))
}
fn default_whois_max_connections() -> usize {
    1000
}
fn default_whois_max_per_client() -> usize {
    32
}
fn default_whois_idle_timeout() -> u64 {
    30
}
fn default_whois_stuck_reader() -> u64 {
    30
}
fn default_whois_output_budget() -> u64 {
    64 << 20
}
fn default_whois_max_line() -> usize {
    4096
}
fn default_whois_rate() -> u32 {
    500
}
fn default_whois_burst() -> u32 {
    2000
}
fn default_whois_name() -> String {
    "ipintel".into()
}

fn listen_or_off<S: serde::Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    match addr {
        Some(addr) => s.collect_str(addr),
        None => s.serialize_str("off"),
    }
}

/// A listen address, or `off` for none.
pub fn parse_optional_listen(text: &str) -> Result<Option<SocketAddr>, String> {
    if matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "off" | "none" | ""
    ) {
        return Ok(None);
    }
    parse_listen(text).map(Some)
}

fn optional_listen_addr<'de, D: Deserializer<'de>>(de: D) -> Result<Option<SocketAddr>, D::Error> {
    match RawListen::deserialize(de)? {
        RawListen::Port(port) => Ok(Some(SocketAddr::from(([127, 0, 0, 1], port)))),
        RawListen::Text(text) => parse_optional_listen(&text).map_err(serde::de::Error::custom),
    }
}

/// The RPSL registry and its RIPE Database REST API (docs/registry.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Public base URL of the REST API, for `link` and `locator` URLs (never the request's
    /// Host header); absent: `http://<listen>` (`https://` with TLS).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Where the REST API is served besides the root paths (RIPE's own `/whois`).
    #[serde(default = "default_registry_prefix")]
    pub prefix: String,
    /// Sources a search without `source` reads; empty: every source.
    #[serde(default, deserialize_with = "string_or_list")]
    pub default_sources: Vec<String>,
    /// The terms-and-conditions URL every document links; absent: `<base_url>/`.
    #[serde(default)]
    pub terms_url: Option<String>,
    /// Most objects one search answers (including referenced objects).
    #[serde(default = "default_registry_max_results")]
    pub max_results: usize,
    /// How often a running server checks the store for a finished import.
    #[serde(default = "default_registry_refresh_ms")]
    pub refresh_ms: u64,
    /// Sources followed from another server's NRTM journal.
    #[serde(default)]
    pub mirrors: Vec<MirrorConfig>,
}

/// One `[[registry.mirrors]]`: a source kept current from an NRTM server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// The source's name, as the upstream calls it (`RADB`).
    pub source: String,
    /// The NRTM server, `host:port`.
    pub nrtm: String,
    /// The first dump, imported when the store holds no object of the source yet.
    #[serde(default)]
    pub dump: Option<PathBuf>,
    /// The dump's serial; absent: read from `SOURCE.CURRENTSERIAL` beside the dump.
    #[serde(default)]
    pub dump_serial: Option<i64>,
    /// Seconds between polls (default 60).
    #[serde(default = "default_mirror_interval")]
    pub interval_secs: u64,
    /// Largest NRTM answer taken in one poll (default 268435456).
    #[serde(default = "default_mirror_max_bytes")]
    pub max_bytes: u64,
    /// Seconds one poll may take, connect to last byte (default 60).
    #[serde(default = "default_mirror_timeout")]
    pub timeout_secs: u64,
}

fn default_mirror_timeout() -> u64 {
    60
}

fn default_mirror_interval() -> u64 {
    60
}

fn default_mirror_max_bytes() -> u64 {
    256 << 20
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            base_url: None,
            prefix: default_registry_prefix(),
            default_sources: Vec::new(),
            terms_url: None,
            max_results: default_registry_max_results(),
            refresh_ms: default_registry_refresh_ms(),
            mirrors: Vec::new(),
        }
    }
}

fn default_registry_prefix() -> String {
    "/whois".into()
}

fn default_registry_max_results() -> usize {
    10_000
}

fn default_registry_refresh_ms() -> u64 {
    1_000
}

impl Config {
    /// `registry.default_sources`, upper case (empty: every source).
    pub fn registry_default_sources(&self) -> Vec<String> {
        self.registry
            .default_sources
            .iter()
            .map(|s| s.to_ascii_uppercase())
            .collect()
    }

    /// The registry's public base URL, without a trailing slash.
    pub fn registry_base_url(&self) -> String {
        match &self.registry.base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!(
                "{}://{}",
                if self.tls.is_some() { "https" } else { "http" },
                self.listen
            ),
        }
    }
}

/// The web console (`/ui/`, docs/console.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    #[serde(serialize_with = "redacted")]
    pub token: Option<String>,
    #[serde(default)]
    pub trust_loopback: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    #[serde(deserialize_with = "string_or_list")]
    pub services: Vec<String>,
    pub daily_quota: Option<u64>,
    pub credits: Option<u64>,
    #[serde(default = "default_batch_limit")]
    pub batch_limit: u32,
    #[serde(default)]
    pub tier: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
/// The data directory when none is configured: `$XDG_DATA_HOME/ipintel`, else
/// `$HOME/.local/share/ipintel`, else `/var/lib/ipintel` (a service without a home). The
/// second half says which rule applied, for `check-config` and `serve`'s first line.
impl Config {
    /// Where the registry's generation files (and an import's spill file) live:
    /// `registry/` in the data directory.
    pub fn registry_dir(&self) -> PathBuf {
        self.data_dir.join("registry")
    }
}

pub fn default_data_dir(env: &BTreeMap<String, String>) -> (PathBuf, &'static str) {
    let absolute = |name: &str| env.get(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = absolute("XDG_DATA_HOME") {
        (xdg.join("ipintel"), "default: $XDG_DATA_HOME/ipintel")
    } else if let Some(home) = absolute("HOME") {
        (
            home.join(".local/share/ipintel"),
            "default: ~/.local/share/ipintel",
        )
    } else {
        (PathBuf::from("/var/lib/ipintel"), "default: no $HOME")
    }
}

/// `listen` as people write it: `8080` (loopback), `:8080` (every interface),
/// `host:port` (a name is resolved once, at start), `1.2.3.4:80`, `[::1]:8443`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let bad = || {
        format!("{text:?} is not a listen address; expected PORT, HOST:PORT, [IPV6]:PORT or :PORT")
    };
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| bad())?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || host.contains(['[', ']', '/', ' ']) {
        return Err(bad());
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("listen address {text:?}: cannot resolve {host:?}: {e}"))?
        .collect();
    // IPv4 first: `localhost` should mean 127.0.0.1, which every client tries.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("listen address {text:?}: {host:?} has no address"))
}

/// A listen address as written: a bare port (loopback) or text for `parse_listen`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawListen {
    Port(u16),
    Text(String),
}

fn listen_addr<'de, D: Deserializer<'de>>(de: D) -> Result<SocketAddr, D::Error> {
    match RawListen::deserialize(de)? {
        RawListen::Port(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        RawListen::Text(text) => parse_listen(&text).map_err(serde::de::Error::custom),
    }
}

/// `check-config` shows that a token is set, never the token.
fn redacted<S: serde::Serializer>(token: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match token {
        Some(_) => s.serialize_str("<set>"),
        None => s.serialize_none(),
    }
}
fn default_usage_sync_ms() -> u64 {
    500
}

fn default_bootstrap_plan() -> String {
    "pro".to_owned()
}
fn yes() -> bool {
    true
}
fn default_reload_poll_secs() -> u64 {
    2
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_connections_per_client() -> usize {
    1024
}
fn default_request_timeout() -> u64 {
    30
}
fn default_header_timeout() -> u64 {
    10
}
fn default_max_header_bytes() -> usize {
    16 * 1024
}
fn default_max_body_bytes() -> usize {
    20_000
}
fn default_body_budget() -> u64 {
    256 << 20
}
fn default_body_budget_per_client() -> u64 {
    64 << 20
}
fn default_batch_limit() -> u32 {
    256
}

/// A list given as a TOML array or as one comma-separated string (handy in env vars).
fn string_or_list<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items = match Raw::deserialize(de)? {
        Raw::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Raw::Many(v) => v,
    };
    items
        .iter()
        .map(|s| {
            s.parse::<T>()
                .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
        })
        .collect()
}

/// Flags that override the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// Already parsed by `parse_listen` (clap's value parser).
    pub listen: Option<SocketAddr>,
    /// `--whois-listen`: `Some(None)` is `off`.
    pub whois_listen: Option<Option<SocketAddr>>,
    pub data_dir: Option<PathBuf>,
    pub mmdb: Vec<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub store_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("config file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("environment variable {name}: {reason}")]
    Env { name: String, reason: String },
    #[error("configuration: {0}")]
    Invalid(String),
    /// One key's value is wrong: the key, what is wrong, and what would be right.
    #[error("configuration: {key} {problem}")]
    Key { key: &'static str, problem: String },
}

impl Config {
    /// Build the configuration: `file` (if any) < `env` (only `IPINTEL_*` names are read,
    /// except `IPINTEL_CONFIG`) < `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                text.parse::<toml::Table>().map_err(|e| ConfigError::File {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?
            }
            None => toml::Table::new(),
        };
        let mut sources = BTreeMap::new();
        if let Some(path) = file {
            record_sources(
                &table,
                "",
                &format!("file {}", path.display()),
                &mut sources,
            );
        }
        // Report file errors (unknown keys above all) against the file before env muddles it.
        if let Some(path) = file {
            toml::Value::Table(table.clone())
                .try_into::<Config>()
                .map_err(|e| ConfigError::File {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("IPINTEL_") else {
                continue;
            };
            // Read by the command line itself (`--config`, the log filter, `--store-url`).
            if rest == "CONFIG" || rest == "LOG" || rest == "STORE_URL" {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            if path.iter().any(String::is_empty) {
                return Err(ConfigError::Env {
                    name: name.clone(),
                    reason: "empty key segment".into(),
                });
            }
            set_path(&mut table, &path, env_value(value));
            sources.insert(path.join("."), format!("env {name}"));
            toml::Value::Table(table.clone())
                .try_into::<Config>()
                .map_err(|e| ConfigError::Env {
                    name: name.clone(),
                    reason: e.message().to_owned(),
                })?;
        }
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        // Paths written in the file are relative to the file; the rest to the working directory.
        let file_dir = file.and_then(|f| f.parent()).map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        });
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let from_file = |key: &str| {
            sources
                .get(key)
                .is_some_and(|s: &String| s.starts_with("file "))
        };
        let base_for = |key: &str| -> PathBuf {
            match file_dir {
                Some(dir) if from_file(key) => absolute(dir, &cwd),
                _ => cwd.clone(),
            }
        };
        let mirrors_base = base_for("registry.mirrors");
        for mirror in &mut config.registry.mirrors {
            if let Some(dump) = &mirror.dump {
                mirror.dump = Some(absolute(dump, &mirrors_base));
            }
        }
        let data_base = base_for("data_dir");
        let mmdb_base = base_for("geoip.mmdb");
        let cert_base = base_for("tls.cert");
        let key_base = base_for("tls.key");
        if let Some(listen) = overrides.listen {
            config.listen = listen;
            sources.insert("listen".into(), "flag --listen".into());
        }
        if let Some(listen) = overrides.whois_listen {
            config.whois.listen = listen;
            sources.insert("whois.listen".into(), "flag --whois-listen".into());
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
            sources.insert("data_dir".into(), "flag --data-dir".into());
        }
        if let Some(url) = &overrides.store_url {
            config.store.url = Some(url.clone());
            sources.insert("store.url".into(), "flag --store-url".into());
        }
        if config.data_dir.as_os_str().is_empty() {
            let (dir, rule) = default_data_dir(env);
            config.data_dir = dir;
            sources.insert("data_dir".into(), rule.into());
        }
        config.data_dir = absolute(
            &config.data_dir,
            if overrides.data_dir.is_some() {
                &cwd
            } else {
                &data_base
            },
        );
        if !overrides.mmdb.is_empty() {
            config.geoip.mmdb = overrides.mmdb.iter().map(|p| absolute(p, &cwd)).collect();
            sources.insert("geoip.mmdb".into(), "flag --mmdb".into());
        } else {
            config.geoip.mmdb = config
                .geoip
                .mmdb
                .iter()
                .map(|p| absolute(p, &mmdb_base))
                .collect();
        }
        if let Some(tls) = &mut config.tls {
            tls.cert = absolute(&tls.cert, &cert_base);
            tls.key = absolute(&tls.key, &key_base);
        }
        match (&overrides.tls_cert, &overrides.tls_key) {
            (Some(cert), Some(key)) => {
                config.tls = Some(TlsConfig {
                    cert: absolute(cert, &cwd),
                    key: absolute(key, &cwd),
                });
                sources.insert("tls.cert".into(), "flag --tls-cert".into());
                sources.insert("tls.key".into(), "flag --tls-key".into());
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError::Invalid(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        }
        config.sources = sources;
        config.validate()?;
        Ok(config)
    }

    /// The effective configuration as TOML, every value with where it came from (a file, an
    /// environment variable, a flag, or the default); the admin token is never printed.
    pub fn to_annotated_toml(&self) -> String {
        let table = toml::Table::try_from(self).expect("the configuration serializes");
        let mut out = String::new();
        write_table(&mut out, &table, "", &self.sources);
        out
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.store_location()?;
        let plans = self.plans()?;
        if plans.get(&self.bootstrap_plan).is_none() {
            return Err(ConfigError::Invalid(format!(
                "bootstrap_plan {:?} is not a plan (plans: {})",
                self.bootstrap_plan,
                plans.names().join(", ")
            )));
        }
        let bulk = &self.bulk;
        let http = &self.http;
        let positive: [(&'static str, u64); 23] = [
            ("usage_sync_ms", self.usage_sync_ms),
            ("whois.nrtm_max_serials", self.whois.nrtm_max_serials),
            ("registry.max_results", self.registry.max_results as u64),
            ("registry.refresh_ms", self.registry.refresh_ms),
            ("tasks.workers", self.tasks.workers as u64),
            ("tasks.per_account", self.tasks.per_account as u64),
            ("tasks.timeout_secs", self.tasks.timeout_secs),
            ("tasks.whois_max_bytes", self.tasks.whois_max_bytes as u64),
            (
                "tasks.port_scan.concurrency",
                self.tasks.port_scan.concurrency as u64,
            ),
            (
                "tasks.port_scan.at_once",
                self.tasks.port_scan.at_once as u64,
            ),
            ("bulk.max_terms", bulk.max_terms as u64),
            ("bulk.max_body_bytes", bulk.max_body_bytes as u64),
            ("bulk.at_once", bulk.at_once as u64),
            ("bulk.chunk_terms", bulk.chunk_terms as u64),
            ("bulk.resolve_concurrency", bulk.resolve_concurrency as u64),
            ("bulk.dns_timeout_ms", bulk.dns_timeout_ms),
            ("bulk.chunk_lease_secs", bulk.chunk_lease_secs),
            ("store.max_connections", self.store.max_connections as u64),
            ("store.acquire_timeout_ms", self.store.acquire_timeout_ms),
            ("http.max_connections", http.max_connections as u64),
            (
                "http.max_connections_per_client",
                http.max_connections_per_client as u64,
            ),
            ("http.request_timeout_secs", http.request_timeout_secs),
            ("http.max_body_bytes", http.max_body_bytes as u64),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Key {
                key,
                problem: format!(
                    "is 0{}; it must be at least 1",
                    self.sources
                        .get(*key)
                        .map(|s| format!(" (from {s})"))
                        .unwrap_or_default()
                ),
            });
        }
        if crate::net::whois::Target::parse(&self.tasks.whois_server).is_none() {
            return Err(ConfigError::Invalid(format!(
                "tasks.whois_server {:?} is not host[:port]",
                self.tasks.whois_server
            )));
        }
        if let Some(bad) = self
            .tasks
            .whois_referral_hosts
            .iter()
            .find(|h| crate::net::whois::Target::parse(h).is_none())
        {
            return Err(ConfigError::Invalid(format!(
                "tasks.whois_referral_hosts: {bad:?} is not host[:port]"
            )));
        }
        let prefix = &self.registry.prefix;
        if !prefix.is_empty()
            && (!prefix.starts_with('/')
                || prefix.ends_with('/')
                || prefix.contains(['{', '}', '*']))
        {
            return Err(ConfigError::Invalid(format!(
                "registry.prefix {prefix:?} must be empty or a path like /whois"
            )));
        }
        if let Some(url) = &self.registry.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "registry.base_url {url:?} must start with http:// or https://"
                )));
            }
        }
        for mirror in &self.registry.mirrors {
            if crate::net::whois::Target::parse(&mirror.nrtm).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "registry.mirrors: nrtm {:?} of source {} is not host:port",
                    mirror.nrtm, mirror.source
                )));
            }
            if mirror.interval_secs == 0 || mirror.max_bytes == 0 || mirror.timeout_secs == 0 {
                return Err(ConfigError::Invalid(format!(
                    "registry.mirrors: interval_secs, max_bytes and timeout_secs of source {} must be at least 1",
                    mirror.source
                )));
            }
        }
        if self.tasks.port_scan.enabled && self.tasks.port_scan.allowed_networks.is_empty() {
            return Err(ConfigError::Invalid(
                "tasks.port_scan.enabled needs tasks.port_scan.allowed_networks: scans are limited to them".into(),
            ));
        }
        Ok(())
    }

    /// The built-in plans with the configured ones laid over them.
    pub fn plans(&self) -> Result<Plans, ConfigError> {
        let mut plans = Plans::builtin();
        for (name, p) in &self.plans {
            let services = p
                .services
                .iter()
                .map(|s| s.parse::<Service>())
                .collect::<Result<_, _>>()
                .map_err(|e| ConfigError::Invalid(format!("plans.{name}.services: {e}")))?;
            plans.0.insert(
                name.clone(),
                Plan {
                    name: name.clone(),
                    services,
                    daily_quota: p.daily_quota,
                    credits: p.credits,
                    batch_limit: p.batch_limit,
                    tier: p
                        .tier
                        .as_deref()
                        .unwrap_or("free")
                        .parse()
                        .map_err(|e| ConfigError::Invalid(format!("plans.{name}.tier: {e}")))?,
                },
            );
        }
        Ok(plans)
    }

    pub fn local_networks(&self) -> ipintel_core::geo::local::LocalNetworks {
        ipintel_core::geo::local::LocalNetworks::new(
            self.local_networks
                .iter()
                .map(|n| ipintel_core::geo::local::LocalNetwork {
                    network: n.cidr,
                    name: n.name.clone(),
                    domain_id: n.domain_id,
                })
                .collect(),
        )
    }

    /// How to open the databases; `verify` as the caller needs (the server: `geoip.verify`).
    pub fn geo_options(&self, verify: bool) -> ipintel_core::geo::GeoOptions {
        ipintel_core::geo::GeoOptions {
            paths: self.mmdb_paths(),
            verify,
            cache_bytes: self.geoip.cache_mb << 20,
        }
    }

    /// The MMDB paths to load: as configured, else the data directory.
    pub fn mmdb_paths(&self) -> Vec<PathBuf> {
        if self.geoip.mmdb.is_empty() {
            vec![self.data_dir.clone()]
        } else {
            self.geoip.mmdb.clone()
        }
    }

    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("ipintel.db")
    }

    /// Where the store is: `store.url`, else the SQLite file in the data directory.
    pub fn store_location(&self) -> Result<StoreLocation, ConfigError> {
        parse_store_url(self.store.url.as_deref(), &self.store_path())
    }
}

/// `sqlite:PATH`, `sqlite://PATH`, `postgres://...` or `postgresql://...`; `None` is
/// `default`.
pub fn parse_store_url(url: Option<&str>, default: &Path) -> Result<StoreLocation, ConfigError> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(StoreLocation::Sqlite(default.to_owned()));
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StoreLocation::Postgres(url.to_owned()));
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(ConfigError::Key {
                key: "store.url",
                problem: "is sqlite: without a path; give sqlite:/var/lib/ipintel/ipintel.db"
                    .into(),
            });
        }
        return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
    }
    Err(ConfigError::Key {
        key: "store.url",
        problem: format!(
            "is {:?}: give sqlite:PATH or postgres://USER@HOST[:PORT]/DATABASE",
            without_password(url)
        ),
    })
}

fn absolute(path: &Path, base: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// Every leaf key of `table` (arrays count as leaves) comes from `source`.
fn record_sources(
    table: &toml::Table,
    prefix: &str,
    source: &str,
    out: &mut BTreeMap<String, String>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => record_sources(t, &path, source, out),
            _ => {
                out.insert(path, source.to_owned());
            }
        }
    }
}

/// TOML text for `table` under `[prefix]`: its plain keys with their sources as comments,
/// then its sub-tables.
fn write_table(
    out: &mut String,
    table: &toml::Table,
    prefix: &str,
    sources: &BTreeMap<String, String>,
) {
    use std::fmt::Write;
    let path = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    let plain: Vec<_> = table.iter().filter(|(_, v)| !v.is_table()).collect();
    if !prefix.is_empty() && (!plain.is_empty() || table.is_empty()) {
        let _ = writeln!(out, "\n[{prefix}]");
    }
    for (key, value) in plain {
        let source = sources.get(&path(key)).map_or("default", String::as_str);
        let key_text = toml::Value::String(key.clone()).to_string();
        let key_text = if key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            key.clone()
        } else {
            key_text
        };
        let _ = writeln!(out, "{key_text} = {value}  # {source}");
    }
    for (key, value) in table {
        if let toml::Value::Table(t) = value {
            write_table(out, t, &path(key), sources);
        }
    }
}

fn env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cursor = table;
    for part in parents {
        let entry = cursor
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cursor = entry.as_table_mut().expect("just made a table");
    }
    cursor.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn store_urls_are_parsed_and_never_printed_with_their_password() {
        let default = Path::new("/d/ipintel.db");
        let parse = |u: Option<&str>| parse_store_url(u, default);
        assert_eq!(parse(None).unwrap(), StoreLocation::Sqlite(default.into()));
        assert_eq!(
            parse(Some("  ")).unwrap(),
            StoreLocation::Sqlite(default.into())
        );
        assert_eq!(
            parse(Some("sqlite:/x/y.db")).unwrap(),
            StoreLocation::Sqlite("/x/y.db".into())
        );
        assert_eq!(
            parse(Some("sqlite:///x/y.db")).unwrap(),
            StoreLocation::Sqlite("/x/y.db".into())
        );
        let pg = "postgresql://u:s3cret@db:5432/ipintel";
        assert_eq!(parse(Some(pg)).unwrap(), StoreLocation::Postgres(pg.into()));
        assert_eq!(
            StoreLocation::Postgres(pg.into()).to_string(),
            "postgresql://u:***@db:5432/ipintel"
        );
        for bad in [
            "sqlite:",
            "mysql://u:s3cret@db/x",
            "/just/a/path",
            "postgres:/x",
        ] {
            let err = parse(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("store.url"), "{bad}: {err}");
            assert!(!err.contains("s3cret"), "{bad}: {err}");
        }
        // From the environment, with the password kept out of check-config's output.
        let cfg = Config::load(
            None,
            &env(&[("IPINTEL_STORE__URL", pg), ("IPINTEL_DATA_DIR", "/tmp/x")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            cfg.store_location().unwrap(),
            StoreLocation::Postgres(pg.into())
        );
        let shown = cfg.to_annotated_toml();
        assert!(
            !shown.contains("s3cret") && shown.contains("u:***@db"),
            "{shown}"
        );
        let flag = Overrides {
            store_url: Some("sqlite:/f.db".into()),
            ..Overrides::default()
        };
        let cfg = Config::load(
            None,
            &env(&[("IPINTEL_STORE__URL", pg), ("IPINTEL_DATA_DIR", "/tmp/x")]),
            &flag,
        )
        .unwrap();
        assert_eq!(
            cfg.store_location().unwrap(),
            StoreLocation::Sqlite("/f.db".into())
        );
        assert_eq!(cfg.sources["store.url"], "flag --store-url");
        assert!(Config::load(
            None,
            &env(&[
                ("IPINTEL_STORE__URL", "mysql://x"),
                ("IPINTEL_DATA_DIR", "/tmp/x")
            ]),
            &Overrides::default()
        )
        .is_err());
        // IPINTEL_STORE_URL is --store-url's: clap hands it over as the flag.
        assert!(Config::load(
            None,
            &env(&[("IPINTEL_STORE_URL", pg), ("IPINTEL_DATA_DIR", "/tmp/x")]),
            &Overrides::default()
        )
        .is_ok());
    }

    #[test]
    fn precedence_file_env_cli() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\ndata_dir = \"/a\"\n[geoip]\nverify = false\n",
        )
        .unwrap();
        let cfg = Config::load(
            Some(&file),
            &env(&[
                ("IPINTEL_DATA_DIR", "/b"),
                ("IPINTEL_GEOIP__MMDB", "x.mmdb, y.mmdb"),
                ("HOME", "/root"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(cfg.listen.port(), 1);
        assert_eq!(cfg.data_dir, PathBuf::from("/b"));
        assert!(!cfg.geoip.verify);
        // Relative paths from the environment are relative to the working directory.
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(cfg.geoip.mmdb, vec![cwd.join("x.mmdb"), cwd.join("y.mmdb")]);
        assert_eq!(cfg.sources["data_dir"], "env IPINTEL_DATA_DIR");
        assert!(cfg.sources["listen"].starts_with("file "));
        let cli = Overrides {
            data_dir: Some("/c".into()),
            ..Default::default()
        };
        let cfg = Config::load(Some(&file), &env(&[("IPINTEL_DATA_DIR", "/b")]), &cli).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/c"));
    }

    #[test]
    fn the_data_directory_rule() {
        let none = Overrides::default();
        let cfg = Config::load(None, &env(&[("HOME", "/home/ann")]), &none).unwrap();
        assert_eq!(
            cfg.data_dir,
            PathBuf::from("/home/ann/.local/share/ipintel")
        );
        assert_eq!(
            cfg.store_path(),
            PathBuf::from("/home/ann/.local/share/ipintel/ipintel.db")
        );
        let cfg = Config::load(
            None,
            &env(&[("HOME", "/home/ann"), ("XDG_DATA_HOME", "/xdg")]),
            &none,
        )
        .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/xdg/ipintel"));
        // A relative XDG_DATA_HOME is ignored, as the XDG spec says.
        let cfg = Config::load(
            None,
            &env(&[("HOME", "/home/ann"), ("XDG_DATA_HOME", "rel")]),
            &none,
        )
        .unwrap();
        assert_eq!(
            cfg.data_dir,
            PathBuf::from("/home/ann/.local/share/ipintel")
        );
        let cfg = Config::load(None, &env(&[]), &none).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/ipintel"));
        // Relative paths in a file are relative to the file.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "data_dir = \"state\"\n[geoip]\nmmdb = [\"db/City.mmdb\"]\n[[registry.mirrors]]\nsource = \"RADB\"\nnrtm = \"127.0.0.1:43\"\ndump = \"radb.db.gz\"\n",
        )
        .unwrap();
        let cfg = Config::load(Some(&file), &env(&[("HOME", "/home/ann")]), &none).unwrap();
        assert_eq!(cfg.data_dir, dir.path().join("state"));
        assert_eq!(cfg.geoip.mmdb, vec![dir.path().join("db/City.mmdb")]);
        assert_eq!(
            cfg.registry.mirrors[0].dump.as_deref(),
            Some(dir.path().join("radb.db.gz").as_path())
        );
        assert_eq!(cfg.registry.mirrors[0].interval_secs, 60);
        // The flag beats the environment, which beats the file.
        let cfg = Config::load(
            Some(&file),
            &env(&[("IPINTEL_DATA_DIR", "/env")]),
            &Overrides {
                data_dir: Some("/flag".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/flag"));
        assert_eq!(cfg.sources["data_dir"], "flag --data-dir");
    }

    #[test]
    fn listen_takes_ports_names_and_addresses() {
        assert_eq!(
            parse_listen("8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            parse_listen(":8080").unwrap(),
            "0.0.0.0:8080".parse().unwrap()
        );
        assert_eq!(
            parse_listen("[::1]:8443").unwrap(),
            "[::1]:8443".parse().unwrap()
        );
        assert_eq!(
            parse_listen("10.1.2.3:80").unwrap(),
            "10.1.2.3:80".parse().unwrap()
        );
        // `localhost` comes from /etc/hosts: no DNS query leaves the machine.
        assert_eq!(
            parse_listen("localhost:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        for bad in [
            "",
            "http://x:80",
            "x:",
            "x:99999",
            "[::1]",
            "a b:80",
            "70000",
        ] {
            let err = parse_listen(bad).unwrap_err();
            assert!(
                err.contains("PORT") || err.contains("resolve"),
                "{bad:?}: {err}"
            );
        }
        let cfg = Config::load(
            None,
            &env(&[("IPINTEL_LISTEN", "9000")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9000".parse().unwrap());
    }

    #[test]
    fn zero_limits_name_their_key_and_source() {
        let err = Config::load(
            None,
            &env(&[("IPINTEL_TASKS__WORKERS", "0")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("tasks.workers is 0 (from env IPINTEL_TASKS__WORKERS)"),
            "{err}"
        );
        let err = Config::load(
            None,
            &env(&[("IPINTEL_BULK__CHUNK_TERMS", "0")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bulk.chunk_terms is 0"), "{err}");
    }

    #[test]
    fn check_config_prints_toml_with_sources_and_hides_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[admin]\ntoken = \"s3cret\"\n[plans.team]\nservices = [\"city\"]\n",
        )
        .unwrap();
        let cfg = Config::load(
            Some(&file),
            &env(&[("IPINTEL_TASKS__WORKERS", "3"), ("HOME", "/h")]),
            &Overrides::default(),
        )
        .unwrap();
        let text = cfg.to_annotated_toml();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("token = \"<set>\"  # file "), "{text}");
        assert!(
            text.contains("workers = 3  # env IPINTEL_TASKS__WORKERS"),
            "{text}"
        );
        assert!(
            text.contains("max_connections = 10000  # default"),
            "{text}"
        );
        assert!(text.contains("[plans.team]"), "{text}");
        // What it prints is a configuration that loads to the same values.
        let stripped: String = text
            .lines()
            .map(|l| l.split("  # ").next().unwrap())
            .filter(|l| !l.contains("<set>"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&file, stripped).unwrap();
        let again = Config::load(Some(&file), &env(&[]), &Overrides::default()).unwrap();
        assert_eq!(again.tasks.workers, 3);
        assert_eq!(again.data_dir, PathBuf::from("/h/.local/share/ipintel"));
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[geoip]\nmmdbs = []\n").unwrap();
        let err = Config::load(Some(&file), &env(&[]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml") && err.contains("mmdbs"), "{err}");
        let err = Config::load(None, &env(&[("IPINTEL_LISTN", "x")]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("IPINTEL_LISTN") && err.contains("listn"),
            "{err}"
        );
        let err = Config::load(
            None,
            &env(&[("IPINTEL_HTTP__MAX_CONNECTIONS", "many")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("IPINTEL_HTTP__MAX_CONNECTIONS"), "{err}");
    }

    #[test]
    fn plans_merge_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[plans.team]\nservices = [\"city\"]\ndaily_quota = 5\n",
        )
        .unwrap();
        let cfg = Config::load(Some(&file), &env(&[]), &Overrides::default()).unwrap();
        let plans = cfg.plans().unwrap();
        assert_eq!(plans.get("team").unwrap().daily_quota, Some(5));
        assert!(plans.get("pro").is_some());
        std::fs::write(&file, "[plans.team]\nservices = [\"citty\"]\n").unwrap();
        let err = Config::load(Some(&file), &env(&[]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("citty"), "{err}");
    }
}
