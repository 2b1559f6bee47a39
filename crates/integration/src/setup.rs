//! Connection setup and the stored connection.

use std::sync::Arc;

use kontor_connectors::setup::HttpSetupSides;
use kontor_sync::SyncError;
use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn};
use kontor_sync::defaults::MappingOptions;
use kontor_sync::setup::{AdminCredentials, SetupReport};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{INCREMENTAL_EVERY, Integration, IntegrationError, Result, connectors, engine_for};

/// The stored connection (no secrets).
pub type ConnectionInfo = kontor_sync::store::ConnectionSettings;

/// The setup guide's answers. Secrets left out are taken from the stored credentials when they
/// belong to the same user (re-running setup needs no secret again).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetupRequest {
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

impl std::fmt::Debug for SetupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupRequest")
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
    req: &SetupRequest,
    stored: Option<&IntegrationCredentials>,
) -> Result<IntegrationCredentials> {
    let financials_key = match (given(&req.financials_web_service_key), stored) {
        (Some(k), _) => k.clone(),
        (None, Some(s)) if s.financials_user.eq_ignore_ascii_case(&req.financials_user) => {
            s.financials_key.clone()
        }
        (None, _) => {
            return Err(IntegrationError::invalid(format!(
                "Give financialsWebServiceKey: the web service access key of {}.",
                req.financials_user
            )));
        }
    };
    let client_id = given(&req.sales_client_id);
    let sales = match (client_id, given(&req.sales_client_secret), given(&req.sales_password)) {
        (Some(id), Some(secret), _) => {
            SalesSignIn::ClientCredentials { client_id: id.clone(), client_secret: secret.clone() }
        }
        (_, _, Some(p)) => {
            SalesSignIn::Password { user: req.sales_user.clone(), password: p.clone() }
        }
        (id, None, None) => match stored.map(|s| &s.sales) {
            Some(c @ SalesSignIn::ClientCredentials { client_id, .. })
                if id.unwrap_or(&req.sales_user) == client_id =>
            {
                c.clone()
            }
            Some(c @ SalesSignIn::Password { user, .. })
                if id.is_none() && user.eq_ignore_ascii_case(&req.sales_user) =>
            {
                c.clone()
            }
            _ => {
                return Err(IntegrationError::invalid(
                    "Give salesClientId and salesClientSecret (or salesPassword) for the integration user.",
                ));
            }
        },
        (None, Some(_), None) => {
            return Err(IntegrationError::invalid(
                "salesClientSecret needs salesClientId (the application id).",
            ));
        }
    };
    Ok(IntegrationCredentials {
        financials_user: req.financials_user.clone(),
        financials_key,
        sales,
    })
}

impl Integration {
    /// Sets the connection up, stores the credentials sealed, and installs a new engine at once
    /// (workers and the other workflows use it for their next job or call). The admin account
    /// is used for this call only.
    pub async fn setup(&self, req: SetupRequest) -> Result<SetupReport> {
        let stored = self.stored_credentials().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "The stored integration credentials are ignored.");
            None
        });
        let credentials = credentials_for(&req, stored.as_ref())?;
        let (financials, sales) =
            connectors(&req.financials_url, req.company_id, &req.sales_url, &credentials);
        let sides = HttpSetupSides {
            financials,
            sales,
            financials_root: req.financials_url.clone(),
            company_id: req.company_id,
            sales_root: req.sales_url.clone(),
        };
        let admin = match (&req.admin_user, &req.admin_password) {
            (Some(u), Some(p)) => Some(AdminCredentials { user: u.clone(), password: p.clone() }),
            _ => None,
        };
        let answers = kontor_sync::setup::SetupRequest {
            financials_url: req.financials_url.clone(),
            company_id: req.company_id,
            financials_user: req.financials_user.clone(),
            sales_url: req.sales_url.clone(),
            sales_user: req.sales_user.clone(),
            import_solution: req.import_solution,
            admin,
            enable: req.enable.clone(),
        };
        let options = MappingOptions { unit_group_mapping: req.unit_group_mapping };
        let mut report =
            kontor_sync::setup::setup_with(&self.store, &sides, answers, options, self.clock.now())
                .await?;
        match &self.sealer {
            Some(sealer) => {
                self.store.save_credentials(&credentials, sealer.as_ref(), self.clock.now()).await?
            }
            None => report.notes.push(
                "The integration's credentials are not stored (this process has no key to seal them): the connection lasts until it stops.".into(),
            ),
        }
        let settings = self
            .store
            .connection()
            .await?
            .ok_or_else(|| SyncError::Store("setup stored no connection".into()))?;
        let engine = Arc::new(engine_for(&self.store, settings, &credentials, self.clock.clone()));
        self.set_engine(engine.clone());
        engine.schedule_incremental(&self.queue, INCREMENTAL_EVERY).await?;
        Ok(report)
    }

    /// The stored connection, if any (no secrets).
    pub async fn connection(&self) -> Result<Option<ConnectionInfo>> {
        Ok(self.store.connection().await?)
    }
}
