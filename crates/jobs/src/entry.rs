//! The job queue's vocabulary: entries, their statuses, the outcome of a run and the run log.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::JobError;

/// The id of a job queue entry (a UUID v7, so ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    pub fn new() -> JobId {
        JobId(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        JobId::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for JobId {
    type Err = JobError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(JobId).map_err(|e| JobError::Invalid(format!("job id {s:?}: {e}")))
    }
}

/// Business Central's job queue entry statuses (without "Waiting", which BC uses for job queue
/// categories; Kontor does not serialise by category).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its run time (`run_at`) and a free worker.
    Ready,
    /// Leased by a worker and running.
    InProcess,
    /// A one-off entry that failed on its last allowed attempt (or permanently); waits for a
    /// restart. (A failing recurring entry stays Ready, retried with a backoff.)
    Error,
    /// Put on hold by a user; waits for a restart.
    OnHold,
    /// A one-off entry that ran successfully.
    Finished,
    /// A recurring entry that found nothing to do for its inactivity timeout; woken by a change
    /// notification ([`crate::Queue::wake`]) or, at the latest, when its timeout passes again.
    OnHoldInactivity,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Ready,
        Status::InProcess,
        Status::Error,
        Status::OnHold,
        Status::Finished,
        Status::OnHoldInactivity,
    ];

    /// The value stored in `job_entry.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::InProcess => "in_process",
            Status::Error => "error",
            Status::OnHold => "on_hold",
            Status::Finished => "finished",
            Status::OnHoldInactivity => "on_hold_inactivity",
        }
    }

    /// The caption Business Central shows ("On Hold with Inactivity Timeout").
    pub fn caption(self) -> &'static str {
        match self {
            Status::Ready => "Ready",
            Status::InProcess => "In Process",
            Status::Error => "Error",
            Status::OnHold => "On Hold",
            Status::Finished => "Finished",
            Status::OnHoldInactivity => "On Hold with Inactivity Timeout",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|it| it.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.caption())
    }
}

/// How a run ended, as the handler reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The run did its work.
    Finished,
    /// The run found nothing to do (counts toward the inactivity timeout of a recurring entry).
    Idle,
    /// The run failed; a one-off entry is retried after the rerun delay until the attempts are
    /// used up, a recurring entry is retried with a backoff for ever.
    Failed(String),
    /// The run failed in a way a retry cannot fix; a one-off entry goes to Error at once, a
    /// recurring entry is retried with a backoff (what it depends on may be fixed meanwhile).
    FailedPermanently(String),
}

/// The status of one run in the log (Business Central's Success / In Process / Error, plus Idle
/// for a run that found nothing to do and Released for a run handed back at shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStatus {
    InProcess,
    Success,
    Idle,
    Error,
    Released,
}

impl LogStatus {
    pub const ALL: [LogStatus; 5] = [
        LogStatus::InProcess,
        LogStatus::Success,
        LogStatus::Idle,
        LogStatus::Error,
        LogStatus::Released,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::InProcess => "in_process",
            LogStatus::Success => "success",
            LogStatus::Idle => "idle",
            LogStatus::Error => "error",
            LogStatus::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<LogStatus> {
        LogStatus::ALL.into_iter().find(|it| it.as_str() == s)
    }
}

impl fmt::Display for LogStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogStatus::InProcess => "In Process",
            LogStatus::Success => "Success",
            LogStatus::Idle => "Idle",
            LogStatus::Error => "Error",
            LogStatus::Released => "Released",
        })
    }
}

/// A job queue entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEntry {
    pub id: JobId,
    /// What to run (the handler's name: BC's "Object ID to Run").
    pub kind: String,
    /// Unique per kind when set (recurring entries).
    pub key: Option<String>,
    pub description: String,
    /// The handler's parameters ("Parameter String", as JSON).
    pub params: serde_json::Value,
    pub status: Status,
    /// Lower runs first.
    pub priority: i64,
    pub earliest_start_at: Option<DateTime<Utc>>,
    /// When the entry may run next (Ready), or wakes by itself (On Hold with Inactivity Timeout).
    pub run_at: DateTime<Utc>,
    /// "No. of Minutes between Runs"; `None` for a one-off entry.
    pub interval: Option<Duration>,
    /// "Maximum No. of Attempts to Run".
    pub max_attempts: u32,
    /// "Rerun Delay (sec.)".
    pub rerun_delay: Duration,
    /// "Inactivity Timeout Period".
    pub inactivity_timeout: Option<Duration>,
    /// Runs started since the last successful run, the current one included.
    pub attempts: u32,
    /// "Error Message" of the last failed run; cleared by a successful run or a restart.
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub run_started_at: Option<DateTime<Utc>>,
    pub last_ended_at: Option<DateTime<Utc>>,
    /// Start of the current streak of runs that found nothing to do.
    pub idle_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl JobEntry {
    pub fn is_recurring(&self) -> bool {
        self.interval.is_some()
    }

    pub fn policy(&self) -> crate::schedule::Policy {
        crate::schedule::Policy {
            interval: self.interval,
            max_attempts: self.max_attempts,
            rerun_delay: self.rerun_delay,
            inactivity_timeout: self.inactivity_timeout,
            max_rerun_delay: crate::schedule::MAX_RERUN_DELAY,
        }
    }
}

/// An entry a worker has leased: what the handler gets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claimed {
    /// The entry as it was claimed (status In Process, `attempts` counting this run).
    pub entry: JobEntry,
    /// This run's id (the id of its `job_log` row); proves the lease.
    pub run_id: Uuid,
    pub worker: String,
    pub started_at: DateTime<Utc>,
}

impl Claimed {
    pub fn id(&self) -> JobId {
        self.entry.id
    }

    pub fn kind(&self) -> &str {
        &self.entry.kind
    }

    pub fn params(&self) -> &serde_json::Value {
        &self.entry.params
    }

    /// The parameters decoded into `T`; a mismatch is a permanent failure.
    pub fn params_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.entry.params.clone()).map_err(|e| {
            JobError::permanent(format!("invalid parameters for job kind {}: {e}", self.entry.kind))
        })
    }

    /// Which attempt this run is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.entry.attempts
    }
}

/// One run in the log ("Job Queue Log Entry").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    pub id: Uuid,
    pub entry_id: JobId,
    pub kind: String,
    pub description: String,
    pub attempt: u32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    /// `None` while the run is in process.
    pub ended_at: Option<DateTime<Utc>>,
    pub status: LogStatus,
    pub error: Option<String>,
}

/// A new job queue entry. Built with [`NewJob::new`] (one-off) or [`NewJob::recurring`], then the
/// builder methods. Defaults: priority 0, 3 attempts, 60 s rerun delay, starts now, Ready.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub key: Option<String>,
    pub description: String,
    pub params: serde_json::Value,
    pub priority: i64,
    pub earliest_start_at: Option<DateTime<Utc>>,
    pub interval: Option<Duration>,
    pub max_attempts: u32,
    pub rerun_delay: Duration,
    pub inactivity_timeout: Option<Duration>,
    /// Ready, On Hold or On Hold with Inactivity Timeout.
    pub initial_status: Status,
}

impl NewJob {
    /// A one-off entry of `kind` with `params`.
    pub fn new(kind: impl Into<String>, params: serde_json::Value) -> NewJob {
        NewJob {
            kind: kind.into(),
            key: None,
            description: String::new(),
            params,
            priority: 0,
            earliest_start_at: None,
            interval: None,
            max_attempts: 3,
            rerun_delay: Duration::from_secs(60),
            inactivity_timeout: None,
            initial_status: Status::Ready,
        }
    }

    /// A recurring entry, unique per `kind` and `key`, running every `interval`.
    pub fn recurring(
        kind: impl Into<String>,
        key: impl Into<String>,
        params: serde_json::Value,
        interval: Duration,
    ) -> NewJob {
        NewJob::new(kind, params).key(key).every(interval)
    }

    pub fn key(mut self, key: impl Into<String>) -> NewJob {
        self.key = Some(key.into());
        self
    }

    pub fn description(mut self, description: impl Into<String>) -> NewJob {
        self.description = description.into();
        self
    }

    pub fn priority(mut self, priority: i64) -> NewJob {
        self.priority = priority;
        self
    }

    /// "Earliest Start Date/Time": the entry does not run before it.
    pub fn earliest_start(mut self, at: DateTime<Utc>) -> NewJob {
        self.earliest_start_at = Some(at);
        self
    }

    /// Recurrence: run again `interval` after each successful run.
    pub fn every(mut self, interval: Duration) -> NewJob {
        self.interval = Some(interval);
        self
    }

    /// "Maximum No. of Attempts to Run" (at least 1).
    pub fn max_attempts(mut self, n: u32) -> NewJob {
        self.max_attempts = n;
        self
    }

    /// "Rerun Delay (sec.)": the wait before a failed run is retried.
    pub fn rerun_delay(mut self, delay: Duration) -> NewJob {
        self.rerun_delay = delay;
        self
    }

    /// "Inactivity Timeout Period" of a recurring entry.
    pub fn inactivity_timeout(mut self, timeout: Duration) -> NewJob {
        self.inactivity_timeout = Some(timeout);
        self
    }

    /// Create the entry On Hold (or On Hold with Inactivity Timeout) instead of Ready.
    pub fn initial_status(mut self, status: Status) -> NewJob {
        self.initial_status = status;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), JobError> {
        let fail = |msg: String| Err(JobError::Invalid(msg));
        if self.kind.trim().is_empty() {
            return fail("the job kind is empty".to_owned());
        }
        if self.max_attempts == 0 {
            return fail("the maximum number of attempts must be at least 1".to_owned());
        }
        if self.interval.is_some_and(|it| it.as_secs() == 0) {
            return fail("the interval between runs must be at least one second".to_owned());
        }
        if self.inactivity_timeout.is_some_and(|it| it.as_secs() == 0) {
            return fail("the inactivity timeout must be at least one second".to_owned());
        }
        if self.inactivity_timeout.is_some() && self.interval.is_none() {
            return fail("only a recurring entry can have an inactivity timeout".to_owned());
        }
        if !matches!(self.initial_status, Status::Ready | Status::OnHold | Status::OnHoldInactivity)
        {
            return fail(format!("a new entry cannot start as {}", self.initial_status));
        }
        if self.initial_status == Status::OnHoldInactivity && self.inactivity_timeout.is_none() {
            return fail(
                "an entry without an inactivity timeout cannot start on hold with inactivity timeout"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// What [`crate::Queue::list`] returns: all filters are optional; newest entries last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub kind: Option<String>,
    pub key: Option<String>,
    /// At most this many entries (0 = no limit).
    pub limit: u32,
    pub offset: u32,
}
