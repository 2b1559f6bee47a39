//! Connection setup and the stored connection.

use std::sync::Arc;

use kontor_connectors::setup::HttpSetupSides;
use kontor_jobs::{JobId, ListFilter, Status};
use kontor_sync::SyncError;
use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn};
use kontor_sync::defaults::MappingOptions;
use kontor_sync::jobs;
use kontor_sync::secrets::{self, Changed, RequestedSalesAccount, RequestedTarget, Verdict};
use kontor_sync::setup::{AdminCredentials, SalesPreparation, SetupReport};
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

impl SetupRequest {
    /// What is wrong with the answers before anything is sent anywhere: (the field's name as
    /// the API gives it, a sentence naming it). The guide and the Connection Setup page show
    /// each next to its field; [`Integration::setup`] refuses them all in one message.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (field, url) in [("financialsUrl", &self.financials_url), ("salesUrl", &self.sales_url)]
        {
            if let Some(why) = url_problem(field, url) {
                out.push((field, why));
            }
        }
        for (field, v, what) in [
            (
                "financialsUser",
                &self.financials_user,
                "the Financials user the integration calls the API as",
            ),
            (
                "salesUser",
                &self.sales_user,
                "the integration user in Sales (domain name, e-mail or application id)",
            ),
        ] {
            if v.trim().is_empty() {
                out.push((field, format!("Give {field}: {what}.")));
            }
        }
        match (given(&self.admin_user), given(&self.admin_password)) {
            (Some(_), None) => out.push((
                "adminPassword",
                "Give adminPassword: the password of the administrator account adminUser.".into(),
            )),
            (None, Some(_)) => out.push((
                "adminUser",
                "Give adminUser: the administrator account the password adminPassword is for.".into(),
            )),
            (None, None) if self.import_solution => out.push((
                "adminUser",
                "Importing the solution needs adminUser and adminPassword: a Sales administrator account (System Administrator and Solution Customizer).".into(),
            )),
            _ => {}
        }
        out
    }
}

/// Why `url`, given as `field`, is not the root URL of a service (`None`: it is), as a
/// sentence naming the field.
pub fn url_problem(field: &str, url: &str) -> Option<String> {
    let url = url.trim();
    let example = "for example http://localhost:8080";
    if url.is_empty() {
        return Some(format!("Give {field}: the service's URL, {example}."));
    }
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return Some(format!(
            "Give {field} as a URL starting with http:// or https://, {example}."
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || url.chars().any(char::is_whitespace) {
        return Some(format!("Give {field} with a host name and no spaces, {example}."));
    }
    None
}

/// The assisted setup guide's administrator step ([`Integration::prepare_sales`]). The
/// account is used for that call only; `Debug` shows nothing of it.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrepareSalesRequest {
    pub sales_url: String,
    /// The integration user in Sales (domain name, e-mail or application id).
    pub sales_user: String,
    #[serde(default)]
    pub import_solution: bool,
    pub admin_user: String,
    pub admin_password: String,
}

impl std::fmt::Debug for PrepareSalesRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrepareSalesRequest")
            .field("sales_url", &self.sales_url)
            .field("import_solution", &self.import_solution)
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
        let problems = req.problems();
        if !problems.is_empty() {
            let all: Vec<String> = problems.into_iter().map(|(_, m)| m).collect();
            return Err(IntegrationError::invalid(all.join(" ")));
        }
        let stored = self.stored_credentials().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "The stored integration credentials are ignored.");
            None
        });
        let connection = self.store.connection().await?;
        let was_disabled = connection.as_ref().is_some_and(|c| !c.enabled);
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
        // Setup enables the connection: the entries disabling it held run again.
        if was_disabled {
            for entry in self.integration_entries(&[Status::OnHold]).await? {
                self.queue.restart(entry).await?;
            }
        }
        self.retry_failing_now("The connection was set up").await?;
        Ok(report)
    }

    /// The assisted setup guide's administrator step: with a Sales administrator account,
    /// used for these calls only and kept nowhere, checks that it holds System Administrator
    /// and Solution Customizer (refused naming the roles it lacks), imports the integration
    /// solution when asked and gives the integration user its role. Nothing is stored: the
    /// guide's last step runs [`Integration::setup`] without the account.
    pub async fn prepare_sales(&self, req: PrepareSalesRequest) -> Result<SalesPreparation> {
        let mut problems: Vec<String> = Vec::new();
        problems.extend(url_problem("salesUrl", &req.sales_url));
        if req.sales_user.trim().is_empty() {
            problems.push("Give salesUser: the integration user in Sales (domain name, e-mail or application id).".into());
        }
        if req.admin_user.trim().is_empty() {
            problems.push("Give adminUser: a Sales administrator account (System Administrator and Solution Customizer).".into());
        }
        if req.admin_password.is_empty() {
            problems.push(
                "Give adminPassword: the password of the administrator account adminUser.".into(),
            );
        }
        if !problems.is_empty() {
            return Err(IntegrationError::invalid(problems.join(" ")));
        }
        // Only the Sales side is called, as the administrator: the Financials connector and the
        // integration's own Sales sign-in are never used by these calls.
        let unused = IntegrationCredentials {
            financials_url: String::new(),
            financials_user: String::new(),
            financials_key: String::new(),
            sales_url: req.sales_url.clone(),
            sales: SalesSignIn::Password { user: String::new(), password: String::new() },
        };
        let (financials, sales) = connectors(&req.sales_url, Uuid::nil(), &req.sales_url, &unused);
        let sides = HttpSetupSides {
            financials,
            sales,
            financials_root: String::new(),
            company_id: Uuid::nil(),
            sales_root: req.sales_url.trim().to_owned(),
        };
        let admin = AdminCredentials {
            user: req.admin_user.trim().to_owned(),
            password: req.admin_password,
        };
        Ok(kontor_sync::setup::prepare_sales(
            &sides,
            req.sales_user.trim(),
            req.import_solution,
            &admin,
        )
        .await?)
    }

    /// Seals `text` (the secrets a guide carries from one step to the next in its form) with
    /// the process's key; `None` without a sealer.
    pub fn seal_draft(&self, text: &str) -> Option<String> {
        self.sealer.as_ref().map(|s| s.seal(text))
    }

    /// Opens what [`Integration::seal_draft`] sealed (`None`: not sealed by this key).
    pub fn open_draft(&self, sealed: &str) -> Option<String> {
        self.sealer.as_ref().and_then(|s| s.open(sealed))
    }

    /// *Enable* / *Disable* the connection (Business Central's "Is Enabled"). Disabled, no
    /// synchronization runs: this process's engine is removed, the integration's job queue
    /// entries are set On Hold (in every process: they are in the shared queue), and later
    /// starts open no engine ([`Integration::connect`]). Enabling needs credentials stored for
    /// the connection's URLs and account (else it is refused, nothing changed): the engine is
    /// built from them and the entries the disabling held run again. Setup enables too.
    pub async fn set_enabled(&self, enabled: bool) -> Result<ConnectionInfo> {
        let mut settings = self.store.connection().await?.ok_or(IntegrationError::NotConnected)?;
        if enabled {
            let credentials = self.stored_credentials().await.ok().flatten().ok_or_else(|| {
                IntegrationError::invalid(
                    "The connection cannot be enabled: no credentials are stored for it. Set it up again with its secrets.",
                )
            })?;
            crate::credentials_fit(&credentials, &settings)?;
            settings.enabled = true;
            self.store.save_connection(&settings, self.clock.now()).await?;
            let engine = Arc::new(engine_for(
                &self.store,
                settings.clone(),
                &credentials,
                self.clock.clone(),
            ));
            self.set_engine(engine.clone());
            engine.schedule_incremental(&self.queue, INCREMENTAL_EVERY).await?;
            for entry in self.integration_entries(&[Status::OnHold]).await? {
                self.queue.restart(entry).await?;
            }
        } else {
            settings.enabled = false;
            self.store.save_connection(&settings, self.clock.now()).await?;
            self.engine.clear();
            let waiting = [Status::Ready, Status::Error, Status::OnHoldInactivity];
            for entry in self.integration_entries(&waiting).await? {
                self.queue.set_on_hold(entry).await?;
            }
        }
        Ok(settings)
    }

    /// The ids of the integration's job queue entries in one of `statuses`.
    async fn integration_entries(&self, statuses: &[Status]) -> Result<Vec<JobId>> {
        let mut ids = Vec::new();
        for kind in [jobs::INCREMENTAL, jobs::PRUNE, jobs::FULL_SYNC] {
            for status in statuses {
                let filter = ListFilter {
                    status: Some(*status),
                    kind: Some(kind.into()),
                    ..ListFilter::default()
                };
                ids.extend(self.queue.list(&filter).await?.into_iter().map(|e| e.id));
            }
        }
        Ok(ids)
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
    fn setup_answers_with_a_bad_url_a_missing_user_or_half_an_admin_account_are_refused_naming_the_field()
     {
        type Change = fn(&mut SetupRequest);
        #[rustfmt::skip]
        type Problems = Vec<(&'static str, &'static str)>;
        let cases: Vec<(&str, Change, Problems)> = vec![
            ("good answers", |_| {}, vec![]),
            (
                "no Sales URL",
                |r| r.sales_url = " ".into(),
                vec![(
                    "salesUrl",
                    "Give salesUrl: the service's URL, for example http://localhost:8080.",
                )],
            ),
            (
                "no scheme",
                |r| r.financials_url = "erp.test:8080".into(),
                vec![(
                    "financialsUrl",
                    "Give financialsUrl as a URL starting with http:// or https://, for example http://localhost:8080.",
                )],
            ),
            (
                "no host",
                |r| r.sales_url = "https://:8081/".into(),
                vec![(
                    "salesUrl",
                    "Give salesUrl with a host name and no spaces, for example http://localhost:8080.",
                )],
            ),
            (
                "a space",
                |r| r.sales_url = "http://crm test".into(),
                vec![(
                    "salesUrl",
                    "Give salesUrl with a host name and no spaces, for example http://localhost:8080.",
                )],
            ),
            ("https with a path", |r| r.sales_url = "https://crm.example.com/org1".into(), vec![]),
            (
                "no users",
                |r| {
                    r.financials_user = String::new();
                    r.sales_user = "  ".into()
                },
                vec![
                    (
                        "financialsUser",
                        "Give financialsUser: the Financials user the integration calls the API as.",
                    ),
                    (
                        "salesUser",
                        "Give salesUser: the integration user in Sales (domain name, e-mail or application id).",
                    ),
                ],
            ),
            (
                "an admin without a password",
                |r| r.admin_user = Some("admin".into()),
                vec![(
                    "adminPassword",
                    "Give adminPassword: the password of the administrator account adminUser.",
                )],
            ),
            (
                "a password without an admin",
                |r| r.admin_password = Some("pw".into()),
                vec![(
                    "adminUser",
                    "Give adminUser: the administrator account the password adminPassword is for.",
                )],
            ),
            (
                "an import without an admin",
                |r| r.import_solution = true,
                vec![(
                    "adminUser",
                    "Importing the solution needs adminUser and adminPassword: a Sales administrator account (System Administrator and Solution Customizer).",
                )],
            ),
        ];
        for (name, change, expected) in cases {
            let mut req = request();
            change(&mut req);
            let got = req.problems();
            let got: Vec<(&str, &str)> = got.iter().map(|(f, m)| (*f, m.as_str())).collect();
            assert_eq!(got, expected, "{name}");
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
