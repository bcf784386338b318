//! `AppState`: what every request handler may use. Built once; a clone is one reference
//! count (axum clones the state for every request and every layer, and thirteen counts
//! per clone showed up at 6-8 % of a lookup's CPU).

use std::sync::Arc;

use ipintel_core::accounts::Accounts;
use ipintel_core::geo::local::LocalNetworks;
use ipintel_core::geo::GeoService;

use crate::config::Config;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The server's parts, shared by every request through [`AppState`].
pub struct Services {
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
