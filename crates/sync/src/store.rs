//! The engine's own tables (prefix `sync_`, migrations 3000-3999) on SQLite and PostgreSQL:
//! the connection, mappings, couplings with their last synced values, the skip rule's record
//! states, Integration Synch. Jobs with their errors, change-feed watermarks and the full
//! synchronization review lines.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use kontor_store::sea_query::Value as Bind;
use kontor_store::sqlx::AssertSqlSafe;
use kontor_store::{Db, Migrations, Row as DbRow, StoreError, Tx};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::migrate::Migrator;
use uuid::Uuid;

use crate::connector::Side;
use crate::error::SyncError;
use crate::mapping::{MappingSet, TableMapping};
pub use crate::page::{PageRecord, SynchError};
use crate::plan::{Base, Counters, Coupling};
use crate::review::{QueueStatus, Recommendation, ReviewLine, Stage};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The sync tables, for `Db::migrate`.
pub static MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Store(e.to_string())
    }
}

/// The message of an Integration Synch. Job whose worker died before it finished.
pub const INTERRUPTED: &str = "Interrupted: the worker running this job stopped before it finished (its lease was taken over); the counters show what it had done, and the next run resumes the work.";

type Result<T, E = SyncError> = std::result::Result<T, E>;

fn s(v: impl Into<String>) -> Bind {
    Bind::String(Some(v.into()))
}
fn os(v: Option<String>) -> Bind {
    Bind::String(v)
}
fn i(v: i64) -> Bind {
    Bind::BigInt(Some(v))
}
fn u(v: Uuid) -> Bind {
    Bind::String(Some(v.to_string()))
}
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}
fn from_micros(m: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(m).unwrap_or_default()
}
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|k| format!("${k}")).collect::<Vec<_>>().join(", ")
}
fn uuid_col(r: &DbRow, c: &str) -> Uuid {
    Uuid::parse_str(&r.get_string(c)).unwrap_or_default()
}

/// Connection settings kept by the engine (no secrets: credentials come from the caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSettings {
    pub id: Uuid,
    pub financials_url: String,
    pub company_id: Uuid,
    pub sales_url: String,
    /// The integration user's name on Financials (for Basic auth with its web service key).
    pub financials_user: String,
    /// Its id on Financials (stamped as `systemModifiedBy` on its writes), lowercase.
    pub financials_user_id: Option<String>,
    /// The integration user on Sales (`systemuserid`), lowercase.
    pub sales_user_id: Option<String>,
    pub sales_user_name: String,
    pub enabled: bool,
}

/// A stored Integration Synch. Job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynchJob {
    pub id: Uuid,
    pub mapping: String,
    pub direction: String,
    pub job_type: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why the job failed as a whole (empty when it did not; see `counters.failed` for records).
    pub message: String,
    pub counters: Counters,
    /// The interrupted jobs whose work this job resumes (see [`SyncStore::close_interrupted_jobs`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumes: Vec<Uuid>,
}

impl SynchJob {
    /// What a person reads about the job: the interrupted jobs it resumes, then its error.
    pub fn note(&self) -> String {
        let mut parts = Vec::new();
        if !self.resumes.is_empty() {
            let ids = self.resumes.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ");
            parts.push(format!("Resumes the work of interrupted job {ids}."));
        }
        if !self.message.is_empty() {
            parts.push(self.message.clone());
        }
        parts.join(" ")
    }
}

/// A coupling as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CouplingInfo {
    pub mapping: String,
    pub financials_id: Uuid,
    pub sales_id: Uuid,
    pub synced_at: Option<DateTime<Utc>>,
    pub skipped: bool,
}

/// A coupled record whose last synchronization failed (a conflict, a record deleted on one
/// side, a refusal): one row of the Coupled Data Synchronization Errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoupledFailure {
    pub mapping: String,
    pub financials_id: Uuid,
    pub sales_id: Uuid,
    /// The side whose record was being synchronized when it failed.
    pub side: Side,
    pub message: String,
    /// Failed twice with the same message: left out of synchronization until retried.
    pub skipped: bool,
    pub job_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// A review line with its job links, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReviewLine {
    pub line: ReviewLine,
    pub queue_entry_id: Option<String>,
    pub to_job_id: Option<Uuid>,
    pub from_job_id: Option<Uuid>,
    /// The rows Financials and Sales had when the review was built.
    pub financials_count: Option<u64>,
    pub sales_count: Option<u64>,
}

fn hash(base: &Base) -> String {
    let text = serde_json::to_string(base).unwrap_or_default();
    let d = Sha256::digest(text.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The sync store.
#[derive(Debug, Clone)]
pub struct SyncStore {
    db: Db,
}

impl SyncStore {
    pub fn new(db: Db) -> SyncStore {
        SyncStore { db }
    }
    pub fn db(&self) -> &Db {
        &self.db
    }
    /// Creates the sync tables (and the job queue's, which the engine's jobs use).
    pub async fn migrate(&self) -> Result<()> {
        self.db.migrate(&MIGRATIONS).await?;
        self.db.migrate(&kontor_jobs::MIGRATIONS).await?;
        Ok(())
    }

    // ---- connection ----

    pub async fn save_connection(&self, c: &ConnectionSettings, now: DateTime<Utc>) -> Result<()> {
        let settings = serde_json::to_string(c).expect("settings serialize");
        let mut tx = self.db.begin().await?;
        tx.execute_sql("DELETE FROM sync_connection WHERE id <> $1", vec![u(c.id)]).await?;
        tx.execute_sql(
            "INSERT INTO sync_connection (id, settings, created_at, updated_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
            vec![u(c.id), s(settings), i(micros(now))],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn connection(&self) -> Result<Option<ConnectionSettings>> {
        let row =
            self.db.fetch_optional_sql("SELECT settings FROM sync_connection", vec![]).await?;
        Ok(row.and_then(|r| serde_json::from_str(&r.get_string("settings")).ok()))
    }

    // ---- mappings ----

    /// Stores mappings. With `keep_customized`, mappings a user changed are left as they are
    /// (re-running setup keeps customisations); new ones are added.
    pub async fn save_mappings(
        &self,
        set: &MappingSet,
        keep_customized: bool,
        customized: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        for (pos, m) in set.mappings.iter().enumerate() {
            let def = serde_json::to_string(m).expect("mapping serializes");
            let sql = if keep_customized {
                "INSERT INTO sync_mapping (name, position, definition, customized, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position, definition = excluded.definition,
                 customized = excluded.customized, updated_at = excluded.updated_at WHERE sync_mapping.customized = FALSE"
            } else {
                "INSERT INTO sync_mapping (name, position, definition, customized, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position, definition = excluded.definition,
                 customized = excluded.customized, updated_at = excluded.updated_at"
            };
            tx.execute_sql(
                sql,
                vec![
                    s(&m.name),
                    i(pos as i64),
                    s(def),
                    Bind::Bool(Some(customized)),
                    i(micros(now)),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces one mapping and marks it customized.
    pub async fn save_mapping(&self, m: &TableMapping, now: DateTime<Utc>) -> Result<()> {
        let def = serde_json::to_string(m).expect("mapping serializes");
        self.db
            .execute_sql(
                "INSERT INTO sync_mapping (name, position, definition, customized, updated_at)
                 VALUES ($1, (SELECT COALESCE(MAX(position), 0) + 1 FROM sync_mapping), $2, TRUE, $3)
                 ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, customized = TRUE, updated_at = excluded.updated_at",
                vec![s(&m.name), s(def), i(micros(now))],
            )
            .await?;
        Ok(())
    }

    /// Replaces one stored mapping with `m` (its default) and marks it no longer customized;
    /// its position stays. Returns whether the mapping was stored.
    pub async fn reset_mapping(&self, m: &TableMapping, now: DateTime<Utc>) -> Result<bool> {
        let def = serde_json::to_string(m).expect("mapping serializes");
        let n = self
            .db
            .execute_sql(
                "UPDATE sync_mapping SET definition = $1, customized = FALSE, updated_at = $2 WHERE name = $3",
                vec![s(def), i(micros(now)), s(&m.name)],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn mappings(&self) -> Result<MappingSet> {
        let rows = self
            .db
            .fetch_all_sql("SELECT definition FROM sync_mapping ORDER BY position, name", vec![])
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let m: TableMapping = serde_json::from_str(&r.get_string("definition"))
                .map_err(|e| SyncError::Store(format!("a stored mapping cannot be read: {e}")))?;
            out.push(m);
        }
        Ok(MappingSet::new(out))
    }

    pub async fn mapping(&self, name: &str) -> Result<TableMapping> {
        let r = self
            .db
            .fetch_optional_sql(
                "SELECT definition FROM sync_mapping WHERE name = $1",
                vec![s(name)],
            )
            .await?;
        let r =
            r.ok_or_else(|| SyncError::NotFound(format!("integration table mapping {name}")))?;
        serde_json::from_str(&r.get_string("definition"))
            .map_err(|e| SyncError::Store(e.to_string()))
    }

    pub async fn customized_mappings(&self) -> Result<Vec<String>> {
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT name FROM sync_mapping WHERE customized = TRUE ORDER BY name",
                vec![],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get_string("name")).collect())
    }

    // ---- couplings ----

    /// Couplings of `ids` (ids on `side`) under `mapping`, in one query.
    pub async fn couplings_for(
        &self,
        mapping: &str,
        side: Side,
        ids: &[Uuid],
    ) -> Result<Vec<Coupling>> {
        let mut out = Vec::new();
        let col = match side {
            Side::Financials => "financials_id",
            Side::Sales => "sales_id",
        };
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT financials_id, sales_id, base FROM sync_coupling WHERE mapping = $1 AND {col} IN ({})",
                placeholders(2, chunk.len())
            );
            let mut binds = vec![s(mapping)];
            binds.extend(chunk.iter().map(|id| u(*id)));
            for r in self.db.fetch_all_sql(AssertSqlSafe(sql), binds).await? {
                out.push(Coupling {
                    financials_id: uuid_col(&r, "financials_id"),
                    sales_id: uuid_col(&r, "sales_id"),
                    base: r.get_opt_string("base").and_then(|b| serde_json::from_str(&b).ok()),
                });
            }
        }
        Ok(out)
    }

    /// All coupled pairs of a mapping (for lookup tables; small mappings).
    pub async fn coupling_pairs(&self, mapping: &str) -> Result<Vec<(Uuid, Uuid)>> {
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT financials_id, sales_id FROM sync_coupling WHERE mapping = $1",
                vec![s(mapping)],
            )
            .await?;
        Ok(rows.iter().map(|r| (uuid_col(r, "financials_id"), uuid_col(r, "sales_id"))).collect())
    }

    pub async fn coupling_count(&self, mapping: &str) -> Result<u64> {
        let r = self
            .db
            .fetch_one_sql(
                "SELECT COUNT(*) AS n FROM sync_coupling WHERE mapping = $1",
                vec![s(mapping)],
            )
            .await?;
        Ok(r.get_i64("n") as u64)
    }

    /// Couplings of a mapping, paged, with their skipped flag.
    pub async fn list_couplings(
        &self,
        mapping: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CouplingInfo>> {
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT c.financials_id, c.sales_id, c.synced_at,
                        (SELECT COUNT(*) FROM sync_record_state r WHERE r.mapping = c.mapping AND r.skipped = TRUE
                           AND (r.source_id = c.financials_id OR r.source_id = c.sales_id)) AS skipped
                 FROM sync_coupling c WHERE c.mapping = $1 ORDER BY c.financials_id LIMIT $2 OFFSET $3",
                vec![s(mapping), i(limit), i(offset)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| CouplingInfo {
                mapping: mapping.to_owned(),
                financials_id: uuid_col(r, "financials_id"),
                sales_id: uuid_col(r, "sales_id"),
                synced_at: r.get_opt_i64("synced_at").map(from_micros),
                skipped: r.get_i64("skipped") > 0,
            })
            .collect())
    }

    /// Couples two records by hand (no base yet, so the next sync copies the chosen direction).
    /// Refused when either record is already coupled to another one.
    pub async fn couple(
        &self,
        mapping: &str,
        financials_id: Uuid,
        sales_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let clash = tx
            .fetch_optional_sql(
                "SELECT financials_id, sales_id FROM sync_coupling WHERE mapping = $1 AND (financials_id = $2 OR sales_id = $3)",
                vec![s(mapping), u(financials_id), u(sales_id)],
            )
            .await?;
        if let Some(r) = clash {
            let (f, sa) = (uuid_col(&r, "financials_id"), uuid_col(&r, "sales_id"));
            if f == financials_id && sa == sales_id {
                return Ok(());
            }
            return Err(SyncError::Refused(format!(
                "Cannot couple: under {mapping}, Financials record {f} is already coupled to Sales record {sa}. Uncouple it first."
            )));
        }
        tx.execute_sql(
            "INSERT INTO sync_coupling (mapping, financials_id, sales_id, base, base_hash, synced_at, created_at)
             VALUES ($1, $2, $3, NULL, NULL, NULL, $4)",
            vec![s(mapping), u(financials_id), u(sales_id), i(micros(now))],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the coupling of a record given by its id on `side`; returns whether one existed.
    pub async fn uncouple(&self, mapping: &str, side: Side, id: Uuid) -> Result<bool> {
        let col = match side {
            Side::Financials => "financials_id",
            Side::Sales => "sales_id",
        };
        let n = self
            .db
            .execute_sql(
                AssertSqlSafe(format!(
                    "DELETE FROM sync_coupling WHERE mapping = $1 AND {col} = $2"
                )),
                vec![s(mapping), u(id)],
            )
            .await?;
        Ok(n > 0)
    }

    /// Removes every coupling of a mapping.
    pub async fn uncouple_all(&self, mapping: &str) -> Result<u64> {
        Ok(self
            .db
            .execute_sql("DELETE FROM sync_coupling WHERE mapping = $1", vec![s(mapping)])
            .await?)
    }

    /// Records a page's outcome in one transaction: couplings with their new base, removed
    /// couplings, and the skip-rule state of succeeded and failed source records. Returns the
    /// source ids that became skipped (failed twice with the same message).
    pub async fn record_page(
        &self,
        mapping: &str,
        source_side: Side,
        job_id: Uuid,
        page: &PageRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        let mut tx = self.db.begin().await?;
        let t = micros(now);
        for chunk in page.set.chunks(100) {
            // A stale coupling of either record under this mapping makes way for the new one.
            // Which couplings are stale is read with two indexed `IN` queries (one per side);
            // only those are deleted, each by key (usually none: a page mostly renews couplings
            // as they are or adds new ones).
            let wanted: HashSet<(Uuid, Uuid)> = chunk.iter().map(|(f, sa, _)| (*f, *sa)).collect();
            let mut stale: Vec<(Uuid, Uuid)> = Vec::new();
            for (col, ids) in [
                ("financials_id", chunk.iter().map(|c| c.0).collect::<Vec<_>>()),
                ("sales_id", chunk.iter().map(|c| c.1).collect::<Vec<_>>()),
            ] {
                let sql = format!(
                    "SELECT financials_id, sales_id FROM sync_coupling WHERE mapping = $1 AND {col} IN ({})",
                    placeholders(2, ids.len())
                );
                let mut binds = vec![s(mapping)];
                binds.extend(ids.iter().map(|id| u(*id)));
                for r in tx.fetch_all_sql(AssertSqlSafe(sql), binds).await? {
                    let pair = (uuid_col(&r, "financials_id"), uuid_col(&r, "sales_id"));
                    if !wanted.contains(&pair) && !stale.contains(&pair) {
                        stale.push(pair);
                    }
                }
            }
            for (f, sa) in stale {
                tx.execute_sql(
                    "DELETE FROM sync_coupling WHERE mapping = $1 AND financials_id = $2 AND sales_id = $3",
                    vec![s(mapping), u(f), u(sa)],
                )
                .await?;
            }

            let mut sql = String::from(
                "INSERT INTO sync_coupling (mapping, financials_id, sales_id, base, base_hash, synced_at, last_job_id, created_at) VALUES ",
            );
            let mut binds = Vec::new();
            for (k, (f, sa, base)) in chunk.iter().enumerate() {
                if k > 0 {
                    sql.push_str(", ");
                }
                let a = binds.len() + 1;
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    a,
                    a + 1,
                    a + 2,
                    a + 3,
                    a + 4,
                    a + 5,
                    a + 6,
                    a + 5
                ));
                binds.extend([
                    s(mapping),
                    u(*f),
                    u(*sa),
                    s(serde_json::to_string(base).expect("base serializes")),
                    s(hash(base)),
                    i(t),
                    u(job_id),
                ]);
            }
            sql.push_str(
                " ON CONFLICT (mapping, financials_id) DO UPDATE SET sales_id = excluded.sales_id, base = excluded.base,
                  base_hash = excluded.base_hash, synced_at = excluded.synced_at, last_job_id = excluded.last_job_id",
            );
            tx.execute_sql(AssertSqlSafe(sql), binds).await?;
        }
        for (f, sa) in &page.remove {
            tx.execute_sql(
                "DELETE FROM sync_coupling WHERE mapping = $1 AND financials_id = $2 AND sales_id = $3",
                vec![s(mapping), u(*f), u(*sa)],
            )
            .await?;
        }
        let side = source_side.as_str();
        for chunk in page.succeeded.chunks(500) {
            let sql = format!(
                "DELETE FROM sync_record_state WHERE mapping = $1 AND side = $2 AND source_id IN ({})",
                placeholders(3, chunk.len())
            );
            let mut binds = vec![s(mapping), s(side)];
            binds.extend(chunk.iter().map(|id| u(*id)));
            tx.execute_sql(AssertSqlSafe(sql), binds).await?;
        }
        let mut skipped = Vec::new();
        for (id, message) in &page.failed {
            let prev = tx
                .fetch_optional_sql(
                    "SELECT message, repeats FROM sync_record_state WHERE mapping = $1 AND side = $2 AND source_id = $3",
                    vec![s(mapping), s(side), u(*id)],
                )
                .await?;
            let repeats = match prev {
                Some(r) if r.get_string("message") == *message => r.get_i64("repeats") + 1,
                _ => 1,
            };
            let skip = repeats >= 2;
            if skip {
                skipped.push(*id);
            }
            tx.execute_sql(
                "INSERT INTO sync_record_state (mapping, side, source_id, message, repeats, skipped, job_id, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (mapping, side, source_id) DO UPDATE SET message = excluded.message, repeats = excluded.repeats,
                 skipped = excluded.skipped, job_id = excluded.job_id, updated_at = excluded.updated_at",
                vec![s(mapping), s(side), u(*id), s(message.clone()), i(repeats), Bind::Bool(Some(skip)), u(job_id), i(t)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(skipped)
    }

    /// Source ids of `ids` that are skipped.
    pub async fn skipped(&self, mapping: &str, side: Side, ids: &[Uuid]) -> Result<HashSet<Uuid>> {
        let mut out = HashSet::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT source_id FROM sync_record_state WHERE mapping = $1 AND side = $2 AND skipped = TRUE AND source_id IN ({})",
                placeholders(3, chunk.len())
            );
            let mut binds = vec![s(mapping), s(side.as_str())];
            binds.extend(chunk.iter().map(|id| u(*id)));
            for r in self.db.fetch_all_sql(AssertSqlSafe(sql), binds).await? {
                out.insert(uuid_col(&r, "source_id"));
            }
        }
        Ok(out)
    }

    /// Source records that failed and are not skipped: retried first on every run.
    pub async fn failed_unskipped(&self, mapping: &str, side: Side) -> Result<Vec<Uuid>> {
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT source_id FROM sync_record_state WHERE mapping = $1 AND side = $2 AND skipped = FALSE ORDER BY source_id",
                vec![s(mapping), s(side.as_str())],
            )
            .await?;
        Ok(rows.iter().map(|r| uuid_col(r, "source_id")).collect())
    }

    /// Skipped records of a mapping (both sides).
    pub async fn skipped_records(&self, mapping: &str) -> Result<Vec<(Side, Uuid, String)>> {
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT side, source_id, message FROM sync_record_state WHERE mapping = $1 AND skipped = TRUE ORDER BY source_id",
                vec![s(mapping)],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    Side::parse(&r.get_string("side"))?,
                    uuid_col(r, "source_id"),
                    r.get_string("message"),
                ))
            })
            .collect())
    }

    /// The failed records that are coupled (joined on the failing side's id), newest first,
    /// `limit` after the first `offset`.
    pub async fn coupled_failures(&self, limit: i64, offset: i64) -> Result<Vec<CoupledFailure>> {
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT r.mapping, r.side, r.message, r.skipped, r.job_id, r.updated_at, c.financials_id, c.sales_id
                 FROM sync_record_state r JOIN sync_coupling c ON c.mapping = r.mapping
                   AND ((r.side = $1 AND c.financials_id = r.source_id) OR (r.side = $2 AND c.sales_id = r.source_id))
                 ORDER BY r.updated_at DESC, r.mapping, r.side, r.source_id LIMIT $3 OFFSET $4",
                vec![s(Side::Financials.as_str()), s(Side::Sales.as_str()), i(limit), i(offset)],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(CoupledFailure {
                    mapping: r.get_string("mapping"),
                    financials_id: uuid_col(r, "financials_id"),
                    sales_id: uuid_col(r, "sales_id"),
                    side: Side::parse(&r.get_string("side"))?,
                    message: r.get_string("message"),
                    skipped: r.get_bool("skipped"),
                    job_id: r.get_opt_string("job_id").and_then(|j| Uuid::parse_str(&j).ok()),
                    at: from_micros(r.get_i64("updated_at")),
                })
            })
            .collect())
    }

    /// How many failed records are coupled (the rows of [`SyncStore::coupled_failures`]).
    pub async fn coupled_failure_count(&self) -> Result<u64> {
        let r = self
            .db
            .fetch_one_sql(
                "SELECT COUNT(*) AS n FROM sync_record_state r JOIN sync_coupling c ON c.mapping = r.mapping
                   AND ((r.side = $1 AND c.financials_id = r.source_id) OR (r.side = $2 AND c.sales_id = r.source_id))",
                vec![s(Side::Financials.as_str()), s(Side::Sales.as_str())],
            )
            .await?;
        Ok(r.get_i64("n") as u64)
    }

    /// Forgets the failures of the records `financials_id` and `sales_id` under `mapping`
    /// (their coupling was resolved or removed).
    pub async fn clear_failures(
        &self,
        mapping: &str,
        financials_id: Uuid,
        sales_id: Uuid,
    ) -> Result<u64> {
        Ok(self
            .db
            .execute_sql(
                "DELETE FROM sync_record_state WHERE mapping = $1
                   AND ((side = $2 AND source_id = $3) OR (side = $4 AND source_id = $5))",
                vec![
                    s(mapping),
                    s(Side::Financials.as_str()),
                    u(financials_id),
                    s(Side::Sales.as_str()),
                    u(sales_id),
                ],
            )
            .await?)
    }

    /// Retry: un-skips one record (any side) or, with `None`, every record of the mapping
    /// (or of all mappings when `mapping` is `None` too). Returns how many were un-skipped.
    pub async fn retry(&self, mapping: Option<&str>, id: Option<Uuid>) -> Result<u64> {
        let n = match (mapping, id) {
            (Some(m), Some(id)) => {
                self.db
                    .execute_sql(
                        "UPDATE sync_record_state SET skipped = FALSE, repeats = 0 WHERE mapping = $1 AND source_id = $2 AND skipped = TRUE",
                        vec![s(m), u(id)],
                    )
                    .await?
            }
            (Some(m), None) => {
                self.db
                    .execute_sql(
                        "UPDATE sync_record_state SET skipped = FALSE, repeats = 0 WHERE mapping = $1 AND skipped = TRUE",
                        vec![s(m)],
                    )
                    .await?
            }
            (None, Some(id)) => {
                self.db
                    .execute_sql(
                        "UPDATE sync_record_state SET skipped = FALSE, repeats = 0 WHERE source_id = $1 AND skipped = TRUE",
                        vec![u(id)],
                    )
                    .await?
            }
            (None, None) => {
                self.db
                    .execute_sql("UPDATE sync_record_state SET skipped = FALSE, repeats = 0 WHERE skipped = TRUE", vec![])
                    .await?
            }
        };
        Ok(n)
    }

    // ---- synch jobs ----

    pub async fn start_job(
        &self,
        mapping: &str,
        direction: &str,
        job_type: &str,
        now: DateTime<Utc>,
    ) -> Result<Uuid> {
        self.start_job_in_run(mapping, direction, job_type, None, &[], now).await
    }

    /// Starts a job on behalf of the job queue run `run_id` (its `job_log` id), so that the job
    /// can be closed as interrupted when that run dies (see [`SyncStore::close_interrupted_jobs`]).
    pub async fn start_job_in_run(
        &self,
        mapping: &str,
        direction: &str,
        job_type: &str,
        run_id: Option<Uuid>,
        resumes: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        let resumes = (!resumes.is_empty())
            .then(|| resumes.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","));
        self.db
            .execute_sql(
                "INSERT INTO sync_job (id, mapping, direction, job_type, started_at, run_id, resumes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![u(id), s(mapping), s(direction), s(job_type), i(micros(now)), os(run_id.map(|r| r.to_string())), os(resumes)],
            )
            .await?;
        Ok(id)
    }

    /// Closes, as interrupted, the unfinished jobs whose job queue run is over without having
    /// finished them: the worker died and its lease was taken over (the entry is no longer In
    /// Process with that run). Their counters keep what they had done. Returns the closed jobs
    /// as `(id, mapping, direction)`.
    pub async fn close_interrupted_jobs(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, String, String)>> {
        // A read first (no write lock when, as nearly always, nothing is open); each close is
        // guarded by `finished_at IS NULL`, so of two passes closing the same job one claims it.
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT id, mapping, direction FROM sync_job WHERE finished_at IS NULL AND run_id IS NOT NULL \
                 AND run_id NOT IN (SELECT run_id FROM job_entry WHERE status = 'in_process' AND run_id IS NOT NULL)",
                vec![],
            )
            .await?;
        let mut closed = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = uuid_col(r, "id");
            let n = self
                .db
                .execute_sql(
                    "UPDATE sync_job SET finished_at = $2, message = $3 WHERE id = $1 AND finished_at IS NULL",
                    vec![u(id), i(micros(now)), s(INTERRUPTED)],
                )
                .await?;
            if n == 1 {
                closed.push((id, r.get_string("mapping"), r.get_string("direction")));
            }
        }
        Ok(closed)
    }

    /// Adds to a running job's counters and errors (one transaction).
    pub async fn add_to_job(&self, id: Uuid, c: &Counters, errors: &[SynchError]) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.execute_sql(
            "UPDATE sync_job SET inserted = inserted + $2, modified = modified + $3, deleted = deleted + $4,
             unchanged = unchanged + $5, skipped = skipped + $6, failed = failed + $7, coupled = coupled + $8,
             uncoupled = uncoupled + $9 WHERE id = $1",
            vec![
                u(id),
                i(c.inserted as i64),
                i(c.modified as i64),
                i(c.deleted as i64),
                i(c.unchanged as i64),
                i(c.skipped as i64),
                i(c.failed as i64),
                i(c.coupled as i64),
                i(c.uncoupled as i64),
            ],
        )
        .await?;
        add_errors(&mut tx, id, errors).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn finish_job(&self, id: Uuid, message: &str, now: DateTime<Utc>) -> Result<()> {
        self.db
            .execute_sql(
                "UPDATE sync_job SET finished_at = $2, message = $3 WHERE id = $1",
                vec![u(id), i(micros(now)), s(message)],
            )
            .await?;
        Ok(())
    }

    /// Forgets a job (an idle run: nothing read, nothing written).
    pub async fn delete_job(&self, id: Uuid) -> Result<()> {
        self.db.execute_sql("DELETE FROM sync_job WHERE id = $1", vec![u(id)]).await?;
        Ok(())
    }

    fn job_from(r: &DbRow) -> SynchJob {
        let n = |c: &str| r.get_i64(c) as u64;
        SynchJob {
            id: uuid_col(r, "id"),
            mapping: r.get_string("mapping"),
            direction: r.get_string("direction"),
            job_type: r.get_string("job_type"),
            started_at: from_micros(r.get_i64("started_at")),
            finished_at: r.get_opt_i64("finished_at").map(from_micros),
            message: r.get_string("message"),
            resumes: r
                .get_opt_string("resumes")
                .map(|t| t.split(',').filter_map(|id| Uuid::parse_str(id.trim()).ok()).collect())
                .unwrap_or_default(),
            counters: Counters {
                inserted: n("inserted"),
                modified: n("modified"),
                deleted: n("deleted"),
                unchanged: n("unchanged"),
                skipped: n("skipped"),
                failed: n("failed"),
                coupled: n("coupled"),
                uncoupled: n("uncoupled"),
            },
        }
    }

    pub async fn job(&self, id: Uuid) -> Result<Option<SynchJob>> {
        let r =
            self.db.fetch_optional_sql("SELECT * FROM sync_job WHERE id = $1", vec![u(id)]).await?;
        Ok(r.as_ref().map(Self::job_from))
    }

    /// Most recent jobs first, optionally of one mapping.
    pub async fn jobs(&self, mapping: Option<&str>, limit: i64) -> Result<Vec<SynchJob>> {
        let rows = match mapping {
            Some(m) => {
                self.db
                    .fetch_all_sql(
                        "SELECT * FROM sync_job WHERE mapping = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
                        vec![s(m), i(limit)],
                    )
                    .await?
            }
            None => self.db.fetch_all_sql("SELECT * FROM sync_job ORDER BY started_at DESC, id DESC LIMIT $1", vec![i(limit)]).await?,
        };
        Ok(rows.iter().map(Self::job_from).collect())
    }

    /// A page of jobs, most recent first: of one mapping or all (`mapping` `None`), started in
    /// `[from, to)` (either end open when `None`), `limit` rows after the first `offset`.
    pub async fn jobs_page(
        &self,
        mapping: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SynchJob>> {
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT * FROM sync_job WHERE ($1 = '' OR mapping = $1) AND started_at >= $2 AND started_at < $3
                 ORDER BY started_at DESC, id DESC LIMIT $4 OFFSET $5",
                vec![
                    s(mapping.unwrap_or("")),
                    i(from.map_or(i64::MIN, micros)),
                    i(to.map_or(i64::MAX, micros)),
                    i(limit),
                    i(offset),
                ],
            )
            .await?;
        Ok(rows.iter().map(Self::job_from).collect())
    }

    pub async fn job_errors(&self, job_id: Uuid) -> Result<Vec<SynchError>> {
        let rows = self
            .db
            .fetch_all_sql("SELECT source, destination, message, at FROM sync_job_error WHERE job_id = $1 ORDER BY seq", vec![u(job_id)])
            .await?;
        Ok(rows
            .iter()
            .map(|r| SynchError {
                source: r.get_string("source"),
                destination: r.get_string("destination"),
                message: r.get_string("message"),
                at: from_micros(r.get_i64("at")),
            })
            .collect())
    }

    /// Deletes finished jobs that started before `before` and have no failures (their errors go
    /// with them); failed jobs are kept.
    pub async fn prune_jobs(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(self
            .db
            .execute_sql(
                "DELETE FROM sync_job WHERE started_at < $1 AND finished_at IS NOT NULL AND failed = 0",
                vec![i(micros(before))],
            )
            .await?)
    }

    // ---- watermarks ----

    pub async fn watermark(&self, mapping: &str, side: Side) -> Result<Option<String>> {
        let r = self
            .db
            .fetch_optional_sql(
                "SELECT token FROM sync_watermark WHERE mapping = $1 AND side = $2",
                vec![s(mapping), s(side.as_str())],
            )
            .await?;
        Ok(r.map(|r| r.get_string("token")))
    }

    pub async fn set_watermark(
        &self,
        mapping: &str,
        side: Side,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.db
            .execute_sql(
                "INSERT INTO sync_watermark (mapping, side, token, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (mapping, side) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at",
                vec![s(mapping), s(side.as_str()), s(token), i(micros(now))],
            )
            .await?;
        Ok(())
    }

    pub async fn clear_watermarks(&self, mapping: &str) -> Result<()> {
        self.db
            .execute_sql("DELETE FROM sync_watermark WHERE mapping = $1", vec![s(mapping)])
            .await?;
        Ok(())
    }

    // ---- review lines ----

    /// Replaces the review with new lines (Run Full Synchronization).
    pub async fn replace_review(&self, lines: &[ReviewLine], now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.execute_sql("DELETE FROM sync_review_line", vec![]).await?;
        for (pos, l) in lines.iter().enumerate() {
            tx.execute_sql(
                "INSERT INTO sync_review_line (name, position, dependency_filter, direction, recommendation, queue_status, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![
                    s(&l.name),
                    i(pos as i64),
                    s(&l.dependency_filter),
                    s(l.direction.as_str()),
                    s(l.recommendation.label()),
                    s(l.queue_status.as_str()),
                    i(micros(now)),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the rows each side had when review line `name` was built.
    pub async fn set_review_counts(&self, name: &str, financials: u64, sales: u64) -> Result<()> {
        self.db
            .execute_sql(
                "UPDATE sync_review_line SET financials_count = $1, sales_count = $2 WHERE name = $3",
                vec![i(financials as i64), i(sales as i64), s(name)],
            )
            .await?;
        Ok(())
    }

    pub async fn review(&self) -> Result<Vec<StoredReviewLine>> {
        let rows = self
            .db
            .fetch_all_sql("SELECT * FROM sync_review_line ORDER BY position", vec![])
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let direction = match r.get_string("direction").as_str() {
                    "ToIntegrationTable" => crate::mapping::Direction::ToIntegrationTable,
                    "FromIntegrationTable" => crate::mapping::Direction::FromIntegrationTable,
                    _ => crate::mapping::Direction::Bidirectional,
                };
                let recommendation = match r.get_string("recommendation").as_str() {
                    "Couple Records" => Recommendation::CoupleRecords,
                    "No Records Found" => Recommendation::NoRecordsFound,
                    _ => Recommendation::FullSynchronization,
                };
                StoredReviewLine {
                    line: ReviewLine {
                        name: r.get_string("name"),
                        dependency_filter: r.get_string("dependency_filter"),
                        direction,
                        recommendation,
                        queue_status: QueueStatus::parse(&r.get_string("queue_status")),
                        stage: Stage::parse(&r.get_string("stage")),
                    },
                    queue_entry_id: r.get_opt_string("queue_entry_id"),
                    to_job_id: r.get_opt_string("to_job_id").and_then(|x| Uuid::parse_str(&x).ok()),
                    from_job_id: r
                        .get_opt_string("from_job_id")
                        .and_then(|x| Uuid::parse_str(&x).ok()),
                    financials_count: r.get_opt_i64("financials_count").map(|n| n as u64),
                    sales_count: r.get_opt_i64("sales_count").map(|n| n as u64),
                }
            })
            .collect())
    }

    pub async fn set_review_status(
        &self,
        name: &str,
        status: QueueStatus,
        queue_entry_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.db
            .execute_sql(
                "UPDATE sync_review_line SET queue_status = $2, queue_entry_id = COALESCE($3, queue_entry_id), updated_at = $4 WHERE name = $1",
                vec![s(name), s(status.as_str()), os(queue_entry_id), i(micros(now))],
            )
            .await?;
        Ok(())
    }

    /// Moves a review line from `from` to `to` only if it is still in `from`: of several workers
    /// advancing the review at once, only one starts a line. Returns whether this call moved it.
    pub async fn claim_review_line(
        &self,
        name: &str,
        from: QueueStatus,
        to: QueueStatus,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .db
            .execute_sql(
                "UPDATE sync_review_line SET queue_status = $3, updated_at = $4 WHERE name = $1 AND queue_status = $2",
                vec![s(name), s(from.as_str()), s(to.as_str()), i(micros(now))],
            )
            .await?;
        Ok(n == 1)
    }

    /// Moves a review line from stage `from` to `to` only if it is still in `from` (one worker
    /// starts a line's second pass). Returns whether this call moved it.
    pub async fn claim_review_stage(&self, name: &str, from: Stage, to: Stage) -> Result<bool> {
        let n = self
            .db
            .execute_sql(
                "UPDATE sync_review_line SET stage = $3 WHERE name = $1 AND stage = $2",
                vec![s(name), s(from.as_str()), s(to.as_str())],
            )
            .await?;
        Ok(n == 1)
    }

    /// Records the job queue entry of a review line (its status is left as it is: the entry may
    /// have run already).
    pub async fn set_review_entry(&self, name: &str, queue_entry_id: &str) -> Result<()> {
        self.db
            .execute_sql(
                "UPDATE sync_review_line SET queue_entry_id = $2 WHERE name = $1",
                vec![s(name), s(queue_entry_id)],
            )
            .await?;
        Ok(())
    }

    pub async fn set_review_job(
        &self,
        name: &str,
        to_job: Option<Uuid>,
        from_job: Option<Uuid>,
    ) -> Result<()> {
        self.db
            .execute_sql(
                "UPDATE sync_review_line SET to_job_id = COALESCE($2, to_job_id), from_job_id = COALESCE($3, from_job_id) WHERE name = $1",
                vec![s(name), os(to_job.map(|x| x.to_string())), os(from_job.map(|x| x.to_string()))],
            )
            .await?;
        Ok(())
    }

    /// Counts per mapping of couplings (for status pages).
    pub async fn coupling_counts(&self) -> Result<HashMap<String, u64>> {
        let rows = self
            .db
            .fetch_all_sql(
                "SELECT mapping, COUNT(*) AS n FROM sync_coupling GROUP BY mapping",
                vec![],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get_string("mapping"), r.get_i64("n") as u64)).collect())
    }
}

async fn add_errors(tx: &mut Tx, job_id: Uuid, errors: &[SynchError]) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let r = tx
        .fetch_one_sql(
            "SELECT COUNT(*) AS n FROM sync_job_error WHERE job_id = $1",
            vec![u(job_id)],
        )
        .await?;
    let mut seq = r.get_i64("n");
    for e in errors {
        seq += 1;
        tx.execute_sql(
            "INSERT INTO sync_job_error (id, job_id, seq, source, destination, message, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![u(Uuid::now_v7()), u(job_id), i(seq), s(&e.source), s(&e.destination), s(&e.message), i(micros(e.at))],
        )
        .await?;
    }
    Ok(())
}
