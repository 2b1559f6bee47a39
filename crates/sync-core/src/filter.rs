//! Table filters: OData `$filter` text parsed by kontor-odata's parser (the workspace's one
//! `$filter` parser: positioned errors, a depth limit) and evaluated here on rows in memory.
//! Change-tracked reads accept no `$filter` (Dataverse forbids it), so the engine filters each
//! row it reads; nothing here ever reaches SQL.
//!
//! Values compare as the planner sees them: null, `''` and a missing field are equal; numbers
//! compare exactly, as decimals (`12.5 eq 12.50`; a number sent as text compares as that number);
//! GUIDs ignore case; `contains`, `startswith` and `endswith` ignore case, as Dataverse does.
//! Comparison, `and`/`or`/`not`, `in`, arithmetic, the string functions and `year`/`month`/`day`
//! evaluate on a row. What a row cannot answer — paths into related records, lambdas
//! (`any`/`all`), enum literals, `INF` and `NaN` — is refused when the filter is parsed, so a
//! filter never silently matches.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use kontor_odata::ast::{BinaryOp, Expr, Function, Literal};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::error::CoreError;
use crate::types::Record;

/// A parsed table filter: the text as written and its checked expression.
#[derive(Debug, Clone)]
pub struct Filter {
    text: String,
    expr: Expr,
}

/// Two filters are the same when their texts are (the expression follows from the text).
impl PartialEq for Filter {
    fn eq(&self, other: &Filter) -> bool {
        self.text == other.text
    }
}

impl Filter {
    /// Parses filter text; errors carry the byte position.
    pub fn parse(text: &str) -> Result<Filter, CoreError> {
        let expr = kontor_odata::filter::parse(text)
            .map_err(|e| CoreError::InvalidFilter { position: e.position, message: e.message })?;
        let expr = checked(expr).map_err(|(needle, message)| CoreError::InvalidFilter {
            position: text.find(&needle).unwrap_or(0),
            message,
        })?;
        Ok(Filter { text: text.to_owned(), expr })
    }

    /// The text, as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The checked expression (numbers with an exponent already read as decimals).
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether the row passes.
    pub fn matches(&self, row: &Record) -> bool {
        truthy(&eval(&self.expr, row))
    }

    /// The fields the filter reads, each once, in order of appearance.
    pub fn fields(&self) -> Vec<String> {
        fn walk(e: &Expr, out: &mut Vec<String>) {
            match e {
                Expr::Path(segments) => {
                    if let Some(f) = segments.first()
                        && !out.contains(f)
                    {
                        out.push(f.clone());
                    }
                }
                Expr::Not(a) | Expr::Negate(a) => walk(a, out),
                Expr::Binary { left, right, .. } => {
                    walk(left, out);
                    walk(right, out);
                }
                Expr::In { value, list } => {
                    walk(value, out);
                    list.iter().for_each(|a| walk(a, out));
                }
                Expr::Call { args, .. } => args.iter().for_each(|a| walk(a, out)),
                Expr::Literal(_) | Expr::Lambda { .. } => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.expr, &mut out);
        out
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// A filter is parsed when it is read: text that does not parse fails the whole read.
impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Filter, D::Error> {
        let text = String::deserialize(d)?;
        Filter::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether `row` passes the optional filter (no filter passes every row).
pub fn matches(filter: Option<&Filter>, row: &Record) -> bool {
    filter.is_none_or(|f| f.matches(row))
}

/// Refuses what a row cannot answer, naming a piece of text to find its position by; reads
/// numbers with an exponent as decimals so that every number compares exactly. The parser's
/// depth limit bounds this recursion.
fn checked(e: Expr) -> Result<Expr, (String, String)> {
    let boxed = |e: Box<Expr>| checked(*e).map(Box::new);
    Ok(match e {
        Expr::Literal(Literal::Double(d)) => {
            let text = if d.is_nan() {
                "NaN".to_owned()
            } else if d.is_infinite() {
                "INF".to_owned()
            } else {
                d.to_string()
            };
            match text.parse::<Decimal>() {
                Ok(n) => Expr::Literal(Literal::Decimal(n)),
                Err(_) if d.is_finite() => {
                    return Err((
                        format!("{d:e}"),
                        format!("the number {d:e} is out of the range of exact decimals"),
                    ));
                }
                Err(_) => {
                    return Err((
                        text.clone(),
                        format!("{text} cannot be compared with the values of a row"),
                    ));
                }
            }
        }
        Expr::Literal(Literal::Enum { type_name, value }) => {
            return Err((
                type_name.clone(),
                format!(
                    "enum values such as {type_name}'{value}' cannot be evaluated on a row; compare with the value's number or text"
                ),
            ));
        }
        Expr::Path(segments) if segments.len() > 1 => {
            let path = segments.join("/");
            return Err((
                path.clone(),
                format!(
                    "'{path}' reads a related record, which a row does not hold; filter on the row's own fields"
                ),
            ));
        }
        Expr::Lambda { collection, kind, .. } => {
            let path = format!("{}/{}", collection.join("/"), kind.keyword());
            return Err((
                path.clone(),
                format!(
                    "'{path}' looks into a collection, which a row does not hold; filter on the row's own fields"
                ),
            ));
        }
        e @ (Expr::Literal(_) | Expr::Path(_)) => e,
        Expr::Not(a) => Expr::Not(boxed(a)?),
        Expr::Negate(a) => Expr::Negate(boxed(a)?),
        Expr::Binary { op, left, right } => {
            Expr::Binary { op, left: boxed(left)?, right: boxed(right)? }
        }
        Expr::In { value, list } => Expr::In {
            value: boxed(value)?,
            list: list.into_iter().map(checked).collect::<Result<_, _>>()?,
        },
        Expr::Call { function, args } => {
            Expr::Call { function, args: args.into_iter().map(checked).collect::<Result<_, _>>()? }
        }
    })
}

/// A value during evaluation.
#[derive(Debug, Clone)]
enum V<'a> {
    Null,
    Bool(bool),
    Num(Decimal),
    Str(Cow<'a, str>),
    Guid(Uuid),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
    /// A JSON array or object, or a number no decimal holds: equal only to itself.
    Other(&'a Value),
}

impl V<'_> {
    fn is_blank(&self) -> bool {
        match self {
            V::Null => true,
            V::Str(s) => s.is_empty(),
            _ => false,
        }
    }
}

fn decimal(n: &serde_json::Number) -> Option<Decimal> {
    if let Some(i) = n.as_i64() {
        return Some(Decimal::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(Decimal::from(u));
    }
    // The number as JSON writes it (shortest round trip: 0.1 is 0.1), read as a decimal.
    let text = n.to_string();
    text.parse::<Decimal>().or_else(|_| Decimal::from_scientific(&text)).ok()
}

fn field(v: &Value) -> V<'_> {
    match v {
        Value::Null => V::Null,
        Value::Bool(b) => V::Bool(*b),
        Value::Number(n) => decimal(n).map(V::Num).unwrap_or(V::Other(v)),
        Value::String(s) => V::Str(Cow::Borrowed(s)),
        other => V::Other(other),
    }
}

fn truthy(v: &V) -> bool {
    matches!(v, V::Bool(true))
}

fn number(v: &V) -> Option<Decimal> {
    match v {
        V::Num(n) => Some(*n),
        V::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn date(v: &V) -> Option<NaiveDate> {
    match v {
        V::Date(d) => Some(*d),
        V::DateTime(dt) => Some(dt.date_naive()),
        V::Str(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|dt| dt.date_naive())),
        _ => None,
    }
}

/// Order of two values that can be compared; `None` otherwise (then only `ne` holds).
fn compare(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Num(x), V::Num(y)) => Some(x.cmp(y)),
        (V::Num(x), V::Str(s)) => Some(x.cmp(&s.trim().parse::<Decimal>().ok()?)),
        (V::Str(_), V::Num(_)) => compare(b, a).map(Ordering::reverse),
        (V::Str(x), V::Str(y)) => match (Uuid::parse_str(x), Uuid::parse_str(y)) {
            (Ok(x), Ok(y)) => Some(x.cmp(&y)),
            _ => Some(x.cmp(y)),
        },
        (V::Guid(x), V::Guid(y)) => Some(x.cmp(y)),
        (V::Guid(x), V::Str(s)) => Some(x.cmp(&Uuid::parse_str(s).ok()?)),
        (V::Str(_), V::Guid(_)) => compare(b, a).map(Ordering::reverse),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Date(x), V::Date(_) | V::Str(_)) => Some(x.cmp(&date(b)?)),
        (V::Str(_), V::Date(_)) => compare(b, a).map(Ordering::reverse),
        (V::DateTime(x), V::DateTime(y)) => Some(x.cmp(y)),
        (V::DateTime(x), V::Str(s)) => Some(x.cmp(&DateTime::parse_from_rfc3339(s).ok()?)),
        (V::Str(_), V::DateTime(_)) => compare(b, a).map(Ordering::reverse),
        _ => None,
    }
}

fn equal(a: &V, b: &V) -> bool {
    if a.is_blank() && b.is_blank() {
        return true;
    }
    match (a, b) {
        (V::Other(x), V::Other(y)) => x == y,
        _ => compare(a, b) == Some(Ordering::Equal),
    }
}

fn text<'v>(v: &'v V) -> Option<&'v str> {
    match v {
        V::Str(s) => Some(s.as_ref()),
        _ => None,
    }
}

fn eval<'a>(e: &'a Expr, row: &'a Record) -> V<'a> {
    match e {
        Expr::Literal(l) => match l {
            Literal::Null => V::Null,
            Literal::Bool(b) => V::Bool(*b),
            Literal::Int(i) => V::Num(Decimal::from(*i)),
            Literal::Decimal(d) => V::Num(*d),
            Literal::String(s) => V::Str(Cow::Borrowed(s)),
            Literal::Guid(g) => V::Guid(*g),
            Literal::Date(d) => V::Date(*d),
            Literal::DateTimeOffset(dt) => V::DateTime(*dt),
            // Refused by `checked`.
            Literal::Double(_) | Literal::Enum { .. } => V::Null,
        },
        Expr::Path(segments) => {
            segments.first().and_then(|f| row.get(f)).map(field).unwrap_or(V::Null)
        }
        Expr::Not(a) => V::Bool(!truthy(&eval(a, row))),
        Expr::Negate(a) => number(&eval(a, row)).map(|n| V::Num(-n)).unwrap_or(V::Null),
        Expr::Binary { op, left, right } => match op {
            BinaryOp::Or => V::Bool(truthy(&eval(left, row)) || truthy(&eval(right, row))),
            BinaryOp::And => V::Bool(truthy(&eval(left, row)) && truthy(&eval(right, row))),
            BinaryOp::Eq => V::Bool(equal(&eval(left, row), &eval(right, row))),
            BinaryOp::Ne => V::Bool(!equal(&eval(left, row), &eval(right, row))),
            BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le => {
                let o = compare(&eval(left, row), &eval(right, row));
                V::Bool(o.is_some_and(|o| match op {
                    BinaryOp::Gt => o == Ordering::Greater,
                    BinaryOp::Ge => o != Ordering::Less,
                    BinaryOp::Lt => o == Ordering::Less,
                    _ => o != Ordering::Greater,
                }))
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
                let (Some(x), Some(y)) = (number(&eval(left, row)), number(&eval(right, row)))
                else {
                    return V::Null;
                };
                let n = match op {
                    BinaryOp::Add => x.checked_add(y),
                    BinaryOp::Sub => x.checked_sub(y),
                    BinaryOp::Mul => x.checked_mul(y),
                    BinaryOp::Div => x.checked_div(y),
                    _ => x.checked_rem(y),
                };
                n.map(V::Num).unwrap_or(V::Null)
            }
        },
        Expr::In { value, list } => {
            let v = eval(value, row);
            V::Bool(list.iter().any(|item| equal(&v, &eval(item, row))))
        }
        Expr::Call { function, args } => call(*function, args, row),
        // Refused by `checked`.
        Expr::Lambda { .. } => V::Null,
    }
}

fn call<'a>(function: Function, args: &'a [Expr], row: &'a Record) -> V<'a> {
    let values: Vec<V<'a>> = args.iter().map(|a| eval(a, row)).collect();
    let arg = |i: usize| values.get(i).unwrap_or(&V::Null);
    let owned = |s: String| V::Str(Cow::Owned(s));
    match function {
        Function::Contains | Function::StartsWith | Function::EndsWith => {
            let (Some(a), Some(b)) = (text(arg(0)), text(arg(1))) else {
                return V::Bool(false);
            };
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            V::Bool(match function {
                Function::Contains => a.contains(&b),
                Function::StartsWith => a.starts_with(&b),
                _ => a.ends_with(&b),
            })
        }
        Function::ToLower => text(arg(0)).map(|s| owned(s.to_lowercase())).unwrap_or(V::Null),
        Function::ToUpper => text(arg(0)).map(|s| owned(s.to_uppercase())).unwrap_or(V::Null),
        Function::Trim => text(arg(0)).map(|s| owned(s.trim().to_owned())).unwrap_or(V::Null),
        Function::Length => {
            text(arg(0)).map(|s| V::Num(Decimal::from(s.chars().count()))).unwrap_or(V::Null)
        }
        Function::Concat => match (text(arg(0)), text(arg(1))) {
            (Some(a), Some(b)) => owned(format!("{a}{b}")),
            _ => V::Null,
        },
        Function::IndexOf => match (text(arg(0)), text(arg(1))) {
            (Some(a), Some(b)) => V::Num(match a.find(b) {
                Some(at) => Decimal::from(a[..at].chars().count()),
                None => Decimal::from(-1),
            }),
            _ => V::Null,
        },
        Function::Substring => {
            let Some(s) = text(arg(0)) else { return V::Null };
            let count = |v: &V| number(v).and_then(|n| usize::try_from(n.trunc()).ok());
            let Some(start) = count(arg(1)) else { return V::Null };
            let rest = s.chars().skip(start);
            match args.len() {
                3 => match count(arg(2)) {
                    Some(n) => owned(rest.take(n).collect()),
                    None => V::Null,
                },
                _ => owned(rest.collect()),
            }
        }
        Function::Year | Function::Month | Function::Day => match date(arg(0)) {
            Some(d) => V::Num(Decimal::from(match function {
                Function::Year => d.year(),
                Function::Month => d.month() as i32,
                _ => d.day() as i32,
            })),
            None => V::Null,
        },
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
