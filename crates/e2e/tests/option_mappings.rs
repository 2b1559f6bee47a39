//! Option mappings (PAYMENT TERMS, SHIPMENT METHOD, SHIPPING AGENT), on SQLite and PostgreSQL:
//! Financials codes couple with the Sales option values whose labels match, and a customer's
//! payment terms, shipment method and shipping agent travel as the account's option values, both
//! ways. A code Sales has no option for fails, and so do the customers using it.

mod common;

use common::{Scale, World, all, id, put};
use kontor_sync::Side;
use kontor_sync::engine::Mode;
use kontor_sync::ids::option_id;
use serde_json::json;

async fn option_story(fin_url: String, sales_url: String) {
    let w = World::start(&fin_url, &sales_url, None).await;
    w.seed(Scale { customers: 3, items: 1 }).await;
    let f = &w.fin_admin;
    put(
        f,
        "paymentTerms",
        "id",
        vec![
            (
                id("terms", 0),
                json!({"code": "NET30", "displayName": "Net 30 days", "dueDateCalculation": "30D"}),
            ),
            (
                id("terms", 1),
                json!({"code": "NET60", "displayName": "Net 60 days", "dueDateCalculation": "60D"}),
            ),
            (id("terms", 2), json!({"code": "COD", "displayName": "Cash on delivery"})),
        ],
    )
    .await;
    put(
        f,
        "shipmentMethods",
        "id",
        vec![(id("shipment", 0), json!({"code": "FOB", "displayName": "Free on board"}))],
    )
    .await;
    put(
        f,
        "shippingAgents",
        "id",
        vec![
            (id("agent", 0), json!({"code": "DHL", "displayName": "DHL"})),
            (id("agent", 1), json!({"code": "UPS", "displayName": "UPS"})),
        ],
    )
    .await;
    put(f, "customers", "id", vec![
        (id("cust", 0), json!({"paymentTermsId": id("terms", 0), "shipmentMethodId": id("shipment", 0), "shippingAgentCode": "DHL"})),
        (id("cust", 1), json!({"paymentTermsId": id("terms", 2)})),
    ])
    .await;

    w.full_sync().await;
    let pairs = |name: &'static str| {
        let store = w.store.clone();
        async move { store.coupling_pairs(name).await.unwrap() }
    };
    let mut terms = pairs("PAYMENT TERMS").await;
    terms.sort();
    let mut want = vec![(id("terms", 0), option_id(1)), (id("terms", 1), option_id(4))];
    want.sort();
    assert_eq!(terms, want);
    assert_eq!(pairs("SHIPMENT METHOD").await, vec![(id("shipment", 0), option_id(1))]);
    assert_eq!(pairs("SHIPPING AGENT").await.len(), 2);

    let errors = w.errors().await;
    assert!(
        errors.iter().any(|e| e.starts_with("PAYMENT TERMS")
            && e.contains("has no free value matching payment terms 'COD'")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("CUSTOMER") && e.contains(&format!(
            "Payment terms '{}' is not coupled to a Sales payment terms option. Couple payment terms first.",
            id("terms", 2)
        ))),
        "{errors:?}"
    );
    // …and the contact of that customer, whose account does not exist.
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("CONTACT") && e.contains("Customer 'C00001' is not coupled"))
    );
    assert_eq!(errors.len(), 3, "{errors:?}");

    let account_id =
        w.store.couplings_for("CUSTOMER", Side::Financials, &[id("cust", 0)]).await.unwrap()[0]
            .sales_id;
    let account = &all(&w.sales_admin, "accounts", "accountid").await[&account_id];
    assert_eq!(account["paymenttermscode"], json!(1), "{account:?}");
    assert_eq!(account["address1_freighttermscode"], json!(1), "{account:?}");
    assert_eq!(account["address1_shippingmethodcode"], json!(2), "{account:?}");

    // Changed in Sales: the customer gets the payment terms and agent coupled to the new values.
    put(
        &w.sales_admin,
        "accounts",
        "accountid",
        vec![(account_id, json!({"paymenttermscode": 4, "address1_shippingmethodcode": 4}))],
    )
    .await;
    let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    assert_eq!(reports[1].counters.modified, 1, "{reports:?} {:?}", w.errors().await);
    let customer = &all(&w.fin_admin, "customers", "id").await[&id("cust", 0)];
    assert_eq!(customer["paymentTermsId"], json!(id("terms", 1).to_string()), "{customer:?}");
    assert_eq!(customer["shippingAgentCode"], json!("UPS"), "{customer:?}");

    // Nothing changed since: an incremental run retries the failed code only, which is then
    // skipped (same error twice), and the next run is idle.
    let reports = w.engine.run_mapping("PAYMENT TERMS", Mode::Incremental).await.unwrap();
    assert_eq!((reports[0].counters.failed, reports[0].counters.coupled), (1, 0), "{reports:?}");
    let reports = w.engine.run_mapping("PAYMENT TERMS", Mode::Incremental).await.unwrap();
    assert!(reports[0].counters.is_idle(), "{reports:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_travel_as_option_values_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    option_story(kontor_testkit::sqlite_url(&dir), kontor_testkit::sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_travel_as_option_values_on_postgres() {
    option_story(kontor_testkit::pg::url().await, kontor_testkit::pg::url().await).await;
}
