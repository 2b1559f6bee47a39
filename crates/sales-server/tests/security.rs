//! Tokens, application users, privileges and solution import, on both backends.

mod common;

use common::{Api, token};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_token_endpoint_issues_tokens_to_application_users_and_rejects_a_wrong_secret() {
    on_both_backends!(|server| {
        let admin = Api::admin(&server).await;
        let app_id = uuid::Uuid::new_v4().to_string();
        let user = admin
            .create(
                "systemusers",
                json!({"applicationid": app_id, "firstname": "Integration", "lastname": "App"}),
            )
            .await;
        assert_eq!(user["accessmode"], 4, "application users are non-interactive");
        let again =
            admin.post("systemusers", json!({"applicationid": app_id, "lastname": "Twin"})).await;
        assert_eq!(
            again.status,
            StatusCode::PRECONDITION_FAILED,
            "one user per application id: {}",
            again.text
        );
        let uid = user["systemuserid"].as_str().unwrap().to_owned();
        let r = admin
            .post(
                &format!("systemusers({uid})/Microsoft.Dynamics.CRM.kontor_SetClientSecret"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["ClientId"], app_id.as_str());
        let secret = r.json()["ClientSecret"].as_str().unwrap().to_owned();

        let ok = token(
            &server.base_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                ("client_secret", &secret),
                ("scope", "https://org/.default"),
            ],
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
        assert_eq!(ok.json()["token_type"], "Bearer");
        assert!(ok.json()["expires_in"].as_u64().unwrap() > 0);
        let app = Api {
            http: reqwest::Client::new(),
            base: server.base_url.clone(),
            token: ok.json()["access_token"].as_str().unwrap().to_owned(),
        };
        assert_eq!(app.who_am_i().await, uid);

        let wrong = token(
            &server.base_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                ("client_secret", "not-the-secret"),
            ],
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
        assert_eq!(wrong.json()["error"], "invalid_client");
        assert!(!wrong.text.contains(&secret));
        let unknown = token(
            &server.base_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &uuid::Uuid::new_v4().to_string()),
                ("client_secret", &secret),
            ],
        )
        .await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        let bad_pw = token(
            &server.base_url,
            &[("grant_type", "password"), ("username", "admin"), ("password", "wrong")],
        )
        .await;
        assert_eq!(bad_pw.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad_pw.json()["error"], "invalid_grant");
        let grant = token(&server.base_url, &[("grant_type", "authorization_code")]).await;
        assert_eq!(grant.json()["error"], "unsupported_grant_type");

        // Every API request needs a valid token.
        let anon = reqwest::Client::new()
            .get(format!("{}/api/data/v9.2/accounts", server.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
        assert!(anon.headers().contains_key("www-authenticate"));
        let forged = Api {
            http: reqwest::Client::new(),
            base: server.base_url.clone(),
            token: "forged".into(),
        };
        assert_eq!(forged.get("WhoAmI").await.status, StatusCode::UNAUTHORIZED);

        // A new secret revokes the old one's tokens.
        let r = admin
            .post(
                &format!("systemusers({uid})/Microsoft.Dynamics.CRM.kontor_SetClientSecret"),
                json!({"ClientSecret": "a-client-chosen-secret-value"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(app.get("WhoAmI").await.status, StatusCode::UNAUTHORIZED);
        let ok = token(
            &server.base_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                ("client_secret", "a-client-chosen-secret-value"),
            ],
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_without_the_privilege_gets_403_naming_it_and_nothing_changes() {
    on_both_backends!(|server| {
        let admin = Api::admin(&server).await;
        let product =
            admin.create("products", json!({"name": "Bike", "productnumber": "B-1"})).await;
        let pid = product["productid"].as_str().unwrap().to_owned();
        let sp_id = admin.create_user("sally", &["Salesperson"], "sally-password-1").await;
        let sally = Api::login(&server.base_url, "sally", "sally-password-1").await;

        let r = sally.post("products", json!({"name": "Car", "productnumber": "C-1"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "0x80040220");
        assert!(r.message().contains("is missing prvCreateProduct privilege"), "{}", r.text);
        assert!(r.message().contains(&format!("Principal user (Id={sp_id}")), "{}", r.text);
        assert!(r.message().contains("for entity 'product'"), "{}", r.text);
        let r = sally.patch(&format!("products({pid})"), json!({"name": "Stolen"}), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.message().contains("prvWriteProduct"));
        let r = sally.delete(&format!("products({pid})"), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.message().contains("prvDeleteProduct"));
        let r = sally.post("products/Microsoft.Dynamics.CRM.CreateMultiple", json!({"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.product", "name": "X"}]})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let all = admin.get("products?$select=name").await.json();
        assert_eq!(all["value"].as_array().unwrap().len(), 1, "nothing was created");
        assert_eq!(all["value"][0]["name"], "Bike", "nothing was changed");

        // What the role allows works, and records the caller.
        let acc = sally.create("accounts", json!({"name": "Sally's customer"})).await;
        assert_eq!(acc["_modifiedby_value"], sp_id.as_str());
        assert_eq!(acc["_ownerid_value"], sp_id.as_str());
        assert_eq!(sally.get("products").await.status, StatusCode::OK);

        // Administrative actions need System Administrator.
        let r = sally
            .post(
                &format!("systemusers({sp_id})/systemuserroles_association/$ref"),
                json!({"@odata.id": "roles(00000000-0000-0000-0000-000000000000)"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // A user without roles reads nothing.
        admin.create_user("nobody", &[], "nobody-password-1").await;
        let nobody = Api::login(&server.base_url, "nobody", "nobody-password-1").await;
        let r = nobody.get("accounts").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.message().contains("prvReadAccount"));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn solution_import_needs_both_roles_is_idempotent_and_unlocks_the_integration_columns() {
    on_both_backends!(|server| {
        let admin = Api::admin(&server).await;
        let body = json!({"SolutionName": "KontorIntegration", "Version": "1.0.0.0"});

        // Before the import the integration columns do not exist.
        let r = admin
            .post("salesorders", json!({"name": "O", "kontor_financialsordernumber": "101001"}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.code(), "0x80048d19");
        let r = admin.get("salesorders?$select=kontor_financialsordernumber").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        admin.create_user("sysadmin-only", &["System Administrator"], "sysadmin-password-1").await;
        let only = Api::login(&server.base_url, "sysadmin-only", "sysadmin-password-1").await;
        let r = only.post("ImportSolution", body.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        admin
            .create_user("customizer-only", &["Solution Customizer"], "customizer-password-1")
            .await;
        let cust = Api::login(&server.base_url, "customizer-only", "customizer-password-1").await;
        assert_eq!(cust.post("ImportSolution", body.clone()).await.status, StatusCode::FORBIDDEN);
        assert!(
            admin.get("roles?$filter=name eq 'Kontor Integration User'").await.json()["value"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        let r = admin.post("ImportSolution", body.clone()).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let r = admin.post("ImportSolution", body.clone()).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "re-import: {}", r.text);
        let roles = admin
            .get("roles?$filter=startswith(name,'Kontor Integration')&$select=name&$orderby=name")
            .await
            .json();
        let names: Vec<&str> = roles["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Kontor Integration Administrator", "Kontor Integration User"]);
        let sols = admin.get("solutions?$filter=uniquename eq 'KontorIntegration'").await.json();
        assert_eq!(sols["value"][0]["version"], "1.0.0.0");
        let r = admin
            .post(
                "ImportSolution",
                json!({"SolutionName": "KontorIntegration", "Version": "0.9.0.0"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = admin.post("ImportSolution", json!({"SolutionName": "Other"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        // The integration columns now exist.
        let o = admin
            .create("salesorders", json!({"name": "O", "kontor_financialsordernumber": "101001"}))
            .await;
        assert_eq!(o["kontor_financialsordernumber"], "101001");
        let r = admin.get("salesorders?$select=kontor_financialsordernumber&$filter=kontor_financialsordernumber eq '101001'").await;
        assert_eq!(r.json()["value"].as_array().unwrap().len(), 1, "{}", r.text);
        let meta = admin.get("$metadata").await.text;
        assert!(meta.contains("kontor_financialslinenumber"));

        // The integration user role works, and the Financials connection is stored sealed.
        let iu = admin
            .create_user("integration", &["Kontor Integration User"], "integration-password-1")
            .await;
        let integ = Api::login(&server.base_url, "integration", "integration-password-1").await;
        assert_eq!(integ.get("salesorders").await.status, StatusCode::OK);
        let r = integ
            .post(
                "kontor_SetFinancialsConnection",
                json!({"ODataUrl": "http://f", "UserName": "u", "AccessKey": "k"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = admin.post("kontor_SetFinancialsConnection", json!({"ODataUrl": "http://localhost:8080/ODataV4", "UserName": "INTEGRATION", "AccessKey": "very-secret-key"})).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let r = admin.get("kontor_GetFinancialsConnection()").await;
        assert_eq!(r.json()["HasAccessKey"], true);
        assert!(!r.text.contains("very-secret-key"));
        // A stored key never goes to a new place: a changed URL or user (or the same ones)
        // without a new key keeps no key; it must be entered again.
        for (url, user) in [
            ("http://127.0.0.1:9/ODataV4", "INTEGRATION"),
            ("http://localhost:8080/ODataV4", "SOMEONE-ELSE"),
            ("http://localhost:8080/ODataV4", "INTEGRATION"),
        ] {
            let r = admin
                .post("kontor_SetFinancialsConnection", json!({"ODataUrl": url, "UserName": user}))
                .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
            let r = admin.get("kontor_GetFinancialsConnection()").await;
            assert_eq!(r.json()["HasAccessKey"], false, "{url} {user}: {}", r.text);
            let r = admin.post("kontor_SetFinancialsConnection", json!({"ODataUrl": "http://localhost:8080/ODataV4", "UserName": "INTEGRATION", "AccessKey": "very-secret-key"})).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        }
        let _ = iu;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_expire_after_their_lifetime() {
    for db in kontor_testkit::backends().await {
        println!("running on {}", db.name);
        let config = kontor_sales_server::Config {
            token_lifetime: std::time::Duration::from_secs(1),
            ..kontor_sales_server::Config::default()
        };
        let server = kontor_sales_server::testing::spawn_with(&db.url, config).await.unwrap();
        let api = Api::admin(&server).await;
        assert_eq!(api.get("WhoAmI").await.status, StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
        assert_eq!(api.get("WhoAmI").await.status, StatusCode::UNAUTHORIZED);
        println!("passed on {}", db.name);
    }
}
