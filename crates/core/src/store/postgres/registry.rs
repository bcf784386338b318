//! The registry's tables on PostgreSQL. An import is one transaction: the generation row is
//! updated first (its row lock orders imports; one computed against an older generation
//! finds it moved and is refused), the rows are written in batches of arrays, and commit
//! shows it all at once. Readers use one REPEATABLE READ snapshot, so a file build or a
//! digest scan sees exactly one generation while imports commit beside it.

use sqlx::Row;

use super::{PgStore, Tx};
use crate::store::{
    History, Journal, JournalRow, JournalSerials, NewObject, RegistryChanges, SourceRow,
    StoreError, VersionRow,
};

/// Ids per chunk of texts and digests (~2 MB of text).
const CHUNK_IDS: i64 = 10_000;

/// Rows per array INSERT or UPDATE.
const BATCH: usize = 5_000;

/// A read-only snapshot transaction with the committed generation.
async fn snapshot(store: &PgStore) -> Result<(Tx, i64), StoreError> {
    let mut tx = store.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let generation: i64 = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'registry'")
        .fetch_one(&mut *tx)
        .await?;
    Ok((tx, generation))
}

pub(super) async fn sources_in(
    conn: &mut sqlx::PgConnection,
) -> Result<Vec<SourceRow>, StoreError> {
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

/// `expr` of `source`'s rows, joined by newlines, chunk by chunk of ids, to `each`.
async fn each_chunk(
    tx: &mut Tx,
    source: &str,
    expr: &str,
    mut each: impl FnMut(String) -> bool,
) -> Result<bool, StoreError> {
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(id), MAX(id) FROM registry_objects WHERE source = $1")
            .bind(source)
            .fetch_one(&mut **tx)
            .await?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(true);
    };
    let sql = format!(
        "SELECT string_agg({expr}, E'\\n' ORDER BY id) FROM registry_objects
         WHERE source = $1 AND id >= $2 AND id < $3"
    );
    let mut from = first;
    while from <= last {
        let chunk: Option<String> = sqlx::query_scalar(&sql)
            .bind(source)
            .bind(from)
            .bind(from + CHUNK_IDS)
            .fetch_one(&mut **tx)
            .await?;
        if let Some(chunk) = chunk {
            if !each(chunk) {
                return Ok(false);
            }
        }
        from += CHUNK_IDS;
    }
    Ok(true)
}

pub(super) async fn digest_chunks(
    store: &PgStore,
    source: &str,
    sink: tokio::sync::mpsc::Sender<String>,
) -> Result<(), StoreError> {
    let (mut tx, _) = snapshot(store).await?;
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(id), MAX(id) FROM registry_objects WHERE source = $1")
            .bind(source)
            .fetch_one(&mut *tx)
            .await?;
    if let (Some(first), Some(last)) = (first, last) {
        let mut from = first;
        while from <= last {
            let chunk: Option<String> = sqlx::query_scalar(
                "SELECT string_agg(class || E'\\t' || key || E'\\t' || digest::text, E'\\n' ORDER BY id)
                 FROM registry_objects WHERE source = $1 AND id >= $2 AND id < $3",
            )
            .bind(source)
            .bind(from)
            .bind(from + CHUNK_IDS)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(chunk) = chunk {
                if sink.send(chunk).await.is_err() {
                    return Err(StoreError::Db("the registry digest reader stopped".into()));
                }
            }
            from += CHUNK_IDS;
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn texts(store: &PgStore, source: &str) -> Result<Vec<String>, StoreError> {
    let (mut tx, _) = snapshot(store).await?;
    let mut out = Vec::new();
    each_chunk(&mut tx, source, "text", |chunk| {
        out.push(chunk);
        true
    })
    .await?;
    tx.commit().await?;
    Ok(out)
}

pub(super) async fn stream(
    store: &PgStore,
    sink: tokio::sync::mpsc::Sender<(String, String)>,
) -> Result<(i64, Vec<SourceRow>), StoreError> {
    let (mut tx, generation) = snapshot(store).await?;
    let sources = sources_in(&mut tx).await?;
    for source in &sources {
        let (first, last): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT MIN(id), MAX(id) FROM registry_objects WHERE source = $1")
                .bind(&source.name)
                .fetch_one(&mut *tx)
                .await?;
        let (Some(first), Some(last)) = (first, last) else {
            continue;
        };
        let mut from = first;
        while from <= last {
            let chunk: Option<String> = sqlx::query_scalar(
                "SELECT string_agg(text, E'\\n' ORDER BY id) FROM registry_objects
                 WHERE source = $1 AND id >= $2 AND id < $3",
            )
            .bind(&source.name)
            .bind(from)
            .bind(from + CHUNK_IDS)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(chunk) = chunk {
                if sink.send((source.name.clone(), chunk)).await.is_err() {
                    return Err(StoreError::Db("the registry reader stopped".into()));
                }
            }
            from += CHUNK_IDS;
        }
    }
    tx.commit().await?;
    Ok((generation, sources))
}

pub(super) async fn apply(store: &PgStore, changes: &RegistryChanges) -> Result<i64, StoreError> {
    let source = changes.source.as_str();
    let mut tx = store.pool.begin().await?;
    // First, so a concurrent import waits here and then finds the generation moved.
    let next: Option<i64> = sqlx::query_scalar(
        "UPDATE meta SET value = value + 1 WHERE name = 'registry' AND value = $1 RETURNING value",
    )
    .bind(changes.generation)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(next) = next else {
        tx.rollback().await?;
        return Err(StoreError::Conflict(
            "another import changed the registry meanwhile; run the import again".into(),
        ));
    };
    let serials = journal_serials(&mut tx, changes).await?;
    let mut serial = serials.first;
    let at = changes.at;

    let mut added: Vec<&NewObject> = changes.added.iter().collect();
    added.sort_unstable_by(|a, b| (&a.class, &a.key).cmp(&(&b.class, &b.key)));
    for batch in added.chunks(BATCH) {
        let (classes, keys, texts, digests) = columns(changes, batch)?;
        sqlx::query(
            "INSERT INTO registry_objects (source, class, key, text, digest, revision, updated_at)
             SELECT $1, c, k, t, d, 1, $2 FROM UNNEST($3::text[], $4::text[], $5::text[], $6::int8[]) AS u(c, k, t, d)",
        )
        .bind(source)
        .bind(at)
        .bind(&classes)
        .bind(&keys)
        .bind(&texts)
        .bind(&digests)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(
                "an added object is already stored; run the import again".into(),
            ),
            e => e.into(),
        })?;
        if let Some(first) = serial {
            journal_rows(&mut tx, source, first, "ADD", &classes, &keys, &texts, at).await?;
            serial = Some(first + batch.len() as i64);
        }
    }

    for batch in changes.changed.iter().collect::<Vec<_>>().chunks(BATCH) {
        let (classes, keys, texts, digests) = columns(changes, batch)?;
        // The current revision becomes a version, then the row takes the new text.
        sqlx::query(
            "INSERT INTO registry_history (source, class, key, revision, op, at, text)
             SELECT o.source, o.class, o.key, o.revision, 'ADD/UPD', o.updated_at, o.text
             FROM UNNEST($2::text[], $3::text[]) WITH ORDINALITY AS u(c, k, n)
             JOIN registry_objects o ON o.source = $1 AND o.class = u.c AND o.key = u.k
             ORDER BY u.n",
        )
        .bind(source)
        .bind(&classes)
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
        let updated = sqlx::query(
            "UPDATE registry_objects o SET text = u.t, digest = u.d, revision = o.revision + 1,
                 updated_at = $2
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::int8[]) AS u(c, k, t, d)
             WHERE o.source = $1 AND o.class = u.c AND o.key = u.k",
        )
        .bind(source)
        .bind(at)
        .bind(&classes)
        .bind(&keys)
        .bind(&texts)
        .bind(&digests)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != batch.len() as u64 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(
                "a changed object is not stored; run the import again".into(),
            ));
        }
        if let Some(first) = serial {
            journal_rows(&mut tx, source, first, "ADD", &classes, &keys, &texts, at).await?;
            serial = Some(first + batch.len() as i64);
        }
    }

    for batch in changes.deleted.chunks(BATCH) {
        let classes: Vec<&str> = batch.iter().map(|(c, _)| c.as_str()).collect();
        let keys: Vec<&str> = batch.iter().map(|(_, k)| k.as_str()).collect();
        if let Some(first) = serial {
            // The journal keeps the object's last text with its deletion.
            sqlx::query(
                "INSERT INTO registry_journal (source, serial, op, class, key, text, at)
                 SELECT $1, $2 + u.n - 1, 'DEL', o.class, o.key, o.text, $3
                 FROM UNNEST($4::text[], $5::text[]) WITH ORDINALITY AS u(c, k, n)
                 JOIN registry_objects o ON o.source = $1 AND o.class = u.c AND o.key = u.k",
            )
            .bind(source)
            .bind(first)
            .bind(at)
            .bind(&classes)
            .bind(&keys)
            .execute(&mut *tx)
            .await?;
            serial = Some(first + batch.len() as i64);
        }
        sqlx::query(
            "INSERT INTO registry_history (source, class, key, revision, op, at, text)
             SELECT o.source, o.class, o.key, o.revision, x.op,
                    CASE x.op WHEN 'DEL' THEN $2 ELSE o.updated_at END,
                    CASE x.op WHEN 'DEL' THEN NULL ELSE o.text END
             FROM UNNEST($3::text[], $4::text[]) WITH ORDINALITY AS u(c, k, n)
             JOIN registry_objects o ON o.source = $1 AND o.class = u.c AND o.key = u.k
             CROSS JOIN (VALUES (1, 'ADD/UPD'), (2, 'DEL')) AS x(i, op)
             ORDER BY u.n, x.i",
        )
        .bind(source)
        .bind(at)
        .bind(&classes)
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM registry_objects o USING UNNEST($2::text[], $3::text[]) AS u(c, k)
             WHERE o.source = $1 AND o.class = u.c AND o.key = u.k",
        )
        .bind(source)
        .bind(&classes)
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
    }

    let delta = changes.added.len() as i64 - changes.deleted.len() as i64;
    sqlx::query(
        "INSERT INTO registry_sources (name, serial, imported_at, objects)
         VALUES ($1, $2, $3, GREATEST($4, 0))
         ON CONFLICT (name) DO UPDATE SET serial = excluded.serial,
             imported_at = excluded.imported_at,
             objects = registry_sources.objects + $4",
    )
    .bind(source)
    .bind(serials.serial)
    .bind(at)
    .bind(delta)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM registry_sources WHERE name = $1 AND objects <= 0")
        .bind(source)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(next)
}

/// Class, key, text and digest columns of a batch (spilled texts read back).
#[allow(clippy::type_complexity)]
fn columns(
    changes: &RegistryChanges,
    batch: &[&NewObject],
) -> Result<(Vec<String>, Vec<String>, Vec<String>, Vec<i64>), StoreError> {
    let mut classes = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    let mut texts = Vec::with_capacity(batch.len());
    let mut digests = Vec::with_capacity(batch.len());
    for object in batch {
        classes.push(object.class.to_string());
        keys.push(object.key.clone());
        texts.push(changes.text(object)?.into_owned());
        digests.push(object.digest);
    }
    Ok((classes, keys, texts, digests))
}

#[allow(clippy::too_many_arguments)]
async fn journal_rows(
    tx: &mut Tx,
    source: &str,
    first: i64,
    op: &str,
    classes: &[String],
    keys: &[String],
    texts: &[String],
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registry_journal (source, serial, op, class, key, text, at)
         SELECT $1, $2 + u.n - 1, $3, u.c, u.k, u.t, $4
         FROM UNNEST($5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS u(c, k, t, n)",
    )
    .bind(source)
    .bind(first)
    .bind(op)
    .bind(at)
    .bind(classes)
    .bind(keys)
    .bind(texts)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How this import numbers its changes (`RegistryChanges::journal_serials`), from the
/// source's row and journal as this transaction sees them.
async fn journal_serials(
    tx: &mut Tx,
    changes: &RegistryChanges,
) -> Result<JournalSerials, StoreError> {
    let current: Option<Option<i64>> =
        sqlx::query_scalar("SELECT serial FROM registry_sources WHERE name = $1")
            .bind(&changes.source)
            .fetch_optional(&mut **tx)
            .await?;
    let journaled: Option<i64> =
        sqlx::query_scalar("SELECT MAX(serial) FROM registry_journal WHERE source = $1")
            .bind(&changes.source)
            .fetch_one(&mut **tx)
            .await?;
    Ok(changes.journal_serials(current, journaled))
}

pub(super) async fn journal(
    store: &PgStore,
    source: &str,
    first: i64,
    last: Option<i64>,
    limit: usize,
) -> Result<Journal, StoreError> {
    let (mut tx, _) = snapshot(store).await?;
    let (oldest, newest): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(serial), MAX(serial) FROM registry_journal WHERE source = $1")
            .bind(source)
            .fetch_one(&mut *tx)
            .await?;
    let rows = sqlx::query(
        "SELECT serial, op, text FROM registry_journal
         WHERE source = $1 AND serial >= $2 AND serial <= $3 ORDER BY serial LIMIT $4",
    )
    .bind(source)
    .bind(first)
    .bind(last.unwrap_or(i64::MAX))
    .bind(limit.min(i64::MAX as usize) as i64)
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

pub(super) async fn history(
    store: &PgStore,
    source: &str,
    class: &str,
    key: &str,
) -> Result<History, StoreError> {
    let (mut tx, _) = snapshot(store).await?;
    let current = sqlx::query(
        "SELECT revision, updated_at, text FROM registry_objects
         WHERE source = $1 AND class = $2 AND key = $3",
    )
    .bind(source)
    .bind(class)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    let last_deletion: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(id) FROM registry_history
         WHERE source = $1 AND class = $2 AND key = $3 AND op = 'DEL'",
    )
    .bind(source)
    .bind(class)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    let Some(current) = current else {
        tx.commit().await?;
        return Ok(match last_deletion {
            Some(_) => History::Deleted,
            None => History::Never,
        });
    };
    let rows = sqlx::query(
        "SELECT revision, at, text FROM registry_history
         WHERE source = $1 AND class = $2 AND key = $3 AND op = 'ADD/UPD' AND id > $4
         ORDER BY id",
    )
    .bind(source)
    .bind(class)
    .bind(key)
    .bind(last_deletion.unwrap_or(0))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
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
