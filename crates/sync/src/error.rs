//! The engine's error type. Every variant says whether retrying can help ([`SyncError::is_transient`]).

use kontor_sync_core::CoreError;

use crate::connector::ConnectorError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A mapping or export file is not coherent; the message names what to fix.
    #[error("mapping {mapping}: {message}")]
    InvalidMapping { mapping: String, message: String },
    /// A `$filter` text could not be parsed.
    #[error("invalid filter at position {position}: {message}")]
    InvalidFilter { position: usize, message: String },
    /// Refused by the pure core (a mapping, a filter, match fields…); its message as is.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Talking to a side failed.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The sync store failed.
    #[error("sync store: {0}")]
    Store(String),
    /// Something the user must fix (setup refused, unknown mapping, coupling clash…).
    #[error("{0}")]
    Refused(String),
    #[error("not found: {0}")]
    NotFound(String),
}

impl SyncError {
    /// Whether running the same job again later can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Connector(e) => e.is_transient(),
            SyncError::Store(_) => true,
            _ => false,
        }
    }
}
