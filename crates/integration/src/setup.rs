//! Connection setup and the stored connection.

use std::sync::Arc;

use kontor_connectors::setup::HttpSetupSides;
use kontor_sync::SyncError;
use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn};
use kontor_sync::defaults::MappingOptions;
use kontor_sync::secrets::{self, Changed, RequestedSalesAccount, RequestedTarget, Verdict};
use kontor_sync::setup::{AdminCredentials, SetupReport};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{INCREMENTAL_EVERY, Integration, IntegrationError, Result, connectors, engine_for};

/// The stored connection (no secrets).
pub type ConnectionInfo = kontor_sync::store::ConnectionSettings;

/// The setup guide's answers. A secret left out is taken from the stored credentials only when
/// the request names the URL and account it was stored for ([`kontor_sync::secrets::reuse`]):
/// re-running setup for the same connection needs no secret again, but a changed URL, user or
/// client id needs it entered again (a stored secret never goes to a new place).
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

/// The integration's credentials from setup answers, completed from the stored ones where the
/// rule of [`kontor_sync::secrets::reuse`] allows it. `connection` is the stored connection
/// (its URLs are those of credentials an earlier version stored without them). A secret that
/// may not be reused and is not given is refused, naming the field to enter and why.
pub fn credentials_for(
    req: &SetupRequest,
    stored: Option<&IntegrationCredentials>,
    connection: Option<&ConnectionInfo>,
) -> Result<IntegrationCredentials> {
    let client_id = given(&req.sales_client_id);
    let target = stored.and_then(|s| {
        s.target(connection.map(|c| (c.financials_url.as_str(), c.sales_url.as_str())))
    });
    let requested = RequestedTarget {
        financials_url: req.financials_url.clone(),
        financials_user: req.financials_user.clone(),
        sales_url: req.sales_url.clone(),
        sales: match client_id {
            Some(id) => RequestedSalesAccount::Client(id.clone()),
            None => RequestedSalesAccount::Named(req.sales_user.clone()),
        },
    };
    let verdict = secrets::reuse(target.as_ref(), &requested);
    let mut refused = Vec::new();
    let financials_key =
        match (given(&req.financials_web_service_key), stored, &verdict.financials_key) {
            (Some(k), _, _) => k.clone(),
            (None, Some(s), Verdict::Reuse) => s.financials_key.clone(),
            (None, _, v) => {
                refused.push(enter_again(
                    "financialsWebServiceKey",
                    &format!("the web service access key of {}", req.financials_user),
                    v,
                ));
                String::new()
            }
        };
    let sales = match (client_id, given(&req.sales_client_secret), given(&req.sales_password)) {
        (Some(id), Some(secret), _) => {
            SalesSignIn::ClientCredentials { client_id: id.clone(), client_secret: secret.clone() }
        }
        (_, _, Some(p)) => {
            SalesSignIn::Password { user: req.sales_user.clone(), password: p.clone() }
        }
        (None, Some(_), None) => {
            return Err(IntegrationError::invalid(
                "salesClientSecret needs salesClientId (the application id).",
            ));
        }
        (_, None, None) => match (stored, &verdict.sales_secret) {
            (Some(s), Verdict::Reuse) => s.sales.clone(),
            (_, v) => {
                let field = match stored.map(|s| &s.sales) {
                    Some(SalesSignIn::Password { .. }) if client_id.is_none() => "salesPassword",
                    _ => "salesClientSecret",
                };
                refused.push(enter_again(
                    field,
                    "salesClientId and salesClientSecret (or salesPassword) of the integration user",
                    v,
                ));
                SalesSignIn::Password { user: String::new(), password: String::new() }
            }
        },
    };
    if !refused.is_empty() {
        return Err(IntegrationError::invalid(refused.join(" ")));
    }
    Ok(IntegrationCredentials {
        financials_url: req.financials_url.clone(),
        financials_user: req.financials_user.clone(),
        financials_key,
        sales_url: req.sales_url.clone(),
        sales,
    })
}

/// "`field` must be entered again because …" (or, with nothing stored, "Give …").
fn enter_again(field: &str, what: &str, verdict: &Verdict) -> String {
    let why = match verdict {
        Verdict::EnterAgain(why) if !why.contains(&Changed::NothingStored) => why,
        _ => return format!("Give {field}: {what}."),
    };
    let reasons: Vec<&str> = why.iter().map(|c| c.reason()).collect();
    format!("{field} must be entered again because {}.", reasons.join(" and "))
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
        let connection = self.store.connection().await?;
        // Before anything is sent anywhere: a stored secret only for its own URL and account.
        let credentials = credentials_for(&req, stored.as_ref(), connection.as_ref())?;
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
        self.retry_failing_now("The connection was set up").await?;
        Ok(report)
    }

    /// The stored connection, if any (no secrets).
    pub async fn connection(&self) -> Result<Option<ConnectionInfo>> {
        Ok(self.store.connection().await?)
    }

    /// *Test Connection*: reads the first mapping's table on each side with the connection of
    /// the moment (the engine, or one built from the stored connection and credentials) and
    /// says, per side, whether that worked or why not. [`IntegrationError::NotConnected`] when
    /// nothing is stored to try.
    pub async fn test_connection(&self) -> Result<ConnectionTest> {
        let engine = match self.engine() {
            Ok(engine) => engine,
            Err(_) => self.connect().await?.ok_or(IntegrationError::NotConnected)?,
        };
        let set = self.store.mappings().await?;
        let m = set.mappings.first().ok_or_else(|| {
            IntegrationError::invalid("There is no integration table mapping whose tables to read.")
        })?;
        let check = |r: std::result::Result<u64, kontor_sync::connector::ConnectorError>| match r {
            Ok(_) => SideCheck::Ok,
            Err(e) => SideCheck::Failed(e.to_string()),
        };
        Ok(ConnectionTest {
            financials: check(engine.financials.count(&m.financials.table_ref()).await),
            sales: check(engine.sales.count(&m.sales.table_ref()).await),
        })
    }
}

/// How *Test Connection* went on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "error", rename_all = "camelCase")]
pub enum SideCheck {
    Ok,
    /// The side could not be read: why.
    Failed(String),
}

/// How *Test Connection* went on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionTest {
    pub financials: SideCheck,
    pub sales: SideCheck,
}

impl ConnectionTest {
    pub fn ok(&self) -> bool {
        self.financials == SideCheck::Ok && self.sales == SideCheck::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "3f2b1c1e-8a49-4d3e-9c51-0d7f3f7b9a10";

    fn stored() -> IntegrationCredentials {
        IntegrationCredentials {
            financials_url: "http://fin:8080".into(),
            financials_user: "INTEGRATION".into(),
            financials_key: "stored-key".into(),
            sales_url: "http://sales:8081".into(),
            sales: SalesSignIn::ClientCredentials {
                client_id: APP.into(),
                client_secret: "stored-secret".into(),
            },
        }
    }

    fn request() -> SetupRequest {
        SetupRequest {
            financials_url: "http://fin:8080".into(),
            company_id: Uuid::nil(),
            financials_user: "INTEGRATION".into(),
            financials_web_service_key: None,
            sales_url: "http://sales:8081".into(),
            sales_user: APP.into(),
            sales_client_id: None,
            sales_client_secret: None,
            sales_password: None,
            import_solution: false,
            admin_user: None,
            admin_password: None,
            enable: None,
            unit_group_mapping: false,
        }
    }

    /// `Ok` with the key and secret used, or the refusal's message.
    fn outcome(
        req: &SetupRequest,
        stored: Option<&IntegrationCredentials>,
    ) -> Result<(String, String), String> {
        let c = credentials_for(req, stored, None).map_err(|e| e.to_string())?;
        let secret = match c.sales {
            SalesSignIn::ClientCredentials { client_secret, .. } => client_secret,
            SalesSignIn::Password { password, .. } => password,
        };
        assert_eq!(
            (c.financials_url.as_str(), c.sales_url.as_str()),
            (req.financials_url.as_str(), req.sales_url.as_str())
        );
        Ok((c.financials_key, secret))
    }

    #[test]
    fn setup_fills_in_a_stored_secret_only_for_its_own_url_and_account_and_names_what_to_enter_again()
     {
        let listener = "http://127.0.0.1:9999".to_owned();
        type Change = fn(&mut SetupRequest, &str);
        /// The key and secret used, or the refusal's message.
        type Expected = Result<(&'static str, &'static str), &'static str>;
        #[rustfmt::skip]
        let cases: Vec<(&str, Change, Expected)> = vec![
            ("the same connection", |_, _| {}, Ok(("stored-key", "stored-secret"))),
            ("the same connection, the client id given", |r, _| r.sales_client_id = Some(APP.into()), Ok(("stored-key", "stored-secret"))),
            ("a listener as the Sales URL", |r, l| r.sales_url = l.into(), Err("salesClientSecret must be entered again because the Sales URL changed.")),
            ("a listener as the Financials URL", |r, l| r.financials_url = l.into(), Err("financialsWebServiceKey must be entered again because the Financials URL changed.")),
            ("a listener as both", |r, l| { r.financials_url = l.into(); r.sales_url = l.into() },
                Err("financialsWebServiceKey must be entered again because the Financials URL changed. salesClientSecret must be entered again because the Sales URL changed.")),
            ("another Financials user", |r, _| r.financials_user = "SOMEONE-ELSE".into(), Err("financialsWebServiceKey must be entered again because the Financials user changed.")),
            ("another client id", |r, _| r.sales_client_id = Some("other-app".into()), Err("salesClientSecret must be entered again because the Sales client id changed.")),
            ("a new Sales URL with its secret", |r, l| { r.sales_url = l.into(); r.sales_client_id = Some(APP.into()); r.sales_client_secret = Some("new-secret".into()) }, Ok(("stored-key", "new-secret"))),
            ("a new Financials URL with its key", |r, l| { r.financials_url = l.into(); r.financials_web_service_key = Some("new-key".into()) }, Ok(("new-key", "stored-secret"))),
            ("a new Sales URL with a password", |r, l| { r.sales_url = l.into(); r.sales_password = Some("new-password".into()) }, Ok(("stored-key", "new-password"))),
            ("an empty secret is no secret", |r, l| { r.sales_url = l.into(); r.sales_client_id = Some(APP.into()); r.sales_client_secret = Some(String::new()) }, Err("salesClientSecret must be entered again because the Sales URL changed.")),
        ];
        for (name, change, expected) in cases {
            let mut req = request();
            change(&mut req, &listener);
            let expected =
                expected.map(|(k, s)| (k.to_owned(), s.to_owned())).map_err(str::to_owned);
            assert_eq!(outcome(&req, Some(&stored())), expected, "{name}");
        }
    }

    #[test]
    fn without_stored_credentials_setup_asks_for_every_secret() {
        let err = outcome(&request(), None).unwrap_err();
        assert!(
            err.contains("Give financialsWebServiceKey") && err.contains("Give salesClientSecret"),
            "{err}"
        );
    }

    #[test]
    fn credentials_stored_without_urls_by_an_earlier_version_are_for_the_stored_connections_urls() {
        let mut old = stored();
        old.financials_url.clear();
        old.sales_url.clear();
        let connection = ConnectionInfo {
            id: Uuid::nil(),
            financials_url: "http://fin:8080".into(),
            company_id: Uuid::nil(),
            sales_url: "http://sales:8081".into(),
            financials_user: "INTEGRATION".into(),
            financials_user_id: None,
            sales_user_id: None,
            sales_user_name: APP.into(),
            enabled: true,
        };
        assert!(credentials_for(&request(), Some(&old), Some(&connection)).is_ok());
        let mut moved = request();
        moved.sales_url = "http://127.0.0.1:9999".into();
        let err = credentials_for(&moved, Some(&old), Some(&connection)).unwrap_err().to_string();
        assert!(err.contains("because the Sales URL changed"), "{err}");
        // Without the connection nothing says where they were for: none is reused.
        assert!(credentials_for(&request(), Some(&old), None).is_err());
    }
}
