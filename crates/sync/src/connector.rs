//! The `Connector` port: how the engine sees one side (Financials or Sales) — a change feed to
//! read pages from, rows to fetch by key, and batches of keyed upserts and deletes to write.
//!
//! Rows are JSON objects in the side's own API names (`displayName`, `_ownerid_value`). Keys are
//! client-chosen GUIDs: an upsert creates the row with the given key when it is absent, so a write
//! repeated after a crash never duplicates anything. Implementations live in `kontor-connectors`
//! (HTTP) and [`crate::memory`] (tests).

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A row's fields, in the side's API names.
pub type Record = serde_json::Map<String, Value>;

/// One of the two systems the integration connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    Financials,
    Sales,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Financials => Side::Sales,
            Side::Sales => Side::Financials,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Financials => "financials",
            Side::Sales => "sales",
        }
    }
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "financials" | "Financials" => Some(Side::Financials),
            "sales" | "Sales" => Some(Side::Sales),
            _ => None,
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Financials => "Financials",
            Side::Sales => "Sales",
        })
    }
}

/// Which table a request is about: entity set and key property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRef {
    /// Entity set (`customers`, `accounts`).
    pub set: String,
    /// Key property (`id`, `accountid`).
    pub key: String,
    /// Properties to read (`$select`; the key is always read); empty reads them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
}

impl TableRef {
    pub fn new(set: impl Into<String>, key: impl Into<String>) -> TableRef {
        TableRef { set: set.into(), key: key.into(), select: Vec::new() }
    }

    /// The same table, reading only the key and `fields`.
    pub fn selecting<I: IntoIterator<Item = S>, S: Into<String>>(&self, fields: I) -> TableRef {
        let mut select: Vec<String> = vec![self.key.clone()];
        for f in fields {
            let f = f.into();
            if !select.contains(&f) {
                select.push(f);
            }
        }
        TableRef { set: self.set.clone(), key: self.key.clone(), select }
    }
}

/// A row read from one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: Uuid,
    pub fields: Record,
}

impl Row {
    pub fn new(id: Uuid, fields: Record) -> Row {
        Row { id, fields }
    }
    /// Who last modified the row (`systemModifiedBy` on Financials, `_modifiedby_value` on Sales),
    /// lowercase, when the side reports it.
    pub fn modified_by(&self, side: Side) -> Option<String> {
        self.fields
            .get(modified_by_field(side))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    }
}

/// The property naming a row's last modifier on `side`.
pub fn modified_by_field(side: Side) -> &'static str {
    match side {
        Side::Financials => "systemModifiedBy",
        Side::Sales => "_modifiedby_value",
    }
}

/// One entry of a change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// The row was created or changed (full row).
    Upsert(Row),
    /// The row was deleted.
    Deleted(Uuid),
}

impl Change {
    pub fn id(&self) -> Uuid {
        match self {
            Change::Upsert(r) => r.id,
            Change::Deleted(id) => *id,
        }
    }
}

/// Where to read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cursor {
    /// All rows, tracking changes (`Prefer: odata.track-changes`): the last page ends with a delta token.
    Start,
    /// The next page of the same read (`@odata.nextLink`, opaque).
    Next(String),
    /// Changes since a delta token (`@odata.deltaLink`, opaque).
    Delta(String),
}

/// One page of a read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    /// More pages follow.
    pub next: Option<String>,
    /// Present on the last page: where to read the following changes from.
    pub delta: Option<String>,
}

/// How a lookup column is written on Sales: `<navigation>@odata.bind: /<target_set>(<id>)`
/// for the column read as `field` (`_ownerid_value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub field: String,
    pub navigation: String,
    pub target_set: String,
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteOp {
    /// Create (with this key) or update the given fields.
    Upsert { id: Uuid, fields: Record },
    /// Delete the row; a missing row counts as deleted.
    Delete { id: Uuid },
}

impl WriteOp {
    pub fn id(&self) -> Uuid {
        match self {
            WriteOp::Upsert { id, .. } | WriteOp::Delete { id } => *id,
        }
    }
}

/// A batch of writes to one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteBatch {
    pub table: TableRef,
    pub binds: Vec<Bind>,
    pub ops: Vec<WriteOp>,
}

/// The result of one write of a batch, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteOutcome {
    Done,
    /// The side refused this write (validation, missing reference…); the message is the side's.
    Failed {
        message: String,
    },
}

/// One value of a Sales option set (`paymenttermscode`: 1 = "Net 30").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionValue {
    pub value: i64,
    pub label: String,
}

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
