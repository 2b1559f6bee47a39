//! Request bodies → validated attribute maps (with `@odata.bind` lookups) and stored rows →
//! response entities (with `$select`, ETags and annotations).

use std::collections::{BTreeMap, BTreeSet};

use kontor_odata::model::{EdmType, EntityType, Property};
use kontor_sales::model::{TableInfo, VERSION_PROPERTY};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, code};
use crate::keys::{Key, parse_reference};

/// A lookup written with `nav@odata.bind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    /// `_parentcustomerid_value`.
    pub property: String,
    /// `parentcustomeridtype` for polymorphic lookups.
    pub type_property: Option<String>,
    pub target_set: String,
    pub target_logical: String,
    /// `None` clears the lookup.
    pub target: Option<Key>,
}

/// A parsed request body.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// Writable attributes, values validated against their types.
    pub attrs: Map<String, Value>,
    pub binds: Vec<Bind>,
    /// The primary key, when the body carries it.
    pub key: Option<Uuid>,
}

fn type_error(set: &str, literal: &Value, ty: EdmType) -> ApiError {
    let lit = match literal {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    ApiError::payload(
        set,
        format!("Cannot convert the literal '{lit}' to the expected type '{}'.", ty.edm_name()),
    )
}

/// Checks (and normalises) one value for property `p`.
pub fn check_value(set: &str, logical: &str, p: &Property, v: &Value) -> ApiResult<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let bad = || type_error(set, v, p.ty);
    let out = match p.ty {
        EdmType::Guid => {
            let s = v.as_str().ok_or_else(bad)?;
            Value::String(Uuid::parse_str(s).map_err(|_| bad())?.to_string())
        }
        EdmType::String => {
            let s = v.as_str().ok_or_else(bad)?;
            if let Some(max) = p.max_length {
                let len = s.chars().count();
                if len > max as usize {
                    return Err(ApiError::bad_request(
                        code::VALIDATION,
                        format!(
                            "A validation error occurred. The length of the '{}' attribute of the '{logical}' entity exceeded the maximum allowed length of '{max}'.",
                            p.name
                        ),
                    ));
                }
            }
            v.clone()
        }
        EdmType::Int32 => {
            let n = v.as_i64().ok_or_else(bad)?;
            i32::try_from(n).map_err(|_| bad())?;
            v.clone()
        }
        EdmType::Int64 => {
            v.as_i64().ok_or_else(bad)?;
            v.clone()
        }
        EdmType::Decimal { .. } | EdmType::Double => {
            if !v.is_number() {
                return Err(bad());
            }
            v.clone()
        }
        EdmType::Boolean => Value::Bool(v.as_bool().ok_or_else(bad)?),
        EdmType::DateTimeOffset => {
            let s = v.as_str().ok_or_else(bad)?;
            if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
                v.clone()
            } else if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Value::String(format!("{d}T00:00:00Z"))
            } else {
                return Err(bad());
            }
        }
        EdmType::Date => {
            let s = v.as_str().ok_or_else(bad)?;
            let date = s.get(..10).unwrap_or(s);
            let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad())?;
            Value::String(d.to_string())
        }
    };
    Ok(out)
}

/// Parses a create/update body for `entity`. `visible` says whether a property is exposed (the
/// solution's columns are hidden until it is installed). Read-only and (on update) create-only
/// attributes are ignored, as Dataverse does.
pub fn parse_body(
    entity: &EntityType,
    table: &TableInfo,
    body: &Value,
    is_update: bool,
    visible: &dyn Fn(&str) -> bool,
) -> ApiResult<Body> {
    let set = entity.set_name.as_str();
    let Some(obj) = body.as_object() else {
        return Err(ApiError::payload(set, "The request body must be a JSON object."));
    };
    let mut out = Body::default();
    for (name, value) in obj {
        if let Some(nav) = name.strip_suffix("@odata.bind") {
            let Some((lookup, target_set, target_logical)) = table.lookup_by_navigation(nav) else {
                return Err(ApiError::payload(
                    set,
                    format!(
                        "An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."
                    ),
                ));
            };
            if lookup.read_only {
                continue;
            }
            let target = match value {
                Value::Null => None,
                Value::String(s) => {
                    let (ref_set, key) = parse_reference(s).ok_or_else(|| {
                        ApiError::payload(
                            set,
                            format!(
                                "The reference '{s}' in '{name}' is not a valid entity reference."
                            ),
                        )
                    })?;
                    // Owner binds say the set themselves (`/systemusers(…)` or `/teams(…)`).
                    if ref_set != target_set {
                        if let Some((_, other_set, _)) = lookup
                            .targets
                            .iter()
                            .find(|(_, s2, _)| *s2 == ref_set)
                            .map(|(n, s2, l)| (n, s2.clone(), l.clone()))
                        {
                            let logical = lookup
                                .targets
                                .iter()
                                .find(|(_, s2, _)| *s2 == other_set)
                                .map(|(_, _, l)| l.clone())
                                .unwrap_or_default();
                            out.binds.push(Bind {
                                property: lookup.property(),
                                type_property: lookup.type_property.clone(),
                                target_set: other_set,
                                target_logical: logical,
                                target: Some(key),
                            });
                            continue;
                        }
                        return Err(ApiError::payload(
                            set,
                            format!(
                                "The reference '{s}' in '{name}' must point to '{target_set}'."
                            ),
                        ));
                    }
                    Some(key)
                }
                _ => {
                    return Err(ApiError::payload(
                        set,
                        format!("'{name}' must be a string reference."),
                    ));
                }
            };
            out.binds.push(Bind {
                property: lookup.property(),
                type_property: lookup.type_property.clone(),
                target_set: target_set.to_owned(),
                target_logical: target_logical.to_owned(),
                target,
            });
            continue;
        }
        if name.contains('@') {
            // `@odata.type`, `@odata.etag`, instance annotations: accepted and ignored.
            continue;
        }
        let Some(p) = entity.property(name).filter(|p| visible(&p.name)) else {
            return Err(ApiError::unknown_payload_property(set, &entity.name, name));
        };
        if name.starts_with('_') && name.ends_with("_value") {
            // Lookups are written with `@odata.bind`, as in Dataverse.
            return Err(ApiError::unknown_payload_property(set, &entity.name, name));
        }
        let v = check_value(set, &entity.name, p, value)?;
        if p.name == entity.key {
            let id = v.as_str().and_then(|s| Uuid::parse_str(s).ok());
            out.key = id;
            continue;
        }
        if table.is_read_only(name) || (is_update && table.is_create_only(name)) {
            continue;
        }
        if let Some(opts) = table.options.get(name)
            && name != "statecode"
            && name != "statuscode"
            && let Some(n) = v.as_i64()
            && !opts.iter().any(|(o, _)| i64::from(*o) == n)
        {
            return Err(ApiError::bad_request(
                code::OPTION_OUT_OF_RANGE,
                format!(
                    "A validation error occurred. The value {n} of '{name}' on record of type '{}' is outside the valid range. Accepted Values: {}",
                    entity.name,
                    opts.iter().map(|(o, _)| o.to_string()).collect::<Vec<_>>().join(",")
                ),
            ));
        }
        out.attrs.insert(name.clone(), v);
    }
    Ok(out)
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
    use kontor_sales::sales_model;
    use serde_json::json;

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
