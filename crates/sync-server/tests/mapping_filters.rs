//! A mapping's table filters are parsed when it is saved or imported: a bad one is a 400
//! naming the mapping, the side and the position.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use kontor_financials_server::testing::{TEST_ADMIN_PASSWORD, basic_auth, state_for_test};
use kontor_financials_server::{Config, router_with};
use kontor_jobs::{ManualClock, Queue};
use kontor_store::Db;
use kontor_sync::defaults::default_mappings;
use kontor_sync::store::SyncStore;
use kontor_sync_server::{SyncState, routes};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(app: &axum::Router, method: &str, uri: &str, body: &Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", basic_auth("ADMIN", TEST_ADMIN_PASSWORD))
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The integration's routes as the binary serves them: built by the Financials server from the
/// route table, behind its authentication (`call` signs in as `ADMIN`, who holds SUPER).
async fn app(state: SyncState, dir: &tempfile::TempDir) -> axum::Router {
    let fin = state_for_test(&kontor_testkit::sqlite_url(dir), Config::default()).await;
    router_with(fin, routes(state))
}

#[tokio::test]
async fn a_bad_filter_on_save_or_import_is_a_400_naming_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()));
    let app =
        app(SyncState::new(store.clone(), Queue::with_clock(db, clock.clone()), clock), &dir).await;
    let set = serde_json::to_value(default_mappings()).unwrap();
    let (s, _) = call(&app, "POST", "/integration/v1/mappings/import", &set).await;
    assert_eq!(s, StatusCode::OK);

    let mut customer = set["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "CUSTOMER")
        .unwrap()
        .clone();
    customer["sales"]["filter"] = json!("statecode eq 0 and");
    let (s, v) = call(&app, "PUT", "/integration/v1/mappings/CUSTOMER", &customer).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"],
        json!({"code": "InvalidMapping", "message": "mapping CUSTOMER: the Sales table filter is invalid: invalid filter at position 18: expected a value after 'and'"})
    );

    customer["sales"]["filter"] = json!("statecode in (0, 1)");
    let (s, v) = call(&app, "PUT", "/integration/v1/mappings/CUSTOMER", &customer).await;
    assert_eq!((s, &v["sales"]["filter"]), (StatusCode::OK, &json!("statecode in (0, 1)")));

    let mut deep = set.clone();
    deep["mappings"][0]["financials"]["filter"] =
        json!(format!("{}blocked eq ' '{}", "(".repeat(10_000), ")".repeat(10_000)));
    let (s, v) = call(&app, "POST", "/integration/v1/mappings/import", &deep).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("the filter nests more than 100 levels deep"), "{message}");

    // Neither refused change was stored.
    let stored = store.mapping("CUSTOMER").await.unwrap();
    assert_eq!(stored.sales.filter.as_ref().map(|f| f.as_str()), Some("statecode in (0, 1)"));
}
