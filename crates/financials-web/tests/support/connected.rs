//! An integration connected to two in-memory sides (no Sales server): a stored connection
//! and an engine over `kontor_sync::memory` sides, seeded as kontor-sync's own full
//! synchronization test is; and a worker that runs the queue's due entries.

use std::sync::Arc;

use kontor_jobs::Worker;
use kontor_sync::Side;
use kontor_sync::engine::Engine;
use kontor_sync::memory::MemoryConnector;
use kontor_sync::store::ConnectionSettings;
use serde_json::json;
use uuid::Uuid;

use super::{Setup, t0};

const FIN_USER: &str = "0000000a-0000-0000-0000-0000000000f1";
const SALES_USER: &str = "0000000a-0000-0000-0000-0000000000a1";

/// Connects the integration to two in-memory sides (a stored connection and an engine over
/// them), seeded with a salesperson, a currency and five customers on Financials.
pub async fn connect(s: &Setup) -> Arc<MemoryConnector> {
    connect_sides(s).await.1
}

/// [`connect`], answering both sides: (Financials, Sales).
pub async fn connect_sides(s: &Setup) -> (Arc<MemoryConnector>, Arc<MemoryConnector>) {
    let settings = ConnectionSettings {
        id: Uuid::from_u128(0xc0),
        financials_url: "http://erp.test".into(),
        company_id: Uuid::from_u128(0xcc),
        sales_url: "http://crm.test".into(),
        financials_user: "INTEGRATION".into(),
        financials_user_id: Some(FIN_USER.into()),
        sales_user_id: Some(SALES_USER.into()),
        sales_user_name: "integration".into(),
        enabled: true,
    };
    s.integration.store.save_connection(&settings, t0()).await.unwrap();
    let fin = Arc::new(MemoryConnector::new(Side::Financials, FIN_USER));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, SALES_USER));
    fin.put(
        "currencies",
        Uuid::from_u128(2),
        json!({"code": "EUR", "symbol": "€", "displayName": "Euro"}),
        "anna",
    );
    fin.put("salespeople", Uuid::from_u128(1), json!({"code": "JO", "email": "jo@x.com"}), "anna");
    sales.put(
        "systemusers",
        Uuid::from_u128(901),
        json!({"fullname": "Jo", "internalemailaddress": "jo@x.com", "isdisabled": false}),
        "admin",
    );
    for n in 0..5u128 {
        let customer = json!({"number": format!("C{n}"), "displayName": format!("Customer {n}"),
            "salespersonCode": "JO", "currencyCode": "EUR"});
        fin.put("customers", Uuid::from_u128(100 + n), customer, "anna");
    }
    let engine = Engine::new(
        s.integration.store.clone(),
        fin.clone(),
        sales.clone(),
        settings,
        s.integration.clock.clone(),
    );
    s.integration.set_engine(Arc::new(engine));
    (fin, sales)
}

/// Runs the job queue's entries that are due until none is left (as the process's workers do).
pub async fn run_queue(s: &Setup) {
    let queue = s.integration.queue.clone();
    let worker =
        Worker::new(queue.clone(), kontor_sync::jobs::handlers_for(s.integration.slot(), queue));
    for _ in 0..500 {
        if worker.run_once(s.integration.clock.now()).await.unwrap().is_none() {
            return;
        }
    }
    panic!("the queue did not run dry");
}
