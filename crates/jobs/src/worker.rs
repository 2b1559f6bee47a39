//! `Worker`: claims due entries of the kinds it has handlers for, runs them, keeps their lease
//! alive and records the outcome.
//!
//! [`Worker::run_once`] runs at most one entry at a given time (tests drive it with a manual
//! clock); [`Worker::run`] loops until its shutdown signal, sleeping until the next entry is due,
//! the poll interval passes, or a notification arrives: in-process from the [`Queue`] it was built
//! from, and on PostgreSQL from `LISTEN kontor_jobs` (any process). On shutdown the entry in
//! flight gets `shutdown_grace` to finish, then it is cancelled and released (Ready again, the
//! attempt not counted), never lost. A worker process that dies leaves its entry In Process with a
//! lease that runs out; the next claim of any worker takes the entry over.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kontor_store::sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

use crate::entry::{Claimed, JobId, Outcome};
use crate::error::{JobError, Result};
use crate::queue::{NOTIFY_CHANNEL, Queue};

/// Runs the entries of one kind. Implement it with `async fn run(&self, job: &Claimed) -> …`.
///
/// Jobs run at least once (a run whose worker died is run again), so a handler must be
/// idempotent. Return [`Outcome::Idle`] when the run found nothing to do (it counts toward the
/// inactivity timeout of a recurring entry), [`Outcome::Finished`] otherwise; an error fails the
/// run (retried unless [`JobError::is_permanent`]).
pub trait Handler: Send + Sync + 'static {
    fn run(&self, job: &Claimed) -> impl Future<Output = Result<Outcome, JobError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `Handler` made object-safe, so one registry holds handlers of different types.
trait DynHandler: Send + Sync + 'static {
    fn run_boxed<'a>(&'a self, job: &'a Claimed) -> BoxFuture<'a, Result<Outcome, JobError>>;
}

impl<H: Handler> DynHandler for H {
    fn run_boxed<'a>(&'a self, job: &'a Claimed) -> BoxFuture<'a, Result<Outcome, JobError>> {
        Box::pin(self.run(job))
    }
}

/// A handler from a closure taking the claimed entry by value: `handler_fn(|job| async move { … })`.
pub struct FnHandler<F>(F);

/// Wraps a closure as a [`Handler`].
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(Claimed) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Outcome, JobError>> + Send + 'static,
{
    FnHandler(f)
}

impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(Claimed) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Outcome, JobError>> + Send + 'static,
{
    fn run(&self, job: &Claimed) -> impl Future<Output = Result<Outcome, JobError>> + Send {
        (self.0)(job.clone())
    }
}

/// The handlers a worker knows, by job kind. A worker only claims entries of these kinds.
#[derive(Clone, Default)]
pub struct Handlers {
    map: BTreeMap<String, Arc<dyn DynHandler>>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl Handlers {
    pub fn new() -> Handlers {
        Handlers::default()
    }

    /// Adds (or replaces) the handler of `kind`.
    pub fn register(mut self, kind: impl Into<String>, handler: impl Handler) -> Handlers {
        self.map.insert(kind.into(), Arc::new(handler));
        self
    }

    pub fn kinds(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }
}

/// How a run ended, from the worker's side.
enum Ended {
    Completed,
    /// Handed back because the worker is shutting down.
    Released,
    LeaseLost,
}

/// Claims and runs job queue entries. See the module docs.
#[derive(Debug, Clone)]
pub struct Worker {
    queue: Queue,
    handlers: Handlers,
    kinds: Vec<String>,
    id: String,
    lease: Duration,
    poll_interval: Duration,
    shutdown_grace: Duration,
}

impl Worker {
    /// A worker with a generated id, a 60 s lease (renewed every 20 s while a job runs), a 1 s
    /// poll interval (entries enqueued by another process on SQLite start within it) and a 10 s
    /// shutdown grace period.
    pub fn new(queue: Queue, handlers: Handlers) -> Worker {
        let kinds = handlers.kinds();
        let suffix = uuid::Uuid::now_v7().simple().to_string();
        Worker {
            queue,
            handlers,
            kinds,
            id: format!("worker-{}-{}", std::process::id(), &suffix[suffix.len() - 8..]),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
        }
    }

    /// The name recorded in `locked_by` and the log.
    pub fn with_id(mut self, id: impl Into<String>) -> Worker {
        self.id = id.into();
        self
    }

    /// How long a claim holds an entry without a heartbeat; heartbeats go every third of it.
    pub fn with_lease(mut self, lease: Duration) -> Worker {
        self.lease = lease;
        self
    }

    /// The longest `run` sleeps without looking for due entries (other processes on SQLite cannot
    /// notify it).
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Worker {
        self.poll_interval = poll_interval;
        self
    }

    /// How long an entry in flight may keep running after shutdown before it is released.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Worker {
        self.shutdown_grace = grace;
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Claims one entry due at `now` and runs it to the end; `None` when nothing was due. The run
    /// is completed at `now` (or the queue clock's time, if later).
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Option<JobId>> {
        let Some(claimed) = self.queue.claim_kinds(&self.id, &self.kinds, now, self.lease).await?
        else {
            return Ok(None);
        };
        let id = claimed.id();
        let (_never, mut stop) = watch::channel(false);
        self.execute(claimed, now, &mut stop).await?;
        Ok(Some(id))
    }

    /// Runs entries until `shutdown` completes; see the module docs. Database errors are logged
    /// and retried after the poll interval, so this only returns at shutdown (or when PostgreSQL
    /// `LISTEN` cannot be set up at start).
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let (stop_tx, mut stop) = watch::channel(false);
        let _stopper = AbortOnDrop(
            tokio::spawn(async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            })
            .abort_handle(),
        );
        let _listener = self.listen().await?.map(|it| AbortOnDrop(it.abort_handle()));
        tracing::info!(worker = %self.id, kinds = ?self.kinds, "Job worker started.");
        loop {
            if *stop.borrow() {
                break;
            }
            // Registered before looking, so a notification sent while we look is not missed.
            let notified = self.queue.notifier().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            // Look (a read) before claiming (a write transaction), so idle polls stay cheap.
            let now = self.queue.clock().now();
            let wait = match self.queue.next_due(Some(&self.kinds)).await {
                Ok(Some(due)) if due <= now => {
                    match self.queue.claim_kinds(&self.id, &self.kinds, now, self.lease).await {
                        Ok(Some(claimed)) => match self.execute(claimed, now, &mut stop).await {
                            Ok(Ended::Released) => break,
                            Ok(Ended::Completed | Ended::LeaseLost) => continue,
                            Err(error) => {
                                tracing::warn!(worker = %self.id, %error,
                                    "Could not record a job's run.");
                                self.poll_interval
                            }
                        },
                        // Due but locked by another worker's claim right now: look again soon.
                        Ok(None) => Duration::from_millis(20).min(self.poll_interval),
                        Err(error) => {
                            tracing::warn!(worker = %self.id, %error, "Could not claim a job.");
                            self.poll_interval
                        }
                    }
                }
                Ok(Some(due)) => (due - now).to_std().unwrap_or_default().min(self.poll_interval),
                Ok(None) => self.poll_interval,
                Err(error) => {
                    tracing::warn!(worker = %self.id, %error, "Could not read the job queue.");
                    self.poll_interval
                }
            };
            tokio::select! {
                _ = stopped(&mut stop) => break,
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(worker = %self.id, "Job worker stopped.");
        Ok(())
    }

    /// On PostgreSQL, listens on `kontor_jobs` and forwards notifications to the queue's notifier.
    async fn listen(&self) -> Result<Option<JoinHandle<()>>> {
        let Some(pool) = self.queue.db().as_postgres() else { return Ok(None) };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let notify = self.queue.notifier().clone();
        let worker = self.id.clone();
        Ok(Some(tokio::spawn(async move {
            loop {
                // `recv` reconnects by itself after a lost connection.
                match listener.recv().await {
                    Ok(_) => notify.notify_waiters(),
                    Err(error) => {
                        tracing::warn!(%worker, %error, "Lost the job queue notifications.");
                        notify.notify_waiters();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })))
    }

    /// Runs a claimed entry: the handler in its own task (a panic fails the run), heartbeats every
    /// third of the lease, and release on shutdown after the grace period.
    async fn execute(
        &self,
        claimed: Claimed,
        claimed_at: DateTime<Utc>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Ended> {
        let Some(handler) = self.handlers.map.get(claimed.kind()).cloned() else {
            // Unreachable: claims are filtered by the registered kinds.
            let outcome = Outcome::FailedPermanently(format!("no handler for {}", claimed.kind()));
            self.queue.complete(&claimed, outcome, self.completion_time(claimed_at)).await?;
            return Ok(Ended::Completed);
        };
        tracing::debug!(worker = %self.id, job = %claimed.id(), kind = claimed.kind(),
            attempt = claimed.attempt(), "Job started.");
        let job = claimed.clone();
        let mut task = tokio::spawn(async move { handler.run_boxed(&job).await });
        // If this future is dropped (the worker is cancelled), the job must not run on unleased.
        let _task_guard = AbortOnDrop(task.abort_handle());
        let every = (self.lease / 3).max(Duration::from_millis(10));
        let mut beat = tokio::time::interval_at(Instant::now() + every, every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        let deadline = tokio::time::sleep_until(far);
        tokio::pin!(deadline);
        let mut stopping = false;
        loop {
            tokio::select! {
                res = &mut task => {
                    let outcome = outcome_of(res);
                    let now = self.completion_time(claimed_at);
                    return match self.queue.complete(&claimed, outcome.clone(), now).await {
                        Ok(entry) => {
                            match &outcome {
                                Outcome::Failed(reason) | Outcome::FailedPermanently(reason) => {
                                    warn_failed(&self.id, &entry, claimed.attempt(), reason);
                                }
                                _ => tracing::debug!(worker = %self.id, job = %claimed.id(),
                                    ?outcome, status = %entry.status, "Job ended."),
                            }
                            Ok(Ended::Completed)
                        }
                        Err(JobError::LeaseLost(id)) => {
                            tracing::warn!(worker = %self.id, job = %id,
                                "Job ended after its lease was lost; its outcome is dropped.");
                            Ok(Ended::LeaseLost)
                        }
                        Err(e) => Err(e),
                    };
                }
                _ = beat.tick() => {
                    let now = self.queue.clock().now();
                    match self.queue.heartbeat(&claimed, now, self.lease).await {
                        Ok(_) => {}
                        Err(JobError::LeaseLost(id)) => {
                            task.abort();
                            tracing::warn!(worker = %self.id, job = %id,
                                "Lost the lease of a running job; cancelled it.");
                            return Ok(Ended::LeaseLost);
                        }
                        Err(error) => {
                            tracing::warn!(worker = %self.id, job = %claimed.id(), %error,
                                "Could not extend a job's lease.");
                        }
                    }
                }
                _ = stopped(stop), if !stopping => {
                    stopping = true;
                    deadline.as_mut().reset(Instant::now() + self.shutdown_grace);
                }
                _ = &mut deadline, if stopping => {
                    task.abort();
                    let now = self.queue.clock().now().max(claimed_at);
                    self.queue.release(&claimed, now).await?;
                    tracing::info!(worker = %self.id, job = %claimed.id(),
                        "Released a running job at shutdown.");
                    return Ok(Ended::Released);
                }
            }
        }
    }

    fn completion_time(&self, claimed_at: DateTime<Utc>) -> DateTime<Utc> {
        self.queue.clock().now().max(claimed_at)
    }
}

/// Completes once the stop flag is set (never if its sender is gone without setting it).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|it| *it).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The outcome of a handler task: its result, or a failure when it returned an error or panicked.
/// The one WARN line of a failed run: which entry (its key is the mapping of a synchronization),
/// which attempt, the reason, and what happens next.
fn warn_failed(worker: &str, entry: &crate::entry::JobEntry, attempt: u32, reason: &str) {
    let key = entry.key.as_deref().unwrap_or("");
    match entry.status {
        crate::entry::Status::Ready => tracing::warn!(worker, job = %entry.id, kind = %entry.kind,
            key, entry = %entry.description, attempt, reason,
            next_attempt_at = %entry.run_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "Job failed; it runs again at the next attempt time."),
        status => tracing::warn!(worker, job = %entry.id, kind = %entry.kind, key,
            entry = %entry.description, attempt, reason, %status,
            "Job failed; it waits for a restart."),
    }
}

fn outcome_of(
    res: std::result::Result<Result<Outcome, JobError>, tokio::task::JoinError>,
) -> Outcome {
    match res {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.is_permanent() => Outcome::FailedPermanently(e.to_string()),
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        Err(e) if e.is_panic() => {
            let panic = e.into_panic();
            let msg = panic
                .downcast_ref::<&str>()
                .map(|it| (*it).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Outcome::Failed(format!("the job panicked: {msg}"))
        }
        Err(_) => Outcome::Failed("the job was cancelled".to_owned()),
    }
}
