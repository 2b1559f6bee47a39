//! `kontor up`: Financials, Sales and the integration in one process, on SQLite files in a data
//! folder. First start: demo company, integration users, connection setup, full synchronization.
//! Later starts reuse everything (the durable job queue resumes an interrupted synchronization).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kontor_connectors::setup::HttpSetupSides;
use kontor_jobs::{Clock, Queue, SystemClock, Worker};
use kontor_store::Db;
use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn};
use kontor_sync::engine::Engine;
use kontor_sync::setup::{AdminCredentials, SetupRequest};
use kontor_sync::store::SyncStore;
use serde::{Deserialize, Serialize};

use crate::serve::{self, KeySealer, Shutdown};
use crate::stack;

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The data folder (SQLite files, generated credentials, the secret key).
    /// [env: KONTOR_DATA] [config: data] [default: kontor-data]
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// [env: KONTOR_FINANCIALS_PORT] [config: financials.port] [default: 8080]
    #[arg(long)]
    pub financials_port: Option<u16>,
    /// [env: KONTOR_SALES_PORT] [config: sales.port] [default: 8081]
    #[arg(long)]
    pub sales_port: Option<u16>,
    /// Stop after the first full synchronization (for scripts).
    /// [env: KONTOR_EXIT_AFTER_SYNC] [config: exit_after_sync]
    #[arg(long)]
    pub exit_after_sync: bool,
    /// Integration workers in this process. [env: KONTOR_WORKERS] [config: workers] [default: 2]
    #[arg(long)]
    pub workers: Option<usize>,
    /// Customers in the demo company (tests use more to have a longer synchronization).
    #[arg(long, default_value_t = crate::demo::Spec::DEMO.customers, hide = true)]
    pub demo_customers: usize,
    /// Sales' service protection limits (as `kontor sales serve --limits`; off here by default:
    /// the integration is the only heavy user of this Sales).
    /// [env: KONTOR_SALES_LIMITS] [config: sales.limits] [default: off]
    #[arg(long)]
    pub sales_limits: Option<String>,
    /// How long a client may take to send a request head, or the next request on a kept-alive
    /// connection (`10s`, `500ms`).
    /// [env: KONTOR_HEADER_READ_TIMEOUT] [config: header_read_timeout] [default: 10s]
    #[arg(long)]
    pub header_read_timeout: Option<String>,
    /// How long a client may take to send a request body's next bytes (`10s`, `500ms`).
    /// [env: KONTOR_BODY_READ_TIMEOUT] [config: body_read_timeout] [default: 10s]
    #[arg(long)]
    pub body_read_timeout: Option<String>,
}

impl UpArgs {
    pub fn flags(&self, f: &mut crate::config::Flags) {
        f.set("data", "--data", self.data.as_deref());
        f.set("financials.port", "--financials-port", self.financials_port);
        f.set("sales.port", "--sales-port", self.sales_port);
        f.switch("exit_after_sync", "--exit-after-sync", self.exit_after_sync);
        f.set("workers", "--workers", self.workers);
        f.set("sales.limits", "--sales-limits", self.sales_limits.as_deref());
        f.set("header_read_timeout", "--header-read-timeout", self.header_read_timeout.as_deref());
        f.set("body_read_timeout", "--body-read-timeout", self.body_read_timeout.as_deref());
    }
}

/// What the first start generated for the person who ran `kontor up`, kept in
/// `<data>/credentials.json` (mode 0600): the administrators' generated passwords (theirs to
/// read). The integration's own credentials are not here: they are sealed in the sync store
/// (see `kontor_sync::credentials`). `Debug` shows no secret.
#[derive(Default, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub financials_admin_password: String,
    pub sales_admin_password: String,
    /// Where earlier versions kept the integration's credentials in plain text: read once to
    /// move them into the store sealed, never written again.
    #[serde(rename = "integration", default, skip_serializing)]
    legacy_integration: Option<LegacyIntegration>,
    /// The first full synchronization was started (the queue carries it on from there).
    #[serde(default)]
    pub full_sync_started: bool,
}

#[derive(Clone, Deserialize)]
struct LegacyIntegration {
    financials_user: String,
    financials_key: String,
    sales_client_id: String,
    sales_client_secret: String,
}

impl From<LegacyIntegration> for IntegrationCredentials {
    fn from(l: LegacyIntegration) -> Self {
        // An earlier version's credentials: their URLs are those of the connection they were
        // kept with (`IntegrationCredentials::target`).
        IntegrationCredentials {
            financials_url: String::new(),
            financials_user: l.financials_user,
            financials_key: l.financials_key,
            sales_url: String::new(),
            sales: SalesSignIn::ClientCredentials {
                client_id: l.sales_client_id,
                client_secret: l.sales_client_secret,
            },
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

impl Credentials {
    fn path(data: &Path) -> PathBuf {
        data.join("credentials.json")
    }

    fn load(data: &Path) -> anyhow::Result<Credentials> {
        match std::fs::read(Self::path(data)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("read {}", Self::path(data).display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(e) => Err(e).with_context(|| format!("read {}", Self::path(data).display())),
        }
    }

    fn save(&self, data: &Path) -> anyhow::Result<()> {
        let path = Self::path(data);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

/// `<data>/kontor-up.json`: where the last `kontor up` on this data folder serves, so that the
/// integration's command line (`kontor sync status` …) finds it without flags. No secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    pub financials_url: String,
    pub sales_url: String,
}

impl Served {
    pub fn path(data: &Path) -> PathBuf {
        data.join("kontor-up.json")
    }

    /// What the data folder's last `kontor up` wrote (`None` when there is no readable file).
    pub fn load(data: &Path) -> Option<Served> {
        serde_json::from_slice(&std::fs::read(Self::path(data)).ok()?).ok()
    }

    fn save(&self, data: &Path) -> anyhow::Result<()> {
        let path = Self::path(data);
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("write {}", path.display()))
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:{}?mode=rwc", path.display())
}

pub async fn run(args: UpArgs, settings: crate::config::Settings) -> anyhow::Result<()> {
    let data = settings.data.clone().unwrap_or_else(|| PathBuf::from("kontor-data"));
    let financials_port = settings.financials.port.unwrap_or(8080);
    let sales_port = settings.sales.port.unwrap_or(8081);
    let workers = settings.workers.unwrap_or(2);
    let exit_after_sync = settings.exit_after_sync.unwrap_or(false);
    // Off unless set: the integration is the only heavy user of this Sales.
    let sales_limits = settings.sales.limits.as_ref().and_then(|l| l.0.clone());
    let timeouts = settings.timeouts();
    std::fs::create_dir_all(&data)
        .with_context(|| format!("create the data folder {}", data.display()))?;
    crate::private::data_folder(&data)
        .with_context(|| format!("make the data folder {} private", data.display()))?;
    let data = data.canonicalize()?;
    let mut creds = Credentials::load(&data)?;
    let admin_env = settings.admin_password();

    // Stores: Financials (with the integration's and the job queue's tables) and Sales.
    let fin_db = Db::connect(&sqlite_url(&data.join("financials.sqlite"))).await?;
    let crm_db = Db::connect(&sqlite_url(&data.join("sales.sqlite"))).await?;
    // Only generated passwords are kept (to be read by the person who ran `kontor up`); one given
    // in KONTOR_ADMIN_PASSWORD is written nowhere.
    if let Some(generated) = kontor_financials::bootstrap(&fin_db, admin_env.clone()).await? {
        creds.financials_admin_password = generated;
    }
    if let Some(generated) = kontor_sales_server::prepare(&crm_db, admin_env.clone()).await? {
        creds.sales_admin_password = generated;
    }
    let sales_admin_password =
        admin_env.clone().unwrap_or_else(|| creds.sales_admin_password.clone());
    let store = SyncStore::new(fin_db.clone());
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // The key that seals stored secrets: the integration's credentials here, Sales' own.
    let sealer = KeySealer::load(&settings, Some(&data))?;
    if let Some(legacy) = creds.legacy_integration.take()
        && store.credentials(sealer.as_ref()).await?.is_none()
    {
        store.save_credentials(&legacy.into(), sealer.as_ref(), clock.now()).await?;
        eprintln!(
            "Moved the integration's credentials from credentials.json into the store, sealed."
        );
    }
    creds.save(&data)?;
    let queue = Queue::with_clock(fin_db.clone(), clock.clone());
    queue.migrate().await?;

    // Servers.
    // Workers stop first (their jobs in flight are released), then the servers they talk to.
    let shutdown = Shutdown::new();
    let workers_stop = Shutdown::new();
    let fin_url = format!("http://localhost:{}", financials_port);
    let crm_url = format!("http://localhost:{}", sales_port);
    let sync_state =
        kontor_integration::Integration::new(store.clone(), queue.clone(), clock.clone())
            .with_sealer(sealer.clone());
    let fin_task = serve::financials(
        fin_db.clone(),
        ("127.0.0.1", financials_port),
        Some(fin_url.clone()),
        Some(sync_state.clone()),
        timeouts,
        shutdown.clone(),
    )
    .await?;
    let crm_task = serve::sales(
        crm_db.clone(),
        ("127.0.0.1", sales_port),
        Some(crm_url.clone()),
        settings.sealing_key(Some(&data))?,
        sales_limits,
        timeouts,
        shutdown.clone(),
    )
    .await?;

    Served { financials_url: fin_url.clone(), sales_url: crm_url.clone() }.save(&data)?;

    // First start: demo data and the integration users on both sides.
    let company = kontor_financials::bootstrap::company(&fin_db).await?;
    let integration = match store.credentials(sealer.as_ref()).await? {
        Some(i) => i,
        None => {
            eprintln!("First start: creating the demo company in Financials …");
            let spec =
                crate::demo::Spec { customers: args.demo_customers, ..crate::demo::Spec::DEMO };
            let data_set = crate::demo::generate(&spec);
            stack::seed_demo(&fin_db, &data_set).await?;
            let fin_user = stack::create_financials_integration_user(&fin_db).await?;
            let sales = stack::SalesAdmin::login(&crm_url, &sales_admin_password).await?;
            let app = sales.create_application_user("Kontor", "Integration").await?;
            sales.create_users_for_salespeople(&data_set).await?;
            let i = IntegrationCredentials {
                financials_url: fin_url.clone(),
                financials_user: fin_user.0,
                financials_key: fin_user.1,
                sales_url: crm_url.clone(),
                sales: SalesSignIn::ClientCredentials { client_id: app.0, client_secret: app.1 },
            };
            store.save_credentials(&i, sealer.as_ref(), clock.now()).await?;
            i
        }
    };

    // Connection setup, on the first start only (later starts keep the connection and mappings,
    // customised or not). The Sales administrator is used for the solution import and the role
    // assignment, and nothing of it is stored.
    // Connectors for this start's URLs (the ports may differ from the first start's).
    let conns = || kontor_integration::connectors(&fin_url, company.id, &crm_url, &integration);
    let (fin_conn, crm_conn) = conns();
    let sides = HttpSetupSides {
        financials: fin_conn,
        sales: crm_conn,
        financials_root: fin_url.clone(),
        company_id: company.id,
        sales_root: crm_url.clone(),
    };
    if store.connection().await?.is_none() {
        let report = kontor_sync::setup::setup(
            &store,
            &sides,
            SetupRequest {
                financials_url: fin_url.clone(),
                company_id: company.id,
                financials_user: integration.financials_user.clone(),
                sales_url: crm_url.clone(),
                sales_user: match &integration.sales {
                    SalesSignIn::ClientCredentials { client_id, .. } => client_id.clone(),
                    SalesSignIn::Password { user, .. } => user.clone(),
                },
                import_solution: true,
                admin: Some(AdminCredentials {
                    user: kontor_sales::bootstrap::ADMIN_USER.to_owned(),
                    password: sales_admin_password.clone(),
                }),
                enable: None,
            },
            clock.now(),
        )
        .await
        .context("connection setup")?;
        eprintln!("Setup done ({} mappings enabled).", report.enabled_mappings.len());
    }
    let settings = store.connection().await?.context("setup stored no connection")?;
    let settings_enabled = settings.enabled;
    let (fin_conn, crm_conn) = conns();
    let engine = Arc::new(Engine::new(
        store.clone(),
        Arc::new(fin_conn),
        Arc::new(crm_conn),
        settings,
        clock.clone(),
    ));
    // Setup through the API later replaces the engine in the slot the workers share. A
    // connection disabled on Dynamics 365 Connection Setup stays disabled.
    if settings_enabled {
        sync_state.set_engine(engine.clone());
    }

    // Workers, and wake-ups on changes on either side. The workers' ids are the same at every
    // start, so runs a killed process left behind are taken back at once (this process is the
    // data folder's only user) instead of after their leases expire.
    let worker_ids: Vec<String> = (0..workers.max(1)).map(|n| format!("up-{n}")).collect();
    let taken_back = queue.release_runs_of(&worker_ids, clock.now()).await?;
    if taken_back > 0 {
        eprintln!("Resuming {taken_back} job(s) a previous run left unfinished …");
    }
    let mut worker_tasks = Vec::new();
    for id in &worker_ids {
        let worker = Worker::new(
            queue.clone(),
            kontor_sync::jobs::handlers_for(sync_state.slot(), queue.clone()),
        )
        .with_id(id.clone())
        .with_shutdown_grace(Duration::from_secs(5));
        let stop = workers_stop.wait();
        worker_tasks.push(tokio::spawn(async move { worker.run(stop).await }));
    }
    let watcher = tokio::spawn(stack::wake_on_changes(
        vec![fin_db.clone(), crm_db.clone()],
        queue.clone(),
        workers_stop.wait(),
    ));

    if !creds.full_sync_started {
        eprintln!("Running the full synchronization …");
        engine.prepare_full_sync().await?;
        engine.advance_full_sync(&queue).await?;
        creds.full_sync_started = true;
        creds.save(&data)?;
    }
    let outcome = follow_full_sync(&engine, &queue).await?;
    engine.schedule_incremental(&queue, Duration::from_secs(30)).await?;

    print_welcome(&data, &fin_url, &crm_url, &company.name, admin_env.is_some());
    if !outcome.is_empty() {
        eprintln!("Some lines of the full synchronization ended in Error: {}", outcome.join(", "));
    }
    if exit_after_sync {
        eprintln!("--exit-after-sync: stopping.");
    } else {
        eprintln!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c().await?;
        eprintln!("Stopping: releasing jobs in flight …");
    }
    workers_stop.fire();
    for t in worker_tasks {
        let _ = t.await;
    }
    let _ = watcher.await;
    shutdown.fire();
    let _ = fin_task.await;
    let _ = crm_task.await;
    fin_db.close().await;
    crm_db.close().await;
    Ok(())
}

/// Shows one progress line per review line until every line has ended. Returns the lines that
/// ended in Error.
async fn follow_full_sync(engine: &Engine, queue: &Queue) -> anyhow::Result<Vec<String>> {
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<22} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut shown: Vec<(String, ProgressBar)> = Vec::new();
    loop {
        let lines = engine.review_status_on(queue).await?;
        for l in &lines {
            if !shown.iter().any(|(n, _)| n == &l.name) {
                let bar = bars.add(ProgressBar::new_spinner().with_style(style.clone()));
                bar.set_prefix(l.name.clone());
                shown.push((l.name.clone(), bar));
            }
        }
        let mut open = 0;
        for l in &lines {
            let Some((_, bar)) = shown.iter().find(|(n, _)| n == &l.name) else { continue };
            bar.set_message(format!(
                "{:<22} entry: {:<12} to Sales: {:<12} from Sales: {}",
                l.recommendation,
                l.job_queue_entry_status,
                l.to_int_table_job_status,
                l.from_int_table_job_status
            ));
            // A line held up by a line in Error does not go on by itself.
            if matches!(l.job_queue_entry_status.as_str(), "Finished" | "Error") || l.held_up {
                bar.finish();
            } else {
                bar.tick();
                open += 1;
            }
        }
        if open == 0 {
            return Ok(lines
                .iter()
                .filter(|l| l.job_queue_entry_status == "Error" || l.held_up)
                .map(|l| l.name.clone())
                .collect());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn print_welcome(data: &Path, fin_url: &str, crm_url: &str, company: &str, from_env: bool) {
    let creds = Credentials::path(data);
    let password = |key: &str| {
        if from_env {
            "the one in KONTOR_ADMIN_PASSWORD".to_owned()
        } else {
            format!("\"{key}\" in {}", creds.display())
        }
    };
    // How to run the other commands: this very binary, or cargo from the source tree.
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "kontor".to_owned());
    println!();
    println!("Kontor is up. Open the web client in a browser:");
    println!();
    println!("    {fin_url}/");
    println!();
    println!("  Sign in as   ADMIN (Financials, company {company})");
    println!("  Password     {}", password("financials_admin_password"));
    println!();
    println!(
        "  Financials   {fin_url}/api/v2.0/companies  (HTTP Basic, user ADMIN, same password)"
    );
    println!("               {fin_url}/ODataV4/Company('{company}')/ProductItemAvailability");
    println!("               {fin_url}/integration/v1/full-sync  (the integration's JSON API)");
    println!("  Sales        {crm_url}/api/data/v9.2/accounts");
    println!(
        "               token: POST {crm_url}/oauth2/v2.0/token grant_type=password username=admin"
    );
    println!("               password {}", password("sales_admin_password"));
    println!("  Data         {}", data.display());
    println!();
    println!("  In another terminal, from this folder (no flags needed; they find this Kontor):");
    println!("    {exe} sync status");
    println!("    {exe} jobs list");
    println!("  or from the source tree: cargo run --release -p kontor -- sync status");
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credentials_file_of_an_earlier_version_gives_up_its_integration_secrets_and_is_written_without_them()
     {
        let old = serde_json::json!({
            "financials_admin_password": "fin-admin", "sales_admin_password": "crm-admin",
            "integration": {"financials_user": "KONTOR-INTEGRATION", "financials_key": "old-key",
                "sales_client_id": "app", "sales_client_secret": "old-secret"},
            "full_sync_started": true,
        });
        let mut creds: Credentials = serde_json::from_value(old).unwrap();
        let legacy: IntegrationCredentials = creds.legacy_integration.take().unwrap().into();
        assert_eq!(legacy.financials_key, "old-key");
        assert_eq!(
            legacy.sales,
            SalesSignIn::ClientCredentials {
                client_id: "app".into(),
                client_secret: "old-secret".into()
            }
        );
        let written = serde_json::to_string(&creds).unwrap();
        assert!(!written.contains("integration") && !written.contains("old-"), "{written}");
        assert!(written.contains("fin-admin") && written.contains("crm-admin"), "{written}");
        assert!(!format!("{creds:?}").contains("admin"));
    }
}
