//! The registry's tables: current objects, their history, sources, and the generation
//! counter a running server polls.

use sqlx::Row;

use super::SqliteStore;
use crate::store::{History, RegistryChanges, SourceRow, StoreError, StoredDigest, VersionRow};

/// Rowids per chunk of `registry_texts` and `registry_digests` (~2 MB of text).
const CHUNK_ROWS: i64 = 10_000;

/// Objects per multi-row INSERT: 7 values each, well under SQLite's 32,766 variables. One
/// statement per object costs ~20 us in sqlx; a million-object import cannot afford it.
const INSERT_ROWS: usize = 1000;

impl SqliteStore {
    pub async fn registry_generation(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM meta WHERE name = 'registry'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn registry_sources(&self) -> Result<Vec<SourceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, serial, imported_at, objects FROM registry_sources ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| SourceRow {
                name: r.get(0),
                serial: r.get(1),
                imported_at: r.get(2),
                objects: r.get::<i64, _>(3) as u64,
            })
            .collect())
    }

    pub async fn registry_digests(&self, source: &str) -> Result<Vec<StoredDigest>, StoreError> {
        // One row per object through sqlx costs ~7 us; the lines of a few large values
        // cost nothing. Keys hold no tabs or newlines (values are normalised).
        let mut out = Vec::new();
        for chunk in self
            .chunks(source, "class || char(9) || key || char(9) || digest")
            .await?
        {
            for line in chunk.lines() {
                let mut parts = line.splitn(3, '\t');
                let (Some(class), Some(key), Some(digest)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(StoreError::Db(format!(
                        "registry row {line:?} is malformed"
                    )));
                };
                out.push(StoredDigest {
                    class: class.to_string(),
                    key: key.to_string(),
                    digest: digest
                        .parse()
                        .map_err(|_| StoreError::Db(format!("registry digest {digest:?}")))?,
                });
            }
        }
        Ok(out)
    }

    pub async fn registry_texts(&self, source: &str) -> Result<Vec<String>, StoreError> {
        // Texts end in a newline: one more between them makes the empty line of a dump.
        self.chunks(source, "text").await
    }

    /// `expr` of every object of `source`, joined by newlines, in chunks of rowid ranges.
    /// One read transaction, so the chunks are of one generation.
    async fn chunks(&self, source: &str, expr: &str) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (first, last): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT MIN(rowid), MAX(rowid) FROM registry_objects WHERE source = ?")
                .bind(source)
                .fetch_one(&mut *tx)
                .await?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Vec::new());
        };
        // NOT INDEXED: by the rowid range, not the (source, class, key) index, which would
        // visit every row of the source for each chunk.
        let sql = format!(
            "SELECT group_concat({expr}, char(10)) FROM registry_objects NOT INDEXED
             WHERE rowid >= ? AND rowid < ? AND source = ?"
        );
        let mut out = Vec::new();
        let mut from = first;
        while from <= last {
            let chunk: Option<String> = sqlx::query_scalar(&sql)
                .bind(from)
                .bind(from + CHUNK_ROWS)
                .bind(source)
                .fetch_one(&mut *tx)
                .await?;
            out.extend(chunk);
            from += CHUNK_ROWS;
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn registry_apply(&self, changes: &RegistryChanges) -> Result<i64, StoreError> {
        let source = changes.source.as_str();
        let mut tx = self.pool.begin().await?;
        // The first statement writes, so the transaction holds the write lock from here on.
        let bumped =
            sqlx::query("UPDATE meta SET value = value + 1 WHERE name = 'registry' AND value = ?")
                .bind(changes.generation)
                .execute(&mut *tx)
                .await?;
        if bumped.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(
                "another import changed the registry meanwhile; run the import again".into(),
            ));
        }
        // Added in key order: the unique index then grows at its end instead of at random
        // pages (a third of a fresh million-object import's time otherwise).
        let mut added: Vec<&crate::store::NewObject> = changes.added.iter().collect();
        added.sort_unstable_by(|a, b| (&a.class, &a.key).cmp(&(&b.class, &b.key)));
        for chunk in added.chunks(INSERT_ROWS) {
            let mut sql = String::with_capacity(40 * chunk.len() + 100);
            sql.push_str(
                "INSERT INTO registry_objects (source, class, key, text, digest, revision, updated_at) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i == 0 {
                    "(?,?,?,?,?,1,?)"
                } else {
                    ",(?,?,?,?,?,1,?)"
                });
            }
            let mut query = sqlx::query(&sql);
            for object in chunk {
                query = query
                    .bind(source)
                    .bind(&object.class)
                    .bind(&object.key)
                    .bind(&object.text)
                    .bind(object.digest)
                    .bind(changes.at);
            }
            query.execute(&mut *tx).await.map_err(|e| match e {
                sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(
                    "an added object is already stored; run the import again".into(),
                ),
                e => e.into(),
            })?;
        }
        for object in &changes.changed {
            keep_current_as_version(&mut tx, source, &object.class, &object.key).await?;
            let updated = sqlx::query(
                "UPDATE registry_objects SET text = ?, digest = ?, revision = revision + 1,
                     updated_at = ? WHERE source = ? AND class = ? AND key = ?",
            )
            .bind(&object.text)
            .bind(object.digest)
            .bind(changes.at)
            .bind(source)
            .bind(&object.class)
            .bind(&object.key)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "changed object {} {} is not stored",
                    object.class, object.key
                )));
            }
        }
        for (class, key) in &changes.deleted {
            keep_current_as_version(&mut tx, source, class, key).await?;
            sqlx::query(
                "INSERT INTO registry_history (source, class, key, revision, op, at, text)
                 SELECT source, class, key, revision, 'DEL', ?, NULL FROM registry_objects
                 WHERE source = ? AND class = ? AND key = ?",
            )
            .bind(changes.at)
            .bind(source)
            .bind(class)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM registry_objects WHERE source = ? AND class = ? AND key = ?")
                .bind(source)
                .bind(class)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO registry_sources (name, serial, imported_at, objects)
             VALUES (?1, ?2, ?3, (SELECT COUNT(*) FROM registry_objects WHERE source = ?1))
             ON CONFLICT (name) DO UPDATE SET serial = excluded.serial,
                 imported_at = excluded.imported_at, objects = excluded.objects",
        )
        .bind(source)
        .bind(changes.serial)
        .bind(changes.at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(changes.generation + 1)
    }

    pub async fn registry_history(
        &self,
        source: &str,
        class: &str,
        key: &str,
    ) -> Result<History, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let current = sqlx::query(
            "SELECT revision, updated_at, text FROM registry_objects
             WHERE source = ? AND class = ? AND key = ?",
        )
        .bind(source)
        .bind(class)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        let last_deletion: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(id) FROM registry_history
             WHERE source = ? AND class = ? AND key = ? AND op = 'DEL'",
        )
        .bind(source)
        .bind(class)
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
        let Some(current) = current else {
            return Ok(match last_deletion {
                Some(_) => History::Deleted,
                None => History::Never,
            });
        };
        let rows = sqlx::query(
            "SELECT revision, at, text FROM registry_history
             WHERE source = ? AND class = ? AND key = ? AND op = 'ADD/UPD' AND id > ?
             ORDER BY id",
        )
        .bind(source)
        .bind(class)
        .bind(key)
        .bind(last_deletion.unwrap_or(0))
        .fetch_all(&mut *conn)
        .await?;
        let mut versions: Vec<VersionRow> = rows
            .iter()
            .map(|r| VersionRow {
                revision: r.get::<i64, _>(0) as u32,
                at: r.get(1),
                text: r.get::<Option<String>, _>(2).unwrap_or_default(),
            })
            .collect();
        versions.push(VersionRow {
            revision: current.get::<i64, _>(0) as u32,
            at: current.get(1),
            text: current.get(2),
        });
        Ok(History::Versions(versions))
    }
}

/// Copy an object's current revision into its history before it changes or goes.
async fn keep_current_as_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    source: &str,
    class: &str,
    key: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registry_history (source, class, key, revision, op, at, text)
         SELECT source, class, key, revision, 'ADD/UPD', updated_at, text FROM registry_objects
         WHERE source = ? AND class = ? AND key = ?",
    )
    .bind(source)
    .bind(class)
    .bind(key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
