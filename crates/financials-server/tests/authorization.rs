//! Company-scoped routes (`/api/v2.0/companies({id})/…`) with another company's id or one that
//! does not exist answer 404 with the OData error body for every entity set and operation, and
//! neither show nor change anything; the route table's own checks are in
//! `kontor-sync-server`'s `tests/authorization.rs` (the whole listener).

mod common;

use common::start;
use kontor_financials::model::model;
use kontor_financials_server::{Permission, financials_routes};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn another_companys_id_or_an_unknown_one_answers_404_for_every_entity_set_and_operation() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let ours = start(&url).await;
        let dir = tempfile::tempdir().unwrap();
        let other_url = if backend == "postgres" {
            kontor_testkit::pg::url().await
        } else {
            kontor_testkit::sqlite_url(&dir)
        };
        let theirs = start(&other_url).await;
        let customer = theirs.create("customers", json!({"displayName": "Theirs"})).await;
        let their_customer = customer["id"].as_str().unwrap().to_owned();
        let before = ours.get("customers").await.values().len();
        let unknown = uuid::Uuid::from_u128(0x5eed);
        for company in [theirs.server.company_id, unknown] {
            let root = format!("/api/v2.0/companies({company})");
            let mut cases = vec![(Method::GET, root.clone()), (Method::PATCH, root.clone())];
            for set in model().entity_types.iter().map(|e| e.set_name.as_str()) {
                if set == "companies" {
                    continue;
                }
                let one = format!("{root}/{set}({their_customer})");
                cases.push((Method::GET, format!("{root}/{set}")));
                cases.push((Method::POST, format!("{root}/{set}")));
                cases.push((Method::GET, one.clone()));
                cases.push((Method::PATCH, one.clone()));
                cases.push((Method::DELETE, one));
            }
            for (method, path) in cases {
                let body = (method == Method::POST || method == Method::PATCH)
                    .then(|| json!({"displayName": "Leak"}));
                let r = ours.send(method.clone(), &path, body, &[("If-Match", "*")]).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.text);
                assert_eq!(r.error_code(), "BadRequest_NotFound", "{method} {path}");
                assert!(!r.error_message().is_empty(), "{method} {path}");
                assert!(!r.text.contains("Theirs"), "{method} {path} shows their data");
            }
        }
        assert_eq!(ours.get("customers").await.values().len(), before, "nothing was written");
        let r = theirs.get(&format!("customers({their_customer})")).await;
        assert_eq!((r.status, r.body["displayName"].clone()), (StatusCode::OK, json!("Theirs")));
    })
    .await;
}

#[tokio::test]
async fn the_financials_routes_need_credentials_except_the_root_and_unknown_paths_answer_404() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        let anonymous = api.as_user("", "");
        let http = reqwest::Client::new();
        for route in financials_routes() {
            let path = route.path.replace("{*rest}", "companies");
            let r = http.get(api.url(&path)).send().await.unwrap();
            let expected = match route.permission {
                Permission::Public => StatusCode::OK,
                _ => StatusCode::UNAUTHORIZED,
            };
            assert_eq!(r.status(), expected, "{route:?}");
        }
        for path in ["/nope", "/ODataV3/x", "/integration/v1/jobs"] {
            for client in [&api, &anonymous] {
                let r = client.get(path).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
                assert_eq!(r.error_code(), "BadRequest_NotFound", "{path}");
            }
        }
    })
    .await;
}
