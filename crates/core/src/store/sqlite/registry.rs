//! The registry's tables: current objects, their history, sources, and the generation
//! counter a running server polls.
//!
//! An import never holds the write lock for long: it is written in batches of short
//! transactions (other writers wait at most one batch) and shown by one short transaction
//! that moves the generation. Rows carry the generation that wrote them (`gen`) and the one
//! that retired them (`retired`); every read sees the rows of the committed generation
//! `C` only: `gen <= C AND (retired IS NULL OR retired > C)`. One import at a time holds the
//! claim (`meta.registry_pending`, a token, with a heartbeat); a claim left by a crashed
//! import goes stale after [`STALE_CLAIM_SECS`] and its rows are removed by the next one.

use sqlx::Row;

use super::SqliteStore;
use crate::store::{
    History, Journal, JournalRow, JournalSerials, RegistryChanges, SourceRow, StoreError,
    VersionRow,
};

/// Rowids per chunk of `registry_texts` and `registry_digests` (~2 MB of text).
const CHUNK_ROWS: i64 = 10_000;

/// Objects per multi-row INSERT: 7 values each, well under SQLite's 32,766 variables. One
/// statement per object costs ~20 us in sqlx; a million-object import cannot afford it.
const INSERT_ROWS: usize = 1000;

/// Added objects per write transaction (four INSERT statements, and four more for the
/// journal). With 1,000, a million objects took 18.5 s (1,000 pauses); with 4,000, 13.5 s,
/// and the slowest bulk submission during an import waits 36-60 ms instead of 5-12 ms
/// (debug build; docs/benchmarks.md), inside the ~100 ms other writers are promised.
const ADDED_PER_TX: usize = 4 * INSERT_ROWS;

/// Changed or deleted objects per write transaction (three statements each).
const CHANGE_ROWS: usize = 500;

/// Pause between an import's batches, so writers waiting on SQLite's busy handler get
/// the lock between them.
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// A claim not touched for this long belongs to an import that died.
const STALE_CLAIM_SECS: i64 = 60;

/// The rows a reader at committed generation `?1` sees.
const VISIBLE: &str = "gen <= ?1 AND (retired IS NULL OR retired > ?1)";

impl SqliteStore {
    pub async fn registry_generation(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM meta WHERE name = 'registry'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn registry_sources(&self) -> Result<Vec<SourceRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        sources_in(&mut conn).await
    }

    pub async fn registry_digest_chunks(
        &self,
        source: &str,
        sink: tokio::sync::mpsc::Sender<String>,
    ) -> Result<(), StoreError> {
        // One row per object through sqlx costs ~7 us; the lines of a few large values
        // cost nothing. Keys hold no tabs or newlines (values are normalised).
        let mut tx = self.pool.begin().await?;
        let committed = committed_in(&mut tx).await?;
        if let Some((first, last)) = rowid_bounds(&mut tx, source).await? {
            let mut from = first;
            while from <= last {
                let lines = chunk(
                    &mut tx,
                    committed,
                    source,
                    "class || char(9) || key || char(9) || digest",
                    from,
                )
                .await?;
                if let Some(lines) = lines {
                    if sink.send(lines).await.is_err() {
                        return Err(StoreError::Db("the registry digest reader stopped".into()));
                    }
                }
                from += CHUNK_ROWS;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn registry_texts(&self, source: &str) -> Result<Vec<String>, StoreError> {
        // Texts end in a newline: one more between them makes the empty line of a dump.
        self.chunks(source, "text").await
    }

    /// `expr` of every object of `source`, joined by newlines, in chunks of rowid ranges.
    /// One read transaction, so the chunks are of one generation.
    async fn chunks(&self, source: &str, expr: &str) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let committed = committed_in(&mut tx).await?;
        let mut out = Vec::new();
        if let Some((first, last)) = rowid_bounds(&mut tx, source).await? {
            let mut from = first;
            while from <= last {
                out.extend(chunk(&mut tx, committed, source, expr, from).await?);
                from += CHUNK_ROWS;
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Every source's object texts, in one read transaction (one generation), sent to
    /// `sink` in chunks; returns the generation read. The sink is bounded, so a reader
    /// holds a few chunks, never the registry. Stops when the receiver is gone.
    pub async fn registry_stream(
        &self,
        sink: tokio::sync::mpsc::Sender<(String, String)>,
    ) -> Result<(i64, Vec<SourceRow>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let committed = committed_in(&mut tx).await?;
        let sources = sources_in(&mut tx).await?;
        for source in sources.iter().map(|s| s.name.clone()) {
            let Some((first, last)) = rowid_bounds(&mut tx, &source).await? else {
                continue;
            };
            let mut from = first;
            while from <= last {
                if let Some(texts) = chunk(&mut tx, committed, &source, "text", from).await? {
                    if sink.send((source.clone(), texts)).await.is_err() {
                        return Err(StoreError::Db("the registry reader stopped".into()));
                    }
                }
                from += CHUNK_ROWS;
            }
        }
        tx.commit().await?;
        Ok((committed, sources))
    }

    pub async fn registry_apply(&self, changes: &RegistryChanges) -> Result<i64, StoreError> {
        let committed = changes.generation;
        let next = committed + 1;
        let token = self.claim_import(committed).await?;
        let serials = match self.journal_serials(changes).await {
            Ok(serials) => serials,
            Err(e) => {
                let _ = self.clear_pending(committed, Some(token)).await;
                return Err(e);
            }
        };
        let written = self.write_import(changes, token, next, &serials).await;
        let shown = match written {
            Ok(()) => self.show_import(changes, token, next, serials.serial).await,
            Err(e) => Err(e),
        };
        if let Err(e) = shown {
            // Take our rows back now rather than leave them to the next import.
            let _ = self.clear_pending(committed, Some(token)).await;
            return Err(e);
        }
        // The retired rows are nobody's now; removed in batches like everything else. The
        // import is shown already: a failure here leaves invisible rows that the next
        // import's purge removes, so it is logged, not reported as a failed import.
        if let Err(e) = self.purge_retired(next).await {
            tracing::warn!(error = %e, "registry: retired rows stay until the next import");
        }
        Ok(next)
    }

    /// How this import numbers its changes (`RegistryChanges::journal_serials`).
    async fn journal_serials(
        &self,
        changes: &RegistryChanges,
    ) -> Result<JournalSerials, StoreError> {
        let current: Option<Option<i64>> =
            sqlx::query_scalar("SELECT serial FROM registry_sources WHERE name = ?")
                .bind(&changes.source)
                .fetch_optional(&self.pool)
                .await?;
        let journaled: Option<i64> =
            sqlx::query_scalar("SELECT MAX(serial) FROM registry_journal WHERE source = ?")
                .bind(&changes.source)
                .fetch_one(&self.pool)
                .await?;
        Ok(changes.journal_serials(current, journaled))
    }

    /// `source`'s journal rows from `first` to `last` (the newest when `None`), at most
    /// `limit`, as the committed generation shows them.
    pub async fn registry_journal(
        &self,
        source: &str,
        first: i64,
        last: Option<i64>,
        limit: usize,
    ) -> Result<Journal, StoreError> {
        let mut tx = self.pool.begin().await?;
        let committed: i64 =
            sqlx::query_scalar("SELECT CAST(value AS INTEGER) FROM meta WHERE name = 'registry'")
                .fetch_one(&mut *tx)
                .await?;
        let (oldest, newest): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT MIN(serial), MAX(serial) FROM registry_journal WHERE source = ?2 AND gen <= ?1",
        )
        .bind(committed)
        .bind(source)
        .fetch_one(&mut *tx)
        .await?;
        let rows = sqlx::query(
            "SELECT serial, op, text FROM registry_journal
             WHERE source = ?2 AND gen <= ?1 AND serial >= ?3 AND serial <= ?4
             ORDER BY serial LIMIT ?5",
        )
        .bind(committed)
        .bind(source)
        .bind(first)
        .bind(last.unwrap_or(i64::MAX))
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| JournalRow {
            serial: r.get(0),
            op: r.get(1),
            text: r.get(2),
        })
        .collect();
        tx.commit().await?;
        Ok(Journal {
            oldest,
            newest,
            rows,
        })
    }

    /// Take the import claim at committed generation `committed`, or fail with
    /// `Conflict` (another import committed or is being written). A stale claim is taken
    /// over and its rows removed.
    async fn claim_import(&self, committed: i64) -> Result<i64, StoreError> {
        let token = loop {
            let t = i64::from_ne_bytes(ring_random_8()?);
            if t != 0 {
                break t;
            }
        };
        let now = crate::store::now_unix();
        let mut tx = self.pool.begin().await?;
        // The first statement writes, so the check and the claim are one step.
        let claimed = sqlx::query(
            "UPDATE meta SET value = ?1 WHERE name = 'registry_pending'
               AND (SELECT value FROM meta WHERE name = 'registry') = ?2
               AND (value = 0 OR (SELECT value FROM meta WHERE name = 'registry_pending_at') < ?3)",
        )
        .bind(token)
        .bind(committed)
        .bind(now - STALE_CLAIM_SECS)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(
                "another import changed the registry meanwhile or is being written; run the import again".into(),
            ));
        }
        sqlx::query("UPDATE meta SET value = ? WHERE name = 'registry_pending_at'")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // Rows of an import that died before it was shown (none after a clean one).
        self.clear_pending(committed, None).await?;
        Ok(token)
    }

    /// Remove what imports after `committed` wrote and never showed, in batches; with a
    /// token, also give the claim up if it is still that one's.
    async fn clear_pending(&self, committed: i64, token: Option<i64>) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM registry_objects WHERE rowid IN
               (SELECT rowid FROM registry_objects WHERE gen > ?1 LIMIT 5000)",
            "DELETE FROM registry_history WHERE rowid IN
               (SELECT rowid FROM registry_history WHERE gen > ?1 LIMIT 5000)",
            "DELETE FROM registry_journal WHERE (source, serial) IN
               (SELECT source, serial FROM registry_journal WHERE gen > ?1 LIMIT 5000)",
            "UPDATE registry_objects SET retired = NULL WHERE rowid IN
               (SELECT rowid FROM registry_objects WHERE retired > ?1 LIMIT 5000)",
        ] {
            loop {
                let done = sqlx::query(sql).bind(committed).execute(&self.pool).await?;
                if done.rows_affected() == 0 {
                    break;
                }
                tokio::time::sleep(BATCH_PAUSE).await;
            }
        }
        if let Some(token) = token {
            sqlx::query("UPDATE meta SET value = 0 WHERE name = 'registry_pending' AND value = ?")
                .bind(token)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Begin one batch: a write transaction that still holds the claim (and renews it).
    async fn batch(
        &self,
        token: i64,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let held = sqlx::query(
            "UPDATE meta SET value = ?1 WHERE name = 'registry_pending_at'
               AND (SELECT value FROM meta WHERE name = 'registry_pending') = ?2",
        )
        .bind(crate::store::now_unix())
        .bind(token)
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(
                "the import lost its claim (stalled past 60 s and taken over); run it again".into(),
            ));
        }
        Ok(tx)
    }

    /// Write the import's rows at generation `next`, invisible until it is shown.
    async fn write_import(
        &self,
        changes: &RegistryChanges,
        token: i64,
        next: i64,
        serials: &JournalSerials,
    ) -> Result<(), StoreError> {
        let source = changes.source.as_str();
        let committed = next - 1;
        // The journal's next serial (`None`: this import is not journaled).
        let mut serial = serials.first;
        // Added in key order: the unique index then grows at its end instead of at random
        // pages (a third of a fresh million-object import's time otherwise).
        let mut added: Vec<&crate::store::NewObject> = changes.added.iter().collect();
        added.sort_unstable_by(|a, b| (&a.class, &a.key).cmp(&(&b.class, &b.key)));
        for batch in added.chunks(ADDED_PER_TX) {
            let mut tx = self.batch(token).await?;
            for chunk in batch.chunks(INSERT_ROWS) {
                let sql = rows_insert(
                    "INSERT INTO registry_objects (source, class, key, text, digest, revision, updated_at, gen) VALUES ",
                    "(?,?,?,?,?,1,?,?)",
                    chunk.len(),
                );
                // Spilled texts come back from the import's file one chunk at a time.
                let texts = chunk
                    .iter()
                    .map(|object| changes.text(object))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut query = sqlx::query(&sql);
                for (object, text) in chunk.iter().zip(&texts) {
                    query = query
                        .bind(source)
                        .bind(object.class)
                        .bind(&object.key)
                        .bind(text.as_ref())
                        .bind(object.digest)
                        .bind(changes.at)
                        .bind(next);
                }
                query.execute(&mut *tx).await.map_err(|e| match e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(
                        "an added object is already stored; run the import again".into(),
                    ),
                    e => e.into(),
                })?;
                if let Some(first) = serial {
                    let sql = rows_insert(
                        "INSERT INTO registry_journal (source, serial, op, class, key, text, at, gen) VALUES ",
                        "(?,?,'ADD',?,?,?,?,?)",
                        chunk.len(),
                    );
                    let mut query = sqlx::query(&sql);
                    for (i, (object, text)) in chunk.iter().zip(&texts).enumerate() {
                        query = query
                            .bind(source)
                            .bind(first + i as i64)
                            .bind(object.class)
                            .bind(&object.key)
                            .bind(text.as_ref())
                            .bind(changes.at)
                            .bind(next);
                    }
                    query.execute(&mut *tx).await?;
                    serial = Some(first + chunk.len() as i64);
                }
            }
            tx.commit().await?;
            tokio::time::sleep(BATCH_PAUSE).await;
        }
        for chunk in changes.changed.chunks(CHANGE_ROWS) {
            let mut tx = self.batch(token).await?;
            for object in chunk {
                let text = changes.text(object)?;
                keep_current_as_version(&mut tx, source, object.class, &object.key, committed)
                    .await?;
                let inserted = sqlx::query(&format!(
                    "INSERT INTO registry_objects (source, class, key, text, digest, revision, updated_at, gen)
                     SELECT source, class, key, ?5, ?6, revision + 1, ?7, ?8 FROM registry_objects
                     WHERE source = ?2 AND class = ?3 AND key = ?4 AND {VISIBLE}"
                ))
                .bind(committed)
                .bind(source)
                .bind(object.class)
                .bind(&object.key)
                .bind(text.as_ref())
                .bind(object.digest)
                .bind(changes.at)
                .bind(next)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "changed object {} {} is not stored",
                        object.class, object.key
                    )));
                }
                retire(&mut tx, source, object.class, &object.key, committed).await?;
                if let Some(at) = serial {
                    journal(
                        &mut tx,
                        source,
                        at,
                        "ADD",
                        object.class,
                        &object.key,
                        &text,
                        changes.at,
                        next,
                    )
                    .await?;
                    serial = Some(at + 1);
                }
            }
            tx.commit().await?;
            tokio::time::sleep(BATCH_PAUSE).await;
        }
        for chunk in changes.deleted.chunks(CHANGE_ROWS) {
            let mut tx = self.batch(token).await?;
            for (class, key) in chunk {
                if let Some(at) = serial {
                    // The journal keeps the object's last text with its deletion.
                    sqlx::query(&format!(
                        "INSERT INTO registry_journal (source, serial, op, class, key, text, at, gen)
                         SELECT source, ?5, 'DEL', class, key, text, ?6, ?7 FROM registry_objects
                         WHERE source = ?2 AND class = ?3 AND key = ?4 AND {VISIBLE}"
                    ))
                    .bind(committed)
                    .bind(source)
                    .bind(class)
                    .bind(key)
                    .bind(at)
                    .bind(changes.at)
                    .bind(next)
                    .execute(&mut *tx)
                    .await?;
                    serial = Some(at + 1);
                }
                keep_current_as_version(&mut tx, source, class, key, committed).await?;
                sqlx::query(&format!(
                    "INSERT INTO registry_history (source, class, key, revision, op, at, text, gen)
                     SELECT source, class, key, revision, 'DEL', ?5, NULL, ?6 FROM registry_objects
                     WHERE source = ?2 AND class = ?3 AND key = ?4 AND {VISIBLE}"
                ))
                .bind(committed)
                .bind(source)
                .bind(class)
                .bind(key)
                .bind(changes.at)
                .bind(next)
                .execute(&mut *tx)
                .await?;
                retire(&mut tx, source, class, key, committed).await?;
            }
            tx.commit().await?;
            tokio::time::sleep(BATCH_PAUSE).await;
        }
        Ok(())
    }

    /// Show the import: one short transaction moves the generation (readers switch to the
    /// new rows at once) and records the source's serial and count.
    async fn show_import(
        &self,
        changes: &RegistryChanges,
        token: i64,
        next: i64,
        serial: Option<i64>,
    ) -> Result<(), StoreError> {
        let source = changes.source.as_str();
        let mut tx = self.batch(token).await?;
        let moved =
            sqlx::query("UPDATE meta SET value = ?1 WHERE name = 'registry' AND value = ?2")
                .bind(next)
                .bind(next - 1)
                .execute(&mut *tx)
                .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(
                "another import changed the registry meanwhile; run the import again".into(),
            ));
        }
        sqlx::query("UPDATE meta SET value = 0 WHERE name = 'registry_pending'")
            .execute(&mut *tx)
            .await?;
        let delta = changes.added.len() as i64 - changes.deleted.len() as i64;
        sqlx::query(
            "INSERT INTO registry_sources (name, serial, imported_at, objects)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET serial = excluded.serial,
                 imported_at = excluded.imported_at,
                 objects = registry_sources.objects + ?5",
        )
        .bind(source)
        .bind(serial)
        .bind(changes.at)
        .bind(delta.max(0))
        .bind(delta)
        .execute(&mut *tx)
        .await?;
        // A source left without objects (`ipintel registry remove`) leaves the list.
        sqlx::query("DELETE FROM registry_sources WHERE name = ? AND objects <= 0")
            .bind(source)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remove rows retired at or before `shown`, in batches.
    async fn purge_retired(&self, shown: i64) -> Result<(), StoreError> {
        loop {
            let done = sqlx::query(
                "DELETE FROM registry_objects WHERE rowid IN
                   (SELECT rowid FROM registry_objects WHERE retired IS NOT NULL AND retired <= ? LIMIT 5000)",
            )
            .bind(shown)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(());
            }
            tokio::time::sleep(BATCH_PAUSE).await;
        }
    }

    pub async fn registry_history(
        &self,
        source: &str,
        class: &str,
        key: &str,
    ) -> Result<History, StoreError> {
        // One read transaction: the generation and the rows it shows.
        let mut conn = self.pool.begin().await?;
        let committed: i64 = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'registry'")
            .fetch_one(&mut *conn)
            .await?;
        let current = sqlx::query(&format!(
            "SELECT revision, updated_at, text FROM registry_objects
             WHERE source = ?2 AND class = ?3 AND key = ?4 AND {VISIBLE}"
        ))
        .bind(committed)
        .bind(source)
        .bind(class)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        let last_deletion: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(id) FROM registry_history
             WHERE source = ?2 AND class = ?3 AND key = ?4 AND op = 'DEL' AND gen <= ?1",
        )
        .bind(committed)
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
             WHERE source = ?2 AND class = ?3 AND key = ?4 AND op = 'ADD/UPD' AND id > ?5
               AND gen <= ?1
             ORDER BY id",
        )
        .bind(committed)
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

/// Copy an object's current revision into its history (written by the import at
/// `committed + 1`, so unseen until it is shown) before it changes or goes.
async fn keep_current_as_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    source: &str,
    class: &str,
    key: &str,
    committed: i64,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO registry_history (source, class, key, revision, op, at, text, gen)
         SELECT source, class, key, revision, 'ADD/UPD', updated_at, text, ?1 + 1 FROM registry_objects
         WHERE source = ?2 AND class = ?3 AND key = ?4 AND {VISIBLE}"
    ))
    .bind(committed)
    .bind(source)
    .bind(class)
    .bind(key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Mark an object's visible row retired by the import at `committed + 1`.
async fn retire(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    source: &str,
    class: &str,
    key: &str,
    committed: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE registry_objects SET retired = ?1 + 1
         WHERE source = ?2 AND class = ?3 AND key = ?4 AND gen <= ?1 AND retired IS NULL",
    )
    .bind(committed)
    .bind(source)
    .bind(class)
    .bind(key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `head` followed by `rows` copies of `row`, comma-separated: one multi-row INSERT.
fn rows_insert(head: &str, row: &str, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 1));
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(row);
    }
    sql
}

/// One journal row.
#[allow(clippy::too_many_arguments)]
async fn journal(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    source: &str,
    serial: i64,
    op: &str,
    class: &str,
    key: &str,
    text: &str,
    at: i64,
    gen: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registry_journal (source, serial, op, class, key, text, at, gen)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(source)
    .bind(serial)
    .bind(op)
    .bind(class)
    .bind(key)
    .bind(text)
    .bind(at)
    .bind(gen)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Eight random bytes (the claim's token).
fn ring_random_8() -> Result<[u8; 8], StoreError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Io("no randomness for the import claim".into()))?;
    Ok(bytes)
}

type Tx<'c> = sqlx::Transaction<'c, sqlx::Sqlite>;

/// The committed registry generation, read inside `tx`.
async fn committed_in(tx: &mut Tx<'_>) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM meta WHERE name = 'registry'")
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// The first and last rowid of `source`'s rows, any generation.
async fn rowid_bounds(tx: &mut Tx<'_>, source: &str) -> Result<Option<(i64, i64)>, StoreError> {
    // NOT INDEXED, from each end of the rowid order: MIN/MAX(rowid) through the (source,
    // class, key) index reads every index entry of the source (13 s for ten million rows
    // on a cold cache); the table's ends reach the source's first and last rows at once,
    // and at worst pass other sources' rows, which the chunks after visit anyway.
    let end = |order: &str| {
        format!(
            "SELECT rowid FROM registry_objects NOT INDEXED WHERE source = ? \
             ORDER BY rowid {order} LIMIT 1"
        )
    };
    let first: Option<i64> = sqlx::query_scalar(&end("ASC"))
        .bind(source)
        .fetch_optional(&mut **tx)
        .await?;
    let last: Option<i64> = sqlx::query_scalar(&end("DESC"))
        .bind(source)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(first.zip(last))
}

/// `expr` of `source`'s rows visible at `committed` with rowids from `from` (a chunk of
/// [`CHUNK_ROWS`]), joined by newlines; `None` when the range holds none.
async fn chunk(
    tx: &mut Tx<'_>,
    committed: i64,
    source: &str,
    expr: &str,
    from: i64,
) -> Result<Option<String>, StoreError> {
    // NOT INDEXED: by the rowid range, not the (source, class, key) index, which would
    // visit every row of the source for each chunk.
    let sql = format!(
        "SELECT group_concat({expr}, char(10)) FROM registry_objects NOT INDEXED
         WHERE rowid >= ?2 AND rowid < ?3 AND source = ?4 AND {VISIBLE}"
    );
    Ok(sqlx::query_scalar(&sql)
        .bind(committed)
        .bind(from)
        .bind(from + CHUNK_ROWS)
        .bind(source)
        .fetch_one(&mut **tx)
        .await?)
}

/// Every registry source with its last import, by name.
async fn sources_in(conn: &mut sqlx::SqliteConnection) -> Result<Vec<SourceRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT name, serial, imported_at, objects FROM registry_sources ORDER BY name",
    )
    .fetch_all(&mut *conn)
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
