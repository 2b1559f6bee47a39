//! One error shape: every 4xx of the Financials listener, from its own routes and from JSON
//! routes merged into it (as the binary merges the integration's), carries the OData error body
//! with Business Central's code. One case per status.

use axum::extract::Path;
use axum::routing::post;
use axum::{Json, Router};
use kontor_financials_server::testing::TEST_ADMIN_PASSWORD;
use kontor_financials_server::{AppState, Config, odata_errors, router};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[derive(serde::Deserialize)]
struct Couple {
    #[serde(rename = "salesId")]
    _sales_id: uuid::Uuid,
}

/// A JSON route with axum's extractors, like the integration's.
async fn couple(Path(_id): Path<uuid::Uuid>, Json(_body): Json<Couple>) -> &'static str {
    "ok"
}

/// The Financials router with a JSON route merged in, the shape applied to the whole, served on
/// port 0 (the body limit is 1 KiB). Returns the base URL and the company id.
async fn start(dir: &tempfile::TempDir) -> (String, uuid::Uuid) {
    let db = kontor_store::Db::connect(&kontor_testkit::sqlite_url(dir)).await.unwrap();
    kontor_financials::bootstrap(&db, Some(TEST_ADMIN_PASSWORD.to_owned())).await.unwrap();
    let config = Config { max_body_bytes: 1024, ..Config::default() };
    let state = AppState::new(db, config).await.unwrap();
    let company = state.company.id;
    let app = odata_errors(
        router(state).merge(Router::new().route("/integration/v1/couplings/{id}", post(couple))),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), company)
}

/// (method, path, content type, body, extra header, expected status, code, words in the message)
type Case<'a> =
    (Method, String, Option<&'a str>, String, Option<(&'a str, &'a str)>, u16, &'a str, &'a str);

#[tokio::test]
async fn every_error_status_carries_the_odata_error_body_with_business_centrals_code() {
    let dir = tempfile::tempdir().unwrap();
    let (base, company) = start(&dir).await;
    let customers = format!("/api/v2.0/companies({company})/customers");
    let long_filter = format!("?$filter=displayName eq '{}'", "x".repeat(33 * 1024));
    let guid = "00000000-0000-0000-0000-000000000001";
    let big = "x".repeat(2048);
    let huge_header = "y".repeat(33 * 1024);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (Method::GET, "/nowhere".into(), None, String::new(), None, 404, "BadRequest_NotFound", "No HTTP resource"),
        (Method::POST, customers.clone(), Some("application/json"), format!("{{\"displayName\":\"{big}\"}}"), None, 413, "Request_EntityTooLarge", "larger than"),
        (Method::GET, format!("{customers}{long_filter}"), None, String::new(), None, 414, "Request_UriTooLong", "URI"),
        (Method::GET, customers.clone(), None, String::new(), Some(("x-padding", &huge_header)), 431, "Request_HeaderFieldsTooLarge", "headers"),
        (Method::GET, format!("{customers}?$filter=creditLimit div 0 eq 1"), None, String::new(), None, 400, "Application_FilterErrorException", "position 16"),
        (Method::GET, format!("{customers}?$select=*,(select 1)"), None, String::new(), None, 400, "BadRequest_InvalidQueryOption", "position 2"),
        (Method::POST, format!("/integration/v1/couplings/{guid}"), None, "{}".into(), None, 415, "BadRequest_UnsupportedMediaType", "Content-Type"),
        (Method::POST, format!("/integration/v1/couplings/{guid}"), Some("application/json"), "{broken".into(), None, 400, "BadRequest", "JSON"),
        (Method::POST, format!("/integration/v1/couplings/{guid}"), Some("application/json"), "{}".into(), None, 422, "BadRequest_InvalidRequestBody", "salesId"),
        (Method::POST, "/integration/v1/couplings/NOPE".into(), Some("application/json"), format!("{{\"salesId\":\"{guid}\"}}"), None, 400, "BadRequest", "UUID"),
        (Method::GET, format!("/integration/v1/couplings/{guid}"), None, String::new(), None, 405, "BadRequest_MethodNotAllowed", "not allowed"),
    ];
    let http = reqwest::Client::new();
    for (method, path, content_type, body, header, status, code, words) in cases {
        let what = format!("{method} {}", &path[..path.len().min(80)]);
        let mut req = http
            .request(method, format!("{base}{path}"))
            .basic_auth("ADMIN", Some(TEST_ADMIN_PASSWORD))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::from_u16(status).unwrap(), "{what}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{what}: {ct}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{what}: {message}");
    }
}
