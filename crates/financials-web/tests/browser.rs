//! The web client in a real browser: Debian's chromium driven through its own chromedriver
//! (fantoccini), against a real Financials server with the pages mounted as `kontor up` mounts
//! them, each on a free port. Sign in, open Users, Change Web Service Key and see the key once,
//! sign out. Fails (does not skip) when chromium or chromedriver is missing: `cargo xtask test`
//! installs them.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use support::connected::{connect, run_queue};
use support::{ADMIN_PASSWORD, setup};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver on a free port, stopped (by its handle) when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: the browser tests need Debian's chromium and chromium-driver \
             (`cargo xtask test` installs them; or `apt-get install chromium chromium-driver`)"
        );
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    driver
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    ClientBuilder::rustls()
        .expect("rustls connector")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session through chromedriver")
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_changes_a_web_service_key_sees_it_once_and_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&kontor_testkit::sqlite_url(&dir)).await;
    let fin =
        kontor_financials_server::AppState::new(s.db.clone(), Default::default()).await.unwrap();
    let pages = kontor_financials_web::router(s.state.clone());
    let app = kontor_financials_server::router_with_pages(fin, Vec::new(), Some(pages));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    c.goto(&format!("{base}/")).await.unwrap();
    wait_for(&c, "#user_name").await.send_keys("admin").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(ADMIN_PASSWORD).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#health-heading").await;
    assert_eq!(c.title().await.unwrap(), "Home");

    c.find(Locator::LinkText("Users")).await.unwrap().click().await.unwrap();
    wait_for(&c, "a[href^='/users/']").await;
    assert_eq!(c.title().await.unwrap(), "Users");
    c.find(Locator::LinkText("ITEMS")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#change-web-service-key").await.click().await.unwrap();
    let key = wait_for(&c, "#new-web-service-key").await.text().await.unwrap();
    assert_eq!(c.title().await.unwrap(), "User Card");
    assert_eq!(key.len(), 43, "{key}");
    let auth = kontor_financials::users::Authenticator::new(s.db.clone());
    let secret = kontor_financials::credentials::Secret::new(key.clone());
    assert!(auth.authenticate("ITEMS", &secret).await.unwrap().is_some(), "the shown key works");

    // Opened again, the card does not show the key.
    c.find(Locator::LinkText("Users")).await.unwrap().click().await.unwrap();
    wait_for(&c, "a[href^='/users/']").await;
    c.find(Locator::LinkText("ITEMS")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#change-web-service-key").await;
    let source = c.source().await.unwrap();
    assert!(!source.contains(&key), "the key is shown once, never again");
    assert!(!source.contains("new-web-service-key\""));

    c.find(Locator::Css(".signout button")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#user_name").await;
    assert_eq!(c.title().await.unwrap(), "Sign In");
    assert_eq!(
        kontor_financials::sessions::count(&s.db).await.unwrap(),
        0,
        "the session row is gone"
    );
    c.goto(&format!("{base}/users")).await.unwrap();
    wait_for(&c, "#user_name").await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_runs_the_full_synchronization_review_and_watches_the_statuses_reach_success() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&kontor_testkit::sqlite_url(&dir)).await;
    connect(&s).await;
    let fin =
        kontor_financials_server::AppState::new(s.db.clone(), Default::default()).await.unwrap();
    let pages = kontor_financials_web::router(s.state.clone());
    let app = kontor_financials_server::router_with_pages(fin, Vec::new(), Some(pages));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The process's worker: runs due entries every 200 ms.
    let worker = {
        let s = support::Setup {
            db: s.db.clone(),
            state: s.state.clone(),
            integration: s.integration.clone(),
        };
        tokio::spawn(async move {
            loop {
                run_queue(&s).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&format!("{base}/")).await.unwrap();
    wait_for(&c, "#user_name").await.send_keys("admin").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(ADMIN_PASSWORD).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#health-heading").await;

    c.find(Locator::LinkText("CRM Full Synch. Review")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#run-full-synchronization").await.click().await.unwrap();
    wait_for(&c, "#start").await.click().await.unwrap();
    // htmx polls the statuses until every line has finished.
    let done = "#review-lines:not([hx-trigger]) tr td[data-pass='to'][data-status='Success']";
    wait_for(&c, done).await;
    let source = c.source().await.unwrap();
    let start = source.find("<tr><td>CUSTOMER</td>").unwrap();
    let customer = &source[start..start + source[start..].find("</tr>").unwrap()];
    assert!(customer.contains(">Finished</a>"), "{customer}");
    assert_eq!(customer.matches(">Success</a>").count(), 2, "{customer}");
    assert_eq!(c.title().await.unwrap(), "CRM Full Synch. Review");
    c.close().await.unwrap();
    worker.abort();
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

async fn heading(c: &Client) -> String {
    wait_for(c, "#step-heading").await.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_walks_the_setup_guide_with_the_keyboard_and_changes_a_field_mappings_direction() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = setup(&kontor_testkit::sqlite_url(&dir)).await;
    s.integration = s.integration.clone().with_sealer(std::sync::Arc::new(Reverse));
    s.state.integration = Some(s.integration.clone());
    let fin =
        kontor_financials_server::AppState::new(s.db.clone(), Default::default()).await.unwrap();
    let pages = kontor_financials_web::router(s.state.clone());
    let app = kontor_financials_server::router_with_pages(fin, Vec::new(), Some(pages));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&format!("{base}/")).await.unwrap();
    wait_for(&c, "#user_name").await.send_keys("admin").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(ADMIN_PASSWORD).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#assisted-setup-guide").await.click().await.unwrap();
    assert_eq!(heading(&c).await, "Step 1 of 7: Sales URL and Authentication");

    // Next without answers: the errors next to their fields, then the answers typed.
    c.find(Locator::Css("#guide-next")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#sales_url-error").await;
    for (id, text) in [
        ("#sales_url", "http://127.0.0.1:9"),
        ("#sales_user", "app-1"),
        ("#sales_client_id", "app-1"),
        ("#sales_client_secret", "Typed-Secret-1"),
    ] {
        let input = c.find(Locator::Css(id)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }
    // Enter submits the form (its first submit button is Next).
    c.find(Locator::Css("#sales_client_secret"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    wait_for(&c, "#guide-import").await;
    assert_eq!(heading(&c).await, "Step 2 of 7: Integration Solution");
    assert!(!c.source().await.unwrap().contains("Typed-Secret-1"));
    c.find(Locator::Css("#guide-next")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#guide-roles").await;
    assert_eq!(heading(&c).await, "Step 3 of 7: Integration User");
    c.find(Locator::Css("#guide-next")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#unit_group_mapping").await;
    assert_eq!(heading(&c).await, "Step 4 of 7: Synchronize");
    c.find(Locator::Css("#guide-next")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#change-web-service-key-link").await;
    assert_eq!(heading(&c).await, "Step 5 of 7: Item Availability");
    let user = c.find(Locator::Css("#financials_user")).await.unwrap();
    user.select_by_value("ITEMS").await.unwrap();
    c.find(Locator::Css("#financials_web_service_key"))
        .await
        .unwrap()
        .send_keys("Typed-Key-2")
        .await
        .unwrap();
    c.find(Locator::Css("#guide-next")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#sales_orders").await;
    assert_eq!(heading(&c).await, "Step 6 of 7: Sales Order Integration");
    // Back keeps the chosen user.
    c.find(Locator::Css("#guide-back")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#financials_user option[value='ITEMS'][selected]").await;
    c.find(Locator::Css("#guide-next")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#guide-finish").await.click().await.unwrap();
    // Finish calls setup: Sales is not reachable here, so the guide says so and stores nothing.
    wait_for(&c, ".notice.bad").await;
    let source = c.source().await.unwrap();
    assert!(!source.contains("Typed-Secret-1") && !source.contains("Typed-Key-2"));
    assert!(s.integration.connection().await.unwrap().is_none());

    // Integration Field Mappings: change displayName's direction.
    c.goto(&format!("{base}/integration-table-mappings/CUSTOMER/fields")).await.unwrap();
    let index = s
        .integration
        .mapping("CUSTOMER")
        .await
        .unwrap()
        .fields
        .iter()
        .position(|f| f.financials.as_deref() == Some("displayName"))
        .unwrap();
    let select = wait_for(&c, &format!("#direction-{index}")).await;
    select.select_by_value("FromIntegrationTable").await.unwrap();
    c.find(Locator::Css(&format!("#save-field-{index}"))).await.unwrap().click().await.unwrap();
    wait_for(&c, &format!("#direction-{index} option[value='FromIntegrationTable'][selected]"))
        .await;
    let m = s.integration.mapping("CUSTOMER").await.unwrap();
    assert_eq!(m.fields[index].direction, kontor_sync::Direction::FromIntegrationTable);
    c.close().await.unwrap();
}
