//! Server configuration and shared state.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kontor_sales::secrets::SealingKey;
use kontor_sales::solution::KONTOR_SOLUTION;
use kontor_store::Db;

use crate::error::{ApiError, ApiResult};
use crate::limits::{Limiter, Limits};

/// How the Sales server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Lifetime of issued bearer tokens (default one hour, like Entra ID).
    pub token_lifetime: Duration,
    /// Service protection limits; `None` (the default) turns them off.
    pub limits: Option<Limits>,
    /// The URL clients reach the server at (`http://localhost:8081`); by default taken from each
    /// request's `Host` header.
    pub public_url: Option<String>,
    /// Seals the stored Financials access key.
    pub sealing_key: SealingKey,
    /// Largest page (Dataverse: 5,000).
    pub max_page_size: usize,
    /// The process's metrics recorder, rendered by `GET /metrics` (empty answer without one).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token_lifetime: Duration::from_secs(3600),
            limits: None,
            public_url: None,
            sealing_key: SealingKey::generate(),
            max_page_size: 5000,
            metrics: None,
        }
    }
}

impl Config {
    /// The configuration from the environment: the sealing key from `KONTOR_SECRET_KEY` or
    /// `<data_dir>/secret.key` (created when missing), limits from `KONTOR_SALES_LIMITS`
    /// (`on`, `off` or `requests=6000,window=300,execution=1200,concurrent=52`; unset = off), the public URL
    /// from `KONTOR_SALES_URL`.
    pub fn from_env(data_dir: Option<&std::path::Path>) -> Result<Config, String> {
        let sealing_key = SealingKey::load(data_dir).map_err(|e| e.to_string())?;
        let limits = match std::env::var("KONTOR_SALES_LIMITS") {
            Ok(v) => {
                crate::limits::parse_setting(&v).map_err(|e| format!("KONTOR_SALES_LIMITS: {e}"))?
            }
            Err(_) => None,
        };
        Ok(Config {
            sealing_key,
            limits,
            public_url: std::env::var("KONTOR_SALES_URL").ok().filter(|u| !u.is_empty()),
            ..Config::default()
        })
    }
}

struct Inner {
    db: Db,
    config: Config,
    limiter: Option<Limiter>,
    solution: Mutex<Option<(Instant, bool)>>,
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// How long the "is the solution installed" answer is cached (other processes may import it).
const SOLUTION_CACHE: Duration = Duration::from_secs(2);

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        let limiter = config.limits.clone().map(Limiter::new);
        AppState(Arc::new(Inner { db, config, limiter, solution: Mutex::new(None) }))
    }
    pub fn db(&self) -> &Db {
        &self.0.db
    }
    pub fn config(&self) -> &Config {
        &self.0.config
    }
    pub fn limiter(&self) -> Option<&Limiter> {
        self.0.limiter.as_ref()
    }

    /// Whether the Kontor integration solution is installed.
    pub async fn solution_installed(&self) -> ApiResult<bool> {
        if let Ok(cache) = self.0.solution.lock()
            && let Some((at, v)) = *cache
            && at.elapsed() < SOLUTION_CACHE
        {
            return Ok(v);
        }
        let v = kontor_sales::directory::installed_solution(self.db(), KONTOR_SOLUTION)
            .await
            .map_err(ApiError::from)?
            .is_some();
        if let Ok(mut cache) = self.0.solution.lock() {
            *cache = Some((Instant::now(), v));
        }
        Ok(v)
    }

    pub fn forget_solution_cache(&self) {
        if let Ok(mut cache) = self.0.solution.lock() {
            *cache = None;
        }
    }
}
