//! The data the `Connector` port carries (the port itself, being async IO, is kontor-sync's):
//! rows, change feeds, cursors and write batches. Rows are JSON objects in the side's own API
//! names (`displayName`, `_ownerid_value`); keys are client-chosen GUIDs.

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

/// The property holding when a row was last modified on `side`.
pub fn modified_at_field(side: Side) -> &'static str {
    match side {
        Side::Financials => "lastModifiedDateTime",
        Side::Sales => "modifiedon",
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
