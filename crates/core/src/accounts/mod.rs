//! Keys, accounts and metering: one model behind every dialect.
//!
//! A key identifies an account; the account's plan says which services it may call and
//! its limits. The ledger lives in memory so the hot path costs a hash and an uncontended
//! lock: each account's meter checks and charges under one mutex, so concurrent requests
//! can never spend the same credit twice. Usage is written to the store as deltas by
//! `Accounts::sync`, which the server calls every `usage_sync_ms` (500 by default); the same call notices
//! changes other processes made (the `revision` counter) and reloads keys and limits.
//!
//! A crash loses at most the usage of the last sync interval (it is under-counted, never
//! double-counted).
//!
//! When several instances share the store (PostgreSQL, `Backend::shared`), limited
//! credits and daily quotas are spent from *leases*: blocks taken from the store in one
//! transaction ordered with every other instance's (`Store::take_lease`), counted as used
//! there at once, and spent from memory. A block is at most a sixteenth of what is left (and
//! one unit once fewer than 64 are left), so no instance can answer more than the balance,
//! and a SIGKILLed instance strands at most its unspent block, counted as spent (the
//! operator's favour). Unspent leases go back at a clean shutdown and when an account goes
//! idle (docs/decisions.md).

mod plans;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

pub use plans::{Plan, Plans, Service, Tier};

use crate::store::{AccountRow, RevokeTarget, Store, StoreError, UsageDelta};
use crate::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("no such key")]
    UnknownKey,
    #[error("the key does not belong to account {0}")]
    WrongAccount(u64),
    #[error("the plan {plan} does not include the {service} service")]
    NotPermitted { plan: String, service: Service },
    #[error("the account has no credits left")]
    InsufficientFunds,
    #[error("the account's daily quota is used up")]
    QuotaExceeded,
    /// The meter must lease more from the store first (never leaves `Accounts`).
    #[error("the meter needs a lease from the store")]
    LeaseNeeded { credits: u64, day_queries: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

impl AccessError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AccessError::UnknownKey | AccessError::WrongAccount(_) => ErrorKind::Unauthenticated,
            AccessError::NotPermitted { .. } => ErrorKind::PermissionDenied,
            AccessError::InsufficientFunds => ErrorKind::InsufficientFunds,
            AccessError::QuotaExceeded => ErrorKind::QuotaExceeded,
            AccessError::Store(e) => e.kind(),
            AccessError::Invalid(_) => ErrorKind::InvalidInput,
            AccessError::LeaseNeeded { .. } => ErrorKind::Unavailable,
        }
    }
}

/// How keys look: a fixed prefix and 36 base62 characters (214 bits).
pub const KEY_PREFIX: &str = "ipk_";
const KEY_BODY_LEN: usize = 36;
/// Characters of a key kept in clear in the store, to recognise it in listings.
pub const KEY_SHOWN_LEN: usize = 12;

/// Make a new random key.
pub fn generate_key() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let rng = SystemRandom::new();
    let mut key = String::with_capacity(KEY_PREFIX.len() + KEY_BODY_LEN);
    key.push_str(KEY_PREFIX);
    while key.len() < KEY_PREFIX.len() + KEY_BODY_LEN {
        let mut byte = [0u8; 1];
        rng.fill(&mut byte).expect("system random source");
        // Rejection sampling keeps the alphabet uniform (248 = 4 * 62).
        if byte[0] < 248 {
            key.push(ALPHABET[(byte[0] % 62) as usize] as char);
        }
    }
    key
}

/// What the store keeps of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// Days since 1970-01-01 UTC: the unit of daily quotas.
pub fn utc_day(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0)
}

/// What a caller presents: a key, and for MaxMind's Basic auth the account id it claims.
#[derive(Debug, Clone, Copy)]
pub struct Credential<'a> {
    pub account_id: Option<u64>,
    pub key: &'a str,
}

/// Limits and counters of one account. Counters include usage not yet written to the store.
#[derive(Debug)]
struct MeterState {
    plan: Arc<Plan>,
    /// `None`: unlimited.
    credits_granted: Option<u64>,
    credits_used: u64,
    /// Part of `credits_used` already in the store.
    credits_flushed: u64,
    daily_quota: Option<u64>,
    day: i64,
    day_used: u64,
    day_flushed: u64,
    /// Limits are spent from leases taken from a shared store (see the module docs).
    leased: bool,
    /// Credits leased and not spent yet (already counted in `credits_used`).
    credit_lease: u64,
    /// Queries of `day` leased and not spent yet (already counted in `day_used`).
    day_lease: u64,
    /// Charged since the last sync: an idle account's leases go back.
    busy: bool,
    /// Credits the last lease brought: a top-up starts when a quarter of it is left.
    last_lease: u64,
}

impl MeterState {
    // On a shared store every charge is paid from leases, limited or not: usage is then
    // written by the lease alone, never also behind (an unlimited account's lease is its
    // usage counter, taken in blocks).
    fn credits_leased(&self) -> bool {
        self.leased
    }

    fn day_leased(&self) -> bool {
        self.leased
    }
}

/// One account's meter, shared by all its keys.
#[derive(Debug)]
pub struct Meter {
    pub account_id: u64,
    state: Mutex<MeterState>,
    /// One lease request at a time per account and instance: requests that find the
    /// lease short wait for the one refill instead of each asking the store (64 at once
    /// queued on the account's row lock gave a p99 of 63 ms).
    refill: tokio::sync::Mutex<()>,
    /// A background top-up is on its way (see `Accounts::top_up`).
    topping_up: std::sync::atomic::AtomicBool,
}

/// What is left after a charge; `None` fields are unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    pub credits: Option<u64>,
    pub today: Option<u64>,
}

impl Remaining {
    /// The smaller of the two limits: what MaxMind calls `queries_remaining`.
    pub fn queries(&self) -> Option<u64> {
        match (self.credits, self.today) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Meter {
    fn lock(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn plan(&self) -> Arc<Plan> {
        self.lock().plan.clone()
    }

    /// Queries per UTC day; `None` is unlimited.
    pub fn daily_quota(&self) -> Option<u64> {
        self.lock().daily_quota
    }

    fn roll_day(state: &mut MeterState, today: i64) {
        if state.day != today {
            // Unflushed usage of the old day is dropped from the day counter only; the sync
            // writes day rows by the day they were counted on, see `Accounts::sync`. A lease
            // of the old day's queries is of no use today: it stays counted on its day.
            state.day = today;
            state.day_used = 0;
            state.day_flushed = 0;
            state.day_lease = 0;
        }
    }

    /// Whether `cost` could be charged now (a cheap early refusal; `charge` decides).
    pub fn check(&self, cost: u64, now: SystemTime) -> Result<(), AccessError> {
        let mut state = self.lock();
        Self::roll_day(&mut state, utc_day(now));
        match Self::admit(&state, cost) {
            // A lease may still be had: the charge finds out.
            Err(AccessError::LeaseNeeded { .. }) => Ok(()),
            other => other,
        }
    }

    fn admit(state: &MeterState, cost: u64) -> Result<(), AccessError> {
        if state.leased {
            let credits = cost.saturating_sub(state.credit_lease);
            let day_queries = cost.saturating_sub(state.day_lease);
            if credits > 0 || day_queries > 0 {
                return Err(AccessError::LeaseNeeded {
                    credits,
                    day_queries,
                });
            }
            return Ok(());
        }
        let (credits, day_queries) = (0, 0);
        if let Some(granted) = state.credits_granted {
            if state.credits_used.saturating_add(cost) > granted {
                return Err(AccessError::InsufficientFunds);
            }
        }
        if let Some(quota) = state.daily_quota {
            if state.day_used.saturating_add(cost) > quota {
                return Err(AccessError::QuotaExceeded);
            }
        }
        if credits > 0 || day_queries > 0 {
            return Err(AccessError::LeaseNeeded {
                credits,
                day_queries,
            });
        }
        Ok(())
    }

    /// Count `cost` as spent. `recorded`: the caller writes it to the store itself (only
    /// where no lease pays for it).
    fn spend(state: &mut MeterState, cost: u64, recorded: bool) {
        state.busy = true;
        if state.credits_leased() {
            state.credit_lease -= cost;
        } else {
            state.credits_used += cost;
            if recorded {
                state.credits_flushed += cost;
            }
        }
        if state.day_leased() {
            state.day_lease -= cost;
        } else {
            state.day_used += cost;
            if recorded {
                state.day_flushed += cost;
            }
        }
    }

    fn remaining_of(state: &MeterState) -> Remaining {
        Remaining {
            credits: state
                .credits_granted
                .map(|g| (g + state.credit_lease).saturating_sub(state.credits_used)),
            today: state
                .daily_quota
                .map(|q| (q + state.day_lease).saturating_sub(state.day_used)),
        }
    }

    /// Charge `cost` queries and credits, or refuse without charging anything. On a shared
    /// store this fails with `LeaseNeeded` when the lease is short: charge through
    /// [`Accounts::charge`], which takes one and tries again.
    pub fn charge(&self, cost: u64, now: SystemTime) -> Result<Remaining, AccessError> {
        let mut state = self.lock();
        Self::roll_day(&mut state, utc_day(now));
        Self::admit(&state, cost)?;
        Self::spend(&mut state, cost, false);
        Ok(Self::remaining_of(&state))
    }

    /// Charge `cost` like `charge`, for a caller that writes the charge to the store itself,
    /// in the transaction that records what is paid for (a bulk request): it counts as
    /// already written, so the write-behind never writes it again. If that transaction
    /// fails, undo with `refund_recorded(cost, cost, day)`. On a shared store the lease pays
    /// instead and the caller writes nothing (see [`Accounts::charge_recorded`]).
    pub fn charge_recorded(&self, cost: u64, now: SystemTime) -> Result<Remaining, AccessError> {
        let mut state = self.lock();
        Self::roll_day(&mut state, utc_day(now));
        Self::admit(&state, cost)?;
        Self::spend(&mut state, cost, true);
        Ok(Self::remaining_of(&state))
    }

    /// Whether charges are paid from leases (the caller of `charge_recorded` must then not
    /// write the charge again).
    pub fn leased(&self) -> bool {
        self.lock().leased
    }

    /// Give back `credits` (and `day_queries` counted on `day`) that the caller has already
    /// taken out of the store's counters.
    pub fn refund_recorded(&self, credits: u64, day_queries: u64, day: i64) {
        let mut state = self.lock();
        state.credits_used = state.credits_used.saturating_sub(credits);
        state.credits_flushed = state.credits_flushed.saturating_sub(credits);
        if state.day == day {
            state.day_used = state.day_used.saturating_sub(day_queries);
            state.day_flushed = state.day_flushed.saturating_sub(day_queries);
        }
    }

    /// Undo a `charge_recorded` whose store write failed, on a shared store: what a lease
    /// paid goes back to the lease (it is still counted in the store), the rest is uncounted.
    pub fn unspend(&self, cost: u64, day: i64) {
        let mut state = self.lock();
        if state.credits_leased() {
            state.credit_lease += cost;
        } else {
            state.credits_used = state.credits_used.saturating_sub(cost);
        }
        if state.day == day {
            if state.day_leased() {
                state.day_lease += cost;
            } else {
                state.day_used = state.day_used.saturating_sub(cost);
            }
        }
    }

    /// Whether the lease is running low and nobody is topping it up yet; if so, the caller
    /// is now the one to (`Accounts::top_up`).
    pub fn needs_top_up(&self) -> bool {
        use std::sync::atomic::Ordering;
        {
            let state = self.lock();
            let low = state.last_lease / 4;
            if !state.leased || (state.credit_lease > low && state.day_lease > low) {
                return false;
            }
        }
        self.topping_up
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Add what the store granted to the leases, and take the store's usage (every
    /// instance's) as this meter's, so what it shows as left is the store's balance.
    fn add_lease(&self, grant: &crate::store::LeaseGrant, day: i64) {
        let mut state = self.lock();
        if grant.refused.is_none() {
            state.last_lease = grant.credits.max(grant.day_queries);
        }
        state.credit_lease += grant.credits;
        state.credits_used = grant.credits_used.max(state.credit_lease);
        state.credits_flushed = state.credits_used;
        if state.day == day {
            state.day_lease += grant.day_queries;
            state.day_used = grant.day_used.max(state.day_lease);
            state.day_flushed = state.day_used;
        }
    }

    /// Give back leased credits and queries the store could not take back: spent here.
    fn keep_lease(&self, credits: u64, day_queries: u64, day: i64) {
        let mut state = self.lock();
        state.credit_lease += credits;
        state.credits_used += credits;
        state.credits_flushed += credits;
        if state.day == day {
            state.day_lease += day_queries;
            state.day_used += day_queries;
            state.day_flushed += day_queries;
        }
    }

    /// Take the unspent leases out (to give back): credits, and queries of the day.
    fn take_leases(&self) -> (u64, i64, u64) {
        let mut state = self.lock();
        let (credits, day_queries) = (state.credit_lease, state.day_lease);
        state.credit_lease = 0;
        state.credits_used -= credits;
        state.credits_flushed -= credits;
        state.day_lease = 0;
        state.day_used -= day_queries;
        state.day_flushed -= day_queries;
        (credits, state.day, day_queries)
    }

    /// What is left, without charging.
    pub fn remaining(&self, now: SystemTime) -> Remaining {
        let mut state = self.lock();
        Self::roll_day(&mut state, utc_day(now));
        Self::remaining_of(&state)
    }
}

/// The in-memory view of keys and meters, replaced whole when the store changes.
#[derive(Debug, Default)]
struct Ledger {
    revision: i64,
    /// Live (unrevoked) keys by SHA-256.
    keys: HashMap<[u8; 32], Arc<Meter>>,
    meters: HashMap<u64, Arc<Meter>>,
}

/// The key model and metering service.
pub struct Accounts {
    store: Store,
    plans: Arc<Plans>,
    ledger: ArcSwap<Ledger>,
    /// Serialises `sync` so flushes and reloads never interleave.
    sync_lock: tokio::sync::Mutex<()>,
    /// When an unknown key last made the ledger look at the store (see `authenticate`).
    last_unknown_refresh: Mutex<Option<std::time::Instant>>,
}

/// An unknown key makes the ledger look at the store at most this often: a key created a
/// moment ago works at once, and a flood of wrong keys costs at most 50 small reads a second.
const UNKNOWN_KEY_REFRESH: std::time::Duration = std::time::Duration::from_millis(20);

/// The most a lease takes beyond what is needed now (see `LeaseAsk::grant`).
const LEASE_BLOCK: u64 = 1000;

/// A new account's id and its key, shown once.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub account_id: u64,
    pub key: String,
}

impl Accounts {
    /// Build the ledger from the store.
    pub async fn load(store: Store, plans: Plans) -> Result<Accounts, AccessError> {
        let accounts = Accounts {
            store,
            plans: Arc::new(plans),
            ledger: ArcSwap::from_pointee(Ledger::default()),
            sync_lock: tokio::sync::Mutex::new(()),
            last_unknown_refresh: Mutex::new(None),
        };
        accounts.reload(SystemTime::now()).await?;
        Ok(accounts)
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Find the meter of a live key, checking the claimed account and the service. A key
    /// the ledger does not know is looked for in the store first (rate-limited), so a key
    /// `ipintel keys create` made a moment ago works on the very next request.
    pub async fn authenticate(
        &self,
        credential: Credential<'_>,
        service: Service,
    ) -> Result<Arc<Meter>, AccessError> {
        match self.authenticate_known(credential, service) {
            Err(AccessError::UnknownKey) => {
                // Boxed: the refresh's future is large (store reads, a reload), and inline it
                // would make every request's future that large, costing a copy per request.
                Box::pin(self.refresh_for_unknown_key()).await;
                // Looked up again whatever the refresh did: the periodic sync may have
                // reloaded the keys while this call waited for its turn.
                self.authenticate_known(credential, service)
            }
            other => other,
        }
    }

    /// Make sure the ledger has seen the store as it was when this call began: wait for the
    /// next refresh slot (at most `UNKNOWN_KEY_REFRESH`), then look, unless another caller
    /// looked after this one arrived.
    async fn refresh_for_unknown_key(&self) {
        let arrived = std::time::Instant::now();
        let last_refresh = || {
            self.last_unknown_refresh
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        };
        let next_slot = last_refresh().map(|at| at + UNKNOWN_KEY_REFRESH);
        if let Some(slot) = next_slot.filter(|slot| *slot > arrived) {
            tokio::time::sleep_until(slot.into()).await;
        }
        let _guard = self.sync_lock.lock().await;
        {
            let mut last = last_refresh();
            if last.is_some_and(|at| at >= arrived) {
                // Someone looked at the store after we arrived: their view will do.
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        match self.store.revision().await {
            Ok(revision) if revision == self.ledger.load().revision => {}
            Ok(_) => {
                if let Err(e) = self.reload_locked(SystemTime::now()).await {
                    tracing::warn!(error = %e, "cannot reload keys");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot check the store for new keys"),
        }
    }

    /// `authenticate` against the keys in memory only.
    pub fn authenticate_known(
        &self,
        credential: Credential<'_>,
        service: Service,
    ) -> Result<Arc<Meter>, AccessError> {
        let ledger = self.ledger.load();
        let meter = ledger
            .keys
            .get(&hash_key(credential.key))
            .ok_or(AccessError::UnknownKey)?;
        if let Some(claimed) = credential.account_id {
            if claimed != meter.account_id {
                return Err(AccessError::WrongAccount(claimed));
            }
        }
        let plan = meter.plan();
        if !plan.services.contains(&service) {
            return Err(AccessError::NotPermitted {
                plan: plan.name.clone(),
                service,
            });
        }
        Ok(meter.clone())
    }

    /// Create an account on `plan` with one key (CLI and first start).
    pub async fn create_account(
        &self,
        plan: &str,
        credits: Option<u64>,
        daily_quota: Option<u64>,
        label: &str,
    ) -> Result<NewKey, AccessError> {
        create_account(&self.store, &self.plans, plan, credits, daily_quota, label).await
    }

    /// Charge `cost` to `meter`, taking a lease from the store first when the meter
    /// spends from leases and its lease is short.
    pub async fn charge(&self, meter: &Meter, cost: u64) -> Result<Remaining, AccessError> {
        self.charge_with(meter, cost, false).await
    }

    /// `Meter::charge_recorded`, taking a lease first when needed. On a shared store the
    /// lease has already written the charge: the caller records nothing (`Meter::leased`).
    pub async fn charge_recorded(
        &self,
        meter: &Meter,
        cost: u64,
    ) -> Result<Remaining, AccessError> {
        self.charge_with(meter, cost, true).await
    }

    async fn charge_with(
        &self,
        meter: &Meter,
        cost: u64,
        recorded: bool,
    ) -> Result<Remaining, AccessError> {
        // Other requests may spend a lease this one took before it charges: each round
        // takes what is short again. A handful of rounds ends it (a lease is never smaller
        // than the need); past them the account is too contended to answer now.
        let attempt = |now| {
            if recorded {
                meter.charge_recorded(cost, now)
            } else {
                meter.charge(cost, now)
            }
        };
        for _ in 0..16 {
            match attempt(SystemTime::now()) {
                Err(AccessError::LeaseNeeded { .. }) => {}
                other => return other,
            }
            let _refill = meter.refill.lock().await;
            // Whoever held the turn may have refilled enough for this charge too.
            let now = SystemTime::now();
            match attempt(now) {
                Err(AccessError::LeaseNeeded {
                    credits,
                    day_queries,
                }) => self.lease(meter, credits, day_queries, now).await?,
                other => return other,
            }
        }
        Err(AccessError::Store(StoreError::Unavailable(
            "the account's credits are contended; try again".into(),
        )))
    }

    /// Take more lease for `account_id` in the background, before the one in memory runs
    /// out, so requests rarely wait for the store (call when `Meter::needs_top_up`). A
    /// refusal (the balance is spent) changes nothing: the next charge finds out.
    pub fn top_up(self: &Arc<Self>, account_id: u64) {
        let accounts = self.clone();
        tokio::spawn(async move {
            let Some(meter) = accounts.meter(account_id) else {
                return;
            };
            {
                let _refill = meter.refill.lock().await;
                let now = SystemTime::now();
                if let Err(e) = accounts.lease(&meter, 1, 1, now).await {
                    if !matches!(
                        e,
                        AccessError::InsufficientFunds | AccessError::QuotaExceeded
                    ) {
                        tracing::warn!(account = account_id, error = %e, "cannot top up a credit lease");
                    }
                }
            }
            meter
                .topping_up
                .store(false, std::sync::atomic::Ordering::Release);
        });
    }

    /// Take a lease of at least `credits` and `day_queries` for `meter` from the store.
    async fn lease(
        &self,
        meter: &Meter,
        credits: u64,
        day_queries: u64,
        now: SystemTime,
    ) -> Result<(), AccessError> {
        let day = utc_day(now);
        let ask = crate::store::LeaseAsk {
            account_id: meter.account_id,
            credits,
            day_queries,
            day,
            day_quota: meter.daily_quota(),
            block: LEASE_BLOCK,
        };
        let grant = self.store.take_lease(&ask).await?;
        if grant.refused.is_some() {
            // Nothing taken; still, the store's usage is news worth showing.
            meter.add_lease(&grant, day);
        }
        match grant.refused {
            Some(crate::store::LeaseRefusal::Credits) => Err(AccessError::InsufficientFunds),
            Some(crate::store::LeaseRefusal::Quota) => Err(AccessError::QuotaExceeded),
            None => {
                meter.add_lease(&grant, day);
                Ok(())
            }
        }
    }

    /// Give every unspent lease back to the store (a clean shutdown), or only those of
    /// accounts idle since the last call (`idle_only`), so credits leased by an instance
    /// that stopped being asked are spendable by the others.
    pub async fn return_leases(&self, idle_only: bool) -> Result<(), AccessError> {
        let ledger = self.ledger.load_full();
        for meter in ledger.meters.values() {
            {
                let mut state = meter.lock();
                if !state.leased || (state.credit_lease == 0 && state.day_lease == 0) {
                    continue;
                }
                if idle_only && std::mem::take(&mut state.busy) {
                    continue;
                }
            }
            let (credits, day, day_queries) = meter.take_leases();
            if let Err(e) = self
                .store
                .return_lease(meter.account_id, credits, day, day_queries)
                .await
            {
                // Not given back: spend it here after all rather than strand it.
                meter.keep_lease(credits, day_queries, day);
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Write usage counted since the last sync, then reload if the store changed.
    pub async fn sync(&self) -> Result<(), AccessError> {
        let _guard = self.sync_lock.lock().await;
        let now = SystemTime::now();
        self.flush_locked().await?;
        self.return_leases(true).await?;
        let revision = self.store.revision().await?;
        if revision != self.ledger.load().revision {
            self.reload_locked(now).await?;
        }
        Ok(())
    }

    async fn flush_locked(&self) -> Result<(), AccessError> {
        let ledger = self.ledger.load_full();
        let mut deltas = Vec::new();
        for meter in ledger.meters.values() {
            let state = meter.lock();
            let credits = state.credits_used - state.credits_flushed;
            let day_queries = state.day_used - state.day_flushed;
            if credits > 0 || day_queries > 0 {
                deltas.push(UsageDelta {
                    account_id: meter.account_id,
                    credits,
                    day: state.day,
                    day_queries,
                });
            }
        }
        self.store.add_usage(&deltas).await?;
        for delta in &deltas {
            if let Some(meter) = ledger.meters.get(&delta.account_id) {
                let mut state = meter.lock();
                state.credits_flushed += delta.credits;
                if state.day == delta.day {
                    state.day_flushed += delta.day_queries;
                }
            }
        }
        Ok(())
    }

    async fn reload(&self, now: SystemTime) -> Result<(), AccessError> {
        let _guard = self.sync_lock.lock().await;
        self.reload_locked(now).await
    }

    /// Rebuild keys and limits from the store, keeping each account's meter (and its
    /// unflushed usage) so a reload never forgets or repeats a charge.
    async fn reload_locked(&self, now: SystemTime) -> Result<(), AccessError> {
        let today = utc_day(now);
        let rows = self.store.ledger_rows(today).await?;
        let old = self.ledger.load_full();
        let day_usage: HashMap<u64, u64> = rows.day_usage.iter().copied().collect();
        let mut meters = HashMap::with_capacity(rows.accounts.len());
        for row in &rows.accounts {
            let Some(plan) = self.plans.get(&row.plan) else {
                tracing::warn!(account = row.id, plan = %row.plan, "account on an unknown plan; its keys are disabled");
                continue;
            };
            let plan = Arc::new(plan.clone());
            let stored_day = day_usage.get(&row.id).copied().unwrap_or(0);
            let meter = match old.meters.get(&row.id) {
                Some(meter) => {
                    let mut state = meter.lock();
                    apply_limits(&mut state, row, plan);
                    // Anything the store holds beyond what this process wrote came from
                    // elsewhere (another process): add it to the counters.
                    let foreign = row.credits_used.saturating_sub(state.credits_flushed);
                    state.credits_used += foreign;
                    state.credits_flushed += foreign;
                    Meter::roll_day(&mut state, today);
                    let foreign_day = stored_day.saturating_sub(state.day_flushed);
                    state.day_used += foreign_day;
                    state.day_flushed += foreign_day;
                    drop(state);
                    meter.clone()
                }
                None => {
                    let mut state = MeterState {
                        plan: plan.clone(),
                        credits_granted: None,
                        credits_used: row.credits_used,
                        credits_flushed: row.credits_used,
                        daily_quota: None,
                        day: today,
                        day_used: stored_day,
                        day_flushed: stored_day,
                        leased: self.store.shared(),
                        credit_lease: 0,
                        day_lease: 0,
                        busy: false,
                        last_lease: 0,
                    };
                    apply_limits(&mut state, row, plan);
                    Arc::new(Meter {
                        account_id: row.id,
                        state: Mutex::new(state),
                        refill: tokio::sync::Mutex::new(()),
                        topping_up: std::sync::atomic::AtomicBool::new(false),
                    })
                }
            };
            meters.insert(row.id, meter);
        }
        let mut keys = HashMap::with_capacity(rows.keys.len());
        for key in rows.keys.iter().filter(|k| k.revoked_at.is_none()) {
            let (Ok(hash), Some(meter)) = (
                <[u8; 32]>::try_from(key.key_hash.as_slice()),
                meters.get(&key.account_id),
            ) else {
                continue;
            };
            keys.insert(hash, meter.clone());
        }
        self.ledger.store(Arc::new(Ledger {
            revision: rows.revision,
            keys,
            meters,
        }));
        Ok(())
    }

    /// An account's meter, if the account is known.
    pub fn meter(&self, account_id: u64) -> Option<Arc<Meter>> {
        self.ledger.load().meters.get(&account_id).cloned()
    }

    /// Number of live keys (for readiness and metrics).
    pub fn n_live_keys(&self) -> usize {
        self.ledger.load().keys.len()
    }
}

fn apply_limits(state: &mut MeterState, row: &AccountRow, plan: Arc<Plan>) {
    state.credits_granted = row.credits_granted;
    state.daily_quota = row.daily_quota.or(plan.daily_quota);
    state.plan = plan;
}

/// Create an account with one key directly in the store (the CLI does this with no
/// server running; a running server picks it up through the revision counter).
pub async fn create_account(
    store: &Store,
    plans: &Plans,
    plan: &str,
    credits: Option<u64>,
    daily_quota: Option<u64>,
    label: &str,
) -> Result<NewKey, AccessError> {
    let plan_rules = plans.get(plan).ok_or_else(|| {
        AccessError::Invalid(format!(
            "unknown plan {plan:?} (plans: {})",
            plans.names().join(", ")
        ))
    })?;
    let key = generate_key();
    let account_id = store
        .create_account(
            plan,
            credits.or(plan_rules.credits),
            daily_quota,
            label,
            &hash_key(&key),
            &key[..KEY_SHOWN_LEN],
        )
        .await?;
    Ok(NewKey { account_id, key })
}

/// Add a key to an account.
pub async fn add_key(store: &Store, account_id: u64) -> Result<NewKey, AccessError> {
    let key = generate_key();
    store
        .add_key(account_id, &hash_key(&key), &key[..KEY_SHOWN_LEN])
        .await?;
    Ok(NewKey { account_id, key })
}

/// Revoke a key given whole or by its shown prefix.
pub async fn revoke_key(store: &Store, key_or_prefix: &str) -> Result<u64, AccessError> {
    if key_or_prefix.len() > KEY_SHOWN_LEN {
        Ok(store
            .revoke(RevokeTarget::KeyHash(&hash_key(key_or_prefix)))
            .await?)
    } else {
        Ok(store.revoke(RevokeTarget::KeyPrefix(key_or_prefix)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_well_formed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), KEY_PREFIX.len() + KEY_BODY_LEN);
        assert!(a.starts_with(KEY_PREFIX));
        assert!(a[KEY_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), hash_key(&b));
    }

    #[test]
    fn remaining_queries_is_the_tighter_limit() {
        let r = Remaining {
            credits: Some(5),
            today: Some(3),
        };
        assert_eq!(r.queries(), Some(3));
        let r = Remaining {
            credits: None,
            today: Some(3),
        };
        assert_eq!(r.queries(), Some(3));
        let r = Remaining {
            credits: None,
            today: None,
        };
        assert_eq!(r.queries(), None);
    }
}
