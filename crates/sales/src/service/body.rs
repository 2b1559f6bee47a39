//! Request bodies → validated attribute maps: every value checked against its property's type,
//! length and options, lookups written with `nav@odata.bind` kept as [`Bind`]s for
//! [`super::resolve_binds`]. The messages are Dataverse's (the Web API returns them as they are).

use kontor_odata::model::{EdmType, EntityType, Property};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::key::{Key, parse_reference};
use crate::SalesError;
use crate::model::TableInfo;

fn payload(set: &str, detail: impl std::fmt::Display) -> SalesError {
    SalesError::Payload { set: set.to_owned(), detail: detail.to_string() }
}

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

fn type_error(set: &str, literal: &Value, ty: EdmType) -> SalesError {
    let lit = match literal {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    payload(
        set,
        format!("Cannot convert the literal '{lit}' to the expected type '{}'.", ty.edm_name()),
    )
}

/// Checks (and normalises) one value for property `p`.
pub fn check_value(set: &str, logical: &str, p: &Property, v: &Value) -> Result<Value, SalesError> {
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
                    return Err(SalesError::Validation(format!(
                        "A validation error occurred. The length of the '{}' attribute of the '{logical}' entity exceeded the maximum allowed length of '{max}'.",
                        p.name
                    )));
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
) -> Result<Body, SalesError> {
    let set = entity.set_name.as_str();
    let Some(obj) = body.as_object() else {
        return Err(payload(set, "The request body must be a JSON object."));
    };
    let mut out = Body::default();
    for (name, value) in obj {
        if let Some(nav) = name.strip_suffix("@odata.bind") {
            let Some((lookup, target_set, target_logical)) = table.lookup_by_navigation(nav) else {
                return Err(payload(
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
                        payload(
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
                        return Err(payload(
                            set,
                            format!(
                                "The reference '{s}' in '{name}' must point to '{target_set}'."
                            ),
                        ));
                    }
                    Some(key)
                }
                _ => {
                    return Err(payload(set, format!("'{name}' must be a string reference.")));
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
            return Err(SalesError::unknown_property(set, &entity.name, name));
        };
        if name.starts_with('_') && name.ends_with("_value") {
            // Lookups are written with `@odata.bind`, as in Dataverse.
            return Err(SalesError::unknown_property(set, &entity.name, name));
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
            return Err(SalesError::OptionOutOfRange(format!(
                "A validation error occurred. The value {n} of '{name}' on record of type '{}' is outside the valid range. Accepted Values: {}",
                entity.name,
                opts.iter().map(|(o, _)| o.to_string()).collect::<Vec<_>>().join(",")
            )));
        }
        out.attrs.insert(name.clone(), v);
    }
    Ok(out)
}
