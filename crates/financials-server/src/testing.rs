//! Start a real Financials server for tests (also other crates' end-to-end tests).

use kontor_store::Db;

use crate::{AppState, Config, router_with};

/// A running test server: its base URL (`http://127.0.0.1:<port>`), the `ADMIN` password, and
/// the database. The server stops when this is dropped.
pub struct TestServer {
    pub base_url: String,
    pub admin_password: String,
    pub company_id: uuid::Uuid,
    pub db: Db,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// `http://127.0.0.1:<port>/api/v2.0/companies(<id>)/`, the root of the entity sets.
    pub fn company_url(&self) -> String {
        format!("{}/api/v2.0/companies({})/", self.base_url, self.company_id)
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("base_url", &self.base_url)
            .field("admin_password", &"***")
            .field("company_id", &self.company_id)
            .finish_non_exhaustive()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The password `spawn_for_test` gives `ADMIN`.
pub const TEST_ADMIN_PASSWORD: &str = "Kontor-Admin-1";

/// Bootstraps `db_url` (SQLite or PostgreSQL), binds 127.0.0.1:0 and serves on it in a task.
pub async fn spawn_for_test(db_url: &str) -> TestServer {
    spawn_with(db_url, Config::default()).await
}

/// The state of a server on `db_url` (SQLite or PostgreSQL), bootstrapped with `ADMIN`'s
/// password [`TEST_ADMIN_PASSWORD`], for tests that call a router without a listener.
pub async fn state_for_test(db_url: &str, config: Config) -> AppState {
    let db = Db::connect(db_url).await.expect("connect to the test database");
    kontor_financials::bootstrap(&db, Some(TEST_ADMIN_PASSWORD.to_owned()))
        .await
        .expect("bootstrap financials");
    AppState::new(db, config).await.expect("financials state")
}

/// Like [`spawn_for_test`] with a configuration (e.g. small pages).
pub async fn spawn_with(db_url: &str, config: Config) -> TestServer {
    spawn_router(db_url, config, Vec::new()).await
}

/// Like [`spawn_with`] with more routes (the integration's route table).
pub async fn spawn_router(db_url: &str, config: Config, extra: Vec<crate::Route>) -> TestServer {
    let state = state_for_test(db_url, config).await;
    let db = state.db.clone();
    let company_id = state.company.id;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router_with(state, extra))
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    TestServer {
        base_url: format!("http://{addr}"),
        admin_password: TEST_ADMIN_PASSWORD.to_owned(),
        company_id,
        db,
        shutdown: Some(tx),
    }
}

/// The `Authorization` header value of HTTP Basic credentials.
pub fn basic_auth(user: &str, secret: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{secret}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}
