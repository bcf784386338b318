//! `ipintel store copy`: an embedded deployment moved to PostgreSQL.

use anyhow::{bail, Context};
use ipintel_core::store::{copy, PgLimits, PgStore, SqliteStore};

use crate::config::{parse_store_url, without_password, StoreLocation};

/// `ipintel store ...`.
pub async fn store(command: crate::cli::StoreCommand) -> anyhow::Result<i32> {
    let crate::cli::StoreCommand::Copy { from, to, json } = command;
    let nowhere = std::path::Path::new("");
    let StoreLocation::Sqlite(path) = parse_store_url(Some(&from), nowhere)? else {
        bail!(
            "--from must be a SQLite store (sqlite:PATH); copying from PostgreSQL is not supported"
        );
    };
    let StoreLocation::Postgres(url) = parse_store_url(Some(&to), nowhere)? else {
        bail!("--to must be a PostgreSQL database (postgres://USER@HOST[:PORT]/DATABASE)");
    };
    if !path.exists() {
        bail!("no store at {}", path.display());
    }
    let source = SqliteStore::open(&path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let target = PgStore::open(&url, PgLimits::default())
        .await
        .with_context(|| format!("opening {}", without_password(&url)))?;
    let started = std::time::Instant::now();
    let mut last_table = String::new();
    let copied = copy::sqlite_to_postgres(&source, &target, |table, rows| {
        if !json && (table != last_table || rows % 100_000 == 0) {
            eprintln!("{table}: {rows} rows");
            last_table = table.to_owned();
        }
    })
    .await
    .context("copying the store")?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let tables: serde_json::Map<String, serde_json::Value> = copied
            .iter()
            .map(|c| (c.table.to_owned(), c.rows.into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({"tables": tables, "seconds": (seconds * 1000.0).round() / 1000.0})
        );
    } else {
        for c in &copied {
            println!("{:<18} {:>12} rows", c.table, c.rows);
        }
        println!(
            "copied and verified in {seconds:.1} s: start the servers with store.url = {:?}",
            without_password(&url)
        );
    }
    Ok(0)
}
