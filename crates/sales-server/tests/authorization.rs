//! Who may do what, on both backends: privileges are checked before a row is looked up (no
//! existence oracle), roles are known by id (renaming one grants nothing), the predefined roles
//! cannot be changed, and nobody hands out privileges they do not hold or changes their own roles.

mod common;

use common::Api;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every entity set, with a valid new row and a writable text attribute.
fn seed(set: &str, account: &str, order: &str, invoice: &str) -> (Value, &'static str) {
    match set {
        "systemusers" => (
            json!({"domainname": "seeded@kontor.test", "firstname": "Seeded", "lastname": "User"}),
            "jobtitle",
        ),
        "businessunits" => (json!({"name": "Seeded unit"}), "name"),
        "roles" => (json!({"name": "Seeded role"}), "name"),
        "teams" => (json!({"name": "Seeded team", "teamtype": 0}), "name"),
        "transactioncurrencies" => (
            json!({"isocurrencycode": "XSD", "currencyname": "Seeded", "currencysymbol": "¤", "exchangerate": 1.0, "currencyprecision": 2}),
            "currencyname",
        ),
        "uomschedules" => (json!({"name": "Seeded group"}), "name"),
        "products" => (json!({"name": "Seeded product", "productnumber": "SEED-1"}), "name"),
        "pricelevels" => (json!({"name": "Seeded prices"}), "name"),
        "accounts" => (json!({"name": "Seeded account"}), "name"),
        "contacts" => (json!({"firstname": "Seeded", "lastname": "Contact"}), "jobtitle"),
        "salesorders" => (
            json!({"name": "Seeded order 2", "customerid_account@odata.bind": format!("/accounts({account})")}),
            "name",
        ),
        "salesorderdetails" => (
            json!({"salesorderid@odata.bind": format!("/salesorders({order})"), "quantity": 1, "priceperunit": 1, "isproductoverridden": true, "productdescription": "Write-in"}),
            "productdescription",
        ),
        "invoices" => (json!({"name": "Seeded invoice 2"}), "name"),
        "invoicedetails" => (
            json!({"invoiceid@odata.bind": format!("/invoices({invoice})"), "quantity": 1, "priceperunit": 1, "isproductoverridden": true, "productdescription": "Write-in"}),
            "productdescription",
        ),
        other => panic!("no seed row for {other}"),
    }
}

/// A request of the matrix: method, path, body, headers.
type Case = (Method, String, Option<Value>, &'static [(&'static str, &'static str)]);

const SETS: &[&str] = &[
    "systemusers",
    "businessunits",
    "roles",
    "teams",
    "transactioncurrencies",
    "uomschedules",
    "products",
    "pricelevels",
    "accounts",
    "contacts",
    "salesorders",
    "salesorderdetails",
    "invoices",
    "invoicedetails",
];

fn key_of(set: &str) -> String {
    let logical = match set {
        "transactioncurrencies" => "transactioncurrency".to_owned(),
        s => s.trim_end_matches('s').to_owned(),
    };
    format!("{logical}id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_without_roles_gets_403_for_a_missing_and_an_existing_id_alike() {
    on_both_backends!(|server| {
        let admin = Api::admin(&server).await;
        let account = admin.create("accounts", json!({"name": "Parent"})).await["accountid"]
            .as_str()
            .unwrap()
            .to_owned();
        let order = admin
            .create("salesorders", json!({"name": "Parent order", "customerid_account@odata.bind": format!("/accounts({account})")}))
            .await["salesorderid"]
            .as_str()
            .unwrap()
            .to_owned();
        let invoice =
            admin.create("invoices", json!({"name": "Parent invoice"})).await["invoiceid"]
                .as_str()
                .unwrap()
                .to_owned();
        admin.create_user("roleless", &[], "roleless-password-1").await;
        let nobody = Api::login(&server.base_url, "roleless", "roleless-password-1").await;
        let missing = uuid::Uuid::new_v4().to_string();
        for set in SETS {
            let (body, attr) = seed(set, &account, &order, &invoice);
            let row = admin.create(set, body).await;
            let existing = row[key_of(set)].as_str().unwrap().to_owned();
            for id in [&missing, &existing] {
                let which = if *id == missing { "missing" } else { "existing" };
                let cases: Vec<Case> = vec![
                    (Method::GET, format!("{set}({id})"), None, &[]),
                    (Method::GET, format!("{set}({id})/{attr}"), None, &[]),
                    (Method::PUT, format!("{set}({id})/{attr}"), Some(json!({"value": "x"})), &[]),
                    (Method::PATCH, format!("{set}({id})"), Some(json!({attr: "x"})), &[]),
                    (
                        Method::PATCH,
                        format!("{set}({id})"),
                        Some(json!({attr: "x"})),
                        &[("If-Match", "*")],
                    ),
                    (
                        Method::PATCH,
                        format!("{set}({id})"),
                        Some(json!({attr: "x"})),
                        &[("If-None-Match", "*")],
                    ),
                    (Method::DELETE, format!("{set}({id})"), None, &[]),
                    (Method::DELETE, format!("{set}({id})/ownerid/$ref"), None, &[]),
                ];
                for (method, path, body, headers) in cases {
                    let r = nobody.send(method.clone(), &path, body.as_ref(), headers).await;
                    if path.ends_with("/$ref") && r.status == StatusCode::NOT_FOUND {
                        // Not every table has an owner: the segment itself does not exist.
                        assert!(
                            r.text.contains("segment"),
                            "{method} {path} ({which}): {}",
                            r.text
                        );
                        continue;
                    }
                    assert_eq!(
                        r.status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} ({which} id, headers {headers:?}): {}",
                        r.text
                    );
                    assert_eq!(r.code(), "0x80040220", "{method} {path}: {}", r.text);
                }
            }
        }
    });
}

/// The id of the role named `name`.
async fn role_id(api: &Api, name: &str) -> String {
    let r = api.get(&format!("roles?$filter=name eq '{name}'&$select=roleid")).await.json();
    r["value"][0]["roleid"].as_str().unwrap_or_else(|| panic!("no role {name}: {r}")).to_owned()
}

async fn assign(api: &Api, user: &str, role: &str) -> common::Resp {
    api.post(
        &format!("systemusers({user})/systemuserroles_association/$ref"),
        json!({"@odata.id": api.url(&format!("roles({role})"))}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_who_may_write_roles_cannot_make_itself_a_system_administrator() {
    on_both_backends!(|server| {
        let admin = Api::admin(&server).await;
        let r = admin.post("ImportSolution", json!({"SolutionName": "KontorIntegration"})).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let me = admin
            .create_user("climber", &["Kontor Integration Administrator"], "climber-password-1")
            .await;
        let other = admin.create_user("bystander", &[], "bystander-password-1").await;
        let climber = Api::login(&server.base_url, "climber", "climber-password-1").await;
        let sysadmin = role_id(&admin, "System Administrator").await;
        let user_role = role_id(&admin, "Kontor Integration User").await;

        // The reproduction: a role of its own, renamed to System Administrator, assigned to itself.
        let own = climber.create("roles", json!({"name": "Helpers"})).await["roleid"]
            .as_str()
            .unwrap()
            .to_owned();
        for name in ["System Administrator", "system administrator ", "Kontor Integration User"] {
            let r = climber.patch(&format!("roles({own})"), json!({"name": name}), &[]).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "rename to {name:?}: {}", r.text);
            assert!(r.message().contains("predefined"), "{}", r.text);
        }
        let r = climber.post("roles", json!({"name": "System Administrator"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        let r = assign(&climber, &me, &own).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "its own roles: {}", r.text);
        assert!(r.message().contains("own security roles"), "{}", r.text);

        // Nor hand out a role with privileges it lacks, nor touch the predefined roles.
        let r = assign(&climber, &other, &sysadmin).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert!(r.message().contains("does not hold"), "{}", r.text);
        let r = assign(&climber, &other, &user_role).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "a role it does not hold: {}", r.text);
        for (method, body) in
            [(Method::PATCH, Some(json!({"name": "Renamed"}))), (Method::DELETE, None)]
        {
            for role in [&sysadmin, &user_role] {
                let r = climber
                    .send(method.clone(), &format!("roles({role})"), body.as_ref(), &[])
                    .await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} roles({role}): {}", r.text);
                assert_eq!(r.code(), "0x80040220", "{}", r.text);
            }
        }
        // The administrator cannot change the predefined roles either.
        let r = admin.patch(&format!("roles({sysadmin})"), json!({"name": "Renamed"}), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

        // It still is no administrator: it may not set another user's password.
        let r = climber
            .post(
                &format!("systemusers({other})/Microsoft.Dynamics.CRM.kontor_SetPassword"),
                json!({"Password": "taken-over-1"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

        // What it does hold, it may hand to someone else, and take back.
        let held = role_id(&admin, "Kontor Integration Administrator").await;
        let r = assign(&climber, &other, &held).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let r = climber
            .delete(&format!("systemusers({other})/systemuserroles_association({held})/$ref"), &[])
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        // And the administrator assigns System Administrator to another user as before, but
        // cannot take it from itself.
        assert_eq!(assign(&admin, &other, &sysadmin).await.status, StatusCode::NO_CONTENT);
        let me_admin = admin.who_am_i().await;
        let r = admin
            .delete(
                &format!("systemusers({me_admin})/systemuserroles_association({sysadmin})/$ref"),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    });
}
