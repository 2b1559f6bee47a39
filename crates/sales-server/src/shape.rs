//! One error shape for every answer of the Sales listener: [`dataverse_errors`] gives every 4xx
//! and 5xx that some layer answered without a JSON body (axum's plain-text extractor rejections,
//! the router's empty 405, a body limit's 413, a timeout's 408, …) the Dataverse error body
//! (`{"error":{"code":"0x…","message":…}}`), and answers a too-long URI (414) or too-large
//! headers (431) before routing. The decisions are `kontor_odata::error`'s, shared with
//! Financials. The token endpoint's own OAuth2 errors (JSON) stay as they are.

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kontor_odata::error::{for_status, needs_error_body, oversized_head};

use crate::error::ApiError;

/// `router` with every error answer in the Dataverse shape (see the module). Add it last.
pub fn dataverse_errors<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(axum::middleware::from_fn(shape_errors))
}

/// The largest plain-text error body read to be quoted in the message.
const MAX_DETAIL: usize = 16 * 1024;

async fn shape_errors(req: Request, next: Next) -> Response {
    let uri_bytes = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let header_bytes = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if let Some(e) = oversized_head(uri_bytes, header_bytes) {
        return ApiError::from(e).into_response();
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !needs_error_body(status.as_u16(), content_type) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let detail = axum::body::to_bytes(body, MAX_DETAIL)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut err = if status.is_server_error() {
        ApiError::internal(format!("{status} without a body from a layer: {detail}"))
    } else {
        ApiError::from(for_status(status.as_u16(), &detail))
    };
    err.status = status;
    let mut out = err.into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// The answer to a request body that could not be read: 408 when it stalled (the listener's
/// body-read timeout), else 413 (it passed the limit).
pub(crate) fn unreadable_body(e: axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                crate::error::code::INVALID_ARGUMENT,
                "The request body did not arrive in time.",
            );
        }
        source = s.source();
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        crate::error::code::PAYLOAD,
        "The request body is too large.",
    )
}
