//! The rules of the service on the real store, once per backend.

use kontor_store::{Db, Tx};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::SalesError;
use crate::bootstrap::{admin_user_id, root_business_unit_id};
use crate::directory::Principal;
use crate::security::Grants;

/// A bootstrapped Sales database and its administrator.
async fn store(url: &str) -> (Db, Principal) {
    let db = Db::connect(url).await.unwrap();
    db.migrate(&crate::MIGRATIONS).await.unwrap();
    crate::bootstrap(&db, Some("admin-password-1".into())).await.unwrap();
    let grants = crate::directory::grants(&db, admin_user_id()).await.unwrap();
    let admin = Principal {
        user_id: admin_user_id(),
        business_unit_id: Some(root_business_unit_id()),
        access_mode: 0,
        grants,
    };
    (db, admin)
}

/// Creates a row of `set` from a JSON body, as a front end would.
async fn create_json(
    principal: &Principal,
    tx: &mut Tx,
    set: &str,
    body: Value,
) -> Result<Row, SalesError> {
    let (entity, table, _) = entity_set(set)?;
    let body = parse_body(entity, table, &body, false, &|_| true)?;
    create(principal, tx, entity, table, body, None).await
}

fn text<'a>(row: &'a Row, k: &str) -> &'a str {
    row.get(k).and_then(Value::as_str).unwrap_or("")
}

#[tokio::test]
async fn orders_and_invoices_are_numbered_in_sequence_unless_the_body_names_the_number() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let (db, admin) = store(&url).await;
        let mut tx = db.begin().await.unwrap();
        let cases = [
            ("salesorders", json!({"name": "A"}), "ordernumber", "ORD-01001"),
            ("salesorders", json!({"name": "B", "ordernumber": "MINE-7"}), "ordernumber", "MINE-7"),
            ("salesorders", json!({"name": "C"}), "ordernumber", "ORD-01002"),
            ("invoices", json!({"name": "I"}), "invoicenumber", "INV-01001"),
            ("invoices", json!({"name": "J"}), "invoicenumber", "INV-01002"),
        ];
        for (set, body, field, want) in cases {
            let row = create_json(&admin, &mut tx, set, body.clone()).await.unwrap();
            assert_eq!(text(&row, field), want, "{set} {body}");
        }
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_new_user_team_or_role_gets_the_callers_business_unit_and_a_user_its_access_defaults() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let (db, admin) = store(&url).await;
        let mut tx = db.begin().await.unwrap();
        let bu = root_business_unit_id().to_string();
        let app = Uuid::new_v4().to_string();
        // (set, body, attribute, expected value)
        let cases = [
            ("teams", json!({"name": "T"}), "_businessunitid_value", json!(bu)),
            ("roles", json!({"name": "R"}), "_businessunitid_value", json!(bu)),
            ("systemusers", json!({"domainname": "u1", "lastname": "U"}), "accessmode", json!(0)),
            (
                "systemusers",
                json!({"domainname": "u2", "lastname": "U"}),
                "isdisabled",
                json!(false),
            ),
            (
                "systemusers",
                json!({"domainname": "u3", "lastname": "U"}),
                "islicensed",
                json!(true),
            ),
            (
                "systemusers",
                json!({"domainname": "u4", "lastname": "U"}),
                "_businessunitid_value",
                json!(bu),
            ),
            (
                "systemusers",
                json!({"applicationid": app, "lastname": "App"}),
                "accessmode",
                json!(4),
            ),
        ];
        for (set, body, attr, want) in cases {
            let row = create_json(&admin, &mut tx, set, body.clone()).await.unwrap();
            assert_eq!(row.get(attr), Some(&want), "{set} {body}: {attr}");
        }
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_unit_group_is_created_with_its_base_unit_and_its_units_are_expressed_in_it() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let (db, admin) = store(&url).await;
        let mut tx = db.begin().await.unwrap();
        let (ue, ut, _) = entity_set("uoms").unwrap();
        // (group body, base unit's name)
        let cases = [
            (json!({"name": "Weight", "baseuomname": "KG"}), "KG"),
            (json!({"name": "Count"}), "Primary Unit"),
            (json!({"name": "Blank", "baseuomname": "  "}), "Primary Unit"),
        ];
        for (body, base_name) in cases {
            let group = create_json(&admin, &mut tx, "uomschedules", body.clone()).await.unwrap();
            let group_id = text(&group, "uomscheduleid").to_owned();
            assert_eq!(text(&group, "baseuomname"), base_name, "{body}");
            let key = Key::Alternate(vec![
                ("name".into(), json!(base_name)),
                ("_uomscheduleid_value".into(), json!(group_id)),
            ]);
            let base = find(&mut tx, ue, ut, &key).await.unwrap().expect("the base unit");
            let base_id = text(&base, "uomid").to_owned();
            assert_eq!(base["isschedulebaseuom"], json!(true), "{body}");
            assert_eq!(text(&base, "_baseuom_value"), base_id, "{body}: expressed in itself");
            assert_eq!(base["quantity"].as_f64(), Some(1.0), "{body}");

            let gram = json!({"name": "G", "uomscheduleid@odata.bind": format!("/uomschedules({group_id})")});
            let unit = create_json(&admin, &mut tx, "uoms", gram).await.unwrap();
            assert_eq!(text(&unit, "_baseuom_value"), base_id, "{body}: a unit in the group");
            assert_eq!(unit["quantity"].as_f64(), Some(1.0), "{body}");
            assert_eq!(unit["isschedulebaseuom"], json!(false), "{body}");
        }
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn writes_need_the_privilege_a_dangling_bind_is_refused_and_nobody_deletes_themselves() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let (db, admin) = store(&url).await;
        let mut tx = db.begin().await.unwrap();
        let nobody = Principal { grants: Grants::default(), ..admin.clone() };
        let e = create_json(&nobody, &mut tx, "accounts", json!({"name": "A"})).await.unwrap_err();
        assert!(
            matches!(&e, SalesError::Denied { denied, .. } if denied.privilege == "prvCreateAccount"),
            "{e}"
        );
        let missing = Uuid::new_v4();
        let body = json!({"lastname": "X", "parentcustomerid_account@odata.bind": format!("/accounts({missing})")});
        let e = create_json(&admin, &mut tx, "contacts", body).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Entity 'account' With Id = {missing} Does Not Exist (referenced by '_parentcustomerid_value' in the payload for 'contacts')"
            )
        );
        let (ue, ut, _) = entity_set("systemusers").unwrap();
        let e = delete(&admin, &mut tx, ue, ut, &Key::Id(admin.user_id), None).await.unwrap_err();
        assert!(matches!(e, SalesError::DeleteOwnUser), "{e}");
        tx.rollback().await.unwrap();
    })
    .await;
}
