//! Durable state: accounts, keys and usage, in SQLite (one file, WAL mode).
//!
//! The schema is versioned with `PRAGMA user_version` and migrated forward on open.
//! Every write that changes who may call what bumps `meta.revision`, which running servers
//! poll to pick up changes made by the CLI or another process.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::jobs::{Job, JobKind, JobStatus};
use crate::ErrorKind;

mod bulk;
pub use bulk::{BulkPart, BulkStatus, BulkWork, NewBulk};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Db(_) | StoreError::Io(_) => ErrorKind::Internal,
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Invalid(_) => ErrorKind::InvalidInput,
        }
    }
}

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
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: u64,
    pub plan: String,
    pub credits_granted: Option<u64>,
    pub credits_used: u64,
    pub daily_quota: Option<u64>,
    pub label: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: u64,
    pub account_id: u64,
    pub key_hash: Vec<u8>,
    pub key_prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Usage not yet written: added to the stored counters in one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageDelta {
    pub account_id: u64,
    pub credits: u64,
    pub day: i64,
    pub day_queries: u64,
}

/// Everything the in-memory ledger is built from.
#[derive(Debug, Clone)]
pub struct LedgerRows {
    pub revision: i64,
    pub accounts: Vec<AccountRow>,
    pub keys: Vec<KeyRow>,
    /// (account id, used) for `day`.
    pub day_usage: Vec<(u64, u64)>,
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Open (creating and migrating as needed) the SQLite database at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
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
            .connect_with(options)
            .await?;
        let store = Store { pool };
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

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn revision(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn count_accounts(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
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

    /// Add a key to an existing account.
    pub async fn add_key(
        &self,
        account_id: u64,
        key_hash: &[u8],
        key_prefix: &str,
    ) -> Result<(), StoreError> {
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
    }

    /// Revoke keys: the one whose hash is given, or every key whose prefix matches, or every
    /// key of an account. Returns how many live keys were revoked.
    pub async fn revoke(&self, target: RevokeTarget<'_>) -> Result<u64, StoreError> {
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

    pub async fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
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
    }

    pub async fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
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
    }

    pub async fn day_usage(&self, day: i64) -> Result<Vec<(u64, u64)>, StoreError> {
        let rows = sqlx::query("SELECT account_id, used FROM daily_usage WHERE day = ?")
            .bind(day)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<i64, _>(0) as u64, r.get::<i64, _>(1).max(0) as u64))
            .collect())
    }

    /// A consistent read of everything the ledger needs, with the revision it reflects.
    pub async fn ledger_rows(&self, day: i64) -> Result<LedgerRows, StoreError> {
        // The revision is read first: a change that lands during the reads bumps it again and
        // is picked up by the next poll.
        let revision = self.revision().await?;
        Ok(LedgerRows {
            revision,
            accounts: self.accounts().await?,
            keys: self.keys().await?,
            day_usage: self.day_usage(day).await?,
        })
    }

    /// Add usage counted in memory to the stored totals, in one transaction.
    pub async fn add_usage(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
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

impl Store {
    /// Accept a job: once this returns, the job survives any crash.
    pub async fn insert_job(
        &self,
        account_id: u64,
        kind: JobKind,
        target: &str,
    ) -> Result<Job, StoreError> {
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

    /// A job of this account (another account's job is "not found").
    pub async fn job(&self, account_id: u64, id: u64) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND account_id = ?"
        ))
        .bind(id as i64)
        .bind(account_id as i64)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Take the oldest runnable job for `owner` until `lease_until`: QUEUED becomes
    /// PROCESSING, INTERRUPTED becomes RESUMING. One statement, so two workers (or two
    /// servers sharing the store) never take the same job.
    pub async fn claim_job(
        &self,
        owner: &str,
        lease_until: i64,
        skip: &ClaimSkip,
    ) -> Result<Option<Job>, StoreError> {
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
    }

    /// RESUMING -> PROCESSING once a resumed job's work starts again.
    pub async fn mark_processing(&self, id: u64, owner: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET status = 'PROCESSING' WHERE id = ? AND lease_owner = ? AND status = 'RESUMING'")
            .bind(id as i64)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
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

    /// Cancel: a queued or interrupted job ends at once; a running one is asked to stop.
    pub async fn cancel_job(&self, account_id: u64, id: u64) -> Result<Option<Job>, StoreError> {
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
    }

    /// Whether a running job has been asked to stop.
    pub async fn cancel_requested(&self, id: u64) -> Result<bool, StoreError> {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
            .bind(id as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(status.as_deref() == Some("CANCEL_REQUESTED"))
    }

    /// Work whose worker died: running jobs whose lease has expired, and with `at_start`
    /// (a single server starting on its own store) every lease not held by `owner`. They
    /// become INTERRUPTED and are claimed again; a pending cancel ends them CANCELLED.
    pub async fn interrupt_abandoned(
        &self,
        now: i64,
        owner: &str,
        at_start: bool,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = CASE status WHEN 'CANCEL_REQUESTED' THEN 'CANCELLED' ELSE 'INTERRUPTED' END,
                 finished_at = CASE status WHEN 'CANCEL_REQUESTED' THEN ? ELSE finished_at END,
                 lease_owner = NULL, lease_until = NULL
             WHERE status IN ('INITIALIZING', 'PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')
               AND (lease_until < ? OR lease_owner IS NULL OR (? AND lease_owner != ?))",
        )
        .bind(now)
        .bind(now)
        .bind(at_start)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// How many jobs have finished (for benchmarks and metrics).
    pub async fn count_finished_jobs(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE finished_at IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Delete finished jobs that finished before `before` (unix seconds), bulk requests
    /// (and their results) before `bulk_before`. Returns how many.
    pub async fn sweep_jobs(&self, before: i64, bulk_before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE finished_at IS NOT NULL
               AND finished_at < CASE kind WHEN 'bulk' THEN ? ELSE ? END",
        )
        .bind(bulk_before)
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Jobs `Store::claim_job` must pass over: accounts and kinds at their concurrency limit.
#[derive(Debug, Clone, Default)]
pub struct ClaimSkip {
    pub accounts: Vec<u64>,
    pub kinds: Vec<JobKind>,
}

/// Which keys `Store::revoke` revokes.
#[derive(Debug, Clone, Copy)]
pub enum RevokeTarget<'a> {
    KeyHash(&'a [u8]),
    KeyPrefix(&'a str),
    Account(u64),
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
