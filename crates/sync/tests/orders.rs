//! Sales orders from Sales against two in-memory sides, on SQLite and PostgreSQL: which
//! submitted orders become Financials orders, and the message of each that cannot.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kontor_jobs::ManualClock;
use kontor_store::Db;
use kontor_sync::Side;
use kontor_sync::defaults::default_mappings;
use kontor_sync::engine::Engine;
use kontor_sync::memory::MemoryConnector;
use kontor_sync::store::{ConnectionSettings, SyncStore};
use serde_json::json;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

struct Case {
    name: &'static str,
    statecode: i64,
    account_coupled: bool,
    /// Per line: whether its product is coupled to an item.
    lines: &'static [bool],
    /// `None`: the order is created; otherwise a part of the job error.
    error: Option<&'static str>,
    /// Whether nothing at all happens (not submitted).
    ignored: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "a submitted order for a coupled account with coupled products is created released",
        statecode: 1,
        account_coupled: true,
        lines: &[true, true],
        error: None,
        ignored: false,
    },
    Case {
        name: "an active order stays in Sales",
        statecode: 0,
        account_coupled: true,
        lines: &[true],
        error: None,
        ignored: true,
    },
    Case {
        name: "an order for an account that is not coupled fails naming the account",
        statecode: 1,
        account_coupled: false,
        lines: &[true],
        error: Some(
            "is for the account 'Account' (00000000-0000-0000-0000-000000000a00), which is not coupled to a Financials customer",
        ),
        ignored: false,
    },
    Case {
        name: "an order with a product that is not coupled fails naming the product",
        statecode: 1,
        account_coupled: true,
        lines: &[true, false],
        error: Some(
            "the product 'Product 1' (00000000-0000-0000-0000-000000000b01) is not coupled to a Financials item or resource",
        ),
        ignored: false,
    },
    Case {
        name: "an order without lines fails saying so",
        statecode: 1,
        account_coupled: true,
        lines: &[],
        error: Some("has no lines"),
        ignored: false,
    },
];

async fn run_case(url: &str, case: &Case) {
    let db = Db::connect(url).await.unwrap();
    let store = SyncStore::new(db);
    store.migrate().await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 8, 0, 0).unwrap();
    let mut set = default_mappings();
    for m in &mut set.mappings {
        if m.name == "SALESORDER-ORDER" {
            m.enabled = true;
        }
    }
    store.save_mappings(&set, false, false, now).await.unwrap();
    let settings = ConnectionSettings {
        id: id(0xc0),
        financials_url: "memory".into(),
        company_id: id(0xcc),
        sales_url: "memory".into(),
        financials_user: "INTEGRATION".into(),
        financials_user_id: Some("f1".into()),
        sales_user_id: Some("a1".into()),
        sales_user_name: "integration".into(),
        enabled: true,
    };
    store.save_connection(&settings, now).await.unwrap();
    let fin = Arc::new(MemoryConnector::new(Side::Financials, "f1"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, "a1"));
    let engine = Engine::new(
        store.clone(),
        fin.clone(),
        sales.clone(),
        settings,
        Arc::new(ManualClock::new(now)),
    );

    let (account, customer, order) = (id(0xa00), id(0xc00), id(0x500));
    sales.put("accounts", account, json!({"name": "Account"}), "anna");
    if case.account_coupled {
        store.couple("CUSTOMER", customer, account, now).await.unwrap();
    }
    for (n, coupled) in case.lines.iter().enumerate() {
        let product = id(0xb00 + n as u128);
        sales.put("products", product, json!({"name": format!("Product {n}")}), "anna");
        if *coupled {
            store.couple("ITEM-PRODUCT", id(0x100 + n as u128), product, now).await.unwrap();
        }
        sales.put(
            "salesorderdetails",
            id(0xd00 + n as u128),
            json!({"_salesorderid_value": order.to_string(), "_productid_value": product.to_string(), "quantity": n + 1, "lineitemnumber": n + 1}),
            "anna",
        );
    }
    sales.put(
        "salesorders",
        order,
        json!({"name": "ORD-1", "statecode": case.statecode, "_customerid_value": account.to_string()}),
        "anna",
    );

    let counters = engine.receive_sales_orders().await.unwrap();
    let orders = fin.rows("salesOrders");
    let lines = fin.rows("salesOrderLines");
    let jobs = store.jobs(Some("SALESORDER-ORDER"), 10).await.unwrap();
    let mut errors = Vec::new();
    for j in &jobs {
        errors.extend(store.job_errors(j.id).await.unwrap().into_iter().map(|e| e.message));
    }
    match (case.error, case.ignored) {
        (_, true) => {
            assert!(orders.is_empty() && jobs.is_empty(), "{}: {orders:?} {jobs:?}", case.name);
        }
        (None, false) => {
            assert_eq!(counters.inserted, 1, "{}: {errors:?}", case.name);
            assert_eq!(orders.len(), 1, "{}", case.name);
            let o = &orders[0].1;
            assert_eq!(o["status"], json!("Released"), "{}", case.name);
            assert_eq!(o["externalDocumentNumber"], json!("ORD-1"), "{}", case.name);
            assert_eq!(o["customerId"], json!(customer), "{}", case.name);
            assert_eq!(lines.len(), case.lines.len(), "{}", case.name);
            let coupled = store.couplings_for("SALESORDER-ORDER", Side::Sales, &[order]).await;
            assert_eq!(coupled.unwrap()[0].financials_id, orders[0].0, "{}", case.name);
            // A second run has nothing to do.
            let again = engine.receive_sales_orders().await.unwrap();
            assert_eq!(again.inserted + again.failed, 0, "{}", case.name);
        }
        (Some(fragment), false) => {
            assert_eq!(counters.failed, 1, "{}", case.name);
            assert!(orders.is_empty() && lines.is_empty(), "{}: nothing half-created", case.name);
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains("The Sales order 'ORD-1'") && e.contains(fragment)),
                "{}: {errors:?}",
                case.name
            );
            // The failed order is tried again: once more with a new error, then silently.
            let again = engine.receive_sales_orders().await.unwrap();
            assert_eq!(again.failed, 1, "{}", case.name);
            let third = engine.receive_sales_orders().await.unwrap();
            assert_eq!(third.failed, 0, "{}: a skipped order waits silently", case.name);
        }
    }
}

#[tokio::test]
async fn submitted_sales_orders_are_created_or_refused_naming_the_record_on_sqlite() {
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        run_case(&kontor_testkit::sqlite_url(&dir), case).await;
    }
}

#[tokio::test]
async fn submitted_sales_orders_are_created_or_refused_naming_the_record_on_postgres() {
    for case in CASES {
        run_case(&kontor_testkit::pg::url().await, case).await;
    }
}
