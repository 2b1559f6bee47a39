//! `GET /health` (public): `{"status":"ok"}`, or `{"status":"degraded","reasons":[{"kind",
//! "count"}…]}` naming only kinds and counts (no messages, ids or secrets: anyone may ask).
//! Financials checks its database; a [`HealthCheck`] given to the state (the integration's, in
//! the binary) adds its own reasons. 200 either way (the service answers); 503 when the database
//! does not.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::AppState;

/// One reason the service is degraded: a kind (`entries_failing`, `credentials_refused` …) and
/// how many things it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReason {
    pub kind: String,
    pub count: u64,
}

/// What `/health` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// `ok` or `degraded`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<HealthReason>,
}

impl HealthReport {
    /// `ok` without reasons, else `degraded` with them.
    pub fn from_reasons(reasons: Vec<HealthReason>) -> HealthReport {
        let status = if reasons.is_empty() { "ok" } else { "degraded" };
        HealthReport { status: status.to_owned(), reasons }
    }
}

type CheckFn = dyn Fn() -> Pin<Box<dyn Future<Output = Vec<HealthReason>> + Send>> + Send + Sync;

/// More reasons for `/health` (empty when all is well).
#[derive(Clone)]
pub struct HealthCheck(Arc<CheckFn>);

impl HealthCheck {
    pub fn new<F, Fut>(check: F) -> HealthCheck
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<HealthReason>> + Send + 'static,
    {
        HealthCheck(Arc::new(move || Box::pin(check())))
    }

    pub async fn reasons(&self) -> Vec<HealthReason> {
        (self.0)().await
    }
}

impl std::fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HealthCheck")
    }
}

/// The database's answer to a trivial query.
pub(crate) async fn database_answers(db: &kontor_store::Db) -> bool {
    db.fetch_one_sql("SELECT 1 AS one", Vec::new()).await.is_ok()
}

pub(crate) async fn handler(State(state): State<AppState>) -> Response {
    if !database_answers(&state.db).await {
        let report = HealthReport::from_reasons(vec![HealthReason {
            kind: "database_unavailable".into(),
            count: 1,
        }]);
        return (StatusCode::SERVICE_UNAVAILABLE, Json(report)).into_response();
    }
    let reasons = match &state.health {
        Some(check) => check.reasons().await,
        None => Vec::new(),
    };
    Json(HealthReport::from_reasons(reasons)).into_response()
}
