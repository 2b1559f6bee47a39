//! The integration's JSON API against the real servers: setup through the route (the admin
//! account is used and forgotten), then the review and the jobs.

mod common;

mod through_financials;

use std::sync::Arc;

use axum::http::StatusCode;
use kontor_jobs::{Queue, SystemClock};
use kontor_sync::store::SyncStore;
use kontor_sync_server::SyncState;
use serde_json::json;
use through_financials::{XorSealer, call, router};
use uuid::Uuid;

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
    let app = router(&fin, state).await;
    let body = json!({
        "financialsUrl": fin.base_url, "companyId": fin.company_id, "financialsUser": "INTEGRATION",
        "financialsWebServiceKey": key["value"], "salesUrl": sales.base_url, "salesUser": "admin",
        "salesPassword": sales.admin_password, "importSolution": true,
        "adminUser": "admin", "adminPassword": sales.admin_password,
    });
    let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(body.clone())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // The message names where the experience is really changed: the company, as done here.
    let message = v["error"]["message"].as_str().unwrap();
    let patch = format!("PATCH /api/v2.0/companies({})", fin.company_id);
    assert!(message.contains(&patch) && message.contains(r#"{"experience": "Suite"}"#), "{v}");

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
    assert_eq!((s, m["mappings"].as_array().unwrap().len()), (StatusCode::OK, 16));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_through_the_api_switches_the_running_engine_to_the_new_connection_at_once() {
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
    let (_, user) = fin_admin
        .send_json(reqwest::Method::POST, "users", &json!({"userName": "INTEGRATION", "permissionSets": "D365 BUS FULL ACCESS", "state": "Enabled"}))
        .await
        .unwrap();
    let new_key = || async {
        let (s, key) = fin_admin
            .send_json(
                reqwest::Method::POST,
                &format!(
                    "users({})/Microsoft.NAV.changeWebServiceKey",
                    user["id"].as_str().unwrap()
                ),
                &json!({}),
            )
            .await
            .unwrap();
        assert!(s.is_success(), "{key}");
        key["value"].as_str().unwrap().to_owned()
    };
    let first_key = new_key().await;
    let company_url = format!("{}/api/v2.0/companies({})", fin.base_url, fin.company_id);
    fin_admin
        .send_json(reqwest::Method::PATCH, &company_url, &json!({"experience": "Suite"}))
        .await
        .unwrap();
    let (s, body) = fin_admin
        .send_json(
            reqwest::Method::POST,
            "currencies",
            &json!({"code": "EUR", "displayName": "Euro", "symbol": "€", "exchangeRate": 1.1}),
        )
        .await
        .unwrap();
    assert!(s.is_success(), "{body}");

    let store = SyncStore::new(fin.db.clone());
    store.migrate().await.unwrap();
    let queue = Queue::new(fin.db.clone());
    let state = SyncState::new(store.clone(), queue.clone(), Arc::new(SystemClock))
        .with_sealer(Arc::new(XorSealer));
    let app = router(&fin, state.clone()).await;
    let setup = |key: Option<&str>, admin: bool| {
        let mut b = json!({
            "financialsUrl": fin.base_url, "companyId": fin.company_id, "financialsUser": "INTEGRATION",
            "salesUrl": sales.base_url, "salesUser": "admin", "salesPassword": sales.admin_password,
        });
        if let Some(k) = key {
            b["financialsWebServiceKey"] = json!(k);
        }
        if admin {
            b["importSolution"] = json!(true);
            b["adminUser"] = json!("admin");
            b["adminPassword"] = json!(sales.admin_password);
        }
        b
    };

    // Setup through the API, then synchronization at once, without a restart.
    let (s, v) =
        call(&app, "POST", "/integration/v1/setup", Some(setup(Some(&first_key), true))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &app,
        "POST",
        "/integration/v1/couplings/CURRENCY/match",
        Some(json!({"createNew": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["counters"]["inserted"], json!(1), "EUR was created in Sales: {v}");
    let sync_now = |app: axum::Router| async move {
        call(&app, "POST", "/integration/v1/sync-now", Some(json!({"mapping": "CURRENCY"}))).await
    };
    assert_eq!(sync_now(app.clone()).await.0, StatusCode::OK);
    // The recurring incremental entries exist for the workers.
    let filter = kontor_jobs::ListFilter {
        kind: Some(kontor_sync::jobs::INCREMENTAL.into()),
        ..Default::default()
    };
    assert!(!queue.list(&filter).await.unwrap().is_empty());

    // A new web service key: the running engine's old one is refused until setup gives the new one.
    let second_key = new_key().await;
    let (s, v) = sync_now(app.clone()).await;
    assert_ne!(s, StatusCode::OK, "the old key still worked: {v}");
    let (s, v) =
        call(&app, "POST", "/integration/v1/setup", Some(setup(Some(&second_key), false))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = sync_now(app.clone()).await;
    assert_eq!(s, StatusCode::OK, "the engine uses the new key at once: {v}");

    // Disabled, the entries are held; setup enables the connection again and they run again.
    state.set_enabled(false).await.unwrap();
    let held = queue.list(&filter).await.unwrap();
    assert!(held.iter().all(|e| e.status == kontor_jobs::Status::OnHold), "{held:?}");
    let (s, v) =
        call(&app, "POST", "/integration/v1/setup", Some(setup(Some(&second_key), false))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(store.connection().await.unwrap().unwrap().enabled);
    let resumed = queue.list(&filter).await.unwrap();
    assert!(resumed.iter().all(|e| e.status == kontor_jobs::Status::Ready), "{resumed:?}");

    // The credentials are stored sealed; the connection shows none of them.
    let row = store.db().fetch_one_sql("SELECT sealed FROM sync_secret", vec![]).await.unwrap();
    let sealed = row.get_string("sealed");
    assert!(!sealed.contains(&second_key) && !sealed.contains(&sales.admin_password));
    let (_, c) = call(&app, "GET", "/integration/v1/connection", None).await;
    assert!(!c.to_string().contains(&second_key), "{c}");

    // Another process on the same store (a restart) connects from the stored credentials.
    let restarted = SyncState::new(store.clone(), queue.clone(), Arc::new(SystemClock))
        .with_sealer(Arc::new(XorSealer));
    assert!(restarted.connect().await.unwrap().is_some());
    assert_eq!(sync_now(router(&fin, restarted).await).await.0, StatusCode::OK);

    // Setup again without the key reuses the stored one for the same user; another user needs one.
    let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(setup(None, false))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut other = setup(None, false);
    other["financialsUser"] = json!("SOMEONE-ELSE");
    let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(other)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("financialsWebServiceKey"), "{v}");
    let mut unknown = setup(None, false);
    unknown["salesSecret"] = json!("x");
    let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(unknown)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("salesSecret"), "{v}");
    // A value of the wrong type is not echoed (it could be a secret in the wrong place).
    let mut wrong = setup(None, false);
    wrong["importSolution"] = json!("a-secret-in-the-wrong-field");
    let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(wrong)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(!v.to_string().contains("a-secret-in-the-wrong-field"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_guides_administrator_step_gives_the_integration_user_its_role_and_names_the_roles_an_account_lacks()
 {
    use kontor_connectors::{Grant, ODataConnector, Secret, TokenSource};
    use kontor_integration::PrepareSalesRequest;
    let dir = tempfile::tempdir().unwrap();
    let sales = kontor_sales_server::testing::spawn_for_test(&kontor_testkit::sqlite_url(&dir))
        .await
        .unwrap();
    let root = sales.base_url.trim_end_matches('/').to_owned();
    let admin = ODataConnector::dataverse(
        &root,
        TokenSource::new(
            format!("{root}/oauth2/v2.0/token"),
            format!("{root}/.default"),
            Grant::Password {
                username: "admin".into(),
                password: Secret(sales.admin_password.clone()),
            },
        ),
    );
    // Users with the given roles and a password; returns their ids.
    let mut ids = Vec::new();
    for (name, roles) in
        [("clerk", &[][..]), ("sysadmin", &["System Administrator"][..]), ("target", &[][..])]
    {
        let id = Uuid::new_v4().to_string();
        let (s, u) = admin
            .send_json(
                reqwest::Method::POST,
                "systemusers",
                &json!({"systemuserid": id, "domainname": name, "firstname": name, "lastname": "Test"}),
            )
            .await
            .unwrap();
        assert!(s.is_success(), "{u}");
        for role in roles {
            let v = admin
                .get_json(&format!("roles?$filter=name eq '{role}'&$select=roleid"), None)
                .await
                .unwrap();
            let rid = v["value"][0]["roleid"].as_str().unwrap();
            let reference = json!({"@odata.id": format!("{}roles({rid})", admin.base())});
            let path = format!("systemusers({id})/systemuserroles_association/$ref");
            let (s, b) = admin.send_json(reqwest::Method::POST, &path, &reference).await.unwrap();
            assert!(s.is_success(), "{b}");
        }
        let path = format!("systemusers({id})/Microsoft.Dynamics.CRM.kontor_SetPassword");
        let (s, b) = admin
            .send_json(reqwest::Method::POST, &path, &json!({"Password": "Pass-word-1"}))
            .await
            .unwrap();
        assert!(s.is_success(), "{b}");
        ids.push(id);
    }
    let db = kontor_store::Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let state = SyncState::new(store, Queue::new(db), Arc::new(SystemClock));
    let ask = |user: &str, password: &str| PrepareSalesRequest {
        sales_url: root.clone(),
        sales_user: "target".into(),
        import_solution: true,
        admin_user: user.into(),
        admin_password: password.into(),
    };
    let cases = [
        (
            "an account without roles",
            ask("clerk", "Pass-word-1"),
            "lacks the security roles System Administrator and Solution Customizer",
        ),
        (
            "a System Administrator only",
            ask("sysadmin", "Pass-word-1"),
            "lacks the security role Solution Customizer:",
        ),
        ("a wrong password", ask("admin", "Wrong-password-1"), "refused the credentials"),
    ];
    for (what, req, message) in cases {
        let err = state.prepare_sales(req).await.unwrap_err().to_string();
        assert!(err.contains(message), "{what}: {err}");
        assert!(!err.contains("Pass-word-1") && !err.contains("Wrong-password-1"), "{what}: {err}");
    }
    let done = state.prepare_sales(ask("admin", &sales.admin_password)).await.unwrap();
    assert_eq!(done.sales_user_id.to_string(), ids[2]);
    assert!(done.solution_imported);
    let roles = admin
        .get_json(&format!("systemusers({})/systemuserroles_association", ids[2]), None)
        .await
        .unwrap();
    let names: Vec<&str> =
        roles["value"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names,
        vec![kontor_sync::setup::INTEGRATION_ROLE],
        "the guide gave the integration user its role"
    );
}
