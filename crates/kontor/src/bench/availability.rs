//! Item availability under load: `tasks` concurrent loops, `requests` GETs in total, of
//! Financials' `/ODataV4/Company('…')/ProductItemAvailability?$filter=ItemNo eq '…'` with the
//! integration user's web service access key (HTTP Basic), as Sales calls it when a salesperson
//! adds an item to an order line. Latency per request, throughput over the whole run.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::report::{self, Availability};
use super::stack::Financials;

pub async fn run(
    financials: &Financials,
    tasks: usize,
    requests: usize,
) -> anyhow::Result<Availability> {
    let tasks = tasks.max(1);
    let per_task = requests.div_ceil(tasks);
    let items = financials.item_count.max(1);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let api = financials.odata.clone();
        let path = format!("Company('{}')/ProductItemAvailability", financials.company_name);
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_task);
            for k in 0..per_task {
                let item = 1000 + (t * 7919 + k * 104_729) % items;
                let url = format!("{path}?$filter=ItemNo eq '{item}'");
                let started = Instant::now();
                let a = api.get(&url).await?;
                anyhow::ensure!(a.status.is_success(), "GET {url}: {} {}", a.status, a.body);
                anyhow::ensure!(
                    a.body.get("value").and_then(|v| v.as_array()).is_some_and(|v| !v.is_empty()),
                    "GET {url}: no availability row in {}",
                    a.body
                );
                samples.push(started.elapsed());
            }
            Ok::<Vec<Duration>, anyhow::Error>(samples)
        }));
    }
    let mut all = Vec::with_capacity(per_task * tasks);
    for h in handles {
        all.extend(h.await.context("availability task")??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let l = report::latency_ms(&all);
    Ok(Availability {
        p50_ms: l.p50,
        p99_ms: l.p99,
        requests_per_second: report::rate(all.len() as u64, elapsed),
    })
}
