//! Rows for the domain itself: writes go through kontor-store's generic `Repo` as the system
//! (posting, bootstrap and computed fields set columns clients may not: `balanceDue`,
//! `inventory`, totals, `systemModifiedBy`), so every write gets a new row version and the
//! change feed sees it. Reads here are plain keyed lookups, locked on PostgreSQL when asked.

use std::sync::OnceLock;

use kontor_odata::model::{EdmType, EntityType, ROW_VERSION_COLUMN};
use kontor_odata::sql::{decode, encode_value};
use kontor_store::sea_query::{Alias, Expr, ExprTrait, Query, Value};
use kontor_store::{Caller, ETAG, Repo, Row, Tx, row_version};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::error::{FinError, Result};

/// A row as JSON (model names) with its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub version: i64,
    pub data: Map<String, Json>,
}

impl Record {
    pub fn id(&self) -> Option<Uuid> {
        self.data.get("id").and_then(Json::as_str).and_then(|s| Uuid::parse_str(s).ok())
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.data.get(name).and_then(Json::as_str)
    }
}

/// The property `systemModifiedBy` every entity has.
pub const MODIFIED_BY: &str = "systemModifiedBy";

fn encode(entity: &EntityType, name: &str, json: &Json) -> Result<(String, Value)> {
    let p = entity.property(name).ok_or_else(|| {
        FinError::invalid(
            name,
            format!("Could not find a property named '{name}' on type '{}'.", entity.name),
        )
    })?;
    let v = encode_value(p.ty, json, name).map_err(|e| FinError::Invalid {
        code: "BadRequest",
        field: Some(name.to_owned()),
        message: e.message,
    })?;
    Ok((p.column.clone(), v))
}

/// The generic repository for the API model (kontor-store's `Repo`).
pub fn repo() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| Repo::new(crate::model::model().clone()))
}

/// The repository for the OData web services model.
pub fn web_services_repo() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| Repo::new(crate::model::web_services_model().clone()))
}

/// A repository `Map` (with `@odata.etag`) as a `Record`.
pub fn from_map(mut m: Map<String, Json>) -> Record {
    let version = row_version(&m).unwrap_or_default();
    m.remove(ETAG);
    Record { version, data: m }
}

fn with_actor(
    entity: &EntityType,
    values: &Map<String, Json>,
    actor: Option<Uuid>,
) -> Map<String, Json> {
    let mut m: Map<String, Json> = values
        .iter()
        .filter(|(k, _)| {
            Some(*k) != entity.created_property.as_ref()
                && Some(*k) != entity.modified_property.as_ref()
                && *k != MODIFIED_BY
                && *k != ETAG
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if entity.property(MODIFIED_BY).is_some() {
        m.insert(
            MODIFIED_BY.to_owned(),
            actor.map_or(Json::Null, |a| Json::String(a.hyphenated().to_string())),
        );
    }
    m
}

/// Inserts `values` (model names; the key from `values["id"]` or a new UUIDv7) through the
/// repository as the system (read-only properties allowed), recording `actor`.
pub async fn insert(
    tx: &mut Tx,
    entity: &EntityType,
    values: &Map<String, Json>,
    actor: Option<Uuid>,
) -> Result<Record> {
    let body = with_actor(entity, values, actor);
    Ok(from_map(repo_for(entity).insert_as(tx, entity, &body, Caller::System).await?))
}

/// Sets `values` on the row `id` as the system, with a new version. `NotFound` when the row
/// does not exist.
pub async fn update(
    tx: &mut Tx,
    entity: &EntityType,
    id: Uuid,
    values: &Map<String, Json>,
    actor: Option<Uuid>,
) -> Result<Record> {
    let mut body = with_actor(entity, values, actor);
    body.remove(&entity.key);
    match repo_for(entity).update_as(tx, entity, id, &body, None, Caller::System).await {
        Ok(m) => Ok(from_map(m)),
        Err(kontor_store::StoreError::NotFound) => {
            Err(FinError::NotFound(format!("The {} does not exist.", entity.name)))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn repo_for(entity: &EntityType) -> &'static Repo {
    if entity.set_name == crate::model::sets::PRODUCT_ITEM_AVAILABILITY {
        web_services_repo()
    } else {
        repo()
    }
}

/// Reads one row by key.
pub async fn get(tx: &mut Tx, entity: &EntityType, id: Uuid) -> Result<Option<Record>> {
    find(tx, entity, &entity.key.clone(), Json::String(id.hyphenated().to_string()), false).await
}

/// Reads the row whose `property` equals `value` (an alternate key such as `number` or `code`).
/// With `lock`, the row is locked until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's
/// write transactions are exclusive already).
pub async fn find(
    tx: &mut Tx,
    entity: &EntityType,
    property: &str,
    value: Json,
    lock: bool,
) -> Result<Option<Record>> {
    let (col, v) = encode(entity, property, &value)?;
    let mut stmt = Query::select();
    stmt.from(Alias::new(entity.table.as_str()));
    for p in &entity.properties {
        stmt.column(Alias::new(p.column.as_str()));
    }
    stmt.column(Alias::new(ROW_VERSION_COLUMN));
    stmt.and_where(Expr::col(Alias::new(col.as_str())).eq(v));
    stmt.limit(1);
    if lock && tx.backend() == kontor_store::Backend::Postgres {
        stmt.lock(kontor_store::sea_query::LockType::Update);
    }
    match tx.fetch_optional(&stmt).await? {
        Some(row) => Ok(Some(record(&row, entity)?)),
        None => Ok(None),
    }
}

/// All rows whose `property` equals `value`, in key order.
pub async fn find_all(
    tx: &mut Tx,
    entity: &EntityType,
    property: &str,
    value: Json,
) -> Result<Vec<Record>> {
    let (col, v) = encode(entity, property, &value)?;
    let mut stmt = Query::select();
    stmt.from(Alias::new(entity.table.as_str()));
    for p in &entity.properties {
        stmt.column(Alias::new(p.column.as_str()));
    }
    stmt.column(Alias::new(ROW_VERSION_COLUMN));
    stmt.and_where(Expr::col(Alias::new(col.as_str())).eq(v));
    stmt.order_by(
        Alias::new(entity.key_property().column.as_str()),
        kontor_store::sea_query::Order::Asc,
    );
    let rows = tx.fetch_all(&stmt).await?;
    rows.iter().map(|r| record(r, entity)).collect()
}

/// Decodes a row selected with every model column plus `row_version`.
pub fn record(row: &Row, entity: &EntityType) -> Result<Record> {
    record_partial(row, entity, |_| true)
}

/// Decodes the properties `wanted` says were selected (plus `row_version`).
pub fn record_partial(
    row: &Row,
    entity: &EntityType,
    wanted: impl Fn(&str) -> bool,
) -> Result<Record> {
    let mut data = Map::new();
    for p in entity.properties.iter().filter(|p| wanted(&p.name)) {
        let col = p.column.as_str();
        let value = match p.ty {
            EdmType::Guid | EdmType::String | EdmType::Date => {
                Value::String(row.try_get::<Option<String>>(col)?)
            }
            EdmType::Int32 | EdmType::Int64 | EdmType::Decimal { .. } | EdmType::DateTimeOffset => {
                Value::BigInt(row.try_get_opt_i64(col)?)
            }
            EdmType::Double => Value::Double(row.try_get::<Option<f64>>(col)?),
            EdmType::Boolean => Value::Bool(row.try_get::<Option<bool>>(col)?),
        };
        let json = decode(p.ty, &value).map_err(|e| FinError::internal(e.message))?;
        data.insert(p.name.clone(), json);
    }
    let version = row.try_get_i64(ROW_VERSION_COLUMN)?;
    Ok(Record { version, data })
}
