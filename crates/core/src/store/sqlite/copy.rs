//! The SQLite side of `ipintel store copy`: every table read in pages of rowids, the
//! registry as its committed generation shows it.

use sqlx::Row;

use super::SqliteStore;
use crate::store::copy::{Cell, Kind, Table};
use crate::store::StoreError;

/// Which rows of `table` a copy takes, at committed registry generation `?1`.
fn visible(table: &str) -> &'static str {
    match table {
        "registry_objects" => "gen <= ?1 AND (retired IS NULL OR retired > ?1)",
        "registry_history" | "registry_journal" => "gen <= ?1",
        _ => "?1 = ?1",
    }
}

impl SqliteStore {
    pub(crate) async fn committed_generation(&self) -> Result<i64, StoreError> {
        self.registry_generation().await
    }

    pub(crate) async fn revision_value(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Up to `limit` rows of `table` after `after` (a rowid; an offset for the journal,
    /// which has none), and where the next page starts.
    pub(crate) async fn export_rows(
        &self,
        table: &Table,
        committed: i64,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<Vec<Cell>>, i64), StoreError> {
        let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let by_offset = table.name == "registry_journal";
        let sql = if by_offset {
            format!(
                "SELECT 0, {} FROM {} WHERE {} ORDER BY source, serial LIMIT ?3 OFFSET ?2",
                columns.join(", "),
                table.name,
                visible(table.name)
            )
        } else {
            format!(
                "SELECT rowid, {} FROM {} WHERE rowid > ?2 AND {} ORDER BY rowid LIMIT ?3",
                columns.join(", "),
                table.name,
                visible(table.name)
            )
        };
        let rows = sqlx::query(&sql)
            .bind(committed)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut next = after;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            next = if by_offset { next + 1 } else { row.get(0) };
            let mut cells = Vec::with_capacity(table.columns.len());
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                let at = i + 1;
                cells.push(match kind {
                    Kind::Int => row.get::<Option<i64>, _>(at).map_or(Cell::Null, Cell::Int),
                    Kind::Text => row
                        .get::<Option<String>, _>(at)
                        .map_or(Cell::Null, Cell::Text),
                    Kind::Bytes => row
                        .get::<Option<Vec<u8>>, _>(at)
                        .map_or(Cell::Null, Cell::Bytes),
                    Kind::Bool => row
                        .get::<Option<bool>, _>(at)
                        .map_or(Cell::Null, Cell::Bool),
                });
            }
            out.push(cells);
        }
        Ok((out, next))
    }

    /// The rows of `table` a copy takes.
    pub(crate) async fn count_rows(
        &self,
        table: &Table,
        committed: i64,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            table.name,
            visible(table.name)
        ))
        .bind(committed)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }
}
