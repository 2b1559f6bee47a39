//! JSON payload conventions: annotation names, ETags, context URLs, next and delta links, and
//! the collection envelope.
//!
//! URLs are built from a service root that ends with `/` (e.g.
//! `https://org.example/api/data/v9.2/`).

use serde_json::{Map, Value};

use crate::query::percent_encode;

pub const ODATA_CONTEXT: &str = "@odata.context";
pub const ODATA_COUNT: &str = "@odata.count";
pub const ODATA_NEXT_LINK: &str = "@odata.nextLink";
pub const ODATA_DELTA_LINK: &str = "@odata.deltaLink";
pub const ODATA_ETAG: &str = "@odata.etag";
pub const ODATA_ID: &str = "@odata.id";
pub const ODATA_BIND_SUFFIX: &str = "@odata.bind";

/// The weak ETag of a row version: `W/"123"`.
pub fn etag(row_version: i64) -> String {
    format!("W/\"{row_version}\"")
}

/// Reads a row version back from `W/"123"` (or `"123"`); `None` for anything else, including
/// `*` (check that separately with [`is_wildcard_etag`]).
pub fn parse_etag(text: &str) -> Option<i64> {
    let t = text.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    inner.parse().ok()
}

/// `If-Match: *` / `If-None-Match: *`.
pub fn is_wildcard_etag(text: &str) -> bool {
    text.trim() == "*"
}

/// `{root}$metadata#accounts` or, with a selection, `{root}$metadata#accounts(name,accountnumber)`.
pub fn context_url(service_root: &str, set_name: &str, select: &[String]) -> String {
    if select.is_empty() {
        format!("{service_root}$metadata#{set_name}")
    } else {
        format!("{service_root}$metadata#{set_name}({})", select.join(","))
    }
}

/// The context of a single entity: `…#accounts(name)/$entity`.
pub fn entity_context_url(service_root: &str, set_name: &str, select: &[String]) -> String {
    format!("{}/$entity", context_url(service_root, set_name, select))
}

/// The context of a delta response: `…#accounts(name)/$delta`.
pub fn delta_context_url(service_root: &str, set_name: &str, select: &[String]) -> String {
    format!("{}/$delta", context_url(service_root, set_name, select))
}

/// The context of a deleted entry in a delta response: `…#accounts/$deletedEntity`.
pub fn deleted_entity_context_url(service_root: &str, set_name: &str) -> String {
    format!("{service_root}$metadata#{set_name}/$deletedEntity")
}

/// `{root}{set}({key})`, the canonical URL of an entity (`OData-EntityId`, `@odata.id`).
pub fn entity_url(service_root: &str, set_name: &str, key: &uuid::Uuid) -> String {
    format!("{service_root}{set_name}({})", key.hyphenated())
}

/// A link to `resource_url` with the parameters of `raw_query` in order, minus those named in
/// `drop` (matched without regard to case), plus `option=token` at the end.
pub fn link_with(
    resource_url: &str,
    raw_query: &str,
    drop: &[&str],
    option: &str,
    token: &str,
) -> String {
    let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
    let mut parts: Vec<String> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split('=').next().unwrap_or("");
            let key = crate::query::percent_decode(key).unwrap_or_default();
            !drop.iter().any(|d| key.eq_ignore_ascii_case(d))
        })
        .map(str::to_owned)
        .collect();
    parts.push(format!("{option}={}", percent_encode(token)));
    format!("{resource_url}?{}", parts.join("&"))
}

/// `@odata.nextLink`: the request URL with `$skiptoken` replaced.
pub fn next_link(resource_url: &str, raw_query: &str, skiptoken: &str) -> String {
    link_with(resource_url, raw_query, &["$skiptoken"], "$skiptoken", skiptoken)
}

/// `@odata.deltaLink`: the request URL with `$deltatoken` set (and no `$skiptoken`).
pub fn delta_link(resource_url: &str, raw_query: &str, deltatoken: &str) -> String {
    link_with(resource_url, raw_query, &["$skiptoken", "$deltatoken"], "$deltatoken", deltatoken)
}

/// A collection response: `@odata.context`, `@odata.count` (when given), `value`,
/// `@odata.nextLink` / `@odata.deltaLink` (when given), in that order.
pub fn collection(
    context: &str,
    values: Vec<Value>,
    count: Option<i64>,
    next_link: Option<&str>,
    delta_link: Option<&str>,
) -> Value {
    let mut out = Map::new();
    out.insert(ODATA_CONTEXT.into(), context.into());
    if let Some(c) = count {
        out.insert(ODATA_COUNT.into(), c.into());
    }
    out.insert("value".into(), Value::Array(values));
    if let Some(n) = next_link {
        out.insert(ODATA_NEXT_LINK.into(), n.into());
    }
    if let Some(d) = delta_link {
        out.insert(ODATA_DELTA_LINK.into(), d.into());
    }
    Value::Object(out)
}

/// Puts `@odata.etag` first in an entity object.
pub fn with_etag(entity: Map<String, Value>, row_version: i64) -> Map<String, Value> {
    let mut out = Map::with_capacity(entity.len() + 1);
    out.insert(ODATA_ETAG.into(), etag(row_version).into());
    for (k, v) in entity {
        if k != ODATA_ETAG {
            out.insert(k, v);
        }
    }
    out
}

/// Reads `{"nav@odata.bind": "/contacts(<id>)"}`-style references: the entity set and key of a
/// bind value such as `/contacts(6d1a…)`, `contacts(6d1a…)` or an absolute URL ending like that.
pub fn parse_bind(value: &str) -> Option<(String, uuid::Uuid)> {
    let v = value.trim().trim_end_matches('/');
    let open = v.rfind('(')?;
    let inner = v[open + 1..].strip_suffix(')')?;
    let key = uuid::Uuid::parse_str(inner.trim_matches('\'')).ok()?;
    let before = &v[..open];
    let set = before.rsplit('/').next()?;
    if set.is_empty() {
        return None;
    }
    Some((set.to_owned(), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_round_trips_through_its_weak_form() {
        assert_eq!(etag(536530), "W/\"536530\"");
        assert_eq!(parse_etag("W/\"536530\""), Some(536530));
        assert_eq!(parse_etag("\"7\""), Some(7));
        assert_eq!(parse_etag("*"), None);
        assert_eq!(parse_etag("W/\"abc\""), None);
        assert_eq!(parse_etag("W/\"\""), None);
        assert!(is_wildcard_etag(" * "));
    }

    #[test]
    fn context_urls_name_the_set_the_selection_and_the_kind() {
        let root = "https://org.example/api/data/v9.2/";
        let select = vec!["name".to_owned(), "accountnumber".to_owned()];
        assert_eq!(
            context_url(root, "accounts", &select),
            "https://org.example/api/data/v9.2/$metadata#accounts(name,accountnumber)"
        );
        assert_eq!(
            entity_context_url(root, "accounts", &[]),
            "https://org.example/api/data/v9.2/$metadata#accounts/$entity"
        );
        assert_eq!(
            delta_context_url(root, "accounts", &select[..1]),
            "https://org.example/api/data/v9.2/$metadata#accounts(name)/$delta"
        );
        assert_eq!(
            deleted_entity_context_url(root, "accounts"),
            "https://org.example/api/data/v9.2/$metadata#accounts/$deletedEntity"
        );
    }

    #[test]
    fn a_next_link_keeps_the_other_options_and_replaces_the_skiptoken() {
        let link = next_link(
            "https://h/api/data/v9.2/contacts",
            "$select=fullname&$skiptoken=old&$filter=statecode%20eq%200",
            "page 2",
        );
        assert_eq!(
            link,
            "https://h/api/data/v9.2/contacts?$select=fullname&$filter=statecode%20eq%200&$skiptoken=page%202"
        );
    }

    #[test]
    fn a_delta_link_drops_the_skiptoken_and_sets_the_deltatoken() {
        let link = delta_link("https://h/accounts", "$select=name&$skiptoken=x", "919042!08/22");
        assert_eq!(link, "https://h/accounts?$select=name&$deltatoken=919042%2108%2F22");
    }

    #[test]
    fn a_collection_puts_the_annotations_around_the_values() {
        let body = collection("ctx", vec![serde_json::json!({"a":1})], Some(1), Some("next"), None);
        insta::assert_json_snapshot!(body, @r#"
        {
          "@odata.context": "ctx",
          "@odata.count": 1,
          "value": [
            {
              "a": 1
            }
          ],
          "@odata.nextLink": "next"
        }
        "#);
    }

    #[test]
    fn a_bind_reference_gives_the_set_and_the_key() {
        let id = uuid::Uuid::parse_str("ffd58509-4af3-ec11-bb3d-000d3a1a51c1").unwrap();
        assert_eq!(
            parse_bind("/contacts(ffd58509-4af3-ec11-bb3d-000d3a1a51c1)"),
            Some(("contacts".into(), id))
        );
        assert_eq!(
            parse_bind("https://org/api/data/v9.2/contacts(ffd58509-4af3-ec11-bb3d-000d3a1a51c1)"),
            Some(("contacts".into(), id))
        );
        assert_eq!(parse_bind("/contacts(nope)"), None);
        assert_eq!(
            entity_url("https://h/", "contacts", &id),
            "https://h/contacts(ffd58509-4af3-ec11-bb3d-000d3a1a51c1)"
        );
    }

    #[test]
    fn an_etag_goes_first_in_an_entity() {
        let mut m = Map::new();
        m.insert("name".into(), "A".into());
        let out = with_etag(m, 5);
        assert_eq!(out.keys().next().map(String::as_str), Some("@odata.etag"));
    }
}
