//! Stored rows → response entities (with `$select`, ETags and annotations). Request bodies are
//! parsed by [`kontor_sales::service::parse_body`].

use std::collections::{BTreeMap, BTreeSet};

use kontor_odata::model::{EdmType, EntityType};
use kontor_sales::model::{TableInfo, VERSION_PROPERTY};
use kontor_sales::service::{self, Body};
use serde_json::{Map, Value};

use crate::error::ApiResult;

/// [`kontor_sales::service::parse_body`], its error as the Web API answers it.
pub fn parse_body(
    entity: &EntityType,
    table: &TableInfo,
    body: &Value,
    is_update: bool,
    visible: &dyn Fn(&str) -> bool,
) -> ApiResult<Body> {
    Ok(service::parse_body(entity, table, body, is_update, visible)?)
}

/// Which annotations the client asked for with `odata.include-annotations`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    patterns: Vec<String>,
}

pub const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
pub const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
pub const ASSOCIATED_NAV: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";

impl Annotations {
    pub fn parse(value: &str) -> Self {
        let patterns = value
            .trim()
            .trim_matches('"')
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        Annotations { patterns }
    }
    pub fn any(&self) -> bool {
        !self.patterns.is_empty()
    }
    pub fn wants(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| {
            if p == "*" {
                true
            } else if let Some(prefix) = p.strip_suffix(".*") {
                name.starts_with(prefix) && name[prefix.len()..].starts_with('.')
            } else if let Some(excluded) = p.strip_prefix('-') {
                let _ = excluded;
                false
            } else {
                p == name
            }
        })
    }
}

/// Display names of lookup targets, keyed by `(entity set, id)`.
pub type LookupNames = BTreeMap<(String, String), String>;

/// The `(target set, id)` pairs of the lookups in `rows` whose names are needed.
pub fn lookup_targets(
    entity: &EntityType,
    table: &TableInfo,
    rows: &[Map<String, Value>],
) -> BTreeMap<String, BTreeSet<String>> {
    let _ = entity;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        for l in &table.lookups {
            let Some(id) = row.get(&l.property()).and_then(Value::as_str) else { continue };
            let set = lookup_target_set(l, row);
            out.entry(set).or_default().insert(id.to_owned());
        }
    }
    out
}

fn lookup_target_set(l: &kontor_sales::model::Lookup, row: &Map<String, Value>) -> String {
    if let Some(tp) = &l.type_property
        && let Some(logical) = row.get(tp).and_then(Value::as_str)
        && let Some((_, set, _)) = l.targets.iter().find(|(_, _, lg)| lg == logical)
    {
        return set.clone();
    }
    l.targets[0].1.clone()
}

fn lookup_target<'a>(
    l: &'a kontor_sales::model::Lookup,
    row: &Map<String, Value>,
) -> &'a (String, String, String) {
    if let Some(tp) = &l.type_property
        && let Some(logical) = row.get(tp).and_then(Value::as_str)
        && let Some(t) = l.targets.iter().find(|(_, _, lg)| lg == logical)
    {
        return t;
    }
    &l.targets[0]
}

/// The ETag of a stored row.
pub fn etag(row: &Map<String, Value>) -> Option<String> {
    kontor_store::row_version(row)
        .or_else(|| row.get(VERSION_PROPERTY).and_then(Value::as_i64))
        .map(kontor_store::etag)
}

fn format_money(v: &Value) -> Option<String> {
    let f = v.as_f64()?;
    let s = format!("{:.2}", f.abs());
    let (int, frac) = s.split_once('.')?;
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    Some(format!("{}{grouped}.{frac}", if f < 0.0 { "-" } else { "" }))
}

/// Shapes a stored row for a response: `@odata.etag`, the selected (or all visible) properties
/// (the key always), and the requested annotations.
pub fn shape(
    entity: &EntityType,
    table: &TableInfo,
    row: &Map<String, Value>,
    select: &[String],
    ann: &Annotations,
    names: &LookupNames,
    visible: &dyn Fn(&str) -> bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(e) = etag(row) {
        out.insert("@odata.etag".into(), Value::String(e));
    }
    for p in &entity.properties {
        let selected = if select.is_empty() {
            visible(&p.name)
        } else {
            p.name == entity.key || select.contains(&p.name)
        };
        if !selected {
            continue;
        }
        let v = row.get(&p.name).cloned().unwrap_or(Value::Null);
        if ann.any() && !v.is_null() {
            let formatted = if let Some(l) = table.lookup_by_property(&p.name) {
                let (nav, set, logical) = lookup_target(l, row);
                if ann.wants(FORMATTED)
                    && let Some(n) =
                        v.as_str().and_then(|id| names.get(&(set.clone(), id.to_owned())))
                {
                    out.insert(format!("{}@{FORMATTED}", p.name), Value::String(n.clone()));
                }
                if ann.wants(ASSOCIATED_NAV) {
                    out.insert(format!("{}@{ASSOCIATED_NAV}", p.name), Value::String(nav.clone()));
                }
                if ann.wants(LOOKUP_LOGICAL_NAME) {
                    out.insert(
                        format!("{}@{LOOKUP_LOGICAL_NAME}", p.name),
                        Value::String(logical.clone()),
                    );
                }
                None
            } else if let Some(n) = v.as_i64().filter(|_| table.options.contains_key(&p.name)) {
                table.option_label(&p.name, n).map(str::to_owned)
            } else {
                match p.ty {
                    EdmType::Boolean => {
                        v.as_bool().map(|b| if b { "Yes" } else { "No" }.to_owned())
                    }
                    EdmType::Decimal { scale: 5 }
                        if !p.name.starts_with("quantity")
                            && p.name != "percentage"
                            && p.name != "discountpercentage" =>
                    {
                        format_money(&v)
                    }
                    _ => None,
                }
            };
            if let Some(f) = formatted
                && ann.wants(FORMATTED)
            {
                out.insert(format!("{}@{FORMATTED}", p.name), Value::String(f));
            }
        }
        out.insert(p.name.clone(), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;
    use kontor_sales::sales_model;
    use serde_json::json;
    use uuid::Uuid;

    fn account() -> (&'static EntityType, &'static TableInfo) {
        sales_model().set("accounts").unwrap()
    }
    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn an_unknown_attribute_is_named_in_the_dataverse_payload_error() {
        let (e, t) = account();
        let err = parse_body(e, t, &json!({"foo": 1}), false, &all).unwrap_err();
        assert_eq!(err.code, code::PAYLOAD);
        assert!(err.message.contains(
            "The property 'foo' does not exist on type 'Microsoft.Dynamics.CRM.account'"
        ));
    }

    #[test]
    fn a_wrong_type_is_refused_with_the_expected_edm_type() {
        let (e, t) = account();
        let err = parse_body(e, t, &json!({"name": 5}), false, &all).unwrap_err();
        assert!(
            err.message
                .contains("Cannot convert the literal '5' to the expected type 'Edm.String'."),
            "{}",
            err.message
        );
        let err = parse_body(e, t, &json!({"creditonhold": "yes"}), false, &all).unwrap_err();
        assert!(err.message.contains("Edm.Boolean"));
    }

    #[test]
    fn binds_become_lookups_and_owner_binds_may_name_a_team() {
        let (e, t) = sales_model().set("contacts").unwrap();
        let id = Uuid::new_v4();
        let body = parse_body(
            e,
            t,
            &json!({"lastname": "X", "parentcustomerid_account@odata.bind": format!("/accounts({id})"), "ownerid@odata.bind": format!("/teams({id})")}),
            false,
            &all,
        )
        .unwrap();
        assert_eq!(body.binds[0].property, "_parentcustomerid_value");
        assert_eq!(body.binds[0].target_logical, "account");
        assert_eq!(body.binds[1].target_set, "teams");
        assert_eq!(body.binds[1].target_logical, "team");
    }

    #[test]
    fn formatted_values_and_lookup_names_are_annotated_when_asked() {
        let (e, t) = sales_model().set("contacts").unwrap();
        let acc = Uuid::new_v4().to_string();
        let row = json!({"contactid": Uuid::nil().to_string(), "versionnumber": 7, "statecode": 0,
            "_parentcustomerid_value": acc, "parentcustomeridtype": "account"});
        let mut names = LookupNames::new();
        names.insert(("accounts".into(), acc.clone()), "Northwind".into());
        let out = shape(
            e,
            t,
            row.as_object().unwrap(),
            &["statecode".into(), "_parentcustomerid_value".into()],
            &Annotations::parse("\"*\""),
            &names,
            &all,
        );
        assert_eq!(out["@odata.etag"], "W/\"7\"");
        assert_eq!(out["statecode@OData.Community.Display.V1.FormattedValue"], "Active");
        assert_eq!(
            out["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"],
            "Northwind"
        );
        assert_eq!(
            out["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
            "account"
        );
        assert_eq!(
            out["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
            "parentcustomerid_account"
        );
        assert!(out.contains_key("contactid"));
        assert!(!out.contains_key("lastname"));
    }
}
