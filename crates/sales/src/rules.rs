//! Business rules applied to every write (pure): state/status pairs and defaults, composed
//! names, owner defaults, the system columns.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::model::{TableInfo, state_model};

/// A rule violation; the server answers 400 with Dataverse code `0x80040203`-style messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(
        "{statuscode} is not a valid status code for state code {logical_name}State.{state} on {logical_name} with Id {id}."
    )]
    InvalidStatus { logical_name: String, state: i64, statuscode: i64, id: Uuid },
    #[error("{value} is not a valid state code on {logical_name} with Id {id}.")]
    InvalidState { logical_name: String, value: i64, id: Uuid },
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

fn text<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn compose_name(first: Option<&str>, last: Option<&str>) -> Value {
    match (first, last) {
        (Some(f), Some(l)) => Value::String(format!("{f} {l}")),
        (Some(x), None) | (None, Some(x)) => Value::String(x.to_owned()),
        (None, None) => Value::Null,
    }
}

/// Completes a row about to be created by `caller`: system columns, default state and status,
/// composed full name, owner. `row` already holds the client's (validated) attributes.
pub fn prepare_create(
    table: &TableInfo,
    id: Uuid,
    row: &mut Map<String, Value>,
    caller: Uuid,
) -> Result<(), RuleError> {
    let caller_v = Value::String(caller.to_string());
    row.insert("_createdby_value".into(), caller_v.clone());
    row.insert("_modifiedby_value".into(), caller_v.clone());
    if table.lookup_by_property("_ownerid_value").is_some()
        && row.get("_ownerid_value").is_none_or(Value::is_null)
    {
        row.insert("_ownerid_value".into(), caller_v);
        row.insert("owneridtype".into(), Value::String("systemuser".into()));
    }
    if matches!(table.logical_name.as_str(), "contact" | "systemuser") {
        let full = compose_name(text(row, "firstname"), text(row, "lastname"));
        row.insert("fullname".into(), full);
    }
    if let Some(sm) = state_model(&table.logical_name) {
        // New rows start Active (0). Dataverse creates products as Draft unless the org setting
        // says otherwise; Kontor creates them Active so that sales orders can use them at once.
        let state = int(row.get("statecode")).unwrap_or(0);
        row.insert("statecode".into(), Value::from(state));
        check_state(table, &sm, id, state, row)?;
    }
    Ok(())
}

/// Completes an update by `caller` of `existing` with `patch`.
pub fn prepare_update(
    table: &TableInfo,
    id: Uuid,
    existing: &Map<String, Value>,
    patch: &mut Map<String, Value>,
    caller: Uuid,
) -> Result<(), RuleError> {
    patch.insert("_modifiedby_value".into(), Value::String(caller.to_string()));
    if matches!(table.logical_name.as_str(), "contact" | "systemuser")
        && (patch.contains_key("firstname") || patch.contains_key("lastname"))
    {
        let pick = |k: &str| {
            if patch.contains_key(k) { text(patch, k) } else { text(existing, k) }
        };
        let full = compose_name(pick("firstname"), pick("lastname"));
        patch.insert("fullname".into(), full);
    }
    if let Some(sm) = state_model(&table.logical_name)
        && (patch.contains_key("statecode") || patch.contains_key("statuscode"))
    {
        let state =
            int(patch.get("statecode")).or_else(|| int(existing.get("statecode"))).unwrap_or(0);
        if !patch.contains_key("statuscode") {
            // A state change alone takes the state's default status.
            patch.remove("statuscode");
        }
        let mut merged = patch.clone();
        if !patch.contains_key("statecode") {
            merged.insert("statecode".into(), Value::from(state));
        }
        check_state(table, &sm, id, state, &mut merged)?;
        if let Some(s) = merged.get("statuscode") {
            patch.insert("statuscode".into(), s.clone());
        }
    }
    Ok(())
}

fn check_state(
    table: &TableInfo,
    sm: &crate::model::StateModel,
    id: Uuid,
    state: i64,
    row: &mut Map<String, Value>,
) -> Result<(), RuleError> {
    let Some(default_status) = sm.defaults.iter().find(|(s, _)| i64::from(*s) == state) else {
        return Err(RuleError::InvalidState {
            logical_name: table.logical_name.clone(),
            value: state,
            id,
        });
    };
    match int(row.get("statuscode")) {
        None => {
            row.insert("statuscode".into(), Value::from(default_status.1));
        }
        Some(status) => {
            if !sm.pairs.iter().any(|(st, su)| i64::from(*st) == state && i64::from(*su) == status)
            {
                return Err(RuleError::InvalidStatus {
                    logical_name: table.logical_name.clone(),
                    state,
                    statuscode: status,
                    id,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sales_model;
    use serde_json::json;

    fn table(name: &str) -> &'static TableInfo {
        sales_model().by_logical_name(name).unwrap().1
    }
    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_new_sales_order_is_active_and_new_and_owned_by_its_creator() {
        let caller = Uuid::new_v4();
        let mut row = map(json!({"name": "Order"}));
        prepare_create(table("salesorder"), Uuid::nil(), &mut row, caller).unwrap();
        assert_eq!(row["statecode"], 0);
        assert_eq!(row["statuscode"], 1);
        assert_eq!(row["_ownerid_value"], caller.to_string());
        assert_eq!(row["_modifiedby_value"], caller.to_string());
    }

    #[test]
    fn submitting_a_sales_order_takes_the_default_status_of_submitted() {
        let mut patch = map(json!({"statecode": 1}));
        let existing = map(json!({"statecode": 0, "statuscode": 1}));
        prepare_update(table("salesorder"), Uuid::nil(), &existing, &mut patch, Uuid::nil())
            .unwrap();
        assert_eq!(patch["statuscode"], 3);
    }

    #[test]
    fn a_status_of_another_state_is_refused() {
        let mut patch = map(json!({"statecode": 4, "statuscode": 1}));
        let existing = map(json!({"statecode": 0, "statuscode": 1}));
        let e =
            prepare_update(table("salesorder"), Uuid::nil(), &existing, &mut patch, Uuid::nil())
                .unwrap_err();
        assert!(matches!(e, RuleError::InvalidStatus { state: 4, statuscode: 1, .. }));
        let mut row = map(json!({"statecode": 9}));
        assert!(prepare_create(table("account"), Uuid::nil(), &mut row, Uuid::nil()).is_err());
    }

    #[test]
    fn a_contact_full_name_follows_first_and_last_name() {
        let mut row = map(json!({"firstname": "Ada", "lastname": "Lovelace"}));
        prepare_create(table("contact"), Uuid::nil(), &mut row, Uuid::nil()).unwrap();
        assert_eq!(row["fullname"], "Ada Lovelace");
        let mut patch = map(json!({"lastname": "Byron"}));
        prepare_update(table("contact"), Uuid::nil(), &row, &mut patch, Uuid::nil()).unwrap();
        assert_eq!(patch["fullname"], "Ada Byron");
    }
}
