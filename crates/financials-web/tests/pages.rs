//! The web client's pages on a fresh setup (the snapshots on SQLite and PostgreSQL): each page's HTML as a snapshot, and the
//! routes' rules — sign-in errors keep the user name, POSTs need the CSRF token and a
//! same-site origin, pages answer 403 to users whose permission sets lack them, htmx gets
//! only the main partial.

mod support;

use axum::http::StatusCode;
use support::{ADMIN_PASSWORD, Client, PASSWORD, Setup, redact, setup};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_as_its_snapshot_on_a_fresh_setup_on_both_backends() {
    kontor_testkit::for_each_backend(|url, _backend| async move {
        let s = setup(&url).await;
        let mut anon = Client::new(kontor_financials_web::router(s.state.clone()));
        let signin = anon.get("/signin").await;
        let token = signin.csrf_field();
        insta::assert_snapshot!("sign_in", signin.body.replace(&token, "[token]"));

        let mut c = signed_in(&s, "admin", ADMIN_PASSWORD).await;
        let admin = kontor_financials::users::list(&s.db).await.unwrap();
        let admin = admin.iter().find(|u| u.user_name == "ADMIN").unwrap().id;
        let pages = [
            ("home", "/".to_owned(), "Home"),
            ("users", "/users".to_owned(), "Users"),
            ("user_card", format!("/users/{admin}"), "User Card"),
            ("job_queue_entries", "/job-queue-entries".to_owned(), "Job Queue Entries"),
            (
                "table_mappings",
                "/integration-table-mappings".to_owned(),
                "Integration Table Mappings",
            ),
            (
                "field_mappings_customer",
                "/integration-table-mappings/CUSTOMER/fields".to_owned(),
                "Integration Field Mappings",
            ),
            ("not_found", "/no-such-page".to_owned(), "Not Found"),
        ];
        for (name, path, title) in pages {
            let page = c.get(&path).await;
            assert_eq!(page.title(), title, "{path}");
            let expected = if name == "not_found" { StatusCode::NOT_FOUND } else { StatusCode::OK };
            assert_eq!(page.status, expected, "{path}");
            assert!(page.body.contains(&format!("<h1>{title}</h1>")), "{path}");
            let csrf = c.csrf.clone();
            insta::assert_snapshot!(name, redact(&s, &csrf, &page.body).await);
        }
        let mut reader = signed_in(&s, "READER", PASSWORD).await;
        let denied = reader.get("/users").await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
        insta::assert_snapshot!("forbidden", denied.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_the_error_next_to_the_field_and_keeps_the_user_name() {
    let (_dir, s) = fresh().await;
    let mut c = Client::new(kontor_financials_web::router(s.state.clone()));
    let cases = [
        ("a wrong password", "Anna", "not-her-password"),
        ("an unknown user", "NOBODY", PASSWORD),
        ("an empty user name", "", PASSWORD),
    ];
    for (what, user, password) in cases {
        let answer = c.sign_in(user, password).await;
        assert_eq!(answer.status, StatusCode::OK, "{what}");
        assert_eq!(answer.title(), "Sign In", "{what}");
        assert!(answer.body.contains(&format!("value=\"{user}\"")), "{what}: {}", answer.body);
        assert!(
            answer.body.contains(
                "<span id=\"password-error\" class=\"error\" role=\"alert\">The user name or password is not correct.</span>"
            ),
            "{what}"
        );
        assert!(!c.cookies.contains_key("kontor_session"), "{what}");
    }
    assert_eq!(kontor_financials::sessions::count(&s.db).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_service_key_does_not_sign_in_to_the_web_client() {
    let (_dir, s) = fresh().await;
    let anna = kontor_financials::users::list(&s.db).await.unwrap();
    let anna = anna.iter().find(|u| u.user_name == "ANNA").unwrap().id;
    let mut tx = s.db.begin().await.unwrap();
    let key =
        kontor_financials::users::change_web_service_key(&mut tx, anna, None, None).await.unwrap();
    tx.commit().await.unwrap();
    let mut c = Client::new(kontor_financials_web::router(s.state.clone()));
    let answer = c.sign_in("ANNA", key.expose()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("The user name or password is not correct."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_http_only_lax_and_secure_only_over_tls() {
    let (_dir, s) = fresh().await;
    for (proto, secure) in [(None, false), (Some("https"), true)] {
        let mut c = Client::new(kontor_financials_web::router(s.state.clone()));
        let form = c.get("/signin").await;
        let token = form.csrf_field();
        let mut headers = vec![("origin", "http://erp.test")];
        if let Some(p) = proto {
            headers = vec![("origin", "https://erp.test"), ("x-forwarded-proto", p)];
        }
        let fields =
            [("csrf", token.as_str()), ("user_name", "ADMIN"), ("password", ADMIN_PASSWORD)];
        let answer = c.post("/signin", &fields, &headers).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let cookie = answer
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with("kontor_session="))
            .unwrap();
        assert!(cookie.contains("; HttpOnly; SameSite=Lax"), "{cookie}");
        assert_eq!(cookie.ends_with("; Secure"), secure, "{cookie}");
    }
}

/// (what, form fields, headers) of a POST that is refused.
type RefusedCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_the_csrf_token_or_from_another_site_is_refused_with_403() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let entries = s.integration.job_queue_entries(Default::default()).await.unwrap();
    let restart = format!("/job-queue-entries/{}/restart", entries[1].id);
    let good = c.csrf.clone();
    let same = ("origin", "http://erp.test");
    let cases: [RefusedCase; 5] = [
        ("no token", vec![], vec![same]),
        ("a wrong token", vec![("csrf", "0123")], vec![same]),
        (
            "another site's origin",
            vec![("csrf", good.as_str())],
            vec![("origin", "http://evil.test")],
        ),
        (
            "a cross-site fetch",
            vec![("csrf", good.as_str())],
            vec![same, ("sec-fetch-site", "cross-site")],
        ),
        ("a wrong header token", vec![], vec![same, ("x-csrf-token", "nope")]),
    ];
    for (what, fields, headers) in cases {
        let answer = c.post(&restart, &fields, &headers).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what}");
        assert_eq!(answer.title(), "Access Denied", "{what}");
    }
    let sign_out_without_token = c.post("/signout", &[], &[same]).await;
    assert_eq!(sign_out_without_token.status, StatusCode::FORBIDDEN);
    // The sign-in form has its own token: without it (or from another site) no session starts.
    let mut anon = Client::new(kontor_financials_web::router(s.state.clone()));
    let fields = [("user_name", "ADMIN"), ("password", ADMIN_PASSWORD)];
    let answer = anon.post("/signin", &fields, &[same]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // With the token in the htmx header the same action is done, and htmx gets the partial.
    let entries_before = s.integration.job_queue_entries(Default::default()).await.unwrap();
    assert_eq!(entries_before[1].status.as_str(), "error");
    let answer =
        c.post(&restart, &[], &[same, ("x-csrf-token", &good), ("hx-request", "true")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.starts_with("<title>Job Queue Entries</title>"), "{}", answer.body);
    assert!(!answer.body.contains("<nav"), "only the main partial");
    assert!(answer.body.contains("Full synchronization of CURRENCY was restarted."));
    let after = s.integration.job_queue_entries(Default::default()).await.unwrap();
    assert_eq!(after[1].status.as_str(), "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_sees_and_opens_only_the_pages_of_their_permission_sets() {
    let (_dir, s) = fresh().await;
    let pages = ["/users", "/job-queue-entries", "/integration-table-mappings"];
    let cases: [(&str, &str, [StatusCode; 3]); 4] = [
        ("ADMIN", ADMIN_PASSWORD, [StatusCode::OK; 3]),
        ("ANNA", PASSWORD, [StatusCode::FORBIDDEN, StatusCode::OK, StatusCode::OK]),
        ("ITEMS", PASSWORD, [StatusCode::FORBIDDEN; 3]),
        ("READER", PASSWORD, [StatusCode::FORBIDDEN; 3]),
    ];
    for (user, password, expected) in cases {
        let mut c = signed_in(&s, user, password).await;
        let home = c.get("/").await;
        for (path, status) in pages.iter().zip(expected) {
            let answer = c.get(path).await;
            assert_eq!(answer.status, status, "{user} {path}");
            let linked = home.body.contains(&format!("href=\"{path}\""));
            assert_eq!(linked, status == StatusCode::OK, "{user}: Home links {path}");
        }
    }
    // Actions: ANNA reads the integration's pages but neither restarts nor resets.
    let mut anna = signed_in(&s, "ANNA", PASSWORD).await;
    let list = anna.get("/job-queue-entries").await;
    assert!(!list.body.contains(">Restart</button>"));
    let entries = s.integration.job_queue_entries(Default::default()).await.unwrap();
    let hold = format!("/job-queue-entries/{}/hold", entries[0].id);
    assert_eq!(anna.post_form(&hold, &[]).await.status, StatusCode::FORBIDDEN);
    let reset = "/integration-table-mappings/CUSTOMER/reset";
    assert_eq!(anna.post_form(reset, &[]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_requests_go_to_sign_in_and_sign_out_ends_the_session() {
    let (_dir, s) = fresh().await;
    let mut c = Client::new(kontor_financials_web::router(s.state.clone()));
    for path in ["/", "/users", "/job-queue-entries"] {
        let answer = c.get(path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.location(), Some("/signin"), "{path}");
    }
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    assert_eq!(kontor_financials::sessions::count(&s.db).await.unwrap(), 1);
    let session = c.cookies["kontor_session"].clone();
    let out = c.post_form("/signout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!c.cookies.contains_key("kontor_session"));
    assert_eq!(kontor_financials::sessions::count(&s.db).await.unwrap(), 0);
    // The old cookie is worth nothing now.
    c.cookies.insert("kontor_session".into(), session);
    assert_eq!(c.get("/").await.location(), Some("/signin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_web_service_key_shows_the_new_key_once_and_bad_input_next_to_the_field() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let list = kontor_financials::users::list(&s.db).await.unwrap();
    let items = list.iter().find(|u| u.user_name == "ITEMS").unwrap().id;
    let path = format!("/users/{items}/change-web-service-key");
    for (typed, error) in [
        ("31.12.2027", "Enter the date as YYYY-MM-DD"),
        ("2001-01-01", "The expiry date must be in the future."),
    ] {
        let answer = c.post_form(&path, &[("expiry", typed)]).await;
        assert_eq!(answer.title(), "User Card");
        assert!(answer.body.contains(&format!("value=\"{typed}\"")), "{typed} kept");
        assert!(answer.body.contains(error), "{typed}: {}", answer.body);
        assert!(!answer.body.contains("new-web-service-key\""), "{typed}: no key");
    }
    let answer = c.post_form(&path, &[("expiry", "")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let key = support::value_between(
        &answer.body,
        "<p class=\"key\" id=\"new-web-service-key\">",
        "</p>",
    );
    assert_eq!(key.len(), 43, "{}", answer.body);
    let auth = kontor_financials::users::Authenticator::new(s.db.clone());
    let secret = kontor_financials::credentials::Secret::new(key.clone());
    assert!(auth.authenticate("ITEMS", &secret).await.unwrap().is_some(), "the key works");
    let again = c.get(&format!("/users/{items}")).await;
    assert!(!again.body.contains(&key), "shown once, never again");
    assert!(again.body.contains("<dt>Web Service Key</dt><dd>Set</dd>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_puts_a_mapping_back_and_an_unknown_mapping_answers_the_404_page() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let answer = c.post_form("/integration-table-mappings/CUSTOMER/reset", &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), Some("/integration-table-mappings"));
    let htmx = [("origin", "http://erp.test"), ("hx-request", "true")];
    let token = c.csrf.clone();
    let answer =
        c.post("/integration-table-mappings/CUSTOMER/reset", &[("csrf", &token)], &htmx).await;
    assert!(answer.body.contains("CUSTOMER was reset to its default."), "{}", answer.body);
    let missing = c.get("/integration-table-mappings/NOPE/fields").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.title(), "Not Found");
    let answer = c.post_form("/integration-table-mappings/NOPE/reset", &[]).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(answer.body.contains("class=\"notice bad\" role=\"alert\""), "{}", answer.body);
    let missing_user = c.get("/users/not-a-uuid").await;
    assert_eq!(missing_user.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_shows_the_setup_guide_completed_once_a_connection_is_stored_and_the_health() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ANNA", PASSWORD).await;
    let before = c.get("/").await;
    assert!(before.body.contains(">Not started</td>"));
    assert!(before.body.contains("<dt>Job queue entries in Error</dt><dd>1</dd>"));
    let settings = kontor_sync::store::ConnectionSettings {
        id: uuid::Uuid::from_u128(0xc0),
        financials_url: "http://erp.test".into(),
        company_id: uuid::Uuid::nil(),
        sales_url: "http://crm.test".into(),
        financials_user: "INTEGRATION".into(),
        financials_user_id: None,
        sales_user_id: None,
        sales_user_name: "integration".into(),
        enabled: true,
    };
    s.integration.store.save_connection(&settings, support::t0()).await.unwrap();
    let after = c.get("/").await;
    assert!(after.body.contains(">Done</td>"), "{}", after.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_in_the_financials_server_the_pages_answer_html_and_the_api_keeps_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&kontor_testkit::sqlite_url(&dir)).await;
    let fin =
        kontor_financials_server::AppState::new(s.db.clone(), Default::default()).await.unwrap();
    let pages = kontor_financials_web::router(s.state.clone());
    let app = kontor_financials_server::router_with_pages(fin, Vec::new(), Some(pages));
    let mut c = Client::new(app);
    let home = c.get("/").await;
    assert_eq!(home.location(), Some("/signin"));
    let page = c.get("/nowhere").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(page.title(), "Not Found");
    let api = c.get_with("/nowhere", &[("accept", "application/json")]).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(api.body.contains("No HTTP resource was found"), "{}", api.body);
    let signin = c.sign_in("ADMIN", ADMIN_PASSWORD).await;
    assert_eq!(signin.status, StatusCode::SEE_OTHER);
    let denied =
        c.post("/users/x/change-web-service-key", &[], &[("origin", "http://evil.test")]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.title(), "Access Denied", "an HTML page, not the OData error body");
}
