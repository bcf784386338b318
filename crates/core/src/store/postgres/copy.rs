//! The PostgreSQL side of `ipintel store copy`: pages of rows written as multi-row
//! INSERTs, then the counters and id sequences set past what was copied.

use super::PgStore;
use crate::store::copy::{Cell, Kind, Table};
use crate::store::StoreError;

/// Tables whose `id` comes from a sequence, set past the copied ids.
const SEQUENCED: &[&str] = &["accounts", "api_keys", "jobs", "registry_history"];

impl PgStore {
    /// What makes this database no copy target, if anything (accounts, jobs, objects).
    pub(crate) async fn copy_target_holds(&self) -> Result<Option<String>, StoreError> {
        for (table, what) in [
            ("accounts", "accounts"),
            ("jobs", "jobs"),
            ("registry_objects", "registry objects"),
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&self.pool)
                .await?;
            if n > 0 {
                return Ok(Some(format!("{n} {what}")));
            }
        }
        Ok(None)
    }

    pub(crate) async fn import_rows(
        &self,
        table: &Table,
        rows: &[Vec<Cell>],
    ) -> Result<(), StoreError> {
        let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        // PostgreSQL takes at most 65,535 parameters per statement.
        let per_statement = (60_000 / columns.len()).max(1);
        let mut tx = self.pool.begin().await?;
        for batch in rows.chunks(per_statement) {
            let mut sql = format!(
                "INSERT INTO {} ({}) VALUES ",
                table.name,
                columns.join(", ")
            );
            let mut n = 0;
            for (r, _) in batch.iter().enumerate() {
                if r > 0 {
                    sql.push(',');
                }
                sql.push('(');
                for c in 0..columns.len() {
                    if c > 0 {
                        sql.push(',');
                    }
                    n += 1;
                    sql.push_str(&format!("${n}"));
                }
                sql.push(')');
            }
            let mut query = sqlx::query(&sql);
            for row in batch {
                if row.len() != columns.len() {
                    return Err(StoreError::Invalid(format!(
                        "{}: a row of {} values",
                        table.name,
                        row.len()
                    )));
                }
                for (cell, (_, kind)) in row.iter().zip(table.columns) {
                    query = match (cell, kind) {
                        (Cell::Int(v), _) => query.bind(*v),
                        (Cell::Text(v), _) => query.bind(v.as_str()),
                        (Cell::Bytes(v), _) => query.bind(v.as_slice()),
                        (Cell::Bool(v), _) => query.bind(*v),
                        (Cell::Null, Kind::Int) => query.bind(None::<i64>),
                        (Cell::Null, Kind::Text) => query.bind(None::<String>),
                        (Cell::Null, Kind::Bytes) => query.bind(None::<Vec<u8>>),
                        (Cell::Null, Kind::Bool) => query.bind(None::<bool>),
                    };
                }
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Set the key revision and registry generation, and every id sequence past its table.
    pub(crate) async fn finish_copy(
        &self,
        revision: i64,
        generation: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // One more than the source's: servers that watched the old store reload.
        sqlx::query("UPDATE meta SET value = $1 WHERE name = 'revision'")
            .bind(revision + 1)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE meta SET value = $1 WHERE name = 'registry'")
            .bind(generation)
            .execute(&mut *tx)
            .await?;
        for table in SEQUENCED {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                     COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn count_rows(&self, table: &Table) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }
}
