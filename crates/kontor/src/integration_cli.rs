//! The integration's command line: an HTTP client of the JSON API that Financials serves under
//! `/integration/v1` (see `kontor-sync-server`), behind Financials' HTTP Basic authentication.
//!
//! | command | route |
//! |---|---|
//! | `kontor setup --financials URL --sales URL --sales-user NAME …` | `POST /integration/v1/setup` |
//! | `kontor sync full [--wait]` | `POST /integration/v1/full-sync`, then `GET` it every 500 ms |
//! | `kontor sync status` | `GET /integration/v1/full-sync` and `GET /integration/v1/jobs` |
//! | `kontor sync now [MAPPING]` | `POST /integration/v1/sync-now` |
//! | `kontor couple MAPPING --financials-id ID --sales-id ID` | `POST /integration/v1/couplings/{mapping}` |
//! | `kontor couple MAPPING --match [--field NAME[:PRIORITY]]… [--case-sensitive] [--create-new\|--no-create-new] [--no-sync]` | `POST /integration/v1/couplings/{mapping}/match` |
//! | `kontor uncouple MAPPING --side financials\|sales ID` | `DELETE /integration/v1/couplings/{mapping}/{side}/{id}` |
//! | `kontor jobs list [--status STATUS] [--json]` | `GET /integration/v1/job-queue-entries` |
//! | `kontor jobs restart ID` | `POST /integration/v1/job-queue-entries/{id}/restart` |
//! | `kontor jobs hold ID` | `POST /integration/v1/job-queue-entries/{id}/hold` |
//!
//! Every command takes `--financials URL` (default: the URL `kontor up` on the same `--data`
//! folder wrote into `<data>/kontor-up.json`, else `http://localhost:8080`), `--user` (default
//! `ADMIN`) and finds the password in the environment variable named by `--password-env` (default
//! `KONTOR_PASSWORD`), else in `kontor up`'s `<--data>/credentials.json`, else asks on the
//! terminal. Secrets never come from flags (they would land in the shell history) and are never
//! printed. A server error (`{"error":{"code","message"}}`) is shown as its message; the command
//! then exits with code 1.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kontor_integration::{
    ConnectionInfo, CouplingRequest, JobDetail, JobQueueEntry, JobSummary, Listed,
    MatchCouplingRequest, ReviewLine, SetupRequest, SyncNowRequest,
};
use kontor_sync::Pass;
use kontor_sync::engine::PassReport;
use kontor_sync::matching::MatchField;
use kontor_sync::plan::Counters;
use kontor_sync::setup::SetupReport;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::{Flags, Settings};

/// Where Financials is and who we are there.
#[derive(Debug, Clone, clap::Args)]
pub struct Conn {
    /// The Financials root URL (it serves the integration's JSON API).
    /// [env: KONTOR_FINANCIALS_URL] [config: financials.url] [default: the URL in `kontor up`'s
    /// `<data>/kontor-up.json`, else http://localhost:8080]
    #[arg(long)]
    financials: Option<String>,
    /// The Financials user (HTTP Basic). [env: KONTOR_USER] [config: user] [default: ADMIN]
    #[arg(long)]
    user: Option<String>,
    /// The environment variable holding the user's password or web service access key.
    /// [env: KONTOR_PASSWORD_ENV] [config: password_env] [default: KONTOR_PASSWORD]
    #[arg(long)]
    password_env: Option<String>,
    /// `kontor up`'s data folder: its `credentials.json` supplies the password when the
    /// environment variable is not set. [env: KONTOR_DATA] [config: data] [default: kontor-data]
    #[arg(long)]
    data: Option<PathBuf>,
}

impl Conn {
    fn flags(&self, f: &mut Flags) {
        f.set("financials.url", "--financials", self.financials.as_deref());
        f.set("user", "--user", self.user.as_deref());
        f.set("password_env", "--password-env", self.password_env.as_deref());
        f.set("data", "--data", self.data.as_deref());
    }

    /// Takes the merged settings (which hold this command's flags too), else the defaults.
    fn resolve(&mut self, s: &Settings) {
        let data = s.data.clone().unwrap_or_else(|| "kontor-data".into());
        // Unless told, the Financials that `kontor up` on the same data folder serves.
        let url = s
            .financials
            .url
            .as_ref()
            .map(|u| u.0.clone())
            .or_else(|| crate::up::Served::load(&data).map(|served| served.financials_url));
        self.financials = Some(url.unwrap_or_else(|| "http://localhost:8080".into()));
        self.user = Some(s.user.clone().unwrap_or_else(|| "ADMIN".into()));
        self.password_env =
            Some(s.password_env.clone().unwrap_or_else(|| "KONTOR_PASSWORD".into()));
        self.data = Some(data);
    }

    fn financials(&self) -> &str {
        self.financials.as_deref().unwrap_or("http://localhost:8080")
    }

    fn user(&self) -> &str {
        self.user.as_deref().unwrap_or("ADMIN")
    }

    fn password_env(&self) -> &str {
        self.password_env.as_deref().unwrap_or("KONTOR_PASSWORD")
    }

    fn data(&self) -> &Path {
        self.data.as_deref().unwrap_or(Path::new("kontor-data"))
    }
}

/// The integration's commands (flattened into the `kontor` command line).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Connection setup: connect Financials to Sales and enable the default mappings.
    Setup(SetupArgs),
    /// Synchronization: full, now, status.
    Sync {
        #[command(subcommand)]
        what: SyncCommand,
    },
    /// Couple a Financials record to a Sales record by hand, or by matching (--match).
    Couple(CoupleArgs),
    /// Remove the coupling of one record.
    Uncouple(UncoupleArgs),
    /// The job queue entries that run the integration: list, restart, set on hold.
    Jobs {
        #[command(subcommand)]
        what: JobsCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// The job queue entries with their status, next run and last error.
    List {
        #[command(flatten)]
        conn: Conn,
        /// Only entries in this status (ready, in_process, error, on_hold, finished,
        /// on_hold_inactivity).
        #[arg(long)]
        status: Option<String>,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restart: the entry runs again now, its attempts and error cleared.
    Restart {
        #[command(flatten)]
        conn: Conn,
        id: Uuid,
    },
    /// Set On Hold: the entry does not run until restarted (the only way a recurring entry
    /// leaves the schedule).
    Hold {
        #[command(flatten)]
        conn: Conn,
        id: Uuid,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// Run Full Synchronization: build the review and start it.
    Full {
        #[command(flatten)]
        conn: Conn,
        /// Follow the review lines until each has ended (a progress line per mapping); exits
        /// with code 1 when a line ends in Error.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, requires = "wait")]
        timeout: Option<u64>,
    },
    /// The full synchronization review and the latest Integration Synch. Jobs.
    Status {
        #[command(flatten)]
        conn: Conn,
        /// How many synch jobs to show.
        #[arg(long, default_value_t = 20)]
        jobs: u32,
        /// Print the raw JSON (`{"review":[…],"jobs":[…]}`).
        #[arg(long)]
        json: bool,
    },
    /// Synchronize modified records now (all mappings, or one).
    Now {
        #[command(flatten)]
        conn: Conn,
        /// The integration table mapping (e.g. CUSTOMER); all when left out.
        mapping: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The company in Financials; the only one when left out.
    #[arg(long)]
    pub company: Option<Uuid>,
    /// The integration user on Financials (default: the stored connection's). Its web service
    /// access key comes from the variable named by --financials-key-env; left unset, the server
    /// keeps the key it stored (sealed) for that user.
    #[arg(long)]
    pub financials_user: Option<String>,
    #[arg(long, default_value = "KONTOR_FINANCIALS_KEY")]
    pub financials_key_env: String,
    /// The Sales root URL. [env: KONTOR_SALES_URL] [config: sales.url]
    #[arg(long)]
    pub sales: Option<String>,
    /// The integration user in Sales (domain name, e-mail or application id).
    #[arg(long)]
    pub sales_user: Option<String>,
    /// The application (client) id the integration signs in to Sales with; its secret comes from
    /// KONTOR_SALES_CLIENT_SECRET. Without it, the integration user's password comes from
    /// KONTOR_SALES_PASSWORD. Secrets left unset are kept from the stored connection when it has
    /// the same Sales user.
    #[arg(long)]
    pub sales_client_id: Option<String>,
    /// Import the integration solution into Sales (needs the Sales administrator, once).
    #[arg(long)]
    pub import_solution: bool,
    /// The Sales administrator for the import; the password comes from
    /// KONTOR_SALES_ADMIN_PASSWORD or a prompt, is used for this call only and stored nowhere.
    #[arg(long)]
    pub sales_admin: Option<String>,
    /// Mappings to enable (comma-separated); the defaults' own choice when left out.
    #[arg(long, value_delimiter = ',')]
    pub enable: Option<Vec<String>>,
}

#[derive(Debug, clap::Args)]
pub struct CoupleArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The integration table mapping (e.g. CUSTOMER).
    pub mapping: String,
    #[arg(long, requires = "sales_id", conflicts_with = "by_match")]
    pub financials_id: Option<Uuid>,
    #[arg(long, requires = "financials_id", conflicts_with = "by_match")]
    pub sales_id: Option<Uuid>,
    /// Match-based coupling: couple uncoupled records whose match fields agree (and synchronize).
    #[arg(long = "match")]
    pub by_match: bool,
    /// A field to match on, `NAME` or `NAME:PRIORITY` (Financials or Sales field name; lower
    /// priorities first, the next added while several records match). Repeatable; the mapping's
    /// match fields when left out.
    #[arg(long = "field", value_name = "NAME[:PRIORITY]", requires = "by_match", value_parser = parse_match_field)]
    pub fields: Vec<(String, u32)>,
    /// Match text case sensitively.
    #[arg(long, requires = "by_match")]
    pub case_sensitive: bool,
    /// Create the record on the other side when no match is found (default: the mapping's choice).
    #[arg(long, requires = "by_match", conflicts_with = "no_create_new")]
    pub create_new: bool,
    /// Never create records for those without a match.
    #[arg(long, requires = "by_match")]
    pub no_create_new: bool,
    /// Only couple: do not synchronize the newly coupled records.
    #[arg(long, requires = "by_match")]
    pub no_sync: bool,
}

/// `NAME` or `NAME:PRIORITY`.
fn parse_match_field(text: &str) -> Result<(String, u32), String> {
    let (name, priority) = match text.rsplit_once(':') {
        Some((n, p)) => (
            n,
            p.trim()
                .parse::<u32>()
                .map_err(|_| format!("the priority of '{n}' must be a whole number, not '{p}'"))?,
        ),
        None => (text, 0),
    };
    if name.trim().is_empty() {
        return Err("a match field needs a name".into());
    }
    Ok((name.trim().to_owned(), priority))
}

impl CoupleArgs {
    /// The choices sent to `POST /integration/v1/couplings/{mapping}/match`.
    fn match_options(&self) -> MatchCouplingRequest {
        MatchCouplingRequest {
            fields: self
                .fields
                .iter()
                .map(|(f, p)| MatchField { field: f.clone(), priority: *p, case_sensitive: None })
                .collect(),
            case_sensitive: self.case_sensitive,
            create_new: (self.create_new || self.no_create_new).then_some(self.create_new),
            sync_after_coupling: self.no_sync.then_some(false),
        }
    }

    /// The body of `POST /integration/v1/couplings/{mapping}/match`.
    #[cfg(test)]
    fn match_body(&self) -> Value {
        serde_json::to_value(self.match_options()).expect("match choices serialize")
    }
}

#[derive(Debug, clap::Args)]
pub struct UncoupleArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The integration table mapping (e.g. CUSTOMER).
    pub mapping: String,
    /// Which side the id belongs to.
    #[arg(long, value_parser = ["financials", "sales"])]
    pub side: String,
    /// The record's id.
    pub id: Uuid,
}

impl Command {
    fn conn(&self) -> &Conn {
        match self {
            Command::Setup(a) => &a.conn,
            Command::Couple(a) => &a.conn,
            Command::Uncouple(a) => &a.conn,
            Command::Sync { what } => match what {
                SyncCommand::Full { conn, .. }
                | SyncCommand::Status { conn, .. }
                | SyncCommand::Now { conn, .. } => conn,
            },
            Command::Jobs { what } => match what {
                JobsCommand::List { conn, .. }
                | JobsCommand::Restart { conn, .. }
                | JobsCommand::Hold { conn, .. } => conn,
            },
        }
    }

    fn conn_mut(&mut self) -> &mut Conn {
        match self {
            Command::Setup(a) => &mut a.conn,
            Command::Couple(a) => &mut a.conn,
            Command::Uncouple(a) => &mut a.conn,
            Command::Sync { what } => match what {
                SyncCommand::Full { conn, .. }
                | SyncCommand::Status { conn, .. }
                | SyncCommand::Now { conn, .. } => conn,
            },
            Command::Jobs { what } => match what {
                JobsCommand::List { conn, .. }
                | JobsCommand::Restart { conn, .. }
                | JobsCommand::Hold { conn, .. } => conn,
            },
        }
    }

    /// Takes the merged settings (which hold the flags too), else the defaults.
    fn resolve(&mut self, settings: &Settings) {
        self.conn_mut().resolve(settings);
        if let Command::Setup(a) = self {
            a.sales = settings.sales.url.as_ref().map(|u| u.0.clone());
        }
    }

    /// The flags given, each with the setting it sets.
    pub fn flags(&self, f: &mut Flags) {
        self.conn().flags(f);
        if let Command::Setup(a) = self {
            f.set("sales.url", "--sales", a.sales.as_deref());
        }
    }
}

/// Runs one command with the merged settings. A failure is printed as its message (no
/// backtrace) and ends the process with exit code 1.
pub async fn run(mut cmd: Command, settings: Settings) -> anyhow::Result<()> {
    cmd.resolve(&settings);
    if let Err(e) = dispatch(cmd).await {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn dispatch(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Setup(args) => setup(args).await,
        Command::Sync { what: SyncCommand::Full { conn, wait, timeout } } => {
            full_sync(&Client::new(&conn)?, wait, timeout.map(Duration::from_secs)).await
        }
        Command::Sync { what: SyncCommand::Status { conn, jobs, json } } => {
            status(&Client::new(&conn)?, jobs, json).await
        }
        Command::Sync { what: SyncCommand::Now { conn, mapping } } => {
            sync_now(&Client::new(&conn)?, mapping.as_deref()).await
        }
        Command::Couple(args) => couple(args).await,
        Command::Jobs { what: JobsCommand::List { conn, status, json } } => {
            let path = match status {
                Some(s) => format!("/integration/v1/job-queue-entries?status={}", seg(&s)),
                None => "/integration/v1/job-queue-entries".to_owned(),
            };
            let list: Listed<JobQueueEntry> = Client::new(&conn)?.get_as(&path).await?;
            if json {
                println!("{}", serde_json::to_string(&list.value)?);
            } else if list.value.is_empty() {
                println!("(no job queue entries)");
            } else {
                print!("{}", entries_table(&list.value));
            }
            Ok(())
        }
        Command::Jobs { what: JobsCommand::Restart { conn, id } } => {
            let path = format!("/integration/v1/job-queue-entries/{id}/restart");
            let e: JobQueueEntry = Client::new(&conn)?.post_as(&path, &json!({})).await?;
            println!("Restarted {} ({}): {}.", e.id, e.description, e.status);
            Ok(())
        }
        Command::Jobs { what: JobsCommand::Hold { conn, id } } => {
            let path = format!("/integration/v1/job-queue-entries/{id}/hold");
            let e: JobQueueEntry = Client::new(&conn)?.post_as(&path, &json!({})).await?;
            println!("Set {} ({}) {}.", e.id, e.description, e.status);
            Ok(())
        }
        Command::Uncouple(args) => {
            let client = Client::new(&args.conn)?;
            client
                .send(
                    reqwest::Method::DELETE,
                    &format!(
                        "/integration/v1/couplings/{}/{}/{}",
                        seg(&args.mapping),
                        args.side,
                        args.id
                    ),
                    None,
                )
                .await?;
            println!("Uncoupled {} record {} under {}.", args.side, args.id, args.mapping);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Credentials and the HTTP client.

/// The part of `kontor up`'s `credentials.json` the command line reads: the administrator's
/// generated password. (The integration's own credentials are sealed in the server's store;
/// setup reuses them without this command ever seeing them.)
#[derive(Default, Deserialize)]
struct UpCredentials {
    #[serde(default)]
    financials_admin_password: String,
}

fn up_credentials(data: &Path) -> Option<UpCredentials> {
    let bytes = std::fs::read(data.join("credentials.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Reads a secret from the terminal without echo, or one line from standard input when that is
/// not a terminal. Never from a flag.
fn prompt_secret(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprint!("{prompt}: ");
        std::io::stderr().flush()?;
    }
    let echo_off = tty && stty(&["-echo"]);
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        stty(&["echo"]);
        eprintln!();
    }
    read.context("read the secret from standard input")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        bail!("{prompt}: nothing was entered.");
    }
    Ok(secret)
}

fn stty(args: &[&str]) -> bool {
    std::process::Command::new("stty")
        .args(args)
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}

fn financials_password(conn: &Conn) -> anyhow::Result<String> {
    if let Some(p) = env_secret(conn.password_env()) {
        return Ok(p);
    }
    if let Some(c) = up_credentials(conn.data()).filter(|c| !c.financials_admin_password.is_empty())
    {
        return Ok(c.financials_admin_password);
    }
    if std::io::stdin().is_terminal() {
        return prompt_secret(&format!("Password of {} on {}", conn.user(), conn.financials()));
    }
    bail!(
        "No password for {}: set {} or point --data at kontor up's data folder ({} has no credentials.json).",
        conn.user(),
        conn.password_env(),
        conn.data().display()
    )
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Client {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl Client {
    fn new(conn: &Conn) -> anyhow::Result<Client> {
        let password = financials_password(conn)?;
        Ok(Client {
            http: reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?,
            base: conn.financials().trim_end_matches('/').to_owned(),
            user: conn.user().to_owned(),
            password,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// `GET path`, the answer read as `T`.
    async fn get_as<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        answer(path, self.get(path).await?)
    }

    /// `POST path` with `body`, the answer read as `T`.
    async fn post_as<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        let body = serde_json::to_value(body).context("write the request body")?;
        answer(path, self.send(reqwest::Method::POST, path, Some(body)).await?)
    }

    /// One request; a non-success answer becomes an error carrying the server's message.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).basic_auth(&self.user, Some(&self.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| anyhow!("Could not reach {}: {e}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(json);
        }
        Err(anyhow!(server_message(status, &json)))
    }
}

/// A success answer of `path` read as `T`.
fn answer<T: DeserializeOwned>(path: &str, v: Value) -> anyhow::Result<T> {
    serde_json::from_value(v).with_context(|| format!("read the answer of {path}"))
}

/// The message of an error answer (`{"error":{"code","message"}}`), else the status.
fn server_message(status: reqwest::StatusCode, body: &Value) -> String {
    match body["error"]["message"].as_str() {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => match body.as_str() {
            Some(t) if !t.trim().is_empty() && t.len() < 500 => format!("{status}: {}", t.trim()),
            _ => format!("The server answered {status}."),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Setup.

async fn setup(args: SetupArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn)?;

    let company_id = match args.company {
        Some(id) => id,
        None => {
            let list = client.get("/api/v2.0/companies").await?;
            let companies = list["value"].as_array().cloned().unwrap_or_default();
            match companies.as_slice() {
                [one] => one["id"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .context("Financials answered a company without an id.")?,
                [] => bail!("Financials has no company."),
                many => bail!(
                    "Financials has {} companies; choose one with --company: {}",
                    many.len(),
                    many.iter()
                        .map(|c| format!(
                            "{} ({})",
                            c["id"].as_str().unwrap_or("?"),
                            c["name"].as_str().unwrap_or("")
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };

    // The stored connection names the integration users; their secrets stay on the server,
    // which reuses them when none is given here for the same user.
    let stored: Option<ConnectionInfo> = client.get_as("/integration/v1/connection").await?;
    let stored_user = |k: &str| {
        let c = stored.as_ref()?;
        let user = if k == "financials_user" { &c.financials_user } else { &c.sales_user_name };
        Some(user.clone()).filter(|s| !s.is_empty())
    };
    let financials_user =
        match args.financials_user.clone().or_else(|| stored_user("financials_user")) {
            Some(u) => u,
            None => bail!(
                "Give the integration user on Financials with --financials-user (its key in {}).",
                args.financials_key_env
            ),
        };
    let financials_key = env_secret(&args.financials_key_env);
    if financials_key.is_none()
        && !stored_user("financials_user").is_some_and(|u| u.eq_ignore_ascii_case(&financials_user))
    {
        bail!(
            "Set {} to the web service access key of {financials_user}.",
            args.financials_key_env
        );
    }

    let sales_user = match args
        .sales_user
        .clone()
        .or_else(|| args.sales_client_id.clone())
        .or_else(|| stored_user("sales_user_name"))
    {
        Some(u) => u,
        None => bail!("Give the integration user in Sales with --sales-user or --sales-client-id."),
    };
    let (sales_client_secret, sales_password) = match &args.sales_client_id {
        Some(id) => match env_secret("KONTOR_SALES_CLIENT_SECRET") {
            Some(s) => (Some(s), None),
            None if stored_user("sales_user_name").as_deref() == Some(id.as_str()) => (None, None),
            None => bail!("Set KONTOR_SALES_CLIENT_SECRET to the secret of application {id}."),
        },
        None => match env_secret("KONTOR_SALES_PASSWORD") {
            Some(p) => (None, Some(p)),
            None if stored_user("sales_user_name")
                .is_some_and(|u| u.eq_ignore_ascii_case(&sales_user)) =>
            {
                (None, None)
            }
            None => bail!(
                "Give --sales-client-id (secret in KONTOR_SALES_CLIENT_SECRET) or set KONTOR_SALES_PASSWORD to the integration user's password."
            ),
        },
    };
    let sales_client_id = args.sales_client_id.clone();

    let (admin_user, admin_password) = if args.import_solution {
        let user = args
            .sales_admin
            .clone()
            .context("--import-solution needs the Sales administrator (--sales-admin NAME).")?;
        let password = match env_secret("KONTOR_SALES_ADMIN_PASSWORD") {
            Some(p) => p,
            None => prompt_secret(&format!("Password of the Sales administrator {user}"))?,
        };
        (Some(user), Some(password))
    } else {
        (None, None)
    };

    let req = SetupRequest {
        financials_url: client.base.clone(),
        company_id,
        financials_user,
        financials_web_service_key: financials_key,
        sales_url: args
            .sales
            .as_deref()
            .context("give --sales, KONTOR_SALES_URL or `sales.url` in the config file (the Sales root URL)")?
            .trim_end_matches('/')
            .to_owned(),
        sales_user,
        sales_client_id,
        sales_client_secret,
        sales_password,
        import_solution: args.import_solution,
        admin_user,
        admin_password,
        enable: args.enable,
        unit_group_mapping: false,
    };
    let report: SetupReport = client.post_as("/integration/v1/setup", &req).await?;
    print!("{}", setup_summary(&report));
    Ok(())
}

fn setup_summary(report: &SetupReport) -> String {
    let yes_no = |v: bool| if v { "yes" } else { "no" };
    let mut out = String::new();
    out.push_str("Connection set up.\n");
    out.push_str(&format!("  connection        {}\n", report.connection_id));
    out.push_str(&format!("  Sales user        {}\n", report.sales_user_id));
    out.push_str(&format!("  solution imported {}\n", yes_no(report.solution_imported)));
    out.push_str(&format!("  role assigned     {}\n", yes_no(report.role_assigned)));
    out.push_str(&format!("  enabled mappings  {}\n", report.enabled_mappings.join(", ")));
    let kept = report.kept_customized.join(", ");
    if !kept.is_empty() {
        out.push_str(&format!("  kept customised   {kept}\n"));
    }
    for note in &report.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Full synchronization and status.

/// The review lines of `GET` or `POST /integration/v1/full-sync`.
async fn review_lines(client: &Client, start: bool) -> anyhow::Result<Vec<ReviewLine>> {
    let path = "/integration/v1/full-sync";
    let listed: Listed<ReviewLine> =
        if start { client.post_as(path, &json!({})).await? } else { client.get_as(path).await? };
    Ok(listed.value)
}

/// Lines held up by a line in Error (the service works it out: `review::held_up`).
fn blocked(lines: &[ReviewLine]) -> Vec<String> {
    lines.iter().filter(|l| l.held_up).map(|l| l.name.clone()).collect()
}

fn status_text(s: &str) -> &str {
    if s.trim().is_empty() { "-" } else { s }
}

fn review_table(lines: &[ReviewLine]) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.direction.clone(),
                l.recommendation.clone(),
                status_text(&l.job_queue_entry_status).to_owned(),
                status_text(&l.to_int_table_job_status).to_owned(),
                status_text(&l.from_int_table_job_status).to_owned(),
            ]
        })
        .collect();
    table(
        &[
            "Mapping",
            "Direction",
            "Recommendation",
            "Job Queue Entry",
            "To Int. Table",
            "From Int. Table",
        ],
        &rows,
    )
}

/// A plain text table: a header, a rule, the rows, columns padded to their widest cell.
/// The job queue entries: what, status, next run, attempts since the last success, last error.
fn entries_table(entries: &[JobQueueEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                if e.description.is_empty() { e.kind.clone() } else { e.description.clone() },
                e.status.to_string(),
                e.run_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                e.attempts.to_string(),
                e.last_error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["ID", "Description", "Status", "Next run", "Failures", "Last error"], &rows)
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn counters_text(c: &Counters) -> String {
    format!(
        "ins {} mod {} del {} unch {} skip {} fail {} coup {}",
        c.inserted, c.modified, c.deleted, c.unchanged, c.skipped, c.failed, c.coupled
    )
}

fn jobs_table(jobs: &[JobSummary]) -> String {
    let when = |t: &chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string()
    };
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                when(&j.started_at),
                j.finished_at.as_ref().map_or_else(|| "running".into(), when),
                j.mapping.clone(),
                j.direction.clone(),
                j.job_type.clone(),
                counters_text(&j.counters),
                j.note(),
            ]
        })
        .collect();
    table(&["Started", "Finished", "Mapping", "Direction", "Type", "Counters", "Message"], &rows)
}

async fn job(client: &Client, id: Uuid) -> anyhow::Result<JobDetail> {
    client.get_as(&format!("/integration/v1/jobs/{id}")).await
}

/// The errors of the given synch jobs, one line each.
async fn job_errors(client: &Client, ids: impl IntoIterator<Item = Uuid>) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        match job(client, id).await {
            Ok(JobDetail { job, errors }) => {
                let (mapping, direction) = (&job.mapping, &job.direction);
                // A job's message is the error that ended its pass as a whole.
                if !job.message.is_empty() {
                    out.push(format!("{mapping} {direction}: {}", job.message));
                }
                for e in errors {
                    out.push(format!(
                        "{mapping} {direction}: {} → {}: {}",
                        e.source, e.destination, e.message
                    ));
                }
            }
            Err(e) => out.push(format!("job {id}: {e}")),
        }
    }
    out
}

/// A pass's status for the progress line; a running pass shows the records it has handled.
async fn pass_progress(client: &Client, status: &str, job_id: Option<Uuid>) -> String {
    let (Some(id), "In Process") = (job_id, status) else { return status_text(status).to_owned() };
    match job(client, id).await {
        Ok(JobDetail { job, .. }) => {
            let c = &job.counters;
            let handled = c.inserted + c.modified + c.deleted + c.unchanged + c.skipped + c.failed;
            format!("In Process ({handled} rec.)")
        }
        Err(_) => status.to_owned(),
    }
}

async fn full_sync(client: &Client, wait: bool, timeout: Option<Duration>) -> anyhow::Result<()> {
    let mut lines = review_lines(client, true).await?;
    if !wait {
        print!("{}", review_table(&lines));
        println!(
            "Full synchronization started; follow it with `kontor sync status` or `kontor sync full --wait`."
        );
        return Ok(());
    }
    let began = Instant::now();
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<20} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut shown: Vec<(String, ProgressBar)> = Vec::new();
    loop {
        let blocked_now = blocked(&lines);
        let mut open = 0;
        for l in &lines {
            let bar = match shown.iter().find(|(n, _)| n == &l.name) {
                Some((_, b)) => b.clone(),
                None => {
                    let b = bars.add(ProgressBar::new_spinner().with_style(style.clone()));
                    b.set_prefix(l.name.clone());
                    shown.push((l.name.clone(), b.clone()));
                    b
                }
            };
            if bar.is_finished() {
                continue;
            }
            let waiting =
                if blocked_now.contains(&l.name) { "  (held up by an error)" } else { "" };
            let to = pass_progress(client, &l.to_int_table_job_status, l.to_int_table_job_id).await;
            let from =
                pass_progress(client, &l.from_int_table_job_status, l.from_int_table_job_id).await;
            bar.set_message(format!(
                "{:<20} entry: {:<11} to Sales: {to:<24} from Sales: {from}{waiting}",
                l.recommendation,
                status_text(&l.job_queue_entry_status),
            ));
            if l.ended() || !waiting.is_empty() {
                bar.finish();
            } else {
                bar.tick();
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        if let Some(t) = timeout
            && began.elapsed() >= t
        {
            bars.clear().ok();
            print!("{}", review_table(&lines));
            bail!("The full synchronization had not ended after {} s.", t.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        lines = review_lines(client, false).await?;
    }
    bars.clear().ok();
    print!("{}", review_table(&lines));
    let failed: Vec<&ReviewLine> = lines.iter().filter(|l| l.in_error()).collect();
    if failed.is_empty() {
        println!(
            "Full synchronization finished: {} lines in {:.1} s.",
            lines.len(),
            began.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    for e in job_errors(client, failed.iter().flat_map(|l| l.job_ids())).await {
        eprintln!("  {e}");
    }
    let blocked_now = blocked(&lines);
    let names: Vec<&str> = failed.iter().map(|l| l.name.as_str()).collect();
    if blocked_now.is_empty() {
        bail!("Lines of the full synchronization ended in Error: {}.", names.join(", "))
    }
    bail!(
        "Lines of the full synchronization ended in Error: {}; not started because of them: {}.",
        names.join(", "),
        blocked_now.join(", ")
    )
}

async fn status(client: &Client, jobs: u32, raw: bool) -> anyhow::Result<()> {
    let lines = review_lines(client, false).await?;
    let jobs: Listed<JobSummary> =
        client.get_as(&format!("/integration/v1/jobs?limit={}", jobs.max(1))).await?;
    let jobs = jobs.value;
    if raw {
        println!("{}", json!({"review": lines, "jobs": jobs}));
        return Ok(());
    }
    println!("Full synchronization review");
    if lines.is_empty() {
        println!("  (no review yet: run `kontor sync full`)");
    } else {
        print!("{}", review_table(&lines));
    }
    println!();
    println!("Latest Integration Synch. Jobs");
    if jobs.is_empty() {
        println!("  (none)");
    } else {
        print!("{}", jobs_table(&jobs));
    }
    Ok(())
}

async fn sync_now(client: &Client, mapping: Option<&str>) -> anyhow::Result<()> {
    let req = SyncNowRequest { mapping: mapping.map(str::to_owned) };
    let reports: Listed<PassReport> = client.post_as("/integration/v1/sync-now", &req).await?;
    print_reports(client, &reports.value).await
}

/// Prints pass reports (`PassReport`s); an error when a pass failed records.
async fn print_reports(client: &Client, reports: &[PassReport]) -> anyhow::Result<()> {
    if reports.is_empty() {
        println!("Nothing to synchronize.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.mapping.clone(),
                match r.pass {
                    Pass::ToSales => "To Sales".to_owned(),
                    Pass::ToFinancials => "To Financials".to_owned(),
                },
                counters_text(&r.counters),
            ]
        })
        .collect();
    print!("{}", table(&["Mapping", "Pass", "Counters"], &rows));
    let failed: Vec<Uuid> =
        reports.iter().filter(|r| r.counters.failed > 0).map(|r| r.job_id).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for e in job_errors(client, failed.iter().copied()).await {
        eprintln!("  {e}");
    }
    bail!("{} passes failed records.", failed.len())
}

// ---------------------------------------------------------------------------------------------
// Couplings.

async fn couple(args: CoupleArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.conn)?;
    let m = seg(&args.mapping);
    if args.by_match {
        let reports: Vec<PassReport> = client
            .post_as(&format!("/integration/v1/couplings/{m}/match"), &args.match_options())
            .await?;
        return print_reports(&client, &reports).await;
    }
    let (Some(f), Some(s)) = (args.financials_id, args.sales_id) else {
        bail!("Give --financials-id and --sales-id, or --match.");
    };
    let req = CouplingRequest { financials_id: f, sales_id: s };
    let _: Value = client.post_as(&format!("/integration/v1/couplings/{m}"), &req).await?;
    println!("Coupled Financials {f} with Sales {s} under {}.", args.mapping);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, entry: &str) -> ReviewLine {
        ReviewLine {
            name: name.into(),
            direction: "Bidirectional".into(),
            recommendation: "Full Synchronization".into(),
            job_queue_entry_status: entry.into(),
            dependency_filter: String::new(),
            to_int_table_job_status: " ".into(),
            from_int_table_job_status: " ".into(),
            to_int_table_job_id: None,
            from_int_table_job_id: None,
            held_up: false,
            to_int_table_records: None,
            from_int_table_records: None,
            to_int_table_total: None,
            from_int_table_total: None,
        }
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn setup_takes_the_sales_and_financials_urls_from_the_config_file_unless_a_flag_gives_them() {
        use clap::Parser as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kontor.toml");
        let text = "user = \"SETUP\"\n[financials]\nurl = \"http://fin.example/\"\n[sales]\nurl = \"http://sales.example\"\n";
        std::fs::write(&file, text).unwrap();
        // (flags, the Sales URL, the Financials URL, the user)
        let cases: [(&[&str], &str, &str, &str); 3] = [
            (&[], "http://sales.example", "http://fin.example", "SETUP"),
            (
                &["--sales", "http://flag.example"],
                "http://flag.example",
                "http://fin.example",
                "SETUP",
            ),
            (
                &["--financials", "http://f.example", "--user", "U"],
                "http://sales.example",
                "http://f.example",
                "U",
            ),
        ];
        for (flags, sales, financials, user) in cases {
            let args: Vec<&str> = ["k", "setup"].iter().chain(flags).copied().collect();
            let mut cmd = Cli::try_parse_from(&args).unwrap().command;
            let mut f = Flags::default();
            cmd.flags(&mut f);
            let settings = crate::config::load(Some(&file), f).unwrap();
            cmd.resolve(&settings);
            let Command::Setup(a) = &cmd else { panic!("{args:?}") };
            assert_eq!(
                (a.sales.as_deref(), a.conn.financials(), a.conn.user()),
                (Some(sales), financials, user),
                "{args:?}"
            );
        }
    }

    #[test]
    fn the_jobs_commands_list_restart_and_hold_entries_by_id() {
        use clap::Parser as _;
        let id = "0191e2a0-0000-7000-8000-000000000000";
        // (arguments, parses)
        let cases: [(&[&str], bool); 6] = [
            (&["k", "jobs", "list"], true),
            (&["k", "jobs", "list", "--status", "error", "--json"], true),
            (&["k", "jobs", "restart", id], true),
            (&["k", "jobs", "hold", id], true),
            (&["k", "jobs", "hold"], false),
            (&["k", "jobs", "restart", "not-an-id"], false),
        ];
        for (args, ok) in cases {
            assert_eq!(Cli::try_parse_from(args).is_ok(), ok, "{args:?}");
        }
    }

    #[test]
    fn the_entries_table_shows_the_next_run_the_failures_and_the_last_error() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let entry = |description: &str, status, attempts, last_error: Option<&str>| JobQueueEntry {
            id: Uuid::from_u128(7),
            kind: "sync.incremental".into(),
            key: Some("CUSTOMER".into()),
            description: description.into(),
            params: json!({}),
            status,
            priority: 0,
            earliest_start_at: None,
            run_at: at,
            interval_seconds: Some(30),
            max_attempts: 10,
            rerun_delay_seconds: 30,
            inactivity_timeout_seconds: None,
            attempts,
            last_error: last_error.map(str::to_owned),
            locked_by: None,
            last_ended_at: None,
            created_at: at,
            updated_at: at,
        };
        let text = entries_table(&[
            entry(
                "Customers",
                kontor_jobs::Status::Ready,
                3,
                Some("Sales refused the credentials"),
            ),
            entry("", kontor_jobs::Status::OnHold, 0, None),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ID                                    Description       Status   Next run              Failures  Last error"
        );
        assert_eq!(
            lines[2],
            "00000000-0000-0000-0000-000000000007  Customers         Ready    2027-01-15T08:00:00Z  3         Sales refused the credentials"
        );
        assert_eq!(
            lines[3],
            "00000000-0000-0000-0000-000000000007  sync.incremental  On Hold  2027-01-15T08:00:00Z  0         -"
        );
    }

    #[test]
    fn couple_takes_both_ids_or_match_but_not_both() {
        use clap::Parser as _;
        let id = "0191e2a0-0000-7000-8000-000000000000";
        assert!(Cli::try_parse_from(["k", "couple", "CUSTOMER", "--match"]).is_ok());
        assert!(
            Cli::try_parse_from([
                "k",
                "couple",
                "CUSTOMER",
                "--financials-id",
                id,
                "--sales-id",
                id
            ])
            .is_ok()
        );
        assert!(Cli::try_parse_from(["k", "couple", "CUSTOMER", "--financials-id", id]).is_err());
        assert!(
            Cli::try_parse_from([
                "k",
                "couple",
                "CUSTOMER",
                "--match",
                "--financials-id",
                id,
                "--sales-id",
                id
            ])
            .is_err()
        );
    }

    #[test]
    fn match_choices_on_the_command_line_become_the_match_body() {
        use clap::Parser as _;
        let parse = |args: &[&str]| {
            let mut all = vec!["k", "couple", "CUSTOMER"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all) {
                Ok(Cli { command: Command::Couple(a) }) => Ok(a.match_body()),
                Ok(_) => unreachable!("couple parses as couple"),
                Err(e) => Err(e.to_string()),
            }
        };
        let body =
            parse(&["--match", "--field", "displayName", "--field", "city:2", "--no-create-new"])
                .unwrap();
        assert_eq!(
            body,
            json!({"fields": [{"field": "displayName", "priority": 0}, {"field": "city", "priority": 2}],
                   "caseSensitive": false, "createNew": false})
        );
        let body = parse(&["--match", "--case-sensitive", "--create-new", "--no-sync"]).unwrap();
        assert_eq!(
            body,
            json!({"fields": [], "caseSensitive": true, "createNew": true, "syncAfterCoupling": false})
        );
        let e = parse(&["--match", "--field", "city:first"]).unwrap_err();
        assert!(e.contains("whole number"), "{e}");
        assert!(parse(&["--field", "city"]).is_err(), "--field needs --match");
        assert!(parse(&["--match", "--create-new", "--no-create-new"]).is_err());
    }

    #[test]
    fn a_server_error_is_shown_as_its_message() {
        let body = json!({"error": {"code": "NotFound", "message": "integration table mapping X"}});
        assert_eq!(
            server_message(reqwest::StatusCode::NOT_FOUND, &body),
            "integration table mapping X"
        );
        assert_eq!(
            server_message(reqwest::StatusCode::BAD_GATEWAY, &Value::Null),
            "The server answered 502 Bad Gateway."
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(seg("ITEM-PRODUCT"), "ITEM-PRODUCT");
        assert_eq!(seg("A B/C"), "A%20B%2FC");
    }

    #[test]
    fn the_review_table_pads_columns_and_shows_blank_statuses_as_dashes() {
        let text = review_table(&[line("CUSTOMER", "Finished"), line("CONTACT", " ")]);
        insta::assert_snapshot!(text);
    }
}
