//! The SQLite backend: one file in WAL mode, the default for one instance.
//!
//! The schema is versioned with `PRAGMA user_version` and migrated forward on open. Every
//! write that changes who may call what bumps `meta.revision`, which running servers poll
//! to pick up changes made by the CLI or another process. The only module that writes SQL
//! for SQLite; nothing of sqlx leaves it.
//!

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::*;
use crate::jobs::{Job, JobKind, JobStatus};

mod copy;
mod registry;

/// Schema versions, applied in order; index + 1 is the `user_version` after each.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    plan            TEXT    NOT NULL,
    credits_granted INTEGER,            -- NULL: unlimited
    credits_used    INTEGER NOT NULL DEFAULT 0,
    daily_quota     INTEGER,            -- NULL: the plan's
    label           TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
);
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    key_hash    BLOB    NOT NULL UNIQUE, -- SHA-256 of the key; the key itself is never stored
    key_prefix  TEXT    NOT NULL,        -- first characters, to recognise a key in listings
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id);
CREATE TABLE daily_usage (
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    day         INTEGER NOT NULL,        -- days since 1970-01-01, UTC
    used        INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
);
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta(name, value) VALUES ('revision', 1);
"#,
    r#"
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    kind         TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    message      TEXT,
    result       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER,          -- unix seconds
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX jobs_runnable ON jobs(status, id);
CREATE INDEX jobs_finished ON jobs(finished_at);
"#,
    r#"
CREATE TABLE bulk_requests (
    job_id          INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    format          TEXT    NOT NULL,   -- default download format
    reverse_ip      INTEGER NOT NULL,
    chunk_terms     INTEGER NOT NULL,   -- terms per chunk, fixed for the request's life
    total_terms     INTEGER NOT NULL,
    invalid_terms   INTEGER NOT NULL,
    processed_terms INTEGER NOT NULL DEFAULT 0,
    failed_terms    INTEGER NOT NULL DEFAULT 0,
    charged         INTEGER NOT NULL,   -- credits taken at submission
    next_chunk      INTEGER NOT NULL DEFAULT 0,
    terms           TEXT    NOT NULL,   -- valid terms, one per line
    invalid         TEXT    NOT NULL    -- JSON lines {"term","reason"}
);
CREATE TABLE bulk_chunks (
    job_id    INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    chunk     INTEGER NOT NULL,
    completed TEXT    NOT NULL,         -- one JSON array of results per processed term, per line
    failed    TEXT    NOT NULL,         -- JSON lines {"term","reason"}
    PRIMARY KEY (job_id, chunk)
);
CREATE INDEX jobs_account_kind ON jobs(account_id, kind, id);
"#,
    r#"
CREATE TABLE registry_sources (
    name        TEXT    PRIMARY KEY,    -- upper case
    serial      INTEGER,                -- the dump's CURRENTSERIAL, when given
    imported_at INTEGER NOT NULL,
    objects     INTEGER NOT NULL
);
CREATE TABLE registry_objects (
    source     TEXT    NOT NULL,
    class      TEXT    NOT NULL,
    key        TEXT    NOT NULL,        -- primary key, lower case
    text       TEXT    NOT NULL,        -- the object as imported
    digest     INTEGER NOT NULL,        -- first 8 bytes of the text's SHA-256
    revision   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX registry_objects_key ON registry_objects(source, class, key);
-- Superseded revisions (op 'ADD/UPD', with their text) and deletions (op 'DEL'), in order.
CREATE TABLE registry_history (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    source   TEXT    NOT NULL,
    class    TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    revision INTEGER NOT NULL,
    op       TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    text     TEXT
);
CREATE INDEX registry_history_object ON registry_history(source, class, key, id);
INSERT INTO meta(name, value) VALUES ('registry', 0);
"#,
    // An import is written in short transactions and shown by one: rows carry the registry
    // generation that wrote them (`gen`) and the one that retired them (`retired`); readers
    // see the rows of the committed generation only (sqlite/registry.rs).
    r#"
ALTER TABLE registry_objects ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE registry_objects ADD COLUMN retired INTEGER;
DROP INDEX registry_objects_key;
CREATE UNIQUE INDEX registry_objects_key ON registry_objects(source, class, key, gen);
CREATE INDEX registry_objects_retired ON registry_objects(retired) WHERE retired IS NOT NULL;
ALTER TABLE registry_history ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
INSERT INTO meta(name, value) VALUES ('registry_pending', 0), ('registry_pending_at', 0);
"#,
    // The NRTM journal: every change an import made to a source after its first import,
    // numbered by the source's serial (sqlite/registry.rs), for `-g` mirror queries.
    r#"
CREATE TABLE registry_journal (
    source TEXT    NOT NULL,
    serial INTEGER NOT NULL,
    op     TEXT    NOT NULL,
    class  TEXT    NOT NULL,
    key    TEXT    NOT NULL,
    text   TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    gen    INTEGER NOT NULL,
    PRIMARY KEY (source, serial)
) WITHOUT ROWID;
"#,
    // Bulk chunks are claimed one by one (several workers, or instances, on one request)
    // and recorded in any order; named leases say which instance does work meant for one.
    r#"
CREATE TABLE bulk_claims (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    chunk       INTEGER NOT NULL,
    owner       TEXT    NOT NULL,
    lease_until INTEGER NOT NULL,
    PRIMARY KEY (job_id, chunk)
);
ALTER TABLE bulk_requests ADD COLUMN done_chunks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bulk_requests ADD COLUMN n_chunks INTEGER NOT NULL DEFAULT 0;
UPDATE bulk_requests SET done_chunks = next_chunk,
    n_chunks = (total_terms - invalid_terms + chunk_terms - 1) / chunk_terms;
CREATE TABLE named_leases (
    name  TEXT    PRIMARY KEY,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL
);
"#,
    // A bulk request's terms live apart from its counters: SQLite rewrites a whole row,
    // overflow pages and all, on every update, and the counters change with every chunk
    // (a 1,000,000-term request rewrote its 16 MB of terms 2,000 times).
    r#"
CREATE TABLE bulk_texts (
    job_id  INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    terms   TEXT    NOT NULL,   -- valid terms, one per line
    invalid TEXT    NOT NULL    -- JSON lines {"term","reason"}
);
INSERT INTO bulk_texts (job_id, terms, invalid) SELECT job_id, terms, invalid FROM bulk_requests;
UPDATE bulk_requests SET terms = '', invalid = '';
"#,
];

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Open (creating and migrating as needed) the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        // The store holds key hashes and usage: readable by its owner only. SQLite gives its
        // -wal and -shm files the database file's mode, so creating that file is enough.
        create_private_file(path)?;
        // `filename`, not a `sqlite://` URL: a path may hold `?` or `#`.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A connection whose COMMIT failed (a full disk: SQLite may already have rolled
            // the transaction back, so sqlx's own ROLLBACK fails too) still believes it is
            // inside a transaction. Pooled again, its next BEGIN would become a SAVEPOINT
            // inside a transaction that never commits: writes acknowledged, then lost, and
            // the write lock held for good. Such a connection is closed instead (closing
            // rolls back whatever is open); the pool opens a fresh one when asked.
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Connection as _;
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    // Let the rollback a dropped transaction queued run, then look again.
                    let pinged = conn.ping().await.is_ok();
                    let keep = pinged && !conn.is_in_transaction();
                    if !keep {
                        tracing::warn!(
                            "store: closing a connection left inside a failed transaction"
                        );
                    }
                    Ok(keep)
                })
            })
            .connect_with(options)
            .await?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await?;
        if version as usize > MIGRATIONS.len() {
            return Err(StoreError::Invalid(format!(
                "the database schema (version {version}) is newer than this ipintel (version {}); upgrade ipintel",
                MIGRATIONS.len()
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::raw_sql(&format!("PRAGMA user_version = {}", index + 1))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Create an account with one key whose SHA-256 is `key_hash`. Returns the account id.
    pub async fn create_account(
        &self,
        plan: &str,
        credits: Option<u64>,
        daily_quota: Option<u64>,
        label: &str,
        key_hash: &[u8],
        key_prefix: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_unix();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (plan, credits_granted, daily_quota, label, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(plan)
        .bind(credits.map(|c| c as i64))
        .bind(daily_quota.map(|q| q as i64))
        .bind(label)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        insert_key(&mut tx, id, key_hash, key_prefix, now).await?;
        bump_revision(&mut tx).await?;
        tx.commit().await?;
        Ok(id as u64)
    }

    /// Change an account's plan, balance or quota. `None` leaves a field as it is;
    /// `Some(None)` makes credits or quota unlimited / the plan's.
    pub async fn update_account(
        &self,
        account_id: u64,
        plan: Option<&str>,
        credits: Option<Option<u64>>,
        daily_quota: Option<Option<u64>>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let row =
            sqlx::query("SELECT plan, credits_granted, daily_quota FROM accounts WHERE id = ?")
                .bind(account_id as i64)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no account {account_id}")))?;
        let plan = plan
            .map(str::to_owned)
            .unwrap_or_else(|| row.get::<String, _>(0));
        let credits = credits
            .map(|c| c.map(|c| c as i64))
            .unwrap_or_else(|| row.get::<Option<i64>, _>(1));
        let quota = daily_quota
            .map(|q| q.map(|q| q as i64))
            .unwrap_or_else(|| row.get::<Option<i64>, _>(2));
        sqlx::query(
            "UPDATE accounts SET plan = ?, credits_granted = ?, daily_quota = ? WHERE id = ?",
        )
        .bind(plan)
        .bind(credits)
        .bind(quota)
        .bind(account_id as i64)
        .execute(&mut *tx)
        .await?;
        bump_revision(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accept a job and record its charge of one query and one credit, in one transaction:
    /// neither exists without the other (the meter counts the charge as already written).
    pub async fn insert_job_charged(
        &self,
        account_id: u64,
        kind: JobKind,
        target: &str,
        day: i64,
    ) -> Result<Job, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO jobs (account_id, kind, target, status, created_at) VALUES (?, ?, ?, 'QUEUED', ?)
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(account_id as i64)
        .bind(kind.as_str())
        .bind(target)
        .bind(now_unix())
        .fetch_one(&mut *tx)
        .await?;
        let job = job_from_row(&row)?;
        record_charge(&mut tx, account_id, day, 1).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Record a job's outcome, if `owner` still holds it. A cancel requested meanwhile wins:
    /// the job ends CANCELLED. Returns whether the outcome was recorded.
    pub async fn finish_job(
        &self,
        id: u64,
        owner: &str,
        status: JobStatus,
        message: &str,
        result: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET
                 status = CASE status WHEN 'CANCEL_REQUESTED' THEN 'CANCELLED' ELSE ? END,
                 message = CASE status WHEN 'CANCEL_REQUESTED' THEN 'cancelled by request' ELSE ? END,
                 result = CASE status WHEN 'CANCEL_REQUESTED' THEN NULL ELSE ? END,
                 finished_at = ?, lease_owner = NULL, lease_until = NULL
             WHERE id = ? AND lease_owner = ? AND status IN ('PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(result)
        .bind(now_unix())
        .bind(id as i64)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One page of an account's requests, and how many it has in all.
    pub async fn bulk_page(
        &self,
        account_id: u64,
        offset: u64,
        limit: u64,
        newest_first: bool,
    ) -> Result<(Vec<BulkStatus>, u64), StoreError> {
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE account_id = ? AND kind = 'bulk'")
                .bind(account_id as i64)
                .fetch_one(&self.pool)
                .await?;
        let order = if newest_first { "DESC" } else { "ASC" };
        let rows = sqlx::query(&format!(
            "SELECT {STATUS_COLUMNS} FROM jobs j JOIN bulk_requests b ON b.job_id = j.id
             WHERE j.account_id = ? AND j.kind = 'bulk' ORDER BY j.id {order} LIMIT ? OFFSET ?"
        ))
        .bind(account_id as i64)
        .bind(limit as i64)
        .bind(offset as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok((
            rows.iter().map(status_from_row).collect::<Result<_, _>>()?,
            total as u64,
        ))
    }

    /// Record claimed chunk `chunk`'s results, if `owner` still holds the claim, and renew
    /// the request's lease. Returns whether it was recorded.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_bulk_chunk(
        &self,
        id: u64,
        owner: &str,
        chunk: u32,
        completed: &str,
        failed: &str,
        n_processed: u64,
        n_failed: u64,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let released =
            sqlx::query("DELETE FROM bulk_claims WHERE job_id = ? AND chunk = ? AND owner = ?")
                .bind(id as i64)
                .bind(chunk as i64)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
        if released.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO bulk_chunks (job_id, chunk, completed, failed) VALUES (?, ?, ?, ?)",
        )
        .bind(id as i64)
        .bind(chunk as i64)
        .bind(completed)
        .bind(failed)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE bulk_requests SET done_chunks = done_chunks + 1,
                 processed_terms = processed_terms + ?, failed_terms = failed_terms + ?
             WHERE job_id = ?",
        )
        .bind(n_processed as i64)
        .bind(n_failed as i64)
        .bind(id as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE jobs SET lease_until = MAX(lease_until, ?)
             WHERE id = ? AND status IN ('INITIALIZING', 'PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')",
        )
        .bind(lease_until)
        .bind(id as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Mark a request whose every chunk is recorded COMPLETED, giving `refund` credits back
    /// to `account_id` in the same transaction. Returns whether `owner` still held it.
    pub async fn finish_bulk(
        &self,
        id: u64,
        owner: &str,
        account_id: u64,
        message: &str,
        refund: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET status = 'COMPLETED', message = ?, finished_at = ?,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = ? AND lease_owner = ? AND status IN ('PROCESSING', 'RESUMING')
               AND (SELECT done_chunks >= n_chunks FROM bulk_requests WHERE job_id = ?)",
        )
        .bind(message)
        .bind(now_unix())
        .bind(id as i64)
        .bind(owner)
        .bind(id as i64)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if refund > 0 {
            sqlx::query("UPDATE accounts SET credits_used = MAX(credits_used - ?, 0) WHERE id = ?")
                .bind(refund as i64)
                .bind(account_id as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

const JOB_COLUMNS: &str =
    "id, account_id, kind, target, status, message, result, attempts, created_at, finished_at";

fn job_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Job, StoreError> {
    let kind: String = r.get(2);
    let status: String = r.get(4);
    Ok(Job {
        id: r.get::<i64, _>(0) as u64,
        account_id: r.get::<i64, _>(1) as u64,
        kind: kind.parse().map_err(StoreError::Invalid)?,
        target: r.get(3),
        status: status.parse().map_err(StoreError::Invalid)?,
        message: r.get(5),
        result: r.get(6),
        attempts: r.get::<i64, _>(7) as u32,
        created_at: r.get(8),
        finished_at: r.get(9),
    })
}

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    account_id: i64,
    key_hash: &[u8],
    key_prefix: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (account_id, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(account_id)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn bump_revision(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<(), StoreError> {
    sqlx::query("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Create `path` with mode 0600 if it does not exist (an existing file keeps its mode).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Io(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Add `n` credits and queries on `day` to an account's stored usage, inside `tx`.
pub(crate) async fn record_charge(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    account_id: u64,
    day: i64,
    n: u64,
) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    sqlx::query("UPDATE accounts SET credits_used = credits_used + ? WHERE id = ?")
        .bind(n as i64)
        .bind(account_id as i64)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO daily_usage (account_id, day, used) VALUES (?, ?, ?)
         ON CONFLICT(account_id, day) DO UPDATE SET used = used + excluded.used",
    )
    .bind(account_id as i64)
    .bind(day)
    .bind(n as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Add `n` (negative: take) to an account's queries on `day`, never below zero.
async fn add_day_usage(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    account_id: u64,
    day: i64,
    n: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO daily_usage (account_id, day, used) VALUES (?1, ?2, MAX(?3, 0))
         ON CONFLICT(account_id, day) DO UPDATE SET used = MAX(used + ?3, 0)",
    )
    .bind(account_id as i64)
    .bind(day)
    .bind(n)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const STATUS_COLUMNS: &str =
    "j.id, j.created_at, b.total_terms, b.invalid_terms, b.processed_terms,
     b.failed_terms, j.status, b.format, b.next_chunk";

fn status_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<BulkStatus, StoreError> {
    let status: String = r.get(6);
    Ok(BulkStatus {
        id: r.get::<i64, _>(0) as u64,
        created_at: r.get(1),
        total_terms: r.get::<i64, _>(2) as u64,
        invalid_terms: r.get::<i64, _>(3) as u64,
        processed_terms: r.get::<i64, _>(4) as u64,
        failed_terms: r.get::<i64, _>(5) as u64,
        status: status.parse().map_err(StoreError::Invalid)?,
        format: r.get(7),
        chunks: r.get::<i64, _>(8) as u32,
    })
}

/// Each statement is written once, in the trait method it serves; the registry's live in
/// `registry.rs` beside their helpers and are forwarded from here.
impl Backend for SqliteStore {
    fn close<'a>(&'a self) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.pool.close().await;
        })
    }

    fn revision<'a>(&'a self) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
                    .fetch_one(&self.pool)
                    .await?,
            )
        })
    }

    fn count_accounts<'a>(&'a self) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                .fetch_one(&self.pool)
                .await?;
            Ok(n as u64)
        })
    }

    fn create_account<'a>(
        &'a self,
        plan: &'a str,
        credits: Option<u64>,
        daily_quota: Option<u64>,
        label: &'a str,
        key_hash: &'a [u8],
        key_prefix: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(SqliteStore::create_account(
            self,
            plan,
            credits,
            daily_quota,
            label,
            key_hash,
            key_prefix,
        ))
    }

    fn add_key<'a>(
        &'a self,
        account_id: u64,
        key_hash: &'a [u8],
        key_prefix: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = ?")
                .bind(account_id as i64)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("no account {account_id}")));
            }
            insert_key(&mut tx, account_id as i64, key_hash, key_prefix, now_unix()).await?;
            bump_revision(&mut tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn revoke<'a>(&'a self, target: RevokeTarget<'a>) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let now = now_unix();
            let done = match target {
                RevokeTarget::KeyHash(hash) => {
                    sqlx::query(
                        "UPDATE api_keys SET revoked_at = ? WHERE key_hash = ? AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?
                }
                RevokeTarget::KeyPrefix(prefix) => {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM api_keys WHERE key_prefix = ? AND revoked_at IS NULL",
                    )
                    .bind(prefix)
                    .fetch_one(&mut *tx)
                    .await?;
                    if n > 1 {
                        return Err(StoreError::Invalid(format!(
                            "{n} live keys start with {prefix}; give the whole key or --account"
                        )));
                    }
                    sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE key_prefix = ? AND revoked_at IS NULL")
                        .bind(now)
                        .bind(prefix)
                        .execute(&mut *tx)
                        .await?
                }
                RevokeTarget::Account(id) => sqlx::query(
                    "UPDATE api_keys SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id as i64)
                .execute(&mut *tx)
                .await?,
            };
            bump_revision(&mut tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }

    fn update_account<'a>(
        &'a self,
        account_id: u64,
        plan: Option<&'a str>,
        credits: Option<Option<u64>>,
        daily_quota: Option<Option<u64>>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SqliteStore::update_account(
            self,
            account_id,
            plan,
            credits,
            daily_quota,
        ))
    }

    fn accounts<'a>(&'a self) -> BoxFuture<'a, Result<Vec<AccountRow>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, plan, credits_granted, credits_used, daily_quota, label, created_at
                 FROM accounts ORDER BY id",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| AccountRow {
                    id: r.get::<i64, _>(0) as u64,
                    plan: r.get(1),
                    credits_granted: r.get::<Option<i64>, _>(2).map(|v| v.max(0) as u64),
                    credits_used: r.get::<i64, _>(3).max(0) as u64,
                    daily_quota: r.get::<Option<i64>, _>(4).map(|v| v.max(0) as u64),
                    label: r.get(5),
                    created_at: r.get(6),
                })
                .collect())
        })
    }

    fn keys<'a>(&'a self) -> BoxFuture<'a, Result<Vec<KeyRow>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, account_id, key_hash, key_prefix, created_at, revoked_at FROM api_keys ORDER BY id",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| KeyRow {
                    id: r.get::<i64, _>(0) as u64,
                    account_id: r.get::<i64, _>(1) as u64,
                    key_hash: r.get(2),
                    key_prefix: r.get(3),
                    created_at: r.get(4),
                    revoked_at: r.get(5),
                })
                .collect())
        })
    }

    fn day_usage<'a>(&'a self, day: i64) -> BoxFuture<'a, Result<Vec<(u64, u64)>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT account_id, used FROM daily_usage WHERE day = ?")
                .bind(day)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get::<i64, _>(0) as u64, r.get::<i64, _>(1).max(0) as u64))
                .collect())
        })
    }

    fn usage_days<'a>(
        &'a self,
        account_id: u64,
        first_day: i64,
    ) -> BoxFuture<'a, Result<Vec<(i64, u64)>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT day, used FROM daily_usage WHERE account_id = ? AND day >= ? ORDER BY day",
            )
            .bind(account_id as i64)
            .bind(first_day)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1).max(0) as u64))
                .collect())
        })
    }

    fn ledger_rows<'a>(&'a self, day: i64) -> BoxFuture<'a, Result<LedgerRows, StoreError>> {
        Box::pin(async move {
            // The revision is read first: a change that lands during the reads bumps it again and
            // is picked up by the next poll.
            let revision = self.revision().await?;
            Ok(LedgerRows {
                revision,
                accounts: self.accounts().await?,
                keys: self.keys().await?,
                day_usage: self.day_usage(day).await?,
            })
        })
    }

    fn add_usage<'a>(&'a self, deltas: &'a [UsageDelta]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if deltas.is_empty() {
                return Ok(());
            }
            let mut tx = self.pool.begin().await?;
            for d in deltas {
                if d.credits > 0 {
                    sqlx::query("UPDATE accounts SET credits_used = credits_used + ? WHERE id = ?")
                        .bind(d.credits as i64)
                        .bind(d.account_id as i64)
                        .execute(&mut *tx)
                        .await?;
                }
                if d.day_queries > 0 {
                    sqlx::query(
                        "INSERT INTO daily_usage (account_id, day, used) VALUES (?, ?, ?)
                         ON CONFLICT(account_id, day) DO UPDATE SET used = used + excluded.used",
                    )
                    .bind(d.account_id as i64)
                    .bind(d.day)
                    .bind(d.day_queries as i64)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn take_lease<'a>(
        &'a self,
        ask: &'a LeaseAsk,
    ) -> BoxFuture<'a, Result<LeaseGrant, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            // A write first: SQLite takes its write lock here, so the read and the update
            // below are one step for every process on the file.
            sqlx::query("UPDATE accounts SET credits_used = credits_used WHERE id = ?")
                .bind(ask.account_id as i64)
                .execute(&mut *tx)
                .await?;
            let row =
                sqlx::query("SELECT credits_granted, credits_used FROM accounts WHERE id = ?")
                    .bind(ask.account_id as i64)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| {
                        StoreError::NotFound(format!("no account {}", ask.account_id))
                    })?;
            let granted: Option<i64> = row.get(0);
            let used: i64 = row.get(1);
            let day_used: i64 = sqlx::query_scalar(
                "SELECT COALESCE((SELECT used FROM daily_usage WHERE account_id = ? AND day = ?), 0)",
            )
            .bind(ask.account_id as i64)
            .bind(ask.day)
            .fetch_one(&mut *tx)
            .await?;
            let grant = ask.grant(
                granted.map(|g| g.max(0) as u64),
                used.max(0) as u64,
                day_used.max(0) as u64,
            );
            if grant.credits > 0 {
                sqlx::query("UPDATE accounts SET credits_used = credits_used + ? WHERE id = ?")
                    .bind(grant.credits as i64)
                    .bind(ask.account_id as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            if grant.day_queries > 0 {
                add_day_usage(&mut tx, ask.account_id, ask.day, grant.day_queries as i64).await?;
            }
            tx.commit().await?;
            Ok(grant)
        })
    }

    fn return_lease<'a>(
        &'a self,
        account_id: u64,
        credits: u64,
        day: i64,
        day_queries: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            if credits > 0 {
                sqlx::query(
                    "UPDATE accounts SET credits_used = MAX(credits_used - ?, 0) WHERE id = ?",
                )
                .bind(credits as i64)
                .bind(account_id as i64)
                .execute(&mut *tx)
                .await?;
            }
            if day_queries > 0 {
                add_day_usage(&mut tx, account_id, day, -(day_queries as i64)).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn claim_bulk_chunk<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        now: i64,
        lease_until: i64,
    ) -> BoxFuture<'a, Result<Option<u32>, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let stale: Option<i64> = sqlx::query_scalar(
                "UPDATE bulk_claims SET owner = ?2, lease_until = ?3
                 WHERE job_id = ?1 AND chunk = (SELECT chunk FROM bulk_claims
                     WHERE job_id = ?1 AND lease_until < ?4 ORDER BY chunk LIMIT 1)
                 RETURNING chunk",
            )
            .bind(id as i64)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let chunk = match stale {
                Some(chunk) => Some(chunk),
                None => {
                    let fresh: Option<i64> = sqlx::query_scalar(
                        "UPDATE bulk_requests SET next_chunk = next_chunk + 1
                         WHERE job_id = ? AND next_chunk < n_chunks
                           AND (SELECT status FROM jobs WHERE id = job_id)
                               IN ('INITIALIZING', 'PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')
                         RETURNING next_chunk - 1",
                    )
                    .bind(id as i64)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(chunk) = fresh {
                        sqlx::query(
                            "INSERT INTO bulk_claims (job_id, chunk, owner, lease_until) VALUES (?, ?, ?, ?)",
                        )
                        .bind(id as i64)
                        .bind(chunk)
                        .bind(owner)
                        .bind(lease_until)
                        .execute(&mut *tx)
                        .await?;
                    }
                    fresh
                }
            };
            tx.commit().await?;
            Ok(chunk.map(|c| c as u32))
        })
    }

    fn bulk_to_help<'a>(
        &'a self,
        now: i64,
        skip_accounts: &'a [u64],
        skip_jobs: &'a [u64],
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>> {
        Box::pin(async move {
            // Account ids are numbers, so they are inlined.
            let skip: Vec<String> = skip_accounts.iter().map(u64::to_string).collect();
            let jobs: Vec<String> = skip_jobs.iter().map(u64::to_string).collect();
            let row = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = 'bulk'
                   AND status IN ('PROCESSING', 'RESUMING') AND account_id NOT IN ({})
                   AND id NOT IN ({})
                   AND id IN (SELECT job_id FROM bulk_requests b WHERE b.next_chunk < b.n_chunks
                       OR EXISTS (SELECT 1 FROM bulk_claims c WHERE c.job_id = b.job_id AND c.lease_until < ?))
                 ORDER BY id LIMIT 1",
                skip.join(","),
                jobs.join(",")
            ))
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(job_from_row).transpose()
        })
    }

    fn take_named_lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        now: i64,
        until: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let taken = sqlx::query(
                "INSERT INTO named_leases (name, owner, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
                 WHERE named_leases.owner = excluded.owner OR named_leases.until < ?4",
            )
            .bind(name)
            .bind(owner)
            .bind(until)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(taken.rows_affected() == 1)
        })
    }

    fn release_named_lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM named_leases WHERE name = ? AND owner = ?")
                .bind(name)
                .bind(owner)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn insert_job<'a>(
        &'a self,
        account_id: u64,
        kind: JobKind,
        target: &'a str,
    ) -> BoxFuture<'a, Result<Job, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(&format!(
                "INSERT INTO jobs (account_id, kind, target, status, created_at) VALUES (?, ?, ?, 'QUEUED', ?)
                 RETURNING {JOB_COLUMNS}"
            ))
            .bind(account_id as i64)
            .bind(kind.as_str())
            .bind(target)
            .bind(now_unix())
            .fetch_one(&self.pool)
            .await?;
            job_from_row(&row)
        })
    }

    fn insert_job_charged<'a>(
        &'a self,
        account_id: u64,
        kind: JobKind,
        target: &'a str,
        day: i64,
    ) -> BoxFuture<'a, Result<Job, StoreError>> {
        Box::pin(SqliteStore::insert_job_charged(
            self, account_id, kind, target, day,
        ))
    }

    fn job<'a>(
        &'a self,
        account_id: u64,
        id: u64,
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND account_id = ?"
            ))
            .bind(id as i64)
            .bind(account_id as i64)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(job_from_row).transpose()
        })
    }

    fn recent_jobs<'a>(
        &'a self,
        account_id: Option<u64>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Job>, StoreError>> {
        Box::pin(async move {
            // `-1` stands for every account (ids start at 1, so it names none).
            let rows = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE ? < 0 OR account_id = ? ORDER BY id DESC LIMIT ?"
            ))
            .bind(account_id.map_or(-1, |id| id as i64))
            .bind(account_id.map_or(-1, |id| id as i64))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(job_from_row).collect()
        })
    }

    fn job_counts<'a>(&'a self) -> BoxFuture<'a, Result<super::JobCounts, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status ORDER BY kind, status")
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|r| {
                    let kind: String = r.get(0);
                    let status: String = r.get(1);
                    Ok((
                        kind.parse().map_err(StoreError::Invalid)?,
                        status.parse().map_err(StoreError::Invalid)?,
                        r.get::<i64, _>(2) as u64,
                    ))
                })
                .collect()
        })
    }

    fn claim_job<'a>(
        &'a self,
        owner: &'a str,
        lease_until: i64,
        skip: &'a ClaimSkip,
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>> {
        Box::pin(async move {
            // Ids and kind names are ours (numbers, fixed words), so they are inlined.
            let mut filter = String::new();
            if !skip.accounts.is_empty() {
                let ids: Vec<String> = skip.accounts.iter().map(u64::to_string).collect();
                filter.push_str(&format!(" AND account_id NOT IN ({})", ids.join(",")));
            }
            if !skip.kinds.is_empty() {
                let kinds: Vec<String> = skip
                    .kinds
                    .iter()
                    .map(|k| format!("'{}'", k.as_str()))
                    .collect();
                filter.push_str(&format!(" AND kind NOT IN ({})", kinds.join(",")));
            }
            if let Some(limit) = skip.per_account {
                // One writer at a time: the count and the claim are one step.
                filter.push_str(&format!(
                    " AND (SELECT COUNT(*) FROM jobs r WHERE r.account_id = jobs.account_id
                       AND r.status IN ('INITIALIZING', 'PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')) < {limit}"
                ));
            }
            let row = sqlx::query(&format!(
                "UPDATE jobs SET
                     status = CASE status WHEN 'INTERRUPTED' THEN 'RESUMING' ELSE 'PROCESSING' END,
                     lease_owner = ?, lease_until = ?, attempts = attempts + 1
                 WHERE id = (SELECT id FROM jobs WHERE status IN ('QUEUED', 'INTERRUPTED'){filter} ORDER BY id LIMIT 1)
                 RETURNING {JOB_COLUMNS}"
            ))
            .bind(owner)
            .bind(lease_until)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(job_from_row).transpose()
        })
    }

    fn mark_processing<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("UPDATE jobs SET status = 'PROCESSING' WHERE id = ? AND lease_owner = ? AND status = 'RESUMING'")
                .bind(id as i64)
                .bind(owner)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn finish_job<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        status: JobStatus,
        message: &'a str,
        result: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SqliteStore::finish_job(
            self, id, owner, status, message, result,
        ))
    }

    fn cancel_job<'a>(
        &'a self,
        account_id: u64,
        id: u64,
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE jobs SET
                     status = CASE WHEN status IN ('QUEUED', 'INTERRUPTED') THEN 'CANCELLED' ELSE 'CANCEL_REQUESTED' END,
                     message = CASE WHEN status IN ('QUEUED', 'INTERRUPTED') THEN 'cancelled by request' ELSE message END,
                     finished_at = CASE WHEN status IN ('QUEUED', 'INTERRUPTED') THEN ? ELSE finished_at END
                 WHERE id = ? AND account_id = ? AND status IN ('QUEUED', 'INTERRUPTED', 'PROCESSING', 'RESUMING')",
            )
            .bind(now_unix())
            .bind(id as i64)
            .bind(account_id as i64)
            .execute(&self.pool)
            .await?;
            self.job(account_id, id).await
        })
    }

    fn cancel_requested<'a>(&'a self, id: u64) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
                .bind(id as i64)
                .fetch_optional(&self.pool)
                .await?;
            Ok(status.as_deref() == Some("CANCEL_REQUESTED"))
        })
    }

    fn interrupt_abandoned<'a>(
        &'a self,
        now: i64,
        dead_owners: &'a [String],
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            const TAKE_BACK: &str = "UPDATE jobs SET status = CASE status WHEN 'CANCEL_REQUESTED' THEN 'CANCELLED' ELSE 'INTERRUPTED' END,
                     finished_at = CASE status WHEN 'CANCEL_REQUESTED' THEN ? ELSE finished_at END,
                     lease_owner = NULL, lease_until = NULL
                 WHERE status IN ('INITIALIZING', 'PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')";
            let mut tx = self.pool.begin().await?;
            let mut n = sqlx::query(&format!(
                "{TAKE_BACK} AND (lease_until < ? OR lease_owner IS NULL)"
            ))
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            for owner in dead_owners {
                n += sqlx::query(&format!("{TAKE_BACK} AND lease_owner = ?"))
                    .bind(now)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                // A dead worker's chunks are claimable at once, not after their claims expire.
                sqlx::query("UPDATE bulk_claims SET lease_until = 0 WHERE owner = ?")
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(n)
        })
    }

    fn lease_owners<'a>(&'a self) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar(
                "SELECT lease_owner FROM jobs WHERE lease_owner IS NOT NULL
                   AND status IN ('INITIALIZING', 'PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')
                 UNION SELECT owner FROM bulk_claims WHERE lease_until > 0",
            )
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn count_finished_jobs<'a>(&'a self) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE finished_at IS NOT NULL")
                    .fetch_one(&self.pool)
                    .await?;
            Ok(n as u64)
        })
    }

    fn sweep_jobs<'a>(
        &'a self,
        before: i64,
        bulk_before: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM jobs WHERE finished_at IS NOT NULL
                   AND finished_at < CASE kind WHEN 'bulk' THEN ? ELSE ? END",
            )
            .bind(bulk_before)
            .bind(before)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        })
    }

    fn insert_bulk<'a>(&'a self, new: &'a NewBulk<'a>) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let now = now_unix();
            let nothing_to_do = new.terms.is_empty();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO jobs (account_id, kind, target, status, message, created_at, finished_at)
                 VALUES (?, 'bulk', ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(new.account_id as i64)
            .bind(format!("{} terms", new.total_terms))
            .bind(if nothing_to_do { "COMPLETED" } else { "QUEUED" })
            .bind(nothing_to_do.then_some("no valid terms"))
            .bind(now)
            .bind(nothing_to_do.then_some(now))
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO bulk_requests (job_id, format, reverse_ip, chunk_terms, total_terms,
                     invalid_terms, charged, n_chunks, terms, invalid)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', '')",
            )
            .bind(id)
            .bind(new.format)
            .bind(new.reverse_ip)
            .bind(new.chunk_terms as i64)
            .bind(new.total_terms as i64)
            .bind(new.invalid_terms as i64)
            .bind(new.charge as i64)
            .bind(new.n_chunks() as i64)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO bulk_texts (job_id, terms, invalid) VALUES (?, ?, ?)")
                .bind(id)
                .bind(new.terms)
                .bind(new.invalid)
                .execute(&mut *tx)
                .await?;
            if new.record_charge {
                record_charge(&mut tx, new.account_id, new.day, new.charge).await?;
            }
            tx.commit().await?;
            Ok(id as u64)
        })
    }

    fn bulk_statuses<'a>(
        &'a self,
        account_id: u64,
        ids: &'a [u64],
    ) -> BoxFuture<'a, Result<Vec<BulkStatus>, StoreError>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            // Ids are numbers we parsed, so they are inlined.
            let list: Vec<String> = ids.iter().map(u64::to_string).collect();
            let rows = sqlx::query(&format!(
                "SELECT {STATUS_COLUMNS} FROM jobs j JOIN bulk_requests b ON b.job_id = j.id
                 WHERE j.account_id = ? AND j.id IN ({}) ORDER BY j.id",
                list.join(",")
            ))
            .bind(account_id as i64)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(status_from_row).collect()
        })
    }

    fn bulk_page<'a>(
        &'a self,
        account_id: u64,
        offset: u64,
        limit: u64,
        newest_first: bool,
    ) -> BoxFuture<'a, Result<(Vec<BulkStatus>, u64), StoreError>> {
        Box::pin(SqliteStore::bulk_page(
            self,
            account_id,
            offset,
            limit,
            newest_first,
        ))
    }

    fn bulk_work<'a>(&'a self, id: u64) -> BoxFuture<'a, Result<Option<BulkWork>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT t.terms, b.chunk_terms, b.next_chunk, b.reverse_ip, b.charged, b.failed_terms
                 FROM bulk_requests b JOIN bulk_texts t ON t.job_id = b.job_id WHERE b.job_id = ?",
            )
            .bind(id as i64)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(|r| BulkWork {
                terms: r.get(0),
                chunk_terms: r.get::<i64, _>(1) as u32,
                next_chunk: r.get::<i64, _>(2) as u32,
                reverse_ip: r.get(3),
                charged: r.get::<i64, _>(4) as u64,
                failed_terms: r.get::<i64, _>(5) as u64,
            }))
        })
    }

    fn renew_lease<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        lease_until: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE jobs SET lease_until = ?
                 WHERE id = ? AND lease_owner = ? AND status IN ('PROCESSING', 'RESUMING')",
            )
            .bind(lease_until)
            .bind(id as i64)
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn commit_bulk_chunk<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        chunk: u32,
        completed: &'a str,
        failed: &'a str,
        n_processed: u64,
        n_failed: u64,
        lease_until: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SqliteStore::commit_bulk_chunk(
            self,
            id,
            owner,
            chunk,
            completed,
            failed,
            n_processed,
            n_failed,
            lease_until,
        ))
    }

    fn finish_bulk<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        account_id: u64,
        message: &'a str,
        refund: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SqliteStore::finish_bulk(
            self, id, owner, account_id, message, refund,
        ))
    }

    fn bulk_chunk<'a>(
        &'a self,
        id: u64,
        chunk: u32,
        part: BulkPart,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            let column = match part {
                BulkPart::Completed => "completed",
                BulkPart::Failed => "failed",
            };
            Ok(sqlx::query_scalar(&format!(
                "SELECT {column} FROM bulk_chunks WHERE job_id = ? AND chunk = ?"
            ))
            .bind(id as i64)
            .bind(chunk as i64)
            .fetch_optional(&self.pool)
            .await?)
        })
    }

    fn bulk_invalid<'a>(&'a self, id: u64) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT invalid FROM bulk_texts WHERE job_id = ?")
                    .bind(id as i64)
                    .fetch_optional(&self.pool)
                    .await?
                    .unwrap_or_default(),
            )
        })
    }

    fn registry_generation<'a>(&'a self) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(SqliteStore::registry_generation(self))
    }

    fn registry_sources<'a>(&'a self) -> BoxFuture<'a, Result<Vec<SourceRow>, StoreError>> {
        Box::pin(SqliteStore::registry_sources(self))
    }

    fn registry_digest_chunks<'a>(
        &'a self,
        source: &'a str,
        sink: tokio::sync::mpsc::Sender<String>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SqliteStore::registry_digest_chunks(self, source, sink))
    }

    fn registry_stream<'a>(
        &'a self,
        sink: tokio::sync::mpsc::Sender<(String, String)>,
    ) -> BoxFuture<'a, Result<(i64, Vec<SourceRow>), StoreError>> {
        Box::pin(SqliteStore::registry_stream(self, sink))
    }

    fn registry_texts<'a>(
        &'a self,
        source: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(SqliteStore::registry_texts(self, source))
    }

    fn registry_apply<'a>(
        &'a self,
        changes: &'a RegistryChanges,
    ) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(SqliteStore::registry_apply(self, changes))
    }

    fn registry_journal<'a>(
        &'a self,
        source: &'a str,
        first: i64,
        last: Option<i64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Journal, StoreError>> {
        Box::pin(SqliteStore::registry_journal(
            self, source, first, last, limit,
        ))
    }

    fn registry_history<'a>(
        &'a self,
        source: &'a str,
        class: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<History, StoreError>> {
        Box::pin(SqliteStore::registry_history(self, source, class, key))
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::{SqliteStore, MIGRATIONS};
    use crate::store::Backend;

    /// A store made before bulk terms moved to `bulk_texts` opens with its requests intact:
    /// the terms and invalid terms are where the workers and downloads read them.
    #[tokio::test]
    async fn bulk_terms_move_out_of_the_request_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        let before = MIGRATIONS.len() - 1;
        for sql in &MIGRATIONS[..before] {
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        }
        sqlx::raw_sql(&format!(
            "PRAGMA user_version = {before};
             INSERT INTO accounts (plan, label, created_at) VALUES ('pro', '', 0);
             INSERT INTO jobs (account_id, kind, target, status, created_at)
                 VALUES (1, 'bulk', '3 terms', 'QUEUED', 0);
             INSERT INTO bulk_requests (job_id, format, reverse_ip, chunk_terms, total_terms,
                 invalid_terms, charged, n_chunks, terms, invalid)
                 VALUES (1, 'json', 0, 1000, 3, 1, 2, 1, '1.2.3.4\nexample.com',
                         '{{\"term\":\"x\",\"reason\":\"bad\"}}');"
        ))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = SqliteStore::open(&path).await.unwrap();
        let work = store.bulk_work(1).await.unwrap().expect("the request");
        assert_eq!(work.terms, "1.2.3.4\nexample.com");
        assert_eq!(work.chunk_terms, 1000);
        assert_eq!(
            store.bulk_invalid(1).await.unwrap(),
            r#"{"term":"x","reason":"bad"}"#
        );
        let left: String = sqlx::query_scalar("SELECT terms || invalid FROM bulk_requests")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, "", "the request row still holds the texts");
    }
}
