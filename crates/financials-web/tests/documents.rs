//! Sales Orders and Posted Sales Invoices, on SQLite and PostgreSQL: the list and the card with
//! its lines as snapshots, Release and Reopen with the domain's rules shown on the card, Post
//! (Ship and Invoice) ending on the Posted Sales Invoice, and the actions closed to a user who
//! may only read.

mod support;

use axum::http::StatusCode;
use kontor_financials::model::sets;
use kontor_financials::service::{self, Actor};
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Client, PASSWORD, Setup, redact, setup};
use uuid::Uuid;

async fn signed_in(s: &Setup, user: &str, password: &str) -> Client {
    let mut c = Client::new(kontor_financials_web::router(s.state.clone()));
    let answer = c.sign_in(user, password).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{user} signs in: {}", answer.body);
    c
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x5a1e_0000 + n)
}

/// A customer, two items with stock and two orders: SO-1 with lines, SO-2 without.
async fn orders(s: &Setup) {
    let admin = kontor_financials::users::list(&s.db).await.unwrap();
    let actor = Actor(admin.iter().find(|u| u.user_name == "ADMIN").unwrap().id);
    let rows: Vec<(&str, Value)> = vec![
        (sets::UNITS_OF_MEASURE, json!({"id": id(1), "code": "PCS"})),
        (
            sets::CUSTOMERS,
            json!({"id": id(2), "number": "C10000", "displayName": "Valdes Coffee AG", "city": "Zürich"}),
        ),
        (
            sets::ITEMS,
            json!({"id": id(3), "number": "1000", "displayName": "Espresso Machine", "baseUnitOfMeasureCode": "PCS", "unitPrice": 450, "unitCost": 300}),
        ),
        (
            sets::ITEMS,
            json!({"id": id(4), "number": "2000", "displayName": "Coffee Beans 1 kg", "baseUnitOfMeasureCode": "PCS", "unitPrice": 18.5}),
        ),
        (
            sets::SALES_ORDERS,
            json!({"id": id(10), "number": "SO-1", "customerNumber": "C10000", "orderDate": "2026-12-01", "externalDocumentNumber": "PO-77",
            "salesOrderLines": [
                {"id": id(11), "lineObjectNumber": "1000", "quantity": 2},
                {"id": id(12), "lineObjectNumber": "2000", "quantity": 10, "discountPercent": 10}
            ]}),
        ),
        (
            sets::SALES_ORDERS,
            json!({"id": id(20), "number": "SO-2", "customerNumber": "C10000", "orderDate": "2026-12-02"}),
        ),
    ];
    let mut tx = service::begin_write(&s.db).await.unwrap();
    for (set, body) in rows {
        let Value::Object(body) = body else { unreachable!() };
        service::create(&mut tx, set, body, None, actor)
            .await
            .unwrap_or_else(|e| panic!("{set}: {e}"));
    }
    for item in [id(3), id(4)] {
        let patch = json!({"inventory": 50});
        let Value::Object(patch) = patch else { unreachable!() };
        service::update(&mut tx, sets::ITEMS, item, patch, None, None, actor).await.unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_order_is_released_reopened_and_posted_from_its_card_and_its_posted_invoice_is_shown()
 {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let s = setup(&url).await;
        orders(&s).await;
        let mut c = signed_in(&s, "admin", ADMIN_PASSWORD).await;
        let snap = |name: &str, body: String| {
            if backend == "sqlite" {
                insta::assert_snapshot!(name.to_owned(), body);
            }
        };

        let list = c.get("/sales-orders").await;
        assert_eq!(
            (list.status, list.title()),
            (StatusCode::OK, "Sales Orders".to_owned()),
            "{backend}"
        );
        snap("sales_orders", redact(&s, &c.csrf.clone(), &list.body).await);
        let found = c.get("/sales-orders?q=PO-77").await;
        assert!(
            found.body.contains("SO-1") && !found.body.contains("SO-2"),
            "{backend}: {}",
            found.body
        );

        let card = c.get(&format!("/sales-orders/{}", id(10))).await;
        assert_eq!(card.title(), "Sales Order", "{backend}");
        assert!(
            card.body.contains("Espresso Machine") && card.body.contains(">Release</button>"),
            "{backend}"
        );
        snap("sales_order", redact(&s, &c.csrf.clone(), &card.body).await);

        // An order without lines has nothing to release: the card says so, nothing changes.
        let empty = c.post_form(&format!("/sales-orders/{}/release", id(20)), &[]).await;
        assert_eq!(empty.status, StatusCode::CONFLICT, "{backend}");
        assert!(
            empty.body.contains(
                "There is nothing to release for the document of type Order with the number SO-2."
            ),
            "{backend}: {}",
            empty.body
        );

        let released = c.post_form(&format!("/sales-orders/{}/release", id(10)), &[]).await;
        assert_eq!(released.status, StatusCode::SEE_OTHER, "{backend}: {}", released.body);
        let card = c.get(&format!("/sales-orders/{}", id(10))).await;
        assert!(
            card.body.contains("<dd>Released</dd>") && card.body.contains(">Reopen</button>"),
            "{backend}"
        );
        let again = c.post_form(&format!("/sales-orders/{}/release", id(10)), &[]).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{backend}");
        assert!(again.body.contains("Sales order SO-1 is already released."), "{backend}");
        let reopened = c
            .post(
                &format!("/sales-orders/{}/reopen", id(10)),
                &[("csrf", c.csrf.clone().as_str())],
                &[("origin", "http://erp.test"), ("hx-request", "true")],
            )
            .await;
        assert_eq!(reopened.status, StatusCode::OK, "{backend}");
        assert!(
            reopened.body.contains("Sales order SO-1 is open again."),
            "{backend}: htmx gets the card"
        );

        // A reader sees the order but no action, and the action's URL answers 403.
        let mut reader = signed_in(&s, "READER", PASSWORD).await;
        let seen = reader.get(&format!("/sales-orders/{}", id(10))).await;
        assert_eq!(seen.status, StatusCode::OK, "{backend}");
        for action in [">Release</button>", ">Reopen</button>", ">Post (Ship and Invoice)</button>"]
        {
            assert!(!seen.body.contains(action), "{backend}: {action} is not offered");
        }
        let denied = reader.post_form(&format!("/sales-orders/{}/post", id(10)), &[]).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{backend}");

        // Post: the order is gone, the browser is sent to its posted invoice.
        let posted = c.post_form(&format!("/sales-orders/{}/post", id(10)), &[]).await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{backend}: {}", posted.body);
        let to = posted.location().unwrap().to_owned();
        assert!(to.starts_with("/posted-sales-invoices/"), "{backend}: {to}");
        let invoice = c.get(&to).await;
        assert_eq!(invoice.title(), "Posted Sales Invoice", "{backend}");
        // 2 × 450 + 10 × 18.5 − 10 % = 900 + 166.5
        assert!(invoice.body.contains("<dd>1066.5</dd>"), "{backend}: {}", invoice.body);
        assert!(
            invoice.body.contains("<dd>SO-1</dd>") && invoice.body.contains("Coffee Beans 1 kg"),
            "{backend}"
        );
        let today = chrono::Utc::now().date_naive().to_string();
        let invoice_id = to.trim_start_matches("/posted-sales-invoices/").to_owned();
        snap(
            "posted_sales_invoice",
            redact(&s, &c.csrf.clone(), &invoice.body)
                .await
                .replace(&today, "[today]")
                .replace(&invoice_id, "[invoice]"),
        );
        let gone = c.get(&format!("/sales-orders/{}", id(10))).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{backend}");
        let invoices = c.get("/posted-sales-invoices").await;
        assert!(
            invoices.body.contains("Valdes Coffee AG") && invoices.body.contains(&invoice_id),
            "{backend}"
        );
        let missing = c.get("/posted-sales-invoices/not-an-id").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{backend}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sales_order_list_reads_one_page_of_rows_and_links_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&kontor_testkit::sqlite_url(&dir)).await;
    let admin = kontor_financials::users::list(&s.db).await.unwrap();
    let actor = Actor(admin.iter().find(|u| u.user_name == "ADMIN").unwrap().id);
    let mut tx = service::begin_write(&s.db).await.unwrap();
    let Value::Object(cust) = json!({"number": "C1", "displayName": "Cyclists Inc."}) else {
        unreachable!()
    };
    service::create(&mut tx, sets::CUSTOMERS, cust, None, actor).await.unwrap();
    for n in 0..120 {
        let Value::Object(o) = json!({"number": format!("SO-{n:04}"), "customerNumber": "C1"})
        else {
            unreachable!()
        };
        service::create(&mut tx, sets::SALES_ORDERS, o, None, actor).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut c = signed_in(&s, "admin", ADMIN_PASSWORD).await;
    let cases = [
        ("/sales-orders", 50, "SO-0000", true),
        ("/sales-orders?sort=number&dir=asc&page=3", 20, "SO-0100", false),
        ("/sales-orders?sort=number&dir=desc", 50, "SO-0119", true),
    ];
    for (path, rows, first, next) in cases {
        let page = c.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let shown = page.body.matches("<tr><td><a href=\"/sales-orders/").count();
        assert_eq!(shown, rows, "{path}");
        let at = page.body.find("<tbody>").unwrap();
        assert!(page.body[at..].find(first).is_some_and(|p| p < 200), "{path}: first row {first}");
        assert_eq!(page.body.contains("rel=\"next\""), next, "{path}");
    }
}
