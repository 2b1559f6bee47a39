//! Resource paths: `accounts`, `accounts(<guid>)`, `accounts(accountnumber='C1')`,
//! `uoms(name='PCS',uomscheduleid=<guid>)`, and what follows the key.

use serde_json::Value;
use uuid::Uuid;

/// A key in parentheses.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Id(Uuid),
    /// Alternate key `(name, value)` pairs as written (names are attribute logical names or
    /// property names; values are JSON: strings, numbers, GUIDs as strings, null).
    Alternate(Vec<(String, Value)>),
}

/// One path segment split into its name and optional key text: `accounts(…)` → `("accounts", Some("…"))`.
pub fn split_segment(segment: &str) -> Option<(&str, Option<&str>)> {
    match segment.find('(') {
        None => Some((segment, None)),
        Some(i) => {
            let rest = &segment[i + 1..];
            let inner = rest.strip_suffix(')')?;
            Some((&segment[..i], Some(inner)))
        }
    }
}

/// Splits a path at `/`, keeping slashes inside quotes and parentheses.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut quoted = false;
    for c in path.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                cur.push(c);
            }
            '(' if !quoted => {
                depth += 1;
                cur.push(c);
            }
            ')' if !quoted => {
                depth -= 1;
                cur.push(c);
            }
            '/' if !quoted && depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.retain(|s| !s.is_empty());
    out
}

/// Parses the text between the parentheses.
pub fn parse_key(text: &str) -> Option<Key> {
    let t = text.trim();
    if let Ok(id) = Uuid::parse_str(t.trim_start_matches('{').trim_end_matches('}')) {
        return Some(Key::Id(id));
    }
    let mut pairs = vec![];
    let mut rest = t;
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().to_owned();
        if name.is_empty() {
            return None;
        }
        rest = rest[eq + 1..].trim_start();
        let (value, after) = if let Some(r) = rest.strip_prefix('\'') {
            // A quoted string; '' is an escaped quote.
            let mut s = String::new();
            let mut chars = r.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if matches!(chars.peek(), Some((_, '\''))) {
                        s.push('\'');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    s.push(c);
                }
            }
            (Value::String(s), &r[end?..])
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let raw = rest[..end].trim();
            let v = if raw == "null" {
                Value::Null
            } else if let Ok(id) = Uuid::parse_str(raw) {
                Value::String(id.to_string())
            } else if let Ok(n) = raw.parse::<i64>() {
                Value::from(n)
            } else if let Ok(f) = raw.parse::<f64>() {
                Value::from(f)
            } else if raw == "true" || raw == "false" {
                Value::Bool(raw == "true")
            } else {
                return None;
            };
            (v, &rest[end..])
        };
        pairs.push((name, value));
        rest = after.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    if pairs.is_empty() { None } else { Some(Key::Alternate(pairs)) }
}

/// A reference to a row as written in `@odata.bind` / `@odata.id`: `/accounts(<id>)`,
/// `accounts(<id>)`, or an absolute URL ending that way.
pub fn parse_reference(text: &str) -> Option<(String, Key)> {
    let t = text.trim();
    let tail = match t.find("/api/data/v9.2/") {
        Some(i) => &t[i + "/api/data/v9.2/".len()..],
        None => t.trim_start_matches('/'),
    };
    let segs = split_path(tail);
    if segs.len() != 1 {
        return None;
    }
    let (set, key) = split_segment(&segs[0])?;
    Some((set.to_owned(), parse_key(key?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guid_key_and_an_alternate_key_with_a_quote_parse() {
        let id = Uuid::new_v4();
        assert_eq!(parse_key(&id.to_string()), Some(Key::Id(id)));
        assert_eq!(
            parse_key("accountnumber='O''Brien',x=5"),
            Some(Key::Alternate(vec![
                ("accountnumber".into(), Value::String("O'Brien".into())),
                ("x".into(), Value::from(5)),
            ]))
        );
        assert_eq!(parse_key("accountnumber='open"), None);
        assert_eq!(parse_key("=1"), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_keys_paths_and_references_never_panic(text in "[ -~é]{0,40}") {
            let _ = parse_key(&text);
            let _ = split_path(&text);
            let _ = parse_reference(&text);
            let _ = split_segment(&text);
        }
    }

    #[test]
    fn paths_split_outside_quotes_and_references_parse() {
        assert_eq!(
            split_path("accounts(name='a/b')/primarycontactid"),
            vec!["accounts(name='a/b')".to_owned(), "primarycontactid".to_owned()]
        );
        let id = Uuid::new_v4();
        let (set, key) =
            parse_reference(&format!("http://h/api/data/v9.2/contacts({id})")).unwrap();
        assert_eq!((set.as_str(), key), ("contacts", Key::Id(id)));
        assert!(parse_reference("/contacts").is_none());
    }
}
