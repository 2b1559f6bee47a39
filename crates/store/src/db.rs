//! `Db` (a pool on SQLite or PostgreSQL), `Tx` (a write transaction), statement execution and
//! migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_query::{PostgresQueryBuilder, QueryStatementWriter, SqliteQueryBuilder, Value, Values};
use sea_query_sqlx::SqlxValues;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Postgres, SqlSafeStr, SqlStr, Sqlite, Transaction};

use crate::error::{Result, StoreError};
use crate::row::Row;

/// The store's own migrations (versions 1-999).
static STORE_SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static STORE_POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The lowest migration version a caller's migrations may use; 1-999 belong to the store.
pub const FIRST_CALLER_MIGRATION: i64 = 1000;

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which database a `Db` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The matching `kontor_odata::sql::Dialect`.
    pub fn dialect(self) -> kontor_odata::sql::Dialect {
        match self {
            Backend::Sqlite => kontor_odata::sql::Dialect::Sqlite,
            Backend::Postgres => kontor_odata::sql::Dialect::Postgres,
        }
    }
}

/// A crate's migrations, one embedded folder per backend (`sqlx::migrate!("migrations/sqlite")`).
///
/// Several crates share one database and one `_sqlx_migrations` table, so each crate uses its own
/// range of versions (see `docs/contracts.md`: store 1-999, fin 1000-1999, crm 2000-2999,
/// sync 3000-3999, jobs 4000-4999); `Db::migrate` ignores rows applied by the other crates.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

/// A connection pool to SQLite or PostgreSQL. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Db {
    /// The pool and the process's writer turn: SQLite has one writer at a time, and a
    /// connection that finds the database locked retries after growing sleeps (1, 2, 5, 10 … ms),
    /// leaving the lock idle meanwhile; writers of this process queue for their turn instead.
    Sqlite(SqlitePool, Arc<tokio::sync::Mutex<()>>),
    Postgres(PgPool),
}

/// Something sea-query can render for either backend (`SelectStatement`, `InsertStatement`,
/// `UpdateStatement`, `DeleteStatement`, `WithQuery`).
pub trait Statement {
    fn build_for(&self, backend: Backend) -> (String, Values);
}

impl<T: QueryStatementWriter> Statement for T {
    fn build_for(&self, backend: Backend) -> (String, Values) {
        match backend {
            Backend::Sqlite => self.build(SqliteQueryBuilder),
            Backend::Postgres => self.build(PostgresQueryBuilder),
        }
    }
}

/// Creates the SQLite file `path` readable by its owner only (0600) when it does not exist yet:
/// the database holds password hashes and sealed secrets. SQLite gives the `-wal` and `-shm`
/// files it creates later the database file's mode. Errors are left to the connect that follows.
fn create_private(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if path.as_os_str().is_empty() {
            return;
        }
        let _ = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Rows sqlx's SQLite worker may send ahead of the reader (one page of the largest
/// `odata.maxpagesize` the servers grant, plus one).
const ROW_CHANNEL_SIZE: usize = 5001;

impl Db {
    /// Connects to `sqlite:<path>` (add `?mode=rwc` to create the file), `sqlite::memory:` (one
    /// shared connection, so the database lives as long as the pool) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db> {
        if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let mut options = SqliteConnectOptions::from_str(url)?
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .synchronous(SqliteSynchronous::Normal)
                // sqlx runs each SQLite connection on its own thread and streams rows to the
                // caller through a bounded channel; at its default of 50 a page of 500 rows
                // costs a dozen thread hand-offs (the worker blocks on the full channel until
                // the reader drains it). A page fits at once with room to spare.
                .row_buffer_size(ROW_CHANNEL_SIZE)
                // Checkpoint the WAL every ~40 MB instead of every ~4 MB: with synchronous=NORMAL
                // a checkpoint is the only fsync, and a bulk synchronization writes hundreds of MB.
                .pragma("wal_autocheckpoint", "10000")
                // Statement journals (a multi-row INSERT inside a transaction keeps one, to undo
                // just that statement on a constraint error) and temporary indexes stay in
                // memory: on disk they spilled to a temporary file past 64 KiB, and writing that
                // file was a fifth of the Sales writer's time in a bulk synchronization.
                .pragma("temp_store", "memory");
            if !memory && url.contains("mode=rwc") {
                create_private(options.get_filename());
            }
            let pool = if memory {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await?
            } else {
                options = options.journal_mode(SqliteJournalMode::Wal);
                SqlitePoolOptions::new().max_connections(8).connect_with(options).await?
            };
            Ok(Db::Sqlite(pool, Arc::new(tokio::sync::Mutex::new(()))))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(StoreError::Db(sqlx::Error::Configuration(
                format!("unsupported database URL scheme (expected sqlite: or postgres:): {url}")
                    .into(),
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite pool, for backend-specific code.
    pub fn as_sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Db::Sqlite(p, _) => Some(p),
            Db::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for backend-specific code (`PgListener`, …).
    pub fn as_postgres(&self) -> Option<&PgPool> {
        match self {
            Db::Postgres(p) => Some(p),
            Db::Sqlite(..) => None,
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, _) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Applies the store's own migrations, then `m` (whose versions must be ≥ 1000). Rows other
    /// crates' migrators left in `_sqlx_migrations` are ignored; a version used by two crates
    /// fails with a checksum mismatch instead of being skipped silently.
    pub async fn migrate(&self, m: &Migrations) -> Result<()> {
        if let Some(bad) =
            m.sqlite.iter().chain(m.postgres.iter()).find(|it| it.version < FIRST_CALLER_MIGRATION)
        {
            return Err(StoreError::Migrate(MigrateError::Source(
                format!(
                    "migration {} ({}) uses a version below {FIRST_CALLER_MIGRATION}, which belongs to kontor-store",
                    bad.version, bad.description
                )
                .into(),
            )));
        }
        self.migrate_one(&STORE_SQLITE, &STORE_POSTGRES).await?;
        self.migrate_one(m.sqlite, m.postgres).await
    }

    /// Applies only the store's own migrations (counters, tombstones).
    pub async fn migrate_store(&self) -> Result<()> {
        self.migrate_one(&STORE_SQLITE, &STORE_POSTGRES).await
    }

    async fn migrate_one(&self, sqlite: &Migrator, postgres: &Migrator) -> Result<()> {
        let source = match self {
            Db::Sqlite(..) => sqlite,
            Db::Postgres(_) => postgres,
        };
        let mut migrator = Migrator::with_migrations(source.iter().cloned().collect());
        migrator.set_ignore_missing(true);
        match self {
            Db::Sqlite(p, _) => migrator.run(p).await?,
            Db::Postgres(p) => migrator.run(p).await?,
        }
        Ok(())
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken up front,
    /// so two writers never deadlock upgrading a read lock), `BEGIN` on PostgreSQL.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(p, turn) => {
                // Waiting for the turn longer than SQLite would wait for the lock falls back to
                // SQLite's own waiting (which then reports the database locked, as before).
                let turn = tokio::time::timeout(SQLITE_BUSY_TIMEOUT, Arc::clone(turn).lock_owned())
                    .await
                    .ok();
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Starts a read transaction, one consistent snapshot for all its statements (a page and its
    /// `$count` and expansions agree): a deferred `BEGIN` on SQLite (WAL: it does not wait for
    /// writers), `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` on PostgreSQL. Don't write in it.
    pub async fn begin_read(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(p, _) => Tx::Sqlite(p.begin().await?, None),
            Db::Postgres(p) => {
                Tx::Postgres(p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?)
            }
        })
    }

    fn exec(&self) -> Exec<'_> {
        match self {
            Db::Sqlite(p, _) => Exec::SqlitePool(p),
            Db::Postgres(p) => Exec::PgPool(p),
        }
    }

    pub async fn fetch_all(&self, stmt: &impl Statement) -> Result<Vec<Row>> {
        let (sql, values) = stmt.build_for(self.backend());
        self.exec().fetch_all(AssertSqlSafe(sql).into_sql_str(), values).await
    }

    pub async fn fetch_optional(&self, stmt: &impl Statement) -> Result<Option<Row>> {
        let (sql, values) = stmt.build_for(self.backend());
        self.exec().fetch_optional(AssertSqlSafe(sql).into_sql_str(), values).await
    }

    /// Like `fetch_optional`, with `StoreError::NotFound` when there is no row.
    pub async fn fetch_one(&self, stmt: &impl Statement) -> Result<Row> {
        self.fetch_optional(stmt).await?.ok_or(StoreError::NotFound)
    }

    /// Runs the statement and returns the number of rows affected.
    pub async fn execute(&self, stmt: &impl Statement) -> Result<u64> {
        let (sql, values) = stmt.build_for(self.backend());
        self.exec().execute(AssertSqlSafe(sql).into_sql_str(), values).await
    }

    /// Plain SQL with `$1…$n` placeholders (on both backends) and the values to bind.
    pub async fn fetch_all_sql(&self, sql: impl SqlSafeStr, binds: Vec<Value>) -> Result<Vec<Row>> {
        self.exec().fetch_all(sql.into_sql_str(), Values(binds)).await
    }

    pub async fn fetch_optional_sql(
        &self,
        sql: impl SqlSafeStr,
        binds: Vec<Value>,
    ) -> Result<Option<Row>> {
        self.exec().fetch_optional(sql.into_sql_str(), Values(binds)).await
    }

    pub async fn fetch_one_sql(&self, sql: impl SqlSafeStr, binds: Vec<Value>) -> Result<Row> {
        self.fetch_optional_sql(sql, binds).await?.ok_or(StoreError::NotFound)
    }

    pub async fn execute_sql(&self, sql: impl SqlSafeStr, binds: Vec<Value>) -> Result<u64> {
        self.exec().execute(sql.into_sql_str(), Values(binds)).await
    }

    /// Every column of every table (except `_sqlx_migrations`), normalised so the two backends
    /// compare equal when their migrations agree: sorted by table and column name,
    /// type lowercased (`text`, `bigint`, `boolean`, `double precision`), nullability, and
    /// whether it is part of the primary key. Use it in a test that both migration folders match.
    pub async fn describe_schema(&self) -> Result<Vec<SchemaColumn>> {
        let rows = match self {
            Db::Sqlite(..) => {
                self.fetch_all_sql(
                    "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, \
                     p.\"notnull\" AS not_null, p.pk AS pk \
                     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
                    vec![],
                )
                .await?
            }
            Db::Postgres(_) => {
                self.fetch_all_sql(
                    "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                     c.data_type::text AS data_type, \
                     CASE WHEN c.is_nullable = 'NO' THEN 1 ELSE 0 END AS not_null, \
                     CASE WHEN EXISTS (SELECT 1 FROM information_schema.table_constraints tc \
                       JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name \
                        AND k.table_schema = tc.table_schema AND k.table_name = tc.table_name \
                       WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema \
                        AND tc.table_name = c.table_name AND k.column_name = c.column_name) THEN 1 ELSE 0 END AS pk \
                     FROM information_schema.columns c \
                     WHERE c.table_schema = current_schema() AND c.table_name <> '_sqlx_migrations'",
                    vec![],
                )
                .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let pk = r.try_get_i64("pk")? > 0;
            out.push(SchemaColumn {
                table: r.try_get::<String>("table_name")?,
                column: r.try_get::<String>("column_name")?,
                data_type: normalize_type(&r.try_get::<String>("data_type")?),
                // SQLite lets a non-INTEGER primary key column hold NULL unless declared NOT NULL;
                // PostgreSQL makes primary keys NOT NULL: compare them as NOT NULL.
                nullable: r.try_get_i64("not_null")? == 0 && !pk,
                primary_key: pk,
            });
        }
        out.sort_by(|a, b| (&a.table, &a.column).cmp(&(&b.table, &b.column)));
        Ok(out)
    }

    /// The highest row version handed out so far (committed; see `Tx::next_row_versions`).
    pub async fn current_version(&self) -> Result<i64> {
        let row = self
            .fetch_one_sql("SELECT value FROM store_counter WHERE name = 'row_version'", vec![])
            .await?;
        row.try_get_i64("value")
    }
}

/// One column as [`Db::describe_schema`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaColumn {
    pub table: String,
    pub column: String,
    /// Lowercase: `text`, `bigint`, `boolean`, `double precision`, `integer`, `jsonb`, …
    pub data_type: String,
    pub nullable: bool,
    pub primary_key: bool,
}

fn normalize_type(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    match t.as_str() {
        "int8" => "bigint".to_owned(),
        "int4" | "int" => "integer".to_owned(),
        "float8" | "double" => "double precision".to_owned(),
        "bool" => "boolean".to_owned(),
        _ => t,
    }
}

/// A transaction on either backend. Dropping it without `commit` rolls it back.
#[derive(Debug)]
pub enum Tx {
    /// The transaction and, while it is open, the writer turn of its `Db` (none for a read).
    Sqlite(Transaction<'static, Sqlite>, Option<tokio::sync::OwnedMutexGuard<()>>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(..) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t, _) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t, _) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    /// Opens a savepoint: the work up to [`Tx::end_savepoint`] can be undone alone (one
    /// operation of a `$batch`), and on PostgreSQL a failed statement inside it does not abort
    /// the whole transaction.
    pub async fn savepoint(&mut self) -> Result<()> {
        self.execute_sql("SAVEPOINT kontor_savepoint", vec![]).await?;
        Ok(())
    }

    /// Closes the savepoint [`Tx::savepoint`] opened: its work is kept when `keep`, else undone.
    pub async fn end_savepoint(&mut self, keep: bool) -> Result<()> {
        if !keep {
            self.execute_sql("ROLLBACK TO SAVEPOINT kontor_savepoint", vec![]).await?;
        }
        self.execute_sql("RELEASE SAVEPOINT kontor_savepoint", vec![]).await?;
        Ok(())
    }

    /// The SQLite connection, for backend-specific code.
    pub fn as_sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match self {
            Tx::Sqlite(t, _) => Some(&mut **t),
            Tx::Postgres(_) => None,
        }
    }

    /// The PostgreSQL connection, for backend-specific code.
    pub fn as_postgres(&mut self) -> Option<&mut PgConnection> {
        match self {
            Tx::Postgres(t) => Some(&mut **t),
            Tx::Sqlite(..) => None,
        }
    }

    fn exec(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(t, _) => Exec::SqliteConn(t),
            Tx::Postgres(t) => Exec::PgConn(t),
        }
    }

    pub async fn fetch_all(&mut self, stmt: &impl Statement) -> Result<Vec<Row>> {
        let (sql, values) = stmt.build_for(self.backend());
        self.exec().fetch_all(AssertSqlSafe(sql).into_sql_str(), values).await
    }

    pub async fn fetch_optional(&mut self, stmt: &impl Statement) -> Result<Option<Row>> {
        let (sql, values) = stmt.build_for(self.backend());
        self.exec().fetch_optional(AssertSqlSafe(sql).into_sql_str(), values).await
    }

    /// Like `fetch_optional`, with `StoreError::NotFound` when there is no row.
    pub async fn fetch_one(&mut self, stmt: &impl Statement) -> Result<Row> {
        self.fetch_optional(stmt).await?.ok_or(StoreError::NotFound)
    }

    pub async fn execute(&mut self, stmt: &impl Statement) -> Result<u64> {
        let (sql, values) = stmt.build_for(self.backend());
        self.exec().execute(AssertSqlSafe(sql).into_sql_str(), values).await
    }

    /// Plain SQL with `$1…$n` placeholders (on both backends) and the values to bind.
    pub async fn fetch_all_sql(
        &mut self,
        sql: impl SqlSafeStr,
        binds: Vec<Value>,
    ) -> Result<Vec<Row>> {
        self.exec().fetch_all(sql.into_sql_str(), Values(binds)).await
    }

    pub async fn fetch_optional_sql(
        &mut self,
        sql: impl SqlSafeStr,
        binds: Vec<Value>,
    ) -> Result<Option<Row>> {
        self.exec().fetch_optional(sql.into_sql_str(), Values(binds)).await
    }

    pub async fn fetch_one_sql(&mut self, sql: impl SqlSafeStr, binds: Vec<Value>) -> Result<Row> {
        self.fetch_optional_sql(sql, binds).await?.ok_or(StoreError::NotFound)
    }

    pub async fn execute_sql(&mut self, sql: impl SqlSafeStr, binds: Vec<Value>) -> Result<u64> {
        self.exec().execute(sql.into_sql_str(), Values(binds)).await
    }

    /// Reserves `n` (≥ 1) consecutive row versions and returns the **last** one; the range is
    /// `last - n + 1 ..= last`. On PostgreSQL the counter row stays locked until this transaction
    /// ends, so transactions that write versions commit in version order: a reader that sees
    /// version `v` committed has every version below `v` committed too (the change feed relies on it).
    pub async fn next_row_versions(&mut self, n: i64) -> Result<i64> {
        let row = self
            .fetch_one_sql(
                "UPDATE store_counter SET value = value + $1 WHERE name = 'row_version' RETURNING value",
                vec![Value::BigInt(Some(n.max(1)))],
            )
            .await?;
        row.try_get_i64("value")
    }

    /// The highest row version handed out so far, as this transaction sees it.
    pub async fn current_version(&mut self) -> Result<i64> {
        let row = self
            .fetch_one_sql("SELECT value FROM store_counter WHERE name = 'row_version'", vec![])
            .await?;
        row.try_get_i64("value")
    }
}

/// Where a statement runs: a pool or a transaction's connection.
enum Exec<'a> {
    SqlitePool(&'a SqlitePool),
    PgPool(&'a PgPool),
    SqliteConn(&'a mut SqliteConnection),
    PgConn(&'a mut PgConnection),
}

impl Exec<'_> {
    fn is_sqlite(&self) -> bool {
        matches!(self, Exec::SqlitePool(_) | Exec::SqliteConn(_))
    }

    /// The statement as it is sent: on SQLite with anonymous placeholders (see
    /// [`anonymous_placeholders`]).
    fn statement(&self, sql: SqlStr, values: Values) -> (SqlStr, SqlxValues) {
        if self.is_sqlite()
            && let Some((sql, values)) = anonymous_placeholders(sql.as_str(), &values.0)
        {
            return (AssertSqlSafe(sql).into_sql_str(), bindable(Values(values)));
        }
        (sql, bindable(values))
    }

    async fn fetch_all(self, sql: SqlStr, values: Values) -> Result<Vec<Row>> {
        let (sql, args) = self.statement(sql, values);
        Ok(match self {
            Exec::SqlitePool(p) => sqlx::query_with(sql, args)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Exec::PgPool(p) => sqlx::query_with(sql, args)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
            Exec::SqliteConn(c) => sqlx::query_with(sql, args)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Exec::PgConn(c) => sqlx::query_with(sql, args)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
        })
    }

    async fn fetch_optional(self, sql: SqlStr, values: Values) -> Result<Option<Row>> {
        let (sql, args) = self.statement(sql, values);
        Ok(match self {
            Exec::SqlitePool(p) => {
                sqlx::query_with(sql, args).fetch_optional(p).await?.map(Row::Sqlite)
            }
            Exec::PgPool(p) => {
                sqlx::query_with(sql, args).fetch_optional(p).await?.map(Row::Postgres)
            }
            Exec::SqliteConn(c) => {
                sqlx::query_with(sql, args).fetch_optional(c).await?.map(Row::Sqlite)
            }
            Exec::PgConn(c) => {
                sqlx::query_with(sql, args).fetch_optional(c).await?.map(Row::Postgres)
            }
        })
    }

    async fn execute(self, sql: SqlStr, values: Values) -> Result<u64> {
        let (sql, args) = self.statement(sql, values);
        Ok(match self {
            Exec::SqlitePool(p) => sqlx::query_with(sql, args).execute(p).await?.rows_affected(),
            Exec::PgPool(p) => sqlx::query_with(sql, args).execute(p).await?.rows_affected(),
            Exec::SqliteConn(c) => sqlx::query_with(sql, args).execute(c).await?.rows_affected(),
            Exec::PgConn(c) => sqlx::query_with(sql, args).execute(c).await?.rows_affected(),
        })
    }
}

/// `sql` with its `$n` placeholders replaced by anonymous `?`s, and the values in the order
/// the placeholders appear (a value used twice is bound twice), or `None` to send it as it is
/// (no `$n`, an anonymous `?` already there, or a `$n` without a value).
///
/// SQLite names a `$n` parameter, and sqlx asks for each parameter's name while binding, which
/// SQLite finds by a linear scan of all names: a multi-row INSERT of a few thousand `$n`s spent
/// more time binding than running. Anonymous parameters have no name to look up. Text in quotes
/// is left alone.
fn anonymous_placeholders(sql: &str, values: &[Value]) -> Option<(String, Vec<Value>)> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut ordered = Vec::with_capacity(values.len());
    let mut quote: Option<u8> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'?' => return None,
            None if b == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let end = (i + 1..bytes.len())
                    .find(|&j| !bytes[j].is_ascii_digit())
                    .unwrap_or(bytes.len());
                let n: usize = sql[i + 1..end].parse().ok()?;
                ordered.push(values.get(n.checked_sub(1)?)?.clone());
                out.push_str(&sql[copied..i]);
                out.push('?');
                copied = end;
                i = end;
                continue;
            }
            None => {}
        }
        i += 1;
    }
    if ordered.is_empty() {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some((out, ordered))
}

/// Normalises values to the store's encoding before binding: GUIDs are TEXT (lowercase
/// hyphenated) on both backends, and all integers are BIGINT.
fn bindable(values: Values) -> SqlxValues {
    SqlxValues(Values(values.0.into_iter().map(normalize_value).collect()))
}

pub(crate) fn normalize_value(v: Value) -> Value {
    match v {
        Value::Uuid(u) => Value::String(u.map(|u| u.hyphenated().to_string())),
        Value::TinyInt(i) => Value::BigInt(i.map(i64::from)),
        Value::SmallInt(i) => Value::BigInt(i.map(i64::from)),
        Value::Int(i) => Value::BigInt(i.map(i64::from)),
        Value::TinyUnsigned(i) => Value::BigInt(i.map(i64::from)),
        Value::SmallUnsigned(i) => Value::BigInt(i.map(i64::from)),
        Value::Unsigned(i) => Value::BigInt(i.map(i64::from)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::String(Some(s.to_owned()))
    }

    #[test]
    fn numbered_placeholders_become_anonymous_with_values_in_order_of_appearance() {
        let values = vec![text("a"), text("b"), text("c")];
        type Case<'a> = (&'a str, Option<(&'a str, Vec<Value>)>);
        let cases: &[Case] = &[
            ("SELECT 1", None),
            (
                "SELECT * FROM t WHERE a = $1",
                Some(("SELECT * FROM t WHERE a = ?", vec![text("a")])),
            ),
            (
                "INSERT INTO t VALUES ($2, $1, $3, $2)",
                Some((
                    "INSERT INTO t VALUES (?, ?, ?, ?)",
                    vec![text("b"), text("a"), text("c"), text("b")],
                )),
            ),
            (
                "SELECT '$1', \"$2\" FROM t WHERE x = $3 AND y = 'it''s $1'",
                Some((
                    "SELECT '$1', \"$2\" FROM t WHERE x = ? AND y = 'it''s $1'",
                    vec![text("c")],
                )),
            ),
            ("SELECT * FROM t WHERE a = ? AND b = $1", None),
            ("SELECT * FROM t WHERE a = $4", None),
            ("SELECT * FROM t WHERE a = $0", None),
            ("SELECT $12", None),
        ];
        for (sql, want) in cases {
            let got = anonymous_placeholders(sql, &values);
            let want = want.as_ref().map(|(s, v)| (s.to_string(), v.clone()));
            assert_eq!(got, want, "{sql}");
        }
    }
}
