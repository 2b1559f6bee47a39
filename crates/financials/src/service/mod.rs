//! The domain operations behind the API: create, update (and upsert), delete and *ship and
//! invoice*, each inside the caller's transaction (so a `$batch` change set is atomic). Every
//! entity set goes through the same steps: the body is checked against the model (unknown,
//! read-only, mistyped and too-long fields are named), merged with the stored row, completed by
//! the set's rules (defaults, number series, lookups, computed fields), then written.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use kontor_odata::model::{EdmType, EntityType};
use kontor_odata::sql::{decimal_json, encode_value};
use kontor_store::Tx;
use kontor_store::sea_query::Value;
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::credentials::{PermissionSet, Permissions, Secret};
use crate::error::{FinError, Result};
use crate::model::{model, sets};
use crate::numbering::{self, series};
use crate::posting::{self, Blocked, LineType};
use crate::pricing;
use crate::rows::{self, Record};
use crate::users;

mod json;
mod rules;
mod ship;
mod units;

use json::*;
pub use rules::check_body;
use rules::*;
pub use ship::{post_order, set_order_status, ship_and_invoice};
pub use units::unit_group_code;

/// Starts a write transaction for domain operations. On PostgreSQL it takes the store's
/// row-version counter lock first, before any row lock: every store write takes that lock first
/// too, so two writers never wait on each other in opposite order (no deadlocks), and number
/// series and inventory checks see a stable state.
pub async fn begin_write(db: &kontor_store::Db) -> Result<Tx> {
    let mut tx = db.begin().await?;
    if tx.backend() == kontor_store::Backend::Postgres {
        tx.execute_sql(
            "SELECT value FROM store_counter WHERE name = 'row_version' FOR UPDATE",
            vec![],
        )
        .await?;
    }
    Ok(tx)
}

/// Who is writing (stored as `systemModifiedBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor(pub Uuid);

/// The entity type of a set, or 404.
pub fn entity(set: &str) -> Result<&'static EntityType> {
    model()
        .entity_set(set)
        .ok_or_else(|| FinError::NotFound(format!("Resource not found for the segment '{set}'.")))
}

/// Sets that only posting writes.
fn read_only_set(set: &str) -> bool {
    matches!(
        set,
        sets::SALES_INVOICES
            | sets::SALES_INVOICE_LINES
            | sets::UNIT_GROUPS
            | sets::ITEM_LEDGER_ENTRIES
            | sets::CUSTOMER_LEDGER_ENTRIES
    )
}

fn method_not_allowed(method: &str, set: &str) -> FinError {
    FinError::MethodNotAllowed(format!(
        "'{method}' requests for '{set}' of EdmType 'Entity' are not allowed within Kontor web services."
    ))
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Creates a record in `set`. `parent`: the order id when posting to
/// `salesOrders(<id>)/salesOrderLines`. Accepts a client-chosen `id`; a taken id or number is a
/// 409. Deep insert of `salesOrderLines` into a new order is supported.
pub async fn create(
    tx: &mut Tx,
    set: &str,
    mut body: Map<String, Json>,
    parent: Option<Uuid>,
    actor: Actor,
) -> Result<Record> {
    let e = entity(set)?;
    if read_only_set(set) || set == sets::COMPANIES {
        return Err(method_not_allowed("POST", set));
    }
    let password = take_password(set, &mut body)?;
    let deep_lines = if set == sets::SALES_ORDERS { body.remove("salesOrderLines") } else { None };
    if set == sets::ITEMS
        && body.get("inventory").is_some_and(|v| !v.is_null() && v != &Json::from(0))
    {
        return Err(FinError::Invalid {
            code: "Application_DialogException",
            field: Some("inventory".into()),
            message: "Inventory cannot be changed during on insert.".into(),
        });
    }
    if set == sets::ITEMS {
        body.remove("inventory");
    }
    let mut rec = check_body(e, &body, true, None)?;
    if let Some(order) = parent {
        if let Some(given) = guid(&rec, "documentId")
            && given != order
        {
            return Err(FinError::invalid(
                "documentId",
                "The value for \"documentId\" does not match the order in the URL.",
            ));
        }
        rec.insert("documentId".into(), Json::String(order.to_string()));
    }
    if let Some(id) = guid(&rec, "id")
        && rows::get(tx, e, id).await?.is_some()
    {
        return Err(FinError::Duplicate(format!(
            "The {} already exists. Identification fields and values: id='{id}'",
            e.name
        )));
    }
    prepare(tx, set, &mut rec, None).await?;
    check_unique(tx, e, &rec, None).await?;
    let mut created = rows::insert(tx, e, &rec, Some(actor.0)).await?;
    let id = created.id().ok_or_else(|| FinError::internal("created row without id"))?;
    if let Some(p) = password {
        users::set_password(tx, id, &p).await?;
    }
    if matches!(set, sets::ITEMS | sets::RESOURCES) {
        created = units::keep(tx, set, created, None, actor).await?;
    }
    match set {
        sets::CURRENCY_EXCHANGE_RATES => {
            if let Some(code) = text(&rec, "currencyCode") {
                refresh_exchange_rate(tx, &code, actor).await?;
            }
        }
        sets::SALES_ORDER_LINES => {
            if let Some(order) = guid(&rec, "documentId") {
                refresh_order_totals(tx, order, actor).await?;
            }
        }
        sets::SALES_ORDERS => {
            if let Some(lines) = deep_lines {
                let Json::Array(lines) = lines else {
                    return Err(FinError::invalid(
                        "salesOrderLines",
                        "'salesOrderLines' must be an array of lines.",
                    ));
                };
                for line in lines {
                    let Json::Object(line) = line else {
                        return Err(FinError::invalid(
                            "salesOrderLines",
                            "Each sales order line must be an object.",
                        ));
                    };
                    Box::pin(create(tx, sets::SALES_ORDER_LINES, line, Some(id), actor)).await?;
                }
                created = rows::get(tx, e, id)
                    .await?
                    .ok_or_else(|| FinError::internal("order vanished"))?;
            }
        }
        _ => {}
    }
    Ok(created)
}

/// A company contact's new name (or number) reaches its person contacts.
async fn refresh_company_name(
    tx: &mut Tx,
    old: &Record,
    company: &Record,
    actor: Actor,
) -> Result<()> {
    let contacts = entity(sets::CONTACTS)?;
    let Some(old_no) = old.str("number") else { return Ok(()) };
    let persons =
        rows::find_all(tx, contacts, "companyNumber", Json::String(old_no.to_owned())).await?;
    for p in persons {
        let Some(pid) = p.id().filter(|pid| Some(*pid) != company.id()) else { continue };
        let mut patch = Map::new();
        patch.insert(
            "companyName".into(),
            company.data.get("displayName").cloned().unwrap_or(Json::Null),
        );
        patch.insert(
            "companyNumber".into(),
            company.data.get("number").cloned().unwrap_or(Json::Null),
        );
        rows::update(tx, contacts, pid, &patch, Some(actor.0)).await?;
    }
    Ok(())
}

/// BC's item `inventory` PATCH: posts a positive or negative adjustment for the difference.
async fn adjust_inventory(
    tx: &mut Tx,
    item: &Record,
    target: &Json,
    actor: Actor,
) -> Result<Record> {
    let target = match target {
        Json::Number(n) => n.to_string().parse::<Decimal>().ok(),
        Json::String(s) => s.trim().parse::<Decimal>().ok(),
        _ => None,
    }
    .ok_or_else(|| FinError::invalid("inventory", "The value of 'inventory' must be a number."))?;
    let current = dec(&item.data, "inventory");
    let delta = target - current;
    if delta.is_zero() {
        return Ok(item.clone());
    }
    if item.str("type") != Some("Inventory") {
        return Err(FinError::invalid(
            "inventory",
            "Only items of type Inventory have an inventory.",
        ));
    }
    let id = item.id().ok_or_else(|| FinError::internal("item without id"))?;
    let entry_no = numbering::next_entry_no(tx, series::ITEM_LEDGER_ENTRIES).await?;
    let unit_cost = dec(&item.data, "unitCost");
    let row = obj(serde_json::json!({
        "entryNumber": entry_no,
        "itemId": id.to_string(),
        "itemNumber": item.str("number"),
        "postingDate": today().to_string(),
        "entryType": if delta.is_sign_positive() { "Positive Adjmt." } else { "Negative Adjmt." },
        "sourceType": " ",
        "documentType": " ",
        "documentNumber": format!("ADJ{entry_no}"),
        "description": "Inventory adjustment",
        "unitOfMeasureCode": item.str("baseUnitOfMeasureCode"),
        "quantity": d(delta)?,
        "salesAmountActual": 0,
        "costAmountActual": d(posting::round_amount(delta * unit_cost))?,
    }));
    rows::insert(tx, entity(sets::ITEM_LEDGER_ENTRIES)?, &row, Some(actor.0)).await?;
    let mut patch = Map::new();
    patch.insert("inventory".into(), d(target)?);
    rows::update(tx, entity(sets::ITEMS)?, id, &patch, Some(actor.0)).await
}

fn take_password(set: &str, body: &mut Map<String, Json>) -> Result<Option<Secret>> {
    if set != sets::USERS {
        return Ok(None);
    }
    match body.remove("password") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(Secret::new(s))),
        Some(_) => Err(FinError::invalid("password", "The password must be a string.")),
    }
}

/// Updates `id` in `set` with `patch`; with `if_match`, the stored version must equal it (412).
/// An unknown id without `if_match` creates the record (upsert by key).
pub async fn update(
    tx: &mut Tx,
    set: &str,
    id: Uuid,
    mut patch: Map<String, Json>,
    if_match: Option<i64>,
    parent: Option<Uuid>,
    actor: Actor,
) -> Result<(Record, bool)> {
    let e = entity(set)?;
    if read_only_set(set) {
        return Err(method_not_allowed("PATCH", set));
    }
    let old = match rows::find(tx, e, "id", Json::String(id.to_string()), true).await? {
        Some(old) => old,
        None if if_match.is_none() && set != sets::COMPANIES => {
            patch.insert("id".into(), Json::String(id.to_string()));
            return Ok((create(tx, set, patch, parent, actor).await?, true));
        }
        None => return Err(FinError::NotFound(format!("The {} does not exist.", e.name))),
    };
    if let Some(v) = if_match
        && v != old.version
    {
        return Err(FinError::Changed);
    }
    let password = take_password(set, &mut patch)?;
    let new_inventory = if set == sets::ITEMS { patch.remove("inventory") } else { None };
    let checked = check_body(e, &patch, false, Some(id))?;
    if let Some(order) = parent
        && guid(&old.data, "documentId") != Some(order)
    {
        return Err(FinError::NotFound(format!("The {} does not exist.", e.name)));
    }
    let mut rec = old.data.clone();
    for (k, v) in &checked {
        rec.insert(k.clone(), v.clone());
    }
    prepare(tx, set, &mut rec, Some(&old)).await?;
    check_unique(tx, e, &rec, Some(id)).await?;
    let diff: Map<String, Json> =
        rec.into_iter().filter(|(k, v)| old.data.get(k) != Some(v)).collect();
    if diff.contains_key("code") || diff.contains_key("itemId") || diff.contains_key("resourceId") {
        units::check_base_unit(tx, set, &old, "change").await?;
    }
    if let Some(p) = password {
        users::set_password(tx, id, &p).await?;
    }
    let mut updated = rows::update(tx, e, id, &diff, Some(actor.0)).await?;
    if let Some(target) = new_inventory {
        updated = adjust_inventory(tx, &updated, &target, actor).await?;
    }
    if matches!(set, sets::ITEMS | sets::RESOURCES) {
        updated = units::keep(tx, set, updated, Some(&old), actor).await?;
    }
    if set == sets::CONTACTS
        && updated.str("type") == Some("Company")
        && (old.data.get("displayName") != updated.data.get("displayName")
            || old.data.get("number") != updated.data.get("number"))
    {
        refresh_company_name(tx, &old, &updated, actor).await?;
    }
    if set == sets::CURRENCY_EXCHANGE_RATES {
        for code in [old.str("currencyCode"), updated.str("currencyCode")].into_iter().flatten() {
            refresh_exchange_rate(tx, code, actor).await?;
        }
        return Ok((rows::get(tx, e, id).await?.unwrap_or(updated), false));
    }
    if set == sets::SALES_ORDER_LINES {
        refresh_order_totals(tx, guid(&updated.data, "documentId").unwrap_or_default(), actor)
            .await?;
        return Ok((rows::get(tx, e, id).await?.unwrap_or(updated), false));
    }
    Ok((updated, false))
}

/// What a delete removes besides the row itself (lines of an order), checked against the rules.
/// Returns the (set, id) pairs to delete, children first. The store deletes them and writes the
/// tombstones.
pub async fn plan_delete(
    tx: &mut Tx,
    set: &str,
    id: Uuid,
    if_match: Option<i64>,
    parent: Option<Uuid>,
) -> Result<Vec<(&'static str, Uuid)>> {
    let e = entity(set)?;
    if read_only_set(set) || set == sets::COMPANIES {
        return Err(method_not_allowed("DELETE", set));
    }
    let old = rows::find(tx, e, "id", Json::String(id.to_string()), true)
        .await?
        .ok_or_else(|| FinError::NotFound(format!("The {} does not exist.", e.name)))?;
    if let Some(v) = if_match
        && v != old.version
    {
        return Err(FinError::Changed);
    }
    let mut out = Vec::new();
    match set {
        sets::CUSTOMERS => {
            let orders = rows::find_all(
                tx,
                entity(sets::SALES_ORDERS)?,
                "customerId",
                Json::String(id.to_string()),
            )
            .await?;
            if !orders.is_empty() {
                return Err(FinError::Rule(format!(
                    "You cannot delete Customer {} because there is at least one outstanding Sales Order for this customer.",
                    old.str("number").unwrap_or_default()
                )));
            }
            let no = old.str("number").unwrap_or_default().to_owned();
            let entries = rows::find(
                tx,
                entity(sets::CUSTOMER_LEDGER_ENTRIES)?,
                "customerNumber",
                Json::String(no.clone()),
                false,
            )
            .await?;
            if entries.is_some() {
                return Err(FinError::Rule(format!(
                    "You cannot delete Customer {no} because it has ledger entries."
                )));
            }
        }
        sets::ITEMS => {
            let no = old.str("number").unwrap_or_default().to_owned();
            let entries = rows::find(
                tx,
                entity(sets::ITEM_LEDGER_ENTRIES)?,
                "itemNumber",
                Json::String(no.clone()),
                false,
            )
            .await?;
            if entries.is_some() {
                return Err(FinError::Rule(format!(
                    "You cannot delete Item {no} because it has ledger entries."
                )));
            }
        }
        sets::ITEM_UNITS_OF_MEASURE | sets::RESOURCE_UNITS_OF_MEASURE => {
            units::check_base_unit(tx, set, &old, "delete").await?;
        }
        sets::SALES_ORDERS => {
            let lines = rows::find_all(
                tx,
                entity(sets::SALES_ORDER_LINES)?,
                "documentId",
                Json::String(id.to_string()),
            )
            .await?;
            for l in lines {
                if let Some(lid) = l.id() {
                    out.push((sets::SALES_ORDER_LINES, lid));
                }
            }
        }
        sets::SALES_ORDER_LINES => {
            let order = guid(&old.data, "documentId").unwrap_or_default();
            if parent.is_some_and(|p| p != order) {
                return Err(FinError::NotFound(format!("The {} does not exist.", e.name)));
            }
            open_order(tx, order).await?;
        }
        sets::USERS => {
            if is_enabled_super(&old) {
                ensure_another_super(tx, &old).await?;
            }
            tx.execute_sql(
                "DELETE FROM fin_user_secret WHERE user_id = $1",
                vec![Value::from(id.to_string())],
            )
            .await?;
        }
        _ => {}
    }
    out.extend(units::deleted_with(tx, set, id).await?);
    let set_static: &'static str = &e.set_name;
    out.push((set_static, id));
    Ok(out)
}

/// After a delete: keeps computed fields of the parent in step (order totals).
pub async fn after_delete(tx: &mut Tx, set: &str, deleted: &Record, actor: Actor) -> Result<()> {
    if set == sets::CURRENCY_EXCHANGE_RATES
        && let Some(code) = deleted.str("currencyCode")
    {
        refresh_exchange_rate(tx, code, actor).await?;
    }
    if set == sets::SALES_ORDER_LINES
        && let Some(order) = guid(&deleted.data, "documentId")
    {
        refresh_order_totals(tx, order, actor).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Json) -> Map<String, Json> {
        match v {
            Json::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn field_of(e: FinError) -> (String, String) {
        match e {
            FinError::Invalid { code, field, .. } => (code.to_owned(), field.unwrap_or_default()),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn a_body_is_checked_against_the_model_and_errors_name_the_field() {
        let customers = entity(sets::CUSTOMERS).unwrap();
        let ok = check_body(
            customers,
            &body(json!({"@odata.etag": "W/\"1\"", "displayName": "A", "creditLimit": 5})),
            true,
            None,
        )
        .unwrap();
        assert_eq!(ok.len(), 2, "annotations are dropped");
        let cases = [
            (json!({"colour": "red"}), "BadRequest", "colour"),
            (json!({"balanceDue": 1}), "BadRequest_InvalidOperation", "balanceDue"),
            (json!({"creditLimit": "a lot"}), "BadRequest", "creditLimit"),
            (json!({"blocked": null}), "BadRequest_RequiredParamNotProvided", "blocked"),
            (json!({"city": "x".repeat(31)}), "Application_StringExceededLength", "city"),
            (json!({"id": "not a guid"}), "BadRequest", "id"),
        ];
        for (b, code, field) in cases {
            let err = check_body(customers, &body(b.clone()), true, None).unwrap_err();
            assert_eq!(field_of(err), (code.to_owned(), field.to_owned()), "{b}");
        }
    }

    #[test]
    fn the_key_cannot_change_on_update() {
        let customers = entity(sets::CUSTOMERS).unwrap();
        let id = Uuid::now_v7();
        let same =
            check_body(customers, &body(json!({"id": id.to_string()})), false, Some(id)).unwrap();
        assert!(same.is_empty(), "the same key is accepted and dropped");
        let other = check_body(
            customers,
            &body(json!({"id": Uuid::now_v7().to_string()})),
            false,
            Some(id),
        )
        .unwrap_err();
        assert_eq!(field_of(other).1, "id");
    }

    #[test]
    fn options_are_checked_against_their_captions() {
        let err =
            one_of(&body(json!({"type": "Robot"})), "type", &["Company", "Person"]).unwrap_err();
        assert!(err.to_string().contains("'Robot' is not an option"), "{err}");
        assert!(one_of(&body(json!({"type": "Person"})), "type", &["Company", "Person"]).is_ok());
    }
}
