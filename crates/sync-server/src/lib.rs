//! kontor-sync-server: the integration's JSON API (axum), a route table ([`routes`]) the `kontor`
//! binary gives the Financials server (`kontor_financials_server::router_with`), which builds
//! the routes from it behind HTTP Basic authentication with Financials users, the check of each
//! route's permission set and its layers. Each handler extracts the request, calls one workflow
//! of `kontor-integration` and maps its [`IntegrationError`] to a status and the error body.
//!
//! Permissions (Financials permission sets): reading needs `D365 DYN CRM READ` (READ below),
//! changing needs `D365 DYN CRM MGT` (MGT; includes READ), the setup `SUPER` (includes everything).
//! Without credentials, or with wrong ones: 401; without the permission set: 403 naming it.
//!
//! | route | permission | what |
//! |---|---|---|
//! | `POST /integration/v1/setup` | SUPER | connection setup ([`SetupRequest`]): stores the connection and the credentials (sealed) and switches the running engine to it; the admin account is used for that call only |
//! | `GET /integration/v1/connection` | READ | the stored connection (no secrets) |
//! | `GET /integration/v1/mappings` | READ | all integration table mappings |
//! | `GET /integration/v1/mappings/export` | READ | the mapping file (download) |
//! | `POST /integration/v1/mappings/import` | MGT | replace mappings from a file (validated; marked customised) |
//! | `GET/PUT /integration/v1/mappings/{name}` | READ (GET), MGT (PUT) | one mapping |
//! | `POST /integration/v1/mappings/{name}/reset` | MGT | put one mapping back to its default |
//! | `GET /integration/v1/couplings/{mapping}?limit=&offset=` | READ | couplings |
//! | `POST /integration/v1/couplings/{mapping}` `{"financialsId","salesId"}` | MGT | couple by hand |
//! | `DELETE /integration/v1/couplings/{mapping}/{side}/{id}` | MGT | uncouple |
//! | `POST /integration/v1/couplings/{mapping}/match` `{"fields":[{"field","priority","caseSensitive"}],"caseSensitive","createNew","syncAfterCoupling"}` | MGT | match-based coupling with the user's choices (all optional) |
//! | `POST /integration/v1/couplings/{mapping}/clean` | MGT | *Find for Deleted*: remove couplings to deleted records |
//! | `POST /integration/v1/full-sync` | MGT | *Run Full Synchronization*: build the review and start it |
//! | `GET /integration/v1/full-sync` | READ | review lines with Job Queue Entry / To / From Int. Table job statuses |
//! | `POST /integration/v1/sync-now` `{"mapping"?}` | MGT | synchronize modified records now |
//! | `GET /integration/v1/jobs?mapping=&limit=` | READ | Integration Synch. Jobs |
//! | `GET /integration/v1/jobs/{id}` | READ | one job with its errors |
//! | `GET /integration/v1/skipped/{mapping}` | READ | skipped records |
//! | `POST /integration/v1/retry` `{"mapping"?, "id"?}` | MGT | Retry / Retry All |
//! | `GET /integration/v1/job-queue-entries?status=&limit=&offset=` | READ | job queue entries |
//! | `POST /integration/v1/job-queue-entries/{id}/restart` | MGT | Restart (Set Status to Ready) |
//! | `POST /integration/v1/job-queue-entries/{id}/hold` | MGT | Set Status to On Hold |
//!
//! Errors answer `{"error":{"code","message"}}`; internal failures are logged, never returned.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontor_financials_server::{Permission, PermissionSet, Route, Verb};
use kontor_integration::{
    CleanResult, CouplingRequest, CouplingsPage, CouplingsQuery, ImportResult, Integration,
    IntegrationError, JobDetail, JobQueueEntry, JobQueueQuery, JobSummary, JobsQuery, Listed,
    MatchCouplingRequest, NewCoupling, RetryRequest, RetryResult, ReviewLine, SkippedRecord,
    SyncNowRequest,
};
use kontor_jobs::JobError;
use kontor_sync::engine::PassReport;
use kontor_sync::mapping::{MappingSet, TableMapping};
use kontor_sync::setup::SetupReport;
use kontor_sync::{CoreError, Side, SyncError};
use serde_json::{Value, json};
use uuid::Uuid;

pub use kontor_integration::{
    ConnectionInfo, INCREMENTAL_EVERY, SetupRequest, SyncState, connectors, credentials_for,
    engine_for,
};

/// The setup answers under their former name.
pub type SetupBody = SetupRequest;

/// The API's one error type.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    fn internal(e: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "Integration API failure.");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "Internal",
            message: "An internal error occurred.".into(),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        let (status, code) = match &e {
            SyncError::InvalidMapping { .. } | SyncError::InvalidFilter { .. } => {
                (StatusCode::BAD_REQUEST, "InvalidMapping")
            }
            SyncError::Refused(_) | SyncError::Core(CoreError::Refused(_)) => {
                (StatusCode::BAD_REQUEST, "Refused")
            }
            SyncError::Core(_) => (StatusCode::BAD_REQUEST, "InvalidMapping"),
            SyncError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            SyncError::Connector(c) if c.is_transient() => {
                (StatusCode::SERVICE_UNAVAILABLE, "Unavailable")
            }
            SyncError::Connector(_) => (StatusCode::BAD_GATEWAY, "SideRefused"),
            SyncError::Store(_) => return ApiError::internal(&e),
        };
        ApiError { status, code, message: e.to_string() }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        SyncError::from(e).into()
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        let (status, code) = match &e {
            JobError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            JobError::InvalidStatus { .. } => (StatusCode::CONFLICT, "InvalidStatus"),
            JobError::Invalid(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            _ => return ApiError::internal(&e),
        };
        ApiError { status, code, message: e.to_string() }
    }
}

impl From<IntegrationError> for ApiError {
    fn from(e: IntegrationError) -> Self {
        match e {
            IntegrationError::NotConnected => ApiError {
                status: StatusCode::CONFLICT,
                code: "NotConnected",
                message: e.to_string(),
            },
            IntegrationError::Invalid(message) => bad(message),
            IntegrationError::NotFound(message) => {
                ApiError { status: StatusCode::NOT_FOUND, code: "NotFound", message }
            }
            IntegrationError::Sync(e) => e.into(),
            IntegrationError::Queue(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}})))
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError { status: StatusCode::BAD_REQUEST, code: "BadRequest", message: message.into() }
}

/// Reading the integration.
const READ: Permission = Permission::Set(PermissionSet::DynCrmRead);
/// Changing it (includes reading).
const MGT: Permission = Permission::Set(PermissionSet::DynCrmMgt);

/// The route table: every route under `/integration/v1` with the Financials permission set it
/// needs. The Financials server builds its router from it (`router_with(state,
/// routes(integration))`), checking the permission before the handler runs.
pub fn routes(state: Integration) -> Vec<Route> {
    table().into_iter().map(|r| r.with_state(state.clone())).collect()
}

/// The integration's part of Financials' public `GET /health` (give it to
/// `AppState::with_health_check`): its failing entries and, from their last errors, Sales or
/// Financials unreachable and credentials refused, as kinds and counts only.
pub fn health_check(it: Integration) -> kontor_financials_server::health::HealthCheck {
    use kontor_financials_server::health::{HealthCheck, HealthReason};
    HealthCheck::new(move || {
        let it = it.clone();
        async move {
            match it.degraded_reasons().await {
                Ok(reasons) => reasons
                    .into_iter()
                    .map(|(kind, count)| HealthReason { kind: kind.as_str().to_owned(), count })
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "The integration's health could not be read.");
                    vec![HealthReason { kind: "integration_unreadable".into(), count: 1 }]
                }
            }
        }
    })
}

/// The integration's gauges for Financials' `GET /metrics` (give it to
/// `AppState::with_scrape_hook`), set before each scrape: `kontor_job_queue_entries{status}`
/// and `kontor_sync_lag_seconds{mapping,direction}` (the age of the oldest change not yet
/// synchronized; 0 when none waits).
pub fn scrape_hook(it: Integration) -> kontor_financials_server::telemetry::ScrapeHook {
    kontor_financials_server::telemetry::ScrapeHook::new(move || {
        let it = it.clone();
        async move {
            match it.job_queue_counts().await {
                Ok(counts) => {
                    for (status, n) in counts {
                        metrics::gauge!("kontor_job_queue_entries", "status" => status.as_str())
                            .set(n as f64);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "The job queue could not be counted."),
            }
            match it.lag().await {
                Ok(lags) => {
                    for l in lags {
                        metrics::gauge!("kontor_sync_lag_seconds", "mapping" => l.mapping,
                            "direction" => l.pass.as_str())
                        .set(l.seconds);
                    }
                }
                // The lag of a moment the sides cannot be read is unknown: the gauges keep their
                // last values, and the failing runs show in `/health`.
                Err(e) => tracing::warn!(error = %e, "The integration's lag could not be read."),
            }
        }
    })
}

/// [`routes`] before the state is given.
pub fn table() -> Vec<Route<Integration>> {
    use Verb::{Delete, Get, Post, Put};
    vec![
        Route::new(Post, "/integration/v1/setup", Permission::Set(PermissionSet::Super), setup),
        Route::new(Get, "/integration/v1/connection", READ, connection),
        Route::new(Get, "/integration/v1/mappings", READ, mappings),
        Route::new(Get, "/integration/v1/mappings/export", READ, export),
        Route::new(Post, "/integration/v1/mappings/import", MGT, import),
        Route::new(Get, "/integration/v1/mappings/{name}", READ, mapping),
        Route::new(Put, "/integration/v1/mappings/{name}", MGT, put_mapping),
        Route::new(Post, "/integration/v1/mappings/{name}/reset", MGT, reset_mapping),
        Route::new(Get, "/integration/v1/couplings/{mapping}", READ, couplings),
        Route::new(Post, "/integration/v1/couplings/{mapping}", MGT, couple),
        Route::new(Post, "/integration/v1/couplings/{mapping}/match", MGT, match_couple),
        Route::new(Post, "/integration/v1/couplings/{mapping}/clean", MGT, clean_couplings),
        Route::new(Delete, "/integration/v1/couplings/{mapping}/{side}/{id}", MGT, uncouple),
        Route::new(Post, "/integration/v1/full-sync", MGT, full_sync),
        Route::new(Get, "/integration/v1/full-sync", READ, full_sync_status),
        Route::new(Post, "/integration/v1/sync-now", MGT, sync_now),
        Route::new(Get, "/integration/v1/jobs", READ, jobs),
        Route::new(Get, "/integration/v1/jobs/{id}", READ, job),
        Route::new(Get, "/integration/v1/skipped/{mapping}", READ, skipped),
        Route::new(Post, "/integration/v1/retry", MGT, retry),
        Route::new(Get, "/integration/v1/job-queue-entries", READ, job_queue_entries),
        Route::new(Post, "/integration/v1/job-queue-entries/{id}/restart", MGT, restart_entry),
        Route::new(Post, "/integration/v1/job-queue-entries/{id}/hold", MGT, hold_entry),
    ]
}

/// `POST /integration/v1/setup`. The answers are read here so that a parse error never shows a
/// value (they carry secrets).
async fn setup(
    State(it): State<Integration>,
    body: axum::body::Bytes,
) -> ApiResult<Json<SetupReport>> {
    let req: SetupRequest = serde_json::from_slice(&body).map_err(|e| {
        // Only messages that name a field, never a value, are shown.
        let text = e.to_string();
        if text.starts_with("unknown field") || text.starts_with("missing field") {
            bad(format!("The setup answers are invalid: {text}"))
        } else {
            bad(format!(
                "The setup answers are invalid at line {} column {}: a value is not of the expected type, or the body is not JSON.",
                e.line(),
                e.column()
            ))
        }
    })?;
    Ok(Json(it.setup(req).await?))
}

async fn connection(State(it): State<Integration>) -> ApiResult<Json<Option<ConnectionInfo>>> {
    Ok(Json(it.connection().await?))
}

async fn mappings(State(it): State<Integration>) -> ApiResult<Json<MappingSet>> {
    Ok(Json(it.mappings().await?))
}

async fn export(State(it): State<Integration>) -> ApiResult<Response> {
    let file = it.export_mappings().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"kontor-mappings.json\""),
        ],
        file,
    )
        .into_response())
}

async fn import(State(it): State<Integration>, body: String) -> ApiResult<Json<ImportResult>> {
    Ok(Json(it.import_mappings(&body).await?))
}

async fn mapping(
    State(it): State<Integration>,
    Path(name): Path<String>,
) -> ApiResult<Json<TableMapping>> {
    Ok(Json(it.mapping(&name).await?))
}

async fn put_mapping(
    State(it): State<Integration>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<TableMapping>> {
    // Read here rather than by the extractor, so that a bad filter is a 400 naming its position.
    let m = TableMapping::from_value(body)?;
    Ok(Json(it.save_mapping(&name, m).await?))
}

async fn reset_mapping(
    State(it): State<Integration>,
    Path(name): Path<String>,
) -> ApiResult<Json<TableMapping>> {
    Ok(Json(it.reset_mapping(&name).await?))
}

async fn couplings(
    State(it): State<Integration>,
    Path(mapping): Path<String>,
    Query(page): Query<CouplingsQuery>,
) -> ApiResult<Json<CouplingsPage>> {
    Ok(Json(it.couplings(&mapping, page).await?))
}

async fn couple(
    State(it): State<Integration>,
    Path(mapping): Path<String>,
    Json(req): Json<CouplingRequest>,
) -> ApiResult<(StatusCode, Json<NewCoupling>)> {
    Ok((StatusCode::CREATED, Json(it.couple(&mapping, req).await?)))
}

async fn uncouple(
    State(it): State<Integration>,
    Path((mapping, side, id)): Path<(String, String, Uuid)>,
) -> ApiResult<StatusCode> {
    let side = Side::parse(&side).ok_or_else(|| bad("The side is 'financials' or 'sales'."))?;
    it.uncouple(&mapping, side, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /integration/v1/couplings/{mapping}/match` with [`MatchCouplingRequest`] as the body
/// (none or `{}`: the mapping's match fields, its create-if-no-match choice, synchronize after
/// coupling).
async fn match_couple(
    State(it): State<Integration>,
    Path(mapping): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Vec<PassReport>>> {
    let options: MatchCouplingRequest = if body.iter().all(u8::is_ascii_whitespace) {
        MatchCouplingRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| bad(format!("The match-based coupling choices are invalid: {e}")))?
    };
    Ok(Json(it.match_couple(&mapping, &options).await?))
}

async fn clean_couplings(
    State(it): State<Integration>,
    Path(mapping): Path<String>,
) -> ApiResult<Json<CleanResult>> {
    Ok(Json(it.clean_couplings(&mapping).await?))
}

async fn full_sync(State(it): State<Integration>) -> ApiResult<Json<Listed<ReviewLine>>> {
    it.full_sync_review().await?;
    Ok(Json(it.start_full_sync().await?.into()))
}

async fn full_sync_status(State(it): State<Integration>) -> ApiResult<Json<Listed<ReviewLine>>> {
    Ok(Json(it.full_sync_status().await?.into()))
}

async fn sync_now(
    State(it): State<Integration>,
    body: Option<Json<SyncNowRequest>>,
) -> ApiResult<Json<Listed<PassReport>>> {
    let req = body.map(|b| b.0).unwrap_or_default();
    Ok(Json(it.sync_now(req).await?.into()))
}

async fn jobs(
    State(it): State<Integration>,
    Query(q): Query<JobsQuery>,
) -> ApiResult<Json<Listed<JobSummary>>> {
    Ok(Json(it.jobs(q).await?.into()))
}

async fn job(State(it): State<Integration>, Path(id): Path<Uuid>) -> ApiResult<Json<JobDetail>> {
    Ok(Json(it.job(id).await?))
}

async fn skipped(
    State(it): State<Integration>,
    Path(mapping): Path<String>,
) -> ApiResult<Json<Listed<SkippedRecord>>> {
    Ok(Json(it.skipped(&mapping).await?.into()))
}

async fn retry(
    State(it): State<Integration>,
    body: Option<Json<RetryRequest>>,
) -> ApiResult<Json<RetryResult>> {
    let req = body.map(|b| b.0).unwrap_or_default();
    Ok(Json(it.retry(req).await?))
}

async fn job_queue_entries(
    State(it): State<Integration>,
    Query(q): Query<JobQueueQuery>,
) -> ApiResult<Json<Listed<JobQueueEntry>>> {
    Ok(Json(it.job_queue_entries(q).await?.into()))
}

async fn restart_entry(
    State(it): State<Integration>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<JobQueueEntry>> {
    Ok(Json(it.restart_entry(id).await?))
}

async fn hold_entry(
    State(it): State<Integration>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<JobQueueEntry>> {
    Ok(Json(it.hold_entry(id).await?))
}
