//! `GET /metrics` (public, the Prometheus text format) and the HTTP metrics of every request:
//! `kontor_http_requests_total{service, route, method, status}` and
//! `kontor_http_request_duration_seconds{service, route}`. Recorded through the `metrics`
//! facade; rendered from the process's recorder handle ([`Config::metrics`](crate::Config), set
//! by the binary). A [`ScrapeHook`] (the integration's, in the binary) sets its gauges just
//! before each scrape.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

type HookFn = dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

/// Runs before each scrape of `/metrics` (sets gauges from the database).
#[derive(Clone)]
pub struct ScrapeHook(Arc<HookFn>);

impl ScrapeHook {
    pub fn new<F, Fut>(hook: F) -> ScrapeHook
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        ScrapeHook(Arc::new(move || Box::pin(hook())))
    }

    /// Runs the hook, as a scrape of `GET /metrics` does first.
    pub async fn run(&self) {
        (self.0)().await
    }
}

impl std::fmt::Debug for ScrapeHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScrapeHook")
    }
}

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn handler(State(state): State<AppState>) -> Response {
    if let Some(hook) = &state.on_scrape {
        hook.run().await;
    }
    let text = state.config.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Counts the request and its latency under its route's path (`unmatched` for the fallback).
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("kontor_http_requests_total", "service" => "financials",
        "route" => route.clone(), "method" => method, "status" => status)
    .increment(1);
    metrics::histogram!("kontor_http_request_duration_seconds", "service" => "financials",
        "route" => route)
    .record(started.elapsed().as_secs_f64());
    resp
}
