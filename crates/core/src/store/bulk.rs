//! Bulk requests in the store. A request is a `jobs` row (kind `bulk`, so it is claimed,
//! leased, interrupted and resumed like every job) plus a `bulk_requests` row with its terms
//! and counters, plus one `bulk_chunks` row per finished chunk of terms.
//!
//! Exactly-once results: a chunk's results, the request's counters and the lease renewal are
//! one transaction, fenced on `next_chunk` and on the lease. A worker that dies mid-chunk
//! leaves nothing of that chunk; its successor redoes it. A worker that lost its lease
//! cannot commit. Deleting the job deletes everything else (`ON DELETE CASCADE`).

use sqlx::Row;

use super::{now_unix, Store, StoreError};
use crate::jobs::JobStatus;

/// A bulk request to accept.
#[derive(Debug, Clone)]
pub struct NewBulk<'a> {
    pub account_id: u64,
    pub format: &'a str,
    pub reverse_ip: bool,
    pub chunk_terms: u32,
    /// Distinct terms, valid and invalid.
    pub total_terms: u64,
    pub invalid_terms: u64,
    /// Valid terms, one per line.
    pub terms: &'a str,
    /// Invalid terms as JSON lines `{"term","reason"}`.
    pub invalid: &'a str,
    /// Credits (and daily queries, on `day`) taken for the request, recorded with it.
    pub charge: u64,
    pub day: i64,
}

/// What `/request/status` and `/request/list` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkStatus {
    pub id: u64,
    pub created_at: i64,
    pub total_terms: u64,
    pub invalid_terms: u64,
    pub processed_terms: u64,
    pub failed_terms: u64,
    pub status: JobStatus,
    pub format: String,
    /// Chunks with results.
    pub chunks: u32,
}

impl BulkStatus {
    pub fn ready(&self) -> bool {
        self.status.is_final()
    }
}

/// What a worker needs to (re)start a request.
#[derive(Debug, Clone)]
pub struct BulkWork {
    pub terms: String,
    pub chunk_terms: u32,
    pub next_chunk: u32,
    pub reverse_ip: bool,
    pub charged: u64,
    pub failed_terms: u64,
}

/// Which results of a chunk to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkPart {
    Completed,
    Failed,
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

impl Store {
    /// Accept a bulk request and record its charge, in one transaction: once this returns
    /// the request and its payment both survive any crash, and neither exists without the
    /// other. A request with no valid terms is finished at once.
    pub async fn insert_bulk(&self, new: &NewBulk<'_>) -> Result<u64, StoreError> {
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
                 invalid_terms, charged, terms, invalid)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(new.format)
        .bind(new.reverse_ip)
        .bind(new.chunk_terms as i64)
        .bind(new.total_terms as i64)
        .bind(new.invalid_terms as i64)
        .bind(new.charge as i64)
        .bind(new.terms)
        .bind(new.invalid)
        .execute(&mut *tx)
        .await?;
        super::record_charge(&mut tx, new.account_id, new.day, new.charge).await?;
        tx.commit().await?;
        Ok(id as u64)
    }

    /// The requests of `account_id` among `ids`; unknown and foreign ids are left out.
    pub async fn bulk_statuses(
        &self,
        account_id: u64,
        ids: &[u64],
    ) -> Result<Vec<BulkStatus>, StoreError> {
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

    /// The work of a request, from where it stands.
    pub async fn bulk_work(&self, id: u64) -> Result<Option<BulkWork>, StoreError> {
        let row = sqlx::query(
            "SELECT terms, chunk_terms, next_chunk, reverse_ip, charged, failed_terms
             FROM bulk_requests WHERE job_id = ?",
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
    }

    /// Extend `owner`'s lease on a running job to `lease_until`. Returns whether it holds it.
    pub async fn renew_lease(
        &self,
        id: u64,
        owner: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
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
    }

    /// Record chunk `chunk`'s results and renew the lease to `lease_until`, if `owner` still
    /// holds the request and the chunk is the next one. Returns whether it was recorded.
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
        let leased = sqlx::query(
            "UPDATE jobs SET lease_until = ?
             WHERE id = ? AND lease_owner = ? AND status IN ('PROCESSING', 'RESUMING')",
        )
        .bind(lease_until)
        .bind(id as i64)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        let advanced = sqlx::query(
            "UPDATE bulk_requests SET next_chunk = next_chunk + 1,
                 processed_terms = processed_terms + ?, failed_terms = failed_terms + ?
             WHERE job_id = ? AND next_chunk = ?",
        )
        .bind(n_processed as i64)
        .bind(n_failed as i64)
        .bind(id as i64)
        .bind(chunk as i64)
        .execute(&mut *tx)
        .await?;
        if leased.rows_affected() != 1 || advanced.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO bulk_chunks (job_id, chunk, completed, failed) VALUES (?, ?, ?, ?)",
        )
        .bind(id as i64)
        .bind(chunk as i64)
        .bind(completed)
        .bind(failed)
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
             WHERE id = ? AND lease_owner = ? AND status IN ('PROCESSING', 'RESUMING')",
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
            sqlx::query("UPDATE accounts SET credits_used = MAX(credits_used - ?, 0) WHERE id = ?")
                .bind(refund as i64)
                .bind(account_id as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// One chunk's completed or failed results (JSON lines), if the chunk is recorded.
    pub async fn bulk_chunk(
        &self,
        id: u64,
        chunk: u32,
        part: BulkPart,
    ) -> Result<Option<String>, StoreError> {
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
    }

    /// A request's invalid terms (JSON lines).
    pub async fn bulk_invalid(&self, id: u64) -> Result<String, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT invalid FROM bulk_requests WHERE job_id = ?")
                .bind(id as i64)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or_default(),
        )
    }
}
