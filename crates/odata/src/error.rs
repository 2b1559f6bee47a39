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
    /// A request that took too long to arrive (its body stalled).
    pub const REQUEST_TIMEOUT: &str = "RequestTimeout";
    /// A request URI longer than [`MAX_URI_BYTES`](crate::error::MAX_URI_BYTES).
    pub const URI_TOO_LONG: &str = "UriTooLong";
    /// A body in a format the resource does not take (`Content-Type`).
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UnsupportedMediaType";
    /// Request headers larger than [`MAX_HEADER_BYTES`](crate::error::MAX_HEADER_BYTES).
    pub const HEADERS_TOO_LARGE: &str = "HeaderFieldsTooLarge";
    /// A well-formed body whose content does not fit the request (a missing or mistyped field).
    pub const UNPROCESSABLE: &str = "UnprocessableEntity";
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

/// The longest request URI (path and query) a service answers: Dataverse's documented limit,
/// 32 KiB. A longer one gets a 414 with the error body (up to hyper's own limit of 64 KiB, past
/// which hyper answers a bare 414 and closes the connection).
pub const MAX_URI_BYTES: usize = 32 * 1024;

/// The largest total size of a request's header lines (names and values). A larger set gets a
/// 431 with the error body (up to the listener's limit on the whole request head, past which
/// hyper answers a bare 431 and closes the connection).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The error for a request whose URI or headers are too large (checked before any routing), or
/// `None`. `uri_bytes` is the length of the path and query, `header_bytes` the sum of the header
/// names' and values' lengths.
pub fn oversized_head(uri_bytes: usize, header_bytes: usize) -> Option<ODataError> {
    if uri_bytes > MAX_URI_BYTES {
        return Some(ODataError::new(
            414,
            codes::URI_TOO_LONG,
            format!(
                "The request URI is {uri_bytes} bytes long; the longest accepted is {MAX_URI_BYTES}. Send long queries inside a $batch request."
            ),
        ));
    }
    if header_bytes > MAX_HEADER_BYTES {
        return Some(ODataError::new(
            431,
            codes::HEADERS_TOO_LARGE,
            format!(
                "The request headers are {header_bytes} bytes long; at most {MAX_HEADER_BYTES} are accepted."
            ),
        ));
    }
    None
}

/// Whether an error response must be given the service's error body: a 4xx or 5xx whose body
/// is not JSON (axum's plain-text extractor rejections, the empty 404/405 of the router, the 413
/// of a body limit, the 408 of a timeout, …). JSON errors are the service's own and stay.
pub fn needs_error_body(status: u16, content_type: Option<&str>) -> bool {
    let json = content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json")
            || essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case("+json")
    });
    status >= 400 && !json
}

/// The error for an HTTP status some layer answered without an error body, naming the problem.
/// `detail` is that layer's plain-text message (axum's rejection text, e.g. `Failed to parse the
/// request body as JSON: …`), kept (shortened) after the sentence; dropped for 5xx.
pub fn for_status(status: u16, detail: &str) -> ODataError {
    let (code, what) = match status {
        400 => (codes::BAD_REQUEST, "The request is malformed."),
        404 => (codes::NOT_FOUND, "No resource matches the request URI."),
        405 => (codes::METHOD_NOT_ALLOWED, "The HTTP method is not allowed on this resource."),
        408 => (codes::REQUEST_TIMEOUT, "The request did not arrive in time."),
        413 => (codes::PAYLOAD_TOO_LARGE, "The request body is larger than this resource accepts."),
        414 => (codes::URI_TOO_LONG, "The request URI is too long."),
        415 => (
            codes::UNSUPPORTED_MEDIA_TYPE,
            "The request body's Content-Type is not one this resource accepts.",
        ),
        422 => (codes::UNPROCESSABLE, "The request body does not fit this request."),
        431 => (codes::HEADERS_TOO_LARGE, "The request headers are too large."),
        501 => (codes::NOT_IMPLEMENTED, "This request is not implemented."),
        s if s >= 500 => (codes::INTERNAL, "The server could not answer the request."),
        _ => (codes::BAD_REQUEST, "The request was refused."),
    };
    let detail: String = detail.trim().chars().take(500).collect();
    let message = if detail.is_empty() || status >= 500 {
        what.to_owned()
    } else {
        format!("{}: {detail}", what.trim_end_matches('.'))
    };
    ODataError::new(status, code, message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_error_responses_without_a_json_body_are_given_one() {
        assert!(needs_error_body(413, Some("text/plain; charset=utf-8")));
        assert!(needs_error_body(405, None));
        assert!(!needs_error_body(400, Some("application/json")));
        assert!(!needs_error_body(400, Some("application/problem+json")));
        assert!(!needs_error_body(200, Some("text/plain")));
    }

    #[test]
    fn a_status_without_a_body_gets_a_code_and_a_message_naming_the_problem() {
        let e = for_status(422, "missing field `salesId` at line 1 column 2");
        assert_eq!((e.status, e.code.as_str()), (422, codes::UNPROCESSABLE));
        assert!(e.message.ends_with(": missing field `salesId` at line 1 column 2"), "{e}");
        assert_eq!(for_status(413, "").code, codes::PAYLOAD_TOO_LARGE);
        assert!(!for_status(500, "panicked at src/x.rs").message.contains("src/x.rs"));
        assert_eq!(oversized_head(MAX_URI_BYTES + 1, 0).unwrap().status, 414);
        assert_eq!(oversized_head(10, MAX_HEADER_BYTES + 1).unwrap().status, 431);
        assert!(oversized_head(MAX_URI_BYTES, MAX_HEADER_BYTES).is_none());
    }
}
