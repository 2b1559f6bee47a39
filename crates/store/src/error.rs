//! The store's error type.

/// What can go wrong in the store. `Db` wraps everything the caller cannot act on; the other
/// variants are answers the API layer maps to a status (404, 412, 409, 400).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The row's current version differs from the `If-Match` version the caller sent.
    #[error("version mismatch: the row is at version {current}")]
    VersionMismatch { current: i64 },
    /// A primary key or unique constraint was violated (SQLSTATE 23505 / SQLITE_CONSTRAINT).
    #[error("duplicate: {message}")]
    Duplicate { message: String },
    /// The request is wrong (unknown or read-only property, wrong type, too long, missing,
    /// bad `$skiptoken`, a broken reference, …): an `ODataError` naming the culprit.
    #[error("{0}")]
    Invalid(kontor_odata::ODataError),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            // PostgreSQL: 23505 unique_violation. SQLite: extended codes 1555 (PRIMARYKEY) and
            // 2067 (UNIQUE), both SQLITE_CONSTRAINT (19) family.
            if db.is_unique_violation() || matches!(code, "23505" | "1555" | "2067") {
                return StoreError::Duplicate { message: db.message().to_owned() };
            }
            // 23503 foreign_key_violation / SQLITE_CONSTRAINT_FOREIGNKEY (787).
            if db.is_foreign_key_violation() || matches!(code, "23503" | "787") {
                return StoreError::Invalid(kontor_odata::ODataError::conflict(format!(
                    "The change breaks a reference between records: {}",
                    db.message()
                )));
            }
            // 23502 not_null_violation / SQLITE_CONSTRAINT_NOTNULL (1299).
            if matches!(code, "23502" | "1299") {
                return StoreError::Invalid(kontor_odata::ODataError::bad_request(format!(
                    "A required value is missing: {}",
                    db.message()
                )));
            }
        }
        StoreError::Db(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
