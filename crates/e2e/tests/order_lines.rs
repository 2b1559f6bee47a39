//! Sales order lines travel with their order (SOLINE-ORDERDETAIL after SALESORDER-ORDER), on
//! SQLite and PostgreSQL: each item or resource line of a released order becomes a Sales order
//! product under the coupled Sales order, with the product of the coupled item or resource; a
//! line whose order is not coupled fails saying to couple sales orders first.

mod common;

use common::{Scale, World, all, id, put};
use kontor_sync::Side;
use kontor_sync::engine::Mode;
use serde_json::{Value, json};
use uuid::Uuid;

async fn coupled(w: &World, mapping: &str, fin: Uuid) -> Uuid {
    let c = w.store.couplings_for(mapping, Side::Financials, &[fin]).await.unwrap();
    assert_eq!(c.len(), 1, "{mapping}: {fin} is not coupled; errors: {:?}", w.errors().await);
    c[0].sales_id
}

async fn add_line(w: &World, order: Uuid, line: Uuid, body: Value) {
    let mut body = body;
    body["id"] = json!(line);
    let (s, v) = w
        .fin_admin
        .send_json(reqwest::Method::POST, &format!("salesOrders({order})/salesOrderLines"), &body)
        .await
        .unwrap();
    assert!(s.is_success(), "{v}");
}

async fn order_lines_story(fin_url: String, sales_url: String) {
    let w = World::start(&fin_url, &sales_url, None).await;
    w.seed(Scale { customers: 3, items: 3 }).await;
    w.full_sync().await;
    for name in ["SALESORDER-ORDER", "SOLINE-ORDERDETAIL"] {
        let mut m = w.store.mapping(name).await.unwrap();
        m.enabled = true;
        w.store.save_mapping(&m, chrono::Utc::now()).await.unwrap();
    }

    let (released, open) = (id("order", 10), id("order", 11));
    put(&w.fin_admin, "salesOrders", "id", vec![
        (released, json!({"customerId": id("cust", 0), "externalDocumentNumber": "PO-10", "salesperson": "SP1"})),
        (open, json!({"customerId": id("cust", 1), "externalDocumentNumber": "PO-11"})),
    ])
    .await;
    add_line(
        &w,
        released,
        id("line", 0),
        json!({"lineType": "Item", "lineObjectNumber": "I00001", "quantity": 3}),
    )
    .await;
    add_line(&w, released, id("line", 1), json!({"lineType": "Resource", "lineObjectNumber": "R001", "quantity": 2, "unitPrice": 120})).await;
    add_line(
        &w,
        released,
        id("line", 2),
        json!({"lineType": "Comment", "description": "Deliver before noon"}),
    )
    .await;
    add_line(
        &w,
        open,
        id("line", 3),
        json!({"lineType": "Item", "lineObjectNumber": "I00002", "quantity": 1}),
    )
    .await;
    put(&w.fin_admin, "salesOrders", "id", vec![(released, json!({"status": "Released"}))]).await;

    // An incremental run of everything, in dependency order: the order, then its lines.
    w.engine.run_mapping("SALESORDER-ORDER", Mode::Full).await.unwrap();
    let reports = w.engine.sync_now().await.unwrap();
    let lines_report = reports
        .iter()
        .find(|r| r.mapping == "SOLINE-ORDERDETAIL")
        .unwrap_or_else(|| panic!("no SOLINE-ORDERDETAIL pass in {reports:?}"));
    assert_eq!(lines_report.counters.inserted, 2, "{reports:?} {:?}", w.errors().await);
    assert_eq!(lines_report.counters.failed, 1, "{reports:?}");

    let sales_order = coupled(&w, "SALESORDER-ORDER", released).await;
    let details = all(&w.sales_admin, "salesorderdetails", "salesorderdetailid").await;
    assert_eq!(details.len(), 2, "{details:?}");
    let fin_lines = all(&w.fin_admin, "salesOrderLines", "id").await;
    for (n, mapping, product_of) in
        [(0, "ITEM-PRODUCT", id("item", 1)), (1, "RESOURCE-PRODUCT", id("res", 1))]
    {
        let detail = &details[&coupled(&w, "SOLINE-ORDERDETAIL", id("line", n)).await];
        let line = &fin_lines[&id("line", n)];
        let product = coupled(&w, mapping, product_of).await;
        assert_eq!(detail["_salesorderid_value"], json!(sales_order.to_string()), "{detail:?}");
        assert_eq!(detail["_productid_value"], json!(product.to_string()), "{detail:?}");
        assert_eq!(detail["kontor_financialslinenumber"], line["sequence"], "{detail:?}");
        for (f, s) in [
            ("quantity", "quantity"),
            ("unitPrice", "priceperunit"),
            ("amountExcludingTax", "baseamount"),
            ("amountIncludingTax", "extendedamount"),
        ] {
            assert!(kontor_sync::value::same(&line[f], &detail[s]), "{f}: {line:?} {detail:?}");
        }
        assert_eq!(detail["ispriceoverridden"], json!(true));
    }

    // The open order's line waits for its order.
    let errors = w.errors().await;
    assert!(
        errors.iter().any(|e| e.starts_with("SOLINE-ORDERDETAIL")
            && e.contains(&format!(
                "Sales order '{open}' is not coupled to a Sales order. Couple sales orders first."
            ))),
        "{errors:?}"
    );

    // A second run has nothing to do for the coupled lines.
    let reports = w.engine.run_mapping("SOLINE-ORDERDETAIL", Mode::Incremental).await.unwrap();
    assert_eq!(reports[0].counters.inserted + reports[0].counters.modified, 0, "{reports:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn order_lines_follow_their_released_order_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    order_lines_story(kontor_testkit::sqlite_url(&dir), kontor_testkit::sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn order_lines_follow_their_released_order_on_postgres() {
    order_lines_story(kontor_testkit::pg::url().await, kontor_testkit::pg::url().await).await;
}
