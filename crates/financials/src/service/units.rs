//! Unit groups and the base unit of measure of items and resources (Business Central 2023's
//! "Unit Group" table): every item and resource has one unit group (code `ITEM<No.>` /
//! `RESOURCE<No.>`), and its base unit of measure always has an item (resource) unit of measure
//! row with quantity 1, whose id the item (resource) carries. The integration's "Unit Group
//! Mapping" synchronizes the groups with Sales unit groups and these rows with their units.

use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::{Actor, entity, guid, text};
use crate::error::{FinError, Result};
use crate::model::sets;
use crate::rows::{self, Record};
use kontor_store::Tx;

/// What differs between items and resources.
struct Kind {
    set: &'static str,
    units: &'static str,
    source_type: &'static str,
    prefix: &'static str,
    owner_id: &'static str,
    owner_number: &'static str,
    base_id: &'static str,
}

fn kind(set: &str) -> Option<Kind> {
    match set {
        sets::ITEMS => Some(Kind {
            set: sets::ITEMS,
            units: sets::ITEM_UNITS_OF_MEASURE,
            source_type: "Item",
            prefix: "ITEM",
            owner_id: "itemId",
            owner_number: "itemNumber",
            base_id: "baseItemUnitOfMeasureId",
        }),
        sets::RESOURCES => Some(Kind {
            set: sets::RESOURCES,
            units: sets::RESOURCE_UNITS_OF_MEASURE,
            source_type: "Resource",
            prefix: "RESOURCE",
            owner_id: "resourceId",
            owner_number: "resourceNumber",
            base_id: "baseResourceUnitOfMeasureId",
        }),
        _ => None,
    }
}

/// The unit group code of an item or resource (`ITEM1000`, `RESOURCEKATHERINE`).
pub fn unit_group_code(source_type: &str, number: &str) -> String {
    let prefix = if source_type == "Resource" { "RESOURCE" } else { "ITEM" };
    format!("{prefix}{number}")
}

/// After an item or resource was written: its unit group follows its number, name and base
/// unit; its units follow its number; its base unit has a row (quantity 1) whose id it holds.
/// Returns the record as stored at the end.
pub(super) async fn keep(
    tx: &mut Tx,
    set: &str,
    owner: Record,
    old: Option<&Record>,
    actor: Actor,
) -> Result<Record> {
    let Some(k) = kind(set) else { return Ok(owner) };
    let id = owner.id().ok_or_else(|| FinError::internal("record without id"))?;
    let number = owner.str("number").unwrap_or_default().to_owned();
    let base_code = owner.str("baseUnitOfMeasureCode").map(str::to_owned);

    // The unit group.
    let groups = entity(sets::UNIT_GROUPS)?;
    let mut group = Map::new();
    group.insert("sourceType".into(), Json::String(k.source_type.into()));
    group.insert("sourceId".into(), Json::String(id.to_string()));
    group.insert("sourceNumber".into(), Json::String(number.clone()));
    group.insert("code".into(), Json::String(format!("{}{number}", k.prefix)));
    group.insert("sourceName".into(), owner.data.get("displayName").cloned().unwrap_or(Json::Null));
    group.insert(
        "baseUnitOfMeasureCode".into(),
        base_code.clone().map(Json::String).unwrap_or(Json::Null),
    );
    match rows::find(tx, groups, "sourceId", Json::String(id.to_string()), true).await? {
        None => {
            rows::insert(tx, groups, &group, Some(actor.0)).await?;
        }
        Some(g) => {
            let diff: Map<String, Json> =
                group.into_iter().filter(|(f, v)| g.data.get(f) != Some(v)).collect();
            if !diff.is_empty() {
                rows::update(tx, groups, g.id().unwrap_or_default(), &diff, Some(actor.0)).await?;
            }
        }
    }

    // Its units follow a new number.
    let units = entity(k.units)?;
    let mine = rows::find_all(tx, units, k.owner_id, Json::String(id.to_string())).await?;
    if old.and_then(|o| o.str("number")).is_some_and(|n| n != number) {
        for u in &mine {
            let mut patch = Map::new();
            patch.insert(k.owner_number.into(), Json::String(number.clone()));
            rows::update(tx, units, u.id().unwrap_or_default(), &patch, Some(actor.0)).await?;
        }
    }

    // The base unit's row.
    let base_row = match &base_code {
        None => None,
        Some(code) => match mine.iter().find(|u| u.str("code") == Some(code.as_str())) {
            Some(u) => u.id(),
            None => {
                let mut row = Map::new();
                row.insert(k.owner_id.into(), Json::String(id.to_string()));
                row.insert(k.owner_number.into(), Json::String(number.clone()));
                row.insert("code".into(), Json::String(code.clone()));
                row.insert("qtyPerUnitOfMeasure".into(), Json::from(1));
                rows::insert(tx, units, &row, Some(actor.0)).await?.id()
            }
        },
    };
    if guid(&owner.data, k.base_id) != base_row {
        let mut patch = Map::new();
        patch.insert(
            k.base_id.into(),
            base_row.map(|u| Json::String(u.to_string())).unwrap_or(Json::Null),
        );
        return rows::update(tx, entity(k.set)?, id, &patch, Some(actor.0)).await;
    }
    Ok(owner)
}

/// What deleting an item or resource removes with it: its units and its unit group.
pub(super) async fn deleted_with(
    tx: &mut Tx,
    set: &str,
    id: Uuid,
) -> Result<Vec<(&'static str, Uuid)>> {
    let Some(k) = kind(set) else { return Ok(vec![]) };
    let mut out = Vec::new();
    for u in rows::find_all(tx, entity(k.units)?, k.owner_id, Json::String(id.to_string())).await? {
        out.extend(u.id().map(|u| (k.units, u)));
    }
    let groups = entity(sets::UNIT_GROUPS)?;
    if let Some(g) = rows::find(tx, groups, "sourceId", Json::String(id.to_string()), false).await?
    {
        out.extend(g.id().map(|g| (sets::UNIT_GROUPS, g)));
    }
    Ok(out)
}

/// An item's (resource's) base unit of measure row cannot be deleted, nor change its code.
pub(super) async fn check_base_unit(
    tx: &mut Tx,
    set: &str,
    unit: &Record,
    what: &str,
) -> Result<()> {
    let (owner_set, owner_id, base_id, caption) = match set {
        sets::ITEM_UNITS_OF_MEASURE => (sets::ITEMS, "itemId", "baseItemUnitOfMeasureId", "item"),
        sets::RESOURCE_UNITS_OF_MEASURE => {
            (sets::RESOURCES, "resourceId", "baseResourceUnitOfMeasureId", "resource")
        }
        _ => return Ok(()),
    };
    let Some(owner) = guid(&unit.data, owner_id) else { return Ok(()) };
    let Some(o) = rows::get(tx, entity(owner_set)?, owner).await? else { return Ok(()) };
    if guid(&o.data, base_id).is_some() && guid(&o.data, base_id) == unit.id() {
        return Err(FinError::Rule(format!(
            "You cannot {what} unit of measure {} because it is the base unit of measure of {caption} {}.",
            text(&unit.data, "code").unwrap_or_default(),
            o.str("number").unwrap_or_default()
        )));
    }
    Ok(())
}
