//! The store contract as one battery of checks, run against every backend: each backend's
//! test module opens a fresh store and calls [`run`]. A new backend (PostgreSQL) passes when
//! it passes this.

use std::sync::Arc;

use super::*;

/// Every check, in order, on one fresh store.
pub async fn run(store: Store) {
    accounts_keys_and_revisions(&store).await;
    usage_adds_up(&store).await;
    jobs_are_claimed_once_and_finished_by_their_holder(&store).await;
    leases_are_taken_back_only_when_expired_or_dead(&store).await;
    per_account_limits_hold_in_the_store(&store).await;
    charges_are_stored_with_what_they_pay_for(&store).await;
    bulk_chunks_are_claimed_and_recorded_once(&store).await;
    sweeps_remove_only_what_is_old(&store).await;
    leases_never_exceed_the_balance(&store).await;
    named_leases_have_one_holder(&store).await;
    registry_imports_keep_history(&store).await;
}

fn object(class: &'static str, key: &str, text: &str) -> NewObject {
    NewObject {
        class,
        key: key.into(),
        text: text.to_string().into(),
        digest: text_digest(text),
    }
}

/// Every object text of a source, from its chunks.
async fn texts(store: &Store, source: &str) -> Vec<String> {
    let chunks = store.registry_texts(source).await.unwrap();
    chunks
        .iter()
        .flat_map(|c| {
            c.split("\n\n")
                .map(|t| format!("{}\n", t.trim_end_matches('\n')))
        })
        .collect()
}

async fn registry_imports_keep_history(store: &Store) {
    let g0 = store.registry_generation().await.unwrap();
    let first = RegistryChanges {
        source: "TEST".into(),
        serial: Some(7),
        at: 1_000,
        generation: g0,
        added: (0..12_000)
            .map(|i| {
                object(
                    "mntner",
                    &format!("m{i}-mnt"),
                    &format!("mntner: M{i}-MNT\n"),
                )
            })
            .collect(),
        ..Default::default()
    };
    let g1 = store.registry_apply(&first).await.unwrap();
    assert_eq!(g1, g0 + 1);
    assert_eq!(store.registry_generation().await.unwrap(), g1);
    let sources = store.registry_sources().await.unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(
        (
            sources[0].name.as_str(),
            sources[0].serial,
            sources[0].objects
        ),
        ("TEST", Some(7), 12_000)
    );
    // An import computed against an old generation is refused, and changes nothing.
    let stale = RegistryChanges {
        generation: g0,
        added: vec![object("mntner", "late-mnt", "mntner: LATE-MNT\n")],
        ..first.clone()
    };
    assert!(matches!(
        store.registry_apply(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.registry_digests("TEST").await.unwrap().len(), 12_000);
    assert_eq!(
        texts(store, "TEST").await.len(),
        12_000,
        "every text, over two chunks"
    );

    // Change one, delete one; then re-create the deleted one.
    let second = RegistryChanges {
        source: "TEST".into(),
        serial: Some(8),
        at: 2_000,
        generation: g1,
        changed: vec![object("mntner", "m1-mnt", "mntner: M1-MNT\nremarks: two\n")],
        deleted: vec![("mntner".into(), "m2-mnt".into())],
        ..Default::default()
    };
    // A source's first import is its starting point: nothing journaled.
    assert_eq!(
        store.registry_journal("TEST", 0, None, 10).await.unwrap(),
        Journal::default()
    );
    let g2 = store.registry_apply(&second).await.unwrap();
    // Two changes after serial 7, and the dump says 8: the journal numbers them 8 and 9
    // (the dump's serial is behind) and the source is at 9.
    let journal = store.registry_journal("TEST", 0, None, 10).await.unwrap();
    assert_eq!((journal.oldest, journal.newest), (Some(8), Some(9)));
    assert_eq!(
        journal
            .rows
            .iter()
            .map(|r| (r.serial, r.op.as_str(), r.text.as_str()))
            .collect::<Vec<_>>(),
        [
            (8, "ADD", "mntner: M1-MNT\nremarks: two\n"),
            (9, "DEL", "mntner: M2-MNT\n")
        ],
        "a change journals the new text, a deletion the last one"
    );
    assert_eq!(store.registry_sources().await.unwrap()[0].serial, Some(9));
    let one = store
        .registry_journal("TEST", 9, Some(9), 10)
        .await
        .unwrap();
    assert_eq!(one.rows.len(), 1);
    assert_eq!(one.rows[0].serial, 9);
    assert!(store
        .registry_journal("OTHER", 0, None, 10)
        .await
        .unwrap()
        .rows
        .is_empty());
    let rows = store.registry_digests("TEST").await.unwrap();
    assert_eq!(rows.len(), 11_999);
    let m1 = rows.iter().find(|r| r.key == "m1-mnt").unwrap();
    assert_eq!(m1.digest, text_digest("mntner: M1-MNT\nremarks: two\n"));
    assert!(texts(store, "TEST")
        .await
        .iter()
        .any(|t| t == "mntner: M1-MNT\nremarks: two\n"));
    let History::Versions(v) = store
        .registry_history("TEST", "mntner", "m1-mnt")
        .await
        .unwrap()
    else {
        panic!("m1 has versions")
    };
    assert_eq!(
        v.iter().map(|v| (v.revision, v.at)).collect::<Vec<_>>(),
        [(1, 1_000), (2, 2_000)]
    );
    assert_eq!(v[0].text, "mntner: M1-MNT\n");
    assert_eq!(
        store
            .registry_history("TEST", "mntner", "m2-mnt")
            .await
            .unwrap(),
        History::Deleted
    );
    assert_eq!(
        store
            .registry_history("TEST", "mntner", "nothing")
            .await
            .unwrap(),
        History::Never
    );
    let third = RegistryChanges {
        source: "TEST".into(),
        serial: None,
        at: 3_000,
        generation: g2,
        added: vec![object(
            "mntner",
            "m2-mnt",
            "mntner: M2-MNT\nremarks: again\n",
        )],
        ..Default::default()
    };
    store.registry_apply(&third).await.unwrap();
    // No serial given: the next change follows the source's.
    let journal = store.registry_journal("TEST", 10, None, 10).await.unwrap();
    assert_eq!(
        journal
            .rows
            .iter()
            .map(|r| (r.serial, r.op.as_str()))
            .collect::<Vec<_>>(),
        [(10, "ADD")]
    );
    assert_eq!(journal.newest, Some(10));
    let History::Versions(v) = store
        .registry_history("TEST", "mntner", "m2-mnt")
        .await
        .unwrap()
    else {
        panic!("m2 exists again")
    };
    assert_eq!(
        v.iter().map(|v| (v.revision, v.at)).collect::<Vec<_>>(),
        [(1, 3_000)],
        "a re-created object starts counting again"
    );
    assert!(store.registry_digests("OTHER").await.unwrap().is_empty());
    assert!(store.registry_texts("OTHER").await.unwrap().is_empty());
}

async fn new_account(store: &Store, plan: &str, key: &[u8]) -> u64 {
    store
        .create_account(plan, Some(100), None, "battery", key, "ipk_battery")
        .await
        .expect("create account")
}

async fn accounts_keys_and_revisions(store: &Store) {
    let before = store.revision().await.unwrap();
    let id = new_account(store, "pro", b"hash-one").await;
    let after = store.revision().await.unwrap();
    assert!(after > before, "creating an account bumps the revision");
    assert_eq!(store.count_accounts().await.unwrap(), 1);

    store.add_key(id, b"hash-two", "ipk_second").await.unwrap();
    assert!(matches!(
        store.add_key(9999, b"hash-x", "ipk_x").await,
        Err(StoreError::NotFound(_))
    ));
    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys
        .iter()
        .all(|k| k.account_id == id && k.revoked_at.is_none()));

    let rev = store.revision().await.unwrap();
    assert_eq!(
        store
            .revoke(RevokeTarget::KeyHash(b"hash-two"))
            .await
            .unwrap(),
        1
    );
    assert!(
        store.revision().await.unwrap() > rev,
        "revoking bumps the revision"
    );
    assert_eq!(
        store
            .revoke(RevokeTarget::KeyHash(b"hash-two"))
            .await
            .unwrap(),
        0,
        "revoking twice revokes nothing"
    );

    store
        .update_account(id, Some("lite"), Some(None), Some(Some(7)))
        .await
        .unwrap();
    let row = &store.accounts().await.unwrap()[0];
    assert_eq!(
        (row.plan.as_str(), row.credits_granted, row.daily_quota),
        ("lite", None, Some(7))
    );
    store
        .update_account(id, Some("pro"), Some(Some(100)), Some(None))
        .await
        .unwrap();
    assert!(matches!(
        store.update_account(9999, Some("pro"), None, None).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn usage_adds_up(store: &Store) {
    let id = store.accounts().await.unwrap()[0].id;
    let delta = |credits, day_queries| UsageDelta {
        account_id: id,
        credits,
        day: 20_000,
        day_queries,
    };
    store.add_usage(&[delta(3, 3)]).await.unwrap();
    store.add_usage(&[delta(2, 2), delta(0, 0)]).await.unwrap();
    store.add_usage(&[]).await.unwrap();
    let rows = store.ledger_rows(20_000).await.unwrap();
    let account = rows.accounts.iter().find(|a| a.id == id).unwrap();
    assert_eq!(account.credits_used, 5);
    assert_eq!(rows.day_usage, vec![(id, 5)]);
    assert_eq!(store.day_usage(20_001).await.unwrap(), vec![]);
    assert_eq!(rows.revision, store.revision().await.unwrap());

    // The account's history, oldest first, from the day asked.
    store
        .add_usage(&[delta(0, 4)].map(|d| UsageDelta { day: 19_990, ..d }))
        .await
        .unwrap();
    assert_eq!(
        store.usage_days(id, 19_990).await.unwrap(),
        vec![(19_990, 4), (20_000, 5)]
    );
    assert_eq!(
        store.usage_days(id, 19_991).await.unwrap(),
        vec![(20_000, 5)]
    );
    assert_eq!(store.usage_days(id, 20_001).await.unwrap(), vec![]);
    assert_eq!(store.usage_days(id + 1000, 0).await.unwrap(), vec![]);
}

async fn jobs_are_claimed_once_and_finished_by_their_holder(store: &Store) {
    let id = store.accounts().await.unwrap()[0].id;
    let first = store
        .insert_job(id, JobKind::Whois, "192.0.2.1")
        .await
        .unwrap();
    let second = store
        .insert_job(id, JobKind::PortScan, "192.0.2.2")
        .await
        .unwrap();
    assert_eq!(first.status, JobStatus::Queued);
    // Newest first, per account or all, and counted by kind and state.
    let ids = |jobs: Vec<Job>| jobs.iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.recent_jobs(Some(id), 10).await.unwrap()),
        [second.id, first.id]
    );
    assert_eq!(
        ids(store.recent_jobs(Some(id), 1).await.unwrap()),
        [second.id]
    );
    assert_eq!(
        ids(store.recent_jobs(None, 10).await.unwrap()),
        [second.id, first.id]
    );
    assert!(store
        .recent_jobs(Some(id + 1000), 10)
        .await
        .unwrap()
        .is_empty());
    let mut counts = store.job_counts().await.unwrap();
    counts.sort_by_key(|(kind, status, _)| (kind.as_str(), status.as_str()));
    assert_eq!(
        counts,
        [
            (JobKind::PortScan, JobStatus::Queued, 1),
            (JobKind::Whois, JobStatus::Queued, 1)
        ]
    );
    let far = now_unix() + 3600;

    // Two claimers at once never get the same job.
    let skip = ClaimSkip::default();
    let (a, b) = tokio::join!(
        store.claim_job("owner-a", far, &skip),
        store.claim_job("owner-b", far, &skip)
    );
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    assert_ne!(a.id, b.id);
    let (mine, theirs, holder, other) = if a.id == first.id {
        (a, b, "owner-a", "owner-b")
    } else {
        (b, a, "owner-b", "owner-a")
    };
    assert_eq!(mine.status, JobStatus::Processing);
    assert_eq!(mine.attempts, 1);
    assert!(store
        .claim_job("owner-c", far, &skip)
        .await
        .unwrap()
        .is_none());

    // Only the holder records the outcome.
    assert!(!store
        .finish_job(mine.id, "someone-else", JobStatus::Completed, "no", None)
        .await
        .unwrap());
    assert!(store
        .finish_job(mine.id, holder, JobStatus::Completed, "done", Some("{}"))
        .await
        .unwrap());
    let done = store.job(id, mine.id).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.message.as_deref(), done.result.as_deref()),
        (JobStatus::Completed, Some("done"), Some("{}"))
    );
    assert!(
        store.job(id + 1, mine.id).await.unwrap().is_none(),
        "another account's job is not found"
    );

    // A cancel asked of a running job wins over its outcome.
    let asked = store.cancel_job(id, theirs.id).await.unwrap().unwrap();
    assert_eq!(asked.status, JobStatus::CancelRequested);
    assert!(store.cancel_requested(theirs.id).await.unwrap());
    assert!(store
        .finish_job(theirs.id, other, JobStatus::Completed, "late", None)
        .await
        .unwrap());
    assert_eq!(
        store.job(id, theirs.id).await.unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    // A queued job is cancelled at once; skips are honoured.
    let queued = store
        .insert_job(id, JobKind::Whois, "192.0.2.3")
        .await
        .unwrap();
    let skip = ClaimSkip {
        accounts: vec![id],
        kinds: vec![],
        per_account: None,
    };
    assert!(store
        .claim_job("owner-a", far, &skip)
        .await
        .unwrap()
        .is_none());
    let skip = ClaimSkip {
        accounts: vec![],
        kinds: vec![JobKind::Whois],
        per_account: None,
    };
    assert!(store
        .claim_job("owner-a", far, &skip)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .cancel_job(id, queued.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Cancelled
    );
    let _ = second;
}

async fn leases_are_taken_back_only_when_expired_or_dead(store: &Store) {
    let id = store.accounts().await.unwrap()[0].id;
    let now = now_unix();
    let live = store
        .insert_job(id, JobKind::Whois, "198.51.100.1")
        .await
        .unwrap();
    let expired = store
        .insert_job(id, JobKind::Whois, "198.51.100.2")
        .await
        .unwrap();
    let dead = store
        .insert_job(id, JobKind::Whois, "198.51.100.3")
        .await
        .unwrap();
    let skip = ClaimSkip::default();
    let claimed = [
        store
            .claim_job("live", now + 3600, &skip)
            .await
            .unwrap()
            .unwrap(),
        store
            .claim_job("gone", now - 10, &skip)
            .await
            .unwrap()
            .unwrap(),
        store
            .claim_job("crashed", now + 3600, &skip)
            .await
            .unwrap()
            .unwrap(),
    ];
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![live.id, expired.id, dead.id]
    );
    let mut owners = store.lease_owners().await.unwrap();
    owners.sort();
    assert_eq!(owners, vec!["crashed", "gone", "live"]);

    let n = store
        .interrupt_abandoned(now, &["crashed".to_owned()])
        .await
        .unwrap();
    assert_eq!(n, 2, "the expired lease and the dead owner's");
    let status = |job: u64| async move { store.job(id, job).await.unwrap().unwrap().status };
    assert_eq!(
        status(live.id).await,
        JobStatus::Processing,
        "a live lease is never taken"
    );
    assert_eq!(status(expired.id).await, JobStatus::Interrupted);
    assert_eq!(status(dead.id).await, JobStatus::Interrupted);
    // Interrupted work is claimed again as RESUMING, and the live holder still finishes.
    let resumed = store
        .claim_job("next", now + 3600, &skip)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resumed.status, JobStatus::Resuming);
    assert_eq!(resumed.attempts, 2);
    store.mark_processing(resumed.id, "next").await.unwrap();
    assert_eq!(status(resumed.id).await, JobStatus::Processing);
    assert!(store
        .finish_job(live.id, "live", JobStatus::Completed, "ok", None)
        .await
        .unwrap());
    for job in [expired.id, dead.id] {
        let _ = store.cancel_job(id, job).await.unwrap();
    }
}

async fn charges_are_stored_with_what_they_pay_for(store: &Store) {
    let id = new_account(store, "pro", b"hash-charges").await;
    let day = 20_100;
    store
        .insert_job_charged(id, JobKind::Dig, "203.0.113.1", day)
        .await
        .unwrap();
    let bulk = store
        .insert_bulk(&NewBulk {
            account_id: id,
            format: "json",
            reverse_ip: false,
            chunk_terms: 2,
            total_terms: 4,
            invalid_terms: 1,
            terms: "192.0.2.1\n192.0.2.2\n192.0.2.3",
            invalid: "{\"term\":\"x\",\"reason\":\"bad\"}\n",
            charge: 3,
            day,
            record_charge: true,
        })
        .await
        .unwrap();
    let rows = store.ledger_rows(day).await.unwrap();
    let account = rows.accounts.iter().find(|a| a.id == id).unwrap();
    assert_eq!(account.credits_used, 4, "one task and three bulk terms");
    assert!(rows.day_usage.contains(&(id, 4)));
    let status = &store.bulk_statuses(id, &[bulk, 424242]).await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (
            status[0].total_terms,
            status[0].invalid_terms,
            status[0].chunks
        ),
        (4, 1, 0)
    );
    assert_eq!(
        store.bulk_invalid(bulk).await.unwrap(),
        "{\"term\":\"x\",\"reason\":\"bad\"}\n"
    );
    // Nothing to do: finished at once, nothing left to claim for it.
    let empty = store
        .insert_bulk(&NewBulk {
            account_id: id,
            format: "csv",
            reverse_ip: false,
            chunk_terms: 2,
            total_terms: 1,
            invalid_terms: 1,
            terms: "",
            invalid: "",
            charge: 0,
            day,
            record_charge: true,
        })
        .await
        .unwrap();
    assert!(store.bulk_statuses(id, &[empty]).await.unwrap()[0].ready());
}

async fn bulk_chunks_are_claimed_and_recorded_once(store: &Store) {
    let id = store.accounts().await.unwrap().last().unwrap().id;
    let (statuses, total) = store.bulk_page(id, 0, 10, true).await.unwrap();
    assert_eq!(total, 2);
    let bulk = statuses.iter().find(|s| !s.ready()).unwrap().id;
    let now = now_unix();
    // Drain whatever else is runnable, then take the bulk request.
    let claimed = loop {
        let job = store
            .claim_job("worker", now + 3600, &ClaimSkip::default())
            .await
            .unwrap()
            .expect("the bulk request is runnable");
        if job.id == bulk {
            break job;
        }
        store
            .finish_job(job.id, "worker", JobStatus::Completed, "", None)
            .await
            .unwrap();
    };
    let work = store.bulk_work(claimed.id).await.unwrap().unwrap();
    assert_eq!((work.chunk_terms, work.next_chunk, work.charged), (2, 0, 3));
    assert!(store.renew_lease(bulk, "worker", now + 7200).await.unwrap());
    assert!(!store
        .renew_lease(bulk, "intruder", now + 7200)
        .await
        .unwrap());

    let commit = |owner: &'static str, chunk: u32| async move {
        store
            .commit_bulk_chunk(bulk, owner, chunk, "[r]\n", "", 1, 0, now + 7200)
            .await
            .unwrap()
    };
    // Two chunks (three terms by two): claimed once each, by whoever asks.
    let c0 = store
        .claim_bulk_chunk(bulk, "worker", now, now + 60)
        .await
        .unwrap();
    let c1 = store
        .claim_bulk_chunk(bulk, "helper", now, now + 30)
        .await
        .unwrap();
    assert_eq!((c0, c1), (Some(0), Some(1)));
    assert_eq!(
        store
            .claim_bulk_chunk(bulk, "worker", now, now + 60)
            .await
            .unwrap(),
        None,
        "both chunks are out"
    );
    assert_eq!(
        store.bulk_to_help(now, &[], &[]).await.unwrap(),
        None,
        "nothing to help with"
    );
    // Past the helper's claim (it died): another worker may take the chunk over, and the
    // first to record it is the only one that does.
    let later = now + 31;
    assert_eq!(
        store
            .bulk_to_help(later, &[], &[])
            .await
            .unwrap()
            .map(|j| j.id),
        Some(bulk),
        "an expired claim is work to help with"
    );
    assert_eq!(
        store.bulk_to_help(later, &[id], &[]).await.unwrap(),
        None,
        "skipped accounts are not helped"
    );
    assert_eq!(
        store.bulk_to_help(later, &[], &[bulk]).await.unwrap(),
        None,
        "nor skipped jobs"
    );
    assert_eq!(
        store
            .claim_bulk_chunk(bulk, "worker", later, later + 60)
            .await
            .unwrap(),
        Some(1)
    );
    assert!(
        !commit("helper", 1).await,
        "a claim taken over is no longer the helper's"
    );
    assert!(!commit("intruder", 0).await, "not the claim holder");
    assert!(
        !store
            .finish_bulk(bulk, "worker", id, "early", 0)
            .await
            .unwrap(),
        "not finished while a chunk is unrecorded"
    );
    assert!(commit("worker", 1).await, "recorded out of order");
    assert!(commit("worker", 0).await);
    assert!(!commit("worker", 0).await, "a chunk is recorded once");
    assert_eq!(store.bulk_to_help(now, &[], &[]).await.unwrap(), None);
    assert_eq!(
        store
            .bulk_chunk(bulk, 0, BulkPart::Completed)
            .await
            .unwrap()
            .as_deref(),
        Some("[r]\n")
    );
    assert_eq!(
        store.bulk_chunk(bulk, 5, BulkPart::Failed).await.unwrap(),
        None
    );
    assert!(!store
        .finish_bulk(bulk, "intruder", id, "no", 0)
        .await
        .unwrap());
    assert!(store
        .finish_bulk(bulk, "worker", id, "done", 1)
        .await
        .unwrap());
    let status = &store.bulk_statuses(id, &[bulk]).await.unwrap()[0];
    assert!(status.ready());
    assert_eq!((status.processed_terms, status.chunks), (2, 2));
    let account = store
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.id == id)
        .unwrap();
    assert_eq!(
        account.credits_used, 3,
        "the refund is given back with the finish"
    );
}

async fn sweeps_remove_only_what_is_old(store: &Store) {
    let finished = store.count_finished_jobs().await.unwrap();
    assert!(finished > 0);
    assert_eq!(
        store.sweep_jobs(0, 0).await.unwrap(),
        0,
        "nothing finished before 1970"
    );
    let swept = store
        .sweep_jobs(now_unix() + 10, now_unix() + 10)
        .await
        .unwrap();
    assert_eq!(swept, finished);
    assert_eq!(store.count_finished_jobs().await.unwrap(), 0);
}

async fn per_account_limits_hold_in_the_store(store: &Store) {
    let id = new_account(store, "pro", b"hash-limits").await;
    for target in ["192.0.2.10", "192.0.2.11"] {
        store.insert_job(id, JobKind::Whois, target).await.unwrap();
    }
    let far = now_unix() + 3600;
    let skip = ClaimSkip {
        per_account: Some(1),
        ..ClaimSkip::default()
    };
    // Two claimers (two instances) at once: one running job for the account, not two.
    let (a, b) = tokio::join!(
        store.claim_job("instance-a", far, &skip),
        store.claim_job("instance-b", far, &skip)
    );
    let claimed: Vec<Job> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let first = &claimed[0];
    // Once it finishes, the account's next job may run.
    for owner in ["instance-a", "instance-b"] {
        let _ = store
            .finish_job(first.id, owner, JobStatus::Completed, "", None)
            .await;
    }
    let next = store
        .claim_job("instance-b", far, &skip)
        .await
        .unwrap()
        .expect("the second job");
    assert_ne!(next.id, first.id);
    store
        .finish_job(next.id, "instance-b", JobStatus::Completed, "", None)
        .await
        .unwrap();
}

async fn leases_never_exceed_the_balance(store: &Store) {
    let id = store
        .create_account(
            "pro",
            Some(100),
            Some(1000),
            "leases",
            b"hash-leases",
            "ipk_leases",
        )
        .await
        .unwrap();
    let day = 20_200;
    let ask = |credits, day_queries| LeaseAsk {
        account_id: id,
        credits,
        day_queries,
        day,
        day_quota: Some(1000),
        block: 1000,
    };
    // Twenty instances asking at once: what they get adds up to at most the balance.
    let asks: Vec<LeaseAsk> = (0..20).map(|_| ask(1, 1)).collect();
    let grants = futures_join_all(asks.iter().map(|a| store.take_lease(a))).await;
    let got: u64 = grants.iter().map(|g| g.as_ref().unwrap().credits).sum();
    assert!(got <= 100, "{got}");
    let used = |store: &Store| {
        let store = store.clone();
        async move {
            store
                .accounts()
                .await
                .unwrap()
                .into_iter()
                .find(|a| a.id == id)
                .unwrap()
                .credits_used
        }
    };
    assert_eq!(used(store).await, got, "a lease counts as used at once");
    // Drain it: the last ones come one at a time, and then nothing.
    let mut total = got;
    loop {
        let grant = store.take_lease(&ask(1, 1)).await.unwrap();
        if grant.refused.is_some() {
            assert_eq!(grant.refused, Some(LeaseRefusal::Credits));
            assert_eq!((grant.credits, grant.day_queries), (0, 0), "nothing taken");
            break;
        }
        if 100 - total < 64 {
            assert_eq!(grant.credits, 1, "single units near the end");
        }
        total += grant.credits;
    }
    assert_eq!(total, 100);
    assert_eq!(used(store).await, 100);
    // A need larger than what is left takes nothing.
    store.return_lease(id, 10, day, 0).await.unwrap();
    let big = store.take_lease(&ask(11, 0)).await.unwrap();
    assert_eq!(big.refused, Some(LeaseRefusal::Credits));
    assert_eq!(used(store).await, 90, "a returned lease is spendable again");
    let exact = store.take_lease(&ask(10, 0)).await.unwrap();
    assert_eq!((exact.credits, exact.refused), (10, None));
    // The daily quota is leased the same way, from the day's row.
    let quota = LeaseAsk {
        credits: 0,
        day_queries: 2000,
        ..ask(0, 0)
    };
    assert_eq!(
        store.take_lease(&quota).await.unwrap().refused,
        Some(LeaseRefusal::Quota)
    );
    let day_used = store.day_usage(day).await.unwrap();
    let today = day_used.iter().find(|(a, _)| *a == id).unwrap().1;
    assert!(today <= 1000, "{today}");
    store.return_lease(id, 0, day, today).await.unwrap();
    assert_eq!(
        store
            .day_usage(day)
            .await
            .unwrap()
            .iter()
            .find(|(a, _)| *a == id)
            .map(|r| r.1),
        Some(0)
    );
}

/// Join futures without a dependency: poll them together on this task.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.unwrap()).collect()
}

async fn named_leases_have_one_holder(store: &Store) {
    let now = now_unix();
    assert!(store
        .take_named_lease("nrtm:TEST", "a", now, now + 30)
        .await
        .unwrap());
    assert!(!store
        .take_named_lease("nrtm:TEST", "b", now, now + 30)
        .await
        .unwrap());
    assert!(
        store
            .take_named_lease("nrtm:TEST", "a", now, now + 60)
            .await
            .unwrap(),
        "renewed"
    );
    assert!(
        store
            .take_named_lease("nrtm:TEST", "b", now + 61, now + 90)
            .await
            .unwrap(),
        "taken over once expired"
    );
    assert!(!store
        .take_named_lease("nrtm:TEST", "a", now, now + 30)
        .await
        .unwrap());
    store.release_named_lease("nrtm:TEST", "a").await.unwrap();
    assert!(
        !store
            .take_named_lease("nrtm:TEST", "a", now, now + 30)
            .await
            .unwrap(),
        "not a's to give up"
    );
    store.release_named_lease("nrtm:TEST", "b").await.unwrap();
    assert!(store
        .take_named_lease("nrtm:TEST", "a", now, now + 30)
        .await
        .unwrap());
}

#[tokio::test]
async fn sqlite_passes_the_battery() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(Arc::new(
        SqliteStore::open(&dir.path().join("battery.db"))
            .await
            .unwrap(),
    ));
    run(store.clone()).await;
    store.close().await;
}
