//! Rows of the entity tables: one code path for every entity set, on both backends.
//!
//! The functions mirror the generic entity repository of `docs/contracts.md` (list, get, get by
//! alternate key, insert, update, delete, changes) and are what the server calls; they take the
//! *storage* entity types ([`crate::storage_model`]). Values are JSON in the model's names; the
//! storage encoding is kontor-odata's (`sql::encode_value` / `sql::decode`), so `$filter` lowering
//! and stored values agree.

use std::collections::BTreeSet;

use kontor_odata::model::NavigationKind;
use kontor_odata::model::{EdmType, EntityType, Property, ROW_VERSION_COLUMN};
use kontor_odata::query::QueryOptions;
use kontor_odata::sql::{self, Dialect};
use kontor_store::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, OnConflict, Order, Query, Value,
};
use kontor_store::{Backend, Row, StoreError, Tx};
use serde_json::{Map, Value as J};
use uuid::Uuid;

use crate::SalesError;
use crate::model::storage_model;

/// One page of a collection.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub rows: Vec<Map<String, J>>,
    /// `$count=true`: rows matching the filter, ignoring paging.
    pub count: Option<i64>,
    /// Opaque token for the next page, when there is one.
    pub next_skiptoken: Option<String>,
}

/// One entry of the change feed, in row-version order.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Upsert(Map<String, J>),
    Deleted { id: Uuid, version: i64 },
}

type Result<T> = std::result::Result<T, SalesError>;

fn dialect(tx: &Tx) -> Dialect {
    match tx.backend() {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
    }
}

fn table(e: &EntityType) -> Alias {
    Alias::new(e.table.as_str())
}

fn col(e: &EntityType, c: &str) -> Expr {
    sql::column(e, c)
}

fn key_column(e: &EntityType) -> &str {
    e.properties.iter().find(|p| p.name == e.key).map(|p| p.column.as_str()).unwrap_or("id")
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Reads one property from a result row.
fn read(p: &Property, row: &Row) -> Result<J> {
    let c = p.column.as_str();
    let v = match p.ty {
        EdmType::Guid | EdmType::String | EdmType::Date => {
            Value::String(row.try_get::<Option<String>>(c)?)
        }
        EdmType::Int32 | EdmType::Int64 | EdmType::Decimal { .. } | EdmType::DateTimeOffset => {
            Value::BigInt(row.try_get_opt_i64(c)?)
        }
        EdmType::Double => Value::Double(row.try_get::<Option<f64>>(c)?),
        EdmType::Boolean => Value::Bool(row.try_get::<Option<bool>>(c)?),
    };
    Ok(sql::decode(p.ty, &v)?)
}

fn decode_row(props: &[&Property], row: &Row) -> Result<Map<String, J>> {
    let mut m = Map::new();
    for p in props {
        m.insert(p.name.clone(), read(p, row)?);
    }
    Ok(m)
}

fn all_props(e: &EntityType) -> Vec<&Property> {
    e.properties.iter().collect()
}

/// A page of `entity` rows for `q` (filter, select, orderby, top, skip, count, expand; paging by
/// `$skiptoken`).
pub async fn list(tx: &mut Tx, e: &EntityType, q: &QueryOptions, page_size: usize) -> Result<Page> {
    let model = storage_model();
    let d = dialect(tx);
    let offset: u64 = match &q.skiptoken {
        Some(t) => t.parse().map_err(|_| {
            SalesError::OData(kontor_odata::ODataError::invalid_query_option(format!(
                "The $skiptoken '{t}' is not valid."
            )))
        })?,
        None => 0,
    };
    let mut page = page_size as u64;
    if let Some(top) = q.top {
        page = std::cmp::Ord::min(page, top.saturating_sub(offset));
    }
    let mut stmt = sql::select(e, model, q, d)?;
    stmt.limit(page + 1);
    stmt.offset(q.skip.unwrap_or(0) + offset);
    let props = sql::selected_properties(e, model, q)?;
    // Expansions need the navigation's local property even when it is not selected.
    let mut extra: Vec<&Property> = vec![];
    for ex in &q.expand {
        if let Some(nav) = e.navigation(&ex.navigation) {
            if let NavigationKind::ToOne { local_property } = &nav.kind {
                if let Some(p) = e.property(local_property) {
                    if !props.iter().any(|x| x.name == p.name) {
                        stmt.expr(col(e, &p.column));
                        extra.push(p);
                    }
                }
            }
        }
    }
    let rows = tx.fetch_all(&stmt).await?;
    let mut out = vec![];
    for r in rows.iter().take(page as usize) {
        let mut m = decode_row(&props, r)?;
        for p in &extra {
            m.insert(p.name.clone(), read(p, r)?);
        }
        out.push(m);
    }
    let more = rows.len() as u64 > page && page > 0;
    let count = if q.count {
        let mut c = Query::select();
        c.from(table(e)).expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"));
        if let Some(f) = &q.filter {
            c.and_where(sql::filter_condition(f, e, model, d)?);
        }
        let row = tx.fetch_one(&c).await?;
        Some(row.try_get_i64("n")?)
    } else {
        None
    };
    for ex in &q.expand {
        expand(tx, e, &mut out, ex).await?;
    }
    for p in &extra {
        if !q.select.is_empty() {
            for m in &mut out {
                m.remove(&p.name);
            }
        }
    }
    Ok(Page { rows: out, count, next_skiptoken: more.then(|| (offset + page).to_string()) })
}

async fn expand(
    tx: &mut Tx,
    e: &EntityType,
    rows: &mut [Map<String, J>],
    ex: &kontor_odata::query::Expand,
) -> Result<()> {
    let model = storage_model();
    let d = dialect(tx);
    let Some(nav) = e.navigation(&ex.navigation) else { return Ok(()) };
    let Some(target) = model.entity_set(&nav.target_set) else { return Ok(()) };
    let (local, remote): (String, String) = match &nav.kind {
        NavigationKind::ToOne { local_property } => (local_property.clone(), target.key.clone()),
        NavigationKind::ToMany { remote_property } => (e.key.clone(), remote_property.clone()),
    };
    let ids: BTreeSet<String> =
        rows.iter().filter_map(|r| r.get(&local).and_then(J::as_str).map(str::to_owned)).collect();
    if ids.is_empty() {
        for r in rows.iter_mut() {
            let empty = match nav.kind {
                NavigationKind::ToOne { .. } => J::Null,
                NavigationKind::ToMany { .. } => J::Array(vec![]),
            };
            r.insert(ex.navigation.clone(), empty);
        }
        return Ok(());
    }
    let Some(remote_prop) = target.property(&remote) else { return Ok(()) };
    let mut opts = ex.options.clone();
    opts.top = None;
    opts.skip = None;
    if !opts.select.is_empty() && !opts.select.contains(&remote) {
        opts.select.push(remote.clone());
    }
    let mut stmt = sql::select(target, model, &opts, d)?;
    stmt.and_where(col(target, &remote_prop.column).is_in(ids.iter().cloned()));
    let props = sql::selected_properties(target, model, &opts)?;
    let found = tx.fetch_all(&stmt).await?;
    let mut decoded = vec![];
    for r in &found {
        decoded.push(decode_row(&props, r)?);
    }
    for r in rows.iter_mut() {
        let id = r.get(&local).and_then(J::as_str).map(str::to_owned);
        let v = match nav.kind {
            NavigationKind::ToOne { .. } => id
                .and_then(|id| {
                    decoded.iter().find(|t| t.get(&remote).and_then(J::as_str) == Some(id.as_str()))
                })
                .map(|t| J::Object(t.clone()))
                .unwrap_or(J::Null),
            NavigationKind::ToMany { .. } => {
                let mut items: Vec<J> = decoded
                    .iter()
                    .filter(|t| id.is_some() && t.get(&remote).and_then(J::as_str) == id.as_deref())
                    .map(|t| J::Object(t.clone()))
                    .collect();
                if let Some(top) = ex.options.top {
                    items.truncate(top as usize);
                }
                J::Array(items)
            }
        };
        r.insert(ex.navigation.clone(), v);
    }
    Ok(())
}

/// The row with primary key `id`.
pub async fn get(tx: &mut Tx, e: &EntityType, id: Uuid) -> Result<Option<Map<String, J>>> {
    let mut stmt = Query::select();
    stmt.from(table(e));
    for p in &e.properties {
        stmt.expr(col(e, &p.column));
    }
    stmt.and_where(col(e, key_column(e)).eq(id.to_string()));
    match tx.fetch_optional(&stmt).await? {
        Some(r) => Ok(Some(decode_row(&all_props(e), &r)?)),
        None => Ok(None),
    }
}

/// The row whose alternate key properties have these values.
pub async fn get_by_alternate_key(
    tx: &mut Tx,
    e: &EntityType,
    key: &[(String, J)],
) -> Result<Option<Map<String, J>>> {
    let mut stmt = Query::select();
    stmt.from(table(e));
    for p in &e.properties {
        stmt.expr(col(e, &p.column));
    }
    for (name, v) in key {
        let p = e.property(name).ok_or_else(|| {
            SalesError::OData(kontor_odata::ODataError::unknown_property(
                name,
                &format!("Microsoft.Dynamics.CRM.{}", e.name),
            ))
        })?;
        if v.is_null() {
            stmt.and_where(col(e, &p.column).is_null());
        } else {
            stmt.and_where(col(e, &p.column).eq(sql::encode_value(p.ty, v, &p.name)?));
        }
    }
    stmt.limit(2);
    let rows = tx.fetch_all(&stmt).await?;
    match rows.first() {
        Some(r) => Ok(Some(decode_row(&all_props(e), r)?)),
        None => Ok(None),
    }
}

/// Inserts a row (the key must be in `row`); stamps `createdon`/`modifiedon` and the row version.
/// Returns the stored row.
pub async fn insert(tx: &mut Tx, e: &EntityType, row: &Map<String, J>) -> Result<Map<String, J>> {
    let version = tx.next_row_versions(1).await?;
    let now = sql::micros_to_rfc3339(now_micros())?;
    let mut full = Map::new();
    let mut cols = vec![];
    let mut vals: Vec<Expr> = vec![];
    for p in &e.properties {
        let v = if p.column == ROW_VERSION_COLUMN {
            J::from(version)
        } else if Some(&p.name) == e.created_property.as_ref()
            || Some(&p.name) == e.modified_property.as_ref()
        {
            J::String(now.clone())
        } else {
            row.get(&p.name).cloned().unwrap_or(J::Null)
        };
        let encoded = sql::encode_value(p.ty, &v, &p.name)?;
        full.insert(p.name.clone(), sql::decode(p.ty, &encoded)?);
        cols.push(Alias::new(p.column.as_str()));
        vals.push(Expr::val(encoded));
    }
    let mut stmt = Query::insert();
    stmt.into_table(table(e)).columns(cols);
    stmt.values(vals).map_err(|err| SalesError::Internal(err.to_string()))?;
    tx.execute(&stmt).await?;
    Ok(full)
}

/// Current row version of a row, if it exists.
async fn version_of(tx: &mut Tx, e: &EntityType, id: Uuid) -> Result<Option<i64>> {
    let mut stmt = Query::select();
    stmt.from(table(e))
        .expr(col(e, ROW_VERSION_COLUMN))
        .and_where(col(e, key_column(e)).eq(id.to_string()));
    match tx.fetch_optional(&stmt).await? {
        Some(r) => Ok(Some(r.try_get_i64(ROW_VERSION_COLUMN)?)),
        None => Ok(None),
    }
}

/// Applies `patch` to row `id`; with `if_match`, only when the row is at that version.
pub async fn update(
    tx: &mut Tx,
    e: &EntityType,
    id: Uuid,
    patch: &Map<String, J>,
    if_match: Option<i64>,
) -> Result<Map<String, J>> {
    let current = version_of(tx, e, id).await?.ok_or(StoreError::NotFound)?;
    if let Some(v) = if_match {
        if v != current {
            return Err(StoreError::VersionMismatch { current }.into());
        }
    }
    let version = tx.next_row_versions(1).await?;
    let mut stmt = Query::update();
    stmt.table(table(e));
    for (name, v) in patch {
        let Some(p) = e.property(name) else {
            return Err(SalesError::OData(kontor_odata::ODataError::unknown_property(
                name,
                &format!("Microsoft.Dynamics.CRM.{}", e.name),
            )));
        };
        if p.name == e.key || p.column == ROW_VERSION_COLUMN {
            continue;
        }
        stmt.value(Alias::new(p.column.as_str()), sql::encode_value(p.ty, v, &p.name)?);
    }
    if let Some(m) = e.modified_property.as_ref().and_then(|m| e.property(m)) {
        stmt.value(Alias::new(m.column.as_str()), now_micros());
    }
    stmt.value(Alias::new(ROW_VERSION_COLUMN), version);
    stmt.and_where(Expr::col(Alias::new(key_column(e))).eq(id.to_string()));
    stmt.and_where(Expr::col(Alias::new(ROW_VERSION_COLUMN)).eq(current));
    let n = tx.execute(&stmt).await?;
    if n == 0 {
        let now = version_of(tx, e, id).await?.ok_or(StoreError::NotFound)?;
        return Err(StoreError::VersionMismatch { current: now }.into());
    }
    get(tx, e, id).await?.ok_or_else(|| StoreError::NotFound.into())
}

/// Deletes row `id` (with `if_match`, only at that version) and records a tombstone.
pub async fn delete(tx: &mut Tx, e: &EntityType, id: Uuid, if_match: Option<i64>) -> Result<()> {
    let current = version_of(tx, e, id).await?.ok_or(StoreError::NotFound)?;
    if let Some(v) = if_match {
        if v != current {
            return Err(StoreError::VersionMismatch { current }.into());
        }
    }
    let mut stmt = Query::delete();
    stmt.from_table(table(e)).and_where(Expr::col(Alias::new(key_column(e))).eq(id.to_string()));
    tx.execute(&stmt).await?;
    let version = tx.next_row_versions(1).await?;
    let mut ins = Query::insert();
    ins.into_table(Alias::new("store_tombstone"))
        .columns([
            Alias::new("entity_set"),
            Alias::new("id"),
            Alias::new("row_version"),
            Alias::new("deleted_at"),
        ])
        .values([
            Expr::val(e.set_name.clone()),
            Expr::val(id.to_string()),
            Expr::val(version),
            Expr::val(now_micros()),
        ])
        .map_err(|err| SalesError::Internal(err.to_string()))?
        .on_conflict(
            OnConflict::columns([Alias::new("entity_set"), Alias::new("id")])
                .update_columns([Alias::new("row_version"), Alias::new("deleted_at")])
                .to_owned(),
        );
    tx.execute(&ins).await?;
    Ok(())
}

/// Rows changed and deleted after `after`, in row-version order, at most `limit`.
pub async fn changes(tx: &mut Tx, e: &EntityType, after: i64, limit: usize) -> Result<Vec<Change>> {
    let mut stmt = Query::select();
    stmt.from(table(e));
    for p in &e.properties {
        stmt.expr(col(e, &p.column));
    }
    if e.property(crate::model::VERSION_PROPERTY).is_none() {
        stmt.expr(col(e, ROW_VERSION_COLUMN));
    }
    stmt.and_where(col(e, ROW_VERSION_COLUMN).gt(after))
        .order_by((table(e), Alias::new(ROW_VERSION_COLUMN)), Order::Asc)
        .limit(limit as u64);
    let rows = tx.fetch_all(&stmt).await?;
    let mut out: Vec<(i64, Change)> = vec![];
    for r in &rows {
        let v = r.try_get_i64(ROW_VERSION_COLUMN)?;
        out.push((v, Change::Upsert(decode_row(&all_props(e), r)?)));
    }
    let mut t = Query::select();
    t.from(Alias::new("store_tombstone"))
        .columns([Alias::new("id"), Alias::new("row_version")])
        .and_where(Expr::col(Alias::new("entity_set")).eq(e.set_name.clone()))
        .and_where(Expr::col(Alias::new("row_version")).gt(after))
        .order_by(Alias::new("row_version"), Order::Asc)
        .limit(limit as u64);
    for r in tx.fetch_all(&t).await? {
        let id: String = r.try_get("id")?;
        let version = r.try_get_i64("row_version")?;
        if let Ok(id) = Uuid::parse_str(&id) {
            out.push((version, Change::Deleted { id, version }));
        }
    }
    out.sort_by_key(|(v, _)| *v);
    out.truncate(limit);
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// The highest row version handed out so far.
pub async fn current_version(tx: &mut Tx) -> Result<i64> {
    Ok(tx.current_version().await?)
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
    let mut stmt = Query::select();
    stmt.from(table(e))
        .expr_as(col(e, &kc), Alias::new("k"))
        .expr_as(col(e, name_column), Alias::new("n"))
        .and_where(col(e, &kc).is_in(ids.iter().cloned()));
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
