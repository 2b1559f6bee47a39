//! The integration's workers as processes on PostgreSQL: Financials and Sales each served by
//! their own `kontor … serve` process on their own throwaway database, the connection set up with
//! `kontor setup` (the integration's credentials sealed in the sync store under the data folder's
//! `secret.key`), and several `kontor worker` processes sharing one full synchronization while
//! the test SIGKILLs them at random points.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kontor_connectors::{Grant, ODataConnector, Secret};
use kontor_e2e::{all, put, sales_tokens};
use kontor_store::Db;
use kontor_sync::store::SyncStore;
use serde_json::{Value, json};
use support::{KONTOR, Proc, free_port, poll};
use uuid::Uuid;

const ADMIN_PASSWORD: &str = "Workers-Admin-Pass-1";
const CUSTOMERS: usize = 1500;
const ITEMS: usize = 100;
/// The workers' lease: a killed worker's job is taken over once it has run out.
const LEASE_SECONDS: u64 = 4;
/// A full-sync job runs at most three times (`kontor_sync::jobs`); a run whose worker died counts
/// as an attempt (the queue's guard against a job that kills its worker). So the test kills the
/// worker of one job at most twice: the synchronization must then finish as if never interrupted.
const KILLS_PER_JOB: u32 = 2;

fn id(kind: &str, n: usize) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("kontor.workers.{kind}.{n}").as_bytes())
}

/// A small deterministic generator (the seed is printed, so a failure can be replayed with
/// `KONTOR_CRASH_SEED`).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `kontor <args>` with the administrators' password given.
fn start(logs: &Path, name: &str, args: &[&str]) -> Proc {
    Proc::start(logs, name, args, &[("KONTOR_ADMIN_PASSWORD", ADMIN_PASSWORD)])
}

fn kontor(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(KONTOR)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run kontor");
    assert!(
        out.status.success(),
        "kontor {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Checks one mapping (see [`kontor_e2e::check_mapping`]), and that Sales listed no row twice and
/// has no coupling of a record outside the mapping. Returns how many records were checked.
async fn check_mapping(
    store: &SyncStore,
    fin: &ODataConnector,
    sales: &ODataConnector,
    name: &str,
) -> usize {
    let c = kontor_e2e::check_mapping(store, fin, sales, name).await;
    assert_eq!(c.sales_read, c.sales_rows, "{name}: Sales listed a row twice");
    assert_eq!(c.checked, c.couplings, "{name}: couplings of records outside the mapping");
    c.checked
}

/// The review lines (`GET /integration/v1/full-sync`).
async fn review(http: &reqwest::Client, financials: &str) -> Vec<Value> {
    let v: Value = http
        .get(format!("{financials}/integration/v1/full-sync"))
        .basic_auth("ADMIN", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("the review page")
        .json()
        .await
        .expect("the review page in JSON");
    v["value"].as_array().cloned().unwrap_or_default()
}

fn ended(line: &Value) -> bool {
    matches!(line["job_queue_entry_status"].as_str(), Some("Finished" | "Error"))
}

/// Full-sync jobs In Process now: (entry id, mapping, the process id in the worker's name).
async fn running_jobs(db: &Db) -> Vec<(String, String, Option<u32>)> {
    let rows = db
        .fetch_all_sql(
            "SELECT id, params, locked_by FROM job_entry WHERE status = 'in_process' AND kind = $1",
            vec![kontor_store::sea_query::Value::from(kontor_sync::jobs::FULL_SYNC)],
        )
        .await
        .expect("read the job queue");
    rows.iter()
        .map(|r| {
            let params: Value = serde_json::from_str(&r.get_string("params")).unwrap_or_default();
            // Workers of `kontor worker` are named `worker-<pid>-<n>`.
            let pid = r
                .get_opt_string("locked_by")
                .and_then(|w| w.split('-').nth(1).and_then(|p| p.parse().ok()));
            (r.get_string("id"), params["mapping"].as_str().unwrap_or("?").to_owned(), pid)
        })
        .collect()
}

#[test]
fn killing_worker_processes_at_random_points_of_a_full_synchronization_on_postgresql_ends_like_an_uninterrupted_run()
 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(story());
}

async fn story() {
    let started = Instant::now();
    let seed =
        std::env::var("KONTOR_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                as u64
        });
    println!("kill points from KONTOR_CRASH_SEED={seed}");
    let mut rng = Lcg(seed);

    // Each service on its own throwaway database; one data folder for the sealing key and logs.
    let fin_db_url = kontor_testkit::pg::url().await;
    let sales_db_url = kontor_testkit::pg::url().await;
    let dir = tempfile::tempdir().expect("a data folder");
    let data = dir.path().to_str().expect("a UTF-8 path").to_owned();
    let logs = dir.path();
    let (fin_port, sales_port) = (free_port(), free_port());
    let financials = format!("http://127.0.0.1:{fin_port}");
    let sales = format!("http://127.0.0.1:{sales_port}");
    let http = reqwest::Client::new();

    // Sales first: it creates the data folder's secret.key that Financials and the workers share.
    let sales_listen = format!("127.0.0.1:{sales_port}");
    let sales_args = ["sales", "serve", "--db", &sales_db_url, "--listen", &sales_listen];
    let mut sales_proc = start(logs, "sales", &[&sales_args[..], &["--data", &data]].concat());
    poll("Sales answers", Duration::from_secs(60), || async {
        let r = http
            .post(format!("{sales}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
            ])
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let fin_listen = format!("127.0.0.1:{fin_port}");
    let fin_args = ["financials", "serve", "--db", &fin_db_url, "--listen", &fin_listen];
    let mut fin_proc = start(logs, "financials", &[&fin_args[..], &["--data", &data]].concat());
    let company: Uuid = poll("Financials answers", Duration::from_secs(60), || async {
        let v: Value = http
            .get(format!("{financials}/api/v2.0/companies"))
            .basic_auth("ADMIN", Some(ADMIN_PASSWORD))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["value"][0]["id"].as_str()?.parse().ok()
    })
    .await;
    sales_proc.assert_running(logs);
    fin_proc.assert_running(logs);

    // Seed Financials over its API; Sales gets a user per salesperson (coupled by e-mail).
    let fin_admin = ODataConnector::financials(&financials, company, "ADMIN", ADMIN_PASSWORD);
    let sales_admin = ODataConnector::dataverse(
        &sales,
        sales_tokens(
            &sales,
            Grant::Password { username: "admin".into(), password: Secret(ADMIN_PASSWORD.into()) },
        ),
    );
    let f = &fin_admin;
    put(f, "salespeople", "id", (0..5).map(|n| (id("sp", n), json!({"code": format!("SP{n}"), "displayName": format!("Seller {n}"), "email": format!("sp{n}@kontor.test")}))).collect()).await;
    put(
        &sales_admin,
        "systemusers",
        "systemuserid",
        (0..5).map(|n| (id("user", n), json!({"firstname": "Seller", "lastname": format!("{n}"), "domainname": format!("sp{n}@kontor.test"), "internalemailaddress": format!("sp{n}@kontor.test")}))).collect(),
    )
    .await;
    put(
        f,
        "currencies",
        "id",
        vec![
            (
                id("cur", 0),
                json!({"code": "EUR", "displayName": "Euro", "symbol": "€", "exchangeRate": 1.1}),
            ),
            (
                id("cur", 1),
                json!({"code": "GBP", "displayName": "Pound", "symbol": "£", "exchangeRate": 0.9}),
            ),
        ],
    )
    .await;
    put(
        f,
        "unitsOfMeasure",
        "id",
        vec![(id("uom", 0), json!({"code": "PCS", "displayName": "Piece"}))],
    )
    .await;
    let customers = (0..CUSTOMERS)
        .map(|n| {
            let currency = match n % 3 { 0 => "EUR", 1 => "GBP", _ => "" };
            (id("cust", n), json!({"number": format!("C{n:05}"), "displayName": format!("Customer {n}"), "salespersonCode": format!("SP{}", n % 5),
                "currencyCode": currency, "phoneNumber": format!("+47 {n:08}"), "email": format!("c{n}@example.com"), "city": "Oslo", "addressLine1": format!("Street {n}")}))
        })
        .collect();
    put(f, "customers", "id", customers).await;
    let companies = (0..CUSTOMERS)
        .map(|n| (id("company", n), json!({"number": format!("C{n:05}"), "type": "Company", "displayName": format!("Customer {n}")})))
        .collect();
    put(f, "contacts", "id", companies).await;
    let persons = (0..CUSTOMERS)
        .map(|n| (id("person", n), json!({"number": format!("P{n:05}"), "type": "Person", "displayName": format!("Person Number{n}"), "companyNumber": format!("C{n:05}"), "email": format!("p{n}@example.com"), "jobTitle": "Buyer"})))
        .collect();
    put(f, "contacts", "id", persons).await;
    let items = (0..ITEMS)
        .map(|n| (id("item", n), json!({"number": format!("I{n:05}"), "displayName": format!("Item {n}"), "baseUnitOfMeasureCode": "PCS", "unitPrice": 10 + n, "unitCost": 5 + n})))
        .collect();
    put(f, "items", "id", items).await;
    println!("seeded in {:.1?}", started.elapsed());

    // The integration users: a Financials user with a web service access key, a Sales
    // application user with a client secret.
    let (status, user) = fin_admin
        .send_json(reqwest::Method::POST, "users", &json!({"userName": "INTEGRATION", "fullName": "Kontor Integration", "permissionSets": "D365 BUS FULL ACCESS", "state": "Enabled"}))
        .await
        .expect("create the Financials integration user");
    assert!(status.is_success(), "creating the Financials integration user: {user}");
    let fin_user = user["id"].as_str().expect("a user id").to_owned();
    let (status, key) = fin_admin
        .send_json(
            reqwest::Method::POST,
            &format!("users({fin_user})/Microsoft.NAV.changeWebServiceKey"),
            &json!({}),
        )
        .await
        .expect("a web service key");
    assert!(status.is_success(), "web service key: {key}");
    let key = key["value"].as_str().expect("a key").to_owned();
    let app_id = Uuid::new_v4().to_string();
    let app_user = id("integration-user", 0);
    put(
        &sales_admin,
        "systemusers",
        "systemuserid",
        vec![(
            app_user,
            json!({"applicationid": app_id, "firstname": "Kontor", "lastname": "Integration"}),
        )],
    )
    .await;
    let (status, secret) = sales_admin
        .send_json(
            reqwest::Method::POST,
            &format!("systemusers({app_user})/Microsoft.Dynamics.CRM.kontor_SetClientSecret"),
            &json!({}),
        )
        .await
        .expect("a client secret");
    assert!(status.is_success(), "client secret: {secret}");
    let client_secret = secret["ClientSecret"].as_str().expect("a client secret").to_owned();

    // Setup through the command line: Financials seals the credentials into its store.
    let conn = ["--financials", &financials, "--data", &data];
    let setup = [
        &["setup"][..],
        &conn,
        &["--sales", &sales, "--financials-user", "INTEGRATION", "--sales-client-id", &app_id],
        &["--import-solution", "--sales-admin", "admin"],
    ]
    .concat();
    let env = [
        ("KONTOR_PASSWORD", ADMIN_PASSWORD),
        ("KONTOR_FINANCIALS_KEY", key.as_str()),
        ("KONTOR_SALES_CLIENT_SECRET", client_secret.as_str()),
        ("KONTOR_SALES_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    let out = kontor(&setup, &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Connection set up."));

    // Three worker processes, then the full synchronization.
    let lease = LEASE_SECONDS.to_string();
    let worker_args = [
        "worker",
        "--db",
        &fin_db_url,
        "--data",
        &data,
        "--workers",
        "1",
        "--lease-seconds",
        &lease,
    ];
    let mut started_workers = 0;
    let mut start_worker = || {
        started_workers += 1;
        start(logs, &format!("worker-{started_workers}"), &worker_args)
    };
    let mut workers: Vec<Proc> = (0..3).map(|_| start_worker()).collect();
    let synced_from = Instant::now();
    kontor(&[&["sync", "full"][..], &conn].concat(), &env[..1]);

    // Kill rounds at random points: aim at CUSTOMER or CONTACT once a random number of their
    // records is coupled (or at whatever runs), wait a random while more, then SIGKILL the worker
    // process running a full-sync job at that moment (unless that job was killed twice already),
    // sometimes an idle one with it, and start as many replacements.
    let queue_db = Db::connect(&fin_db_url).await.expect("the Financials database");
    let store = SyncStore::new(queue_db.clone());
    let mut kills_of_job: HashMap<String, u32> = HashMap::new();
    let (mut kills, mut kills_mid_job) = (0, 0);
    for round in 0..8 {
        if kills_mid_job == 4 {
            break;
        }
        // The first round aims at CUSTOMER, so lines are left to run whatever the timing; the
        // couplings are written a page (500) at a time, so past the first page of the last line
        // the synchronization may end before the kill.
        let aim = if round == 0 {
            "CUSTOMER"
        } else {
            ["CUSTOMER", "CONTACT", ""][rng.below(3) as usize]
        };
        let coupled = rng.below(500);
        println!("round {round}: aiming at {aim:?} after {coupled} couplings");
        let pids: Vec<u32> = workers.iter().map(|w| w.child.id()).collect();
        // A full-sync job on a live worker with kills to spare; `Some(None)` once all ended.
        let victim_job = |aim: &'static str, coupled: u64| {
            let (http, financials, queue_db, store) = (&http, &financials, &queue_db, &store);
            let (pids, kills_of_job) = (pids.clone(), kills_of_job.clone());
            async move {
                let lines = review(http, financials).await;
                if !lines.is_empty() && lines.iter().all(ended) {
                    return Some(None);
                }
                let aim_open = lines.iter().any(|l| l["name"] == aim && !ended(l));
                if aim_open && (store.coupling_count(aim).await.ok()? < coupled) {
                    return None;
                }
                running_jobs(queue_db)
                    .await
                    .into_iter()
                    .find(|(job, mapping, pid)| {
                        (!aim_open || mapping == aim)
                            && pid.is_some_and(|p| pids.contains(&p))
                            && kills_of_job.get(job).copied().unwrap_or(0) < KILLS_PER_JOB
                    })
                    .map(Some)
            }
        };
        let aimed =
            poll("a full-sync job to kill", Duration::from_secs(60), || victim_job(aim, coupled))
                .await;
        if aimed.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        // The job may have ended meanwhile: then the next one to run is hit.
        let target =
            poll("a full-sync job to kill", Duration::from_secs(60), || victim_job("", 0)).await;
        let Some((job, mapping, pid)) = target else { break };
        *kills_of_job.entry(job).or_default() += 1;
        let mut victims: Vec<usize> =
            workers.iter().position(|w| Some(w.child.id()) == pid).into_iter().collect();
        println!(
            "round {round} at {:.1?}: killing {} running {mapping}",
            synced_from.elapsed(),
            workers[victims[0]].name
        );
        kills_mid_job += 1;
        if rng.below(2) == 0 {
            // An idle worker too: it holds no job, its death must change nothing.
            let busy: Vec<Option<u32>> =
                running_jobs(&queue_db).await.into_iter().map(|j| j.2).collect();
            let idle: Vec<usize> = (0..workers.len())
                .filter(|i| !victims.contains(i) && !busy.contains(&Some(workers[*i].child.id())))
                .collect();
            if !idle.is_empty() {
                let i = idle[rng.below(idle.len() as u64) as usize];
                println!("round {round}: killing idle {} too", workers[i].name);
                victims.push(i);
            }
        }
        victims.sort_unstable();
        for i in victims.into_iter().rev() {
            workers.remove(i).kill();
            kills += 1;
            workers.push(start_worker());
        }
    }
    println!("{kills} worker processes killed, {kills_mid_job} of them mid-job");
    assert!(kills_mid_job > 0, "at least one worker was killed while it ran a job");

    // Every review line ends (a killed worker's job is taken over when its lease runs out).
    let lines = poll("every review line ended", Duration::from_secs(120), || async {
        let lines = review(&http, &financials).await;
        (!lines.is_empty() && lines.iter().all(ended)).then_some(lines)
    })
    .await;
    println!(
        "full synchronization with kills took {:.1?} (test so far {:.1?})",
        synced_from.elapsed(),
        started.elapsed()
    );
    for w in &mut workers {
        w.assert_running(logs);
    }
    for line in &lines {
        assert_eq!(line["job_queue_entry_status"], "Finished", "{line}");
        for status in ["to_int_table_job_status", "from_int_table_job_status"] {
            assert_ne!(line[status], "Error", "no review line ends in Error: {line}");
        }
    }
    let in_process = queue_db
        .fetch_all_sql("SELECT kind, locked_by FROM job_entry WHERE status = 'in_process'", vec![])
        .await
        .expect("read the job queue");
    let left: Vec<(String, Option<String>)> =
        in_process.iter().map(|r| (r.get_string("kind"), r.get_opt_string("locked_by"))).collect();
    assert!(
        left.iter().all(|(kind, _)| kind != kontor_sync::jobs::FULL_SYNC),
        "no full-sync job is left In Process: {left:?}"
    );
    let failed = queue_db
        .fetch_all_sql("SELECT kind, last_error FROM job_entry WHERE status = 'error'", vec![])
        .await
        .expect("read the job queue");
    assert!(failed.is_empty(), "no job queue entry ends in Error ({} do)", failed.len());

    // Every record once on the other side, with equal fields and one coupling each.
    for name in ["SALESPEOPLE", "CURRENCY", "UNIT OF MEASURE", "ITEM-PRODUCT"] {
        check_mapping(&store, &fin_admin, &sales_admin, name).await;
    }
    assert_eq!(check_mapping(&store, &fin_admin, &sales_admin, "CUSTOMER").await, CUSTOMERS);
    assert_eq!(check_mapping(&store, &fin_admin, &sales_admin, "CONTACT").await, CUSTOMERS);
    let accounts = all(&sales_admin, "accounts", "accountid").await;
    assert_eq!(accounts.len(), CUSTOMERS, "every customer once in Sales, no duplicate");
    let contacts = all(&sales_admin, "contacts", "contactid").await;
    assert_eq!(contacts.len(), CUSTOMERS, "every person once in Sales, no duplicate");
    let errors: usize = {
        let mut n = 0;
        for j in store.jobs(None, 1000).await.expect("synch jobs") {
            n += store.job_errors(j.id).await.expect("synch job errors").len();
        }
        n
    };
    assert_eq!(errors, 0, "no record failed");
    sales_proc.assert_running(logs);
    fin_proc.assert_running(logs);
    println!("test took {:.1?}", started.elapsed());
}
