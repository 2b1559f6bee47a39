//! Home: the assisted setup guide's status, the pages the user may open, and the integration's
//! health at a glance.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::WebState;
use crate::permission::Page;
use crate::render::{NAV, NavLink, Signed, WebError, page, when};

/// The health figures as shown.
struct HealthView {
    failed_jobs: u64,
    skipped_records: u64,
    entries_in_error: u64,
    entries_failing: u64,
    last_synchronization: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    setup_done: bool,
    setup_status: &'static str,
    /// The guide's address, when the user may run it.
    guide: Option<&'static str>,
    links: Vec<NavLink>,
    health: Option<HealthView>,
    unavailable: &'static str,
}

/// The integration is not hosted by this process.
pub const NOT_HOSTED: &str = "The integration does not run in this Financials process.";

pub async fn home(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::Home)?;
    let links = NAV
        .iter()
        .filter(|(_, _, p)| *p != Page::Home && s.may(*p))
        .map(|(href, label, _)| NavLink { href, label, current: false })
        .collect();
    let (setup_done, health) = match &state.integration {
        Some(it) => {
            let done = it.connection().await?.is_some();
            let h = it.health().await?;
            let health = HealthView {
                failed_jobs: h.failed_jobs,
                skipped_records: h.skipped_records,
                entries_in_error: h.entries_in_error,
                entries_failing: h.entries_failing,
                last_synchronization: h
                    .last_synchronization
                    .map_or_else(|| "Never".to_owned(), |t| when(&t)),
            };
            (done, Some(health))
        }
        None => (false, None),
    };
    let setup_status = if setup_done { "Done" } else { "Not started" };
    let guide = s.may(Page::AssistedSetup).then_some(crate::wizard::PATH);
    let view = HomePage { setup_done, setup_status, guide, links, health, unavailable: NOT_HOSTED };
    page(&s.ctx, "Home", &view)
}
