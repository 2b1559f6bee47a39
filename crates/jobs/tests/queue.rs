//! The queue on both backends, driven by a manual clock: claims, leases, completion rules,
//! recurrence, retries, inactivity, user actions and the run log.

mod common;

use std::time::Duration;

use common::{MINUTE, at, queue, t0};
use kontor_jobs::{JobError, ListFilter, LogStatus, NewJob, Outcome, Status};
use kontor_testkit::for_each_backend;
use serde_json::json;

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_due_entry_is_claimed_by_one_worker_and_its_run_is_logged() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q
            .enqueue(NewJob::new("post", json!({"order": 7})).description("Post order 7"))
            .await
            .unwrap();

        let job = q.claim("w1", t0(), LEASE).await.unwrap().expect("the entry is due");
        assert_eq!(job.id(), id);
        assert_eq!(job.params(), &json!({"order": 7}));
        assert_eq!(job.entry.status, Status::InProcess);
        assert_eq!(job.attempt(), 1);
        assert_eq!(job.entry.locked_by.as_deref(), Some("w1"));
        assert_eq!(job.entry.locked_until, Some(at(60)));
        assert!(q.claim("w2", t0(), LEASE).await.unwrap().is_none(), "claimed only once");

        let log = q.log_entries(id, 0).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].id, log[0].status, log[0].ended_at),
            (job.run_id, LogStatus::InProcess, None)
        );
        assert_eq!(
            (log[0].worker.as_str(), log[0].attempt, log[0].description.as_str()),
            ("w1", 1, "Post order 7")
        );

        let done = q.complete(&job, Outcome::Finished, at(5)).await.unwrap();
        assert_eq!(done.status, Status::Finished);
        assert_eq!((&done.locked_by, done.locked_until, done.attempts), (&None, None, 0));
        assert_eq!(done.last_ended_at, Some(at(5)));
        assert_eq!(q.get(id).await.unwrap(), Some(done));
        let log = q.log_entries(id, 0).await.unwrap();
        assert_eq!(
            (log[0].status, log[0].ended_at, log[0].error.as_deref()),
            (LogStatus::Success, Some(at(5)), None)
        );
        assert!(
            q.claim("w2", at(3600), LEASE).await.unwrap().is_none(),
            "a finished entry does not run again"
        );
    })
    .await;
}

#[tokio::test]
async fn an_entry_does_not_run_before_its_earliest_start() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q.enqueue(NewJob::new("post", json!({})).earliest_start(at(600))).await.unwrap();
        assert_eq!(q.get(id).await.unwrap().unwrap().earliest_start_at, Some(at(600)));
        assert!(q.claim("w", at(599), LEASE).await.unwrap().is_none());
        assert_eq!(q.claim("w", at(600), LEASE).await.unwrap().map(|it| it.id()), Some(id));
    })
    .await;
}

#[tokio::test]
async fn entries_are_claimed_by_priority_then_by_run_time() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let late = q.enqueue(NewJob::new("a", json!({})).earliest_start(at(10))).await.unwrap();
        let early = q.enqueue(NewJob::new("a", json!({}))).await.unwrap();
        let urgent = q
            .enqueue(NewJob::new("a", json!({})).earliest_start(at(20)).priority(-1))
            .await
            .unwrap();
        let mut order = Vec::new();
        while let Some(job) = q.claim("w", at(30), LEASE).await.unwrap() {
            order.push(job.id());
        }
        assert_eq!(order, vec![urgent, early, late]);
    })
    .await;
}

#[tokio::test]
async fn a_worker_claims_only_the_kinds_it_asks_for() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        q.enqueue(NewJob::new("a", json!({}))).await.unwrap();
        let b = q.enqueue(NewJob::new("b", json!({}))).await.unwrap();
        let kinds = vec!["b".to_owned(), "c".to_owned()];
        assert_eq!(
            q.claim_kinds("w", &kinds, t0(), LEASE).await.unwrap().map(|it| it.id()),
            Some(b)
        );
        assert!(q.claim_kinds("w", &kinds, t0(), LEASE).await.unwrap().is_none());
        assert!(q.claim_kinds("w", &[], t0(), LEASE).await.unwrap().is_none());
        assert_eq!(q.next_due(Some(&kinds)).await.unwrap(), Some(at(60)), "b's lease end");
        assert_eq!(q.next_due(Some(&["a".to_owned()])).await.unwrap(), Some(t0()));
    })
    .await;
}

#[tokio::test]
async fn a_recurring_entry_runs_again_one_interval_after_each_run() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q
            .ensure_recurring(NewJob::recurring("sync", "CUSTOMER", json!({}), 30 * MINUTE))
            .await
            .unwrap();
        let job = q.claim("w", t0(), LEASE).await.unwrap().unwrap();
        let entry = q.complete(&job, Outcome::Finished, at(10)).await.unwrap();
        assert_eq!((entry.status, entry.run_at), (Status::Ready, at(10 + 1800)));
        assert!(q.claim("w", at(1809), LEASE).await.unwrap().is_none());
        let job = q.claim("w", at(1810), LEASE).await.unwrap().unwrap();
        assert_eq!((job.id(), job.attempt()), (id, 1));
        q.complete(&job, Outcome::Finished, at(1811)).await.unwrap();
        let log = q.log_entries(id, 0).await.unwrap();
        assert_eq!(
            log.iter().map(|it| it.started_at).collect::<Vec<_>>(),
            vec![at(1810), t0()],
            "newest first"
        );
        assert_eq!(q.log_entries(id, 1).await.unwrap().len(), 1);

        // Log clean-up keeps runs that ended since, and runs in process.
        let running = q.claim("w", at(3611), LEASE).await.unwrap().unwrap();
        assert_eq!(q.delete_log_before(at(1811)).await.unwrap(), 1);
        assert_eq!(q.delete_log_before(at(99_999)).await.unwrap(), 1);
        let log = q.log_entries(id, 0).await.unwrap();
        assert_eq!((log.len(), log[0].id), (1, running.run_id));
    })
    .await;
}

#[tokio::test]
async fn ensure_recurring_is_idempotent_and_updates_the_setup_but_not_the_schedule() {
    for_each_backend(|url, _| async move {
        let (q, clock) = queue(&url).await;
        let job = || NewJob::recurring("sync", "CUSTOMER", json!({"v": 1}), 30 * MINUTE);
        let id = q.ensure_recurring(job()).await.unwrap();
        assert_eq!(q.ensure_recurring(job()).await.unwrap(), id);
        let claimed = q.claim("w", t0(), LEASE).await.unwrap().unwrap();
        q.complete(&claimed, Outcome::Finished, t0()).await.unwrap();

        clock.advance(MINUTE);
        let changed = job().max_attempts(10).description("Customers").every(15 * MINUTE);
        let changed = NewJob { params: json!({"v": 2}), ..changed };
        assert_eq!(q.ensure_recurring(changed).await.unwrap(), id);
        let other = q
            .ensure_recurring(NewJob::recurring("sync", "CONTACT", json!({}), MINUTE))
            .await
            .unwrap();
        assert_ne!(other, id);

        let entries = q
            .list(&ListFilter { key: Some("CUSTOMER".into()), ..ListFilter::default() })
            .await
            .unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!((entry.max_attempts, entry.description.as_str()), (10, "Customers"));
        assert_eq!((entry.interval, &entry.params), (Some(15 * MINUTE), &json!({"v": 2})));
        assert_eq!((entry.status, entry.run_at), (Status::Ready, at(1800)), "schedule kept");
        assert_eq!(q.get_by_key("sync", "CUSTOMER").await.unwrap().map(|it| it.id), Some(id));
        assert_eq!(q.get_by_key("sync", "VENDOR").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_key_is_unique_per_kind_and_a_recurring_entry_needs_one() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        q.enqueue(NewJob::new("couple", json!({})).key("ITEM")).await.unwrap();
        q.enqueue(NewJob::new("uncouple", json!({})).key("ITEM")).await.unwrap();
        let err = q.enqueue(NewJob::new("couple", json!({})).key("ITEM")).await.unwrap_err();
        assert!(
            matches!(&err, JobError::Duplicate { kind, key } if kind == "couple" && key == "ITEM"),
            "{err}"
        );
        let err =
            q.ensure_recurring(NewJob::new("sync", json!({})).every(MINUTE)).await.unwrap_err();
        assert!(matches!(err, JobError::Invalid(_)), "{err}");
        let err = q.enqueue(NewJob::new("a", json!({})).max_attempts(0)).await.unwrap_err();
        assert!(matches!(err, JobError::Invalid(_)), "{err}");
        assert_eq!(q.list(&ListFilter::default()).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_failed_run_is_retried_after_the_rerun_delay_until_its_attempts_are_used_up() {
    for_each_backend(|url, _| async move {
        let (q, clock) = queue(&url).await;
        let id = q
            .enqueue(
                NewJob::new("post", json!({})).max_attempts(3).rerun_delay(Duration::from_secs(30)),
            )
            .await
            .unwrap();
        let mut now = t0();
        for attempt in 1..=3 {
            let job = q.claim("w", now, LEASE).await.unwrap().expect("due again");
            assert_eq!(job.attempt(), attempt);
            let entry =
                q.complete(&job, Outcome::Failed(format!("boom {attempt}")), now).await.unwrap();
            assert_eq!(entry.last_error, Some(format!("boom {attempt}")));
            if attempt < 3 {
                assert_eq!(
                    (entry.status, entry.run_at),
                    (Status::Ready, now + Duration::from_secs(30))
                );
                assert!(
                    q.claim("w", now + Duration::from_secs(29), LEASE).await.unwrap().is_none()
                );
                now += Duration::from_secs(30);
            } else {
                assert_eq!((entry.status, entry.attempts), (Status::Error, 3));
            }
        }
        assert!(
            q.claim("w", at(86_400), LEASE).await.unwrap().is_none(),
            "Error waits for a restart"
        );
        let log = q.log_entries(id, 0).await.unwrap();
        assert_eq!(log.len(), 3);
        assert!(log.iter().all(|it| it.status == LogStatus::Error));
        assert_eq!(log[0].error.as_deref(), Some("boom 3"));

        clock.set(at(100_000));
        let entry = q.restart(id).await.unwrap();
        assert_eq!(
            (entry.status, entry.attempts, entry.last_error, entry.run_at),
            (Status::Ready, 0, None, at(100_000))
        );
        let job = q.claim("w", at(100_000), LEASE).await.unwrap().unwrap();
        assert_eq!(job.attempt(), 1);
        let entry = q.complete(&job, Outcome::Finished, at(100_001)).await.unwrap();
        assert_eq!(entry.status, Status::Finished);
    })
    .await;
}

#[tokio::test]
async fn a_permanent_failure_goes_to_error_on_the_first_attempt() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        q.enqueue(NewJob::new("post", json!({})).max_attempts(5)).await.unwrap();
        let job = q.claim("w", t0(), LEASE).await.unwrap().unwrap();
        let entry = q
            .complete(&job, Outcome::FailedPermanently("no such order".into()), t0())
            .await
            .unwrap();
        assert_eq!(
            (entry.status, entry.last_error.as_deref()),
            (Status::Error, Some("no such order"))
        );
    })
    .await;
}

#[tokio::test]
async fn a_recurring_entry_idle_for_its_inactivity_timeout_goes_on_hold_until_woken() {
    for_each_backend(|url, _| async move {
        let (q, clock) = queue(&url).await;
        let id = q
            .ensure_recurring(
                NewJob::recurring("sync", "CUSTOMER", json!({}), 5 * MINUTE)
                    .inactivity_timeout(15 * MINUTE),
            )
            .await
            .unwrap();
        // Idle runs at 0, 5, 10 and 15 minutes: the streak started at 0 lasts 15 minutes at the 4th.
        for minute in [0, 5, 10, 15] {
            let now = at(minute * 60);
            let job = q.claim("w", now, LEASE).await.unwrap().expect("due");
            let entry = q.complete(&job, Outcome::Idle, now).await.unwrap();
            assert_eq!(entry.idle_since, Some(t0()));
            let expected = if minute < 15 { Status::Ready } else { Status::OnHoldInactivity };
            assert_eq!(entry.status, expected, "after the idle run at minute {minute}");
        }
        assert_eq!(q.log_entries(id, 1).await.unwrap()[0].status, LogStatus::Idle);
        assert!(q.claim("w", at(20 * 60), LEASE).await.unwrap().is_none(), "on hold");

        // Waking other keys or kinds does nothing; waking ours makes it Ready now.
        clock.set(at(21 * 60));
        assert_eq!(q.wake("sync", Some("CONTACT")).await.unwrap(), 0);
        assert_eq!(q.wake("other", None).await.unwrap(), 0);
        assert_eq!(q.wake("sync", Some("CUSTOMER")).await.unwrap(), 1);
        let entry = q.get(id).await.unwrap().unwrap();
        assert_eq!(
            (entry.status, entry.run_at, entry.idle_since),
            (Status::Ready, at(21 * 60), None)
        );
        assert_eq!(q.wake("sync", None).await.unwrap(), 0, "only entries on hold wake");

        // The woken run found work: the entry stays on its interval.
        let job = q.claim("w", at(21 * 60), LEASE).await.unwrap().expect("woken");
        let entry = q.complete(&job, Outcome::Finished, at(21 * 60)).await.unwrap();
        assert_eq!(
            (entry.status, entry.run_at, entry.idle_since),
            (Status::Ready, at(26 * 60), None)
        );
        // A change before the next interval brings the run forward to now.
        clock.set(at(22 * 60));
        assert_eq!(q.wake("sync", Some("CUSTOMER")).await.unwrap(), 1, "a waiting entry runs now");
        assert_eq!(q.get(id).await.unwrap().unwrap().run_at, at(22 * 60));
    })
    .await;
}

#[tokio::test]
async fn an_entry_on_hold_with_inactivity_timeout_wakes_itself_after_the_timeout() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let job = NewJob::recurring("stats", "ALL", json!({}), 30 * MINUTE)
            .inactivity_timeout(30 * MINUTE)
            .initial_status(Status::OnHoldInactivity);
        let id = q.ensure_recurring(job).await.unwrap();
        let entry = q.get(id).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.run_at), (Status::OnHoldInactivity, at(1800)));
        assert!(q.claim("w", at(1799), LEASE).await.unwrap().is_none());
        let job = q.claim("w", at(1800), LEASE).await.unwrap().expect("the timeout passed");
        assert_eq!(job.id(), id);
    })
    .await;
}

#[tokio::test]
async fn a_dead_workers_entry_is_taken_over_when_its_lease_expires() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q.enqueue(NewJob::new("post", json!({}))).await.unwrap();
        let dead = q.claim("w1", t0(), LEASE).await.unwrap().unwrap();
        assert!(q.claim("w2", at(59), LEASE).await.unwrap().is_none(), "the lease still holds");
        assert_eq!(q.next_due(None).await.unwrap(), Some(at(60)));

        let job = q.claim("w2", at(60), LEASE).await.unwrap().expect("taken over");
        assert_eq!((job.id(), job.attempt(), job.worker.as_str()), (id, 2, "w2"));
        assert_ne!(job.run_id, dead.run_id);
        let log = q.log_entries(id, 0).await.unwrap();
        assert_eq!((log[1].worker.as_str(), log[1].status, log[1].ended_at), ("w1", LogStatus::Error, Some(at(60))));
        assert!(log[1].error.as_deref().unwrap().contains("lease expired"), "{:?}", log[1].error);
        assert_eq!((log[0].worker.as_str(), log[0].status), ("w2", LogStatus::InProcess));

        // The old run cannot touch the entry any more.
        assert!(matches!(q.heartbeat(&dead, at(61), LEASE).await, Err(JobError::LeaseLost(it)) if it == id));
        assert!(matches!(q.complete(&dead, Outcome::Finished, at(61)).await, Err(JobError::LeaseLost(_))));
        assert!(matches!(q.release(&dead, at(61)).await, Err(JobError::LeaseLost(_))));
        let entry = q.complete(&job, Outcome::Finished, at(62)).await.unwrap();
        assert_eq!(entry.status, Status::Finished);
    })
    .await;
}

#[tokio::test]
async fn a_heartbeat_extends_the_lease() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        q.enqueue(NewJob::new("post", json!({}))).await.unwrap();
        let job = q.claim("w1", t0(), LEASE).await.unwrap().unwrap();
        assert_eq!(q.heartbeat(&job, at(50), LEASE).await.unwrap(), at(110));
        assert!(q.claim("w2", at(100), LEASE).await.unwrap().is_none());
        let entry = q.complete(&job, Outcome::Finished, at(105)).await.unwrap();
        assert_eq!(entry.status, Status::Finished);
    })
    .await;
}

#[tokio::test]
async fn an_entry_whose_workers_keep_dying_goes_to_error_after_its_attempts() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q.enqueue(NewJob::new("crash", json!({})).max_attempts(2)).await.unwrap();
        q.claim("w1", t0(), LEASE).await.unwrap().unwrap();
        let second = q.claim("w2", at(60), LEASE).await.unwrap().unwrap();
        assert_eq!(second.attempt(), 2);
        assert!(q.claim("w3", at(120), LEASE).await.unwrap().is_none());
        let entry = q.get(id).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.attempts, entry.locked_by), (Status::Error, 2, None));
        assert!(entry.last_error.unwrap().contains("lease of worker w2 expired"));
        let log = q.log_entries(id, 0).await.unwrap();
        assert_eq!(log.iter().map(|it| it.status).collect::<Vec<_>>(), vec![LogStatus::Error; 2]);
    })
    .await;
}

#[tokio::test]
async fn a_released_entry_is_ready_at_once_without_counting_the_attempt() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q.enqueue(NewJob::new("post", json!({}))).await.unwrap();
        let job = q.claim("w1", t0(), LEASE).await.unwrap().unwrap();
        q.release(&job, at(5)).await.unwrap();
        let entry = q.get(id).await.unwrap().unwrap();
        assert_eq!(
            (entry.status, entry.attempts, entry.run_at, entry.locked_by),
            (Status::Ready, 0, at(5), None)
        );
        assert_eq!(q.log_entries(id, 0).await.unwrap()[0].status, LogStatus::Released);
        let job = q.claim("w2", at(5), LEASE).await.unwrap().unwrap();
        assert_eq!(job.attempt(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_restarted_worker_takes_back_its_own_runs_at_once_without_counting_them() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let mine = q.enqueue(NewJob::new("post", json!({}))).await.unwrap();
        let other = q.enqueue(NewJob::new("post", json!({}))).await.unwrap();
        let _crashed = q.claim("up-0", t0(), LEASE).await.unwrap().unwrap();
        let _alive = q.claim("w9", t0(), LEASE).await.unwrap().unwrap();

        let released = q.release_runs_of(&["up-0".to_owned(), "up-1".to_owned()], at(5)).await;
        assert_eq!(released.unwrap(), 1, "only the restarted worker's run");
        let entry = q.get(mine).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.attempts, entry.locked_by), (Status::Ready, 0, None));
        assert_eq!(q.log_entries(mine, 0).await.unwrap()[0].status, LogStatus::Released);
        assert_eq!(q.get(other).await.unwrap().unwrap().status, Status::InProcess);
        let job =
            q.claim("up-0", at(5), LEASE).await.unwrap().expect("runs again before the lease ends");
        assert_eq!((job.id(), job.attempt()), (mine, 1));
    })
    .await;
}

#[tokio::test]
async fn an_entry_on_hold_does_not_run_until_restarted() {
    for_each_backend(|url, _| async move {
        let (q, clock) = queue(&url).await;
        let id = q.enqueue(NewJob::new("post", json!({}))).await.unwrap();
        assert_eq!(q.set_on_hold(id).await.unwrap().status, Status::OnHold);
        assert!(q.claim("w", at(3600), LEASE).await.unwrap().is_none());
        clock.set(at(3600));
        assert_eq!(q.restart(id).await.unwrap().status, Status::Ready);
        let job = q.claim("w", at(3600), LEASE).await.unwrap().unwrap();

        // Not while it runs.
        let err = q.set_on_hold(id).await.unwrap_err();
        assert!(matches!(err, JobError::InvalidStatus { status: Status::InProcess, .. }), "{err}");
        assert!(matches!(q.restart(id).await, Err(JobError::InvalidStatus { .. })));
        q.complete(&job, Outcome::Finished, at(3601)).await.unwrap();

        let missing = kontor_jobs::JobId::new();
        assert!(matches!(q.restart(missing).await, Err(JobError::NotFound(it)) if it == missing));
        assert_eq!(q.get(missing).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn the_list_filters_by_status_and_kind_and_pages_and_entries_can_be_deleted() {
    for_each_backend(|url, _| async move {
        let (q, clock) = queue(&url).await;
        let mut ids = Vec::new();
        for n in 0..5 {
            clock.advance(Duration::from_secs(1));
            let kind = if n % 2 == 0 { "even" } else { "odd" };
            ids.push(q.enqueue(NewJob::new(kind, json!({ "n": n }))).await.unwrap());
        }
        q.set_on_hold(ids[4]).await.unwrap();
        let list = |filter: ListFilter| {
            let q = q.clone();
            async move { q.list(&filter).await.unwrap().into_iter().map(|it| it.id).collect::<Vec<_>>() }
        };
        assert_eq!(list(ListFilter::default()).await, ids);
        assert_eq!(list(ListFilter { kind: Some("even".into()), ..Default::default() }).await, vec![ids[0], ids[2], ids[4]]);
        assert_eq!(list(ListFilter { status: Some(Status::OnHold), ..Default::default() }).await, vec![ids[4]]);
        assert_eq!(list(ListFilter { limit: 2, offset: 1, ..Default::default() }).await, vec![ids[1], ids[2]]);
        assert_eq!(q.count(&ListFilter { kind: Some("even".into()), limit: 1, ..Default::default() }).await.unwrap(), 3);

        // Deleting takes the log along; not while the entry runs.
        let job = q.claim("w", at(10), Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(job.id(), ids[0]);
        assert!(matches!(q.delete(ids[0]).await, Err(JobError::InvalidStatus { .. })));
        q.complete(&job, Outcome::Finished, at(10)).await.unwrap();
        q.delete(ids[0]).await.unwrap();
        assert_eq!(q.get(ids[0]).await.unwrap(), None);
        assert!(q.log_entries(ids[0], 0).await.unwrap().is_empty());
        assert!(matches!(q.delete(ids[0]).await, Err(JobError::NotFound(_))));
        assert_eq!(q.count(&ListFilter::default()).await.unwrap(), 4);
    })
    .await;
}

#[tokio::test]
async fn a_failing_recurring_entry_is_retried_with_a_backoff_for_ever_and_keeps_its_last_error() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let q = q.with_max_rerun_delay(Duration::from_secs(240));
        let id = q
            .ensure_recurring(
                NewJob::recurring("sync", "CUSTOMER", json!({}), 30 * MINUTE)
                    .max_attempts(2)
                    .rerun_delay(Duration::from_secs(30)),
            )
            .await
            .unwrap();
        // Waits after each failure in a row: 30 s doubling, at most the queue's 240 s, well past
        // the entry's two attempts; permanent failures too.
        let mut now = t0();
        for (attempt, wait, permanent) in
            [(1, 30, false), (2, 60, true), (3, 120, false), (4, 240, false), (5, 240, true)]
        {
            let job = q.claim("w", now, LEASE).await.unwrap().expect("due again");
            assert_eq!(job.attempt(), attempt);
            let reason = format!("Sales refused the credentials ({attempt})");
            let outcome = if permanent {
                Outcome::FailedPermanently(reason)
            } else {
                Outcome::Failed(reason)
            };
            let entry = q.complete(&job, outcome, now).await.unwrap();
            let retry_at = now + Duration::from_secs(wait);
            assert_eq!(
                (entry.status, entry.run_at, entry.attempts),
                (Status::Ready, retry_at, attempt)
            );
            assert_eq!(
                entry.last_error,
                Some(format!("Sales refused the credentials ({attempt})"))
            );
            assert!(
                q.claim("w", retry_at - Duration::from_secs(1), LEASE).await.unwrap().is_none()
            );
            assert_eq!(
                q.failing().await.unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
                vec![id]
            );
            now = retry_at;
        }
        let job = q.claim("w", now, LEASE).await.unwrap().unwrap();
        let entry = q.complete(&job, Outcome::Finished, now).await.unwrap();
        assert_eq!((entry.status, entry.attempts, entry.last_error), (Status::Ready, 0, None));
        assert_eq!(entry.run_at, now + 30 * MINUTE, "back on its interval");
        assert!(q.failing().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_failing_recurring_entry_leaves_the_schedule_only_when_set_on_hold() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q
            .ensure_recurring(NewJob::recurring("sync", "ITEM", json!({}), 30 * MINUTE))
            .await
            .unwrap();
        let job = q.claim("w", t0(), LEASE).await.unwrap().unwrap();
        q.complete(&job, Outcome::Failed("Sales is unavailable".into()), t0()).await.unwrap();
        let held = q.set_on_hold(id).await.unwrap();
        assert_eq!(
            (held.status, held.last_error.as_deref()),
            (Status::OnHold, Some("Sales is unavailable"))
        );
        assert!(q.claim("w", at(86_400), LEASE).await.unwrap().is_none());
        assert!(q.failing().await.unwrap().is_empty(), "on hold by a person is not failing");
        assert_eq!(q.retry_failing_now(None).await.unwrap(), 0, "retrying does not undo a hold");
    })
    .await;
}

#[tokio::test]
async fn retrying_failing_entries_now_runs_them_at_once_with_the_backoff_starting_over() {
    for_each_backend(|url, _| async move {
        let (q, clock) = queue(&url).await;
        let failing = q
            .ensure_recurring(NewJob::recurring("sync", "CUSTOMER", json!({}), 30 * MINUTE))
            .await
            .unwrap();
        let healthy = q
            .ensure_recurring(NewJob::recurring("sync", "ITEM", json!({}), 30 * MINUTE))
            .await
            .unwrap();
        let other = q
            .ensure_recurring(NewJob::recurring("prune", "x", json!({}), 30 * MINUTE))
            .await
            .unwrap();
        let mut now = t0();
        for _ in 0..3 {
            while let Some(job) = q.claim("w", now, LEASE).await.unwrap() {
                let outcome = if job.id() == healthy {
                    Outcome::Finished
                } else {
                    Outcome::Failed("Sales refused the credentials".into())
                };
                q.complete(&job, outcome, now).await.unwrap();
            }
            now = q.get(failing).await.unwrap().unwrap().run_at;
        }
        // Between two retries (the last wait was 4 minutes).
        now -= MINUTE;
        clock.set(now);
        assert_eq!(q.retry_failing_now(Some("sync")).await.unwrap(), 1);
        let entry = q.get(failing).await.unwrap().unwrap();
        assert_eq!((entry.status, entry.run_at, entry.attempts), (Status::Ready, now, 0));
        assert_eq!(
            entry.last_error.as_deref(),
            Some("Sales refused the credentials"),
            "until a run succeeds"
        );
        assert!(
            q.get(healthy).await.unwrap().unwrap().run_at > now,
            "a healthy entry keeps its time"
        );
        assert!(q.get(other).await.unwrap().unwrap().run_at > now, "other kinds are left alone");
        let job = q.claim("w", now, LEASE).await.unwrap().expect("due at once");
        assert_eq!((job.id(), job.attempt()), (failing, 1));
        let entry = q.complete(&job, Outcome::Failed("again".into()), now).await.unwrap();
        assert_eq!(entry.run_at, now + Duration::from_secs(60), "first wait of the rerun delay");
        assert_eq!(q.retry_failing_now(None).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_recurring_entry_whose_workers_keep_dying_never_goes_to_error() {
    for_each_backend(|url, _| async move {
        let (q, _) = queue(&url).await;
        let id = q
            .ensure_recurring(
                NewJob::recurring("sync", "CUSTOMER", json!({}), 30 * MINUTE).max_attempts(2),
            )
            .await
            .unwrap();
        for n in 0..4u64 {
            let job = q.claim("w", at(n * 60), LEASE).await.unwrap().expect("taken back at once");
            assert_eq!(job.attempt(), u32::try_from(n).unwrap() + 1);
        }
        q.claim("w", at(300), LEASE).await.unwrap();
        let entry = q.get(id).await.unwrap().unwrap();
        assert_eq!(entry.status, Status::InProcess);
    })
    .await;
}
