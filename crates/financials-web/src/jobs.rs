//! Integration Synch. Jobs (filtered by mapping and start date, newest first, one page at a
//! time), a job's Integration Synch. Job Errors, and a mapping's CRM Skipped Records with
//! Retry.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use kontor_integration::{Integration, JobSummary, JobsQuery, RetryRequest};
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::job_queue::integration;
use crate::permission::Page;
use crate::render::{Signed, WebError, after_action, page, segment, when};
use crate::review::shown;

/// Jobs on one page.
pub const PAGE_SIZE: i64 = 20;

struct JobView {
    href: String,
    mapping: String,
    direction: String,
    job_type: String,
    started: String,
    finished: String,
    inserted: u64,
    modified: u64,
    deleted: u64,
    unchanged: u64,
    skipped: u64,
    failed: u64,
    message: String,
}

impl From<JobSummary> for JobView {
    fn from(j: JobSummary) -> Self {
        let c = j.counters;
        let note = j.note();
        JobView {
            href: format!("/integration-synch-jobs/{}", j.id),
            mapping: j.mapping,
            direction: j.direction,
            job_type: j.job_type,
            started: when(&j.started_at),
            finished: j.finished_at.map(|t| when(&t)).unwrap_or_default(),
            inserted: c.inserted,
            modified: c.modified,
            deleted: c.deleted,
            unchanged: c.unchanged,
            skipped: c.skipped,
            failed: c.failed,
            message: note,
        }
    }
}

/// The filter form's fields, as typed.
#[derive(Deserialize, Default)]
struct JobsForm {
    #[serde(default)]
    mapping: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: String,
}

struct MappingOption {
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "synch_jobs.html")]
struct JobsPage {
    mappings: Vec<MappingOption>,
    mapping: String,
    skipped_href: Option<String>,
    from: String,
    to: String,
    from_error: Option<&'static str>,
    to_error: Option<&'static str>,
    jobs: Vec<JobView>,
    page: i64,
    previous: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

/// A day typed as YYYY-MM-DD: its start (UTC), `None` when empty, or the message for the field.
fn parse_day(text: &str) -> Result<Option<DateTime<Utc>>, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| "Enter the date as YYYY-MM-DD, for example 2027-01-15, or leave it empty.")?;
    Ok(day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
}

fn page_href(form: &JobsForm, page: i64) -> String {
    let q = serde_urlencoded::to_string([
        ("mapping", form.mapping.as_str()),
        ("from", form.from.as_str()),
        ("to", form.to.as_str()),
        ("page", &page.to_string()),
    ])
    .unwrap_or_default();
    format!("/integration-synch-jobs?{q}")
}

pub async fn list(
    State(state): State<WebState>,
    s: Signed,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    s.require(Page::SynchJobs)?;
    let it = integration(&state)?;
    let form: JobsForm = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|_| WebError::BadRequest("The filter could not be read.".into()))?;
    let page_no = form.page.trim().parse::<i64>().unwrap_or(1).max(1);
    let from = parse_day(&form.from);
    // The To day is included: jobs started before the next day's start.
    let to = parse_day(&form.to).map(|t| t.map(|t| t + Duration::days(1)));
    let mut error = None;
    let mappings = match it.mappings().await {
        Ok(set) => set.mappings.iter().map(|m| m.name.clone()).collect(),
        Err(e) => {
            error = Some(shown(&e));
            Vec::new()
        }
    };
    let mut jobs = Vec::new();
    let mut more = false;
    if let (Ok(from), Ok(to), None) = (&from, &to, &error) {
        let query = JobsQuery {
            mapping: Some(form.mapping.clone()).filter(|m| !m.is_empty()),
            limit: Some(PAGE_SIZE + 1),
            offset: Some((page_no - 1) * PAGE_SIZE),
            from: *from,
            to: *to,
        };
        match it.jobs(query).await {
            Ok(mut list) => {
                more = list.len() as i64 > PAGE_SIZE;
                list.truncate(PAGE_SIZE as usize);
                jobs = list.into_iter().map(JobView::from).collect();
            }
            Err(e) => error = Some(shown(&e)),
        }
    }
    let view = JobsPage {
        mappings: mappings
            .into_iter()
            .map(|name| MappingOption { selected: name == form.mapping, name })
            .collect(),
        skipped_href: Some(&form.mapping)
            .filter(|m| !m.is_empty())
            .map(|m| format!("/integration-table-mappings/{}/skipped", segment(m))),
        from_error: from.err(),
        to_error: to.err(),
        page: page_no,
        previous: (page_no > 1).then(|| page_href(&form, page_no - 1)),
        next: more.then(|| page_href(&form, page_no + 1)),
        mapping: form.mapping,
        from: form.from,
        to: form.to,
        jobs,
        error,
    };
    page(&s.ctx, "Integration Synch. Jobs", &view)
}

struct ErrorView {
    source: String,
    destination: String,
    message: String,
    at: String,
}

#[derive(Template)]
#[template(path = "synch_job_errors.html")]
struct ErrorsPage {
    job: JobView,
    errors: Vec<ErrorView>,
}

pub async fn errors(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    s.require(Page::SynchJobs)?;
    let it = integration(&state)?;
    let id = Uuid::parse_str(&id)
        .map_err(|_| WebError::NotFound("The integration synch. job does not exist.".into()))?;
    let detail = it.job(id).await?;
    let view = ErrorsPage {
        job: detail.job.into(),
        errors: detail
            .errors
            .into_iter()
            .map(|e| ErrorView {
                source: e.source,
                destination: e.destination,
                message: e.message,
                at: when(&e.at),
            })
            .collect(),
    };
    page(&s.ctx, "Integration Synch. Job Errors", &view)
}

struct SkippedView {
    side: &'static str,
    id: Uuid,
    message: String,
}

#[derive(Template)]
#[template(path = "skipped.html")]
struct SkippedPage<'a> {
    mapping: String,
    href: String,
    records: Vec<SkippedView>,
    can_act: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

async fn render_skipped(
    it: &Integration,
    s: &Signed,
    mapping: &str,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let records = it.skipped(mapping).await?;
    let view = SkippedPage {
        mapping: mapping.to_owned(),
        href: format!("/integration-table-mappings/{}/skipped", segment(mapping)),
        records: records
            .into_iter()
            .map(|r| SkippedView {
                side: match r.side {
                    kontor_sync::Side::Financials => "Financials",
                    kontor_sync::Side::Sales => "Sales",
                },
                id: r.id,
                message: r.message,
            })
            .collect(),
        can_act: s.may(Page::SkippedRetry),
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, "CRM Skipped Records", &view)
}

pub async fn skipped(
    State(state): State<WebState>,
    s: Signed,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    s.require(Page::SynchJobs)?;
    render_skipped(integration(&state)?, &s, &name, None, None).await
}

#[derive(Deserialize)]
struct RetryForm {
    /// One record (empty or left out: *Retry All* of the mapping).
    #[serde(default)]
    id: String,
}

/// *Retry* (one record) / *Retry All* (of the mapping): `Integration::retry`.
pub async fn retry(
    State(state): State<WebState>,
    s: Signed,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::SkippedRetry)?;
    let it = integration(&state)?;
    let form: RetryForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let id = match form.id.trim() {
        "" => None,
        text => Some(
            Uuid::parse_str(text)
                .map_err(|_| WebError::BadRequest("The record id is not valid.".into()))?,
        ),
    };
    let req = RetryRequest { mapping: Some(name.clone()), id };
    let (message, error) = match it.retry(req).await {
        Ok(r) => {
            let what = if r.retried == 1 { "record" } else { "records" };
            (Some(format!("{} {what} will be synchronized again.", r.retried)), None)
        }
        Err(e) => (None, Some(shown(&e))),
    };
    let back = format!("/integration-table-mappings/{}/skipped", segment(&name));
    after_action(s.ctx.htmx, &back, message, error, |m, e| render_skipped(it, &s, &name, m, e))
        .await
}
