//! Financials' public `GET /metrics` with the integration, as the binary serves it: the
//! Prometheus text format with the job queue's gauges and the HTTP requests' counters and
//! latency histograms.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{TimeZone, Utc};
use kontor_financials_server::testing::state_for_test;
use kontor_financials_server::{Config, router_with};
use kontor_jobs::{ManualClock, NewJob, Queue};
use kontor_store::Db;
use kontor_sync::store::SyncStore;
use kontor_sync_server::{SyncState, routes, scrape_hook};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::json;
use tower::ServiceExt;

/// Whether `line` is a sample of the Prometheus text format: `name{label="value",…} value`.
fn is_sample(line: &str) -> bool {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let name_ok =
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    let mut rest = &line[name_end..];
    if let Some(labels) = rest.strip_prefix('{') {
        // key="value" pairs; values may hold escaped quotes.
        let mut chars = labels.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i);
                    break;
                }
                '"' => {
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '"' => break,
                            _ => {}
                        }
                    }
                }
                _ if c.is_ascii_alphanumeric() || c == '_' || c == '=' || c == ',' => {}
                _ => return false,
            }
        }
        let Some(end) = end else { return false };
        rest = &labels[end + 1..];
    }
    let Some(value) = rest.strip_prefix(' ') else { return false };
    let value = value.split(' ').next().unwrap_or("");
    name_ok && (value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value))
}

#[test]
fn the_sample_check_accepts_samples_and_refuses_other_lines() {
    let cases = [
        ("kontor_job_queue_entries{status=\"ready\"} 1", true),
        ("up 1", true),
        ("x_bucket{le=\"+Inf\",route=\"/a\\\"b\"} 3", true),
        ("x_sum 0.25", true),
        ("x{a=\"b\"}", false),
        ("9x 1", false),
        ("x{a=\"b\" 1", false),
        ("x one", false),
    ];
    for (line, ok) in cases {
        assert_eq!(is_sample(line), ok, "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_public_prometheus_text_with_job_queue_entries_and_http_requests() {
    let recorder =
        PrometheusBuilder::new().set_buckets(&[0.001, 0.01, 0.1, 1.0]).unwrap().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
    let dir = tempfile::tempdir().unwrap();
    let url = kontor_testkit::sqlite_url(&dir);
    let config = Config { metrics: Some(handle), ..Config::default() };
    let fin = state_for_test(&url, config).await;
    let db = Db::connect(&url).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()));
    let queue = Queue::with_clock(db, clock.clone());
    queue.migrate().await.unwrap();
    for key in ["CUSTOMER", "ITEM"] {
        let job = NewJob::recurring("sync.incremental", key, json!({}), Duration::from_secs(60));
        queue.ensure_recurring(job).await.unwrap();
    }
    let it = SyncState::new(store, queue, clock);
    let app = router_with(fin.with_scrape_hook(scrape_hook(it.clone())), routes(it));
    let get = |path: &'static str| {
        let app = app.clone();
        async move {
            let req = Request::builder().uri(path).body(Body::empty()).unwrap();
            app.oneshot(req).await.unwrap()
        }
    };
    assert_eq!(get("/health").await.status(), StatusCode::OK);
    assert_eq!(get("/integration/v1/jobs").await.status(), StatusCode::UNAUTHORIZED);
    let res = get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK, "public");
    let content_type = res.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        assert!(is_sample(line), "not a Prometheus sample: {line:?}\n{text}");
    }
    for expected in [
        "kontor_job_queue_entries{status=\"ready\"} 2",
        "kontor_job_queue_entries{status=\"error\"} 0",
        "kontor_http_requests_total{service=\"financials\",route=\"/health\",method=\"GET\",status=\"200\"} 1",
        "kontor_http_requests_total{service=\"financials\",route=\"/integration/v1/jobs\",method=\"GET\",status=\"401\"} 1",
        "kontor_http_request_duration_seconds_bucket{service=\"financials\",route=\"/health\",le=\"+Inf\"} 1",
        "# TYPE kontor_http_request_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == expected), "{expected} missing from\n{text}");
    }
}
