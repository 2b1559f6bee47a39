//! Generic reads over any entity set (collection pages with `$filter $select $orderby $top $skip
//! $count $expand`, single rows, the change feed) and deletes with tombstones: kontor-store's
//! `Repo`, with rows as `Record`s.

use kontor_odata::model::EntityType;
use kontor_odata::query::QueryOptions;
use kontor_odata::sql;
use kontor_store::Tx;
use kontor_store::sea_query::{Expr, ExprTrait};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::error::{FinError, Result};
use crate::rows::{self, Record};

/// A page of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<Record>,
    pub count: Option<i64>,
    /// Present when more rows follow: the `$skiptoken` of the next page.
    pub next_skiptoken: Option<String>,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Upsert(Record),
    Deleted { id: Uuid, version: i64 },
}

fn odata_err(e: kontor_odata::ODataError) -> FinError {
    FinError::Invalid {
        code: if e.code == "InvalidFilter" {
            "Application_FilterErrorException"
        } else {
            "BadRequest"
        },
        field: e.target.clone(),
        message: e.message,
    }
}

/// A condition `column = value` on the entity's table.
fn eq(entity: &EntityType, property: &str, value: &Json) -> Result<Expr> {
    let p = entity
        .property(property)
        .ok_or_else(|| FinError::internal(format!("{}.{property}", entity.name)))?;
    let v = sql::encode_value(p.ty, value, property).map_err(odata_err)?;
    Ok(sql::column(entity, &p.column).eq(v))
}

/// A page of `entity` rows matching `options` (and `scope`: `property = value`), at most
/// `page_size` rows.
pub async fn list(
    tx: &mut Tx,
    entity: &EntityType,
    options: &QueryOptions,
    scope: Option<(&str, Json)>,
    page_size: u64,
) -> Result<Page> {
    let scope = scope.map(|(p, v)| eq(entity, p, &v)).transpose()?;
    let page = rows::repo_for(entity).list(tx, entity, options, scope, page_size).await?;
    Ok(Page {
        rows: page.rows.into_iter().map(rows::from_map).collect(),
        count: page.count,
        next_skiptoken: page.next_skiptoken,
    })
}

/// One row by key (with `$select`/`$expand`), or `None`.
pub async fn get(
    tx: &mut Tx,
    entity: &EntityType,
    id: Uuid,
    options: &QueryOptions,
    scope: Option<(&str, Json)>,
) -> Result<Option<Record>> {
    let scope = scope.map(|(p, v)| eq(entity, p, &v)).transpose()?;
    let found = rows::repo_for(entity).get_with(tx, entity, id, options, scope).await?;
    Ok(found.map(rows::from_map))
}

/// The entity JSON with `@odata.etag` first.
pub fn with_etag(r: &Record) -> Map<String, Json> {
    kontor_odata::json::with_etag(r.data.clone(), r.version)
}

/// Rows of `entity` changed after `after` (upserts, with `$select` applied) and deleted after
/// it (tombstones), in version order, at most `limit`.
pub async fn changes(
    tx: &mut Tx,
    entity: &EntityType,
    after: i64,
    limit: u64,
    options: &QueryOptions,
) -> Result<Vec<Change>> {
    for name in &options.select {
        if entity.property(name).is_none() {
            return Err(FinError::invalid(
                "$select",
                format!(
                    "Could not find a property named '{name}' on type 'Microsoft.NAV.{}'.",
                    entity.name
                ),
            ));
        }
    }
    let found =
        rows::repo_for(entity).changes_selecting(tx, entity, after, limit, &options.select).await?;
    Ok(found
        .into_iter()
        .map(|c| match c {
            kontor_store::Change::Upsert(m) => Change::Upsert(rows::from_map(m)),
            kontor_store::Change::Deleted { id, version } => Change::Deleted { id, version },
        })
        .collect())
}

/// Deletes `id` from `entity` through the repository, which records a tombstone for the
/// change feed. Returns the deleted row.
pub async fn delete(tx: &mut Tx, entity: &EntityType, id: Uuid) -> Result<Record> {
    let old = rows::get(tx, entity, id)
        .await?
        .ok_or_else(|| FinError::NotFound(format!("The {} does not exist.", entity.name)))?;
    rows::repo_for(entity).delete(tx, entity, id, None).await?;
    Ok(old)
}

/// The highest row version committed so far (the token of a fresh change feed).
pub async fn current_version(tx: &mut Tx) -> Result<i64> {
    Ok(tx.current_version().await?)
}
