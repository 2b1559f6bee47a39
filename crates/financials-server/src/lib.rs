//! Kontor Financials server: the Business Central-shaped API v2.0 (`/api/v2.0/…`), the OData web
//! services (`/ODataV4/Company('…')/ProductItemAvailability`) and HTTP Basic auth, on axum.
//!
//! - [`router`] builds the routes on an [`AppState`]; [`serve`] runs them on a listener until a
//!   shutdown signal; [`testing::spawn_for_test`] starts a real server on port 0 for tests.
//! - Handlers are thin: paths are parsed in [`api`], the work is in `kontor_financials`.
//!
//! # Routes (the API's need HTTP Basic: user name + password or web service access key)
//! Each route is one entry of a route table ([`financials_routes`], the integration's
//! `kontor_sync_server::routes`) with the permission it needs; the router is built from the
//! tables only ([`routes`]). The API routes let every signed-in user in and check the permission
//! sets per entity set and operation inside.
//!
//! The web client's pages (`kontor-financials-web`, merged by the binary with
//! [`router_with_pages`]) answer every other path, `/` (Home) included, with their own sign-in
//! and their own page permission table.
//! | route | methods |
//! |---|---|
//! | `/api/v2.0/$metadata` | GET (CSDL) |
//! | `/api/v2.0/$batch` | POST: `multipart/mixed` (change sets atomic, `Content-ID`/`$n`) or BC's JSON batch (`Isolation: snapshot` = atomic); ≤ 1,000 operations |
//! | `/api/v2.0/companies`, `companies({id})` | GET; PATCH (experience, base currency) |
//! | `/api/v2.0/companies({id})/{set}` | GET (query options, paging, change feed), POST (client `id` allowed) |
//! | `…/{set}({id})` | GET, PATCH (`If-Match`; upsert when unknown and no `If-Match`), DELETE |
//! | `…/{set}({id})/{navigation}[({id})]` | GET; POST/PATCH/DELETE on `salesOrders({id})/salesOrderLines` |
//! | `…/salesOrders({id})/Microsoft.NAV.shipAndInvoice` | POST → 204, `Location` = posted invoice |
//! | `…/users({id})/Microsoft.NAV.changeWebServiceKey` | POST `{"expiryDateTime"?}` → `{"value": key}` (shown once) |
//! | `/ODataV4/$metadata`, `/ODataV4/Company('{name}')/ProductItemAvailability` | GET |
//! | `/metrics` | GET, public: the Prometheus text format ([`telemetry`]) |
//! | `/health` | GET, public: `{"status":"ok"}` or `{"status":"degraded","reasons":[{"kind","count"}]}` ([`health`]) |
//!
//! Entity sets: customers, contacts, currencies, currencyExchangeRates, unitsOfMeasure,
//! paymentTerms, shipmentMethods, shippingAgents, items, itemUnitsOfMeasure, resources,
//! resourceUnitsOfMeasure, unitGroups (read-only: one per item and resource, kept by the
//! domain), salespeople, customerPriceGroups,
//! salesPrices, salesOrders, salesOrderLines, salesInvoices, salesInvoiceLines (read-only),
//! itemLedgerEntries, customerLedgerEntries (read-only), users.
//!
//! # Change feed
//! A collection GET with `Prefer: odata.track-changes` answers all rows in row-version order
//! (paged by `odata.maxpagesize`, `@odata.nextLink`), the last page with `@odata.deltaLink`
//! (`…?$deltatoken=<version>`). The delta link answers rows written since (with `@odata.etag`)
//! and deletions as `{"@odata.context":"…/$deletedEntity","id":…,"reason":"deleted"}`. With
//! `Prefer: wait=N` (≤ 60 s) an empty delta read waits for the next write and answers at once.

pub mod api;
pub mod auth;
pub mod batch;
pub mod error;
pub mod health;
pub mod routes;
mod shape;
pub mod telemetry;
pub mod testing;
mod webservices;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kontor_financials::bootstrap::{self, Company};
use kontor_financials::credentials::{Access, Resource};
use kontor_financials::model::model;
use kontor_financials::service;
use kontor_financials::users::{Authenticator, Principal};
use kontor_store::Db;

use crate::api::{ApiRequest, ApiResponse};
use crate::error::ApiError;
pub use crate::routes::{Permission, PermissionSet, Route, Verb};
pub use crate::shape::odata_errors;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Rows per page when the client does not ask (`Prefer: odata.maxpagesize`).
    pub default_page_size: u64,
    /// The largest page a client may ask for.
    pub max_page_size: u64,
    /// The public base URL (`https://erp.example.com`); by default taken from the `Host` header.
    pub public_url: Option<String>,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// The process's metrics recorder, rendered by `GET /metrics` (empty answer without one).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_page_size: 1000,
            max_page_size: 20_000,
            public_url: None,
            max_body_bytes: 64 << 20,
            metrics: None,
        }
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub auth: Arc<Authenticator>,
    pub company: Company,
    pub config: Arc<Config>,
    /// Bumped after every committed write (of this process, or of any process sharing the
    /// PostgreSQL database, via `LISTEN`/`NOTIFY`): wakes long-polling change-feed requests.
    pub changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// More reasons for `GET /health` (the integration's, in the binary).
    pub health: Option<health::HealthCheck>,
    /// Runs before each scrape of `GET /metrics` (the integration's gauges, in the binary).
    pub on_scrape: Option<telemetry::ScrapeHook>,
}

/// The PostgreSQL channel write transactions notify.
const CHANGES_CHANNEL: &str = "kontor_financials_changes";

/// The longest `Prefer: wait` a change-feed request may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

impl AppState {
    /// Reads the company from a bootstrapped database.
    pub async fn new(db: Db, config: Config) -> Result<AppState, kontor_financials::FinError> {
        let company = bootstrap::company(&db).await?;
        let (changes, _) = tokio::sync::watch::channel(0u64);
        let changes = Arc::new(changes);
        if let Some(pool) = db.as_postgres() {
            tokio::spawn(listen_for_changes(pool.clone(), Arc::downgrade(&changes)));
        }
        Ok(AppState {
            health: None,
            on_scrape: None,
            auth: Arc::new(Authenticator::new(db.clone())),
            db,
            company,
            config: Arc::new(config),
            changes,
        })
    }

    /// Commits a write transaction and wakes change-feed waiters (here and, through
    /// `NOTIFY`, in every process on the same PostgreSQL database).
    pub async fn commit_write(&self, mut tx: kontor_store::Tx) -> Result<(), ApiError> {
        if tx.backend() == kontor_store::Backend::Postgres {
            tx.execute_sql("NOTIFY kontor_financials_changes", vec![]).await?;
        }
        tx.commit().await?;
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }
}

/// Forwards PostgreSQL notifications of writes (also other processes') to the in-process
/// watch; ends when the state is gone.
async fn listen_for_changes(
    pool: kontor_store::sqlx::PgPool,
    changes: std::sync::Weak<tokio::sync::watch::Sender<u64>>,
) {
    use kontor_store::sqlx::postgres::PgListener;
    loop {
        let listener = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANGES_CHANNEL).await?;
            Ok::<_, kontor_store::sqlx::Error>(l)
        };
        match listener.await {
            Ok(mut l) => loop {
                if changes.strong_count() == 0 {
                    return;
                }
                match tokio::time::timeout(Duration::from_secs(5), l.recv()).await {
                    Ok(Ok(_)) => match changes.upgrade() {
                        Some(tx) => tx.send_modify(|n| *n = n.wrapping_add(1)),
                        None => return,
                    },
                    Ok(Err(e)) => {
                        tracing::warn!("change notifications: {e}");
                        break;
                    }
                    Err(_) => {}
                }
            },
            Err(e) => tracing::warn!("change notifications: {e}"),
        }
        if pool.is_closed() || changes.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl AppState {
    /// `GET /health` also reports what `check` says.
    pub fn with_health_check(mut self, check: health::HealthCheck) -> AppState {
        self.health = Some(check);
        self
    }

    /// `GET /metrics` runs `hook` before each scrape.
    pub fn with_scrape_hook(mut self, hook: telemetry::ScrapeHook) -> AppState {
        self.on_scrape = Some(hook);
        self
    }
}

/// Every signed-in user may call the API; what each may read or change is checked inside, per
/// entity set and operation, against the permission sets (`auth::check`).
const API: Permission = Permission::SignedIn {
    inside: "entity sets need D365 READ to read and D365 BUS FULL ACCESS to change, users SUPER",
};

/// The Financials routes, each with the permission it needs (see [`routes`]).
pub fn financials_routes() -> Vec<Route<AppState>> {
    use Verb::{Any, Get};
    let web_services = Permission::SignedIn {
        inside: "the web services need D365 ITEM AVAILABILITY or D365 BUS FULL ACCESS",
    };
    vec![
        Route::new(Any, "/api/v2.0", API, api_handler),
        Route::new(Any, "/api/v2.0/", API, api_handler),
        Route::new(Any, "/api/v2.0/{*rest}", API, api_handler),
        Route::new(Any, "/ODataV4/{*rest}", web_services, webservices::handler),
        Route::new(Get, "/health", Permission::Public, health::handler),
        Route::new(Get, "/metrics", Permission::Public, telemetry::handler),
    ]
}

/// All routes. Every route needs HTTP Basic credentials. Every error answer has the
/// OData error body ([`odata_errors`]; apply it again to a router this one is merged with).
pub fn router(state: AppState) -> Router {
    router_with(state, Vec::new())
}

/// The Financials routes and `extra` (the integration's, in the binary), all built from their
/// route tables ([`routes::build`]: each behind the check of its permission), with the same
/// fallback and layers. An unknown path answers 404 with the OData error body.
pub fn router_with(state: AppState, extra: Vec<Route>) -> Router {
    router_with_pages(state, extra, None)
}

/// [`router_with`] and, when given, `pages` (the web client, `kontor-financials-web`) on every
/// path the route tables do not name, with their own sign-in instead of HTTP Basic, behind the
/// same layers. An HTML answer of the pages is left as it is; a 404 of theirs that is not HTML
/// (an API client asking for a path that does not exist) gets the API's not-found error.
pub fn router_with_pages(state: AppState, extra: Vec<Route>, pages: Option<Router>) -> Router {
    let limit = state.config.max_body_bytes;
    let table =
        financials_routes().into_iter().map(|r| r.with_state(state.clone())).chain(extra).collect();
    let app = routes::build(&state, table);
    let app = match pages {
        None => app.fallback(|| async { not_found() }),
        Some(pages) => app.fallback(move |req: axum::extract::Request| {
            let pages = pages.clone();
            async move {
                use tower::ServiceExt as _;
                let resp = match pages.oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                };
                if resp.status() == StatusCode::NOT_FOUND && !is_html(&resp) {
                    return not_found();
                }
                resp
            }
        }),
    };
    layered(app, limit)
}

fn not_found() -> Response {
    ApiError::not_found("No HTTP resource was found that matches the request URI.").into_response()
}

/// Whether an answer is an HTML page (the web client's; its errors keep their shape).
pub(crate) fn is_html(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

/// The layers every route gets: the body limit, tracing, a panic answered as an internal
/// error, and every error answer in the OData shape.
fn layered(app: Router, body_limit: usize) -> Router {
    let app = app
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("a handler panicked").into_response()
            },
        ));
    odata_errors(app)
}

/// Runs the server on `listener` until `shutdown` completes. The database must have been
/// bootstrapped (`kontor_financials::bootstrap`).
pub async fn serve(
    db: Db,
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::new(db, config).await.map_err(|e| ServeError(e.to_string()))?;
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ServeError(e.to_string()))
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[error("financials server: {0}")]
pub struct ServeError(pub String);

/// `http://host/` from the configuration or the `Host` header.
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config.public_url {
        return format!("{}/", u.trim_end_matches('/'));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}/")
}

pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
        })
        .collect()
}

pub(crate) fn to_http(resp: ApiResponse) -> Response {
    let mut builder = Response::builder().status(resp.status).header("odata-version", "4.0");
    for (k, v) in &resp.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let built = match resp.body {
        Some(body) => builder
            .header(
                header::CONTENT_TYPE,
                "application/json; odata.metadata=minimal; odata.streaming=true",
            )
            .body(Body::from(serde_json::to_vec(&body).unwrap_or_default())),
        None => builder.body(Body::empty()),
    };
    built.unwrap_or_else(|e| ApiError::internal(e).into_response())
}

async fn api_handler(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let root = format!("{}api/v2.0/", base_url(&state, &headers));
    let path =
        uri.path().strip_prefix("/api/v2.0").unwrap_or("").trim_start_matches('/').to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    match path.as_str() {
        "$metadata" => {
            if let Err(e) = auth::check(&principal, Resource::Data, Access::Read) {
                return e.into_response();
            }
            let xml = kontor_odata::csdl::metadata_xml(model());
            (
                [
                    (header::CONTENT_TYPE, "application/xml"),
                    (header::HeaderName::from_static("odata-version"), "4.0"),
                ],
                xml,
            )
                .into_response()
        }
        "$batch" => {
            if method != Method::POST {
                return ApiError::method_not_allowed("$batch requests are sent with POST.")
                    .into_response();
            }
            let content_type =
                headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if content_type.starts_with("application/json") {
                let atomic = headers
                    .get("isolation")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("snapshot"));
                match batch::json_batch(&state, &principal, &body, atomic, &root).await {
                    Ok(json) => (StatusCode::OK, axum::Json(json)).into_response(),
                    Err(e) => e.into_response(),
                }
            } else {
                match batch::multipart(&state, &principal, content_type, &body, &root).await {
                    Ok((ct, bytes)) => (
                        [
                            (header::CONTENT_TYPE, ct),
                            (header::HeaderName::from_static("odata-version"), "4.0".to_owned()),
                        ],
                        bytes,
                    )
                        .into_response(),
                    Err(e) => e.into_response(),
                }
            }
        }
        _ => {
            let req = ApiRequest {
                method,
                path,
                query,
                headers: header_pairs(&headers),
                body: body.to_vec(),
                service_root: root,
            };
            match run(&state, &principal, &req).await {
                Ok(resp) => to_http(resp),
                Err(e) => e.into_response(),
            }
        }
    }
}

/// `Prefer: wait=<seconds>` (RFC 7240), capped.
fn prefer_wait(req: &ApiRequest) -> Option<Duration> {
    req.headers
        .iter()
        .filter(|(k, _)| k == "prefer")
        .flat_map(|(_, v)| v.split(','))
        .find_map(|p| p.trim().strip_prefix("wait=").and_then(|w| w.trim().parse::<u64>().ok()))
        .map(|w| Duration::from_secs(w).min(MAX_WAIT))
}

fn is_empty_delta(resp: &ApiResponse) -> bool {
    resp.body.as_ref().is_some_and(|b| {
        b.get("@odata.deltaLink").is_some()
            && b.get("value").and_then(|v| v.as_array()).is_some_and(Vec::is_empty)
    })
}

/// One request in its own transaction: committed on success, rolled back on any error. A
/// change-feed read with `Prefer: wait=N` that finds nothing waits up to N seconds for a write
/// and reads again (a cheap long poll for sync clients).
async fn run(
    state: &AppState,
    principal: &Principal,
    req: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let deadline = if req.is_read() {
        prefer_wait(req).map(|w| tokio::time::Instant::now() + w)
    } else {
        None
    };
    let mut rx = state.changes.subscribe();
    loop {
        rx.borrow_and_update();
        let resp = run_once(state, principal, req).await?;
        match deadline {
            Some(d) if is_empty_delta(&resp) && tokio::time::Instant::now() < d => {
                if tokio::time::timeout_at(d, rx.changed()).await.is_err() {
                    return Ok(resp);
                }
            }
            _ => return Ok(resp),
        }
    }
}

async fn run_once(
    state: &AppState,
    principal: &Principal,
    req: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    if req.is_read() {
        let mut tx = state.db.begin_read().await?;
        let resp = api::execute(state, principal, req, &mut tx).await?;
        tx.commit().await?;
        return Ok(resp);
    }
    let mut tx = service::begin_write(&state.db).await?;
    let resp = api::execute(state, principal, req, &mut tx).await?;
    state.commit_write(tx).await?;
    Ok(resp)
}
