//! Every entity set, on both backends: create, read by id and by alternate key, query options,
//! ETag conflicts, change tracking with deletions, an atomic change set, delete.

mod common;

use common::Api;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SETS: &[&str] = &[
    "systemusers",
    "businessunits",
    "roles",
    "teams",
    "transactioncurrencies",
    "uomschedules",
    "uoms",
    "products",
    "pricelevels",
    "productpricelevels",
    "accounts",
    "contacts",
    "salesorders",
    "salesorderdetails",
    "invoices",
    "invoicedetails",
];

/// Parent rows the lookups of the scenario rows point at.
struct Fixture {
    schedule: String,
    uom: String,
    price_list: String,
    products: Vec<String>,
    account: String,
    order: String,
    invoice: String,
}

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_owned()
}

async fn fixture(api: &Api) -> Fixture {
    let schedule =
        id(&api.create("uomschedules", json!({"name": "Fixture group"})).await, "uomscheduleid");
    let uom = id(
        &api.create("uoms", json!({"name": "PCS", "quantity": 1, "uomscheduleid@odata.bind": format!("/uomschedules({schedule})")}))
            .await,
        "uomid",
    );
    let price_list =
        id(&api.create("pricelevels", json!({"name": "Fixture prices"})).await, "pricelevelid");
    let mut products = vec![];
    for i in 0..24 {
        products.push(id(
            &api.create(
                "products",
                json!({"name": format!("Fixture {i}"), "productnumber": format!("FX-{i}")}),
            )
            .await,
            "productid",
        ));
    }
    let account = id(
        &api.create("accounts", json!({"name": "Fixture customer", "accountnumber": "FX-C"})).await,
        "accountid",
    );
    let order = id(
        &api.create("salesorders", json!({"name": "Fixture order", "customerid_account@odata.bind": format!("/accounts({account})")}))
            .await,
        "salesorderid",
    );
    let invoice =
        id(&api.create("invoices", json!({"name": "Fixture invoice"})).await, "invoiceid");
    Fixture { schedule, uom, price_list, products, account, order, invoice }
}

/// A valid new row of `set`, number `n`.
fn body(set: &str, n: usize, f: &Fixture) -> Value {
    match set {
        "systemusers" => {
            json!({"domainname": format!("user{n}@kontor.test"), "firstname": "Test", "lastname": format!("User {n}")})
        }
        "businessunits" => json!({"name": format!("Unit {n}")}),
        "roles" => json!({"name": format!("Role {n}")}),
        "teams" => json!({"name": format!("Team {n}"), "teamtype": 0}),
        "transactioncurrencies" => {
            json!({"isocurrencycode": format!("X{n:02}"), "currencyname": format!("Currency {n}"), "currencysymbol": "¤", "exchangerate": 1.25, "currencyprecision": 2})
        }
        "uomschedules" => json!({"name": format!("Group {n}")}),
        "uoms" => {
            json!({"name": format!("U{n}"), "quantity": 1.5, "uomscheduleid@odata.bind": format!("/uomschedules({})", f.schedule)})
        }
        "products" => {
            json!({"name": format!("Product {n}"), "productnumber": format!("P-{n}"), "price": 12.5, "defaultuomid@odata.bind": format!("/uoms({})", f.uom)})
        }
        "pricelevels" => json!({"name": format!("Price list {n}")}),
        "productpricelevels" => json!({
            "pricelevelid@odata.bind": format!("/pricelevels({})", f.price_list),
            "productid@odata.bind": format!("/products({})", f.products[n]),
            "uomid@odata.bind": format!("/uoms({})", f.uom),
            "amount": 9.99, "pricingmethodcode": 1}),
        "accounts" => {
            json!({"name": format!("Account {n}"), "accountnumber": format!("A-{n}"), "creditlimit": 1000.5})
        }
        "contacts" => {
            json!({"firstname": "Con", "lastname": format!("Tact {n}"), "employeeid": format!("E-{n}"), "parentcustomerid_account@odata.bind": format!("/accounts({})", f.account)})
        }
        "salesorders" => {
            json!({"name": format!("Order {n}"), "ordernumber": format!("SO-{n}"), "customerid_account@odata.bind": format!("/accounts({})", f.account)})
        }
        "salesorderdetails" => {
            json!({"salesorderid@odata.bind": format!("/salesorders({})", f.order), "lineitemnumber": n, "quantity": 2, "priceperunit": 10.25, "productid@odata.bind": format!("/products({})", f.products[0])})
        }
        "invoices" => json!({"name": format!("Invoice {n}"), "invoicenumber": format!("INV-T{n}")}),
        "invoicedetails" => {
            json!({"invoiceid@odata.bind": format!("/invoices({})", f.invoice), "lineitemnumber": n, "quantity": 1, "priceperunit": 3})
        }
        other => panic!("no body for {other}"),
    }
}

/// The alternate-key URL of row `n`.
fn alt_key(set: &str, n: usize, f: &Fixture) -> String {
    match set {
        "systemusers" => format!("systemusers(domainname='user{n}@kontor.test')"),
        "businessunits" => format!("businessunits(name='Unit {n}')"),
        "roles" => format!("roles(name='Role {n}')"),
        "teams" => format!("teams(name='Team {n}')"),
        "transactioncurrencies" => format!("transactioncurrencies(isocurrencycode='X{n:02}')"),
        "uomschedules" => format!("uomschedules(name='Group {n}')"),
        "uoms" => format!("uoms(name='U{n}',uomscheduleid={})", f.schedule),
        "products" => format!("products(productnumber='P-{n}')"),
        "pricelevels" => format!("pricelevels(name='Price list {n}')"),
        "productpricelevels" => format!(
            "productpricelevels(pricelevelid={},productid={},uomid={})",
            f.price_list,
            f.products.get(n).cloned().unwrap_or_else(|| uuid::Uuid::nil().to_string()),
            f.uom
        ),
        "accounts" => format!("accounts(accountnumber='A-{n}')"),
        "contacts" => format!("contacts(employeeid='E-{n}')"),
        "salesorders" => format!("salesorders(ordernumber='SO-{n}')"),
        "salesorderdetails" => {
            format!("salesorderdetails(salesorderid={},lineitemnumber={n})", f.order)
        }
        "invoices" => format!("invoices(invoicenumber='INV-T{n}')"),
        "invoicedetails" => format!("invoicedetails(invoiceid={},lineitemnumber={n})", f.invoice),
        other => panic!("no key for {other}"),
    }
}

/// A writable text attribute to update.
fn text_attribute(set: &str) -> &'static str {
    match set {
        "systemusers" | "contacts" => "jobtitle",
        "salesorderdetails" | "invoicedetails" => "productdescription",
        "productpricelevels" => "productnumber",
        "transactioncurrencies" => "currencyname",
        _ => "name",
    }
}

fn key_of(set: &str) -> String {
    let logical = match set {
        "transactioncurrencies" => "transactioncurrency".to_owned(),
        s => s.trim_end_matches('s').to_owned(),
    };
    format!("{logical}id")
}

async fn count(api: &Api, set: &str) -> i64 {
    let key = key_of(set);
    let r = api.get(&format!("{set}?$select={key}&$count=true")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["@odata.count"].as_i64().unwrap()
}

fn change_set(set: &str, bodies: &[Value]) -> (String, String) {
    let mut b =
        String::from("--batch_T\r\nContent-Type: multipart/mixed; boundary=changeset_T\r\n\r\n");
    for (i, body) in bodies.iter().enumerate() {
        b.push_str(&format!(
            "--changeset_T\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\nPOST /api/data/v9.2/{set} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}\r\n",
            i + 1
        ));
    }
    b.push_str("--changeset_T--\r\n--batch_T--\r\n");
    (b, "batch_T".to_owned())
}

async fn scenario(api: &Api, set: &str, f: &Fixture, me: &str) {
    let key = key_of(set);
    let attr = text_attribute(set);

    // Create with return=representation; the caller is recorded as creator and modifier.
    let row1 = api.create(set, body(set, 1, f)).await;
    let id1 = id(&row1, &key);
    assert!(row1["@odata.etag"].as_str().unwrap().starts_with("W/\""), "{set}: {row1}");
    assert_eq!(row1["_modifiedby_value"], me, "{set}");
    assert_eq!(row1["_createdby_value"], me, "{set}");
    assert!(
        row1["@odata.context"].as_str().unwrap().ends_with(&format!("$metadata#{set}/$entity"))
    );
    let row3 = api.create(set, body(set, 3, f)).await;
    let id3 = id(&row3, &key);

    // Without Prefer: 204 and OData-EntityId.
    let r = api.post(set, body(set, 5, f)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{set}: {}", r.text);
    assert!(r.header("OData-EntityId").unwrap().contains(&format!("/api/data/v9.2/{set}(")));

    // Read by id and by alternate key.
    let r = api.get(&format!("{set}({id1})")).await;
    assert_eq!(r.status, StatusCode::OK, "{set}: {}", r.text);
    let etag1 = r.header("ETag").unwrap();
    assert_eq!(r.json()["@odata.etag"], etag1.as_str());
    let r = api.get(&alt_key(set, 1, f)).await;
    assert_eq!(r.status, StatusCode::OK, "{set} by alternate key: {}", r.text);
    assert_eq!(r.json()[&key], id1.as_str());
    let r = api.get(&alt_key(set, 99, f)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{set}: {}", r.text);
    assert_eq!(r.code(), "0x80040217");

    // $filter, $select, $orderby, $expand.
    let r = api
        .get(&format!(
            "{set}?$select={attr},createdon&$filter={key} eq {id1} or {key} eq {id3}&$orderby=createdon desc,{key} asc&$expand=createdby($select=fullname)"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{set}: {}", r.text);
    let v = r.json()["value"].as_array().unwrap().clone();
    assert_eq!(v.len(), 2, "{set}: {v:?}");
    for row in &v {
        assert!(row.get(attr).is_some() && row.get(&key).is_some(), "{set}: {row}");
        assert!(row.get("modifiedon").is_none(), "{set}: $select keeps only what was asked: {row}");
        assert_eq!(row["createdby"]["fullname"], "Kontor Administrator", "{set}: {row}");
    }
    let r = api.get(&format!("{set}?$filter=nosuchattribute eq 1")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("nosuchattribute"), "{}", r.text);

    // Delta link issued now; then one update, one create, one delete.
    let (rows, _, delta) = api
        .all_pages(
            &format!("{set}?$select={attr}"),
            &[("Prefer", "odata.track-changes,odata.maxpagesize=2")],
        )
        .await;
    assert!(rows.len() >= 3, "{set}");
    let delta = delta.unwrap_or_else(|| panic!("{set}: no delta link"));

    // ETags: a write with the current tag succeeds, a stale tag gets 412.
    let r = api
        .patch(&format!("{set}({id1})"), json!({attr: "Changed"}), &[("If-Match", &etag1)])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{set}: {}", r.text);
    let r =
        api.patch(&format!("{set}({id1})"), json!({attr: "Again"}), &[("If-Match", &etag1)]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{set}: {}", r.text);
    assert_eq!(r.code(), "0x80060882");
    let r = api.delete(&format!("{set}({id1})"), &[("If-Match", &etag1)]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{set}: {}", r.text);
    let r = api.get(&format!("{set}({id1})?$select={attr}")).await;
    assert_eq!(r.json()[attr], "Changed", "{set}");

    let row2 = api.create(set, body(set, 2, f)).await;
    let id2 = id(&row2, &key);
    let r = api.delete(&format!("{set}({id3})"), &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{set}: {}", r.text);

    let (changes, _, next_delta) = api.all_pages(&delta, &[]).await;
    let mut changed: Vec<String> =
        changes.iter().filter(|c| c.get("reason").is_none()).map(|c| id(c, &key)).collect();
    changed.sort();
    let mut expected = vec![id1.clone(), id2.clone()];
    expected.sort();
    assert_eq!(changed, expected, "{set}: {changes:?}");
    let deleted: Vec<&Value> = changes.iter().filter(|c| c.get("reason").is_some()).collect();
    assert_eq!(deleted.len(), 1, "{set}: {changes:?}");
    assert_eq!(deleted[0]["id"], id3.as_str());
    assert_eq!(deleted[0]["reason"], "deleted");
    assert!(
        deleted[0]["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!("$metadata#{set}/$deletedEntity"))
    );
    let (again, _, _) = api.all_pages(&next_delta.expect("a new delta link"), &[]).await;
    assert!(again.is_empty(), "{set}: nothing changed since: {again:?}");

    // A change set whose third request fails leaves nothing behind.
    let before = count(api, set).await;
    let mut bad = body(set, 12, f);
    bad["nosuchattribute"] = json!(1);
    let (b, boundary) = change_set(set, &[body(set, 10, f), body(set, 11, f), bad]);
    let r = api.batch(&b, &boundary).await;
    assert_eq!(r.status, StatusCode::OK, "{set}: {}", r.text);
    assert!(r.text.contains("HTTP/1.1 400"), "{set}: {}", r.text);
    assert!(r.text.contains("0x80048d19"), "{set}: {}", r.text);
    assert_eq!(count(api, set).await, before, "{set}: the change set was rolled back");
    assert_eq!(api.get(&alt_key(set, 10, f)).await.status, StatusCode::NOT_FOUND, "{set}");

    // The same change set without the bad request commits both.
    let (b, boundary) = change_set(set, &[body(set, 10, f), body(set, 11, f)]);
    let r = api.batch(&b, &boundary).await;
    assert!(
        r.text.contains("changesetresponse_") && !r.text.contains("HTTP/1.1 4"),
        "{set}: {}",
        r.text
    );
    assert_eq!(count(api, set).await, before + 2, "{set}");

    // Upsert by key: PATCH creates a missing row, If-Match: * refuses to, If-None-Match: * refuses to update.
    let new_id = uuid::Uuid::new_v4();
    let r = api.patch(&format!("{set}({new_id})"), body(set, 20, f), &[("If-Match", "*")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{set}: {}", r.text);
    let r = api.patch(&format!("{set}({new_id})"), body(set, 20, f), &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{set}: {}", r.text);
    let r =
        api.patch(&format!("{set}({new_id})"), json!({attr: "x"}), &[("If-None-Match", "*")]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{set}: {}", r.text);
    assert_eq!(r.code(), "0x80040237");
    let r = api
        .post(set, {
            let mut b = body(set, 21, f);
            b[&key] = json!(new_id.to_string());
            b
        })
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{set}: duplicate key: {}", r.text);
    assert_eq!(r.code(), "0x80040237");

    // Delete, then it is gone.
    let r = api.delete(&format!("{set}({id1})"), &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{set}: {}", r.text);
    let r = api.get(&format!("{set}({id1})")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{set}");
    assert_eq!(r.code(), "0x80040217");
    assert!(r.message().contains(&id1), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_entity_set_supports_crud_keys_queries_etags_change_sets_and_delta_links() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let me = api.who_am_i().await;
        let f = fixture(&api).await;
        for set in SETS {
            scenario(&api, set, &f, &me).await;
        }
    });
}
