//! The server's one error type, mapped once to the Dataverse error body (entities-reference B.2).
//!
//! Internal errors are logged with an id and answered with a generic message; nothing internal
//! (SQL, paths, secrets) reaches the client.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kontor_odata::ODataError;
use kontor_odata::error::codes;
use kontor_sales::SalesError;
use kontor_sales::security::Denied;
use kontor_store::StoreError;
use serde_json::json;
use uuid::Uuid;

/// Dataverse error codes (hex, as the Web API returns them).
pub mod code {
    pub const OBJECT_DOES_NOT_EXIST: &str = "0x80040217";
    pub const DUPLICATE_RECORD: &str = "0x80040237";
    pub const CONCURRENCY_VERSION_MISMATCH: &str = "0x80060882";
    pub const PRIVILEGE_DENIED: &str = "0x80040220";
    pub const QUERY_OR_SEGMENT: &str = "0x80060888";
    pub const PAYLOAD: &str = "0x80048d19";
    pub const INVALID_ARGUMENT: &str = "0x80040203";
    pub const VALIDATION: &str = "0x80044331";
    pub const OPTION_OUT_OF_RANGE: &str = "0x8004431a";
    pub const BUSINESS_RULE: &str = "0x80040265";
    pub const THROTTLE_REQUESTS: &str = "0x80072322";
    pub const THROTTLE_TIME: &str = "0x80072321";
    pub const THROTTLE_CONCURRENCY: &str = "0x80072326";
    pub const UNAUTHORIZED: &str = "0x80072560";
    pub const METHOD_NOT_ALLOWED: &str = "0x80060889";
    pub const NOT_IMPLEMENTED: &str = "0x8006088a";
    pub const UNEXPECTED: &str = "0x80040216";
}

/// An error answer: status, Dataverse code, message, and for 429 the `Retry-After` seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(logical_name: &str, id: Uuid) -> Self {
        SalesError::NotFound { logical_name: logical_name.to_owned(), id }.into()
    }
    pub fn not_found_by_key(logical_name: &str, key: &str) -> Self {
        SalesError::NotFoundByKey { logical_name: logical_name.to_owned(), key: key.to_owned() }
            .into()
    }
    pub fn segment(segment: &str) -> Self {
        SalesError::UnknownSet(segment.to_owned()).into()
    }
    pub fn duplicate() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            code::DUPLICATE_RECORD,
            "A record with matching key values already exists.",
        )
    }
    pub fn version_mismatch() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            code::CONCURRENCY_VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
    }
    /// A payload error: `Error identified in Payload provided by the user for Entity :'<set>' …`.
    pub fn payload(set: &str, inner: impl std::fmt::Display) -> Self {
        SalesError::Payload { set: set.to_owned(), detail: inner.to_string() }.into()
    }
    pub fn privilege(d: &Denied, user: Uuid) -> Self {
        SalesError::Denied { denied: d.clone(), user }.into()
    }
    /// 403 for an operation that needs a role rather than a table privilege.
    pub fn missing_role(user: Uuid, what: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            code::PRIVILEGE_DENIED,
            format!(
                "Principal user (Id={user}, type=8) is missing the security roles required to {what}."
            ),
        )
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
            "Bearer token is missing, invalid or expired.",
        )
    }
    pub fn method_not_allowed(method: &str, what: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            format!("The HTTP method '{method}' is not allowed on {what}."),
        )
    }
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            code::NOT_IMPLEMENTED,
            format!("{what} is not implemented."),
        )
    }
    /// Logs `err` with an id; the client sees only the id.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let id = Uuid::new_v4();
        tracing::error!(error_id = %id, "internal error: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::UNEXPECTED,
            format!("An unexpected error occurred. Error id: {id}."),
        )
    }
    pub fn throttled(code: &'static str, message: String, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, code, message);
        e.retry_after = Some(retry_after);
        e
    }

    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl From<ODataError> for ApiError {
    fn from(e: ODataError) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        let c = match e.code.as_str() {
            codes::UNKNOWN_PROPERTY | codes::INVALID_FILTER | codes::INVALID_QUERY_OPTION => {
                code::QUERY_OR_SEGMENT
            }
            codes::INVALID_VALUE | codes::INVALID_BATCH | codes::BAD_REQUEST => code::PAYLOAD,
            codes::UNPROCESSABLE | codes::UNSUPPORTED_MEDIA_TYPE | codes::PAYLOAD_TOO_LARGE => {
                code::PAYLOAD
            }
            codes::URI_TOO_LONG => code::QUERY_OR_SEGMENT,
            codes::NOT_FOUND => code::OBJECT_DOES_NOT_EXIST,
            codes::PRECONDITION_FAILED => code::CONCURRENCY_VERSION_MISMATCH,
            codes::CONFLICT => code::DUPLICATE_RECORD,
            codes::METHOD_NOT_ALLOWED => code::METHOD_NOT_ALLOWED,
            codes::NOT_IMPLEMENTED => code::NOT_IMPLEMENTED,
            codes::INTERNAL => return ApiError::internal(e.message),
            _ => code::INVALID_ARGUMENT,
        };
        if status.is_server_error() {
            return ApiError::internal(e.message);
        }
        ApiError::new(status, c, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                code::OBJECT_DOES_NOT_EXIST,
                "The requested record does not exist.",
            ),
            StoreError::VersionMismatch { .. } => ApiError::version_mismatch(),
            StoreError::Duplicate { .. } => ApiError::duplicate(),
            StoreError::Invalid(o) => o.into(),
            other => store_other(other),
        }
    }
}

fn store_other(e: StoreError) -> ApiError {
    // `Invalid(ODataError)` (when the store has it) is the caller's fault; the rest is ours.
    let text = e.to_string();
    match e {
        StoreError::Db(_) | StoreError::Migrate(_) => ApiError::internal(text),
        #[allow(unreachable_patterns)]
        _ => ApiError::internal(text),
    }
}

impl From<SalesError> for ApiError {
    fn from(e: SalesError) -> Self {
        use SalesError as S;
        let message = e.to_string();
        match e {
            S::Store(s) => s.into(),
            S::OData(o) => o.into(),
            S::Rule(r) => r.into(),
            S::Key(k) => ApiError::internal(k),
            S::Internal(m) => ApiError::internal(m),
            S::UnknownSet(_) => {
                ApiError::new(StatusCode::NOT_FOUND, code::QUERY_OR_SEGMENT, message)
            }
            S::NotFound { .. } | S::NotFoundByKey { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, code::OBJECT_DOES_NOT_EXIST, message)
            }
            // A bind to a missing row is the payload's fault: 400, with the not-found code.
            S::DanglingBind { .. } => ApiError::bad_request(code::OBJECT_DOES_NOT_EXIST, message),
            S::Denied { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, code::PRIVILEGE_DENIED, message)
            }
            S::Role(kontor_sales::security::RoleRefusal::ReservedName(_)) => {
                ApiError::bad_request(code::INVALID_ARGUMENT, message)
            }
            S::Role(_) => ApiError::new(StatusCode::FORBIDDEN, code::PRIVILEGE_DENIED, message),
            S::Payload { .. } => ApiError::bad_request(code::PAYLOAD, message),
            S::Validation(_) => ApiError::bad_request(code::VALIDATION, message),
            S::OptionOutOfRange(_) => ApiError::bad_request(code::OPTION_OUT_OF_RANGE, message),
            S::KeyMismatch { .. } => ApiError::bad_request(code::INVALID_ARGUMENT, message),
            S::NotAnAlternateKey { .. } => ApiError::bad_request(code::QUERY_OR_SEGMENT, message),
            S::DeleteOwnUser => ApiError::bad_request(code::BUSINESS_RULE, message),
        }
    }
}

impl From<kontor_sales::rules::RuleError> for ApiError {
    fn from(e: kontor_sales::rules::RuleError) -> Self {
        ApiError::bad_request(code::INVALID_ARGUMENT, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        let h = resp.headers_mut();
        h.insert("OData-Version", HeaderValue::from_static("4.0"));
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            h.insert("Retry-After", v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                "WWW-Authenticate",
                HeaderValue::from_static("Bearer authorization_uri=\"/oauth2/v2.0/authorize\""),
            );
        }
        resp
    }
}
