//! Setup and the full-synchronization scheduler on the job queue.

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use futures::future::BoxFuture;
use kontor_jobs::{Clock, ManualClock, Queue, Worker};
use kontor_store::Db;
use kontor_sync::Side;
use kontor_sync::connector::ConnectorError;
use kontor_sync::engine::Engine;
use kontor_sync::jobs;
use kontor_sync::memory::MemoryConnector;
use kontor_sync::review::{QueueStatus, Stage};
use kontor_sync::setup::{AdminCredentials, SetupRequest, SetupSides, setup};
use kontor_sync::store::SyncStore;
use serde_json::json;
use uuid::Uuid;

struct FakeSides {
    experience: String,
    users: Vec<(String, Uuid)>,
    calls: Mutex<Vec<String>>,
}

impl SetupSides for FakeSides {
    fn financials_experience(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(async move { Ok(self.experience.clone()) })
    }
    fn financials_user_id<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, ConnectorError>> {
        Box::pin(async move { Ok(Some("F1".into())) })
    }
    fn find_sales_user<'a>(
        &'a self,
        name: &'a str,
        _admin: Option<&'a AdminCredentials>,
    ) -> BoxFuture<'a, Result<Option<Uuid>, ConnectorError>> {
        Box::pin(async move { Ok(self.users.iter().find(|u| u.0 == name).map(|u| u.1)) })
    }
    fn import_solution<'a>(
        &'a self,
        _: &'a AdminCredentials,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push("import".into());
            Ok(())
        })
    }
    fn assign_role<'a>(
        &'a self,
        _: &'a AdminCredentials,
        user: Uuid,
        role: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(format!("role {role} to {user}"));
            Ok(())
        })
    }
}

fn request(admin: Option<AdminCredentials>) -> SetupRequest {
    SetupRequest {
        financials_url: "http://fin".into(),
        company_id: Uuid::from_u128(7),
        financials_user: "INTEGRATION".into(),
        sales_url: "http://sales".into(),
        sales_user: "integration@kontor".into(),
        import_solution: admin.is_some(),
        admin,
        enable: None,
    }
}

/// Suite, with the integration user in Sales.
fn suite_sides() -> FakeSides {
    FakeSides {
        experience: "Suite".into(),
        users: vec![("integration@kontor".into(), Uuid::from_u128(0xa1))],
        calls: Mutex::default(),
    }
}

/// A sync store on a fresh SQLite file, set up (Suite, an integration user) with `enable`d
/// mappings, and a manual clock at the set-up time.
struct SetUp {
    _dir: tempfile::TempDir,
    db: Db,
    store: SyncStore,
    clock: Arc<ManualClock>,
}

async fn set_up(enable: &[&str]) -> SetUp {
    let dir = tempfile::tempdir().unwrap();
    let url = kontor_testkit::sqlite_url(&dir);
    set_up_on(dir, &url, enable).await
}

/// [`set_up`] on the database at `url` (SQLite or PostgreSQL).
async fn set_up_on(dir: tempfile::TempDir, url: &str, enable: &[&str]) -> SetUp {
    let db = Db::connect(url).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
    let sides = suite_sides();
    let mut req = request(None);
    req.enable = Some(enable.iter().map(|m| m.to_string()).collect());
    setup(&store, &sides, req, now).await.unwrap();
    SetUp { _dir: dir, db, store, clock: Arc::new(ManualClock::new(now)) }
}

#[tokio::test]
async fn setup_is_refused_without_suite_or_a_sales_user_and_keeps_customised_mappings() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let store = SyncStore::new(Db::connect(&url).await.unwrap());
        store.migrate().await.unwrap();
        let now = Utc::now();
        let user = Uuid::from_u128(0xa1);
        let mut sides = FakeSides {
            experience: "Essential".into(),
            users: vec![("integration@kontor".into(), user)],
            calls: Mutex::default(),
        };
        let err = setup(&store, &sides, request(None), now).await.unwrap_err();
        assert!(
            err.to_string().contains("needs the Suite experience")
                && err.to_string().contains("PATCH /api/v2.0/companies(")
                && !err.to_string().contains("companyInformation"),
            "{err}"
        );
        sides.experience = "Suite".into();
        let mut req = request(None);
        req.sales_user = "nobody".into();
        let err = setup(&store, &sides, req, now).await.unwrap_err();
        assert!(err.to_string().contains("'nobody' does not exist in Sales"), "{err}");

        let admin = AdminCredentials { user: "admin".into(), password: "s3cret-admin-pw".into() };
        let first = setup(&store, &sides, request(Some(admin.clone())), now).await.unwrap();
        assert!(first.solution_imported && first.role_assigned);
        assert_eq!(
            sides.calls.lock().unwrap().clone(),
            vec!["import".to_owned(), format!("role Kontor Integration User to {user}")]
        );

        let mut m = store.mapping("CUSTOMER").await.unwrap();
        m.fields.retain(|f| f.financials.as_deref() != Some("website"));
        store.save_mapping(&m, now).await.unwrap();
        let again = setup(&store, &sides, request(Some(admin)), now).await.unwrap();
        assert_eq!(again.connection_id, first.connection_id);
        assert_eq!(again.kept_customized, vec!["CUSTOMER".to_owned()]);
        assert!(
            store
                .mapping("CUSTOMER")
                .await
                .unwrap()
                .fields
                .iter()
                .all(|f| f.financials.as_deref() != Some("website"))
        );

        // The administrator's password is written nowhere.
        for table in ["sync_connection", "sync_mapping"] {
            let rows = store
                .db()
                .fetch_all_sql(
                    kontor_store::sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")),
                    vec![],
                )
                .await
                .unwrap();
            for r in rows {
                for c in r.columns() {
                    if let Some(v) = r.try_get::<Option<String>>(c).ok().flatten() {
                        assert!(!v.contains("s3cret-admin-pw"), "{table}.{c}");
                    }
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_full_sync_review_runs_jobs_in_dependency_order_through_the_queue() {
    let SetUp { _dir, db, store, clock } = set_up(&["SALESPEOPLE", "CURRENCY", "CUSTOMER"]).await;

    let fin = Arc::new(MemoryConnector::new(Side::Financials, "f1"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, &Uuid::from_u128(0xa1).to_string()));
    fin.put(
        "currencies",
        Uuid::from_u128(2),
        json!({"code": "EUR", "symbol": "€", "displayName": "Euro"}),
        "anna",
    );
    fin.put("salespeople", Uuid::from_u128(1), json!({"code": "JO", "email": "jo@x.com"}), "anna");
    sales.put(
        "systemusers",
        Uuid::from_u128(901),
        json!({"fullname": "Jo", "internalemailaddress": "jo@x.com", "isdisabled": false}),
        "admin",
    );
    for n in 0..5u128 {
        fin.put("customers", Uuid::from_u128(100 + n), json!({"number": format!("C{n}"), "displayName": "X", "salespersonCode": "JO", "currencyCode": "EUR"}), "anna");
    }
    let settings = store.connection().await.unwrap().unwrap();
    let engine =
        Arc::new(Engine::new(store.clone(), fin.clone(), sales.clone(), settings, clock.clone()));
    let queue = Queue::with_clock(db.clone(), clock.clone());
    let worker = Worker::new(queue.clone(), jobs::handlers(engine.clone(), queue.clone()));

    let lines = engine.prepare_full_sync().await.unwrap();
    let names: Vec<(&str, &str)> =
        lines.iter().map(|l| (l.name.as_str(), l.recommendation.label())).collect();
    assert_eq!(
        names,
        vec![
            ("SALESPEOPLE", "Full Synchronization"),
            ("CURRENCY", "Full Synchronization"),
            ("CUSTOMER", "Full Synchronization")
        ]
    );
    // Two workers advancing the review at once start each line once.
    let (a, b) = tokio::join!(engine.advance_full_sync(&queue), engine.advance_full_sync(&queue));
    let mut started = a.unwrap();
    started.extend(b.unwrap());
    started.sort();
    assert_eq!(started, vec!["CURRENCY".to_owned(), "SALESPEOPLE".to_owned()]);
    let status = engine.review_status().await.unwrap();
    assert_eq!(status[2].job_queue_entry_status, " ");
    while worker.run_once(clock.now()).await.unwrap().is_some() {}
    let status = engine.review_status().await.unwrap();
    for s in &status {
        assert_eq!(s.job_queue_entry_status, "Finished", "{status:?}");
    }
    assert_eq!(status[2].to_int_table_job_status, "Success");
    assert_eq!(status[2].from_int_table_job_status, "Success");
    assert_eq!(sales.rows("accounts").len(), 5);

    // Incremental entries: a change is picked up by the next run of the recurring entry.
    engine.schedule_incremental(&queue, std::time::Duration::from_secs(1)).await.unwrap();
    fin.put("customers", Uuid::from_u128(100), json!({"phoneNumber": "777"}), "anna");
    clock.advance(std::time::Duration::from_secs(2));
    while worker.run_once(clock.now()).await.unwrap().is_some() {}
    let acc = kontor_sync::ids::target_id(engine.settings.id, "CUSTOMER", Uuid::from_u128(100));
    assert_eq!(sales.row("accounts", acc).unwrap()["telephone1"], json!("777"));

    // A day later (and a week after the full sync) the daily clean-up prunes the job log.
    let jobs_before = store.jobs(None, 1000).await.unwrap().len();
    clock.advance(std::time::Duration::from_secs(8 * 24 * 3600));
    while worker.run_once(clock.now()).await.unwrap().is_some() {}
    let jobs_after = store.jobs(None, 1000).await.unwrap().len();
    let entry = queue.get_by_key(jobs::PRUNE, "synch-jobs").await.unwrap();
    assert!(
        jobs_after < jobs_before,
        "{jobs_before} → {jobs_after} {entry:?} {:?}",
        store.jobs(None, 100).await.unwrap()
    );
}

#[tokio::test]
async fn a_review_line_whose_worker_died_on_the_last_attempt_shows_error_instead_of_in_process() {
    let SetUp { _dir, db, store, clock } = set_up(&["CURRENCY"]).await;
    let fin = Arc::new(MemoryConnector::new(Side::Financials, "f1"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, &Uuid::from_u128(0xa1).to_string()));
    fin.put(
        "currencies",
        Uuid::from_u128(2),
        json!({"code": "EUR", "displayName": "Euro"}),
        "anna",
    );
    let settings = store.connection().await.unwrap().unwrap();
    let engine = Engine::new(store.clone(), fin, sales, settings, clock.clone());
    let queue = Queue::with_clock(db.clone(), clock.clone());
    engine.prepare_full_sync().await.unwrap();
    engine.advance_full_sync(&queue).await.unwrap();

    // Three workers in a row take the job, mark the line In Process and die (no heartbeat, no
    // completion); each time the lease runs out and the next claim takes the entry back.
    let lease = std::time::Duration::from_secs(60);
    for attempt in 0..3 {
        let claimed = queue.claim("doomed", clock.now(), lease).await.unwrap();
        assert!(claimed.is_some(), "attempt {attempt} is claimed");
        store
            .set_review_status(
                "CURRENCY",
                kontor_sync::review::QueueStatus::InProcess,
                None,
                clock.now(),
            )
            .await
            .unwrap();
        clock.advance(lease * 2);
    }
    assert!(queue.claim("next", clock.now(), lease).await.unwrap().is_none(), "out of attempts");

    assert_eq!(engine.review_status().await.unwrap()[0].job_queue_entry_status, "In Process");
    let checked = engine.review_status_on(&queue).await.unwrap();
    assert_eq!(checked[0].name, "CURRENCY");
    assert_eq!(checked[0].job_queue_entry_status, "Error", "{checked:?}");
}

#[tokio::test]
async fn unit_group_mapping_switches_the_unit_mappings_and_they_recommend_against_sales_unit_groups()
 {
    use kontor_sync::defaults::MappingOptions;
    use kontor_sync::setup::setup_with;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
    let sides = suite_sides();
    let enabled = |set: &kontor_sync::mapping::MappingSet| -> Vec<String> {
        set.mappings
            .iter()
            .filter(|m| m.enabled && m.name.contains("U"))
            .map(|m| m.name.clone())
            .collect()
    };
    let on = MappingOptions { unit_group_mapping: true };
    setup_with(&store, &sides, request(None), on, now).await.unwrap();
    let set = store.mappings().await.unwrap();
    assert!(!set.get("UNIT OF MEASURE").unwrap().enabled);
    for name in ["UNIT GROUP", "ITEM UOM", "RESOURCE UOM"] {
        assert!(set.get(name).unwrap().enabled, "{name}: {:?}", enabled(&set));
    }

    // Sales holds one unit group (its default one) and two units: the units still count as
    // empty, as Business Central compares the unit mappings against the unit group count.
    let fin = Arc::new(MemoryConnector::new(Side::Financials, "f1"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, &Uuid::from_u128(0xa1).to_string()));
    fin.put(
        "unitGroups",
        Uuid::from_u128(1),
        json!({"code": "ITEM1", "sourceType": "Item"}),
        "anna",
    );
    fin.put("itemUnitsOfMeasure", Uuid::from_u128(2), json!({"code": "PCS"}), "anna");
    sales.put("uomschedules", Uuid::from_u128(900), json!({"name": "Default Unit"}), "admin");
    for n in 0..2u128 {
        sales.put("uoms", Uuid::from_u128(901 + n), json!({"name": format!("U{n}")}), "admin");
    }
    let settings = store.connection().await.unwrap().unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let engine = Engine::new(store.clone(), fin, sales, settings, clock);
    let lines = engine.prepare_full_sync().await.unwrap();
    let rec = |n: &str| lines.iter().find(|l| l.name == n).unwrap().recommendation.label();
    assert_eq!(rec("UNIT GROUP"), "Full Synchronization");
    assert_eq!(rec("ITEM UOM"), "Full Synchronization");
    assert_eq!(rec("RESOURCE UOM"), "No Records Found");

    // Off again: the legacy mapping is back and the unit group mappings stay, disabled.
    setup_with(&store, &sides, request(None), MappingOptions::default(), now).await.unwrap();
    let set = store.mappings().await.unwrap();
    assert!(set.get("UNIT OF MEASURE").unwrap().enabled);
    for name in ["UNIT GROUP", "ITEM UOM", "RESOURCE UOM"] {
        assert!(!set.get(name).unwrap().enabled, "{name}: {:?}", enabled(&set));
    }
    assert_eq!(
        set.get("ITEM-PRODUCT").unwrap().dependency_filter,
        "UNIT OF MEASURE",
        "the products look up the legacy unit groups again"
    );
}

#[tokio::test]
async fn a_lines_records_go_to_sales_once_its_dependencies_have_reached_sales_and_back_once_they_have_finished()
 {
    let SetUp { _dir, db, store, clock } = set_up(&["CUSTOMER", "CONTACT"]).await;
    let fin = Arc::new(MemoryConnector::new(Side::Financials, "f1"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, &Uuid::from_u128(0xa1).to_string()));
    for n in 0..3u128 {
        fin.put(
            "customers",
            Uuid::from_u128(100 + n),
            json!({"number": format!("C{n}"), "displayName": format!("Customer {n}")}),
            "anna",
        );
        fin.put("contacts", Uuid::from_u128(200 + n), json!({"number": format!("K{n}"), "type": "Person", "companyNumber": format!("C{n}"), "displayName": format!("Ann Smith{n}")}), "anna");
    }
    let settings = store.connection().await.unwrap().unwrap();
    let engine =
        Arc::new(Engine::new(store.clone(), fin.clone(), sales.clone(), settings, clock.clone()));
    let queue = Queue::with_clock(db.clone(), clock.clone());
    let worker = Worker::new(queue.clone(), jobs::handlers(engine.clone(), queue.clone()));
    engine.prepare_full_sync().await.unwrap();
    assert_eq!(engine.advance_full_sync(&queue).await.unwrap(), vec!["CUSTOMER".to_owned()]);

    let line = |name: &str| {
        let store = store.clone();
        let name = name.to_owned();
        async move {
            let l =
                store.review().await.unwrap().into_iter().find(|l| l.line.name == name).unwrap();
            (l.line.queue_status, l.line.stage)
        }
    };
    let ready = || {
        let queue = queue.clone();
        async move {
            let filter = kontor_jobs::ListFilter {
                status: Some(kontor_jobs::Status::Ready),
                kind: Some(jobs::FULL_SYNC.into()),
                ..Default::default()
            };
            let mut d: Vec<String> =
                queue.list(&filter).await.unwrap().into_iter().map(|e| e.description).collect();
            d.sort();
            d
        }
    };

    // CUSTOMER's records reach Sales: CONTACT's may follow while CUSTOMER reads Sales back.
    worker.run_once(clock.now()).await.unwrap().expect("CUSTOMER's job");
    assert_eq!(line("CUSTOMER").await, (QueueStatus::InProcess, Stage::FromStarted));
    assert_eq!(
        ready().await,
        vec![
            "Full Sales → Financials pass of CUSTOMER".to_owned(),
            "Full synchronization of CONTACT".to_owned()
        ]
    );
    // Whatever order the two run in, CONTACT's own read-back waits for CUSTOMER to finish.
    while worker.run_once(clock.now()).await.unwrap().is_some() {
        let (customer, _) = line("CUSTOMER").await;
        let (_, contact) = line("CONTACT").await;
        assert!(
            contact != Stage::FromStarted || customer == QueueStatus::Finished,
            "CONTACT read Sales back before CUSTOMER finished"
        );
    }
    for name in ["CUSTOMER", "CONTACT"] {
        assert_eq!(line(name).await, (QueueStatus::Finished, Stage::FromStarted), "{name}");
    }
    let status = engine.review_status().await.unwrap();
    assert!(
        status.iter().all(|s| s.to_int_table_job_status == "Success"
            && s.from_int_table_job_status == "Success"
            && !s.held_up),
        "{status:?}"
    );
    assert_eq!(sales.rows("contacts").len(), 3);
}

#[tokio::test]
async fn a_failing_incremental_entry_names_its_mapping_and_direction_and_retries_with_a_backoff_until_it_succeeds()
 {
    let SetUp { _dir, db, store, clock } = set_up(&["CURRENCY"]).await;
    let fin = Arc::new(MemoryConnector::new(Side::Financials, "f1"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, &Uuid::from_u128(0xa1).to_string()));
    let settings = store.connection().await.unwrap().unwrap();
    let engine =
        Arc::new(Engine::new(store.clone(), fin.clone(), sales.clone(), settings, clock.clone()));
    let queue = Queue::with_clock(db.clone(), clock.clone());
    let worker = Worker::new(queue.clone(), jobs::handlers(engine.clone(), queue.clone()));
    fin.put(
        "currencies",
        Uuid::from_u128(2),
        json!({"code": "EUR", "symbol": "€", "displayName": "Euro"}),
        "anna",
    );
    engine.prepare_full_sync().await.unwrap();
    engine.run_full_sync_line("CURRENCY").await.unwrap();
    engine.schedule_incremental(&queue, std::time::Duration::from_secs(60)).await.unwrap();
    fin.put("currencies", Uuid::from_u128(2), json!({"displayName": "Euro (EU)"}), "anna");
    sales.fail_next_writes(1000);
    let mut waits = Vec::new();
    for _ in 0..4 {
        let now = clock.now();
        while worker.run_once(clock.now()).await.unwrap().is_some() {}
        let entry = queue.get_by_key(jobs::INCREMENTAL, "CURRENCY").await.unwrap().unwrap();
        assert_eq!(entry.status, kontor_jobs::Status::Ready, "never Error");
        assert_eq!(
            entry.last_error.as_deref(),
            Some("CURRENCY, Financials → Sales: Sales is unavailable: injected failure")
        );
        waits.push((entry.run_at - now).num_seconds());
        clock.set(entry.run_at);
    }
    assert_eq!(waits, vec![30, 60, 120, 240]);
    sales.fail_next_writes(0);
    while worker.run_once(clock.now()).await.unwrap().is_some() {}
    let entry = queue.get_by_key(jobs::INCREMENTAL, "CURRENCY").await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.attempts, entry.last_error),
        (kontor_jobs::Status::Ready, 0, None)
    );
    assert_eq!(sales.write_count(), 2, "the full sync's write and the change's");
}

#[tokio::test]
async fn a_synch_job_whose_worker_died_is_closed_as_interrupted_when_its_lease_is_taken_over_and_the_next_job_says_it_resumes_the_work()
 {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let SetUp { _dir, db, store, clock } = set_up_on(dir, &url, &["CURRENCY"]).await;
        let fin = Arc::new(MemoryConnector::new(Side::Financials, "f1"));
        let sales = Arc::new(MemoryConnector::new(Side::Sales, &Uuid::from_u128(0xa1).to_string()));
        fin.put(
            "currencies",
            Uuid::from_u128(2),
            json!({"code": "EUR", "displayName": "Euro"}),
            "anna",
        );
        let settings = store.connection().await.unwrap().unwrap();
        let engine =
            Arc::new(Engine::new(store.clone(), fin, sales.clone(), settings, clock.clone()));
        let queue = Queue::with_clock(db.clone(), clock.clone());
        engine.prepare_full_sync().await.unwrap();
        engine.advance_full_sync(&queue).await.unwrap();

        // A worker claims the line's job, starts its synch job, writes a record and dies.
        let lease = std::time::Duration::from_secs(60);
        let claimed = queue.claim("doomed", clock.now(), lease).await.unwrap().unwrap();
        let dead = store
            .start_job_in_run(
                "CURRENCY",
                "ToIntegrationTable",
                "Synchronization",
                Some(claimed.run_id),
                &[],
                clock.now(),
            )
            .await
            .unwrap();
        let done = kontor_sync::plan::Counters { inserted: 1, ..Default::default() };
        store.add_to_job(dead, &done, &[]).await.unwrap();
        // While its lease holds, the job is its run's: nothing closes it.
        assert!(store.close_interrupted_jobs(clock.now()).await.unwrap().is_empty(), "{backend}");
        assert_eq!(store.job(dead).await.unwrap().unwrap().finished_at, None);

        // The lease runs out; the next worker takes the entry back and runs it.
        clock.advance(lease * 2);
        let worker = Worker::new(queue.clone(), jobs::handlers(engine.clone(), queue.clone()));
        while worker.run_once(clock.now()).await.unwrap().is_some() {}

        let old = store.job(dead).await.unwrap().unwrap();
        assert!(old.finished_at.is_some(), "{backend}: {old:?}");
        assert_eq!(old.message, kontor_sync::store::INTERRUPTED, "{backend}");
        assert_eq!(old.counters.inserted, 1, "{backend}: what it had done is kept");
        let jobs = store.jobs(Some("CURRENCY"), 10).await.unwrap();
        let resumed = jobs.iter().find(|j| j.id != dead && j.direction == "ToIntegrationTable");
        let resumed = resumed.unwrap_or_else(|| panic!("{backend}: {jobs:?}"));
        assert_eq!(resumed.resumes, vec![dead], "{backend}");
        assert_eq!(resumed.message, "", "{backend}: the resumed job succeeded");
        assert_eq!(resumed.note(), format!("Resumes the work of interrupted job {dead}."));
        assert!(resumed.finished_at.is_some(), "{backend}");
        assert!(jobs.iter().all(|j| j.finished_at.is_some()), "{backend}: none left In Process");
        assert_eq!(sales.rows("transactioncurrencies").len(), 1, "{backend}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_switched_to_essential_pauses_the_recurring_synchronization_until_it_is_suite_again()
 {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let db = Db::connect(&url).await.unwrap();
        let store = SyncStore::new(db.clone());
        store.migrate().await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        let mut req = request(None);
        req.enable = Some(vec!["CURRENCY".into()]);
        setup(&store, &suite_sides(), req, now).await.unwrap();
        let clock = Arc::new(ManualClock::new(now));
        let fin = Arc::new(MemoryConnector::new(Side::Financials, "f1"));
        let sales = Arc::new(MemoryConnector::new(Side::Sales, &Uuid::from_u128(0xa1).to_string()));
        let settings = store.connection().await.unwrap().unwrap();
        let engine = Arc::new(Engine::new(
            store.clone(),
            fin.clone(),
            sales.clone(),
            settings,
            clock.clone(),
        ));
        let queue = Queue::with_clock(db.clone(), clock.clone());
        queue.migrate().await.unwrap();
        let worker = Worker::new(queue.clone(), jobs::handlers(engine.clone(), queue.clone()));
        let eur = Uuid::from_u128(2);
        fin.put("currencies", eur, json!({"code": "EUR", "displayName": "Euro"}), "anna");
        engine.prepare_full_sync().await.unwrap();
        engine.run_full_sync_line("CURRENCY").await.unwrap();
        engine.schedule_incremental(&queue, std::time::Duration::from_secs(60)).await.unwrap();
        let writes = sales.write_count();
        let synced_name =
            || sales.rows("transactioncurrencies").first().map(|(_, r)| r["currencyname"].clone());
        assert_eq!(synced_name(), Some(json!("Euro")), "{backend}");

        // (experience, the change made meanwhile, paused?, the name Sales has after the runs)
        let cases = [
            ("Essential", "Euro (EU)", true, "Euro"),
            ("Essential", "Euro (EUR)", true, "Euro"),
            ("Suite", "Euro (EUR)", false, "Euro (EUR)"),
        ];
        for (experience, name, paused, expected) in cases {
            fin.set_experience(experience);
            fin.put("currencies", eur, json!({"displayName": name}), "anna");
            assert_eq!(engine.paused().await.unwrap().is_some(), paused, "{backend} {experience}");
            if !paused {
                // What the watcher does when the gate lifts: the paused entries run at once.
                queue.retry_failing_now(Some(jobs::INCREMENTAL)).await.unwrap();
            }
            while worker.run_once(clock.now()).await.unwrap().is_some() {}
            let entry = queue.get_by_key(jobs::INCREMENTAL, "CURRENCY").await.unwrap().unwrap();
            assert_eq!(entry.status, kontor_jobs::Status::Ready, "{backend}: never Error");
            assert_eq!(synced_name(), Some(json!(expected)), "{backend} {experience}");
            match entry.last_error.as_deref() {
                Some(e) if paused => {
                    assert!(e.starts_with("The integration is paused"), "{backend}: {e}");
                    assert!(e.contains("'Essential'"), "{e}");
                    assert!(
                        e.contains(
                            "PATCH /api/v2.0/companies(00000000-0000-0000-0000-000000000007)"
                        ),
                        "{e}"
                    );
                    assert!(e.contains("{\"experience\": \"Suite\"}"), "{e}");
                }
                None if !paused => {}
                other => panic!("{backend} {experience}: last error {other:?}"),
            }
            clock.set(entry.run_at.max(clock.now()));
        }
        assert_eq!(sales.write_count(), writes + 1, "{backend}: only the run after Suite wrote");
    })
    .await;
}
