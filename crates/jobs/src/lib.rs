//! kontor-jobs: a durable job queue and its workers, on SQLite and PostgreSQL.
//!
//! The queue follows Business Central's *Job Queue Entry*: each entry has a status
//! ([`Status`]: Ready, In Process, Error, On Hold, Finished, On Hold with Inactivity Timeout), a
//! kind (the "object to run") with JSON parameters, an optional recurrence ("No. of Minutes between
//! Runs"), a maximum number of attempts, a rerun delay, an inactivity timeout, an earliest start
//! date/time and the last error message. Every run leaves a row in the log (`job_log`).
//!
//! - [`Queue`] is the data: enqueue, [`Queue::ensure_recurring`] (idempotent per kind and key),
//!   claim with a lease, heartbeat, complete, release, and the user actions (set on hold, restart,
//!   wake). Time is always a parameter or comes from a [`Clock`], so tests never sleep.
//! - [`schedule`] holds the pure rules: which status and next run time an entry gets after a run.
//! - [`Worker`] claims entries of the kinds its [`Handlers`] know and runs them; `run_once(now)`
//!   for tests, `run(shutdown)` for production (woken early by in-process notifications and by
//!   `LISTEN kontor_jobs` on PostgreSQL).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use kontor_jobs::{Claimed, Handler, Handlers, JobError, NewJob, Outcome, Queue, Worker};
//!
//! struct SyncCustomers;
//!
//! impl Handler for SyncCustomers {
//!     async fn run(&self, job: &Claimed) -> Result<Outcome, JobError> {
//!         let _mapping = job.params()["mapping"].as_str();
//!         // … do the work; `Outcome::Idle` when there was nothing to do.
//!         Ok(Outcome::Finished)
//!     }
//! }
//!
//! # async fn example(db: kontor_store::Db) -> Result<(), JobError> {
//! let queue = Queue::new(db);
//! queue.migrate().await?;
//! queue
//!     .ensure_recurring(
//!         NewJob::recurring("sync", "CUSTOMER", serde_json::json!({"mapping": "CUSTOMER"}),
//!             Duration::from_secs(30 * 60))
//!         .max_attempts(10)
//!         .rerun_delay(Duration::from_secs(30))
//!         .inactivity_timeout(Duration::from_secs(720 * 60)),
//!     )
//!     .await?;
//! let worker = Worker::new(queue.clone(), Handlers::new().register("sync", SyncCustomers));
//! // Later, when a customer changes: wake the entry if it sleeps on inactivity.
//! queue.wake("sync", Some("CUSTOMER")).await?;
//! worker.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//! - Claiming is atomic: `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)` on PostgreSQL, the
//!   same single statement inside `BEGIN IMMEDIATE` on SQLite. Two workers never hold one entry.
//! - A claimed entry is leased (`locked_until`); the worker's heartbeat extends the lease. When a
//!   worker dies, the lease runs out and the next claim takes the entry back: its open log row is
//!   closed as an error, the attempt counts, and the entry runs again (or goes to Error when it has
//!   used all its attempts). Jobs therefore run **at least once**; handlers must be idempotent.
//! - Each run holds a run id (the log row's id); `heartbeat`, `complete` and `release` only act on
//!   the run that holds the lease, so a worker that lost its lease cannot overwrite the new run.

mod clock;
mod entry;
mod error;
mod queue;
pub mod schedule;
mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use entry::{
    Claimed, JobEntry, JobId, ListFilter, LogEntry, LogStatus, NewJob, Outcome, Status,
};
pub use error::{JobError, Result};
pub use queue::{NOTIFY_CHANNEL, Queue};
pub use worker::{FnHandler, Handler, Handlers, Worker, handler_fn};

use kontor_store::Migrations;
use sqlx::migrate::Migrator;

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The job queue's tables (`job_entry`, `job_log`; versions 4000-4999), for `Db::migrate`.
pub static MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };
