//! The store's conformance suite: every test runs on SQLite and on a real PostgreSQL (via
//! kontor-testkit) and prints which backend it runs on. Both must give the same answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use kontor_odata::model::{EdmType, EntityType, Model, Navigation, NavigationKind, Property};
use kontor_odata::query::QueryOptions;
use kontor_store::sea_query::ExprTrait;
use kontor_store::sqlx::migrate::Migrator;
use kontor_store::{Caller, Change, Db, Map, Migrations, Repo, StoreError, row_version};
use kontor_testkit::for_each_backend;
use serde_json::{Value as Json, json};
use uuid::Uuid;

static SQLITE: Migrator = kontor_store::sqlx::migrate!("tests/migrations/conformance/sqlite");
static POSTGRES: Migrator = kontor_store::sqlx::migrate!("tests/migrations/conformance/postgres");
const MIGRATIONS: Migrations = Migrations { sqlite: &SQLITE, postgres: &POSTGRES };

/// 2026-01-01T00:00:00Z in microseconds.
const JAN_1_2026: i64 = 1_767_225_600_000_000;

fn model() -> Model {
    let account = EntityType {
        name: "account".into(),
        set_name: "accounts".into(),
        table: "t_account".into(),
        key: "accountid".into(),
        properties: vec![
            Property::new("accountid", "accountid", EdmType::Guid),
            Property::new("name", "name", EdmType::String).required().max_length(160),
            Property::new("accountnumber", "accountnumber", EdmType::String).max_length(20),
            Property::new("revenue", "revenue", EdmType::MONEY),
            Property::new("creditlimit", "creditlimit", EdmType::MONEY),
            Property::new("exchangerate", "exchangerate", EdmType::RATE),
            Property::new("statecode", "statecode", EdmType::Int32).read_only(),
            Property::new("numberofemployees", "numberofemployees", EdmType::Int32),
            Property::new("latitude", "latitude", EdmType::Double),
            Property::new("donotemail", "donotemail", EdmType::Boolean),
            Property::new("opendate", "opendate", EdmType::Date),
            Property::new("_primarycontactid_value", "primarycontactid", EdmType::Guid),
            Property::new("createdon", "createdon", EdmType::DateTimeOffset).read_only(),
            Property::new("modifiedon", "modifiedon", EdmType::DateTimeOffset).read_only(),
        ],
        navigations: vec![
            Navigation {
                name: "primarycontactid".into(),
                target_set: "contacts".into(),
                kind: NavigationKind::ToOne { local_property: "_primarycontactid_value".into() },
            },
            Navigation {
                name: "contact_customer_accounts".into(),
                target_set: "contacts".into(),
                kind: NavigationKind::ToMany { remote_property: "_parentcustomerid_value".into() },
            },
        ],
        alternate_keys: vec![vec!["accountnumber".into()]],
        created_property: Some("createdon".into()),
        modified_property: Some("modifiedon".into()),
    };
    let contact = EntityType {
        name: "contact".into(),
        set_name: "contacts".into(),
        table: "t_contact".into(),
        key: "contactid".into(),
        properties: vec![
            Property::new("contactid", "contactid", EdmType::Guid),
            Property::new("fullname", "fullname", EdmType::String),
            Property::new("jobtitle", "jobtitle", EdmType::String),
            Property::new("_parentcustomerid_value", "parentcustomerid", EdmType::Guid),
            Property::new("birthdate", "birthdate", EdmType::Date),
            Property::new("createdon", "createdon", EdmType::DateTimeOffset).read_only(),
            Property::new("modifiedon", "modifiedon", EdmType::DateTimeOffset).read_only(),
        ],
        navigations: vec![Navigation {
            name: "parentcustomerid_account".into(),
            target_set: "accounts".into(),
            kind: NavigationKind::ToOne { local_property: "_parentcustomerid_value".into() },
        }],
        alternate_keys: vec![],
        created_property: Some("createdon".into()),
        modified_property: Some("modifiedon".into()),
    };
    Model {
        namespace: "Microsoft.Dynamics.CRM".into(),
        container: "System".into(),
        entity_types: vec![account, contact],
    }
}

/// A database migrated with the test tables, and a repository whose clock starts at
/// 2026-01-01 and advances one second per write.
async fn setup(url: &str) -> (Db, Repo, Model) {
    let db = Db::connect(url).await.unwrap();
    db.migrate(&MIGRATIONS).await.unwrap();
    let clock = Arc::new(AtomicI64::new(JAN_1_2026 - 10_000_000));
    let repo = Repo::new(model()).with_clock(move || clock.fetch_add(1_000_000, Ordering::SeqCst));
    (db, repo, model())
}

fn obj(v: Json) -> Map {
    match v {
        Json::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn opts(model: &Model, set: &str, query: &str) -> QueryOptions {
    QueryOptions::parse(query, model.entity_set(set).unwrap(), model).unwrap()
}

fn names(rows: &[Map]) -> Vec<String> {
    rows.iter().map(|r| r["name"].as_str().unwrap_or_default().to_owned()).collect()
}

fn id(i: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i)
}

#[tokio::test]
async fn crud_round_trips_every_type_on_both_backends() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        let accounts = model.entity_set("accounts").unwrap();
        let mut tx = db.begin().await.unwrap();
        let key = id(1);
        let body = obj(json!({
            "accountid": key.to_string().to_uppercase(),
            "name": "Fourth Coffee",
            "accountnumber": "A-1",
            "revenue": 1000.5,
            "creditlimit": -0.00001,
            "exchangerate": 1.0123456789,
            "numberofemployees": 42,
            "latitude": 47.25,
            "donotemail": true,
            "opendate": "2026-03-31",
            "@odata.type": "#Microsoft.Dynamics.CRM.account"
        }));
        let stored = repo.insert(&mut tx, accounts, &body).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(stored["accountid"], json!(key.to_string()));
        assert_eq!(stored["revenue"], json!(1000.5));
        assert_eq!(stored["creditlimit"], json!(-0.00001));
        assert_eq!(stored["exchangerate"], json!(1.0123456789));
        assert_eq!(stored["numberofemployees"], json!(42));
        assert_eq!(stored["latitude"], json!(47.25));
        assert_eq!(stored["donotemail"], json!(true));
        assert_eq!(stored["opendate"], json!("2026-03-31"));
        assert_eq!(stored["statecode"], json!(0));
        assert_eq!(stored["_primarycontactid_value"], Json::Null);
        assert_eq!(stored["createdon"], json!("2025-12-31T23:59:50Z"));
        assert_eq!(stored["createdon"], stored["modifiedon"]);
        assert_eq!(stored["@odata.etag"], json!("W/\"1\""));
        assert_eq!(stored.keys().next().map(String::as_str), Some("@odata.etag"));

        let mut tx = db.begin().await.unwrap();
        let got = repo.get(&mut tx, accounts, key).await.unwrap().unwrap();
        assert_eq!(got, stored);
        let by_alt = repo
            .get_by_alternate_key(&mut tx, accounts, &[("accountnumber", json!("A-1"))])
            .await
            .unwrap();
        assert_eq!(by_alt.as_ref(), Some(&stored));
        assert_eq!(repo.get(&mut tx, accounts, id(99)).await.unwrap(), None);

        // Update with the right version, then with a stale one.
        let patch = obj(json!({"name": "Fourth Coffee (sample)", "revenue": null}));
        let updated = repo.update(&mut tx, accounts, key, &patch, Some(1)).await.unwrap();
        assert_eq!(updated["name"], json!("Fourth Coffee (sample)"));
        assert_eq!(updated["revenue"], Json::Null);
        assert_eq!(updated["accountnumber"], json!("A-1"));
        assert_eq!(row_version(&updated), Some(2));
        assert_eq!(updated["createdon"], stored["createdon"]);
        assert_eq!(updated["modifiedon"], json!("2025-12-31T23:59:51Z"));
        let stale = repo.update(&mut tx, accounts, key, &patch, Some(1)).await.unwrap_err();
        assert!(matches!(stale, StoreError::VersionMismatch { current: 2 }), "{stale:?}");
        let missing = repo.update(&mut tx, accounts, id(99), &patch, None).await.unwrap_err();
        assert!(matches!(missing, StoreError::NotFound), "{missing:?}");

        // Delete: stale version refused, then deleted.
        let stale = repo.delete(&mut tx, accounts, key, Some(1)).await.unwrap_err();
        assert!(matches!(stale, StoreError::VersionMismatch { current: 2 }), "{stale:?}");
        repo.delete(&mut tx, accounts, key, Some(2)).await.unwrap();
        assert_eq!(repo.get(&mut tx, accounts, key).await.unwrap(), None);
        let again = repo.delete(&mut tx, accounts, key, None).await.unwrap_err();
        assert!(matches!(again, StoreError::NotFound), "{again:?}");
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn invalid_bodies_are_rejected_naming_the_property() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        let accounts = model.entity_set("accounts").unwrap();
        let mut tx = db.begin().await.unwrap();
        let cases = [
            (
                json!({"name": "A", "nosuch": 1}),
                "nosuch",
                "Could not find a property named 'nosuch'",
            ),
            (json!({"name": 5}), "name", "Edm.String"),
            (json!({"name": "A", "revenue": "lots"}), "revenue", "Edm.Decimal"),
            (json!({"name": "A", "numberofemployees": 1.5}), "numberofemployees", "Edm.Int32"),
            (json!({"name": "A", "opendate": "31.03.2026"}), "opendate", "Edm.Date"),
            (json!({"name": "A", "statecode": 1}), "statecode", "read-only"),
            (json!({"name": "A", "createdon": "2026-01-01T00:00:00Z"}), "createdon", "read-only"),
            (json!({"name": "x".repeat(161)}), "name", "maximum is 160"),
            (json!({"accountnumber": "A-2"}), "name", "required"),
            (json!({"name": null}), "name", "cannot be null"),
            (json!({"accountid": "not-a-guid", "name": "A"}), "accountid", "Edm.Guid"),
        ];
        for (body, property, text) in cases {
            let err = repo.insert(&mut tx, accounts, &obj(body.clone())).await.unwrap_err();
            let StoreError::Invalid(e) = err else {
                panic!("{body}: expected Invalid, got {err:?}")
            };
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(e.target.as_deref(), Some(property), "{body}: {e:?}");
            assert!(e.message.contains(text), "{body}: {}", e.message);
        }
        // Patches: read-only, key change, null in a required property.
        let a = repo.insert(&mut tx, accounts, &obj(json!({"name": "A"}))).await.unwrap();
        let key = Uuid::parse_str(a["accountid"].as_str().unwrap()).unwrap();
        for (patch, property) in [
            (json!({"modifiedon": "2026-01-01T00:00:00Z"}), "modifiedon"),
            (json!({"accountid": id(5).to_string()}), "accountid"),
            (json!({"name": null}), "name"),
        ] {
            let err =
                repo.update(&mut tx, accounts, key, &obj(patch.clone()), None).await.unwrap_err();
            let StoreError::Invalid(e) = err else {
                panic!("{patch}: expected Invalid, got {err:?}")
            };
            assert_eq!(e.target.as_deref(), Some(property), "{patch}: {e:?}");
        }
        // The system may set read-only properties.
        let sys = repo
            .update_as(&mut tx, accounts, key, &obj(json!({"statecode": 1})), None, Caller::System)
            .await
            .unwrap();
        assert_eq!(sys["statecode"], json!(1));
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn duplicates_and_broken_references_are_reported_on_both_backends() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        let accounts = model.entity_set("accounts").unwrap();
        let contacts = model.entity_set("contacts").unwrap();
        let mut tx = db.begin().await.unwrap();
        repo.insert(
            &mut tx,
            accounts,
            &obj(json!({"accountid": id(1).to_string(), "name": "A", "accountnumber": "N-1"})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let mut tx = db.begin().await.unwrap();
        let err = repo
            .insert(&mut tx, accounts, &obj(json!({"accountid": id(1).to_string(), "name": "B"})))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
        drop(tx);

        let mut tx = db.begin().await.unwrap();
        let err = repo
            .insert(&mut tx, accounts, &obj(json!({"name": "C", "accountnumber": "N-1"})))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
        drop(tx);

        let mut tx = db.begin().await.unwrap();
        let err = repo
            .insert(
                &mut tx,
                contacts,
                &obj(json!({"fullname": "X", "_parentcustomerid_value": id(77).to_string()})),
            )
            .await
            .unwrap_err();
        let StoreError::Invalid(e) = err else { panic!("expected Invalid, got {err:?}") };
        assert_eq!(e.status, 409);
        drop(tx);

        // Nothing of the failed transactions is left.
        let mut tx = db.begin().await.unwrap();
        let page = repo.list(&mut tx, accounts, &QueryOptions::default(), None, 100).await.unwrap();
        assert_eq!(names(&page.rows), vec!["A"]);
    })
    .await;
}

/// Accounts and contacts for the filter and expand tests.
async fn seed(db: &Db, repo: &Repo, model: &Model) {
    let accounts = model.entity_set("accounts").unwrap();
    let contacts = model.entity_set("contacts").unwrap();
    let mut tx = db.begin().await.unwrap();
    let rows = [
        (1, "Fourth Coffee", json!(150000), json!(5000), 0, Some(11)),
        (2, "Fourth Coffee", json!(90000), json!(1000.5), 1, None),
        (3, "Contoso (sample)", json!(100000.01), json!(1000.49), 0, Some(12)),
        (4, "A's Bikes", json!(-5.5), json!(1000.51), 2, None),
        (5, "Adventure Works", Json::Null, Json::Null, 1, None),
        (6, "Blue Yonder", json!(0.00001), json!(0), 0, Some(13)),
    ];
    for (n, name, revenue, creditlimit, _, _) in &rows {
        let body = obj(json!({
            "accountid": id(*n).to_string(),
            "name": name,
            "accountnumber": format!("N-{n}"),
            "revenue": revenue,
            "creditlimit": creditlimit,
            "opendate": format!("2026-0{n}-1{n}"),
        }));
        repo.insert(&mut tx, accounts, &body).await.unwrap();
    }
    let people = [
        (11, "Rene Valdes", "Manager", 1),
        (12, "Paul Cannon", "Developer", 3),
        (13, "Sidney Higa", "Manager", 6),
        (14, "Nancy Anderson", "Developer", 6),
        (15, "Maria Campbell", "Buyer", 1),
    ];
    for (n, fullname, job, parent) in people {
        let body = obj(json!({
            "contactid": id(n).to_string(),
            "fullname": fullname,
            "jobtitle": job,
            "_parentcustomerid_value": id(parent).to_string(),
        }));
        repo.insert(&mut tx, contacts, &body).await.unwrap();
    }
    // Primary contacts and state codes, set as the system.
    for (n, _, _, _, state, primary) in rows {
        let mut patch = obj(json!({"statecode": state}));
        if n == 3 {
            patch.insert("donotemail".into(), json!(true));
        }
        if let Some(p) = primary {
            patch.insert("_primarycontactid_value".into(), json!(id(p).to_string()));
        }
        repo.update_as(&mut tx, accounts, id(n), &patch, None, Caller::System).await.unwrap();
    }
    // Account 6 is modified again later (its modifiedon is the latest).
    repo.update(&mut tx, accounts, id(6), &obj(json!({"latitude": 1.5})), None).await.unwrap();
    tx.commit().await.unwrap();
}

fn keys_of(rows: &[Map], key: &str) -> Vec<u128> {
    let mut out: Vec<u128> = rows
        .iter()
        .map(|r| Uuid::parse_str(r[key].as_str().unwrap()).unwrap().as_u128() - id(0).as_u128())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn filters_with_every_literal_type_and_function_give_the_same_rows_on_both_backends() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        seed(&db, &repo, &model).await;
        let accounts = model.entity_set("accounts").unwrap();
        let contacts = model.entity_set("contacts").unwrap();
        let p1 = id(1);
        // modifiedon: inserts at 23:59:50 … , updates follow; account 6 last.
        let cases: Vec<(&str, String, Vec<u128>)> = vec![
            ("accounts", "name eq 'Fourth Coffee' and revenue gt 100000".into(), vec![1]),
            ("accounts", "contains(name,'(sample)') or startswith(name,'A''s')".into(), vec![3, 4]),
            ("accounts", "modifiedon ge 2026-01-01T00:00:00Z".into(), vec![1, 2, 3, 4, 5, 6]),
            ("accounts", "modifiedon ge 2026-01-01T00:00:06Z".into(), vec![6]),
            ("accounts", "statecode in (0,1)".into(), vec![1, 2, 3, 5, 6]),
            ("accounts", "not (creditlimit le 1000.50)".into(), vec![1, 4]),
            ("accounts", "primarycontactid/fullname eq 'Rene Valdes'".into(), vec![1]),
            ("contacts", format!("_parentcustomerid_value eq {p1}"), vec![11, 15]),
            (
                "accounts",
                "contact_customer_accounts/any(c: c/jobtitle eq 'Manager')".into(),
                vec![1, 6],
            ),
            (
                "accounts",
                "contact_customer_accounts/all(c: c/jobtitle eq 'Manager')".into(),
                vec![2, 4, 5],
            ),
            ("accounts", "revenue eq null".into(), vec![5]),
            ("accounts", "revenue ne null and revenue lt 0".into(), vec![4]),
            ("accounts", "revenue eq 0.00001".into(), vec![6]),
            ("accounts", "revenue ge 100000.01".into(), vec![1, 3]),
            ("accounts", "creditlimit eq 1000.5".into(), vec![2]),
            ("accounts", "accountnumber eq 'N-3' or accountnumber eq 'n-4'".into(), vec![3]),
            ("accounts", "endswith(name,'Coffee')".into(), vec![1, 2]),
            ("accounts", "tolower(name) eq 'blue yonder'".into(), vec![6]),
            ("accounts", "toupper(name) eq 'BLUE YONDER'".into(), vec![6]),
            ("accounts", "length(name) eq 11".into(), vec![6]),
            ("accounts", "indexof(name,'Yonder') eq 5".into(), vec![6]),
            ("accounts", "substring(name,0,4) eq 'Blue'".into(), vec![6]),
            ("accounts", "concat(name,'!') eq 'Blue Yonder!'".into(), vec![6]),
            ("accounts", "trim(name) eq 'Blue Yonder'".into(), vec![6]),
            ("accounts", "opendate ge 2026-04-01".into(), vec![4, 5, 6]),
            (
                "accounts",
                "year(opendate) eq 2026 and month(opendate) eq 3 and day(opendate) eq 13".into(),
                vec![3],
            ),
            ("accounts", "year(createdon) eq 2025".into(), vec![1, 2, 3, 4, 5, 6]),
            ("accounts", format!("accountid eq {}", id(4)), vec![4]),
            ("accounts", format!("_primarycontactid_value eq {}", id(13)), vec![6]),
            ("accounts", "_primarycontactid_value eq null".into(), vec![2, 4, 5]),
            ("accounts", "latitude gt 1.25".into(), vec![6]),
            ("accounts", "donotemail eq null and latitude eq 1.5".into(), vec![6]),
            ("accounts", "statecode add 1 eq 3".into(), vec![4]),
            ("accounts", "revenue sub creditlimit gt 100000".into(), vec![1]),
            ("contacts", "parentcustomerid_account/name eq 'Blue Yonder'".into(), vec![13, 14]),
            ("contacts", "contains(fullname,'an')".into(), vec![12, 14]),
            (
                "contacts",
                "contains(tolower(fullname),'nancy') and endswith(jobtitle,'per')".into(),
                vec![14],
            ),
            ("accounts", "substring(name,5) eq 'Yonder'".into(), vec![6]),
            ("accounts", "donotemail eq true".into(), vec![3]),
            ("accounts", "donotemail ne true".into(), vec![]),
            ("accounts", "latitude lt 1.6e0".into(), vec![6]),
            ("accounts", "revenue lt -5".into(), vec![4]),
            ("accounts", "statecode mul 2 eq 4".into(), vec![4]),
            ("accounts", "statecode mod 2 eq 1".into(), vec![2, 5]),
            ("accounts", "revenue div 2 gt 50000".into(), vec![1, 3]),
            ("accounts", "-statecode eq -2".into(), vec![4]),
            (
                "accounts",
                "exchangerate eq null and not (name eq 'Blue Yonder')".into(),
                vec![1, 2, 3, 4, 5],
            ),
        ];
        let mut tx = db.begin_read().await.unwrap();
        for (set, filter, expected) in cases {
            let entity = if set == "accounts" { accounts } else { contacts };
            let query = format!("$filter={}", kontor_odata::query::percent_encode(&filter));
            let o = QueryOptions::parse(&query, entity, &model)
                .unwrap_or_else(|e| panic!("{filter}: {e:?}"));
            let page = repo
                .list(&mut tx, entity, &o, None, 100)
                .await
                .unwrap_or_else(|e| panic!("{filter}: {e:?}"));
            assert_eq!(keys_of(&page.rows, &entity.key), expected, "{filter}");
        }
    })
    .await;
}

#[tokio::test]
async fn ordering_of_money_timestamps_and_guids_is_exact_on_both_backends() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        seed(&db, &repo, &model).await;
        let accounts = model.entity_set("accounts").unwrap();
        let mut tx = db.begin_read().await.unwrap();
        let list = |q: &str| opts(&model, "accounts", q);

        let page =
            repo.list(&mut tx, accounts, &list("$orderby=revenue desc"), None, 100).await.unwrap();
        let revenue: Vec<Json> = page.rows.iter().map(|r| r["revenue"].clone()).collect();
        assert_eq!(
            revenue,
            vec![
                json!(150000),
                json!(100000.01),
                json!(90000),
                json!(0.00001),
                json!(-5.5),
                Json::Null
            ]
        );
        let page = repo
            .list(&mut tx, accounts, &list("$orderby=creditlimit,name"), None, 100)
            .await
            .unwrap();
        assert_eq!(keys_of(&page.rows[..1], "accountid"), vec![5]); // nulls first ascending
        let credit: Vec<Json> = page.rows.iter().map(|r| r["creditlimit"].clone()).collect();
        assert_eq!(
            credit,
            vec![Json::Null, json!(0), json!(1000.49), json!(1000.5), json!(1000.51), json!(5000)]
        );

        let page = repo
            .list(&mut tx, accounts, &list("$orderby=modifiedon desc"), None, 100)
            .await
            .unwrap();
        assert_eq!(page.rows[0]["accountid"], json!(id(6).to_string()));
        let stamps: Vec<&str> =
            page.rows.iter().map(|r| r["modifiedon"].as_str().unwrap()).collect();
        let mut sorted = stamps.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(stamps, sorted);

        // GUIDs: text order of lowercase hyphenated GUIDs is their numeric order.
        let mut tx2 = db.begin().await.unwrap();
        let mut expected = Vec::new();
        for i in 0..20u128 {
            let g = Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834));
            expected.push(g);
            repo.insert(
                &mut tx2,
                accounts,
                &obj(json!({"accountid": g.to_string(), "name": format!("g{i}")})),
            )
            .await
            .unwrap();
        }
        tx2.commit().await.unwrap();
        drop(tx);
        let mut tx = db.begin_read().await.unwrap();
        let page = repo
            .list(
                &mut tx,
                accounts,
                &list("$filter=startswith(name,'g')&$orderby=accountid"),
                None,
                100,
            )
            .await
            .unwrap();
        expected.sort();
        let got: Vec<Uuid> = page
            .rows
            .iter()
            .map(|r| Uuid::parse_str(r["accountid"].as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(got, expected);
    })
    .await;
}

#[tokio::test]
async fn paging_with_keyset_offset_top_skip_and_count_on_both_backends() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        let accounts = model.entity_set("accounts").unwrap();
        let mut tx = db.begin().await.unwrap();
        let rows: Vec<Map> = (0..25u128)
            .map(|i| obj(json!({"accountid": id(100 - i).to_string(), "name": format!("n{:02}", (i * 7) % 25), "numberofemployees": i})))
            .collect();
        repo.insert_many(&mut tx, accounts, &rows, Caller::Client).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = db.begin_read().await.unwrap();
        // Keyset paging by key: 10 + 10 + 5.
        let mut seen = Vec::new();
        let mut o = opts(&model, "accounts", "$count=true");
        let mut pages = 0;
        loop {
            let page = repo.list(&mut tx, accounts, &o, None, 10).await.unwrap();
            pages += 1;
            assert_eq!(page.count, Some(25));
            seen.extend(page.rows.iter().map(|r| r["accountid"].as_str().unwrap().to_owned()));
            match page.next_skiptoken {
                Some(t) => o.skiptoken = Some(t),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), 25);

        // Offset paging with $orderby, $top and $skip: 12 rows after skipping 3, in pages of 5.
        let mut o = opts(&model, "accounts", "$orderby=name desc&$top=12&$skip=3&$select=name");
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let page = repo.list(&mut tx, accounts, &o, None, 5).await.unwrap();
            sizes.push(page.rows.len());
            got.extend(names(&page.rows));
            for r in &page.rows {
                assert_eq!(r.len(), 3, "etag, name and the key: {r:?}");
            }
            match page.next_skiptoken {
                Some(t) => o.skiptoken = Some(t),
                None => break,
            }
        }
        assert_eq!(sizes, vec![5, 5, 2]);
        let expected: Vec<String> = (0..25).rev().skip(3).take(12).map(|i| format!("n{i:02}")).collect();
        assert_eq!(got, expected);

        // Keyset with $top smaller than the page, and with $skip.
        let page = repo.list(&mut tx, accounts, &opts(&model, "accounts", "$top=4&$skip=2"), None, 10).await.unwrap();
        assert_eq!(page.rows.len(), 4);
        assert_eq!(page.next_skiptoken, None);
        assert_eq!(page.rows[0]["accountid"], json!(sorted[2]));

        // Filter + count + scope.
        let scope = Some(kontor_odata::sql::column(accounts, "numberofemployees").lt(10));
        let o = opts(&model, "accounts", "$filter=numberofemployees ge 5&$count=true");
        let page = repo.list(&mut tx, accounts, &o, scope, 100).await.unwrap();
        assert_eq!(page.count, Some(5));
        assert_eq!(page.rows.len(), 5);

        // A forged token is a clear error.
        let o = QueryOptions { skiptoken: Some("garbage".into()), ..QueryOptions::default() };
        let err = repo.list(&mut tx, accounts, &o, None, 10).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(e) if e.target.as_deref() == Some("$skiptoken")), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn expand_loads_to_one_and_to_many_navigations_on_both_backends() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        seed(&db, &repo, &model).await;
        let accounts = model.entity_set("accounts").unwrap();
        let contacts = model.entity_set("contacts").unwrap();
        let mut tx = db.begin_read().await.unwrap();
        let o = opts(
            &model,
            "accounts",
            "$select=name&$expand=primarycontactid($select=fullname),contact_customer_accounts($select=fullname;$filter=jobtitle ne 'Buyer';$orderby=fullname desc)&$orderby=name",
        );
        let page = repo.list(&mut tx, accounts, &o, None, 100).await.unwrap();
        let blue = page.rows.iter().find(|r| r["name"] == json!("Blue Yonder")).unwrap();
        assert_eq!(blue["primarycontactid"]["fullname"], json!("Sidney Higa"));
        assert_eq!(blue["primarycontactid"]["contactid"], json!(id(13).to_string()));
        let team: Vec<&Json> = blue["contact_customer_accounts"].as_array().unwrap().iter().map(|c| &c["fullname"]).collect();
        assert_eq!(team, vec![&json!("Sidney Higa"), &json!("Nancy Anderson")]);
        assert!(blue.get("_primarycontactid_value").is_none(), "not selected: {blue:?}");
        let fourth = page.rows.iter().find(|r| r["accountid"] == json!(id(1).to_string())).unwrap();
        assert_eq!(fourth["contact_customer_accounts"].as_array().unwrap().len(), 1); // the buyer is filtered out
        let works = page.rows.iter().find(|r| r["name"] == json!("Adventure Works")).unwrap();
        assert_eq!(works["primarycontactid"], Json::Null);
        assert_eq!(works["contact_customer_accounts"], json!([]));

        // To-one from the other side, with $top inside a to-many.
        let o = opts(&model, "contacts", "$expand=parentcustomerid_account($select=name)");
        let page = repo.list(&mut tx, contacts, &o, None, 100).await.unwrap();
        for c in &page.rows {
            assert!(c["parentcustomerid_account"]["name"].is_string(), "{c:?}");
        }
        let o = opts(&model, "accounts", "$expand=contact_customer_accounts($top=1;$orderby=fullname)");
        let one = repo.get_with(&mut tx, accounts, id(6), &o, None).await.unwrap().unwrap();
        let team = one["contact_customer_accounts"].as_array().unwrap();
        assert_eq!(team.len(), 1);
        assert_eq!(team[0]["fullname"], json!("Nancy Anderson"));
    })
    .await;
}

#[tokio::test]
async fn the_change_feed_lists_writes_and_deletions_in_version_order_on_both_backends() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        let accounts = model.entity_set("accounts").unwrap();
        let contacts = model.entity_set("contacts").unwrap();
        let mut tx = db.begin().await.unwrap();
        for i in 1..=3 {
            repo.insert(
                &mut tx,
                accounts,
                &obj(json!({"accountid": id(i).to_string(), "name": format!("a{i}")})),
            )
            .await
            .unwrap();
        }
        repo.insert(&mut tx, contacts, &obj(json!({"fullname": "other table"}))).await.unwrap(); // v4
        tx.commit().await.unwrap();
        let watermark = db.current_version().await.unwrap();
        assert_eq!(watermark, 4);

        let mut tx = db.begin().await.unwrap();
        repo.update(&mut tx, accounts, id(1), &obj(json!({"name": "a1 again"})), None)
            .await
            .unwrap(); // v5
        repo.delete(&mut tx, accounts, id(2), None).await.unwrap(); // v6
        repo.insert(&mut tx, accounts, &obj(json!({"accountid": id(4).to_string(), "name": "a4"})))
            .await
            .unwrap(); // v7
        tx.commit().await.unwrap();

        let mut tx = db.begin_read().await.unwrap();
        let all = repo.changes(&mut tx, accounts, 0, 100).await.unwrap();
        let versions: Vec<i64> = all.iter().map(Change::version).collect();
        assert_eq!(versions, vec![3, 5, 6, 7]);
        assert!(matches!(&all[2], Change::Deleted { id: d, version: 6 } if *d == id(2)));
        let since = repo.changes(&mut tx, accounts, watermark, 100).await.unwrap();
        assert_eq!(since.len(), 3);
        let Change::Upsert(first) = &since[0] else { panic!("{since:?}") };
        assert_eq!(first["name"], json!("a1 again"));
        let limited = repo.changes(&mut tx, accounts, 0, 2).await.unwrap();
        assert_eq!(limited.iter().map(Change::version).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(repo.current_version(&mut tx).await.unwrap(), 7);
        drop(tx);

        // Re-inserting a deleted key removes its tombstone.
        let mut tx = db.begin().await.unwrap();
        repo.insert(
            &mut tx,
            accounts,
            &obj(json!({"accountid": id(2).to_string(), "name": "a2 back"})),
        )
        .await
        .unwrap();
        let after = repo.changes(&mut tx, accounts, 0, 100).await.unwrap();
        assert!(after.iter().all(|c| matches!(c, Change::Upsert(_))), "{after:?}");
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_commit_in_version_order_so_the_feed_misses_nothing() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        let mut tasks = Vec::new();
        for t in 0..4u128 {
            let (db, repo, model) = (db.clone(), repo.clone(), model.clone());
            tasks.push(tokio::spawn(async move {
                let accounts = model.entity_set("accounts").unwrap();
                for i in 0..15u128 {
                    let mut tx = db.begin().await.unwrap();
                    repo.insert(
                        &mut tx,
                        accounts,
                        &obj(json!({"accountid": id(1000 + t * 100 + i).to_string(), "name": "c"})),
                    )
                    .await
                    .unwrap();
                    tx.commit().await.unwrap();
                }
            }));
        }
        // A reader following the feed while the writers run.
        let accounts = model.entity_set("accounts").unwrap();
        let mut seen = Vec::new();
        let mut after = 0;
        while seen.len() < 60 {
            let mut tx = db.begin_read().await.unwrap();
            for c in repo.changes(&mut tx, accounts, after, 7).await.unwrap() {
                after = c.version();
                seen.push(after);
            }
            drop(tx);
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(seen, (1..=60).collect::<Vec<i64>>());
    })
    .await;
}

#[tokio::test]
async fn bulk_insert_and_upsert_write_many_rows_with_one_version_range() {
    for_each_backend(|url, _| async move {
        let (db, repo, model) = setup(&url).await;
        let accounts = model.entity_set("accounts").unwrap();
        let rows: Vec<Map> = (0..2500u128)
            .map(|i| obj(json!({"accountid": id(i).to_string(), "name": format!("bulk {i}"), "revenue": i as f64 / 4.0})))
            .collect();
        let mut tx = db.begin().await.unwrap();
        let keys = repo.insert_many(&mut tx, accounts, &rows, Caller::Client).await.unwrap();
        assert_eq!(keys.len(), 2500);
        assert_eq!(keys[7], id(7));
        tx.commit().await.unwrap();
        assert_eq!(db.current_version().await.unwrap(), 2500);

        // Upsert: 10 existing rows change, 5 new rows, one key twice (the last wins).
        let mut upserts: Vec<Map> = (0..10u128)
            .map(|i| obj(json!({"accountid": id(i).to_string(), "name": format!("changed {i}")})))
            .collect();
        upserts.extend((5000..5005u128).map(|i| obj(json!({"accountid": id(i).to_string(), "name": format!("new {i}")}))));
        upserts.push(obj(json!({"accountid": id(3).to_string(), "name": "changed twice"})));
        let mut tx = db.begin().await.unwrap();
        repo.upsert_many(&mut tx, accounts, &upserts, Caller::Client).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(db.current_version().await.unwrap(), 2515);

        let mut tx = db.begin_read().await.unwrap();
        let one = repo.get(&mut tx, accounts, id(1)).await.unwrap().unwrap();
        assert_eq!(one["name"], json!("changed 1"));
        assert_eq!(one["revenue"], json!(0.25), "members not given are kept");
        assert_ne!(one["createdon"], one["modifiedon"], "created stamp kept");
        let three = repo.get(&mut tx, accounts, id(3)).await.unwrap().unwrap();
        assert_eq!(three["name"], json!("changed twice"));
        let o = opts(&model, "accounts", "$count=true&$top=0");
        assert_eq!(repo.list(&mut tx, accounts, &o, None, 10).await.unwrap().count, Some(2505));

        // An invalid row fails the whole batch, naming the row.
        let mut bad = rows[..3].to_vec();
        bad[2] = obj(json!({"name": 7}));
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        let err = repo.insert_many(&mut tx, accounts, &bad, Caller::Client).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(e) if e.message.starts_with("Row 2:")), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match_after_migrations() {
    let mut schemas = Vec::new();
    for backend in kontor_testkit::backends().await {
        println!("running on {}", backend.name);
        let db = Db::connect(&backend.url).await.unwrap();
        db.migrate(&MIGRATIONS).await.unwrap();
        schemas.push(db.describe_schema().await.unwrap());
    }
    assert_eq!(schemas.len(), 2);
    assert!(schemas[0].iter().any(|c| c.table == "store_tombstone"));
    assert!(
        schemas[0]
            .iter()
            .any(|c| c.table == "t_account" && c.column == "revenue" && c.data_type == "bigint")
    );
    assert_eq!(schemas[0], schemas[1]);
}
