//! Durable state behind one interface: accounts, keys and usage; jobs and their leases;
//! bulk requests and their results.
//!
//! `Store` is a cheap handle over a `Backend`. The contract (what each call must do, and
//! what stays true under crashes and concurrent callers) is written on the trait and
//! checked for every backend by one conformance battery (`battery`). SQLite (`sqlite`) is
//! the embedded default; a PostgreSQL backend plugs in beside it. No backend's types appear
//! here: rows come back as plain structs, errors as `StoreError`.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::jobs::{Job, JobKind, JobStatus};
use crate::ErrorKind;

#[cfg(test)]
mod battery;
pub mod copy;
mod postgres;
mod sql_error;
mod sqlite;

pub use postgres::{PgLimits, PgStore, TestPostgres};
pub use sqlite::SqliteStore;

/// A boxed future, as trait objects need.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed a statement (constraint, I/O, corruption), with its message.
    #[error("database error: {0}")]
    Db(String),
    /// The backend cannot be reached or has no free connection.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
    /// Someone else changed what this write was computed from (a concurrent import).
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Db(_) | StoreError::Io(_) => ErrorKind::Internal,
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Invalid(_) => ErrorKind::InvalidInput,
            StoreError::Conflict(_) => ErrorKind::Unavailable,
        }
    }
}

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
    /// Whether `charge` is added to the stored usage with the request. False when the
    /// credits were already taken from the store (a lease, see [`LeaseAsk`]); `charge` is
    /// still recorded on the request, for the refund of failed terms.
    pub record_charge: bool,
}

impl NewBulk<'_> {
    /// Chunks of `chunk_terms` valid terms the request is worked in.
    pub fn n_chunks(&self) -> u64 {
        let valid = self.terms.lines().count() as u64;
        valid.div_ceil(u64::from(self.chunk_terms.max(1)))
    }
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

/// Jobs `Store::claim_job` must pass over: accounts and kinds at their concurrency limit.
#[derive(Debug, Clone, Default)]
pub struct ClaimSkip {
    pub accounts: Vec<u64>,
    pub kinds: Vec<JobKind>,
    /// Running jobs one account may have across every instance sharing the store; an
    /// account at the limit is passed over. `None`: no shared limit.
    pub per_account: Option<u32>,
}

/// Credits and daily queries an instance asks the store for, to spend from memory (a lease:
/// see `accounts`). Taken whole or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseAsk {
    pub account_id: u64,
    /// Credits needed now (0: none).
    pub credits: u64,
    /// Daily queries needed now, on `day` (0: none).
    pub day_queries: u64,
    pub day: i64,
    /// The account's daily quota (the account's or its plan's); `None`: unlimited.
    pub day_quota: Option<u64>,
    /// The most to take beyond the need, for each (the block an instance spends from).
    pub block: u64,
}

/// What a lease got: zero of both when the need could not be met (nothing taken).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseGrant {
    pub credits: u64,
    pub day_queries: u64,
    /// Why nothing was taken, if so.
    pub refused: Option<LeaseRefusal>,
    /// The account's stored usage after this lease (every instance's leases included):
    /// what the instance shows as spent.
    pub credits_used: u64,
    /// The day's stored queries after this lease.
    pub day_used: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRefusal {
    Credits,
    Quota,
}

/// What a lease takes beyond the need where there is no limit: usage counted 100,000
/// answers at a time, one store transaction for each.
pub const UNLIMITED_LEASE: u64 = 100_000;

impl LeaseAsk {
    /// What to take, given the account's stored balance (`granted`: `None` unlimited) and
    /// usage. Each dimension takes its need, plus up to `block`, but never more than a
    /// sixteenth of what is left beyond the need: near the end of a balance every instance
    /// takes exactly what it spends, so a crash strands little and the last credits go to
    /// whichever instance asks first.
    pub fn grant(&self, granted: Option<u64>, used: u64, day_used: u64) -> LeaseGrant {
        let refused = |why| LeaseGrant {
            refused: Some(why),
            credits_used: used,
            day_used,
            ..LeaseGrant::default()
        };
        let take = |need: u64, left: u64| -> Option<u64> {
            if need > left {
                return None;
            }
            // Fewer than 64 left: single-unit charges, nothing stranded by a crash.
            let spare = if left - need < 64 {
                0
            } else {
                (left - need) / 16
            };
            Some(need + spare.min(self.block))
        };
        let credits = match (self.credits, granted) {
            (0, _) => 0,
            // Unlimited: the lease only counts usage, in large blocks (nothing is at stake;
            // a crash over-counts at most one block of an unlimited account's usage).
            (need, None) => need + UNLIMITED_LEASE,
            (need, Some(granted)) => match take(need, granted.saturating_sub(used)) {
                Some(n) => n,
                None => return refused(LeaseRefusal::Credits),
            },
        };
        let day_queries = match (self.day_queries, self.day_quota) {
            (0, _) => 0,
            (need, None) => need + UNLIMITED_LEASE,
            (need, Some(quota)) => match take(need, quota.saturating_sub(day_used)) {
                Some(n) => n,
                None => return refused(LeaseRefusal::Quota),
            },
        };
        LeaseGrant {
            credits,
            day_queries,
            refused: None,
            credits_used: used + credits,
            day_used: day_used + day_queries,
        }
    }
}

/// Which keys `Store::revoke` revokes.
#[derive(Debug, Clone, Copy)]
pub enum RevokeTarget<'a> {
    KeyHash(&'a [u8]),
    KeyPrefix(&'a str),
    Account(u64),
}

/// What an import compares an object by: its class and canonical key, and a digest of its
/// text (the first 8 bytes of its SHA-256), so a diff never reads the texts back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDigest {
    pub class: String,
    pub key: String,
    pub digest: i64,
}

/// One line of [`Backend::registry_digest_chunks`]: class, key and digest.
pub fn digest_line(line: &str) -> Result<(&str, &str, i64), StoreError> {
    let mut parts = line.splitn(3, '\t');
    let (Some(class), Some(key), Some(digest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(StoreError::Db(format!(
            "registry row {line:?} is malformed"
        )));
    };
    let digest = digest
        .parse()
        .map_err(|_| StoreError::Db(format!("registry digest {digest:?}")))?;
    Ok((class, key, digest))
}

/// Call `each` with the class, key and digest of every current object of `source`, as the
/// store streams them (a few chunks in memory at a time).
pub async fn each_stored_digest<B: Backend + ?Sized>(
    store: &B,
    source: &str,
    mut each: impl FnMut(&str, &str, i64) + Send,
) -> Result<(), StoreError> {
    let (sink, mut chunks) = tokio::sync::mpsc::channel::<String>(4);
    let read = store.registry_digest_chunks(source, sink);
    // The receiver is moved in: when taking fails, it is dropped and the reader stops.
    let take = async move {
        while let Some(chunk) = chunks.recv().await {
            for line in chunk.lines() {
                let (class, key, digest) = digest_line(line)?;
                each(class, key, digest);
            }
        }
        Ok::<(), StoreError>(())
    };
    let (read, take) = tokio::join!(read, take);
    // A malformed row is the reason the reader stopped: it is the error to give.
    take?;
    read
}

/// The digest an object's text is stored and compared with.
pub fn text_digest(text: &str) -> i64 {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    i64::from_be_bytes(d.as_ref()[..8].try_into().expect("SHA-256 has 32 bytes"))
}

/// A registry source and its last import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    /// Upper case (`RIPE`, `TEST`).
    pub name: String,
    /// The dump's serial (`RIPE.CURRENTSERIAL`), when the import was given one.
    pub serial: Option<i64>,
    pub imported_at: i64,
    pub objects: u64,
}

/// One change of a source's NRTM journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub serial: i64,
    /// `ADD` (an object added or changed) or `DEL`.
    pub op: String,
    /// The object's text after an `ADD`, before a `DEL`.
    pub text: String,
}

/// What a source's journal holds, and the rows a query asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    pub rows: Vec<JournalRow>,
}

/// An object an import adds or changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObject {
    /// The class's name as its template spells it.
    pub class: &'static str,
    pub key: String,
    pub text: ObjectText,
    /// `text_digest(text)`.
    pub digest: i64,
}

impl NewObject {
    /// A placeholder that allocates nothing (for taking an object out of a vector).
    pub fn empty() -> NewObject {
        NewObject {
            class: "",
            key: String::new(),
            text: ObjectText::Inline(String::new()),
            digest: 0,
        }
    }
}

/// An object's text: held, or spilled to the import's [`TextSpill`] (an import of ten
/// million objects holds their keys, not their texts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectText {
    Inline(String),
    Spilled { at: u64, len: u32 },
}

impl From<String> for ObjectText {
    fn from(text: String) -> ObjectText {
        ObjectText::Inline(text)
    }
}

/// Object texts appended to a file while an import reads its dump, read back by the
/// store batch by batch. The file is removed when the spill is dropped.
#[derive(Debug)]
pub struct TextSpill {
    path: std::path::PathBuf,
    writer: std::sync::Mutex<std::io::BufWriter<std::fs::File>>,
    reader: std::fs::File,
    len: std::sync::atomic::AtomicU64,
}

impl TextSpill {
    /// A new spill file in `dir` (created if needed).
    pub fn create(dir: &Path) -> std::io::Result<TextSpill> {
        std::fs::create_dir_all(dir)?;
        let (path, file) = crate::create_scratch_file(dir, "import", "spill")?;
        Ok(TextSpill {
            reader: file.try_clone()?,
            writer: std::sync::Mutex::new(std::io::BufWriter::with_capacity(1 << 20, file)),
            path,
            len: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Append `text`; returns where it is.
    pub fn push(&self, text: &str) -> std::io::Result<ObjectText> {
        use std::io::Write;
        let len = u32::try_from(text.len())
            .map_err(|_| std::io::Error::other("an object text over 4 GiB"))?;
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.write_all(text.as_bytes())?;
        let at = self
            .len
            .fetch_add(text.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(ObjectText::Spilled { at, len })
    }

    /// Make every pushed text readable.
    pub fn flush(&self) -> std::io::Result<()> {
        use std::io::Write;
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
    }

    fn read(&self, at: u64, len: u32) -> std::io::Result<String> {
        use std::os::unix::fs::FileExt;
        let mut bytes = vec![0u8; len as usize];
        self.reader.read_exact_at(&mut bytes, at)?;
        String::from_utf8(bytes).map_err(|_| std::io::Error::other("spilled text is not UTF-8"))
    }

    /// Bytes spilled so far.
    pub fn len(&self) -> u64 {
        self.len.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for TextSpill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What one import of one source changes, worked out by the engine against the rows it
/// read at `generation`. Applied whole or not at all.
#[derive(Debug, Clone, Default)]
pub struct RegistryChanges {
    pub source: String,
    pub serial: Option<i64>,
    /// Unix seconds: the date of every version this import makes.
    pub at: i64,
    /// The registry generation the changes were computed against: the import fails
    /// (`StoreError::Conflict`) if another import committed since.
    pub generation: i64,
    pub added: Vec<NewObject>,
    pub changed: Vec<NewObject>,
    /// (class, key) of objects the new dump no longer has.
    pub deleted: Vec<(String, String)>,
    /// Where [`ObjectText::Spilled`] texts are.
    pub spill: Option<Arc<TextSpill>>,
}

impl RegistryChanges {
    /// An object's text, read back from the spill when it was spilled.
    pub fn text<'a>(&self, object: &'a NewObject) -> Result<std::borrow::Cow<'a, str>, StoreError> {
        match &object.text {
            ObjectText::Inline(text) => Ok(std::borrow::Cow::Borrowed(text)),
            ObjectText::Spilled { at, len } => self
                .spill
                .as_ref()
                .ok_or_else(|| StoreError::Io("a spilled text without its spill file".into()))?
                .read(*at, *len)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| StoreError::Io(format!("reading the import's spill file: {e}"))),
        }
    }
}

/// How an import numbers its changes in its source's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSerials {
    /// The first change's serial; `None` when the import is not journaled.
    pub first: Option<i64>,
    /// The source's serial once the import is shown.
    pub serial: Option<i64>,
}

impl RegistryChanges {
    /// Number this import's changes, given the source's stored serial (`None`: the source
    /// is new) and the newest serial its journal holds. A source's first import is its
    /// starting point (a mirror takes it as a dump): nothing is journaled and the serial is
    /// the dump's, if it has one. Later imports journal each change, after the source's
    /// serial; when the dump's own serial leaves room (RIPE's serial counts every update,
    /// an import sees only their sum), the changes end at it, else they follow on and the
    /// dump's serial is passed over with a warning. A source removed and imported again
    /// keeps its old journal rows: numbering goes on after them, so a serial is never given
    /// twice.
    pub fn journal_serials(
        &self,
        current: Option<Option<i64>>,
        journaled: Option<i64>,
    ) -> JournalSerials {
        let Some(current) = current else {
            return JournalSerials {
                first: None,
                serial: self.serial,
            };
        };
        let base = current.unwrap_or(0).max(journaled.unwrap_or(0));
        let count = (self.added.len() + self.changed.len() + self.deleted.len()) as i64;
        let end = match self.serial {
            Some(given) if given >= base + count => given,
            Some(given) => {
                tracing::warn!(
                    source = %self.source,
                    given,
                    base,
                    count,
                    "registry: the dump's serial is behind this import's changes; the journal numbers them after the source's serial"
                );
                base + count
            }
            None => base + count,
        };
        JournalSerials {
            first: (count > 0).then_some(end - count + 1),
            serial: Some(end),
        }
    }
}

/// One entry of an object's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub revision: u32,
    pub at: i64,
    /// The object's text at this revision.
    pub text: String,
}

/// An object's history since it was last created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum History {
    /// No object of that key ever existed.
    Never,
    /// It existed and is deleted now (RIPE answers an empty list).
    Deleted,
    /// Every revision since the last creation, oldest first; the last is current.
    Versions(Vec<VersionRow>),
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Jobs counted by kind and state, as [`Backend::job_counts`] answers (pairs with none
/// left out).
pub type JobCounts = Vec<(JobKind, JobStatus, u64)>;

/// What a store backend must do. Every method is one atomic step: it happens whole or not
/// at all, whatever else runs at the same time, in this process or another one on the
/// same store.
///
/// Contract highlights (the battery checks each):
/// - Writes that change who may call what (accounts, keys, plans) bump `revision`.
/// - `claim_job` gives a job to exactly one caller, oldest first, skipping what `skip` names.
/// - A lease is only ever taken back by `interrupt_abandoned`, and only when it has expired
///   or its owner is named as dead: a live instance's unexpired lease is never taken.
/// - `finish_job`, `renew_lease` and `commit_bulk_chunk` succeed only for the lease holder;
///   `commit_bulk_chunk` only for the next chunk in order.
/// - A charge recorded with a job or bulk request is in the same transaction as its row.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Whether several instances may share this store (PostgreSQL): limits are then
    /// enforced through the store (credit leases), not in one process's memory.
    fn shared(&self) -> bool {
        false
    }

    fn close<'a>(&'a self) -> BoxFuture<'a, ()>;

    fn revision<'a>(&'a self) -> BoxFuture<'a, Result<i64, StoreError>>;

    fn count_accounts<'a>(&'a self) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Create an account with one key whose SHA-256 is `key_hash`. Returns the account id.
    fn create_account<'a>(
        &'a self,
        plan: &'a str,
        credits: Option<u64>,
        daily_quota: Option<u64>,
        label: &'a str,
        key_hash: &'a [u8],
        key_prefix: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Add a key to an existing account.
    fn add_key<'a>(
        &'a self,
        account_id: u64,
        key_hash: &'a [u8],
        key_prefix: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Revoke keys: the one whose hash is given, or every key whose prefix matches, or every
    /// key of an account. Returns how many live keys were revoked.
    fn revoke<'a>(&'a self, target: RevokeTarget<'a>) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Change an account's plan, balance or quota. `None` leaves a field as it is;
    /// `Some(None)` makes credits or quota unlimited / the plan's.
    fn update_account<'a>(
        &'a self,
        account_id: u64,
        plan: Option<&'a str>,
        credits: Option<Option<u64>>,
        daily_quota: Option<Option<u64>>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn accounts<'a>(&'a self) -> BoxFuture<'a, Result<Vec<AccountRow>, StoreError>>;

    fn keys<'a>(&'a self) -> BoxFuture<'a, Result<Vec<KeyRow>, StoreError>>;

    fn day_usage<'a>(&'a self, day: i64) -> BoxFuture<'a, Result<Vec<(u64, u64)>, StoreError>>;

    /// One account's stored usage per UTC day from `first_day` on, oldest first (days with
    /// no use left out). On a shared store, queries leased to an instance count as used.
    fn usage_days<'a>(
        &'a self,
        account_id: u64,
        first_day: i64,
    ) -> BoxFuture<'a, Result<Vec<(i64, u64)>, StoreError>>;

    /// A consistent read of everything the ledger needs, with the revision it reflects.
    fn ledger_rows<'a>(&'a self, day: i64) -> BoxFuture<'a, Result<LedgerRows, StoreError>>;

    /// Add usage counted in memory to the stored totals, in one transaction.
    fn add_usage<'a>(&'a self, deltas: &'a [UsageDelta]) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Take credits and daily queries for an instance to spend from memory, in one
    /// transaction ordered with every other lease of the account (see [`LeaseAsk::grant`]).
    /// What is taken counts as used in the store at once.
    fn take_lease<'a>(&'a self, ask: &'a LeaseAsk)
        -> BoxFuture<'a, Result<LeaseGrant, StoreError>>;

    /// Give back the unspent part of leases: credits, and daily queries of `day`.
    fn return_lease<'a>(
        &'a self,
        account_id: u64,
        credits: u64,
        day: i64,
        day_queries: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Accept a job: once this returns, the job survives any crash.
    fn insert_job<'a>(
        &'a self,
        account_id: u64,
        kind: JobKind,
        target: &'a str,
    ) -> BoxFuture<'a, Result<Job, StoreError>>;

    /// Accept a job and record its charge of one query and one credit, in one transaction:
    /// neither exists without the other (the meter counts the charge as already written).
    fn insert_job_charged<'a>(
        &'a self,
        account_id: u64,
        kind: JobKind,
        target: &'a str,
        day: i64,
    ) -> BoxFuture<'a, Result<Job, StoreError>>;

    /// A job of this account (another account's job is "not found").
    fn job<'a>(
        &'a self,
        account_id: u64,
        id: u64,
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>>;

    /// The newest jobs of one account (or of every account: `None`), newest first, at
    /// most `limit`; bulk requests included (their kind says so).
    fn recent_jobs<'a>(
        &'a self,
        account_id: Option<u64>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Job>, StoreError>>;

    /// How many jobs there are of each kind in each state (pairs with none left out).
    fn job_counts<'a>(&'a self) -> BoxFuture<'a, Result<JobCounts, StoreError>>;

    /// Take the oldest runnable job for `owner` until `lease_until`: QUEUED becomes
    /// PROCESSING, INTERRUPTED becomes RESUMING. One statement, so two workers (or two
    /// servers sharing the store) never take the same job.
    fn claim_job<'a>(
        &'a self,
        owner: &'a str,
        lease_until: i64,
        skip: &'a ClaimSkip,
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>>;

    /// RESUMING -> PROCESSING once a resumed job's work starts again.
    fn mark_processing<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Record a job's outcome, if `owner` still holds it. A cancel requested meanwhile wins:
    /// the job ends CANCELLED. Returns whether the outcome was recorded.
    fn finish_job<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        status: JobStatus,
        message: &'a str,
        result: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Cancel: a queued or interrupted job ends at once; a running one is asked to stop.
    fn cancel_job<'a>(
        &'a self,
        account_id: u64,
        id: u64,
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>>;

    /// Whether a running job has been asked to stop.
    fn cancel_requested<'a>(&'a self, id: u64) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Work whose worker died: running jobs whose lease has expired (or has no owner), and
    /// those leased by an owner in `dead_owners`. They become INTERRUPTED and are claimed
    /// again; a pending cancel ends them CANCELLED. A live owner's unexpired lease is never
    /// taken. Bulk chunks claimed by a dead owner become claimable at once.
    fn interrupt_abandoned<'a>(
        &'a self,
        now: i64,
        dead_owners: &'a [String],
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// The owners of leases on running jobs and of live bulk chunk claims.
    fn lease_owners<'a>(&'a self) -> BoxFuture<'a, Result<Vec<String>, StoreError>>;

    /// How many jobs have finished (for benchmarks and metrics).
    fn count_finished_jobs<'a>(&'a self) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Delete finished jobs that finished before `before` (unix seconds), bulk requests
    /// (and their results) before `bulk_before`. Returns how many.
    fn sweep_jobs<'a>(
        &'a self,
        before: i64,
        bulk_before: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Accept a bulk request and record its charge, in one transaction: once this returns
    /// the request and its payment both survive any crash, and neither exists without the
    /// other. A request with no valid terms is finished at once.
    fn insert_bulk<'a>(&'a self, new: &'a NewBulk<'a>) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// The requests of `account_id` among `ids`; unknown and foreign ids are left out.
    fn bulk_statuses<'a>(
        &'a self,
        account_id: u64,
        ids: &'a [u64],
    ) -> BoxFuture<'a, Result<Vec<BulkStatus>, StoreError>>;

    /// One page of an account's requests, and how many it has in all.
    fn bulk_page<'a>(
        &'a self,
        account_id: u64,
        offset: u64,
        limit: u64,
        newest_first: bool,
    ) -> BoxFuture<'a, Result<(Vec<BulkStatus>, u64), StoreError>>;

    /// The work of a request, from where it stands.
    fn bulk_work<'a>(&'a self, id: u64) -> BoxFuture<'a, Result<Option<BulkWork>, StoreError>>;

    /// Extend `owner`'s lease on a running job to `lease_until`. Returns whether it holds it.
    fn renew_lease<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        lease_until: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Take one chunk of a running bulk request to work on until `lease_until`: a chunk
    /// whose claim expired (its worker died) first, else the next one never handed out.
    /// `None` when every chunk is recorded or claimed by a live worker.
    fn claim_bulk_chunk<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        now: i64,
        lease_until: i64,
    ) -> BoxFuture<'a, Result<Option<u32>, StoreError>>;

    /// A running bulk request with chunks nobody works on (another instance's, usually),
    /// of an account not in `skip_accounts`, not among `skip_jobs` (those this instance
    /// works on already): an idle worker helps with it.
    fn bulk_to_help<'a>(
        &'a self,
        now: i64,
        skip_accounts: &'a [u64],
        skip_jobs: &'a [u64],
    ) -> BoxFuture<'a, Result<Option<Job>, StoreError>>;

    /// Record a claimed chunk's results, if `owner` still holds its claim: the claim is
    /// given up and the results stored in one transaction, so each chunk is recorded
    /// exactly once whoever worked on it. Renews the request's lease to `lease_until`.
    #[allow(clippy::too_many_arguments)]
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
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Mark a request whose every chunk is recorded COMPLETED (refused while one is not),
    /// giving `refund` credits back
    /// to `account_id` in the same transaction. Returns whether `owner` still held it.
    fn finish_bulk<'a>(
        &'a self,
        id: u64,
        owner: &'a str,
        account_id: u64,
        message: &'a str,
        refund: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// One chunk's completed or failed results (JSON lines), if the chunk is recorded.
    fn bulk_chunk<'a>(
        &'a self,
        id: u64,
        chunk: u32,
        part: BulkPart,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    /// A request's invalid terms (JSON lines).
    fn bulk_invalid<'a>(&'a self, id: u64) -> BoxFuture<'a, Result<String, StoreError>>;

    /// Take or renew the lease `name` for `owner` until `until`: granted when nobody holds
    /// it, `owner` does, or the holder's lease ended before `now`. One instance at a time
    /// does what the name says (follow an NRTM source).
    fn take_named_lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        now: i64,
        until: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Give a named lease up (a clean shutdown), if `owner` holds it.
    fn release_named_lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The registry's generation: bumped by every committed import, so a running server
    /// knows when to load the registry again.
    fn registry_generation<'a>(&'a self) -> BoxFuture<'a, Result<i64, StoreError>>;

    /// Every registry source with its last import, by name.
    fn registry_sources<'a>(&'a self) -> BoxFuture<'a, Result<Vec<SourceRow>, StoreError>>;

    /// The class, key and digest of every current object of `source` (upper case), read at
    /// one generation and sent to `sink` in chunks of lines `class TAB key TAB digest`
    /// (read them with [`digest_line`]). The sink is bounded: ten million rows are never
    /// held at once. Stops with an error when the receiver is gone.
    fn registry_digest_chunks<'a>(
        &'a self,
        source: &'a str,
        sink: tokio::sync::mpsc::Sender<String>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The class, key and digest of every current object of `source` (upper case), all
    /// together (small sources and tests; imports and mirrors stream them instead).
    fn registry_digests<'a>(
        &'a self,
        source: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StoredDigest>, StoreError>> {
        Box::pin(async move {
            let mut all = Vec::new();
            each_stored_digest(self, source, |class, key, digest| {
                all.push(StoredDigest {
                    class: class.to_string(),
                    key: key.to_string(),
                    digest,
                })
            })
            .await?;
            Ok(all)
        })
    }

    /// The texts of every current object of `source`, in chunks: each chunk is object texts
    /// separated by empty lines, as a dump holds them (a million rows come back as a few
    /// hundred values, not a million).
    fn registry_texts<'a>(
        &'a self,
        source: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>>;

    /// Every current object text of every source, read at one generation and sent to
    /// `sink` as (source, chunk) in the shape of [`registry_texts`](Self::registry_texts);
    /// returns the generation read and the sources as they were at it. The sink is
    /// bounded: a registry file is built from it holding a few chunks at a time.
    fn registry_stream<'a>(
        &'a self,
        sink: tokio::sync::mpsc::Sender<(String, String)>,
    ) -> BoxFuture<'a, Result<(i64, Vec<SourceRow>), StoreError>>;

    /// Apply one import in one transaction: add, change (keeping the old text as a
    /// version) and delete objects, record the source's serial and time, bump the
    /// generation. Returns the new generation.
    fn registry_apply<'a>(
        &'a self,
        changes: &'a RegistryChanges,
    ) -> BoxFuture<'a, Result<i64, StoreError>>;

    /// `source`'s NRTM journal from serial `first` to `last` (to the newest when `None`),
    /// at most `limit` rows, with the oldest and newest serials it holds.
    fn registry_journal<'a>(
        &'a self,
        source: &'a str,
        first: i64,
        last: Option<i64>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Journal, StoreError>>;

    /// The history of one object (`key` lower case).
    fn registry_history<'a>(
        &'a self,
        source: &'a str,
        class: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<History, StoreError>>;
}

/// Handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    pub fn new(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// Open (creating and migrating as needed) the SQLite store at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(SqliteStore::open(path).await?)))
    }

    /// Open (migrating as needed) the PostgreSQL store at `url`.
    pub async fn open_postgres(url: &str, limits: PgLimits) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(PgStore::open(url, limits).await?)))
    }
}

/// Every `Backend` call is made through the handle: `store.job(account, id).await`.
impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.backend
    }
}
