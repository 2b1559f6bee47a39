//! One page of a list, read through the domain's `query::list` (the API's own `$filter`,
//! `$orderby` and `$skip`, with `LIMIT`): no list reads more than one page of rows.

use kontor_financials::model::model;
use kontor_financials::service;
use kontor_odata::query::{QueryOptions, percent_encode};

use serde::Deserialize;

use crate::render::WebError;

/// Rows per page of a list.
pub const PAGE_SIZE: u64 = 50;

/// The OData query of page `page_no` of `set`: `$orderby` the sort property (then the key, so
/// pages never overlap), `$filter` the search (`contains` on each of `searched`, the text a
/// literal with its quotes doubled), `$skip` the pages before. Read with at most [`PAGE_SIZE`]
/// rows.
pub fn page_query(
    set: &str,
    searched: &[&str],
    property: &str,
    dir: &str,
    q: &str,
    page_no: u64,
) -> Result<QueryOptions, WebError> {
    let e = service::entity(set)?;
    let mut raw = format!("$orderby={property} {dir},id asc");
    if !q.is_empty() {
        let quoted = q.replace('\'', "''");
        let filter = searched
            .iter()
            .map(|p| format!("contains({p},'{quoted}')"))
            .collect::<Vec<_>>()
            .join(" or ");
        raw.push_str(&format!("&$filter={}", percent_encode(&filter)));
    }
    let mut options = QueryOptions::parse(&raw, e, model()).map_err(WebError::internal)?;
    options.skip = Some(page_no.saturating_sub(1) * PAGE_SIZE);
    Ok(options)
}

/// The page number a query string asks for (1 when absent or not a number).
pub fn page_number(text: &str) -> u64 {
    text.parse::<u64>().unwrap_or(1).clamp(1, 1_000_000)
}

/// A list's query string: search text, sort column, direction, page.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub dir: String,
    #[serde(default)]
    pub page: String,
}

/// The address of a list at `base` searched for `q`, sorted by `sort` in `dir`, on `page`.
pub fn list_href(base: &str, q: &str, sort: &str, dir: &str, page: u64) -> String {
    let mut pairs = vec![("sort", sort.to_owned()), ("dir", dir.to_owned())];
    if !q.is_empty() {
        pairs.insert(0, ("q", q.to_owned()));
    }
    if page > 1 {
        pairs.push(("page", page.to_string()));
    }
    format!("{base}?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
}
