//! Generic reads over any entity set (collection pages with `$filter $select $orderby $top $skip
//! $count $expand`, single rows, the change feed) and deletes with tombstones.
//!
//! Interim: this is the part of kontor-store's generic `Repo` Financials needs, written on the
//! odata crate's SQL lowering; it moves to `Repo` when that lands (same shapes).

use kontor_odata::model::{EntityType, NavigationKind, ROW_VERSION_COLUMN};
use kontor_odata::query::QueryOptions;
use kontor_odata::sql::{self, Dialect};
use kontor_store::sea_query::{Alias, Expr, ExprTrait, Func, Query, SelectStatement, Value};
use kontor_store::{Backend, Tx};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::error::{FinError, Result};
use crate::model::{model as api_model, sets, web_services_model};

/// The model an entity belongs to (the API's, or the OData web services').
fn model_of(entity: &EntityType) -> &'static kontor_odata::model::Model {
    if entity.set_name == sets::PRODUCT_ITEM_AVAILABILITY {
        web_services_model()
    } else {
        api_model()
    }
}
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

fn dialect(tx: &Tx) -> Dialect {
    match tx.backend() {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
    }
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

fn decode_selected(
    row: &kontor_store::Row,
    entity: &EntityType,
    options: &QueryOptions,
) -> Result<Record> {
    let mut rec = rows::record_partial(row, entity, |name| {
        options.select.is_empty() || name == entity.key || options.select.iter().any(|s| s == name)
    })?;
    rec.data.retain(|_, _| true);
    Ok(rec)
}

/// Options without paging, for counting.
fn base_select(entity: &EntityType, options: &QueryOptions, tx: &Tx) -> Result<SelectStatement> {
    let mut plain = options.clone();
    plain.top = None;
    plain.skip = None;
    plain.orderby.clear();
    sql::select(entity, model_of(entity), &plain, dialect(tx)).map_err(odata_err)
}

/// A page of `entity` rows matching `options` (and `scope`: `property = value`), at most
/// `page_size` rows. The skiptoken counts rows already served.
pub async fn list(
    tx: &mut Tx,
    entity: &EntityType,
    options: &QueryOptions,
    scope: Option<(&str, Json)>,
    page_size: u64,
) -> Result<Page> {
    let served: u64 = match &options.skiptoken {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| FinError::invalid("$skiptoken", "The $skiptoken is not valid."))?,
    };
    let mut paged = options.clone();
    let skip = options.skip.unwrap_or(0) + served;
    let remaining = options.top.map(|t| t.saturating_sub(served));
    let limit = remaining.map_or(page_size, |r| Ord::min(r, page_size));
    paged.skip = Some(skip);
    paged.top = Some(limit + 1);
    let mut stmt = sql::select(entity, model_of(entity), &paged, dialect(tx)).map_err(odata_err)?;
    if let Some((prop, value)) = &scope {
        stmt.and_where(eq(entity, prop, value)?);
    }
    let found = tx.fetch_all(&stmt).await?;
    let more = found.len() as u64 > limit;
    let mut out = Vec::with_capacity(found.len());
    for row in found.iter().take(limit as usize) {
        out.push(decode_selected(row, entity, options)?);
    }
    let count = if options.count {
        let mut c = base_select(entity, options, tx)?;
        c.clear_selects();
        c.clear_order_by();
        c.expr_as(Func::count(Expr::col(Alias::new(ROW_VERSION_COLUMN))), Alias::new("n"));
        if let Some((prop, value)) = &scope {
            c.and_where(eq(entity, prop, value)?);
        }
        let row = tx.fetch_one(&c).await?;
        Some(row.try_get_opt_i64("n")?.unwrap_or(0))
    } else {
        None
    };
    expand(tx, entity, options, &mut out).await?;
    let next = more.then(|| (served + limit).to_string());
    Ok(Page { rows: out, count, next_skiptoken: next })
}

/// One row by key (with `$select`/`$expand`), or `None`.
pub async fn get(
    tx: &mut Tx,
    entity: &EntityType,
    id: Uuid,
    options: &QueryOptions,
    scope: Option<(&str, Json)>,
) -> Result<Option<Record>> {
    let mut plain = options.clone();
    plain.filter = None;
    plain.top = None;
    plain.skip = None;
    plain.orderby.clear();
    let mut stmt = sql::select(entity, model_of(entity), &plain, dialect(tx)).map_err(odata_err)?;
    stmt.and_where(eq(entity, &entity.key, &Json::String(id.to_string()))?);
    if let Some((prop, value)) = &scope {
        stmt.and_where(eq(entity, prop, value)?);
    }
    let Some(row) = tx.fetch_optional(&stmt).await? else { return Ok(None) };
    let mut out = vec![decode_selected(&row, entity, options)?];
    expand(tx, entity, options, &mut out).await?;
    Ok(out.pop())
}

/// Fills `$expand`ed navigations into `rows` (one query per navigation for the whole page).
async fn expand(
    tx: &mut Tx,
    entity: &EntityType,
    options: &QueryOptions,
    rows_out: &mut [Record],
) -> Result<()> {
    for ex in &options.expand {
        let nav = entity.navigation(&ex.navigation).ok_or_else(|| {
            FinError::invalid(
                "$expand",
                format!("Could not find a navigation property named '{}'.", ex.navigation),
            )
        })?;
        let target = model_of(entity)
            .entity_set(&nav.target_set)
            .ok_or_else(|| FinError::internal(format!("navigation target {}", nav.target_set)))?;
        let (local, remote) = match &nav.kind {
            NavigationKind::ToOne { local_property } => {
                (local_property.clone(), target.key.clone())
            }
            NavigationKind::ToMany { remote_property } => {
                (entity.key.clone(), remote_property.clone())
            }
        };
        let keys: Vec<Json> = rows_out
            .iter()
            .filter_map(|r| r.data.get(&local).filter(|v| !v.is_null()).cloned())
            .collect();
        let mut inner = ex.options.clone();
        // The remote column must be selected to group by it.
        if !inner.select.is_empty() && !inner.select.contains(&remote) {
            inner.select.push(remote.clone());
        }
        let (top, skip) = (inner.top.take(), inner.skip.take());
        let mut children: Vec<Record> = Vec::new();
        for chunk in keys.chunks(500) {
            if chunk.is_empty() {
                continue;
            }
            let mut stmt =
                sql::select(target, model_of(target), &inner, dialect(tx)).map_err(odata_err)?;
            let p = target
                .property(&remote)
                .ok_or_else(|| FinError::internal("navigation property"))?;
            let values: Vec<Value> = chunk
                .iter()
                .map(|k| sql::encode_value(p.ty, k, &remote).map_err(odata_err))
                .collect::<Result<_>>()?;
            stmt.and_where(sql::column(target, &p.column).is_in(values));
            for row in tx.fetch_all(&stmt).await? {
                children.push(decode_selected(&row, target, &inner)?);
            }
        }
        for r in rows_out.iter_mut() {
            let key = r.data.get(&local).cloned().unwrap_or(Json::Null);
            let mine: Vec<Json> = children
                .iter()
                .filter(|c| !Json::is_null(&key) && c.data.get(&remote) == Some(&key))
                .skip(skip.unwrap_or(0) as usize)
                .take(top.map_or(usize::MAX, |t| t as usize))
                .map(|c| Json::Object(with_etag(c)))
                .collect();
            let value = match nav.kind {
                NavigationKind::ToOne { .. } => mine.into_iter().next().unwrap_or(Json::Null),
                NavigationKind::ToMany { .. } => Json::Array(mine),
            };
            r.data.insert(ex.navigation.clone(), value);
        }
    }
    Ok(())
}

/// The entity JSON with `@odata.etag` first.
pub fn with_etag(r: &Record) -> Map<String, Json> {
    kontor_odata::json::with_etag(r.data.clone(), r.version)
}

/// Rows of `entity` changed after `after` (upserts with their data) and deleted after it
/// (tombstones), in version order, at most `limit`.
pub async fn changes(
    tx: &mut Tx,
    entity: &EntityType,
    after: i64,
    limit: u64,
    options: &QueryOptions,
) -> Result<Vec<Change>> {
    let mut plain = options.clone();
    plain.filter = None;
    plain.top = Some(limit);
    plain.skip = None;
    plain.orderby.clear();
    plain.expand.clear();
    let mut stmt = sql::select(entity, model_of(entity), &plain, dialect(tx)).map_err(odata_err)?;
    stmt.and_where(sql::column(entity, ROW_VERSION_COLUMN).gt(after));
    stmt.clear_order_by();
    stmt.order_by(Alias::new(ROW_VERSION_COLUMN), kontor_store::sea_query::Order::Asc);
    let mut out: Vec<(i64, Change)> = Vec::new();
    for row in tx.fetch_all(&stmt).await? {
        let r = decode_selected(&row, entity, options)?;
        out.push((r.version, Change::Upsert(r)));
    }
    let mut t = Query::select();
    t.columns([Alias::new("id"), Alias::new(ROW_VERSION_COLUMN)])
        .from(Alias::new("store_tombstone"))
        .and_where(Expr::col(Alias::new("entity_set")).eq(entity.set_name.clone()))
        .and_where(Expr::col(Alias::new(ROW_VERSION_COLUMN)).gt(after))
        .order_by(Alias::new(ROW_VERSION_COLUMN), kontor_store::sea_query::Order::Asc)
        .limit(limit);
    for row in tx.fetch_all(&t).await? {
        let id: String = row.try_get("id")?;
        let version = row.try_get_i64(ROW_VERSION_COLUMN)?;
        if let Ok(id) = Uuid::parse_str(&id) {
            out.push((version, Change::Deleted { id, version }));
        }
    }
    out.sort_by_key(|(v, _)| *v);
    out.truncate(limit as usize);
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// Deletes `id` from `entity` and records a tombstone (a new version) for the change feed.
/// Returns the deleted row.
pub async fn delete(tx: &mut Tx, entity: &EntityType, id: Uuid) -> Result<Record> {
    let old = rows::get(tx, entity, id)
        .await?
        .ok_or_else(|| FinError::NotFound(format!("The {} does not exist.", entity.name)))?;
    let mut stmt = Query::delete();
    stmt.from_table(Alias::new(entity.table.as_str()))
        .and_where(Expr::col(Alias::new(entity.key_property().column.as_str())).eq(id.to_string()));
    tx.execute(&stmt).await?;
    let version = tx.next_row_versions(1).await?;
    let now = chrono::Utc::now().timestamp_micros();
    let sql_text = match tx.backend() {
        Backend::Sqlite => {
            "INSERT INTO store_tombstone (entity_set, id, row_version, deleted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (entity_set, id) DO UPDATE SET row_version = excluded.row_version, deleted_at = excluded.deleted_at"
        }
        Backend::Postgres => {
            "INSERT INTO store_tombstone (entity_set, id, row_version, deleted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (entity_set, id) DO UPDATE SET row_version = EXCLUDED.row_version, deleted_at = EXCLUDED.deleted_at"
        }
    };
    tx.execute_sql(
        sql_text,
        vec![
            Value::from(entity.set_name.clone()),
            Value::from(id.to_string()),
            Value::from(version),
            Value::from(now),
        ],
    )
    .await?;
    Ok(old)
}

/// The highest row version committed so far (the token of a fresh change feed).
pub async fn current_version(tx: &mut Tx) -> Result<i64> {
    Ok(tx.current_version().await?)
}
