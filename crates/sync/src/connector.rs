//! The `Connector` port: how the engine sees one side (Financials or Sales) — a change feed to
//! read pages from, rows to fetch by key, and batches of keyed upserts and deletes to write.
//!
//! Rows are JSON objects in the side's own API names (`displayName`, `_ownerid_value`). Keys are
//! client-chosen GUIDs: an upsert creates the row with the given key when it is absent, so a write
//! repeated after a crash never duplicates anything. Implementations live in `kontor-connectors`
//! (HTTP) and [`crate::memory`] (tests).

use futures::future::BoxFuture;
use uuid::Uuid;

pub use kontor_sync_core::types::*;

/// What went wrong talking to a side. Errors know whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// Network trouble, timeouts, 5xx, throttling that outlasted the retries: try again later.
    #[error("{side} is unavailable: {message}")]
    Unavailable { side: Side, message: String },
    /// Credentials were refused (401/403).
    #[error("{side} refused the credentials: {message}")]
    Unauthorized { side: Side, message: String },
    /// A delta token expired or was refused: start a full read.
    #[error("{side} refused the change token: {message}")]
    TokenExpired { side: Side, message: String },
    /// The request itself is wrong (unknown table or field, bad filter): retrying won't help.
    #[error("{side} rejected the request: {message}")]
    Rejected { side: Side, message: String },
}

impl ConnectorError {
    /// Whether repeating the same request can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ConnectorError::Unavailable { .. })
    }
}

/// The port to one side.
pub trait Connector: Send + Sync {
    fn side(&self) -> Side;

    /// Reads one page: all rows (tracking changes), the next page, or changes since a token.
    fn read<'a>(
        &'a self,
        table: &'a TableRef,
        cursor: &'a Cursor,
        page_size: usize,
    ) -> BoxFuture<'a, Result<ChangePage, ConnectorError>>;

    /// The rows with these keys that exist (missing ones are simply absent), in any order.
    fn get<'a>(
        &'a self,
        table: &'a TableRef,
        ids: &'a [Uuid],
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>>;

    /// Applies a batch; one outcome per op, in order. An `Err` means nothing can be said about
    /// any op (the caller retries the whole batch, which is safe: writes are keyed upserts).
    fn write<'a>(
        &'a self,
        batch: &'a WriteBatch,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ConnectorError>>;

    /// How many rows the table holds (for the full synchronization review).
    fn count<'a>(&'a self, table: &'a TableRef) -> BoxFuture<'a, Result<u64, ConnectorError>>;

    /// At most `top` rows of `table` in which one of `fields` contains `text` (without regard
    /// to case), for a person picking a record (the web client's Set Up Coupling). By default
    /// the request is rejected.
    fn search<'a>(
        &'a self,
        table: &'a TableRef,
        fields: &'a [String],
        text: &'a str,
        top: usize,
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        let _ = (fields, text, top);
        Box::pin(async move {
            Err(ConnectorError::Rejected {
                side: self.side(),
                message: format!("{}: {} cannot be searched", table.set, self.side()),
            })
        })
    }

    /// The experience of the company this side serves (`Essential` or `Suite`), for the Suite
    /// gate; `None` for a side without one (Sales). By default `None`.
    fn experience(&self) -> BoxFuture<'_, Result<Option<String>, ConnectorError>> {
        Box::pin(async move { Ok(None) })
    }

    /// The rows of `table` whose `parent` column holds `parent_id` (the lines of one document:
    /// `salesorderdetails` by `_salesorderid_value`). By default the request is rejected.
    fn children<'a>(
        &'a self,
        table: &'a TableRef,
        parent: &'a str,
        parent_id: Uuid,
    ) -> BoxFuture<'a, Result<Vec<Row>, ConnectorError>> {
        let _ = parent_id;
        Box::pin(async move {
            Err(ConnectorError::Rejected {
                side: self.side(),
                message: format!("{}: {} cannot be read by {parent}", table.set, self.side()),
            })
        })
    }

    /// The values of the option set column `column` of entity set `set` (option mappings).
    /// Only Sales has option sets: by default the request is rejected.
    fn options<'a>(
        &'a self,
        set: &'a str,
        column: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OptionValue>, ConnectorError>> {
        Box::pin(async move {
            Err(ConnectorError::Rejected {
                side: self.side(),
                message: format!("{set}.{column}: {} has no option sets", self.side()),
            })
        })
    }
}
