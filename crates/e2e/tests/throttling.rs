//! Sales with service protection limits on: the engine is throttled (429 + Retry-After), slows
//! down, and the full synchronization finishes without a single failed record.

mod common;

use std::time::Duration;

use common::{Scale, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttled_full_sync_slows_down_and_fails_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let limits = kontor_sales_server::Limits {
        window: Duration::from_secs(1),
        max_requests: 25,
        max_execution_time: Duration::from_secs(600),
        max_concurrent: 3,
    };
    let w = World::start(
        &kontor_testkit::sqlite_url(&dir),
        &kontor_testkit::sqlite_url(&dir),
        Some(limits),
    )
    .await;
    w.seed(Scale { customers: 300, items: 60 }).await;
    let started = std::time::Instant::now();
    w.full_sync().await;
    let errors = w.errors().await;
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let status = w.engine.review_status().await.unwrap();
    assert!(status.iter().all(|s| s.job_queue_entry_status == "Finished"), "{status:?}");
    for j in w.store.jobs(None, 1000).await.unwrap() {
        assert_eq!(j.counters.failed, 0, "{j:?}");
    }
    assert_eq!(w.store.coupling_count("CUSTOMER").await.unwrap(), 300);
    let throttles = w.sales_conn.governor().throttles();
    println!(
        "throttled full sync: {throttles} throttle answers, concurrency now {}, took {:.2?}",
        w.sales_conn.governor().limit(),
        started.elapsed()
    );
    assert!(throttles > 0, "the limits never throttled the engine: make them tighter");
}
