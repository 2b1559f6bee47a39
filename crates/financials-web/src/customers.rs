//! Customer List and Customer Card, with the coupling actions of the CUSTOMER mapping: Set Up
//! Coupling (search the Sales accounts, pick one), Match-Based Coupling, Synchronize Now and
//! Delete Coupling, and a link to the coupled account.
//!
//! The list reads one page of rows through the domain's `query::list` (the API's own paging,
//! `$filter` and `$orderby`), and the couplings of just that page's ids
//! ([`Integration::couplings_of`]).

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use kontor_financials::model::{model, sets};
use kontor_financials::{query, service};
use kontor_integration::{CouplingRequest, Integration, IntegrationError, MatchCouplingRequest};
use kontor_odata::query::{QueryOptions, percent_encode};
use kontor_sync::Side;
use kontor_sync::matching::MatchField;
use serde::Deserialize;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::WebState;
use crate::job_queue::integration;
use crate::permission::Page;
use crate::render::{Signed, WebError, page, user_message};

/// The integration table mapping of customers.
pub const MAPPING: &str = "CUSTOMER";
/// Rows per page of the Customer List.
pub const PAGE_SIZE: u64 = 50;

/// The columns the list sorts by: (parameter, property, caption).
const SORTS: [(&str, &str, &str); 3] =
    [("number", "number", "No."), ("name", "displayName", "Name"), ("city", "city", "City")];

/// The Sales account fields Set Up Coupling searches and shows.
const ACCOUNT_FIELDS: [&str; 3] = ["accountnumber", "name", "address1_city"];

fn text(r: &serde_json::Map<String, Json>, name: &str) -> String {
    match r.get(name) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The list's query string: search text, sort column, direction, page.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    page: String,
}

struct Row {
    href: String,
    number: String,
    name: String,
    city: String,
    phone: String,
    balance: String,
    coupled: bool,
    account_url: Option<String>,
}

struct SortLink {
    caption: &'static str,
    href: String,
    /// `ascending` / `descending` when the list is sorted by this column.
    current: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct ListPage<'a> {
    rows: Vec<Row>,
    q: &'a str,
    sort: &'a str,
    dir: &'a str,
    page: u64,
    sorts: Vec<SortLink>,
    previous: Option<String>,
    next: Option<String>,
    can_couple: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

/// The Sales URL of a coupled record (the Web API address of the account).
async fn sales_urls(it: &Integration) -> Result<Option<(String, String)>, WebError> {
    let Some(c) = it.connection().await? else { return Ok(None) };
    let set = it.mapping(MAPPING).await?.sales.set;
    Ok(Some((format!("{}/api/data/v9.2/", c.sales_url.trim_end_matches('/')), set)))
}

fn account_url(base: &Option<(String, String)>, id: Uuid) -> Option<String> {
    base.as_ref().map(|(root, set)| format!("{root}{set}({id})"))
}

/// The couplings of `ids` (Financials side) as a map to the Sales id.
async fn couplings(state: &WebState, ids: &[Uuid]) -> Result<HashMap<Uuid, Uuid>, WebError> {
    let Some(it) = &state.integration else { return Ok(HashMap::new()) };
    let pairs = it.couplings_of(MAPPING, Side::Financials, ids).await?;
    Ok(pairs.into_iter().map(|p| (p.financials_id, p.sales_id)).collect())
}

fn list_href(q: &str, sort: &str, dir: &str, page: u64) -> String {
    let mut pairs = vec![("sort", sort.to_owned()), ("dir", dir.to_owned())];
    if !q.is_empty() {
        pairs.insert(0, ("q", q.to_owned()));
    }
    if page > 1 {
        pairs.push(("page", page.to_string()));
    }
    format!("/customers?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
}

async fn render_list(
    state: &WebState,
    s: &Signed,
    raw: Option<&str>,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let lq: ListQuery = serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default();
    let q = lq.q.trim();
    let (sort, property, _) =
        SORTS.iter().copied().find(|(p, _, _)| *p == lq.sort).unwrap_or(SORTS[0]);
    let dir = if lq.dir == "desc" { "desc" } else { "asc" };
    let page_no = lq.page.parse::<u64>().unwrap_or(1).clamp(1, 1_000_000);

    let e = service::entity(sets::CUSTOMERS)?;
    let mut raw_options = format!("$orderby={property} {dir}");
    if !q.is_empty() {
        let quoted = q.replace('\'', "''");
        let filter = format!("contains(number,'{quoted}') or contains(displayName,'{quoted}')");
        raw_options.push_str(&format!("&$filter={}", percent_encode(&filter)));
    }
    let mut options = QueryOptions::parse(&raw_options, e, model()).map_err(WebError::internal)?;
    options.skip = Some((page_no - 1) * PAGE_SIZE);
    let mut tx = state.db.begin().await?;
    let found = query::list(&mut tx, e, &options, None, PAGE_SIZE).await?;
    tx.commit().await?;

    let ids: Vec<Uuid> = found.rows.iter().filter_map(|r| r.id()).collect();
    let coupled = couplings(state, &ids).await?;
    let base = match &state.integration {
        Some(it) if !coupled.is_empty() => sales_urls(it).await?,
        _ => None,
    };
    let rows = found
        .rows
        .iter()
        .filter_map(|r| {
            let id = r.id()?;
            let sales = coupled.get(&id).copied();
            Some(Row {
                href: format!("/customers/{id}"),
                number: text(&r.data, "number"),
                name: text(&r.data, "displayName"),
                city: text(&r.data, "city"),
                phone: text(&r.data, "phoneNumber"),
                balance: text(&r.data, "balanceDue"),
                coupled: sales.is_some(),
                account_url: sales.and_then(|sid| account_url(&base, sid)),
            })
        })
        .collect();
    let sorts = SORTS
        .iter()
        .map(|&(p, _, caption)| {
            let here = p == sort;
            let next_dir = if here && dir == "asc" { "desc" } else { "asc" };
            SortLink {
                caption,
                href: list_href(q, p, next_dir, 1),
                current: here.then_some(if dir == "asc" { "ascending" } else { "descending" }),
            }
        })
        .collect();
    let view = ListPage {
        rows,
        q,
        sort,
        dir,
        page: page_no,
        sorts,
        previous: (page_no > 1).then(|| list_href(q, sort, dir, page_no - 1)),
        next: found.next_skiptoken.is_some().then(|| list_href(q, sort, dir, page_no + 1)),
        can_couple: s.may(Page::CustomerCoupling),
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, "Customer List", &view)
}

pub async fn list(
    State(state): State<WebState>,
    s: Signed,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    render_list(&state, &s, raw.as_deref(), None, None).await
}

// ----- the card ----------------------------------------------------------------------------

struct CardField {
    label: &'static str,
    value: String,
}

/// The card's fields: (property, label).
const CARD_FIELDS: [(&str, &str); 13] = [
    ("number", "No."),
    ("displayName", "Name"),
    ("addressLine1", "Address"),
    ("postalCode", "Post Code"),
    ("city", "City"),
    ("country", "Country/Region Code"),
    ("phoneNumber", "Phone No."),
    ("email", "Email"),
    ("salespersonCode", "Salesperson Code"),
    ("currencyCode", "Currency Code"),
    ("creditLimit", "Credit Limit (LCY)"),
    ("balanceDue", "Balance (LCY)"),
    ("blocked", "Blocked"),
];

#[derive(Template)]
#[template(path = "customer_card.html")]
struct CardPage<'a> {
    id: Uuid,
    href: String,
    name: String,
    fields: Vec<CardField>,
    coupled: bool,
    account_url: Option<String>,
    can_couple: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

fn parse_id(id: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(id).map_err(|_| WebError::NotFound("The customer does not exist.".into()))
}

/// The customer's fields, or not found.
async fn customer(state: &WebState, id: Uuid) -> Result<serde_json::Map<String, Json>, WebError> {
    let e = service::entity(sets::CUSTOMERS)?;
    let mut tx = state.db.begin().await?;
    let found = query::get(&mut tx, e, id, &QueryOptions::default(), None).await?;
    tx.commit().await?;
    found.map(|r| r.data).ok_or_else(|| WebError::NotFound("The customer does not exist.".into()))
}

async fn render_card(
    state: &WebState,
    s: &Signed,
    id: Uuid,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let data = customer(state, id).await?;
    let sales = couplings(state, &[id]).await?.get(&id).copied();
    let account_url = match (&state.integration, sales) {
        (Some(it), Some(sid)) => account_url(&sales_urls(it).await?, sid),
        _ => None,
    };
    let view = CardPage {
        id,
        href: format!("/customers/{id}"),
        name: text(&data, "displayName"),
        fields: CARD_FIELDS
            .iter()
            .map(|&(p, label)| CardField { label, value: text(&data, p) })
            .collect(),
        coupled: sales.is_some(),
        account_url,
        can_couple: s.may(Page::CustomerCoupling),
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, "Customer Card", &view)
}

pub async fn card(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    render_card(&state, &s, parse_id(&id)?, None, None).await
}

/// The message of a refused workflow, or an internal failure (logged, the error page).
fn refused(e: &IntegrationError) -> Result<String, WebError> {
    if let Some(m) = user_message(e) {
        return Ok(m);
    }
    if let IntegrationError::Sync(kontor_sync::SyncError::Connector(c)) = e {
        tracing::warn!(error = %c, "Sales did not answer a web client request");
        return Ok("Sales did not answer. Try again later; if it goes on, ask your administrator to look at the server's log.".into());
    }
    Err(WebError::Internal)
}

fn conflict(mut resp: Response) -> Response {
    *resp.status_mut() = StatusCode::CONFLICT;
    resp
}

/// *Delete Coupling* of one customer.
pub async fn uncouple(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let id = parse_id(&id)?;
    customer(&state, id).await?;
    match integration(&state)?.uncouple(MAPPING, Side::Financials, id).await {
        Ok(()) => {
            let m = "The coupling was deleted.".to_owned();
            render_card(&state, &s, id, Some(m), None).await
        }
        Err(e) => Ok(conflict(render_card(&state, &s, id, None, Some(refused(&e)?)).await?)),
    }
}

/// A summary of synchronization or coupling passes.
fn summary(what: &str, reports: &[kontor_sync::engine::PassReport]) -> String {
    let mut c = kontor_sync::plan::Counters::default();
    for r in reports {
        c.add(&r.counters);
    }
    format!(
        "{what}: {} coupled, {} inserted, {} modified, {} unchanged, {} skipped, {} failed.",
        c.coupled, c.inserted, c.modified, c.unchanged, c.skipped, c.failed
    )
}

#[derive(Deserialize)]
struct BackForm {
    #[serde(default)]
    customer: String,
}

/// *Synchronize Now*: the modified records of the CUSTOMER mapping; answers the card the
/// action was started from (`customer`), else the list.
pub async fn synchronize(
    State(state): State<WebState>,
    s: Signed,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let form: BackForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let back = if form.customer.is_empty() { None } else { Some(parse_id(&form.customer)?) };
    let req = kontor_integration::SyncNowRequest { mapping: Some(MAPPING.to_owned()) };
    let (message, error) = match integration(&state)?.sync_now(req).await {
        Ok(reports) => (Some(summary("Customers synchronized", &reports)), None),
        Err(e) => (None, Some(refused(&e)?)),
    };
    let failed = error.is_some();
    let resp = match back {
        Some(id) => render_card(&state, &s, id, message, error).await?,
        None => render_list(&state, &s, None, message, error).await?,
    };
    Ok(if failed { conflict(resp) } else { resp })
}

// ----- Set Up Coupling -----------------------------------------------------------------------

struct Account {
    id: Uuid,
    number: String,
    name: String,
    city: String,
}

#[derive(Template)]
#[template(path = "customer_coupling.html")]
struct CouplingPage<'a> {
    href: String,
    number: String,
    name: String,
    coupled: bool,
    q: &'a str,
    searched: bool,
    accounts: Vec<Account>,
    search_error: Option<String>,
    couple_error: Option<String>,
    csrf: &'a str,
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn render_coupling(
    state: &WebState,
    s: &Signed,
    id: Uuid,
    q: &str,
    couple_error: Option<String>,
) -> Result<Response, WebError> {
    let data = customer(state, id).await?;
    let it = integration(state)?;
    let coupled = !couplings(state, &[id]).await?.is_empty();
    let (mut accounts, mut search_error) = (Vec::new(), None);
    let searched = !q.trim().is_empty();
    if searched {
        match it.search_sales(MAPPING, &ACCOUNT_FIELDS, q).await {
            Ok(found) => {
                accounts = found
                    .into_iter()
                    .map(|r| Account {
                        id: r.id,
                        number: text(&r.fields, ACCOUNT_FIELDS[0]),
                        name: text(&r.fields, ACCOUNT_FIELDS[1]),
                        city: text(&r.fields, ACCOUNT_FIELDS[2]),
                    })
                    .collect()
            }
            Err(e) => search_error = Some(refused(&e)?),
        }
    }
    let view = CouplingPage {
        href: format!("/customers/{id}"),
        number: text(&data, "number"),
        name: text(&data, "displayName"),
        coupled,
        q,
        searched,
        accounts,
        search_error,
        couple_error,
        csrf: s.csrf(),
    };
    page(&s.ctx, "Set Up Coupling", &view)
}

/// *Set Up Coupling*: the search form and the accounts found.
pub async fn coupling(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let sq: SearchQuery =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    render_coupling(&state, &s, parse_id(&id)?, &sq.q, None).await
}

#[derive(Deserialize)]
struct CoupleForm {
    #[serde(default)]
    sales_id: String,
    #[serde(default)]
    q: String,
}

/// Couples the customer with the picked Sales account.
pub async fn couple(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let id = parse_id(&id)?;
    let form: CoupleForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    customer(&state, id).await?;
    let Ok(sales_id) = Uuid::parse_str(form.sales_id.trim()) else {
        let m = "Pick a Sales account to couple with.".to_owned();
        return Ok(conflict(render_coupling(&state, &s, id, &form.q, Some(m)).await?));
    };
    let req = CouplingRequest { financials_id: id, sales_id };
    match integration(&state)?.couple(MAPPING, req).await {
        Ok(_) => {
            let m = "The customer was coupled with the Sales account.".to_owned();
            render_card(&state, &s, id, Some(m), None).await
        }
        Err(e) => {
            let m = refused(&e)?;
            Ok(conflict(render_coupling(&state, &s, id, &form.q, Some(m)).await?))
        }
    }
}

// ----- Match-Based Coupling ------------------------------------------------------------------

struct MatchRow {
    field: String,
    label: String,
    checked: bool,
    priority: String,
}

#[derive(Template)]
#[template(path = "customer_match.html")]
struct MatchPage<'a> {
    fields: Vec<MatchRow>,
    case_sensitive: bool,
    create_new: bool,
    sync_after: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

/// The mapping's fields match-based coupling can compare: (Financials field, Sales field).
async fn match_fields(it: &Integration) -> Result<Vec<(String, String, bool)>, WebError> {
    let m = it.mapping(MAPPING).await?;
    Ok(m.fields
        .iter()
        .filter_map(|f| {
            let (fin, sales) = (f.financials.clone()?, f.sales.clone()?);
            Some((fin, sales, f.match_field))
        })
        .collect())
}

pub async fn match_form(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let it = integration(&state)?;
    let fields = match_fields(it)
        .await?
        .into_iter()
        .map(|(fin, sales, default)| MatchRow {
            label: format!("{fin} = {sales}"),
            field: fin,
            checked: default,
            priority: "0".into(),
        })
        .collect();
    let view = MatchPage {
        fields,
        case_sensitive: false,
        create_new: false,
        sync_after: true,
        csrf: s.csrf(),
        message: None,
        error: None,
    };
    page(&s.ctx, "Match-Based Coupling", &view)
}

/// Runs match-based coupling of the customers with the choices; the form keeps them.
pub async fn match_run(
    State(state): State<WebState>,
    s: Signed,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let it = integration(&state)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let chosen: Vec<&str> =
        pairs.iter().filter(|(k, _)| k == "field").map(|(_, v)| v.as_str()).collect();
    let mut rows = Vec::new();
    let mut error = None;
    let mut options = MatchCouplingRequest {
        fields: Vec::new(),
        case_sensitive: get("case_sensitive").is_some(),
        create_new: Some(get("create_new").is_some()),
        sync_after_coupling: Some(get("sync_after").is_some()),
    };
    for (fin, sales, _) in match_fields(it).await? {
        let checked = chosen.contains(&fin.as_str());
        let priority = get(&format!("priority_{fin}")).unwrap_or("0").trim().to_owned();
        if checked {
            match priority.parse::<u32>() {
                Ok(p) => options.fields.push(MatchField {
                    field: fin.clone(),
                    priority: p,
                    case_sensitive: None,
                }),
                Err(_) => {
                    error =
                        Some(format!("The priority of {fin} must be a whole number of 0 or more."))
                }
            }
        }
        rows.push(MatchRow { label: format!("{fin} = {sales}"), field: fin, checked, priority });
    }
    if error.is_none() && options.fields.is_empty() {
        error = Some("Choose at least one field to match on.".into());
    }
    let mut message = None;
    if error.is_none() {
        match it.match_couple(MAPPING, &options).await {
            Ok(reports) => message = Some(summary("Match-based coupling done", &reports)),
            Err(e) => error = Some(refused(&e)?),
        }
    }
    let failed = error.is_some();
    let view = MatchPage {
        fields: rows,
        case_sensitive: options.case_sensitive,
        create_new: options.create_new == Some(true),
        sync_after: options.sync_after_coupling == Some(true),
        csrf: s.csrf(),
        message,
        error,
    };
    let resp = page(&s.ctx, "Match-Based Coupling", &view)?;
    Ok(if failed { conflict(resp) } else { resp })
}
