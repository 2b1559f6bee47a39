//! Field values: comparison that ignores representation noise (null ≡ "" ≡ missing, 12.5 ≡ 12.50,
//! GUID case) and the transformations applied on the way to the destination.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::direction::Pass;

/// A value change applied on the way to the destination (and undone, where possible, on the way back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Transformation {
    Trim,
    Uppercase,
    Lowercase,
    /// Cut text to `max` characters.
    Truncate {
        max: usize,
    },
    /// Negative numbers become 0 (Business Central: inventory → quantityonhand).
    NonNegative,
    /// A code from free text: uppercase letters and digits, at most `max` characters.
    Code {
        max: usize,
    },
    /// First word of a person's name.
    FirstName,
    /// Everything after the first word of a person's name (the whole name if one word).
    LastName,
    /// Value pairs (Financials value, Sales value), e.g. item type ↔ option value.
    ValueMap {
        pairs: Vec<(Value, Value)>,
    },
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Blank: null, missing or an empty string.
pub fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Whether two field values mean the same.
pub fn same(a: &Value, b: &Value) -> bool {
    if is_blank(a) && is_blank(b) {
        return true;
    }
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => {
            let (x, y) = (as_number(a).unwrap_or(0.0), as_number(b).unwrap_or(0.0));
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::String(x), Value::String(y)) => {
            x == y || (uuid::Uuid::parse_str(x).is_ok() && x.eq_ignore_ascii_case(y))
        }
        // Numbers sent as strings by one side (Edm.Decimal as string) still compare.
        (Value::String(s), Value::Number(_)) | (Value::Number(_), Value::String(s)) => {
            let n = as_number(if a.is_number() { a } else { b }).unwrap_or(f64::NAN);
            s.parse::<f64>().is_ok_and(|x| (x - n).abs() <= 1e-9 * x.abs().max(1.0))
        }
        _ => a == b,
    }
}

/// Order of two values of the same kind (numbers, strings, booleans); `None` otherwise.
pub fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => as_number(a)?.partial_cmp(&as_number(b)?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Applies `t` to a value travelling in `pass` (Financials → Sales is the forward direction of
/// value maps).
pub fn transform(t: &Transformation, v: &Value, pass: Pass) -> Value {
    if v.is_null() && !matches!(t, Transformation::ValueMap { .. }) {
        return Value::Null;
    }
    match t {
        Transformation::Trim => {
            text(v).map(|s| Value::String(s.trim().to_owned())).unwrap_or(Value::Null)
        }
        Transformation::Uppercase => {
            text(v).map(|s| Value::String(s.to_uppercase())).unwrap_or(Value::Null)
        }
        Transformation::Lowercase => {
            text(v).map(|s| Value::String(s.to_lowercase())).unwrap_or(Value::Null)
        }
        Transformation::Truncate { max } => match v {
            Value::String(s) => Value::String(s.chars().take(*max).collect()),
            other => other.clone(),
        },
        Transformation::NonNegative => match as_number(v) {
            Some(n) if n < 0.0 => Value::from(0),
            _ => v.clone(),
        },
        Transformation::Code { max } => {
            let s: String = text(v)
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_uppercase)
                .take(*max)
                .collect();
            Value::String(s)
        }
        Transformation::FirstName => {
            let s = text(v).unwrap_or_default();
            let s = s.trim();
            match s.split_once(' ') {
                Some((first, _)) => Value::String(first.to_owned()),
                None => Value::String(String::new()),
            }
        }
        Transformation::LastName => {
            let s = text(v).unwrap_or_default();
            let s = s.trim();
            match s.split_once(' ') {
                Some((_, rest)) => Value::String(rest.trim().to_owned()),
                None => Value::String(s.to_owned()),
            }
        }
        Transformation::ValueMap { pairs } => {
            for (f, s) in pairs {
                let (from, to) = match pass {
                    Pass::ToSales => (f, s),
                    Pass::ToFinancials => (s, f),
                };
                if same(from, v) {
                    return to.clone();
                }
            }
            v.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blank_values_are_the_same_and_numbers_ignore_trailing_zeros() {
        assert!(same(&json!(null), &json!("")));
        assert!(same(&json!(12.5), &json!(12.50)));
        assert!(same(&json!(3), &json!(3.0)));
        assert!(same(&json!("12.5"), &json!(12.5)));
        assert!(!same(&json!("a"), &json!("A")));
        assert!(same(
            &json!("ABCDEF00-0000-0000-0000-000000000001"),
            &json!("abcdef00-0000-0000-0000-000000000001")
        ));
    }

    #[test]
    fn transformations_shape_values_for_the_destination() {
        assert_eq!(
            transform(&Transformation::Code { max: 4 }, &json!("Jo Smith"), Pass::ToFinancials),
            json!("JOSM")
        );
        assert_eq!(transform(&Transformation::NonNegative, &json!(-3), Pass::ToSales), json!(0));
        assert_eq!(
            transform(&Transformation::FirstName, &json!("Anna Maria Smith"), Pass::ToSales),
            json!("Anna")
        );
        assert_eq!(
            transform(&Transformation::LastName, &json!("Anna Maria Smith"), Pass::ToSales),
            json!("Maria Smith")
        );
        assert_eq!(
            transform(&Transformation::LastName, &json!("Cher"), Pass::ToSales),
            json!("Cher")
        );
        let map = Transformation::ValueMap { pairs: vec![(json!("Service"), json!(3))] };
        assert_eq!(transform(&map, &json!("Service"), Pass::ToSales), json!(3));
        assert_eq!(transform(&map, &json!(3), Pass::ToFinancials), json!("Service"));
    }
}
