//! `ipintel`: parse the command line, load the configuration, dispatch. Owns exit codes:
//! 0 success, 1 "not found" (lookup), 2 any error. A closed stdout pipe exits 0 quietly.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use ipintel_server::cli::{Cli, Command};
use ipintel_server::config::{Config, LogFormat, Overrides};
use ipintel_server::{commands, server};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ipintel: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        ..Default::default()
    };
    if let Command::Serve(args) = &cli.command {
        overrides.listen = args.listen;
        overrides.mmdb = args.mmdb.clone();
        overrides.tls_cert = args.tls_cert.clone();
        overrides.tls_key = args.tls_key.clone();
    }
    let config = Config::load(cli.config.as_deref(), &env, &overrides)?;
    init_logging(config.log_format, &env);
    match cli.command {
        Command::Serve(_) => runtime()?.block_on(serve(config)),
        Command::Keys(command) => runtime()?.block_on(commands::keys(&config, command)),
        Command::Lookup(args) => commands::lookup(&config, args),
        Command::Bulk(args) => {
            runtime()?.block_on(ipintel_server::bulk::command::run(&config, args))
        }
        Command::Data(command) => commands::data(command),
        Command::CheckConfig => {
            println!("{config:#?}");
            Ok(commands::EXIT_OK)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logging(format: LogFormat, env: &BTreeMap<String, String>) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(env.get("IPINTEL_LOG").map(String::as_str).unwrap_or("info"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(config: Config) -> anyhow::Result<i32> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let started = server::start(config).await?;
    let state = started.state.clone();
    tracing::info!(address = %local, scheme, "listening");
    if let Some(new) = &started.bootstrap {
        // Printed once, on stdout, so a new user can try the server straight away.
        println!(
            "ipintel: created account {} with key {}",
            new.account_id, new.key
        );
        println!("ipintel: this key is shown only now. Try:");
        println!(
            "  curl -u {}:{} {scheme}://{local}/geoip/v2.1/city/81.2.69.160",
            new.account_id, new.key
        );
    } else {
        println!("ipintel: listening on {scheme}://{local} (keys: ipintel keys list)");
    }

    // SIGHUP reloads the databases, as with geoipupdate cron jobs.
    let hup_state = state.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(e) = ipintel_server::reload::reload_geo(&hup_state, true).await {
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
    let http = server::http_front_end(&state, listener)?;
    server::run(state, vec![http], shutdown).await?;
    Ok(commands::EXIT_OK)
}
