//! Ship and invoice through the API, on SQLite and PostgreSQL.

mod common;

use common::{Api, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn setup(api: &Api) {
    api.create("unitsOfMeasure", json!({"code": "PCS"})).await;
    api.create("unitsOfMeasure", json!({"code": "BOX"})).await;
    api.create(
        "items",
        json!({"number": "1000", "displayName": "Bicycle", "baseUnitOfMeasureCode": "PCS", "unitPrice": 100, "unitCost": 60, "preventNegativeInventory": true}),
    )
    .await;
    api.create("items", json!({"number": "2000", "displayName": "Bell", "baseUnitOfMeasureCode": "PCS", "unitPrice": 2.5})).await;
    api.create(
        "itemUnitsOfMeasure",
        json!({"itemNumber": "1000", "code": "BOX", "qtyPerUnitOfMeasure": 4}),
    )
    .await;
    api.create("resources", json!({"number": "R1", "displayName": "Assembly", "unitPrice": 45}))
        .await;
    api.create("customers", json!({"number": "C1", "displayName": "Cyclists Inc."})).await;
}

/// Sets the item's inventory the BC way: PATCH `inventory` posts an adjustment for the difference.
async fn stock(api: &Api, item_no: &str, qty: i64) {
    let item = api.get(&format!("items?$filter=number eq '{item_no}'")).await.values()[0].clone();
    let id = item["id"].as_str().unwrap();
    let r = api
        .patch(
            &format!("items({id})"),
            item["@odata.etag"].as_str().unwrap(),
            json!({"inventory": qty}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["inventory"], json!(qty));
}

async fn count(api: &Api, set: &str) -> usize {
    let r = api.get(&format!("{set}?$count=true&$top=0")).await;
    r.body["@odata.count"].as_u64().unwrap_or_else(|| panic!("{set}: {}", r.text)) as usize
}

async fn order(api: &Api, lines: Value) -> String {
    let o =
        api.create("salesOrders", json!({"customerNumber": "C1", "salesOrderLines": lines})).await;
    o["id"].as_str().unwrap().to_owned()
}

async fn ship_and_invoice(api: &Api, id: &str) -> common::Reply {
    api.send(Method::POST, &format!("salesOrders({id})/Microsoft.NAV.shipAndInvoice"), None, &[])
        .await
}

#[tokio::test]
async fn posting_reduces_inventory_and_raises_the_balance_by_exactly_the_order_amounts() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        setup(&api).await;
        stock(&api, "1000", 20).await;
        let id = order(
            &api,
            json!([
                {"lineObjectNumber": "1000", "quantity": 3, "unitPrice": 99.99},
                {"lineObjectNumber": "1000", "unitOfMeasureCode": "BOX", "quantity": 1, "discountPercent": 5},
                {"lineObjectNumber": "2000", "quantity": 7},
                {"lineType": "Resource", "lineObjectNumber": "R1", "quantity": 1.5},
                {"lineType": "Comment", "description": "gift wrap"}
            ]),
        )
        .await;
        let o = api.get(&format!("salesOrders({id})")).await;
        // 3 × 99.99 + (4 × 100 − 5 %) + 7 × 2.5 + 1.5 × 45 = 299.97 + 380 + 17.5 + 67.5
        assert_eq!(o.body["totalAmountIncludingTax"], json!(764.97), "{}", o.text);

        let r = ship_and_invoice(&api, &id).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let invoice_url = r.headers.get("location").unwrap().to_str().unwrap().to_owned();

        let bike = api.get("items?$filter=number eq '1000'").await.values()[0].clone();
        assert_eq!(bike["inventory"], json!(13), "20 − 3 − 4");
        let bell = api.get("items?$filter=number eq '2000'").await.values()[0].clone();
        assert_eq!(bell["inventory"], json!(-7), "the bell may go negative");
        let c = api.get("customers?$filter=number eq 'C1'").await.values()[0].clone();
        assert_eq!(c["balanceDue"], json!(764.97));

        let inv = api.get(&invoice_url).await;
        assert_eq!(inv.status, StatusCode::OK, "{}", inv.text);
        assert_eq!(inv.body["totalAmountIncludingTax"], json!(764.97));
        assert_eq!(inv.body["orderId"], json!(id));
        assert_eq!(inv.body["number"], json!("103001"));
        let inv_id = inv.id();
        let lines = api.get(&format!("salesInvoices({inv_id})/salesInvoiceLines")).await;
        assert_eq!(lines.values().len(), 5);

        let ile = api.get("itemLedgerEntries?$filter=documentNumber eq '103001'&$orderby=entryNumber").await;
        let entries = ile.values();
        assert_eq!(entries.len(), 3, "{}", ile.text);
        assert_eq!(entries[0]["quantity"], json!(-3));
        assert_eq!(entries[1]["quantity"], json!(-4));
        assert_eq!(entries[0]["entryType"], json!("Sale"));
        let total: f64 = entries.iter().filter(|e| e["itemNumber"] == "1000").map(|e| e["quantity"].as_f64().unwrap()).sum();
        assert_eq!(total, -7.0);
        let cle = api.get("customerLedgerEntries?$filter=customerNumber eq 'C1'").await;
        assert_eq!(cle.values()[0]["amount"], json!(764.97));

        // The order and its lines are gone; posting again is a 404.
        assert_eq!(api.get(&format!("salesOrders({id})")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(api.get(&format!("salesOrderLines?$filter=documentId eq {id}")).await.values().len(), 0);
        assert_eq!(ship_and_invoice(&api, &id).await.status, StatusCode::NOT_FOUND);
        // Posted documents are read-only.
        let r = api.send(Method::PATCH, &format!("salesInvoices({inv_id})"), Some(json!({"status": "Paid"})), &[("If-Match", "*")]).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

        // A second order takes the next numbers.
        let id2 = order(&api, json!([{"lineObjectNumber": "1000", "quantity": 1}])).await;
        assert_eq!(ship_and_invoice(&api, &id2).await.status, StatusCode::NO_CONTENT);
        let ile = api.get("itemLedgerEntries?$orderby=entryNumber desc&$top=1").await;
        assert_eq!(ile.values()[0]["entryNumber"], json!(5), "one adjustment and three sales before");
        assert_eq!(ile.values()[0]["documentNumber"], json!("103002"));
        let c = api.get("customers?$filter=number eq 'C1'").await.values()[0].clone();
        assert_eq!(c["balanceDue"], json!(864.97));
    })
    .await;
}

#[tokio::test]
async fn a_failed_posting_writes_nothing() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        setup(&api).await;
        stock(&api, "1000", 5).await;
        let id = order(&api, json!([{"lineObjectNumber": "2000", "quantity": 1}, {"lineObjectNumber": "1000", "quantity": 6}])).await;
        let before: Vec<usize> = futures::future::join_all(
            ["salesInvoices", "salesInvoiceLines", "itemLedgerEntries", "customerLedgerEntries", "salesOrders", "salesOrderLines"]
                .map(|s| count(&api, s)),
        )
        .await;

        let r = ship_and_invoice(&api, &id).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.error_message().contains("insufficient quantity of Item 1000"), "{}", r.text);

        let item = api.get("items?$filter=number eq '1000'").await.values()[0].clone();
        assert_eq!(item["inventory"], json!(5));
        let c = api.get("customers?$filter=number eq 'C1'").await.values()[0].clone();
        assert_eq!(c["balanceDue"], json!(0));

        // blocked customer
        let cust = api.get("customers?$filter=number eq 'C1'").await;
        let cid = cust.values()[0]["id"].as_str().unwrap().to_owned();
        let etag = cust.values()[0]["@odata.etag"].as_str().unwrap().to_owned();
        let ok = api.patch(&format!("customers({cid})"), &etag, json!({"blocked": "Invoice"})).await;
        assert_eq!(ok.status, StatusCode::OK);
        let line = api.get(&format!("salesOrderLines?$filter=documentId eq {id} and lineObjectNumber eq '1000'")).await;
        let lid = line.values()[0]["id"].as_str().unwrap().to_owned();
        let etag = line.values()[0]["@odata.etag"].as_str().unwrap().to_owned();
        assert_eq!(api.patch(&format!("salesOrderLines({lid})"), &etag, json!({"quantity": 1})).await.status, StatusCode::OK);
        let r = ship_and_invoice(&api, &id).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error_message().contains("blocked"), "{}", r.text);

        let after: Vec<usize> = futures::future::join_all(
            ["salesInvoices", "salesInvoiceLines", "itemLedgerEntries", "customerLedgerEntries", "salesOrders", "salesOrderLines"]
                .map(|s| count(&api, s)),
        )
        .await;
        assert_eq!(before, after, "no rows written or removed");

        // Unblocked, it posts, and the numbers were not used up by the failures.
        let cust = api.get(&format!("customers({cid})")).await;
        api.patch(&format!("customers({cid})"), &cust.etag(), json!({"blocked": " "})).await;
        assert_eq!(ship_and_invoice(&api, &id).await.status, StatusCode::NO_CONTENT);
        let inv = api.get("salesInvoices").await;
        assert_eq!(inv.values()[0]["number"], json!("103001"));
        let ile = api.get("itemLedgerEntries?$filter=entryType eq 'Sale'&$orderby=entryNumber").await;
        assert_eq!(ile.values()[0]["entryNumber"], json!(2), "entry 1 is the adjustment; failures used none");
    })
    .await;
}

#[tokio::test]
async fn released_orders_refuse_line_changes() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        setup(&api).await;
        let id = order(&api, json!([{"lineObjectNumber": "2000", "quantity": 1}])).await;
        let o = api.get(&format!("salesOrders({id})")).await;
        let r = api
            .patch(&format!("salesOrders({id})"), &o.etag(), json!({"status": "Released"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = api
            .post(
                &format!("salesOrders({id})/salesOrderLines"),
                json!({"lineObjectNumber": "2000", "quantity": 1}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error_message().contains("Status must be equal to 'Open'"), "{}", r.text);
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_get_distinct_numbers_and_never_oversell() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        setup(&api).await;
        stock(&api, "1000", 10).await;
        // 20 customers created at once get 20 distinct numbers
        let creates =
            (0..20).map(|i| api.post("customers", json!({"displayName": format!("Parallel {i}")})));
        let replies = futures::future::join_all(creates).await;
        let mut numbers: Vec<String> = replies
            .iter()
            .map(|r| {
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
                r.body["number"].as_str().unwrap().to_owned()
            })
            .collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), 20);
        // 5 orders of 3 bikes each posted at once: at most 3 fit into 10
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(order(&api, json!([{"lineObjectNumber": "1000", "quantity": 3}])).await);
        }
        let posts = ids.iter().map(|id| ship_and_invoice(&api, id));
        let replies = futures::future::join_all(posts).await;
        let ok = replies.iter().filter(|r| r.status == StatusCode::NO_CONTENT).count();
        for r in &replies {
            assert!(
                r.status == StatusCode::NO_CONTENT || r.status == StatusCode::BAD_REQUEST,
                "{} {}",
                r.status,
                r.text
            );
        }
        assert_eq!(ok, 3);
        let item = api.get("items?$filter=number eq '1000'").await.values()[0].clone();
        assert_eq!(item["inventory"], json!(1));
        let c = api.get("customers?$filter=number eq 'C1'").await.values()[0].clone();
        assert_eq!(c["balanceDue"], json!(900));
    })
    .await;
}

#[tokio::test]
async fn the_invoice_discount_and_ship_to_address_carry_over_to_the_posted_invoice() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        setup(&api).await;
        let c = api.get("customers?$filter=number eq 'C1'").await.values()[0].clone();
        api.patch(
            &format!("customers({})", c["id"].as_str().unwrap()),
            c["@odata.etag"].as_str().unwrap(),
            json!({"city": "Lyon", "addressLine1": "1 Rue"}),
        )
        .await;
        let id = order(&api, json!([{"lineObjectNumber": "2000", "quantity": 10}])).await;
        let o = api.get(&format!("salesOrders({id})")).await;
        assert_eq!(o.body["shipToName"], "Cyclists Inc.");
        assert_eq!(o.body["shipToCity"], "Lyon");
        assert_eq!(o.body["totalAmountIncludingTax"], json!(25));
        let r = api
            .patch(
                &format!("salesOrders({id})"),
                &o.etag(),
                json!({"discountAmount": 5, "shipToCity": "Paris"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["totalAmountIncludingTax"], json!(20));
        let r = ship_and_invoice(&api, &id).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let inv = api.get(r.headers.get("location").unwrap().to_str().unwrap()).await;
        assert_eq!(inv.body["discountAmount"], json!(5));
        assert_eq!(inv.body["totalAmountIncludingTax"], json!(20));
        assert_eq!(inv.body["shipToCity"], "Paris");
        assert_eq!(inv.body["shipToAddressLine1"], "1 Rue");
        let c = api.get("customers?$filter=number eq 'C1'").await.values()[0].clone();
        assert_eq!(c["balanceDue"], json!(20));
    })
    .await;
}

#[tokio::test]
async fn posted_documents_and_ledger_entries_are_queryable_paged_and_read_only() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        setup(&api).await;
        stock(&api, "1000", 50).await;
        for q in 1..=3 {
            let id = order(&api, json!([{"lineObjectNumber": "1000", "quantity": q}, {"lineObjectNumber": "2000", "quantity": q}])).await;
            assert_eq!(ship_and_invoice(&api, &id).await.status, StatusCode::NO_CONTENT);
        }
        for set in ["salesInvoices", "salesInvoiceLines", "itemLedgerEntries", "customerLedgerEntries"] {
            let all = api.get(&format!("{set}?$count=true")).await;
            assert_eq!(all.status, StatusCode::OK, "{set}: {}", all.text);
            let n = all.body["@odata.count"].as_u64().unwrap();
            assert!(n >= 3, "{set}: {n}");
            let mut r = api.send(Method::GET, set, None, &[("Prefer", "odata.maxpagesize=2")]).await;
            let mut seen = 0;
            loop {
                seen += r.values().len();
                match r.body["@odata.nextLink"].as_str() {
                    Some(next) => r = api.get(next).await,
                    None => break,
                }
            }
            assert_eq!(seen as u64, n, "{set}: paging sees every row once");
            let first = &all.values()[0];
            let id = first["id"].as_str().unwrap();
            let one = api.get(&format!("{set}({id})?$select=id")).await;
            assert_eq!(one.etag(), first["@odata.etag"].as_str().unwrap(), "{set}: etag");
            let r = api.patch(&format!("{set}({id})"), &one.etag(), json!({})).await;
            assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{set}");
            assert_eq!(api.delete(&format!("{set}({id})"), "*").await.status, StatusCode::METHOD_NOT_ALLOWED, "{set}");
        }
        let r = api.get("salesInvoices?$filter=totalAmountIncludingTax gt 150&$orderby=number desc&$top=1&$select=number,totalAmountIncludingTax&$expand=salesInvoiceLines($select=quantity)").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let v = r.values();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0]["number"], "103003");
        assert_eq!(v[0]["totalAmountIncludingTax"], json!(307.5));
        assert_eq!(v[0]["salesInvoiceLines"].as_array().unwrap().len(), 2);
        let r = api.get("itemLedgerEntries?$filter=itemNumber eq '1000' and entryType eq 'Sale'&$orderby=quantity").await;
        let q: Vec<f64> = r.values().iter().map(|e| e["quantity"].as_f64().unwrap()).collect();
        assert_eq!(q, vec![-3.0, -2.0, -1.0]);
        let r = api.get("items?$filter=number eq '1000'&$expand=baseUnitOfMeasure,itemLedgerEntries($filter=entryType eq 'Sale')").await;
        assert_eq!(r.values()[0]["baseUnitOfMeasure"]["code"], "PCS", "{}", r.text);
        assert_eq!(r.values()[0]["itemLedgerEntries"].as_array().unwrap().len(), 3);
        assert_eq!(r.values()[0]["inventory"], json!(44));
        let r = api.get("salesInvoices?$top=1&$expand=customer($select=number)").await;
        assert_eq!(r.values()[0]["customer"]["number"], "C1", "{}", r.text);
    })
    .await;
}

#[tokio::test]
async fn a_foreign_currency_order_raises_the_balance_in_local_currency_at_the_latest_rate() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        setup(&api).await;
        api.create("currencies", json!({"code": "EUR", "displayName": "Euro"})).await;
        api.create("currencyExchangeRates", json!({"currencyCode": "EUR", "startingDate": "2020-01-01", "exchangeRateAmount": 1, "relationalExchangeRateAmount": 1})).await;
        api.create("currencyExchangeRates", json!({"currencyCode": "EUR", "startingDate": "2021-01-01", "exchangeRateAmount": 100, "relationalExchangeRateAmount": 125})).await;
        api.create("currencyExchangeRates", json!({"currencyCode": "EUR", "startingDate": "2999-01-01", "exchangeRateAmount": 1, "relationalExchangeRateAmount": 2})).await;
        let eur = api.get("currencies?$filter=code eq 'EUR'").await.values()[0].clone();
        assert_eq!(eur["exchangeRate"], json!(0.8), "the latest started rate: 100 EUR = 125 USD");
        let o = api.create("salesOrders", json!({"customerNumber": "C1", "currencyCode": "EUR", "salesOrderLines": [{"lineObjectNumber": "2000", "quantity": 10, "unitPrice": 2}]})).await;
        let r = ship_and_invoice(&api, o["id"].as_str().unwrap()).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let cle = api.get("customerLedgerEntries?$filter=customerNumber eq 'C1'").await.values()[0].clone();
        assert_eq!(cle["amount"], json!(20));
        assert_eq!(cle["amountLcy"], json!(25));
        assert_eq!(cle["currencyCode"], "EUR");
        let c = api.get("customers?$filter=number eq 'C1'").await.values()[0].clone();
        assert_eq!(c["balanceDue"], json!(25));
    })
    .await;
}

#[tokio::test]
async fn the_invoice_is_due_by_the_customers_payment_terms() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        setup(&api).await;
        let bad = api.post("paymentTerms", json!({"code": "BAD", "dueDateCalculation": "soon"})).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.body["error"]["target"], "dueDateCalculation");
        let terms = api.create("paymentTerms", json!({"code": "14 DAYS", "dueDateCalculation": "14D"})).await;
        let c = api.get("customers?$filter=number eq 'C1'").await.values()[0].clone();
        let r = api
            .patch(&format!("customers({})", c["id"].as_str().unwrap()), c["@odata.etag"].as_str().unwrap(), json!({"paymentTermsId": terms["id"]}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let o = api.create("salesOrders", json!({"customerNumber": "C1", "postingDate": "2026-02-20", "salesOrderLines": [{"lineObjectNumber": "2000", "quantity": 1}]})).await;
        let r = ship_and_invoice(&api, o["id"].as_str().unwrap()).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let inv = api.get(r.headers.get("location").unwrap().to_str().unwrap()).await;
        assert_eq!(inv.body["postingDate"], "2026-02-20");
        assert_eq!(inv.body["dueDate"], "2026-03-06");
    })
    .await;
}
