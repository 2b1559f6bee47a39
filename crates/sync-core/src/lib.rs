//! kontor-sync-core: the integration's pure half — no IO, no async, no database, no HTTP.
//! kontor-sync (the engine) depends on it and re-exports its modules under the same paths.
//!
//! Modules, each depending only on those above it:
//! - [`types`]: the data the `Connector` port carries (rows, changes, cursors, write batches);
//!   [`error`]: [`CoreError`]; [`ids`]: deterministic target ids.
//! - [`direction`]: directions and passes; [`value`]: value comparison and transformations;
//!   [`filter`]: table filters (kontor-odata's `$filter` AST evaluated on a row).
//! - [`mapping`], [`defaults`]: integration table and field mappings, the Business Central
//!   default set, export/import as JSON (filters parsed on the way in).
//! - [`plan`]: the planning function (three-way field merge, conflicts, deletions, lookups
//!   through couplings, echo suppression); [`page`]: quiet rows and a written page's outcome.
//! - [`matching`]: match-based coupling decisions; [`review`]: the full synchronization review
//!   rules; [`options`]: the plan and outcome of option mappings.
//! - [`secrets`]: which stored secrets setup may reuse (only for the URL and account they were
//!   stored for).

pub mod defaults;
pub mod direction;
pub mod error;
pub mod filter;
pub mod ids;
pub mod mapping;
pub mod matching;
pub mod options;
pub mod page;
pub mod plan;
pub mod review;
pub mod secrets;
pub mod types;
pub mod value;

pub use error::CoreError;
pub use mapping::{Direction, FieldMapping, MappingSet, Pass, TableMapping};
pub use types::{
    Change, ChangePage, Cursor, Record, Row, Side, TableRef, WriteBatch, WriteOp, WriteOutcome,
};
