//! System query options (`$filter $select $orderby $top $skip $count $expand $skiptoken
//! $deltatoken`) parsed from a raw query string and validated against the model.
//!
//! [`QueryOptions::parse`] percent-decodes each parameter (`+` is a space), rejects unknown or
//! repeated `$`-options, ignores parameters without a `$`, and checks every property and
//! navigation name (including those inside `$filter`, with lambda variables scoped) so that the
//! error names the culprit: `Could not find a property named 'foo' on type 'ns.account'.`
//! `$expand` goes one level deep and takes `$select`, `$filter`, `$orderby`, `$top` and `$skip`
//! in parentheses, separated by `;`.

use crate::ast::Expr;
use crate::error::ODataError;
use crate::filter;
use crate::model::{EntityType, Model, NavigationKind};

/// The validated system query options of one request (or of one `$expand` item).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOptions {
    pub filter: Option<Expr>,
    /// Selected property names; empty means all.
    pub select: Vec<String>,
    /// `(property, descending)` pairs, in order.
    pub orderby: Vec<(String, bool)>,
    pub top: Option<u64>,
    pub skip: Option<u64>,
    pub count: bool,
    pub expand: Vec<Expand>,
    pub skiptoken: Option<String>,
    pub deltatoken: Option<String>,
}

/// One `$expand` item: a navigation of the entity and the options applied to its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Expand {
    pub navigation: String,
    pub options: QueryOptions,
}

/// The options a request may carry; matched without regard to case.
const OPTIONS: [&str; 9] = [
    "$filter",
    "$select",
    "$orderby",
    "$top",
    "$skip",
    "$count",
    "$expand",
    "$skiptoken",
    "$deltatoken",
];

/// The options allowed inside `$expand=nav(…)`.
const EXPAND_OPTIONS: [&str; 5] = ["$filter", "$select", "$orderby", "$top", "$skip"];

impl QueryOptions {
    /// Parses a raw query string (`$filter=name%20eq%20'A'&$top=5`, with or without a leading
    /// `?`) for `entity`.
    pub fn parse(
        raw_query: &str,
        entity: &EntityType,
        model: &Model,
    ) -> Result<QueryOptions, ODataError> {
        let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
        let mut pairs = Vec::new();
        for part in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((percent_decode(key)?, percent_decode(value)?));
        }
        Self::from_pairs(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            entity,
            model,
            &OPTIONS,
        )
    }

    /// Builds options from already-decoded `(name, value)` pairs, allowing only `allowed`.
    fn from_pairs<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)>,
        entity: &EntityType,
        model: &Model,
        allowed: &[&str],
    ) -> Result<QueryOptions, ODataError> {
        let mut seen: Vec<&str> = Vec::new();
        let mut options = QueryOptions::default();
        for (key, value) in pairs {
            if !key.starts_with('$') {
                continue;
            }
            let Some(name) = allowed.iter().copied().find(|o| o.eq_ignore_ascii_case(key)) else {
                let message = if OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(key)) {
                    format!("The query option '{key}' is not supported inside $expand.")
                } else {
                    format!("The query parameter '{key}' is not supported.")
                };
                return Err(ODataError::invalid_query_option(message).with_target(key));
            };
            if seen.contains(&name) {
                return Err(ODataError::invalid_query_option(format!(
                    "Query option '{name}' was specified more than once, but it must be specified at most once."
                ))
                .with_target(name));
            }
            seen.push(name);
            match name {
                "$filter" => {
                    let expr = filter::parse_request(value)?;
                    crate::sql::check_filter(&expr, entity, model)?;
                    options.filter = Some(expr);
                }
                "$select" => options.select = parse_select(value, entity, model)?,
                "$orderby" => options.orderby = parse_orderby(value, entity, model)?,
                "$top" => options.top = Some(parse_count_value("$top", value)?),
                "$skip" => options.skip = Some(parse_count_value("$skip", value)?),
                "$count" => {
                    options.count = match value.trim() {
                        v if v.eq_ignore_ascii_case("true") => true,
                        v if v.eq_ignore_ascii_case("false") => false,
                        other => {
                            return Err(ODataError::invalid_query_option(format!(
                                "Invalid value '{other}' for $count; expected true or false."
                            ))
                            .with_target("$count"));
                        }
                    }
                }
                "$expand" => options.expand = parse_expand(value, entity, model)?,
                "$skiptoken" => options.skiptoken = Some(value.to_owned()),
                "$deltatoken" => options.deltatoken = Some(value.to_owned()),
                _ => {}
            }
        }
        Ok(options)
    }

    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        *self == QueryOptions::default()
    }
}

/// The qualified type name used in messages: `Microsoft.Dynamics.CRM.account`.
pub(crate) fn qualified(entity: &EntityType, model: &Model) -> String {
    if model.namespace.is_empty() {
        entity.name.clone()
    } else {
        format!("{}.{}", model.namespace, entity.name)
    }
}

fn parse_select(
    value: &str,
    entity: &EntityType,
    model: &Model,
) -> Result<Vec<String>, ODataError> {
    let mut out: Vec<String> = Vec::new();
    let mut all = false;
    let mut offset = 0;
    for raw in value.split(',') {
        let position = offset + (raw.len() - raw.trim_start().len());
        offset += raw.len() + 1;
        let item = raw.trim();
        if item == "*" {
            all = true;
            continue;
        }
        if item.is_empty() {
            return Err(ODataError::invalid_query_option(
                "$select has an empty item; separate property names with single commas.",
            )
            .with_target("$select"));
        }
        if let Some(bad) = item.find(|c: char| !(c.is_alphanumeric() || c == '_')) {
            return Err(ODataError::invalid_query_option(format!(
                "Syntax error in $select at position {}: '{item}' is not a property name (unexpected '{}').",
                position + bad,
                &item[bad..].chars().next().map(String::from).unwrap_or_default()
            ))
            .with_target("$select"));
        }
        if entity.property(item).is_none() {
            return Err(ODataError::unknown_property(item, &qualified(entity, model)));
        }
        if !out.iter().any(|s| s == item) {
            out.push(item.to_owned());
        }
    }
    if all {
        out.clear();
    }
    Ok(out)
}

fn parse_orderby(
    value: &str,
    entity: &EntityType,
    model: &Model,
) -> Result<Vec<(String, bool)>, ODataError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim) {
        let mut words = item.split_whitespace();
        let Some(name) = words.next() else {
            return Err(ODataError::invalid_query_option(
                "$orderby has an empty item; separate properties with single commas.",
            )
            .with_target("$orderby"));
        };
        let descending = match words.next() {
            None => false,
            Some(w) if w.eq_ignore_ascii_case("asc") => false,
            Some(w) if w.eq_ignore_ascii_case("desc") => true,
            Some(w) => {
                return Err(ODataError::invalid_query_option(format!(
                    "Invalid direction '{w}' in $orderby; expected asc or desc."
                ))
                .with_target("$orderby"));
            }
        };
        if let Some(extra) = words.next() {
            return Err(ODataError::invalid_query_option(format!(
                "Unexpected '{extra}' in $orderby after '{item}'; separate properties with commas."
            ))
            .with_target("$orderby"));
        }
        if name.contains('/') {
            return Err(ODataError::invalid_query_option(format!(
                "Ordering by a navigation path ('{name}') is not supported; order by a property of '{}'.",
                entity.name
            ))
            .with_target("$orderby"));
        }
        if entity.property(name).is_none() {
            return Err(ODataError::unknown_property(name, &qualified(entity, model)));
        }
        out.push((name.to_owned(), descending));
    }
    Ok(out)
}

fn parse_count_value(option: &str, value: &str) -> Result<u64, ODataError> {
    let v = value.trim();
    if !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = v.parse::<u64>()
        && n <= i64::MAX as u64
    {
        return Ok(n);
    }
    Err(ODataError::invalid_query_option(format!(
        "Invalid value '{v}' for {option}; expected a non-negative integer."
    ))
    .with_target(option))
}

/// Splits on `sep` outside parentheses and quoted strings.
fn split_top_level(text: &str, sep: char) -> Result<Vec<&str>, ODataError> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    ODataError::invalid_query_option(format!("Unbalanced ')' in '{text}'."))
                })?
            }
            c if c == sep && !in_string && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth != 0 || in_string {
        return Err(ODataError::invalid_query_option(format!(
            "Unbalanced parentheses or quotes in '{text}'."
        )));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_expand(
    value: &str,
    entity: &EntityType,
    model: &Model,
) -> Result<Vec<Expand>, ODataError> {
    let mut out: Vec<Expand> = Vec::new();
    for item in split_top_level(value, ',').map_err(|e| e.with_target("$expand"))? {
        let item = item.trim();
        let (name, inner) = match item.find('(') {
            Some(open) => {
                let Some(inner) = item[open + 1..].strip_suffix(')') else {
                    return Err(ODataError::invalid_query_option(format!(
                        "Expected ')' at the end of the $expand item '{item}'."
                    ))
                    .with_target("$expand"));
                };
                (item[..open].trim(), Some(inner))
            }
            None => (item, None),
        };
        if name.is_empty() {
            return Err(ODataError::invalid_query_option(
                "$expand has an empty item; separate navigation properties with single commas.",
            )
            .with_target("$expand"));
        }
        if name == "*" {
            return Err(ODataError::invalid_query_option(
                "$expand=* is not supported; name the navigation properties.",
            )
            .with_target("$expand"));
        }
        let Some(navigation) = entity.navigation(name) else {
            return Err(ODataError::unknown_property(name, &qualified(entity, model)));
        };
        let Some(target) = model.entity_set(&navigation.target_set) else {
            return Err(ODataError::internal(format!(
                "The navigation '{name}' targets the unknown entity set '{}'.",
                navigation.target_set
            )));
        };
        if out.iter().any(|e| e.navigation == name) {
            return Err(ODataError::invalid_query_option(format!(
                "The navigation property '{name}' is expanded more than once."
            ))
            .with_target("$expand"));
        }
        let options = match inner {
            None => QueryOptions::default(),
            Some(inner) => {
                let mut pairs = Vec::new();
                for opt in split_top_level(inner, ';').map_err(|e| e.with_target("$expand"))? {
                    let opt = opt.trim();
                    if opt.is_empty() {
                        continue;
                    }
                    let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
                    let k = k.trim();
                    if k.eq_ignore_ascii_case("$expand") {
                        return Err(ODataError::invalid_query_option(format!(
                            "Nested $expand inside '{name}' is not supported; expand one level only."
                        ))
                        .with_target("$expand"));
                    }
                    if !k.starts_with('$') {
                        return Err(ODataError::invalid_query_option(format!(
                            "Unexpected '{opt}' inside $expand={name}(…); expected options such as $select=…"
                        ))
                        .with_target("$expand"));
                    }
                    pairs.push((k, v));
                }
                QueryOptions::from_pairs(pairs.into_iter(), target, model, &EXPAND_OPTIONS)?
            }
        };
        if matches!(navigation.kind, NavigationKind::ToOne { .. })
            && (options.filter.is_some()
                || options.top.is_some()
                || options.skip.is_some()
                || !options.orderby.is_empty())
        {
            return Err(ODataError::invalid_query_option(format!(
                "Only $select is allowed when expanding the single-valued navigation property '{name}'."
            ))
            .with_target("$expand"));
        }
        out.push(Expand { navigation: name.to_owned(), options });
    }
    Ok(out)
}

/// Percent-decodes a query-string component; `+` is a space.
pub fn percent_decode(text: &str) -> Result<String, ODataError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => {
                        return Err(ODataError::bad_request(format!(
                            "The query string has an invalid percent-encoding at byte {i}."
                        )));
                    }
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        ODataError::bad_request("The query string is not valid UTF-8 once percent-decoded.")
    })
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
