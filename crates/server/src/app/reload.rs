//! Replacing the databases: the file watcher, and the one reload every trigger calls
//! (the watcher, SIGHUP, `POST /admin/reload`). A service of its own, so front ends ask for
//! a reload without reaching into the server's lifecycle.

use std::time::Duration;

use ipintel_core::geo::ReloadOutcome;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

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

/// Reload when files are replaced (by rename or rewritten in place). A broken replacement
/// is reported once and tried again only when the files change again; the previous set
/// keeps serving meanwhile, and `/readyz` and `ipintel_geo_stale` say so.
pub(crate) async fn watch_databases(state: AppState, cancel: CancellationToken) {
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
