//! `AppState`: what every request handler may use. Built once, cheap to clone.

use std::sync::Arc;

use ipintel_core::accounts::Accounts;
use ipintel_core::geo::local::LocalNetworks;
use ipintel_core::geo::GeoService;

use crate::config::Config;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    /// The use cases every front end calls.
    pub engine: Arc<ipintel_core::engine::Engine>,
    pub geo: Arc<GeoService>,
    pub accounts: Arc<Accounts>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub local_networks: Arc<LocalNetworks>,
    /// Wakes the job runner when a job is accepted.
    pub jobs_wakeup: Arc<tokio::sync::Notify>,
    /// The RPSL registry in memory (empty until something is imported).
    pub registry: Arc<ipintel_core::registry::service::RegistryService>,
    /// The memory request bodies in flight may hold.
    pub body_budget: Arc<crate::limits::budget::BodyBudget>,
    /// Whois queries per client address, TCP and the HTTP mirror together.
    pub whois_limiter: Arc<crate::limits::RateLimiter>,
    /// Failed maintainer-password guesses per client address.
    pub unlock_limiter: Arc<crate::limits::RateLimiter>,
    /// Slow work (password checks, large renders), off the async threads.
    pub cpu: Arc<crate::limits::CpuPool>,
    /// Bytes whois answers hold while their readers take them, all connections together.
    pub whois_output: Arc<crate::limits::OutputBudget>,
}
