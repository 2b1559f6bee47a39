//! Trusted row writes for the domain itself: posting, bootstrap and computed fields write columns
//! clients may not (`balanceDue`, `inventory`, totals, `systemModifiedBy`). Every write takes a new
//! row version from the store's counter and stamps `lastModifiedDateTime`, exactly as the generic
//! repository does, so ETags and the change feed see these writes too.

use chrono::Utc;
use kontor_odata::model::{EdmType, EntityType, ROW_VERSION_COLUMN};
use kontor_odata::sql::{decode, encode_value};
use kontor_store::sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr, Value};
use kontor_store::{Row, Tx};
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

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// Inserts `values` (model names; the key from `values["id"]` or a new UUIDv7) with no read-only
/// check. Returns the stored row.
pub async fn insert(
    tx: &mut Tx,
    entity: &EntityType,
    values: &Map<String, Json>,
    actor: Option<Uuid>,
) -> Result<Record> {
    let id = match values.get(&entity.key) {
        Some(Json::String(s)) => Uuid::parse_str(s)
            .map_err(|_| FinError::invalid(&entity.key, "The id is not a GUID."))?,
        _ => Uuid::now_v7(),
    };
    let version = tx.next_row_versions(1).await?;
    let now = now_micros();
    let mut cols: Vec<(String, Value)> = Vec::new();
    for (name, json) in values {
        if name == &entity.key
            || Some(name) == entity.created_property.as_ref()
            || Some(name) == entity.modified_property.as_ref()
            || name == MODIFIED_BY
        {
            continue;
        }
        cols.push(encode(entity, name, json)?);
    }
    cols.push((
        entity.key_property().column.clone(),
        Value::String(Some(id.hyphenated().to_string())),
    ));
    for stamp in [&entity.created_property, &entity.modified_property].into_iter().flatten() {
        if let Some(p) = entity.property(stamp) {
            cols.push((p.column.clone(), Value::BigInt(Some(now))));
        }
    }
    if let Some(p) = entity.property(MODIFIED_BY) {
        cols.push((p.column.clone(), Value::String(actor.map(|a| a.hyphenated().to_string()))));
    }
    cols.push((ROW_VERSION_COLUMN.to_owned(), Value::BigInt(Some(version))));
    let mut stmt = Query::insert();
    stmt.into_table(Alias::new(entity.table.as_str()))
        .columns(cols.iter().map(|(c, _)| Alias::new(c.as_str())))
        .values(cols.into_iter().map(|(_, v)| SimpleExpr::from(v)))
        .map_err(|e| FinError::internal(e.to_string()))?;
    tx.execute(&stmt).await?;
    get(tx, entity, id).await?.ok_or_else(|| FinError::internal("an inserted row is missing"))
}

/// Sets `values` on the row `id` (no read-only check), with a new version. `NotFound` when the
/// row does not exist.
pub async fn update(
    tx: &mut Tx,
    entity: &EntityType,
    id: Uuid,
    values: &Map<String, Json>,
    actor: Option<Uuid>,
) -> Result<Record> {
    let version = tx.next_row_versions(1).await?;
    let mut stmt = Query::update();
    stmt.table(Alias::new(entity.table.as_str()));
    for (name, json) in values {
        if name == &entity.key
            || Some(name) == entity.created_property.as_ref()
            || Some(name) == entity.modified_property.as_ref()
            || name == MODIFIED_BY
        {
            continue;
        }
        let (col, v) = encode(entity, name, json)?;
        stmt.value(Alias::new(col.as_str()), v);
    }
    if let Some(p) = entity.modified_property.as_ref().and_then(|m| entity.property(m)) {
        stmt.value(Alias::new(p.column.as_str()), now_micros());
    }
    if let Some(p) = entity.property(MODIFIED_BY) {
        stmt.value(
            Alias::new(p.column.as_str()),
            Value::String(actor.map(|a| a.hyphenated().to_string())),
        );
    }
    stmt.value(Alias::new(ROW_VERSION_COLUMN), version);
    stmt.and_where(
        Expr::col(Alias::new(entity.key_property().column.as_str()))
            .eq(id.hyphenated().to_string()),
    );
    if tx.execute(&stmt).await? == 0 {
        return Err(FinError::NotFound(format!("The {} does not exist.", entity.name)));
    }
    get(tx, entity, id).await?.ok_or_else(|| FinError::internal("an updated row is missing"))
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
