//! kontor-testkit: throwaway databases for tests (and, later, helpers that spawn servers).
//!
//! - [`sqlite_url`]: a fresh SQLite file in a temp folder.
//! - [`pg::url`]: a **fresh database** on a throwaway PostgreSQL cluster.
//! - [`for_each_backend`] / [`backends`]: run one test body on both backends, printing
//!   `running on sqlite` / `running on postgres` so the output shows both ran.
//!
//! This crate only hands out URLs; it does not depend on kontor-store (the store's tests use it).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tempfile::TempDir;

pub mod pg;

static SQLITE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A URL of a new SQLite database file inside `dir` (created on connect: `?mode=rwc`). Each call
/// names a different file.
pub fn sqlite_url(dir: &TempDir) -> String {
    let n = SQLITE_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("sqlite:{}?mode=rwc", dir.path().join(format!("test-{n}.sqlite")).display())
}

/// One test database: which backend, its URL, and (for SQLite) the folder that holds it.
#[derive(Debug)]
pub struct TestDb {
    /// `"sqlite"` or `"postgres"`.
    pub name: &'static str,
    pub url: String,
    _dir: Option<TempDir>,
}

/// A fresh SQLite database and a fresh PostgreSQL database. Keep the values alive while the
/// test uses them (the SQLite file is deleted when its `TestDb` is dropped).
pub async fn backends() -> Vec<TestDb> {
    let dir = tempfile::tempdir().expect("create a temp folder for the SQLite test database");
    let sqlite = TestDb { name: "sqlite", url: sqlite_url(&dir), _dir: Some(dir) };
    let postgres = TestDb { name: "postgres", url: pg::url().await, _dir: None };
    vec![sqlite, postgres]
}

/// Runs `f(url, backend_name)` once on a fresh SQLite database and once on a fresh PostgreSQL
/// database, printing `running on <backend>` before each.
pub async fn for_each_backend<F, Fut>(mut f: F)
where
    F: FnMut(String, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    for db in backends().await {
        println!("running on {}", db.name);
        f(db.url.clone(), db.name).await;
        println!("passed on {}", db.name);
    }
}
