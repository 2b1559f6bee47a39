//! The server's one error type and its single mapping to the BC-shaped OData error body
//! (`{"error":{"code":"BadRequest_…","message":…}}`). Internal errors are logged with a
//! correlation id and answered with that id only.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontor_financials::FinError;
use kontor_odata::ODataError;
use kontor_odata::error::codes;
use uuid::Uuid;

/// The realm in `WWW-Authenticate`.
pub const REALM: &str = "Kontor Financials";

#[derive(Debug)]
pub struct ApiError(pub ODataError);

impl ApiError {
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn unauthorized() -> Self {
        ApiError(ODataError::new(
            401,
            "Authentication_InvalidCredentials",
            "The server has rejected the client credentials.",
        ))
    }

    pub fn forbidden(what: &str) -> Self {
        ApiError(ODataError::new(
            403,
            "Authorization_InsufficientPermissions",
            format!(
                "You do not have the permissions to {what}. Ask your administrator for a permission set that allows it."
            ),
        ))
    }

    /// 403 for a route that needs `set` (or a permission set that includes it).
    pub fn missing_permission_set(set: &str) -> Self {
        ApiError(ODataError::new(
            403,
            "Authorization_InsufficientPermissions",
            format!(
                "You need the permission set '{set}' (or one that includes it) for this request. Ask your administrator to assign it to you."
            ),
        ))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError(ODataError::new(404, "BadRequest_NotFound", message))
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ApiError(ODataError::new(400, code, message))
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError(ODataError::new(405, "BadRequest_MethodNotAllowed", message))
    }

    /// Logs the detail; the client sees a correlation id only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let correlation = Uuid::new_v4();
        tracing::error!(%correlation, "internal error: {detail}");
        ApiError(ODataError::new(
            500,
            "Internal_ServerError",
            format!("An unexpected error occurred on the server.  CorrelationId:  {correlation}."),
        ))
    }

    pub fn body(&self) -> serde_json::Value {
        self.0.body()
    }
}

impl From<FinError> for ApiError {
    fn from(e: FinError) -> Self {
        match e {
            FinError::Invalid { code, field, message } => {
                let mut err = ODataError::new(400, code, message);
                if let Some(f) = field {
                    err = err.with_target(f);
                }
                ApiError(err)
            }
            FinError::NotFound(m) => ApiError::not_found(m),
            FinError::Duplicate(m) => {
                ApiError(ODataError::new(409, "Internal_EntityWithSameKeyExists", m))
            }
            FinError::Changed => ApiError(ODataError::new(
                412,
                "Request_EntityChanged",
                "Another user has already changed the record.",
            )),
            FinError::MethodNotAllowed(m) => ApiError::method_not_allowed(m),
            FinError::Rule(m) => ApiError(ODataError::new(400, "Application_DialogException", m)),
            FinError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<ODataError> for ApiError {
    fn from(e: ODataError) -> Self {
        if e.status >= 500 {
            return ApiError::internal(e.message);
        }
        let code = match e.status {
            404 => "BadRequest_NotFound".to_owned(),
            405 => "BadRequest_MethodNotAllowed".to_owned(),
            _ if e.code == "InvalidFilter" => "Application_FilterErrorException".to_owned(),
            _ if e.code == codes::BAD_REQUEST => "BadRequest".to_owned(),
            _ if e.code == codes::UNPROCESSABLE => "BadRequest_InvalidRequestBody".to_owned(),
            _ if e.code == codes::UNSUPPORTED_MEDIA_TYPE => {
                "BadRequest_UnsupportedMediaType".to_owned()
            }
            _ if e.code == codes::PAYLOAD_TOO_LARGE => "Request_EntityTooLarge".to_owned(),
            _ if e.code == codes::URI_TOO_LONG => "Request_UriTooLong".to_owned(),
            _ if e.code == codes::HEADERS_TOO_LARGE => "Request_HeaderFieldsTooLarge".to_owned(),
            _ if e.code == codes::REQUEST_TIMEOUT => "Request_Timeout".to_owned(),
            _ => format!("BadRequest_{}", e.code.trim_start_matches("BadRequest_")),
        };
        ApiError(e.with_code(code))
    }
}

impl From<kontor_store::StoreError> for ApiError {
    fn from(e: kontor_store::StoreError) -> Self {
        ApiError::from(FinError::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp = (status, axum::Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Kontor Financials\""),
            );
        }
        resp
    }
}
