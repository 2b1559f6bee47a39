//! Incremental-sync latency: on the pair the full synchronization left, `changes` writes made one
//! at a time by ordinary users (not the integration user), alternating sides — a customer's
//! name in Financials, an account's phone number in Sales — each timed from the write's answer
//! until the other side's API shows it (polled every 5 ms).
//!
//! The engine's incremental runs are woken by a change signal right after each write, standing in
//! for the change notifications (in process on Financials, the delta-link poll on Sales); each
//! wake-up runs the CUSTOMER mapping's incremental passes (both change feeds, page → plan →
//! batch → record), as the recurring job would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kontor_sync::engine::Mode;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::full::Pair;
use super::stack::{Financials, Sales};

const POLL: Duration = Duration::from_millis(5);
const GIVE_UP: Duration = Duration::from_secs(60);
const MAPPING: &str = "CUSTOMER";

pub async fn run(
    pair: &Pair,
    financials: &Financials,
    sales: &Sales,
    changes: usize,
) -> anyhow::Result<Vec<Duration>> {
    let pairs = pair.store.coupling_pairs(MAPPING).await?;
    anyhow::ensure!(!pairs.is_empty(), "no coupled customers to change");
    // The incremental runner: one run per signal (signals during a run make one more run).
    let signal = Arc::new(Notify::new());
    let runner = {
        let engine = pair.engine.clone();
        let signal = signal.clone();
        tokio::spawn(async move {
            loop {
                signal.notified().await;
                if let Err(e) = engine.run_mapping(MAPPING, Mode::Incremental).await {
                    tracing::warn!(error = %e, "incremental run failed");
                }
            }
        })
    };
    // Warm-up: the first incremental run after the full synchronization reads nothing new.
    pair.engine.run_mapping(MAPPING, Mode::Incremental).await?;

    let company = format!("companies({})", financials.company_id);
    let mut out = Vec::with_capacity(changes);
    let result: anyhow::Result<()> = async {
        for k in 0..changes {
            let (fid, sid) = pairs[(k / 2) % pairs.len()];
            let (expect_path, field, value) = if k % 2 == 0 {
                let value = format!("Bench Customer {k}");
                financials
                    .admin
                    .ok(
                        Method::PATCH,
                        &format!("{company}/customers({fid})"),
                        Some(&json!({ "displayName": value })),
                    )
                    .await?;
                (sales.admin.clone(), (format!("accounts({sid})?$select=name"), "name"), value)
            } else {
                let value = format!("+41 44 {k:07}");
                sales
                    .admin
                    .ok(
                        Method::PATCH,
                        &format!("accounts({sid})"),
                        Some(&json!({ "telephone1": value })),
                    )
                    .await?;
                (
                    financials.admin.clone(),
                    (format!("{company}/customers({fid})?$select=phoneNumber"), "phoneNumber"),
                    value,
                )
            };
            let written = Instant::now();
            signal.notify_one();
            let (path, name) = field;
            loop {
                let a = expect_path.get(&path).await?;
                if a.body.get(name).and_then(Value::as_str) == Some(value.as_str()) {
                    break;
                }
                anyhow::ensure!(
                    written.elapsed() < GIVE_UP,
                    "change {k} did not arrive: {path} is {}",
                    a.body
                );
                tokio::time::sleep(POLL).await;
            }
            out.push(written.elapsed());
        }
        Ok(())
    }
    .await;
    runner.abort();
    result.context("incremental latency")?;
    Ok(out)
}
