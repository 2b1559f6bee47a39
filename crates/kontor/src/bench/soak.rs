//! `kontor bench soak --minutes M --rate R`: the soak benchmark (issue #14, point 9; documented
//! in `docs/benchmarks.md`, not run in CI).
//!
//! After a full synchronization of a generated data set, the integration runs as the product
//! runs it — recurring incremental job queue entries, two workers, the change-feed watcher each
//! second and the wake-up on changes in the Financials store — while ordinary users make `R`
//! changes a second on each side for `M` minutes: a customer's name in Financials (customers of
//! the first half) and an account's phone number in Sales (accounts of the second half), so the
//! two sides never change the same record. Each change is timed from its write's answer until
//! the other side's API shows it (checked every 100 ms, in bulk, for every change in flight).
//! The resident memory is sampled once a minute. At the end the load stops, every change in
//! flight must arrive, and both sides are compared record by record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kontor_connectors::{Grant, ODataConnector, Secret, TokenSource};
use kontor_jobs::{Queue, Worker};
use kontor_sync::connector::{Connector, Cursor, TableRef};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::report::percentile;
use super::stack::{Databases, Financials, Sales};
use super::{DbBackend, full, rss, say, seed};

/// `kontor bench soak` options.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// How long the load lasts.
    #[arg(long, default_value_t = 30)]
    pub minutes: u64,
    /// Changes a second on each side.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,
    /// Customers to generate (with as many contacts, a quarter as many items, two prices each).
    #[arg(long, default_value_t = 2_000)]
    pub records: usize,
    /// Database backend of all stores.
    #[arg(long, value_enum, default_value_t = DbBackend::Sqlite)]
    pub db_backend: DbBackend,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// How long changes still in flight when the load stops may take to arrive.
const DRAIN: Duration = Duration::from_secs(120);
/// How often the changes in flight are looked for on the other side.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Lag percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Lag {
    pub changes: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Lag {
    fn of(samples: &[Duration]) -> Lag {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        Lag {
            changes: ms.len() as u64,
            p50: percentile(&mut ms, 50.0),
            p95: percentile(&mut ms, 95.0),
            p99: percentile(&mut ms, 99.0),
            max: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// One resident-memory sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RssSample {
    pub minute: f64,
    pub mib: f64,
}

/// What the soak measured.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub minutes: u64,
    pub rate_per_side: u32,
    pub records: u64,
    pub backend: String,
    /// Changes written per second on each side, as achieved.
    pub achieved_rate_financials: f64,
    pub achieved_rate_sales: f64,
    pub to_sales: Lag,
    pub to_financials: Lag,
    pub all: Lag,
    /// Changes overwritten by a later change of the same record before they arrived.
    pub superseded: u64,
    /// Changes that had not arrived `DRAIN` after the load stopped.
    pub not_arrived: u64,
    pub rss: Vec<RssSample>,
    /// Coupled customers compared at the end, and those whose mapped fields differ.
    pub compared: u64,
    pub mismatches: u64,
    pub failed_records: u64,
    pub failing_entries: u64,
    pub converged: bool,
}

impl SoakReport {
    pub fn table(&self) -> String {
        let lag = |name: &str, l: &Lag| {
            format!(
                "{name:<16} {:>8} {:>9.0} {:>9.0} {:>9.0} {:>9.0}\n",
                l.changes, l.p50, l.p95, l.p99, l.max
            )
        };
        let mut out = format!(
            "soak: {} min, {} changes/s asked on each side (achieved: Financials {:.1}/s, Sales {:.1}/s), {} customers, {}\n\n",
            self.minutes,
            self.rate_per_side,
            self.achieved_rate_financials,
            self.achieved_rate_sales,
            self.records,
            self.backend
        );
        out.push_str("lag (ms)          changes       p50       p95       p99       max\n");
        out.push_str(&lag("Financials→Sales", &self.to_sales));
        out.push_str(&lag("Sales→Financials", &self.to_financials));
        out.push_str(&lag("both", &self.all));
        out.push_str("\nRSS: ");
        let samples: Vec<String> =
            self.rss.iter().map(|s| format!("{:.0} min {:.0} MiB", s.minute, s.mib)).collect();
        out.push_str(&samples.join(", "));
        out.push_str(&format!(
            "\n\nsuperseded {}, not arrived {}, compared {}, mismatches {}, failed records {}, failing entries {}: {}\n",
            self.superseded,
            self.not_arrived,
            self.compared,
            self.mismatches,
            self.failed_records,
            self.failing_entries,
            if self.converged { "both sides converged" } else { "NOT CONVERGED" }
        ));
        out
    }
}

/// Changes written and not seen on the other side yet: record id → (value, written at).
type InFlight = Arc<Mutex<HashMap<Uuid, (String, Instant)>>>;

/// One direction's load and check.
struct Direction {
    in_flight: InFlight,
    lags: Arc<Mutex<Vec<Duration>>>,
    written: Arc<Mutex<u64>>,
    superseded: Arc<Mutex<u64>>,
}

impl Direction {
    fn new() -> Direction {
        Direction {
            in_flight: Arc::default(),
            lags: Arc::default(),
            written: Arc::default(),
            superseded: Arc::default(),
        }
    }
}

fn fin_reader(financials: &Financials) -> ODataConnector {
    ODataConnector::financials(
        &financials.base_url,
        financials.company_id,
        kontor_financials::bootstrap::ADMIN_USER,
        seed::ADMIN_PASSWORD,
    )
}

fn sales_reader(sales: &Sales) -> ODataConnector {
    let tokens = TokenSource::new(
        format!("{}/oauth2/v2.0/token", sales.base_url),
        format!("{}/.default", sales.base_url),
        Grant::ClientCredentials {
            client_id: sales.client_id.to_string(),
            client_secret: Secret(sales.client_secret.clone()),
        },
    );
    ODataConnector::dataverse(&sales.base_url, tokens)
}

/// Every row of a set, by id.
async fn all_rows(
    c: &ODataConnector,
    set: &str,
    key: &str,
) -> anyhow::Result<HashMap<Uuid, serde_json::Map<String, Value>>> {
    let t = TableRef::new(set, key);
    let mut out = HashMap::new();
    let mut cursor = Cursor::Start;
    loop {
        let page = c.read(&t, &cursor, 5000).await.with_context(|| format!("read {set}"))?;
        for ch in page.changes {
            if let kontor_sync::Change::Upsert(r) = ch {
                out.insert(r.id, r.fields);
            }
        }
        match page.next {
            Some(n) => cursor = Cursor::Next(n),
            None => return Ok(out),
        }
    }
}

/// Looks for the changes in flight on the destination every [`CHECK_EVERY`] until `stop`.
fn spawn_checker(
    dir: &Direction,
    reader: ODataConnector,
    table: TableRef,
    field: &'static str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (in_flight, lags) = (dir.in_flight.clone(), dir.lags.clone());
    tokio::spawn(async move {
        loop {
            let ids: Vec<Uuid> = in_flight.lock().expect("in flight").keys().copied().collect();
            if !ids.is_empty() {
                match reader.get(&table, &ids).await {
                    Ok(rows) => {
                        let now = Instant::now();
                        let mut pending = in_flight.lock().expect("in flight");
                        let mut lags = lags.lock().expect("lags");
                        for r in rows {
                            let shown = r.fields.get(field).and_then(Value::as_str);
                            if let Some((want, at)) = pending.get(&r.id)
                                && shown == Some(want.as_str())
                            {
                                lags.push(now - *at);
                                pending.remove(&r.id);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "soak: reading the changes in flight"),
                }
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    })
}

/// Runs the soak and returns its report.
pub async fn run(args: SoakArgs) -> anyhow::Result<SoakReport> {
    anyhow::ensure!(args.rate > 0 && args.minutes > 0, "--rate and --minutes must be positive");
    let dbs = Databases::new(args.db_backend).await?;
    say(format!("soak: seeding {} customers (not timed)…", args.records));
    let financials_url = dbs.url("financials").await?;
    let seeded = seed::seed_in_child(&financials_url, args.records).await?;
    let financials_db = kontor_store::Db::connect(&financials_url).await?;
    let financials =
        Financials::start(financials_db.clone(), &seeded, (args.records / 4).max(1)).await?;
    let sales = Sales::start(&dbs.url("sales").await?, &seeded).await?;
    let pair = full::connect(&financials, &sales, &dbs, "sync", false).await?;
    say("soak: full synchronization…");
    full::run(&pair).await?;

    // The integration as the product runs it.
    let queue = Queue::new(pair.store.db().clone());
    queue.migrate().await?;
    pair.engine.schedule_incremental(&queue, Duration::from_secs(30)).await?;
    let shutdown = crate::serve::Shutdown::new();
    for n in 0..2 {
        let w = Worker::new(
            queue.clone(),
            kontor_sync::jobs::handlers(pair.engine.clone(), queue.clone()),
        )
        .with_id(format!("soak-{n}"));
        let stop = shutdown.wait();
        tokio::spawn(async move { w.run(stop).await });
    }
    {
        let slot = kontor_sync::jobs::EngineSlot::with(pair.engine.clone());
        let (queue, stop) = (queue.clone(), shutdown.wait());
        tokio::spawn(async move { slot.watch(&queue, Duration::from_secs(1), stop).await });
    }
    tokio::spawn(crate::stack::wake_on_changes(
        vec![financials_db.clone()],
        queue.clone(),
        shutdown.wait(),
    ));

    let pairs = pair.store.coupling_pairs("CUSTOMER").await?;
    anyhow::ensure!(pairs.len() >= 2, "too few coupled customers to change");
    let half = pairs.len() / 2;
    let (fin_side, sales_side) = (&pairs[..half], &pairs[half..]);
    let to_sales = Direction::new();
    let to_fin = Direction::new();
    let (stop_checks, checks_stopped) = tokio::sync::watch::channel(false);
    let checkers = [
        spawn_checker(
            &to_sales,
            sales_reader(&sales),
            TableRef::new("accounts", "accountid"),
            "name",
            checks_stopped.clone(),
        ),
        spawn_checker(
            &to_fin,
            fin_reader(&financials),
            TableRef::new("customers", "id"),
            "phoneNumber",
            checks_stopped,
        ),
    ];

    say(format!("soak: {} changes/s on each side for {} min…", args.rate, args.minutes));
    let started = Instant::now();
    let length = Duration::from_secs(args.minutes * 60);
    let mut rss_samples = vec![RssSample { minute: 0.0, mib: mib(rss::current_bytes()) }];
    let company = format!("companies({})", financials.company_id);
    let load = |dir: &Direction, to_sales_side: bool| {
        let (in_flight, written, superseded) =
            (dir.in_flight.clone(), dir.written.clone(), dir.superseded.clone());
        let (records, api, company) = if to_sales_side {
            (fin_side.to_vec(), financials.admin.clone(), company.clone())
        } else {
            (sales_side.to_vec(), sales.admin.clone(), String::new())
        };
        let every = Duration::from_secs_f64(1.0 / f64::from(args.rate));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq = 0usize;
            while started.elapsed() < length {
                tick.tick().await;
                let (fid, sid) = records[seq % records.len()];
                seq += 1;
                let (path, body, id, value) = if to_sales_side {
                    let value = format!("Soak Customer {seq}");
                    (
                        format!("{company}/customers({fid})"),
                        json!({"displayName": value}),
                        sid,
                        value,
                    )
                } else {
                    let value = format!("+41 {seq:09}");
                    (format!("accounts({sid})"), json!({"telephone1": value}), fid, value)
                };
                if let Err(e) = api.ok(Method::PATCH, &path, Some(&body)).await {
                    tracing::warn!(error = %e, "soak: a change was refused");
                    continue;
                }
                let old = in_flight.lock().expect("in flight").insert(id, (value, Instant::now()));
                if old.is_some() {
                    *superseded.lock().expect("superseded") += 1;
                }
                *written.lock().expect("written") += 1;
            }
        })
    };
    let loads = [load(&to_sales, true), load(&to_fin, false)];
    let mut next_sample = Duration::from_secs(60);
    while started.elapsed() < length {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if started.elapsed() >= next_sample {
            rss_samples.push(RssSample {
                minute: started.elapsed().as_secs_f64() / 60.0,
                mib: mib(rss::current_bytes()),
            });
            say(format!(
                "soak: {:.0} min, RSS {:.0} MiB, {} changes in flight",
                started.elapsed().as_secs_f64() / 60.0,
                rss_samples.last().map_or(0.0, |s| s.mib),
                to_sales.in_flight.lock().expect("in flight").len()
                    + to_fin.in_flight.lock().expect("in flight").len()
            ));
            next_sample += Duration::from_secs(60);
        }
    }
    for l in loads {
        l.await.context("a load task")?;
    }
    let load_seconds = started.elapsed().as_secs_f64();
    say("soak: load stopped; waiting for the changes in flight…");
    let drain_until = Instant::now() + DRAIN;
    let in_flight = || {
        to_sales.in_flight.lock().expect("in flight").len()
            + to_fin.in_flight.lock().expect("in flight").len()
    };
    while in_flight() > 0 && Instant::now() < drain_until {
        tokio::time::sleep(CHECK_EVERY).await;
    }
    let not_arrived = in_flight() as u64;
    let _ = stop_checks.send(true);
    for c in checkers {
        c.await.context("a checker task")?;
    }
    rss_samples.push(RssSample {
        minute: started.elapsed().as_secs_f64() / 60.0,
        mib: mib(rss::current_bytes()),
    });

    // Both sides, record by record: every coupled customer's name and phone number.
    let fin_rows = all_rows(&fin_reader(&financials), "customers", "id").await?;
    let sales_rows = all_rows(&sales_reader(&sales), "accounts", "accountid").await?;
    let mut mismatches = 0u64;
    for (fid, sid) in &pairs {
        let (Some(f), Some(s)) = (fin_rows.get(fid), sales_rows.get(sid)) else {
            mismatches += 1;
            continue;
        };
        if f.get("displayName") != s.get("name") || f.get("phoneNumber") != s.get("telephone1") {
            mismatches += 1;
        }
    }
    let failed_records: u64 =
        pair.store.jobs(None, 100_000).await?.iter().map(|j| j.counters.failed).sum();
    let failing_entries = queue.failing().await?.len() as u64;
    shutdown.fire();

    let lags_to_sales = to_sales.lags.lock().expect("lags").clone();
    let lags_to_fin = to_fin.lags.lock().expect("lags").clone();
    let both: Vec<Duration> = lags_to_sales.iter().chain(&lags_to_fin).copied().collect();
    let written_fin = *to_sales.written.lock().expect("written");
    let written_sales = *to_fin.written.lock().expect("written");
    let superseded =
        *to_sales.superseded.lock().expect("superseded") + *to_fin.superseded.lock().expect("s");
    Ok(SoakReport {
        minutes: args.minutes,
        rate_per_side: args.rate,
        records: args.records as u64,
        backend: dbs.backend_name().to_owned(),
        achieved_rate_financials: written_fin as f64 / load_seconds,
        achieved_rate_sales: written_sales as f64 / load_seconds,
        to_sales: Lag::of(&lags_to_sales),
        to_financials: Lag::of(&lags_to_fin),
        all: Lag::of(&both),
        superseded,
        not_arrived,
        rss: rss_samples,
        compared: pairs.len() as u64,
        mismatches,
        failed_records,
        failing_entries,
        converged: not_arrived == 0 && mismatches == 0 && failed_records == 0,
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_percentiles_are_nearest_rank_and_the_max_is_the_slowest_change() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Lag::of(&samples);
        assert_eq!((l.changes, l.p50, l.p95, l.p99, l.max), (100, 50.0, 95.0, 99.0, 100.0));
        let none = Lag::of(&[]);
        assert_eq!((none.changes, none.max), (0, 0.0));
    }
}
