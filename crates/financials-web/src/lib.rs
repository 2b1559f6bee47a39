//! kontor-financials-web: the Financials web client, server-rendered pages in the Financials
//! process (askama templates under `templates/`, htmx 2.0.11 vendored under `static/vendor/`
//! and embedded in the binary; no CDN, no npm at build or run time).
//!
//! Pages call the domain (`kontor-financials`: users, sessions, web service keys) and the
//! integration's application layer (`kontor-integration`), never an HTTP handler. Each handler
//! parses its input, calls one function and renders: a full page, or only the `<main>` partial
//! when the request has `HX-Request: true`.
//!
//! | route | window |
//! |---|---|
//! | `GET/POST /signin`, `POST /signout` | Sign In (a session cookie; the row in `fin_web_session`) |
//! | `GET /` | Home: the assisted setup guide's status, the pages, the integration's health |
//! | `GET /users`, `GET /users/{id}` | Users, User Card |
//! | `POST /users/{id}/change-web-service-key` | Change Web Service Key (the key shown once) |
//! | `GET /job-queue-entries`, `POST /job-queue-entries/{id}/restart` / `hold` | Job Queue Entries |
//! | `GET /customers`, `GET /customers/{id}` | Customer List (paged, searched, sorted), Customer Card |
//! | `GET/POST /customers/{id}/coupling`, `POST /customers/{id}/uncouple` | Set Up Coupling, Delete Coupling |
//! | `GET/POST /customers/match-based-coupling`, `POST /customers/synchronize` | Match-Based Coupling, Synchronize Now |
//! | the same under `/contacts`, `/items`, `/salespeople`, `/currencies`, `/units-of-measure`, `/customer-price-groups`, `/sales-prices` | Contact List, Item List, Salespersons/Purchasers, Currencies, Units of Measure, Customer Price Groups, Sales Prices and their cards: one implementation ([`lists`]) over a table description each ([`tables`]) |
//! | `GET /integration-table-mappings`, `POST /integration-table-mappings/{name}/reset` | Integration Table Mappings |
//! | `GET /integration-table-mappings/{name}/fields` | Integration Field Mappings |
//! | `GET/POST /integration-table-mappings/{name}/edit`, `POST …/{name}/fields/{index}` | Edit a table mapping, a field mapping |
//! | `GET /integration-table-mappings/export`, `POST …/import` (multipart) | Export, Import the mappings' file |
//! | `GET /crm-full-synch-review` (`/lines`: the statuses partial htmx polls), `POST …/run`, `POST …/start` | CRM Full Synch. Review |
//! | `GET /integration-synch-jobs?mapping=&from=&to=&page=`, `GET /integration-synch-jobs/{id}` | Integration Synch. Jobs, Integration Synch. Job Errors |
//! | `GET /coupled-data-synchronization-errors?page=`, `POST …/resolve` | Coupled Data Synchronization Errors: Retry, Financials / Sales wins, Restore Records, Remove Coupling |
//! | `GET /integration-table-mappings/{name}/skipped`, `POST …/skipped/retry` | CRM Skipped Records, Retry |
//! | `GET/POST /dynamics-365-connection-setup`, `POST …/test` | Dynamics 365 Connection Setup, Test Connection |
//! | `GET /sales-orders`, `GET /sales-orders/{id}` | Sales Orders, Sales Order (with its lines) |
//! | `POST /sales-orders/{id}/release` / `reopen` / `post` | Release, Reopen, Post (Ship and Invoice) |
//! | `GET /posted-sales-invoices`, `GET /posted-sales-invoices/{id}` | Posted Sales Invoices, Posted Sales Invoice |
//! | `POST /dynamics-365-connection-setup/enable` / `disable` | Enable, Disable |
//! | `GET/POST /assisted-setup/dynamics-365-connection-setup` | the assisted setup guide Dynamics 365 Connection Setup (one step per POST) |
//! | `GET /static/…` | the style sheet and htmx |
//!
//! Security ([`security`]): the session cookie is `HttpOnly; SameSite=Lax` (and `Secure` when
//! the request came over TLS); every POST passes an Origin / `Sec-Fetch-Site` check and carries
//! the session's CSRF token (a hidden `csrf` field, or the `X-CSRF-Token` header htmx sends from
//! `hx-headers` on `<body>`); the sign-in form carries a token of its own (double-submit cookie).
//! Which permission sets each page needs is one table: [`permission::page_permission`].

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use kontor_financials::users::Authenticator;
use kontor_integration::Integration;
use kontor_store::Db;

mod connection;
mod coupled_errors;
mod documents;
mod home;
mod job_queue;
mod jobs;
mod lists;
mod mappings;
pub mod paging;
pub mod permission;
mod render;
mod review;
pub mod security;
mod signin;
pub mod tables;
mod upload;
mod users;
mod wizard;

pub use render::WebError;

/// What the pages share. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub db: Db,
    pub auth: Arc<Authenticator>,
    /// The integration hosted by this process (`None`: its pages say it does not run here).
    pub integration: Option<Integration>,
    /// Cookies are `Secure` on every answer (the public URL is `https://…`), not only when a
    /// request says it came over TLS.
    pub always_secure: bool,
}

impl WebState {
    pub fn new(db: Db, auth: Arc<Authenticator>, integration: Option<Integration>) -> WebState {
        WebState { db, auth, integration, always_secure: false }
    }
    /// Marks cookies `Secure` on every answer when the public URL is `https://…`.
    pub fn with_public_url(mut self, public_url: Option<&str>) -> WebState {
        self.always_secure = public_url.is_some_and(|u| u.starts_with("https://"));
        self
    }
}

/// The htmx build the pages load (its licence is `static/vendor/htmx-LICENSE`).
pub const HTMX_PATH: &str = "/static/htmx-2.0.11.min.js";
const HTMX: &[u8] = include_bytes!("../static/vendor/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("../static/kontor.css");

/// The pages, with their own not-found page as the fallback: an HTML 404 for a browser
/// (`Accept: text/html`), an empty 404 otherwise (the host answers it in its own shape).
pub fn router(state: WebState) -> Router {
    let guard = axum::middleware::from_fn_with_state(state.clone(), security::guard);
    let records = tables::TABLES.into_iter().fold(Router::new(), lists::routes);
    let records = documents::routes(records);
    records
        .route("/", get(home::home))
        .route("/signin", get(signin::form).post(signin::sign_in))
        .route("/signout", post(signin::sign_out))
        .route("/users", get(users::list))
        .route("/users/{id}", get(users::card))
        .route("/users/{id}/change-web-service-key", post(users::change_key))
        .route("/job-queue-entries", get(job_queue::list))
        .route("/job-queue-entries/{id}/restart", post(job_queue::restart))
        .route("/job-queue-entries/{id}/hold", post(job_queue::hold))
        .route("/integration-table-mappings", get(mappings::list))
        .route("/integration-table-mappings/{name}/fields", get(mappings::fields))
        .route("/integration-table-mappings/{name}/reset", post(mappings::reset))
        .route("/integration-table-mappings/export", get(mappings::export))
        .route(mappings::IMPORT_PATH, post(mappings::import))
        .route(
            "/integration-table-mappings/{name}/edit",
            get(mappings::edit_form).post(mappings::edit),
        )
        .route("/integration-table-mappings/{name}/fields/{index}", post(mappings::edit_field))
        .route("/crm-full-synch-review", get(review::show))
        .route("/crm-full-synch-review/lines", get(review::lines))
        .route("/crm-full-synch-review/run", post(review::run))
        .route("/crm-full-synch-review/start", post(review::start))
        .route("/integration-synch-jobs", get(jobs::list))
        .route("/integration-synch-jobs/{id}", get(jobs::errors))
        .route("/coupled-data-synchronization-errors", get(coupled_errors::list))
        .route("/coupled-data-synchronization-errors/resolve", post(coupled_errors::resolve))
        .route("/integration-table-mappings/{name}/skipped", get(jobs::skipped))
        .route("/integration-table-mappings/{name}/skipped/retry", post(jobs::retry))
        .route("/dynamics-365-connection-setup", get(connection::show).post(connection::save))
        .route("/dynamics-365-connection-setup/test", post(connection::test))
        .route(wizard::PATH, get(wizard::start).post(wizard::step))
        .route("/dynamics-365-connection-setup/enable", post(connection::enable))
        .route("/dynamics-365-connection-setup/disable", post(connection::disable))
        .route(HTMX_PATH, get(|| async { asset(HTMX, "text/javascript; charset=utf-8", YEAR) }))
        .route("/static/kontor.css", get(|| async { asset(CSS, "text/css; charset=utf-8", HOUR) }))
        .fallback(render::not_found)
        .layer(guard)
        .with_state(state)
}

/// htmx's path changes with its version: cached for a year.
const YEAR: &str = "public, max-age=31536000, immutable";
const HOUR: &str = "public, max-age=3600";

/// A static file.
fn asset(
    bytes: &'static [u8],
    content_type: &'static str,
    cache: &'static str,
) -> axum::response::Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}
