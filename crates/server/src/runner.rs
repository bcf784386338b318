//! The one place jobs execute. It claims jobs from the store under a lease, runs their
//! bodies (plain functions over `net`) with a timeout, and records the outcome; at start it
//! takes back work a dead process left behind, and it deletes finished jobs past retention.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipintel_core::jobs::{Job, JobKind, JobStatus};
use ipintel_core::store::{now_unix, ClaimSkip};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::net::{dns, portscan, whois};
use crate::state::AppState;

/// A job body's outcome, or why it failed.
type Outcome = Result<TaskOutcome, String>;

use crate::net::TaskOutcome;

/// How a finished task's outcome is stored: the QRadar message and the `/v1` result, each
/// rendered by its dialect. The app hands these in; the runner names no dialect.
#[derive(Clone, Copy)]
pub struct TaskRender {
    pub message: fn(&crate::net::TaskOutcome) -> String,
    pub result: fn(&crate::net::TaskOutcome) -> String,
}

/// This process's name in the store's leases: `ipintel@HOST:PID:START`.
pub fn instance_name() -> String {
    lease::own_name()
}

pub async fn run(state: AppState, render: TaskRender, cancel: CancellationToken) {
    let owner = lease::own_name();
    let store = state.accounts.store().clone();
    // Leases of processes on this host that are gone (a crash, a kill) are taken back at
    // once; other hosts' leases, and live processes' here, only once they expire.
    let dead: Vec<String> = match store.lease_owners().await {
        Ok(owners) => owners.into_iter().filter(|o| lease::is_dead(o)).collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read job leases");
            Vec::new()
        }
    };
    match store.interrupt_abandoned(now_unix(), &dead).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            n,
            "jobs interrupted by a previous shutdown or crash will resume"
        ),
        Err(e) => tracing::error!(error = %e, "cannot recover interrupted jobs"),
    }
    let config = state.config.tasks.clone();
    let workers = Arc::new(Semaphore::new(config.workers));
    let limits = Arc::new(Limits {
        per_account: config.per_account,
        accounts: Mutex::new(HashMap::new()),
        port_scans: Arc::new(Semaphore::new(config.port_scan.at_once)),
        bulk: Arc::new(Semaphore::new(state.config.bulk.at_once)),
        bulk_jobs: Arc::new(Mutex::new(Vec::new())),
    });
    let lease = config.timeout_secs as i64 + 30;
    let housekeeping_every = Duration::from_secs(config.retention_secs.clamp(1, 60));
    let mut housekeeping = tokio::time::interval(housekeeping_every);
    // Leases are looked at more often than retention: a dead instance's work (another
    // process on this host) is taken over within seconds.
    let mut lease_check = tokio::time::interval(LEASE_CHECK);
    loop {
        // Claim while there are free workers and runnable jobs. Jobs of accounts (and kinds)
        // at their limit are passed over, so a claimed job runs at once and never holds a
        // worker while it waits: one busy account cannot starve the others.
        loop {
            let Ok(permit) = workers.clone().try_acquire_owned() else {
                break;
            };
            let skip = limits.saturated();
            match store.claim_job(&owner, now_unix() + lease, &skip).await {
                Ok(Some(job)) => {
                    let Some(turn) = limits.take(&job) else {
                        // Cannot happen: only this loop takes turns, and it skipped the full.
                        tracing::error!(job = job.id, "claimed a job without a free turn");
                        continue;
                    };
                    let (state, owner) = (state.clone(), owner.clone());
                    let working = (job.kind == JobKind::Bulk)
                        .then(|| WorkingOn::new(&limits.bulk_jobs, job.id));
                    tokio::spawn(async move {
                        execute(&state, render, &owner, job).await;
                        drop(working);
                        drop(turn);
                        drop(permit);
                        state.jobs_wakeup.notify_one();
                    });
                }
                Ok(None) => {
                    // Nothing to claim: help with another instance's bulk request.
                    help_bulk(&state, &owner, &limits, permit).await;
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "claiming a job failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = state.jobs_wakeup.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = housekeeping.tick() => {
                let now = now_unix();
                let bulk_before = now - state.config.bulk.retention_secs as i64;
                if let Err(e) = store.sweep_jobs(now - config.retention_secs as i64, bulk_before).await {
                    tracing::error!(error = %e, "retention sweep failed");
                }
            }
            _ = lease_check.tick() => {
                let now = now_unix();
                // Instances on this host that died (SIGKILL) give their work back at once;
                // other hosts' at their leases' expiry.
                let dead: Vec<String> = match store.lease_owners().await {
                    Ok(owners) => owners.into_iter().filter(|o| lease::is_dead(o)).collect(),
                    Err(_) => Vec::new(),
                };
                if let Err(e) = store.interrupt_abandoned(now, &dead).await {
                    tracing::error!(error = %e, "lease check failed");
                }
            }
        }
    }
}

/// How often expired leases, and those of processes on this host that died, are taken back.
const LEASE_CHECK: Duration = Duration::from_secs(3);

/// A lease holder's write, tried again while the store cannot take writes now (a full
/// disk, a busy lock): the work is done and leased, so it is recorded as soon as the store
/// recovers instead of waiting out its lease (minutes for a bulk request). Other errors,
/// and a store still unwritable after [`WRITE_RETRY_FOR`], are returned.
async fn until_writable<T, F, Fut>(mut write: F) -> Result<T, ipintel_core::store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ipintel_core::store::StoreError>>,
{
    let deadline = tokio::time::Instant::now() + WRITE_RETRY_FOR;
    let mut pause = Duration::from_millis(100);
    loop {
        match write().await {
            Err(e)
                if e.kind() == ipintel_core::ErrorKind::Unavailable
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tracing::warn!(error = %e, "store cannot take writes now; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// How long a lease holder keeps trying to record finished work (well inside a task's and a
/// bulk chunk's lease).
const WRITE_RETRY_FOR: Duration = Duration::from_secs(60);

/// Concurrency limits beyond the worker pool.
struct Limits {
    per_account: usize,
    accounts: Mutex<HashMap<u64, Arc<Semaphore>>>,
    port_scans: Arc<Semaphore>,
    bulk: Arc<Semaphore>,
    /// Bulk requests this instance works on (as holder or helper): not helped twice.
    bulk_jobs: Arc<Mutex<Vec<u64>>>,
}

/// Permits a running job holds beyond its worker.
struct Turn {
    _account: tokio::sync::OwnedSemaphorePermit,
    _kind: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Limits {
    fn account(&self, account_id: u64) -> Arc<Semaphore> {
        // One semaphore per account for the life of the process: the map is bounded by the
        // number of accounts.
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts
            .entry(account_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_account)))
            .clone()
    }

    /// Accounts and kinds with no free turn now.
    fn saturated(&self) -> ClaimSkip {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        ClaimSkip {
            // Instances sharing the store hold the account's limit together.
            per_account: Some(self.per_account.min(u32::MAX as usize) as u32),
            accounts: accounts
                .iter()
                .filter(|(_, s)| s.available_permits() == 0)
                .map(|(id, _)| *id)
                .collect(),
            kinds: [
                (JobKind::PortScan, &self.port_scans),
                (JobKind::Bulk, &self.bulk),
            ]
            .into_iter()
            .filter(|(_, s)| s.available_permits() == 0)
            .map(|(kind, _)| kind)
            .collect(),
        }
    }

    /// The turns a claimed job needs; `None` if one is taken (a claim that raced).
    fn take(&self, job: &Job) -> Option<Turn> {
        let account = self.account(job.account_id).try_acquire_owned().ok()?;
        let kind = match job.kind {
            JobKind::PortScan => Some(self.port_scans.clone().try_acquire_owned().ok()?),
            JobKind::Bulk => Some(self.bulk.clone().try_acquire_owned().ok()?),
            _ => None,
        };
        Some(Turn {
            _account: account,
            _kind: kind,
        })
    }
}

async fn execute(state: &AppState, render: TaskRender, owner: &str, job: Job) {
    let store = state.accounts.store();
    if job.status == JobStatus::Resuming {
        if let Err(e) = store.mark_processing(job.id, owner).await {
            tracing::error!(job = job.id, error = %e, "cannot mark a resumed job");
        }
    }
    if job.kind == JobKind::Bulk {
        // Bounded per DNS question, not as a whole: a 100,000-term request takes a while.
        return execute_bulk(state, owner, job).await;
    }
    let limit = Duration::from_secs(state.config.tasks.timeout_secs);
    let outcome = match tokio::time::timeout(limit, body(state, &job)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "timed out: the task took longer than {} s (tasks.timeout_secs)",
            limit.as_secs()
        )),
    };
    let (status, message, result) = match outcome {
        Ok(found) => (
            JobStatus::Completed,
            (render.message)(&found),
            Some((render.result)(&found)),
        ),
        Err(reason) => (JobStatus::Exception, reason, None),
    };
    match until_writable(|| store.finish_job(job.id, owner, status, &message, result.as_deref()))
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            job = job.id,
            "job was taken back before it finished; its result is dropped"
        ),
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "cannot record a job's outcome; it will run again")
        }
    }
}

/// The work itself.
async fn body(state: &AppState, job: &Job) -> Outcome {
    let tasks = &state.config.tasks;
    let ip: std::net::IpAddr = job
        .target
        .parse()
        .map_err(|_| format!("{:?} is not an address", job.target))?;
    let dns_server = || {
        tasks
            .dns_server()
            .map(|addr| dns::Server {
                addr,
                timeout: Duration::from_secs(tasks.timeout_secs),
            })
            .ok_or_else(|| {
                "no DNS server configured (tasks.dns_server) or found in /etc/resolv.conf"
                    .to_owned()
            })
    };
    match job.kind {
        JobKind::DnsLookup => {
            let names = dns::reverse(dns_server()?, ip)
                .await
                .map_err(|e| e.to_string())?;
            Ok(TaskOutcome::Reverse { ip, names })
        }
        JobKind::Dig => {
            let server = dns_server()?;
            let (report, exchange) = dns::dig(server, ip).await.map_err(|e| e.to_string())?;
            Ok(TaskOutcome::Dig {
                ip,
                server: server.addr,
                report,
                status: dns::rcode_name(exchange.answer.metadata.response_code),
                answers: exchange
                    .answer
                    .answers
                    .iter()
                    .map(|r| r.data.to_string())
                    .collect(),
                query_time_ms: exchange.elapsed.as_millis() as u64,
            })
        }
        JobKind::Whois => {
            // The registry answers for the ranges it holds; upstream whois for the rest.
            if let Some(answer) = registry_whois(state, ip) {
                return Ok(TaskOutcome::Whois {
                    query: job.target.clone(),
                    answer,
                });
            }
            let limits = whois::Limits {
                timeout: Duration::from_secs(tasks.timeout_secs),
                max_bytes: tasks.whois_max_bytes,
                max_referrals: tasks.whois_max_referrals,
            };
            let reach = whois::Reach {
                policy: tasks.whois_referral_policy(),
                dns: dns_server().ok(),
            };
            let answer = whois::lookup(&tasks.whois_target(), &job.target, limits, &reach)
                .await
                .map_err(|e| e.to_string())?;
            Ok(TaskOutcome::Whois {
                query: job.target.clone(),
                answer,
            })
        }
        JobKind::Bulk => Err("bulk requests run in execute_bulk".to_owned()),
        JobKind::PortScan => {
            let scan = &tasks.port_scan;
            // Checked when the job was accepted; checked again in case the config changed.
            if !scan.enabled || !scan.allowed_networks.iter().any(|n| n.contains(&ip)) {
                return Err(format!(
                    "{ip} is outside the networks port scans are allowed on"
                ));
            }
            let ports = portscan::scan(
                ip,
                &scan.ports,
                scan.concurrency,
                Duration::from_millis(scan.connect_timeout_ms),
            )
            .await;
            Ok(TaskOutcome::PortScan { ip, ports })
        }
    }
}

/// A WHOIS answer from the loaded registry, as whois servers write one: the covering range
/// with its abuse contact line, then its persons, roles and organisation, filtered as
/// public whois output is. `None` when the registry holds no range for `ip`.
fn registry_whois(state: &AppState, ip: std::net::IpAddr) -> Option<whois::Answer> {
    use ipintel_core::registry::{query::Query, view};
    let generation = state.registry.current();
    let registry = &generation.registry;
    let covering = registry.covering(ip)?;
    let mut text = format!("% Information related to '{}'\n\n", covering.range);
    match &covering.abuse {
        Some((_, email)) => text.push_str(&format!(
            "% Abuse contact for '{}' is '{email}'\n\n",
            covering.range
        )),
        None => text.push_str(&format!(
            "% No abuse contact registered for {}\n\n",
            covering.range
        )),
    }
    let ids = std::iter::once(covering.id).chain(registry.related(covering.id, &Query::default()));
    for id in ids {
        view::rpsl_text(&view::view(&registry.object(id), false, false), &mut text);
        text.push('\n');
    }
    Some(whois::Answer {
        chain: vec![(format!("ipintel registry ({})", covering.source), text)],
        truncated: false,
        not_followed: None,
    })
}

/// How long a bulk request's lease lasts; every recorded chunk renews it.
const BULK_LEASE_SECS: i64 = 300;

/// A bulk request this instance works on, for as long as the value lives.
struct WorkingOn {
    jobs: Arc<Mutex<Vec<u64>>>,
    id: u64,
}

impl WorkingOn {
    fn new(jobs: &Arc<Mutex<Vec<u64>>>, id: u64) -> WorkingOn {
        jobs.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        WorkingOn {
            jobs: jobs.clone(),
            id,
        }
    }
}

impl Drop for WorkingOn {
    fn drop(&mut self) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = jobs.iter().position(|&j| j == self.id) {
            jobs.swap_remove(at);
        }
    }
}

/// With a free worker and a free bulk turn, work on chunks of a bulk request another
/// instance holds (or one whose chunk claims expired), in the background.
async fn help_bulk(
    state: &AppState,
    owner: &str,
    limits: &Arc<Limits>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Ok(turn) = limits.bulk.clone().try_acquire_owned() else {
        return;
    };
    let skip_jobs = limits
        .bulk_jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let skip_accounts = limits.saturated().accounts;
    let store = state.accounts.store();
    let job = match store
        .bulk_to_help(now_unix(), &skip_accounts, &skip_jobs)
        .await
    {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "looking for bulk work to help with failed");
            return;
        }
    };
    let working = WorkingOn::new(&limits.bulk_jobs, job.id);
    let (state, owner) = (state.clone(), owner.to_owned());
    tokio::spawn(async move {
        if let Some(work) = read_bulk_work(&state, &owner, &job, false).await {
            work_on_chunks(&state, &owner, &job, work).await;
        }
        drop((working, turn, permit));
        state.jobs_wakeup.notify_one();
    });
}

/// A bulk request's work, or `None` (logged) when it cannot be read.
async fn read_bulk_work(
    state: &AppState,
    owner: &str,
    job: &Job,
    holder: bool,
) -> Option<ipintel_core::store::BulkWork> {
    let store = state.accounts.store();
    match store.bulk_work(job.id).await {
        Ok(Some(work)) => Some(work),
        Ok(None) => {
            tracing::error!(job = job.id, "a bulk job without its request row");
            if holder {
                let _ = store
                    .finish_job(
                        job.id,
                        owner,
                        JobStatus::Exception,
                        "request data missing",
                        None,
                    )
                    .await;
            }
            None
        }
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "cannot read a bulk request; it is retried when its lease expires");
            None
        }
    }
}

/// Run a bulk request to its end as its lease holder: work on its chunks (other instances
/// may work on some at the same time), wait for chunks others still hold, then finish it.
/// Each chunk is claimed, and its results recorded with the claim's release in one
/// transaction (`Store::commit_bulk_chunk`), so a crash at any point loses at most the
/// chunks in progress, which are claimed again once their claims expire.
async fn execute_bulk(state: &AppState, owner: &str, job: Job) {
    let store = state.accounts.store();
    // The claim's lease is sized for a task; a bulk request renews it as it goes. A store
    // that cannot take writes now (a full disk) is waited for: giving up here would leave
    // the request idle until its short lease ran out.
    match until_writable(|| store.renew_lease(job.id, owner, now_unix() + BULK_LEASE_SECS)).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "cannot extend a bulk request's lease");
            return;
        }
    }
    let Some(work) = read_bulk_work(state, owner, &job, true).await else {
        return;
    };
    let charged = work.charged;
    let n_terms = work.terms.lines().filter(|l| !l.is_empty()).count() as u64;
    work_on_chunks(state, owner, &job, work).await;
    ipintel_core::release_free_heap();
    let mut pause = Duration::from_millis(200);
    loop {
        // Every chunk is out; those still claimed by others (helpers, or a dead worker whose
        // claims expire) are waited for, and taken over when their claims expire.
        let status = match store.bulk_statuses(job.account_id, &[job.id]).await {
            Ok(status) => status.into_iter().next(),
            Err(e) => {
                tracing::warn!(job = job.id, error = %e, "cannot read a bulk request's progress");
                None
            }
        };
        if let Some(status) = status {
            let failed = status.failed_terms;
            // Failed terms are given their credit back; invalid ones were never charged.
            let refund = failed.min(charged);
            let message = format!(
                "{} terms processed, {failed} failed",
                n_terms - failed.min(n_terms)
            );
            match until_writable(|| state.engine.finish_bulk(&job, owner, &message, refund)).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::error!(job = job.id, error = %e, "cannot finish a bulk request"),
            }
        }
        match store
            .renew_lease(job.id, owner, now_unix() + BULK_LEASE_SECS)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = job.id, "bulk request taken back before it finished");
                return;
            }
            Err(e) => {
                tracing::warn!(job = job.id, error = %e, "cannot renew a bulk request's lease")
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
        // Claims that expired meanwhile are taken over here.
        if let Some(work) = read_bulk_work(state, owner, &job, true).await {
            work_on_chunks(state, owner, &job, work).await;
        }
    }
}

/// Claim chunks of a bulk request one at a time, several in flight (DNS waits overlap;
/// the resolver's semaphore bounds the terms resolving at once), and record each, until
/// none is left to claim.
async fn work_on_chunks(
    state: &AppState,
    owner: &str,
    job: &Job,
    mut work: ipintel_core::store::BulkWork,
) {
    let store = state.accounts.store();
    let bulk = &state.config.bulk;
    let resolver = crate::bulk::Resolver::new(
        state
            .config
            .tasks
            .dns_server
            .or_else(crate::config::system_dns_server),
        Duration::from_millis(bulk.dns_timeout_ms),
        bulk.resolve_concurrency,
    );
    let chunk_lease = bulk.chunk_lease_secs as i64;
    // The terms text, shared, and where each term starts in it (one allocation each rather
    // than one per term: 100,000 small blocks would fragment the heap for good).
    let text: Arc<str> = Arc::from(std::mem::take(&mut work.terms));
    let starts: Arc<Vec<usize>> = Arc::new(
        std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .filter(|&at| at < text.len())
            .collect(),
    );
    let size = work.chunk_terms.max(1) as usize;
    let geo = state.geo.snapshot();
    let worker = |_| {
        let (geo, resolver) = (geo.clone(), resolver.clone());
        let (text, starts) = (text.clone(), starts.clone());
        let reverse_ip = work.reverse_ip;
        async move {
            loop {
                let chunk_no = match until_writable(|| {
                    let now = now_unix();
                    store.claim_bulk_chunk(job.id, owner, now, now + chunk_lease)
                })
                .await
                {
                    Ok(Some(chunk)) => chunk as usize,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(job = job.id, error = %e, "cannot claim a bulk chunk");
                        return;
                    }
                };
                let first = chunk_no * size;
                let last = (first + size).min(starts.len());
                let chunk: Vec<&str> = (first.min(last)..last)
                    .map(|i| {
                        let end = starts.get(i + 1).map_or(text.len(), |&next| next - 1);
                        &text[starts[i]..end]
                    })
                    .collect();
                let out = crate::bulk::process_chunk(&geo, &resolver, &chunk, reverse_ip).await;
                let committed = until_writable(|| {
                    store.commit_bulk_chunk(
                        job.id,
                        owner,
                        chunk_no as u32,
                        &out.completed,
                        &out.failed,
                        out.n_processed,
                        out.n_failed,
                        now_unix() + BULK_LEASE_SECS,
                    )
                })
                .await;
                match committed {
                    Ok(true) => {
                        state.metrics.bulk_terms("processed", out.n_processed);
                        state.metrics.bulk_terms("failed", out.n_failed);
                    }
                    // The claim expired and another worker took the chunk: its results count.
                    Ok(false) => {
                        tracing::warn!(
                            job = job.id,
                            chunk = chunk_no,
                            "bulk chunk taken over; its results are dropped"
                        )
                    }
                    Err(e) => {
                        tracing::error!(job = job.id, error = %e, "cannot record a bulk chunk; it will be redone");
                        return;
                    }
                }
            }
        }
    };
    futures_util::future::join_all((0..crate::bulk::CHUNKS_IN_FLIGHT).map(worker)).await;
}

/// Who holds a lease: `ipintel@HOST:PID:START`, where START is the process's start time in
/// clock ticks since boot (so a reused pid is not mistaken for the process that died).
mod lease {
    fn host() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned())
    }

    /// Field 22 of /proc/PID/stat: when the process started.
    fn start_ticks(pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) may hold spaces; fields after it follow its ')'.
        let after = stat.rsplit_once(')')?.1;
        after.split_whitespace().nth(19)?.parse().ok()
    }

    pub fn own_name() -> String {
        let pid = std::process::id();
        format!("ipintel@{}:{pid}:{}", host(), start_ticks(pid).unwrap_or(0))
    }

    /// Whether `owner` names a process on this host that no longer runs. Owners of other
    /// hosts, and names this version does not write, are never called dead.
    pub fn is_dead(owner: &str) -> bool {
        let Some(rest) = owner.strip_prefix("ipintel@") else {
            return false;
        };
        let mut parts = rest.rsplitn(3, ':');
        let (Some(start), Some(pid), Some(host_name)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
            return false;
        };
        host_name == host() && start_ticks(pid) != Some(start)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn own_process_is_alive_and_others_are_judged_by_pid_and_start() {
            let me = super::own_name();
            assert!(!super::is_dead(&me), "{me}");
            let (prefix, _) = me.rsplit_once(':').unwrap();
            assert!(
                super::is_dead(&format!("{prefix}:12345")),
                "another start time"
            );
            assert!(!super::is_dead("ipintel@another-host:1:1"));
            assert!(
                !super::is_dead("ipintel-123-456"),
                "old names wait for expiry"
            );
        }
    }
}
