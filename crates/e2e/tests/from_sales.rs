//! Records created in Sales reach Financials: a full synchronization creates customers for new
//! accounts and salespeople for new users; afterwards incremental runs follow them.

mod common;

use common::{Scale, World, all, id, put};
use kontor_sync::engine::Mode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_and_users_created_in_sales_become_customers_and_salespeople() {
    let dir = tempfile::tempdir().unwrap();
    let w =
        World::start(&kontor_testkit::sqlite_url(&dir), &kontor_testkit::sqlite_url(&dir), None)
            .await;
    w.seed(Scale { customers: 3, items: 2 }).await;
    w.full_sync().await;
    assert!(w.errors().await.is_empty(), "{:?}", w.errors().await);

    let user = id("new-user", 0);
    put(&w.sales_admin, "systemusers", "systemuserid", vec![(user, json!({"firstname": "Nora", "lastname": "New", "domainname": "nora@kontor.test", "internalemailaddress": "nora@kontor.test", "mobilephone": "555"}))]).await;
    let account = id("new-account", 0);
    put(&w.sales_admin, "accounts", "accountid", vec![(account, json!({"name": "Made In Sales", "customertypecode": 3, "telephone1": "+1 555", "address1_city": "Boston", "ownerid@odata.bind": format!("/systemusers({user})")}))]).await;

    let sp = w.engine.run_mapping("SALESPEOPLE", Mode::Full).await.unwrap();
    assert_eq!(sp[0].counters.inserted, 1, "{sp:?} {:?}", w.errors().await);
    let cust = w.engine.run_mapping("CUSTOMER", Mode::Full).await.unwrap();
    let from = cust.iter().find(|r| r.pass == kontor_sync::Pass::ToFinancials).unwrap();
    assert_eq!(from.counters.inserted, 1, "{cust:?} {:?}", w.errors().await);

    let pair =
        w.store.couplings_for("CUSTOMER", kontor_sync::Side::Sales, &[account]).await.unwrap()[0]
            .clone();
    let customers = all(&w.fin_admin, "customers", "id").await;
    let c = &customers[&pair.financials_id];
    assert_eq!(
        (c["displayName"].clone(), c["phoneNumber"].clone(), c["city"].clone()),
        (json!("Made In Sales"), json!("+1 555"), json!("Boston"))
    );
    assert!(
        c["number"].as_str().is_some_and(|n| !n.is_empty()),
        "Financials numbers the new customer: {c:?}"
    );
    let salespeople = all(&w.fin_admin, "salespeople", "id").await;
    assert!(
        salespeople
            .values()
            .any(|s| s["code"] == json!("NORANEW") && s["email"] == json!("nora@kontor.test")),
        "{salespeople:?}"
    );

    // From now on the new customer follows incremental runs both ways.
    put(
        &w.fin_admin,
        "customers",
        "id",
        vec![(pair.financials_id, json!({"phoneNumber": "+1 999"}))],
    )
    .await;
    w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    assert_eq!(
        all(&w.sales_admin, "accounts", "accountid").await[&account]["telephone1"],
        json!("+1 999")
    );
}
