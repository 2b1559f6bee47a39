//! One error shape for every answer of the Financials listener (its own routes and the routes
//! merged into it, such as the integration's `/integration/v1`): [`odata_errors`] gives every
//! 4xx and 5xx that some layer answered without a JSON body (axum's plain-text extractor
//! rejections, the router's empty 404 and 405, a body limit's 413, a timeout's 408, …) the
//! Business Central error body (an HTML page of the web client is left as it is), and answers a too-long URI (414) or too-large headers (431)
//! before routing. The decisions are `kontor_odata::error`'s, shared with Sales.

use axum::Router;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kontor_odata::error::{for_status, needs_error_body, oversized_head};

use crate::error::ApiError;

/// `router` with every error answer in the OData shape (see the module). Layers added to the
/// router later (outside this one) are not covered: add this last.
pub fn odata_errors<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
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
    if crate::is_html(&resp) {
        // A page of the web client: its error pages are written for people.
        return resp;
    }
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
    err.0.status = status.as_u16();
    let mut out = err.into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}
