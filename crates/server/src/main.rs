//! `ipintel`: parse the command line, load the configuration, dispatch. Owns exit codes:
//! 0 success, 1 "not found" (lookup), 2 any error. A closed stdout pipe exits 0 quietly.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;

use ipintel_server::cli::{self, Cli, Command, EXIT_OK};
use ipintel_server::config::{Config, LogFormat, Overrides};

fn main() -> ExitCode {
    // Rust ignores SIGPIPE and turns it into EPIPE errors; those end the program quietly
    // below, as `ipintel check-config | head` should.
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
        store_url: cli.store_url.clone(),
        ..Default::default()
    };
    match &cli.command {
        // Neither reads the configuration: they describe the command line itself.
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "ipintel", &mut script);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
            return Ok(EXIT_OK);
        }
        Command::Man => {
            let page = cli::man_page()?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), &page)?;
            return Ok(EXIT_OK);
        }
        _ => {}
    }
    if let Command::Serve(args) = &cli.command {
        overrides.listen = args.listen;
        overrides.whois_listen = args.whois_listen.map(|w| w.0);
        overrides.mmdb = args.mmdb.clone();
        overrides.tls_cert = args.tls_cert.clone();
        overrides.tls_key = args.tls_key.clone();
    }
    let config = Config::load(cli.config.as_deref(), &env, &overrides)?;
    init_logging(config.log_format, &env);
    match cli.command {
        Command::Serve(args) => runtime()?.block_on(cli::serve(config, args.pid_file)),
        Command::Keys(command) => runtime()?.block_on(cli::keys(&config, command, cli.create)),
        Command::Lookup(args) => cli::lookup(&config, args),
        Command::Bulk(args) => runtime()?.block_on(cli::bulk(&config, args)),
        Command::Data(command) => cli::data(command),
        Command::Registry(command) => {
            runtime()?.block_on(cli::registry(&config, command, cli.create))
        }
        Command::Store(command) => runtime()?.block_on(cli::store(command)),
        Command::CheckConfig => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "# ipintel {} effective configuration",
                env!("CARGO_PKG_VERSION")
            )?;
            match config.store_location() {
                Ok(store) => writeln!(out, "# store: {store}")?,
                Err(e) => writeln!(out, "# store: {e}")?,
            }
            out.write_all(config.to_annotated_toml().as_bytes())?;
            out.flush()?;
            Ok(EXIT_OK)
        }
        Command::Completions { .. } | Command::Man => unreachable!("answered above"),
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
    // Colour only for a person at a terminal: a file or journald gets plain text.
    let ansi =
        std::io::IsTerminal::is_terminal(&std::io::stderr()) && !env.contains_key("NO_COLOR");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
