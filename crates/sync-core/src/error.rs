//! The core's error type: what pure planning can refuse. kontor-sync's `SyncError` wraps it
//! (`CoreError::Core`), keeping these messages.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A mapping or export file is not coherent; the message names what to fix.
    #[error("mapping {mapping}: {message}")]
    InvalidMapping { mapping: String, message: String },
    /// A `$filter` text could not be parsed, or asks for something a row cannot answer.
    #[error("invalid filter at position {position}: {message}")]
    InvalidFilter { position: usize, message: String },
    /// Something the user must fix (match fields that cannot be used…).
    #[error("{0}")]
    Refused(String),
}
