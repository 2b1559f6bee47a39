//! Start a real Sales server for tests and embedding: [`spawn_for_test`].

use std::net::SocketAddr;

use kontor_store::Db;

use crate::{Config, prepare, router, state::AppState};

/// A running test server; dropping it stops the server.
pub struct TestServer {
    /// `http://127.0.0.1:<port>` (the Web API is under `/api/data/v9.2`).
    pub base_url: String,
    /// The admin's password (user `admin`).
    pub admin_password: String,
    pub db: Db,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The admin password test servers use.
pub const TEST_ADMIN_PASSWORD: &str = "kontor-test-admin-1";

/// Connects to `db_url`, migrates, bootstraps (admin password [`TEST_ADMIN_PASSWORD`]) and
/// serves Sales on `127.0.0.1:0` with `config`.
pub async fn spawn_with(db_url: &str, config: Config) -> Result<TestServer, crate::ServeError> {
    let db = Db::connect(db_url).await?;
    prepare(&db, Some(TEST_ADMIN_PASSWORD.to_owned())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(AppState::new(db.clone(), config));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(TestServer {
        base_url: format!("http://{addr}"),
        admin_password: TEST_ADMIN_PASSWORD.to_owned(),
        db,
        addr,
        shutdown: Some(tx),
    })
}

/// [`spawn_with`] the default configuration: `(server, base_url, admin_password)` in one.
pub async fn spawn_for_test(db_url: &str) -> Result<TestServer, crate::ServeError> {
    spawn_with(db_url, Config::default()).await
}
