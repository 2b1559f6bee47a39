//! One error shape: every 4xx of the Sales listener carries the Dataverse error body
//! (`{"error":{"code":"0x…","message":…}}`), one case per status; the unauthenticated token
//! endpoint takes small bodies only.

mod common;

use common::{Api, spawn_for_test};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// (method, path, body, extra header, bearer token?, expected status, code, words in the message)
type Case<'a> = (Method, String, String, Option<(&'a str, &'a str)>, bool, u16, &'a str, &'a str);

#[tokio::test]
async fn every_error_status_carries_the_dataverse_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_for_test(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    let api = Api::admin(&server).await;
    let long_filter = format!("?$filter=name eq '{}'", "x".repeat(33 * 1024));
    let huge_header = "y".repeat(33 * 1024);
    let big_form = format!("grant_type=password&username=admin&password={}", "p".repeat(17 * 1024));
    let api_root = "/api/data/v9.2";
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (Method::GET, "/nowhere/at/all".into(), String::new(), None, false, 404, "0x80060888", "segment 'nowhere'"),
        (Method::GET, "/oauth2/v2.0/token".into(), String::new(), None, false, 405, "0x80060889", "not allowed"),
        (Method::POST, "/oauth2/v2.0/token".into(), big_form.clone(), None, false, 413, "0x80048d19", "larger than"),
        (Method::POST, "/contoso/oauth2/v2.0/token".into(), big_form, None, false, 413, "0x80048d19", "larger than"),
        (Method::GET, format!("{api_root}/accounts{long_filter}"), String::new(), None, true, 414, "0x80060888", "URI"),
        (Method::GET, format!("{api_root}/accounts"), String::new(), Some(("x-padding", &huge_header)), true, 431, "0x80040203", "headers"),
        (Method::GET, format!("{api_root}/accounts?$filter=creditlimit div 0 eq 1"), String::new(), None, true, 400, "0x80060888", "position 16"),
        (Method::GET, format!("{api_root}/accounts?$select=*,(select 1)"), String::new(), None, true, 400, "0x80060888", "position 2"),
    ];
    let http = reqwest::Client::new();
    for (method, path, body, header, bearer, status, code, words) in cases {
        let what = format!("{method} {}", &path[..path.len().min(80)]);
        let mut req = http
            .request(method, format!("{}{path}", server.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if bearer {
            req = req.bearer_auth(&api.token);
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
    // A token request of ordinary size still works, and its own errors keep the OAuth2 shape.
    let r = common::token(
        &server.base_url,
        &[("grant_type", "password"), ("username", "admin"), ("password", "wrong")],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_grant", "{}", r.text);
}

#[tokio::test]
async fn health_is_public_and_answers_ok_as_json_on_both_backends() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let server = spawn_for_test(&url).await.unwrap();
        let r = reqwest::get(format!("{}/health", server.base_url)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{backend}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"status": "ok"}), "{backend}");
    })
    .await;
}
