//! Integration Synch. Jobs and their errors, skipped records and Retry, and the job queue
//! entries that run the integration (restart, set on hold).

use chrono::{DateTime, Utc};
use kontor_jobs::{JobEntry, JobId, ListFilter, Status};
use kontor_sync::Side;
use kontor_sync::store::SynchError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Integration, IntegrationError, Result};

/// An Integration Synch. Job: one pass of one mapping with its counters.
pub type JobSummary = kontor_sync::store::SynchJob;

/// Which synch jobs: of one mapping or all, started from `from` (inclusive) until `to`
/// (exclusive), the most recent first, `limit` of them (50 when left out) after the first
/// `offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsQuery {
    pub mapping: Option<String>,
    pub limit: Option<i64>,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

/// One synch job with its errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    pub job: JobSummary,
    pub errors: Vec<SynchError>,
}

/// A record the synchronization skips (it failed too often) until it is retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedRecord {
    pub side: Side,
    pub id: Uuid,
    pub message: String,
}

/// *Retry* (one record of a mapping), *Retry All* (of a mapping, or of every mapping).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryRequest {
    pub mapping: Option<String>,
    pub id: Option<Uuid>,
}

/// How many skipped records run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryResult {
    pub retried: u64,
}

/// Which job queue entries: of one status or all, oldest first, paged (all when `limit` is
/// left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobQueueQuery {
    /// `ready`, `in_process`, `error`, `on_hold`, `finished` or `on_hold_inactivity`.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A Job Queue Entry as the Job Queue Entries page shows it (durations in seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobQueueEntry {
    pub id: Uuid,
    /// What it runs ("Object ID to Run").
    pub kind: String,
    pub key: Option<String>,
    pub description: String,
    /// The handler's parameters ("Parameter String").
    pub params: serde_json::Value,
    pub status: Status,
    pub priority: i64,
    pub earliest_start_at: Option<DateTime<Utc>>,
    pub run_at: DateTime<Utc>,
    /// "No. of Minutes between Runs", in seconds; `None` for a one-off entry.
    pub interval_seconds: Option<u64>,
    pub max_attempts: u32,
    pub rerun_delay_seconds: u64,
    pub inactivity_timeout_seconds: Option<u64>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub last_ended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<JobEntry> for JobQueueEntry {
    fn from(e: JobEntry) -> Self {
        JobQueueEntry {
            id: e.id.0,
            kind: e.kind,
            key: e.key,
            description: e.description,
            params: e.params,
            status: e.status,
            priority: e.priority,
            earliest_start_at: e.earliest_start_at,
            run_at: e.run_at,
            interval_seconds: e.interval.map(|d| d.as_secs()),
            max_attempts: e.max_attempts,
            rerun_delay_seconds: e.rerun_delay.as_secs(),
            inactivity_timeout_seconds: e.inactivity_timeout.map(|d| d.as_secs()),
            attempts: e.attempts,
            last_error: e.last_error,
            locked_by: e.locked_by,
            last_ended_at: e.last_ended_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// The integration's health at a glance (the web client's Home).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Synch jobs with failed records, among the most recent [`HEALTH_JOBS`].
    pub failed_jobs: u64,
    /// Records the synchronization skips until retried, over all mappings.
    pub skipped_records: u64,
    /// Job queue entries in status Error (one-off entries out of attempts).
    pub entries_in_error: u64,
    /// Job queue entries whose last run failed and that are retried (or in Error): recurring
    /// entries never go to Error, so this is where a failing synchronization shows.
    pub entries_failing: u64,
    /// When the most recent synch job finished (or started, while it runs).
    pub last_synchronization: Option<DateTime<Utc>>,
}

/// Why the integration is degraded, as `/health` names it: a kind and a count, nothing else (the
/// endpoint is public).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegradedReason {
    /// Job queue entries whose last run failed (retrying, or in Error).
    EntriesFailing,
    /// Among them, entries whose last run found Sales unreachable.
    SalesUnreachable,
    /// … Financials unreachable.
    FinancialsUnreachable,
    /// … credentials refused (by either side).
    CredentialsRefused,
    /// … the integration paused by the Suite gate (the company uses the Essential experience).
    IntegrationPaused,
}

impl DegradedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DegradedReason::EntriesFailing => "entries_failing",
            DegradedReason::SalesUnreachable => "sales_unreachable",
            DegradedReason::FinancialsUnreachable => "financials_unreachable",
            DegradedReason::CredentialsRefused => "credentials_refused",
            DegradedReason::IntegrationPaused => "integration_paused",
        }
    }

    /// The reasons a failed run's error message gives, beyond failing at all (the connectors'
    /// messages: "Sales is unavailable: …", "Sales refused the credentials: …").
    pub fn of_error(message: &str) -> Vec<DegradedReason> {
        let mut out = Vec::new();
        if message.contains("refused the credentials") {
            out.push(DegradedReason::CredentialsRefused);
        }
        if message.contains("Sales is unavailable") {
            out.push(DegradedReason::SalesUnreachable);
        }
        if message.contains("Financials is unavailable") {
            out.push(DegradedReason::FinancialsUnreachable);
        }
        if message.contains(kontor_sync::setup::PAUSED) {
            out.push(DegradedReason::IntegrationPaused);
        }
        out
    }
}

/// The integration's part of `/health`: the reasons it is degraded with how many entries each
/// (empty when all is well), in [`DegradedReason`] order.
pub type DegradedReasons = Vec<(DegradedReason, u64)>;

/// How many of the most recent synch jobs [`Integration::health`] looks at.
pub const HEALTH_JOBS: i64 = 1000;

impl Integration {
    /// The integration's health at a glance: failed synch jobs, skipped records, job queue
    /// entries in Error, the last synchronization.
    pub async fn health(&self) -> Result<Health> {
        let jobs = self.store.jobs(None, HEALTH_JOBS).await?;
        let failed_jobs = jobs.iter().filter(|j| j.counters.failed > 0).count() as u64;
        let last_synchronization = jobs.first().map(|j| j.finished_at.unwrap_or(j.started_at));
        let mut skipped_records = 0;
        for m in self.store.mappings().await?.mappings {
            skipped_records += self.store.skipped_records(&m.name).await?.len() as u64;
        }
        let filter = ListFilter { status: Some(Status::Error), ..ListFilter::default() };
        let entries_in_error = self.queue.list(&filter).await?.len() as u64;
        let entries_failing = self.queue.failing().await?.len() as u64;
        Ok(Health {
            failed_jobs,
            skipped_records,
            entries_in_error,
            entries_failing,
            last_synchronization,
        })
    }

    /// Why the integration is degraded, for `/health`: the failing job queue entries (retrying
    /// or in Error, not the ones a person set On Hold) and, from their last errors, Sales or
    /// Financials unreachable and credentials refused, each with its count of entries.
    pub async fn degraded_reasons(&self) -> Result<DegradedReasons> {
        let failing = self.queue.failing().await?;
        let mut counts = std::collections::BTreeMap::new();
        for e in &failing {
            *counts.entry(DegradedReason::EntriesFailing).or_insert(0) += 1;
            for r in DegradedReason::of_error(e.last_error.as_deref().unwrap_or_default()) {
                *counts.entry(r).or_insert(0) += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    /// The integration's lag per enabled mapping and direction (the age of the oldest change
    /// not yet synchronized, see `Engine::lag`), for `/metrics`; empty while not connected.
    pub async fn lag(&self) -> Result<Vec<kontor_sync::engine::Lag>> {
        match self.engine.get() {
            Some(engine) => Ok(engine.lag().await?),
            None => Ok(Vec::new()),
        }
    }

    /// How many job queue entries are in each status (every status, zeros included), for
    /// `/metrics`.
    pub async fn job_queue_counts(&self) -> Result<Vec<(Status, u64)>> {
        let mut out = Vec::new();
        for status in Status::ALL {
            let filter = ListFilter { status: Some(status), ..ListFilter::default() };
            out.push((status, self.queue.count(&filter).await?));
        }
        Ok(out)
    }

    /// Integration Synch. Jobs, the most recent first (at most 1,000 a page).
    pub async fn jobs(&self, query: JobsQuery) -> Result<Vec<JobSummary>> {
        let limit = query.limit.unwrap_or(50).clamp(1, 1000);
        let offset = query.offset.unwrap_or(0).max(0);
        let mapping = query.mapping.as_deref().filter(|m| !m.is_empty());
        Ok(self.store.jobs_page(mapping, query.from, query.to, limit, offset).await?)
    }

    /// One synch job with its errors.
    pub async fn job(&self, id: Uuid) -> Result<JobDetail> {
        let job = self.store.job(id).await?.ok_or_else(|| {
            IntegrationError::NotFound(format!("Integration synch. job {id} does not exist."))
        })?;
        let errors = self.store.job_errors(id).await?;
        Ok(JobDetail { job, errors })
    }

    /// The records of `mapping` the synchronization skips.
    pub async fn skipped(&self, mapping: &str) -> Result<Vec<SkippedRecord>> {
        // A mapping that does not exist is an error, not an empty list.
        self.store.mapping(mapping).await?;
        let list = self.store.skipped_records(mapping).await?;
        Ok(list
            .into_iter()
            .map(|(side, id, message)| SkippedRecord { side, id, message })
            .collect())
    }

    /// *Retry* / *Retry All*: skipped records run again with their next synchronization.
    pub async fn retry(&self, req: RetryRequest) -> Result<RetryResult> {
        if let Some(mapping) = req.mapping.as_deref() {
            self.store.mapping(mapping).await?;
        }
        let retried = self.store.retry(req.mapping.as_deref(), req.id).await?;
        Ok(RetryResult { retried })
    }

    /// The job queue entries (the integration's recurring synchronizations, full
    /// synchronization steps, coupling runs …).
    pub async fn job_queue_entries(&self, query: JobQueueQuery) -> Result<Vec<JobQueueEntry>> {
        let status = match query.status.as_deref() {
            None | Some("") => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                IntegrationError::invalid(format!(
                    "'{s}' is not a job queue entry status: give one of {}.",
                    Status::ALL.map(Status::as_str).join(", ")
                ))
            })?),
        };
        let filter = ListFilter {
            status,
            limit: query.limit.unwrap_or(0),
            offset: query.offset.unwrap_or(0),
            ..ListFilter::default()
        };
        let list = self.queue.list(&filter).await?;
        Ok(list.into_iter().map(JobQueueEntry::from).collect())
    }

    /// *Restart* / *Set Status to Ready*: the entry runs again as soon as a worker is free, its
    /// attempts and error message reset. Any status but In Process.
    pub async fn restart_entry(&self, id: Uuid) -> Result<JobQueueEntry> {
        Ok(self.queue.restart(JobId(id)).await?.into())
    }

    /// *Set Status to On Hold*: the entry does not run until restarted. Any status but In
    /// Process.
    pub async fn hold_entry(&self, id: Uuid) -> Result<JobQueueEntry> {
        Ok(self.queue.set_on_hold(JobId(id)).await?.into())
    }
}
