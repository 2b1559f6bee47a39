//! The Customer List and Customer Card (SQLite): their HTML as snapshots, paging, search and
//! sort reading one page, Set Up Coupling and Delete Coupling changing the coupling (over an
//! engine with in-memory sides), the refusals shown on the page, and who may use them.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use kontor_financials::credentials::Permissions;
use kontor_financials::model::sets;
use kontor_financials::service::{self, Actor};
use kontor_financials_web::permission::{Page, allows};
use kontor_sync::Side;
use kontor_sync::engine::Engine;
use kontor_sync::memory::MemoryConnector;
use kontor_sync::store::ConnectionSettings;
use support::{ADMIN_PASSWORD, Client, PASSWORD, Setup, redact, setup, t0};
use uuid::Uuid;

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

fn customer_id(n: u128) -> Uuid {
    Uuid::from_u128(0xc000_0000 + n)
}

/// Customers `C00001…` with names `Customer n` in cities by `n % 3`, ids [`customer_id`].
async fn customers(s: &Setup, n: u128) {
    let mut tx = service::begin_write(&s.db).await.unwrap();
    for i in 1..=n {
        let city = ["Oslo", "Bergen", "Aarhus"][(i % 3) as usize];
        let body = serde_json::json!({
            "id": customer_id(i).to_string(),
            "number": format!("C{i:05}"),
            "displayName": format!("Customer {i}"),
            "city": city,
        });
        let body = body.as_object().unwrap().clone();
        service::create(&mut tx, sets::CUSTOMERS, body, None, Actor(Uuid::nil())).await.unwrap();
    }
    tx.commit().await.unwrap();
}

const ACCOUNT: Uuid = Uuid::from_u128(0xacc1);

/// A connection and an engine over in-memory sides; Sales holds two accounts.
async fn connect(s: &Setup) {
    let settings = ConnectionSettings {
        id: Uuid::from_u128(0xc0),
        financials_url: "http://erp.test".into(),
        company_id: Uuid::nil(),
        sales_url: "http://sales.test/".into(),
        financials_user: "INTEGRATION".into(),
        financials_user_id: None,
        sales_user_id: None,
        sales_user_name: "integration".into(),
        enabled: true,
    };
    s.integration.store.save_connection(&settings, t0()).await.unwrap();
    let fin = Arc::new(MemoryConnector::new(Side::Financials, "INTEGRATION"));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, "integration"));
    for (id, number, name) in
        [(ACCOUNT, "A-100", "Adatum Corporation"), (Uuid::from_u128(2), "A-200", "Trey Research")]
    {
        let fields =
            serde_json::json!({"accountnumber": number, "name": name, "address1_city": "Oslo"});
        sales.put("accounts", id, fields, "someone");
    }
    // The customers the tests couple exist on the Financials side too (coupling by hand reads
    // both records first).
    for n in 1..=2 {
        let fields = serde_json::json!({"number": format!("C{n:05}"), "displayName": format!("Customer {n}")});
        fin.put("customers", customer_id(n), fields, "someone");
    }
    let engine =
        Engine::new(s.integration.store.clone(), fin, sales, settings, s.integration.clock.clone());
    s.integration.set_engine(Arc::new(engine));
}

fn numbers(body: &str) -> Vec<String> {
    body.match_indices("<td><a href=\"/customers/")
        .map(|(at, _)| {
            let rest = &body[at..];
            let start = rest.find("\">C").unwrap() + 2;
            rest[start..start + 6].to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_list_and_card_render_as_their_snapshots() {
    let (_dir, s) = fresh().await;
    customers(&s, 3).await;
    connect(&s).await;
    s.integration
        .couple(
            "CUSTOMER",
            kontor_integration::CouplingRequest {
                financials_id: customer_id(2),
                sales_id: ACCOUNT,
            },
        )
        .await
        .unwrap();
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let pages = [
        ("customer_list", "/customers".to_owned(), "Customer List"),
        ("customer_card", format!("/customers/{}", customer_id(2)), "Customer Card"),
        ("set_up_coupling", format!("/customers/{}/coupling", customer_id(1)), "Set Up Coupling"),
        (
            "match_based_coupling",
            "/customers/match-based-coupling".to_owned(),
            "Match-Based Coupling",
        ),
    ];
    for (name, path, title) in pages {
        let page = c.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert_eq!(page.title(), title, "{path}");
        assert!(page.body.contains(&format!("<h1>{title}</h1>")), "{path}");
        let csrf = c.csrf.clone();
        insta::assert_snapshot!(name, redact(&s, &csrf, &page.body).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_list_pages_searches_and_sorts_one_page_at_a_time() {
    let (_dir, s) = fresh().await;
    customers(&s, 250).await;
    let mut c = signed_in(&s, "READER", PASSWORD).await;
    let first = c.get("/customers").await;
    assert_eq!(first.status, StatusCode::OK);
    let page1 = numbers(&first.body);
    assert_eq!(page1.len(), 50);
    assert_eq!(page1[0], "C00001");
    assert!(first.body.contains("rel=\"next\""));
    assert!(!first.body.contains("rel=\"prev\""));
    let second = c.get("/customers?sort=number&dir=asc&page=2").await;
    let page2 = numbers(&second.body);
    assert_eq!(page2[0], "C00051");
    assert!(page1.iter().all(|n| !page2.contains(n)), "page 1 and 2 differ");
    let last = c.get("/customers?sort=number&dir=asc&page=5").await;
    assert_eq!(numbers(&last.body).len(), 50);
    assert!(!last.body.contains("rel=\"next\""));

    let cases = [
        ("by number", "/customers?q=C00123", vec!["C00123"]),
        ("by name", "/customers?q=Customer%20249", vec!["C00249"]),
        ("nothing", "/customers?q=nobody", vec![]),
        ("a quote", "/customers?q=O%27Brien", vec![]),
    ];
    for (what, path, expected) in cases {
        let page = c.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{what}");
        assert_eq!(numbers(&page.body), expected, "{what}");
    }
    let desc = c.get("/customers?sort=number&dir=desc").await;
    assert_eq!(numbers(&desc.body)[0], "C00250");
    let by_city = c.get("/customers?sort=city&dir=asc").await;
    assert!(by_city.body.contains("aria-sort=\"ascending\""));
    assert!(by_city.body.contains("<td>Aarhus</td>"));
    assert!(!by_city.body.contains("<td>Bergen</td>"), "the first page holds only Aarhus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_up_coupling_and_delete_coupling_through_the_pages_change_the_coupling() {
    let (_dir, s) = fresh().await;
    customers(&s, 2).await;
    connect(&s).await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let id = customer_id(1);
    let found = c.get(&format!("/customers/{id}/coupling?q=adatum")).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert!(found.body.contains("Adatum Corporation"));
    assert!(!found.body.contains("Trey Research"));

    let account = ACCOUNT.to_string();
    let coupled = c
        .post_form(
            &format!("/customers/{id}/coupling"),
            &[("sales_id", account.as_str()), ("q", "adatum")],
        )
        .await;
    assert_eq!(coupled.status, StatusCode::OK, "{}", coupled.body);
    assert_eq!(coupled.title(), "Customer Card");
    assert!(coupled.body.contains("The customer was coupled with the Sales account."));
    assert!(
        coupled
            .body
            .contains(&format!("href=\"http://sales.test/api/data/v9.2/accounts({ACCOUNT})\""))
    );
    let pairs = s.integration.couplings_of("CUSTOMER", Side::Financials, &[id]).await.unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].sales_id, ACCOUNT);

    // The account is taken: coupling the other customer with it is refused on the page.
    let other = customer_id(2);
    let refused = c
        .post_form(
            &format!("/customers/{other}/coupling"),
            &[("sales_id", account.as_str()), ("q", "adatum")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.title(), "Set Up Coupling");
    assert!(refused.body.contains("id=\"couple-error\""), "{}", refused.body);
    assert!(refused.body.contains("value=\"adatum\""), "the search is kept");

    let deleted = c.post_form(&format!("/customers/{id}/uncouple"), &[]).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(deleted.body.contains("The coupling was deleted."));
    assert!(
        s.integration.couplings_of("CUSTOMER", Side::Financials, &[id]).await.unwrap().is_empty()
    );
    let again = c.post_form(&format!("/customers/{id}/uncouple"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("No coupling of"), "{}", again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_connection_the_actions_say_so_on_the_page() {
    let (_dir, s) = fresh().await;
    customers(&s, 1).await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let id = customer_id(1);
    let not_connected = "The connection to Sales is not set up. Run setup first.";
    let search = c.get(&format!("/customers/{id}/coupling?q=adatum")).await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(
        search.body.contains(&format!(
            "<span id=\"search-error\" class=\"error\" role=\"alert\">{not_connected}</span>"
        )),
        "{}",
        search.body
    );
    let back = id.to_string();
    let sync = c.post_form("/customers/synchronize", &[("customer", back.as_str())]).await;
    assert_eq!(sync.status, StatusCode::CONFLICT);
    assert_eq!(sync.title(), "Customer Card");
    assert!(sync.body.contains(not_connected));
    let fields = [("field", "number"), ("priority_number", "1"), ("case_sensitive", "on")];
    let matched = c.post_form("/customers/match-based-coupling", &fields).await;
    assert_eq!(matched.status, StatusCode::CONFLICT);
    assert!(matched.body.contains(not_connected), "{}", matched.body);
    assert!(
        matched.body.contains("id=\"case_sensitive\" name=\"case_sensitive\" value=\"on\" checked"),
        "inputs kept"
    );
    let bad = c
        .post_form(
            "/customers/match-based-coupling",
            &[("field", "number"), ("priority_number", "first")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::CONFLICT);
    assert!(bad.body.contains("The priority of number must be a whole number of 0 or more."));
    assert!(bad.body.contains("value=\"first\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_customers_follows_the_api_and_coupling_needs_dyn_crm_mgt() {
    let cases: [(&str, [bool; 2]); 7] = [
        ("SUPER", [true, true]),
        ("D365 BUS FULL ACCESS", [true, false]),
        ("D365 READ", [true, false]),
        ("D365 BUS FULL ACCESS, D365 DYN CRM MGT", [true, true]),
        ("D365 DYN CRM MGT", [false, true]),
        ("D365 DYN CRM READ", [false, false]),
        ("D365 ITEM AVAILABILITY", [false, false]),
    ];
    for (set, expected) in cases {
        let p = Permissions::parse(set).unwrap();
        let got = [allows(&p, Page::Customers), allows(&p, Page::CustomerCoupling)];
        assert_eq!(got, expected, "{set}");
    }
    let (_dir, s) = fresh().await;
    customers(&s, 1).await;
    let id = customer_id(1);
    let mut reader = signed_in(&s, "READER", PASSWORD).await;
    let list = reader.get("/customers").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains("Synchronize Now"), "actions not offered");
    let card = reader.get(&format!("/customers/{id}")).await;
    assert!(!card.body.contains("Set Up Coupling"));
    let denied = reader.post_form(&format!("/customers/{id}/uncouple"), &[]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reader.get(&format!("/customers/{id}/coupling")).await.status,
        StatusCode::FORBIDDEN
    );
    let mut items = signed_in(&s, "ITEMS", PASSWORD).await;
    assert_eq!(items.get("/customers").await.status, StatusCode::FORBIDDEN);
    let mut admin = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    assert_eq!(
        admin.get(&format!("/customers/{}", Uuid::nil())).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(admin.get("/customers/not-an-id").await.status, StatusCode::NOT_FOUND);
}

async fn full_sync(s: &Setup, mapping: &str) {
    let engine = s.integration.engine().unwrap();
    engine.run_mapping(mapping, kontor_sync::engine::Mode::Full).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_up_coupling_creates_a_new_sales_record_and_couples_it_where_the_mapping_allows() {
    let (_dir, s) = fresh().await;
    customers(&s, 2).await;
    let sales = support::connected::connect(&s).await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    // The connected Financials side holds customers 100…104 with salesperson JO and currency
    // EUR: coupled first, as the dependencies want.
    full_sync(&s, "SALESPEOPLE").await;
    let currency = Uuid::from_u128(2);
    let made = c.post_form(&format!("/currencies/{currency}/coupling/create"), &[]).await;
    // The currency exists on the connected side but not in this Financials database: not found.
    assert_eq!(made.status, StatusCode::NOT_FOUND, "{}", made.body);

    let customer = Uuid::from_u128(100);
    let mut tx = service::begin_write(&s.db).await.unwrap();
    let body = serde_json::json!({"id": customer.to_string(), "number": "C0", "displayName": "Customer 0"});
    service::create(
        &mut tx,
        sets::CUSTOMERS,
        body.as_object().unwrap().clone(),
        None,
        Actor(Uuid::nil()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let form = c.get(&format!("/customers/{customer}/coupling")).await;
    assert!(form.body.contains("id=\"create-in-sales\""), "offered: {}", form.body);
    // The currency of the customer is not coupled yet: refused on the page, naming it.
    let refused = c.post_form(&format!("/customers/{customer}/coupling/create"), &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.title(), "Set Up Coupling");
    assert!(
        refused
            .body
            .contains("Currency &#39;EUR&#39; is not coupled to a Sales transaction currency."),
        "{}",
        refused.body
    );
    full_sync(&s, "CURRENCY").await;
    let created = c.post_form(&format!("/customers/{customer}/coupling/create"), &[]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.title(), "Customer Card");
    assert!(
        created
            .body
            .contains("A new Sales account was created from the customer and coupled with it.")
    );
    let pairs =
        s.integration.couplings_of("CUSTOMER", Side::Financials, &[customer]).await.unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(
        sales.row("accounts", pairs[0].sales_id).unwrap()["name"],
        serde_json::json!("Customer 0")
    );
    assert!(created.body.contains(&format!("accounts({})", pairs[0].sales_id)), "linked");
    // Once coupled, creating is neither offered nor done again.
    let again = c.get(&format!("/customers/{customer}/coupling")).await;
    assert!(!again.body.contains("id=\"create-in-sales\""));
    let twice = c.post_form(&format!("/customers/{customer}/coupling/create"), &[]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(twice.body.contains("is already coupled to the Sales account"), "{}", twice.body);

    // Salespeople come from Sales only: creating a Sales user is not offered, and refused.
    let mut tx = service::begin_write(&s.db).await.unwrap();
    let sp = Uuid::from_u128(0x5b);
    let body = serde_json::json!({"id": sp.to_string(), "code": "ZZ", "displayName": "Zed"});
    service::create(
        &mut tx,
        sets::SALESPEOPLE,
        body.as_object().unwrap().clone(),
        None,
        Actor(Uuid::nil()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let form = c.get(&format!("/salespeople/{sp}/coupling")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(!form.body.contains("id=\"create-in-sales\""));
    let refused = c.post_form(&format!("/salespeople/{sp}/coupling/create"), &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("SALESPEOPLE synchronizes from Sales only"), "{}", refused.body);
    // A reader may not create.
    let mut reader = signed_in(&s, "READER", PASSWORD).await;
    let denied = reader.post_form(&format!("/customers/{customer}/coupling/create"), &[]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}
