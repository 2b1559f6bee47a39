//! The domain's error type: what went wrong in terms a client can act on. The server maps it to
//! the BC-shaped OData error body once; `Internal` is logged there and never shown.

use kontor_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum FinError {
    /// A field's value is not acceptable (400). `code` is the BC error code
    /// (`BadRequest`, `Application_DialogException`, `Internal_RecordNotFound`, …).
    #[error("{message}")]
    Invalid { code: &'static str, field: Option<String>, message: String },
    /// The addressed record does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// A record with the same key or number exists (409).
    #[error("{0}")]
    Duplicate(String),
    /// The `If-Match` version is stale (412).
    #[error("Another user has already changed the record.")]
    Changed,
    /// The operation is not allowed on this resource (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A business rule refuses the operation (posting a blocked customer, negative inventory …): 400.
    #[error("{0}")]
    Rule(String),
    /// Anything else: logged, answered as a generic 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl FinError {
    /// A field-level validation error (`BadRequest`, naming the field).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        FinError::Invalid {
            code: "BadRequest",
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
    /// A field that references a record that does not exist.
    pub fn missing_reference(field: &str, message: impl Into<String>) -> Self {
        FinError::Invalid {
            code: "Internal_RecordNotFound",
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
    /// Writing a read-only field.
    pub fn read_only(field: &str) -> Self {
        FinError::Invalid {
            code: "BadRequest_InvalidOperation",
            field: Some(field.to_owned()),
            message: format!("The field '{field}' is read-only."),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        FinError::Internal(message.into())
    }
}

impl From<StoreError> for FinError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => {
                FinError::NotFound("The specified resource does not exist.".to_owned())
            }
            StoreError::VersionMismatch { .. } => FinError::Changed,
            StoreError::Duplicate { .. } => {
                FinError::Duplicate("A record with the same key already exists.".to_owned())
            }
            StoreError::Invalid(e) => match e.status {
                404 => FinError::NotFound(e.message),
                409 => FinError::Duplicate(e.message),
                412 => FinError::Changed,
                s if s >= 500 => FinError::Internal(e.message),
                _ => FinError::Invalid {
                    code: if e.code == "InvalidFilter" {
                        "Application_FilterErrorException"
                    } else {
                        "BadRequest"
                    },
                    field: e.target,
                    message: e.message,
                },
            },
            other => FinError::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = FinError> = std::result::Result<T, E>;
