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
