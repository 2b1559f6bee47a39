//! The axum layer: routes, authentication, service protection, and turning [`Reply`]s and
//! [`ApiError`]s into HTTP responses.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request as AxumRequest, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use kontor_store::Tx;

use crate::dispatch;
use crate::error::{ApiError, ApiResult};
use crate::request::{Ctx, Prefs, Reply, Request, decode_path};
use crate::state::AppState;

/// Prefix of the Web API.
pub const API_PREFIX: &str = "/api/data/v9.2";

/// Largest request body (a `$batch` of 1,000 operations or a bulk message fits easily).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Largest body of the unauthenticated token endpoint (a form of a few fields).
pub const TOKEN_MAX_BODY: usize = 16 * 1024;

/// `GET /health` (public): `{"status":"ok"}` while the database answers, else 503 with
/// `{"status":"degraded","reasons":[{"kind":"database_unavailable","count":1}]}` — the same
/// shape as Financials' `/health`, kinds and counts only.
async fn health(State(state): State<AppState>) -> Response {
    let answers = state.db().fetch_one_sql("SELECT 1 AS one", Vec::new()).await.is_ok();
    if answers {
        axum::Json(serde_json::json!({"status": "ok"})).into_response()
    } else {
        let body = serde_json::json!({
            "status": "degraded",
            "reasons": [{"kind": "database_unavailable", "count": 1}],
        });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

/// `GET /metrics` (public): the process's metrics in the Prometheus text format
/// ([`crate::Config::metrics`]; empty without a recorder).
async fn metrics_text(State(state): State<AppState>) -> Response {
    let text = state.config().metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// `kontor_http_requests_total{service="sales", route, method, status}` and
/// `kontor_http_request_duration_seconds{service="sales", route}` of every request, under its
/// route's path (`unmatched` for the fallback).
async fn track(req: AxumRequest, next: axum::middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("kontor_http_requests_total", "service" => "sales",
        "route" => route.clone(), "method" => method, "status" => status)
    .increment(1);
    metrics::histogram!("kontor_http_request_duration_seconds", "service" => "sales",
        "route" => route)
    .record(started.elapsed().as_secs_f64());
    resp
}

/// The Sales router. Every error answer has the Dataverse error body ([`crate::dataverse_errors`]).
pub fn router(state: AppState) -> Router {
    let token = || post(crate::auth::token).layer(DefaultBodyLimit::max(TOKEN_MAX_BODY));
    let app = Router::new()
        .route("/oauth2/v2.0/token", token())
        .route("/{tenant}/oauth2/v2.0/token", token())
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route(API_PREFIX, any(api))
        .route(&format!("{API_PREFIX}/"), any(api))
        .route(&format!("{API_PREFIX}/{{*rest}}"), any(api))
        .fallback(|uri: axum::http::Uri| async move {
            let segment = uri.path().trim_start_matches('/').split('/').next().unwrap_or("");
            ApiError::segment(&decode_path(segment))
        })
        .layer(axum::middleware::from_fn(track))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("a request handler panicked").into_response()
            },
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state);
    crate::dataverse_errors(app)
}

fn base_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    if let Some(u) = &state.config().public_url {
        return format!("{}{API_PREFIX}", u.trim_end_matches('/'));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}{API_PREFIX}")
}

/// A reply as an HTTP response.
pub fn respond(reply: Reply) -> Response {
    let mut resp = match (&reply.body, &reply.raw) {
        (Some(body), _) => {
            let mut r = (reply.status, body.to_string()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; odata.metadata=minimal"),
            );
            r
        }
        (None, Some((ct, bytes))) => {
            let mut r = (reply.status, bytes.clone()).into_response();
            if let Ok(v) = HeaderValue::from_str(ct) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r
        }
        (None, None) => reply.status.into_response(),
    };
    let h = resp.headers_mut();
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    for (k, v) in &reply.headers {
        if let (Ok(k), Ok(v)) =
            (axum::http::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v))
        {
            h.append(k, v);
        }
    }
    resp
}

async fn api(State(state): State<AppState>, req: AxumRequest) -> Response {
    match api_inner(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn api_inner(state: &AppState, req: AxumRequest) -> ApiResult<Response> {
    let principal = crate::auth::authenticate(state, req.headers()).await?;
    let _permit = match state.limiter() {
        Some(l) => Some(l.admit(principal.user_id)?),
        None => None,
    };
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(crate::shape::unreadable_body)?;
    let raw_path = parts.uri.path();
    let path =
        decode_path(raw_path.strip_prefix(API_PREFIX).unwrap_or(raw_path).trim_start_matches('/'));
    let query = parts.uri.query().unwrap_or("").to_owned();
    let installed = state.solution_installed().await?;
    let ctx =
        Ctx { state, principal: &principal, base: base_url(state, &parts.headers), installed };
    if path == "$metadata" {
        if parts.method != Method::GET {
            return Err(ApiError::method_not_allowed(parts.method.as_str(), "$metadata"));
        }
        let mut r = (StatusCode::OK, crate::metadata::csdl(installed)).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        r.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
        return Ok(r);
    }
    if path == "$batch" {
        if parts.method != Method::POST {
            return Err(ApiError::method_not_allowed(parts.method.as_str(), "$batch"));
        }
        let ct =
            parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let batch = crate::batch::parse(ct, &body)?;
        let prefs = Prefs::parse(&parts.headers);
        let (content_type, text) = crate::batch::run(&ctx, batch, prefs.continue_on_error).await?;
        let mut r = (StatusCode::OK, text).into_response();
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
        return Ok(r);
    }
    let request = Request { method: parts.method, path, query, headers: parts.headers, body };
    let db = state.db();
    let mut tx: Tx =
        if request.method == Method::GET { db.begin_read().await? } else { db.begin().await? };
    match dispatch::execute(&ctx, &mut tx, &request).await {
        Ok(reply) => {
            tx.commit().await?;
            Ok(respond(reply))
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}
