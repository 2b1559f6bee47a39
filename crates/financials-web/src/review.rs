//! CRM Full Synch. Review: *Run Full Synchronization* builds the review, *Start* runs it; the
//! lines' three statuses (Job Queue Entry, To Int. Table, From Int. Table) update by htmx
//! polling of the lines partial every second until no line is running any more.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kontor_integration::{Integration, IntegrationError, ReviewLine};
use kontor_sync::SyncError;
use uuid::Uuid;

use crate::WebState;
use crate::job_queue::integration;
use crate::permission::Page;
use crate::render::{Signed, WebError, html, page, segment, user_message};

/// The message of an application-layer error as a page shows it: its own text when a person can
/// act on it (a side that could not be reached included), else that something went wrong (the
/// error is logged). These pages show errors, they never answer 500 for them.
pub(crate) fn shown(e: &IntegrationError) -> String {
    if let IntegrationError::Sync(SyncError::Connector(c)) = e {
        return format!("A side could not be reached: {c}");
    }
    user_message(e).unwrap_or_else(|| {
        "An unexpected error occurred. Try again; if it happens again, ask your administrator to look at the server's log.".to_owned()
    })
}

/// A pass's status with the link to its synch job and the records it has handled.
struct PassView {
    status: String,
    href: Option<String>,
    records: Option<String>,
    /// The progress bar's value and max (`None`: an indeterminate bar).
    bar: Option<(u64, u64)>,
}

impl PassView {
    fn new(status: &str, job: Option<Uuid>, records: Option<u64>, total: Option<u64>) -> PassView {
        let status = status.trim().to_owned();
        let ended = matches!(status.as_str(), "Success" | "Error");
        // An ended pass's bar is full; a running one's is done of total when the total is
        // known (a pass may read more rows than were counted: never past the end).
        let bar = match (records, total) {
            _ if ended => {
                let t = total.or(records).unwrap_or(1).max(1);
                Some((t, t))
            }
            (Some(n), Some(t)) if n <= t && t > 0 => Some((n, t)),
            _ => None,
        };
        let records = records.map(|n| match (n, total) {
            // More than were counted (the other pass wrote rows since): the count alone.
            (n, Some(t)) if n <= t => format!("{n} of {t} records"),
            (1, _) => "1 record".to_owned(),
            (n, _) => format!("{n} records"),
        });
        PassView {
            href: job.map(|id| format!("/integration-synch-jobs/{id}")),
            records,
            bar,
            status,
        }
    }
}

struct LineView {
    name: String,
    dependency_filter: String,
    direction: String,
    recommendation: String,
    entry_status: String,
    entry_href: String,
    held_up: bool,
    to: PassView,
    from: PassView,
}

impl From<ReviewLine> for LineView {
    fn from(l: ReviewLine) -> Self {
        LineView {
            entry_href: format!("/integration-synch-jobs?mapping={}", segment(&l.name)),
            to: PassView::new(
                &l.to_int_table_job_status,
                l.to_int_table_job_id,
                l.to_int_table_records,
                l.to_int_table_total,
            ),
            from: PassView::new(
                &l.from_int_table_job_status,
                l.from_int_table_job_id,
                l.from_int_table_records,
                l.from_int_table_total,
            ),
            entry_status: l.job_queue_entry_status.trim().to_owned(),
            held_up: l.held_up,
            name: l.name,
            dependency_filter: l.dependency_filter,
            direction: caption(&l.direction),
            recommendation: l.recommendation,
        }
    }
}

/// A direction as Business Central captions it.
fn caption(direction: &str) -> String {
    match direction {
        "ToIntegrationTable" => "To Integration Table".to_owned(),
        "FromIntegrationTable" => "From Integration Table".to_owned(),
        other => other.to_owned(),
    }
}

/// Whether a line still runs (or will without anyone acting): the page keeps polling.
fn running(l: &ReviewLine) -> bool {
    !l.held_up && matches!(l.job_queue_entry_status.as_str(), "Ready" | "In Process" | "Waiting")
}

#[derive(Template)]
#[template(path = "review_lines.html")]
struct LinesPartial {
    lines: Vec<LineView>,
    polling: bool,
    error: Option<String>,
}

impl LinesPartial {
    async fn of(it: &Integration) -> LinesPartial {
        match it.full_sync_status().await {
            Ok(lines) => LinesPartial {
                polling: lines.iter().any(running),
                lines: lines.into_iter().map(LineView::from).collect(),
                error: None,
            },
            Err(e) => LinesPartial { lines: Vec::new(), polling: false, error: Some(shown(&e)) },
        }
    }
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage<'a> {
    lines: &'a str,
    has_lines: bool,
    can_act: bool,
    csrf: &'a str,
    message: Option<String>,
}

async fn render(
    it: &Integration,
    s: &Signed,
    message: Option<String>,
) -> Result<Response, WebError> {
    let partial = LinesPartial::of(it).await;
    let has_lines = !partial.lines.is_empty();
    let lines = partial.render().map_err(WebError::internal)?;
    let view = ReviewPage {
        lines: &lines,
        has_lines,
        can_act: s.may(Page::FullSynchActions),
        csrf: s.csrf(),
        message,
    };
    page(&s.ctx, "CRM Full Synch. Review", &view)
}

pub async fn show(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::FullSynchReview)?;
    render(integration(&state)?, &s, None).await
}

/// The lines partial htmx polls (it carries the polling attributes only while a line runs).
pub async fn lines(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::FullSynchReview)?;
    let partial = LinesPartial::of(integration(&state)?).await;
    Ok(html(StatusCode::OK, partial.render().map_err(WebError::internal)?))
}

#[derive(Clone, Copy)]
enum Action {
    Run,
    Start,
}

async fn act(state: &WebState, s: Signed, action: Action) -> Result<Response, WebError> {
    s.require(Page::FullSynchActions)?;
    let it = integration(state)?;
    let done = match action {
        Action::Run => it.full_sync_review().await.map(|l| {
            format!("The review was built: {} lines. Review them, then choose Start.", l.len())
        }),
        Action::Start => {
            it.start_full_sync().await.map(|_| "The full synchronization started.".to_owned())
        }
    };
    match done {
        Ok(_) if !s.ctx.htmx => Ok(Redirect::to("/crm-full-synch-review").into_response()),
        Ok(message) => render(it, &s, Some(message)).await,
        Err(e) => {
            let mut resp = render_error(it, &s, shown(&e)).await?;
            if !s.ctx.htmx {
                *resp.status_mut() = StatusCode::CONFLICT;
            }
            Ok(resp)
        }
    }
}

async fn render_error(it: &Integration, s: &Signed, error: String) -> Result<Response, WebError> {
    let partial = LinesPartial::of(it).await;
    let has_lines = !partial.lines.is_empty();
    let partial = LinesPartial { error: Some(error), ..partial };
    let lines = partial.render().map_err(WebError::internal)?;
    let view = ReviewPage {
        lines: &lines,
        has_lines,
        can_act: s.may(Page::FullSynchActions),
        csrf: s.csrf(),
        message: None,
    };
    page(&s.ctx, "CRM Full Synch. Review", &view)
}

/// *Run Full Synchronization*: builds the review (nothing starts yet).
pub async fn run(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    act(&state, s, Action::Run).await
}

/// *Start*: starts the review's lines.
pub async fn start(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    act(&state, s, Action::Start).await
}
