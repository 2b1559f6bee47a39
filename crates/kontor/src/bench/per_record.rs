//! (b) The same synchronization done one request per record, the way Business Central's engine
//! works: for each source record, sequentially,
//!
//! 1. `GET` the source record from Financials (by key, the whole record, as the engine's change
//!    feed reads it),
//! 2. look up its coupling (one query to the sync store),
//! 3. `GET` the coupled Sales row (or the row at the deterministic id: 404 when absent),
//! 4. plan it with the engine's own pure planner (`kontor_sync::plan::plan`, one record),
//! 5. `POST` (create, with the key) or `PATCH` (update) it in Sales,
//! 6. record the coupling and its last synced values (one transaction in the sync store).
//!
//! Favourable to (b): lookup tables (salesperson, currency, unit, price list → Sales id) are built
//! once per mapping (when it starts, as the engine does), not per record; the small reference mappings (salespeople, currencies, units,
//! price groups) are synchronized beforehand, untimed, by the engine; the list of source ids is
//! read before the clock starts; only the Financials → Sales pass is done (no read-back of Sales).
//!
//! On large data sets only a sample is timed: the same share of every mapping's records, taken
//! in business-key order so that every sampled contact's customer and every sampled price's item
//! is in the sample too (their lookups resolve, as in a complete run).

use std::collections::HashMap;

use anyhow::Context as _;
use kontor_sync::connector::{Change, Row, Side};
use kontor_sync::mapping::{Pass, TableMapping};
use kontor_sync::plan::{self, Action, LookupTable, Lookups, PlanInput};
use kontor_sync::store::{PageRecord, SyncStore};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::stack::{Api, Financials, Sales};

/// The big mappings the sample is drawn from, in dependency order, with the field that orders
/// their records so that a prefix of each is self-contained.
pub const TIMED: &[(&str, &str)] = &[
    ("CUSTOMER", "number"),
    ("CONTACT", "number"),
    ("ITEM-PRODUCT", "number"),
    ("SALESPRC-PRODPRICE", "itemNumber"),
];

/// The work, prepared before the clock starts.
pub struct Prepared {
    store: SyncStore,
    connection_id: Uuid,
    integration_user: Option<String>,
    fin: Api,
    company: String,
    sales: Api,
    jobs: Vec<Job>,
}

struct Job {
    mapping: TableMapping,
    ids: Vec<Uuid>,
    job_id: Uuid,
}

impl Prepared {
    pub fn sampled(&self) -> u64 {
        self.jobs.iter().map(|j| j.ids.len() as u64).sum()
    }
}

/// Picks the sample: `share` of every list, in key order.
pub fn sample_sizes(counts: &[usize], budget: usize) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    if budget >= total {
        return counts.to_vec();
    }
    counts.iter().map(|c| ((c * budget) as f64 / total as f64).round() as usize).collect()
}

/// Builds the lookup tables `mapping`'s Financials → Sales fields need, from the couplings.
async fn lookups(
    store: &SyncStore,
    fin: &Api,
    company: &str,
    mapping: &TableMapping,
) -> anyhow::Result<Lookups> {
    let set = store.mappings().await?;
    let mut out = Lookups::default();
    for f in mapping.fields.iter().filter(|f| f.applies_to(Pass::ToSales)) {
        let Some(l) = &f.lookup else { continue };
        let Some(target) = set.get(&l.mapping) else { continue };
        let pairs: HashMap<Uuid, Uuid> =
            store.coupling_pairs(&l.mapping).await?.into_iter().collect();
        let mut table = LookupTable::new(target);
        if l.financials_key == target.financials.key {
            for (f, s) in &pairs {
                table.add(Value::String(f.to_string()), Some(*s));
            }
        } else {
            let rows = fin
                .all(
                    &format!(
                        "{company}/{}?$select={},{}",
                        target.financials.set, target.financials.key, l.financials_key
                    ),
                    5000,
                )
                .await?;
            for r in rows {
                let id = r.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
                table.add(
                    r.get(&l.financials_key).cloned().unwrap_or_default(),
                    id.and_then(|id| pairs.get(&id).copied()),
                );
            }
        }
        out.insert(&l.mapping, &l.financials_key, table);
    }
    Ok(out)
}

/// Untimed: lists the source ids and draws the sample of at most `budget` records.
pub async fn prepare(
    store: SyncStore,
    connection_id: Uuid,
    integration_user: Option<String>,
    financials: &Financials,
    sales: &Sales,
    budget: usize,
) -> anyhow::Result<Prepared> {
    let fin = financials.integration.clone();
    let company = format!("companies({})", financials.company_id);
    let set = store.mappings().await?;
    let mut lists = Vec::new();
    for (name, order) in TIMED {
        let m = set.get(name).with_context(|| format!("mapping {name}"))?.clone();
        let filter =
            m.financials.filter.as_ref().map(|f| format!("&$filter={f}")).unwrap_or_default();
        let rows = fin
            .all(&format!("{company}/{}?$select=id,{order}{filter}", m.financials.set), 5000)
            .await?;
        let mut keyed: Vec<(String, Uuid)> = rows
            .iter()
            .filter_map(|r| {
                let id = Uuid::parse_str(r.get("id")?.as_str()?).ok()?;
                let k = match r.get(*order)? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((k, id))
            })
            .collect();
        keyed.sort();
        lists.push((m, keyed));
    }
    let sizes = sample_sizes(&lists.iter().map(|l| l.1.len()).collect::<Vec<_>>(), budget);
    let mut jobs = Vec::new();
    for ((m, keyed), n) in lists.into_iter().zip(sizes) {
        let job_id = store
            .start_job(
                &m.name,
                Pass::ToSales.as_str(),
                "Synchronization (per record)",
                chrono::Utc::now(),
            )
            .await?;
        jobs.push(Job {
            ids: keyed.into_iter().take(n).map(|k| k.1).collect(),
            mapping: m,
            job_id,
        });
    }
    Ok(Prepared {
        store,
        connection_id,
        integration_user,
        fin,
        company,
        sales: sales.integration.clone(),
        jobs,
    })
}

/// Sales bind columns (`_ownerid_value`) become `ownerid@odata.bind: /systemusers(<id>)`.
fn with_binds(mapping: &TableMapping, mut fields: Map<String, Value>) -> Map<String, Value> {
    for b in mapping.sales_binds() {
        if let Some(v) = fields.remove(&b.field)
            && let Some(id) = v.as_str()
        {
            fields.insert(
                format!("{}@odata.bind", b.navigation),
                Value::String(format!("/{}({id})", b.target_set)),
            );
        }
    }
    fields
}

fn row_of(v: Value, key: &str) -> Option<Row> {
    let Value::Object(fields) = v else { return None };
    let id = Uuid::parse_str(fields.get(key)?.as_str()?).ok()?;
    Some(Row::new(id, fields))
}

/// Timed: the sample, one record at a time. Returns the records synchronized.
pub async fn run(p: &Prepared) -> anyhow::Result<u64> {
    let mut done = 0u64;
    for job in &p.jobs {
        let m = &job.mapping;
        // Built when the mapping starts (its dependencies are coupled by then), as the engine does.
        let lookups = lookups(&p.store, &p.fin, &p.company, m).await?;
        for id in &job.ids {
            // 1. the source record
            let a = p.fin.get(&format!("{}/{}({id})", p.company, m.financials.set)).await?;
            anyhow::ensure!(
                a.status.is_success(),
                "GET {}({id}): {} {}",
                m.financials.set,
                a.status,
                a.body
            );
            let source =
                row_of(a.body, &m.financials.key).context("a source row without its key")?;
            // 2. its coupling
            let couplings = p.store.couplings_for(&m.name, Side::Financials, &[*id]).await?;
            // 3. the coupled (or deterministic) Sales row
            let target = couplings
                .first()
                .map(|c| c.sales_id)
                .unwrap_or_else(|| kontor_sync::ids::target_id(p.connection_id, &m.name, *id));
            let a = p.sales.get(&format!("{}({target})", m.sales.set)).await?;
            let destination: Vec<Row> = match a.status {
                StatusCode::NOT_FOUND => vec![],
                s if s.is_success() => row_of(a.body, &m.sales.key).into_iter().collect(),
                s => anyhow::bail!("GET {}({target}): {s} {}", m.sales.set, a.body),
            };
            // 4. plan this one record with the engine's planner
            let changes = [Change::Upsert(source)];
            let ops = plan::plan(PlanInput {
                connection_id: p.connection_id,
                mapping: m,
                pass: Pass::ToSales,
                full_sync: true,
                integration_user: p.integration_user.as_deref(),
                changes: &changes,
                couplings: &couplings,
                destination: &destination,
                matches: &HashMap::new(),
                skipped: &Default::default(),
                lookups: &lookups,
            });
            let mut record = PageRecord::default();
            for op in ops {
                // 5. write it
                let (target, base) = match op.action {
                    Action::Insert { target, fields, base } => {
                        let mut body = with_binds(m, fields);
                        body.insert(m.sales.key.clone(), Value::String(target.to_string()));
                        p.sales.ok(Method::POST, &m.sales.set, Some(&Value::Object(body))).await?;
                        (target, base)
                    }
                    Action::Update { target, fields, base }
                    | Action::Couple { target, fields, base } => {
                        if !fields.is_empty() {
                            let body = Value::Object(with_binds(m, fields));
                            p.sales
                                .ok(
                                    Method::PATCH,
                                    &format!("{}({target})", m.sales.set),
                                    Some(&body),
                                )
                                .await?;
                        }
                        (target, base)
                    }
                    Action::Unchanged { target, base: Some(base), .. } => (target, base),
                    Action::Fail { message, .. } => anyhow::bail!("{} {id}: {message}", m.name),
                    _ => continue,
                };
                record.set.push((op.source_id, target, base));
                record.succeeded.push(op.source_id);
            }
            // 6. record the coupling
            p.store
                .record_page(&m.name, Side::Financials, job.job_id, &record, chrono::Utc::now())
                .await?;
            done += 1;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_takes_the_same_share_of_every_table() {
        assert_eq!(sample_sizes(&[1000, 1000, 250, 500], 275), vec![100, 100, 25, 50]);
        assert_eq!(sample_sizes(&[10, 10], 100), vec![10, 10]);
    }

    #[test]
    fn lookup_columns_are_written_as_binds() {
        let set = kontor_sync::defaults::default_mappings();
        let m = set.get("CUSTOMER").unwrap();
        let mut fields = Map::new();
        let owner = Uuid::from_u128(7);
        fields.insert("_ownerid_value".into(), Value::String(owner.to_string()));
        fields.insert("name".into(), Value::String("Valdes Coffee AG".into()));
        let out = with_binds(m, fields);
        assert_eq!(out["ownerid@odata.bind"], Value::String(format!("/systemusers({owner})")));
        assert!(!out.contains_key("_ownerid_value"));
        assert_eq!(out["name"], "Valdes Coffee AG");
    }
}
