//! CreateMultiple / UpdateMultiple / UpsertMultiple (entities-reference B.9), set-based since
//! the existing rows and bind targets are read with one query per entity set: creates and
//! updates mixed, binds resolved, all or nothing, keys repeated in `Targets`, defaults of a
//! single create. On both backends; error bodies are snapshots (equal on both).

mod common;

use common::Api;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

const ACCOUNT: &str = "Microsoft.Dynamics.CRM.account";

/// A fixed id, so that error messages (which name ids) are the same on every run.
fn id(name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("kontor.sales.bulk.{name}").as_bytes())
}

/// The rows a bulk message may touch: a user, a currency and two accounts that exist.
struct Fixture {
    user: Uuid,
    currency: Uuid,
    old: [Uuid; 2],
}

async fn fixture(api: &Api) -> Fixture {
    let f = Fixture { user: id("user"), currency: id("currency"), old: [id("old-0"), id("old-1")] };
    api.create(
        "systemusers",
        json!({"systemuserid": f.user, "domainname": "owner@kontor.test", "firstname": "Olga", "lastname": "Owner"}),
    )
    .await;
    api.create(
        "transactioncurrencies",
        json!({"transactioncurrencyid": f.currency, "isocurrencycode": "NOK", "currencyname": "Krone", "currencysymbol": "kr", "exchangerate": 11.5, "currencyprecision": 2}),
    )
    .await;
    for (n, old) in f.old.iter().enumerate() {
        api.create(
            "accounts",
            json!({"accountid": old, "name": format!("Old {n}"), "accountnumber": format!("OLD-{n}"), "telephone1": "000"}),
        )
        .await;
    }
    f
}

/// Every account as the API shows it, etags included: equal before and after a refused
/// request means nothing was written.
async fn accounts(api: &Api) -> Value {
    let r = api
        .get("accounts?$select=name,accountnumber,telephone1,_ownerid_value,_transactioncurrencyid_value,_parentaccountid_value&$orderby=accountnumber")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["value"].clone()
}

fn upsert(id: Uuid, fields: Value) -> Value {
    let mut t = json!({"@odata.type": ACCOUNT, "accountid": id});
    t.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upsert_multiple_updates_the_existing_targets_and_creates_the_new_ones_with_their_keys() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let f = fixture(&api).await;
        let new = [id("new-0"), id("new-1")];
        let binds = |parent: Uuid| {
            json!({
                "ownerid@odata.bind": format!("/systemusers({})", f.user),
                "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({})", f.currency),
                "parentaccountid@odata.bind": format!("/accounts({parent})"),
            })
        };
        let with = |a: Value, b: Value| {
            let mut a = a;
            a.as_object_mut().unwrap().extend(b.as_object().unwrap().clone());
            a
        };
        // New and existing interleaved, every target with the three binds.
        let targets = vec![
            upsert(
                new[0],
                with(json!({"name": "New 0", "accountnumber": "NEW-0"}), binds(f.old[0])),
            ),
            upsert(f.old[0], with(json!({"telephone1": "111"}), binds(f.old[1]))),
            upsert(
                new[1],
                with(json!({"name": "New 1", "accountnumber": "NEW-1"}), binds(f.old[1])),
            ),
            upsert(f.old[1], with(json!({"name": "Old 1 renamed"}), binds(f.old[0]))),
        ];
        let before = api.get(&format!("accounts({})?$select=createdon", f.old[0])).await.json();
        let r = api
            .post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json!({"Targets": targets}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let body = r.json();
        assert!(
            body["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#Microsoft.Dynamics.CRM.UpsertMultipleResponse"),
            "{body}"
        );
        assert_eq!(
            body["Results"],
            json!([
                {"RecordCreated": true, "Id": new[0].to_string()},
                {"RecordCreated": false, "Id": f.old[0].to_string()},
                {"RecordCreated": true, "Id": new[1].to_string()},
                {"RecordCreated": false, "Id": f.old[1].to_string()},
            ]),
            "one result per target, in order"
        );

        // (key, name, accountnumber, telephone1, parent): what every row holds now.
        let expected = [
            (new[0], "New 0", "NEW-0", Value::Null, f.old[0]),
            (f.old[0], "Old 0", "OLD-0", json!("111"), f.old[1]),
            (new[1], "New 1", "NEW-1", Value::Null, f.old[1]),
            (f.old[1], "Old 1 renamed", "OLD-1", json!("000"), f.old[0]),
        ];
        for (key, name, number, phone, parent) in expected {
            let row = api.get(&format!("accounts({key})?$select=name,accountnumber,telephone1,_ownerid_value,_transactioncurrencyid_value,_parentaccountid_value")).await;
            assert_eq!(row.status, StatusCode::OK, "{key}: {}", row.text);
            let row = row.json();
            assert_eq!(row["name"], name, "{row}");
            assert_eq!(row["accountnumber"], number, "members not in the target are kept: {row}");
            assert_eq!(row["telephone1"], phone, "{row}");
            assert_eq!(row["_ownerid_value"], f.user.to_string(), "{row}");
            assert_eq!(row["_transactioncurrencyid_value"], f.currency.to_string(), "{row}");
            assert_eq!(row["_parentaccountid_value"], parent.to_string(), "{row}");
        }
        let after = api.get(&format!("accounts({})?$select=createdon", f.old[0])).await.json();
        assert_eq!(after["createdon"], before["createdon"], "an update keeps its created stamp");
        assert_eq!(accounts(&api).await.as_array().unwrap().len(), 4, "nothing else was created");
    });
}

/// A request UpsertMultiple refuses as a whole: the case's name, the targets (built from the
/// fixture) and the status. Each body is a snapshot `bulk__<name>`.
type Case = (&'static str, fn(&Fixture) -> Vec<Value>, StatusCode);

const REFUSED: &[Case] = &[
    (
        "a_bind_to_a_missing_user_names_the_owner_lookup",
        |f| {
            vec![
                upsert(id("new-0"), json!({"name": "New 0"})),
                upsert(f.old[0], json!({"telephone1": "111"})),
                upsert(
                    id("new-1"),
                    json!({"name": "New 1", "ownerid@odata.bind": format!("/systemusers({})", id("ghost-user"))}),
                ),
            ]
        },
        StatusCode::BAD_REQUEST,
    ),
    (
        "a_bind_to_a_missing_currency_names_the_currency_lookup",
        |f| {
            vec![
                upsert(f.old[1], json!({"telephone1": "222"})),
                upsert(
                    f.old[0],
                    json!({"transactioncurrencyid@odata.bind": format!("/transactioncurrencies({})", id("ghost-currency"))}),
                ),
                upsert(id("new-0"), json!({"name": "New 0"})),
            ]
        },
        StatusCode::BAD_REQUEST,
    ),
    (
        "a_bind_to_a_missing_parent_account_names_the_parent_lookup",
        |f| {
            vec![
                upsert(f.old[0], json!({"telephone1": "111"})),
                upsert(
                    id("new-0"),
                    json!({"name": "New 0", "parentaccountid@odata.bind": format!("/accounts({})", id("ghost-account"))}),
                ),
            ]
        },
        StatusCode::BAD_REQUEST,
    ),
    (
        "a_key_repeated_in_targets_names_both_positions",
        |f| {
            vec![
                upsert(f.old[0], json!({"telephone1": "111"})),
                upsert(id("new-0"), json!({"name": "New 0"})),
                upsert(f.old[1], json!({"telephone1": "222"})),
                upsert(id("new-0"), json!({"name": "New 0 again"})),
            ]
        },
        StatusCode::BAD_REQUEST,
    ),
    (
        "an_alternate_key_repeated_in_targets_names_both_positions",
        |f| {
            vec![
                json!({"@odata.type": ACCOUNT, "accountnumber": "ALT-1", "name": "Alt"}),
                upsert(f.old[0], json!({"telephone1": "111"})),
                json!({"@odata.type": ACCOUNT, "accountnumber": "ALT-1", "name": "Alt again"}),
            ]
        },
        StatusCode::BAD_REQUEST,
    ),
    (
        "a_value_of_the_wrong_type_is_a_payload_error",
        |f| {
            vec![
                upsert(id("new-0"), json!({"name": "New 0"})),
                upsert(f.old[0], json!({"creditlimit": "lots"})),
            ]
        },
        StatusCode::BAD_REQUEST,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upsert_multiple_with_one_bad_target_is_refused_whole_and_writes_nothing() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let f = fixture(&api).await;
        let before = accounts(&api).await;
        for (name, targets, status) in REFUSED {
            let r = api
                .post(
                    "accounts/Microsoft.Dynamics.CRM.UpsertMultiple",
                    json!({"Targets": targets(&f)}),
                )
                .await;
            assert_eq!(r.status, *status, "{name}: {}", r.text);
            insta::assert_json_snapshot!(*name, r.json());
            assert_eq!(accounts(&api).await, before, "{name}: nothing of the request was written");
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_price_created_through_upsert_multiple_gets_the_products_name_like_a_single_create()
 {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let bind =
            |set: &str, v: &Value, key: &str| format!("/{set}({})", v[key].as_str().unwrap());
        let schedule = api.create("uomschedules", json!({"name": "Units"})).await;
        let uom = api
            .create("uoms", json!({"name": "PCS", "quantity": 1, "uomscheduleid@odata.bind": bind("uomschedules", &schedule, "uomscheduleid")}))
            .await;
        let list = api.create("pricelevels", json!({"name": "Retail"})).await;
        let products: Vec<Value> = widgets(&api).await;
        let price = |n: usize| {
            json!({
                "pricelevelid@odata.bind": bind("pricelevels", &list, "pricelevelid"),
                "productid@odata.bind": bind("products", &products[n], "productid"),
                "uomid@odata.bind": bind("uoms", &uom, "uomid"),
                "amount": 9.5 + n as f64, "pricingmethodcode": 1})
        };
        let typed = |id: Uuid, n: usize| {
            let mut t = price(n);
            t["@odata.type"] = json!("Microsoft.Dynamics.CRM.productpricelevel");
            t["productpricelevelid"] = json!(id);
            t
        };

        // The same price three ways: POST, UpsertMultiple (two new keys), CreateMultiple.
        let single = api.create("productpricelevels", price(0)).await;
        let single = single["productpricelevelid"].as_str().unwrap().to_owned();
        let upserted = [id("ppl-1"), id("ppl-2")];
        let r = api
            .post(
                "productpricelevels/Microsoft.Dynamics.CRM.UpsertMultiple",
                json!({"Targets": [typed(upserted[0], 1), typed(upserted[1], 2)]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["Results"][0]["RecordCreated"], true, "{}", r.text);
        let created = id("ppl-3");
        let r = api
            .post(
                "productpricelevels/Microsoft.Dynamics.CRM.CreateMultiple",
                json!({"Targets": [typed(created, 3)]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);

        let ways = [
            (single, 0),
            (upserted[0].to_string(), 1),
            (upserted[1].to_string(), 2),
            (created.to_string(), 3),
        ];
        for (key, n) in ways {
            let row = api
                .get(&format!("productpricelevels({key})?$select=productidname,_productid_value"))
                .await
                .json();
            assert_eq!(row["productidname"], products[n]["name"], "{key}: {row}");
            assert_eq!(row["_productid_value"], products[n]["productid"], "{key}: {row}");
        }
    });
}

async fn widgets(api: &Api) -> Vec<Value> {
    let mut out = vec![];
    for n in 0..4 {
        out.push(
            api.create(
                "products",
                json!({"name": format!("Widget {n}"), "productnumber": format!("W-{n}")}),
            )
            .await,
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_multiple_keeps_its_keys_order_binds_and_duplicate_key_answer() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let f = fixture(&api).await;
        let chosen = id("chosen");
        let targets = json!({"Targets": [
            {"@odata.type": ACCOUNT, "name": "Server key", "ownerid@odata.bind": format!("/systemusers({})", f.user)},
            {"@odata.type": ACCOUNT, "accountid": chosen, "name": "Client key", "parentaccountid@odata.bind": format!("/accounts({})", f.old[0])},
        ]});
        let r = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", targets).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let ids = r.json()["Ids"].as_array().unwrap().clone();
        assert_eq!(ids.len(), 2, "{}", r.text);
        assert_eq!(ids[1], chosen.to_string(), "the client's key is kept, in order");
        let first = api
            .get(&format!("accounts({})?$select=name,_ownerid_value", ids[0].as_str().unwrap()))
            .await
            .json();
        assert_eq!(first["name"], "Server key");
        assert_eq!(first["_ownerid_value"], f.user.to_string());
        let second = api
            .get(&format!("accounts({chosen})?$select=name,_parentaccountid_value"))
            .await
            .json();
        assert_eq!(second["_parentaccountid_value"], f.old[0].to_string());

        // A key that exists is the duplicate-key answer of a single create (412 0x80040237),
        // and a bind to a missing row a 400 naming the property; neither writes anything.
        let before = accounts(&api).await;
        let r = api
            .post(
                "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                json!({"Targets": [
                    {"@odata.type": ACCOUNT, "name": "Fresh"},
                    {"@odata.type": ACCOUNT, "accountid": f.old[1], "name": "Clash"}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.text);
        assert_eq!(r.code(), "0x80040237", "{}", r.text);
        assert_eq!(accounts(&api).await, before);
        let r = api
            .post(
                "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                json!({"Targets": [
                    {"@odata.type": ACCOUNT, "name": "Fresh"},
                    {"@odata.type": ACCOUNT, "name": "Orphan", "parentaccountid@odata.bind": format!("/accounts({})", id("ghost-account"))}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        insta::assert_json_snapshot!(
            "create_multiple_a_bind_to_a_missing_parent_account",
            r.json()
        );
        assert_eq!(accounts(&api).await, before);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn update_multiple_with_a_missing_target_is_a_404_and_updates_none_of_the_others() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let f = fixture(&api).await;
        let before = accounts(&api).await;
        let r = api
            .post(
                "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
                json!({"Targets": [
                    upsert(f.old[0], json!({"telephone1": "111"})),
                    upsert(id("ghost-account"), json!({"telephone1": "999"})),
                ]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        insta::assert_json_snapshot!("update_multiple_a_missing_target", r.json());
        assert_eq!(accounts(&api).await, before);
    });
}
