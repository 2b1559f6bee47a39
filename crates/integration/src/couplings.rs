//! Couplings: list, couple by hand, uncouple, match-based coupling, *Find for Deleted*.

use kontor_sync::Side;
use kontor_sync::connector::TableRef;
use kontor_sync::coupled::{Resolution, Resolved};
use kontor_sync::engine::PassReport;
use kontor_sync::matching::MatchCriteria;
use kontor_sync::store::{CoupledFailure, CouplingInfo};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Integration, IntegrationError, Result};

/// The choices of a match-based coupling run (match fields with priorities, case sensitivity,
/// create when no match, synchronize after coupling; all optional).
pub type MatchCouplingRequest = kontor_sync::matching::MatchOptions;

/// Which page of couplings (100 from the first when left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouplingsQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A page of a mapping's couplings and how many it has in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CouplingsPage {
    pub count: u64,
    pub value: Vec<CouplingInfo>,
}

/// Couple a Financials record with a Sales record by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CouplingRequest {
    pub financials_id: Uuid,
    pub sales_id: Uuid,
}

/// The coupling made by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCoupling {
    pub mapping: String,
    pub financials_id: Uuid,
    pub sales_id: Uuid,
}

/// How many couplings *Find for Deleted* removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanResult {
    pub removed: u64,
}

/// A coupled pair of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoupledPair {
    pub financials_id: Uuid,
    pub sales_id: Uuid,
}

/// A Sales record a search found: its id and the fields searched (as Sales names them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundRecord {
    pub id: Uuid,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Which page of the Coupled Data Synchronization Errors (50 from the first when left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoupledErrorsQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A coupled record whose last synchronization failed, and whether each of the two records
/// still exists (`None`: not known, the connection is not set up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoupledError {
    #[serde(flatten)]
    pub failure: CoupledFailure,
    pub financials_exists: Option<bool>,
    pub sales_exists: Option<bool>,
    /// What can be done with it ([`Resolution::offered`]).
    pub offered: Vec<Resolution>,
}

impl CoupledError {
    /// One of the two records was deleted (known only when connected).
    pub fn deleted_side(&self) -> Option<Side> {
        match (self.financials_exists, self.sales_exists) {
            (Some(false), Some(true)) => Some(Side::Financials),
            (Some(true), Some(false)) => Some(Side::Sales),
            _ => None,
        }
    }
}

/// A page of the Coupled Data Synchronization Errors and how many there are in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoupledErrorsPage {
    pub count: u64,
    pub value: Vec<CoupledError>,
}

/// How many records a search of Sales gives at most.
pub const SEARCH_TOP: usize = 20;

impl Integration {
    /// The couplings under `mapping` of just these records (ids on `side`), in one query: a
    /// list page asks for the couplings of its own rows.
    pub async fn couplings_of(
        &self,
        mapping: &str,
        side: Side,
        ids: &[Uuid],
    ) -> Result<Vec<CoupledPair>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.store.couplings_for(mapping, side, ids).await?;
        Ok(found
            .into_iter()
            .map(|c| CoupledPair { financials_id: c.financials_id, sales_id: c.sales_id })
            .collect())
    }

    /// At most [`SEARCH_TOP`] records of `mapping`'s Sales table in which one of `searched`
    /// contains `text` (without regard to case), with the fields `shown`, through the
    /// connection's Sales connector.
    pub async fn search_sales(
        &self,
        mapping: &str,
        searched: &[&str],
        shown: &[&str],
        text: &str,
    ) -> Result<Vec<FoundRecord>> {
        let m = self.store.mapping(mapping).await?;
        let text = text.trim();
        if text.is_empty() {
            return Err(IntegrationError::invalid("Enter a name or number to search for."));
        }
        let engine = self.engine()?;
        let fields: Vec<String> = searched.iter().map(|f| (*f).to_owned()).collect();
        let table = TableRef::new(m.sales.set.clone(), m.sales.key.clone())
            .selecting(shown.iter().copied());
        let rows = engine
            .connector(Side::Sales)
            .search(&table, &fields, text, SEARCH_TOP)
            .await
            .map_err(kontor_sync::SyncError::from)?;
        Ok(rows.into_iter().map(|r| FoundRecord { id: r.id, fields: r.fields }).collect())
    }

    /// A page of `mapping`'s couplings (at most 5,000).
    pub async fn couplings(&self, mapping: &str, page: CouplingsQuery) -> Result<CouplingsPage> {
        self.store.mapping(mapping).await?;
        let value = self
            .store
            .list_couplings(
                mapping,
                page.limit.unwrap_or(100).clamp(1, 5000),
                page.offset.unwrap_or(0).max(0),
            )
            .await?;
        let count = self.store.coupling_count(mapping).await?;
        Ok(CouplingsPage { count, value })
    }

    /// Couples two records by hand under `mapping`, once both are found on their sides (a
    /// record that does not exist is refused, naming it).
    pub async fn couple(&self, mapping: &str, req: CouplingRequest) -> Result<NewCoupling> {
        self.store.mapping(mapping).await?;
        self.engine()?.couple_records(mapping, req.financials_id, req.sales_id).await?;
        Ok(NewCoupling {
            mapping: mapping.to_owned(),
            financials_id: req.financials_id,
            sales_id: req.sales_id,
        })
    }

    /// Removes the coupling of the record `id` on `side`.
    pub async fn uncouple(&self, mapping: &str, side: Side, id: Uuid) -> Result<()> {
        if self.store.uncouple(mapping, side, id).await? {
            Ok(())
        } else {
            Err(IntegrationError::NotFound(format!(
                "No coupling of {side} record {id} under {mapping}."
            )))
        }
    }

    /// Match-based coupling of `mapping` with the user's choices, one coupling job per pass. The
    /// choices are checked against the mapping before anything else (even without a connection).
    pub async fn match_couple(
        &self,
        mapping: &str,
        options: &MatchCouplingRequest,
    ) -> Result<Vec<PassReport>> {
        let m = self.store.mapping(mapping).await?;
        for pass in m.direction.passes() {
            MatchCriteria::new(&m, pass, options)?;
        }
        let engine = self.engine()?;
        Ok(engine.match_couple(mapping, options).await?)
    }

    /// *Set Up Coupling → Create New*: creates the Sales record from the Financials record
    /// `financials_id` through the engine's create path (its deterministic id, the mapping's
    /// fields and lookups) and couples the two.
    pub async fn create_in_sales(&self, mapping: &str, financials_id: Uuid) -> Result<NewCoupling> {
        self.store.mapping(mapping).await?;
        let sales_id = self.engine()?.create_in_sales(mapping, financials_id).await?;
        Ok(NewCoupling { mapping: mapping.to_owned(), financials_id, sales_id })
    }

    /// *Coupled Data Synchronization Errors*: a page of the coupled records whose last
    /// synchronization failed (conflicts, records deleted on one side, refusals), newest first,
    /// each with whether its two records still exist (read by key for the page's rows only,
    /// one request per mapping and side, when connected).
    pub async fn coupled_errors(&self, page: CoupledErrorsQuery) -> Result<CoupledErrorsPage> {
        let limit = page.limit.unwrap_or(50).clamp(1, 500);
        let failures = self.store.coupled_failures(limit, page.offset.unwrap_or(0).max(0)).await?;
        let count = self.store.coupled_failure_count().await?;
        let engine = self.engine().ok();
        let set = self.store.mappings().await?;
        let mut exists: std::collections::HashSet<(Side, Uuid)> = Default::default();
        if let Some(engine) = &engine
            && !failures.is_empty()
        {
            let mut names: Vec<&str> = failures.iter().map(|f| f.mapping.as_str()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let Some(m) = set.get(name) else { continue };
                for side in [Side::Financials, Side::Sales] {
                    let ids: Vec<Uuid> = failures
                        .iter()
                        .filter(|f| f.mapping == name)
                        .map(|f| match side {
                            Side::Financials => f.financials_id,
                            Side::Sales => f.sales_id,
                        })
                        .collect();
                    let t = m.side(side).table_ref().selecting([m.side(side).key.as_str()]);
                    let rows = engine
                        .connector(side)
                        .get(&t, &ids)
                        .await
                        .map_err(kontor_sync::SyncError::from)?;
                    exists.extend(rows.into_iter().map(|r| (side, r.id)));
                }
            }
        }
        let known = engine.is_some();
        let value = failures
            .into_iter()
            .map(|f| {
                let financials_exists =
                    known.then(|| exists.contains(&(Side::Financials, f.financials_id)));
                let sales_exists = known.then(|| exists.contains(&(Side::Sales, f.sales_id)));
                let offered = match set.get(&f.mapping) {
                    Some(m) => Resolution::offered(m.direction, financials_exists, sales_exists),
                    None => Resolution::offered(kontor_sync::Direction::Bidirectional, None, None),
                };
                CoupledError { failure: f, financials_exists, sales_exists, offered }
            })
            .collect();
        Ok(CoupledErrorsPage { count, value })
    }

    /// Resolves the failed coupling of the Financials record `financials_id` under `mapping`:
    /// *Retry*, a side wins, *Restore Records* or *Remove Coupling* (the rules in
    /// `kontor_sync::coupled`).
    pub async fn resolve_coupling(
        &self,
        mapping: &str,
        financials_id: Uuid,
        how: Resolution,
    ) -> Result<Resolved> {
        self.store.mapping(mapping).await?;
        Ok(self.engine()?.resolve_coupling(mapping, financials_id, how).await?)
    }

    /// *Find for Deleted*: removes the couplings of `mapping` to records deleted on either side.
    pub async fn clean_couplings(&self, mapping: &str) -> Result<CleanResult> {
        let engine = self.engine()?;
        Ok(CleanResult { removed: engine.clean_deleted_couplings(mapping).await? })
    }
}
