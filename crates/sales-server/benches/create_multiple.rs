//! CreateMultiple of 1,000 accounts against a real Sales server (one transaction per request),
//! on SQLite and PostgreSQL; prints rows per second. `cargo bench -p kontor-sales-server`.
//! Set `KONTOR_BENCH_ROUNDS` (default 10) to change the number of requests measured.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ROWS: usize = 1000;

async fn bench(name: &str, url: &str, rounds: usize) {
    let server = kontor_sales_server::testing::spawn_for_test(url).await.expect("start Sales");
    let http = reqwest::Client::new();
    let form = format!("grant_type=password&username=admin&password={}", server.admin_password);
    let tok: Value = http
        .post(format!("{}/oauth2/v2.0/token", server.base_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"].as_str().unwrap().to_owned();
    let mut times = vec![];
    for round in 0..rounds + 1 {
        let targets: Vec<Value> = (0..ROWS)
            .map(|i| {
                json!({
                    "@odata.type": "Microsoft.Dynamics.CRM.account",
                    "name": format!("Bench account {round}-{i}"),
                    "accountnumber": format!("BN{round}-{i}"),
                    "address1_city": "Copenhagen",
                    "telephone1": "+45 1234 5678",
                    "creditlimit": 10000.5,
                    "paymenttermscode": 1
                })
            })
            .collect();
        let body = json!({"Targets": targets}).to_string();
        let start = Instant::now();
        let r = http
            .post(format!(
                "{}/api/data/v9.2/accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                server.base_url
            ))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
        let _ = r.bytes().await;
        if round > 0 {
            // Round 0 warms up connections and caches.
            times.push(start.elapsed());
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let best = times[0];
    let rate = |d: Duration| ROWS as f64 / d.as_secs_f64();
    println!(
        "create_multiple/{name}: {ROWS} accounts per request, {rounds} requests: median {:.1} ms = {:.0} rows/s, best {:.1} ms = {:.0} rows/s",
        median.as_secs_f64() * 1000.0,
        rate(median),
        best.as_secs_f64() * 1000.0,
        rate(best)
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick {
        1
    } else {
        std::env::var("KONTOR_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10)
    };
    let dir = tempfile::tempdir().unwrap();
    bench("sqlite", &kontor_testkit::sqlite_url(&dir), rounds).await;
    bench("postgres", &kontor_testkit::pg::url().await, rounds).await;
}
