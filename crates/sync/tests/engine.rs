//! The engine against two in-memory sides, on SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kontor_jobs::ManualClock;
use kontor_store::Db;
use kontor_sync::defaults::default_mappings;
use kontor_sync::engine::{Engine, Mode};
use kontor_sync::memory::MemoryConnector;
use kontor_sync::review::dependency_order;
use kontor_sync::store::{ConnectionSettings, SyncStore};
use kontor_sync::{Pass, Side};
use serde_json::{Value, json};
use uuid::Uuid;

const FIN_INTEGRATION: &str = "00000000-0000-0000-0000-00000000f1f1";
const SALES_INTEGRATION: &str = "00000000-0000-0000-0000-00000000a1a1";

struct World {
    engine: Engine,
    fin: Arc<MemoryConnector>,
    sales: Arc<MemoryConnector>,
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

async fn world(url: &str) -> World {
    let db = Db::connect(url).await.unwrap();
    let store = SyncStore::new(db);
    store.migrate().await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    store.save_mappings(&default_mappings(), true, false, now).await.unwrap();
    let settings = ConnectionSettings {
        id: id(0xc0),
        financials_url: "memory".into(),
        company_id: id(0xcc),
        sales_url: "memory".into(),
        financials_user: "INTEGRATION".into(),
        financials_user_id: Some(FIN_INTEGRATION.into()),
        sales_user_id: Some(SALES_INTEGRATION.into()),
        sales_user_name: "integration".into(),
        enabled: true,
    };
    store.save_connection(&settings, now).await.unwrap();
    let fin = Arc::new(MemoryConnector::new(Side::Financials, FIN_INTEGRATION));
    let sales = Arc::new(MemoryConnector::new(Side::Sales, SALES_INTEGRATION));
    let mut engine = Engine::new(store, fin.clone(), sales.clone(), settings, clock);
    engine.options.page_size = 2;
    // Seed: a salesperson on both sides (matched by e-mail), a currency, three customers.
    fin.put(
        "salespeople",
        id(1),
        json!({"code": "JO", "displayName": "Jo", "email": "jo@x.com"}),
        "anna",
    );
    sales.put(
        "systemusers",
        id(901),
        json!({"fullname": "Jo Smith", "internalemailaddress": "jo@x.com", "isdisabled": false}),
        "admin",
    );
    sales.put(
        "systemusers",
        id(902),
        json!({"fullname": "Max Weber", "internalemailaddress": "max@x.com", "isdisabled": false}),
        "admin",
    );
    fin.put(
        "currencies",
        id(2),
        json!({"code": "EUR", "symbol": "€", "displayName": "Euro", "exchangeRate": 1.1}),
        "anna",
    );
    for n in 0..3u128 {
        fin.put(
            "customers",
            id(100 + n),
            json!({"number": format!("C{n:04}"), "displayName": format!("Customer {n}"), "salespersonCode": "JO",
                   "currencyCode": "EUR", "phoneNumber": "111", "email": format!("c{n}@x.com")}),
            "anna",
        );
    }
    World { engine, fin, sales }
}

async fn full_sync(w: &World, names: &[&str]) {
    let set = w.engine.store.mappings().await.unwrap();
    for m in dependency_order(&set) {
        if names.contains(&m.name.as_str()) {
            w.engine.run_mapping(&m.name, Mode::Full).await.unwrap();
        }
    }
}

fn account_of(w: &World, customer: u128) -> serde_json::Map<String, Value> {
    let t = kontor_sync::ids::target_id(id(0xc0), "CUSTOMER", id(customer));
    w.sales.row("accounts", t).unwrap_or_else(|| panic!("no account for customer {customer}"))
}

#[tokio::test]
async fn a_full_sync_creates_and_couples_everything_once_and_incremental_runs_follow_changes() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let w = world(&url).await;
        full_sync(&w, &["SALESPEOPLE", "CURRENCY", "CUSTOMER"]).await;

        // Salespeople: Jo matched by e-mail, Max created with a generated code.
        let sp = w.fin.rows("salespeople");
        assert_eq!(sp.len(), 2);
        assert!(sp.iter().any(|(_, r)| r["code"] == json!("MAXWEBER")));
        assert_eq!(w.engine.store.coupling_pairs("SALESPEOPLE").await.unwrap().len(), 2);
        // Currency created in Sales; customers → accounts with owner and currency looked up.
        let eur = kontor_sync::ids::target_id(id(0xc0), "CURRENCY", id(2));
        assert_eq!(
            w.sales.row("transactioncurrencies", eur).unwrap()["isocurrencycode"],
            json!("EUR")
        );
        let acc = account_of(&w, 100);
        assert_eq!(acc["name"], json!("Customer 0"));
        assert_eq!(acc["_ownerid_value"], json!(id(901).to_string()));
        assert_eq!(acc["_transactioncurrencyid_value"], json!(eur.to_string()));
        assert_eq!(acc["customertypecode"], json!(3));
        assert_eq!(w.sales.rows("accounts").len(), 3);
        assert_eq!(w.engine.store.coupling_count("CUSTOMER").await.unwrap(), 3);

        // A second full sync changes nothing and duplicates nothing.
        let writes = w.sales.write_count() + w.fin.write_count();
        let reports = w.engine.run_mapping("CUSTOMER", Mode::Full).await.unwrap();
        assert!(
            reports.iter().all(|r| r.counters.inserted == 0 && r.counters.modified == 0),
            "{reports:?}"
        );
        assert_eq!(w.sales.write_count() + w.fin.write_count(), writes);

        // Incremental: a Financials change reaches Sales; its echo does not come back.
        w.fin.put("customers", id(100), json!({"phoneNumber": "222"}), "anna");
        let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
        assert_eq!(reports[0].counters.modified, 1, "{reports:?}");
        assert_eq!(reports[1].counters.modified, 0, "{reports:?}");
        assert_eq!(account_of(&w, 100)["telephone1"], json!("222"));
        // ...and a Sales change reaches Financials.
        let acc_id = kontor_sync::ids::target_id(id(0xc0), "CUSTOMER", id(101));
        w.sales.put(
            "accounts",
            acc_id,
            json!({"emailaddress1": "new@x.com", "statecode": 0}),
            "someone",
        );
        w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
        assert_eq!(w.fin.row("customers", id(101)).unwrap()["email"], json!("new@x.com"));

        // Different fields changed on both sides merge.
        w.fin.put("customers", id(102), json!({"phoneNumber": "333"}), "anna");
        let acc2 = kontor_sync::ids::target_id(id(0xc0), "CUSTOMER", id(102));
        w.sales.put(
            "accounts",
            acc2,
            json!({"emailaddress1": "merged@x.com", "statecode": 0}),
            "someone",
        );
        w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
        assert_eq!(w.sales.row("accounts", acc2).unwrap()["telephone1"], json!("333"));
        assert_eq!(w.sales.row("accounts", acc2).unwrap()["emailaddress1"], json!("merged@x.com"));
        assert_eq!(w.fin.row("customers", id(102)).unwrap()["email"], json!("merged@x.com"));
        assert_eq!(w.fin.row("customers", id(102)).unwrap()["phoneNumber"], json!("333"));

        // The same field changed on both sides fails, naming it; twice → skipped; retry clears.
        w.fin.put("customers", id(100), json!({"phoneNumber": "444"}), "anna");
        w.sales.put(
            "accounts",
            kontor_sync::ids::target_id(id(0xc0), "CUSTOMER", id(100)),
            json!({"telephone1": "555", "statecode": 0}),
            "someone",
        );
        let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
        assert_eq!(reports[0].counters.failed, 1, "{reports:?}");
        let errors = w.engine.store.job_errors(reports[0].job_id).await.unwrap();
        assert!(errors[0].message.contains("phoneNumber ↔ telephone1"), "{}", errors[0].message);
        // The failed record is retried on the next run and fails the same way: now skipped.
        let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
        assert_eq!(reports[0].counters.failed, 1, "{reports:?}");
        let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
        assert_eq!(reports[0].counters.failed, 0, "{reports:?}");
        // Both passes see the conflict: the customer and its account are skipped.
        let skipped = w.engine.store.skipped_records("CUSTOMER").await.unwrap();
        assert!(
            skipped.iter().any(|(side, rec, _)| *side == Side::Financials && *rec == id(100)),
            "{skipped:?}"
        );
        assert_eq!(w.engine.store.retry(None, None).await.unwrap(), skipped.len() as u64);
    })
    .await;
}

#[tokio::test]
async fn a_crash_between_write_and_coupling_record_is_repaired_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(&kontor_testkit::sqlite_url(&dir)).await;
    full_sync(&w, &["SALESPEOPLE", "CURRENCY", "CUSTOMER"]).await;
    // Forget the couplings as if the process died after writing to Sales.
    assert_eq!(w.engine.store.uncouple_all("CUSTOMER").await.unwrap(), 3);
    let reports = w.engine.run_mapping("CUSTOMER", Mode::Full).await.unwrap();
    assert_eq!(reports[0].counters.coupled, 3, "{reports:?}");
    assert_eq!(reports[0].counters.inserted, 0);
    assert_eq!(w.sales.rows("accounts").len(), 3);
    assert_eq!(w.engine.store.coupling_count("CUSTOMER").await.unwrap(), 3);
    // An outage fails the pass (to be retried by the job queue) without recording anything wrong.
    w.fin.put("customers", id(100), json!({"phoneNumber": "999"}), "anna");
    w.sales.fail_next_writes(1);
    let err = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap_err();
    assert!(err.is_transient());
    w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    assert_eq!(account_of(&w, 100)["telephone1"], json!("999"));
}

#[tokio::test]
async fn an_uncoupled_salesperson_fails_the_customer_with_a_dependency_message() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(&kontor_testkit::sqlite_url(&dir)).await;
    full_sync(&w, &["CURRENCY"]).await;
    let set = w.engine.store.mappings().await.unwrap();
    let r = w
        .engine
        .run_pass(&set, set.get("CUSTOMER").unwrap(), Pass::ToSales, Mode::Full)
        .await
        .unwrap();
    assert_eq!(r.counters.failed, 3);
    let errors = w.engine.store.job_errors(r.job_id).await.unwrap();
    assert_eq!(
        errors[0].message,
        "Salesperson 'JO' is not coupled to a Sales user. Couple salespeople first."
    );
    assert!(errors[0].source.starts_with("customers("));
}

#[tokio::test]
async fn deleting_a_coupled_customer_follows_the_mapping_policy() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(&kontor_testkit::sqlite_url(&dir)).await;
    full_sync(&w, &["SALESPEOPLE", "CURRENCY", "CUSTOMER"]).await;
    let mut m = w.engine.store.mapping("CUSTOMER").await.unwrap();
    m.deletion_conflict = kontor_sync::mapping::DeletionPolicy::Propagate;
    w.engine.store.save_mapping(&m, Utc::now()).await.unwrap();
    // A coupling whose Sales record vanished is found and cleaned.
    let gone = kontor_sync::ids::target_id(id(0xc0), "CUSTOMER", id(101));
    w.sales.remove("accounts", gone);
    assert_eq!(w.engine.clean_deleted_couplings("CUSTOMER").await.unwrap(), 1);
    assert_eq!(w.engine.store.coupling_count("CUSTOMER").await.unwrap(), 2);
    w.fin.remove("customers", id(100));
    let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    assert_eq!(reports[0].counters.deleted, 1, "{reports:?}");
    assert_eq!(w.sales.rows("accounts").len(), 1);
    assert_eq!(w.engine.store.coupling_count("CUSTOMER").await.unwrap(), 1);
}

#[tokio::test]
async fn match_based_coupling_couples_by_the_chosen_fields_and_creates_only_when_asked() {
    use kontor_sync::matching::MatchOptions;
    let dir = tempfile::tempdir().unwrap();
    let w = world(&kontor_testkit::sqlite_url(&dir)).await;
    full_sync(&w, &["SALESPEOPLE", "CURRENCY"]).await;
    // Customer 0 exists in Sales under another casing; customers 1 and 2 do not.
    let account = |name: &str, phone: &str| json!({"name": name, "telephone1": phone, "statecode": 0, "customertypecode": 3});
    w.sales.put("accounts", id(500), account("CUSTOMER 0", "000"), "admin");
    w.sales.put("accounts", id(501), account("Someone else", "000"), "admin");
    let options = |v: Value| -> MatchOptions { serde_json::from_value(v).unwrap() };

    let reports = w
        .engine
        .match_couple(
            "CUSTOMER",
            &options(json!({"fields": [{"field": "displayName"}], "createNew": false})),
        )
        .await
        .unwrap();
    let to_sales = &reports[0];
    assert_eq!((to_sales.counters.coupled, to_sales.counters.failed), (1, 2), "{reports:?}");
    assert_eq!(to_sales.counters.modified, 1, "synchronized after coupling: {reports:?}");
    assert_eq!(w.sales.row("accounts", id(500)).unwrap()["telephone1"], json!("111"));
    assert_eq!(w.sales.rows("accounts").len(), 2, "nothing was created");
    let pairs = w.engine.store.coupling_pairs("CUSTOMER").await.unwrap();
    assert_eq!(pairs, vec![(id(100), id(500))]);
    let job = w.engine.store.job(to_sales.job_id).await.unwrap().unwrap();
    assert_eq!(job.job_type, "Coupling");
    let errors = w.engine.store.job_errors(to_sales.job_id).await.unwrap();
    assert!(errors[0].message.contains("No sales account in Sales matches"), "{errors:?}");
    // The account nobody matched stays uncoupled too (the reverse pass found no customer).
    assert_eq!(reports[1].counters.coupled, 0);
    assert_eq!(reports[1].counters.failed, 1);
    // Records that found no match are not retried as synchronization failures.
    let r = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
    assert_eq!(r[0].counters.inserted, 0, "{r:?}");

    // Again, creating what has no match and without synchronizing after coupling.
    w.sales.put("accounts", id(502), account("customer 1", "000"), "admin");
    let reports = w
        .engine
        .match_couple(
            "CUSTOMER",
            &options(json!({"fields": [{"field": "name"}], "createNew": true, "syncAfterCoupling": false})),
        )
        .await
        .unwrap();
    let c = reports[0].counters;
    assert_eq!((c.coupled, c.inserted, c.modified, c.failed), (1, 1, 0, 0), "{reports:?}");
    assert_eq!(w.sales.row("accounts", id(502)).unwrap()["telephone1"], json!("000"));
    assert_eq!(account_of(&w, 102)["name"], json!("Customer 2"));
    // The reverse pass creates a customer for the account nobody matched.
    assert_eq!(reports[1].counters.inserted, 1, "{reports:?}");
    assert_eq!(w.engine.store.coupling_count("CUSTOMER").await.unwrap(), 4);

    // Choices naming no field of the mapping are refused before anything runs.
    let err = w
        .engine
        .match_couple("CUSTOMER", &options(json!({"fields": [{"field": "shoeSize"}]})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("'shoeSize'"), "{err}");
}

/// The Financials side, changing customer 100 while the engine reads the second page of
/// customers (so that it comes again in a later page, as a row changed during a read does).
struct ChangesDuringTheRead {
    inner: Arc<MemoryConnector>,
    reads: std::sync::atomic::AtomicU32,
}

impl kontor_sync::connector::Connector for ChangesDuringTheRead {
    fn side(&self) -> Side {
        Side::Financials
    }
    fn read<'a>(
        &'a self,
        table: &'a kontor_sync::connector::TableRef,
        cursor: &'a kontor_sync::connector::Cursor,
        page_size: usize,
    ) -> futures::future::BoxFuture<
        'a,
        Result<kontor_sync::connector::ChangePage, kontor_sync::connector::ConnectorError>,
    > {
        if table.set == "customers"
            && self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1
        {
            self.inner.put("customers", id(100), json!({"displayName": "Renamed"}), "anna");
        }
        self.inner.read(table, cursor, page_size)
    }
    fn get<'a>(
        &'a self,
        table: &'a kontor_sync::connector::TableRef,
        ids: &'a [Uuid],
    ) -> futures::future::BoxFuture<
        'a,
        Result<Vec<kontor_sync::connector::Row>, kontor_sync::connector::ConnectorError>,
    > {
        self.inner.get(table, ids)
    }
    fn write<'a>(
        &'a self,
        batch: &'a kontor_sync::connector::WriteBatch,
    ) -> futures::future::BoxFuture<
        'a,
        Result<Vec<kontor_sync::connector::WriteOutcome>, kontor_sync::connector::ConnectorError>,
    > {
        self.inner.write(batch)
    }
    fn count<'a>(
        &'a self,
        table: &'a kontor_sync::connector::TableRef,
    ) -> futures::future::BoxFuture<'a, Result<u64, kontor_sync::connector::ConnectorError>> {
        self.inner.count(table)
    }
}

#[tokio::test]
async fn a_row_changed_while_pages_are_in_flight_is_planned_after_its_earlier_version_is_recorded()
{
    kontor_testkit::for_each_backend(|url, _| async move {
        let mut w = world(&url).await;
        full_sync(&w, &["SALESPEOPLE", "CURRENCY"]).await;
        // Pages of two: [100, 101] is written while [102, 100 renamed] is planned — unless the
        // engine waits, the renamed 100 is planned as uncoupled and inserted a second time.
        w.engine.financials =
            Arc::new(ChangesDuringTheRead { inner: w.fin.clone(), reads: Default::default() });
        let set = w.engine.store.mappings().await.unwrap();
        let mapping = set.get("CUSTOMER").unwrap().clone();
        let report = w.engine.run_pass(&set, &mapping, Pass::ToSales, Mode::Full).await.unwrap();
        assert_eq!(
            (report.counters.inserted, report.counters.modified),
            (3, 1),
            "{:?}",
            report.counters
        );
        assert_eq!(account_of(&w, 100)["name"], json!("Renamed"));
        assert_eq!(w.sales.rows("accounts").len(), 3);
        assert_eq!(w.engine.store.coupling_count("CUSTOMER").await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn coupling_by_hand_is_refused_naming_each_record_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(&kontor_testkit::sqlite_url(&dir)).await;
    w.sales.put("accounts", id(700), json!({"name": "Theirs"}), "admin");
    let nobody = "00000000-0000-0000-0000-000000001111";
    // (Financials id, Sales id, the answer)
    let cases = [
        (
            id(0x1111),
            id(0x1111),
            format!(
                "Cannot couple under CUSTOMER: the Customer {nobody} does not exist in Financials (customers), and the Sales account {nobody} does not exist in Sales (accounts)."
            ),
        ),
        (
            id(100),
            id(0x1111),
            format!(
                "Cannot couple under CUSTOMER: the Sales account {nobody} does not exist in Sales (accounts)."
            ),
        ),
        (
            id(0x1111),
            id(700),
            format!(
                "Cannot couple under CUSTOMER: the Customer {nobody} does not exist in Financials (customers)."
            ),
        ),
        (id(100), id(700), "coupled".to_owned()),
    ];
    for (fin, sales, expected) in cases {
        let got = match w.engine.couple_records("CUSTOMER", fin, sales).await {
            Ok(()) => "coupled".to_owned(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expected);
    }
    assert_eq!(w.engine.store.coupling_count("CUSTOMER").await.unwrap(), 1);
}

#[tokio::test]
async fn creating_a_sales_record_from_a_financials_one_writes_it_at_its_deterministic_id_and_couples_them()
 {
    kontor_testkit::for_each_backend(|url, _| async move {
        let w = world(&url).await;
        // Before salespeople and currencies are coupled, the customer's owner and currency
        // cannot be looked up.
        let refused = w.engine.create_in_sales("CUSTOMER", id(100)).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Salesperson 'JO' is not coupled to a Sales user. Couple salespeople first. Currency 'EUR' is not coupled to a Sales transaction currency. Couple currencies first."
        );
        assert!(w.sales.rows("accounts").is_empty(), "nothing written");
        full_sync(&w, &["SALESPEOPLE", "CURRENCY"]).await;

        let sales_id = w.engine.create_in_sales("CUSTOMER", id(100)).await.unwrap();
        assert_eq!(sales_id, kontor_sync::ids::target_id(id(0xc0), "CUSTOMER", id(100)));
        let account = account_of(&w, 100);
        assert_eq!(account["name"], json!("Customer 0"));
        assert_eq!(account["_ownerid_value"], json!(id(901).to_string()));
        assert_eq!(w.sales.rows("accounts").len(), 1, "only this customer");
        let pairs = w.engine.store.couplings_for("CUSTOMER", Side::Financials, &[id(100)]).await;
        assert_eq!(pairs.unwrap()[0].sales_id, sales_id);
        let jobs = w.engine.store.jobs(Some("CUSTOMER"), 10).await.unwrap();
        assert_eq!((jobs[0].job_type.as_str(), jobs[0].counters.inserted), ("Coupling", 1));

        w.fin.put("customers", id(103), json!({"number": "C0003", "blocked": "All"}), "anna");
        let nobody = id(0x1111);
        // (mapping, Financials id, the refusal)
        let cases = [
            (
                "CUSTOMER",
                id(100),
                format!(
                    "The Customer {} is already coupled to the Sales account {sales_id}. Delete its coupling first.",
                    id(100)
                ),
            ),
            (
                "CUSTOMER",
                nobody,
                format!("The Customer {nobody} does not exist in Financials (customers)."),
            ),
            (
                "CUSTOMER",
                id(103),
                format!(
                    "The Customer {} is outside the table filter of CUSTOMER, so it is not synchronized to Sales.",
                    id(103)
                ),
            ),
            (
                "SALESPEOPLE",
                id(1),
                "SALESPEOPLE synchronizes from Sales only: a sales user cannot be created in Sales from a salesperson."
                    .to_owned(),
            ),
            ("NO SUCH", id(100), "not found: integration table mapping NO SUCH".to_owned()),
        ];
        for (mapping, record, expected) in cases {
            let got = w.engine.create_in_sales(mapping, record).await.unwrap_err().to_string();
            assert_eq!(got, expected, "{mapping} {record}");
        }
        assert_eq!(w.sales.rows("accounts").len(), 1, "no refusal wrote anything");
    })
    .await;
}

#[tokio::test]
async fn a_failed_coupling_is_retried_won_by_one_side_restored_or_uncoupled_as_chosen() {
    use kontor_sync::coupled::Resolution::{self, *};
    kontor_testkit::for_each_backend(|url, _| async move {
        let w = world(&url).await;
        full_sync(&w, &["SALESPEOPLE", "CURRENCY", "CUSTOMER"]).await;
        let account = |n: u128| kontor_sync::ids::target_id(id(0xc0), "CUSTOMER", id(n));
        // Customer 100: the same field changed on both sides. Customer 101: its account deleted.
        w.fin.put("customers", id(100), json!({"phoneNumber": "444"}), "anna");
        w.sales.put(
            "accounts",
            account(100),
            json!({"telephone1": "555", "statecode": 0}),
            "someone",
        );
        w.sales.remove("accounts", account(101));
        w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
        let failures = w.engine.store.coupled_failures(50, 0).await.unwrap();
        let failing = |fid: Uuid| failures.iter().filter(|f| f.financials_id == fid).count();
        assert_eq!(failing(id(100)), 2, "both passes see the conflict: {failures:?}");
        assert_eq!(failing(id(101)), 1, "{failures:?}");
        assert_eq!(w.engine.store.coupled_failure_count().await.unwrap(), 3);
        let deleted = failures.iter().find(|f| f.financials_id == id(101)).unwrap();
        assert_eq!((deleted.side, deleted.sales_id), (Side::Sales, account(101)));
        assert!(deleted.message.contains("was deleted in Sales"), "{}", deleted.message);

        // (customer, resolution, the refusal) — a choice that does not fit names why.
        let refusals: [(u128, Resolution, &str); 4] = [
            (100, Retry, "phoneNumber ↔ telephone1"),
            (100, Restore, "Both records exist: there is nothing to restore."),
            (101, Wins(Side::Sales), "The sales account was deleted in Sales: it cannot win."),
            (101, Wins(Side::Financials), "The sales account was deleted in Sales: restore it"),
        ];
        for (n, how, expected) in refusals {
            let e = w.engine.resolve_coupling("CUSTOMER", id(n), how).await.unwrap_err();
            assert!(e.to_string().contains(expected), "{n} {how:?}: {e}");
        }
        let none = w.engine.resolve_coupling("CUSTOMER", id(0x1111), Retry).await.unwrap_err();
        assert_eq!(
            none.to_string(),
            format!("not found: No coupling of Financials record {} under CUSTOMER.", id(0x1111))
        );

        // Sales wins: its value goes to Financials, the failures are gone, nothing flows back.
        let done = w.engine.resolve_coupling("CUSTOMER", id(100), Wins(Side::Sales)).await.unwrap();
        assert_eq!(done.counters.modified, 1, "{done:?}");
        assert_eq!(w.fin.row("customers", id(100)).unwrap()["phoneNumber"], json!("555"));
        // The next run changes nothing; only the deleted account's failure is left.
        let reports = w.engine.run_mapping("CUSTOMER", Mode::Incremental).await.unwrap();
        assert!(reports.iter().all(|r| r.counters.modified == 0), "{reports:?}");
        let left = w.engine.store.coupled_failures(50, 0).await.unwrap();
        assert!(left.iter().all(|f| f.financials_id == id(101)), "{left:?}");
        assert_eq!(account_of(&w, 100)["telephone1"], json!("555"));

        // Restore: the account comes back at its old id, still coupled.
        let done = w.engine.resolve_coupling("CUSTOMER", id(101), Restore).await.unwrap();
        assert_eq!(done.counters.modified, 1, "{done:?}");
        assert_eq!(account_of(&w, 101)["name"], json!("Customer 1"));
        let pairs = w.engine.store.couplings_for("CUSTOMER", Side::Financials, &[id(101)]).await;
        assert_eq!(pairs.unwrap()[0].sales_id, account(101));
        assert_eq!(w.engine.store.coupled_failure_count().await.unwrap(), 0);

        // Remove Coupling: both records stay, uncoupled.
        w.engine.resolve_coupling("CUSTOMER", id(102), RemoveCoupling).await.unwrap();
        let pairs = w.engine.store.couplings_for("CUSTOMER", Side::Financials, &[id(102)]).await;
        assert!(pairs.unwrap().is_empty());
        assert!(w.sales.row("accounts", account(102)).is_some());
    })
    .await;
}
