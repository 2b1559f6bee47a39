//! Reading and writing fields of JSON records (model names).

#[allow(unused_imports)]
use super::*;

pub(super) fn text(m: &Map<String, Json>, k: &str) -> Option<String> {
    m.get(k).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

pub(super) fn dec(m: &Map<String, Json>, k: &str) -> Decimal {
    match m.get(k) {
        Some(Json::Number(n)) => n
            .to_string()
            .parse()
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .unwrap_or_default(),
        Some(Json::String(s)) => s.trim().parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

pub(super) fn guid(m: &Map<String, Json>, k: &str) -> Option<Uuid> {
    m.get(k).and_then(Json::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

pub(super) fn flag(m: &Map<String, Json>, k: &str) -> bool {
    m.get(k).and_then(Json::as_bool).unwrap_or(false)
}

pub(super) fn date(m: &Map<String, Json>, k: &str) -> Option<NaiveDate> {
    m.get(k).and_then(Json::as_str).and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

pub(super) fn set_dec(m: &mut Map<String, Json>, k: &str, d: Decimal) -> Result<()> {
    m.insert(k.to_owned(), decimal_json(d).map_err(|e| FinError::internal(e.message))?);
    Ok(())
}

pub(super) fn set_text(m: &mut Map<String, Json>, k: &str, v: Option<String>) {
    m.insert(k.to_owned(), v.map_or(Json::Null, Json::String));
}

pub(super) fn default(m: &mut Map<String, Json>, k: &str, v: Json) {
    if m.get(k).is_none_or(Json::is_null) {
        m.insert(k.to_owned(), v);
    }
}

pub(super) fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub(super) fn one_of(m: &Map<String, Json>, field: &str, allowed: &[&str]) -> Result<()> {
    if let Some(Json::String(v)) = m.get(field)
        && !allowed.contains(&v.as_str())
    {
        return Err(FinError::Invalid {
            code: "Unknown",
            field: Some(field.to_owned()),
            message: format!(
                "'{v}' is not an option for the field '{field}'. The existing options are: {}",
                allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(",")
            ),
        });
    }
    Ok(())
}

pub(super) fn not_negative(m: &Map<String, Json>, field: &str) -> Result<()> {
    if dec(m, field).is_sign_negative() && !dec(m, field).is_zero() {
        return Err(FinError::invalid(
            field,
            format!("The value of '{field}' must not be negative."),
        ));
    }
    Ok(())
}

pub(super) fn required(m: &Map<String, Json>, field: &str) -> Result<String> {
    text(m, field).ok_or_else(|| FinError::Invalid {
        code: "BadRequest_RequiredParamNotProvided",
        field: Some(field.to_owned()),
        message: format!("Field '{field}' must not be blank or empty."),
    })
}

/// The rows to write for a plan, in model JSON.
pub(super) fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

pub(super) fn d(x: Decimal) -> Result<Json> {
    decimal_json(x).map_err(|e| FinError::internal(e.message))
}
