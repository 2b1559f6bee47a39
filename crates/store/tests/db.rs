//! The database layer on both backends: connect, migrations, statements, transactions.

use kontor_store::sea_query::{Alias, Expr, ExprTrait, Query, Value};
use kontor_store::sqlx::migrate::Migrator;
use kontor_store::{Backend, Db, Migrations, StoreError};
use kontor_testkit::for_each_backend;

static ALPHA_SQLITE: Migrator = kontor_store::sqlx::migrate!("tests/migrations/alpha/sqlite");
static ALPHA_POSTGRES: Migrator = kontor_store::sqlx::migrate!("tests/migrations/alpha/postgres");
static BETA_SQLITE: Migrator = kontor_store::sqlx::migrate!("tests/migrations/beta/sqlite");
static BETA_POSTGRES: Migrator = kontor_store::sqlx::migrate!("tests/migrations/beta/postgres");
static LOW_SQLITE: Migrator = kontor_store::sqlx::migrate!("tests/migrations/low/sqlite");
static LOW_POSTGRES: Migrator = kontor_store::sqlx::migrate!("tests/migrations/low/postgres");

const ALPHA: Migrations = Migrations { sqlite: &ALPHA_SQLITE, postgres: &ALPHA_POSTGRES };
const BETA: Migrations = Migrations { sqlite: &BETA_SQLITE, postgres: &BETA_POSTGRES };
const LOW: Migrations = Migrations { sqlite: &LOW_SQLITE, postgres: &LOW_POSTGRES };

#[tokio::test]
async fn two_crates_migrations_share_one_database_on_both_backends() {
    for_each_backend(|url, _| async move {
        let db = Db::connect(&url).await.unwrap();
        db.migrate(&ALPHA).await.unwrap();
        db.migrate(&BETA).await.unwrap();
        // Again, in the other order: each migrator ignores the other's rows.
        db.migrate(&ALPHA).await.unwrap();
        db.migrate(&BETA).await.unwrap();
        db.migrate_store().await.unwrap();

        let versions: Vec<i64> = db
            .fetch_all_sql("SELECT version FROM _sqlx_migrations ORDER BY version", vec![])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get_i64("version"))
            .collect();
        assert_eq!(versions, vec![1, 1000, 1001, 2000]);
        // Tables of all three exist.
        db.execute_sql(
            "INSERT INTO alpha_thing (id, n, label) VALUES ($1, $2, $3)",
            vec!["a".into(), 1i64.into(), "x".into()],
        )
        .await
        .unwrap();
        db.execute_sql(
            "INSERT INTO beta_thing (id, alpha_id) VALUES ($1, $2)",
            vec!["b".into(), "a".into()],
        )
        .await
        .unwrap();
        assert_eq!(db.current_version().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn caller_migrations_below_version_1000_are_rejected() {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    let err = db.migrate(&LOW).await.unwrap_err();
    assert!(err.to_string().contains("below 1000"), "{err}");
}

#[tokio::test]
async fn sqlite_connections_use_wal_busy_timeout_foreign_keys_and_normal_sync() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    let mode = db.fetch_one_sql("PRAGMA journal_mode", vec![]).await.unwrap();
    assert_eq!(mode.get_string(0), "wal");
    let fk = db.fetch_one_sql("PRAGMA foreign_keys", vec![]).await.unwrap();
    assert_eq!(fk.get_i64(0), 1);
    let busy = db.fetch_one_sql("PRAGMA busy_timeout", vec![]).await.unwrap();
    assert_eq!(busy.get_i64(0), 30_000);
    let sync = db.fetch_one_sql("PRAGMA synchronous", vec![]).await.unwrap();
    assert_eq!(sync.get_i64(0), 1);
}

#[tokio::test]
async fn an_in_memory_database_is_one_shared_connection() {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    db.migrate(&ALPHA).await.unwrap();
    let db2 = db.clone();
    db2.execute_sql(
        "INSERT INTO alpha_thing (id, n) VALUES ($1, $2)",
        vec!["a".into(), 1i64.into()],
    )
    .await
    .unwrap();
    let n = db.fetch_one_sql("SELECT COUNT(*) AS n FROM alpha_thing", vec![]).await.unwrap();
    assert_eq!(n.get_i64("n"), 1);
}

#[tokio::test]
async fn statements_bind_values_the_same_way_on_both_backends() {
    for_each_backend(|url, _| async move {
        let db = Db::connect(&url).await.unwrap();
        db.migrate(&ALPHA).await.unwrap();
        let id = uuid::Uuid::now_v7();
        // sea-query insert with a Uuid value: stored as lowercase hyphenated text.
        let insert = Query::insert()
            .into_table(Alias::new("alpha_thing"))
            .columns([Alias::new("id"), Alias::new("n"), Alias::new("label")])
            .values_panic([id.into(), 7i32.into(), Value::String(None).into()])
            .to_owned();
        assert_eq!(db.execute(&insert).await.unwrap(), 1);
        let select = Query::select()
            .columns([Alias::new("id"), Alias::new("n"), Alias::new("label")])
            .from(Alias::new("alpha_thing"))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        let row = db.fetch_one(&select).await.unwrap();
        assert_eq!(row.get_string("id"), id.hyphenated().to_string());
        assert_eq!(row.get_uuid("id"), id);
        assert_eq!(row.get_i64("n"), 7);
        assert_eq!(row.get_opt_string("label"), None);

        // Plain SQL: `$n` placeholders, reused and out of order.
        let rows = db
            .fetch_all_sql(
                "SELECT id FROM alpha_thing WHERE n = $2 AND (id = $1 OR id = $1)",
                vec![id.into(), 7i64.into()],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let missing = db
            .fetch_optional_sql("SELECT id FROM alpha_thing WHERE n = $1", vec![8i64.into()])
            .await
            .unwrap();
        assert!(missing.is_none());
        assert!(matches!(
            db.fetch_one_sql("SELECT id FROM alpha_thing WHERE n = $1", vec![8i64.into()]).await,
            Err(StoreError::NotFound)
        ));
        let b = db.fetch_one_sql("SELECT $1 = $1 AS t", vec![true.into()]).await.unwrap();
        assert!(b.get_bool("t"));
    })
    .await;
}

#[tokio::test]
async fn a_duplicate_key_is_reported_as_duplicate_on_both_backends() {
    for_each_backend(|url, _| async move {
        let db = Db::connect(&url).await.unwrap();
        db.migrate(&ALPHA).await.unwrap();
        let sql = "INSERT INTO alpha_thing (id, n) VALUES ($1, $2)";
        db.execute_sql(sql, vec!["k".into(), 1i64.into()]).await.unwrap();
        let err = db.execute_sql(sql, vec!["k".into(), 2i64.into()]).await.unwrap_err();
        assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn a_transaction_commits_or_rolls_back_on_both_backends() {
    for_each_backend(|url, _| async move {
        let db = Db::connect(&url).await.unwrap();
        db.migrate(&ALPHA).await.unwrap();
        let sql = "INSERT INTO alpha_thing (id, n) VALUES ($1, $2)";
        let mut tx = db.begin().await.unwrap();
        tx.execute_sql(sql, vec!["a".into(), 1i64.into()]).await.unwrap();
        let v = tx.next_row_versions(3).await.unwrap();
        assert_eq!(v, 3);
        tx.commit().await.unwrap();

        let mut tx = db.begin().await.unwrap();
        tx.execute_sql(sql, vec!["b".into(), 2i64.into()]).await.unwrap();
        assert_eq!(tx.next_row_versions(1).await.unwrap(), 4);
        drop(tx); // rolled back

        let n = db.fetch_one_sql("SELECT COUNT(*) AS n FROM alpha_thing", vec![]).await.unwrap();
        assert_eq!(n.get_i64("n"), 1);
        assert_eq!(db.current_version().await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_on_a_sqlite_file_wait_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    db.migrate(&ALPHA).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let mut tx = db.begin().await.unwrap();
                // Read first, then write: with a deferred BEGIN this is where SQLite deadlocks.
                let row = tx
                    .fetch_one_sql("SELECT COUNT(*) AS n FROM alpha_thing", vec![])
                    .await
                    .unwrap();
                let n = row.get_i64("n");
                tx.execute_sql(
                    "INSERT INTO alpha_thing (id, n) VALUES ($1, $2)",
                    vec![format!("{t}-{i}").into(), n.into()],
                )
                .await
                .unwrap();
                tx.next_row_versions(1).await.unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = db.fetch_one_sql("SELECT COUNT(*) AS n FROM alpha_thing", vec![]).await.unwrap();
    assert_eq!(n.get_i64("n"), 160);
    assert_eq!(db.current_version().await.unwrap(), 160);
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_database_and_its_wal_and_shm_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.sqlite");
    let db = Db::connect(&format!("sqlite:{}?mode=rwc", path.display())).await.unwrap();
    db.migrate(&ALPHA).await.unwrap();
    db.execute_sql(
        "INSERT INTO alpha_thing (id, n, label) VALUES ($1, $2, $3)",
        vec![Value::from("a"), Value::from(1i64), Value::from("x")],
    )
    .await
    .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("private.sqlite{suffix}"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    db.close().await;
}
