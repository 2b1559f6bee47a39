//! The integration's JSON API against the real servers: setup through the route (the admin
//! account is used and forgotten), then the review and the jobs.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kontor_jobs::{Queue, SystemClock};
use kontor_sync::store::SyncStore;
use kontor_sync_server::{SyncState, router};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_default()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_through_the_api_refuses_essential_and_then_connects_without_storing_the_admin_password()
 {
    let dir = tempfile::tempdir().unwrap();
    let fin =
        kontor_financials_server::testing::spawn_for_test(&kontor_testkit::sqlite_url(&dir)).await;
    let sales = kontor_sales_server::testing::spawn_for_test(&kontor_testkit::sqlite_url(&dir))
        .await
        .unwrap();
    let fin_admin = kontor_connectors::ODataConnector::financials(
        &fin.base_url,
        fin.company_id,
        "ADMIN",
        &fin.admin_password,
    );
    let (s, user) = fin_admin
        .send_json(reqwest::Method::POST, "users", &json!({"userName": "INTEGRATION", "permissionSets": "D365 BUS FULL ACCESS", "state": "Enabled"}))
        .await
        .unwrap();
    assert!(s.is_success(), "{user}");
    let (_, key) = fin_admin
        .send_json(
            reqwest::Method::POST,
            &format!("users({})/Microsoft.NAV.changeWebServiceKey", user["id"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .unwrap();
    let company_url = format!("{}/api/v2.0/companies({})", fin.base_url, fin.company_id);
    let (s, body) = fin_admin
        .send_json(reqwest::Method::PATCH, &company_url, &json!({"experience": "Essential"}))
        .await
        .unwrap();
    assert!(s.is_success(), "{body}");

    let store = SyncStore::new(fin.db.clone());
    store.migrate().await.unwrap();
    let state = SyncState::new(store.clone(), Queue::new(fin.db.clone()), Arc::new(SystemClock));
    let app = router(state);
    let body = json!({
        "financialsUrl": fin.base_url, "companyId": fin.company_id, "financialsUser": "INTEGRATION",
        "financialsWebServiceKey": key["value"], "salesUrl": sales.base_url, "salesUser": "admin",
        "salesPassword": sales.admin_password, "importSolution": true,
        "adminUser": "admin", "adminPassword": sales.admin_password,
    });
    let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(body.clone())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("Change Experience to Suite"), "{v}");

    fin_admin
        .send_json(reqwest::Method::PATCH, &company_url, &json!({"experience": "Suite"}))
        .await
        .unwrap();
    let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["solution_imported"].clone(), v["role_assigned"].clone()),
        (json!(true), json!(true))
    );
    let (s, again) = call(&app, "POST", "/integration/v1/setup", Some(body)).await;
    assert_eq!((s, again["connection_id"].clone()), (StatusCode::OK, v["connection_id"].clone()));
    assert!(Uuid::parse_str(v["connection_id"].as_str().unwrap()).is_ok());

    let (_, c) = call(&app, "GET", "/integration/v1/connection", None).await;
    assert_eq!(c["sales_url"], json!(sales.base_url));
    assert!(!c.to_string().contains(&sales.admin_password), "the admin password was stored: {c}");
    let (s, m) = call(&app, "GET", "/integration/v1/mappings", None).await;
    assert_eq!((s, m["mappings"].as_array().unwrap().len()), (StatusCode::OK, 15));
}
