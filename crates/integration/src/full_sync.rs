//! The full synchronization review (*Run Full Synchronization*) and *Synchronize Modified
//! Records*.

use kontor_sync::engine::{Mode, PassReport};
use kontor_sync::jobs::ReviewStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Integration, Result};

/// A line of the full synchronization review with its Job Queue Entry, To Int. Table and From
/// Int. Table job statuses, as the review page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewLine {
    pub name: String,
    pub dependency_filter: String,
    pub direction: String,
    pub recommendation: String,
    pub job_queue_entry_status: String,
    pub to_int_table_job_status: String,
    pub from_int_table_job_status: String,
    pub to_int_table_job_id: Option<Uuid>,
    pub from_int_table_job_id: Option<Uuid>,
    /// The line waits for a line in Error (directly or through another waiting line): it will
    /// not go on until that line is run again.
    pub held_up: bool,
    /// Records the To Int. Table pass has handled so far (inserted, modified, deleted,
    /// unchanged, skipped or failed), once it has a job.
    #[serde(default)]
    pub to_int_table_records: Option<u64>,
    /// Records the From Int. Table pass has handled so far.
    #[serde(default)]
    pub from_int_table_records: Option<u64>,
    /// The rows the To Int. Table pass reads (Financials' count when the review was built).
    #[serde(default)]
    pub to_int_table_total: Option<u64>,
    /// The rows the From Int. Table pass reads (Sales' count when the review was built).
    #[serde(default)]
    pub from_int_table_total: Option<u64>,
}

impl ReviewLine {
    /// Whether the line's job queue entry has ended (Finished or Error).
    pub fn ended(&self) -> bool {
        matches!(self.job_queue_entry_status.as_str(), "Finished" | "Error")
    }
    /// Whether the line or one of its passes is in Error.
    pub fn in_error(&self) -> bool {
        self.job_queue_entry_status == "Error"
            || self.to_int_table_job_status == "Error"
            || self.from_int_table_job_status == "Error"
    }
    /// The synch jobs of its passes.
    pub fn job_ids(&self) -> impl Iterator<Item = Uuid> {
        self.to_int_table_job_id.into_iter().chain(self.from_int_table_job_id)
    }
}

impl From<ReviewStatus> for ReviewLine {
    fn from(s: ReviewStatus) -> Self {
        ReviewLine {
            name: s.name,
            dependency_filter: s.dependency_filter,
            direction: s.direction,
            recommendation: s.recommendation,
            job_queue_entry_status: s.job_queue_entry_status,
            to_int_table_job_status: s.to_int_table_job_status,
            from_int_table_job_status: s.from_int_table_job_status,
            to_int_table_job_id: s.to_int_table_job_id,
            from_int_table_job_id: s.from_int_table_job_id,
            held_up: s.held_up,
            to_int_table_records: None,
            from_int_table_records: None,
            to_int_table_total: s.to_int_table_total,
            from_int_table_total: s.from_int_table_total,
        }
    }
}

/// *Synchronize Modified Records* of one mapping, or of all when left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncNowRequest {
    pub mapping: Option<String>,
}

impl Integration {
    /// Builds the review: one line per enabled mapping in dependency order with its
    /// recommendation (counting rows on both sides). Nothing starts yet.
    /// Refused, with the Suite gate's message, while the company does not use Suite.
    pub async fn full_sync_review(&self) -> Result<Vec<ReviewLine>> {
        let engine = self.engine()?;
        refuse_when_paused(&engine).await?;
        engine.prepare_full_sync().await?;
        self.full_sync_status().await
    }

    /// Starts the review's lines whose dependencies allow it (each later step starts when the
    /// one before it has finished).
    pub async fn start_full_sync(&self) -> Result<Vec<ReviewLine>> {
        let engine = self.engine()?;
        refuse_when_paused(&engine).await?;
        engine.advance_full_sync(&self.queue).await?;
        self.full_sync_status().await
    }

    /// The review lines with their job statuses and how many records each pass has handled.
    pub async fn full_sync_status(&self) -> Result<Vec<ReviewLine>> {
        let engine = self.engine()?;
        let mut lines: Vec<ReviewLine> =
            engine.review_status_on(&self.queue).await?.into_iter().map(ReviewLine::from).collect();
        for line in &mut lines {
            line.to_int_table_records = self.records_of(line.to_int_table_job_id).await?;
            line.from_int_table_records = self.records_of(line.from_int_table_job_id).await?;
        }
        Ok(lines)
    }

    /// The records a synch job has handled so far.
    async fn records_of(&self, job: Option<Uuid>) -> Result<Option<u64>> {
        let Some(id) = job else { return Ok(None) };
        Ok(self.store.job(id).await?.map(|j| {
            let c = j.counters;
            c.inserted + c.modified + c.deleted + c.unchanged + c.skipped + c.failed
        }))
    }

    /// Synchronizes modified records now: every enabled mapping in dependency order, or one.
    pub async fn sync_now(&self, req: SyncNowRequest) -> Result<Vec<PassReport>> {
        let engine = self.engine()?;
        Ok(match req.mapping {
            Some(m) => engine.run_mapping(&m, Mode::Incremental).await?,
            None => engine.sync_now().await?,
        })
    }
}

/// The Suite gate for a person's request (Run Full Synchronization, Start): refused with the
/// gate's message while the company does not use Suite, so no review line starts that would
/// only fail.
async fn refuse_when_paused(engine: &kontor_sync::engine::Engine) -> Result<()> {
    match engine.paused().await? {
        Some(message) => Err(kontor_sync::SyncError::Refused(message).into()),
        None => Ok(()),
    }
}
