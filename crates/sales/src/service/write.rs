//! Creates, updates and deletes: binds resolved, defaults on create, the pure rules of
//! [`crate::rules`], the privilege checks, and the set-based [`write_many`] of the bulk
//! messages.

use kontor_odata::model::EntityType;
use kontor_store::Tx;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::body::Body;
use super::find::{Prefetched, Row, find, find_in, not_found, row_id};
use super::key::Key;
use super::sets::{entity_set, storage_of};
use crate::SalesError;
use crate::directory::{self, Principal};
use crate::model::TableInfo;
use crate::security::{self, Op};
use crate::tables as rows;

/// Checks that `principal` holds the privilege of `op` on `table`.
pub fn check(principal: &Principal, op: Op, table: &TableInfo) -> Result<(), SalesError> {
    principal
        .grants
        .check(op, table)
        .map_err(|denied| SalesError::Denied { denied, user: principal.user_id })
}

/// Resolves the `@odata.bind` lookups of a body into attribute values, checking each target
/// exists (a dangling reference is refused).
pub async fn resolve_binds(
    tx: &mut Tx,
    body: &mut Body,
    set: &str,
    pre: &Prefetched,
) -> Result<(), SalesError> {
    for b in std::mem::take(&mut body.binds) {
        let Some(key) = &b.target else {
            body.attrs.insert(b.property.clone(), Value::Null);
            if let Some(tp) = &b.type_property {
                body.attrs.insert(tp.clone(), Value::Null);
            }
            continue;
        };
        let (te, tt, _) = entity_set(&b.target_set)?;
        let target = find_in(tx, te, tt, key, pre).await?;
        let Some(target) = target else {
            return Err(SalesError::DanglingBind {
                missing: Box::new(not_found(te, tt, key)),
                property: b.property.clone(),
                set: set.to_owned(),
            });
        };
        let id = row_id(te, &target)
            .ok_or_else(|| SalesError::Internal("target row without a key".into()))?;
        body.attrs.insert(b.property.clone(), Value::String(id.to_string()));
        if let Some(tp) = &b.type_property {
            body.attrs.insert(tp.clone(), Value::String(b.target_logical.clone()));
        }
    }
    Ok(())
}

/// Entity-specific defaults that need the database or the caller.
async fn defaults_on_create(
    principal: &Principal,
    tx: &mut Tx,
    entity: &EntityType,
    id: Uuid,
    attrs: &mut Row,
    pre: &Prefetched,
) -> Result<(), SalesError> {
    let missing = |a: &Row, k: &str| a.get(k).is_none_or(Value::is_null);
    if entity.name == "uomschedule" {
        create_base_unit(principal, tx, id, attrs).await?;
    }
    if entity.name == "uom" {
        // A unit without a base unit is expressed in its group's base unit, one for one.
        if missing(attrs, "_baseuom_value")
            && let Some(group) = attrs.get("_uomscheduleid_value").and_then(Value::as_str)
            && let Some(base) = tx
                .fetch_optional_sql(
                    "SELECT uomid FROM crm_uom WHERE uomscheduleid = $1 AND isschedulebaseuom = TRUE",
                    vec![group.to_ascii_lowercase().into()],
                )
                .await?
        {
            attrs.insert("_baseuom_value".into(), Value::String(base.get_string("uomid")));
        }
        if missing(attrs, "quantity") {
            attrs.insert("quantity".into(), json!(1));
        }
        attrs.insert("isschedulebaseuom".into(), json!(false));
    }
    match entity.name.as_str() {
        "salesorder" if missing(attrs, "ordernumber") => {
            let n = directory::next_sequence(tx, "salesorder").await?;
            attrs.insert("ordernumber".into(), Value::String(format!("ORD-{n:05}")));
        }
        "invoice" if missing(attrs, "invoicenumber") => {
            let n = directory::next_sequence(tx, "invoice").await?;
            attrs.insert("invoicenumber".into(), Value::String(format!("INV-{n:05}")));
        }
        "systemuser" | "team" | "role" if missing(attrs, "_businessunitid_value") => {
            if let Some(bu) = principal.business_unit_id {
                attrs.insert("_businessunitid_value".into(), Value::String(bu.to_string()));
            }
        }
        _ => {}
    }
    if entity.name == "systemuser" {
        if !missing(attrs, "applicationid") {
            attrs.insert("accessmode".into(), json!(4));
            attrs.insert("isintegrationuser".into(), json!(false));
        }
        for (k, v) in
            [("isdisabled", json!(false)), ("islicensed", json!(true)), ("accessmode", json!(0))]
        {
            if missing(attrs, k) {
                attrs.insert(k.into(), v);
            }
        }
    }
    if entity.name == "productpricelevel" {
        // The price list item's primary name is the product's name.
        if let Some(pid) = attrs
            .get("_productid_value")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
        {
            let (pe, pt, _) = entity_set("products")?;
            if let Some(p) = find_in(tx, pe, pt, &Key::Id(pid), pre).await? {
                attrs.insert("productidname".into(), p.get("name").cloned().unwrap_or(Value::Null));
            }
        }
    }
    Ok(())
}

/// Dataverse creates a unit group's base unit with the group: named `baseuomname` ("Primary
/// Unit" when not given), quantity 1, expressed in itself.
async fn create_base_unit(
    principal: &Principal,
    tx: &mut Tx,
    schedule: Uuid,
    attrs: &mut Row,
) -> Result<(), SalesError> {
    let name = match attrs.get("baseuomname").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.to_owned(),
        _ => "Primary Unit".to_owned(),
    };
    attrs.insert("baseuomname".into(), Value::String(name.clone()));
    let (e, t, storage) = entity_set("uoms")?;
    let id = Uuid::now_v7();
    let mut unit = Map::new();
    unit.insert("name".into(), Value::String(name));
    unit.insert("_uomscheduleid_value".into(), Value::String(schedule.to_string()));
    unit.insert("_baseuom_value".into(), Value::String(id.to_string()));
    unit.insert("quantity".into(), json!(1));
    unit.insert("isschedulebaseuom".into(), json!(true));
    crate::rules::prepare_create(t, id, &mut unit, principal.user_id)?;
    unit.insert(e.key.clone(), Value::String(id.to_string()));
    rows::insert(tx, storage, &unit).await?;
    Ok(())
}

/// Turns a parsed create body into the row to store (binds resolved, defaults and rules
/// applied, key set: `id`, else the body's, else a new one). Checks the create privilege.
pub async fn prepare_create(
    principal: &Principal,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    mut body: Body,
    id: Option<Uuid>,
    pre: &Prefetched,
) -> Result<Row, SalesError> {
    check(principal, Op::Create, table)?;
    resolve_binds(tx, &mut body, &entity.set_name, pre).await?;
    let id = id.or(body.key).unwrap_or_else(Uuid::now_v7);
    let mut attrs = body.attrs;
    if entity.name == "role" {
        security::check_role_create(id, attrs.get("name").and_then(Value::as_str))?;
    }
    defaults_on_create(principal, tx, entity, id, &mut attrs, pre).await?;
    crate::rules::prepare_create(table, id, &mut attrs, principal.user_id)?;
    attrs.insert(entity.key.clone(), Value::String(id.to_string()));
    Ok(attrs)
}

/// Creates a row from a parsed body; returns the stored row.
pub async fn create(
    principal: &Principal,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    body: Body,
    id: Option<Uuid>,
) -> Result<Row, SalesError> {
    let attrs =
        prepare_create(principal, tx, entity, table, body, id, &Prefetched::default()).await?;
    let storage = storage_of(entity)?;
    rows::insert(tx, storage, &attrs).await
}

/// Updates `existing` with a parsed body (`if_match`: the row version it must still have);
/// returns the stored row. Checks the write privilege.
pub async fn update(
    principal: &Principal,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    existing: &Row,
    body: Body,
    if_match: Option<i64>,
) -> Result<Row, SalesError> {
    update_with(principal, tx, entity, table, existing, body, if_match, &Prefetched::default())
        .await
}

/// [`update`] with binds resolved from rows already read.
#[allow(clippy::too_many_arguments)]
pub async fn update_with(
    principal: &Principal,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    existing: &Row,
    mut body: Body,
    if_match: Option<i64>,
    pre: &Prefetched,
) -> Result<Row, SalesError> {
    check(principal, Op::Write, table)?;
    let id =
        row_id(entity, existing).ok_or_else(|| SalesError::Internal("row without a key".into()))?;
    if let Some(k) = body.key
        && k != id
    {
        return Err(SalesError::KeyMismatch { payload: k, record: id });
    }
    if entity.name == "role" {
        security::check_role_update(id, body.attrs.get("name").and_then(Value::as_str))?;
    }
    resolve_binds(tx, &mut body, &entity.set_name, pre).await?;
    let mut patch = body.attrs;
    crate::rules::prepare_update(table, id, existing, &mut patch, principal.user_id)?;
    let storage = storage_of(entity)?;
    rows::update(tx, storage, id, &patch, if_match).await
}

/// Deletes the row `key` finds (`if_match`: the row version it must still have). Checks the
/// delete privilege; a user cannot delete itself.
pub async fn delete(
    principal: &Principal,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
    if_match: Option<i64>,
) -> Result<(), SalesError> {
    check(principal, Op::Delete, table)?;
    let existing =
        find(tx, entity, table, key).await?.ok_or_else(|| not_found(entity, table, key))?;
    let id = row_id(entity, &existing)
        .ok_or_else(|| SalesError::Internal("row without a key".into()))?;
    if entity.name == "systemuser" && id == principal.user_id {
        return Err(SalesError::DeleteOwnUser);
    }
    if entity.name == "role" {
        security::check_role_delete(id)?;
    }
    let storage = storage_of(entity)?;
    rows::delete(tx, storage, id, if_match).await?;
    Ok(())
}

/// One target of a set-based message: a create (with the key it asked for) or an update of
/// the row it names.
#[derive(Debug)]
pub enum Write {
    Create(Body, Option<Uuid>),
    Update(Box<Row>, Body),
}

impl Write {
    fn body(&self) -> &Body {
        match self {
            Write::Create(b, _) | Write::Update(_, b) => b,
        }
    }
}

/// What [`write_many`] did with one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub id: Uuid,
    pub created: bool,
}

/// Applies the writes of a set-based message (`CreateMultiple` …) in order: the rows every
/// `@odata.bind` names are read first (one query per target set), the creates are inserted
/// together at the end. Stops at the first error (the caller rolls back).
pub async fn write_many(
    principal: &Principal,
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    writes: Vec<Write>,
    pre: &mut Prefetched,
) -> Result<Vec<Written>, SalesError> {
    pre.load_binds(tx, writes.iter().map(Write::body)).await?;
    let mut out = Vec::with_capacity(writes.len());
    let mut created: Vec<Row> = vec![];
    for w in writes {
        match w {
            Write::Create(body, id) => {
                let row = prepare_create(principal, tx, entity, table, body, id, pre).await?;
                out.push(Written { id: id_of(entity, &row)?, created: true });
                created.push(row);
            }
            Write::Update(existing, body) => {
                let row =
                    update_with(principal, tx, entity, table, &existing, body, None, pre).await?;
                out.push(Written { id: id_of(entity, &row)?, created: false });
            }
        }
    }
    if !created.is_empty() {
        rows::insert_many(tx, storage_of(entity)?, &created).await?;
    }
    Ok(out)
}

fn id_of(entity: &EntityType, row: &Row) -> Result<Uuid, SalesError> {
    row_id(entity, row).ok_or_else(|| SalesError::Internal("row without a key".into()))
}
