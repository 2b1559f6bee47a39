//! kontor-store: one database layer over SQLite and PostgreSQL.
//!
//! - [`Db`] is a pool on either backend (sqlx 0.9, two typed pools, no `Any` driver);
//!   [`Tx`] a transaction (`BEGIN IMMEDIATE` on SQLite).
//! - Statements are sea-query builders (rendered per backend, values always bound) or plain SQL
//!   with `$1…$n` placeholders and a `Vec<sea_query::Value>` of binds.
//! - [`Db::migrate`] applies the store's own migrations (versions 1-999: `store_counter`,
//!   `store_tombstone`), then the caller's; other crates' migrations use their own version ranges.
//! - [`Repo`] is the generic OData entity repository: list (`$filter $select $orderby $top $skip
//!   $count $expand`, server-driven paging), get, insert/update/delete with row versions, bulk
//!   insert/upsert, and the change feed (live rows and tombstones in version order).
//!
//! # Storage decisions (identical on both backends)
//!
//! | value          | column            | why                                                     |
//! |----------------|-------------------|---------------------------------------------------------|
//! | GUID           | TEXT, lowercase hyphenated | one text form, so OData GUID literals compare equal; `sea_query::Value::Uuid` is bound as that text |
//! | money/decimal  | BIGINT × 10^scale | exact, sortable and summable in SQL (SQLite has no decimal) |
//! | timestamp      | BIGINT µs since the Unix epoch, UTC | exact ordering, no text-format drift between drivers |
//! | date           | TEXT `YYYY-MM-DD` | text order = date order                                 |
//! | integer        | BIGINT            | all integer binds are widened to BIGINT                 |
//! | row version    | BIGINT `row_version` | from the single `store_counter` row, store-wide unique |
//!
//! See `kontor_odata::model` for the per-EDM-type table.

pub mod codec;
mod db;
mod error;
mod repo;
mod row;

pub use db::{Backend, Db, FIRST_CALLER_MIGRATION, Migrations, SchemaColumn, Statement, Tx};
pub use error::{Result, StoreError};
pub use repo::{Caller, Change, ETAG, Map, Page, Repo, etag, row_version};
pub use row::{Col, Decodable, Row};

pub use sea_query;
pub use sqlx;
