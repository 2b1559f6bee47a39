//! `Queue`: the job queue entries and their log in the database, on SQLite and PostgreSQL.
//!
//! All SQL lives here. Every statement takes "now" as a bound value (never `now()`), so the same
//! statements run on both backends and tests drive time with a [`ManualClock`](crate::ManualClock).
//! The only backend-specific parts are `FOR UPDATE [SKIP LOCKED]` and `pg_notify` on PostgreSQL;
//! on SQLite every write transaction is `BEGIN IMMEDIATE`, so it runs alone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kontor_store::sea_query::Value;
use kontor_store::sqlx::AssertSqlSafe;
use kontor_store::{Backend, Db, Row, StoreError, Tx};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::entry::{
    Claimed, JobEntry, JobId, ListFilter, LogEntry, LogStatus, NewJob, Outcome, Status,
};
use crate::error::{JobError, Result};
use crate::schedule::{self, add};

/// The PostgreSQL `NOTIFY` channel on which the queue announces entries that became ready.
pub const NOTIFY_CHANNEL: &str = "kontor_jobs";

const ENTRY_COLUMNS: &str = "id, kind, job_key, description, params, status, priority, \
    earliest_start_at, run_at, interval_secs, max_attempts, rerun_delay_secs, \
    inactivity_timeout_secs, attempts, last_error, locked_by, locked_until, run_id, \
    run_started_at, last_ended_at, idle_since, created_at, updated_at";

const LOG_COLUMNS: &str =
    "id, entry_id, kind, description, attempt, worker, started_at, ended_at, status, error";

const LEASE_EXPIRED: &str = "the worker's lease expired before the run finished";

/// The job queue over one database. Cheap to clone; clones share the in-process notifier, so a
/// worker built from a clone wakes up when this queue enqueues.
#[derive(Clone)]
pub struct Queue {
    db: Db,
    clock: Arc<dyn Clock>,
    notify: Arc<Notify>,
    max_rerun_delay: Duration,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("backend", &self.db.backend()).finish_non_exhaustive()
    }
}

impl Queue {
    /// A queue on `db` using the system clock. Run [`Queue::migrate`] (or
    /// `db.migrate(&kontor_jobs::MIGRATIONS)`) once before use.
    pub fn new(db: Db) -> Queue {
        Queue::with_clock(db, Arc::new(SystemClock))
    }

    /// A queue whose user actions (enqueue, restart, wake, …) take "now" from `clock`.
    pub fn with_clock(db: Db, clock: Arc<dyn Clock>) -> Queue {
        Queue {
            db,
            clock,
            notify: Arc::new(Notify::new()),
            max_rerun_delay: schedule::MAX_RERUN_DELAY,
        }
    }

    /// The longest wait between two retries of a failing recurring entry (30 minutes unless
    /// set; the first retry waits the entry's rerun delay, each further one twice as long, see
    /// [`schedule::backoff`]).
    pub fn with_max_rerun_delay(mut self, max: Duration) -> Queue {
        self.max_rerun_delay = max;
        self
    }

    pub fn max_rerun_delay(&self) -> Duration {
        self.max_rerun_delay
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Signalled (`notify_waiters`) whenever this queue makes an entry ready to run now.
    pub fn notifier(&self) -> &Arc<Notify> {
        &self.notify
    }

    /// Creates the queue's tables (the store's own migrations first).
    pub async fn migrate(&self) -> Result<()> {
        Ok(self.db.migrate(&crate::MIGRATIONS).await?)
    }

    /// Adds an entry. A `key` must be unique per kind ([`JobError::Duplicate`] otherwise).
    pub async fn enqueue(&self, job: NewJob) -> Result<JobId> {
        job.validate()?;
        let now = self.clock.now();
        let id = JobId::new();
        let mut tx = self.db.begin().await?;
        let (sql, binds) = insert_sql(&job, id, now, "")?;
        let res = tx.execute_sql(AssertSqlSafe(sql), binds).await;
        if let Err(StoreError::Duplicate { .. }) = res {
            return Err(JobError::Duplicate {
                kind: job.kind.clone(),
                key: job.key.clone().unwrap_or_default(),
            });
        }
        res?;
        let ready_now = job.initial_status == Status::Ready && initial_run_at(&job, now) <= now;
        self.finish_write(tx, ready_now).await?;
        Ok(id)
    }

    /// Creates the recurring entry for (`job.kind`, `job.key`) unless it exists; when it exists,
    /// updates its setup (description, parameters, priority, interval, attempts, rerun delay,
    /// inactivity timeout) and keeps its status and schedule. Idempotent; returns the entry's id.
    pub async fn ensure_recurring(&self, job: NewJob) -> Result<JobId> {
        job.validate()?;
        if job.key.is_none() || job.interval.is_none() {
            return Err(JobError::Invalid(format!(
                "a recurring entry of kind {} needs a key and an interval",
                job.kind
            )));
        }
        let now = self.clock.now();
        let (sql, binds) = insert_sql(
            &job,
            JobId::new(),
            now,
            " ON CONFLICT (kind, job_key) DO UPDATE SET description = excluded.description, \
             params = excluded.params, priority = excluded.priority, \
             interval_secs = excluded.interval_secs, max_attempts = excluded.max_attempts, \
             rerun_delay_secs = excluded.rerun_delay_secs, \
             inactivity_timeout_secs = excluded.inactivity_timeout_secs, \
             updated_at = excluded.updated_at RETURNING id",
        )?;
        let mut tx = self.db.begin().await?;
        let row = tx.fetch_one_sql(AssertSqlSafe(sql), binds).await?;
        let id = job_id(&row, "id")?;
        let ready_now = job.initial_status == Status::Ready && initial_run_at(&job, now) <= now;
        self.finish_write(tx, ready_now).await?;
        Ok(id)
    }

    /// Leases the next due entry of any kind to `worker` until `now + lease` (see
    /// [`Queue::claim_kinds`]).
    pub async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Claimed>> {
        self.claim_inner(worker, None, now, lease).await
    }

    /// Leases the next due entry whose kind is in `kinds`: Ready (or On Hold with Inactivity
    /// Timeout whose timeout has passed) with `run_at <= now`, lowest priority value first, then
    /// earliest `run_at`. First takes back entries whose lease expired before `now` (their worker
    /// died): they count a failed attempt and become Ready (or Error when out of attempts).
    pub async fn claim_kinds(
        &self,
        worker: &str,
        kinds: &[String],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Claimed>> {
        self.claim_inner(worker, Some(kinds), now, lease).await
    }

    async fn claim_inner(
        &self,
        worker: &str,
        kinds: Option<&[String]>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Claimed>> {
        if kinds.is_some_and(|it| it.is_empty()) {
            return Ok(None);
        }
        let mut tx = self.db.begin().await?;
        take_back_expired(&mut tx, now).await?;

        let run_id = Uuid::now_v7();
        let lease_until = add(now, lease);
        let mut binds = vec![text(worker), ts(lease_until), text(run_id.to_string()), ts(now)];
        let kinds_sql = kinds_clause(kinds, &mut binds);
        let lock = match tx.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE job_entry SET status = 'in_process', locked_by = $1, locked_until = $2, \
             run_id = $3, run_started_at = $4, attempts = attempts + 1, updated_at = $4 \
             WHERE id = (SELECT id FROM job_entry \
             WHERE status IN ('ready', 'on_hold_inactivity') AND run_at <= $4{kinds_sql} \
             ORDER BY priority, run_at, id LIMIT 1{lock}) \
             RETURNING {ENTRY_COLUMNS}"
        );
        let Some(row) = tx.fetch_optional_sql(AssertSqlSafe(sql), binds).await? else {
            tx.commit().await?;
            return Ok(None);
        };
        let entry = entry_from_row(&row)?;
        tx.execute_sql(
            "INSERT INTO job_log (id, entry_id, kind, description, attempt, worker, started_at, \
             status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'in_process')",
            vec![
                text(run_id.to_string()),
                text(entry.id.to_string()),
                text(entry.kind.clone()),
                text(entry.description.clone()),
                int(i64::from(entry.attempts)),
                text(worker),
                ts(now),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Claimed { entry, run_id, worker: worker.to_owned(), started_at: now }))
    }

    /// Extends the run's lease to `now + lease`; returns the new end of the lease.
    /// [`JobError::LeaseLost`] when the run no longer holds the entry.
    pub async fn heartbeat(
        &self,
        job: &Claimed,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<DateTime<Utc>> {
        let until = add(now, lease);
        let n = self
            .db
            .execute_sql(
                "UPDATE job_entry SET locked_until = $1 \
                 WHERE id = $2 AND run_id = $3 AND status = 'in_process'",
                vec![ts(until), text(job.id().to_string()), text(job.run_id.to_string())],
            )
            .await?;
        if n == 0 {
            return Err(JobError::LeaseLost(job.id()));
        }
        Ok(until)
    }

    /// Ends the run with `outcome` at `now`: writes the log row and gives the entry its next
    /// status and run time ([`schedule::after_run`]). Returns the updated entry.
    pub async fn complete(
        &self,
        job: &Claimed,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<JobEntry> {
        let mut tx = self.db.begin().await?;
        let entry = locked_run(&mut tx, job).await?;
        let policy = schedule::Policy { max_rerun_delay: self.max_rerun_delay, ..entry.policy() };
        let next = schedule::after_run(
            &policy,
            &schedule::Run {
                attempts: entry.attempts,
                started_at: entry.run_started_at.unwrap_or(job.started_at),
                idle_since: entry.idle_since,
            },
            &outcome,
            now,
        );
        let row = tx
            .fetch_one_sql(
                AssertSqlSafe(format!(
                    "UPDATE job_entry SET status = $1, run_at = COALESCE($2, run_at), \
                     attempts = $3, idle_since = $4, last_error = $5, locked_by = NULL, \
                     locked_until = NULL, run_id = NULL, last_ended_at = $6, updated_at = $6 \
                     WHERE id = $7 RETURNING {ENTRY_COLUMNS}"
                )),
                vec![
                    text(next.status.as_str()),
                    opt_ts(next.run_at),
                    int(i64::from(next.attempts)),
                    opt_ts(next.idle_since),
                    opt_text(next.last_error.clone()),
                    ts(now),
                    text(job.id().to_string()),
                ],
            )
            .await?;
        let updated = entry_from_row(&row)?;
        close_log(&mut tx, job.run_id, now, next.log_status, next.log_error).await?;
        let ready_now = updated.status == Status::Ready && updated.run_at <= now;
        self.finish_write(tx, ready_now).await?;
        Ok(updated)
    }

    /// Hands the run's entry back without counting the attempt (a worker shutting down): the
    /// entry is Ready to run at `now`, and the log row says Released.
    pub async fn release(&self, job: &Claimed, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .execute_sql(
                "UPDATE job_entry SET status = 'ready', run_at = $1, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                 locked_by = NULL, locked_until = NULL, run_id = NULL, updated_at = $1 \
                 WHERE id = $2 AND run_id = $3 AND status = 'in_process'",
                vec![ts(now), text(job.id().to_string()), text(job.run_id.to_string())],
            )
            .await?;
        if n == 0 {
            return Err(JobError::LeaseLost(job.id()));
        }
        close_log(&mut tx, job.run_id, now, LogStatus::Released, None).await?;
        self.finish_write(tx, true).await
    }

    /// Hands back every run held by `workers` without counting their attempts: for a process that
    /// restarts after a crash with the same worker ids, so its runs start again at once instead of
    /// after their leases expire. Returns how many entries were released.
    pub async fn release_runs_of(&self, workers: &[String], now: DateTime<Utc>) -> Result<u64> {
        let mut released = 0;
        for worker in workers {
            let mut tx = self.db.begin().await?;
            let runs = tx
                .fetch_all_sql(
                    "SELECT run_id FROM job_entry WHERE status = 'in_process' AND locked_by = $1",
                    vec![text(worker.clone())],
                )
                .await?;
            let n = tx
                .execute_sql(
                    "UPDATE job_entry SET status = 'ready', run_at = $1, \
                     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                     locked_by = NULL, locked_until = NULL, run_id = NULL, updated_at = $1 \
                     WHERE status = 'in_process' AND locked_by = $2",
                    vec![ts(now), text(worker.clone())],
                )
                .await?;
            for run in &runs {
                if let Some(run_id) = run.get_opt_string("run_id").and_then(|r| r.parse().ok()) {
                    close_log(&mut tx, run_id, now, LogStatus::Released, None).await?;
                }
            }
            self.finish_write(tx, n > 0).await?;
            released += n;
        }
        Ok(released)
    }

    /// "Set Status to On Hold": the entry does not run until restarted. Not for an entry In
    /// Process.
    pub async fn set_on_hold(&self, id: JobId) -> Result<JobEntry> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let entry = locked_entry(&mut tx, id).await?;
        if entry.status == Status::InProcess {
            return Err(JobError::InvalidStatus {
                id,
                status: entry.status,
                action: "set on hold",
            });
        }
        let row = tx
            .fetch_one_sql(
                AssertSqlSafe(format!(
                    "UPDATE job_entry SET status = 'on_hold', updated_at = $1 WHERE id = $2 \
                     RETURNING {ENTRY_COLUMNS}"
                )),
                vec![ts(now), text(id.to_string())],
            )
            .await?;
        let entry = entry_from_row(&row)?;
        self.finish_write(tx, false).await?;
        Ok(entry)
    }

    /// "Restart" / "Set Status to Ready": the entry runs again as soon as a worker is free (not
    /// before its earliest start), with its attempts and error message reset. Any status but In
    /// Process.
    pub async fn restart(&self, id: JobId) -> Result<JobEntry> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let entry = locked_entry(&mut tx, id).await?;
        if entry.status == Status::InProcess {
            return Err(JobError::InvalidStatus { id, status: entry.status, action: "restart" });
        }
        let run_at = entry.earliest_start_at.map_or(now, |it| it.max(now));
        let row = tx
            .fetch_one_sql(
                AssertSqlSafe(format!(
                    "UPDATE job_entry SET status = 'ready', run_at = $1, attempts = 0, \
                     last_error = NULL, idle_since = NULL, updated_at = $2 WHERE id = $3 \
                     RETURNING {ENTRY_COLUMNS}"
                )),
                vec![ts(run_at), ts(now), text(id.to_string())],
            )
            .await?;
        let entry = entry_from_row(&row)?;
        self.finish_write(tx, run_at <= now).await?;
        Ok(entry)
    }

    /// "Retry now": the failing entries of `kind` (all kinds when `None`) — recurring ones
    /// waiting for their next retry, and entries in Error — run again at once, their backoff
    /// starting over; their last error stays until a run succeeds. For a new connection setup or
    /// new credentials: what failed may work now. Entries On Hold stay on hold. Returns how many
    /// entries were brought forward.
    pub async fn retry_failing_now(&self, kind: Option<&str>) -> Result<u64> {
        let now = self.clock.now();
        let mut binds = vec![ts(now)];
        let kind_sql = match kind {
            Some(kind) => {
                binds.push(text(kind));
                " AND kind = $2"
            }
            None => "",
        };
        let mut tx = self.db.begin().await?;
        let n = tx
            .execute_sql(
                AssertSqlSafe(format!(
                    "UPDATE job_entry SET status = 'ready', \
                     run_at = CASE WHEN earliest_start_at > $1 THEN earliest_start_at ELSE $1 END, \
                     attempts = 0, updated_at = $1 \
                     WHERE last_error IS NOT NULL AND (status = 'error' \
                     OR (status = 'ready' AND attempts > 0)){kind_sql}"
                )),
                binds,
            )
            .await?;
        self.finish_write(tx, n > 0).await?;
        Ok(n)
    }

    /// Entries whose last run failed and that still run (Ready waiting for a retry, or In
    /// Process again) or wait for a restart (Error): not the ones a person set On Hold.
    pub async fn failing(&self) -> Result<Vec<JobEntry>> {
        let rows = self
            .db
            .fetch_all_sql(
                AssertSqlSafe(format!(
                    "SELECT {ENTRY_COLUMNS} FROM job_entry WHERE last_error IS NOT NULL \
                     AND status IN ('ready', 'in_process', 'error') ORDER BY created_at, id"
                )),
                vec![],
            )
            .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// A change notification: entries of `kind` (and `key`, if given) that are On Hold with
    /// Inactivity Timeout become Ready to run now, with a fresh idle streak, and Ready entries
    /// waiting for a later time run now (a change is worth a run before the next interval).
    /// Returns how many were woken or brought forward.
    pub async fn wake(&self, kind: &str, key: Option<&str>) -> Result<u64> {
        let now = self.clock.now();
        let mut binds = vec![ts(now), text(kind)];
        let key_sql = match key {
            Some(key) => {
                binds.push(text(key));
                " AND job_key = $3"
            }
            None => "",
        };
        let mut tx = self.db.begin().await?;
        let n = tx
            .execute_sql(
                AssertSqlSafe(format!(
                    "UPDATE job_entry SET status = 'ready', run_at = $1, idle_since = NULL, \
                     updated_at = $1 WHERE kind = $2{key_sql} AND (status = 'on_hold_inactivity' \
                     OR (status = 'ready' AND run_at > $1))"
                )),
                binds,
            )
            .await?;
        self.finish_write(tx, n > 0).await?;
        Ok(n)
    }

    pub async fn get(&self, id: JobId) -> Result<Option<JobEntry>> {
        let row = self
            .db
            .fetch_optional_sql(
                AssertSqlSafe(format!("SELECT {ENTRY_COLUMNS} FROM job_entry WHERE id = $1")),
                vec![text(id.to_string())],
            )
            .await?;
        row.as_ref().map(entry_from_row).transpose()
    }

    /// The recurring entry of `kind` with `key`, if any.
    pub async fn get_by_key(&self, kind: &str, key: &str) -> Result<Option<JobEntry>> {
        let row = self
            .db
            .fetch_optional_sql(
                AssertSqlSafe(format!(
                    "SELECT {ENTRY_COLUMNS} FROM job_entry WHERE kind = $1 AND job_key = $2"
                )),
                vec![text(kind), text(key)],
            )
            .await?;
        row.as_ref().map(entry_from_row).transpose()
    }

    /// Entries matching `filter`, oldest first, paged by its `limit` and `offset`.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<JobEntry>> {
        let mut binds = Vec::new();
        let where_sql = filter_sql(filter, &mut binds);
        binds.push(int(if filter.limit == 0 { i64::MAX } else { i64::from(filter.limit) }));
        binds.push(int(i64::from(filter.offset)));
        let n = binds.len();
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM job_entry{where_sql} ORDER BY created_at, id \
             LIMIT ${} OFFSET ${n}",
            n - 1
        );
        let rows = self.db.fetch_all_sql(AssertSqlSafe(sql), binds).await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// How many entries match `filter` (its `limit` and `offset` ignored).
    pub async fn count(&self, filter: &ListFilter) -> Result<u64> {
        let mut binds = Vec::new();
        let where_sql = filter_sql(filter, &mut binds);
        let sql = format!("SELECT COUNT(*) AS n FROM job_entry{where_sql}");
        let row = self.db.fetch_one_sql(AssertSqlSafe(sql), binds).await?;
        Ok(u64::try_from(row.try_get_i64("n")?).unwrap_or(0))
    }

    /// Deletes the entry and its log. Not for an entry In Process.
    pub async fn delete(&self, id: JobId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let entry = locked_entry(&mut tx, id).await?;
        if entry.status == Status::InProcess {
            return Err(JobError::InvalidStatus { id, status: entry.status, action: "delete" });
        }
        // The log goes first, so this does not rely on SQLite's foreign_keys pragma.
        tx.execute_sql("DELETE FROM job_log WHERE entry_id = $1", vec![text(id.to_string())])
            .await?;
        tx.execute_sql("DELETE FROM job_entry WHERE id = $1", vec![text(id.to_string())]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The entry's runs, newest first, at most `limit` (0 = all).
    pub async fn log_entries(&self, id: JobId, limit: u32) -> Result<Vec<LogEntry>> {
        let limit = if limit == 0 { i64::MAX } else { i64::from(limit) };
        let rows = self
            .db
            .fetch_all_sql(
                AssertSqlSafe(format!(
                    "SELECT {LOG_COLUMNS} FROM job_log WHERE entry_id = $1 \
                     ORDER BY started_at DESC, id DESC LIMIT $2"
                )),
                vec![text(id.to_string()), int(limit)],
            )
            .await?;
        rows.iter().map(log_from_row).collect()
    }

    /// Deletes the log rows of runs that ended before `before` ("Delete Entries Older Than");
    /// runs in process stay. Returns how many were deleted.
    pub async fn delete_log_before(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(self
            .db
            .execute_sql(
                "DELETE FROM job_log WHERE ended_at IS NOT NULL AND ended_at < $1",
                vec![ts(before)],
            )
            .await?)
    }

    /// The earliest time something of `kinds` (all kinds when `None`) becomes due: an entry's
    /// `run_at` or an In Process entry's lease end. `None` when nothing is scheduled.
    pub async fn next_due(&self, kinds: Option<&[String]>) -> Result<Option<DateTime<Utc>>> {
        if kinds.is_some_and(|it| it.is_empty()) {
            return Ok(None);
        }
        let mut binds = Vec::new();
        let kinds_sql = kinds_clause(kinds, &mut binds);
        let sql = format!(
            "SELECT MIN(CASE WHEN status = 'in_process' THEN locked_until ELSE run_at END) AS due \
             FROM job_entry WHERE status IN ('ready', 'on_hold_inactivity', 'in_process'){kinds_sql}"
        );
        let row = self.db.fetch_one_sql(AssertSqlSafe(sql), binds).await?;
        Ok(row.try_get_opt_i64("due")?.map(from_micros))
    }

    /// Commits `tx`, announcing on PostgreSQL (inside the transaction, so listeners hear it at
    /// commit) and in-process (after the commit) when an entry became ready to run now.
    async fn finish_write(&self, mut tx: Tx, ready_now: bool) -> Result<()> {
        if ready_now && tx.backend() == Backend::Postgres {
            tx.execute_sql("SELECT pg_notify($1, '')", vec![text(NOTIFY_CHANNEL)]).await?;
        }
        tx.commit().await?;
        if ready_now {
            self.notify.notify_waiters();
        }
        Ok(())
    }
}

/// Closes the open runs of entries whose lease expired and makes those entries Ready to run at
/// once, or Error when they are one-off entries out of attempts (a recurring entry never goes to
/// Error). Entries are locked before their log rows, in
/// the same order as `complete` and `release`, and on PostgreSQL an entry another transaction is
/// completing right now is skipped (that run ends normally).
async fn take_back_expired(tx: &mut Tx, now: DateTime<Utc>) -> Result<()> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let expired = tx
        .fetch_all_sql(
            AssertSqlSafe(format!(
                "SELECT id, run_id, locked_by FROM job_entry \
                 WHERE status = 'in_process' AND locked_until <= $1{lock}"
            )),
            vec![ts(now)],
        )
        .await?;
    for row in &expired {
        let id: String = row.try_get("id")?;
        let run_id: Option<String> = row.try_get("run_id")?;
        let worker: Option<String> = row.try_get("locked_by")?;
        let worker = worker.unwrap_or_default();
        tracing::warn!(job = %id, %worker, "Taking back a job whose worker's lease expired.");
        tx.execute_sql(
            "UPDATE job_entry SET \
             status = CASE WHEN interval_secs IS NULL AND attempts >= max_attempts \
             THEN 'error' ELSE 'ready' END, \
             run_at = $1, last_error = $2, locked_by = NULL, locked_until = NULL, run_id = NULL, \
             last_ended_at = $1, updated_at = $1 WHERE id = $3",
            vec![
                ts(now),
                text(format!("the lease of worker {worker} expired before the run finished")),
                text(id),
            ],
        )
        .await?;
        if let Some(run_id) = run_id {
            tx.execute_sql(
                "UPDATE job_log SET ended_at = $1, status = 'error', error = $2 \
                 WHERE id = $3 AND ended_at IS NULL",
                vec![ts(now), text(LEASE_EXPIRED), text(run_id)],
            )
            .await?;
        }
    }
    Ok(())
}

/// The entry held by `job`'s run, locked for update; [`JobError::LeaseLost`] when the run no
/// longer holds it.
async fn locked_run(tx: &mut Tx, job: &Claimed) -> Result<JobEntry> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM job_entry WHERE id = $1 AND run_id = $2 \
         AND status = 'in_process'{}",
        for_update(tx)
    );
    let row = tx
        .fetch_optional_sql(
            AssertSqlSafe(sql),
            vec![text(job.id().to_string()), text(job.run_id.to_string())],
        )
        .await?;
    match row {
        Some(row) => entry_from_row(&row),
        None => Err(JobError::LeaseLost(job.id())),
    }
}

async fn locked_entry(tx: &mut Tx, id: JobId) -> Result<JobEntry> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM job_entry WHERE id = $1{}", for_update(tx));
    let row = tx.fetch_optional_sql(AssertSqlSafe(sql), vec![text(id.to_string())]).await?;
    match row {
        Some(row) => entry_from_row(&row),
        None => Err(JobError::NotFound(id)),
    }
}

async fn close_log(
    tx: &mut Tx,
    run_id: Uuid,
    now: DateTime<Utc>,
    status: LogStatus,
    error: Option<String>,
) -> Result<()> {
    tx.execute_sql(
        "UPDATE job_log SET ended_at = $1, status = $2, error = $3 WHERE id = $4",
        vec![ts(now), text(status.as_str()), opt_text(error), text(run_id.to_string())],
    )
    .await?;
    Ok(())
}

fn for_update(tx: &Tx) -> &'static str {
    match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

/// The `WHERE` clause of `filter` (empty when it filters nothing), appending the binds.
fn filter_sql(filter: &ListFilter, binds: &mut Vec<Value>) -> String {
    let mut conditions = Vec::new();
    if let Some(status) = filter.status {
        binds.push(text(status.as_str()));
        conditions.push(format!("status = ${}", binds.len()));
    }
    if let Some(kind) = &filter.kind {
        binds.push(text(kind.clone()));
        conditions.push(format!("kind = ${}", binds.len()));
    }
    if let Some(key) = &filter.key {
        binds.push(text(key.clone()));
        conditions.push(format!("job_key = ${}", binds.len()));
    }
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// ` AND kind IN ($n, …)` for `kinds`, appending the binds.
fn kinds_clause(kinds: Option<&[String]>, binds: &mut Vec<Value>) -> String {
    let Some(kinds) = kinds else { return String::new() };
    let mut placeholders = Vec::with_capacity(kinds.len());
    for kind in kinds {
        binds.push(text(kind.clone()));
        placeholders.push(format!("${}", binds.len()));
    }
    format!(" AND kind IN ({})", placeholders.join(", "))
}

fn initial_run_at(job: &NewJob, now: DateTime<Utc>) -> DateTime<Utc> {
    let start = job.earliest_start_at.unwrap_or(now);
    match (job.initial_status, job.inactivity_timeout) {
        (Status::OnHoldInactivity, Some(timeout)) => add(start.max(now), timeout),
        _ => start,
    }
}

/// The `INSERT` of a new entry, followed by `tail` (an `ON CONFLICT` clause).
fn insert_sql(
    job: &NewJob,
    id: JobId,
    now: DateTime<Utc>,
    tail: &str,
) -> Result<(String, Vec<Value>)> {
    let params = serde_json::to_string(&job.params)
        .map_err(|e| JobError::Invalid(format!("parameters: {e}")))?;
    let sql = format!(
        "INSERT INTO job_entry (id, kind, job_key, description, params, status, priority, \
         earliest_start_at, run_at, interval_secs, max_attempts, rerun_delay_secs, \
         inactivity_timeout_secs, attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $14){tail}"
    );
    let binds = vec![
        text(id.to_string()),
        text(job.kind.clone()),
        opt_text(job.key.clone()),
        text(job.description.clone()),
        text(params),
        text(job.initial_status.as_str()),
        int(job.priority),
        opt_ts(job.earliest_start_at),
        ts(initial_run_at(job, now)),
        opt_int(job.interval.map(secs)),
        int(i64::from(job.max_attempts)),
        int(secs(job.rerun_delay)),
        opt_int(job.inactivity_timeout.map(secs)),
        ts(now),
    ];
    Ok((sql, binds))
}

fn entry_from_row(row: &Row) -> Result<JobEntry> {
    let status: String = row.try_get("status")?;
    let params: String = row.try_get("params")?;
    Ok(JobEntry {
        id: job_id(row, "id")?,
        kind: row.try_get("kind")?,
        key: row.try_get("job_key")?,
        description: row.try_get("description")?,
        params: serde_json::from_str(&params)
            .map_err(|e| JobError::Invalid(format!("stored parameters: {e}")))?,
        status: Status::parse(&status)
            .ok_or_else(|| JobError::Invalid(format!("stored status {status:?}")))?,
        priority: row.try_get_i64("priority")?,
        earliest_start_at: row.try_get_opt_i64("earliest_start_at")?.map(from_micros),
        run_at: from_micros(row.try_get_i64("run_at")?),
        interval: row.try_get_opt_i64("interval_secs")?.map(duration),
        max_attempts: count(row.try_get_i64("max_attempts")?),
        rerun_delay: duration(row.try_get_i64("rerun_delay_secs")?),
        inactivity_timeout: row.try_get_opt_i64("inactivity_timeout_secs")?.map(duration),
        attempts: count(row.try_get_i64("attempts")?),
        last_error: row.try_get("last_error")?,
        locked_by: row.try_get("locked_by")?,
        locked_until: row.try_get_opt_i64("locked_until")?.map(from_micros),
        run_started_at: row.try_get_opt_i64("run_started_at")?.map(from_micros),
        last_ended_at: row.try_get_opt_i64("last_ended_at")?.map(from_micros),
        idle_since: row.try_get_opt_i64("idle_since")?.map(from_micros),
        created_at: from_micros(row.try_get_i64("created_at")?),
        updated_at: from_micros(row.try_get_i64("updated_at")?),
    })
}

fn log_from_row(row: &Row) -> Result<LogEntry> {
    let status: String = row.try_get("status")?;
    let id: String = row.try_get("id")?;
    Ok(LogEntry {
        id: Uuid::parse_str(&id).map_err(|e| JobError::Invalid(format!("stored run id: {e}")))?,
        entry_id: job_id(row, "entry_id")?,
        kind: row.try_get("kind")?,
        description: row.try_get("description")?,
        attempt: count(row.try_get_i64("attempt")?),
        worker: row.try_get("worker")?,
        started_at: from_micros(row.try_get_i64("started_at")?),
        ended_at: row.try_get_opt_i64("ended_at")?.map(from_micros),
        status: LogStatus::parse(&status)
            .ok_or_else(|| JobError::Invalid(format!("stored log status {status:?}")))?,
        error: row.try_get("error")?,
    })
}

fn job_id(row: &Row, col: &str) -> Result<JobId> {
    let s: String = row.try_get(col)?;
    s.parse()
}

fn text(s: impl Into<String>) -> Value {
    Value::String(Some(s.into()))
}

fn opt_text(s: Option<String>) -> Value {
    Value::String(s)
}

fn int(i: i64) -> Value {
    Value::BigInt(Some(i))
}

fn opt_int(i: Option<i64>) -> Value {
    Value::BigInt(i)
}

fn ts(t: DateTime<Utc>) -> Value {
    int(t.timestamp_micros())
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
    opt_int(t.map(|it| it.timestamp_micros()))
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn duration(secs: i64) -> Duration {
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}
