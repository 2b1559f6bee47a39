//! The engine's match-based coupling run (Business Central's coupling job): for each pass of a
//! mapping, index the uncoupled destination records by the chosen match fields, read the
//! uncoupled source records page by page, decide with the pure [`crate::matching`] plan, store
//! the couplings, then — as chosen — create the records that found no match and synchronize the
//! newly coupled ones through the normal page pipeline. Each pass is one Integration Synch. Job
//! of type `Coupling` whose errors say why a record was not coupled.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::connector::{Change, Cursor, Row, Side};
use crate::engine::{Engine, PageContext, PassReport};
use crate::error::SyncError;
use crate::filter;
use crate::mapping::{MappingSet, Pass, TableMapping};
use crate::matching::{Decision, MatchCriteria, MatchIndex, MatchOptions, plan_coupling};
use crate::plan::Counters;
use crate::store::SynchError;

const PAGE: usize = 1000;

impl Engine {
    /// Match-based coupling of `mapping` with `options`, one coupling job per pass
    /// (Financials → Sales first). The options are checked for every pass before anything runs.
    pub async fn match_couple(
        &self,
        name: &str,
        options: &MatchOptions,
    ) -> Result<Vec<PassReport>, SyncError> {
        let set = self.store.mappings().await?;
        let mapping = set
            .get(name)
            .ok_or_else(|| SyncError::NotFound(format!("integration table mapping {name}")))?
            .clone();
        let passes = mapping.direction.passes();
        for pass in &passes {
            MatchCriteria::new(&mapping, *pass, options)?;
        }
        let mut out = Vec::new();
        for pass in passes {
            let job_id = self
                .store
                .start_job(&mapping.name, pass.as_str(), "Coupling", self.clock.now())
                .await?;
            let res = self.match_pass(&set, &mapping, pass, options, job_id).await;
            let message = match &res {
                Ok(_) => String::new(),
                Err(e) => e.to_string(),
            };
            self.store.finish_job(job_id, &message, self.clock.now()).await?;
            let counters = res?;
            tracing::info!(mapping = %mapping.name, pass = pass.as_str(), ?counters, "Match-based coupling finished.");
            out.push(PassReport { mapping: mapping.name.clone(), pass, job_id, counters });
        }
        Ok(out)
    }

    async fn match_pass(
        &self,
        set: &MappingSet,
        mapping: &TableMapping,
        pass: Pass,
        options: &MatchOptions,
        job_id: Uuid,
    ) -> Result<Counters, SyncError> {
        let (src, dst) = (pass.source(), pass.destination());
        let criteria = MatchCriteria::new(mapping, pass, options)?;
        let create = options.create_new(mapping);
        let sync_after = options.sync_after_coupling();
        let lookups = self.lookups(set, mapping, pass).await?;
        let pairs = self.store.coupling_pairs(&mapping.name).await?;
        let id_on = |side: Side, (f, s): &(Uuid, Uuid)| match side {
            Side::Financials => *f,
            Side::Sales => *s,
        };
        let coupled_dst: HashSet<Uuid> = pairs.iter().map(|p| id_on(dst, p)).collect();
        let coupled_src: HashSet<Uuid> = pairs.iter().map(|p| id_on(src, p)).collect();
        let side_filter = |side: Side| mapping.side(side).filter.as_ref();

        // The uncoupled destination records within the mapping's filter.
        let mut index = MatchIndex::new(&criteria);
        let dst_filter = side_filter(dst);
        let table = mapping.side(dst).table_ref();
        let mut cursor = Cursor::Start;
        loop {
            let page = self.connector(dst).read(&table, &cursor, PAGE).await?;
            for c in page.changes {
                if let Change::Upsert(r) = c
                    && !coupled_dst.contains(&r.id)
                    && filter::matches(dst_filter, &r.fields)
                {
                    index.add(&criteria, &r);
                }
            }
            match page.next {
                Some(n) => cursor = Cursor::Next(n),
                None => break,
            }
        }

        // Creating and synchronizing go through the page pipeline as a full synchronization
        // without its own matching (the empty index), writing into this coupling job.
        let mut ctx = PageContext {
            set,
            mapping,
            pass,
            full: true,
            lookups: Some(lookups),
            job_id,
            match_index: Some(HashMap::new()),
            fresh_destination: false,
            ignore_base: false,
        };
        let src_filter = side_filter(src);
        let table = mapping.side(src).table_ref();
        let mut cursor = Cursor::Start;
        let mut total = Counters::default();
        loop {
            let page = self.connector(src).read(&table, &cursor, PAGE).await?;
            let rows: Vec<Row> = page
                .changes
                .into_iter()
                .filter_map(|c| match c {
                    Change::Upsert(r)
                        if !coupled_src.contains(&r.id)
                            && filter::matches(src_filter, &r.fields) =>
                    {
                        Some(r)
                    }
                    _ => None,
                })
                .collect();
            if !rows.is_empty() {
                let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                let skipped = self.store.skipped(&mapping.name, src, &ids).await?;
                let rows: Vec<Row> =
                    rows.into_iter().filter(|r| !skipped.contains(&r.id)).collect();
                let lookups = ctx.lookups.as_ref().expect("set above");
                let decisions = plan_coupling(&criteria, &mut index, lookups, &rows, create);
                let by_id: HashMap<Uuid, &Row> = rows.iter().map(|r| (r.id, r)).collect();
                let now = self.clock.now();
                let mut counters = Counters::default();
                let mut errors = Vec::new();
                let mut follow = Vec::new();
                let mut fail = |source: Uuid, message: String, counters: &mut Counters| {
                    counters.failed += 1;
                    errors.push(SynchError {
                        source: format!("{}({source})", mapping.side(src).set),
                        destination: String::new(),
                        message,
                        at: now,
                    });
                };
                for (source, decision) in decisions {
                    let row = by_id[&source];
                    match decision {
                        Decision::Couple { target } => {
                            let (f, s) = match pass {
                                Pass::ToSales => (source, target),
                                Pass::ToFinancials => (target, source),
                            };
                            match self.store.couple(&mapping.name, f, s, now).await {
                                Ok(()) => {
                                    counters.coupled += 1;
                                    if sync_after {
                                        follow.push(Change::Upsert(row.clone()));
                                    }
                                }
                                // Coupled meanwhile (by hand or by another run).
                                Err(SyncError::Refused(m)) => fail(source, m, &mut counters),
                                Err(e) => return Err(e),
                            }
                        }
                        Decision::Create => follow.push(Change::Upsert(row.clone())),
                        Decision::Fail { message } => fail(source, message, &mut counters),
                    }
                }
                self.store.add_to_job(job_id, &counters, &errors).await?;
                total.add(&counters);
                if !follow.is_empty() {
                    total.add(&self.process_page(&mut ctx, follow).await?);
                }
            }
            match page.next {
                Some(n) => cursor = Cursor::Next(n),
                None => break,
            }
        }
        Ok(total)
    }
}
