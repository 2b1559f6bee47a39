//! Issue #14's first "Done when", on the real binary: `kontor up`, then the seed's own step —
//! *Change Web Service Key* for the integration user — through the Financials API. The next run
//! fails: one WARN line in the output names the mapping and the refused credentials, and
//! Financials' `/health` is `degraded` with `credentials_refused`. The new key is entered in
//! setup (`POST /integration/v1/setup`, the Sales secret kept from the stored connection); with no
//! `sync now`, the change made meanwhile reaches Sales, `/health` is `ok` again, and the next
//! customer change reaches Sales within 5 s.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Proc, Services, free_port, poll};

/// Whether Sales has an account named `name`.
async fn account_named(services: &Services, name: &str) -> bool {
    let sales = services.sales_admin();
    let filter =
        format!("accounts?$select=accountid&$filter=name%20eq%20'{}'", name.replace(' ', "%20"));
    match sales.get_json(&filter, None).await {
        Ok(v) => v["value"].as_array().is_some_and(|rows| !rows.is_empty()),
        Err(_) => false,
    }
}

async fn health(services: &Services) -> Value {
    let r = services.http.get(format!("{}/health", services.financials)).send().await;
    match r {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Renames customer `id` in Financials, as ADMIN.
async fn rename(services: &Services, company: uuid::Uuid, id: &str, name: &str) {
    let fin = services.financials_admin(company);
    let (status, body) = fin
        .send_json(
            reqwest::Method::PATCH,
            &format!("customers({id})"),
            &json!({"displayName": name}),
        )
        .await
        .expect("PATCH customers answers");
    assert!(status.is_success(), "renaming a customer: {body}");
}

#[test]
fn a_new_web_service_key_shows_in_the_log_and_health_and_once_entered_in_setup_the_next_change_reaches_sales_within_5_s()
 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let data_dir = tempfile::tempdir().expect("a data folder");
    let logs_dir = tempfile::tempdir().expect("a logs folder");
    let (data, logs) = (data_dir.path(), logs_dir.path());
    let admin_password = format!("Admin-{}-Pass-Word", std::process::id());
    let (fin_port, sales_port) = (free_port(), free_port());
    let (fin_port_arg, sales_port_arg) = (fin_port.to_string(), sales_port.to_string());
    let data_arg = data.to_str().expect("a UTF-8 path").to_owned();
    // Default logging (INFO), as a user runs it.
    let mut up = Proc::start(
        logs,
        "up",
        &[
            "up",
            "--data",
            &data_arg,
            "--financials-port",
            &fin_port_arg,
            "--sales-port",
            &sales_port_arg,
            "--demo-customers",
            "20",
        ],
        &[("KONTOR_ADMIN_PASSWORD", &admin_password)],
    );
    let services = Services {
        financials: format!("http://localhost:{fin_port}"),
        sales: format!("http://localhost:{sales_port}"),
        admin_password,
        http: reqwest::Client::new(),
    };
    rt.block_on(async {
        let company = services.wait_until_up().await;
        services.wait_for_full_sync().await;
        let connection: Value = services
            .http
            .get(format!("{}/integration/v1/connection", services.financials))
            .basic_auth("ADMIN", Some(&services.admin_password))
            .send()
            .await
            .expect("the connection answers")
            .json()
            .await
            .expect("the connection in JSON");
        let fin_user = connection["financials_user"].as_str().expect("the Financials user");
        let sales_user = connection["sales_user_name"].as_str().expect("the Sales user");
        let customers = services
            .financials_admin(company)
            .get_json("customers?$select=id&$top=2", None)
            .await
            .expect("the customers");
        let first = customers["value"][0]["id"].as_str().expect("a customer").to_owned();
        let second = customers["value"][1]["id"].as_str().expect("a customer").to_owned();
        assert_eq!(health(&services).await["status"], "ok", "before the new key");

        // The seed's own step; a customer change makes the next run use the old key.
        let key = services.new_web_service_key(company, fin_user).await;
        rename(&services, company, &first, "Renamed While The Key Was Old").await;
        let warn =
            poll("a WARN line about the refused credentials", Duration::from_secs(60), || {
                let log = up.log(logs);
                async move {
                    log.lines()
                        .find(|l| {
                            l.contains("WARN")
                                && l.contains("CUSTOMER")
                                && l.contains("refused the credentials")
                        })
                        .map(str::to_owned)
                }
            })
            .await;
        assert!(!warn.contains(&key), "the new key is in the log line: {warn}");
        println!("the failed run's line: {warn}");
        let degraded = poll("/health degraded", Duration::from_secs(30), || async {
            let h = health(&services).await;
            (h["status"] == "degraded").then_some(h)
        })
        .await;
        let kinds: Vec<&str> = degraded["reasons"]
            .as_array()
            .expect("the reasons")
            .iter()
            .filter_map(|r| r["kind"].as_str())
            .collect();
        assert!(kinds.contains(&"credentials_refused"), "{degraded}");
        println!("/health meanwhile: {degraded}");
        assert!(!account_named(&services, "Renamed While The Key Was Old").await);

        // The new key in setup; the Sales secret is kept (same Sales URL and client id).
        let body = json!({
            "financialsUrl": services.financials, "companyId": company, "financialsUser": fin_user,
            "financialsWebServiceKey": key, "salesUrl": services.sales, "salesUser": sales_user,
            "salesClientId": sales_user,
        });
        let r = services
            .http
            .post(format!("{}/integration/v1/setup", services.financials))
            .basic_auth("ADMIN", Some(&services.admin_password))
            .json(&body)
            .send()
            .await
            .expect("setup answers");
        let status = r.status();
        assert!(status.is_success(), "setup answered {status}: {}", r.text().await.unwrap());
        poll("the change made with the old key reaches Sales", Duration::from_secs(10), || async {
            account_named(&services, "Renamed While The Key Was Old").await.then_some(())
        })
        .await;
        poll("/health ok again", Duration::from_secs(10), || async {
            (health(&services).await["status"] == "ok").then_some(())
        })
        .await;

        // The next change, with no `sync now`.
        let changed = Instant::now();
        rename(&services, company, &second, "Renamed With The New Key").await;
        poll("the next change reaches Sales", Duration::from_secs(5), || async {
            account_named(&services, "Renamed With The New Key").await.then_some(())
        })
        .await;
        println!("the next customer change reached Sales in {:.2?}", changed.elapsed());
    });
    up.assert_running(logs);
    up.stop();
}
