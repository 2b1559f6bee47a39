//! Every failed run logs one WARN line: the entry (its key is a synchronization's mapping), the
//! reason and what happens next.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{MINUTE, queue, t0};
use kontor_jobs::{Handlers, JobError, NewJob, Outcome, Worker, handler_fn};
use serde_json::json;

/// Log lines written to memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_run_logs_one_warn_line_with_the_entry_the_reason_and_the_next_attempt() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = queue(&kontor_testkit::sqlite_url(&dir)).await;
    let handlers = Handlers::new().register(
        "sync.incremental",
        handler_fn(|_job| async {
            Err::<Outcome, _>(JobError::failed(
                "CUSTOMER, Financials → Sales: Sales refused the credentials: 401",
            ))
        }),
    );
    q.ensure_recurring(
        NewJob::recurring("sync.incremental", "CUSTOMER", json!({}), 30 * MINUTE)
            .description("Incremental synchronization of CUSTOMER")
            .rerun_delay(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    let worker = Worker::new(q.clone(), handlers).with_id("w1");
    worker.run_once(t0()).await.unwrap().expect("ran");
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let warns: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warns.len(), 1, "{text}");
    for part in [
        "key=\"CUSTOMER\"",
        "reason=\"CUSTOMER, Financials → Sales: Sales refused the credentials: 401\"",
        "next_attempt_at=2027-01-15T08:00:30Z",
        "attempt=1",
        "Job failed; it runs again at the next attempt time.",
    ] {
        assert!(warns[0].contains(part), "{part} missing from {}", warns[0]);
    }
    assert!(!text.contains('\u{1b}'), "no colour codes: {text}");
}
