//! `kontor bench pages`: the web client's latency on a big company.
//!
//! Builds a Financials with N customers (the benchmark data set of `bench sync`, seeded through
//! the domain layer), a fresh Sales and the integration's connection and default mappings in the
//! Financials store (as `kontor up` keeps them), serves Financials with its pages on a free port
//! exactly as `kontor up` does (`serve::financials`), signs in through the sign-in form over
//! HTTP, then requests each page `--requests` times, one after the other, and reports per page
//! p50/p95/p99/max and the rows the page shows (table body rows of the HTML: a list reads at most
//! one page of rows, so for a list this is the rows it read).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kontor_connectors::{Grant, ODataConnector, TokenSource};
use kontor_jobs::{Clock, Queue, SystemClock};
use kontor_store::Db;
use kontor_sync::defaults::default_mappings;
use kontor_sync::engine::Engine;
use kontor_sync::store::{ConnectionSettings, SyncStore};
use reqwest::header;
use uuid::Uuid;

use super::stack::{Databases, Sales};
use super::{DbBackend, say, seed};

/// `kontor bench pages` options.
#[derive(Debug, Clone, clap::Args)]
pub struct PagesArgs {
    /// Customers to generate (with as many contacts, a quarter as many items, two prices each).
    #[arg(long, default_value_t = 100_000)]
    pub customers: usize,
    /// Database backend of the stores.
    #[arg(long, value_enum, default_value_t = DbBackend::Sqlite)]
    pub db_backend: DbBackend,
    /// Requests per page.
    #[arg(long, default_value_t = 100)]
    pub requests: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The figures of one page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PageFigures {
    pub page: String,
    pub path: String,
    pub requests: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Table body rows the page shows.
    pub rows: usize,
}

/// The report: one line per page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PagesReport {
    pub customers: usize,
    pub backend: String,
    pub seed_seconds: f64,
    pub pages: Vec<PageFigures>,
}

impl PagesReport {
    pub fn table(&self) -> String {
        let mut out = format!(
            "kontor bench pages: {} customers on {} (seeded in {:.1} s)\n",
            self.customers, self.backend, self.seed_seconds
        );
        out.push_str(&format!(
            "{:<44} {:>8} {:>8} {:>8} {:>8} {:>6}\n",
            "page", "p50 ms", "p95 ms", "p99 ms", "max ms", "rows"
        ));
        for p in &self.pages {
            out.push_str(&format!(
                "{:<44} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6}\n",
                p.page, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms, p.rows
            ));
        }
        out
    }
}

/// The `q`-th quantile (0..=1) of sorted durations, in ms (nearest rank).
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// Rows of the HTML's table bodies (`<tr` inside `<tbody>`).
pub fn body_rows(html: &str) -> usize {
    html.split("<tbody")
        .skip(1)
        .map(|b| b.split("</tbody>").next().unwrap_or("").matches("<tr").count())
        .sum()
}

/// The text between `start` and the next `"`.
fn value_after(body: &str, start: &str) -> Option<String> {
    let at = body.find(start)? + start.len();
    Some(body[at..].split('"').next()?.to_owned())
}

/// The `name=value` of a `Set-Cookie` header for `name`.
fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get_all(header::SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let pair = v.split(';').next()?;
        pair.starts_with(&format!("{name}=")).then(|| pair.to_owned())
    })
}

/// A browser that signed in through the sign-in form.
struct Browser {
    client: reqwest::Client,
    base: String,
    session: String,
}

impl Browser {
    async fn sign_in(base: &str, user: &str, password: &str) -> anyhow::Result<Browser> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()?;
        let form = client.get(format!("{base}/signin")).send().await?;
        let signin_cookie = form
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        let html = form.text().await?;
        let csrf = value_after(&html, "name=\"csrf\" value=\"")
            .context("the sign-in form has no CSRF field")?;
        let answer = client
            .post(format!("{base}/signin"))
            .header(header::COOKIE, signin_cookie)
            .header(header::ORIGIN, base)
            .form(&[("csrf", csrf.as_str()), ("user_name", user), ("password", password)])
            .send()
            .await?;
        let session = cookie(&answer, kontor_financials_web::security::SESSION_COOKIE)
            .with_context(|| format!("sign-in refused ({})", answer.status()))?;
        Ok(Browser { client, base: base.to_owned(), session })
    }

    /// GETs a page; it must answer 200 with a page (not the sign-in form).
    async fn page(&self, path: &str) -> anyhow::Result<String> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, &self.session)
            .header(header::ACCEPT, "text/html")
            .send()
            .await?;
        let status = resp.status();
        let html = resp.text().await?;
        if !status.is_success() {
            bail!("GET {path}: {status}");
        }
        if html.contains("name=\"password\"") && !path.starts_with("/users") {
            bail!("GET {path} answered the sign-in form");
        }
        Ok(html)
    }
}

/// A free loopback port (bound, read, released).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The first `href="{prefix}/<uuid>"` of a page.
fn first_id(html: &str, prefix: &str) -> Option<Uuid> {
    let start = format!("href=\"{prefix}/");
    html.split(&start).skip(1).find_map(|rest| Uuid::parse_str(rest.split('"').next()?).ok())
}

/// Runs the benchmark.
pub async fn run(args: PagesArgs) -> anyhow::Result<PagesReport> {
    let dbs = Databases::new(args.db_backend).await?;
    say(format!(
        "{} customers on {}; seeding Financials (not timed)…",
        args.customers,
        dbs.backend_name()
    ));
    let started = Instant::now();
    let fin_url = dbs.url("financials").await?;
    let db = Db::connect(&fin_url).await?;
    let spec = crate::demo::Spec { open_orders: 20, ..crate::demo::Spec::bench(args.customers) };
    let seeded = seed::seed(&db, &crate::demo::generate(&spec)).await?;
    // Five of the open orders posted (Ship and Invoice), for Posted Sales Invoices to list.
    let actor = kontor_financials::service::Actor(seeded.admin_id);
    let mut tx = db.begin().await?;
    let orders = kontor_financials::query::list(
        &mut tx,
        kontor_financials::service::entity(kontor_financials::model::sets::SALES_ORDERS)?,
        &kontor_odata::query::QueryOptions::default(),
        None,
        5,
    )
    .await?;
    for id in orders.rows.iter().filter_map(|r| r.id()) {
        kontor_financials::service::post_order(&mut tx, id, actor)
            .await
            .context("post an order")?;
    }
    tx.commit().await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    say(format!("seeded in {seed_seconds:.1} s"));

    // Sales, and the integration in the Financials store as `kontor up` keeps it.
    let sales = Sales::start(&dbs.url("sales").await?, &seeded).await?;
    // Sales accounts for Set Up Coupling to find (the Sales side is not synchronized here).
    for n in 0..50 {
        let account = serde_json::json!({
            "name": format!("Keller Trading {n}"), "accountnumber": format!("BENCH-{n:03}"),
        });
        sales.admin.ok(reqwest::Method::POST, "accounts", Some(&account)).await?;
    }
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let store = SyncStore::new(db.clone());
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let queue = Queue::with_clock(db.clone(), clock.clone());
    queue.migrate().await?;
    let settings = ConnectionSettings {
        id: Uuid::new_v4(),
        financials_url: base.clone(),
        company_id: seeded.company_id,
        sales_url: sales.base_url.clone(),
        financials_user: seed::INTEGRATION_USER.to_owned(),
        financials_user_id: Some(seeded.integration_user_id.to_string()),
        sales_user_id: Some(sales.integration_user_id.to_string()),
        sales_user_name: sales.client_id.to_string(),
        enabled: true,
    };
    store.save_connection(&settings, clock.now()).await?;
    store.save_mappings(&default_mappings(), false, false, clock.now()).await?;
    let fin = ODataConnector::financials(
        &base,
        seeded.company_id,
        seed::INTEGRATION_USER,
        &seeded.integration_key,
    );
    let tokens = TokenSource::new(
        format!("{}/oauth2/v2.0/token", sales.base_url),
        format!("{}/.default", sales.base_url),
        Grant::ClientCredentials {
            client_id: sales.client_id.to_string(),
            client_secret: kontor_connectors::Secret(sales.client_secret.clone()),
        },
    );
    let crm = ODataConnector::dataverse(&sales.base_url, tokens);
    let engine =
        Arc::new(Engine::new(store.clone(), Arc::new(fin), Arc::new(crm), settings, clock.clone()));
    let integration = kontor_integration::Integration::new(store, queue, clock);
    integration.set_engine(engine.clone());

    let shutdown = crate::serve::Shutdown::new();
    let server = crate::serve::financials(
        db.clone(),
        ("127.0.0.1", port),
        Some(base.clone()),
        Some(integration),
        crate::listen::Timeouts::default(),
        shutdown.clone(),
    )
    .await?;
    // The review's lines, as Run Full Synchronization leaves them (not started); it counts the
    // records of each side over their APIs, so after the server is up.
    engine.prepare_full_sync().await.context("Run Full Synchronization")?;

    let browser =
        Browser::sign_in(&base, kontor_financials::bootstrap::ADMIN_USER, seed::ADMIN_PASSWORD)
            .await
            .context("sign in through the web client")?;

    // The paths: the ids come from the pages themselves.
    let first = browser.page("/customers").await?;
    let customer = first_id(&first, "/customers").context("no customer on the first page")?;
    let pages_total = (args.customers as u64).div_ceil(kontor_financials_web::paging::PAGE_SIZE);
    let orders = browser.page("/sales-orders").await?;
    let mut paths: Vec<(&str, String)> = vec![
        ("Home", "/".into()),
        ("Customer List (first page)", "/customers".into()),
        ("Customer List (middle page)", format!("/customers?page={}", pages_total.div_ceil(2))),
        ("Customer List (last page)", format!("/customers?page={}", pages_total.max(1))),
        ("Customer List (search, many hits)", "/customers?q=Keller".into()),
        ("Customer List (search, no hit)", "/customers?q=no-such-customer".into()),
        ("Customer List (sort by name desc)", "/customers?sort=name&dir=desc".into()),
        (
            "Customer List (sort by city, middle)",
            format!("/customers?sort=city&dir=asc&page={}", pages_total.div_ceil(2)),
        ),
        ("Customer Card", format!("/customers/{customer}")),
        ("Set Up Coupling (search)", format!("/customers/{customer}/coupling?q=Keller")),
        ("Contact List", "/contacts".into()),
        ("Item List", "/items".into()),
        ("Sales Orders", "/sales-orders".into()),
    ];
    if let Some(order) = first_id(&orders, "/sales-orders") {
        paths.push(("Sales Order", format!("/sales-orders/{order}")));
    }
    paths.extend([
        ("Posted Sales Invoices", "/posted-sales-invoices".to_owned()),
        ("Users", "/users".into()),
        ("Job Queue Entries", "/job-queue-entries".into()),
        ("Integration Table Mappings", "/integration-table-mappings".into()),
        ("CRM Full Synch. Review", "/crm-full-synch-review".into()),
        ("Integration Synch. Jobs", "/integration-synch-jobs".into()),
        ("Coupled Data Synchronization Errors", "/coupled-data-synchronization-errors".into()),
        ("Dynamics 365 Connection Setup", "/dynamics-365-connection-setup".into()),
    ]);

    let mut figures = Vec::new();
    for (name, path) in paths {
        // One request to warm the statement caches, not counted.
        let html = browser.page(&path).await.with_context(|| name.to_owned())?;
        let rows = body_rows(&html);
        let mut times = Vec::with_capacity(args.requests);
        for _ in 0..args.requests.max(1) {
            let t = Instant::now();
            browser.page(&path).await.with_context(|| name.to_owned())?;
            times.push(t.elapsed());
        }
        times.sort();
        let f = PageFigures {
            page: name.to_owned(),
            path,
            requests: times.len(),
            p50_ms: quantile_ms(&times, 0.50),
            p95_ms: quantile_ms(&times, 0.95),
            p99_ms: quantile_ms(&times, 0.99),
            max_ms: quantile_ms(&times, 1.0),
            rows,
        };
        say(format!("{:<40} p99 {:>8.2} ms ({} rows)", f.page, f.p99_ms, f.rows));
        figures.push(f);
    }
    shutdown.fire();
    let _ = server.await;
    drop(sales);
    db.close().await;
    Ok(PagesReport {
        customers: args.customers,
        backend: dbs.backend_name().to_owned(),
        seed_seconds,
        pages: figures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_over_the_sorted_times() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        // (quantile, expected ms)
        let cases = [(0.5, 50.0), (0.95, 95.0), (0.99, 99.0), (1.0, 100.0), (0.0, 1.0)];
        for (q, ms) in cases {
            assert_eq!(quantile_ms(&times, q), ms, "q={q}");
        }
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn body_rows_count_the_rows_of_table_bodies_only() {
        let cases = [
            (
                "<table><thead><tr><th>a</th></tr></thead><tbody><tr></tr><tr></tr></tbody></table>",
                2,
            ),
            ("<p>no table</p>", 0),
            ("<tbody></tbody><tbody><tr class=x></tr></tbody>", 1),
        ];
        for (html, rows) in cases {
            assert_eq!(body_rows(html), rows, "{html}");
        }
    }
}
