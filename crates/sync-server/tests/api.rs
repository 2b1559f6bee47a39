//! The integration API against a store on SQLite and in-memory sides.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use kontor_financials_server::testing::{TEST_ADMIN_PASSWORD, basic_auth, state_for_test};
use kontor_financials_server::{Config, router_with};
use kontor_jobs::{Clock, ManualClock, Queue, Worker};
use kontor_store::Db;
use kontor_sync::Side;
use kontor_sync::defaults::default_mappings;
use kontor_sync::engine::Engine;
use kontor_sync::memory::MemoryConnector;
use kontor_sync::store::{ConnectionSettings, SyncStore};
use kontor_sync_server::{SyncState, routes};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", basic_auth("ADMIN", TEST_ADMIN_PASSWORD));
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_default()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    )
}

/// The integration's routes as the binary serves them: built by the Financials server from the
/// route table, behind its authentication (`call` signs in as `ADMIN`, who holds SUPER).
async fn app(state: SyncState, dir: &tempfile::TempDir) -> axum::Router {
    let fin = state_for_test(&kontor_testkit::sqlite_url(dir), Config::default()).await;
    router_with(fin, routes(state))
}

#[tokio::test]
async fn the_integration_api_manages_mappings_couplings_full_sync_jobs_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()));
    let queue = Queue::with_clock(db.clone(), clock.clone());
    let state = SyncState::new(store.clone(), queue.clone(), clock.clone());
    let app = app(state.clone(), &dir).await;

    // Without a connection the engine routes say what to do.
    let (s, v) = call(&app, "POST", "/integration/v1/full-sync", None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["error"]["message"],
        json!("The connection to Sales is not set up. Run setup first.")
    );

    // Mappings: import, export, one mapping, a bad import names the problem.
    let mut set = default_mappings();
    // CUSTOMER looks up through the others (its option fields through the option mappings).
    let wanted = [
        "SALESPEOPLE",
        "CURRENCY",
        "PAYMENT TERMS",
        "SHIPMENT METHOD",
        "SHIPPING AGENT",
        "CUSTOMER",
    ];
    set.mappings.retain(|m| wanted.contains(&m.name.as_str()));
    let (s, v) = call(
        &app,
        "POST",
        "/integration/v1/mappings/import",
        Some(serde_json::to_value(&set).unwrap()),
    )
    .await;
    assert_eq!((s, v["imported"].clone()), (StatusCode::OK, json!(6)));
    let (_, v) = call(&app, "GET", "/integration/v1/mappings/export", None).await;
    assert_eq!(v["mappings"].as_array().unwrap().len(), 6);
    let (s, v) = call(&app, "GET", "/integration/v1/mappings/CUSTOMER", None).await;
    assert_eq!((s, v["direction"].clone()), (StatusCode::OK, json!("Bidirectional")));
    let mut broken = serde_json::to_value(&set).unwrap();
    broken["mappings"][5]["financials"]["filter"] = json!("blocked eq");
    let (s, v) = call(&app, "POST", "/integration/v1/mappings/import", Some(broken)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("the Financials table filter is invalid"),
        "{v}"
    );

    // Coupling by hand reads both records first: without a connection it says what to do.
    let (s, v) = call(
        &app,
        "POST",
        "/integration/v1/couplings/CUSTOMER",
        Some(json!({"financialsId": Uuid::from_u128(1), "salesId": Uuid::from_u128(2)})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // With an engine: full sync through the queue, review statuses, jobs, sync now.
    let settings = ConnectionSettings {
        id: Uuid::from_u128(0xc0),
        financials_url: "memory".into(),
        company_id: Uuid::nil(),
        sales_url: "memory".into(),
        financials_user: "I".into(),
        financials_user_id: Some("fi".into()),
        sales_user_id: Some("si".into()),
        sales_user_name: "i".into(),
        enabled: true,
    };
    store.save_connection(&settings, clock.now()).await.unwrap();
    let fin = Arc::new(MemoryConnector::new(Side::Financials, "fi"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, "si"));
    fin.put("currencies", Uuid::from_u128(10), json!({"code": "EUR"}), "u");
    fin.put(
        "customers",
        Uuid::from_u128(20),
        json!({"number": "C1", "displayName": "A", "currencyCode": "EUR"}),
        "u",
    );
    let engine =
        Arc::new(Engine::new(store.clone(), fin.clone(), sales.clone(), settings, clock.clone()));
    state.set_engine(engine.clone());
    let (s, v) = call(&app, "POST", "/integration/v1/full-sync", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let worker =
        Worker::new(queue.clone(), kontor_sync::jobs::handlers(engine.clone(), queue.clone()));
    while worker.run_once(clock.now()).await.unwrap().is_some() {}
    let (_, v) = call(&app, "GET", "/integration/v1/full-sync", None).await;
    let lines = v["value"].as_array().unwrap();
    assert!(lines.iter().all(|l| l["job_queue_entry_status"] == json!("Finished")), "{v}");
    assert_eq!(sales.rows("accounts").len(), 1);
    let (_, v) = call(&app, "GET", "/integration/v1/jobs?mapping=CUSTOMER", None).await;
    let job_id = v["value"][0]["id"].as_str().unwrap().to_owned();
    let (s, v) = call(&app, "GET", &format!("/integration/v1/jobs/{job_id}"), None).await;
    assert_eq!((s, v["errors"].clone()), (StatusCode::OK, json!([])));
    fin.put("customers", Uuid::from_u128(20), json!({"displayName": "B"}), "u");
    let (s, v) =
        call(&app, "POST", "/integration/v1/sync-now", Some(json!({"mapping": "CUSTOMER"}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"][0]["counters"]["modified"], json!(1));
    // Couplings by hand, of records that exist on both sides.
    fin.put("customers", Uuid::from_u128(1), json!({"number": "C2", "displayName": "C"}), "u");
    for n in [2, 3] {
        sales.put("accounts", Uuid::from_u128(n), json!({"name": format!("Account {n}")}), "u");
    }
    let (f, sa) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let (s, _) = call(
        &app,
        "POST",
        "/integration/v1/couplings/CUSTOMER",
        Some(json!({"financialsId": f, "salesId": sa})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = call(
        &app,
        "POST",
        "/integration/v1/couplings/CUSTOMER",
        Some(json!({"financialsId": f, "salesId": Uuid::from_u128(3)})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = call(&app, "GET", "/integration/v1/couplings/CUSTOMER", None).await;
    assert_eq!(v["count"], json!(2), "the synchronized customer's and the one by hand only: {v}");
    let (s, _) =
        call(&app, "DELETE", &format!("/integration/v1/couplings/CUSTOMER/sales/{sa}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let (s, v) = call(&app, "POST", "/integration/v1/retry", Some(json!({}))).await;
    assert_eq!((s, v["retried"].clone()), (StatusCode::OK, json!(0)));
}

#[tokio::test]
async fn match_based_coupling_takes_the_users_choices_and_names_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()));
    let queue = Queue::with_clock(db.clone(), clock.clone());
    let state = SyncState::new(store.clone(), queue.clone(), clock.clone());
    let app = app(state.clone(), &dir).await;
    store.save_mappings(&default_mappings(), true, false, clock.now()).await.unwrap();
    let uri = "/integration/v1/couplings/CUSTOMER/match";

    // Bad choices are a 400 naming the field, before anything runs (even without a connection).
    let (s, v) = call(&app, "POST", uri, Some(json!({"fields": [{"field": "shoeSize"}]}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("'shoeSize'"), "{v}");
    let (s, v) = call(&app, "POST", uri, Some(json!({"feilds": []}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("feilds"), "{v}");
    let (s, v) =
        call(&app, "POST", uri, Some(json!({"fields": [{"field": "name", "priority": -1}]}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = call(&app, "POST", "/integration/v1/couplings/NOPE/match", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let settings = ConnectionSettings {
        id: Uuid::from_u128(0xc0),
        financials_url: "memory".into(),
        company_id: Uuid::nil(),
        sales_url: "memory".into(),
        financials_user: "I".into(),
        financials_user_id: Some("fi".into()),
        sales_user_id: Some("si".into()),
        sales_user_name: "i".into(),
        enabled: true,
    };
    store.save_connection(&settings, clock.now()).await.unwrap();
    let fin = Arc::new(MemoryConnector::new(Side::Financials, "fi"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, "si"));
    for (n, name, city) in [(20, "Contoso", "Paris"), (21, "Fabrikam", "Rome")] {
        fin.put(
            "customers",
            Uuid::from_u128(n),
            json!({"number": format!("C{n}"), "displayName": name, "city": city}),
            "u",
        );
    }
    for (n, name, city) in [(30, "contoso", "Berlin"), (31, "Contoso", "Paris")] {
        sales.put(
            "accounts",
            Uuid::from_u128(n),
            json!({"name": name, "address1_city": city, "statecode": 0, "customertypecode": 3}),
            "u",
        );
    }
    state.set_engine(Arc::new(Engine::new(store.clone(), fin, sales.clone(), settings, clock)));
    let (s, v) = call(
        &app,
        "POST",
        uri,
        Some(json!({
            "fields": [{"field": "displayName", "priority": 1}, {"field": "city", "priority": 2}],
            "createNew": false,
            "syncAfterCoupling": false,
        })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["counters"]["coupled"], json!(1), "{v}");
    assert_eq!(v[0]["counters"]["failed"], json!(1), "Fabrikam has no match: {v}");
    let (_, c) = call(&app, "GET", "/integration/v1/couplings/CUSTOMER", None).await;
    assert_eq!(c["value"][0]["sales_id"], json!(Uuid::from_u128(31)), "{c}");
    assert_eq!(sales.rows("accounts").len(), 2, "nothing was created");
}

#[tokio::test]
async fn a_mapping_is_reset_and_a_job_queue_entry_held_and_restarted_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()));
    let queue = Queue::with_clock(db.clone(), clock.clone());
    queue.migrate().await.unwrap();
    let app = app(SyncState::new(store.clone(), queue.clone(), clock.clone()), &dir).await;
    store.save_mappings(&default_mappings(), true, false, clock.now()).await.unwrap();

    let (_, mut m) = call(&app, "GET", "/integration/v1/mappings/CURRENCY", None).await;
    let first = m["fields"][0].clone();
    m["fields"] = json!([first]);
    let (s, v) = call(&app, "PUT", "/integration/v1/mappings/CURRENCY", Some(m)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(&app, "POST", "/integration/v1/mappings/CURRENCY/reset", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let default = serde_json::to_value(default_mappings().get("CURRENCY").unwrap()).unwrap();
    assert_eq!(v, default);
    assert!(v["fields"].as_array().unwrap().len() > 1, "{v}");
    assert!(store.customized_mappings().await.unwrap().is_empty());
    let (s, v) = call(&app, "POST", "/integration/v1/mappings/NOPE/reset", None).await;
    assert_eq!((s, v["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("NotFound")));

    let id = queue.enqueue(kontor_jobs::NewJob::new("test", json!({}))).await.unwrap();
    let (s, v) = call(&app, "GET", "/integration/v1/job-queue-entries", None).await;
    assert_eq!((s, v["value"][0]["id"].clone()), (StatusCode::OK, json!(id)), "{v}");
    let (s, v) =
        call(&app, "POST", &format!("/integration/v1/job-queue-entries/{id}/hold"), None).await;
    assert_eq!((s, v["status"].clone()), (StatusCode::OK, json!("on_hold")), "{v}");
    let (_, v) = call(&app, "GET", "/integration/v1/job-queue-entries?status=on_hold", None).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    let (s, v) =
        call(&app, "POST", &format!("/integration/v1/job-queue-entries/{id}/restart"), None).await;
    assert_eq!((s, v["status"].clone()), (StatusCode::OK, json!("ready")), "{v}");
    let (s, v) = call(&app, "GET", "/integration/v1/job-queue-entries?status=paused", None).await;
    assert_eq!((s, v["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("BadRequest")));

    let worker = "w".to_owned();
    queue.claim(&worker, clock.now(), std::time::Duration::from_secs(60)).await.unwrap().unwrap();
    let (s, v) =
        call(&app, "POST", &format!("/integration/v1/job-queue-entries/{id}/hold"), None).await;
    assert_eq!((s, v["error"]["code"].clone()), (StatusCode::CONFLICT, json!("InvalidStatus")));
    let missing = Uuid::from_u128(7);
    let (s, v) =
        call(&app, "POST", &format!("/integration/v1/job-queue-entries/{missing}/restart"), None)
            .await;
    assert_eq!((s, v["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("NotFound")));
}
