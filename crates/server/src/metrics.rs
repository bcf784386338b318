//! Prometheus metrics: requests by dialect and status, latency by dialect, lookups, reloads,
//! bulk terms, whois queries.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub dialect: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DialectLabel {
    pub dialect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<DialectLabel, Histogram>,
    pub lookups: Family<OutcomeLabel, Counter>,
    pub reloads: Family<OutcomeLabel, Counter>,
    pub bulk_terms: Family<OutcomeLabel, Counter>,
    pub geo_generation: Gauge,
    pub live_keys: Gauge,
    /// Handler panics answered 500 (each one is a bug).
    pub panics: Counter,
    /// NRTM polls of mirrored sources that failed (the last good serial kept).
    pub mirror_failures: Counter,
    /// NRTM operations taken from mirrored sources.
    pub mirror_operations: Counter,
    /// Request body bytes held by requests in flight, all clients together.
    pub body_bytes_in_flight: Gauge,
    /// Requests refused because the body budget (total or the client's share) was spent.
    pub body_budget_refusals: Counter,
    /// 1 while a changed database file was rejected and older data serves.
    pub geo_stale: Gauge,
    /// The record cache of the serving set: bytes held, entries, hits and misses since it
    /// loaded (set when /metrics is read).
    pub geo_cache: Family<CacheLabel, Gauge>,
    /// Connections by front end and outcome (accepted, refused_total, refused_client,
    /// stuck_reader).
    pub connections: Family<ConnectionLabels, Counter>,
    /// Open connections by front end.
    pub open_connections: Family<FrontEndLabel, Gauge>,
    /// Whois queries (TCP and the HTTP mirror) by outcome (data, empty, error, refused).
    pub whois_queries: Family<OutcomeLabel, Counter>,
    /// Requests that carried maintainer passwords, by outcome.
    pub registry_unlocks: Family<OutcomeLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrontEndLabel {
    pub front_end: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    pub front_end: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabel {
    pub what: &'static str,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ipintel");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<DialectLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                // 2 ms: the console's address-page target (docs/benchmarks.md).
                0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
                1.0, 5.0,
            ])
        });
        let lookups = Family::<OutcomeLabel, Counter>::default();
        let reloads = Family::<OutcomeLabel, Counter>::default();
        let bulk_terms = Family::<OutcomeLabel, Counter>::default();
        let geo_generation = Gauge::default();
        let live_keys = Gauge::default();
        let panics = Counter::default();
        let mirror_failures = Counter::default();
        let mirror_operations = Counter::default();
        registry.register(
            "registry_mirror_failures",
            "NRTM polls of mirrored sources that failed; the source keeps its last good serial",
            mirror_failures.clone(),
        );
        registry.register(
            "registry_mirror_operations",
            "NRTM operations (ADD, DEL) taken from mirrored sources",
            mirror_operations.clone(),
        );
        let body_bytes_in_flight = Gauge::default();
        let body_budget_refusals = Counter::default();
        let geo_stale = Gauge::default();
        let geo_cache = Family::<CacheLabel, Gauge>::default();
        let connections = Family::<ConnectionLabels, Counter>::default();
        let open_connections = Family::<FrontEndLabel, Gauge>::default();
        let whois_queries = Family::<OutcomeLabel, Counter>::default();
        let registry_unlocks = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "registry_unlocks",
            "requests with maintainer passwords by outcome (unlocked, failed, refused: too many recent failures from the client)",
            registry_unlocks.clone(),
        );
        registry.register(
            "whois_queries",
            "whois queries by outcome (data, empty, error, refused: over the client's rate, busy: over the output budget)",
            whois_queries.clone(),
        );
        registry.register(
            "connections",
            "connections by front end and outcome (accepted, refused_total, refused_client, stuck_reader: let go after taking nothing of its answer)",
            connections.clone(),
        );
        registry.register(
            "open_connections",
            "open connections by front end",
            open_connections.clone(),
        );
        registry.register(
            "geo_cache",
            "record cache of the serving databases: what=bytes, capacity_bytes, entries, hits, misses (since load)",
            geo_cache.clone(),
        );
        registry.register(
            "handler_panics",
            "handler panics answered with 500",
            panics.clone(),
        );
        registry.register(
            "http_body_bytes_in_flight",
            "request body bytes held by requests in flight",
            body_bytes_in_flight.clone(),
        );
        registry.register(
            "http_body_budget_refusals",
            "requests refused because the body memory budget was spent",
            body_budget_refusals.clone(),
        );
        registry.register(
            "geo_stale",
            "1 while a changed database file is rejected and older data serves",
            geo_stale.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by dialect and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by dialect",
            latency.clone(),
        );
        registry.register(
            "geo_lookups",
            "GeoIP lookups by outcome (found, not_found, reserved)",
            lookups.clone(),
        );
        registry.register(
            "geo_reloads",
            "database reloads by outcome (ok, failed)",
            reloads.clone(),
        );
        registry.register(
            "bulk_terms",
            "bulk request terms by outcome (accepted, invalid, processed, failed)",
            bulk_terms.clone(),
        );
        registry.register(
            "geo_generation",
            "generation of the serving database set",
            geo_generation.clone(),
        );
        registry.register("live_keys", "unrevoked API keys", live_keys.clone());
        Metrics {
            registry,
            requests,
            latency,
            lookups,
            reloads,
            bulk_terms,
            geo_generation,
            live_keys,
            panics,
            mirror_failures,
            mirror_operations,
            body_bytes_in_flight,
            body_budget_refusals,
            geo_stale,
            geo_cache,
            connections,
            open_connections,
            whois_queries,
            registry_unlocks,
        }
    }

    pub fn observe_request(&self, dialect: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { dialect, status })
            .inc();
        self.latency
            .get_or_create(&DialectLabel { dialect })
            .observe(elapsed.as_secs_f64());
    }

    pub fn connection(&self, front_end: &'static str, outcome: &'static str) {
        self.connections
            .get_or_create(&ConnectionLabels { front_end, outcome })
            .inc();
    }

    pub fn whois_query(&self, outcome: &'static str) {
        self.whois_queries
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub fn registry_unlock(&self, outcome: &'static str) {
        self.registry_unlocks
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub fn lookup(&self, outcome: &'static str) {
        self.lookups.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn reload(&self, outcome: &'static str) {
        self.reloads.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn bulk_terms(&self, outcome: &'static str, n: u64) {
        self.bulk_terms
            .get_or_create(&OutcomeLabel { outcome })
            .inc_by(n);
    }

    /// Copy the serving set's cache counters into the gauges.
    pub fn set_cache(&self, stats: ipintel_core::geo::CacheStats) {
        for (what, value) in [
            ("bytes", stats.bytes),
            ("capacity_bytes", stats.capacity_bytes),
            ("entries", stats.entries as u64),
            ("hits", stats.hits),
            ("misses", stats.misses),
        ] {
            self.geo_cache
                .get_or_create(&CacheLabel { what })
                .set(value as i64);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl ipintel_core::engine::Observer for Metrics {
    fn lookup(&self, outcome: ipintel_core::engine::LookupOutcome) {
        Metrics::lookup(self, outcome.as_str());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
