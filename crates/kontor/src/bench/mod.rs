//! `kontor bench sync`: the synchronization benchmark.
//!
//! In one process, on one generated data set (`demo::Spec::bench(N)`: N customers, N contacts,
//! N/4 items, N/2 sales prices, and a few reference rows), seeded once into a fresh Financials:
//!
//! - (a) [`full`]: Kontor's full synchronization into a fresh Sales, over both HTTP APIs;
//! - (b) [`per_record`]: the same work one request per record, as Business Central's engine does it
//!   (read the source record, look up its coupling, read the coupled row, write, record the
//!   coupling — each its own request or statement), into another fresh Sales; timed on a sample and
//!   extrapolated when N is large;
//! - (c) [`raw_copy`]: the floor — the same rows copied straight between the two stores' tables;
//! - incremental latency ([`incremental`]) and item availability under load ([`availability`]).
//!
//! Each timed run resets the kernel's peak-RSS mark first and reads it after ([`rss`]).

pub mod availability;
pub mod full;
pub mod incremental;
pub mod pages;
pub mod per_record;
pub mod profile;
pub mod raw_copy;
pub mod report;
pub mod rss;
pub mod seed;
pub mod soak;
pub mod stack;

use std::time::{Duration, Instant};

use anyhow::Context as _;

pub use report::Report;
use report::{Notes, Ratios, Run};

/// Which database engine the stores use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbBackend {
    /// SQLite files in a temporary folder.
    Sqlite,
    /// Fresh databases on a throwaway PostgreSQL cluster (kontor-testkit).
    Postgres,
}

/// `kontor bench sync` options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Customers to generate (with as many contacts, a quarter as many items, two prices each).
    #[arg(long, default_value_t = 10_000)]
    pub records: usize,
    /// Database backend of all stores.
    #[arg(long, value_enum, default_value_t = DbBackend::Sqlite)]
    pub db_backend: DbBackend,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Records the per-record run really synchronizes (its time is extrapolated to all of them).
    #[arg(long, default_value_t = 2_000)]
    pub per_record_sample: usize,
    /// Changes made one at a time to measure incremental-sync latency.
    #[arg(long, default_value_t = 1_000)]
    pub changes: usize,
    /// Item availability requests in total, spread over `--availability-tasks` tasks.
    #[arg(long, default_value_t = 8_000)]
    pub availability_requests: usize,
    #[arg(long, default_value_t = 8)]
    pub availability_tasks: usize,
    /// Print where the full synchronization's time goes (connector calls, lines) on stderr.
    #[arg(long)]
    pub profile: bool,
    /// Internal: seed this database and print what was seeded (the benchmark's child process).
    #[arg(long, hide = true)]
    pub seed_into: Option<String>,
}

impl Default for BenchArgs {
    fn default() -> Self {
        BenchArgs {
            records: 10_000,
            db_backend: DbBackend::Sqlite,
            json: false,
            per_record_sample: 2_000,
            changes: 1_000,
            availability_requests: 8_000,
            availability_tasks: 8,
            profile: false,
            seed_into: None,
        }
    }
}

/// Progress on standard error (standard output is the report).
fn say(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

/// Times `f`, with the peak RSS of this process during it.
async fn measured<T, F: Future<Output = anyhow::Result<T>>>(
    f: F,
) -> anyhow::Result<(T, Duration, u64)> {
    rss::reset_peak();
    let cpu = rss::cpu_seconds();
    let start = Instant::now();
    let out = f.await?;
    let elapsed = start.elapsed();
    // How busy the two cores were: CPU seconds of this process over wall seconds.
    let used = rss::cpu_seconds() - cpu;
    say(format!(
        "{:.2} s wall, {used:.2} s CPU in this process ({:.2} cores busy)",
        elapsed.as_secs_f64(),
        used / elapsed.as_secs_f64().max(1e-9)
    ));
    Ok((out, elapsed, rss::peak_bytes()))
}

/// Runs the whole benchmark and returns its report.
pub async fn run(args: BenchArgs) -> anyhow::Result<Report> {
    if let Some(url) = &args.seed_into {
        seed::seed_here(url, args.records).await?;
        std::process::exit(0);
    }
    let dbs = stack::Databases::new(args.db_backend).await?;
    say(format!(
        "{} customers on {}; generating and seeding Financials (not timed)…",
        args.records,
        dbs.backend_name()
    ));
    let seed_start = Instant::now();
    let financials_url = dbs.url("financials").await?;
    let seeded =
        seed::seed_in_child(&financials_url, args.records).await.context("seed Financials")?;
    let financials_db = kontor_store::Db::connect(&financials_url).await?;
    let seed_seconds = seed_start.elapsed().as_secs_f64();
    say(format!("seeded in {seed_seconds:.1} s; RSS now {} MiB", rss::current_bytes() >> 20));

    // (c) the raw-copy floor.
    let raw_db = kontor_store::Db::connect(&dbs.url("sales-raw").await?).await?;
    kontor_sales_server::prepare(&raw_db, Some("kontor-bench-admin-1".into())).await?;
    say("(c) raw copy…");
    let (tables, raw_elapsed, raw_peak) = measured(raw_copy::run(&financials_db, &raw_db)).await?;
    let rows: u64 = tables.iter().map(|t| t.1).sum();
    let raw_copy = Run::new(rows, raw_elapsed, raw_peak);
    raw_db.close().await;
    say(format!("(c) {rows} rows in {:.2} s", raw_copy.seconds));

    // The Financials server, shared by (a), (b) and the latency runs.
    let item_count = (args.records / 4).max(1);
    let financials = stack::Financials::start(financials_db.clone(), &seeded, item_count).await?;

    // (a) Kontor's full synchronization.
    say("(a) full synchronization…");
    let sales_a = stack::Sales::start(&dbs.url("sales-full").await?, &seeded).await?;
    let pair = full::connect(&financials, &sales_a, &dbs, "sync-full", args.profile).await?;
    let (synced, full_elapsed, full_peak) = measured(full::run(&pair)).await?;
    let kontor = Run::new(synced, full_elapsed, full_peak);
    say(format!("(a) {synced} records in {:.2} s", kontor.seconds));
    if let Some(stats) = &pair.stats {
        eprint!("profile: connector calls during (a)\n{}", stats.table());
    }

    // Incremental latency on the synced pair.
    say(format!("incremental latency over {} changes…", args.changes));
    let latencies = incremental::run(&pair, &financials, &sales_a, args.changes).await?;
    let incremental_latency_ms = report::latency_ms(&latencies);
    drop(pair);
    drop(sales_a);

    // (b) one request per record, on a sample. The reference mappings go first, untimed.
    let sales_b = stack::Sales::start(&dbs.url("sales-per-record").await?, &seeded).await?;
    let pair_b = full::connect(&financials, &sales_b, &dbs, "sync-per-record", false).await?;
    full::run_reference(&pair_b).await?;
    let prepared = per_record::prepare(
        pair_b.store.clone(),
        pair_b.engine.settings.id,
        pair_b.engine.settings.financials_user_id.clone(),
        &financials,
        &sales_b,
        args.per_record_sample,
    )
    .await?;
    say(format!("(b) per record, a sample of {}…", prepared.sampled()));
    let (sampled, per_elapsed, per_peak) = measured(per_record::run(&prepared)).await?;
    let per_record = report::extrapolate(sampled, per_elapsed, rows, per_peak);
    drop(prepared);
    drop(pair_b);
    drop(sales_b);
    say(format!("(b) {sampled} records in {:.2} s", per_elapsed.as_secs_f64()));

    // Item availability under load.
    say("item availability…");
    let (availability, _, _) = measured(availability::run(
        &financials,
        args.availability_tasks,
        args.availability_requests,
    ))
    .await?;

    Ok(Report {
        records: args.records as u64,
        ratios: Ratios::of(&kontor, &per_record, &raw_copy),
        kontor,
        per_record,
        raw_copy,
        incremental_latency_ms,
        item_availability: availability,
        per_record_sampled: sampled,
        notes: Notes {
            backend: dbs.backend_name().to_owned(),
            rows,
            tables,
            per_record_sample_seconds: per_elapsed.as_secs_f64(),
            incremental_changes: latencies.len() as u64,
            availability_requests: args.availability_requests as u64,
            availability_concurrency: args.availability_tasks as u64,
            seed_seconds,
        },
    })
}
