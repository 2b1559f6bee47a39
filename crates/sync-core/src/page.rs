//! What the engine decides about a page of a pass without IO: which rows are *quiet* (still at
//! their last synced values, so counted unchanged without reading their destination) and, once
//! the page is written, its outcome — the couplings and failure states the store records and the
//! counters and errors of the synch job.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::direction::Pass;
use crate::mapping::TableMapping;
use crate::plan::{Action, Base, Counters, Coupling, Operation, unchanged_since_base};
use crate::types::{Change, Side};

/// What recording a page stores: couplings set (with their new bases) and removed, and the
/// failure state of the page's source records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageRecord {
    /// (Financials id, Sales id, base) of each coupling to set.
    pub set: Vec<(Uuid, Uuid, Base)>,
    /// (Financials id, Sales id) of each coupling to remove.
    pub remove: Vec<(Uuid, Uuid)>,
    /// Source ids that succeeded (their failure state is cleared).
    pub succeeded: Vec<Uuid>,
    /// Source ids that failed, with the message.
    pub failed: Vec<(Uuid, String)>,
}

/// One error of a synch job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynchError {
    pub source: String,
    pub destination: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// The outcome of a written page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageOutcome {
    pub record: PageRecord,
    pub counters: Counters,
    pub errors: Vec<SynchError>,
}

/// The source rows of a page that are quiet: coupled, and at their last synced values in every
/// field the pass writes ([`unchanged_since_base`]); only a row's last change in the page
/// counts. `integration_user` is the integration's user id on the source side (lowercase):
/// a row it modified last is an echo of the integration's own write.
pub fn quiet_rows(
    mapping: &TableMapping,
    pass: Pass,
    changes: &[Change],
    couplings: &[Coupling],
    integration_user: Option<&str>,
) -> HashSet<Uuid> {
    let src = pass.source();
    let bases: HashMap<Uuid, &Base> =
        couplings.iter().filter_map(|c| Some((c.id(src), c.base.as_ref()?))).collect();
    let mut seen = HashSet::new();
    let mut quiet = HashSet::new();
    for c in changes.iter().rev() {
        if !seen.insert(c.id()) {
            continue;
        }
        if let Change::Upsert(r) = c
            && bases.get(&r.id).is_some_and(|b| {
                let echo =
                    integration_user.is_some_and(|u| r.modified_by(src).as_deref() == Some(u));
                unchanged_since_base(mapping, pass, &r.fields, b, echo)
            })
        {
            quiet.insert(r.id);
        }
    }
    quiet
}

/// A written page, as its outcome needs it.
#[derive(Debug, Clone, Copy)]
pub struct WrittenPage<'a> {
    pub mapping: &'a TableMapping,
    pub pass: Pass,
    /// The couplings of the page's rows that needed planning.
    pub couplings: &'a [Coupling],
    /// Every source id of the page.
    pub ids: &'a [Uuid],
    pub ops: &'a [Operation],
    /// Operations (by index) the destination refused, with its message.
    pub failures: &'a HashMap<usize, String>,
    /// Rows found quiet (counted unchanged).
    pub quiet: u64,
    pub now: DateTime<Utc>,
}

/// `set(id)`: how the synch job names a record of `side`.
pub fn resource(mapping: &TableMapping, side: Side, id: Uuid) -> String {
    format!("{}({id})", mapping.side(side).set)
}

/// The outcome of a written page: an operation the destination refused fails with its
/// message; the others count as planned and set or remove their couplings; rows that needed
/// nothing (outside the filter, not coupled, gone, quiet) clear any old failure.
pub fn outcome(page: WrittenPage<'_>) -> PageOutcome {
    let WrittenPage { mapping, pass, couplings, ids, ops, failures, quiet, now } = page;
    let (src, dst) = (pass.source(), pass.destination());
    let by_src: HashMap<Uuid, &Coupling> = couplings.iter().map(|c| (c.id(src), c)).collect();
    let pair = |source: Uuid, target: Uuid| match pass {
        Pass::ToSales => (source, target),
        Pass::ToFinancials => (target, source),
    };
    let mut record = PageRecord::default();
    let mut counters = Counters { unchanged: quiet, ..Counters::default() };
    let mut errors = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        let target = match &op.action {
            Action::Insert { target, .. }
            | Action::Update { target, .. }
            | Action::Couple { target, .. }
            | Action::Unchanged { target, .. } => Some(*target),
            Action::Restore { id, side, .. } if *side == dst => Some(*id),
            Action::Fail { target, .. } => *target,
            _ => by_src.get(&op.source_id).map(|c| c.id(dst)),
        };
        let destination = target.map(|t| resource(mapping, dst, t)).unwrap_or_default();
        if let Some(message) = failures.get(&k) {
            counters.failed += 1;
            record.failed.push((op.source_id, message.clone()));
            errors.push(SynchError {
                source: resource(mapping, src, op.source_id),
                destination,
                message: message.clone(),
                at: now,
            });
            continue;
        }
        counters.count(&op.action);
        match &op.action {
            Action::Insert { target, base, .. }
            | Action::Update { target, base, .. }
            | Action::Couple { target, base, .. } => {
                let (f, s) = pair(op.source_id, *target);
                record.set.push((f, s, base.clone()));
                record.succeeded.push(op.source_id);
            }
            Action::Unchanged { target, base, .. } => {
                if let Some(base) = base {
                    let (f, s) = pair(op.source_id, *target);
                    record.set.push((f, s, base.clone()));
                }
                record.succeeded.push(op.source_id);
            }
            Action::Restore { base, .. } => {
                if let Some(c) = by_src.get(&op.source_id) {
                    record.set.push((c.financials_id, c.sales_id, base.clone()));
                }
                record.succeeded.push(op.source_id);
            }
            Action::Delete { financials_id, sales_id, .. }
            | Action::Uncouple { financials_id, sales_id, .. } => {
                record.remove.push((*financials_id, *sales_id));
                record.succeeded.push(op.source_id);
            }
            Action::Skip { .. } => {}
            Action::Fail { message, .. } => {
                record.failed.push((op.source_id, message.clone()));
                errors.push(SynchError {
                    source: resource(mapping, src, op.source_id),
                    destination,
                    message: message.clone(),
                    at: now,
                });
            }
        }
    }
    let planned: HashSet<Uuid> = ops.iter().map(|o| o.source_id).collect();
    record.succeeded.extend(ids.iter().filter(|id| !planned.contains(id)));
    PageOutcome { record, counters, errors }
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
