//! Rows of the entity tables: one code path for every entity set, on both backends, through
//! kontor-store's generic [`Repo`] over the *storage* model ([`crate::storage_model`]: the
//! Sales model with nothing read-only, because the server enforces Dataverse's read-only rules
//! itself and writes system columns such as `_modifiedby_value`).

use std::sync::OnceLock;

use kontor_odata::model::EntityType;
use kontor_odata::query::QueryOptions;
use kontor_store::sea_query::{Alias, ExprTrait};
use kontor_store::{Caller, Repo, Tx};
use serde_json::{Map, Value as J};
use uuid::Uuid;

use crate::SalesError;
use crate::model::storage_model;

pub use kontor_store::{Change, Page, row_version};

type Result<T> = std::result::Result<T, SalesError>;

/// The repository of the Sales tables.
pub fn repo() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| Repo::new(storage_model().clone()))
}

fn key_column(e: &EntityType) -> &str {
    e.properties.iter().find(|p| p.name == e.key).map(|p| p.column.as_str()).unwrap_or("id")
}

/// A page of `entity` rows for `q` (filter, select, orderby, top, skip, count, expand; paging by
/// `$skiptoken`).
pub async fn list(tx: &mut Tx, e: &EntityType, q: &QueryOptions, page_size: usize) -> Result<Page> {
    Ok(repo().list(tx, e, q, None, page_size as u64).await?)
}

/// The row with primary key `id`.
pub async fn get(tx: &mut Tx, e: &EntityType, id: Uuid) -> Result<Option<Map<String, J>>> {
    Ok(repo().get(tx, e, id).await?)
}

/// The rows with these primary keys that exist, by key (one query per thousand keys).
pub async fn get_many(
    tx: &mut Tx,
    e: &EntityType,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Map<String, J>>> {
    Ok(repo().get_many(tx, e, ids).await?)
}

/// The row whose alternate key properties have these values.
pub async fn get_by_alternate_key(
    tx: &mut Tx,
    e: &EntityType,
    key: &[(String, J)],
) -> Result<Option<Map<String, J>>> {
    let pairs: Vec<(&str, J)> = key.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    Ok(repo().get_by_alternate_key(tx, e, &pairs).await?)
}

/// Inserts a row (key from the row or a new v7); stamps created/modified and the row version.
pub async fn insert(tx: &mut Tx, e: &EntityType, row: &Map<String, J>) -> Result<Map<String, J>> {
    Ok(repo().insert_as(tx, e, row, Caller::System).await?)
}

/// Inserts many rows in one go (one row-version reservation, multi-row INSERTs).
pub async fn insert_many(
    tx: &mut Tx,
    e: &EntityType,
    rows: &[Map<String, J>],
) -> Result<Vec<Uuid>> {
    Ok(repo().insert_many(tx, e, rows, Caller::System).await?)
}

/// Applies `patch` to row `id`; with `if_match`, only when the row is at that version.
pub async fn update(
    tx: &mut Tx,
    e: &EntityType,
    id: Uuid,
    patch: &Map<String, J>,
    if_match: Option<i64>,
) -> Result<Map<String, J>> {
    Ok(repo().update_as(tx, e, id, patch, if_match, Caller::System).await?)
}

/// Deletes row `id` (with `if_match`, only at that version) and records a tombstone.
pub async fn delete(tx: &mut Tx, e: &EntityType, id: Uuid, if_match: Option<i64>) -> Result<()> {
    Ok(repo().delete(tx, e, id, if_match).await?)
}

/// Rows changed and deleted after `after`, in row-version order, at most `limit`.
pub async fn changes(tx: &mut Tx, e: &EntityType, after: i64, limit: usize) -> Result<Vec<Change>> {
    Ok(repo().changes(tx, e, after, limit as u64).await?)
}

/// The highest row version handed out so far.
pub async fn current_version(tx: &mut Tx) -> Result<i64> {
    Ok(repo().current_version(tx).await?)
}

/// `(id, name)` of rows of `e` among `ids`, reading column `name_column`.
pub async fn names(
    tx: &mut Tx,
    e: &EntityType,
    name_column: &str,
    ids: &[String],
) -> Result<Vec<(String, String)>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let kc = key_column(e).to_owned();
    let col =
        |c: &str| kontor_store::sea_query::Expr::col((Alias::new(e.table.as_str()), Alias::new(c)));
    let mut stmt = kontor_store::sea_query::Query::select();
    stmt.from(Alias::new(e.table.as_str()))
        .expr_as(col(&kc), Alias::new("k"))
        .expr_as(col(name_column), Alias::new("n"))
        .and_where(col(&kc).is_in(ids.iter().cloned()));
    let mut out = vec![];
    for r in tx.fetch_all(&stmt).await? {
        let k: Option<String> = r.try_get("k")?;
        let n: Option<String> = r.try_get("n")?;
        if let (Some(k), Some(n)) = (k, n) {
            out.push((k, n));
        }
    }
    Ok(out)
}
