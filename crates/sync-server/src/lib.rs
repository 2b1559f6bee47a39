//! kontor-sync-server: the integration's JSON API (axum), merged by the `kontor` binary into the
//! Financials server (which puts its authentication in front of it).
//!
//! | route | what |
//! |---|---|
//! | `POST /integration/v1/setup` | connection setup ([`SetupBody`]): stores the connection and the credentials (sealed) and switches the running engine to it; the admin account is used for that call only |
//! | `GET /integration/v1/connection` | the stored connection (no secrets) |
//! | `GET /integration/v1/mappings` | all integration table mappings |
//! | `GET /integration/v1/mappings/export` | the mapping file (download) |
//! | `POST /integration/v1/mappings/import` | replace mappings from a file (validated; marked customised) |
//! | `GET/PUT /integration/v1/mappings/{name}` | one mapping |
//! | `GET /integration/v1/couplings/{mapping}?limit=&offset=` | couplings |
//! | `POST /integration/v1/couplings/{mapping}` `{"financialsId","salesId"}` | couple by hand |
//! | `DELETE /integration/v1/couplings/{mapping}/{side}/{id}` | uncouple |
//! | `POST /integration/v1/couplings/{mapping}/match` `{"fields":[{"field","priority","caseSensitive"}],"caseSensitive","createNew","syncAfterCoupling"}` | match-based coupling with the user's choices (all optional) |
//! | `POST /integration/v1/couplings/{mapping}/clean` | *Find for Deleted*: remove couplings to deleted records |
//! | `POST /integration/v1/full-sync` | *Run Full Synchronization*: build the review and start it |
//! | `GET /integration/v1/full-sync` | review lines with Job Queue Entry / To / From Int. Table job statuses |
//! | `POST /integration/v1/sync-now` `{"mapping"?}` | synchronize modified records now |
//! | `GET /integration/v1/jobs?mapping=&limit=` | Integration Synch. Jobs |
//! | `GET /integration/v1/jobs/{id}` | one job with its errors |
//! | `GET /integration/v1/skipped/{mapping}` | skipped records |
//! | `POST /integration/v1/retry` `{"mapping"?, "id"?}` | Retry / Retry All |
//!
//! Errors answer `{"error":{"code","message"}}`; internal failures are logged, never returned.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use kontor_connectors::setup::HttpSetupSides;
use kontor_connectors::{Grant, ODataConnector, Secret, TokenSource};
use kontor_jobs::{Clock, Queue};
use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn, Sealer};
use kontor_sync::engine::{Engine, Mode};
use kontor_sync::jobs::EngineSlot;
use kontor_sync::mapping::{MappingSet, TableMapping};
use kontor_sync::matching::{MatchCriteria, MatchOptions};
use kontor_sync::setup::{AdminCredentials, SetupRequest};
use kontor_sync::store::{ConnectionSettings, SyncStore};
use kontor_sync::{CoreError, Side, SyncError};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// How often the recurring incremental synchronization of each mapping runs (changes on either
/// side wake it earlier).
pub const INCREMENTAL_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The API's state: the sync store, the job queue, the clock, the engine of the moment (shared
/// with the process's workers through [`EngineSlot`]) and the sealer that keeps the
/// integration's credentials encrypted in the store.
#[derive(Clone)]
pub struct SyncState {
    pub store: SyncStore,
    pub queue: Queue,
    pub clock: Arc<dyn Clock>,
    engine: EngineSlot,
    sealer: Option<Arc<dyn Sealer>>,
}

impl SyncState {
    pub fn new(store: SyncStore, queue: Queue, clock: Arc<dyn Clock>) -> SyncState {
        SyncState { store, queue, clock, engine: EngineSlot::new(), sealer: None }
    }
    /// Seals the integration's credentials into the store on setup and reads them back in
    /// [`SyncState::connect`]. Without a sealer, credentials given to setup are kept in memory
    /// only (the engine runs until the process stops).
    pub fn with_sealer(mut self, sealer: Arc<dyn Sealer>) -> SyncState {
        self.sealer = Some(sealer);
        self
    }
    /// Installs (or replaces) the engine the routes and the slot's workers drive.
    pub fn set_engine(&self, engine: Arc<Engine>) {
        self.engine.set(engine);
    }
    /// The slot workers take their engine from (see `kontor_sync::jobs::handlers_for`).
    pub fn slot(&self) -> EngineSlot {
        self.engine.clone()
    }
    pub fn engine(&self) -> Result<Arc<Engine>, ApiError> {
        self.engine.get().ok_or_else(|| ApiError {
            status: StatusCode::CONFLICT,
            code: "NotConnected",
            message: "The connection to Sales is not set up. Run setup first.".into(),
        })
    }
    /// The stored credentials, opened (`None` without a sealer or when none are stored).
    pub async fn stored_credentials(&self) -> Result<Option<IntegrationCredentials>, SyncError> {
        match &self.sealer {
            Some(sealer) => self.store.credentials(sealer.as_ref()).await,
            None => Ok(None),
        }
    }
    /// Builds the engine from the stored connection and sealed credentials and installs it.
    /// Returns the engine, or `None` when no connection (or no credentials) is stored.
    pub async fn connect(&self) -> Result<Option<Arc<Engine>>, SyncError> {
        let Some(settings) = self.store.connection().await? else { return Ok(None) };
        let Some(credentials) = self.stored_credentials().await? else { return Ok(None) };
        let engine = Arc::new(engine_for(&self.store, settings, &credentials, self.clock.clone()));
        self.set_engine(engine.clone());
        Ok(Some(engine))
    }
}

/// The two HTTP connectors of a connection.
pub fn connectors(
    financials_url: &str,
    company_id: Uuid,
    sales_url: &str,
    credentials: &IntegrationCredentials,
) -> (ODataConnector, ODataConnector) {
    let fin = ODataConnector::financials(
        financials_url,
        company_id,
        &credentials.financials_user,
        &credentials.financials_key,
    );
    let root = sales_url.trim_end_matches('/');
    let grant = match &credentials.sales {
        SalesSignIn::ClientCredentials { client_id, client_secret } => Grant::ClientCredentials {
            client_id: client_id.clone(),
            client_secret: Secret(client_secret.clone()),
        },
        SalesSignIn::Password { user, password } => {
            Grant::Password { username: user.clone(), password: Secret(password.clone()) }
        }
    };
    let sales = ODataConnector::dataverse(
        root,
        TokenSource::new(format!("{root}/oauth2/v2.0/token"), format!("{root}/.default"), grant),
    );
    (fin, sales)
}

/// An engine over HTTP for the stored connection `settings`.
pub fn engine_for(
    store: &SyncStore,
    settings: ConnectionSettings,
    credentials: &IntegrationCredentials,
    clock: Arc<dyn Clock>,
) -> Engine {
    let (fin, sales) =
        connectors(&settings.financials_url, settings.company_id, &settings.sales_url, credentials);
    Engine::new(store.clone(), Arc::new(fin), Arc::new(sales), settings, clock)
}

/// The API's one error type.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
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
            SyncError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal"),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "Integration API failure.");
            return ApiError { status, code, message: "An internal error occurred.".into() };
        }
        ApiError { status, code, message: e.to_string() }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        SyncError::from(e).into()
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

/// All routes, under `/integration/v1`.
pub fn router(state: SyncState) -> Router {
    Router::new()
        .route("/integration/v1/setup", post(setup))
        .route("/integration/v1/connection", get(connection))
        .route("/integration/v1/mappings", get(mappings))
        .route("/integration/v1/mappings/export", get(export))
        .route("/integration/v1/mappings/import", post(import))
        .route("/integration/v1/mappings/{name}", get(mapping).put(put_mapping))
        .route("/integration/v1/couplings/{mapping}", get(couplings).post(couple))
        .route("/integration/v1/couplings/{mapping}/match", post(match_couple))
        .route("/integration/v1/couplings/{mapping}/clean", post(clean_couplings))
        .route("/integration/v1/couplings/{mapping}/{side}/{id}", delete(uncouple))
        .route("/integration/v1/full-sync", post(full_sync).get(full_sync_status))
        .route("/integration/v1/sync-now", post(sync_now))
        .route("/integration/v1/jobs", get(jobs))
        .route("/integration/v1/jobs/{id}", get(job))
        .route("/integration/v1/skipped/{mapping}", get(skipped))
        .route("/integration/v1/retry", post(retry))
        .with_state(state)
}

/// The setup guide's answers. Secrets left out are taken from the stored credentials when they
/// belong to the same user (re-running setup needs no secret again).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetupBody {
    /// Financials root URL (`http://host:port`).
    pub financials_url: String,
    pub company_id: Uuid,
    pub financials_user: String,
    pub financials_web_service_key: Option<String>,
    /// Sales root URL.
    pub sales_url: String,
    /// The integration user in Sales (domain name, e-mail or application id).
    pub sales_user: String,
    /// Credentials the engine signs in to Sales with (client id = application id).
    pub sales_client_id: Option<String>,
    pub sales_client_secret: Option<String>,
    pub sales_password: Option<String>,
    #[serde(default)]
    pub import_solution: bool,
    pub admin_user: Option<String>,
    pub admin_password: Option<String>,
    pub enable: Option<Vec<String>>,
    /// Business Central's "Unit Group Mapping" (off: the legacy UNIT OF MEASURE mapping).
    #[serde(default)]
    pub unit_group_mapping: bool,
}

impl std::fmt::Debug for SetupBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupBody")
            .field("financials_url", &self.financials_url)
            .field("sales_url", &self.sales_url)
            .finish_non_exhaustive()
    }
}

fn given(v: &Option<String>) -> Option<&String> {
    v.as_ref().filter(|s| !s.is_empty())
}

/// The integration's credentials from setup answers, completed from the stored ones.
pub fn credentials_for(
    body: &SetupBody,
    stored: Option<&IntegrationCredentials>,
) -> Result<IntegrationCredentials, ApiError> {
    let financials_key = match (given(&body.financials_web_service_key), stored) {
        (Some(k), _) => k.clone(),
        (None, Some(s)) if s.financials_user.eq_ignore_ascii_case(&body.financials_user) => {
            s.financials_key.clone()
        }
        (None, _) => {
            return Err(bad(format!(
                "Give financialsWebServiceKey: the web service access key of {}.",
                body.financials_user
            )));
        }
    };
    let client_id = given(&body.sales_client_id);
    let sales = match (client_id, given(&body.sales_client_secret), given(&body.sales_password)) {
        (Some(id), Some(secret), _) => {
            SalesSignIn::ClientCredentials { client_id: id.clone(), client_secret: secret.clone() }
        }
        (_, _, Some(p)) => {
            SalesSignIn::Password { user: body.sales_user.clone(), password: p.clone() }
        }
        (id, None, None) => match stored.map(|s| &s.sales) {
            Some(c @ SalesSignIn::ClientCredentials { client_id, .. })
                if id.unwrap_or(&body.sales_user) == client_id =>
            {
                c.clone()
            }
            Some(c @ SalesSignIn::Password { user, .. })
                if id.is_none() && user.eq_ignore_ascii_case(&body.sales_user) =>
            {
                c.clone()
            }
            _ => {
                return Err(bad(
                    "Give salesClientId and salesClientSecret (or salesPassword) for the integration user.",
                ));
            }
        },
        (None, Some(_), None) => {
            return Err(bad("salesClientSecret needs salesClientId (the application id)."));
        }
    };
    Ok(IntegrationCredentials {
        financials_user: body.financials_user.clone(),
        financials_key,
        sales,
    })
}

/// `POST /integration/v1/setup`: sets the connection up, stores the credentials sealed, and
/// installs a new engine at once (workers and routes use it for their next job or request).
async fn setup(State(st): State<SyncState>, body: axum::body::Bytes) -> ApiResult<Json<Value>> {
    let body: SetupBody = serde_json::from_slice(&body).map_err(|e| {
        // The answers carry secrets: only messages that name a field, never a value, are shown.
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
    let stored = st.stored_credentials().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "The stored integration credentials are ignored.");
        None
    });
    let credentials = credentials_for(&body, stored.as_ref())?;
    let (financials, sales) =
        connectors(&body.financials_url, body.company_id, &body.sales_url, &credentials);
    let sides = HttpSetupSides {
        financials,
        sales,
        financials_root: body.financials_url.clone(),
        company_id: body.company_id,
        sales_root: body.sales_url.clone(),
    };
    let admin = match (&body.admin_user, &body.admin_password) {
        (Some(u), Some(p)) => Some(AdminCredentials { user: u.clone(), password: p.clone() }),
        _ => None,
    };
    let req = SetupRequest {
        financials_url: body.financials_url.clone(),
        company_id: body.company_id,
        financials_user: body.financials_user.clone(),
        sales_url: body.sales_url.clone(),
        sales_user: body.sales_user.clone(),
        import_solution: body.import_solution,
        admin,
        enable: body.enable.clone(),
    };
    let options =
        kontor_sync::defaults::MappingOptions { unit_group_mapping: body.unit_group_mapping };
    let mut report =
        kontor_sync::setup::setup_with(&st.store, &sides, req, options, st.clock.now()).await?;
    match &st.sealer {
        Some(sealer) => {
            st.store.save_credentials(&credentials, sealer.as_ref(), st.clock.now()).await?
        }
        None => report.notes.push(
            "The integration's credentials are not stored (this process has no key to seal them): the connection lasts until it stops.".into(),
        ),
    }
    let settings = st
        .store
        .connection()
        .await?
        .ok_or_else(|| SyncError::Store("setup stored no connection".into()))?;
    let engine = Arc::new(engine_for(&st.store, settings, &credentials, st.clock.clone()));
    st.set_engine(engine.clone());
    engine.schedule_incremental(&st.queue, INCREMENTAL_EVERY).await?;
    Ok(Json(serde_json::to_value(report).expect("report serializes")))
}

async fn connection(State(st): State<SyncState>) -> ApiResult<Json<Value>> {
    let c = st.store.connection().await?;
    Ok(Json(serde_json::to_value(c).expect("settings serialize")))
}

async fn mappings(State(st): State<SyncState>) -> ApiResult<Json<MappingSet>> {
    Ok(Json(st.store.mappings().await?))
}

async fn export(State(st): State<SyncState>) -> ApiResult<Response> {
    let set = st.store.mappings().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"kontor-mappings.json\""),
        ],
        set.to_json(),
    )
        .into_response())
}

async fn import(State(st): State<SyncState>, body: String) -> ApiResult<Json<Value>> {
    let set = MappingSet::from_json(&body)?;
    st.store.save_mappings(&set, false, true, st.clock.now()).await?;
    Ok(Json(json!({"imported": set.mappings.len()})))
}

async fn mapping(
    State(st): State<SyncState>,
    Path(name): Path<String>,
) -> ApiResult<Json<TableMapping>> {
    Ok(Json(st.store.mapping(&name).await?))
}

async fn put_mapping(
    State(st): State<SyncState>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<TableMapping>> {
    // Read here rather than by the extractor, so that a bad filter is a 400 naming its position.
    let m = TableMapping::from_value(body)?;
    if m.name != name {
        return Err(bad(format!("The mapping in the body is named {}, not {name}.", m.name)));
    }
    let mut set = st.store.mappings().await?;
    match set.mappings.iter_mut().find(|x| x.name == name) {
        Some(x) => *x = m.clone(),
        None => set.mappings.push(m.clone()),
    }
    set.validate()?;
    st.store.save_mapping(&m, st.clock.now()).await?;
    Ok(Json(m))
}

#[derive(Deserialize)]
struct Paging {
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn couplings(
    State(st): State<SyncState>,
    Path(mapping): Path<String>,
    Query(p): Query<Paging>,
) -> ApiResult<Json<Value>> {
    st.store.mapping(&mapping).await?;
    let list = st
        .store
        .list_couplings(
            &mapping,
            p.limit.unwrap_or(100).clamp(1, 5000),
            p.offset.unwrap_or(0).max(0),
        )
        .await?;
    let total = st.store.coupling_count(&mapping).await?;
    Ok(Json(json!({"count": total, "value": list})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CoupleBody {
    financials_id: Uuid,
    sales_id: Uuid,
}

async fn couple(
    State(st): State<SyncState>,
    Path(mapping): Path<String>,
    Json(b): Json<CoupleBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    st.store.mapping(&mapping).await?;
    st.store.couple(&mapping, b.financials_id, b.sales_id, st.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"mapping": mapping, "financialsId": b.financials_id, "salesId": b.sales_id})),
    ))
}

async fn uncouple(
    State(st): State<SyncState>,
    Path((mapping, side, id)): Path<(String, String, Uuid)>,
) -> ApiResult<StatusCode> {
    let side = Side::parse(&side).ok_or_else(|| bad("The side is 'financials' or 'sales'."))?;
    if st.store.uncouple(&mapping, side, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            message: format!("No coupling of {side} record {id} under {mapping}."),
        })
    }
}

/// `POST /integration/v1/couplings/{mapping}/match` with [`MatchOptions`] as the body (none or
/// `{}`: the mapping's match fields, its create-if-no-match choice, synchronize after coupling).
async fn match_couple(
    State(st): State<SyncState>,
    Path(mapping): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let options: MatchOptions = if body.iter().all(u8::is_ascii_whitespace) {
        MatchOptions::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| bad(format!("The match-based coupling choices are invalid: {e}")))?
    };
    // The choices are checked against the mapping before anything else.
    let m = st.store.mapping(&mapping).await?;
    for pass in m.direction.passes() {
        MatchCriteria::new(&m, pass, &options)?;
    }
    let engine = st.engine()?;
    let reports = engine.match_couple(&mapping, &options).await?;
    Ok(Json(serde_json::to_value(reports).expect("reports serialize")))
}

async fn clean_couplings(
    State(st): State<SyncState>,
    Path(mapping): Path<String>,
) -> ApiResult<Json<Value>> {
    let engine = st.engine()?;
    let removed = engine.clean_deleted_couplings(&mapping).await?;
    Ok(Json(json!({"removed": removed})))
}

async fn full_sync(State(st): State<SyncState>) -> ApiResult<Json<Value>> {
    let engine = st.engine()?;
    engine.prepare_full_sync().await?;
    engine.advance_full_sync(&st.queue).await?;
    Ok(Json(json!({"value": engine.review_status_on(&st.queue).await?})))
}

async fn full_sync_status(State(st): State<SyncState>) -> ApiResult<Json<Value>> {
    let engine = st.engine()?;
    Ok(Json(json!({"value": engine.review_status_on(&st.queue).await?})))
}

#[derive(Deserialize, Default)]
struct SyncNowBody {
    mapping: Option<String>,
}

async fn sync_now(
    State(st): State<SyncState>,
    body: Option<Json<SyncNowBody>>,
) -> ApiResult<Json<Value>> {
    let engine = st.engine()?;
    let body = body.map(|b| b.0).unwrap_or_default();
    let reports = match body.mapping {
        Some(m) => engine.run_mapping(&m, Mode::Incremental).await?,
        None => engine.sync_now().await?,
    };
    Ok(Json(json!({"value": reports})))
}

#[derive(Deserialize)]
struct JobsQuery {
    mapping: Option<String>,
    limit: Option<i64>,
}

async fn jobs(State(st): State<SyncState>, Query(q): Query<JobsQuery>) -> ApiResult<Json<Value>> {
    let list = st.store.jobs(q.mapping.as_deref(), q.limit.unwrap_or(50).clamp(1, 1000)).await?;
    Ok(Json(json!({"value": list})))
}

async fn job(State(st): State<SyncState>, Path(id): Path<Uuid>) -> ApiResult<Json<Value>> {
    let job = st.store.job(id).await?.ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        code: "NotFound",
        message: format!("Integration synch. job {id} does not exist."),
    })?;
    let errors = st.store.job_errors(id).await?;
    Ok(Json(json!({"job": job, "errors": errors})))
}

async fn skipped(
    State(st): State<SyncState>,
    Path(mapping): Path<String>,
) -> ApiResult<Json<Value>> {
    let list = st.store.skipped_records(&mapping).await?;
    let value: Vec<Value> = list
        .into_iter()
        .map(|(side, id, message)| json!({"side": side, "id": id, "message": message}))
        .collect();
    Ok(Json(json!({"value": value})))
}

#[derive(Deserialize, Default)]
struct RetryBody {
    mapping: Option<String>,
    id: Option<Uuid>,
}

async fn retry(
    State(st): State<SyncState>,
    body: Option<Json<RetryBody>>,
) -> ApiResult<Json<Value>> {
    let b = body.map(|b| b.0).unwrap_or_default();
    let n = st.store.retry(b.mapping.as_deref(), b.id).await?;
    Ok(Json(json!({"retried": n})))
}
