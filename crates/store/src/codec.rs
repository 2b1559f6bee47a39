//! JSON ⇄ stored value, by property. The type conversions are `kontor_odata::sql`'s
//! (`encode_value`, `decimal_json`, `micros_to_rfc3339`: see `kontor_odata::model` for the
//! encoding table); this module adds the property rules (nullability, `max_length`) and reads
//! values straight from a [`Row`].

use kontor_odata::ODataError;
use kontor_odata::model::{EdmType, Property};
use rust_decimal::Decimal;
use sea_query::Value;
use serde_json::Value as Json;

use crate::row::Row;

pub use kontor_odata::sql::null_of;

/// Encodes a JSON value for `p`'s column: type, `max_length` and nullability are checked, and
/// errors name the property.
pub fn encode(p: &Property, json: &Json) -> Result<Value, ODataError> {
    if json.is_null() && !p.nullable {
        return Err(ODataError::invalid_value(
            &p.name,
            format!("The property '{}' cannot be null.", p.name),
        ));
    }
    if let (Some(max), Some(s)) = (p.max_length, json.as_str())
        && p.ty == EdmType::String
    {
        let n = s.chars().count();
        if n > max as usize {
            return Err(ODataError::invalid_value(
                &p.name,
                format!(
                    "The value of the property '{}' is {n} characters long; the maximum is {max}.",
                    p.name
                ),
            ));
        }
    }
    kontor_odata::sql::encode_value(p.ty, json, &p.name)
}

fn internal(e: ODataError) -> crate::StoreError {
    crate::StoreError::Invalid(e)
}

/// Reads `p`'s column from `row` (by column name) as JSON.
pub fn decode(row: &Row, p: &Property) -> crate::Result<Json> {
    let col = p.column.as_str();
    Ok(match p.ty {
        EdmType::Guid | EdmType::String | EdmType::Date => {
            row.try_get::<Option<String>>(col)?.map(Json::String).unwrap_or(Json::Null)
        }
        EdmType::Int32 | EdmType::Int64 => {
            row.try_get_opt_i64(col)?.map(Json::from).unwrap_or(Json::Null)
        }
        EdmType::Decimal { scale } => match row.try_get_opt_i64(col)? {
            Some(v) => kontor_odata::sql::decimal_json(Decimal::from_i128_with_scale(
                i128::from(v),
                u32::from(scale),
            ))
            .map_err(internal)?,
            None => Json::Null,
        },
        EdmType::Double => row
            .try_get::<Option<f64>>(col)?
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        EdmType::Boolean => row.try_get::<Option<bool>>(col)?.map(Json::Bool).unwrap_or(Json::Null),
        EdmType::DateTimeOffset => match row.try_get_opt_i64(col)? {
            Some(v) => Json::String(kontor_odata::sql::micros_to_rfc3339(v).map_err(internal)?),
            None => Json::Null,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_string_over_its_max_length_names_the_property() {
        let p = Property::new("name", "name", EdmType::String).max_length(3);
        let e = encode(&p, &json!("abcd")).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("name"));
        assert!(e.message.contains("maximum is 3"), "{}", e.message);
        assert!(encode(&p, &json!("abc")).is_ok());
    }

    #[test]
    fn null_in_a_required_property_names_the_property() {
        let p = Property::new("name", "name", EdmType::String).required();
        let e = encode(&p, &Json::Null).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("name"));
    }

    #[test]
    fn money_is_stored_scaled() {
        let p = Property::new("revenue", "revenue", EdmType::MONEY);
        assert_eq!(encode(&p, &json!(1000.5)).unwrap(), Value::BigInt(Some(100_050_000)));
    }
}
