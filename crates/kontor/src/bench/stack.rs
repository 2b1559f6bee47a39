//! The benchmark's parts: fresh databases, the Financials and Sales servers on loopback ports,
//! and small authenticated HTTP helpers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kontor_connectors::{Grant, ODataConnector, TokenSource};
use kontor_store::Db;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

use super::DbBackend;
use super::seed::Seeded;
use crate::demo;

/// Where the stores live: SQLite files in one temporary folder, or fresh PostgreSQL databases.
pub struct Databases {
    backend: DbBackend,
    dir: Option<TempDir>,
}

impl Databases {
    pub async fn new(backend: DbBackend) -> anyhow::Result<Databases> {
        let dir = match backend {
            DbBackend::Sqlite => Some(tempfile::Builder::new().prefix("kontor-bench-").tempdir()?),
            DbBackend::Postgres => None,
        };
        Ok(Databases { backend, dir })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
        }
    }

    /// The URL of a new, empty database called `name` (SQLite: a file; PostgreSQL: a database).
    pub async fn url(&self, name: &str) -> anyhow::Result<String> {
        Ok(match (&self.dir, self.backend) {
            (Some(dir), _) => {
                format!("sqlite:{}?mode=rwc", dir.path().join(format!("{name}.sqlite")).display())
            }
            (None, _) => kontor_testkit::pg::url().await,
        })
    }
}

/// An HTTP client with one way of authenticating.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    /// Prefix of every path (`http://127.0.0.1:port/api/data/v9.2`).
    pub base: String,
    auth: Auth,
}

#[derive(Clone)]
enum Auth {
    Basic { user: String, password: String },
    Bearer(String),
}

/// One answer: status and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Api {
    pub fn basic(client: reqwest::Client, base: String, user: &str, password: &str) -> Api {
        Api { client, base, auth: Auth::Basic { user: user.into(), password: password.into() } }
    }
    /// The Basic password (web service key), if this client uses one.
    pub fn password(&self) -> Option<String> {
        match &self.auth {
            Auth::Basic { password, .. } => Some(password.clone()),
            Auth::Bearer(_) => None,
        }
    }
    pub fn bearer(client: reqwest::Client, base: String, token: String) -> Api {
        Api { client, base, auth: Auth::Bearer(token) }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/{path}", self.base)
        };
        let r = self.client.request(method, url).header("Accept", "application/json");
        match &self.auth {
            Auth::Basic { user, password } => r.basic_auth(user, Some(password)),
            Auth::Bearer(t) => r.bearer_auth(t),
        }
    }

    /// Sends and reads the JSON answer, whatever the status.
    pub async fn send(&self, r: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let resp = r.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Answer { status, body })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.send(self.request(Method::GET, path)).await
    }

    /// A request that must succeed (2xx); its body.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut r = self.request(method.clone(), path);
        if let Some(b) = body {
            r = r.json(b);
        }
        let a = self.send(r).await?;
        if !a.status.is_success() {
            bail!("{method} {path}: {} {}", a.status, a.body);
        }
        Ok(a.body)
    }

    /// Every row of a collection, following `@odata.nextLink`.
    pub async fn all(&self, path: &str, page: usize) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(p) = next.take() {
            let r =
                self.request(Method::GET, &p).header("Prefer", format!("odata.maxpagesize={page}"));
            let a = self.send(r).await?;
            if !a.status.is_success() {
                bail!("GET {p}: {} {}", a.status, a.body);
            }
            if let Some(rows) = a.body.get("value").and_then(Value::as_array) {
                out.extend(rows.iter().cloned());
            }
            next = a.body.get("@odata.nextLink").and_then(Value::as_str).map(str::to_owned);
        }
        Ok(out)
    }
}

pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(600))
        .build()?)
}

/// A running Sales with the integration's application user and the salespeople's users.
pub struct Sales {
    /// Kept so that the server runs as long as this value lives.
    _server: kontor_sales_server::testing::TestServer,
    pub base_url: String,
    /// The administrator (a person making changes in Sales).
    pub admin: Api,
    /// The integration user (application user, client credentials).
    pub integration: Api,
    pub integration_user_id: Uuid,
    pub client_id: Uuid,
    pub client_secret: String,
}

impl Sales {
    /// Starts a fresh Sales on `db_url` and prepares it like the setup guide would.
    pub async fn start(db_url: &str, _seeded: &Seeded) -> anyhow::Result<Sales> {
        let server = kontor_sales_server::testing::spawn_for_test(db_url).await?;
        let base_url = server.base_url.clone();
        let api_url = format!("{base_url}{}", kontor_sales_server::API_PREFIX);
        let client = http_client()?;
        let admin_token = token(
            &client,
            &base_url,
            &[
                ("grant_type", "password"),
                ("username", kontor_sales::bootstrap::ADMIN_USER),
                ("password", &server.admin_password),
            ],
        )
        .await?;
        let admin = Api::bearer(client.clone(), api_url.clone(), admin_token);

        // The integration's application user, with the System Administrator role.
        let client_id = Uuid::new_v4();
        let integration_user_id = Uuid::new_v4();
        admin
            .ok(
                Method::POST,
                "systemusers",
                Some(&json!({
                    "systemuserid": integration_user_id, "applicationid": client_id,
                    "firstname": "Kontor", "lastname": "Integration",
                })),
            )
            .await
            .context("create the integration user in Sales")?;
        let secret = admin
            .ok(
                Method::POST,
                &format!("systemusers({integration_user_id})/Microsoft.Dynamics.CRM.kontor_SetClientSecret"),
                Some(&json!({})),
            )
            .await?;
        let client_secret = secret
            .get("ClientSecret")
            .and_then(Value::as_str)
            .context("no ClientSecret")?
            .to_owned();
        let role =
            kontor_sales::security::role_id_for(kontor_sales::security::SYSTEM_ADMINISTRATOR);
        admin
            .ok(
                Method::POST,
                &format!("systemusers({integration_user_id})/systemuserroles_association/$ref"),
                Some(&json!({ "@odata.id": format!("{api_url}/roles({role})") })),
            )
            .await
            .context("assign the integration user's role")?;

        // Sales users for the demo salespeople (SALESPEOPLE couples them by e-mail).
        for s in demo::generate(&demo::Spec::bench(0)).salespeople {
            let name = s["displayName"].as_str().unwrap_or_default();
            let (first, last) = name.split_once(' ').unwrap_or((name, ""));
            admin
                .ok(
                    Method::POST,
                    "systemusers",
                    Some(&json!({
                        "firstname": first, "lastname": last,
                        "internalemailaddress": s["email"], "domainname": s["email"],
                    })),
                )
                .await
                .context("create a salesperson's Sales user")?;
        }

        let integration_token = token(
            &client,
            &base_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id.to_string()),
                ("client_secret", &client_secret),
            ],
        )
        .await?;
        let integration = Api::bearer(client, api_url, integration_token);
        Ok(Sales {
            _server: server,
            base_url,
            admin,
            integration,
            integration_user_id,
            client_id,
            client_secret,
        })
    }
}

async fn token(
    client: &reqwest::Client,
    base: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<String> {
    let r = client.post(format!("{base}/oauth2/v2.0/token")).form(form).send().await?;
    let status = r.status();
    let body: Value = r.json().await?;
    body.get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("token: {status} {body}"))
}

/// A running Financials (API v2.0 and OData web services) on the seeded store.
pub struct Financials {
    pub base_url: String,
    pub company_id: Uuid,
    pub company_name: String,
    /// The integration user's name, id and API v2.0 client (web service key).
    pub integration_user: String,
    pub integration_user_id: Uuid,
    pub integration: Api,
    /// The integration user on the OData web services (`…/ODataV4`).
    pub odata: Api,
    /// `ADMIN` (a person making changes in Financials), API v2.0.
    pub admin: Api,
    pub item_count: usize,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Financials {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Financials {
    /// Serves Financials on `127.0.0.1:0` over the seeded `db`.
    pub async fn start(db: Db, seeded: &Seeded, item_count: usize) -> anyhow::Result<Financials> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            if let Err(e) = kontor_financials_server::serve(
                db,
                listener,
                kontor_financials_server::Config::default(),
                shutdown,
            )
            .await
            {
                tracing::error!(error = %e, "the Financials server stopped");
            }
        });
        let client = http_client()?;
        let api = format!("{base_url}/api/v2.0");
        let user = super::seed::INTEGRATION_USER.to_owned();
        Ok(Financials {
            integration: Api::basic(client.clone(), api.clone(), &user, &seeded.integration_key),
            odata: Api::basic(
                client.clone(),
                format!("{base_url}/ODataV4"),
                &user,
                &seeded.integration_key,
            ),
            admin: Api::basic(
                client,
                api,
                kontor_financials::bootstrap::ADMIN_USER,
                super::seed::ADMIN_PASSWORD,
            ),
            base_url,
            company_id: seeded.company_id,
            company_name: seeded.company_name.clone(),
            integration_user: user,
            integration_user_id: seeded.integration_user_id,
            item_count,
            shutdown: Some(tx),
        })
    }
}

/// The engine's HTTP connectors to both sides, as the integration user.
pub fn connectors(
    financials: &Financials,
    sales: &Sales,
) -> anyhow::Result<(Arc<dyn kontor_sync::Connector>, Arc<dyn kontor_sync::Connector>)> {
    let fin = ODataConnector::financials(
        &financials.base_url,
        financials.company_id,
        &financials.integration_user,
        &financials.integration.password().unwrap_or_default(),
    );
    let tokens = TokenSource::new(
        format!("{}/oauth2/v2.0/token", sales.base_url),
        format!("{}/.default", sales.base_url),
        Grant::ClientCredentials {
            client_id: sales.client_id.to_string(),
            client_secret: kontor_connectors::Secret(sales.client_secret.clone()),
        },
    );
    let mut crm = ODataConnector::dataverse(&sales.base_url, tokens);
    // Experiments: KONTOR_BENCH_SALES_BATCH / KONTOR_BENCH_SALES_CONCURRENCY override the Sales
    // connector's `$batch` size and concurrency (defaults: the connector's own).
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    if env("KONTOR_BENCH_SALES_BATCH").is_some() || env("KONTOR_BENCH_SALES_CONCURRENCY").is_some()
    {
        let mut o = crm.options.clone();
        if let Some(b) = env("KONTOR_BENCH_SALES_BATCH") {
            o.batch_size = b;
        }
        if let Some(c) = env("KONTOR_BENCH_SALES_CONCURRENCY") {
            o.initial_concurrency = c;
            o.max_concurrency = c;
        }
        crm = crm.with_options(o);
    }
    Ok((Arc::new(fin), Arc::new(crm)))
}
