//! `ipintel store copy`: an embedded deployment (SQLite) moved to PostgreSQL, table by table,
//! in pages, then checked row count by row count.
//!
//! The tables and their columns are listed once here ([`TABLES`]); each backend reads or
//! writes them in its own SQL. Only what is current is copied: the registry's rows of the
//! committed generation (an import that died half-written is left behind), every account,
//! key, usage row, job and bulk result. Counters (the key revision, the registry generation)
//! and id sequences follow, so a server started on the copy carries on where the old one
//! stopped.

use super::{PgStore, SqliteStore, StoreError};

/// A column's type, as both backends store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bytes,
    Bool,
}

/// One value of a copied row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

/// A table to copy: its name and columns (the same in both schemas).
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
}

use Kind::*;

/// Every table, parents before children (foreign keys hold at each step).
pub const TABLES: &[Table] = &[
    Table {
        name: "accounts",
        columns: &[
            ("id", Int),
            ("plan", Text),
            ("credits_granted", Int),
            ("credits_used", Int),
            ("daily_quota", Int),
            ("label", Text),
            ("created_at", Int),
        ],
    },
    Table {
        name: "api_keys",
        columns: &[
            ("id", Int),
            ("account_id", Int),
            ("key_hash", Bytes),
            ("key_prefix", Text),
            ("created_at", Int),
            ("revoked_at", Int),
        ],
    },
    Table {
        name: "daily_usage",
        columns: &[("account_id", Int), ("day", Int), ("used", Int)],
    },
    Table {
        name: "jobs",
        columns: &[
            ("id", Int),
            ("account_id", Int),
            ("kind", Text),
            ("target", Text),
            ("status", Text),
            ("message", Text),
            ("result", Text),
            ("attempts", Int),
            ("lease_owner", Text),
            ("lease_until", Int),
            ("created_at", Int),
            ("finished_at", Int),
        ],
    },
    Table {
        name: "bulk_requests",
        columns: &[
            ("job_id", Int),
            ("format", Text),
            ("reverse_ip", Bool),
            ("chunk_terms", Int),
            ("total_terms", Int),
            ("invalid_terms", Int),
            ("processed_terms", Int),
            ("failed_terms", Int),
            ("charged", Int),
            ("next_chunk", Int),
            ("done_chunks", Int),
            ("n_chunks", Int),
            ("terms", Text),
            ("invalid", Text),
        ],
    },
    Table {
        name: "bulk_texts",
        columns: &[("job_id", Int), ("terms", Text), ("invalid", Text)],
    },
    Table {
        name: "bulk_chunks",
        columns: &[
            ("job_id", Int),
            ("chunk", Int),
            ("completed", Text),
            ("failed", Text),
        ],
    },
    Table {
        name: "bulk_claims",
        columns: &[
            ("job_id", Int),
            ("chunk", Int),
            ("owner", Text),
            ("lease_until", Int),
        ],
    },
    Table {
        name: "registry_sources",
        columns: &[
            ("name", Text),
            ("serial", Int),
            ("imported_at", Int),
            ("objects", Int),
        ],
    },
    Table {
        name: "registry_objects",
        columns: &[
            ("source", Text),
            ("class", Text),
            ("key", Text),
            ("text", Text),
            ("digest", Int),
            ("revision", Int),
            ("updated_at", Int),
        ],
    },
    Table {
        name: "registry_history",
        columns: &[
            ("id", Int),
            ("source", Text),
            ("class", Text),
            ("key", Text),
            ("revision", Int),
            ("op", Text),
            ("at", Int),
            ("text", Text),
        ],
    },
    Table {
        name: "registry_journal",
        columns: &[
            ("source", Text),
            ("serial", Int),
            ("op", Text),
            ("class", Text),
            ("key", Text),
            ("text", Text),
            ("at", Int),
        ],
    },
];

/// Rows read and written per page (bounded memory: a page of registry texts is ~10 MB).
pub const PAGE_ROWS: usize = 5_000;

/// One table's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
}

/// Copy everything from `from` into the empty `to`; then compare every table's row count.
/// `progress` is called after each page with the table and the rows copied so far.
pub async fn sqlite_to_postgres(
    from: &SqliteStore,
    to: &PgStore,
    mut progress: impl FnMut(&str, u64),
) -> Result<Vec<Copied>, StoreError> {
    if let Some(what) = to.copy_target_holds().await? {
        return Err(StoreError::Invalid(format!(
            "the target database already holds {what}; copy into a new, empty database (a server started on it creates an account: copy before starting one)"
        )));
    }
    let committed = from.committed_generation().await?;
    let mut out = Vec::new();
    for table in TABLES {
        let mut after = 0i64;
        let mut rows = 0u64;
        loop {
            let (page, last) = from.export_rows(table, committed, after, PAGE_ROWS).await?;
            if page.is_empty() {
                break;
            }
            to.import_rows(table, &page).await?;
            rows += page.len() as u64;
            after = last;
            progress(table.name, rows);
        }
        out.push(Copied {
            table: table.name,
            rows,
        });
    }
    let revision = from.revision_value().await?;
    to.finish_copy(revision, committed).await?;
    // Counted again on both sides, independently of the copy loop.
    for (table, copied) in TABLES.iter().zip(&out) {
        let here = from.count_rows(table, committed).await?;
        let there = to.count_rows(table).await?;
        if here != there || there != copied.rows {
            return Err(StoreError::Db(format!(
                "{}: {here} rows in the source, {} copied, {there} in the target",
                table.name, copied.rows
            )));
        }
    }
    Ok(out)
}
