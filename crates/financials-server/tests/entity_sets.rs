//! Every writable entity set through the real server, on SQLite and PostgreSQL: create, read,
//! update, delete, `$filter`, `$orderby`, `$top`, `$select`, paging and ETags.

mod common;

use common::{Api, enc, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One entity set: three bodies whose `field` values sort as given, and a patch.
struct Spec {
    set: &'static str,
    field: &'static str,
    bodies: [Value; 3],
    patch: Value,
}

async fn fixtures(api: &Api) {
    api.create("unitsOfMeasure", json!({"code": "PCS", "displayName": "Piece"})).await;
    api.create("unitsOfMeasure", json!({"code": "BOX", "displayName": "Box"})).await;
    api.create("currencies", json!({"code": "EUR", "displayName": "Euro", "symbol": "€", "isoCode": "EUR", "exchangeRate": 0.92})).await;
    api.create("salespeople", json!({"code": "PS", "displayName": "Peter Saddow"})).await;
    api.create("customerPriceGroups", json!({"code": "RETAIL", "displayName": "Retail"})).await;
    api.create("items", json!({"number": "FIX-1", "displayName": "Fixture item", "baseUnitOfMeasureCode": "PCS", "unitPrice": 10})).await;
    api.create("customers", json!({"number": "FIXC", "displayName": "Fixture customer"})).await;
}

fn specs() -> Vec<Spec> {
    vec![
        Spec {
            set: "customers",
            field: "displayName",
            bodies: [
                json!({"displayName": "Adatum", "email": "a@adatum.example", "salespersonCode": "PS", "city": "Berlin"}),
                json!({"displayName": "Bravo", "currencyCode": "EUR", "customerPriceGroup": "RETAIL", "creditLimit": 1000.5}),
                json!({"displayName": "Contoso", "type": "Person", "blocked": "Ship"}),
            ],
            patch: json!({"phoneNumber": "+49 30 1234"}),
        },
        Spec {
            set: "contacts",
            field: "displayName",
            bodies: [
                json!({"displayName": "A Contact Co", "type": "Company"}),
                json!({"displayName": "B Person", "type": "Person", "jobTitle": "Buyer"}),
                json!({"displayName": "C Person", "type": "Person"}),
            ],
            patch: json!({"email": "c@example.com"}),
        },
        Spec {
            set: "currencies",
            field: "code",
            bodies: [
                json!({"code": "CAD", "displayName": "Canadian dollar"}),
                json!({"code": "DKK", "displayName": "Danish krone", "exchangeRate": 6.87}),
                json!({"code": "GBP", "displayName": "Pound", "symbol": "£"}),
            ],
            patch: json!({"displayName": "Pound sterling"}),
        },
        Spec {
            set: "unitsOfMeasure",
            field: "code",
            bodies: [
                json!({"code": "HOUR", "displayName": "Hour"}),
                json!({"code": "KG", "displayName": "Kilogram", "internationalStandardCode": "KGM"}),
                json!({"code": "M", "displayName": "Meter"}),
            ],
            patch: json!({"symbol": "m"}),
        },
        Spec {
            set: "items",
            field: "displayName",
            bodies: [
                json!({"displayName": "Amsterdam Lamp", "baseUnitOfMeasureCode": "PCS", "unitPrice": 35.6}),
                json!({"displayName": "Berlin Chair", "type": "Service", "unitPrice": 100}),
                json!({"displayName": "Chicago Desk", "baseUnitOfMeasureCode": "BOX", "unitCost": 12.125}),
            ],
            patch: json!({"unitPrice": 99.95}),
        },
        Spec {
            set: "resources",
            field: "displayName",
            bodies: [
                json!({"displayName": "Alice", "baseUnitOfMeasureCode": "KG", "unitPrice": 80}),
                json!({"displayName": "Bob", "type": "Person"}),
                json!({"displayName": "Crane", "type": "Machine"}),
            ],
            patch: json!({"unitCost": 40}),
        },
        Spec {
            set: "salespeople",
            field: "code",
            bodies: [
                json!({"code": "AH", "displayName": "Annette Hill"}),
                json!({"code": "BD", "displayName": "Bart Duncan", "email": "bd@example.com"}),
                json!({"code": "JO", "displayName": "Jim Olive"}),
            ],
            patch: json!({"phoneNumber": "555-0100"}),
        },
        Spec {
            set: "customerPriceGroups",
            field: "code",
            bodies: [
                json!({"code": "A-GRP", "displayName": "A"}),
                json!({"code": "B-GRP", "displayName": "B"}),
                json!({"code": "C-GRP", "displayName": "C"}),
            ],
            patch: json!({"displayName": "C group"}),
        },
        Spec {
            set: "salesPrices",
            field: "minimumQuantity",
            bodies: [
                json!({"itemNumber": "FIX-1", "minimumQuantity": 1, "unitPrice": 9}),
                json!({"itemNumber": "FIX-1", "customerPriceGroupCode": "RETAIL", "minimumQuantity": 5, "unitPrice": 8}),
                json!({"itemNumber": "FIX-1", "minimumQuantity": 10, "unitPrice": 7, "startingDate": "2026-01-01", "endingDate": "2026-12-31"}),
            ],
            patch: json!({"unitPrice": 6.5}),
        },
        Spec {
            set: "paymentTerms",
            field: "code",
            bodies: [
                json!({"code": "14 DAYS", "displayName": "Net 14 days", "dueDateCalculation": "14D"}),
                json!({"code": "30 DAYS", "displayName": "Net 30 days"}),
                json!({"code": "CM", "displayName": "Current month"}),
            ],
            patch: json!({"discountPercent": 2}),
        },
        Spec {
            set: "itemUnitsOfMeasure",
            field: "code",
            bodies: [
                json!({"itemNumber": "FIX-1", "code": "BOX", "qtyPerUnitOfMeasure": 12}),
                json!({"itemNumber": "FIX-1", "code": "KG", "qtyPerUnitOfMeasure": 2}),
                json!({"itemNumber": "FIX-1", "code": "M", "qtyPerUnitOfMeasure": 0.5}),
            ],
            patch: json!({"qtyPerUnitOfMeasure": 24}),
        },
        Spec {
            set: "currencyExchangeRates",
            field: "startingDate",
            bodies: [
                json!({"currencyCode": "EUR", "startingDate": "2026-01-01", "exchangeRateAmount": 1, "relationalExchangeRateAmount": 1.1}),
                json!({"currencyCode": "EUR", "startingDate": "2026-02-01", "exchangeRateAmount": 1, "relationalExchangeRateAmount": 1.12}),
                json!({"currencyCode": "EUR", "startingDate": "2026-03-01", "exchangeRateAmount": 1, "relationalExchangeRateAmount": 1.08}),
            ],
            patch: json!({"relationalExchangeRateAmount": 1.09}),
        },
        Spec {
            set: "salesOrders",
            field: "externalDocumentNumber",
            bodies: [
                json!({"customerNumber": "FIXC", "externalDocumentNumber": "PO-A"}),
                json!({"customerNumber": "FIXC", "externalDocumentNumber": "PO-B"}),
                json!({"customerNumber": "FIXC", "externalDocumentNumber": "PO-C"}),
            ],
            patch: json!({"requestedDeliveryDate": "2026-12-24"}),
        },
        Spec {
            set: "users",
            field: "userName",
            bodies: [
                json!({"userName": "ALICE", "permissionSets": "D365 READ"}),
                json!({"userName": "BOB", "permissionSets": "D365 BUS FULL ACCESS"}),
                json!({"userName": "CAROL", "permissionSets": "SUPER"}),
            ],
            patch: json!({"fullName": "Carol C."}),
        },
    ]
}

fn literal(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() == 10 && s.as_bytes()[4] == b'-' => s.clone(),
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

async fn exercise(api: &Api, spec: &Spec) {
    let set = spec.set;
    let mut created = Vec::new();
    for b in &spec.bodies {
        let body = api.create(set, b.clone()).await;
        assert!(
            body["@odata.etag"].as_str().is_some_and(|e| e.starts_with("W/")),
            "{set}: etag in {body}"
        );
        assert!(body["lastModifiedDateTime"].as_str().is_some(), "{set}: lastModifiedDateTime");
        assert!(body["systemModifiedBy"].as_str().is_some(), "{set}: systemModifiedBy");
        for (k, v) in b.as_object().unwrap() {
            if let (Some(x), Some(y)) = (v.as_f64(), body[k].as_f64()) {
                assert!((x - y).abs() < 1e-9, "{set}.{k}: {v} vs {}", body[k]);
            } else if k != "password" {
                assert_eq!(&body[k], v, "{set}.{k}");
            }
        }
        created.push(body);
    }
    let value_of = |i: usize| created[i][spec.field].clone();

    // read by key
    let id0 = created[0]["id"].as_str().unwrap().to_owned();
    let one = api.get(&format!("{set}({id0})")).await;
    assert_eq!(one.status, StatusCode::OK, "{set}: {}", one.text);
    assert_eq!(one.body["id"], created[0]["id"]);
    assert!(one.body["@odata.context"].as_str().unwrap().ends_with(&format!("/{set}/$entity")));
    assert_eq!(one.headers.get("etag").unwrap().to_str().unwrap(), one.etag());

    // $filter
    let ids: Vec<String> = created.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    let id_filter = ids.iter().map(|i| format!("id eq {i}")).collect::<Vec<_>>().join(" or ");
    let r = api
        .get(&format!(
            "{set}?$filter={}",
            enc(&format!("{} eq {}", spec.field, literal(&value_of(1))))
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{set} $filter: {}", r.text);
    let mine: Vec<Value> = r
        .values()
        .into_iter()
        .filter(|v| ids.contains(&v["id"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(mine.len(), 1, "{set} $filter: {}", r.text);
    assert_eq!(mine[0]["id"], created[1]["id"]);

    // $orderby desc + $top + $select
    let r = api
        .get(&format!(
            "{set}?$filter={}&$orderby={}%20desc&$top=2&$select={},id",
            enc(&id_filter),
            spec.field,
            spec.field
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{set} $orderby: {}", r.text);
    let v = r.values();
    assert_eq!(v.len(), 2, "{set}: $top=2");
    assert_eq!(v[0]["id"], created[2]["id"], "{set}: desc order");
    assert_eq!(v[1]["id"], created[1]["id"], "{set}: desc order");
    let keys: Vec<&String> = v[0].as_object().unwrap().keys().collect();
    assert!(keys.len() <= 3, "{set}: $select gives only etag, id and {}: {keys:?}", spec.field);

    // paging
    let r = api
        .send(
            reqwest::Method::GET,
            &format!("{set}?$filter={}&$orderby={}", enc(&id_filter), spec.field),
            None,
            &[("Prefer", "odata.maxpagesize=2")],
        )
        .await;
    assert_eq!(r.values().len(), 2, "{set}: first page");
    let next = r.body["@odata.nextLink"]
        .as_str()
        .unwrap_or_else(|| panic!("{set}: nextLink in {}", r.text))
        .to_owned();
    let r2 =
        api.send(reqwest::Method::GET, &next, None, &[("Prefer", "odata.maxpagesize=2")]).await;
    assert_eq!(r2.status, StatusCode::OK, "{set}: next page {}", r2.text);
    assert_eq!(r2.values().len(), 1, "{set}: last page");
    assert_eq!(r2.values()[0]["id"], created[2]["id"]);
    assert!(r2.body.get("@odata.nextLink").is_none());

    // $count
    let r = api.get(&format!("{set}?$filter={}&$count=true&$top=1", enc(&id_filter))).await;
    assert_eq!(r.body["@odata.count"], json!(3), "{set}: $count");

    // ETags: stale → 412, current → 200 with a new one
    let etag = one.etag();
    let ok = api.patch(&format!("{set}({id0})"), &etag, spec.patch.clone()).await;
    assert_eq!(ok.status, StatusCode::OK, "{set} PATCH: {}", ok.text);
    assert_ne!(ok.etag(), etag);
    for (k, v) in spec.patch.as_object().unwrap() {
        assert_eq!(
            ok.body[k].as_f64().map_or(ok.body[k].clone(), |f| json!(f)),
            v.as_f64().map_or(v.clone(), |f| json!(f)),
            "{set}.{k} patched"
        );
    }
    let stale = api.patch(&format!("{set}({id0})"), &etag, spec.patch.clone()).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{set} stale PATCH: {}", stale.text);
    let stale = api.delete(&format!("{set}({id0})"), &etag).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{set} stale DELETE");

    // delete
    let del = api.delete(&format!("{set}({id0})"), &ok.etag()).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{set} DELETE: {}", del.text);
    let gone = api.get(&format!("{set}({id0})")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{set}: deleted");
    assert!(gone.error_code().starts_with("BadRequest_NotFound"));
}

#[tokio::test]
async fn every_entity_set_supports_crud_queries_paging_and_etags() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let api = start(&url).await;
        fixtures(&api).await;
        for spec in specs() {
            println!("{backend}: {}", spec.set);
            exercise(&api, &spec).await;
        }
    })
    .await;
}

#[tokio::test]
async fn sales_orders_expand_their_lines_with_computed_amounts() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        fixtures(&api).await;
        api.create("itemUnitsOfMeasure", json!({"itemNumber": "FIX-1", "code": "BOX", "qtyPerUnitOfMeasure": 6})).await;
        let order = api.create("salesOrders", json!({"customerNumber": "FIXC"})).await;
        let oid = order["id"].as_str().unwrap();
        assert!(order["number"].as_str().unwrap().starts_with("S-ORD"), "number from the series");
        assert_eq!(order["customerName"], "Fixture customer");
        assert_eq!(order["status"], "Open");
        let l1 = api.create(&format!("salesOrders({oid})/salesOrderLines"), json!({"lineObjectNumber": "FIX-1", "quantity": 3})).await;
        assert_eq!(l1["lineType"], "Item");
        assert_eq!(l1["unitPrice"], json!(10));
        assert_eq!(l1["amountExcludingTax"], json!(30));
        assert_eq!(l1["sequence"], json!(10000));
        let l2 = api
            .create(
                &format!("salesOrders({oid})/salesOrderLines"),
                json!({"lineObjectNumber": "FIX-1", "unitOfMeasureCode": "BOX", "quantity": 2, "discountPercent": 10}),
            )
            .await;
        assert_eq!(l2["unitPrice"], json!(60), "a box of 6 at 10");
        assert_eq!(l2["amountExcludingTax"], json!(108));
        let r = api.get(&format!("salesOrders({oid})?$expand=salesOrderLines($orderby=sequence desc)")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["totalAmountExcludingTax"], json!(138));
        let lines = r.body["salesOrderLines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["sequence"], json!(20000));
        let r = api.get(&format!("salesOrders?$filter=id eq {oid}&$expand=salesOrderLines($select=quantity)")).await;
        assert_eq!(r.values()[0]["salesOrderLines"].as_array().unwrap().len(), 2, "{}", r.text);
        let r = api.get(&format!("salesOrders({oid})/salesOrderLines")).await;
        assert_eq!(r.values().len(), 2);
        // deep insert
        let deep = api
            .create("salesOrders", json!({"customerNumber": "FIXC", "salesOrderLines": [{"lineObjectNumber": "FIX-1", "quantity": 1}, {"lineType": "Comment", "description": "thanks"}]}))
            .await;
        assert_eq!(deep["totalAmountIncludingTax"], json!(10));
        let r = api.get(&format!("salesOrders({})/salesOrderLines", deep["id"].as_str().unwrap())).await;
        assert_eq!(r.values().len(), 2);
        // deleting a line updates the totals; deleting the order deletes its lines
        let lid = l1["id"].as_str().unwrap();
        let line = api.get(&format!("salesOrders({oid})/salesOrderLines({lid})")).await;
        assert_eq!(api.delete(&format!("salesOrderLines({lid})"), &line.etag()).await.status, StatusCode::NO_CONTENT);
        let r = api.get(&format!("salesOrders({oid})")).await;
        assert_eq!(r.body["totalAmountExcludingTax"], json!(108));
        assert_eq!(api.delete(&format!("salesOrders({oid})"), "*").await.status, StatusCode::NO_CONTENT);
        let r = api.get(&format!("salesOrderLines?$filter=documentId eq {oid}")).await;
        assert_eq!(r.values().len(), 0);
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_duplicates_409_unknown_ids_404() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        fixtures(&api).await;
        let r = api.post("customers", json!({"displayName": "X", "salespersonCode": "NOPE"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["error"]["target"], "salespersonCode", "{}", r.text);
        assert!(r.error_message().contains("NOPE"));
        let r = api.post("customers", json!({"displayName": "X", "creditLimit": "lots"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error_message().contains("creditLimit"), "{}", r.text);
        let r = api.post("customers", json!({"displayName": "X", "balanceDue": 5})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.error_code(), "BadRequest_InvalidOperation");
        assert!(r.error_message().contains("balanceDue"));
        let r = api.post("customers", json!({"displayName": "X", "colour": "red"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error_message().contains("colour"));
        let r = api.post("customers", json!({"displayName": "X".repeat(101)})).await;
        assert_eq!(r.error_code(), "Application_StringExceededLength");
        let r = api.post("customers", json!({"displayName": "X", "blocked": "Sometimes"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error_message().contains("blocked"), "{}", r.text);
        let r =
            api.post("items", json!({"displayName": "X", "baseUnitOfMeasureCode": "NOPE"})).await;
        assert_eq!(r.body["error"]["target"], "baseUnitOfMeasureCode");
        let r = api.post("salesOrders", json!({})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error_message().contains("customerNumber"), "{}", r.text);
        let r = api.post("customers", json!("not an object")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.get("customers?$filter=displayName eq").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        let r = api.get("customers?$filter=nosuch%20eq%201").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error_message().contains("nosuch"));

        let r = api.post("customers", json!({"number": "FIXC", "displayName": "again"})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.error_code(), "Internal_EntityWithSameKeyExists");

        let unknown = uuid::Uuid::new_v4();
        assert_eq!(api.get(&format!("customers({unknown})")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            api.delete(&format!("customers({unknown})"), "*").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(api.get("customers(not-a-guid)").await.status, StatusCode::NOT_FOUND);
        assert_eq!(api.get("nosuchset").await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            api.get(&format!("/api/v2.0/companies({unknown})/customers")).await.status,
            StatusCode::NOT_FOUND
        );
        let r = api.post("itemLedgerEntries", json!({})).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    })
    .await;
}

#[tokio::test]
async fn clients_choose_ids_on_create_and_patch_upserts_by_key() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        let id = uuid::Uuid::new_v4();
        let r = api.post("customers", json!({"id": id, "displayName": "Chosen"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.id(), id.to_string());
        assert!(
            r.headers
                .get("location")
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with(&format!("customers({id})"))
        );
        let again = api.post("customers", json!({"id": id, "displayName": "Chosen"})).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        let other = uuid::Uuid::new_v4();
        let up = api
            .send(
                reqwest::Method::PATCH,
                &format!("customers({other})"),
                Some(json!({"displayName": "Upserted"})),
                &[],
            )
            .await;
        assert_eq!(up.status, StatusCode::CREATED, "{}", up.text);
        assert_eq!(up.id(), other.to_string());
        let up2 = api
            .send(
                reqwest::Method::PATCH,
                &format!("customers({other})"),
                Some(json!({"displayName": "Updated"})),
                &[],
            )
            .await;
        assert_eq!(up2.status, StatusCode::OK);
        assert_eq!(up2.body["displayName"], "Updated");
        assert_eq!(up2.body["number"], up.body["number"], "the number stays");
    })
    .await;
}

#[tokio::test]
async fn the_company_has_an_experience_and_a_base_currency() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        let r = api.get("/api/v2.0/companies").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let company = r.values()[0].clone();
        assert_eq!(company["name"], "KONTOR");
        assert_eq!(company["experience"], "Suite");
        assert_eq!(company["baseCurrencyCode"], "USD");
        let id = company["id"].as_str().unwrap();
        assert_eq!(id, api.server.company_id.to_string());
        let url = format!("/api/v2.0/companies({id})");
        let r = api
            .patch(
                &url,
                company["@odata.etag"].as_str().unwrap(),
                json!({"experience": "Essential"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["experience"], "Essential");
        let r = api.patch(&url, "*", json!({"experience": "Premium"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["error"]["target"], "experience");
        assert_eq!(
            api.post("/api/v2.0/companies", json!({})).await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
    })
    .await;
}

#[tokio::test]
async fn person_contacts_follow_their_company() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        let company =
            api.create("contacts", json!({"type": "Company", "displayName": "Fabrikam"})).await;
        let no = company["number"].as_str().unwrap();
        let person = api
            .create(
                "contacts",
                json!({"type": "Person", "displayName": "Ann", "companyNumber": no}),
            )
            .await;
        assert_eq!(person["companyName"], "Fabrikam");
        let r = api
            .post(
                "contacts",
                json!({"type": "Person", "displayName": "Bo", "companyNumber": person["number"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "a person is not a company");
        let r = api
            .patch(
                &format!("contacts({})", company["id"].as_str().unwrap()),
                company["@odata.etag"].as_str().unwrap(),
                json!({"displayName": "Fabrikam Ltd"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let p = api.get(&format!("contacts({})", person["id"].as_str().unwrap())).await;
        assert_eq!(p.body["companyName"], "Fabrikam Ltd");
        let r = api
            .post(
                "contacts",
                json!({"type": "Person", "displayName": "Cy", "companyNumber": "NOPE"}),
            )
            .await;
        assert_eq!(r.body["error"]["target"], "companyNumber");
    })
    .await;
}

#[tokio::test]
async fn items_and_resources_keep_a_unit_group_and_a_row_for_their_base_unit() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        fixtures(&api).await;
        api.create("unitsOfMeasure", json!({"code": "HOUR", "displayName": "Hour"})).await;
        let item = api.get("items?$filter=number eq 'FIX-1'").await.values()[0].clone();
        let item_id = item["id"].as_str().unwrap().to_owned();
        let groups = api.get(&format!("unitGroups?$filter=sourceId eq {item_id}")).await.values();
        assert_eq!(groups.len(), 1, "creating an item creates its unit group");
        assert_eq!(groups[0]["code"], "ITEMFIX-1");
        assert_eq!(groups[0]["sourceType"], "Item");
        assert_eq!(groups[0]["sourceName"], "Fixture item");
        assert_eq!(groups[0]["baseUnitOfMeasureCode"], "PCS");
        let units = api.get(&format!("itemUnitsOfMeasure?$filter=itemId eq {item_id}")).await.values();
        assert_eq!(units.len(), 1, "the base unit has a row");
        assert_eq!((units[0]["code"].clone(), units[0]["qtyPerUnitOfMeasure"].clone()), (json!("PCS"), json!(1)));
        assert_eq!(item["baseItemUnitOfMeasureId"], units[0]["id"]);

        // The base unit's row cannot go; the unit group follows the item's name and base unit.
        let r = api.delete(&format!("itemUnitsOfMeasure({})", units[0]["id"].as_str().unwrap()), "*").await;
        assert!(!r.status.is_success(), "{}", r.text);
        assert!(r.error_message().contains("base unit of measure of item FIX-1"), "{}", r.text);
        let box_id = api.get("unitsOfMeasure?$filter=code eq 'BOX'").await.values()[0]["id"].clone();
        let r = api.patch(&format!("items({item_id})"), "*", json!({"displayName": "Renamed", "baseUnitOfMeasureId": box_id})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let box_row = api.get(&format!("itemUnitsOfMeasure?$filter=itemId eq {item_id} and code eq 'BOX'")).await.values();
        assert_eq!(r.body["baseItemUnitOfMeasureId"], box_row[0]["id"], "a new base unit gets its row");
        let group = &api.get(&format!("unitGroups?$filter=sourceId eq {item_id}")).await.values()[0];
        assert_eq!((group["sourceName"].clone(), group["baseUnitOfMeasureCode"].clone()), (json!("Renamed"), json!("BOX")));
        // The base unit given as a unit row of the item (as the integration writes it).
        let pcs_row = units[0]["id"].clone();
        let r = api.patch(&format!("items({item_id})"), "*", json!({"baseItemUnitOfMeasureId": pcs_row})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["baseUnitOfMeasureCode"], "PCS");
        let other = api.create("items", json!({"number": "FIX-2", "baseUnitOfMeasureCode": "BOX"})).await;
        let r = api.patch(&format!("items({item_id})"), "*", json!({"baseItemUnitOfMeasureId": other["baseItemUnitOfMeasureId"]})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "another item's unit: {}", r.text);
        let r = api.post("unitGroups", json!({"code": "X", "sourceType": "Item", "sourceId": item_id})).await;
        assert!(!r.status.is_success(), "unit groups are the domain's: {}", r.text);

        // Resources alike, with their own units of measure.
        let res = api.create("resources", json!({"number": "R1", "displayName": "Consultant", "baseUnitOfMeasureCode": "HOUR"})).await;
        let res_id = res["id"].as_str().unwrap().to_owned();
        let day = api.create("resourceUnitsOfMeasure", json!({"resourceNumber": "R1", "code": "BOX", "qtyPerUnitOfMeasure": 8})).await;
        assert_eq!(day["resourceId"], json!(res_id));
        let units = api.get(&format!("resourceUnitsOfMeasure?$filter=resourceId eq {res_id}&$orderby=code")).await.values();
        assert_eq!(units.iter().map(|u| u["code"].as_str().unwrap()).collect::<Vec<_>>(), ["BOX", "HOUR"]);
        let res = api.get(&format!("resources({res_id})")).await.body;
        assert_eq!(res["baseResourceUnitOfMeasureId"], units[1]["id"]);
        let group = &api.get(&format!("unitGroups?$filter=sourceId eq {res_id}")).await.values()[0];
        assert_eq!(group["code"], "RESOURCER1");

        // Deleting the resource removes its units and its unit group.
        let r = api.delete(&format!("resources({res_id})"), "*").await;
        assert!(r.status.is_success(), "{}", r.text);
        assert!(api.get(&format!("unitGroups?$filter=sourceId eq {res_id}")).await.values().is_empty());
        assert!(api.get(&format!("resourceUnitsOfMeasure?$filter=resourceId eq {res_id}")).await.values().is_empty());
    })
    .await;
}
