//! The application layer's one error type. Front ends map it once (the JSON API to a status
//! and `{"error":{"code","message"}}`); it carries no HTTP status itself.

use kontor_jobs::JobError;
use kontor_sync::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// No engine runs: the connection to Sales is not set up (or could not be opened).
    #[error("The connection to Sales is not set up. Run setup first.")]
    NotConnected,
    /// The request is not valid; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist; the message says what.
    #[error("{0}")]
    NotFound(String),
    /// The engine, the sync store or setup failed or refused.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The job queue refused or failed (an entry missing or in a status the action does not
    /// apply to).
    #[error(transparent)]
    Queue(#[from] JobError),
}

/// A mapping or filter the pure core refused (a bad filter names its position).
impl From<kontor_sync::CoreError> for IntegrationError {
    fn from(e: kontor_sync::CoreError) -> Self {
        IntegrationError::Sync(e.into())
    }
}

impl IntegrationError {
    pub(crate) fn invalid(message: impl Into<String>) -> IntegrationError {
        IntegrationError::Invalid(message.into())
    }
}
