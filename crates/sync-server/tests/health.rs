//! Financials' public `GET /health` with the integration, as the binary serves it, on SQLite and
//! PostgreSQL: `ok`, or `degraded` with reason kinds and counts only.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use kontor_financials_server::testing::state_for_test;
use kontor_financials_server::{Config, router_with};
use kontor_jobs::{ManualClock, NewJob, Outcome, Queue};
use kontor_store::Db;
use kontor_sync::store::SyncStore;
use kontor_sync_server::{SyncState, health_check, routes};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn get_health(app: &axum::Router) -> (StatusCode, Value) {
    let req = Request::builder().uri("/health").body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_public_and_says_degraded_with_reason_kinds_while_entries_fail() {
    const SECRET: &str = "s3cr3t-web-service-key";
    // (the last errors of the recurring entries, `None` = succeeded; the answer)
    let cases = [
        (vec![], json!({"status": "ok"})),
        (vec![None], json!({"status": "ok"})),
        (
            vec![
                Some(format!(
                    "CUSTOMER, Financials → Sales: Sales refused the credentials: {SECRET}"
                )),
                Some("ITEM, Sales → Financials: Sales is unavailable: connection refused".into()),
                None,
            ],
            json!({"status": "degraded", "reasons": [
                {"kind": "entries_failing", "count": 2},
                {"kind": "sales_unreachable", "count": 1},
                {"kind": "credentials_refused", "count": 1},
            ]}),
        ),
    ];
    for (errors, expected) in cases {
        kontor_testkit::for_each_backend(|url, backend| {
            let errors = errors.clone();
            let expected = expected.clone();
            async move {
                let fin = state_for_test(&url, Config::default()).await;
                let db = Db::connect(&url).await.unwrap();
                let store = SyncStore::new(db.clone());
                store.migrate().await.unwrap();
                let t0 = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
                let clock = Arc::new(ManualClock::new(t0));
                let queue = Queue::with_clock(db, clock.clone());
                queue.migrate().await.unwrap();
                for (i, error) in errors.iter().enumerate() {
                    let job = NewJob::recurring(
                        "sync.incremental",
                        format!("M{i}"),
                        json!({}),
                        Duration::from_secs(60),
                    );
                    queue.ensure_recurring(job).await.unwrap();
                    let run = queue.claim("w", t0, Duration::from_secs(60)).await.unwrap().unwrap();
                    let outcome = match error {
                        Some(e) => Outcome::Failed(e.clone()),
                        None => Outcome::Finished,
                    };
                    queue.complete(&run, outcome, t0).await.unwrap();
                }
                let it = SyncState::new(store, queue, clock);
                let app = router_with(fin.with_health_check(health_check(it.clone())), routes(it));
                let (status, body) = get_health(&app).await;
                assert_eq!((status, &body), (StatusCode::OK, &expected), "{backend}: {errors:?}");
                assert!(!body.to_string().contains(SECRET), "{backend}: {body}");
            }
        })
        .await;
    }
}

#[tokio::test]
async fn financials_alone_answers_ok_on_health_without_credentials() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let app = router_with(state_for_test(&url, Config::default()).await, Vec::new());
        assert_eq!(get_health(&app).await, (StatusCode::OK, json!({"status": "ok"})), "{backend}");
    })
    .await;
}
