//! The Dataverse connector against a real Sales server: a page of upserts goes as
//! `UpsertMultiple` (one request per `bulk_upsert_size` records), and when Sales refuses it as
//! a whole the same records go again as a `$batch` of PATCHes, so that the one invalid record
//! fails alone with Sales' message and the others are written. Requests are counted by a layer
//! around the server's router (no hook in the product). On both backends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kontor_connectors::{ClientOptions, Grant, ODataConnector, Secret, TokenSource};
use kontor_sync::connector::{Bind, Connector, TableRef, WriteBatch, WriteOp, WriteOutcome};
use serde_json::{Value, json};
use uuid::Uuid;

const UPSERT_MULTIPLE: &str = "POST accounts/Microsoft.Dynamics.CRM.UpsertMultiple";
const BATCH: &str = "POST $batch";

fn id(name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("kontor.e2e.bulk.{name}").as_bytes())
}

/// A Sales server whose Web API requests are recorded (`POST accounts/…`), and the admin's
/// Dataverse connector to it.
struct Sales {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
    /// With the Dataverse defaults (`UpsertMultiple` of 500).
    conn: ODataConnector,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Sales {
    async fn start(db_url: &str) -> Sales {
        let db = kontor_store::Db::connect(db_url).await.unwrap();
        let password = kontor_sales_server::testing::TEST_ADMIN_PASSWORD;
        kontor_sales_server::prepare(&db, Some(password.to_owned())).await.unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let app = kontor_sales_server::router(kontor_sales_server::AppState::new(
            db,
            kontor_sales_server::Config::default(),
        ))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                async move {
                    if let Some(path) =
                        req.uri().path().strip_prefix(kontor_sales_server::API_PREFIX)
                    {
                        let path = path.trim_start_matches('/');
                        log.lock().unwrap().push(format!("{} {path}", req.method()));
                    }
                    next.run(req).await
                }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Sales { conn: admin(&base), base, requests, _stop: stop }
    }

    /// The Web API requests since the last call, in the order they arrived.
    fn requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }

    /// The admin's connector writing `bulk_upsert_size` upserts per `UpsertMultiple`.
    fn connector(&self, bulk_upsert_size: usize) -> ODataConnector {
        let options = ClientOptions { bulk_upsert_size, ..self.conn.options.clone() };
        admin(&self.base).with_options(options)
    }
}

fn admin(base: &str) -> ODataConnector {
    let password = kontor_sales_server::testing::TEST_ADMIN_PASSWORD;
    let tokens = TokenSource::new(
        format!("{base}/oauth2/v2.0/token"),
        format!("{base}/.default"),
        Grant::Password { username: "admin".into(), password: Secret(password.into()) },
    );
    ODataConnector::dataverse(base, tokens)
}

fn upsert(id: Uuid, fields: Value) -> WriteOp {
    WriteOp::Upsert { id, fields: fields.as_object().cloned().unwrap() }
}

fn accounts(ops: Vec<WriteOp>) -> WriteBatch {
    WriteBatch {
        table: TableRef::new("accounts", "accountid"),
        binds: vec![
            Bind {
                field: "_ownerid_value".into(),
                navigation: "ownerid".into(),
                target_set: "systemusers".into(),
            },
            Bind {
                field: "_transactioncurrencyid_value".into(),
                navigation: "transactioncurrencyid".into(),
                target_set: "transactioncurrencies".into(),
            },
        ],
        ops,
    }
}

/// What the fixture writes first: an owner, a currency and two accounts that exist.
struct Fixture {
    owner: Uuid,
    currency: Uuid,
    old: [Uuid; 2],
}

async fn fixture(sales: &Sales) -> Fixture {
    let f =
        Fixture { owner: id("owner"), currency: id("currency"), old: [id("old-0"), id("old-1")] };
    let c = &sales.conn;
    let write = |set: &str, key: &str, id: Uuid, fields: Value| {
        let batch = WriteBatch {
            table: TableRef::new(set, key),
            binds: vec![],
            ops: vec![upsert(id, fields)],
        };
        async move {
            let out = c.write(&batch).await.unwrap();
            assert_eq!(out, [WriteOutcome::Done], "fixture {}", batch.table.set);
        }
    };
    write(
        "systemusers",
        "systemuserid",
        f.owner,
        json!({"domainname": "owner@kontor.test", "firstname": "Olga", "lastname": "Owner"}),
    )
    .await;
    write("transactioncurrencies", "transactioncurrencyid", f.currency, json!({"isocurrencycode": "NOK", "currencyname": "Krone", "currencysymbol": "kr", "exchangerate": 11.5, "currencyprecision": 2})).await;
    for (n, old) in f.old.iter().enumerate() {
        write(
            "accounts",
            "accountid",
            *old,
            json!({"name": format!("Old {n}"), "telephone1": "000"}),
        )
        .await;
    }
    sales.requests();
    f
}

/// A record of the page: its key and the fields the connector writes (lookups by id).
fn record(f: &Fixture, key: Uuid, name: &str) -> (Uuid, Value) {
    (
        key,
        json!({"name": name, "telephone1": format!("tel {name}"), "_ownerid_value": f.owner, "_transactioncurrencyid_value": f.currency}),
    )
}

/// The accounts with these keys as Sales has them now.
async fn stored(sales: &Sales, keys: &[Uuid]) -> HashMap<Uuid, serde_json::Map<String, Value>> {
    let rows = sales.conn.get(&TableRef::new("accounts", "accountid"), keys).await.unwrap();
    sales.requests(); // the reads are not the writes under test
    rows.into_iter().map(|r| (r.id, r.fields)).collect()
}

fn assert_written(
    rows: &HashMap<Uuid, serde_json::Map<String, Value>>,
    expected: &[(Uuid, Value)],
    case: &str,
) {
    for (key, fields) in expected {
        let row = rows.get(key).unwrap_or_else(|| panic!("{case}: {key} is not in Sales"));
        for (k, v) in fields.as_object().unwrap() {
            let want = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
            assert_eq!(
                row.get(k).and_then(Value::as_str),
                Some(want.as_str()),
                "{case}: {key}.{k}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_of_valid_upserts_goes_as_one_upsert_multiple_request_per_chunk() {
    // (case, records in the page, bulk_upsert_size, a delete in the page, requests expected)
    let cases: &[(&str, usize, usize, bool, &[&str])] = &[
        ("a page smaller than a chunk", 5, 500, false, &[UPSERT_MULTIPLE]),
        ("chunks of two", 5, 2, false, &[UPSERT_MULTIPLE, UPSERT_MULTIPLE, UPSERT_MULTIPLE]),
        ("bulk writes off", 5, 0, false, &[BATCH]),
        ("a delete in the page", 5, 500, true, &[BATCH]),
    ];
    for db in kontor_testkit::backends().await {
        println!("running on {}", db.name);
        let sales = Sales::start(&db.url).await;
        let f = fixture(&sales).await;
        for (case, size, bulk, delete, expected) in cases {
            // The two accounts that exist, then new ones.
            let page: Vec<(Uuid, Value)> = (0..*size)
                .map(|n| {
                    let key = if n < 2 { f.old[n] } else { id(&format!("{case}-{n}")) };
                    record(&f, key, &format!("{case} {n}"))
                })
                .collect();
            let mut ops: Vec<WriteOp> = page.iter().map(|(k, v)| upsert(*k, v.clone())).collect();
            if *delete {
                ops.push(WriteOp::Delete { id: id("never-there") });
            }
            let out = sales.connector(*bulk).write(&accounts(ops.clone())).await.unwrap();
            assert_eq!(out, vec![WriteOutcome::Done; ops.len()], "{case}");
            assert_eq!(sales.requests(), *expected, "{case}: the requests Sales answered");
            let keys: Vec<Uuid> = page.iter().map(|(k, _)| *k).collect();
            assert_written(&stored(&sales, &keys).await, &page, case);
        }
        println!("passed on {}", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_invalid_record_fails_alone_with_the_servers_message_and_the_others_are_written() {
    // (case, position of the bad record, its fields, what Sales' message for it says)
    type Bad = fn(&Fixture) -> Value;
    let cases: &[(&str, usize, Bad, &str)] = &[
        (
            "a bind to a user that does not exist",
            2,
            |f| json!({"name": "Orphan", "_ownerid_value": id("ghost-user"), "_transactioncurrencyid_value": f.currency}),
            "referenced by '_ownerid_value'",
        ),
        (
            "a bind to a currency that does not exist",
            0,
            |_| json!({"name": "Foreign", "_transactioncurrencyid_value": id("ghost-currency")}),
            "referenced by '_transactioncurrencyid_value'",
        ),
        (
            "a value of the wrong type",
            3,
            |_| json!({"name": "Rich", "creditlimit": "lots"}),
            "Cannot convert the literal 'lots' to the expected type 'Edm.Decimal'",
        ),
        (
            "a name longer than its column",
            1,
            |_| json!({"name": "x".repeat(161)}),
            "maximum allowed length of '160'",
        ),
    ];
    for db in kontor_testkit::backends().await {
        println!("running on {}", db.name);
        let sales = Sales::start(&db.url).await;
        let f = fixture(&sales).await;
        let c = sales.connector(500);
        for (case, bad_at, bad, says) in cases {
            let bad_key = id(&format!("{case}-bad"));
            // The two accounts that exist, two new ones, and the bad new one at `bad_at`.
            let mut page: Vec<(Uuid, Value)> = vec![
                record(&f, f.old[0], &format!("{case} old 0")),
                record(&f, id(&format!("{case}-new-0")), &format!("{case} new 0")),
                record(&f, f.old[1], &format!("{case} old 1")),
                record(&f, id(&format!("{case}-new-1")), &format!("{case} new 1")),
            ];
            page.insert(*bad_at, (bad_key, bad(&f)));
            let ops: Vec<WriteOp> = page.iter().map(|(k, v)| upsert(*k, v.clone())).collect();
            let out = c.write(&accounts(ops)).await.unwrap();

            for (k, o) in out.iter().enumerate() {
                match o {
                    WriteOutcome::Failed { message } if k == *bad_at => {
                        assert!(message.contains(says), "{case}: {message}");
                        assert!(
                            !message.contains("Targets["),
                            "{case}: not the whole request's message: {message}"
                        );
                    }
                    WriteOutcome::Done if k != *bad_at => {}
                    other => panic!("{case}: record {k} ({}) got {other:?}", page[k].0),
                }
            }
            assert_eq!(
                sales.requests(),
                [UPSERT_MULTIPLE, BATCH],
                "{case}: UpsertMultiple refused as a whole, then one $batch of the same records"
            );
            let good: Vec<(Uuid, Value)> = page
                .iter()
                .enumerate()
                .filter(|(k, _)| k != bad_at)
                .map(|(_, r)| r.clone())
                .collect();
            let keys: Vec<Uuid> = page.iter().map(|(k, _)| *k).collect();
            let rows = stored(&sales, &keys).await;
            assert_written(&rows, &good, case);
            assert!(!rows.contains_key(&bad_key), "{case}: the invalid record was not created");
        }
        println!("passed on {}", db.name);
    }
}
