//! Routes merged into the Financials server (the integration's, in the binary) get the same
//! authentication and layers as the API: a panic answers an internal error, a body over the
//! limit answers 413.

use kontor_financials_server::testing::TEST_ADMIN_PASSWORD;
use kontor_financials_server::{
    AppState, Config, Permission, PermissionSet, Route, Verb, router_with,
};
use kontor_store::Db;
use serde_json::Value;

async fn boom() -> &'static str {
    panic!("a handler bug")
}

#[tokio::test]
async fn a_merged_route_is_authenticated_limited_and_answers_a_panic_as_an_internal_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    kontor_financials::bootstrap(&db, Some(TEST_ADMIN_PASSWORD.to_owned())).await.unwrap();
    let config = Config { max_body_bytes: 1024, ..Config::default() };
    let state = AppState::new(db, config).await.unwrap();
    let company = state.company.id;
    let admin = Permission::Set(PermissionSet::Super);
    let echo = |body: String| async move { body.len().to_string() };
    let extra = vec![
        Route::new(Verb::Get, "/extra/panic", admin, boom),
        Route::new(Verb::Post, "/extra/echo", admin, echo),
    ];
    let app = router_with(state, extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: String| {
        client
            .request(method, format!("{base}{path}"))
            .basic_auth("ADMIN", Some(TEST_ADMIN_PASSWORD))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let res = send(reqwest::Method::GET, "/extra/panic", String::new()).await.unwrap();
    assert_eq!(res.status(), 500);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");

    let customers = format!("/api/v2.0/companies({company})/customers");
    for path in ["/extra/echo", customers.as_str()] {
        let res = send(reqwest::Method::POST, path, "x".repeat(2048)).await.unwrap();
        assert_eq!(res.status(), 413, "{path}");
    }
    let res = send(reqwest::Method::POST, "/extra/echo", "x".repeat(100)).await.unwrap();
    assert_eq!((res.status().as_u16(), res.text().await.unwrap()), (200, "100".to_owned()));

    let res = client.get(format!("{base}/extra/panic")).send().await.unwrap();
    assert_eq!(res.status(), 401, "merged routes need credentials");
}
