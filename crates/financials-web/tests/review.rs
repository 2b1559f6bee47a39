//! CRM Full Synch. Review, Integration Synch. Jobs (with their errors), CRM Skipped Records and
//! Dynamics 365 Connection Setup on a fresh setup (SQLite): each page's HTML as a snapshot, and
//! their routes — the review built, started and its statuses polled until finished on an
//! integration connected to two in-memory sides, the jobs filtered and paged, Retry, setup's
//! errors next to their fields without the typed secrets, and who may see and act.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Duration;
use kontor_financials::credentials::Permissions;
use kontor_financials_web::permission::{Page, allows};
use kontor_integration::JobsQuery;
use kontor_sync::page::SynchError;
use kontor_sync::plan::Counters;
use support::connected::{connect, run_queue};
use support::{ADMIN_PASSWORD, Client, PASSWORD, Setup, redact, setup, t0};
use uuid::Uuid;

async fn fresh() -> (tempfile::TempDir, Setup) {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&kontor_testkit::sqlite_url(&dir)).await;
    (dir, s)
}

async fn signed_in(s: &Setup, user: &str, password: &str) -> Client {
    let mut c = Client::new(kontor_financials_web::router(s.state.clone()));
    let answer = c.sign_in(user, password).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{user} signs in: {}", answer.body);
    c
}

/// `body` redacted as `support::redact` does, and the synch jobs' ids too.
async fn redact_all(s: &Setup, csrf: &str, body: &str) -> String {
    let mut out = redact(s, csrf, body).await;
    let jobs = s.integration.jobs(JobsQuery { limit: Some(1000), ..JobsQuery::default() });
    for (n, j) in jobs.await.unwrap().iter().rev().enumerate() {
        out = out.replace(&j.id.to_string(), &format!("[job {n}]"));
    }
    out
}

/// The table row of `name` in `body`.
fn row<'a>(body: &'a str, name: &str) -> &'a str {
    let start =
        body.find(&format!("<tr><td>{name}</td>")).unwrap_or_else(|| panic!("{name}: {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

/// Adds a finished synch job of `mapping` started `hours_before` t0, with one error when asked.
async fn add_job(s: &Setup, mapping: &str, hours_before: i64, error: Option<&str>) -> Uuid {
    let store = &s.integration.store;
    let at = t0() - Duration::hours(hours_before);
    let id = store.start_job(mapping, "ToIntegrationTable", "Full", at).await.unwrap();
    let mut c = Counters { inserted: 2, unchanged: 1, ..Counters::default() };
    let errors: Vec<SynchError> = error
        .map(|m| SynchError {
            source: "customers(100)".into(),
            destination: "accounts".into(),
            message: m.into(),
            at,
        })
        .into_iter()
        .collect();
    c.failed = errors.len() as u64;
    store.add_to_job(id, &c, &errors).await.unwrap();
    store.finish_job(id, "", at + Duration::minutes(1)).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_jobs_skipped_records_and_setup_pages_render_as_their_snapshots() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let pages = [
        ("review_not_connected", "/crm-full-synch-review", "CRM Full Synch. Review"),
        ("synch_jobs_empty", "/integration-synch-jobs", "Integration Synch. Jobs"),
        ("skipped_customer", "/integration-table-mappings/CUSTOMER/skipped", "CRM Skipped Records"),
        (
            "connection_setup_empty",
            "/dynamics-365-connection-setup",
            "Dynamics 365 Connection Setup",
        ),
    ];
    for (name, path, title) in pages {
        let page = c.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.title(), title, "{path}");
        assert!(page.body.contains(&format!("<h1>{title}</h1>")), "{path}");
        let csrf = c.csrf.clone();
        insta::assert_snapshot!(name, redact_all(&s, &csrf, &page.body).await);
    }
    let failed = add_job(&s, "CUSTOMER", 1, Some("The account could not be written.")).await;
    let errors = c.get(&format!("/integration-synch-jobs/{failed}")).await;
    assert_eq!(errors.title(), "Integration Synch. Job Errors");
    let csrf = c.csrf.clone();
    insta::assert_snapshot!("synch_job_errors", redact_all(&s, &csrf, &errors.body).await);

    connect(&s).await;
    c.post_form("/crm-full-synch-review/run", &[]).await;
    c.post_form("/crm-full-synch-review/start", &[]).await;
    run_queue(&s).await;
    let review = c.get("/crm-full-synch-review").await;
    let csrf = c.csrf.clone();
    insta::assert_snapshot!("review_finished", redact_all(&s, &csrf, &review.body).await);
    let setup = c.get("/dynamics-365-connection-setup").await;
    insta::assert_snapshot!("connection_setup_stored", redact_all(&s, &csrf, &setup.body).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_full_synchronization_then_start_and_the_polled_statuses_reach_finished() {
    let (_dir, s) = fresh().await;
    let sales = connect(&s).await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let empty = c.get("/crm-full-synch-review").await;
    assert!(empty.body.contains("There is no review yet."), "{}", empty.body);
    assert!(!empty.body.contains("id=\"start\""), "nothing to start yet");

    let run = c.post_form("/crm-full-synch-review/run", &[]).await;
    assert_eq!(run.status, StatusCode::SEE_OTHER, "{}", run.body);
    assert_eq!(run.location(), Some("/crm-full-synch-review"));
    let review = c.get("/crm-full-synch-review").await;
    let customer = row(&review.body, "CUSTOMER");
    assert!(customer.contains("<td>Bidirectional</td><td>Full Synchronization</td>"), "{customer}");
    assert!(review.body.contains("id=\"start\""));
    assert!(!review.body.contains("hx-trigger"), "nothing runs before Start");

    let htmx = [("origin", "http://erp.test"), ("hx-request", "true")];
    let token = c.csrf.clone();
    let started = c.post("/crm-full-synch-review/start", &[("csrf", &token)], &htmx).await;
    assert_eq!(started.status, StatusCode::OK);
    assert!(started.body.contains("The full synchronization started."), "{}", started.body);
    assert!(!started.body.contains("<nav"), "only the main partial");
    let polled = c.get_with("/crm-full-synch-review/lines", &[("hx-request", "true")]).await;
    assert!(polled.body.starts_with("<div id=\"review-lines\" hx-get=\"/crm-full-synch-review/lines\" hx-trigger=\"every 1s\""), "{}", polled.body);
    assert!(row(&polled.body, "CURRENCY").contains(">Ready</a>"), "{}", polled.body);

    run_queue(&s).await;
    let done = c.get_with("/crm-full-synch-review/lines", &[("hx-request", "true")]).await;
    assert!(!done.body.contains("hx-trigger"), "polling stops: {}", done.body);
    let customer = row(&done.body, "CUSTOMER");
    assert!(customer.contains(">Finished</a>"), "{customer}");
    let jobs =
        s.integration.jobs(JobsQuery { mapping: Some("CUSTOMER".into()), ..JobsQuery::default() });
    let jobs = jobs.await.unwrap();
    for j in &jobs {
        assert!(
            customer.contains(&format!("<a href=\"/integration-synch-jobs/{}\">Success</a>", j.id)),
            "{customer}"
        );
    }
    assert!(customer.contains("<progress value=\"5\" max=\"5\""), "{customer}");
    assert!(customer.contains("<span class=\"records\">5 of 5 records</span>"), "{customer}");
    for line in done.body.split("<tr><td>").skip(2) {
        assert!(line.contains(">Finished</a>"), "every line finished: {line}");
    }
    assert_eq!(sales.rows("accounts").len(), 5);
    // The status links to the jobs of the line's mapping.
    let linked = c.get("/integration-synch-jobs?mapping=CUSTOMER").await;
    assert_eq!(linked.body.matches("<tr><td>CUSTOMER</td>").count(), jobs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_connection_the_review_says_so_on_the_page_and_start_answers_409() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let message = "The connection to Sales is not set up. Run setup first.";
    let review = c.get("/crm-full-synch-review").await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(review.body.contains(message), "{}", review.body);
    for action in ["run", "start"] {
        let answer = c.post_form(&format!("/crm-full-synch-review/{action}"), &[]).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{action}");
        assert_eq!(answer.title(), "CRM Full Synch. Review", "{action}");
        assert!(answer.body.contains(message), "{action}");
    }
    let lines = c.get_with("/crm-full-synch-review/lines", &[("hx-request", "true")]).await;
    assert!(lines.body.contains(message));
    assert!(!lines.body.contains("hx-trigger"));
    let test = c.post_form("/dynamics-365-connection-setup/test", &[]).await;
    assert_eq!(test.status, StatusCode::OK);
    assert!(test.body.contains(message), "{}", test.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synch_jobs_are_filtered_by_mapping_and_start_date_newest_first_one_page_at_a_time() {
    let (_dir, s) = fresh().await;
    for n in 0..25 {
        add_job(&s, "CUSTOMER", n * 6, None).await;
    }
    for n in 0..3 {
        add_job(&s, "CURRENCY", n * 6 + 3, None).await;
    }
    let mut c = signed_in(&s, "ANNA", PASSWORD).await;
    let count = |body: &str, name: &str| body.matches(&format!("<tr><td>{name}</td>")).count();
    let cases: [(&str, usize, usize, bool); 6] = [
        ("", 17, 3, true),
        ("?page=2", 8, 0, false),
        ("?mapping=CURRENCY", 0, 3, false),
        ("?mapping=CUSTOMER&from=2027-01-14&to=2027-01-14", 4, 0, false),
        ("?mapping=CUSTOMER&page=2", 5, 0, false),
        ("?from=2027-01-16", 0, 0, false),
    ];
    for (query, customers, currencies, next) in cases {
        let page = c.get(&format!("/integration-synch-jobs{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        assert_eq!(count(&page.body, "CUSTOMER"), customers, "{query}");
        assert_eq!(count(&page.body, "CURRENCY"), currencies, "{query}");
        assert_eq!(page.body.contains("rel=\"next\""), next, "{query}");
    }
    // Newest first: the first row started at t0.
    let first = c.get("/integration-synch-jobs?mapping=CUSTOMER").await;
    let rows: Vec<&str> = first.body.split("<tr><td>CUSTOMER</td>").skip(1).collect();
    assert!(rows[0].contains("<td>2027-01-15 08:00:00 UTC</td>"), "{}", rows[0]);
    assert!(rows[1].contains("<td>2027-01-15 02:00:00 UTC</td>"), "{}", rows[1]);
    assert!(first.body.contains("<option value=\"CUSTOMER\" selected>CUSTOMER</option>"));
    // A date typed wrong: the error next to the field, the typed text kept, no rows.
    let bad = c.get("/integration-synch-jobs?mapping=CUSTOMER&from=15.01.2027").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(
        bad.body
            .contains("value=\"15.01.2027\" aria-invalid=\"true\" aria-describedby=\"from-error\""),
        "{}",
        bad.body
    );
    assert!(bad.body.contains(
        "<span id=\"from-error\" class=\"error\" role=\"alert\">Enter the date as YYYY-MM-DD"
    ));
    assert_eq!(count(&bad.body, "CUSTOMER"), 0);
    // Each job links to its errors.
    let failed = add_job(&s, "CUSTOMER", 100, Some("The account could not be written.")).await;
    let errors = c.get(&format!("/integration-synch-jobs/{failed}")).await;
    assert_eq!(errors.title(), "Integration Synch. Job Errors");
    assert!(errors.body.contains("<td>The account could not be written.</td>"), "{}", errors.body);
    assert_eq!(
        c.get(&format!("/integration-synch-jobs/{}", Uuid::nil())).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.get("/integration-synch-jobs/not-an-id").await.status, StatusCode::NOT_FOUND);
}

/// Marks `id` of CUSTOMER as skipped (as two failed runs with the same error do).
async fn skip(s: &Setup, id: Uuid) {
    use kontor_store::sea_query::Value;
    s.db.execute_sql(
        "INSERT INTO sync_record_state (mapping, side, source_id, message, repeats, skipped, job_id, updated_at)
         VALUES ('CUSTOMER', 'financials', $1, 'The account could not be written.', 2, TRUE, NULL, 0)",
        vec![Value::String(Some(id.to_string()))],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_runs_a_skipped_record_again_and_a_reader_may_not_retry() {
    let (_dir, s) = fresh().await;
    let (a, b) = (Uuid::from_u128(0xa), Uuid::from_u128(0xb));
    skip(&s, a).await;
    skip(&s, b).await;
    let path = "/integration-table-mappings/CUSTOMER/skipped";
    let mut anna = signed_in(&s, "ANNA", PASSWORD).await;
    let list = anna.get(path).await;
    assert!(list.body.contains(&format!("<td>{a}</td>")), "{}", list.body);
    assert!(!list.body.contains(">Retry</button>"), "no Retry for a reader");
    let denied = anna.post_form(&format!("{path}/retry"), &[("id", &a.to_string())]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let retried = c.post_form(&format!("{path}/retry"), &[("id", &a.to_string())]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    let after = c.get(path).await;
    assert!(!after.body.contains(&format!("<td>{a}</td>")));
    assert!(after.body.contains(&format!("<td>{b}</td>")));
    let htmx = [("origin", "http://erp.test"), ("hx-request", "true")];
    let token = c.csrf.clone();
    let all = c.post(&format!("{path}/retry"), &[("csrf", &token)], &htmx).await;
    assert!(all.body.contains("1 record will be synchronized again."), "{}", all.body);
    assert!(all.body.contains("There are no skipped records."));
    let missing = c.post_form("/integration-table-mappings/NOPE/skipped/retry", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
}

/// The setup form's fields with `changes` made.
fn setup_fields<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("financials_url", "http://erp.test"),
        ("company_id", "00000000-0000-0000-0000-0000000000cc"),
        ("financials_user", "INTEGRATION"),
        ("financials_web_service_key", ""),
        ("sales_url", "http://crm.test:8081"),
        ("sales_user", "integration@crm.test"),
        ("sales_client_id", ""),
        ("sales_client_secret", ""),
        ("sales_password", "Typed-Sales-Password-1"),
        ("admin_user", ""),
        ("admin_password", ""),
        ("enable", ""),
    ];
    for (k, v) in changes {
        fields.iter_mut().find(|(f, _)| f == k).unwrap().1 = v;
    }
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_setup_shows_errors_next_to_their_fields_keeps_the_typed_values_but_no_secret() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let cases = [
        (
            "a company id that is no GUID",
            vec![("company_id", "company-1")],
            "company_id",
            "Enter the company id as a GUID",
        ),
        (
            "no web service key",
            vec![],
            "financials_web_service_key",
            "Give financialsWebServiceKey: the web service access key of INTEGRATION.",
        ),
        (
            "a client secret without its client id",
            vec![
                ("sales_password", ""),
                ("sales_client_secret", "Typed-Secret-2"),
                ("financials_web_service_key", "Typed-Key-3"),
            ],
            "sales_client_secret",
            "SalesClientSecret needs salesClientId (the application id).",
        ),
    ];
    for (what, changes, field, message) in cases {
        let fields = setup_fields(&changes);
        let answer = c.post_form("/dynamics-365-connection-setup", &fields).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert_eq!(answer.title(), "Dynamics 365 Connection Setup", "{what}");
        let error = format!("<span id=\"{field}-error\" class=\"error\" role=\"alert\">{message}");
        assert!(answer.body.contains(&error), "{what}: {}", answer.body);
        assert!(answer.body.contains(&format!("aria-describedby=\"{field}-error\"")), "{what}");
        for (k, v) in &fields {
            if v.is_empty() {
                continue;
            }
            let secret = k.ends_with("password") || k.ends_with("secret") || k.ends_with("key");
            let kept = format!("name=\"{k}\" type=\"text\" value=\"{v}\"");
            if secret {
                assert!(!answer.body.contains(v), "{what}: {k} is not echoed");
            } else {
                assert!(answer.body.contains(&kept), "{what}: {k} kept");
            }
        }
    }
    assert!(s.integration.connection().await.unwrap().is_none(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reads_both_sides_and_the_stored_connection_shows_no_secret() {
    let (_dir, s) = fresh().await;
    connect(&s).await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let page = c.get("/dynamics-365-connection-setup").await;
    assert!(
        page.body.contains("<dt>Dynamics 365 Sales URL</dt><dd>http://crm.test</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<dt>Web Service Access Key</dt><dd>Not stored</dd>"));
    assert!(page.body.contains("name=\"sales_url\" type=\"text\" value=\"http://crm.test\""));
    let test = c.post_form("/dynamics-365-connection-setup/test", &[]).await;
    assert_eq!(test.status, StatusCode::OK);
    assert!(test.body.contains("The connection works on both sides."), "{}", test.body);
    assert!(test.body.contains("<dt>Financials</dt><dd class=\"status-done\">OK</dd>"));
    assert!(test.body.contains("<dt>Dynamics 365 Sales</dt><dd class=\"status-done\">OK</dd>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_reader_sees_the_review_and_jobs_but_cannot_start_and_others_get_403() {
    let (_dir, s) = fresh().await;
    connect(&s).await;
    s.integration.full_sync_review().await.unwrap();
    let read = [
        "/crm-full-synch-review",
        "/crm-full-synch-review/lines",
        "/integration-synch-jobs",
        "/integration-table-mappings/CUSTOMER/skipped",
    ];
    let setup = "/dynamics-365-connection-setup";
    let cases: [(&str, &str, StatusCode, StatusCode); 4] = [
        ("ADMIN", ADMIN_PASSWORD, StatusCode::OK, StatusCode::OK),
        ("ANNA", PASSWORD, StatusCode::OK, StatusCode::FORBIDDEN),
        ("ITEMS", PASSWORD, StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
        ("READER", PASSWORD, StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
    ];
    for (user, password, reads, sets_up) in cases {
        let mut c = signed_in(&s, user, password).await;
        let home = c.get("/").await;
        for path in read {
            assert_eq!(c.get(path).await.status, reads, "{user} {path}");
        }
        assert_eq!(
            home.body.contains("href=\"/crm-full-synch-review\""),
            reads == StatusCode::OK,
            "{user}"
        );
        assert_eq!(c.get(setup).await.status, sets_up, "{user} {setup}");
        assert_eq!(
            home.body.contains(&format!("href=\"{setup}\"")),
            sets_up == StatusCode::OK,
            "{user}"
        );
    }
    let mut anna = signed_in(&s, "ANNA", PASSWORD).await;
    let review = anna.get("/crm-full-synch-review").await;
    assert!(review.body.contains("<tr><td>CUSTOMER</td>"));
    assert!(!review.body.contains("id=\"start\""), "no Start for a reader");
    for path in [
        "/crm-full-synch-review/start",
        "/crm-full-synch-review/run",
        "/dynamics-365-connection-setup",
        "/dynamics-365-connection-setup/test",
    ] {
        assert_eq!(anna.post_form(path, &[]).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let lines = s.integration.full_sync_status().await.unwrap();
    assert!(lines.iter().all(|l| l.job_queue_entry_status.trim().is_empty()), "nothing started");
}

#[test]
fn the_review_jobs_and_setup_rows_of_the_permission_table() {
    use Page::*;
    let pages = [FullSynchReview, FullSynchActions, SynchJobs, SkippedRetry, ConnectionSetup];
    let cases: [(&str, [bool; 5]); 5] = [
        ("SUPER", [true; 5]),
        ("D365 DYN CRM MGT", [true, true, true, true, false]),
        ("D365 DYN CRM READ", [true, false, true, false, false]),
        ("D365 BUS FULL ACCESS", [false; 5]),
        ("D365 ITEM AVAILABILITY", [false; 5]),
    ];
    for (set, expected) in cases {
        let p = Permissions::parse(set).unwrap();
        let got: Vec<bool> = pages.iter().map(|page| allows(&p, *page)).collect();
        assert_eq!(got, expected, "{set}");
    }
}

/// A reversible stand-in for the binary's cipher.
struct Reverse;
impl kontor_sync::credentials::Sealer for Reverse {
    fn seal(&self, plaintext: &str) -> String {
        plaintext.chars().rev().collect()
    }
    fn open(&self, sealed: &str) -> Option<String> {
        Some(sealed.chars().rev().collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_sales_url_needs_the_secret_again_and_the_refusal_is_next_to_the_secrets_field() {
    use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn};
    let (_dir, mut s) = fresh().await;
    connect(&s).await;
    let sealer = Arc::new(Reverse);
    let credentials = IntegrationCredentials {
        financials_url: "http://erp.test".into(),
        financials_user: "INTEGRATION".into(),
        financials_key: "Stored-Key-1".into(),
        sales_url: "http://crm.test".into(),
        sales: SalesSignIn::ClientCredentials {
            client_id: "app-1".into(),
            client_secret: "Stored-Secret-1".into(),
        },
    };
    s.integration.store.save_credentials(&credentials, sealer.as_ref(), t0()).await.unwrap();
    s.state.integration = Some(s.integration.clone().with_sealer(sealer));
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let page = c.get("/dynamics-365-connection-setup").await;
    assert!(
        page.body
            .contains("<dt>Authentication</dt><dd>Client credentials (application id app-1)</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<dt>Client Secret or Password</dt><dd>Stored</dd>"));
    assert!(!page.body.contains("Stored-Secret-1") && !page.body.contains("Stored-Key-1"));
    let moved = setup_fields(&[
        ("company_id", "00000000-0000-0000-0000-0000000000cc"),
        ("sales_url", "http://127.0.0.1:9999"),
        ("sales_user", "app-1"),
        ("sales_client_id", "app-1"),
        ("sales_password", ""),
    ]);
    let answer = c.post_form("/dynamics-365-connection-setup", &moved).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = "<span id=\"sales_client_secret-error\" class=\"error\" role=\"alert\">SalesClientSecret must be entered again because the Sales URL changed.</span>";
    assert!(answer.body.contains(error), "{}", answer.body);
    assert!(
        answer.body.contains("name=\"sales_url\" type=\"text\" value=\"http://127.0.0.1:9999\"")
    );
    assert!(!answer.body.contains("Stored-Secret-1"));
    let stored = s.integration.connection().await.unwrap().unwrap();
    assert_eq!(stored.sales_url, "http://crm.test", "nothing changed");
}
