//! Job Queue Entries: status, next run, last error; Restart and Set On Hold.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kontor_integration::{Integration, JobQueueEntry, JobQueueQuery};
use uuid::Uuid;

use crate::WebState;
use crate::home::NOT_HOSTED;
use crate::permission::Page;
use crate::render::{Signed, WebError, after_action, page, user_message, when};

struct EntryView {
    id: Uuid,
    description: String,
    kind: String,
    status: &'static str,
    next_run: String,
    recurrence: String,
    attempts: String,
    last_error: String,
}

impl From<JobQueueEntry> for EntryView {
    fn from(e: JobQueueEntry) -> Self {
        EntryView {
            id: e.id,
            description: if e.description.is_empty() { e.kind.clone() } else { e.description },
            kind: e.kind,
            status: e.status.caption(),
            next_run: when(&e.earliest_start_at.unwrap_or(e.run_at)),
            recurrence: match e.interval_seconds {
                Some(s) if s % 60 == 0 => format!("Every {} min", s / 60),
                Some(s) => format!("Every {s} s"),
                None => "Once".to_owned(),
            },
            attempts: format!("{} of {}", e.attempts, e.max_attempts),
            last_error: e.last_error.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "job_queue.html")]
struct JobQueuePage<'a> {
    entries: Vec<EntryView>,
    can_act: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

pub(crate) fn integration(state: &WebState) -> Result<&Integration, WebError> {
    state.integration.as_ref().ok_or_else(|| WebError::Unavailable(NOT_HOSTED.into()))
}

async fn render(
    it: &Integration,
    s: &Signed,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let entries = it.job_queue_entries(JobQueueQuery::default()).await?;
    let view = JobQueuePage {
        entries: entries.into_iter().map(EntryView::from).collect(),
        can_act: s.may(Page::JobQueueActions),
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, "Job Queue Entries", &view)
}

pub async fn list(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::JobQueueEntries)?;
    render(integration(&state)?, &s, None, None).await
}

#[derive(Clone, Copy)]
enum Action {
    Restart,
    Hold,
}

async fn act(state: &WebState, s: Signed, id: &str, action: Action) -> Result<Response, WebError> {
    s.require(Page::JobQueueActions)?;
    let it = integration(state)?;
    let id = Uuid::parse_str(id)
        .map_err(|_| WebError::NotFound("The job queue entry does not exist.".into()))?;
    let done = match action {
        Action::Restart => it.restart_entry(id).await,
        Action::Hold => it.hold_entry(id).await,
    };
    let (message, error) = match done {
        Ok(e) => {
            let what = if e.description.is_empty() { e.kind } else { e.description };
            let verb = match action {
                Action::Restart => "restarted",
                Action::Hold => "set on hold",
            };
            (Some(format!("{what} was {verb}.")), None)
        }
        Err(e) => (None, Some(user_message(&e).ok_or(WebError::Internal)?)),
    };
    after_action(s.ctx.htmx, "/job-queue-entries", message, error, |m, e| render(it, &s, m, e))
        .await
}

pub async fn restart(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    act(&state, s, &id, Action::Restart).await
}

pub async fn hold(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    act(&state, s, &id, Action::Hold).await
}
