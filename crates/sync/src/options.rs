//! Option mappings: the plan and the outcome of a pass are pure (`kontor-sync-core`'s
//! `options`, re-exported here); [`run`] reads the Financials records and the option set, plans,
//! writes the records created in Financials and records couplings and failures.

use std::collections::HashMap;

use uuid::Uuid;

pub use kontor_sync_core::options::*;
use kontor_sync_core::page::PageOutcome;

use crate::connector::{Change, ConnectorError, Cursor, Side, WriteBatch, WriteOp, WriteOutcome};
use crate::engine::{Engine, Mode};
use crate::error::SyncError;
use crate::mapping::{Pass, TableMapping};
use crate::plan::Counters;

/// Runs one pass of an option mapping as the synch job `job_id`: reads every Financials record
/// and the option set, plans, writes created records, records couplings and failures.
pub async fn run(
    engine: &Engine,
    mapping: &TableMapping,
    pass: Pass,
    mode: Mode,
    job_id: Uuid,
) -> Result<Counters, SyncError> {
    let table = mapping.financials.table_ref();
    // An incremental run to Sales with no Financials change and no failure to retry is idle.
    if mode == Mode::Incremental
        && pass == Pass::ToSales
        && let Some(token) = engine.store.watermark(&mapping.name, Side::Financials).await?
        && engine.store.failed_unskipped(&mapping.name, Side::Financials).await?.is_empty()
    {
        let mut cursor = Cursor::Delta(token);
        let mut changed = false;
        loop {
            let page = match engine.financials.read(&table, &cursor, 5000).await {
                Ok(p) => p,
                Err(ConnectorError::TokenExpired { .. }) => {
                    changed = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            changed |= !page.changes.is_empty();
            match page.next {
                Some(n) => cursor = Cursor::Next(n),
                None => break,
            }
        }
        if !changed {
            return Ok(Counters::default());
        }
    }
    let mut records = Vec::new();
    let mut cursor = Cursor::Start;
    let delta = loop {
        let page = engine.financials.read(&table, &cursor, 5000).await?;
        records.extend(page.changes.into_iter().filter_map(|c| match c {
            Change::Upsert(r) => Some(r),
            Change::Deleted(_) => None,
        }));
        match page.next {
            Some(n) => cursor = Cursor::Next(n),
            None => break page.delta,
        }
    };
    let couplings = engine.store.coupling_pairs(&mapping.name).await?;
    if records.is_empty() && couplings.is_empty() && pass == Pass::ToSales {
        // Nothing to couple: Sales need not be asked.
        if let Some(d) = &delta {
            engine
                .store
                .set_watermark(&mapping.name, Side::Financials, d, engine.clock.now())
                .await?;
        }
        return Ok(Counters::default());
    }
    let options = engine.sales.options(&mapping.sales.set, &mapping.sales.key).await?;
    let actions = plan(OptionPlanInput {
        connection_id: engine.settings.id,
        mapping,
        pass,
        records: &records,
        options: &options,
        couplings: &couplings,
    });

    // Records created in Financials (To Financials), one batch.
    let inserts: Vec<WriteOp> = actions
        .iter()
        .filter_map(|a| match a {
            OptionAction::Insert { financials_id, fields, .. } => {
                Some(WriteOp::Upsert { id: *financials_id, fields: fields.clone() })
            }
            _ => None,
        })
        .collect();
    let mut write_failures: HashMap<Uuid, String> = HashMap::new();
    if !inserts.is_empty() {
        let batch = WriteBatch { table: table.clone(), binds: vec![], ops: inserts };
        let outcomes = engine.financials.write(&batch).await?;
        for (op, o) in batch.ops.iter().zip(outcomes) {
            if let WriteOutcome::Failed { message } = o {
                write_failures.insert(op.id(), message);
            }
        }
    }

    let now = engine.clock.now();
    let PageOutcome { record, counters, errors } =
        outcome(mapping, pass, &actions, &records, &options, &write_failures, now);
    engine.store.record_page(&mapping.name, pass.source(), job_id, &record, now).await?;
    engine.store.add_to_job(job_id, &counters, &errors).await?;
    if pass == Pass::ToSales
        && let Some(d) = &delta
    {
        engine.store.set_watermark(&mapping.name, Side::Financials, d, now).await?;
    }
    Ok(counters)
}
