//! The PostgreSQL backend: one database shared by any number of ipintel instances.
//!
//! Selected by a `postgres://` store URL. The schema is versioned in `schema_version` and
//! migrated forward on open, under an advisory lock (two instances starting together run
//! each migration once); a database whose schema is newer than this ipintel is refused.
//! Row locks do what SQLite's single writer did: jobs are claimed `FOR UPDATE SKIP LOCKED`,
//! an account's row is locked while its credits are leased or its running jobs counted, and
//! a registry import is one transaction that readers see whole or not at all (MVCC: readers
//! never wait for it). The only module that writes SQL for PostgreSQL.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use super::*;
use crate::jobs::{Job, JobKind, JobStatus};

mod copy;
mod harness;
mod registry;

pub use harness::TestPostgres;

/// Schema versions, applied in order; index + 1 is the version after each.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (name, value) VALUES ('revision', 1), ('registry', 0);
CREATE TABLE accounts (
    id              BIGSERIAL PRIMARY KEY,
    plan            TEXT   NOT NULL,
    credits_granted BIGINT,            -- NULL: unlimited
    credits_used    BIGINT NOT NULL DEFAULT 0, -- spent, plus credits leased to instances
    daily_quota     BIGINT,            -- NULL: the plan's
    label           TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE TABLE api_keys (
    id          BIGSERIAL PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    key_hash    BYTEA  NOT NULL UNIQUE, -- SHA-256 of the key; the key itself is never stored
    key_prefix  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_account ON api_keys(account_id);
CREATE TABLE daily_usage (
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    day         BIGINT NOT NULL,        -- days since 1970-01-01, UTC
    used        BIGINT NOT NULL,
    PRIMARY KEY (account_id, day)
);
CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    kind         TEXT   NOT NULL,
    target       TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    message      TEXT,
    result       TEXT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX jobs_runnable ON jobs(status, id);
CREATE INDEX jobs_finished ON jobs(finished_at);
CREATE INDEX jobs_account_kind ON jobs(account_id, kind, id);
CREATE TABLE bulk_requests (
    job_id          BIGINT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    format          TEXT    NOT NULL,
    reverse_ip      BOOLEAN NOT NULL,
    chunk_terms     BIGINT  NOT NULL,
    total_terms     BIGINT  NOT NULL,
    invalid_terms   BIGINT  NOT NULL,
    processed_terms BIGINT  NOT NULL DEFAULT 0,
    failed_terms    BIGINT  NOT NULL DEFAULT 0,
    charged         BIGINT  NOT NULL,
    next_chunk      BIGINT  NOT NULL DEFAULT 0, -- chunks handed out (claimed or recorded)
    done_chunks     BIGINT  NOT NULL DEFAULT 0, -- chunks recorded
    n_chunks        BIGINT  NOT NULL,
    terms           TEXT    NOT NULL,
    invalid         TEXT    NOT NULL
);
CREATE TABLE bulk_chunks (
    job_id    BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    chunk     BIGINT NOT NULL,
    completed TEXT   NOT NULL,
    failed    TEXT   NOT NULL,
    PRIMARY KEY (job_id, chunk)
);
-- Chunks being worked on, by whom and until when.
CREATE TABLE bulk_claims (
    job_id      BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    chunk       BIGINT NOT NULL,
    owner       TEXT   NOT NULL,
    lease_until BIGINT NOT NULL,
    PRIMARY KEY (job_id, chunk)
);
CREATE TABLE registry_sources (
    name        TEXT   PRIMARY KEY,
    serial      BIGINT,
    imported_at BIGINT NOT NULL,
    objects     BIGINT NOT NULL
);
CREATE TABLE registry_objects (
    id         BIGSERIAL PRIMARY KEY,
    source     TEXT   NOT NULL,
    class      TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    text       TEXT   NOT NULL,
    digest     BIGINT NOT NULL,
    revision   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (source, class, key)
);
CREATE INDEX registry_objects_source ON registry_objects(source, id);
CREATE TABLE registry_history (
    id       BIGSERIAL PRIMARY KEY,
    source   TEXT   NOT NULL,
    class    TEXT   NOT NULL,
    key      TEXT   NOT NULL,
    revision BIGINT NOT NULL,
    op       TEXT   NOT NULL,
    at       BIGINT NOT NULL,
    text     TEXT
);
CREATE INDEX registry_history_object ON registry_history(source, class, key, id);
CREATE TABLE registry_journal (
    source TEXT   NOT NULL,
    serial BIGINT NOT NULL,
    op     TEXT   NOT NULL,
    class  TEXT   NOT NULL,
    key    TEXT   NOT NULL,
    text   TEXT   NOT NULL,
    at     BIGINT NOT NULL,
    PRIMARY KEY (source, serial)
);
-- Work one instance does for all (following an NRTM source): who, until when.
CREATE TABLE named_leases (
    name  TEXT   PRIMARY KEY,
    owner TEXT   NOT NULL,
    until BIGINT NOT NULL
);
"#,
    // A bulk request's terms live apart from its counters, as in SQLite (where every
    // counter update rewrote them); one layout for both keeps `store copy` a plain copy.
    r#"
CREATE TABLE bulk_texts (
    job_id  BIGINT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    terms   TEXT   NOT NULL,
    invalid TEXT   NOT NULL
);
INSERT INTO bulk_texts (job_id, terms, invalid) SELECT job_id, terms, invalid FROM bulk_requests;
UPDATE bulk_requests SET terms = '', invalid = '';
"#,
];

/// The advisory lock migrations run under (any number, fixed: "ipin").
const MIGRATION_LOCK: i64 = 0x6970_696e;

/// Pool limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct PgLimits {
    pub max_connections: u32,
    /// How long a call waits for a connection before it is answered 503.
    pub acquire_timeout: Duration,
}

impl Default for PgLimits {
    fn default() -> PgLimits {
        PgLimits {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connect to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`) and migrate.
    pub async fn open(url: &str, limits: PgLimits) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("store URL: {e}")))?;
        let options = options
            .application_name("ipintel")
            // A statement stuck behind a lock (or a server that stopped answering) gives
            // up rather than hold a request for ever.
            .options([("statement_timeout", "60000"), ("lock_timeout", "30000")]);
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            // A connection to a restarted server fails its ping and is replaced, so the
            // pool recovers by itself once the database is back.
            .test_before_acquire(true)
            .idle_timeout(Duration::from_secs(300))
            .connect_with(options)
            .await?;
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        let result = self.migrate_locked(&mut conn).await;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
        result
    }

    async fn migrate_locked(&self, conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        // Checked first: CREATE TABLE IF NOT EXISTS would log a notice on every start.
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('schema_version') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            sqlx::raw_sql("CREATE TABLE schema_version (version BIGINT NOT NULL)")
                .execute(&mut *conn)
                .await?;
        }
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *conn)
            .await?;
        let version = version.unwrap_or(0);
        if version as usize > MIGRATIONS.len() {
            return Err(StoreError::Invalid(format!(
                "the database schema (version {version}) is newer than this ipintel (version {}); upgrade ipintel",
                MIGRATIONS.len()
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM schema_version")
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version = index + 1, "store: PostgreSQL schema migrated");
        }
        Ok(())
    }
}

const JOB_COLUMNS: &str =
    "id, account_id, kind, target, status, message, result, attempts, created_at, finished_at";

fn job_from_row(r: &PgRow) -> Result<Job, StoreError> {
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

const STATUS_COLUMNS: &str =
    "j.id, j.created_at, b.total_terms, b.invalid_terms, b.processed_terms,
     b.failed_terms, j.status, b.format, b.next_chunk";

fn status_from_row(r: &PgRow) -> Result<BulkStatus, StoreError> {
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

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

async fn bump_revision(tx: &mut Tx) -> Result<(), StoreError> {
    sqlx::query("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_key(
    tx: &mut Tx,
    account_id: i64,
    key_hash: &[u8],
    key_prefix: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (account_id, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(account_id)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Add `n` credits and queries on `day` to an account's stored usage, inside `tx`.
async fn record_charge(tx: &mut Tx, account_id: u64, day: i64, n: u64) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    sqlx::query("UPDATE accounts SET credits_used = credits_used + $1 WHERE id = $2")
        .bind(n as i64)
        .bind(account_id as i64)
        .execute(&mut **tx)
        .await?;
    add_day_usage(tx, account_id, day, n as i64).await
}

async fn add_day_usage(tx: &mut Tx, account_id: u64, day: i64, n: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO daily_usage (account_id, day, used) VALUES ($1, $2, GREATEST($3, 0))
         ON CONFLICT (account_id, day) DO UPDATE SET used = GREATEST(daily_usage.used + $3, 0)",
    )
    .bind(account_id as i64)
    .bind(day)
    .bind(n)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Statuses of a running job (its lease is live or expired, but it holds one).
const RUNNING: &str = "('INITIALIZING', 'PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')";

impl Backend for PgStore {
    fn shared(&self) -> bool {
        true
    }

    fn close<'a>(&'a self) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.pool.close().await })
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
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let now = now_unix();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO accounts (plan, credits_granted, daily_quota, label, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
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
        })
    }

    fn add_key<'a>(
        &'a self,
        account_id: u64,
        key_hash: &'a [u8],
        key_prefix: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = $1")
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
                        "UPDATE api_keys SET revoked_at = $1 WHERE key_hash = $2 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?
                }
                RevokeTarget::KeyPrefix(prefix) => {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM api_keys WHERE key_prefix = $1 AND revoked_at IS NULL",
                    )
                    .bind(prefix)
                    .fetch_one(&mut *tx)
                    .await?;
                    if n > 1 {
                        return Err(StoreError::Invalid(format!(
                            "{n} live keys start with {prefix}; give the whole key or --account"
                        )));
                    }
                    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE key_prefix = $2 AND revoked_at IS NULL")
                        .bind(now)
                        .bind(prefix)
                        .execute(&mut *tx)
                        .await?
                }
                RevokeTarget::Account(id) => sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
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
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(
                "SELECT plan, credits_granted, daily_quota FROM accounts WHERE id = $1 FOR UPDATE",
            )
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
                "UPDATE accounts SET plan = $1, credits_granted = $2, daily_quota = $3 WHERE id = $4",
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
        })
    }

    fn accounts<'a>(&'a self) -> BoxFuture<'a, Result<Vec<AccountRow>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, plan, credits_granted, credits_used, daily_quota, label, created_at
                 FROM accounts ORDER BY id",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(account_from_row).collect())
        })
    }

    fn keys<'a>(&'a self) -> BoxFuture<'a, Result<Vec<KeyRow>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, account_id, key_hash, key_prefix, created_at, revoked_at FROM api_keys ORDER BY id",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(key_from_row).collect())
        })
    }

    fn day_usage<'a>(&'a self, day: i64) -> BoxFuture<'a, Result<Vec<(u64, u64)>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT account_id, used FROM daily_usage WHERE day = $1")
                .bind(day)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows
                .iter()
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
                "SELECT day, used FROM daily_usage WHERE account_id = $1 AND day >= $2 ORDER BY day",
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
            // One snapshot: the revision and the rows it describes.
            let mut tx = self.pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            let revision: i64 =
                sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
                    .fetch_one(&mut *tx)
                    .await?;
            let accounts = sqlx::query(
                "SELECT id, plan, credits_granted, credits_used, daily_quota, label, created_at
                 FROM accounts ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(account_from_row)
            .collect();
            let keys = sqlx::query(
                "SELECT id, account_id, key_hash, key_prefix, created_at, revoked_at FROM api_keys ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(key_from_row)
            .collect();
            let day_usage = sqlx::query("SELECT account_id, used FROM daily_usage WHERE day = $1")
                .bind(day)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| (r.get::<i64, _>(0) as u64, r.get::<i64, _>(1).max(0) as u64))
                .collect();
            tx.commit().await?;
            Ok(LedgerRows {
                revision,
                accounts,
                keys,
                day_usage,
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
                    sqlx::query(
                        "UPDATE accounts SET credits_used = credits_used + $1 WHERE id = $2",
                    )
                    .bind(d.credits as i64)
                    .bind(d.account_id as i64)
                    .execute(&mut *tx)
                    .await?;
                }
                if d.day_queries > 0 {
                    add_day_usage(&mut tx, d.account_id, d.day, d.day_queries as i64).await?;
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
            // The account's row lock orders every lease of the account, on every instance.
            let row = sqlx::query(
                "SELECT credits_granted, credits_used FROM accounts WHERE id = $1 FOR UPDATE",
            )
            .bind(ask.account_id as i64)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no account {}", ask.account_id)))?;
            let granted: Option<i64> = row.get(0);
            let used: i64 = row.get(1);
            let day_used: i64 = sqlx::query_scalar(
                "SELECT COALESCE((SELECT used FROM daily_usage WHERE account_id = $1 AND day = $2), 0)",
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
                sqlx::query("UPDATE accounts SET credits_used = credits_used + $1 WHERE id = $2")
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
                    "UPDATE accounts SET credits_used = GREATEST(credits_used - $1, 0) WHERE id = $2",
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

    fn insert_job<'a>(
        &'a self,
        account_id: u64,
        kind: JobKind,
        target: &'a str,
    ) -> BoxFuture<'a, Result<Job, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(&format!(
                "INSERT INTO jobs (account_id, kind, target, status, created_at)
                 VALUES ($1, $2, $3, 'QUEUED', $4) RETURNING {JOB_COLUMNS}"
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
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(&format!(
                "INSERT INTO jobs (account_id, kind, target, status, created_at)
                 VALUES ($1, $2, $3, 'QUEUED', $4) RETURNING {JOB_COLUMNS}"
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
        })
    }

    fn job<'a>(
        &'a self,
        account_id: u64,
        id: u64,
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND account_id = $2"
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
                "SELECT {JOB_COLUMNS} FROM jobs WHERE $1 < 0 OR account_id = $2 ORDER BY id DESC LIMIT $3"
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
            // Accounts found at their limit during this claim are passed over too.
            let mut full: Vec<u64> = skip.accounts.clone();
            loop {
                let mut filter = String::new();
                if !full.is_empty() {
                    let ids: Vec<String> = full.iter().map(u64::to_string).collect();
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
                let mut tx = self.pool.begin().await?;
                // Another instance's candidate is locked: skipped, not waited for.
                let candidate: Option<(i64, i64)> = sqlx::query_as(&format!(
                    "SELECT id, account_id FROM jobs WHERE status IN ('QUEUED', 'INTERRUPTED'){filter}
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                ))
                .fetch_optional(&mut *tx)
                .await?;
                let Some((id, account)) = candidate else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                if let Some(limit) = skip.per_account {
                    // The account's row lock makes "count, then take" one step across
                    // instances; the count runs after the lock, so it sees every claim
                    // committed before.
                    sqlx::query("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
                        .bind(account)
                        .execute(&mut *tx)
                        .await?;
                    let running: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM jobs WHERE account_id = $1 AND status IN {RUNNING}"
                    ))
                    .bind(account)
                    .fetch_one(&mut *tx)
                    .await?;
                    if running >= limit as i64 {
                        tx.rollback().await?;
                        full.push(account as u64);
                        continue;
                    }
                }
                let row = sqlx::query(&format!(
                    "UPDATE jobs SET
                         status = CASE status WHEN 'INTERRUPTED' THEN 'RESUMING' ELSE 'PROCESSING' END,
                         lease_owner = $1, lease_until = $2, attempts = attempts + 1
                     WHERE id = $3 RETURNING {JOB_COLUMNS}"
                ))
                .bind(owner)
                .bind(lease_until)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                return job_from_row(&row).map(Some);
            }
        })
    }

    fn mark_processing<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE jobs SET status = 'PROCESSING' WHERE id = $1 AND lease_owner = $2 AND status = 'RESUMING'",
            )
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
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE jobs SET
                     status = CASE status WHEN 'CANCEL_REQUESTED' THEN 'CANCELLED' ELSE $1 END,
                     message = CASE status WHEN 'CANCEL_REQUESTED' THEN 'cancelled by request' ELSE $2 END,
                     result = CASE status WHEN 'CANCEL_REQUESTED' THEN NULL ELSE $3 END,
                     finished_at = $4, lease_owner = NULL, lease_until = NULL
                 WHERE id = $5 AND lease_owner = $6
                   AND status IN ('PROCESSING', 'RESUMING', 'CANCEL_REQUESTED')",
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
        })
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
                     finished_at = CASE WHEN status IN ('QUEUED', 'INTERRUPTED') THEN $1 ELSE finished_at END
                 WHERE id = $2 AND account_id = $3
                   AND status IN ('QUEUED', 'INTERRUPTED', 'PROCESSING', 'RESUMING')",
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
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
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
            let done = sqlx::query(&format!(
                "UPDATE jobs SET
                     status = CASE status WHEN 'CANCEL_REQUESTED' THEN 'CANCELLED' ELSE 'INTERRUPTED' END,
                     finished_at = CASE status WHEN 'CANCEL_REQUESTED' THEN $1 ELSE finished_at END,
                     lease_owner = NULL, lease_until = NULL
                 WHERE status IN {RUNNING}
                   AND (lease_until < $1 OR lease_owner IS NULL OR lease_owner = ANY($2))"
            ))
            .bind(now)
            .bind(dead_owners)
            .execute(&self.pool)
            .await?;
            // A dead worker's chunks are claimable at once, not after their claims expire.
            if !dead_owners.is_empty() {
                sqlx::query("UPDATE bulk_claims SET lease_until = 0 WHERE owner = ANY($1)")
                    .bind(dead_owners)
                    .execute(&self.pool)
                    .await?;
            }
            Ok(done.rows_affected())
        })
    }

    fn lease_owners<'a>(&'a self) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar(&format!(
                "SELECT lease_owner FROM jobs WHERE lease_owner IS NOT NULL AND status IN {RUNNING}
                 UNION SELECT owner FROM bulk_claims WHERE lease_until > 0"
            ))
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
                   AND finished_at < CASE kind WHEN 'bulk' THEN $1 ELSE $2 END",
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
                 VALUES ($1, 'bulk', $2, $3, $4, $5, $6) RETURNING id",
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
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', '')",
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
            sqlx::query("INSERT INTO bulk_texts (job_id, terms, invalid) VALUES ($1, $2, $3)")
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
            let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
            let rows = sqlx::query(&format!(
                "SELECT {STATUS_COLUMNS} FROM jobs j JOIN bulk_requests b ON b.job_id = j.id
                 WHERE j.account_id = $1 AND j.id = ANY($2) ORDER BY j.id"
            ))
            .bind(account_id as i64)
            .bind(&ids)
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
        Box::pin(async move {
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE account_id = $1 AND kind = 'bulk'",
            )
            .bind(account_id as i64)
            .fetch_one(&self.pool)
            .await?;
            let order = if newest_first { "DESC" } else { "ASC" };
            let rows = sqlx::query(&format!(
                "SELECT {STATUS_COLUMNS} FROM jobs j JOIN bulk_requests b ON b.job_id = j.id
                 WHERE j.account_id = $1 AND j.kind = 'bulk' ORDER BY j.id {order} LIMIT $2 OFFSET $3"
            ))
            .bind(account_id as i64)
            .bind(limit.min(i64::MAX as u64) as i64)
            .bind(offset.min(i64::MAX as u64) as i64)
            .fetch_all(&self.pool)
            .await?;
            Ok((
                rows.iter().map(status_from_row).collect::<Result<_, _>>()?,
                total as u64,
            ))
        })
    }

    fn bulk_work<'a>(&'a self, id: u64) -> BoxFuture<'a, Result<Option<BulkWork>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT t.terms, b.chunk_terms, b.next_chunk, b.reverse_ip, b.charged, b.failed_terms
                 FROM bulk_requests b JOIN bulk_texts t ON t.job_id = b.job_id
                 WHERE b.job_id = $1",
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
                "UPDATE jobs SET lease_until = $1
                 WHERE id = $2 AND lease_owner = $3 AND status IN ('PROCESSING', 'RESUMING')",
            )
            .bind(lease_until)
            .bind(id as i64)
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
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
            // A chunk whose claimer's lease ran out first, then a fresh one.
            let stale: Option<i64> = sqlx::query_scalar(
                "UPDATE bulk_claims SET owner = $2, lease_until = $3
                 WHERE (job_id, chunk) = (SELECT job_id, chunk FROM bulk_claims
                     WHERE job_id = $1 AND lease_until < $4 ORDER BY chunk LIMIT 1
                     FOR UPDATE SKIP LOCKED)
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
                    let fresh: Option<i64> = sqlx::query_scalar(&format!(
                        "UPDATE bulk_requests SET next_chunk = next_chunk + 1
                         WHERE job_id = $1 AND next_chunk < n_chunks
                           AND (SELECT status FROM jobs WHERE id = $1) IN {RUNNING}
                         RETURNING next_chunk - 1"
                    ))
                    .bind(id as i64)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(chunk) = fresh {
                        sqlx::query(
                            "INSERT INTO bulk_claims (job_id, chunk, owner, lease_until) VALUES ($1, $2, $3, $4)",
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
            let skip: Vec<i64> = skip_accounts.iter().map(|&a| a as i64).collect();
            let jobs: Vec<i64> = skip_jobs.iter().map(|&j| j as i64).collect();
            let row = sqlx::query(&format!(
                "SELECT {} FROM jobs j JOIN bulk_requests b ON b.job_id = j.id
                 WHERE j.kind = 'bulk' AND j.status IN ('PROCESSING', 'RESUMING')
                   AND j.account_id <> ALL($2) AND j.id <> ALL($3)
                   AND (b.next_chunk < b.n_chunks OR EXISTS (SELECT 1 FROM bulk_claims c
                        WHERE c.job_id = j.id AND c.lease_until < $1))
                 ORDER BY j.id LIMIT 1",
                JOB_COLUMNS
                    .split(", ")
                    .map(|c| format!("j.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .bind(now)
            .bind(&skip)
            .bind(&jobs)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(job_from_row).transpose()
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
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            // The claim is the right to record: given up here, in the same transaction.
            let released = sqlx::query(
                "DELETE FROM bulk_claims WHERE job_id = $1 AND chunk = $2 AND owner = $3",
            )
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
                "INSERT INTO bulk_chunks (job_id, chunk, completed, failed) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
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
                     processed_terms = processed_terms + $1, failed_terms = failed_terms + $2
                 WHERE job_id = $3",
            )
            .bind(n_processed as i64)
            .bind(n_failed as i64)
            .bind(id as i64)
            .execute(&mut *tx)
            .await?;
            // Recording a chunk is a sign of life: the request's lease is renewed with it
            // (whoever recorded it; the holder finishes the request).
            sqlx::query(&format!(
                "UPDATE jobs SET lease_until = GREATEST(lease_until, $1) WHERE id = $2 AND status IN {RUNNING}"
            ))
            .bind(lease_until)
            .bind(id as i64)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn finish_bulk<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        account_id: u64,
        message: &'a str,
        refund: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query(
                "UPDATE jobs SET status = 'COMPLETED', message = $1, finished_at = $2,
                     lease_owner = NULL, lease_until = NULL
                 WHERE id = $3 AND lease_owner = $4 AND status IN ('PROCESSING', 'RESUMING')
                   AND (SELECT done_chunks = n_chunks FROM bulk_requests WHERE job_id = $3)",
            )
            .bind(message)
            .bind(now_unix())
            .bind(id as i64)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            if refund > 0 {
                sqlx::query(
                    "UPDATE accounts SET credits_used = GREATEST(credits_used - $1, 0) WHERE id = $2",
                )
                .bind(refund as i64)
                .bind(account_id as i64)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
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
                "SELECT {column} FROM bulk_chunks WHERE job_id = $1 AND chunk = $2"
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
                sqlx::query_scalar("SELECT invalid FROM bulk_texts WHERE job_id = $1")
                    .bind(id as i64)
                    .fetch_optional(&self.pool)
                    .await?
                    .unwrap_or_default(),
            )
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
                "INSERT INTO named_leases (name, owner, until) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
                 WHERE named_leases.owner = excluded.owner OR named_leases.until < $4",
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
            sqlx::query("DELETE FROM named_leases WHERE name = $1 AND owner = $2")
                .bind(name)
                .bind(owner)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn registry_generation<'a>(&'a self) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT value FROM meta WHERE name = 'registry'")
                    .fetch_one(&self.pool)
                    .await?,
            )
        })
    }

    fn registry_sources<'a>(&'a self) -> BoxFuture<'a, Result<Vec<SourceRow>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            registry::sources_in(&mut conn).await
        })
    }

    fn registry_digest_chunks<'a>(
        &'a self,
        source: &'a str,
        sink: tokio::sync::mpsc::Sender<String>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(registry::digest_chunks(self, source, sink))
    }

    fn registry_texts<'a>(
        &'a self,
        source: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(registry::texts(self, source))
    }

    fn registry_stream<'a>(
        &'a self,
        sink: tokio::sync::mpsc::Sender<(String, String)>,
    ) -> BoxFuture<'a, Result<(i64, Vec<SourceRow>), StoreError>> {
        Box::pin(registry::stream(self, sink))
    }

    fn registry_apply<'a>(
        &'a self,
        changes: &'a RegistryChanges,
    ) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(registry::apply(self, changes))
    }

    fn registry_journal<'a>(
        &'a self,
        source: &'a str,
        first: i64,
        last: Option<i64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Journal, StoreError>> {
        Box::pin(registry::journal(self, source, first, last, limit))
    }

    fn registry_history<'a>(
        &'a self,
        source: &'a str,
        class: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<History, StoreError>> {
        Box::pin(registry::history(self, source, class, key))
    }
}

fn account_from_row(r: &PgRow) -> AccountRow {
    AccountRow {
        id: r.get::<i64, _>(0) as u64,
        plan: r.get(1),
        credits_granted: r.get::<Option<i64>, _>(2).map(|v| v.max(0) as u64),
        credits_used: r.get::<i64, _>(3).max(0) as u64,
        daily_quota: r.get::<Option<i64>, _>(4).map(|v| v.max(0) as u64),
        label: r.get(5),
        created_at: r.get(6),
    }
}

fn key_from_row(r: &PgRow) -> KeyRow {
    KeyRow {
        id: r.get::<i64, _>(0) as u64,
        account_id: r.get::<i64, _>(1) as u64,
        key_hash: r.get(2),
        key_prefix: r.get(3),
        created_at: r.get(4),
        revoked_at: r.get(5),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn postgres_passes_the_battery() {
        let pg = TestPostgres::start().expect("PostgreSQL for the battery");
        let url = pg.create_database("battery").await.unwrap();
        let store = Store::new(Arc::new(
            PgStore::open(&url, PgLimits::default()).await.unwrap(),
        ));
        crate::store::battery::run(store.clone()).await;
        store.close().await;
        // A second open migrates nothing; a newer schema is refused.
        let again = PgStore::open(&url, PgLimits::default()).await.unwrap();
        sqlx::query("UPDATE schema_version SET version = version + 1")
            .execute(&again.pool)
            .await
            .unwrap();
        let err = PgStore::open(&url, PgLimits::default()).await.unwrap_err();
        assert!(err.to_string().contains("newer than this ipintel"), "{err}");
    }
}
