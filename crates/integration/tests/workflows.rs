//! The workflows the application layer adds, on SQLite and PostgreSQL: resetting a mapping to
//! its default, and restarting or holding a job queue entry. Each test is a table of cases.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kontor_integration::{Integration, IntegrationError, JobQueueQuery, JobsQuery};
use kontor_jobs::{ManualClock, NewJob, Outcome, Queue};
use kontor_store::Db;
use kontor_sync::SyncError;
use kontor_sync::defaults::default_mappings;
use kontor_sync::mapping::TableMapping;
use kontor_sync::store::{ConnectionSettings, SyncStore};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// The integration user in Sales of the test connection.
const SALES_USER: Uuid = Uuid::from_u128(0x5a1e5);

/// An integration over a fresh store on `url` with the default mappings and a connection.
async fn integration(url: &str) -> Integration {
    let db = Db::connect(url).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let queue = Queue::with_clock(db, clock.clone());
    queue.migrate().await.unwrap();
    store.save_mappings(&default_mappings(), true, false, t0()).await.unwrap();
    let settings = ConnectionSettings {
        id: Uuid::from_u128(0xc0),
        financials_url: "memory".into(),
        company_id: Uuid::nil(),
        sales_url: "memory".into(),
        financials_user: "I".into(),
        financials_user_id: None,
        sales_user_id: Some(SALES_USER.to_string()),
        sales_user_name: "integration".into(),
        enabled: true,
    };
    store.save_connection(&settings, t0()).await.unwrap();
    Integration::new(store, queue, clock)
}

fn error_text(e: &IntegrationError) -> String {
    match e {
        IntegrationError::Sync(SyncError::NotFound(m)) => format!("not found: {m}"),
        IntegrationError::Sync(SyncError::Refused(m)) => format!("refused: {m}"),
        other => format!("other: {other}"),
    }
}

/// A change the user makes to one mapping first: its name and the edit.
type Change = (&'static str, fn(&mut TableMapping));

/// One reset: what the user changed first, which mapping is reset, and what comes out.
struct ResetCase {
    case: &'static str,
    change: Option<Change>,
    reset: &'static str,
    expected: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mapping_goes_back_to_its_default_and_is_no_longer_customised() {
    let cases = [
        ResetCase {
            case: "a customised mapping gets its default fields back",
            change: Some(("CUSTOMER", |m| {
                m.fields.pop();
            })),
            reset: "CUSTOMER",
            expected: "default fields: true, enabled: true, customised: false, leaves out the integration user: false",
        },
        ResetCase {
            case: "a disabled mapping stays disabled",
            change: Some(("CONTACT", |m| {
                m.enabled = false;
                m.fields.truncate(1);
            })),
            reset: "CONTACT",
            expected: "default fields: true, enabled: false, customised: false, leaves out the integration user: false",
        },
        ResetCase {
            case: "salespeople keep leaving out the integration user",
            change: Some(("SALESPEOPLE", |m| m.sales.filter = None)),
            reset: "SALESPEOPLE",
            expected: "default fields: true, enabled: true, customised: false, leaves out the integration user: true",
        },
        ResetCase {
            case: "a mapping that was never changed stays its default",
            change: None,
            reset: "CURRENCY",
            expected: "default fields: true, enabled: true, customised: false, leaves out the integration user: false",
        },
        ResetCase {
            case: "a mapping of the user's own has no default to go back to",
            change: Some(("MY CURRENCIES", |_| {})),
            reset: "MY CURRENCIES",
            expected: "refused: MY CURRENCIES is not one of the default mappings: it has no default to reset to.",
        },
        ResetCase {
            case: "a mapping that does not exist is not found",
            change: None,
            reset: "NOPE",
            expected: "not found: integration table mapping NOPE",
        },
    ];
    let cases = &cases;
    kontor_testkit::for_each_backend(|url, _| async move {
        let it = integration(&url).await;
        let defaults = default_mappings();
        for c in cases {
            if let Some((name, change)) = c.change {
                let mut m = match it.mapping(name).await {
                    Ok(m) => m,
                    Err(_) => TableMapping { name: name.into(), ..it.mapping("CURRENCY").await.unwrap() },
                };
                change(&mut m);
                it.save_mapping(name, m).await.unwrap();
            }
            let got = match it.reset_mapping(c.reset).await {
                Ok(m) => {
                    let stored = it.mapping(c.reset).await.unwrap();
                    assert_eq!(stored, m, "{}: the answer is what is stored", c.case);
                    let customised = it.store.customized_mappings().await.unwrap();
                    format!(
                        "default fields: {}, enabled: {}, customised: {}, leaves out the integration user: {}",
                        defaults.get(c.reset).is_some_and(|d| d.fields == m.fields),
                        m.enabled,
                        customised.iter().any(|n| n == c.reset),
                        m.sales.filter.as_ref().is_some_and(|f| f.as_str().contains(&SALES_USER.to_string())),
                    )
                }
                Err(e) => error_text(&e),
            };
            assert_eq!(got, c.expected, "{}", c.case);
        }
        // The mappings keep their order.
        let names: Vec<String> =
            it.mappings().await.unwrap().mappings.into_iter().map(|m| m.name).collect();
        let mut expected: Vec<String> = defaults.mappings.iter().map(|m| m.name.clone()).collect();
        expected.push("MY CURRENCIES".into());
        assert_eq!(names, expected);
    })
    .await;
}

/// Where an entry stands before the action.
#[derive(Debug, Clone, Copy)]
enum Before {
    Ready,
    OnHold,
    InError,
    InProcess,
    Missing,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Restart,
    Hold,
}

/// Puts a new entry of `kind` in the state `before`; returns its id.
async fn entry(it: &Integration, kind: &str, before: Before) -> Uuid {
    if matches!(before, Before::Missing) {
        return Uuid::from_u128(0xdead);
    }
    let q = &it.queue;
    let id = q.enqueue(NewJob::new(kind, serde_json::json!({})).max_attempts(1)).await.unwrap();
    match before {
        Before::OnHold => {
            q.set_on_hold(id).await.unwrap();
        }
        Before::InError | Before::InProcess => {
            let job = q
                .claim_kinds("w", &[kind.to_owned()], t0(), Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(job.id(), id);
            if matches!(before, Before::InError) {
                q.complete(&job, Outcome::Failed("boom".into()), t0()).await.unwrap();
            }
        }
        Before::Ready | Before::Missing => {}
    }
    id.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queue_entry_is_restarted_or_held_unless_it_is_in_process() {
    use Action::*;
    use Before::*;
    let cases = [
        ("a ready entry put on hold waits", Ready, Hold, "on_hold, attempts 0, error None"),
        ("an entry on hold restarted is ready", OnHold, Restart, "ready, attempts 0, error None"),
        (
            "an entry in error restarted is ready, its attempts and error cleared",
            InError,
            Restart,
            "ready, attempts 0, error None",
        ),
        (
            "an entry in error can be put on hold",
            InError,
            Hold,
            "on_hold, attempts 1, error Some(\"boom\")",
        ),
        ("an entry in process is not put on hold", InProcess, Hold, "cannot set on hold"),
        ("an entry in process is not restarted", InProcess, Restart, "cannot restart"),
        ("a missing entry is not found", Missing, Restart, "not found"),
    ];
    kontor_testkit::for_each_backend(|url, _| async move {
        let it = integration(&url).await;
        for (n, (case, before, action, expected)) in cases.into_iter().enumerate() {
            let id = entry(&it, &format!("test-{n}"), before).await;
            let res = match action {
                Restart => it.restart_entry(id).await,
                Hold => it.hold_entry(id).await,
            };
            let got = match res {
                Ok(e) => {
                    assert_eq!(e.id, id, "{case}");
                    format!(
                        "{}, attempts {}, error {:?}",
                        e.status.as_str(),
                        e.attempts,
                        e.last_error
                    )
                }
                Err(IntegrationError::Queue(kontor_jobs::JobError::InvalidStatus {
                    action,
                    ..
                })) => format!("cannot {action}"),
                Err(IntegrationError::Queue(kontor_jobs::JobError::NotFound(_))) => {
                    "not found".into()
                }
                Err(e) => format!("other: {e}"),
            };
            assert_eq!(got, expected, "{case}");
            // Whatever ran in process is handed back so the next case claims its own entry.
            if matches!(before, InProcess) {
                it.queue.release_runs_of(&["w".into()], t0()).await.unwrap();
                it.hold_entry(id).await.unwrap();
            }
        }

        // The entries list filters by status and names a bad one.
        let held = it
            .job_queue_entries(JobQueueQuery {
                status: Some("on_hold".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(held.len(), 4, "{held:?}");
        assert!(held.iter().all(|e| e.status == kontor_jobs::Status::OnHold));
        let all = it.job_queue_entries(JobQueueQuery::default()).await.unwrap();
        assert_eq!(all.len(), 6);
        let e = it
            .job_queue_entries(JobQueueQuery {
                status: Some("paused".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(&e, IntegrationError::Invalid(m) if m.contains("on_hold")), "{e}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_naming_a_mapping_that_does_not_exist_answer_not_found() {
    use kontor_integration::RetryRequest;
    kontor_testkit::for_each_backend(|url, _| async move {
        let it = integration(&url).await;
        let cases: [(&str, Result<(), IntegrationError>); 4] = [
            ("skipped records of NOPE", it.skipped("NOPE").await.map(drop)),
            (
                "retry of NOPE",
                it.retry(RetryRequest { mapping: Some("NOPE".into()), id: None }).await.map(drop),
            ),
            ("skipped records of CUSTOMER", it.skipped("CUSTOMER").await.map(drop)),
            (
                "retry of CUSTOMER",
                it.retry(RetryRequest { mapping: Some("CUSTOMER".into()), id: None })
                    .await
                    .map(drop),
            ),
        ];
        let got: Vec<String> = cases
            .into_iter()
            .map(|(case, r)| match r {
                Ok(()) => format!("{case}: ok"),
                Err(e) => format!("{case}: {}", error_text(&e)),
            })
            .collect();
        assert_eq!(
            got,
            [
                "skipped records of NOPE: not found: integration table mapping NOPE",
                "retry of NOPE: not found: integration table mapping NOPE",
                "skipped records of CUSTOMER: ok",
                "retry of CUSTOMER: ok",
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_counts_failed_jobs_entries_in_error_and_gives_the_last_synchronization() {
    use kontor_integration::Health;
    use kontor_sync::plan::Counters;
    kontor_testkit::for_each_backend(|url, backend| async move {
        let it = integration(&url).await;
        let empty = it.health().await.unwrap();
        let none = Health {
            failed_jobs: 0,
            skipped_records: 0,
            entries_in_error: 0,
            entries_failing: 0,
            last_synchronization: None,
        };
        assert_eq!(empty, none, "{backend}");
        let store = &it.store;
        let failing =
            store.start_job("CUSTOMER", "ToIntegrationTable", "Sync", t0()).await.unwrap();
        let failed = Counters { failed: 2, ..Counters::default() };
        store.add_to_job(failing, &failed, &[]).await.unwrap();
        store.finish_job(failing, "2 failed", t0()).await.unwrap();
        let later = t0() + chrono::Duration::minutes(5);
        let ok = store.start_job("CURRENCY", "ToIntegrationTable", "Sync", later).await.unwrap();
        let done = later + chrono::Duration::seconds(3);
        store.finish_job(ok, "", done).await.unwrap();
        entry(&it, "health.test", Before::InError).await;
        entry(&it, "health.test", Before::Ready).await;
        let h = it.health().await.unwrap();
        let expected = Health {
            failed_jobs: 1,
            skipped_records: 0,
            entries_in_error: 1,
            entries_failing: 1,
            last_synchronization: Some(done),
        };
        assert_eq!(h, expected, "{backend}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_filtered_by_mapping_and_start_time_newest_first_and_paged() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let it = integration(&url).await;
        let hour = chrono::Duration::hours(1);
        for n in 0..5 {
            for mapping in ["CUSTOMER", "CURRENCY"] {
                let at = t0() - hour * n;
                it.store.start_job(mapping, "ToIntegrationTable", "Sync", at).await.unwrap();
            }
        }
        let starts = |q: JobsQuery| {
            let it = it.clone();
            async move {
                let jobs = it.jobs(q).await.unwrap();
                jobs.iter()
                    .map(|j| (j.mapping.clone(), (t0() - j.started_at).num_hours()))
                    .collect::<Vec<_>>()
            }
        };
        let customer = |hours: &[i64]| -> Vec<(String, i64)> {
            hours.iter().map(|h| ("CUSTOMER".to_owned(), *h)).collect()
        };
        let of =
            |mapping: &str| JobsQuery { mapping: Some(mapping.into()), ..JobsQuery::default() };
        assert_eq!(starts(of("CUSTOMER")).await, customer(&[0, 1, 2, 3, 4]), "{backend}");
        let page = JobsQuery { limit: Some(2), offset: Some(2), ..of("CUSTOMER") };
        assert_eq!(starts(page).await, customer(&[2, 3]), "{backend}");
        let window =
            JobsQuery { from: Some(t0() - hour * 3), to: Some(t0() - hour), ..of("CUSTOMER") };
        assert_eq!(
            starts(window).await,
            customer(&[2, 3]),
            "{backend}: from inclusive, to exclusive"
        );
        let all =
            JobsQuery { mapping: Some(String::new()), limit: Some(3), ..JobsQuery::default() };
        assert_eq!(starts(all).await.len(), 3, "{backend}: an empty mapping is all");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_degraded_reasons_count_failing_entries_by_the_kind_of_their_last_error() {
    use kontor_integration::DegradedReason::*;
    // (last errors of the recurring entries, `None` = its run succeeded; the reasons)
    type Case =
        (&'static [Option<&'static str>], &'static [(kontor_integration::DegradedReason, u64)]);
    // What a run the Suite gate paused leaves as its last error (built at run time, so kept
    // for the whole test).
    let paused: &'static str =
        Box::leak(kontor_sync::setup::paused_message("Essential", Uuid::nil()).into_boxed_str());
    let paused_entries: &'static [Option<&'static str>] =
        Box::leak(Box::new([Some(paused), Some(paused), None]));
    let cases: [Case; 5] = [
        (&[], &[]),
        (&[None, None], &[]),
        (
            &[
                Some("CUSTOMER, Financials → Sales: Sales refused the credentials: 401"),
                Some("ITEM, Sales → Financials: Sales is unavailable: connection refused"),
                Some("CURRENCY, Financials → Sales: Financials refused the credentials: 401"),
                None,
            ],
            &[(EntriesFailing, 3), (SalesUnreachable, 1), (CredentialsRefused, 2)],
        ),
        (
            &[Some("UNIT, Financials → Sales: Financials is unavailable: timed out"), Some("boom")],
            &[(EntriesFailing, 2), (FinancialsUnreachable, 1)],
        ),
        // The Suite gate paused them: the company uses Essential.
        (paused_entries, &[(EntriesFailing, 2), (IntegrationPaused, 2)]),
    ];
    for (errors, expected) in cases {
        kontor_testkit::for_each_backend(|url, backend| async move {
            let it = integration(&url).await;
            for (i, error) in errors.iter().enumerate() {
                let key = format!("M{i}");
                it.queue
                    .ensure_recurring(NewJob::recurring(
                        "sync.incremental",
                        key,
                        serde_json::json!({}),
                        Duration::from_secs(60),
                    ))
                    .await
                    .unwrap();
                let job =
                    it.queue.claim("w", t0(), Duration::from_secs(60)).await.unwrap().expect("due");
                let outcome = match error {
                    Some(e) => Outcome::Failed((*e).to_owned()),
                    None => Outcome::Finished,
                };
                it.queue.complete(&job, outcome, t0()).await.unwrap();
            }
            // A failing entry a person set on hold is not a reason.
            let held = entry(&it, "health.test", Before::InError).await;
            it.hold_entry(held).await.unwrap();
            assert_eq!(it.degraded_reasons().await.unwrap(), expected, "{backend}: {errors:?}");
        })
        .await;
    }
}

/// A reversible stand-in for the binary's cipher.
struct Reverse;
impl kontor_sync::credentials::Sealer for Reverse {
    fn seal(&self, plaintext: &str) -> String {
        plaintext.chars().rev().collect()
    }
    fn open(&self, sealed: &str) -> Option<String> {
        Some(sealed.chars().rev().collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_holds_the_integrations_entries_and_enabling_runs_them_again_on_both_backends() {
    use kontor_jobs::{ListFilter, Status};
    use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn};
    kontor_testkit::for_each_backend(|url, _| async move {
        let it = integration(&url).await.with_sealer(Arc::new(Reverse));
        let every = NewJob::recurring(
            kontor_sync::jobs::INCREMENTAL,
            "CUSTOMER",
            serde_json::json!({"mapping": "CUSTOMER"}),
            Duration::from_secs(30),
        );
        it.queue.ensure_recurring(every).await.unwrap();
        let other = NewJob::new("something.else", serde_json::json!({}));
        it.queue.enqueue(other).await.unwrap();
        let statuses = |it: Integration| async move {
            let mut all: Vec<(String, Status)> = it
                .queue
                .list(&ListFilter::default())
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.kind, e.status))
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all.dedup();
            all
        };
        let refused = it.set_enabled(true).await.unwrap_err().to_string();
        assert!(refused.contains("no credentials are stored"), "{refused}");
        let credentials = IntegrationCredentials {
            financials_url: "memory".into(),
            financials_user: "I".into(),
            financials_key: "k".into(),
            sales_url: "memory".into(),
            sales: SalesSignIn::Password { user: "integration".into(), password: "p".into() },
        };
        it.store.save_credentials(&credentials, &Reverse, t0()).await.unwrap();

        let off = it.set_enabled(false).await.unwrap();
        assert!(!off.enabled && !it.store.connection().await.unwrap().unwrap().enabled);
        assert!(it.engine().is_err());
        assert!(it.connect().await.unwrap().is_none(), "no engine opened while disabled");
        assert_eq!(
            statuses(it.clone()).await,
            vec![
                ("something.else".into(), Status::Ready),
                ("sync.incremental".into(), Status::OnHold)
            ],
            "only the integration's entries are held"
        );
        let on = it.set_enabled(true).await.unwrap();
        assert!(on.enabled && it.engine().is_ok());
        assert_eq!(
            statuses(it.clone()).await,
            vec![
                ("something.else".into(), Status::Ready),
                ("sync.incremental".into(), Status::Ready),
                ("sync.prune".into(), Status::Ready),
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_stored_whole_or_not_at_all_and_edits_keep_the_set_valid_on_both_backends() {
    use kontor_integration::{FieldEdit, MappingEdit};
    use kontor_sync::Direction;
    kontor_testkit::for_each_backend(|url, _| async move {
        let it = integration(&url).await;
        let before = it.export_mappings().await.unwrap();
        let mut file: serde_json::Value = serde_json::from_str(&before).unwrap();
        let mappings = file["mappings"].as_array_mut().unwrap();
        mappings[0]["enabled"] = serde_json::json!(false);
        let last = mappings.len() - 1;
        mappings[last]["fields"] = serde_json::json!([]);
        let bad = serde_json::to_string_pretty(&file).unwrap();
        let err = it.import_mappings(&bad).await.unwrap_err().to_string();
        assert!(err.contains("no enabled field mapping goes") && err.contains("(line "), "{err}");
        assert_eq!(it.export_mappings().await.unwrap(), before, "nothing written");

        let edit = MappingEdit {
            direction: Direction::FromIntegrationTable,
            financials_filter: String::new(),
            sales_filter: "statecode eq 0".into(),
            enabled: true,
        };
        let err = it.edit_mapping("CUSTOMER", edit.clone()).await.unwrap_err().to_string();
        assert!(err.contains("but the table mapping is FromIntegrationTable"), "{err}");
        assert_eq!(it.export_mappings().await.unwrap(), before, "nothing written");
        let m = it
            .edit_mapping(
                "CURRENCY",
                MappingEdit { direction: Direction::ToIntegrationTable, ..edit },
            )
            .await
            .unwrap();
        assert_eq!(it.mapping("CURRENCY").await.unwrap(), m);
        let f =
            FieldEdit { direction: Direction::ToIntegrationTable, constant: None, enabled: false };
        let m = it.edit_field_mapping("CURRENCY", 0, f).await.unwrap();
        assert!(!it.mapping("CURRENCY").await.unwrap().fields[0].enabled && !m.fields[0].enabled);
    })
    .await;
}
