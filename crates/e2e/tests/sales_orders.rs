//! Sales order integration from Sales (issue #15 point 4), on SQLite and PostgreSQL, through
//! both servers, the recurring entries and the watcher: an order submitted in Sales becomes a
//! released Financials order with its lines within seconds, its name the External Document No.
//! and the Financials number written back; orders still active stay in Sales; Post Ship and
//! Invoice sets the Sales order Invoiced without a "coupled to a deleted record" error and the
//! posted invoice reaches Sales with its lines; an order for an account or a product that is
//! not coupled, or with a line Financials refuses, fails naming it and creates nothing; a
//! coupled account's order goes through on the next run.

mod common;

use std::time::{Duration, Instant};

use common::{Scale, World, all, id, put};
use kontor_sync::Side;
use serde_json::{Value, json};
use uuid::Uuid;

const STEP: Duration = Duration::from_secs(5);

async fn sales_id(w: &World, mapping: &str, fin: Uuid) -> Uuid {
    w.store.couplings_for(mapping, Side::Financials, &[fin]).await.unwrap()[0].sales_id
}

/// Waits (up to [`STEP`]) until `check` finds what it looks for; returns it and the time taken.
async fn within_a_step<T, F, Fut>(what: &str, w: &World, mut check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(t) = check().await {
            return (t, started.elapsed());
        }
        assert!(
            started.elapsed() < STEP,
            "{what} took longer than {STEP:?}; errors: {:?}",
            w.errors().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fin_order_named(w: &World, name: &str) -> Option<(Uuid, kontor_sync::Record)> {
    all(&w.fin_admin, "salesOrders", "id")
        .await
        .into_iter()
        .find(|(_, o)| o["externalDocumentNumber"] == json!(name))
}

/// A Sales order for `account` with one line per product, submitted when `submit`.
async fn sales_order(
    w: &World,
    order: Uuid,
    name: &str,
    account: Uuid,
    lines: &[(Uuid, Uuid, i64)],
    submit: bool,
) {
    put(
        &w.sales_admin,
        "salesorders",
        "salesorderid",
        vec![(
            order,
            json!({"name": name, "customerid_account@odata.bind": format!("/accounts({account})")}),
        )],
    )
    .await;
    for (n, (line, product, qty)) in lines.iter().enumerate() {
        put(
            &w.sales_admin,
            "salesorderdetails",
            "salesorderdetailid",
            vec![(
                *line,
                json!({
            "salesorderid@odata.bind": format!("/salesorders({order})"),
            "productid@odata.bind": format!("/products({product})"),
            "quantity": qty, "lineitemnumber": n + 1}),
            )],
        )
        .await;
    }
    if submit {
        put(&w.sales_admin, "salesorders", "salesorderid", vec![(order, json!({"statecode": 1}))])
            .await;
    }
}

async fn sales_orders_story(fin_url: String, sales_url: String) {
    let w = World::start(&fin_url, &sales_url, None).await;
    w.seed(Scale { customers: 3, items: 3 }).await;
    w.full_sync().await;
    for name in
        ["SALESORDER-ORDER", "SOLINE-ORDERDETAIL", "POSTEDSALESINV-INV", "POSTEDSALESLINE-INV"]
    {
        let mut m = w.store.mapping(name).await.unwrap();
        m.enabled = true;
        w.store.save_mapping(&m, chrono::Utc::now()).await.unwrap();
    }
    w.engine.schedule_incremental(&w.queue, Duration::from_secs(30)).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    {
        let (engine, queue, mut rx) = (w.engine.clone(), w.queue.clone(), stopped.clone());
        handles.push(tokio::spawn(async move {
            engine
                .watch(&queue, Duration::from_millis(200), async move {
                    let _ = rx.changed().await;
                })
                .await;
            Ok(())
        }));
    }
    for n in 0..3 {
        let worker = w
            .worker
            .clone()
            .with_id(format!("e2e-{n}"))
            .with_poll_interval(Duration::from_millis(50));
        let mut rx = stopped.clone();
        handles.push(tokio::spawn(async move {
            worker
                .run(async move {
                    let _ = rx.changed().await;
                })
                .await
        }));
    }
    // The first runs of the recurring entries set their watermarks.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let account = sales_id(&w, "CUSTOMER", id("cust", 0)).await;
    let (p0, p1) = (
        sales_id(&w, "ITEM-PRODUCT", id("item", 0)).await,
        sales_id(&w, "ITEM-PRODUCT", id("item", 1)).await,
    );

    // 1. An active order stays in Sales; a submitted one becomes a released Financials order.
    sales_order(&w, id("so", 0), "SO-ACTIVE", account, &[(id("sol", 0), p0, 1)], false).await;
    put(
        &w.sales_admin,
        "salesorders",
        "salesorderid",
        vec![(id("so", 1), json!({"shipto_city": "Bergen"}))],
    )
    .await;
    sales_order(
        &w,
        id("so", 1),
        "SO-100",
        account,
        &[(id("sol", 1), p0, 3), (id("sol", 2), p1, 2)],
        true,
    )
    .await;
    let ((fin_order, order), took) =
        within_a_step("the submitted order reaching Financials", &w, || async {
            fin_order_named(&w, "SO-100").await.filter(|(_, o)| o["status"] == json!("Released"))
        })
        .await;
    println!("submitted in Sales → released in Financials: {took:.2?}");
    assert_eq!(order["customerId"], json!(id("cust", 0).to_string()), "{order:?}");
    assert_eq!(order["shipToCity"], json!("Bergen"), "the ship-to typed in Sales: {order:?}");
    let lines: Vec<_> = all(&w.fin_admin, "salesOrderLines", "id")
        .await
        .into_values()
        .filter(|l| l["documentId"] == json!(fin_order.to_string()))
        .collect();
    let mut got: Vec<(Value, Value)> =
        lines.iter().map(|l| (l["itemId"].clone(), l["quantity"].clone())).collect();
    got.sort_by_key(|g| g.0.to_string());
    let mut want = vec![
        (json!(id("item", 0).to_string()), json!(3.0)),
        (json!(id("item", 1).to_string()), json!(2.0)),
    ];
    want.sort_by_key(|g| g.0.to_string());
    assert_eq!(got.len(), 2, "{lines:?}");
    for ((gi, gq), (wi, wq)) in got.iter().zip(&want) {
        assert_eq!(gi, wi);
        assert!(kontor_sync::value::same(gq, wq), "{gq} {wq}");
    }
    assert!(
        lines.iter().all(|l| l["unitPrice"].as_f64().is_some_and(|p| p > 0.0)),
        "priced by Financials: {lines:?}"
    );
    let (_, took) = within_a_step("the Financials number written back", &w, || async {
        let so = all(&w.sales_admin, "salesorders", "salesorderid").await.remove(&id("so", 1))?;
        (so["kontor_financialsordernumber"] == order["number"]
            && so["shipto_city"] == json!("Bergen"))
        .then_some(())
    })
    .await;
    println!("Financials number back in Sales: {took:.2?}");
    assert!(fin_order_named(&w, "SO-ACTIVE").await.is_none(), "an active Sales order is not sent");

    // 2. Post Ship and Invoice: the Sales order becomes Invoiced; the removal is no error.
    let (s, body) = w
        .fin_admin
        .send_json(
            reqwest::Method::POST,
            &format!("salesOrders({fin_order})/Microsoft.NAV.shipAndInvoice"),
            &json!({}),
        )
        .await
        .unwrap();
    assert!(s.is_success(), "{body}");
    let (_, took) = within_a_step("the Sales order becoming Invoiced", &w, || async {
        let so = all(&w.sales_admin, "salesorders", "salesorderid").await.remove(&id("so", 1))?;
        (so["statecode"] == json!(4)).then_some(())
    })
    .await;
    println!("posted in Financials → Invoiced in Sales: {took:.2?}");
    // 3. The posted invoice reaches Sales with both lines.
    let (fin_invoice, fin_invoice_id) = all(&w.fin_admin, "salesInvoices", "id")
        .await
        .into_iter()
        .find(|(_, i)| i["orderId"] == json!(fin_order.to_string()))
        .map(|(k, i)| (i, k))
        .expect("a posted invoice");
    let ((invoice, details), took) =
        within_a_step("the Sales invoice with its lines", &w, || async {
            let pair = w
                .store
                .couplings_for("POSTEDSALESINV-INV", Side::Financials, &[fin_invoice_id])
                .await
                .unwrap();
            let invoice_id = pair.first()?.sales_id;
            let invoice = all(&w.sales_admin, "invoices", "invoiceid").await.remove(&invoice_id)?;
            let details: Vec<_> = all(&w.sales_admin, "invoicedetails", "invoicedetailid")
                .await
                .into_values()
                .filter(|d| d["_invoiceid_value"] == json!(invoice_id.to_string()))
                .collect();
            (details.len() == 2).then_some((invoice, details))
        })
        .await;
    println!("posted in Financials → Sales invoice with lines: {took:.2?}");
    assert_eq!(invoice["invoicenumber"], fin_invoice["number"]);
    assert_eq!(invoice["_customerid_value"], json!(account.to_string()));
    let mut products: Vec<String> =
        details.iter().map(|d| d["_productid_value"].as_str().unwrap_or("").to_owned()).collect();
    products.sort();
    let mut want_products = vec![p0.to_string(), p1.to_string()];
    want_products.sort();
    assert_eq!(products, want_products, "{details:?}");
    let total: f64 = details.iter().map(|d| d["extendedamount"].as_f64().unwrap_or(0.0)).sum();
    assert!(
        kontor_sync::value::same(&json!(total), &fin_invoice["totalAmountIncludingTax"]),
        "{details:?} {fin_invoice:?}"
    );

    tokio::time::sleep(Duration::from_millis(800)).await;
    let errors = w.errors().await;
    assert!(errors.is_empty(), "no run failed, the order's removal included: {errors:?}");

    // 4. An order for an account that is not coupled, and one with a product that is not.
    let stranger = id("account", 9);
    put(
        &w.sales_admin,
        "accounts",
        "accountid",
        vec![(stranger, json!({"name": "Not Coupled Ltd", "customertypecode": 3}))],
    )
    .await;
    let loose = id("product", 9);
    put(&w.sales_admin, "products", "productid", vec![(loose, json!({"name": "Loose Product", "productnumber": "LOOSE-1", "defaultuomscheduleid@odata.bind": format!("/uomschedules({})", all(&w.sales_admin, "uomschedules", "uomscheduleid").await.into_keys().next().unwrap()), "defaultuomid@odata.bind": format!("/uoms({})", all(&w.sales_admin, "uoms", "uomid").await.into_keys().next().unwrap())}))]).await;
    sales_order(&w, id("so", 2), "SO-STRANGER", stranger, &[(id("sol", 3), p0, 1)], true).await;
    sales_order(
        &w,
        id("so", 3),
        "SO-LOOSE",
        account,
        &[(id("sol", 4), p0, 1), (id("sol", 5), loose, 1)],
        true,
    )
    .await;
    // A line Financials refuses (its item is blocked): the order written so far is deleted again.
    let p2 = sales_id(&w, "ITEM-PRODUCT", id("item", 2)).await;
    put(&w.fin_admin, "items", "id", vec![(id("item", 2), json!({"blocked": true}))]).await;
    sales_order(
        &w,
        id("so", 4),
        "SO-BLOCKED",
        account,
        &[(id("sol", 6), p0, 1), (id("sol", 7), p2, 1)],
        true,
    )
    .await;
    within_a_step("the three refusals in the job errors", &w, || async {
        let errors = w.errors().await;
        let named = |what: &str| errors.iter().any(|e| e.starts_with("SALESORDER-ORDER") && e.contains(what));
        (named(&format!("'SO-STRANGER' ({}) is for the account 'Not Coupled Ltd' ({stranger}), which is not coupled", id("so", 2)))
            && named(&format!("'SO-LOOSE' ({}) cannot be created in Financials: the product 'Loose Product' ({loose}) is not coupled", id("so", 3)))
            && named(&format!("'SO-BLOCKED' ({}): Financials refused the line {}", id("so", 4), id("sol", 7))))
        .then_some(())
    })
    .await;
    for name in ["SO-STRANGER", "SO-LOOSE", "SO-BLOCKED"] {
        assert!(fin_order_named(&w, name).await.is_none(), "{name}: nothing half-created");
    }
    let fin_lines = all(&w.fin_admin, "salesOrderLines", "id").await;
    assert!(fin_lines.is_empty(), "no stray lines: {fin_lines:?}");

    // Coupled, the account's order goes through on the next run.
    put(
        &w.fin_admin,
        "customers",
        "id",
        vec![(id("cust", 9), json!({"number": "C00009", "displayName": "Not Coupled Ltd"}))],
    )
    .await;
    w.engine.couple_records("CUSTOMER", id("cust", 9), stranger).await.unwrap();
    let mut created = 0;
    for _ in 0..3 {
        created += w.engine.receive_sales_orders().await.unwrap().inserted;
    }
    assert_eq!(created, 1);
    assert!(
        fin_order_named(&w, "SO-STRANGER")
            .await
            .is_some_and(|(_, o)| o["customerId"] == json!(id("cust", 9).to_string()))
    );
    assert!(fin_order_named(&w, "SO-LOOSE").await.is_none());
    assert!(fin_order_named(&w, "SO-BLOCKED").await.is_none());

    stop.send(true).unwrap();
    for h in handles {
        h.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_submitted_in_sales_is_released_in_financials_and_invoiced_back_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    sales_orders_story(kontor_testkit::sqlite_url(&dir), kontor_testkit::sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_submitted_in_sales_is_released_in_financials_and_invoiced_back_on_postgres() {
    sales_orders_story(kontor_testkit::pg::url().await, kontor_testkit::pg::url().await).await;
}
