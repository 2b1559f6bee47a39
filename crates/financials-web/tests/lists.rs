//! The lists and cards of every table the web client shows besides customers (Contact List,
//! Item List, Salespersons/Purchasers, Currencies, Units of Measure, Customer Price Groups,
//! Sales Prices), on a slice of the demo company (SQLite): their HTML as snapshots, search and
//! sort, one page of rows read at a time, and bad input answered on the page.

mod support;

use axum::http::StatusCode;
use kontor_financials::model::sets;
use kontor_financials::service::{self, Actor};
use kontor_financials_web::tables::TABLES;
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Client, PASSWORD, Setup, redact, setup};
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

fn id(kind: u128, n: u128) -> Uuid {
    Uuid::from_u128((kind << 32) + n)
}

/// A slice of the demo company (the same shapes as `kontor up`'s): (set, id, payload).
fn demo() -> Vec<(&'static str, Uuid, Value)> {
    let mut out = vec![
        (
            sets::CURRENCIES,
            id(1, 1),
            json!({"code": "EUR", "displayName": "Euro", "symbol": "€", "isoCode": "EUR", "exchangeRate": 1.08}),
        ),
        (
            sets::CURRENCIES,
            id(1, 2),
            json!({"code": "GBP", "displayName": "Pound Sterling", "symbol": "£", "isoCode": "GBP", "exchangeRate": 1.27}),
        ),
        (
            sets::UNITS_OF_MEASURE,
            id(2, 1),
            json!({"code": "PCS", "displayName": "Piece", "internationalStandardCode": "EA"}),
        ),
        (
            sets::UNITS_OF_MEASURE,
            id(2, 2),
            json!({"code": "BOX", "displayName": "Box", "internationalStandardCode": "BX"}),
        ),
        (
            sets::SALESPEOPLE,
            id(3, 1),
            json!({"code": "AV", "displayName": "Anna Valdes", "email": "anna.valdes@kontor.example",
                   "phoneNumber": "+41 44 555 0100", "jobTitle": "Account Manager"}),
        ),
        (
            sets::SALESPEOPLE,
            id(3, 2),
            json!({"code": "BK", "displayName": "Ben Keller", "email": "ben.keller@kontor.example",
                   "phoneNumber": "+41 44 555 0101", "jobTitle": "Account Manager"}),
        ),
        (
            sets::CUSTOMER_PRICE_GROUPS,
            id(4, 1),
            json!({"code": "RETAIL", "displayName": "Retail customers"}),
        ),
        (
            sets::CUSTOMER_PRICE_GROUPS,
            id(4, 2),
            json!({"code": "WHOLESALE", "displayName": "Wholesale customers"}),
        ),
    ];
    for (n, (name, city)) in
        [("Valdes Coffee AG", "Zürich"), ("Keller Bikes GmbH", "Bern")].into_iter().enumerate()
    {
        let number = format!("C0{}", 10000 + n);
        out.push((
            sets::CONTACTS,
            id(5, 100 + n as u128),
            json!({"number": number, "type": "Company", "displayName": name, "city": city}),
        ));
        let person = ["Clara Meier", "David Schmid"][n];
        out.push((
            sets::CONTACTS,
            id(5, n as u128),
            json!({"number": format!("CT0{}", 10000 + n), "type": "Person", "displayName": person,
                   "companyNumber": number, "jobTitle": "Buyer", "city": city,
                   "phoneNumber": format!("+41 44 000 000{n}"),
                   "email": format!("{}@c{}.example", person.to_lowercase().replace(' ', "."), 10000 + n)}),
        ));
    }
    for (n, (name, price)) in [("Basic Chair", 19.9), ("Basic Desk", 27.21)].into_iter().enumerate()
    {
        let number = format!("{}", 1000 + n);
        out.push((
            sets::ITEMS,
            id(6, n as u128),
            json!({"number": number, "displayName": name, "type": "Inventory",
                   "baseUnitOfMeasureCode": "PCS", "unitPrice": price, "unitCost": 11.94, "blocked": false}),
        ));
        for (g, group) in ["RETAIL", "WHOLESALE"].into_iter().enumerate() {
            out.push((
                sets::SALES_PRICES,
                id(7, (n * 2 + g) as u128),
                json!({"itemNumber": number, "customerPriceGroupCode": group, "currencyCode": "",
                       "unitOfMeasureCode": "PCS", "minimumQuantity": 0, "unitPrice": price,
                       "startingDate": "2026-01-01"}),
            ));
        }
    }
    out
}

/// Seeds [`demo`] and puts 20 and 57 of the two items on stock (a PATCH of `inventory`
/// posts an adjustment, as `kontor up` does).
async fn seed(s: &Setup) {
    let mut tx = service::begin_write(&s.db).await.unwrap();
    for (set, id, body) in demo() {
        let mut body = body.as_object().unwrap().clone();
        body.insert("id".into(), json!(id.to_string()));
        service::create(&mut tx, set, body, None, Actor(Uuid::nil()))
            .await
            .unwrap_or_else(|e| panic!("{set}: {e}"));
    }
    for (n, qty) in [(0, 20), (1, 57)] {
        let patch = json!({"inventory": qty}).as_object().unwrap().clone();
        service::update(&mut tx, sets::ITEMS, id(6, n), patch, None, None, Actor(Uuid::nil()))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_and_card_renders_the_demo_data_as_its_snapshot_on_both_backends() {
    kontor_testkit::for_each_backend(|url, _backend| async move {
        let s = setup(&url).await;
        seed(&s).await;
        let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
        // (table slug, a record of it for the card)
        let cards = [
            ("contacts", id(5, 0)),
            ("items", id(6, 1)),
            ("salespeople", id(3, 1)),
            ("currencies", id(1, 2)),
            ("units-of-measure", id(2, 1)),
            ("customer-price-groups", id(4, 2)),
            ("sales-prices", id(7, 1)),
        ];
        for (slug, record) in cards {
            let t = TABLES.iter().find(|t| t.slug == slug).unwrap();
            let list = c.get(&format!("/{slug}")).await;
            assert_eq!(list.status, StatusCode::OK, "{slug}: {}", list.body);
            assert_eq!(list.title(), t.list_title);
            assert!(list.body.contains(&format!("<h1>{}</h1>", t.list_title)), "{slug}");
            let csrf = c.csrf.clone();
            insta::assert_snapshot!(format!("{slug}_list"), redact(&s, &csrf, &list.body).await);
            let card = c.get(&format!("/{slug}/{record}")).await;
            assert_eq!(card.status, StatusCode::OK, "{slug} card: {}", card.body);
            assert_eq!(card.title(), t.card_title);
            insta::assert_snapshot!(format!("{slug}_card"), redact(&s, &csrf, &card.body).await);
        }
        // The Item List shows each item's inventory.
        let items = c.get("/items").await;
        assert!(
            items.body.contains("<td>Basic Desk</td><td>Inventory</td><td>57</td>"),
            "{}",
            items.body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_list_searches_and_sorts_by_its_own_columns() {
    let (_dir, s) = fresh().await;
    seed(&s).await;
    let mut c = signed_in(&s, "READER", PASSWORD).await;
    // (path, texts that must appear in this order, texts that must not appear)
    let cases: [(&str, &[&str], &[&str]); 9] = [
        (
            "/contacts?q=meier",
            &["Clara Meier", "Valdes Coffee AG"],
            &["David Schmid", "Keller Bikes GmbH"],
        ),
        ("/contacts?q=KELLER", &["David Schmid", "Keller Bikes GmbH"], &["Clara Meier"]),
        ("/items?sort=inventory&dir=desc", &["Basic Desk", "Basic Chair"], &[]),
        ("/items?q=chair", &["Basic Chair"], &["Basic Desk"]),
        ("/salespeople?q=ben.keller", &["Ben Keller"], &["Anna Valdes"]),
        ("/currencies?sort=code&dir=desc", &["GBP", "EUR"], &[]),
        ("/units-of-measure?q=piece", &["PCS"], &["BOX"]),
        ("/customer-price-groups?sort=description&dir=desc", &["WHOLESALE", "RETAIL"], &[]),
        ("/sales-prices?q=wholesale&sort=item&dir=desc", &["1001", "1000"], &["RETAIL"]),
    ];
    for (path, present, absent) in cases {
        let page = c.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let body = &page.body[page.body.find("<tbody>").unwrap_or(0)..];
        let mut at = 0;
        for text in present {
            let found = body[at..].find(text).unwrap_or_else(|| panic!("{path}: {text} in order"));
            at += found + text.len();
        }
        for text in absent {
            assert!(!body.contains(text), "{path}: {text} is left out");
        }
    }
}

/// The numbers of the rows of a Customer List page.
fn numbers(body: &str) -> Vec<String> {
    body.match_indices("<tr><td><a href=\"/customers/")
        .map(|(at, _)| {
            let rest = &body[at..];
            let start = rest.find("\">").unwrap() + 2;
            rest[start..start + rest[start..].find('<').unwrap()].to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_300_customers_reads_and_shows_one_page_of_50_with_a_next_link() {
    let (_dir, s) = fresh().await;
    let mut tx = service::begin_write(&s.db).await.unwrap();
    for i in 1..=300u128 {
        let body = json!({"id": id(9, i).to_string(), "number": format!("K{i:04}"),
                          "displayName": format!("Kunde {i}")});
        service::create(
            &mut tx,
            sets::CUSTOMERS,
            body.as_object().unwrap().clone(),
            None,
            Actor(Uuid::nil()),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut c = signed_in(&s, "READER", PASSWORD).await;
    // (page, first and last number shown, whether a next link is offered)
    let cases =
        [(1, "K0001", "K0050", true), (2, "K0051", "K0100", true), (6, "K0251", "K0300", false)];
    for (page, first, last, next) in cases {
        let answer = c.get(&format!("/customers?sort=number&dir=asc&page={page}")).await;
        assert_eq!(answer.status, StatusCode::OK);
        let shown = numbers(&answer.body);
        assert_eq!(shown.len(), 50, "page {page}");
        assert_eq!((shown[0].as_str(), shown[49].as_str()), (first, last), "page {page}");
        let link = format!(
            "href=\"/customers?sort=number&#38;dir=asc&#38;page={}\" rel=\"next\"",
            page + 1
        );
        assert_eq!(answer.body.contains(&link), next, "page {page}: {}", answer.body);
    }
    // A page past the end shows no row and no next link.
    let beyond = c.get("/customers?page=7").await;
    assert!(numbers(&beyond.body).is_empty());
    assert!(!beyond.body.contains("rel=\"next\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_in_a_list_or_card_address_gets_a_clear_answer_never_a_failure() {
    let (_dir, s) = fresh().await;
    seed(&s).await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    // (path, status, text the answer shows)
    let cases = [
        ("/items?page=abc", StatusCode::OK, "<span>Page 1</span>"),
        ("/items?page=-3", StatusCode::OK, "<span>Page 1</span>"),
        ("/items?sort=nonsense&dir=sideways", StatusCode::OK, "aria-sort=\"ascending\""),
        (
            "/contacts?q=O%27Brien%27%29%20or%20true",
            StatusCode::OK,
            "No contact matches the search.",
        ),
        ("/sales-prices?q=%25", StatusCode::OK, "No sales price matches the search."),
        ("/items/not-an-id", StatusCode::NOT_FOUND, "The item does not exist."),
        (
            "/units-of-measure/00000000-0000-0000-0000-000000000000",
            StatusCode::NOT_FOUND,
            "The unit of measure does not exist.",
        ),
        ("/currencies/not-an-id/coupling", StatusCode::NOT_FOUND, "The currency does not exist."),
    ];
    for (path, status, text) in cases {
        let answer = c.get(path).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains(text), "{path}: {}", answer.body);
    }
    // Without a connection, the actions say so on the page and keep the search.
    let salesperson = id(3, 1);
    let search = c.get(&format!("/salespeople/{salesperson}/coupling?q=anna")).await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(search.body.contains("The connection to Sales is not set up. Run setup first."));
    assert!(search.body.contains("value=\"anna\""));
    let back = salesperson.to_string();
    let sync = c.post_form("/salespeople/synchronize", &[("salesperson", back.as_str())]).await;
    assert_eq!(sync.status, StatusCode::CONFLICT);
    assert_eq!(sync.title(), "Salesperson/Purchaser Card");
    let picked = c
        .post_form(
            &format!("/salespeople/{salesperson}/coupling"),
            &[("sales_id", "someone"), ("q", "anna")],
        )
        .await;
    assert_eq!(picked.status, StatusCode::CONFLICT);
    assert!(picked.body.contains("Pick a Sales user to couple with."), "{}", picked.body);
    assert!(picked.body.contains("value=\"anna\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lists_follow_the_api_permissions_and_offer_coupling_only_to_dyn_crm_mgt() {
    let (_dir, s) = fresh().await;
    seed(&s).await;
    let mut reader = signed_in(&s, "READER", PASSWORD).await;
    let mut items_only = signed_in(&s, "ITEMS", PASSWORD).await;
    let mut admin = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    for t in TABLES {
        let path = t.base();
        let read = reader.get(&path).await;
        assert_eq!(read.status, StatusCode::OK, "{path}");
        assert!(!read.body.contains("Synchronize Now"), "{path}: actions not offered");
        assert_eq!(
            reader.post_form(&format!("{path}/synchronize"), &[]).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(items_only.get(&path).await.status, StatusCode::FORBIDDEN, "{path}");
        let full = admin.get(&path).await;
        assert!(full.body.contains("Synchronize Now"), "{path}");
        assert!(
            full.body.contains(&format!(
                "<a href=\"{path}\" aria-current=\"page\">{}</a>",
                t.list_title
            ))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_currency_is_coupled_by_hand_from_its_card_and_the_list_links_to_the_sales_record() {
    let (_dir, s) = fresh().await;
    seed(&s).await;
    let (fin, sales) = support::connected::connect_sides(&s).await;
    let eur = id(1, 1);
    fin.put("currencies", eur, json!({"code": "EUR", "displayName": "Euro"}), "anna");
    let theirs = Uuid::from_u128(0xe0e0);
    sales.put(
        "transactioncurrencies",
        theirs,
        json!({"isocurrencycode": "EUR", "currencyname": "Euro (Sales)"}),
        "admin",
    );
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let found = c.get(&format!("/currencies/{eur}/coupling?q=euro")).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert!(
        found.body.contains("Search the Sales transaction currencies by currency code or name")
    );
    assert!(found.body.contains("<td>EUR</td><td>Euro (Sales)</td>"), "{}", found.body);
    assert!(found.body.contains("id=\"create-in-sales\""), "CURRENCY goes to Sales");
    let coupled = c
        .post_form(
            &format!("/currencies/{eur}/coupling"),
            &[("sales_id", theirs.to_string().as_str()), ("q", "euro")],
        )
        .await;
    assert_eq!(coupled.status, StatusCode::OK, "{}", coupled.body);
    assert_eq!(coupled.title(), "Currency Card");
    assert!(coupled.body.contains("The currency was coupled with the Sales transaction currency."));
    let link = format!("href=\"http://crm.test/api/data/v9.2/transactioncurrencies({theirs})\"");
    assert!(coupled.body.contains(&link), "{}", coupled.body);
    let list = c.get("/currencies").await;
    assert!(list.body.contains(&format!("<a {link}>Yes</a>")), "{}", list.body);
    assert!(list.body.contains("<td>No</td>"), "GBP is not coupled");
    let matching = c.get("/currencies/match-based-coupling").await;
    assert!(matching.body.contains("code = isocurrencycode"), "{}", matching.body);
    assert!(
        matching
            .body
            .contains("Couples the uncoupled currencies with the Sales transaction currencies")
    );
    let deleted = c.post_form(&format!("/currencies/{eur}/uncouple"), &[]).await;
    assert!(deleted.body.contains("The coupling was deleted."));
}
