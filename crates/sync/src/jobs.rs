//! The engine's background work on the `kontor-jobs` queue:
//!
//! - [`FULL_SYNC`]: one-off entry per mapping started from the full synchronization review, in
//!   dependency order — each finished entry starts the lines that now have their dependencies
//!   done (the review page is a DAG scheduler, as in Business Central).
//! - [`INCREMENTAL`]: one recurring entry per mapping (key = mapping name) reading both sides'
//!   change feeds; woken early by `Queue::wake(INCREMENTAL, …)` when a side signals a change.
//!
//! The queue survives restarts, so a full synchronization resumes where it stopped.

use std::sync::Arc;
use std::time::Duration;

use kontor_jobs::{Claimed, Handler, Handlers, JobError, NewJob, Outcome, Queue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::engine::{Engine, Mode};
use crate::error::SyncError;
use crate::mapping::Pass;
use crate::review::{self, QueueStatus, Recommendation, ReviewLine, Stage, TableCounts};
use crate::store::StoredReviewLine;

/// Job kind of a full synchronization of one mapping.
pub const FULL_SYNC: &str = "sync.full";
/// Job kind of the recurring incremental synchronization of one mapping.
pub const INCREMENTAL: &str = "sync.incremental";
/// Job kind of the daily clean-up of the synch job log (entries older than 7 days without
/// failures; failed ones are kept, as in Business Central).
pub const PRUNE: &str = "sync.prune";

/// (document mapping, its lines' mapping): the lines' passes run right after the document's in
/// its incremental entry (the lines have no entry of their own; a change of theirs wakes the
/// document's), so lines never wait a run for their document's coupling.
const CHILD_MAPPINGS: &[(&str, &str)] = &[("POSTEDSALESINV-INV", "POSTEDSALESLINE-INV")];

/// The document mapping whose entry runs the child mapping `name`, if it is one.
fn parent_of(name: &str) -> Option<&'static str> {
    CHILD_MAPPINGS.iter().find(|(_, c)| *c == name).map(|(p, _)| *p)
}

/// How long synch jobs without failures are kept.
pub const KEEP_JOBS_FOR: chrono::Duration = chrono::Duration::days(7);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MappingParams {
    mapping: String,
}

/// A [`FULL_SYNC`] job's parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FullSyncParams {
    mapping: String,
    /// Only the line's Sales → Financials pass (its first pass is done).
    #[serde(default)]
    from_pass: bool,
}

/// A step of the full synchronization review that one worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A line, from its first pass.
    Line(String),
    /// A line's Sales → Financials pass, after its Financials → Sales pass.
    FromPass(String),
}

impl Step {
    pub fn name(&self) -> &str {
        match self {
            Step::Line(n) | Step::FromPass(n) => n,
        }
    }
}

/// A review line with its derived job statuses, as the review page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewStatus {
    pub name: String,
    pub dependency_filter: String,
    pub direction: String,
    pub recommendation: String,
    pub job_queue_entry_status: String,
    pub to_int_table_job_status: String,
    pub from_int_table_job_status: String,
    pub to_int_table_job_id: Option<uuid::Uuid>,
    pub from_int_table_job_id: Option<uuid::Uuid>,
    /// The line waits for a line in Error (directly or through another waiting line): it will
    /// not go on until that line is run again ([`review::held_up`]).
    pub held_up: bool,
    /// The rows the To Int. Table pass reads (Financials' count when the review was built).
    #[serde(default)]
    pub to_int_table_total: Option<u64>,
    /// The rows the From Int. Table pass reads (Sales' count when the review was built).
    #[serde(default)]
    pub from_int_table_total: Option<u64>,
}

fn to_job_error(e: SyncError) -> JobError {
    if e.is_transient() {
        JobError::failed(e.to_string())
    } else {
        JobError::permanent(e.to_string())
    }
}

/// The error of a failed pass, naming the mapping and the direction ("CUSTOMER, Financials →
/// Sales: Sales refused the credentials: …"): the entry's last error and the worker's WARN line
/// say what failed where.
fn pass_failed(mapping: &str, pass: Pass, e: SyncError) -> JobError {
    let transient = e.is_transient();
    let message = format!("{mapping}, {} → {}: {e}", pass.source(), pass.destination());
    if transient { JobError::failed(message) } else { JobError::permanent(message) }
}

impl Engine {
    /// *Run Full Synchronization*: builds the review, one line per enabled mapping in dependency
    /// order with its recommendation (counting rows on both sides).
    pub async fn prepare_full_sync(&self) -> Result<Vec<ReviewLine>, SyncError> {
        let set = self.store.mappings().await?;
        let mut lines = Vec::new();
        let mut all_counts = Vec::new();
        for m in review::dependency_order(&set) {
            // Unit mappings compare against the number of Sales unit groups (domain-reference
            // §3.1), whatever their own Sales table.
            let sales_table = if m.recommendation == crate::mapping::RecommendationRule::UnitGroup {
                crate::connector::TableRef::new("uomschedules", "uomscheduleid")
            } else {
                m.sales.table_ref()
            };
            let counts = TableCounts {
                financials: self.financials.count(&m.financials.table_ref()).await?,
                sales: self.sales.count(&sales_table).await?,
            };
            all_counts.push((m.name.clone(), counts));
            lines.push(ReviewLine {
                name: m.name.clone(),
                dependency_filter: m.dependency_filter.clone(),
                direction: m.direction,
                recommendation: review::recommend(m, counts),
                queue_status: QueueStatus::NotStarted,
                stage: Stage::Start,
            });
        }
        self.store.replace_review(&lines, self.clock.now()).await?;
        for (name, counts) in &all_counts {
            let TableCounts { financials, sales } = counts;
            self.store.set_review_counts(name, *financials, *sales).await?;
        }
        Ok(lines)
    }

    /// *Start*: enqueues the steps of the review that can start now — lines whose dependencies
    /// are far enough ([`review::startable`]), and second passes whose dependencies finished
    /// ([`review::from_startable`]); lines with no records finish at once. Called again each time
    /// a full-sync job ends. Returns the names of the lines started or continued.
    pub async fn advance_full_sync(&self, queue: &Queue) -> Result<Vec<String>, SyncError> {
        let mut started = Vec::new();
        let steps = self.claim_full_sync_steps().await?;
        for (i, step) in steps.iter().enumerate() {
            let (name, from_pass) = match step {
                Step::Line(n) => (n, false),
                Step::FromPass(n) => (n, true),
            };
            let what = if from_pass { "Sales → Financials pass" } else { "synchronization" };
            let enqueued = queue
                .enqueue(
                    NewJob::new(FULL_SYNC, json!({ "mapping": name, "from_pass": from_pass }))
                        .description(format!("Full {what} of {name}"))
                        .max_attempts(3)
                        .rerun_delay(Duration::from_secs(30)),
                )
                .await;
            let id = match enqueued {
                Ok(id) => id,
                Err(e) => {
                    // Give this step and those not enqueued yet back, so the next advance
                    // starts them.
                    for s in &steps[i..] {
                        self.release_full_sync_step(s).await?;
                    }
                    return Err(SyncError::Store(e.to_string()));
                }
            };
            self.store.set_review_entry(name, &id.to_string()).await?;
            started.push(name.clone());
        }
        Ok(started)
    }

    /// Claims the steps of the review that can start now, each for this caller alone (several
    /// workers may advance the review at once: only the one that moves a line out of Not Started,
    /// or a second pass out of To Done, starts it — else a line could run twice and a late
    /// "Ready" overwrite its "Finished"). Lines with no records are finished on the way.
    pub async fn claim_full_sync_steps(&self) -> Result<Vec<Step>, SyncError> {
        let mut steps = Vec::new();
        loop {
            let lines: Vec<ReviewLine> =
                self.store.review().await?.into_iter().map(|l| l.line).collect();
            let mut finished_any = false;
            for l in review::startable(&lines) {
                let now = self.clock.now();
                if l.recommendation == Recommendation::NoRecordsFound {
                    finished_any |= self
                        .store
                        .claim_review_line(
                            &l.name,
                            QueueStatus::NotStarted,
                            QueueStatus::Finished,
                            now,
                        )
                        .await?;
                } else if self
                    .store
                    .claim_review_line(&l.name, QueueStatus::NotStarted, QueueStatus::Ready, now)
                    .await?
                {
                    steps.push(Step::Line(l.name.clone()));
                }
            }
            for l in review::from_startable(&lines) {
                if self.store.claim_review_stage(&l.name, Stage::ToDone, Stage::FromStarted).await?
                {
                    steps.push(Step::FromPass(l.name.clone()));
                }
            }
            if !finished_any {
                return Ok(steps);
            }
        }
    }

    /// Gives a claimed step back (its job could not be enqueued).
    async fn release_full_sync_step(&self, step: &Step) -> Result<(), SyncError> {
        match step {
            Step::Line(n) => {
                self.store
                    .claim_review_line(
                        n,
                        QueueStatus::Ready,
                        QueueStatus::NotStarted,
                        self.clock.now(),
                    )
                    .await?;
            }
            Step::FromPass(n) => {
                self.store.claim_review_stage(n, Stage::FromStarted, Stage::ToDone).await?;
            }
        }
        Ok(())
    }

    /// The review lines with their job statuses.
    pub async fn review_status(&self) -> Result<Vec<ReviewStatus>, SyncError> {
        self.review_status_inner(None).await
    }

    /// [`Engine::review_status`], checked against the job queue: a line still Ready or In
    /// Process whose entry has ended in Error shows Error. That happens when the entry's worker
    /// died on its last attempt: the queue takes the entry back as failed when the lease runs
    /// out, and no handler is left to tell the line, which would otherwise show In Process for
    /// ever (and `kontor sync full --wait` wait for it).
    pub async fn review_status_on(&self, queue: &Queue) -> Result<Vec<ReviewStatus>, SyncError> {
        self.review_status_inner(Some(queue)).await
    }

    async fn review_status_inner(
        &self,
        queue: Option<&Queue>,
    ) -> Result<Vec<ReviewStatus>, SyncError> {
        let mut out = Vec::new();
        let mut stored = self.store.review().await?;
        for StoredReviewLine { line, queue_entry_id, .. } in &mut stored {
            let open = matches!(line.queue_status, QueueStatus::Ready | QueueStatus::InProcess);
            let entry =
                queue_entry_id.as_ref().and_then(|id| id.parse::<kontor_jobs::JobId>().ok());
            if let (true, Some(queue), Some(entry)) = (open, queue, entry) {
                let entry = queue.get(entry).await.map_err(|e| SyncError::Store(e.to_string()))?;
                if entry.is_some_and(|e| e.status == kontor_jobs::Status::Error) {
                    line.queue_status = QueueStatus::Error;
                }
            }
        }
        let lines: Vec<ReviewLine> = stored.iter().map(|l| l.line.clone()).collect();
        let held: std::collections::HashSet<String> =
            review::held_up(&lines).into_iter().map(|l| l.name.clone()).collect();
        for StoredReviewLine {
            line, to_job_id, from_job_id, financials_count, sales_count, ..
        } in stored
        {
            let status = |job: Option<crate::store::SynchJob>| match job {
                None => review::JobStatus::None,
                // A pass that failed as a whole has its error as the job's message.
                Some(j) => review::JobStatus::derive(
                    true,
                    j.finished_at.is_some(),
                    j.counters.failed + u64::from(!j.message.is_empty()),
                ),
            };
            let to = match to_job_id {
                Some(id) => status(self.store.job(id).await?),
                None => review::JobStatus::None,
            };
            let from = match from_job_id {
                Some(id) => status(self.store.job(id).await?),
                None => review::JobStatus::None,
            };
            out.push(ReviewStatus {
                held_up: held.contains(&line.name),
                name: line.name,
                dependency_filter: line.dependency_filter,
                direction: line.direction.as_str().to_owned(),
                recommendation: line.recommendation.label().to_owned(),
                job_queue_entry_status: line.queue_status.as_str().to_owned(),
                to_int_table_job_status: to.as_str().to_owned(),
                from_int_table_job_status: from.as_str().to_owned(),
                to_int_table_job_id: to_job_id,
                from_int_table_job_id: from_job_id,
                to_int_table_total: financials_count,
                from_int_table_total: sales_count,
            });
        }
        Ok(out)
    }

    /// Runs the full synchronization of one review line, both passes, whatever the other lines
    /// do (reference data before a measurement, tests).
    pub async fn run_full_sync_line(&self, name: &str) -> Result<(), SyncError> {
        self.run_full_sync_passes(name, None).await
    }

    /// Runs a step of the review (the [`FULL_SYNC`] job's work): a line's first pass, or its
    /// Sales → Financials pass. A bidirectional line's step ends after its Financials → Sales
    /// pass (the line stays In Process, stage To Done), so that the next
    /// [`Engine::advance_full_sync`] can start the lines after it and, once the lines it depends
    /// on have finished, its own second pass.
    pub async fn run_full_sync_step(&self, step: &Step) -> Result<(), SyncError> {
        match step {
            Step::Line(n) => self.run_full_sync_passes(n, Some(Pass::ToSales)).await,
            Step::FromPass(n) => self.run_full_sync_passes(n, Some(Pass::ToFinancials)).await,
        }
    }

    /// Runs the line's passes, or only `only` of a bidirectional line.
    async fn run_full_sync_passes(&self, name: &str, only: Option<Pass>) -> Result<(), SyncError> {
        let set = self.store.mappings().await?;
        let mapping = set
            .get(name)
            .ok_or_else(|| SyncError::NotFound(format!("integration table mapping {name}")))?
            .clone();
        self.store.set_review_status(name, QueueStatus::InProcess, None, self.clock.now()).await?;
        let passes = mapping.direction.passes();
        let both = passes.len() == 2;
        for pass in passes {
            if both && only.is_some_and(|p| p != pass) {
                continue;
            }
            let (job_id, report) = self.run_pass_job(&set, &mapping, pass, Mode::Full).await;
            // The line names its pass's job whether the pass succeeded or failed as a whole
            // (the job's message then says why).
            if let Some(id) = job_id {
                match pass {
                    Pass::ToSales => self.store.set_review_job(name, Some(id), None).await?,
                    Pass::ToFinancials => self.store.set_review_job(name, None, Some(id)).await?,
                }
            }
            if let Err(e) = report {
                let status = if e.is_transient() { QueueStatus::Ready } else { QueueStatus::Error };
                self.store.set_review_status(name, status, None, self.clock.now()).await?;
                return Err(e);
            }
            if both && pass == Pass::ToSales {
                // Lines after this one may now send their records to Sales.
                self.store.claim_review_stage(name, Stage::Start, Stage::ToDone).await?;
                if only.is_some() {
                    return Ok(());
                }
                self.store.claim_review_stage(name, Stage::ToDone, Stage::FromStarted).await?;
            }
        }
        self.store.set_review_status(name, QueueStatus::Finished, None, self.clock.now()).await?;
        Ok(())
    }

    /// Makes sure every enabled mapping has its recurring incremental entry (and the synch job
    /// log its daily clean-up).
    pub async fn schedule_incremental(
        &self,
        queue: &Queue,
        every: Duration,
    ) -> Result<(), SyncError> {
        queue
            .ensure_recurring(
                NewJob::recurring(PRUNE, "synch-jobs", json!({}), Duration::from_secs(24 * 3600))
                    .description(
                        "Delete integration synch. jobs older than 7 days without failures",
                    ),
            )
            .await
            .map_err(|e| SyncError::Store(e.to_string()))?;
        let set = self.store.mappings().await?;
        // A child mapping runs in its document's entry, not in one of its own.
        for m in set.mappings.iter().filter(|m| m.enabled && parent_of(&m.name).is_none()) {
            queue
                .ensure_recurring(
                    NewJob::recurring(INCREMENTAL, &m.name, json!({ "mapping": m.name }), every)
                        .description(format!("Incremental synchronization of {}", m.name))
                        .max_attempts(10)
                        .rerun_delay(Duration::from_secs(30)),
                )
                .await
                .map_err(|e| SyncError::Store(e.to_string()))?;
        }
        Ok(())
    }
}

impl Engine {
    /// Looks at each enabled mapping's change feeds (one small delta read per mapping and source
    /// side, nothing stored) and wakes the incremental entries of mappings with changes. Returns
    /// the mappings woken. Run it every second or so: a change reaches the other side well
    /// within two seconds, and an idle system costs one request per feed per interval.
    pub async fn watch_once(&self, queue: &Queue) -> Result<Vec<String>, SyncError> {
        let set = self.store.mappings().await?;
        let mut woken = Vec::new();
        for m in set.mappings.iter().filter(|m| m.enabled) {
            if m.name == crate::orders::ORDERS && self.sales_orders_changed().await? {
                queue
                    .wake(INCREMENTAL, Some(&m.name))
                    .await
                    .map_err(|e| SyncError::Store(e.to_string()))?;
                woken.push(m.name.clone());
                continue;
            }
            for pass in m.direction.passes() {
                let side = pass.source();
                let Some(token) = self.store.watermark(&m.name, side).await? else { continue };
                let page = self
                    .connector(side)
                    .read(&m.side(side).table_ref(), &crate::connector::Cursor::Delta(token), 1)
                    .await?;
                if !page.changes.is_empty() {
                    queue
                        .wake(INCREMENTAL, Some(parent_of(&m.name).unwrap_or(&m.name)))
                        .await
                        .map_err(|e| SyncError::Store(e.to_string()))?;
                    woken.push(m.name.clone());
                    break;
                }
            }
        }
        Ok(woken)
    }

    /// [`Engine::watch_once`] every `interval` until `shutdown` completes; errors are logged.
    pub async fn watch(
        &self,
        queue: &Queue,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.watch_once(queue).await {
                tracing::warn!(error = %e, "Watching the change feeds failed.");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// The engine a process currently runs with, shared by its API routes, workers and watcher:
/// replaced when the connection is set up again (new URLs or credentials), so jobs started after
/// that use the new connectors while jobs in flight finish with the old ones. Empty until the
/// connection is set up.
#[derive(Clone, Default)]
pub struct EngineSlot(Arc<std::sync::RwLock<Option<Arc<Engine>>>>);

impl EngineSlot {
    pub fn new() -> EngineSlot {
        EngineSlot::default()
    }
    /// A slot holding `engine`.
    pub fn with(engine: Arc<Engine>) -> EngineSlot {
        let slot = EngineSlot::new();
        slot.set(engine);
        slot
    }
    /// Installs (or replaces) the engine.
    pub fn set(&self, engine: Arc<Engine>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(engine);
    }
    /// Removes the engine (the connection was disabled): jobs wait until one is installed.
    pub fn clear(&self) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
    /// The current engine, if the connection is set up.
    pub fn get(&self) -> Option<Arc<Engine>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn for_job(&self) -> Result<Arc<Engine>, JobError> {
        self.get().ok_or_else(|| {
            JobError::failed("The connection to Sales is not set up yet; the job runs again later.")
        })
    }
    /// [`Engine::watch_once`] with the current engine every `interval` until `shutdown`
    /// completes; errors are logged.
    pub async fn watch(
        &self,
        queue: &Queue,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut failing = false;
        let mut paused = false;
        loop {
            if let Some(engine) = self.get() {
                // The Suite gate: while paused, nothing is woken; once lifted, the paused
                // entries run at once (their backoff may have grown long meanwhile).
                match (engine.paused().await, paused) {
                    (Ok(Some(reason)), false) => {
                        tracing::warn!(%reason, "Synchronization is paused.");
                        paused = true;
                    }
                    (Ok(None), true) => {
                        paused = false;
                        match queue.retry_failing_now(Some(INCREMENTAL)).await {
                            Ok(n) => tracing::info!(
                                entries = n,
                                "The company uses Suite again; synchronization resumes."
                            ),
                            Err(e) => tracing::warn!(error = %e,
                                "Could not restart the paused synchronizations."),
                        }
                    }
                    _ => {}
                }
                if paused {
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(interval) => {}
                    }
                    continue;
                }
                match engine.watch_once(queue).await {
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "Watching the change feeds failed.");
                        }
                        failing = true;
                    }
                    Ok(_) if failing => {
                        failing = false;
                        // Both sides answer again: what failed meanwhile runs now.
                        match queue.retry_failing_now(Some(INCREMENTAL)).await {
                            Ok(n) => tracing::info!(
                                entries = n,
                                "The change feeds answer again; failing synchronizations run now."
                            ),
                            Err(e) => tracing::warn!(error = %e,
                                "Could not restart the failing synchronizations."),
                        }
                    }
                    Ok(_) => {}
                }
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

struct FullSyncHandler {
    engine: EngineSlot,
    queue: Queue,
}

impl Handler for FullSyncHandler {
    async fn run(&self, job: &Claimed) -> Result<Outcome, JobError> {
        crate::engine::in_queue_run(job.run_id, self.run_in(job)).await
    }
}

impl FullSyncHandler {
    async fn run_in(&self, job: &Claimed) -> Result<Outcome, JobError> {
        let p: FullSyncParams = job.params_as()?;
        let engine = self.engine.for_job()?;
        let step = if p.from_pass { Step::FromPass(p.mapping) } else { Step::Line(p.mapping) };
        let res = engine.run_full_sync_step(&step).await;
        // Whatever happened, lines whose dependencies are now done can start.
        engine.advance_full_sync(&self.queue).await.map_err(to_job_error)?;
        res.map_err(to_job_error)?;
        Ok(Outcome::Finished)
    }
}

struct IncrementalHandler {
    engine: EngineSlot,
}

impl Handler for IncrementalHandler {
    async fn run(&self, job: &Claimed) -> Result<Outcome, JobError> {
        crate::engine::in_queue_run(job.run_id, self.run_in(job)).await
    }
}

impl IncrementalHandler {
    async fn run_in(&self, job: &Claimed) -> Result<Outcome, JobError> {
        let p: MappingParams = job.params_as()?;
        let engine = self.engine.for_job()?;
        // The Suite gate: a company switched to Essential pauses every synchronization (the run
        // fails with the reason, kept as the entry's last error; the watcher restarts the
        // entries once the company is Suite again).
        if let Some(reason) = engine.paused().await.map_err(to_job_error)? {
            return Err(JobError::failed(reason));
        }
        // While the mapping's full synchronization runs, its incremental runs wait.
        let review = engine.store.review().await.map_err(to_job_error)?;
        if review.iter().any(|l| {
            l.line.name == p.mapping
                && matches!(l.line.queue_status, QueueStatus::Ready | QueueStatus::InProcess)
        }) {
            return Ok(Outcome::Idle);
        }
        let set = engine.store.mappings().await.map_err(to_job_error)?;
        let mapping = set
            .get(&p.mapping)
            .ok_or_else(|| {
                to_job_error(SyncError::NotFound(format!(
                    "integration table mapping {}",
                    p.mapping
                )))
            })?
            .clone();
        let mut idle = true;
        if mapping.name == crate::orders::ORDERS {
            // Orders submitted in Sales first, then the posted ones settled, then the passes.
            let received = engine
                .receive_sales_orders()
                .await
                .map_err(|e| pass_failed(&mapping.name, Pass::ToFinancials, e))?;
            let settled = engine
                .settle_posted_orders()
                .await
                .map_err(|e| pass_failed(&mapping.name, Pass::ToSales, e))?;
            idle &= received.is_idle() && settled == 0;
        }
        for pass in mapping.direction.passes() {
            let report = engine
                .run_pass(&set, &mapping, pass, Mode::Incremental)
                .await
                .map_err(|e| pass_failed(&mapping.name, pass, e))?;
            idle &= report.counters.is_idle();
        }
        // A document's lines follow it in the same run (Business Central's child mappings).
        for (parent, child) in CHILD_MAPPINGS {
            if *parent != mapping.name {
                continue;
            }
            let Some(child) = set.get(child).filter(|c| c.enabled) else { continue };
            for pass in child.direction.passes() {
                let report = engine
                    .run_pass(&set, child, pass, Mode::Incremental)
                    .await
                    .map_err(|e| pass_failed(&child.name, pass, e))?;
                idle &= report.counters.is_idle();
            }
        }
        Ok(if idle { Outcome::Idle } else { Outcome::Finished })
    }
}

struct PruneHandler {
    engine: EngineSlot,
}

impl Handler for PruneHandler {
    async fn run(&self, _job: &Claimed) -> Result<Outcome, JobError> {
        let engine = self.engine.for_job()?;
        let before = engine.clock.now() - KEEP_JOBS_FOR;
        let n = engine.store.prune_jobs(before).await.map_err(to_job_error)?;
        Ok(if n == 0 { Outcome::Idle } else { Outcome::Finished })
    }
}

/// The handlers a worker registers to run the engine's jobs.
pub fn handlers(engine: Arc<Engine>, queue: Queue) -> Handlers {
    handlers_for(EngineSlot::with(engine), queue)
}

/// The handlers, running each job with the slot's engine of the moment (see [`EngineSlot`]).
pub fn handlers_for(slot: EngineSlot, queue: Queue) -> Handlers {
    Handlers::new()
        .register(FULL_SYNC, FullSyncHandler { engine: slot.clone(), queue })
        .register(INCREMENTAL, IncrementalHandler { engine: slot.clone() })
        .register(PRUNE, PruneHandler { engine: slot })
}
