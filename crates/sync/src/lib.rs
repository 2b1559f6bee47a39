//! kontor-sync: the integration engine between Financials and Sales.
//!
//! - [`connector`]: the `Connector` port through which the engine sees each side (HTTP clients
//!   live in `kontor-connectors`; [`memory`] is an in-memory side for tests).
//! - [`mapping`], [`defaults`]: integration table and field mappings, the Business Central
//!   default set, export/import as JSON.
//! - [`plan`]: the pure planning function (three-way field merge, conflicts, deletions, lookups
//!   through couplings, echo suppression) — plan, then apply.
//! - [`options`]: option mappings (Financials codes ↔ Sales option set values).
//! - [`review`]: full synchronization review lines, recommendations, dependency order.
//! - [`store`]: the engine's tables (couplings, synch jobs and errors, watermarks, review lines).
//! - [`engine`]: applies plans page by page; full and incremental sync; job handlers.
//! - [`matching`], [`coupling`]: match-based coupling with the user's choices (match fields,
//!   priorities, case sensitivity, create when no match, synchronize after coupling).
//! - [`coupled`]: Set Up Coupling's *create in Sales*, and the resolutions of the Coupled Data
//!   Synchronization Errors (retry, a side wins, restore the deleted record, remove the coupling).
//! - [`orders`]: sales orders submitted in Sales become released Financials orders; posted
//!   orders set their Sales order Invoiced.
//! - [`setup`]: connection setup; [`credentials`]: the integration's credentials, stored sealed.
//!
//! The pure half — mappings, defaults, the planner, values, filters, matching, the review rules,
//! ids, option planning, page bookkeeping — is `kontor-sync-core`, re-exported here under the
//! same paths ([`mapping`], [`plan`], …); this crate adds the IO: connectors, store, engine, jobs.
//!
//! This crate does no HTTP and never links the Financials or Sales crates.

pub use kontor_sync_core::{
    defaults, direction, filter, ids, mapping, matching, page, plan, review, secrets, value,
};

pub mod connector;
pub mod coupled;
pub mod coupling;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod memory;
pub mod options;
pub mod orders;
pub mod setup;
pub mod store;

pub use connector::{
    Change, ChangePage, Connector, ConnectorError, Cursor, Record, Row, Side, TableRef, WriteBatch,
    WriteOp, WriteOutcome,
};
pub use error::SyncError;
pub use kontor_sync_core::CoreError;
pub use mapping::{Direction, FieldMapping, MappingSet, Pass, TableMapping};
