//! Stored secrets never leave for a new place (security issue #13): after a normal setup, setup
//! naming a listener of the test's own as the Sales or the Financials URL without the secrets is
//! refused before anything is sent, and the listener receives nothing; with the secrets entered
//! again a new URL is accepted. On both backends, against the real servers.

mod through_financials;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use kontor_connectors::{Grant, ODataConnector, Secret};
use kontor_e2e::{put, sales_tokens};
use kontor_jobs::{Queue, SystemClock};
use kontor_sync::store::SyncStore;
use kontor_sync_server::SyncState;
use serde_json::{Value, json};
use through_financials::{XorSealer, call, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// The attacker's listener: records every connection and every byte received, answers 401.
#[derive(Clone, Default)]
struct Recorder {
    connections: Arc<Mutex<usize>>,
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    async fn start() -> (Recorder, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let recorder = Recorder::default();
        let r = recorder.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                *r.connections.lock().unwrap() += 1;
                let r = r.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let read = tokio::time::timeout(
                        std::time::Duration::from_millis(500),
                        socket.read(&mut buf),
                    );
                    if let Ok(Ok(n)) = read.await {
                        r.bytes.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = socket
                        .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        (recorder, url)
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }

    fn received(&self, secret: &str) -> bool {
        let bytes = self.bytes.lock().unwrap();
        bytes.windows(secret.len()).any(|w| w == secret.as_bytes())
    }
}

async fn state_credentials(store: &SyncStore) -> kontor_sync::credentials::IntegrationCredentials {
    store.credentials(&XorSealer).await.unwrap().expect("stored credentials")
}

/// A database URL on `backend`, a new one each call.
async fn database(backend: &str, dir: &tempfile::TempDir) -> String {
    match backend {
        "sqlite" => kontor_testkit::sqlite_url(dir),
        _ => kontor_testkit::pg::url().await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_naming_a_new_url_without_the_secrets_is_refused_and_sends_the_stored_secrets_nowhere()
 {
    for backend in ["sqlite", "postgres"] {
        println!("running on {backend}");
        let dir = tempfile::tempdir().unwrap();
        let fin =
            kontor_financials_server::testing::spawn_for_test(&database(backend, &dir).await).await;
        let sales = kontor_sales_server::testing::spawn_for_test(&database(backend, &dir).await)
            .await
            .unwrap();

        // The integration users: a Financials user with a web service key, a Sales application
        // user with a client secret.
        let fin_admin =
            ODataConnector::financials(&fin.base_url, fin.company_id, "ADMIN", &fin.admin_password);
        let (s, user) = fin_admin
            .send_json(reqwest::Method::POST, "users", &json!({"userName": "INTEGRATION", "permissionSets": "D365 BUS FULL ACCESS", "state": "Enabled"}))
            .await
            .unwrap();
        assert!(s.is_success(), "{user}");
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
        let key = key["value"].as_str().unwrap().to_owned();
        let sales_admin = ODataConnector::dataverse(
            &sales.base_url,
            sales_tokens(
                &sales.base_url,
                Grant::Password {
                    username: "admin".into(),
                    password: Secret(sales.admin_password.clone()),
                },
            ),
        );
        let app_id = Uuid::new_v4().to_string();
        let app_user = Uuid::new_v4();
        put(
            &sales_admin,
            "systemusers",
            "systemuserid",
            vec![(
                app_user,
                json!({"applicationid": app_id, "firstname": "Kontor", "lastname": "Integration"}),
            )],
        )
        .await;
        let (s, secret) = sales_admin
            .send_json(
                reqwest::Method::POST,
                &format!("systemusers({app_user})/Microsoft.Dynamics.CRM.kontor_SetClientSecret"),
                &json!({}),
            )
            .await
            .unwrap();
        assert!(s.is_success(), "{secret}");
        let client_secret = secret["ClientSecret"].as_str().unwrap().to_owned();

        let store = SyncStore::new(fin.db.clone());
        store.migrate().await.unwrap();
        let state =
            SyncState::new(store.clone(), Queue::new(fin.db.clone()), Arc::new(SystemClock))
                .with_sealer(Arc::new(XorSealer));
        let app = router(&fin, state).await;
        let body = |fin_url: &str, sales_url: &str| {
            json!({
                "financialsUrl": fin_url, "companyId": fin.company_id, "financialsUser": "INTEGRATION",
                "salesUrl": sales_url, "salesUser": app_id, "salesClientId": app_id,
            })
        };
        let with_secrets = |mut b: Value| {
            b["financialsWebServiceKey"] = json!(key);
            b["salesClientSecret"] = json!(client_secret);
            b
        };

        // A normal setup, with the administrator for the solution import.
        let mut first = with_secrets(body(&fin.base_url, &sales.base_url));
        first["importSolution"] = json!(true);
        first["adminUser"] = json!("admin");
        first["adminPassword"] = json!(sales.admin_password);
        let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(first)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Again without the secrets, for the same place: the stored ones are reused.
        let (s, v) =
            call(&app, "POST", "/integration/v1/setup", Some(body(&fin.base_url, &sales.base_url)))
                .await;
        assert_eq!(s, StatusCode::OK, "{v}");

        // The attack: the test's own listener as the Sales URL, the Financials URL, or both.
        let (recorder, listener) = Recorder::start().await;
        #[rustfmt::skip]
        let attacks = [
            ("the Sales URL", body(&fin.base_url, &listener), vec!["salesClientSecret must be entered again because the Sales URL changed."]),
            ("the Financials URL", body(&listener, &sales.base_url), vec!["financialsWebServiceKey must be entered again because the Financials URL changed."]),
            ("both URLs", body(&listener, &listener), vec!["financialsWebServiceKey must be entered again because the Financials URL changed.", "salesClientSecret must be entered again because the Sales URL changed."]),
        ];
        for (what, attack, messages) in attacks {
            let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(attack.clone())).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {v}");
            assert_eq!(v["error"]["code"], "BadRequest", "{what}: {v}");
            let message = v["error"]["message"].as_str().unwrap_or_default();
            for m in messages {
                assert!(message.contains(m), "{what}: {message}");
            }
            // With an administrator account of the attacker's: still refused, nothing sent.
            let mut with_admin = attack;
            with_admin["adminUser"] = json!("admin");
            with_admin["adminPassword"] = json!("the-attackers-own");
            let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(with_admin)).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {v}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(recorder.connections(), 0, "the listener was connected to");
        for secret in [key.as_str(), client_secret.as_str()] {
            assert!(!recorder.received(secret), "a stored secret reached the listener");
        }
        let (_, c) = call(&app, "GET", "/integration/v1/connection", None).await;
        assert_eq!(
            (c["financials_url"].as_str(), c["sales_url"].as_str()),
            (Some(fin.base_url.as_str()), Some(sales.base_url.as_str())),
            "{c}"
        );

        // With the secret entered again a new URL is accepted: the same servers under another
        // host name are a new place. Then setup for that new place needs no secret again.
        let sales_moved = sales.base_url.replace("127.0.0.1", "localhost");
        let fin_moved = fin.base_url.replace("127.0.0.1", "localhost");
        let mut moved = body(&fin.base_url, &sales_moved);
        moved["salesClientSecret"] = json!(client_secret);
        let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(moved)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let mut moved = body(&fin_moved, &sales_moved);
        moved["financialsWebServiceKey"] = json!(key);
        let (s, v) = call(&app, "POST", "/integration/v1/setup", Some(moved)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) =
            call(&app, "POST", "/integration/v1/setup", Some(body(&fin_moved, &sales_moved))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (_, c) = call(&app, "GET", "/integration/v1/connection", None).await;
        assert_eq!(c["sales_url"], json!(sales_moved), "{c}");
        let (s, v) =
            call(&app, "POST", "/integration/v1/setup", Some(body(&fin.base_url, &sales.base_url)))
                .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "the first URLs are another place now: {v}");
        let (s, v) =
            call(&app, "POST", "/integration/v1/sync-now", Some(json!({"mapping": "CURRENCY"})))
                .await;
        assert_eq!(s, StatusCode::OK, "the engine runs on the new connection: {v}");
        // Credentials stored for another place than the stored connection (a setup cut short
        // between the two writes, or a changed row) are not used: a restart does not connect.
        let mut stray = state_credentials(&store).await;
        stray.sales_url = listener.clone();
        store.save_credentials(&stray, &XorSealer, chrono::Utc::now()).await.unwrap();
        let restarted =
            SyncState::new(store.clone(), Queue::new(fin.db.clone()), Arc::new(SystemClock))
                .with_sealer(Arc::new(XorSealer));
        let err = restarted.connect().await.err().expect("refused").to_string();
        assert!(err.contains("the Sales URL changed") && err.contains("run setup again"), "{err}");
        assert_eq!(recorder.connections(), 0, "the listener was connected to");
        println!("passed on {backend}");
    }
}
