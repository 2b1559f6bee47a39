//! The lists and cards of Financials' business data (Customer List, Contact List, Item List,
//! Salespersons/Purchasers, Currencies, Units of Measure, Customer Price Groups, Sales Prices
//! and their cards), one implementation driven by a table description ([`Table`]), with the
//! coupling actions of the table's integration mapping: Set Up Coupling (search the Sales
//! records, pick one), Match-Based Coupling, Synchronize Now and Delete Coupling, and a link to
//! the coupled Sales record.
//!
//! A list reads one page of rows through the domain's `query::list` (the API's own paging,
//! `$filter` and `$orderby`, with `LIMIT`), and the couplings of just that page's ids
//! ([`Integration::couplings_of`]).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use kontor_financials::{query, service};
use kontor_integration::{CouplingRequest, Integration, IntegrationError, MatchCouplingRequest};
use kontor_odata::query::QueryOptions;
use kontor_sync::Side;
use kontor_sync::matching::MatchField;
use serde::Deserialize;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::WebState;
use crate::job_queue::integration;
use crate::permission::Page;
use crate::render::{Signed, WebError, page, user_message};
use crate::tables::{Table, ident};

pub use crate::paging::PAGE_SIZE;

/// The routes of one table's list, card and actions under `/{slug}`.
pub fn routes(router: Router<WebState>, t: &'static Table) -> Router<WebState> {
    let base = t.base();
    router
        .route(
            &base,
            get(move |State(st): State<WebState>, s: Signed, RawQuery(raw): RawQuery| async move {
                list(t, st, s, raw).await
            }),
        )
        .route(
            &format!("{base}/synchronize"),
            post(move |State(st): State<WebState>, s: Signed, body: Bytes| async move {
                synchronize(t, st, s, body).await
            }),
        )
        .route(
            &format!("{base}/match-based-coupling"),
            get(move |State(st): State<WebState>, s: Signed| async move {
                match_form(t, st, s).await
            })
            .post(move |State(st): State<WebState>, s: Signed, body: Bytes| async move {
                match_run(t, st, s, body).await
            }),
        )
        .route(
            &format!("{base}/{{id}}"),
            get(move |State(st): State<WebState>, s: Signed, Path(id): Path<String>| async move {
                card(t, st, s, id).await
            }),
        )
        .route(
            &format!("{base}/{{id}}/coupling"),
            get(
                move |State(st): State<WebState>,
                      s: Signed,
                      Path(id): Path<String>,
                      RawQuery(raw): RawQuery| async move {
                    coupling(t, st, s, id, raw).await
                },
            )
            .post(
                move |State(st): State<WebState>, s: Signed, Path(id): Path<String>, body: Bytes| async move {
                    couple(t, st, s, id, body).await
                },
            ),
        )
        .route(
            &format!("{base}/{{id}}/coupling/create"),
            post(move |State(st): State<WebState>, s: Signed, Path(id): Path<String>| async move {
                create_in_sales(t, st, s, id).await
            }),
        )
        .route(
            &format!("{base}/{{id}}/uncouple"),
            post(move |State(st): State<WebState>, s: Signed, Path(id): Path<String>| async move {
                uncouple(t, st, s, id).await
            }),
        )
}

fn text(r: &serde_json::Map<String, Json>, name: &str) -> String {
    match r.get(name) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Capitalizes the first letter ("customers" → "Customers").
fn capital(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What the templates say about a table.
struct Names {
    base: String,
    list_title: &'static str,
    card_title: &'static str,
    noun: &'static str,
    plural: &'static str,
    caption: &'static str,
    /// HTML ids: `customer`, `customers`.
    ident: String,
    plural_ident: String,
    search_label: &'static str,
    /// "account", "accounts", "Sales Account", and the ids `account`, `accounts`.
    sales_noun: &'static str,
    sales_plural: &'static str,
    sales_caption: &'static str,
    sales_ident: String,
    sales_plural_ident: String,
    sales_search_label: &'static str,
}

impl Names {
    fn of(t: &Table) -> Names {
        Names {
            base: t.base(),
            list_title: t.list_title,
            card_title: t.card_title,
            noun: t.noun,
            plural: t.plural,
            caption: t.caption,
            ident: t.ident(),
            plural_ident: t.plural_ident(),
            search_label: t.search_label,
            sales_noun: t.sales.noun,
            sales_plural: t.sales.plural,
            sales_caption: t.sales.caption,
            sales_ident: ident(t.sales.noun),
            sales_plural_ident: ident(t.sales.plural),
            sales_search_label: t.sales.search_label,
        }
    }
}

struct Row {
    href: String,
    /// The first column's value (the link to the card), then the others.
    first: String,
    cells: Vec<String>,
    coupled: bool,
    sales_url: Option<String>,
}

struct Head {
    caption: &'static str,
    /// The link that sorts by this column (`None`: not sortable).
    href: Option<String>,
    /// `ascending` / `descending` when the list is sorted by this column.
    current: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage<'a> {
    t: Names,
    rows: Vec<Row>,
    q: &'a str,
    sort: &'a str,
    dir: &'a str,
    page: u64,
    heads: Vec<Head>,
    previous: Option<String>,
    next: Option<String>,
    can_couple: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

/// The Web API address of the mapping's Sales table (`…/api/data/v9.2/`, `accounts`).
async fn sales_urls(t: &Table, it: &Integration) -> Result<Option<(String, String)>, WebError> {
    let Some(c) = it.connection().await? else { return Ok(None) };
    let set = it.mapping(t.mapping).await?.sales.set;
    Ok(Some((format!("{}/api/data/v9.2/", c.sales_url.trim_end_matches('/')), set)))
}

fn sales_url(base: &Option<(String, String)>, id: Uuid) -> Option<String> {
    base.as_ref().map(|(root, set)| format!("{root}{set}({id})"))
}

/// The couplings of `ids` (Financials side) as a map to the Sales id.
async fn couplings(
    t: &Table,
    state: &WebState,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Uuid>, WebError> {
    let Some(it) = &state.integration else { return Ok(HashMap::new()) };
    let pairs = it.couplings_of(t.mapping, Side::Financials, ids).await?;
    Ok(pairs.into_iter().map(|p| (p.financials_id, p.sales_id)).collect())
}

async fn render_list(
    t: &Table,
    state: &WebState,
    s: &Signed,
    raw: Option<&str>,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let lq: crate::paging::ListQuery =
        serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default();
    let q = lq.q.trim();
    let sortable: Vec<(&str, &str)> =
        t.columns.iter().filter_map(|c| Some((c.sort?, c.property))).collect();
    let (sort, property) =
        sortable.iter().copied().find(|(p, _)| *p == lq.sort).unwrap_or(sortable[0]);
    let dir = if lq.dir == "desc" { "desc" } else { "asc" };
    let page_no = crate::paging::page_number(&lq.page);

    let e = service::entity(t.set)?;
    let options = crate::paging::page_query(t.set, t.searched, property, dir, q, page_no)?;
    let mut tx = state.db.begin().await?;
    let found = query::list(&mut tx, e, &options, None, PAGE_SIZE).await?;
    tx.commit().await?;

    let ids: Vec<Uuid> = found.rows.iter().filter_map(|r| r.id()).collect();
    let coupled = couplings(t, state, &ids).await?;
    let base = match &state.integration {
        Some(it) if !coupled.is_empty() => sales_urls(t, it).await?,
        _ => None,
    };
    let rows = found
        .rows
        .iter()
        .filter_map(|r| {
            let id = r.id()?;
            let sales = coupled.get(&id).copied();
            let mut values = t.columns.iter().map(|c| text(&r.data, c.property));
            Some(Row {
                href: format!("{}/{id}", t.base()),
                first: values.next().unwrap_or_default(),
                cells: values.collect(),
                coupled: sales.is_some(),
                sales_url: sales.and_then(|sid| sales_url(&base, sid)),
            })
        })
        .collect();
    let heads = t
        .columns
        .iter()
        .map(|c| {
            let Some(p) = c.sort else {
                return Head { caption: c.caption, href: None, current: None };
            };
            let here = p == sort;
            let next_dir = if here && dir == "asc" { "desc" } else { "asc" };
            Head {
                caption: c.caption,
                href: Some(crate::paging::list_href(&t.base(), q, p, next_dir, 1)),
                current: here.then_some(if dir == "asc" { "ascending" } else { "descending" }),
            }
        })
        .collect();
    let view = ListPage {
        t: Names::of(t),
        rows,
        q,
        sort,
        dir,
        page: page_no,
        heads,
        previous: (page_no > 1)
            .then(|| crate::paging::list_href(&t.base(), q, sort, dir, page_no - 1)),
        next: found
            .next_skiptoken
            .is_some()
            .then(|| crate::paging::list_href(&t.base(), q, sort, dir, page_no + 1)),
        can_couple: s.may(Page::CustomerCoupling),
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, t.list_title, &view)
}

async fn list(
    t: &'static Table,
    state: WebState,
    s: Signed,
    raw: Option<String>,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    render_list(t, &state, &s, raw.as_deref(), None, None).await
}

// ----- the card ----------------------------------------------------------------------------

struct CardField {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "card.html")]
struct CardPage<'a> {
    t: Names,
    id: Uuid,
    href: String,
    name: String,
    fields: Vec<CardField>,
    coupled: bool,
    sales_url: Option<String>,
    can_couple: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

fn not_found(t: &Table) -> WebError {
    WebError::NotFound(format!("The {} does not exist.", t.noun))
}

fn parse_id(t: &Table, id: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(id).map_err(|_| not_found(t))
}

/// The record's fields, or not found.
async fn record(
    t: &Table,
    state: &WebState,
    id: Uuid,
) -> Result<serde_json::Map<String, Json>, WebError> {
    let e = service::entity(t.set)?;
    let mut tx = state.db.begin().await?;
    let found = query::get(&mut tx, e, id, &QueryOptions::default(), None).await?;
    tx.commit().await?;
    found.map(|r| r.data).ok_or_else(|| not_found(t))
}

/// The card's heading: the table's heading fields, else the record's number.
fn heading(t: &Table, data: &serde_json::Map<String, Json>) -> String {
    let parts: Vec<String> =
        t.heading.iter().map(|p| text(data, p)).filter(|v| !v.is_empty()).collect();
    if parts.is_empty() { text(data, t.number_field) } else { parts.join(" ") }
}

async fn render_card(
    t: &Table,
    state: &WebState,
    s: &Signed,
    id: Uuid,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let data = record(t, state, id).await?;
    let sales = couplings(t, state, &[id]).await?.get(&id).copied();
    let sales_url = match (&state.integration, sales) {
        (Some(it), Some(sid)) => sales_url(&sales_urls(t, it).await?, sid),
        _ => None,
    };
    let view = CardPage {
        t: Names::of(t),
        id,
        href: format!("{}/{id}", t.base()),
        name: heading(t, &data),
        fields: t
            .card
            .iter()
            .map(|&(p, label)| CardField { label, value: text(&data, p) })
            .collect(),
        coupled: sales.is_some(),
        sales_url,
        can_couple: s.may(Page::CustomerCoupling),
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, t.card_title, &view)
}

async fn card(
    t: &'static Table,
    state: WebState,
    s: Signed,
    id: String,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    render_card(t, &state, &s, parse_id(t, &id)?, None, None).await
}

/// The message of a refused workflow, or an internal failure (logged, the error page).
pub(crate) fn refused(e: &IntegrationError) -> Result<String, WebError> {
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

/// *Delete Coupling* of one record.
async fn uncouple(
    t: &'static Table,
    state: WebState,
    s: Signed,
    id: String,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let id = parse_id(t, &id)?;
    record(t, &state, id).await?;
    match integration(&state)?.uncouple(t.mapping, Side::Financials, id).await {
        Ok(()) => {
            let m = "The coupling was deleted.".to_owned();
            render_card(t, &state, &s, id, Some(m), None).await
        }
        Err(e) => Ok(conflict(render_card(t, &state, &s, id, None, Some(refused(&e)?)).await?)),
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

/// *Synchronize Now*: the modified records of the table's mapping; answers the card the action
/// was started from (the form field named as the table's singular, e.g. `customer`), else the
/// list.
async fn synchronize(
    t: &'static Table,
    state: WebState,
    s: Signed,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let field = t.ident();
    let back = match form.iter().find(|(k, _)| *k == field).map(|(_, v)| v.trim()) {
        None | Some("") => None,
        Some(id) => Some(parse_id(t, id)?),
    };
    let req = kontor_integration::SyncNowRequest { mapping: Some(t.mapping.to_owned()) };
    let (message, error) = match integration(&state)?.sync_now(req).await {
        Ok(reports) => {
            (Some(summary(&format!("{} synchronized", capital(t.plural)), &reports)), None)
        }
        Err(e) => (None, Some(refused(&e)?)),
    };
    let failed = error.is_some();
    let resp = match back {
        Some(id) => render_card(t, &state, &s, id, message, error).await?,
        None => render_list(t, &state, &s, None, message, error).await?,
    };
    Ok(if failed { conflict(resp) } else { resp })
}

// ----- Set Up Coupling -----------------------------------------------------------------------

struct Found {
    id: Uuid,
    cells: Vec<String>,
    name: String,
}

#[derive(Template)]
#[template(path = "coupling.html")]
struct CouplingPage<'a> {
    t: Names,
    heads: Vec<&'static str>,
    href: String,
    number: String,
    name: String,
    coupled: bool,
    q: &'a str,
    searched: bool,
    found: Vec<Found>,
    /// The mapping synchronizes to Sales: a new Sales record can be created from this one.
    can_create: bool,
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
    t: &Table,
    state: &WebState,
    s: &Signed,
    id: Uuid,
    q: &str,
    couple_error: Option<String>,
) -> Result<Response, WebError> {
    let data = record(t, state, id).await?;
    let it = integration(state)?;
    let coupled = !couplings(t, state, &[id]).await?.is_empty();
    let can_create = it.mapping(t.mapping).await?.direction.allows(kontor_sync::Pass::ToSales);
    let (mut found, mut search_error) = (Vec::new(), None);
    let searched = !q.trim().is_empty();
    let shown: Vec<&str> = t.sales.fields.iter().map(|(f, _)| *f).collect();
    if searched {
        match it.search_sales(t.mapping, t.sales.searched, &shown, q).await {
            Ok(rows) => {
                found = rows
                    .into_iter()
                    .map(|r| Found {
                        id: r.id,
                        cells: shown.iter().map(|f| text(&r.fields, f)).collect(),
                        name: text(&r.fields, t.sales.name_field),
                    })
                    .collect()
            }
            Err(e) => search_error = Some(refused(&e)?),
        }
    }
    let view = CouplingPage {
        t: Names::of(t),
        heads: t.sales.fields.iter().map(|(_, c)| *c).collect(),
        href: format!("{}/{id}", t.base()),
        number: text(&data, t.number_field),
        name: text(&data, t.name_field),
        coupled,
        q,
        searched,
        found,
        can_create,
        search_error,
        couple_error,
        csrf: s.csrf(),
    };
    page(&s.ctx, "Set Up Coupling", &view)
}

/// *Set Up Coupling*: the search form and the Sales records found.
async fn coupling(
    t: &'static Table,
    state: WebState,
    s: Signed,
    id: String,
    raw: Option<String>,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let sq: SearchQuery =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    render_coupling(t, &state, &s, parse_id(t, &id)?, &sq.q, None).await
}

#[derive(Deserialize)]
struct CoupleForm {
    #[serde(default)]
    sales_id: String,
    #[serde(default)]
    q: String,
}

/// Couples the record with the picked Sales record.
async fn couple(
    t: &'static Table,
    state: WebState,
    s: Signed,
    id: String,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let id = parse_id(t, &id)?;
    let form: CoupleForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    record(t, &state, id).await?;
    let Ok(sales_id) = Uuid::parse_str(form.sales_id.trim()) else {
        let m = format!("Pick a Sales {} to couple with.", t.sales.noun);
        return Ok(conflict(render_coupling(t, &state, &s, id, &form.q, Some(m)).await?));
    };
    let req = CouplingRequest { financials_id: id, sales_id };
    match integration(&state)?.couple(t.mapping, req).await {
        Ok(_) => {
            let m = format!("The {} was coupled with the Sales {}.", t.noun, t.sales.noun);
            render_card(t, &state, &s, id, Some(m), None).await
        }
        Err(e) => {
            let m = refused(&e)?;
            Ok(conflict(render_coupling(t, &state, &s, id, &form.q, Some(m)).await?))
        }
    }
}

/// *Set Up Coupling → Create New*: creates the Sales record from this one and couples them.
async fn create_in_sales(
    t: &'static Table,
    state: WebState,
    s: Signed,
    id: String,
) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let id = parse_id(t, &id)?;
    record(t, &state, id).await?;
    match integration(&state)?.create_in_sales(t.mapping, id).await {
        Ok(_) => {
            let m = format!(
                "A new Sales {} was created from the {} and coupled with it.",
                t.sales.noun, t.noun
            );
            render_card(t, &state, &s, id, Some(m), None).await
        }
        Err(e) => {
            let m = refused(&e)?;
            Ok(conflict(render_coupling(t, &state, &s, id, "", Some(m)).await?))
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
#[template(path = "match.html")]
struct MatchPage<'a> {
    t: Names,
    fields: Vec<MatchRow>,
    case_sensitive: bool,
    create_new: bool,
    sync_after: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

/// The mapping's fields match-based coupling can compare: (Financials field, Sales field,
/// matched by default).
async fn match_fields(
    t: &Table,
    it: &Integration,
) -> Result<Vec<(String, String, bool)>, WebError> {
    let m = it.mapping(t.mapping).await?;
    let mut out: Vec<(String, String, bool)> = Vec::new();
    for f in &m.fields {
        let (Some(fin), Some(sales)) = (f.financials.clone(), f.sales.clone()) else { continue };
        // One row per Financials field (a field mapped to two Sales fields is matched once).
        if !out.iter().any(|(known, _, _)| *known == fin) {
            out.push((fin, sales, f.match_field));
        }
    }
    Ok(out)
}

async fn match_form(t: &'static Table, state: WebState, s: Signed) -> Result<Response, WebError> {
    s.require(Page::Customers)?;
    s.require(Page::CustomerCoupling)?;
    let it = integration(&state)?;
    let fields = match_fields(t, it)
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
        t: Names::of(t),
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

/// Runs match-based coupling of the table's records with the choices; the form keeps them.
async fn match_run(
    t: &'static Table,
    state: WebState,
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
    for (fin, sales, _) in match_fields(t, it).await? {
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
        match it.match_couple(t.mapping, &options).await {
            Ok(reports) => message = Some(summary("Match-based coupling done", &reports)),
            Err(e) => error = Some(refused(&e)?),
        }
    }
    let failed = error.is_some();
    let view = MatchPage {
        t: Names::of(t),
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
