//! The sync store's story, on SQLite and PostgreSQL.

use chrono::{Duration, TimeZone, Utc};
use kontor_store::Db;
use kontor_sync::defaults::default_mappings;
use kontor_sync::plan::{Base, Counters};
use kontor_sync::review::{QueueStatus, Recommendation, ReviewLine, Stage};
use kontor_sync::store::{PageRecord, SyncStore, SynchError};
use kontor_sync::{Direction, Side};
use serde_json::json;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[tokio::test]
async fn the_sync_store_keeps_couplings_jobs_watermarks_and_review_on_both_backends() {
    kontor_testkit::for_each_backend(|url, _name| async move {
        let db = Db::connect(&url).await.unwrap();
        let store = SyncStore::new(db);
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();

        // Mappings: a customised mapping survives re-applying the defaults.
        let set = default_mappings();
        store.save_mappings(&set, true, false, now).await.unwrap();
        let mut customer = store.mapping("CUSTOMER").await.unwrap();
        customer.synch_only_coupled = false;
        store.save_mapping(&customer, now).await.unwrap();
        store.save_mappings(&set, true, false, now).await.unwrap();
        assert!(!store.mapping("CUSTOMER").await.unwrap().synch_only_coupled);
        assert_eq!(store.customized_mappings().await.unwrap(), vec!["CUSTOMER".to_owned()]);
        assert_eq!(store.mappings().await.unwrap().mappings.len(), set.mappings.len());

        // Couplings: by hand, clash refused, page records with a base.
        store.couple("CUSTOMER", id(1), id(101), now).await.unwrap();
        store.couple("CUSTOMER", id(1), id(101), now).await.unwrap();
        let err = store.couple("CUSTOMER", id(1), id(102), now).await.unwrap_err();
        assert!(err.to_string().contains("already coupled"), "{err}");
        let job = store
            .start_job("CUSTOMER", "ToIntegrationTable", "Synchronization", now)
            .await
            .unwrap();
        let base = Base {
            financials: json!({"phoneNumber": "1"}).as_object().unwrap().clone(),
            sales: Default::default(),
            created_in: None,
        };
        let page = PageRecord {
            set: vec![(id(1), id(101), base.clone()), (id(2), id(102), base.clone())],
            remove: vec![],
            succeeded: vec![id(1), id(2)],
            failed: vec![(id(3), "Salesperson 'MA' is not coupled".into())],
        };
        assert!(
            store
                .record_page("CUSTOMER", Side::Financials, job, &page, now)
                .await
                .unwrap()
                .is_empty()
        );
        let cs = store
            .couplings_for("CUSTOMER", Side::Financials, &[id(1), id(2), id(3)])
            .await
            .unwrap();
        assert_eq!(cs.len(), 2);
        assert_eq!(
            cs.iter().find(|c| c.financials_id == id(1)).unwrap().base.as_ref(),
            Some(&base)
        );
        assert_eq!(
            store.couplings_for("CUSTOMER", Side::Sales, &[id(102)]).await.unwrap()[0]
                .financials_id,
            id(2)
        );
        // Re-coupling a record elsewhere replaces its stale coupling.
        let page = PageRecord { set: vec![(id(2), id(103), base.clone())], ..Default::default() };
        store.record_page("CUSTOMER", Side::Financials, job, &page, now).await.unwrap();
        assert_eq!(store.coupling_pairs("CUSTOMER").await.unwrap().len(), 2);
        assert!(store.uncouple("CUSTOMER", Side::Sales, id(103)).await.unwrap());
        assert_eq!(store.coupling_count("CUSTOMER").await.unwrap(), 1);

        // Skip rule: the same error twice skips the record until retried.
        assert_eq!(
            store.failed_unskipped("CUSTOMER", Side::Financials).await.unwrap(),
            vec![id(3)]
        );
        let page = PageRecord {
            failed: vec![(id(3), "Salesperson 'MA' is not coupled".into())],
            ..Default::default()
        };
        let skipped =
            store.record_page("CUSTOMER", Side::Financials, job, &page, now).await.unwrap();
        assert_eq!(skipped, vec![id(3)]);
        assert!(
            store.skipped("CUSTOMER", Side::Financials, &[id(3)]).await.unwrap().contains(&id(3))
        );
        assert!(store.failed_unskipped("CUSTOMER", Side::Financials).await.unwrap().is_empty());
        assert_eq!(store.retry(Some("CUSTOMER"), None).await.unwrap(), 1);
        assert!(store.skipped("CUSTOMER", Side::Financials, &[id(3)]).await.unwrap().is_empty());
        let page = PageRecord { succeeded: vec![id(3)], ..Default::default() };
        store.record_page("CUSTOMER", Side::Financials, job, &page, now).await.unwrap();
        assert!(store.failed_unskipped("CUSTOMER", Side::Financials).await.unwrap().is_empty());

        // Jobs: counters, errors, pruning keeps failed ones.
        let c = Counters { inserted: 2, failed: 1, ..Default::default() };
        let e = SynchError {
            source: "customers(3)".into(),
            destination: String::new(),
            message: "boom".into(),
            at: now,
        };
        store.add_to_job(job, &c, std::slice::from_ref(&e)).await.unwrap();
        store.add_to_job(job, &c, &[]).await.unwrap();
        store.finish_job(job, "", now).await.unwrap();
        let ok = store
            .start_job("CURRENCY", "ToIntegrationTable", "Synchronization", now)
            .await
            .unwrap();
        store.finish_job(ok, "", now).await.unwrap();
        let j = store.job(job).await.unwrap().unwrap();
        assert_eq!((j.counters.inserted, j.counters.failed), (4, 2));
        assert_eq!(store.job_errors(job).await.unwrap(), vec![e]);
        assert_eq!(store.jobs(None, 10).await.unwrap().len(), 2);
        assert_eq!(store.prune_jobs(now + Duration::days(8)).await.unwrap(), 1);
        assert_eq!(store.jobs(None, 10).await.unwrap().len(), 1);

        // Watermarks.
        assert_eq!(store.watermark("CUSTOMER", Side::Sales).await.unwrap(), None);
        store.set_watermark("CUSTOMER", Side::Sales, "a", now).await.unwrap();
        store.set_watermark("CUSTOMER", Side::Sales, "b", now).await.unwrap();
        assert_eq!(store.watermark("CUSTOMER", Side::Sales).await.unwrap().as_deref(), Some("b"));

        // Review lines.
        let line = ReviewLine {
            name: "CUSTOMER".into(),
            dependency_filter: "CURRENCY".into(),
            direction: Direction::Bidirectional,
            recommendation: Recommendation::CoupleRecords,
            queue_status: QueueStatus::NotStarted,
            stage: Stage::Start,
        };
        store.replace_review(std::slice::from_ref(&line), now).await.unwrap();
        store
            .set_review_status("CUSTOMER", QueueStatus::InProcess, Some("q1".into()), now)
            .await
            .unwrap();
        store.set_review_job("CUSTOMER", Some(job), None).await.unwrap();
        let r = store.review().await.unwrap();
        assert_eq!(r[0].line.queue_status, QueueStatus::InProcess);
        assert_eq!(r[0].line.recommendation, Recommendation::CoupleRecords);
        assert_eq!(
            (r[0].to_job_id, r[0].from_job_id, r[0].queue_entry_id.as_deref()),
            (Some(job), None, Some("q1"))
        );
        // The second pass is started once: the stage moves only from where it is.
        assert_eq!(r[0].line.stage, Stage::Start);
        assert!(
            !store.claim_review_stage("CUSTOMER", Stage::ToDone, Stage::FromStarted).await.unwrap()
        );
        assert!(store.claim_review_stage("CUSTOMER", Stage::Start, Stage::ToDone).await.unwrap());
        assert!(
            store.claim_review_stage("CUSTOMER", Stage::ToDone, Stage::FromStarted).await.unwrap()
        );
        assert!(
            !store.claim_review_stage("CUSTOMER", Stage::ToDone, Stage::FromStarted).await.unwrap()
        );
        assert_eq!(store.review().await.unwrap()[0].line.stage, Stage::FromStarted);
    })
    .await;
}

#[tokio::test]
async fn integration_credentials_are_stored_sealed_and_open_only_with_the_same_key() {
    use kontor_sync::credentials::{IntegrationCredentials, SalesSignIn, Sealer};
    /// A stand-in cipher: XOR with a key byte, hex-encoded (this crate does no cryptography).
    struct Xor(u8);
    impl Sealer for Xor {
        fn seal(&self, p: &str) -> String {
            p.bytes().map(|b| format!("{:02x}", b ^ self.0)).collect::<String>() + "!"
        }
        fn open(&self, s: &str) -> Option<String> {
            let hex = s.strip_suffix('!')?;
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok().map(|b| b ^ self.0))
                .collect();
            String::from_utf8(bytes?).ok().filter(|t| t.starts_with('{'))
        }
    }
    kontor_testkit::for_each_backend(|url, _name| async move {
        let store = SyncStore::new(Db::connect(&url).await.unwrap());
        store.migrate().await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
        assert_eq!(store.credentials(&Xor(7)).await.unwrap(), None);
        let mut creds = IntegrationCredentials {
            financials_url: "http://fin".into(),
            financials_user: "INTEGRATION".into(),
            financials_key: "the-key".into(),
            sales_url: "http://sales".into(),
            sales: SalesSignIn::ClientCredentials {
                client_id: "app".into(),
                client_secret: "the-secret".into(),
            },
        };
        store.save_credentials(&creds, &Xor(7), now).await.unwrap();
        assert_eq!(store.credentials(&Xor(7)).await.unwrap(), Some(creds.clone()));
        let row = store.db().fetch_one_sql("SELECT sealed FROM sync_secret", vec![]).await.unwrap();
        assert!(!row.get_string("sealed").contains("the-key"));
        let err = store.credentials(&Xor(9)).await.unwrap_err().to_string();
        assert!(err.contains("cannot be decrypted") && !err.contains("the-key"), "{err}");
        creds.financials_key = "a-new-key".into();
        store.save_credentials(&creds, &Xor(7), now).await.unwrap();
        assert_eq!(store.credentials(&Xor(7)).await.unwrap(), Some(creds));
    })
    .await;
}

#[tokio::test]
async fn a_stored_mapping_whose_filter_does_not_parse_fails_loudly_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&kontor_testkit::sqlite_url(&dir)).await.unwrap();
    let store = SyncStore::new(db.clone());
    store.migrate().await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
    store.save_mappings(&default_mappings(), true, false, now).await.unwrap();
    // A definition written by an older version, or by hand, with a filter that does not parse.
    let mut customer = serde_json::to_value(store.mapping("CUSTOMER").await.unwrap()).unwrap();
    customer["sales"]["filter"] = json!("statecode eq");
    db.execute_sql(
        "UPDATE sync_mapping SET definition = $1 WHERE name = 'CUSTOMER'",
        vec![customer.to_string().into()],
    )
    .await
    .unwrap();
    let err = store.mapping("CUSTOMER").await.unwrap_err();
    assert!(err.to_string().contains("invalid filter at position 12"), "{err}");
    let err = store.mappings().await.unwrap_err();
    assert!(err.to_string().contains("a stored mapping cannot be read: invalid filter"), "{err}");
}
