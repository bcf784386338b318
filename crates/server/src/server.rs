//! Server lifecycle: build the state from a config, run the listeners and background tasks
//! until shutdown, flush what must be durable.
//!
//! `main` and the tests both call [`start`] then [`run`], so tests exercise the same path.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ipintel_core::accounts::{Accounts, NewKey};
use ipintel_core::geo::{GeoService, ReloadOutcome};
use ipintel_core::store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http;
use crate::metrics::Metrics;
use crate::state::AppState;

/// A state ready to serve, and the account created on first start, if any.
pub struct Started {
    pub state: AppState,
    pub bootstrap: Option<NewKey>,
}

/// Open the store and databases. Creates the data directory and, when the store has no
/// account at all, one account on `bootstrap_plan` whose key the caller shows once.
pub async fn start(config: Config) -> anyhow::Result<Started> {
    create_data_dir(&config.data_dir)?;
    let store = Store::open_sqlite(&config.store_path())
        .await
        .with_context(|| format!("opening store {}", config.store_path().display()))?;
    let plans = config.plans()?;
    let bootstrap = if store.count_accounts().await? == 0 {
        Some(
            ipintel_core::accounts::create_account(
                &store,
                &plans,
                &config.bootstrap_plan,
                None,
                None,
                "bootstrap",
            )
            .await?,
        )
    } else {
        None
    };
    let accounts = Accounts::load(store, plans).await?;
    let options = config.geo_options(config.geoip.verify);
    let geo = tokio::task::spawn_blocking(move || GeoService::open(options))
        .await
        .context("opening databases")??;
    let set = geo.snapshot();
    if set.dbs.is_empty() {
        tracing::warn!(paths = ?geo.paths(), "no MMDB database found; lookups answer 503 until one appears (run scripts/fetch-data.sh)");
    }
    for db in &set.dbs {
        tracing::info!(kind = %db.kind, database_type = %db.database_type, path = %db.path.display(), "database loaded");
    }
    tracing::info!(
        cache_mib = set.cache_stats().capacity_bytes >> 20,
        "record cache ready"
    );
    let metrics = Arc::new(Metrics::new());
    metrics.geo_generation.set(set.generation as i64);
    let body_budget = Arc::new(http::budget::BodyBudget::new(
        config.http.body_budget_bytes,
        config.http.body_budget_per_client_bytes,
        metrics.body_bytes_in_flight.clone(),
    ));
    let geo = Arc::new(geo);
    let accounts = Arc::new(accounts);
    let local_networks = Arc::new(config.local_networks());
    let engine = Arc::new(ipintel_core::engine::Engine::new(
        geo.clone(),
        accounts.clone(),
        local_networks.clone(),
        metrics.clone(),
    ));
    Ok(Started {
        state: AppState {
            engine,
            body_budget,
            geo,
            accounts,
            local_networks,
            jobs_wakeup: Arc::new(tokio::sync::Notify::new()),
            config: Arc::new(config),
            metrics,
        },
        bootstrap,
    })
}

/// Create the data directory (and missing parents) readable by the owner only: it holds the
/// store. A directory that exists keeps its mode.
pub fn create_data_dir(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating data directory {}", path.display()))
}

/// Reopen the databases (if changed, or always with `force`), off the async threads.
/// Returns the generation now serving.
pub async fn reload_geo(state: &AppState, force: bool) -> anyhow::Result<u64> {
    let geo = state.geo.clone();
    let outcome = tokio::task::spawn_blocking(move || geo.reload(force)).await?;
    match outcome {
        Ok(ReloadOutcome::Reloaded { generation }) => {
            state.metrics.reload("ok");
            state.metrics.geo_stale.set(0);
            state.metrics.geo_generation.set(generation as i64);
            tracing::info!(generation, "databases reloaded");
            Ok(generation)
        }
        Ok(ReloadOutcome::Unchanged) => Ok(state.geo.snapshot().generation),
        Err(e) => {
            state.metrics.reload("failed");
            state.metrics.geo_stale.set(1);
            Err(e.into())
        }
    }
}

/// Serve until `shutdown` resolves: HTTP(S) on `listener`, plus the database watcher and the
/// ledger sync. On the way out, usage counted in memory is written to the store.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let tls = match &state.config.tls {
        Some(tls) => Some(http::tls_acceptor(&tls.cert, &tls.key)?),
        None => None,
    };
    let cancel = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(watch_databases(state.clone(), cancel.clone()));
    tasks.spawn(sync_ledger(state.clone(), cancel.clone()));
    tasks.spawn(crate::runner::run(state.clone(), cancel.clone()));

    let router = http::router(state.clone());
    http::serve(listener, router, tls, &state.config.http, shutdown).await;

    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    state
        .accounts
        .sync()
        .await
        .context("writing usage on shutdown")?;
    state.accounts.store().close().await;
    Ok(())
}

/// Reload when files are replaced (by rename or rewritten in place). A broken replacement
/// is reported once and tried again only when the files change again; the previous set
/// keeps serving meanwhile, and `/readyz` and `ipintel_geo_stale` say so.
async fn watch_databases(state: AppState, cancel: CancellationToken) {
    let secs = state.config.geoip.reload_poll_secs;
    if secs == 0 {
        return;
    }
    let mut last_error = String::new();
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let geo = state.geo.clone();
        let changed = tokio::task::spawn_blocking(move || geo.changed_on_disk())
            .await
            .unwrap_or(false);
        if !changed {
            // Files put back as they were end staleness without a reload.
            if state.geo.stale().is_none() {
                state.metrics.geo_stale.set(0);
            }
            continue;
        }
        match reload_geo(&state, false).await {
            Ok(_) => last_error.clear(),
            Err(e) => {
                let message = e.to_string();
                if message != last_error {
                    tracing::error!(error = %message, "database replacement rejected; previous databases keep serving");
                    last_error = message;
                }
            }
        }
    }
}

/// Write usage and pick up key changes twice a second.
async fn sync_ledger(state: AppState, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = state.accounts.sync().await {
            tracing::error!(error = %e, "ledger sync failed; will retry");
        }
    }
}
