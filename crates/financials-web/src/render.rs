//! Rendering: the layout around each page's main partial, the request's context (session,
//! htmx), and the web client's one error type, [`WebError`], answered as a page that never
//! shows internals.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kontor_financials::FinError;
use kontor_financials::sessions::Session;
use kontor_integration::IntegrationError;
use kontor_jobs::JobError;
use kontor_sync::SyncError;

use crate::WebState;
use crate::permission::{Page, allows};

/// A link of the navigation bar.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The pages of the navigation bar (and of Home's links, but Home itself), in order, with their
/// window names and what each needs.
pub(crate) const NAV: [(&str, &str, Page); 18] = [
    ("/", "Home", Page::Home),
    ("/customers", "Customer List", Page::Customers),
    ("/contacts", "Contact List", Page::Customers),
    ("/items", "Item List", Page::Customers),
    ("/salespeople", "Salespersons/Purchasers", Page::Customers),
    ("/currencies", "Currencies", Page::Customers),
    ("/units-of-measure", "Units of Measure", Page::Customers),
    ("/customer-price-groups", "Customer Price Groups", Page::Customers),
    ("/sales-prices", "Sales Prices", Page::Customers),
    ("/sales-orders", "Sales Orders", Page::SalesDocuments),
    ("/posted-sales-invoices", "Posted Sales Invoices", Page::SalesDocuments),
    ("/users", "Users", Page::Users),
    ("/job-queue-entries", "Job Queue Entries", Page::JobQueueEntries),
    ("/integration-table-mappings", "Integration Table Mappings", Page::TableMappings),
    ("/crm-full-synch-review", "CRM Full Synch. Review", Page::FullSynchReview),
    ("/integration-synch-jobs", "Integration Synch. Jobs", Page::SynchJobs),
    (
        "/coupled-data-synchronization-errors",
        "Coupled Data Synchronization Errors",
        Page::CoupledErrors,
    ),
    ("/dynamics-365-connection-setup", "Dynamics 365 Connection Setup", Page::ConnectionSetup),
];

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    content: &'a str,
    nav: Vec<NavLink>,
    user: Option<&'a str>,
    csrf: Option<&'a str>,
    htmx: &'a str,
}

/// The session the guard found for this request (`None`: signed out).
#[derive(Clone)]
pub struct CurrentSession(pub Option<Session>);

/// What a page handler knows about its request: the session, whether htmx asked (only the
/// main partial is answered then), and the path (the navigation marks the current page).
pub struct Ctx {
    pub session: Option<Session>,
    pub htmx: bool,
    pub path: String,
}

impl FromRequestParts<WebState> for Ctx {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &WebState) -> Result<Ctx, WebError> {
        let session = parts.extensions.get::<CurrentSession>().and_then(|s| s.0.clone());
        Ok(Ctx { session, htmx: is_htmx(&parts.headers), path: parts.uri.path().to_owned() })
    }
}

/// A request of a signed-in user (others are sent to the sign-in page).
pub struct Signed {
    pub ctx: Ctx,
    pub session: Session,
}

impl FromRequestParts<WebState> for Signed {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Signed, WebError> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        match ctx.session.clone() {
            Some(session) => Ok(Signed { ctx, session }),
            None => Err(WebError::SignIn),
        }
    }
}

impl Signed {
    /// `Forbidden` unless the user may use `page`.
    pub fn require(&self, page: Page) -> Result<(), WebError> {
        if self.may(page) { Ok(()) } else { Err(WebError::Forbidden) }
    }
    pub fn may(&self, page: Page) -> bool {
        allows(&self.session.principal.permissions, page)
    }
    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }
}

pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some_and(|v| v.as_bytes() == b"true")
}

/// The page: `content` (the main partial) alone for htmx, else inside the layout with the
/// navigation the user may use.
pub fn page(ctx: &Ctx, title: &str, content: &impl Template) -> Result<Response, WebError> {
    let content = content.render().map_err(WebError::internal)?;
    if ctx.htmx {
        return Ok(html(StatusCode::OK, format!("<title>{}</title>\n{content}", escape(title))));
    }
    let nav = match &ctx.session {
        Some(s) => NAV
            .iter()
            .filter(|(_, _, p)| allows(&s.principal.permissions, *p))
            .map(|(href, label, _)| NavLink { href, label, current: ctx.path == *href })
            .collect(),
        None => Vec::new(),
    };
    let layout = Layout {
        title,
        content: &content,
        nav,
        user: ctx.session.as_ref().map(|s| s.principal.user_name.as_str()),
        csrf: ctx.session.as_ref().map(|s| s.csrf_token.as_str()),
        htmx: crate::HTMX_PATH,
    };
    Ok(html(StatusCode::OK, layout.render().map_err(WebError::internal)?))
}

/// An HTML answer; never cached (pages show the user's data).
pub fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    resp
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A link path segment: everything but unreserved characters percent-encoded.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A moment as pages show it.
pub fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Why a page could not be answered. Each answers a page of its own; an internal failure is
/// logged and the page says only that something went wrong.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn,
    /// The user's permission sets do not allow the page or action.
    Forbidden,
    /// A POST from another site, or without the session's CSRF token.
    CrossSite,
    NotFound(String),
    BadRequest(String),
    TooLarge,
    /// The integration does not run in this process.
    Unavailable(String),
    Internal,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl WebError {
    /// Logs `e` and answers the error page (no detail of `e` is shown).
    pub fn internal(e: impl std::fmt::Display) -> WebError {
        tracing::error!(error = %e, "web client failure");
        WebError::Internal
    }
}

impl From<FinError> for WebError {
    fn from(e: FinError) -> Self {
        match e {
            FinError::NotFound(m) => WebError::NotFound(m),
            FinError::Invalid { message, .. } | FinError::Rule(message) => {
                WebError::BadRequest(message)
            }
            other => WebError::internal(other),
        }
    }
}

impl From<kontor_store::StoreError> for WebError {
    fn from(e: kontor_store::StoreError) -> Self {
        WebError::internal(e)
    }
}

/// The answer to a POST action of a page: an htmx request gets `render(message, error)` (the
/// page's partial with what happened); a plain form is sent back to `back` when it worked (post,
/// redirect, get) and gets the page with the error and 409 when it did not.
pub async fn after_action<F, Fut>(
    htmx: bool,
    back: &str,
    message: Option<String>,
    error: Option<String>,
    render: F,
) -> Result<Response, WebError>
where
    F: FnOnce(Option<String>, Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Response, WebError>>,
{
    if htmx {
        return render(message, error).await;
    }
    match error {
        None => Ok(Redirect::to(back).into_response()),
        Some(error) => {
            let mut resp = render(None, Some(error)).await?;
            *resp.status_mut() = StatusCode::CONFLICT;
            Ok(resp)
        }
    }
}

/// The message of an application-layer error a person can act on (shown next to the field or
/// at the top of the page), or `None` for an internal failure (logged).
pub fn user_message(e: &IntegrationError) -> Option<String> {
    let shown = match e {
        IntegrationError::NotConnected
        | IntegrationError::Invalid(_)
        | IntegrationError::NotFound(_) => true,
        IntegrationError::Sync(s) => !matches!(s, SyncError::Store(_) | SyncError::Connector(_)),
        IntegrationError::Queue(q) => matches!(
            q,
            JobError::NotFound(_)
                | JobError::Duplicate { .. }
                | JobError::InvalidStatus { .. }
                | JobError::Invalid(_)
        ),
    };
    if shown {
        let m = e.to_string();
        let mut chars = m.chars();
        Some(match chars.next() {
            Some(c) => c.to_uppercase().chain(chars).collect(),
            None => m,
        })
    } else {
        tracing::error!(error = %e, "integration failure shown to a web client user as internal");
        None
    }
}

impl From<IntegrationError> for WebError {
    fn from(e: IntegrationError) -> Self {
        let not_found = matches!(
            &e,
            IntegrationError::NotFound(_)
                | IntegrationError::Sync(SyncError::NotFound(_))
                | IntegrationError::Queue(JobError::NotFound(_))
        );
        match user_message(&e) {
            Some(m) if not_found => WebError::NotFound(m),
            Some(m) if matches!(e, IntegrationError::NotConnected) => WebError::Unavailable(m),
            Some(m) => WebError::BadRequest(m),
            None => WebError::Internal,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            WebError::SignIn => return Redirect::to("/signin").into_response(),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Access Denied",
                "Your permission sets do not allow this page or action. Ask your administrator for the permission set it needs.",
            ),
            WebError::CrossSite => (
                StatusCode::FORBIDDEN,
                "Access Denied",
                "The request was refused: it did not come from a page of this site, or the page was too old. Go back, reload the page and try again.",
            ),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Not Found", m.as_str()),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad Request", m.as_str()),
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Bad Request",
                "The form sent more data than this page accepts.",
            ),
            WebError::Unavailable(m) => {
                (StatusCode::SERVICE_UNAVAILABLE, "Not Available", m.as_str())
            }
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something Went Wrong",
                "An unexpected error occurred. Try again; if it happens again, ask your administrator to look at the server's log.",
            ),
        };
        let body = ErrorPage { title, message }
            .render()
            .unwrap_or_else(|_| "<!doctype html><title>Error</title><h1>Error</h1>".to_owned());
        html(status, body)
    }
}

/// The fallback: an HTML 404 page for a browser, an empty 404 for an API client (the host
/// answers that in its own error shape).
pub async fn not_found(headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        WebError::NotFound("There is no page at this address. Go to Home to find the pages.".into())
            .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
