//! Use cases: one call per thing a front end asks, so that every dialect, the bulk pipeline
//! and the CLI share one request path and cannot drift apart.
//!
//! A metered lookup is always: authenticate the credential for a service; check the meter
//! can pay the most the request could cost; take one snapshot of the databases ("no
//! database" is `Unavailable` for everyone); judge each address (reserved ranges, the
//! operator's local networks, found or not) by the dialect's stated policy; count outcomes;
//! charge only after the answer exists; then hand the answers to the dialect's renderer while
//! the snapshot is still held. Front ends parse and render; they never touch the meter or
//! the store themselves.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use crate::accounts::{AccessError, Accounts, Credential, Meter, Remaining, Service};
use crate::geo::local::{LocalNetwork, LocalNetworks};
use crate::geo::{reserved, GeoAnswer, GeoError, GeoService, GeoSet, PlaceForm};
use crate::jobs::{Job, JobKind};
use crate::store::{Store, StoreError};
use crate::ErrorKind;

/// What happened to one address, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupOutcome {
    Found,
    NotFound,
    Reserved,
}

impl LookupOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LookupOutcome::Found => "found",
            LookupOutcome::NotFound => "not_found",
            LookupOutcome::Reserved => "reserved",
        }
    }
}

/// Receives what the engine counts (the server's metrics implement it).
pub trait Observer: Send + Sync {
    fn lookup(&self, outcome: LookupOutcome);
}

/// An observer that counts nothing (the CLI, tests).
pub struct NoObserver;

impl Observer for NoObserver {
    fn lookup(&self, _: LookupOutcome) {}
}

/// What a dialect does with an address in a reserved range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedPolicy {
    /// The request fails with `Reserved` (MaxMind).
    Refuse,
    /// It is answered, labelled (DB-IP, QRadar, ipintel's own API).
    Answer,
}

/// What a dialect does with an address no database (and no local network) knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingPolicy {
    /// The request fails with `NotFound` (MaxMind).
    Refuse,
    /// It is answered, empty (DB-IP, ipintel's own API).
    Answer,
    /// It is left out of the answer; the request fails only when every address is (QRadar).
    Skip,
}

/// How a request is priced, from the number of addresses answered.
#[derive(Debug, Clone, Copy)]
pub enum Cost {
    /// One credit and one query per address answered.
    PerAnswer,
    /// A dialect's own rule (DB-IP's batch bonus).
    Rule(fn(u64) -> u64),
}

impl Cost {
    fn of(self, n: u64) -> u64 {
        match self {
            Cost::PerAnswer => n,
            Cost::Rule(rule) => rule(n),
        }
    }
}

/// How one dialect looks addresses up.
#[derive(Debug, Clone, Copy)]
pub struct LookupPolicy {
    pub reserved: ReservedPolicy,
    pub missing: MissingPolicy,
    pub cost: Cost,
    /// Decoded place records, or the dialect's own rendering of them.
    pub places: PlaceForm,
}

/// One address as the engine judged it. `answer` borrows from the snapshot the request holds.
#[derive(Debug, Clone)]
pub struct Located<'s> {
    pub ip: IpAddr,
    pub answer: GeoAnswer<'s>,
    /// The reserved range's label (`"private"`, `"loopback"`, ...), if the address is in one.
    pub reserved: Option<&'static str>,
    /// The operator's local network holding the address, if any.
    pub local: Option<&'s LocalNetwork>,
}

impl Located<'_> {
    /// Whether nothing (no database, no local network) knows the address.
    pub fn is_missing(&self) -> bool {
        self.answer.is_empty() && self.local.is_none()
    }
}

/// A lookup's answers, handed to the dialect's renderer while the snapshot is held.
#[derive(Debug, Clone, Copy)]
pub struct Answers<'s> {
    /// The snapshot that answered (which databases are loaded, for renderers that say so).
    pub set: &'s GeoSet,
    /// The addresses answered, in request order (skipped ones left out).
    pub located: &'s [Located<'s>],
    /// What the account may still spend after this request's charge.
    pub remaining: Remaining,
}

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Geo(#[from] GeoError),
}

impl LookupError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LookupError::Access(e) => e.kind(),
            LookupError::Geo(e) => e.kind(),
        }
    }
}

/// Why a task could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SubmitError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SubmitError::Access(e) => e.kind(),
            SubmitError::Store(e) => e.kind(),
        }
    }
}

/// The engine: databases, accounts and the store, behind the use cases.
pub struct Engine {
    pub geo: Arc<GeoService>,
    pub accounts: Arc<Accounts>,
    pub local_networks: Arc<LocalNetworks>,
    observer: Arc<dyn Observer>,
}

impl Engine {
    pub fn new(
        geo: Arc<GeoService>,
        accounts: Arc<Accounts>,
        local_networks: Arc<LocalNetworks>,
        observer: Arc<dyn Observer>,
    ) -> Engine {
        Engine {
            geo,
            accounts,
            local_networks,
            observer,
        }
    }

    fn store(&self) -> &Store {
        self.accounts.store()
    }

    /// The meter of a live key allowed to use `service`.
    pub async fn authenticate(
        &self,
        credential: Credential<'_>,
        service: Service,
    ) -> Result<Arc<Meter>, AccessError> {
        self.accounts.authenticate(credential, service).await
    }

    /// What the account may still spend (free: key information calls).
    pub fn remaining(&self, meter: &Meter) -> Remaining {
        meter.remaining(SystemTime::now())
    }

    /// A metered lookup of `ips` (already deduplicated by the caller where the dialect
    /// wants that) by `policy`; `render` turns the answers into the dialect's body while the
    /// snapshot is held, after the charge succeeded.
    pub async fn lookup<R>(
        &self,
        meter: &Meter,
        ips: &[IpAddr],
        policy: LookupPolicy,
        render: impl FnOnce(Answers<'_>) -> R,
    ) -> Result<R, LookupError> {
        let now = SystemTime::now();
        meter.check(policy.cost.of(ips.len() as u64), now)?;
        let set = self.geo.snapshot();
        let located = judge(&set, &self.local_networks, &*self.observer, ips, policy)?;
        // Charged only once the answer exists; the charge is the exact check, so racing
        // requests cannot overspend even when `check` let them all through. The common
        // case is one uncontended lock; only a short lease waits for the store.
        let cost = policy.cost.of(located.len() as u64);
        let remaining = match meter.charge(cost, now) {
            Err(AccessError::LeaseNeeded { .. }) => self.accounts.charge(meter, cost).await?,
            other => other?,
        };
        if meter.needs_top_up() {
            self.accounts.top_up(meter.account_id);
        }
        Ok(render(Answers {
            set: &set,
            located: &located,
            remaining,
        }))
    }

    /// Accept a network task: the charge and the stored job happen together or not at all
    /// (a failed insert gives the credit back), so an accepted task is paid for and durable.
    pub async fn submit_task(
        &self,
        meter: &Meter,
        kind: JobKind,
        target: &str,
    ) -> Result<Job, SubmitError> {
        let now = SystemTime::now();
        self.accounts.charge_recorded(meter, 1).await?;
        let day = crate::accounts::utc_day(now);
        // A lease already wrote the charge to the store: the job is stored alone.
        let leased = meter.leased();
        let inserted = if leased {
            self.store()
                .insert_job(meter.account_id, kind, target)
                .await
        } else {
            self.store()
                .insert_job_charged(meter.account_id, kind, target, day)
                .await
        };
        match inserted {
            Ok(job) => Ok(job),
            Err(e) => {
                if leased {
                    meter.unspend(1, day);
                } else {
                    meter.refund_recorded(1, 1, day);
                }
                Err(e.into())
            }
        }
    }

    /// One of the account's jobs, if it is of `kind`.
    pub async fn job(
        &self,
        meter: &Meter,
        kind: Option<JobKind>,
        id: u64,
    ) -> Result<Option<Job>, StoreError> {
        Ok(self
            .store()
            .job(meter.account_id, id)
            .await?
            .filter(|job| kind.is_none_or(|k| job.kind == k)))
    }

    /// Cancel one of the account's jobs of `kind` (checked before anything changes).
    pub async fn cancel_job(
        &self,
        meter: &Meter,
        kind: JobKind,
        id: u64,
    ) -> Result<Option<Job>, StoreError> {
        if self.job(meter, Some(kind), id).await?.is_none() {
            return Ok(None);
        }
        self.store().cancel_job(meter.account_id, id).await
    }
}

/// A bulk request to accept, as the dialect parsed and classified it.
#[derive(Debug, Clone)]
pub struct BulkSubmission {
    /// The format results are rendered in by default (the dialect's name for it).
    pub format: &'static str,
    pub reverse_ip: bool,
    pub chunk_terms: u32,
    /// Distinct terms, valid and invalid.
    pub total_terms: u64,
    pub invalid_terms: u64,
    /// Valid terms, one per line: what is charged, one credit each.
    pub terms: String,
    /// Invalid terms as JSON lines `{"term","reason"}`.
    pub invalid: String,
    pub charge: u64,
}

/// Reads one accepted bulk request's stored parts, one at a time.
#[derive(Clone)]
pub struct BulkReader {
    store: Store,
    id: u64,
}

impl BulkReader {
    /// The invalid terms (JSON lines).
    pub async fn invalid(&self) -> Result<String, StoreError> {
        self.store.bulk_invalid(self.id).await
    }

    /// One chunk's results of `part` (JSON lines); `None` once swept.
    pub async fn chunk(
        &self,
        chunk: u32,
        part: crate::store::BulkPart,
    ) -> Result<Option<String>, StoreError> {
        self.store.bulk_chunk(self.id, chunk, part).await
    }
}

impl Engine {
    /// Accept a bulk request: charge it and store it with its charge, or neither. Runs on
    /// a task of its own, so a client that goes away mid-call cannot strand a charge.
    pub async fn submit_bulk(
        &self,
        meter: Arc<Meter>,
        bulk: BulkSubmission,
    ) -> Result<u64, SubmitError> {
        let store = self.store().clone();
        let accounts = self.accounts.clone();
        let work = async move {
            let now = SystemTime::now();
            accounts.charge_recorded(&meter, bulk.charge).await?;
            let day = crate::accounts::utc_day(now);
            let leased = meter.leased();
            let inserted = store
                .insert_bulk(&crate::store::NewBulk {
                    account_id: meter.account_id,
                    format: bulk.format,
                    reverse_ip: bulk.reverse_ip,
                    chunk_terms: bulk.chunk_terms,
                    total_terms: bulk.total_terms,
                    invalid_terms: bulk.invalid_terms,
                    terms: &bulk.terms,
                    invalid: &bulk.invalid,
                    charge: bulk.charge,
                    day,
                    record_charge: !leased,
                })
                .await;
            inserted.map_err(|e| {
                if leased {
                    meter.unspend(bulk.charge, day);
                } else {
                    meter.refund_recorded(bulk.charge, bulk.charge, day);
                }
                SubmitError::Store(e)
            })
        };
        tokio::spawn(work).await.map_err(|e| {
            SubmitError::Store(StoreError::Io(format!("bulk submission task failed: {e}")))
        })?
    }

    /// The account's bulk requests among `ids` (unknown and foreign ids left out).
    pub async fn bulk_statuses(
        &self,
        meter: &Meter,
        ids: &[u64],
    ) -> Result<Vec<crate::store::BulkStatus>, StoreError> {
        self.store().bulk_statuses(meter.account_id, ids).await
    }

    /// One page of the account's bulk requests and how many there are.
    pub async fn bulk_page(
        &self,
        meter: &Meter,
        offset: u64,
        per_page: u64,
        newest_first: bool,
    ) -> Result<(Vec<crate::store::BulkStatus>, u64), StoreError> {
        self.store()
            .bulk_page(meter.account_id, offset, per_page, newest_first)
            .await
    }

    /// Finish a bulk request held by `owner`: the stored outcome and the refund of failed
    /// terms' credits happen together; the account's live meter is given the credits back
    /// only once the store recorded them (so a retry after a failed write cannot refund
    /// twice). False when the lease was taken back meanwhile (nothing refunded).
    pub async fn finish_bulk(
        &self,
        job: &Job,
        owner: &str,
        message: &str,
        refund: u64,
    ) -> Result<bool, StoreError> {
        let finished = self
            .store()
            .finish_bulk(job.id, owner, job.account_id, message, refund)
            .await?;
        if finished {
            if let Some(meter) = self.accounts.meter(job.account_id) {
                meter.refund_recorded(refund, 0, 0);
            }
        }
        Ok(finished)
    }

    /// One of the account's bulk requests and a reader of its stored parts.
    pub async fn bulk_download(
        &self,
        meter: &Meter,
        id: u64,
    ) -> Result<Option<(crate::store::BulkStatus, BulkReader)>, StoreError> {
        let found = self.bulk_statuses(meter, &[id]).await?.into_iter().next();
        Ok(found.map(|status| {
            (
                status,
                BulkReader {
                    store: self.store().clone(),
                    id,
                },
            )
        }))
    }
}

/// The account's own view (the console's account page) and the operator's use cases (its
/// operator view): what the CLI's `keys` commands do, for a signed-in operator.
impl Engine {
    /// The databases serving now, and why a changed file was rejected, if one was.
    pub fn databases(&self) -> (Arc<GeoSet>, Option<String>) {
        (self.geo.snapshot(), self.geo.stale())
    }

    /// [`locate_unmetered`] on this engine's databases: the operator's own look at an
    /// address (the console's operator session), charged to no account.
    pub fn lookup_unmetered<R>(
        &self,
        ips: &[IpAddr],
        policy: LookupPolicy,
        render: impl FnOnce(Answers<'_>) -> R,
    ) -> Result<R, GeoError> {
        locate_unmetered(&self.geo, &self.local_networks, ips, policy, render)
    }

    /// The account's usage per UTC day over the last `days` days, today last, zero-filled.
    pub async fn usage_history(
        &self,
        meter: &Meter,
        days: u32,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        // Usage counted in memory is written first, so today's bar includes this instance's
        // latest answers (the same write the periodic sync makes).
        if let Err(e) = self.accounts.sync().await {
            tracing::warn!(error = %e, "usage not written before reading its history");
        }
        let today = crate::accounts::utc_day(SystemTime::now());
        let first = today - i64::from(days.max(1)) + 1;
        let stored = self.store().usage_days(meter.account_id, first).await?;
        Ok((first..=today)
            .map(|day| {
                let used = stored
                    .iter()
                    .find(|(d, _)| *d == day)
                    .map_or(0, |(_, n)| *n);
                (day, used)
            })
            .collect())
    }

    /// The account's newest jobs (network tasks and bulk requests), newest first.
    pub async fn recent_jobs(&self, meter: &Meter, limit: u32) -> Result<Vec<Job>, StoreError> {
        self.store()
            .recent_jobs(Some(meter.account_id), limit)
            .await
    }

    /// Every account's newest jobs, and how many jobs are in each kind and state.
    pub async fn job_queue(
        &self,
        limit: u32,
    ) -> Result<(Vec<Job>, Vec<(JobKind, crate::jobs::JobStatus, u64)>), StoreError> {
        Ok((
            self.store().recent_jobs(None, limit).await?,
            self.store().job_counts().await?,
        ))
    }

    /// Every account and every key (hashes and shown prefixes only).
    pub async fn accounts_and_keys(
        &self,
    ) -> Result<(Vec<crate::store::AccountRow>, Vec<crate::store::KeyRow>), StoreError> {
        Ok((self.store().accounts().await?, self.store().keys().await?))
    }

    /// Create an account with one key; the key is in the answer and nowhere else.
    pub async fn create_account(
        &self,
        plan: &str,
        credits: Option<u64>,
        daily_quota: Option<u64>,
        label: &str,
    ) -> Result<crate::accounts::NewKey, AccessError> {
        let key = self
            .accounts
            .create_account(plan, credits, daily_quota, label)
            .await?;
        self.accounts.sync().await?;
        Ok(key)
    }

    /// Revoke a key by its shown prefix (or whole); how many live keys it revoked.
    pub async fn revoke_key(&self, key_or_prefix: &str) -> Result<u64, AccessError> {
        let revoked = crate::accounts::revoke_key(self.store(), key_or_prefix).await?;
        self.accounts.sync().await?;
        Ok(revoked)
    }

    /// Change an account's plan and balance (`Some(None)`: unlimited credits). The plan
    /// must be one of the configured plans.
    pub async fn update_account(
        &self,
        account_id: u64,
        plan: Option<&str>,
        credits: Option<Option<u64>>,
    ) -> Result<(), AccessError> {
        if let Some(plan) = plan {
            if self.accounts.plans().get(plan).is_none() {
                return Err(AccessError::Invalid(format!(
                    "unknown plan {plan:?} (plans: {})",
                    self.accounts.plans().names().join(", ")
                )));
            }
        }
        self.store()
            .update_account(account_id, plan, credits, None)
            .await?;
        self.accounts.sync().await?;
        Ok(())
    }
}

/// An unmetered lookup for the operator's own tools (`ipintel lookup`): the same judging
/// of reserved ranges, local networks and misses as every metered dialect, with no account.
pub fn locate_unmetered<R>(
    geo: &GeoService,
    local_networks: &LocalNetworks,
    ips: &[IpAddr],
    policy: LookupPolicy,
    render: impl FnOnce(Answers<'_>) -> R,
) -> Result<R, GeoError> {
    let set = geo.snapshot();
    let located = judge(&set, local_networks, &NoObserver, ips, policy)?;
    Ok(render(Answers {
        set: &set,
        located: &located,
        remaining: Remaining {
            credits: None,
            today: None,
        },
    }))
}

/// Judge every address against one snapshot by `policy`, counting outcomes.
fn judge<'s>(
    set: &'s GeoSet,
    local_networks: &'s LocalNetworks,
    observer: &dyn Observer,
    ips: &[IpAddr],
    policy: LookupPolicy,
) -> Result<Vec<Located<'s>>, GeoError> {
    if set.dbs.is_empty() {
        return Err(GeoError::NoDatabases);
    }
    let mut located = Vec::with_capacity(ips.len());
    for &ip in ips {
        let label = reserved::reserved_label(ip);
        if label.is_some() && policy.reserved == ReservedPolicy::Refuse {
            observer.lookup(LookupOutcome::Reserved);
            return Err(GeoError::Reserved(ip));
        }
        let entry = Located {
            ip,
            answer: set.locate_as(ip, policy.places)?,
            reserved: label,
            local: local_networks.find(ip),
        };
        let outcome = match (label, entry.is_missing()) {
            (Some(_), _) => LookupOutcome::Reserved,
            (None, true) => LookupOutcome::NotFound,
            (None, false) => LookupOutcome::Found,
        };
        observer.lookup(outcome);
        if entry.is_missing() {
            match policy.missing {
                MissingPolicy::Refuse => return Err(GeoError::NotFound(ip)),
                MissingPolicy::Skip => continue,
                MissingPolicy::Answer => {}
            }
        }
        located.push(entry);
    }
    if located.is_empty() && policy.missing == MissingPolicy::Skip {
        return Err(GeoError::NotFound(
            ips.first().copied().ok_or(GeoError::NoDatabases)?,
        ));
    }
    Ok(located)
}
