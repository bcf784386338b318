//! Server lifecycle: build the state from a config, run the listeners and background tasks
//! until shutdown, flush what must be durable.
//!
//! `main` and the tests both call [`start`] then [`run`], so tests exercise the same path.

mod ops;
pub mod reload;

/// Every route ipintel serves: each front end's routes, the ops endpoints, the kit's layers.
pub fn router(state: AppState) -> axum::Router {
    use crate::api;
    use crate::http::observed;
    let s = || state.clone();
    let routes = axum::Router::new()
        .merge(observed(
            api::maxmind::routes(),
            s(),
            &api::maxmind::DIALECT,
        ))
        .merge(observed(api::dbip::routes(), s(), &api::dbip::DIALECT))
        .merge(observed(api::qradar::routes(), s(), &api::qradar::DIALECT))
        .merge(observed(api::v1::routes(), s(), &api::v1::DIALECT))
        .merge(observed(
            api::whoisxml::routes(),
            s(),
            &api::whoisxml::DIALECT,
        ))
        .merge(observed(
            api::ripe::routes(&state.config.registry.prefix),
            s(),
            &api::ripe::DIALECT,
        ))
        .merge(observed(
            crate::whois::http::routes(),
            s(),
            &crate::whois::http::DIALECT,
        ))
        .merge(observed(ops::routes(), s(), &ops::OPS))
        .merge(observed(ops::admin_routes(), s(), &ops::ADMIN));
    let routes = if state.config.console.enabled {
        routes.merge(observed(
            crate::console::routes(console_reload()),
            s(),
            &crate::console::DIALECT,
        ))
    } else {
        routes
    };
    crate::http::layered(routes, state)
}

/// The console's reload button: the same reload as SIGHUP and `/admin/reload`.
fn console_reload() -> crate::console::ReloadHook {
    std::sync::Arc::new(|state: AppState| {
        Box::pin(async move {
            reload::reload_geo(&state, true)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// One answer as MaxMind's Insights JSON, for `ipintel lookup --json`: the CLI prints the
/// shape users already parse, and only the app names a dialect.
pub fn insights_json(answer: &ipintel_core::geo::GeoAnswer<'_>) -> Vec<u8> {
    crate::api::maxmind::render_insights(answer)
}

/// Every operation ipintel serves, for the OpenAPI document.
pub fn operations() -> Vec<crate::http::openapi::Operation> {
    let mut all = Vec::new();
    all.extend(crate::api::maxmind::operations());
    all.extend(crate::api::dbip::operations());
    all.extend(crate::api::qradar::operations());
    all.extend(crate::api::v1::operations());
    all.extend(crate::api::whoisxml::operations());
    all.extend(crate::api::ripe::operations());
    all.extend(crate::whois::http::operations());
    all.extend(ops::operations());
    all
}

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ipintel_core::accounts::{Accounts, NewKey};
use ipintel_core::geo::GeoService;
use ipintel_core::store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http;
use crate::listen::FrontEnd;
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
    let store = open_store(&config).await?;
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
    // Loaded in the background by `refresh_registry` (its first tick is at once): the
    // other APIs serve meanwhile, the registry's answers 503 until it is loaded.
    let registry = Arc::new(ipintel_core::registry::service::RegistryService::with_dir(
        store.clone(),
        config.registry_dir(),
    ));
    let accounts = Accounts::load(store, plans).await?;
    let options = config.geo_options(config.geoip.verify);
    tracing::info!(paths = ?options.paths, verify = options.verify, "opening databases");
    let opening = std::time::Instant::now();
    let geo = tokio::task::spawn_blocking(move || GeoService::open(options))
        .await
        .context("opening databases")??;
    tracing::info!(
        seconds = format!("{:.2}", opening.elapsed().as_secs_f64()),
        "databases open"
    );
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
    let body_budget = Arc::new(crate::limits::budget::BodyBudget::new(
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
        state: AppState::new(crate::state::Services {
            engine,
            body_budget,
            geo,
            accounts,
            local_networks,
            jobs_wakeup: Arc::new(tokio::sync::Notify::new()),
            registry,
            whois_limiter: Arc::new(crate::limits::RateLimiter::new(
                config.whois.queries_per_second,
                config.whois.burst,
                config.whois.unmetered_networks.clone(),
            )),
            unlock_limiter: Arc::new(crate::limits::RateLimiter::per_minute(
                crate::limits::UNLOCK_FAILURES_PER_MINUTE,
                crate::limits::UNLOCK_FAILURES_BURST,
            )),
            cpu: Arc::new(crate::limits::CpuPool::per_core()),
            whois_output: Arc::new(crate::limits::OutputBudget::new(
                config.whois.output_budget_bytes,
            )),
            config: Arc::new(config),
            metrics,
        }),
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

/// Make sure the data directory exists and the store can be written there, or say in plain
/// words why not (SQLite's own message is "(code: 14) unable to open database file").
/// Open the store the configuration names (creating the data directory, which holds the
/// registry files and the SQLite store), migrating its schema.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    prepare_data_dir(config)?;
    let location = config.store_location()?;
    match &location {
        crate::config::StoreLocation::Sqlite(path) => Store::open_sqlite(path).await,
        crate::config::StoreLocation::Postgres(url) => {
            Store::open_postgres(
                url,
                ipintel_core::store::PgLimits {
                    max_connections: config.store.max_connections,
                    acquire_timeout: Duration::from_millis(config.store.acquire_timeout_ms),
                },
            )
            .await
        }
    }
    .with_context(|| format!("opening store {location}"))
}

pub fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    create_data_dir(dir)
        .map_err(|e| explain_io(e.root_cause(), dir, "create the data directory"))?;
    let probe = dir.join(format!(".ipintel-write-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => return Err(explain_io(&e, dir, "write in the data directory")),
    }
    let store = match config.store_location() {
        Ok(crate::config::StoreLocation::Sqlite(path)) => path,
        _ => return Ok(()),
    };
    if store.exists() {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&store)
            .map_err(|e| explain_io(&e, &store, "open the store for writing"))?;
    }
    Ok(())
}

/// An I/O failure on `path` as an operator reads it: what failed, why in words, the fix.
fn explain_io(
    e: &(dyn std::error::Error + 'static),
    path: &std::path::Path,
    what: &str,
) -> anyhow::Error {
    use std::io::ErrorKind;
    let kind = e.downcast_ref::<std::io::Error>().map(|e| e.kind());
    let why = match kind {
        Some(ErrorKind::PermissionDenied) => format!(
            "permission denied (running as uid {}); give this user access to it, or choose another directory with --data-dir or IPINTEL_DATA_DIR",
            current_uid()
        ),
        Some(ErrorKind::ReadOnlyFilesystem) => {
            "the file system is read-only; choose a writable directory with --data-dir or IPINTEL_DATA_DIR".into()
        }
        Some(ErrorKind::StorageFull) => "the disk is full; free space there".into(),
        Some(ErrorKind::NotADirectory) | Some(ErrorKind::AlreadyExists) => {
            "a file is in the way of the directory".into()
        }
        _ => e.to_string(),
    };
    anyhow::anyhow!("cannot {what} {}: {why}", path.display())
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX)
}

/// The HTTP(S) front end on `listener`: the router, with TLS when configured.
pub fn http_front_end(state: &AppState, listener: TcpListener) -> anyhow::Result<FrontEnd> {
    let tls = match &state.config.tls {
        Some(tls) => Some(crate::listen::tls_acceptor(
            &tls.cert,
            &tls.key,
            &[b"http/1.1"],
        )?),
        None => None,
    };
    Ok(FrontEnd {
        name: "http",
        listener,
        tls,
        protocol: Arc::new(http::Http::new(router(state.clone()), &state.config.http)),
        caps: None,
        send_buffer: None,
    })
}

/// The whois front end on `listener` (RIPE-style and IRRd queries on TCP), with its own
/// connection caps.
pub fn whois_front_end(state: &AppState, listener: TcpListener) -> FrontEnd {
    let config = &state.config.whois;
    FrontEnd {
        name: "whois",
        listener,
        tls: None,
        protocol: Arc::new(crate::whois::Whois::new(state.clone())),
        caps: Some(crate::listen::Limits {
            max_connections: config.max_connections,
            max_per_client: config.max_connections_per_client,
        }),
        // Large answers wait in the output budget, not in kernel buffers that grow to
        // megabytes per connection for readers that never read.
        send_buffer: Some(crate::whois::SEND_BUFFER_BYTES),
    }
}

/// Serve until `shutdown` resolves: every front end through the shared accept loop, plus
/// the database watcher, the ledger sync and the job runner. On the way out, connections
/// drain (at most 10 s), and usage counted in memory is written to the store.
pub async fn run(
    state: AppState,
    front_ends: Vec<FrontEnd>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(reload::watch_databases(state.clone(), cancel.clone()));
    tasks.spawn(sync_ledger(state.clone(), cancel.clone()));
    tasks.spawn(refresh_registry(state.clone(), cancel.clone()));
    tasks.spawn(crate::mirror::follow_all(state.clone(), cancel.clone()));
    let render = crate::runner::TaskRender {
        message: crate::api::qradar::model::task_message,
        result: |found| crate::api::v1::model::task_result(found).to_string(),
    };
    tasks.spawn(crate::runner::run(state.clone(), render, cancel.clone()));
    tasks.spawn(trim_heap(cancel.clone()));

    let stop_listening = CancellationToken::new();
    let limits = crate::listen::Limits {
        max_connections: state.config.http.max_connections,
        max_per_client: state.config.http.max_connections_per_client,
    };
    let serving = crate::listen::serve(
        front_ends,
        limits,
        state.metrics.clone(),
        stop_listening.clone(),
    );
    tokio::pin!(serving);
    tokio::select! {
        _ = shutdown => {
            stop_listening.cancel();
            serving.await;
        }
        _ = &mut serving => {}
    }

    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    state
        .accounts
        .sync()
        .await
        .context("writing usage on shutdown")?;
    // Credits leased from a shared store and not spent go back for the other instances.
    state
        .accounts
        .return_leases(false)
        .await
        .context("returning credit leases on shutdown")?;
    state.accounts.store().close().await;
    Ok(())
}

/// Give memory freed by request churn back to the system every 10 s. glibc keeps freed
/// pages in its per-thread arenas; under a steady stream of cache misses (records decoded
/// and evicted) that retention alone held ~100 MB. A trim costs a few milliseconds on a
/// blocking thread.
async fn trim_heap(cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let _ = tokio::task::spawn_blocking(ipintel_core::release_free_heap).await;
    }
}

/// Load the registry again when an import (by the CLI, maybe in another process) commits.
async fn refresh_registry(state: AppState, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(state.config.registry.refresh_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = state.registry.refresh().await {
            tracing::warn!(error = %e, "cannot check the store for a registry import");
        }
    }
}

/// Write usage and pick up key changes twice a second.
async fn sync_ledger(state: AppState, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(state.config.usage_sync_ms));
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
