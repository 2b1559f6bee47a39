//! Document mappings (defined in the default set, disabled until enabled): a released sales
//! order in Financials becomes a Sales order for the coupled account, owned by the coupled user.

mod common;

use common::{Scale, World, all, id, put};
use kontor_sync::engine::Mode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_released_sales_order_reaches_sales_for_the_coupled_account() {
    let dir = tempfile::tempdir().unwrap();
    let w =
        World::start(&kontor_testkit::sqlite_url(&dir), &kontor_testkit::sqlite_url(&dir), None)
            .await;
    w.seed(Scale { customers: 5, items: 5 }).await;
    w.full_sync().await;
    let mut m = w.store.mapping("SALESORDER-ORDER").await.unwrap();
    m.enabled = true;
    w.store.save_mapping(&m, chrono::Utc::now()).await.unwrap();

    let customer = id("cust", 0);
    let order = id("order", 0);
    put(&w.fin_admin, "salesOrders", "id", vec![
        (order, json!({"customerId": customer, "externalDocumentNumber": "PO-1", "salesperson": "SP1", "status": "Released", "shipToCity": "Bergen"})),
        (id("order", 1), json!({"customerId": customer, "externalDocumentNumber": "PO-2"})),
    ])
    .await;
    let reports = w.engine.run_mapping("SALESORDER-ORDER", Mode::Full).await.unwrap();
    assert_eq!(reports[0].counters.inserted, 1, "{reports:?} {:?}", w.errors().await);
    let pair = w
        .store
        .couplings_for("SALESORDER-ORDER", kontor_sync::Side::Financials, &[order])
        .await
        .unwrap()[0]
        .clone();
    let orders = all(&w.sales_admin, "salesorders", "salesorderid").await;
    let so = &orders[&pair.sales_id];
    let account = w
        .store
        .couplings_for("CUSTOMER", kontor_sync::Side::Financials, &[customer])
        .await
        .unwrap()[0]
        .sales_id;
    let user = w
        .store
        .couplings_for("SALESPEOPLE", kontor_sync::Side::Financials, &[id("sp", 1)])
        .await
        .unwrap()[0]
        .sales_id;
    assert_eq!(so["_customerid_value"], json!(account.to_string()), "{so:?}");
    assert_eq!(so["_ownerid_value"], json!(user.to_string()), "{so:?}");
    assert_eq!(so["name"], json!("PO-1"));
    assert_eq!(so["shipto_city"], json!("Bergen"));
    assert!(so["ordernumber"].as_str().is_some_and(|n| !n.is_empty()), "{so:?}");
    assert_eq!(orders.len(), 1, "the open order stays in Financials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_posted_invoice_reaches_sales_with_its_totals() {
    let dir = tempfile::tempdir().unwrap();
    let w =
        World::start(&kontor_testkit::sqlite_url(&dir), &kontor_testkit::sqlite_url(&dir), None)
            .await;
    w.seed(Scale { customers: 3, items: 3 }).await;
    w.full_sync().await;
    let mut m = w.store.mapping("POSTEDSALESINV-INV").await.unwrap();
    m.enabled = true;
    w.store.save_mapping(&m, chrono::Utc::now()).await.unwrap();

    let customer = id("cust", 1);
    let order = id("order", 9);
    put(
        &w.fin_admin,
        "salesOrders",
        "id",
        vec![(
            order,
            json!({"customerId": customer, "externalDocumentNumber": "PO-9", "salesperson": "SP2"}),
        )],
    )
    .await;
    let (s, line) = w
        .fin_admin
        .send_json(
            reqwest::Method::POST,
            &format!("salesOrders({order})/salesOrderLines"),
            &json!({"lineType": "Item", "lineObjectNumber": "I00000", "quantity": 2}),
        )
        .await
        .unwrap();
    assert!(s.is_success(), "{line}");
    let (s, body) = w
        .fin_admin
        .send_json(
            reqwest::Method::POST,
            &format!("salesOrders({order})/Microsoft.NAV.shipAndInvoice"),
            &json!({}),
        )
        .await
        .unwrap();
    assert!(s.is_success(), "{body}");
    let invoices = all(&w.fin_admin, "salesInvoices", "id").await;
    assert_eq!(invoices.len(), 1);
    let (invoice_id, invoice) = invoices.into_iter().next().unwrap();

    let reports = w.engine.run_mapping("POSTEDSALESINV-INV", Mode::Full).await.unwrap();
    assert_eq!(reports[0].counters.inserted, 1, "{reports:?} {:?}", w.errors().await);
    let pair = w
        .store
        .couplings_for("POSTEDSALESINV-INV", kontor_sync::Side::Financials, &[invoice_id])
        .await
        .unwrap()[0]
        .clone();
    let inv = &all(&w.sales_admin, "invoices", "invoiceid").await[&pair.sales_id];
    let account = w
        .store
        .couplings_for("CUSTOMER", kontor_sync::Side::Financials, &[customer])
        .await
        .unwrap()[0]
        .sales_id;
    assert_eq!(inv["_customerid_value"], json!(account.to_string()), "{inv:?}");
    assert_eq!(inv["invoicenumber"], invoice["number"]);
    assert!(
        kontor_sync::value::same(&inv["totalamount"], &invoice["totalAmountIncludingTax"]),
        "{inv:?} {invoice:?}"
    );
}
