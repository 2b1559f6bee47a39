//! The secrets test of security issue #13: the real `kontor` binary as child processes, the setup
//! flows over HTTP (the setup guide with an administrator account for the solution import, the
//! integration users, a new web service key and a new client secret), full synchronizations, then
//! the processes stopped and every file of the data folder (raw bytes, the SQLite `-wal` and
//! `-shm` files included) and all the processes' output searched for every secret the test used,
//! in plain text and in base64. None may be found, and every file must be private. On SQLite
//! (`kontor up`, whose databases are in the data folder) and on PostgreSQL (`kontor financials
//! serve`, `kontor sales serve` and `kontor worker`, whose databases are not: every row of every
//! table is dumped as text and searched too).
//!
//! The administrators' password is given in `KONTOR_ADMIN_PASSWORD`, so nothing is generated:
//! `kontor up` writes a *generated* password to `credentials.json` and `kontor … serve` prints a
//! generated one once, on purpose, for the person who started it. With the password given,
//! there is no such exception: the password (also the setup administrator's) may appear nowhere.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use support::{Proc, Services, free_port, poll};
use uuid::Uuid;

/// `kontor <args>` with the administrators' password given (nothing generated) and logging at
/// debug, so that the output holds all a process could say.
fn start(logs: &Path, name: &str, args: &[&str], admin_password: &str) -> Proc {
    Proc::start(
        logs,
        name,
        args,
        &[("KONTOR_ADMIN_PASSWORD", admin_password), ("RUST_LOG", "debug")],
    )
}

/// Every file under `dir` (recursively), and every folder.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, folders: &mut Vec<PathBuf>) {
    folders.push(dir.to_path_buf());
    for entry in std::fs::read_dir(dir).expect("a folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            walk(&path, files, folders);
        } else {
            files.push(path);
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}

/// The forms a secret must not be found in: plain, base64, and base64 of the HTTP Basic
/// `user:secret` pair when it is one.
fn forms(secret: &str, basic_user: Option<&str>) -> Vec<String> {
    let bytes = secret.as_bytes();
    let mut f = vec![secret.to_owned(), base64(bytes)];
    // Its whole 3-byte groups, as they show inside a longer encoding that starts with it.
    f.push(base64(&bytes[..bytes.len() - bytes.len() % 3]));
    if let Some(user) = basic_user {
        f.push(base64(format!("{user}:{secret}").as_bytes()));
    }
    f
}

#[test]
fn the_base64_forms_searched_are_those_of_rfc_4648() {
    assert_eq!([base64(b"Man"), base64(b"Ma"), base64(b"M")], ["TWFu", "TWE=", "TQ=="]);
    assert_eq!(forms("ADMIN", Some("u")), ["ADMIN", "QURNSU4=", "QURN", "dTpBRE1JTg=="]);
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The secrets used, by name, with their Basic-auth user when they are sent as one.
type Secrets = Vec<(&'static str, String, Option<String>)>;

/// Asserts that no secret is in any file under `data` or in any `*.log` of `logs`, and that
/// `data`, its folders and its files are private. Returns the names of the files searched.
fn assert_nowhere(
    secrets: &Secrets,
    data: &Path,
    logs: &Path,
    extra: &[(String, Vec<u8>)],
) -> Vec<String> {
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    walk(data, &mut files, &mut folders);
    let mut searched: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).expect("read a data file")))
        .collect();
    let mut outputs = 0;
    for entry in std::fs::read_dir(logs).expect("the logs folder") {
        let path = entry.expect("a log").path();
        if path.extension().is_some_and(|e| e == "log") {
            searched.push((path.display().to_string(), std::fs::read(&path).expect("a log")));
            outputs += 1;
        }
    }
    assert!(outputs > 0, "the processes' output was searched");
    searched.extend(extra.iter().cloned());
    for (name, secret, user) in secrets {
        assert!(secret.len() >= 8, "{name} is a real secret");
        for form in forms(secret, user.as_deref()) {
            for (place, bytes) in &searched {
                assert!(!contains(bytes, &form), "{name} (as {form:?}) is in {place}");
            }
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for f in &folders {
            assert_eq!(mode(f), 0o700, "the folder {} is private", f.display());
        }
        for f in &files {
            assert_eq!(mode(f), 0o600, "the file {} is private", f.display());
        }
    }
    let names: Vec<String> =
        files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    println!("searched {} files ({names:?}) and {outputs} outputs", files.len());
    names
}

/// The data folder's `secret.key` as the integration's sealer (what the binary uses).
struct DataKey(kontor_sales::secrets::SealingKey);

impl kontor_sync::credentials::Sealer for DataKey {
    fn seal(&self, plaintext: &str) -> String {
        self.0.seal(plaintext)
    }
    fn open(&self, sealed: &str) -> Option<String> {
        self.0.open(sealed).ok().map(|s| s.expose().to_owned())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn after_kontor_up_a_full_synchronization_and_the_setup_flows_no_secret_is_in_the_data_folder_or_the_output_on_sqlite()
 {
    let rt = runtime();
    let data_dir = tempfile::tempdir().expect("a data folder");
    let logs_dir = tempfile::tempdir().expect("a logs folder");
    let (data, logs) = (data_dir.path(), logs_dir.path());
    let admin_password = format!("Admin-{}-Pass-Word", std::process::id());
    let (fin_port, sales_port) = (free_port(), free_port());
    let data_arg = data.to_str().expect("a UTF-8 path").to_owned();
    let (fin_port_arg, sales_port_arg) = (fin_port.to_string(), sales_port.to_string());
    let up_args = [
        "up",
        "--data",
        &data_arg,
        "--financials-port",
        &fin_port_arg,
        "--sales-port",
        &sales_port_arg,
        "--demo-customers",
        "20",
    ];
    let services = Services {
        // The URLs `kontor up` stores for its connection.
        financials: format!("http://localhost:{fin_port}"),
        sales: format!("http://localhost:{sales_port}"),
        admin_password: admin_password.clone(),
        http: reqwest::Client::new(),
    };

    // First start: demo data, the integration users, setup and the full synchronization.
    let mut first =
        start(logs, "up-first", &[&up_args[..], &["--exit-after-sync"]].concat(), &admin_password);
    let status = first.child.wait().expect("kontor up");
    let log = std::fs::read_to_string(logs.join("up-first.log")).unwrap_or_default();
    assert!(status.success(), "kontor up failed:\n{log}");

    // The integration's first credentials, from the sealed store.
    let key = kontor_sales::secrets::SealingKey::load(Some(data)).expect("secret.key");
    let first_creds = rt.block_on(async {
        let url = format!("sqlite:{}?mode=rw", data.join("financials.sqlite").display());
        let db = kontor_store::Db::connect(&url).await.expect("open the Financials store");
        let store = kontor_sync::store::SyncStore::new(db.clone());
        let creds = store.credentials(&DataKey(key)).await.expect("open").expect("stored");
        db.close().await;
        creds
    });
    let kontor_sync::credentials::SalesSignIn::ClientCredentials { client_id, client_secret } =
        first_creds.sales.clone()
    else {
        panic!("kontor up signs in to Sales as an application user: {first_creds:?}");
    };
    let fin_user = first_creds.financials_user.clone();

    // Second start, in the background: a new web service key and a new client secret, the
    // setup guide with them and the administrator, then a full synchronization with them.
    let mut up = start(logs, "up", &up_args, &admin_password);
    let (new_key, new_secret) = rt.block_on(async {
        let company = services.wait_until_up().await;
        services.wait_for_full_sync().await;
        let new_key = services.new_web_service_key(company, &fin_user).await;
        let new_secret = services.new_client_secret(&client_id).await;
        services.setup(company, &fin_user, &new_key, &client_id, &new_secret).await;
        services.full_sync().await;
        services.sync_now().await;
        (new_key, new_secret)
    });
    let secrets: Secrets = vec![
        (
            "the administrators' and setup administrator's password",
            admin_password.clone(),
            Some("ADMIN".into()),
        ),
        ("the first web service key", first_creds.financials_key.clone(), Some(fin_user.clone())),
        ("the first client secret", client_secret, None),
        ("the new web service key", new_key, Some(fin_user)),
        ("the new client secret", new_secret, None),
    ];
    // While it runs (the SQLite -wal and -shm files exist then), and once it has stopped.
    let running = assert_nowhere(&secrets, data, logs, &[]);
    for expected in ["financials.sqlite-wal", "financials.sqlite-shm", "sales.sqlite-wal"] {
        assert!(running.iter().any(|n| n == expected), "{expected} in {running:?}");
    }
    up.stop();
    drop(first);
    assert_nowhere(&secrets, data, logs, &[]);
    for expected in ["financials.sqlite", "sales.sqlite", "secret.key"] {
        assert!(data.join(expected).exists(), "{expected} is in the data folder");
    }
}

/// Every row of every table of the database at `url`, as JSON text, one entry per table.
async fn dump(url: &str) -> Vec<(String, Vec<u8>)> {
    let db = kontor_store::Db::connect(url).await.expect("open the database");
    let tables = db
        .fetch_all_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", vec![])
        .await
        .expect("the tables");
    let mut out = Vec::new();
    for t in tables {
        let name = t.get_string("tablename");
        let sql =
            format!("SELECT row_to_json(t)::text AS j FROM \"{}\" t", name.replace('"', "\"\""));
        let rows = db
            .fetch_all_sql(kontor_store::sqlx::AssertSqlSafe(sql), vec![])
            .await
            .expect("the rows");
        let text: Vec<String> = rows.iter().map(|r| r.get_string("j")).collect();
        out.push((format!("table {name} of {url}"), text.join("\n").into_bytes()));
    }
    db.close().await;
    assert!(out.len() >= 5, "the tables of {url}: {}", out.len());
    out
}

#[test]
fn after_the_setup_flows_and_a_full_synchronization_no_secret_is_in_the_data_folder_the_output_or_any_table_on_postgresql()
 {
    let rt = runtime();
    let data_dir = tempfile::tempdir().expect("a data folder");
    let logs_dir = tempfile::tempdir().expect("a logs folder");
    let (data, logs) = (data_dir.path(), logs_dir.path());
    let data_arg = data.to_str().expect("a UTF-8 path").to_owned();
    let admin_password = format!("Admin-{}-Pass-Word", std::process::id());
    let (fin_db, sales_db) =
        rt.block_on(async { (kontor_testkit::pg::url().await, kontor_testkit::pg::url().await) });
    let (fin_port, sales_port) = (free_port(), free_port());
    let services = Services {
        financials: format!("http://127.0.0.1:{fin_port}"),
        sales: format!("http://127.0.0.1:{sales_port}"),
        admin_password: admin_password.clone(),
        http: reqwest::Client::new(),
    };
    let (fin_listen, sales_listen) =
        (format!("127.0.0.1:{fin_port}"), format!("127.0.0.1:{sales_port}"));
    // Sales first: it creates the data folder's secret.key that Financials and the worker share.
    let mut sales = start(
        logs,
        "sales",
        &["sales", "serve", "--db", &sales_db, "--listen", &sales_listen, "--data", &data_arg],
        &admin_password,
    );
    rt.block_on(poll("secret.key", Duration::from_secs(60), || async {
        data.join("secret.key").exists().then_some(())
    }));
    let mut fin = start(
        logs,
        "financials",
        &["financials", "serve", "--db", &fin_db, "--listen", &fin_listen, "--data", &data_arg],
        &admin_password,
    );
    // A `kontor worker` builds its engine from the stored connection when it starts: one
    // after each setup.
    let worker_args = ["worker", "--db", &fin_db, "--data", &data_arg, "--workers", "1"];

    let secrets = rt.block_on(async {
        let company = services.wait_until_up().await;
        // A few records to synchronize.
        let f = services.financials_admin(company);
        for n in 0..5 {
            let (s, v) = f
                .send_json(reqwest::Method::POST, "customers", &json!({"number": format!("C{n:03}"), "displayName": format!("Customer {n}")}))
                .await
                .expect("a customer");
            assert!(s.is_success(), "{v}");
        }
        // The integration users: a Financials user, a Sales application user.
        let (s, user) = f
            .send_json(reqwest::Method::POST, "users", &json!({"userName": "INTEGRATION", "fullName": "Kontor Integration", "permissionSets": "D365 BUS FULL ACCESS", "state": "Enabled"}))
            .await
            .expect("the Financials integration user");
        assert!(s.is_success(), "{user}");
        let client_id = Uuid::new_v4().to_string();
        let app_user = Uuid::new_v4();
        kontor_e2e::put(
            &services.sales_admin(),
            "systemusers",
            "systemuserid",
            vec![(app_user, json!({"applicationid": client_id, "firstname": "Kontor", "lastname": "Integration"}))],
        )
        .await;
        let first_key = services.new_web_service_key(company, "INTEGRATION").await;
        let first_secret = services.new_client_secret(&client_id).await;
        services.setup(company, "INTEGRATION", &first_key, &client_id, &first_secret).await;
        let mut worker = start(logs, "worker-1", &worker_args, &admin_password);
        services.full_sync().await;
        worker.stop();
        // New secrets, setup again with them, and a full synchronization with them.
        let new_key = services.new_web_service_key(company, "INTEGRATION").await;
        let new_secret = services.new_client_secret(&client_id).await;
        services.setup(company, "INTEGRATION", &new_key, &client_id, &new_secret).await;
        let mut worker = start(logs, "worker-2", &worker_args, &admin_password);
        services.full_sync().await;
        services.sync_now().await;
        worker.stop();
        let secrets: Secrets = vec![
            ("the administrators' and setup administrator's password", admin_password.clone(), Some("ADMIN".into())),
            ("the first web service key", first_key, Some("INTEGRATION".into())),
            ("the first client secret", first_secret, None),
            ("the new web service key", new_key, Some("INTEGRATION".into())),
            ("the new client secret", new_secret, None),
        ];
        secrets
    });
    fin.stop();
    sales.stop();

    let tables = rt.block_on(async {
        let mut t = dump(&fin_db).await;
        t.extend(dump(&sales_db).await);
        t
    });
    let dumped = |table: &str| {
        tables.iter().find(|(name, _)| name.starts_with(&format!("table {table} "))).map(|t| &t.1)
    };
    assert!(
        dumped("sync_secret").is_some_and(|rows| contains(rows, "\"sealed\"")),
        "the integration's sealed credentials were dumped"
    );
    assert!(dumped("fin_user").is_some_and(|rows| contains(rows, "INTEGRATION")), "users dumped");
    assert_nowhere(&secrets, data, logs, &tables);
}
