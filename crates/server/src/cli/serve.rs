//! `ipintel serve`: bind the listeners, start the app, print the banner, run until a
//! signal (SIGHUP reloads the databases, SIGTERM and SIGINT stop it).

use anyhow::Context;

use super::EXIT_OK;
use crate::app;
use crate::config::Config;

pub async fn serve(
    mut config: Config,
    pid_file: Option<std::path::PathBuf>,
) -> anyhow::Result<i32> {
    // Everything that can be wrong is found before anything is announced: the address, the
    // TLS files, the data directory and store, the databases.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => "; another process listens there (pick another with --listen)",
                std::io::ErrorKind::PermissionDenied => "; ports below 1024 need privileges (use a higher port, or CAP_NET_BIND_SERVICE)",
                std::io::ErrorKind::AddrNotAvailable => "; no interface of this host has that address",
                _ => "",
            };
            anyhow::anyhow!("cannot listen on {} (listen, from {}): {e}{hint}", config.listen, config.sources.get("listen").map_or("the default", String::as_str))
        })?;
    let local = listener.local_addr()?;
    // Links the server writes (the registry's base and terms URLs when not configured) name
    // the address it really listens on, not a port 0 asked for.
    config.listen = local;
    let whois_listener = match config.whois.listen {
        None => None,
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => "; another process listens there (pick another with --whois-listen, or off)",
                std::io::ErrorKind::PermissionDenied => "; ports below 1024 need privileges (use a higher port, or CAP_NET_BIND_SERVICE)",
                std::io::ErrorKind::AddrNotAvailable => "; no interface of this host has that address",
                _ => "",
            };
            anyhow::anyhow!("cannot listen on {addr} (whois.listen, from {}): {e}{hint}", config.sources.get("whois.listen").map_or("the default", String::as_str))
        })?),
    };
    let whois_local = match &whois_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    if let Some(tls) = &config.tls {
        crate::listen::tls_acceptor(&tls.cert, &tls.key, &[b"http/1.1"])
            .context("tls.cert / tls.key")?;
    }
    tracing::info!(data_dir = %config.data_dir.display(), from = %config.sources.get("data_dir").map_or("default", String::as_str), "data directory");
    let started = app::start(config).await?;
    let state = started.state.clone();
    let http = app::http_front_end(&state, listener)?;
    let mut front_ends = vec![http];
    if let Some(listener) = whois_listener {
        front_ends.push(app::whois_front_end(&state, listener));
    }
    if let Some(addr) = whois_local {
        tracing::info!(address = %addr, "whois listening");
    }
    let _pid_file = match pid_file {
        Some(path) => Some(PidFile::write(path)?),
        None => None,
    };
    tracing::info!(address = %local, scheme, "listening");
    // Printed on stdout for the person who started the server. Written whole, and a closed
    // stdout (a supervisor that stopped reading) is ignored: a server must not die of it.
    let mut banner = format!(
        "ipintel: data directory {} ({})\n",
        state.config.data_dir.display(),
        state
            .config
            .sources
            .get("data_dir")
            .map_or("default", String::as_str)
    );
    if let Some(new) = &started.bootstrap {
        // The key is shown once, so a new user can try the server straight away.
        banner.push_str(&format!(
            "ipintel: created account {} with key {}\n\
             ipintel: this key is shown only now. Try:\n\
             \x20 curl -u {}:{} {scheme}://{local}/geoip/v2.1/city/81.2.69.160\n",
            new.account_id, new.key, new.account_id, new.key
        ));
    } else {
        banner.push_str(&format!(
            "ipintel: listening on {scheme}://{local} (keys: ipintel keys list)\n"
        ));
    }
    if state.config.console.enabled {
        let who = if started.bootstrap.is_some() {
            "the key above"
        } else {
            "an API key or admin.token"
        };
        banner.push_str(&format!(
            "ipintel: web console on {scheme}://{local}/ui/ (sign in with {who})\n"
        ));
    }
    if let Some(addr) = whois_local {
        // A hint that works on the registry as it is now: its sources when it has any,
        // else how to load one.
        let sources = state
            .registry
            .store()
            .registry_sources()
            .await
            .unwrap_or_default();
        let hint = if sources.is_empty() {
            "the registry is empty: load RPSL with `ipintel registry import --source NAME FILE`, docs/registry.md".to_string()
        } else {
            format!("try: whois -h {} -p {} -q sources", addr.ip(), addr.port())
        };
        banner.push_str(&format!("ipintel: whois on {addr} ({hint})\n"));
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }

    // SIGHUP reloads the databases, as with geoipupdate cron jobs.
    let hup_state = state.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(e) = crate::app::reload::reload_geo(&hup_state, true).await {
                tracing::error!(error = %e, "reload on SIGHUP failed; previous databases keep serving");
            }
        }
    });
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        tracing::info!("shutting down");
    };
    app::run(state, front_ends, shutdown).await?;
    Ok(EXIT_OK)
}

/// `--pid-file`: written once the server listens, removed when it exits.
struct PidFile(std::path::PathBuf);

impl PidFile {
    fn write(path: std::path::PathBuf) -> anyhow::Result<PidFile> {
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing --pid-file {}", path.display()))?;
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
