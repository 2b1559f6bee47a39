//! Working on one coupled pair by hand: Set Up Coupling's *create in Sales* (the Financials
//! record written to Sales through the normal page pipeline, at its deterministic id, and
//! coupled), and the resolutions of the *Coupled Data Synchronization Errors*: retry, a side
//! wins, restore the deleted record, remove the coupling.
//!
//! Each synchronizing action is one page of one record through [`Engine::process_page`] (the
//! same planner, writes and recording as every run), as an Integration Synch. Job of its own.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::connector::{Change, Row, Side};
use crate::engine::{Engine, PageContext};
use crate::error::SyncError;
use crate::mapping::{DeletionPolicy, MappingSet, Pass, TableMapping};
use crate::plan::Counters;

/// What to do with a coupled pair whose synchronization failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resolution {
    /// Synchronize the pair again as its mapping says (un-skipping it first).
    Retry,
    /// Synchronize from this side: its values go over every field that differs.
    Wins(Side),
    /// Recreate the record deleted on one side from the one that still exists (same key, so
    /// the coupling holds).
    Restore,
    /// Remove the coupling; both records live on independently.
    RemoveCoupling,
}

/// What a resolution did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// The synch job it ran (`None` for removing the coupling).
    pub job_id: Option<Uuid>,
    pub counters: Counters,
}

impl Resolution {
    /// The resolutions that apply to a failed coupling under a mapping synchronizing in
    /// `direction`, given whether each record still exists (`None`: not known): retrying and
    /// removing the coupling always; a side winning when both records exist and the mapping
    /// synchronizes from that side; restoring when exactly one was deleted and the mapping
    /// synchronizes from the one that exists.
    pub fn offered(
        direction: crate::mapping::Direction,
        financials_exists: Option<bool>,
        sales_exists: Option<bool>,
    ) -> Vec<Resolution> {
        let mut out = vec![Resolution::Retry];
        match (financials_exists, sales_exists) {
            (Some(true), Some(true)) => {
                for side in [Side::Financials, Side::Sales] {
                    if direction.allows(pass_from(side)) {
                        out.push(Resolution::Wins(side));
                    }
                }
            }
            (Some(f), Some(s)) if f != s => {
                let existing = if f { Side::Financials } else { Side::Sales };
                if direction.allows(pass_from(existing)) {
                    out.push(Resolution::Restore);
                }
            }
            _ => {}
        }
        out.push(Resolution::RemoveCoupling);
        out
    }
}

fn pass_from(side: Side) -> Pass {
    match side {
        Side::Financials => Pass::ToSales,
        Side::Sales => Pass::ToFinancials,
    }
}

impl Engine {
    /// *Set Up Coupling → Create New*: writes the Financials record `financials_id` to Sales
    /// under mapping `name` (as a full synchronization would: at its deterministic id, through
    /// the lookups of the mapping) and couples the two. Refused, naming why, when the mapping
    /// does not synchronize to Sales, the record is already coupled, does not exist or is
    /// outside the mapping's table filter, or when it fails (a dependency not coupled, Sales
    /// refusing it). Returns the Sales id.
    pub async fn create_in_sales(
        &self,
        name: &str,
        financials_id: Uuid,
    ) -> Result<Uuid, SyncError> {
        let set = self.store.mappings().await?;
        let mapping = mapping_of(&set, name)?;
        let caption = &mapping.financials.caption;
        if !mapping.direction.allows(Pass::ToSales) {
            return Err(SyncError::Refused(format!(
                "{name} synchronizes from Sales only: a {} cannot be created in Sales from a {}.",
                mapping.sales.caption.to_lowercase(),
                caption.to_lowercase()
            )));
        }
        if let Some(c) =
            self.store.couplings_for(name, Side::Financials, &[financials_id]).await?.first()
        {
            return Err(SyncError::Refused(format!(
                "The {caption} {financials_id} is already coupled to the {} {}. Delete its coupling first.",
                mapping.sales.caption, c.sales_id
            )));
        }
        let row =
            self.read_one(mapping, Side::Financials, financials_id).await?.ok_or_else(|| {
                SyncError::Refused(format!(
                    "The {caption} {financials_id} does not exist in Financials ({}).",
                    mapping.financials.set
                ))
            })?;
        if !crate::filter::matches(mapping.financials.filter.as_ref(), &row.fields) {
            return Err(SyncError::Refused(format!(
                "The {caption} {financials_id} is outside the table filter of {name}, so it is not synchronized to Sales.",
            )));
        }
        self.one_record(&set, mapping, Pass::ToSales, Change::Upsert(row), true, false, "Coupling")
            .await?;
        match self.store.couplings_for(name, Side::Financials, &[financials_id]).await?.first() {
            Some(c) => Ok(c.sales_id),
            None => Err(SyncError::Refused(format!(
                "The {caption} {financials_id} was not created in Sales."
            ))),
        }
    }

    /// Resolves the coupling of the Financials record `financials_id` under mapping `name`
    /// as chosen. Refused, naming why, when there is no such coupling, when the choice does
    /// not fit (restoring when both records exist, a side winning when its record was
    /// deleted, a direction the mapping does not synchronize), or when the record fails
    /// again (the message of the new failure).
    pub async fn resolve_coupling(
        &self,
        name: &str,
        financials_id: Uuid,
        how: Resolution,
    ) -> Result<Resolved, SyncError> {
        let set = self.store.mappings().await?;
        let mapping = mapping_of(&set, name)?;
        let coupling = self
            .store
            .couplings_for(name, Side::Financials, &[financials_id])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                SyncError::NotFound(format!(
                    "No coupling of Financials record {financials_id} under {name}."
                ))
            })?;
        let sales_id = coupling.sales_id;
        if how == Resolution::RemoveCoupling {
            self.store.uncouple(name, Side::Financials, financials_id).await?;
            self.store.clear_failures(name, financials_id, sales_id).await?;
            return Ok(Resolved {
                job_id: None,
                counters: Counters { uncoupled: 1, ..Counters::default() },
            });
        }
        // A skipped record is taken back into synchronization by any of the others.
        self.store.retry(Some(name), Some(financials_id)).await?;
        self.store.retry(Some(name), Some(sales_id)).await?;
        let fin = self.read_one(mapping, Side::Financials, financials_id).await?;
        let sales = self.read_one(mapping, Side::Sales, sales_id).await?;
        let deleted_in = |side: Side| {
            format!("the {} was deleted in {side}", mapping.side(side).caption.to_lowercase())
        };
        let mut total = Counters::default();
        let mut job_id = None;
        match how {
            Resolution::RemoveCoupling => unreachable!("answered above"),
            Resolution::Retry => {
                for pass in mapping.direction.passes() {
                    let (src, id) = match pass.source() {
                        Side::Financials => (&fin, financials_id),
                        Side::Sales => (&sales, sales_id),
                    };
                    let change = match src {
                        Some(row) => Change::Upsert(row.clone()),
                        None => Change::Deleted(id),
                    };
                    let (job, c) = self
                        .one_record(&set, mapping, pass, change, false, false, "Synchronization")
                        .await?;
                    job_id = Some(job);
                    total.add(&c);
                }
            }
            Resolution::Wins(side) => {
                let row = match side {
                    Side::Financials => &fin,
                    Side::Sales => &sales,
                };
                let Some(row) = row else {
                    return Err(SyncError::Refused(format!(
                        "{}: it cannot win. Restore it or remove the coupling.",
                        capital(&deleted_in(side))
                    )));
                };
                if fin.is_none() || sales.is_none() {
                    return Err(SyncError::Refused(format!(
                        "{}: restore it or remove the coupling.",
                        capital(&deleted_in(side.other()))
                    )));
                }
                let pass = self.allowed(mapping, side)?;
                let change = Change::Upsert(row.clone());
                let (job, c) = self
                    .one_record(&set, mapping, pass, change, false, true, "Synchronization")
                    .await?;
                job_id = Some(job);
                total.add(&c);
            }
            Resolution::Restore => {
                let (existing, row) = match (&fin, &sales) {
                    (Some(_), Some(_)) => {
                        return Err(SyncError::Refused(
                            "Both records exist: there is nothing to restore. Retry, or choose which side wins."
                                .into(),
                        ));
                    }
                    (None, None) => {
                        return Err(SyncError::Refused(
                            "Both records were deleted: there is nothing to restore from. Remove the coupling."
                                .into(),
                        ));
                    }
                    (Some(r), None) => (Side::Financials, r),
                    (None, Some(r)) => (Side::Sales, r),
                };
                let pass = self.allowed(mapping, existing)?;
                let mut restoring = mapping.clone();
                restoring.deletion_conflict = DeletionPolicy::Restore;
                let change = Change::Upsert(row.clone());
                let (job, c) = self
                    .one_record(&set, &restoring, pass, change, false, true, "Synchronization")
                    .await?;
                job_id = Some(job);
                total.add(&c);
            }
        }
        if total.failed == 0 {
            self.store.clear_failures(name, financials_id, sales_id).await?;
        }
        Ok(Resolved { job_id, counters: total })
    }

    /// The pass from `side`, refused when the mapping does not synchronize that way.
    fn allowed(&self, mapping: &TableMapping, side: Side) -> Result<Pass, SyncError> {
        let pass = pass_from(side);
        if mapping.direction.allows(pass) {
            Ok(pass)
        } else {
            Err(SyncError::Refused(format!(
                "{} does not synchronize from {side} to {}, so the {} cannot be written from the {}.",
                mapping.name,
                side.other(),
                mapping.side(side.other()).caption.to_lowercase(),
                mapping.side(side).caption.to_lowercase()
            )))
        }
    }

    /// The record `id` on `side` with the fields the mapping reads, or `None`.
    async fn read_one(
        &self,
        mapping: &TableMapping,
        side: Side,
        id: Uuid,
    ) -> Result<Option<Row>, SyncError> {
        let t = mapping.side(side).table_ref().selecting(mapping.read_fields(side));
        Ok(self.connector(side).get(&t, &[id]).await?.into_iter().find(|r| r.id == id))
    }

    /// One record's change through the page pipeline as a synch job of `job_type` (planned
    /// without the coupling's last synced values with `ignore_base`); a record that fails is
    /// refused with the job's error messages.
    #[allow(clippy::too_many_arguments)]
    async fn one_record(
        &self,
        set: &MappingSet,
        mapping: &TableMapping,
        pass: Pass,
        change: Change,
        full: bool,
        ignore_base: bool,
        job_type: &str,
    ) -> Result<(Uuid, Counters), SyncError> {
        let job_id =
            self.store.start_job(&mapping.name, pass.as_str(), job_type, self.clock.now()).await?;
        let mut ctx = PageContext {
            set,
            mapping,
            pass,
            full,
            lookups: None,
            job_id,
            // No match-based coupling: the record is created, or updated where it is coupled.
            match_index: Some(Default::default()),
            fresh_destination: false,
            ignore_base,
        };
        let res = self.process_page(&mut ctx, vec![change]).await;
        let message = match &res {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        self.store.finish_job(job_id, &message, self.clock.now()).await?;
        let counters = res?;
        if counters.failed > 0 {
            let errors = self.store.job_errors(job_id).await?;
            let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
            return Err(SyncError::Refused(messages.join(" ")));
        }
        Ok((job_id, counters))
    }
}

fn mapping_of<'a>(set: &'a MappingSet, name: &str) -> Result<&'a TableMapping, SyncError> {
    set.get(name).ok_or_else(|| SyncError::NotFound(format!("integration table mapping {name}")))
}

fn capital(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Direction::{self, *};

    #[test]
    fn the_resolutions_offered_follow_which_records_exist_and_the_mapping_direction() {
        use Resolution::{RemoveCoupling as Remove, Restore, Retry, Wins};
        let (f, s) = (Side::Financials, Side::Sales);
        // (direction, Financials exists, Sales exists, offered)
        type Case = (Direction, Option<bool>, Option<bool>, Vec<Resolution>);
        let cases: [Case; 8] = [
            (Bidirectional, Some(true), Some(true), vec![Retry, Wins(f), Wins(s), Remove]),
            (ToIntegrationTable, Some(true), Some(true), vec![Retry, Wins(f), Remove]),
            (FromIntegrationTable, Some(true), Some(true), vec![Retry, Wins(s), Remove]),
            (Bidirectional, Some(true), Some(false), vec![Retry, Restore, Remove]),
            (Bidirectional, Some(false), Some(true), vec![Retry, Restore, Remove]),
            (ToIntegrationTable, Some(false), Some(true), vec![Retry, Remove]),
            (Bidirectional, Some(false), Some(false), vec![Retry, Remove]),
            (Bidirectional, None, None, vec![Retry, Remove]),
        ];
        for (direction, fin, sales, expected) in cases {
            assert_eq!(
                Resolution::offered(direction, fin, sales),
                expected,
                "{direction:?} {fin:?} {sales:?}"
            );
        }
    }
}
