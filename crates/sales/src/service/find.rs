//! Rows by key: the primary key or an alternate key, and the rows a set-based message read
//! ahead ([`Prefetched`]).

use std::collections::{BTreeMap, HashMap};

use kontor_odata::model::EntityType;
use kontor_store::Tx;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::body::{Body, check_value};
use super::key::Key;
use super::sets::{entity_set, storage_of};
use crate::SalesError;
use crate::model::TableInfo;
use crate::tables as rows;

/// A stored row: attribute logical names to JSON values.
pub type Row = Map<String, Value>;

/// Maps alternate key names (`accountnumber`, `uomscheduleid`, `_uomscheduleid_value`) to
/// properties and checks that they form one of the entity's keys.
pub fn alternate_key(
    entity: &EntityType,
    table: &TableInfo,
    pairs: &[(String, Value)],
) -> Result<Vec<(String, Value)>, SalesError> {
    let mut out = vec![];
    for (name, v) in pairs {
        let prop = if entity.property(name).is_some() {
            name.clone()
        } else {
            let lookup = format!("_{name}_value");
            if entity.property(&lookup).is_some() { lookup } else { name.clone() }
        };
        let p = entity.property(&prop).ok_or_else(|| invalid_key(entity, pairs))?;
        let v = check_value(&entity.set_name, &entity.name, p, v)
            .map_err(|_| invalid_key(entity, pairs))?;
        out.push((prop, v));
    }
    let mut names: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
    names.sort_unstable();
    let ok = entity.alternate_keys.iter().any(|k| {
        let mut k: Vec<&str> = k.iter().map(String::as_str).collect();
        k.sort_unstable();
        k == names
    });
    let _ = table;
    if !ok {
        return Err(invalid_key(entity, pairs));
    }
    Ok(out)
}

fn invalid_key(entity: &EntityType, pairs: &[(String, Value)]) -> SalesError {
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    SalesError::NotAnAlternateKey { names: names.join(","), entity: entity.name.clone() }
}

/// `name:value,…` of alternate key values, as Dataverse names them in messages.
pub fn key_text(pairs: &[(String, Value)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!("{k}:{}", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Finds a row by id or alternate key.
pub async fn find(
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
) -> Result<Option<Row>, SalesError> {
    let storage = storage_of(entity)?;
    match key {
        Key::Id(id) => Ok(rows::get(tx, storage, *id).await?),
        Key::Alternate(pairs) => {
            let pairs = alternate_key(entity, table, pairs)?;
            Ok(rows::get_by_alternate_key(tx, storage, &pairs).await?)
        }
    }
}

/// The error for a row of `entity` that `key` does not find.
pub fn not_found(entity: &EntityType, table: &TableInfo, key: &Key) -> SalesError {
    match key {
        Key::Id(id) => SalesError::NotFound { logical_name: table.logical_name.clone(), id: *id },
        Key::Alternate(pairs) => {
            SalesError::NotFoundByKey { logical_name: entity.name.clone(), key: key_text(pairs) }
        }
    }
}

/// The primary key of a row.
pub fn row_id(entity: &EntityType, row: &Row) -> Option<Uuid> {
    row.get(&entity.key).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

/// Rows already read for this request, by entity set and key, so that set-based messages
/// (`UpsertMultiple` …) resolve the binds and defaults of many targets with one query per
/// target set instead of one per row. A key looked up and not found is remembered as `None`.
#[derive(Debug, Default)]
pub struct Prefetched {
    rows: HashMap<(String, Uuid), Option<Row>>,
}

impl Prefetched {
    /// Reads the rows of `set` with these keys (one query per thousand keys).
    pub async fn load(&mut self, tx: &mut Tx, set: &str, ids: &[Uuid]) -> Result<(), SalesError> {
        let wanted: Vec<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| !self.rows.contains_key(&(set.to_owned(), *id)))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let (_, _, storage) = entity_set(set)?;
        let mut found = rows::get_many(tx, storage, &wanted).await?;
        for id in wanted {
            self.rows.insert((set.to_owned(), id), found.remove(&id));
        }
        Ok(())
    }

    /// `Some(row or None)` when `set(id)` was read, `None` when it was not.
    pub fn get(&self, set: &str, id: Uuid) -> Option<Option<&Row>> {
        self.rows.get(&(set.to_owned(), id)).map(Option::as_ref)
    }

    /// Every `set(id)` the binds of `bodies` refer to by primary key.
    pub async fn load_binds<'b>(
        &mut self,
        tx: &mut Tx,
        bodies: impl Iterator<Item = &'b Body>,
    ) -> Result<(), SalesError> {
        let mut by_set: BTreeMap<&str, Vec<Uuid>> = Default::default();
        for body in bodies {
            for b in &body.binds {
                if let Some(Key::Id(id)) = &b.target {
                    by_set.entry(b.target_set.as_str()).or_default().push(*id);
                }
            }
        }
        for (set, mut ids) in by_set {
            ids.sort_unstable();
            ids.dedup();
            self.load(tx, set, &ids).await?;
        }
        Ok(())
    }
}

/// A row by key, from `pre` when it holds it.
pub async fn find_in(
    tx: &mut Tx,
    entity: &EntityType,
    table: &TableInfo,
    key: &Key,
    pre: &Prefetched,
) -> Result<Option<Row>, SalesError> {
    if let Key::Id(id) = key
        && let Some(hit) = pre.get(&entity.set_name, *id)
    {
        return Ok(hit.cloned());
    }
    find(tx, entity, table, key).await
}
