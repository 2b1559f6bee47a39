//! (a) Kontor's full synchronization: the engine (`kontor_sync::Engine`) with the HTTP connectors
//! of `kontor-connectors`, from the seeded Financials into a fresh Sales, every enabled default
//! mapping, each line started as soon as the lines it depends on are done (as the full
//! synchronization review's scheduler starts them).

use std::sync::Arc;

use anyhow::Context as _;
use kontor_jobs::SystemClock;
use kontor_sync::defaults::default_mappings;
use kontor_sync::engine::Engine;
use kontor_sync::store::{ConnectionSettings, SyncStore};
use uuid::Uuid;

use super::profile::{Stats, Timed};
use super::stack::{self, Databases, Financials, Sales};

/// A connected pair: the engine and its store, after a full synchronization.
pub struct Pair {
    pub engine: Arc<Engine>,
    pub store: SyncStore,
    /// With `--profile`: the connector calls' timings.
    pub stats: Option<Stats>,
}

/// Untimed: the sync store, the connection and the default mappings, as setup leaves them.
pub async fn connect(
    financials: &Financials,
    sales: &Sales,
    dbs: &Databases,
    name: &str,
    profile: bool,
) -> anyhow::Result<Pair> {
    let db = kontor_store::Db::connect(&dbs.url(name).await?).await?;
    let store = SyncStore::new(db);
    store.migrate().await?;
    let settings = ConnectionSettings {
        id: Uuid::new_v4(),
        financials_url: financials.base_url.clone(),
        company_id: financials.company_id,
        sales_url: sales.base_url.clone(),
        financials_user: financials.integration_user.clone(),
        financials_user_id: Some(financials.integration_user_id.to_string()),
        sales_user_id: Some(sales.integration_user_id.to_string()),
        sales_user_name: sales.client_id.to_string(),
        enabled: true,
    };
    let now = chrono::Utc::now();
    store.save_connection(&settings, now).await?;
    store.save_mappings(&default_mappings(), false, false, now).await?;
    let (mut fin, mut crm) = stack::connectors(financials, sales)?;
    let stats = profile.then(Stats::default);
    if let Some(stats) = &stats {
        fin = Arc::new(Timed { inner: fin, stats: stats.clone() });
        crm = Arc::new(Timed { inner: crm, stats: stats.clone() });
    }
    let engine = Engine::new(store.clone(), fin, crm, settings, Arc::new(SystemClock));
    Ok(Pair { engine: Arc::new(engine), store, stats })
}

/// Timed: *Run Full Synchronization* and every line to the end, each step started as soon as
/// the review allows it (the scheduling of the job queue's workers, without the queue). Returns
/// the records written to Sales (inserted, modified or coupled).
pub async fn run(pair: &Pair) -> anyhow::Result<u64> {
    let engine = &pair.engine;
    engine.prepare_full_sync().await?;
    // Each step is its own task, as on a worker: the steps in flight go on (and release the
    // stores' write locks) while this loop claims the next ones.
    let mut running = tokio::task::JoinSet::new();
    loop {
        for step in engine.claim_full_sync_steps().await? {
            let engine = engine.clone();
            running.spawn(async move {
                let t = std::time::Instant::now();
                let r = engine.run_full_sync_step(&step).await;
                (step, r, t.elapsed())
            });
        }
        let Some(joined) = running.join_next().await else { break };
        let (step, r, took) = joined.context("a review step panicked")?;
        r.with_context(|| format!("full synchronization of {}", step.name()))?;
        if pair.stats.is_some() {
            eprintln!("profile: {step:?} took {:.3} s", took.as_secs_f64());
        }
    }
    let open: Vec<String> = engine
        .review_status()
        .await?
        .into_iter()
        .filter(|l| l.job_queue_entry_status != "Finished")
        .map(|l| format!("{} ({})", l.name, l.job_queue_entry_status))
        .collect();
    anyhow::ensure!(open.is_empty(), "review lines not finished: {}", open.join(", "));
    let mut written = 0u64;
    let mut failed = Vec::new();
    for job in pair.store.jobs(None, 1000).await? {
        let c = &job.counters;
        if pair.stats.is_some() {
            eprintln!("profile: job {} {}: {:?}", job.mapping, job.direction, c);
        }
        written += c.inserted + c.modified + c.coupled;
        if c.failed > 0 {
            failed.push(format!("{} {}: {} failed", job.mapping, job.direction, c.failed));
        }
    }
    anyhow::ensure!(failed.is_empty(), "records failed: {}", failed.join("; "));
    Ok(written)
}

/// The reference mappings the big ones look up through (salespeople, currencies, units of
/// measure, price groups): synchronized by the engine before the per-record run, untimed.
pub const REFERENCE: &[&str] = &["SALESPEOPLE", "CURRENCY", "UNIT OF MEASURE", "CUSTPRCGRP-PRICE"];

pub async fn run_reference(pair: &Pair) -> anyhow::Result<()> {
    for name in REFERENCE {
        pair.engine
            .run_full_sync_line(name)
            .await
            .with_context(|| format!("full synchronization of {name}"))?;
    }
    Ok(())
}
