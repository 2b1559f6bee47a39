//! The engine: runs a mapping's passes page by page — read a page of the source's change feed,
//! load the couplings and coupled destination rows for the whole page (one query, one request),
//! plan, write one batch, record couplings and last synced values in one transaction — and keeps
//! the synch job's counters and errors. While one page is planned and written the next is
//! already being read.
//!
//! Idempotent: created records get deterministic keys, so a crash between the write and the
//! coupling record is repaired on the next run (the row is found at its key and coupled).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kontor_jobs::Clock;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::connector::{
    Change, ChangePage, Connector, Cursor, Row, Side, WriteBatch, WriteOp, WriteOutcome,
};
use crate::error::SyncError;
use crate::ids::target_id;
use crate::mapping::{MappingSet, Pass, TableMapping};
use crate::page::{self, PageOutcome, WrittenPage};
use crate::plan::{self, Action, Counters, LookupTable, Lookups, Operation, PlanInput};
use crate::store::{ConnectionSettings, SyncStore};

/// Full read (create uncoupled records, match-based coupling) or changes since the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    Full,
    Incremental,
}

/// The result of one pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassReport {
    pub mapping: String,
    pub pass: Pass,
    pub job_id: Uuid,
    pub counters: Counters,
}

/// Tuning.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Rows per page read (`odata.maxpagesize`).
    pub page_size: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { page_size: 500 }
    }
}

/// How many waiting changes [`Engine::lag`] looks at per mapping and pass (the oldest first).
pub const LAG_PAGE: usize = 100;

/// One mapping and pass's lag (see [`Engine::lag`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lag {
    pub mapping: String,
    pub pass: Pass,
    /// The age of the oldest change not yet synchronized, in seconds (0 when none waits).
    pub seconds: f64,
}

/// The engine for one connection.
#[derive(Clone)]
pub struct Engine {
    pub store: SyncStore,
    pub financials: Arc<dyn Connector>,
    pub sales: Arc<dyn Connector>,
    pub settings: ConnectionSettings,
    pub clock: Arc<dyn Clock>,
    pub options: EngineOptions,
    /// One run of the sales orders received from Sales at a time in this process (a recurring
    /// entry and *Synchronize Modified Records* would otherwise write the same order twice).
    pub(crate) orders_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Engine {
    pub fn new(
        store: SyncStore,
        financials: Arc<dyn Connector>,
        sales: Arc<dyn Connector>,
        settings: ConnectionSettings,
        clock: Arc<dyn Clock>,
    ) -> Engine {
        Engine {
            store,
            financials,
            sales,
            settings,
            clock,
            options: EngineOptions::default(),
            orders_lock: Arc::default(),
        }
    }

    /// The Suite gate: why synchronization is paused now (the Financials company does not use
    /// the Suite experience), or `None` when it may run. One small read of the company.
    pub async fn paused(&self) -> Result<Option<String>, SyncError> {
        let experience = self.financials.experience().await?;
        Ok(experience
            .filter(|e| !e.eq_ignore_ascii_case("Suite"))
            .map(|e| crate::setup::paused_message(&e, self.settings.company_id)))
    }

    pub fn connector(&self, side: Side) -> &Arc<dyn Connector> {
        match side {
            Side::Financials => &self.financials,
            Side::Sales => &self.sales,
        }
    }

    /// The integration's lag per enabled mapping and pass: the age, in seconds, of the oldest
    /// change on the pass's source side that is not synchronized yet (0 when none waits). Per
    /// mapping and pass: one read of the change feed from the watermark (a page of at most
    /// [`LAG_PAGE`] changes, the oldest first) and, when changes wait, one read of their last
    /// modification times. The integration user's own writes (echoes) and deletions (which
    /// carry no time) are not counted. A pass without a watermark yet (its first full
    /// synchronization has not read the source) is left out.
    pub async fn lag(&self) -> Result<Vec<Lag>, SyncError> {
        let set = self.store.mappings().await?;
        let now = self.clock.now();
        let mut out = Vec::new();
        for m in set.mappings.iter().filter(|m| m.enabled) {
            for pass in m.direction.passes() {
                let src = pass.source();
                let Some(token) = self.store.watermark(&m.name, src).await? else { continue };
                let conn = self.connector(src);
                let table = m.side(src).table_ref();
                let page = conn.read(&table, &Cursor::Delta(token), LAG_PAGE).await?;
                let user = self.integration_user(src);
                let waiting: Vec<Uuid> = page
                    .changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::Upsert(r)
                            if user.is_none_or(|u| r.modified_by(src).as_deref() != Some(u)) =>
                        {
                            Some(r.id)
                        }
                        _ => None,
                    })
                    .collect();
                let mut oldest: Option<chrono::DateTime<chrono::Utc>> = None;
                if !waiting.is_empty() {
                    let at = crate::connector::modified_at_field(src);
                    let rows = conn.get(&table.selecting([at]), &waiting).await?;
                    for r in rows {
                        let t = r
                            .fields
                            .get(at)
                            .and_then(serde_json::Value::as_str)
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                            .map(|t| t.with_timezone(&chrono::Utc));
                        if let Some(t) = t {
                            oldest = Some(oldest.map_or(t, |o| o.min(t)));
                        }
                    }
                }
                let seconds = oldest
                    .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                out.push(Lag { mapping: m.name.clone(), pass, seconds });
            }
        }
        Ok(out)
    }

    fn integration_user(&self, side: Side) -> Option<&str> {
        match side {
            Side::Financials => self.settings.financials_user_id.as_deref(),
            Side::Sales => self.settings.sales_user_id.as_deref(),
        }
    }

    /// Runs every pass of one mapping (Financials → Sales first).
    pub async fn run_mapping(&self, name: &str, mode: Mode) -> Result<Vec<PassReport>, SyncError> {
        let set = self.store.mappings().await?;
        let mapping = set
            .get(name)
            .ok_or_else(|| SyncError::NotFound(format!("integration table mapping {name}")))?
            .clone();
        let mut out = Vec::new();
        for pass in mapping.direction.passes() {
            out.push(self.run_pass(&set, &mapping, pass, mode).await?);
        }
        Ok(out)
    }

    /// Synchronize Modified Records: an incremental run of every enabled mapping in dependency order.
    pub async fn sync_now(&self) -> Result<Vec<PassReport>, SyncError> {
        let set = self.store.mappings().await?;
        let mut out = Vec::new();
        for m in crate::review::dependency_order(&set) {
            if m.name == crate::orders::ORDERS {
                self.receive_sales_orders().await?;
                self.settle_posted_orders().await?;
            }
            for pass in m.direction.passes() {
                out.push(self.run_pass(&set, m, pass, Mode::Incremental).await?);
            }
        }
        Ok(out)
    }

    /// *Couple* by hand: couples the Financials record `financials_id` to the Sales record
    /// `sales_id` under `name`, once both are read back from their sides; a record that does not
    /// exist is refused, naming it.
    pub async fn couple_records(
        &self,
        name: &str,
        financials_id: Uuid,
        sales_id: Uuid,
    ) -> Result<(), SyncError> {
        let mapping = self.store.mapping(name).await?;
        let fin = self
            .financials
            .get(
                &mapping.financials.table_ref().selecting([&mapping.financials.key]),
                &[financials_id],
            )
            .await?;
        let sales = self
            .sales
            .get(&mapping.sales.table_ref().selecting([&mapping.sales.key]), &[sales_id])
            .await?;
        let missing: Vec<String> = [
            (
                fin.iter().any(|r| r.id == financials_id),
                "Financials",
                &mapping.financials,
                financials_id,
            ),
            (sales.iter().any(|r| r.id == sales_id), "Sales", &mapping.sales, sales_id),
        ]
        .into_iter()
        .filter(|(found, ..)| !found)
        .map(|(_, side, t, id)| {
            format!("the {} {id} does not exist in {side} ({})", t.caption, t.set)
        })
        .collect();
        if !missing.is_empty() {
            return Err(SyncError::Refused(format!(
                "Cannot couple under {name}: {}.",
                missing.join(", and ")
            )));
        }
        self.store.couple(name, financials_id, sales_id, self.clock.now()).await
    }

    /// *Find for Deleted*: removes the couplings of `mapping` whose Financials or Sales record no
    /// longer exists (reading both sides by key, in chunks). Returns how many were removed.
    pub async fn clean_deleted_couplings(&self, name: &str) -> Result<u64, SyncError> {
        let mapping = self.store.mapping(name).await?;
        let pairs = self.store.coupling_pairs(name).await?;
        let mut removed = 0;
        for chunk in pairs.chunks(500) {
            let fin_ids: Vec<Uuid> = chunk.iter().map(|p| p.0).collect();
            let sales_ids: Vec<Uuid> = chunk.iter().map(|p| p.1).collect();
            let fin: HashSet<Uuid> = self
                .financials
                .get(&mapping.financials.table_ref().selecting([&mapping.financials.key]), &fin_ids)
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect();
            let sales: HashSet<Uuid> = self
                .sales
                .get(&mapping.sales.table_ref().selecting([&mapping.sales.key]), &sales_ids)
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect();
            for (f, s) in chunk {
                if !fin.contains(f) || !sales.contains(s) {
                    self.store.uncouple(name, Side::Financials, *f).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Builds the lookup tables the fields of `pass` need.
    pub(crate) async fn lookups(
        &self,
        set: &MappingSet,
        mapping: &TableMapping,
        pass: Pass,
    ) -> Result<Lookups, SyncError> {
        let mut out = Lookups::default();
        let mut done = HashSet::new();
        for f in mapping.fields.iter().filter(|f| f.applies_to(pass)) {
            let Some(l) = &f.lookup else { continue };
            if !done.insert((l.mapping.clone(), l.financials_key.clone())) {
                continue;
            }
            let Some(target) = set.get(&l.mapping) else { continue };
            let mut table = LookupTable::new(target);
            let pairs: HashMap<Uuid, Uuid> =
                self.store.coupling_pairs(&l.mapping).await?.into_iter().collect();
            if l.financials_key == target.financials.key {
                for (f, s) in &pairs {
                    table.add(serde_json::Value::String(f.to_string()), Some(*s));
                }
            } else {
                // Only the key and the looked-up field are needed.
                let t = target.financials.table_ref().selecting([l.financials_key.as_str()]);
                let mut cursor = Cursor::Start;
                loop {
                    let page = self.financials.read(&t, &cursor, 5000).await?;
                    for c in page.changes {
                        if let Change::Upsert(r) = c {
                            let key = r.fields.get(&l.financials_key).cloned().unwrap_or_default();
                            table.add(key, pairs.get(&r.id).copied());
                        }
                    }
                    match page.next {
                        Some(n) => cursor = Cursor::Next(n),
                        None => break,
                    }
                }
            }
            out.insert(&l.mapping, &l.financials_key, table);
        }
        Ok(out)
    }

    /// Destination match index: match key → uncoupled destination id (`None` when ambiguous).
    async fn match_index(
        &self,
        mapping: &TableMapping,
        pass: Pass,
    ) -> Result<HashMap<String, Option<Uuid>>, SyncError> {
        let dst = pass.destination();
        let coupled: HashSet<Uuid> = self
            .store
            .coupling_pairs(&mapping.name)
            .await?
            .into_iter()
            .map(|(f, s)| if dst == Side::Financials { f } else { s })
            .collect();
        let filter = mapping.side(dst).filter.as_ref();
        let t = mapping.side(dst).table_ref().selecting(mapping.read_fields(dst));
        let mut index: HashMap<String, Option<Uuid>> = HashMap::new();
        let mut cursor = Cursor::Start;
        loop {
            let page = self.connector(dst).read(&t, &cursor, 5000).await?;
            for c in page.changes {
                let Change::Upsert(r) = c else { continue };
                if coupled.contains(&r.id) || !crate::filter::matches(filter, &r.fields) {
                    continue;
                }
                if let Some(k) = plan::destination_match_key(mapping, pass, &r.fields) {
                    index.entry(k).and_modify(|v| *v = None).or_insert(Some(r.id));
                }
            }
            match page.next {
                Some(n) => cursor = Cursor::Next(n),
                None => break,
            }
        }
        Ok(index)
    }

    /// Runs one pass of a mapping as one Integration Synch. Job.
    pub async fn run_pass(
        &self,
        set: &MappingSet,
        mapping: &TableMapping,
        pass: Pass,
        mode: Mode,
    ) -> Result<PassReport, SyncError> {
        self.run_pass_job(set, mapping, pass, mode).await.1
    }

    /// [`Engine::run_pass`], also naming its synch job when it got as far as starting one (a
    /// pass that fails as a whole leaves a job with the error as its message).
    pub async fn run_pass_job(
        &self,
        set: &MappingSet,
        mapping: &TableMapping,
        pass: Pass,
        mode: Mode,
    ) -> (Option<Uuid>, Result<PassReport, SyncError>) {
        let run = current_queue_run();
        // Jobs left unfinished by a dead run are closed first; this job says which of them (its
        // own mapping and pass) it resumes.
        let closed = match self.store.close_interrupted_jobs(self.clock.now()).await {
            Ok(closed) => closed,
            Err(e) => return (None, Err(e)),
        };
        let mut resumes = Vec::new();
        for (id, m, d) in closed {
            tracing::warn!(mapping = %m, direction = %d, interrupted_job = %id,
                "Closed an Integration Synch. Job whose worker stopped before it finished.");
            if m == mapping.name && d == pass.as_str() {
                resumes.push(id);
            }
        }
        let job_id = match self
            .store
            .start_job_in_run(
                &mapping.name,
                pass.as_str(),
                "Synchronization",
                run,
                &resumes,
                self.clock.now(),
            )
            .await
        {
            Ok(id) => id,
            Err(e) => return (None, Err(e)),
        };
        (Some(job_id), self.finish_pass(set, mapping, pass, mode, job_id, &resumes).await)
    }

    async fn finish_pass(
        &self,
        set: &MappingSet,
        mapping: &TableMapping,
        pass: Pass,
        mode: Mode,
        job_id: Uuid,
        resumes: &[Uuid],
    ) -> Result<PassReport, SyncError> {
        let src = pass.source();
        let res = if mapping.is_option_set() {
            crate::options::run(self, mapping, pass, mode, job_id).await
        } else {
            self.run_pass_inner(set, mapping, pass, mode, job_id).await
        };
        if let Ok(c) = &res
            && mode == Mode::Incremental
            && *c == Counters::default()
            && resumes.is_empty()
        {
            // An idle incremental run leaves no synch job behind (recurring runs would flood the log).
            self.store.delete_job(job_id).await?;
            return Ok(PassReport { mapping: mapping.name.clone(), pass, job_id, counters: *c });
        }
        let message = match &res {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        self.store.finish_job(job_id, &message, self.clock.now()).await?;
        let counters = res?;
        record_metrics(&mapping.name, pass, &counters);
        tracing::info!(mapping = %mapping.name, pass = pass.as_str(), source = %src, ?counters, "Synchronization pass finished.");
        Ok(PassReport { mapping: mapping.name.clone(), pass, job_id, counters })
    }

    async fn run_pass_inner(
        &self,
        set: &MappingSet,
        mapping: &TableMapping,
        pass: Pass,
        mode: Mode,
        job_id: Uuid,
    ) -> Result<Counters, SyncError> {
        let src = pass.source();
        let src_conn = self.connector(src);
        let mut total = Counters::default();
        let mut ctx = PageContext {
            set,
            mapping,
            pass,
            full: mode == Mode::Full,
            lookups: None,
            job_id,
            match_index: None,
            fresh_destination: false,
            ignore_base: false,
        };

        // Failed, not skipped records are retried first.
        let failed = self.store.failed_unskipped(&mapping.name, src).await?;
        if !failed.is_empty() {
            let t = mapping.side(src).table_ref().selecting(mapping.read_fields(src));
            let rows = src_conn.get(&t, &failed).await?;
            let found: HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
            let mut changes: Vec<Change> = rows.into_iter().map(Change::Upsert).collect();
            changes.extend(
                failed.iter().filter(|id| !found.contains(id)).map(|id| Change::Deleted(*id)),
            );
            ctx.full = true;
            let res = self.process_page(&mut ctx, changes).await;
            ctx.full = mode == Mode::Full;
            total.add(&res?);
        }

        if mode == Mode::Full {
            let dst = pass.destination();
            ctx.fresh_destination =
                self.connector(dst).count(&mapping.side(dst).table_ref()).await? == 0;
        }
        let table = mapping.side(src).table_ref().selecting(mapping.read_fields(src));
        let mut cursor = match mode {
            Mode::Full => Cursor::Start,
            Mode::Incremental => match self.store.watermark(&mapping.name, src).await? {
                Some(t) => Cursor::Delta(t),
                None => Cursor::Start,
            },
        };
        let page_size = self.options.page_size;
        let mut page: ChangePage = match src_conn.read(&table, &cursor, page_size).await {
            Ok(p) => p,
            Err(crate::connector::ConnectorError::TokenExpired { .. }) => {
                cursor = Cursor::Start;
                src_conn.read(&table, &cursor, page_size).await?
            }
            Err(e) => return Err(e.into()),
        };
        // Four pages in flight: page N is recorded while N+1 is written, N+2 planned and N+3
        // read. A page that shares a record with one not yet recorded waits until it is (its
        // couplings and skip state must be read after that).
        let mut recording: Option<Written> = None;
        let mut writing: Option<Prepared> = None;
        loop {
            let next_cursor = page.next.clone().map(Cursor::Next);
            let changes = std::mem::take(&mut page.changes);
            let page_ids: HashSet<Uuid> = changes.iter().map(Change::id).collect();
            let mut pending = recording.iter().map(|w| &w.page).chain(writing.iter());
            if pending.any(|p| p.ids.iter().any(|id| page_ids.contains(id))) {
                total.add(&self.drain(mapping, pass, job_id, &mut recording, &mut writing).await?);
            }
            let record = async {
                match recording.take() {
                    Some(w) => self.record(mapping, pass, job_id, w).await.map(Some),
                    None => Ok(None),
                }
            };
            let write = async {
                match writing.take() {
                    Some(p) => self.write_page(mapping, pass, p).await.map(Some),
                    None => Ok(None),
                }
            };
            let read_next = async {
                match &next_cursor {
                    Some(c) => Some(src_conn.read(&table, c, page_size).await),
                    None => None,
                }
            };
            let (recorded, written, prepared, next) =
                tokio::join!(record, write, self.prepare_page(&mut ctx, changes), read_next);
            if let Some(c) = recorded? {
                total.add(&c);
            }
            recording = written?;
            writing = Some(prepared?);
            match next {
                Some(n) => page = n?,
                None => {
                    total.add(
                        &self.drain(mapping, pass, job_id, &mut recording, &mut writing).await?,
                    );
                    if let Some(delta) = &page.delta {
                        self.store
                            .set_watermark(&mapping.name, src, delta, self.clock.now())
                            .await?;
                    }
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Records the page written last, then writes and records the page planned last.
    async fn drain(
        &self,
        mapping: &TableMapping,
        pass: Pass,
        job_id: Uuid,
        recording: &mut Option<Written>,
        writing: &mut Option<Prepared>,
    ) -> Result<Counters, SyncError> {
        let mut total = Counters::default();
        if let Some(w) = recording.take() {
            total.add(&self.record(mapping, pass, job_id, w).await?);
        }
        if let Some(p) = writing.take() {
            total.add(&self.apply(mapping, pass, job_id, p).await?);
        }
        Ok(total)
    }

    /// Plans a page and writes it.
    pub(crate) async fn process_page(
        &self,
        ctx: &mut PageContext<'_>,
        changes: Vec<Change>,
    ) -> Result<Counters, SyncError> {
        let (mapping, pass, job_id) = (ctx.mapping, ctx.pass, ctx.job_id);
        let prepared = self.prepare_page(ctx, changes).await?;
        self.apply(mapping, pass, job_id, prepared).await
    }

    /// Reads what a page needs (couplings, skip state, destination rows) and plans it.
    async fn prepare_page(
        &self,
        ctx: &mut PageContext<'_>,
        changes: Vec<Change>,
    ) -> Result<Prepared, SyncError> {
        if changes.is_empty() {
            return Ok(Prepared::default());
        }
        let mapping = ctx.mapping;
        let pass = ctx.pass;
        let (src, dst) = (pass.source(), pass.destination());
        let ids: Vec<Uuid> = changes.iter().map(Change::id).collect();
        let mut couplings = self.store.couplings_for(&mapping.name, src, &ids).await?;
        if ctx.ignore_base {
            // Planned as freshly coupled: the source's value goes over every field that differs.
            for c in &mut couplings {
                c.base = None;
            }
        }
        // Coupled rows still at their last synced values need nothing: counted unchanged
        // without reading their destination rows.
        let quiet =
            page::quiet_rows(mapping, pass, &changes, &couplings, self.integration_user(src));
        let changes: Vec<Change> = if quiet.is_empty() {
            changes
        } else {
            changes.into_iter().filter(|c| !quiet.contains(&c.id())).collect()
        };
        let couplings: Vec<plan::Coupling> = if quiet.is_empty() {
            couplings
        } else {
            couplings.into_iter().filter(|c| !quiet.contains(&c.id(src))).collect()
        };
        if changes.is_empty() {
            return Ok(Prepared { couplings, ids, ops: vec![], quiet: quiet.len() as u64 });
        }
        // Lookup tables are built once per pass, when the first rows that need planning arrive.
        if ctx.lookups.is_none() {
            ctx.lookups = Some(self.lookups(ctx.set, mapping, pass).await?);
        }
        let lookups = ctx.lookups.as_ref().expect("just built");
        let skipped = self.store.skipped(&mapping.name, src, &ids).await?;
        let coupled_src: HashSet<Uuid> = couplings.iter().map(|c| c.id(src)).collect();

        // Destination rows: coupled ones and those at deterministic ids (crash repair), one request.
        let mut want: Vec<Uuid> = couplings.iter().map(|c| c.id(dst)).collect();
        // Uncoupled rows outside the source's table filter are left alone: nothing to read.
        let src_filter = mapping.side(src).filter.as_ref();
        let uncoupled: Vec<&Row> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Upsert(r)
                    if !coupled_src.contains(&r.id)
                        && crate::filter::matches(src_filter, &r.fields) =>
                {
                    Some(r)
                }
                _ => None,
            })
            .collect();
        // A destination that was empty when the pass began holds no row at a deterministic id
        // but those this pass wrote, and those belong to rows already coupled.
        if !ctx.fresh_destination {
            want.extend(uncoupled.iter().map(|r| target_id(self.settings.id, &mapping.name, r.id)));
        }

        // Match-based coupling for uncoupled rows in a full sync.
        let mut matches = HashMap::new();
        if ctx.full && !uncoupled.is_empty() && plan::has_match_fields(mapping, pass) {
            if ctx.match_index.is_none() {
                ctx.match_index = Some(self.match_index(mapping, pass).await?);
            }
            let index = ctx.match_index.as_mut().expect("just built");
            for r in &uncoupled {
                if let Some(k) = plan::source_match_key(mapping, pass, lookups, &r.fields)
                    && let Some(Some(t)) = index.get(&k)
                {
                    matches.insert(r.id, *t);
                    want.push(*t);
                    // One destination record matches one source record.
                    index.remove(&k);
                }
            }
        }
        want.sort();
        want.dedup();
        let dst_table = mapping.side(dst).table_ref().selecting(mapping.read_fields(dst));
        let destination = if want.is_empty() {
            vec![]
        } else {
            self.connector(dst).get(&dst_table, &want).await?
        };

        let ops = plan::plan(PlanInput {
            connection_id: self.settings.id,
            mapping,
            pass,
            full_sync: ctx.full,
            integration_user: self.integration_user(src),
            changes: &changes,
            couplings: &couplings,
            destination: &destination,
            matches: &matches,
            skipped: &skipped,
            lookups,
        });
        Ok(Prepared { couplings, ids, ops, quiet: quiet.len() as u64 })
    }

    /// Writes a planned page (one batch per side) and records its outcome.
    async fn apply(
        &self,
        mapping: &TableMapping,
        pass: Pass,
        job_id: Uuid,
        page: Prepared,
    ) -> Result<Counters, SyncError> {
        let written = self.write_page(mapping, pass, page).await?;
        self.record(mapping, pass, job_id, written).await
    }

    /// Writes a planned page: one batch per side; notes which operations failed.
    async fn write_page(
        &self,
        mapping: &TableMapping,
        pass: Pass,
        page: Prepared,
    ) -> Result<Written, SyncError> {
        let ops = &page.ops;
        let dst = pass.destination();
        let mut batches: HashMap<Side, Vec<(usize, WriteOp)>> = HashMap::new();
        for (k, op) in ops.iter().enumerate() {
            let (side, w) = match &op.action {
                Action::Insert { target, fields, .. } | Action::Update { target, fields, .. } => {
                    (dst, WriteOp::Upsert { id: *target, fields: fields.clone() })
                }
                Action::Couple { target, fields, .. } if !fields.is_empty() => {
                    (dst, WriteOp::Upsert { id: *target, fields: fields.clone() })
                }
                Action::Restore { side, id, fields, .. } => {
                    (*side, WriteOp::Upsert { id: *id, fields: fields.clone() })
                }
                Action::Delete { side, id, .. } => (*side, WriteOp::Delete { id: *id }),
                _ => continue,
            };
            batches.entry(side).or_default().push((k, w));
        }
        let mut failures: HashMap<usize, String> = HashMap::new();
        for (side, items) in batches {
            let batch = WriteBatch {
                table: mapping.side(side).table_ref(),
                binds: if side == Side::Sales { mapping.sales_binds() } else { vec![] },
                ops: items.iter().map(|(_, w)| w.clone()).collect(),
            };
            let outcomes = self.connector(side).write(&batch).await?;
            for ((k, _), o) in items.iter().zip(outcomes) {
                if let WriteOutcome::Failed { message } = o {
                    failures.insert(*k, message);
                }
            }
        }
        Ok(Written { page, failures })
    }

    /// Records a written page's outcome: couplings and their bases, skip-rule state, the
    /// synch job's counters and errors.
    async fn record(
        &self,
        mapping: &TableMapping,
        pass: Pass,
        job_id: Uuid,
        written: Written,
    ) -> Result<Counters, SyncError> {
        let Written { page: Prepared { couplings, ids, ops, quiet }, failures } = written;
        let now = self.clock.now();
        let PageOutcome { record, counters, errors } = page::outcome(WrittenPage {
            mapping,
            pass,
            couplings: &couplings,
            ids: &ids,
            ops: &ops,
            failures: &failures,
            quiet,
            now,
        });
        let src = pass.source();
        self.store.record_page(&mapping.name, src, job_id, &record, now).await?;
        self.store.add_to_job(job_id, &counters, &errors).await?;
        Ok(counters)
    }
}

/// A planned page, ready to be written.
#[derive(Default)]
struct Prepared {
    /// The couplings of the page's rows that needed planning.
    couplings: Vec<plan::Coupling>,
    /// Every source id of the page.
    ids: Vec<Uuid>,
    ops: Vec<Operation>,
    /// Rows found at their last synced values (counted unchanged).
    quiet: u64,
}

/// A written page, to be recorded.
struct Written {
    page: Prepared,
    /// Operations (by index) the destination refused, with its message.
    failures: HashMap<usize, String>,
}

pub(crate) struct PageContext<'a> {
    pub(crate) set: &'a MappingSet,
    pub(crate) mapping: &'a TableMapping,
    pub(crate) pass: Pass,
    pub(crate) full: bool,
    pub(crate) lookups: Option<Lookups>,
    pub(crate) job_id: Uuid,
    pub(crate) match_index: Option<HashMap<String, Option<Uuid>>>,
    /// The destination table held no rows when this full pass began (counted then).
    pub(crate) fresh_destination: bool,
    /// Plan without the couplings' last synced values (a side chosen to win, a restore).
    pub(crate) ignore_base: bool,
}

/// `kontor_sync_records_total{mapping, direction, outcome}`: the records a pass handled, by what
/// became of them (through the `metrics` facade; a no-op without an installed recorder).
fn record_metrics(mapping: &str, pass: Pass, c: &Counters) {
    let outcomes = [
        ("inserted", c.inserted),
        ("modified", c.modified),
        ("deleted", c.deleted),
        ("unchanged", c.unchanged),
        ("skipped", c.skipped),
        ("failed", c.failed),
        ("coupled", c.coupled),
        ("uncoupled", c.uncoupled),
    ];
    for (outcome, n) in outcomes {
        if n > 0 {
            metrics::counter!("kontor_sync_records_total", "mapping" => mapping.to_owned(),
                "direction" => pass.as_str(), "outcome" => outcome)
            .increment(n);
        }
    }
}

tokio::task_local! {
    /// The job queue run (its `job_log` id) the engine works for in this task, if any.
    static QUEUE_RUN: Uuid;
}

/// Runs `work` as the job queue run `run_id`: the Integration Synch. Jobs it starts record the
/// run, so that they are closed as interrupted if the run dies before finishing them.
pub async fn in_queue_run<F: std::future::Future>(run_id: Uuid, work: F) -> F::Output {
    QUEUE_RUN.scope(run_id, work).await
}

fn current_queue_run() -> Option<Uuid> {
    QUEUE_RUN.try_with(|r| *r).ok()
}

/// The job queue run the engine works for in this task, if any.
pub(crate) fn queue_run() -> Option<Uuid> {
    current_queue_run()
}
