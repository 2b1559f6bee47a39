//! The crate's one error type, for the queue's operations and for job handlers alike.

use kontor_store::StoreError;

use crate::entry::{JobId, Status};

/// What can go wrong in the job queue, or in a job.
///
/// Handlers return [`JobError::Failed`] (via [`JobError::failed`] / [`JobError::permanent`]) or
/// any other variant through `?`; a permanent error sends the entry to Error at once, any other
/// error is retried after the rerun delay until the attempts are used up.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A job's run failed.
    #[error("{message}")]
    Failed { message: String, permanent: bool },
    #[error("job queue entry {0} not found")]
    NotFound(JobId),
    #[error("a job queue entry of kind {kind} with key {key} already exists")]
    Duplicate { kind: String, key: String },
    /// The action does not apply to an entry in this status (e.g. restarting an entry in process).
    #[error("job queue entry {id} is {status}: cannot {action}")]
    InvalidStatus { id: JobId, status: Status, action: &'static str },
    /// The run no longer holds the entry's lease: it expired and another worker took the entry
    /// over, or the entry was released.
    #[error("the run no longer holds the lease on job queue entry {0}")]
    LeaseLost(JobId),
    /// Bad input: an invalid new entry, an unparsable id, corrupt stored data.
    #[error("invalid job: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError {
    /// A failure worth retrying.
    pub fn failed(message: impl Into<String>) -> JobError {
        JobError::Failed { message: message.into(), permanent: false }
    }

    /// A failure a retry cannot fix.
    pub fn permanent(message: impl Into<String>) -> JobError {
        JobError::Failed { message: message.into(), permanent: true }
    }

    /// Whether retrying the job cannot help. Only explicit permanent failures and invalid input
    /// are permanent; database errors are assumed to be transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            JobError::Failed { permanent, .. } => *permanent,
            JobError::Invalid(_) => true,
            JobError::NotFound(_)
            | JobError::Duplicate { .. }
            | JobError::InvalidStatus { .. }
            | JobError::LeaseLost(_)
            | JobError::Store(_) => false,
        }
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Store(StoreError::from(e))
    }
}

pub type Result<T, E = JobError> = std::result::Result<T, E>;
