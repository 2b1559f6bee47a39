//! kontor-integration: the integration's application layer, the typed workflows every front end
//! calls (the JSON API in `kontor-sync-server`, the command line over it, the pages to come).
//!
//! [`Integration`] holds the sync store, the job queue, the clock, the engine of the moment and
//! the sealer of the integration's credentials. Each workflow is one async method taking typed
//! input and giving a typed result or an [`IntegrationError`] (never an HTTP status):
//!
//! | module | workflows |
//! |---|---|
//! | [`setup`] | [`Integration::setup`], [`Integration::connection`], [`Integration::test_connection`], [`Integration::set_enabled`], [`Integration::prepare_sales`] |
//! | [`mappings`] | [`Integration::mappings`], [`Integration::mapping`], [`Integration::save_mapping`], [`Integration::edit_mapping`], [`Integration::edit_field_mapping`], [`Integration::import_mappings`], [`Integration::export_mappings`], [`Integration::reset_mapping`] |
//! | [`couplings`] | [`Integration::couplings`], [`Integration::couplings_of`], [`Integration::search_sales`], [`Integration::couple`], [`Integration::uncouple`], [`Integration::match_couple`], [`Integration::clean_couplings`], [`Integration::create_in_sales`], [`Integration::coupled_errors`], [`Integration::resolve_coupling`] |
//! | [`full_sync`] | [`Integration::full_sync_review`], [`Integration::start_full_sync`], [`Integration::full_sync_status`], [`Integration::sync_now`] |
//! | [`jobs`] | [`Integration::jobs`], [`Integration::job`], [`Integration::skipped`], [`Integration::retry`], [`Integration::job_queue_entries`], [`Integration::restart_entry`], [`Integration::hold_entry`], [`Integration::health`], [`Integration::degraded_reasons`] |
//!
//! The request and response types derive `Serialize` and `Deserialize`: the server answers
//! them and the command line reads them, so both share one definition. No HTTP crate is linked
//! here; the engine's connectors (`kontor-connectors`, over reqwest) are built from the stored
//! connection in [`engine_for`].

use std::sync::Arc;

use kontor_connectors::{Grant, ODataConnector, Secret, TokenSource};
use kontor_jobs::{Clock, Queue};
use kontor_sync::SyncError;
use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn, Sealer};
use kontor_sync::engine::Engine;
use kontor_sync::jobs::EngineSlot;
use kontor_sync::secrets::{self, RequestedSalesAccount, RequestedTarget, SalesAccount, Verdict};
use kontor_sync::store::{ConnectionSettings, SyncStore};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod couplings;
mod error;
pub mod full_sync;
pub mod jobs;
pub mod mappings;
pub mod setup;

pub use couplings::{
    CleanResult, CoupledError, CoupledErrorsPage, CoupledErrorsQuery, CoupledPair, CouplingRequest,
    CouplingsPage, CouplingsQuery, FoundRecord, MatchCouplingRequest, NewCoupling, SEARCH_TOP,
};
pub use error::IntegrationError;
pub use full_sync::{ReviewLine, SyncNowRequest};
pub use jobs::{
    DegradedReason, DegradedReasons, Health, JobDetail, JobQueueEntry, JobQueueQuery, JobSummary,
    JobsQuery, RetryRequest, RetryResult, SkippedRecord,
};
pub use kontor_sync::coupled::{Resolution, Resolved};
pub use mappings::{FieldEdit, ImportResult, MappingEdit};
pub use setup::{
    ConnectionInfo, ConnectionTest, PrepareSalesRequest, SetupRequest, SideCheck, credentials_for,
    url_problem,
};

/// The result of a workflow.
pub type Result<T, E = IntegrationError> = std::result::Result<T, E>;

/// How often the recurring incremental synchronization of each mapping runs (changes on either
/// side wake it earlier).
pub const INCREMENTAL_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// A list answer, `{"value": […]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed<T> {
    pub value: Vec<T>,
}

impl<T> From<Vec<T>> for Listed<T> {
    fn from(value: Vec<T>) -> Self {
        Listed { value }
    }
}

/// The integration of one process: the sync store, the job queue, the clock, the engine of the
/// moment (shared with the process's workers through [`EngineSlot`]) and the sealer that keeps
/// the integration's credentials encrypted in the store.
#[derive(Clone)]
pub struct Integration {
    pub store: SyncStore,
    pub queue: Queue,
    pub clock: Arc<dyn Clock>,
    engine: EngineSlot,
    sealer: Option<Arc<dyn Sealer>>,
}

/// The name the integration's state had in `kontor-sync-server`.
pub type SyncState = Integration;

impl Integration {
    pub fn new(store: SyncStore, queue: Queue, clock: Arc<dyn Clock>) -> Integration {
        Integration { store, queue, clock, engine: EngineSlot::new(), sealer: None }
    }
    /// Seals the integration's credentials into the store on setup and reads them back in
    /// [`Integration::connect`]. Without a sealer, credentials given to setup are kept in
    /// memory only (the engine runs until the process stops).
    pub fn with_sealer(mut self, sealer: Arc<dyn Sealer>) -> Integration {
        self.sealer = Some(sealer);
        self
    }
    /// Installs (or replaces) the engine the workflows and the slot's workers drive.
    pub fn set_engine(&self, engine: Arc<Engine>) {
        self.engine.set(engine);
    }
    /// The slot workers take their engine from (see `kontor_sync::jobs::handlers_for`).
    pub fn slot(&self) -> EngineSlot {
        self.engine.clone()
    }
    /// The engine of the moment, or [`IntegrationError::NotConnected`].
    pub fn engine(&self) -> Result<Arc<Engine>> {
        self.engine.get().ok_or(IntegrationError::NotConnected)
    }
    /// The stored credentials, opened (`None` without a sealer or when none are stored).
    pub async fn stored_credentials(&self) -> Result<Option<IntegrationCredentials>, SyncError> {
        match &self.sealer {
            Some(sealer) => self.store.credentials(sealer.as_ref()).await,
            None => Ok(None),
        }
    }
    /// Builds the engine from the stored connection and sealed credentials and installs it.
    /// Returns the engine, or `None` when no connection (or no credentials) is stored or the
    /// connection is disabled ([`Integration::set_enabled`]).
    pub async fn connect(&self) -> Result<Option<Arc<Engine>>, SyncError> {
        let Some(settings) = self.store.connection().await? else { return Ok(None) };
        if !settings.enabled {
            return Ok(None);
        }
        let Some(credentials) = self.stored_credentials().await? else { return Ok(None) };
        credentials_fit(&credentials, &settings)?;
        let engine = Arc::new(engine_for(&self.store, settings, &credentials, self.clock.clone()));
        self.set_engine(engine.clone());
        self.retry_failing_now("the connection was opened").await?;
        Ok(Some(engine))
    }

    /// The integration's failing entries (recurring ones waiting for their next retry, and a
    /// full synchronization's steps waiting for theirs or in Error — refused credentials end a
    /// step in Error at once) run again at once: a new connection or new credentials may be what
    /// they needed. Entries On Hold stay on hold. Returns how many.
    pub(crate) async fn retry_failing_now(&self, why: &str) -> Result<u64, SyncError> {
        let mut n = 0;
        let kinds = [
            kontor_sync::jobs::INCREMENTAL,
            kontor_sync::jobs::PRUNE,
            kontor_sync::jobs::FULL_SYNC,
        ];
        for kind in kinds {
            n += self
                .queue
                .retry_failing_now(Some(kind))
                .await
                .map_err(|e| SyncError::Store(e.to_string()))?;
        }
        if n > 0 {
            tracing::info!(entries = n, "{why}: the failing job queue entries run again now.");
        }
        Ok(n)
    }
}

/// Stored credentials are only used for the place they were entered for: the stored
/// connection's URLs and Financials user must be theirs ([`kontor_sync::secrets::reuse`]),
/// else the engine is not built and setup must be run again with the secrets.
pub(crate) fn credentials_fit(
    credentials: &IntegrationCredentials,
    settings: &ConnectionSettings,
) -> Result<(), SyncError> {
    let target = credentials.target(Some((&settings.financials_url, &settings.sales_url)));
    let requested = RequestedTarget {
        financials_url: settings.financials_url.clone(),
        financials_user: settings.financials_user.clone(),
        sales_url: settings.sales_url.clone(),
        // The connection does not record the client id: the credentials' own account.
        sales: match credentials.sales.account() {
            SalesAccount::Client(id) => RequestedSalesAccount::Client(id),
            SalesAccount::User(user) => RequestedSalesAccount::Named(user),
        },
    };
    let verdict = secrets::reuse(target.as_ref(), &requested);
    let why: Vec<&str> = [verdict.financials_key, verdict.sales_secret]
        .iter()
        .flat_map(|v| match v {
            Verdict::Reuse => vec![],
            Verdict::EnterAgain(why) => why.iter().map(|c| c.reason()).collect(),
        })
        .collect();
    if why.is_empty() {
        return Ok(());
    }
    Err(SyncError::Refused(format!(
        "The stored integration credentials were entered for another place than the stored connection ({}): run setup again with the secrets.",
        why.join(", ")
    )))
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
