//! The crate's one error type, [`ODataError`], and the position-carrying [`ParseError`] the
//! `$filter` parser returns (it converts into an `ODataError` with `?`).
//!
//! An `ODataError` is what a server answers: an HTTP status, a `code` naming the kind of failure
//! (servers may map it to their own codes, e.g. Dataverse hex codes or Business Central names),
//! a message a person understands and an optional target (the property or option at fault).
//! [`ODataError::body`] gives the OData error envelope `{"error":{"code":…,"message":…}}`.

/// Codes this crate puts in [`ODataError::code`]; servers translate them as they need.
pub mod codes {
    /// Anything wrong with the request that has no more specific code.
    pub const BAD_REQUEST: &str = "BadRequest";
    /// A `$filter` that does not parse or does not type-check.
    pub const INVALID_FILTER: &str = "InvalidFilter";
    /// A system query option that is unknown, repeated or malformed.
    pub const INVALID_QUERY_OPTION: &str = "InvalidQueryOption";
    /// A property or navigation name the entity type does not have.
    pub const UNKNOWN_PROPERTY: &str = "UnknownProperty";
    /// A value that does not fit the property's type.
    pub const INVALID_VALUE: &str = "InvalidValue";
    /// A `$batch` body that cannot be read (too many operations: `batch::TOO_MANY_OPERATIONS`).
    pub const INVALID_BATCH: &str = "InvalidBatch";
    pub const NOT_FOUND: &str = "NotFound";
    pub const PRECONDITION_FAILED: &str = "PreconditionFailed";
    pub const CONFLICT: &str = "Conflict";
    pub const METHOD_NOT_ALLOWED: &str = "MethodNotAllowed";
    pub const PAYLOAD_TOO_LARGE: &str = "PayloadTooLarge";
    pub const NOT_IMPLEMENTED: &str = "NotImplemented";
    pub const INTERNAL: &str = "InternalError";
}

/// An OData error: status, code, message and optional target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ODataError {
    /// HTTP status code (400, 404, 412, …).
    pub status: u16,
    /// Machine-readable code, see [`codes`].
    pub code: String,
    /// A message a person understands.
    pub message: String,
    /// The property, option or part of the request at fault, when there is one.
    pub target: Option<String>,
}

impl ODataError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ODataError { status, code: code.into(), message: message.into(), target: None }
    }
    /// 400 with code [`codes::BAD_REQUEST`].
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, codes::BAD_REQUEST, message)
    }
    /// 400 with code [`codes::INVALID_FILTER`].
    pub fn invalid_filter(message: impl Into<String>) -> Self {
        Self::new(400, codes::INVALID_FILTER, message)
    }
    /// 400 with code [`codes::INVALID_QUERY_OPTION`].
    pub fn invalid_query_option(message: impl Into<String>) -> Self {
        Self::new(400, codes::INVALID_QUERY_OPTION, message)
    }
    /// 400 with code [`codes::INVALID_VALUE`], targeting the property.
    pub fn invalid_value(property: &str, message: impl Into<String>) -> Self {
        Self::new(400, codes::INVALID_VALUE, message).with_target(property)
    }
    /// 400 `Could not find a property named 'foo' on type 'Namespace.type'.`
    pub fn unknown_property(property: &str, qualified_type: &str) -> Self {
        Self::new(
            400,
            codes::UNKNOWN_PROPERTY,
            format!("Could not find a property named '{property}' on type '{qualified_type}'."),
        )
        .with_target(property)
    }
    /// 400 with code [`codes::INVALID_BATCH`].
    pub fn invalid_batch(message: impl Into<String>) -> Self {
        Self::new(400, codes::INVALID_BATCH, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, codes::NOT_FOUND, message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, codes::METHOD_NOT_ALLOWED, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, codes::CONFLICT, message)
    }
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(412, codes::PRECONDITION_FAILED, message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(413, codes::PAYLOAD_TOO_LARGE, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(501, codes::NOT_IMPLEMENTED, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, codes::INTERNAL, message)
    }
    /// Replaces the code (servers use this to put their own codes in).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = code.into();
        self
    }
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
    /// The OData error envelope: `{"error":{"code":…,"message":…}}` (plus `"target"` when set).
    pub fn body(&self) -> serde_json::Value {
        let mut inner = serde_json::Map::new();
        inner.insert("code".into(), self.code.clone().into());
        inner.insert("message".into(), self.message.clone().into());
        if let Some(target) = &self.target {
            inner.insert("target".into(), target.clone().into());
        }
        serde_json::json!({ "error": inner })
    }
}

/// A `$filter` syntax error: where (byte offset into the filter text) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ParseError {
    /// Byte offset into the filter text (0-based); the text length when the input ended early.
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(position: usize, message: impl Into<String>) -> Self {
        ParseError { position, message: message.into() }
    }
}

impl From<ParseError> for ODataError {
    fn from(e: ParseError) -> Self {
        ODataError::invalid_filter(format!("Syntax error in $filter: {e}."))
    }
}
