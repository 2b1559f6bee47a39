//! Financials on the real store, once per backend: migrations, bootstrap, credentials.

use kontor_financials::credentials::Secret;
use kontor_financials::model::model;
use kontor_financials::users::{self, Authenticator};
use kontor_financials::{bootstrap, numbering};
use kontor_store::Db;

#[tokio::test]
async fn the_schema_has_every_column_of_the_model_on_both_backends() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let db = Db::connect(&url).await.unwrap();
        bootstrap::bootstrap(&db, Some("admin-password".into())).await.unwrap();
        for e in &model().entity_types {
            let cols: Vec<String> =
                e.properties.iter().map(|p| format!("\"{}\"", p.column)).collect();
            let sql = format!("SELECT {}, row_version FROM {} LIMIT 1", cols.join(", "), e.table);
            db.fetch_all_sql(kontor_store::sqlx::AssertSqlSafe(sql), vec![])
                .await
                .unwrap_or_else(|err| panic!("{}: {err}", e.table));
        }
        db.fetch_all_sql(
            "SELECT id, item_no, uom, inventory, crm_id FROM fin_product_item_availability",
            vec![],
        )
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test]
async fn bootstrap_creates_the_admin_once_and_returns_a_generated_password() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let db = Db::connect(&url).await.unwrap();
        let generated =
            bootstrap::bootstrap(&db, None).await.unwrap().expect("a generated password");
        assert!(generated.len() >= 20);
        assert_eq!(bootstrap::bootstrap(&db, None).await.unwrap(), None, "idempotent");
        let auth = Authenticator::new(db.clone());
        let admin = auth
            .authenticate("admin", &Secret::new(generated.clone()))
            .await
            .unwrap()
            .expect("admin");
        assert_eq!(admin.user_name, "ADMIN");
        // cached second time
        assert!(auth.authenticate("ADMIN", &Secret::new(generated)).await.unwrap().is_some());
        assert!(auth.authenticate("ADMIN", &Secret::new("wrong")).await.unwrap().is_none());
        assert!(auth.authenticate("NOBODY", &Secret::new("wrong")).await.unwrap().is_none());
        let company = bootstrap::company(&db).await.unwrap();
        assert_eq!(company.name, bootstrap::DEFAULT_COMPANY);
    })
    .await;
}

#[tokio::test]
async fn a_rotated_web_service_key_replaces_the_old_one_at_once() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let db = Db::connect(&url).await.unwrap();
        bootstrap::bootstrap(&db, Some("admin-password".into())).await.unwrap();
        let auth = Authenticator::new(db.clone());
        let admin =
            auth.authenticate("ADMIN", &Secret::new("admin-password")).await.unwrap().unwrap();
        let mut tx = db.begin().await.unwrap();
        let first =
            users::change_web_service_key(&mut tx, admin.user_id, None, None).await.unwrap();
        tx.commit().await.unwrap();
        assert!(auth.authenticate("ADMIN", &first).await.unwrap().is_some());
        let mut tx = db.begin().await.unwrap();
        let second =
            users::change_web_service_key(&mut tx, admin.user_id, None, None).await.unwrap();
        tx.commit().await.unwrap();
        assert!(auth.authenticate("ADMIN", &first).await.unwrap().is_none());
        assert!(auth.authenticate("ADMIN", &second).await.unwrap().is_some());
        let expired = chrono::Utc::now() - chrono::Duration::hours(1);
        let mut tx = db.begin().await.unwrap();
        let third = users::change_web_service_key(&mut tx, admin.user_id, Some(expired), None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(auth.authenticate("ADMIN", &third).await.unwrap().is_none(), "expired key");
    })
    .await;
}

#[tokio::test]
async fn number_series_hand_out_consecutive_numbers_and_roll_back_with_the_transaction() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let db = Db::connect(&url).await.unwrap();
        bootstrap::bootstrap(&db, Some("admin-password".into())).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        assert_eq!(numbering::next(&mut tx, numbering::series::CUSTOMERS).await.unwrap(), "C00010");
        assert_eq!(numbering::next(&mut tx, numbering::series::CUSTOMERS).await.unwrap(), "C00011");
        tx.rollback().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        assert_eq!(numbering::next(&mut tx, numbering::series::CUSTOMERS).await.unwrap(), "C00010");
        for expected in 1..=12 {
            let no = numbering::next_entry_no(&mut tx, numbering::series::ITEM_LEDGER_ENTRIES)
                .await
                .unwrap();
            assert_eq!(no, expected, "entry numbers have no width: 9 is followed by 10");
        }
        tx.commit().await.unwrap();
    })
    .await;
}
