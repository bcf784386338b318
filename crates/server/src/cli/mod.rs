//! The command line, parsed in two stages: clap turns arguments into `Cli` (raw values
//! only), then `main` builds a `Config` from the file, the environment and these flags.

mod bulk;
mod data;
mod keys;
mod lookup;
mod man;
mod registry;
mod serve;
mod store;

pub use bulk::run as bulk;
pub use data::data;
pub use keys::keys;
pub use lookup::lookup;
pub use man::man_page;
pub use registry::registry;
pub use serve::serve;
pub use store::store;

use anyhow::bail;
use ipintel_core::store::Store;

use crate::config::Config;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ipintel",
    version,
    about = "Self-hosted IP intelligence: GeoIP web services from your own MMDB databases.",
    after_long_help = env_help()
)]
pub struct Cli {
    /// TOML configuration file (see ipintel.example.toml).
    #[arg(long, global = true, env = "IPINTEL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the store and, by default, the databases (default: see data_dir below;
    /// `ipintel check-config` prints the one in effect).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store: sqlite:PATH or postgres://USER@HOST[:PORT]/DATABASE (store.url; default
    /// the SQLite file in the data directory).
    #[arg(long, global = true, env = "IPINTEL_STORE_URL", value_name = "URL")]
    pub store_url: Option<String>,
    /// Let a command other than `serve` create a new store where none exists (without it,
    /// such a command refuses, so a mistyped data directory never splits your keys in two).
    #[arg(long, global = true)]
    pub create: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage accounts and API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Look an address up in the local databases, without a server.
    Lookup(LookupArgs),
    /// Enrich a list of IPs, domains and e-mail addresses (locally, or through a server).
    Bulk(BulkArgs),
    /// Build and inspect MMDB databases.
    #[command(subcommand)]
    Data(DataCommand),
    /// Load and inspect the RPSL registry (RIPE Database REST API, whois).
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Move the store: an embedded (SQLite) deployment to PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Load the configuration, print it as TOML with where each value came from, and exit
    /// (0 when valid, 2 when not).
    CheckConfig,
    /// Print a shell completion script: `ipintel completions bash > /etc/bash_completion.d/ipintel`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `ipintel man | man -l -`.
    Man,
}

/// `--whois-listen`: an address, or `None` for `off`. A newtype: clap reads a bare
/// `Option<Option<_>>` as "a flag whose value is optional".
#[derive(Debug, Clone, Copy)]
pub struct WhoisListen(pub Option<SocketAddr>);

fn parse_whois_listen(text: &str) -> Result<WhoisListen, String> {
    crate::config::parse_optional_listen(text).map(WhoisListen)
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen: PORT (127.0.0.1), HOST:PORT, [IPV6]:PORT or :PORT (every interface).
    #[arg(long, value_name = "ADDR", value_parser = crate::config::parse_listen)]
    pub listen: Option<SocketAddr>,
    /// Where the whois front end listens (RIPE flags and IRRd `!` queries), or `off`;
    /// replaces whois.listen (default 127.0.0.1:4343).
    #[arg(long, value_name = "ADDR", value_parser = parse_whois_listen)]
    pub whois_listen: Option<WhoisListen>,
    /// Write the server's process id here once it listens (removed on exit), for
    /// `kill -HUP $(cat FILE)`.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// MMDB file or directory (repeatable); replaces geoip.mmdb.
    #[arg(long, value_name = "PATH")]
    pub mmdb: Vec<PathBuf>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an account with one key; the key is printed once and never again.
    Create {
        /// Plan name (built in: free, lite, pro).
        #[arg(long, default_value = "free")]
        plan: String,
        /// Credit balance; without it, the plan's (usually unlimited).
        #[arg(long)]
        credits: Option<u64>,
        /// Queries per UTC day; without it, the plan's.
        #[arg(long)]
        daily_quota: Option<u64>,
        /// A note to recognise the account by.
        #[arg(long, default_value = "")]
        label: String,
        /// Print {"account_id": N, "key": "..."}.
        #[arg(long, conflicts_with = "shell")]
        json: bool,
        /// Print ACCOUNT_ID=N and KEY=... lines for `eval "$(ipintel keys create --shell)"`.
        #[arg(long)]
        shell: bool,
    },
    /// Add a key to an existing account.
    Add {
        /// The account's id (`keys list`).
        #[arg(long)]
        account: u64,
        /// Print {"account_id": N, "key": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// List accounts and their keys: prefix, plan, credits, created, revoked.
    List {
        /// Print a JSON array of accounts, each with its keys.
        #[arg(long)]
        json: bool,
    },
    /// Show one account: plan, credits, today's use, keys.
    Show {
        /// The account's id.
        account: u64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key (whole, or the prefix `keys list` shows), or every key of an account.
    Revoke {
        /// The key, or its prefix as `keys list` shows it.
        #[arg(required_unless_present = "account", conflicts_with = "account")]
        key: Option<String>,
        /// Revoke every key of this account.
        #[arg(long)]
        account: Option<u64>,
    },
    /// Change an account's plan, credits or daily quota.
    Update {
        /// The account's id.
        account: u64,
        /// New plan name.
        #[arg(long)]
        plan: Option<String>,
        /// A number, or "unlimited".
        #[arg(long)]
        credits: Option<String>,
        /// A number, or "plan" for the plan's quota.
        #[arg(long)]
        daily_quota: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// IPv4 or IPv6 address.
    pub ip: String,
    /// MMDB file or directory (repeatable); default: the configured ones.
    #[arg(long, value_name = "PATH")]
    pub mmdb: Vec<PathBuf>,
    /// Print the merged record as MaxMind Insights JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BulkArgs {
    /// Terms, one per line (IP addresses, domain names, e-mail addresses; # comments).
    #[arg(value_name = "TERMS")]
    pub terms: PathBuf,
    /// Results file (written under a temporary name, renamed when complete).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// csv, json or xml; default: from --out's extension, else csv.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Invalid and failed terms with reasons; default: --out with .failed before its
    /// extension (results.csv -> results.failed.csv).
    #[arg(long, value_name = "FILE")]
    pub failed: Option<PathBuf>,
    /// Add reverse DNS names (`domains`) to each result.
    #[arg(long)]
    pub reverse_ip: bool,
    /// Use this server's bulk API (http:// or https://host:port) instead of processing locally.
    #[arg(long, value_name = "URL", requires = "key")]
    pub server: Option<String>,
    /// API key for --server.
    #[arg(long, value_name = "KEY", requires = "server")]
    pub key: Option<String>,
    /// PEM CA certificate(s) to trust for an https:// --server, besides the system's.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every account, key, usage row, job, bulk result and the registry from a SQLite
    /// store into a new, empty PostgreSQL database, then compare every table's row count.
    /// Stop the server first: what it writes during the copy would be left behind.
    Copy {
        /// The SQLite store: sqlite:PATH (e.g. sqlite:/var/lib/ipintel/ipintel.db).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print {"tables": {"accounts": N, ...}, "seconds": S}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Import dump files into a source: RIPE's split files (`ripe.db.inetnum.gz` ...), a
    /// whole dump, or plain RPSL; gzip is recognised by content. The files replace the
    /// source's objects: changed objects get a new version, missing ones are deleted. A
    /// running server picks the import up without a restart.
    Import {
        /// The source the objects belong to (`RIPE`, `TEST`, your own); objects whose
        /// `source:` differs are skipped.
        #[arg(long, value_name = "NAME")]
        source: String,
        /// The dump's serial (shown in /metadata/sources); a file named `*CURRENTSERIAL`
        /// among FILES gives it too.
        #[arg(long, value_name = "N")]
        serial: Option<i64>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Dump files, read in order (a later object replaces an earlier one).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Remove a source and all its objects (their history is kept, as for objects an
    /// import deletes). A running server drops them without a restart.
    Remove {
        /// The source to remove.
        #[arg(value_name = "SOURCE")]
        source: String,
    },
    /// Build the registry file of the store's current generation again (in the data
    /// directory's `registry/`), replacing the one there. A server builds a missing or
    /// damaged file by itself; this does it ahead of time, or after a file was lost.
    Rebuild,
    /// List the sources with their serial, import time and object count.
    Sources {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Build a GeoLite2-ASN-schema MMDB from CSV ranges (start,end,asn,organization).
    BuildAsn {
        /// Output file (written atomically).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// CSV files, e.g. asn-ipv4.csv asn-ipv6.csv from @ip-location-db/asn.
        #[arg(required = true, value_name = "CSV")]
        inputs: Vec<PathBuf>,
    },
    /// Build an MMDB of any MaxMind schema from JSON ([{"net/len": {record}}, ...]).
    Build {
        /// database_type to write, e.g. GeoIP2-City, GeoLite2-ASN, GeoIP2-ISP.
        #[arg(long = "type", value_name = "DATABASE_TYPE")]
        database_type: String,
        /// Output file (written atomically).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The records, as [{"net/len": {record}}, ...].
        #[arg(value_name = "SOURCE.json")]
        source: PathBuf,
    },
    /// Print what ipintel sees in MMDB files (kind, type, build time).
    Info {
        /// MMDB files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn env_help() -> String {
    let mut help = String::from(
        "Configuration keys (TOML file < IPINTEL_* environment < flags; unknown keys are errors).\n\
         Environment names: the key in upper case, levels joined by '__' (geoip.mmdb -> IPINTEL_GEOIP__MMDB).\n\n",
    );
    for (key, doc) in crate::config::KEYS {
        let env = format!(
            "IPINTEL_{}",
            key.replace('.', "__")
                .replace("<name>", "<NAME>")
                .to_ascii_uppercase()
        );
        help.push_str(&format!("  {key:<32} {env:<38} {doc}\n"));
    }
    help.push_str("\nLogging: IPINTEL_LOG (e.g. info, ipintel=debug). Exit codes: 0 ok, 1 not found (lookup), 2 error.\n");
    help
}

pub const EXIT_OK: i32 = 0;

pub const EXIT_NOT_FOUND: i32 = 1;

/// The store the server uses. A command other than `serve` does not create one unless asked:
/// a store created by mistake (a wrong directory) would hold keys the server never sees.
pub(crate) async fn open_store(config: &Config, create: bool) -> anyhow::Result<Store> {
    if let crate::config::StoreLocation::Sqlite(path) = config.store_location()? {
        if !path.exists() && !create {
            bail!(
                "no store at {} (data directory from {}).\n\
                 Start `ipintel serve` once to create it, point at the server's with --data-dir or IPINTEL_DATA_DIR,\n\
                 or pass --create to start a new one there.",
                path.display(),
                config
                    .sources
                    .get("data_dir")
                    .map_or("the default", String::as_str)
            );
        }
    }
    crate::app::open_store(config).await
}
