//! What the tests of the `kontor` binary share: free ports, polling, and `kontor` child
//! processes with their output in a log file.

#![allow(dead_code)] // each test binary uses its own part

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kontor_connectors::{Grant, ODataConnector, Secret, TokenSource};
use serde_json::{Value, json};
use uuid::Uuid;

pub const KONTOR: &str = env!("CARGO_BIN_EXE_kontor");

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Polls `check` every 50 ms until it gives a value; panics after `limit` naming `what`.
pub async fn poll<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `kontor` process, its stdout and stderr in `<logs>/<name>.log`; SIGKILLed when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    /// Starts `kontor <args>` with `env` set, and without the variables of the person running the
    /// tests that would change what it does (`KONTOR_SECRET_KEY`, `KONTOR_PASSWORD`,
    /// `RUST_BACKTRACE`).
    pub fn start(logs: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let log = std::fs::File::create(logs.join(format!("{name}.log"))).expect("a log file");
        let child = Command::new(KONTOR)
            .args(args)
            .env_remove("KONTOR_SECRET_KEY")
            .env_remove("KONTOR_PASSWORD")
            .env_remove("RUST_BACKTRACE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc { name: name.to_owned(), child }
    }

    /// Its output so far.
    pub fn log(&self, logs: &Path) -> String {
        std::fs::read_to_string(logs.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// SIGKILL: no clean shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it as Ctrl-C does (SIGINT) and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("poll a process").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not stop within 30 s of SIGINT", self.name);
    }

    /// Panics with its output when it has exited.
    pub fn assert_running(&mut self, logs: &Path) {
        if let Some(status) = self.child.try_wait().expect("poll a process") {
            panic!("{} exited ({status}):\n{}", self.name, self.log(logs));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Both services over HTTP as their administrators.
pub struct Services {
    pub financials: String,
    pub sales: String,
    pub admin_password: String,
    pub http: reqwest::Client,
}

impl Services {
    pub async fn wait_until_up(&self) -> Uuid {
        let tokens = self.http.clone();
        poll("Sales answers", Duration::from_secs(60), || async {
            let r = tokens
                .post(format!("{}/oauth2/v2.0/token", self.sales))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "admin"),
                    ("password", &self.admin_password),
                ])
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        poll("Financials answers", Duration::from_secs(60), || async {
            let v: Value = self
                .http
                .get(format!("{}/api/v2.0/companies", self.financials))
                .basic_auth("ADMIN", Some(&self.admin_password))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v["value"][0]["id"].as_str()?.parse().ok()
        })
        .await
    }

    pub fn financials_admin(&self, company: Uuid) -> ODataConnector {
        ODataConnector::financials(&self.financials, company, "ADMIN", &self.admin_password)
    }

    pub fn sales_admin(&self) -> ODataConnector {
        let root = self.sales.trim_end_matches('/');
        ODataConnector::dataverse(
            root,
            TokenSource::new(
                format!("{root}/oauth2/v2.0/token"),
                format!("{root}/.default"),
                Grant::Password {
                    username: "admin".into(),
                    password: Secret(self.admin_password.clone()),
                },
            ),
        )
    }

    /// A new web service access key for the Financials user `user_name` (the old one stops
    /// working).
    pub async fn new_web_service_key(&self, company: Uuid, user_name: &str) -> String {
        let fin = self.financials_admin(company);
        let users = fin
            .get_json(&format!("users?$filter=userName%20eq%20'{user_name}'"), None)
            .await
            .expect("the Financials users");
        let id = users["value"][0]["id"].as_str().expect("the integration user").to_owned();
        let (status, key) = fin
            .send_json(
                reqwest::Method::POST,
                &format!("users({id})/Microsoft.NAV.changeWebServiceKey"),
                &json!({}),
            )
            .await
            .expect("a web service key");
        assert!(status.is_success(), "changeWebServiceKey: {key}");
        key["value"].as_str().expect("a key").to_owned()
    }

    /// A new client secret for the Sales application user `client_id`.
    pub async fn new_client_secret(&self, client_id: &str) -> String {
        let sales = self.sales_admin();
        let users = sales
            .get_json(
                &format!(
                    "systemusers?$select=systemuserid&$filter=applicationid%20eq%20{client_id}"
                ),
                None,
            )
            .await
            .expect("the application user");
        let id = users["value"][0]["systemuserid"].as_str().expect("the application user");
        let (status, secret) = sales
            .send_json(
                reqwest::Method::POST,
                &format!("systemusers({id})/Microsoft.Dynamics.CRM.kontor_SetClientSecret"),
                &json!({}),
            )
            .await
            .expect("a client secret");
        assert!(status.is_success(), "kontor_SetClientSecret: {secret}");
        secret["ClientSecret"].as_str().expect("a client secret").to_owned()
    }

    /// The setup guide through `POST /integration/v1/setup`, with the administrator account
    /// for the solution import and the role.
    pub async fn setup(&self, company: Uuid, user: &str, key: &str, client_id: &str, secret: &str) {
        let body = json!({
            "financialsUrl": self.financials, "companyId": company, "financialsUser": user,
            "financialsWebServiceKey": key, "salesUrl": self.sales, "salesUser": client_id,
            "salesClientId": client_id, "salesClientSecret": secret, "importSolution": true,
            "adminUser": "admin", "adminPassword": self.admin_password,
        });
        let r = self
            .http
            .post(format!("{}/integration/v1/setup", self.financials))
            .basic_auth("ADMIN", Some(&self.admin_password))
            .json(&body)
            .send()
            .await
            .expect("setup answers");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "setup answered {status}: {text}");
    }

    pub async fn review(&self) -> Option<Vec<Value>> {
        let v: Value = self
            .http
            .get(format!("{}/integration/v1/full-sync", self.financials))
            .basic_auth("ADMIN", Some(&self.admin_password))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["value"].as_array().cloned()
    }

    /// Waits until every line of the full synchronization review has ended, none in Error.
    pub async fn wait_for_full_sync(&self) {
        let lines = poll("the full synchronization ends", Duration::from_secs(180), || async {
            let lines = self.review().await?;
            let ended = |l: &Value| {
                matches!(l["job_queue_entry_status"].as_str(), Some("Finished" | "Error"))
            };
            (!lines.is_empty() && lines.iter().all(ended)).then_some(lines)
        })
        .await;
        for l in lines {
            assert_eq!(l["job_queue_entry_status"], "Finished", "{l}");
        }
    }

    /// Starts a full synchronization and waits until it has ended.
    pub async fn full_sync(&self) {
        let r = self
            .http
            .post(format!("{}/integration/v1/full-sync", self.financials))
            .basic_auth("ADMIN", Some(&self.admin_password))
            .send()
            .await
            .expect("full-sync answers");
        let status = r.status();
        assert!(status.is_success(), "full-sync answered {status}: {}", r.text().await.unwrap());
        self.wait_for_full_sync().await;
    }

    /// Synchronizes modified records now (the engine signs in with the credentials of the
    /// last setup).
    pub async fn sync_now(&self) {
        let r = self
            .http
            .post(format!("{}/integration/v1/sync-now", self.financials))
            .basic_auth("ADMIN", Some(&self.admin_password))
            .json(&json!({"mapping": "CUSTOMER"}))
            .send()
            .await
            .expect("sync-now answers");
        let status = r.status();
        assert!(status.is_success(), "sync-now answered {status}: {}", r.text().await.unwrap());
    }
}
