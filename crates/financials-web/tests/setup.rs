//! Dynamics 365 Connection Setup's Enable / Disable and its field validation (the same as the
//! assisted setup guide's), on a fresh setup (SQLite) connected to two in-memory sides.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use kontor_jobs::{ListFilter, Status};
use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn, Sealer};
use support::connected::connect;
use support::{ADMIN_PASSWORD, Client, Setup, setup, t0};

async fn fresh() -> (tempfile::TempDir, Setup) {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&kontor_testkit::sqlite_url(&dir)).await;
    (dir, s)
}

async fn signed_in(s: &Setup) -> Client {
    let mut c = Client::new(kontor_financials_web::router(s.state.clone()));
    let answer = c.sign_in("ADMIN", ADMIN_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    c
}

/// A reversible stand-in for the binary's cipher.
struct Reverse;
impl Sealer for Reverse {
    fn seal(&self, plaintext: &str) -> String {
        plaintext.chars().rev().collect()
    }
    fn open(&self, sealed: &str) -> Option<String> {
        Some(sealed.chars().rev().collect())
    }
}

/// Connects `s` to in-memory sides and stores credentials for the connection (sealed).
async fn connected_with_credentials(s: &mut Setup) {
    connected_with_sealer(s, true).await
}

/// Connects `s` to in-memory sides with a sealer, and stores credentials when asked.
async fn connected_with_sealer(s: &mut Setup, credentials: bool) {
    connect(s).await;
    let sealer = Arc::new(Reverse);
    s.integration = s.integration.clone().with_sealer(sealer.clone());
    s.state.integration = Some(s.integration.clone());
    if !credentials {
        return;
    }
    let credentials = IntegrationCredentials {
        financials_url: "http://erp.test".into(),
        financials_user: "INTEGRATION".into(),
        financials_key: "Stored-Key-1".into(),
        sales_url: "http://crm.test".into(),
        sales: SalesSignIn::Password { user: "integration".into(), password: "Stored-1".into() },
    };
    s.integration.store.save_credentials(&credentials, sealer.as_ref(), t0()).await.unwrap();
}

/// The statuses of the integration's job queue entries, by description.
async fn entry_statuses(s: &Setup) -> Vec<(String, Status)> {
    let all = s.integration.queue.list(&ListFilter::default()).await.unwrap();
    let mut out: Vec<(String, Status)> =
        all.into_iter().map(|e| (e.description, e.status)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_holds_the_integrations_entries_and_stops_the_engine_and_enable_runs_them_again() {
    let (_dir, mut s) = fresh().await;
    connected_with_credentials(&mut s).await;
    let mut c = signed_in(&s).await;
    let page = c.get("/dynamics-365-connection-setup").await;
    assert!(
        page.body.contains("<dt>Enabled</dt><dd class=\"status-done\">Yes</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"disable-connection\">Disable</button>"));
    assert!(!page.body.contains("id=\"enable-connection\""));

    let off = c.post_form("/dynamics-365-connection-setup/disable", &[]).await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    assert_eq!(off.location(), Some("/dynamics-365-connection-setup"));
    assert!(!s.integration.connection().await.unwrap().unwrap().enabled);
    assert!(s.integration.engine().is_err(), "no engine runs");
    let held = entry_statuses(&s).await;
    assert!(!held.is_empty() && held.iter().all(|(_, st)| *st == Status::OnHold), "{held:?}");
    assert!(s.integration.connect().await.unwrap().is_none(), "a restart opens no engine");
    let page = c.get("/dynamics-365-connection-setup").await;
    assert!(
        page.body.contains("<dt>Enabled</dt><dd class=\"status-todo\">No</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"enable-connection\">Enable</button>"));

    let on = c
        .post(
            "/dynamics-365-connection-setup/enable",
            &[],
            &[
                ("origin", "http://erp.test"),
                ("hx-request", "true"),
                ("x-csrf-token", &c.csrf.clone()),
            ],
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert!(on.body.contains("The connection is enabled: synchronization runs."), "{}", on.body);
    assert!(s.integration.connection().await.unwrap().unwrap().enabled);
    assert!(s.integration.engine().is_ok(), "the engine runs again");
    let again = entry_statuses(&s).await;
    for (what, status) in &again {
        assert_eq!(*status, Status::Ready, "{what}");
    }
    assert!(again.iter().any(|(d, _)| d == "CUSTOMER - Dynamics 365 Sales synchronization job"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_is_refused_with_the_reason_without_stored_credentials_or_without_a_connection() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s).await;
    let none = c.post_form("/dynamics-365-connection-setup/enable", &[]).await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.body);
    assert!(none.body.contains("The connection to Sales is not set up. Run setup first."));

    connect(&s).await;
    let off = c.post_form("/dynamics-365-connection-setup/disable", &[]).await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    let on = c.post_form("/dynamics-365-connection-setup/enable", &[]).await;
    assert_eq!(on.status, StatusCode::CONFLICT, "{}", on.body);
    assert!(
        on.body.contains("The connection cannot be enabled: no credentials are stored for it. Set it up again with its secrets."),
        "{}",
        on.body
    );
    assert!(!s.integration.connection().await.unwrap().unwrap().enabled, "still disabled");
}

/// The setup form's fields with `changes` made.
fn setup_fields<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("financials_url", "http://erp.test"),
        ("company_id", "00000000-0000-0000-0000-0000000000cc"),
        ("financials_user", "INTEGRATION"),
        ("financials_web_service_key", "Typed-Key-1"),
        ("sales_url", "http://crm.test:8081"),
        ("sales_user", "integration@crm.test"),
        ("sales_client_id", ""),
        ("sales_client_secret", ""),
        ("sales_password", "Typed-Sales-Password-1"),
        ("admin_user", ""),
        ("admin_password", ""),
        ("enable", ""),
    ];
    for (k, v) in changes {
        fields.iter_mut().find(|(f, _)| f == k).unwrap().1 = v;
    }
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_setup_shows_each_bad_url_user_and_admin_answer_next_to_its_field_keeping_the_rest()
 {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s).await;
    let cases = [
        (
            "two bad URLs and a bad company id at once",
            vec![("financials_url", "erp.test"), ("sales_url", "http:// crm"), ("company_id", "x")],
            vec![
                (
                    "financials_url",
                    "Give financialsUrl as a URL starting with http:// or https://, for example http://localhost:8080.",
                ),
                (
                    "sales_url",
                    "Give salesUrl with a host name and no spaces, for example http://localhost:8080.",
                ),
                ("company_id", "Enter the company id as a GUID"),
            ],
        ),
        (
            "no integration users",
            vec![("financials_user", " "), ("sales_user", "")],
            vec![
                (
                    "financials_user",
                    "Give financialsUser: the Financials user the integration calls the API as.",
                ),
                (
                    "sales_user",
                    "Give salesUser: the integration user in Sales (domain name, e-mail or application id).",
                ),
            ],
        ),
        (
            "an administrator without a password",
            vec![("admin_user", "admin@crm.test")],
            vec![(
                "admin_password",
                "Give adminPassword: the password of the administrator account adminUser.",
            )],
        ),
    ];
    for (what, changes, errors) in cases {
        let fields = setup_fields(&changes);
        let answer = c.post_form("/dynamics-365-connection-setup", &fields).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        for (field, message) in errors {
            let error =
                format!("<span id=\"{field}-error\" class=\"error\" role=\"alert\">{message}");
            assert!(answer.body.contains(&error), "{what}: {field}: {}", answer.body);
        }
        for (k, v) in &fields {
            let secret = k.ends_with("password") || k.ends_with("secret") || k.ends_with("key");
            if v.is_empty() || secret {
                assert!(v.is_empty() || !answer.body.contains(v), "{what}: {k} is not echoed");
                continue;
            }
            let kept = format!("name=\"{k}\" type=\"text\" value=\"{v}\"");
            assert!(answer.body.contains(&kept), "{what}: {k} kept");
        }
    }
    assert!(s.integration.connection().await.unwrap().is_none(), "nothing stored");
}

const GUIDE: &str = "/assisted-setup/dynamics-365-connection-setup";

/// The hidden fields of the guide's form (but the CSRF token), unescaped.
fn hidden_fields(body: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .replace("&#38;", "&")
    };
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[at + 27..];
        let name = &rest[..rest.find('"').unwrap()];
        let value_at = rest.find("value=\"").unwrap() + 7;
        let value = &rest[value_at..value_at + rest[value_at..].find('"').unwrap()];
        if name != "csrf" && name != "step" {
            out.push((name.to_owned(), unescape(value)));
        }
    }
    out
}

/// Posts step `step` of the guide: the previous answer's hidden fields, then `fields`.
async fn answer(
    c: &mut Client,
    prev: &str,
    step: u8,
    go: &str,
    fields: &[(&str, &str)],
) -> support::Answer {
    let step = step.to_string();
    let hidden = hidden_fields(prev);
    let mut all: Vec<(&str, &str)> = hidden.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.push(("step", &step));
    all.push(("go", go));
    all.extend_from_slice(fields);
    c.post_form(GUIDE, &all).await
}

fn heading(body: &str) -> String {
    support::value_between(body, "<h2 id=\"step-heading\">", "</h2>")
}

fn error_of(body: &str, field: &str) -> String {
    support::value_between(
        body,
        &format!("<span id=\"{field}-error\" class=\"error\" role=\"alert\">"),
        "</span>",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_is_refused_on_the_essential_experience_naming_where_it_is_changed() {
    let (_dir, mut s) = fresh().await;
    connected_with_credentials(&mut s).await;
    s.db.execute_sql("UPDATE fin_company SET experience = 'Essential'", vec![]).await.unwrap();
    let mut c = signed_in(&s).await;
    for answer in [c.get(GUIDE).await, c.post_form(GUIDE, &[("step", "1"), ("go", "next")]).await] {
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
        assert!(answer.body.contains("needs the Suite experience, but this company uses Essential. Change Experience to Suite in Company Information"), "{}", answer.body);
        assert!(!answer.body.contains("Step 1 of 7"));
    }
    let home = c.get("/").await;
    assert!(
        home.body.contains(&format!("<a href=\"{GUIDE}\" id=\"assisted-setup-guide\">")),
        "{}",
        home.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_checks_each_step_keeps_its_answers_in_the_form_and_never_shows_a_secret() {
    let (_dir, mut s) = fresh().await;
    connected_with_sealer(&mut s, false).await;
    let mut c = signed_in(&s).await;
    let first = c.get(GUIDE).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(heading(&first.body), "Step 1 of 7: Sales URL and Authentication");
    assert!(
        first.body.contains("name=\"sales_url\" type=\"text\" value=\"http://crm.test\""),
        "stored URL: {}",
        first.body
    );
    let company = kontor_financials::bootstrap::company(&s.db).await.unwrap().id.to_string();
    let shown = support::redact(&s, &c.csrf, &first.body).await.replace(&company, "[company]");
    insta::assert_snapshot!("guide_step_1", shown);

    // Step 1 with bad answers: each error next to its field, what was typed kept.
    let bad = answer(
        &mut c,
        &first.body,
        1,
        "next",
        &[
            ("sales_url", "crm.test"),
            ("auth", "client"),
            ("sales_user", ""),
            ("sales_client_id", "app-7"),
            ("sales_client_secret", ""),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(heading(&bad.body), "Step 1 of 7: Sales URL and Authentication");
    assert!(
        error_of(&bad.body, "sales_url")
            .starts_with("Give salesUrl as a URL starting with http://"),
        "{}",
        bad.body
    );
    assert!(error_of(&bad.body, "sales_user").starts_with("Give salesUser"));
    assert_eq!(
        error_of(&bad.body, "sales_client_secret"),
        "Give the client secret of the application user."
    );
    assert!(bad.body.contains("name=\"sales_url\" type=\"text\" value=\"crm.test\""));
    assert!(bad.body.contains("name=\"sales_client_id\" type=\"text\" value=\"app-7\""));

    let fields = [
        ("sales_url", "http://127.0.0.1:9"),
        ("auth", "client"),
        ("sales_user", "app-7"),
        ("sales_client_id", "app-7"),
        ("sales_client_secret", "Typed-Secret-1"),
    ];
    let second = answer(&mut c, &bad.body, 1, "next", &fields).await;
    assert_eq!(heading(&second.body), "Step 2 of 7: Integration Solution", "{}", second.body);
    assert!(!second.body.contains("Typed-Secret-1"), "the secret is carried sealed only");
    assert!(second.body.contains("<input type=\"hidden\" name=\"sealed\""));

    // The administrator step: half an account is refused next to the field; the password is
    // never shown, and an unreachable Sales says so at the top.
    let half = answer(
        &mut c,
        &second.body,
        2,
        "import",
        &[("import_solution", "on"), ("admin_user", "admin@crm.test")],
    )
    .await;
    assert_eq!(half.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error_of(&half.body, "admin_password").starts_with("Give adminPassword"),
        "{}",
        half.body
    );
    let unreachable = answer(
        &mut c,
        &half.body,
        2,
        "import",
        &[
            ("import_solution", "on"),
            ("admin_user", "admin@crm.test"),
            ("admin_password", "Admin-Secret-9"),
        ],
    )
    .await;
    assert_eq!(heading(&unreachable.body), "Step 2 of 7: Integration Solution");
    assert!(
        unreachable
            .body
            .contains("class=\"notice bad\" role=\"alert\">A side could not be reached"),
        "{}",
        unreachable.body
    );
    assert!(
        !unreachable.body.contains("Admin-Secret-9")
            && !unreachable.body.contains("admin@crm.test")
    );
    assert!(
        !hidden_fields(&unreachable.body).iter().any(|(k, _)| k.starts_with("admin")),
        "no admin field carried"
    );

    let third = answer(&mut c, &unreachable.body, 2, "next", &[]).await;
    assert_eq!(heading(&third.body), "Step 3 of 7: Integration User");
    assert!(third.body.contains("No administrator account was given"), "{}", third.body);
    let fourth = answer(&mut c, &third.body, 3, "next", &[]).await;
    assert_eq!(heading(&fourth.body), "Step 4 of 7: Synchronize");
    assert!(fourth.body.contains("value=\"CUSTOMER\" checked"), "{}", fourth.body);
    let none = answer(&mut c, &fourth.body, 4, "next", &[]).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_of(&none.body, "mapping-0"),
        "Choose at least one table to synchronize.",
        "{}",
        none.body
    );
    let fifth =
        answer(&mut c, &none.body, 4, "next", &[("mapping", "CURRENCY"), ("mapping", "CUSTOMER")])
            .await;
    assert_eq!(heading(&fifth.body), "Step 5 of 7: Item Availability");
    assert!(
        fifth.body.contains("<option value=\"INTEGRATION\"")
            || fifth.body.contains("<option value=\"ADMIN\""),
        "{}",
        fifth.body
    );
    assert!(fifth.body.contains("id=\"change-web-service-key-link\">Change Web Service Key</a>"));
    let sixth = answer(
        &mut c,
        &fifth.body,
        5,
        "next",
        &[
            ("financials_url", "http://127.0.0.1:9"),
            ("company_id", "00000000-0000-0000-0000-0000000000cc"),
            ("financials_user", "ADMIN"),
        ],
    )
    .await;
    assert_eq!(heading(&sixth.body), "Step 6 of 7: Sales Order Integration", "{}", sixth.body);

    // Finish without the web service key: back on step 5 with the error next to it.
    let no_key = answer(&mut c, &sixth.body, 6, "finish", &[]).await;
    assert_eq!(no_key.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(heading(&no_key.body), "Step 5 of 7: Item Availability", "{}", no_key.body);
    assert!(
        error_of(&no_key.body, "financials_web_service_key")
            .starts_with("Give financialsWebServiceKey: the web service access key of ADMIN."),
        "{}",
        no_key.body
    );
    let keyed = answer(
        &mut c,
        &no_key.body,
        5,
        "next",
        &[
            ("financials_url", "http://127.0.0.1:9"),
            ("company_id", "00000000-0000-0000-0000-0000000000cc"),
            ("financials_user", "ADMIN"),
            ("financials_web_service_key", "Typed-Key-2"),
        ],
    )
    .await;
    assert!(!keyed.body.contains("Typed-Key-2") && !keyed.body.contains("Typed-Secret-1"));
    let back = answer(&mut c, &keyed.body, 6, "back", &[]).await;
    assert_eq!(heading(&back.body), "Step 5 of 7: Item Availability");
    assert!(
        back.body.contains("Web Service Access Key (entered; leave empty to keep it)"),
        "{}",
        back.body
    );
    assert!(
        back.body.contains("<option value=\"ADMIN\" selected>"),
        "the user kept: {}",
        back.body
    );
    let stored = s.integration.connection().await.unwrap().unwrap();
    assert_eq!(stored.sales_url, "http://crm.test", "nothing stored before Finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_walked_to_the_end_against_real_servers_sets_the_connection_up_and_offers_the_full_synchronization()
 {
    use kontor_financials::credentials::{Permissions, Secret};
    let dir = tempfile::tempdir().unwrap();
    let fin =
        kontor_financials_server::testing::spawn_for_test(&kontor_testkit::sqlite_url(&dir)).await;
    let sales = kontor_sales_server::testing::spawn_for_test(&kontor_testkit::sqlite_url(&dir))
        .await
        .unwrap();
    let mut tx = fin.db.begin().await.unwrap();
    let p = Permissions::parse("D365 BUS FULL ACCESS").unwrap();
    let user = kontor_financials::users::create_user(
        &mut tx,
        "INTEGRATION",
        "Kontor Integration",
        &p,
        Some(&Secret::new("Integration-1")),
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = fin.db.begin().await.unwrap();
    let key =
        kontor_financials::users::change_web_service_key(&mut tx, user.id().unwrap(), None, None)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let key = key.expose().to_owned();

    let store = kontor_sync::store::SyncStore::new(fin.db.clone());
    store.migrate().await.unwrap();
    let queue = kontor_jobs::Queue::new(fin.db.clone());
    let it = kontor_integration::Integration::new(
        store.clone(),
        queue,
        Arc::new(kontor_jobs::SystemClock),
    )
    .with_sealer(Arc::new(Reverse));
    let auth = Arc::new(kontor_financials::users::Authenticator::new(fin.db.clone()));
    let state = kontor_financials_web::WebState::new(fin.db.clone(), auth, Some(it.clone()));
    let mut c = Client::new(kontor_financials_web::router(state));
    assert_eq!(c.sign_in("ADMIN", &fin.admin_password).await.status, StatusCode::SEE_OTHER);

    let page = c.get(GUIDE).await;
    let company = fin.company_id.to_string();
    let steps: [(u8, Vec<(&str, &str)>); 5] = [
        (
            1,
            vec![
                ("sales_url", &sales.base_url),
                ("auth", "password"),
                ("sales_user", "admin"),
                ("sales_password", &sales.admin_password),
            ],
        ),
        (2, vec![]),
        (3, vec![]),
        (4, vec![("mapping", "SALESPEOPLE"), ("mapping", "CURRENCY"), ("mapping", "CUSTOMER")]),
        (
            5,
            vec![
                ("financials_url", &fin.base_url),
                ("company_id", &company),
                ("financials_user", "INTEGRATION"),
                ("financials_web_service_key", &key),
            ],
        ),
    ];
    let mut body = page.body;
    for (step, fields) in &steps {
        // Fields typed as owned strings (the company id is built above).
        let owned: Vec<(String, String)> =
            fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let fields: Vec<(&str, &str)> =
            owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let next = answer(&mut c, &body, *step, "next", &fields).await;
        assert_eq!(next.status, StatusCode::OK, "step {step}: {}", next.body);
        body = next.body;
    }
    assert_eq!(heading(&body), "Step 6 of 7: Sales Order Integration");
    let done = answer(&mut c, &body, 6, "finish", &[]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(heading(&done.body), "Step 7 of 7: Run Full Synchronization", "{}", done.body);
    assert!(
        done.body.contains(
            "The connection was set up: 3 mappings enabled (SALESPEOPLE, CURRENCY, CUSTOMER)."
        ),
        "{}",
        done.body
    );
    assert!(done.body.contains("id=\"run-full-synchronization\""));
    assert!(!done.body.contains(&key) && !done.body.contains(&sales.admin_password));
    let stored = it.connection().await.unwrap().unwrap();
    assert_eq!(
        (stored.sales_url.as_str(), stored.financials_user.as_str(), stored.enabled),
        (sales.base_url.as_str(), "INTEGRATION", true)
    );
    let credentials = it.stored_credentials().await.unwrap().unwrap();
    assert_eq!(credentials.financials_key, key, "the key was carried sealed and stored sealed");
    assert!(it.engine().is_ok(), "the engine runs at once");
    let home = c.get("/").await;
    assert!(home.body.contains(">Done</td>"), "{}", home.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_again_the_guide_starts_from_the_stored_sign_in_and_asks_for_no_stored_secret_up_front()
{
    let (_dir, mut s) = fresh().await;
    connected_with_credentials(&mut s).await;
    let mut c = signed_in(&s).await;
    let first = c.get(GUIDE).await;
    assert!(
        first.body.contains("<input type=\"radio\" name=\"auth\" value=\"password\" checked>"),
        "{}",
        first.body
    );
    let next = answer(
        &mut c,
        &first.body,
        1,
        "next",
        &[("sales_url", "http://crm.test"), ("auth", "password"), ("sales_user", "integration")],
    )
    .await;
    assert_eq!(heading(&next.body), "Step 2 of 7: Integration Solution", "{}", next.body);
    // An application user still needs its application id.
    let client = answer(
        &mut c,
        &first.body,
        1,
        "next",
        &[
            ("sales_url", "http://crm.test"),
            ("auth", "client"),
            ("sales_user", "integration"),
            ("sales_client_id", ""),
        ],
    )
    .await;
    assert_eq!(client.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_of(&client.body, "sales_client_id"),
        "Give the application id (client id) of the integration user."
    );
}
