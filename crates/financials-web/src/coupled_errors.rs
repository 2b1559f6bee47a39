//! Coupled Data Synchronization Errors: the coupled records whose last synchronization failed
//! (conflicts, a record deleted on one side, refusals), a page at a time, with what can be done
//! with each (Retry, Financials wins, Sales wins, Restore Records, Remove Coupling). Which of
//! those apply and what they do are the application layer's ([`Integration::coupled_errors`],
//! [`Integration::resolve_coupling`]); this page only shows and asks.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use kontor_integration::{CoupledErrorsQuery, Integration, Resolution};
use kontor_sync::Side;
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::job_queue::integration;
use crate::lists::refused;
use crate::permission::Page;
use crate::render::{Signed, WebError, after_action, page, when};
use crate::tables::TABLES;

/// Rows per page.
const PAGE_SIZE: i64 = 50;
const PATH: &str = "/coupled-data-synchronization-errors";

/// The form value and the button caption of a resolution.
fn action(r: Resolution) -> (&'static str, &'static str) {
    match r {
        Resolution::Retry => ("retry", "Retry"),
        Resolution::Wins(Side::Financials) => ("financials-wins", "Financials Wins"),
        Resolution::Wins(Side::Sales) => ("sales-wins", "Sales Wins"),
        Resolution::Restore => ("restore", "Restore Records"),
        Resolution::RemoveCoupling => ("remove", "Remove Coupling"),
    }
}

fn parse_action(value: &str) -> Option<Resolution> {
    [
        Resolution::Retry,
        Resolution::Wins(Side::Financials),
        Resolution::Wins(Side::Sales),
        Resolution::Restore,
        Resolution::RemoveCoupling,
    ]
    .into_iter()
    .find(|r| action(*r).0 == value)
}

struct ActionView {
    value: &'static str,
    caption: &'static str,
}

struct Row {
    mapping: String,
    financials_id: Uuid,
    /// The card of the Financials record, when the web client has one for the mapping.
    card: Option<String>,
    sales_id: Uuid,
    side: &'static str,
    message: String,
    skipped: bool,
    at: String,
    records: &'static str,
    job: Option<String>,
    actions: Vec<ActionView>,
}

#[derive(Template)]
#[template(path = "coupled_errors.html")]
struct ErrorsPage<'a> {
    rows: Vec<Row>,
    count: u64,
    page: i64,
    previous: Option<String>,
    next: Option<String>,
    can_act: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Financials => "Financials",
        Side::Sales => "Sales",
    }
}

fn records(fin: Option<bool>, sales: Option<bool>) -> &'static str {
    match (fin, sales) {
        (Some(true), Some(true)) => "Both exist",
        (Some(true), Some(false)) => "Deleted in Sales",
        (Some(false), Some(true)) => "Deleted in Financials",
        (Some(false), Some(false)) => "Both deleted",
        _ => "Not known (not connected)",
    }
}

fn page_href(page: i64) -> String {
    if page > 1 { format!("{PATH}?page={page}") } else { PATH.to_owned() }
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    page: String,
}

async fn render(
    it: &Integration,
    s: &Signed,
    page_no: i64,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let offset = (page_no - 1) * PAGE_SIZE;
    let found = it
        .coupled_errors(CoupledErrorsQuery { limit: Some(PAGE_SIZE), offset: Some(offset) })
        .await?;
    let shown = found.value.len() as u64;
    let rows = found
        .value
        .into_iter()
        .map(|e| {
            let f = &e.failure;
            Row {
                card: TABLES
                    .iter()
                    .find(|t| t.mapping == f.mapping)
                    .map(|t| format!("{}/{}", t.base(), f.financials_id)),
                mapping: f.mapping.clone(),
                financials_id: f.financials_id,
                sales_id: f.sales_id,
                side: side_name(f.side),
                message: f.message.clone(),
                skipped: f.skipped,
                at: when(&f.at),
                records: records(e.financials_exists, e.sales_exists),
                job: f.job_id.map(|j| format!("/integration-synch-jobs/{j}")),
                actions: e
                    .offered
                    .iter()
                    .map(|r| {
                        let (value, caption) = action(*r);
                        ActionView { value, caption }
                    })
                    .collect(),
            }
        })
        .collect();
    let view = ErrorsPage {
        rows,
        count: found.count,
        page: page_no,
        previous: (page_no > 1).then(|| page_href(page_no - 1)),
        next: ((offset as u64) + shown < found.count).then(|| page_href(page_no + 1)),
        can_act: s.may(Page::CoupledErrorsActions),
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, "Coupled Data Synchronization Errors", &view)
}

pub async fn list(
    State(state): State<WebState>,
    s: Signed,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    s.require(Page::CoupledErrors)?;
    let q: ListQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let page_no = q.page.parse::<i64>().unwrap_or(1).clamp(1, 1_000_000);
    render(integration(&state)?, &s, page_no, None, None).await
}

#[derive(Deserialize)]
struct ResolveForm {
    #[serde(default)]
    mapping: String,
    #[serde(default)]
    financials_id: String,
    #[serde(default)]
    action: String,
}

/// One resolution of one failed coupling: `Integration::resolve_coupling`.
pub async fn resolve(
    State(state): State<WebState>,
    s: Signed,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::CoupledErrorsActions)?;
    let it = integration(&state)?;
    let form: ResolveForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let checked = match (
        form.mapping.trim(),
        Uuid::parse_str(form.financials_id.trim()),
        parse_action(form.action.trim()),
    ) {
        ("", _, _) => Err("Choose the mapping of the coupling.".to_owned()),
        (_, Err(_), _) => Err("The Financials record id is not valid.".to_owned()),
        (_, _, None) => Err(format!(
            "'{}' is not an action of this page: choose Retry, Financials Wins, Sales Wins, Restore Records or Remove Coupling.",
            form.action.trim()
        )),
        (mapping, Ok(id), Some(how)) => Ok((mapping.to_owned(), id, how)),
    };
    let (message, error) = match checked {
        Err(m) => (None, Some(m)),
        Ok((mapping, id, how)) => match it.resolve_coupling(&mapping, id, how).await {
            Ok(_) => {
                let what = match how {
                    Resolution::Retry => "synchronized again",
                    Resolution::Wins(_) => "synchronized with the chosen side's values",
                    Resolution::Restore => "restored",
                    Resolution::RemoveCoupling => "uncoupled",
                };
                (Some(format!("The coupling of {mapping} record {id} was {what}.")), None)
            }
            Err(e) => (None, Some(refused(&e)?)),
        },
    };
    after_action(s.ctx.htmx, PATH, message, error, |m, e| render(it, &s, 1, m, e)).await
}
