//! Coupled Data Synchronization Errors (SQLite, over an engine with in-memory sides): a
//! conflict and a deleted record listed with the actions that fit them, resolved through the
//! page, bad input answered on the page, and who may see and act.

mod support;

use axum::http::StatusCode;
use kontor_sync::engine::Mode;
use kontor_sync::ids::target_id;
use serde_json::json;
use support::connected::connect_sides;
use support::{ADMIN_PASSWORD, Client, PASSWORD, Setup, redact, setup};
use uuid::Uuid;

const PATH: &str = "/coupled-data-synchronization-errors";

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

fn customer(n: u128) -> Uuid {
    Uuid::from_u128(100 + n)
}

fn account(n: u128) -> Uuid {
    target_id(Uuid::from_u128(0xc0), "CUSTOMER", customer(n))
}

/// Connected and synchronized; then customer 0's phone changed on both sides and customer 1's
/// account deleted, and an incremental run that fails both.
async fn failing(
    s: &Setup,
) -> (
    std::sync::Arc<kontor_sync::memory::MemoryConnector>,
    std::sync::Arc<kontor_sync::memory::MemoryConnector>,
) {
    let (fin, sales) = connect_sides(s).await;
    let engine = s.integration.engine().unwrap();
    for m in ["SALESPEOPLE", "CURRENCY", "CUSTOMER"] {
        engine.run_mapping(m, Mode::Full).await.unwrap();
    }
    fin.put("customers", customer(0), json!({"phoneNumber": "444"}), "anna");
    sales.put("accounts", account(0), json!({"telephone1": "555", "statecode": 0}), "someone");
    sales.remove("accounts", account(1));
    engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    (fin, sales)
}

/// The page with the synch job ids (random) replaced.
async fn shown(s: &Setup, c: &Client, body: &str) -> String {
    let mut out = redact(s, &c.csrf, body).await;
    let marker = "/integration-synch-jobs/";
    let mut at = 0;
    while let Some(found) = out[at..].find(marker) {
        let start = at + found + marker.len();
        out.replace_range(start..start + 36, "[job]");
        at = start;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_and_a_deleted_record_are_listed_with_the_actions_that_fit_them() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let empty = c.get(PATH).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("There are no coupled records with synchronization errors."));
    failing(&s).await;
    let page = c.get(PATH).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.title(), "Coupled Data Synchronization Errors");
    insta::assert_snapshot!("coupled_errors", shown(&s, &c, &page.body).await);
    // The conflict offers both sides winning; the deleted account offers restoring it.
    let row = |id: Uuid, side: &str| {
        let start = page
            .body
            .find(&format!("{id}</a></td><td>{}</td><td>{side}", account_for(id)))
            .unwrap();
        let rest = &page.body[start..];
        rest[..rest.find("</tr>").unwrap()].to_owned()
    };
    let conflict = row(customer(0), "Financials");
    for caption in ["Retry", "Financials Wins", "Sales Wins", "Remove Coupling"] {
        assert!(conflict.contains(&format!(">{caption}</button>")), "{caption}: {conflict}");
    }
    assert!(!conflict.contains("Restore Records"));
    let deleted = row(customer(1), "Sales");
    assert!(deleted.contains("Deleted in Sales"), "{deleted}");
    assert!(deleted.contains(">Restore Records</button>"));
    assert!(!deleted.contains("Wins</button>"));
}

fn account_for(id: Uuid) -> Uuid {
    account((id.as_u128() - 100) as _)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_through_the_page_lets_a_side_win_restores_and_removes_couplings() {
    let (_dir, s) = fresh().await;
    let (fin, sales) = failing(&s).await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let (c0, c1) = (customer(0).to_string(), customer(1).to_string());
    // (customer, action, the message shown)
    let cases = [
        (c0.as_str(), "retry", Err("phoneNumber ↔ telephone1")),
        (c0.as_str(), "sales-wins", Ok("was synchronized with the chosen side&#39;s values.")),
        (c1.as_str(), "financials-wins", Err("The sales account was deleted in Sales: restore it")),
        (c1.as_str(), "restore", Ok("was restored.")),
    ];
    for (id, action, expected) in cases {
        let fields = [("mapping", "CUSTOMER"), ("financials_id", id), ("action", action)];
        // As htmx posts it: the page's partial with what happened.
        let answer = c
            .post(
                &format!("{PATH}/resolve"),
                &[&[("csrf", c.csrf.clone().as_str())][..], &fields[..]].concat(),
                &[
                    ("origin", "http://erp.test"),
                    ("sec-fetch-site", "same-origin"),
                    ("hx-request", "true"),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{action}: {}", answer.body);
        match expected {
            Ok(m) => assert!(
                answer.body.contains("notice ok") && answer.body.contains(m),
                "{action}: {}",
                answer.body
            ),
            Err(m) => assert!(
                answer.body.contains("notice bad") && answer.body.contains(m),
                "{action}: {}",
                answer.body
            ),
        }
    }
    assert_eq!(fin.row("customers", customer(0)).unwrap()["phoneNumber"], json!("555"));
    assert_eq!(sales.row("accounts", account(1)).unwrap()["name"], json!("Customer 1"));
    let page = c.get(PATH).await;
    assert!(
        page.body.contains("There are no coupled records with synchronization errors."),
        "{}",
        page.body
    );
    // Remove Coupling of a plain form: post, redirect, get.
    let fields = [("mapping", "CUSTOMER"), ("financials_id", c0.as_str()), ("action", "remove")];
    let removed = c.post_form(&format!("{PATH}/resolve"), &fields).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(removed.location(), Some(PATH));
    let uncoupled = [customer(0)];
    let pairs = s.integration.couplings_of("CUSTOMER", kontor_sync::Side::Financials, &uncoupled);
    assert!(pairs.await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_answered_on_the_page_and_only_dyn_crm_mgt_may_act() {
    let (_dir, s) = fresh().await;
    failing(&s).await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let c0 = customer(0).to_string();
    let nobody = Uuid::from_u128(0x1111).to_string();
    // (mapping, Financials id, action, the message shown)
    let cases = [
        ("", c0.as_str(), "retry", "Choose the mapping of the coupling.".to_owned()),
        ("CUSTOMER", "C0", "retry", "The Financials record id is not valid.".to_owned()),
        (
            "CUSTOMER",
            c0.as_str(),
            "explode",
            "&#39;explode&#39; is not an action of this page".to_owned(),
        ),
        (
            "CUSTOMER",
            nobody.as_str(),
            "retry",
            format!("No coupling of Financials record {nobody} under CUSTOMER."),
        ),
        ("NO SUCH", c0.as_str(), "retry", "NO SUCH".to_owned()),
    ];
    for (mapping, id, action, expected) in cases {
        let fields = [("mapping", mapping), ("financials_id", id), ("action", action)];
        let answer = c.post_form(&format!("{PATH}/resolve"), &fields).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{action}: {}", answer.body);
        assert_eq!(answer.title(), "Coupled Data Synchronization Errors");
        assert!(answer.body.contains(&expected), "{expected}: {}", answer.body);
    }
    // D365 DYN CRM READ sees the page without actions and may not act; D365 READ may not see it.
    let mut anna = signed_in(&s, "ANNA", PASSWORD).await;
    let read = anna.get(PATH).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.body.contains("phoneNumber"), "the errors are shown");
    assert!(!read.body.contains(">Retry</button>"), "no actions offered");
    let fields = [("mapping", "CUSTOMER"), ("financials_id", c0.as_str()), ("action", "remove")];
    assert_eq!(
        anna.post_form(&format!("{PATH}/resolve"), &fields).await.status,
        StatusCode::FORBIDDEN
    );
    let mut reader = signed_in(&s, "READER", PASSWORD).await;
    assert_eq!(reader.get(PATH).await.status, StatusCode::FORBIDDEN);
}
