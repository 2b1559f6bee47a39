//! Incremental synchronization between the real servers: changes on either side reach the
//! other through the recurring job queue entries; conflicts name the field; edits of different
//! fields merge; echoes of the integration user's writes come back as nothing.

mod common;

use std::time::{Duration, Instant};

use common::{Scale, World, id, put};
use kontor_sync::connector::{Connector, TableRef};
use kontor_sync::engine::Mode;
use serde_json::{Value, json};
use uuid::Uuid;

async fn field(
    c: &kontor_connectors::ODataConnector,
    set: &str,
    key: &str,
    row: Uuid,
    name: &str,
) -> Value {
    let rows = c.get(&TableRef::new(set, key), &[row]).await.unwrap();
    rows.first().and_then(|r| r.fields.get(name).cloned()).unwrap_or(Value::Null)
}

async fn wait_for(
    c: &kontor_connectors::ODataConnector,
    set: &str,
    key: &str,
    row: Uuid,
    name: &str,
    want: &Value,
) -> Duration {
    let started = Instant::now();
    loop {
        if &field(c, set, key, row, name).await == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{set}({row}).{name} never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_on_either_side_reach_the_other_within_two_seconds_and_conflicts_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let w =
        World::start(&kontor_testkit::sqlite_url(&dir), &kontor_testkit::sqlite_url(&dir), None)
            .await;
    w.seed(Scale { customers: 50, items: 20 }).await;
    w.full_sync().await;
    assert!(w.errors().await.is_empty(), "{:?}", w.errors().await);
    let customer = id("cust", 7);
    let account = w
        .store
        .couplings_for("CUSTOMER", kontor_sync::Side::Financials, &[customer])
        .await
        .unwrap()[0]
        .sales_id;

    // Workers running the recurring incremental entries.
    // Recurring entries as a safety net, and a watcher waking them as soon as a feed has changes.
    w.engine.schedule_incremental(&w.queue, Duration::from_secs(30)).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    {
        let engine = w.engine.clone();
        let queue = w.queue.clone();
        let mut rx = stopped.clone();
        handles.push(tokio::spawn(async move {
            engine
                .watch(&queue, Duration::from_millis(200), async move {
                    let _ = rx.changed().await;
                })
                .await;
            Ok(())
        }));
    }
    for n in 0..3 {
        let worker = w
            .worker
            .clone()
            .with_id(format!("e2e-{n}"))
            .with_poll_interval(Duration::from_millis(50));
        let mut rx = stopped.clone();
        handles.push(tokio::spawn(async move {
            worker
                .run(async move {
                    let _ = rx.changed().await;
                })
                .await
        }));
    }

    // Financials → Sales.
    put(&w.fin_admin, "customers", "id", vec![(customer, json!({"phoneNumber": "+47 11111111"}))])
        .await;
    let to_sales = wait_for(
        &w.sales_admin,
        "accounts",
        "accountid",
        account,
        "telephone1",
        &json!("+47 11111111"),
    )
    .await;
    // Sales → Financials.
    put(
        &w.sales_admin,
        "accounts",
        "accountid",
        vec![(account, json!({"emailaddress1": "changed@example.com"}))],
    )
    .await;
    let to_fin =
        wait_for(&w.fin_admin, "customers", "id", customer, "email", &json!("changed@example.com"))
            .await;
    println!(
        "incremental latency: Financials → Sales {to_sales:.2?}, Sales → Financials {to_fin:.2?}"
    );
    assert!(to_sales < Duration::from_secs(2), "Financials → Sales took {to_sales:?}");
    assert!(to_fin < Duration::from_secs(2), "Sales → Financials took {to_fin:?}");

    // The echoes came back as nothing: no job modified Financials after the Sales change.
    stop.send(true).unwrap();
    for h in handles {
        h.await.unwrap().unwrap();
    }

    // Same field on both sides: the record fails, naming the field.
    put(&w.fin_admin, "customers", "id", vec![(customer, json!({"phoneNumber": "+47 22222222"}))])
        .await;
    put(
        &w.sales_admin,
        "accounts",
        "accountid",
        vec![(account, json!({"telephone1": "+47 33333333"}))],
    )
    .await;
    let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    assert_eq!(reports[0].counters.failed, 1, "{reports:?}");
    let errors = w.store.job_errors(reports[0].job_id).await.unwrap();
    assert!(errors[0].message.contains("phoneNumber ↔ telephone1"), "{}", errors[0].message);
    assert_eq!(
        field(&w.fin_admin, "customers", "id", customer, "phoneNumber").await,
        json!("+47 22222222")
    );
    assert_eq!(
        field(&w.sales_admin, "accounts", "accountid", account, "telephone1").await,
        json!("+47 33333333")
    );

    // Different fields on both sides merge.
    let other = id("cust", 8);
    let other_account =
        w.store.couplings_for("CUSTOMER", kontor_sync::Side::Financials, &[other]).await.unwrap()
            [0]
        .sales_id;
    put(&w.fin_admin, "customers", "id", vec![(other, json!({"city": "Bergen"}))]).await;
    put(
        &w.sales_admin,
        "accounts",
        "accountid",
        vec![(other_account, json!({"websiteurl": "https://merged.example.com"}))],
    )
    .await;
    let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    assert!(reports.iter().all(|r| r.counters.failed <= 1), "{reports:?}");
    assert_eq!(
        field(&w.sales_admin, "accounts", "accountid", other_account, "address1_city").await,
        json!("Bergen")
    );
    assert_eq!(
        field(&w.sales_admin, "accounts", "accountid", other_account, "websiteurl").await,
        json!("https://merged.example.com")
    );
    assert_eq!(field(&w.fin_admin, "customers", "id", other, "city").await, json!("Bergen"));
    assert_eq!(
        field(&w.fin_admin, "customers", "id", other, "website").await,
        json!("https://merged.example.com")
    );

    // Running again changes nothing (echo suppression).
    let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    for r in &reports {
        assert_eq!((r.counters.inserted, r.counters.modified), (0, 0), "{reports:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_company_switched_to_essential_pauses_the_running_integration_and_suite_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let w =
        World::start(&kontor_testkit::sqlite_url(&dir), &kontor_testkit::sqlite_url(&dir), None)
            .await;
    w.seed(Scale { customers: 5, items: 2 }).await;
    w.full_sync().await;
    let customer = id("cust", 3);
    let account = w
        .store
        .couplings_for("CUSTOMER", kontor_sync::Side::Financials, &[customer])
        .await
        .unwrap()[0]
        .sales_id;
    w.engine.schedule_incremental(&w.queue, Duration::from_secs(30)).await.unwrap();
    // The watcher and a worker as `kontor up` runs them (the watcher of the engine slot).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let slot = kontor_sync::jobs::EngineSlot::with(w.engine.clone());
    let (queue, mut rx) = (w.queue.clone(), stopped.clone());
    let watcher = tokio::spawn(async move {
        slot.watch(&queue, Duration::from_millis(100), async move {
            let _ = rx.changed().await;
        })
        .await
    });
    let worker = w.worker.clone().with_id("e2e-gate").with_poll_interval(Duration::from_millis(50));
    let mut rx = stopped.clone();
    let running = tokio::spawn(async move {
        worker
            .run(async move {
                let _ = rx.changed().await;
            })
            .await
    });
    let company = format!("{}/api/v2.0/companies({})", w.fin.base_url, w.fin.company_id);
    let experience = |e: &'static str| {
        let (fin, company) = (w.fin_admin.clone(), company.clone());
        async move {
            let (s, body) = fin
                .send_json(reqwest::Method::PATCH, &company, &json!({"experience": e}))
                .await
                .unwrap();
            assert!(s.is_success(), "{body}");
        }
    };

    // Essential: the change is not synchronized, and the entry says why and where to change it.
    experience("Essential").await;
    put(&w.fin_admin, "customers", "id", vec![(customer, json!({"phoneNumber": "+47 44444444"}))])
        .await;
    w.queue.wake(kontor_sync::jobs::INCREMENTAL, Some("CUSTOMER")).await.unwrap();
    let started = Instant::now();
    let last_error = loop {
        let entry = w.queue.get_by_key(kontor_sync::jobs::INCREMENTAL, "CUSTOMER").await.unwrap();
        if let Some(e) = entry.and_then(|e| e.last_error) {
            break e;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the CUSTOMER entry never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(last_error.starts_with("The integration is paused"), "{last_error}");
    assert!(last_error.contains(&format!("PATCH /api/v2.0/companies({})", w.fin.company_id)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let phone = field(&w.sales_admin, "accounts", "accountid", account, "telephone1").await;
    assert_ne!(phone, json!("+47 44444444"), "synchronized while Essential");
    // A person's Run Full Synchronization and Start are refused with the same message.
    let it =
        kontor_integration::Integration::new(w.store.clone(), w.queue.clone(), w.clock.clone());
    it.set_engine(w.engine.clone());
    for (what, refused) in
        [("review", it.full_sync_review().await.err()), ("start", it.start_full_sync().await.err())]
    {
        let refused = refused.unwrap_or_else(|| panic!("{what} is refused while Essential"));
        assert!(refused.to_string().starts_with("The integration is paused"), "{what}: {refused}");
    }

    // Suite again: the integration resumes by itself, without waiting out the backoff.
    experience("Suite").await;
    let took = wait_for(
        &w.sales_admin,
        "accounts",
        "accountid",
        account,
        "telephone1",
        &json!("+47 44444444"),
    )
    .await;
    assert!(took < Duration::from_secs(5), "resumed after {took:?}");
    stop.send(true).unwrap();
    watcher.await.unwrap();
    running.await.unwrap().unwrap();
}

/// The value of `kontor_sync_lag_seconds` for `mapping` and `direction` in a rendering of
/// `/metrics`.
fn lag_gauge(text: &str, mapping: &str, direction: &str) -> Option<f64> {
    let labels =
        format!("kontor_sync_lag_seconds{{mapping=\"{mapping}\",direction=\"{direction}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&labels)).and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lag_gauge_gives_the_age_of_the_oldest_change_not_yet_synchronized_per_mapping() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this test process");
    let dir = tempfile::tempdir().unwrap();
    let w =
        World::start(&kontor_testkit::sqlite_url(&dir), &kontor_testkit::sqlite_url(&dir), None)
            .await;
    w.seed(Scale { customers: 5, items: 2 }).await;
    w.full_sync().await;
    let it = kontor_sync_server::SyncState::new(w.store.clone(), w.queue.clone(), w.clock.clone());
    it.set_engine(w.engine.clone());
    let hook = kontor_sync_server::scrape_hook(it);
    let scrape = || async {
        hook.run().await;
        handle.render()
    };
    let (to_sales, to_fin) = ("ToIntegrationTable", "FromIntegrationTable");
    let text = scrape().await;
    for (mapping, direction) in
        [("CUSTOMER", to_sales), ("CUSTOMER", to_fin), ("ITEM-PRODUCT", to_sales)]
    {
        assert_eq!(
            lag_gauge(&text, mapping, direction),
            Some(0.0),
            "{mapping} {direction}\n{text}"
        );
    }

    // A customer changed in Financials: its mapping and direction lag, the others do not.
    let customer = id("cust", 2);
    put(&w.fin_admin, "customers", "id", vec![(customer, json!({"phoneNumber": "+47 55555555"}))])
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let text = scrape().await;
    let lag = lag_gauge(&text, "CUSTOMER", to_sales).expect("a CUSTOMER gauge");
    assert!((1.0..60.0).contains(&lag), "{lag}\n{text}");
    assert_eq!(lag_gauge(&text, "CUSTOMER", to_fin), Some(0.0), "{text}");
    assert_eq!(lag_gauge(&text, "ITEM-PRODUCT", to_sales), Some(0.0), "{text}");

    // Once synchronized, nothing waits (its echo in Sales, the integration user's, is not a lag).
    w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    let text = scrape().await;
    for direction in [to_sales, to_fin] {
        assert_eq!(lag_gauge(&text, "CUSTOMER", direction), Some(0.0), "{direction}\n{text}");
    }
}
