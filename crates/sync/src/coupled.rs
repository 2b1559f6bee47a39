//! Working on one record's coupling by hand: Set Up Coupling's *create in Sales* (the Financials
//! record written to Sales through the normal page pipeline, at its deterministic id, and
//! coupled).
//!
//! Each synchronizing action is one page of one record through [`Engine::process_page`] (the
//! same planner, writes and recording as every run), as an Integration Synch. Job of its own.

use uuid::Uuid;

use crate::connector::{Change, Row, Side};
use crate::engine::{Engine, PageContext};
use crate::error::SyncError;
use crate::mapping::{MappingSet, Pass, TableMapping};
use crate::plan::Counters;

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
        self.one_record(&set, mapping, Pass::ToSales, Change::Upsert(row), true, "Coupling")
            .await?;
        match self.store.couplings_for(name, Side::Financials, &[financials_id]).await?.first() {
            Some(c) => Ok(c.sales_id),
            None => Err(SyncError::Refused(format!(
                "The {caption} {financials_id} was not created in Sales."
            ))),
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

    /// One record's change through the page pipeline as a synch job of `job_type`; a record
    /// that fails is refused with the job's error messages.
    async fn one_record(
        &self,
        set: &MappingSet,
        mapping: &TableMapping,
        pass: Pass,
        change: Change,
        full: bool,
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
