//! Running the services: `kontor financials serve`, `kontor sales serve`, `kontor worker`, and the
//! pieces `kontor up` starts in one process.

use std::future::Future;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use kontor_jobs::{Queue, SystemClock, Worker};
use kontor_sales::secrets::SealingKey;
use kontor_store::Db;
use kontor_sync::credentials::Sealer;
use kontor_sync::store::SyncStore;
use tokio::sync::watch;

use crate::config::{Flags, Settings};
use tokio::task::JoinHandle;

/// A shutdown signal many tasks can wait on.
#[derive(Clone)]
pub struct Shutdown(pub watch::Sender<bool>);

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown(watch::channel(false).0)
    }
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
    /// Completes once [`Shutdown::fire`] was called.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|fired| *fired).await;
        }
    }
    /// Fires on Ctrl-C.
    pub fn on_ctrl_c(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("Stopping …");
                me.fire();
            }
        });
    }
}

async fn bind(addr: impl ToSocketAddrs) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = addr.to_socket_addrs()?.next().context("no address to listen on")?;
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listen on {addr}"))
}

/// Serves Financials (and, when given, the integration's JSON API behind Financials' own
/// authentication) until `shutdown` fires.
pub async fn financials(
    db: Db,
    addr: impl ToSocketAddrs,
    public_url: Option<String>,
    sync: Option<kontor_integration::Integration>,
    timeouts: crate::listen::Timeouts,
    shutdown: Shutdown,
) -> anyhow::Result<JoinHandle<()>> {
    let listener = bind(addr).await?;
    let config = kontor_financials_server::Config {
        public_url,
        metrics: Some(crate::telemetry::handle()),
        ..Default::default()
    };
    let state = kontor_financials_server::AppState::new(db, config).await?;
    let app = financials_app(state, sync);
    let stop = shutdown.wait();
    Ok(tokio::spawn(async move {
        let app = kontor_financials_server::odata_errors(app);
        if let Err(e) = crate::listen::serve(listener, app, timeouts, stop).await {
            tracing::error!(error = %e, "the Financials server stopped");
        }
    }))
}

/// The Financials routes, the web client's pages (`/` is Home) and, when given, the
/// integration's routes behind the same authentication, all behind the same layers (body
/// limit, tracing, panic catching).
pub fn financials_app(
    state: kontor_financials_server::AppState,
    sync: Option<kontor_integration::Integration>,
) -> axum::Router {
    let web =
        kontor_financials_web::WebState::new(state.db.clone(), state.auth.clone(), sync.clone())
            .with_public_url(state.config.public_url.as_deref());
    let pages = Some(kontor_financials_web::router(web));
    let (state, extra) = match sync {
        Some(sync) => (
            state
                .with_health_check(kontor_sync_server::health_check(sync.clone()))
                .with_scrape_hook(kontor_sync_server::scrape_hook(sync.clone())),
            kontor_sync_server::routes(sync),
        ),
        None => (state, Vec::new()),
    };
    kontor_financials_server::router_with_pages(state, extra, pages)
}

/// The sealing key of stored secrets (the `secret_key` setting, else `<data>/secret.key`,
/// created when missing) as the integration's [`Sealer`]: its credentials are kept encrypted in
/// the sync store with the same key that seals Sales' stored secrets.
pub struct KeySealer(pub SealingKey);

impl KeySealer {
    pub fn load(settings: &Settings, data: Option<&Path>) -> anyhow::Result<Arc<dyn Sealer>> {
        Ok(Arc::new(KeySealer(settings.sealing_key(data)?)))
    }
}

impl Sealer for KeySealer {
    fn seal(&self, plaintext: &str) -> String {
        self.0.seal(plaintext)
    }
    fn open(&self, sealed: &str) -> Option<String> {
        self.0.open(sealed).ok().map(|s| s.expose().to_owned())
    }
}

/// Serves Sales until `shutdown` fires. `sealing_key` seals its stored secrets.
pub async fn sales(
    db: Db,
    addr: impl ToSocketAddrs,
    public_url: Option<String>,
    sealing_key: SealingKey,
    limits: Option<kontor_sales_server::Limits>,
    timeouts: crate::listen::Timeouts,
    shutdown: Shutdown,
) -> anyhow::Result<JoinHandle<()>> {
    let listener = bind(addr).await?;
    let config = kontor_sales_server::Config {
        public_url,
        sealing_key,
        limits,
        metrics: Some(crate::telemetry::handle()),
        ..Default::default()
    };
    let stop = shutdown.wait();
    Ok(tokio::spawn(async move {
        let app = kontor_sales_server::router(kontor_sales_server::AppState::new(db, config));
        if let Err(e) = crate::listen::serve(listener, app, timeouts, stop).await {
            tracing::error!(error = %e, "the Sales server stopped");
        }
    }))
}

/// Which service `kontor … serve` runs: its settings are under its name (`financials.db`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Financials,
    Sales,
}

/// The settings of a service: `financials.*` or `sales.*`.
struct ServiceSettings {
    db: String,
    listen: String,
    public_url: Option<String>,
}

impl Side {
    fn keys(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Side::Financials => ("financials.db", "financials.listen", "financials.url"),
            Side::Sales => ("sales.db", "sales.listen", "sales.url"),
        }
    }

    fn settings(self, settings: &Settings) -> anyhow::Result<ServiceSettings> {
        let (db, listen, url) = match self {
            Side::Financials => {
                let f = &settings.financials;
                (f.db.clone(), f.listen.clone(), f.url.clone())
            }
            Side::Sales => {
                let s = &settings.sales;
                (s.db.clone(), s.listen.clone(), s.url.clone())
            }
        };
        let (db_key, listen_key, _) = self.keys();
        let missing = |flag: &str, key: &str| {
            let env = crate::config::SETTINGS.iter().find(|s| s.key == key).map_or("", |s| s.env);
            anyhow::anyhow!("give {flag}, {env} or `{key}` in the config file")
        };
        Ok(ServiceSettings {
            db: db.ok_or_else(|| missing("--db", db_key))?,
            listen: listen.ok_or_else(|| missing("--listen", listen_key))?.0,
            public_url: url.map(|u| u.0),
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// SQLite path (`kontor.sqlite`, `sqlite:…`) or PostgreSQL URL (`postgres://…`).
    /// [env: KONTOR_FINANCIALS_DB / KONTOR_SALES_DB] [config: financials.db / sales.db]
    #[arg(long)]
    pub db: Option<String>,
    /// The address to listen on, `HOST:PORT`.
    /// [env: KONTOR_FINANCIALS_LISTEN / KONTOR_SALES_LISTEN] [config: financials.listen / sales.listen]
    #[arg(long)]
    pub listen: Option<String>,
    /// The URL clients reach the service at (default: from each request's Host header).
    /// [env: KONTOR_FINANCIALS_URL / KONTOR_SALES_URL] [config: financials.url / sales.url]
    #[arg(long)]
    pub public_url: Option<String>,
    /// Folder of the key that seals stored secrets (`secret.key`; the `secret_key` setting,
    /// KONTOR_SECRET_KEY, overrides it): Sales' stored secrets, and on Financials the
    /// integration's credentials. [env: KONTOR_DATA] [config: data]
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How long a client may take to send a request head, or to send the next request on a
    /// kept-alive connection (`10s`, `500ms`).
    /// [env: KONTOR_HEADER_READ_TIMEOUT] [config: header_read_timeout] [default: 10s]
    #[arg(long)]
    pub header_read_timeout: Option<String>,
    /// How long a client may take to send a request body's next bytes (`10s`, `500ms`).
    /// [env: KONTOR_BODY_READ_TIMEOUT] [config: body_read_timeout] [default: 10s]
    #[arg(long)]
    pub body_read_timeout: Option<String>,
}

impl ServeArgs {
    pub fn flags(&self, f: &mut Flags, side: Side) {
        let (db, listen, url) = side.keys();
        f.set(db, "--db", self.db.as_deref());
        f.set(listen, "--listen", self.listen.as_deref());
        f.set(url, "--public-url", self.public_url.as_deref());
        f.set("data", "--data", self.data.as_deref());
        f.set("header_read_timeout", "--header-read-timeout", self.header_read_timeout.as_deref());
        f.set("body_read_timeout", "--body-read-timeout", self.body_read_timeout.as_deref());
    }
}

/// `sqlite:` or `postgres://` URL from what a person typed.
pub fn db_url(arg: &str) -> String {
    if arg.starts_with("postgres://")
        || arg.starts_with("postgresql://")
        || arg.starts_with("sqlite:")
    {
        arg.to_owned()
    } else {
        format!("sqlite:{arg}?mode=rwc")
    }
}

/// The folder of `secret.key` given with `--data`, created if missing and made private (0700,
/// its files 0600) like `kontor up`'s data folder.
fn private_data(data: Option<&Path>) -> anyhow::Result<()> {
    if let Some(dir) = data {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create the data folder {}", dir.display()))?;
        crate::private::data_folder(dir)
            .with_context(|| format!("make the data folder {} private", dir.display()))?;
    }
    Ok(())
}

fn print_generated(service: &str, user: &str, generated: Option<String>) {
    if let Some(p) = generated {
        println!("{service}: created user {user} with the generated password: {p}");
        println!("(shown once; set KONTOR_ADMIN_PASSWORD to choose it yourself)");
    }
}

pub async fn financials_serve(settings: Settings) -> anyhow::Result<()> {
    let args = Side::Financials.settings(&settings)?;
    let data = settings.data.as_deref();
    private_data(data)?;
    let db = Db::connect(&db_url(&args.db)).await?;
    let generated = kontor_financials::bootstrap(&db, settings.admin_password()).await?;
    print_generated("Financials", kontor_financials::bootstrap::ADMIN_USER, generated);
    // The integration's tables live beside Financials' (it hosts the integration).
    let store = SyncStore::new(db.clone());
    store.migrate().await?;
    let queue = Queue::new(db.clone());
    queue.migrate().await?;
    if data.is_none() && settings.secret_key.is_none() {
        eprintln!(
            "No --data and no KONTOR_SECRET_KEY: integration credentials given to setup are sealed with a key that lasts until this process stops."
        );
    }
    let sync = kontor_integration::Integration::new(store, queue, Arc::new(SystemClock))
        .with_sealer(KeySealer::load(&settings, data)?);
    // The stored connection, if any, runs at once (setup through the API replaces it).
    match sync.connect().await {
        Ok(Some(_)) => eprintln!("Integration: connected with the stored connection."),
        Ok(None) => {}
        Err(e) => {
            eprintln!("Integration: the stored connection cannot be used ({e}); run setup again.")
        }
    }
    let shutdown = Shutdown::new();
    shutdown.on_ctrl_c();
    let task = financials(
        db.clone(),
        args.listen.as_str(),
        args.public_url,
        Some(sync),
        settings.timeouts(),
        shutdown,
    )
    .await?;
    eprintln!("Financials listening on http://{}", args.listen);
    task.await?;
    db.close().await;
    Ok(())
}

/// `kontor sales serve`: the service arguments and Sales' service protection limits.
#[derive(Debug, clap::Args)]
pub struct SalesServeArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Service protection limits per user, as Dataverse's: `on` (its documented values: 6,000
    /// requests and 1,200 s of execution time per 300 s, 52 concurrent requests), `off`, or a
    /// list like `requests=6000,window=300,execution=1200,concurrent=52` (seconds).
    /// [env: KONTOR_SALES_LIMITS] [config: sales.limits] [default: on]
    #[arg(long)]
    pub limits: Option<String>,
}

impl SalesServeArgs {
    pub fn flags(&self, f: &mut Flags) {
        self.serve.flags(f, Side::Sales);
        f.set("sales.limits", "--limits", self.limits.as_deref());
    }
}

/// A parsed `--limits` / `KONTOR_SALES_LIMITS` value.
#[derive(Debug, Clone)]
pub struct LimitsSetting(pub Option<kontor_sales_server::Limits>);

/// Parses a limits setting for clap (which names the flag or variable in its error).
pub fn limits_setting(text: &str) -> Result<LimitsSetting, String> {
    kontor_sales_server::limits::parse_setting(text).map(LimitsSetting)
}

pub async fn sales_serve(settings: Settings) -> anyhow::Result<()> {
    let args = Side::Sales.settings(&settings)?;
    let data = settings.data.as_deref();
    // Dataverse's limits unless turned off.
    let limits = match &settings.sales.limits {
        Some(l) => l.0.clone(),
        None => limits_setting("on").map_err(anyhow::Error::msg)?.0,
    };
    private_data(data)?;
    let db = Db::connect(&db_url(&args.db)).await?;
    let generated = kontor_sales_server::prepare(&db, settings.admin_password()).await?;
    print_generated("Sales", kontor_sales::bootstrap::ADMIN_USER, generated);
    let shutdown = Shutdown::new();
    shutdown.on_ctrl_c();
    let task = sales(
        db.clone(),
        args.listen.as_str(),
        args.public_url,
        settings.sealing_key(data)?,
        limits,
        settings.timeouts(),
        shutdown,
    )
    .await?;
    eprintln!("Sales listening on http://{}", args.listen);
    task.await?;
    db.close().await;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The Financials database (PostgreSQL to share it between machines) holding the integration's
    /// connection, its sealed credentials, mappings, couplings and job queue.
    /// [env: KONTOR_FINANCIALS_DB] [config: financials.db]
    #[arg(long)]
    pub db: Option<String>,
    /// Folder of the key that seals the integration's credentials (`secret.key`, as given to the
    /// Financials service); the `secret_key` setting (KONTOR_SECRET_KEY) overrides it.
    /// [env: KONTOR_DATA] [config: data]
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Workers in this process. [env: KONTOR_WORKERS] [config: workers] [default: 2]
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seconds a worker holds a job without a heartbeat (heartbeats go every third of it): how
    /// long the job of a worker that died waits before another worker takes it over.
    /// [env: KONTOR_LEASE_SECONDS] [config: lease_seconds] [default: 60]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_seconds: Option<u64>,
}

impl WorkerArgs {
    pub fn flags(&self, f: &mut Flags) {
        f.set("financials.db", "--db", self.db.as_deref());
        f.set("data", "--data", self.data.as_deref());
        f.set("workers", "--workers", self.workers);
        f.set("lease_seconds", "--lease-seconds", self.lease_seconds);
    }
}

/// `kontor worker`: runs the integration's jobs against the connection stored in the database.
pub async fn worker(settings: Settings) -> anyhow::Result<()> {
    let data = settings.data.as_deref();
    let db = settings.financials.db.as_deref().context(
        "give --db, KONTOR_FINANCIALS_DB or `financials.db` in the config file (the Financials database)",
    )?;
    let workers = settings.workers.unwrap_or(2);
    let lease_seconds = settings.lease_seconds.map_or(60, |l| l.0);
    private_data(data)?;
    let db = Db::connect(&db_url(db)).await?;
    let store = SyncStore::new(db.clone());
    store.migrate().await?;
    let queue = Queue::new(db.clone());
    queue.migrate().await?;
    if data.is_none() && settings.secret_key.is_none() {
        anyhow::bail!(
            "Give --data (the folder of secret.key) or set KONTOR_SECRET_KEY: the integration's credentials are stored sealed."
        );
    }
    let state = kontor_integration::Integration::new(store, queue.clone(), Arc::new(SystemClock))
        .with_sealer(KeySealer::load(&settings, data)?);
    state.connect().await?.context(
        "no enabled connection is set up in this database: run `kontor setup` or `kontor up` first (or Enable it on Dynamics 365 Connection Setup)",
    )?;
    let slot = state.slot();
    let shutdown = Shutdown::new();
    shutdown.on_ctrl_c();
    let mut tasks = Vec::new();
    for n in 0..workers.max(1) {
        let w = Worker::new(
            queue.clone(),
            kontor_sync::jobs::handlers_for(slot.clone(), queue.clone()),
        )
        .with_id(format!("worker-{}-{n}", std::process::id()))
        .with_lease(std::time::Duration::from_secs(lease_seconds));
        let stop = shutdown.wait();
        tasks.push(tokio::spawn(async move { w.run(stop).await }));
    }
    // Wake-ups: one small delta read per mapping and side each second (works against a real
    // Dataverse too), so a change reaches the other side well within two seconds.
    let (watch_slot, watch_queue, stop) = (slot.clone(), queue.clone(), shutdown.wait());
    let watcher = tokio::spawn(async move {
        watch_slot.watch(&watch_queue, std::time::Duration::from_secs(1), stop).await
    });
    eprintln!(
        "{} integration worker(s) running; Ctrl-C stops them and releases their jobs",
        tasks.len()
    );
    for t in tasks {
        t.await??;
    }
    watcher.await?;
    db.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use kontor_financials_server::testing::TEST_ADMIN_PASSWORD;

    use super::*;

    #[tokio::test]
    async fn a_body_over_the_limit_answers_413_on_the_integration_routes_as_on_the_api() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
        kontor_financials::bootstrap(&db, Some(TEST_ADMIN_PASSWORD.to_owned())).await.unwrap();
        let config =
            kontor_financials_server::Config { max_body_bytes: 1024, ..Default::default() };
        let state = kontor_financials_server::AppState::new(db.clone(), config).await.unwrap();
        let company = state.company.id;
        let store = SyncStore::new(db.clone());
        store.migrate().await.unwrap();
        let queue = Queue::new(db.clone());
        queue.migrate().await.unwrap();
        let sync = kontor_integration::Integration::new(store, queue, Arc::new(SystemClock));
        let app = financials_app(state, Some(sync));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::new();
        let post = |path: String, body: String| {
            client
                .post(format!("{base}{path}"))
                .basic_auth("ADMIN", Some(TEST_ADMIN_PASSWORD))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let import = "/integration/v1/mappings/import".to_owned();
        for path in [import.clone(), format!("/api/v2.0/companies({company})/customers")] {
            let res = post(path.clone(), "x".repeat(2048)).await.unwrap();
            assert_eq!(res.status(), 413, "{path}");
        }
        // Under the limit the file reaches the import, which names what is wrong with it.
        let res = post(import, "x".repeat(100)).await.unwrap();
        assert_eq!(res.status(), 400);
    }
}
